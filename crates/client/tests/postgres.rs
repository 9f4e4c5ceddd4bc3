//! The client against a real PostgreSQL 15: SCRAM, TLS and channel binding, the
//! require_auth matrix, SCRAM keys, queries and cancellation.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use pgscram_client::{AuthMethod, Config, Error, connect, connect_with};
use pgscram_scram::keys::SaltedPassword;
use pgscram_scram::saslprep::prepare_password;
use pgscram_scram::{ClientError, ScramVerifier};
use pgscram_testkit::{Options, Postgres, self_signed_cert};
use pgscram_wire::SqlState;

fn tcp(pg: &Postgres, user: &str, password: &str, extra: &str) -> String {
    format!(
        "host=127.0.0.1 port={} user={user} password='{password}' dbname=postgres connect_timeout=10 {extra}",
        pg.port()
    )
}

/// Creates a role whose SCRAM secret is made on our side (no server-side hashing).
fn scram_role(pg: &Postgres, role: &str, password: &str) {
    let verifier = ScramVerifier::derive(password.as_bytes(), &[0x42; 16], 4096).unwrap();
    pg.sql(&format!("CREATE ROLE {role} LOGIN PASSWORD '{verifier}'"));
}

#[tokio::test]
async fn scram_login_query_and_wrong_password() {
    let pg = Postgres::start();
    scram_role(&pg, "alice", "s3cret pässword");

    let mut conn = connect(&tcp(&pg, "alice", "s3cret pässword", "sslmode=disable"))
        .await
        .unwrap();
    let n = conn.negotiated().clone();
    assert_eq!(n.method, AuthMethod::ScramSha256);
    assert_eq!(n.mechanism, Some("SCRAM-SHA-256"));
    assert!(n.server_verified);
    assert!(!n.channel_binding);
    assert!(n.tls.is_none());
    assert!(conn.parameter("server_version").unwrap().starts_with("15"));
    assert!(conn.backend_pid().is_some());

    let results = conn
        .simple_query("SELECT current_user, NULL::text AS nothing; SELECT 1 WHERE false")
        .await
        .unwrap();
    assert_eq!(results.len(), 2);
    assert_eq!(results[0].columns, ["current_user", "nothing"]);
    assert_eq!(results[0].rows, vec![vec![Some("alice".to_owned()), None]]);
    assert_eq!(results[0].command_tag, "SELECT 1");
    assert_eq!(results[1].command_tag, "SELECT 0");

    // A failing statement surfaces its SQLSTATE and leaves the connection usable.
    let error = conn
        .simple_query("SELECT * FROM nowhere")
        .await
        .unwrap_err();
    assert_eq!(error.sqlstate(), Some(SqlState::UNDEFINED_TABLE));
    assert_eq!(
        conn.query("SELECT 2").await.unwrap().rows[0][0].as_deref(),
        Some("2")
    );
    conn.close().await;

    let error = connect(&tcp(&pg, "alice", "wrong", "sslmode=disable"))
        .await
        .unwrap_err();
    assert_eq!(error.sqlstate(), Some(SqlState::INVALID_PASSWORD));
    assert_eq!(
        error.server_error().unwrap().message,
        "password authentication failed for user \"alice\""
    );
    assert!(!error.to_string().contains("wrong"));
}

#[tokio::test]
async fn passfile_hosts_and_application_name() {
    use std::os::unix::fs::PermissionsExt as _;

    let pg = Postgres::start();
    scram_role(&pg, "alice", "from pgpass");
    let passfile = pgscram_testkit::temp_dir("client-pgpass").join("pgpass");
    std::fs::write(
        &passfile,
        format!("127.0.0.1:{}:postgres:alice:from pgpass\n", pg.port()),
    )
    .unwrap();
    std::fs::set_permissions(&passfile, std::fs::Permissions::from_mode(0o600)).unwrap();

    // The first host refuses connections; the second is the server.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let closed_port = closed.local_addr().unwrap().port();
    drop(closed);
    let conninfo = format!(
        "host=127.0.0.1,127.0.0.1 port={closed_port},{} user=alice dbname=postgres \
         sslmode=disable passfile={} application_name=pgscram-test",
        pg.port(),
        passfile.display()
    );
    let mut conn = connect(&conninfo).await.unwrap();
    assert_eq!(conn.negotiated().method, AuthMethod::ScramSha256);
    let name = conn.query("SHOW application_name").await.unwrap();
    assert_eq!(name.rows[0][0].as_deref(), Some("pgscram-test"));

    // Every host failing: one line per attempt.
    let error = connect(&format!(
        "host=127.0.0.1,127.0.0.1 port={closed_port},{closed_port} user=alice dbname=postgres sslmode=disable"
    ))
    .await
    .unwrap_err();
    assert!(
        matches!(&error, Error::AllHostsFailed(a) if a.len() == 2),
        "{error}"
    );
}

