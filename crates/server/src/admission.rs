//! Who may hold what: connections in total, per client address, handshakes in progress,
//! and sessions per role (CONNECTION LIMIT). Every grant is a guard that gives its slot
//! back when dropped, so a connection that ends, however it ends, frees what it held.

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
    active: AtomicUsize,
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
            active: AtomicUsize::new(0),
            per_address: Mutex::new(HashMap::new()),
            per_role: Mutex::new(HashMap::new()),
            handshakes: Arc::new(Semaphore::new(max_handshakes.max(1))),
        }
    }

    /// Open client connections right now.
    pub(crate) fn connections(&self) -> usize {
        self.active.load(Ordering::SeqCst)
    }

    /// Counts a new connection; returns the count including it.
    pub(crate) fn connect(&self) -> (Slot<'_>, usize) {
        let count = self.active.fetch_add(1, Ordering::SeqCst) + 1;
        (Slot(&self.active), count)
    }

    /// A slot for one more connection from `addr`, or `Err` at `cap` (0: no cap).
    pub(crate) fn address(&self, addr: IpAddr, cap: usize) -> Result<Option<AddressSlot<'_>>, ()> {
        if cap == 0 {
            return Ok(None);
        }
        let key = crate::throttle::prefix(addr);
        let mut counts = lock(&self.per_address);
        let count = counts.entry(key).or_insert(0);
        if *count >= cap {
            return Err(());
        }
        *count += 1;
        Ok(Some(AddressSlot {
            admission: self,
            key,
        }))
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

/// Counts a connection for max_connections; released on drop.
pub(crate) struct Slot<'a>(&'a AtomicUsize);

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Counts a connection for max_connections_per_address; released on drop.
pub(crate) struct AddressSlot<'a> {
    admission: &'a Admission,
    key: [u8; 16],
}

impl Drop for AddressSlot<'_> {
    fn drop(&mut self) {
        let mut counts = lock(&self.admission.per_address);
        if let Some(n) = counts.get_mut(&self.key) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                counts.remove(&self.key);
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
    fn address_caps_release_their_entries() {
        let admission = Admission::new(4);
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        let a = admission.address(ip, 1).unwrap();
        assert!(admission.address(ip, 1).is_err());
        drop(a);
        assert!(lock(&admission.per_address).is_empty());
        assert!(admission.address(ip, 0).unwrap().is_none(), "no cap");
    }
}
