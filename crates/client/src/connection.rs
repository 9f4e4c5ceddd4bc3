//! A logged-in connection: the negotiated report, server parameters, the simple query
//! protocol, and cancellation.
//!
//! ```text
//! simple_query(sql) ──'Q'──▶
//!   ◀── RowDescription, DataRow*, CommandComplete  (per statement)
//!   ◀── ErrorResponse (the rest of the string is skipped)
//!   ◀── ReadyForQuery
//! cancel token ──new connection── CancelRequest(pid, key) ──▶ (server closes)
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;

use pgscram_wire::{
    BackendKeyData, BackendMessage, Bind, CancelKey, CancelRequest, ErrorFields, Execute,
    FrontendMessage, Parse, StartupRequest, Target, TransactionStatus,
};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpStream, UnixStream};
use zeroize::Zeroize as _;

use crate::auth::AuthMethod;
use crate::error::{Error, ProtocolError};
use crate::stream::{Framed, QUERY_MESSAGE_LIMIT, Stream};

/// TLS parameters of the connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsInfo {
    /// `TLSv1.3` or `TLSv1.2`.
    pub version: String,
    /// The IANA name of the cipher suite.
    pub cipher: String,
}

/// How the connection was set up: what `pgscram ping` prints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Negotiated {
    /// How the server authenticated the client.
    pub method: AuthMethod,
    /// `SCRAM-SHA-256` or `SCRAM-SHA-256-PLUS` when SCRAM was used.
    pub mechanism: Option<&'static str>,
    /// True when the SCRAM exchange was bound to the TLS channel (tls-server-end-point).
    pub channel_binding: bool,
    /// True when the server proved it knows the password's verifier (SCRAM only:
    /// with md5, cleartext or trust the server proves nothing).
    pub server_verified: bool,
    /// `None` for a plaintext connection.
    pub tls: Option<TlsInfo>,
    /// The role logged in as.
    pub user: String,
    /// The database connected to.
    pub database: String,
    /// The address or socket connected to.
    pub server: String,
}

impl fmt::Display for Negotiated {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "authentication: {}", self.method)?;
        if let Some(mechanism) = self.mechanism {
            write!(f, " ({mechanism})")?;
        }
        write!(
            f,
            "\nchannel binding: {}",
            if self.channel_binding {
                "tls-server-end-point"
            } else {
                "none"
            }
        )?;
        write!(
            f,
            "\nserver signature: {}",
            if self.server_verified {
                "verified"
            } else {
                "not applicable (the server proved nothing)"
            }
        )?;
        match &self.tls {
            Some(tls) => write!(f, "\ntls: {} {}", tls.version, tls.cipher),
            None => f.write_str("\ntls: none"),
        }
    }
}

/// Where cancel requests go: the address this connection reached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CancelTarget {
    /// The server's TCP address.
    Tcp(SocketAddr),
    /// The path of the server's Unix-domain socket.
    Unix(PathBuf),
}

impl fmt::Display for CancelTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CancelTarget::Tcp(addr) => addr.fmt(f),
            CancelTarget::Unix(path) => path.display().fmt(f),
        }
    }
}

/// The result of one statement of a simple query.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueryResult {
    /// Column names; empty for statements that return no rows.
    pub columns: Vec<String>,
    /// Values in text format; `None` is SQL NULL.
    pub rows: Vec<Vec<Option<String>>>,
    /// `SELECT 2`, `ALTER ROLE`, ...; empty for an empty query.
    pub command_tag: String,
}

/// Cancels the running query of a connection from elsewhere (another task). Holds the
/// backend's secret key, so its Debug output hides it.
#[derive(Clone)]
pub struct CancelToken {
    target: CancelTarget,
    pid: i32,
    key: CancelKey,
}

impl fmt::Debug for CancelToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CancelToken")
            .field("target", &self.target)
            .field("pid", &self.pid)
            .finish_non_exhaustive()
    }
}

impl CancelToken {
    /// Sends a CancelRequest on a new connection and waits until the server closes it
    /// (so the request was read). Cancellation is best effort: the query may have
    /// finished already.
    pub async fn cancel(&self) -> Result<(), Error> {
        let mut out = Vec::new();
        StartupRequest::Cancel(CancelRequest {
            pid: self.pid,
            key: self.key.clone(),
        })
        .encode(&mut out)?;
        let connect_error = |error| Error::Connect {
            target: self.target.to_string(),
            error,
        };
        match &self.target {
            CancelTarget::Tcp(addr) => {
                let mut socket = TcpStream::connect(addr).await.map_err(connect_error)?;
                send_and_wait(&mut socket, &out).await
            }
            CancelTarget::Unix(path) => {
                let mut socket = UnixStream::connect(path).await.map_err(connect_error)?;
                send_and_wait(&mut socket, &out).await
            }
        }
    }
}

