//! One client session: its own SQLite connection, its settings, its transaction state,
//! and the two faces the server drives — the simple query protocol
//! ([`Session::simple_query`]) and the extended one ([`Session::prepare`],
//! [`Session::bind`], [`Session::execute_portal`], [`Session::sync`]).
//!
//! Transactions follow PostgreSQL: a statement outside `BEGIN` commits on its own; the
//! statements of one multi-statement query string, or of one extended-protocol batch up
//! to Sync, run in one implicit transaction; an error inside `BEGIN` leaves the block
//! failed, and everything but `COMMIT`/`ROLLBACK` then gets 25P02 until it ends.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use rusqlite::types::{Value, ValueRef};
use rusqlite::{Connection, ErrorCode};

use crate::catalog;
use crate::database::{Database, PooledConnection, SessionSlot};
use crate::ddl;
use crate::error::{DbError, Notice, SqlError, sqlstate};
use crate::hooks::{self, Shared, lock};
use crate::password::HashPolicy;
use crate::pg_catalog;
use crate::role_commits;
use crate::role_syntax;
use crate::script::{self, Command};
use crate::settings::SessionSettings;
use crate::tree;
use crate::tree::{Translated, Verb};
use crate::types::{self, PgType};

/// One result column, as a RowDescription field needs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Column {
    /// The column name.
    pub name: String,
    /// The type's OID (see [`oid`](crate::oid)).
    pub type_oid: u32,
    /// pg_type.typlen: -1 for variable-length types.
    pub type_size: i16,
    /// Always -1 (no type modifiers are tracked).
    pub type_modifier: i32,
}

impl Column {
    fn new(name: impl Into<String>, ty: PgType) -> Column {
        Column {
            name: name.into(),
            type_oid: ty.oid,
            type_size: ty.size,
            type_modifier: -1,
        }
    }
}

/// A row in text format: one `Option<Vec<u8>>` per column (`None` is SQL NULL).
pub type Row = Vec<Option<Vec<u8>>>;

/// How a statement finished.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Completion {
    /// CommandComplete with this tag (`SELECT 3`, `INSERT 0 1`, `CREATE ROLE`, ...).
    Tag(String),
    /// The query string held no statement: EmptyQueryResponse.
    EmptyQuery,
    /// An Execute stopped at its row limit: PortalSuspended; execute the portal again.
    Suspended,
}

/// A successful statement's result.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueryResult {
    /// `Some` when the statement returns rows (RowDescription is sent, even for zero
    /// rows); `None` for commands.
    pub columns: Option<Vec<Column>>,
    /// The rows, in text format (DataRow messages).
    pub rows: Vec<Row>,
    /// How the statement finished.
    pub completion: Completion,
}

impl QueryResult {
    fn command(tag: impl Into<String>) -> QueryResult {
        QueryResult {
            columns: None,
            rows: Vec::new(),
            completion: Completion::Tag(tag.into()),
        }
    }

    /// The command tag, if the statement completed.
    pub fn tag(&self) -> Option<&str> {
        match &self.completion {
            Completion::Tag(t) => Some(t),
            _ => None,
        }
    }
}

/// Everything one statement produced, in the order the server sends it: notices and
/// parameter changes first, then the result or the error.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StatementOutcome {
    /// Notices to send as NoticeResponse, in order.
    pub notices: Vec<Notice>,
    /// (name, new value) pairs to send as ParameterStatus.
    pub parameter_status: Vec<(String, String)>,
    /// The statement's result, or the error that ended it.
    pub result: Result<QueryResult, SqlError>,
}

impl StatementOutcome {
    fn done(result: QueryResult) -> StatementOutcome {
        StatementOutcome {
            notices: Vec::new(),
            parameter_status: Vec::new(),
            result: Ok(result),
        }
    }

    fn error(e: SqlError) -> StatementOutcome {
        StatementOutcome {
            notices: Vec::new(),
            parameter_status: Vec::new(),
            result: Err(e),
        }
    }
}

/// The ReadyForQuery status byte.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TransactionStatus {
    /// `I`: not in a transaction block.
    Idle,
    /// `T`: in a transaction block.
    InBlock,
    /// `E`: in a failed transaction block.
    Failed,
}

impl TransactionStatus {
    /// The status byte ReadyForQuery carries (`I`, `T` or `E`).
    pub fn as_byte(self) -> u8 {
        match self {
            TransactionStatus::Idle => b'I',
            TransactionStatus::InBlock => b'T',
            TransactionStatus::Failed => b'E',
        }
    }
}

/// A parsed statement for the extended protocol (a Parse message's result).
#[derive(Clone, Debug)]
pub struct PreparedStatement {
    /// ParameterDescription: one OID per `$n`.
    pub param_types: Vec<u32>,
    /// RowDescription, or empty for NoData.
    pub columns: Vec<Column>,
    kind: PreparedKind,
}

impl PreparedStatement {
    /// Whether Describe should answer NoData.
    pub fn returns_rows(&self) -> bool {
        !self.columns.is_empty()
    }
}

#[derive(Clone, Debug)]
enum PreparedKind {
    Empty,
    /// A statement the session handles itself (BEGIN, SET, SHOW, role DDL, ...), and
    /// the notices parsing it produced. A role statement's password is zeroized when
    /// the command drops.
    Utility(Command, Vec<Notice>),
    Sql(Box<Translated>),
}

/// A bound statement (a Bind message's result): parameters converted, rows not yet
/// produced. Execute it with [`Session::execute_portal`], possibly several times with
/// a row limit.
#[derive(Debug)]
pub struct Portal {
    statement: PreparedStatement,
    params: Vec<Value>,
    /// Rows produced by the first Execute and not yet delivered.
    pending: Option<Pending>,
}

impl Portal {
    /// The portal's RowDescription (empty for NoData).
    pub fn columns(&self) -> &[Column] {
        &self.statement.columns
    }
}

#[derive(Debug)]
struct Pending {
    rows: std::collections::VecDeque<Row>,
    tag: String,
}

/// Stops the running statement of a session from another thread (CancelRequest).
#[derive(Clone, Debug)]
pub struct CancelHandle {
    flag: Arc<AtomicBool>,
}

impl CancelHandle {
    /// Asks the session's current statement to stop with 57014.
    pub fn cancel(&self) {
        self.flag.store(true, Ordering::Relaxed);
    }
}

/// Where the session is with transactions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Block {
    None,
    /// Implicit: a multi-statement query string or an extended batch until Sync.
    Implicit,
    Explicit,
    Failed,
}

/// One client session on the embedded database.
pub struct Session {
    conn: PooledConnection,
    shared: Arc<Shared>,
    user: String,
    settings: SessionSettings,
    block: Block,
    /// Settings at the start of the transaction (restored by ROLLBACK).
    txn_settings: Option<SessionSettings>,
    /// Settings to restore when the transaction ends (SET LOCAL).
    local_undo: Option<SessionSettings>,
    read_only_txn: bool,
    reported: Vec<(&'static str, String)>,
    /// Counts the session against the role's CONNECTION LIMIT when this crate did the
    /// admission ([`Session::new`]); `None` when the server did ([`Session::for_identity`]).
    slot: Option<SessionSlot>,
}

/// The client connection as the server sees it, for `pg_stat_ssl` and
/// `pg_stat_activity` (see [`Session::set_connection_info`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConnectionInfo {
    /// The client's address (`None` for a Unix socket).
    pub client_addr: Option<String>,
    /// The client's TCP port (`None` for a Unix socket).
    pub client_port: Option<u16>,
    /// TLS: protocol version (`TLSv1.3`), cipher suite, key bits. `None` without TLS.
    pub tls: Option<TlsInfo>,
}

/// The negotiated TLS parameters of a connection.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsInfo {
    /// The protocol version (`TLSv1.3`), `pg_stat_ssl.version`.
    pub version: String,
    /// The cipher suite name, `pg_stat_ssl.cipher`.
    pub cipher: String,
    /// The cipher's key bits, `pg_stat_ssl.bits`.
    pub bits: i32,
}

