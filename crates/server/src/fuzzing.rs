//! A whole server connection driven by bytes, for the `server_connection` fuzz target:
//! not a public API (hidden from the docs, no stability promise).
//!
//! The harness runs the real pipeline (admission, negotiation, TLS refusal, pg_hba,
//! the exchange, throttling and caps on) over an in-memory stream: the input is what
//! the client sends, then the client closes; the output is what the server answered.

use std::sync::Arc;
use std::sync::atomic::AtomicI32;

use pgscram_scram::MockSecret;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use crate::admission::Admission;
use crate::backend::{Backend, Client, SessionStart};
use crate::cancel::CancelRegistry;
use crate::config::{Settings, Ssl};
use crate::hash_pool::HashPool;
use crate::metrics::Metrics;
use crate::shutdown::ShutdownSender;
use crate::state::{HbaSource, ServerState, SettingsSource, load_hba};
use crate::store::{MemoryStore, Role};
use crate::throttle::Throttle;

/// A backend that greets and ends the session: the fuzz target is about everything
/// before the session.
struct Greeter;

#[async_trait::async_trait]
impl Backend for Greeter {
    fn has_database(&self, name: &str) -> bool {
        name == "postgres"
    }

    async fn serve(&self, _start: SessionStart, mut client: Client) {
        let _ = client.ready(Vec::<(String, String)>::new()).await;
    }
}

/// One server, reused across inputs.
pub struct Harness {
    state: Arc<ServerState>,
    runtime: tokio::runtime::Runtime,
}

impl Default for Harness {
    fn default() -> Self {
        Self::new()
    }
}

impl Harness {
    /// A server with a SCRAM role `alice` (password `wonderland`), an md5 role `oldie`
    /// (password `legacy`), every method in pg_hba, throttling and caps on.
    pub fn new() -> Self {
        let store = MemoryStore::new();
        let verifier = pgscram_scram::ScramVerifier::derive(b"wonderland", &[7; 16], 16)
            .expect("fixed parameters are valid");
        store.insert("alice", Role::login(verifier.to_string()));
        store.insert(
            "oldie",
            Role::login(pgscram_scram::md5::md5_secret(b"legacy", "oldie")),
        );
        let settings = Settings {
            ssl: Ssl::Off,
            scram_iterations: 16,
            authentication_timeout: std::time::Duration::from_secs(1),
            // Throttling on, with spacings short enough for a fuzzer's pace.
            throttle: crate::throttle::ThrottleConfig {
                base_delay: std::time::Duration::from_millis(1),
                max_delay: std::time::Duration::from_millis(2),
                ..crate::throttle::ThrottleConfig::default()
            },
            ..Settings::default()
        };
        let hba = HbaSource::Text {
            name: "pg_hba.conf".to_owned(),
            text: "local all oldie md5\nlocal all trusty trust\nlocal all nobody reject\n\
                   local all plain password\nlocal all all scram-sha-256\n"
                .to_owned(),
        };
        let rules = load_hba(&hba, settings.ssl).expect("fixed rules parse");
        let state = ServerState {
            hash_pool: HashPool::new(1),
            admission: Admission::new(settings.max_handshakes),
            throttle: Throttle::new(settings.throttle),
            metrics: Metrics::new(),
            audit: None,
            cancel: CancelRegistry::new(),
            next_pid: AtomicI32::new(1),
            interfaces: Vec::new(),
            shutdown: ShutdownSender::new(),
            settings_source: SettingsSource {
                base: settings.clone(),
                file: None,
                overrides: Vec::new(),
                program: Vec::new(),
            },
            settings: std::sync::RwLock::new(Arc::new(settings)),
            hba: std::sync::RwLock::new(Arc::new(rules)),
            hba_source: hba,
            tls: None,
            mock: MockSecret::from_bytes([9; 32]),
            store: Arc::new(store),
            backend: Arc::new(Greeter),
            reload_requests: None,
        };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime");
        Harness {
            state: Arc::new(state),
            runtime,
        }
    }

    /// Sends `input` on a Unix-socket-like connection, closes the client's side, and
    /// returns every byte the server wrote before it closed.
    pub fn drive(&self, input: &[u8]) -> Vec<u8> {
        self.runtime.block_on(async {
            let (mut client, server) = tokio::io::duplex(64 * 1024);
            let task = tokio::spawn(crate::connection::handle(
                self.state.clone(),
                Box::new(server),
                None,
            ));
            let _ = client.write_all(input).await;
            let _ = client.shutdown().await;
            let mut output = Vec::new();
            let _ = client.read_to_end(&mut output).await;
            let _ = task.await;
            output
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_startup_packet_gets_the_sasl_request_and_garbage_gets_nothing_worse() {
        let harness = Harness::new();
        let mut startup = Vec::new();
        pgscram_wire::StartupRequest::Startup(
            pgscram_wire::StartupMessage::new("alice").with("database", "postgres"),
        )
        .encode(&mut startup)
        .unwrap();
        let out = harness.drive(&startup);
        assert_eq!(out.first(), Some(&b'R'), "{out:?}");
        let out = harness.drive(&[0, 0, 0, 8, 4, 210, 22, 47]);
        assert_eq!(out, b"N", "SSLRequest without TLS");
        let _ = harness.drive(&[0xff; 64]);
    }
}
