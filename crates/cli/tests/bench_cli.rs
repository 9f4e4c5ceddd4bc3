//! `pgscram bench` against a real PostgreSQL 15: password and cached-key logins are
//! counted exactly, failures are reported as errors with the server's reason, and
//! `--hold` keeps its connections open. No test looks at a timing.

use std::io::{BufRead as _, BufReader};
use std::process::{Command, Output, Stdio};

use pgscram_testkit::Postgres;

fn bench(args: &[&str], password: &str) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pgscram"))
        .arg("bench")
        .args(args)
        .env("PGPASSWORD", password)
        .env_remove("PGSERVICE")
        .env("PGPASSFILE", "/nonexistent/pgscram-test-pgpass")
        .stdin(Stdio::null())
        .output()
        .expect("run pgscram bench")
}

fn text(output: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        output.status.code(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// The value of a top-level number field of bench's one-line JSON.
fn field(json: &str, name: &str) -> Option<u64> {
    let start = json.find(&format!("\"{name}\":"))? + name.len() + 3;
    let digits: String = json[start..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

fn server() -> (Postgres, String) {
    let pg = Postgres::start();
    pg.sql("CREATE ROLE bench LOGIN PASSWORD 'bench-pw'");
    let conninfo = format!(
        "host=127.0.0.1 port={} user=bench dbname=postgres sslmode=disable connect_timeout=10",
        pg.port()
    );
    (pg, conninfo)
}

#[test]
fn counts_logins_in_both_modes_and_reports_failures() {
    let (pg, conninfo) = server();

    for mode in ["password", "keys"] {
        let out = bench(
            &[
                &conninfo,
                "--mode",
                mode,
                "--count",
                "12",
                "--workers",
                "3",
                "--json",
            ],
            "bench-pw",
        );
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));
        let json = String::from_utf8_lossy(&out.stdout).into_owned();
        assert_eq!(field(&json, "logins"), Some(12), "{json}");
        assert_eq!(field(&json, "errors"), Some(0), "{json}");
        assert!(json.contains(&format!("\"mode\":\"{mode}\"")), "{json}");
        assert!(json.contains("\"p99\":"), "{json}");
    }

    // With a query after each login, in text form.
    let out = bench(
        &[
            &conninfo,
            "--count",
            "4",
            "--workers",
            "2",
            "--query",
            "SELECT 1",
        ],
        "bench-pw",
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let report = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(report.contains("logins: 4 ("), "{report}");
    assert!(report.contains("errors: 0"), "{report}");

    // A wrong password: every login fails and says why; the password is never shown.
    let out = bench(&[&conninfo, "--count", "5", "--workers", "2"], "wrong-pw");
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let report = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(report.contains("logins: 0 ("), "{report}");
    assert!(report.contains("errors: 5"), "{report}");
    assert!(
        report.contains("5 x ") && report.contains("password authentication failed"),
        "{report}"
    );
    assert!(!text(&out).contains("wrong-pw"));

    // Keys mode with a wrong password stops before the load: the keys cannot be derived.
    let out = bench(&[&conninfo, "--mode", "keys", "--count", "5"], "wrong-pw");
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(stderr.contains("deriving the SCRAM keys"), "{stderr}");
    assert!(
        stderr.contains("password authentication failed"),
        "{stderr}"
    );
    assert!(!text(&out).contains("wrong-pw"));
    drop(pg);
}

#[test]
fn hold_keeps_idle_connections_open() {
    let (pg, conninfo) = server();
    let mut child = Command::new(env!("CARGO_BIN_EXE_pgscram"))
        .args([
            "bench",
            &conninfo,
            "--hold",
            "3",
            "--duration",
            "600",
            "--mode",
            "keys",
            "--json",
        ])
        .env("PGPASSWORD", "bench-pw")
        .env("PGPASSFILE", "/nonexistent/pgscram-test-pgpass")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("run pgscram bench --hold");
    let stdout = child.stdout.take().expect("stdout");
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("read the hold line");
    let held = pg.sql("SELECT count(*) FROM pg_stat_activity WHERE usename = 'bench'");
    // Stop it now rather than after its duration; it is our own child.
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(field(&line, "hold"), Some(3), "{line}");
    assert_eq!(field(&line, "opened"), Some(3), "{line}");
    assert_eq!(field(&line, "errors"), Some(0), "{line}");
    assert_eq!(held, "3");
}

#[test]
fn bad_invocations_are_refused() {
    for args in [
        &["host=127.0.0.1 password=hunter2"][..],
        &["host=127.0.0.1", "--password", "hunter2"],
        &["host=127.0.0.1", "--duration", "1", "--count", "1"],
        &["host=127.0.0.1", "--mode", "md5"],
        &[],
    ] {
        let out = bench(args, "");
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", text(&out));
        assert!(!text(&out).contains("hunter2"));
    }
    let out = bench(&["--help"], "");
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains("--mode password|keys"));
}
