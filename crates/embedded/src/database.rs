//! The database handle: where the file is, the catalog connection the authentication
//! layer reads through, and the count of live sessions per role (CONNECTION LIMIT).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

use crate::catalog::{self, BOOTSTRAP_SUPERUSER_OID, RoleRecord};
use crate::error::{DbError, SqlError, sqlstate};
use crate::hooks::lock;
use crate::password::{self, HashPolicy};
use crate::role_commits::{self, RoleCommits};
use crate::settings::PasswordEncryption;

/// How long a connection waits for another's write lock before giving up with 55P03.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Distinguishes scratch databases opened by one process.
static SCRATCH_COUNTER: AtomicU64 = AtomicU64::new(0);

#[derive(Debug)]
enum Target {
    File(PathBuf),
    /// A private temporary directory holding a WAL database, removed on drop.
    ///
    /// SQLite's true in-memory databases cannot give PostgreSQL's concurrency: a
    /// shared-cache URI fails readers with table-level SQLITE_LOCKED while another
    /// session has uncommitted writes, and the `memdb` VFS locks readers out for the
    /// whole write transaction. A WAL file lets readers see the last commit while a
    /// writer works, exactly as with `Database::open`.
    Scratch {
        dir: PathBuf,
        file: PathBuf,
    },
}

impl Target {
    fn file(&self) -> &Path {
        match self {
            Target::File(p) => p,
            Target::Scratch { file, .. } => file,
        }
    }
}

