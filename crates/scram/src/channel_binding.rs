//! Channel binding data for SCRAM-SHA-256-PLUS: the bytes both ends put after the GS2
//! header in `c=`, proving that the SCRAM exchange ran inside this very TLS connection.
//!
//! ```text
//! tls-server-end-point (RFC 5929 §4.1):  H(server certificate, DER)
//!     H = the digest of the certificate's signatureAlgorithm; MD5 and SHA-1 become SHA-256;
//!     EdDSA and ML-DSA sign without a separate digest, so they cannot bind.
//! tls-exporter (RFC 9266):  TLS-Exporter("EXPORTER-Channel-Binding", no context, 32)
//! ```
//!
//! PostgreSQL (10-18) supports only tls-server-end-point; tls-exporter is named here so the
//! GS2 header can be parsed and refused with the right message. The certificate reader is
//! a minimal, bounds-checked DER walker: it looks at the outer structure and the signature
//! algorithm only, and every malformation is a [`CertificateHashError`], never a panic.

use std::fmt;

use sha2::{Digest, Sha224, Sha256, Sha384, Sha512, Sha512_224, Sha512_256};

/// The TLS exporter label of RFC 9266, for `export_keying_material` with no context.
pub const TLS_EXPORTER_LABEL: &[u8] = b"EXPORTER-Channel-Binding";

/// Length in bytes of the tls-exporter binding data (RFC 9266).
pub const TLS_EXPORTER_LEN: usize = 32;

/// A channel binding type as named in the GS2 header (`p=<name>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChannelBindingType {
    /// RFC 5929 §4: a hash of the server's certificate. The one PostgreSQL implements.
    TlsServerEndPoint,
    /// RFC 9266: keying material exported from TLS 1.3.
    TlsExporter,
}

impl ChannelBindingType {
    /// The registered name, as it appears after `p=`.
    pub const fn name(self) -> &'static str {
        match self {
            ChannelBindingType::TlsServerEndPoint => "tls-server-end-point",
            ChannelBindingType::TlsExporter => "tls-exporter",
        }
    }

    /// Parses the value of a GS2 `p=` flag. Exact and case-sensitive, like PostgreSQL's
    /// `strcmp`; `None` for anything else (`tls-unique` included).
    pub fn from_name(name: &str) -> Option<Self> {
        [
            ChannelBindingType::TlsServerEndPoint,
            ChannelBindingType::TlsExporter,
        ]
        .into_iter()
        .find(|kind| kind.name() == name)
    }
}

impl fmt::Display for ChannelBindingType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why no tls-server-end-point hash can be made from a certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CertificateHashError {
    /// The bytes are not a DER-encoded X.509 certificate.
    Malformed {
        /// The element being read.
        field: CertificateField,
        /// What was wrong with it.
        problem: DerProblem,
    },
    /// The signature algorithm has no separate digest (Ed25519, Ed448, ML-DSA, SLH-DSA):
    /// RFC 5929 defines no hash for it. libpq fails the same way ("could not find digest
    /// for NID UNDEF").
    NoDigest {
        /// The algorithm's common name, such as `Ed25519`.
        algorithm: &'static str,
    },
    /// A signature algorithm this reader does not know (dotted OID).
    UnsupportedSignatureAlgorithm {
        /// The algorithm's OID in dotted form.
        oid: String,
    },
    /// An RSASSA-PSS hash algorithm this crate cannot compute, such as SHA-3 (dotted OID).
    UnsupportedPssHash {
        /// The hash algorithm's OID in dotted form.
        oid: String,
    },
}

/// The part of the certificate where a [`DerProblem`] was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CertificateField {
    /// The outer `Certificate` SEQUENCE.
    Certificate,
    /// The `tbsCertificate` SEQUENCE, skipped over whole.
    TbsCertificate,
    /// The `signatureAlgorithm` AlgorithmIdentifier.
    SignatureAlgorithm,
    /// The `signatureValue` BIT STRING.
    SignatureValue,
    /// The `RSASSA-PSS-params` of an RSASSA-PSS signature (RFC 4055).
    PssParameters,
    /// The `hashAlgorithm` inside the RSASSA-PSS parameters.
    PssHashAlgorithm,
}

/// What is wrong with the DER at a [`CertificateField`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DerProblem {
    /// The input ends before the element does.
    Truncated,
    /// A required element is not there.
    Missing,
    /// An element with another tag than the one the structure requires here.
    UnexpectedTag {
        /// The tag the structure requires.
        expected: u8,
        /// The tag in the input.
        found: u8,
    },
    /// A multi-byte (high-number) tag, which no field read here may have.
    HighTagNumber,
    /// BER's indefinite length (0x80), not allowed in DER.
    IndefiniteLength,
    /// A long-form length with leading zeros or one that fits the short form.
    NonMinimalLength,
    /// A length of more than four bytes.
    LengthTooLarge,
    /// Bytes after the last element.
    TrailingData,
    /// An OBJECT IDENTIFIER that is empty or ends mid-arc.
    InvalidOid,
}

