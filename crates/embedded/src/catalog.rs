//! The role catalog: two SQLite tables (`pgscram_roles`, `pgscram_auth_members`), the
//! PostgreSQL-named views over them, and the reads and writes the DDL and the
//! authentication layer need.
//!
//! Column declarations use the type names of [`crate::types`], so `pg_authid` describes
//! itself with PostgreSQL's OIDs (`rolname` is `name`, `rolsuper` is `bool`, ...).
//! Every write runs inside a transaction the caller opened (see `Session`), so a failed
//! statement never leaves a half-written catalog.

use std::fmt;

use rusqlite::{Connection, OptionalExtension, Row, params};
use zeroize::Zeroize;

use crate::error::DbError;
use crate::timestamp::Timestamp;

/// The catalog layout this code writes; stored in `pgscram_meta`.
pub const SCHEMA_VERSION: i64 = 1;

/// PostgreSQL's OID for the bootstrap superuser (`BOOTSTRAP_SUPERUSERID`).
pub const BOOTSTRAP_SUPERUSER_OID: u32 = 10;

/// The first OID handed to user-created roles (`FirstNormalObjectId`).
pub const FIRST_NORMAL_OID: u32 = 16384;

const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS pgscram_meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS pgscram_roles (
    oid OID INTEGER PRIMARY KEY,
    rolname NAME TEXT NOT NULL UNIQUE,
    rolsuper BOOLEAN NOT NULL DEFAULT 0,
    rolinherit BOOLEAN NOT NULL DEFAULT 1,
    rolcreaterole BOOLEAN NOT NULL DEFAULT 0,
    rolcreatedb BOOLEAN NOT NULL DEFAULT 0,
    rolcanlogin BOOLEAN NOT NULL DEFAULT 0,
    rolreplication BOOLEAN NOT NULL DEFAULT 0,
    rolbypassrls BOOLEAN NOT NULL DEFAULT 0,
    rolconnlimit INTEGER NOT NULL DEFAULT -1,
    rolpassword TEXT,
    rolvaliduntil TIMESTAMPTZ
);
CREATE TABLE IF NOT EXISTS pgscram_auth_members (
    oid OID INTEGER PRIMARY KEY,
    roleid OID INTEGER NOT NULL REFERENCES pgscram_roles(oid) ON DELETE CASCADE,
    member OID INTEGER NOT NULL REFERENCES pgscram_roles(oid) ON DELETE CASCADE,
    grantor OID INTEGER NOT NULL,
    admin_option BOOLEAN NOT NULL DEFAULT 0,
    inherit_option BOOLEAN NOT NULL DEFAULT 1,
    set_option BOOLEAN NOT NULL DEFAULT 1,
    UNIQUE (roleid, member)
);
CREATE TABLE IF NOT EXISTS pgscram_older_passwords (
    roleid OID INTEGER PRIMARY KEY REFERENCES pgscram_roles(oid) ON DELETE CASCADE,
    rolpassword TEXT NOT NULL,
    rolvaliduntil TIMESTAMPTZ
);
CREATE VIEW IF NOT EXISTS pgscram_passwords AS
    SELECT r.rolname AS rolname,
           CASE WHEN o.roleid IS NULL THEN 'first' ELSE 'second' END AS password,
           r.rolpassword AS rolpassword, r.rolvaliduntil AS rolvaliduntil
    FROM pgscram_roles r LEFT JOIN pgscram_older_passwords o ON o.roleid = r.oid
    WHERE r.rolpassword IS NOT NULL
    UNION ALL
    SELECT r.rolname, 'first', o.rolpassword, o.rolvaliduntil
    FROM pgscram_older_passwords o JOIN pgscram_roles r ON r.oid = o.roleid;
CREATE VIEW IF NOT EXISTS pg_authid AS
    SELECT oid, rolname, rolsuper, rolinherit, rolcreaterole, rolcreatedb, rolcanlogin,
           rolreplication, rolbypassrls, rolconnlimit, rolpassword, rolvaliduntil
    FROM pgscram_roles;
CREATE VIEW IF NOT EXISTS pg_roles AS
    SELECT rolname, rolsuper, rolinherit, rolcreaterole, rolcreatedb, rolcanlogin,
           rolreplication, rolconnlimit, '********' AS rolpassword, rolvaliduntil,
           rolbypassrls, NULL AS rolconfig, oid
    FROM pgscram_roles;
