//! One client session served from the pools (`pool_mode`), message by message.
//!
//! ```text
//! login:   lease a slot ─ idle connection of the same verifier, or a new upstream login
//!          with this client's ClientKey ─ SET the client's startup parameters ─ greeting
//! session: the connection stays with the client until it leaves; then
//!          server_reset_query and back to the pool if it is idle, else closed
//! transaction: released at ReadyForQuery (idle) with nothing in flight; the next
//!          message leases again, and the client's parameters (client_encoding, DateStyle,
//!          TimeZone, IntervalStyle, application_name, standard_conforming_strings) are
//!          SET on whichever connection it gets; named prepared statements are
//!          prepared there transparently (see `statements`)
//! ```
//!
//! A client that leaves mid-transaction, or whose connection is in any state but idle,
//! never hands that connection on: it is closed. A CancelRequest for the client goes to
//! the server connection serving it at that moment.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use pgscram_wire::{ErrorFields, SqlState};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use super::activity::ClientHandle;
use super::pool::{Lease, Member, Pools, ServerConn};
use super::settings::PoolMode;
use super::statements::Statements;
use crate::backend::{CancelSignal, Client};
use crate::stream::Transport;

/// The parameters PostgreSQL reports that a client may set and a pooled connection
/// must carry for it.
const TRACKED: &[&str] = &[
    "application_name",
    "client_encoding",
    "DateStyle",
    "IntervalStyle",
    "TimeZone",
    "standard_conforming_strings",
];

/// The largest message either side may send (PostgreSQL's own limit).
const MAX_MESSAGE: u32 = 0x3fff_ffff;

/// A message at the front of `buf`, once it is all there: (tag, whole length).
fn next_message(buf: &[u8]) -> Result<Option<(u8, usize)>, ()> {
    match pgscram_wire::frame::message_len(buf, MAX_MESSAGE) {
        Ok(Some(len)) => Ok(Some((buf[0], len))),
        Ok(None) => Ok(None),
        Err(_) => Err(()),
    }
}

/// A ParameterStatus body: name and value.
fn parameter(body: &[u8]) -> Option<(String, String)> {
    let mut parts = body.split(|&b| b == 0);
    let name = String::from_utf8(parts.next()?.to_vec()).ok()?;
    let value = String::from_utf8(parts.next()?.to_vec()).ok()?;
    Some((name, value))
}

/// Runs `sql` (simple protocol) on an idle server connection, keeping its parameters
/// up to date; an error or a broken connection is `Err` (the connection is not clean).
async fn run_internal(conn: &mut ServerConn, sql: &str) -> Result<(), ()> {
    let mut out = Vec::new();
    pgscram_wire::FrontendMessage::Query(sql.to_owned())
        .encode(&mut out)
        .map_err(|_| ())?;
    conn.stream.write_all(&out).await.map_err(|_| ())?;
    let mut failed = false;
    loop {
        while let Some((tag, len)) = next_message(&conn.buffered)? {
            let message: Vec<u8> = conn.buffered.drain(..len).collect();
            match tag {
                b'S' => {
                    if let Some((name, value)) = parameter(&message[5..]) {
                        conn.carries = 0;
                        conn.parameters.insert(name, value);
                    }
                }
                b'E' => failed = true,
                b'Z' => return if failed { Err(()) } else { Ok(()) },
                _ => {}
            }
        }
        let mut chunk = [0u8; 4096];
        let n = conn.stream.read(&mut chunk).await.map_err(|_| ())?;
        if n == 0 {
            return Err(());
        }
        conn.buffered.extend_from_slice(&chunk[..n]);
    }
}

/// The parameters a client's session must carry: what it asked for at startup, then
/// what the server reports as it changes them; with a digest of them, so a connection
/// that already carries them is recognised without comparing each.
struct Wanted {
    values: BTreeMap<String, String>,
    digest: u64,
}

impl Wanted {
    fn new(values: BTreeMap<String, String>) -> Self {
        let mut wanted = Wanted { values, digest: 0 };
        wanted.rehash();
        wanted
    }

    fn insert(&mut self, name: String, value: String) {
        if self.values.get(&name) != Some(&value) {
            self.values.insert(name, value);
            self.rehash();
        }
    }

    fn rehash(&mut self) {
        // 0 stands for "not known" on a connection (ServerConn::carries).
        self.digest = super::digest(&self.values).max(1);
    }
}

