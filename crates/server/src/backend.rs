//! What serves a session once the server has authenticated and admitted the client: a
//! [`Backend`]. The embedded database ([`crate::engine::EngineBackend`]), the proxy
//! ([`crate::proxy::ProxyBackend`]) and a program's own backends implement it.
//!
//! The server decides everything a session starts with once, and hands it over in
//! [`SessionStart`]: the pid (the one in BackendKeyData, the log and
//! `pg_backend_pid()`), the role as the store returned it (looked up once per login),
//! the database and the startup parameters.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use pgscram_wire::{
    BackendKeyData, BackendMessage, CancelKey, ErrorFields, StartupMessage, TransactionStatus,
};

use crate::cancel::{CancelHandle, CancelRegistry};
use crate::config::PasswordEncryption;
use crate::reply::push;
use crate::shutdown::ShutdownSignal;
use crate::store::Role;
use crate::stream::{Conn, Transport};

/// Serves authenticated sessions.
#[async_trait::async_trait]
pub trait Backend: Send + Sync + 'static {
    /// Whether `name` is a database this backend serves. Asked after authentication,
    /// so the answer (PostgreSQL's 3D000) is never revealed to a client that has not
    /// proved who it is.
    fn has_database(&self, name: &str) -> bool;

    /// Serves one session until it ends. AuthenticationOk has been sent; the backend
    /// sends the rest of the greeting with [`Client::ready`] (or refuses with
    /// [`Client::refuse`]).
    async fn serve(&self, start: SessionStart, client: Client);

    /// Adds the backend's own figures, read now, to the metrics page (the proxy's
    /// pools). Label values should come from bounded sets.
    fn metrics(&self, _registry: &mut prometheus_client::registry::Registry) {}
}

/// Server-wide defaults a session starts with.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct SessionDefaults {
    /// `password_encryption` for CREATE/ALTER ROLE ... PASSWORD.
    pub password_encryption: PasswordEncryption,
    /// `scram_iterations` for new verifiers.
    pub scram_iterations: u32,
}

/// Everything a session starts with, decided once by the server.
#[non_exhaustive]
pub struct SessionStart {
    /// The backend pid: BackendKeyData, log lines and `pg_backend_pid()` all show it.
    pub pid: i32,
    /// The authenticated user.
    pub user: String,
    /// The database asked for (already checked with [`Backend::has_database`]).
    pub database: String,
    /// The role as the credential store returned it (login right, superuser, limits,
    /// memberships, secret).
    pub role: Role,
    /// The client's startup packet (its settings: application_name, options, ...).
    pub startup: StartupMessage,
    /// Whether the client connected over TLS.
    pub ssl: bool,
    /// What TLS negotiated, when it is up.
    pub tls: Option<crate::negotiate::TlsParameters>,
    /// The client's address; `None` on a Unix socket.
    pub peer: Option<SocketAddr>,
    /// Server-wide defaults for the session's settings.
    pub defaults: SessionDefaults,
    /// Which of the role's passwords authenticated (`None` for trust): during a
    /// rotation the proxy logs in upstream with the verifier the client matched.
    pub password_used: Option<crate::store::PasswordUsed>,
    /// What can log the client in elsewhere (the proxy's upstream). Zeroized when dropped.
    secrets: LoginSecrets,
}

/// What a login leaves that can log the client in elsewhere: password equivalents,
/// zeroized when dropped, taken by the backends that need them.
#[derive(Default)]
pub(crate) struct LoginSecrets {
    /// Recovered from a SCRAM proof.
    pub client_key: Option<pgscram_scram::ClientKey>,
    /// The cleartext password, after an md5 upgrade (`upgrade_md5_on_login`).
    pub password: Option<crate::store::Secret>,
    /// The md5 secret the client's md5 response was checked against.
    pub md5_secret: Option<pgscram_scram::md5::Md5Secret>,
}

impl SessionStart {
    pub(crate) fn new(
        pid: i32,
        role: Role,
        startup: StartupMessage,
        tls: Option<crate::negotiate::TlsParameters>,
        peer: Option<SocketAddr>,
        defaults: SessionDefaults,
        secrets: LoginSecrets,
    ) -> Self {
        SessionStart {
            pid,
            user: startup.user().to_owned(),
            database: startup.database().to_owned(),
            role,
            startup,
            ssl: tls.is_some(),
            tls,
            peer,
            defaults,
            password_used: None,
            secrets,
        }
    }