CREATE VIEW IF NOT EXISTS pg_shadow AS
    SELECT rolname AS usename, oid AS usesysid, rolcreatedb AS usecreatedb,
           rolsuper AS usesuper, rolreplication AS userepl, rolbypassrls AS usebypassrls,
           rolpassword AS passwd, rolvaliduntil AS valuntil, NULL AS useconfig
    FROM pgscram_roles WHERE rolcanlogin;
CREATE VIEW IF NOT EXISTS pg_user AS
    SELECT rolname AS usename, oid AS usesysid, rolcreatedb AS usecreatedb,
           rolsuper AS usesuper, rolreplication AS userepl, rolbypassrls AS usebypassrls,
           '********' AS passwd, rolvaliduntil AS valuntil, NULL AS useconfig
    FROM pgscram_roles WHERE rolcanlogin;
CREATE VIEW IF NOT EXISTS pg_auth_members AS
    SELECT oid, roleid, member, grantor, admin_option, inherit_option, set_option
    FROM pgscram_auth_members;
CREATE TABLE IF NOT EXISTS pgscram_description (
    objoid OID INTEGER NOT NULL,
    classoid OID INTEGER NOT NULL,
    objsubid INTEGER NOT NULL DEFAULT 0,
    description TEXT NOT NULL,
    PRIMARY KEY (objoid, classoid, objsubid)
);
CREATE TABLE IF NOT EXISTS pgscram_hba_file_rules (
    rule_number INTEGER,
    file_name TEXT,
    line_number INTEGER,
    type TEXT,
    database TEXT,
    user_name TEXT,
    address TEXT,
    netmask TEXT,
    auth_method TEXT,
    options TEXT,
    error TEXT
);
CREATE VIEW IF NOT EXISTS pg_hba_file_rules AS
    SELECT rule_number, file_name, line_number, type, database, user_name, address,
           netmask, auth_method, options, error
    FROM pgscram_hba_file_rules;
"#;

/// PostgreSQL 15's predefined roles, with their OIDs: NOLOGIN, INHERIT, no password.
pub const PREDEFINED_ROLES: &[(u32, &str)] = &[
    (3373, "pg_monitor"),
    (3374, "pg_read_all_settings"),
    (3375, "pg_read_all_stats"),
    (3377, "pg_stat_scan_tables"),
    (4200, "pg_signal_backend"),
    (4544, "pg_checkpoint"),
    (4569, "pg_read_server_files"),
    (4570, "pg_write_server_files"),
    (4571, "pg_execute_server_program"),
    (6171, "pg_database_owner"),
    (6181, "pg_read_all_data"),
    (6182, "pg_write_all_data"),
];

/// pg_monitor's memberships, as PostgreSQL ships them: (oid, role, member).
const PREDEFINED_MEMBERSHIPS: &[(u32, u32, u32)] =
    &[(3380, 3374, 3373), (3381, 3375, 3373), (3382, 3377, 3373)];

/// A predefined role (not the bootstrap superuser, not a role someone created).
pub(crate) fn is_predefined(oid: u32) -> bool {
    oid < FIRST_NORMAL_OID && oid != BOOTSTRAP_SUPERUSER_OID
}

/// Adds the predefined roles a catalog lacks (new catalogs, and ones made before
/// they existed here).
fn add_predefined_roles(conn: &Connection) -> rusqlite::Result<()> {
    for (oid, name) in PREDEFINED_ROLES {
        conn.execute(
            "INSERT OR IGNORE INTO pgscram_roles (oid, rolname) VALUES (?1, ?2)",
            params![oid, name],
        )?;
    }
    for (oid, role, member) in PREDEFINED_MEMBERSHIPS {
        conn.execute(
            "INSERT OR IGNORE INTO pgscram_auth_members (oid, roleid, member, grantor) \
             VALUES (?1, ?2, ?3, 10)",
            params![oid, role, member],
        )?;
    }
    Ok(())
}

/// Tables and views that belong to the catalog: user SQL may not create, drop or
/// write them (enforced by the session's authorizer). (`sqlite_` names are SQLite's
/// own and it guards them itself.)
pub(crate) fn is_catalog_name(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    lower.starts_with("pgscram_") || lower.starts_with("pg_")
}

