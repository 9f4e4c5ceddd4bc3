//! One tokenized pg_hba.conf line to one [`HbaRule`], with PostgreSQL 16's checks and
//! error texts (`parse_hba_line` and `parse_hba_auth_opt` in hba.c).

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use regex::{Regex, RegexBuilder};

use super::token::{Token, TokenizedLine};

/// The first column of a rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnType {
    /// `local`: Unix-domain socket connections.
    Local,
    /// `host`: TCP, with or without TLS.
    Host,
    /// `hostssl`: TCP with TLS.
    HostSsl,
    /// `hostnossl`: TCP without TLS.
    HostNoSsl,
    /// `hostgssenc`: TCP with GSSAPI encryption, which pgscram lacks: never matches.
    HostGssEnc,
    /// `hostnogssenc`: TCP without GSSAPI encryption, so every TCP connection here.
    HostNoGssEnc,
}

impl ConnType {
    /// The keyword as written in pg_hba.conf.
    pub fn as_str(self) -> &'static str {
        match self {
            ConnType::Local => "local",
            ConnType::Host => "host",
            ConnType::HostSsl => "hostssl",
            ConnType::HostNoSsl => "hostnossl",
            ConnType::HostGssEnc => "hostgssenc",
            ConnType::HostNoGssEnc => "hostnogssenc",
        }
    }
}

/// The authentication methods pgscram implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMethod {
    /// `trust`: no authentication.
    Trust,
    /// `reject`: refuse the connection.
    Reject,
    /// `scram-sha-256`.
    ScramSha256,
    /// `md5`: like PostgreSQL, the server uses SCRAM for a role with a SCRAM secret.
    Md5,
    /// `password`: cleartext over the wire.
    Password,
}

impl AuthMethod {
    /// The name pg_hba.conf and the logs use.
    pub fn as_str(self) -> &'static str {
        match self {
            AuthMethod::Trust => "trust",
            AuthMethod::Reject => "reject",
            AuthMethod::ScramSha256 => "scram-sha-256",
            AuthMethod::Md5 => "md5",
            AuthMethod::Password => "password",
        }
    }
}

impl fmt::Display for AuthMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `clientcert=`: a client certificate is required in addition to the method.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientCert {
    /// The certificate must chain to a trusted root.
    VerifyCa,
    /// As `VerifyCa`, and its name (see [`ClientName`]) must equal the user name.
    VerifyFull,
}

/// `clientname=`: which part of the certificate `verify-full` compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientName {
    /// `CN`: the subject's Common Name (PostgreSQL's default).
    Cn,
    /// `DN`: the whole subject Distinguished Name.
    Dn,
}

/// A database or user name from a rule: a keyword, a literal name, a `+role`
/// membership check or a `/regex`.
#[derive(Debug, Clone)]
pub struct HbaToken {
    text: String,
    quoted: bool,
    regex: Option<Regex>,
}

impl HbaToken {
    /// The token as written, without quotes (a regex keeps its leading `/`).
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Whether the token started with a double quote (then it is never a keyword).
    pub fn quoted(&self) -> bool {
        self.quoted
    }

    /// Whether the token is a `/regex` (compiled when the file was parsed).
    pub fn is_regex(&self) -> bool {
        self.regex.is_some()
    }

    pub(crate) fn is_keyword(&self, keyword: &str) -> bool {
        !self.quoted && self.text == keyword
    }

    /// `+role`, unquoted: a membership check (user names only).
    pub(crate) fn member_of(&self) -> Option<&str> {
        if self.quoted {
            None
        } else {
            self.text.strip_prefix('+')
        }
    }

    pub(crate) fn regex(&self) -> Option<&Regex> {
        self.regex.as_ref()
    }
}

/// The address column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AddressSpec {
    /// `all`: any address.
    All,
    /// `samehost`: any of the server's own addresses.
    SameHost,
    /// `samenet`: any address on a subnet the server is directly connected to.
    SameNet,
    /// An address and a mask (from CIDR notation or a separate mask column).
    Net {
        /// The network address.
        addr: IpAddr,
        /// The netmask, of the same address family.
        mask: IpAddr,
    },
    /// A host name, or a `.suffix` that matches the end of one.
    Hostname(String),
}

