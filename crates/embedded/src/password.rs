//! What `PASSWORD '...'` stores: PostgreSQL's rules (REFERENCE.md §2), made stricter
//! where PostgreSQL silently does the wrong thing.
//!
//! - A recognised SCRAM verifier or md5 secret is stored as is, whatever
//!   `password_encryption` says (that is how psql's `\password` and pg_dump work).
//! - Anything else is a plaintext password, hashed per the session's
//!   `password_encryption` and `scram_iterations`, with a fresh 16-byte salt.
//! - `''`, or a secret that is the hash of the empty string, clears the password with a
//!   NOTICE (CVE-2017-7546: an empty password must never log anyone in).
//! - Stricter than PostgreSQL: text starting with `SCRAM-SHA-256$` that does not parse
//!   is refused (22023) instead of being hashed as if it were somebody's password.
//!
//! All hashing happens here, so plaintext lives in exactly one place and is zeroized.

use pgscram_scram::md5::md5_secret;
use pgscram_scram::verifier::DEFAULT_SALT_LEN;
use pgscram_scram::{ScramVerifier, StoredSecret};
use zeroize::Zeroizing;

use crate::error::{Notice, SqlError, sqlstate};
use crate::settings::PasswordEncryption;

/// PostgreSQL 18's limit on a stored secret (`MAX_ENCRYPTED_PASSWORD_LEN`).
pub const MAX_SECRET_LEN: usize = 512;

/// The empty-password test re-derives a pre-hashed SCRAM verifier from `""`; above this
/// iteration count we skip it rather than let one statement burn minutes of CPU while
/// it holds the catalog. (PostgreSQL always runs it.)
const EMPTY_CHECK_MAX_ITERATIONS: u32 = 100_000;

/// The hashing parameters a session supplies.
#[derive(Clone, Copy, Debug)]
pub(crate) struct HashPolicy {
    pub encryption: PasswordEncryption,
    pub iterations: u32,
    pub md5_warnings: bool,
}

/// What to write into `rolpassword`, and the notices to show.
pub(crate) struct Resolved {
    /// `None` clears the password.
    pub secret: Option<String>,
    pub notices: Vec<Notice>,
}

impl Drop for Resolved {
    fn drop(&mut self) {
        if let Some(s) = self.secret.as_mut() {
            zeroize::Zeroize::zeroize(s);
        }
    }
}

impl std::fmt::Debug for Resolved {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Resolved")
            .field("secret", &self.secret.as_ref().map(|_| "<redacted>"))
            .field("notices", &self.notices)
            .finish()
    }
}

/// Turns the text of `PASSWORD '...'` for role `role_name` into a stored secret.
pub(crate) fn resolve(
    password: &str,
    role_name: &str,
    policy: HashPolicy,
) -> Result<Resolved, SqlError> {
    let mut notices = Vec::new();
    let classified = StoredSecret::classify(password).map_err(|e| {
        SqlError::new(
            sqlstate::INVALID_PARAMETER_VALUE,
            format!("invalid SCRAM secret: {e}"),
        )
        .with_hint("A password starting with \"SCRAM-SHA-256$\" must be a valid RFC 5803 verifier.")
    })?;
    let secret = match classified {
        StoredSecret::Scram(v) => {
            if v.iterations() <= EMPTY_CHECK_MAX_ITERATIONS && scram_is_empty_password(&v) {
                return Ok(cleared(notices));
            }
            password.to_owned()
        }
        StoredSecret::Md5(s) => {
            if s.ct_eq(&md5_secret(b"", role_name)) {
                return Ok(cleared(notices));
            }
            s.expose().to_owned()
        }
        StoredSecret::Plaintext => {
            if password.is_empty() {
                return Ok(cleared(notices));
            }
            match policy.encryption {
                PasswordEncryption::Md5 => md5_secret(password.as_bytes(), role_name),
                PasswordEncryption::ScramSha256 => {
                    let salt = Zeroizing::new(random_salt()?);
                    ScramVerifier::derive(password.as_bytes(), &salt[..], policy.iterations)
                        .map_err(|e| {
                            SqlError::new(sqlstate::INVALID_PARAMETER_VALUE, e.to_string())
                        })?
                        .to_string()
                }
            }
        }
    };
    check_secret_len(&secret)?;
    if secret.starts_with("md5") && policy.md5_warnings {
        notices.push(
            Notice::warning(
                sqlstate::WARNING_DEPRECATED_FEATURE,
                "setting an MD5-encrypted password",
            )
            .with_detail(
                "MD5 password support is deprecated and will be removed in a future release of PostgreSQL.",
            ),
        );
    }
    Ok(Resolved {
        secret: Some(secret),
        notices,
    })
}

