//! Helpers shared by the integration tests: temporary databases and short ways to run
//! SQL and look at what came back.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use pgscram_embedded::{
    Database, Notice, QueryResult, Session, SessionSettings, SqlError, StatementOutcome,
};

/// A unique path under the system temp directory; removed (with WAL files) on drop.
pub struct TempDb {
    pub path: PathBuf,
}

impl TempDb {
    pub fn new(tag: &str) -> TempDb {
        let mut r = [0u8; 8];
        getrandom::getrandom(&mut r).expect("random");
        let mut path = std::env::temp_dir();
        path.push(format!(
            "pgscram-it-{tag}-{}-{:016x}.sqlite",
            std::process::id(),
            u64::from_le_bytes(r)
        ));
        TempDb { path }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for TempDb {
    fn drop(&mut self) {
        for suffix in ["", "-wal", "-shm", "-journal"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", self.path.display()));
        }
    }
}

/// An in-memory database with superuser `admin` (password `adminpw`).
pub fn memdb() -> Database {
    let db = Database::open_in_memory().expect("open");
    assert!(
        db.bootstrap_superuser("admin", Some("adminpw"))
            .expect("bootstrap")
    );
    db
}

pub fn session(db: &Database, user: &str) -> Session {
    Session::new(db, user, SessionSettings::default()).expect("session")
}

/// Runs `sql` and returns every outcome.
pub fn run(s: &mut Session, sql: &str) -> Vec<StatementOutcome> {
    s.simple_query(sql)
}

/// Runs a single statement that must succeed; returns its result and notices.
pub fn ok_with_notices(s: &mut Session, sql: &str) -> (QueryResult, Vec<Notice>) {
    let mut out = s.simple_query(sql);
    assert_eq!(out.len(), 1, "{sql}: expected one outcome, got {out:?}");
    let o = out.remove(0);
    match o.result {
        Ok(r) => (r, o.notices),
        Err(e) => panic!("{sql}: unexpected error {e}"),
    }
}

pub fn ok(s: &mut Session, sql: &str) -> QueryResult {
    ok_with_notices(s, sql).0
}

/// The command tag of a statement that must succeed.
pub fn tag(s: &mut Session, sql: &str) -> String {
    ok(s, sql).tag().expect("tag").to_owned()
}

/// Runs a single statement that must fail; returns the error.
pub fn err(s: &mut Session, sql: &str) -> SqlError {
    let mut out = s.simple_query(sql);
    let last = out.pop().expect("an outcome");
    match last.result {
        Ok(r) => panic!("{sql}: expected an error, got {r:?}"),
        Err(e) => e,
    }
}

/// The rows of a query as strings ("NULL" for NULL).
pub fn rows(s: &mut Session, sql: &str) -> Vec<Vec<String>> {
    text_rows(&ok(s, sql))
}

pub fn text_rows(r: &QueryResult) -> Vec<Vec<String>> {
    r.rows
        .iter()
        .map(|row| {
            row.iter()
                .map(|v| match v {
                    Some(b) => String::from_utf8(b.clone()).expect("utf8"),
                    None => "NULL".to_owned(),
                })
                .collect()
        })
        .collect()
}

/// The single value of a one-row, one-column query.
pub fn value(s: &mut Session, sql: &str) -> String {
    let r = rows(s, sql);
    assert_eq!(r.len(), 1, "{sql}: {r:?}");
    assert_eq!(r[0].len(), 1, "{sql}: {r:?}");
    r[0][0].clone()
}

/// (name, type oid) of each result column.
pub fn columns(s: &mut Session, sql: &str) -> Vec<(String, u32)> {
    ok(s, sql)
        .columns
        .expect("columns")
        .into_iter()
        .map(|c| (c.name, c.type_oid))
        .collect()
}
