//! Audit events: one structured record per connection attempt (who, from where, which
//! pg_hba line and method, how it ended and the log-only reason), as text or JSON lines.
//!
//! Events are formatted on the connection's task and written by one dedicated thread
//! through a bounded queue: a slow disk never stalls the runtime, and a flood of
//! attempts cannot grow memory without bound (events beyond the queue are counted as
//! dropped). Every field that came from the client is escaped, so one event is always
//! one line. Events carry names and reasons only: no password, proof, key or verifier
//! is ever handed to this module.

use std::fmt::Write as _;
use std::io::{self, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{SyncSender, TrySendError};
use std::time::{Duration, SystemTime};

use pgscram_auth::hba::AuthMethod;
use serde::Serialize;

use crate::log;
use crate::store::PasswordUsed;

/// Events waiting for the writer thread before new ones are dropped.
pub const QUEUE: usize = 4096;

/// How one attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// Authenticated and admitted to a session.
    Success,
    /// A credential failure (`28P01`): wrong password, unknown role, expired, ...
    Failure,
    /// Refused by pg_hba.conf (no matching line or a `reject` line).
    Rejected,
    /// Authenticated, then refused: no login right, unknown database, role limit.
    Denied,
    /// The client broke the protocol.
    ProtocolError,
    /// The client went away in the middle.
    Disconnected,
    /// authentication_timeout passed (slow or silent client).
    Timeout,
    /// `53300 sorry, too many clients already`.
    TooManyConnections,
    /// Closed at accept by a limit (per-address cap, overload) before reading anything.
    Refused,
}

impl Outcome {
    /// Every outcome, in the order the metrics list them.
    pub const ALL: [Outcome; 9] = [
        Outcome::Success,
        Outcome::Failure,
        Outcome::Rejected,
        Outcome::Denied,
        Outcome::ProtocolError,
        Outcome::Disconnected,
        Outcome::Timeout,
        Outcome::TooManyConnections,
        Outcome::Refused,
    ];

    /// The outcome's name in audit lines and metric labels.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Failure => "failure",
            Outcome::Rejected => "rejected",
            Outcome::Denied => "denied",
            Outcome::ProtocolError => "protocol_error",
            Outcome::Disconnected => "disconnected",
            Outcome::Timeout => "timeout",
            Outcome::TooManyConnections => "too_many_connections",
            Outcome::Refused => "refused",
        }
    }

    /// Position in [`Outcome::ALL`] (for counter arrays).
    pub fn index(self) -> usize {
        self as usize
    }
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One attempt, as recorded.
#[derive(Debug, Clone)]
pub struct AuditEvent {
    /// When the attempt ended.
    pub time: SystemTime,
    /// The connection's pid, as in the log lines.
    pub pid: i32,
    /// `None` for a Unix-socket connection.
    pub client: Option<SocketAddr>,
    /// The user named in the startup packet, once it arrived.
    pub user: Option<String>,
    /// The database named in the startup packet.
    pub database: Option<String>,
    /// The pg_hba method of the matching rule.
    pub method: Option<AuthMethod>,
    /// The pg_hba.conf file and line that matched.
    pub hba: Option<(String, u32)>,
    /// Whether TLS was up.
    pub ssl: bool,
    /// How the attempt ended.
    pub outcome: Outcome,
    /// Why, for the operator only (the client got the generic message).
    pub reason: Option<String>,
    /// Throttling delay added before the failure was sent.
    pub delay: Duration,
    /// Which of the role's passwords authenticated (`newest` or `older` during a
    /// rotation), when one did.
    pub password: Option<PasswordUsed>,
}

/// Line format of the audit log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AuditFormat {
    /// `key=value` pairs after a PostgreSQL-style prefix.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

impl std::str::FromStr for AuditFormat {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "text" => Ok(AuditFormat::Text),
            "json" => Ok(AuditFormat::Json),
            other => Err(format!(
                "invalid audit format \"{other}\": use text or json"
            )),
        }
    }
}

