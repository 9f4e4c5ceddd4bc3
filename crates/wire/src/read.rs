//! A cursor over one message body, with PostgreSQL's `pq_getmsg*` rules: every read
//! is bounds-checked and fails with PostgreSQL's message, so decoders are written as
//! straight-line code that cannot index out of range.

use crate::DecodeError;

pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    pub(crate) fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// One byte; PostgreSQL says `no data left in message` here, not `insufficient`.
    pub(crate) fn u8(&mut self) -> Result<u8, DecodeError> {
        let byte = *self.buf.get(self.pos).ok_or(DecodeError::NoDataLeft)?;
        self.pos += 1;
        Ok(byte)
    }

    pub(crate) fn bytes(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        let end = self
            .pos
            .checked_add(n)
            .ok_or(DecodeError::InsufficientData)?;
        let bytes = self
            .buf
            .get(self.pos..end)
            .ok_or(DecodeError::InsufficientData)?;
        self.pos = end;
        Ok(bytes)
    }

    pub(crate) fn array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let bytes = self.bytes(N)?;
        bytes.try_into().map_err(|_| DecodeError::InsufficientData)
    }

    pub(crate) fn i16(&mut self) -> Result<i16, DecodeError> {
        self.array().map(i16::from_be_bytes)
    }

    /// Counts are read unsigned, as PostgreSQL's `pq_getmsgint(msg, 2)` does.
    pub(crate) fn u16(&mut self) -> Result<u16, DecodeError> {
        self.array().map(u16::from_be_bytes)
    }

    pub(crate) fn i32(&mut self) -> Result<i32, DecodeError> {
        self.array().map(i32::from_be_bytes)
    }

    pub(crate) fn u32(&mut self) -> Result<u32, DecodeError> {
        self.array().map(u32::from_be_bytes)
    }

    /// An Int32 length then that many bytes; -1 is SQL NULL, any other negative
    /// length is `insufficient data left in message`, as in PostgreSQL.
    pub(crate) fn counted(&mut self) -> Result<Option<&'a [u8]>, DecodeError> {
        match self.i32()? {
            -1 => Ok(None),
            len => {
                let len = usize::try_from(len).map_err(|_| DecodeError::InsufficientData)?;
                self.bytes(len).map(Some)
            }
        }
    }

    /// A NUL-terminated string, without its NUL.
    pub(crate) fn cstr(&mut self) -> Result<&'a [u8], DecodeError> {
        let rest = &self.buf[self.pos..];
        let len = rest
            .iter()
            .position(|&b| b == 0)
            .ok_or(DecodeError::InvalidString)?;
        self.pos += len + 1;
        Ok(&rest[..len])
    }

    /// A NUL-terminated string that must be UTF-8.
    pub(crate) fn string(&mut self) -> Result<String, DecodeError> {
        utf8(self.cstr()?)
    }

    /// Everything left, for fields that run to the end of the message.
    pub(crate) fn rest(&mut self) -> &'a [u8] {
        let rest = &self.buf[self.pos..];
        self.pos = self.buf.len();
        rest
    }

    /// PostgreSQL's `pq_getmsgend`: a well-formed message has nothing left over.
    pub(crate) fn finish(&self) -> Result<(), DecodeError> {
        if self.remaining() == 0 {
            Ok(())
        } else {
            Err(DecodeError::InvalidMessageFormat)
        }
    }

    /// Capacity for `count` declared items of at least `min_size` bytes each, bounded
    /// by what the body can hold: a 7-byte message claiming 65535 items allocates
    /// nothing large.
    pub(crate) fn capacity(&self, count: usize, min_size: usize) -> usize {
        count.min(self.remaining() / min_size.max(1))
    }
}

/// Converts to `String`, reporting the first bad sequence the way PostgreSQL does:
/// as many bytes as the lead byte announces, or what is left of them.
pub(crate) fn utf8(bytes: &[u8]) -> Result<String, DecodeError> {
    match std::str::from_utf8(bytes) {
        Ok(text) => Ok(text.to_owned()),
        Err(error) => {
            let bad = &bytes[error.valid_up_to()..];
            let announced = match bad.first() {
                Some(0xc0..=0xdf) => 2,
                Some(0xe0..=0xef) => 3,
                Some(0xf0..=0xf7) => 4,
                _ => 1,
            };
            Err(DecodeError::InvalidUtf8(
                bad[..announced.min(bad.len())].to_vec(),
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_in_order_and_checks_the_end() {
        let body = [0, 1, 0xff, 0xff, 0xff, 0xff, b'a', 0, 9];
        let mut r = Reader::new(&body);
        assert_eq!(r.u16(), Ok(1));
        assert_eq!(r.i32(), Ok(-1));
        assert_eq!(r.string().as_deref(), Ok("a"));
        assert_eq!(r.finish(), Err(DecodeError::InvalidMessageFormat));
        assert_eq!(r.u8(), Ok(9));
        assert_eq!(r.finish(), Ok(()));
        assert_eq!(r.u8(), Err(DecodeError::NoDataLeft));
        assert_eq!(r.i16(), Err(DecodeError::InsufficientData));
    }

    #[test]
    fn counted_values() {
        let mut r = Reader::new(&[0xff, 0xff, 0xff, 0xff, 0, 0, 0, 2, b'x', b'y']);
        assert_eq!(r.counted(), Ok(None));
        assert_eq!(r.counted(), Ok(Some(&b"xy"[..])));
        let mut negative = Reader::new(&[0xff, 0xff, 0xff, 0xfe]);
        assert_eq!(negative.counted(), Err(DecodeError::InsufficientData));
        let mut too_long = Reader::new(&[0x7f, 0xff, 0xff, 0xff, 1]);
        assert_eq!(too_long.counted(), Err(DecodeError::InsufficientData));
    }

    #[test]
    fn unterminated_string() {
        let mut r = Reader::new(b"abc");
        assert_eq!(r.cstr(), Err(DecodeError::InvalidString));
        // A failed read consumes nothing.
        assert_eq!(r.remaining(), 3);
    }

    #[test]
    fn utf8_errors_show_the_sequence() {
        assert_eq!(utf8(b"ok").as_deref(), Ok("ok"));
        assert_eq!(
            utf8(b"a\xc3\x28b"),
            Err(DecodeError::InvalidUtf8(vec![0xc3, 0x28]))
        );
        assert_eq!(utf8(b"\xff"), Err(DecodeError::InvalidUtf8(vec![0xff])));
        assert_eq!(
            utf8(b"\xe2\x82"),
            Err(DecodeError::InvalidUtf8(vec![0xe2, 0x82]))
        );
    }

    #[test]
    fn capacity_is_bounded_by_the_body() {
        let r = Reader::new(&[0; 10]);
        assert_eq!(r.capacity(65535, 4), 2);
        assert_eq!(r.capacity(1, 4), 1);
        assert_eq!(r.capacity(5, 0), 5);
    }
}
