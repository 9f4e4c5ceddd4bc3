//! The server's settings, named and defaulted as PostgreSQL names and defaults them,
//! plus our hardening settings. One table ([`Settings::set`]) maps a setting's name to
//! its field, so a configuration file line `max_connections = 50` and a command-line
//! flag `--max-connections 50` are the same thing.

pub mod file;

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use crate::audit::{AuditFormat, AuditTarget};
use crate::throttle::ThrottleConfig;

/// How new passwords are hashed (`password_encryption`), and which exchange an
/// unknown role is mocked with under an `md5` rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum PasswordEncryption {
    /// SCRAM-SHA-256 verifiers (PostgreSQL's default since 14).
    #[default]
    ScramSha256,
    /// md5 secrets, for the middle of a migration only.
    Md5,
}

impl PasswordEncryption {
    /// The setting's value as PostgreSQL spells it.
    pub fn name(self) -> &'static str {
        match self {
            PasswordEncryption::ScramSha256 => "scram-sha-256",
            PasswordEncryption::Md5 => "md5",
        }
    }
}

/// Whether TLS is offered (`ssl`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Ssl {
    /// SSLRequest is answered with 'S' and TLS is set up.
    #[default]
    On,
    /// SSLRequest is answered with 'N'.
    Off,
}

/// Whether a role whose stored secret is md5 is moved to SCRAM at its next login
/// (`upgrade_md5_on_login`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum UpgradeMd5 {
    /// md5 roles authenticate as PostgreSQL lets them (md5 under an `md5` rule).
    #[default]
    Off,
    /// Over TLS, under an `md5` or `scram-sha-256` rule, an md5 role is asked for its
    /// password in cleartext; if it matches, the secret becomes a SCRAM verifier.
    On,
}

/// Whether each successful login is logged (`log_connections`, PostgreSQL's name and
/// default): `connection authenticated: identity="..." method=... (file:line)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum LogConnections {
    /// No line per login (failures are logged either way).
    #[default]
    Off,
    /// One line per successful login.
    On,
}

/// Every setting of a server. Defaults are safe: loopback only, TLS on (a self-signed
/// certificate when none is given), failed logins throttled.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Settings {
    /// TCP addresses (`listen`, or `listen_addresses` with `port`). Default 127.0.0.1:5432.
    pub listen: Vec<SocketAddr>,
    /// Directory for the Unix socket `.s.PGSQL.<port>` (`unix_socket_directories`).
    pub unix_socket_dir: Option<PathBuf>,
    /// Where pg_hba.conf, the certificate and the mock secret live when no other
    /// source is given (`data_directory`).
    pub data_dir: Option<PathBuf>,
    /// pg_hba.conf (`hba_file`); default `<data_dir>/pg_hba.conf`, created on first start.
    pub hba_file: Option<PathBuf>,
    /// Offer TLS (`ssl`).
    pub ssl: Ssl,
    /// Certificate chain, PEM (`ssl_cert_file`); default `<data_dir>/server.crt`.
    pub ssl_cert_file: Option<PathBuf>,
    /// Private key, PEM (`ssl_key_file`); default `<data_dir>/server.key`.
    pub ssl_key_file: Option<PathBuf>,
    /// Covers the startup packet, the TLS handshake and the whole exchange.
    pub authentication_timeout: Duration,
    /// Client connections at once (`max_connections`).
    pub max_connections: usize,
    /// `password_encryption`.
    pub password_encryption: PasswordEncryption,
    /// `scram_iterations`; mock verifiers use it too.
    pub scram_iterations: u32,
    /// PBKDF2 computations at once (cleartext logins, CREATE ROLE ... PASSWORD).
    pub hash_workers: usize,
    /// Connections in TLS negotiation + authentication at once.
    pub max_handshakes: usize,
    /// Connections not yet authenticated from one client address (IPv6: one /64);
    /// 0: no cap. Authenticated sessions are never capped per address.
    pub max_connections_per_address: usize,
    /// Connections not yet authenticated, from all addresses.
    pub max_pending_connections: usize,
    /// Delays before failed logins' errors.
    pub throttle: ThrottleConfig,
    /// One event per attempt, if set (`audit_log`).
    pub audit_log: Option<AuditTarget>,
    /// `audit_format`: text or json.
    pub audit_format: AuditFormat,
    /// Prometheus metrics over HTTP at `/metrics`, if set.
    pub metrics_listen: Option<SocketAddr>,
    /// How long a shutdown waits for sessions to end before cutting them.
    pub shutdown_grace: Duration,
    /// `upgrade_md5_on_login`: move md5 roles to SCRAM as they log in over TLS.
    pub upgrade_md5_on_login: UpgradeMd5,
    /// `log_connections`: a log line for every successful login.
    pub log_connections: LogConnections,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            listen: vec![SocketAddr::from(([127, 0, 0, 1], 5432))],
            unix_socket_dir: None,
            data_dir: None,
            hba_file: None,
            ssl: Ssl::On,
            ssl_cert_file: None,
            ssl_key_file: None,
            authentication_timeout: Duration::from_secs(60),
            max_connections: 100,
            password_encryption: PasswordEncryption::ScramSha256,
            scram_iterations: pgscram_scram::DEFAULT_ITERATIONS,
            hash_workers: std::thread::available_parallelism().map_or(2, |n| n.get()),
            max_handshakes: 64,
            max_connections_per_address: 16,
            max_pending_connections: 256,
            throttle: ThrottleConfig::default(),
            audit_log: None,
            audit_format: AuditFormat::Text,
            metrics_listen: None,
            shutdown_grace: Duration::from_secs(5),
            upgrade_md5_on_login: UpgradeMd5::Off,
            log_connections: LogConnections::Off,
        }
    }
}