/// One parsed rule, with where it came from.
#[derive(Debug, Clone)]
pub struct HbaRule {
    /// The connection type column.
    pub conn_type: ConnType,
    /// The database column, `@file` references expanded.
    pub databases: Vec<HbaToken>,
    /// The user column, `@file` references expanded.
    pub users: Vec<HbaToken>,
    /// `None` for `local` rules.
    pub address: Option<AddressSpec>,
    /// The authentication method.
    pub method: AuthMethod,
    /// The `clientcert=` option, if given.
    pub clientcert: Option<ClientCert>,
    /// The `clientname=` option, if given.
    pub clientname: Option<ClientName>,
    /// The file that holds the rule (an included file for included rules).
    pub file: String,
    /// The 1-based line number in `file`.
    pub line: u32,
    /// The line as written (continuations joined), for the log.
    pub raw_line: String,
    /// A problem that does not reject the file but means the rule can never match,
    /// such as a `hostssl` rule while TLS is off (shown in the rules view).
    pub warning: Option<String>,
}

/// Settings of the server that change how rules are read.
#[derive(Debug, Clone, Copy)]
pub struct HbaOptions {
    /// Whether the server accepts TLS; `hostssl` rules can match only if it does.
    pub ssl_enabled: bool,
}

impl Default for HbaOptions {
    fn default() -> Self {
        HbaOptions { ssl_enabled: true }
    }
}

/// Methods PostgreSQL knows but pgscram does not implement.
const UNSUPPORTED_METHODS: &[&str] = &[
    "gss", "sspi", "ident", "peer", "ldap", "radius", "cert", "pam", "bsd", "oauth",
];

/// Options that belong to those methods, with the method list PostgreSQL names when
/// they appear on a rule of another method.
const FOREIGN_OPTIONS: &[(&str, &str)] = &[
    ("map", "ident, peer, gssapi, sspi, and cert"),
    ("pamservice", "pam"),
    ("pam_use_hostname", "pam"),
    ("ldapurl", "ldap"),
    ("ldaptls", "ldap"),
    ("ldapscheme", "ldap"),
    ("ldapserver", "ldap"),
    ("ldapport", "ldap"),
    ("ldapbinddn", "ldap"),
    ("ldapbindpasswd", "ldap"),
    ("ldapsearchattribute", "ldap"),
    ("ldapsearchfilter", "ldap"),
    ("ldapbasedn", "ldap"),
    ("ldapprefix", "ldap"),
    ("ldapsuffix", "ldap"),
    ("krb_realm", "gssapi and sspi"),
    ("include_realm", "gssapi and sspi"),
    ("compat_realm", "sspi"),
    ("upn_username", "sspi"),
    ("radiusservers", "radius"),
    ("radiusports", "radius"),
    ("radiussecrets", "radius"),
    ("radiusidentifiers", "radius"),
    ("issuer", "oauth"),
    ("scope", "oauth"),
    ("validator", "oauth"),
    ("delegate_ident_mapping", "oauth"),
];

/// Compiled-size cap for a rule's regex: a pg_hba.conf pattern has no business being
/// large, and the cap bounds the memory one line can take.
///
/// Fuzzing builds use a smaller cap: compile time grows with it, and the fuzzer soon
/// learns that repetitions (`/a{1000}{1000}`) yield new coverage inside the regex
/// compiler, until such inputs take most of each run. Both outcomes, compiled and "too
/// complex", stay reachable.
const REGEX_SIZE_LIMIT: usize = if cfg!(fuzzing) { 1 << 14 } else { 1 << 20 };

