//! A bounded pool for the PBKDF2 work the server itself must do (cleartext `password`
//! logins, CREATE ROLE with a plaintext password). A flood of such requests waits for a
//! permit instead of occupying every runtime worker, so SCRAM logins (no server-side
//! PBKDF2) and queries keep flowing.

use std::sync::Arc;

use tokio::sync::Semaphore;

#[derive(Debug, Clone)]
pub struct HashPool {
    permits: Arc<Semaphore>,
}

impl HashPool {
    pub fn new(workers: usize) -> Self {
        HashPool {
            permits: Arc::new(Semaphore::new(workers.max(1))),
        }
    }

    /// Runs `work` on the blocking pool once a permit is free.
    pub async fn run<T: Send + 'static>(&self, work: impl FnOnce() -> T + Send + 'static) -> T {
        let permit = self
            .permits
            .clone()
            .acquire_owned()
            .await
            .expect("the hash pool is never closed");
        let result = tokio::task::spawn_blocking(move || {
            let result = work();
            drop(permit);
            result
        })
        .await;
        match result {
            Ok(value) => value,
            Err(e) => std::panic::resume_unwind(e.into_panic()),
        }
    }

    /// Permits free right now (for metrics and tests).
    pub fn available(&self) -> usize {
        self.permits.available_permits()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn at_most_n_run_at_once() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let pool = HashPool::new(2);
        let running = Arc::new(AtomicUsize::new(0));
        let peak = Arc::new(AtomicUsize::new(0));
        let tasks: Vec<_> = (0..8)
            .map(|_| {
                let (pool, running, peak) = (pool.clone(), running.clone(), peak.clone());
                tokio::spawn(async move {
                    pool.run(move || {
                        let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                        peak.fetch_max(now, Ordering::SeqCst);
                        std::thread::sleep(std::time::Duration::from_millis(20));
                        running.fetch_sub(1, Ordering::SeqCst);
                    })
                    .await
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
        assert!(peak.load(Ordering::SeqCst) <= 2);
        assert_eq!(pool.available(), 2);
    }
}
