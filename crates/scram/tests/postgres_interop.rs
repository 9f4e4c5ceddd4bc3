//! Verifiers cross the border with a real PostgreSQL 15 in both directions.

use pgscram_scram::{
    Channel, ClientChannel, ClientExchange, ClientOptions, Credential, Credentials, Nonce, Outcome,
    ScramVerifier, ServerExchange,
};
use pgscram_testkit::Postgres;
use zeroize::Zeroizing;

#[test]
fn our_verifier_logs_in_to_postgres() {
    let pg = Postgres::start();
    let verifier =
        ScramVerifier::derive("pässwörd with spaces".as_bytes(), &[0x5c; 16], 4096).unwrap();
    pg.sql(&format!("CREATE ROLE ours LOGIN PASSWORD '{verifier}'"));
    // PostgreSQL stored it as-is: it recognised our string as a SCRAM secret.
    assert_eq!(
        pg.sql("SELECT rolpassword FROM pg_authid WHERE rolname = 'ours'"),
        verifier.to_string()
    );

    let ok = pg.psql_tcp(
        "ours",
        "pässwörd with spaces",
        "sslmode=disable",
        "SELECT current_user",
    );
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&ok.stdout).trim(), "ours");

    let bad = pg.psql_tcp("ours", "wrong", "sslmode=disable", "SELECT 1");
    assert!(!bad.status.success());
    assert!(
        String::from_utf8_lossy(&bad.stderr)
            .contains("password authentication failed for user \"ours\"")
    );
}

#[test]
fn postgres_verifiers_check_our_proofs() {
    let pg = Postgres::start();
    let cases = [
        ("plain", "secret"),
        ("mapped", "I\u{00AD}X"),     // SASLprep maps the soft hyphen away
        ("nfkc", "\u{2168}"),         // ROMAN NUMERAL NINE normalises to "IX"
        ("prohibited", "a\u{0007}b"), // BEL is prohibited: raw bytes are used
    ];
    for (role, password) in cases {
        pg.sql(&format!("SET password_encryption = 'scram-sha-256'; CREATE ROLE {role} LOGIN PASSWORD '{password}'"));
        let stored = pg.sql(&format!(
            "SELECT rolpassword FROM pg_authid WHERE rolname = '{role}'"
        ));
        let theirs =
            ScramVerifier::parse(&stored).unwrap_or_else(|e| panic!("{role}: {e}: {stored}"));

        // Same salt and count: our derivation gives PostgreSQL's string exactly.
        let ours =
            ScramVerifier::derive(password.as_bytes(), theirs.salt(), theirs.iterations()).unwrap();
        assert_eq!(ours.to_string(), stored, "{role}");

        // And a proof made by our client checks out against PostgreSQL's verifier.
        assert!(exchange(theirs, password), "{role}");
    }
    // The mapped forms are the same password as their plain spelling.
    let mapped =
        ScramVerifier::parse(&pg.sql("SELECT rolpassword FROM pg_authid WHERE rolname = 'mapped'"))
            .unwrap();
    assert!(exchange(mapped, "IX"));
}

fn exchange(verifier: ScramVerifier, password: &str) -> bool {
    let credential = Credential::Password(Zeroizing::new(password.as_bytes().to_vec()));
    let nonce = Nonce::from_random(&[7; 18]);
    let (client, first) = ClientExchange::start(
        credential,
        ClientChannel::NotSupported,
        &nonce,
        ClientOptions::default(),
    );
    let server = ServerExchange::new(
        "SCRAM-SHA-256",
        Channel::unbound(),
        Credentials::Verifier(verifier),
    )
    .unwrap();
    let (server, server_first) = server
        .handle_client_first(first.as_bytes(), &Nonce::from_random(&[9; 18]))
        .unwrap();
    let (client, last) = client.handle_server_first(server_first.as_bytes()).unwrap();
    match server.handle_client_final(last.as_bytes()).unwrap() {
        Outcome::Success { server_final, .. } => {
            client.handle_server_final(server_final.as_bytes()).is_ok()
        }
        Outcome::Failure { .. } => false,
    }
}
