//! The SQL bridge and the session protocol faces: the seed query, SET/SHOW, regex and
//! LIKE operators, casts, parameters, result typing, extended protocol, transactions.

mod common;

use common::*;
use pgscram_embedded::{
    Completion, Database, PasswordEncryption, Session, SessionSettings, TransactionStatus, oid,
    sqlstate,
};

fn setup() -> (Database, Session) {
    let db = memdb();
    let mut s = session(&db, "admin");
    for sql in [
        "CREATE ROLE alice LOGIN PASSWORD 'SCRAM-SHA-256$4096:AQIDBAUGBwgJCgsMDQ4PEA==$8rrDg00OqaiWXJ7p+sCgHEIaBSHY89ZJl3mfIsf32oY=:05L1f+yZbiN8O0AnO40Og85NNRhvzTS57naKRWCcsIA='",
        "CREATE ROLE bob LOGIN PASSWORD 'md54ab2c5d00339c4b2a4e921d2dc4edec7'",
        "CREATE ROLE nopw LOGIN",
        "CREATE ROLE grp",
    ] {
        tag(&mut s, sql);
    }
    (db, s)
}

#[test]
fn seed_query_returns_a_bool_column() {
    let (_db, mut s) = setup();
    let sql = r"SELECT rolname, rolpassword ~ '^SCRAM-SHA-256\$' AS has_upgraded FROM pg_authid WHERE rolcanlogin;";
    let r = ok(&mut s, sql);
    let cols = r.columns.clone().unwrap();
    assert_eq!(cols[0].name, "rolname");
    assert_eq!(cols[0].type_oid, oid::NAME);
    assert_eq!(cols[1].name, "has_upgraded");
    assert_eq!(cols[1].type_oid, oid::BOOL);
    assert_eq!(cols[1].type_size, 1);
    assert_eq!(r.tag(), Some("SELECT 4"));
    let mut got = text_rows(&r);
    got.sort();
    assert_eq!(
        got,
        vec![
            vec!["admin".to_owned(), "t".to_owned()],
            vec!["alice".to_owned(), "t".to_owned()],
            vec!["bob".to_owned(), "f".to_owned()],
            vec!["nopw".to_owned(), "NULL".to_owned()],
        ]
    );
    // The same through the extended protocol, and pg_catalog-qualified.
    let p = s
        .prepare(
            r"SELECT rolname, rolpassword ~ '^SCRAM-SHA-256\$' AS has_upgraded FROM pg_catalog.pg_authid WHERE rolcanlogin",
            &[],
        )
        .unwrap();
    assert_eq!(p.columns[1].type_oid, oid::BOOL);
    let out = s.execute(&p, &[], 0);
    assert_eq!(out.result.unwrap().rows.len(), 4);
}

#[test]
fn catalog_views_and_permissions() {
    let (db, mut s) = setup();
    assert_eq!(
        rows(
            &mut s,
            "SELECT rolname, rolpassword FROM pg_roles WHERE rolname = 'alice'"
        ),
        vec![vec!["alice".to_owned(), "********".to_owned()]]
    );
    let cols = columns(
        &mut s,
        "SELECT rolsuper, rolconnlimit, oid, rolvaliduntil FROM pg_roles LIMIT 1",
    );
    assert_eq!(
        cols.iter().map(|c| c.1).collect::<Vec<_>>(),
        vec![oid::BOOL, oid::INT4, oid::OID, oid::TIMESTAMPTZ]
    );
    assert_eq!(value(&mut s, "SELECT count(*) FROM pg_shadow"), "4");
    tag(&mut s, "GRANT grp TO alice");
    assert_eq!(
        rows(
            &mut s,
            "SELECT r.rolname, m.rolname FROM pg_auth_members a JOIN pg_roles r ON r.oid = a.roleid JOIN pg_roles m ON m.oid = a.member WHERE m.rolname !~ '^pg_'"
        ),
        vec![vec!["grp".to_owned(), "alice".to_owned()]]
    );
    let mut alice = session(&db, "alice");
    assert_eq!(
        value(&mut alice, "SELECT count(*) FROM pg_catalog.pg_roles"),
        "17",
        "5 roles and PostgreSQL's 12 predefined ones"
    );
    assert_eq!(value(&mut alice, "SELECT count(*) FROM pg_user"), "4");
    for table in ["pg_authid", "pg_shadow"] {
        let e = err(
            &mut alice,
            &format!("SELECT rolname FROM {table}")
                .replace("rolname FROM pg_shadow", "usename FROM pg_shadow"),
        );
        assert_eq!(e.code, sqlstate::INSUFFICIENT_PRIVILEGE);
        assert_eq!(e.message, format!("permission denied for table {table}"));
    }
    let e = err(&mut alice, "SELECT * FROM pgscram_roles");
    assert_eq!(e.code, sqlstate::INSUFFICIENT_PRIVILEGE);
    // A view of one's own cannot launder the secret view.
    // SQLite checks views when they are used, so the view is created ...
    assert_eq!(
        tag(
            &mut alice,
            "CREATE VIEW peek AS SELECT rolpassword FROM pg_authid"
        ),
        "CREATE VIEW"
    );
    // ... but reading it is refused.
    assert_eq!(
        err(&mut alice, "SELECT * FROM peek").code,
        sqlstate::INSUFFICIENT_PRIVILEGE
    );
    // Counting roles is public knowledge (pg_roles shows them all).
    assert_eq!(
        value(
            &mut alice,
            "SELECT count(*) FROM pg_roles WHERE rolcanlogin"
        ),
        "4"
    );
}