/// Why a setting was refused. Worded as PostgreSQL words it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SettingError {
    /// No setting has this name.
    Unknown(String),
    /// The value does not fit the setting.
    Invalid {
        /// The setting.
        name: String,
        /// What is wrong (never the value of a secret: no setting holds one).
        message: String,
    },
}

impl std::fmt::Display for SettingError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SettingError::Unknown(name) => {
                write!(f, "unrecognized configuration parameter \"{name}\"")
            }
            SettingError::Invalid { name, message } => {
                write!(f, "invalid value for parameter \"{name}\": {message}")
            }
        }
    }
}

impl std::error::Error for SettingError {}

/// The names [`Settings::set`] takes, with whether a change needs a restart (as in
/// PostgreSQL, where listening sockets and shared sizes are fixed at start).
pub const SETTINGS: &[(&str, Context)] = &[
    ("listen", Context::Restart),
    ("listen_addresses", Context::Restart),
    ("port", Context::Restart),
    ("unix_socket_directories", Context::Restart),
    ("data_directory", Context::Restart),
    ("hba_file", Context::Restart),
    ("ssl", Context::Restart),
    ("ssl_cert_file", Context::Restart),
    ("ssl_key_file", Context::Restart),
    ("authentication_timeout", Context::Reload),
    ("max_connections", Context::Restart),
    ("password_encryption", Context::Reload),
    ("scram_iterations", Context::Reload),
    ("hash_workers", Context::Restart),
    ("max_handshakes", Context::Restart),
    ("max_connections_per_address", Context::Reload),
    ("max_pending_connections", Context::Reload),
    ("throttle_delay", Context::Restart),
    ("throttle_max_delay", Context::Restart),
    ("throttle_half_life", Context::Restart),
    ("throttle_slots", Context::Restart),
    ("audit_log", Context::Restart),
    ("audit_format", Context::Restart),
    ("metrics_listen", Context::Restart),
    ("shutdown_grace", Context::Reload),
    ("upgrade_md5_on_login", Context::Reload),
    ("log_connections", Context::Reload),
];

/// When a changed setting takes effect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Context {
    /// On reload (SIGHUP).
    Reload,
    /// Only at the next start; a reload logs that the change was not applied.
    Restart,
}

