//! pg_hba.conf as PostgreSQL 16 reads it: which authentication method a connection
//! gets, decided by the first rule that matches its type, database, user and address.
//!
//! ```text
//!   file text ──tokenize──▶ lines/fields/tokens ──parse──▶ HbaRules ──check(req)──▶ &HbaRule | None
//!   (includes read through a ConfigSource)        (any bad line rejects the whole file)
//! ```
//!
//! Loading collects every error of every line before it gives up, each naming its file
//! and line, and a file with any error is refused as a whole: on reload the caller keeps
//! the rules it had ([`NOT_RELOADED`]). Matching is pure: role membership, name
//! resolution and interface addresses come from the caller (see [`MatchEnv`]).

mod check;
mod parse;
pub mod source;
mod token;
mod view;

use std::fmt;
use std::path::Path;

pub use check::{
    ConnKind, ConnRequest, HBA_SQLSTATE, HostResolver, HostnameLookup, Interface, LookupState,
    MatchEnv, NoResolver, RoleOracle, no_entry_message, rejects_message,
};
pub use parse::{
    AddressSpec, AuthMethod, ClientCert, ClientName, ConnType, HbaOptions, HbaRule, HbaToken,
};
pub use source::{ConfigSource, DirEntry, FsSource, MemorySource, SourceError};
pub use token::MAX_INCLUDE_DEPTH;
pub use view::{HbaFileRule, file_rules, file_rules_from_str};

use token::Tokenizer;

/// Logged when a reload found errors and the previous rules stay in force.
pub const NOT_RELOADED: &str = "pg_hba.conf was not reloaded";

/// A message about a configuration file, with the place it refers to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HbaMessage {
    /// The message text, as PostgreSQL logs it.
    pub message: String,
    /// The file the message is about (an included file where the problem is in one).
    pub file: String,
    /// The line, when the message is about one line.
    pub line: Option<u32>,
}

impl HbaMessage {
    /// PostgreSQL's CONTEXT line: `line N of configuration file "PATH"`.
    pub fn context(&self) -> Option<String> {
        self.line
            .map(|n| format!("line {n} of configuration file \"{}\"", self.file))
    }
}

impl fmt::Display for HbaMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        if let Some(context) = self.context() {
            write!(f, " ({context})")?;
        }
        Ok(())
    }
}

/// A file that could not be loaded: all its errors, in file order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HbaLoadError {
    /// Every error, in file order.
    pub errors: Vec<HbaMessage>,
    /// Non-fatal messages found on the way (they are logged in either case).
    pub notices: Vec<HbaMessage>,
}

impl fmt::Display for HbaLoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.errors.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for HbaLoadError {}

/// A successfully loaded pg_hba.conf.
#[derive(Debug, Clone)]
pub struct HbaRules {
    file: String,
    rules: Vec<HbaRule>,
    notices: Vec<HbaMessage>,
}

impl HbaRules {
    /// Reads and parses the file at `path` from the file system.
    pub fn load(path: impl AsRef<Path>, opts: &HbaOptions) -> Result<Self, HbaLoadError> {
        let path = path.as_ref().to_string_lossy().into_owned();
        Self::load_from(&path, &FsSource, opts)
    }

    /// Reads and parses the file at `path` through `source`.
    pub fn load_from(
        path: &str,
        source: &dyn ConfigSource,
        opts: &HbaOptions,
    ) -> Result<Self, HbaLoadError> {
        let text = Tokenizer::new(source)
            .open_top(path)
            .map_err(|message| HbaLoadError {
                errors: vec![HbaMessage {
                    message,
                    file: path.to_owned(),
                    line: None,
                }],
                notices: Vec::new(),
            })?;
        Self::parse(path, &text, source, opts)
    }

