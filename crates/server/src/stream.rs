//! One connection's byte stream, whatever it runs over (TCP, Unix socket, TLS), with the
//! framing of crates/wire on top: read a whole message under a size limit, write bytes.

use std::io;

use pgscram_wire::frame::{take_message, take_startup};
use pgscram_wire::{DecodeError, Message, StartupPacket};
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _};

/// Anything a session can run over.
pub trait Transport: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Transport for T {}

/// Why reading a message stopped.
#[derive(Debug)]
pub enum ReadError {
    /// The peer closed the connection (PostgreSQL exits silently in this case).
    Eof,
    Io(io::Error),
    /// The bytes broke the protocol (bad length, over the limit): report and close.
    Protocol(DecodeError),
}

impl From<io::Error> for ReadError {
    fn from(e: io::Error) -> Self {
        ReadError::Io(e)
    }
}

/// A buffered, framed connection.
pub struct Conn {
    io: Box<dyn Transport>,
    buf: Vec<u8>,
    out: Vec<u8>,
}

impl Conn {
    pub fn new(io: Box<dyn Transport>) -> Self {
        Conn {
            io,
            buf: Vec::with_capacity(8192),
            out: Vec::with_capacity(8192),
        }
    }

    /// Bytes received but not yet consumed. After an SSLRequest this must be empty:
    /// anything there was sent in the clear before the TLS handshake (CVE-2021-23214).
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// Hands the transport over with the bytes read but not consumed (the proxy relays
    /// both once the login upstream is done).
    pub fn into_parts(self) -> (Box<dyn Transport>, Vec<u8>) {
        (self.io, self.buf)
    }

    /// Hands the raw transport back (to wrap it in TLS).
    pub fn into_inner(self) -> Box<dyn Transport> {
        self.io
    }

    pub async fn read_startup(&mut self, max_len: u32) -> Result<StartupPacket, ReadError> {
        loop {
            if let Some(packet) =
                take_startup(&mut self.buf, max_len).map_err(ReadError::Protocol)?
            {
                return Ok(packet);
            }
            self.fill().await?;
        }
    }

    /// Reads one tagged message whose length must not exceed `max_len` (checked from
    /// the header, before the body is buffered).
    pub async fn read_message(&mut self, max_len: u32) -> Result<Message, ReadError> {
        loop {
            if let Some(message) =
                take_message(&mut self.buf, max_len).map_err(ReadError::Protocol)?
            {
                return Ok(message);
            }
            self.fill().await?;
        }
    }

    async fn fill(&mut self) -> Result<(), ReadError> {
        let mut chunk = [0u8; 8192];
        let n = self.io.read(&mut chunk).await?;
        if n == 0 {
            return Err(ReadError::Eof);
        }
        self.buf.extend_from_slice(&chunk[..n]);
        Ok(())
    }

    /// The output buffer: encode messages into it, then `flush`.
    pub fn out(&mut self) -> &mut Vec<u8> {
        &mut self.out
    }

    pub async fn flush(&mut self) -> io::Result<()> {
        if !self.out.is_empty() {
            self.io.write_all(&self.out).await?;
            self.out.clear();
        }
        self.io.flush().await
    }

    /// Writes raw bytes immediately (the one-byte SSLRequest answer).
    pub async fn write_now(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.flush().await?;
        self.io.write_all(bytes).await?;
        self.io.flush().await
    }

    pub async fn shutdown(&mut self) {
        let _ = self.flush().await;
        let _ = self.io.shutdown().await;
    }
}
