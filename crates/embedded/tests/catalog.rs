//! The role catalog as the authentication layer and concurrent sessions see it:
//! durability across reopen, visibility of committed changes, atomic writes.

mod common;

use std::sync::{Arc, Barrier};
use std::thread;

use common::*;
use pgscram_embedded::{
    Database, Session, SessionSettings, Timestamp, TransactionStatus, sqlstate,
};

#[test]
fn catalog_survives_reopening_a_file_database() {
    let tmp = TempDb::new("reopen");
    {
        let db = Database::open(tmp.path()).unwrap();
        assert!(db.bootstrap_superuser("admin", Some("adminpw")).unwrap());
        let mut s = session(&db, "admin");
        tag(
            &mut s,
            "CREATE ROLE alice LOGIN PASSWORD 'alicepw' VALID UNTIL '2031-02-03 04:05:06+00'",
        );
        tag(&mut s, "CREATE ROLE staff");
        tag(&mut s, "GRANT staff TO alice");
        tag(
            &mut s,
            "CREATE TABLE notes (id serial PRIMARY KEY, body text)",
        );
        tag(&mut s, "INSERT INTO notes (body) VALUES ('kept')");
    }
    let db = Database::open(tmp.path()).unwrap();
    let alice = db.role("alice").unwrap().expect("alice persisted");
    assert!(alice.can_login);
    assert!(
        alice
            .password
            .as_deref()
            .unwrap()
            .starts_with("SCRAM-SHA-256$4096:")
    );
    assert_eq!(
        alice.valid_until,
        Some(Timestamp::parse("2031-02-03 04:05:06").unwrap())
    );
    assert!(db.is_member("alice", "staff").unwrap());
    assert!(
        !db.bootstrap_superuser("admin2", None).unwrap(),
        "bootstrap only once"
    );
    let mut s = session(&db, "admin");
    assert_eq!(value(&mut s, "SELECT body FROM notes"), "kept");
}

#[test]
fn open_file_uses_wal() {
    let tmp = TempDb::new("wal");
    let db = Database::open(tmp.path()).unwrap();
    db.bootstrap_superuser("admin", None).unwrap();
    assert_eq!(db.path(), Some(tmp.path()));
    let wal = format!("{}-wal", tmp.path().display());
    assert!(std::path::Path::new(&wal).exists(), "WAL file present");
}

#[test]
fn concurrent_sessions_see_committed_changes_only() {
    for file in [false, true] {
        let tmp = TempDb::new("concurrent");
        let db = if file {
            let db = Database::open(tmp.path()).unwrap();
            db.bootstrap_superuser("admin", None).unwrap();
            db
        } else {
            memdb()
        };
        let mut a = session(&db, "admin");
        let mut b = session(&db, "admin");
        tag(&mut a, "CREATE TABLE t (x int)");
        tag(&mut a, "BEGIN");
        tag(&mut a, "INSERT INTO t VALUES (1)");
        tag(&mut a, "CREATE ROLE pending LOGIN");
        assert_eq!(
            value(&mut b, "SELECT count(*) FROM t"),
            "0",
            "uncommitted row invisible"
        );
        assert!(
            db.role("pending").unwrap().is_none(),
            "uncommitted role invisible"
        );
        tag(&mut a, "COMMIT");
        assert_eq!(value(&mut b, "SELECT count(*) FROM t"), "1");
        assert!(db.role("pending").unwrap().is_some());
        assert_eq!(
            value(
                &mut b,
                "SELECT count(*) FROM pg_roles WHERE rolname = 'pending'"
            ),
            "1"
        );
    }
}

#[test]
fn rolled_back_role_ddl_leaves_no_trace() {
    let db = memdb();
    let mut s = session(&db, "admin");
    tag(&mut s, "BEGIN");
    tag(&mut s, "CREATE ROLE ghost");
    tag(&mut s, "ROLLBACK");
    assert!(db.role("ghost").unwrap().is_none());
}

#[test]
fn failed_ddl_inside_a_block_undoes_its_own_partial_writes() {
    let db = memdb();
    let mut s = session(&db, "admin");
    tag(&mut s, "CREATE ROLE a");
    tag(&mut s, "BEGIN");
    // The role row is inserted before IN ROLE fails on the missing group.
    let e = err(&mut s, "CREATE ROLE b IN ROLE a, missing");
    assert_eq!(e.code, sqlstate::UNDEFINED_OBJECT);
    assert_eq!(s.transaction_status(), TransactionStatus::Failed);
    tag(&mut s, "ROLLBACK");
    assert!(db.role("b").unwrap().is_none());
    // Outside a block the failed statement is atomic too.
    let e = err(&mut s, "CREATE ROLE c IN ROLE a, missing");
    assert_eq!(e.code, sqlstate::UNDEFINED_OBJECT);
    assert!(db.role("c").unwrap().is_none());
}