/// SETs on `conn` every tracked parameter whose value differs from `wanted`.
async fn apply_parameters(conn: &mut ServerConn, wanted: &Wanted) -> Result<(), ()> {
    if conn.carries == wanted.digest {
        return Ok(());
    }
    let mut sql = String::new();
    for (name, value) in &wanted.values {
        if conn.parameters.get(name) != Some(value) {
            sql.push_str(&format!(
                "SET \"{name}\" = {};",
                super::auth_query::quote_literal(value)
            ));
        }
    }
    if !sql.is_empty() {
        run_internal(conn, &sql).await?;
    }
    conn.carries = wanted.digest;
    Ok(())
}

/// A session's hold on a server connection.
struct Attached {
    lease: Lease,
    /// ReadyForQuery's last status: `I`, `T` or `E`.
    status: u8,
    /// Messages sent since the last Sync or Query: an answer may still come.
    unsynced: bool,
    /// Syncs and Queries sent and not yet answered with ReadyForQuery.
    pending: usize,
}

impl Attached {
    /// Idle, nothing sent that is not answered: it may serve someone else.
    fn clean(&self) -> bool {
        self.status == b'I'
            && !self.unsynced
            && self.pending == 0
            && self.lease.conn.buffered.is_empty()
    }
}

/// A pooled client: its place in the pool and its line in the console.
pub(super) struct Pooled {
    pub member: Member,
    pub listed: ClientHandle,
}

/// Serves `client` from the pools until it leaves.
pub(super) async fn serve(
    pools: &Pools,
    mut pooled: Pooled,
    startup: &pgscram_wire::StartupMessage,
    mut client: Client,
) {
    let mode = pools.settings.mode;
    // The client's parameters: what it asked for at startup, then what the server
    // reports as it changes them.
    let wanted: BTreeMap<String, String> = startup
        .params()
        .filter_map(|(name, value)| {
            let canonical = TRACKED.iter().find(|t| t.eq_ignore_ascii_case(name))?;
            Some(((*canonical).to_owned(), value.to_owned()))
        })
        .collect();
    let mut wanted = Wanted::new(wanted);
    let attached = attach(pools, &mut pooled, &wanted).await;
    // client_key_retention = login: the key served this login and is zeroized now.
    pooled.member.forget_login();
    let mut attached = match attached {
        Ok(attached) => attached,
        Err(error) => return client.refuse(error).await,
    };
    for name in TRACKED {
        if let Some(value) = attached.lease.conn.parameters.get(*name) {
            wanted.insert((*name).to_owned(), value.clone());
        }
    }
    attached.lease.conn.carries = wanted.digest;
    let Ok(cancel) = client.ready(&attached.lease.conn.parameters).await else {
        attached.lease.release(false);
        return;
    };
    let mut shutdown = client.shutdown_signal();
    let Ok((stream, buffered)) = client.into_stream().await else {
        attached.lease.release(false);
        return;
    };
    let mut session = Session {
        pools,
        pooled,
        client: stream,
        client_buf: buffered,
        attached: Some(attached),
        wanted,
        statements: Statements::default(),
        mode,
        out: Vec::new(),
        client_out: Vec::new(),
        query_started: None,
        xact_started: None,
    };
    if mode == PoolMode::Transaction {
        session.release_if_idle();
    }
    tokio::select! {
        () = session.run(&cancel) => {}
        () = shutdown.requested() => {}
    }
    session.end().await;
}

enum Step {
    Continue,
    End,
}

/// What woke the session up.
enum Event {
    Client(std::io::Result<usize>),
    Server(std::io::Result<usize>),
    Cancel,
}

struct Session<'p> {
    pools: &'p Pools,
    pooled: Pooled,
    client: Box<dyn Transport>,
    client_buf: Vec<u8>,
    attached: Option<Attached>,
    wanted: Wanted,
    statements: Statements,
    mode: PoolMode,
    /// Reused for what goes to the client.
    out: Vec<u8>,
    /// Reused for what goes to the server.
    client_out: Vec<u8>,
    /// When the query now running began (SHOW STATS' query time).
    query_started: Option<Instant>,
    /// When the transaction now open began.
    xact_started: Option<Instant>,
}

/// Leases a slot and a connection in it, with `wanted` applied.
async fn attach(
    pools: &Pools,
    pooled: &mut Pooled,
    wanted: &Wanted,
) -> Result<Attached, ErrorFields> {
    let mut lease = pooled.member.acquire(pools, &pooled.listed).await?;
    if apply_parameters(&mut lease.conn, wanted).await.is_err() {
        lease.release(false);
        return Err(ErrorFields::fatal(
            SqlState::parse("08006").unwrap_or(SqlState::INTERNAL_ERROR),
            "could not set the session's parameters on a server connection",
        ));
    }
    Ok(Attached {
        lease,
        status: b'I',
        unsynced: false,
        pending: 0,
    })
}

