//! A PostgreSQL-wire server that authenticates exactly like PostgreSQL: TLS, pg_hba,
//! trust/reject/password/md5/SCRAM-SHA-256(-PLUS), mock authentication for unknown
//! roles, throttling, audit and metrics, in front of any backend.
//!
//! ```text
//! listener ─▶ admission ─▶ negotiate ─▶ store lookup (once) ─▶ pg_hba ─▶ authenticate
//!   accept,     caps per      SSLRequest,   PasswordStore          rule       scram | md5 |
//!   shutdown    address,      GSSENC,                                          password | trust
//!               handshakes    Cancel, TLS
//!          ─▶ AuthenticationOk ─▶ role/database/limit checks ─▶ Backend::serve(SessionStart, Client)
//! ```
//!
//! What a program provides: a [`PasswordStore`] (where roles and their secrets live)
//! and a [`Backend`] (what serves a session: the embedded SQLite database through
//! [`engine::EngineBackend`], the proxy, or its own [`engine::QueryEngine`]). The rest
//! has safe defaults in [`ServerBuilder`]:
//!
//! ```no_run
//! # async fn example() -> Result<(), Box<dyn std::error::Error>> {
//! let db = pgscram_embedded::Database::open("app.db")?;
//! let server = pgscram_server::Server::builder().embedded(db).build().await?;
//! server.run().await;
//! # Ok(()) }
//! ```
//!
//! The library installs no signal handler and writes no log: it emits `tracing`
//! events (a span per connection with its pid, client and user) and stops when told
//! through a [`ServerHandle`]. Blocking work (SQLite, PBKDF2) runs off the async
//! workers.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod admission;
pub mod audit;
mod authenticate;
mod backend;
mod builder;
mod cancel;
pub mod config;
mod connection;
pub mod engine;
#[doc(hidden)]
pub mod fuzzing;
mod hash_pool;
pub mod log;
pub mod metrics;
mod negotiate;
pub mod proxy;
mod random;
mod reply;
mod server;
mod shutdown;
mod state;
pub mod store;
mod stream;
pub mod throttle;
mod tls;

pub use backend::{Backend, CancelSignal, Client, SessionDefaults, SessionStart};
pub use builder::{ServerBuilder, StartError};
pub use config::{PasswordEncryption, Settings, Ssl};
pub use negotiate::TlsParameters;
/// The metrics crate whose `Registry` [`Backend::metrics`] fills.
pub use prometheus_client;
pub use server::{Server, ServerHandle};
pub use shutdown::ShutdownSignal;
pub use state::ReloadReport;
pub use store::{
    MemoryStore, OlderPassword, PasswordStore, PasswordUsed, Role, Secret, StoreError,
};
pub use stream::Transport;
pub use tls::{Tls, TlsError};
