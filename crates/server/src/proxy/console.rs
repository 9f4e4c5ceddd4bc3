//! The operator's console: PgBouncer's admin console on the virtual database
//! `pgscram`, for the users in `admin_users` or `stats_users`.
//!
//! ```text
//! psql "host=... port=6432 dbname=pgscram user=admin" -c "SHOW POOLS"
//! ```
//!
//! It speaks the simple query protocol only (as PgBouncer's does) and answers SHOW
//! POOLS, SHOW CLIENTS, SHOW SERVERS and SHOW STATS from the pools' own books
//! ([`Activity`]), with PgBouncer's column names where the figure is the same.

use std::time::{Duration, SystemTime};

use pgscram_wire::{BackendMessage, ErrorFields, FieldDescription, SqlState, TransactionStatus};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use super::activity::Activity;
use super::settings::PoolSettings;
use crate::backend::{Client, SessionStart};

/// The console's database name.
pub const DATABASE: &str = "pgscram";

/// The largest query the console reads.
const MAX_MESSAGE: u32 = 64 * 1024;

const TEXT: (u32, i16) = (25, -1);
const INT8: (u32, i16) = (20, 8);

/// A result set: column names and types, then rows of text values.
struct Table {
    columns: Vec<(&'static str, (u32, i16))>,
    rows: Vec<Vec<Option<String>>>,
}

/// Serves one console session until the client leaves.
pub(super) async fn serve(
    settings: &PoolSettings,
    activity: &Activity,
    start: &SessionStart,
    mut client: Client,
) {
    if !settings.console_user(&start.user) {
        return client
            .refuse(
                ErrorFields::fatal(
                    SqlState::INSUFFICIENT_PRIVILEGE,
                    format!("permission denied for database \"{DATABASE}\""),
                )
                .with_detail("Only the users in admin_users or stats_users may use the console."),
            )
            .await;
    }
    let parameters = [
        ("server_version", "15.0 (pgscram console)"),
        ("server_encoding", "UTF8"),
        ("client_encoding", "UTF8"),
        ("DateStyle", "ISO, MDY"),
        ("integer_datetimes", "on"),
        ("standard_conforming_strings", "on"),
    ]
    .map(|(n, v)| (n.to_owned(), v.to_owned()));
    if client.ready(parameters).await.is_err() {
        return;
    }
    let mut shutdown = client.shutdown_signal();
    let Ok((mut stream, mut buf)) = client.into_stream().await else {
        return;
    };
    let mut chunk = vec![0u8; 8192];
    // After an error in an extended-protocol message, messages are skipped until Sync.
    let mut skipping = false;
    loop {
        let mut out = Vec::new();
        loop {
            let len = match pgscram_wire::frame::message_len(&buf, MAX_MESSAGE) {
                Ok(Some(len)) => len,
                Ok(None) => break,
                Err(_) => return,
            };
            let message: Vec<u8> = buf.drain(..len).collect();
            match message[0] {
                b'X' => return,
                b'Q' => {
                    let sql = String::from_utf8_lossy(&message[5..]);
                    answer(sql.trim_end_matches('\0'), settings, activity, &mut out);
                    ready(&mut out);
                }
                b'S' => {
                    skipping = false;
                    ready(&mut out);
                }
                b'H' => {}
                _ if skipping => {}
                _ => {
                    skipping = true;
                    push(
                        &mut out,
                        BackendMessage::ErrorResponse(ErrorFields::error(
                            SqlState::FEATURE_NOT_SUPPORTED,
                            "the pgscram console speaks only the simple query protocol",
                        )),
                    );
                }
            }
        }
        if !out.is_empty() && stream.write_all(&out).await.is_err() {
            return;
        }
        let read = tokio::select! {
            read = stream.read(&mut chunk) => read,
            () = shutdown.requested() => return,
        };
        match read {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

fn push(out: &mut Vec<u8>, message: BackendMessage) {
    // Encoding fails only past 1 GiB; the console's rows are far smaller.
    let _ = message.encode(out);
}

fn ready(out: &mut Vec<u8>) {
    push(out, BackendMessage::ReadyForQuery(TransactionStatus::Idle));
}

/// Answers each statement of a simple Query.
fn answer(sql: &str, settings: &PoolSettings, activity: &Activity, out: &mut Vec<u8>) {
    let statements: Vec<&str> = sql
        .split(';')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    if statements.is_empty() {
        return push(out, BackendMessage::EmptyQueryResponse);
    }
    for statement in statements {
        let words: Vec<String> = statement
            .split_whitespace()
            .map(str::to_ascii_uppercase)
            .collect();
        let words: Vec<&str> = words.iter().map(String::as_str).collect();
        let table = match words.as_slice() {
            ["SHOW", "POOLS"] => pools(settings, activity),
            ["SHOW", "CLIENTS"] => clients(activity),
            ["SHOW", "SERVERS"] => servers(activity),
            ["SHOW", "STATS"] => stats(activity),
            _ => {
                // PgBouncer's console stops at the first bad statement too.
                return push(
                    out,
                    BackendMessage::ErrorResponse(
                        ErrorFields::error(
                            SqlState::SYNTAX_ERROR,
                            format!("unsupported console command: {statement}"),
                        )
                        .with_hint("The console answers SHOW POOLS, SHOW CLIENTS, SHOW SERVERS and SHOW STATS."),
                    ),
                );
            }
        };
        send_table(table, out);
    }
}

fn send_table(table: Table, out: &mut Vec<u8>) {
    let columns = table
        .columns
        .iter()
        .map(|(name, (oid, size))| FieldDescription::new(*name, *oid, *size))
        .collect();
    push(out, BackendMessage::RowDescription(columns));
    for row in table.rows {
        push(
            out,
            BackendMessage::DataRow(row.into_iter().map(|v| v.map(String::into_bytes)).collect()),
        );
    }
    push(out, BackendMessage::CommandComplete("SHOW".to_owned()));
}

fn int(n: impl Into<u128>) -> Option<String> {
    Some(n.into().to_string())
}

fn text(s: impl Into<String>) -> Option<String> {
    Some(s.into())
}

fn time(at: SystemTime) -> Option<String> {
    text(crate::log::timestamp(at))
}

/// Whole seconds and the microseconds beyond them, as PgBouncer splits waits.
fn split_wait(wait: Duration) -> (Option<String>, Option<String>) {
    (int(wait.as_secs()), int(wait.subsec_micros()))
}

fn pools(settings: &PoolSettings, activity: &Activity) -> Table {
    let rows = activity
        .pools()
        .into_iter()
        .map(|p| {
            let (maxwait, maxwait_us) = split_wait(p.maxwait);
            vec![
                text(p.database),
                text(p.user),
                int(p.cl_active),
                int(p.cl_waiting),
                int(p.sv_active),
                int(p.sv_idle),
                int(p.sv_login),
                maxwait,
                maxwait_us,
                text(settings.mode.as_str()),
            ]
        })
        .collect();
    Table {
        columns: vec![
            ("database", TEXT),
            ("user", TEXT),
            ("cl_active", INT8),
            ("cl_waiting", INT8),
            ("sv_active", INT8),
            ("sv_idle", INT8),
            ("sv_login", INT8),
            ("maxwait", INT8),
            ("maxwait_us", INT8),
            ("pool_mode", TEXT),
        ],
        rows,
    }
}

fn clients(activity: &Activity) -> Table {
    let rows = activity
        .clients()
        .into_iter()
        .map(|c| {
            let (wait, wait_us) = split_wait(c.wait);
            vec![
                text("C"),
                text(c.user),
                text(c.database),
                text(c.state.as_str()),
                c.peer.map(|p| p.ip().to_string()),
                c.peer.map(|p| p.port().to_string()),
                time(c.connected),
                time(c.request),
                wait,
                wait_us,
                int(c.id),
                c.link.and_then(int),
                text(if c.tls { "TLS" } else { "" }),
                text(c.application_name),
            ]
        })
        .collect();
    Table {
        columns: vec![
            ("type", TEXT),
            ("user", TEXT),
            ("database", TEXT),
            ("state", TEXT),
            ("addr", TEXT),
            ("port", INT8),
            ("connect_time", TEXT),
            ("request_time", TEXT),
            ("wait", INT8),
            ("wait_us", INT8),
            ("ptr", INT8),
            ("link", INT8),
            ("tls", TEXT),
            ("application_name", TEXT),
        ],
        rows,
    }
}

fn servers(activity: &Activity) -> Table {
    let rows = activity
        .servers()
        .into_iter()
        .map(|s| {
            let (addr, port) = match s.upstream.rsplit_once(':') {
                Some((addr, port)) => (text(addr), text(port)),
                None => (text(s.upstream.clone()), None),
            };
            vec![
                text("S"),
                text(s.user),
                text(s.database),
                text(s.state.as_str()),
                addr,
                port,
                time(s.connected),
                time(s.request),
                int(s.id),
                s.link.and_then(int),
                s.remote_pid.map(|p| p.to_string()),
                text(if s.tls { "TLS" } else { "" }),
            ]
        })
        .collect();
    Table {
        columns: vec![
            ("type", TEXT),
            ("user", TEXT),
            ("database", TEXT),
            ("state", TEXT),
            ("addr", TEXT),
            ("port", INT8),
            ("connect_time", TEXT),
            ("request_time", TEXT),
            ("ptr", INT8),
            ("link", INT8),
            ("remote_pid", INT8),
            ("tls", TEXT),
        ],
        rows,
    }
}

fn stats(activity: &Activity) -> Table {
    let mean = |total: u64, count: u64| int(total.checked_div(count).unwrap_or(0));
    let rows = activity
        .stats()
        .into_iter()
        .map(|s| {
            vec![
                text(s.database),
                int(s.xacts),
                int(s.queries),
                int(s.received),
                int(s.sent),
                int(s.xact_time),
                int(s.query_time),
                int(s.wait_time),
                mean(s.xact_time, s.xacts),
                mean(s.query_time, s.queries),
            ]
        })
        .collect();
    Table {
        columns: vec![
            ("database", TEXT),
            ("total_xact_count", INT8),
            ("total_query_count", INT8),
            ("total_received", INT8),
            ("total_sent", INT8),
            ("total_xact_time", INT8),
            ("total_query_time", INT8),
            ("total_wait_time", INT8),
            ("avg_xact_time", INT8),
            ("avg_query_time", INT8),
        ],
        rows,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn messages(out: &[u8]) -> Vec<BackendMessage> {
        let mut at = 0;
        let mut all = Vec::new();
        while at < out.len() {
            let len = pgscram_wire::frame::message_len(&out[at..], MAX_MESSAGE)
                .unwrap()
                .unwrap();
            all.push(BackendMessage::decode_parts(out[at], &out[at + 5..at + len]).unwrap());
            at += len;
        }
        all
    }

    #[test]
    fn answers_show_commands_and_refuses_the_rest() {
        let activity = Arc::new(Activity::default());
        let _client = activity.client(super::super::activity::ClientFacts {
            user: "alice",
            database: "app",
            peer: None,
            tls: false,
            application_name: "psql",
        });
        let settings = PoolSettings::default();
        let mut out = Vec::new();
        answer("show pools; SHOW  Stats", &settings, &activity, &mut out);
        let all = messages(&out);
        let BackendMessage::RowDescription(columns) = &all[0] else {
            panic!("{all:?}")
        };
        assert_eq!(columns[2].name, "cl_active");
        let BackendMessage::DataRow(row) = &all[1] else {
            panic!("{all:?}")
        };
        assert_eq!(row[1].as_deref(), Some(&b"alice"[..]));
        assert_eq!(row[2].as_deref(), Some(&b"1"[..]));
        assert!(matches!(&all[2], BackendMessage::CommandComplete(t) if t == "SHOW"));
        assert!(
            matches!(&all[3], BackendMessage::RowDescription(c) if c[1].name == "total_xact_count")
        );

        let mut out = Vec::new();
        answer(
            "SHOW CLIENTS; DROP TABLE x; SHOW POOLS",
            &settings,
            &activity,
            &mut out,
        );
        let all = messages(&out);
        assert!(
            matches!(all.last(), Some(BackendMessage::ErrorResponse(e)) if e.code == SqlState::SYNTAX_ERROR)
        );
        assert_eq!(
            all.iter()
                .filter(|m| matches!(m, BackendMessage::CommandComplete(_)))
                .count(),
            1,
            "stops at the bad statement"
        );

        let mut out = Vec::new();
        answer(" ; ", &settings, &activity, &mut out);
        assert!(matches!(
            messages(&out)[..],
            [BackendMessage::EmptyQueryResponse]
        ));
    }
}
