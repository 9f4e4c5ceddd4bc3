//! The listener and the life of one connection: startup negotiation (TLS, GSSENC,
//! cancel), pg_hba matching, authentication, the checks PostgreSQL makes after it, and
//! the hand-over to the session.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime};

use pgscram_auth::hba::{
    ConnKind, ConnRequest, HbaOptions, HbaRules, Interface, MatchEnv, NoResolver, RoleOracle,
};
use pgscram_scram::MockSecret;
use pgscram_wire::frame::limits;
use pgscram_wire::{ErrorFields, SqlState, StartupMessage, StartupPacket, StartupRequest};
use tokio::net::{TcpListener, UnixListener};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::audit::{AuditEvent, AuditLog, Outcome};
use crate::authenticate::{AuthContext, AuthResult, authenticate};
use crate::cancel::CancelRegistry;
use crate::config::{DEFAULT_HBA, ServerConfig};
use crate::hash_pool::HashPool;
use crate::log::{self, Level};
use crate::metrics::{Gauges, Metrics, RefuseReason};
use crate::reply;
use crate::session::{Backend, SessionStart};
use crate::store::PasswordStore;
use crate::stream::{Conn, ReadError, Transport};
use crate::throttle::Throttle;
use crate::tls::{CertificateSource, Tls};

/// Why the server could not start. Names the file or address at fault.
#[derive(Debug)]
pub enum StartError {
    DataDir(PathBuf, std::io::Error),
    Hba(String),
    Tls(crate::tls::TlsError),
    Bind(String, std::io::Error),
    /// The audit log could not be opened.
    Audit(String, std::io::Error),
}

impl std::fmt::Display for StartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StartError::DataDir(path, e) => write!(f, "data directory \"{}\": {e}", path.display()),
            StartError::Hba(e) => f.write_str(e),
            StartError::Tls(e) => write!(f, "{e}"),
            StartError::Bind(addr, e) => write!(f, "could not listen on {addr}: {e}"),
            StartError::Audit(target, e) => write!(f, "could not open audit log \"{target}\": {e}"),
        }
    }
}

impl std::error::Error for StartError {}

/// State every connection shares.
pub struct Shared {
    config: ServerConfig,
    store: Arc<dyn PasswordStore>,
    hba: RwLock<Arc<HbaRules>>,
    tls: Option<Tls>,
    mock: MockSecret,
    cancel: Arc<CancelRegistry>,
    hash_pool: HashPool,
    active: AtomicUsize,
    per_role: Mutex<HashMap<String, usize>>,
    /// Open connections per client address (see [`crate::throttle::prefix`]); an entry
    /// exists only while a connection from it is open, so the map is bounded by the
    /// connection ceiling.
    per_address: Mutex<HashMap<[u8; 16], usize>>,
    handshakes: Arc<Semaphore>,
    throttle: Throttle,
    metrics: Metrics,
    audit: Option<AuditLog>,
    next_pid: AtomicI32,
    backend: Backend,
    interfaces: Vec<Interface>,
}

impl Shared {
    pub fn config(&self) -> &ServerConfig {
        &self.config
    }

    pub fn store(&self) -> &dyn PasswordStore {
        self.store.as_ref()
    }

    pub fn mock_secret(&self) -> &MockSecret {
        &self.mock
    }

    pub fn hash_pool(&self) -> &HashPool {
        &self.hash_pool
    }

    pub fn cancel_registry(&self) -> &Arc<CancelRegistry> {
        &self.cancel
    }

