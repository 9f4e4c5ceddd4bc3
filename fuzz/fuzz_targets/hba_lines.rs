#![no_main]
//! pg_hba.conf text (with an include file made from the second half of the input):
//! parsing, the pg_hba_file_rules view and rule matching never panic, and the view
//! agrees with the parser about whether the file is valid.
use libfuzzer_sys::fuzz_target;
use pgscram_auth::hba::{
    file_rules_from_str, ConnKind, ConnRequest, HbaOptions, HbaRules, MatchEnv, MemorySource,
    NoResolver, RoleOracle,
};

struct Groups;
impl RoleOracle for Groups {
    fn is_member(&self, user: &str, role: &str) -> bool {
        user == role || role == "admins"
    }
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mid = (text.len() / 2..=text.len())
        .find(|&i| text.is_char_boundary(i))
        .unwrap_or(text.len());
    let (main, included) = text.split_at(mid);
    let source = MemorySource::new()
        .with_file("/fuzz/inc.conf", included)
        .with_file("/fuzz/users", "alice\n+admins\n");
    for ssl_enabled in [false, true] {
        let opts = HbaOptions { ssl_enabled };
        let parsed = HbaRules::parse("/fuzz/pg_hba.conf", main, &source, &opts);
        let view = file_rules_from_str("/fuzz/pg_hba.conf", main, &source, &opts);
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
