//! A bound server and its handle: [`Server::run`] accepts until [`ServerHandle::shutdown`],
//! then closes its listeners, ends every session (idle ones at once, with PostgreSQL's
//! 57P01) and returns when they are gone or the grace period has passed.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::net::{TcpListener, UnixListener};
use tokio::task::JoinSet;

use crate::connection;
use crate::metrics::Metrics;
use crate::shutdown::ShutdownSignal;
use crate::state::{ReloadReport, ServerState};
use crate::stream::Transport;

/// A bound, ready server. Made by [`crate::ServerBuilder::build`].
pub struct Server {
    pub(crate) state: Arc<ServerState>,
    pub(crate) tcp: Vec<TcpListener>,
    pub(crate) unix: Option<(UnixListener, PathBuf)>,
    pub(crate) metrics: Option<TcpListener>,
}

/// Controls a running server from anywhere: shut it down, reload its configuration,
/// read its figures. Cheap to clone.
#[derive(Clone)]
pub struct ServerHandle {
    state: Arc<ServerState>,
}

impl std::fmt::Debug for ServerHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerHandle")
            .field("connections", &self.connections())
            .finish_non_exhaustive()
    }
}

impl ServerHandle {
    /// Stops accepting, ends every session, and makes [`Server::run`] return. What the
    /// `pgscram` binary does on SIGTERM and SIGINT.
    pub fn shutdown(&self) {
        self.state.shutdown.trigger();
    }

    /// Re-reads the configuration file and pg_hba.conf (what SIGHUP does to
    /// PostgreSQL). Whatever has an error keeps its old value; the report says what
    /// happened and the log says why.
    pub fn reload(&self) -> ReloadReport {
        self.state.reload()
    }

    /// Open client connections right now.
    pub fn connections(&self) -> usize {
        self.state.admission.connections()
    }

    /// The counters behind the metrics page.
    pub fn metrics(&self) -> &Metrics {
        &self.state.metrics
    }

    /// The Prometheus metrics page as it reads now.
    pub fn metrics_page(&self) -> String {
        self.state.render_metrics()
    }

    /// Resolves when shutdown has been requested.
    pub fn shutdown_signal(&self) -> ShutdownSignal {
        self.state.shutdown.signal()
    }
}

impl Server {
    /// A builder with safe defaults.
    pub fn builder() -> crate::ServerBuilder {
        crate::ServerBuilder::new()
    }

    /// A handle to shut the server down or reload it once it runs.
    pub fn handle(&self) -> ServerHandle {
        ServerHandle {
            state: self.state.clone(),
        }
    }

    /// The TCP addresses actually bound (port 0 resolved).
    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        self.tcp
            .iter()
            .filter_map(|l| l.local_addr().ok())
            .collect()
    }

    /// The Unix socket's path, if there is one.
    pub fn unix_socket(&self) -> Option<&Path> {
        self.unix.as_ref().map(|(_, p)| p.as_path())
    }

    /// Where `/metrics` is served, if it is.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics.as_ref().and_then(|l| l.local_addr().ok())
    }

    /// Accepts connections until shutdown is requested through a [`ServerHandle`], then
    /// returns once every connection has ended or the grace period (`shutdown_grace`)
    /// has passed, whichever comes first. Installs no signal handler.
    pub async fn run(self) {
        for addr in self.local_addrs() {
            tracing::info!(
                "listening on IPv{} address \"{}\", port {}",
                if addr.is_ipv4() { 4 } else { 6 },
                addr.ip(),
                addr.port()
            );
        }
        if let Some(path) = self.unix_socket() {
            tracing::info!("listening on Unix socket \"{}\"", path.display());
        }
        let mut listeners = JoinSet::new();
        if let Some(listener) = self.metrics {
            if let Ok(addr) = listener.local_addr() {
                tracing::info!("serving metrics on http://{addr}/metrics");
            }
            let state = self.state.clone();
            let mut shutdown = self.state.shutdown.signal();
            listeners.spawn(async move {
                tokio::select! {
                    () = crate::metrics::serve_http(listener, Arc::new(move || state.render_metrics())) => {}
                    () = shutdown.requested() => {}
                }
            });
        }
        if let Some(db) = self.state.reload_requests.clone() {
            // `SELECT pg_reload_conf()` raises a flag on the database: reload as on SIGHUP.
            let state = self.state.clone();
            let mut shutdown = self.state.shutdown.signal();
            listeners.spawn(async move {
                let mut tick = tokio::time::interval(std::time::Duration::from_millis(200));
                loop {
                    tokio::select! {
                        _ = tick.tick() => {
                            if db.take_reload_request() {
                                tracing::info!("received SIGHUP, reloading configuration files");
                                state.reload();
                            }
                        }
                        () = shutdown.requested() => break,
                    }
                }
            });
        }
        for listener in self.tcp {
            listeners.spawn(accept_loop(self.state.clone(), Listener::Tcp(listener)));
        }
        let unix_path = self.unix.as_ref().map(|(_, path)| path.clone());
        if let Some((listener, _)) = self.unix {
            listeners.spawn(accept_loop(self.state.clone(), Listener::Unix(listener)));
        }
        while listeners.join_next().await.is_some() {}
        if let Some(path) = unix_path {
            let _ = std::fs::remove_file(path);
        }
        tracing::info!("database system is shut down");
    }
}

enum Listener {
    Tcp(TcpListener),
    Unix(UnixListener),
}

impl Listener {
    async fn accept(&self) -> std::io::Result<(Box<dyn Transport>, Option<SocketAddr>)> {
        match self {
            Listener::Tcp(listener) => {
                let (stream, peer) = listener.accept().await?;
                let _ = stream.set_nodelay(true);
                Ok((Box::new(stream), Some(peer)))
            }
            Listener::Unix(listener) => {
                let (stream, _) = listener.accept().await?;
                Ok((Box::new(stream), None))
            }
        }
    }
}

/// Accepts until shutdown, each connection a task in this loop's set; then waits for
/// them (within the grace period) and cuts what is left.
async fn accept_loop(state: Arc<ServerState>, listener: Listener) {
    let mut connections = JoinSet::new();
    let mut shutdown = state.shutdown.signal();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((io, peer)) => {
                    connections.spawn(connection::handle(state.clone(), io, peer));
                }
                Err(e) => {
                    tracing::info!("could not accept new connection: {e}");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
            },
            // Reap finished connections so the set holds only live ones.
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            () = shutdown.requested() => break,
        }
    }
    drop(listener);
    let grace = state.settings().shutdown_grace;
    let drained = tokio::time::timeout(grace, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::info!(
            "{} connections still open after {} s; closing them",
            connections.len(),
            grace.as_secs()
        );
        connections.shutdown().await;
    }
}