/// Parses one tokenized line (which must have no tokenizing error).
pub(crate) fn parse_line(line: &TokenizedLine, opts: &HbaOptions) -> Result<HbaRule, String> {
    let mut fields = line.fields.iter();
    let Some(type_field) = fields.next() else {
        return Err("end-of-line before connection type".to_owned());
    };
    if type_field.len() > 1 {
        return Err("multiple values specified for connection type".to_owned());
    }
    let mut warning = None;
    let conn_type = match type_field[0].text.as_str() {
        "local" => ConnType::Local,
        "host" => ConnType::Host,
        "hostssl" => {
            if !opts.ssl_enabled {
                warning = Some("hostssl record cannot match because SSL is disabled".to_owned());
            }
            ConnType::HostSsl
        }
        "hostnossl" => ConnType::HostNoSsl,
        "hostgssenc" => {
            warning = Some(
                "hostgssenc record cannot match because GSSAPI is not supported by this build"
                    .to_owned(),
            );
            ConnType::HostGssEnc
        }
        "hostnogssenc" => ConnType::HostNoGssEnc,
        other => return Err(format!("invalid connection type \"{other}\"")),
    };

    let Some(db_field) = fields.next() else {
        return Err("end-of-line before database specification".to_owned());
    };
    let databases = db_field
        .iter()
        .map(compile_token)
        .collect::<Result<Vec<_>, _>>()?;

    let Some(user_field) = fields.next() else {
        return Err("end-of-line before role specification".to_owned());
    };
    let users = user_field
        .iter()
        .map(compile_token)
        .collect::<Result<Vec<_>, _>>()?;

    let address = if conn_type == ConnType::Local {
        None
    } else {
        Some(parse_address(&mut fields)?)
    };

    let Some(method_field) = fields.next() else {
        return Err("end-of-line before authentication method".to_owned());
    };
    if method_field.len() > 1 {
        return Err("multiple values specified for authentication type".to_owned());
    }
    let method = match method_field[0].text.as_str() {
        "trust" => AuthMethod::Trust,
        "reject" => AuthMethod::Reject,
        "scram-sha-256" => AuthMethod::ScramSha256,
        "md5" => AuthMethod::Md5,
        "password" => AuthMethod::Password,
        other if UNSUPPORTED_METHODS.contains(&other) => {
            return Err(format!(
                "invalid authentication method \"{other}\": not supported by pgscram"
            ));
        }
        other => return Err(format!("invalid authentication method \"{other}\"")),
    };

    let mut rule = HbaRule {
        conn_type,
        databases,
        users,
        address,
        method,
        clientcert: None,
        clientname: None,
        file: line.file.clone(),
        line: line.line,
        raw_line: line.raw.clone(),
        warning,
    };
    for token in fields.flatten() {
        let Some((name, value)) = token.text.split_once('=') else {
            return Err(format!(
                "authentication option not in name=value format: {}",
                token.text
            ));
        };
        parse_option(&mut rule, name, value)?;
    }
    Ok(rule)
}

fn parse_option(rule: &mut HbaRule, name: &str, value: &str) -> Result<(), String> {
    match name {
        "clientcert" => {
            if rule.conn_type != ConnType::HostSsl {
                return Err("clientcert can only be configured for \"hostssl\" rows".to_owned());
            }
            rule.clientcert = Some(match value {
                "verify-full" => ClientCert::VerifyFull,
                "verify-ca" => ClientCert::VerifyCa,
                // PostgreSQL logs this one but leaves the view's error column empty;
                // we report it like every other error.
                _ => return Err(format!("invalid value for clientcert: \"{value}\"")),
            });
        }
        "clientname" => {
            if rule.conn_type != ConnType::HostSsl {
                return Err("clientname can only be configured for \"hostssl\" rows".to_owned());
            }
            rule.clientname = Some(match value {
                "CN" => ClientName::Cn,
                "DN" => ClientName::Dn,
                _ => return Err(format!("invalid value for clientname: \"{value}\"")),
            });
        }
        _ => {
            return Err(match FOREIGN_OPTIONS.iter().find(|(n, _)| *n == name) {
                Some((n, methods)) => {
                    format!(
                        "authentication option \"{n}\" is only valid for authentication methods {methods}"
                    )
                }
                None => format!("unrecognized authentication option name: \"{name}\""),
            });
        }
    }
    Ok(())
}

