//! Message tags (the first byte of every regular message), named so drivers can match
//! frames without magic bytes, e.g. to answer `expected SASL response, got message
//! type 81` when a `Q` arrives during authentication.

/// Tags the frontend (client) sends.
pub mod frontend {
    /// PasswordMessage, SASLInitialResponse, SASLResponse, GSSResponse: one tag for all.
    pub const PASSWORD: u8 = b'p';
    /// Query: a simple-protocol query string.
    pub const QUERY: u8 = b'Q';
    /// Parse: prepare a statement (extended protocol).
    pub const PARSE: u8 = b'P';
    /// Bind: bind parameters to a prepared statement, making a portal.
    pub const BIND: u8 = b'B';
    /// Describe a statement or portal.
    pub const DESCRIBE: u8 = b'D';
    /// Execute a portal.
    pub const EXECUTE: u8 = b'E';
    /// Sync: end an extended-protocol batch.
    pub const SYNC: u8 = b'S';
    /// Flush: ask for pending output without a Sync.
    pub const FLUSH: u8 = b'H';
    /// Close a statement or portal.
    pub const CLOSE: u8 = b'C';
    /// Terminate: the client is leaving.
    pub const TERMINATE: u8 = b'X';
    /// FunctionCall (fast-path function call).
    pub const FUNCTION_CALL: u8 = b'F';
    /// CopyData: a chunk of COPY data (either direction).
    pub const COPY_DATA: u8 = b'd';
    /// CopyDone: end of COPY data (either direction).
    pub const COPY_DONE: u8 = b'c';
    /// CopyFail: the client aborts a COPY FROM STDIN.
    pub const COPY_FAIL: u8 = b'f';
}

/// Tags the backend (server) sends.
pub mod backend {
    /// AuthenticationOk and every other authentication request.
    pub const AUTHENTICATION: u8 = b'R';
    /// BackendKeyData: the process ID and secret key for cancelling.
    pub const BACKEND_KEY_DATA: u8 = b'K';
    /// ParameterStatus: a run-time parameter's current value.
    pub const PARAMETER_STATUS: u8 = b'S';
    /// ReadyForQuery, with the transaction status.
    pub const READY_FOR_QUERY: u8 = b'Z';
    /// ErrorResponse.
    pub const ERROR_RESPONSE: u8 = b'E';
    /// NoticeResponse.
    pub const NOTICE_RESPONSE: u8 = b'N';
    /// RowDescription: the columns of the rows to come.
    pub const ROW_DESCRIPTION: u8 = b'T';
    /// DataRow: one row.
    pub const DATA_ROW: u8 = b'D';
    /// CommandComplete, with the command tag.
    pub const COMMAND_COMPLETE: u8 = b'C';
    /// EmptyQueryResponse: the query string was empty.
    pub const EMPTY_QUERY_RESPONSE: u8 = b'I';
    /// ParseComplete.
    pub const PARSE_COMPLETE: u8 = b'1';
    /// BindComplete.
    pub const BIND_COMPLETE: u8 = b'2';
    /// CloseComplete.
    pub const CLOSE_COMPLETE: u8 = b'3';
    /// NoData: the statement returns no rows.
    pub const NO_DATA: u8 = b'n';
    /// ParameterDescription: a prepared statement's parameter types.
    pub const PARAMETER_DESCRIPTION: u8 = b't';
    /// PortalSuspended: Execute's row limit was reached.
    pub const PORTAL_SUSPENDED: u8 = b's';
    /// NegotiateProtocolVersion: the minor version or options the server does not support.
    pub const NEGOTIATE_PROTOCOL_VERSION: u8 = b'v';
    /// CopyInResponse: the server is ready for COPY FROM STDIN data.
    pub const COPY_IN_RESPONSE: u8 = b'G';
    /// CopyOutResponse: COPY TO STDOUT data follows.
    pub const COPY_OUT_RESPONSE: u8 = b'H';
    /// CopyBothResponse: start of streaming replication's two-way copy.
    pub const COPY_BOTH_RESPONSE: u8 = b'W';
    /// CopyData: a chunk of COPY data (either direction).
    pub const COPY_DATA: u8 = b'd';
    /// CopyDone: end of COPY data (either direction).
    pub const COPY_DONE: u8 = b'c';
    /// NotificationResponse: a LISTEN/NOTIFY notification.
    pub const NOTIFICATION_RESPONSE: u8 = b'A';
    /// FunctionCallResponse: a fast-path call's result.
    pub const FUNCTION_CALL_RESPONSE: u8 = b'V';
}
