//! Role DDL: a hand-written parser for `CREATE/ALTER/DROP ROLE|USER|GROUP`, `GRANT role
//! TO role` and `REVOKE role FROM role`, and the code that applies them to the catalog
//! with PostgreSQL's privilege rules and messages (REFERENCE.md §2).
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

use rusqlite::Connection;
use zeroize::Zeroizing;

use crate::catalog::{self, BOOTSTRAP_SUPERUSER_OID, RoleRecord};
use crate::error::{DbError, Notice, SqlError, sqlstate};
use crate::lexer::{Tok, Token};
use crate::password::{self, HashPolicy, Resolved};
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
    fn kind(&self) -> u8 {
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

/// Whether these tokens start a role statement this module handles.
pub(crate) fn is_role_statement(tokens: &[Token]) -> bool {
    let w = |i: usize| match tokens.get(i).map(|t| &t.tok) {
        Some(Tok::Ident(s)) => s.as_str(),
        _ => "",
    };
    match (w(0), w(1)) {
        ("create" | "alter" | "drop", "role" | "user" | "group") => {
            // `CREATE USER MAPPING` is something else entirely.
            w(2) != "mapping"
        }
        ("grant" | "revoke", _) => true,
        _ => false,
    }
}

struct Parser<'a> {
    toks: &'a [Token],
    i: usize,
    notices: Vec<Notice>,
}

fn syntax_at(t: Option<&Token>) -> SqlError {
    match t {
        Some(t) => SqlError::syntax(format!(
            "syntax error at or near {} (position {})",
            t.describe(),
            t.pos + 1
        )),
        None => SqlError::syntax("syntax error at end of input"),
    }
}