/// Views only superusers may read: password secrets, and (as in PostgreSQL) the
/// authentication rules.
pub(crate) fn is_secret_view(name: &str) -> bool {
    [
        "pg_authid",
        "pg_shadow",
        "pg_hba_file_rules",
        "pgscram_passwords",
    ]
    .iter()
    .any(|v| name.eq_ignore_ascii_case(v))
}

/// One row of `pg_hba_file_rules`; list columns hold PostgreSQL's array text (`{all}`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HbaFileRow {
    /// `rule_number`: position among the valid rules (1-based); `None` for an error line.
    pub rule_number: Option<u32>,
    /// `file_name`: the file the rule was read from.
    pub file_name: String,
    /// `line_number`: the line of the rule in that file.
    pub line_number: u32,
    /// `type`: the connection type (`local`, `host`, `hostssl`, ...).
    pub conn_type: Option<String>,
    /// `database`: the database names, as array text.
    pub database: Option<String>,
    /// `user_name`: the user and group names, as array text.
    pub user_name: Option<String>,
    /// `address`: the address, host name or keyword; `None` for `local`.
    pub address: Option<String>,
    /// `netmask`: the netmask of a numeric address.
    pub netmask: Option<String>,
    /// `auth_method`: the authentication method.
    pub auth_method: Option<String>,
    /// `options`: the method's options, as array text.
    pub options: Option<String>,
    /// `error`: why the line is not a rule, or why the rule can never match.
    pub error: Option<String>,
}

/// Replaces the rows of `pg_hba_file_rules` (the caller's transaction).
pub(crate) fn replace_hba_rows(conn: &Connection, rows: &[HbaFileRow]) -> Result<(), DbError> {
    conn.execute("DELETE FROM pgscram_hba_file_rules", [])?;
    let mut insert = conn.prepare(
        "INSERT INTO pgscram_hba_file_rules VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
    )?;
    for r in rows {
        insert.execute(rusqlite::params![
            r.rule_number,
            r.file_name,
            r.line_number,
            r.conn_type,
            r.database,
            r.user_name,
            r.address,
            r.netmask,
            r.auth_method,
            r.options,
            r.error
        ])?;
    }
    Ok(())
}

/// The role catalog's version, raised in the same transaction as any change to roles
/// or memberships: a reader that saw version v in one snapshot knows the roles it read
/// there are current while the version is still v (the login path's role cache).
fn roles_version_schema() -> String {
    let mut sql =
        "INSERT OR IGNORE INTO pgscram_meta (key, value) VALUES ('roles_version', '0');\n"
            .to_owned();
    for table in [
        "pgscram_roles",
        "pgscram_auth_members",
        "pgscram_older_passwords",
    ] {
        for event in ["INSERT", "UPDATE", "DELETE"] {
            sql.push_str(&format!(
                "CREATE TRIGGER IF NOT EXISTS {table}_version_{} AFTER {event} ON {table} \
                 BEGIN UPDATE pgscram_meta SET value = value + 1 WHERE key = 'roles_version'; END;\n",
                event.to_lowercase()
            ));
        }
    }
    sql
}

/// Creates the catalog if the file has none; checks the version otherwise.
pub(crate) fn init_schema(conn: &Connection) -> Result<(), DbError> {
    conn.execute_batch("BEGIN IMMEDIATE")?;
    let result = (|| {
        conn.execute_batch(SCHEMA)?;
        conn.execute_batch(&roles_version_schema())?;
        add_predefined_roles(conn)?;
        let version: Option<String> = conn
            .query_row(
                "SELECT value FROM pgscram_meta WHERE key = 'schema_version'",
                [],
                |r| r.get(0),
            )
            .optional()?;
        match version {
            None => {
                conn.execute(
                    "INSERT INTO pgscram_meta (key, value) VALUES ('schema_version', ?1)",
                    [SCHEMA_VERSION.to_string()],
                )?;
                Ok(())
            }
            Some(v) => match v.parse::<i64>() {
                Ok(SCHEMA_VERSION) => Ok(()),
                Ok(other) => Err(DbError::UnknownSchemaVersion(other)),
                Err(_) => Err(DbError::CorruptCatalog(
                    "schema_version is not a number".into(),
                )),
            },
        }
    })();
    match result {
        Ok(()) => {
            conn.execute_batch("COMMIT")?;
            Ok(())
        }
        Err(e) => {
            let _ = conn.execute_batch("ROLLBACK");
            Err(e)
        }
    }
}

