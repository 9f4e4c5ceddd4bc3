//! A tokio PostgreSQL client that authenticates the way libpq does, and more strictly.
//!
//! ```text
//! conninfo / URI ──Config::parse (PG* env, .pgpass)──▶ Config
//!   ──connect──▶ TCP | Unix socket ──SSLRequest (sslmode)──▶ rustls
//!   ──StartupMessage──▶ ◀──'R' requests── policy (require_auth, channel_binding)
//!       SCRAM-SHA-256(-PLUS) / md5 / cleartext ──▶ AuthenticationOk
//!   ◀──ParameterStatus, BackendKeyData, ReadyForQuery── Connection
//!       .negotiated()  .simple_query(sql)  .cancel_token()
//! ```
//!
//! Stricter than libpq: the server's SCRAM iteration count is capped
//! (`scram_max_iterations`, default one million), AuthenticationOk before a verified
//! SASLFinal is refused, no request for another method is answered once SASL started,
//! and `require_auth` / `channel_binding=require` never fall back to md5 or cleartext.
//! Passwords and keys are zeroized and never appear in Debug output or errors.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod auth;
mod config;
mod connect;
mod connection;
mod error;
mod stream;
pub mod tls;

pub use auth::{AuthMethod, AuthOutcome, Login, Secrets, authenticate};
pub use config::{Config, MAX_ITERATIONS_KEYWORD};
pub use connect::{connect, connect_with};
pub use connection::{
    CancelTarget, CancelToken, Connection, Negotiated, QueryResult, Relay, TlsInfo,
};
pub use error::{Error, ProtocolError};
pub use stream::{Framed, Stream};
