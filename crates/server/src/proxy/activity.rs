//! What operators see of the pools (the `pgscram` console and the metrics page): every
//! pooled client session and server connection as it is now, and per-database totals.
//!
//! Entries are registered by handles whose `Drop` removes them, so a session or a
//! connection that ends in any way (error, panic unwinding, client gone) leaves the
//! listing at once. State changes take one uncontended mutex per entry, a few times
//! per transaction; the listings take the registry's lock only to copy the entries.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Every pooled client and server connection, and the totals per database.
#[derive(Default)]
pub(crate) struct Activity {
    next_id: AtomicU64,
    clients: Mutex<BTreeMap<u64, Arc<ClientEntry>>>,
    servers: Mutex<BTreeMap<u64, Arc<ServerEntry>>>,
    totals: Mutex<BTreeMap<String, Arc<Totals>>>,
}

/// Where a client session is: PgBouncer's states.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ClientState {
    /// Holding a server connection, or between transactions with none needed.
    Active,
    /// Waiting for a server connection.
    Waiting,
}

/// Where a server connection is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ServerState {
    /// Logging in upstream.
    Login,
    /// In the pool, free.
    Idle,
    /// Serving a client.
    Active,
}

impl ClientState {
    pub fn as_str(self) -> &'static str {
        match self {
            ClientState::Active => "active",
            ClientState::Waiting => "waiting",
        }
    }
}

impl ServerState {
    pub fn as_str(self) -> &'static str {
        match self {
            ServerState::Login => "login",
            ServerState::Idle => "idle",
            ServerState::Active => "active",
        }
    }
}

/// A pooled client session.
pub(crate) struct ClientEntry {
    id: u64,
    user: String,
    database: String,
    peer: Option<SocketAddr>,
    tls: bool,
    application_name: String,
    connected: SystemTime,
    now: Mutex<ClientNow>,
}

struct ClientNow {
    state: ClientState,
    /// When the client last sent something.
    request: Instant,
    /// Since when it has been waiting, while it is.
    waiting_since: Option<Instant>,
    /// The server connection serving it.
    server: Option<u64>,
}

/// A server connection.
pub(crate) struct ServerEntry {
    id: u64,
    user: String,
    database: String,
    upstream: String,
    connected: SystemTime,
    now: Mutex<ServerNow>,
}

struct ServerNow {
    state: ServerState,
    /// When it was last handed to a client or back to the pool.
    request: Instant,
    client: Option<u64>,
    remote_pid: Option<i32>,
    tls: bool,
}

/// Totals for one database since the proxy started; times in microseconds.
#[derive(Default)]
pub(crate) struct Totals {
    xacts: AtomicU64,
    queries: AtomicU64,
    received: AtomicU64,
    sent: AtomicU64,
    xact_time: AtomicU64,
    query_time: AtomicU64,
    wait_time: AtomicU64,
}