/// Who a session runs as, decided by the server that authenticated the client.
#[derive(Debug, Clone)]
pub struct SessionIdentity {
    /// The session user (`current_user`, `session_user`).
    pub user: String,
    /// Whether the role is a superuser (sees secrets in the catalog views).
    pub superuser: bool,
    /// The backend pid: the one in BackendKeyData, the log, and `pg_backend_pid()`.
    pub pid: i32,
    /// When the client connected (`pg_stat_activity.backend_start`), which can be
    /// earlier than the session's opening.
    pub started: std::time::SystemTime,
}

impl tree::Catalog for Session {
    fn columns(&self, relation: &str) -> Option<Vec<(String, PgType)>> {
        if let Some(cols) = pg_catalog::view_columns(relation) {
            return Some(cols);
        }
        self.shared.internal.store(true, Ordering::Relaxed);
        let cols: rusqlite::Result<Vec<(String, String)>> = self
            .conn
            .prepare_cached("SELECT name, type FROM pragma_table_info(?1) ORDER BY cid")
            .and_then(|mut st| {
                st.query_map([relation], |r| Ok((r.get(0)?, r.get(1)?)))?
                    .collect()
            });
        self.shared.internal.store(false, Ordering::Relaxed);
        let cols = cols.ok()?;
        if cols.is_empty() {
            return None;
        }
        Some(
            cols.into_iter()
                .map(|(name, decl)| {
                    let ty = types::from_decltype(&decl).unwrap_or(types::TEXT);
                    (name.to_ascii_lowercase(), ty)
                })
                .collect(),
        )
    }
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("user", &self.user)
            .field("block", &self.block)
            .finish_non_exhaustive()
    }
}

fn db_err(e: DbError) -> SqlError {
    match e {
        DbError::Rejected(e) => e,
        other => SqlError::new(sqlstate::SYSTEM_ERROR, other.to_string()),
    }
}

/// Whether the session runs this command itself rather than through SQLite.
fn is_utility(cmd: &Command) -> bool {
    use sqlparser::ast::Statement as S;
    match cmd.statement() {
        None => true,
        Some(stmt) => {
            matches!(
                stmt,
                S::StartTransaction { .. }
                    | S::Commit { .. }
                    | S::Rollback { .. }
                    | S::Savepoint { .. }
                    | S::ReleaseSavepoint { .. }
                    | S::Set(_)
                    | S::Reset(_)
                    | S::ShowVariable { .. }
                    | S::Discard { .. }
                    | S::Deallocate { .. }
                    | S::Prepare { .. }
                    | S::Comment { .. }
            ) || role_syntax::is_role_statement(cmd)
        }
    }
}

/// Statements allowed in a failed transaction block (COMMIT, ROLLBACK [TO]).
fn ends_failed_block(cmd: &Command) -> bool {
    use sqlparser::ast::Statement as S;
    matches!(cmd.statement(), Some(S::Commit { .. } | S::Rollback { .. }))
}

/// BEGIN / START TRANSACTION.
fn opens_block(cmd: &Command) -> bool {
    matches!(
        cmd.statement(),
        Some(sqlparser::ast::Statement::StartTransaction { .. })
    )
}

/// `name` as a double-quoted identifier.
fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

impl Session {
    /// Opens a session for `user`, who has already authenticated. Fails like
    /// PostgreSQL's backend start: 28000 for an unknown role or one without LOGIN,
    /// 53300 past the role's CONNECTION LIMIT.
    pub fn new(db: &Database, user: &str, settings: SessionSettings) -> Result<Session, SqlError> {
        let role = db.role(user).map_err(db_err)?.ok_or_else(|| {
            SqlError::new(
                sqlstate::INVALID_AUTHORIZATION_SPECIFICATION,
                format!("role \"{user}\" does not exist"),
            )
        })?;
        if !role.can_login {
            return Err(SqlError::new(
                sqlstate::INVALID_AUTHORIZATION_SPECIFICATION,
                format!("role \"{user}\" is not permitted to log in"),
            ));
        }
        let slot = db.enter(&role)?;
        let identity = SessionIdentity {
            user: user.to_owned(),
            superuser: role.superuser,
            pid: db.next_pid(),
            started: std::time::SystemTime::now(),
        };
        Self::open(db, identity, settings, Some(slot))
    }

    /// Opens a session for an identity the caller has already authenticated and
    /// admitted (login right, connection limit): no catalog lookup. The role need not
    /// be in the catalog: a server whose credential store lives elsewhere runs the
    /// session as `identity.user` with the store's superuser flag. When the catalog
    /// does hold the role, its superuser flag is followed from the next statement on.
    pub fn for_identity(
        db: &Database,
        identity: SessionIdentity,
        settings: SessionSettings,
    ) -> Result<Session, SqlError> {
        Self::open(db, identity, settings, None)
    }

    fn open(
        db: &Database,
        identity: SessionIdentity,
        settings: SessionSettings,
        slot: Option<SessionSlot>,
    ) -> Result<Session, SqlError> {
        let conn = db.checkout().map_err(db_err)?;
        let shared = Arc::new(
            Shared::new(&identity.user, settings.database(), identity.pid)
                .with_reload(db.reload_flag())
                .started_at(identity.started),
        );
        shared
            .superuser
            .store(identity.superuser, Ordering::Relaxed);
        hooks::install(&conn, &shared)
            .and_then(|()| pg_catalog::install(&conn, &shared))
            .map_err(|e| SqlError::new(sqlstate::SYSTEM_ERROR, e.to_string()))?;
        shared.internal.store(true, Ordering::Relaxed);
        let views = pg_catalog::create_views(&conn);
        shared.internal.store(false, Ordering::Relaxed);
        views.map_err(|e| SqlError::new(sqlstate::SYSTEM_ERROR, e.to_string()))?;
        let mut settings = settings;
        settings.set_identity(&identity.user, identity.superuser);
        let reported = owned_parameters(settings.reported());
        Ok(Session {
            conn,
            shared,
            user: identity.user,
            settings,
            block: Block::None,
            txn_settings: None,
            local_undo: None,
            read_only_txn: false,
            reported,
            slot,
        })
    }

    /// The session user.
    pub fn user(&self) -> &str {
        &self.user
    }

    /// The session's backend process id (for BackendKeyData and `pg_backend_pid()`).
    pub fn backend_pid(&self) -> i32 {
        self.shared.backend_pid
    }

    /// The current settings.
    pub fn settings(&self) -> &SessionSettings {
        &self.settings
    }

    /// Every parameter to announce with ParameterStatus after authentication.
    pub fn parameter_statuses(&self) -> Vec<(String, String)> {
        self.settings
            .reported()
            .into_iter()
            .map(|(n, v)| (n.to_owned(), v.to_owned()))
            .collect()
    }

    /// The status byte for ReadyForQuery.
    pub fn transaction_status(&self) -> TransactionStatus {
        match self.block {
            Block::None | Block::Implicit => TransactionStatus::Idle,
            Block::Explicit => TransactionStatus::InBlock,
            Block::Failed => TransactionStatus::Failed,
        }
    }

    /// Tells the session about its client connection: `pg_stat_ssl` and
    /// `pg_stat_activity` show it from the next statement on.
    pub fn set_connection_info(&mut self, info: ConnectionInfo) {
        *lock(&self.shared.connection) = info;
    }

    /// A handle another task can use to cancel the running statement.
    pub fn cancel_handle(&self) -> CancelHandle {
        CancelHandle {
            flag: Arc::clone(&self.shared.cancel),
        }
    }

    /// Runs a simple-protocol query string: one outcome per statement, stopping after
    /// the first error as PostgreSQL does. An empty string yields one
    /// [`Completion::EmptyQuery`].
    pub fn simple_query(&mut self, sql: &str) -> Vec<StatementOutcome> {
        // A client that skipped Sync still gets its batch committed first.
        if let Some(e) = self.sync() {
            return vec![StatementOutcome::error(e)];
        }
        let statements = match script::parse(sql) {
            Ok(s) => s,
            Err(e) => {
                self.fail_block();
                return vec![StatementOutcome::error(e)];
            }
        };
        if statements.is_empty() {
            return vec![StatementOutcome::done(QueryResult {
                columns: None,
                rows: Vec::new(),
                completion: Completion::EmptyQuery,
            })];
        }
        let multi = statements.len() > 1;
        let mut outcomes = Vec::with_capacity(statements.len());
        for script::Parsed { command, notices } in statements {
            if multi
                && self.block == Block::None
                && let Err(e) = self.begin_sqlite(Block::Implicit)
            {
                outcomes.push(StatementOutcome::error(e));
                break;
            }
            let outcome = self.run_statement(Run::Command(command, notices));
            let failed = outcome.result.is_err();
            outcomes.push(outcome);
            if failed {
                break;
            }
        }
        if let Some(e) = self.sync() {
            outcomes.push(StatementOutcome::error(e));
        }
        outcomes
    }

