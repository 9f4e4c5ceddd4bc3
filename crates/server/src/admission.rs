//! Who may hold what. Before authentication a connection is *pending*: pending
//! connections are capped per client address (IPv6: per /64) and in total, so one source
//! cannot starve the others and many sources cannot exhaust the server; handshakes in
//! progress (TLS, the exchange) are capped too. After authentication it is a *session*:
//! sessions count toward max_connections and CONNECTION LIMIT, never per address (an
//! application server behind one address may hold hundreds). Every grant is a guard
//! that gives its slot back when dropped, so a connection that ends, however it ends,
//! frees what it held at once.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::metrics::Metrics;
use crate::store::Role;

/// The counters behind every slot.
pub(crate) struct Admission {
    pending: AtomicUsize,
    sessions: AtomicUsize,
    /// Open connections per client address (see [`crate::throttle::prefix`]); an entry
    /// exists only while a connection from it is open, so the map is bounded by the
    /// connection ceiling.
    per_address: Mutex<HashMap<[u8; 16], usize>>,
    per_role: Mutex<HashMap<String, u32>>,
    handshakes: Arc<Semaphore>,
}

impl Admission {
    pub(crate) fn new(max_handshakes: usize) -> Self {
        Admission {
            pending: AtomicUsize::new(0),
            sessions: AtomicUsize::new(0),
            per_address: Mutex::new(HashMap::new()),
            per_role: Mutex::new(HashMap::new()),
            handshakes: Arc::new(Semaphore::new(max_handshakes.max(1))),
        }
    }

    /// Open client connections right now, pending and authenticated.
    pub(crate) fn connections(&self) -> usize {
        self.pending() + self.sessions()
    }

    /// Connections that have not authenticated yet.
    pub(crate) fn pending(&self) -> usize {
        self.pending.load(Ordering::SeqCst)
    }

    /// Authenticated sessions.
    pub(crate) fn sessions(&self) -> usize {
        self.sessions.load(Ordering::SeqCst)
    }

    /// A pending slot for a new connection from `addr` (`None`: a Unix socket), or
    /// why not: over `total` pending connections, or over `per_address` (0: no cap)
    /// from that address.
    pub(crate) fn pend(
        &self,
        addr: Option<IpAddr>,
        total: usize,
        per_address: usize,
    ) -> Result<PendingSlot<'_>, Refusal> {
        if self.pending.fetch_add(1, Ordering::SeqCst) >= total {
            self.pending.fetch_sub(1, Ordering::SeqCst);
            return Err(Refusal::Total);
        }
        let mut slot = PendingSlot {
            admission: self,
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

    /// A session slot under `max_connections`, or `None` when all are taken.
    pub(crate) fn session(&self, max_connections: usize) -> Option<SessionSlot<'_>> {
        if self.sessions.fetch_add(1, Ordering::SeqCst) >= max_connections {
            self.sessions.fetch_sub(1, Ordering::SeqCst);
            return None;
        }
        Some(SessionSlot(&self.sessions))
    }

    /// Waits for a handshake slot.
    pub(crate) async fn handshake<'a>(&self, metrics: &'a Metrics) -> Handshake<'a> {
        let permit = self
            .handshakes
            .clone()
            .acquire_owned()
            .await
            .expect("the handshake semaphore is never closed");
        metrics.handshake_started();
        Handshake {
            metrics,
            _permit: permit,
        }
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

/// Which pending cap refused a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// `max_pending_connections`.
    Total,
    /// `max_connections_per_address`.
    PerAddress,
}

/// Counts an authenticated session for max_connections; released on drop.
pub(crate) struct SessionSlot<'a>(&'a AtomicUsize);

impl Drop for SessionSlot<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Counts a connection that has not authenticated yet, in total and for its address;
/// released on drop (at authentication, or when the connection ends).
pub(crate) struct PendingSlot<'a> {
    admission: &'a Admission,
    key: Option<[u8; 16]>,
}

impl Drop for PendingSlot<'_> {
    fn drop(&mut self) {
        self.admission.pending.fetch_sub(1, Ordering::SeqCst);
        let Some(key) = self.key else {
            return;
        };
        let mut counts = lock(&self.admission.per_address);
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
    metrics: &'a Metrics,
    _permit: OwnedSemaphorePermit,
}

impl Drop for Handshake<'_> {
    fn drop(&mut self) {
        self.metrics.handshake_ended();
    }
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
        let a = admission.pend(Some(ip), 3, 1).unwrap();
        assert_eq!(
            admission.pend(Some(ip), 3, 1).err(),
            Some(Refusal::PerAddress)
        );
        let b = admission.pend(Some(other), 3, 1).unwrap();
        let c = admission.pend(None, 3, 1).unwrap();
        assert_eq!(admission.pending(), 3);
        assert_eq!(admission.pend(None, 3, 1).err(), Some(Refusal::Total));
        drop((a, b, c));
        assert_eq!(admission.pending(), 0);
        assert!(lock(&admission.per_address).is_empty());
        let _unlimited = admission.pend(Some(ip), 3, 0).unwrap();
        let _again = admission.pend(Some(ip), 3, 0).unwrap();
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
