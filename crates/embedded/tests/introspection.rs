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

#[test]
fn set_returning_functions_in_a_select_list_run_in_lockstep() {
    let (_db, mut s) = admin();
    // Rows as PostgreSQL 15 returns them.
    assert_eq!(
        rows(
            &mut s,
            "SELECT unnest(ARRAY[1,2]) AS a, unnest(ARRAY['a','b','c']) AS b"
        ),
        vec![
            vec!["1".to_owned(), "a".to_owned()],
            vec!["2".to_owned(), "b".to_owned()],
            vec!["NULL".to_owned(), "c".to_owned()],
        ]
    );
    assert_eq!(
        columns(
            &mut s,
            "SELECT unnest(ARRAY[1,2]) AS a, generate_series(1, 2)"
        ),
        vec![
            ("a".to_owned(), pgscram_embedded::oid::INT4),
            ("generate_series".to_owned(), pgscram_embedded::oid::INT4),
        ]
    );
    assert!(rows(&mut s, "SELECT 1 AS one, unnest('{}'::int[]) AS e").is_empty());
    tag(&mut s, "CREATE TABLE nums (id integer, tags text)");
    tag(
        &mut s,
        "INSERT INTO nums VALUES (1, '{x}'), (2, '{y,z}'), (3, NULL)",
    );
    assert_eq!(
        rows(
            &mut s,
            "SELECT id, unnest(tags::text[]) FROM nums ORDER BY id"
        ),
        vec![
            vec!["1".to_owned(), "x".to_owned()],
            vec!["2".to_owned(), "y".to_owned()],
            vec!["2".to_owned(), "z".to_owned()],
        ]
    );
    // _pg_expandarray's record: whole, by field, and through a subquery's column.
    assert_eq!(
        rows(
            &mut s,
            "SELECT information_schema._pg_expandarray(ARRAY[10,20]) AS r"
        ),
        vec![vec!["(10,1)".to_owned()], vec!["(20,2)".to_owned()]]
    );
    assert_eq!(
        columns(
            &mut s,
            "SELECT (information_schema._pg_expandarray(ARRAY['a'])).x, (information_schema._pg_expandarray(ARRAY['a'])).n"
        ),
        vec![
            ("x".to_owned(), pgscram_embedded::oid::TEXT),
            ("n".to_owned(), pgscram_embedded::oid::INT4),
        ]
    );
    assert_eq!(
        rows(
            &mut s,
            "SELECT k.r, (k.r).n FROM (SELECT information_schema._pg_expandarray(ARRAY[7,8]) AS r) k ORDER BY 2 DESC"
        ),
        vec![
            vec!["(8,2)".to_owned(), "2".to_owned()],
            vec!["(7,1)".to_owned(), "1".to_owned()],
        ]
    );
    // A set-returning call in a subquery belongs to the subquery.
    assert_eq!(
        value(
            &mut s,
            "SELECT (SELECT max(u) FROM (SELECT unnest(ARRAY[4,5]) AS u) s) AS m"
        ),
        "5"
    );
    assert_eq!(
        err(&mut s, "SELECT 1 WHERE unnest(ARRAY[1]) = 1").code,
        sqlstate::FEATURE_NOT_SUPPORTED
    );
}