    /// Parses one statement for the extended protocol. `param_types` are the OIDs the
    /// client declared in Parse (0 = unspecified; we then use a `$n::type` cast in the
    /// statement, else text).
    pub fn prepare(
        &mut self,
        sql: &str,
        param_types: &[u32],
    ) -> Result<PreparedStatement, SqlError> {
        let mut statements = script::parse(sql)?;
        if statements.len() > 1 {
            return Err(SqlError::syntax(
                "cannot insert multiple commands into a prepared statement",
            ));
        }
        let Some(script::Parsed {
            command: mut cmd,
            notices,
        }) = statements.pop()
        else {
            return Ok(PreparedStatement {
                param_types: param_types.to_vec(),
                columns: Vec::new(),
                kind: PreparedKind::Empty,
            });
        };
        if self.block == Block::Failed && !ends_failed_block(&cmd) {
            return Err(aborted());
        }
        if is_utility(&cmd) {
            let columns = match cmd.statement() {
                Some(stmt @ sqlparser::ast::Statement::ShowVariable { .. }) => {
                    self.show_columns(stmt)?
                }
                _ => Vec::new(),
            };
            return Ok(PreparedStatement {
                param_types: param_types.to_vec(),
                columns,
                kind: PreparedKind::Utility(cmd, notices),
            });
        }
        let tr = self.translate(&mut cmd, param_types)?;
        self.refresh_superuser();
        self.shared.begin_statement();
        let (names, decls, nparams) = {
            let stmt = self
                .conn
                .prepare_cached(&tr.sql)
                .map_err(|e| map_sqlite(&self.shared, e))?;
            check_parameters(&stmt, tr.max_param)?;
            let names: Vec<String> = stmt.column_names().into_iter().map(str::to_owned).collect();
            let decls: Vec<Option<String>> = stmt
                .columns()
                .iter()
                .map(|c| c.decl_type().map(str::to_owned))
                .collect();
            (names, decls, stmt.parameter_count())
        };
        let n = names.len();
        let columns = names
            .into_iter()
            .enumerate()
            .map(|(i, name)| {
                let ty = tr
                    .hint(i, n)
                    .or_else(|| decls[i].as_deref().and_then(types::from_decltype))
                    .unwrap_or(types::TEXT);
                Column::new(name, ty)
            })
            .collect();
        let count = nparams.max(param_types.len());
        let params = (1..=count)
            .map(|i| {
                let declared = param_types.get(i - 1).copied().unwrap_or(0);
                if declared != 0 {
                    declared
                } else {
                    u32::try_from(i)
                        .ok()
                        .and_then(|p| tr.param_types.get(&p).copied())
                        .map_or(types::oid::TEXT, |t| t.oid)
                }
            })
            .collect();
        Ok(PreparedStatement {
            param_types: params,
            columns,
            kind: PreparedKind::Sql(Box::new(tr)),
        })
    }

    /// Translates one ordinary statement (a query, DML or DDL) through its tree.
    fn translate(&self, cmd: &mut Command, declared: &[u32]) -> Result<Translated, SqlError> {
        match cmd.statement_mut() {
            Some(stmt) => tree::translate(stmt, self, declared),
            None => Err(SqlError::internal("not a SQL statement")),
        }
    }

    /// `COMMENT ON ROLE | TABLE | VIEW | INDEX | COLUMN | DATABASE name IS 'text' | NULL`.
    /// Roles need CREATEROLE (or SUPERUSER), as in PostgreSQL before 16.
    fn comment(&mut self, stmt: &sqlparser::ast::Statement) -> Result<QueryResult, SqlError> {
        let sqlparser::ast::Statement::Comment {
            object_type,
            object_name,
            comment,
            ..
        } = stmt
        else {
            return Err(SqlError::internal("not a COMMENT statement"));
        };
        let kind = object_type.to_string().to_ascii_lowercase();
        let name: Vec<String> = object_name
            .0
            .iter()
            .filter_map(|p| p.as_ident())
            .map(tree::ident_name)
            .collect();
        self.shared.internal.store(true, Ordering::Relaxed);
        let result = (|| {
            if kind == "role" {
                let me = catalog::role_by_name(&self.conn, &self.user).map_err(db_err)?;
                if !me.is_some_and(|r| r.superuser || r.createrole) {
                    return Err(SqlError::new(
                        sqlstate::INSUFFICIENT_PRIVILEGE,
                        format!(
                            "must have CREATEROLE privilege to comment on role \"{}\"",
                            name.last().map(String::as_str).unwrap_or("")
                        ),
                    ));
                }
            }
            let target = pg_catalog::comment_target(&self.conn, &kind, &name)?;
            pg_catalog::set_comment(&self.conn, target, comment.as_deref())
                .map_err(|e| map_sqlite(&self.shared, e))
        })();
        self.shared.internal.store(false, Ordering::Relaxed);
        result.map(|()| QueryResult::command("COMMENT"))
    }

    /// Refreshes what a statement reads from the session (its `pg_settings` rows).
    fn refresh_needs(&self, tr: &Translated) -> Result<(), SqlError> {
        if tr.needs.setting_functions {
            self.shared.settings.load(&self.settings);
        }
        if tr.needs.settings || tr.needs.activity {
            self.shared.internal.store(true, Ordering::Relaxed);
            let r = pg_catalog::store_settings(&self.conn, &self.settings.catalog_rows());
            self.shared.internal.store(false, Ordering::Relaxed);
            r.map_err(|e| map_sqlite(&self.shared, e))?;
        }
        Ok(())
    }

