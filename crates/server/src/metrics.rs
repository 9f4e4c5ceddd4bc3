//! Counters for the operator, in Prometheus' text format on an optional HTTP port.
//!
//! The label sets are fixed (method x outcome, refusal reasons), so the counters live in
//! arrays of atomics: no allocation per attempt, no label values taken from clients.
//! The HTTP side is a deliberately tiny HTTP/1.1 responder (GET or HEAD of `/metrics`,
//! one response per connection, request head capped at 8 KiB and 5 seconds, at most a
//! few connections at once) rather than a web framework.

use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use pgscram_auth::hba::AuthMethod;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use crate::audit::Outcome;

/// Method labels; `none` when the attempt ended before a pg_hba line matched.
const METHODS: [&str; 7] = [
    "none",
    "trust",
    "reject",
    "password",
    "md5",
    "scram-sha-256",
    "other",
];

fn method_index(method: Option<AuthMethod>) -> usize {
    let Some(method) = method else { return 0 };
    METHODS
        .iter()
        .position(|m| *m == method.as_str())
        .unwrap_or(METHODS.len() - 1)
}

/// Why a connection was closed at accept, before anything was read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefuseReason {
    /// Over `max_connections_per_address`.
    PerAddress,
    /// Over the hard ceiling of connections (max_connections + max_handshakes).
    Overload,
}

impl RefuseReason {
    const ALL: [RefuseReason; 2] = [RefuseReason::PerAddress, RefuseReason::Overload];

    pub fn as_str(self) -> &'static str {
        match self {
            RefuseReason::PerAddress => "per_address",
            RefuseReason::Overload => "overload",
        }
    }
}

/// The server's counters. Gauges that other parts own are passed to [`Metrics::render`].
#[derive(Debug, Default)]
pub struct Metrics {
    accepted: AtomicU64,
    refused: [AtomicU64; 2],
    attempts: [[AtomicU64; METHODS.len()]; Outcome::ALL.len()],
    throttled: AtomicU64,
    throttle_delay_ms: AtomicU64,
    handshakes: AtomicI64,
    handshakes_peak: AtomicI64,
}

/// Values read at render time from the rest of the server.
#[derive(Debug, Clone, Default)]
pub struct Gauges {
    pub connections: usize,
    pub max_connections: usize,
    pub max_handshakes: usize,
    pub hash_workers_free: usize,
    pub throttle_slots: usize,
    pub audit_written: u64,
    pub audit_dropped: u64,
}

impl Metrics {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn accepted(&self) {
        self.accepted.fetch_add(1, Ordering::Relaxed);
    }

