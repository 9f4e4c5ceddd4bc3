//! Finding the rule for a connection (PostgreSQL's `check_hba`), and the texts the
//! server sends or logs about the outcome.
//!
//! Everything the decision depends on beyond the rules comes in from the caller: role
//! membership ([`RoleOracle`]), name resolution ([`HostResolver`]) and the server's own
//! interface addresses ([`Interface`]). Matching itself does no I/O.

use std::net::IpAddr;

use super::parse::{AddressSpec, ConnType, HbaRule, HbaToken};

/// How the client reached the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnKind {
    /// A Unix-domain socket.
    Local,
    /// TCP from `addr`; `ssl` once TLS is established.
    Host {
        /// The client's address.
        addr: IpAddr,
        /// Whether TLS is established.
        ssl: bool,
    },
}

/// What a connection asks for.
#[derive(Debug, Clone, Copy)]
pub struct ConnRequest<'a> {
    /// How the client reached the server.
    pub kind: ConnKind,
    /// The database the client asked for.
    pub database: &'a str,
    /// The role the client asked to log in as.
    pub user: &'a str,
    /// A physical replication connection (`replication=true`): it matches only rules
    /// whose database column holds the `replication` keyword.
    pub physical_replication: bool,
}

/// Role membership, as the catalog knows it.
pub trait RoleOracle {
    /// Whether `user` is `role` or a member of it, directly or through other roles.
    /// False when either role does not exist. Superuser status does not count, as in
    /// PostgreSQL: `+group` applies to explicit members only.
    fn is_member(&self, user: &str, role: &str) -> bool;
}

/// Name resolution for host-name rules. The server supplies one backed by the system
/// resolver; tests supply a table.
pub trait HostResolver {
    /// The name of `addr` (reverse lookup), or the resolver's error text.
    fn reverse(&self, addr: IpAddr) -> Result<String, String>;
    /// The addresses of `name` (forward lookup), or the resolver's error text.
    fn forward(&self, name: &str) -> Result<Vec<IpAddr>, String>;
}

/// A resolver that knows no names: host-name rules then never match.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoResolver;

impl HostResolver for NoResolver {
    fn reverse(&self, _addr: IpAddr) -> Result<String, String> {
        Err("Name or service not known".to_owned())
    }
    fn forward(&self, _name: &str) -> Result<Vec<IpAddr>, String> {
        Err("Name or service not known".to_owned())
    }
}

/// One address of the server's own network interfaces (for `samehost`, `samenet`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Interface {
    /// The interface's address.
    pub addr: IpAddr,
    /// Its netmask, for `samenet`.
    pub netmask: IpAddr,
}

/// Everything besides the rules that matching consults.
#[derive(Clone, Copy)]
pub struct MatchEnv<'a> {
    /// Role membership, for `+role`, `samerole` and `samegroup`.
    pub roles: &'a dyn RoleOracle,
    /// Name resolution, for host-name rules.
    pub resolver: &'a dyn HostResolver,
    /// The server's own addresses, for `samehost` and `samenet`.
    pub interfaces: &'a [Interface],
}

/// What the host-name lookups of one match found, for the log detail PostgreSQL
/// attaches to `no pg_hba.conf entry`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostnameLookup {
    /// The client's name, once the reverse lookup succeeded.
    pub remote_hostname: Option<String>,
    /// How far the check of the client's name got.
    pub state: LookupState,
}

/// The outcome of PostgreSQL's double (reverse, then forward) host-name check.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum LookupState {
    /// No host-name rule needed a lookup, or the forward check was not reached.
    #[default]
    NotChecked,
    /// The forward lookup of the client's name included its address.
    ForwardMatches,
    /// The forward lookup did not include the client's address.
    ForwardMismatch,
    /// A lookup failed, with the resolver's error text.
    Failed(String),
}

impl HostnameLookup {
    /// PostgreSQL's log-only DETAIL line for a failed match, if any lookup happened.
    pub fn log_detail(&self) -> Option<String> {
        match (&self.remote_hostname, &self.state) {
            (Some(name), LookupState::ForwardMatches) => Some(format!(
                "Client IP address resolved to \"{name}\", forward lookup matches."
            )),
            (Some(name), LookupState::NotChecked) => Some(format!(
                "Client IP address resolved to \"{name}\", forward lookup not checked."
            )),
            (Some(name), LookupState::ForwardMismatch) => Some(format!(
                "Client IP address resolved to \"{name}\", forward lookup does not match."
            )),
            (Some(name), LookupState::Failed(e)) => Some(format!(
                "Could not translate client host name \"{name}\" to IP address: {e}."
            )),
            (None, LookupState::Failed(e)) => Some(format!(
                "Could not resolve client IP address to a host name: {e}."
            )),
            (None, _) => None,
        }
    }
}

/// Finds the first rule that matches `req`; `None` means PostgreSQL's implicit reject.
pub(crate) fn find<'r>(
    rules: &'r [HbaRule],
    req: &ConnRequest<'_>,
    env: &MatchEnv<'_>,
    lookup: &mut HostnameLookup,
) -> Option<&'r HbaRule> {
    rules
        .iter()
        .find(|rule| rule_matches(rule, req, env, lookup))
}

