//! Verifiers fetched from the upstream itself, as PgBouncer's auth_query does: the
//! `auth_user` reads `pg_shadow` for the role logging in.
//!
//! What an unauthenticated client can make this do is bounded: every fetch runs on one
//! reused auth_user connection, one at a time (so a flood of unknown names costs the
//! upstream one backend and one query at a time, never a login per name); the name is a
//! bound parameter of the extended protocol, never SQL text; answers, unknown names
//! included, are cached for `ttl` in a table of at most [`CACHE_ENTRIES`]; a fetch that
//! takes longer than [`FETCH_TIMEOUT`] fails the login and drops the connection. A
//! stale-verifier failure drops the entry so the next login reads it again.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::store::{PasswordStore, Role, Secret, StoreError};

/// The query; `$1` is the role name, bound as a parameter. A third column, if any, is
/// the role's VALID UNTIL (PgBouncer ignored it: CVE-2025-2291).
pub const DEFAULT_AUTH_QUERY: &str =
    "SELECT usename, passwd, valuntil FROM pg_catalog.pg_shadow WHERE usename = $1";

/// Most names the cache holds; past it, expired entries go, then all.
pub const CACHE_ENTRIES: usize = 4096;

/// Longest a fetch (connecting included) may take.
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(5);

/// A role as auth_query found it: its secret (NULL when it has no password) and
/// VALID UNTIL.
#[derive(Clone)]
struct Found {
    secret: Option<Secret>,
    valid_until: Option<std::time::SystemTime>,
}

/// When an answer was fetched, and the answer: `None` for no such role.
type Cached = (Instant, Option<Found>);

/// Verifiers read from the upstream's `pg_shadow` as an auth_user, cached for a while.
pub struct AuthQueryStore {
    /// The upstream as the auth_user (its password from PGPASSWORD or .pgpass).
    config: pgscram_client::Config,
    query: String,
    ttl: Duration,
    /// The auth_user's connection, reused; fetches take turns on it.
    conn: tokio::sync::Mutex<Option<pgscram_client::Connection>>,
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
            conn: tokio::sync::Mutex::new(None),
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

    /// Names cached now (fresh or not yet evicted).
    pub fn cached(&self) -> usize {
        self.cache.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    fn cached_answer(&self, name: &str) -> Option<Option<Found>> {
        let cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        cache
            .get(name)
            .filter(|(at, _)| at.elapsed() < self.ttl)
            .map(|(_, found)| found.clone())
    }

    fn remember(&self, name: &str, found: Option<Found>) {
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        if cache.len() >= CACHE_ENTRIES {
            cache.retain(|_, (at, _)| at.elapsed() < self.ttl);
            if cache.len() >= CACHE_ENTRIES {
                cache.clear();
            }
        }
        cache.insert(name.to_owned(), (Instant::now(), found));
    }

    /// Runs `work` on the auth_user connection (opened if needed), within
    /// [`FETCH_TIMEOUT`]. A failed or timed-out connection is dropped; the next call
    /// opens a new one.
    async fn with_connection<T>(
        &self,
        conn: &mut Option<pgscram_client::Connection>,
        work: impl AsyncFnOnce(&mut pgscram_client::Connection) -> Result<T, String>,
    ) -> Result<T, String> {
        let attempt = async {
            if conn.is_none() {
                *conn = Some(
                    pgscram_client::connect_with(&self.config)
                        .await
                        .map_err(|e| format!("auth_query connection failed: {e}"))?,
                );
            }
            let open = conn.as_mut().expect("opened above");
            work(open).await
        };
        let result = match tokio::time::timeout(FETCH_TIMEOUT, attempt).await {
            Ok(result) => result,
            Err(_) => Err(format!(
                "auth_query took longer than {}s",
                FETCH_TIMEOUT.as_secs()
            )),
        };
        if result.is_err() {
            *conn = None;
        }
        result
    }

    /// The role as the upstream has it now, `None` for no such role.
    async fn fetch(
        &self,
        conn: &mut Option<pgscram_client::Connection>,
        user: &str,
    ) -> Result<Option<Found>, String> {
        let query = self.query.as_str();
        let result = self
            .with_connection(conn, async |c| {
                c.query_params(query, &[Some(user)])
                    .await
                    .map_err(|e| format!("auth_query failed: {e}"))
            })
            .await?;
        Ok(result.rows.into_iter().next().map(|mut row| {
            let valid_until = row
                .get_mut(2)
                .and_then(Option::take)
                .and_then(|text| pgscram_embedded::Timestamp::parse(&text).ok())
                .map(crate::store::system_time);
            Found {
                secret: row.get_mut(1).and_then(Option::take).map(Secret::new),
                valid_until,
            }
        }))
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
        let answer = match self.cached_answer(name) {
            Some(answer) => answer,
            None => {
                let mut conn = self.conn.lock().await;
                // Another login may have fetched it while this one waited its turn.
                match self.cached_answer(name) {
                    Some(answer) => answer,
                    None => {
                        let fetched = self
                            .fetch(&mut conn, name)
                            .await
                            .map_err(StoreError::Unavailable)?;
                        self.remember(name, fetched.clone());
                        fetched
                    }
                }
            }
        };
        Ok(answer.map(|found| Role {
            secret: found.secret,
            can_login: true,
            valid_until: found.valid_until,
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
        let query = self.query.as_str();
        let mut conn = self.conn.lock().await;
        let result = self
            .with_connection(&mut conn, async |c| {
                let step = |what: &'static str| {
                    move |e: pgscram_client::Error| format!("upgrading \"{name}\": {what}: {e}")
                };
                c.query("BEGIN").await.map_err(step("BEGIN"))?;
                let held = c
                    .query_params(query, &[Some(name)])
                    .await
                    .map_err(step("reading the secret"))?
                    .rows
                    .into_iter()
                    .next()
                    .and_then(|row| row.into_iter().nth(1).flatten());
                if !held.is_some_and(|held| Secret::new(held).ct_eq(current)) {
                    c.query("ROLLBACK").await.map_err(step("ROLLBACK"))?;
                    return Ok(false);
                }
                // A utility statement takes no parameters: the name is quoted as an
                // identifier, the verifier (base64, digits, `$`, `:`) as a literal.
                let alter = Secret::new(format!(
                    "ALTER ROLE {} PASSWORD {}",
                    quote_ident(name),
                    quote_literal(new.expose())
                ));
                c.query(alter.expose()).await.map_err(step("ALTER ROLE"))?;
                c.query("COMMIT").await.map_err(step("COMMIT"))?;
                Ok(true)
            })
            .await;
        // The next login reads the new verifier (SCRAM pass-through from then on).
        self.invalidate(name);
        result.map_err(StoreError::Unavailable)
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
