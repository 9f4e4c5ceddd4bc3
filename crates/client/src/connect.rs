//! Opening a connection: for each host (and each address of a host name), the
//! transport, the SSLRequest dance `sslmode` asks for, the StartupMessage, the
//! authentication phase, and the messages up to the first ReadyForQuery.
//!
//! ```text
//! disable   plain
//! allow     plain; on a server error, again with TLS
//! prefer    SSLRequest: 'S' TLS | 'N' plain; a failed handshake, again plain
//! require+  SSLRequest: 'S' TLS | 'N' error
//! ```
//!
//! Unix sockets never use TLS (libpq does the same: the socket is local).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use pgscram_auth::conninfo::{HostKind, HostTarget, SslMode, TargetSessionAttrs};
use pgscram_wire::{BackendMessage, SslResponse, StartupMessage, StartupRequest};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpStream, UnixStream};
use tokio_rustls::TlsConnector;

use crate::auth::{Login, authenticate};
use crate::config::Config;
use crate::connection::{CancelTarget, Connection, Negotiated, TlsInfo};
use crate::error::{Error, ProtocolError};
use crate::stream::{AUTH_MESSAGE_LIMIT, Framed, Stream};
use crate::tls::{self, TlsError};

/// Connects with a connection string or URI (see [`Config::parse`]).
pub async fn connect(conninfo: &str) -> Result<Connection, Error> {
    connect_with(&Config::parse(conninfo)?).await
}

/// Connects with prepared settings: tries each host in order, as libpq does, and
/// returns the first connection that is ready for queries.
pub async fn connect_with(config: &Config) -> Result<Connection, Error> {
    let tls_config = match config.conn().sslmode {
        SslMode::Disable => None,
        _ => Some(tls::client_config(&config.tls_settings())?),
    };
    let hosts = &config.conn().hosts;
    let mut attempts = Vec::new();
    for (index, host) in hosts.iter().enumerate() {
        let attempt = connect_host(config, index, host, tls_config.clone());
        let result = match config.conn().connect_timeout {
            Some(limit) => tokio::time::timeout(limit, attempt)
                .await
                .unwrap_or(Err(Error::Timeout)),
            None => attempt.await,
        };
        match result {
            Ok(connection) => return Ok(connection),
            Err(error) if hosts.len() == 1 || !error.try_next_host() => return Err(error),
            Err(error) => attempts.push((describe(host), error)),
        }
    }
    Err(Error::AllHostsFailed(attempts))
}

/// libpq's way of naming a server in error messages.
fn describe(host: &HostTarget) -> String {
    match host.kind {
        HostKind::UnixSocket => format!("on socket \"{}\"", socket_path(host).display()),
        HostKind::Name => format!("at \"{}\", port {}", host.host, host.port),
        HostKind::Address => {
            let addr = host.hostaddr.map(|a| a.to_string()).unwrap_or_default();
            if host.host.is_empty() {
                format!("at \"{addr}\", port {}", host.port)
            } else {
                format!("at \"{}\" ({addr}), port {}", host.host, host.port)
            }
        }
    }
}

fn socket_path(host: &HostTarget) -> PathBuf {
    PathBuf::from(&host.host).join(format!(".s.PGSQL.{}", host.port))
}

async fn connect_host(
    config: &Config,
    index: usize,
    host: &HostTarget,
    tls_config: Option<Arc<rustls::ClientConfig>>,
) -> Result<Connection, Error> {
    match host.kind {
        HostKind::UnixSocket => {
            let path = socket_path(host);
            if host.host.starts_with('@') {
                return Err(Error::Connect {
                    target: describe(host),
                    error: std::io::Error::new(
                        std::io::ErrorKind::Unsupported,
                        "abstract Unix sockets are not supported",
                    ),
                });
            }
            let socket = UnixStream::connect(&path)
                .await
                .map_err(|error| Error::Connect {
                    target: describe(host),
                    error,
                })?;
            let target = CancelTarget::Unix(path);
            start(config, index, Stream::Unix(socket), target).await
        }
        HostKind::Name | HostKind::Address => {
            let addresses: Vec<SocketAddr> = match host.hostaddr {
                Some(ip) => vec![SocketAddr::new(ip, host.port)],
                None => tokio::net::lookup_host((host.host.as_str(), host.port))
                    .await
                    .map_err(|error| Error::Connect {
                        target: format!("\"{}\"", host.host),
                        error: std::io::Error::new(
                            error.kind(),
                            format!("could not translate host name to address: {error}"),
                        ),
                    })?
                    .collect(),
            };
            let mut last = None;
            for address in addresses {
                match connect_tcp(config, index, host, address, tls_config.clone()).await {
                    Ok(connection) => return Ok(connection),
                    Err(error) if !error.try_next_host() => return Err(error),
                    Err(error) => last = Some(error),
                }
            }
            Err(last.unwrap_or_else(|| Error::Connect {
                target: describe(host),
                error: std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    "host name resolved to no address",
                ),
            }))
        }
    }
}

