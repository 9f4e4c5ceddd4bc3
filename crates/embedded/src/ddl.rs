//! Role DDL: `CREATE/ALTER/DROP ROLE|USER|GROUP`, `GRANT role TO role` and `REVOKE role
//! FROM role` (read from sqlparser's tree by [`role_syntax`](crate::role_syntax)), applied
//! to the catalog with PostgreSQL's privilege rules and messages (REFERENCE.md §2).
//!
//! The privilege model is PostgreSQL's before version 16, which is simpler and what the
//! brief asks for: superusers may do anything; CREATEROLE roles may create, alter, drop
//! and grant non-superuser roles; every role may change its own password. (PostgreSQL
//! 16 additionally requires the ADMIN option on the target role and grants it to a
//! role's creator automatically.)
//!
//! Passwords are hashed before the catalog transaction starts (hashing can take a
//! while at high `scram_iterations`, and must not hold the write lock), and a password
//! literal never appears in an error message.

use pgscram_scram::ScramVerifier;
use rusqlite::Connection;
use zeroize::Zeroizing;

use crate::catalog::{self, BOOTSTRAP_SUPERUSER_OID, OlderPassword, RoleRecord};
use crate::error::{DbError, Notice, SqlError, sqlstate};
use crate::password::{self, HashPolicy, Resolved};
pub(crate) use crate::script::Which;
use crate::timestamp::Timestamp;

/// PostgreSQL's NAMEDATALEN - 1.
pub(crate) const MAX_NAME_LEN: usize = 63;

/// A role named in a statement.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum RoleSpec {
    Name(String),
    /// CURRENT_USER, CURRENT_ROLE or SESSION_USER (one user per session here).
    Current,
}

impl RoleSpec {
    fn resolve<'a>(&'a self, session_user: &'a str) -> &'a str {
        match self {
            RoleSpec::Name(n) => n,
            RoleSpec::Current => session_user,
        }
    }
}

/// One role option.
#[derive(Clone, PartialEq, Eq)]
pub(crate) enum RoleOption {
    /// `None` for `PASSWORD NULL`.
    Password(Option<Zeroizing<String>>),
    Superuser(bool),
    CreateDb(bool),
    CreateRole(bool),
    Inherit(bool),
    Login(bool),
    Replication(bool),
    BypassRls(bool),
    ConnLimit(i32),
    ValidUntil(Timestamp),
    InRole(Vec<String>),
    Role(Vec<String>),
    Admin(Vec<String>),
}

impl std::fmt::Debug for RoleOption {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RoleOption::Password(Some(_)) => f.write_str("Password(<redacted>)"),
            RoleOption::Password(None) => f.write_str("Password(NULL)"),
            RoleOption::Superuser(b) => write!(f, "Superuser({b})"),
            RoleOption::CreateDb(b) => write!(f, "CreateDb({b})"),
            RoleOption::CreateRole(b) => write!(f, "CreateRole({b})"),
            RoleOption::Inherit(b) => write!(f, "Inherit({b})"),
            RoleOption::Login(b) => write!(f, "Login({b})"),
            RoleOption::Replication(b) => write!(f, "Replication({b})"),
            RoleOption::BypassRls(b) => write!(f, "BypassRls({b})"),
            RoleOption::ConnLimit(n) => write!(f, "ConnLimit({n})"),
            RoleOption::ValidUntil(t) => write!(f, "ValidUntil({t})"),
            RoleOption::InRole(r) => write!(f, "InRole({r:?})"),
            RoleOption::Role(r) => write!(f, "Role({r:?})"),
            RoleOption::Admin(r) => write!(f, "Admin({r:?})"),
        }
    }
}

