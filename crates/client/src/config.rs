//! Connection settings: pgscram-auth's resolved libpq settings ([`ConnConfig`]), plus
//! what only the client decides (the SCRAM iteration cap, where certificates live).
//!
//! ```text
//! "host=db user=u" | "postgresql://..." ─ ConnConfig::from_conninfo (PG* env, defaults)
//!     ─ .pgpass ─▶ Config ─▶ connect
//! ```

use std::path::PathBuf;

use pgscram_auth::client_policy::ClientPolicy;
use pgscram_auth::conninfo::{ConnConfig, ConnInfoError, Defaults, SslMode};
use pgscram_auth::secret::Secret;
use pgscram_scram::client::DEFAULT_MAX_ITERATIONS;
use pgscram_scram::{ClientKey, ServerKey};
use zeroize::Zeroizing;

use crate::auth::Secrets;
use crate::error::Error;
use crate::tls::{Roots, TlsSettings, Verify};

/// The connection-string keyword of pgscram's iteration cap (not a libpq keyword;
/// environment variable `PGSCRAMMAXITERATIONS`).
pub const MAX_ITERATIONS_KEYWORD: &str = "scram_max_iterations";

/// Everything needed to open a connection.
#[derive(Debug, Clone)]
pub struct Config {
    conn: ConnConfig,
    max_iterations: u32,
    home: Option<PathBuf>,
    pgpass_warning: Option<String>,
    /// Keys set by a program (the proxy's pass-through), taking precedence over the
    /// base64 conninfo keywords.
    scram_keys: Option<(ClientKey, ServerKey)>,
    /// The salt and iteration count the server must offer (see `expect_scram_parameters`).
    expected_scram: Option<(Vec<u8>, u32)>,
    /// An md5 secret set by a program (the proxy's md5 pass-through).
    md5_secret: Option<pgscram_scram::md5::Md5Secret>,
}

impl Config {
    /// Reads a connection string (or URI) with the process environment (PGHOST,
    /// PGPASSWORD, ...) and libpq's defaults, then the password file.
    pub fn parse(conninfo: &str) -> Result<Config, Error> {
        let env = |key: &str| std::env::var(key).ok();
        Config::parse_with(conninfo, &env, &Defaults::detect())
    }

    /// [`Config::parse`] with an injected environment and defaults (for tests).
    pub fn parse_with(
        conninfo: &str,
        env: &dyn Fn(&str) -> Option<String>,
        defaults: &Defaults,
    ) -> Result<Config, Error> {
        let mut conn = ConnConfig::from_conninfo(conninfo, env, defaults)?;
        let pgpass_warning = conn.load_pgpass();
        let max_iterations = match conn.extra(MAX_ITERATIONS_KEYWORD) {
            None | Some("") => DEFAULT_MAX_ITERATIONS,
            Some(text) => parse_max_iterations(text)?,
        };
        let home = env("HOME")
            .filter(|h| !h.is_empty())
            .or_else(|| defaults.home_dir.clone())
            .map(PathBuf::from);
        Ok(Config {
            conn,
            max_iterations,
            home,
            pgpass_warning,
            scram_keys: None,
            expected_scram: None,
            md5_secret: None,
        })
    }

    /// Wraps settings resolved elsewhere.
    pub fn from_conn_config(conn: ConnConfig) -> Config {
        let home = std::env::var_os("HOME").map(PathBuf::from);
        Config {
            conn,
            max_iterations: DEFAULT_MAX_ITERATIONS,
            home,
            pgpass_warning: None,
            scram_keys: None,
            expected_scram: None,
            md5_secret: None,
        }
    }

    /// The libpq settings.
    pub fn conn(&self) -> &ConnConfig {
        &self.conn
    }

    /// The libpq settings, to change (user, password, require_auth ...).
    pub fn conn_mut(&mut self) -> &mut ConnConfig {
        &mut self.conn
    }

    /// Sets the user and forgets every password (a `.pgpass` password was for the old
    /// user).
    pub fn set_user(&mut self, user: &str) {
        self.conn.user = user.to_owned();
        self.set_password(None);
    }