fn rule_matches(
    rule: &HbaRule,
    req: &ConnRequest<'_>,
    env: &MatchEnv<'_>,
    lookup: &mut HostnameLookup,
) -> bool {
    match req.kind {
        ConnKind::Local => {
            if rule.conn_type != ConnType::Local {
                return false;
            }
        }
        ConnKind::Host { addr, ssl } => {
            match rule.conn_type {
                ConnType::Local => return false,
                ConnType::HostSsl if !ssl => return false,
                ConnType::HostNoSsl if ssl => return false,
                // pgscram has no GSSAPI encryption: no connection is GSS-encrypted.
                ConnType::HostGssEnc => return false,
                _ => {}
            }
            let address_ok = match &rule.address {
                Some(AddressSpec::All) | None => true,
                Some(AddressSpec::Net { addr: net, mask }) => in_network(addr, *net, *mask),
                Some(AddressSpec::Hostname(pattern)) => {
                    check_hostname(addr, pattern, env.resolver, lookup)
                }
                Some(AddressSpec::SameHost) => env
                    .interfaces
                    .iter()
                    .any(|i| in_network(addr, i.addr, full_mask(i.addr))),
                Some(AddressSpec::SameNet) => env
                    .interfaces
                    .iter()
                    .any(|i| in_network(addr, i.addr, i.netmask)),
            };
            if !address_ok {
                return false;
            }
        }
    }
    check_db(&rule.databases, req, env) && check_user(&rule.users, req.user, env)
}

fn check_db(tokens: &[HbaToken], req: &ConnRequest<'_>, env: &MatchEnv<'_>) -> bool {
    tokens.iter().any(|tok| {
        if req.physical_replication {
            tok.is_keyword("replication")
        } else if tok.is_keyword("all") {
            true
        } else if tok.is_keyword("sameuser") {
            req.database == req.user
        } else if tok.is_keyword("samerole") || tok.is_keyword("samegroup") {
            env.roles.is_member(req.user, req.database)
        } else if tok.is_keyword("replication") {
            false
        } else if let Some(re) = tok.regex() {
            re.is_match(req.database)
        } else {
            tok.text() == req.database
        }
    })
}

fn check_user(tokens: &[HbaToken], user: &str, env: &MatchEnv<'_>) -> bool {
    tokens.iter().any(|tok| {
        if let Some(role) = tok.member_of() {
            env.roles.is_member(user, role)
        } else if tok.is_keyword("all") {
            true
        } else if let Some(re) = tok.regex() {
            re.is_match(user)
        } else {
            tok.text() == user
        }
    })
}

/// Same family and equal under the mask. An IPv4 client seen as `::ffff:a.b.c.d` does
/// not match an IPv4 rule, as in PostgreSQL; the listener decides how it reports them.
fn in_network(client: IpAddr, net: IpAddr, mask: IpAddr) -> bool {
    match (client, net, mask) {
        (IpAddr::V4(c), IpAddr::V4(n), IpAddr::V4(m)) => {
            (u32::from(c) ^ u32::from(n)) & u32::from(m) == 0
        }
        (IpAddr::V6(c), IpAddr::V6(n), IpAddr::V6(m)) => {
            (u128::from(c) ^ u128::from(n)) & u128::from(m) == 0
        }
        _ => false,
    }
}

fn full_mask(addr: IpAddr) -> IpAddr {
    match addr {
        IpAddr::V4(_) => IpAddr::V4(u32::MAX.into()),
        IpAddr::V6(_) => IpAddr::V6(u128::MAX.into()),
    }
}

/// Case-insensitive name match; a pattern starting with `.` matches a suffix.
fn hostname_match(pattern: &str, actual: &str) -> bool {
    if pattern.starts_with('.') {
        actual.len() >= pattern.len()
            && actual.is_char_boundary(actual.len() - pattern.len())
            && actual[actual.len() - pattern.len()..].eq_ignore_ascii_case(pattern)
    } else {
        actual.eq_ignore_ascii_case(pattern)
    }
}

/// PostgreSQL's `check_hostname`: reverse-resolve the client once, compare the name,
/// then confirm with a forward lookup that the name really maps back to the client.
/// Results are remembered across rules of the same match.
fn check_hostname(
    client: IpAddr,
    pattern: &str,
    resolver: &dyn HostResolver,
    lookup: &mut HostnameLookup,
) -> bool {
    if matches!(
        lookup.state,
        LookupState::ForwardMismatch | LookupState::Failed(_)
    ) {
        return false;
    }
    let name = match &lookup.remote_hostname {
        Some(name) => name.clone(),
        None => match resolver.reverse(client) {
            Ok(name) => {
                lookup.remote_hostname = Some(name.clone());
                name
            }
            Err(e) => {
                lookup.state = LookupState::Failed(e);
                return false;
            }
        },
    };
    if !hostname_match(pattern, &name) {
        return false;
    }
    if lookup.state == LookupState::ForwardMatches {
        return true;
    }
    match resolver.forward(&name) {
        Ok(addrs) => {
            let found = addrs.contains(&client);
            lookup.state = if found {
                LookupState::ForwardMatches
            } else {
                LookupState::ForwardMismatch
            };
            found
        }
        Err(e) => {
            lookup.state = LookupState::Failed(e);
            false
        }
    }
}

