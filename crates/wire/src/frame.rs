//! Framing: cutting whole messages off the front of a byte buffer the caller fills.
//!
//! ```text
//!  startup phase:  Int32 len (incl. itself) | Int32 code | body ...
//!  afterwards:     Byte1 tag | Int32 len (incl. itself) | body ...
//! ```
//!
//! A driver appends what it read to a `Vec<u8>` and calls [`take_startup`] or
//! [`take_message`] until they return `Ok(None)` (more bytes needed). The length word
//! is checked against the caller's limit as soon as it arrives, before any of the
//! body is waited for, so a hostile peer cannot make the driver buffer a gigabyte by
//! announcing one. The returned frame owns exactly the declared body, and the bytes
//! it came from are zeroed in the buffer, because they may hold a password.
//!
//! [`message_len`] and [`startup_len`] only measure, for proxies that forward frames
//! unchanged.

use std::fmt;

use crate::DecodeError;
use crate::secret::wipe;

/// Length-word limits PostgreSQL applies, for the caller to pick from.
pub mod limits {
    /// Startup packets: PostgreSQL allows 10000 bytes after the length word
    /// (`MAX_STARTUP_PACKET_LENGTH`), so the length word itself may reach 10004.
    pub const STARTUP_PACKET: u32 = 10_004;
    /// SASLInitialResponse and SASLResponse (`PG_MAX_SASL_MESSAGE_LENGTH`).
    pub const SASL_MESSAGE: u32 = 1_024;
    /// Cleartext and md5 password messages (`PG_MAX_AUTH_TOKEN_LENGTH`).
    pub const PASSWORD_MESSAGE: u32 = 65_535;
    /// Messages with short bodies: Sync, Execute, Describe... (`PQ_SMALL_MESSAGE_LIMIT`).
    pub const SMALL_MESSAGE: u32 = 10_000;
    /// Query, Parse, Bind, CopyData (`PQ_LARGE_MESSAGE_LIMIT`, 1 GB less 2 bytes).
    pub const LARGE_MESSAGE: u32 = 0x3fff_fffe;
}

/// The smallest startup length word: itself plus the 4-byte code.
const MIN_STARTUP_LEN: u32 = 8;
/// The largest length the protocol can express (a signed 32-bit word).
const MAX_WIRE_LEN: u32 = i32::MAX as u32;

/// One regular message: its tag and its body (the bytes after the length word).
/// The body is zeroed on drop, since a `p` message carries a password.
pub struct Message {
    tag: u8,
    body: Vec<u8>,
}

impl Message {
    /// A message from its tag and its body (without the length word).
    pub fn new(tag: u8, body: Vec<u8>) -> Self {
        Message { tag, body }
    }

    /// The tag byte (see [`crate::tag`]).
    pub fn tag(&self) -> u8 {
        self.tag
    }

    /// The bytes after the length word.
    pub fn body(&self) -> &[u8] {
        &self.body
    }

    /// Takes the body out; the caller then owns the duty to wipe it.
    pub fn into_body(mut self) -> Vec<u8> {
        std::mem::take(&mut self.body)
    }
}

impl fmt::Debug for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Length only: the body may be a password.
        f.debug_struct("Message")
            .field("tag", &char::from(self.tag))
            .field("body_len", &self.body.len())
            .finish()
    }
}

impl Drop for Message {
    fn drop(&mut self) {
        wipe(&mut self.body);
    }
}

/// One startup-phase packet: the code (protocol version or request code) and the rest.
pub struct StartupPacket {
    code: u32,
    body: Vec<u8>,
}

impl StartupPacket {
    /// A packet from its first Int32 and the bytes after it.
    pub fn new(code: u32, body: Vec<u8>) -> Self {
        StartupPacket { code, body }
    }

    /// Protocol version (`major << 16 | minor`) or a request code such as 80877103.
    pub fn code(&self) -> u32 {
        self.code
    }

    /// The bytes after the code.
    pub fn body(&self) -> &[u8] {
        &self.body
    }
}

impl fmt::Debug for StartupPacket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StartupPacket")
            .field("code", &self.code)
            .field("body_len", &self.body.len())
            .finish()
    }
}

impl Drop for StartupPacket {
    fn drop(&mut self) {
        wipe(&mut self.body);
    }
}

/// The whole length (tag included) of the message at the front of `buf`, once it is
/// all there; `max_len` bounds the length word.
pub fn message_len(buf: &[u8], max_len: u32) -> Result<Option<usize>, DecodeError> {
    message_len_with(buf, |_| Ok(max_len))
}

