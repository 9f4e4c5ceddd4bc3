//! libpq connection strings: `key=value` lists and `postgresql://` URIs, read exactly
//! as libpq reads them, then resolved against the environment and libpq's defaults.
//!
//! ```text
//!   "host=db user=alice" ─┐                        env lookup (PGHOST, ...) ─┐
//!   "postgresql://..."  ──┴─ ConnInfo::parse ─▶ ConnInfo ─ ConnConfig::resolve ─▶ ConnConfig
//!                                        (keywords as written)     (typed, validated, defaults filled)
//! ```
//!
//! Passwords and SCRAM keys are zeroized on drop and shown as `<redacted>` by every
//! `Debug` implementation here. Parsing is pure; the only file access is the thin
//! `.pgpass` loader in [`pgpass`].

mod error;
pub mod pgpass;
mod resolve;

use std::collections::BTreeMap;
use std::fmt;

use zeroize::Zeroizing;

pub use error::ConnInfoError;
pub use pgpass::{PgPass, PgPassRead, read_pgpass};
pub use resolve::{ConnConfig, Defaults, HostKind, HostTarget, SslMode, TargetSessionAttrs};

/// One libpq keyword, with its environment variable.
pub(crate) struct Keyword {
    pub name: &'static str,
    pub env: Option<&'static str>,
    /// Never shown in `Debug` output or error texts.
    pub secret: bool,
}

const fn kw(name: &'static str, env: Option<&'static str>, secret: bool) -> Keyword {
    Keyword { name, env, secret }
}

/// libpq's keywords (PostgreSQL 18), in libpq's order, then pgscram's own. Keywords
/// pgscram does not act on are still accepted, so connection strings written for libpq
/// keep working.
pub(crate) const KEYWORDS: &[Keyword] = &[
    kw("service", Some("PGSERVICE"), false),
    kw("user", Some("PGUSER"), false),
    kw("password", Some("PGPASSWORD"), true),
    kw("passfile", Some("PGPASSFILE"), false),
    kw("channel_binding", Some("PGCHANNELBINDING"), false),
    kw("connect_timeout", Some("PGCONNECT_TIMEOUT"), false),
    kw("dbname", Some("PGDATABASE"), false),
    kw("host", Some("PGHOST"), false),
    kw("hostaddr", Some("PGHOSTADDR"), false),
    kw("port", Some("PGPORT"), false),
    kw("client_encoding", Some("PGCLIENTENCODING"), false),
    kw("options", Some("PGOPTIONS"), false),
    kw("application_name", Some("PGAPPNAME"), false),
    kw("fallback_application_name", None, false),
    kw("keepalives", None, false),
    kw("keepalives_idle", None, false),
    kw("keepalives_interval", None, false),
    kw("keepalives_count", None, false),
    kw("tcp_user_timeout", None, false),
    kw("sslmode", Some("PGSSLMODE"), false),
    kw("sslnegotiation", Some("PGSSLNEGOTIATION"), false),
    kw("sslcompression", Some("PGSSLCOMPRESSION"), false),
    kw("sslcert", Some("PGSSLCERT"), false),
    kw("sslkey", Some("PGSSLKEY"), false),
    kw("sslcertmode", Some("PGSSLCERTMODE"), false),
    kw("sslpassword", None, true),
    kw("sslkeylogfile", None, false),
    kw("sslrootcert", Some("PGSSLROOTCERT"), false),
    kw("sslcrl", Some("PGSSLCRL"), false),
    kw("sslcrldir", Some("PGSSLCRLDIR"), false),
    kw("sslsni", Some("PGSSLSNI"), false),
    kw("requirepeer", Some("PGREQUIREPEER"), false),
    kw("require_auth", Some("PGREQUIREAUTH"), false),
    kw("min_protocol_version", Some("PGMINPROTOCOLVERSION"), false),
    kw("max_protocol_version", Some("PGMAXPROTOCOLVERSION"), false),
    kw(
        "ssl_min_protocol_version",
        Some("PGSSLMINPROTOCOLVERSION"),
        false,
    ),
    kw(
        "ssl_max_protocol_version",
        Some("PGSSLMAXPROTOCOLVERSION"),
        false,
    ),
    kw("gssencmode", Some("PGGSSENCMODE"), false),
    kw("krbsrvname", Some("PGKRBSRVNAME"), false),
    kw("gsslib", Some("PGGSSLIB"), false),
    kw("gssdelegation", Some("PGGSSDELEGATION"), false),
    kw("replication", None, false),
    kw("target_session_attrs", Some("PGTARGETSESSIONATTRS"), false),
    kw("load_balance_hosts", Some("PGLOADBALANCEHOSTS"), false),
    kw("scram_client_key", None, true),
    kw("scram_server_key", None, true),
    kw("oauth_issuer", None, false),
    kw("oauth_client_id", None, false),
    kw("oauth_client_secret", None, true),
    kw("oauth_scope", None, false),
    // pgscram's own: the highest SCRAM iteration count the client will compute (a
    // hostile server could otherwise stall it). Not a libpq keyword.
    kw("scram_max_iterations", Some("PGSCRAMMAXITERATIONS"), false),
];

