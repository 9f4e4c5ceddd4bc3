//! Errors of this crate: [`DecodeError`] for bytes that are not a valid message, and
//! [`EncodeError`] for values that cannot be put on the wire.
//!
//! A decode error's `Display` is PostgreSQL's own message text where PostgreSQL has one
//! (`invalid message format`), and [`DecodeError::sqlstate`] its code, so a server can
//! answer exactly as PostgreSQL would. Nothing here ever contains message payload
//! bytes beyond a single offending byte, so passwords cannot leak through an error.

use std::fmt;

use crate::SqlState;
use crate::startup::ProtocolVersion;

/// Bytes that are not a valid message. Every malformed input ends here, never in a panic.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DecodeError {
    /// A startup packet length word outside the caller's limit (PostgreSQL: 8..=10004),
    /// or a cancel/SSL/GSS request of the wrong size. PostgreSQL only logs this one.
    InvalidStartupPacketLength(u32),
    /// A message length word below 4 or above the caller's limit. PostgreSQL only
    /// logs this one and closes the connection: the byte stream cannot be trusted.
    InvalidMessageLength {
        /// The message's tag.
        tag: u8,
        /// The length word as read.
        len: u32,
    },
    /// A tag the server does not accept in this phase (PostgreSQL: FATAL).
    InvalidFrontendMessageType(u8),
    /// A tag the client does not know how to read.
    UnexpectedBackendMessageType(u8),
    /// Name/value pairs not ending with the terminator exactly at the packet end.
    InvalidStartupPacketLayout,
    /// No `user` (or an empty one) in the startup packet.
    NoUserName,
    /// A protocol major version other than 3.
    UnsupportedProtocol(ProtocolVersion),
    /// A one-byte read past the end of the body.
    NoDataLeft,
    /// A fixed-size or counted read past the end of the body, or a negative count.
    InsufficientData,
    /// A string without its NUL terminator inside the body.
    InvalidString,
    /// Bytes left over after the last field.
    InvalidMessageFormat,
    /// Text that is not UTF-8; holds the offending bytes, as PostgreSQL reports them.
    InvalidUtf8(Vec<u8>),
    /// A Describe target other than `S` or `P`.
    InvalidDescribeKind(u8),
    /// A Close target other than `S` or `P`.
    InvalidCloseKind(u8),
    /// A format code other than 0 (text) or 1 (binary).
    UnsupportedFormatCode(i16),
    /// Bind: more than one parameter format, but not one per parameter.
    BindFormatMismatch {
        /// Number of parameter format codes.
        formats: usize,
        /// Number of parameter values.
        params: usize,
    },
    /// FunctionCall: more than one argument format, but not one per argument.
    FunctionCallFormatMismatch {
        /// Number of argument format codes.
        formats: usize,
        /// Number of arguments.
        args: usize,
    },
    /// Another message where the server waits for a password (PostgreSQL: ERROR).
    ExpectedPasswordResponse(u8),
    /// Another message where the server waits for a SASL message (PostgreSQL: ERROR).
    ExpectedSaslResponse(u8),
    /// A password message whose string does not fill the body exactly.
    InvalidPasswordPacketSize,
    /// A password message with an empty password.
    EmptyPassword,
    /// An Authentication request code this crate does not know.
    UnknownAuthenticationCode(u32),
    /// A ReadyForQuery status other than `I`, `T` or `E`.
    InvalidTransactionStatus(u8),
    /// A cancel key shorter than 4 or longer than 256 bytes.
    InvalidCancelKeyLength(usize),
    /// An ErrorResponse/NoticeResponse without a field every server sends (S, C or M).
    MissingErrorField(u8),
    /// An ErrorResponse/NoticeResponse field whose value cannot be read (bad number,
    /// unknown severity, malformed SQLSTATE).
    InvalidErrorField(u8),
    /// A reply to SSLRequest other than `S` or `N`.
    InvalidSslResponse(u8),
    /// A reply to GSSENCRequest other than `G` or `N`.
    InvalidGssEncResponse(u8),
}

impl DecodeError {
    /// The SQLSTATE PostgreSQL attaches to this error.
    pub fn sqlstate(&self) -> SqlState {
        match self {
            DecodeError::NoUserName => SqlState::INVALID_AUTHORIZATION_SPECIFICATION,
            DecodeError::UnsupportedProtocol(_) => SqlState::FEATURE_NOT_SUPPORTED,
            DecodeError::InvalidUtf8(_) => SqlState::CHARACTER_NOT_IN_REPERTOIRE,
            DecodeError::UnsupportedFormatCode(_) => SqlState::INVALID_PARAMETER_VALUE,
            DecodeError::EmptyPassword => SqlState::INVALID_PASSWORD,
            _ => SqlState::PROTOCOL_VIOLATION,
        }
    }

