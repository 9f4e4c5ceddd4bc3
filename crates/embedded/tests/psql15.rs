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
                "CREATE UNIQUE INDEX users_pkey ON public.users USING btree (id)".into()
            ),
            (
                "users_name_idx".into(),
                "f".into(),
                "CREATE INDEX users_name_idx ON public.users USING btree (name)".into()
            ),
        ]
    );
}

#[test]
fn l_dn_and_dt_list_the_database_schema_and_table() {
    let (_db, mut s) = setup();
    let l = meta(&mut s, "l").expect("\\l");
    assert_eq!(l[0].len(), 1);
    assert_eq!(l[0][0][1..3], ["postgres", "UTF8"]);
    let dn = meta(&mut s, "dn").expect("\\dn");
    assert_eq!(dn[0].len(), 1);
    assert_eq!(dn[0][0][0], "public");
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
