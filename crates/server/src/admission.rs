//! Who may hold what. Before authentication a connection is *pending*: pending
//! connections are capped per client address (IPv6: per /64) and in total, so one source
//! cannot starve the others and many sources cannot exhaust the server; handshakes in
//! progress (TLS, the exchange) are capped too. A pending connection whose check waits
//! its turn after recent failures moves to a pool of its own, capped the same way, so
//! parked guesses never take the places of clients that are logging in. After authentication it is a *session*:
//! sessions count toward max_connections and CONNECTION LIMIT, never per address (an
//! application server behind one address may hold hundreds). Every grant is a guard
//! that gives its slot back when dropped, so a connection that ends, however it ends,
//! frees what it held at once.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::metrics::Metrics;
use crate::store::Role;

/// Connections counted in total and per client address.
#[derive(Default)]
pub(crate) struct Pool {
    total: AtomicUsize,
    /// Per client address (see [`crate::throttle::prefix`]); an entry exists only while
    /// a connection from it holds a slot, so the map is bounded by the total cap.
    per_address: Mutex<HashMap<[u8; 16], usize>>,
}

impl Pool {
    /// Connections holding a slot.
    pub(crate) fn count(&self) -> usize {
        self.total.load(Ordering::SeqCst)
    }

    /// A slot for a connection from `addr` (`None`: a Unix socket), or why not: over
    /// `total` connections, or over `per_address` (0: no cap) from that address.
    pub(crate) fn take(
        &self,
        addr: Option<IpAddr>,
        total: usize,
        per_address: usize,
    ) -> Result<PoolSlot<'_>, Refusal> {
        if self.total.fetch_add(1, Ordering::SeqCst) >= total {
            self.total.fetch_sub(1, Ordering::SeqCst);
            return Err(Refusal::Total);
        }
        let mut slot = PoolSlot {
            pool: self,
            key: None,
        };
        if let (Some(addr), true) = (addr, per_address > 0) {
            let key = crate::throttle::prefix(addr);
            let mut counts = lock(&self.per_address);
            let count = counts.entry(key).or_insert(0);
            if *count >= per_address {
                return Err(Refusal::PerAddress);
            }
            *count += 1;
            slot.key = Some(key);
        }
        Ok(slot)
    }
}

/// The counters behind every slot.
pub(crate) struct Admission {
    /// Connections that have not authenticated yet (waiting ones excepted).
    pub(crate) pending: Pool,
    /// Connections whose check waits its turn (see [`crate::throttle`]).
    pub(crate) waiting: Pool,
    sessions: AtomicUsize,
    per_role: Mutex<HashMap<String, u32>>,
    handshakes: Arc<Semaphore>,
    /// The handshakes holding a slot, by id, for eviction.
    in_progress: Mutex<HashMap<u64, Arc<Watch>>>,
    /// Pending connections that have not sent a complete startup packet yet.
    silent: Mutex<HashMap<u64, Arc<Watch>>>,
    next_watch: AtomicU64,
}

impl Admission {
    pub(crate) fn new(max_handshakes: usize) -> Self {
        Admission {
            pending: Pool::default(),
            waiting: Pool::default(),
            sessions: AtomicUsize::new(0),
            per_role: Mutex::new(HashMap::new()),
            handshakes: Arc::new(Semaphore::new(max_handshakes.max(1))),
            in_progress: Mutex::new(HashMap::new()),
            silent: Mutex::new(HashMap::new()),
            next_watch: AtomicU64::new(0),
        }
    }

    /// Open client connections right now: pending, waiting and authenticated.
    pub(crate) fn connections(&self) -> usize {
        self.pending.count() + self.waiting.count() + self.sessions()
    }

    /// Authenticated sessions.
    pub(crate) fn sessions(&self) -> usize {
        self.sessions.load(Ordering::SeqCst)
    }