pub(crate) fn keyword_index(name: &str) -> Option<usize> {
    KEYWORDS.iter().position(|k| k.name == name)
}

/// C's `isspace` in the C locale.
fn is_c_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | b'\x0b' | b'\x0c' | b'\r')
}

const URI_PREFIXES: [&str; 2] = ["postgresql://", "postgres://"];

fn uri_prefix_len(s: &str) -> usize {
    URI_PREFIXES
        .iter()
        .find(|p| s.starts_with(*p))
        .map_or(0, |p| p.len())
}

/// The settings of one connection string, as written (later settings of the same
/// keyword replace earlier ones). Only libpq keywords are accepted.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct ConnInfo {
    values: BTreeMap<usize, Zeroizing<String>>,
}

impl ConnInfo {
    /// No settings.
    pub fn new() -> Self {
        Self::default()
    }

    /// Parses a `postgresql://` or `postgres://` URI, or else a `key=value` list.
    pub fn parse(s: &str) -> Result<Self, ConnInfoError> {
        if uri_prefix_len(s) > 0 {
            Self::parse_uri(s)
        } else {
            Self::parse_keyword_value(s)
        }
    }

    /// A `key = value` list: blanks separate settings; a value may be single-quoted;
    /// a backslash escapes the next character in either form.
    pub fn parse_keyword_value(s: &str) -> Result<Self, ConnInfoError> {
        let mut info = ConnInfo::new();
        let b = s.as_bytes();
        let mut i = 0usize;
        while i < b.len() {
            if is_c_space(b[i]) {
                i += 1;
                continue;
            }
            let name_start = i;
            let mut name_end = None;
            while i < b.len() {
                if b[i] == b'=' {
                    break;
                }
                if is_c_space(b[i]) {
                    name_end = Some(i);
                    i += 1;
                    while i < b.len() && is_c_space(b[i]) {
                        i += 1;
                    }
                    break;
                }
                i += 1;
            }
            let name = &s[name_start..name_end.unwrap_or(i)];
            if i >= b.len() || b[i] != b'=' {
                return Err(ConnInfoError::MissingEquals(name.to_owned()));
            }
            i += 1;
            while i < b.len() && is_c_space(b[i]) {
                i += 1;
            }
            let mut value: Zeroizing<Vec<u8>> = Zeroizing::new(Vec::new());
            if i < b.len() && b[i] == b'\'' {
                i += 1;
                loop {
                    if i >= b.len() {
                        return Err(ConnInfoError::UnterminatedQuote);
                    }
                    match b[i] {
                        b'\\' => {
                            i += 1;
                            if i < b.len() {
                                value.push(b[i]);
                                i += 1;
                            }
                        }
                        b'\'' => {
                            i += 1;
                            break;
                        }
                        c => {
                            value.push(c);
                            i += 1;
                        }
                    }
                }
            } else {
                while i < b.len() {
                    match b[i] {
                        c if is_c_space(c) => {
                            i += 1;
                            break;
                        }
                        b'\\' => {
                            i += 1;
                            if i < b.len() {
                                value.push(b[i]);
                                i += 1;
                            }
                        }
                        c => {
                            value.push(c);
                            i += 1;
                        }
                    }
                }
            }
            // Only ASCII bytes were removed, so the value is still UTF-8.
            let value = Zeroizing::new(String::from_utf8_lossy(&value).into_owned());
            info.store(name, &value, false)
                .map_err(|e| e.unwrap_or(ConnInfoError::InvalidOption(name.into())))?;
        }
        Ok(info)
    }