    pub fn hba(&self) -> Arc<HbaRules> {
        self.hba.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub fn backend(&self) -> &Backend {
        &self.backend
    }

    pub fn throttle(&self) -> &Throttle {
        &self.throttle
    }

    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    pub fn audit(&self) -> Option<&AuditLog> {
        self.audit.as_ref()
    }

    /// Open client connections right now.
    pub fn connections(&self) -> usize {
        self.active.load(Ordering::SeqCst)
    }

    /// The metrics page, with the gauges read now.
    pub fn render_metrics(&self) -> String {
        self.metrics.render(&Gauges {
            connections: self.connections(),
            max_connections: self.config.max_connections,
            max_handshakes: self.config.max_handshakes.max(1),
            hash_workers_free: self.hash_pool.available(),
            throttle_slots: self.throttle.slots(),
            audit_written: self.audit.as_ref().map_or(0, AuditLog::written),
            audit_dropped: self.audit.as_ref().map_or(0, AuditLog::dropped),
        })
    }

    /// The most connections that may exist at once: max_connections, plus room for the
    /// handshakes that end in `53300 too many clients`. Beyond it, sockets are closed
    /// at accept without reading a byte.
    fn connection_ceiling(&self) -> usize {
        self.config
            .max_connections
            .saturating_add(self.config.max_handshakes.max(1))
    }

    /// Re-reads pg_hba.conf. On any error the old rules stay, as PostgreSQL does on
    /// SIGHUP, and the error (naming file and line) is returned for the log.
    pub fn reload_hba(&self) -> Result<usize, String> {
        let rules = load_hba(&self.config)?;
        let count = rules.rules().len();
        *self.hba.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(rules);
        Ok(count)
    }
}

fn load_hba(config: &ServerConfig) -> Result<HbaRules, String> {
    let path = config.hba_path();
    let options = HbaOptions {
        ssl_enabled: config.tls,
    };
    HbaRules::load(&path, &options).map_err(|e| e.to_string())
}

/// The `pg_hba` role oracle, backed by the credential store.
struct StoreRoles<'a>(&'a dyn PasswordStore);

impl RoleOracle for StoreRoles<'_> {
    fn is_member(&self, user: &str, role: &str) -> bool {
        self.0.is_member(user, role)
    }
}

/// A bound, ready server.
pub struct Server {
    shared: Arc<Shared>,
    tcp: Vec<TcpListener>,
    unix: Option<(UnixListener, PathBuf)>,
    metrics: Option<TcpListener>,
}

impl Server {
    /// Prepares the data directory (mock secret, pg_hba.conf, certificate on first
    /// start), loads the rules and binds every listener.
    pub async fn bind(
        config: ServerConfig,
        store: Arc<dyn PasswordStore>,
        backend: Backend,
    ) -> Result<Self, StartError> {
        let data = &config.data_dir;
        std::fs::create_dir_all(data).map_err(|e| StartError::DataDir(data.clone(), e))?;
        let mock = load_or_create_mock_secret(data)?;
        if config.hba_file.is_none() && !config.hba_path().exists() {
            let path = config.hba_path();
            std::fs::write(&path, DEFAULT_HBA).map_err(|e| StartError::DataDir(path, e))?;
        }
        let hba = load_hba(&config).map_err(StartError::Hba)?;
        let tls = if config.tls {
            let tls =
                Tls::load_or_generate(config.tls_cert.as_deref(), config.tls_key.as_deref(), data)
                    .map_err(StartError::Tls)?;
            if let CertificateSource::Generated(path) = &tls.source {
                log::line(
                    0,
                    Level::Log,
                    &format!(
                        "generated a self-signed TLS certificate: {}",
                        path.display()
                    ),
                );
            }
            Some(tls)
        } else {
            None
        };
        let mut tcp = Vec::new();
        for addr in &config.listen {
            let listener = TcpListener::bind(addr)
                .await
                .map_err(|e| StartError::Bind(addr.to_string(), e))?;
            tcp.push(listener);
        }
        let port = tcp
            .first()
            .and_then(|l| l.local_addr().ok())
            .map_or(5432, |a| a.port());
        let unix = match &config.unix_socket_dir {
            Some(dir) => {
                let path = dir.join(format!(".s.PGSQL.{port}"));
                let _ = std::fs::remove_file(&path);
                let listener = UnixListener::bind(&path)
                    .map_err(|e| StartError::Bind(path.display().to_string(), e))?;
                Some((listener, path))
            }
            None => None,
        };
        let metrics = match config.metrics_listen {
            Some(addr) => Some(
                TcpListener::bind(addr)
                    .await
                    .map_err(|e| StartError::Bind(addr.to_string(), e))?,
            ),
            None => None,
        };
        let audit = match &config.audit_log {
            Some(target) => Some(AuditLog::open(target, config.audit_format).map_err(|e| {
                let name = match target {
                    crate::audit::AuditTarget::Stdout => "-".to_owned(),
                    crate::audit::AuditTarget::File(path) => path.display().to_string(),
                };
                StartError::Audit(name, e)
            })?),
            None => None,
        };
        let interfaces = local_interfaces(&config.listen);
        let shared = Arc::new(Shared {
            hash_pool: HashPool::new(config.hash_workers),
            per_address: Mutex::new(HashMap::new()),
            handshakes: Arc::new(Semaphore::new(config.max_handshakes.max(1))),
            throttle: Throttle::new(config.throttle),
            metrics: Metrics::new(),
            audit,
            next_pid: AtomicI32::new(1),
            config,
            store,
            hba: RwLock::new(Arc::new(hba)),
            tls,
            mock,
            cancel: CancelRegistry::new(),
            active: AtomicUsize::new(0),
            per_role: Mutex::new(HashMap::new()),
            backend,
            interfaces,
        });
        Ok(Server {
            shared,
            tcp,
            unix,
            metrics,
        })
    }