/// One row of `pg_authid`: everything the authentication layer needs about a role.
///
/// `password` holds the stored secret (a SCRAM verifier or md5 hash, which are
/// password-equivalent for their mechanisms): it is zeroized on drop and never printed
/// by `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct RoleRecord {
    /// `oid`: the role's OID.
    pub oid: u32,
    /// `rolname`: the role name.
    pub name: String,
    /// `rolsuper`: the role is a superuser.
    pub superuser: bool,
    /// `rolinherit`: the role uses the privileges of roles it is a member of.
    pub inherit: bool,
    /// `rolcreaterole`: the role may create and manage roles.
    pub createrole: bool,
    /// `rolcreatedb`: the role may create databases.
    pub createdb: bool,
    /// `rolcanlogin`: the role may log in.
    pub can_login: bool,
    /// `rolreplication`: the REPLICATION attribute.
    pub replication: bool,
    /// `rolbypassrls`: the BYPASSRLS attribute.
    pub bypassrls: bool,
    /// `CONNECTION LIMIT`; -1 means none.
    pub conn_limit: i32,
    /// `rolpassword`: the stored secret, if any.
    pub password: Option<String>,
    /// `rolvaliduntil`: when the password stops being valid; `None` for never.
    pub valid_until: Option<Timestamp>,
    /// The older of two passwords while a new one rolls out (`ADD SECOND PASSWORD`):
    /// `password` is then the newer, the one `pg_authid` shows.
    pub older: Option<OlderPassword>,
}

/// A role's first password once a second was added; kept in `pgscram_older_passwords`.
#[derive(Clone, PartialEq, Eq)]
pub struct OlderPassword {
    /// The stored secret: a SCRAM verifier sharing salt and iterations with the newer.
    pub password: String,
    /// When it stops being valid; `None` for never.
    pub valid_until: Option<Timestamp>,
}

impl fmt::Debug for OlderPassword {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OlderPassword")
            .field("password", &"<redacted>")
            .field("valid_until", &self.valid_until)
            .finish()
    }
}

impl Drop for OlderPassword {
    fn drop(&mut self) {
        self.password.zeroize();
    }
}

impl RoleRecord {
    /// A role as `CREATE ROLE name` makes it: no login, no privileges, inherit.
    pub(crate) fn new(name: &str) -> RoleRecord {
        RoleRecord {
            oid: 0,
            name: name.to_owned(),
            superuser: false,
            inherit: true,
            createrole: false,
            createdb: false,
            can_login: false,
            replication: false,
            bypassrls: false,
            conn_limit: -1,
            password: None,
            valid_until: None,
            older: None,
        }
    }

    /// PostgreSQL's test: a password whose `VALID UNTIL` lies before `now` is expired
    /// (`User "u" has an expired password.`). No `VALID UNTIL` never expires.
    pub fn password_expired(&self, now: Timestamp) -> bool {
        self.valid_until.is_some_and(|v| v.is_before(now))
    }

    fn from_row(row: &Row<'_>) -> rusqlite::Result<RoleRecord> {
        let valid_until = timestamp_column(row, 11)?;
        Ok(RoleRecord {
            oid: row.get(0)?,
            name: row.get(1)?,
            superuser: row.get(2)?,
            inherit: row.get(3)?,
            createrole: row.get(4)?,
            createdb: row.get(5)?,
            can_login: row.get(6)?,
            replication: row.get(7)?,
            bypassrls: row.get(8)?,
            conn_limit: row.get(9)?,
            password: row.get(10)?,
            valid_until,
            older: None,
        })
    }
}

/// A `TIMESTAMPTZ` column as the catalog stores it (text), or NULL.
fn timestamp_column(row: &Row<'_>, index: usize) -> rusqlite::Result<Option<Timestamp>> {
    let text: Option<String> = row.get(index)?;
    text.map(|text| {
        Timestamp::parse(&text).map_err(|e| {
            rusqlite::Error::FromSqlConversionFailure(
                index,
                rusqlite::types::Type::Text,
                Box::new(e),
            )
        })
    })
    .transpose()
}