impl fmt::Display for CertificateField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CertificateField::Certificate => "Certificate",
            CertificateField::TbsCertificate => "tbsCertificate",
            CertificateField::SignatureAlgorithm => "signatureAlgorithm",
            CertificateField::SignatureValue => "signatureValue",
            CertificateField::PssParameters => "RSASSA-PSS parameters",
            CertificateField::PssHashAlgorithm => "RSASSA-PSS hashAlgorithm",
        })
    }
}

impl fmt::Display for DerProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DerProblem::Truncated => f.write_str("truncated"),
            DerProblem::Missing => f.write_str("missing"),
            DerProblem::UnexpectedTag { expected, found } => {
                write!(f, "expected tag 0x{expected:02X}, found 0x{found:02X}")
            }
            DerProblem::HighTagNumber => f.write_str("unexpected multi-byte tag"),
            DerProblem::IndefiniteLength => f.write_str("indefinite length is not DER"),
            DerProblem::NonMinimalLength => f.write_str("length not minimally encoded"),
            DerProblem::LengthTooLarge => f.write_str("length too large"),
            DerProblem::TrailingData => f.write_str("trailing data"),
            DerProblem::InvalidOid => f.write_str("invalid object identifier"),
        }
    }
}

impl fmt::Display for CertificateHashError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CertificateHashError::Malformed { field, problem } => {
                write!(f, "malformed certificate: {field}: {problem}")
            }
            CertificateHashError::NoDigest { algorithm } => write!(
                f,
                "certificate signature algorithm {algorithm} has no digest, \
                 so it cannot be used for tls-server-end-point channel binding"
            ),
            CertificateHashError::UnsupportedSignatureAlgorithm { oid } => {
                write!(f, "unsupported certificate signature algorithm {oid}")
            }
            CertificateHashError::UnsupportedPssHash { oid } => {
                write!(f, "unsupported RSASSA-PSS hash algorithm {oid}")
            }
        }
    }
}

impl std::error::Error for CertificateHashError {}

/// The tls-server-end-point binding data for a server certificate (DER): the certificate
/// hashed with its signature algorithm's digest, SHA-256 in place of MD5 and SHA-1
/// (RFC 5929 §4.1). The input must be exactly one certificate, with nothing after it.
pub fn tls_server_end_point(cert_der: &[u8]) -> Result<Vec<u8>, CertificateHashError> {
    let hash = match signature_digest(cert_der)? {
        HashAlg::Md5 | HashAlg::Sha1 | HashAlg::Sha256 => Sha256::digest(cert_der).to_vec(),
        HashAlg::Sha224 => Sha224::digest(cert_der).to_vec(),
        HashAlg::Sha384 => Sha384::digest(cert_der).to_vec(),
        HashAlg::Sha512 => Sha512::digest(cert_der).to_vec(),
        HashAlg::Sha512_224 => Sha512_224::digest(cert_der).to_vec(),
        HashAlg::Sha512_256 => Sha512_256::digest(cert_der).to_vec(),
    };
    Ok(hash)
}

/// The digest named by a signature algorithm, before RFC 5929's MD5/SHA-1 upgrade.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum HashAlg {
    Md5,
    Sha1,
    Sha224,
    Sha256,
    Sha384,
    Sha512,
    Sha512_224,
    Sha512_256,
}

/// What a signature algorithm OID says about its digest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SigKind {
    Digest(HashAlg),
    /// RSASSA-PSS: the digest is in the parameters.
    Pss,
    NoDigest(&'static str),
}

const TAG_SEQUENCE: u8 = 0x30;
const TAG_OID: u8 = 0x06;
const TAG_BIT_STRING: u8 = 0x03;
/// `[0]` EXPLICIT, constructed: RSASSA-PSS-params.hashAlgorithm.
const TAG_PSS_HASH: u8 = 0xA0;

