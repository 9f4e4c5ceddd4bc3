//! Named prepared statements under transaction pooling, as PgBouncer 1.21 and later
//! track them (`max_prepared_statements`): a client prepares once, and each of its
//! transactions may run on another server connection.
//!
//! A client's `Parse` of statement `N` is sent as `Parse` of a server-side name derived
//! from the statement itself (`pgscram_` and 32 hex digits of SHA-256 over query and
//! parameter types), so clients that prepare the same statement share it on every
//! server connection. `Bind`, `Describe` and `Close` of `N` are renamed; when the server
//! connection in use has not prepared it yet, a `Parse` is sent first and its
//! `ParseComplete` is not passed on. A server connection keeps at most
//! `max_prepared_statements`; the least recently used is closed (its `CloseComplete` not
//! passed on) to make room.
//!
//! Responses come back in order, and only `Parse` answers `ParseComplete` and only
//! `Close` answers `CloseComplete`, so one queue of each per Sync tells which answers
//! are ours to swallow. After an error the server skips to Sync: what was never
//! answered was never prepared.

use std::collections::{HashMap, VecDeque};

use sha2::{Digest, Sha256};

/// The statements one server connection has prepared, least recently used first.
#[derive(Default)]
pub(crate) struct Prepared {
    names: VecDeque<String>,
}

impl Prepared {
    fn has(&self, name: &str) -> bool {
        self.names.iter().any(|n| n == name)
    }

    fn touch(&mut self, name: &str) {
        if let Some(at) = self.names.iter().position(|n| n == name)
            && let Some(n) = self.names.remove(at)
        {
            self.names.push_back(n);
        }
    }

    fn forget(&mut self, name: &str) {
        self.names.retain(|n| n != name);
    }

    /// Forgets everything (after `DISCARD ALL`).
    pub fn clear(&mut self) {
        self.names.clear();
    }
}

/// A client's statement, as it asked for it.
struct Statement {
    /// The server-side name.
    server_name: String,
    /// The Parse body after the name: query, parameter count and types.
    rest: Vec<u8>,
}

/// What one ParseComplete or CloseComplete of the current batch stands for.
enum Expected {
    /// The client's own message: pass the answer on.
    Client,
    /// A Parse of ours: swallow the answer.
    OurParse,
    /// A Close of ours: swallow the answer.
    OurClose,
}

/// The answers expected up to one Sync (or simple Query).
#[derive(Default)]
struct Batch {
    parses: VecDeque<(Expected, Option<String>)>,
    /// With the server name closed, if it is one we track.
    closes: VecDeque<(Expected, Option<String>)>,
}

/// A client's statements and the bookkeeping of the answers in flight.
#[derive(Default)]
pub(crate) struct Statements {
    by_name: HashMap<String, Statement>,
    batches: VecDeque<Batch>,
}

fn cstr(body: &[u8]) -> Option<(&[u8], &[u8])> {
    let nul = body.iter().position(|&b| b == 0)?;
    Some((&body[..nul], &body[nul + 1..]))
}

fn server_name(rest: &[u8]) -> String {
    let digest = Sha256::digest(rest);
    let mut name = String::from("pgscram_");
    for byte in &digest[..16] {
        name.push_str(&format!("{byte:02x}"));
    }
    name
}

/// Appends one message to `out`, its body the concatenation of `parts` (no
/// intermediate buffer: this is on every extended-protocol message's path).
fn frame(out: &mut Vec<u8>, tag: u8, parts: &[&[u8]]) {
    let len: usize = parts.iter().map(|p| p.len()).sum();
    out.reserve(5 + len);
    out.push(tag);
    out.extend_from_slice(&((len + 4) as u32).to_be_bytes());
    for part in parts {
        out.extend_from_slice(part);
    }
}

/// A Close of the statement `name`.
fn close(out: &mut Vec<u8>, name: &str) {
    frame(out, b'C', &[b"S", name.as_bytes(), b"\0"]);
}

/// A Parse of `name` with the body after the name, `rest`.
fn parse(out: &mut Vec<u8>, name: &str, rest: &[u8]) {
    frame(out, b'P', &[name.as_bytes(), b"\0", rest]);
}

impl Statements {
    fn batch(&mut self) -> &mut Batch {
        if self.batches.is_empty() {
            self.batches.push_back(Batch::default());
        }
        self.batches.back_mut().expect("one batch at least")
    }

    /// Whether answers are still expected from the server (a Sync or Query not yet
    /// answered, or messages sent after the last one).
    pub fn in_flight(&self) -> bool {
        self.batches.len() > 1
            || self
                .batches
                .front()
                .is_some_and(|b| !b.parses.is_empty() || !b.closes.is_empty())
    }

