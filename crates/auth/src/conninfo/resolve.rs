//! From the keywords as written to the settings a connection uses: environment
//! fallbacks, libpq's defaults, and libpq's validation (`conninfo_add_defaults` and
//! `connectOptions2` in fe-connect.c), with libpq's error texts.

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use zeroize::Zeroizing;

use super::pgpass::{PgPass, PgPassRead, read_pgpass};
use super::{ConnInfo, ConnInfoError, KEYWORDS};
use crate::client_policy::{ChannelBinding, RequireAuth};
use crate::secret::{ScramKey, Secret};

/// libpq's default port.
pub const DEFAULT_PORT: u16 = 5432;
/// libpq's default TCP host when no socket directory is compiled in.
pub const DEFAULT_HOST: &str = "localhost";
/// Debian's socket directory (upstream libpq uses /tmp).
pub const DEBIAN_SOCKET_DIR: &str = "/var/run/postgresql";

/// `sslmode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum SslMode {
    /// Never TLS.
    Disable,
    /// Plaintext first, TLS if the server insists.
    Allow,
    /// TLS if the server offers it, else plaintext (libpq's default).
    Prefer,
    /// TLS, without verifying the server's certificate.
    Require,
    /// TLS with a certificate that chains to `sslrootcert`.
    VerifyCa,
    /// As `VerifyCa`, and the certificate must name the host.
    VerifyFull,
}

impl SslMode {
    /// The option value, as written in a connection string.
    pub fn as_str(self) -> &'static str {
        match self {
            SslMode::Disable => "disable",
            SslMode::Allow => "allow",
            SslMode::Prefer => "prefer",
            SslMode::Require => "require",
            SslMode::VerifyCa => "verify-ca",
            SslMode::VerifyFull => "verify-full",
        }
    }
}

impl FromStr for SslMode {
    type Err = ConnInfoError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "disable" => SslMode::Disable,
            "allow" => SslMode::Allow,
            "prefer" => SslMode::Prefer,
            "require" => SslMode::Require,
            "verify-ca" => SslMode::VerifyCa,
            "verify-full" => SslMode::VerifyFull,
            other => {
                return Err(ConnInfoError::InvalidValue {
                    key: "sslmode",
                    value: other.to_owned(),
                });
            }
        })
    }
}

/// `target_session_attrs`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetSessionAttrs {
    /// Any server will do (the default).
    Any,
    /// A server that accepts read-write transactions by default.
    ReadWrite,
    /// A server that starts transactions read-only by default.
    ReadOnly,
    /// A server not in hot standby.
    Primary,
    /// A server in hot standby.
    Standby,
    /// A standby if one of the hosts is, else any.
    PreferStandby,
}

impl FromStr for TargetSessionAttrs {
    type Err = ConnInfoError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "any" => TargetSessionAttrs::Any,
            "read-write" => TargetSessionAttrs::ReadWrite,
            "read-only" => TargetSessionAttrs::ReadOnly,
            "primary" => TargetSessionAttrs::Primary,
            "standby" => TargetSessionAttrs::Standby,
            "prefer-standby" => TargetSessionAttrs::PreferStandby,
            other => {
                return Err(ConnInfoError::InvalidValue {
                    key: "target_session_attrs",
                    value: other.to_owned(),
                });
            }
        })
    }
}

/// How a host entry is reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostKind {
    /// `host` is a socket directory (absolute path) or an abstract name (`@name`).
    UnixSocket,
    /// `host` is a name to resolve.
    Name,
    /// `hostaddr` is used; `host`, if set, is still the name to verify TLS against.
    Address,
}

/// One host of a (possibly multi-host) connection string.
#[derive(Debug, Clone)]
pub struct HostTarget {
    /// How this host is reached.
    pub kind: HostKind,
    /// Name or socket directory; empty when only `hostaddr` was given.
    pub host: String,
    /// The numeric address to connect to, skipping name resolution.
    pub hostaddr: Option<IpAddr>,
    /// The TCP port, or the number in the socket file name (`.s.PGSQL.<port>`).
    pub port: u16,
    /// The port as written (empty when defaulted): `.pgpass` matches this text.
    port_text: String,
    /// The password `.pgpass` gave for this host, if any.
    pub password: Option<Secret>,
}

