//! psql 15's meta-commands on the embedded session: the exact queries psql 15.18 sends
//! (captured with `psql -E` against PostgreSQL 15.18, in `tests/psql15/*.sql`) run here
//! and return what PostgreSQL 15 returns for the same objects.
//!
//! The roles and table are the ones the fixtures were captured with:
//! `tests/psql15/du.pg15.out` is PostgreSQL 15.18's answer to `\du`'s query for them.

mod common;

use common::*;
use pgscram_embedded::{Database, Session, SessionSettings};

/// The same objects the PostgreSQL 15 side had when the fixtures were captured.
fn setup() -> (Database, Session) {
    let db = Database::open_in_memory().expect("open");
    assert!(db.bootstrap_superuser("postgres", None).expect("bootstrap"));
    let mut s = Session::new(&db, "postgres", SessionSettings::default()).expect("session");
    for sql in [
        "CREATE ROLE alice LOGIN PASSWORD 'x' VALID UNTIL '2031-02-03 04:05:06+00' CREATEDB",
        "CREATE ROLE staff NOLOGIN",
        "CREATE ROLE bob LOGIN CREATEROLE CONNECTION LIMIT 3",
        "CREATE ROLE carol SUPERUSER REPLICATION BYPASSRLS NOINHERIT LOGIN",
        "GRANT staff TO alice",
        "GRANT staff TO bob",
        "CREATE TABLE users (id serial PRIMARY KEY, name text NOT NULL, email varchar(100), active boolean DEFAULT true)",
        "CREATE INDEX users_name_idx ON users (name)",
    ] {
        tag(&mut s, sql);
    }
    (db, s)
}

/// The meta-commands whose queries are in `tests/psql15/`, by fixture file.
const META_COMMANDS: &[(&str, &str)] = &[
    ("\\du", "du"),
    ("\\dg", "dg"),
    ("\\du+", "du_plus"),
    ("\\l", "l"),
    ("\\dt", "dt"),
    ("\\d", "d"),
    ("\\d users", "d_users"),
    ("\\dn", "dn"),
    ("\\dp", "dp"),
    ("\\ddp", "ddp"),
    ("\\df", "df"),
    ("\\dv", "dv"),
    ("\\di", "di"),
    ("\\ds", "ds"),
    ("\\dx", "dx"),
    ("\\dconfig password*", "dconfig_password"),
    ("\\drds", "drds"),
    ("\\da", "da"),
    ("\\dA", "d_am"),
    ("\\dAc", "d_ac"),
    ("\\dAf", "d_af"),
    ("\\dAo", "d_ao"),
    ("\\dAp", "d_ap"),
    ("\\db", "db"),
    ("\\dc", "dc"),
    ("\\dC", "d_c"),
    ("\\dd", "dd"),
    ("\\dD", "d_d"),
    ("\\dE", "d_e"),
    ("\\des", "des"),
    ("\\det", "det"),
    ("\\deu", "deu"),
    ("\\dew", "dew"),
    ("\\dF", "d_f"),
    ("\\dFd", "d_fd"),
    ("\\dFp", "d_fp"),
    ("\\dFt", "d_ft"),
    ("\\dl", "dl"),
    ("\\dL", "d_l"),
    ("\\dm", "dm"),
    ("\\do", "do"),
    ("\\dO", "d_o"),
    ("\\dP", "d_p"),
    ("\\dRp", "d_rp"),
    ("\\dRs", "d_rs"),
    ("\\dS", "d_s"),
    ("\\dT", "d_t"),
    ("\\dX", "d_x"),
    ("\\dy", "dy"),
    ("\\dconfig", "dconfig"),
    ("\\d+ users", "d_plus_users"),
    ("\\dt+", "dt_plus"),
    ("\\dn+", "dn_plus"),
    ("\\dx+", "dx_plus"),
    ("\\l+", "l_plus"),
];

fn fixture(name: &str) -> Vec<String> {
    let path = format!("{}/tests/psql15/{name}.sql", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).expect("fixture");
    text.split("-- query\n")
        .skip(1)
        .map(|q| q.trim().to_owned())
        .collect()
}