/// The wall-clock time of `at` (entries keep monotonic times: cheaper to read on the
/// hot path, and listings are rare).
fn wall_clock(at: Instant) -> SystemTime {
    SystemTime::now()
        .checked_sub(at.elapsed())
        .unwrap_or(SystemTime::UNIX_EPOCH)
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

impl Totals {
    /// Bytes from the client, passed upstream.
    pub fn received(&self, bytes: usize) {
        self.received.fetch_add(bytes as u64, Ordering::Relaxed);
    }

    /// Bytes to the client.
    pub fn sent(&self, bytes: usize) {
        self.sent.fetch_add(bytes as u64, Ordering::Relaxed);
    }

    /// A query (up to its ReadyForQuery) took `took`.
    pub fn query(&self, took: Duration) {
        self.queries.fetch_add(1, Ordering::Relaxed);
        self.query_time.fetch_add(micros(took), Ordering::Relaxed);
    }

    /// A transaction (up to the ReadyForQuery that found the server idle) took `took`.
    pub fn xact(&self, took: Duration) {
        self.xacts.fetch_add(1, Ordering::Relaxed);
        self.xact_time.fetch_add(micros(took), Ordering::Relaxed);
    }

    /// A client waited `took` for a server connection.
    pub fn waited(&self, took: Duration) {
        self.wait_time.fetch_add(micros(took), Ordering::Relaxed);
    }
}

/// Keeps a client session listed until dropped.
pub(crate) struct ClientHandle {
    activity: Arc<Activity>,
    entry: Arc<ClientEntry>,
    /// Its database's totals.
    pub totals: Arc<Totals>,
}

/// Keeps a server connection listed until dropped.
pub(crate) struct ServerHandle {
    activity: Arc<Activity>,
    entry: Arc<ServerEntry>,
}

/// Who a client session is, for the listing.
pub(crate) struct ClientFacts<'a> {
    pub user: &'a str,
    pub database: &'a str,
    pub peer: Option<SocketAddr>,
    pub tls: bool,
    pub application_name: &'a str,
}

impl Activity {
    fn id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed) + 1
    }

    fn totals(&self, database: &str) -> Arc<Totals> {
        lock(&self.totals)
            .entry(database.to_owned())
            .or_default()
            .clone()
    }

    /// Lists a client session (active) until the handle is dropped.
    pub fn client(self: &Arc<Self>, facts: ClientFacts<'_>) -> ClientHandle {
        let now = SystemTime::now();
        let entry = Arc::new(ClientEntry {
            id: self.id(),
            user: facts.user.to_owned(),
            database: facts.database.to_owned(),
            peer: facts.peer,
            tls: facts.tls,
            application_name: facts.application_name.to_owned(),
            connected: now,
            now: Mutex::new(ClientNow {
                state: ClientState::Active,
                request: Instant::now(),
                waiting_since: None,
                server: None,
            }),
        });
        lock(&self.clients).insert(entry.id, entry.clone());
        ClientHandle {
            activity: self.clone(),
            totals: self.totals(facts.database),
            entry,
        }
    }

    /// Lists a server connection (logging in) until the handle is dropped.
    pub fn server(self: &Arc<Self>, user: &str, database: &str, upstream: &str) -> ServerHandle {
        let now = SystemTime::now();
        let entry = Arc::new(ServerEntry {
            id: self.id(),
            user: user.to_owned(),
            database: database.to_owned(),
            upstream: upstream.to_owned(),
            connected: now,
            now: Mutex::new(ServerNow {
                state: ServerState::Login,
                request: Instant::now(),
                client: None,
                remote_pid: None,
                tls: false,
            }),
        });
        lock(&self.servers).insert(entry.id, entry.clone());
        ServerHandle {
            activity: self.clone(),
            entry,
        }
    }
}

impl Drop for ClientHandle {
    fn drop(&mut self) {
        lock(&self.activity.clients).remove(&self.entry.id);
    }
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        lock(&self.activity.servers).remove(&self.entry.id);
    }
}

impl ClientHandle {
    /// Waiting for a server connection from now on.
    pub fn waiting(&self) {
        let mut now = lock(&self.entry.now);
        now.state = ClientState::Waiting;
        now.waiting_since = Some(Instant::now());
    }

    /// Served by `server` (or, `None`, between transactions); a wait ends here and is
    /// counted in the totals.
    pub fn linked(&self, server: Option<&ServerHandle>) {
        let mut now = lock(&self.entry.now);
        if let Some(since) = now.waiting_since.take() {
            self.totals.waited(since.elapsed());
        }
        now.state = ClientState::Active;
        now.server = server.map(|s| s.entry.id);
    }

    /// The client sent something (at `now`: the caller's clock reading, shared with
    /// its other books).
    pub fn requested(&self, now: Instant) {
        lock(&self.entry.now).request = now;
    }

