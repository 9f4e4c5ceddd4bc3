//! TLS for the client: rustls (ring provider) configured the way libpq's `sslmode` asks.
//!
//! ```text
//! sslmode      certificate check                        host name check
//! require      none (libpq: encryption only)            no
//! verify-ca    chain to a root in sslrootcert           no
//! verify-full  chain to a root in sslrootcert           yes (host, not hostaddr)
//! ```
//!
//! The TLS handshake signature is always verified, whatever the mode: without it a
//! `require` connection would not even prove the server holds the certificate's key,
//! and the channel binding hash (taken from that certificate) would bind to nothing.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{verify_server_cert_signed_by_trust_anchor, verify_server_name};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::server::ParsedCertificate;
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};

/// How much of the server's certificate is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verify {
    /// Encryption only: any certificate is accepted (libpq's `require`, `prefer`, `allow`).
    None,
    /// The chain must lead to a trusted root (`verify-ca`).
    Chain,
    /// The chain, and the host name must be in the certificate (`verify-full`).
    ChainAndName,
}

/// Where trusted roots come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Roots {
    /// A PEM file of certificates (`sslrootcert=PATH`).
    File(PathBuf),
    /// The operating system's bundle (`sslrootcert=system`).
    System,
}

/// Everything the TLS layer needs from the connection settings.
#[derive(Debug, Clone)]
pub struct TlsSettings {
    /// How much of the server's certificate to check, from `sslmode`.
    pub verify: Verify,
    /// Required unless `verify` is [`Verify::None`].
    pub roots: Option<Roots>,
    /// A client certificate chain and key (`sslcert`, `sslkey`), both PEM files.
    pub client_cert: Option<(PathBuf, PathBuf)>,
}

/// Where Linux distributions keep the system CA bundle; the first that exists is used
/// for `sslrootcert=system`.
const SYSTEM_BUNDLES: &[&str] = &[
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/ca-bundle.pem",
    "/etc/ssl/cert.pem",
];

/// A TLS failure, before, during or after the handshake. Texts follow libpq's.
#[derive(Debug)]
#[non_exhaustive]
pub enum TlsError {
    /// The server answered the SSLRequest with `N` and the mode needs TLS.
    NotSupportedByServer,
    /// The server answered the SSLRequest with neither `S` nor `N`.
    InvalidResponse(u8),
    /// The server sent bytes after `S`, before the handshake: they were not protected
    /// by TLS (CVE-2021-23222), so the connection is dropped.
    UnencryptedData,
    /// Verification was asked for but there is no root file to verify against.
    RootCertMissing(PathBuf),
    /// The root file could not be read.
    RootCertRead {
        /// The `sslrootcert` path.
        path: PathBuf,
        /// Why reading failed.
        error: std::io::Error,
    },
    /// The root file holds no usable certificate.
    RootCertEmpty(PathBuf),
    /// `sslrootcert=system` without `sslmode=verify-full`.
    SystemRootsNeedVerifyFull,
    /// No system CA bundle was found.
    NoSystemRoots,
    /// The client certificate file could not be read or parsed.
    ClientCertRead {
        /// The `sslcert` path.
        path: PathBuf,
        /// What went wrong.
        error: String,
    },
    /// The client key file could not be read or parsed.
    ClientKeyRead {
        /// The `sslkey` path.
        path: PathBuf,
        /// What went wrong.
        error: String,
    },
    /// The host name cannot be used as a TLS server name.
    InvalidHostName(String),
    /// Building the rustls configuration failed.
    Config(rustls::Error),
    /// The handshake failed (certificate rejected, protocol error, ...).
    Handshake(std::io::Error),
    /// The handshake succeeded but the server sent no certificate.
    NoPeerCertificate,
}