#[test]
fn pgjdbc_primary_keys_expand_the_index_key_vector() {
    let (_db, mut s) = admin();
    tag(
        &mut s,
        "CREATE TABLE pair (a integer, b text, c integer, PRIMARY KEY (c, a))",
    );
    // pgjdbc's getPrimaryKeys query (42.x), with the table filled in.
    let sql = "SELECT result.TABLE_CAT, result.TABLE_SCHEM, result.TABLE_NAME, result.COLUMN_NAME, \
        result.KEY_SEQ, result.PK_NAME FROM (SELECT NULL AS TABLE_CAT, n.nspname AS TABLE_SCHEM, \
        ct.relname AS TABLE_NAME, a.attname AS COLUMN_NAME, \
        (information_schema._pg_expandarray(i.indkey)).n AS KEY_SEQ, ci.relname AS PK_NAME, \
        information_schema._pg_expandarray(i.indkey) AS KEYS, a.attnum AS A_ATTNUM \
        FROM pg_catalog.pg_class ct JOIN pg_catalog.pg_attribute a ON (ct.oid = a.attrelid) \
        JOIN pg_catalog.pg_namespace n ON (ct.relnamespace = n.oid) \
        JOIN pg_catalog.pg_index i ON ( a.attrelid = i.indrelid) \
        JOIN pg_catalog.pg_class ci ON (ci.oid = i.indexrelid) \
        WHERE true AND n.nspname = 'public' AND ct.relname = 'pair' AND i.indisprimary ) result \
        where result.A_ATTNUM = (result.KEYS).x ORDER BY result.table_name, result.pk_name, result.key_seq";
    let got: Vec<String> = rows(&mut s, sql).into_iter().map(|r| r.join(" ")).collect();
    // The same rows as PostgreSQL 15 for the same table.
    assert_eq!(
        got,
        vec![
            "NULL public pair c 1 pair_pkey",
            "NULL public pair a 2 pair_pkey"
        ]
    );
    let cols = columns(&mut s, sql);
    assert_eq!(cols[4], ("key_seq".to_owned(), pgscram_embedded::oid::INT4));
}

#[test]
fn psycopg_type_info_and_declared_parameter_types() {
    let (_db, mut s) = admin();
    // TypeInfo.fetch's lookup: names, SQL spellings, and name[] for arrays.
    let sql = "SELECT typname, oid, typarray FROM pg_type WHERE oid = to_regtype('int4[]')";
    assert_eq!(rows(&mut s, sql), vec![vec!["_int4", "1007", "0"]]);
    for (name, oid) in [
        ("integer[]", "1007"),
        ("text[]", "1009"),
        ("_text", "1009"),
        ("numeric", "1700"),
    ] {
        assert_eq!(
            value(&mut s, &format!("SELECT to_regtype('{name}')::oid")),
            oid,
            "{name}"
        );
    }
    assert_eq!(value(&mut s, "SELECT to_regtype('nope[]')"), "NULL");
    assert_eq!(
        value(
            &mut s,
            "SELECT typarray FROM pg_type WHERE typname = 'numeric'"
        ),
        "1231"
    );
    // A type Parse declares for $1 types the expression, as in PostgreSQL.
    let p = s
        .prepare("SELECT $1 AS n", &[pgscram_embedded::oid::NUMERIC])
        .expect("prepare");
    assert_eq!(p.columns[0].type_oid, pgscram_embedded::oid::NUMERIC);
    let p = s.prepare("SELECT $1 AS u", &[705]).expect("prepare");
    assert_eq!(p.columns[0].type_oid, pgscram_embedded::oid::TEXT);
}

#[test]
fn array_columns_keep_their_type() {
    let (_db, mut s) = admin();
    tag(&mut s, "CREATE TABLE arr (id int, xs int4[], ts text[])");
    tag(
        &mut s,
        "INSERT INTO arr VALUES (1, ARRAY[1,NULL,3], '{\"a b\",c}')",
    );
    assert_eq!(
        columns(&mut s, "SELECT xs, ts FROM arr"),
        vec![("xs".to_owned(), 1007), ("ts".to_owned(), 1009)]
    );
    assert_eq!(
        rows(&mut s, "SELECT xs, ts, xs[3] FROM arr"),
        vec![vec!["{1,NULL,3}", "{\"a b\",c}", "3"]]
    );
    assert_eq!(
        rows(
            &mut s,
            "SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute \
             WHERE attrelid = 'arr'::regclass AND attnum > 1 ORDER BY attnum"
        ),
        vec![vec!["xs", "integer[]"], vec!["ts", "text[]"]]
    );
}
