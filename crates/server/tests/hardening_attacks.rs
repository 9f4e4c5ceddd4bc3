//! The attacks of the adversarial review, run with real sockets against the default
//! hardening, each bounded in count and time: while each runs, right-password logins
//! for another role from another loopback address (and, for the abandoned-guess flood,
//! from the attacker's own address) must all succeed, with p99 under 250 ms. After it,
//! nothing the attacker opened is left holding a place.

mod hardening_util;
mod support;

use std::io::Write as _;
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use hardening_util::{scram_login, startup};
use pgscram_server::MemoryStore;
use pgscram_server::throttle::ThrottleConfig;
use support::{TestServer, scram_role};

const HBA: &str = "host all all 127.0.0.0/8 scram-sha-256\n";

fn store() -> MemoryStore {
    let store = MemoryStore::new();
    store.insert("alice", scram_role("wonderland"));
    store.insert("carol", scram_role("singer"));
    store
}

/// The hardening `pgscram serve` runs with: throttling on, default caps.
fn server() -> TestServer {
    TestServer::start_with(HBA, store(), |s| s.throttle = ThrottleConfig::default())
}

fn connect_from(server: SocketAddr, source: [u8; 4]) -> std::io::Result<TcpStream> {
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)?;
    socket.bind(&SocketAddr::from((source, 0)).into())?;
    socket.connect(&server.into())?;
    let stream: TcpStream = socket.into();
    stream.set_nodelay(true)?;
    Ok(stream)
}