impl<'a> Parser<'a> {
    fn peek(&self) -> Option<&'a Token> {
        self.toks.get(self.i)
    }

    fn peek_word(&self) -> Option<&'a str> {
        match self.peek().map(|t| &t.tok) {
            Some(Tok::Ident(w)) => Some(w.as_str()),
            _ => None,
        }
    }

    fn eat(&mut self, word: &str) -> bool {
        if self.peek_word() == Some(word) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    fn expect(&mut self, word: &str) -> Result<(), SqlError> {
        if self.eat(word) {
            Ok(())
        } else {
            Err(syntax_at(self.peek()))
        }
    }

    fn done(&self) -> Result<(), SqlError> {
        match self.peek() {
            None => Ok(()),
            Some(t) => Err(syntax_at(Some(t))),
        }
    }

    /// An identifier (truncated to 63 bytes with PostgreSQL's NOTICE).
    fn ident(&mut self) -> Result<String, SqlError> {
        let t = self.peek();
        let name = match t.map(|t| &t.tok) {
            Some(Tok::Ident(w)) => w.clone(),
            Some(Tok::Quoted(w)) => w.clone(),
            _ => return Err(syntax_at(t)),
        };
        self.i += 1;
        Ok(self.truncate(name))
    }

    fn truncate(&mut self, name: String) -> String {
        if name.len() <= MAX_NAME_LEN {
            return name;
        }
        let mut cut = MAX_NAME_LEN;
        while !name.is_char_boundary(cut) {
            cut -= 1;
        }
        let short = name[..cut].to_owned();
        self.notices.push(Notice {
            code: sqlstate::NAME_TOO_LONG,
            ..Notice::plain(format!(
                "identifier \"{name}\" will be truncated to \"{short}\""
            ))
        });
        short
    }

    /// A role name being created: identifiers only, not PUBLIC/NONE/CURRENT_USER.
    fn new_role_name(&mut self) -> Result<String, SqlError> {
        let quoted = matches!(self.peek().map(|t| &t.tok), Some(Tok::Quoted(_)));
        let name = self.ident()?;
        if !quoted {
            check_not_special(&name)?;
        }
        Ok(name)
    }

    fn role_spec(&mut self) -> Result<RoleSpec, SqlError> {
        if let Some(Tok::Ident(w)) = self.peek().map(|t| &t.tok)
            && matches!(w.as_str(), "current_user" | "current_role" | "session_user")
        {
            self.i += 1;
            return Ok(RoleSpec::Current);
        }
        Ok(RoleSpec::Name(self.ident()?))
    }

    fn comma(&mut self) -> bool {
        if matches!(self.peek().map(|t| &t.tok), Some(Tok::Comma)) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    fn name_list(&mut self) -> Result<Vec<String>, SqlError> {
        let mut out = vec![self.ident()?];
        while self.comma() {
            out.push(self.ident()?);
        }
        Ok(out)
    }

    fn spec_list(&mut self) -> Result<Vec<RoleSpec>, SqlError> {
        let mut out = vec![self.role_spec()?];
        while self.comma() {
            out.push(self.role_spec()?);
        }
        Ok(out)
    }

    fn string(&mut self) -> Result<Zeroizing<String>, SqlError> {
        match self.peek().map(|t| &t.tok) {
            Some(Tok::Str(s)) => {
                self.i += 1;
                Ok(Zeroizing::new(s.clone()))
            }
            _ => Err(syntax_at(self.peek())),
        }
    }

    /// Role options until the end; `create` allows the membership options.
    fn options(&mut self, create: bool) -> Result<Vec<RoleOption>, SqlError> {
        self.eat("with");
        let mut out: Vec<RoleOption> = Vec::new();
        while let Some(t) = self.peek() {
            let Tok::Ident(w) = &t.tok else {
                return Err(syntax_at(Some(t)));
            };
            self.i += 1;
            let opt = match w.as_str() {
                "superuser" => RoleOption::Superuser(true),
                "nosuperuser" => RoleOption::Superuser(false),
                "createdb" => RoleOption::CreateDb(true),
                "nocreatedb" => RoleOption::CreateDb(false),
                "createrole" => RoleOption::CreateRole(true),
                "nocreaterole" => RoleOption::CreateRole(false),
                "inherit" => RoleOption::Inherit(true),
                "noinherit" => RoleOption::Inherit(false),
                "login" => RoleOption::Login(true),
                "nologin" => RoleOption::Login(false),
                "replication" => RoleOption::Replication(true),
                "noreplication" => RoleOption::Replication(false),
                "bypassrls" => RoleOption::BypassRls(true),
                "nobypassrls" => RoleOption::BypassRls(false),
                "encrypted" => {
                    self.expect("password")?;
                    self.password()?
                }
                "unencrypted" => {
                    return Err(SqlError::unsupported(
                        "UNENCRYPTED PASSWORD is no longer supported",
                    )
                    .with_hint(
                        "Remove UNENCRYPTED to store the password in encrypted form instead.",
                    ));
                }
                "password" => self.password()?,
                "connection" => {
                    self.expect("limit")?;
                    RoleOption::ConnLimit(self.signed_int()?)
                }
                "valid" => {
                    self.expect("until")?;
                    let text = self.string()?;
                    let ts = Timestamp::parse(&text).map_err(|e| {
                        SqlError::new(sqlstate::INVALID_DATETIME_FORMAT, e.to_string())
                    })?;
                    RoleOption::ValidUntil(ts)
                }
                "sysid" if create => {
                    self.signed_int()?;
                    self.notices
                        .push(Notice::plain("SYSID can no longer be specified"));
                    continue;
                }
                "in" if create => {
                    if !self.eat("role") {
                        self.expect("group")?;
                    }
                    RoleOption::InRole(self.name_list()?)
                }
                "role" | "user" if create => RoleOption::Role(self.name_list()?),
                "admin" if create => RoleOption::Admin(self.name_list()?),
                _ => {
                    self.i -= 1;
                    return Err(syntax_at(self.peek()));
                }
            };
            if out.iter().any(|o| o.kind() == opt.kind()) {
                return Err(SqlError::syntax("conflicting or redundant options"));
            }
            out.push(opt);
        }
        Ok(out)
    }

    fn password(&mut self) -> Result<RoleOption, SqlError> {
        if self.eat("null") {
            return Ok(RoleOption::Password(None));
        }
        Ok(RoleOption::Password(Some(self.string()?)))
    }

    fn signed_int(&mut self) -> Result<i32, SqlError> {
        let negative = matches!(self.peek().map(|t| &t.tok), Some(Tok::Op(o)) if o == "-");
        if negative {
            self.i += 1;
        }
        match self.peek().map(|t| &t.tok) {
            Some(Tok::Number(n)) => {
                self.i += 1;
                let v: i64 = n
                    .parse()
                    .map_err(|_| syntax_at(self.toks.get(self.i - 1)))?;
                let v = if negative { -v } else { v };
                i32::try_from(v).map_err(|_| {
                    SqlError::new(
                        sqlstate::NUMERIC_VALUE_OUT_OF_RANGE,
                        "value is out of range for type integer",
                    )
                })
            }
            _ => Err(syntax_at(self.peek())),
        }
    }
}

/// PUBLIC, NONE and the CURRENT_USER family cannot name a new role.
fn check_not_special(name: &str) -> Result<(), SqlError> {
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

/// Parses a role statement (the caller checked [`is_role_statement`]). Returns the
/// statement and the notices parsing produced (identifier truncation, SYSID).
pub(crate) fn parse(tokens: &[Token]) -> Result<(RoleStmt, Vec<Notice>), SqlError> {
    let mut p = Parser {
        toks: tokens,
        i: 0,
        notices: Vec::new(),
    };
    let verb = p.peek_word().unwrap_or("");
    p.i += 1;
    let stmt = match verb {
        "create" => {
            let kind = p.peek_word().unwrap_or("");
            p.i += 1;
            let name = p.new_role_name()?;
            let mut options = p.options(true)?;
            let has_login = options.iter().any(|o| matches!(o, RoleOption::Login(_)));
            if kind == "user" && !has_login {
                options.push(RoleOption::Login(true));
            }
            RoleStmt::Create { name, options }
        }
        "alter" => {
            let kind = p.peek_word().unwrap_or("");
            p.i += 1;
            if p.peek_word() == Some("all") {
                return Err(SqlError::unsupported(
                    "ALTER ROLE ALL is not supported by the embedded database",
                ));
            }
            let target = p.role_spec()?;
            if kind == "group" {
                let add = if p.eat("add") {
                    true
                } else {
                    p.expect("drop")?;
                    false
                };
                p.expect("user")?;
                let members = p.spec_list()?;
                p.done()?;
                return Ok((
                    if add {
                        RoleStmt::Grant {
                            roles: vec![target],
                            members,
                            admin: false,
                            tag: "ALTER ROLE",
                        }
                    } else {
                        RoleStmt::Revoke {
                            roles: vec![target],
                            members,
                            admin_only: false,
                            tag: "ALTER ROLE",
                        }
                    },
                    p.notices,
                ));
            }
            if p.eat("rename") {
                p.expect("to")?;
                let new_name = p.new_role_name()?;
                p.done()?;
                RoleStmt::Rename { target, new_name }
            } else if matches!(p.peek_word(), Some("set" | "reset" | "in")) {
                return Err(SqlError::unsupported(
                    "per-role configuration (ALTER ROLE ... SET) is not supported by the embedded database",
                ));
            } else {
                let options = p.options(false)?;
                RoleStmt::Alter { target, options }
            }
        }
        "drop" => {
            p.i += 1;
            let if_exists = if p.eat("if") {
                p.expect("exists")?;
                true
            } else {
                false
            };
            let names = p.name_list()?;
            p.done()?;
            RoleStmt::Drop { if_exists, names }
        }
        "grant" => {
            let roles = grant_roles(&mut p, "to")?;
            let members = p.spec_list()?;
            let mut admin = false;
            if p.eat("with") {
                if p.eat("admin") {
                    admin = if p.eat("option") || p.eat("true") {
                        true
                    } else {
                        p.expect("false")?;
                        false
                    };
                } else {
                    return Err(SqlError::unsupported(
                        "only WITH ADMIN OPTION is supported for GRANT of roles",
                    ));
                }
            }
            granted_by(&mut p)?;
            p.done()?;
            RoleStmt::Grant {
                roles,
                members,
                admin,
                tag: "GRANT ROLE",
            }
        }
        "revoke" => {
            let admin_only = if p.eat("admin") {
                p.expect("option")?;
                p.expect("for")?;
                true
            } else {
                false
            };
            let roles = grant_roles(&mut p, "from")?;
            let members = p.spec_list()?;
            granted_by(&mut p)?;
            if !p.eat("cascade") {
                p.eat("restrict");
            }
            p.done()?;
            RoleStmt::Revoke {
                roles,
                members,
                admin_only,
                tag: "REVOKE ROLE",
            }
        }
        _ => return Err(syntax_at(tokens.first())),
    };
    Ok((stmt, p.notices))
}

/// The role list of GRANT/REVOKE, up to `TO`/`FROM`. A top-level `ON` means object
/// privileges, which the embedded database does not have.
fn grant_roles(p: &mut Parser<'_>, until: &str) -> Result<Vec<RoleSpec>, SqlError> {
    let rest = &p.toks[p.i..];
    let stop = rest.iter().position(|t| t.is_word(until));
    if rest[..stop.unwrap_or(rest.len())]
        .iter()
        .any(|t| t.is_word("on"))
    {
        return Err(SqlError::unsupported(
            "GRANT and REVOKE on tables and other objects are not supported by the embedded database; only role membership is",
        ));
    }
    let roles = p.spec_list()?;
    p.expect(until)?;
    Ok(roles)
}

fn granted_by(p: &mut Parser<'_>) -> Result<(), SqlError> {
    if p.eat("granted") {
        p.expect("by")?;
        p.role_spec()?;
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
}

/// Hashes the statement's password, if it has one (outside any transaction).
pub(crate) fn hash_password(
    stmt: &RoleStmt,
    session_user: &str,
    policy: HashPolicy,
) -> Result<Secrets, SqlError> {
    let (name, options) = match stmt {
        RoleStmt::Create { name, options } => (name.as_str(), options),
        RoleStmt::Alter { target, options } => (target.resolve(session_user), options),
        _ => return Ok(Secrets { resolved: None }),
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
            });
        }
    }
    Ok(Secrets { resolved: None })
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
    }
    catalog::update_role(conn, &role).map_err(db)?;
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
    use crate::lexer::tokenize;

    fn p(sql: &str) -> RoleStmt {
        parse(&tokenize(sql).unwrap()).unwrap().0
    }

    fn perr(sql: &str) -> SqlError {
        parse(&tokenize(sql).unwrap()).unwrap_err()
    }

    fn pw(s: &str) -> RoleOption {
        RoleOption::Password(Some(Zeroizing::new(s.to_owned())))
    }

    #[test]
    fn create_variants() {
        assert_eq!(
            p("CREATE ROLE Bob WITH LOGIN PASSWORD 'x' CONNECTION LIMIT -1"),
            RoleStmt::Create {
                name: "bob".into(),
                options: vec![RoleOption::Login(true), pw("x"), RoleOption::ConnLimit(-1)],
            }
        );
        assert_eq!(
            p("create user \"Mixed\" encrypted password 'y' in role a, b"),
            RoleStmt::Create {
                name: "Mixed".into(),
                options: vec![
                    pw("y"),
                    RoleOption::InRole(vec!["a".into(), "b".into()]),
                    RoleOption::Login(true)
                ],
            }
        );
        assert_eq!(
            p("create user u nologin"),
            RoleStmt::Create {
                name: "u".into(),
                options: vec![RoleOption::Login(false)],
            }
        );
        assert_eq!(
            p("create role r valid until '2030-01-01' password null"),
            RoleStmt::Create {
                name: "r".into(),
                options: vec![
                    RoleOption::ValidUntil(Timestamp::parse("2030-01-01").unwrap()),
                    RoleOption::Password(None)
                ],
            }
        );
    }

    #[test]
    fn alter_rename_drop_grant_revoke() {
        assert_eq!(
            p("ALTER USER current_user PASSWORD 'z'"),
            RoleStmt::Alter {
                target: RoleSpec::Current,
                options: vec![pw("z")]
            }
        );
        assert_eq!(
            p("alter role a rename to b"),
            RoleStmt::Rename {
                target: RoleSpec::Name("a".into()),
                new_name: "b".into()
            }
        );
        assert_eq!(
            p("drop role if exists a, \"B\""),
            RoleStmt::Drop {
                if_exists: true,
                names: vec!["a".into(), "B".into()]
            }
        );
        assert_eq!(
            p("grant a, b to c with admin option"),
            RoleStmt::Grant {
                roles: vec![RoleSpec::Name("a".into()), RoleSpec::Name("b".into())],
                members: vec![RoleSpec::Name("c".into())],
                admin: true,
                tag: "GRANT ROLE"
            }
        );
        assert_eq!(
            p("revoke admin option for a from c cascade"),
            RoleStmt::Revoke {
                roles: vec![RoleSpec::Name("a".into())],
                members: vec![RoleSpec::Name("c".into())],
                admin_only: true,
                tag: "REVOKE ROLE"
            }
        );
        assert_eq!(
            p("alter group g add user a"),
            RoleStmt::Grant {
                roles: vec![RoleSpec::Name("g".into())],
                members: vec![RoleSpec::Name("a".into())],
                admin: false,
                tag: "ALTER ROLE"
            }
        );
    }

    #[test]
    fn syntax_errors_never_show_the_password() {
        for sql in [
            "ALTER ROLE a PASSWORD 'hunter2' garbage",
            "ALTER ROLE a PASSWORD 'hunter2' 'again'",
            "CREATE ROLE a PASSWORD 'hunter2' PASSWORD 'hunter2'",
        ] {
            let e = perr(sql);
            assert!(!e.message.contains("hunter2"), "{sql}: {}", e.message);
            assert_eq!(e.code, sqlstate::SYNTAX_ERROR);
        }
        assert_eq!(
            perr("create role a login nologin").message,
            "conflicting or redundant options"
        );
        assert_eq!(perr("create role public").code, sqlstate::RESERVED_NAME);
        assert_eq!(
            perr("create role current_user").code,
            sqlstate::RESERVED_NAME
        );
        assert_eq!(
            perr("alter role a in role b").code,
            sqlstate::FEATURE_NOT_SUPPORTED
        );
        assert_eq!(
            perr("grant select on t to a").code,
            sqlstate::FEATURE_NOT_SUPPORTED
        );
        assert_eq!(
            perr("create role a unencrypted password 'x'").code,
            sqlstate::FEATURE_NOT_SUPPORTED
        );
        assert_eq!(
            perr("create role a valid until 'never'").code,
            sqlstate::INVALID_DATETIME_FORMAT
        );
    }

    #[test]
    fn long_names_are_truncated_with_a_notice() {
        let long = "a".repeat(70);
        let (stmt, notices) = parse(&tokenize(&format!("create role {long}")).unwrap()).unwrap();
        assert_eq!(
            stmt,
            RoleStmt::Create {
                name: "a".repeat(63),
                options: vec![]
            }
        );
        assert_eq!(notices[0].code, sqlstate::NAME_TOO_LONG);
    }

    #[test]
    fn recognises_role_statements() {
        let yes = |s: &str| is_role_statement(&tokenize(s).unwrap());
        assert!(yes("CREATE USER x"));
        assert!(yes("drop group g"));
        assert!(yes("GRANT a TO b"));
        assert!(!yes("CREATE TABLE t (a int)"));
        assert!(!yes("create user mapping for x server y"));
        assert!(!yes("SELECT 1"));
    }

    #[test]
    fn debug_redacts_passwords() {
        let dbg = format!("{:?}", p("create role a password 'hunter2'"));
        assert!(!dbg.contains("hunter2"), "{dbg}");
    }

    #[test]
    fn bootstrap_names() {
        assert!(check_bootstrap_name("postgres").is_ok());
        assert!(check_bootstrap_name("").is_err());
        assert!(check_bootstrap_name("pg_admin").is_err());
        assert!(check_bootstrap_name("public").is_err());
        assert!(check_bootstrap_name(&"x".repeat(64)).is_err());
    }
}
