//! Shutdown as a value: one sender, cloned receivers in every listener and session. The
//! library never installs a signal handler; the program decides what SIGTERM means and
//! calls [`crate::ServerHandle::shutdown`].

use tokio::sync::watch;

/// The sending side, kept by the server and its handles.
#[derive(Debug)]
pub(crate) struct ShutdownSender(watch::Sender<bool>);

impl ShutdownSender {
    pub(crate) fn new() -> Self {
        ShutdownSender(watch::channel(false).0)
    }

    pub(crate) fn trigger(&self) {
        self.0.send_replace(true);
    }

    pub(crate) fn signal(&self) -> ShutdownSignal {
        ShutdownSignal(self.0.subscribe())
    }
}

/// Resolves when the server is shutting down. Cheap to clone; a backend selects on
/// [`ShutdownSignal::requested`] while it waits for its client.
#[derive(Debug, Clone)]
pub struct ShutdownSignal(watch::Receiver<bool>);

impl ShutdownSignal {
    /// Waits until shutdown is requested (at once if it already was).
    pub async fn requested(&mut self) {
        // An error means every sender is gone: the server itself is gone, so stop too.
        let _ = self.0.wait_for(|down| *down).await;
    }

    /// Whether shutdown has been requested.
    pub fn is_requested(&self) -> bool {
        *self.0.borrow()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn every_signal_sees_the_trigger() {
        let sender = ShutdownSender::new();
        let mut early = sender.signal();
        assert!(!early.is_requested());
        sender.trigger();
        early.requested().await;
        let mut late = sender.signal();
        assert!(late.is_requested());
        late.requested().await;
    }
}