impl Settings {
    /// Sets the setting `name` from its text form, as a configuration file or a flag
    /// gives it. Times take PostgreSQL's units (`ms`, `s`, `min`, `h`, `d`); a bare
    /// number is in the setting's own unit (seconds, or milliseconds for
    /// `throttle_delay` and `throttle_max_delay`).
    pub fn set(&mut self, name: &str, value: &str) -> Result<(), SettingError> {
        let invalid = |message: String| SettingError::Invalid {
            name: name.to_owned(),
            message,
        };
        match name {
            "listen" => {
                self.listen = list(value)
                    .map(|item| {
                        item.parse::<SocketAddr>()
                            .map_err(|_| invalid(format!("\"{item}\" is not ADDR:PORT")))
                    })
                    .collect::<Result<_, _>>()?;
            }
            "listen_addresses" => {
                let port = self.listen.first().map_or(5432, SocketAddr::port);
                let mut addrs = Vec::new();
                for item in list(value) {
                    match item {
                        "*" => {
                            addrs.push(SocketAddr::from(([0, 0, 0, 0], port)));
                            addrs.push(SocketAddr::from(([0u16; 8], port)));
                        }
                        "localhost" => addrs.push(SocketAddr::from(([127, 0, 0, 1], port))),
                        ip => addrs.push(SocketAddr::new(
                            ip.parse::<IpAddr>()
                                .map_err(|_| invalid(format!("\"{ip}\" is not an IP address")))?,
                            port,
                        )),
                    }
                }
                self.listen = addrs;
            }
            "port" => {
                let port: u16 = number(value).map_err(invalid)?;
                for addr in &mut self.listen {
                    addr.set_port(port);
                }
            }
            "unix_socket_directories" => {
                self.unix_socket_dir = list(value).next().map(PathBuf::from);
            }
            "data_directory" => self.data_dir = path(value),
            "hba_file" => self.hba_file = path(value),
            "ssl" => {
                self.ssl = if boolean(value).map_err(invalid)? {
                    Ssl::On
                } else {
                    Ssl::Off
                }
            }
            "ssl_cert_file" => self.ssl_cert_file = path(value),
            "ssl_key_file" => self.ssl_key_file = path(value),
            "authentication_timeout" => {
                let timeout = duration(value, Unit::Seconds).map_err(invalid)?;
                if !(Duration::from_secs(1)..=Duration::from_secs(600)).contains(&timeout) {
                    return Err(invalid("must be between 1s and 600s".to_owned()));
                }
                self.authentication_timeout = timeout;
            }
            "max_connections" => self.max_connections = positive(value).map_err(invalid)?,
            "password_encryption" => {
                self.password_encryption = match value {
                    "scram-sha-256" => PasswordEncryption::ScramSha256,
                    "md5" => PasswordEncryption::Md5,
                    _ => return Err(invalid("use scram-sha-256 or md5".to_owned())),
                }
            }
            "scram_iterations" => {
                let n: u32 = number(value).map_err(invalid)?;
                if n == 0 || n > pgscram_scram::verifier::MAX_ITERATIONS {
                    return Err(invalid("must be between 1 and 2147483647".to_owned()));
                }
                self.scram_iterations = n;
            }
            "hash_workers" => self.hash_workers = positive(value).map_err(invalid)?,
            "max_handshakes" => self.max_handshakes = positive(value).map_err(invalid)?,
            "max_connections_per_address" => {
                self.max_connections_per_address = number(value).map_err(invalid)?
            }
            "max_pending_connections" => {
                self.max_pending_connections = positive(value).map_err(invalid)?
            }
            "throttle_delay" => {
                self.throttle.base_delay = duration(value, Unit::Millis).map_err(invalid)?
            }
            "throttle_max_delay" => {
                self.throttle.max_delay = duration(value, Unit::Millis).map_err(invalid)?
            }
            "throttle_half_life" => {
                let half_life = duration(value, Unit::Seconds).map_err(invalid)?;
                if half_life < Duration::from_secs(1) {
                    return Err(invalid("must be at least 1s".to_owned()));
                }
                self.throttle.half_life = half_life;
            }
            "throttle_slots" => {
                let n: usize = number(value).map_err(invalid)?;
                if !(crate::throttle::WAYS..=1 << 24).contains(&n) {
                    return Err(invalid("must be between 4 and 16777216".to_owned()));
                }
                self.throttle.slots = n;
            }
            "audit_log" => {
                self.audit_log = match value {
                    "" => None,
                    "-" => Some(AuditTarget::Stdout),
                    file => Some(AuditTarget::File(PathBuf::from(file))),
                }
            }
            "audit_format" => self.audit_format = value.parse().map_err(invalid)?,
            "metrics_listen" => {
                self.metrics_listen = match value {
                    "" => None,
                    addr => Some(
                        addr.parse()
                            .map_err(|_| invalid(format!("\"{addr}\" is not ADDR:PORT")))?,
                    ),
                }
            }
            "shutdown_grace" => {
                self.shutdown_grace = duration(value, Unit::Seconds).map_err(invalid)?
            }
            "upgrade_md5_on_login" => {
                self.upgrade_md5_on_login = if boolean(value).map_err(invalid)? {
                    UpgradeMd5::On
                } else {
                    UpgradeMd5::Off
                }
            }
            "log_connections" => {
                self.log_connections = if boolean(value).map_err(invalid)? {
                    LogConnections::On
                } else {
                    LogConnections::Off
                }
            }
            _ => return Err(SettingError::Unknown(name.to_owned())),
        }
        Ok(())
    }