impl fmt::Display for TlsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TlsError::NotSupportedByServer => {
                f.write_str("server does not support SSL, but SSL was required")
            }
            TlsError::InvalidResponse(byte) => write!(
                f,
                "received invalid response to SSL negotiation: {}",
                shown_byte(*byte)
            ),
            TlsError::UnencryptedData => {
                f.write_str("received unencrypted data after SSL response")
            }
            TlsError::RootCertMissing(path) => write!(
                f,
                "root certificate file \"{}\" does not exist\nEither provide the file, use the \
                 system's trusted roots with sslrootcert=system, or change sslmode to disable \
                 server certificate verification.",
                path.display()
            ),
            TlsError::RootCertRead { path, error } => write!(
                f,
                "could not read root certificate file \"{}\": {error}",
                path.display()
            ),
            TlsError::RootCertEmpty(path) => write!(
                f,
                "could not read root certificate file \"{}\": no certificate found",
                path.display()
            ),
            TlsError::SystemRootsNeedVerifyFull => f.write_str(
                "weak sslmode may not be used with sslrootcert=system (use \"verify-full\")",
            ),
            TlsError::NoSystemRoots => {
                f.write_str("could not find the system's trusted root certificates")
            }
            TlsError::ClientCertRead { path, error } => write!(
                f,
                "could not read certificate file \"{}\": {error}",
                path.display()
            ),
            TlsError::ClientKeyRead { path, error } => write!(
                f,
                "could not load private key file \"{}\": {error}",
                path.display()
            ),
            TlsError::InvalidHostName(host) => {
                write!(
                    f,
                    "host name \"{host}\" cannot be checked against a certificate"
                )
            }
            TlsError::Config(error) => write!(f, "could not set up SSL: {error}"),
            // libpq (OpenSSL) reports every chain or validity failure in these words;
            // the reason stays reachable through `source()`.
            TlsError::Handshake(error) if is_verify_failure(error) => {
                f.write_str("SSL error: certificate verify failed")
            }
            TlsError::Handshake(error) => write!(f, "SSL error: {error}"),
            TlsError::NoPeerCertificate => f.write_str("server sent no certificate"),
        }
    }
}

impl std::error::Error for TlsError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            TlsError::RootCertRead { error, .. } | TlsError::Handshake(error) => Some(error),
            TlsError::Config(error) => Some(error),
            _ => None,
        }
    }
}

/// Whether a handshake failed because the certificate did not verify (not for its name,
/// which libpq words differently).
fn is_verify_failure(error: &std::io::Error) -> bool {
    use rustls::CertificateError::{NotValidForName, NotValidForNameContext};
    matches!(
        error.get_ref().and_then(|e| e.downcast_ref::<rustls::Error>()),
        Some(rustls::Error::InvalidCertificate(reason))
            if !matches!(reason, NotValidForName | NotValidForNameContext { .. })
    )
}

fn shown_byte(byte: u8) -> String {
    if byte.is_ascii_graphic() {
        char::from(byte).to_string()
    } else {
        format!("0x{byte:02x}")
    }
}

/// The ring provider, shared.
fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Builds the rustls client configuration for `settings`.
pub fn client_config(settings: &TlsSettings) -> Result<Arc<ClientConfig>, TlsError> {
    let provider = provider();
    let trusted = match (&settings.verify, &settings.roots) {
        (Verify::None, _) => None,
        (_, None) => return Err(TlsError::RootCertMissing(PathBuf::from("root.crt"))),
        (verify, Some(Roots::System)) => {
            if *verify != Verify::ChainAndName {
                return Err(TlsError::SystemRootsNeedVerifyFull);
            }
            let path = SYSTEM_BUNDLES
                .iter()
                .map(Path::new)
                .find(|p| p.exists())
                .ok_or(TlsError::NoSystemRoots)?;
            Some(load_roots(path)?)
        }
        (_, Some(Roots::File(path))) => Some(load_roots(path)?),
    };
    let verifier = Arc::new(PgCertVerifier {
        verify: settings.verify,
        trusted,
        provider: provider.clone(),
    });
    let builder = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(TlsError::Config)?
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    let mut config = match &settings.client_cert {
        None => builder.with_no_client_auth(),
        Some((cert, key)) => {
            let chain = load_client_chain(cert)?;
            let key_der =
                PrivateKeyDer::from_pem_file(key).map_err(|e| TlsError::ClientKeyRead {
                    path: key.clone(),
                    error: e.to_string(),
                })?;
            builder
                .with_client_auth_cert(chain, key_der)
                .map_err(TlsError::Config)?
        }
    };
    // PostgreSQL 17 checks ALPN when the client sends it; older servers ignore it.
    config.alpn_protocols = vec![b"postgresql".to_vec()];
    Ok(Arc::new(config))
}

/// The server name rustls checks (`verify-full`) and sends as SNI.
pub fn server_name(host: &str) -> Result<ServerName<'static>, TlsError> {
    let trimmed = host.trim_start_matches('[').trim_end_matches(']');
    ServerName::try_from(trimmed.to_owned()).map_err(|_| TlsError::InvalidHostName(host.into()))
}