impl Drop for Target {
    fn drop(&mut self) {
        if let Target::Scratch { dir, .. } = self {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

#[derive(Debug)]
struct Inner {
    target: Target,
    /// The catalog connection (also keeps an in-memory database alive).
    catalog: Mutex<Connection>,
    /// Live sessions per role name.
    sessions: Mutex<HashMap<String, u32>>,
    next_pid: AtomicI32,
    /// Connections of ended sessions, ready for the next one: opening a SQLite
    /// connection (and reading the schema on its first statement) was most of what a
    /// login cost.
    idle: Mutex<Vec<Connection>>,
    /// Set by `SELECT pg_reload_conf()`; the server takes it and reloads.
    reload: Arc<AtomicBool>,
    /// Role changes committed through this handle's connections.
    role_commits: Arc<RoleCommits>,
}

/// How many idle connections are kept for reuse.
const IDLE_CONNECTIONS: usize = 64;

/// A handle on one embedded database. Cheap to clone; all clones share the catalog
/// connection and the session counts. Sessions open their own connections.
#[derive(Clone, Debug)]
pub struct Database {
    inner: Arc<Inner>,
}

impl Database {
    /// Opens (creating if needed, readable by the owner only) a database file. Uses
    /// WAL journaling and `synchronous = FULL`: a committed role change survives a
    /// power cut.
    pub fn open(path: impl AsRef<Path>) -> Result<Database, DbError> {
        let path = path.as_ref().to_path_buf();
        create_private_file(&path)?;
        Database::finish(Target::File(path))
    }

    /// Opens a private scratch database, shared by every session of this handle and
    /// deleted when the last clone and session are dropped. It lives in a fresh
    /// owner-only directory under the system temp directory (see `Target::Scratch` for
    /// why not SQLite's `:memory:`).
    pub fn open_in_memory() -> Result<Database, DbError> {
        let mut tag = [0u8; 8];
        getrandom::getrandom(&mut tag).map_err(|e| {
            DbError::Rejected(SqlError::new(
                sqlstate::SYSTEM_ERROR,
                format!("could not generate random values: {e}"),
            ))
        })?;
        let dir = std::env::temp_dir().join(format!(
            "pgscram-{}-{}-{:016x}",
            std::process::id(),
            SCRATCH_COUNTER.fetch_add(1, Ordering::Relaxed),
            u64::from_le_bytes(tag)
        ));
        create_private_dir(&dir)?;
        let file = dir.join("scratch.sqlite");
        Database::finish(Target::Scratch { dir, file })
    }

    fn finish(target: Target) -> Result<Database, DbError> {
        let conn = Connection::open_with_flags(target.file(), open_flags())?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(DbError::CorruptCatalog(format!(
                "could not switch the database to WAL journaling (got {mode})"
            )));
        }
        configure(&conn)?;
        let role_commits = Arc::new(RoleCommits::default());
        role_commits::watch(&conn, &role_commits);
        let schema = catalog::init_schema(&conn);
        role_commits::settle();
        schema?;
        Ok(Database {
            inner: Arc::new(Inner {
                target,
                catalog: Mutex::new(conn),
                sessions: Mutex::new(HashMap::new()),
                idle: Mutex::new(Vec::new()),
                next_pid: AtomicI32::new(1),
                reload: Arc::new(AtomicBool::new(false)),
                role_commits,
            }),
        })
    }

    /// The file behind this database (`None` for a scratch database).
    pub fn path(&self) -> Option<&Path> {
        match &self.inner.target {
            Target::File(p) => Some(p),
            Target::Scratch { .. } => None,
        }
    }

    /// Looks a role up by its exact name, as the authentication layer does before and
    /// during a login. `Ok(None)` for no such role.
    pub fn role(&self, name: &str) -> Result<Option<RoleRecord>, DbError> {
        catalog::role_by_name(&lock(&self.inner.catalog), name)
    }

    /// Every role, ordered by OID (for tools such as the migration report).
    pub fn roles(&self) -> Result<Vec<RoleRecord>, DbError> {
        catalog::all_roles(&lock(&self.inner.catalog))
    }

    /// Whether `user` is `role` or belongs to it through any chain of `GRANT role TO
    /// role` (pg_hba.conf's `+role` and `samerole`). Unknown names are members of
    /// nothing.
    pub fn is_member(&self, user: &str, role: &str) -> Result<bool, DbError> {
        catalog::is_member(&lock(&self.inner.catalog), user, role)
    }

    /// The role `name` with every role it belongs to (transitively), read in one
    /// snapshot with the catalog version they belong to: what one login needs.
    /// `None` for no such role.
    pub fn role_with_groups(&self, name: &str) -> Result<Versioned<RoleWithGroups>, DbError> {
        let conn = lock(&self.inner.catalog);
        conn.execute_batch("BEGIN DEFERRED")?;
        let read = (|| {
            let version = catalog::roles_version(&conn)?;
            let value = match catalog::role_by_name(&conn, name)? {
                Some(role) => Some((role, catalog::groups_of(&conn, name)?)),
                None => None,
            };
            Ok(Versioned { version, value })
        })();
        // A read-only transaction: ending it cannot lose anything.
        let _ = conn.execute_batch("COMMIT");
        read
    }

    /// Replaces `name`'s stored secret with `new` if it is still `current`, in one
    /// durable transaction (the compare and the write are one statement). Returns
    /// whether it was replaced. For a server that upgrades md5 secrets at login; the
    /// caller has checked `new`.
    pub fn replace_role_secret(
        &self,
        name: &str,
        current: &str,
        new: &str,
    ) -> Result<bool, DbError> {
        let conn = lock(&self.inner.catalog);
        let changed = conn.execute(
            "UPDATE pgscram_roles SET rolpassword = ?3 WHERE rolname = ?1 AND rolpassword = ?2",
            [name, current, new],
        );
        role_commits::settle();
        Ok(changed? == 1)
    }

    /// The role catalog's version. It changes in the same transaction as any change
    /// to a role or a membership (SQL, this API, or another process), so a cached
    /// [`Database::role_with_groups`] answer is current exactly while its version is.
    pub fn roles_version(&self) -> Result<u64, DbError> {
        catalog::roles_version(&lock(&self.inner.catalog))
    }

    /// How many transactions that changed roles, memberships or passwords have
    /// committed through this handle (and its clones and sessions) in this process;
    /// `None` while one is committing. Costs two atomic loads, no SQLite.
    ///
    /// The count is raised before such a commit is made and settled after it has
    /// been made, and a rolled-back transaction does not count. So a value read
    /// `Some(n)` before reading the catalog, and still `Some(n)` later, means no role
    /// change was committed here in between; a role change committed and reported to
    /// its client before the first read has been read.
    ///
    /// It does not see writes by another process, or by another `Database` opened
    /// on the same file: [`Database::roles_version`] does.
    pub fn settled_role_commits(&self) -> Option<u64> {
        self.inner.role_commits.settled()
    }

    /// First start: if the catalog holds no role at all, creates `name` as the
    /// bootstrap superuser (OID 10, every attribute, LOGIN). `password` may be a
    /// plaintext password (hashed with SCRAM-SHA-256 and the default iterations) or a
    /// ready SCRAM/md5 secret. Returns whether it created the role.
    pub fn bootstrap_superuser(&self, name: &str, password: Option<&str>) -> Result<bool, DbError> {
        crate::ddl::check_bootstrap_name(name)?;
        let secret = match password {
            Some(pw) => {
                let policy = HashPolicy {
                    encryption: PasswordEncryption::ScramSha256,
                    iterations: pgscram_scram::DEFAULT_ITERATIONS,
                    md5_warnings: false,
                };
                password::resolve(pw, name, policy)?.secret.clone()
            }
            None => None,
        };
        let conn = lock(&self.inner.catalog);
        conn.execute_batch("BEGIN IMMEDIATE")?;
        let result = (|| {
            if catalog::has_roles(&conn)? {
                return Ok(false);
            }
            let mut role = RoleRecord::new(name);
            role.oid = BOOTSTRAP_SUPERUSER_OID;
            role.superuser = true;
            role.createrole = true;
            role.createdb = true;
            role.can_login = true;
            role.replication = true;
            role.bypassrls = true;
            role.password = secret;
            catalog::insert_role(&conn, &role)?;
            Ok(true)
        })();
        let ended = match result {
            Ok(created) => conn
                .execute_batch(if created { "COMMIT" } else { "ROLLBACK" })
                .map(|()| created)
                .map_err(DbError::from),
            Err(e) => {
                let _ = conn.execute_batch("ROLLBACK");
                Err(e)
            }
        };
        role_commits::settle();
        ended
    }

    /// Replaces what `pg_hba_file_rules` shows, in one transaction.
    pub fn replace_hba_file_rules(&self, rows: &[catalog::HbaFileRow]) -> Result<(), DbError> {
        let conn = lock(&self.inner.catalog);
        conn.execute_batch("BEGIN IMMEDIATE")?;
        let ended = match catalog::replace_hba_rows(&conn, rows) {
            Ok(()) => conn.execute_batch("COMMIT").map_err(DbError::from),
            Err(e) => {
                let _ = conn.execute_batch("ROLLBACK");
                Err(e)
            }
        };
        role_commits::settle();
        ended
    }

    /// A new connection to the same database, configured like the first.
    pub(crate) fn connect(&self) -> Result<Connection, DbError> {
        let conn = Connection::open_with_flags(self.inner.target.file(), open_flags())?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        configure(&conn)?;
        role_commits::watch(&conn, &self.inner.role_commits);
        Ok(conn)
    }

    /// A connection for a session: an idle one from an ended session, or a new one.
    pub(crate) fn checkout(&self) -> Result<PooledConnection, DbError> {
        let reused = lock(&self.inner.idle).pop();
        let conn = match reused {
            Some(conn) => conn,
            None => self.connect()?,
        };
        Ok(PooledConnection {
            conn: Some(conn),
            db: self.clone(),
        })
    }

    /// Takes back a session's connection if nothing of that session can survive in it:
    /// no open transaction, no temporary objects. Anything else is closed.
    fn checkin(&self, conn: Connection) {
        // Whatever the ended session committed has returned by now.
        role_commits::settle();
        if !conn.is_autocommit() && conn.execute_batch("ROLLBACK").is_err() {
            return;
        }
        conn.flush_prepared_statement_cache();
        // The session's own temporary objects; the catalog views (`pg_*`, `pgscram_*`,
        // names user SQL cannot create) stay for the next session.
        let temp_objects: i64 = conn
            .query_row(
                "SELECT count(*) FROM sqlite_temp_master \
                 WHERE substr(name, 1, 3) <> 'pg_' AND substr(name, 1, 8) <> 'pgscram_' \
                 AND substr(name, 1, 7) <> 'sqlite_'",
                [],
                |r| r.get(0),
            )
            .unwrap_or(1);

        if temp_objects != 0 {
            return;
        }
        // Drop the ended session's hooks (and the state they hold) while idle.
        conn.authorizer(
            None::<fn(rusqlite::hooks::AuthContext<'_>) -> rusqlite::hooks::Authorization>,
        );
        conn.progress_handler(0, None::<fn() -> bool>);
        // The ended session's settings are not the next one's.
        if conn
            .execute_batch("DELETE FROM temp.pgscram_settings")
            .is_err()
        {
            return;
        }
        let mut idle = lock(&self.inner.idle);
        if idle.len() < IDLE_CONNECTIONS {
            idle.push(conn);
        }
    }

    /// Whether a superuser ran `SELECT pg_reload_conf()` since the last call: the
    /// server should then reload its configuration (pg_hba.conf) as on SIGHUP.
    pub fn take_reload_request(&self) -> bool {
        self.inner.reload.swap(false, Ordering::Relaxed)
    }

    /// The flag `pg_reload_conf()` raises (shared with every session).
    pub(crate) fn reload_flag(&self) -> Arc<AtomicBool> {
        Arc::clone(&self.inner.reload)
    }

    pub(crate) fn next_pid(&self) -> i32 {
        self.inner.next_pid.fetch_add(1, Ordering::Relaxed)
    }

    /// Counts a session in, refusing past the role's connection limit.
    pub(crate) fn enter(&self, role: &RoleRecord) -> Result<SessionSlot, SqlError> {
        let mut map = lock(&self.inner.sessions);
        let live = map.entry(role.name.clone()).or_insert(0);
        if !role.superuser && role.conn_limit >= 0 && i64::from(*live) >= i64::from(role.conn_limit)
        {
            return Err(SqlError::new(
                sqlstate::TOO_MANY_CONNECTIONS,
                format!("too many connections for role \"{}\"", role.name),
            ));
        }
        *live += 1;
        Ok(SessionSlot {
            db: self.clone(),
            role: role.name.clone(),
        })
    }

    /// How many sessions are open as `role`.
    pub fn session_count(&self, role: &str) -> u32 {
        lock(&self.inner.sessions).get(role).copied().unwrap_or(0)
    }
}

/// Creates the database file with owner-only permissions if it does not exist yet:
/// it holds password verifiers. SQLite gives its -wal and -shm files the same mode.
fn create_private_file(path: &Path) -> Result<(), DbError> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(io_error(path, &e)),
    }
}

fn create_private_dir(dir: &Path) -> Result<(), DbError> {
    let mut builder = std::fs::DirBuilder::new();
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir).map_err(|e| io_error(dir, &e))
}