#[test]
fn set_show_reset_and_parameter_status() {
    let (_db, mut s) = setup();
    let out = run(&mut s, "SET scram_iterations = 10000");
    assert_eq!(out[0].result.as_ref().unwrap().tag(), Some("SET"));
    assert_eq!(
        out[0].parameter_status,
        vec![("scram_iterations".to_owned(), "10000".to_owned())]
    );
    let r = ok(&mut s, "SHOW scram_iterations");
    assert_eq!(r.columns.as_ref().unwrap()[0].name, "scram_iterations");
    assert_eq!(r.columns.as_ref().unwrap()[0].type_oid, oid::TEXT);
    assert_eq!(text_rows(&r), vec![vec!["10000".to_owned()]]);
    assert_eq!(r.tag(), Some("SHOW"));

    tag(&mut s, "SET SESSION DateStyle TO 'ISO, DMY'");
    let r = ok(&mut s, "SHOW datestyle");
    assert_eq!(r.columns.as_ref().unwrap()[0].name, "DateStyle");
    assert_eq!(text_rows(&r)[0][0], "ISO, DMY");
    tag(&mut s, "SET TIME ZONE 'Europe/Berlin'");
    assert_eq!(value(&mut s, "SHOW TimeZone"), "Europe/Berlin");
    tag(&mut s, "SET application_name = psql");
    assert_eq!(value(&mut s, "SHOW application_name"), "psql");
    tag(&mut s, "SET search_path TO \"$user\", public");
    assert_eq!(value(&mut s, "SHOW search_path"), "\"$user\", public");
    tag(&mut s, "SET extra_float_digits = 3");
    assert_eq!(value(&mut s, "SHOW extra_float_digits"), "3");
    assert_eq!(value(&mut s, "SHOW password_encryption"), "scram-sha-256");
    assert_eq!(value(&mut s, "SHOW server_version"), "16.0");
    assert_eq!(value(&mut s, "SHOW standard_conforming_strings"), "on");
    assert_eq!(value(&mut s, "SHOW integer_datetimes"), "on");
    assert_eq!(value(&mut s, "SHOW client_encoding"), "UTF8");

    let out = run(&mut s, "RESET scram_iterations");
    assert_eq!(out[0].result.as_ref().unwrap().tag(), Some("RESET"));
    assert_eq!(
        out[0].parameter_status,
        vec![("scram_iterations".to_owned(), "4096".to_owned())]
    );
    tag(&mut s, "SET application_name TO DEFAULT");
    assert_eq!(value(&mut s, "SHOW application_name"), "");
    tag(&mut s, "RESET ALL");
    assert_eq!(value(&mut s, "SHOW DateStyle"), "ISO, MDY");

    let e = err(&mut s, "SET scram_iterations = 0");
    assert_eq!(e.code, sqlstate::INVALID_PARAMETER_VALUE);
    let e = err(&mut s, "SET password_encryption = 'plain'");
    assert_eq!(
        e.message,
        "invalid value for parameter \"password_encryption\": \"plain\""
    );
    assert_eq!(
        err(&mut s, "SHOW nonsense").code,
        sqlstate::UNDEFINED_OBJECT
    );
    assert_eq!(
        err(&mut s, "SET server_version = '1'").code,
        sqlstate::CANT_CHANGE_RUNTIME_PARAM
    );
    let all = ok(&mut s, "SHOW ALL");
    assert_eq!(all.columns.unwrap().len(), 3);
    assert!(all.rows.len() > 10);
}

