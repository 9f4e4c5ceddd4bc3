//! Failed-login throttling, the connection limits and the audit events, on a real
//! listener driven from several loopback addresses (127.0.0.0/8 is all loopback).

mod hardening_util;
mod support;

use std::io::Read as _;
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use hardening_util::{Login, scram_login};
use pgscram_server::MemoryStore;
use pgscram_server::audit::{AuditFormat, AuditTarget, Outcome};
use pgscram_server::metrics::RefuseReason;
use pgscram_server::throttle::ThrottleConfig;
use support::{TestServer, scram_role};

const HBA: &str = "host all all 127.0.0.0/8 scram-sha-256\n";

fn store() -> MemoryStore {
    let store = MemoryStore::new();
    for (name, password) in [
        ("alice", "wonderland"),
        ("bob", "builder"),
        ("carol", "singer"),
    ] {
        store.insert(name, scram_role(password));
    }
    store
}

fn connect_from(server: SocketAddr, source: [u8; 4]) -> TcpStream {
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    socket.bind(&SocketAddr::from((source, 0)).into()).unwrap();
    socket.connect(&server.into()).unwrap();
    let stream: TcpStream = socket.into();
    stream.set_nodelay(true).unwrap();
    stream
}

fn login_from(server: &TestServer, source: [u8; 4], user: &str, password: &str) -> Login {
    let mut stream = connect_from(server.addr, source);
    scram_login(&mut stream, user, password, "throttletestnonce")
}

/// The JSON audit lines written so far, waiting until at least `count` exist.
fn audit_lines(path: &Path, count: usize) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        let lines: Vec<String> = text.lines().map(str::to_owned).collect();
        if lines.len() >= count || Instant::now() > deadline {
            return lines;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A field of a JSON audit line, raw (strings keep their quotes).
fn field<'a>(line: &'a str, name: &str) -> &'a str {
    let key = format!("\"{name}\":");
    let start = line.find(&key).map(|i| i + key.len()).unwrap_or(line.len());
    let rest = &line[start..];
    // (No escaped quotes in the fields the tests read.)
    let end = if let Some(inner) = rest.strip_prefix('"') {
        inner.find('"').map_or(rest.len(), |i| i + 2)
    } else {
        rest.find([',', '}']).unwrap_or(rest.len())
    };
    &rest[..end]
}

fn delays(lines: &[String]) -> Vec<u64> {
    lines
        .iter()
        .map(|l| field(l, "delay_ms").parse().unwrap())
        .collect()
}

/// About `base` first (less the decay since the failure), then each about twice the one before (the earlier failures decay a
/// little during the delays, so not exactly), up to `cap`.
fn assert_doubling(delays: &[u64], base: u64, cap: u64) {
    let first = delays.first().copied().unwrap_or_default();
    assert!(
        (base * 95 / 100..=base).contains(&first),
        "{delays:?}: starts at {first}, not {base}"
    );
    for pair in delays.windows(2) {
        let (low, high) = (
            (pair[0] * 19 / 10).min(cap * 98 / 100),
            (pair[0] * 21 / 10).min(cap),
        );
        assert!(
            (low..=high).contains(&pair[1]),
            "{delays:?}: {} after {}",
            pair[1],
            pair[0]
        );
    }
}

fn audited(dir: &Path) -> (PathBuf, impl FnOnce(&mut pgscram_server::Settings)) {
    let path = dir.join("audit.jsonl");
    let target = path.clone();
    (path, move |c: &mut pgscram_server::Settings| {
        c.audit_log = Some(AuditTarget::File(target));
        c.audit_format = AuditFormat::Json;
    })
}