    /// Binds text-format parameters (a Bind message). Converts each by its parameter
    /// type, with PostgreSQL's input errors (22P02 and friends).
    pub fn bind(
        &self,
        prepared: &PreparedStatement,
        params: &[Option<Vec<u8>>],
    ) -> Result<Portal, SqlError> {
        if params.len() != prepared.param_types.len() {
            return Err(SqlError::new(
                sqlstate::PROTOCOL_VIOLATION,
                format!(
                    "bind message supplies {} parameters, but prepared statement requires {}",
                    params.len(),
                    prepared.param_types.len()
                ),
            ));
        }
        let values = params
            .iter()
            .zip(&prepared.param_types)
            .map(|(p, ty)| types::bind_text(p.as_deref(), *ty))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Portal {
            statement: prepared.clone(),
            params: values,
            pending: None,
        })
    }

    /// Executes a portal (an Execute message). `max_rows` 0 means all rows; otherwise
    /// at most that many, with [`Completion::Suspended`] when more remain.
    pub fn execute_portal(&mut self, portal: &mut Portal, max_rows: usize) -> StatementOutcome {
        if portal.pending.is_some() {
            return drain(portal, max_rows);
        }
        let run = match &portal.statement.kind {
            PreparedKind::Empty => {
                return StatementOutcome::done(QueryResult {
                    columns: None,
                    rows: Vec::new(),
                    completion: Completion::EmptyQuery,
                });
            }
            PreparedKind::Utility(cmd, notices) => Run::Command(cmd.clone(), notices.clone()),
            PreparedKind::Sql(tr) => Run::Prepared {
                tr: tr.clone(),
                columns: portal.statement.columns.clone(),
                params: portal.params.clone(),
            },
        };
        // Outside a block, an Execute opens the implicit transaction Sync ends.
        let opens_block = !matches!(&run, Run::Command(c, _) if opens_block(c));
        if self.block == Block::None
            && opens_block
            && let Err(e) = self.begin_sqlite(Block::Implicit)
        {
            return StatementOutcome::error(e);
        }
        let StatementOutcome {
            notices,
            parameter_status,
            result,
        } = self.run_statement(run);
        match result {
            Ok(QueryResult {
                rows,
                completion: Completion::Tag(tag),
                ..
            }) => {
                portal.pending = Some(Pending {
                    rows: rows.into(),
                    tag,
                });
                StatementOutcome {
                    notices,
                    parameter_status,
                    ..drain(portal, max_rows)
                }
            }
            other => StatementOutcome {
                notices,
                parameter_status,
                result: other,
            },
        }
    }

    /// Parse + Bind + Execute in one call (the unnamed statement and portal).
    pub fn execute(
        &mut self,
        prepared: &PreparedStatement,
        params: &[Option<Vec<u8>>],
        max_rows: usize,
    ) -> StatementOutcome {
        match self.bind(prepared, params) {
            Ok(mut portal) => self.execute_portal(&mut portal, max_rows),
            Err(e) => {
                self.fail_block();
                StatementOutcome::error(e)
            }
        }
    }

    /// A Sync message: commits the implicit transaction of an extended-protocol batch.
    /// Returns the error if the commit failed (the batch is then rolled back).
    pub fn sync(&mut self) -> Option<SqlError> {
        if self.block != Block::Implicit {
            return None;
        }
        let failed = self.commit_sqlite().err();
        role_commits::settle();
        failed
    }

    /// Records an error in the transaction state: an explicit block fails; an implicit
    /// one is rolled back at once.
    fn fail_block(&mut self) {
        match self.block {
            Block::Explicit => self.block = Block::Failed,
            Block::Implicit => self.rollback_sqlite(),
            Block::None | Block::Failed => {}
        }
    }

    /// Runs one statement; on error, updates the transaction state.
    fn run_statement(&mut self, run: Run) -> StatementOutcome {
        self.shared.begin_statement();
        self.shared.cancel.store(false, Ordering::Relaxed);
        let (is_exit, mut notices) = match &run {
            Run::Command(c, n) => (ends_failed_block(c), n.clone()),
            Run::Prepared { .. } => (false, Vec::new()),
        };
        let result = if self.block == Block::Failed && !is_exit {
            Err(aborted())
        } else {
            self.refresh_superuser();
            let autocommit = self.block == Block::None;
            if autocommit {
                *lock(&self.shared.txn_time) = Some(hooks::clock());
            }
            self.arm_timeout();
            let r = match run {
                Run::Prepared {
                    tr,
                    columns,
                    params,
                } => self.exec_sql(&tr, &params, Some(&columns)),
                Run::Command(cmd, _) => self.dispatch(cmd, &mut notices),
            };
            *lock(&self.shared.deadline) = None;
            if autocommit && self.block == Block::None {
                *lock(&self.shared.txn_time) = None;
            }
            r
        };
        if result.is_err() {
            self.fail_block();
        }
        // The statement, and any commit it made, has returned.
        role_commits::settle();
        let parameter_status = self.parameter_changes();
        StatementOutcome {
            notices,
            parameter_status,
            result,
        }
    }

    fn arm_timeout(&self) {
        let ms = self.settings.statement_timeout_ms();
        *lock(&self.shared.deadline) = (ms > 0).then(|| Instant::now() + Duration::from_millis(ms));
    }

    /// ParameterStatus for every reported setting whose value changed.
    fn parameter_changes(&mut self) -> Vec<(String, String)> {
        // After every statement: compared in place, copied only when something changed.
        let now = self.settings.reported();
        let changes: Vec<(String, String)> = now
            .iter()
            .filter(|(n, v)| !self.reported.iter().any(|(rn, rv)| rn == n && rv == v))
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
            .collect();
        if !changes.is_empty() {
            self.reported = owned_parameters(now);
        }
        changes
    }

    /// The role `name` as the catalog holds it, secrets included: a read by the engine
    /// itself, past the authorizer that keeps them from SQL.
    fn committed_role(&self, name: &str) -> Result<Option<catalog::RoleRecord>, DbError> {
        self.shared.internal.store(true, Ordering::Relaxed);
        let role = catalog::role_by_name(&self.conn, name);
        self.shared.internal.store(false, Ordering::Relaxed);
        role
    }

    /// Re-reads the session user's superuser flag (another session may have changed
    /// it). A cached statement compiled under old rights is thrown away.
    fn refresh_superuser(&mut self) {
        let role = self.committed_role(&self.user);
        let su = match role {
            Ok(Some(role)) => role.superuser,
            // A role from another credential store keeps the flag it started with.
            Ok(None) if self.slot.is_none() => return,
            _ => false,
        };
        if self.shared.superuser.swap(su, Ordering::Relaxed) != su {
            self.conn.flush_prepared_statement_cache();
            self.settings
                .set_internal("is_superuser", (if su { "on" } else { "off" }).into());
        }
    }

    fn dispatch(
        &mut self,
        mut cmd: Command,
        notices: &mut Vec<Notice>,
    ) -> Result<QueryResult, SqlError> {
        use sqlparser::ast::Statement as S;
        if let Some(role) = role_syntax::read(&cmd) {
            return self.role_ddl(role, notices);
        }
        let Some(stmt) = cmd.statement() else {
            return Err(SqlError::internal("unhandled command"));
        };
        match stmt {
            S::StartTransaction { .. }
            | S::Commit { .. }
            | S::Rollback { .. }
            | S::Savepoint { .. }
            | S::ReleaseSavepoint { .. } => self.transaction_control(stmt, notices),
            S::Set(set) => self.set(set, notices),
            S::Reset(reset) => self.reset(&reset.reset),
            S::ShowVariable { variable } => self.show(variable),
            S::Discard { object_type } => self.discard(*object_type),
            S::Deallocate { name, .. } => {
                if name.quote_style.is_none() && name.value.eq_ignore_ascii_case("all") {
                    Ok(QueryResult::command("DEALLOCATE ALL"))
                } else {
                    Err(SqlError::new(
                        sqlstate::INVALID_SQL_STATEMENT_NAME,
                        format!("prepared statement \"{}\" does not exist", name.value),
                    ))
                }
            }
            S::Comment { .. } => self.comment(stmt),
            S::Prepare { .. } => Err(SqlError::unsupported(
                "SQL-level PREPARE is not supported by the embedded database; use the extended query protocol",
            )),
            _ => {
                let tr = self.translate(&mut cmd, &[])?;
                if tr.max_param > 0 {
                    return Err(SqlError::new(
                        sqlstate::UNDEFINED_PARAMETER,
                        format!("there is no parameter ${}", tr.max_param),
                    ));
                }
                self.exec_sql(&tr, &[], None)
            }
        }
    }

    /// Runs translated SQL. `columns` comes from a prepared statement (types fixed at
    /// Parse); without it, types are inferred from the values.
    fn exec_sql(
        &mut self,
        tr: &Translated,
        params: &[Value],
        columns: Option<&[Column]>,
    ) -> Result<QueryResult, SqlError> {
        let shared = Arc::clone(&self.shared);
        self.refresh_needs(tr)?;
        *lock(&shared.current_query) = tr.sql.clone();
        let (names, decls, raw_rows) = {
            let mut stmt = self
                .conn
                .prepare_cached(&tr.sql)
                .map_err(|e| map_sqlite(&shared, e))?;
            check_parameters(&stmt, tr.max_param)?;
            for (i, v) in params.iter().enumerate() {
                if i < stmt.parameter_count() {
                    stmt.raw_bind_parameter(i + 1, v)
                        .map_err(|e| map_sqlite(&shared, e))?;
                }
            }
            // Read the shape after stepping: SQLite re-prepares a cached statement
            // at its first step when the schema changed, and `*` may then expand
            // differently.
            let mut raw_rows: Vec<Vec<Value>> = Vec::new();
            let mut rows = stmt.raw_query();
            loop {
                match rows.next() {
                    Ok(Some(row)) => {
                        let n = row.as_ref().column_count();
                        let mut vals = Vec::with_capacity(n);
                        for i in 0..n {
                            let v = row.get_ref(i).map_err(|e| map_sqlite(&shared, e))?;
                            vals.push(Value::from(v));
                        }
                        raw_rows.push(vals);
                    }
                    Ok(None) => break,
                    Err(e) => return Err(map_sqlite(&shared, e)),
                }
            }
            drop(rows);
            let names: Vec<String> = stmt.column_names().into_iter().map(str::to_owned).collect();
            let decls: Vec<Option<String>> = stmt
                .columns()
                .iter()
                .map(|c| c.decl_type().map(str::to_owned))
                .collect();
            if raw_rows.iter().any(|r| r.len() != names.len()) {
                return Err(SqlError::unsupported(
                    "cached plan must not change result type",
                ));
            }
            (names, decls, raw_rows)
        };
        let ncols = names.len();
        let cols: Vec<Column> = match columns {
            // The table changed shape between Parse and Execute.
            Some(c) if c.len() != ncols => {
                return Err(SqlError::unsupported(
                    "cached plan must not change result type",
                ));
            }
            Some(c) => c.to_vec(),
            None => names
                .into_iter()
                .enumerate()
                .map(|(i, name)| {
                    let ty = tr
                        .hint(i, ncols)
                        .or_else(|| decls[i].as_deref().and_then(types::from_decltype))
                        .unwrap_or(types::TEXT);
                    Column::new(name, ty)
                })
                .collect(),
        };
        let rows: Vec<Row> = raw_rows
            .iter()
            .map(|r| {
                r.iter()
                    .zip(&cols)
                    .map(|(v, c)| types::render(ValueRef::from(v), c.type_oid))
                    .collect()
            })
            .collect();
        let changes = self.conn.changes();
        if tr.needs.setting_functions {
            self.apply_setting_functions()?;
        }
        let tag = match &tr.verb {
            Verb::Select => format!("SELECT {}", rows.len()),
            Verb::Insert => format!("INSERT 0 {changes}"),
            Verb::Update => format!("UPDATE {changes}"),
            Verb::Delete => format!("DELETE {changes}"),
            Verb::CreateTableAs => format!("SELECT {changes}"),
            Verb::Other(t) => t.clone(),
        };
        Ok(QueryResult {
            columns: (ncols > 0).then_some(cols),
            rows,
            completion: Completion::Tag(tag),
        })
    }

    // ---- transactions ----

    /// Starts a SQLite transaction for a block.
    fn begin_sqlite(&mut self, block: Block) -> Result<(), SqlError> {
        self.internal_sql("BEGIN")?;
        self.block = block;
        self.txn_settings = Some(self.settings.clone());
        *lock(&self.shared.txn_time) = Some(hooks::clock());
        Ok(())
    }

    fn end_txn_state(&mut self) {
        self.block = Block::None;
        self.txn_settings = None;
        if let Some(undo) = self.local_undo.take() {
            self.settings = undo;
        }
        if self.read_only_txn {
            let _ = self.internal_sql("PRAGMA query_only = 0");
            self.read_only_txn = false;
        }
        *lock(&self.shared.txn_time) = None;
    }

    fn commit_sqlite(&mut self) -> Result<(), SqlError> {
        if self.conn.is_autocommit() {
            self.end_txn_state();
            return Ok(());
        }
        match self.internal_sql("COMMIT") {
            Ok(()) => {
                self.end_txn_state();
                Ok(())
            }
            Err(e) => {
                self.rollback_sqlite();
                Err(e)
            }
        }
    }

    fn rollback_sqlite(&mut self) {
        if !self.conn.is_autocommit() {
            let _ = self.internal_sql("ROLLBACK");
        }
        if let Some(s) = self.txn_settings.take() {
            self.settings = s;
        }
        self.local_undo = None;
        self.end_txn_state();
    }

    fn internal_sql(&self, sql: &str) -> Result<(), SqlError> {
        self.shared.internal.store(true, Ordering::Relaxed);
        let r = self.conn.execute_batch(sql);
        self.shared.internal.store(false, Ordering::Relaxed);
        r.map_err(|e| map_sqlite(&self.shared, e))
    }

    /// BEGIN / START TRANSACTION, COMMIT / END, ROLLBACK / ABORT [TO SAVEPOINT],
    /// SAVEPOINT, RELEASE, from the parsed statement.
    fn transaction_control(
        &mut self,
        stmt: &sqlparser::ast::Statement,
        notices: &mut Vec<Notice>,
    ) -> Result<QueryResult, SqlError> {
        use sqlparser::ast::{Statement as S, TransactionAccessMode, TransactionMode};
        let ident = tree::ident_name;
        match stmt {
            S::StartTransaction { modes, begin, .. } => {
                let read_only = modes.iter().any(|m| {
                    matches!(
                        m,
                        TransactionMode::AccessMode(TransactionAccessMode::ReadOnly)
                    )
                });
                self.begin(
                    if *begin { "BEGIN" } else { "START TRANSACTION" },
                    read_only,
                    notices,
                )
            }
            S::Commit { .. } => self.commit(notices),
            S::Rollback {
                savepoint: Some(name),
                ..
            } => self.rollback_to(&ident(name)),
            S::Rollback { .. } => self.rollback(notices),
            S::Savepoint { name } => self.savepoint(&ident(name), false),
            S::ReleaseSavepoint { name } => self.savepoint(&ident(name), true),
            _ => Err(SqlError::internal("not a transaction statement")),
        }
    }

    fn begin(
        &mut self,
        tag: &'static str,
        read_only: bool,
        notices: &mut Vec<Notice>,
    ) -> Result<QueryResult, SqlError> {
        match self.block {
            Block::Explicit | Block::Failed => {
                notices.push(Notice::warning(
                    sqlstate::ACTIVE_SQL_TRANSACTION,
                    "there is already a transaction in progress",
                ));
                return Ok(QueryResult::command(tag));
            }
            Block::Implicit => self.block = Block::Explicit,
            Block::None => self.begin_sqlite(Block::Explicit)?,
        }
        if read_only {
            self.internal_sql("PRAGMA query_only = 1")?;
            self.read_only_txn = true;
        }
        Ok(QueryResult::command(tag))
    }

    fn commit(&mut self, notices: &mut Vec<Notice>) -> Result<QueryResult, SqlError> {
        match self.block {
            Block::None | Block::Implicit => {
                notices.push(Notice::warning(
                    sqlstate::NO_ACTIVE_SQL_TRANSACTION,
                    "there is no transaction in progress",
                ));
                if self.block == Block::Implicit {
                    self.commit_sqlite()?;
                }
                Ok(QueryResult::command("COMMIT"))
            }
            Block::Explicit => {
                self.commit_sqlite()?;
                Ok(QueryResult::command("COMMIT"))
            }
            Block::Failed => {
                self.rollback_sqlite();
                Ok(QueryResult::command("ROLLBACK"))
            }
        }
    }

    fn rollback_to(&mut self, name: &str) -> Result<QueryResult, SqlError> {
        if !matches!(self.block, Block::Explicit | Block::Failed) {
            return Err(SqlError::new(
                sqlstate::NO_ACTIVE_SQL_TRANSACTION,
                "ROLLBACK TO SAVEPOINT can only be used in transaction blocks",
            ));
        }
        self.internal_sql(&format!("ROLLBACK TO SAVEPOINT {}", quote_ident(name)))
            .map_err(|e| savepoint_error(e, name))?;
        self.block = Block::Explicit;
        Ok(QueryResult::command("ROLLBACK"))
    }

    fn rollback(&mut self, notices: &mut Vec<Notice>) -> Result<QueryResult, SqlError> {
        if matches!(self.block, Block::None | Block::Implicit) {
            notices.push(Notice::warning(
                sqlstate::NO_ACTIVE_SQL_TRANSACTION,
                "there is no transaction in progress",
            ));
        }
        if self.block != Block::None {
            self.rollback_sqlite();
        }
        Ok(QueryResult::command("ROLLBACK"))
    }

    fn savepoint(&mut self, name: &str, release: bool) -> Result<QueryResult, SqlError> {
        if self.block != Block::Explicit {
            let what = if release {
                "RELEASE SAVEPOINT"
            } else {
                "SAVEPOINT"
            };
            return Err(SqlError::new(
                sqlstate::NO_ACTIVE_SQL_TRANSACTION,
                format!("{what} can only be used in transaction blocks"),
            ));
        }
        let quoted = quote_ident(name);
        if release {
            self.internal_sql(&format!("RELEASE SAVEPOINT {quoted}"))
                .map_err(|e| savepoint_error(e, name))?;
            Ok(QueryResult::command("RELEASE"))
        } else {
            self.internal_sql(&format!("SAVEPOINT {quoted}"))?;
            Ok(QueryResult::command("SAVEPOINT"))
        }
    }

    // ---- settings ----

    fn set(
        &mut self,
        set: &sqlparser::ast::Set,
        notices: &mut Vec<Notice>,
    ) -> Result<QueryResult, SqlError> {
        use sqlparser::ast::{ContextModifier, Expr, Set};
        let (name, local, values) = match set.clone() {
            Set::SingleAssignment {
                scope,
                variable,
                values,
                ..
            } => {
                let name: Vec<String> = variable
                    .0
                    .iter()
                    .filter_map(|p| p.as_ident())
                    .map(|i| i.value.clone())
                    .collect();
                (
                    name.join("."),
                    matches!(scope, Some(ContextModifier::Local)),
                    values,
                )
            }
            Set::SetTimeZone { local, value } => ("TimeZone".to_owned(), local, vec![value]),
            Set::SetNames { charset_name, .. } => (
                "client_encoding".to_owned(),
                false,
                vec![Expr::Value(
                    sqlparser::ast::Value::SingleQuotedString(charset_name.value).into(),
                )],
            ),
            // Isolation levels and access modes: SQLite transactions are serializable.
            Set::SetTransaction { .. } => return Ok(QueryResult::command("SET")),
            Set::SetRole { .. } | Set::SetSessionAuthorization(_) => {
                return Err(SqlError::unsupported(
                    "SET ROLE and SET SESSION AUTHORIZATION are not supported by the embedded database",
                ));
            }
            other => {
                return Err(SqlError::unsupported(format!(
                    "{other} is not supported by the embedded database"
                )));
            }
        };
        if local && !matches!(self.block, Block::Explicit | Block::Implicit) {
            notices.push(Notice::warning(
                sqlstate::NO_ACTIVE_SQL_TRANSACTION,
                "SET LOCAL can only be used in transaction blocks",
            ));
            return Ok(QueryResult::command("SET"));
        }
        let is_word = |e: &Expr, w: &str| matches!(e, Expr::Identifier(i) if i.quote_style.is_none() && i.value.eq_ignore_ascii_case(w));
        let value = if let [only] = values.as_slice()
            && (is_word(only, "default") || (name == "TimeZone" && is_word(only, "local")))
        {
            None
        } else {
            Some(setting_value(&values)?)
        };
        self.apply_setting(&name, value.as_deref(), local)?;
        Ok(QueryResult::command("SET"))
    }

    /// `SET [LOCAL] name = value`, or `RESET name` when `value` is `None`, inside or
    /// outside a transaction block (SET LOCAL outside one has already been refused).
    fn apply_setting(
        &mut self,
        name: &str,
        value: Option<&str>,
        local: bool,
    ) -> Result<(), SqlError> {
        if local && self.local_undo.is_none() {
            self.local_undo = Some(self.settings.clone());
        }
        match value {
            Some(v) => self.settings.set(name, v)?,
            None => self.settings.reset(name)?,
        }
        if !local && let Some(undo) = self.local_undo.as_mut() {
            // A plain SET after SET LOCAL in the same transaction wins at commit.
            let v = self.settings.show(name).map(|(_, v)| v)?;
            let _ = undo.set(name, &v);
        }
        Ok(())
    }

    /// Replays what `set_config()` did during a statement that succeeded. A local
    /// change outside a transaction block lasted only as long as its statement.
    fn apply_setting_functions(&mut self) -> Result<(), SqlError> {
        let in_block = matches!(self.block, Block::Explicit | Block::Implicit);
        for change in self.shared.settings.take_changes() {
            if change.local && !in_block {
                continue;
            }
            self.apply_setting(&change.name, change.value.as_deref(), change.local)?;
        }
        Ok(())
    }

    fn reset(&mut self, reset: &sqlparser::ast::Reset) -> Result<QueryResult, SqlError> {
        use sqlparser::ast::Reset;
        match reset {
            Reset::ALL => self.settings.reset_all(),
            // SET ROLE / SET SESSION AUTHORIZATION are refused, so these are no-ops.
            Reset::SessionAuthorization => {}
            Reset::ConfigurationParameter(name) => {
                let name = dotted(name);
                if name != "role" {
                    self.settings.reset(&name)?;
                }
            }
        }
        Ok(QueryResult::command("RESET"))
    }

    /// The column SHOW returns, named like PostgreSQL's (the parameter's name).
    fn show_columns(&self, stmt: &sqlparser::ast::Statement) -> Result<Vec<Column>, SqlError> {
        let sqlparser::ast::Statement::ShowVariable { variable } = stmt else {
            return Err(SqlError::internal("not a SHOW statement"));
        };
        self.show_variable_columns(variable)
    }

    fn show_variable_columns(
        &self,
        variable: &[sqlparser::ast::Ident],
    ) -> Result<Vec<Column>, SqlError> {
        Ok(match show_target(variable)? {
            ShowTarget::All => vec![
                Column::new("name", types::TEXT),
                Column::new("setting", types::TEXT),
                Column::new("description", types::TEXT),
            ],
            ShowTarget::One(name) => {
                let (canon, _) = self.settings.show(&name)?;
                let col = if canon.is_empty() {
                    name.to_ascii_lowercase()
                } else {
                    canon.to_owned()
                };
                vec![Column::new(col, types::TEXT)]
            }
        })
    }

    fn show(&mut self, variable: &[sqlparser::ast::Ident]) -> Result<QueryResult, SqlError> {
        let columns = self.show_variable_columns(variable)?;
        let rows = match show_target(variable)? {
            ShowTarget::All => self
                .settings
                .all()
                .into_iter()
                .map(|(n, v, d)| {
                    vec![
                        Some(n.as_bytes().to_vec()),
                        Some(v.into_bytes()),
                        Some(d.as_bytes().to_vec()),
                    ]
                })
                .collect(),
            ShowTarget::One(name) => vec![vec![Some(self.settings.show(&name)?.1.into_bytes())]],
        };
        Ok(QueryResult {
            columns: Some(columns),
            rows,
            completion: Completion::Tag("SHOW".into()),
        })
    }

    fn discard(
        &mut self,
        object_type: sqlparser::ast::DiscardObject,
    ) -> Result<QueryResult, SqlError> {
        use sqlparser::ast::DiscardObject as D;
        match object_type {
            D::ALL => {
                // An extended-protocol Execute runs in an implicit block; that is fine.
                if matches!(self.block, Block::Explicit | Block::Failed) {
                    return Err(SqlError::new(
                        sqlstate::ACTIVE_SQL_TRANSACTION,
                        "DISCARD ALL cannot run inside a transaction block",
                    ));
                }
                self.settings.reset_all();
                Ok(QueryResult::command("DISCARD ALL"))
            }
            D::PLANS => Ok(QueryResult::command("DISCARD PLANS")),
            D::SEQUENCES => Ok(QueryResult::command("DISCARD SEQUENCES")),
            D::TEMP => Ok(QueryResult::command("DISCARD TEMP")),
        }
    }

    // ---- role DDL ----

    fn role_ddl(
        &mut self,
        role: Result<(ddl::RoleStmt, Vec<Notice>), SqlError>,
        notices: &mut Vec<Notice>,
    ) -> Result<QueryResult, SqlError> {
        let (stmt, parse_notices) = role?;
        let policy = HashPolicy {
            encryption: self.settings.password_encryption(),
            iterations: self.settings.scram_iterations(),
            md5_warnings: self.settings.md5_password_warnings(),
        };
        let secrets = ddl::hash_password(&stmt, &self.user, policy, |name| {
            self.committed_role(name).map_err(db_err)
        })?;
        let user = self.user.clone();
        let applied = self.catalog_write(|conn| ddl::apply(conn, &stmt, secrets, &user))?;
        notices.extend(parse_notices);
        notices.extend(applied.notices);
        Ok(QueryResult::command(applied.tag))
    }

    /// Runs catalog writes atomically: its own IMMEDIATE transaction outside a block,
    /// a savepoint inside one (so a failed DDL leaves no partial change behind).
    fn catalog_write<T>(
        &mut self,
        f: impl FnOnce(&Connection) -> Result<T, SqlError>,
    ) -> Result<T, SqlError> {
        let in_block = !self.conn.is_autocommit();
        let (begin, commit, undo) = if in_block {
            (
                "SAVEPOINT pgscram_ddl",
                "RELEASE pgscram_ddl",
                "ROLLBACK TO pgscram_ddl; RELEASE pgscram_ddl",
            )
        } else {
            ("BEGIN IMMEDIATE", "COMMIT", "ROLLBACK")
        };
        self.internal_sql(begin)?;
        self.shared.internal.store(true, Ordering::Relaxed);
        let result = f(&self.conn);
        self.shared.internal.store(false, Ordering::Relaxed);
        match result {
            Ok(v) => match self.internal_sql(commit) {
                Ok(()) => Ok(v),
                Err(e) => {
                    let _ = self.internal_sql(undo);
                    Err(e)
                }
            },
            Err(e) => {
                let _ = self.internal_sql(undo);
                Err(e)
            }
        }
    }
}