    /// Appends one client message (`body` without tag and length) to `out` as
    /// `server` needs it, after any message of ours it needs first.
    pub fn outgoing(
        &mut self,
        tag: u8,
        body: &[u8],
        server: &mut Prepared,
        max: usize,
        out: &mut Vec<u8>,
    ) {
        match tag {
            b'P' => self.parse(body, server, max, out),
            b'B' => {
                let named = cstr(body).and_then(|(portal, rest)| {
                    let (stmt, rest) = cstr(rest)?;
                    Some((portal, self.ensure(stmt, server, max, out)?, rest))
                });
                match named {
                    Some((portal, name, rest)) => {
                        frame(out, b'B', &[portal, b"\0", name.as_bytes(), b"\0", rest])
                    }
                    None => frame(out, tag, &[body]),
                }
            }
            b'D' if body.first() == Some(&b'S') => {
                let name =
                    cstr(&body[1..]).and_then(|(stmt, _)| self.ensure(stmt, server, max, out));
                match name {
                    Some(name) => frame(out, tag, &[b"S", name.as_bytes(), b"\0"]),
                    None => frame(out, tag, &[body]),
                }
            }
            b'C' => {
                let closed = match body.first() {
                    Some(b'S') => cstr(&body[1..]).and_then(|(stmt, _)| self.close(stmt, server)),
                    _ => None,
                };
                match &closed {
                    Some(name) => close(out, name),
                    None => frame(out, tag, &[body]),
                }
                self.batch().closes.push_back((Expected::Client, closed));
            }
            b'S' | b'Q' | b'F' => {
                frame(out, tag, &[body]);
                self.batch();
                self.batches.push_back(Batch::default());
            }
            _ => frame(out, tag, &[body]),
        }
    }

    fn parse(&mut self, body: &[u8], server: &mut Prepared, max: usize, out: &mut Vec<u8>) {
        let Some((name, rest)) = cstr(body) else {
            frame(out, b'P', &[body]);
            return;
        };
        if name.is_empty() {
            self.batch().parses.push_back((Expected::Client, None));
            frame(out, b'P', &[body]);
            return;
        }
        let client_name = String::from_utf8_lossy(name).into_owned();
        let server_name = server_name(rest);
        if server.has(&server_name) {
            // Prepared already (by this client or another): closed and prepared again,
            // so the client's Parse gets the server's own ParseComplete (or error).
            close(out, &server_name);
            self.batch()
                .closes
                .push_back((Expected::OurClose, Some(server_name.clone())));
            server.forget(&server_name);
        } else {
            self.make_room(server, max, out);
        }
        parse(out, &server_name, rest);
        server.names.push_back(server_name.clone());
        self.batch()
            .parses
            .push_back((Expected::Client, Some(server_name.clone())));
        self.by_name.insert(
            client_name,
            Statement {
                server_name,
                rest: rest.to_vec(),
            },
        );
    }

    /// The server-side name of the client's statement `stmt`, prepared on `server`
    /// first if it is not; `None` for the unnamed statement or one the client never
    /// prepared (sent as is: the server answers it).
    fn ensure(
        &mut self,
        stmt: &[u8],
        server: &mut Prepared,
        max: usize,
        out: &mut Vec<u8>,
    ) -> Option<String> {
        if stmt.is_empty() {
            return None;
        }
        let statement = self.by_name.get(String::from_utf8_lossy(stmt).as_ref())?;
        let name = statement.server_name.clone();
        if server.has(&name) {
            server.touch(&name);
            return Some(name);
        }
        let rest = statement.rest.clone();
        self.make_room(server, max, out);
        parse(out, &name, &rest);
        server.names.push_back(name.clone());
        self.batch()
            .parses
            .push_back((Expected::OurParse, Some(name.clone())));
        Some(name)
    }

    /// The client closes its statement: closed on the server too. Returns the
    /// server-side name.
    fn close(&mut self, stmt: &[u8], server: &mut Prepared) -> Option<String> {
        let statement = self
            .by_name
            .remove(String::from_utf8_lossy(stmt).as_ref())?;
        server.forget(&statement.server_name);
        Some(statement.server_name)
    }

    fn make_room(&mut self, server: &mut Prepared, max: usize, out: &mut Vec<u8>) {
        while max > 0 && server.names.len() >= max {
            let Some(victim) = server.names.pop_front() else {
                return;
            };
            close(out, &victim);
            self.batch()
                .closes
                .push_back((Expected::OurClose, Some(victim)));
        }
    }

    /// Whether a server message goes on to the client; keeps the books.
    pub fn incoming(&mut self, tag: u8, server: &mut Prepared) -> bool {
        match tag {
            b'1' => !matches!(
                self.batches.front_mut().and_then(|b| b.parses.pop_front()),
                Some((Expected::OurParse, _))
            ),
            b'3' => !matches!(
                self.batches.front_mut().and_then(|b| b.closes.pop_front()),
                Some((Expected::OurClose, _))
            ),
            b'Z' => {
                // Whatever this batch still expected was skipped after an error: those
                // statements were never prepared.
                // Likewise, what it was to close is still there (parses first: a
                // statement closed and prepared again ends up prepared, as it was).
                if let Some(batch) = self.batches.pop_front() {
                    for name in batch.parses.into_iter().filter_map(|(_, name)| name) {
                        server.forget(&name);
                    }
                    for name in batch.closes.into_iter().filter_map(|(_, name)| name) {
                        if !server.has(&name) {
                            server.names.push_back(name);
                        }
                    }
                }
                true
            }
            _ => true,
        }
    }