fn host_and_encryption(kind: ConnKind) -> (String, &'static str) {
    match kind {
        ConnKind::Local => ("[local]".to_owned(), "no encryption"),
        ConnKind::Host { addr, ssl } => (
            addr.to_string(),
            if ssl {
                "SSL encryption"
            } else {
                "no encryption"
            },
        ),
    }
}

/// SQLSTATE of both messages below: `invalid_authorization_specification`.
pub const HBA_SQLSTATE: &str = "28000";

/// The FATAL message when no rule matched (SQLSTATE 28000).
pub fn no_entry_message(req: &ConnRequest<'_>) -> String {
    let (host, enc) = host_and_encryption(req.kind);
    if req.physical_replication {
        format!(
            "no pg_hba.conf entry for replication connection from host \"{host}\", user \"{}\", {enc}",
            req.user
        )
    } else {
        format!(
            "no pg_hba.conf entry for host \"{host}\", user \"{}\", database \"{}\", {enc}",
            req.user, req.database
        )
    }
}

/// The FATAL message when the matching rule's method is `reject` (SQLSTATE 28000).
pub fn rejects_message(req: &ConnRequest<'_>) -> String {
    let (host, enc) = host_and_encryption(req.kind);
    if req.physical_replication {
        format!(
            "pg_hba.conf rejects replication connection for host \"{host}\", user \"{}\", {enc}",
            req.user
        )
    } else {
        format!(
            "pg_hba.conf rejects connection for host \"{host}\", user \"{}\", database \"{}\", {enc}",
            req.user, req.database
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn network_math() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert!(in_network(ip("10.1.2.3"), ip("10.0.0.0"), ip("255.0.0.0")));
        assert!(!in_network(ip("11.1.2.3"), ip("10.0.0.0"), ip("255.0.0.0")));
        assert!(in_network(ip("11.1.2.3"), ip("10.0.0.0"), ip("0.0.0.0")));
        assert!(in_network(ip("fe80::5"), ip("fe80::"), ip("ffff::")));
        assert!(!in_network(
            ip("::ffff:10.0.0.1"),
            ip("10.0.0.0"),
            ip("255.0.0.0")
        ));
        assert!(!in_network(ip("10.0.0.1"), ip("::"), ip("::")));
    }

    #[test]
    fn hostname_patterns() {
        assert!(hostname_match("db.Example.com", "DB.example.COM"));
        assert!(hostname_match(".example.com", "a.b.example.com"));
        assert!(!hostname_match(".example.com", "example.com"));
        assert!(!hostname_match("example.com", "a.example.com"));
        assert!(!hostname_match(".é.com", "x.com"));
    }

    #[test]
    fn messages() {
        let req = ConnRequest {
            kind: ConnKind::Host {
                addr: "192.0.2.7".parse().unwrap(),
                ssl: true,
            },
            database: "d",
            user: "u",
            physical_replication: false,
        };
        assert_eq!(
            no_entry_message(&req),
            "no pg_hba.conf entry for host \"192.0.2.7\", user \"u\", database \"d\", SSL encryption"
        );
        assert_eq!(
            rejects_message(&req),
            "pg_hba.conf rejects connection for host \"192.0.2.7\", user \"u\", database \"d\", SSL encryption"
        );
        let local = ConnRequest {
            kind: ConnKind::Local,
            ..req
        };
        assert_eq!(
            no_entry_message(&local),
            "no pg_hba.conf entry for host \"[local]\", user \"u\", database \"d\", no encryption"
        );
        let repl = ConnRequest {
            physical_replication: true,
            ..local
        };
        assert_eq!(
            no_entry_message(&repl),
            "no pg_hba.conf entry for replication connection from host \"[local]\", user \"u\", no encryption"
        );
        assert_eq!(
            rejects_message(&repl),
            "pg_hba.conf rejects replication connection for host \"[local]\", user \"u\", no encryption"
        );
        let v6 = ConnRequest {
            kind: ConnKind::Host {
                addr: "::1".parse().unwrap(),
                ssl: false,
            },
            ..req
        };
        assert_eq!(
            rejects_message(&v6),
            "pg_hba.conf rejects connection for host \"::1\", user \"u\", database \"d\", no encryption"
        );
    }

    #[test]
    fn lookup_details() {
        let mut l = HostnameLookup::default();
        assert_eq!(l.log_detail(), None);
        l.state = LookupState::Failed("Name or service not known".into());
        assert_eq!(
            l.log_detail().unwrap(),
            "Could not resolve client IP address to a host name: Name or service not known."
        );
        l.remote_hostname = Some("h".into());
        l.state = LookupState::ForwardMismatch;
        assert_eq!(
            l.log_detail().unwrap(),
            "Client IP address resolved to \"h\", forward lookup does not match."
        );
    }
}
