//! Query cancellation: the key a server hands out in BackendKeyData and a client
//! returns in a CancelRequest on a fresh connection. The key is what stops strangers
//! from cancelling other sessions' queries, so it is treated as a secret: redacted in
//! Debug, compared in constant time.
//!
//! Protocol 3.0 keys are 4 bytes; protocol 3.2 (PostgreSQL 18) allows 4 to 256.

use std::fmt;

use crate::secret::{ct_eq, wipe};
use crate::{DecodeError, EncodeError, read::Reader, write};

/// The request code of a CancelRequest: 1234 in the high half, 5678 in the low half.
pub const CANCEL_REQUEST_CODE: u32 = (1234 << 16) | 5678;

/// Smallest and largest key length the protocol allows.
const KEY_LEN: std::ops::RangeInclusive<usize> = 4..=256;

/// A backend's secret cancel key.
#[derive(Clone)]
pub struct CancelKey(Vec<u8>);

impl CancelKey {
    /// A key of 4 to 256 bytes.
    pub fn new(bytes: impl Into<Vec<u8>>) -> Result<CancelKey, EncodeError> {
        let bytes = bytes.into();
        if KEY_LEN.contains(&bytes.len()) {
            Ok(CancelKey(bytes))
        } else {
            Err(EncodeError::InvalidCancelKeyLength(bytes.len()))
        }
    }

    /// A protocol 3.0 key: one Int32.
    pub fn from_u32(key: u32) -> CancelKey {
        CancelKey(key.to_be_bytes().to_vec())
    }

    /// The key bytes; the caller is responsible for not logging them.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }

    fn decode(bytes: &[u8]) -> Result<CancelKey, DecodeError> {
        if KEY_LEN.contains(&bytes.len()) {
            Ok(CancelKey(bytes.to_vec()))
        } else {
            Err(DecodeError::InvalidCancelKeyLength(bytes.len()))
        }
    }
}

impl PartialEq for CancelKey {
    fn eq(&self, other: &Self) -> bool {
        ct_eq(&self.0, &other.0)
    }
}

impl Eq for CancelKey {}

impl fmt::Debug for CancelKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CancelKey(<{} bytes redacted>)", self.0.len())
    }
}

impl Drop for CancelKey {
    fn drop(&mut self) {
        wipe(&mut self.0);
    }
}

/// BackendKeyData ('K'): what a client needs to cancel this session's queries later.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BackendKeyData {
    /// The backend's process ID.
    pub pid: i32,
    /// The secret key a CancelRequest must repeat.
    pub key: CancelKey,
}

impl BackendKeyData {
    pub(crate) fn decode_body(body: &[u8]) -> Result<BackendKeyData, DecodeError> {
        let mut r = Reader::new(body);
        let pid = r.i32()?;
        let key = CancelKey::decode(r.rest())?;
        Ok(BackendKeyData { pid, key })
    }

    pub(crate) fn encode_body(&self, out: &mut Vec<u8>) {
        write::i32(out, self.pid);
        out.extend_from_slice(&self.key.0);
    }
}

/// CancelRequest: sent instead of a StartupMessage on a new connection; the server
/// answers nothing and closes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CancelRequest {
    /// The process ID from the target session's BackendKeyData.
    pub pid: i32,
    /// The secret key from the target session's BackendKeyData.
    pub key: CancelKey,
}

impl CancelRequest {
    /// The body after the request code. A wrong size is PostgreSQL's `invalid length
    /// of startup packet`, carrying the packet's length word.
    pub(crate) fn decode_body(body: &[u8]) -> Result<CancelRequest, DecodeError> {
        let key_len = body.len().saturating_sub(4);
        if body.len() < 4 || !KEY_LEN.contains(&key_len) {
            let len = u32::try_from(body.len().saturating_add(8)).unwrap_or(u32::MAX);
            return Err(DecodeError::InvalidStartupPacketLength(len));
        }
        let data = BackendKeyData::decode_body(body)?;
        Ok(CancelRequest {
            pid: data.pid,
            key: data.key,
        })
    }

    pub(crate) fn encode(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        write::message(out, None, |out| {
            write::u32(out, CANCEL_REQUEST_CODE);
            write::i32(out, self.pid);
            out.extend_from_slice(&self.key.0);
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_lengths() {
        assert!(CancelKey::new(vec![1; 3]).is_err());
        assert!(CancelKey::new(vec![1; 4]).is_ok());
        assert!(CancelKey::new(vec![1; 256]).is_ok());
        assert_eq!(
            CancelKey::new(vec![1; 257]).unwrap_err(),
            EncodeError::InvalidCancelKeyLength(257)
        );
        assert_eq!(CancelKey::from_u32(0x01020304).expose(), [1, 2, 3, 4]);
    }

    #[test]
    fn key_is_redacted_and_compared_by_value() {
        let key = CancelKey::from_u32(0xdeadbeef);
        assert_eq!(format!("{key:?}"), "CancelKey(<4 bytes redacted>)");
        assert_eq!(key, CancelKey::new(vec![0xde, 0xad, 0xbe, 0xef]).unwrap());
        assert_ne!(key, CancelKey::from_u32(0xdeadbeee));
    }

    #[test]
    fn cancel_request_sizes() {
        let mut out = Vec::new();
        let request = CancelRequest {
            pid: 42,
            key: CancelKey::from_u32(7),
        };
        request.encode(&mut out).unwrap();
        assert_eq!(
            out,
            [0, 0, 0, 16, 0x04, 0xd2, 0x16, 0x2e, 0, 0, 0, 42, 0, 0, 0, 7]
        );
        assert_eq!(CancelRequest::decode_body(&out[8..]), Ok(request));
        assert_eq!(
            CancelRequest::decode_body(&out[8..15]),
            Err(DecodeError::InvalidStartupPacketLength(15))
        );
        assert_eq!(
            CancelRequest::decode_body(&[0; 2]),
            Err(DecodeError::InvalidStartupPacketLength(10))
        );
    }

    #[test]
    fn backend_key_data_needs_a_real_key() {
        assert_eq!(
            BackendKeyData::decode_body(&[0, 0, 0, 1, 9]),
            Err(DecodeError::InvalidCancelKeyLength(1))
        );
        assert_eq!(
            BackendKeyData::decode_body(&[0, 0]),
            Err(DecodeError::InsufficientData)
        );
    }
}
