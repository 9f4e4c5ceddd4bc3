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

    pub const SUCCESSFUL_COMPLETION: SqlState = SqlState::SUCCESSFUL_COMPLETION;
    pub const WARNING: SqlState = SqlState::WARNING;
    pub const WARNING_DEPRECATED_FEATURE: SqlState = SqlState::WARNING_DEPRECATED_FEATURE;
    pub const PROTOCOL_VIOLATION: SqlState = SqlState::PROTOCOL_VIOLATION;
    pub const FEATURE_NOT_SUPPORTED: SqlState = SqlState::FEATURE_NOT_SUPPORTED;
    pub const INVALID_GRANT_OPERATION: SqlState = SqlState::INVALID_GRANT_OPERATION;
    pub const NUMERIC_VALUE_OUT_OF_RANGE: SqlState = SqlState::NUMERIC_VALUE_OUT_OF_RANGE;
    pub const INVALID_DATETIME_FORMAT: SqlState = SqlState::INVALID_DATETIME_FORMAT;
    pub const CHARACTER_NOT_IN_REPERTOIRE: SqlState = SqlState::CHARACTER_NOT_IN_REPERTOIRE;
    pub const INVALID_PARAMETER_VALUE: SqlState = SqlState::INVALID_PARAMETER_VALUE;
    pub const INVALID_TEXT_REPRESENTATION: SqlState = SqlState::INVALID_TEXT_REPRESENTATION;
    pub const NOT_NULL_VIOLATION: SqlState = SqlState::NOT_NULL_VIOLATION;
    pub const FOREIGN_KEY_VIOLATION: SqlState = SqlState::FOREIGN_KEY_VIOLATION;
    pub const UNIQUE_VIOLATION: SqlState = SqlState::UNIQUE_VIOLATION;
    pub const CHECK_VIOLATION: SqlState = SqlState::CHECK_VIOLATION;
    pub const INTEGRITY_CONSTRAINT_VIOLATION: SqlState = SqlState::INTEGRITY_CONSTRAINT_VIOLATION;
    pub const ACTIVE_SQL_TRANSACTION: SqlState = SqlState::ACTIVE_SQL_TRANSACTION;
    pub const NO_ACTIVE_SQL_TRANSACTION: SqlState = SqlState::NO_ACTIVE_SQL_TRANSACTION;
    pub const IN_FAILED_SQL_TRANSACTION: SqlState = SqlState::IN_FAILED_SQL_TRANSACTION;
    pub const INVALID_AUTHORIZATION_SPECIFICATION: SqlState =
        SqlState::INVALID_AUTHORIZATION_SPECIFICATION;
    pub const DEPENDENT_OBJECTS_STILL_EXIST: SqlState = SqlState::DEPENDENT_OBJECTS_STILL_EXIST;
    pub const INVALID_SQL_STATEMENT_NAME: SqlState = SqlState::INVALID_SQL_STATEMENT_NAME;
    pub const SERIALIZATION_FAILURE: SqlState = SqlState::SERIALIZATION_FAILURE;
    pub const SYNTAX_ERROR_OR_ACCESS_RULE_VIOLATION: SqlState =
        SqlState::SYNTAX_ERROR_OR_ACCESS_RULE_VIOLATION;
    pub const SYNTAX_ERROR: SqlState = SqlState::SYNTAX_ERROR;
    pub const INSUFFICIENT_PRIVILEGE: SqlState = SqlState::INSUFFICIENT_PRIVILEGE;
    pub const NAME_TOO_LONG: SqlState = SqlState::NAME_TOO_LONG;
    pub const RESERVED_NAME: SqlState = SqlState::RESERVED_NAME;
    pub const DATATYPE_MISMATCH: SqlState = SqlState::DATATYPE_MISMATCH;
    pub const UNDEFINED_COLUMN: SqlState = SqlState::UNDEFINED_COLUMN;
    pub const UNDEFINED_FUNCTION: SqlState = SqlState::UNDEFINED_FUNCTION;
    pub const UNDEFINED_TABLE: SqlState = SqlState::UNDEFINED_TABLE;
    pub const UNDEFINED_PARAMETER: SqlState = SqlState::UNDEFINED_PARAMETER;
    pub const UNDEFINED_OBJECT: SqlState = SqlState::UNDEFINED_OBJECT;
    pub const DUPLICATE_OBJECT: SqlState = SqlState::DUPLICATE_OBJECT;
    pub const DUPLICATE_TABLE: SqlState = SqlState::DUPLICATE_TABLE;
    pub const AMBIGUOUS_COLUMN: SqlState = SqlState::AMBIGUOUS_COLUMN;
    pub const PROGRAM_LIMIT_EXCEEDED: SqlState = SqlState::PROGRAM_LIMIT_EXCEEDED;
    pub const TOO_MANY_CONNECTIONS: SqlState = SqlState::TOO_MANY_CONNECTIONS;
    pub const OBJECT_IN_USE: SqlState = SqlState::OBJECT_IN_USE;
    pub const LOCK_NOT_AVAILABLE: SqlState = SqlState::LOCK_NOT_AVAILABLE;
    pub const QUERY_CANCELED: SqlState = SqlState::QUERY_CANCELED;
    pub const SYSTEM_ERROR: SqlState = SqlState::SYSTEM_ERROR;
    pub const INTERNAL_ERROR: SqlState = SqlState::INTERNAL_ERROR;

    // Codes pgscram-wire does not name (yet).
    pub const INVALID_REGULAR_EXPRESSION: SqlState = local(b"2201B");
    pub const INVALID_BINARY_REPRESENTATION: SqlState = local(b"22P03");
    pub const INVALID_ESCAPE_SEQUENCE: SqlState = local(b"22025");
    pub const READ_ONLY_SQL_TRANSACTION: SqlState = local(b"25006");
    pub const INVALID_SAVEPOINT_SPECIFICATION: SqlState = local(b"3B001");
    pub const GROUPING_ERROR: SqlState = local(b"42803");
    pub const CANNOT_COERCE: SqlState = local(b"42846");
    pub const DISK_FULL: SqlState = local(b"53100");
    pub const STATEMENT_TOO_COMPLEX: SqlState = local(b"54001");
    pub const CANT_CHANGE_RUNTIME_PARAM: SqlState = local(b"55P02");
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
    Warning,
    Notice,
    Info,
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
    pub severity: Severity,
    pub code: SqlState,
    pub message: String,
    pub detail: Option<String>,
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
    pub code: SqlState,
    pub message: String,
    pub detail: Option<String>,
    pub hint: Option<String>,
}

impl SqlError {
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
