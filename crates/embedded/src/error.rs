//! What a statement can say back: errors and notices with a SQLSTATE, in the shape the
//! wire needs (ErrorResponse / NoticeResponse fields), plus the crate's own error type
//! for the calls the authentication layer makes.
//!
//! Messages never carry a password or a stored secret: the DDL code only ever puts role
//! names and option names into them.

use std::fmt;

/// SQLSTATE codes are `pgscram_wire`'s type, so the server copies them straight into
/// ErrorResponse and NoticeResponse.
pub use pgscram_wire::sqlstate::SqlState;

/// The SQLSTATE codes this crate produces (names as in PostgreSQL's errcodes.txt).
pub mod sqlstate {
    use super::SqlState;

    /// 00000 `successful_completion`.
    pub const SUCCESSFUL_COMPLETION: SqlState = SqlState::SUCCESSFUL_COMPLETION;
    /// 01000 `warning`.
    pub const WARNING: SqlState = SqlState::WARNING;
    /// 01P01 `deprecated_feature`.
    pub const WARNING_DEPRECATED_FEATURE: SqlState = SqlState::WARNING_DEPRECATED_FEATURE;
    /// 08P01 `protocol_violation`.
    pub const PROTOCOL_VIOLATION: SqlState = SqlState::PROTOCOL_VIOLATION;
    /// 0A000 `feature_not_supported`.
    pub const FEATURE_NOT_SUPPORTED: SqlState = SqlState::FEATURE_NOT_SUPPORTED;
    /// 0LP01 `invalid_grant_operation`.
    pub const INVALID_GRANT_OPERATION: SqlState = SqlState::INVALID_GRANT_OPERATION;
    /// 22003 `numeric_value_out_of_range`.
    pub const NUMERIC_VALUE_OUT_OF_RANGE: SqlState = SqlState::NUMERIC_VALUE_OUT_OF_RANGE;
    /// 22007 `invalid_datetime_format`.
    pub const INVALID_DATETIME_FORMAT: SqlState = SqlState::INVALID_DATETIME_FORMAT;
    /// 22021 `character_not_in_repertoire`.
    pub const CHARACTER_NOT_IN_REPERTOIRE: SqlState = SqlState::CHARACTER_NOT_IN_REPERTOIRE;
    /// 22023 `invalid_parameter_value`.
    pub const INVALID_PARAMETER_VALUE: SqlState = SqlState::INVALID_PARAMETER_VALUE;
    /// 22P02 `invalid_text_representation`.
    pub const INVALID_TEXT_REPRESENTATION: SqlState = SqlState::INVALID_TEXT_REPRESENTATION;
    /// 23502 `not_null_violation`.
    pub const NOT_NULL_VIOLATION: SqlState = SqlState::NOT_NULL_VIOLATION;
    /// 23503 `foreign_key_violation`.
    pub const FOREIGN_KEY_VIOLATION: SqlState = SqlState::FOREIGN_KEY_VIOLATION;
    /// 23505 `unique_violation`.
    pub const UNIQUE_VIOLATION: SqlState = SqlState::UNIQUE_VIOLATION;
    /// 23514 `check_violation`.
    pub const CHECK_VIOLATION: SqlState = SqlState::CHECK_VIOLATION;
    /// 23000 `integrity_constraint_violation`.
    pub const INTEGRITY_CONSTRAINT_VIOLATION: SqlState = SqlState::INTEGRITY_CONSTRAINT_VIOLATION;
    /// 25001 `active_sql_transaction`.
    pub const ACTIVE_SQL_TRANSACTION: SqlState = SqlState::ACTIVE_SQL_TRANSACTION;
    /// 25P01 `no_active_sql_transaction`.
    pub const NO_ACTIVE_SQL_TRANSACTION: SqlState = SqlState::NO_ACTIVE_SQL_TRANSACTION;
    /// 25P02 `in_failed_sql_transaction`.
    pub const IN_FAILED_SQL_TRANSACTION: SqlState = SqlState::IN_FAILED_SQL_TRANSACTION;
    /// 28000 `invalid_authorization_specification`.
    pub const INVALID_AUTHORIZATION_SPECIFICATION: SqlState =
        SqlState::INVALID_AUTHORIZATION_SPECIFICATION;
    /// 2BP01 `dependent_objects_still_exist`.
    pub const DEPENDENT_OBJECTS_STILL_EXIST: SqlState = SqlState::DEPENDENT_OBJECTS_STILL_EXIST;
    /// 26000 `invalid_sql_statement_name`.
    pub const INVALID_SQL_STATEMENT_NAME: SqlState = SqlState::INVALID_SQL_STATEMENT_NAME;
    /// 40001 `serialization_failure`.
    pub const SERIALIZATION_FAILURE: SqlState = SqlState::SERIALIZATION_FAILURE;
    /// 22004 `null_value_not_allowed`.
    pub const NULL_VALUE_NOT_ALLOWED: SqlState = SqlState::NULL_VALUE_NOT_ALLOWED;
    /// 42000 `syntax_error_or_access_rule_violation`.
    pub const SYNTAX_ERROR_OR_ACCESS_RULE_VIOLATION: SqlState =
        SqlState::SYNTAX_ERROR_OR_ACCESS_RULE_VIOLATION;
    /// 42601 `syntax_error`.
    pub const SYNTAX_ERROR: SqlState = SqlState::SYNTAX_ERROR;
    /// 42501 `insufficient_privilege`.
    pub const INSUFFICIENT_PRIVILEGE: SqlState = SqlState::INSUFFICIENT_PRIVILEGE;
    /// 42622 `name_too_long`.
    pub const NAME_TOO_LONG: SqlState = SqlState::NAME_TOO_LONG;
    /// 42939 `reserved_name`.
    pub const RESERVED_NAME: SqlState = SqlState::RESERVED_NAME;
    /// 42804 `datatype_mismatch`.
    pub const DATATYPE_MISMATCH: SqlState = SqlState::DATATYPE_MISMATCH;
    /// 42703 `undefined_column`.
    pub const UNDEFINED_COLUMN: SqlState = SqlState::UNDEFINED_COLUMN;
    /// 42883 `undefined_function`.
    pub const UNDEFINED_FUNCTION: SqlState = SqlState::UNDEFINED_FUNCTION;
    /// 42P01 `undefined_table`.
    pub const UNDEFINED_TABLE: SqlState = SqlState::UNDEFINED_TABLE;
    /// 42P02 `undefined_parameter`.
    pub const UNDEFINED_PARAMETER: SqlState = SqlState::UNDEFINED_PARAMETER;
    /// 42704 `undefined_object`.
    pub const UNDEFINED_OBJECT: SqlState = SqlState::UNDEFINED_OBJECT;
    /// 42710 `duplicate_object`.
    pub const DUPLICATE_OBJECT: SqlState = SqlState::DUPLICATE_OBJECT;
    /// 42P07 `duplicate_table`.
    pub const DUPLICATE_TABLE: SqlState = SqlState::DUPLICATE_TABLE;
    /// 42702 `ambiguous_column`.
    pub const AMBIGUOUS_COLUMN: SqlState = SqlState::AMBIGUOUS_COLUMN;
    /// 54000 `program_limit_exceeded`.
    pub const PROGRAM_LIMIT_EXCEEDED: SqlState = SqlState::PROGRAM_LIMIT_EXCEEDED;
    /// 53300 `too_many_connections`.
    pub const TOO_MANY_CONNECTIONS: SqlState = SqlState::TOO_MANY_CONNECTIONS;
    /// 55006 `object_in_use`.
    pub const OBJECT_IN_USE: SqlState = SqlState::OBJECT_IN_USE;
    /// 55P03 `lock_not_available`.
    pub const LOCK_NOT_AVAILABLE: SqlState = SqlState::LOCK_NOT_AVAILABLE;
    /// 57014 `query_canceled`.
    pub const QUERY_CANCELED: SqlState = SqlState::QUERY_CANCELED;
    /// 58000 `system_error`.
    pub const SYSTEM_ERROR: SqlState = SqlState::SYSTEM_ERROR;
    /// XX000 `internal_error`.
    pub const INTERNAL_ERROR: SqlState = SqlState::INTERNAL_ERROR;