async fn connect_tcp(
    config: &Config,
    index: usize,
    host: &HostTarget,
    address: SocketAddr,
    tls_config: Option<Arc<rustls::ClientConfig>>,
) -> Result<Connection, Error> {
    let target = CancelTarget::Tcp(address);
    let plain = || async {
        let socket = open_tcp(host, address).await?;
        start(config, index, Stream::Tcp(socket), target.clone()).await
    };
    let Some(tls_config) = tls_config else {
        return plain().await;
    };
    let encrypted = |required: bool| {
        let tls_config = tls_config.clone();
        let target = target.clone();
        async move {
            let stream = negotiate_tls(host, address, tls_config, required).await?;
            start(config, index, stream, target).await
        }
    };
    match config.conn().sslmode {
        SslMode::Disable => plain().await,
        SslMode::Allow => match plain().await {
            Err(Error::Server(_)) => encrypted(true).await,
            other => other,
        },
        SslMode::Prefer => match encrypted(false).await {
            Err(Error::Tls(TlsError::Handshake(_))) => plain().await,
            other => other,
        },
        SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull => encrypted(true).await,
    }
}

async fn open_tcp(host: &HostTarget, address: SocketAddr) -> Result<TcpStream, Error> {
    let socket = TcpStream::connect(address)
        .await
        .map_err(|error| Error::Connect {
            target: tcp_target(host, address),
            error,
        })?;
    // Small messages, request/response: do not wait to fill segments.
    let _ = socket.set_nodelay(true);
    Ok(socket)
}

fn tcp_target(host: &HostTarget, address: SocketAddr) -> String {
    if host.host.is_empty() || host.host == address.ip().to_string() {
        format!("at \"{}\", port {}", address.ip(), address.port())
    } else {
        format!(
            "at \"{}\" ({}), port {}",
            host.host,
            address.ip(),
            address.port()
        )
    }
}

/// Sends SSLRequest and, on 'S', runs the handshake. On 'N' returns the plain stream
/// unless TLS is `required`.
async fn negotiate_tls(
    host: &HostTarget,
    address: SocketAddr,
    tls_config: Arc<rustls::ClientConfig>,
    required: bool,
) -> Result<Stream, Error> {
    let mut socket = open_tcp(host, address).await?;
    let mut request = Vec::with_capacity(8);
    StartupRequest::SslRequest.encode(&mut request)?;
    socket.write_all(&request).await.map_err(Error::Io)?;
    let mut answer = [0u8; 1];
    match socket.read_exact(&mut answer).await {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Err(Error::Closed),
        Err(e) => return Err(Error::Io(e)),
    }
    match SslResponse::from_byte(answer[0]) {
        Ok(SslResponse::Accepted) => {}
        Ok(SslResponse::Refused) if required => return Err(TlsError::NotSupportedByServer.into()),
        Ok(SslResponse::Refused) => return Ok(Stream::Tcp(socket)),
        Err(_) => return Err(TlsError::InvalidResponse(answer[0]).into()),
    }
    // Anything already waiting was sent before the handshake, so it is not protected
    // by TLS: refuse it rather than let it be taken as part of the session
    // (CVE-2021-23222's client side).
    let mut probe = [0u8; 1];
    match socket.try_read(&mut probe) {
        Ok(0) => return Err(Error::Closed),
        Ok(_) => return Err(TlsError::UnencryptedData.into()),
        Err(_) => {}
    }
    let name_source = if host.host.is_empty() || host.kind == HostKind::UnixSocket {
        address.ip().to_string()
    } else {
        host.host.clone()
    };
    let server_name = tls::server_name(&name_source)?;
    let stream = TlsConnector::from(tls_config)
        .connect(server_name, socket)
        .await
        .map_err(TlsError::Handshake)?;
    Ok(Stream::Tls(Box::new(stream)))
}