    /// A `postgresql://[user[:password]@][host[:port][,...]][/dbname][?key=value&...]`
    /// URI, with libpq's rules (percent-decoding, `[IPv6]` hosts, `ssl=true`).
    pub fn parse_uri(uri: &str) -> Result<Self, ConnInfoError> {
        let mut info = ConnInfo::new();
        let b = uri.as_bytes();
        let len = b.len();
        let start = uri_prefix_len(uri);
        let mut p = start;
        while p < len && b[p] != b'@' && b[p] != b'/' {
            p += 1;
        }
        if p < len && b[p] == b'@' {
            let userinfo = &uri[start..p];
            let (user, password) = match userinfo.split_once(':') {
                Some((u, pw)) => (u, Some(pw)),
                None => (userinfo, None),
            };
            if !user.is_empty() {
                info.store_uri("user", user)?;
            }
            if let Some(pw) = password.filter(|pw| !pw.is_empty()) {
                info.store_uri("password", pw)?;
            }
            p += 1;
        } else {
            p = start;
        }

        let mut hosts = String::new();
        let mut ports = String::new();
        let mut terminator;
        loop {
            let host;
            if p < len && b[p] == b'[' {
                p += 1;
                let host_start = p;
                while p < len && b[p] != b']' {
                    p += 1;
                }
                if p >= len {
                    return Err(ConnInfoError::UnterminatedIpv6 {
                        uri: redact_uri(uri),
                    });
                }
                if p == host_start {
                    return Err(ConnInfoError::EmptyIpv6 {
                        uri: redact_uri(uri),
                    });
                }
                host = &uri[host_start..p];
                p += 1;
                if p < len && !matches!(b[p], b':' | b'/' | b'?' | b',') {
                    return Err(ConnInfoError::UnexpectedUriCharacter {
                        ch: uri[p..].chars().next().unwrap_or('?'),
                        position: p + 1,
                        uri: redact_uri(uri),
                    });
                }
            } else {
                let host_start = p;
                while p < len && !matches!(b[p], b':' | b'/' | b'?' | b',') {
                    p += 1;
                }
                host = &uri[host_start..p];
            }
            terminator = b.get(p).copied();
            hosts.push_str(host);
            if terminator == Some(b':') {
                p += 1;
                let port_start = p;
                while p < len && !matches!(b[p], b'/' | b'?' | b',') {
                    p += 1;
                }
                ports.push_str(&uri[port_start..p]);
                terminator = b.get(p).copied();
            }
            if terminator != Some(b',') {
                break;
            }
            p += 1;
            hosts.push(',');
            ports.push(',');
        }
        if !hosts.is_empty() {
            info.store_uri("host", &hosts)?;
        }
        if !ports.is_empty() {
            info.store_uri("port", &ports)?;
        }
        if terminator.is_some_and(|c| c != b'?') {
            p += 1;
            let db_start = p;
            while p < len && b[p] != b'?' {
                p += 1;
            }
            let dbname = &uri[db_start..p];
            terminator = b.get(p).copied();
            // An empty path leaves dbname unset, so PGDATABASE still applies.
            if !dbname.is_empty() {
                info.store_uri("dbname", dbname)?;
            }
        }
        if terminator.is_some() {
            info.parse_uri_params(&uri[p + 1..])?;
        }
        Ok(info)
    }