    /// Takes the ClientKey recovered from the client's SCRAM proof, if the login was
    /// SCRAM. Backends that have no use for it never take it; it is zeroized either way.
    pub fn take_client_key(&mut self) -> Option<pgscram_scram::ClientKey> {
        self.secrets.client_key.take()
    }

    /// Takes the cleartext password the client gave when its md5 secret was upgraded
    /// (`upgrade_md5_on_login`). Backends that have no use for it never take it; it is
    /// zeroized either way.
    pub fn take_password(&mut self) -> Option<crate::store::Secret> {
        self.secrets.password.take()
    }

    /// Takes the md5 secret the client proved it knows with an md5 response (a password
    /// equivalent for md5 logins: the proxy's md5 pass-through). Zeroized either way.
    pub fn take_md5_secret(&mut self) -> Option<pgscram_scram::md5::Md5Secret> {
        self.secrets.md5_secret.take()
    }
}

/// The authenticated client connection a backend serves.
pub struct Client {
    conn: Conn,
    pid: i32,
    cancel: Arc<CancelRegistry>,
    shutdown: ShutdownSignal,
}

/// Cancel requests for the session: [`Client::ready`] registers the session, and the
/// registration ends when this is dropped.
pub struct CancelSignal {
    handle: CancelHandle,
}

impl CancelSignal {
    /// Waits for the next CancelRequest that names this session's pid and key.
    pub async fn requested(&self) {
        self.handle.signal.notified().await;
    }

    pub(crate) fn notify(&self) -> &tokio::sync::Notify {
        &self.handle.signal
    }
}

impl Client {
    pub(crate) fn new(
        conn: Conn,
        pid: i32,
        cancel: Arc<CancelRegistry>,
        shutdown: ShutdownSignal,
    ) -> Self {
        Client {
            conn,
            pid,
            cancel,
            shutdown,
        }
    }

    /// The session's pid.
    pub fn pid(&self) -> i32 {
        self.pid
    }

    /// Resolves when the server shuts down: end the session then.
    pub fn shutdown_signal(&self) -> ShutdownSignal {
        self.shutdown.clone()
    }

    /// Finishes the greeting: ParameterStatus for each of `parameters`, BackendKeyData
    /// with a fresh cancel key, ReadyForQuery (idle). The session is cancellable while
    /// the returned signal lives.
    pub async fn ready<K: AsRef<str>, V: AsRef<str>>(
        &mut self,
        parameters: impl IntoIterator<Item = (K, V)>,
    ) -> io::Result<CancelSignal> {
        let key: [u8; 4] = crate::random::random_bytes()[..4]
            .try_into()
            .unwrap_or([0; 4]);
        let handle = self.cancel.register(self.pid, key);
        for (name, value) in parameters {
            pgscram_wire::encode_parameter_status(self.conn.out(), name.as_ref(), value.as_ref())
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?;
        }
        push(
            &mut self.conn,
            &BackendMessage::BackendKeyData(BackendKeyData {
                pid: self.pid,
                key: CancelKey::from_u32(u32::from_be_bytes(key)),
            }),
        )?;
        push(
            &mut self.conn,
            &BackendMessage::ReadyForQuery(TransactionStatus::Idle),
        )?;
        self.conn.flush().await?;
        Ok(CancelSignal { handle })
    }

    /// Ends the session with `error` (sent as is: give it FATAL severity).
    pub async fn refuse(mut self, error: ErrorFields) {
        tracing::error!(code = %error.code, "{}", error.message);
        let _ = crate::reply::error(&mut self.conn, error).await;
        self.conn.shutdown().await;
    }

    /// The raw connection and the bytes already read from it but not consumed (a
    /// pipelined first query), for backends that relay bytes. Anything still queued
    /// for the client (AuthenticationOk, if [`Client::ready`] was not called) is sent
    /// first.
    pub async fn into_stream(mut self) -> io::Result<(Box<dyn Transport>, Vec<u8>)> {
        self.conn.flush().await?;
        Ok(self.conn.into_parts())
    }

    pub(crate) fn conn(&mut self) -> &mut Conn {
        &mut self.conn
    }
}
