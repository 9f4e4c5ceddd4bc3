//! The startup phase: the first packet of a connection, before any tagged message.
//!
//! ```text
//!  client ── SSLRequest ──────▶ server        server ── 'S' | 'N' (one byte) ──▶ client
//!  client ── GSSENCRequest ───▶ server        server ── 'G' | 'N' (one byte) ──▶ client
//!  client ── StartupMessage ──▶ server        (then authentication)
//!  client ── CancelRequest ───▶ server        (no reply; connection closes)
//! ```
//!
//! [`StartupRequest::decode`] applies PostgreSQL's checks in PostgreSQL's order:
//! protocol major version, packet layout, then the user name.

use std::fmt;

use crate::backend::NegotiateProtocolVersion;
use crate::cancel::{CANCEL_REQUEST_CODE, CancelRequest};
use crate::frame::StartupPacket;
use crate::{DecodeError, EncodeError, read, write};

/// The request code of an SSLRequest: 1234 in the high half, 5679 in the low half.
pub const SSL_REQUEST_CODE: u32 = (1234 << 16) | 5679;
/// The request code of a GSSENCRequest: 1234 in the high half, 5680 in the low half.
pub const GSSENC_REQUEST_CODE: u32 = (1234 << 16) | 5680;

/// A protocol version, sent as `major << 16 | minor`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ProtocolVersion {
    /// The major version; only 3 is spoken.
    pub major: u16,
    /// The minor version.
    pub minor: u16,
}

impl ProtocolVersion {
    /// Protocol 3.0, spoken since PostgreSQL 7.4.
    pub const V3_0: ProtocolVersion = ProtocolVersion { major: 3, minor: 0 };
    /// The oldest version pgscram speaks.
    pub const EARLIEST: ProtocolVersion = ProtocolVersion::V3_0;
    /// The newest version pgscram speaks; newer minors get a NegotiateProtocolVersion.
    pub const LATEST: ProtocolVersion = ProtocolVersion::V3_0;

    /// Splits a startup packet's version word.
    pub fn from_code(code: u32) -> ProtocolVersion {
        ProtocolVersion {
            major: (code >> 16) as u16,
            minor: (code & 0xffff) as u16,
        }
    }

    /// The version word: `major << 16 | minor`.
    pub fn code(self) -> u32 {
        (u32::from(self.major) << 16) | u32::from(self.minor)
    }
}

impl fmt::Display for ProtocolVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

/// Everything a connection can open with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StartupRequest {
    /// StartupMessage: open a session.
    Startup(StartupMessage),
    /// SSLRequest: ask to switch to TLS before the StartupMessage.
    SslRequest,
    /// GSSENCRequest: ask to switch to GSSAPI encryption before the StartupMessage.
    GssEncRequest,
    /// CancelRequest: cancel another session's running query.
    Cancel(CancelRequest),
}

impl StartupRequest {
    /// Interprets a framed startup packet (see [`crate::frame::take_startup`]).
    ///
    /// SSLRequest and GSSENCRequest must be exactly 8 bytes; PostgreSQL ignores extra
    /// bytes there, pgscram refuses them, because no client sends any.
    pub fn decode(packet: &StartupPacket) -> Result<StartupRequest, DecodeError> {
        let body = packet.body();
        match packet.code() {
            CANCEL_REQUEST_CODE => CancelRequest::decode_body(body).map(StartupRequest::Cancel),
            SSL_REQUEST_CODE | GSSENC_REQUEST_CODE if !body.is_empty() => {
                let len = u32::try_from(body.len().saturating_add(8)).unwrap_or(u32::MAX);
                Err(DecodeError::InvalidStartupPacketLength(len))
            }
            SSL_REQUEST_CODE => Ok(StartupRequest::SslRequest),
            GSSENC_REQUEST_CODE => Ok(StartupRequest::GssEncRequest),
            code => StartupMessage::decode_body(ProtocolVersion::from_code(code), body)
                .map(StartupRequest::Startup),
        }
    }

    /// Writes the packet, length word first.
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        match self {
            StartupRequest::Startup(message) => message.encode(out),
            StartupRequest::SslRequest => code_only(out, SSL_REQUEST_CODE),
            StartupRequest::GssEncRequest => code_only(out, GSSENC_REQUEST_CODE),
            StartupRequest::Cancel(request) => request.encode(out),
        }
    }
}

fn code_only(out: &mut Vec<u8>, code: u32) -> Result<(), EncodeError> {
    write::message(out, None, |out| {
        write::u32(out, code);
        Ok(())
    })
}