impl fmt::Debug for RoleRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RoleRecord")
            .field("oid", &self.oid)
            .field("name", &self.name)
            .field("superuser", &self.superuser)
            .field("inherit", &self.inherit)
            .field("createrole", &self.createrole)
            .field("createdb", &self.createdb)
            .field("can_login", &self.can_login)
            .field("replication", &self.replication)
            .field("bypassrls", &self.bypassrls)
            .field("conn_limit", &self.conn_limit)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("valid_until", &self.valid_until)
            .field("older", &self.older)
            .finish()
    }
}

impl Drop for RoleRecord {
    fn drop(&mut self) {
        if let Some(p) = self.password.as_mut() {
            p.zeroize();
        }
    }
}

const ROLE_COLUMNS: &str = "oid, rolname, rolsuper, rolinherit, rolcreaterole, rolcreatedb, \
    rolcanlogin, rolreplication, rolbypassrls, rolconnlimit, rolpassword, rolvaliduntil";

fn corrupt(e: rusqlite::Error) -> DbError {
    match e {
        rusqlite::Error::FromSqlConversionFailure(..) | rusqlite::Error::InvalidColumnType(..) => {
            DbError::CorruptCatalog(format!("unreadable role row: {e}"))
        }
        other => DbError::Sqlite(other),
    }
}

/// The role called `name` (exact, case-sensitive: names are already folded).
pub(crate) fn role_by_name(conn: &Connection, name: &str) -> Result<Option<RoleRecord>, DbError> {
    let role = conn
        .prepare_cached(&format!(
            "SELECT {ROLE_COLUMNS} FROM pgscram_roles WHERE rolname = ?1"
        ))?
        .query_row([name], RoleRecord::from_row)
        .optional()
        .map_err(corrupt)?;
    role.map(|role| with_older(conn, role)).transpose()
}

/// Fills in the role's older password, if it has one.
fn with_older(conn: &Connection, mut role: RoleRecord) -> Result<RoleRecord, DbError> {
    role.older = conn
        .prepare_cached(
            "SELECT rolpassword, rolvaliduntil FROM pgscram_older_passwords WHERE roleid = ?1",
        )?
        .query_row([role.oid], |row| {
            Ok(OlderPassword {
                password: row.get(0)?,
                valid_until: timestamp_column(row, 1)?,
            })
        })
        .optional()
        .map_err(corrupt)?;
    Ok(role)
}

/// Sets (or with `None` removes) the older password of the role `oid`.
pub(crate) fn set_older_password(
    conn: &Connection,
    oid: u32,
    older: Option<&OlderPassword>,
) -> Result<(), DbError> {
    conn.prepare_cached("DELETE FROM pgscram_older_passwords WHERE roleid = ?1")?
        .execute([oid])?;
    if let Some(older) = older {
        conn.prepare_cached(
            "INSERT INTO pgscram_older_passwords (roleid, rolpassword, rolvaliduntil) \
             VALUES (?1, ?2, ?3)",
        )?
        .execute(params![
            oid,
            older.password,
            older.valid_until.map(|t| t.to_string())
        ])?;
    }
    Ok(())
}

/// Every role someone created (the bootstrap superuser and user roles), by OID; the
/// predefined roles are left out.
pub(crate) fn all_roles(conn: &Connection) -> Result<Vec<RoleRecord>, DbError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {ROLE_COLUMNS} FROM pgscram_roles \
         WHERE oid >= {FIRST_NORMAL_OID} OR oid = {BOOTSTRAP_SUPERUSER_OID} ORDER BY oid"
    ))?;
    let rows = stmt.query_map([], RoleRecord::from_row)?;
    let roles = rows.collect::<Result<Vec<_>, _>>().map_err(corrupt)?;
    roles.into_iter().map(|r| with_older(conn, r)).collect()
}

/// Whether `user` is `role` or a member of it through any chain of grants. Like
/// PostgreSQL's `is_member_of_role_nosuper` (what pg_hba's `+group` and `samerole`
/// use): superuser status does not make anyone a member, and INHERIT does not matter.
pub(crate) fn is_member(conn: &Connection, user: &str, role: &str) -> Result<bool, DbError> {
    let found: Option<i64> = conn
        .prepare_cached(
            "WITH RECURSIVE up(oid) AS ( \
                 SELECT oid FROM pgscram_roles WHERE rolname = ?1 \
                 UNION \
                 SELECT m.roleid FROM pgscram_auth_members m JOIN up ON m.member = up.oid \
             ) \
             SELECT 1 FROM up JOIN pgscram_roles r ON r.oid = up.oid WHERE r.rolname = ?2",
        )?
        .query_row([user, role], |r| r.get(0))
        .optional()?;
    Ok(found.is_some())
}