    /// True when message boundaries are lost: the connection must close, because
    /// whatever follows in the stream cannot be trusted to be a message start.
    pub fn loses_sync(&self) -> bool {
        matches!(
            self,
            DecodeError::InvalidStartupPacketLength(_)
                | DecodeError::InvalidMessageLength { .. }
                | DecodeError::InvalidFrontendMessageType(_)
                | DecodeError::UnexpectedBackendMessageType(_)
        )
    }
}

/// Shows a byte as a character when printable, as libpq does for unexpected replies.
fn shown(byte: u8) -> String {
    if (0x20..0x7f).contains(&byte) {
        char::from(byte).to_string()
    } else {
        format!("0x{byte:02x}")
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::InvalidStartupPacketLength(_) => {
                f.write_str("invalid length of startup packet")
            }
            DecodeError::InvalidMessageLength { .. } => f.write_str("invalid message length"),
            DecodeError::InvalidFrontendMessageType(tag) => {
                write!(f, "invalid frontend message type {tag}")
            }
            DecodeError::UnexpectedBackendMessageType(tag) => {
                write!(f, "unexpected message type \"{}\" from server", shown(*tag))
            }
            DecodeError::InvalidStartupPacketLayout => {
                f.write_str("invalid startup packet layout: expected terminator as last byte")
            }
            DecodeError::NoUserName => {
                f.write_str("no PostgreSQL user name specified in startup packet")
            }
            DecodeError::UnsupportedProtocol(version) => write!(
                f,
                "unsupported frontend protocol {version}: server supports {} to {}",
                ProtocolVersion::EARLIEST,
                ProtocolVersion::LATEST
            ),
            DecodeError::NoDataLeft => f.write_str("no data left in message"),
            DecodeError::InsufficientData => f.write_str("insufficient data left in message"),
            DecodeError::InvalidString => f.write_str("invalid string in message"),
            DecodeError::InvalidMessageFormat => f.write_str("invalid message format"),
            DecodeError::InvalidUtf8(bytes) => {
                f.write_str("invalid byte sequence for encoding \"UTF8\":")?;
                for byte in bytes {
                    write!(f, " 0x{byte:02x}")?;
                }
                Ok(())
            }
            DecodeError::InvalidDescribeKind(kind) => {
                write!(f, "invalid DESCRIBE message subtype {kind}")
            }
            DecodeError::InvalidCloseKind(kind) => {
                write!(f, "invalid CLOSE message subtype {kind}")
            }
            DecodeError::UnsupportedFormatCode(code) => {
                write!(f, "unsupported format code: {code}")
            }
            DecodeError::BindFormatMismatch { formats, params } => write!(
                f,
                "bind message has {formats} parameter formats but {params} parameters"
            ),
            DecodeError::FunctionCallFormatMismatch { formats, args } => write!(
                f,
                "function call message contains {formats} argument formats but {args} arguments"
            ),
            DecodeError::ExpectedPasswordResponse(tag) => {
                write!(f, "expected password response, got message type {tag}")
            }
            DecodeError::ExpectedSaslResponse(tag) => {
                write!(f, "expected SASL response, got message type {tag}")
            }
            DecodeError::InvalidPasswordPacketSize => f.write_str("invalid password packet size"),
            DecodeError::EmptyPassword => f.write_str("empty password returned by client"),
            DecodeError::UnknownAuthenticationCode(code) => {
                write!(f, "authentication method {code} not supported")
            }
            DecodeError::InvalidTransactionStatus(status) => {
                write!(
                    f,
                    "unexpected transaction status \"{}\" from server",
                    shown(*status)
                )
            }
            DecodeError::InvalidCancelKeyLength(len) => {
                write!(
                    f,
                    "invalid cancel key length {len}: expected 4 to 256 bytes"
                )
            }
            DecodeError::MissingErrorField(field) => write!(
                f,
                "error report from server lacks the \"{}\" field",
                shown(*field)
            ),
            DecodeError::InvalidErrorField(field) => write!(
                f,
                "error report from server has an invalid \"{}\" field",
                shown(*field)
            ),
            DecodeError::InvalidSslResponse(byte) => write!(
                f,
                "received invalid response to SSL negotiation: {}",
                shown(*byte)
            ),
            DecodeError::InvalidGssEncResponse(byte) => write!(
                f,
                "received invalid response to GSSAPI negotiation: {}",
                shown(*byte)
            ),
        }
    }
}