/// What libpq would take from the system. [`Defaults::detect`] fills it; tests and
/// embedders set it directly.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Defaults {
    /// The operating-system user name (the default `user`).
    pub os_user: Option<String>,
    /// The default Unix socket directory; `None` means TCP to `localhost`.
    pub socket_dir: Option<String>,
    /// The home directory (for `~/.pgpass`) when `HOME` is not set.
    pub home_dir: Option<String>,
}

impl Defaults {
    /// Best effort from the process: the user from `USER` or `LOGNAME` (pgscram has no
    /// unsafe code to ask the password database), the home from `HOME`, and Debian's
    /// socket directory when `/etc/debian_version` exists.
    pub fn detect() -> Self {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        Defaults {
            os_user: var("USER").or_else(|| var("LOGNAME")),
            socket_dir: std::path::Path::new("/etc/debian_version")
                .exists()
                .then(|| DEBIAN_SOCKET_DIR.to_owned()),
            home_dir: var("HOME"),
        }
    }
}

/// Keywords [`ConnConfig`] models with typed fields; the rest stay in `extra`.
const MODELED: &[&str] = &[
    "user",
    "password",
    "passfile",
    "channel_binding",
    "connect_timeout",
    "dbname",
    "host",
    "hostaddr",
    "port",
    "options",
    "application_name",
    "sslmode",
    "sslcert",
    "sslkey",
    "sslrootcert",
    "require_auth",
    "target_session_attrs",
    "scram_client_key",
    "scram_server_key",
];

/// The settings of one connection, validated and with defaults filled in.
#[derive(Clone)]
pub struct ConnConfig {
    /// The hosts to try, in order.
    pub hosts: Vec<HostTarget>,
    /// The role to log in as (defaults to the operating-system user).
    pub user: String,
    /// The database (defaults to the user name).
    pub dbname: String,
    /// The `password` setting (or `PGPASSWORD`); `.pgpass` passwords are per host.
    pub password: Option<Secret>,
    /// The password file to consult (`passfile`, `PGPASSFILE`, or `~/.pgpass`).
    pub passfile: Option<String>,
    /// Whether and how to use TLS (`prefer`, or `verify-full` with `sslrootcert=system`).
    pub sslmode: SslMode,
    /// Trusted root certificates (a file, or `system` for the platform's store).
    pub sslrootcert: Option<String>,
    /// The client certificate file.
    pub sslcert: Option<String>,
    /// The client certificate's private key file.
    pub sslkey: Option<String>,
    /// Whether SCRAM must, may or must not bind to the TLS channel.
    pub channel_binding: ChannelBinding,
    /// Which authentication requests the client may answer.
    pub require_auth: RequireAuth,
    /// libpq 18: a ClientKey to authenticate with instead of a password.
    pub scram_client_key: Option<ScramKey>,
    /// libpq 18: the ServerKey to check the server's signature with.
    pub scram_server_key: Option<ScramKey>,
    /// `None` waits forever (libpq: zero or negative); one second counts as two.
    pub connect_timeout: Option<Duration>,
    /// `application_name`, else `fallback_application_name`.
    pub application_name: Option<String>,
    /// Command-line options for the server (`-c name=value ...`).
    pub options: Option<String>,
    /// What kind of server to accept among the hosts.
    pub target_session_attrs: TargetSessionAttrs,
    extra: BTreeMap<&'static str, Zeroizing<String>>,
    socket_dir: Option<String>,
}