/// Parameter names PostgreSQL handles itself rather than as settings.
const RESERVED: [&str; 4] = ["user", "database", "options", "replication"];
/// The prefix of protocol-level options (`_pq_.name`).
const PROTOCOL_OPTION_PREFIX: &str = "_pq_.";

/// StartupMessage: the protocol version and the connection parameters, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StartupMessage {
    version: ProtocolVersion,
    params: Vec<(String, String)>,
}

impl StartupMessage {
    /// A protocol 3.0 startup message for `user`.
    pub fn new(user: impl Into<String>) -> StartupMessage {
        StartupMessage {
            version: ProtocolVersion::V3_0,
            params: vec![("user".to_owned(), user.into())],
        }
    }

    /// Builder form of [`StartupMessage::set`].
    pub fn with(mut self, name: impl Into<String>, value: impl Into<String>) -> StartupMessage {
        self.set(name, value);
        self
    }

    /// Sends `version` instead of 3.0.
    pub fn with_version(mut self, version: ProtocolVersion) -> StartupMessage {
        self.version = version;
        self
    }

    /// Sets a parameter in place of every earlier one of the same name (a decoded
    /// message may repeat a name), keeping the position of the first.
    pub fn set(&mut self, name: impl Into<String>, value: impl Into<String>) {
        let (name, value) = (name.into(), value.into());
        match self.params.iter().position(|(n, _)| *n == name) {
            Some(first) => {
                self.params[first].1 = value;
                let mut index = 0;
                self.params.retain(|(n, _)| {
                    index += 1;
                    index - 1 == first || *n != name
                });
            }
            None => self.params.push((name, value)),
        }
    }

    /// The protocol version the client asked for.
    pub fn version(&self) -> ProtocolVersion {
        self.version
    }

    /// The last value given for `name`, as PostgreSQL keeps the last one.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The role to authenticate; never empty in a decoded message.
    pub fn user(&self) -> &str {
        self.get("user").unwrap_or("")
    }

    /// The database, which defaults to the user name when absent or empty.
    pub fn database(&self) -> &str {
        match self.get("database") {
            Some(db) if !db.is_empty() => db,
            _ => self.user(),
        }
    }

    /// Command-line style options (`-c name=value ...`), as sent.
    pub fn options(&self) -> Option<&str> {
        self.get("options")
    }

    /// The `application_name` parameter, if sent.
    pub fn application_name(&self) -> Option<&str> {
        self.get("application_name")
    }

    /// All parameters in the order sent, duplicates included.
    pub fn params(&self) -> impl Iterator<Item = (&str, &str)> {
        self.params.iter().map(|(n, v)| (n.as_str(), v.as_str()))
    }

    /// Parameters that are run-time settings (everything but user, database, options,
    /// replication and `_pq_.` protocol options).
    pub fn settings(&self) -> impl Iterator<Item = (&str, &str)> {
        self.params().filter(|(name, _)| {
            !RESERVED.contains(name) && !name.starts_with(PROTOCOL_OPTION_PREFIX)
        })
    }

    /// The `_pq_.` protocol options the client asked for.
    pub fn protocol_options(&self) -> impl Iterator<Item = &str> {
        self.params()
            .map(|(name, _)| name)
            .filter(|name| name.starts_with(PROTOCOL_OPTION_PREFIX))
    }

    /// The NegotiateProtocolVersion a server speaking up to `latest` must send before
    /// authentication: when the client asked for a newer minor version, or for any
    /// protocol option (pgscram recognises none).
    pub fn negotiation(&self, latest: ProtocolVersion) -> Option<NegotiateProtocolVersion> {
        let unrecognized: Vec<String> = self.protocol_options().map(str::to_owned).collect();
        if self.version.minor <= latest.minor && unrecognized.is_empty() {
            return None;
        }
        Some(NegotiateProtocolVersion {
            newest: self.version.min(latest),
            unrecognized,
        })
    }

    /// Parses the body after the version code.
    fn decode_body(version: ProtocolVersion, body: &[u8]) -> Result<StartupMessage, DecodeError> {
        if version.major != ProtocolVersion::LATEST.major {
            return Err(DecodeError::UnsupportedProtocol(version));
        }
        let mut params = Vec::new();
        let mut rest = body;
        loop {
            match rest {
                [0] => break,
                [] | [0, ..] => return Err(DecodeError::InvalidStartupPacketLayout),
                _ => {}
            }
            let (name, after) = split_cstr(rest)?;
            let (value, after) = split_cstr(after)?;
            params.push((read::utf8(name)?, read::utf8(value)?));
            rest = after;
        }
        let message = StartupMessage { version, params };
        if message.user().is_empty() {
            return Err(DecodeError::NoUserName);
        }
        Ok(message)
    }