struct Trusted {
    store: RootCertStore,
    /// The root file's certificates as they were, to accept a server that presents one
    /// of them verbatim (see [`PgCertVerifier`]).
    certificates: Vec<CertificateDer<'static>>,
}

fn load_roots(path: &Path) -> Result<Trusted, TlsError> {
    if !path.exists() {
        return Err(TlsError::RootCertMissing(path.to_owned()));
    }
    let bytes = std::fs::read(path).map_err(|error| TlsError::RootCertRead {
        path: path.to_owned(),
        error,
    })?;
    let mut certificates = Vec::new();
    for cert in CertificateDer::pem_slice_iter(&bytes) {
        match cert {
            Ok(cert) => certificates.push(cert),
            Err(error) => {
                return Err(TlsError::RootCertRead {
                    path: path.to_owned(),
                    error: std::io::Error::new(std::io::ErrorKind::InvalidData, error.to_string()),
                });
            }
        }
    }
    let mut store = RootCertStore::empty();
    let (added, _ignored) = store.add_parsable_certificates(certificates.iter().cloned());
    if added == 0 {
        return Err(TlsError::RootCertEmpty(path.to_owned()));
    }
    Ok(Trusted {
        store,
        certificates,
    })
}

fn load_client_chain(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let read_error = |error: String| TlsError::ClientCertRead {
        path: path.to_owned(),
        error,
    };
    let chain = CertificateDer::pem_file_iter(path)
        .map_err(|e| read_error(e.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| read_error(e.to_string()))?;
    if chain.is_empty() {
        return Err(read_error("no certificate found".into()));
    }
    Ok(chain)
}

/// The certificate verifier behind every sslmode.
///
/// With a root file, a server certificate that is byte-for-byte one of the trusted
/// certificates is accepted even when webpki refuses it as an end entity: OpenSSL (and
/// so libpq) accepts a self-signed `CA:TRUE` certificate listed as its own root, which
/// is what `openssl req -x509` makes and what most test and small deployments use.
struct PgCertVerifier {
    verify: Verify,
    trusted: Option<Trusted>,
    provider: Arc<CryptoProvider>,
}

impl fmt::Debug for PgCertVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgCertVerifier")
            .field("verify", &self.verify)
            .finish_non_exhaustive()
    }
}

impl ServerCertVerifier for PgCertVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let Some(trusted) = &self.trusted else {
            return Ok(ServerCertVerified::assertion());
        };
        if self.verify == Verify::None {
            return Ok(ServerCertVerified::assertion());
        }
        let parsed = ParsedCertificate::try_from(end_entity)?;
        let chain = verify_server_cert_signed_by_trust_anchor(
            &parsed,
            &trusted.store,
            intermediates,
            now,
            self.provider.signature_verification_algorithms.all,
        );
        match chain {
            Ok(()) => check_root_dates(trusted, end_entity, intermediates, now)?,
            Err(error) => {
                let pinned = trusted
                    .certificates
                    .iter()
                    .any(|c| c.as_ref() == end_entity.as_ref());
                if !pinned {
                    return Err(error);
                }
                // Being in the root file vouches for the certificate, not for its dates:
                // OpenSSL still refuses a pinned certificate that has expired or is not
                // yet valid, and so do we.
                check_validity(end_entity, now).ok_or(error)??;
            }
        }
        if self.verify == Verify::ChainAndName {
            verify_server_name(&parsed, server_name)?;
        }
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// Checks a DER certificate's validity period against `now`: `None` if the dates cannot
/// be read, else the error webpki would give for them.
fn check_validity(cert: &[u8], now: UnixTime) -> Option<Result<(), rustls::Error>> {
    tbs_fields(cert).map(|fields| fields.check_dates(now))
}