    // Codes pgscram-wire does not name (yet).
    /// 2201B `invalid_regular_expression`.
    pub const INVALID_REGULAR_EXPRESSION: SqlState = local(b"2201B");
    /// 22P03 `invalid_binary_representation`.
    pub const INVALID_BINARY_REPRESENTATION: SqlState = local(b"22P03");
    /// 22025 `invalid_escape_sequence`.
    pub const INVALID_ESCAPE_SEQUENCE: SqlState = local(b"22025");
    /// 25006 `read_only_sql_transaction`.
    pub const READ_ONLY_SQL_TRANSACTION: SqlState = local(b"25006");
    /// 3B001 `invalid_savepoint_specification`.
    pub const INVALID_SAVEPOINT_SPECIFICATION: SqlState = local(b"3B001");
    /// 42803 `grouping_error`.
    pub const GROUPING_ERROR: SqlState = local(b"42803");
    /// 42846 `cannot_coerce`.
    pub const CANNOT_COERCE: SqlState = local(b"42846");
    /// 53100 `disk_full`.
    pub const DISK_FULL: SqlState = local(b"53100");
    /// 54001 `statement_too_complex`.
    pub const STATEMENT_TOO_COMPLEX: SqlState = local(b"54001");
    /// 55P02 `cant_change_runtime_param`.
    pub const CANT_CHANGE_RUNTIME_PARAM: SqlState = local(b"55P02");
    /// `object_not_in_prerequisite_state`.
    pub const OBJECT_NOT_IN_PREREQUISITE_STATE: SqlState = local(b"55000");
    /// XX001 `data_corrupted`.
    pub const DATA_CORRUPTED: SqlState = local(b"XX001");