    pub fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// The TCP addresses actually bound (port 0 resolved).
    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        self.tcp
            .iter()
            .filter_map(|l| l.local_addr().ok())
            .collect()
    }

    pub fn unix_socket(&self) -> Option<&Path> {
        self.unix.as_ref().map(|(_, p)| p.as_path())
    }

    /// Where `/metrics` is served, if it is.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics.as_ref().and_then(|l| l.local_addr().ok())
    }

    /// Accepts connections until the task is dropped; reloads pg_hba.conf on SIGHUP.
    pub async fn run(self) {
        for addr in self.local_addrs() {
            log::line(
                0,
                Level::Log,
                &format!(
                    "listening on IPv{} address \"{}\", port {}",
                    if addr.is_ipv4() { 4 } else { 6 },
                    addr.ip(),
                    addr.port()
                ),
            );
        }
        if let Some(path) = self.unix_socket() {
            log::line(
                0,
                Level::Log,
                &format!("listening on Unix socket \"{}\"", path.display()),
            );
        }
        let mut tasks = tokio::task::JoinSet::new();
        if let Some(listener) = self.metrics {
            if let Ok(addr) = listener.local_addr() {
                log::line(
                    0,
                    Level::Log,
                    &format!("serving metrics on http://{addr}/metrics"),
                );
            }
            let shared = self.shared.clone();
            tasks.spawn(crate::metrics::serve_http(
                listener,
                Arc::new(move || shared.render_metrics()),
            ));
        }
        for listener in self.tcp {
            let shared = self.shared.clone();
            tasks.spawn(async move {
                loop {
                    match listener.accept().await {
                        Ok((stream, peer)) => {
                            let _ = stream.set_nodelay(true);
                            let shared = shared.clone();
                            tokio::spawn(handle(shared, Box::new(stream), Some(peer)));
                        }
                        Err(e) => {
                            log::line(
                                0,
                                Level::Log,
                                &format!("could not accept new connection: {e}"),
                            );
                            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                        }
                    }
                }
            });
        }
        if let Some((listener, _)) = self.unix {
            let shared = self.shared.clone();
            tasks.spawn(async move {
                loop {
                    match listener.accept().await {
                        Ok((stream, _)) => {
                            tokio::spawn(handle(shared.clone(), Box::new(stream), None));
                        }
                        Err(e) => {
                            log::line(
                                0,
                                Level::Log,
                                &format!("could not accept new connection: {e}"),
                            );
                            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                        }
                    }
                }
            });
        }
        let shared = self.shared.clone();
        tasks.spawn(async move {
            let Ok(mut hup) =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
            else {
                return;
            };
            while hup.recv().await.is_some() {
                log::line(
                    0,
                    Level::Log,
                    "received SIGHUP, reloading configuration files",
                );
                match shared.reload_hba() {
                    Ok(n) => log::line(0, Level::Log, &format!("pg_hba.conf reloaded: {n} rules")),
                    Err(e) => {
                        log::line(0, Level::Log, &e);
                        log::line(0, Level::Log, "pg_hba.conf was not reloaded");
                    }
                }
            }
        });
        while tasks.join_next().await.is_some() {}
    }
}

