//! Counters for the operator, in Prometheus' text format on an optional HTTP port.
//!
//! The counters are `prometheus-client` metrics and the page is its Prometheus text
//! encoder (format 0.0.4), so names, labels and escaping follow the maintained
//! implementation rather than hand-written formatting. Label values come from fixed
//! sets (method x outcome, refusal reasons), never from clients, so the series are
//! bounded. The HTTP side is a deliberately tiny HTTP/1.1 responder (GET or HEAD of
//! `/metrics`, one response per connection, request head capped at 8 KiB and 5 seconds,
//! at most a few connections at once) rather than a web framework.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use pgscram_auth::hba::AuthMethod;
use prometheus_client::encoding::prometheus_text;
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::registry::{Registry, Unit};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use crate::audit::Outcome;
use crate::store::PasswordUsed;

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

/// The `method` label. A method outside [`METHODS`] counts as `other`, so the label set
/// stays fixed whatever methods pg_hba learns.
fn method_label(method: Option<AuthMethod>) -> &'static str {
    let Some(method) = method else { return "none" };
    METHODS
        .into_iter()
        .find(|m| *m == method.as_str())
        .unwrap_or("other")
}

/// Label set of `pgscram_auth_attempts_total`: `method`, `outcome`.
type AttemptLabels = [(&'static str, &'static str); 2];
/// Label set of `pgscram_connections_refused_total`: `reason`.
type ReasonLabels = [(&'static str, &'static str); 1];

fn attempt_labels(method: Option<AuthMethod>, outcome: Outcome) -> AttemptLabels {
    [
        ("method", method_label(method)),
        ("outcome", outcome.as_str()),
    ]
}

/// Label set of `pgscram_password_logins_total`: `password`.
type PasswordLabels = [(&'static str, &'static str); 1];

fn password_labels(used: PasswordUsed) -> PasswordLabels {
    [("password", used.as_str())]
}

fn reason_labels(reason: RefuseReason) -> ReasonLabels {
    [("reason", reason.as_str())]
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

    /// The `reason` label value.
    pub fn as_str(self) -> &'static str {
        match self {
            RefuseReason::PerAddress => "per_address",
            RefuseReason::Overload => "overload",
        }
    }
}

/// The server's counters. Gauges that other parts own are passed to [`Metrics::render`].
///
/// Each field is a shared handle (an `Arc`'d atomic), so counting is one atomic add
/// and rendering registers clones of the same handles.
#[derive(Debug)]
pub struct Metrics {
    accepted: Counter,
    refused: Family<ReasonLabels, Counter>,
    /// A series appears on its first count, except the ones [`Metrics::new`] creates.
    attempts: Family<AttemptLabels, Counter>,
    throttled: Counter,
    /// Whole milliseconds, shown as seconds: a sum of floats would drift.
    throttle_delay_ms: Counter,
    handshakes: Gauge,
    handshakes_peak: Gauge,
    password_upgrades: Counter,
    /// Successful password logins by which of the role's passwords was used.
    password_logins: Family<PasswordLabels, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

/// Values read at render time from the rest of the server.
#[derive(Debug, Clone, Default)]
pub struct Gauges {
    /// Open client connections.
    pub connections: usize,
    /// The `max_connections` setting.
    pub max_connections: usize,
    /// The `max_handshakes` setting.
    pub max_handshakes: usize,
    /// PBKDF2 workers not busy now.
    pub hash_workers_free: usize,
    /// Entries of the throttle's fixed table.
    pub throttle_slots: usize,
    /// Audit events written so far.
    pub audit_written: u64,
    /// Audit events dropped because the writer fell behind.
    pub audit_dropped: u64,
}

impl Metrics {
    /// Counters at zero. Both refusal reasons and SCRAM success and failure are shown
    /// from the start, so dashboards and alerts see a 0 rather than no series.
    pub fn new() -> Self {
        let metrics = Metrics {
            accepted: Counter::default(),
            refused: Family::default(),
            attempts: Family::default(),
            throttled: Counter::default(),
            throttle_delay_ms: Counter::default(),
            handshakes: Gauge::default(),
            handshakes_peak: Gauge::default(),
            password_upgrades: Counter::default(),
            password_logins: Family::default(),
        };
        for used in [PasswordUsed::Newest, PasswordUsed::Older] {
            metrics
                .password_logins
                .get_or_create_owned(&password_labels(used));
        }
        for reason in RefuseReason::ALL {
            metrics.refused.get_or_create_owned(&reason_labels(reason));
        }
        for outcome in [Outcome::Success, Outcome::Failure] {
            metrics
                .attempts
                .get_or_create_owned(&attempt_labels(Some(AuthMethod::ScramSha256), outcome));
        }
        metrics
    }