/// Runs one meta-command's queries as psql does (later queries take the OID the first
/// one found). Returns the rows of each query, or the first error.
fn meta(s: &mut Session, name: &str) -> Result<Vec<Vec<Vec<String>>>, String> {
    let mut oid = String::new();
    let mut out = Vec::new();
    for q in fixture(name) {
        let q = q.replace("{oid}", &oid);
        let mut outcomes = s.simple_query(&q);
        let outcome = outcomes.pop().expect("one outcome");
        let result = outcome
            .result
            .map_err(|e| format!("{}: {}\n{q}", e.code.as_str(), e.message))?;
        let rows = text_rows(&result);
        if oid.is_empty()
            && let Some(first) = rows.first()
        {
            oid = first[0].clone();
        }
        out.push(rows);
    }
    Ok(out)
}

#[test]
fn every_listed_meta_command_runs() {
    let (_db, mut s) = setup();
    let mut failed = Vec::new();
    for (cmd, file) in META_COMMANDS {
        if let Err(e) = meta(&mut s, file) {
            failed.push(format!("{cmd}: {e}"));
        }
    }
    assert!(
        failed.is_empty(),
        "failing meta-commands:\n{}",
        failed.join("\n\n")
    );
}

#[test]
fn du_returns_what_postgresql_15_returns() {
    let (_db, mut s) = setup();
    let ours = meta(&mut s, "du").expect("\\du");
    let ours: Vec<String> = ours[0]
        .iter()
        .map(|r| {
            r.iter()
                .map(|v| if v == "NULL" { "" } else { v.as_str() })
                .collect::<Vec<_>>()
                .join("|")
        })
        .collect();
    let path = format!("{}/tests/psql15/du.pg15.out", env!("CARGO_MANIFEST_DIR"));
    let pg = std::fs::read_to_string(path).expect("expected output");
    let pg: Vec<&str> = pg.lines().skip(1).filter(|l| !l.starts_with('(')).collect();
    assert_eq!(ours, pg);
}

#[test]
fn d_users_describes_columns_and_indexes() {
    let (_db, mut s) = setup();
    let out = meta(&mut s, "d_users").expect("\\d users");
    assert_eq!(out[0].len(), 1, "one table found: {:?}", out[0]);
    assert_eq!(out[0][0][1..], ["public", "users"]);
    // Columns: name, type, default, not null.
    let cols: Vec<(String, String, String, String)> = out[2]
        .iter()
        .map(|r| (r[0].clone(), r[1].clone(), r[2].clone(), r[3].clone()))
        .collect();
    assert_eq!(
        cols,
        vec![
            (
                "id".into(),
                "integer".into(),
                "nextval('users_id_seq'::regclass)".into(),
                "t".into()
            ),
            ("name".into(), "text".into(), "NULL".into(), "t".into()),
            (
                "email".into(),
                "character varying(100)".into(),
                "NULL".into(),
                "f".into()
            ),
            ("active".into(), "boolean".into(), "true".into(), "f".into()),
        ]
    );
    // Indexes: the primary key first, then by name.
    let idx: Vec<(String, String, String)> = out[3]
        .iter()
        .map(|r| (r[0].clone(), r[1].clone(), r[5].clone()))
        .collect();
    assert_eq!(
        idx,
        vec![
            (
                "users_pkey".into(),
                "t".into(),
                "CREATE UNIQUE INDEX users_pkey ON users USING btree (id)".into()
            ),
            (
                "users_name_idx".into(),
                "f".into(),
                "CREATE INDEX users_name_idx ON users USING btree (name)".into()
            ),
        ]
    );
}

#[test]
fn l_dn_and_dt_list_the_database_schema_and_table() {
    let (_db, mut s) = setup();
    let l = meta(&mut s, "l").expect("\\l");
    let names: Vec<&str> = l[0].iter().map(|r| r[0].as_str()).collect();
    assert_eq!(names, ["postgres", "template0", "template1"]);
    assert_eq!(l[0][0][1..3], ["postgres", "UTF8"]);
    let dn = meta(&mut s, "dn").expect("\\dn");
    assert_eq!(
        dn[0],
        vec![vec!["public".to_owned(), "pg_database_owner".to_owned()]]
    );
    let dt = meta(&mut s, "dt").expect("\\dt");
    assert_eq!(
        dt[0],
        vec![vec![
            "public".to_owned(),
            "users".to_owned(),
            "table".to_owned(),
            "postgres".to_owned()
        ]]
    );
}