/// Every role `user` belongs to through any chain of grants, itself excluded, by name
/// (what a credential store hands the server with the role, for pg_hba's `+group`).
pub(crate) fn groups_of(conn: &Connection, user: &str) -> Result<Vec<String>, DbError> {
    let mut statement = conn.prepare_cached(
        "WITH RECURSIVE up(oid) AS ( \
             SELECT oid FROM pgscram_roles WHERE rolname = ?1 \
             UNION \
             SELECT m.roleid FROM pgscram_auth_members m JOIN up ON m.member = up.oid \
         ) \
         SELECT r.rolname FROM up JOIN pgscram_roles r ON r.oid = up.oid \
         WHERE r.rolname <> ?1 ORDER BY r.rolname",
    )?;
    let names = statement
        .query_map([user], |r| r.get(0))?
        .collect::<Result<Vec<String>, _>>()?;
    Ok(names)
}

/// The role catalog's version (see the `roles_version` triggers in the schema).
pub(crate) fn roles_version(conn: &Connection) -> Result<u64, DbError> {
    let version: i64 = conn
        .prepare_cached(
            "SELECT CAST(value AS INTEGER) FROM pgscram_meta WHERE key = 'roles_version'",
        )?
        .query_row([], |r| r.get(0))?;
    Ok(version.unsigned_abs())
}

/// Same as [`is_member`] by OID (used for circular-grant checks).
pub(crate) fn is_member_oid(conn: &Connection, member: u32, role: u32) -> Result<bool, DbError> {
    let found: Option<i64> = conn
        .prepare_cached(
            "WITH RECURSIVE up(oid) AS ( \
                 SELECT ?1 \
                 UNION \
                 SELECT m.roleid FROM pgscram_auth_members m JOIN up ON m.member = up.oid \
             ) \
             SELECT 1 FROM up WHERE oid = ?2",
        )?
        .query_row([member, role], |r| r.get(0))
        .optional()?;
    Ok(found.is_some())
}

/// The next free OID (roles and memberships share one counter, as PostgreSQL's do).
fn next_oid(conn: &Connection) -> Result<u32, DbError> {
    let max: Option<i64> = conn.query_row(
        "SELECT max(m) FROM (SELECT max(oid) AS m FROM pgscram_roles \
         UNION ALL SELECT max(oid) FROM pgscram_auth_members)",
        [],
        |r| r.get(0),
    )?;
    let next = max.map_or(i64::from(FIRST_NORMAL_OID), |m| {
        (m + 1).max(i64::from(FIRST_NORMAL_OID))
    });
    u32::try_from(next).map_err(|_| DbError::CorruptCatalog("OID counter exhausted".into()))
}

/// Inserts a new role; `role.oid == 0` picks the next OID. Returns the OID.
pub(crate) fn insert_role(conn: &Connection, role: &RoleRecord) -> Result<u32, DbError> {
    let oid = if role.oid == 0 {
        next_oid(conn)?
    } else {
        role.oid
    };
    conn.prepare_cached(&format!(
        "INSERT INTO pgscram_roles ({ROLE_COLUMNS}) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)"
    ))?
    .execute(params![
        oid,
        role.name,
        role.superuser,
        role.inherit,
        role.createrole,
        role.createdb,
        role.can_login,
        role.replication,
        role.bypassrls,
        role.conn_limit,
        role.password,
        role.valid_until.map(|t| t.to_string()),
    ])?;
    Ok(oid)
}