#[test]
fn startup_parameters_and_initial_parameter_status() {
    let db = memdb();
    let mut settings = SessionSettings::new(PasswordEncryption::Md5, 8192);
    settings.set_startup("application_name", "myapp").unwrap();
    settings.set_startup("DateStyle", "ISO").unwrap();
    settings.set_database("appdb");
    let mut s = Session::new(&db, "admin", settings).unwrap();
    let ps = s.parameter_statuses();
    let get = |n: &str| ps.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone());
    assert_eq!(get("scram_iterations").as_deref(), Some("8192"));
    assert_eq!(get("application_name").as_deref(), Some("myapp"));
    assert_eq!(get("is_superuser").as_deref(), Some("on"));
    assert_eq!(get("session_authorization").as_deref(), Some("admin"));
    assert_eq!(get("server_version").as_deref(), Some("16.0"));
    assert_eq!(value(&mut s, "SHOW password_encryption"), "md5");
    assert_eq!(value(&mut s, "SELECT current_database()"), "appdb");
    tag(&mut s, "SET application_name = 'x'");
    tag(&mut s, "RESET application_name");
    assert_eq!(value(&mut s, "SHOW application_name"), "myapp");
}

#[test]
fn set_rolls_back_with_the_transaction_and_set_local_ends_with_it() {
    let (_db, mut s) = setup();
    tag(&mut s, "BEGIN");
    tag(&mut s, "SET application_name = 'inside'");
    tag(&mut s, "ROLLBACK");
    assert_eq!(value(&mut s, "SHOW application_name"), "");
    tag(&mut s, "BEGIN");
    tag(&mut s, "SET LOCAL application_name = 'local'");
    assert_eq!(value(&mut s, "SHOW application_name"), "local");
    let out = run(&mut s, "COMMIT");
    assert!(
        out[0]
            .parameter_status
            .contains(&("application_name".to_owned(), String::new()))
    );
    assert_eq!(value(&mut s, "SHOW application_name"), "");
    let (_, notices) = ok_with_notices(&mut s, "SET LOCAL application_name = 'x'");
    assert_eq!(notices[0].code, sqlstate::NO_ACTIVE_SQL_TRANSACTION);
    assert_eq!(value(&mut s, "SHOW application_name"), "");
}

#[test]
fn regex_operators_and_ilike() {
    let (_db, mut s) = setup();
    tag(&mut s, "CREATE TABLE words (w text)");
    tag(
        &mut s,
        "INSERT INTO words VALUES ('Apple'), ('banana'), ('cherry'), ('a_b'), ('axb')",
    );
    let q = |s: &mut Session, cond: &str| {
        let mut r: Vec<String> = rows(s, &format!("SELECT w FROM words WHERE {cond}"))
            .into_iter()
            .map(|r| r[0].clone())
            .collect();
        r.sort();
        r
    };
    assert_eq!(q(&mut s, "w ~ '^a'"), vec!["a_b", "axb"]);
    assert_eq!(q(&mut s, "w ~* '^a'"), vec!["Apple", "a_b", "axb"]);
    assert_eq!(
        q(&mut s, "w !~ 'an'"),
        vec!["Apple", "a_b", "axb", "cherry"]
    );
    assert_eq!(q(&mut s, "w !~* '^a'"), vec!["banana", "cherry"]);
    assert_eq!(q(&mut s, "w LIKE 'a%'"), vec!["a_b", "axb"]);
    assert_eq!(q(&mut s, "w ILIKE 'a%'"), vec!["Apple", "a_b", "axb"]);
    assert_eq!(q(&mut s, "w NOT ILIKE 'a%'"), vec!["banana", "cherry"]);
    assert_eq!(q(&mut s, r"w LIKE 'a\_b'"), vec!["a_b"]);
    assert_eq!(q(&mut s, "w LIKE 'a_b'"), vec!["a_b", "axb"]);
    assert_eq!(q(&mut s, "w ~~* 'APPLE'"), vec!["Apple"]);
    let e = err(&mut s, "SELECT 'a' ~ '('");
    assert_eq!(e.code, sqlstate::INVALID_REGULAR_EXPRESSION);
    assert_eq!(
        columns(&mut s, "SELECT 'a' ~ 'a'"),
        vec![("?column?".to_owned(), oid::BOOL)]
    );
}

#[test]
fn literals_are_never_rewritten() {
    let (_db, mut s) = setup();
    assert_eq!(
        value(&mut s, "SELECT 'x ~ y::int $1 current_user ILIKE true'"),
        "x ~ y::int $1 current_user ILIKE true"
    );
    assert_eq!(value(&mut s, "SELECT E'tab\\there'"), "tab\there");
    assert_eq!(value(&mut s, "SELECT $$it's ~ $1$$"), "it's ~ $1");
    assert_eq!(value(&mut s, r"SELECT 'back\slash'"), r"back\slash");
    assert_eq!(value(&mut s, "SELECT 'a' /* ~ */ || 'b' -- ~ \n"), "ab");
    tag(&mut s, "CREATE TABLE \"odd::name\" (\"col ~ x\" text)");
    tag(&mut s, "INSERT INTO \"odd::name\" VALUES ('$1')");
    assert_eq!(value(&mut s, "SELECT \"col ~ x\" FROM \"odd::name\""), "$1");
}