/// Like [`message_len`], with the limit chosen from the tag as soon as it arrives, so
/// an unknown tag fails before its length is read (PostgreSQL's order).
pub fn message_len_with(
    buf: &[u8],
    limit: impl FnOnce(u8) -> Result<u32, DecodeError>,
) -> Result<Option<usize>, DecodeError> {
    let Some(&tag) = buf.first() else {
        return Ok(None);
    };
    let max_len = limit(tag)?.min(MAX_WIRE_LEN);
    let [_, a, b, c, d, ..] = *buf else {
        return Ok(None);
    };
    let len = u32::from_be_bytes([a, b, c, d]);
    if !(4..=max_len).contains(&len) {
        return Err(DecodeError::InvalidMessageLength { tag, len });
    }
    let total = 1 + len as usize;
    Ok((buf.len() >= total).then_some(total))
}

/// The whole length of the startup packet at the front of `buf`, once it is all there.
pub fn startup_len(buf: &[u8], max_len: u32) -> Result<Option<usize>, DecodeError> {
    let [a, b, c, d, ..] = *buf else {
        return Ok(None);
    };
    let len = u32::from_be_bytes([a, b, c, d]);
    if !(MIN_STARTUP_LEN..=max_len.min(MAX_WIRE_LEN)).contains(&len) {
        return Err(DecodeError::InvalidStartupPacketLength(len));
    }
    let total = len as usize;
    Ok((buf.len() >= total).then_some(total))
}

/// Removes the message at the front of `buf` once it is complete.
pub fn take_message(buf: &mut Vec<u8>, max_len: u32) -> Result<Option<Message>, DecodeError> {
    take_message_with(buf, |_| Ok(max_len))
}

/// Like [`take_message`] with a per-tag limit, e.g. [`frontend_max_len`].
pub fn take_message_with(
    buf: &mut Vec<u8>,
    limit: impl FnOnce(u8) -> Result<u32, DecodeError>,
) -> Result<Option<Message>, DecodeError> {
    let Some(total) = message_len_with(buf, limit)? else {
        return Ok(None);
    };
    let message = Message {
        tag: buf[0],
        body: buf[5..total].to_vec(),
    };
    consume(buf, total);
    Ok(Some(message))
}

/// Removes the startup packet at the front of `buf` once it is complete.
pub fn take_startup(buf: &mut Vec<u8>, max_len: u32) -> Result<Option<StartupPacket>, DecodeError> {
    let Some(total) = startup_len(buf, max_len)? else {
        return Ok(None);
    };
    let [_, _, _, _, a, b, c, d, ..] = buf[..] else {
        return Ok(None);
    };
    let packet = StartupPacket {
        code: u32::from_be_bytes([a, b, c, d]),
        body: buf[8..total].to_vec(),
    };
    consume(buf, total);
    Ok(Some(packet))
}

/// PostgreSQL's limits for messages after authentication, by tag; any other tag is
/// `invalid frontend message type` (FATAL), reported before the length is read.
///
/// During authentication the server expects only `p` and uses
/// [`limits::SASL_MESSAGE`] or [`limits::PASSWORD_MESSAGE`] instead.
pub fn frontend_max_len(tag: u8) -> Result<u32, DecodeError> {
    use crate::tag::frontend::*;
    match tag {
        QUERY | FUNCTION_CALL | PARSE | BIND | COPY_DATA => Ok(limits::LARGE_MESSAGE),
        TERMINATE | CLOSE | DESCRIBE | EXECUTE | FLUSH | SYNC | COPY_DONE | COPY_FAIL => {
            Ok(limits::SMALL_MESSAGE)
        }
        other => Err(DecodeError::InvalidFrontendMessageType(other)),
    }
}

/// Drops the first `n` bytes and zeroes the tail they vacate, so no consumed frame
/// (perhaps a password) lingers in the buffer's spare capacity.
fn consume(buf: &mut Vec<u8>, n: usize) {
    let kept = shift_out(buf, n);
    buf.truncate(kept);
}

