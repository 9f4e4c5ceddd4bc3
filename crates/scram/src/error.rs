//! Errors of a SCRAM exchange, with PostgreSQL's messages (server side) and libpq's
//! messages (client side), so the edges can report them exactly as users expect.
//!
//! Credential failures (wrong password, unknown role) are not errors here: the server
//! exchange reports them as [`crate::server::Outcome::Failure`], because PostgreSQL runs
//! the whole exchange to the end before it fails the login.

use std::fmt;

/// Shows one byte the way PostgreSQL's `sanitize_char` does: printable ASCII (not the
/// space) in single quotes, anything else as `0x%02x`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shown(pub u8);

impl fmt::Display for Shown {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if (0x21..0x7f).contains(&self.0) {
            write!(f, "'{}'", self.0 as char)
        } else {
            write!(f, "0x{:02x}", self.0)
        }
    }
}

/// The DETAIL lines PostgreSQL attaches to `malformed SCRAM message`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Malformed {
    /// `The message is empty.`
    Empty,
    /// An embedded NUL: `Message length does not match input length.`
    LengthMismatch,
    /// A GS2 flag other than `n`, `y` or `p`.
    UnexpectedChannelBindingFlag(Shown),
    /// No comma after the `n` or `y` flag.
    CommaExpected(Shown),
    /// Neither `a=` nor `,` after the GS2 channel binding flag.
    UnexpectedAttribute(Shown),
    /// Another attribute where a specific one must come.
    ExpectedAttribute {
        /// The attribute the grammar requires here.
        expected: char,
        /// The byte found instead.
        found: Shown,
    },
    /// An attribute letter not followed by `=`.
    ExpectedEquals(char),
    /// The message ended where an attribute must come.
    AttributeExpectedEnd,
    /// A byte that cannot start an attribute (not an ASCII letter).
    AttributeExpectedInvalid(Shown),
    /// SCRAM-SHA-256-PLUS was selected but the GS2 flag is `n` or `y`.
    PlusWithoutBindingData,
    /// SCRAM-SHA-256 was selected but the GS2 flag is `p=`.
    BindingDataWithoutPlus,
    /// The `p=` proof is not base64 of 32 bytes.
    MalformedProof,
    /// Bytes after the proof in client-final.
    Garbage,
}

impl fmt::Display for Malformed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Malformed::Empty => f.write_str("The message is empty."),
            Malformed::LengthMismatch => f.write_str("Message length does not match input length."),
            Malformed::UnexpectedChannelBindingFlag(c) => {
                write!(f, "Unexpected channel-binding flag \"{c}\".")
            }
            Malformed::CommaExpected(c) => write!(f, "Comma expected, but found character \"{c}\"."),
            Malformed::UnexpectedAttribute(c) => {
                write!(f, "Unexpected attribute \"{c}\" in client-first-message.")
            }
            Malformed::ExpectedAttribute { expected, found } => {
                write!(f, "Expected attribute \"{expected}\" but found \"{found}\".")
            }
            Malformed::ExpectedEquals(a) => write!(f, "Expected character \"=\" for attribute \"{a}\"."),
            Malformed::AttributeExpectedEnd => f.write_str("Attribute expected, but found end of string."),
            Malformed::AttributeExpectedInvalid(c) => {
                write!(f, "Attribute expected, but found invalid character \"{c}\".")
            }
            Malformed::PlusWithoutBindingData => f.write_str(
                "The client selected SCRAM-SHA-256-PLUS, but the SCRAM message does not include channel binding data.",
            ),
            Malformed::BindingDataWithoutPlus => f.write_str(
                "The client selected SCRAM-SHA-256 without channel binding, but the SCRAM message includes channel binding data.",
            ),
            Malformed::MalformedProof => f.write_str("Malformed proof in client-final-message."),
            Malformed::Garbage => f.write_str("Garbage found at the end of client-final-message."),
        }
    }
}

