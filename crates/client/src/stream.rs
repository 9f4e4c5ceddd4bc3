//! The byte stream under a connection (TCP, Unix socket, or TLS over TCP) and the
//! message framing on top of it.
//!
//! ```text
//! socket ──read──▶ Vec<u8> ──wire::frame::take_message(limit)──▶ Message ──▶ BackendMessage
//! bytes ◀──write_all + flush── encoded frontend message
//! ```
//!
//! The limit is checked on the length word before the body is buffered, so a hostile
//! server cannot make the client allocate what it announces.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use pgscram_wire::BackendMessage;
use pgscram_wire::frame::{self, Message};
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _, ReadBuf};
use tokio::net::{TcpStream, UnixStream};
use tokio_rustls::client::TlsStream;
use zeroize::Zeroize as _;

use crate::error::Error;

/// The transport of one connection.
pub enum Stream {
    /// Plaintext TCP.
    Tcp(TcpStream),
    /// A Unix-domain socket.
    Unix(UnixStream),
    /// PostgreSQL never runs TLS over Unix sockets, so TLS is always over TCP.
    Tls(Box<TlsStream<TcpStream>>),
}

impl Stream {
    /// The TLS session (protocol version, cipher suite, peer certificates), if any.
    pub fn tls(&self) -> Option<&rustls::ClientConnection> {
        match self {
            Stream::Tls(tls) => Some(tls.get_ref().1),
            _ => None,
        }
    }
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Unix(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Unix(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_flush(cx),
            Stream::Unix(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Unix(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

/// Largest message the client accepts during authentication. PostgreSQL's largest
/// authentication messages are SASL data of well under 1 KiB and error reports.
pub const AUTH_MESSAGE_LIMIT: u32 = frame::limits::SMALL_MESSAGE;

/// Largest message accepted once logged in (rows can be big).
pub const QUERY_MESSAGE_LIMIT: u32 = frame::limits::LARGE_MESSAGE;

/// A stream plus a read buffer, speaking in whole messages. Generic so tests can run
/// the protocol over an in-memory pipe.
pub struct Framed<S = Stream> {
    stream: S,
    buf: Vec<u8>,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Framed<S> {
    /// Wraps `stream` with an empty read buffer.
    pub fn new(stream: S) -> Self {
        Framed {
            stream,
            buf: Vec::with_capacity(8192),
        }
    }

    /// The stream and the bytes read past the last message, for a caller that takes
    /// over the connection (a proxy relaying the rest of the session).
    pub fn into_parts(mut self) -> (S, Vec<u8>) {
        let buf = std::mem::take(&mut self.buf);
        (self.stream, buf)
    }

    /// The underlying stream.
    pub fn stream(&self) -> &S {
        &self.stream
    }

    /// Bytes read but not yet consumed.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// Writes already-encoded messages and flushes them.
    pub async fn send(&mut self, bytes: &[u8]) -> Result<(), Error> {
        self.stream.write_all(bytes).await.map_err(Error::Io)?;
        self.stream.flush().await.map_err(Error::Io)
    }

    /// Reads the next whole message; its length word may not exceed `limit`.
    pub async fn read_message(&mut self, limit: u32) -> Result<Message, Error> {
        loop {
            if let Some(message) = frame::take_message(&mut self.buf, limit)
                .map_err(|e| Error::Protocol(crate::error::ProtocolError::Decode(e)))?
            {
                return Ok(message);
            }
            let mut chunk = [0u8; 8192];
            let n = self.stream.read(&mut chunk).await.map_err(Error::Io)?;
            if n == 0 {
                return Err(Error::Closed);
            }
            self.buf.extend_from_slice(&chunk[..n]);
            // Server messages can carry secrets (a query result holding a verifier).
            chunk[..n].zeroize();
        }
    }

    /// Reads and decodes the next message.
    pub async fn read_backend(&mut self, limit: u32) -> Result<BackendMessage, Error> {
        let message = self.read_message(limit).await?;
        BackendMessage::decode(&message)
            .map_err(|e| Error::Protocol(crate::error::ProtocolError::Decode(e)))
    }

    /// Shuts down the write side (after a TLS close_notify), ignoring errors.
    pub async fn shutdown(&mut self) {
        // Best effort: the peer may already be gone.
        let _ = self.stream.shutdown().await;
    }
}
