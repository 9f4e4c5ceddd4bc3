//! Startup negotiation, before anyone is authenticated: SSLRequest (TLS upgrade),
//! GSSENCRequest (refused), CancelRequest (served), and the StartupMessage.

use pgscram_wire::frame::limits;
use pgscram_wire::{ErrorFields, SqlState, StartupMessage, StartupPacket, StartupRequest};

use crate::audit::Outcome;
use crate::cancel::CancelRegistry;
use crate::reply;
use crate::stream::{Conn, ReadError};
use crate::tls::Tls;

/// What TLS negotiated, as `pg_stat_ssl` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsParameters {
    /// `TLSv1.2` or `TLSv1.3`.
    pub version: String,
    /// The cipher suite's IANA name (`TLS_AES_256_GCM_SHA384`).
    pub cipher: String,
    /// Bits of the symmetric key.
    pub bits: i32,
}

impl TlsParameters {
    fn of(connection: &rustls::ServerConnection) -> Self {
        let version = match connection.protocol_version() {
            Some(rustls::ProtocolVersion::TLSv1_3) => "TLSv1.3".to_owned(),
            Some(rustls::ProtocolVersion::TLSv1_2) => "TLSv1.2".to_owned(),
            Some(other) => format!("{other:?}"),
            None => String::new(),
        };
        let cipher = connection
            .negotiated_cipher_suite()
            .map(|suite| format!("{:?}", suite.suite()).replacen("TLS13_", "TLS_", 1))
            .unwrap_or_default();
        let bits = if cipher.contains("AES_128") { 128 } else { 256 };
        TlsParameters {
            version,
            cipher,
            bits,
        }
    }
}

/// How startup negotiation ended.
pub(crate) enum Negotiated {
    /// A StartupMessage arrived; with TLS's parameters when TLS is up.
    Startup(Conn, StartupMessage, Option<TlsParameters>),
    /// Nothing more to do on this connection (see [`Step::Ended`]).
    Ended(Option<(Outcome, Option<String>)>),
}

/// Reads startup packets until a StartupMessage: answers SSLRequest (upgrading to
/// TLS) and GSSENCRequest, serves CancelRequest. Returns the message and whether TLS
/// is up.
pub(crate) async fn negotiate(
    mut conn: Conn,
    first: StartupPacket,
    tls: Option<&Tls>,
    cancel: &CancelRegistry,
) -> Negotiated {
    let mut ssl: Option<TlsParameters> = None;
    let mut gss_refused = false;
    let mut next = Some(first);
    loop {
        let packet = match next.take() {
            Some(packet) => packet,
            None => match read_first_packet(&mut conn).await {
                Ok(packet) => packet,
                Err(None) => return Negotiated::Ended(None),
                Err(Some(message)) => return protocol_error(message),
            },
        };
        match StartupRequest::decode(&packet) {
            Ok(StartupRequest::Startup(message)) => return Negotiated::Startup(conn, message, ssl),
            Ok(StartupRequest::SslRequest) if ssl.is_none() => {
                let Some(tls) = tls else {
                    if conn.write_now(b"N").await.is_err() {
                        return Negotiated::Ended(None);
                    }
                    continue;
                };
                if conn.write_now(b"S").await.is_err() {
                    return Negotiated::Ended(None);
                }
                // Bytes sent before the handshake would be taken as if encrypted
                // (CVE-2021-23214). They stay out of the TLS stream (the handshake reads
                // the socket afresh), and once TLS is up the client is told, over TLS,
                // as PostgreSQL does.
                let injected = conn.buffered() > 0;
                // The TLS handshake waits on the client most of its time: a slow one is
                // a stalled handshake.
                let watch = conn.watch();
                if let Some(watch) = &watch {
                    watch.waiting();
                }
                let accepted = tls.acceptor.accept(conn.into_inner()).await;
                if let Some(watch) = &watch {
                    watch.progressed();
                }
                match accepted {
                    Ok(stream) => {
                        ssl = Some(TlsParameters::of(stream.get_ref().1));
                        conn = Conn::new(Box::new(stream));
                        conn.set_watch(watch);
                        if injected {
                            let message = "received unencrypted data after SSL request";
                            let error = ErrorFields::fatal(SqlState::PROTOCOL_VIOLATION, message)
                                .with_detail("This could be either a client-software bug or evidence of an attempted man-in-the-middle attack.");
                            tracing::error!("{message}");
                            let _ = reply::error(&mut conn, error).await;
                            return protocol_error(message.to_owned());
                        }
                    }
                    Err(e) => {
                        let message = format!("could not accept SSL connection: {e}");
                        tracing::info!("{message}");
                        return protocol_error(message);
                    }
                }
            }
            Ok(StartupRequest::GssEncRequest) if !gss_refused && ssl.is_none() => {
                gss_refused = true;
                if conn.write_now(b"N").await.is_err() {
                    return Negotiated::Ended(None);
                }
            }
            Ok(StartupRequest::SslRequest | StartupRequest::GssEncRequest) => {
                // A second negotiation request (inside TLS, or after a refused one) is
                // read as a startup packet of an unknown version, as PostgreSQL does.
                let code = pgscram_wire::ProtocolVersion::from_code(packet.code());
                let message = format!(
                    "unsupported frontend protocol {}.{}: server supports 3.0 to 3.0",
                    code.major, code.minor
                );
                tracing::error!("{message}");
                let _ = reply::error(
                    &mut conn,
                    ErrorFields::fatal(SqlState::FEATURE_NOT_SUPPORTED, message.clone()),
                )
                .await;
                return protocol_error(message);
            }
            Ok(StartupRequest::Cancel(request)) => {
                cancel.cancel(request.pid, request.key.expose());
                return Negotiated::Ended(None);
            }
            Err(e) => {
                let message = e.to_string();
                tracing::error!("{message}");
                if pgscram_wire::ProtocolVersion::from_code(packet.code()).major < 3 {
                    // A protocol 1 or 2 client reads errors in that protocol's shape:
                    // 'E', the text, a NUL (no length word, no fields).
                    let text = format!("EFATAL:  {message}\n\0");
                    let _ = conn.write_now(text.as_bytes()).await;
                } else {
                    let error = ErrorFields::fatal(e.sqlstate(), message.clone());
                    let _ = reply::error(&mut conn, error).await;
                }
                return protocol_error(message);
            }
        }
    }
}

/// Reads one startup-phase packet. `Err(None)`: the client left; `Err(Some)`: a
/// framing error, logged (PostgreSQL logs it as COMMERROR and closes without a reply).
pub(crate) async fn read_first_packet(conn: &mut Conn) -> Result<StartupPacket, Option<String>> {
    match conn.read_startup(limits::STARTUP_PACKET).await {
        Ok(packet) => Ok(packet),
        Err(ReadError::Protocol(e)) => {
            let message = e.to_string();
            tracing::info!("{message}");
            Err(Some(message))
        }
        Err(_) => Err(None),
    }
}

fn protocol_error(message: String) -> Negotiated {
    Negotiated::Ended(Some((Outcome::ProtocolError, Some(message))))
}
