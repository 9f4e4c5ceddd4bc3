//! What the session needs from a database: a small trait, so the protocol handling in
//! `session` does not depend on SQLite (the embedded engine implements it in
//! `engine_embedded`; tests can implement it with a table).

use pgscram_wire::{ErrorFields, TransactionStatus};

/// One result column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    pub name: String,
    pub type_oid: u32,
    /// pg_type.typlen: -1 for variable length.
    pub type_size: i16,
}

/// A text-format value; `None` is NULL.
pub type Value = Option<Vec<u8>>;

/// What one statement produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Produced {
    Rows {
        columns: Vec<Column>,
        rows: Vec<Vec<Value>>,
        tag: String,
    },
    Command {
        tag: String,
    },
    /// The query string held no statement.
    Empty,
}

/// One statement's result with what was said along the way.
#[derive(Debug, Clone)]
pub struct StatementResult {
    pub notices: Vec<ErrorFields>,
    pub outcome: Result<Produced, ErrorFields>,
    /// Settings whose change the client must hear about (ParameterStatus).
    pub reported: Vec<(String, String)>,
}

impl StatementResult {
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
    pub sql: String,
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
    fn transaction_status(&self) -> TransactionStatus;
    fn interrupt_handle(&self) -> Interrupt;
    /// ParameterStatus values to send after authentication.
    fn initial_parameters(&self) -> Vec<(String, String)>;
    /// A result value's binary form, for clients that ask for binary results. The
    /// engine owns its types, so it owns their wire encodings too.
    fn encode_binary(&self, type_oid: u32, text: &[u8]) -> Result<Vec<u8>, ErrorFields>;
    /// A binary-format parameter in the text form `execute` takes.
    fn decode_binary(&self, type_oid: u32, value: &[u8]) -> Result<Vec<u8>, ErrorFields>;
}
