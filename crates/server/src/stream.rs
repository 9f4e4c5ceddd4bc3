//! One connection's byte stream, whatever it runs over (TCP, Unix socket, TLS), with the
//! framing of crates/wire on top: read a whole message under a size limit, write bytes.

use std::io;

use pgscram_wire::frame::{take_message, take_startup};
use pgscram_wire::{DecodeError, Message, StartupPacket};
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _};

/// Most spare room made for a read from the socket.
pub const READ_CHUNK: usize = 8192;
/// Least spare room made when the buffer grows: room grows with what the message has
/// brought so far, so a client that trickles bytes makes the server hold little more
/// than it sent.
const LEAST_ROOM: usize = 1024;
/// Below this much spare room, the buffer grows before the next read.
const MIN_SPARE: usize = 512;
/// Output room kept between replies; a bigger reply's buffer goes back once sent.
const OUT_KEEP: usize = 4096;

/// Anything a session can run over.
pub trait Transport: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Transport for T {}

/// Why reading a message stopped.
#[derive(Debug)]
pub enum ReadError {
    /// The peer closed the connection between messages (PostgreSQL exits silently).
    Eof,
    /// The peer closed the connection in the middle of a message.
    Truncated,
    /// The connection broke.
    Io(#[allow(dead_code)] io::Error),
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
    /// Told when reads wait on the client, so a stalled handshake can be found.
    watch: Option<std::sync::Arc<crate::admission::Watch>>,
}

impl Conn {
    /// Buffers start empty and grow with what the peer actually sends, so an idle or
    /// half-open connection holds only what its last read needed.
    pub fn new(io: Box<dyn Transport>) -> Self {
        Conn {
            io,
            buf: Vec::new(),
            out: Vec::new(),
            watch: None,
        }
    }

    /// Reports this connection's waits on its client to `watch`.
    pub(crate) fn set_watch(&mut self, watch: Option<std::sync::Arc<crate::admission::Watch>>) {
        self.watch = watch;
    }

