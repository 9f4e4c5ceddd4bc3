//! The embedded database's role catalog as a [`PasswordStore`]: what `pgscram serve`
//! authenticates against. Every lookup answers from the committed catalog, so a
//! password changed by ALTER ROLE counts for the very next login.
//!
//! Reading a role and its memberships costs two catalog queries, one of them
//! recursive, on the blocking pool: more than the rest of a cached-key login. So
//! answers are cached, and a cached answer is used without SQLite and without leaving
//! the async worker while both of these hold:
//!
//! - no role change has committed in this process since it was read: the embedded
//!   engine counts such commits itself ([`Database::settled_role_commits`]: raised
//!   before a commit that wrote a role table is made, settled after, untouched by a
//!   rollback), so a change a session committed is seen by the very next login;
//! - SQLite's `roles_version` (raised by triggers in the same transaction as any
//!   change to roles or memberships, whoever makes it) was confirmed less than
//!   [`EXTERNAL_CHECK`] ago.
//!
//! The second check is there because the count cannot see every writer: the data
//! directory is not locked, so another `pgscram serve` on the same directory, a
//! program using `pgscram_embedded` on the file, a second `Database` opened on it in
//! this process, or the `sqlite3` shell may change roles. Their changes reach logins
//! within [`EXTERNAL_CHECK`]; one version read on the blocking pool then renews the
//! whole cache. Everything else (a miss, a change, a commit under way) reads the
//! catalog on the blocking pool as before.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use pgscram_embedded::{Database, RoleRecord, Timestamp};

use super::{OlderPassword, PasswordStore, Role, Secret, StoreError};

/// How many names the cache holds. Unknown names are cached too (an unauthenticated
/// client picks them), so it is bounded: when full, it starts over.
const CACHE_ENTRIES: usize = 4096;

/// How long a confirmation of the catalog's `roles_version` lets cached answers stand
/// against writers outside this process's `Database` (see the module comment): the
/// longest such a writer's change may wait to reach logins.
const EXTERNAL_CHECK: Duration = Duration::from_millis(100);

/// Roles from the embedded database's catalog (`pgscram_roles`, `pgscram_auth_members`).
#[derive(Clone)]
pub struct CatalogStore {
    db: Database,
    cache: Arc<Mutex<RoleCache>>,
    /// [`EXTERNAL_CHECK`], longer in tests that must not race the clock.
    external_check: Duration,
}

/// Answers by name, all read in snapshots where the catalog had `version`, after
/// `commits` (this process's settled role commits) was read.
#[derive(Default)]
struct RoleCache {
    commits: u64,
    version: u64,
    /// A time before a read that found `version`: every change committed before it
    /// is in the answers. `None`: nothing read yet.
    confirmed: Option<Instant>,
    roles: HashMap<String, Option<Role>>,
}