    fn encode(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        write::message(out, None, |out| {
            write::u32(out, self.version.code());
            for (name, value) in &self.params {
                if name.is_empty() {
                    return Err(EncodeError::EmptyString {
                        field: "startup parameter name",
                    });
                }
                write::cstr(out, name.as_bytes(), "startup parameter name")?;
                write::cstr(out, value.as_bytes(), "startup parameter value")?;
            }
            out.push(0);
            Ok(())
        })
    }
}

/// Splits at the first NUL; a missing NUL is a layout error in the startup packet.
fn split_cstr(bytes: &[u8]) -> Result<(&[u8], &[u8]), DecodeError> {
    let end = bytes
        .iter()
        .position(|&b| b == 0)
        .ok_or(DecodeError::InvalidStartupPacketLayout)?;
    Ok((&bytes[..end], &bytes[end + 1..]))
}

/// The server's one-byte answer to an SSLRequest.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SslResponse {
    /// `S`: start the TLS handshake now.
    Accepted,
    /// `N`: continue in plaintext (or give up, per sslmode).
    Refused,
}

impl SslResponse {
    /// Anything but `S` or `N` is refused, `E` included: an error text sent before TLS
    /// may come from a man in the middle and must not be shown (CVE-2024-10977).
    pub fn from_byte(byte: u8) -> Result<SslResponse, DecodeError> {
        match byte {
            b'S' => Ok(SslResponse::Accepted),
            b'N' => Ok(SslResponse::Refused),
            other => Err(DecodeError::InvalidSslResponse(other)),
        }
    }

    /// The byte to send.
    pub fn to_byte(self) -> u8 {
        match self {
            SslResponse::Accepted => b'S',
            SslResponse::Refused => b'N',
        }
    }
}

/// The server's one-byte answer to a GSSENCRequest.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GssEncResponse {
    /// `G`: start GSSAPI encryption now.
    Accepted,
    /// `N`: continue without it.
    Refused,
}

impl GssEncResponse {
    /// Reads the server's answer; anything but `G` or `N` is an error.
    pub fn from_byte(byte: u8) -> Result<GssEncResponse, DecodeError> {
        match byte {
            b'G' => Ok(GssEncResponse::Accepted),
            b'N' => Ok(GssEncResponse::Refused),
            other => Err(DecodeError::InvalidGssEncResponse(other)),
        }
    }