/// Writes every column of `role` (matched by OID).
pub(crate) fn update_role(conn: &Connection, role: &RoleRecord) -> Result<(), DbError> {
    conn.prepare_cached(
        "UPDATE pgscram_roles SET rolname = ?2, rolsuper = ?3, rolinherit = ?4, \
         rolcreaterole = ?5, rolcreatedb = ?6, rolcanlogin = ?7, rolreplication = ?8, \
         rolbypassrls = ?9, rolconnlimit = ?10, rolpassword = ?11, rolvaliduntil = ?12 \
         WHERE oid = ?1",
    )?
    .execute(params![
        role.oid,
        role.name,
        role.superuser,
        role.inherit,
        role.createrole,
        role.createdb,
        role.can_login,
        role.replication,
        role.bypassrls,
        role.conn_limit,
        role.password,
        role.valid_until.map(|t| t.to_string()),
    ])?;
    Ok(())
}

/// Deletes a role; its memberships go with it (ON DELETE CASCADE).
pub(crate) fn delete_role(conn: &Connection, oid: u32) -> Result<(), DbError> {
    conn.prepare_cached("DELETE FROM pgscram_auth_members WHERE roleid = ?1 OR member = ?1")?
        .execute([oid])?;
    conn.prepare_cached("DELETE FROM pgscram_roles WHERE oid = ?1")?
        .execute([oid])?;
    Ok(())
}

/// A membership row: (admin_option).
pub(crate) fn membership(
    conn: &Connection,
    role: u32,
    member: u32,
) -> Result<Option<bool>, DbError> {
    Ok(conn
        .prepare_cached(
            "SELECT admin_option FROM pgscram_auth_members WHERE roleid = ?1 AND member = ?2",
        )?
        .query_row([role, member], |r| r.get(0))
        .optional()?)
}

/// Grants membership in `role` to `member`; an existing row gains the admin option if
/// asked, never loses it.
pub(crate) fn add_member(
    conn: &Connection,
    role: u32,
    member: u32,
    grantor: u32,
    admin: bool,
) -> Result<(), DbError> {
    let oid = next_oid(conn)?;
    conn.prepare_cached(
        "INSERT INTO pgscram_auth_members (oid, roleid, member, grantor, admin_option) \
         VALUES (?1, ?2, ?3, ?4, ?5) \
         ON CONFLICT (roleid, member) DO UPDATE SET admin_option = admin_option OR excluded.admin_option",
    )?
    .execute(params![oid, role, member, grantor, admin])?;
    Ok(())
}

/// Revokes membership, or only its admin option. Returns whether a row existed.
pub(crate) fn remove_member(
    conn: &Connection,
    role: u32,
    member: u32,
    admin_only: bool,
) -> Result<bool, DbError> {
    let n = if admin_only {
        conn.prepare_cached(
            "UPDATE pgscram_auth_members SET admin_option = 0 WHERE roleid = ?1 AND member = ?2",
        )?
        .execute([role, member])?
    } else {
        conn.prepare_cached("DELETE FROM pgscram_auth_members WHERE roleid = ?1 AND member = ?2")?
            .execute([role, member])?
    };
    Ok(n > 0)
}

