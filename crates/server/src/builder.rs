//! [`ServerBuilder`]: everything a server is made of, each with a safe default, checked
//! and bound in [`ServerBuilder::build`].

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicI32;

use pgscram_auth::hba::Interface;
use pgscram_scram::MockSecret;
use tokio::net::{TcpListener, UnixListener};

use crate::admission::Admission;
use crate::audit::{AuditLog, AuditTarget};
use crate::backend::Backend;
use crate::cancel::CancelRegistry;
use crate::config::{DEFAULT_HBA, SettingError, Settings, Ssl};
use crate::hash_pool::HashPool;
use crate::metrics::Metrics;
use crate::server::Server;
use crate::shutdown::ShutdownSender;
use crate::state::{HbaSource, ServerState, SettingsSource, load_hba};
use crate::store::PasswordStore;
use crate::throttle::Throttle;
use crate::tls::{Tls, TlsError};

/// Why a server could not start. Names the file, setting or address at fault.
#[derive(Debug)]
#[non_exhaustive]
pub enum StartError {
    /// A setting or the configuration file is wrong (the message names file and line).
    Config(String),
    /// No credential store or no backend was given.
    Missing(&'static str),
    /// The data directory or a file in it could not be used.
    DataDir(PathBuf, std::io::Error),
    /// pg_hba could not be loaded (the message names file and line).
    Hba(String),
    /// TLS could not be set up.
    Tls(TlsError),
    /// A listening socket could not be bound.
    Bind(String, std::io::Error),
    /// The audit log could not be opened.
    Audit(String, std::io::Error),
}

impl std::fmt::Display for StartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StartError::Config(e) | StartError::Hba(e) => f.write_str(e),
            StartError::Missing(what) => write!(f, "the server needs {what}"),
            StartError::DataDir(path, e) => write!(f, "data directory \"{}\": {e}", path.display()),
            StartError::Tls(e) => write!(f, "{e}"),
            StartError::Bind(addr, e) => write!(f, "could not listen on {addr}: {e}"),
            StartError::Audit(target, e) => write!(f, "could not open audit log \"{target}\": {e}"),
        }
    }
}

impl std::error::Error for StartError {}

impl From<SettingError> for StartError {
    fn from(e: SettingError) -> Self {
        StartError::Config(e.to_string())
    }
}

/// Where the mock-authentication secret comes from.
enum MockSource {
    Bytes([u8; 32]),
    File(PathBuf),
}

/// Builds a [`Server`]: listeners, TLS, pg_hba rules, the credential store, the
/// backend, limits and telemetry. Only the store and the backend have no default.
///
/// ```no_run
/// # async fn example(store: std::sync::Arc<dyn pgscram_server::PasswordStore>,
/// #                  backend: impl pgscram_server::Backend) -> Result<(), pgscram_server::StartError> {
/// let server = pgscram_server::Server::builder()
///     .listen("127.0.0.1:5433".parse().unwrap())
///     .store(store)
///     .backend(backend)
///     .build()
///     .await?;
/// let handle = server.handle(); // handle.shutdown() from anywhere
/// server.run().await;
/// # Ok(()) }
/// ```
pub struct ServerBuilder {
    settings: Settings,
    listen_set: bool,
    config_file: Option<PathBuf>,
    overrides: Vec<(String, String)>,
    program: Vec<String>,
    store: Option<Arc<dyn PasswordStore>>,
    backend: Option<Arc<dyn Backend>>,
    tls: Option<Tls>,
    hba: Option<HbaSource>,
    mock: Option<MockSource>,
    /// Set by [`ServerBuilder::embedded`]: the backend is made at build, when the
    /// pg_hba file its `pg_hba_file_rules` view shows is known.
    embedded: Option<pgscram_embedded::Database>,
}

