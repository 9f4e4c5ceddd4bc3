//! Errors of connection strings, URIs and connection settings, with libpq's texts.
//!
//! Where libpq would quote a secret back (a password inside a URI, a bad
//! percent-escape in a password), the secret is shown as `<redacted>` instead.

use std::fmt;

use crate::client_policy::RequireAuthError;

/// Why a connection string, URI or setting is refused; `Display` is libpq's text.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConnInfoError {
    /// `missing "=" after "x" in connection info string`
    MissingEquals(String),
    /// `unterminated quoted string in connection info string`
    UnterminatedQuote,
    /// `invalid connection option "x"`
    InvalidOption(String),
    /// `invalid URI query parameter: "x"`
    InvalidUriQueryParameter(String),
    /// `extra key/value separator "=" in URI query parameter: "x"`
    ExtraUriSeparator(String),
    /// `missing key/value separator "=" in URI query parameter: "x"`
    MissingUriSeparator(String),
    /// `invalid percent-encoded token: "x"`
    InvalidPercentEncoding(String),
    /// `forbidden value %00 in percent-encoded value: "x"`
    PercentEncodedNul(String),
    /// pgscram: a percent-decoded value that is not UTF-8.
    PercentDecodedNotUtf8(String),
    /// `end of string reached when looking for matching "]" in IPv6 host address in URI: "uri"`
    UnterminatedIpv6 {
        /// The URI, its password redacted.
        uri: String,
    },
    /// `IPv6 host address may not be empty in URI: "uri"`
    EmptyIpv6 {
        /// The URI, its password redacted.
        uri: String,
    },
    /// `unexpected character "c" at position N in URI (expected ":" or "/"): "uri"`
    UnexpectedUriCharacter {
        /// The character found.
        ch: char,
        /// Its position in the URI.
        position: usize,
        /// The URI, its password redacted.
        uri: String,
    },
    /// `invalid KEY value: "VALUE"` (sslmode, channel_binding, target_session_attrs, ...)
    InvalidValue {
        /// The option's keyword.
        key: &'static str,
        /// The refused value.
        value: String,
    },
    /// A bad `require_auth` list.
    RequireAuth(RequireAuthError),
    /// `invalid integer value "v" for connection option "k"`
    InvalidInteger {
        /// The refused value.
        value: String,
        /// The option's keyword.
        option: &'static str,
    },
    /// `invalid port number: "v"`
    InvalidPort(String),
    /// `could not match N host names to M hostaddr values`
    HostCountMismatch {
        /// Entries in `host`.
        hosts: usize,
        /// Entries in `hostaddr`.
        hostaddrs: usize,
    },
    /// `could not match N port numbers to M hosts`
    PortCountMismatch {
        /// Entries in `port`.
        ports: usize,
        /// Number of hosts.
        hosts: usize,
    },
    /// `could not parse network address "x": Name or service not known`
    InvalidHostaddr(String),
    /// `invalid SCRAM client key` / `invalid SCRAM server key` (not base64)
    InvalidScramKey {
        /// True for `scram_server_key`, false for `scram_client_key`.
        server: bool,
    },
    /// `invalid SCRAM client key length: N` / `invalid SCRAM server key length: N`
    ScramKeyLength {
        /// True for `scram_server_key`, false for `scram_client_key`.
        server: bool,
        /// The decoded length in bytes.
        length: usize,
    },
    /// `weak sslmode "m" may not be used with sslrootcert=system (use "verify-full")`
    WeakSslModeForSystemRoot(String),
    /// `weak sslmode "m" may not be used with sslnegotiation=direct (use "require", "verify-ca", or "verify-full")`
    WeakSslModeForDirect(String),
    /// `gssencmode value "require" invalid when GSSAPI support is not compiled in`
    GssEncRequired,
    /// pgscram: a libpq option pgscram cannot honour.
    Unsupported(&'static str),
    /// pgscram: no user name given and the operating-system user is unknown.
    NoUser,
}

impl fmt::Display for ConnInfoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use ConnInfoError::*;
        match self {
            MissingEquals(k) => write!(f, "missing \"=\" after \"{k}\" in connection info string"),
            UnterminatedQuote => {
                f.write_str("unterminated quoted string in connection info string")
            }
            InvalidOption(k) => write!(f, "invalid connection option \"{k}\""),
            InvalidUriQueryParameter(k) => write!(f, "invalid URI query parameter: \"{k}\""),
            ExtraUriSeparator(k) => write!(
                f,
                "extra key/value separator \"=\" in URI query parameter: \"{k}\""
            ),
            MissingUriSeparator(k) => write!(
                f,
                "missing key/value separator \"=\" in URI query parameter: \"{k}\""
            ),
            InvalidPercentEncoding(v) => write!(f, "invalid percent-encoded token: \"{v}\""),
            PercentEncodedNul(v) => {
                write!(f, "forbidden value %00 in percent-encoded value: \"{v}\"")
            }
            PercentDecodedNotUtf8(v) => {
                write!(f, "percent-decoded value is not valid UTF-8: \"{v}\"")
            }
            UnterminatedIpv6 { uri } => write!(
                f,
                "end of string reached when looking for matching \"]\" in IPv6 host address in URI: \"{uri}\""
            ),
            EmptyIpv6 { uri } => write!(f, "IPv6 host address may not be empty in URI: \"{uri}\""),
            UnexpectedUriCharacter { ch, position, uri } => write!(
                f,
                "unexpected character \"{ch}\" at position {position} in URI (expected \":\" or \"/\"): \"{uri}\""
            ),
            InvalidValue { key, value } => write!(f, "invalid {key} value: \"{value}\""),
            RequireAuth(e) => e.fmt(f),
            InvalidInteger { value, option } => {
                write!(
                    f,
                    "invalid integer value \"{value}\" for connection option \"{option}\""
                )
            }
            InvalidPort(p) => write!(f, "invalid port number: \"{p}\""),
            HostCountMismatch { hosts, hostaddrs } => {
                write!(
                    f,
                    "could not match {hosts} host names to {hostaddrs} hostaddr values"
                )
            }
            PortCountMismatch { ports, hosts } => {
                write!(f, "could not match {ports} port numbers to {hosts} hosts")
            }
            InvalidHostaddr(a) => write!(
                f,
                "could not parse network address \"{a}\": Name or service not known"
            ),
            InvalidScramKey { server } => write!(
                f,
                "invalid SCRAM {} key",
                if *server { "server" } else { "client" }
            ),
            ScramKeyLength { server, length } => {
                write!(
                    f,
                    "invalid SCRAM {} key length: {length}",
                    if *server { "server" } else { "client" }
                )
            }
            WeakSslModeForSystemRoot(m) => {
                write!(
                    f,
                    "weak sslmode \"{m}\" may not be used with sslrootcert=system (use \"verify-full\")"
                )
            }
            WeakSslModeForDirect(m) => write!(
                f,
                "weak sslmode \"{m}\" may not be used with sslnegotiation=direct (use \"require\", \"verify-ca\", or \"verify-full\")"
            ),
            GssEncRequired => f.write_str(
                "gssencmode value \"require\" invalid when GSSAPI support is not compiled in",
            ),
            Unsupported(k) => write!(f, "connection option \"{k}\" is not supported by pgscram"),
            NoUser => f.write_str("could not determine the local user name; set user or PGUSER"),
        }
    }
}

impl std::error::Error for ConnInfoError {}

impl From<RequireAuthError> for ConnInfoError {
    fn from(e: RequireAuthError) -> Self {
        ConnInfoError::RequireAuth(e)
    }
}