    fn parse_uri_params(&mut self, params: &str) -> Result<(), ConnInfoError> {
        for param in ParamIter(params) {
            let (raw_key, raw_value) = match param.find('=') {
                None => return Err(ConnInfoError::MissingUriSeparator(param.to_owned())),
                Some(eq) => {
                    let (k, v) = (&param[..eq], &param[eq + 1..]);
                    if v.contains('=') {
                        return Err(ConnInfoError::ExtraUriSeparator(k.to_owned()));
                    }
                    (k, v)
                }
            };
            let key = percent_decode(raw_key, false)?;
            let secret = keyword_index(&key).is_some_and(|i| KEYWORDS[i].secret);
            let value = percent_decode(raw_value, secret)?;
            let (key, value): (&str, &str) = if *key == "ssl" && *value == "true" {
                ("sslmode", "require")
            } else {
                (&key, &value)
            };
            self.store(key, value, false).map_err(|e| {
                e.unwrap_or_else(|| ConnInfoError::InvalidUriQueryParameter(key.to_owned()))
            })?;
        }
        Ok(())
    }

    /// libpq's `conninfo_storeval`. `Err(None)` means "not a keyword"; the caller
    /// picks the message.
    fn store(&mut self, key: &str, value: &str, decode: bool) -> Result<(), Option<ConnInfoError>> {
        let (key, value): (&str, Zeroizing<String>) = if key == "requiressl" {
            (
                "sslmode",
                Zeroizing::new(
                    if value.starts_with('1') {
                        "require"
                    } else {
                        "prefer"
                    }
                    .to_owned(),
                ),
            )
        } else {
            (key, Zeroizing::new(value.to_owned()))
        };
        let index = keyword_index(key).ok_or(None)?;
        let value = if decode {
            percent_decode(&value, KEYWORDS[index].secret).map_err(Some)?
        } else {
            value
        };
        self.values.insert(index, value);
        Ok(())
    }

    fn store_uri(&mut self, key: &str, value: &str) -> Result<(), ConnInfoError> {
        self.store(key, value, true)
            .map_err(|e| e.unwrap_or_else(|| ConnInfoError::InvalidOption(key.into())))
    }

    /// The value of `key` as written, if set.
    pub fn get(&self, key: &str) -> Option<&str> {
        keyword_index(key)
            .and_then(|i| self.values.get(&i))
            .map(|v| v.as_str())
    }

    /// Sets `key` (a libpq keyword) to `value`, as a `key=value` entry would.
    pub fn set(&mut self, key: &str, value: &str) -> Result<(), ConnInfoError> {
        self.store(key, value, false)
            .map_err(|e| e.unwrap_or_else(|| ConnInfoError::InvalidOption(key.into())))
    }

    /// Removes `key`; unknown keywords are ignored.
    pub fn remove(&mut self, key: &str) {
        if let Some(i) = keyword_index(key) {
            self.values.remove(&i);
        }
    }

    /// The settings, in libpq's keyword order.
    pub fn iter(&self) -> impl Iterator<Item = (&'static str, &str)> {
        self.values
            .iter()
            .map(|(i, v)| (KEYWORDS[*i].name, v.as_str()))
    }

    /// True when no keyword is set.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// A `key=value` string that parses back to the same settings. It contains the
    /// secrets, so it is zeroized on drop; use [`ConnInfo::to_redacted_string`] for logs.
    pub fn to_conninfo_string(&self) -> Zeroizing<String> {
        let mut out = Zeroizing::new(String::new());
        for (i, v) in &self.values {
            if !out.is_empty() {
                out.push(' ');
            }
            out.push_str(KEYWORDS[*i].name);
            out.push('=');
            push_quoted(&mut out, v);
        }
        out
    }