/// Where audit lines go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuditTarget {
    /// Standard output (`--audit-log -`); server log lines stay on standard error.
    Stdout,
    /// Appended to a file created with mode 0600.
    File(PathBuf),
}

impl AuditEvent {
    /// The event as one line (without the newline) in `format`.
    pub fn format(&self, format: AuditFormat) -> String {
        match format {
            AuditFormat::Text => self.text(),
            AuditFormat::Json => self.json(),
        }
    }

    fn client_text(&self) -> String {
        self.client
            .map_or_else(|| "[local]".to_owned(), |a| a.to_string())
    }

    fn text(&self) -> String {
        let mut out = format!(
            "{} [{}] AUDIT:  outcome={} client={}",
            log::timestamp(self.time),
            self.pid,
            self.outcome,
            self.client_text()
        );
        let mut field = |name: &str, value: &Option<String>| {
            if let Some(value) = value {
                out.push(' ');
                out.push_str(name);
                out.push('=');
                quote_text(&mut out, value);
            }
        };
        field("user", &self.user);
        field("database", &self.database);
        field("method", &self.method.map(|m| m.as_str().to_owned()));
        field(
            "hba",
            &self
                .hba
                .as_ref()
                .map(|(file, line)| format!("{file}:{line}")),
        );
        field("password", &self.password.map(|p| p.as_str().to_owned()));
        let _ = write!(
            out,
            " ssl={} delay_ms={}",
            if self.ssl { "on" } else { "off" },
            self.delay.as_millis()
        );
        if let Some(reason) = &self.reason {
            out.push_str(" reason=");
            quote_text(&mut out, reason);
        }
        out
    }

    fn json(&self) -> String {
        let line = JsonLine {
            time: log::rfc3339(self.time),
            pid: self.pid,
            client: self.client_text(),
            user: self.user.as_deref(),
            database: self.database.as_deref(),
            method: self.method.map(AuthMethod::as_str),
            hba_file: self.hba.as_ref().map(|(file, _)| file.as_str()),
            hba_line: self.hba.as_ref().map(|&(_, line)| line),
            password: self.password.map(PasswordUsed::as_str),
            ssl: self.ssl,
            outcome: self.outcome.as_str(),
            delay_ms: u64::try_from(self.delay.as_millis()).unwrap_or(u64::MAX),
            reason: self.reason.as_deref(),
        };
        // Serializing plain strings, numbers and options into a String cannot fail; an
        // empty object keeps the one-object-per-line promise if it ever did.
        serde_json::to_string(&line).unwrap_or_else(|_| "{}".to_owned())
    }
}

/// The JSON audit line: field names and order are the log's format, kept stable for
/// the tools that read it. serde_json does the escaping, so client-supplied names
/// can never break out of their string or the line.
#[derive(Serialize)]
struct JsonLine<'a> {
    time: String,
    pid: i32,
    client: String,
    user: Option<&'a str>,
    database: Option<&'a str>,
    method: Option<&'static str>,
    hba_file: Option<&'a str>,
    hba_line: Option<u32>,
    /// Only on logins that used a password: older readers see the lines they knew.
    #[serde(skip_serializing_if = "Option::is_none")]
    password: Option<&'static str>,
    ssl: bool,
    outcome: &'static str,
    delay_ms: u64,
    reason: Option<&'a str>,
}