#[test]
fn casts_and_result_types() {
    let (_db, mut s) = setup();
    let r = ok(
        &mut s,
        "SELECT 1, 1::bigint, '42'::int, 'yes'::boolean, 2.5::float8, '3'::numeric, 'x'::text, 1 = 1, true, count(*), now(), current_user, version()",
    );
    let cols: Vec<(String, u32)> = r
        .columns
        .clone()
        .unwrap()
        .into_iter()
        .map(|c| (c.name, c.type_oid))
        .collect();
    assert_eq!(
        cols,
        vec![
            ("?column?".to_owned(), oid::INT4),
            ("int8".to_owned(), oid::INT8),
            ("int4".to_owned(), oid::INT4),
            ("bool".to_owned(), oid::BOOL),
            ("float8".to_owned(), oid::FLOAT8),
            ("numeric".to_owned(), oid::NUMERIC),
            ("text".to_owned(), oid::TEXT),
            ("?column?".to_owned(), oid::BOOL),
            ("bool".to_owned(), oid::BOOL),
            ("count".to_owned(), oid::INT8),
            ("now".to_owned(), oid::TIMESTAMPTZ),
            ("current_user".to_owned(), oid::NAME),
            ("version".to_owned(), oid::TEXT),
        ]
    );
    let row = &text_rows(&r)[0];
    assert_eq!(
        &row[..10],
        &["1", "1", "42", "t", "2.5", "3", "x", "t", "t", "1"]
    );
    assert!(row[10].ends_with("+00"), "{}", row[10]);
    assert_eq!(row[11], "admin");
    assert!(row[12].starts_with("PostgreSQL 16"));
    assert_eq!(value(&mut s, "SELECT CAST('7' AS integer) + 1"), "8");
    assert_eq!(value(&mut s, "SELECT '\\x414243'::bytea"), "\\x414243");
    assert_eq!(value(&mut s, "SELECT 'abc'::varchar(2)"), "ab");
    assert_eq!(
        value(&mut s, "SELECT '2030-01-01T12:00:00Z'::timestamptz"),
        "2030-01-01 12:00:00+00"
    );
    assert_eq!(
        value(&mut s, "SELECT 1.0::float8 / 3"),
        "0.3333333333333333"
    );
    let e = err(&mut s, "SELECT 'abc'::int");
    assert_eq!(e.code, sqlstate::INVALID_TEXT_REPRESENTATION);
    assert_eq!(e.message, "invalid input syntax for type integer: \"abc\"");
    let e = err(&mut s, "SELECT 'maybe'::bool");
    assert_eq!(
        e.message,
        "invalid input syntax for type boolean: \"maybe\""
    );
    assert_eq!(
        err(&mut s, "SELECT 40000::smallint").message,
        "smallint out of range"
    );
    // An OID no relation has prints as the number, as in PostgreSQL.
    assert_eq!(value(&mut s, "SELECT 1::regclass"), "1");
    assert_eq!(value(&mut s, "SELECT session_user"), "admin");
    assert_eq!(
        value(&mut s, "SELECT pg_catalog.current_database()"),
        "postgres"
    );
}