/// Legitimate logins ("carol", right password) from each of `sources`, one after the
/// other, until `stop` is set: every latency, and how many failed.
fn legitimate_logins(
    server: SocketAddr,
    sources: Vec<[u8; 4]>,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<(Vec<Duration>, Vec<String>)> {
    std::thread::spawn(move || {
        let mut latencies = Vec::new();
        let mut failures = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        while !stop.load(Ordering::SeqCst) && Instant::now() < deadline {
            for source in &sources {
                let started = Instant::now();
                let login = connect_from(server, *source)
                    .map(|mut s| scram_login(&mut s, "carol", "singer", "legitimatenonce"));
                match login {
                    Ok(login) if login.ok => latencies.push(started.elapsed()),
                    Ok(login) => failures.push(format!("{source:?}: {:?}", login.messages)),
                    Err(e) => failures.push(format!("{source:?}: {e}")),
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        (latencies, failures)
    })
}

fn p99(latencies: &mut [Duration]) -> Duration {
    latencies.sort();
    latencies[(latencies.len() * 99 / 100).min(latencies.len() - 1)]
}

fn assert_legitimate(name: &str, (mut latencies, failures): (Vec<Duration>, Vec<String>)) {
    assert!(failures.is_empty(), "{name}: {failures:?}");
    assert!(
        latencies.len() >= 10,
        "{name}: only {} logins",
        latencies.len()
    );
    let p99 = p99(&mut latencies);
    let p50 = latencies[latencies.len() / 2];
    println!(
        "{name}: {} legitimate logins, p50 {p50:?}, p99 {p99:?}",
        latencies.len()
    );
    assert!(p99 < Duration::from_millis(250), "{name}: p99 {p99:?}");
}

/// Waits until the server holds no connection at all (nothing left behind).
fn assert_drained(server: &TestServer, within: Duration) {
    let deadline = Instant::now() + within;
    while server.handle.connections() > 0 {
        assert!(
            Instant::now() < deadline,
            "{} connections still held",
            server.handle.connections()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn abandoned_guesses_lock_out_nobody_else() {
    let server = server();
    let stop = Arc::new(AtomicBool::new(false));
    let legit = legitimate_logins(
        server.addr,
        vec![[127, 0, 0, 3], [127, 0, 0, 2]],
        stop.clone(),
    );
    // 150 wrong-password exchanges for alice from 127.0.0.2, 32 at a time, each client
    // hanging up 300 ms after its client-final (or at once when told off).
    let started = Instant::now();
    let remaining = Arc::new(AtomicUsize::new(150));
    let attackers: Vec<_> = (0..32)
        .map(|_| {
            let addr = server.addr;
            let remaining = remaining.clone();
            std::thread::spawn(move || {
                let deadline = Instant::now() + Duration::from_secs(8);
                while Instant::now() < deadline
                    && remaining
                        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                        .is_ok()
                {
                    let Ok(mut stream) = connect_from(addr, [127, 0, 0, 2]) else {
                        continue;
                    };
                    let _ = stream.set_read_timeout(Some(Duration::from_millis(300)));
                    let login = scram_login(&mut stream, "alice", "guess", "attackernonce");
                    if login.client_final.is_some() {
                        std::thread::sleep(Duration::from_millis(300));
                    }
                }
            })
        })
        .collect();
    for attacker in attackers {
        attacker.join().unwrap();
    }
    println!("abandoned-guess flood ran {:?}", started.elapsed());
    stop.store(true, Ordering::SeqCst);
    assert_legitimate("abandoned guesses", legit.join().unwrap());
    assert_drained(&server, Duration::from_secs(2));
}

#[test]
fn stalled_startups_from_many_sources_lock_out_nobody() {
    let server = server();
    // 64 connections from four addresses send a startup packet, then nothing: they
    // take every handshake slot (64 by default) and keep them.
    let mut stalled = Vec::new();
    for i in 0..64u8 {
        let mut stream = connect_from(server.addr, [127, 0, 1, 1 + i % 4]).unwrap();
        stream.write_all(&startup("alice")).unwrap();
        stalled.push(stream);
    }
    std::thread::sleep(Duration::from_millis(700));
    let stop = Arc::new(AtomicBool::new(false));
    let legit = legitimate_logins(server.addr, vec![[127, 0, 0, 3]], stop.clone());
    std::thread::sleep(Duration::from_secs(2));
    stop.store(true, Ordering::SeqCst);
    assert_legitimate("stalled startups", legit.join().unwrap());
    drop(stalled);
    assert_drained(&server, Duration::from_secs(2));
}

#[test]
fn silent_connections_from_one_source_or_many_lock_out_nobody() {
    let server = server();
    // 400 TCP connections that send nothing: 100 from one address (its cap is 16),
    // then 300 from 25 more (12 each), past the total cap of pending connections (256).
    let mut silent = Vec::new();
    let mut refused = 0;
    for i in 0..400u32 {
        let source = if i < 100 {
            [127, 0, 2, 1]
        } else {
            [127, 0, 3, 1 + (i % 25) as u8]
        };
        match connect_from(server.addr, source) {
            Ok(stream) => silent.push(stream),
            Err(_) => refused += 1,
        }
    }
    std::thread::sleep(Duration::from_millis(500));
    let stop = Arc::new(AtomicBool::new(false));
    let legit = legitimate_logins(server.addr, vec![[127, 0, 0, 3]], stop.clone());
    std::thread::sleep(Duration::from_secs(2));
    stop.store(true, Ordering::SeqCst);
    assert_legitimate("silent connections", legit.join().unwrap());
    println!(
        "silent: {} sockets opened, {refused} failed to connect",
        silent.len()
    );
    drop(silent);
    assert_drained(&server, Duration::from_secs(2));
}

#[test]
fn a_refused_connection_is_told_why() {
    let server = server();
    // The per-address cap of pending connections (16): the 17th silent socket from one
    // address gets PostgreSQL's 53300 at once, not a reset.
    let mut held = Vec::new();
    for _ in 0..16 {
        held.push(connect_from(server.addr, [127, 0, 4, 1]).unwrap());
    }
    std::thread::sleep(Duration::from_millis(100));
    let mut extra = connect_from(server.addr, [127, 0, 4, 1]).unwrap();
    let mut buf = Vec::new();
    let messages = hardening_util::read_until(&mut extra, &mut buf, |_| false);
    let error = messages.iter().find_map(|m| match m {
        pgscram_wire::BackendMessage::ErrorResponse(e) => Some(format!("{} {}", e.code, e.message)),
        _ => None,
    });
    assert_eq!(
        error.as_deref(),
        Some("53300 sorry, too many clients already")
    );
}
