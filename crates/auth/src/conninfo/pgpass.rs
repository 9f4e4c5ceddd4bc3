//! `.pgpass`: `hostname:port:database:username:password` lines, matched as libpq's
//! `passwordFromFile` does. A field of exactly `*` matches anything; `\:` and `\\`
//! escape; the first matching line wins; lines starting with `#` are comments; the
//! password ends at the next unescaped `:`.
//!
//! [`PgPass::parse`] is pure; [`read_pgpass`] is the thin loader that also applies
//! libpq's rule that a password file readable by group or others is ignored.

use std::fmt;

use zeroize::Zeroizing;

use crate::secret::Secret;

/// The contents of a password file. Lines are kept as written (zeroized on drop).
#[derive(Clone, Default)]
pub struct PgPass {
    lines: Vec<Zeroizing<String>>,
}

impl fmt::Debug for PgPass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PgPass {{ {} lines }}", self.lines.len())
    }
}

impl PgPass {
    /// Keeps the non-empty lines that are not `#` comments; fields are split when a
    /// line is looked up.
    pub fn parse(text: &str) -> Self {
        let lines = text
            .split('\n')
            .map(|l| l.trim_end_matches(['\r', '\n']))
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(|l| Zeroizing::new(l.to_owned()))
            .collect();
        PgPass { lines }
    }

    /// The password of the first line whose four fields match. `host` is what libpq
    /// looks up: the host name, else the host address, with `localhost` standing for
    /// the default socket directory.
    pub fn lookup(&self, host: &str, port: &str, dbname: &str, user: &str) -> Option<Secret> {
        if user.is_empty() {
            return None;
        }
        for line in &self.lines {
            let rest = Some(line.as_bytes())
                .and_then(|r| match_field(r, host.as_bytes()))
                .and_then(|r| match_field(r, port.as_bytes()))
                .and_then(|r| match_field(r, dbname.as_bytes()))
                .and_then(|r| match_field(r, user.as_bytes()));
            if let Some(rest) = rest {
                return Some(Secret::new(unescape_password(rest)));
            }
        }
        None
    }
}

/// libpq's `pwdfMatchesString`: does the next field of `line` equal `token`? Returns
/// the text after the field's closing `:`.
fn match_field<'a>(line: &'a [u8], token: &[u8]) -> Option<&'a [u8]> {
    if line.len() >= 2 && line[0] == b'*' && line[1] == b':' {
        return Some(&line[2..]);
    }
    let (mut i, mut t) = (0usize, 0usize);
    let mut escaped = false;
    while i < line.len() {
        if line[i] == b'\\' && !escaped {
            i += 1;
            escaped = true;
            if i >= line.len() {
                return None;
            }
        }
        if line[i] == b':' && t == token.len() && !escaped {
            return Some(&line[i + 1..]);
        }
        escaped = false;
        if t == token.len() || line[i] != token[t] {
            return None;
        }
        i += 1;
        t += 1;
    }
    None
}

/// The password field: up to the first unescaped `:`, with `\x` read as `x`.
fn unescape_password(rest: &[u8]) -> String {
    let mut out: Zeroizing<Vec<u8>> = Zeroizing::new(Vec::with_capacity(rest.len()));
    let mut i = 0;
    while i < rest.len() && rest[i] != b':' {
        if rest[i] == b'\\' && i + 1 < rest.len() {
            i += 1;
        }
        out.push(rest[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// What reading a password file gave.
#[derive(Debug)]
pub enum PgPassRead {
    /// The file was read.
    Loaded(PgPass),
    /// No such file (or it could not be examined): silently no passwords, as in libpq.
    Missing,
    /// The file exists but libpq would not use it; `warning` is libpq's text.
    Ignored {
        /// libpq's warning, e.g. about group or world access.
        warning: String,
    },
}

/// Reads the password file at `path`, refusing (with libpq's warning) a file that is
/// not a plain file or that group or others may access.
pub fn read_pgpass(path: &str) -> PgPassRead {
    let Ok(meta) = std::fs::metadata(path) else {
        return PgPassRead::Missing;
    };
    if !meta.is_file() {
        return PgPassRead::Ignored {
            warning: format!("WARNING: password file \"{path}\" is not a plain file"),
        };
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if meta.permissions().mode() & 0o077 != 0 {
            return PgPassRead::Ignored {
                warning: format!(
                    "WARNING: password file \"{path}\" has group or world access; permissions should be u=rw (0600) or less"
                ),
            };
        }
    }
    match std::fs::read(path) {
        Ok(bytes) => {
            let bytes = Zeroizing::new(bytes);
            let text = Zeroizing::new(String::from_utf8_lossy(&bytes).into_owned());
            PgPassRead::Loaded(PgPass::parse(&text))
        }
        Err(_) => PgPassRead::Missing,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pw(p: &PgPass, host: &str, port: &str, db: &str, user: &str) -> Option<String> {
        p.lookup(host, port, db, user)
            .map(|s| s.expose().to_owned())
    }

    #[test]
    fn postgres_test_file() {
        // The file PostgreSQL's authentication test writes.
        let long = "# This very long comment is just here to exercise handling of long lines in the file. ".repeat(5);
        let p = PgPass::parse(&format!(
            "\n{long}\n*:*:postgres:scram_role:pass:this is not part of the password.\n\n*:*:*:md5_role:p\\ass\n"
        ));
        assert_eq!(
            pw(&p, "localhost", "5432", "postgres", "scram_role").as_deref(),
            Some("pass")
        );
        assert_eq!(pw(&p, "localhost", "5432", "other", "scram_role"), None);
        assert_eq!(pw(&p, "h", "1", "any", "md5_role").as_deref(), Some("pass"));
    }

    #[test]
    fn escapes_and_wildcards() {
        let p = PgPass::parse(
            "db\\:1:5432:d:u:one\n\
             *x:5432:d:u:literal-star-prefix\n\
             \\*:5432:d:u:escaped-star\n\
             h:5432:d:u:a\\:b\\\\c:ignored\r\n\
             h:5432:d:*:first\n\
             h:5432:d:*:second\n",
        );
        assert_eq!(pw(&p, "db:1", "5432", "d", "u").as_deref(), Some("one"));
        assert_eq!(
            pw(&p, "*x", "5432", "d", "u").as_deref(),
            Some("literal-star-prefix")
        );
        assert_eq!(
            pw(&p, "*", "5432", "d", "u").as_deref(),
            Some("escaped-star")
        );
        assert_eq!(pw(&p, "h", "5432", "d", "u").as_deref(), Some("a:b\\c"));
        assert_eq!(pw(&p, "h", "5432", "d", "v").as_deref(), Some("first"));
        assert_eq!(pw(&p, "x", "5432", "d", "u"), None);
        assert_eq!(pw(&p, "h", "5432", "d", ""), None);
    }

    #[test]
    fn short_lines_never_match() {
        let p = PgPass::parse("h:5432:d\nh:5432:d:u\nh:5432:d:u:\n");
        assert_eq!(pw(&p, "h", "5432", "d", "u").as_deref(), Some(""));
        let p = PgPass::parse("h:5432:d:u\\");
        assert_eq!(pw(&p, "h", "5432", "d", "u"), None);
    }

    #[test]
    fn debug_hides_lines() {
        let p = PgPass::parse("h:1:d:u:s3cret\n");
        assert_eq!(format!("{p:?}"), "PgPass { 1 lines }");
    }
}