#[test]
fn postgres_types_in_create_table() {
    let (_db, mut s) = setup();
    assert_eq!(
        tag(
            &mut s,
            "CREATE TABLE items (id serial PRIMARY KEY, name varchar(40) NOT NULL, qty integer DEFAULT 0, \
             big bigint, ok boolean DEFAULT false, price numeric(10,2), ratio double precision, \
             data bytea, made timestamptz DEFAULT now(), note text)"
        ),
        "CREATE TABLE"
    );
    assert_eq!(
        tag(
            &mut s,
            "INSERT INTO items (name, big, ok, price, ratio, data) VALUES ('a', 9000000000, true, 1.5, 0.25, '\\x00ff'::bytea)"
        ),
        "INSERT 0 1"
    );
    assert_eq!(
        tag(&mut s, "INSERT INTO items (name) VALUES ('b'), ('c')"),
        "INSERT 0 2"
    );
    let r = ok(&mut s, "SELECT * FROM items ORDER BY id");
    let types: Vec<u32> = r
        .columns
        .clone()
        .unwrap()
        .iter()
        .map(|c| c.type_oid)
        .collect();
    assert_eq!(
        types,
        vec![
            oid::INT4,
            oid::VARCHAR,
            oid::INT4,
            oid::INT8,
            oid::BOOL,
            oid::NUMERIC,
            oid::FLOAT8,
            oid::BYTEA,
            oid::TIMESTAMPTZ,
            oid::TEXT
        ]
    );
    let first = &text_rows(&r)[0];
    assert_eq!(
        &first[..8],
        &["1", "a", "0", "9000000000", "t", "1.5", "0.25", "\\x00ff"]
    );
    assert!(first[8].ends_with("+00"));
    assert_eq!(text_rows(&r)[1][4], "f");
    assert_eq!(
        tag(&mut s, "UPDATE items SET qty = qty + 1 WHERE id > 1"),
        "UPDATE 2"
    );
    assert_eq!(
        tag(&mut s, "DELETE FROM items WHERE name = 'c'"),
        "DELETE 1"
    );
    let r = ok(
        &mut s,
        "INSERT INTO items (name) VALUES ('d') RETURNING id, name",
    );
    assert_eq!(text_rows(&r), vec![vec!["4".to_owned(), "d".to_owned()]]);
    assert_eq!(r.tag(), Some("INSERT 0 1"));
    assert_eq!(tag(&mut s, "TRUNCATE items"), "TRUNCATE TABLE");
    assert_eq!(
        tag(&mut s, "CREATE INDEX items_name ON items (name)"),
        "CREATE INDEX"
    );
    assert_eq!(
        tag(&mut s, "ALTER TABLE items ADD COLUMN flag boolean"),
        "ALTER TABLE"
    );
    assert_eq!(tag(&mut s, "DROP TABLE items"), "DROP TABLE");
    let e = err(&mut s, "SELECT * FROM items");
    assert_eq!(e.code, sqlstate::UNDEFINED_TABLE);
    assert_eq!(e.message, "relation \"items\" does not exist");
    tag(&mut s, "CREATE TABLE u (k int UNIQUE NOT NULL)");
    tag(&mut s, "INSERT INTO u VALUES (1)");
    assert_eq!(
        err(&mut s, "INSERT INTO u VALUES (1)").code,
        sqlstate::UNIQUE_VIOLATION
    );
    assert_eq!(
        err(&mut s, "INSERT INTO u VALUES (NULL)").code,
        sqlstate::NOT_NULL_VIOLATION
    );
    assert_eq!(
        err(&mut s, "SELECT nosuchcol FROM u").code,
        sqlstate::UNDEFINED_COLUMN
    );
    let e = err(&mut s, "SELEC 1");
    assert_eq!(e.code, sqlstate::SYNTAX_ERROR);
    assert_eq!(e.message, "syntax error at or near \"SELEC\"");
    assert_eq!(
        err(&mut s, "SELECT FROM WHERE").code,
        sqlstate::SYNTAX_ERROR
    );
}

#[test]
fn extended_protocol_with_parameters() {
    let (_db, mut s) = setup();
    tag(
        &mut s,
        "CREATE TABLE kv (k integer PRIMARY KEY, v text, flag boolean)",
    );
    let ins = s
        .prepare(
            "INSERT INTO kv VALUES ($1, $2, $3)",
            &[oid::INT4, 0, oid::BOOL],
        )
        .unwrap();
    assert_eq!(ins.param_types, vec![oid::INT4, oid::TEXT, oid::BOOL]);
    assert!(ins.columns.is_empty());
    for (k, v, f) in [
        ("1", "one", "t"),
        ("2", "two", "false"),
        ("3", "three", "yes"),
    ] {
        let out = s.execute(&ins, &[Some(k.into()), Some(v.into()), Some(f.into())], 0);
        assert_eq!(
            out.result.unwrap().completion,
            Completion::Tag("INSERT 0 1".into())
        );
        assert!(s.sync().is_none());
    }
    let out = s.execute(&ins, &[Some(b"4".to_vec()), None, Some(b"nah".to_vec())], 0);
    let e = out.result.unwrap_err();
    assert_eq!(e.code, sqlstate::INVALID_TEXT_REPRESENTATION);
    assert!(s.sync().is_none());

    let sel = s
        .prepare(
            "SELECT k, v, flag FROM kv WHERE k >= $1::int4 ORDER BY k",
            &[],
        )
        .unwrap();
    assert_eq!(sel.param_types, vec![oid::INT4]);
    assert_eq!(
        sel.columns
            .iter()
            .map(|c| (c.name.as_str(), c.type_oid))
            .collect::<Vec<_>>(),
        vec![("k", oid::INT4), ("v", oid::TEXT), ("flag", oid::BOOL)]
    );
    let mut portal = s.bind(&sel, &[Some(b"2".to_vec())]).unwrap();
    let first = s.execute_portal(&mut portal, 1).result.unwrap();
    assert_eq!(first.completion, Completion::Suspended);
    assert_eq!(text_rows(&first), vec![vec!["2", "two", "f"]]);
    let rest = s.execute_portal(&mut portal, 0).result.unwrap();
    assert_eq!(rest.completion, Completion::Tag("SELECT 2".into()));
    assert_eq!(text_rows(&rest), vec![vec!["3", "three", "t"]]);
    assert!(s.sync().is_none());

    let e = s.bind(&sel, &[]).unwrap_err();
    assert_eq!(e.code, sqlstate::PROTOCOL_VIOLATION);
    assert_eq!(
        e.message,
        "bind message supplies 0 parameters, but prepared statement requires 1"
    );
    let e = s.prepare("SELECT 1; SELECT 2", &[]).unwrap_err();
    assert_eq!(
        e.message,
        "cannot insert multiple commands into a prepared statement"
    );
    let e = s.bind(&sel, &[Some(b"x".to_vec())]).unwrap_err();
    assert_eq!(e.message, "invalid input syntax for type integer: \"x\"");
    // Parameters are not allowed in the simple protocol.
    assert_eq!(err(&mut s, "SELECT $1").code, sqlstate::UNDEFINED_PARAMETER);
    // SQLite-only parameter spellings are refused, not bound as NULL.
    assert!(s.prepare("SELECT :name", &[]).is_err());
    // Utility statements work through the extended protocol too (JDBC sends BEGIN/SET).
    let show = s.prepare("SHOW scram_iterations", &[]).unwrap();
    assert_eq!(show.columns[0].name, "scram_iterations");
    let out = s.execute(&show, &[], 0).result.unwrap();
    assert_eq!(text_rows(&out), vec![vec!["4096"]]);
    // A prepared statement whose table changes shape fails like PostgreSQL's plan check.
    let star = s.prepare("SELECT * FROM kv", &[]).unwrap();
    assert!(s.sync().is_none());
    tag(&mut s, "ALTER TABLE kv ADD COLUMN extra text");
    let e = s.execute(&star, &[], 0).result.unwrap_err();
    assert_eq!(e.message, "cached plan must not change result type");
    assert!(s.sync().is_none());
    let empty = s.prepare("", &[]).unwrap();
    assert_eq!(
        s.execute(&empty, &[], 0).result.unwrap().completion,
        Completion::EmptyQuery
    );
}

