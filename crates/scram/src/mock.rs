//! Mock verifiers: what the server uses when a role has no usable SCRAM secret, so the
//! exchange looks the same as for a real role and fails only at the very end.
//!
//! PostgreSQL derives the mock salt from SHA-256(user || a nonce made at cluster creation),
//! so repeated attempts for one name see one stable salt (a changing salt would give the
//! game away). We do the same with HMAC keyed by the server's mock secret, and derive the
//! mock keys the same way, so the proof check runs over real-looking keys.

use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::keys::{ServerKey, StoredKey};
use crate::pbkdf2::hmac_sha256;
use crate::verifier::{DEFAULT_SALT_LEN, ScramVerifier, VerifierError};

/// Length of the mock secret: as PostgreSQL's mock authentication nonce.
pub const MOCK_SECRET_LEN: usize = 32;

/// The server-wide secret mock verifiers are derived from. Make it once (at data
/// directory creation) from a CSPRNG and keep it: a new one changes every mock salt.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct MockSecret([u8; MOCK_SECRET_LEN]);

impl std::fmt::Debug for MockSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MockSecret(<redacted>)")
    }
}

impl MockSecret {
    /// Wraps a stored secret (or fresh CSPRNG output).
    pub fn from_bytes(bytes: [u8; MOCK_SECRET_LEN]) -> Self {
        MockSecret(bytes)
    }

    /// The raw secret, for persisting it.
    pub fn as_bytes(&self) -> &[u8; MOCK_SECRET_LEN] {
        &self.0
    }

    /// The mock verifier for `user`: stable for (secret, user), with a 16-byte salt and
    /// the iteration count real verifiers get (pass the server's `scram_iterations`).
    pub fn verifier(&self, user: &str, iterations: u32) -> Result<ScramVerifier, VerifierError> {
        let derive = |label: &[u8]| hmac_sha256(&self.0, &[label, b"\0", user.as_bytes()]);
        let salt = derive(b"pgscram mock salt")[..DEFAULT_SALT_LEN].to_vec();
        ScramVerifier::from_parts(
            iterations,
            salt,
            StoredKey::from_bytes(derive(b"pgscram mock stored key")),
            ServerKey::from_bytes(derive(b"pgscram mock server key")),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stable_per_user_and_secret() {
        let secret = MockSecret::from_bytes([1; 32]);
        let a1 = secret.verifier("alice", 4096).unwrap();
        let a2 = secret.verifier("alice", 4096).unwrap();
        let b = secret.verifier("bob", 4096).unwrap();
        let other = MockSecret::from_bytes([2; 32])
            .verifier("alice", 4096)
            .unwrap();
        assert_eq!(a1.to_string(), a2.to_string());
        assert_ne!(a1.salt(), b.salt());
        assert_ne!(a1.salt(), other.salt());
        assert_eq!(a1.salt().len(), 16);
        assert_eq!(a1.iterations(), 4096);
        assert_eq!(secret.verifier("alice", 10000).unwrap().iterations(), 10000);
    }
}