/// webpki takes a trust anchor as a name and a key and never looks at its dates;
/// OpenSSL (and so libpq) refuses a chain whose root has expired or is not yet valid.
/// Of the root file's certificates named as the issuer of a presented certificate, at
/// least one must be within its dates (none named: nothing to check).
fn check_root_dates(
    trusted: &Trusted,
    end_entity: &CertificateDer<'_>,
    intermediates: &[CertificateDer<'_>],
    now: UnixTime,
) -> Result<(), rustls::Error> {
    let issuers: Vec<&[u8]> = std::iter::once(end_entity)
        .chain(intermediates)
        .filter_map(|cert| tbs_fields(cert).map(|fields| fields.issuer))
        .collect();
    let mut refused = None;
    for root in &trusted.certificates {
        let Some(fields) = tbs_fields(root) else {
            continue;
        };
        if !issuers.contains(&fields.subject) {
            continue;
        }
        match fields.check_dates(now) {
            Ok(()) => return Ok(()),
            Err(error) => refused = refused.or(Some(error)),
        }
    }
    refused.map_or(Ok(()), Err)
}

/// What the date checks need from a certificate's TBSCertificate: the DER contents of
/// the issuer and subject names, and the validity period in seconds since the epoch
/// (earlier dates as 0).
struct TbsFields<'a> {
    issuer: &'a [u8],
    subject: &'a [u8],
    not_before: u64,
    not_after: u64,
}

impl TbsFields<'_> {
    /// The error webpki gives for a certificate outside its dates.
    fn check_dates(&self, now: UnixTime) -> Result<(), rustls::Error> {
        use rustls::CertificateError::{ExpiredContext, NotValidYetContext};
        let at = |secs: u64| UnixTime::since_unix_epoch(std::time::Duration::from_secs(secs));
        let secs = now.as_secs();
        if secs < self.not_before {
            Err(rustls::Error::InvalidCertificate(NotValidYetContext {
                time: now,
                not_before: at(self.not_before),
            }))
        } else if secs > self.not_after {
            Err(rustls::Error::InvalidCertificate(ExpiredContext {
                time: now,
                not_after: at(self.not_after),
            }))
        } else {
            Ok(())
        }
    }
}

/// Certificate -> TBSCertificate -> [version] serialNumber signature issuer validity
/// subject.
fn tbs_fields(cert: &[u8]) -> Option<TbsFields<'_>> {
    let (certificate, _) = der_read(cert, 0x30)?;
    let (tbs, _) = der_read(certificate, 0x30)?;
    let mut rest = tbs;
    if rest.first() == Some(&0xa0) {
        rest = der_read(rest, 0xa0)?.1;
    }
    for tag in [0x02, 0x30] {
        rest = der_read(rest, tag)?.1;
    }
    let (issuer, rest) = der_read(rest, 0x30)?;
    let (validity, rest) = der_read(rest, 0x30)?;
    let (subject, _) = der_read(rest, 0x30)?;
    let (not_before, dates_rest) = der_time(validity)?;
    let (not_after, dates_rest) = der_time(dates_rest)?;
    dates_rest.is_empty().then_some(TbsFields {
        issuer,
        subject,
        not_before,
        not_after,
    })
}

/// notBefore and notAfter of a DER certificate.
#[cfg(test)]
fn validity(cert: &[u8]) -> Option<(u64, u64)> {
    tbs_fields(cert).map(|f| (f.not_before, f.not_after))
}

/// One DER element with this tag: (contents, what follows).
fn der_read(input: &[u8], tag: u8) -> Option<(&[u8], &[u8])> {
    let (&first, rest) = input.split_first()?;
    if first != tag {
        return None;
    }
    let (&len, mut rest) = rest.split_first()?;
    let len = if len < 0x80 {
        usize::from(len)
    } else {
        let count = usize::from(len & 0x7f);
        if count == 0 || count > 4 || rest.len() < count {
            return None;
        }
        let (bytes, after) = rest.split_at(count);
        rest = after;
        bytes.iter().fold(0usize, |n, &b| (n << 8) | usize::from(b))
    };
    (rest.len() >= len).then(|| rest.split_at(len))
}

