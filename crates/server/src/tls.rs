//! TLS for the server: rustls with the certificate from the configuration, or, on first
//! start with none, a self-signed one generated into the data directory (and said so).
//! Also computes the tls-server-end-point hash that SCRAM-SHA-256-PLUS binds to.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use pgscram_scram::channel_binding::tls_server_end_point;
use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::TlsAcceptor;

/// Where the certificate came from, for the start-up log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum CertificateSource {
    /// Files named in the settings.
    Configured(PathBuf),
    /// `server.crt` already in the data directory.
    Existing(PathBuf),
    /// Generated into the data directory on this start.
    Generated(PathBuf),
    /// Given in code (PEM bytes, a rustls configuration, or generated in memory).
    InCode,
}

/// TLS for the server's listeners: a rustls acceptor and the tls-server-end-point of
/// its certificate, which SCRAM-SHA-256-PLUS binds to.
#[derive(Clone)]
pub struct Tls {
    pub(crate) acceptor: TlsAcceptor,
    /// `None` when the certificate's signature algorithm has no digest to bind with
    /// (Ed25519), or was not given: then SCRAM-SHA-256-PLUS is not offered.
    pub(crate) end_point: Option<Arc<[u8]>>,
    pub(crate) source: CertificateSource,
}

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tls")
            .field("source", &self.source)
            .field("channel_binding", &self.end_point.is_some())
            .finish_non_exhaustive()
    }
}

/// Why TLS could not be set up. Names the file; never includes key material.
#[derive(Debug)]
#[non_exhaustive]
pub enum TlsError {
    /// A file could not be read or written.
    Read(PathBuf, io::Error),
    /// A file is not the PEM it should be.
    Pem(PathBuf, String),
    /// The certificate file holds no certificate.
    NoCertificate(PathBuf),
    /// A self-signed certificate could not be made.
    Generate(String),
    /// rustls refused the certificate and key.
    Rustls(String),
}

impl std::fmt::Display for TlsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TlsError::Read(path, e) => write!(f, "could not read \"{}\": {e}", path.display()),
            TlsError::Pem(path, e) => write!(f, "could not parse \"{}\": {e}", path.display()),
            TlsError::NoCertificate(path) => write!(f, "no certificate in \"{}\"", path.display()),
            TlsError::Generate(e) => write!(f, "could not generate a self-signed certificate: {e}"),
            TlsError::Rustls(e) => write!(f, "TLS configuration rejected: {e}"),
        }
    }
}

impl std::error::Error for TlsError {}

/// The names a generated certificate is made for.
const SELF_SIGNED_NAMES: [&str; 3] = ["localhost", "127.0.0.1", "::1"];

impl Tls {
    /// A certificate chain and key from PEM files.
    pub fn from_pem_files(cert: &Path, key: &Path) -> Result<Self, TlsError> {
        let certs = read_certs(cert)?;
        let key_der = PrivateKeyDer::from_pem_file(key)
            .map_err(|e| TlsError::Pem(key.to_owned(), e.to_string()))?;
        Self::from_der(
            certs,
            key_der,
            CertificateSource::Configured(cert.to_owned()),
        )
    }

    /// A certificate chain and key from PEM text.
    pub fn from_pem(cert_pem: &[u8], key_pem: &[u8]) -> Result<Self, TlsError> {
        let certs = CertificateDer::pem_slice_iter(cert_pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| TlsError::Pem(PathBuf::from("<certificate>"), e.to_string()))?;
        let key = PrivateKeyDer::from_pem_slice(key_pem)
            .map_err(|e| TlsError::Pem(PathBuf::from("<key>"), e.to_string()))?;
        Self::from_der(certs, key, CertificateSource::InCode)
    }

    /// A self-signed certificate for localhost, made in memory now (nothing written).
    /// Clients can encrypt and bind the channel (`sslmode=require`,
    /// `channel_binding=require`) but cannot verify it: for tests and local use.
    pub fn self_signed() -> Result<Self, TlsError> {
        let names = SELF_SIGNED_NAMES.map(str::to_owned).to_vec();
        let generated = rcgen::generate_simple_self_signed(names)
            .map_err(|e| TlsError::Generate(e.to_string()))?;
        let key = PrivateKeyDer::try_from(generated.key_pair.serialize_der())
            .map_err(|e| TlsError::Generate(e.to_string()))?;
        Self::from_der(
            vec![generated.cert.der().clone()],
            key,
            CertificateSource::InCode,
        )
    }