enum ShowTarget {
    All,
    One(String),
}

/// What `run_statement` runs.
enum Run {
    /// A statement from a query string or a prepared utility statement, with the
    /// notices parsing it produced.
    Command(Command, Vec<Notice>),
    /// A prepared SQL statement with bound parameters and fixed result columns.
    Prepared {
        tr: Box<Translated>,
        columns: Vec<Column>,
        params: Vec<Value>,
    },
}

/// Hands out up to `max_rows` of a portal's buffered rows.
fn drain(portal: &mut Portal, max_rows: usize) -> StatementOutcome {
    let columns = portal
        .statement
        .returns_rows()
        .then(|| portal.statement.columns.clone());
    let Some(pending) = portal.pending.as_mut() else {
        return StatementOutcome::error(SqlError::internal("portal has no result"));
    };
    let take = if max_rows == 0 {
        pending.rows.len()
    } else {
        max_rows.min(pending.rows.len())
    };
    let rows: Vec<Row> = pending.rows.drain(..take).collect();
    let completion = if pending.rows.is_empty() {
        Completion::Tag(pending.tag.clone())
    } else {
        Completion::Suspended
    };
    StatementOutcome::done(QueryResult {
        columns,
        rows,
        completion,
    })
}

fn aborted() -> SqlError {
    SqlError::new(
        sqlstate::IN_FAILED_SQL_TRANSACTION,
        "current transaction is aborted, commands ignored until end of transaction block",
    )
}

