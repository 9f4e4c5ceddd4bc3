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
pub enum CertificateSource {
    Configured(PathBuf),
    Existing(PathBuf),
    Generated(PathBuf),
}

/// A ready TLS acceptor and the binding data of its certificate.
#[derive(Clone)]
pub struct Tls {
    pub acceptor: TlsAcceptor,
    /// `None` when the certificate's signature algorithm has no digest to bind with
    /// (Ed25519): then SCRAM-SHA-256-PLUS is not offered.
    pub end_point: Option<Arc<[u8]>>,
    pub source: CertificateSource,
}

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tls")
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

/// Why TLS could not be set up. Names the file; never includes key material.
#[derive(Debug)]
pub enum TlsError {
    Read(PathBuf, io::Error),
    Pem(PathBuf, String),
    NoCertificate(PathBuf),
    Generate(String),
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

impl Tls {
    /// Loads `cert`/`key` when given; otherwise uses `server.crt`/`server.key` in
    /// `data_dir`, generating them on first start.
    pub fn load_or_generate(
        cert: Option<&Path>,
        key: Option<&Path>,
        data_dir: &Path,
    ) -> Result<Self, TlsError> {
        let (cert_path, key_path, source) = match (cert, key) {
            (Some(c), Some(k)) => (
                c.to_owned(),
                k.to_owned(),
                CertificateSource::Configured(c.to_owned()),
            ),
            _ => {
                let (c, k) = (data_dir.join("server.crt"), data_dir.join("server.key"));
                if c.exists() && k.exists() {
                    (c.clone(), k, CertificateSource::Existing(c))
                } else {
                    generate_self_signed(&c, &k)?;
                    (c.clone(), k, CertificateSource::Generated(c))
                }
            }
        };
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&cert_path)
            .map_err(|e| TlsError::Pem(cert_path.clone(), e.to_string()))?
            .collect::<Result<_, _>>()
            .map_err(|e| TlsError::Pem(cert_path.clone(), e.to_string()))?;
        let leaf = certs
            .first()
            .ok_or_else(|| TlsError::NoCertificate(cert_path.clone()))?;
        let end_point = tls_server_end_point(leaf).ok().map(Arc::from);
        let key = PrivateKeyDer::from_pem_file(&key_path)
            .map_err(|e| TlsError::Pem(key_path.clone(), e.to_string()))?;
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

fn generate_self_signed(cert_path: &Path, key_path: &Path) -> Result<(), TlsError> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let names = vec![
        "localhost".to_owned(),
        "127.0.0.1".to_owned(),
        "::1".to_owned(),
    ];
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
