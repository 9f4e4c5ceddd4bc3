//! pg_hba.conf files on disk: PostgreSQL's own cases (src/test/authentication
//! 001_password.pl and 004_file_inclusion.pl) plus matching by address.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

use pgscram_auth::hba::FsSource;
use pgscram_auth::hba::{
    AuthMethod, ConnKind, ConnRequest, HbaOptions, HbaRules, HostResolver, Interface, LookupState,
    MatchEnv, NOT_RELOADED, NoResolver, RoleOracle, file_rules, no_entry_message, rejects_message,
};

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A directory under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let path =
            std::env::temp_dir().join(format!("pgscram-auth-{name}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).unwrap();
        TempDir(path)
    }

    /// Writes `text` to `rel` (creating directories) and returns the full path.
    fn write(&self, rel: &str, text: &str) -> String {
        let path = self.0.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, text).unwrap();
        path.to_string_lossy().into_owned()
    }

    fn path(&self, rel: &str) -> String {
        self.0.join(rel).to_string_lossy().into_owned()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Roles and memberships, with membership closed over chains (as PostgreSQL does).
struct Catalog {
    roles: BTreeSet<&'static str>,
    member_of: BTreeMap<&'static str, Vec<&'static str>>,
}

impl Catalog {
    fn new(roles: &[&'static str], grants: &[(&'static str, &'static str)]) -> Self {
        let mut member_of: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for (member, role) in grants {
            member_of.entry(member).or_default().push(role);
        }
        Catalog {
            roles: roles.iter().copied().collect(),
            member_of,
        }
    }
}

impl RoleOracle for Catalog {
    fn is_member(&self, user: &str, role: &str) -> bool {
        if !self.roles.contains(user) || !self.roles.contains(role) {
            return false;
        }
        let mut stack = vec![user];
        let mut seen = BTreeSet::new();
        while let Some(r) = stack.pop() {
            if r == role {
                return true;
            }
            if seen.insert(r) {
                stack.extend(self.member_of.get(r).into_iter().flatten().copied());
            }
        }
        false
    }
}

fn load(path: &str) -> HbaRules {
    HbaRules::load(path, &HbaOptions::default()).unwrap_or_else(|e| panic!("{e}"))
}

fn local<'a>(db: &'a str, user: &'a str) -> ConnRequest<'a> {
    ConnRequest {
        kind: ConnKind::Local,
        database: db,
        user,
        physical_replication: false,
    }
}

fn host<'a>(addr: &str, ssl: bool, db: &'a str, user: &'a str) -> ConnRequest<'a> {
    ConnRequest {
        kind: ConnKind::Host {
            addr: addr.parse().unwrap(),
            ssl,
        },
        database: db,
        user,
        physical_replication: false,
    }
}

fn env(roles: &Catalog) -> MatchEnv<'_> {
    MatchEnv {
        roles,
        resolver: &NoResolver,
        interfaces: &[],
    }
}

#[test]
fn regular_expressions_for_users_and_databases() {
    let dir = TempDir::new("regex");
    let roles = Catalog::new(&["scram_role", "scram,role"], &[]);
    let e = env(&roles);
    let path = dir.write(
        "pg_hba.conf",
        "local all /^.*nomatch.*$, baduser, /^scr.*$ password\n",
    );
    assert_eq!(
        load(&path)
            .check(&local("postgres", "scram_role"), &e)
            .unwrap()
            .method,
        AuthMethod::Password
    );
    let path = dir.write(
        "pg_hba.conf",
        "local all /^.*nomatch.*$, baduser, /^sc_r.*$ password\n",
    );
    assert!(
        load(&path)
            .check(&local("postgres", "scram_role"), &e)
            .is_none()
    );
    // A comma inside a regex needs quotes, else it splits the list.
    let path = dir.write("pg_hba.conf", "local all \"/^.*m,.*e$\" password\n");
    assert!(
        load(&path)
            .check(&local("postgres", "scram,role"), &e)
            .is_some()
    );
    let path = dir.write(
        "pg_hba.conf",
        "local /^.*nomatch.*$, baddb, /^regex_t.*b$ all password\n",
    );
    assert!(
        load(&path)
            .check(&local("regex_testdb", "scram_role"), &e)
            .is_some()
    );
    let path = dir.write(
        "pg_hba.conf",
        "local /^.*nomatch.*$, baddb, /^regex_t.*ba$ all password\n",
    );
    assert!(
        load(&path)
            .check(&local("regex_testdb", "scram_role"), &e)
            .is_none()
    );
}

#[test]
fn group_membership_samerole_and_samegroup() {
    let dir = TempDir::new("groups");
    let roles = Catalog::new(
        &[
            "regress_regression_group",
            "regress_member",
            "regress_not_member",
        ],
        &[("regress_member", "regress_regression_group")],
    );
    let e = env(&roles);
    let db = "regress_regression_group";
    let outcome = |text: &str| -> Vec<bool> {
        let rules = load(&dir.write("pg_hba.conf", text));
        [
            "regress_regression_group",
            "regress_member",
            "regress_not_member",
        ]
        .iter()
        .map(|u| rules.check(&local(db, u), &e).is_some())
        .collect()
    };
    assert_eq!(
        outcome("local all regress_regression_group scram-sha-256\n"),
        [true, false, false]
    );
    assert_eq!(
        outcome("local all +regress_regression_group scram-sha-256\n"),
        [true, true, false]
    );
    assert_eq!(
        outcome("local samerole all scram-sha-256\n"),
        [true, true, false]
    );
    assert_eq!(
        outcome("local samegroup all scram-sha-256\n"),
        [true, true, false]
    );
    // Quoted, +name is a plain user name.
    assert_eq!(
        outcome("local all \"+regress_regression_group\" scram-sha-256\n"),
        [false, false, false]
    );
    // A missing role is nobody's group.
    assert_eq!(
        outcome("local all +nonexistent scram-sha-256\n"),
        [false, false, false]
    );
}

#[test]
fn quoted_keywords_are_literal_names() {
    let dir = TempDir::new("quoted");
    let roles = Catalog::new(&["u", "all", "sameuser"], &[]);
    let e = env(&roles);
    let rules = load(&dir.write(
        "pg_hba.conf",
        "local \"sameuser\" all reject\n\
         local all \"all\" md5\n\
         host \"all\" u \"samehost\" password\n\
         local sameuser all trust\n",
    ));
    assert_eq!(rules.check(&local("sameuser", "u"), &e).unwrap().line, 1);
    assert_eq!(rules.check(&local("x", "all"), &e).unwrap().line, 2);
    assert_eq!(rules.check(&local("u", "u"), &e).unwrap().line, 4);
    assert!(rules.check(&local("x", "u"), &e).is_none());
    // "samehost" quoted is a host name, which this resolver cannot confirm.
    assert!(
        rules
            .check(&host("127.0.0.1", false, "all", "u"), &e)
            .is_none()
    );
}

#[test]
fn include_directives_on_disk() {
    let dir = TempDir::new("include");
    dir.write("users.list", "alice\n\"bob\" # comment\n");
    dir.write("extra.conf", "local db_extra @users.list md5\n");
    dir.write(
        "conf.d/02-second.conf",
        "local db_second all scram-sha-256\n",
    );
    dir.write(
        "conf.d/01-first.conf",
        "local db_first all password\ninclude ../sub/nested.conf\n",
    );
    dir.write("conf.d/readme.txt", "not a rule\n");
    dir.write("conf.d/.hidden.conf", "garbage garbage\n");
    std::fs::create_dir_all(dir.path("conf.d/sub.conf")).unwrap();
    dir.write("sub/nested.conf", "local db_nested all trust\n");
    let main = dir.write(
        "pg_hba.conf",
        "include extra.conf\n\
         include_if_exists missing.conf\n\
         include_dir conf.d\n\
         local all all reject\n",
    );
    let rules = load(&main);
    let roles = Catalog::new(&["alice", "bob", "carol"], &[]);
    let e = env(&roles);
    let got: Vec<(String, u32, AuthMethod)> = rules
        .rules()
        .iter()
        .map(|r| (r.file.clone(), r.line, r.method))
        .collect();
    assert_eq!(
        got,
        vec![
            (dir.path("extra.conf"), 1, AuthMethod::Md5),
            (dir.path("conf.d/01-first.conf"), 1, AuthMethod::Password),
            (dir.path("sub/nested.conf"), 1, AuthMethod::Trust),
            (
                dir.path("conf.d/02-second.conf"),
                1,
                AuthMethod::ScramSha256
            ),
            (main.clone(), 4, AuthMethod::Reject),
        ]
    );
    assert_eq!(
        rules.check(&local("db_extra", "bob"), &e).unwrap().method,
        AuthMethod::Md5
    );
    assert_eq!(
        rules.check(&local("db_extra", "carol"), &e).unwrap().method,
        AuthMethod::Reject
    );
    let nested = rules.check(&local("db_nested", "carol"), &e).unwrap();
    assert_eq!(
        nested.matched_log_detail(),
        format!(
            "Connection matched file \"{}\" line 1: \"local db_nested all trust\"",
            dir.path("sub/nested.conf")
        )
    );
    assert_eq!(rules.notices().len(), 1);
    assert_eq!(
        rules.notices()[0].to_string(),
        format!(
            "skipping missing authentication file \"{}\" (line 2 of configuration file \"{main}\")",
            dir.path("missing.conf")
        )
    );

    // The view lists every rule with its own file and a global rule number.
    let rows = file_rules(&main, &FsSource, &HbaOptions::default()).unwrap();
    let numbers: Vec<_> = rows.iter().map(|r| r.rule_number).collect();
    assert_eq!(numbers, vec![Some(1), Some(2), Some(3), Some(4), Some(5)]);
    assert_eq!(
        rows[0].user_name,
        Some(vec!["alice".to_owned(), "bob".to_owned()])
    );
}

#[test]
fn a_bad_cidr_names_its_file_and_line_and_rejects_the_whole_file() {
    let dir = TempDir::new("badcidr");
    dir.write("inc.conf", "\n\nhost all all 10.0.0.0/33 md5\n");
    let main = dir.write(
        "pg_hba.conf",
        "local all all trust\n\
         host all all 192.168.0.0/16 scram-sha-256\n\
         include inc.conf\n\
         host all all 10.0.0.0/33 md5\n\
         local all all ldap\n",
    );
    let err = HbaRules::load(&main, &HbaOptions::default()).unwrap_err();
    let texts: Vec<String> = err.errors.iter().map(ToString::to_string).collect();
    assert_eq!(
        texts,
        vec![
            format!(
                "invalid CIDR mask in address \"10.0.0.0/33\" (line 3 of configuration file \"{}\")",
                dir.path("inc.conf")
            ),
            format!(
                "invalid CIDR mask in address \"10.0.0.0/33\" (line 4 of configuration file \"{main}\")"
            ),
            format!(
                "invalid authentication method \"ldap\": not supported by pgscram (line 5 of configuration file \"{main}\")"
            ),
        ]
    );
    assert_eq!(
        err.errors[1].context().unwrap(),
        format!("line 4 of configuration file \"{main}\"")
    );
}

#[test]
fn reload_keeps_the_old_rules_when_the_new_file_is_bad() {
    let dir = TempDir::new("reload");
    let path = dir.write("pg_hba.conf", "local all all scram-sha-256\n");
    let mut current = load(&path);
    let roles = Catalog::new(&["u"], &[]);
    let e = env(&roles);

    dir.write(
        "pg_hba.conf",
        "local all all trust\nlocal all all nonsense\n",
    );
    match HbaRules::load(&path, &HbaOptions::default()) {
        Ok(new) => current = new,
        Err(err) => {
            assert_eq!(err.errors.len(), 1);
            assert_eq!(err.errors[0].line, Some(2));
            assert_eq!(NOT_RELOADED, "pg_hba.conf was not reloaded");
        }
    }
    // The good line of the bad file was not taken either.
    assert_eq!(
        current.check(&local("d", "u"), &e).unwrap().method,
        AuthMethod::ScramSha256
    );

    dir.write("pg_hba.conf", "local all all trust\n");
    current = HbaRules::load(&path, &HbaOptions::default()).unwrap();
    assert_eq!(
        current.check(&local("d", "u"), &e).unwrap().method,
        AuthMethod::Trust
    );

    std::fs::remove_file(&path).unwrap();
    let err = HbaRules::load(&path, &HbaOptions::default()).unwrap_err();
    assert_eq!(
        err.errors[0].message,
        format!("could not open file \"{path}\": No such file or directory")
    );
}

#[test]
fn include_loops_fail_at_the_nesting_limit() {
    let dir = TempDir::new("loop");
    let path = dir.write("pg_hba.conf", "local all all trust\ninclude pg_hba.conf\n");
    let err = HbaRules::load(&path, &HbaOptions::default()).unwrap_err();
    assert_eq!(err.errors.len(), 1);
    assert_eq!(
        err.errors[0].message,
        format!("could not open file \"{path}\": maximum nesting depth exceeded")
    );
}

/// A name service: reverse answers by address, forward answers by name.
struct Dns {
    reverse: &'static [(&'static str, &'static str)],
    forward: &'static [(&'static str, &'static str)],
}

impl HostResolver for Dns {
    fn reverse(&self, addr: IpAddr) -> Result<String, String> {
        self.reverse
            .iter()
            .find(|(a, _)| a.parse::<IpAddr>().ok() == Some(addr))
            .map(|(_, n)| (*n).to_owned())
            .ok_or_else(|| "Name or service not known".to_owned())
    }
    fn forward(&self, name: &str) -> Result<Vec<IpAddr>, String> {
        let addrs: Vec<IpAddr> = self
            .forward
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .filter_map(|(_, a)| a.parse().ok())
            .collect();
        if addrs.is_empty() {
            Err("Name or service not known".to_owned())
        } else {
            Ok(addrs)
        }
    }
}

#[test]
fn addresses_ssl_and_host_names() {
    let dir = TempDir::new("addr");
    let path = dir.write(
        "pg_hba.conf",
        "hostnossl all all 10.0.0.0/8 reject\n\
         hostssl all all 10.0.0.0 255.0.0.0 scram-sha-256\n\
         host all all fd00::/8 md5\n\
         host all all samehost trust\n\
         host all all samenet password\n\
         hostgssenc all all all trust\n\
         host all all .example.com scram-sha-256\n\
         hostnogssenc all all db.other.org md5\n",
    );
    let rules = load(&path);
    let roles = Catalog::new(&["u"], &[]);
    let interfaces = [Interface {
        addr: "192.168.1.10".parse().unwrap(),
        netmask: "255.255.255.0".parse().unwrap(),
    }];
    const DNS: Dns = Dns {
        reverse: &[
            ("203.0.113.5", "App.Example.com"),
            ("198.51.100.1", "db.other.org"),
        ],
        forward: &[
            ("app.example.com", "203.0.113.5"),
            ("db.other.org", "198.51.100.1"),
        ],
    };
    let e = MatchEnv {
        roles: &roles,
        resolver: &DNS,
        interfaces: &interfaces,
    };
    let line = |addr: &str, ssl: bool| rules.check(&host(addr, ssl, "d", "u"), &e).map(|r| r.line);
    assert_eq!(line("10.1.2.3", false), Some(1));
    assert_eq!(line("10.1.2.3", true), Some(2));
    assert_eq!(line("fd12::1", true), Some(3));
    assert_eq!(line("192.168.1.10", false), Some(4));
    assert_eq!(line("192.168.1.99", false), Some(5));
    assert_eq!(line("203.0.113.5", true), Some(7));
    assert_eq!(line("198.51.100.1", false), Some(8));
    assert_eq!(line("::ffff:10.1.2.3", false), None);
    assert!(rules.check(&local("d", "u"), &e).is_none());

    // Whoever controls the reverse zone of 203.0.113.7 can claim app.example.com, but
    // the forward lookup of that name does not lead back: no match.
    const LIAR: Dns = Dns {
        reverse: &[("203.0.113.7", "app.example.com")],
        forward: &[("app.example.com", "203.0.113.5")],
    };
    let liar_env = MatchEnv {
        roles: &roles,
        resolver: &LIAR,
        interfaces: &[],
    };
    let req = host("203.0.113.7", true, "d", "u");
    let (rule, lookup) = rules.check_with_lookup(&req, &liar_env);
    assert!(rule.is_none());
    assert_eq!(lookup.state, LookupState::ForwardMismatch);
    assert_eq!(
        lookup.log_detail().as_deref(),
        Some("Client IP address resolved to \"app.example.com\", forward lookup does not match.")
    );
    let (_, ok) = rules.check_with_lookup(&host("203.0.113.5", true, "d", "u"), &e);
    assert_eq!(ok.state, LookupState::ForwardMatches);

    let unknown = host("203.0.113.99", false, "d", "u");
    let (rule, lookup) = rules.check_with_lookup(&unknown, &e);
    assert!(rule.is_none());
    assert_eq!(
        lookup.log_detail().as_deref(),
        Some("Could not resolve client IP address to a host name: Name or service not known.")
    );
    assert_eq!(
        no_entry_message(&unknown),
        "no pg_hba.conf entry for host \"203.0.113.99\", user \"u\", database \"d\", no encryption"
    );
    assert_eq!(
        rejects_message(&host("10.1.2.3", false, "d", "u")),
        "pg_hba.conf rejects connection for host \"10.1.2.3\", user \"u\", database \"d\", no encryption"
    );
}

#[test]
fn continuation_lines_as_postgres_tests_write_them() {
    // 001_password.pl writes "local all all\\\n $hba_method".
    let dir = TempDir::new("continuation");
    let path = dir.write("pg_hba.conf", "local all all\\\n scram-sha-256");
    let rules = load(&path);
    assert_eq!(rules.rules()[0].method, AuthMethod::ScramSha256);
    assert_eq!(rules.rules()[0].raw_line, "local all all scram-sha-256");
    assert_eq!(rules.rules()[0].line, 1);
}
