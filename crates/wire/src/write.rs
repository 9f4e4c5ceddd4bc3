//! Helpers that append protocol fields to a `Vec<u8>`. A message is written in one
//! go by [`message`], which patches the length word at the end and rolls the buffer
//! back if any field is refused, so a failed encode never leaves half a message
//! queued for the socket.

use crate::EncodeError;

/// Writes `tag`, a length word and the body `fill` appends; `tag: None` writes a
/// startup-phase packet (length word first, no tag).
pub(crate) fn message(
    out: &mut Vec<u8>,
    tag: Option<u8>,
    fill: impl FnOnce(&mut Vec<u8>) -> Result<(), EncodeError>,
) -> Result<(), EncodeError> {
    let start = out.len();
    let result = (|| {
        if let Some(tag) = tag {
            out.push(tag);
        }
        let len_at = out.len();
        out.extend_from_slice(&[0; 4]);
        fill(out)?;
        let len = out.len() - len_at;
        let word = i32::try_from(len).map_err(|_| EncodeError::MessageTooLong { len })?;
        out[len_at..len_at + 4].copy_from_slice(&word.to_be_bytes());
        Ok(())
    })();
    if result.is_err() {
        out.truncate(start);
    }
    result
}

pub(crate) fn i16(out: &mut Vec<u8>, value: i16) {
    out.extend_from_slice(&value.to_be_bytes());
}

pub(crate) fn i32(out: &mut Vec<u8>, value: i32) {
    out.extend_from_slice(&value.to_be_bytes());
}

pub(crate) fn u32(out: &mut Vec<u8>, value: u32) {
    out.extend_from_slice(&value.to_be_bytes());
}

/// A 16-bit item count, refused past 65535 rather than silently wrapped.
pub(crate) fn count(
    out: &mut Vec<u8>,
    count: usize,
    what: &'static str,
) -> Result<(), EncodeError> {
    let value = u16::try_from(count).map_err(|_| EncodeError::TooManyItems { what, count })?;
    out.extend_from_slice(&value.to_be_bytes());
    Ok(())
}

/// A NUL-terminated string; an interior NUL would end the field early and shift
/// every later field, so it is refused.
pub(crate) fn cstr(
    out: &mut Vec<u8>,
    value: &[u8],
    field: &'static str,
) -> Result<(), EncodeError> {
    if value.contains(&0) {
        return Err(EncodeError::NulInString { field });
    }
    out.extend_from_slice(value);
    out.push(0);
    Ok(())
}

/// An Int32 length and the bytes, or -1 for SQL NULL.
pub(crate) fn counted(out: &mut Vec<u8>, value: Option<&[u8]>) -> Result<(), EncodeError> {
    match value {
        None => i32(out, -1),
        Some(bytes) => {
            let len = i32::try_from(bytes.len())
                .map_err(|_| EncodeError::MessageTooLong { len: bytes.len() })?;
            i32(out, len);
            out.extend_from_slice(bytes);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patches_the_length_word() {
        let mut out = vec![9];
        message(&mut out, Some(b'Q'), |out| cstr(out, b"x", "query")).unwrap();
        assert_eq!(out, [9, b'Q', 0, 0, 0, 6, b'x', 0]);
        let mut out = Vec::new();
        message(&mut out, None, |out| {
            u32(out, 7);
            Ok(())
        })
        .unwrap();
        assert_eq!(out, [0, 0, 0, 8, 0, 0, 0, 7]);
    }

    #[test]
    fn a_refused_field_rolls_back() {
        let mut out = vec![1, 2, 3];
        let err = message(&mut out, Some(b'Q'), |out| cstr(out, b"a\0b", "query"));
        assert_eq!(err, Err(EncodeError::NulInString { field: "query" }));
        assert_eq!(out, [1, 2, 3]);
    }

    #[test]
    fn counts_do_not_wrap() {
        let mut out = Vec::new();
        assert!(count(&mut out, 65535, "columns").is_ok());
        assert_eq!(
            count(&mut out, 65536, "columns"),
            Err(EncodeError::TooManyItems {
                what: "columns",
                count: 65536
            })
        );
        assert_eq!(out, [0xff, 0xff]);
    }

    #[test]
    fn null_and_values() {
        let mut out = Vec::new();
        counted(&mut out, None).unwrap();
        counted(&mut out, Some(b"ab")).unwrap();
        assert_eq!(out, [0xff, 0xff, 0xff, 0xff, 0, 0, 0, 2, b'a', b'b']);
    }
}