    /// A session slot under `max_connections`, or `None` when all are taken.
    pub(crate) fn session(&self, max_connections: usize) -> Option<SessionSlot<'_>> {
        if self.sessions.fetch_add(1, Ordering::SeqCst) >= max_connections {
            self.sessions.fetch_sub(1, Ordering::SeqCst);
            return None;
        }
        Some(SessionSlot(&self.sessions))
    }

    /// Waits for a handshake slot.
    /// Waits for a handshake slot for the connection `watch` describes. While every
    /// slot is taken, the handshake that has waited longest on a silent client (at
    /// least [`STALLED`]) is evicted, so stalled clients from many sources cannot keep
    /// everyone else out.
    pub(crate) async fn handshake<'a>(
        &'a self,
        metrics: &'a Metrics,
        watch: &Arc<Watch>,
    ) -> Handshake<'a> {
        let acquire = self.handshakes.clone().acquire_owned();
        tokio::pin!(acquire);
        let permit = loop {
            tokio::select! {
                permit = &mut acquire => {
                    break permit.expect("the handshake semaphore is never closed");
                }
                () = tokio::time::sleep(EVICT_AFTER) => self.evict_stalest(),
            }
        };
        metrics.handshake_started();
        let id = self.next_watch.fetch_add(1, Ordering::Relaxed);
        lock(&self.in_progress).insert(id, watch.clone());
        Handshake {
            admission: self,
            metrics,
            id,
            _permit: permit,
        }
    }

    /// Registers a connection that has sent nothing yet; it leaves the register when
    /// the returned guard drops (its startup packet arrived, or it ended).
    pub(crate) fn silent<'a>(&'a self, watch: &Arc<Watch>) -> Silent<'a> {
        let id = self.next_watch.fetch_add(1, Ordering::Relaxed);
        lock(&self.silent).insert(id, watch.clone());
        Silent {
            admission: self,
            id,
        }
    }

    /// When pending connections are at their cap: tells the connection silent the
    /// longest (at least [`SILENT`]) to end, so a client that speaks gets its place.
    /// `false` when none has been silent that long.
    pub(crate) fn evict_silent(&self) -> bool {
        Self::evict_oldest(&self.silent, SILENT)
    }

    /// Tells the handshake longest stalled on its client (if any has been for
    /// [`STALLED`]) to end.
    fn evict_stalest(&self) {
        Self::evict_oldest(&self.in_progress, STALLED);
    }

    /// Evicts the watch in `register` idle the longest, if at least `least`.
    fn evict_oldest(
        register: &Mutex<HashMap<u64, Arc<Watch>>>,
        least: std::time::Duration,
    ) -> bool {
        let now = now_millis();
        let oldest = lock(register)
            .values()
            .filter_map(|w| {
                let since = w.idle_since.load(Ordering::Relaxed);
                (since != 0 && now.saturating_sub(since) >= least.as_millis() as u64)
                    .then(|| (since, w.clone()))
            })
            .min_by_key(|(since, _)| *since);
        let Some((_, watch)) = oldest else {
            return false;
        };
        // Not again until it has noticed.
        watch.idle_since.store(0, Ordering::Relaxed);
        watch.evict.notify_one();
        true
    }

    /// A session slot for `user` under its CONNECTION LIMIT (superusers are exempt),
    /// or `None` when the role is at its limit.
    pub(crate) fn role(&self, user: &str, role: &Role) -> Option<RoleSlot<'_>> {
        let mut counts = lock(&self.per_role);
        let count = counts.entry(user.to_owned()).or_insert(0);
        let over = !role.superuser && role.connection_limit.is_some_and(|limit| *count >= limit);
        if over {
            if *count == 0 {
                counts.remove(user);
            }
            return None;
        }
        *count += 1;
        Some(RoleSlot {
            admission: self,
            role: user.to_owned(),
        })
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// Which cap of a [`Pool`] refused a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// The pool's total (`max_pending_connections`).
    Total,
    /// The pool's per-address cap (`max_connections_per_address`).
    PerAddress,
}

/// Counts an authenticated session for max_connections; released on drop.
pub(crate) struct SessionSlot<'a>(&'a AtomicUsize);

impl Drop for SessionSlot<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A connection's place in a [`Pool`]; released on drop.
pub(crate) struct PoolSlot<'a> {
    pool: &'a Pool,
    key: Option<[u8; 16]>,
}

impl Drop for PoolSlot<'_> {
    fn drop(&mut self) {
        self.pool.total.fetch_sub(1, Ordering::SeqCst);
        let Some(key) = self.key else {
            return;
        };
        let mut counts = lock(&self.pool.per_address);
        if let Some(n) = counts.get_mut(&key) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                counts.remove(&key);
            }
        }
    }
}