#[test]
fn predefined_roles_exist_and_can_be_granted() {
    let (db, mut s) = setup();
    tag(&mut s, "GRANT pg_read_all_data TO alice");
    tag(&mut s, "GRANT pg_monitor TO bob");
    assert!(db.is_member("alice", "pg_read_all_data").unwrap());
    assert!(db.is_member("bob", "pg_read_all_settings").unwrap());
    assert_eq!(
        value(
            &mut s,
            "SELECT pg_has_role('bob', 'pg_read_all_stats', 'MEMBER')"
        ),
        "t"
    );
    assert_eq!(
        value(
            &mut s,
            "SELECT pg_has_role('alice', 'pg_monitor', 'MEMBER')"
        ),
        "f"
    );
    // The two-argument form asks about the current user (a superuser here).
    assert_eq!(
        value(&mut s, "SELECT pg_has_role('pg_monitor', 'USAGE')"),
        "t"
    );
    assert_eq!(
        err(&mut s, "DROP ROLE pg_monitor").code,
        pgscram_embedded::sqlstate::DEPENDENT_OBJECTS_STILL_EXIST
    );
    assert_eq!(
        err(&mut s, "ALTER ROLE pg_monitor LOGIN").code,
        pgscram_embedded::sqlstate::RESERVED_NAME
    );
    // \du hides them, as PostgreSQL's does; the API's role list is the created roles.
    assert_eq!(meta(&mut s, "du").unwrap()[0].len(), 5);
    assert!(
        db.roles()
            .unwrap()
            .iter()
            .all(|r| !r.name.starts_with("pg_"))
    );
    let names = rows(
        &mut s,
        "SELECT rolname FROM pg_roles WHERE rolname ~ '^pg_' ORDER BY 1",
    );
    assert_eq!(names.len(), 12, "{names:?}");
}

#[test]
fn comments_on_roles_and_tables_show_in_du_plus_and_obj_description() {
    let (_db, mut s) = setup();
    assert_eq!(
        tag(&mut s, "COMMENT ON ROLE alice IS 'migrated 2026'"),
        "COMMENT"
    );
    // Through the extended protocol too.
    let p = s
        .prepare("COMMENT ON TABLE users IS 'people'", &[])
        .unwrap();
    assert!(s.execute(&p, &[], 0).result.is_ok());
    assert!(s.sync().is_none());
    let du = meta(&mut s, "du_plus").expect("\\du+");
    let alice = du[0].iter().find(|r| r[0] == "alice").expect("alice");
    assert_eq!(alice[9], "migrated 2026");
    assert_eq!(
        value(
            &mut s,
            "SELECT obj_description('users'::regclass, 'pg_class')"
        ),
        "people"
    );
    tag(&mut s, "COMMENT ON ROLE alice IS NULL");
    let du = meta(&mut s, "du_plus").expect("\\du+");
    let alice = du[0].iter().find(|r| r[0] == "alice").expect("alice");
    assert_eq!(alice[9], "NULL");
}