fn io_error(path: &Path, e: &std::io::Error) -> DbError {
    DbError::Rejected(SqlError::new(
        sqlstate::SYSTEM_ERROR,
        format!("could not create \"{}\": {e}", path.display()),
    ))
}

fn open_flags() -> OpenFlags {
    OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_CREATE
        | OpenFlags::SQLITE_OPEN_URI
        | OpenFlags::SQLITE_OPEN_NO_MUTEX
}

/// A value read in the snapshot where the role catalog had `version`.
#[derive(Debug, Clone)]
pub struct Versioned<T> {
    /// [`Database::roles_version`] in that snapshot.
    pub version: u64,
    /// What was read.
    pub value: T,
}

/// A role with every role it belongs to, transitively; `None` for no such role.
pub type RoleWithGroups = Option<(RoleRecord, Vec<String>)>;

fn configure(conn: &Connection) -> Result<(), DbError> {
    conn.execute_batch("PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;")?;
    Ok(())
}

/// A session's connection; goes back to the pool when the session ends.
pub(crate) struct PooledConnection {
    conn: Option<Connection>,
    db: Database,
}

impl std::ops::Deref for PooledConnection {
    type Target = Connection;
    fn deref(&self) -> &Connection {
        self.conn.as_ref().expect("present until drop")
    }
}