    /// A rustls configuration made by the program. Give its leaf certificate
    /// (`certificate`) to offer SCRAM-SHA-256-PLUS: channel binding hashes it.
    pub fn from_rustls(
        config: Arc<rustls::ServerConfig>,
        certificate: Option<&CertificateDer<'_>>,
    ) -> Self {
        Tls {
            acceptor: TlsAcceptor::from(config),
            end_point: certificate.and_then(|c| tls_server_end_point(c).ok().map(Arc::from)),
            source: CertificateSource::InCode,
        }
    }

    /// Loads `cert`/`key` when given; otherwise uses `server.crt`/`server.key` in
    /// `data_dir`, generating them on first start.
    pub(crate) fn load_or_generate(
        cert: Option<&Path>,
        key: Option<&Path>,
        data_dir: &Path,
    ) -> Result<Self, TlsError> {
        if let (Some(cert), Some(key)) = (cert, key) {
            return Self::from_pem_files(cert, key);
        }
        let (c, k) = (data_dir.join("server.crt"), data_dir.join("server.key"));
        let source = if c.exists() && k.exists() {
            CertificateSource::Existing(c.clone())
        } else {
            generate_self_signed(&c, &k)?;
            CertificateSource::Generated(c.clone())
        };
        let mut tls = Self::from_pem_files(&c, &k)?;
        tls.source = source;
        Ok(tls)
    }

    /// Where the certificate came from, for the start-up log.
    pub(crate) fn generated_path(&self) -> Option<&Path> {
        match &self.source {
            CertificateSource::Generated(path) => Some(path),
            _ => None,
        }
    }

    fn from_der(
        certs: Vec<CertificateDer<'static>>,
        key: PrivateKeyDer<'static>,
        source: CertificateSource,
    ) -> Result<Self, TlsError> {
        let leaf = certs.first().ok_or_else(|| {
            TlsError::NoCertificate(match &source {
                CertificateSource::Configured(p)
                | CertificateSource::Existing(p)
                | CertificateSource::Generated(p) => p.clone(),
                CertificateSource::InCode => PathBuf::from("<certificate>"),
            })
        })?;
        let end_point = tls_server_end_point(leaf).ok().map(Arc::from);
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsError::Rustls(e.to_string()))?
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .map_err(|e| TlsError::Rustls(e.to_string()))?;
        Ok(Tls {
            acceptor: TlsAcceptor::from(Arc::new(config)),
            end_point,
            source,
        })
    }
}

fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    CertificateDer::pem_file_iter(path)
        .map_err(|e| TlsError::Pem(path.to_owned(), e.to_string()))?
        .collect::<Result<_, _>>()
        .map_err(|e| TlsError::Pem(path.to_owned(), e.to_string()))
}

fn generate_self_signed(cert_path: &Path, key_path: &Path) -> Result<(), TlsError> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let names = SELF_SIGNED_NAMES.map(str::to_owned).to_vec();
    let generated =
        rcgen::generate_simple_self_signed(names).map_err(|e| TlsError::Generate(e.to_string()))?;
    if let Some(dir) = key_path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| TlsError::Read(dir.to_owned(), e))?;
    }
    // The key is written with mode 0600 from the start, never world-readable for a moment.
    let mut key_file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(key_path)
        .map_err(|e| TlsError::Read(key_path.to_owned(), e))?;
    key_file
        .write_all(generated.key_pair.serialize_pem().as_bytes())
        .and_then(|()| key_file.sync_all())
        .map_err(|e| TlsError::Read(key_path.to_owned(), e))?;
    std::fs::write(cert_path, generated.cert.pem())
        .map_err(|e| TlsError::Read(cert_path.to_owned(), e))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_start_generates_then_reuses() {
        let dir = std::env::temp_dir().join(format!("pgscram-tls-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let first = Tls::load_or_generate(None, None, &dir).unwrap();
        assert!(matches!(first.source, CertificateSource::Generated(_)));
        assert_eq!(
            first.end_point.as_ref().map(|e| e.len()),
            Some(32),
            "ECDSA P-256/SHA-256 binds with SHA-256"
        );
        let mode = std::fs::metadata(dir.join("server.key"))
            .unwrap()
            .permissions();
        assert_eq!(
            std::os::unix::fs::PermissionsExt::mode(&mode) & 0o777,
            0o600
        );
        let second = Tls::load_or_generate(None, None, &dir).unwrap();
        assert!(matches!(second.source, CertificateSource::Existing(_)));
        assert_eq!(first.end_point, second.end_point);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