/// StartupMessage, authentication, and the messages up to ReadyForQuery.
async fn start(
    config: &Config,
    index: usize,
    stream: Stream,
    cancel_target: CancelTarget,
) -> Result<Connection, Error> {
    let conn = config.conn();
    let mut framed = Framed::new(stream);
    let mut startup = StartupMessage::new(conn.user.as_str())
        .with("database", conn.dbname.as_str())
        // Query results are read as UTF-8.
        .with("client_encoding", "UTF8");
    if let Some(name) = &conn.application_name {
        startup = startup.with("application_name", name.as_str());
    }
    if let Some(options) = &conn.options {
        startup = startup.with("options", options.as_str());
    }
    let mut out = Vec::new();
    StartupRequest::Startup(startup).encode(&mut out)?;
    framed.send(&out).await?;

    let tls = framed.stream().tls().map(tls_info);
    let certificate = framed
        .stream()
        .tls()
        .and_then(|c| c.peer_certificates())
        .and_then(|certs| certs.first())
        .map(|c| c.as_ref().to_vec());
    let secrets = config.secrets(index)?;
    let policy = config.policy();
    let login = Login {
        user: &conn.user,
        secrets: &secrets,
        policy: &policy,
        max_iterations: config.max_iterations(),
        expected_scram: config.expected_scram(),
        server_certificate: certificate.as_deref(),
        tls_in_use: tls.is_some(),
    };
    let outcome = authenticate(&mut framed, &login).await?;
    drop(secrets);

    let mut parameters = BTreeMap::new();
    let mut backend_key = None;
    let mut notices = outcome.notices.clone();
    loop {
        match framed.read_backend(AUTH_MESSAGE_LIMIT).await? {
            BackendMessage::ParameterStatus { name, value } => {
                parameters.insert(name, value);
            }
            BackendMessage::BackendKeyData(key) => backend_key = Some(key),
            BackendMessage::NoticeResponse(notice) => notices.push(notice),
            BackendMessage::ErrorResponse(fields) => return Err(Error::Server(Box::new(fields))),
            BackendMessage::ReadyForQuery(_) => break,
            other => {
                return Err(ProtocolError::Unexpected {
                    tag: other.tag(),
                    during: "startup",
                }
                .into());
            }
        }
    }
    check_session_attrs(conn.target_session_attrs, &parameters)?;
    let negotiated = Negotiated {
        method: outcome.method,
        mechanism: outcome.mechanism,
        channel_binding: outcome.channel_binding,
        server_verified: outcome.server_verified,
        tls,
        user: conn.user.clone(),
        database: conn.dbname.clone(),
        server: cancel_target.to_string(),
    };
    Ok(Connection::new(
        framed,
        parameters,
        backend_key,
        negotiated,
        cancel_target,
        notices,
    ))
}

fn tls_info(connection: &rustls::ClientConnection) -> TlsInfo {
    let version = match connection.protocol_version() {
        Some(rustls::ProtocolVersion::TLSv1_3) => "TLSv1.3".to_owned(),
        Some(rustls::ProtocolVersion::TLSv1_2) => "TLSv1.2".to_owned(),
        Some(other) => format!("{other:?}"),
        None => "unknown".to_owned(),
    };
    let cipher = connection
        .negotiated_cipher_suite()
        .map(|s| {
            let suite = s.suite();
            suite
                .as_str()
                .map_or_else(|| format!("{suite:?}"), str::to_owned)
        })
        .unwrap_or_else(|| "unknown".to_owned());
    TlsInfo { version, cipher }
}

/// libpq's `target_session_attrs` checks, from the parameters PostgreSQL 14+ reports
/// (`in_hot_standby`, `default_transaction_read_only`). A server that does not report
/// them counts as a read-write primary.
fn check_session_attrs(
    attrs: TargetSessionAttrs,
    parameters: &BTreeMap<String, String>,
) -> Result<(), Error> {
    let on = |name: &str| parameters.get(name).is_some_and(|v| v == "on");
    let standby = on("in_hot_standby");
    let read_only = standby || on("default_transaction_read_only");
    let failure = match attrs {
        TargetSessionAttrs::Any | TargetSessionAttrs::PreferStandby => None,
        TargetSessionAttrs::ReadWrite if read_only => Some("session is read-only"),
        TargetSessionAttrs::ReadOnly if !read_only => Some("session is not read-only"),
        TargetSessionAttrs::Primary if standby => Some("server is in hot standby mode"),
        TargetSessionAttrs::Standby if !standby => Some("server is not in hot standby mode"),
        _ => None,
    };
    failure.map_or(Ok(()), |text| Err(Error::SessionAttrs(text)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_attrs() {
        let params = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect()
        };
        let primary = params(&[
            ("in_hot_standby", "off"),
            ("default_transaction_read_only", "off"),
        ]);
        let standby = params(&[("in_hot_standby", "on")]);
        use TargetSessionAttrs::*;
        assert!(check_session_attrs(ReadWrite, &primary).is_ok());
        assert!(check_session_attrs(Primary, &primary).is_ok());
        assert!(check_session_attrs(Standby, &standby).is_ok());
        assert!(check_session_attrs(ReadOnly, &standby).is_ok());
        assert_eq!(
            check_session_attrs(ReadWrite, &standby)
                .unwrap_err()
                .to_string(),
            "session is read-only"
        );
        assert_eq!(
            check_session_attrs(Standby, &primary)
                .unwrap_err()
                .to_string(),
            "server is not in hot standby mode"
        );
        assert!(check_session_attrs(Any, &standby).is_ok());
    }
}
