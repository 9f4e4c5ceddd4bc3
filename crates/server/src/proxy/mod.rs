//! `pgscram proxy`: the same front door as `serve`, in front of a real PostgreSQL.
//!
//! ```text
//! client ──SCRAM──▶ proxy (pg_hba, stored verifier, mock auth, throttling...)
//!                     │ ClientKey = ClientProof XOR ClientSignature
//!                     ▼
//!                   upstream PostgreSQL ◀──SCRAM with (ClientKey, ServerKey)── proxy
//!                     │ server signature verified, salt/iterations must match the verifier
//!                     ▼
//!   AuthenticationOk, upstream's ParameterStatus, our BackendKeyData ──▶ client
//!   then bytes both ways, untouched; CancelRequest routed to the upstream backend
//! ```
//!
//! No plaintext password is stored. For SCRAM roles no password equivalent is either:
//! the proxy keeps only verifiers (StoredKey, ServerKey), and the ClientKey it recovers
//! from the client's proof lives until the upstream login is done, then is zeroized.
//! With pooling, [`ClientKeyRetention`] decides: by default the user's pool keeps it
//! while it may need new server connections (zeroized once the pool has had no client
//! for `server_idle_timeout`), or it serves only the login that produced it.
//! md5 roles (an auth_file in the middle of a migration) are the exception their md5
//! secret already is: a password equivalent, used for md5 pass-through only after the
//! client's md5 response proved it knows it.

mod activity;
mod auth_file;
mod auth_query;
mod console;
mod metrics;
mod pool;
mod pooled;
mod relay;
mod settings;
mod statements;
mod upstream;

use std::hash::Hasher as _;
use std::sync::{Arc, OnceLock};

use pgscram_scram::ScramVerifier;
use pgscram_wire::{ErrorFields, SqlState};

use crate::backend::{Backend, Client, SessionStart};
use crate::store::{PasswordStore, PasswordUsed};

pub use auth_file::{AuthFileError, AuthFileStore};
pub use auth_query::{AuthQueryStore, CACHE_ENTRIES, DEFAULT_AUTH_QUERY, FETCH_TIMEOUT};
pub use console::DATABASE as CONSOLE_DATABASE;
pub use settings::{ClientKeyRetention, PoolMode, PoolSettings};

/// Reads the upstream's conninfo. Its user is only a template (each client logs in as
/// itself), so a missing user is not an error here.
pub fn upstream_config(conninfo: &str) -> Result<pgscram_client::Config, pgscram_client::Error> {
    let mut defaults = pgscram_auth::conninfo::Defaults::detect();
    defaults
        .os_user
        .get_or_insert_with(|| "postgres".to_owned());
    pgscram_client::Config::parse_with(conninfo, &|key: &str| std::env::var(key).ok(), &defaults)
}

/// Logs clients in upstream with their own SCRAM proof, then relays; with pooling,
/// serves them from pools of upstream connections (see [`PoolSettings`]).
pub struct ProxyBackend {
    upstream: pgscram_client::Config,
    connector: Arc<upstream::Connector>,
    pools: Option<Arc<pool::Pools>>,
    pruning: OnceLock<()>,
}

impl ProxyBackend {
    /// `upstream` names the server and its TLS and channel-binding settings; user,
    /// database and credentials are set per client. `store` is the server's credential
    /// store, told when a verifier proves stale.
    pub fn new(upstream: pgscram_client::Config, store: Arc<dyn PasswordStore>) -> Self {
        ProxyBackend {
            connector: Arc::new(upstream::Connector::new(&upstream, store)),
            upstream,
            pools: None,
            pruning: OnceLock::new(),
        }
    }

    /// Pools upstream connections per (database, user), as PgBouncer does, and opens
    /// the `pgscram` console to the users in `admin_users` and `stats_users`.
    pub fn with_pooling(mut self, settings: PoolSettings) -> Self {
        self.pools = Some(pool::Pools::new(settings, self.connector.clone()));
        self
    }