impl Default for ServerBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl ServerBuilder {
    /// Safe defaults: 127.0.0.1:5432, TLS with a certificate made in memory, SCRAM on
    /// loopback only (pg_hba), failed logins throttled, no files written.
    pub fn new() -> Self {
        ServerBuilder {
            settings: Settings::default(),
            listen_set: false,
            config_file: None,
            overrides: Vec::new(),
            program: Vec::new(),
            store: None,
            backend: None,
            tls: None,
            hba: None,
            mock: None,
            embedded: None,
        }
    }

    /// Replaces every setting.
    pub fn settings(mut self, settings: Settings) -> Self {
        self.settings = settings;
        self.listen_set = true;
        self
    }

    /// Changes settings in place.
    pub fn configure(mut self, change: impl FnOnce(&mut Settings)) -> Self {
        change(&mut self.settings);
        self
    }

    /// Sets one setting by its postgresql.conf name, as a configuration-file line does.
    pub fn set(mut self, name: &str, value: &str) -> Result<Self, SettingError> {
        self.settings.set(name, value)?;
        Ok(self)
    }

    /// Reads settings from `path` (postgresql.conf syntax) at build and on every
    /// [`crate::ServerHandle::reload`].
    pub fn config_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.config_file = Some(path.into());
        self
    }

    /// Settings that win over the configuration file, on every reload too (what
    /// command-line flags are to the file).
    pub fn overrides(mut self, overrides: Vec<(String, String)>) -> Self {
        self.overrides = overrides;
        self
    }

    /// Names the configuration file may hold that belong to the program, not the
    /// server (`pgscram serve`'s `superuser`): the server skips them.
    pub fn program_settings(mut self, names: &[&str]) -> Self {
        self.program = names.iter().map(|n| (*n).to_owned()).collect();
        self
    }

    /// Listens on `addr` (repeatable; the first call replaces the default address).
    pub fn listen(mut self, addr: SocketAddr) -> Self {
        if !self.listen_set {
            self.settings.listen.clear();
            self.listen_set = true;
        }
        self.settings.listen.push(addr);
        self
    }

    /// Also listens on the Unix socket `<dir>/.s.PGSQL.<port>`.
    pub fn unix_socket_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.settings.unix_socket_dir = Some(dir.into());
        self
    }

    /// Keeps pg_hba.conf, a generated certificate and the mock secret in `dir`,
    /// creating them on first start, as `pgscram serve` does.
    pub fn data_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.settings.data_dir = Some(dir.into());
        self
    }

    /// TLS from a certificate given in code ([`Tls::from_pem_files`],
    /// [`Tls::from_pem`], [`Tls::from_rustls`], [`Tls::self_signed`]).
    pub fn tls(mut self, tls: Tls) -> Self {
        self.tls = Some(tls);
        self.settings.ssl = Ssl::On;
        self
    }

    /// Refuses TLS (SSLRequest answered with 'N').
    pub fn no_tls(mut self) -> Self {
        self.tls = None;
        self.settings.ssl = Ssl::Off;
        self
    }

    /// pg_hba rules from a file, re-read on reload.
    pub fn hba_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.hba = Some(HbaSource::File(path.into()));
        self
    }

    /// pg_hba rules given in code, in pg_hba.conf's syntax (includes are refused).
    pub fn hba_rules(mut self, rules: &str) -> Self {
        self.hba = Some(HbaSource::Text {
            name: "pg_hba.conf".to_owned(),
            text: rules.to_owned(),
        });
        self
    }

    /// The secret that makes mock salts for unknown roles. Keep it stable across
    /// restarts, or an attacker can tell unknown roles by their changing salt.
    pub fn mock_secret(mut self, secret: [u8; 32]) -> Self {
        self.mock = Some(MockSource::Bytes(secret));
        self
    }

    /// The mock secret from `path`, created (mode 0600) on first start.
    pub fn mock_secret_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.mock = Some(MockSource::File(path.into()));
        self
    }

    /// The credential store every login is checked against.
    pub fn store(mut self, store: Arc<dyn PasswordStore>) -> Self {
        self.store = Some(store);
        self
    }

    /// What serves sessions once clients are authenticated.
    pub fn backend(mut self, backend: impl Backend) -> Self {
        self.backend = Some(Arc::new(backend));
        self
    }

    /// The embedded default: `db`'s role catalog as the credential store and sessions
    /// on `db` (the database named `postgres`). `pg_hba_file_rules` shows the
    /// pg_hba.conf in force, when the rules come from a file.
    pub fn embedded(mut self, db: pgscram_embedded::Database) -> Self {
        self.store = Some(Arc::new(crate::store::CatalogStore::new(db.clone())));
        self.embedded = Some(db);
        self
    }

    /// The same, for a backend already shared.
    pub fn backend_arc(mut self, backend: Arc<dyn Backend>) -> Self {
        self.backend = Some(backend);
        self
    }

    /// Checks the configuration, prepares the data directory if there is one, and
    /// binds every listener.
    pub async fn build(self) -> Result<Server, StartError> {
        let store = self
            .store
            .ok_or(StartError::Missing("a credential store"))?;
        let source = SettingsSource {
            base: self.settings,
            file: self.config_file,
            overrides: self.overrides,
            program: self.program,
        };
        let settings = source.resolve().map_err(StartError::Config)?;
        if let Some(dir) = &settings.data_dir {
            std::fs::create_dir_all(dir).map_err(|e| StartError::DataDir(dir.clone(), e))?;
        }
        let hba_source = hba_source(self.hba, &settings)?;
        let hba = load_hba(&hba_source, settings.ssl).map_err(StartError::Hba)?;
        let backend = match (self.backend, &self.embedded) {
            (Some(backend), _) => backend,
            (None, Some(db)) => {
                let mut factory = crate::engine::EmbeddedFactory::new(db.clone());
                if let HbaSource::File(path) = &hba_source {
                    factory = factory.hba_view(path.clone(), settings.ssl == Ssl::On);
                }
                Arc::new(crate::engine::EngineBackend::new(factory))
            }
            (None, None) => return Err(StartError::Missing("a backend")),
        };
        let mock = match (self.mock, &settings.data_dir) {
            (Some(MockSource::Bytes(bytes)), _) => MockSecret::from_bytes(bytes),
            (Some(MockSource::File(path)), _) => load_or_create_mock_secret(&path)?,
            (None, Some(dir)) => load_or_create_mock_secret(&dir.join("mock_auth_secret"))?,
            (None, None) => {
                tracing::warn!(
                    "no mock secret given: mock salts change at every start (set a data directory or a mock secret)"
                );
                MockSecret::from_bytes(random_secret(Path::new("<memory>"))?)
            }
        };
        let tls = match (self.tls, settings.ssl) {
            (_, Ssl::Off) => None,
            (Some(tls), _) => Some(tls),
            (None, _) => Some(default_tls(&settings)?),
        };
        if let Some(path) = tls.as_ref().and_then(Tls::generated_path) {
            tracing::info!(
                "generated a self-signed TLS certificate: {}",
                path.display()
            );
        }
        let mut tcp = Vec::new();
        for addr in &settings.listen {
            let listener = TcpListener::bind(addr)
                .await
                .map_err(|e| StartError::Bind(addr.to_string(), e))?;
            tcp.push(listener);
        }
        let port = tcp
            .first()
            .and_then(|l| l.local_addr().ok())
            .map_or(5432, |a| a.port());
        let unix = match &settings.unix_socket_dir {
            Some(dir) => {
                let path = dir.join(format!(".s.PGSQL.{port}"));
                let _ = std::fs::remove_file(&path);
                let listener = UnixListener::bind(&path)
                    .map_err(|e| StartError::Bind(path.display().to_string(), e))?;
                Some((listener, path))
            }
            None => None,
        };
        let metrics = match settings.metrics_listen {
            Some(addr) => Some(
                TcpListener::bind(addr)
                    .await
                    .map_err(|e| StartError::Bind(addr.to_string(), e))?,
            ),
            None => None,
        };
        let audit = match &settings.audit_log {
            Some(target) => Some(
                AuditLog::open(target, settings.audit_format)
                    .map_err(|e| StartError::Audit(audit_name(target), e))?,
            ),
            None => None,
        };
        let state = ServerState {
            hash_pool: HashPool::new(settings.hash_workers),
            admission: Admission::new(settings.max_handshakes),
            throttle: Throttle::new(settings.throttle),
            metrics: Metrics::new(),
            audit,
            cancel: CancelRegistry::new(),
            next_pid: AtomicI32::new(1),
            interfaces: local_interfaces(&settings.listen),
            shutdown: ShutdownSender::new(),
            settings: std::sync::RwLock::new(Arc::new(settings)),
            settings_source: source,
            hba: std::sync::RwLock::new(Arc::new(hba)),
            hba_source,
            tls,
            mock,
            store,
            backend,
            reload_requests: self.embedded,
        };
        Ok(Server {
            state: Arc::new(state),
            tcp,
            unix,
            metrics,
        })
    }
}

