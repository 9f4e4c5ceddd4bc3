//! The md5 -> SCRAM migration end to end, driving the real `pgscram` binary against a
//! real PostgreSQL 15: audit finds the md5 roles, passwd upgrades each (verifier made
//! on the client, proven by a SCRAM login), audit comes back clean, the md5 hba line is
//! switched, and every role still logs in.

mod run_pgscram;

use pgscram_scram::ScramVerifier;
use pgscram_testkit::{Options, Postgres};
use run_pgscram::{pgscram, text};

fn secret(pg: &Postgres, role: &str) -> String {
    pg.sql(&format!(
        "SELECT rolpassword FROM pg_authid WHERE rolname = '{role}'"
    ))
}

const MD5_HBA: &str = "local all all trust\n\
                       host all postgres 127.0.0.1/32 trust\n\
                       host all all 127.0.0.1/32 md5\n";

#[test]
fn md5_to_scram_migration() {
    let pg = Postgres::start_with(Options {
        hba: MD5_HBA.into(),
        conf: vec!["password_encryption = md5".into()],
        ..Options::default()
    });
    pg.sql("CREATE ROLE alice LOGIN PASSWORD 'alice-old'");
    pg.sql("CREATE ROLE \"Bob Smith\" LOGIN PASSWORD 'bob-old'");
    let verifier = ScramVerifier::derive(b"carol-pw", &[3; 16], 4096).unwrap();
    pg.sql(&format!("CREATE ROLE carol LOGIN PASSWORD '{verifier}'"));
    assert!(secret(&pg, "alice").starts_with("md5"));
    assert!(secret(&pg, "Bob Smith").starts_with("md5"));
    let ok = pg.psql_tcp("alice", "alice-old", "sslmode=disable", "SELECT 1");
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );

    let admin = format!(
        "host=127.0.0.1 port={} user=postgres dbname=postgres sslmode=disable",
        pg.port()
    );

    // 1. audit finds the md5 roles and the setting.
    let audit = pgscram(&["audit", &admin], "", &[]);
    assert_eq!(audit.status.code(), Some(1), "{}", text(&audit));
    let report = String::from_utf8_lossy(&audit.stdout).into_owned();
    assert!(
        report.contains("password_encryption: md5 (upgrade"),
        "{report}"
    );
    for expected in [
        "alice      md5",
        "Bob Smith  md5",
        "carol      scram-sha-256  4096",
        "postgres   none",
        "line 3: host all all 127.0.0.1 md5: waiting for Bob Smith, alice",
    ] {
        assert!(
            report.contains(expected),
            "missing {expected:?} in\n{report}"
        );
    }
    assert!(
        !report.contains(&secret(&pg, "alice")[3..]),
        "a secret was printed"
    );

    let json = pgscram(&["audit", &admin, "--json"], "", &[]);
    assert_eq!(json.status.code(), Some(1), "{}", text(&json));
    let json = String::from_utf8_lossy(&json.stdout).into_owned();
    assert!(json.starts_with("{\"clean\":false,"), "{json}");
    assert!(
        json.contains("{\"role\":\"alice\",\"secret\":\"md5\",\"iterations\":null,\"valid_until\":null,\"verdict\":\"upgrade\"}"),
        "{json}"
    );

    // 2. passwd upgrades each md5 role; the password comes on stdin.
    for (role, password) in [("alice", "alice-new"), ("Bob Smith", "bob new pässword")] {
        let out = pgscram(&["passwd", &admin, role], &format!("{password}\n"), &[]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            stdout.contains(&format!(
                "checked: logged in as \"{role}\" with SCRAM-SHA-256"
            )),
            "{stdout}"
        );
        let stored = secret(&pg, role);
        let parsed = ScramVerifier::parse(&stored).unwrap_or_else(|e| panic!("{e}: {stored}"));
        assert_eq!(parsed.iterations(), 4096);
        assert_eq!(parsed.salt().len(), 16);
    }
    // The statement carried a verifier, never the plaintext.
    let log = pg.log();
    assert!(!log.contains("alice-new") && !log.contains("bob new"));

    // 3. Roles are done; the setting still stores md5 for the next password.
    let audit = pgscram(&["audit", &admin], "", &[]);
    assert_eq!(audit.status.code(), Some(1), "{}", text(&audit));
    let report = String::from_utf8_lossy(&audit.stdout).into_owned();
    assert!(!report.contains(" upgrade\n"), "{report}");
    assert!(
        report.contains("line 3: host all all 127.0.0.1 md5: can switch to scram-sha-256"),
        "{report}"
    );
    pg.sql("ALTER SYSTEM SET password_encryption = 'scram-sha-256'");
    pg.sql("SELECT pg_reload_conf()");

    // 4. audit is clean.
    let audit = pgscram(&["audit", &admin], "", &[]);
    assert_eq!(audit.status.code(), Some(0), "{}", text(&audit));
    let json = pgscram(&["audit", &admin, "--json"], "", &[]);
    assert_eq!(json.status.code(), Some(0), "{}", text(&json));
    assert!(String::from_utf8_lossy(&json.stdout).contains("\"can_switch\":true"));

    // 5. Switch the md5 line; every role still logs in, with SCRAM.
    pg.set_hba(&MD5_HBA.replace("127.0.0.1/32 md5", "127.0.0.1/32 scram-sha-256"));
    for (role, password) in [
        ("alice", "alice-new"),
        ("Bob Smith", "bob new pässword"),
        ("carol", "carol-pw"),
    ] {
        let conninfo = format!(
            "host=127.0.0.1 port={} user='{role}' dbname=postgres sslmode=disable require_auth=scram-sha-256",
            pg.port()
        );
        let ping = pgscram(&["ping", &conninfo], "", &[("PGPASSWORD", password)]);
        assert_eq!(ping.status.code(), Some(0), "{}", text(&ping));
        let stdout = String::from_utf8_lossy(&ping.stdout);
        assert!(
            stdout.contains("authentication: scram-sha-256 (SCRAM-SHA-256)"),
            "{stdout}"
        );
        assert!(stdout.contains("server signature: verified"), "{stdout}");
        // And libpq agrees.
        let psql = pg.psql_tcp(
            &format!("'{role}'"),
            password,
            "sslmode=disable",
            "SELECT 1",
        );
        assert!(
            psql.status.success(),
            "{}",
            String::from_utf8_lossy(&psql.stderr)
        );
    }
    // The old md5 password is gone.
    let ping = pgscram(
        &[
            "ping",
            &format!(
                "host=127.0.0.1 port={} user=alice dbname=postgres sslmode=disable",
                pg.port()
            ),
        ],
        "",
        &[("PGPASSWORD", "alice-old")],
    );
    assert_eq!(ping.status.code(), Some(2), "{}", text(&ping));
    assert!(
        String::from_utf8_lossy(&ping.stderr)
            .contains("password authentication failed for user \"alice\""),
        "{}",
        text(&ping)
    );
}