impl std::error::Error for DecodeError {}

/// A value that cannot be encoded. Encoding never writes half a message: on error the
/// output buffer is left exactly as it was.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum EncodeError {
    /// The message would not fit the protocol's signed 32-bit length word.
    MessageTooLong {
        /// The length that does not fit.
        len: usize,
    },
    /// More items than a 16-bit count can hold (parameters, columns, formats).
    TooManyItems {
        /// What was being counted.
        what: &'static str,
        /// How many there were.
        count: usize,
    },
    /// A NUL byte inside a field the protocol terminates with NUL.
    NulInString {
        /// The field's name.
        field: &'static str,
    },
    /// An empty string where the protocol reads empty as "end of list".
    EmptyString {
        /// The field's name.
        field: &'static str,
    },
    /// A cancel key shorter than 4 or longer than 256 bytes.
    InvalidCancelKeyLength(usize),
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EncodeError::MessageTooLong { len } => {
                write!(f, "message of {len} bytes is too long for the protocol")
            }
            EncodeError::TooManyItems { what, count } => {
                write!(f, "too many {what}: {count} (at most 65535)")
            }
            EncodeError::NulInString { field } => write!(f, "{field} contains a NUL byte"),
            EncodeError::EmptyString { field } => write!(f, "{field} must not be empty"),
            EncodeError::InvalidCancelKeyLength(len) => {
                write!(
                    f,
                    "invalid cancel key length {len}: expected 4 to 256 bytes"
                )
            }
        }
    }
}

impl std::error::Error for EncodeError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postgres_texts() {
        let cases: [(DecodeError, &str, &str); 12] = [
            (
                DecodeError::ExpectedSaslResponse(b'Q'),
                "expected SASL response, got message type 81",
                "08P01",
            ),
            (
                DecodeError::ExpectedPasswordResponse(b'X'),
                "expected password response, got message type 88",
                "08P01",
            ),
            (
                DecodeError::InvalidMessageLength {
                    tag: b'p',
                    len: 2000,
                },
                "invalid message length",
                "08P01",
            ),
            (
                DecodeError::InvalidStartupPacketLength(3),
                "invalid length of startup packet",
                "08P01",
            ),
            (
                DecodeError::InvalidFrontendMessageType(b'R'),
                "invalid frontend message type 82",
                "08P01",
            ),
            (
                DecodeError::NoUserName,
                "no PostgreSQL user name specified in startup packet",
                "28000",
            ),
            (
                DecodeError::UnsupportedProtocol(ProtocolVersion { major: 2, minor: 0 }),
                "unsupported frontend protocol 2.0: server supports 3.0 to 3.0",
                "0A000",
            ),
            (
                DecodeError::InvalidMessageFormat,
                "invalid message format",
                "08P01",
            ),
            (
                DecodeError::InvalidPasswordPacketSize,
                "invalid password packet size",
                "08P01",
            ),
            (
                DecodeError::EmptyPassword,
                "empty password returned by client",
                "28P01",
            ),
            (
                DecodeError::InvalidUtf8(vec![0xc3, 0x28]),
                "invalid byte sequence for encoding \"UTF8\": 0xc3 0x28",
                "22021",
            ),
            (
                DecodeError::UnsupportedFormatCode(7),
                "unsupported format code: 7",
                "22023",
            ),
        ];
        for (error, text, code) in cases {
            assert_eq!(error.to_string(), text);
            assert_eq!(error.sqlstate().as_str(), code, "{text}");
        }
    }

    #[test]
    fn sync_loss_is_only_for_framing() {
        assert!(DecodeError::InvalidMessageLength { tag: b'Q', len: 1 }.loses_sync());
        assert!(DecodeError::InvalidFrontendMessageType(0).loses_sync());
        assert!(!DecodeError::InvalidMessageFormat.loses_sync());
        assert!(!DecodeError::EmptyPassword.loses_sync());
    }

    #[test]
    fn unprintable_bytes_are_shown_in_hex() {
        assert_eq!(
            DecodeError::InvalidSslResponse(0).to_string(),
            "received invalid response to SSL negotiation: 0x00"
        );
        assert_eq!(
            DecodeError::InvalidSslResponse(b'E').to_string(),
            "received invalid response to SSL negotiation: E"
        );
    }

    #[test]
    fn encode_error_texts() {
        assert_eq!(
            EncodeError::NulInString { field: "query" }.to_string(),
            "query contains a NUL byte"
        );
        assert_eq!(
            EncodeError::TooManyItems {
                what: "parameters",
                count: 70000
            }
            .to_string(),
            "too many parameters: 70000 (at most 65535)"
        );
    }
}
