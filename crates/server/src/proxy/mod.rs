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
//! md5 roles (an auth_file in the middle of a migration) are the exception their md5
//! secret already is: a password equivalent, used for md5 pass-through only after the
//! client's md5 response proved it knows it.

mod auth_file;
mod auth_query;
mod relay;

use std::sync::Arc;

use pgscram_scram::ScramVerifier;
use pgscram_wire::{ErrorFields, SqlState};

use crate::backend::{Backend, Client, SessionStart};
use crate::store::{PasswordStore, PasswordUsed};

pub use auth_file::{AuthFileError, AuthFileStore};
pub use auth_query::{AuthQueryStore, CACHE_ENTRIES, DEFAULT_AUTH_QUERY, FETCH_TIMEOUT};

/// Reads the upstream's conninfo. Its user is only a template (each client logs in as
/// itself), so a missing user is not an error here.
pub fn upstream_config(conninfo: &str) -> Result<pgscram_client::Config, pgscram_client::Error> {
    let mut defaults = pgscram_auth::conninfo::Defaults::detect();
    defaults
        .os_user
        .get_or_insert_with(|| "postgres".to_owned());
    pgscram_client::Config::parse_with(conninfo, &|key: &str| std::env::var(key).ok(), &defaults)
}

/// Logs clients in upstream with their own SCRAM proof, then relays.
pub struct ProxyBackend {
    upstream: pgscram_client::Config,
    store: Arc<dyn PasswordStore>,
}

impl ProxyBackend {
    /// `upstream` names the server and its TLS and channel-binding settings; user,
    /// database and credentials are set per client. `store` is the server's credential
    /// store, told when a verifier proves stale.
    pub fn new(upstream: pgscram_client::Config, store: Arc<dyn PasswordStore>) -> Self {
        ProxyBackend { upstream, store }
    }
}

#[async_trait::async_trait]
impl Backend for ProxyBackend {
    /// The upstream's database is the judge of which databases exist.
    fn has_database(&self, _name: &str) -> bool {
        true
    }

    async fn serve(&self, mut start: SessionStart, mut client: Client) {
        let mut config = self.upstream.clone();
        config.set_user(&start.user);
        config.conn_mut().dbname = start.database.clone();
        if let Some(name) = start.startup.application_name() {
            config.conn_mut().application_name = Some(name.to_owned());
        }
        if let Some(client_key) = start.take_client_key() {
            // The verifier the client just proved itself against (the older one of a
            // rotation if that is what matched): the one lookup of this login.
            let secret = match start.password_used {
                Some(PasswordUsed::Older) => start.role.older.as_ref().map(|o| &o.secret),
                _ => start.role.secret.as_ref(),
            };
            let verifier = secret.and_then(|s| ScramVerifier::parse(s.expose()).ok());
            let Some(verifier) = verifier else {
                let error = ErrorFields::fatal(
                    SqlState::INVALID_PASSWORD,
                    format!("password authentication failed for user \"{}\"", start.user),
                );
                return client.refuse(error).await;
            };
            config.set_scram_keys(client_key, verifier.server_key().clone());
            config.expect_scram_parameters(verifier.salt().to_vec(), verifier.iterations());
        } else if let Some(password) = start.take_password() {
            // An md5 role that gave its password to be upgraded (upgrade_md5_on_login):
            // logged in upstream with it. `password` is zeroized at the end of this
            // block, `config`'s copy when it is dropped below.
            config.set_password(Some(password.expose()));
        } else if let Some(secret) = start.take_md5_secret() {
            // An md5 login: answered upstream with the md5 secret the client just proved
            // it knows, as PgBouncer does (md5 pass-through).
            config.set_md5_secret(secret);
        } else {
            let error = ErrorFields::fatal(
                SqlState::INVALID_AUTHORIZATION_SPECIFICATION,
                "pgscram proxy logs in upstream with the client's proof; use scram-sha-256 (or md5 for md5 roles) in pg_hba.conf for this connection",
            );
            return client.refuse(error).await;
        }
        let connected = pgscram_client::connect_with(&config).await;
        // The ClientKey or password lives in `config`: dropping it zeroizes it, now that
        // the login is done.
        drop(config);

        let upstream = match connected {
            Ok(upstream) => upstream,
            Err(error) => {
                if matches!(
                    error,
                    pgscram_client::Error::Scram(pgscram_scram::ClientError::UnexpectedParameters)
                ) {
                    self.store.invalidate(&start.user);
                    tracing::info!(
                        "the SCRAM verifier for role \"{}\" is stale: update it from the upstream's pg_authid",
                        start.user
                    );
                }
                return client.refuse(upstream_error(&start.user, &error)).await;
            }
        };
        let cancel_token = upstream.cancel_token();
        let relay = upstream.into_relay();
        let Ok(cancel) = client.ready(relay.parameters.clone()).await else {
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

/// What the client hears when the upstream login fails. Errors from the upstream
/// server reach the client unchanged; a stale verifier is named as such.
fn upstream_error(user: &str, error: &pgscram_client::Error) -> ErrorFields {
    match error {
        pgscram_client::Error::Server(fields) => (**fields).clone(),
        pgscram_client::Error::Scram(pgscram_scram::ClientError::UnexpectedParameters) => ErrorFields::fatal(
            SqlState::INVALID_AUTHORIZATION_SPECIFICATION,
            format!("the stored SCRAM verifier for role \"{user}\" is stale: the upstream server has a different salt or iteration count"),
        )
        .with_hint("Copy the role's current verifier (pg_authid.rolpassword) from the upstream server into the proxy's auth_file, then reload."),
        other => ErrorFields::fatal(SqlState::parse("08006").unwrap_or(SqlState::INTERNAL_ERROR), format!("could not log in to the upstream server: {other}")),
    }
}