    /// The byte to send.
    pub fn to_byte(self) -> u8 {
        match self {
            GssEncResponse::Accepted => b'G',
            GssEncResponse::Refused => b'N',
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packet(code: u32, body: &[u8]) -> StartupPacket {
        StartupPacket::new(code, body.to_vec())
    }

    #[test]
    fn request_codes() {
        assert_eq!(SSL_REQUEST_CODE, 80_877_103);
        assert_eq!(GSSENC_REQUEST_CODE, 80_877_104);
        assert_eq!(CANCEL_REQUEST_CODE, 80_877_102);
        assert_eq!(ProtocolVersion::V3_0.code(), 196_608);
        assert_eq!(ProtocolVersion::from_code(0x0003_0002).to_string(), "3.2");
    }

    #[test]
    fn parameters_and_defaults() {
        let body = b"user\0alice\0options\0-c x=1\0_pq_.foo\0bar\0TimeZone\0UTC\0\0";
        let StartupRequest::Startup(m) = StartupRequest::decode(&packet(196_608, body)).unwrap()
        else {
            panic!("not a startup message");
        };
        assert_eq!(m.user(), "alice");
        assert_eq!(m.database(), "alice");
        assert_eq!(m.options(), Some("-c x=1"));
        assert_eq!(m.settings().collect::<Vec<_>>(), [("TimeZone", "UTC")]);
        assert_eq!(m.protocol_options().collect::<Vec<_>>(), ["_pq_.foo"]);
        let negotiation = m.negotiation(ProtocolVersion::LATEST).unwrap();
        assert_eq!(negotiation.newest, ProtocolVersion::V3_0);
        assert_eq!(negotiation.unrecognized, ["_pq_.foo"]);
    }

    #[test]
    fn last_value_wins_and_empty_database_means_user() {
        let body = b"user\0a\0database\0\0user\0b\0\0";
        let StartupRequest::Startup(m) = StartupRequest::decode(&packet(196_608, body)).unwrap()
        else {
            panic!("not a startup message");
        };
        assert_eq!(m.user(), "b");
        assert_eq!(m.database(), "b");

        let mut m = m;
        m.set("user", "c");
        assert_eq!(m.user(), "c");
        assert_eq!(
            m.params().collect::<Vec<_>>(),
            [("user", "c"), ("database", "")]
        );
    }

    #[test]
    fn newer_minor_needs_negotiation() {
        let m = StartupMessage::new("u").with_version(ProtocolVersion { major: 3, minor: 2 });
        let negotiation = m.negotiation(ProtocolVersion::LATEST).unwrap();
        assert_eq!(negotiation.newest, ProtocolVersion::V3_0);
        assert!(negotiation.unrecognized.is_empty());
        assert_eq!(
            StartupMessage::new("u").negotiation(ProtocolVersion::LATEST),
            None
        );
    }

    #[test]
    fn postgres_errors() {
        let cases: [(u32, &[u8], DecodeError); 8] = [
            (196_608, b"\0", DecodeError::NoUserName),
            (196_608, b"user\0\0\0", DecodeError::NoUserName),
            (196_608, b"database\0d\0\0", DecodeError::NoUserName),
            (196_608, b"", DecodeError::InvalidStartupPacketLayout),
            (196_608, b"user\0", DecodeError::InvalidStartupPacketLayout),
            (
                196_608,
                b"user\0u\0",
                DecodeError::InvalidStartupPacketLayout,
            ),
            (
                196_608,
                b"user\0u\0\0\0",
                DecodeError::InvalidStartupPacketLayout,
            ),
            (
                0x0002_0000,
                b"user\0u\0\0",
                DecodeError::UnsupportedProtocol(ProtocolVersion { major: 2, minor: 0 }),
            ),
        ];
        for (code, body, expected) in cases {
            assert_eq!(
                StartupRequest::decode(&packet(code, body)),
                Err(expected),
                "{body:?}"
            );
        }
        assert_eq!(
            StartupRequest::decode(&packet(196_608, b"user\0\xff\0\0")),
            Err(DecodeError::InvalidUtf8(vec![0xff]))
        );
    }

    #[test]
    fn protocol_4_is_refused_with_postgres_text() {
        let err = StartupRequest::decode(&packet(0x0004_0000, b"user\0u\0\0")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "unsupported frontend protocol 4.0: server supports 3.0 to 3.0"
        );
        assert_eq!(err.sqlstate(), crate::SqlState::FEATURE_NOT_SUPPORTED);
    }

    #[test]
    fn ssl_and_gss_requests() {
        assert_eq!(
            StartupRequest::decode(&packet(SSL_REQUEST_CODE, b"")),
            Ok(StartupRequest::SslRequest)
        );
        assert_eq!(
            StartupRequest::decode(&packet(GSSENC_REQUEST_CODE, b"")),
            Ok(StartupRequest::GssEncRequest)
        );
        assert_eq!(
            StartupRequest::decode(&packet(SSL_REQUEST_CODE, b"x")),
            Err(DecodeError::InvalidStartupPacketLength(9))
        );
        let mut out = Vec::new();
        StartupRequest::SslRequest.encode(&mut out).unwrap();
        assert_eq!(out, [0, 0, 0, 8, 4, 210, 22, 47]);
    }

    #[test]
    fn encoding_refuses_what_would_break_framing() {
        let mut out = Vec::new();
        let bad_name = StartupMessage::new("u").with("", "x");
        assert!(StartupRequest::Startup(bad_name).encode(&mut out).is_err());
        let nul = StartupMessage::new("u\0x");
        assert_eq!(
            StartupRequest::Startup(nul).encode(&mut out),
            Err(EncodeError::NulInString {
                field: "startup parameter value"
            })
        );
        assert!(out.is_empty());
    }

    #[test]
    fn one_byte_answers() {
        assert_eq!(SslResponse::from_byte(b'S'), Ok(SslResponse::Accepted));
        assert_eq!(SslResponse::from_byte(b'N'), Ok(SslResponse::Refused));
        assert_eq!(
            SslResponse::from_byte(b'E'),
            Err(DecodeError::InvalidSslResponse(b'E'))
        );
        assert_eq!(
            GssEncResponse::from_byte(b'G'),
            Ok(GssEncResponse::Accepted)
        );
        assert_eq!(
            GssEncResponse::from_byte(b'S'),
            Err(DecodeError::InvalidGssEncResponse(b'S'))
        );
        for r in [SslResponse::Accepted, SslResponse::Refused] {
            assert_eq!(SslResponse::from_byte(r.to_byte()), Ok(r));
        }
        for r in [GssEncResponse::Accepted, GssEncResponse::Refused] {
            assert_eq!(GssEncResponse::from_byte(r.to_byte()), Ok(r));
        }
    }
}