    pub fn refused(&self, reason: RefuseReason) {
        self.refused[reason as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// Counts one finished attempt.
    pub fn attempt(&self, method: Option<AuthMethod>, outcome: Outcome) {
        self.attempts[outcome.index()][method_index(method)].fetch_add(1, Ordering::Relaxed);
    }

    pub fn attempts(&self, method: Option<AuthMethod>, outcome: Outcome) -> u64 {
        self.attempts[outcome.index()][method_index(method)].load(Ordering::Relaxed)
    }

    /// Counts a failure that was delayed by the throttle.
    pub fn throttled(&self, delay: Duration) {
        if !delay.is_zero() {
            self.throttled.fetch_add(1, Ordering::Relaxed);
            self.throttle_delay_ms.fetch_add(
                u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
                Ordering::Relaxed,
            );
        }
    }

    /// A handshake started (the permit was granted).
    pub fn handshake_started(&self) {
        let now = self.handshakes.fetch_add(1, Ordering::SeqCst) + 1;
        self.handshakes_peak.fetch_max(now, Ordering::SeqCst);
    }

    pub fn handshake_ended(&self) {
        self.handshakes.fetch_sub(1, Ordering::SeqCst);
    }

    /// Handshakes in progress right now.
    pub fn handshakes(&self) -> i64 {
        self.handshakes.load(Ordering::SeqCst)
    }

    /// The most handshakes ever in progress at once.
    pub fn handshakes_peak(&self) -> i64 {
        self.handshakes_peak.load(Ordering::SeqCst)
    }

    pub fn refused_count(&self, reason: RefuseReason) -> u64 {
        self.refused[reason as usize].load(Ordering::Relaxed)
    }

    /// The Prometheus text exposition (format 0.0.4).
    pub fn render(&self, gauges: &Gauges) -> String {
        let mut out = String::with_capacity(4096);
        help(
            &mut out,
            "pgscram_connections_accepted_total",
            "counter",
            "Connections accepted by the listeners.",
        );
        let _ = writeln!(
            out,
            "pgscram_connections_accepted_total {}",
            self.accepted.load(Ordering::Relaxed)
        );
        help(
            &mut out,
            "pgscram_connections_refused_total",
            "counter",
            "Connections closed at accept by a limit, by reason.",
        );
        for reason in RefuseReason::ALL {
            let _ = writeln!(
                out,
                "pgscram_connections_refused_total{{reason=\"{}\"}} {}",
                reason.as_str(),
                self.refused_count(reason)
            );
        }
        help(
            &mut out,
            "pgscram_auth_attempts_total",
            "counter",
            "Connection attempts by pg_hba method and outcome.",
        );
        for outcome in Outcome::ALL {
            for (m, method) in METHODS.iter().enumerate() {
                let n = self.attempts[outcome.index()][m].load(Ordering::Relaxed);
                let always = matches!(outcome, Outcome::Success | Outcome::Failure)
                    && *method == "scram-sha-256";
                if n > 0 || always {
                    let _ = writeln!(
                        out,
                        "pgscram_auth_attempts_total{{method=\"{method}\",outcome=\"{outcome}\"}} {n}"
                    );
                }
            }
        }
        let simple: [(&str, &str, &str, String); 11] = [
            (
                "pgscram_auth_throttled_total",
                "counter",
                "Failed logins whose error was delayed by the throttle.",
                self.throttled.load(Ordering::Relaxed).to_string(),
            ),
            (
                "pgscram_auth_throttle_delay_seconds_total",
                "counter",
                "Total delay added before failed-login errors.",
                format!(
                    "{:.3}",
                    self.throttle_delay_ms.load(Ordering::Relaxed) as f64 / 1000.0
                ),
            ),
            (
                "pgscram_handshakes_in_progress",
                "gauge",
                "Connections in startup or authentication right now.",
                self.handshakes().to_string(),
            ),
            (
                "pgscram_handshakes_peak",
                "gauge",
                "Most handshakes in progress at once since start.",
                self.handshakes_peak().to_string(),
            ),
            (
                "pgscram_max_handshakes",
                "gauge",
                "The cap on concurrent handshakes.",
                gauges.max_handshakes.to_string(),
            ),
            (
                "pgscram_connections",
                "gauge",
                "Open client connections (handshaking, throttled or in a session).",
                gauges.connections.to_string(),
            ),
            (
                "pgscram_max_connections",
                "gauge",
                "The max_connections setting.",
                gauges.max_connections.to_string(),
            ),
            (
                "pgscram_hash_workers_free",
                "gauge",
                "Free permits of the PBKDF2 pool.",
                gauges.hash_workers_free.to_string(),
            ),
            (
                "pgscram_throttle_table_slots",
                "gauge",
                "Fixed size of the failed-login table.",
                gauges.throttle_slots.to_string(),
            ),
            (
                "pgscram_audit_events_written_total",
                "counter",
                "Audit events written.",
                gauges.audit_written.to_string(),
            ),
            (
                "pgscram_audit_events_dropped_total",
                "counter",
                "Audit events dropped because the writer fell behind.",
                gauges.audit_dropped.to_string(),
            ),
        ];
        for (name, kind, text, value) in simple {
            help(&mut out, name, kind, text);
            let _ = writeln!(out, "{name} {value}");
        }
        out
    }
}

fn help(out: &mut String, name: &str, kind: &str, text: &str) {
    let _ = writeln!(out, "# HELP {name} {text}\n# TYPE {name} {kind}");
}

/// Largest request head read from a metrics client.
pub const MAX_REQUEST: usize = 8192;
/// Metrics connections served at once; more are closed at accept.
pub const MAX_CLIENTS: usize = 8;
/// Time a metrics client gets to send its request.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// Serves `render()` at `/metrics` until the task is dropped.
pub async fn serve_http(listener: TcpListener, render: Arc<dyn Fn() -> String + Send + Sync>) {
    let permits = Arc::new(Semaphore::new(MAX_CLIENTS));
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(_) => {
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            continue; // dropped: closed
        };
        let render = render.clone();
        tokio::spawn(async move {
            let _ = tokio::time::timeout(REQUEST_TIMEOUT, respond(stream, render.as_ref())).await;
            drop(permit);
        });
    }
}

/// Reads one request head and writes one response.
async fn respond(
    mut stream: tokio::net::TcpStream,
    render: &(dyn Fn() -> String + Send + Sync),
) -> std::io::Result<()> {
    let mut head = Vec::with_capacity(512);
    let mut chunk = [0u8; 1024];
    let complete = loop {
        if head.windows(4).any(|w| w == b"\r\n\r\n") || head.windows(2).any(|w| w == b"\n\n") {
            break true;
        }
        if head.len() >= MAX_REQUEST {
            break false;
        }
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Ok(());
        }
        head.extend_from_slice(&chunk[..n.min(MAX_REQUEST + 4 - head.len())]);
    };
    let response = if complete {
        answer(&head, render)
    } else {
        plain(
            431,
            "Request Header Fields Too Large",
            "request head too large\n",
            true,
        )
    };
    stream.write_all(&response).await?;
    stream.shutdown().await
}

