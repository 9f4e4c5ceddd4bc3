//! PostgreSQL's md5 password scheme, kept for migration: reading old secrets, answering
//! md5 challenges as a client, and checking them as a server.
//!
//! Stored secret: `md5` + hex(md5(password || user)), exactly 35 characters.
//! Wire response to a 4-byte salt: `md5` + hex(md5(hex(md5(password || user)) || salt)).

use md5::{Digest, Md5};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

/// Length of a stored md5 secret: `md5` and 32 lowercase hex digits.
pub const MD5_SECRET_LEN: usize = 35;

/// Makes the stored secret for a password, as `CREATE ROLE ... PASSWORD` does under
/// `password_encryption = md5`. The result is password-equivalent for md5 logins.
pub fn md5_secret(password: &[u8], user: &str) -> String {
    let mut hasher = Md5::new();
    hasher.update(password);
    hasher.update(user.as_bytes());
    format!("md5{}", hex(&hasher.finalize()))
}

/// PostgreSQL's test for "this string is an md5 secret": `md5`, then exactly 32
/// lowercase hex digits. Anything else would have been taken as a plaintext password.
pub fn is_md5_secret(text: &str) -> bool {
    text.len() == MD5_SECRET_LEN
        && text.starts_with("md5")
        && text[3..]
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// The response a client sends to AuthenticationMD5Password.
pub fn client_response(password: &[u8], user: &str, salt: [u8; 4]) -> Zeroizing<String> {
    let secret = Zeroizing::new(md5_secret(password, user));
    salted_response(&secret, salt)
}

/// The response a server expects, from the stored secret. `None` when `stored` is not
/// an md5 secret.
pub fn expected_response(stored: &str, salt: [u8; 4]) -> Option<Zeroizing<String>> {
    is_md5_secret(stored).then(|| salted_response(stored, salt))
}

/// Checks a client's md5 response against the stored secret in constant time.
pub fn verify_response(stored: &str, salt: [u8; 4], response: &[u8]) -> bool {
    match expected_response(stored, salt) {
        Some(expected) => {
            expected.len() == response.len() && bool::from(expected.as_bytes().ct_eq(response))
        }
        None => false,
    }
}

fn salted_response(secret: &str, salt: [u8; 4]) -> Zeroizing<String> {
    let mut hasher = Md5::new();
    hasher.update(&secret.as_bytes()[3..]);
    hasher.update(salt);
    Zeroizing::new(format!("md5{}", hex(&hasher.finalize())))
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[usize::from(b >> 4)] as char);
        out.push(DIGITS[usize::from(b & 15)] as char);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_vector() {
        assert_eq!(
            md5_secret(b"secret", "foo"),
            "md54ab2c5d00339c4b2a4e921d2dc4edec7"
        );
    }

    #[test]
    fn recognises_only_the_exact_shape() {
        assert!(is_md5_secret("md54ab2c5d00339c4b2a4e921d2dc4edec7"));
        assert!(!is_md5_secret("md54AB2C5D00339C4B2A4E921D2DC4EDEC7"));
        assert!(!is_md5_secret("md54ab2c5d00339c4b2a4e921d2dc4edec"));
        assert!(!is_md5_secret("md54ab2c5d00339c4b2a4e921d2dc4edec7a"));
        assert!(!is_md5_secret("xx54ab2c5d00339c4b2a4e921d2dc4edec7"));
        assert!(!is_md5_secret("md5ĳab2c5d00339c4b2a4e921d2dc4edec7"));
    }

    #[test]
    fn client_and_server_agree() {
        let stored = md5_secret(b"secret", "foo");
        let salt = [1, 2, 3, 4];
        let response = client_response(b"secret", "foo", salt);
        assert!(verify_response(&stored, salt, response.as_bytes()));
        assert!(!verify_response(&stored, [1, 2, 3, 5], response.as_bytes()));
        let wrong = client_response(b"Secret", "foo", salt);
        assert!(!verify_response(&stored, salt, wrong.as_bytes()));
        assert!(!verify_response("plaintext", salt, response.as_bytes()));
    }
}

/// A stored md5 secret (`md5` + 32 hex digits). It is a password equivalent for the
/// md5 method (the client's response is computed from it alone), so it is zeroized on
/// drop, compared in constant time, and never printed.
#[derive(Clone, zeroize::ZeroizeOnDrop)]
pub struct Md5Secret(String);

impl Md5Secret {
    /// Wraps `text` if it has the shape of an md5 secret.
    pub fn parse(text: &str) -> Option<Self> {
        is_md5_secret(text).then(|| Md5Secret(text.to_owned()))
    }

    /// The secret's text, for the md5 exchange and for writing it back to storage.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether `other` is the same secret, in constant time.
    pub fn ct_eq(&self, other: &str) -> bool {
        self.0.len() == other.len() && bool::from(self.0.as_bytes().ct_eq(other.as_bytes()))
    }
}

impl std::fmt::Debug for Md5Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Md5Secret(<redacted>)")
    }
}