/// A UTCTime (`YYMMDDHHMMSSZ`) or GeneralizedTime (`YYYYMMDDHHMMSSZ`), the two forms
/// RFC 5280 allows, as seconds since the epoch.
fn der_time(input: &[u8]) -> Option<(u64, &[u8])> {
    let (text, rest, year) = match input.first()? {
        0x17 => {
            let (text, rest) = der_read(input, 0x17)?;
            let yy = digits(text.get(..2)?)?;
            (
                text.get(2..)?,
                rest,
                if yy >= 50 { 1900 + yy } else { 2000 + yy },
            )
        }
        0x18 => {
            let (text, rest) = der_read(input, 0x18)?;
            (text.get(4..)?, rest, digits(text.get(..4)?)?)
        }
        _ => return None,
    };
    if text.len() != 11 || text[10] != b'Z' {
        return None;
    }
    let field = |i: usize| digits(&text[i..i + 2]);
    let (month, day) = (field(0)?, field(2)?);
    let (hour, minute, second) = (field(4)?, field(6)?, field(8)?);
    if !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    // Days from 1970-01-01 to the civil date (proleptic Gregorian calendar).
    let (y, m) = if month <= 2 {
        (year - 1, month + 9)
    } else {
        (year, month - 3)
    };
    let era = y / 400;
    let year_of_era = y - era * 400;
    let day_of_year = (153 * m + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    let days = era * 146_097 + day_of_era - 719_468;
    let secs = days * 86_400 + hour * 3_600 + minute * 60 + second;
    Some((u64::try_from(secs).unwrap_or(0), rest))
}

fn digits(text: &[u8]) -> Option<i64> {
    text.iter().try_fold(0i64, |n, &b| {
        b.is_ascii_digit().then(|| n * 10 + i64::from(b - b'0'))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_file(name: &str, contents: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("pgscram-client-tls-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(name);
        std::fs::write(&path, contents).unwrap();
        path
    }

    fn settings(verify: Verify, roots: Option<Roots>) -> TlsSettings {
        TlsSettings {
            verify,
            roots,
            client_cert: None,
        }
    }

    #[test]
    fn require_needs_no_roots() {
        assert!(client_config(&settings(Verify::None, None)).is_ok());
    }

    #[test]
    fn missing_root_file_is_libpq_text() {
        let missing = PathBuf::from("/nonexistent/pgscram/root.crt");
        let err = client_config(&settings(Verify::Chain, Some(Roots::File(missing))))
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with(
                "root certificate file \"/nonexistent/pgscram/root.crt\" does not exist"
            ),
            "{err}"
        );
    }

    #[test]
    fn empty_root_file_is_refused() {
        let path = temp_file("empty.crt", "not a certificate\n");
        let err = client_config(&settings(Verify::Chain, Some(Roots::File(path)))).unwrap_err();
        assert!(matches!(err, TlsError::RootCertEmpty(_)), "{err}");
    }

    #[test]
    fn system_roots_need_verify_full() {
        let err = client_config(&settings(Verify::Chain, Some(Roots::System))).unwrap_err();
        assert!(matches!(err, TlsError::SystemRootsNeedVerifyFull));
    }

    #[test]
    fn root_file_with_a_certificate_loads() {
        let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
        let path = temp_file("root.crt", &cert.cert.pem());
        assert!(client_config(&settings(Verify::ChainAndName, Some(Roots::File(path)))).is_ok());
    }

    #[test]
    fn server_names() {
        assert!(matches!(
            server_name("127.0.0.1").unwrap(),
            ServerName::IpAddress(_)
        ));
        assert!(matches!(
            server_name("[::1]").unwrap(),
            ServerName::IpAddress(_)
        ));
        assert!(matches!(
            server_name("db.example.com").unwrap(),
            ServerName::DnsName(_)
        ));
        assert!(server_name("bad name!").is_err());
    }

    /// A self-signed certificate for `localhost` valid between the two dates, as
    /// (DER, PEM); `ca` marks it `CA:TRUE` as `openssl req -x509` does.
    fn dated_cert(
        not_before: (i32, u8, u8),
        not_after: (i32, u8, u8),
        ca: bool,
    ) -> (CertificateDer<'static>, String) {
        let mut params = rcgen::CertificateParams::new(vec!["localhost".into()]).unwrap();
        params.not_before = rcgen::date_time_ymd(not_before.0, not_before.1, not_before.2);
        params.not_after = rcgen::date_time_ymd(not_after.0, not_after.1, not_after.2);
        if ca {
            params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        }
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        (cert.der().clone(), cert.pem())
    }

    fn verify_pinned(
        verify: Verify,
        cert: &CertificateDer<'static>,
        pem: &str,
        name: &str,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let path = temp_file(name, pem);
        let verifier = PgCertVerifier {
            verify,
            trusted: Some(load_roots(&path).unwrap()),
            provider: provider(),
        };
        verifier.verify_server_cert(
            cert,
            &[],
            &ServerName::try_from("localhost").unwrap(),
            &[],
            UnixTime::now(),
        )
    }

    #[test]
    fn pinned_certificate_must_be_within_its_dates() {
        use rustls::CertificateError::{ExpiredContext, NotValidYetContext};
        for ca in [true, false] {
            for verify in [Verify::Chain, Verify::ChainAndName] {
                let (cert, pem) = dated_cert((2000, 1, 1), (2001, 1, 1), ca);
                let err = verify_pinned(verify, &cert, &pem, "expired.crt").unwrap_err();
                assert!(
                    matches!(
                        err,
                        rustls::Error::InvalidCertificate(ExpiredContext { .. })
                    ),
                    "{err:?}"
                );
                let (cert, pem) = dated_cert((2100, 1, 1), (2101, 1, 1), ca);
                let err = verify_pinned(verify, &cert, &pem, "future.crt").unwrap_err();
                assert!(
                    matches!(
                        err,
                        rustls::Error::InvalidCertificate(NotValidYetContext { .. })
                    ),
                    "{err:?}"
                );
                let (cert, pem) = dated_cert((2000, 1, 1), (2999, 1, 1), ca);
                assert!(verify_pinned(verify, &cert, &pem, "current.crt").is_ok());
            }
        }
    }

    #[test]
    fn root_ca_must_be_within_its_dates() {
        use rustls::CertificateError::{ExpiredContext, NotValidYetContext};
        let verify_under = |not_before: (i32, u8, u8), not_after: (i32, u8, u8)| {
            let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
            ca_params
                .distinguished_name
                .push(rcgen::DnType::CommonName, "test CA");
            ca_params.not_before = rcgen::date_time_ymd(not_before.0, not_before.1, not_before.2);
            ca_params.not_after = rcgen::date_time_ymd(not_after.0, not_after.1, not_after.2);
            ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
            let ca_key = rcgen::KeyPair::generate().unwrap();
            let ca = ca_params.self_signed(&ca_key).unwrap();
            let params = rcgen::CertificateParams::new(vec!["localhost".into()]).unwrap();
            let key = rcgen::KeyPair::generate().unwrap();
            let leaf = params.signed_by(&key, &ca, &ca_key).unwrap();
            verify_pinned(Verify::ChainAndName, leaf.der(), &ca.pem(), "ca.crt")
        };
        let err = verify_under((2000, 1, 1), (2001, 1, 1)).unwrap_err();
        assert!(
            matches!(
                err,
                rustls::Error::InvalidCertificate(ExpiredContext { .. })
            ),
            "{err:?}"
        );
        let err = verify_under((2100, 1, 1), (2101, 1, 1)).unwrap_err();
        assert!(
            matches!(
                err,
                rustls::Error::InvalidCertificate(NotValidYetContext { .. })
            ),
            "{err:?}"
        );
        assert!(verify_under((2000, 1, 1), (2999, 1, 1)).is_ok());
    }

    #[test]
    fn certificate_dates_are_read_in_both_time_forms() {
        // UTCTime before 2050, GeneralizedTime from 2050 on.
        let (cert, _) = dated_cert((2000, 1, 1), (2001, 3, 1), false);
        assert_eq!(validity(&cert), Some((946_684_800, 983_404_800)));
        let (cert, _) = dated_cert((1975, 1, 1), (2100, 1, 1), false);
        assert_eq!(validity(&cert), Some((157_766_400, 4_102_444_800)));
        let (cert, _) = dated_cert((1960, 1, 1), (2049, 12, 31), false);
        assert_eq!(validity(&cert), Some((0, 2_524_521_600)));
        assert_eq!(validity(b"\x30\x03\x30\x01\x00"), None);
        assert_eq!(validity(&cert[..cert.len() / 2]), None);
    }

    #[test]
    fn verify_failures_use_libpq_words() {
        use rustls::CertificateError::{Expired, NotValidForName, NotValidYet, UnknownIssuer};
        let handshake = |reason| {
            TlsError::Handshake(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                rustls::Error::InvalidCertificate(reason),
            ))
            .to_string()
        };
        for reason in [Expired, NotValidYet, UnknownIssuer] {
            assert_eq!(handshake(reason), "SSL error: certificate verify failed");
        }
        assert_ne!(
            handshake(NotValidForName),
            "SSL error: certificate verify failed"
        );
    }

    #[test]
    fn invalid_ssl_response_byte_is_shown_safely() {
        assert_eq!(
            TlsError::InvalidResponse(b'E').to_string(),
            "received invalid response to SSL negotiation: E"
        );
        assert_eq!(
            TlsError::InvalidResponse(0).to_string(),
            "received invalid response to SSL negotiation: 0x00"
        );
    }
}
