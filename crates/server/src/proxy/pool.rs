//! Server connections kept for reuse, as PgBouncer keeps them: one pool per (database,
//! user), `default_pool_size` connections at most, clients waiting their turn in order
//! (a fair semaphore) for at most `query_wait_timeout`.
//!
//! A connection is opened only with the credentials of a client whose own proof checked
//! out (SCRAM pass-through: its ClientKey), and handed to a later client of the same
//! user only after that client's proof checked out too, against the same verifier (a
//! connection opened under another verifier is closed, not reused: the role's password
//! changed). Idle connections are closed after `server_idle_timeout`, every connection
//! after `server_lifetime`, and one the upstream closed is noticed before it is handed
//! out.
//!
//! The ClientKeys a pool keeps (`client_key_retention = pool`) live in the pool, at
//! most one per verifier of the role, and are zeroized once the pool has had no client
//! for `server_idle_timeout`; with `login` none is kept.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use pgscram_wire::{ErrorFields, SqlState};
use tokio::io::AsyncReadExt as _;
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};

use super::activity::{Activity, ClientHandle, ServerHandle};
use super::settings::{ClientKeyRetention, PoolSettings};
use super::upstream::Connector;

/// Verifiers a role can have at once (a rotation's two): the keys a pool keeps.
const KEYS_PER_POOL: usize = 2;

/// An upstream connection that has logged in, between or during client sessions.
pub(crate) struct ServerConn {
    pub stream: pgscram_client::Stream,
    /// Bytes read from `stream` and not yet handled.
    pub buffered: Vec<u8>,
    /// The server's parameters as last reported (ParameterStatus).
    pub parameters: BTreeMap<String, String>,
    pub cancel: Option<pgscram_client::CancelToken>,
    /// Which credentials logged it in (see [`Member::acquire`]).
    pub fingerprint: u64,
    /// Server-side names of the statements prepared on it.
    pub prepared: crate::proxy::statements::Prepared,
    /// The digest of the client parameters it is known to carry; 0: not known.
    pub carries: u64,
    /// Its line in the console's listings.
    pub listed: ServerHandle,
    created: Instant,
    idle_since: Instant,
}

impl ServerConn {
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

/// A ClientKey login kept by a pool.
struct Retained {
    fingerprint: u64,
    /// The upstream login with the ClientKey in it (zeroized when dropped).
    config: pgscram_client::Config,
}

/// Who is in a pool and what it may open connections with.
struct Members {
    /// Client sessions in the pool now.
    sessions: usize,
    /// When the last one left.
    last_left: Instant,
    /// Newest first.
    keys: Vec<Retained>,
}

struct Pool {
    database: String,
    user: String,
    slots: Arc<Semaphore>,
    idle: Mutex<VecDeque<ServerConn>>,
    /// Told whenever a connection goes back to `idle`.
    released: Notify,
    members: Mutex<Members>,
    /// A `min_pool_size` top-up is running.
    filling: AtomicBool,
}

impl Pool {
    /// The kept login for `fingerprint`, copied for one connection.
    fn credentials(&self, fingerprint: u64) -> Option<pgscram_client::Config> {
        lock(&self.members)
            .keys
            .iter()
            .find(|k| k.fingerprint == fingerprint)
            .map(|k| k.config.clone())
    }

