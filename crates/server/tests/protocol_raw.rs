//! The server driven with raw bytes: what real clients never send, but attackers do.

mod hardening_util;
mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use pgscram_server::MemoryStore;
use pgscram_wire::{Authentication, BackendMessage, StartupMessage, StartupRequest};
use support::{TestServer, scram_role, tls_over};

const HBA: &str = "host all all 127.0.0.1/32 scram-sha-256\n";

fn store() -> MemoryStore {
    let store = MemoryStore::new();
    store.insert("alice", scram_role("wonderland"));
    store
}

fn connect(server: &TestServer) -> TcpStream {
    let stream = TcpStream::connect(server.addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream
}

fn startup(user: &str) -> Vec<u8> {
    let mut out = Vec::new();
    StartupRequest::Startup(StartupMessage::new(user).with("database", "postgres"))
        .encode(&mut out)
        .unwrap();
    out
}

/// Reads backend messages until the server closes or one matching `until` arrives.
fn read_messages(
    stream: &mut impl Read,
    until: impl Fn(&BackendMessage) -> bool,
) -> Vec<BackendMessage> {
    let mut buf = Vec::new();
    let mut out = Vec::new();
    loop {
        while let Some(message) = pgscram_wire::frame::take_message(&mut buf, 1 << 20).unwrap() {
            let message = BackendMessage::decode(&message).unwrap();
            let stop = until(&message);
            out.push(message);
            if stop {
                return out;
            }
        }
        let mut chunk = [0u8; 4096];
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => return out,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

fn error_text(messages: &[BackendMessage]) -> String {
    messages
        .iter()
        .find_map(|m| match m {
            BackendMessage::ErrorResponse(e) => Some(format!("{} {}", e.code, e.message)),
            _ => None,
        })
        .unwrap_or_else(|| format!("no error in {messages:?}"))
}

fn ssl_request() -> Vec<u8> {
    let mut out = Vec::new();
    StartupRequest::SslRequest.encode(&mut out).unwrap();
    out
}

#[test]
fn regression_unencrypted_data_after_ssl_request_is_refused_over_tls() {
    // PostgreSQL 15 completes the TLS handshake (the injected bytes stay out of it) and
    // sends the error over TLS.
    let server = TestServer::start(HBA, store());
    let mut stream = connect(&server);
    let mut bytes = ssl_request();
    bytes.extend_from_slice(&startup("alice"));
    stream.write_all(&bytes).unwrap();
    let mut answer = [0u8; 1];
    stream.read_exact(&mut answer).unwrap();
    assert_eq!(&answer, b"S");
    let mut tls = tls_over(stream);
    let messages = read_messages(&mut tls, |_| false);
    assert_eq!(
        error_text(&messages),
        "08P01 received unencrypted data after SSL request"
    );
}

#[test]
fn an_ssl_request_inside_tls_is_an_unsupported_protocol_0a000() {
    let server = TestServer::start(HBA, store());
    let mut stream = connect(&server);
    stream.write_all(&ssl_request()).unwrap();
    let mut answer = [0u8; 1];
    stream.read_exact(&mut answer).unwrap();
    assert_eq!(&answer, b"S");
    let mut tls = tls_over(stream);
    tls.write_all(&ssl_request()).unwrap();
    let messages = read_messages(&mut tls, |_| false);
    assert_eq!(
        error_text(&messages),
        "0A000 unsupported frontend protocol 1234.5679: server supports 3.0 to 3.0"
    );
}

#[test]
fn a_protocol_2_startup_gets_a_protocol_2_error() {
    let server = TestServer::start(HBA, store());
    let mut stream = connect(&server);
    // Protocol 2.0's fixed-size startup packet: database, user, options, unused, tty.
    let mut packet = 296u32.to_be_bytes().to_vec();
    packet.extend_from_slice(&0x0002_0000u32.to_be_bytes());
    let mut field = |text: &[u8], size: usize| {
        let mut bytes = text.to_vec();
        bytes.resize(size, 0);
        packet.extend_from_slice(&bytes);
    };
    field(b"postgres", 64);
    field(b"alice", 32);
    field(b"", 64);
    field(b"", 64);
    field(b"", 64);
    stream.write_all(&packet).unwrap();
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    // Byte for byte what PostgreSQL 15 sends.
    assert_eq!(
        answer,
        b"EFATAL:  unsupported frontend protocol 2.0: server supports 3.0 to 3.0\n\0"
    );
}

#[test]
fn a_sasl_initial_response_cut_short_then_eof_gets_28p01() {
    let server = TestServer::start(HBA, store());
    let mut stream = connect(&server);
    stream.write_all(&startup("alice")).unwrap();
    let first = read_messages(&mut stream, |m| {
        matches!(m, BackendMessage::Authentication(_))
    });
    assert!(matches!(
        first.last(),
        Some(BackendMessage::Authentication(Authentication::Sasl { .. }))
    ));
    // A SASLInitialResponse announcing 60 bytes, 10 sent, then the write side closed.
    let mut partial = vec![b'p'];
    partial.extend_from_slice(&60u32.to_be_bytes());
    partial.extend_from_slice(b"SCRAM-SHA-");
    stream.write_all(&partial).unwrap();
    stream.shutdown(std::net::Shutdown::Write).unwrap();
    let messages = read_messages(&mut stream, |_| false);
    assert_eq!(
        error_text(&messages),
        "28P01 password authentication failed for user \"alice\""
    );
}

#[test]
fn authentication_ok_comes_before_the_nologin_and_missing_database_errors() {
    let store = store();
    store.insert("locked", {
        let mut role = scram_role("pw");
        role.can_login = false;
        role
    });
    let server = TestServer::start(HBA, store);
    for (user, database, password, expected) in [
        (
            "locked",
            "postgres",
            "pw",
            "28000 role \"locked\" is not permitted to log in",
        ),
        (
            "alice",
            "nosuchdb",
            "wonderland",
            "3D000 database \"nosuchdb\" does not exist",
        ),
    ] {
        let mut stream = connect(&server);
        let login =
            hardening_util::scram_login_to(&mut stream, user, database, password, "rawnonce");
        let shape = login.shape();
        let ok = shape
            .iter()
            .position(|m| m == "AuthenticationOk")
            .unwrap_or_else(|| panic!("no AuthenticationOk for {user}: {shape:?}"));
        assert!(shape[ok - 1] == "SASLFinal", "{shape:?}");
        assert_eq!(login.error().as_deref(), Some(expected), "{shape:?}");
        assert!(
            shape.iter().position(|m| m.starts_with("Error")) > Some(ok),
            "{shape:?}"
        );
    }
}

#[test]
fn gssenc_request_is_refused_and_startup_continues() {
    let server = TestServer::start(HBA, store());
    let mut stream = connect(&server);
    let mut gss = Vec::new();
    StartupRequest::GssEncRequest.encode(&mut gss).unwrap();
    stream.write_all(&gss).unwrap();
    let mut answer = [0u8; 1];
    stream.read_exact(&mut answer).unwrap();
    assert_eq!(&answer, b"N");
    stream.write_all(&startup("alice")).unwrap();
    let messages = read_messages(&mut stream, |m| {
        matches!(m, BackendMessage::Authentication(_))
    });
    assert!(matches!(
        messages.last(),
        Some(BackendMessage::Authentication(Authentication::Sasl { .. }))
    ));
}

#[test]
fn slow_clients_are_cut_at_the_authentication_timeout() {
    let server = TestServer::start_with(HBA, store(), |c| {
        c.authentication_timeout = Duration::from_secs(1)
    });
    let mut stream = connect(&server);
    stream.write_all(&[0, 0]).unwrap(); // half a length word, then nothing
    let started = std::time::Instant::now();
    let mut chunk = [0u8; 16];
    let n = stream.read(&mut chunk).unwrap_or(0);
    assert_eq!(n, 0, "server should close the connection");
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[test]
fn too_many_clients_counts_sessions_not_idle_sockets() {
    let server = TestServer::start_with(HBA, store(), |c| c.max_connections = 2);
    // Idle sockets that never authenticate do not take a session's place...
    let _idle = [connect(&server), connect(&server), connect(&server)];
    let mut sessions = Vec::new();
    for _ in 0..2 {
        let mut stream = connect(&server);
        let login = hardening_util::scram_login(&mut stream, "alice", "wonderland", "rawnonce");
        assert!(login.ok, "{:?}", login.messages);
        sessions.push(stream);
    }
    // ...two open sessions do.
    let mut c = connect(&server);
    c.write_all(&startup("alice")).unwrap();
    let messages = read_messages(&mut c, |_| false);
    assert_eq!(
        error_text(&messages),
        "53300 sorry, too many clients already"
    );
}

#[test]
fn oversized_sasl_message_gets_the_generic_failure() {
    let server = TestServer::start(HBA, store());
    let mut stream = connect(&server);
    stream.write_all(&startup("alice")).unwrap();
    read_messages(&mut stream, |m| {
        matches!(m, BackendMessage::Authentication(_))
    });
    // A 'p' message whose length word is 1025: one byte over PostgreSQL's limit.
    let mut message = vec![b'p'];
    message.extend_from_slice(&1025u32.to_be_bytes());
    message.extend_from_slice(&[b'x'; 1021]);
    stream.write_all(&message).unwrap();
    let messages = read_messages(&mut stream, |_| false);
    assert_eq!(
        error_text(&messages),
        "28P01 password authentication failed for user \"alice\""
    );
}

#[test]
fn wrong_message_type_during_sasl() {
    let server = TestServer::start(HBA, store());
    let mut stream = connect(&server);
    stream.write_all(&startup("alice")).unwrap();
    read_messages(&mut stream, |m| {
        matches!(m, BackendMessage::Authentication(_))
    });
    let mut query = Vec::new();
    pgscram_wire::FrontendMessage::Query("SELECT 1".into())
        .encode(&mut query)
        .unwrap();
    stream.write_all(&query).unwrap();
    let messages = read_messages(&mut stream, |_| false);
    assert_eq!(
        error_text(&messages),
        "08P01 expected SASL response, got message type 81"
    );
}

/// The salt and iteration count a server-first offers `user`.
fn server_first(server: &TestServer, user: &str) -> (String, String) {
    let mut stream = connect(server);
    stream.write_all(&startup(user)).unwrap();
    read_messages(&mut stream, |m| {
        matches!(m, BackendMessage::Authentication(_))
    });
    let mut initial = Vec::new();
    pgscram_wire::SaslInitialResponse {
        mechanism: "SCRAM-SHA-256".into(),
        data: Some(b"n,,n=,r=abcdef".to_vec()),
    }
    .encode(&mut initial)
    .unwrap();
    stream.write_all(&initial).unwrap();
    let messages = read_messages(&mut stream, |m| {
        matches!(
            m,
            BackendMessage::Authentication(Authentication::SaslContinue(_))
        )
    });
    let Some(BackendMessage::Authentication(Authentication::SaslContinue(data))) = messages.last()
    else {
        panic!("no server-first for {user}: {messages:?}");
    };
    let text = String::from_utf8(data.clone()).unwrap();
    let mut parts = text.split(',').skip(1);
    (
        parts.next().unwrap().to_owned(),
        parts.next().unwrap().to_owned(),
    )
}

#[test]
fn mock_salt_is_stable_and_shaped_like_a_real_one() {
    let server = TestServer::start(HBA, store());
    let (real_salt, real_iterations) = server_first(&server, "alice");
    let (ghost1, ghost_iterations) = server_first(&server, "ghost");
    let (ghost2, _) = server_first(&server, "ghost");
    let (other, _) = server_first(&server, "phantom");
    assert_eq!(
        ghost1, ghost2,
        "the same unknown user must see the same salt"
    );
    assert_ne!(ghost1, other);
    assert_eq!(real_salt.len(), ghost1.len());
    assert_eq!(real_iterations, ghost_iterations);
}

/// PEERS.md: "an md5 method that sends AuthenticationOk without any challenge".
#[test]
fn regression_md5_always_challenges_before_ok() {
    let store = MemoryStore::new();
    store.insert("oldie", support::md5_role("oldie", "legacy"));
    let server = TestServer::start("host all all 127.0.0.1/32 md5\n", store);
    let mut stream = connect(&server);
    stream.write_all(&startup("oldie")).unwrap();
    let messages = read_messages(&mut stream, |m| {
        matches!(m, BackendMessage::Authentication(_))
    });
    let Some(BackendMessage::Authentication(Authentication::Md5Password { salt })) =
        messages.last()
    else {
        panic!("expected an md5 challenge first, got {messages:?}");
    };
    // A response for another salt is refused: the challenge is real.
    let wrong = pgscram_scram::md5::client_response(
        b"legacy",
        "oldie",
        [salt[0] ^ 1, salt[1], salt[2], salt[3]],
    );
    let mut reply = Vec::new();
    pgscram_wire::PasswordMessage::new(wrong.as_str())
        .encode(&mut reply)
        .unwrap();
    stream.write_all(&reply).unwrap();
    let messages = read_messages(&mut stream, |_| false);
    assert!(
        !messages
            .iter()
            .any(|m| matches!(m, BackendMessage::Authentication(Authentication::Ok)))
    );
    assert_eq!(
        error_text(&messages),
        "28P01 password authentication failed for user \"oldie\""
    );
}

#[test]
fn malformed_password_packets_get_postgres_errors() {
    let server = TestServer::start("host all all 127.0.0.1/32 password\n", store());
    for (body, expected) in [
        (&b"abc"[..], "08P01 invalid password packet size"),
        (&b"ab\0c"[..], "08P01 invalid password packet size"),
        (&b"\0"[..], "28P01 empty password returned by client"),
    ] {
        let mut stream = connect(&server);
        stream.write_all(&startup("alice")).unwrap();
        let messages = read_messages(&mut stream, |m| {
            matches!(m, BackendMessage::Authentication(_))
        });
        assert!(matches!(
            messages.last(),
            Some(BackendMessage::Authentication(
                Authentication::CleartextPassword
            ))
        ));
        let mut message = vec![b'p'];
        message.extend_from_slice(&(body.len() as u32 + 4).to_be_bytes());
        message.extend_from_slice(body);
        stream.write_all(&message).unwrap();
        assert_eq!(
            error_text(&read_messages(&mut stream, |_| false)),
            expected,
            "{body:?}"
        );
    }
}

#[test]
fn after_login_each_message_type_has_its_own_length_limit() {
    // A Sync is 4 bytes; one announcing 100 kB is refused from its header, before the
    // body is buffered (a Query may be up to 1 GiB; a Sync never needs more than a few).
    let server = TestServer::start(HBA, store());
    let mut stream = connect(&server);
    let login = hardening_util::scram_login(&mut stream, "alice", "wonderland", "limitnonce");
    assert!(login.ok, "{:?}", login.messages);
    let mut sync = vec![b'S'];
    sync.extend_from_slice(&100_000u32.to_be_bytes());
    stream.write_all(&sync).unwrap();
    let messages = read_messages(&mut stream, |_| false);
    let error = error_text(&messages);
    assert!(error.starts_with("08P01 "), "{error}");
    println!("{error}");
}
