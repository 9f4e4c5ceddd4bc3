//! Load: many concurrent SCRAM logins against the real `pgscram serve` while a thousand
//! idle and half-open connections sit on it. Prints logins/s and the server's resident
//! memory (from /proc) before and after; asserts only that every login succeeds and that
//! memory per idle connection stays small (no timing assertion).

mod hardening_serve;
#[path = "../../server/tests/hardening_util/mod.rs"]
mod hardening_util;

use std::io::Write as _;
use std::net::TcpStream;
use std::time::{Duration, Instant};

use hardening_serve::{SUPERUSER_PASSWORD, Serve};
use hardening_util::rss_kib;

const IDLE: usize = 1000;
const THREADS: usize = 8;
const LOGINS_PER_THREAD: usize = 40;

fn metric(serve: &Serve, metrics_port: u16, name: &str) -> String {
    let _ = serve;
    let mut stream = TcpStream::connect(("127.0.0.1", metrics_port)).unwrap();
    stream.write_all(b"GET /metrics HTTP/1.1\r\n\r\n").unwrap();
    let mut text = String::new();
    std::io::Read::read_to_string(&mut stream, &mut text).unwrap();
    text.lines()
        .find(|l| l.starts_with(name) && l[name.len()..].starts_with(' '))
        .map(|l| l[name.len() + 1..].to_owned())
        .unwrap_or_default()
}

fn logins(serve: &Serve) -> (usize, Duration) {
    let addr = serve.addr();
    let started = Instant::now();
    let threads: Vec<_> = (0..THREADS)
        .map(|_| {
            std::thread::spawn(move || {
                (0..LOGINS_PER_THREAD)
                    .filter(|_| hardening_util::login_at(addr, "postgres", SUPERUSER_PASSWORD).ok)
                    .count()
            })
        })
        .collect();
    let ok = threads.into_iter().map(|t| t.join().unwrap()).sum();
    (ok, started.elapsed())
}

