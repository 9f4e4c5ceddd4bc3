//! Query cancellation: every session registers its (process id, secret key); a
//! CancelRequest that names both cancels that session. The key is compared in constant
//! time so it cannot be guessed byte by byte.

use std::collections::HashMap;
use std::sync::Mutex;

use std::sync::Arc;
use subtle::ConstantTimeEq;
use tokio::sync::Notify;

/// A session's secret key and the signal that interrupts it.
type Entry = ([u8; 4], Arc<Notify>);

/// The shared registry.
#[derive(Debug, Default)]
pub(crate) struct CancelRegistry {
    sessions: Mutex<HashMap<i32, Entry>>,
}

/// A session's registration; dropping it unregisters.
#[derive(Debug)]
pub(crate) struct CancelHandle {
    pub pid: i32,
    pub signal: Arc<Notify>,
    registry: Arc<CancelRegistry>,
}

impl CancelRegistry {
    pub fn new() -> Arc<Self> {
        Arc::new(CancelRegistry::default())
    }

    /// Makes session `pid` cancellable with `key` until the handle is dropped.
    pub fn register(self: &Arc<Self>, pid: i32, key: [u8; 4]) -> CancelHandle {
        let signal = Arc::new(Notify::new());
        self.sessions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(pid, (key, signal.clone()));
        CancelHandle {
            pid,
            signal,
            registry: self.clone(),
        }
    }

    /// Signals the session if pid and key match; silently does nothing otherwise (as
    /// PostgreSQL does, so a CancelRequest reveals nothing).
    pub fn cancel(&self, pid: i32, key: &[u8]) -> bool {
        let sessions = self.sessions.lock().unwrap_or_else(|e| e.into_inner());
        match sessions.get(&pid) {
            Some((expected, signal)) if key.len() == 4 && bool::from(expected.ct_eq(key)) => {
                signal.notify_one();
                true
            }
            _ => false,
        }
    }
}

impl Drop for CancelHandle {
    fn drop(&mut self) {
        self.registry
            .sessions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&self.pid);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_right_key_cancels() {
        let registry = CancelRegistry::new();
        let handle = registry.register(1000, [1, 2, 3, 4]);
        assert!(!registry.cancel(handle.pid, &[1, 2, 3, 5]));
        assert!(!registry.cancel(handle.pid + 1, &[1, 2, 3, 4]));
        assert!(registry.cancel(handle.pid, &[1, 2, 3, 4]));
        let pid = handle.pid;
        drop(handle);
        assert!(!registry.cancel(pid, &[1, 2, 3, 4]));
    }
}
