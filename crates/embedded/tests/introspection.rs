//! What drivers run before they hand rows to the application: asyncpg's settings dance
//! and type introspection, pgjdbc's DatabaseMetaData queries (window functions,
//! `information_schema._pg_expandarray`), psycopg's TypeInfo.

mod common;

use common::*;
use pgscram_embedded::{Session, sqlstate};

fn admin() -> (pgscram_embedded::Database, Session) {
    let db = memdb();
    let s = session(&db, "admin");
    (db, s)
}

#[test]
fn current_setting_and_set_config_follow_postgresql() {
    let (_db, mut s) = admin();
    let e = err(&mut s, "SELECT current_setting('no_such_setting')");
    assert_eq!(e.code, sqlstate::UNDEFINED_OBJECT);
    assert_eq!(
        e.message,
        "unrecognized configuration parameter \"no_such_setting\""
    );
    assert_eq!(
        value(&mut s, "SELECT current_setting('no_such_setting', true)"),
        "NULL"
    );
    // asyncpg's first introspection step: the error tells it JIT is not there.
    let e = err(
        &mut s,
        "SELECT current_setting('jit') AS cur, set_config('jit', 'off', false) AS new",
    );
    assert_eq!(e.code, sqlstate::UNDEFINED_OBJECT);

    // set_config is SET: it returns the new value and lasts for the session.
    assert_eq!(
        rows(
            &mut s,
            "SELECT set_config('application_name', 'app1', false), current_setting('application_name')"
        ),
        vec![vec!["app1".to_owned(), "app1".to_owned()]]
    );
    assert_eq!(value(&mut s, "SHOW application_name"), "app1");
    // ... and is reported to the client like SET.
    let out = s.simple_query("SELECT set_config('application_name', 'app2', false)");
    assert!(
        out[0]
            .parameter_status
            .contains(&("application_name".to_owned(), "app2".to_owned())),
        "{:?}",
        out[0].parameter_status
    );

    // is_local = true is SET LOCAL: outside a block it lasts for the statement only.
    assert_eq!(
        value(&mut s, "SELECT set_config('application_name', 'tmp', true)"),
        "tmp"
    );
    assert_eq!(value(&mut s, "SHOW application_name"), "app2");
    tag(&mut s, "BEGIN");
    value(
        &mut s,
        "SELECT set_config('application_name', 'in_txn', true)",
    );
    assert_eq!(value(&mut s, "SHOW application_name"), "in_txn");
    tag(&mut s, "COMMIT");
    assert_eq!(value(&mut s, "SHOW application_name"), "app2");

    // A failed statement's set_config is undone, and bad values fail like SET.
    let e = err(
        &mut s,
        "SELECT set_config('application_name', 'lost', false), current_setting('nope')",
    );
    assert_eq!(e.code, sqlstate::UNDEFINED_OBJECT);
    assert_eq!(value(&mut s, "SHOW application_name"), "app2");
    let e = err(
        &mut s,
        "SELECT set_config('statement_timeout', 'soon', false)",
    );
    assert_eq!(e.code, sqlstate::INVALID_PARAMETER_VALUE);

    // Through the extended protocol with parameters, as asyncpg restores a value.
    let p = s
        .prepare("SELECT set_config($1, $2, false)", &[])
        .expect("prepare");
    let out = s.execute(
        &p,
        &[
            Some(b"application_name".to_vec()),
            Some(b"from_bind".to_vec()),
        ],
        0,
    );
    assert_eq!(
        out.result.expect("run").rows[0][0].as_deref(),
        Some(&b"from_bind"[..])
    );
    assert!(s.sync().is_none());
    assert_eq!(value(&mut s, "SHOW application_name"), "from_bind");
}