    fn put_idle(&self, mut conn: ServerConn, now: Instant) {
        conn.idle_since = now;
        conn.listed.serving(None, now);
        lock(&self.idle).push_back(conn);
        self.released.notify_waiters();
    }
}

/// Every pool of the proxy.
pub(crate) struct Pools {
    pub settings: PoolSettings,
    pub activity: Arc<Activity>,
    connector: Arc<Connector>,
    pools: Mutex<HashMap<(String, String), Arc<Pool>>>,
}

/// A client session's place in its pool; leaving (drop) starts the pool's idle clock.
pub(crate) struct Member {
    pool: Arc<Pool>,
    fingerprint: u64,
    retention: ClientKeyRetention,
    /// `client_key_retention = login`: this session's own login, for its first
    /// connection only.
    own: Option<pgscram_client::Config>,
}

/// A client's hold on one slot of its pool and the connection in it.
pub(crate) struct Lease {
    pool: Arc<Pool>,
    _permit: OwnedSemaphorePermit,
    pub conn: ServerConn,
}

impl Lease {
    /// Gives the slot back, and the connection to the pool for the next client if it
    /// is clean (`keep`); otherwise the connection is closed.
    pub fn release(self, keep: bool) {
        if keep {
            self.pool.put_idle(self.conn, Instant::now());
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn wait_timeout() -> ErrorFields {
    ErrorFields::fatal(
        SqlState::parse("08P01").unwrap_or(SqlState::PROTOCOL_VIOLATION),
        "query_wait_timeout",
    )
}

impl Pools {
    pub fn new(settings: PoolSettings, connector: Arc<Connector>) -> Arc<Self> {
        Arc::new(Pools {
            settings,
            activity: Arc::default(),
            connector,
            pools: Mutex::new(HashMap::new()),
        })
    }

    fn pool(&self, database: &str, user: &str) -> Arc<Pool> {
        lock(&self.pools)
            .entry((database.to_owned(), user.to_owned()))
            .or_insert_with(|| {
                Arc::new(Pool {
                    database: database.to_owned(),
                    user: user.to_owned(),
                    slots: Arc::new(Semaphore::new(self.settings.default_pool_size)),
                    idle: Mutex::new(VecDeque::new()),
                    released: Notify::new(),
                    members: Mutex::new(Members {
                        sessions: 0,
                        last_left: Instant::now(),
                        keys: Vec::new(),
                    }),
                    filling: AtomicBool::new(false),
                })
            })
            .clone()
    }

    /// A client session that proved itself against the verifier `fingerprint` names
    /// joins its pool. While it is a member, the pool's key for that verifier stays.
    pub fn join(&self, database: &str, user: &str, fingerprint: u64) -> Member {
        let pool = self.pool(database, user);
        lock(&pool.members).sessions += 1;
        Member {
            pool,
            fingerprint,
            retention: self.settings.client_key_retention,
            own: None,
        }
    }

    /// Opens a server connection for `pool` with `config`, listed from the start.
    async fn open(
        &self,
        pool: &Pool,
        config: &pgscram_client::Config,
        fingerprint: u64,
    ) -> Result<ServerConn, ErrorFields> {
        let listed =
            self.activity
                .server(&pool.user, &pool.database, self.connector.upstream_name());
        let upstream = self.connector.connect(config, &pool.user).await?;
        let cancel = upstream.cancel_token();
        let relay = upstream.into_relay();
        listed.logged_in(
            relay.backend_key.map(|k| k.pid),
            relay.negotiated.tls.is_some(),
        );
        let now = Instant::now();
        Ok(ServerConn {
            stream: relay.stream,
            buffered: relay.buffered,
            parameters: relay.parameters,
            cancel,
            fingerprint,
            prepared: crate::proxy::statements::Prepared::default(),
            carries: 0,
            listed,
            created: now,
            idle_since: now,
        })
    }

    /// An idle connection of `pool` that `fingerprint`'s clients may use; idle
    /// connections of other credentials, past their lifetime, or closed upstream are
    /// dropped on the way.
    fn take_idle(&self, pool: &Pool, fingerprint: u64, now: Instant) -> Option<ServerConn> {
        loop {
            let mut candidate = lock(&pool.idle).pop_back()?;
            let usable = candidate.fingerprint == fingerprint
                && now.duration_since(candidate.created) < self.settings.server_lifetime
                && !candidate.gone();
            if usable {
                return Some(candidate);
            }
        }
    }

    /// Closes idle connections past `server_idle_timeout` or `server_lifetime` or
    /// closed upstream, zeroizes the keys of pools idle that long, and tops pools up to
    /// `min_pool_size`.
    pub fn prune(self: &Arc<Self>) {
        let pools: Vec<Arc<Pool>> = lock(&self.pools).values().cloned().collect();
        for pool in pools {
            lock(&pool.idle).retain_mut(|c| {
                c.idle_since.elapsed() < self.settings.server_idle_timeout
                    && c.created.elapsed() < self.settings.server_lifetime
                    && !c.gone()
            });
            {
                let mut members = lock(&pool.members);
                if members.sessions == 0
                    && members.last_left.elapsed() >= self.settings.server_idle_timeout
                {
                    members.keys.clear();
                }
            }
            self.fill(&pool);
        }
        // A pool nobody uses, with no connection and no key, goes: an authenticated
        // client naming database after database leaves nothing behind.
        lock(&self.pools).retain(|_, pool| {
            Arc::strong_count(pool) > 1
                || !lock(&pool.idle).is_empty()
                || !lock(&pool.members).keys.is_empty()
        });
    }

    /// Opens connections, one at a time, until `pool` has `min_pool_size`, while it
    /// keeps a key to open them with and a slot is free.
    fn fill(self: &Arc<Self>, pool: &Arc<Pool>) {
        let min = self.settings.min_pool_size;
        if min == 0 || pool.filling.swap(true, Ordering::AcqRel) {
            return;
        }
        let pools = self.clone();
        let pool = pool.clone();
        tokio::spawn(async move {
            loop {
                let busy = pools.settings.default_pool_size - pool.slots.available_permits();
                if busy + lock(&pool.idle).len() >= min {
                    break;
                }
                let Ok(permit) = pool.slots.clone().try_acquire_owned() else {
                    break;
                };
                let newest = lock(&pool.members)
                    .keys
                    .first()
                    .map(|k| (k.fingerprint, k.config.clone()));
                let Some((fingerprint, config)) = newest else {
                    break;
                };
                let opened = pools.open(&pool, &config, fingerprint).await;
                drop(config);
                match opened {
                    Ok(conn) => pool.put_idle(conn, Instant::now()),
                    Err(error) => {
                        tracing::info!(
                            "min_pool_size: could not open a connection for user \"{}\" database \"{}\": {}",
                            pool.user,
                            pool.database,
                            error.message
                        );
                        break;
                    }
                }
                drop(permit);
            }
            pool.filling.store(false, Ordering::Release);
        });
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

impl Member {
    /// Waits (in order, at most `query_wait_timeout`) for a slot of the pool and a
    /// connection in it: an idle one opened under this client's verifier, else a new
    /// one opened with the key kept for it. With no key to open one
    /// (`client_key_retention = login` after the first), the client waits for a
    /// connection to come back instead.
    pub async fn acquire(
        &mut self,
        pools: &Pools,
        client: &ClientHandle,
    ) -> Result<Lease, ErrorFields> {
        let pool = self.pool.clone();
        // Set when the client first has to wait (most leases never do).
        let mut deadline = None;
        let mut wait_until = || {
            *deadline.get_or_insert_with(|| {
                client.waiting();
                tokio::time::Instant::now() + pools.settings.query_wait_timeout
            })
        };
        loop {
            let permit = match pool.slots.clone().try_acquire_owned() {
                Ok(permit) => permit,
                Err(_) => tokio::time::timeout_at(wait_until(), pool.slots.clone().acquire_owned())
                    .await
                    .map_err(|_| wait_timeout())?
                    .map_err(|_| wait_timeout())?,
            };
            let now = Instant::now();
            if let Some(conn) = pools.take_idle(&pool, self.fingerprint, now) {
                return Ok(self.lease(pool, permit, conn, client, now));
            }
            let config = self
                .own
                .take()
                .or_else(|| pool.credentials(self.fingerprint));
            if let Some(config) = config {
                let conn = pools.open(&pool, &config, self.fingerprint).await?;
                return Ok(self.lease(pool, permit, conn, client, Instant::now()));
            }
            // Nothing to open with: wait for a connection to come back.
            let released = pool.released.notified();
            let mut released = std::pin::pin!(released);
            released.as_mut().enable();
            drop(permit);
            tokio::time::timeout_at(wait_until(), released)
                .await
                .map_err(|_| wait_timeout())?;
        }
    }

    fn lease(
        &self,
        pool: Arc<Pool>,
        permit: OwnedSemaphorePermit,
        conn: ServerConn,
        client: &ClientHandle,
        now: Instant,
    ) -> Lease {
        conn.listed.serving(Some(client.id()), now);
        client.linked(Some(&conn.listed));
        Lease {
            pool,
            _permit: permit,
            conn,
        }
    }

    /// Whether this session's own login (its ClientKey) is wanted: always with
    /// `client_key_retention = login`; with `pool`, unless the pool already keeps the
    /// key for this verifier (the same key: the verifier's StoredKey is its hash).
    pub fn needs_login(&self) -> bool {
        match self.retention {
            ClientKeyRetention::Login => true,
            ClientKeyRetention::Pool => !lock(&self.pool.members)
                .keys
                .iter()
                .any(|k| k.fingerprint == self.fingerprint),
        }
    }

    /// Hands over this session's login: kept by the pool, or by the session for its
    /// first connection, as `client_key_retention` says.
    pub fn give_login(&mut self, login: pgscram_client::Config) {
        match self.retention {
            ClientKeyRetention::Login => self.own = Some(login),
            ClientKeyRetention::Pool => {
                let mut members = lock(&self.pool.members);
                members.keys.retain(|k| k.fingerprint != self.fingerprint);
                members.keys.insert(
                    0,
                    Retained {
                        fingerprint: self.fingerprint,
                        config: login,
                    },
                );
                members.keys.truncate(KEYS_PER_POOL);
            }
        }
    }

    /// Zeroizes the session's own login (`client_key_retention = login`) now that its
    /// first connection is open.
    pub fn forget_login(&mut self) {
        self.own = None;
    }
}

impl Drop for Member {
    fn drop(&mut self) {
        let mut members = lock(&self.pool.members);
        members.sessions = members.sessions.saturating_sub(1);
        members.last_left = Instant::now();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pools(settings: PoolSettings) -> Arc<Pools> {
        let upstream = crate::proxy::upstream_config("host=127.0.0.1 port=1").unwrap();
        let store = Arc::new(crate::store::MemoryStore::new());
        Pools::new(settings, Arc::new(Connector::new(&upstream, store)))
    }

    fn pool_count(pools: &Pools) -> usize {
        lock(&pools.pools).len()
    }

    #[test]
    fn keys_live_while_the_pool_has_clients_and_empty_pools_go() {
        let pools = pools(PoolSettings {
            server_idle_timeout: Duration::ZERO,
            ..PoolSettings::default()
        });
        let upstream = crate::proxy::upstream_config("host=127.0.0.1 port=1 user=u").unwrap();

        let mut member = pools.join("db", "u", 7);
        assert!(member.needs_login(), "nothing kept yet");
        member.give_login(upstream.clone());
        let second = pools.join("db", "u", 7);
        assert!(!second.needs_login(), "the pool keeps this verifier's key");
        assert!(
            pools.join("db", "u", 8).needs_login(),
            "another verifier's is not"
        );
        pools.prune();
        assert!(
            member.pool.credentials(7).is_some(),
            "kept while clients are in"
        );
        drop((member, second));
        pools.prune();
        assert_eq!(
            pool_count(&pools),
            0,
            "idle past server_idle_timeout: key and pool gone"
        );

        // client_key_retention = login: nothing is kept by the pool.
        let pools = super::tests::pools(PoolSettings {
            client_key_retention: ClientKeyRetention::Login,
            ..PoolSettings::default()
        });
        let mut member = pools.join("db", "u", 7);
        member.give_login(upstream);
        assert!(member.pool.credentials(7).is_none());
        assert!(member.own.is_some());
        member.forget_login();
        assert!(member.own.is_none());
        drop(member);
        pools.prune();
        assert_eq!(pool_count(&pools), 0);
    }
}
