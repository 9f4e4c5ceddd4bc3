//! Secret byte strings: passwords and cancel keys. They print as `<redacted>`, compare
//! in constant time and are overwritten when dropped, so neither a log line, a timing
//! side channel nor freed heap memory gives them away.
//!
//! This crate has no dependencies, so wiping uses plain stores followed by
//! `std::hint::black_box`, which keeps the optimiser from dropping them as dead.

use std::fmt;

/// Overwrites the bytes and any spare capacity with zeros.
pub(crate) fn wipe(bytes: &mut Vec<u8>) {
    bytes.fill(0);
    for byte in bytes.spare_capacity_mut() {
        byte.write(0);
    }
    std::hint::black_box(&mut *bytes);
}

/// Equality whose running time depends only on the lengths, never on where the
/// first difference is.
pub(crate) fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

/// A password as the client sent it: raw bytes, because PostgreSQL falls back to the
/// raw bytes when a password is not valid UTF-8 or SASLprep rejects it.
#[derive(Clone)]
pub struct Password(Vec<u8>);

impl Password {
    /// Takes ownership of the password bytes.
    pub fn new(bytes: impl Into<Vec<u8>>) -> Self {
        Password(bytes.into())
    }

    /// The secret bytes; the caller is responsible for not logging them.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True for the empty password (PostgreSQL refuses one in a PasswordMessage).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<&str> for Password {
    fn from(text: &str) -> Self {
        Password(text.as_bytes().to_vec())
    }
}

impl From<String> for Password {
    fn from(text: String) -> Self {
        Password(text.into_bytes())
    }
}

impl From<Vec<u8>> for Password {
    fn from(bytes: Vec<u8>) -> Self {
        Password(bytes)
    }
}

impl PartialEq for Password {
    fn eq(&self, other: &Self) -> bool {
        ct_eq(&self.0, &other.0)
    }
}

impl Eq for Password {}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

impl Drop for Password {
    fn drop(&mut self) {
        wipe(&mut self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_password() {
        let password = Password::from("hunter2");
        let shown = format!("{password:?}");
        assert!(!shown.contains("hunter2"));
        assert_eq!(shown, "Password(<redacted>)");
    }

    #[test]
    fn equality() {
        assert_eq!(Password::from("a"), Password::from(b"a".to_vec()));
        assert_ne!(Password::from("a"), Password::from("b"));
        assert_ne!(Password::from("a"), Password::from("ab"));
        assert!(ct_eq(b"", b""));
        assert!(!ct_eq(b"abc", b"abd"));
    }

    #[test]
    fn wipe_clears_bytes_and_keeps_the_allocation() {
        let mut bytes = Vec::with_capacity(16);
        bytes.extend_from_slice(b"secret");
        wipe(&mut bytes);
        assert_eq!(bytes, [0; 6]);
        assert!(bytes.capacity() >= 16);
    }
}