    /// As [`ConnInfo::to_conninfo_string`], with secret values replaced by `<redacted>`.
    pub fn to_redacted_string(&self) -> String {
        let mut out = String::new();
        for (i, v) in &self.values {
            if !out.is_empty() {
                out.push(' ');
            }
            out.push_str(KEYWORDS[*i].name);
            out.push('=');
            if KEYWORDS[*i].secret {
                out.push_str("<redacted>");
            } else {
                push_quoted(&mut out, v);
            }
        }
        out
    }
}

impl fmt::Debug for ConnInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut m = f.debug_map();
        for (i, v) in &self.values {
            let k = &KEYWORDS[*i];
            if k.secret {
                m.entry(&k.name, &"<redacted>");
            } else {
                m.entry(&k.name, &v.as_str());
            }
        }
        m.finish()
    }
}

/// Appends `value`, quoted and escaped when a bare value would not read back the same.
fn push_quoted(out: &mut String, value: &str) {
    let needs_quotes = value.is_empty()
        || value
            .bytes()
            .any(|c| is_c_space(c) || c == b'\'' || c == b'\\');
    if !needs_quotes {
        out.push_str(value);
        return;
    }
    out.push('\'');
    for c in value.chars() {
        if c == '\'' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('\'');
}

/// Splits URI query parameters at `&` (an empty tail ends the list, as in libpq).
struct ParamIter<'a>(&'a str);

impl<'a> Iterator for ParamIter<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        if self.0.is_empty() {
            return None;
        }
        match self.0.find('&') {
            Some(i) => {
                let item = &self.0[..i];
                self.0 = &self.0[i + 1..];
                Some(item)
            }
            None => {
                let item = self.0;
                self.0 = "";
                Some(item)
            }
        }
    }
}

/// libpq's `conninfo_uri_decode`: `%XX` escapes, no `+` for space, `%00` refused.
/// Error texts quote the encoded value unless it is a secret.
fn percent_decode(s: &str, secret: bool) -> Result<Zeroizing<String>, ConnInfoError> {
    let shown = || {
        if secret {
            "<redacted>".to_owned()
        } else {
            s.to_owned()
        }
    };
    let b = s.as_bytes();
    let mut out: Zeroizing<Vec<u8>> = Zeroizing::new(Vec::with_capacity(b.len()));
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'%' {
            out.push(b[i]);
            i += 1;
            continue;
        }
        let hex = |c: Option<&u8>| c.and_then(|c| (*c as char).to_digit(16));
        let (Some(hi), Some(lo)) = (hex(b.get(i + 1)), hex(b.get(i + 2))) else {
            return Err(ConnInfoError::InvalidPercentEncoding(shown()));
        };
        let c = (hi << 4 | lo) as u8;
        if c == 0 {
            return Err(ConnInfoError::PercentEncodedNul(shown()));
        }
        out.push(c);
        i += 3;
    }
    match std::str::from_utf8(&out) {
        Ok(text) => Ok(Zeroizing::new(text.to_owned())),
        Err(_) => Err(ConnInfoError::PercentDecodedNotUtf8(shown())),
    }
}