#[test]
fn untyped_parameters_take_the_type_of_their_column() {
    let (_db, mut s) = setup();
    tag(
        &mut s,
        "CREATE TABLE acct (id bigint PRIMARY KEY, owner text, active boolean, joined timestamptz)",
    );
    let ins = s
        .prepare(
            "INSERT INTO acct (id, owner, active, joined) VALUES ($1, $2, $3, $4)",
            &[],
        )
        .unwrap();
    assert_eq!(
        ins.param_types,
        vec![oid::INT8, oid::TEXT, oid::BOOL, oid::TIMESTAMPTZ]
    );
    let out = s.execute(
        &ins,
        &[
            Some(b"7".to_vec()),
            Some(b"ann".to_vec()),
            Some(b"t".to_vec()),
            Some(b"2030-01-01 00:00:00+00".to_vec()),
        ],
        0,
    );
    assert!(out.result.is_ok(), "{:?}", out.result);
    assert!(s.sync().is_none());
    let sel = s
        .prepare(
            "SELECT a.owner FROM acct a WHERE a.id = $1 AND $2 = active LIMIT $3",
            &[],
        )
        .unwrap();
    assert_eq!(sel.param_types, vec![oid::INT8, oid::BOOL, oid::INT8]);
    let out = s.execute(
        &sel,
        &[
            Some(b"7".to_vec()),
            Some(b"true".to_vec()),
            Some(b"1".to_vec()),
        ],
        0,
    );
    assert_eq!(text_rows(&out.result.unwrap()), vec![vec!["ann"]]);
    let upd = s
        .prepare("UPDATE acct SET active = $1 WHERE owner = $2", &[])
        .unwrap();
    assert_eq!(upd.param_types, vec![oid::BOOL, oid::TEXT]);
    let roles = s
        .prepare(
            "SELECT rolname FROM pg_roles WHERE rolname = $1 AND rolcanlogin = $2",
            &[],
        )
        .unwrap();
    assert_eq!(roles.param_types, vec![oid::NAME, oid::BOOL]);
    // Nothing to go by: text.
    let free = s.prepare("SELECT $1 || 'x'", &[]).unwrap();
    assert_eq!(free.param_types, vec![oid::TEXT]);
    assert!(s.sync().is_none());
}

#[test]
fn extended_batch_is_one_implicit_transaction_until_sync() {
    let (db, mut s) = setup();
    tag(&mut s, "CREATE TABLE t (x int)");
    let ins = s
        .prepare("INSERT INTO t VALUES ($1)", &[oid::INT4])
        .unwrap();
    assert!(s.execute(&ins, &[Some(b"1".to_vec())], 0).result.is_ok());
    let mut other = session(&db, "admin");
    assert_eq!(
        value(&mut other, "SELECT count(*) FROM t"),
        "0",
        "not visible before Sync"
    );
    assert_eq!(s.transaction_status(), TransactionStatus::Idle);
    assert!(s.sync().is_none());
    assert_eq!(value(&mut other, "SELECT count(*) FROM t"), "1");
    // An error rolls back the whole batch.
    assert!(s.execute(&ins, &[Some(b"2".to_vec())], 0).result.is_ok());
    assert!(
        s.execute(&ins, &[Some(b"oops".to_vec())], 0)
            .result
            .is_err()
    );
    assert!(s.sync().is_none());
    assert_eq!(value(&mut other, "SELECT count(*) FROM t"), "1");
}

