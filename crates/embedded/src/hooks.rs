//! What a session installs on its SQLite connection: the SQL functions the bridge's
//! rewrites call, the authorizer that guards the role catalog, and the progress handler
//! that makes cancel requests and `statement_timeout` work.
//!
//! Callbacks cannot return typed errors through SQLite, so they leave the
//! PostgreSQL-shaped error in [`Shared`] and the session picks it up when SQLite
//! reports the failure.

use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use regex::{Regex, RegexBuilder};
use rusqlite::Connection;
use rusqlite::functions::{Context, FunctionFlags};
use rusqlite::hooks::{AuthAction, AuthContext, Authorization};
use rusqlite::types::{Value, ValueRef};

use crate::catalog;
use crate::error::{SqlError, sqlstate};
use crate::timestamp::Timestamp;
use crate::types::{self, oid};

/// Compiled regexes are capped so a hostile pattern cannot eat the server's memory.
const REGEX_SIZE_LIMIT: usize = 1 << 20;

/// Why the progress handler stopped a statement.
pub(crate) const STOP_NONE: u8 = 0;
pub(crate) const STOP_CANCEL: u8 = 1;
pub(crate) const STOP_TIMEOUT: u8 = 2;

/// State shared between a session and the callbacks on its connection.
#[derive(Debug)]
pub(crate) struct Shared {
    pub session_user: String,
    pub database: String,
    pub backend_pid: i32,
    /// The current user is a superuser (refreshed before each statement).
    pub superuser: AtomicBool,
    /// Catalog code is running: the authorizer lets everything through.
    pub internal: AtomicBool,
    /// `now()` for the current transaction.
    pub txn_time: Mutex<Option<Timestamp>>,
    /// The first error a SQL function raised during the current statement.
    pub fn_error: Mutex<Option<SqlError>>,
    /// The first access the authorizer refused during the current prepare.
    pub denial: Mutex<Option<SqlError>>,
    /// Set by a cancel request; checked by the progress handler.
    pub cancel: Arc<AtomicBool>,
    /// Why the last statement was interrupted.
    pub stop_reason: AtomicU8,
    pub deadline: Mutex<Option<Instant>>,
    /// When the session started (`pg_stat_activity.backend_start`).
    pub started: Timestamp,
    /// The statement running now (`pg_stat_activity.query`).
    pub current_query: Mutex<String>,
    /// Raised by `pg_reload_conf()` (the database's flag; see
    /// `Database::take_reload_request`).
    pub reload: Arc<AtomicBool>,
    /// What the server knows of the client connection (`pg_stat_ssl`,
    /// `pg_stat_activity.client_addr`).
    pub connection: Mutex<crate::session::ConnectionInfo>,
    /// The settings `current_setting()` and `set_config()` see during a statement.
    pub settings: crate::setting_functions::LiveSettings,
}

/// Locks ignoring poisoning: the data is plain values that stay valid after a panic.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Shared {
    pub fn new(session_user: &str, database: &str, backend_pid: i32) -> Shared {
        Shared {
            session_user: session_user.to_owned(),
            database: database.to_owned(),
            backend_pid,
            superuser: AtomicBool::new(false),
            internal: AtomicBool::new(false),
            txn_time: Mutex::new(None),
            fn_error: Mutex::new(None),
            denial: Mutex::new(None),
            cancel: Arc::new(AtomicBool::new(false)),
            stop_reason: AtomicU8::new(STOP_NONE),
            deadline: Mutex::new(None),
            started: clock(),
            current_query: Mutex::new(String::new()),
            reload: Arc::new(AtomicBool::new(false)),
            connection: Mutex::new(crate::session::ConnectionInfo::default()),
            settings: crate::setting_functions::LiveSettings::default(),
        }
    }

    /// Dates the session from when its client connected.
    pub fn started_at(mut self, when: std::time::SystemTime) -> Shared {
        self.started = Timestamp::from_system_time(when);
        self
    }

    /// Shares the database's reload flag with this session.
    pub fn with_reload(mut self, flag: Arc<AtomicBool>) -> Shared {
        self.reload = flag;
        self
    }

    pub(crate) fn raise(&self, e: SqlError) -> rusqlite::Error {
        let msg = e.message.clone();
        let mut slot = lock(&self.fn_error);
        if slot.is_none() {
            *slot = Some(e);
        }
        rusqlite::Error::UserFunctionError(msg.into())
    }

    fn deny(&self, e: SqlError) -> Authorization {
        let mut slot = lock(&self.denial);
        if slot.is_none() {
            *slot = Some(e);
        }
        Authorization::Deny
    }

    /// Clears per-statement state.
    pub fn begin_statement(&self) {
        *lock(&self.fn_error) = None;
        *lock(&self.denial) = None;
        self.stop_reason.store(STOP_NONE, Ordering::Relaxed);
    }
}