    /// Parses `text` as the contents of `path`; included files come from `source`
    /// (a [`MemorySource`] with no files makes every include fail).
    pub fn parse(
        path: &str,
        text: &str,
        source: &dyn ConfigSource,
        opts: &HbaOptions,
    ) -> Result<Self, HbaLoadError> {
        let mut tokenizer = Tokenizer::new(source);
        let mut lines = Vec::new();
        tokenizer.tokenize(path, text, &mut lines, 0);
        let mut notices = tokenizer.notices;
        let mut errors = Vec::new();
        let mut rules = Vec::new();
        for line in &lines {
            let result = match &line.error {
                Some(e) => Err(e.clone()),
                None => parse::parse_line(line, opts),
            };
            match result {
                Ok(rule) => {
                    if let Some(w) = &rule.warning {
                        notices.push(HbaMessage {
                            message: w.clone(),
                            file: rule.file.clone(),
                            line: Some(rule.line),
                        });
                    }
                    rules.push(rule);
                }
                Err(message) => errors.push(HbaMessage {
                    message,
                    file: line.file.clone(),
                    line: Some(line.line),
                }),
            }
        }
        if errors.is_empty() && rules.is_empty() {
            errors.push(HbaMessage {
                message: format!("configuration file \"{path}\" contains no entries"),
                file: path.to_owned(),
                line: None,
            });
        }
        if errors.is_empty() {
            Ok(HbaRules {
                file: path.to_owned(),
                rules,
                notices,
            })
        } else {
            Err(HbaLoadError { errors, notices })
        }
    }

    /// The top-level file these rules were read from.
    pub fn file(&self) -> &str {
        &self.file
    }

    /// The rules in file order, includes expanded in place.
    pub fn rules(&self) -> &[HbaRule] {
        &self.rules
    }

    /// Messages to log after a successful load (skipped optional includes, rules that
    /// can never match).
    pub fn notices(&self) -> &[HbaMessage] {
        &self.notices
    }

    /// The first rule that matches, or `None` (PostgreSQL's implicit reject: answer
    /// with [`no_entry_message`]). A rule whose method is `reject` is returned like any
    /// other; answer it with [`rejects_message`].
    pub fn check(&self, req: &ConnRequest<'_>, env: &MatchEnv<'_>) -> Option<&HbaRule> {
        self.check_with_lookup(req, env).0
    }

    /// As [`HbaRules::check`], also returning what the host-name lookups found (for the
    /// log detail of a failed match).
    pub fn check_with_lookup(
        &self,
        req: &ConnRequest<'_>,
        env: &MatchEnv<'_>,
    ) -> (Option<&HbaRule>, HostnameLookup) {
        let mut lookup = HostnameLookup::default();
        let rule = check::find(&self.rules, req, env, &mut lookup);
        (rule, lookup)
    }
}

impl HbaRule {
    /// The log-only DETAIL PostgreSQL 16 attaches to authentication messages:
    /// `Connection matched file "F" line N: "LINE"`.
    pub fn matched_log_detail(&self) -> String {
        format!(
            "Connection matched file \"{}\" line {}: \"{}\"",
            self.file, self.line, self.raw_line
        )
    }

    /// The same in PostgreSQL 15's words, for log parsers that expect them:
    /// `Connection matched pg_hba.conf line N: "LINE"`.
    pub fn matched_log_detail_pg15(&self) -> String {
        format!(
            "Connection matched pg_hba.conf line {}: \"{}\"",
            self.line, self.raw_line
        )
    }