/// The URI with the password of its user-info part replaced, for error texts.
fn redact_uri(uri: &str) -> String {
    let start = uri_prefix_len(uri);
    let rest = &uri[start..];
    let end = rest.find(['@', '/']).unwrap_or(rest.len());
    if rest.as_bytes().get(end) != Some(&b'@') {
        return uri.to_owned();
    }
    match rest[..end].find(':') {
        Some(colon) => format!(
            "{}{}:<redacted>{}",
            &uri[..start],
            &rest[..colon],
            &rest[end..]
        ),
        None => uri.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kv(s: &str) -> Vec<(&'static str, String)> {
        ConnInfo::parse(s)
            .unwrap()
            .iter()
            .map(|(k, v)| (k, v.to_owned()))
            .collect()
    }

    fn err(s: &str) -> String {
        ConnInfo::parse(s).unwrap_err().to_string()
    }

    #[test]
    fn keyword_value_syntax() {
        assert_eq!(
            kv(
                "host=db  port = 5433\tdbname='my db' user=al\\ ice password='it\\'s' options='-c a=\\'b\\''"
            ),
            vec![
                ("user", "al ice".to_owned()),
                ("password", "it's".to_owned()),
                ("dbname", "my db".to_owned()),
                ("host", "db".to_owned()),
                ("port", "5433".to_owned()),
                ("options", "-c a='b'".to_owned()),
            ]
        );
        assert_eq!(kv("host=a host=b"), vec![("host", "b".to_owned())]);
        assert_eq!(kv("  "), vec![]);
        assert_eq!(kv("dbname="), vec![("dbname", String::new())]);
        assert_eq!(kv("dbname=''"), vec![("dbname", String::new())]);
        assert_eq!(kv("requiressl=1"), vec![("sslmode", "require".to_owned())]);
        assert_eq!(kv("requiressl=0"), vec![("sslmode", "prefer".to_owned())]);
        assert_eq!(
            kv("host='a'port=1"),
            vec![("host", "a".to_owned()), ("port", "1".to_owned())]
        );
        assert_eq!(kv("dbname=a\\"), vec![("dbname", "a".to_owned())]);
    }

    #[test]
    fn keyword_value_errors() {
        assert_eq!(
            err("host"),
            "missing \"=\" after \"host\" in connection info string"
        );
        assert_eq!(
            err("host db"),
            "missing \"=\" after \"host\" in connection info string"
        );
        assert_eq!(
            err("host='db"),
            "unterminated quoted string in connection info string"
        );
        assert_eq!(
            err("host='db\\'"),
            "unterminated quoted string in connection info string"
        );
        assert_eq!(err("hots=db"), "invalid connection option \"hots\"");
        assert_eq!(err("=db"), "invalid connection option \"\"");
    }

    #[test]
    fn uri_syntax() {
        assert_eq!(
            kv(
                "postgresql://us%40er:p%3Ass@h1:5433,[::1]:5434,h3/my%20db?sslmode=require&application_name=x"
            ),
            vec![
                ("user", "us@er".to_owned()),
                ("password", "p:ss".to_owned()),
                ("dbname", "my db".to_owned()),
                ("host", "h1,::1,h3".to_owned()),
                ("port", "5433,5434,".to_owned()),
                ("application_name", "x".to_owned()),
                ("sslmode", "require".to_owned()),
            ]
        );
        assert_eq!(kv("postgres://"), vec![]);
        assert_eq!(kv("postgresql:///db"), vec![("dbname", "db".to_owned())]);
        assert_eq!(kv("postgresql://h/"), vec![("host", "h".to_owned())]);
        assert_eq!(
            kv("postgresql://h?ssl=true"),
            vec![("host", "h".to_owned()), ("sslmode", "require".to_owned())]
        );
        assert_eq!(kv("postgresql://%2Ftmp"), vec![("host", "/tmp".to_owned())]);
        assert_eq!(
            kv("postgresql://h?host=%2Fvar%2Frun"),
            vec![("host", "/var/run".to_owned())]
        );
        assert_eq!(kv("postgresql://user@"), vec![("user", "user".to_owned())]);
        assert_eq!(kv("postgresql://:@h"), vec![("host", "h".to_owned())]);
        assert_eq!(kv("postgresql://h:"), vec![("host", "h".to_owned())]);
        assert_eq!(
            kv("postgresql://a+b@h"),
            vec![("user", "a+b".to_owned()), ("host", "h".to_owned())]
        );
        assert_eq!(kv("postgresql://h?"), vec![("host", "h".to_owned())]);
    }

    #[test]
    fn uri_errors() {
        assert_eq!(
            err("postgresql://[::1"),
            "end of string reached when looking for matching \"]\" in IPv6 host address in URI: \"postgresql://[::1\""
        );
        assert_eq!(
            err("postgresql://[]"),
            "IPv6 host address may not be empty in URI: \"postgresql://[]\""
        );
        assert_eq!(
            err("postgresql://[::1]x"),
            "unexpected character \"x\" at position 19 in URI (expected \":\" or \"/\"): \"postgresql://[::1]x\""
        );
        assert_eq!(
            err("postgresql://h?foo=1"),
            "invalid URI query parameter: \"foo\""
        );
        assert_eq!(
            err("postgresql://h?a=b=c"),
            "extra key/value separator \"=\" in URI query parameter: \"a\""
        );
        assert_eq!(
            err("postgresql://h?a&b=c"),
            "missing key/value separator \"=\" in URI query parameter: \"a\""
        );
        assert_eq!(
            err("postgresql://h/%zz"),
            "invalid percent-encoded token: \"%zz\""
        );
        assert_eq!(
            err("postgresql://h/%4"),
            "invalid percent-encoded token: \"%4\""
        );
        assert_eq!(
            err("postgresql://h/a%00b"),
            "forbidden value %00 in percent-encoded value: \"a%00b\""
        );
        assert_eq!(
            err("postgresql://h/%ff"),
            "percent-decoded value is not valid UTF-8: \"%ff\""
        );
    }

    #[test]
    fn secrets_stay_out_of_errors_and_debug() {
        let e = err("postgresql://u:s3cr%zzet@h");
        assert_eq!(e, "invalid percent-encoded token: \"<redacted>\"");
        let e = err("postgresql://u:s3cret@[::1");
        assert!(!e.contains("s3cret"), "{e}");
        assert!(e.contains("postgresql://u:<redacted>@[::1"), "{e}");
        let e = err("postgresql://h?password=s3cr%zz");
        assert!(!e.contains("s3cr"), "{e}");
        let info = ConnInfo::parse("user=u password=s3cret scram_client_key=abc").unwrap();
        let dbg = format!("{info:?}");
        assert!(!dbg.contains("s3cret") && !dbg.contains("abc"), "{dbg}");
        assert!(dbg.contains("\"user\": \"u\""), "{dbg}");
        assert_eq!(
            info.to_redacted_string(),
            "user=u password=<redacted> scram_client_key=<redacted>"
        );
    }

    #[test]
    fn round_trips() {
        for s in [
            "host=db port=5433 user=alice dbname='my db'",
            "password='it\\'s a \\\\ secret' options='-c search_path=\"a b\"' application_name=''",
            "postgresql://us%40er:p%3Ass@h1:5433,[::1]:5434/my%20db?sslmode=require&target_session_attrs=any",
            "postgres://h?ssl=true&requiressl=0",
            "dbname='tab\there'",
        ] {
            let a = ConnInfo::parse(s).unwrap();
            let text = a.to_conninfo_string();
            let b = ConnInfo::parse(&text).unwrap();
            assert_eq!(a, b, "{s} -> {}", text.as_str());
        }
        let mut info = ConnInfo::new();
        info.set("host", "h").unwrap();
        info.set("requiressl", "1").unwrap();
        assert_eq!(info.get("sslmode"), Some("require"));
        assert_eq!(
            info.set("nope", "1"),
            Err(ConnInfoError::InvalidOption("nope".into()))
        );
        info.remove("host");
        assert_eq!(info.to_conninfo_string().as_str(), "sslmode=require");
    }

    #[test]
    fn redaction_of_uris() {
        assert_eq!(
            redact_uri("postgresql://u:p@h/d"),
            "postgresql://u:<redacted>@h/d"
        );
        assert_eq!(redact_uri("postgresql://u@h/d"), "postgresql://u@h/d");
        assert_eq!(redact_uri("postgresql://h/d@x"), "postgresql://h/d@x");
    }
}
