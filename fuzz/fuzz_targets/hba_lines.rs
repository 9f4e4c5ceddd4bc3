#![no_main]
//! pg_hba.conf text (with an include file made from the second half of the input):
//! parsing, the pg_hba_file_rules view and rule matching never panic, and the view
//! agrees with the parser about whether the file is valid.
//!
//! Speed: a file that includes itself k times expands to k^10 copies, which the parser
//! stops only at its cap of 1000 opened files; run four times per input that cost a
//! few hundred milliseconds, and such inputs soon filled the run (about 30 executions
//! per second). Here every load gets a budget of `READS_PER_LOAD` file reads; a read
//! past it fails as an unreadable file, which the tokenizer handles exactly as it
//! handles its own cap (an error on the including line), so the same paths run,
//! nesting depth errors included, at a fraction of the cost. The `ssl_enabled` pass is
//! skipped where it cannot change anything (see below).
use std::cell::Cell;

use libfuzzer_sys::fuzz_target;
use pgscram_auth::hba::{
    file_rules_from_str, ConfigSource, ConnKind, ConnRequest, DirEntry, HbaOptions, HbaRules,
    MatchEnv, MemorySource, NoResolver, RoleOracle, SourceError,
};

/// Enough for the nesting limit to be reached by a file that includes itself: the top
/// file is given as text, and the open at depth 11 fails before it reads.
const READS_PER_LOAD: usize = 12;

struct Groups;
impl RoleOracle for Groups {
    fn is_member(&self, user: &str, role: &str) -> bool {
        user == role || role == "admins"
    }
}

/// `MemorySource` with a read budget, fresh for each load.
struct Budget<'a> {
    files: &'a MemorySource,
    left: Cell<usize>,
}

impl<'a> Budget<'a> {
    fn new(files: &'a MemorySource) -> Self {
        Budget { files, left: Cell::new(READS_PER_LOAD) }
    }
}

impl ConfigSource for Budget<'_> {
    fn read_file(&self, path: &str) -> Result<String, SourceError> {
        let Some(left) = self.left.get().checked_sub(1) else {
            return Err(SourceError::Other("fuzz read budget spent".into()));
        };
        self.left.set(left);
        self.files.read_file(path)
    }

    fn list_dir(&self, path: &str) -> Result<Vec<DirEntry>, SourceError> {
        self.files.list_dir(path)
    }
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mid = (text.len() / 2..=text.len())
        .find(|&i| text.is_char_boundary(i))
        .unwrap_or(text.len());
    let (main, included) = text.split_at(mid);
    let files = MemorySource::new()
        .with_file("/fuzz/inc.conf", included)
        .with_file("/fuzz/users", "alice\n+admins\n");
    let mut any_hostssl = false;
    for ssl_enabled in [false, true] {
        // `ssl_enabled` changes one thing only, the warning on lines that parse as
        // `hostssl` rules: without such a row in the first pass the second would repeat it.
        if ssl_enabled && !any_hostssl {
            continue;
        }
        let opts = HbaOptions { ssl_enabled };
        let parsed = HbaRules::parse("/fuzz/pg_hba.conf", main, &Budget::new(&files), &opts);
        let view = file_rules_from_str("/fuzz/pg_hba.conf", main, &Budget::new(&files), &opts);
        any_hostssl |= view.iter().any(|row| row.conn_type.as_deref() == Some("hostssl"));
        if parsed.is_ok() {
            assert!(
                view.iter().all(|row| row.error.is_none() || row.auth_method.is_some()),
                "the parser accepted a file whose view shows an error row"
            );
        }
        let Ok(rules) = parsed else { continue };
        let env = MatchEnv { roles: &Groups, resolver: &NoResolver, interfaces: &[] };
        for (kind, user, database) in [
            (ConnKind::Local, "alice", "postgres"),
            (ConnKind::Host { addr: "127.0.0.1".parse().unwrap(), ssl: false }, "bob", "app"),
            (ConnKind::Host { addr: "::1".parse().unwrap(), ssl: true }, "alice", "alice"),
            (ConnKind::Host { addr: "10.1.2.3".parse().unwrap(), ssl: true }, "x", "replication"),
        ] {
            let request = ConnRequest { kind, database, user, physical_replication: false };
            if let Some(rule) = rules.check(&request, &env) {
                let _ = (rule.matched_log_detail(), rule.authenticated_log(user));
            }
        }
    }
});