/// Signature algorithm OIDs (DER contents) and their digests. The arcs are in the tests.
#[rustfmt::skip]
const SIGNATURE_ALGORITHMS: &[(&[u8], SigKind)] = &[
    // 1.2.840.113549.1.1.x: PKCS #1 (RFC 8017, RFC 4055)
    (&[0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x01, 0x04], SigKind::Digest(HashAlg::Md5)),
    (&[0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x01, 0x05], SigKind::Digest(HashAlg::Sha1)),
    (&[0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x01, 0x0A], SigKind::Pss),
    (&[0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x01, 0x0B], SigKind::Digest(HashAlg::Sha256)),
    (&[0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x01, 0x0C], SigKind::Digest(HashAlg::Sha384)),
    (&[0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x01, 0x0D], SigKind::Digest(HashAlg::Sha512)),
    (&[0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x01, 0x0E], SigKind::Digest(HashAlg::Sha224)),
    (&[0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x01, 0x0F], SigKind::Digest(HashAlg::Sha512_224)),
    (&[0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x01, 0x10], SigKind::Digest(HashAlg::Sha512_256)),
    // 1.3.14.3.2.x: old OIW names OpenSSL still maps to MD5 / SHA-1
    (&[0x2B, 0x0E, 0x03, 0x02, 0x03], SigKind::Digest(HashAlg::Md5)),
    (&[0x2B, 0x0E, 0x03, 0x02, 0x1B], SigKind::Digest(HashAlg::Sha1)),
    (&[0x2B, 0x0E, 0x03, 0x02, 0x1D], SigKind::Digest(HashAlg::Sha1)),
    // 1.2.840.10045.4.x: ECDSA (RFC 5758)
    (&[0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x04, 0x01], SigKind::Digest(HashAlg::Sha1)),
    (&[0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x04, 0x03, 0x01], SigKind::Digest(HashAlg::Sha224)),
    (&[0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x04, 0x03, 0x02], SigKind::Digest(HashAlg::Sha256)),
    (&[0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x04, 0x03, 0x03], SigKind::Digest(HashAlg::Sha384)),
    (&[0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x04, 0x03, 0x04], SigKind::Digest(HashAlg::Sha512)),
    // 1.2.840.10040.4.3: DSA with SHA-1
    (&[0x2A, 0x86, 0x48, 0xCE, 0x38, 0x04, 0x03], SigKind::Digest(HashAlg::Sha1)),
    // 2.16.840.1.101.3.4.3.x: NIST (DSA with SHA-2; ML-DSA and SLH-DSA below)
    (&[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x03, 0x01], SigKind::Digest(HashAlg::Sha224)),
    (&[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x03, 0x02], SigKind::Digest(HashAlg::Sha256)),
    (&[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x03, 0x03], SigKind::Digest(HashAlg::Sha384)),
    (&[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x03, 0x04], SigKind::Digest(HashAlg::Sha512)),
    // 1.3.101.112 / 113: EdDSA (RFC 8410)
    (&[0x2B, 0x65, 0x70], SigKind::NoDigest("Ed25519")),
    (&[0x2B, 0x65, 0x71], SigKind::NoDigest("Ed448")),
];

/// 2.16.840.1.101.3.4.3, the NIST signature arc; arcs 17-19 are ML-DSA and 20-31 SLH-DSA.
const NIST_SIG_ARC: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x03];

/// Hash algorithm OIDs (DER contents) allowed in RSASSA-PSS parameters.
#[rustfmt::skip]
const HASH_ALGORITHMS: &[(&[u8], HashAlg)] = &[
    // 1.2.840.113549.2.5
    (&[0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x02, 0x05], HashAlg::Md5),
    // 1.3.14.3.2.26
    (&[0x2B, 0x0E, 0x03, 0x02, 0x1A], HashAlg::Sha1),
    // 2.16.840.1.101.3.4.2.x
    (&[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01], HashAlg::Sha256),
    (&[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02], HashAlg::Sha384),
    (&[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x03], HashAlg::Sha512),
    (&[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x04], HashAlg::Sha224),
    (&[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x05], HashAlg::Sha512_224),
    (&[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x06], HashAlg::Sha512_256),
];

fn malformed(field: CertificateField) -> impl Fn(DerProblem) -> CertificateHashError {
    move |problem| CertificateHashError::Malformed { field, problem }
}

/// Walks `Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm, signatureValue }`
/// and returns the digest its signatureAlgorithm names. Like OpenSSL (and so PostgreSQL),
/// it reads the outer signatureAlgorithm, not the copy inside tbsCertificate.
fn signature_digest(cert_der: &[u8]) -> Result<HashAlg, CertificateHashError> {
    use CertificateField as F;

    let mut outer = Der::new(cert_der);
    let certificate = outer
        .read(TAG_SEQUENCE)
        .map_err(malformed(F::Certificate))?;
    outer.finish().map_err(malformed(F::Certificate))?;

    let mut fields = Der::new(certificate);
    fields
        .read(TAG_SEQUENCE)
        .map_err(malformed(F::TbsCertificate))?;
    let algorithm = fields
        .read(TAG_SEQUENCE)
        .map_err(malformed(F::SignatureAlgorithm))?;
    fields
        .read(TAG_BIT_STRING)
        .map_err(malformed(F::SignatureValue))?;
    fields.finish().map_err(malformed(F::Certificate))?;

    let (oid, parameters) =
        algorithm_identifier(algorithm).map_err(malformed(F::SignatureAlgorithm))?;
    match signature_kind(oid)? {
        SigKind::Digest(hash) => Ok(hash),
        SigKind::NoDigest(algorithm) => Err(CertificateHashError::NoDigest { algorithm }),
        SigKind::Pss => pss_hash(parameters),
    }
}