    /// Checks settings that depend on each other.
    pub fn validate(&self) -> Result<(), SettingError> {
        let invalid = |name: &str, message: &str| SettingError::Invalid {
            name: name.to_owned(),
            message: message.to_owned(),
        };
        if self.throttle.max_delay < self.throttle.base_delay {
            return Err(invalid(
                "throttle_max_delay",
                "must not be below throttle_delay",
            ));
        }
        if self.ssl_cert_file.is_some() != self.ssl_key_file.is_some() {
            return Err(invalid(
                "ssl_cert_file",
                "ssl_cert_file and ssl_key_file go together",
            ));
        }
        if self.listen.is_empty() && self.unix_socket_dir.is_none() {
            return Err(invalid("listen", "nothing to listen on"));
        }
        Ok(())
    }

    /// The pg_hba.conf to read: `hba_file`, else `<data_dir>/pg_hba.conf`.
    pub fn hba_path(&self) -> Option<PathBuf> {
        self.hba_file
            .clone()
            .or_else(|| self.data_dir.as_ref().map(|d| d.join("pg_hba.conf")))
    }

    /// What a reload applies: `next`, with every restart-only setting kept as in
    /// `self`; and the names of those that differ (the changes a reload cannot apply).
    /// One list of restart-only fields serves both, so they cannot disagree.
    pub(crate) fn reload_to(&self, next: &Settings) -> (Settings, Vec<&'static str>) {
        let mut applied = next.clone();
        let mut kept = Vec::new();
        macro_rules! restart_only {
            ($($name:literal => $field:ident),* $(,)?) => {$(
                if applied.$field != self.$field {
                    kept.push($name);
                    applied.$field = self.$field.clone();
                }
            )*};
        }
        restart_only! {
            "listen_addresses" => listen,
            "unix_socket_directories" => unix_socket_dir,
            "data_directory" => data_dir,
            "hba_file" => hba_file,
            "ssl" => ssl,
            "ssl_cert_file" => ssl_cert_file,
            "ssl_key_file" => ssl_key_file,
            "max_connections" => max_connections,
            "hash_workers" => hash_workers,
            "max_handshakes" => max_handshakes,
            "throttle_delay" => throttle,
            "audit_log" => audit_log,
            "audit_format" => audit_format,
            "metrics_listen" => metrics_listen,
        }
        (applied, kept)
    }
}

/// Comma-separated items, trimmed, empty ones dropped.
fn list(value: &str) -> impl Iterator<Item = &str> {
    value.split(',').map(str::trim).filter(|s| !s.is_empty())
}

fn path(value: &str) -> Option<PathBuf> {
    (!value.is_empty()).then(|| PathBuf::from(value))
}

fn number<T: std::str::FromStr>(value: &str) -> Result<T, String> {
    value
        .trim()
        .parse()
        .map_err(|_| format!("\"{value}\" is not a valid number"))
}

fn positive(value: &str) -> Result<usize, String> {
    match number(value)? {
        0 => Err("must be at least 1".to_owned()),
        n => Ok(n),
    }
}

/// PostgreSQL's boolean spellings.
fn boolean(value: &str) -> Result<bool, String> {
    match value.to_ascii_lowercase().as_str() {
        "on" | "true" | "yes" | "1" | "t" | "y" => Ok(true),
        "off" | "false" | "no" | "0" | "f" | "n" => Ok(false),
        _ => Err(format!("\"{value}\" requires a Boolean value")),
    }
}

#[derive(Clone, Copy)]
enum Unit {
    Millis,
    Seconds,
}

/// A time with PostgreSQL's units (`250ms`, `30s`, `5min`, `1h`, `7d`); a bare number
/// is seconds. For tools that take a time as PostgreSQL settings do.
pub fn parse_time(value: &str) -> Result<Duration, String> {
    duration(value, Unit::Seconds)
}