#[test]
fn parallel_sessions_creating_roles_do_not_lose_writes() {
    let tmp = TempDb::new("parallel");
    let db = Database::open(tmp.path()).unwrap();
    db.bootstrap_superuser("admin", None).unwrap();
    let barrier = Arc::new(Barrier::new(4));
    let handles: Vec<_> = (0..4)
        .map(|t| {
            let db = db.clone();
            let barrier = Arc::clone(&barrier);
            thread::spawn(move || {
                let mut s = Session::new(&db, "admin", SessionSettings::default()).unwrap();
                barrier.wait();
                for i in 0..10 {
                    let out = s.simple_query(&format!("CREATE ROLE r_{t}_{i} PASSWORD 'pw{i}'"));
                    assert!(out[0].result.is_ok(), "{:?}", out[0].result);
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    assert_eq!(db.roles().unwrap().len(), 41);
    let oids: std::collections::BTreeSet<u32> = db.roles().unwrap().iter().map(|r| r.oid).collect();
    assert_eq!(oids.len(), 41, "OIDs unique");
}

#[test]
fn membership_is_transitive_for_pg_hba_groups() {
    let db = memdb();
    let mut s = session(&db, "admin");
    for sql in [
        "CREATE ROLE admins",
        "CREATE ROLE ops IN ROLE admins",
        "CREATE USER carol IN ROLE ops",
        "CREATE USER dave",
    ] {
        tag(&mut s, sql);
    }
    assert!(db.is_member("carol", "ops").unwrap());
    assert!(db.is_member("carol", "admins").unwrap());
    assert!(db.is_member("carol", "carol").unwrap());
    assert!(!db.is_member("dave", "admins").unwrap());
    assert!(
        !db.is_member("admin", "admins").unwrap(),
        "superuser is not a member by itself"
    );
    assert!(!db.is_member("nobody", "admins").unwrap());
    tag(&mut s, "REVOKE ops FROM carol");
    assert!(!db.is_member("carol", "admins").unwrap());
}

#[test]
fn role_records_expose_every_attribute() {
    let db = memdb();
    let mut s = session(&db, "admin");
    tag(
        &mut s,
        "CREATE ROLE full SUPERUSER NOINHERIT CREATEROLE CREATEDB LOGIN REPLICATION BYPASSRLS CONNECTION LIMIT 7 PASSWORD 'md54ab2c5d00339c4b2a4e921d2dc4edec7' VALID UNTIL 'infinity'",
    );
    let r = db.role("full").unwrap().unwrap();
    assert!(r.superuser && !r.inherit && r.createrole && r.createdb && r.can_login);
    assert!(r.replication && r.bypassrls);
    assert_eq!(r.conn_limit, 7);
    assert_eq!(
        r.password.as_deref(),
        Some("md54ab2c5d00339c4b2a4e921d2dc4edec7")
    );
    assert_eq!(r.valid_until, Some(Timestamp::Infinity));
    assert!(!r.password_expired(Timestamp::parse("2999-01-01").unwrap()));
    let dbg = format!("{r:?}");
    assert!(
        !dbg.contains("md54ab2"),
        "Debug must not print the secret: {dbg}"
    );

    tag(&mut s, "CREATE ROLE plain");
    let p = db.role("plain").unwrap().unwrap();
    assert!(!p.superuser && p.inherit && !p.can_login && p.password.is_none());
    assert_eq!(p.conn_limit, -1);
    assert!(p.oid >= 16384);
    assert_eq!(db.role("admin").unwrap().unwrap().oid, 10);
}

#[test]
fn expired_passwords_compare_with_the_callers_clock() {
    let db = memdb();
    let mut s = session(&db, "admin");
    tag(
        &mut s,
        "CREATE ROLE old LOGIN PASSWORD 'x' VALID UNTIL '2020-01-01'",
    );
    let r = db.role("old").unwrap().unwrap();
    assert!(r.password_expired(Timestamp::parse("2024-01-01").unwrap()));
    assert!(!r.password_expired(Timestamp::parse("2019-12-31").unwrap()));
}

#[test]
fn sessions_need_an_existing_login_role_within_its_limit() {
    let db = memdb();
    let mut s = session(&db, "admin");
    tag(&mut s, "CREATE ROLE nologin");
    tag(&mut s, "CREATE ROLE limited LOGIN CONNECTION LIMIT 1");
    let e = Session::new(&db, "nobody", SessionSettings::default()).unwrap_err();
    assert_eq!(e.code, sqlstate::INVALID_AUTHORIZATION_SPECIFICATION);
    assert_eq!(e.message, "role \"nobody\" does not exist");
    let e = Session::new(&db, "nologin", SessionSettings::default()).unwrap_err();
    assert_eq!(e.message, "role \"nologin\" is not permitted to log in");
    let first = Session::new(&db, "limited", SessionSettings::default()).unwrap();
    let e = Session::new(&db, "limited", SessionSettings::default()).unwrap_err();
    assert_eq!(e.code, sqlstate::TOO_MANY_CONNECTIONS);
    assert_eq!(e.message, "too many connections for role \"limited\"");
    drop(first);
    Session::new(&db, "limited", SessionSettings::default()).unwrap();
}

#[test]
fn superuser_changes_take_effect_in_live_sessions() {
    let db = memdb();
    let mut admin = session(&db, "admin");
    tag(&mut admin, "CREATE ROLE bob LOGIN");
    let mut bob = session(&db, "bob");
    assert_eq!(
        err(&mut bob, "SELECT * FROM pg_authid").code,
        sqlstate::INSUFFICIENT_PRIVILEGE
    );
    tag(&mut admin, "ALTER ROLE bob SUPERUSER");
    let out = bob.simple_query("SELECT rolname FROM pg_authid");
    assert!(out[0].result.is_ok());
    assert!(
        out[0]
            .parameter_status
            .contains(&("is_superuser".to_owned(), "on".to_owned())),
        "{:?}",
        out[0].parameter_status
    );
    tag(&mut admin, "ALTER ROLE bob NOSUPERUSER");
    assert_eq!(
        err(&mut bob, "SELECT rolname FROM pg_authid").code,
        sqlstate::INSUFFICIENT_PRIVILEGE
    );
}

#[test]
fn handles_can_move_between_threads() {
    fn send<T: Send>() {}
    fn sync<T: Sync>() {}
    send::<Session>();
    send::<Database>();
    sync::<Database>();
    send::<pgscram_embedded::Portal>();
    send::<pgscram_embedded::PreparedStatement>();
    send::<pgscram_embedded::CancelHandle>();
    sync::<pgscram_embedded::CancelHandle>();
}
