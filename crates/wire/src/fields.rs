//! ErrorResponse and NoticeResponse share one body: a list of `(code byte, text)`
//! fields ended by a zero byte. [`ErrorFields`] holds them for both.
//!
//! ```text
//!  'E'|'N' | len | 'S' "FATAL" NUL 'V' "FATAL" NUL 'C' "28P01" NUL 'M' "..." NUL ... | 0
//! ```
//!
//! Decoding keeps unknown field codes (the protocol tells clients to ignore them, a
//! proxy must pass them on) and reads text lossily: an error report from a server
//! with an odd client_encoding is still shown rather than lost.

use std::fmt;

use crate::read::Reader;
use crate::{DecodeError, EncodeError, SqlState, write};

/// How bad it is. ERROR, FATAL and PANIC come in ErrorResponse; the rest in
/// NoticeResponse.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Severity {
    /// The current command is aborted.
    Error,
    /// The session is ended.
    Fatal,
    /// Every session is ended: the server restarts.
    Panic,
    /// Something the user probably did not intend.
    Warning,
    /// Information the user may find helpful.
    Notice,
    /// Developer detail (`DEBUG1`-`DEBUG5` all send `DEBUG`).
    Debug,
    /// Information the user asked for, e.g. by `VACUUM VERBOSE`.
    Info,
    /// Administrator information, sent to clients only if `client_min_messages` allows.
    Log,
}