    /// The id shown in the listing (`ptr`).
    pub fn id(&self) -> u64 {
        self.entry.id
    }
}

impl ServerHandle {
    /// Logged in: the upstream backend's pid and whether TLS carries it.
    pub fn logged_in(&self, remote_pid: Option<i32>, tls: bool) {
        let mut now = lock(&self.entry.now);
        now.remote_pid = remote_pid;
        now.tls = tls;
    }

    /// Serving the client `client`, or (`None`) back in the pool, since `at`.
    pub fn serving(&self, client: Option<u64>, at: Instant) {
        let mut now = lock(&self.entry.now);
        now.state = match client {
            Some(_) => ServerState::Active,
            None => ServerState::Idle,
        };
        now.client = client;
        now.request = at;
    }
}

/// One row of SHOW POOLS.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct PoolRow {
    pub database: String,
    pub user: String,
    pub cl_active: u64,
    pub cl_waiting: u64,
    pub sv_active: u64,
    pub sv_idle: u64,
    pub sv_login: u64,
    /// The longest wait of a client waiting now.
    pub maxwait: Duration,
}

/// One row of SHOW CLIENTS.
pub(crate) struct ClientRow {
    pub id: u64,
    pub user: String,
    pub database: String,
    pub state: ClientState,
    pub peer: Option<SocketAddr>,
    pub connected: SystemTime,
    pub request: SystemTime,
    pub wait: Duration,
    pub link: Option<u64>,
    pub tls: bool,
    pub application_name: String,
}

/// One row of SHOW SERVERS.
pub(crate) struct ServerRow {
    pub id: u64,
    pub user: String,
    pub database: String,
    pub state: ServerState,
    pub upstream: String,
    pub connected: SystemTime,
    pub request: SystemTime,
    pub link: Option<u64>,
    pub remote_pid: Option<i32>,
    pub tls: bool,
}

/// One row of SHOW STATS (totals since start; times in microseconds).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct StatsRow {
    pub database: String,
    pub xacts: u64,
    pub queries: u64,
    pub received: u64,
    pub sent: u64,
    pub xact_time: u64,
    pub query_time: u64,
    pub wait_time: u64,
}

impl Activity {
    /// Every client session, in the order they came.
    pub fn clients(&self) -> Vec<ClientRow> {
        let entries: Vec<Arc<ClientEntry>> = lock(&self.clients).values().cloned().collect();
        entries
            .iter()
            .map(|e| {
                let now = lock(&e.now);
                ClientRow {
                    id: e.id,
                    user: e.user.clone(),
                    database: e.database.clone(),
                    state: now.state,
                    peer: e.peer,
                    connected: e.connected,
                    request: wall_clock(now.request),
                    wait: now.waiting_since.map_or(Duration::ZERO, |s| s.elapsed()),
                    link: now.server,
                    tls: e.tls,
                    application_name: e.application_name.clone(),
                }
            })
            .collect()
    }

    /// Every server connection, in the order they were opened.
    pub fn servers(&self) -> Vec<ServerRow> {
        let entries: Vec<Arc<ServerEntry>> = lock(&self.servers).values().cloned().collect();
        entries
            .iter()
            .map(|e| {
                let now = lock(&e.now);
                ServerRow {
                    id: e.id,
                    user: e.user.clone(),
                    database: e.database.clone(),
                    state: now.state,
                    upstream: e.upstream.clone(),
                    connected: e.connected,
                    request: wall_clock(now.request),
                    link: now.client,
                    remote_pid: now.remote_pid,
                    tls: now.tls,
                }
            })
            .collect()
    }