/// A database or user token; `/...` compiles as a regular expression (PostgreSQL
/// compiles it whether or not it was quoted, so that a regex may contain commas).
///
/// The `regex` crate's syntax stands in for PostgreSQL's ARE syntax: the common forms
/// (`^`, `$`, classes, repetition, groups, alternation) behave the same; back-references
/// are not available.
fn compile_token(token: &Token) -> Result<HbaToken, String> {
    let regex = match token.text.strip_prefix('/') {
        Some(pattern) => Some(
            RegexBuilder::new(pattern)
                .size_limit(REGEX_SIZE_LIMIT)
                .build()
                .map_err(|e| {
                    format!(
                        "invalid regular expression \"{pattern}\": {}",
                        regex_error_text(&e)
                    )
                })?,
        ),
        None => None,
    };
    Ok(HbaToken {
        text: token.text.clone(),
        quoted: token.quoted,
        regex,
    })
}

/// The regex crate's multi-line diagnostic, reduced to its one-line summary.
fn regex_error_text(e: &regex::Error) -> String {
    match e {
        regex::Error::Syntax(text) => text
            .lines()
            .rev()
            .find_map(|l| l.trim().strip_prefix("error: "))
            .unwrap_or(text.trim())
            .to_owned(),
        regex::Error::CompiledTooBig(_) => "regular expression is too complex".to_owned(),
        _ => e.to_string(),
    }
}

fn parse_address<'a>(
    fields: &mut impl Iterator<Item = &'a Vec<Token>>,
) -> Result<AddressSpec, String> {
    let Some(field) = fields.next() else {
        return Err("end-of-line before IP address specification".to_owned());
    };
    if field.len() > 1 {
        return Err("multiple values specified for host address".to_owned());
    }
    let token = &field[0];
    if !token.quoted {
        match token.text.as_str() {
            "all" => return Ok(AddressSpec::All),
            "samehost" => return Ok(AddressSpec::SameHost),
            "samenet" => return Ok(AddressSpec::SameNet),
            _ => {}
        }
    }
    let (host, cidr) = match token.text.split_once('/') {
        Some((h, bits)) => (h, Some(bits)),
        None => (token.text.as_str(), None),
    };
    let addr = parse_numeric_host(host);
    match (addr, cidr) {
        (None, Some(_)) => Err(format!(
            "specifying both host name and CIDR mask is invalid: \"{}\"",
            token.text
        )),
        (None, None) => Ok(AddressSpec::Hostname(host.to_owned())),
        (Some(addr), Some(bits)) => match cidr_mask(bits, addr) {
            Some(mask) => Ok(AddressSpec::Net { addr, mask }),
            None => Err(format!("invalid CIDR mask in address \"{}\"", token.text)),
        },
        (Some(addr), None) => {
            let Some(mask_field) = fields.next() else {
                return Err("end-of-line before netmask specification".to_owned());
            };
            if mask_field.len() > 1 {
                return Err("multiple values specified for netmask".to_owned());
            }
            let text = &mask_field[0].text;
            let Some(mask) = parse_numeric_host(text) else {
                return Err(format!(
                    "invalid IP mask \"{text}\": Name or service not known"
                ));
            };
            if addr.is_ipv4() != mask.is_ipv4() {
                return Err("IP address and mask do not match".to_owned());
            }
            Ok(AddressSpec::Net { addr, mask })
        }
    }
}

/// A numeric address as `getaddrinfo(AI_NUMERICHOST)` reads it: IPv6, or IPv4 in any
/// `inet_aton` form (`10.1` is 10.0.0.1, `0x0a.0.0.1` and `012.0.0.1` are 10.0.0.1).
pub(crate) fn parse_numeric_host(text: &str) -> Option<IpAddr> {
    if text.contains(':') {
        return text.parse::<Ipv6Addr>().ok().map(IpAddr::V6);
    }
    parse_inet_aton(text).map(IpAddr::V4)
}

fn parse_inet_aton(text: &str) -> Option<Ipv4Addr> {
    let parts: Vec<&str> = text.split('.').collect();
    if parts.is_empty() || parts.len() > 4 {
        return None;
    }
    let mut values = Vec::with_capacity(parts.len());
    for part in &parts {
        values.push(parse_c_integer(part)?);
    }
    let (last, head) = values.split_last()?;
    let mut value: u64 = 0;
    for &v in head {
        if v > 0xff {
            return None;
        }
        value = (value << 8) | v;
    }
    let rest_bits = 8 * (4 - head.len() as u32);
    if rest_bits < 64 && *last >= (1u64 << rest_bits) {
        return None;
    }
    value = (value << rest_bits) | last;
    u32::try_from(value).ok().map(Ipv4Addr::from)
}