impl Session<'_> {
    async fn run(&mut self, cancel: &CancelSignal) {
        // What the client pipelined behind its startup goes first.
        if !self.client_buf.is_empty() && matches!(self.client_messages().await, Step::End) {
            return;
        }
        // Reads land straight in the buffers the messages are framed from.
        const READ: usize = 16 * 1024;
        // Made once and again only after it fired: a new Notified per wake-up costs a
        // lock on the signal's waiter list each time.
        let mut cancelled = std::pin::pin!(cancel.requested());
        loop {
            self.client_buf.reserve(READ);
            // Reads only, in the select; the handling needs all of `self`.
            let event = match self.attached.as_mut() {
                Some(attached) => {
                    let conn = &mut attached.lease.conn;
                    conn.buffered.reserve(READ);
                    tokio::select! {
                        read = self.client.read_buf(&mut self.client_buf) => Event::Client(read),
                        read = conn.stream.read_buf(&mut conn.buffered) => Event::Server(read),
                        () = &mut cancelled => Event::Cancel,
                    }
                }
                None => tokio::select! {
                    read = self.client.read_buf(&mut self.client_buf) => Event::Client(read),
                    () = &mut cancelled => Event::Cancel,
                },
            };
            let step = match event {
                Event::Client(Ok(0) | Err(_)) => Step::End,
                Event::Client(Ok(_)) => self.client_messages().await,
                Event::Server(Ok(0) | Err(_)) => {
                    self.server_lost().await;
                    Step::End
                }
                Event::Server(Ok(_)) => self.server_messages().await,
                Event::Cancel => {
                    cancelled.set(cancel.requested());
                    // To the server connection serving the client now, if any.
                    let token = self
                        .attached
                        .as_ref()
                        .and_then(|a| a.lease.conn.cancel.clone());
                    if let Some(token) = token {
                        tokio::spawn(async move {
                            let _ = token.cancel().await;
                        });
                    }
                    Step::Continue
                }
            };
            if let Step::End = step {
                return;
            }
        }
    }

    /// Sends on every complete client message; leases a connection first if needed.
    async fn client_messages(&mut self) -> Step {
        // Read in place and copied once; only statement messages are rewritten.
        let mut out = std::mem::take(&mut self.client_out);
        out.clear();
        let mut at = 0;
        // One clock reading for the books of everything this read brought.
        let mut now = None;
        let step = loop {
            let (tag, len) = match next_message(&self.client_buf[at..]) {
                Ok(Some(found)) => found,
                Ok(None) => break Step::Continue,
                Err(()) => break Step::End,
            };
            if tag == b'X' {
                // Terminate: the session ends here; the connection is not told.
                break Step::End;
            }
            if self.attached.is_none() {
                match attach(self.pools, &mut self.pooled, &self.wanted).await {
                    Ok(attached) => {
                        self.statements.detach();
                        self.attached = Some(attached);
                    }
                    Err(error) => {
                        let _ = self.send_client_error(error).await;
                        break Step::End;
                    }
                }
            }
            let attached = self.attached.as_mut().expect("attached above");
            let message = &self.client_buf[at..at + len];
            let now = *now.get_or_insert_with(Instant::now);
            self.query_started.get_or_insert(now);
            self.xact_started.get_or_insert(now);
            let syncs = matches!(tag, b'S' | b'Q' | b'F');
            attached.unsynced = !syncs;
            attached.pending += usize::from(syncs);
            let statement = matches!(tag, b'P' | b'B' | b'D' | b'C') || syncs;
            if self.mode == PoolMode::Transaction && statement {
                self.statements.outgoing(
                    tag,
                    &message[5..],
                    &mut attached.lease.conn.prepared,
                    self.pools.settings.max_prepared_statements,
                    &mut out,
                );
            } else {
                out.extend_from_slice(message);
            }
            at += len;
        };
        self.client_buf.drain(..at);
        if let Some(now) = now {
            self.pooled.listed.requested(now);
        }
        self.pooled.listed.totals.received(at);
        let sent = out.is_empty() || self.send(&out).await.is_ok();
        self.client_out = out;
        if !sent {
            self.server_lost().await;
            return Step::End;
        }
        step
    }

    async fn send(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        match self.attached.as_mut() {
            Some(attached) => attached.lease.conn.stream.write_all(bytes).await,
            None => Ok(()),
        }
    }

    /// Passes on every complete server message, keeping the books; releases the
    /// connection at the end of a transaction in transaction mode.
    async fn server_messages(&mut self) -> Step {
        let Some(attached) = self.attached.as_mut() else {
            return Step::Continue;
        };
        // Messages are read in place and copied once, into what the client gets.
        let mut out = std::mem::take(&mut self.out);
        out.clear();
        let conn = &mut attached.lease.conn;
        let mut at = 0;
        let broken = loop {
            let rest = &conn.buffered[at..];
            let (tag, len) = match next_message(rest) {
                Ok(Some(found)) => found,
                Ok(None) => break false,
                Err(()) => break true,
            };
            let message = &rest[..len];
            match tag {
                b'S' => {
                    if let Some((name, value)) = parameter(&message[5..]) {
                        if TRACKED.contains(&name.as_str()) {
                            self.wanted.insert(name.clone(), value.clone());
                            conn.carries = self.wanted.digest;
                        }
                        conn.parameters.insert(name, value);
                    }
                }
                b'Z' => {
                    attached.status = message.get(5).copied().unwrap_or(b'E');
                    attached.pending = attached.pending.saturating_sub(1);
                    let totals = &self.pooled.listed.totals;
                    let now = Instant::now();
                    if let Some(started) = self.query_started.take() {
                        totals.query(now.duration_since(started));
                    }
                    if attached.pending > 0 {
                        // Pipelined: the next one's time runs from here.
                        self.query_started = Some(now);
                    }
                    if attached.status == b'I'
                        && let Some(started) = self.xact_started.take()
                    {
                        totals.xact(now.duration_since(started));
                    }
                }
                _ => {}
            }
            let pass = self.mode != PoolMode::Transaction
                || self.statements.incoming(tag, &mut conn.prepared);
            if pass {
                out.extend_from_slice(message);
            }
            at += len;
        };
        conn.buffered.drain(..at);
        if broken {
            self.out = out;
            self.server_lost().await;
            return Step::End;
        }
        self.pooled.listed.totals.sent(out.len());
        let written = out.is_empty() || self.client.write_all(&out).await.is_ok();
        self.out = out;
        if !written {
            return Step::End;
        }
        if self.mode == PoolMode::Transaction {
            self.release_if_idle();
        }
        Step::Continue
    }

    /// Transaction mode: the connection goes back once the transaction is over and
    /// nothing is in flight on it.
    fn release_if_idle(&mut self) {
        let done = self
            .attached
            .as_ref()
            .is_some_and(|a| a.clean() && !self.statements.in_flight());
        if done && let Some(attached) = self.attached.take() {
            self.statements.detach();
            attached.lease.release(true);
            self.pooled.listed.linked(None);
        }
    }

    async fn send_client_error(&mut self, error: ErrorFields) -> std::io::Result<()> {
        let mut out = Vec::new();
        pgscram_wire::BackendMessage::ErrorResponse(error)
            .encode(&mut out)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string()))?;
        self.client.write_all(&out).await
    }

    /// The upstream closed the connection under the client: PostgreSQL's client sees
    /// the server go away; so does ours, with a word why.
    async fn server_lost(&mut self) {
        if let Some(attached) = self.attached.take() {
            attached.lease.release(false);
        }
        let _ = self
            .send_client_error(ErrorFields::fatal(
                SqlState::parse("08006").unwrap_or(SqlState::INTERNAL_ERROR),
                "server closed the connection unexpectedly",
            ))
            .await;
    }

    /// The client left (or the server shuts down): a clean connection goes back to the
    /// pool, after `server_reset_query` in session mode; anything else is closed.
    async fn end(mut self) {
        let _ = self.client.shutdown().await;
        let Some(mut attached) = self.attached.take() else {
            return;
        };
        if !attached.clean() {
            return attached.lease.release(false);
        }
        if self.mode == PoolMode::Session {
            let reset = self.pools.settings.server_reset_query.clone();
            if !reset.is_empty() {
                let ok = tokio::time::timeout(
                    Duration::from_secs(10),
                    run_internal(&mut attached.lease.conn, &reset),
                )
                .await;
                if !matches!(ok, Ok(Ok(()))) {
                    return attached.lease.release(false);
                }
                attached.lease.conn.prepared.clear();
            }
        }
        attached.lease.release(true);
    }
}