/// Turns the text of `ADD SECOND PASSWORD '...'` into a SCRAM verifier that shares the
/// salt and iteration count of the role's `first` (SCRAM sends one salt before the
/// client proves which password it holds; see `pgscram_scram::rotation`). Plaintext
/// is hashed with that salt; a ready verifier must already use it; md5 and the empty
/// password are refused: a second password is SCRAM or nothing.
pub(crate) fn resolve_second(password: &str, first: &ScramVerifier) -> Result<String, SqlError> {
    let shares =
        |v: &ScramVerifier| v.salt() == first.salt() && v.iterations() == first.iterations();
    let refused = |why: &str| SqlError::new(sqlstate::INVALID_PARAMETER_VALUE, why.to_owned());
    let secret = match StoredSecret::classify(password) {
        Err(e) => return Err(refused(&format!("invalid SCRAM secret: {e}"))),
        Ok(StoredSecret::Md5(_)) => {
            return Err(refused(
                "a second password must be a SCRAM-SHA-256 secret, not md5",
            ));
        }
        Ok(StoredSecret::Plaintext) if password.is_empty() => {
            return Err(refused("empty string is not a valid password"));
        }
        Ok(StoredSecret::Plaintext) => {
            ScramVerifier::derive(password.as_bytes(), first.salt(), first.iterations())
                .map_err(|e| refused(&e.to_string()))?
                .to_string()
        }
        Ok(StoredSecret::Scram(v)) if !shares(&v) => {
            return Err(refused(
                "a second SCRAM secret must use the salt and iteration count of the first",
            )
            .with_hint(
                "A superuser can read them from pgscram_passwords; or give the password in plaintext (over TLS) and the server hashes it with them.",
            ));
        }
        Ok(StoredSecret::Scram(v)) => {
            if scram_is_empty_password(&v) {
                return Err(refused("empty string is not a valid password"));
            }
            password.to_owned()
        }
    };
    check_secret_len(&secret)?;
    Ok(secret)
}

/// PostgreSQL 18's cap on a stored secret. With the strict verifier parser (salts of
/// at most 256 bytes) no valid secret reaches it today; it guards the catalog if the
/// parser ever grows more lenient.
fn check_secret_len(secret: &str) -> Result<(), SqlError> {
    if secret.len() > MAX_SECRET_LEN {
        return Err(SqlError::new(
            sqlstate::PROGRAM_LIMIT_EXCEEDED,
            "encrypted password is too long",
        )
        .with_detail(format!(
            "Encrypted passwords must be no longer than {MAX_SECRET_LEN} bytes."
        )));
    }
    Ok(())
}

fn cleared(mut notices: Vec<Notice>) -> Resolved {
    notices.push(Notice::plain(
        "empty string is not a valid password, clearing password",
    ));
    Resolved {
        secret: None,
        notices,
    }
}

/// Whether `v` is the verifier of the empty password.
fn scram_is_empty_password(v: &ScramVerifier) -> bool {
    ScramVerifier::derive(b"", v.salt(), v.iterations()).is_ok_and(|empty| empty.ct_eq(v))
}

