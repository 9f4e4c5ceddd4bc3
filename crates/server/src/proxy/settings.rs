//! The pooler's settings, with PgBouncer's names and defaults where PgBouncer has them.

use std::time::Duration;

/// `pool_mode`: when a server connection goes back to the pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PoolMode {
    /// When the client disconnects (after `server_reset_query`).
    Session,
    /// At the end of each transaction (ReadyForQuery, idle, nothing pending).
    Transaction,
}

impl std::str::FromStr for PoolMode {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "session" => Ok(PoolMode::Session),
            "transaction" => Ok(PoolMode::Transaction),
            other => Err(format!(
                "invalid value for pool_mode: \"{other}\" (session or transaction)"
            )),
        }
    }
}

impl PoolMode {
    /// The setting's value as PgBouncer spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            PoolMode::Session => "session",
            PoolMode::Transaction => "transaction",
        }
    }
}

/// `client_key_retention`: how long the ClientKey recovered from a client's SCRAM proof
/// is kept to open server connections. The ClientKey is a password equivalent for
/// SCRAM (it logs in as the role anywhere the same verifier is stored), so keeping it
/// is a trade of exposure for pooling.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientKeyRetention {
    /// Kept by the (database, user) pool while it may still need new server
    /// connections: while it has clients, and for `server_idle_timeout` after the last
    /// one left (then zeroized). Lets a pool grow, refill after an upstream restart and
    /// keep `min_pool_size` without a client logging in at that moment.
    Pool,
    /// Used for the login that produced it and zeroized at once: server connections
    /// are opened only while a client logs in, and a client that later needs one waits
    /// for a connection to come back to the pool.
    Login,
}

impl std::str::FromStr for ClientKeyRetention {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "pool" => Ok(ClientKeyRetention::Pool),
            "login" => Ok(ClientKeyRetention::Login),
            other => Err(format!(
                "invalid value for client_key_retention: \"{other}\" (pool or login)"
            )),
        }
    }
}

/// Pooling settings, with PgBouncer's names and defaults.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct PoolSettings {
    /// `pool_mode`.
    pub mode: PoolMode,
    /// `default_pool_size`: server connections per (database, user).
    pub default_pool_size: usize,
    /// `min_pool_size`: server connections a pool keeps open, idle or not, while it
    /// holds a ClientKey to open them with.
    pub min_pool_size: usize,
    /// `query_wait_timeout`: how long a client waits for a server connection.
    pub query_wait_timeout: Duration,
    /// `server_idle_timeout`: an idle server connection is closed after this.
    pub server_idle_timeout: Duration,
    /// `server_lifetime`: a server connection is closed after this, when next idle.
    pub server_lifetime: Duration,
    /// `server_reset_query`: run before a connection goes back to the pool in session
    /// mode (PgBouncer runs none in transaction mode).
    pub server_reset_query: String,
    /// `max_prepared_statements`: named prepared statements kept per server connection
    /// (transaction mode prepares clients' statements transparently).
    pub max_prepared_statements: usize,
    /// `client_key_retention` (ours).
    pub client_key_retention: ClientKeyRetention,
    /// `admin_users`: who may use the `pgscram` console.
    pub admin_users: Vec<String>,
    /// `stats_users`: who may read the console's SHOW commands (today the console has
    /// only those, so the two lists grant the same).
    pub stats_users: Vec<String>,
}

impl Default for PoolSettings {
    fn default() -> Self {
        PoolSettings {
            mode: PoolMode::Session,
            default_pool_size: 20,
            min_pool_size: 0,
            query_wait_timeout: Duration::from_secs(120),
            server_idle_timeout: Duration::from_secs(600),
            server_lifetime: Duration::from_secs(3600),
            server_reset_query: "DISCARD ALL".to_owned(),
            max_prepared_statements: 200,
            client_key_retention: ClientKeyRetention::Pool,
            admin_users: Vec::new(),
            stats_users: Vec::new(),
        }
    }
}

impl PoolSettings {
    /// Sets one setting by PgBouncer's name; times are seconds or PostgreSQL units;
    /// user lists are comma-separated.
    pub fn set(&mut self, name: &str, value: &str) -> Result<(), String> {
        let count = |v: &str| {
            v.parse::<usize>()
                .map_err(|_| format!("invalid value for {name}: \"{v}\""))
        };
        let time = |v: &str| {
            crate::config::parse_time(v).map_err(|e| format!("invalid value for {name}: {e}"))
        };
        let users = |v: &str| {
            v.split(',')
                .map(str::trim)
                .filter(|u| !u.is_empty())
                .map(str::to_owned)
                .collect()
        };
        match name {
            "pool_mode" => self.mode = value.parse()?,
            "default_pool_size" => match count(value)? {
                0 => return Err("default_pool_size must be at least 1".to_owned()),
                n => self.default_pool_size = n,
            },
            "min_pool_size" => self.min_pool_size = count(value)?,
            "query_wait_timeout" => self.query_wait_timeout = time(value)?,
            "server_idle_timeout" => self.server_idle_timeout = time(value)?,
            "server_lifetime" => self.server_lifetime = time(value)?,
            "server_reset_query" => self.server_reset_query = value.to_owned(),
            "max_prepared_statements" => self.max_prepared_statements = count(value)?,
            "client_key_retention" => self.client_key_retention = value.parse()?,
            "admin_users" => self.admin_users = users(value),
            "stats_users" => self.stats_users = users(value),
            other => return Err(format!("unrecognized pool setting \"{other}\"")),
        }
        Ok(())
    }

    /// Checks what no single setting can: `min_pool_size` within `default_pool_size`.
    pub fn validate(&self) -> Result<(), String> {
        if self.min_pool_size > self.default_pool_size {
            return Err(format!(
                "min_pool_size ({}) must not exceed default_pool_size ({})",
                self.min_pool_size, self.default_pool_size
            ));
        }
        Ok(())
    }

    /// Whether `user` may use the console.
    pub fn console_user(&self, user: &str) -> bool {
        self.admin_users
            .iter()
            .chain(&self.stats_users)
            .any(|u| u == user)
    }

    /// The names [`PoolSettings::set`] takes.
    pub const NAMES: &'static [&'static str] = &[
        "pool_mode",
        "default_pool_size",
        "min_pool_size",
        "query_wait_timeout",
        "server_idle_timeout",
        "server_lifetime",
        "server_reset_query",
        "max_prepared_statements",
        "client_key_retention",
        "admin_users",
        "stats_users",
    ];
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_pgbouncer_names_and_refuses_nonsense() {
        let mut s = PoolSettings::default();
        s.set("min_pool_size", "3").unwrap();
        s.set("admin_users", "alice, bob,,").unwrap();
        s.set("client_key_retention", "login").unwrap();
        assert_eq!(s.min_pool_size, 3);
        assert_eq!(s.admin_users, ["alice", "bob"]);
        assert!(s.console_user("bob") && !s.console_user("mallory"));
        assert_eq!(s.client_key_retention, ClientKeyRetention::Login);
        assert!(s.set("client_key_retention", "forever").is_err());
        assert!(s.set("min_pool_size", "-1").is_err());
        s.set("default_pool_size", "2").unwrap();
        assert!(
            s.validate().is_err(),
            "min_pool_size above default_pool_size"
        );
        for name in PoolSettings::NAMES {
            assert!(
                !matches!(PoolSettings::default().set(name, ""), Err(e) if e.starts_with("unrecognized")),
                "{name}"
            );
        }
    }
}