#[test]
fn failed_transaction_semantics() {
    let (_db, mut s) = setup();
    tag(&mut s, "CREATE TABLE t (x int)");
    assert_eq!(s.transaction_status(), TransactionStatus::Idle);
    assert_eq!(tag(&mut s, "BEGIN"), "BEGIN");
    assert_eq!(s.transaction_status(), TransactionStatus::InBlock);
    tag(&mut s, "INSERT INTO t VALUES (1)");
    let e = err(&mut s, "SELECT * FROM missing");
    assert_eq!(e.code, sqlstate::UNDEFINED_TABLE);
    assert_eq!(s.transaction_status(), TransactionStatus::Failed);
    let e = err(&mut s, "SELECT 1");
    assert_eq!(e.code, sqlstate::IN_FAILED_SQL_TRANSACTION);
    assert_eq!(
        e.message,
        "current transaction is aborted, commands ignored until end of transaction block"
    );
    assert_eq!(
        err(&mut s, "SET application_name = 'x'").code,
        sqlstate::IN_FAILED_SQL_TRANSACTION
    );
    assert_eq!(
        s.prepare("SELECT 1", &[]).unwrap_err().code,
        sqlstate::IN_FAILED_SQL_TRANSACTION
    );
    // COMMIT of a failed block rolls back.
    assert_eq!(tag(&mut s, "COMMIT"), "ROLLBACK");
    assert_eq!(s.transaction_status(), TransactionStatus::Idle);
    assert_eq!(value(&mut s, "SELECT count(*) FROM t"), "0");

    // Warnings for stray BEGIN/COMMIT/ROLLBACK.
    let (_, n) = ok_with_notices(&mut s, "COMMIT");
    assert_eq!(n[0].code, sqlstate::NO_ACTIVE_SQL_TRANSACTION);
    assert_eq!(n[0].message, "there is no transaction in progress");
    let (r, n) = ok_with_notices(&mut s, "ROLLBACK");
    assert_eq!(r.tag(), Some("ROLLBACK"));
    assert_eq!(n[0].code, sqlstate::NO_ACTIVE_SQL_TRANSACTION);
    tag(&mut s, "START TRANSACTION");
    let (r, n) = ok_with_notices(&mut s, "BEGIN");
    assert_eq!(r.tag(), Some("BEGIN"));
    assert_eq!(n[0].code, sqlstate::ACTIVE_SQL_TRANSACTION);
    assert_eq!(n[0].message, "there is already a transaction in progress");
    tag(&mut s, "INSERT INTO t VALUES (2)");
    assert_eq!(tag(&mut s, "END"), "COMMIT");
    assert_eq!(value(&mut s, "SELECT count(*) FROM t"), "1");

    // Savepoints recover a failed block.
    tag(&mut s, "BEGIN");
    tag(&mut s, "SAVEPOINT sp");
    tag(&mut s, "INSERT INTO t VALUES (3)");
    err(&mut s, "INSERT INTO nope VALUES (1)");
    assert_eq!(s.transaction_status(), TransactionStatus::Failed);
    assert_eq!(tag(&mut s, "ROLLBACK TO SAVEPOINT sp"), "ROLLBACK");
    assert_eq!(s.transaction_status(), TransactionStatus::InBlock);
    tag(&mut s, "INSERT INTO t VALUES (4)");
    assert_eq!(tag(&mut s, "RELEASE sp"), "RELEASE");
    tag(&mut s, "COMMIT");
    assert_eq!(
        value(&mut s, "SELECT string_agg(x::text, ',') FROM t"),
        "2,4"
    );
    assert_eq!(
        err(&mut s, "SAVEPOINT x").code,
        sqlstate::NO_ACTIVE_SQL_TRANSACTION
    );
}

