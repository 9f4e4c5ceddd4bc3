//! A pgscram server on a free loopback port with its own data directory, driven by real
//! psql. The query engine here answers every query with one row: these tests are about
//! what happens before the first query.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::sync::Arc;

use pgscram_server::engine::{
    Column, EngineBackend, EngineFactory, Interrupt, Prepared, Produced, QueryEngine,
    StatementResult, Value,
};
use pgscram_server::{MemoryStore, Role, Server, ServerHandle, SessionStart, Settings};
use pgscram_wire::{ErrorFields, TransactionStatus};

pub struct EchoEngine {
    user: String,
}

impl QueryEngine for EchoEngine {
    fn simple_query(&mut self, _sql: &str) -> Vec<StatementResult> {
        vec![self.execute(
            &Prepared {
                sql: String::new(),
                param_types: vec![],
                columns: None,
            },
            &[],
        )]
    }
    fn prepare(&mut self, sql: &str, _param_types: &[u32]) -> Result<Prepared, ErrorFields> {
        Ok(Prepared {
            sql: sql.to_owned(),
            param_types: vec![],
            columns: Some(columns()),
        })
    }
    fn execute(&mut self, _prepared: &Prepared, _params: &[Value]) -> StatementResult {
        StatementResult {
            notices: vec![],
            outcome: Ok(Produced::Rows {
                columns: columns(),
                rows: vec![vec![Some(self.user.clone().into_bytes())]],
                tag: "SELECT 1".into(),
            }),
            reported: vec![],
        }
    }
    fn transaction_status(&self) -> TransactionStatus {
        TransactionStatus::Idle
    }
    fn interrupt_handle(&self) -> Interrupt {
        Box::new(|| {})
    }
    fn encode_binary(&self, _type_oid: u32, text: &[u8]) -> Result<Vec<u8>, ErrorFields> {
        Ok(text.to_vec()) // every column here is text, whose binary form is its text
    }
    fn decode_binary(&self, _type_oid: u32, value: &[u8]) -> Result<Vec<u8>, ErrorFields> {
        Ok(value.to_vec())
    }
    fn initial_parameters(&self) -> Vec<(&str, &str)> {
        vec![
            ("server_version", "15.0 (pgscram)"),
            ("client_encoding", "UTF8"),
        ]
    }
}

fn columns() -> Vec<Column> {
    vec![Column {
        name: "current_user".into(),
        type_oid: 25,
        type_size: -1,
    }]
}

pub struct EchoFactory;

impl EngineFactory for EchoFactory {
    fn open(&self, start: &SessionStart) -> Result<Box<dyn QueryEngine>, ErrorFields> {
        Ok(Box::new(EchoEngine {
            user: start.user.clone(),
        }))
    }
    fn has_database(&self, name: &str) -> bool {
        name == "postgres"
    }
}

pub struct TestServer {
    pub addr: SocketAddr,
    pub data_dir: PathBuf,
    pub handle: ServerHandle,
    runtime: Option<tokio::runtime::Runtime>,
}

impl TestServer {
    pub fn start(hba: &str, store: MemoryStore) -> Self {
        Self::start_with(hba, store, |_| {})
    }

    pub fn start_with(hba: &str, store: MemoryStore, tweak: impl FnOnce(&mut Settings)) -> Self {
        let data_dir = pgscram_testkit::temp_dir("serve");
        std::fs::write(data_dir.join("pg_hba.conf"), hba).unwrap();
        let mut settings = Settings::default();
        settings.listen = vec!["127.0.0.1:0".parse().unwrap()];
        settings.data_dir = Some(data_dir.clone());
        // Off unless a test turns it on: these tests time failed logins themselves.
        settings.throttle = pgscram_server::throttle::ThrottleConfig::off();
        tweak(&mut settings);
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let server = runtime
            .block_on(
                Server::builder()
                    .settings(settings)
                    .store(Arc::new(store))
                    .backend(EngineBackend::new(EchoFactory))
                    .build(),
            )
            .expect("server starts");
        let addr = server.local_addrs()[0];
        let handle = server.handle();
        runtime.spawn(server.run());
        TestServer {
            addr,
            data_dir,
            handle,
            runtime: Some(runtime),
        }
    }

    /// psql with `password` in PGPASSWORD; returns its output.
    pub fn psql(&self, user: &str, password: &str, extra: &str) -> Output {
        let conninfo = format!(
            "host=127.0.0.1 port={} user={user} dbname=postgres connect_timeout=10 {extra}",
            self.addr.port()
        );
        Command::new(pgscram_testkit::bindir().join("psql"))
            .args(["-X", "-A", "-t", "-c", "SELECT current_user"])
            .arg(conninfo)
            .env("PGPASSWORD", password)
            .stdin(Stdio::null())
            .output()
            .expect("run psql")
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
        let _ = std::fs::remove_dir_all(&self.data_dir);
    }
}

pub fn scram_role(password: &str) -> Role {
    let verifier =
        pgscram_scram::ScramVerifier::derive(password.as_bytes(), &[4; 16], 4096).unwrap();
    Role::login(verifier.to_string())
}

pub fn md5_role(user: &str, password: &str) -> Role {
    Role::login(pgscram_scram::md5::md5_secret(password.as_bytes(), user))
}

pub fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "psql failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

pub fn err(out: &Output) -> String {
    assert!(
        !out.status.success(),
        "psql unexpectedly succeeded: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Accepts the server's self-signed certificate: these tests are about authentication,
/// and channel binding is what ties the login to this very certificate.
#[derive(Debug)]
pub struct AcceptAny(pub Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for AcceptAny {
    fn verify_server_cert(
        &self,
        _: &rustls::pki_types::CertificateDer<'_>,
        _: &[rustls::pki_types::CertificateDer<'_>],
        _: &rustls::pki_types::ServerName<'_>,
        _: &[u8],
        _: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        m: &[u8],
        c: &rustls::pki_types::CertificateDer<'_>,
        d: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(m, c, d, &self.0.signature_verification_algorithms)
    }
    fn verify_tls13_signature(
        &self,
        m: &[u8],
        c: &rustls::pki_types::CertificateDer<'_>,
        d: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(m, c, d, &self.0.signature_verification_algorithms)
    }
    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// A rustls client configuration that accepts any server certificate.
pub fn accept_any_config() -> Arc<rustls::ClientConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AcceptAny(provider)))
        .with_no_client_auth();
    Arc::new(config)
}

/// A blocking TLS client over `stream` (after the server answered 'S'), accepting any
/// certificate: for raw-protocol tests that need to see what the server sends over TLS.
pub fn tls_over(
    stream: std::net::TcpStream,
) -> rustls::StreamOwned<rustls::ClientConnection, std::net::TcpStream> {
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let connection = rustls::ClientConnection::new(accept_any_config(), name).unwrap();
    rustls::StreamOwned::new(connection, stream)
}
