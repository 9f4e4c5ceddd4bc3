//! RFC 5803 verifiers as PostgreSQL stores them in `pg_authid.rolpassword`:
//! `SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>`.
//!
//! PostgreSQL's own parser is lenient: it accepts any iteration count `strtol` can read
//! (even `0`) and falls back to "plaintext password" for anything it cannot parse. We are
//! strict, and say exactly what is wrong, because a verifier that silently turns into a
//! password is a login that silently stops working.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;

use crate::keys::{ServerKey, StoredKey};
use crate::saslprep::prepare_password;

/// The scheme prefix of a SCRAM-SHA-256 verifier.
pub const PREFIX: &str = "SCRAM-SHA-256$";
/// PostgreSQL's default iteration count (`scram_iterations`).
pub const DEFAULT_ITERATIONS: u32 = 4096;
/// PostgreSQL's salt length for new verifiers.
pub const DEFAULT_SALT_LEN: usize = 16;
/// Iteration counts are an `int` in PostgreSQL (`scram_iterations` is 1..INT_MAX).
pub const MAX_ITERATIONS: u32 = i32::MAX as u32;
/// No real tool makes salts longer than this; longer ones are garbage, not caution.
pub const MAX_SALT_LEN: usize = 256;

/// Why a string is not a valid SCRAM-SHA-256 verifier. Never includes key material.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum VerifierError {
    /// Does not start with `SCRAM-SHA-256$`.
    NotScram,
    /// The `<iter>:<salt>$<StoredKey>:<ServerKey>` shape is not there.
    Shape,
    /// The iteration count is not a plain decimal number.
    IterationsNotANumber,
    /// The iteration count is outside 1..=2147483647.
    IterationsOutOfRange,
    /// The salt is not valid base64.
    SaltEncoding,
    /// The salt decodes to 0 or more than [`MAX_SALT_LEN`] bytes.
    SaltLength(usize),
    /// A key is not valid base64.
    KeyEncoding(KeyName),
    /// A key does not decode to exactly 32 bytes.
    KeyLength(KeyName, usize),
}

/// Which of the two stored keys an error is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyName {
    /// The StoredKey, `H(ClientKey)`.
    StoredKey,
    /// The ServerKey.
    ServerKey,
}

impl fmt::Display for KeyName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            KeyName::StoredKey => "StoredKey",
            KeyName::ServerKey => "ServerKey",
        })
    }
}

impl fmt::Display for VerifierError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VerifierError::NotScram => write!(f, "secret does not start with \"{PREFIX}\""),
            VerifierError::Shape => f.write_str(
                "SCRAM secret must look like SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>",
            ),
            VerifierError::IterationsNotANumber => {
                f.write_str("SCRAM iteration count is not a decimal number")
            }
            VerifierError::IterationsOutOfRange => {
                write!(f, "SCRAM iteration count must be between 1 and {MAX_ITERATIONS}")
            }
            VerifierError::SaltEncoding => f.write_str("SCRAM salt is not valid base64"),
            VerifierError::SaltLength(len) => write!(
                f,
                "SCRAM salt must decode to 1..{MAX_SALT_LEN} bytes, not {len}"
            ),
            VerifierError::KeyEncoding(key) => write!(f, "SCRAM {key} is not valid base64"),
            VerifierError::KeyLength(key, len) => {
                write!(f, "SCRAM {key} must decode to 32 bytes, not {len}")
            }
        }
    }
}

impl std::error::Error for VerifierError {}

/// A parsed SCRAM-SHA-256 verifier: what a server needs to check a proof.
#[derive(Clone)]
pub struct ScramVerifier {
    iterations: u32,
    salt: Vec<u8>,
    stored_key: StoredKey,
    server_key: ServerKey,
}

impl fmt::Debug for ScramVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScramVerifier")
            .field("iterations", &self.iterations)
            .field("salt_len", &self.salt.len())
            .finish_non_exhaustive()
    }
}