impl Severity {
    /// The non-localized name PostgreSQL sends in the `V` field.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "ERROR",
            Severity::Fatal => "FATAL",
            Severity::Panic => "PANIC",
            Severity::Warning => "WARNING",
            Severity::Notice => "NOTICE",
            Severity::Debug => "DEBUG",
            Severity::Info => "INFO",
            Severity::Log => "LOG",
        }
    }

    /// Reads a non-localized severity name; `None` for anything else.
    pub fn parse(text: &str) -> Option<Severity> {
        Some(match text {
            "ERROR" => Severity::Error,
            "FATAL" => Severity::Fatal,
            "PANIC" => Severity::Panic,
            "WARNING" => Severity::Warning,
            "NOTICE" => Severity::Notice,
            "DEBUG" => Severity::Debug,
            "INFO" => Severity::Info,
            "LOG" => Severity::Log,
            _ => return None,
        })
    }

    /// True for the severities that end a query (ERROR) or the session (FATAL, PANIC).
    pub fn is_error(self) -> bool {
        matches!(self, Severity::Error | Severity::Fatal | Severity::Panic)
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The fields of an ErrorResponse or NoticeResponse.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ErrorFields {
    /// `V` (or `S` from servers older than 9.6).
    pub severity: Severity,
    /// `S` when it differs from `V`: a translated severity, kept for display.
    pub localized_severity: Option<String>,
    /// `C`.
    pub code: SqlState,
    /// `M`: the primary message, one line, no trailing period.
    pub message: String,
    /// `D`: a secondary message with more detail.
    pub detail: Option<String>,
    /// `H`: a suggestion what to do about it.
    pub hint: Option<String>,
    /// `P`: 1-based character position in the query.
    pub position: Option<u32>,
    /// `p`: position in `internal_query`.
    pub internal_position: Option<u32>,
    /// `q`: the internally generated command that failed.
    pub internal_query: Option<String>,
    /// `W`: the context (call stack) of the error.
    pub context: Option<String>,
    /// `s`
    pub schema: Option<String>,
    /// `t`
    pub table: Option<String>,
    /// `c`
    pub column: Option<String>,
    /// `d`
    pub data_type: Option<String>,
    /// `n`
    pub constraint: Option<String>,
    /// `F`: source file that reported the error.
    pub file: Option<String>,
    /// `L`: source line.
    pub line: Option<u32>,
    /// `R`: source routine.
    pub routine: Option<String>,
    /// Fields with codes this crate does not know, in the order received.
    pub unknown: Vec<(u8, String)>,
}

/// A NoticeResponse carries the same fields.
pub type Notice = ErrorFields;

impl ErrorFields {
    /// The three fields every report has; the optional ones start empty.
    pub fn new(severity: Severity, code: SqlState, message: impl Into<String>) -> ErrorFields {
        ErrorFields {
            severity,
            localized_severity: None,
            code,
            message: message.into(),
            detail: None,
            hint: None,
            position: None,
            internal_position: None,
            internal_query: None,
            context: None,
            schema: None,
            table: None,
            column: None,
            data_type: None,
            constraint: None,
            file: None,
            line: None,
            routine: None,
            unknown: Vec::new(),
        }
    }

    /// Ends the session, e.g. `FATAL 28P01 password authentication failed for user "u"`.
    pub fn fatal(code: SqlState, message: impl Into<String>) -> ErrorFields {
        ErrorFields::new(Severity::Fatal, code, message)
    }

    /// Ends the current query or transaction; the session goes on.
    pub fn error(code: SqlState, message: impl Into<String>) -> ErrorFields {
        ErrorFields::new(Severity::Error, code, message)
    }

    /// A WARNING, sent in a NoticeResponse.
    pub fn warning(code: SqlState, message: impl Into<String>) -> ErrorFields {
        ErrorFields::new(Severity::Warning, code, message)
    }

    /// A NOTICE; PostgreSQL gives notices code 00000 unless they say otherwise.
    pub fn notice(message: impl Into<String>) -> ErrorFields {
        ErrorFields::new(Severity::Notice, SqlState::SUCCESSFUL_COMPLETION, message)
    }

    /// Sets `D`, the DETAIL line.
    pub fn with_detail(mut self, detail: impl Into<String>) -> ErrorFields {
        self.detail = Some(detail.into());
        self
    }

    /// Sets `H`, the HINT line.
    pub fn with_hint(mut self, hint: impl Into<String>) -> ErrorFields {
        self.hint = Some(hint.into());
        self
    }

    /// Sets `P`, the 1-based character position in the query.
    pub fn with_position(mut self, position: u32) -> ErrorFields {
        self.position = Some(position);
        self
    }

    /// Sets `W`, the CONTEXT.
    pub fn with_context(mut self, context: impl Into<String>) -> ErrorFields {
        self.context = Some(context.into());
        self
    }

    /// Sets `R`, the source routine that reported the error.
    pub fn with_routine(mut self, routine: impl Into<String>) -> ErrorFields {
        self.routine = Some(routine.into());
        self
    }

    /// The fields in the order PostgreSQL sends them.
    fn fields(&self) -> Vec<(u8, String)> {
        let texts = [
            (
                b'S',
                self.localized_severity
                    .clone()
                    .or_else(|| Some(self.severity.as_str().to_owned())),
            ),
            (b'V', Some(self.severity.as_str().to_owned())),
            (b'C', Some(self.code.as_str().to_owned())),
            (b'M', Some(self.message.clone())),
            (b'D', self.detail.clone()),
            (b'H', self.hint.clone()),
            (b'P', self.position.map(|p| p.to_string())),
            (b'p', self.internal_position.map(|p| p.to_string())),
            (b'q', self.internal_query.clone()),
            (b'W', self.context.clone()),
            (b's', self.schema.clone()),
            (b't', self.table.clone()),
            (b'c', self.column.clone()),
            (b'd', self.data_type.clone()),
            (b'n', self.constraint.clone()),
            (b'F', self.file.clone()),
            (b'L', self.line.map(|l| l.to_string())),
            (b'R', self.routine.clone()),
        ];
        texts
            .into_iter()
            .filter_map(|(code, text)| text.map(|t| (code, t)))
            .chain(self.unknown.iter().cloned())
            .collect()
    }

    pub(crate) fn encode_body(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        for (code, text) in self.fields() {
            if code == 0 {
                return Err(EncodeError::EmptyString {
                    field: "error field code",
                });
            }
            out.push(code);
            write::cstr(out, text.as_bytes(), "error field")?;
        }
        out.push(0);
        Ok(())
    }

    pub(crate) fn decode_body(body: &[u8]) -> Result<ErrorFields, DecodeError> {
        let mut r = Reader::new(body);
        let mut raw: Vec<(u8, String)> = Vec::new();
        loop {
            let code = r.u8()?;
            if code == 0 {
                break;
            }
            let text = String::from_utf8_lossy(r.cstr()?).into_owned();
            raw.push((code, text));
        }
        r.finish()?;
        ErrorFields::from_raw(raw)
    }

    fn from_raw(raw: Vec<(u8, String)>) -> Result<ErrorFields, DecodeError> {
        let last = |code: u8| {
            raw.iter()
                .rev()
                .find(|(c, _)| *c == code)
                .map(|(_, t)| t.clone())
        };
        let number = |code: u8| -> Result<Option<u32>, DecodeError> {
            last(code)
                .map(|t| t.parse().map_err(|_| DecodeError::InvalidErrorField(code)))
                .transpose()
        };
        let localized = last(b'S');
        let severity = match (last(b'V'), &localized) {
            (Some(v), _) => Severity::parse(&v).ok_or(DecodeError::InvalidErrorField(b'V'))?,
            (None, Some(s)) => Severity::parse(s).ok_or(DecodeError::InvalidErrorField(b'S'))?,
            (None, None) => return Err(DecodeError::MissingErrorField(b'S')),
        };
        let code = last(b'C').ok_or(DecodeError::MissingErrorField(b'C'))?;
        let code = SqlState::parse(&code).ok_or(DecodeError::InvalidErrorField(b'C'))?;
        let message = last(b'M').ok_or(DecodeError::MissingErrorField(b'M'))?;
        Ok(ErrorFields {
            localized_severity: localized.filter(|s| s != severity.as_str()),
            severity,
            code,
            message,
            detail: last(b'D'),
            hint: last(b'H'),
            position: number(b'P')?,
            internal_position: number(b'p')?,
            internal_query: last(b'q'),
            context: last(b'W'),
            schema: last(b's'),
            table: last(b't'),
            column: last(b'c'),
            data_type: last(b'd'),
            constraint: last(b'n'),
            file: last(b'F'),
            line: number(b'L')?,
            routine: last(b'R'),
            unknown: raw
                .into_iter()
                .filter(|(c, _)| !b"SVCMDHPpqWstcdnFLR".contains(c))
                .collect(),
        })
    }
}

/// psql's layout: `FATAL:  message`, then DETAIL and HINT lines when present.
impl fmt::Display for ErrorFields {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:  {}", self.severity, self.message)?;
        if let Some(detail) = &self.detail {
            write!(f, "\nDETAIL:  {detail}")?;
        }
        if let Some(hint) = &self.hint {
            write!(f, "\nHINT:  {hint}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ErrorFields {}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(fields: &ErrorFields) -> ErrorFields {
        let mut body = Vec::new();
        fields.encode_body(&mut body).unwrap();
        ErrorFields::decode_body(&body).unwrap()
    }

    #[test]
    fn postgres_auth_failure_layout() {
        let fields = ErrorFields::fatal(
            SqlState::INVALID_PASSWORD,
            "password authentication failed for user \"u\"",
        );
        let mut body = Vec::new();
        fields.encode_body(&mut body).unwrap();
        assert_eq!(
            body,
            b"SFATAL\0VFATAL\0C28P01\0Mpassword authentication failed for user \"u\"\0\0"
        );
        assert_eq!(round_trip(&fields), fields);
    }

    #[test]
    fn every_field_round_trips() {
        let mut fields =
            ErrorFields::error(SqlState::SYNTAX_ERROR, "syntax error at or near \"x\"")
                .with_detail("d")
                .with_hint("h")
                .with_position(7)
                .with_context("w")
                .with_routine("scanner_yyerror");
        fields.localized_severity = Some("FEHLER".into());
        fields.internal_position = Some(3);
        fields.internal_query = Some("q".into());
        fields.schema = Some("public".into());
        fields.table = Some("t".into());
        fields.column = Some("c".into());
        fields.data_type = Some("int4".into());
        fields.constraint = Some("pk".into());
        fields.file = Some("scan.l".into());
        fields.line = Some(1234);
        fields.unknown = vec![(b'Z', "future".into())];
        assert_eq!(round_trip(&fields), fields);
    }

    #[test]
    fn old_servers_without_v() {
        let decoded = ErrorFields::decode_body(b"SWARNING\0C01000\0Mw\0\0").unwrap();
        assert_eq!(decoded.severity, Severity::Warning);
        assert_eq!(decoded.localized_severity, None);
    }

    #[test]
    fn missing_and_bad_fields() {
        let cases: [(&[u8], DecodeError); 7] = [
            (b"C28000\0Mm\0\0", DecodeError::MissingErrorField(b'S')),
            (b"SERROR\0Mm\0\0", DecodeError::MissingErrorField(b'C')),
            (b"SERROR\0C28000\0\0", DecodeError::MissingErrorField(b'M')),
            (
                b"SOOPS\0C28000\0Mm\0\0",
                DecodeError::InvalidErrorField(b'S'),
            ),
            (b"SERROR\0Cxx\0Mm\0\0", DecodeError::InvalidErrorField(b'C')),
            (
                b"SERROR\0C28000\0Mm\0Pabc\0\0",
                DecodeError::InvalidErrorField(b'P'),
            ),
            (
                b"SERROR\0C28000\0Mm\0\0x",
                DecodeError::InvalidMessageFormat,
            ),
        ];
        for (body, expected) in cases {
            assert_eq!(ErrorFields::decode_body(body), Err(expected), "{body:?}");
        }
        assert_eq!(
            ErrorFields::decode_body(b"SERROR"),
            Err(DecodeError::InvalidString)
        );
        assert_eq!(ErrorFields::decode_body(b""), Err(DecodeError::NoDataLeft));
    }

    #[test]
    fn lossy_text_keeps_the_report() {
        let decoded = ErrorFields::decode_body(b"SERROR\0C22021\0Mbad \xe9\0\0").unwrap();
        assert!(decoded.message.starts_with("bad "));
    }

    #[test]
    fn display_like_psql() {
        let fields = ErrorFields::fatal(SqlState::INVALID_AUTHORIZATION_SPECIFICATION, "m")
            .with_detail("d")
            .with_hint("h");
        assert_eq!(fields.to_string(), "FATAL:  m\nDETAIL:  d\nHINT:  h");
        assert_eq!(
            ErrorFields::notice("n").code,
            SqlState::SUCCESSFUL_COMPLETION
        );
        assert!(Severity::Fatal.is_error());
        assert!(!Severity::Warning.is_error());
    }

    #[test]
    fn nul_in_text_is_refused() {
        let mut body = Vec::new();
        let bad = ErrorFields::error(SqlState::INTERNAL_ERROR, "a\0b");
        assert_eq!(
            bad.encode_body(&mut body),
            Err(EncodeError::NulInString {
                field: "error field"
            })
        );
    }
}