    /// The server connection changed hands: nothing is in flight on the new one.
    pub fn detach(&mut self) {
        self.batches.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn named(name: impl AsRef<[u8]>, rest: &[u8]) -> Vec<u8> {
        [name.as_ref(), b"\0", rest].concat()
    }

    fn parse_body(name: &str, query: &str) -> Vec<u8> {
        let mut body = named(name, &named(query, &[]));
        body.extend_from_slice(&0u16.to_be_bytes());
        body
    }

    fn bind_body(stmt: &str) -> Vec<u8> {
        let mut body = named("", &named(stmt, &[]));
        body.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
        body
    }

    fn send(
        s: &mut Statements,
        server: &mut Prepared,
        max: usize,
        msgs: Vec<(u8, Vec<u8>)>,
    ) -> Vec<(u8, String)> {
        let mut bytes = Vec::new();
        for (tag, body) in msgs {
            s.outgoing(tag, &body, server, max, &mut bytes);
        }
        let mut out = Vec::new();
        let mut at = 0;
        while at < bytes.len() {
            let len = u32::from_be_bytes(bytes[at + 1..at + 5].try_into().unwrap()) as usize;
            out.push((bytes[at], bytes[at + 5..at + 1 + len].to_vec()));
            at += 1 + len;
        }
        out.into_iter()
            .map(|(tag, body)| {
                let first = if tag == b'C' || tag == b'D' {
                    &body[1..]
                } else {
                    &body[..]
                };
                let name = match tag {
                    b'B' => cstr(first).and_then(|(_, rest)| cstr(rest)).map(|(n, _)| n),
                    _ => cstr(first).map(|(n, _)| n),
                }
                .unwrap_or_default();
                (tag, String::from_utf8_lossy(name).into_owned())
            })
            .collect()
    }

    #[test]
    fn a_statement_follows_its_client_to_another_connection() {
        let mut client = Statements::default();
        let (mut one, mut two) = (Prepared::default(), Prepared::default());
        let sent = send(
            &mut client,
            &mut one,
            10,
            vec![(b'P', parse_body("q1", "SELECT 1")), (b'S', vec![])],
        );
        let name = server_name(&named("SELECT 1", &0u16.to_be_bytes()));
        assert_eq!(sent, [(b'P', name.clone()), (b'S', String::new())]);
        assert!(
            client.incoming(b'1', &mut one),
            "the client's own ParseComplete"
        );
        assert!(client.incoming(b'Z', &mut one));
        assert!(!client.in_flight());
        client.detach();

        // Another connection: prepared there first, its ParseComplete swallowed.
        let sent = send(
            &mut client,
            &mut two,
            10,
            vec![
                (b'B', bind_body("q1")),
                (b'E', vec![0, 0, 0, 0, 0]),
                (b'S', vec![]),
            ],
        );
        assert_eq!(sent[0], (b'P', name.clone()));
        assert_eq!(sent[1], (b'B', name.clone()));
        assert!(client.in_flight());
        assert!(!client.incoming(b'1', &mut two), "our ParseComplete");
        assert!(client.incoming(b'2', &mut two));
        assert!(client.incoming(b'Z', &mut two));
        assert!(two.has(&name));

        // Closing it closes it on the connection in use.
        let sent = send(
            &mut client,
            &mut two,
            10,
            vec![(b'C', [b"S".as_slice(), b"q1\0"].concat())],
        );
        assert_eq!(sent, [(b'C', name.clone())]);
        assert!(
            client.incoming(b'3', &mut two),
            "the client's CloseComplete"
        );
        assert!(!two.has(&name));
    }

    #[test]
    fn the_least_recently_used_statement_makes_room_and_errors_unwind() {
        let mut client = Statements::default();
        let mut server = Prepared::default();
        let sent = send(
            &mut client,
            &mut server,
            1,
            vec![
                (b'P', parse_body("a", "SELECT 'a'")),
                (b'P', parse_body("b", "SELECT 'b'")),
                (b'S', vec![]),
            ],
        );
        let tags: Vec<u8> = sent.iter().map(|(t, _)| *t).collect();
        assert_eq!(tags, b"PCPS", "a closed to make room for b");
        assert!(client.incoming(b'1', &mut server));
        assert!(!client.incoming(b'3', &mut server), "our CloseComplete");
        // b's Parse fails: the server skips to Sync, b was never prepared.
        assert!(client.incoming(b'E', &mut server));
        assert!(client.incoming(b'Z', &mut server));
        assert!(server.names.is_empty(), "{:?}", server.names);
    }
}
