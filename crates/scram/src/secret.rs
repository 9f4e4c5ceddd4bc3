//! What a `rolpassword` string is: a SCRAM verifier, an md5 secret, or (as PostgreSQL
//! would take it) a plaintext password to be hashed.

use crate::md5::Md5Secret;
use crate::verifier::{PREFIX, ScramVerifier, VerifierError};

/// A stored password secret, classified.
#[derive(Debug, Clone)]
pub enum StoredSecret {
    /// `SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>` (RFC 5803).
    Scram(ScramVerifier),
    /// `md5` + 32 hex digits (zeroized on drop, printed redacted).
    Md5(Md5Secret),
    /// Not a recognised hash: a plaintext password (to be hashed before storing).
    Plaintext,
}

/// The kind of a secret, for reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretKind {
    /// A SCRAM-SHA-256 verifier.
    Scram,
    /// An md5 secret.
    Md5,
    /// A plaintext password.
    Plaintext,
}

impl StoredSecret {
    /// Classifies `text`. Stricter than PostgreSQL: a string that claims to be a SCRAM
    /// verifier (it starts with `SCRAM-SHA-256$`) but does not parse is an error, not a
    /// plaintext password, so a mangled verifier is never silently re-hashed.
    pub fn classify(text: &str) -> Result<Self, VerifierError> {
        if text.starts_with(PREFIX) {
            ScramVerifier::parse(text).map(StoredSecret::Scram)
        } else if let Some(md5) = Md5Secret::parse(text) {
            Ok(StoredSecret::Md5(md5))
        } else {
            Ok(StoredSecret::Plaintext)
        }
    }

    /// Which of the three kinds this is.
    pub fn kind(&self) -> SecretKind {
        match self {
            StoredSecret::Scram(_) => SecretKind::Scram,
            StoredSecret::Md5(_) => SecretKind::Md5,
            StoredSecret::Plaintext => SecretKind::Plaintext,
        }
    }
}

impl SecretKind {
    /// The name PostgreSQL uses for the method that stores this kind.
    pub fn name(self) -> &'static str {
        match self {
            SecretKind::Scram => "scram-sha-256",
            SecretKind::Md5 => "md5",
            SecretKind::Plaintext => "plaintext",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_each_kind() {
        let scram = "SCRAM-SHA-256$4096:AQIDBAUGBwgJCgsMDQ4PEA==$8rrDg00OqaiWXJ7p+sCgHEIaBSHY89ZJl3mfIsf32oY=:05L1f+yZbiN8O0AnO40Og85NNRhvzTS57naKRWCcsIA=";
        assert_eq!(
            StoredSecret::classify(scram).unwrap().kind(),
            SecretKind::Scram
        );
        let md5 = "md54ab2c5d00339c4b2a4e921d2dc4edec7";
        assert_eq!(StoredSecret::classify(md5).unwrap().kind(), SecretKind::Md5);
        assert_eq!(
            StoredSecret::classify("hunter2").unwrap().kind(),
            SecretKind::Plaintext
        );
        // PostgreSQL would store this as a plaintext password; we refuse it.
        assert!(StoredSecret::classify("SCRAM-SHA-256$0:AAAA$AAAA:AAAA").is_err());
    }
}
