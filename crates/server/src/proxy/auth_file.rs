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
//!
//! With an auth_user beside the file (PgBouncer's `auth_file` + `auth_user`), names the
//! file lacks are looked up with auth_query, and `upgrade_md5_on_login` can write: the
//! upstream role gets the new SCRAM verifier through the auth_user's connection, then the
//! file is rewritten atomically (a temporary file beside it, fsync, rename, fsync of the
//! directory) with only that user's secret changed, so the next login is SCRAM
//! pass-through and a reload keeps it.

use std::collections::HashMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::RwLock;

use pgscram_scram::{ScramVerifier, StoredSecret};
use zeroize::Zeroizing;

use super::AuthQueryStore;
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
pub struct AuthFileStore {
    path: PathBuf,
    entries: RwLock<HashMap<String, Secret>>,
    /// The auth_user beside the file: names the file lacks, and md5 upgrades.
    auth_query: Option<AuthQueryStore>,
    /// One rewrite of the file at a time.
    rewriting: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for AuthFileStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthFileStore")
            .field("path", &self.path)
            .field("auth_query", &self.auth_query.is_some())
            .finish_non_exhaustive()
    }
}

impl AuthFileStore {
    /// Reads the file; any error names its line.
    pub fn load(path: &Path) -> Result<Self, AuthFileError> {
        let entries = read(path)?;
        Ok(AuthFileStore {
            path: path.to_owned(),
            entries: RwLock::new(entries),
            auth_query: None,
            rewriting: tokio::sync::Mutex::new(()),
        })
    }

