//! The listener and the life of one connection: startup negotiation (TLS, GSSENC,
//! cancel), pg_hba matching, authentication, the checks PostgreSQL makes after it, and
//! the hand-over to the session.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use pgscram_auth::hba::{
    ConnKind, ConnRequest, HbaOptions, HbaRules, Interface, MatchEnv, NoResolver, RoleOracle,
};
use pgscram_scram::MockSecret;
use pgscram_wire::frame::limits;
use pgscram_wire::{ErrorFields, SqlState, StartupMessage, StartupRequest};
use tokio::net::{TcpListener, UnixListener};

use crate::authenticate::{AuthContext, AuthResult, authenticate};
use crate::cancel::CancelRegistry;
use crate::config::{DEFAULT_HBA, ServerConfig};
use crate::hash_pool::HashPool;
use crate::log::{self, Level};
use crate::reply;
use crate::session::{Backend, SessionStart};
use crate::store::PasswordStore;
use crate::stream::{Conn, ReadError, Transport};
use crate::tls::{CertificateSource, Tls};

/// Why the server could not start. Names the file or address at fault.
#[derive(Debug)]
pub enum StartError {
    DataDir(PathBuf, std::io::Error),
    Hba(String),
    Tls(crate::tls::TlsError),
    Bind(String, std::io::Error),
}

impl std::fmt::Display for StartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StartError::DataDir(path, e) => write!(f, "data directory \"{}\": {e}", path.display()),
            StartError::Hba(e) => f.write_str(e),
            StartError::Tls(e) => write!(f, "{e}"),
            StartError::Bind(addr, e) => write!(f, "could not listen on {addr}: {e}"),
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
        let interfaces = local_interfaces(&config.listen);
        let shared = Arc::new(Shared {
            hash_pool: HashPool::new(config.hash_workers),
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
        Ok(Server { shared, tcp, unix })
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

/// The whole life of one client connection.
async fn handle(shared: Arc<Shared>, io: Box<dyn Transport>, peer: Option<SocketAddr>) {
    let active = shared.active.fetch_add(1, Ordering::SeqCst) + 1;
    let _slot = Slot(&shared.active);
    let conn = Conn::new(io);
    let deadline = shared.config.authentication_timeout;
    let started = tokio::time::timeout(
        deadline,
        startup_and_authenticate(&shared, conn, peer, active),
    )
    .await;
    let Ok(Some((conn, start, role_slot))) = started else {
        // Timed out (slow-loris, or a client that never answers) or already reported.
        return;
    };
    shared.backend.run_session(conn, start, &shared).await;
    drop(role_slot);
}

async fn startup_and_authenticate<'a>(
    shared: &'a Shared,
    conn: Conn,
    peer: Option<SocketAddr>,
    active: usize,
) -> Option<(Conn, SessionStart, RoleSlot<'a>)> {
    let (mut conn, startup, ssl) = negotiate(shared, conn).await?;
    if active > shared.config.max_connections {
        let _ = reply::error(
            &mut conn,
            ErrorFields::fatal(
                SqlState::TOO_MANY_CONNECTIONS,
                "sorry, too many clients already",
            ),
        )
        .await;
        return None;
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
            ErrorFields::fatal(SqlState::INVALID_AUTHORIZATION_SPECIFICATION, message),
        )
        .await;
        return None;
    };
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
            let _ = reply::error(&mut conn, error).await;
            return None;
        }
        AuthResult::Gone => return None,
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
    Some((conn, start, role_slot))
}

async fn fail_after_auth<T>(
    conn: &mut Conn,
    code: pgscram_wire::SqlState,
    message: String,
) -> Option<T> {
    log::line(0, Level::Fatal, &message);
    let _ = reply::error(conn, ErrorFields::fatal(code, message)).await;
    None
}

/// Reads startup packets until a StartupMessage: answers SSLRequest (upgrading to
/// TLS) and GSSENCRequest, serves CancelRequest. Returns the message and whether TLS
/// is up.
async fn negotiate(shared: &Shared, mut conn: Conn) -> Option<(Conn, StartupMessage, bool)> {
    let mut ssl = false;
    let mut gss_refused = false;
    loop {
        let packet = match conn.read_startup(limits::STARTUP_PACKET).await {
            Ok(packet) => packet,
            Err(ReadError::Protocol(e)) => {
                // PostgreSQL logs this (COMMERROR) and closes without a reply.
                log::line(0, Level::Log, &e.to_string());
                return None;
            }
            Err(_) => return None,
        };
        match StartupRequest::decode(&packet) {
            Ok(StartupRequest::Startup(message)) => return Some((conn, message, ssl)),
            Ok(StartupRequest::SslRequest) if !ssl => {
                let Some(tls) = &shared.tls else {
                    conn.write_now(b"N").await.ok()?;
                    continue;
                };
                conn.write_now(b"S").await.ok()?;
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
                    return None;
                }
                match tls.acceptor.accept(conn.into_inner()).await {
                    Ok(stream) => {
                        conn = Conn::new(Box::new(stream));
                        ssl = true;
                    }
                    Err(e) => {
                        log::line(
                            0,
                            Level::Log,
                            &format!("could not accept SSL connection: {e}"),
                        );
                        return None;
                    }
                }
            }
            Ok(StartupRequest::GssEncRequest) if !gss_refused && !ssl => {
                gss_refused = true;
                conn.write_now(b"N").await.ok()?;
            }
            Ok(StartupRequest::SslRequest | StartupRequest::GssEncRequest) => {
                let code = pgscram_wire::ProtocolVersion::from_code(packet.code());
                let message = format!(
                    "unsupported frontend protocol {}.{}: server supports 3.0 to 3.0",
                    code.major, code.minor
                );
                let _ = reply::error(
                    &mut conn,
                    ErrorFields::fatal(SqlState::PROTOCOL_VIOLATION, message),
                )
                .await;
                return None;
            }
            Ok(StartupRequest::Cancel(request)) => {
                shared.cancel.cancel(request.pid, request.key.expose());
                return None;
            }
            Err(e) => {
                log::line(0, Level::Fatal, &e.to_string());
                let _ =
                    reply::error(&mut conn, ErrorFields::fatal(e.sqlstate(), e.to_string())).await;
                return None;
            }
        }
    }
}