impl RoleCache {
    /// Renews the confirmation with a read that started at `started`.
    fn confirm(&mut self, started: Instant) {
        self.confirmed = Some(self.confirmed.map_or(started, |at| at.max(started)));
    }
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
            external_check: EXTERNAL_CHECK,
        }
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, RoleCache> {
        self.cache.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The cached answer for `name`, if it can be trusted without asking SQLite (see
    /// the module comment). Does not block: two atomic loads, a clock read, a map.
    fn cached(&self, name: &str) -> Option<Option<Role>> {
        let commits = self.db.settled_role_commits()?;
        let cache = self.cache();
        let fresh = cache.commits == commits
            && cache
                .confirmed
                .is_some_and(|at| at.elapsed() < self.external_check);
        if !fresh {
            return None;
        }
        cache.roles.get(name).cloned()
    }

    /// The role `name` as the catalog holds it now: from the cache while it can be
    /// trusted, else after a version check, else read afresh. Blocks (SQLite).
    fn lookup(&self, name: &str) -> Result<Option<Role>, pgscram_embedded::DbError> {
        if let Some(found) = self.cached(name) {
            return Ok(found);
        }
        // Taken before the reads: what they find is at least this recent.
        let started = Instant::now();
        let commits = self.db.settled_role_commits();
        // Only the confirmation is old: one version read renews every answer.
        let known = commits.is_some_and(|commits| {
            let cache = self.cache();
            cache.commits == commits && cache.roles.contains_key(name)
        });
        if known {
            let version = self.db.roles_version()?;
            let mut cache = self.cache();
            if Some(cache.commits) == commits
                && cache.version == version
                && let Some(found) = cache.roles.get(name).cloned()
            {
                cache.confirm(started);
                return Ok(found);
            }
        }
        let read = self.db.role_with_groups(name)?;
        let found = read.value.map(|(record, groups)| role(record, groups));
        let Some(commits) = commits else {
            // A role change was being committed: answer, but keep nothing.
            return Ok(found);
        };
        let mut cache = self.cache();
        if (cache.commits, cache.version) != (commits, read.version) {
            if cache.confirmed.is_some_and(|at| at > started) {
                // Another read started after this one: keep its answers.
                return Ok(found);
            }
            cache.roles.clear();
            cache.commits = commits;
            cache.version = read.version;
            cache.confirmed = Some(started);
        } else {
            cache.confirm(started);
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
        // A trusted cached answer needs no SQLite: no hand-off to the blocking pool.
        if let Some(found) = self.cached(name) {
            return Ok(found);
        }
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

    /// A store whose cached answers never expire against outside writers: what is
    /// answered from the cache here is answered because no commit was counted.
    fn store_without_expiry(db: &Database) -> CatalogStore {
        CatalogStore {
            external_check: Duration::from_secs(3600),
            ..CatalogStore::new(db.clone())
        }
    }

    fn cached_secret(store: &CatalogStore, name: &str) -> Option<Option<String>> {
        let found = store.cached(name)?;
        Some(found.and_then(|role| role.secret.map(|s| s.expose().to_owned())))
    }

    async fn login_secret(store: &CatalogStore, name: &str) -> String {
        let role = store.role(name).await.unwrap().expect("the role exists");
        role.secret.unwrap().expose().to_owned()
    }

    #[tokio::test]
    async fn a_role_change_committed_in_a_session_is_seen_by_the_very_next_login() {
        let db = Database::open_in_memory().unwrap();
        db.bootstrap_superuser("postgres", None).unwrap();
        let store = store_without_expiry(&db);
        let mut sql = Session::new(&db, "postgres", SessionSettings::default()).unwrap();
        run(&mut sql, "CREATE ROLE alice LOGIN PASSWORD 'one'");

        let mut last = login_secret(&store, "alice").await;
        // Each way a session commits: autocommit, COMMIT, the implicit transaction
        // of a query string (committed at its end), and below the extended protocol's.
        for change in [
            "ALTER ROLE alice PASSWORD 'two'",
            "BEGIN; ALTER ROLE alice PASSWORD 'three'; COMMIT",
            "ALTER ROLE alice PASSWORD 'four'; SELECT 1",
        ] {
            assert_eq!(
                cached_secret(&store, "alice"),
                Some(Some(last.clone())),
                "answered from the cache before {change:?}"
            );
            run(&mut sql, change);
            assert!(db.settled_role_commits().is_some(), "{change:?}");
            assert!(
                store.cached("alice").is_none(),
                "{change:?} reaches the cache"
            );
            let now = login_secret(&store, "alice").await;
            assert_ne!(now, last, "{change:?} counts for the next login");
            last = now;
        }
        // Parse, Bind, Execute: the implicit transaction Sync commits.
        let statement = sql
            .prepare("ALTER ROLE alice PASSWORD 'five'", &[])
            .unwrap();
        sql.execute(&statement, &[], 0).result.unwrap();
        assert_eq!(cached_secret(&store, "alice"), Some(Some(last.clone())));
        assert!(sql.sync().is_none());
        assert_ne!(login_secret(&store, "alice").await, last, "after Sync");

        // Memberships and the older password of a rotation too.
        run(&mut sql, "CREATE ROLE staff");
        assert!(
            store
                .role("alice")
                .await
                .unwrap()
                .unwrap()
                .member_of
                .is_empty()
        );
        run(&mut sql, "GRANT staff TO alice");
        assert_eq!(
            store.role("alice").await.unwrap().unwrap().member_of,
            ["staff"]
        );
        assert!(store.role("alice").await.unwrap().unwrap().older.is_none());
        run(&mut sql, "ALTER ROLE alice ADD SECOND PASSWORD 'six'");
        assert!(store.role("alice").await.unwrap().unwrap().older.is_some());

        // An md5 upgrade at login goes through the catalog connection.
        let current = store.role("alice").await.unwrap().unwrap().secret.unwrap();
        let new = Secret::new("SCRAM-SHA-256$4096:c2FsdA==$x:y");
        assert!(store.replace_secret("alice", &current, new).await.unwrap());
        assert_eq!(
            login_secret(&store, "alice").await,
            "SCRAM-SHA-256$4096:c2FsdA==$x:y"
        );
    }

    #[tokio::test]
    async fn a_rolled_back_role_change_is_not_seen() {
        let db = Database::open_in_memory().unwrap();
        db.bootstrap_superuser("postgres", None).unwrap();
        let store = store_without_expiry(&db);
        let mut sql = Session::new(&db, "postgres", SessionSettings::default()).unwrap();
        run(&mut sql, "CREATE ROLE alice LOGIN PASSWORD 'one'");
        let first = login_secret(&store, "alice").await;

        // Open, the change is the session's own; rolled back, it never was.
        run(&mut sql, "BEGIN");
        run(&mut sql, "ALTER ROLE alice PASSWORD 'two'");
        run(&mut sql, "GRANT pg_read_all_data TO alice");
        assert_eq!(cached_secret(&store, "alice"), Some(Some(first.clone())));
        run(&mut sql, "ROLLBACK");
        assert_eq!(
            cached_secret(&store, "alice"),
            Some(Some(first.clone())),
            "a rollback leaves the cache standing"
        );
        assert_eq!(login_secret(&store, "alice").await, first);

        // A query string that fails part way is rolled back whole.
        let outcomes =
            sql.simple_query("ALTER ROLE alice PASSWORD 'three'; SELECT * FROM no_such_table");
        assert!(outcomes.last().unwrap().result.is_err());
        assert_eq!(cached_secret(&store, "alice"), Some(Some(first.clone())));
        assert_eq!(login_secret(&store, "alice").await, first);

        // A savepoint rolled back to: the cache may miss, the answer is the same.
        run(
            &mut sql,
            "BEGIN; SAVEPOINT s; ALTER ROLE alice PASSWORD 'four'; ROLLBACK TO s; COMMIT",
        );
        assert_eq!(login_secret(&store, "alice").await, first);
        assert!(
            store
                .role("alice")
                .await
                .unwrap()
                .unwrap()
                .member_of
                .is_empty()
        );
    }

    #[tokio::test]
    async fn a_writer_outside_this_database_handle_is_seen_within_the_external_check() {
        let path = std::env::temp_dir().join(format!(
            "pgscram-catalog-external-{}-{:?}.db",
            std::process::id(),
            std::thread::current().id()
        ));
        let db = Database::open(&path).unwrap();
        db.bootstrap_superuser("postgres", None).unwrap();
        // Another handle on the same file counts its own commits: to this one it is
        // an outside writer, like another process.
        let other = Database::open(&path).unwrap();
        let store = CatalogStore::new(db.clone());
        let mut sql = Session::new(&other, "postgres", SessionSettings::default()).unwrap();
        run(&mut sql, "CREATE ROLE alice LOGIN PASSWORD 'one'");
        let first = login_secret(&store, "alice").await;
        run(&mut sql, "ALTER ROLE alice PASSWORD 'two'");
        std::thread::sleep(EXTERNAL_CHECK + Duration::from_millis(20));
        let second = login_secret(&store, "alice").await;
        assert_ne!(first, second, "seen once the confirmation is old");
        // A version read that finds no change renews the cache.
        std::thread::sleep(EXTERNAL_CHECK + Duration::from_millis(20));
        assert!(store.cached("alice").is_none());
        let before = store.cache.lock().unwrap().confirmed.unwrap();
        assert_eq!(
            store
                .lookup("alice")
                .unwrap()
                .unwrap()
                .secret
                .unwrap()
                .expose(),
            second
        );
        assert!(store.cache.lock().unwrap().confirmed.unwrap() > before);
        drop((sql, store, db, other));
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
        }
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
