//! Secrets from a PgBouncer-format auth_file: `"user" "SCRAM-SHA-256$..."` or
//! `"user" "md5..."` per line (the middle of a migration is mixed).
//!
//! A SCRAM role logs in upstream by SCRAM pass-through. An md5 role, under an `md5`
//! pg_hba line, gets the md5 challenge and logs in upstream by md5 pass-through (the md5
//! secret is what PostgreSQL's md5 login checks), as PgBouncer does; under
//! `scram-sha-256` it gets the mock exchange and 28P01. A plaintext password would have
//! to be stored to log in upstream (the thing this proxy exists to avoid), so it is
//! refused with the file and line. Reloading keeps the old entries when the new file has
//! any error.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::RwLock;

use pgscram_scram::{ScramVerifier, StoredSecret};

use crate::store::{PasswordStore, Role, Secret, StoreError};

/// One problem in the file, with where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthFileError {
    /// The auth_file.
    pub file: PathBuf,
    /// The line at fault (0: the file as a whole).
    pub line: usize,
    /// What is wrong (never the secret itself).
    pub message: String,
}

impl std::fmt::Display for AuthFileError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} (line {} of auth_file \"{}\")",
            self.message,
            self.line,
            self.file.display()
        )
    }
}

impl std::error::Error for AuthFileError {}

/// Parses auth_file contents into user -> secret (a SCRAM verifier or an md5 secret).
pub(crate) fn parse(file: &Path, text: &str) -> Result<HashMap<String, Secret>, AuthFileError> {
    let mut entries = HashMap::new();
    for (index, line) in text.lines().enumerate() {
        let at = |message: String| AuthFileError {
            file: file.to_owned(),
            line: index + 1,
            message,
        };
        let trimmed = line.trim_start();
        if trimmed.is_empty() || trimmed.starts_with(';') || trimmed.starts_with('#') {
            continue;
        }
        let (user, rest) =
            quoted(trimmed).ok_or_else(|| at("expected \"user\" \"secret\"".into()))?;
        let (secret, _) = quoted(rest.trim_start())
            .ok_or_else(|| at(format!("expected a quoted secret after \"{user}\"")))?;
        let secret = match StoredSecret::classify(&secret) {
            Ok(StoredSecret::Scram(_) | StoredSecret::Md5(_)) => Secret::new(secret),
            Ok(StoredSecret::Plaintext) => {
                return Err(at(format!(
                    "plaintext password for \"{user}\" refused: store a SCRAM-SHA-256 verifier (pgscram encrypt-password)"
                )));
            }
            Err(e) => return Err(at(format!("invalid SCRAM verifier for \"{user}\": {e}"))),
        };
        if entries.insert(user.clone(), secret).is_some() {
            return Err(at(format!("user \"{user}\" is listed twice")));
        }
    }
    Ok(entries)
}

/// A `"..."` field with `""` as an escaped quote; returns it and the rest of the line.
fn quoted(text: &str) -> Option<(String, &str)> {
    let mut chars = text.strip_prefix('"')?.char_indices();
    let mut value = String::new();
    while let Some((i, c)) = chars.next() {
        if c == '"' {
            match chars.clone().next() {
                Some((_, '"')) => {
                    chars.next();
                    value.push('"');
                }
                _ => return Some((value, &text[i + 2..])),
            }
        } else {
            value.push(c);
        }
    }
    None
}

/// An auth_file as a credential store.
#[derive(Debug)]
pub struct AuthFileStore {
    path: PathBuf,
    entries: RwLock<HashMap<String, Secret>>,
}

impl AuthFileStore {
    /// Reads the file; any error names its line.
    pub fn load(path: &Path) -> Result<Self, AuthFileError> {
        let entries = read(path)?;
        Ok(AuthFileStore {
            path: path.to_owned(),
            entries: RwLock::new(entries),
        })
    }

    /// Re-reads the file; on error the old entries stay.
    pub fn reload(&self) -> Result<usize, AuthFileError> {
        let entries = read(&self.path)?;
        let count = entries.len();
        *self.entries.write().unwrap_or_else(|e| e.into_inner()) = entries;
        Ok(count)
    }

    /// The SCRAM verifier for `user`, if the file holds one (not an md5 secret).
    pub fn verifier(&self, user: &str) -> Option<ScramVerifier> {
        ScramVerifier::parse(self.secret(user)?.expose()).ok()
    }

    /// The secret for `user` as the file holds it: a SCRAM verifier or an md5 secret.
    fn secret(&self, user: &str) -> Option<Secret> {
        self.entries
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(user)
            .cloned()
    }
}

fn read(path: &Path) -> Result<HashMap<String, Secret>, AuthFileError> {
    let text = std::fs::read_to_string(path).map_err(|e| AuthFileError {
        file: path.to_owned(),
        line: 0,
        message: format!("could not read auth_file: {e}"),
    })?;
    parse(path, &text)
}

/// auth_file knows no memberships (`+group` rules never match), expiry or limits: every
/// listed role may log in, and the upstream PostgreSQL judges the rest at its login.
#[async_trait::async_trait]
impl PasswordStore for AuthFileStore {
    async fn role(&self, name: &str) -> Result<Option<Role>, StoreError> {
        Ok(self.secret(name).map(|secret| Role::login(secret.expose())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const VERIFIER: &str = "SCRAM-SHA-256$4096:AQIDBAUGBwgJCgsMDQ4PEA==$8rrDg00OqaiWXJ7p+sCgHEIaBSHY89ZJl3mfIsf32oY=:05L1f+yZbiN8O0AnO40Og85NNRhvzTS57naKRWCcsIA=";

    #[test]
    fn reads_pgbouncer_lines() {
        let text = format!(
            "; comment\n\"alice\" \"{VERIFIER}\"\n  \"we\"\"ird\" \"{VERIFIER}\" trailing\n\n"
        );
        let entries = parse(Path::new("users.txt"), &text).unwrap();
        assert_eq!(entries.len(), 2);
        assert!(entries.contains_key("we\"ird"));
    }

    #[test]
    fn md5_and_scram_lines_mix() {
        let text =
            format!("\"alice\" \"{VERIFIER}\"\n\"bob\" \"md54ab2c5d00339c4b2a4e921d2dc4edec7\"\n");
        let entries = parse(Path::new("users.txt"), &text).unwrap();
        assert_eq!(entries.len(), 2);
        assert!(entries["bob"].expose().starts_with("md5"));
    }

    #[test]
    fn refuses_what_cannot_log_in_upstream() {
        let cases = [
            (
                "\"bob\" \"hunter2\"",
                1,
                "plaintext password for \"bob\" refused",
            ),
            (
                "\"bob\" \"SCRAM-SHA-256$0:AAAA$AAAA:AAAA\"",
                1,
                "invalid SCRAM verifier for \"bob\"",
            ),
            ("bob secret", 1, "expected \"user\" \"secret\""),
        ];
        for (line, number, message) in cases {
            let text = format!("; header\n{line}\n");
            let error = parse(Path::new("/etc/users.txt"), &text).unwrap_err();
            assert_eq!(error.line, number + 1);
            assert!(error.message.starts_with(message), "{error}");
            assert!(
                !error.to_string().contains("hunter2"),
                "a secret leaked into the error"
            );
        }
    }
}