impl RoleOption {
    /// Options of the same kind conflict when given twice.
    pub(crate) fn kind(&self) -> u8 {
        match self {
            RoleOption::Password(_) => 0,
            RoleOption::Superuser(_) => 1,
            RoleOption::CreateDb(_) => 2,
            RoleOption::CreateRole(_) => 3,
            RoleOption::Inherit(_) => 4,
            RoleOption::Login(_) => 5,
            RoleOption::Replication(_) => 6,
            RoleOption::BypassRls(_) => 7,
            RoleOption::ConnLimit(_) => 8,
            RoleOption::ValidUntil(_) => 9,
            RoleOption::InRole(_) => 10,
            RoleOption::Role(_) => 11,
            RoleOption::Admin(_) => 12,
        }
    }
}

/// A change to one of a role's two passwords, its time read.
pub(crate) type PasswordChange = crate::script::PasswordCommand<Timestamp>;

/// A parsed role statement.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum RoleStmt {
    Create {
        name: String,
        options: Vec<RoleOption>,
    },
    Alter {
        target: RoleSpec,
        options: Vec<RoleOption>,
    },
    Rename {
        target: RoleSpec,
        new_name: String,
    },
    /// `ALTER ROLE r ADD|DROP FIRST|SECOND PASSWORD ...`.
    Passwords {
        target: RoleSpec,
        change: PasswordChange,
    },
    Drop {
        if_exists: bool,
        names: Vec<String>,
    },
    Grant {
        roles: Vec<RoleSpec>,
        members: Vec<RoleSpec>,
        admin: bool,
        /// ALTER GROUP ... ADD USER reports `ALTER ROLE`.
        tag: &'static str,
    },
    Revoke {
        roles: Vec<RoleSpec>,
        members: Vec<RoleSpec>,
        admin_only: bool,
        tag: &'static str,
    },
}

/// PUBLIC, NONE and the CURRENT_USER family cannot name a new role.
pub(crate) fn check_not_special(name: &str) -> Result<(), SqlError> {
    match name {
        "public" | "none" => Err(SqlError::new(
            sqlstate::RESERVED_NAME,
            format!("role name \"{name}\" is reserved"),
        )),
        "current_user" | "current_role" | "session_user" | "user" => Err(SqlError::new(
            sqlstate::RESERVED_NAME,
            format!(
                "{} cannot be used as a role name here",
                name.to_ascii_uppercase()
            ),
        )),
        _ => Ok(()),
    }
}

/// PostgreSQL's predefined roles (`pg_monitor`, ...) keep their attributes and names.
fn check_not_predefined(role: &RoleRecord, detail: &str) -> Result<(), SqlError> {
    if catalog::is_predefined(role.oid) {
        return Err(SqlError::new(
            sqlstate::RESERVED_NAME,
            format!("role name \"{}\" is reserved", role.name),
        )
        .with_detail(detail));
    }
    Ok(())
}

/// `pg_` names belong to the system.
fn check_not_reserved(name: &str) -> Result<(), SqlError> {
    if name.starts_with("pg_") {
        return Err(SqlError::new(
            sqlstate::RESERVED_NAME,
            format!("role name \"{name}\" is reserved"),
        )
        .with_detail("Role names starting with \"pg_\" are reserved."));
    }
    Ok(())
}

/// What applying a statement said.
#[derive(Debug, Default)]
pub(crate) struct Applied {
    pub tag: String,
    pub notices: Vec<Notice>,
}

/// The hashed password of a CREATE/ALTER, computed before the transaction.
pub(crate) struct Secrets {
    resolved: Option<Resolved>,
    /// `ADD SECOND PASSWORD`: the verifier, made with the first password's salt.
    second: Option<Zeroizing<String>>,
}

