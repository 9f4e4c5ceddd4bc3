//! Nonces are made by the caller (this crate has no RNG): from random bytes, base64-encoded
//! as PostgreSQL and libpq do (18 bytes -> 24 characters), or from a fixed text in tests.

use crate::message::{b64, is_printable_nonce};

/// Random bytes PostgreSQL and libpq put in a nonce.
pub const NONCE_RANDOM_LEN: usize = 18;

/// One side's part of the SCRAM nonce: printable ASCII without commas.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Nonce(String);

impl Nonce {
    /// Encodes random bytes; the result is always a valid nonce.
    pub fn from_random(bytes: &[u8; NONCE_RANDOM_LEN]) -> Self {
        Nonce(b64(bytes))
    }

    /// Uses `text` as it is (for known-answer tests), if it is a valid, non-empty nonce.
    pub fn from_text(text: &str) -> Option<Self> {
        (!text.is_empty() && is_printable_nonce(text.as_bytes())).then(|| Nonce(text.to_owned()))
    }

    /// The nonce as sent in `r=`.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_nonce_is_24_printable_chars() {
        let nonce = Nonce::from_random(&[0xff; NONCE_RANDOM_LEN]);
        assert_eq!(nonce.as_str().len(), 24);
        assert!(Nonce::from_text(nonce.as_str()).is_some());
        assert!(Nonce::from_text("a,b").is_none());
        assert!(Nonce::from_text("").is_none());
        assert!(Nonce::from_text("%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0").is_some());
    }
}