/// libpq's `parse_int_param`: `strtol` with surrounding blanks allowed, fitting an int.
fn parse_int(value: &str, option: &'static str) -> Result<i32, ConnInfoError> {
    let err = || ConnInfoError::InvalidInteger {
        value: value.to_owned(),
        option,
    };
    let t = value.trim_matches(|c: char| c.is_ascii() && super::is_c_space(c as u8));
    let (neg, digits) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    if digits.is_empty() || !digits.bytes().all(|c| c.is_ascii_digit()) {
        return Err(err());
    }
    let n: i64 = digits.parse().map_err(|_| err())?;
    let n = if neg { -n } else { n };
    i32::try_from(n).map_err(|_| err())
}

fn decode_key(value: &str, server: bool) -> Result<ScramKey, ConnInfoError> {
    let compact: Zeroizing<String> = Zeroizing::new(
        value
            .chars()
            .filter(|c| !matches!(c, ' ' | '\t' | '\n' | '\r'))
            .collect(),
    );
    let bytes = Zeroizing::new(
        STANDARD
            .decode(compact.as_bytes())
            .map_err(|_| ConnInfoError::InvalidScramKey { server })?,
    );
    let array: [u8; 32] =
        bytes
            .as_slice()
            .try_into()
            .map_err(|_| ConnInfoError::ScramKeyLength {
                server,
                length: bytes.len(),
            })?;
    Ok(ScramKey::from_bytes(array))
}

fn check_value(
    key: &'static str,
    value: Option<&str>,
    allowed: &[&str],
) -> Result<(), ConnInfoError> {
    match value {
        Some(v) if !allowed.contains(&v) => Err(ConnInfoError::InvalidValue {
            key,
            value: v.to_owned(),
        }),
        _ => Ok(()),
    }
}

impl ConnConfig {
    /// Parses `conninfo` and resolves it; see [`ConnConfig::resolve`].
    pub fn from_conninfo(
        conninfo: &str,
        env: &dyn Fn(&str) -> Option<String>,
        defaults: &Defaults,
    ) -> Result<Self, ConnInfoError> {
        Self::resolve(&ConnInfo::parse(conninfo)?, env, defaults)
    }