#[test]
fn repeated_failures_space_the_next_checks_and_no_one_else_waits() {
    let dir = pgscram_testkit::temp_dir("throttle-audit");
    let (audit, with_audit) = audited(&dir);
    let server = TestServer::start_with(HBA, store(), |c| {
        with_audit(c);
        c.throttle = ThrottleConfig {
            base_delay: Duration::from_millis(200),
            max_delay: Duration::from_millis(3200),
            half_life: Duration::from_secs(600),
            slots: 1024,
        };
    });

    // Six wrong passwords in a row from 127.0.0.2: the error of each comes at once,
    // and each next check waits twice as long as the one before.
    let mut totals = Vec::new();
    for _ in 0..6 {
        let login = login_from(&server, [127, 0, 0, 2], "alice", "guess");
        assert_eq!(
            login.error().as_deref(),
            Some("28P01 password authentication failed for user \"alice\"")
        );
        assert!(
            login.final_wait < Duration::from_millis(150),
            "the error is not held back: {:?}",
            login.final_wait
        );
        totals.push(login.total);
    }
    let lines = audit_lines(&audit, 6);
    let delays = delays(&lines);
    assert_eq!(delays[0], 0, "a first attempt never waits: {delays:?}");
    assert_doubling(&delays[1..], 200, 3200);
    for (total, delay) in totals.iter().zip(&delays) {
        assert!(
            *total >= Duration::from_millis(*delay),
            "{total:?} < {delay} ms"
        );
    }
    println!("attempts 1..6 took {totals:?} (waits {delays:?} ms)");

    // While a seventh guess from 127.0.0.2 waits its 3.2 s turn, other roles log in
    // at once, from the attacker's own address too.
    let attacker_done = Arc::new(AtomicBool::new(false));
    let attacker = {
        let addr = server.addr;
        let done = attacker_done.clone();
        std::thread::spawn(move || {
            let mut stream = connect_from(addr, [127, 0, 0, 2]);
            let login = scram_login(&mut stream, "alice", "guess", "throttletestnonce");
            done.store(true, Ordering::SeqCst);
            login
        })
    };
    std::thread::sleep(Duration::from_millis(100));
    let same_address = login_from(&server, [127, 0, 0, 2], "carol", "singer");
    assert!(same_address.ok, "{:?}", same_address.messages);
    // A first typo by another user at another address: at once.
    let typo = login_from(&server, [127, 0, 0, 4], "bob", "bilder");
    assert!(typo.error().is_some());
    // And a success from that same address right after.
    let ok2 = login_from(&server, [127, 0, 0, 4], "carol", "singer");
    assert!(ok2.ok);
    assert!(
        !attacker_done.load(Ordering::SeqCst),
        "the other logins should finish while the attacker still waits"
    );
    let seventh = attacker.join().unwrap();
    assert!(
        seventh.total >= Duration::from_millis(3100),
        "{:?}",
        seventh.total
    );
    for quick in [same_address.total, typo.total, ok2.total] {
        assert!(quick < Duration::from_millis(250), "{quick:?}");
    }
    println!(
        "while the attacker waited {:?}: another role from its address took {:?}, a first \
         typo elsewhere {:?}, a success after it {:?}",
        seventh.total, same_address.total, typo.total, ok2.total
    );

    let lines = audit_lines(&audit, 10);
    let by_client = |ip: &str| -> Vec<(String, String)> {
        lines
            .iter()
            .filter(|l| field(l, "client").starts_with(&format!("\"{ip}:")))
            .map(|l| {
                (
                    field(l, "outcome").to_owned(),
                    field(l, "delay_ms").to_owned(),
                )
            })
            .collect()
    };
    // bob's first failure and carol's success: not slowed by alice's attacker.
    assert_eq!(
        by_client("127.0.0.4"),
        [
            ("\"failure\"".to_owned(), "0".to_owned()),
            ("\"success\"".to_owned(), "0".to_owned())
        ]
    );
    // Every event names the hba line, method and database, and no event has a secret.
    for line in &lines {
        assert_eq!(field(line, "method"), "\"scram-sha-256\"", "{line}");
        assert_eq!(field(line, "hba_line"), "1", "{line}");
        assert_eq!(field(line, "database"), "\"postgres\"", "{line}");
        for secret in ["wonderland", "builder", "singer", "guess", "bilder"] {
            assert!(!line.contains(secret), "{secret} in {line}");
        }
    }
    let metrics = server.handle.metrics();
    assert_eq!(
        metrics.attempts(
            Some(pgscram_auth::hba::AuthMethod::ScramSha256),
            Outcome::Failure
        ),
        8
    );
    let page = server.handle.metrics_page();
    assert!(page.contains("pgscram_auth_throttled_total 6"), "{page}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn one_role_guessed_from_many_addresses_is_throttled_by_the_role() {
    let dir = pgscram_testkit::temp_dir("throttle-role");
    let (audit, with_audit) = audited(&dir);
    let server = TestServer::start_with(HBA, store(), |c| {
        with_audit(c);
        c.throttle = ThrottleConfig {
            base_delay: Duration::from_millis(100),
            ..ThrottleConfig::default()
        };
    });
    for i in 0..5u8 {
        let login = login_from(&server, [127, 0, 1, 10 + i], "bob", "guess");
        assert!(login.error().is_some());
    }
    let lines = audit_lines(&audit, 5);
    let delays = delays(&lines);
    assert_eq!(delays[0], 0, "{delays:?}");
    assert_doubling(&delays[1..], 100, 2_000);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Reads until the server closes; true if it did within `limit`.
fn closed_within(stream: &mut TcpStream, limit: Duration) -> bool {
    stream.set_read_timeout(Some(limit)).unwrap();
    let mut chunk = [0u8; 64];
    loop {
        match stream.read(&mut chunk) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return true,
            Err(_) => return false,
        }
    }
}

#[test]
fn per_address_cap_handshake_cap_and_slow_loris_cut() {
    let dir = pgscram_testkit::temp_dir("limits-audit");
    let (audit, with_audit) = audited(&dir);
    let server = TestServer::start_with(HBA, store(), |c| {
        with_audit(c);
        c.max_connections_per_address = 3;
        c.max_handshakes = 2;
        c.authentication_timeout = Duration::from_secs(2);
    });
    let started = Instant::now();
    // Four half-open connections from 127.0.0.2 (nothing sent): three are allowed (and
    // hold no handshake slot), one is closed at accept (which one depends on task order).
    let mut idle: Vec<TcpStream> = (0..4)
        .map(|_| connect_from(server.addr, [127, 0, 0, 2]))
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    let closed: Vec<usize> = (0..idle.len())
        .filter(|&i| closed_within(&mut idle[i], Duration::from_millis(200)))
        .collect();
    assert_eq!(closed.len(), 1, "{closed:?}");
    idle.remove(closed[0]);
    // Two slow-loris clients that sent their startup packet and then stall: they hold
    // both handshake slots.
    let mut stalled: Vec<TcpStream> = [[127, 0, 0, 3], [127, 0, 0, 4]]
        .iter()
        .map(|ip| {
            let mut s = connect_from(server.addr, *ip);
            std::io::Write::write_all(&mut s, &hardening_util::startup("alice")).unwrap();
            s
        })
        .collect();
    std::thread::sleep(Duration::from_millis(1000));
    assert_eq!(server.handle.metrics().handshakes(), 2);
    // A real client waits for a slot, and gets one when the stalled ones are cut.
    let login = login_from(&server, [127, 0, 0, 5], "alice", "wonderland");
    assert!(login.ok, "{:?}", login.messages);
    println!(
        "login behind two stalled handshakes took {:?} (authentication_timeout 2 s)",
        login.total
    );
    assert!(server.handle.metrics().handshakes_peak() <= 2);
    // Every stalled or idle connection was cut by authentication_timeout.
    for s in idle.iter_mut().chain(stalled.iter_mut()) {
        assert!(closed_within(s, Duration::from_secs(10)), "not cut");
    }
    println!("all slow clients cut after {:?}", started.elapsed());
    assert_eq!(
        server
            .handle
            .metrics()
            .refused_count(RefuseReason::PerAddress),
        1
    );
    // Audit: 1 refused, 5 timeouts (3 idle, 2 stalled), 1 success.
    let lines = audit_lines(&audit, 7);
    let count = |o: &str| {
        lines
            .iter()
            .filter(|l| field(l, "outcome") == format!("\"{o}\""))
            .count()
    };
    assert_eq!(
        (count("refused"), count("timeout"), count("success")),
        (1, 5, 1),
        "{lines:#?}"
    );
    // The stalled clients had named their user; the idle ones had not.
    assert_eq!(
        lines
            .iter()
            .filter(|l| field(l, "outcome") == "\"timeout\"" && field(l, "user") == "\"alice\"")
            .count(),
        2
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn legitimate_logins_keep_succeeding_under_a_flood() {
    let server = TestServer::start_with(HBA, store(), |c| {
        // 4 flooding addresses x 3 < 16 slots: the rule of thumb for these two limits.
        c.max_connections_per_address = 3;
        c.max_handshakes = 16;
        c.max_connections = 200;
        c.authentication_timeout = Duration::from_secs(3);
        c.throttle = ThrottleConfig {
            base_delay: Duration::from_millis(50),
            max_delay: Duration::from_secs(2),
            ..ThrottleConfig::default()
        };
    });
    let stop = Arc::new(AtomicBool::new(false));
    let flood_started = Instant::now();
    // Four flooding addresses, each: half-open connections, stalled startups, garbage
    // and wrong passwords, as fast as the server lets them. Each thread stops by itself.
    let flooders: Vec<_> = (0..4u8)
        .map(|i| {
            let (addr, stop) = (server.addr, stop.clone());
            std::thread::spawn(move || {
                let ip = [127, 0, 2, 1 + i];
                let mut held = Vec::new();
                let mut attempts = 0u32;
                while !stop.load(Ordering::SeqCst)
                    && flood_started.elapsed() < Duration::from_secs(30)
                {
                    attempts += 1;
                    let mut s = connect_from(addr, ip);
                    match attempts % 4 {
                        0 => held.push(s), // half-open
                        1 => {
                            let _ = std::io::Write::write_all(
                                &mut s,
                                &hardening_util::startup("alice"),
                            );
                            held.push(s); // stalled in the exchange
                        }
                        2 => {
                            let _ = std::io::Write::write_all(&mut s, &[0xff; 64]);
                        }
                        _ => {
                            let _ = scram_login(&mut s, "alice", "guess", "floodnonce");
                        }
                    }
                    if held.len() > 16 {
                        held.drain(..8);
                    }
                }
                attempts
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    let mut ok = 0;
    let mut times = Vec::new();
    // Spread over about four seconds, so the flood's stalled connections time out
    // (3 s) and come back while real clients keep logging in.
    for _ in 0..40 {
        let login = login_from(&server, [127, 0, 0, 1], "carol", "singer");
        assert!(
            login.ok,
            "legitimate login failed under flood: {:?}",
            login.messages
        );
        ok += 1;
        times.push(login.total);
        std::thread::sleep(Duration::from_millis(100));
    }
    stop.store(true, Ordering::SeqCst);
    let attempts: u32 = flooders.into_iter().map(|t| t.join().unwrap()).sum();
    times.sort();
    let metrics = server.handle.metrics();
    println!(
        "flood: {attempts} attacker connections from 4 addresses; {ok}/40 legitimate logins \
         succeeded, median {:?}, max {:?}; refused at accept: {}; peak handshakes {}",
        times[times.len() / 2],
        times[times.len() - 1],
        metrics.refused_count(RefuseReason::PerAddress),
        metrics.handshakes_peak()
    );
    assert!(metrics.handshakes_peak() <= 16);
    assert!(metrics.refused_count(RefuseReason::PerAddress) > 0);
}