    /// Builds a constant; an invalid literal fails the build.
    const fn local(code: &[u8; 5]) -> SqlState {
        match SqlState::from_bytes(*code) {
            Some(state) => state,
            None => panic!("invalid SQLSTATE literal"),
        }
    }
}

/// How loud a notice is (the `S`/`V` fields of a NoticeResponse).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Severity {
    /// `WARNING`.
    Warning,
    /// `NOTICE`.
    Notice,
    /// `INFO`.
    Info,
    /// `DEBUG`.
    Debug,
}

impl Severity {
    /// The word PostgreSQL puts in the severity field.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Warning => "WARNING",
            Severity::Notice => "NOTICE",
            Severity::Info => "INFO",
            Severity::Debug => "DEBUG",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A NoticeResponse: something the client should see that did not stop the statement.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Notice {
    /// The severity (`S`/`V` fields).
    pub severity: Severity,
    /// The SQLSTATE (`C` field).
    pub code: SqlState,
    /// The primary message (`M` field).
    pub message: String,
    /// The optional DETAIL line (`D` field).
    pub detail: Option<String>,
    /// The optional HINT line (`H` field).
    pub hint: Option<String>,
}

impl Notice {
    /// A plain NOTICE with code 00000.
    pub fn plain(message: impl Into<String>) -> Notice {
        Notice {
            severity: Severity::Notice,
            code: sqlstate::SUCCESSFUL_COMPLETION,
            message: message.into(),
            detail: None,
            hint: None,
        }
    }

    /// A WARNING with the given code.
    pub fn warning(code: SqlState, message: impl Into<String>) -> Notice {
        Notice {
            severity: Severity::Warning,
            code,
            message: message.into(),
            detail: None,
            hint: None,
        }
    }

    /// Adds a DETAIL line.
    pub fn with_detail(mut self, detail: impl Into<String>) -> Notice {
        self.detail = Some(detail.into());
        self
    }
}

/// An ERROR that ends a statement (the fields of an ErrorResponse with severity ERROR).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SqlError {
    /// The SQLSTATE (`C` field).
    pub code: SqlState,
    /// The primary message (`M` field).
    pub message: String,
    /// The optional DETAIL line (`D` field).
    pub detail: Option<String>,
    /// The optional HINT line (`H` field).
    pub hint: Option<String>,
}

impl SqlError {
    /// An error with the given code and message, without DETAIL or HINT.
    pub fn new(code: SqlState, message: impl Into<String>) -> SqlError {
        SqlError {
            code,
            message: message.into(),
            detail: None,
            hint: None,
        }
    }