    /// Fills unset keywords from the environment (through `env`, so tests never touch
    /// the process environment) and libpq's defaults, then validates everything.
    /// Reads no files: call [`ConnConfig::load_pgpass`] or [`ConnConfig::apply_pgpass`]
    /// for `.pgpass` passwords.
    pub fn resolve(
        info: &ConnInfo,
        env: &dyn Fn(&str) -> Option<String>,
        defaults: &Defaults,
    ) -> Result<Self, ConnInfoError> {
        let mut values: BTreeMap<&'static str, Zeroizing<String>> = BTreeMap::new();
        for (key, value) in info.iter() {
            values.insert(key, Zeroizing::new(value.to_owned()));
        }
        for k in KEYWORDS {
            if values.contains_key(k.name) {
                continue;
            }
            if let Some(v) = k.env.and_then(env) {
                values.insert(k.name, Zeroizing::new(v));
            } else if k.name == "sslmode" && env("PGREQUIRESSL").is_some_and(|v| v.starts_with('1'))
            {
                values.insert("sslmode", Zeroizing::new("require".to_owned()));
            }
        }
        let get = |k: &str| values.get(k).map(|v| v.as_str());
        let non_empty = |k: &str| get(k).filter(|v| !v.is_empty());

        if non_empty("service").is_some() {
            return Err(ConnInfoError::Unsupported("service"));
        }

        // Hosts, addresses and ports, element by element.
        let count = |s: &str| s.split(',').count();
        let hostaddr_list: Option<Vec<&str>> =
            non_empty("hostaddr").map(|s| s.split(',').collect());
        let host_list: Option<Vec<&str>> = non_empty("host").map(|s| s.split(',').collect());
        let n = match (&hostaddr_list, &host_list) {
            (Some(a), _) => a.len(),
            (None, Some(h)) => h.len(),
            (None, None) => 1,
        };
        if let Some(h) = &host_list
            && h.len() != n
        {
            return Err(ConnInfoError::HostCountMismatch {
                hosts: h.len(),
                hostaddrs: n,
            });
        }
        let port_list: Vec<&str> = match non_empty("port") {
            None => vec![""; n],
            Some(p) => {
                let ports: Vec<&str> = p.split(',').collect();
                if ports.len() == 1 {
                    vec![ports[0]; n]
                } else if ports.len() == n {
                    ports
                } else {
                    return Err(ConnInfoError::PortCountMismatch {
                        ports: count(p),
                        hosts: n,
                    });
                }
            }
        };
        let mut hosts = Vec::with_capacity(n);
        for (i, port_text) in port_list.iter().enumerate() {
            let host = host_list.as_ref().map_or("", |h| h[i]);
            let addr_text = hostaddr_list.as_ref().map_or("", |a| a[i]);
            let (kind, host, hostaddr) = if !addr_text.is_empty() {
                let addr = addr_text
                    .parse::<IpAddr>()
                    .map_err(|_| ConnInfoError::InvalidHostaddr(addr_text.to_owned()))?;
                (HostKind::Address, host.to_owned(), Some(addr))
            } else if !host.is_empty() {
                let kind = if host.starts_with('/') || host.starts_with('@') {
                    HostKind::UnixSocket
                } else {
                    HostKind::Name
                };
                (kind, host.to_owned(), None)
            } else {
                match &defaults.socket_dir {
                    Some(dir) => (HostKind::UnixSocket, dir.clone(), None),
                    None => (HostKind::Name, DEFAULT_HOST.to_owned(), None),
                }
            };
            let port = if port_text.is_empty() {
                DEFAULT_PORT
            } else {
                let p = parse_int(port_text, "port")?;
                u16::try_from(p)
                    .ok()
                    .filter(|p| *p >= 1)
                    .ok_or_else(|| ConnInfoError::InvalidPort((*port_text).to_owned()))?
            };
            hosts.push(HostTarget {
                kind,
                host,
                hostaddr,
                port,
                port_text: (*port_text).to_owned(),
                password: None,
            });
        }

        let user = match non_empty("user") {
            Some(u) => u.to_owned(),
            None => defaults
                .os_user
                .clone()
                .filter(|u| !u.is_empty())
                .ok_or(ConnInfoError::NoUser)?,
        };
        let dbname = non_empty("dbname").map_or_else(|| user.clone(), str::to_owned);
        let password = non_empty("password").map(Secret::new);
        let passfile = non_empty("passfile").map(str::to_owned).or_else(|| {
            env("HOME")
                .filter(|h| !h.is_empty())
                .or_else(|| defaults.home_dir.clone())
                .map(|home| format!("{home}/.pgpass"))
        });

        let channel_binding = match get("channel_binding") {
            None => ChannelBinding::Prefer,
            Some(v) => v.parse().map_err(|_| ConnInfoError::InvalidValue {
                key: "channel_binding",
                value: v.to_owned(),
            })?,
        };
        let require_auth = RequireAuth::parse(get("require_auth").unwrap_or(""))?;

        let sslrootcert = non_empty("sslrootcert").map(str::to_owned);
        let system_root = sslrootcert.as_deref() == Some("system");
        let sslmode = match get("sslmode") {
            Some(v) => v.parse::<SslMode>()?,
            None if system_root => SslMode::VerifyFull,
            None => SslMode::Prefer,
        };
        check_value(
            "sslnegotiation",
            get("sslnegotiation"),
            &["postgres", "direct"],
        )?;
        if get("sslnegotiation") == Some("direct") && sslmode < SslMode::Require {
            return Err(ConnInfoError::WeakSslModeForDirect(
                sslmode.as_str().to_owned(),
            ));
        }
        if system_root && sslmode != SslMode::VerifyFull {
            return Err(ConnInfoError::WeakSslModeForSystemRoot(
                sslmode.as_str().to_owned(),
            ));
        }
        match get("gssencmode") {
            Some("require") => return Err(ConnInfoError::GssEncRequired),
            v => check_value("gssencmode", v, &["disable", "prefer"])?,
        }
        let target_session_attrs = match get("target_session_attrs") {
            Some(v) => v.parse()?,
            None => TargetSessionAttrs::Any,
        };
        check_value(
            "load_balance_hosts",
            get("load_balance_hosts"),
            &["disable", "random"],
        )?;
        check_value(
            "sslcertmode",
            get("sslcertmode"),
            &["disable", "allow", "require"],
        )?;

        let scram_client_key = non_empty("scram_client_key")
            .map(|v| decode_key(v, false))
            .transpose()?;
        let scram_server_key = non_empty("scram_server_key")
            .map(|v| decode_key(v, true))
            .transpose()?;

        let connect_timeout = match non_empty("connect_timeout") {
            None => None,
            Some(v) => match parse_int(v, "connect_timeout")? {
                t if t <= 0 => None,
                1 => Some(Duration::from_secs(2)),
                t => Some(Duration::from_secs(t.unsigned_abs().into())),
            },
        };

        let application_name = get("application_name")
            .or_else(|| get("fallback_application_name"))
            .map(str::to_owned);
        let options = get("options").map(str::to_owned);
        let sslcert = non_empty("sslcert").map(str::to_owned);
        let sslkey = non_empty("sslkey").map(str::to_owned);

        let extra = values
            .iter()
            .filter(|(k, _)| !MODELED.contains(*k))
            .map(|(k, v)| (*k, v.clone()))
            .collect();

        Ok(ConnConfig {
            hosts,
            user,
            dbname,
            password,
            passfile,
            sslmode,
            sslrootcert,
            sslcert,
            sslkey,
            channel_binding,
            require_auth,
            scram_client_key,
            scram_server_key,
            connect_timeout,
            application_name,
            options,
            target_session_attrs,
            extra,
            socket_dir: defaults.socket_dir.clone(),
        })
    }