/// The mock secret is made once per data directory, like PostgreSQL's mock
/// authentication nonce at initdb: mock salts stay stable across restarts.
fn load_or_create_mock_secret(data: &Path) -> Result<MockSecret, StartError> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let path = data.join("mock_auth_secret");
    if let Ok(bytes) = std::fs::read(&path)
        && let Ok(bytes) = <[u8; 32]>::try_from(bytes.as_slice())
    {
        return Ok(MockSecret::from_bytes(bytes));
    }
    let mut bytes = [0u8; 32];
    getrandom::getrandom(&mut bytes)
        .map_err(|e| StartError::DataDir(path.clone(), std::io::Error::other(e)))?;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&path)
        .map_err(|e| StartError::DataDir(path.clone(), e))?;
    file.write_all(&bytes)
        .and_then(|()| file.sync_all())
        .map_err(|e| StartError::DataDir(path, e))?;
    Ok(MockSecret::from_bytes(bytes))
}

/// What `samehost`/`samenet` compare against: the loopback networks and the addresses
/// we listen on (reading every interface needs getifaddrs, which is unsafe FFI).
fn local_interfaces(listen: &[SocketAddr]) -> Vec<Interface> {
    let mut out = vec![
        Interface {
            addr: IpAddr::from([127, 0, 0, 1]),
            netmask: IpAddr::from([255, 0, 0, 0]),
        },
        Interface {
            addr: IpAddr::from([0u16, 0, 0, 0, 0, 0, 0, 1]),
            netmask: IpAddr::from([0xffffu16; 8]),
        },
    ];
    for addr in listen {
        if !addr.ip().is_unspecified() && !addr.ip().is_loopback() {
            let netmask = if addr.is_ipv4() {
                IpAddr::from([255, 255, 255, 255])
            } else {
                IpAddr::from([0xffffu16; 8])
            };
            out.push(Interface {
                addr: addr.ip(),
                netmask,
            });
        }
    }
    out
}

/// Counts a connection for max_connections; released on drop.
struct Slot<'a>(&'a AtomicUsize);

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Counts a connection for max_connections_per_address; released on drop.
struct AddressSlot<'a> {
    shared: &'a Shared,
    key: [u8; 16],
}

impl<'a> AddressSlot<'a> {
    /// `Err` when the address is at its cap; `Ok(None)` when there is no cap.
    fn acquire(shared: &'a Shared, addr: IpAddr) -> Result<Option<Self>, ()> {
        let cap = shared.config.max_connections_per_address;
        if cap == 0 {
            return Ok(None);
        }
        let key = crate::throttle::prefix(addr);
        let mut counts = shared.per_address.lock().unwrap_or_else(|e| e.into_inner());
        let count = counts.entry(key).or_insert(0);
        if *count >= cap {
            return Err(());
        }
        *count += 1;
        Ok(Some(AddressSlot { shared, key }))
    }
}

impl Drop for AddressSlot<'_> {
    fn drop(&mut self) {
        let mut counts = self
            .shared
            .per_address
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if let Some(n) = counts.get_mut(&self.key) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                counts.remove(&self.key);
            }
        }
    }
}

/// A handshake permit, counted in the metrics while held.
struct Handshake<'a> {
    metrics: &'a Metrics,
    _permit: OwnedSemaphorePermit,
}

impl<'a> Handshake<'a> {
    fn new(metrics: &'a Metrics, permit: OwnedSemaphorePermit) -> Self {
        metrics.handshake_started();
        Handshake {
            metrics,
            _permit: permit,
        }
    }
}

impl Drop for Handshake<'_> {
    fn drop(&mut self) {
        self.metrics.handshake_ended();
    }
}

/// Counts a connection for the role's CONNECTION LIMIT; released on drop.
pub(crate) struct RoleSlot<'a> {
    shared: &'a Shared,
    role: String,
}

impl Drop for RoleSlot<'_> {
    fn drop(&mut self) {
        let mut counts = self
            .shared
            .per_role
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if let Some(n) = counts.get_mut(&self.role) {
            *n = n.saturating_sub(1);
        }
    }
}