    /// Counts one accepted connection.
    pub fn accepted(&self) {
        self.accepted.inc();
    }

    /// Counts one connection closed at accept.
    pub fn refused(&self, reason: RefuseReason) {
        self.refused.get_or_create(&reason_labels(reason)).inc();
    }

    /// Counts one finished attempt.
    pub fn attempt(&self, method: Option<AuthMethod>, outcome: Outcome) {
        self.attempts
            .get_or_create(&attempt_labels(method, outcome))
            .inc();
    }

    /// Attempts counted so far with this method and outcome.
    pub fn attempts(&self, method: Option<AuthMethod>, outcome: Outcome) -> u64 {
        self.attempts
            .get(&attempt_labels(method, outcome))
            .map_or(0, |counter| counter.get())
    }

    /// Counts a role whose md5 secret became a SCRAM verifier at login.
    pub fn password_upgraded(&self) {
        self.password_upgrades.inc();
    }

    /// Counts a successful login by the password it used.
    pub fn password_login(&self, used: PasswordUsed) {
        self.password_logins
            .get_or_create(&password_labels(used))
            .inc();
    }

    /// Successful logins so far that used the `used` password.
    pub fn password_logins(&self, used: PasswordUsed) -> u64 {
        self.password_logins
            .get(&password_labels(used))
            .map_or(0, |counter| counter.get())
    }

    /// Secrets upgraded from md5 to SCRAM at login so far.
    pub fn password_upgrades(&self) -> u64 {
        self.password_upgrades.get()
    }

    /// Counts a failure that was delayed by the throttle.
    pub fn throttled(&self, delay: Duration) {
        if !delay.is_zero() {
            self.throttled.inc();
            self.throttle_delay_ms
                .inc_by(u64::try_from(delay.as_millis()).unwrap_or(u64::MAX));
        }
    }

    /// A handshake started (the permit was granted).
    pub fn handshake_started(&self) {
        let now = self.handshakes.inner().fetch_add(1, Ordering::SeqCst) + 1;
        self.handshakes_peak
            .inner()
            .fetch_max(now, Ordering::SeqCst);
    }

    /// A handshake ended, whichever way.
    pub fn handshake_ended(&self) {
        self.handshakes.inner().fetch_sub(1, Ordering::SeqCst);
    }

    /// Handshakes in progress right now.
    pub fn handshakes(&self) -> i64 {
        self.handshakes.inner().load(Ordering::SeqCst)
    }

    /// The most handshakes ever in progress at once.
    pub fn handshakes_peak(&self) -> i64 {
        self.handshakes_peak.inner().load(Ordering::SeqCst)
    }

    /// Connections closed at accept for `reason` so far.
    pub fn refused_count(&self, reason: RefuseReason) -> u64 {
        self.refused
            .get(&reason_labels(reason))
            .map_or(0, |counter| counter.get())
    }

    /// The Prometheus text exposition (format 0.0.4, served as [`CONTENT_TYPE`]).
    ///
    /// A registry is built per scrape: the live counters are registered as clones of
    /// their handles, and the values other parts own as constants read now, so one
    /// page never mixes two scrapes' readings. Counters are registered without the
    /// `_total` suffix, which the encoder adds; help texts without the final period,
    /// which it adds too.
    pub fn render(&self, gauges: &Gauges) -> String {
        self.render_with(gauges, &|_| {})
    }