impl ScramVerifier {
    /// Parses an RFC 5803 string strictly.
    pub fn parse(secret: &str) -> Result<Self, VerifierError> {
        let rest = secret.strip_prefix(PREFIX).ok_or(VerifierError::NotScram)?;
        let (params, keys) = rest.split_once('$').ok_or(VerifierError::Shape)?;
        let (iterations, salt) = params.split_once(':').ok_or(VerifierError::Shape)?;
        let (stored_key, server_key) = keys.split_once(':').ok_or(VerifierError::Shape)?;

        let iterations = parse_iterations(iterations)?;
        let salt = B64.decode(salt).map_err(|_| VerifierError::SaltEncoding)?;
        check_salt(&salt)?;
        let stored_key = decode_key(stored_key, KeyName::StoredKey)?;
        let server_key = decode_key(server_key, KeyName::ServerKey)?;
        Ok(ScramVerifier {
            iterations,
            salt,
            stored_key: StoredKey::from_bytes(stored_key),
            server_key: ServerKey::from_bytes(server_key),
        })
    }

    /// Makes a verifier from a password, as PostgreSQL does: SASLprep first, the raw
    /// bytes when SASLprep fails (invalid UTF-8 or a prohibited character).
    pub fn derive(password: &[u8], salt: &[u8], iterations: u32) -> Result<Self, VerifierError> {
        check_iterations(u64::from(iterations))?;
        check_salt(salt)?;
        let prepared = prepare_password(password);
        let salted = crate::keys::SaltedPassword::derive(prepared.as_bytes(), salt, iterations);
        Ok(ScramVerifier {
            iterations,
            salt: salt.to_vec(),
            stored_key: salted.client_key().stored_key(),
            server_key: salted.server_key(),
        })
    }

    /// Assembles a verifier from its parts (a mock verifier, or keys from elsewhere).
    pub fn from_parts(
        iterations: u32,
        salt: Vec<u8>,
        stored_key: StoredKey,
        server_key: ServerKey,
    ) -> Result<Self, VerifierError> {
        check_iterations(u64::from(iterations))?;
        check_salt(&salt)?;
        Ok(ScramVerifier {
            iterations,
            salt,
            stored_key,
            server_key,
        })
    }

    /// The PBKDF2 iteration count, sent as `i=`.
    pub fn iterations(&self) -> u32 {
        self.iterations
    }

    /// The salt, decoded; sent base64-encoded as `s=`.
    pub fn salt(&self) -> &[u8] {
        &self.salt
    }

    /// The StoredKey that checks the client's proof.
    pub fn stored_key(&self) -> &StoredKey {
        &self.stored_key
    }

    /// The ServerKey that signs server-final.
    pub fn server_key(&self) -> &ServerKey {
        &self.server_key
    }

    /// True when both verifiers would accept exactly the same proofs (constant time in
    /// the keys).
    pub fn ct_eq(&self, other: &Self) -> bool {
        let keys =
            self.stored_key.ct_eq(&other.stored_key) & self.server_key.ct_eq(&other.server_key);
        keys && self.iterations == other.iterations && self.salt == other.salt
    }
}

/// The RFC 5803 string, exactly as PostgreSQL writes it.
impl fmt::Display for ScramVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{PREFIX}{}:{}${}:{}",
            self.iterations,
            B64.encode(&self.salt),
            B64.encode(self.stored_key.as_bytes()),
            B64.encode(self.server_key.as_bytes())
        )
    }
}

fn parse_iterations(text: &str) -> Result<u32, VerifierError> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(VerifierError::IterationsNotANumber);
    }
    let value: u64 = text
        .parse()
        .map_err(|_| VerifierError::IterationsOutOfRange)?;
    check_iterations(value)?;
    Ok(value as u32)
}

fn check_iterations(value: u64) -> Result<(), VerifierError> {
    if value == 0 || value > u64::from(MAX_ITERATIONS) {
        return Err(VerifierError::IterationsOutOfRange);
    }
    Ok(())
}

fn check_salt(salt: &[u8]) -> Result<(), VerifierError> {
    if salt.is_empty() || salt.len() > MAX_SALT_LEN {
        return Err(VerifierError::SaltLength(salt.len()));
    }
    Ok(())
}