/// A non-negative C integer literal: `0x` hex, leading-zero octal, or decimal.
fn parse_c_integer(text: &str) -> Option<u64> {
    let (digits, radix) =
        if let Some(hex) = text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
            (hex, 16)
        } else if text.len() > 1 && text.starts_with('0') {
            (&text[1..], 8)
        } else {
            (text, 10)
        };
    if digits.is_empty() && radix != 16 {
        return None;
    }
    if digits.is_empty() {
        return Some(0);
    }
    if !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    u64::from_str_radix(digits, radix)
        .ok()
        .filter(|v| *v <= u64::from(u32::MAX))
}

/// The mask of a CIDR suffix, read like `strtol`: leading blanks and a sign are
/// allowed, nothing may follow the digits, and the value must fit the family.
fn cidr_mask(bits: &str, addr: IpAddr) -> Option<IpAddr> {
    let trimmed = bits.trim_start_matches([' ', '\t', '\n', '\r', '\x0b', '\x0c']);
    let (negative, digits) = match trimmed.as_bytes().first() {
        Some(b'-') => (true, &trimmed[1..]),
        Some(b'+') => (false, &trimmed[1..]),
        _ => (false, trimmed),
    };
    if digits.is_empty() || !digits.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let n: u32 = digits.parse().ok()?;
    if negative && n != 0 {
        return None;
    }
    Some(match addr {
        IpAddr::V4(_) if n <= 32 => {
            IpAddr::V4(Ipv4Addr::from(u32::MAX.checked_shl(32 - n).unwrap_or(0)))
        }
        IpAddr::V6(_) if n <= 128 => {
            IpAddr::V6(Ipv6Addr::from(u128::MAX.checked_shl(128 - n).unwrap_or(0)))
        }
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::super::source::MemorySource;
    use super::super::token::Tokenizer;
    use super::*;

    fn parse_with(text: &str, opts: &HbaOptions) -> Result<HbaRule, String> {
        let src = MemorySource::new();
        let mut t = Tokenizer::new(&src);
        let mut lines = Vec::new();
        t.tokenize("/d/pg_hba.conf", text, &mut lines, 0);
        assert_eq!(lines.len(), 1, "{text}");
        parse_line(&lines[0], opts)
    }

    fn parse(text: &str) -> Result<HbaRule, String> {
        parse_with(text, &HbaOptions::default())
    }

    fn addr(text: &str) -> Result<AddressSpec, String> {
        parse(&format!("host all all {text} trust")).map(|r| r.address.unwrap())
    }

    fn net(addr: &str, mask: &str) -> AddressSpec {
        AddressSpec::Net {
            addr: addr.parse().unwrap(),
            mask: mask.parse().unwrap(),
        }
    }

    #[test]
    fn parses_a_host_rule_with_cidr_and_options() {
        let r = parse("hostssl db1,db2 +admins 10.1.0.0/16 scram-sha-256 clientcert=verify-full clientname=DN")
            .unwrap();
        assert_eq!(r.conn_type, ConnType::HostSsl);
        assert_eq!(r.databases.len(), 2);
        assert_eq!(r.users[0].member_of(), Some("admins"));
        assert_eq!(r.address, Some(net("10.1.0.0", "255.255.0.0")));
        assert_eq!(r.method, AuthMethod::ScramSha256);
        assert_eq!(r.clientcert, Some(ClientCert::VerifyFull));
        assert_eq!(r.clientname, Some(ClientName::Dn));
        assert_eq!((r.file.as_str(), r.line), ("/d/pg_hba.conf", 1));
        let quoted = parse("local all \"+admins\" trust").unwrap();
        assert_eq!(quoted.users[0].member_of(), None);
    }

    #[test]
    fn address_forms() {
        assert_eq!(addr("all"), Ok(AddressSpec::All));
        assert_eq!(addr("samehost"), Ok(AddressSpec::SameHost));
        assert_eq!(addr("samenet"), Ok(AddressSpec::SameNet));
        assert_eq!(
            addr("\"samehost\""),
            Ok(AddressSpec::Hostname("samehost".into()))
        );
        assert_eq!(
            addr(".example.com"),
            Ok(AddressSpec::Hostname(".example.com".into()))
        );
        assert_eq!(
            addr("::1/128"),
            Ok(net("::1", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"))
        );
        assert_eq!(
            addr("192.168.1.0 255.255.255.0"),
            Ok(net("192.168.1.0", "255.255.255.0"))
        );
        assert_eq!(addr("10.0.0.0/0"), Ok(net("10.0.0.0", "0.0.0.0")));
        assert_eq!(addr("10.0.0.0/+8"), Ok(net("10.0.0.0", "255.0.0.0")));
        assert_eq!(
            addr("10.0.0.0/33"),
            Err("invalid CIDR mask in address \"10.0.0.0/33\"".into())
        );
        assert_eq!(
            addr("10.0.0.0/"),
            Err("invalid CIDR mask in address \"10.0.0.0/\"".into())
        );
        assert_eq!(
            addr("10.0.0.0/8x"),
            Err("invalid CIDR mask in address \"10.0.0.0/8x\"".into())
        );
        assert_eq!(
            addr("10.0.0.0/-1"),
            Err("invalid CIDR mask in address \"10.0.0.0/-1\"".into())
        );
        assert_eq!(
            addr("::/129"),
            Err("invalid CIDR mask in address \"::/129\"".into())
        );
        assert_eq!(
            addr("db.example/24"),
            Err("specifying both host name and CIDR mask is invalid: \"db.example/24\"".into())
        );
        assert_eq!(
            parse("host all all 10.0.0.1").unwrap_err(),
            "end-of-line before netmask specification"
        );
        assert_eq!(
            addr("10.0.0.1 ffff::"),
            Err("IP address and mask do not match".into())
        );
        assert_eq!(
            addr("10.0.0.1 bogus"),
            Err("invalid IP mask \"bogus\": Name or service not known".into())
        );
        assert_eq!(
            parse("host all all 10.0.0.1 255.0.0.0,255.0.0.0 md5").unwrap_err(),
            "multiple values specified for netmask"
        );
    }

    #[test]
    fn inet_aton_forms_are_addresses() {
        assert_eq!(
            parse_numeric_host("10.1"),
            Some("10.0.0.1".parse().unwrap())
        );
        assert_eq!(
            parse_numeric_host("0x0a.0.0.1"),
            Some("10.0.0.1".parse().unwrap())
        );
        assert_eq!(
            parse_numeric_host("012.0.0.1"),
            Some("10.0.0.1".parse().unwrap())
        );
        assert_eq!(
            parse_numeric_host("167772161"),
            Some("10.0.0.1".parse().unwrap())
        );
        assert_eq!(parse_numeric_host("1.2.3.256"), None);
        assert_eq!(parse_numeric_host("1.2.3.4.5"), None);
        assert_eq!(parse_numeric_host("1.2.3.4."), None);
        assert_eq!(parse_numeric_host("09.1.1.1"), None);
        assert_eq!(parse_numeric_host("4294967296"), None);
        assert_eq!(parse_numeric_host("host.example"), None);
        assert_eq!(parse_numeric_host(""), None);
        assert_eq!(
            parse_numeric_host("fe80::1"),
            Some("fe80::1".parse().unwrap())
        );
    }

    #[test]
    fn methods_supported_unsupported_and_unknown() {
        let m = |name: &str| parse(&format!("local all all {name}")).map(|r| r.method);
        assert_eq!(m("trust"), Ok(AuthMethod::Trust));
        assert_eq!(m("reject"), Ok(AuthMethod::Reject));
        assert_eq!(m("md5"), Ok(AuthMethod::Md5));
        assert_eq!(m("password"), Ok(AuthMethod::Password));
        assert_eq!(m("scram-sha-256"), Ok(AuthMethod::ScramSha256));
        for name in UNSUPPORTED_METHODS {
            assert_eq!(
                m(name),
                Err(format!(
                    "invalid authentication method \"{name}\": not supported by pgscram"
                ))
            );
        }
        assert_eq!(m("x"), Err("invalid authentication method \"x\"".into()));
        assert_eq!(
            m("SCRAM-SHA-256"),
            Err("invalid authentication method \"SCRAM-SHA-256\"".into())
        );
    }

    #[test]
    fn missing_fields_name_what_is_missing() {
        assert_eq!(
            parse("local").unwrap_err(),
            "end-of-line before database specification"
        );
        assert_eq!(
            parse("local all").unwrap_err(),
            "end-of-line before role specification"
        );
        assert_eq!(
            parse("local all all").unwrap_err(),
            "end-of-line before authentication method"
        );
        assert_eq!(
            parse("host all all").unwrap_err(),
            "end-of-line before IP address specification"
        );
        assert_eq!(
            parse("hosts all").unwrap_err(),
            "invalid connection type \"hosts\""
        );
        assert_eq!(
            parse("local,host all").unwrap_err(),
            "multiple values specified for connection type"
        );
        assert_eq!(
            parse("host all all a,b trust").unwrap_err(),
            "multiple values specified for host address"
        );
        assert_eq!(
            parse("local all all trust,md5").unwrap_err(),
            "multiple values specified for authentication type"
        );
    }

    #[test]
    fn option_errors() {
        let opt = |t: &str, o: &str| {
            let addr = if t == "local" { "" } else { "all" };
            parse(&format!("{t} all all {addr} scram-sha-256 {o}")).map(|_| ())
        };
        assert_eq!(
            opt("host", "clientcert=verify-ca"),
            Err("clientcert can only be configured for \"hostssl\" rows".into())
        );
        assert_eq!(
            opt("hostssl", "clientcert=yes"),
            Err("invalid value for clientcert: \"yes\"".into())
        );
        assert_eq!(opt("hostssl", "clientcert=verify-ca"), Ok(()));
        assert_eq!(
            opt("local", "clientname=CN"),
            Err("clientname can only be configured for \"hostssl\" rows".into())
        );
        assert_eq!(
            opt("hostssl", "clientname=cn"),
            Err("invalid value for clientname: \"cn\"".into())
        );
        assert_eq!(
            opt("hostssl", "map=x"),
            Err("authentication option \"map\" is only valid for authentication methods ident, peer, gssapi, sspi, and cert".into())
        );
        assert_eq!(
            opt("host", "ldapserver=x"),
            Err("authentication option \"ldapserver\" is only valid for authentication methods ldap".into())
        );
        assert_eq!(
            opt("host", "foo=1"),
            Err("unrecognized authentication option name: \"foo\"".into())
        );
        assert_eq!(
            opt("host", "foo"),
            Err("authentication option not in name=value format: foo".into())
        );
        // Options may be comma lists, and every one is checked.
        assert_eq!(
            opt("hostssl", "clientcert=verify-ca,clientname=XX"),
            Err("invalid value for clientname: \"XX\"".into())
        );
    }

    #[test]
    fn regex_tokens_compile_and_bad_ones_fail() {
        let r = parse(r#"local /^db\d+$ "/^a,b$" trust"#).unwrap();
        assert!(r.databases[0].is_regex());
        assert!(r.users[0].is_regex());
        assert_eq!(r.users[0].text(), "/^a,b$");
        let e = parse("local /(unclosed all trust").unwrap_err();
        assert!(
            e.starts_with("invalid regular expression \"(unclosed\": "),
            "{e}"
        );
        assert!(!e.contains('\n'));
    }

    #[test]
    fn warnings_for_rules_that_cannot_match() {
        let no_ssl = HbaOptions { ssl_enabled: false };
        let r = parse_with("hostssl all all all md5", &no_ssl).unwrap();
        assert_eq!(
            r.warning.as_deref(),
            Some("hostssl record cannot match because SSL is disabled")
        );
        let r = parse("hostgssenc all all all md5").unwrap();
        assert!(
            r.warning
                .unwrap()
                .starts_with("hostgssenc record cannot match")
        );
        assert_eq!(parse("host all all all md5").unwrap().warning, None);
    }
}