/// What is known about one attempt so far, for its audit event. Filled in as the
/// connection progresses, so a timeout still reports how far it got.
struct Attempt {
    pid: i32,
    client: Option<SocketAddr>,
    user: Option<String>,
    database: Option<String>,
    method: Option<pgscram_auth::hba::AuthMethod>,
    hba: Option<(String, u32)>,
    ssl: bool,
    delay: Duration,
}

impl Attempt {
    fn new(pid: i32, client: Option<SocketAddr>) -> Self {
        Attempt {
            pid,
            client,
            user: None,
            database: None,
            method: None,
            hba: None,
            ssl: false,
            delay: Duration::ZERO,
        }
    }

    /// Counts the outcome and writes the audit event.
    fn finish(self, shared: &Shared, outcome: Outcome, reason: Option<String>) {
        shared.metrics.attempt(self.method, outcome);
        if let Some(audit) = &shared.audit {
            audit.record(&AuditEvent {
                time: SystemTime::now(),
                pid: self.pid,
                client: self.client,
                user: self.user,
                database: self.database,
                method: self.method,
                hba: self.hba,
                ssl: self.ssl,
                outcome,
                reason,
                delay: self.delay,
            });
        }
    }
}

/// How startup and authentication ended.
enum Step<'a> {
    /// Authenticated and admitted: start the session.
    Ready(Conn, SessionStart, RoleSlot<'a>),
    /// A failure whose error is still to be sent (after the throttle's delay, for a
    /// credential failure). `reason` is the log-only explanation.
    Failed {
        conn: Conn,
        error: Box<ErrorFields>,
        reason: Option<String>,
    },
    /// Already answered or nothing to answer. `None`: not an attempt (a cancel
    /// request, a client that left before its startup packet).
    Ended(Option<(Outcome, Option<String>)>),
}

/// The whole life of one client connection, as connection `pid` in the log.
async fn handle(shared: Arc<Shared>, io: Box<dyn Transport>, peer: Option<SocketAddr>) {
    let pid = shared.next_pid.fetch_add(1, Ordering::Relaxed);
    log::scope(pid, serve_connection(&shared, io, peer, pid)).await;
}

