//! Authentication as psql sees it: every method, TLS with channel binding, PostgreSQL's
//! messages, and no difference between an unknown role and a wrong password.

mod support;

use pgscram_server::{MemoryStore, Role};
use support::{TestServer, err, md5_role, ok, scram_role};

const SCRAM_HBA: &str = "host all all 127.0.0.1/32 scram-sha-256\n";

fn store() -> MemoryStore {
    let store = MemoryStore::new();
    store.insert("alice", scram_role("wonderland"));
    store.insert("oldie", md5_role("oldie", "legacy"));
    store.insert("nologin", {
        let mut role = scram_role("pw");
        role.can_login = false;
        role
    });
    store.insert("nopass", {
        let mut role = Role::default();
        role.can_login = true;
        role
    });
    store.insert("expired", {
        let mut role = scram_role("pw");
        role.valid_until = Some(std::time::SystemTime::now() - std::time::Duration::from_secs(60));
        role
    });
    store
}

#[test]
fn scram_without_tls() {
    let server = TestServer::start(SCRAM_HBA, store());
    assert_eq!(
        ok(&server.psql("alice", "wonderland", "sslmode=disable")),
        "alice"
    );
}

#[test]
fn scram_plus_with_channel_binding_required() {
    let server = TestServer::start(SCRAM_HBA, store());
    assert_eq!(
        ok(&server.psql(
            "alice",
            "wonderland",
            "sslmode=require channel_binding=require"
        )),
        "alice"
    );
}

#[test]
fn channel_binding_required_without_tls_fails_in_the_client() {
    let server = TestServer::start(SCRAM_HBA, store());
    let stderr = err(&server.psql(
        "alice",
        "wonderland",
        "sslmode=disable channel_binding=require",
    ));
    assert!(
        stderr.contains("channel binding required, but SSL not in use"),
        "{stderr}"
    );
}

#[test]
fn every_credential_failure_looks_the_same() {
    let server = TestServer::start(SCRAM_HBA, store());
    let cases = [
        ("alice", "wrong"),
        ("ghost", "anything"),
        ("nopass", "anything"),
        ("expired", "pw"),
        ("oldie", "legacy"), // md5 secret under a scram-sha-256 rule
    ];
    for (user, password) in cases {
        for sslmode in ["disable", "require"] {
            let stderr = err(&server.psql(user, password, &format!("sslmode={sslmode}")));
            assert!(
                stderr.contains(&format!(
                    "FATAL:  password authentication failed for user \"{user}\""
                )),
                "{user}/{sslmode}: {stderr}"
            );
            assert!(
                !stderr.contains("does not exist"),
                "{user}: existence leaked: {stderr}"
            );
        }
    }
}

#[test]
fn md5_rule_uses_md5_for_md5_roles_and_scram_for_scram_roles() {
    let server = TestServer::start("host all all 127.0.0.1/32 md5\n", store());
    assert_eq!(
        ok(&server.psql("oldie", "legacy", "sslmode=disable")),
        "oldie"
    );
    // alice has only a SCRAM verifier: an md5 challenge could never succeed for her, so
    // this login proves the md5 rule switched to SCRAM (psql 15 has no require_auth).
    assert_eq!(
        ok(&server.psql("alice", "wonderland", "sslmode=disable")),
        "alice"
    );
    let stderr = err(&server.psql("oldie", "wrong", "sslmode=disable"));
    assert!(
        stderr.contains("password authentication failed for user \"oldie\""),
        "{stderr}"
    );
}

#[test]
fn password_method_checks_scram_and_md5_secrets() {
    let server = TestServer::start("host all all 127.0.0.1/32 password\n", store());
    assert_eq!(
        ok(&server.psql("alice", "wonderland", "sslmode=require")),
        "alice"
    );
    assert_eq!(
        ok(&server.psql("oldie", "legacy", "sslmode=require")),
        "oldie"
    );
    let stderr = err(&server.psql("alice", "nope", "sslmode=require"));
    assert!(
        stderr.contains("password authentication failed for user \"alice\""),
        "{stderr}"
    );
}

#[test]
fn trust_reject_and_no_entry() {
    let hba = "host all alice 127.0.0.1/32 trust\nhost all oldie 127.0.0.1/32 reject\n";
    let server = TestServer::start(hba, store());
    assert_eq!(ok(&server.psql("alice", "", "sslmode=disable")), "alice");
    let stderr = err(&server.psql("oldie", "legacy", "sslmode=disable"));
    assert!(
        stderr.contains("pg_hba.conf rejects connection for host \"127.0.0.1\", user \"oldie\", database \"postgres\", no encryption"),
        "{stderr}"
    );
    let stderr = err(&server.psql("ghost", "x", "sslmode=require"));
    assert!(
        stderr.contains("no pg_hba.conf entry for host \"127.0.0.1\", user \"ghost\", database \"postgres\", SSL encryption"),
        "{stderr}"
    );
}

#[test]
fn login_rights_and_databases_are_checked_only_after_authentication() {
    let server = TestServer::start(SCRAM_HBA, store());
    let stderr = err(&server.psql("nologin", "pw", "sslmode=disable"));
    assert!(
        stderr.contains("role \"nologin\" is not permitted to log in"),
        "{stderr}"
    );
    let stderr = err(&server.psql("nologin", "wrong", "sslmode=disable"));
    assert!(
        stderr.contains("password authentication failed"),
        "{stderr}"
    );
    let stderr = err(&server.psql("alice", "wonderland", "sslmode=disable dbname=nosuchdb"));
    assert!(
        stderr.contains("database \"nosuchdb\" does not exist"),
        "{stderr}"
    );
    let stderr = err(&server.psql("alice", "wrong", "sslmode=disable dbname=nosuchdb"));
    assert!(
        stderr.contains("password authentication failed"),
        "{stderr}"
    );
}

#[test]
fn sighup_reload_keeps_old_rules_when_the_new_file_is_broken() {
    let server = TestServer::start(SCRAM_HBA, store());
    std::fs::write(
        server.data_dir.join("pg_hba.conf"),
        "host all all 10.0.0.0/33 trust\n",
    )
    .unwrap();
    let report = server.handle.reload();
    let error = report.hba.expect("rules from a file").unwrap_err();
    assert!(
        error.contains("invalid CIDR mask in address \"10.0.0.0/33\""),
        "{error}"
    );
    assert!(error.contains("line 1 of configuration file"), "{error}");
    assert_eq!(
        ok(&server.psql("alice", "wonderland", "sslmode=disable")),
        "alice"
    );
    std::fs::write(
        server.data_dir.join("pg_hba.conf"),
        "host all all 127.0.0.1/32 reject\n",
    )
    .unwrap();
    server
        .handle
        .reload()
        .hba
        .expect("rules from a file")
        .unwrap();
    let stderr = err(&server.psql("alice", "wonderland", "sslmode=disable"));
    assert!(
        stderr.contains("pg_hba.conf rejects connection"),
        "{stderr}"
    );
}