    /// Per (database, user): its clients and server connections by state.
    pub fn pools(&self) -> Vec<PoolRow> {
        let mut pools: BTreeMap<(String, String), PoolRow> = BTreeMap::new();
        fn row<'a>(
            pools: &'a mut BTreeMap<(String, String), PoolRow>,
            database: &str,
            user: &str,
        ) -> &'a mut PoolRow {
            pools
                .entry((database.to_owned(), user.to_owned()))
                .or_insert_with(|| PoolRow {
                    database: database.to_owned(),
                    user: user.to_owned(),
                    ..PoolRow::default()
                })
        }
        for client in self.clients() {
            let pool = row(&mut pools, &client.database, &client.user);
            match client.state {
                ClientState::Waiting => {
                    pool.cl_waiting += 1;
                    pool.maxwait = pool.maxwait.max(client.wait);
                }
                ClientState::Active => pool.cl_active += 1,
            }
        }
        for server in self.servers() {
            let pool = row(&mut pools, &server.database, &server.user);
            match server.state {
                ServerState::Login => pool.sv_login += 1,
                ServerState::Idle => pool.sv_idle += 1,
                ServerState::Active => pool.sv_active += 1,
            }
        }
        pools.into_values().collect()
    }

    /// Totals per database.
    pub fn stats(&self) -> Vec<StatsRow> {
        lock(&self.totals)
            .iter()
            .map(|(database, t)| StatsRow {
                database: database.clone(),
                xacts: t.xacts.load(Ordering::Relaxed),
                queries: t.queries.load(Ordering::Relaxed),
                received: t.received.load(Ordering::Relaxed),
                sent: t.sent.load(Ordering::Relaxed),
                xact_time: t.xact_time.load(Ordering::Relaxed),
                query_time: t.query_time.load(Ordering::Relaxed),
                wait_time: t.wait_time.load(Ordering::Relaxed),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts<'a>(user: &'a str, database: &'a str) -> ClientFacts<'a> {
        ClientFacts {
            user,
            database,
            peer: None,
            tls: false,
            application_name: "",
        }
    }

    #[test]
    fn entries_leave_the_listing_when_dropped() {
        let activity = Arc::new(Activity::default());
        let alice = activity.client(facts("alice", "app"));
        let bob = activity.client(facts("bob", "app"));
        let server = activity.server("alice", "app", "127.0.0.1:5432");
        server.logged_in(Some(42), false);
        server.serving(Some(alice.id()), Instant::now());
        alice.linked(Some(&server));
        bob.waiting();
        let pools = activity.pools();
        assert_eq!(pools.len(), 2);
        assert_eq!(
            (
                pools[0].user.as_str(),
                pools[0].cl_active,
                pools[0].sv_active
            ),
            ("alice", 1, 1)
        );
        assert_eq!((pools[1].user.as_str(), pools[1].cl_waiting), ("bob", 1));
        let servers = activity.servers();
        assert_eq!(servers[0].link, Some(alice.id()));
        assert_eq!(servers[0].remote_pid, Some(42));
        drop(alice);
        drop(server);
        bob.linked(None);
        let pools = activity.pools();
        assert_eq!(pools.len(), 1, "{pools:?}");
        assert_eq!((pools[0].cl_active, pools[0].cl_waiting), (1, 0));
        drop(bob);
        assert!(activity.pools().is_empty());
        assert!(activity.clients().is_empty() && activity.servers().is_empty());
    }

    #[test]
    fn totals_add_up_per_database() {
        let activity = Arc::new(Activity::default());
        let a = activity.client(facts("alice", "app"));
        let b = activity.client(facts("bob", "app"));
        a.totals.query(Duration::from_micros(10));
        b.totals.query(Duration::from_micros(5));
        b.totals.xact(Duration::from_micros(20));
        a.totals.received(7);
        b.totals.sent(9);
        b.waiting();
        b.linked(None);
        let stats = activity.stats();
        assert_eq!(stats.len(), 1);
        let s = &stats[0];
        assert_eq!(
            (
                s.queries,
                s.query_time,
                s.xacts,
                s.xact_time,
                s.received,
                s.sent
            ),
            (2, 15, 1, 20, 7, 9)
        );
    }
}
