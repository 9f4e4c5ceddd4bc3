//! `pgscram bench` against a real PostgreSQL 15: password and cached-key logins are
//! counted exactly, failures are reported as errors with the server's reason, and
//! `--hold` keeps its connections open. `--attack` against a real `pgscram serve`: the
//! legitimate logins all get in while each attack runs. No test looks at a timing.

use std::io::{BufRead as _, BufReader, Read as _};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

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

/// A `pgscram serve` on a free port whose pg_hba.conf admits all of 127.0.0.0/8, with
/// the roles `bench` (the legitimate user) and `victim` (the attacked one).
struct Serve {
    child: Child,
    port: u16,
    dir: PathBuf,
}

impl Serve {
    fn start() -> Serve {
        let dir = pgscram_testkit::temp_dir("bench-attack");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("pg_hba.conf"),
            "host all all 127.0.0.0/8 scram-sha-256\n",
        )
        .unwrap();
        let port = pgscram_testkit::free_port();
        let mut child = Command::new(env!("CARGO_BIN_EXE_pgscram"))
            .args(["serve", "--port", &port.to_string(), "--no-unix-socket"])
            .args(["--no-tls", "--data-dir"])
            .arg(&dir)
            .env("PGSCRAM_PASSWORD", "super-pw")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start pgscram serve");
        // Wait for the ready line, keep draining stderr so the server never blocks.
        let mut stderr = child.stderr.take().unwrap();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut seen = String::new();
            let mut chunk = [0u8; 4096];
            let mut told = false;
            while let Ok(n) = stderr.read(&mut chunk) {
                if n == 0 {
                    break;
                }
                if !told {
                    seen.push_str(&String::from_utf8_lossy(&chunk[..n]));
                    if seen.contains("ready") {
                        told = true;
                        let _ = ready_tx.send(());
                    }
                }
            }
        });
        let serve = Serve { child, port, dir };
        ready_rx
            .recv_timeout(Duration::from_secs(60))
            .expect("pgscram serve did not become ready");
        for sql in [
            "CREATE ROLE bench LOGIN PASSWORD 'bench-pw'",
            "CREATE ROLE victim LOGIN PASSWORD 'victim-pw'",
        ] {
            let out = Command::new(pgscram_testkit::bindir().join("psql"))
                .args(["-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", sql])
                .arg(serve.conninfo("postgres"))
                .env("PGPASSWORD", "super-pw")
                .stdin(Stdio::null())
                .output()
                .unwrap();
            assert!(out.status.success(), "{sql}: {}", text(&out));
        }
        serve
    }

    fn conninfo(&self, user: &str) -> String {
        format!(
            "host=127.0.0.1 port={} user={user} dbname=postgres sslmode=disable connect_timeout=10",
            self.port
        )
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Each attack, briefly and small: every legitimate login gets in, from 127.0.0.1 and
/// (abandoned guesses) from the attacker's own address, and the JSON says so.
#[test]
fn legitimate_logins_get_in_under_each_attack() {
    let serve = Serve::start();
    let conninfo = serve.conninfo("bench");
    for (attack, extra) in [
        (
            "abandoned-guesses",
            &["--attack-connections", "32", "--attack-count", "150"][..],
        ),
        ("stalled-startups", &["--attack-connections", "24"]),
        ("silent-tcp", &["--attack-connections", "48"]),
    ] {
        let started = Instant::now();
        let mut args = vec![
            conninfo.as_str(),
            "--attack",
            attack,
            "--attack-role",
            "victim",
            "--source",
            "127.0.0.2",
            "--mode",
            "keys",
            "--workers",
            "1",
            "--duration",
            "4",
            "--json",
        ];
        args.extend_from_slice(extra);
        let out = bench(&args, "bench-pw");
        assert_eq!(out.status.code(), Some(0), "{attack}: {}", text(&out));
        assert!(started.elapsed() < Duration::from_secs(60), "{attack}");
        let json = String::from_utf8_lossy(&out.stdout).into_owned();
        let value: serde_json::Value = serde_json::from_str(json.trim()).expect(&json);
        assert_eq!(value["attack"], attack, "{json}");
        assert_eq!(value["source"], "127.0.0.2", "{json}");
        assert_eq!(value["failures"], 0, "{json}");
        for key in ["connections", "guesses", "refused", "closed", "held_at_end"] {
            assert!(value["attack_stats"][key].is_u64(), "{key}: {json}");
        }
        assert!(
            value["attack_stats"]["connections"].as_u64().unwrap() > 0,
            "{json}"
        );
        let legit = value["legitimate"].as_array().expect("legitimate");
        let sources: Vec<&str> = legit
            .iter()
            .map(|l| l["source"].as_str().unwrap())
            .collect();
        if attack == "abandoned-guesses" {
            assert_eq!(sources, ["127.0.0.1", "127.0.0.2"], "{json}");
            assert!(
                value["attack_stats"]["guesses"].as_u64().unwrap() > 0,
                "{json}"
            );
        } else {
            assert_eq!(sources, ["127.0.0.1"], "{json}");
        }
        for l in legit {
            assert!(l["logins"].as_u64().unwrap() > 0, "{json}");
            assert_eq!(l["failures"], 0, "{json}");
            for q in ["p50", "p99", "max"] {
                assert!(l["latency_us"][q].is_u64(), "{q}: {json}");
            }
        }
    }

    // In text form too; and the attack never names the legitimate user.
    let out = bench(
        &[
            &conninfo,
            "--attack",
            "silent-tcp",
            "--attack-connections",
            "4",
            "--duration",
            "1",
            "--attack-role",
            "bench",
        ],
        "bench-pw",
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("--attack-role must differ"),
        "{}",
        text(&out)
    );
    let out = bench(
        &[
            &conninfo,
            "--attack",
            "stalled-startups",
            "--attack-role",
            "victim",
            "--attack-connections",
            "4",
            "--duration",
            "1",
            "--workers",
            "1",
        ],
        "bench-pw",
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let report = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        report.contains("attack: stalled-startups from 127.0.0.2"),
        "{report}"
    );
    assert!(
        report.contains("legitimate logins from 127.0.0.1 (user bench, password)"),
        "{report}"
    );
    assert!(report.contains(" 0 failed"), "{report}");
}

#[test]
fn attack_invocations_are_checked() {
    for args in [
        &["host=127.0.0.1", "--attack", "flood"][..],
        &["host=127.0.0.1", "--attack-role", "victim"],
        &[
            "host=127.0.0.1",
            "--attack",
            "silent-tcp",
            "--source",
            "10.1.2.3",
        ],
        &[
            "host=127.0.0.1",
            "--attack",
            "silent-tcp",
            "--source",
            "127.0.0.1",
        ],
        &["host=127.0.0.1", "--attack", "silent-tcp", "--count", "5"],
        &["host=127.0.0.1", "--attack", "silent-tcp", "--hold", "5"],
        &["host=192.0.2.1 sslmode=disable", "--attack", "silent-tcp"],
        // Refused before --mode keys' first login: no traffic leaves loopback.
        &[
            "host=192.0.2.1 sslmode=disable connect_timeout=60",
            "--attack",
            "silent-tcp",
            "--mode",
            "keys",
        ],
    ] {
        let started = Instant::now();
        let out = bench(args, "pw");
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", text(&out));
        assert!(started.elapsed() < Duration::from_secs(30), "{args:?}");
    }
    let out = bench(&["--help"], "");
    let help = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        help.contains("--attack abandoned-guesses|stalled-startups|silent-tcp|none"),
        "{help}"
    );
}