/// A handshake permit, counted in the metrics while held.
pub(crate) struct Handshake<'a> {
    admission: &'a Admission,
    metrics: &'a Metrics,
    id: u64,
    _permit: OwnedSemaphorePermit,
}

impl Drop for Handshake<'_> {
    fn drop(&mut self) {
        lock(&self.admission.in_progress).remove(&self.id);
        self.metrics.handshake_ended();
    }
}

/// How long a new connection waits for a handshake slot before a stalled one is evicted.
const EVICT_AFTER: std::time::Duration = std::time::Duration::from_millis(20);
/// How long a handshake must have waited on its client to count as stalled (a real
/// client answers within a round trip and a PBKDF2).
pub(crate) const STALLED: std::time::Duration = std::time::Duration::from_millis(500);
/// How long a connection must have sent nothing to make room for a new one when
/// pending connections are at their cap.
pub(crate) const SILENT: std::time::Duration = std::time::Duration::from_millis(250);

/// A connection's entry in the register of silent ones; removed on drop.
pub(crate) struct Silent<'a> {
    admission: &'a Admission,
    id: u64,
}

impl Drop for Silent<'_> {
    fn drop(&mut self) {
        lock(&self.admission.silent).remove(&self.id);
    }
}

/// What a handshake shares with the admission: since when it waits on its client
/// (0: it does not), and the signal that evicts it.
#[derive(Debug, Default)]
pub(crate) struct Watch {
    idle_since: AtomicU64,
    /// Notified when the connection must end to free its slot.
    pub(crate) evict: tokio::sync::Notify,
}

impl Watch {
    /// The connection starts waiting for bytes from its client.
    pub(crate) fn waiting(&self) {
        self.idle_since
            .store(now_millis().max(1), Ordering::Relaxed);
    }

    /// Bytes arrived (or the wait ended).
    pub(crate) fn progressed(&self) {
        self.idle_since.store(0, Ordering::Relaxed);
    }
}

/// Milliseconds on a process-wide monotonic clock.
fn now_millis() -> u64 {
    static EPOCH: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    let epoch = *EPOCH.get_or_init(std::time::Instant::now);
    u64::try_from(epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// Counts a session for the role's CONNECTION LIMIT; released on drop.
pub(crate) struct RoleSlot<'a> {
    admission: &'a Admission,
    role: String,
}

impl Drop for RoleSlot<'_> {
    fn drop(&mut self) {
        let mut counts = lock(&self.admission.per_role);
        if let Some(n) = counts.get_mut(&self.role) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                counts.remove(&self.role);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_limits_count_and_release() {
        let admission = Admission::new(4);
        let mut role = Role::login("x");
        role.connection_limit = Some(1);
        let first = admission.role("alice", &role).expect("first session");
        assert!(admission.role("alice", &role).is_none(), "over the limit");
        drop(first);
        assert!(admission.role("alice", &role).is_some(), "released");
        role.superuser = true;
        let _a = admission.role("root", &role).unwrap();
        let _b = admission.role("root", &role).unwrap();
    }

    #[test]
    fn pending_caps_per_address_and_in_total_release_their_entries() {
        let admission = Admission::new(4);
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        let other: IpAddr = "10.0.0.2".parse().unwrap();
        let pool = &admission.pending;
        let a = pool.take(Some(ip), 3, 1).unwrap();
        assert_eq!(pool.take(Some(ip), 3, 1).err(), Some(Refusal::PerAddress));
        let b = pool.take(Some(other), 3, 1).unwrap();
        let c = pool.take(None, 3, 1).unwrap();
        assert_eq!(pool.count(), 3);
        assert_eq!(pool.take(None, 3, 1).err(), Some(Refusal::Total));
        drop((a, b, c));
        assert_eq!(pool.count(), 0);
        assert!(lock(&pool.per_address).is_empty());
        let _unlimited = pool.take(Some(ip), 3, 0).unwrap();
        let _again = pool.take(Some(ip), 3, 0).unwrap();
    }

    #[test]
    fn sessions_count_up_to_max_connections() {
        let admission = Admission::new(4);
        let a = admission.session(1).unwrap();
        assert!(admission.session(1).is_none());
        drop(a);
        assert!(admission.session(1).is_some());
    }
}