async fn serve_connection(
    shared: &Shared,
    io: Box<dyn Transport>,
    peer: Option<SocketAddr>,
    pid: i32,
) {
    shared.metrics.accepted();
    let active = shared.active.fetch_add(1, Ordering::SeqCst) + 1;
    let _slot = Slot(&shared.active);
    let mut attempt = Attempt::new(pid, peer);
    if active > shared.connection_ceiling() {
        shared.metrics.refused(RefuseReason::Overload);
        attempt.finish(
            shared,
            Outcome::Refused,
            Some("connection ceiling reached; closed at accept".to_owned()),
        );
        return;
    }
    let _address_slot = match peer.map(|p| AddressSlot::acquire(shared, p.ip())) {
        Some(Err(())) => {
            shared.metrics.refused(RefuseReason::PerAddress);
            attempt.finish(
                shared,
                Outcome::Refused,
                Some("too many connections from this address; closed at accept".to_owned()),
            );
            return;
        }
        Some(Ok(slot)) => slot,
        None => None,
    };
    // authentication_timeout covers the startup packet, the wait for a handshake slot,
    // TLS and the exchange: a slow client is cut wherever it stalls.
    let deadline = tokio::time::Instant::now() + shared.config.authentication_timeout;
    let mut conn = Conn::new(io);
    // The first packet is read before a handshake slot is taken: reading it is cheap
    // and bounded (10 000 bytes), so idle and half-open connections wait out their
    // timeout without holding a slot a real client needs.
    let first = match tokio::time::timeout_at(deadline, read_first_packet(&mut conn)).await {
        Ok(Ok(packet)) => packet,
        Ok(Err(None)) => return,
        Ok(Err(Some(message))) => {
            attempt.finish(shared, Outcome::ProtocolError, Some(message));
            return;
        }
        Err(_) => {
            attempt.finish(
                shared,
                Outcome::Timeout,
                Some("timeout before a complete startup packet".to_owned()),
            );
            return;
        }
    };
    let permit =
        match tokio::time::timeout_at(deadline, shared.handshakes.clone().acquire_owned()).await {
            Ok(Ok(permit)) => permit,
            _ => {
                attempt.finish(
                    shared,
                    Outcome::Timeout,
                    Some("timed out waiting for a handshake slot".to_owned()),
                );
                return;
            }
        };
    let handshake = Handshake::new(&shared.metrics, permit);
    let step = tokio::time::timeout_at(
        deadline,
        // Boxed: the handshake's state (TLS, SCRAM) is allocated only for connections
        // that got this far, so an idle connection's task stays small.
        Box::pin(startup_and_authenticate(
            shared,
            conn,
            first,
            peer,
            active,
            &mut attempt,
        )),
    )
    .await;
    // Whatever follows (a session, a throttled failure) is no longer handshake work.
    drop(handshake);
    match step {
        Err(_) => {
            // Slow-loris, or a client that never answers: cut without a word, as
            // PostgreSQL does.
            attempt.finish(
                shared,
                Outcome::Timeout,
                Some("authentication timeout".to_owned()),
            );
        }
        Ok(Step::Ready(conn, start, role_slot)) => {
            attempt.finish(shared, Outcome::Success, None);
            Box::pin(shared.backend.run_session(conn, start, shared)).await;
            drop(role_slot);
        }
        Ok(Step::Failed {
            mut conn,
            error,
            reason,
        }) => {
            let outcome = if error.code == SqlState::INVALID_PASSWORD {
                Outcome::Failure
            } else if error.code == SqlState::INVALID_AUTHORIZATION_SPECIFICATION {
                Outcome::Rejected
            } else {
                Outcome::ProtocolError
            };
            if outcome == Outcome::Failure {
                let user = attempt.user.as_deref().unwrap_or_default();
                attempt.delay = shared.throttle.record_failure(peer.map(|p| p.ip()), user);
                shared.metrics.throttled(attempt.delay);
            }
            let delay = attempt.delay;
            attempt.finish(
                shared,
                outcome,
                reason.or_else(|| Some(error.message.clone())),
            );
            // The delay is a sleeping task holding this connection (and its address
            // slot): it costs the attacker the time, and us no CPU.
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            let _ = reply::error(&mut conn, *error).await;
        }
        Ok(Step::Ended(Some((outcome, reason)))) => attempt.finish(shared, outcome, reason),
        Ok(Step::Ended(None)) => {}
    }
}