    /// Sets the password for every host, replacing `.pgpass` entries.
    pub fn set_password(&mut self, password: Option<&str>) {
        self.conn.password = password.map(Secret::new);
        for host in &mut self.conn.hosts {
            host.password = None;
        }
    }

    /// Refuse servers asking for more SCRAM iterations than this.
    pub fn set_max_iterations(&mut self, limit: u32) {
        self.max_iterations = limit;
    }

    /// The cap on SCRAM iterations (default one million).
    pub fn max_iterations(&self) -> u32 {
        self.max_iterations
    }

    /// Logs in with these keys instead of a password (SCRAM pass-through). No password
    /// is used with them.
    pub fn set_scram_keys(&mut self, client_key: ClientKey, server_key: ServerKey) {
        self.set_password(None);
        self.scram_keys = Some((client_key, server_key));
    }

    /// Answers an md5 challenge with this md5 secret instead of a password (md5
    /// pass-through: the secret is what PostgreSQL's md5 login checks, so it is a
    /// password equivalent). SCRAM cannot be done with it. No password is used with it.
    pub fn set_md5_secret(&mut self, secret: pgscram_scram::md5::Md5Secret) {
        self.set_password(None);
        self.md5_secret = Some(secret);
    }

    /// Fails the login with a clear error when the server's SCRAM salt or iteration
    /// count differs from these (the stored verifier is stale).
    pub fn expect_scram_parameters(&mut self, salt: Vec<u8>, iterations: u32) {
        self.expected_scram = Some((salt, iterations));
    }

    pub(crate) fn expected_scram(&self) -> Option<(&[u8], u32)> {
        self.expected_scram
            .as_ref()
            .map(|(s, i)| (s.as_slice(), *i))
    }

    /// libpq's warning when the password file was ignored (readable by others).
    pub fn pgpass_warning(&self) -> Option<&str> {
        self.pgpass_warning.as_deref()
    }

    pub(crate) fn policy(&self) -> ClientPolicy {
        ClientPolicy {
            require_auth: self.conn.require_auth.clone(),
            channel_binding: self.conn.channel_binding,
        }
    }

    /// The secrets for host `index`: its password and the SCRAM keys, if given.
    pub(crate) fn secrets(&self, index: usize) -> Result<Secrets, Error> {
        let password = self
            .conn
            .password_for(index)
            .map(|p| Zeroizing::new(p.expose().as_bytes().to_vec()));
        let scram_keys = match (&self.conn.scram_client_key, &self.conn.scram_server_key) {
            _ if self.scram_keys.is_some() => self.scram_keys.clone(),
            (None, None) => None,
            (Some(client), Some(server)) => Some((
                ClientKey::from_bytes(*client.expose()),
                ServerKey::from_bytes(*server.expose()),
            )),
            _ => return Err(Error::ScramKeysIncomplete),
        };
        Ok(Secrets {
            password,
            scram_keys,
            md5_secret: self.md5_secret.clone(),
        })
    }

    /// The TLS settings for this sslmode, with libpq's rules: verify-ca and
    /// verify-full read `sslrootcert` (default `~/.postgresql/root.crt`), and
    /// `require` verifies the chain as verify-ca does when a root file is there.
    pub(crate) fn tls_settings(&self) -> TlsSettings {
        let roots = match self.conn.sslrootcert.as_deref() {
            Some("system") => Some(Roots::System),
            Some(path) => Some(Roots::File(PathBuf::from(path))),
            None => self
                .home
                .as_ref()
                .map(|h| Roots::File(h.join(".postgresql").join("root.crt"))),
        };
        let verify = match self.conn.sslmode {
            SslMode::VerifyFull => Verify::ChainAndName,
            SslMode::VerifyCa => Verify::Chain,
            SslMode::Require => match &roots {
                Some(Roots::File(path)) if path.exists() => Verify::Chain,
                _ => Verify::None,
            },
            SslMode::Disable | SslMode::Allow | SslMode::Prefer => Verify::None,
        };
        let client_cert = match (&self.conn.sslcert, &self.conn.sslkey) {
            (Some(cert), Some(key)) => Some((PathBuf::from(cert), PathBuf::from(key))),
            _ => None,
        };
        TlsSettings {
            verify,
            roots,
            client_cert,
        }
    }
}