#[tokio::test]
async fn cancel_stops_a_running_query() {
    let pg = Postgres::start();
    scram_role(&pg, "alice", "pw");
    let mut conn = connect(&tcp(&pg, "alice", "pw", "sslmode=disable"))
        .await
        .unwrap();
    let token = conn.cancel_token().unwrap();
    assert!(!format!("{token:?}").contains("key:"));
    let canceller = tokio::spawn(async move {
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        token.cancel().await
    });
    let error = conn.simple_query("SELECT pg_sleep(30)").await.unwrap_err();
    assert_eq!(error.sqlstate(), Some(SqlState::QUERY_CANCELED));
    canceller.await.unwrap().unwrap();
    assert!(conn.query("SELECT 1").await.is_ok());
}

#[tokio::test]
async fn unix_socket_trust_login() {
    let pg = Postgres::start();
    let conninfo = format!(
        "host={} port={} user=postgres dbname=postgres",
        pg.socket_dir().display(),
        pg.port()
    );
    let mut conn = connect(&conninfo).await.unwrap();
    assert_eq!(conn.negotiated().method, AuthMethod::Trust);
    assert!(!conn.negotiated().server_verified);
    let row = conn.query("SELECT current_user").await.unwrap();
    assert_eq!(row.rows[0][0].as_deref(), Some("postgres"));

    // require_auth=none refuses... nothing: trust is exactly "none".
    let ok = connect(&format!("{conninfo} require_auth=none")).await;
    assert!(ok.is_ok());
    // A password requirement fails against trust: the server did not authenticate us.
    let error = connect(&format!("{conninfo} require_auth=scram-sha-256"))
        .await
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "authentication method requirement \"scram-sha-256\" failed: server did not complete authentication"
    );
    // channel_binding=require: trust is authentication without any binding.
    let error = connect(&format!("{conninfo} channel_binding=require"))
        .await
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "channel binding required, but server authenticated client without channel binding"
    );
}

fn tls_cluster() -> (Postgres, String) {
    let (cert, key) = self_signed_cert(&["-newkey", "rsa:2048"], "sha256");
    let pg = Postgres::start_with(Options {
        hba: "local all all trust\nhost all all 127.0.0.1/32 scram-sha-256\n".into(),
        tls: Some((cert.clone(), key)),
        ..Options::default()
    });
    scram_role(&pg, "alice", "pw");
    (pg, cert)
}

