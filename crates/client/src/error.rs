//! The client's one error type. Each variant says which layer gave up; texts follow
//! libpq where libpq has one. No variant ever holds a password or a key: the SCRAM and
//! policy errors carry only what the server said or what was decided.

use std::fmt;
use std::io;

use pgscram_auth::client_policy::PolicyError;
use pgscram_auth::conninfo::ConnInfoError;
use pgscram_scram::ClientError;
use pgscram_wire::{DecodeError, EncodeError, ErrorFields, SqlState};

use crate::tls::TlsError;

/// Why a connection, a login or a query failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// The connection settings are invalid (conninfo, URI, environment).
    Config(ConnInfoError),
    /// The server could not be reached.
    Connect {
        /// The host or socket tried, as libpq names it in its message.
        target: String,
        /// What the operating system said.
        error: io::Error,
    },
    /// `connect_timeout` passed before the connection was ready.
    Timeout,
    /// Reading or writing the socket failed.
    Io(io::Error),
    /// The server closed the connection when a message was expected.
    Closed,
    /// TLS could not be set up: refused by the server, handshake, or certificate.
    Tls(TlsError),
    /// The client's policy (`require_auth`, `channel_binding`, or pgscram's stricter
    /// rules) refused what the server asked for.
    Policy(PolicyError),
    /// The SCRAM exchange failed on the client's side (bad server message, wrong
    /// server signature, too many iterations).
    Scram(ClientError),
    /// The server sent an ErrorResponse.
    Server(Box<ErrorFields>),
    /// The server broke the protocol.
    Protocol(ProtocolError),
    /// The server asked for a password and none was given (libpq's text).
    NoPassword,
    /// Only one of scram_client_key and scram_server_key was given: without the
    /// server key the server's signature cannot be checked.
    ScramKeysIncomplete,
    /// `target_session_attrs` rejected the server (libpq's texts).
    SessionAttrs(&'static str),
    /// Every host of a multi-host connection string failed; one entry per attempt.
    AllHostsFailed(Vec<(String, Error)>),
}

/// A server that does not follow the protocol.
#[derive(Debug)]
#[non_exhaustive]
pub enum ProtocolError {
    /// A message the client cannot read.
    Decode(DecodeError),
    /// A message the client cannot write (e.g. a NUL inside a query string).
    Encode(EncodeError),
    /// A message that cannot come at this point.
    Unexpected {
        /// The message's tag.
        tag: u8,
        /// The phase, e.g. `authentication`.
        during: &'static str,
    },
    /// The TLS certificate cannot be hashed for tls-server-end-point.
    ChannelBindingHash(pgscram_scram::channel_binding::CertificateHashError),
    /// The server asked for SCRAM-SHA-256-PLUS but the TLS layer holds no certificate.
    NoServerCertificate,
}

impl Error {
    /// The SQLSTATE of a server error, if this is one.
    pub fn sqlstate(&self) -> Option<SqlState> {
        self.server_error().map(|e| e.code)
    }

    /// The server's ErrorResponse, if this is one (the last attempt's for multiple hosts).
    pub fn server_error(&self) -> Option<&ErrorFields> {
        match self {
            Error::Server(fields) => Some(fields),
            Error::AllHostsFailed(attempts) => attempts.last().and_then(|(_, e)| e.server_error()),
            _ => None,
        }
    }

    /// True when the failure could be on this host only, so the next host in the list
    /// is worth a try (libpq moves on after any failure of one host).
    pub(crate) fn try_next_host(&self) -> bool {
        !matches!(self, Error::Config(_))
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Config(error) => error.fmt(f),
            Error::Connect { target, error } => {
                write!(f, "connection to server {target} failed: {error}")
            }
            Error::Timeout => f.write_str("timeout expired"),
            Error::Io(error) => write!(f, "could not send or receive data: {error}"),
            Error::Closed => f.write_str(
                "server closed the connection unexpectedly\n\tThis probably means the server \
                 terminated abnormally\n\tbefore or while processing the request.",
            ),
            Error::Tls(error) => error.fmt(f),
            Error::Policy(error) => error.fmt(f),
            Error::Scram(error) => error.fmt(f),
            Error::Server(fields) => write_server_error(f, fields),
            Error::Protocol(error) => error.fmt(f),
            Error::NoPassword => f.write_str("fe_sendauth: no password supplied"),
            Error::ScramKeysIncomplete => {
                f.write_str("scram_client_key and scram_server_key must be given together")
            }
            Error::SessionAttrs(text) => f.write_str(text),
            Error::AllHostsFailed(attempts) => {
                for (i, (target, error)) in attempts.iter().enumerate() {
                    if i > 0 {
                        f.write_str("\n")?;
                    }
                    write!(f, "connection to server {target} failed: {error}")?;
                }
                Ok(())
            }
        }
    }
}