fn parse_max_iterations(text: &str) -> Result<u32, Error> {
    text.trim()
        .parse::<u32>()
        .ok()
        .filter(|n| *n >= 1)
        .ok_or_else(|| {
            Error::Config(ConnInfoError::InvalidInteger {
                value: text.to_owned(),
                option: MAX_ITERATIONS_KEYWORD,
            })
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn defaults() -> Defaults {
        Defaults {
            os_user: Some("osuser".into()),
            socket_dir: None,
            home_dir: Some("/nonexistent-home".into()),
        }
    }

    fn parse(conninfo: &str, env: &[(&str, &str)]) -> Result<Config, Error> {
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let lookup = move |key: &str| env.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone());
        Config::parse_with(conninfo, &lookup, &defaults())
    }

    #[test]
    fn iteration_cap_from_conninfo_and_environment() {
        let config = parse("host=h user=u", &[]).unwrap();
        assert_eq!(config.max_iterations(), DEFAULT_MAX_ITERATIONS);
        let config = parse("host=h user=u scram_max_iterations=5000", &[]).unwrap();
        assert_eq!(config.max_iterations(), 5000);
        let config = parse("host=h user=u", &[("PGSCRAMMAXITERATIONS", "7000")]).unwrap();
        assert_eq!(config.max_iterations(), 7000);
        let config = parse("postgresql://u@h/db?scram_max_iterations=9000", &[]).unwrap();
        assert_eq!(config.max_iterations(), 9000);
        for bad in ["0", "-1", "many"] {
            let err = parse(&format!("host=h user=u scram_max_iterations={bad}"), &[]).unwrap_err();
            assert!(err.to_string().contains("scram_max_iterations"), "{err}");
        }
    }

    #[test]
    fn password_from_environment_and_override() {
        let mut config = parse("host=h user=u", &[("PGPASSWORD", "pw")]).unwrap();
        let secrets = config.secrets(0).unwrap();
        assert_eq!(
            secrets.password.as_deref().map(Vec::as_slice),
            Some(&b"pw"[..])
        );
        config.set_user("other");
        assert!(config.secrets(0).unwrap().password.is_none());
        config.set_password(Some("new"));
        let secrets = config.secrets(0).unwrap();
        assert_eq!(
            secrets.password.as_deref().map(Vec::as_slice),
            Some(&b"new"[..])
        );
        assert!(!format!("{secrets:?}").contains("new"));
        assert!(!format!("{config:?}").contains("new"));
    }

    #[test]
    fn scram_keys_come_in_pairs() {
        let key = "AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA=";
        let config = parse(&format!("host=h user=u scram_client_key={key}"), &[]).unwrap();
        assert!(matches!(config.secrets(0), Err(Error::ScramKeysIncomplete)));
        let config = parse(
            &format!("host=h user=u scram_client_key={key} scram_server_key={key}"),
            &[],
        )
        .unwrap();
        assert!(config.secrets(0).unwrap().scram_keys.is_some());
    }

    #[test]
    fn sslmode_decides_verification() {
        let tls = |c: &str| parse(c, &[]).unwrap().tls_settings();
        assert_eq!(tls("host=h user=u sslmode=require").verify, Verify::None);
        assert_eq!(tls("host=h user=u sslmode=verify-ca").verify, Verify::Chain);
        assert_eq!(
            tls("host=h user=u sslmode=verify-full").verify,
            Verify::ChainAndName
        );
        assert_eq!(
            tls("host=h user=u sslmode=verify-ca").roots,
            Some(Roots::File(PathBuf::from(
                "/nonexistent-home/.postgresql/root.crt"
            )))
        );
        assert_eq!(
            tls("host=h user=u sslrootcert=system").roots,
            Some(Roots::System)
        );
        // libpq: `require` with an existing root file verifies the chain.
        let root = std::env::temp_dir().join(format!("pgscram-config-{}.crt", std::process::id()));
        std::fs::write(&root, "x").unwrap();
        let settings = tls(&format!(
            "host=h user=u sslmode=require sslrootcert={}",
            root.display()
        ));
        assert_eq!(settings.verify, Verify::Chain);
        let _ = std::fs::remove_file(root);
    }
}
