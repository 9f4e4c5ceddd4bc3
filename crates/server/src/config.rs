//! The server's settings, with PostgreSQL's defaults where PostgreSQL has one.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::audit::{AuditFormat, AuditTarget};
use crate::throttle::ThrottleConfig;

/// Settings for `serve` (and the client-facing side of `proxy`).
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// TCP addresses to listen on. Default: 127.0.0.1:5432.
    pub listen: Vec<SocketAddr>,
    /// Directory for the Unix socket `.s.PGSQL.<port>`; `None` for no socket.
    pub unix_socket_dir: Option<PathBuf>,
    /// Where the database, the certificate, pg_hba.conf and the mock secret live.
    pub data_dir: PathBuf,
    /// pg_hba.conf; default `<data_dir>/pg_hba.conf`, created on first start.
    pub hba_file: Option<PathBuf>,
    /// Offer TLS (SSLRequest answered with 'S').
    pub tls: bool,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    /// Covers the startup packet, TLS handshake and the whole exchange.
    pub authentication_timeout: Duration,
    pub max_connections: usize,
    /// Default `password_encryption` is scram-sha-256; true means md5.
    pub password_encryption_md5: bool,
    /// Default `scram_iterations`; mock verifiers use it too.
    pub scram_iterations: u32,
    /// The one database the embedded backend serves.
    pub database: String,
    /// Concurrent PBKDF2 computations the server runs for cleartext logins and
    /// plaintext CREATE ROLE ... PASSWORD (defaults to the number of cores).
    pub hash_workers: usize,
    /// Connections in TLS negotiation + authentication at once, counted from their
    /// first complete startup packet; more wait (within authentication_timeout) for a
    /// slot. Bounds the CPU and memory unauthenticated clients can claim, while idle
    /// half-open connections (no packet yet) hold no slot.
    pub max_handshakes: usize,
    /// Connections from one client address (IPv6: one /64) at once, counting those
    /// held by a failed-login delay; more are closed at accept. 0: no cap.
    pub max_connections_per_address: usize,
    /// Exponential delay before a failed login's error. Off in this default, as
    /// PostgreSQL's auth_delay is; `pgscram serve` turns it on
    /// ([`ThrottleConfig::default`]).
    pub throttle: ThrottleConfig,
    /// One event per attempt, if set.
    pub audit_log: Option<AuditTarget>,
    pub audit_format: AuditFormat,
    /// Prometheus metrics over HTTP at `/metrics`, if set.
    pub metrics_listen: Option<SocketAddr>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: vec![SocketAddr::from(([127, 0, 0, 1], 5432))],
            unix_socket_dir: None,
            data_dir: PathBuf::from("pgscram-data"),
            hba_file: None,
            tls: true,
            tls_cert: None,
            tls_key: None,
            authentication_timeout: Duration::from_secs(60),
            max_connections: 100,
            password_encryption_md5: false,
            scram_iterations: pgscram_scram::DEFAULT_ITERATIONS,
            database: "postgres".to_owned(),
            hash_workers: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(2),
            max_handshakes: 64,
            max_connections_per_address: 0,
            throttle: ThrottleConfig::off(),
            audit_log: None,
            audit_format: AuditFormat::Text,
            metrics_listen: None,
        }
    }
}

impl ServerConfig {
    pub fn hba_path(&self) -> PathBuf {
        self.hba_file
            .clone()
            .unwrap_or_else(|| self.data_dir.join("pg_hba.conf"))
    }
}

/// The pg_hba.conf written on first start: SCRAM everywhere, loopback only.
pub const DEFAULT_HBA: &str = "\
# pg_hba.conf written by pgscram on first start. Same syntax as PostgreSQL's.
# TYPE  DATABASE  USER  ADDRESS        METHOD
local   all       all                  scram-sha-256
host    all       all   127.0.0.1/32   scram-sha-256
host    all       all   ::1/128        scram-sha-256
";