/// The `version()` string. Drivers look for the leading `PostgreSQL <n>`.
pub(crate) fn version_string() -> String {
    format!(
        "PostgreSQL 16.0 (pgscram {} embedded, SQLite {}) on {}, 64-bit",
        env!("CARGO_PKG_VERSION"),
        rusqlite::version(),
        std::env::consts::ARCH
    )
}

/// Installs functions, the authorizer and the progress handler.
pub(crate) fn install(conn: &Connection, shared: &Arc<Shared>) -> rusqlite::Result<()> {
    let det = FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC;
    let plain = FunctionFlags::SQLITE_UTF8;

    for (name, ci) in [
        ("regexp", false),
        ("match", true),
        ("pgscram_regexp_i", true),
    ] {
        let sh = Arc::clone(shared);
        conn.create_scalar_function(name, 2, det, move |ctx| regex_fn(ctx, ci, &sh))?;
    }
    for n_arg in [2, 3] {
        let sh = Arc::clone(shared);
        conn.create_scalar_function("like", n_arg, det, move |ctx| like_fn(ctx, false, &sh))?;
    }
    let sh = Arc::clone(shared);
    conn.create_scalar_function("glob", 2, det, move |ctx| like_fn(ctx, true, &sh))?;

    let sh = Arc::clone(shared);
    conn.create_scalar_function("pgscram_cast", 3, det, move |ctx| cast_fn(ctx, &sh))?;

    let version = version_string();
    conn.create_scalar_function("version", 0, det, move |_| Ok(version.clone()))?;
    for name in ["pgscram_current_user", "pgscram_session_user"] {
        let sh = Arc::clone(shared);
        conn.create_scalar_function(name, 0, plain, move |_| Ok(sh.session_user.clone()))?;
    }
    let sh = Arc::clone(shared);
    conn.create_scalar_function("current_database", 0, plain, move |_| {
        Ok(sh.database.clone())
    })?;
    let sh = Arc::clone(shared);
    conn.create_scalar_function("pg_backend_pid", 0, plain, move |_| Ok(sh.backend_pid))?;
    for name in ["now", "transaction_timestamp"] {
        let sh = Arc::clone(shared);
        conn.create_scalar_function(name, 0, plain, move |_| {
            let t = *lock(&sh.txn_time);
            Ok(t.unwrap_or_else(clock).to_string())
        })?;
    }
    for name in ["clock_timestamp", "statement_timestamp"] {
        conn.create_scalar_function(name, 0, plain, |_| Ok(clock().to_string()))?;
    }
    conn.create_scalar_function("md5", 1, det, |ctx| {
        Ok(match ctx.get_raw(0) {
            ValueRef::Null => None,
            v => {
                let bytes = value_bytes(v);
                let secret = pgscram_scram::md5::md5_secret(&bytes, "");
                Some(secret[3..].to_owned())
            }
        })
    })?;
    let sh = Arc::clone(shared);
    conn.create_scalar_function("gen_random_uuid", 0, plain, move |_| {
        let mut b = [0u8; 16];
        getrandom::getrandom(&mut b).map_err(|e| {
            sh.raise(SqlError::new(
                sqlstate::SYSTEM_ERROR,
                format!("could not generate random values: {e}"),
            ))
        })?;
        b[6] = (b[6] & 0x0f) | 0x40;
        b[8] = (b[8] & 0x3f) | 0x80;
        Ok(format_uuid(&b))
    })?;

    crate::setting_functions::install(conn, shared)?;

    let sh = Arc::clone(shared);
    conn.authorizer(Some(move |ctx: AuthContext<'_>| authorize(&sh, ctx)));

    let sh = Arc::clone(shared);
    conn.progress_handler(
        1000,
        Some(move || {
            if sh.cancel.swap(false, Ordering::Relaxed) {
                sh.stop_reason.store(STOP_CANCEL, Ordering::Relaxed);
                return true;
            }
            if let Some(deadline) = *lock(&sh.deadline)
                && Instant::now() >= deadline
            {
                sh.stop_reason.store(STOP_TIMEOUT, Ordering::Relaxed);
                return true;
            }
            false
        }),
    );
    Ok(())
}

/// The current time, for `now()` outside a transaction and `clock_timestamp()`.
pub(crate) fn clock() -> Timestamp {
    Timestamp::from_system_time(std::time::SystemTime::now())
}

fn value_bytes(v: ValueRef<'_>) -> Vec<u8> {
    match v {
        ValueRef::Null => Vec::new(),
        ValueRef::Integer(i) => i.to_string().into_bytes(),
        ValueRef::Real(r) => types::format_float(r).into_bytes(),
        ValueRef::Text(t) | ValueRef::Blob(t) => t.to_vec(),
    }
}

fn value_text(v: ValueRef<'_>) -> String {
    String::from_utf8_lossy(&value_bytes(v)).into_owned()
}

/// `text ~ pattern` (SQLite calls `regexp(pattern, text)`).
fn regex_fn(
    ctx: &Context<'_>,
    case_insensitive: bool,
    sh: &Shared,
) -> rusqlite::Result<Option<bool>> {
    let (pat, text) = (ctx.get_raw(0), ctx.get_raw(1));
    if matches!(pat, ValueRef::Null) || matches!(text, ValueRef::Null) {
        return Ok(None);
    }
    let re: Arc<Regex> = match ctx.get_aux::<Regex>(0)? {
        Some(re) => re,
        None => {
            let source = value_text(pat);
            let re = RegexBuilder::new(&source)
                .case_insensitive(case_insensitive)
                .size_limit(REGEX_SIZE_LIMIT)
                .dfa_size_limit(REGEX_SIZE_LIMIT)
                .build()
                .map_err(|e| {
                    let reason = match e {
                        regex::Error::CompiledTooBig(_) => "pattern too large".to_owned(),
                        other => other
                            .to_string()
                            .lines()
                            .last()
                            .unwrap_or("")
                            .trim()
                            .to_owned(),
                    };
                    sh.raise(SqlError::new(
                        sqlstate::INVALID_REGULAR_EXPRESSION,
                        format!("invalid regular expression: {reason}"),
                    ))
                })?;
            ctx.set_aux(0, re)?
        }
    };
    Ok(Some(re.is_match(&value_text(text))))
}

/// One piece of a LIKE pattern.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum LikeTok {
    Lit(char),
    One,
    Many,
}

/// Compiles a LIKE pattern with PostgreSQL's rules: `\` escapes by default, `ESCAPE ''`
/// turns escaping off, and a trailing escape character is an error.
fn compile_like(pattern: &str, escape: Option<char>, fold: bool) -> Result<Vec<LikeTok>, SqlError> {
    let mut out = Vec::new();
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        if Some(c) == escape {
            match chars.next() {
                Some(next) => out.extend(fold_char(next, fold).map(LikeTok::Lit)),
                None => {
                    return Err(SqlError::new(
                        sqlstate::INVALID_ESCAPE_SEQUENCE,
                        "LIKE pattern must not end with escape character",
                    ));
                }
            }
        } else if c == '%' {
            if out.last() != Some(&LikeTok::Many) {
                out.push(LikeTok::Many);
            }
        } else if c == '_' {
            out.push(LikeTok::One);
        } else {
            out.extend(fold_char(c, fold).map(LikeTok::Lit));
        }
    }
    Ok(out)
}