/// A server-side protocol error: the exchange cannot continue and the connection ends
/// with this error (PostgreSQL sends these to the client as they are).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ServerError {
    /// 08P01 `malformed SCRAM message` with a DETAIL.
    Malformed(Malformed),
    /// 08P01: a mechanism not offered, or PLUS without TLS.
    InvalidMechanism,
    /// 08P01 `unsupported SCRAM channel-binding type "%s"`.
    UnsupportedChannelBindingType(String),
    /// 28000: the client sent `y` although this server offered PLUS.
    ChannelBindingNegotiation,
    /// 28000: the client's binding data is not this connection's.
    ChannelBindingCheckFailed,
    /// 08P01: `c=` is not `biws`/`eSws` for the flag the client sent first.
    UnexpectedChannelBindingAttribute,
    /// 0A000: `a=` in the GS2 header.
    AuthzidUnsupported,
    /// 0A000: `m=` in client-first.
    MandatoryExtension,
    /// 08P01: the client nonce has characters outside RFC 5802's printable set.
    NonPrintableNonce,
    /// 08P01 `invalid SCRAM response` with DETAIL `Nonce does not match.`
    NonceMismatch,
}

impl ServerError {
    /// The SQLSTATE PostgreSQL reports for this error.
    pub fn sqlstate(&self) -> &'static str {
        match self {
            ServerError::ChannelBindingNegotiation | ServerError::ChannelBindingCheckFailed => {
                "28000"
            }
            ServerError::AuthzidUnsupported | ServerError::MandatoryExtension => "0A000",
            _ => "08P01",
        }
    }

    /// The primary message, as PostgreSQL words it.
    pub fn message(&self) -> String {
        match self {
            ServerError::Malformed(_) => "malformed SCRAM message".into(),
            ServerError::InvalidMechanism => {
                "client selected an invalid SASL authentication mechanism".into()
            }
            ServerError::UnsupportedChannelBindingType(name) => {
                format!(
                    "unsupported SCRAM channel-binding type \"{}\"",
                    sanitize(name)
                )
            }
            ServerError::ChannelBindingNegotiation => {
                "SCRAM channel binding negotiation error".into()
            }
            ServerError::ChannelBindingCheckFailed => "SCRAM channel binding check failed".into(),
            ServerError::UnexpectedChannelBindingAttribute => {
                "unexpected SCRAM channel-binding attribute in client-final-message".into()
            }
            ServerError::AuthzidUnsupported => {
                "client uses authorization identity, but it is not supported".into()
            }
            ServerError::MandatoryExtension => {
                "client requires an unsupported SCRAM extension".into()
            }
            ServerError::NonPrintableNonce => "non-printable characters in SCRAM nonce".into(),
            ServerError::NonceMismatch => "invalid SCRAM response".into(),
        }
    }

    /// The DETAIL line, where PostgreSQL sends one.
    pub fn detail(&self) -> Option<String> {
        match self {
            ServerError::Malformed(m) => Some(m.to_string()),
            ServerError::ChannelBindingNegotiation => Some(
                "The client supports SCRAM channel binding but thinks the server does not.  However, this server does support channel binding."
                    .into(),
            ),
            ServerError::NonceMismatch => Some("Nonce does not match.".into()),
            _ => None,
        }
    }
}