async fn send_and_wait<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin>(
    socket: &mut S,
    request: &[u8],
) -> Result<(), Error> {
    socket.write_all(request).await.map_err(Error::Io)?;
    socket.flush().await.map_err(Error::Io)?;
    let mut sink = [0u8; 64];
    // The server sends nothing back; EOF says it has taken the request.
    loop {
        match socket.read(&mut sink).await {
            Ok(0) | Err(_) => return Ok(()),
            Ok(_) => {}
        }
    }
}

/// A column value as text, without leaving a second copy behind: values can be
/// secrets (audit reads `rolpassword`), so a lossy conversion wipes the original.
fn text(bytes: Vec<u8>) -> String {
    String::from_utf8(bytes).unwrap_or_else(|error| {
        let mut bytes = error.into_bytes();
        let text = String::from_utf8_lossy(&bytes).into_owned();
        bytes.zeroize();
        text
    })
}

/// A connection that has logged in and is ready for queries.
pub struct Connection {
    framed: Framed<Stream>,
    parameters: BTreeMap<String, String>,
    backend_key: Option<BackendKeyData>,
    negotiated: Negotiated,
    cancel_target: CancelTarget,
    notices: Vec<ErrorFields>,
    transaction: TransactionStatus,
    /// Set when a failure left the protocol state unknown; further queries are refused.
    broken: bool,
}

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection")
            .field("negotiated", &self.negotiated)
            .field("backend_pid", &self.backend_pid())
            .finish_non_exhaustive()
    }
}

/// A logged-in connection taken apart for relaying (the proxy): the stream, bytes read
/// past ReadyForQuery, and what the server said during startup.
pub struct Relay {
    /// The connection to the server, after TLS if any.
    pub stream: Stream,
    /// Bytes already read from `stream` past ReadyForQuery, to be relayed first.
    pub buffered: Vec<u8>,
    /// The parameters the server reported (ParameterStatus), latest value per name.
    pub parameters: BTreeMap<String, String>,
    /// The server's BackendKeyData, if it sent one.
    pub backend_key: Option<BackendKeyData>,
    /// How authentication and TLS went.
    pub negotiated: Negotiated,
}

impl Connection {
    /// Gives up the query API and hands the connection over, ready for queries.
    pub fn into_relay(self) -> Relay {
        let (stream, buffered) = self.framed.into_parts();
        Relay {
            stream,
            buffered,
            parameters: self.parameters,
            backend_key: self.backend_key,
            negotiated: self.negotiated,
        }
    }

    pub(crate) fn new(
        framed: Framed<Stream>,
        parameters: BTreeMap<String, String>,
        backend_key: Option<BackendKeyData>,
        negotiated: Negotiated,
        cancel_target: CancelTarget,
        notices: Vec<ErrorFields>,
    ) -> Self {
        Connection {
            framed,
            parameters,
            backend_key,
            negotiated,
            cancel_target,
            notices,
            transaction: TransactionStatus::Idle,
            broken: false,
        }
    }

    /// How authentication and TLS went.
    pub fn negotiated(&self) -> &Negotiated {
        &self.negotiated
    }

    /// A parameter the server reported (ParameterStatus), e.g. `server_version`.
    pub fn parameter(&self, name: &str) -> Option<&str> {
        self.parameters.get(name).map(String::as_str)
    }

    /// Every parameter the server reported, latest value per name.
    pub fn parameters(&self) -> &BTreeMap<String, String> {
        &self.parameters
    }

    /// The backend's process id (BackendKeyData), if the server sent one.
    pub fn backend_pid(&self) -> Option<i32> {
        self.backend_key.as_ref().map(|k| k.pid)
    }

    /// The transaction status of the last ReadyForQuery.
    pub fn transaction_status(&self) -> TransactionStatus {
        self.transaction
    }

    /// Notices received so far (and forgets them).
    pub fn take_notices(&mut self) -> Vec<ErrorFields> {
        std::mem::take(&mut self.notices)
    }

    /// A token to cancel this connection's running query from another task.
    pub fn cancel_token(&self) -> Option<CancelToken> {
        self.backend_key.as_ref().map(|key| CancelToken {
            target: self.cancel_target.clone(),
            pid: key.pid,
            key: key.key.clone(),
        })
    }

    /// Runs `sql` with the simple query protocol; one result per statement. On an
    /// ErrorResponse the remaining statements are skipped (as PostgreSQL does) and the
    /// error is returned once the server is ready again, so the connection stays usable.
    pub async fn simple_query(&mut self, sql: &str) -> Result<Vec<QueryResult>, Error> {
        if self.broken {
            return Err(Error::Closed);
        }
        let mut out = Vec::new();
        FrontendMessage::Query(sql.to_owned()).encode(&mut out)?;
        if let Err(error) = self.framed.send(&out).await {
            self.broken = true;
            return Err(error);
        }
        match self.read_results().await {
            Ok(result) => result,
            Err(error) => {
                self.broken = true;
                Err(error)
            }
        }
    }

