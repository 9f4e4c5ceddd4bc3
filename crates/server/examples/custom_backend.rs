//! A program's own query engine behind PostgreSQL's authentication: a toy key-value
//! store that understands `PUT key value`, `GET key` and `KEYS`,
//! with roles from a [`MemoryStore`]. Shows what a backend must provide: results with
//! columns and command tags, errors with SQLSTATEs, transaction status, cancel.
//!
//! Run: `cargo run -p pgscram-server --example custom_backend`, then
//! `PGPASSWORD=demo-secret psql "host=127.0.0.1 port=5434 user=demo sslmode=require" -c 'PUT a 1' -c 'GET a'`.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use pgscram_server::engine::{
    Column, EngineBackend, EngineFactory, Interrupt, Prepared, Produced, QueryEngine,
    StatementResult, Value,
};
use pgscram_server::{MemoryStore, Role, Server, SessionStart};
use pgscram_wire::{ErrorFields, SqlState, TransactionStatus};

type Table = Arc<Mutex<BTreeMap<String, String>>>;

/// Opens one engine per session over the shared table.
struct KvFactory {
    table: Table,
}

impl EngineFactory for KvFactory {
    fn open(&self, _start: &SessionStart) -> Result<Box<dyn QueryEngine>, ErrorFields> {
        Ok(Box::new(KvEngine {
            table: self.table.clone(),
        }))
    }

    fn has_database(&self, name: &str) -> bool {
        name == "kv" || name == "demo"
    }
}

struct KvEngine {
    table: Table,
}

const TEXT: u32 = 25;

fn column(name: &str) -> Column {
    Column {
        name: name.to_owned(),
        type_oid: TEXT,
        type_size: -1,
    }
}

impl KvEngine {
    fn run(&mut self, sql: &str, params: &[Value]) -> StatementResult {
        let words: Vec<String> = sql
            .split_whitespace()
            .map(
                |w| match w.strip_prefix('$').and_then(|n| n.parse::<usize>().ok()) {
                    Some(n) => params
                        .get(n - 1)
                        .cloned()
                        .flatten()
                        .map(|v| String::from_utf8_lossy(&v).into_owned())
                        .unwrap_or_default(),
                    None => w.trim_end_matches(';').to_owned(),
                },
            )
            .collect();
        let mut table = self.table.lock().unwrap_or_else(|e| e.into_inner());
        let outcome = match words
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>()
            .as_slice()
        {
            [] => Ok(Produced::Empty),
            [put, key, value] if put.eq_ignore_ascii_case("put") => {
                table.insert((*key).to_owned(), (*value).to_owned());
                Ok(Produced::Command {
                    tag: "PUT 1".into(),
                })
            }
            [get, key] if get.eq_ignore_ascii_case("get") => Ok(Produced::Rows {
                columns: vec![column("value")],
                rows: table
                    .get(*key)
                    .map(|v| vec![vec![Some(v.clone().into_bytes())]])
                    .unwrap_or_default(),
                tag: format!("GET {}", usize::from(table.contains_key(*key))),
            }),
            [keys] if keys.eq_ignore_ascii_case("keys") => Ok(Produced::Rows {
                columns: vec![column("key")],
                rows: table
                    .keys()
                    .map(|k| vec![Some(k.clone().into_bytes())])
                    .collect(),
                tag: format!("KEYS {}", table.len()),
            }),
            _ => Err(ErrorFields::error(
                SqlState::SYNTAX_ERROR,
                "this engine understands PUT key value, GET key and KEYS",
            )),
        };
        StatementResult {
            notices: Vec::new(),
            outcome,
            reported: Vec::new(),
        }
    }
}

impl QueryEngine for KvEngine {
    fn simple_query(&mut self, sql: &str) -> Vec<StatementResult> {
        sql.split(';')
            .filter(|s| !s.trim().is_empty())
            .map(|statement| self.run(statement, &[]))
            .collect()
    }

    fn prepare(&mut self, sql: &str, param_types: &[u32]) -> Result<Prepared, ErrorFields> {
        let params = sql.matches('$').count();
        let returns_rows = !sql.trim_start().to_ascii_lowercase().starts_with("put");
        Ok(Prepared {
            sql: sql.to_owned(),
            param_types: (0..params)
                .map(|i| param_types.get(i).copied().unwrap_or(TEXT))
                .collect(),
            columns: returns_rows.then(|| vec![column("value")]),
        })
    }

    fn execute(&mut self, prepared: &Prepared, params: &[Value]) -> StatementResult {
        self.run(&prepared.sql, params)
    }

    fn transaction_status(&self) -> TransactionStatus {
        TransactionStatus::Idle // every command commits at once
    }

    fn interrupt_handle(&self) -> Interrupt {
        Box::new(|| {}) // nothing runs long enough to cancel
    }

    fn initial_parameters(&self) -> Vec<(&str, &str)> {
        vec![
            ("server_version", "15.0 (kv example)"),
            ("client_encoding", "UTF8"),
            ("standard_conforming_strings", "on"),
        ]
    }

    fn encode_binary(&self, _type_oid: u32, text: &[u8]) -> Result<Vec<u8>, ErrorFields> {
        Ok(text.to_vec()) // every column is text, whose binary form is its text
    }

    fn decode_binary(&self, _type_oid: u32, value: &[u8]) -> Result<Vec<u8>, ErrorFields> {
        Ok(value.to_vec())
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let users = MemoryStore::new();
    let verifier = pgscram_scram::ScramVerifier::derive(b"demo-secret", b"example-salt-16b", 4096)?;
    users.insert("demo", Role::login(verifier.to_string()));
    let server = Server::builder()
        .listen("127.0.0.1:5434".parse()?)
        .store(Arc::new(users))
        .backend(EngineBackend::new(KvFactory {
            table: Table::default(),
        }))
        .build()
        .await?;
    let handle = server.handle();
    tokio::spawn(async move { tokio::signal::ctrl_c().await.map(|()| handle.shutdown()) });
    server.run().await;
    Ok(())
}