/// Hashes the statement's password, if it has one (outside any transaction).
/// `current` reads a role as committed now: a second password is hashed with the salt
/// of the role's first, and the transaction checks that the first is still that one.
pub(crate) fn hash_password(
    stmt: &RoleStmt,
    session_user: &str,
    policy: HashPolicy,
    current: impl FnOnce(&str) -> Result<Option<RoleRecord>, SqlError>,
) -> Result<Secrets, SqlError> {
    let none = || Secrets {
        resolved: None,
        second: None,
    };
    let (name, options) = match stmt {
        RoleStmt::Create { name, options } => (name.as_str(), options),
        RoleStmt::Alter { target, options } => (target.resolve(session_user), options),
        RoleStmt::Passwords {
            target,
            change: PasswordChange::Add {
                which, password, ..
            },
        } => {
            let name = target.resolve(session_user);
            if *which == Which::First {
                return Ok(Secrets {
                    resolved: Some(password::resolve(password, name, policy)?),
                    second: None,
                });
            }
            let first = current(name)?
                .and_then(|role| role.password.clone())
                .and_then(|secret| ScramVerifier::parse(&secret).ok());
            let second = match first {
                Some(first) => Some(Zeroizing::new(password::resolve_second(password, &first)?)),
                // No SCRAM first password: the transaction says so.
                None => None,
            };
            return Ok(Secrets {
                resolved: None,
                second,
            });
        }
        _ => return Ok(none()),
    };
    for o in options {
        if let RoleOption::Password(pw) = o {
            let resolved = match pw {
                Some(text) => password::resolve(text, name, policy)?,
                None => Resolved {
                    secret: None,
                    notices: Vec::new(),
                },
            };
            return Ok(Secrets {
                resolved: Some(resolved),
                second: None,
            });
        }
    }
    Ok(none())
}

fn denied(action: &str, detail: &str) -> SqlError {
    SqlError::new(
        sqlstate::INSUFFICIENT_PRIVILEGE,
        format!("permission denied to {action}"),
    )
    .with_detail(detail)
}

fn db(e: DbError) -> SqlError {
    match e {
        DbError::Rejected(e) => e,
        other => SqlError::internal(other.to_string()),
    }
}

fn load(conn: &Connection, name: &str) -> Result<Option<RoleRecord>, SqlError> {
    catalog::role_by_name(conn, name).map_err(db)
}

fn require(conn: &Connection, name: &str) -> Result<RoleRecord, SqlError> {
    load(conn, name)?.ok_or_else(|| SqlError::role_missing(name))
}

/// The acting role; a role dropped under a live session has no privileges.
fn actor(conn: &Connection, session_user: &str) -> Result<RoleRecord, SqlError> {
    Ok(load(conn, session_user)?.unwrap_or_else(|| RoleRecord::new(session_user)))
}

/// Applies a parsed statement inside the caller's transaction.
pub(crate) fn apply(
    conn: &Connection,
    stmt: &RoleStmt,
    secrets: Secrets,
    session_user: &str,
) -> Result<Applied, SqlError> {
    let me = actor(conn, session_user)?;
    match stmt {
        RoleStmt::Create { name, options } => create(conn, &me, name, options, secrets),
        RoleStmt::Alter { target, options } => {
            alter(conn, &me, target.resolve(session_user), options, secrets)
        }
        RoleStmt::Rename { target, new_name } => {
            rename(conn, &me, target.resolve(session_user), new_name)
        }
        RoleStmt::Passwords { target, change } => {
            passwords(conn, &me, target.resolve(session_user), change, secrets)
        }
        RoleStmt::Drop { if_exists, names } => drop_roles(conn, &me, *if_exists, names),
        RoleStmt::Grant {
            roles,
            members,
            admin,
            tag,
        } => grant(conn, &me, roles, members, *admin, tag, session_user),
        RoleStmt::Revoke {
            roles,
            members,
            admin_only,
            tag,
        } => revoke(conn, &me, roles, members, *admin_only, tag, session_user),
    }
}