#[tokio::test]
async fn channel_binding_over_tls() {
    let (pg, cert) = tls_cluster();

    let conn = connect(&tcp(
        &pg,
        "alice",
        "pw",
        "sslmode=require channel_binding=require",
    ))
    .await
    .unwrap();
    let n = conn.negotiated();
    assert_eq!(n.mechanism, Some("SCRAM-SHA-256-PLUS"));
    assert!(n.channel_binding && n.server_verified);
    let tls = n.tls.as_ref().unwrap();
    assert!(tls.version.starts_with("TLSv1."), "{tls:?}");
    assert!(tls.cipher.starts_with("TLS"), "{tls:?}");

    // Without TLS, libpq's text, and nothing is sent.
    let error = connect(&tcp(
        &pg,
        "alice",
        "pw",
        "sslmode=disable channel_binding=require",
    ))
    .await
    .unwrap_err();
    assert_eq!(
        error.to_string(),
        "channel binding required, but SSL not in use"
    );

    // channel_binding=disable over TLS: plain SCRAM with the `n` flag.
    let conn = connect(&tcp(
        &pg,
        "alice",
        "pw",
        "sslmode=require channel_binding=disable",
    ))
    .await
    .unwrap();
    assert_eq!(conn.negotiated().mechanism, Some("SCRAM-SHA-256"));
    assert!(!conn.negotiated().channel_binding);

    // prefer (the default) binds when the server offers PLUS.
    let conn = connect(&tcp(&pg, "alice", "pw", "sslmode=prefer"))
        .await
        .unwrap();
    assert!(conn.negotiated().channel_binding);

    // verify-full against the server's own certificate as the root.
    let root = pgscram_testkit::temp_dir("client-root").join("root.crt");
    std::fs::write(&root, &cert).unwrap();
    let verify_full = format!(
        "host=localhost hostaddr=127.0.0.1 port={} user=alice password=pw dbname=postgres sslmode=verify-full sslrootcert={}",
        pg.port(),
        root.display()
    );
    let conn = connect(&verify_full).await.unwrap();
    assert!(conn.negotiated().channel_binding);

    // The certificate is not for this name.
    let wrong_name = verify_full.replace("host=localhost", "host=db.example.com");
    let error = connect(&wrong_name).await.unwrap_err();
    assert!(matches!(error, Error::Tls(_)), "{error}");
    // verify-ca ignores the name.
    let ca_only = wrong_name.replace("verify-full", "verify-ca");
    assert!(connect(&ca_only).await.is_ok());

    // Another root: the chain does not verify.
    let (other, _) = self_signed_cert(&["-newkey", "rsa:2048"], "sha256");
    let other_root = root.with_file_name("other.crt");
    std::fs::write(&other_root, other).unwrap();
    let error = connect(&verify_full.replace(root.to_str().unwrap(), other_root.to_str().unwrap()))
        .await
        .unwrap_err();
    assert!(error.to_string().starts_with("SSL error"), "{error}");

    // hostssl only: sslmode=allow tries plaintext, is refused, and retries with TLS.
    pg.set_hba("local all all trust\nhostssl all all 127.0.0.1/32 scram-sha-256\n");
    let conn = connect(&tcp(&pg, "alice", "pw", "sslmode=allow"))
        .await
        .unwrap();
    assert!(conn.negotiated().tls.is_some());
    let error = connect(&tcp(&pg, "alice", "pw", "sslmode=disable"))
        .await
        .unwrap_err();
    assert_eq!(
        error.sqlstate(),
        Some(SqlState::INVALID_AUTHORIZATION_SPECIFICATION)
    );
}

#[tokio::test]
async fn sslmode_against_a_server_without_tls() {
    let pg = Postgres::start();
    scram_role(&pg, "alice", "pw");
    let error = connect(&tcp(&pg, "alice", "pw", "sslmode=require"))
        .await
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "server does not support SSL, but SSL was required"
    );
    // prefer and allow fall back to plaintext.
    for mode in ["prefer", "allow"] {
        let conn = connect(&tcp(&pg, "alice", "pw", &format!("sslmode={mode}")))
            .await
            .unwrap();
        assert!(conn.negotiated().tls.is_none());
    }
}