fn savepoint_error(e: SqlError, name: &str) -> SqlError {
    if e.message.contains("no such savepoint") {
        SqlError::new(
            sqlstate::INVALID_SAVEPOINT_SPECIFICATION,
            format!("savepoint \"{name}\" does not exist"),
        )
    } else {
        e
    }
}

/// A configuration parameter name, possibly dotted (`myapp.key`).
fn dotted(name: &sqlparser::ast::ObjectName) -> String {
    name.0
        .iter()
        .map(|p| match p.as_ident() {
            Some(i) if i.quote_style.is_some() => i.value.clone(),
            Some(i) => i.value.to_ascii_lowercase(),
            None => p.to_string(),
        })
        .collect::<Vec<_>>()
        .join(".")
}

/// What `SHOW` names: `ALL`, or one parameter (`TIME ZONE` is `TimeZone`).
fn show_target(variable: &[sqlparser::ast::Ident]) -> Result<ShowTarget, SqlError> {
    let words: Vec<String> = variable.iter().map(tree::ident_name).collect();
    Ok(match words.join(" ").as_str() {
        "all" => ShowTarget::All,
        "time zone" => ShowTarget::One("TimeZone".into()),
        "transaction isolation level" => ShowTarget::One("transaction_isolation".into()),
        "session authorization" => ShowTarget::One("session_authorization".into()),
        "" => return Err(SqlError::syntax("syntax error at end of input")),
        _ if variable.len() > 2 => {
            return Err(SqlError::syntax(format!(
                "syntax error at or near \"{}\"",
                variable[2]
            )));
        }
        _ => ShowTarget::One(words.join(".")),
    })
}

