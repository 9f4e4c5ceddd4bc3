//! The embedded database's role catalog as a [`PasswordStore`]: what `pgscram serve`
//! authenticates against. Every lookup answers from the committed catalog, so a
//! password changed by ALTER ROLE counts for the very next login.
//!
//! Reading a role and its memberships costs two catalog queries, one of them
//! recursive: more than the rest of a cached-key login. Answers are kept with the
//! catalog version they were read at ([`Database::roles_version`], raised in the same
//! transaction as any change to roles or memberships) and used while the version is
//! unchanged, which one single-row read tells.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use pgscram_embedded::{Database, RoleRecord, Timestamp};

use super::{OlderPassword, PasswordStore, Role, Secret, StoreError};

/// How many names the cache holds. Unknown names are cached too (an unauthenticated
/// client picks them), so it is bounded: when full, it starts over.
const CACHE_ENTRIES: usize = 4096;

/// Roles from the embedded database's catalog (`pgscram_roles`, `pgscram_auth_members`).
#[derive(Clone)]
pub struct CatalogStore {
    db: Database,
    cache: Arc<Mutex<RoleCache>>,
}

/// Answers by name, all read at catalog version `version`.
#[derive(Default)]
struct RoleCache {
    version: u64,
    roles: HashMap<String, Option<Role>>,
}

impl std::fmt::Debug for CatalogStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CatalogStore").finish_non_exhaustive()
    }
}

impl CatalogStore {
    /// A store reading `db`'s role catalog.
    pub fn new(db: Database) -> Self {
        CatalogStore {
            db,
            cache: Arc::default(),
        }
    }

    /// The role `name` as the catalog holds it now: from the cache while the catalog
    /// version is the one it was read at, else read afresh. Blocks (SQLite).
    fn lookup(&self, name: &str) -> Result<Option<Role>, pgscram_embedded::DbError> {
        let version = self.db.roles_version()?;
        {
            let cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
            if cache.version == version
                && let Some(found) = cache.roles.get(name)
            {
                return Ok(found.clone());
            }
        }
        let read = self.db.role_with_groups(name)?;
        let found = read.value.map(|(record, groups)| role(record, groups));
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        if cache.version != read.version {
            if read.version < cache.version {
                // Read before a newer answer was cached: use it, keep the newer ones.
                return Ok(found);
            }
            cache.roles.clear();
            cache.version = read.version;
        }
        if cache.roles.len() >= CACHE_ENTRIES {
            cache.roles.clear();
        }
        cache.roles.insert(name.to_owned(), found.clone());
        Ok(found)
    }
}

#[async_trait::async_trait]
impl PasswordStore for CatalogStore {
    async fn role(&self, name: &str) -> Result<Option<Role>, StoreError> {
        // SQLite blocks: the read runs on the blocking pool, never on an async worker.
        let store = self.clone();
        let name = name.to_owned();
        tokio::task::spawn_blocking(move || store.lookup(&name))
            .await
            .map_err(|e| StoreError::Other(Box::new(e)))?
            .map_err(|e| StoreError::Unavailable(e.to_string()))
    }

    fn replaces_secrets(&self) -> bool {
        true
    }

    async fn replace_secret(
        &self,
        name: &str,
        current: &Secret,
        new: Secret,
    ) -> Result<bool, StoreError> {
        let db = self.db.clone();
        let name = name.to_owned();
        let current = current.clone();
        tokio::task::spawn_blocking(move || {
            db.replace_role_secret(&name, current.expose(), new.expose())
        })
        .await
        .map_err(|e| StoreError::Other(Box::new(e)))?
        .map_err(|e| StoreError::Unavailable(e.to_string()))
    }
}

fn role(mut record: RoleRecord, member_of: Vec<String>) -> Role {
    Role {
        // Moved, not copied: the only copy of the secret is the zeroizing one.
        secret: record.password.take().map(Secret::new),
        // Copied into the zeroizing Secret; the record's copy is zeroized on drop.
        older: record.older.take().map(|older| {
            OlderPassword::new(older.password.clone(), older.valid_until.map(system_time))
        }),
        can_login: record.can_login,
        superuser: record.superuser,
        valid_until: record.valid_until.map(system_time),
        connection_limit: u32::try_from(record.conn_limit).ok(),
        member_of,
    }
}

