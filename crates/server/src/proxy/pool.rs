//! Server connections kept for reuse, as PgBouncer keeps them: one pool per (database,
//! user), `default_pool_size` connections at most, clients waiting their turn in order
//! (a fair semaphore) for at most `query_wait_timeout`.
//!
//! A connection is opened only with the credentials of a client whose own proof just
//! checked out (SCRAM pass-through: its ClientKey), and handed to a later client of the
//! same user only after that client's proof checked out too, against the same verifier
//! (a connection opened under another verifier is closed, not reused: the role's
//! password changed). Idle connections are closed after `server_idle_timeout`, every
//! connection after `server_lifetime`, and one the upstream closed is noticed before
//! it is handed out.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use tokio::io::AsyncReadExt as _;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// `pool_mode`: when a server connection goes back to the pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PoolMode {
    /// When the client disconnects (after `server_reset_query`).
    Session,
    /// At the end of each transaction (ReadyForQuery, idle, nothing pending).
    Transaction,
}

impl std::str::FromStr for PoolMode {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "session" => Ok(PoolMode::Session),
            "transaction" => Ok(PoolMode::Transaction),
            other => Err(format!(
                "invalid value for pool_mode: \"{other}\" (session or transaction)"
            )),
        }
    }
}

/// Pooling settings, with PgBouncer's names and defaults.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct PoolSettings {
    /// `pool_mode`.
    pub mode: PoolMode,
    /// `default_pool_size`: server connections per (database, user).
    pub default_pool_size: usize,
    /// `query_wait_timeout`: how long a client waits for a server connection.
    pub query_wait_timeout: Duration,
    /// `server_idle_timeout`: an idle server connection is closed after this.
    pub server_idle_timeout: Duration,
    /// `server_lifetime`: a server connection is closed after this, when next idle.
    pub server_lifetime: Duration,
    /// `server_reset_query`: run before a connection goes back to the pool in session
    /// mode (PgBouncer runs none in transaction mode).
    pub server_reset_query: String,
    /// `max_prepared_statements`: named prepared statements kept per server connection
    /// (transaction mode prepares clients' statements transparently).
    pub max_prepared_statements: usize,
}

impl Default for PoolSettings {
    fn default() -> Self {
        PoolSettings {
            mode: PoolMode::Session,
            default_pool_size: 20,
            query_wait_timeout: Duration::from_secs(120),
            server_idle_timeout: Duration::from_secs(600),
            server_lifetime: Duration::from_secs(3600),
            server_reset_query: "DISCARD ALL".to_owned(),
            max_prepared_statements: 200,
        }
    }
}

impl PoolSettings {
    /// Sets one setting by PgBouncer's name; times are seconds or PostgreSQL units.
    pub fn set(&mut self, name: &str, value: &str) -> Result<(), String> {
        let count = |v: &str| {
            v.parse::<usize>()
                .map_err(|_| format!("invalid value for {name}: \"{v}\""))
        };
        let time = |v: &str| {
            crate::config::parse_time(v).map_err(|e| format!("invalid value for {name}: {e}"))
        };
        match name {
            "pool_mode" => self.mode = value.parse()?,
            "default_pool_size" => match count(value)? {
                0 => return Err("default_pool_size must be at least 1".to_owned()),
                n => self.default_pool_size = n,
            },
            "query_wait_timeout" => self.query_wait_timeout = time(value)?,
            "server_idle_timeout" => self.server_idle_timeout = time(value)?,
            "server_lifetime" => self.server_lifetime = time(value)?,
            "server_reset_query" => self.server_reset_query = value.to_owned(),
            "max_prepared_statements" => self.max_prepared_statements = count(value)?,
            other => return Err(format!("unrecognized pool setting \"{other}\"")),
        }
        Ok(())
    }

    /// The names [`PoolSettings::set`] takes.
    pub const NAMES: &'static [&'static str] = &[
        "pool_mode",
        "default_pool_size",
        "query_wait_timeout",
        "server_idle_timeout",
        "server_lifetime",
        "server_reset_query",
        "max_prepared_statements",
    ];
}

/// An upstream connection that has logged in, between or during client sessions.
pub(crate) struct ServerConn {
    pub stream: pgscram_client::Stream,
    /// Bytes read from `stream` and not yet handled.
    pub buffered: Vec<u8>,
    /// The server's parameters as last reported (ParameterStatus).
    pub parameters: BTreeMap<String, String>,
    pub cancel: Option<pgscram_client::CancelToken>,
    /// Which credentials logged it in (see [`Pools::acquire`]).
    pub fingerprint: u64,
    /// Server-side names of the statements prepared on it.
    pub prepared: crate::proxy::statements::Prepared,
    created: Instant,
    idle_since: Instant,
}