#[test]
fn multi_statement_strings_stop_at_the_first_error_and_run_as_one_transaction() {
    let (_db, mut s) = setup();
    tag(&mut s, "CREATE TABLE t (x int)");
    let out = run(
        &mut s,
        "INSERT INTO t VALUES (1); SELECT * FROM missing; INSERT INTO t VALUES (2)",
    );
    assert_eq!(out.len(), 2);
    assert!(out[0].result.is_ok());
    assert_eq!(
        out[1].result.as_ref().unwrap_err().code,
        sqlstate::UNDEFINED_TABLE
    );
    assert_eq!(
        value(&mut s, "SELECT count(*) FROM t"),
        "0",
        "implicit transaction rolled back"
    );
    assert_eq!(s.transaction_status(), TransactionStatus::Idle);

    let out = run(&mut s, "INSERT INTO t VALUES (1); SELECT count(*) FROM t;");
    assert_eq!(out.len(), 2);
    assert_eq!(text_rows(out[1].result.as_ref().unwrap()), vec![vec!["1"]]);
    // BEGIN inside the string opens a real block that outlives it.
    let out = run(&mut s, "BEGIN; INSERT INTO t VALUES (5)");
    assert_eq!(out.len(), 2);
    assert_eq!(s.transaction_status(), TransactionStatus::InBlock);
    tag(&mut s, "ROLLBACK");
    assert_eq!(value(&mut s, "SELECT count(*) FROM t"), "1");

    let out = run(&mut s, "");
    assert_eq!(
        out[0].result.as_ref().unwrap().completion,
        Completion::EmptyQuery
    );
    let out = run(&mut s, " ; -- nothing\n");
    assert_eq!(
        out[0].result.as_ref().unwrap().completion,
        Completion::EmptyQuery
    );
    let out = run(&mut s, "SELECT 'unterminated");
    assert_eq!(
        out[0].result.as_ref().unwrap_err().code,
        sqlstate::SYNTAX_ERROR
    );
}

#[test]
fn role_ddl_mixes_with_sql_in_one_transaction() {
    let (db, mut s) = setup();
    let out = run(&mut s, "CREATE ROLE t1; CREATE ROLE t1");
    assert_eq!(out.len(), 2);
    assert_eq!(
        out[1].result.as_ref().unwrap_err().code,
        sqlstate::DUPLICATE_OBJECT
    );
    assert!(
        db.role("t1").unwrap().is_none(),
        "the whole string rolled back"
    );
}

#[test]
fn read_only_transactions_refuse_writes() {
    let (_db, mut s) = setup();
    tag(&mut s, "CREATE TABLE t (x int)");
    tag(&mut s, "BEGIN READ ONLY");
    assert_eq!(value(&mut s, "SELECT count(*) FROM t"), "0");
    let e = err(&mut s, "INSERT INTO t VALUES (1)");
    assert_eq!(e.code, sqlstate::READ_ONLY_SQL_TRANSACTION);
    tag(&mut s, "ROLLBACK");
    assert_eq!(tag(&mut s, "INSERT INTO t VALUES (1)"), "INSERT 0 1");
}

#[test]
fn cancel_and_statement_timeout_stop_long_queries() {
    let (_db, mut s) = setup();
    let slow = "WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c WHERE n < 100000000) SELECT count(*) FROM c";
    tag(&mut s, "SET statement_timeout = 50");
    let e = err(&mut s, slow);
    assert_eq!(e.code, sqlstate::QUERY_CANCELED);
    assert_eq!(e.message, "canceling statement due to statement timeout");
    tag(&mut s, "RESET statement_timeout");
    let handle = s.cancel_handle();
    let t = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_millis(50));
        handle.cancel();
    });
    let e = err(&mut s, slow);
    t.join().unwrap();
    assert_eq!(e.message, "canceling statement due to user request");
    assert_eq!(value(&mut s, "SELECT 1"), "1");
}

#[test]
fn discard_all_resets_settings() {
    let (_db, mut s) = setup();
    tag(&mut s, "SET application_name = 'pool'");
    assert_eq!(tag(&mut s, "DISCARD ALL"), "DISCARD ALL");
    assert_eq!(value(&mut s, "SHOW application_name"), "");
    tag(&mut s, "BEGIN");
    assert_eq!(
        err(&mut s, "DISCARD ALL").code,
        sqlstate::ACTIVE_SQL_TRANSACTION
    );
    tag(&mut s, "ROLLBACK");
    assert_eq!(tag(&mut s, "DEALLOCATE ALL"), "DEALLOCATE ALL");
}

#[test]
fn sqlite_escape_hatches_are_closed() {
    let (_db, mut s) = setup();
    assert_eq!(
        err(&mut s, "ATTACH DATABASE '/tmp/x.db' AS x").code,
        sqlstate::FEATURE_NOT_SUPPORTED
    );
    assert_eq!(
        err(&mut s, "PRAGMA writable_schema = 1").code,
        sqlstate::FEATURE_NOT_SUPPORTED
    );
    // Not PostgreSQL syntax either: refused by the parser, as PostgreSQL does.
    assert_eq!(
        err(&mut s, "VACUUM INTO '/tmp/copy.db'").code,
        sqlstate::SYNTAX_ERROR
    );
    let e = err(&mut s, "SELECT * FROM pragma_table_info('pgscram_roles')");
    assert_eq!(e.code, sqlstate::INSUFFICIENT_PRIVILEGE);
}