    /// A libpq keyword pgscram keeps but does not act on (`client_encoding`,
    /// `keepalives`, ...), as set or taken from the environment.
    pub fn extra(&self, key: &str) -> Option<&str> {
        self.extra.get(key).map(|v| v.as_str())
    }

    /// The password for host `index`: its `.pgpass` entry, else the `password` setting.
    pub fn password_for(&self, index: usize) -> Option<&Secret> {
        self.hosts
            .get(index)
            .and_then(|h| h.password.as_ref())
            .or(self.password.as_ref())
    }

    /// Fills each host's password from `pgpass`, as libpq does when no password was
    /// given (a given password makes this a no-op).
    pub fn apply_pgpass(&mut self, pgpass: &PgPass) {
        if self.password.is_some() {
            return;
        }
        for h in &mut self.hosts {
            let mut host = if h.host.is_empty() {
                h.hostaddr.map(|a| a.to_string()).unwrap_or_default()
            } else {
                h.host.clone()
            };
            if host.is_empty()
                || (h.kind == HostKind::UnixSocket
                    && self.socket_dir.as_deref() == Some(host.as_str()))
            {
                host = DEFAULT_HOST.to_owned();
            }
            let port = if h.port_text.is_empty() {
                DEFAULT_PORT.to_string()
            } else {
                h.port_text.clone()
            };
            h.password = pgpass.lookup(&host, &port, &self.dbname, &self.user);
        }
    }

    /// Reads [`ConnConfig::passfile`] and applies it. Returns libpq's warning when the
    /// file was ignored (not a plain file, or readable by group or others).
    pub fn load_pgpass(&mut self) -> Option<String> {
        if self.password.is_some() {
            return None;
        }
        let path = self.passfile.clone()?;
        match read_pgpass(&path) {
            PgPassRead::Loaded(p) => {
                self.apply_pgpass(&p);
                None
            }
            PgPassRead::Missing => None,
            PgPassRead::Ignored { warning } => Some(warning),
        }
    }
}