impl std::ops::DerefMut for PooledConnection {
    fn deref_mut(&mut self) -> &mut Connection {
        self.conn.as_mut().expect("present until drop")
    }
}

impl Drop for PooledConnection {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            self.db.checkin(conn);
        }
    }
}

/// A session's place in the per-role count; released on drop.
#[derive(Debug)]
pub(crate) struct SessionSlot {
    db: Database,
    role: String,
}

impl Drop for SessionSlot {
    fn drop(&mut self) {
        let mut map = lock(&self.db.inner.sessions);
        if let Some(n) = map.get_mut(&self.role) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                map.remove(&self.role);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_path(tag: &str) -> PathBuf {
        let mut p = std::env::temp_dir();
        let mut r = [0u8; 8];
        getrandom::getrandom(&mut r).unwrap();
        p.push(format!(
            "pgscram-db-{tag}-{}-{:016x}.sqlite",
            std::process::id(),
            u64::from_le_bytes(r)
        ));
        p
    }

    fn cleanup(p: &Path) {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", p.display()));
        }
    }

    #[test]
    fn bootstrap_once_then_survives_reopen() {
        let path = temp_path("boot");
        {
            let db = Database::open(&path).unwrap();
            assert!(db.bootstrap_superuser("admin", Some("pw")).unwrap());
            assert!(!db.bootstrap_superuser("other", Some("pw")).unwrap());
        }
        let db = Database::open(&path).unwrap();
        let admin = db.role("admin").unwrap().unwrap();
        assert_eq!(admin.oid, BOOTSTRAP_SUPERUSER_OID);
        assert!(admin.superuser && admin.can_login);
        assert!(
            admin
                .password
                .as_deref()
                .unwrap()
                .starts_with("SCRAM-SHA-256$4096:")
        );
        assert!(db.role("other").unwrap().is_none());
        drop(db);
        cleanup(&path);
    }