async fn startup_and_authenticate<'a>(
    shared: &'a Shared,
    conn: Conn,
    first: StartupPacket,
    peer: Option<SocketAddr>,
    active: usize,
    attempt: &mut Attempt,
) -> Step<'a> {
    let (mut conn, startup, ssl) = match negotiate(shared, conn, first).await {
        Negotiated::Startup(conn, startup, ssl) => (conn, startup, ssl),
        Negotiated::Ended(outcome) => return Step::Ended(outcome),
    };
    attempt.ssl = ssl;
    attempt.user = Some(startup.user().to_owned());
    attempt.database = Some(startup.database().to_owned());
    if active > shared.config.max_connections {
        let message = "sorry, too many clients already";
        let _ = reply::error(
            &mut conn,
            ErrorFields::fatal(SqlState::TOO_MANY_CONNECTIONS, message),
        )
        .await;
        return Step::Ended(Some((
            Outcome::TooManyConnections,
            Some(message.to_owned()),
        )));
    }
    if let Some(negotiate) = startup.negotiation(pgscram_wire::ProtocolVersion::LATEST) {
        let _ = reply::push(
            &mut conn,
            &pgscram_wire::BackendMessage::NegotiateProtocolVersion(negotiate),
        );
    }
    let user = startup.user().to_owned();
    let database = startup.database().to_owned();
    let kind = match peer {
        Some(addr) => ConnKind::Host {
            addr: addr.ip(),
            ssl,
        },
        None => ConnKind::Local,
    };
    let request = ConnRequest {
        kind,
        database: &database,
        user: &user,
        physical_replication: false,
    };
    let matched = {
        let hba = shared.hba();
        let roles = StoreRoles(shared.store());
        let env = MatchEnv {
            roles: &roles,
            resolver: &NoResolver,
            interfaces: &shared.interfaces,
        };
        hba.check(&request, &env).cloned()
    };
    let Some(rule) = matched else {
        let message = pgscram_auth::hba::no_entry_message(&request);
        log::line(0, Level::Fatal, &message);
        let _ = reply::error(
            &mut conn,
            ErrorFields::fatal(
                SqlState::INVALID_AUTHORIZATION_SPECIFICATION,
                message.clone(),
            ),
        )
        .await;
        return Step::Ended(Some((Outcome::Rejected, Some(message))));
    };
    attempt.method = Some(rule.method);
    attempt.hba = Some((rule.file.clone(), rule.line));
    let end_point = if ssl {
        shared.tls.as_ref().and_then(|t| t.end_point.as_deref())
    } else {
        None
    };
    let ctx = AuthContext {
        user: &user,
        request,
        end_point,
    };
    let result = authenticate(&mut conn, &ctx, &rule, shared).await;
    let client_key = match result {
        AuthResult::Ok { client_key, .. } => client_key,
        AuthResult::Failed { error, log: lines } => {
            log::line(0, Level::Fatal, &error.message);
            for line in &lines {
                log::line(0, Level::Detail, line);
            }
            return Step::Failed {
                conn,
                error: Box::new(error),
                reason: lines.first().cloned(),
            };
        }
        AuthResult::Gone => {
            return Step::Ended(Some((
                Outcome::Disconnected,
                Some("client closed the connection during authentication".to_owned()),
            )));
        }
    };
    log::line(0, Level::Log, &rule.authenticated_log(&user));

    // After authentication, as PostgreSQL's InitPostgres: role, login right, database,
    // connection limit. Only now may existence be revealed.
    let role = match shared.store().role(&user) {
        Ok(Some(role)) => role,
        Ok(None) => {
            return fail_after_auth(
                &mut conn,
                SqlState::INVALID_AUTHORIZATION_SPECIFICATION,
                format!("role \"{user}\" does not exist"),
            )
            .await;
        }
        Err(e) => {
            return fail_after_auth(
                &mut conn,
                SqlState::INTERNAL_ERROR,
                format!("could not read role \"{user}\": {e}"),
            )
            .await;
        }
    };
    if !role.can_login {
        return fail_after_auth(
            &mut conn,
            SqlState::INVALID_AUTHORIZATION_SPECIFICATION,
            format!("role \"{user}\" is not permitted to log in"),
        )
        .await;
    }
    if !shared.backend.has_database(&database, shared) {
        return fail_after_auth(
            &mut conn,
            SqlState::INVALID_CATALOG_NAME,
            format!("database \"{database}\" does not exist"),
        )
        .await;
    }
    let admitted = {
        let mut counts = shared.per_role.lock().unwrap_or_else(|e| e.into_inner());
        let count = counts.entry(user.clone()).or_insert(0);
        let over = role.connection_limit >= 0
            && !role.superuser
            && *count >= role.connection_limit as usize;
        if !over {
            *count += 1;
        }
        !over
    };
    if !admitted {
        return fail_after_auth(
            &mut conn,
            SqlState::TOO_MANY_CONNECTIONS,
            format!("too many connections for role \"{user}\""),
        )
        .await;
    }
    let role_slot = RoleSlot {
        shared,
        role: user.clone(),
    };
    let start = SessionStart {
        startup,
        user,
        database,
        superuser: role.superuser,
        ssl,
        client_key,
    };
    Step::Ready(conn, start, role_slot)
}

async fn fail_after_auth<'a>(
    conn: &mut Conn,
    code: pgscram_wire::SqlState,
    message: String,
) -> Step<'a> {
    log::line(0, Level::Fatal, &message);
    let _ = reply::error(conn, ErrorFields::fatal(code, message.clone())).await;
    Step::Ended(Some((Outcome::Denied, Some(message))))
}

/// How startup negotiation ended.
enum Negotiated {
    /// A StartupMessage arrived; TLS is up if the flag says so.
    Startup(Conn, StartupMessage, bool),
    /// Nothing more to do on this connection (see [`Step::Ended`]).
    Ended(Option<(Outcome, Option<String>)>),
}