#[tokio::test]
async fn require_auth_matrix() {
    let pg = Postgres::start_with(Options {
        hba: "local all all trust\n\
              host all md5user 127.0.0.1/32 md5\n\
              host all clearuser 127.0.0.1/32 password\n\
              host all all 127.0.0.1/32 scram-sha-256\n"
            .into(),
        ..Options::default()
    });
    scram_role(&pg, "scramuser", "pw");
    scram_role(&pg, "clearuser", "pw");
    pg.sql("SET password_encryption = 'md5'; CREATE ROLE md5user LOGIN PASSWORD 'pw'");
    assert!(
        pg.sql("SELECT rolpassword FROM pg_authid WHERE rolname = 'md5user'")
            .starts_with("md5")
    );

    let login = |user: &'static str, require: &'static str| {
        let conninfo = tcp(
            &pg,
            user,
            "pw",
            &format!("sslmode=disable require_auth={require}"),
        );
        async move { connect(&conninfo).await }
    };

    // Allowed.
    let ok = login("scramuser", "scram-sha-256").await.unwrap();
    assert_eq!(ok.negotiated().method, AuthMethod::ScramSha256);
    assert!(login("scramuser", "!password").await.is_ok());
    assert!(login("scramuser", "md5,scram-sha-256").await.is_ok());
    let ok = login("md5user", "md5").await.unwrap();
    assert_eq!(ok.negotiated().method, AuthMethod::Md5);
    let ok = login("clearuser", "password").await.unwrap();
    assert_eq!(ok.negotiated().method, AuthMethod::Password);

    // Refused, with libpq's texts.
    let text = |r: Result<_, Error>| r.map(|_| ()).unwrap_err().to_string();
    assert_eq!(
        text(login("scramuser", "none").await),
        "authentication method requirement \"none\" failed: server requested SASL authentication"
    );
    assert_eq!(
        text(login("scramuser", "md5").await),
        "authentication method requirement \"md5\" failed: server requested SASL authentication"
    );
    assert_eq!(
        text(login("md5user", "scram-sha-256").await),
        "authentication method requirement \"scram-sha-256\" failed: server requested a hashed password"
    );
    assert_eq!(
        text(login("md5user", "!md5").await),
        "authentication method requirement \"!md5\" failed: server requested a hashed password"
    );
    // The server asks for a cleartext password; require_auth forbids sending it.
    assert_eq!(
        text(login("clearuser", "scram-sha-256").await),
        "authentication method requirement \"scram-sha-256\" failed: server requested a cleartext password"
    );
    assert_eq!(
        text(login("clearuser", "!password").await),
        "authentication method requirement \"!password\" failed: server requested a cleartext password"
    );
    // A bad list is a settings error, before any connection.
    let error = login("scramuser", "!md5,scram-sha-256").await.unwrap_err();
    assert!(matches!(error, Error::Config(_)), "{error}");
    assert!(error.to_string().contains("cannot be mixed"), "{error}");
    // channel_binding=require refuses md5 as libpq does.
    let error = connect(&tcp(
        &pg,
        "md5user",
        "pw",
        "sslmode=disable channel_binding=require",
    ))
    .await
    .unwrap_err();
    assert!(matches!(error, Error::Policy(_)), "{error}");
}

#[tokio::test]
async fn scram_keys_log_in_without_the_password() {
    let pg = Postgres::start();
    pg.sql("SET password_encryption = 'scram-sha-256'; CREATE ROLE keyed LOGIN PASSWORD 'the password'");
    let stored = pg.sql("SELECT rolpassword FROM pg_authid WHERE rolname = 'keyed'");
    let verifier = ScramVerifier::parse(&stored).unwrap();
    let prepared = prepare_password(b"the password");
    let salted =
        SaltedPassword::derive(prepared.as_bytes(), verifier.salt(), verifier.iterations());
    let client_key = B64.encode(salted.client_key().as_bytes());
    let server_key = B64.encode(salted.server_key().as_bytes());
    let conninfo = format!(
        "host=127.0.0.1 port={} user=keyed dbname=postgres sslmode=disable scram_client_key={client_key} scram_server_key={server_key}",
        pg.port()
    );
    let conn = connect(&conninfo).await.unwrap();
    assert!(conn.negotiated().server_verified);

    // A wrong server key: the server's signature no longer checks out.
    let wrong = B64.encode([0u8; 32]);
    let error = connect(&conninfo.replace(&server_key, &wrong))
        .await
        .unwrap_err();
    assert!(
        matches!(error, Error::Scram(ClientError::IncorrectServerSignature)),
        "{error}"
    );
}

#[tokio::test]
async fn iteration_cap_applies_to_real_servers() {
    let pg = Postgres::start();
    let verifier = ScramVerifier::derive(b"pw", &[1; 16], 20_000).unwrap();
    pg.sql(&format!("CREATE ROLE slow LOGIN PASSWORD '{verifier}'"));
    let mut config = Config::parse(&tcp(
        &pg,
        "slow",
        "pw",
        "sslmode=disable scram_max_iterations=10000",
    ))
    .unwrap();
    let error = connect_with(&config).await.unwrap_err();
    assert!(
        matches!(
            error,
            Error::Scram(ClientError::IterationCountTooHigh {
                requested: 20_000,
                limit: 10_000
            })
        ),
        "{error}"
    );
    config.set_max_iterations(20_000);
    assert!(connect_with(&config).await.is_ok());
}

#[tokio::test]
async fn database_errors_after_authentication() {
    let pg = Postgres::start();
    scram_role(&pg, "alice", "pw");
    let conninfo =
        tcp(&pg, "alice", "pw", "sslmode=disable").replace("dbname=postgres", "dbname=nosuchdb");
    let error = connect(&conninfo).await.unwrap_err();
    assert_eq!(error.sqlstate(), Some(SqlState::INVALID_CATALOG_NAME));
    assert!(matches!(error, Error::Server(_)));
}