/// Applies the attribute options to a record (passwords handled separately).
fn set_attributes(role: &mut RoleRecord, options: &[RoleOption]) -> Result<(), SqlError> {
    for o in options {
        match o {
            RoleOption::Superuser(b) => role.superuser = *b,
            RoleOption::CreateDb(b) => role.createdb = *b,
            RoleOption::CreateRole(b) => role.createrole = *b,
            RoleOption::Inherit(b) => role.inherit = *b,
            RoleOption::Login(b) => role.can_login = *b,
            RoleOption::Replication(b) => role.replication = *b,
            RoleOption::BypassRls(b) => role.bypassrls = *b,
            RoleOption::ConnLimit(n) => {
                if *n < -1 {
                    return Err(SqlError::new(
                        sqlstate::INVALID_PARAMETER_VALUE,
                        format!("invalid connection limit: {n}"),
                    ));
                }
                role.conn_limit = *n;
            }
            RoleOption::ValidUntil(t) => role.valid_until = Some(*t),
            RoleOption::Password(_)
            | RoleOption::InRole(_)
            | RoleOption::Role(_)
            | RoleOption::Admin(_) => {}
        }
    }
    Ok(())
}

fn wants(options: &[RoleOption], f: impl Fn(&RoleOption) -> bool) -> bool {
    options.iter().any(f)
}

