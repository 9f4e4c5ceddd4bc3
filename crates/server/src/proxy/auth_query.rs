//! Verifiers fetched from the upstream itself, as PgBouncer's auth_query does: a
//! connection as a dedicated `auth_user` reads `pg_shadow` for the role logging in.
//! Answers are cached for a short time; a stale-verifier failure drops the entry so the
//! next login reads it again.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::store::{PasswordStore, Role, Secret, StoreError};

/// The query, with `$1` standing for the quoted role name.
pub const DEFAULT_AUTH_QUERY: &str =
    "SELECT usename, passwd FROM pg_catalog.pg_shadow WHERE usename = $1";

/// When an answer was fetched, and the answer: `None` for no such role, else the
/// role's secret (NULL when it has no password).
type Cached = (Instant, Option<Option<Secret>>);

/// Verifiers read from the upstream's `pg_shadow` as an auth_user, cached for a while.
pub struct AuthQueryStore {
    /// The upstream as the auth_user (its password from PGPASSWORD or .pgpass).
    config: pgscram_client::Config,
    query: String,
    ttl: Duration,
    cache: Mutex<HashMap<String, Cached>>,
}

impl AuthQueryStore {
    /// Reads with `config` (the upstream as the auth_user), `query` (default
    /// [`DEFAULT_AUTH_QUERY`]), caching answers for `ttl`.
    pub fn new(config: pgscram_client::Config, query: Option<String>, ttl: Duration) -> Self {
        AuthQueryStore {
            config,
            query: query.unwrap_or_else(|| DEFAULT_AUTH_QUERY.to_owned()),
            ttl,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// Forgets what is cached for `user` (after a stale-verifier failure).
    pub fn invalidate(&self, user: &str) {
        self.cache
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(user);
    }

    /// `Some(secret)` for an existing login role (the secret may be NULL), `None` for no role.
    async fn fetch(&self, user: &str) -> Result<Option<Option<String>>, String> {
        let sql = self.query.replace("$1", &quote_literal(user));
        let mut conn = pgscram_client::connect_with(&self.config)
            .await
            .map_err(|e| format!("auth_query connection failed: {e}"))?;
        let result = conn
            .query(&sql)
            .await
            .map_err(|e| format!("auth_query failed: {e}"));
        conn.close().await;
        let result = result?;
        Ok(result
            .rows
            .into_iter()
            .next()
            .map(|row| row.into_iter().nth(1).flatten()))
    }
}

/// A string literal with standard_conforming_strings on: quotes doubled. Names with a
/// backslash use the E'' form so the meaning does not depend on the setting.
pub(crate) fn quote_literal(text: &str) -> String {
    let doubled = text.replace('\'', "''");
    if text.contains('\\') {
        format!("E'{}'", doubled.replace('\\', "\\\\"))
    } else {
        format!("'{doubled}'")
    }
}

#[async_trait::async_trait]
impl PasswordStore for AuthQueryStore {
    async fn role(&self, name: &str) -> Result<Option<Role>, StoreError> {
        let cached = {
            let cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
            cache
                .get(name)
                .filter(|(at, _)| at.elapsed() < self.ttl)
                .map(|(_, v)| v.clone())
        };
        let answer = match cached {
            Some(answer) => answer,
            None => {
                let fetched = self
                    .fetch(name)
                    .await
                    .map_err(StoreError::Unavailable)?
                    .map(|secret| secret.map(Secret::new));
                self.cache
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(name.to_owned(), (Instant::now(), fetched.clone()));
                fetched
            }
        };
        Ok(answer.map(|secret| Role {
            secret,
            can_login: true,
            ..Role::default()
        }))
    }

    fn invalidate(&self, user: &str) {
        AuthQueryStore::invalidate(self, user);
    }

    fn replaces_secrets(&self) -> bool {
        true
    }

    /// Sets the upstream role's secret with `ALTER ROLE ... PASSWORD` as the auth_user
    /// (which must be allowed to: a superuser, or CREATEROLE with ADMIN on the role),
    /// after checking in the same transaction that the upstream still holds `current`.
    /// The check and the change are two statements: a concurrent change between them is
    /// overwritten (PostgreSQL has no compare-and-swap for role passwords).
    async fn replace_secret(
        &self,
        name: &str,
        current: &Secret,
        new: Secret,
    ) -> Result<bool, StoreError> {
        let unavailable = |what: &str, e: pgscram_client::Error| {
            StoreError::Unavailable(format!("upgrading \"{name}\": {what}: {e}"))
        };
        let mut conn = pgscram_client::connect_with(&self.config)
            .await
            .map_err(|e| unavailable("auth_user connection failed", e))?;
        let check = self.query.replace("$1", &quote_literal(name));
        let result = async {
            conn.query("BEGIN")
                .await
                .map_err(|e| unavailable("BEGIN", e))?;
            let held = conn
                .query(&check)
                .await
                .map_err(|e| unavailable("reading the secret", e))?
                .rows
                .into_iter()
                .next()
                .and_then(|row| row.into_iter().nth(1).flatten());
            let unchanged = held.is_some_and(|held| Secret::new(held).ct_eq(current));
            if !unchanged {
                let _ = conn.query("ROLLBACK").await;
                return Ok(false);
            }
            let alter = Secret::new(format!(
                "ALTER ROLE {} PASSWORD {}",
                quote_ident(name),
                quote_literal(new.expose())
            ));
            conn.query(alter.expose())
                .await
                .map_err(|e| unavailable("ALTER ROLE", e))?;
            conn.query("COMMIT")
                .await
                .map_err(|e| unavailable("COMMIT", e))?;
            Ok(true)
        }
        .await;
        conn.close().await;
        // The next login reads the new verifier (SCRAM pass-through from then on).
        self.invalidate(name);
        result
    }
}

/// An identifier, always quoted: double quotes doubled.
fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_are_quoted_safely() {
        assert_eq!(quote_literal("alice"), "'alice'");
        assert_eq!(quote_literal("o'brien"), "'o''brien'");
        assert_eq!(quote_literal("a\\'; DROP"), "E'a\\\\''; DROP'");
        assert_eq!(quote_ident("dave"), "\"dave\"");
        assert_eq!(quote_ident("a\"; DROP"), "\"a\"\"; DROP\"");
    }
}
