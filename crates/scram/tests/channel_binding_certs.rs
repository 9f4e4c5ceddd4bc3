//! tls-server-end-point hashes of real certificates made by `openssl` (see
//! tests/data/generate-certs.sh), against `openssl dgst` of the same files.

use std::path::{Path, PathBuf};

use pgscram_scram::channel_binding::{CertificateHashError, tls_server_end_point};

fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data")
}

/// One line of tls-server-end-point.txt: file, digest name (or "none"), expected hex.
struct Case {
    file: String,
    digest: String,
    hex: String,
    der: Vec<u8>,
}

fn cases() -> Vec<Case> {
    let manifest = std::fs::read_to_string(data_dir().join("tls-server-end-point.txt"))
        .expect("tests/data/tls-server-end-point.txt");
    let cases: Vec<Case> = manifest
        .lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            assert_eq!(fields.len(), 3, "bad manifest line {line:?}");
            let der = std::fs::read(data_dir().join(fields[0])).expect(fields[0]);
            Case {
                file: fields[0].to_owned(),
                digest: fields[1].to_owned(),
                hex: fields[2].to_owned(),
                der,
            }
        })
        .collect();
    assert!(
        cases.len() >= 19,
        "manifest lost certificates: {}",
        cases.len()
    );
    cases
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn hashes_match_openssl() {
    for case in cases() {
        let result = tls_server_end_point(&case.der);
        if case.digest == "none" {
            assert!(
                matches!(result, Err(CertificateHashError::NoDigest { .. })),
                "{}: {result:?}",
                case.file
            );
            continue;
        }
        let hash = result.unwrap_or_else(|e| panic!("{}: {e}", case.file));
        let expected_len = match case.digest.as_str() {
            "sha224" => 28,
            "sha256" => 32,
            "sha384" => 48,
            "sha512" => 64,
            other => panic!("{}: unknown digest {other}", case.file),
        };
        assert_eq!(hash.len(), expected_len, "{}", case.file);
        assert_eq!(hex(&hash), case.hex, "{}", case.file);
    }
}

#[test]
fn covers_the_algorithms_postgresql_meets() {
    let files: Vec<String> = cases().into_iter().map(|c| c.file).collect();
    for needed in [
        "rsa-sha256.der",
        "rsa-sha384.der",
        "rsa-sha1.der",
        "rsa-md5.der",
        "rsa-pss-sha256.der",
        "rsa-pss-sha1-default.der",
        "rsapss-key-sha384.der",
        "ecdsa-p256-sha256.der",
        "ecdsa-p384-sha384.der",
        "ed25519.der",
    ] {
        assert!(files.iter().any(|f| f == needed), "{needed} missing");
    }
}

#[test]
fn every_truncation_is_an_error() {
    for case in cases() {
        for len in 0..case.der.len() {
            assert!(
                tls_server_end_point(&case.der[..len]).is_err(),
                "{} cut to {len} bytes",
                case.file
            );
        }
    }
}

#[test]
fn trailing_bytes_are_refused() {
    for case in cases() {
        let mut longer = case.der.clone();
        longer.push(0x00);
        assert!(tls_server_end_point(&longer).is_err(), "{}", case.file);
    }
}

#[test]
fn corrupted_bytes_never_panic() {
    for case in cases() {
        for i in 0..case.der.len() {
            for flip in [0x01, 0x80, 0xFF] {
                let mut bad = case.der.clone();
                bad[i] ^= flip;
                // Any answer will do; a corrupted length or tag must not panic.
                let _ = tls_server_end_point(&bad);
            }
        }
    }
}