    #[cfg(unix)]
    #[test]
    fn files_are_private_to_the_owner() {
        use std::os::unix::fs::PermissionsExt;
        let path = temp_path("perm");
        let db = Database::open(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "mode {mode:o}");
        drop(db);
        cleanup(&path);
        let db = Database::open_in_memory().unwrap();
        let Target::Scratch { dir, .. } = &db.inner.target else {
            panic!("scratch")
        };
        let dir = dir.clone();
        let mode = std::fs::metadata(&dir).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "mode {mode:o}");
        drop(db);
        assert!(!dir.exists(), "scratch directory removed on drop");
    }

    #[test]
    fn in_memory_databases_are_separate_and_shared_across_connections() {
        let a = Database::open_in_memory().unwrap();
        let b = Database::open_in_memory().unwrap();
        a.bootstrap_superuser("x", None).unwrap();
        assert!(a.role("x").unwrap().is_some());
        assert!(b.role("x").unwrap().is_none());
        let c = a.connect().unwrap();
        let n: i64 = c
            .query_row(
                "SELECT count(*) FROM pgscram_roles WHERE oid >= 16384 OR oid = 10",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(n, 1);
    }

    #[test]
    fn bootstrap_rejects_bad_names_and_secrets() {
        let db = Database::open_in_memory().unwrap();
        assert!(db.bootstrap_superuser("pg_boss", None).is_err());
        assert!(
            db.bootstrap_superuser("a", Some("SCRAM-SHA-256$broken"))
                .is_err()
        );
        assert!(db.roles().unwrap().is_empty());
    }

    #[test]
    fn role_commits_count_committed_role_changes_only() {
        use crate::{Session, SessionSettings};
        let db = Database::open_in_memory().unwrap();
        db.bootstrap_superuser("postgres", None).unwrap();
        let mut s = Session::new(&db, "postgres", SessionSettings::default()).unwrap();
        let mut run = |sql: &str| {
            for outcome in s.simple_query(sql) {
                let _ = outcome.result;
            }
        };
        let count = || db.settled_role_commits().expect("settled after each call");
        let start = count();
        run("CREATE ROLE alice");
        assert_eq!(count(), start + 1);
        run("BEGIN; ALTER ROLE alice LOGIN; ROLLBACK");
        run("CREATE TABLE t (a int); INSERT INTO t VALUES (1)");
        run("ALTER ROLE alice NOLOGIN; SELECT * FROM no_such_table");
        assert_eq!(
            count(),
            start + 1,
            "rollbacks and other tables do not count"
        );
        run("BEGIN");
        run("ALTER ROLE alice LOGIN");
        assert_eq!(count(), start + 1, "not before the commit");
        run("COMMIT");
        assert_eq!(count(), start + 2);
        // A compare-and-swap that replaces nothing writes nothing.
        assert!(db.replace_role_secret("alice", "x", "y").is_ok());
        assert_eq!(count(), start + 2, "nothing replaced, nothing written");
    }

    #[test]
    fn connection_limits_count_sessions() {
        let db = Database::open_in_memory().unwrap();
        let mut r = RoleRecord::new("u");
        r.conn_limit = 1;
        let s1 = db.enter(&r).unwrap();
        assert_eq!(db.session_count("u"), 1);
        let e = db.enter(&r).unwrap_err();
        assert_eq!(e.code, sqlstate::TOO_MANY_CONNECTIONS);
        drop(s1);
        assert_eq!(db.session_count("u"), 0);
        let _s2 = db.enter(&r).unwrap();
        r.superuser = true;
        let _s3 = db.enter(&r).unwrap();
    }
}