    /// [`Metrics::render`], with what `extra` registers (a backend's own figures,
    /// [`crate::Backend::metrics`]) on the same page.
    pub fn render_with(&self, gauges: &Gauges, extra: &dyn Fn(&mut Registry)) -> String {
        let mut registry = Registry::default();
        registry.register(
            "pgscram_connections_accepted",
            "Connections accepted by the listeners",
            self.accepted.clone(),
        );
        registry.register(
            "pgscram_connections_refused",
            "Connections closed at accept by a limit, by reason",
            self.refused.clone(),
        );
        registry.register(
            "pgscram_auth_attempts",
            "Connection attempts by pg_hba method and outcome",
            self.attempts.clone(),
        );
        registry.register(
            "pgscram_auth_throttled",
            "Failed logins whose error was delayed by the throttle",
            self.throttled.clone(),
        );
        registry.register_with_unit(
            "pgscram_auth_throttle_delay",
            "Total delay added before failed-login errors",
            Unit::Seconds,
            ConstCounter::new(self.throttle_delay_ms.get() as f64 / 1000.0),
        );
        registry.register(
            "pgscram_password_upgrades",
            "Roles whose md5 secret became a SCRAM verifier at login (upgrade_md5_on_login)",
            self.password_upgrades.clone(),
        );
        registry.register(
            "pgscram_password_logins",
            "Successful password logins by which of the role's passwords they used \
             (newest, or older during a rotation)",
            self.password_logins.clone(),
        );
        registry.register(
            "pgscram_handshakes_in_progress",
            "Connections in startup or authentication right now",
            self.handshakes.clone(),
        );
        registry.register(
            "pgscram_handshakes_peak",
            "Most handshakes in progress at once since start",
            self.handshakes_peak.clone(),
        );
        let gauges_now = [
            (
                "pgscram_max_handshakes",
                "The cap on concurrent handshakes",
                gauges.max_handshakes,
            ),
            (
                "pgscram_connections",
                "Open client connections (handshaking, throttled or in a session)",
                gauges.connections,
            ),
            (
                "pgscram_max_connections",
                "The max_connections setting",
                gauges.max_connections,
            ),
            (
                "pgscram_hash_workers_free",
                "Free permits of the PBKDF2 pool",
                gauges.hash_workers_free,
            ),
            (
                "pgscram_throttle_table_slots",
                "Fixed size of the failed-login table",
                gauges.throttle_slots,
            ),
        ];
        for (name, help, value) in gauges_now {
            registry.register(name, help, ConstGauge::new(value));
        }
        registry.register(
            "pgscram_audit_events_written",
            "Audit events written",
            ConstCounter::new(gauges.audit_written),
        );
        registry.register(
            "pgscram_audit_events_dropped",
            "Audit events dropped because the writer fell behind",
            ConstCounter::new(gauges.audit_dropped),
        );
        extra(&mut registry);
        let mut out = String::with_capacity(4096);
        // Writing into a String cannot fail, nor can encoding these metric types.
        let encoded = prometheus_text::encode(&mut out, &registry);
        debug_assert!(encoded.is_ok());
        out
    }
}

/// The `Content-Type` of the page [`Metrics::render`] writes: Prometheus text 0.0.4.
pub const CONTENT_TYPE: &str = prometheus_text::CONTENT_TYPE;

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
        "HTTP/1.1 200 OK\r\nContent-Type: {CONTENT_TYPE}\r\n\
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
        m.throttled(Duration::ZERO);
        m.handshake_started();
        m.handshake_started();
        m.handshake_ended();
        let text = m.render(&Gauges {
            connections: 3,
            max_connections: 100,
            audit_written: 5,
            ..Gauges::default()
        });
        for line in [
            "pgscram_connections_accepted_total 1",
            "pgscram_auth_attempts_total{method=\"scram-sha-256\",outcome=\"failure\"} 2",
            "pgscram_auth_attempts_total{method=\"scram-sha-256\",outcome=\"success\"} 0",
            "pgscram_auth_attempts_total{method=\"none\",outcome=\"timeout\"} 1",
            "pgscram_connections_refused_total{reason=\"per_address\"} 1",
            "pgscram_connections_refused_total{reason=\"overload\"} 0",
            "pgscram_auth_throttled_total 1",
            "pgscram_auth_throttle_delay_seconds_total 1.5",
            "pgscram_handshakes_in_progress 1",
            "pgscram_handshakes_peak 2",
            "pgscram_max_handshakes 0",
            "pgscram_connections 3",
            "pgscram_max_connections 100",
            "pgscram_hash_workers_free 0",
            "pgscram_throttle_table_slots 0",
            "pgscram_audit_events_written_total 5",
            "pgscram_audit_events_dropped_total 0",
            "pgscram_password_logins_total{password=\"newest\"} 0",
            "pgscram_password_logins_total{password=\"older\"} 0",
            "# HELP pgscram_auth_attempts_total Connection attempts by pg_hba method and outcome.",
            "# TYPE pgscram_auth_attempts_total counter",
            "# TYPE pgscram_connections gauge",
        ] {
            assert!(text.lines().any(|l| l == line), "missing {line} in\n{text}");
        }
        // Only counted combinations and the ones always shown: no 63 lines of zeros.
        assert_eq!(text.matches("pgscram_auth_attempts_total{").count(), 3);
        // Prometheus 0.0.4 text: no OpenMetrics end marker, no unit lines.
        assert!(
            !text.contains("# EOF") && !text.contains("# UNIT"),
            "{text}"
        );
        // Every sample has HELP and TYPE before it, under the name it is scraped by.
        let names: Vec<&str> = text
            .lines()
            .filter(|l| !l.starts_with('#'))
            .map(|l| l.split(['{', ' ']).next().unwrap())
            .collect();
        assert_eq!(names.len(), 20, "{text}");
        let line_of = |wanted: &dyn Fn(&str) -> bool| text.lines().position(wanted);
        for name in names {
            let help = line_of(&|l| l.starts_with(&format!("# HELP {name} ")));
            let kind = line_of(&|l| l.starts_with(&format!("# TYPE {name} ")));
            let sample = line_of(&|l| {
                l.strip_prefix(name)
                    .is_some_and(|rest| rest.starts_with([' ', '{']))
            });
            assert!(
                help.is_some() && help < kind && kind < sample,
                "{name}: {help:?} {kind:?} {sample:?}"
            );
        }
        assert_eq!(
            m.attempts(Some(AuthMethod::ScramSha256), Outcome::Failure),
            2
        );
        assert_eq!(m.attempts(Some(AuthMethod::Md5), Outcome::Success), 0);
        assert_eq!(m.refused_count(RefuseReason::PerAddress), 1);
        assert_eq!(m.refused_count(RefuseReason::Overload), 0);
        assert_eq!((m.handshakes(), m.handshakes_peak()), (1, 2));
    }

    /// The scraped names are what dashboards, alerts and the integration tests read.
    #[test]
    fn every_metric_keeps_its_scraped_name() {
        let text = Metrics::new().render(&Gauges::default());
        let mut names: Vec<&str> = text
            .lines()
            .filter_map(|l| l.strip_prefix("# TYPE "))
            .collect();
        names.sort_unstable();
        assert_eq!(
            names,
            [
                "pgscram_audit_events_dropped_total counter",
                "pgscram_audit_events_written_total counter",
                "pgscram_auth_attempts_total counter",
                "pgscram_auth_throttle_delay_seconds_total counter",
                "pgscram_auth_throttled_total counter",
                "pgscram_connections gauge",
                "pgscram_connections_accepted_total counter",
                "pgscram_connections_refused_total counter",
                "pgscram_handshakes_in_progress gauge",
                "pgscram_handshakes_peak gauge",
                "pgscram_hash_workers_free gauge",
                "pgscram_max_connections gauge",
                "pgscram_max_handshakes gauge",
                "pgscram_password_logins_total counter",
                "pgscram_password_upgrades_total counter",
                "pgscram_throttle_table_slots gauge",
            ]
        );
        assert!(
            text.lines()
                .any(|l| l == "pgscram_auth_throttle_delay_seconds_total 0.0")
        );
    }

    #[test]
    fn method_labels_are_a_fixed_set() {
        assert_eq!(method_label(None), "none");
        assert_eq!(method_label(Some(AuthMethod::ScramSha256)), "scram-sha-256");
        assert_eq!(method_label(Some(AuthMethod::Md5)), "md5");
    }

    #[test]
    fn requests_are_answered_strictly() {
        let render: &(dyn Fn() -> String + Send + Sync) = &render_fixed;
        let ok =
            String::from_utf8(answer(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", render)).unwrap();
        assert!(ok.starts_with("HTTP/1.1 200 OK\r\n"));
        assert!(ok.contains("\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n"));
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