    /// The watch set with [`Conn::set_watch`].
    pub(crate) fn watch(&self) -> Option<std::sync::Arc<crate::admission::Watch>> {
        self.watch.clone()
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

    /// Reads one frontend message after login, with the limit PostgreSQL applies to its
    /// type (a Sync or Flush is a few bytes, a Query up to 1 GiB), so a client cannot
    /// make the server buffer a huge message of a type that is always small.
    pub async fn read_frontend(&mut self) -> Result<Message, ReadError> {
        loop {
            if let Some(&tag) = self.buf.first() {
                let limit =
                    pgscram_wire::frame::frontend_max_len(tag).map_err(ReadError::Protocol)?;
                return self.read_message(limit).await;
            }
            self.fill().await?;
        }
    }

    /// Waits `duration` while watching the peer: `true` when the time passed, `false`
    /// as soon as the peer closes (or sends more than a client in this state ever
    /// would), so a client that hangs up frees its connection at once.
    pub async fn wait_watching(&mut self, duration: std::time::Duration) -> bool {
        const MOST_UNREAD: usize = 16 * 1024;
        let deadline = tokio::time::sleep(duration);
        tokio::pin!(deadline);
        loop {
            tokio::select! {
                () = &mut deadline => return true,
                read = self.fill() => {
                    if read.is_err() || self.buf.len() > MOST_UNREAD {
                        return false;
                    }
                }
            }
        }
    }

    /// Reads once. Between messages (nothing buffered) the connection holds no buffer
    /// while it waits: the read lands in a stack buffer during the poll that finds data
    /// and only what arrived is copied to the heap, so an idle session or a half-open
    /// connection that never sends holds no read buffer at all (a memcpy of what was
    /// read, beside the system call). In the middle of a message the read goes straight
    /// into the buffer's spare room, made in steps that grow with the message up to
    /// [`READ_CHUNK`]. The framing functions
    /// have already refused any length over the caller's limit, so the buffer never
    /// holds more than one message under that limit plus one chunk.
    async fn fill(&mut self) -> Result<(), ReadError> {
        if let Some(watch) = &self.watch {
            watch.waiting();
        }
        let read = if self.buf.is_empty() {
            // Nor a reply buffer (the next reply allocates one: a malloc beside two
            // system calls).
            self.buf = Vec::new();
            if self.out.is_empty() {
                self.out = Vec::new();
            }
            let (io, buf) = (&mut self.io, &mut self.buf);
            std::future::poll_fn(|cx| poll_read_fresh(io, buf, cx)).await
        } else {
            if self.buf.capacity() - self.buf.len() < MIN_SPARE {
                // Exact, not doubling: the bound is what was received plus one chunk.
                let room = self.buf.len().clamp(LEAST_ROOM, READ_CHUNK);
                self.buf.reserve_exact(room);
            }
            self.io.read_buf(&mut self.buf).await
        };
        if let Some(watch) = &self.watch {
            watch.progressed();
        }
        let n = read?;
        if n == 0 {
            return Err(if self.buf.is_empty() {
                ReadError::Eof
            } else {
                ReadError::Truncated
            });
        }
        Ok(())
    }

    /// Bytes the buffers hold allocated (for tests of memory bounds).
    #[cfg(test)]
    pub fn allocated(&self) -> usize {
        self.buf.capacity() + self.out.capacity()
    }

    /// The output buffer: encode messages into it, then `flush`.
    pub fn out(&mut self) -> &mut Vec<u8> {
        &mut self.out
    }

    pub async fn flush(&mut self) -> io::Result<()> {
        if !self.out.is_empty() {
            self.io.write_all(&self.out).await?;
            if self.out.capacity() > OUT_KEEP {
                // A large reply's buffer is not kept for the idle time that follows.
                self.out = Vec::new();
            } else {
                self.out.clear();
            }
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

/// One read into a stack buffer that lives only for this poll, then what arrived is
/// appended to `buf` (allocated to fit). Nothing is held while the read is pending.
fn poll_read_fresh(
    io: &mut Box<dyn Transport>,
    buf: &mut Vec<u8>,
    cx: &mut std::task::Context<'_>,
) -> std::task::Poll<io::Result<usize>> {
    let mut room = [std::mem::MaybeUninit::<u8>::uninit(); READ_CHUNK];
    let mut read = tokio::io::ReadBuf::uninit(&mut room);
    std::task::ready!(std::pin::Pin::new(io).poll_read(cx, &mut read))?;
    let filled = read.filled();
    buf.reserve_exact(filled.len());
    buf.extend_from_slice(filled);
    std::task::Poll::Ready(Ok(filled.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_length_over_the_limit_is_refused_before_the_body_arrives() {
        let (client, server) = tokio::io::duplex(64 * 1024);
        let mut conn = Conn::new(Box::new(server));
        let mut client = client;
        // A 'p' message claiming 1 GiB, followed by a little of its "body".
        let mut bytes = vec![b'p'];
        bytes.extend_from_slice(&0x4000_0000u32.to_be_bytes());
        bytes.extend_from_slice(&[b'x'; 100]);
        client.write_all(&bytes).await.unwrap();
        let result = conn
            .read_message(pgscram_wire::frame::limits::SASL_MESSAGE)
            .await;
        assert!(matches!(result, Err(ReadError::Protocol(_))));
        assert!(conn.allocated() <= bytes.len() + READ_CHUNK);
    }

    #[tokio::test]
    async fn buffers_stay_bounded_while_a_client_trickles_bytes() {
        let (mut client, server) = tokio::io::duplex(64 * 1024);
        let mut conn = Conn::new(Box::new(server));
        assert_eq!(conn.allocated(), 0);
        // A startup packet sent one byte at a time: the buffer never exceeds the
        // packet limit plus one read.
        let mut packet = Vec::new();
        pgscram_wire::StartupRequest::Startup(pgscram_wire::StartupMessage::new("u"))
            .encode(&mut packet)
            .unwrap();
        let sent = packet.len();
        let reader = tokio::spawn(async move {
            let packet = conn
                .read_startup(pgscram_wire::frame::limits::STARTUP_PACKET)
                .await;
            (packet.is_ok(), conn.allocated())
        });
        for byte in packet {
            client.write_all(&[byte]).await.unwrap();
            tokio::task::yield_now().await;
        }
        let (ok, allocated) = reader.await.unwrap();
        assert!(ok);
        assert!(allocated <= sent + LEAST_ROOM, "{allocated}");
    }

    #[tokio::test]
    async fn a_waiting_session_keeps_no_large_buffer() {
        let (mut client, server) = tokio::io::duplex(256 * 1024);
        let mut conn = Conn::new(Box::new(server));
        let large = format!("SELECT '{}'\0", "x".repeat(100_000));
        // A large query and reply, then a small one (a login's greeting is about 600
        // bytes): while the client is idle afterwards, neither buffer is kept.
        for (sql, reply) in [(large.as_str(), 100_000), ("SELECT 1\0", 600)] {
            let mut query = vec![b'Q'];
            query.extend_from_slice(&(4 + sql.len() as u32).to_be_bytes());
            query.extend_from_slice(sql.as_bytes());
            client.write_all(&query).await.unwrap();
            assert!(conn.read_frontend().await.is_ok());
            conn.out().extend_from_slice(&vec![b'D'; reply]);
            conn.flush().await.unwrap();
            // The next read waits on an idle client.
            let next =
                tokio::time::timeout(std::time::Duration::from_millis(20), conn.read_frontend());
            assert!(next.await.is_err());
            assert_eq!(conn.allocated(), 0, "idle after a {reply}-byte reply");
        }
    }

    #[tokio::test]
    async fn eof_is_reported() {
        let (client, server) = tokio::io::duplex(1024);
        drop(client);
        let mut conn = Conn::new(Box::new(server));
        assert!(matches!(
            conn.read_startup(pgscram_wire::frame::limits::STARTUP_PACKET)
                .await,
            Err(ReadError::Eof)
        ));
    }
}
