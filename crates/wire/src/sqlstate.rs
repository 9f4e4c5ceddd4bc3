//! SQLSTATE codes: the five characters PostgreSQL puts in the `C` field of an
//! ErrorResponse or NoticeResponse. Clients branch on them (libpq, drivers, psql
//! scripts), so every code pgscram reports is a named constant here and nobody spells
//! one by hand. Each constant also knows its condition name from PostgreSQL's
//! `errcodes.txt` (`invalid_password`), which is what PL/pgSQL and logs show.

use std::fmt;
use std::str::FromStr;

/// A validated SQLSTATE: exactly five ASCII digits or upper-case letters.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SqlState([u8; 5]);

impl SqlState {
    /// Accepts exactly five characters from `0-9A-Z`, as the SQL standard defines them.
    pub const fn from_bytes(code: [u8; 5]) -> Option<SqlState> {
        let mut i = 0;
        while i < 5 {
            if !(code[i].is_ascii_digit() || code[i].is_ascii_uppercase()) {
                return None;
            }
            i += 1;
        }
        Some(SqlState(code))
    }

    /// Parses a code received from the wire or typed by a user.
    pub fn parse(code: &str) -> Option<SqlState> {
        let bytes: [u8; 5] = code.as_bytes().try_into().ok()?;
        SqlState::from_bytes(bytes)
    }

    /// Builds the named constants; an invalid literal fails the build, not a run.
    const fn known(code: &[u8; 5]) -> SqlState {
        match SqlState::from_bytes(*code) {
            Some(state) => state,
            None => panic!("invalid SQLSTATE literal"),
        }
    }

    /// The five characters, e.g. `"28P01"`.
    pub fn as_str(&self) -> &str {
        // Validated ASCII at construction, so this never takes the fallback.
        std::str::from_utf8(&self.0).unwrap_or("XX000")
    }

    /// The raw code bytes.
    pub const fn as_bytes(&self) -> &[u8; 5] {
        &self.0
    }

    /// The class: the first two characters (`"28"` for every authentication failure).
    pub fn class(&self) -> &str {
        self.as_str().get(..2).unwrap_or("XX")
    }

    /// Class 00: not an error at all.
    pub fn is_success(&self) -> bool {
        self.class() == "00"
    }

    /// Class 01: a warning, sent in a NoticeResponse.
    pub fn is_warning(&self) -> bool {
        self.class() == "01"
    }

    /// PostgreSQL's condition name for a code this crate names, e.g. `invalid_password`.
    pub fn condition_name(&self) -> Option<&'static str> {
        KNOWN
            .iter()
            .find(|(state, _)| state == self)
            .map(|(_, name)| *name)
    }
}

impl fmt::Display for SqlState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for SqlState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SqlState({})", self.as_str())
    }
}

/// The error of [`SqlState::from_str`]: the text is not a well-formed SQLSTATE.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidSqlState;

impl fmt::Display for InvalidSqlState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a SQLSTATE is five digits or upper-case letters")
    }
}

impl std::error::Error for InvalidSqlState {}

impl FromStr for SqlState {
    type Err = InvalidSqlState;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        SqlState::parse(s).ok_or(InvalidSqlState)
    }
}