/// A SET value list as PostgreSQL flattens it: items joined with `, `, string
/// literals unquoted, a quoted identifier kept quoted when it is one of several.
fn setting_value(values: &[sqlparser::ast::Expr]) -> Result<String, SqlError> {
    use sqlparser::ast::{Expr, UnaryOperator, Value};
    let many = values.len() > 1;
    let mut parts = Vec::with_capacity(values.len());
    for v in values {
        parts.push(match v {
            Expr::Value(v) => match &v.value {
                Value::SingleQuotedString(s)
                | Value::EscapedStringLiteral(s)
                | Value::NationalStringLiteral(s) => s.clone(),
                Value::DollarQuotedString(d) => d.value.clone(),
                Value::Number(n, _) => n.clone(),
                Value::Boolean(b) => if *b { "on" } else { "off" }.to_owned(),
                other => {
                    return Err(SqlError::syntax(format!(
                        "syntax error at or near \"{other}\""
                    )));
                }
            },
            Expr::Identifier(i) if i.quote_style.is_some() && many => quote_ident(&i.value),
            Expr::Identifier(i) if i.quote_style.is_some() => i.value.clone(),
            Expr::Identifier(i) => i.value.to_ascii_lowercase(),
            Expr::UnaryOp {
                op: op @ (UnaryOperator::Minus | UnaryOperator::Plus),
                expr,
            } if matches!(&**expr, Expr::Value(v) if matches!(v.value, Value::Number(..))) => {
                let n = expr.to_string();
                if matches!(op, UnaryOperator::Minus) {
                    format!("-{n}")
                } else {
                    n
                }
            }
            other => {
                return Err(SqlError::syntax(format!(
                    "syntax error at or near \"{other}\""
                )));
            }
        });
    }
    if parts.is_empty() {
        return Err(SqlError::syntax("syntax error at end of input"));
    }
    Ok(parts.join(", "))
}

/// Only `?N` parameters may reach SQLite (`:name` or `@name` would bind as NULL).
fn check_parameters(stmt: &rusqlite::Statement<'_>, max_param: u32) -> Result<(), SqlError> {
    let count = stmt.parameter_count();
    for i in 1..=count {
        if let Some(name) = stmt.parameter_name(i)
            && !name.starts_with('?')
        {
            return Err(SqlError::syntax(format!(
                "syntax error at or near \"{name}\""
            )));
        }
    }
    if count > max_param as usize {
        return Err(SqlError::syntax("syntax error at or near \"?\""));
    }
    Ok(())
}

