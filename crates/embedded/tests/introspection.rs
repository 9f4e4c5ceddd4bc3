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

#[test]
fn window_functions_run_on_sqlite_with_postgresql_types() {
    let (_db, mut s) = admin();
    tag(&mut s, "CREATE TABLE w (g text, v integer)");
    tag(
        &mut s,
        "INSERT INTO w VALUES ('a', 3), ('a', 1), ('b', 5), ('b', 7), ('b', 6)",
    );
    let sql = "SELECT g, v, row_number() OVER (PARTITION BY g ORDER BY v) AS rn, \
               rank() OVER win, lag(v) OVER win AS prev, ntile(2) OVER win, \
               sum(v) OVER (PARTITION BY g ORDER BY v ROWS BETWEEN 1 PRECEDING AND CURRENT ROW) AS s2 \
               FROM w WINDOW win AS (PARTITION BY g ORDER BY v) ORDER BY g, v";
    assert_eq!(
        columns(&mut s, sql),
        vec![
            ("g".to_owned(), pgscram_embedded::oid::TEXT),
            ("v".to_owned(), pgscram_embedded::oid::INT4),
            ("rn".to_owned(), pgscram_embedded::oid::INT8),
            ("rank".to_owned(), pgscram_embedded::oid::INT8),
            ("prev".to_owned(), pgscram_embedded::oid::INT4),
            ("ntile".to_owned(), pgscram_embedded::oid::INT4),
            ("s2".to_owned(), pgscram_embedded::oid::INT8),
        ]
    );
    let got: Vec<String> = rows(&mut s, sql).into_iter().map(|r| r.join(" ")).collect();
    assert_eq!(
        got,
        vec![
            "a 1 1 1 NULL 1 1",
            "a 3 2 2 1 2 4",
            "b 5 1 1 NULL 1 5",
            "b 6 2 2 5 1 11",
            "b 7 3 3 6 2 13",
        ]
    );
    // A window function over a column the query does not have is a 42703, not SQLite's.
    assert_eq!(
        err(&mut s, "SELECT row_number() OVER (ORDER BY nope) FROM w").code,
        sqlstate::UNDEFINED_COLUMN
    );
}
