//! Sessions reuse the connections of ended sessions; nothing of one session may reach
//! the next: temporary objects, an open transaction, or the previous user's rights.

mod common;

use common::{err, memdb, ok, session, tag, value};

#[test]
fn an_open_transaction_is_rolled_back_before_reuse() {
    let db = memdb();
    let mut admin = session(&db, "admin");
    ok(&mut admin, "CREATE TABLE t (x integer)");
    drop(admin);
    let mut a = session(&db, "admin");
    ok(&mut a, "BEGIN");
    ok(&mut a, "INSERT INTO t VALUES (1)");
    drop(a); // ends mid-transaction
    let mut b = session(&db, "admin");
    assert_eq!(value(&mut b, "SELECT count(*) FROM t"), "0");
    ok(&mut b, "INSERT INTO t VALUES (2)"); // not inside a leftover transaction
    drop(b);
    let mut c = session(&db, "admin");
    assert_eq!(value(&mut c, "SELECT count(*) FROM t"), "1");
}

#[test]
fn temporary_objects_do_not_survive_the_session() {
    let db = memdb();
    let mut a = session(&db, "admin");
    ok(&mut a, "CREATE TEMP TABLE scratch (x integer)");
    ok(&mut a, "INSERT INTO scratch VALUES (1)");
    drop(a);
    let mut b = session(&db, "admin");
    let error = err(&mut b, "SELECT * FROM scratch");
    assert_eq!(error.code.to_string(), "42P01", "{}", error.message);
}

#[test]
fn the_next_session_has_its_own_rights() {
    let db = memdb();
    let mut admin = session(&db, "admin");
    ok(&mut admin, "CREATE ROLE alice LOGIN PASSWORD 'pw'");
    assert!(
        !value(
            &mut admin,
            "SELECT rolpassword FROM pg_authid WHERE rolname = 'alice'"
        )
        .is_empty()
    );
    drop(admin);
    // alice most likely gets the superuser's old connection: its authorizer must be alice's.
    let mut alice = session(&db, "alice");
    let error = err(&mut alice, "SELECT rolpassword FROM pg_authid");
    assert_eq!(error.message, "permission denied for table pg_authid");
    assert_eq!(value(&mut alice, "SELECT current_user"), "alice");
}

#[test]
fn the_catalog_views_do_not_keep_a_connection_out_of_the_pool() {
    let db = memdb();
    let mut a = session(&db, "admin");
    assert_eq!(
        value(
            &mut a,
            "SELECT count(*) FROM pg_class WHERE relname = 'pg_class'"
        ),
        "1"
    );
    tag(&mut a, "SET application_name = 'first'");
    assert_eq!(
        value(
            &mut a,
            "SELECT setting FROM pg_settings WHERE name = 'application_name'"
        ),
        "first"
    );
    drop(a);
    let started = std::time::Instant::now();
    let mut b = session(&db, "admin");
    assert_eq!(
        value(&mut b, "SELECT current_setting('application_name')"),
        ""
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
}
