//! The tokio drivers of pgscram: the listener, TLS, authentication exactly like
//! PostgreSQL, and sessions on the embedded database.
//!
//! ```text
//! TcpListener/UnixListener ─▶ server::handle ─▶ negotiate (SSLRequest ▸ TLS, GSSENC ▸ 'N', Cancel)
//!                                            ─▶ pg_hba match ─▶ authenticate (trust|reject|password|md5|scram)
//!                                            ─▶ role/database checks ─▶ session (simple + extended protocol)
//! ```
//!
//! Every byte from the network goes through crates/wire's bounded decoders and
//! crates/scram's exchange; this crate owns sockets, timers and the blocking pool.
#![forbid(unsafe_code)]

pub mod audit;
pub mod authenticate;
pub mod cancel;
pub mod catalog_store;
pub mod config;
pub mod embedded_engine;
pub mod engine;
pub mod hash_pool;
pub mod log;
pub mod metrics;
pub mod proxy;
mod reply;
pub mod server;
pub mod session;
pub mod store;
pub mod stream;
pub mod throttle;
pub mod tls;

pub use config::ServerConfig;
pub use server::{Server, Shared, StartError};
pub use session::{Backend, EngineFactory, SessionStart};
pub use store::{MemoryStore, PasswordStore, RoleAuth};

/// The embedded default as a library call: serve `db` with its own role catalog as the
/// credential store. Run the returned server with [`Server::run`].
pub async fn serve_embedded(
    config: ServerConfig,
    db: pgscram_embedded::Database,
) -> Result<Server, StartError> {
    let store = std::sync::Arc::new(catalog_store::CatalogStore::new(db.clone()));
    let factory = embedded_engine::EmbeddedFactory::new(db, &config);
    Server::bind(config, store, Backend::Engine(Box::new(factory))).await
}