/// Splits `AlgorithmIdentifier ::= SEQUENCE { algorithm OID, parameters ANY OPTIONAL }`.
fn algorithm_identifier(contents: &[u8]) -> Result<(&[u8], Option<Tlv<'_>>), DerProblem> {
    let mut der = Der::new(contents);
    let oid = der.read(TAG_OID)?;
    let parameters = if der.is_empty() {
        None
    } else {
        Some(der.read_any()?)
    };
    der.finish()?;
    Ok((oid, parameters))
}

fn signature_kind(oid: &[u8]) -> Result<SigKind, CertificateHashError> {
    if let Some(&(_, kind)) = SIGNATURE_ALGORITHMS.iter().find(|(known, _)| *known == oid) {
        return Ok(kind);
    }
    if let Some(&[arc]) = oid.strip_prefix(NIST_SIG_ARC) {
        match arc {
            17..=19 => return Ok(SigKind::NoDigest("ML-DSA")),
            20..=31 => return Ok(SigKind::NoDigest("SLH-DSA")),
            _ => {}
        }
    }
    match dotted_oid(oid) {
        Some(oid) => Err(CertificateHashError::UnsupportedSignatureAlgorithm { oid }),
        None => Err(malformed(CertificateField::SignatureAlgorithm)(
            DerProblem::InvalidOid,
        )),
    }
}

/// `RSASSA-PSS-params ::= SEQUENCE { hashAlgorithm [0] DEFAULT sha1, maskGenAlgorithm [1],
/// saltLength [2], trailerField [3] }` (RFC 4055); only the hash matters here. A missing
/// hashAlgorithm means SHA-1. The parameters themselves must be present, as OpenSSL wants.
fn pss_hash(parameters: Option<Tlv<'_>>) -> Result<HashAlg, CertificateHashError> {
    use CertificateField as F;

    let parameters = parameters
        .ok_or(DerProblem::Missing)
        .map_err(malformed(F::PssParameters))?;
    if parameters.tag != TAG_SEQUENCE {
        return Err(malformed(F::PssParameters)(DerProblem::UnexpectedTag {
            expected: TAG_SEQUENCE,
            found: parameters.tag,
        }));
    }
    let mut fields = Der::new(parameters.contents);
    let mut hash = HashAlg::Sha1;
    if fields.peek_tag() == Some(TAG_PSS_HASH) {
        let explicit = fields
            .read(TAG_PSS_HASH)
            .map_err(malformed(F::PssHashAlgorithm))?;
        let mut inner = Der::new(explicit);
        let algorithm = inner
            .read(TAG_SEQUENCE)
            .map_err(malformed(F::PssHashAlgorithm))?;
        inner.finish().map_err(malformed(F::PssHashAlgorithm))?;
        let (oid, _) = algorithm_identifier(algorithm).map_err(malformed(F::PssHashAlgorithm))?;
        hash = match HASH_ALGORITHMS.iter().find(|(known, _)| *known == oid) {
            Some(&(_, hash)) => hash,
            None => {
                let oid = dotted_oid(oid)
                    .ok_or_else(|| malformed(F::PssHashAlgorithm)(DerProblem::InvalidOid))?;
                return Err(CertificateHashError::UnsupportedPssHash { oid });
            }
        };
    }
    // The rest is not needed, but it must still be well-formed DER.
    while !fields.is_empty() {
        fields.read_any().map_err(malformed(F::PssParameters))?;
    }
    Ok(hash)
}

/// Renders OID contents as dotted decimal; `None` if the encoding is invalid.
fn dotted_oid(contents: &[u8]) -> Option<String> {
    let mut arcs = Vec::new();
    let mut value: u64 = 0;
    let mut in_arc = false;
    for &byte in contents {
        if !in_arc && byte == 0x80 {
            return None; // leading zero group: not minimal
        }
        value = value
            .checked_mul(128)?
            .checked_add(u64::from(byte & 0x7F))?;
        in_arc = byte & 0x80 != 0;
        if !in_arc {
            arcs.push(value);
            value = 0;
        }
    }
    if in_arc || arcs.is_empty() {
        return None;
    }
    let first = arcs[0];
    let (a, b) = match first {
        0..=39 => (0, first),
        40..=79 => (1, first - 40),
        _ => (2, first - 80),
    };
    let mut out = format!("{a}.{b}");
    for arc in &arcs[1..] {
        out.push('.');
        out.push_str(&arc.to_string());
    }
    Some(out)
}

/// One DER element: its tag and contents.
#[derive(Debug, Clone, Copy)]
struct Tlv<'a> {
    tag: u8,
    contents: &'a [u8],
}

/// A cursor over DER elements; every read is bounds-checked.
struct Der<'a> {
    rest: &'a [u8],
}

