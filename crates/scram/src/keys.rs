//! The keys of RFC 5802 §3, each its own type so that one cannot stand in for another.
//!
//! ```text
//! SaltedPassword  = PBKDF2(SASLprep(password), salt, i)
//! ClientKey       = HMAC(SaltedPassword, "Client Key")      secret: logs in as the user
//! StoredKey       = H(ClientKey)                            stored by the server
//! ServerKey       = HMAC(SaltedPassword, "Server Key")      stored by the server
//! ClientSignature = HMAC(StoredKey, AuthMessage)
//! ClientProof     = ClientKey XOR ClientSignature           sent by the client
//! ServerSignature = HMAC(ServerKey, AuthMessage)            sent by the server
//! ```
//!
//! Every key zeroizes on drop and has no `Debug`, so it cannot reach a log line by
//! accident. Equality is only available in constant time.

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::pbkdf2::{hmac_sha256, pbkdf2_hmac_sha256};

/// Length in bytes of every SCRAM-SHA-256 key, proof and signature.
pub const KEY_LEN: usize = 32;

macro_rules! secret_key {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Zeroize, ZeroizeOnDrop)]
        pub struct $name([u8; KEY_LEN]);

        impl $name {
            /// Wraps raw key bytes.
            pub fn from_bytes(bytes: [u8; KEY_LEN]) -> Self {
                Self(bytes)
            }

            /// Wraps a slice that must be exactly 32 bytes long.
            pub fn from_slice(bytes: &[u8]) -> Option<Self> {
                <[u8; KEY_LEN]>::try_from(bytes).ok().map(Self)
            }

            /// The raw bytes; callers must not log or keep copies of them.
            pub fn as_bytes(&self) -> &[u8; KEY_LEN] {
                &self.0
            }

            /// Constant-time equality.
            pub fn ct_eq(&self, other: &Self) -> bool {
                self.0.ct_eq(&other.0).into()
            }
        }

        impl std::fmt::Debug for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(concat!(stringify!($name), "(<redacted>)"))
            }
        }
    };
}

secret_key!(
    /// PBKDF2 output: equivalent to the password for this salt and iteration count.
    SaltedPassword
);
secret_key!(
    /// Knowing it is enough to log in as the user: the value pass-through forwards.
    ClientKey
);
secret_key!(
    /// `H(ClientKey)`, stored by the server to check proofs.
    StoredKey
);
secret_key!(
    /// Stored by the server to prove itself to the client.
    ServerKey
);
secret_key!(
    /// `ClientKey XOR ClientSignature`: useless without the AuthMessage it was made for,
    /// but from it and a StoredKey anyone can recover the ClientKey, so it is kept secret too.
    ClientProof
);

/// `HMAC(ServerKey, AuthMessage)`: sent in the clear in server-final, not a secret.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerSignature(pub [u8; KEY_LEN]);

impl ServerSignature {
    /// Constant-time comparison, so a client does not leak how much of a forged
    /// signature matched.
    pub fn ct_eq(&self, other: &Self) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}

impl SaltedPassword {
    /// Runs PBKDF2 over an already-prepared (SASLprep'd) password.
    pub fn derive(prepared_password: &[u8], salt: &[u8], iterations: u32) -> Self {
        Self(pbkdf2_hmac_sha256(prepared_password, salt, iterations))
    }

    /// `HMAC(SaltedPassword, "Client Key")` (RFC 5802 §3).
    pub fn client_key(&self) -> ClientKey {
        ClientKey(hmac_sha256(&self.0, &[b"Client Key"]))
    }

    /// `HMAC(SaltedPassword, "Server Key")` (RFC 5802 §3).
    pub fn server_key(&self) -> ServerKey {
        ServerKey(hmac_sha256(&self.0, &[b"Server Key"]))
    }
}

impl ClientKey {
    /// `H(ClientKey)` with SHA-256 (RFC 5802 §3): what a verifier stores.
    pub fn stored_key(&self) -> StoredKey {
        let mut digest = Sha256::digest(self.0);
        let key = StoredKey(digest.into());
        digest.zeroize();
        key
    }

    /// `ClientKey XOR ClientSignature`.
    pub fn proof(&self, stored_key: &StoredKey, auth_message: &[&[u8]]) -> ClientProof {
        let signature = stored_key.client_signature(auth_message);
        ClientProof(xor(&self.0, &signature))
    }

    /// Recovers the ClientKey from a proof: `ClientProof XOR ClientSignature`.
    pub fn recover(proof: &ClientProof, stored_key: &StoredKey, auth_message: &[&[u8]]) -> Self {
        let mut signature = stored_key.client_signature(auth_message);
        let key = ClientKey(xor(&proof.0, &signature));
        signature.zeroize();
        key
    }
}

impl StoredKey {
    fn client_signature(&self, auth_message: &[&[u8]]) -> [u8; KEY_LEN] {
        hmac_sha256(&self.0, auth_message)
    }
}

impl ServerKey {
    /// `HMAC(ServerKey, AuthMessage)`, the `v=` of server-final. The AuthMessage is
    /// given in pieces and hashed as their concatenation.
    pub fn server_signature(&self, auth_message: &[&[u8]]) -> ServerSignature {
        ServerSignature(hmac_sha256(&self.0, auth_message))
    }
}

fn xor(a: &[u8; KEY_LEN], b: &[u8; KEY_LEN]) -> [u8; KEY_LEN] {
    let mut out = [0u8; KEY_LEN];
    for ((o, x), y) in out.iter_mut().zip(a).zip(b) {
        *o = x ^ y;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_key_bytes() {
        let key = ClientKey::from_bytes([0xab; KEY_LEN]);
        let shown = format!("{key:?}");
        assert_eq!(shown, "ClientKey(<redacted>)");
        assert!(!shown.to_lowercase().contains("ab, "));
    }

    #[test]
    fn proof_round_trips_through_recovery() {
        let salted = SaltedPassword::derive(b"pencil", b"salt", 2);
        let client_key = salted.client_key();
        let stored = client_key.stored_key();
        let message: &[&[u8]] = &[b"a", b",", b"b"];
        let proof = client_key.proof(&stored, message);
        let recovered = ClientKey::recover(&proof, &stored, message);
        assert!(recovered.ct_eq(&client_key));
        assert!(recovered.stored_key().ct_eq(&stored));
        let other = ClientKey::recover(&proof, &stored, &[b"a,c"]);
        assert!(!other.ct_eq(&client_key));
    }
}
