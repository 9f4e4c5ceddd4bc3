//! The embedded SQLite database as a [`QueryEngine`]: what `pgscram serve` runs
//! sessions on. A thin adapter; the SQL work lives in crates/embedded.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::SystemTime;

use pgscram_embedded::{
    CancelHandle, Completion, ConnectionInfo, Database, HbaFileRow, Notice, PasswordEncryption,
    PreparedStatement, Session, SessionIdentity, SessionSettings, SqlError, StatementOutcome,
    TlsInfo,
};
use pgscram_wire::{ErrorFields, Severity, SqlState, TransactionStatus};

use super::{
    Column, EngineFactory, Interrupt, Prepared, Produced, QueryEngine, StatementResult, Value,
};
use crate::backend::SessionStart;

/// Opens sessions on the embedded SQLite database.
///
/// A session runs as the role the server authenticated, whatever store authenticated
/// it: when the catalog holds the role, its catalog attributes apply from the first
/// statement on; when it does not (a program's own [`crate::PasswordStore`]), the
/// session runs as that name with the store's superuser flag. Login rights, expiry and
/// CONNECTION LIMIT were already checked by the server from the store's answer.
pub struct EmbeddedFactory {
    database: String,
    view: Arc<View>,
}

/// The database and what its sessions show of the server's pg_hba.conf.
struct View {
    db: Database,
    /// pg_hba.conf as `pg_hba_file_rules` shows it, if the rules come from a file.
    hba: Option<(PathBuf, bool)>,
    /// The pg_hba.conf (size, mtime) that `pg_hba_file_rules` last showed.
    hba_seen: Mutex<Option<(u64, SystemTime)>>,
}

impl EmbeddedFactory {
    /// Sessions on `db`, serving the database named `postgres`.
    pub fn new(db: Database) -> Self {
        EmbeddedFactory {
            database: "postgres".to_owned(),
            view: Arc::new(View {
                db,
                hba: None,
                hba_seen: Mutex::new(None),
            }),
        }
    }

    /// Serves the database named `name` instead of `postgres`.
    pub fn database(mut self, name: &str) -> Self {
        name.clone_into(&mut self.database);
        self
    }

    /// Shows the pg_hba.conf at `path` in `pg_hba_file_rules` (`ssl_enabled`: whether
    /// `hostssl` lines can match, as the server is configured).
    pub fn hba_view(mut self, path: PathBuf, ssl_enabled: bool) -> Self {
        self.view = Arc::new(View {
            db: self.view.db.clone(),
            hba: Some((path, ssl_enabled)),
            hba_seen: Mutex::new(None),
        });
        self
    }
}

impl View {
    /// Keeps `pg_hba_file_rules` showing the file on disk, as PostgreSQL's view does
    /// (errors included, whether or not it has been reloaded). Re-read only when the
    /// file's size or modification time changed.
    fn refresh_hba(&self) {
        let Some((path, ssl_enabled)) = &self.hba else {
            return;
        };
        let stamp = std::fs::metadata(path)
            .ok()
            .and_then(|m| Some((m.len(), m.modified().ok()?)));
        let mut seen = self.hba_seen.lock().unwrap_or_else(|e| e.into_inner());
        if stamp.is_none() || *seen == stamp {
            return;
        }
        let options = pgscram_auth::hba::HbaOptions {
            ssl_enabled: *ssl_enabled,
        };
        let path_text = path.to_string_lossy();
        let Ok(rules) =
            pgscram_auth::hba::file_rules(&path_text, &pgscram_auth::hba::FsSource, &options)
        else {
            return;
        };
        let rows: Vec<HbaFileRow> = rules.into_iter().map(hba_row).collect();
        if self.db.replace_hba_file_rules(&rows).is_ok() {
            *seen = stamp;
        }
    }
}

/// PostgreSQL shows list columns as arrays: `{all}`, `{alice,bob}`.
fn array_text(items: Option<Vec<String>>) -> Option<String> {
    items.map(|items| format!("{{{}}}", items.join(",")))
}

fn hba_row(rule: pgscram_auth::hba::HbaFileRule) -> HbaFileRow {
    HbaFileRow {
        rule_number: rule.rule_number,
        file_name: rule.file_name,
        line_number: rule.line_number,
        conn_type: rule.conn_type,
        database: array_text(rule.database),
        user_name: array_text(rule.user_name),
        address: rule.address,
        netmask: rule.netmask,
        auth_method: rule.auth_method,
        options: array_text(rule.options),
        error: rule.error,
    }
}