    /// Adds a DETAIL line.
    pub fn with_detail(mut self, detail: impl Into<String>) -> SqlError {
        self.detail = Some(detail.into());
        self
    }

    /// Adds a HINT line.
    pub fn with_hint(mut self, hint: impl Into<String>) -> SqlError {
        self.hint = Some(hint.into());
        self
    }

    pub(crate) fn syntax(message: impl Into<String>) -> SqlError {
        SqlError::new(sqlstate::SYNTAX_ERROR, message)
    }

    pub(crate) fn unsupported(message: impl Into<String>) -> SqlError {
        SqlError::new(sqlstate::FEATURE_NOT_SUPPORTED, message)
    }

    pub(crate) fn role_missing(name: &str) -> SqlError {
        SqlError::new(
            sqlstate::UNDEFINED_OBJECT,
            format!("role \"{name}\" does not exist"),
        )
    }

    pub(crate) fn internal(message: impl Into<String>) -> SqlError {
        SqlError::new(sqlstate::INTERNAL_ERROR, message)
    }
}

impl fmt::Display for SqlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)?;
        if let Some(detail) = &self.detail {
            write!(f, " (DETAIL: {detail})")?;
        }
        Ok(())
    }
}

impl std::error::Error for SqlError {}

/// Errors from the calls the authentication layer and the server make outside a
/// session: opening the file, reading the catalog, bootstrapping.
#[derive(Debug)]
#[non_exhaustive]
pub enum DbError {
    /// SQLite failed (I/O, a locked or corrupt file, a full disk).
    Sqlite(rusqlite::Error),
    /// The file holds a catalog from a newer pgscram (schema version we do not know).
    UnknownSchemaVersion(i64),
    /// The catalog holds a value this version cannot read (a hand-edited file).
    CorruptCatalog(String),
    /// A request was refused for a reason PostgreSQL would report with a SQLSTATE
    /// (bad role name, bad password secret, no random numbers).
    Rejected(SqlError),
}

impl fmt::Display for DbError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DbError::Sqlite(e) => write!(f, "embedded database error: {e}"),
            DbError::UnknownSchemaVersion(v) => write!(
                f,
                "the database file has catalog schema version {v}, which this pgscram does not know"
            ),
            DbError::CorruptCatalog(what) => write!(f, "the role catalog is corrupt: {what}"),
            DbError::Rejected(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for DbError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            DbError::Sqlite(e) => Some(e),
            DbError::Rejected(e) => Some(e),
            _ => None,
        }
    }
}

impl From<rusqlite::Error> for DbError {
    fn from(e: rusqlite::Error) -> DbError {
        DbError::Sqlite(e)
    }
}

impl From<SqlError> for DbError {
    fn from(e: SqlError) -> DbError {
        DbError::Rejected(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sql_error_display_has_code_message_and_detail() {
        let e = SqlError::new(sqlstate::INSUFFICIENT_PRIVILEGE, "permission denied")
            .with_detail("because");
        assert_eq!(e.to_string(), "42501: permission denied (DETAIL: because)");
        assert_eq!(e.code.as_str(), "42501");
    }

    #[test]
    fn local_codes_are_valid() {
        use sqlstate::*;
        for s in [
            INVALID_REGULAR_EXPRESSION,
            INVALID_SAVEPOINT_SPECIFICATION,
            CANT_CHANGE_RUNTIME_PARAM,
            CANNOT_COERCE,
            SUCCESSFUL_COMPLETION,
            WARNING_DEPRECATED_FEATURE,
            IN_FAILED_SQL_TRANSACTION,
            INSUFFICIENT_PRIVILEGE,
            PROGRAM_LIMIT_EXCEEDED,
            INTERNAL_ERROR,
            INVALID_REGULAR_EXPRESSION,
        ] {
            assert_eq!(s.as_str().len(), 5);
            assert!(s.as_str().bytes().all(|b| b.is_ascii_alphanumeric()));
        }
    }

    #[test]
    fn db_error_wraps_rejections() {
        let e = DbError::from(SqlError::role_missing("bob"));
        assert_eq!(e.to_string(), "42704: role \"bob\" does not exist");
    }
}