/// `"..."` with `"` and `\` escaped and control characters made visible.
fn quote_text(out: &mut String, value: &str) {
    out.push('"');
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => {
                let _ = write!(out, "\\x{:02x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// The audit log: a bounded queue in front of a writer thread.
#[derive(Debug)]
pub struct AuditLog {
    format: AuditFormat,
    queue: SyncSender<String>,
    dropped: AtomicU64,
    written: Arc<AtomicU64>,
}

impl AuditLog {
    /// Opens the target (a file is created 0600 and appended to) and starts the writer.
    pub fn open(target: &AuditTarget, format: AuditFormat) -> io::Result<Self> {
        let writer: Box<dyn Write + Send> = match target {
            AuditTarget::Stdout => Box::new(io::stdout()),
            AuditTarget::File(path) => {
                use std::os::unix::fs::OpenOptionsExt as _;
                Box::new(
                    std::fs::OpenOptions::new()
                        .append(true)
                        .create(true)
                        .mode(0o600)
                        .open(path)?,
                )
            }
        };
        Self::to_writer(writer, format)
    }

    /// Writes events to any writer (tests capture them in memory).
    pub fn to_writer(mut writer: Box<dyn Write + Send>, format: AuditFormat) -> io::Result<Self> {
        let (queue, events) = std::sync::mpsc::sync_channel::<String>(QUEUE);
        let written = Arc::new(AtomicU64::new(0));
        let counter = written.clone();
        std::thread::Builder::new()
            .name("pgscram-audit".into())
            .spawn(move || {
                let mut failed = false;
                // Ends when the log (the only sender) is dropped.
                for line in events {
                    let result = writer
                        .write_all(line.as_bytes())
                        .and_then(|()| writer.write_all(b"\n"))
                        .and_then(|()| writer.flush());
                    match result {
                        Ok(()) => {
                            counter.fetch_add(1, Ordering::Relaxed);
                            failed = false;
                        }
                        Err(e) if !failed => {
                            failed = true;
                            tracing::warn!("could not write audit event: {e}");
                        }
                        Err(_) => {}
                    }
                }
            })?;
        Ok(AuditLog {
            format,
            queue,
            dropped: AtomicU64::new(0),
            written,
        })
    }

    /// Queues one event; if the writer is that far behind, the event is dropped and counted.
    pub fn record(&self, event: &AuditEvent) {
        match self.queue.try_send(event.format(self.format)) {
            Ok(()) => {}
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                self.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Events lost because the queue was full.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Events written out so far.
    pub fn written(&self) -> u64 {
        self.written.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;
    use std::time::UNIX_EPOCH;

    fn event() -> AuditEvent {
        AuditEvent {
            time: UNIX_EPOCH + Duration::from_millis(1_795_960_800_123),
            pid: 1001,
            client: Some("127.0.0.1:40000".parse().unwrap()),
            user: Some("ali\"ce\n[1] LOG:".into()),
            database: Some("postgres".into()),
            method: Some(AuthMethod::ScramSha256),
            hba: Some(("/data/pg_hba.conf".into(), 2)),
            ssl: false,
            outcome: Outcome::Failure,
            reason: Some("Password does not match for user \"alice\".".into()),
            delay: Duration::from_millis(200),
            password: None,
        }
    }

    #[test]
    fn a_login_says_which_password_it_used() {
        let login = AuditEvent {
            outcome: Outcome::Success,
            reason: None,
            delay: Duration::ZERO,
            password: Some(PasswordUsed::Older),
            ..event()
        };
        let text = login.format(AuditFormat::Text);
        assert!(
            text.contains("hba=\"/data/pg_hba.conf:2\" password=\"older\" ssl=off"),
            "{text}"
        );
        let json = login.format(AuditFormat::Json);
        assert!(
            json.contains("\"hba_line\":2,\"password\":\"older\",\"ssl\":false"),
            "{json}"
        );
    }

    #[test]
    fn text_lines_escape_client_input() {
        let line = event().format(AuditFormat::Text);
        assert_eq!(
            line,
            "2026-11-29 14:00:00.123 UTC [1001] AUDIT:  outcome=failure client=127.0.0.1:40000 \
             user=\"ali\\\"ce\\n[1] LOG:\" database=\"postgres\" method=\"scram-sha-256\" \
             hba=\"/data/pg_hba.conf:2\" ssl=off delay_ms=200 \
             reason=\"Password does not match for user \\\"alice\\\".\""
        );
        assert!(!line.contains('\n'));
    }

    #[test]
    fn json_lines_are_one_object() {
        let line = event().format(AuditFormat::Json);
        assert_eq!(
            line,
            "{\"time\":\"2026-11-29T14:00:00.123Z\",\"pid\":1001,\"client\":\"127.0.0.1:40000\",\
             \"user\":\"ali\\\"ce\\n[1] LOG:\",\"database\":\"postgres\",\"method\":\"scram-sha-256\",\
             \"hba_file\":\"/data/pg_hba.conf\",\"hba_line\":2,\"ssl\":false,\"outcome\":\"failure\",\
             \"delay_ms\":200,\"reason\":\"Password does not match for user \\\"alice\\\".\"}"
        );
        let local = AuditEvent {
            client: None,
            user: None,
            database: None,
            method: None,
            hba: None,
            reason: Some("\u{1}".into()),
            outcome: Outcome::Timeout,
            ..event()
        }
        .format(AuditFormat::Json);
        assert!(local.contains("\"client\":\"[local]\",\"user\":null"));
        assert!(local.contains("\"hba_line\":null"));
        assert!(local.ends_with("\"reason\":\"\\u0001\"}"));
    }

    /// Whatever a client puts in its startup packet, the line parses back to the same
    /// values and stays one line.
    #[test]
    fn json_lines_round_trip_hostile_names() {
        let hostile = "\"}\n{\"outcome\":\"success\"\\\u{0}\u{7f}\u{2028}é";
        let line = AuditEvent {
            user: Some(hostile.into()),
            database: Some("db\r\t".into()),
            ..event()
        }
        .format(AuditFormat::Json);
        assert!(!line.contains('\n') && !line.contains('\r'), "{line}");
        let value: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(value["user"], hostile);
        assert_eq!(value["database"], "db\r\t");
        assert_eq!(value["outcome"], "failure");
        assert_eq!(value["hba_line"], 2);
        assert_eq!(value["delay_ms"], 200);
        let keys: Vec<&str> = value
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(keys.len(), 12, "{keys:?}");
    }

    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);

    impl Write for Shared {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn the_writer_thread_writes_every_event_as_one_line() {
        let sink = Shared::default();
        let log = AuditLog::to_writer(Box::new(sink.clone()), AuditFormat::Json).unwrap();
        for _ in 0..10 {
            log.record(&event());
        }
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while log.written() < 10 && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(log.written(), 10);
        assert_eq!(log.dropped(), 0);
        let bytes = sink.0.lock().unwrap().clone();
        let text = String::from_utf8(bytes).unwrap();
        assert_eq!(text.lines().count(), 10);
        assert!(text.lines().all(|l| l.starts_with('{') && l.ends_with('}')));
    }

    /// A writer that never finishes: the queue fills and further events are dropped,
    /// so memory stays bounded however many attempts arrive.
    #[test]
    fn a_stuck_writer_drops_instead_of_growing() {
        struct Stuck(std::sync::mpsc::Receiver<()>);
        impl Write for Stuck {
            fn write(&mut self, _: &[u8]) -> io::Result<usize> {
                let _ = self.0.recv();
                Err(io::Error::other("closed"))
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let (release, wait) = std::sync::mpsc::channel();
        let log = AuditLog::to_writer(Box::new(Stuck(wait)), AuditFormat::Text).unwrap();
        for _ in 0..QUEUE + 100 {
            log.record(&event());
        }
        assert!(log.dropped() >= 99, "{}", log.dropped());
        drop(release);
    }

    #[test]
    fn formats_parse() {
        assert_eq!("json".parse::<AuditFormat>(), Ok(AuditFormat::Json));
        assert_eq!("text".parse::<AuditFormat>(), Ok(AuditFormat::Text));
        assert!("xml".parse::<AuditFormat>().is_err());
    }
}