/// `VALID UNTIL` as a clock time: `-infinity` is the epoch (always past), `infinity`
/// is as far as the clock goes.
pub(crate) fn system_time(at: Timestamp) -> SystemTime {
    match at {
        Timestamp::NegInfinity => UNIX_EPOCH,
        Timestamp::At(micros) if micros <= 0 => UNIX_EPOCH,
        Timestamp::At(micros) => UNIX_EPOCH + Duration::from_micros(micros.unsigned_abs()),
        Timestamp::Infinity => UNIX_EPOCH + Duration::from_secs(u64::from(u32::MAX) * 64),
    }
}

#[cfg(test)]
mod tests {
    use pgscram_embedded::{Session, SessionSettings};

    use super::*;

    fn run(session: &mut Session, sql: &str) {
        for outcome in session.simple_query(sql) {
            outcome.result.expect(sql);
        }
    }

    fn secret(store: &CatalogStore, name: &str) -> Option<String> {
        let role = store.lookup(name).unwrap()?;
        role.secret.map(|s| s.expose().to_owned())
    }

    #[test]
    fn every_catalog_change_reaches_the_next_lookup() {
        let db = Database::open_in_memory().unwrap();
        db.bootstrap_superuser("postgres", None).unwrap();
        let store = CatalogStore::new(db.clone());
        let mut sql = Session::new(&db, "postgres", SessionSettings::default()).unwrap();

        // An unknown name is cached as unknown, until the role is created.
        assert!(store.lookup("alice").unwrap().is_none());
        assert!(store.lookup("alice").unwrap().is_none());
        run(&mut sql, "CREATE ROLE alice LOGIN PASSWORD 'one'");
        let first = secret(&store, "alice").expect("alice has a secret");
        assert_eq!(secret(&store, "alice").as_ref(), Some(&first), "cached");

        run(&mut sql, "ALTER ROLE alice PASSWORD 'two'");
        let second = secret(&store, "alice").expect("alice has a secret");
        assert_ne!(first, second, "the new password counts at once");

        run(&mut sql, "CREATE ROLE staff");
        run(&mut sql, "GRANT staff TO alice");
        assert_eq!(store.lookup("alice").unwrap().unwrap().member_of, ["staff"]);
        run(&mut sql, "REVOKE staff FROM alice");
        assert!(store.lookup("alice").unwrap().unwrap().member_of.is_empty());

        run(&mut sql, "ALTER ROLE alice NOLOGIN");
        assert!(!store.lookup("alice").unwrap().unwrap().can_login);

        // A change inside a transaction counts when it commits, not before.
        run(&mut sql, "BEGIN");
        run(&mut sql, "ALTER ROLE alice LOGIN");
        assert!(!store.lookup("alice").unwrap().unwrap().can_login);
        run(&mut sql, "COMMIT");
        assert!(store.lookup("alice").unwrap().unwrap().can_login);

        run(&mut sql, "DROP ROLE alice");
        assert!(store.lookup("alice").unwrap().is_none());
    }

    #[test]
    fn the_cache_is_bounded() {
        let db = Database::open_in_memory().unwrap();
        db.bootstrap_superuser("postgres", None).unwrap();
        let store = CatalogStore::new(db);
        for i in 0..(CACHE_ENTRIES + 10) {
            assert!(store.lookup(&format!("nobody{i}")).unwrap().is_none());
        }
        assert!(store.cache.lock().unwrap().roles.len() <= CACHE_ENTRIES);
        assert!(store.lookup("postgres").unwrap().is_some());
    }
}

#[cfg(test)]
mod replace_tests {
    use super::*;

    #[tokio::test]
    async fn a_secret_is_replaced_only_while_it_is_still_the_one_read() {
        let db = Database::open_in_memory().unwrap();
        db.bootstrap_superuser("postgres", Some("md5aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"))
            .unwrap();
        let store = CatalogStore::new(db);
        let secret_now = || store.lookup("postgres").unwrap().unwrap().secret.unwrap();
        let old = secret_now();
        let stale = Secret::new("md5bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb");
        let new = Secret::new("SCRAM-SHA-256$4096:c2FsdA==$x:y");
        assert!(
            !store
                .replace_secret("postgres", &stale, new.clone())
                .await
                .unwrap()
        );
        assert!(
            !store
                .replace_secret("nobody", &old, new.clone())
                .await
                .unwrap()
        );
        assert!(
            store
                .replace_secret("postgres", &old, new.clone())
                .await
                .unwrap()
        );
        let now = secret_now();
        assert_eq!(
            now.expose(),
            new.expose(),
            "the next lookup sees the new secret"
        );
        assert!(
            !store.replace_secret("postgres", &old, new).await.unwrap(),
            "only once"
        );
    }
}