#[test]
fn expressions_have_postgresql_types() {
    let (_db, mut s) = setup();
    let cols = columns(
        &mut s,
        "SELECT true, 1+1, now(), 'x', 1.5, count(*), array_agg(rolname), current_setting('password_encryption') FROM pg_roles",
    );
    let oids: Vec<u32> = cols.iter().map(|c| c.1).collect();
    assert_eq!(oids, vec![16, 23, 1184, 25, 1700, 20, 1003, 25]);
    assert_eq!(value(&mut s, "SELECT true"), "t");
    assert_eq!(value(&mut s, "SELECT 2 ^ 3"), "8");
    assert_eq!(value(&mut s, "SELECT split_part('a.b.c', '.', 2)"), "b");
    assert_eq!(
        value(&mut s, "SELECT current_setting('password_encryption')"),
        "scram-sha-256"
    );
    assert_eq!(
        value(
            &mut s,
            "SELECT has_database_privilege('postgres', 'CONNECT')"
        ),
        "t"
    );
    assert!(!_db.take_reload_request());
    assert_eq!(value(&mut s, "SELECT pg_reload_conf()"), "t");
    assert!(_db.take_reload_request(), "the server sees the request");
    assert!(!_db.take_reload_request(), "once");
    let mut alice = Session::new(&_db, "alice", SessionSettings::default()).unwrap();
    assert_eq!(
        err(&mut alice, "SELECT pg_reload_conf()").code,
        pgscram_embedded::sqlstate::INSUFFICIENT_PRIVILEGE
    );
    assert_eq!(
        value(
            &mut s,
            "SELECT array_agg(rolname ORDER BY rolname) FROM pg_roles WHERE rolname IN ('bob', 'alice')"
        ),
        "{alice,bob}"
    );
    assert_eq!(
        value(&mut s, "SELECT 'bob' = ANY(ARRAY['alice', 'bob'])"),
        "t"
    );
    assert_eq!(
        value(&mut s, "SELECT datname FROM pg_database WHERE datallowconn"),
        "postgres"
    );
    assert_eq!(value(&mut s, "SELECT count(*) FROM pg_stat_activity"), "1");
    assert_eq!(value(&mut s, "SELECT ssl FROM pg_stat_ssl"), "f");
    s.set_connection_info(pgscram_embedded::ConnectionInfo {
        client_addr: Some("127.0.0.1".into()),
        client_port: Some(50000),
        tls: Some(pgscram_embedded::TlsInfo {
            version: "TLSv1.3".into(),
            cipher: "TLS_AES_256_GCM_SHA384".into(),
            bits: 256,
        }),
    });
    assert_eq!(
        rows(
            &mut s,
            "SELECT ssl, version, cipher, bits FROM pg_stat_ssl WHERE pid = pg_backend_pid()"
        ),
        vec![vec![
            "t".to_owned(),
            "TLSv1.3".to_owned(),
            "TLS_AES_256_GCM_SHA384".to_owned(),
            "256".to_owned()
        ]]
    );
    assert_eq!(
        value(&mut s, "SELECT client_port FROM pg_stat_activity"),
        "50000"
    );
}

#[test]
fn untyped_literals_take_the_column_type_on_insert() {
    let (_db, mut s) = setup();
    tag(
        &mut s,
        "INSERT INTO users (name, active) VALUES ('ann', 'f')",
    );
    tag(&mut s, "UPDATE users SET active = 'yes' WHERE id = '1'");
    assert_eq!(
        rows(&mut s, "SELECT id, active, active::int4 FROM users"),
        vec![vec!["1".to_owned(), "t".to_owned(), "1".to_owned()]]
    );
    assert_eq!(
        err(
            &mut s,
            "INSERT INTO users (name, active) VALUES ('bo', 'maybe')"
        )
        .code,
        pgscram_embedded::sqlstate::INVALID_TEXT_REPRESENTATION
    );
    let returning = columns(
        &mut s,
        "INSERT INTO users (name) VALUES ('cy') RETURNING id, active, name || '!' AS shout",
    );
    assert_eq!(
        returning,
        vec![
            ("id".into(), 23),
            ("active".into(), 16),
            ("shout".into(), 25)
        ]
    );
}

#[test]
fn a_quoted_unknown_column_is_an_error_not_a_string() {
    let (_db, mut s) = setup();
    assert_eq!(
        err(&mut s, "SELECT \"nosuch\" FROM users").code,
        pgscram_embedded::sqlstate::UNDEFINED_COLUMN
    );
}

#[test]
fn deeply_nested_statements_are_refused_not_a_crash() {
    let (_db, mut s) = setup();
    for depth in [50, 150, 199, 250, 1000] {
        let sql = format!("SELECT {}1{}", "(".repeat(depth), ")".repeat(depth));
        let mut out = s.simple_query(&sql);
        let result = out.pop().unwrap().result;
        if depth <= 150 {
            assert!(result.is_ok(), "depth {depth}: {result:?}");
        }
        let sql = format!("SELECT {}", vec!["-1"; depth].join(" + "));
        let _ = s.simple_query(&sql);
        let sql = format!("SELECT 1 WHERE {}", vec!["NOT"; depth].join(" ") + " true");
        let _ = s.simple_query(&sql);
        let sql = format!(
            "SELECT {}1{}",
            "ARRAY(SELECT ".repeat(depth.min(60)),
            ")".repeat(depth.min(60))
        );
        let _ = s.simple_query(&sql);
    }
    assert_eq!(value(&mut s, "SELECT 1"), "1");
}