    /// Adds an auth_user, as PgBouncer does beside an auth_file: a name the file lacks
    /// is looked up with `auth_query`, and `upgrade_md5_on_login` writes the upstream's
    /// new verifier through its connection, then into the file.
    pub fn with_auth_query(mut self, auth_query: AuthQueryStore) -> Self {
        self.auth_query = Some(auth_query);
        self
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

/// Rewrites the auth_file with `user`'s secret changed from `current` to `new`, every
/// other byte kept: into a temporary file beside it (same permissions), fsync, rename
/// over the file, fsync of the directory, so a crash leaves the old file or the new one.
/// `Ok(false)` if the file no longer holds `current` for `user` (edited meanwhile).
fn rewrite(path: &Path, user: &str, current: &Secret, new: &Secret) -> std::io::Result<bool> {
    let text = Zeroizing::new(std::fs::read_to_string(path)?);
    let mut out = Zeroizing::new(String::with_capacity(text.len() + 64));
    let mut replaced = false;
    for line in text.split_inclusive('\n') {
        let indent = line.len() - line.trim_start().len();
        let entry = quoted(&line[indent..]).and_then(|(name, rest)| {
            let after = rest.trim_start();
            quoted(after).map(|(secret, tail)| (name, Zeroizing::new(secret), tail))
        });
        match entry {
            Some((name, secret, tail)) if name == user => {
                if !Secret::new(secret.as_str()).ct_eq(current) {
                    return Ok(false);
                }
                out.push_str(&line[..indent]);
                out.push_str(&quote_field(&name));
                out.push(' ');
                out.push_str(&quote_field(new.expose()));
                out.push_str(tail);
                replaced = true;
            }
            _ => out.push_str(line),
        }
    }
    if !replaced {
        return Ok(false);
    }
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let temporary = dir.join(format!(".{name}.pgscram-{}", std::process::id()));
    let written = (|| {
        let mut file = std::fs::File::create(&temporary)?;
        file.set_permissions(std::fs::metadata(path)?.permissions())?;
        file.write_all(out.as_bytes())?;
        file.sync_all()?;
        std::fs::rename(&temporary, path)?;
        std::fs::File::open(dir)?.sync_all()
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&temporary);
    }
    written.map(|()| true)
}

/// A `"..."` field, quotes doubled (what [`quoted`] reads back).
fn quote_field(text: &str) -> String {
    format!("\"{}\"", text.replace('"', "\"\""))
}

/// auth_file knows no memberships (`+group` rules never match), expiry or limits: every
/// listed role may log in, and the upstream PostgreSQL judges the rest at its login.
#[async_trait::async_trait]
impl PasswordStore for AuthFileStore {
    async fn role(&self, name: &str) -> Result<Option<Role>, StoreError> {
        match (self.secret(name), &self.auth_query) {
            (Some(secret), _) => Ok(Some(Role::login(secret.expose()))),
            (None, Some(auth_query)) => auth_query.role(name).await,
            (None, None) => Ok(None),
        }
    }

    fn invalidate(&self, name: &str) {
        if let Some(auth_query) = &self.auth_query {
            auth_query.invalidate(name);
        }
    }

    fn replaces_secrets(&self) -> bool {
        self.auth_query.is_some()
    }

    /// Upstream first (the source of truth, through the auth_user), then the file. If
    /// the file cannot be rewritten, the running proxy still uses the new verifier and
    /// the log says what to copy before the next reload.
    async fn replace_secret(
        &self,
        name: &str,
        current: &Secret,
        new: Secret,
    ) -> Result<bool, StoreError> {
        let Some(auth_query) = &self.auth_query else {
            return Ok(false);
        };
        let _one_at_a_time = self.rewriting.lock().await;
        match self.secret(name) {
            None => return auth_query.replace_secret(name, current, new).await,
            Some(held) if !held.ct_eq(current) => return Ok(false),
            Some(_) => {}
        }
        if !auth_query
            .replace_secret(name, current, new.clone())
            .await?
        {
            return Ok(false);
        }
        let (path, user, current_held, new_held) = (
            self.path.clone(),
            name.to_owned(),
            current.clone(),
            new.clone(),
        );
        let rewritten =
            tokio::task::spawn_blocking(move || rewrite(&path, &user, &current_held, &new_held))
                .await
                .map_err(|e| StoreError::Other(Box::new(e)))?;
        match rewritten {
            Ok(true) => {}
            Ok(false) => tracing::warn!(
                "auth_file \"{}\" no longer holds the md5 secret of \"{name}\": not rewritten; \
                 the upstream role has a SCRAM verifier now, copy it into the file",
                self.path.display()
            ),
            Err(e) => tracing::warn!(
                "could not rewrite auth_file \"{}\": {e}; the upstream role \"{name}\" has a \
                 SCRAM verifier now, copy it into the file before the next reload",
                self.path.display()
            ),
        }
        self.entries
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(name.to_owned(), new);
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rewrite_changes_one_secret_and_keeps_every_other_byte() {
        let dir = std::env::temp_dir().join(format!("pgscram-authfile-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("users.txt");
        let before = format!(
            "; comment\n\"alice\" \"{VERIFIER}\"\n  \"da\"\"ve\" \"md54ab2c5d00339c4b2a4e921d2dc4edec7\"  trailing\n\"erin\" \"md5a3556571e93b0d20722ba62be61e8c2d\""
        );
        std::fs::write(&path, &before).unwrap();
        let md5 = Secret::new("md54ab2c5d00339c4b2a4e921d2dc4edec7");
        let new = Secret::new(VERIFIER);
        assert!(
            !rewrite(
                &path,
                "da\"ve",
                &Secret::new("md500000000000000000000000000000000"),
                &new
            )
            .unwrap()
        );
        assert!(!rewrite(&path, "nobody", &md5, &new).unwrap());
        assert_eq!(std::fs::read_to_string(&path).unwrap(), before);
        assert!(rewrite(&path, "da\"ve", &md5, &new).unwrap());
        let after = std::fs::read_to_string(&path).unwrap();
        assert_eq!(
            after,
            before.replace(
                "\"md54ab2c5d00339c4b2a4e921d2dc4edec7\"",
                &format!("\"{VERIFIER}\"")
            )
        );
        let entries = parse(&path, &after).unwrap();
        assert_eq!(entries["da\"ve"].expose(), VERIFIER);
        assert_eq!(
            entries["erin"].expose(),
            "md5a3556571e93b0d20722ba62be61e8c2d"
        );
        let leftovers = std::fs::read_dir(&dir).unwrap().count();
        assert_eq!(leftovers, 1, "no temporary file left behind");
        let _ = std::fs::remove_dir_all(dir);
    }

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
