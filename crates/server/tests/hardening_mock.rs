//! Mock authentication must not tell an unknown role from a wrong password: the same
//! messages, a salt that is stable per unknown name, the iteration count real roles
//! have, and response times that are printed side by side (never asserted: timing on a
//! shared machine is noise).

mod hardening_util;
mod support;

use std::time::Duration;

use hardening_util::{Login, login_at};
use pgscram_server::{MemoryStore, Role};
use support::{TestServer, md5_role, scram_role};

const HBA: &str = "host all all 127.0.0.1/32 scram-sha-256\n";
const ROUNDS: usize = 60;

fn store() -> MemoryStore {
    let store = MemoryStore::new();
    store.insert("alice", scram_role("wonderland"));
    store.insert("oldie", md5_role("oldie", "legacy"));
    store.insert("nopass", {
        let mut role = Role::default();
        role.can_login = true;
        role
    });
    store
}

/// The shape with the user name taken out of the error text.
fn shape(login: &Login, user: &str) -> Vec<String> {
    login
        .shape()
        .into_iter()
        .map(|s| s.replace(&format!("\"{user}\""), "\"<user>\""))
        .collect()
}

fn decoded_len(b64: &str) -> usize {
    let padding = b64.bytes().rev().take_while(|&b| b == b'=').count();
    b64.len() / 4 * 3 - padding
}

/// The server's part of the nonce (after the client's).
fn server_nonce_len(login: &Login) -> usize {
    let nonce = hardening_util::attribute(login.server_first.as_deref().unwrap(), 'r').unwrap();
    nonce.len() - "fixedclientnonce".len()
}

struct Stats {
    median: Duration,
    mean: Duration,
    p90: Duration,
    min: Duration,
}

fn stats(mut times: Vec<Duration>) -> Stats {
    times.sort();
    let sum: Duration = times.iter().sum();
    Stats {
        median: times[times.len() / 2],
        mean: sum / times.len() as u32,
        p90: times[times.len() * 9 / 10],
        min: times[0],
    }
}

#[test]
fn unknown_roles_look_like_wrong_passwords() {
    let server = TestServer::start(HBA, store());
    let reference = login_at(server.addr, "alice", "not-the-password");
    let reference_shape = shape(&reference, "alice");
    assert_eq!(
        reference.error().as_deref(),
        Some("28P01 password authentication failed for user \"alice\"")
    );
    assert_eq!(reference.iterations().as_deref(), Some("4096"));

    // Every kind of doomed login, against a wrong password for a real role.
    for user in ["ghost", "nopass", "oldie"] {
        let login = login_at(server.addr, user, "not-the-password");
        assert_eq!(shape(&login, user), reference_shape, "{user}");
        assert_eq!(login.iterations(), reference.iterations(), "{user}");
        assert_eq!(
            decoded_len(&login.salt().unwrap()),
            decoded_len(&reference.salt().unwrap()),
            "{user}: salt length"
        );
        assert_eq!(
            server_nonce_len(&login),
            server_nonce_len(&reference),
            "{user}: nonce length"
        );
    }

    // The mock salt is the same for the same unknown name on every attempt, and
    // differs between names (as a real role's salt would).
    let ghost_salts: Vec<String> = (0..5)
        .map(|_| login_at(server.addr, "ghost", "x").salt().unwrap())
        .collect();
    assert!(
        ghost_salts.windows(2).all(|w| w[0] == w[1]),
        "{ghost_salts:?}"
    );
    let other = login_at(server.addr, "ghost2", "x").salt().unwrap();
    assert_ne!(other, ghost_salts[0]);
    // A real role's salt is stable too, so stability alone reveals nothing.
    assert_eq!(login_at(server.addr, "alice", "x").salt(), reference.salt());

    // Response times, interleaved so drift hits both sides alike.
    let (mut unknown, mut wrong) = (Vec::new(), Vec::new());
    let (mut unknown_total, mut wrong_total) = (Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        let a = login_at(server.addr, "ghost", "not-the-password");
        let b = login_at(server.addr, "alice", "not-the-password");
        assert!(a.error().is_some() && b.error().is_some());
        unknown.push(a.final_wait);
        wrong.push(b.final_wait);
        unknown_total.push(a.total);
        wrong_total.push(b.total);
    }
    for (what, u, w) in [
        ("client-final -> error", stats(unknown), stats(wrong)),
        ("whole attempt", stats(unknown_total), stats(wrong_total)),
    ] {
        println!(
            "{what} over {ROUNDS} attempts each:\n  unknown role:   median {:?} mean {:?} p90 {:?} min {:?}\n  wrong password: median {:?} mean {:?} p90 {:?} min {:?}",
            u.median, u.mean, u.p90, u.min, w.median, w.mean, w.p90, w.min
        );
    }
}

#[test]
fn mock_iterations_follow_scram_iterations() {
    // A server configured for 10000 iterations must not offer 4096 for unknown roles
    // (the 2026 CVE): a role made under that setting has 10000 too.
    let store = store();
    let verifier = pgscram_scram::ScramVerifier::derive(b"pw", &[7; 16], 10_000).unwrap();
    store.insert("modern", Role::login(verifier.to_string()));
    let server = TestServer::start_with(HBA, store, |c| c.scram_iterations = 10_000);
    let real = login_at(server.addr, "modern", "wrong");
    let ghost = login_at(server.addr, "ghost", "wrong");
    assert_eq!(real.iterations().as_deref(), Some("10000"));
    assert_eq!(ghost.iterations(), real.iterations());
    assert_eq!(shape(&ghost, "ghost"), shape(&real, "modern"));
}