impl ServerConn {
    /// Wraps a connection that has just logged in.
    pub fn new(
        relay: pgscram_client::Relay,
        cancel: Option<pgscram_client::CancelToken>,
        fingerprint: u64,
    ) -> Self {
        let now = Instant::now();
        ServerConn {
            stream: relay.stream,
            buffered: relay.buffered,
            parameters: relay.parameters,
            cancel,
            fingerprint,
            prepared: crate::proxy::statements::Prepared::default(),
            created: now,
            idle_since: now,
        }
    }

    /// Whether the upstream closed it or sent something while it sat idle (a FATAL
    /// at shutdown): either way it cannot serve anyone.
    fn gone(&mut self) -> bool {
        if !self.buffered.is_empty() {
            return true;
        }
        // One poll, no timer (a zero timeout still waits for the timer's next tick):
        // data or EOF now means the connection is no longer clean.
        let mut byte = [0u8; 1];
        let mut read = std::pin::pin!(self.stream.read(&mut byte));
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        std::future::Future::poll(read.as_mut(), &mut cx).is_ready()
    }
}

struct Pool {
    slots: Arc<Semaphore>,
    idle: Mutex<VecDeque<ServerConn>>,
}

/// Every pool of the proxy.
pub(crate) struct Pools {
    pub settings: PoolSettings,
    pools: Mutex<HashMap<(String, String), Arc<Pool>>>,
}

/// A client's hold on one slot of its pool, and the connection in it if one was found.
pub(crate) struct Lease {
    pool: Arc<Pool>,
    _permit: OwnedSemaphorePermit,
    /// An idle connection taken from the pool; `None`: open a new one in this slot.
    pub conn: Option<ServerConn>,
}

impl Lease {
    /// Gives the slot back; `conn`, if clean, goes to the pool for the next client.
    pub fn release(self, conn: Option<ServerConn>) {
        if let Some(mut conn) = conn {
            conn.idle_since = Instant::now();
            lock(&self.pool.idle).push_back(conn);
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Pools {
    pub fn new(settings: PoolSettings) -> Arc<Self> {
        Arc::new(Pools {
            settings,
            pools: Mutex::new(HashMap::new()),
        })
    }

    fn pool(&self, database: &str, user: &str) -> Arc<Pool> {
        lock(&self.pools)
            .entry((database.to_owned(), user.to_owned()))
            .or_insert_with(|| {
                Arc::new(Pool {
                    slots: Arc::new(Semaphore::new(self.settings.default_pool_size)),
                    idle: Mutex::new(VecDeque::new()),
                })
            })
            .clone()
    }

    /// Waits (in order, at most `query_wait_timeout`) for a slot of the (database,
    /// user) pool, and takes an idle connection opened with `fingerprint`'s credentials
    /// if there is one. Idle connections of other credentials, past their lifetime, or
    /// closed upstream are dropped on the way. `None`: the wait timed out.
    pub async fn acquire(&self, database: &str, user: &str, fingerprint: u64) -> Option<Lease> {
        let pool = self.pool(database, user);
        let permit = tokio::time::timeout(
            self.settings.query_wait_timeout,
            pool.slots.clone().acquire_owned(),
        )
        .await
        .ok()?
        .ok()?;
        let mut conn = None;
        loop {
            let candidate = lock(&pool.idle).pop_back();
            let Some(mut candidate) = candidate else {
                break;
            };
            let usable = candidate.fingerprint == fingerprint
                && candidate.created.elapsed() < self.settings.server_lifetime
                && !candidate.gone();
            if usable {
                conn = Some(candidate);
                break;
            }
        }
        Some(Lease {
            pool,
            _permit: permit,
            conn,
        })
    }

    /// Closes idle connections past `server_idle_timeout` or `server_lifetime`.
    pub fn prune(&self) {
        let pools: Vec<Arc<Pool>> = lock(&self.pools).values().cloned().collect();
        for pool in pools {
            lock(&pool.idle).retain(|c| {
                c.idle_since.elapsed() < self.settings.server_idle_timeout
                    && c.created.elapsed() < self.settings.server_lifetime
            });
        }
    }

    /// Prunes every second while the pools are alive (started with the first pooled
    /// session, on the runtime that serves it).
    pub fn start_pruning(self: &Arc<Self>) {
        let weak: Weak<Pools> = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            loop {
                tick.tick().await;
                match weak.upgrade() {
                    Some(pools) => pools.prune(),
                    None => return,
                }
            }
        });
    }
}
