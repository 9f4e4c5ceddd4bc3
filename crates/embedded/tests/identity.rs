//! Sessions for identities the server authenticated elsewhere: a custom credential
//! store's role need not be in the catalog, and the pid is the server's.

mod common;

use common::*;
use pgscram_embedded::{Session, SessionIdentity, SessionSettings};

fn text(session: &mut Session, sql: &str) -> String {
    let outcome = session.simple_query(sql).pop().expect("one statement");
    let result = outcome.result.expect("query succeeds");
    let value = result.rows[0][0].clone().expect("not NULL");
    String::from_utf8(value).expect("utf-8")
}

#[test]
fn a_role_outside_the_catalog_runs_as_itself_with_the_servers_pid() {
    let db = memdb();
    assert!(db.role("alice").unwrap().is_none());
    let identity = SessionIdentity {
        user: "alice".to_owned(),
        superuser: false,
        pid: 4242,
        started: std::time::SystemTime::now(),
    };
    let mut s = Session::for_identity(&db, identity, SessionSettings::default()).unwrap();
    assert_eq!(text(&mut s, "SELECT current_user"), "alice");
    assert_eq!(text(&mut s, "SELECT pg_backend_pid()"), "4242");
    assert_eq!(text(&mut s, "SHOW is_superuser"), "off");
    // Not a superuser: the secrets in the catalog stay hidden.
    let outcome = s
        .simple_query("SELECT rolpassword FROM pg_authid")
        .pop()
        .unwrap();
    assert!(outcome.result.is_err(), "pg_authid is for superusers only");
}

#[test]
fn a_superuser_from_another_store_keeps_its_flag() {
    let db = memdb();
    let identity = SessionIdentity {
        user: "ops".to_owned(),
        superuser: true,
        pid: 7,
        started: std::time::SystemTime::now(),
    };
    let mut s = Session::for_identity(&db, identity, SessionSettings::default()).unwrap();
    assert_eq!(text(&mut s, "SHOW is_superuser"), "on");
    assert_eq!(text(&mut s, "SELECT 1"), "1");
    assert_eq!(text(&mut s, "SHOW is_superuser"), "on");
}
