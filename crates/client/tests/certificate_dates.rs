//! A server certificate outside its validity period is refused even when it is
//! byte-identical to one in sslrootcert, as libpq (OpenSSL) refuses it, and in libpq's
//! words (issue 11). Checked against a real PostgreSQL 15 serving such a certificate,
//! with psql alongside for the wording.

use pgscram_client::{Error, connect};
use pgscram_testkit::{Options, Postgres, temp_dir};

/// A self-signed `CA:TRUE` certificate for `localhost`, as `openssl req -x509` makes
/// them, valid between the two dates; (certificate PEM, key PEM).
fn dated_cert(not_before: (i32, u8, u8), not_after: (i32, u8, u8)) -> (String, String) {
    let mut params = rcgen::CertificateParams::new(vec!["localhost".into()]).unwrap();
    params.not_before = rcgen::date_time_ymd(not_before.0, not_before.1, not_before.2);
    params.not_after = rcgen::date_time_ymd(not_after.0, not_after.1, not_after.2);
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = params.self_signed(&key).unwrap();
    (cert.pem(), key.serialize_pem())
}

/// A server certificate for `localhost` (valid now) issued by a CA valid between the two
/// dates; (CA PEM, (server certificate PEM, server key PEM)).
fn issued_by_dated_ca(
    not_before: (i32, u8, u8),
    not_after: (i32, u8, u8),
) -> (String, (String, String)) {
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "pgscram test CA");
    ca_params.not_before = rcgen::date_time_ymd(not_before.0, not_before.1, not_before.2);
    ca_params.not_after = rcgen::date_time_ymd(not_after.0, not_after.1, not_after.2);
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let mut params = rcgen::CertificateParams::new(vec!["localhost".into()]).unwrap();
    params.not_before = rcgen::date_time_ymd(2000, 1, 1);
    params.not_after = rcgen::date_time_ymd(2999, 1, 1);
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = params.signed_by(&key, &ca, &ca_key).unwrap();
    (ca.pem(), (cert.pem(), key.serialize_pem()))
}

/// Starts PostgreSQL with the certificate and returns it with the certificate's path
/// as a root file.
fn cluster(label: &str, (cert, key): (String, String)) -> (Postgres, String) {
    cluster_with_root(label, cert.clone(), (cert, key))
}

/// Starts PostgreSQL with the server certificate; `root` goes to a root file.
fn cluster_with_root(
    label: &str,
    root_pem: String,
    server: (String, String),
) -> (Postgres, String) {
    let pg = Postgres::start_with(Options {
        tls: Some(server),
        ..Options::default()
    });
    pg.sql("SET password_encryption = 'scram-sha-256'; CREATE ROLE alice LOGIN PASSWORD 'pw'");
    let root = temp_dir(label).join("root.crt");
    std::fs::write(&root, root_pem).unwrap();
    (pg, root.display().to_string())
}

/// Our error and psql's for the same conninfo; both must fail with the same words.
async fn both_refuse(pg: &Postgres, extra: &str) {
    let conninfo = format!(
        "host=localhost hostaddr=127.0.0.1 port={} user=alice password=pw dbname=postgres connect_timeout=10 {extra}",
        pg.port()
    );
    let error = connect(&conninfo).await.unwrap_err();
    assert!(matches!(error, Error::Tls(_)), "{error}");
    assert_eq!(error.to_string(), "SSL error: certificate verify failed");

    let psql = pg.psql_tcp("alice", "pw", extra, "SELECT 1");
    let stderr = String::from_utf8_lossy(&psql.stderr);
    assert!(!psql.status.success());
    assert!(
        stderr.trim_end().ends_with(&format!("failed: {error}")),
        "psql said: {stderr}"
    );
}

async fn refused_in_both_verify_modes(pg: &Postgres, root: &str) {
    // require verifies too when given a root file, in libpq and here.
    for mode in ["verify-ca", "verify-full", "require"] {
        both_refuse(pg, &format!("sslmode={mode} sslrootcert={root}")).await;
    }
    // Without verification the dates are not looked at, by libpq or by us.
    let conninfo = format!(
        "host=127.0.0.1 port={} user=alice password=pw dbname=postgres sslmode=require",
        pg.port()
    );
    let conn = connect(&conninfo).await.unwrap();
    assert!(conn.negotiated().tls.is_some());
}

#[tokio::test]
async fn expired_pinned_certificate_is_refused() {
    let (pg, root) = cluster("expired-root", dated_cert((2000, 1, 1), (2001, 1, 1)));
    refused_in_both_verify_modes(&pg, &root).await;
}

#[tokio::test]
async fn not_yet_valid_pinned_certificate_is_refused() {
    let (pg, root) = cluster("future-root", dated_cert((2100, 1, 1), (2101, 1, 1)));
    refused_in_both_verify_modes(&pg, &root).await;
}

#[tokio::test]
async fn current_pinned_certificate_is_accepted() {
    let (pg, root) = cluster("current-root", dated_cert((2000, 1, 1), (2999, 1, 1)));
    for mode in ["verify-ca", "verify-full"] {
        let conninfo = format!(
            "host=localhost hostaddr=127.0.0.1 port={} user=alice password=pw dbname=postgres sslmode={mode} sslrootcert={root}",
            pg.port()
        );
        let conn = connect(&conninfo).await.unwrap();
        assert!(conn.negotiated().channel_binding);
    }
}

#[tokio::test]
async fn expired_root_ca_is_refused() {
    let (ca, server) = issued_by_dated_ca((2000, 1, 1), (2001, 1, 1));
    let (pg, root) = cluster_with_root("expired-ca", ca, server);
    refused_in_both_verify_modes(&pg, &root).await;
}

#[tokio::test]
async fn not_yet_valid_root_ca_is_refused() {
    let (ca, server) = issued_by_dated_ca((2100, 1, 1), (2101, 1, 1));
    let (pg, root) = cluster_with_root("future-ca", ca, server);
    refused_in_both_verify_modes(&pg, &root).await;
}

#[tokio::test]
async fn current_root_ca_is_accepted() {
    let (ca, server) = issued_by_dated_ca((2000, 1, 1), (2999, 1, 1));
    let (pg, root) = cluster_with_root("current-ca", ca, server);
    for mode in ["verify-ca", "verify-full"] {
        let conninfo = format!(
            "host=localhost hostaddr=127.0.0.1 port={} user=alice password=pw dbname=postgres sslmode={mode} sslrootcert={root}",
            pg.port()
        );
        assert!(connect(&conninfo).await.is_ok(), "{mode}");
    }
}