impl EngineFactory for EmbeddedFactory {
    /// Cheap: the SQLite connection, its functions and the session's catalog views are
    /// set up at the first statement (see `EmbeddedEngine`). Only what a login must
    /// check (the startup settings) is checked here.
    fn open(&self, start: &SessionStart) -> Result<Box<dyn QueryEngine>, ErrorFields> {
        let encryption = match start.defaults.password_encryption {
            crate::config::PasswordEncryption::Md5 => PasswordEncryption::Md5,
            _ => PasswordEncryption::ScramSha256,
        };
        let mut settings = SessionSettings::new(encryption, start.defaults.scram_iterations);
        settings.set_database(&start.database);
        for (name, value) in start.startup.settings() {
            settings.set_startup(name, value).map_err(|e| fatal(&e))?;
        }
        settings.set_identity(&start.user, start.role.superuser);
        let pending = Pending {
            view: Arc::clone(&self.view),
            identity: SessionIdentity {
                user: start.user.clone(),
                superuser: start.role.superuser,
                pid: start.pid,
                started: SystemTime::now(),
            },
            settings,
            connection: ConnectionInfo {
                client_addr: start.peer.map(|p| p.ip().to_string()),
                client_port: start.peer.map(|p| p.port()),
                tls: start.tls.as_ref().map(|t| TlsInfo {
                    version: t.version.clone(),
                    cipher: t.cipher.clone(),
                    bits: t.bits,
                }),
            },
        };
        Ok(Box::new(EmbeddedEngine {
            session: Lazy::Pending(Box::new(pending)),
            cancel: Arc::new(OnceLock::new()),
            prepared: Vec::new(),
        }))
    }

    fn has_database(&self, name: &str) -> bool {
        name == self.database
    }
}

/// What opening the session needs, kept from login until the first statement.
struct Pending {
    view: Arc<View>,
    identity: SessionIdentity,
    settings: SessionSettings,
    connection: ConnectionInfo,
}

impl Pending {
    /// Opens the session; on failure the pending state stays for the next statement.
    fn open(&self) -> Result<Session, SqlError> {
        self.view.refresh_hba();
        let mut session =
            Session::for_identity(&self.view.db, self.identity.clone(), self.settings.clone())?;
        session.set_connection_info(self.connection.clone());
        Ok(session)
    }
}

/// The embedded session, opened at the first statement: a login that only checks
/// credentials (a pooler's health check, a benchmark) costs no SQLite connection.
enum Lazy {
    Pending(Box<Pending>),
    Open(Box<Session>),
}

/// One session of the embedded database.
///
/// Until its first statement it holds only settings: opening the SQLite session
/// (connection, functions, catalog views) costs more than the whole SCRAM exchange.
struct EmbeddedEngine {
    session: Lazy,
    /// The open session's cancel handle, for interrupts taken before it opened.
    cancel: Arc<OnceLock<CancelHandle>>,
    /// The embedded statements behind our `Prepared` handles (index in `Prepared::sql`
    /// would be fragile; we keep them by SQL text and types instead).
    prepared: Vec<(String, Vec<u32>, PreparedStatement)>,
}

impl EmbeddedEngine {
    /// The session, opened now if this is the first statement.
    fn session(&mut self) -> Result<&mut Session, SqlError> {
        if let Lazy::Pending(pending) = &self.session {
            let session = pending.open()?;
            let _ = self.cancel.set(session.cancel_handle());
            self.session = Lazy::Open(Box::new(session));
        }
        match &mut self.session {
            Lazy::Open(session) => Ok(session),
            Lazy::Pending(_) => unreachable!("opened above"),
        }
    }

    fn statement(&mut self, prepared: &Prepared) -> Result<PreparedStatement, SqlError> {
        if let Some((_, _, statement)) = self
            .prepared
            .iter()
            .find(|(sql, types, _)| *sql == prepared.sql && *types == prepared.param_types)
        {
            return Ok(statement.clone());
        }
        let statement = self
            .session()?
            .prepare(&prepared.sql, &prepared.param_types)?;
        self.remember(
            prepared.sql.clone(),
            prepared.param_types.clone(),
            statement.clone(),
        );
        Ok(statement)
    }

    fn remember(&mut self, sql: String, types: Vec<u32>, statement: PreparedStatement) {
        // A bounded cache: drivers that prepare a fresh statement per query must not grow it forever.
        if self.prepared.len() >= 256 {
            self.prepared.remove(0);
        }
        self.prepared.push((sql, types, statement));
    }
}

impl QueryEngine for EmbeddedEngine {
    fn simple_query(&mut self, sql: &str) -> Vec<StatementResult> {
        match self.session() {
            Ok(session) => session.simple_query(sql).into_iter().map(convert).collect(),
            Err(e) => vec![StatementResult::error(error(&e))],
        }
    }

    fn prepare(&mut self, sql: &str, param_types: &[u32]) -> Result<Prepared, ErrorFields> {
        let statement = self
            .session()
            .and_then(|session| session.prepare(sql, param_types))
            .map_err(|e| error(&e))?;
        let prepared = Prepared {
            sql: sql.to_owned(),
            param_types: statement.param_types.clone(),
            columns: statement
                .returns_rows()
                .then(|| statement.columns.iter().map(column).collect()),
        };
        self.remember(sql.to_owned(), prepared.param_types.clone(), statement);
        Ok(prepared)
    }

