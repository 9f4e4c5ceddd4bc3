//! No secret ever reaches a log or audit byte. The real `pgscram serve` logs in, fails,
//! runs CREATE/ALTER ROLE ... PASSWORD with plaintext passwords, SCRAM verifiers and md5
//! passwords, psql's `\password`, and statements that fail with a password in them;
//! then every byte it wrote (standard error, standard output, the audit log) is
//! searched for every password, verifier, StoredKey, ServerKey, ClientKey and proof.

mod hardening_serve;
#[path = "../../server/tests/hardening_util/mod.rs"]
mod hardening_util;

use std::process::{Command, Stdio};
use std::time::Duration;

use hardening_serve::{SUPERUSER_PASSWORD, Serve, b64, read_all};
use pgscram_scram::{ScramVerifier, StoredSecret};

fn ok(out: &std::process::Output) -> String {
    assert!(
        out.status.success(),
        "psql failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

fn failed(out: &std::process::Output) -> String {
    assert!(!out.status.success(), "psql unexpectedly succeeded");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// psql's `\password ROLE` on a pseudo-terminal (it reads the password from the tty),
/// typed in after each prompt. `None` when `script(1)` is not installed.
fn backslash_password(serve: &Serve, role: &str, password: &str) -> Option<bool> {
    if Command::new("script").arg("--version").output().is_err() {
        return None;
    }
    let command = format!(
        "{} '{}' -X -c '\\password {role}'",
        pgscram_testkit::bindir().join("psql").display(),
        serve.conninfo("postgres")
    );
    let mut child = Command::new("script")
        .args(["-q", "-e", "-c", &command, "/dev/null"])
        .env("PGPASSWORD", SUPERUSER_PASSWORD)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let mut stdin = child.stdin.take()?;
    // psql flushes typed-ahead input when it turns echo off: wait for each prompt.
    for _ in 0..2 {
        std::thread::sleep(Duration::from_millis(700));
        std::io::Write::write_all(&mut stdin, format!("{password}\n").as_bytes()).ok()?;
    }
    std::thread::sleep(Duration::from_millis(700));
    drop(stdin);
    Some(child.wait().ok()?.success())
}

#[test]
fn no_secret_reaches_any_log_or_audit_byte() {
    let dir = pgscram_testkit::temp_dir("secrets");
    let audit_path = dir.join("audit.jsonl");
    let audit_arg = audit_path.display().to_string();
    let mut serve = Serve::start(
        &dir,
        &[
            "--audit-log",
            &audit_arg,
            "--audit-format",
            "json",
            "--throttle-delay",
            "1",
            // The per-login log line is searched too.
            "--log-connections",
        ],
    );
    let mut passwords: Vec<String> = vec![SUPERUSER_PASSWORD.to_owned()];
    let mut secrets: Vec<(String, String)> = Vec::new();

    // Logins: psql good and bad, and raw SCRAM exchanges whose proofs we know.
    ok(&serve.psql("postgres", SUPERUSER_PASSWORD, "SELECT 1"));
    failed(&serve.psql("postgres", "Wrong-Guess-Pw1", "SELECT 1"));
    passwords.push("Wrong-Guess-Pw1".into());
    let good = hardening_util::login_at(serve.addr(), "postgres", SUPERUSER_PASSWORD);
    assert!(good.ok);
    let bad = hardening_util::login_at(serve.addr(), "postgres", "Wrong-Guess-Pw2");
    assert!(bad.error().is_some());
    passwords.push("Wrong-Guess-Pw2".into());
    for (what, login) in [("good proof", &good), ("bad proof", &bad)] {
        secrets.push((what.into(), login.proof().unwrap()));
    }

    // Role DDL with every kind of password.
    ok(&serve.psql(
        "postgres",
        SUPERUSER_PASSWORD,
        "CREATE ROLE alice LOGIN PASSWORD 'Alice-Plain-Pw3'",
    ));
    let bob = ScramVerifier::derive(b"Bob-Verifier-Pw4", &[9; 16], 4096).unwrap();
    ok(&serve.psql(
        "postgres",
        SUPERUSER_PASSWORD,
        &format!("CREATE ROLE bob LOGIN PASSWORD '{bob}'"),
    ));
    ok(&serve.psql(
        "postgres",
        SUPERUSER_PASSWORD,
        "ALTER ROLE alice PASSWORD 'Alice-Changed-Pw5'",
    ));
    ok(&serve.psql(
        "postgres",
        SUPERUSER_PASSWORD,
        "SET password_encryption = 'md5'; CREATE ROLE dave LOGIN PASSWORD 'Dave-Md5-Pw6'",
    ));
    ok(&serve.psql("postgres", SUPERUSER_PASSWORD, "CREATE ROLE carol LOGIN"));
    passwords.extend(
        [
            "Bob-Verifier-Pw4",
            "Alice-Plain-Pw3",
            "Alice-Changed-Pw5",
            "Dave-Md5-Pw6",
        ]
        .map(String::from),
    );
    // Statements that fail while carrying a password.
    for sql in [
        "CREATE ROLE eve PASSWORD 'Eve-Error-Pw8' NOSUCHOPTION",
        "ALTER ROLE nosuchrole PASSWORD 'Eve-Error-Pw9'",
        "CREATE ROLE alice PASSWORD 'Eve-Error-Pw10'",
    ] {
        failed(&serve.psql("postgres", SUPERUSER_PASSWORD, sql));
    }
    passwords.extend(["Eve-Error-Pw8", "Eve-Error-Pw9", "Eve-Error-Pw10"].map(String::from));

    // psql's \password: SHOW password_encryption, then ALTER USER with a verifier.
    match backslash_password(&serve, "carol", "Carol-Prompt-Pw7") {
        Some(success) => {
            assert!(success, "\\password failed");
            passwords.push("Carol-Prompt-Pw7".into());
            assert_eq!(
                ok(&serve.psql("carol", "Carol-Prompt-Pw7", "SELECT current_user")),
                "carol"
            );
        }
        None => println!("script(1) not installed: \\password step skipped"),
    }

    // The new passwords work, the old ones fail; bob logs in with a known proof.
    assert_eq!(
        ok(&serve.psql("alice", "Alice-Changed-Pw5", "SELECT current_user")),
        "alice"
    );
    failed(&serve.psql("alice", "Alice-Plain-Pw3", "SELECT 1"));
    let bob_login = hardening_util::login_at(serve.addr(), "bob", "Bob-Verifier-Pw4");
    assert!(bob_login.ok);
    secrets.push(("bob proof".into(), bob_login.proof().unwrap()));
    // An md5 secret under a scram-sha-256 line: a mock exchange, then 28P01.
    failed(&serve.psql("dave", "Dave-Md5-Pw6", "SELECT 1"));

    serve.kill();

    // Every stored secret, and the keys inside every SCRAM verifier.
    let db = pgscram_embedded::Database::open(dir.join("pgscram.db")).unwrap();
    for role in db.roles().unwrap() {
        let Some(secret) = role.password.clone() else {
            continue;
        };
        secrets.push((format!("{} stored secret", role.name), secret.clone()));
        if let Ok(StoredSecret::Scram(v)) = StoredSecret::classify(&secret) {
            secrets.push((
                format!("{} StoredKey", role.name),
                b64(v.stored_key().as_bytes()),
            ));
            secrets.push((
                format!("{} ServerKey", role.name),
                b64(v.server_key().as_bytes()),
            ));
        }
    }
    secrets.push(("bob verifier".into(), bob.to_string()));
    // ClientKeys of the SCRAM passwords we know.
    for (name, password) in [
        ("postgres", SUPERUSER_PASSWORD),
        ("bob", "Bob-Verifier-Pw4"),
    ] {
        let role = db.role(name).unwrap().unwrap();
        let Ok(StoredSecret::Scram(v)) = StoredSecret::classify(role.password.as_deref().unwrap())
        else {
            panic!("{name} has no SCRAM secret");
        };
        let salted = pgscram_scram::keys::SaltedPassword::derive(
            password.as_bytes(),
            v.salt(),
            v.iterations(),
        );
        secrets.push((
            format!("{name} ClientKey"),
            b64(salted.client_key().as_bytes()),
        ));
    }
    for password in &passwords {
        secrets.push(("password".into(), password.clone()));
    }

    let mut haystack = serve.output_bytes();
    let audit = read_all(&audit_path);
    assert!(!audit.is_empty());
    haystack.extend_from_slice(&audit);
    for entry in std::fs::read_dir(&dir).unwrap().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.ends_with(".log") || name.ends_with(".jsonl") {
            haystack.extend_from_slice(&read_all(&entry.path()));
        }
    }
    // The test is only meaningful if the logs say something about each step.
    let text = String::from_utf8_lossy(&haystack);
    for expected in [
        "password authentication failed for user \"postgres\"",
        "connection authenticated: identity=\"alice\"",
        "\"outcome\":\"failure\"",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
    }
    let mut leaks = Vec::new();
    for (what, secret) in &secrets {
        if hardening_util::contains(&haystack, secret.as_bytes()) {
            leaks.push(what.clone());
        }
    }
    println!(
        "searched {} log and audit bytes for {} secrets: {} found",
        haystack.len(),
        secrets.len(),
        leaks.len()
    );
    assert!(leaks.is_empty(), "secrets in the logs: {leaks:?}\n{text}");
    drop(serve);
    let _ = std::fs::remove_dir_all(&dir);
}