/// Reads startup packets until a StartupMessage: answers SSLRequest (upgrading to
/// TLS) and GSSENCRequest, serves CancelRequest. Returns the message and whether TLS
/// is up.
async fn negotiate(shared: &Shared, mut conn: Conn, first: StartupPacket) -> Negotiated {
    let mut ssl = false;
    let mut gss_refused = false;
    let mut next = Some(first);
    loop {
        let packet = match next.take() {
            Some(packet) => packet,
            None => match read_first_packet(&mut conn).await {
                Ok(packet) => packet,
                Err(None) => return Negotiated::Ended(None),
                Err(Some(message)) => return protocol_error(message),
            },
        };
        match StartupRequest::decode(&packet) {
            Ok(StartupRequest::Startup(message)) => return Negotiated::Startup(conn, message, ssl),
            Ok(StartupRequest::SslRequest) if !ssl => {
                let Some(tls) = &shared.tls else {
                    if conn.write_now(b"N").await.is_err() {
                        return Negotiated::Ended(None);
                    }
                    continue;
                };
                if conn.write_now(b"S").await.is_err() {
                    return Negotiated::Ended(None);
                }
                if conn.buffered() > 0 {
                    // Bytes sent before the handshake would be taken as if encrypted
                    // (CVE-2021-23214): refuse, in the clear, as PostgreSQL does.
                    let error = ErrorFields::fatal(SqlState::PROTOCOL_VIOLATION, "received unencrypted data after SSL request")
                        .with_detail("This could be either a client-software bug or evidence of an attempted man-in-the-middle attack.");
                    log::line(
                        0,
                        Level::Fatal,
                        "received unencrypted data after SSL request",
                    );
                    let _ = reply::error(&mut conn, error).await;
                    return protocol_error(
                        "received unencrypted data after SSL request".to_owned(),
                    );
                }
                match tls.acceptor.accept(conn.into_inner()).await {
                    Ok(stream) => {
                        conn = Conn::new(Box::new(stream));
                        ssl = true;
                    }
                    Err(e) => {
                        let message = format!("could not accept SSL connection: {e}");
                        log::line(0, Level::Log, &message);
                        return protocol_error(message);
                    }
                }
            }
            Ok(StartupRequest::GssEncRequest) if !gss_refused && !ssl => {
                gss_refused = true;
                if conn.write_now(b"N").await.is_err() {
                    return Negotiated::Ended(None);
                }
            }
            Ok(StartupRequest::SslRequest | StartupRequest::GssEncRequest) => {
                let code = pgscram_wire::ProtocolVersion::from_code(packet.code());
                let message = format!(
                    "unsupported frontend protocol {}.{}: server supports 3.0 to 3.0",
                    code.major, code.minor
                );
                let _ = reply::error(
                    &mut conn,
                    ErrorFields::fatal(SqlState::PROTOCOL_VIOLATION, message.clone()),
                )
                .await;
                return protocol_error(message);
            }
            Ok(StartupRequest::Cancel(request)) => {
                shared.cancel.cancel(request.pid, request.key.expose());
                return Negotiated::Ended(None);
            }
            Err(e) => {
                let message = e.to_string();
                log::line(0, Level::Fatal, &message);
                let _ = reply::error(&mut conn, ErrorFields::fatal(e.sqlstate(), message.clone()))
                    .await;
                return protocol_error(message);
            }
        }
    }
}

/// Reads one startup-phase packet. `Err(None)`: the client left; `Err(Some)`: a
/// framing error, logged (PostgreSQL logs it as COMMERROR and closes without a reply).
async fn read_first_packet(conn: &mut Conn) -> Result<StartupPacket, Option<String>> {
    match conn.read_startup(limits::STARTUP_PACKET).await {
        Ok(packet) => Ok(packet),
        Err(ReadError::Protocol(e)) => {
            let message = e.to_string();
            log::line(0, Level::Log, &message);
            Err(Some(message))
        }
        Err(_) => Err(None),
    }
}

fn protocol_error(message: String) -> Negotiated {
    Negotiated::Ended(Some((Outcome::ProtocolError, Some(message))))
}
