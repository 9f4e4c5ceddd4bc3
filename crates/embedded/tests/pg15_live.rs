//! psql 15's catalog queries against a real PostgreSQL 15 and against the embedded
//! session, given the same roles and table: the rows must be the same.

mod common;

use common::*;
use pgscram_embedded::{Database, Session, SessionSettings};
use pgscram_testkit::Postgres;

const SETUP: &[&str] = &[
    "CREATE ROLE alice LOGIN PASSWORD 'x' VALID UNTIL '2031-02-03 04:05:06+00' CREATEDB",
    "CREATE ROLE staff NOLOGIN",
    "CREATE ROLE bob LOGIN CREATEROLE CONNECTION LIMIT 3",
    "CREATE ROLE carol SUPERUSER REPLICATION BYPASSRLS NOINHERIT LOGIN",
    "CREATE ROLE dave LOGIN VALID UNTIL 'infinity' IN ROLE staff",
    "GRANT staff TO alice",
    "GRANT staff TO bob",
    "GRANT pg_read_all_data TO bob",
    "GRANT alice TO carol",
    "COMMENT ON ROLE alice IS 'migrated from the old cluster'",
    "CREATE TABLE users (id serial PRIMARY KEY, name text NOT NULL, email varchar(100), active boolean DEFAULT true)",
    "CREATE INDEX users_name_idx ON users (name)",
];

/// Fixtures (tests/psql15/) whose first query is compared.
const SAME: &[&str] = &[
    "du",
    "du_plus",
    "dg",
    "dt",
    "dn",
    "di",
    "ddp",
    "dv",
    "ds",
    "df",
    "drds",
    "dconfig_password",
    "da",
    "d_t",
    "do",
    "d_c",
    "dd",
    "dp",
    "d",
    "dx",
    "l",
    "db",
    "d_l",
    "dc",
    "d_d",
    "dm",
    "d_e",
    "des",
    "dy",
    "d_o",
];

/// Where the embedded database has less than PostgreSQL, by design (see the crate
/// docs): no casts catalog (`\\dC`: PostgreSQL 15 lists some 230 casts, many between
/// types the engine does not have, such as box, cidr or money), and no procedural
/// language (`\\dL` and `\\dx` show plpgsql, whose functions and DO blocks the engine
/// cannot run, so listing it would be a false promise).
const KNOWN_DIFFERENCES: &[&str] = &["d_c", "dx", "d_l"];

fn fixture(name: &str) -> Vec<String> {
    let path = format!("{}/tests/psql15/{name}.sql", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(path)
        .expect("fixture")
        .split("-- query\n")
        .skip(1)
        .map(|q| q.trim().to_owned())
        .collect()
}

/// Our rows in psql's unaligned, tuples-only form (NULL prints as nothing).
fn ours(s: &mut Session, sql: &str) -> String {
    rows(s, sql)
        .into_iter()
        .map(|r| {
            r.into_iter()
                .map(|v| if v == "NULL" { String::new() } else { v })
                .collect::<Vec<_>>()
                .join("|")
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn catalog_queries_match_postgresql_15() {
    let pg = Postgres::start();
    let db = Database::open_in_memory().expect("open");
    assert!(db.bootstrap_superuser("postgres", None).expect("bootstrap"));
    let mut s = Session::new(&db, "postgres", SessionSettings::default()).expect("session");
    for sql in SETUP {
        pg.sql(sql);
        tag(&mut s, sql);
    }
    // The rows of every listed meta-command's query, except the known differences.
    let mut differ = Vec::new();
    let mut shown = String::new();
    for name in SAME {
        let q = &fixture(name)[0];
        let (ours, theirs) = (ours(&mut s, q), pg.sql(q));
        if ours != theirs {
            differ.push(*name);
            shown.push_str(&format!(
                "\\{name}:\n ours:\n{ours}\n PostgreSQL 15:\n{theirs}\n"
            ));
        }
    }
    assert_eq!(
        differ, KNOWN_DIFFERENCES,
        "meta-commands whose rows differ:\n{shown}"
    );
    // \d users: the table's columns and indexes (each side with its own OID).
    let q = fixture("d_users");
    let pg_oid = pg
        .sql(&q[0])
        .split('|')
        .next()
        .unwrap_or_default()
        .to_owned();
    let our_oid = rows(&mut s, &q[0])[0][0].clone();
    for i in [2, 3] {
        assert_eq!(
            ours(&mut s, &q[i].replace("{oid}", &our_oid)),
            pg.sql(&q[i].replace("{oid}", &pg_oid)),
            "\\d users query {i}"
        );
    }
}