impl<'a> Der<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Der { rest: bytes }
    }

    fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }

    fn peek_tag(&self) -> Option<u8> {
        self.rest.first().copied()
    }

    /// Reads an element that must carry `tag`; returns its contents.
    fn read(&mut self, tag: u8) -> Result<&'a [u8], DerProblem> {
        match self.peek_tag() {
            None => Err(DerProblem::Missing),
            Some(found) if found != tag => Err(DerProblem::UnexpectedTag {
                expected: tag,
                found,
            }),
            Some(_) => self.read_any().map(|tlv| tlv.contents),
        }
    }

    /// Reads any single-byte-tag element.
    fn read_any(&mut self) -> Result<Tlv<'a>, DerProblem> {
        let (&tag, after_tag) = self.rest.split_first().ok_or(DerProblem::Missing)?;
        if tag & 0x1F == 0x1F {
            return Err(DerProblem::HighTagNumber);
        }
        let (&first, mut after_len) = after_tag.split_first().ok_or(DerProblem::Truncated)?;
        let len = match first {
            0x00..=0x7F => usize::from(first),
            0x80 => return Err(DerProblem::IndefiniteLength),
            _ => {
                let count = usize::from(first & 0x7F);
                if count > 4 {
                    return Err(DerProblem::LengthTooLarge);
                }
                if after_len.len() < count {
                    return Err(DerProblem::Truncated);
                }
                let (bytes, rest) = after_len.split_at(count);
                after_len = rest;
                if bytes.first() == Some(&0) {
                    return Err(DerProblem::NonMinimalLength);
                }
                let len = bytes.iter().fold(0u64, |acc, &b| (acc << 8) | u64::from(b));
                if len < 0x80 {
                    return Err(DerProblem::NonMinimalLength);
                }
                usize::try_from(len).map_err(|_| DerProblem::LengthTooLarge)?
            }
        };
        if after_len.len() < len {
            return Err(DerProblem::Truncated);
        }
        let (contents, rest) = after_len.split_at(len);
        self.rest = rest;
        Ok(Tlv { tag, contents })
    }

    fn finish(&self) -> Result<(), DerProblem> {
        if self.rest.is_empty() {
            Ok(())
        } else {
            Err(DerProblem::TrailingData)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// DER-encodes one element (minimal length form).
    fn tlv(tag: u8, contents: &[u8]) -> Vec<u8> {
        let mut out = vec![tag];
        let len = contents.len();
        if len < 0x80 {
            out.push(len as u8);
        } else {
            let bytes: Vec<u8> = len
                .to_be_bytes()
                .iter()
                .copied()
                .skip_while(|&b| b == 0)
                .collect();
            out.push(0x80 | bytes.len() as u8);
            out.extend(bytes);
        }
        out.extend_from_slice(contents);
        out
    }

    fn seq(parts: &[Vec<u8>]) -> Vec<u8> {
        tlv(TAG_SEQUENCE, &parts.concat())
    }

    /// A structurally valid certificate whose signatureAlgorithm is `algorithm` (the full
    /// AlgorithmIdentifier element).
    fn cert_with(algorithm: Vec<u8>) -> Vec<u8> {
        let tbs = seq(&[tlv(0x02, &[0x01]), tlv(0x0C, b"not parsed")]);
        seq(&[tbs, algorithm, tlv(TAG_BIT_STRING, &[0x00, 0xAB])])
    }

    fn alg(oid: &[u8], parameters: Option<Vec<u8>>) -> Vec<u8> {
        let mut parts = vec![tlv(TAG_OID, oid)];
        parts.extend(parameters);
        seq(&parts)
    }

    const NULL: [u8; 2] = [0x05, 0x00];
    const RSA_SHA256: &[u8] = &[0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x01, 0x0B];
    const RSA_PSS: &[u8] = &[0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x01, 0x0A];
    const SHA384: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02];

    fn pss_cert(parameters: Option<Vec<u8>>) -> Vec<u8> {
        cert_with(alg(RSA_PSS, parameters))
    }

    fn malformed_at(field: CertificateField, problem: DerProblem) -> CertificateHashError {
        CertificateHashError::Malformed { field, problem }
    }

    #[test]
    fn binding_type_names_round_trip() {
        for kind in [
            ChannelBindingType::TlsServerEndPoint,
            ChannelBindingType::TlsExporter,
        ] {
            assert_eq!(ChannelBindingType::from_name(kind.name()), Some(kind));
            assert_eq!(kind.to_string(), kind.name());
        }
        assert_eq!(
            ChannelBindingType::TlsServerEndPoint.name(),
            "tls-server-end-point"
        );
        assert_eq!(ChannelBindingType::TlsExporter.name(), "tls-exporter");
        for other in [
            "tls-unique",
            "TLS-SERVER-END-POINT",
            "tls-server-end-point ",
            "",
            "tls",
        ] {
            assert_eq!(ChannelBindingType::from_name(other), None, "{other:?}");
        }
    }

    #[test]
    fn digest_follows_signature_algorithm() {
        let cert = cert_with(alg(RSA_SHA256, Some(NULL.to_vec())));
        assert_eq!(
            tls_server_end_point(&cert).unwrap(),
            Sha256::digest(&cert).to_vec()
        );

        let sha384_rsa = &[0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x01, 0x0C];
        let cert = cert_with(alg(sha384_rsa, Some(NULL.to_vec())));
        assert_eq!(
            tls_server_end_point(&cert).unwrap(),
            Sha384::digest(&cert).to_vec()
        );

        // ECDSA has no parameters at all.
        let ecdsa_sha512 = &[0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x04, 0x03, 0x04];
        let cert = cert_with(alg(ecdsa_sha512, None));
        assert_eq!(
            tls_server_end_point(&cert).unwrap(),
            Sha512::digest(&cert).to_vec()
        );

        let rsa_sha512_256 = &[0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x01, 0x10];
        let cert = cert_with(alg(rsa_sha512_256, Some(NULL.to_vec())));
        assert_eq!(
            tls_server_end_point(&cert).unwrap(),
            Sha512_256::digest(&cert).to_vec()
        );
    }

    #[test]
    fn md5_and_sha1_become_sha256() {
        for oid in [
            &[0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x01, 0x04][..],
            &[0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x01, 0x05],
            &[0x2B, 0x0E, 0x03, 0x02, 0x1D],
            &[0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x04, 0x01],
            &[0x2A, 0x86, 0x48, 0xCE, 0x38, 0x04, 0x03],
        ] {
            let cert = cert_with(alg(oid, None));
            assert_eq!(
                tls_server_end_point(&cert).unwrap(),
                Sha256::digest(&cert).to_vec()
            );
        }
    }

    #[test]
    fn eddsa_and_ml_dsa_cannot_bind() {
        for (oid, name) in [
            (&[0x2B, 0x65, 0x70][..], "Ed25519"),
            (&[0x2B, 0x65, 0x71], "Ed448"),
            (
                &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x03, 0x12],
                "ML-DSA",
            ),
            (
                &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x03, 0x14],
                "SLH-DSA",
            ),
        ] {
            let err = tls_server_end_point(&cert_with(alg(oid, None))).unwrap_err();
            assert_eq!(err, CertificateHashError::NoDigest { algorithm: name });
            assert!(
                err.to_string()
                    .contains("cannot be used for tls-server-end-point")
            );
        }
    }

    #[test]
    fn unknown_signature_algorithm_is_named() {
        // ecdsa-with-SHA3-256: well-formed, but no SHA-3 here.
        let oid = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x03, 0x0A];
        let err = tls_server_end_point(&cert_with(alg(oid, None))).unwrap_err();
        assert_eq!(
            err.to_string(),
            "unsupported certificate signature algorithm 2.16.840.1.101.3.4.3.10"
        );
        // An OID that ends mid-arc is malformed, not unknown.
        let err = tls_server_end_point(&cert_with(alg(&[0x2A, 0x86], None))).unwrap_err();
        assert_eq!(
            err,
            malformed_at(CertificateField::SignatureAlgorithm, DerProblem::InvalidOid)
        );
    }

    #[test]
    fn pss_hash_comes_from_parameters() {
        let sha384_param = tlv(TAG_PSS_HASH, &alg(SHA384, Some(NULL.to_vec())));
        let cert = pss_cert(Some(seq(&[sha384_param])));
        assert_eq!(
            tls_server_end_point(&cert).unwrap(),
            Sha384::digest(&cert).to_vec()
        );

        // Hash parameters absent (allowed by RFC 4055) and later fields present.
        let salt = tlv(0xA2, &tlv(0x02, &[0x30]));
        let cert = pss_cert(Some(seq(&[
            tlv(TAG_PSS_HASH, &alg(SHA384, None)),
            salt.clone(),
        ])));
        assert_eq!(
            tls_server_end_point(&cert).unwrap(),
            Sha384::digest(&cert).to_vec()
        );

        // No hashAlgorithm: SHA-1, bound as SHA-256; with and without other fields.
        for parameters in [seq(&[]), seq(&[salt])] {
            let cert = pss_cert(Some(parameters));
            assert_eq!(
                tls_server_end_point(&cert).unwrap(),
                Sha256::digest(&cert).to_vec()
            );
        }
    }

    #[test]
    fn pss_parameter_errors() {
        use CertificateField::{PssHashAlgorithm, PssParameters};
        assert_eq!(
            tls_server_end_point(&pss_cert(None)).unwrap_err(),
            malformed_at(PssParameters, DerProblem::Missing)
        );
        assert_eq!(
            tls_server_end_point(&pss_cert(Some(NULL.to_vec()))).unwrap_err(),
            malformed_at(
                PssParameters,
                DerProblem::UnexpectedTag {
                    expected: 0x30,
                    found: 0x05
                }
            )
        );
        // [0] holding an OID instead of an AlgorithmIdentifier.
        let bad = seq(&[tlv(TAG_PSS_HASH, &tlv(TAG_OID, SHA384))]);
        assert_eq!(
            tls_server_end_point(&pss_cert(Some(bad))).unwrap_err(),
            malformed_at(
                PssHashAlgorithm,
                DerProblem::UnexpectedTag {
                    expected: 0x30,
                    found: 0x06
                }
            )
        );
        // Garbage after the hash algorithm.
        let bad = seq(&[
            tlv(TAG_PSS_HASH, &alg(SHA384, None)),
            vec![0xA1, 0x05, 0x00],
        ]);
        assert_eq!(
            tls_server_end_point(&pss_cert(Some(bad))).unwrap_err(),
            malformed_at(PssParameters, DerProblem::Truncated)
        );
        // SHA3-256 as the PSS hash.
        let sha3 = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x08];
        let params = seq(&[tlv(TAG_PSS_HASH, &alg(sha3, None))]);
        assert_eq!(
            tls_server_end_point(&pss_cert(Some(params))).unwrap_err(),
            CertificateHashError::UnsupportedPssHash {
                oid: "2.16.840.1.101.3.4.2.8".into()
            }
        );
    }

    #[test]
    fn structure_errors() {
        use CertificateField::*;
        let good = cert_with(alg(RSA_SHA256, Some(NULL.to_vec())));
        let mut trailing = good.clone();
        trailing.push(0);
        let cases: Vec<(Vec<u8>, CertificateHashError)> = vec![
            (vec![], malformed_at(Certificate, DerProblem::Missing)),
            (
                vec![0x31, 0x00],
                malformed_at(
                    Certificate,
                    DerProblem::UnexpectedTag {
                        expected: 0x30,
                        found: 0x31,
                    },
                ),
            ),
            (
                trailing,
                malformed_at(Certificate, DerProblem::TrailingData),
            ),
            (seq(&[]), malformed_at(TbsCertificate, DerProblem::Missing)),
            (
                seq(&[seq(&[])]),
                malformed_at(SignatureAlgorithm, DerProblem::Missing),
            ),
            (
                seq(&[seq(&[]), alg(RSA_SHA256, None)]),
                malformed_at(SignatureValue, DerProblem::Missing),
            ),
            (
                seq(&[seq(&[]), alg(RSA_SHA256, None), tlv(0x04, &[])]),
                malformed_at(
                    SignatureValue,
                    DerProblem::UnexpectedTag {
                        expected: 0x03,
                        found: 0x04,
                    },
                ),
            ),
            (
                seq(&[
                    seq(&[]),
                    alg(RSA_SHA256, None),
                    tlv(0x03, &[0]),
                    tlv(0x03, &[0]),
                ]),
                malformed_at(Certificate, DerProblem::TrailingData),
            ),
            (
                cert_with(seq(&[
                    tlv(TAG_OID, RSA_SHA256),
                    NULL.to_vec(),
                    NULL.to_vec(),
                ])),
                malformed_at(SignatureAlgorithm, DerProblem::TrailingData),
            ),
            (
                cert_with(seq(&[NULL.to_vec()])),
                malformed_at(
                    SignatureAlgorithm,
                    DerProblem::UnexpectedTag {
                        expected: 0x06,
                        found: 0x05,
                    },
                ),
            ),
        ];
        for (input, expected) in cases {
            assert_eq!(
                tls_server_end_point(&input).unwrap_err(),
                expected,
                "{input:02X?}"
            );
        }
    }

    #[test]
    fn der_lengths() {
        let read = |bytes: &[u8]| Der::new(bytes).read_any().map(|tlv| tlv.contents.len());
        assert_eq!(read(&[0x04, 0x00]), Ok(0));
        assert_eq!(read(&[0x04, 0x7F]), Err(DerProblem::Truncated));
        let long: Vec<u8> = [&[0x04, 0x81, 0x80][..], &[0u8; 0x80]].concat();
        assert_eq!(read(&long), Ok(0x80));
        let longer: Vec<u8> = [&[0x04, 0x82, 0x01, 0x00][..], &[0u8; 0x100]].concat();
        assert_eq!(read(&longer), Ok(0x100));
        assert_eq!(
            read(&[0x04, 0x80, 0x00, 0x00]),
            Err(DerProblem::IndefiniteLength)
        );
        assert_eq!(
            read(&[0x04, 0x81, 0x05, 0, 0, 0, 0, 0]),
            Err(DerProblem::NonMinimalLength)
        );
        assert_eq!(
            read(&[0x04, 0x82, 0x00, 0x80]),
            Err(DerProblem::NonMinimalLength)
        );
        assert_eq!(
            read(&[0x04, 0x85, 1, 0, 0, 0, 0]),
            Err(DerProblem::LengthTooLarge)
        );
        assert_eq!(read(&[0x04, 0xFF]), Err(DerProblem::LengthTooLarge));
        assert_eq!(
            read(&[0x04, 0x84, 0xFF, 0xFF, 0xFF, 0xFF]),
            Err(DerProblem::Truncated)
        );
        assert_eq!(read(&[0x04, 0x82, 0x01]), Err(DerProblem::Truncated));
        assert_eq!(read(&[0x04]), Err(DerProblem::Truncated));
        assert_eq!(read(&[]), Err(DerProblem::Missing));
        assert_eq!(
            read(&[0x1F, 0x81, 0x00, 0x00]),
            Err(DerProblem::HighTagNumber)
        );
    }

    #[test]
    fn every_truncation_and_corruption_is_an_error_not_a_panic() {
        let sha384_param = tlv(TAG_PSS_HASH, &alg(SHA384, Some(NULL.to_vec())));
        let cert = pss_cert(Some(seq(&[sha384_param])));
        assert!(tls_server_end_point(&cert).is_ok());
        for len in 0..cert.len() {
            assert!(
                tls_server_end_point(&cert[..len]).is_err(),
                "prefix of {len} bytes"
            );
        }
        for i in 0..cert.len() {
            for flip in [0x01, 0x80, 0xFF] {
                let mut bad = cert.clone();
                bad[i] ^= flip;
                let _ = tls_server_end_point(&bad);
            }
        }
    }

    #[test]
    fn oid_tables_spell_the_intended_arcs() {
        let signature_arcs = [
            "1.2.840.113549.1.1.4",
            "1.2.840.113549.1.1.5",
            "1.2.840.113549.1.1.10",
            "1.2.840.113549.1.1.11",
            "1.2.840.113549.1.1.12",
            "1.2.840.113549.1.1.13",
            "1.2.840.113549.1.1.14",
            "1.2.840.113549.1.1.15",
            "1.2.840.113549.1.1.16",
            "1.3.14.3.2.3",
            "1.3.14.3.2.27",
            "1.3.14.3.2.29",
            "1.2.840.10045.4.1",
            "1.2.840.10045.4.3.1",
            "1.2.840.10045.4.3.2",
            "1.2.840.10045.4.3.3",
            "1.2.840.10045.4.3.4",
            "1.2.840.10040.4.3",
            "2.16.840.1.101.3.4.3.1",
            "2.16.840.1.101.3.4.3.2",
            "2.16.840.1.101.3.4.3.3",
            "2.16.840.1.101.3.4.3.4",
            "1.3.101.112",
            "1.3.101.113",
        ];
        let spelled: Vec<String> = SIGNATURE_ALGORITHMS
            .iter()
            .map(|(oid, _)| dotted_oid(oid).unwrap())
            .collect();
        assert_eq!(spelled, signature_arcs);
        let hash_arcs = [
            "1.2.840.113549.2.5",
            "1.3.14.3.2.26",
            "2.16.840.1.101.3.4.2.1",
            "2.16.840.1.101.3.4.2.2",
            "2.16.840.1.101.3.4.2.3",
            "2.16.840.1.101.3.4.2.4",
            "2.16.840.1.101.3.4.2.5",
            "2.16.840.1.101.3.4.2.6",
        ];
        let spelled: Vec<String> = HASH_ALGORITHMS
            .iter()
            .map(|(oid, _)| dotted_oid(oid).unwrap())
            .collect();
        assert_eq!(spelled, hash_arcs);
        assert_eq!(
            dotted_oid(NIST_SIG_ARC).as_deref(),
            Some("2.16.840.1.101.3.4.3")
        );
    }

    #[test]
    fn dotted_oid_edge_cases() {
        assert_eq!(dotted_oid(&[0x00]).as_deref(), Some("0.0"));
        assert_eq!(dotted_oid(&[0x27]).as_deref(), Some("0.39"));
        assert_eq!(dotted_oid(&[0x28]).as_deref(), Some("1.0"));
        assert_eq!(dotted_oid(&[0x88, 0x37, 0x03]).as_deref(), Some("2.999.3"));
        assert_eq!(dotted_oid(&[]), None);
        assert_eq!(dotted_oid(&[0x2A, 0x86]), None, "ends mid-arc");
        assert_eq!(dotted_oid(&[0x2A, 0x80, 0x01]), None, "leading zero group");
        assert_eq!(dotted_oid(&[0xFF; 12]), None, "overflows u64");
    }

    #[test]
    fn exporter_constants() {
        assert_eq!(TLS_EXPORTER_LABEL, b"EXPORTER-Channel-Binding");
        assert_eq!(TLS_EXPORTER_LEN, 32);
    }

    #[test]
    fn error_messages() {
        assert_eq!(
            malformed_at(
                CertificateField::SignatureAlgorithm,
                DerProblem::UnexpectedTag {
                    expected: 0x30,
                    found: 0x02
                }
            )
            .to_string(),
            "malformed certificate: signatureAlgorithm: expected tag 0x30, found 0x02"
        );
        assert_eq!(
            CertificateHashError::NoDigest {
                algorithm: "Ed25519"
            }
            .to_string(),
            "certificate signature algorithm Ed25519 has no digest, so it cannot be used for \
             tls-server-end-point channel binding"
        );
    }
}