/// An attribute a non-superuser may only give (or change) when holding it: which
/// options touch it, whether `me` holds it, its name.
type AttributeCheck = (fn(&RoleOption) -> bool, bool, &'static str);

/// The privileged attributes. `granting` matches only options that turn an attribute
/// on (CREATE ROLE); otherwise any mention of it counts (ALTER ROLE).
fn attribute_checks(me: &RoleRecord, granting: bool) -> [AttributeCheck; 4] {
    if granting {
        [
            (
                |o| matches!(o, RoleOption::Superuser(true)),
                false,
                "SUPERUSER",
            ),
            (
                |o| matches!(o, RoleOption::CreateDb(true)),
                me.createdb,
                "CREATEDB",
            ),
            (
                |o| matches!(o, RoleOption::Replication(true)),
                me.replication,
                "REPLICATION",
            ),
            (
                |o| matches!(o, RoleOption::BypassRls(true)),
                me.bypassrls,
                "BYPASSRLS",
            ),
        ]
    } else {
        [
            (
                |o| matches!(o, RoleOption::Superuser(_)),
                false,
                "SUPERUSER",
            ),
            (
                |o| matches!(o, RoleOption::CreateDb(_)),
                me.createdb,
                "CREATEDB",
            ),
            (
                |o| matches!(o, RoleOption::Replication(_)),
                me.replication,
                "REPLICATION",
            ),
            (
                |o| matches!(o, RoleOption::BypassRls(_)),
                me.bypassrls,
                "BYPASSRLS",
            ),
        ]
    }
}

fn create(
    conn: &Connection,
    me: &RoleRecord,
    name: &str,
    options: &[RoleOption],
    secrets: Secrets,
) -> Result<Applied, SqlError> {
    const ACTION: &str = "create role";
    if !me.superuser {
        if !me.createrole {
            return Err(denied(
                ACTION,
                "Only roles with the CREATEROLE attribute may create roles.",
            ));
        }
        for (asks, has, attr) in attribute_checks(me, true) {
            if wants(options, asks) && !has {
                return Err(denied(
                    ACTION,
                    &format!(
                        "Only roles with the {attr} attribute may create roles with the {attr} attribute."
                    ),
                ));
            }
        }
    }
    check_not_reserved(name)?;
    if load(conn, name)?.is_some() {
        return Err(SqlError::new(
            sqlstate::DUPLICATE_OBJECT,
            format!("role \"{name}\" already exists"),
        ));
    }
    let mut role = RoleRecord::new(name);
    set_attributes(&mut role, options)?;
    let mut notices = Vec::new();
    if let Some(r) = secrets.resolved {
        role.password = r.secret.clone();
        notices.extend(r.notices.iter().cloned());
    }
    role.oid = catalog::insert_role(conn, &role).map_err(db)?;
    for o in options {
        let (list, member_side, admin) = match o {
            RoleOption::InRole(l) => (l, false, false),
            RoleOption::Role(l) => (l, true, false),
            RoleOption::Admin(l) => (l, true, true),
            _ => continue,
        };
        for other in list {
            let other = require(conn, other)?;
            if member_side {
                // ROLE/ADMIN list: they become members of the new role.
                add_membership(conn, me, &role, &other, admin, &mut notices)?;
            } else {
                check_grant_privilege(conn, me, &other, true)?;
                add_membership(conn, me, &other, &role, false, &mut notices)?;
            }
        }
    }
    Ok(Applied {
        tag: "CREATE ROLE".into(),
        notices,
    })
}

fn alter(
    conn: &Connection,
    me: &RoleRecord,
    name: &str,
    options: &[RoleOption],
    secrets: Secrets,
) -> Result<Applied, SqlError> {
    const ACTION: &str = "alter role";
    let mut role = require(conn, name)?;
    check_not_predefined(&role, "Cannot alter reserved roles.")?;
    let only_password = options.iter().all(|o| matches!(o, RoleOption::Password(_)));
    let own_password = only_password && role.oid == me.oid && me.oid != 0;
    if !me.superuser && !own_password {
        if !me.createrole {
            return Err(denied(
                ACTION,
                &format!(
                    "Only roles with the CREATEROLE attribute may alter role \"{name}\"; a role may only change its own password."
                ),
            ));
        }
        if role.superuser {
            return Err(denied(
                ACTION,
                "Only roles with the SUPERUSER attribute may alter roles with the SUPERUSER attribute.",
            ));
        }
        for (asks, has, attr) in attribute_checks(me, false) {
            if wants(options, asks) && !has {
                return Err(denied(
                    ACTION,
                    &format!(
                        "Only roles with the {attr} attribute may change the {attr} attribute."
                    ),
                ));
            }
        }
    }
    if role.oid == BOOTSTRAP_SUPERUSER_OID
        && wants(options, |o| matches!(o, RoleOption::Superuser(false)))
    {
        return Err(denied(
            ACTION,
            "The bootstrap user must have the SUPERUSER attribute.",
        ));
    }
    set_attributes(&mut role, options)?;
    let mut notices = Vec::new();
    if let Some(r) = secrets.resolved {
        role.password = r.secret.clone();
        notices.extend(r.notices.iter().cloned());
        // A new password replaces every old one: after a leak, `PASSWORD` must be
        // enough to lock the old password out.
        catalog::set_older_password(conn, role.oid, None).map_err(db)?;
    }
    catalog::update_role(conn, &role).map_err(db)?;
    Ok(Applied {
        tag: "ALTER ROLE".into(),
        notices,
    })
}

fn not_ready(message: String, hint: &str) -> SqlError {
    SqlError::new(sqlstate::OBJECT_NOT_IN_PREREQUISITE_STATE, message).with_hint(hint)
}

/// `ALTER ROLE r ADD|DROP FIRST|SECOND PASSWORD ...`. The first password is the one
/// set first; once a second is added, the first is the older (kept in
/// `pgscram_older_passwords`) and the second the newer (`rolpassword`, what pg_authid
/// shows). Dropping the first ends a rotation; dropping the second rolls it back.
/// Who may: as for `PASSWORD` (a role may change its own passwords), and as for
/// `VALID UNTIL` when an expiry is set.
fn passwords(
    conn: &Connection,
    me: &RoleRecord,
    name: &str,
    change: &PasswordChange,
    secrets: Secrets,
) -> Result<Applied, SqlError> {
    const ACTION: &str = "alter role";
    let mut role = require(conn, name)?;
    check_not_predefined(&role, "Cannot alter reserved roles.")?;
    let sets_expiry = matches!(
        change,
        PasswordChange::Add {
            valid_until: Some(_),
            ..
        } | PasswordChange::ValidUntil { .. }
    );
    let own = role.oid == me.oid && me.oid != 0 && !sets_expiry;
    if !me.superuser && !own {
        if !me.createrole {
            return Err(denied(
                ACTION,
                &format!(
                    "Only roles with the CREATEROLE attribute may alter role \"{name}\"; a role may only change its own passwords."
                ),
            ));
        }
        if role.superuser {
            return Err(denied(
                ACTION,
                "Only roles with the SUPERUSER attribute may alter roles with the SUPERUSER attribute.",
            ));
        }
    }
    let no_password = || {
        not_ready(
            format!("role \"{name}\" has no password"),
            "Set one with ALTER ROLE ... PASSWORD.",
        )
    };
    let no_second = || {
        not_ready(
            format!("role \"{name}\" has no second password"),
            "Add one with ALTER ROLE ... ADD SECOND PASSWORD.",
        )
    };
    let mut older = role.older.take();
    let mut notices = Vec::new();
    match change {
        PasswordChange::Add {
            which: Which::First,
            valid_until,
            ..
        } => {
            if role.password.is_some() || older.is_some() {
                return Err(not_ready(
                    format!("role \"{name}\" already has a first password"),
                    "Add the new one with ALTER ROLE ... ADD SECOND PASSWORD.",
                ));
            }
            if let Some(r) = secrets.resolved {
                role.password = r.secret.clone();
                notices.extend(r.notices.iter().cloned());
            }
            role.valid_until = *valid_until;
        }
        PasswordChange::Add {
            which: Which::Second,
            valid_until,
            ..
        } => {
            if older.is_some() {
                return Err(not_ready(
                    format!("role \"{name}\" already has two passwords"),
                    "Drop one first: ALTER ROLE ... DROP FIRST PASSWORD.",
                ));
            }
            let Some(first) = role.password.take() else {
                return Err(no_password());
            };
            let Ok(first_verifier) = ScramVerifier::parse(&first) else {
                return Err(not_ready(
                    format!("the password of role \"{name}\" is not a SCRAM-SHA-256 secret"),
                    "A second password shares the first's salt: set a SCRAM-SHA-256 password first.",
                ));
            };
            // Hashed before this transaction with the first's salt: if the first
            // changed meanwhile, the pair would not share it.
            let second = secrets
                .second
                .as_deref()
                .and_then(|s| ScramVerifier::parse(s).ok())
                .filter(|s| {
                    s.salt() == first_verifier.salt()
                        && s.iterations() == first_verifier.iterations()
                })
                .ok_or_else(|| {
                    SqlError::new(
                        sqlstate::SERIALIZATION_FAILURE,
                        format!("the password of role \"{name}\" changed concurrently"),
                    )
                })?;
            older = Some(OlderPassword {
                password: first.clone(),
                valid_until: role.valid_until,
            });
            role.password = Some(second.to_string());
            role.valid_until = *valid_until;
        }
        PasswordChange::Drop(Some(Which::First)) => {
            if older.take().is_none() {
                // The only password is the first.
                if role.password.take().is_none() {
                    return Err(no_password());
                }
            }
        }
        PasswordChange::Drop(Some(Which::Second)) => {
            let Some(first) = older.take() else {
                return Err(no_second());
            };
            role.password = Some(first.password.clone());
            role.valid_until = first.valid_until;
        }
        PasswordChange::Drop(None) => {
            role.password = None;
            older = None;
        }
        PasswordChange::ValidUntil {
            which: Which::First,
            until,
        } => match older.as_mut() {
            Some(first) => first.valid_until = Some(*until),
            None if role.password.is_some() => role.valid_until = Some(*until),
            None => return Err(no_password()),
        },
        PasswordChange::ValidUntil {
            which: Which::Second,
            until,
        } => {
            if older.is_none() {
                return Err(no_second());
            }
            role.valid_until = Some(*until);
        }
    }
    catalog::update_role(conn, &role).map_err(db)?;
    catalog::set_older_password(conn, role.oid, older.as_ref()).map_err(db)?;
    Ok(Applied {
        tag: "ALTER ROLE".into(),
        notices,
    })
}

fn rename(
    conn: &Connection,
    me: &RoleRecord,
    name: &str,
    new_name: &str,
) -> Result<Applied, SqlError> {
    const ACTION: &str = "rename role";
    let mut role = require(conn, name)?;
    check_not_predefined(&role, "Cannot rename reserved roles.")?;
    if role.oid == me.oid || role.name == me.name {
        return Err(SqlError::unsupported("session user cannot be renamed"));
    }
    if load(conn, new_name)?.is_some() {
        return Err(SqlError::new(
            sqlstate::DUPLICATE_OBJECT,
            format!("role \"{new_name}\" already exists"),
        ));
    }
    check_not_reserved(new_name)?;
    if !me.superuser {
        if role.superuser {
            return Err(denied(
                ACTION,
                "Only roles with the SUPERUSER attribute may rename roles with the SUPERUSER attribute.",
            ));
        }
        if !me.createrole {
            return Err(denied(
                ACTION,
                "Only roles with the CREATEROLE attribute may rename roles.",
            ));
        }
    }
    let mut notices = Vec::new();
    role.name = new_name.to_owned();
    // The md5 hash mixes in the role name, so it no longer matches anything.
    if role
        .password
        .as_deref()
        .is_some_and(pgscram_scram::md5::is_md5_secret)
    {
        role.password = None;
        notices.push(Notice::plain("MD5 password cleared because of role rename"));
    }
    catalog::update_role(conn, &role).map_err(db)?;
    Ok(Applied {
        tag: "ALTER ROLE".into(),
        notices,
    })
}

fn drop_roles(
    conn: &Connection,
    me: &RoleRecord,
    if_exists: bool,
    names: &[String],
) -> Result<Applied, SqlError> {
    const ACTION: &str = "drop role";
    let mut notices = Vec::new();
    if !me.superuser && !me.createrole {
        return Err(denied(
            ACTION,
            "Only roles with the CREATEROLE attribute may drop roles.",
        ));
    }
    for name in names {
        let Some(role) = load(conn, name)? else {
            if if_exists {
                notices.push(Notice::plain(format!(
                    "role \"{name}\" does not exist, skipping"
                )));
                continue;
            }
            return Err(SqlError::role_missing(name));
        };
        if role.oid == me.oid || role.name == me.name {
            return Err(SqlError::new(
                sqlstate::OBJECT_IN_USE,
                "current user cannot be dropped",
            ));
        }
        if role.superuser && !me.superuser {
            return Err(denied(
                ACTION,
                "Only roles with the SUPERUSER attribute may drop roles with the SUPERUSER attribute.",
            ));
        }
        if role.oid == BOOTSTRAP_SUPERUSER_OID || catalog::is_predefined(role.oid) {
            return Err(SqlError::new(
                sqlstate::DEPENDENT_OBJECTS_STILL_EXIST,
                format!("cannot drop role {name} because it is required by the database system"),
            ));
        }
        catalog::delete_role(conn, role.oid).map_err(db)?;
    }
    Ok(Applied {
        tag: "DROP ROLE".into(),
        notices,
    })
}

/// May `me` grant (or revoke) membership in `role`?
fn check_grant_privilege(
    conn: &Connection,
    me: &RoleRecord,
    role: &RoleRecord,
    grant: bool,
) -> Result<(), SqlError> {
    if me.superuser {
        return Ok(());
    }
    let verb = if grant { "grant" } else { "revoke" };
    let action = format!("{verb} role \"{}\"", role.name);
    if role.superuser {
        return Err(denied(
            &action,
            &format!(
                "Only roles with the SUPERUSER attribute may {verb} roles with the SUPERUSER attribute."
            ),
        ));
    }
    if me.createrole {
        return Ok(());
    }
    if me.oid != 0 && catalog::membership(conn, role.oid, me.oid).map_err(db)? == Some(true) {
        return Ok(());
    }
    Err(denied(
        &action,
        &format!(
            "Only roles with the ADMIN option on role \"{}\" may {verb} this role.",
            role.name
        ),
    ))
}

fn add_membership(
    conn: &Connection,
    me: &RoleRecord,
    role: &RoleRecord,
    member: &RoleRecord,
    admin: bool,
    notices: &mut Vec<Notice>,
) -> Result<(), SqlError> {
    if catalog::is_member_oid(conn, role.oid, member.oid).map_err(db)? {
        return Err(SqlError::new(
            sqlstate::INVALID_GRANT_OPERATION,
            format!(
                "role \"{}\" is a member of role \"{}\"",
                role.name, member.name
            ),
        ));
    }
    match catalog::membership(conn, role.oid, member.oid).map_err(db)? {
        Some(has_admin) if has_admin || !admin => {
            notices.push(Notice::plain(format!(
                "role \"{}\" is already a member of role \"{}\"",
                member.name, role.name
            )));
            Ok(())
        }
        _ => {
            let grantor = if me.oid == 0 {
                BOOTSTRAP_SUPERUSER_OID
            } else {
                me.oid
            };
            catalog::add_member(conn, role.oid, member.oid, grantor, admin).map_err(db)
        }
    }
}

fn grant(
    conn: &Connection,
    me: &RoleRecord,
    roles: &[RoleSpec],
    members: &[RoleSpec],
    admin: bool,
    tag: &str,
    session_user: &str,
) -> Result<Applied, SqlError> {
    let mut notices = Vec::new();
    for r in roles {
        let role = require(conn, r.resolve(session_user))?;
        check_grant_privilege(conn, me, &role, true)?;
        for m in members {
            let member = require(conn, m.resolve(session_user))?;
            add_membership(conn, me, &role, &member, admin, &mut notices)?;
        }
    }
    Ok(Applied {
        tag: tag.into(),
        notices,
    })
}

fn revoke(
    conn: &Connection,
    me: &RoleRecord,
    roles: &[RoleSpec],
    members: &[RoleSpec],
    admin_only: bool,
    tag: &str,
    session_user: &str,
) -> Result<Applied, SqlError> {
    let mut notices = Vec::new();
    for r in roles {
        let role = require(conn, r.resolve(session_user))?;
        check_grant_privilege(conn, me, &role, false)?;
        for m in members {
            let member = require(conn, m.resolve(session_user))?;
            if !catalog::remove_member(conn, role.oid, member.oid, admin_only).map_err(db)? {
                notices.push(Notice::warning(
                    sqlstate::WARNING,
                    format!(
                        "role \"{}\" is not a member of role \"{}\"",
                        member.name, role.name
                    ),
                ));
            }
        }
    }
    Ok(Applied {
        tag: tag.into(),
        notices,
    })
}

/// Validates a name given to `Database::bootstrap_superuser`.
pub(crate) fn check_bootstrap_name(name: &str) -> Result<(), SqlError> {
    if name.is_empty() || name.len() > MAX_NAME_LEN || name.contains('\0') {
        return Err(SqlError::new(
            sqlstate::INVALID_PARAMETER_VALUE,
            format!("invalid role name: must be 1 to {MAX_NAME_LEN} bytes without NUL"),
        ));
    }
    check_not_special(name)?;
    check_not_reserved(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bootstrap_names() {
        assert!(check_bootstrap_name("postgres").is_ok());
        assert!(check_bootstrap_name("").is_err());
        assert!(check_bootstrap_name("pg_admin").is_err());
        assert!(check_bootstrap_name("public").is_err());
        assert!(check_bootstrap_name(&"x".repeat(64)).is_err());
    }
}
