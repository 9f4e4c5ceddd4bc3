//! The examples as a user runs them: `custom_store` (the program's own credential store
//! in front of the embedded database) driven by psql with SCRAM-SHA-256-PLUS, a wrong
//! password answered with PostgreSQL's 28P01, and SIGTERM closing sessions and exiting 0.
//!
//! `cargo test` builds the examples before it runs tests; they sit in
//! `target/<profile>/examples/` next to this test's `deps/` directory.

use std::io::{BufRead as _, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

fn example(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test executable");
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target/<profile>");
    let path = profile_dir.join("examples").join(name);
    assert!(
        path.exists(),
        "{} missing: cargo test builds examples",
        path.display()
    );
    path
}

struct Running {
    child: Child,
    port: u16,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_custom_store() -> Running {
    let port = pgscram_testkit::free_port();
    let mut child = Command::new(example("custom_store"))
        .env("PGSCRAM_LISTEN", format!("127.0.0.1:{port}"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the example");
    let stdout = child.stdout.take().expect("stdout");
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("read the example's first line");
    assert!(line.starts_with("listening on"), "{line}");
    Running { child, port }
}

fn psql(port: u16, password: &str, extra: &str) -> Output {
    let conninfo =
        format!("host=127.0.0.1 port={port} user=alice dbname=postgres connect_timeout=10 {extra}");
    Command::new(pgscram_testkit::bindir().join("psql"))
        .args(["-X", "-A", "-t", "-c", "SELECT current_user, 1 + 1"])
        .arg(conninfo)
        .env("PGPASSWORD", password)
        .stdin(Stdio::null())
        .output()
        .expect("run psql")
}

#[test]
fn custom_store_serves_alice_with_scram_plus_and_refuses_a_wrong_password() {
    let server = start_custom_store();
    // psql 15's libpq: channel_binding=require fails unless SCRAM-SHA-256-PLUS ran.
    let good = psql(
        server.port,
        "alice-secret",
        "sslmode=require channel_binding=require",
    );
    assert!(
        good.status.success(),
        "{}",
        String::from_utf8_lossy(&good.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&good.stdout).trim(), "alice|2");

    let bad = psql(server.port, "not-her-secret", "sslmode=require");
    assert!(!bad.status.success());
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert!(
        stderr.contains("FATAL:  password authentication failed for user \"alice\""),
        "{stderr}"
    );

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    // require_auth=scram-sha-256 (libpq 16's option; our client has it): the server
    // must ask for SCRAM, and the -PLUS variant must have run.
    let mut connection = runtime
        .block_on(pgscram_client::connect(&format!(
            "host=127.0.0.1 port={} user=alice password=alice-secret dbname=postgres \
             sslmode=require channel_binding=require require_auth=scram-sha-256",
            server.port
        )))
        .expect("alice logs in with require_auth=scram-sha-256");
    let negotiated = connection.negotiated();
    assert_eq!(negotiated.mechanism, Some("SCRAM-SHA-256-PLUS"));
    assert!(negotiated.channel_binding && negotiated.server_verified);
    let result = runtime
        .block_on(connection.query("SELECT current_user"))
        .expect("query");
    assert_eq!(result.rows, vec![vec![Some("alice".to_owned())]]);

    // The SQLSTATE, as a driver sees it.
    let error = runtime
        .block_on(tokio_postgres::connect(
            &format!(
                "host=127.0.0.1 port={} user=alice password=wrong dbname=postgres",
                server.port
            ),
            tokio_postgres::NoTls,
        ))
        .err()
        .expect("a wrong password fails");
    assert_eq!(
        error.code(),
        Some(&tokio_postgres::error::SqlState::INVALID_PASSWORD),
        "{error}"
    );
}

#[test]
fn sigterm_closes_sessions_and_exits_zero_within_five_seconds() {
    let mut server = start_custom_store();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (client, connection) = runtime
        .block_on(tokio_postgres::connect(
            &format!(
                "host=127.0.0.1 port={} user=alice password=alice-secret dbname=postgres",
                server.port
            ),
            tokio_postgres::NoTls,
        ))
        .expect("alice logs in");
    let connection = runtime.spawn(connection);
    runtime
        .block_on(client.simple_query("SELECT 1"))
        .expect("a query runs");

    let sent = Instant::now();
    let kill = Command::new("kill")
        .args(["-TERM", &server.child.id().to_string()])
        .status()
        .expect("run kill");
    assert!(kill.success());
    let status = loop {
        if let Some(status) = server.child.try_wait().expect("wait") {
            break status;
        }
        assert!(
            sent.elapsed() < Duration::from_secs(5),
            "still running 5 s after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "exit status {status}");
    println!("exited {:?} after SIGTERM", sent.elapsed());

    // The open session was told why it ended (57P01), then closed.
    let ended = runtime
        .block_on(async { tokio::time::timeout(Duration::from_secs(2), connection).await })
        .expect("the session ended")
        .expect("the connection task");
    let error = ended.expect_err("the server ended the session");
    assert_eq!(
        error.code(),
        Some(&tokio_postgres::error::SqlState::ADMIN_SHUTDOWN),
        "{error}"
    );
    assert!(client.is_closed());
}