macro_rules! sqlstates {
    ($($(#[$doc:meta])* $name:ident = $code:literal, $condition:literal;)*) => {
        impl SqlState {
            $($(#[$doc])* pub const $name: SqlState = SqlState::known($code);)*
        }

        /// Every named code with its condition name, for lookups and tests.
        const KNOWN: &[(SqlState, &str)] = &[$((SqlState::$name, $condition)),*];
    };
}

sqlstates! {
    /// 00000: the `C` field of a plain NOTICE.
    SUCCESSFUL_COMPLETION = b"00000", "successful_completion";
    /// 01000: a generic WARNING.
    WARNING = b"01000", "warning";
    /// 01P01: e.g. `setting an MD5-encrypted password` (PostgreSQL 18).
    WARNING_DEPRECATED_FEATURE = b"01P01", "deprecated_feature";
    /// 08000: the connection broke.
    CONNECTION_EXCEPTION = b"08000", "connection_exception";
    /// 08006: the connection failed mid-way.
    CONNECTION_FAILURE = b"08006", "connection_failure";
    /// 08001: a client could not establish the connection.
    SQLCLIENT_UNABLE_TO_ESTABLISH_SQLCONNECTION = b"08001", "sqlclient_unable_to_establish_sqlconnection";
    /// 08004: the server refused the connection.
    SQLSERVER_REJECTED_ESTABLISHMENT_OF_SQLCONNECTION = b"08004", "sqlserver_rejected_establishment_of_sqlconnection";
    /// 08P01: malformed messages, wrong message types, bad lengths.
    PROTOCOL_VIOLATION = b"08P01", "protocol_violation";
    /// 0A000: e.g. an unsupported protocol version or SCRAM extension.
    FEATURE_NOT_SUPPORTED = b"0A000", "feature_not_supported";
    /// 0L000: invalid grantor.
    INVALID_GRANTOR = b"0L000", "invalid_grantor";
    /// 0LP01: e.g. granting a role to itself.
    INVALID_GRANT_OPERATION = b"0LP01", "invalid_grant_operation";
    /// 22001: a value too long for its column.
    STRING_DATA_RIGHT_TRUNCATION = b"22001", "string_data_right_truncation";
    /// 22003: numeric value out of range.
    NUMERIC_VALUE_OUT_OF_RANGE = b"22003", "numeric_value_out_of_range";
    /// 22004: NULL where it is not allowed.
    NULL_VALUE_NOT_ALLOWED = b"22004", "null_value_not_allowed";
    /// 22007: a date or time in an unknown format.
    INVALID_DATETIME_FORMAT = b"22007", "invalid_datetime_format";
    /// 22012: division by zero.
    DIVISION_BY_ZERO = b"22012", "division_by_zero";
    /// 22021: bytes that are not valid in the encoding (UTF-8 here).
    CHARACTER_NOT_IN_REPERTOIRE = b"22021", "character_not_in_repertoire";
    /// 22023: e.g. a bad setting value or an unsupported format code.
    INVALID_PARAMETER_VALUE = b"22023", "invalid_parameter_value";
    /// 22P02: text that does not parse as the requested type.
    INVALID_TEXT_REPRESENTATION = b"22P02", "invalid_text_representation";
    /// 23000: generic integrity constraint violation.
    INTEGRITY_CONSTRAINT_VIOLATION = b"23000", "integrity_constraint_violation";
    /// 23502: NOT NULL violated.
    NOT_NULL_VIOLATION = b"23502", "not_null_violation";
    /// 23503: foreign key violated.
    FOREIGN_KEY_VIOLATION = b"23503", "foreign_key_violation";
    /// 23505: unique constraint violated.
    UNIQUE_VIOLATION = b"23505", "unique_violation";
    /// 23514: CHECK constraint violated.
    CHECK_VIOLATION = b"23514", "check_violation";
    /// 25001: the command cannot run inside a transaction block.
    ACTIVE_SQL_TRANSACTION = b"25001", "active_sql_transaction";
    /// 25P01: the command needs a transaction block.
    NO_ACTIVE_SQL_TRANSACTION = b"25P01", "no_active_sql_transaction";
    /// 25P02: `current transaction is aborted, commands ignored until end of transaction block`.
    IN_FAILED_SQL_TRANSACTION = b"25P02", "in_failed_sql_transaction";
    /// 26000: unknown prepared statement.
    INVALID_SQL_STATEMENT_NAME = b"26000", "invalid_sql_statement_name";
    /// 28000: no pg_hba.conf entry, role not permitted to log in, channel binding failures.
    INVALID_AUTHORIZATION_SPECIFICATION = b"28000", "invalid_authorization_specification";
    /// 28P01: every credential failure, whatever the reason.
    INVALID_PASSWORD = b"28P01", "invalid_password";
    /// 2BP01: e.g. dropping a role that still owns objects.
    DEPENDENT_OBJECTS_STILL_EXIST = b"2BP01", "dependent_objects_still_exist";
    /// 34000: unknown portal.
    INVALID_CURSOR_NAME = b"34000", "invalid_cursor_name";
    /// 3D000: `database "x" does not exist` (only after authentication).
    INVALID_CATALOG_NAME = b"3D000", "invalid_catalog_name";
    /// 3F000: unknown schema.
    INVALID_SCHEMA_NAME = b"3F000", "invalid_schema_name";
    /// 40001: serialization failure; the client may retry.
    SERIALIZATION_FAILURE = b"40001", "serialization_failure";
    /// 40P01: deadlock detected.
    DEADLOCK_DETECTED = b"40P01", "deadlock_detected";
    /// 42000: generic syntax error or access rule violation.
    SYNTAX_ERROR_OR_ACCESS_RULE_VIOLATION = b"42000", "syntax_error_or_access_rule_violation";
    /// 42501: permission denied.
    INSUFFICIENT_PRIVILEGE = b"42501", "insufficient_privilege";
    /// 42601: syntax error.
    SYNTAX_ERROR = b"42601", "syntax_error";
    /// 42602: an invalid name.
    INVALID_NAME = b"42602", "invalid_name";
    /// 42622: a name longer than allowed.
    NAME_TOO_LONG = b"42622", "name_too_long";
    /// 42702: an ambiguous column reference.
    AMBIGUOUS_COLUMN = b"42702", "ambiguous_column";
    /// 42703: unknown column.
    UNDEFINED_COLUMN = b"42703", "undefined_column";
    /// 42704: unknown object, e.g. `role "x" does not exist` or an unknown setting.
    UNDEFINED_OBJECT = b"42704", "undefined_object";
    /// 42710: e.g. `role "x" already exists`.
    DUPLICATE_OBJECT = b"42710", "duplicate_object";
    /// 42804: datatype mismatch.
    DATATYPE_MISMATCH = b"42804", "datatype_mismatch";
    /// 42883: unknown function.
    UNDEFINED_FUNCTION = b"42883", "undefined_function";
    /// 42939: a reserved name, e.g. a role called `public`.
    RESERVED_NAME = b"42939", "reserved_name";
    /// 42P01: unknown table.
    UNDEFINED_TABLE = b"42P01", "undefined_table";
    /// 42P02: a `$n` parameter that does not exist.
    UNDEFINED_PARAMETER = b"42P02", "undefined_parameter";
    /// 42P03: a portal name already in use.
    DUPLICATE_CURSOR = b"42P03", "duplicate_cursor";
    /// 42P04: `database "x" already exists`.
    DUPLICATE_DATABASE = b"42P04", "duplicate_database";
    /// 42P05: a prepared statement name already in use.
    DUPLICATE_PREPARED_STATEMENT = b"42P05", "duplicate_prepared_statement";
    /// 42P07: `relation "x" already exists`.
    DUPLICATE_TABLE = b"42P07", "duplicate_table";
    /// 53000: insufficient resources.
    INSUFFICIENT_RESOURCES = b"53000", "insufficient_resources";
    /// 53200: out of memory.
    OUT_OF_MEMORY = b"53200", "out_of_memory";
    /// 53300: `sorry, too many clients already`.
    TOO_MANY_CONNECTIONS = b"53300", "too_many_connections";
    /// 54000: e.g. `encrypted password is too long`.
    PROGRAM_LIMIT_EXCEEDED = b"54000", "program_limit_exceeded";
    /// 55000: object not in prerequisite state.
    OBJECT_NOT_IN_PREREQUISITE_STATE = b"55000", "object_not_in_prerequisite_state";
    /// 55006: e.g. dropping the role or database a session is using.
    OBJECT_IN_USE = b"55006", "object_in_use";
    /// 55P03: lock not available.
    LOCK_NOT_AVAILABLE = b"55P03", "lock_not_available";
    /// 57014: `canceling statement due to user request`.
    QUERY_CANCELED = b"57014", "query_canceled";
    /// 57P01: `terminating connection due to administrator command`.
    ADMIN_SHUTDOWN = b"57P01", "admin_shutdown";
    /// 57P02: crash shutdown.
    CRASH_SHUTDOWN = b"57P02", "crash_shutdown";
    /// 57P03: `the database system is starting up` and friends.
    CANNOT_CONNECT_NOW = b"57P03", "cannot_connect_now";
    /// 58000: an operating-system error.
    SYSTEM_ERROR = b"58000", "system_error";
    /// 58030: an I/O error.
    IO_ERROR = b"58030", "io_error";
    /// XX000: internal error; a bug, never a user mistake.
    INTERNAL_ERROR = b"XX000", "internal_error";
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn named_codes_are_unique_and_named_once() {
        let codes: HashSet<_> = KNOWN.iter().map(|(s, _)| *s).collect();
        let names: HashSet<_> = KNOWN.iter().map(|(_, n)| *n).collect();
        assert_eq!(codes.len(), KNOWN.len());
        assert_eq!(names.len(), KNOWN.len());
    }

    #[test]
    fn display_and_parse_round_trip() {
        for (state, _) in KNOWN {
            assert_eq!(SqlState::parse(&state.to_string()), Some(*state));
            assert_eq!(state.as_str().parse::<SqlState>(), Ok(*state));
        }
        assert_eq!(SqlState::INVALID_PASSWORD.to_string(), "28P01");
        assert_eq!(
            format!("{:?}", SqlState::PROTOCOL_VIOLATION),
            "SqlState(08P01)"
        );
    }

    #[test]
    fn brief_codes_have_the_right_values() {
        let expected = [
            (SqlState::INVALID_PASSWORD, "28P01"),
            (SqlState::INVALID_AUTHORIZATION_SPECIFICATION, "28000"),
            (SqlState::PROTOCOL_VIOLATION, "08P01"),
            (SqlState::FEATURE_NOT_SUPPORTED, "0A000"),
            (SqlState::TOO_MANY_CONNECTIONS, "53300"),
            (SqlState::INVALID_CATALOG_NAME, "3D000"),
            (SqlState::INSUFFICIENT_PRIVILEGE, "42501"),
            (SqlState::SYNTAX_ERROR, "42601"),
            (SqlState::UNDEFINED_OBJECT, "42704"),
            (SqlState::DUPLICATE_OBJECT, "42710"),
            (SqlState::UNDEFINED_TABLE, "42P01"),
            (SqlState::UNDEFINED_FUNCTION, "42883"),
            (SqlState::INVALID_PARAMETER_VALUE, "22023"),
            (SqlState::INVALID_TEXT_REPRESENTATION, "22P02"),
            (SqlState::PROGRAM_LIMIT_EXCEEDED, "54000"),
            (SqlState::QUERY_CANCELED, "57014"),
            (SqlState::ADMIN_SHUTDOWN, "57P01"),
            (SqlState::IN_FAILED_SQL_TRANSACTION, "25P02"),
            (SqlState::INVALID_GRANT_OPERATION, "0LP01"),
            (SqlState::DEPENDENT_OBJECTS_STILL_EXIST, "2BP01"),
            (SqlState::OBJECT_IN_USE, "55006"),
            (SqlState::WARNING_DEPRECATED_FEATURE, "01P01"),
            (SqlState::SUCCESSFUL_COMPLETION, "00000"),
            (SqlState::SERIALIZATION_FAILURE, "40001"),
            (SqlState::UNIQUE_VIOLATION, "23505"),
            (SqlState::NOT_NULL_VIOLATION, "23502"),
            (SqlState::FOREIGN_KEY_VIOLATION, "23503"),
            (SqlState::UNDEFINED_COLUMN, "42703"),
            (SqlState::INTERNAL_ERROR, "XX000"),
        ];
        for (state, code) in expected {
            assert_eq!(state.as_str(), code);
        }
    }

    #[test]
    fn rejects_malformed_codes() {
        for bad in ["", "2800", "280001", "28p01", "28 01", "28P0\u{e9}"] {
            assert_eq!(SqlState::parse(bad), None, "{bad:?}");
            assert!(bad.parse::<SqlState>().is_err());
        }
    }

    #[test]
    fn class_and_kind() {
        assert_eq!(SqlState::INVALID_PASSWORD.class(), "28");
        assert!(SqlState::SUCCESSFUL_COMPLETION.is_success());
        assert!(SqlState::WARNING_DEPRECATED_FEATURE.is_warning());
        assert!(!SqlState::INVALID_PASSWORD.is_warning());
        assert_eq!(
            SqlState::INVALID_PASSWORD.condition_name(),
            Some("invalid_password")
        );
        assert_eq!(
            SqlState::parse("P0001").and_then(|s| s.condition_name()),
            None
        );
    }
}
