//! Real drivers against the real `pgscram serve` process: asyncpg and psycopg 3 (from
//! PyPI, in the venv `.ci/run` makes at `target/driver-venv`) and pgjdbc (Debian's
//! libpostgresql-jdbc-java). Each runs a small program from `tests/drivers/` that
//! asserts what it receives and prints `ok`.
//!
//! A driver missing on a developer's machine skips its test with a loud message; under
//! CI (`CI` set) a missing driver fails, since `.ci/run` installs them.

mod hardening_serve;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use hardening_serve::{SUPERUSER_PASSWORD, Serve};

/// Starts `pgscram serve`, runs a driver program with the server's port and the
/// superuser's password in its environment, and checks that it printed `ok`.
fn run_against_serve(program: &mut Command) {
    let dir = pgscram_testkit::temp_dir("drivers");
    let serve = Serve::start(&dir, &[]);
    let out = program
        .env("PGPORT", serve.port.to_string())
        .env("PGPASSWORD", SUPERUSER_PASSWORD)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    drop(serve);
    let _ = std::fs::remove_dir_all(&dir);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.trim_end().ends_with("ok"),
        "driver program failed\nstdout:\n{stdout}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
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
    run_against_serve(Command::new(python).arg(program(script)));
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
    run_against_serve(
        Command::new("java")
            .arg("-cp")
            .arg(jar)
            .arg(program("JdbcMetadata.java")),
    );
}
