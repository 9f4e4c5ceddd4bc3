//! Real drivers against the real `pgscram serve` process: asyncpg and psycopg 3 (from
//! PyPI, in the venv `.ci/run` makes at `target/driver-venv`) and pgjdbc (Debian's
//! libpostgresql-jdbc-java). Each runs a small program from `tests/drivers/` that
//! asserts what it receives and prints `ok`.
//!
//! A driver missing on a developer's machine skips its test with a loud message; under
//! CI (`CI` set) a missing driver fails, since `.ci/run` installs them.

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const PASSWORD: &str = "driver-test-pw";

struct Serve {
    child: Child,
    port: u16,
    dir: PathBuf,
}

impl Serve {
    fn start() -> Serve {
        let dir = pgscram_testkit::temp_dir("drivers");
        let port = pgscram_testkit::free_port();
        let mut child = Command::new(env!("CARGO_BIN_EXE_pgscram"))
            .args(["serve", "--port", &port.to_string(), "--no-unix-socket"])
            .arg("--data-dir")
            .arg(&dir)
            .env("PGSCRAM_PASSWORD", PASSWORD)
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
        let deadline = Instant::now() + Duration::from_secs(30);
        while !log.lock().unwrap().contains("ready") {
            assert!(
                Instant::now() < deadline,
                "not ready:\n{}",
                log.lock().unwrap()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Serve { child, port, dir }
    }

    /// Runs a driver program with the server's port and password in its environment.
    fn run(&self, program: &mut Command) {
        let out = program
            .env("PGPORT", self.port.to_string())
            .env("PGPASSWORD", PASSWORD)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && stdout.trim_end().ends_with("ok"),
            "driver program failed\nstdout:\n{stdout}\nstderr:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn program(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/drivers")
        .join(name)
}

/// Skips (loudly) on a developer's machine; fails under CI, where `.ci/run` installs
/// every driver.
fn missing(what: &str) {
    if std::env::var_os("CI").is_some() {
        panic!("{what} is missing under CI: .ci/run should have installed it");
    }
    eprintln!("\n*** SKIPPED: {what} is missing; run .ci/run's driver install step ***\n");
}

/// A Python that can import `module`: `PGSCRAM_DRIVER_PYTHON`, the workspace's
/// `target/driver-venv`, or `python3`.
fn python_with(module: &str) -> Option<PathBuf> {
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/driver-venv/bin/python3");
    let candidates = std::env::var_os("PGSCRAM_DRIVER_PYTHON")
        .map(PathBuf::from)
        .into_iter()
        .chain([venv, PathBuf::from("python3")]);
    for python in candidates {
        let ok = Command::new(&python)
            .args(["-c", &format!("import {module}")])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if ok {
            return Some(python);
        }
    }
    None
}

fn python_driver(module: &str, script: &str) {
    let Some(python) = python_with(module) else {
        return missing(&format!("the Python module {module}"));
    };
    let serve = Serve::start();
    serve.run(Command::new(python).arg(program(script)));
}

#[test]
fn asyncpg_receives_postgresql_types() {
    python_driver("asyncpg", "asyncpg_types.py");
}

#[test]
fn psycopg_receives_postgresql_types_and_introspects() {
    python_driver("psycopg", "psycopg_types.py");
}

#[test]
fn pgjdbc_database_metadata() {
    let jar = Path::new("/usr/share/java/postgresql.jar");
    // `java File.java` compiles in memory: it needs a JDK, not only a JRE.
    let jdk = ["java", "javac"].iter().all(|tool| {
        Command::new(tool)
            .arg("-version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    });
    if !jar.exists() || !jdk {
        return missing("a JDK or /usr/share/java/postgresql.jar (libpostgresql-jdbc-java)");
    }
    let serve = Serve::start();
    serve.run(
        Command::new("java")
            .arg("-cp")
            .arg(jar)
            .arg(program("JdbcMetadata.java")),
    );
}
