//! A program's own credential store in front of the embedded database: the role
//! `alice` (password `alice-secret`) lives in this program's memory as a SCRAM verifier,
//! not in the SQLite catalog, and still gets a session on the embedded database.
//!
//! Run: `cargo run -p pgscram-server --example custom_store`, then
//! `PGPASSWORD=alice-secret psql "host=127.0.0.1 port=5433 user=alice sslmode=require channel_binding=require"`.
//! Listens on `PGSCRAM_LISTEN` (default 127.0.0.1:5433) with TLS on (a certificate made
//! in memory) and exits 0 on SIGTERM or Ctrl-C, once its sessions are closed.

use std::collections::HashMap;
use std::sync::Arc;

use pgscram_embedded::Database;
use pgscram_scram::ScramVerifier;
use pgscram_server::engine::{EmbeddedFactory, EngineBackend};
use pgscram_server::{PasswordStore, Role, Server, StoreError, Tls};

/// Where this program keeps its users: here, a map built at start. A real program
/// would read its own table, a directory service or a secrets manager.
struct AppUsers {
    verifiers: HashMap<String, String>,
}

#[async_trait::async_trait]
impl PasswordStore for AppUsers {
    async fn role(&self, name: &str) -> Result<Option<Role>, StoreError> {
        // Authorization facts come with the secret: alice may log in, with no limit.
        Ok(self
            .verifiers
            .get(name)
            .map(|verifier| Role::login(verifier.clone())))
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Only the verifier is kept: a random salt, 4096 iterations, no password stored.
    let mut salt = [0u8; 16];
    getrandom::getrandom(&mut salt)?;
    let verifier = ScramVerifier::derive(b"alice-secret", &salt, 4096)?;
    let users = AppUsers {
        verifiers: HashMap::from([("alice".to_owned(), verifier.to_string())]),
    };

    // The embedded database serves the sessions; its catalog has no role `alice`.
    let db = Database::open_in_memory()?;
    let listen = std::env::var("PGSCRAM_LISTEN").unwrap_or_else(|_| "127.0.0.1:5433".to_owned());
    let server = Server::builder()
        .listen(listen.parse()?)
        .tls(Tls::self_signed()?)
        .hba_rules("host all all 127.0.0.1/32 scram-sha-256\nhost all all ::1/128 scram-sha-256\n")
        .store(Arc::new(users))
        .backend(EngineBackend::new(EmbeddedFactory::new(db)))
        .build()
        .await?;

    // The library installs no signal handler: this program says what SIGTERM means.
    let handle = server.handle();
    tokio::spawn(async move {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
        tokio::select! {
            _ = term.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
        handle.shutdown();
    });
    println!("listening on {}", server.local_addrs()[0]);
    server.run().await;
    Ok(())
}