#[test]
fn passwd_check_fails_when_hba_does_not_ask_for_a_password() {
    let pg = Postgres::start_with(Options {
        hba: "local all all trust\nhost all all 127.0.0.1/32 trust\n".into(),
        ..Options::default()
    });
    pg.sql("CREATE ROLE alice LOGIN");
    let admin = format!(
        "host=127.0.0.1 port={} user=postgres dbname=postgres sslmode=disable",
        pg.port()
    );
    let out = pgscram(&["passwd", &admin, "alice"], "pw\n", &[]);
    // The password is set, but the SCRAM proof could not happen: exit 1, and why.
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(secret(&pg, "alice").starts_with("SCRAM-SHA-256$4096:"));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("server did not complete authentication"),
        "{}",
        text(&out)
    );

    // Unknown role: an error, exit 2, nothing read from stdin matters.
    let out = pgscram(&["passwd", &admin, "nobody"], "pw\n", &[]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("role \"nobody\" does not exist"));
}

#[test]
fn secrets_on_argv_are_refused() {
    for args in [
        &["ping", "host=127.0.0.1 password=hunter2"][..],
        &["audit", "postgresql://u:hunter2@127.0.0.1/db"][..],
        &["passwd", "host=127.0.0.1", "alice", "--password", "hunter2"][..],
    ] {
        let out = pgscram(args, "", &[]);
        assert_eq!(out.status.code(), Some(2), "{}", text(&out));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("not accepted on the command line"),
            "{stderr}"
        );
        assert!(!stderr.contains("hunter2"));
    }
}

#[test]
fn ping_reports_failure_with_exit_2() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let out = pgscram(
        &[
            "ping",
            &format!("host=127.0.0.1 port={port} user=u dbname=d sslmode=disable"),
        ],
        "",
        &[],
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("connection to server"));
}