/// Maps a SQLite failure to PostgreSQL's SQLSTATE and wording. Errors our callbacks
/// recorded (authorizer, SQL functions, interrupts) take precedence.
pub(crate) fn map_sqlite(shared: &Shared, e: rusqlite::Error) -> SqlError {
    if let Some(d) = lock(&shared.denial).take() {
        return d;
    }
    if let Some(f) = lock(&shared.fn_error).take() {
        return f;
    }
    let (err, msg) = match e {
        rusqlite::Error::SqliteFailure(err, msg) => (err, msg.unwrap_or_default()),
        // Prepare errors with a position; the SQL text it carries is not echoed.
        rusqlite::Error::SqlInputError { error, msg, .. } => (error, msg),
        rusqlite::Error::InvalidParameterCount(got, want) => {
            return SqlError::new(
                sqlstate::PROTOCOL_VIOLATION,
                format!(
                    "bind message supplies {got} parameters, but prepared statement requires {want}"
                ),
            );
        }
        other => return SqlError::internal(other.to_string()),
    };
    match err.code {
        ErrorCode::OperationInterrupted => match shared.stop_reason.load(Ordering::Relaxed) {
            hooks::STOP_TIMEOUT => SqlError::new(
                sqlstate::QUERY_CANCELED,
                "canceling statement due to statement timeout",
            ),
            _ => SqlError::new(
                sqlstate::QUERY_CANCELED,
                "canceling statement due to user request",
            ),
        },
        ErrorCode::DatabaseBusy if err.extended_code == 517 => SqlError::new(
            sqlstate::SERIALIZATION_FAILURE,
            "could not serialize access due to concurrent update",
        )
        .with_hint("The transaction might succeed if retried."),
        ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked => SqlError::new(
            sqlstate::LOCK_NOT_AVAILABLE,
            "could not obtain lock on the database: another session is writing",
        ),
        ErrorCode::ReadOnly => SqlError::new(
            sqlstate::READ_ONLY_SQL_TRANSACTION,
            "cannot execute this statement in a read-only transaction",
        ),
        ErrorCode::DiskFull => SqlError::new(
            sqlstate::DISK_FULL,
            "could not extend the database file: disk full",
        ),
        ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase => SqlError::new(
            sqlstate::DATA_CORRUPTED,
            format!("database file is damaged: {msg}"),
        ),
        ErrorCode::TooBig => SqlError::new(
            sqlstate::PROGRAM_LIMIT_EXCEEDED,
            format!("value too large: {msg}"),
        ),
        ErrorCode::AuthorizationForStatementDenied => {
            SqlError::new(sqlstate::INSUFFICIENT_PRIVILEGE, "permission denied")
        }
        ErrorCode::ConstraintViolation => constraint_error(err.extended_code, &msg),
        _ => message_error(&msg),
    }
}

fn constraint_error(extended: i32, msg: &str) -> SqlError {
    let what = msg.split_once(": ").map_or("", |(_, w)| w);
    match extended {
        // SQLITE_CONSTRAINT_UNIQUE, _PRIMARYKEY
        2067 | 1555 => SqlError::new(
            sqlstate::UNIQUE_VIOLATION,
            "duplicate key value violates unique constraint",
        )
        .with_detail(format!("Key ({what}) already exists.")),
        // SQLITE_CONSTRAINT_NOTNULL
        1299 => {
            let (table, column) = what.split_once('.').unwrap_or(("", what));
            SqlError::new(
                sqlstate::NOT_NULL_VIOLATION,
                format!(
                    "null value in column \"{column}\" of relation \"{table}\" violates not-null constraint"
                ),
            )
        }
        // SQLITE_CONSTRAINT_FOREIGNKEY
        787 => SqlError::new(
            sqlstate::FOREIGN_KEY_VIOLATION,
            "insert or update on table violates foreign key constraint",
        ),
        // SQLITE_CONSTRAINT_CHECK
        275 => SqlError::new(
            sqlstate::CHECK_VIOLATION,
            format!("new row violates check constraint \"{what}\""),
        ),
        _ => SqlError::new(sqlstate::INTEGRITY_CONSTRAINT_VIOLATION, msg.to_owned()),
    }
}

/// SQLite's generic errors, recognised by their (stable) message texts.
fn message_error(msg: &str) -> SqlError {
    let after = |prefix: &str| msg.strip_prefix(prefix).map(str::trim);
    if let Some(t) = after("no such table:").or_else(|| after("no such view:")) {
        let t = t.rsplit('.').next().unwrap_or(t);
        return SqlError::new(
            sqlstate::UNDEFINED_TABLE,
            format!("relation \"{t}\" does not exist"),
        );
    }
    if let Some(c) = after("no such column:") {
        return SqlError::new(
            sqlstate::UNDEFINED_COLUMN,
            format!("column \"{c}\" does not exist"),
        );
    }
    if let Some(f) = after("no such function:") {
        return SqlError::new(sqlstate::UNDEFINED_FUNCTION, format!("function {f}() does not exist"))
            .with_hint("No function matches the given name. The embedded database has SQLite's functions plus a few of PostgreSQL's.");
    }
    if let Some(f) = after("wrong number of arguments to function") {
        return SqlError::new(
            sqlstate::UNDEFINED_FUNCTION,
            format!("function {f} does not exist with this number of arguments"),
        );
    }
    if let Some(i) = after("no such index:") {
        return SqlError::new(
            sqlstate::UNDEFINED_OBJECT,
            format!("index \"{i}\" does not exist"),
        );
    }
    if let Some(c) = after("ambiguous column name:") {
        return SqlError::new(
            sqlstate::AMBIGUOUS_COLUMN,
            format!("column reference \"{c}\" is ambiguous"),
        );
    }
    if let Some(rest) = msg
        .strip_prefix("table ")
        .or_else(|| msg.strip_prefix("index "))
        .or_else(|| msg.strip_prefix("view "))
        && let Some(name) = rest.strip_suffix(" already exists")
    {
        let name = name.trim_matches('"');
        return SqlError::new(
            sqlstate::DUPLICATE_TABLE,
            format!("relation \"{name}\" already exists"),
        );
    }
    if let Some(near) = msg
        .strip_prefix("near ")
        .and_then(|m| m.strip_suffix(": syntax error"))
    {
        return SqlError::syntax(format!("syntax error at or near {near}"));
    }
    if msg == "incomplete input" {
        return SqlError::syntax("syntax error at end of input");
    }
    if msg.starts_with("misuse of aggregate")
        || msg.starts_with("aggregate functions are not allowed")
    {
        return SqlError::new(sqlstate::GROUPING_ERROR, msg.to_owned());
    }
    if msg.starts_with("datatype mismatch") {
        return SqlError::new(sqlstate::DATATYPE_MISMATCH, msg.to_owned());
    }
    SqlError::new(
        sqlstate::SYNTAX_ERROR_OR_ACCESS_RULE_VIOLATION,
        msg.to_owned(),
    )
}

/// The reported parameters' values, kept as the session last announced them.
fn owned_parameters(reported: Vec<(&'static str, &str)>) -> Vec<(&'static str, String)> {
    reported
        .into_iter()
        .map(|(n, v)| (n, v.to_owned()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_values_are_joined_like_postgres() {
        let v = |value: &str| -> Result<String, SqlError> {
            let parsed = crate::script::parse(&format!("SET x = {value}"))?;
            match parsed.first().and_then(|p| p.command.statement()) {
                Some(sqlparser::ast::Statement::Set(sqlparser::ast::Set::SingleAssignment {
                    values,
                    ..
                })) => setting_value(values),
                _ => Err(SqlError::syntax("not a SET")),
            }
        };
        assert_eq!(v("'ISO, MDY'").unwrap(), "ISO, MDY");
        assert_eq!(v("\"$user\", public").unwrap(), "\"$user\", public");
        assert_eq!(v("-3").unwrap(), "-3");
        assert_eq!(v("on").unwrap(), "on");
        assert!(v("a b").is_err());
        assert!(v("").is_err());
    }

    #[test]
    fn sqlite_messages_map_to_postgres_codes() {
        assert_eq!(
            message_error("no such table: main.foo").message,
            "relation \"foo\" does not exist"
        );
        assert_eq!(
            message_error("no such column: x").code,
            sqlstate::UNDEFINED_COLUMN
        );
        assert_eq!(
            message_error("table t already exists").code,
            sqlstate::DUPLICATE_TABLE
        );
        assert_eq!(
            message_error("near \"fro\": syntax error").message,
            "syntax error at or near \"fro\""
        );
        assert_eq!(
            message_error("no such function: foo").code,
            sqlstate::UNDEFINED_FUNCTION
        );
        assert_eq!(
            constraint_error(2067, "UNIQUE constraint failed: t.a").code,
            sqlstate::UNIQUE_VIOLATION
        );
        assert_eq!(
            constraint_error(1299, "NOT NULL constraint failed: t.a").message,
            "null value in column \"a\" of relation \"t\" violates not-null constraint"
        );
    }

    #[test]
    fn status_bytes() {
        assert_eq!(TransactionStatus::Idle.as_byte(), b'I');
        assert_eq!(TransactionStatus::InBlock.as_byte(), b'T');
        assert_eq!(TransactionStatus::Failed.as_byte(), b'E');
    }
}