/// The response to one request head.
pub fn answer(head: &[u8], render: &(dyn Fn() -> String + Send + Sync)) -> Vec<u8> {
    let line_end = head.iter().position(|&b| b == b'\n').unwrap_or(head.len());
    let line = String::from_utf8_lossy(&head[..line_end]);
    let mut parts = line.trim_end_matches('\r').split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return plain(400, "Bad Request", "bad request\n", true);
    };
    if !version.starts_with("HTTP/1.") {
        return plain(400, "Bad Request", "bad request\n", true);
    }
    let with_body = match method {
        "GET" => true,
        "HEAD" => false,
        _ => return plain(405, "Method Not Allowed", "use GET\n", true),
    };
    let path = target.split('?').next().unwrap_or("");
    if path != "/metrics" {
        return plain(404, "Not Found", "try /metrics\n", with_body);
    }
    let body = render();
    let mut out = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    if with_body {
        out.extend_from_slice(body.as_bytes());
    }
    out
}

fn plain(code: u16, reason: &str, body: &str, with_body: bool) -> Vec<u8> {
    let mut out = format!(
        "HTTP/1.1 {code} {reason}\r\nContent-Type: text/plain; charset=utf-8\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    if with_body {
        out.extend_from_slice(body.as_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render_fixed() -> String {
        "x 1\n".to_owned()
    }

    #[test]
    fn counters_render_with_fixed_labels() {
        let m = Metrics::new();
        m.accepted();
        m.attempt(Some(AuthMethod::ScramSha256), Outcome::Failure);
        m.attempt(Some(AuthMethod::ScramSha256), Outcome::Failure);
        m.attempt(None, Outcome::Timeout);
        m.refused(RefuseReason::PerAddress);
        m.throttled(Duration::from_millis(1500));
        m.handshake_started();
        m.handshake_started();
        m.handshake_ended();
        let text = m.render(&Gauges {
            connections: 3,
            ..Gauges::default()
        });
        for line in [
            "pgscram_connections_accepted_total 1",
            "pgscram_auth_attempts_total{method=\"scram-sha-256\",outcome=\"failure\"} 2",
            "pgscram_auth_attempts_total{method=\"scram-sha-256\",outcome=\"success\"} 0",
            "pgscram_auth_attempts_total{method=\"none\",outcome=\"timeout\"} 1",
            "pgscram_connections_refused_total{reason=\"per_address\"} 1",
            "pgscram_auth_throttled_total 1",
            "pgscram_auth_throttle_delay_seconds_total 1.500",
            "pgscram_handshakes_in_progress 1",
            "pgscram_handshakes_peak 2",
            "pgscram_connections 3",
        ] {
            assert!(text.lines().any(|l| l == line), "missing {line} in\n{text}");
        }
        // Every sample has HELP and TYPE before it.
        let names: Vec<&str> = text
            .lines()
            .filter(|l| !l.starts_with('#'))
            .map(|l| l.split(['{', ' ']).next().unwrap())
            .collect();
        for name in names {
            assert!(text.contains(&format!("# TYPE {name} ")), "{name}");
        }
        assert_eq!(
            m.attempts(Some(AuthMethod::ScramSha256), Outcome::Failure),
            2
        );
    }

    #[test]
    fn requests_are_answered_strictly() {
        let render: &(dyn Fn() -> String + Send + Sync) = &render_fixed;
        let ok =
            String::from_utf8(answer(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", render)).unwrap();
        assert!(ok.starts_with("HTTP/1.1 200 OK\r\n"));
        assert!(ok.contains("Content-Length: 4\r\n"));
        assert!(ok.ends_with("\r\n\r\nx 1\n"));
        let head = String::from_utf8(answer(b"HEAD /metrics HTTP/1.0\r\n\r\n", render)).unwrap();
        assert!(head.starts_with("HTTP/1.1 200") && head.ends_with("\r\n\r\n"));
        for (request, status) in [
            (&b"GET / HTTP/1.1\r\n\r\n"[..], "404"),
            (b"POST /metrics HTTP/1.1\r\n\r\n", "405"),
            (b"GET /metrics\r\n\r\n", "400"),
            (b"GET /metrics SPDY/3\r\n\r\n", "400"),
            (b"\xff\xfe\r\n\r\n", "400"),
        ] {
            let text = String::from_utf8(answer(request, render)).unwrap();
            assert!(text.starts_with(&format!("HTTP/1.1 {status} ")), "{text}");
        }
    }

    #[tokio::test]
    async fn serves_over_tcp_and_cuts_oversized_heads() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(serve_http(listener, Arc::new(render_fixed)));
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        stream
            .write_all(b"GET /metrics HTTP/1.1\r\n\r\n")
            .await
            .unwrap();
        let mut text = String::new();
        stream.read_to_string(&mut text).await.unwrap();
        assert!(text.starts_with("HTTP/1.1 200 OK") && text.ends_with("x 1\n"));

        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        let _ = stream.write_all(&vec![b'a'; MAX_REQUEST + 100]).await;
        let mut text = Vec::new();
        let _ = stream.read_to_end(&mut text).await;
        assert!(
            text.starts_with(b"HTTP/1.1 431"),
            "{}",
            String::from_utf8_lossy(&text)
        );
        task.abort();
    }
}