    /// The upstream login for this client: its own proof's ClientKey (or, for md5
    /// roles, what the client proved it knows), never anything stored.
    fn login_config(
        &self,
        start: &mut SessionStart,
    ) -> Result<pgscram_client::Config, ErrorFields> {
        let mut config = self.upstream.clone();
        config.set_user(&start.user);
        config.conn_mut().dbname = start.database.clone();
        if let Some(name) = start.startup.application_name() {
            config.conn_mut().application_name = Some(name.to_owned());
        }
        if let Some(client_key) = start.take_client_key() {
            // The verifier the client just proved itself against (the older one of a
            // rotation if that is what matched): the one lookup of this login.
            let verifier =
                matched_secret(start).and_then(|s| ScramVerifier::parse(s.expose()).ok());
            let Some(verifier) = verifier else {
                return Err(ErrorFields::fatal(
                    SqlState::INVALID_PASSWORD,
                    format!("password authentication failed for user \"{}\"", start.user),
                ));
            };
            config.set_scram_keys(client_key, verifier.server_key().clone());
            config.expect_scram_parameters(verifier.salt().to_vec(), verifier.iterations());
        } else if let Some(password) = start.take_password() {
            // An md5 role that gave its password to be upgraded (upgrade_md5_on_login):
            // logged in upstream with it. `password` is zeroized at the end of this
            // block, `config`'s copy when `config` is dropped.
            config.set_password(Some(password.expose()));
        } else if let Some(secret) = start.take_md5_secret() {
            // An md5 login: answered upstream with the md5 secret the client just proved
            // it knows, as PgBouncer does (md5 pass-through).
            config.set_md5_secret(secret);
        } else {
            return Err(ErrorFields::fatal(
                SqlState::INVALID_AUTHORIZATION_SPECIFICATION,
                "pgscram proxy logs in upstream with the client's proof; use scram-sha-256 (or md5 for md5 roles) in pg_hba.conf for this connection",
            ));
        }
        Ok(config)
    }
}

/// The stored secret the client's login matched: the role's newest, or the older one
/// of a rotation.
fn matched_secret(start: &SessionStart) -> Option<&crate::store::Secret> {
    match start.password_used {
        Some(PasswordUsed::Older) => start.role.older.as_ref().map(|o| &o.secret),
        _ => start.role.secret.as_ref(),
    }
}

/// A 64-bit digest under a key drawn once per process: no one outside can aim two
/// values at the same digest.
pub(crate) fn digest(value: impl std::hash::Hash) -> u64 {
    static KEYS: std::sync::LazyLock<std::hash::RandomState> =
        std::sync::LazyLock::new(std::hash::RandomState::new);
    let mut hasher = std::hash::BuildHasher::build_hasher(&*KEYS);
    value.hash(&mut hasher);
    hasher.finish()
}

/// Which credentials a pooled connection was opened with: a connection is handed only
/// to clients who proved themselves against the same stored secret.
fn fingerprint(start: &SessionStart) -> u64 {
    digest(matched_secret(start).map(|s| s.expose()))
}

#[async_trait::async_trait]
impl Backend for ProxyBackend {
    /// The upstream's database is the judge of which databases exist.
    fn has_database(&self, _name: &str) -> bool {
        true
    }

    fn metrics(&self, registry: &mut prometheus_client::registry::Registry) {
        if let Some(pools) = &self.pools {
            metrics::register(&pools.activity, registry);
        }
    }

    async fn serve(&self, mut start: SessionStart, mut client: Client) {
        if let Some(pools) = &self.pools
            && start.database == console::DATABASE
        {
            // No upstream login: the client's key is dropped (zeroized) unused.
            drop(start.take_client_key());
            return console::serve(&pools.settings, &pools.activity, &start, client).await;
        }
        if let Some(pools) = &self.pools {
            self.pruning.get_or_init(|| pools.start_pruning());
            let mut member = pools.join(&start.database, &start.user, fingerprint(&start));
            // A client that proved no password (trust) never rides on a kept key: it
            // needs a login of its own, which login_config refuses.
            if member.needs_login() || start.password_used.is_none() {
                match self.login_config(&mut start) {
                    Ok(config) => member.give_login(config),
                    Err(error) => return client.refuse(error).await,
                }
            }
            // Whatever the login did not take is zeroized here.
            drop((
                start.take_client_key(),
                start.take_password(),
                start.take_md5_secret(),
            ));
            let listed = pools.activity.client(activity::ClientFacts {
                user: &start.user,
                database: &start.database,
                peer: start.peer,
                tls: start.ssl,
                application_name: start.startup.application_name().unwrap_or(""),
            });
            let pooled = pooled::Pooled { member, listed };
            return pooled::serve(pools, pooled, &start.startup, client).await;
        }
        let config = match self.login_config(&mut start) {
            Ok(config) => config,
            Err(error) => return client.refuse(error).await,
        };
        let connected = self.connector.connect(&config, &start.user).await;
        // The ClientKey or password lives in `config`: dropping it zeroizes it, now that
        // the login is done.
        drop(config);
        let upstream = match connected {
            Ok(upstream) => upstream,
            Err(error) => return client.refuse(error).await,
        };
        let cancel_token = upstream.cancel_token();
        let relay = upstream.into_relay();
        let Ok(cancel) = client.ready(&relay.parameters).await else {
            return;
        };
        let mut shutdown = client.shutdown_signal();
        let Ok((stream, buffered)) = client.into_stream().await else {
            return;
        };
        tokio::select! {
            () = relay::run(
                stream,
                buffered,
                relay.stream,
                relay.buffered,
                cancel.notify(),
                cancel_token,
            ) => {}
            // Bytes are relayed untouched, so there is no message boundary to end on:
            // on shutdown both sides are closed.
            () = shutdown.requested() => {}
        }
    }
}