/// Moves the bytes after `n` to the front and zeroes the rest; returns how many remain.
fn shift_out(buf: &mut [u8], n: usize) -> usize {
    let kept = buf.len() - n;
    buf.copy_within(n.., 0);
    buf[kept..].fill(0);
    kept
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(tag: u8, body: &[u8]) -> Vec<u8> {
        let mut out = vec![tag];
        out.extend_from_slice(&(body.len() as u32 + 4).to_be_bytes());
        out.extend_from_slice(body);
        out
    }

    #[test]
    fn takes_messages_one_at_a_time() {
        let mut buf = frame(b'Q', b"select 1\0");
        buf.extend(frame(b'S', b""));
        buf.push(b'X');
        let first = take_message(&mut buf, limits::SMALL_MESSAGE)
            .unwrap()
            .unwrap();
        assert_eq!((first.tag(), first.body()), (b'Q', &b"select 1\0"[..]));
        let second = take_message(&mut buf, limits::SMALL_MESSAGE)
            .unwrap()
            .unwrap();
        assert_eq!((second.tag(), second.body()), (b'S', &b""[..]));
        assert_eq!(buf, [b'X']);
        assert!(
            take_message(&mut buf, limits::SMALL_MESSAGE)
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn over_limit_is_refused_from_the_header_alone() {
        // Only the five header bytes: the body is never waited for.
        let mut buf = vec![b'p', 0, 0, 4, 1];
        assert_eq!(
            take_message(&mut buf, limits::SASL_MESSAGE).unwrap_err(),
            DecodeError::InvalidMessageLength {
                tag: b'p',
                len: 1025
            }
        );
        let mut buf = vec![b'p', 0, 0, 4, 0];
        assert!(
            take_message(&mut buf, limits::SASL_MESSAGE)
                .unwrap()
                .is_none()
        );
        let mut huge = vec![0x7f, 0xff, 0xff, 0xff];
        assert_eq!(
            take_startup(&mut huge, limits::STARTUP_PACKET).unwrap_err(),
            DecodeError::InvalidStartupPacketLength(0x7fff_ffff)
        );
    }

    #[test]
    fn short_and_negative_lengths() {
        for len in [0u32, 3, 0x8000_0000, u32::MAX] {
            let mut buf = vec![b'Q'];
            buf.extend_from_slice(&len.to_be_bytes());
            assert_eq!(
                take_message(&mut buf, u32::MAX).unwrap_err(),
                DecodeError::InvalidMessageLength { tag: b'Q', len }
            );
        }
        for len in [0u32, 7] {
            let mut buf = len.to_be_bytes().to_vec();
            assert_eq!(
                take_startup(&mut buf, limits::STARTUP_PACKET).unwrap_err(),
                DecodeError::InvalidStartupPacketLength(len)
            );
        }
    }

    #[test]
    fn startup_limit_is_postgres_limit() {
        let ok = 10_004u32.to_be_bytes();
        assert!(startup_len(&ok, limits::STARTUP_PACKET).unwrap().is_none());
        let too_long = 10_005u32.to_be_bytes();
        assert!(startup_len(&too_long, limits::STARTUP_PACKET).is_err());
    }

    #[test]
    fn takes_a_startup_packet() {
        let mut buf = vec![0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f, b'N'];
        let packet = take_startup(&mut buf, limits::STARTUP_PACKET)
            .unwrap()
            .unwrap();
        assert_eq!(packet.code(), 80_877_103);
        assert!(packet.body().is_empty());
        assert_eq!(buf, [b'N']);
    }

    #[test]
    fn unknown_tag_fails_before_its_length() {
        let mut buf = vec![b'R'];
        assert_eq!(
            take_message_with(&mut buf, frontend_max_len).unwrap_err(),
            DecodeError::InvalidFrontendMessageType(b'R')
        );
        let mut buf = vec![b'Q'];
        assert!(
            take_message_with(&mut buf, frontend_max_len)
                .unwrap()
                .is_none()
        );
        assert_eq!(
            frontend_max_len(b'p'),
            Err(DecodeError::InvalidFrontendMessageType(b'p'))
        );
        assert_eq!(frontend_max_len(b'S'), Ok(limits::SMALL_MESSAGE));
        assert_eq!(frontend_max_len(b'B'), Ok(limits::LARGE_MESSAGE));
    }

    #[test]
    fn consumed_bytes_are_zeroed() {
        let mut raw = frame(b'p', b"secret\0");
        raw.extend_from_slice(b"ab");
        let kept = shift_out(&mut raw, 12);
        assert_eq!(kept, 2);
        assert_eq!(&raw[..2], b"ab");
        assert!(raw[2..].iter().all(|&b| b == 0));

        let mut buf = frame(b'p', b"secret\0");
        buf.extend_from_slice(b"ab");
        let message = take_message(&mut buf, limits::PASSWORD_MESSAGE)
            .unwrap()
            .unwrap();
        assert_eq!(buf, b"ab");
        assert_eq!(message.body(), b"secret\0");
        assert!(!format!("{message:?}").contains("secret"));
    }

    #[test]
    fn measuring_does_not_consume() {
        let buf = frame(b'd', b"xyz");
        assert_eq!(message_len(&buf, 100), Ok(Some(8)));
        assert_eq!(message_len(&buf[..7], 100), Ok(None));
        assert_eq!(message_len(&[], 100), Ok(None));
    }
}