    fn execute(&mut self, prepared: &Prepared, params: &[Value]) -> StatementResult {
        match self.statement(prepared) {
            Ok(statement) => match self.session() {
                Ok(session) => convert(session.execute(&statement, params, 0)),
                Err(e) => StatementResult::error(error(&e)),
            },
            Err(e) => StatementResult::error(error(&e)),
        }
    }

    fn sync(&mut self) -> Option<ErrorFields> {
        match &mut self.session {
            Lazy::Open(session) => session.sync().map(|e| error(&e)),
            // Nothing ran, so nothing is left to commit.
            Lazy::Pending(_) => None,
        }
    }

    fn transaction_status(&self) -> TransactionStatus {
        let Lazy::Open(session) = &self.session else {
            return TransactionStatus::Idle;
        };
        match session.transaction_status() {
            pgscram_embedded::TransactionStatus::Idle => TransactionStatus::Idle,
            pgscram_embedded::TransactionStatus::InBlock => TransactionStatus::InTransaction,
            pgscram_embedded::TransactionStatus::Failed => TransactionStatus::Failed,
        }
    }

    fn interrupt_handle(&self) -> Interrupt {
        let handle = Arc::clone(&self.cancel);
        Box::new(move || {
            if let Some(handle) = handle.get() {
                handle.cancel();
            }
        })
    }

    fn initial_parameters(&self) -> Vec<(&str, &str)> {
        // The settings the session opens (or opened) with.
        let settings = match &self.session {
            Lazy::Pending(pending) => &pending.settings,
            Lazy::Open(session) => session.settings(),
        };
        settings.reported()
    }

    fn encode_binary(&self, type_oid: u32, text: &[u8]) -> Result<Vec<u8>, ErrorFields> {
        pgscram_embedded::binary::to_binary(type_oid, text).map_err(|e| error(&e))
    }

    fn decode_binary(&self, type_oid: u32, value: &[u8]) -> Result<Vec<u8>, ErrorFields> {
        pgscram_embedded::binary::from_binary(type_oid, value).map_err(|e| error(&e))
    }
}

fn column(c: &pgscram_embedded::Column) -> Column {
    Column {
        name: c.name.clone(),
        type_oid: c.type_oid,
        type_size: c.type_size,
    }
}

fn code(state: &pgscram_embedded::SqlState) -> SqlState {
    SqlState::parse(&state.to_string()).unwrap_or(SqlState::INTERNAL_ERROR)
}

fn error(e: &SqlError) -> ErrorFields {
    with_extras(
        ErrorFields::error(code(&e.code), e.message.clone()),
        e.detail.as_deref(),
        e.hint.as_deref(),
    )
}

fn fatal(e: &SqlError) -> ErrorFields {
    with_extras(
        ErrorFields::fatal(code(&e.code), e.message.clone()),
        e.detail.as_deref(),
        e.hint.as_deref(),
    )
}

fn with_extras(mut fields: ErrorFields, detail: Option<&str>, hint: Option<&str>) -> ErrorFields {
    if let Some(detail) = detail {
        fields = fields.with_detail(detail);
    }
    if let Some(hint) = hint {
        fields = fields.with_hint(hint);
    }
    fields
}

fn notice(n: &Notice) -> ErrorFields {
    let severity = match n.severity {
        pgscram_embedded::Severity::Warning => Severity::Warning,
        pgscram_embedded::Severity::Notice => Severity::Notice,
        pgscram_embedded::Severity::Info => Severity::Info,
        pgscram_embedded::Severity::Debug => Severity::Debug,
    };
    with_extras(
        ErrorFields::new(severity, code(&n.code), n.message.clone()),
        n.detail.as_deref(),
        n.hint.as_deref(),
    )
}

fn convert(outcome: StatementOutcome) -> StatementResult {
    let notices = outcome.notices.iter().map(notice).collect();
    let result = match outcome.result {
        Ok(result) => Ok(match (result.columns, result.completion) {
            (_, Completion::EmptyQuery) => Produced::Empty,
            (Some(columns), Completion::Tag(tag)) => Produced::Rows {
                columns: columns.iter().map(column).collect(),
                rows: result.rows,
                tag,
            },
            (None, Completion::Tag(tag)) => Produced::Command { tag },
            // We always execute to completion (max_rows 0), so this does not happen;
            // report it as a finished SELECT rather than lose rows.
            (columns, Completion::Suspended) => Produced::Rows {
                columns: columns.unwrap_or_default().iter().map(column).collect(),
                tag: format!("SELECT {}", result.rows.len()),
                rows: result.rows,
            },
        }),
        Err(e) => Err(error(&e)),
    };
    StatementResult {
        notices,
        outcome: result,
        reported: outcome.parameter_status,
    }
}