fn fold_char(c: char, fold: bool) -> impl Iterator<Item = char> {
    let mut buf: Vec<char> = Vec::with_capacity(1);
    if fold {
        buf.extend(c.to_lowercase());
    } else {
        buf.push(c);
    }
    buf.into_iter()
}

/// Wildcard matching with single-star backtracking: O(len(text) * len(pattern)) at worst.
fn like_match(pat: &[LikeTok], text: &[char]) -> bool {
    let (mut p, mut t) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match pat.get(p) {
            Some(LikeTok::Lit(c)) if *c == text[t] => {
                p += 1;
                t += 1;
            }
            Some(LikeTok::One) => {
                p += 1;
                t += 1;
            }
            Some(LikeTok::Many) => {
                star = Some((p, t));
                p += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    p = sp + 1;
                    t = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    pat[p..].iter().all(|x| *x == LikeTok::Many)
}

/// `text LIKE pattern [ESCAPE e]` and (as `glob`) ILIKE.
fn like_fn(ctx: &Context<'_>, fold: bool, sh: &Shared) -> rusqlite::Result<Option<bool>> {
    let (pat, text) = (ctx.get_raw(0), ctx.get_raw(1));
    if matches!(pat, ValueRef::Null) || matches!(text, ValueRef::Null) {
        return Ok(None);
    }
    let escape = if ctx.len() == 3 {
        match ctx.get_raw(2) {
            ValueRef::Null => return Ok(None),
            v => {
                let e = value_text(v);
                let mut it = e.chars();
                match (it.next(), it.next()) {
                    (None, _) => None,
                    (Some(c), None) => Some(c),
                    _ => {
                        return Err(sh.raise(
                            SqlError::new(
                                sqlstate::INVALID_ESCAPE_SEQUENCE,
                                "invalid escape string",
                            )
                            .with_hint("Escape string must be empty or one character."),
                        ));
                    }
                }
            }
        }
    } else {
        Some('\\')
    };
    let compiled = compile_like(&value_text(pat), escape, fold).map_err(|e| sh.raise(e))?;
    let subject: Vec<char> = if fold {
        value_text(text)
            .chars()
            .flat_map(char::to_lowercase)
            .collect()
    } else {
        value_text(text).chars().collect()
    };
    Ok(Some(like_match(&compiled, &subject)))
}

fn format_uuid(b: &[u8; 16]) -> String {
    let hex = types::hex_bytea(b);
    let h = &hex[2..];
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

fn invalid(type_name: &str, v: ValueRef<'_>) -> SqlError {
    SqlError::new(
        sqlstate::INVALID_TEXT_REPRESENTATION,
        format!(
            "invalid input syntax for type {type_name}: \"{}\"",
            value_text(v).chars().take(64).collect::<String>()
        ),
    )
}

fn cannot_cast(from: &str, to: &str) -> SqlError {
    SqlError::new(
        sqlstate::CANNOT_COERCE,
        format!("cannot cast type {from} to {to}"),
    )
}

/// `pgscram_cast(value, target_oid, typmod)`: PostgreSQL's conversions and errors.
fn cast_fn(ctx: &Context<'_>, sh: &Shared) -> rusqlite::Result<Value> {
    let v = ctx.get_raw(0);
    let target: i64 = ctx.get(1)?;
    let typmod: i64 = ctx.get(2)?;
    let target = u32::try_from(target).unwrap_or(0);
    cast_value(v, target, typmod).map_err(|e| sh.raise(e))
}

pub(crate) fn cast_value(v: ValueRef<'_>, target: u32, typmod: i64) -> Result<Value, SqlError> {
    if matches!(v, ValueRef::Null) {
        return Ok(Value::Null);
    }
    let Some(ty) = types::by_oid(target) else {
        return Err(SqlError::internal(format!(
            "cast to unknown type oid {target}"
        )));
    };
    Ok(match ty.oid {
        oid::BOOL => match v {
            ValueRef::Integer(i) => Value::Integer(i64::from(i != 0)),
            ValueRef::Real(r) => Value::Integer(i64::from(r != 0.0)),
            ValueRef::Text(_) => match types::parse_bool(&value_text(v)) {
                Some(b) => Value::Integer(i64::from(b)),
                None => return Err(invalid("boolean", v)),
            },
            _ => return Err(cannot_cast("bytea", "boolean")),
        },
        oid::INT2 | oid::INT4 | oid::INT8 | oid::OID => {
            let (min, max, name) = types::int_range(ty);
            let n = match v {
                ValueRef::Integer(i) => i,
                ValueRef::Real(r) => {
                    let r = r.round_ties_even();
                    if !r.is_finite() || r < min as f64 || r > max as f64 {
                        return Err(int_out_of_range(name));
                    }
                    r as i64
                }
                ValueRef::Text(_) => types::parse_int(&value_text(v), ty)?,
                _ => return Err(cannot_cast("bytea", name)),
            };
            if n < min || n > max {
                return Err(int_out_of_range(name));
            }
            Value::Integer(n)
        }
        oid::FLOAT4 | oid::FLOAT8 => {
            let f = match v {
                ValueRef::Integer(i) => i as f64,
                ValueRef::Real(r) => r,
                ValueRef::Text(_) => types::parse_float(&value_text(v))?,
                _ => return Err(cannot_cast("bytea", "double precision")),
            };
            Value::Real(if ty.oid == oid::FLOAT4 {
                f64::from(f as f32)
            } else {
                f
            })
        }
        oid::NUMERIC => match v {
            ValueRef::Integer(i) => Value::Integer(i),
            ValueRef::Real(r) => Value::Real(r),
            ValueRef::Text(_) => types::parse_numeric(&value_text(v))?,
            _ => return Err(cannot_cast("bytea", "numeric")),
        },
        oid::BYTEA => match v {
            ValueRef::Blob(b) => Value::Blob(b.to_vec()),
            other => Value::Blob(types::parse_bytea(&value_bytes(other))?),
        },
        oid::UUID => {
            let text = value_text(v);
            let hex: String = text
                .trim_matches(|c| c == '{' || c == '}')
                .chars()
                .filter(|&c| c != '-')
                .collect();
            if hex.len() != 32 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(invalid("uuid", v));
            }
            let mut bytes = [0u8; 16];
            for (i, chunk) in hex.as_bytes().chunks(2).enumerate() {
                let s = std::str::from_utf8(chunk).unwrap_or("00");
                bytes[i] = u8::from_str_radix(s, 16).unwrap_or(0);
            }
            Value::Text(format_uuid(&bytes))
        }
        oid::TIMESTAMPTZ | oid::TIMESTAMP | oid::DATE => {
            let ts = Timestamp::parse(&value_text(v)).map_err(|_| {
                let name = match ty.oid {
                    oid::DATE => "date",
                    oid::TIMESTAMP => "timestamp",
                    _ => "timestamp with time zone",
                };
                SqlError::new(
                    sqlstate::INVALID_DATETIME_FORMAT,
                    format!(
                        "invalid input syntax for type {name}: \"{}\"",
                        value_text(v).chars().take(64).collect::<String>()
                    ),
                )
            })?;
            let text = ts.to_string();
            Value::Text(match (ty.oid, ts) {
                (oid::TIMESTAMPTZ, _) | (_, Timestamp::Infinity | Timestamp::NegInfinity) => text,
                (oid::TIMESTAMP, _) => text.trim_end_matches("+00").to_owned(),
                _ => text[..10].to_owned(),
            })
        }
        _ => {
            // The text family.
            let mut s = match v {
                ValueRef::Blob(b) => types::hex_bytea(b),
                other => value_text(other),
            };
            match ty.oid {
                oid::VARCHAR | oid::BPCHAR if typmod > 0 => {
                    let n = usize::try_from(typmod).unwrap_or(usize::MAX);
                    if let Some((cut, _)) = s.char_indices().nth(n) {
                        s.truncate(cut);
                    }
                    if ty.oid == oid::BPCHAR {
                        let have = s.chars().count();
                        s.extend(std::iter::repeat_n(' ', n.saturating_sub(have)));
                    }
                }
                oid::NAME => {
                    while s.len() > 63 {
                        s.pop();
                    }
                }
                _ => {}
            }
            Value::Text(s)
        }
    })
}

fn int_out_of_range(name: &str) -> SqlError {
    SqlError::new(
        sqlstate::NUMERIC_VALUE_OUT_OF_RANGE,
        format!("{name} out of range"),
    )
}

/// Tables of the catalog that hold data (as opposed to the views over them).
fn is_catalog_table(name: &str) -> bool {
    name.to_ascii_lowercase().starts_with("pgscram_")
}

/// The authorizer: the role catalog is read-only to SQL, and its secrets are for
/// superusers only. Everything PostgreSQL-shaped user SQL needs is allowed.
fn authorize(sh: &Shared, ctx: AuthContext<'_>) -> Authorization {
    if sh.internal.load(Ordering::Relaxed) {
        return Authorization::Allow;
    }
    let superuser = sh.superuser.load(Ordering::Relaxed);
    let denied = |what: &str| {
        SqlError::new(
            sqlstate::INSUFFICIENT_PRIVILEGE,
            format!("permission denied for table {what}"),
        )
    };
    let system_catalog = |what: &str| {
        SqlError::new(
            sqlstate::INSUFFICIENT_PRIVILEGE,
            format!("permission denied: \"{what}\" is a system catalog"),
        )
    };
    let reserved = |what: &str| {
        SqlError::new(
            sqlstate::RESERVED_NAME,
            format!("name \"{what}\" is reserved for the system catalog"),
        )
    };
    match ctx.action {
        // The secret column is for superusers only, whichever view or query reads
        // it; the rest of the catalog is public, as pg_roles is in PostgreSQL.
        // pg_authid and pg_shadow are refused as a whole where SQLite names the view
        // (it does not for every access, e.g. a flattened count(*)).
        AuthAction::Read {
            table_name,
            column_name,
        } if is_catalog_table(table_name) => {
            if superuser {
                return Authorization::Allow;
            }
            match ctx.accessor {
                Some(view) if catalog::is_secret_view(view) => {
                    sh.deny(denied(&view.to_ascii_lowercase()))
                }
                _ if column_name.eq_ignore_ascii_case("rolpassword") => sh.deny(denied(
                    &ctx.accessor.unwrap_or(table_name).to_ascii_lowercase(),
                )),
                _ => Authorization::Allow,
            }
        }
        AuthAction::Insert { table_name }
        | AuthAction::Delete { table_name }
        | AuthAction::Update { table_name, .. }
            if is_catalog_table(table_name) =>
        {
            sh.deny(denied(table_name))
        }
        AuthAction::CreateTable { table_name }
        | AuthAction::CreateTempTable { table_name }
        | AuthAction::CreateView {
            view_name: table_name,
        }
        | AuthAction::CreateTempView {
            view_name: table_name,
        } if catalog::is_catalog_name(table_name) => sh.deny(reserved(table_name)),
        AuthAction::CreateIndex {
            index_name,
            table_name,
        }
        | AuthAction::CreateTempIndex {
            index_name,
            table_name,
        }
        | AuthAction::CreateTrigger {
            trigger_name: index_name,
            table_name,
        }
        | AuthAction::CreateTempTrigger {
            trigger_name: index_name,
            table_name,
        } => {
            if catalog::is_catalog_name(table_name) {
                sh.deny(system_catalog(table_name))
            } else if catalog::is_catalog_name(index_name) {
                sh.deny(reserved(index_name))
            } else {
                Authorization::Allow
            }
        }
        AuthAction::DropTable { table_name }
        | AuthAction::DropTempTable { table_name }
        | AuthAction::DropView {
            view_name: table_name,
        }
        | AuthAction::DropTempView {
            view_name: table_name,
        }
        | AuthAction::DropIndex { table_name, .. }
        | AuthAction::DropTempIndex { table_name, .. }
        | AuthAction::DropTrigger { table_name, .. }
        | AuthAction::DropTempTrigger { table_name, .. }
        | AuthAction::AlterTable { table_name, .. }
        | AuthAction::Reindex {
            index_name: table_name,
        } if catalog::is_catalog_name(table_name) => sh.deny(system_catalog(table_name)),
        // The catalog views read the schema through these table-valued pragmas (user
        // queries cannot name them: the tree translator refuses `pragma_*` in FROM).
        AuthAction::Pragma { pragma_name, .. }
            if [
                "table_info",
                "table_xinfo",
                "index_list",
                "index_info",
                "index_xinfo",
            ]
            .iter()
            .any(|p| p.eq_ignore_ascii_case(pragma_name)) =>
        {
            Authorization::Allow
        }
        AuthAction::Pragma { .. }
        | AuthAction::Attach { .. }
        | AuthAction::Detach { .. }
        | AuthAction::CreateVtable { .. }
        | AuthAction::DropVtable { .. } => sh.deny(SqlError::new(
            sqlstate::INSUFFICIENT_PRIVILEGE,
            "permission denied: SQLite-specific statement",
        )),
        AuthAction::Function { function_name }
            if ["load_extension", "fts3_tokenizer", "sqlite_offset"]
                .iter()
                .any(|f| f.eq_ignore_ascii_case(function_name)) =>
        {
            sh.deny(SqlError::new(
                sqlstate::INSUFFICIENT_PRIVILEGE,
                format!("permission denied for function {function_name}"),
            ))
        }
        _ => Authorization::Allow,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conn() -> (Connection, Arc<Shared>) {
        let c = Connection::open_in_memory().unwrap();
        let sh = Arc::new(Shared::new("alice", "db", 7));
        install(&c, &sh).unwrap();
        (c, sh)
    }

    fn one<T: rusqlite::types::FromSql>(c: &Connection, sql: &str) -> T {
        c.query_row(sql, [], |r| r.get(0)).unwrap()
    }

    #[test]
    fn regex_operators() {
        let (c, _) = conn();
        assert!(one::<bool>(
            &c,
            r"SELECT 'SCRAM-SHA-256$x' REGEXP '^SCRAM-SHA-256\$'"
        ));
        assert!(!one::<bool>(
            &c,
            r"SELECT 'md5abc' REGEXP '^SCRAM-SHA-256\$'"
        ));
        assert!(one::<bool>(&c, "SELECT 'HeLLo' MATCH '^hello$'"));
        assert!(!one::<bool>(&c, "SELECT 'HeLLo' REGEXP '^hello$'"));
        assert_eq!(one::<Option<bool>>(&c, "SELECT NULL REGEXP 'x'"), None);
    }

    #[test]
    fn bad_regex_reports_2201b() {
        let (c, sh) = conn();
        assert!(
            c.query_row("SELECT 'a' REGEXP '('", [], |r| r.get::<_, bool>(0))
                .is_err()
        );
        let e = lock(&sh.fn_error).take().unwrap();
        assert_eq!(e.code, sqlstate::INVALID_REGULAR_EXPRESSION);
        assert!(e.message.starts_with("invalid regular expression"));
    }

    #[test]
    fn like_is_case_sensitive_with_backslash_escape_and_glob_is_ilike() {
        let (c, _) = conn();
        assert!(one::<bool>(&c, "SELECT 'abc' LIKE 'a%'"));
        assert!(!one::<bool>(&c, "SELECT 'ABC' LIKE 'a%'"));
        assert!(one::<bool>(&c, "SELECT 'ABC' GLOB 'a%'"));
        assert!(one::<bool>(&c, "SELECT 'a_c' LIKE 'a\\_c'"));
        assert!(!one::<bool>(&c, "SELECT 'abc' LIKE 'a\\_c'"));
        assert!(one::<bool>(&c, "SELECT 'a%c' LIKE 'a!%c' ESCAPE '!'"));
        assert!(one::<bool>(
            &c,
            "SELECT 'Straße' GLOB 'STRASSE' OR 'ÄB' GLOB 'äb'"
        ));
        assert!(one::<bool>(&c, "SELECT 'xaaab' LIKE '%a%b'"));
        assert!(!one::<bool>(&c, "SELECT 'xaaa' LIKE '%a%b'"));
    }

    #[test]
    fn like_matcher_edge_cases() {
        let m = |p: &str, t: &str| {
            like_match(
                &compile_like(p, Some('\\'), false).unwrap(),
                &t.chars().collect::<Vec<_>>(),
            )
        };
        assert!(m("", ""));
        assert!(!m("", "a"));
        assert!(m("%", ""));
        assert!(m("_%_", "ab"));
        assert!(!m("_%_", "a"));
        assert!(m("%b%b%", "abxb"));
        assert!(compile_like("abc\\", Some('\\'), false).is_err());
    }

    #[test]
    fn casts_follow_postgres_rules() {
        let cast = |v: ValueRef<'_>, t: u32| cast_value(v, t, -1);
        assert_eq!(
            cast(ValueRef::Text(b"yes"), oid::BOOL).unwrap(),
            Value::Integer(1)
        );
        assert_eq!(
            cast(ValueRef::Text(b" 12 "), oid::INT4).unwrap(),
            Value::Integer(12)
        );
        assert_eq!(
            cast(ValueRef::Real(2.5), oid::INT4).unwrap(),
            Value::Integer(2)
        );
        assert_eq!(
            cast(ValueRef::Real(3.5), oid::INT4).unwrap(),
            Value::Integer(4)
        );
        assert_eq!(
            cast(ValueRef::Integer(70000), oid::INT2)
                .unwrap_err()
                .message,
            "smallint out of range"
        );
        assert_eq!(
            cast(ValueRef::Text(b"abc"), oid::INT4).unwrap_err().message,
            "invalid input syntax for type integer: \"abc\""
        );
        assert_eq!(
            cast(ValueRef::Integer(5), oid::TEXT).unwrap(),
            Value::Text("5".into())
        );
        assert_eq!(
            cast(ValueRef::Blob(&[1, 2]), oid::TEXT).unwrap(),
            Value::Text("\\x0102".into())
        );
        assert_eq!(
            cast_value(ValueRef::Text(b"abcdef"), oid::VARCHAR, 3).unwrap(),
            Value::Text("abc".into())
        );
        assert_eq!(
            cast_value(ValueRef::Text(b"ab"), oid::BPCHAR, 4).unwrap(),
            Value::Text("ab  ".into())
        );
        assert_eq!(
            cast(ValueRef::Text(b"2030-01-01T10:00:00Z"), oid::TIMESTAMPTZ).unwrap(),
            Value::Text("2030-01-01 10:00:00+00".into())
        );
        assert_eq!(
            cast(ValueRef::Text(b"2030-01-01 10:00"), oid::DATE).unwrap(),
            Value::Text("2030-01-01".into())
        );
        assert_eq!(
            cast(ValueRef::Text(b"\\x41"), oid::BYTEA).unwrap(),
            Value::Blob(vec![0x41])
        );
        assert_eq!(
            cast(
                ValueRef::Text(b"A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11"),
                oid::UUID
            )
            .unwrap(),
            Value::Text("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11".into())
        );
        assert!(cast(ValueRef::Text(b"nope"), oid::UUID).is_err());
        assert_eq!(cast(ValueRef::Null, oid::INT4).unwrap(), Value::Null);
    }

    #[test]
    fn session_functions() {
        let (c, sh) = conn();
        assert_eq!(one::<String>(&c, "SELECT pgscram_current_user()"), "alice");
        assert_eq!(one::<String>(&c, "SELECT current_database()"), "db");
        assert_eq!(one::<i32>(&c, "SELECT pg_backend_pid()"), 7);
        assert!(one::<String>(&c, "SELECT version()").starts_with("PostgreSQL 16.0 "));
        *lock(&sh.txn_time) = Some(Timestamp::parse("2030-01-01").unwrap());
        assert_eq!(one::<String>(&c, "SELECT now()"), "2030-01-01 00:00:00+00");
        assert_eq!(
            one::<String>(&c, "SELECT md5('abc')"),
            "900150983cd24fb0d6963f7d28e17f72"
        );
        let u = one::<String>(&c, "SELECT gen_random_uuid()");
        assert_eq!(u.len(), 36);
        assert_eq!(&u[14..15], "4");
    }

    #[test]
    fn authorizer_guards_the_catalog() {
        let (c, sh) = conn();
        sh.internal.store(true, Ordering::Relaxed);
        crate::catalog::init_schema(&c).unwrap();
        sh.internal.store(false, Ordering::Relaxed);

        assert!(c.prepare("SELECT rolname FROM pg_roles").is_ok());
        assert!(c.prepare("SELECT rolpassword FROM pg_authid").is_err());
        assert_eq!(
            lock(&sh.denial).take().unwrap().message,
            "permission denied for table pg_authid"
        );
        assert!(c.prepare("SELECT * FROM pgscram_roles").is_err());
        sh.begin_statement();
        assert!(c.prepare("UPDATE pgscram_roles SET rolsuper = 1").is_err());
        sh.begin_statement();
        assert!(c.prepare("DROP VIEW pg_roles").is_err());
        sh.begin_statement();
        assert!(c.prepare("CREATE TABLE pgscram_x (a)").is_err());
        sh.begin_statement();
        assert!(c.prepare("ATTACH DATABASE '/tmp/x' AS y").is_err());
        sh.begin_statement();
        assert!(c.execute_batch("PRAGMA writable_schema = ON").is_err());

        sh.superuser.store(true, Ordering::Relaxed);
        assert!(c.prepare("SELECT rolpassword FROM pg_authid").is_ok());
        assert!(c.prepare("SELECT * FROM pgscram_roles").is_ok());
        assert!(
            c.prepare("UPDATE pgscram_roles SET rolsuper = 1").is_err(),
            "even superusers use DDL"
        );
        // User tables are fine.
        assert!(
            c.execute_batch("CREATE TABLE t (a); INSERT INTO t VALUES (1); DROP TABLE t")
                .is_ok()
        );
    }
}
