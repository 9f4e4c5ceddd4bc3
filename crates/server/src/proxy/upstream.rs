//! Logging in to the upstream PostgreSQL, for the relay and for the pools alike.

use std::sync::Arc;

use pgscram_wire::{ErrorFields, SqlState};

use crate::store::PasswordStore;

/// Opens upstream connections and turns their failures into what the client hears.
pub(crate) struct Connector {
    store: Arc<dyn PasswordStore>,
    /// `host:port` of the upstream, for the console's listings.
    name: String,
}

impl Connector {
    pub fn new(upstream: &pgscram_client::Config, store: Arc<dyn PasswordStore>) -> Self {
        let name = upstream
            .conn()
            .hosts
            .first()
            .map_or_else(String::new, |h| format!("{}:{}", h.host, h.port));
        Connector { store, name }
    }

    /// The upstream as the console shows it.
    pub fn upstream_name(&self) -> &str {
        &self.name
    }

    /// Logs in upstream; a stale verifier is forgotten and named as such.
    pub async fn connect(
        &self,
        config: &pgscram_client::Config,
        user: &str,
    ) -> Result<pgscram_client::Connection, ErrorFields> {
        pgscram_client::connect_with(config).await.map_err(|error| {
            if matches!(
                error,
                pgscram_client::Error::Scram(pgscram_scram::ClientError::UnexpectedParameters)
            ) {
                self.store.invalidate(user);
                tracing::info!(
                    "the SCRAM verifier for role \"{user}\" is stale: update it from the upstream's pg_authid"
                );
            }
            upstream_error(user, &error)
        })
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
