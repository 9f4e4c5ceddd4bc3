//! The real `pgscram serve` process: first start, SIGHUP reloads of pg_hba.conf and of
//! the configuration file (a broken file keeps the old rules or settings), SIGTERM, and
//! query cancel on the embedded database.

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

struct Serve {
    child: Child,
    port: u16,
    dir: PathBuf,
    log: Arc<Mutex<String>>,
}

impl Serve {
    fn start() -> Serve {
        Self::start_with(&[])
    }

    fn start_with(extra: &[&str]) -> Serve {
        let dir = pgscram_testkit::temp_dir("serve-process");
        let port = pgscram_testkit::free_port();
        let mut child = Command::new(env!("CARGO_BIN_EXE_pgscram"))
            .args([
                "serve",
                "--port",
                &port.to_string(),
                "--no-unix-socket",
                "--data-dir",
            ])
            .arg(&dir)
            .args(extra)
            .env("PGSCRAM_PASSWORD", "superpw")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let log = Arc::new(Mutex::new(String::new()));
        let stderr = child.stderr.take().unwrap();
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let mut log = sink.lock().unwrap();
                log.push_str(&line);
                log.push('\n');
            }
        });
        let serve = Serve {
            child,
            port,
            dir,
            log,
        };
        serve.wait_for_log("ready");
        serve
    }

    fn wait_for_log(&self, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let log = self.log.lock().unwrap().clone();
            if log.contains(needle) {
                return log;
            }
            assert!(
                Instant::now() < deadline,
                "no {needle:?} in the log:\n{log}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn psql(&self, sql: &str) -> Output {
        Command::new(pgscram_testkit::bindir().join("psql"))
            .args(["-X", "-A", "-t", "-c", sql])
            .arg(format!("host=127.0.0.1 port={} user=postgres dbname=postgres sslmode=disable connect_timeout=10", self.port))
            .env("PGPASSWORD", "superpw")
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }

    fn hup(&self) {
        let status = Command::new("kill")
            .args(["-HUP", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    fn hba(&self) -> PathBuf {
        self.dir.join("pg_hba.conf")
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn write(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
}

#[test]
fn sighup_keeps_the_old_rules_when_the_new_file_is_broken() {
    let serve = Serve::start();
    let out = serve.psql("SELECT name FROM users ORDER BY id LIMIT 1");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "Ada Lovelace");

    write(
        &serve.hba(),
        "host all all 127.0.0.1/32 scram-sha-256\nhost all all 10.0.0.0/33 trust\n",
    );
    serve.hup();
    let log = serve.wait_for_log("pg_hba.conf was not reloaded");
    assert!(
        log.contains("invalid CIDR mask in address \"10.0.0.0/33\""),
        "{log}"
    );
    assert!(log.contains("line 2 of configuration file"), "{log}");
    assert!(
        serve.psql("SELECT 1").status.success(),
        "the old rules must stay in force"
    );

    write(&serve.hba(), "host all all 127.0.0.1/32 reject\n");
    serve.hup();
    serve.wait_for_log("pg_hba.conf reloaded");
    let out = serve.psql("SELECT 1");
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("pg_hba.conf rejects connection for host \"127.0.0.1\"")
    );
}

#[test]
fn sighup_rereads_the_config_file_and_a_bad_line_changes_nothing() {
    let conf = pgscram_testkit::temp_dir("serve-conf").join("pgscram.conf");
    write(&conf, "# settings\npassword_encryption = 'scram-sha-256'\n");
    let conf_arg = conf.to_string_lossy().into_owned();
    let serve = Serve::start_with(&["-c", &conf_arg]);
    let show = |serve: &Serve| {
        let out = serve.psql("SHOW password_encryption");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    };
    assert_eq!(show(&serve), "scram-sha-256");

    // A reloadable setting changes for the next session.
    write(
        &conf,
        "# settings\npassword_encryption = 'md5'\nmax_connections = 7\n",
    );
    serve.hup();
    serve.wait_for_log("cannot be changed without restarting the server");
    assert_eq!(show(&serve), "md5");
    let log = serve.wait_for_log("parameter \"max_connections\" cannot be changed");
    assert!(log.contains("received SIGHUP"), "{log}");

    // A bad line: named with file and line, and nothing changes.
    write(
        &conf,
        "password_encryption = 'scram-sha-256'\nmax_connections = lots\n",
    );
    serve.hup();
    let log = serve.wait_for_log("no changes were applied");
    assert!(
        log.contains(&format!(
            "invalid value for parameter \"max_connections\": \"lots\" is not a valid number in file \"{}\" line 2",
            conf.display()
        )),
        "{log}"
    );
    assert_eq!(show(&serve), "md5", "the old settings stay");
    let _ = std::fs::remove_dir_all(conf.parent().unwrap());
}

#[test]
fn sigterm_ends_sessions_and_exits_zero() {
    let mut serve = Serve::start_with(&["--log-connections"]);
    // An idle session stays open while the server shuts down.
    let mut idle = Command::new(pgscram_testkit::bindir().join("psql"))
        .args(["-X", "-A", "-t", "-f", "-"])
        .arg(format!(
            "host=127.0.0.1 port={} user=postgres dbname=postgres sslmode=disable",
            serve.port
        ))
        .env("PGPASSWORD", "superpw")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    serve.wait_for_log("connection authenticated");
    let sent = Instant::now();
    let status = Command::new("kill")
        .args(["-TERM", &serve.child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = loop {
        if let Some(exit) = serve.child.try_wait().unwrap() {
            break exit;
        }
        assert!(sent.elapsed() < Duration::from_secs(5), "still running");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(exit.success(), "{exit}");
    // The session's next query finds the 57P01 the server sent before closing.
    {
        use std::io::Write as _;
        let mut stdin = idle.stdin.take().unwrap();
        let _ = stdin.write_all(b"SELECT 1;\n");
    }
    let out = idle.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("terminating connection due to administrator command"),
        "{stderr}"
    );
    let log = serve.wait_for_log("database system is shut down");
    assert!(log.contains("received fast shutdown request"), "{log}");
}

#[test]
fn a_running_query_can_be_canceled() {
    let serve = Serve::start();
    let port = serve.port;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let code = runtime.block_on(async move {
        let conninfo = format!("host=127.0.0.1 port={port} user=postgres password=superpw dbname=postgres sslmode=disable");
        let mut conn = pgscram_client::connect(&conninfo).await.unwrap();
        let token = conn.cancel_token().expect("BackendKeyData was sent");
        let canceller = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(300)).await;
            token.cancel().await
        });
        let endless = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c";
        let result = conn.simple_query(endless).await;
        canceller.await.unwrap().unwrap();
        let still_usable = conn.simple_query("SELECT 1").await.is_ok();
        (result.err().and_then(|e| e.sqlstate()).map(|s| s.to_string()), still_usable)
    });
    assert_eq!(code.0.as_deref(), Some("57014"));
    assert!(code.1, "the session must survive a cancel");
}

/// PEERS.md: "hard-coded default users (postgres/postgres)". Without PGSCRAM_PASSWORD and
/// without a terminal, the first start generates a password and shows it once. (The test
/// stops reading stderr after start-up: logging into a closed pipe must not break logins.)
#[test]
fn regression_no_default_password() {
    let dir = pgscram_testkit::temp_dir("serve-generated");
    let port = pgscram_testkit::free_port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_pgscram"))
        .args([
            "serve",
            "--port",
            &port.to_string(),
            "--no-unix-socket",
            "--data-dir",
        ])
        .arg(&dir)
        .env_remove("PGSCRAM_PASSWORD")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let mut generated = None;
    for line in BufReader::new(stderr).lines().map_while(Result::ok) {
        if let Some(password) = line.split("with password: ").nth(1) {
            generated = Some(password.trim().to_owned());
        }
        if line.contains("ready") {
            break;
        }
    }
    let generated = generated.expect("the generated password is shown once");
    assert!(
        generated.len() >= 20,
        "a generated password must be long: {generated}"
    );
    let login = |password: &str| {
        Command::new(pgscram_testkit::bindir().join("psql"))
            .args(["-X", "-A", "-t", "-c", "SELECT 1"])
            .arg(format!(
                "host=127.0.0.1 port={port} user=postgres dbname=postgres sslmode=disable"
            ))
            .env("PGPASSWORD", password)
            .stdin(Stdio::null())
            .output()
            .unwrap()
            .status
            .success()
    };
    assert!(!login("postgres"), "postgres/postgres must not work");
    assert!(login(&generated));
    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(dir);
}