impl fmt::Debug for ConnConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let extra: BTreeMap<&str, &str> = self
            .extra
            .iter()
            .map(|(k, v)| {
                let secret = super::keyword_index(k).is_some_and(|i| KEYWORDS[i].secret);
                (*k, if secret { "<redacted>" } else { v.as_str() })
            })
            .collect();
        f.debug_struct("ConnConfig")
            .field("hosts", &self.hosts)
            .field("user", &self.user)
            .field("dbname", &self.dbname)
            .field("password", &self.password)
            .field("passfile", &self.passfile)
            .field("sslmode", &self.sslmode)
            .field("sslrootcert", &self.sslrootcert)
            .field("sslcert", &self.sslcert)
            .field("sslkey", &self.sslkey)
            .field("channel_binding", &self.channel_binding)
            .field("require_auth", &self.require_auth)
            .field("scram_client_key", &self.scram_client_key)
            .field("scram_server_key", &self.scram_server_key)
            .field("connect_timeout", &self.connect_timeout)
            .field("application_name", &self.application_name)
            .field("options", &self.options)
            .field("target_session_attrs", &self.target_session_attrs)
            .field("extra", &extra)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    fn defaults() -> Defaults {
        Defaults {
            os_user: Some("osuser".into()),
            socket_dir: Some(DEBIAN_SOCKET_DIR.into()),
            home_dir: Some("/home/o".into()),
        }
    }

    fn resolve(s: &str) -> Result<ConnConfig, ConnInfoError> {
        ConnConfig::from_conninfo(s, &no_env, &defaults())
    }

    fn err(s: &str) -> String {
        resolve(s).unwrap_err().to_string()
    }

    #[test]
    fn libpq_defaults() {
        let c = resolve("").unwrap();
        assert_eq!(c.hosts.len(), 1);
        assert_eq!(c.hosts[0].kind, HostKind::UnixSocket);
        assert_eq!(c.hosts[0].host, DEBIAN_SOCKET_DIR);
        assert_eq!(c.hosts[0].port, 5432);
        assert_eq!(c.user, "osuser");
        assert_eq!(c.dbname, "osuser");
        assert_eq!(c.sslmode, SslMode::Prefer);
        assert_eq!(c.channel_binding, ChannelBinding::Prefer);
        assert!(!c.require_auth.is_set());
        assert_eq!(c.passfile.as_deref(), Some("/home/o/.pgpass"));
        assert_eq!(c.target_session_attrs, TargetSessionAttrs::Any);
        assert_eq!(c.connect_timeout, None);

        let tcp = ConnConfig::from_conninfo(
            "",
            &no_env,
            &Defaults {
                socket_dir: None,
                ..defaults()
            },
        )
        .unwrap();
        assert_eq!(
            (tcp.hosts[0].kind, tcp.hosts[0].host.as_str()),
            (HostKind::Name, "localhost")
        );

        let e = ConnConfig::from_conninfo("", &no_env, &Defaults::default()).unwrap_err();
        assert_eq!(e, ConnInfoError::NoUser);
    }

    #[test]
    fn environment_fallbacks_apply_only_to_unset_keywords() {
        let env = |k: &str| {
            Some(
                match k {
                    "PGHOST" => "envhost",
                    "PGPORT" => "6000",
                    "PGUSER" => "envuser",
                    "PGDATABASE" => "envdb",
                    "PGPASSWORD" => "envpw",
                    "PGSSLMODE" => "require",
                    "PGCHANNELBINDING" => "require",
                    "PGREQUIREAUTH" => "scram-sha-256",
                    "PGCONNECT_TIMEOUT" => "1",
                    "PGAPPNAME" => "app",
                    "PGPASSFILE" => "/p/pgpass",
                    "PGSSLROOTCERT" => "/root.crt",
                    "PGHOSTADDR" => "10.0.0.1",
                    "HOME" => "/home/e",
                    _ => return None,
                }
                .to_owned(),
            )
        };
        let c = ConnConfig::from_conninfo("user=given", &env, &defaults()).unwrap();
        assert_eq!(c.user, "given");
        assert_eq!(c.dbname, "envdb");
        assert_eq!(c.hosts[0].host, "envhost");
        assert_eq!(c.hosts[0].hostaddr, Some("10.0.0.1".parse().unwrap()));
        assert_eq!(c.hosts[0].kind, HostKind::Address);
        assert_eq!(c.hosts[0].port, 6000);
        assert_eq!(c.password.as_ref().map(Secret::expose), Some("envpw"));
        assert_eq!(c.sslmode, SslMode::Require);
        assert_eq!(c.channel_binding, ChannelBinding::Require);
        assert_eq!(c.require_auth.spec(), Some("scram-sha-256"));
        assert_eq!(c.connect_timeout, Some(Duration::from_secs(2)));
        assert_eq!(c.application_name.as_deref(), Some("app"));
        assert_eq!(c.passfile.as_deref(), Some("/p/pgpass"));
        assert_eq!(c.sslrootcert.as_deref(), Some("/root.crt"));

        let requiressl = |k: &str| (k == "PGREQUIRESSL").then(|| "1".to_owned());
        assert_eq!(
            ConnConfig::from_conninfo("", &requiressl, &defaults())
                .unwrap()
                .sslmode,
            SslMode::Require
        );
        let home = |k: &str| (k == "HOME").then(|| "/h".to_owned());
        assert_eq!(
            ConnConfig::from_conninfo("", &home, &defaults())
                .unwrap()
                .passfile
                .as_deref(),
            Some("/h/.pgpass")
        );
    }

    #[test]
    fn multiple_hosts_and_ports() {
        let c = resolve("host=a,/tmp,,@abs port=1,2,,4").unwrap();
        let got: Vec<_> = c
            .hosts
            .iter()
            .map(|h| (h.kind, h.host.as_str(), h.port))
            .collect();
        assert_eq!(
            got,
            vec![
                (HostKind::Name, "a", 1),
                (HostKind::UnixSocket, "/tmp", 2),
                (HostKind::UnixSocket, DEBIAN_SOCKET_DIR, 5432),
                (HostKind::UnixSocket, "@abs", 4),
            ]
        );
        let one_port = resolve("host=a,b port=7").unwrap();
        assert!(one_port.hosts.iter().all(|h| h.port == 7));
        let addrs = resolve("hostaddr=10.0.0.1,::1 host=a,b").unwrap();
        assert_eq!(addrs.hosts[1].hostaddr, Some("::1".parse().unwrap()));
        assert_eq!(addrs.hosts[1].host, "b");
        assert_eq!(
            err("hostaddr=10.0.0.1,::1 host=a"),
            "could not match 1 host names to 2 hostaddr values"
        );
        assert_eq!(
            err("host=a,b,c port=1,2"),
            "could not match 2 port numbers to 3 hosts"
        );
        assert_eq!(
            err("hostaddr=not-an-ip"),
            "could not parse network address \"not-an-ip\": Name or service not known"
        );
    }

    #[test]
    fn value_errors_use_libpq_texts() {
        assert_eq!(err("sslmode=maybe"), "invalid sslmode value: \"maybe\"");
        assert_eq!(
            err("channel_binding=yes"),
            "invalid channel_binding value: \"yes\""
        );
        assert_eq!(
            err("target_session_attrs=rw"),
            "invalid target_session_attrs value: \"rw\""
        );
        assert_eq!(
            err("require_auth=md5,!password"),
            "negative require_auth method \"!password\" cannot be mixed with non-negative methods"
        );
        assert_eq!(err("require_auth=x"), "invalid require_auth value: \"x\"");
        assert_eq!(
            err("port=abc"),
            "invalid integer value \"abc\" for connection option \"port\""
        );
        assert_eq!(err("port=70000"), "invalid port number: \"70000\"");
        assert_eq!(err("port=0"), "invalid port number: \"0\"");
        assert_eq!(
            err("connect_timeout=soon"),
            "invalid integer value \"soon\" for connection option \"connect_timeout\""
        );
        assert_eq!(
            err("sslrootcert=system sslmode=require"),
            "weak sslmode \"require\" may not be used with sslrootcert=system (use \"verify-full\")"
        );
        assert_eq!(
            err("sslnegotiation=direct"),
            "weak sslmode \"prefer\" may not be used with sslnegotiation=direct (use \"require\", \"verify-ca\", or \"verify-full\")"
        );
        assert_eq!(
            err("sslnegotiation=fast"),
            "invalid sslnegotiation value: \"fast\""
        );
        assert_eq!(
            err("gssencmode=require"),
            "gssencmode value \"require\" invalid when GSSAPI support is not compiled in"
        );
        assert_eq!(
            err("gssencmode=always"),
            "invalid gssencmode value: \"always\""
        );
        assert_eq!(
            err("load_balance_hosts=yes"),
            "invalid load_balance_hosts value: \"yes\""
        );
        assert_eq!(err("sslcertmode=yes"), "invalid sslcertmode value: \"yes\"");
        assert_eq!(
            err("service=mydb"),
            "connection option \"service\" is not supported by pgscram"
        );
    }

    #[test]
    fn scram_keys() {
        let key = STANDARD.encode([9u8; 32]);
        let c = resolve(&format!("scram_client_key={key} scram_server_key={key}")).unwrap();
        assert_eq!(c.scram_client_key.as_ref().unwrap().expose(), &[9u8; 32]);
        assert!(c.scram_server_key.is_some());
        let short = STANDARD.encode([1u8; 16]);
        assert_eq!(
            err(&format!("scram_client_key={short}")),
            "invalid SCRAM client key length: 16"
        );
        assert_eq!(
            err(&format!("scram_server_key={short}")),
            "invalid SCRAM server key length: 16"
        );
        assert_eq!(err("scram_client_key=***"), "invalid SCRAM client key");
        assert_eq!(err("scram_server_key=***"), "invalid SCRAM server key");
        let dbg = format!("{c:?}");
        assert!(!dbg.contains(&key) && dbg.contains("<redacted>"), "{dbg}");
    }

    #[test]
    fn small_settings() {
        let c = resolve("sslrootcert=system connect_timeout=' 30 ' fallback_application_name=fb client_encoding=UTF8 sslpassword=pw").unwrap();
        assert_eq!(c.sslmode, SslMode::VerifyFull);
        assert_eq!(c.connect_timeout, Some(Duration::from_secs(30)));
        assert_eq!(c.application_name.as_deref(), Some("fb"));
        assert_eq!(c.extra("client_encoding"), Some("UTF8"));
        assert_eq!(c.extra("host"), None);
        let dbg = format!("{c:?}");
        assert!(!dbg.contains("\"pw\""), "{dbg}");
        assert_eq!(resolve("connect_timeout=0").unwrap().connect_timeout, None);
        assert_eq!(resolve("connect_timeout=-5").unwrap().connect_timeout, None);
        assert_eq!(resolve("dbname='' user=u").unwrap().dbname, "u");
        assert_eq!(resolve("password=").unwrap().password, None);
    }

    #[test]
    fn pgpass_applies_per_host() {
        let pass = PgPass::parse("localhost:5432:*:osuser:sock\nh2:7:db:osuser:two\n*:*:*:*:any\n");
        let mut c = resolve("host=,h2,h3 port=,7,8 dbname=db").unwrap();
        c.apply_pgpass(&pass);
        let got: Vec<_> = c
            .hosts
            .iter()
            .map(|h| h.password.as_ref().map(|p| p.expose().to_owned()))
            .collect();
        assert_eq!(
            got,
            vec![Some("sock".into()), Some("two".into()), Some("any".into())]
        );
        assert_eq!(c.password_for(1).unwrap().expose(), "two");
        let mut given = resolve("password=given host=h2 port=7 dbname=db").unwrap();
        given.apply_pgpass(&pass);
        assert_eq!(given.password_for(0).unwrap().expose(), "given");
    }
}