/// A time with PostgreSQL's units: `250ms`, `30s`, `5min`, `1h`, `1d`, or a bare
/// number in `default`.
fn duration(value: &str, default: Unit) -> Result<Duration, String> {
    let text = value.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, unit) = text.split_at(split);
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("\"{value}\" is not a valid time"))?;
    let millis = match (unit.trim(), default) {
        ("", Unit::Millis) | ("ms", _) => n,
        ("", Unit::Seconds) | ("s", _) => n.saturating_mul(1000),
        ("min", _) => n.saturating_mul(60_000),
        ("h", _) => n.saturating_mul(3_600_000),
        ("d", _) => n.saturating_mul(86_400_000),
        (other, _) => {
            return Err(format!(
                "invalid unit \"{other}\": valid units are \"ms\", \"s\", \"min\", \"h\", and \"d\""
            ));
        }
    };
    Ok(Duration::from_millis(millis))
}

/// The pg_hba.conf written on first start: SCRAM everywhere, loopback only.
pub const DEFAULT_HBA: &str = "\
# pg_hba.conf written by pgscram on first start. Same syntax as PostgreSQL's.
# TYPE  DATABASE  USER  ADDRESS        METHOD
local   all       all                  scram-sha-256
host    all       all   127.0.0.1/32   scram-sha-256
host    all       all   ::1/128        scram-sha-256
";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_values_and_units() {
        let mut s = Settings::default();
        s.set("port", "6543").unwrap();
        assert_eq!(s.listen, vec!["127.0.0.1:6543".parse().unwrap()]);
        s.set("listen_addresses", "localhost, ::1").unwrap();
        assert_eq!(
            s.listen,
            vec![
                "127.0.0.1:6543".parse().unwrap(),
                "[::1]:6543".parse().unwrap()
            ]
        );
        s.set("authentication_timeout", "1min").unwrap();
        assert_eq!(s.authentication_timeout, Duration::from_secs(60));
        s.set("authentication_timeout", "5").unwrap();
        assert_eq!(s.authentication_timeout, Duration::from_secs(5));
        s.set("throttle_delay", "250").unwrap();
        assert_eq!(s.throttle.base_delay, Duration::from_millis(250));
        s.set("throttle_max_delay", "2s").unwrap();
        assert_eq!(s.throttle.max_delay, Duration::from_secs(2));
        s.set("ssl", "off").unwrap();
        assert_eq!(s.ssl, Ssl::Off);
        s.set("password_encryption", "md5").unwrap();
        assert_eq!(s.password_encryption, PasswordEncryption::Md5);
        assert_eq!(s.log_connections, LogConnections::Off);
        s.set("log_connections", "on").unwrap();
        assert_eq!(s.log_connections, LogConnections::On);
        s.validate().unwrap();
    }

    #[test]
    fn bad_values_are_refused_with_the_name() {
        let mut s = Settings::default();
        let e = s.set("max_connections", "lots").unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid value for parameter \"max_connections\": \"lots\" is not a valid number"
        );
        assert!(matches!(
            s.set("max_conections", "1"),
            Err(SettingError::Unknown(_))
        ));
        assert!(s.set("authentication_timeout", "0").is_err());
        assert!(s.set("authentication_timeout", "10 fortnights").is_err());
        assert!(s.set("scram_iterations", "0").is_err());
        assert!(s.set("throttle_slots", "2").is_err());
        assert!(s.set("ssl", "maybe").is_err());
        s.set("throttle_delay", "2000").unwrap();
        s.set("throttle_max_delay", "1000").unwrap();
        assert!(s.validate().is_err());
        // Every listed name is one `set` knows.
        for (name, _) in SETTINGS {
            let mut probe = Settings::default();
            assert!(
                !matches!(probe.set(name, "x"), Err(SettingError::Unknown(_))),
                "{name}"
            );
        }
    }

    #[test]
    fn a_reload_applies_only_reloadable_settings() {
        let old = Settings::default();
        let mut next = old.clone();
        next.set("authentication_timeout", "10s").unwrap();
        next.set("max_connections", "5").unwrap();
        let (applied, not_applied) = old.reload_to(&next);
        assert_eq!(not_applied, vec!["max_connections"]);
        assert_eq!(applied.authentication_timeout, Duration::from_secs(10));
        assert_eq!(applied.max_connections, 100);
    }
}
