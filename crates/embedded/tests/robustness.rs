//! Query text comes from the network: whatever a client sends, a session answers with
//! outcomes and stays usable. A deterministic generator stirs SQL fragments into
//! thousands of odd statements.

mod common;

use common::*;
use pgscram_embedded::TransactionStatus;

const FRAGMENTS: &[&str] = &[
    "SELECT",
    "FROM",
    "WHERE",
    "(",
    ")",
    ",",
    ";",
    "::",
    "int",
    "text",
    "bool",
    "~",
    "~*",
    "!~",
    "ILIKE",
    "LIKE",
    "NOT",
    "$1",
    "$2",
    "'x'",
    "E'\\x41'",
    "$$d$$",
    "\"q\"",
    "pg_authid",
    "pg_catalog",
    ".",
    "pg_roles",
    "rolname",
    "rolpassword",
    "1",
    "-",
    "+",
    "*",
    "CAST",
    "AS",
    "current_user",
    "now()",
    "CREATE",
    "ROLE",
    "USER",
    "ALTER",
    "DROP",
    "GRANT",
    "REVOKE",
    "TO",
    "PASSWORD",
    "'pw'",
    "LOGIN",
    "SET",
    "SHOW",
    "RESET",
    "BEGIN",
    "COMMIT",
    "ROLLBACK",
    "SAVEPOINT",
    "TABLE",
    "t",
    "serial",
    "PRIMARY",
    "KEY",
    "DEFAULT",
    "VALUES",
    "INSERT",
    "INTO",
    "UPDATE",
    "DELETE",
    "RETURNING",
    "=",
    "<>",
    "IN",
    "IS",
    "NULL",
    "true",
    "CASE",
    "WHEN",
    "THEN",
    "END",
    "WITH",
    "RECURSIVE",
    "--c\n",
    "/*c*/",
    "é",
    "\u{0}",
    "[",
    "]",
    "@",
    "?",
    ":x",
    "LIMIT",
    "ALL",
    "DISTINCT",
    "ON",
    "IF",
    "EXISTS",
    "VALID",
    "UNTIL",
    "'2030-01-01'",
    "CONNECTION",
    "IN ROLE",
    "'SCRAM-SHA-256$",
    "E'",
    "$",
    "\"",
    "'",
    "/*",
];

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[(self.next() % items.len() as u64) as usize]
    }
}

fn soup(rng: &mut Rng) -> String {
    let n = 1 + rng.next() % 14;
    let mut s = String::new();
    for _ in 0..n {
        s.push_str(rng.pick(FRAGMENTS));
        if !rng.next().is_multiple_of(3) {
            s.push(' ');
        }
    }
    s
}

#[test]
fn random_statements_never_panic_and_leave_a_usable_session() {
    let db = memdb();
    let mut s = session(&db, "admin");
    tag(
        &mut s,
        "CREATE TABLE t (id serial PRIMARY KEY, x int, y text)",
    );
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for _ in 0..3000 {
        let sql = soup(&mut rng);
        let _ = s.simple_query(&sql);
        if let Ok(p) = s.prepare(&sql, &[]) {
            let params: Vec<Option<Vec<u8>>> =
                p.param_types.iter().map(|_| Some(b"1".to_vec())).collect();
            let _ = s.execute(&p, &params, 1);
            let _ = s.sync();
        }
        if s.transaction_status() != TransactionStatus::Idle {
            let _ = s.simple_query("ROLLBACK");
        }
    }
    let _ = s.simple_query("RESET ALL");
    assert_eq!(value(&mut s, "SELECT 1"), "1");
    assert!(db.role("admin").unwrap().unwrap().superuser);
}

#[test]
fn hostile_edge_cases() {
    let db = memdb();
    let mut s = session(&db, "admin");
    let deep = format!("SELECT {}1{}", "(".repeat(50_000), ")".repeat(50_000));
    let long_ident = format!("SELECT \"{}\"", "x".repeat(100_000));
    let many_params = format!(
        "SELECT {}",
        (1..=3000)
            .map(|i| format!("${i}"))
            .collect::<Vec<_>>()
            .join(",")
    );
    for sql in [
        deep.as_str(),
        long_ident.as_str(),
        many_params.as_str(),
        "SELECT $99999",
        "SELECT 'a' ~ repeat('(', 10000)",
        "SELECT 'a' ~ 'a{1000}{1000}'",
        "SELECT 1::int::int::int::int::int::int",
        "CREATE ROLE \"\"",
        "CREATE ROLE x PASSWORD",
        "ALTER ROLE",
        "GRANT",
        "SET",
        "SET x.",
        "SHOW",
        "::int",
        "SELECT ::int",
        "SELECT CAST(1)",
        "SELECT CAST(1 AS)",
        "E'\\u12'",
        "SELECT E'\\U0011FFFF'",
        "SELECT 1 FROM (SELECT",
        "\u{feff}SELECT 1",
    ] {
        let _ = s.simple_query(sql);
        let _ = s.prepare(sql, &[]);
        if s.transaction_status() != TransactionStatus::Idle {
            let _ = s.simple_query("ROLLBACK");
        }
    }
    assert_eq!(value(&mut s, "SELECT 2"), "2");
}