/// The rules given in code, else `hba_file`, else `<data_dir>/pg_hba.conf` (written
/// with the default rules on first start), else the default rules.
fn hba_source(given: Option<HbaSource>, settings: &Settings) -> Result<HbaSource, StartError> {
    if let Some(source) = given {
        return Ok(source);
    }
    if let Some(path) = &settings.hba_file {
        return Ok(HbaSource::File(path.clone()));
    }
    if let Some(dir) = &settings.data_dir {
        let path = dir.join("pg_hba.conf");
        if !path.exists() {
            std::fs::write(&path, DEFAULT_HBA).map_err(|e| StartError::DataDir(path.clone(), e))?;
        }
        return Ok(HbaSource::File(path));
    }
    Ok(HbaSource::Text {
        name: "pg_hba.conf".to_owned(),
        text: DEFAULT_HBA.to_owned(),
    })
}

/// The certificate files in the settings; else the data directory's (generated on
/// first start); else one made in memory for this run.
fn default_tls(settings: &Settings) -> Result<Tls, StartError> {
    match (
        &settings.ssl_cert_file,
        &settings.ssl_key_file,
        &settings.data_dir,
    ) {
        (Some(cert), Some(key), _) => Tls::from_pem_files(cert, key),
        (_, _, Some(dir)) => Tls::load_or_generate(None, None, dir),
        _ => Tls::self_signed(),
    }
    .map_err(StartError::Tls)
}

fn audit_name(target: &AuditTarget) -> String {
    match target {
        AuditTarget::Stdout => "-".to_owned(),
        AuditTarget::File(path) => path.display().to_string(),
    }
}

fn random_secret(path: &Path) -> Result<[u8; 32], StartError> {
    let mut bytes = [0u8; 32];
    getrandom::getrandom(&mut bytes)
        .map_err(|e| StartError::DataDir(path.to_owned(), std::io::Error::other(e)))?;
    Ok(bytes)
}

/// The mock secret is made once per file, like PostgreSQL's mock authentication nonce
/// at initdb: mock salts stay stable across restarts.
fn load_or_create_mock_secret(path: &Path) -> Result<MockSecret, StartError> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    if let Ok(bytes) = std::fs::read(path)
        && let Ok(bytes) = <[u8; 32]>::try_from(bytes.as_slice())
    {
        return Ok(MockSecret::from_bytes(bytes));
    }
    let bytes = random_secret(path)?;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| StartError::DataDir(path.to_owned(), e))?;
    file.write_all(&bytes)
        .and_then(|()| file.sync_all())
        .map_err(|e| StartError::DataDir(path.to_owned(), e))?;
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