/// A fresh salt from the operating system.
fn random_salt() -> Result<[u8; DEFAULT_SALT_LEN], SqlError> {
    let mut salt = [0u8; DEFAULT_SALT_LEN];
    getrandom::getrandom(&mut salt).map_err(|e| {
        SqlError::new(
            sqlstate::SYSTEM_ERROR,
            format!("could not generate random salt: {e}"),
        )
    })?;
    Ok(salt)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET_VERIFIER: &str = "SCRAM-SHA-256$4096:AQIDBAUGBwgJCgsMDQ4PEA==$8rrDg00OqaiWXJ7p+sCgHEIaBSHY89ZJl3mfIsf32oY=:05L1f+yZbiN8O0AnO40Og85NNRhvzTS57naKRWCcsIA=";

    fn policy(encryption: PasswordEncryption) -> HashPolicy {
        HashPolicy {
            encryption,
            iterations: 4096,
            md5_warnings: true,
        }
    }

    #[test]
    fn a_second_password_shares_the_first_ones_salt() {
        let first = ScramVerifier::parse(SECRET_VERIFIER).unwrap();
        let second = resolve_second("other", &first).unwrap();
        let second = ScramVerifier::parse(&second).unwrap();
        assert_eq!(
            (second.salt(), second.iterations()),
            (first.salt(), first.iterations())
        );
        assert!(!second.ct_eq(&first));
        let foreign = ScramVerifier::derive(b"other", &[9; 16], 4096).unwrap();
        assert!(resolve_second(&foreign.to_string(), &first).is_err());
        assert!(resolve_second(&second.to_string(), &first).is_ok());
        assert!(resolve_second("md5a3556571e93b0d20722ba62be61e8c2d", &first).is_err());
        assert!(resolve_second("", &first).is_err());
        let empty = ScramVerifier::derive(b"", first.salt(), first.iterations()).unwrap();
        assert!(resolve_second(&empty.to_string(), &first).is_err());
    }

    #[test]
    fn plaintext_is_hashed_with_a_fresh_salt() {
        let a = resolve("secret", "u", policy(PasswordEncryption::ScramSha256)).unwrap();
        let b = resolve("secret", "u", policy(PasswordEncryption::ScramSha256)).unwrap();
        let (a, b) = (a.secret.clone().unwrap(), b.secret.clone().unwrap());
        assert!(a.starts_with("SCRAM-SHA-256$4096:"));
        assert_ne!(a, b, "salts must differ");
        let v = ScramVerifier::parse(&a).unwrap();
        assert_eq!(v.salt().len(), 16);
        let again = ScramVerifier::derive(b"secret", v.salt(), 4096).unwrap();
        assert!(again.ct_eq(&v));
    }

    #[test]
    fn iterations_follow_the_session() {
        let mut p = policy(PasswordEncryption::ScramSha256);
        p.iterations = 7;
        let r = resolve("pw", "u", p).unwrap();
        assert!(r.secret.as_deref().unwrap().starts_with("SCRAM-SHA-256$7:"));
    }

    #[test]
    fn md5_hashing_warns() {
        let r = resolve("secret", "foo", policy(PasswordEncryption::Md5)).unwrap();
        assert_eq!(
            r.secret.as_deref(),
            Some("md54ab2c5d00339c4b2a4e921d2dc4edec7")
        );
        assert_eq!(r.notices.len(), 1);
        assert_eq!(r.notices[0].code, sqlstate::WARNING_DEPRECATED_FEATURE);
        assert_eq!(r.notices[0].message, "setting an MD5-encrypted password");
        let mut quiet = policy(PasswordEncryption::Md5);
        quiet.md5_warnings = false;
        assert!(resolve("secret", "foo", quiet).unwrap().notices.is_empty());
    }

    #[test]
    fn recognised_hashes_are_stored_as_is() {
        let r = resolve(SECRET_VERIFIER, "u", policy(PasswordEncryption::Md5)).unwrap();
        assert_eq!(r.secret.as_deref(), Some(SECRET_VERIFIER));
        assert!(r.notices.is_empty());
        let md5 = "md54ab2c5d00339c4b2a4e921d2dc4edec7";
        let r = resolve(md5, "someone", policy(PasswordEncryption::ScramSha256)).unwrap();
        assert_eq!(r.secret.as_deref(), Some(md5));
        assert_eq!(r.notices.len(), 1, "md5 warning even when pre-hashed");
    }

    #[test]
    fn empty_passwords_clear() {
        for pw in ["", &md5_secret(b"", "u")] {
            let r = resolve(pw, "u", policy(PasswordEncryption::ScramSha256)).unwrap();
            assert!(r.secret.is_none());
            assert_eq!(
                r.notices[0].message,
                "empty string is not a valid password, clearing password"
            );
        }
        let empty_scram = ScramVerifier::derive(b"", &[7; 16], 16)
            .unwrap()
            .to_string();
        let r = resolve(&empty_scram, "u", policy(PasswordEncryption::ScramSha256)).unwrap();
        assert!(r.secret.is_none());
    }

    #[test]
    fn malformed_scram_is_refused_not_hashed() {
        let bad = "SCRAM-SHA-256$0:AQIDBAUGBwgJCgsMDQ4PEA==$8rrDg00OqaiWXJ7p+sCgHEIaBSHY89ZJl3mfIsf32oY=:05L1f+yZbiN8O0AnO40Og85NNRhvzTS57naKRWCcsIA=";
        let e = resolve(bad, "u", policy(PasswordEncryption::ScramSha256)).unwrap_err();
        assert_eq!(e.code, sqlstate::INVALID_PARAMETER_VALUE);
        assert!(
            e.message.starts_with("invalid SCRAM secret: "),
            "{}",
            e.message
        );
        assert!(!e.message.contains("8rrDg00"), "no key material in errors");
    }

    #[test]
    fn long_secrets_are_refused() {
        let biggest = ScramVerifier::derive(b"x", &[1u8; 256], 1)
            .unwrap()
            .to_string();
        assert!(
            check_secret_len(&biggest).is_ok(),
            "every strict verifier fits"
        );
        let e = check_secret_len(&"x".repeat(MAX_SECRET_LEN + 1)).unwrap_err();
        assert_eq!(e.code, sqlstate::PROGRAM_LIMIT_EXCEEDED);
        assert_eq!(e.message, "encrypted password is too long");
        assert!(check_secret_len(&"x".repeat(MAX_SECRET_LEN)).is_ok());
    }

    #[test]
    fn debug_redacts_the_secret() {
        let r = resolve("secret", "u", policy(PasswordEncryption::ScramSha256)).unwrap();
        let dbg = format!("{r:?}");
        assert!(!dbg.contains("SCRAM-SHA-256$"), "{dbg}");
    }
}