/// psql's verbose layout: `FATAL:  28P01: message`, then `DETAIL:` and `HINT:` lines.
fn write_server_error(f: &mut fmt::Formatter<'_>, fields: &ErrorFields) -> fmt::Result {
    write!(
        f,
        "{}:  {}: {}",
        fields.severity, fields.code, fields.message
    )?;
    if let Some(detail) = &fields.detail {
        write!(f, "\nDETAIL:  {detail}")?;
    }
    if let Some(hint) = &fields.hint {
        write!(f, "\nHINT:  {hint}")?;
    }
    Ok(())
}

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProtocolError::Decode(error) => write!(f, "invalid message from server: {error}"),
            ProtocolError::Encode(error) => write!(f, "could not encode message: {error}"),
            ProtocolError::Unexpected { tag, during } => {
                let shown = if tag.is_ascii_graphic() {
                    char::from(*tag).to_string()
                } else {
                    format!("0x{tag:02x}")
                };
                write!(
                    f,
                    "unexpected message type \"{shown}\" from server during {during}"
                )
            }
            ProtocolError::ChannelBindingHash(error) => write!(
                f,
                "could not compute the channel binding hash of the server certificate: {error}"
            ),
            ProtocolError::NoServerCertificate => {
                f.write_str("server requested channel binding but presented no TLS certificate")
            }
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Config(e) => Some(e),
            Error::Connect { error, .. } | Error::Io(error) => Some(error),
            Error::Tls(e) => Some(e),
            Error::Policy(e) => Some(e),
            Error::Scram(e) => Some(e),
            _ => None,
        }
    }
}

impl std::error::Error for ProtocolError {}

impl From<ConnInfoError> for Error {
    fn from(e: ConnInfoError) -> Self {
        Error::Config(e)
    }
}

impl From<TlsError> for Error {
    fn from(e: TlsError) -> Self {
        Error::Tls(e)
    }
}

impl From<PolicyError> for Error {
    fn from(e: PolicyError) -> Self {
        Error::Policy(e)
    }
}

impl From<ClientError> for Error {
    fn from(e: ClientError) -> Self {
        Error::Scram(e)
    }
}

impl From<ProtocolError> for Error {
    fn from(e: ProtocolError) -> Self {
        Error::Protocol(e)
    }
}

impl From<EncodeError> for Error {
    fn from(e: EncodeError) -> Self {
        Error::Protocol(ProtocolError::Encode(e))
    }
}

impl From<DecodeError> for Error {
    fn from(e: DecodeError) -> Self {
        Error::Protocol(ProtocolError::Decode(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_error_shows_code_message_detail() {
        let fields = ErrorFields::fatal(
            SqlState::INVALID_PASSWORD,
            "password authentication failed for user \"u\"",
        )
        .with_detail("some detail");
        let error = Error::Server(Box::new(fields));
        assert_eq!(
            error.to_string(),
            "FATAL:  28P01: password authentication failed for user \"u\"\nDETAIL:  some detail"
        );
        assert_eq!(error.sqlstate(), Some(SqlState::INVALID_PASSWORD));
    }

    #[test]
    fn unexpected_message_shows_tag() {
        let e = ProtocolError::Unexpected {
            tag: b'D',
            during: "authentication",
        };
        assert_eq!(
            e.to_string(),
            "unexpected message type \"D\" from server during authentication"
        );
        let e = ProtocolError::Unexpected {
            tag: 0,
            during: "authentication",
        };
        assert!(e.to_string().contains("0x00"));
    }

    #[test]
    fn all_hosts_failed_lists_each() {
        let error = Error::AllHostsFailed(vec![
            ("at \"a\", port 1".into(), Error::Timeout),
            ("at \"b\", port 2".into(), Error::NoPassword),
        ]);
        assert_eq!(
            error.to_string(),
            "connection to server at \"a\", port 1 failed: timeout expired\n\
             connection to server at \"b\", port 2 failed: fe_sendauth: no password supplied"
        );
    }
}