    /// The success line: `connection authenticated: identity="u" method=M (F:N)`.
    pub fn authenticated_log(&self, identity: &str) -> String {
        format!(
            "connection authenticated: identity=\"{identity}\" method={} ({}:{})",
            self.method, self.file, self.line
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Roles(&'static [(&'static str, &'static str)]);

    impl RoleOracle for Roles {
        fn is_member(&self, user: &str, role: &str) -> bool {
            let exists = |r: &str| self.0.iter().any(|(a, b)| *a == r || *b == r);
            exists(user) && exists(role) && (user == role || self.0.contains(&(user, role)))
        }
    }

    const ROLES: Roles = Roles(&[("alice", "admins"), ("bob", "bob"), ("admins", "admins")]);

    fn env<'a>(roles: &'a Roles) -> MatchEnv<'a> {
        MatchEnv {
            roles,
            resolver: &NoResolver,
            interfaces: &[],
        }
    }

    fn rules(text: &str) -> HbaRules {
        HbaRules::parse(
            "/etc/pg_hba.conf",
            text,
            &MemorySource::new(),
            &HbaOptions::default(),
        )
        .unwrap()
    }

    fn local<'a>(db: &'a str, user: &'a str) -> ConnRequest<'a> {
        ConnRequest {
            kind: ConnKind::Local,
            database: db,
            user,
            physical_replication: false,
        }
    }

    #[test]
    fn first_match_wins_and_no_match_is_none() {
        let r = rules("local db1 all reject\nlocal all alice md5\nlocal all all scram-sha-256\n");
        let e = env(&ROLES);
        assert_eq!(
            r.check(&local("db1", "alice"), &e).unwrap().method,
            AuthMethod::Reject
        );
        assert_eq!(
            r.check(&local("db2", "alice"), &e).unwrap().method,
            AuthMethod::Md5
        );
        assert_eq!(r.check(&local("db2", "carol"), &e).unwrap().line, 3);
        let host = ConnRequest {
            kind: ConnKind::Host {
                addr: "127.0.0.1".parse().unwrap(),
                ssl: false,
            },
            ..local("db2", "carol")
        };
        assert!(r.check(&host, &e).is_none());
    }

    #[test]
    fn quoted_keywords_are_names() {
        let r = rules("local \"all\" all reject\nlocal all \"all\" md5\nlocal all all trust\n");
        let e = env(&ROLES);
        assert_eq!(r.check(&local("all", "x"), &e).unwrap().line, 1);
        assert_eq!(r.check(&local("d", "all"), &e).unwrap().line, 2);
        assert_eq!(r.check(&local("d", "x"), &e).unwrap().line, 3);
    }

    #[test]
    fn sameuser_samerole_and_replication() {
        let r = rules(
            "local sameuser all md5\nlocal samerole all password\nlocal replication all trust\n",
        );
        let e = env(&ROLES);
        assert_eq!(r.check(&local("bob", "bob"), &e).unwrap().line, 1);
        assert_eq!(r.check(&local("admins", "alice"), &e).unwrap().line, 2);
        assert!(r.check(&local("replication", "alice"), &e).is_none());
        let repl = ConnRequest {
            physical_replication: true,
            ..local("whatever", "alice")
        };
        assert_eq!(r.check(&repl, &e).unwrap().line, 3);
    }

    #[test]
    fn log_texts() {
        let r = rules("# c\nlocal   all all   trust  # why\n");
        let rule = &r.rules()[0];
        assert_eq!(
            rule.matched_log_detail(),
            "Connection matched file \"/etc/pg_hba.conf\" line 2: \"local   all all   trust  # why\""
        );
        assert_eq!(
            rule.matched_log_detail_pg15(),
            "Connection matched pg_hba.conf line 2: \"local   all all   trust  # why\""
        );
        assert_eq!(
            rule.authenticated_log("u"),
            "connection authenticated: identity=\"u\" method=trust (/etc/pg_hba.conf:2)"
        );
    }

    #[test]
    fn errors_carry_file_and_line() {
        let e = HbaRules::parse(
            "/etc/pg_hba.conf",
            "local all all trust\nhost all all 10.0.0.0/33 md5\nlocal all all ldap\n",
            &MemorySource::new(),
            &HbaOptions::default(),
        )
        .unwrap_err();
        assert_eq!(e.errors.len(), 2);
        assert_eq!(
            e.errors[0].to_string(),
            "invalid CIDR mask in address \"10.0.0.0/33\" (line 2 of configuration file \"/etc/pg_hba.conf\")"
        );
        assert_eq!(
            e.errors[1].message,
            "invalid authentication method \"ldap\": not supported by pgscram"
        );
        assert_eq!(e.errors[1].line, Some(3));
    }

    #[test]
    fn empty_file_is_refused() {
        let e = HbaRules::parse(
            "/etc/pg_hba.conf",
            "# nothing\n\n",
            &MemorySource::new(),
            &HbaOptions::default(),
        )
        .unwrap_err();
        assert_eq!(
            e.errors[0].message,
            "configuration file \"/etc/pg_hba.conf\" contains no entries"
        );
        assert_eq!(e.errors[0].context(), None);
    }
}
