//! Backends that run queries themselves: a [`QueryEngine`] per session, opened by an
//! [`EngineFactory`], behind [`EngineBackend`], which speaks the simple and extended
//! query protocols. The protocol handling (`session`) does not depend on SQLite: the
//! embedded database is one engine ([`EmbeddedFactory`]), a program's own is another.

mod embedded;
mod session;

use std::future::Future;
use std::pin::Pin;

use pgscram_wire::{ErrorFields, TransactionStatus};

use crate::backend::{Backend, Client, SessionStart};

pub use embedded::EmbeddedFactory;

/// One result column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    /// The column's name.
    pub name: String,
    /// pg_type.oid of its type.
    pub type_oid: u32,
    /// pg_type.typlen: -1 for variable length.
    pub type_size: i16,
}

/// A text-format value; `None` is NULL.
pub type Value = Option<Vec<u8>>;

/// What one statement produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Produced {
    /// A row set and its command tag (`SELECT 3`).
    Rows {
        /// The columns.
        columns: Vec<Column>,
        /// The rows, text format.
        rows: Vec<Vec<Value>>,
        /// The command tag.
        tag: String,
    },
    /// A command without rows and its tag (`CREATE TABLE`).
    Command {
        /// The command tag.
        tag: String,
    },
    /// The query string held no statement.
    Empty,
}

/// One statement's result with what was said along the way.
#[derive(Debug, Clone)]
pub struct StatementResult {
    /// Notices raised along the way, sent before the result.
    pub notices: Vec<ErrorFields>,
    /// The result, or the statement's error.
    pub outcome: Result<Produced, ErrorFields>,
    /// Settings whose change the client must hear about (ParameterStatus).
    pub reported: Vec<(String, String)>,
}

impl StatementResult {
    /// A statement that failed with `fields`.
    pub fn error(fields: ErrorFields) -> Self {
        StatementResult {
            notices: Vec::new(),
            outcome: Err(fields),
            reported: Vec::new(),
        }
    }
}

/// A parsed statement for the extended protocol.
#[derive(Debug, Clone)]
pub struct Prepared {
    /// The statement's text.
    pub sql: String,
    /// The parameters' type oids.
    pub param_types: Vec<u32>,
    /// `None` when the statement returns no rows.
    pub columns: Option<Vec<Column>>,
}

/// Interrupts the statement running on the engine (query cancel).
pub type Interrupt = Box<dyn Fn() + Send + Sync>;

/// A database session.
pub trait QueryEngine: Send + 'static {
    /// Runs a simple-protocol query string: every statement in order, stopping at the
    /// first error.
    fn simple_query(&mut self, sql: &str) -> Vec<StatementResult>;
    /// Parses one statement; `param_types` are the client's (0 = unspecified).
    fn prepare(&mut self, sql: &str, param_types: &[u32]) -> Result<Prepared, ErrorFields>;
    /// Runs a prepared statement with text-format parameters.
    fn execute(&mut self, prepared: &Prepared, params: &[Value]) -> StatementResult;
    /// A Sync message: ends the implicit transaction of an extended-protocol batch.
    fn sync(&mut self) -> Option<ErrorFields> {
        None
    }
    /// For ReadyForQuery: idle, in a transaction, or in a failed one.
    fn transaction_status(&self) -> TransactionStatus;
    /// A handle that interrupts the running statement from another thread.
    fn interrupt_handle(&self) -> Interrupt;
    /// ParameterStatus values to send after authentication, borrowed from the engine
    /// (the greeting encodes them straight into the connection's output).
    fn initial_parameters(&self) -> Vec<(&str, &str)>;
    /// A result value's binary form, for clients that ask for binary results. The
    /// engine owns its types, so it owns their wire encodings too.
    fn encode_binary(&self, type_oid: u32, text: &[u8]) -> Result<Vec<u8>, ErrorFields>;
    /// A binary-format parameter in the text form `execute` takes.
    fn decode_binary(&self, type_oid: u32, value: &[u8]) -> Result<Vec<u8>, ErrorFields>;
}

/// Opens a [`QueryEngine`] per session.
pub trait EngineFactory: Send + Sync + 'static {
    /// Opens the session's engine, or refuses the session with a FATAL error.
    ///
    /// Runs on an async worker, once per login, so it must not block: check what
    /// must refuse the login (startup settings, say) and leave the rest (files,
    /// connections) to the engine's first statement, which runs on the blocking pool.
    /// A login that never sends a query then costs nothing more.
    fn open(&self, start: &SessionStart) -> Result<Box<dyn QueryEngine>, ErrorFields>;
    /// Whether `name` is a database this factory serves.
    fn has_database(&self, name: &str) -> bool;
}

/// A [`Backend`] that runs each session's queries on an engine from `F`.
pub struct EngineBackend<F: EngineFactory> {
    factory: F,
}

impl<F: EngineFactory> EngineBackend<F> {
    /// A backend over `factory`.
    pub fn new(factory: F) -> Self {
        EngineBackend { factory }
    }
}

#[async_trait::async_trait]
impl<F: EngineFactory> Backend for EngineBackend<F> {
    fn has_database(&self, name: &str) -> bool {
        self.factory.has_database(name)
    }

    // Written out rather than `async fn`: the engine is opened before the future is
    // made, so the session's future (allocated for its whole life) holds neither the
    // start (the role, the startup packet) nor the open's state.
    fn serve<'life0, 'async_trait>(
        &'life0 self,
        mut start: SessionStart,
        client: Client,
    ) -> Pin<Box<dyn Future<Output = ()> + Send + 'async_trait>>
    where
        'life0: 'async_trait,
        Self: 'async_trait,
    {
        // Nothing here needs the ClientKey or a password: drop (zeroize) them first.
        drop(start.take_client_key());
        drop(start.take_password());
        drop(start.take_md5_secret());
        match self.factory.open(&start) {
            Ok(engine) => Box::pin(session::run(client, engine)),
            Err(error) => Box::pin(client.refuse(error)),
        }
    }
}

#[cfg(test)]
mod tests {
    /// The size of the future `f` returns, without making one.
    fn future_size<A, B, R, F: FnOnce(A, B) -> R>(_: F) -> usize {
        std::mem::size_of::<R>()
    }

    /// A session's future is allocated for its whole life, idle or not: the state of
    /// answering a message (boxed per message) must not be inlined into it. It was
    /// 2,584 bytes when it was.
    #[test]
    fn an_idle_session_keeps_a_small_future() {
        let size = future_size(super::session::run);
        assert!(size <= 1024, "session future is {size} bytes");
    }
}