fn decode_key(text: &str, name: KeyName) -> Result<[u8; 32], VerifierError> {
    let bytes = B64
        .decode(text)
        .map_err(|_| VerifierError::KeyEncoding(name))?;
    <[u8; 32]>::try_from(bytes.as_slice()).map_err(|_| VerifierError::KeyLength(name, bytes.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET_VECTOR: &str = "SCRAM-SHA-256$4096:AQIDBAUGBwgJCgsMDQ4PEA==$8rrDg00OqaiWXJ7p+sCgHEIaBSHY89ZJl3mfIsf32oY=:05L1f+yZbiN8O0AnO40Og85NNRhvzTS57naKRWCcsIA=";

    #[test]
    fn derive_matches_the_known_vector() {
        let salt: Vec<u8> = (1..=16).collect();
        let verifier = ScramVerifier::derive(b"secret", &salt, 4096).unwrap();
        assert_eq!(verifier.to_string(), SECRET_VECTOR);
    }

    #[test]
    fn parse_format_round_trip() {
        let verifier = ScramVerifier::parse(SECRET_VECTOR).unwrap();
        assert_eq!(verifier.iterations(), 4096);
        assert_eq!(verifier.salt(), (1..=16).collect::<Vec<u8>>());
        assert_eq!(verifier.to_string(), SECRET_VECTOR);
    }

    #[test]
    fn strict_errors_name_the_problem() {
        let ok = SECRET_VECTOR;
        let cases: Vec<(String, VerifierError)> = vec![
            ("md5abc".into(), VerifierError::NotScram),
            ("SCRAM-SHA-256$4096:AQID".into(), VerifierError::Shape),
            (
                ok.replace("$4096:", "$0:"),
                VerifierError::IterationsOutOfRange,
            ),
            (
                ok.replace("$4096:", "$-1:"),
                VerifierError::IterationsNotANumber,
            ),
            (
                ok.replace("$4096:", "$+4096:"),
                VerifierError::IterationsNotANumber,
            ),
            (
                ok.replace("$4096:", "$4096 :"),
                VerifierError::IterationsNotANumber,
            ),
            (
                ok.replace("$4096:", "$2147483648:"),
                VerifierError::IterationsOutOfRange,
            ),
            (
                ok.replace("$4096:", "$99999999999999999999999:"),
                VerifierError::IterationsOutOfRange,
            ),
            (
                ok.replace("AQIDBAUGBwgJCgsMDQ4PEA==", "!!"),
                VerifierError::SaltEncoding,
            ),
            (
                ok.replace("AQIDBAUGBwgJCgsMDQ4PEA==", ""),
                VerifierError::SaltLength(0),
            ),
            (
                ok.replace("8rrDg00OqaiWXJ7p+sCgHEIaBSHY89ZJl3mfIsf32oY=", "AAAA"),
                VerifierError::KeyLength(KeyName::StoredKey, 3),
            ),
            (
                ok.replace("05L1f+yZbiN8O0AnO40Og85NNRhvzTS57naKRWCcsIA=", "%%"),
                VerifierError::KeyEncoding(KeyName::ServerKey),
            ),
            (
                format!("{ok}:extra"),
                VerifierError::KeyEncoding(KeyName::ServerKey),
            ),
        ];
        for (input, expected) in cases {
            assert_eq!(
                ScramVerifier::parse(&input).unwrap_err(),
                expected,
                "{input}"
            );
            assert!(!expected.to_string().contains("05L1f"));
        }
    }

    #[test]
    fn saslprep_applies_before_hashing() {
        let salt = [7u8; 16];
        let soft_hyphen = ScramVerifier::derive("I\u{00AD}X".as_bytes(), &salt, 2).unwrap();
        let roman_nine = ScramVerifier::derive("\u{2168}".as_bytes(), &salt, 2).unwrap();
        let plain = ScramVerifier::derive(b"IX", &salt, 2).unwrap();
        assert!(soft_hyphen.ct_eq(&plain));
        assert!(roman_nine.ct_eq(&plain));
        // A prohibited character falls back to the raw bytes, so it still differs.
        let bell = ScramVerifier::derive(b"a\x07b", &salt, 2).unwrap();
        let ab = ScramVerifier::derive(b"ab", &salt, 2).unwrap();
        assert!(!bell.ct_eq(&ab));
    }

    #[test]
    fn debug_hides_keys() {
        let shown = format!("{:?}", ScramVerifier::parse(SECRET_VECTOR).unwrap());
        assert!(!shown.contains("8rrD") && !shown.contains("05L1"));
    }
}
