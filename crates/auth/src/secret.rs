//! Secret values that leave this crate: passwords and SCRAM keys.
//!
//! Both wipe their memory on drop and print as `<redacted>` in `Debug`, so a
//! configuration struct can derive or print its fields without leaking them into a
//! log line or a panic message.

use std::fmt;

use zeroize::{Zeroize, Zeroizing};

/// A password (or any other secret text), zeroized on drop.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Zeroizing<String>);

impl Secret {
    /// Takes ownership of the secret text.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(Zeroizing::new(value.into()))
    }

    /// The secret itself. Named so that every use is easy to find in review.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// True for the empty string.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether `other` holds the same text, in time that depends on the lengths only.
    pub fn ct_eq(&self, other: &Secret) -> bool {
        use subtle::ConstantTimeEq as _;
        self.0.len() == other.0.len() && bool::from(self.0.as_bytes().ct_eq(other.0.as_bytes()))
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// A 32-byte SCRAM key (ClientKey or ServerKey) given to the client directly
/// (libpq 18's `scram_client_key` / `scram_server_key`), zeroized on drop.
#[derive(Clone, PartialEq, Eq)]
pub struct ScramKey(Zeroizing<[u8; 32]>);

impl ScramKey {
    /// Takes the key, wiping the caller's copy.
    pub fn from_bytes(mut bytes: [u8; 32]) -> Self {
        let key = ScramKey(Zeroizing::new(bytes));
        bytes.zeroize();
        key
    }

    /// The key itself. Named so that every use is easy to find in review.
    pub fn expose(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Debug for ScramKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_secret() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s:?}"), "<redacted>");
        assert_eq!(s.expose(), "hunter2");
        let k = ScramKey::from_bytes([7u8; 32]);
        assert_eq!(format!("{k:?}"), "<redacted>");
        assert_eq!(k.expose(), &[7u8; 32]);
        assert!(!format!("{:?}", Some(&s)).contains("hunter2"));
    }
}