impl fmt::Display for ServerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message())?;
        if let Some(detail) = self.detail() {
            write!(f, ": {detail}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ServerError {}

impl From<Malformed> for ServerError {
    fn from(m: Malformed) -> Self {
        ServerError::Malformed(m)
    }
}

/// A client-side failure, worded as libpq words it where libpq has a message.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClientError {
    /// `malformed SCRAM message (attribute "%c" expected)`
    AttributeExpected(char),
    /// `malformed SCRAM message (expected character "=" for attribute "%c")`
    ExpectedEquals(char),
    /// `invalid SCRAM response (nonce mismatch)`
    NonceMismatch,
    /// `malformed SCRAM message (invalid salt)`
    InvalidSalt,
    /// `malformed SCRAM message (invalid iteration count)`
    InvalidIterationCount,
    /// Stricter than libpq: the server asked for more PBKDF2 work than the client allows.
    IterationCountTooHigh {
        /// The server's `i=`.
        requested: u64,
        /// The client's cap ([`crate::ClientOptions::max_iterations`]).
        limit: u32,
    },
    /// `malformed SCRAM message (garbage at end of server-first-message)`
    GarbageServerFirst,
    /// `malformed SCRAM message (garbage at end of server-final-message)`
    GarbageServerFinal,
    /// `malformed SCRAM message (invalid server signature)`
    InvalidServerSignature,
    /// `incorrect server signature`
    IncorrectServerSignature,
    /// `error received from server in SCRAM exchange: %s`
    ServerSentError(String),
    /// The server demanded a mandatory extension (`m=`) we do not know.
    UnsupportedExtension,
    /// The server's salt or iteration count is not the one expected (a stale verifier).
    UnexpectedParameters,
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientError::AttributeExpected(a) => {
                write!(f, "malformed SCRAM message (attribute \"{a}\" expected)")
            }
            ClientError::ExpectedEquals(a) => write!(
                f,
                "malformed SCRAM message (expected character \"=\" for attribute \"{a}\")"
            ),
            ClientError::NonceMismatch => f.write_str("invalid SCRAM response (nonce mismatch)"),
            ClientError::InvalidSalt => f.write_str("malformed SCRAM message (invalid salt)"),
            ClientError::InvalidIterationCount => {
                f.write_str("malformed SCRAM message (invalid iteration count)")
            }
            ClientError::IterationCountTooHigh { requested, limit } => write!(
                f,
                "server requested {requested} SCRAM iterations, more than the limit of {limit} (scram_max_iterations)"
            ),
            ClientError::GarbageServerFirst => {
                f.write_str("malformed SCRAM message (garbage at end of server-first-message)")
            }
            ClientError::GarbageServerFinal => {
                f.write_str("malformed SCRAM message (garbage at end of server-final-message)")
            }
            ClientError::InvalidServerSignature => {
                f.write_str("malformed SCRAM message (invalid server signature)")
            }
            ClientError::IncorrectServerSignature => f.write_str("incorrect server signature"),
            ClientError::ServerSentError(e) => {
                write!(
                    f,
                    "error received from server in SCRAM exchange: {}",
                    sanitize(e)
                )
            }
            ClientError::UnsupportedExtension => {
                f.write_str("server requires an unsupported SCRAM extension")
            }
            ClientError::UnexpectedParameters => f.write_str(
                "server's SCRAM salt or iteration count differs from the stored verifier (the verifier is stale)",
            ),
        }
    }
}

impl std::error::Error for ClientError {}

/// Replaces non-printable characters, as PostgreSQL's `sanitize_str` does, so peer
/// input cannot forge log lines.
pub(crate) fn sanitize(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if (0x20..0x7f).contains(&b) {
                b as char
            } else {
                '?'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shown_matches_sanitize_char() {
        assert_eq!(Shown(b'x').to_string(), "'x'");
        assert_eq!(Shown(b' ').to_string(), "0x20");
        assert_eq!(Shown(0).to_string(), "0x00");
        assert_eq!(Shown(0xff).to_string(), "0xff");
    }

    #[test]
    fn postgres_texts() {
        let e = ServerError::from(Malformed::ExpectedAttribute {
            expected: 'r',
            found: Shown(b'x'),
        });
        assert_eq!(e.sqlstate(), "08P01");
        assert_eq!(e.message(), "malformed SCRAM message");
        assert_eq!(
            e.detail().unwrap(),
            "Expected attribute \"r\" but found \"'x'\"."
        );
        assert_eq!(ServerError::ChannelBindingNegotiation.sqlstate(), "28000");
        assert_eq!(
            ServerError::UnsupportedChannelBindingType("tls-\nx".into()).message(),
            "unsupported SCRAM channel-binding type \"tls-?x\""
        );
    }
}