/// Whether any role exists (bootstrap runs only on an empty catalog).
pub(crate) fn has_roles(conn: &Connection) -> Result<bool, DbError> {
    Ok(conn.query_row(
        &format!(
            "SELECT EXISTS (SELECT 1 FROM pgscram_roles \
                 WHERE oid >= {FIRST_NORMAL_OID} OR oid = {BOOTSTRAP_SUPERUSER_OID})"
        ),
        [],
        |r| r.get(0),
    )?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db() -> Connection {
        let conn = Connection::open_in_memory().unwrap();
        init_schema(&conn).unwrap();
        conn
    }

    fn add(conn: &Connection, name: &str) -> u32 {
        insert_role(conn, &RoleRecord::new(name)).unwrap()
    }

    #[test]
    fn init_is_idempotent_and_versioned() {
        let conn = db();
        init_schema(&conn).unwrap();
        conn.execute(
            "UPDATE pgscram_meta SET value = '99' WHERE key = 'schema_version'",
            [],
        )
        .unwrap();
        assert!(matches!(
            init_schema(&conn),
            Err(DbError::UnknownSchemaVersion(99))
        ));
    }

    #[test]
    fn roles_round_trip() {
        let conn = db();
        let mut r = RoleRecord::new("alice");
        r.can_login = true;
        r.conn_limit = 3;
        r.password = Some("md54ab2c5d00339c4b2a4e921d2dc4edec7".into());
        r.valid_until = Some(Timestamp::parse("2030-01-01").unwrap());
        let oid = insert_role(&conn, &r).unwrap();
        assert_eq!(oid, FIRST_NORMAL_OID);
        r.oid = oid;
        assert_eq!(role_by_name(&conn, "alice").unwrap(), Some(r.clone()));
        assert_eq!(role_by_name(&conn, "Alice").unwrap(), None);
        r.superuser = true;
        r.password = None;
        update_role(&conn, &r).unwrap();
        assert_eq!(role_by_name(&conn, "alice").unwrap(), Some(r));
        assert_eq!(add(&conn, "bob"), FIRST_NORMAL_OID + 1);
        assert_eq!(all_roles(&conn).unwrap().len(), 2);
    }

    #[test]
    fn expiry_uses_the_callers_clock() {
        let mut r = RoleRecord::new("x");
        let now = Timestamp::parse("2030-06-01").unwrap();
        assert!(!r.password_expired(now));
        r.valid_until = Some(Timestamp::parse("2030-01-01").unwrap());
        assert!(r.password_expired(now));
        r.valid_until = Some(Timestamp::Infinity);
        assert!(!r.password_expired(now));
    }

    #[test]
    fn membership_is_transitive_and_reflexive() {
        let conn = db();
        let (a, b, c) = (add(&conn, "a"), add(&conn, "b"), add(&conn, "c"));
        add(&conn, "d");
        add_member(&conn, b, a, a, false).unwrap(); // a in b
        add_member(&conn, c, b, a, false).unwrap(); // b in c
        assert!(is_member(&conn, "a", "c").unwrap());
        assert!(is_member(&conn, "a", "a").unwrap());
        assert!(!is_member(&conn, "c", "a").unwrap());
        assert!(!is_member(&conn, "a", "d").unwrap());
        assert!(!is_member(&conn, "nobody", "a").unwrap());
        assert!(is_member_oid(&conn, a, c).unwrap());
        assert!(remove_member(&conn, c, b, false).unwrap());
        assert!(!is_member(&conn, "a", "c").unwrap());
        assert!(!remove_member(&conn, c, b, false).unwrap());
    }

    #[test]
    fn deleting_a_role_drops_its_memberships() {
        let conn = db();
        let (a, b) = (add(&conn, "a"), add(&conn, "b"));
        add_member(&conn, b, a, a, true).unwrap();
        assert_eq!(membership(&conn, b, a).unwrap(), Some(true));
        delete_role(&conn, b).unwrap();
        let n: i64 = conn
            .query_row(
                "SELECT count(*) FROM pgscram_auth_members WHERE oid >= 16384",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(n, 0);
    }

    #[test]
    fn views_expose_postgres_names() {
        let conn = db();
        let mut r = RoleRecord::new("u");
        r.password = Some("x".into());
        r.can_login = true;
        insert_role(&conn, &r).unwrap();
        let masked: String = conn
            .query_row("SELECT rolpassword FROM pg_roles", [], |r| r.get(0))
            .unwrap();
        assert_eq!(masked, "********");
        let shown: String = conn
            .query_row("SELECT passwd FROM pg_shadow", [], |r| r.get(0))
            .unwrap();
        assert_eq!(shown, "x");
        let stmt = conn
            .prepare("SELECT rolname, rolsuper, oid FROM pg_authid")
            .unwrap();
        let decl: Vec<_> = stmt
            .columns()
            .iter()
            .map(|c| c.decl_type().map(str::to_owned))
            .collect();
        assert_eq!(
            decl,
            vec![
                Some("NAME TEXT".into()),
                Some("BOOLEAN".into()),
                Some("OID INTEGER".into())
            ]
        );
    }

    #[test]
    fn debug_never_shows_the_secret() {
        let mut r = RoleRecord::new("u");
        r.password = Some("SCRAM-SHA-256$4096:c2FsdA==$a:b".into());
        let dbg = format!("{r:?}");
        assert!(!dbg.contains("SCRAM"), "{dbg}");
        assert!(dbg.contains("<redacted>"));
    }

    #[test]
    fn catalog_names() {
        assert!(is_catalog_name("pgscram_roles"));
        assert!(is_catalog_name("PG_AUTHID"));
        assert!(!is_catalog_name("sqlite_sequence"));
        assert!(!is_catalog_name("users"));
        assert!(is_secret_view("pg_shadow"));
        assert!(!is_secret_view("pg_roles"));
    }
}