#[test]
fn logins_keep_flowing_past_a_thousand_idle_connections() {
    let dir = pgscram_testkit::temp_dir("load");
    let metrics_port = pgscram_testkit::free_port();
    let metrics_addr = format!("127.0.0.1:{metrics_port}");
    let serve = Serve::start(
        &dir,
        &[
            "--max-connections",
            "1500",
            "--authentication-timeout",
            "60",
            // The thousand idle connections and the logins share one address: lift the
            // per-address and total caps on pending connections (their defaults cut such
            // a flood at 16 and 256) to measure what idle connections cost.
            "--max-connections-per-address",
            "0",
            "--max-pending-connections",
            "1500",
            "--metrics-listen",
            &metrics_addr,
        ],
    );
    let pid = serve.pid();
    // Warm up (first TLS/catalog work, allocator arenas), then measure.
    let (warm, _) = logins(&serve);
    assert_eq!(warm, THREADS * LOGINS_PER_THREAD);
    let rss_start = rss_kib(pid).unwrap_or(0);
    let (ok, took) = logins(&serve);
    assert_eq!(ok, THREADS * LOGINS_PER_THREAD);
    let rate_quiet = ok as f64 / took.as_secs_f64();

    // A thousand connections that never finish their startup: half send nothing, half
    // a length word and a few bytes of a startup packet.
    let mut idle = Vec::with_capacity(IDLE);
    for i in 0..IDLE {
        let mut s = TcpStream::connect(serve.addr()).unwrap();
        if i % 2 == 1 {
            let _ = s.write_all(&[0, 0, 0, 80, 0, 3, 0]);
        }
        idle.push(s);
    }
    std::thread::sleep(Duration::from_millis(500));
    let rss_idle = rss_kib(pid).unwrap_or(0);
    let connections = metric(&serve, metrics_port, "pgscram_connections");

    let (ok, took) = logins(&serve);
    assert_eq!(
        ok,
        THREADS * LOGINS_PER_THREAD,
        "logins failed beside idle connections"
    );
    let rate_loaded = ok as f64 / took.as_secs_f64();
    let rss_loaded = rss_kib(pid).unwrap_or(0);
    let peak = metric(&serve, metrics_port, "pgscram_handshakes_peak");

    drop(idle);
    std::thread::sleep(Duration::from_millis(500));
    let rss_after = rss_kib(pid).unwrap_or(0);
    let per_idle = rss_idle.saturating_sub(rss_start) as f64 / IDLE as f64;
    println!(
        "load: {THREADS} threads x {LOGINS_PER_THREAD} SCRAM logins (client PBKDF2 in this process, 2 cores shared)\n\
         \x20 quiet:               {rate_quiet:.0} logins/s\n\
         \x20 with {IDLE} idle conns: {rate_loaded:.0} logins/s (server saw {connections} connections; peak handshakes {peak})\n\
         \x20 server RSS: start {rss_start} KiB, with idle {rss_idle} KiB ({per_idle:.1} KiB per idle connection), \
         after logins {rss_loaded} KiB, idle closed {rss_after} KiB"
    );
    // Memory, not time: an idle pre-authentication connection must stay cheap.
    if rss_start > 0 {
        assert!(per_idle < 16.0, "{per_idle:.1} KiB per idle connection");
    }
    drop(serve);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn audit_events_on_stdout_and_counters_on_the_metrics_port() {
    let dir = pgscram_testkit::temp_dir("audit-stdout");
    let metrics_port = pgscram_testkit::free_port();
    let metrics_addr = format!("127.0.0.1:{metrics_port}");
    let serve = Serve::start(
        &dir,
        &[
            "--audit-log",
            "-",
            "--audit-format",
            "text",
            "--metrics-listen",
            &metrics_addr,
        ],
    );
    assert!(hardening_util::login_at(serve.addr(), "postgres", SUPERUSER_PASSWORD).ok);
    let bad = hardening_util::login_at(serve.addr(), "nobody", "x");
    assert!(bad.error().is_some());
    let deadline = Instant::now() + Duration::from_secs(10);
    let stdout = loop {
        let text = String::from_utf8_lossy(&serve.stdout.lock().unwrap()).into_owned();
        if text.lines().filter(|l| l.contains(" AUDIT:  ")).count() >= 2
            || Instant::now() > deadline
        {
            break text;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let lines: Vec<&str> = stdout.lines().filter(|l| l.contains(" AUDIT:  ")).collect();
    assert_eq!(lines.len(), 2, "{stdout}");
    assert!(lines[0].contains("outcome=success") && lines[0].contains("user=\"postgres\""));
    assert!(
        lines[1].contains("outcome=failure")
            && lines[1].contains("user=\"nobody\"")
            && lines[1].contains("reason=\"Role \\\"nobody\\\" does not exist.\""),
        "{}",
        lines[1]
    );
    // The pid of the audit event is the pid of the connection's log lines.
    let pid = lines[1]
        .split('[')
        .nth(1)
        .and_then(|r| r.split(']').next())
        .unwrap();
    assert!(serve.log().contains(&format!(
        "[{pid}] FATAL:  password authentication failed for user \"nobody\""
    )));
    assert_ne!(pid, "0");
    assert_eq!(
        metric(
            &serve,
            metrics_port,
            "pgscram_auth_attempts_total{method=\"scram-sha-256\",outcome=\"failure\"}"
        ),
        "1"
    );
    // One failure: nothing waited yet. The next check for "nobody" waits its turn.
    assert_eq!(
        metric(&serve, metrics_port, "pgscram_auth_throttled_total"),
        "0"
    );
    assert!(
        hardening_util::login_at(serve.addr(), "nobody", "y")
            .error()
            .is_some()
    );
    assert_eq!(
        metric(&serve, metrics_port, "pgscram_auth_throttled_total"),
        "1"
    );
    drop(serve);
    let _ = std::fs::remove_dir_all(&dir);
}