    /// Runs `sql` and returns the last statement's result.
    pub async fn query(&mut self, sql: &str) -> Result<QueryResult, Error> {
        Ok(self.simple_query(sql).await?.pop().unwrap_or_default())
    }

    /// Runs one statement with text parameters bound by the extended protocol (Parse,
    /// Bind, Describe, Execute, Sync): values never become SQL text, so no quoting can
    /// go wrong. `None` is NULL.
    pub async fn query_params(
        &mut self,
        sql: &str,
        params: &[Option<&str>],
    ) -> Result<QueryResult, Error> {
        if self.broken {
            return Err(Error::Closed);
        }
        let mut out = Vec::new();
        FrontendMessage::Parse(Parse {
            query: sql.to_owned(),
            ..Parse::default()
        })
        .encode(&mut out)?;
        FrontendMessage::Bind(Bind {
            params: params
                .iter()
                .map(|p| p.map(|v| v.as_bytes().to_vec()))
                .collect(),
            ..Bind::default()
        })
        .encode(&mut out)?;
        FrontendMessage::Describe(Target::portal("")).encode(&mut out)?;
        FrontendMessage::Execute(Execute::default()).encode(&mut out)?;
        FrontendMessage::Sync.encode(&mut out)?;
        if let Err(error) = self.framed.send(&out).await {
            self.broken = true;
            return Err(error);
        }
        match self.read_results().await {
            Ok(result) => result.map(|mut results| results.pop().unwrap_or_default()),
            Err(error) => {
                self.broken = true;
                Err(error)
            }
        }
    }

    /// Outer error: the connection is broken. Inner: the server's verdict on the query.
    async fn read_results(&mut self) -> Result<Result<Vec<QueryResult>, Error>, Error> {
        let mut results = Vec::new();
        let mut current = QueryResult::default();
        let mut failure = None;
        loop {
            match self.framed.read_backend(QUERY_MESSAGE_LIMIT).await? {
                BackendMessage::RowDescription(fields) => {
                    current.columns = fields.into_iter().map(|f| f.name).collect();
                }
                BackendMessage::DataRow(values) => {
                    current
                        .rows
                        .push(values.into_iter().map(|v| v.map(text)).collect());
                }
                BackendMessage::CommandComplete(tag) => {
                    current.command_tag = tag;
                    results.push(std::mem::take(&mut current));
                }
                BackendMessage::EmptyQueryResponse => results.push(std::mem::take(&mut current)),
                // The extended protocol's acknowledgements (query_params).
                BackendMessage::ParseComplete
                | BackendMessage::BindComplete
                | BackendMessage::NoData => {}
                BackendMessage::ErrorResponse(fields) => {
                    failure = Some(Error::Server(Box::new(fields)));
                }
                BackendMessage::NoticeResponse(notice) => self.notices.push(notice),
                BackendMessage::ParameterStatus { name, value } => {
                    self.parameters.insert(name, value);
                }
                BackendMessage::NotificationResponse(_) => {}
                BackendMessage::CopyInResponse(_) => {
                    let mut out = Vec::new();
                    FrontendMessage::CopyFail("COPY FROM STDIN is not supported by pgscram".into())
                        .encode(&mut out)?;
                    self.framed.send(&out).await?;
                }
                BackendMessage::CopyOutResponse(_)
                | BackendMessage::CopyData(_)
                | BackendMessage::CopyDone => {}
                BackendMessage::ReadyForQuery(status) => {
                    self.transaction = status;
                    return Ok(match failure {
                        Some(error) => Err(error),
                        None => Ok(results),
                    });
                }
                other => {
                    return Err(ProtocolError::Unexpected {
                        tag: other.tag(),
                        during: "a simple query",
                    }
                    .into());
                }
            }
        }
    }

    /// Sends Terminate and closes the socket.
    pub async fn close(mut self) {
        let mut out = Vec::new();
        if FrontendMessage::Terminate.encode(&mut out).is_ok() {
            let _ = self.framed.send(&out).await;
        }
        self.framed.shutdown().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_values() {
        assert_eq!(text(b"caf\xc3\xa9".to_vec()), "café");
        assert_eq!(text(b"a\xffb".to_vec()), "a\u{fffd}b");
    }

    #[test]
    fn negotiated_display() {
        let n = Negotiated {
            method: AuthMethod::Md5,
            mechanism: None,
            channel_binding: false,
            server_verified: false,
            tls: None,
            user: "u".into(),
            database: "d".into(),
            server: "/tmp/.s.PGSQL.5432".into(),
        };
        assert_eq!(
            n.to_string(),
            "authentication: md5\nchannel binding: none\n\
             server signature: not applicable (the server proved nothing)\ntls: none"
        );
    }
}
