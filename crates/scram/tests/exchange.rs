//! Client and server cores run against each other in memory: the RFC 7677 example byte
//! for byte, then tampered variants, each of which must fail with the right error.

use pgscram_scram::client::ClientFinalSent;
use pgscram_scram::server::SaltSent;
use pgscram_scram::{
    Channel, ClientChannel, ClientError, ClientExchange, ClientOptions, Credential, Credentials,
    FailureReason, Malformed, MockSecret, Nonce, Outcome, ScramVerifier, ServerError,
    ServerExchange, VerifierPair,
};
use zeroize::Zeroizing;

const END_POINT: &[u8] = &[0x5a; 32];

fn password(p: &str) -> Credential {
    Credential::Password(Zeroizing::new(p.as_bytes().to_vec()))
}

fn verifier(password: &str) -> ScramVerifier {
    ScramVerifier::derive(password.as_bytes(), &[3u8; 16], 4096).unwrap()
}

fn nonce(text: &str) -> Nonce {
    Nonce::from_text(text).unwrap()
}

/// Runs the first three messages; returns both sides ready for the final step.
fn until_client_final(
    stored: Credentials,
    client_password: &str,
    server_channel: Channel<'static>,
    client_channel: ClientChannel,
) -> (SaltSent<'static>, ClientFinalSent, String) {
    let mechanism = client_channel.mechanism().name();
    let (client, first) = ClientExchange::start(
        password(client_password),
        client_channel,
        &nonce("clientnonce"),
        ClientOptions::default(),
    );
    let server = ServerExchange::new(mechanism, server_channel, stored).unwrap();
    let (server, server_first) = server
        .handle_client_first(first.as_bytes(), &nonce("servernonce"))
        .unwrap();
    let (client, client_final) = client.handle_server_first(server_first.as_bytes()).unwrap();
    (server, client, client_final)
}

fn run(stored: Credentials, client_password: &str) -> Outcome {
    let (server, _, client_final) = until_client_final(
        stored,
        client_password,
        Channel::unbound(),
        ClientChannel::NotSupported,
    );
    server.handle_client_final(client_final.as_bytes()).unwrap()
}

#[test]
fn rfc7677_example_byte_for_byte() {
    let options = ClientOptions {
        username: "user".into(),
        ..ClientOptions::default()
    };
    let (client, first) = ClientExchange::start(
        password("pencil"),
        ClientChannel::NotSupported,
        &nonce("rOprNGfwEbeRWgbNEkqO"),
        options,
    );
    assert_eq!(first, "n,,n=user,r=rOprNGfwEbeRWgbNEkqO");

    let salt = base64_decode("W22ZaJ0SNY7soEsUEjb6gQ==");
    let stored = ScramVerifier::derive(b"pencil", &salt, 4096).unwrap();
    let server = ServerExchange::new(
        "SCRAM-SHA-256",
        Channel::unbound(),
        Credentials::Verifier(stored),
    )
    .unwrap();
    let (server, server_first) = server
        .handle_client_first(first.as_bytes(), &nonce("%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"))
        .unwrap();
    assert_eq!(
        server_first,
        "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
    );

    let (client, client_final) = client.handle_server_first(server_first.as_bytes()).unwrap();
    assert_eq!(
        client_final,
        "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
    );

    let Outcome::Success {
        server_final,
        client_key,
        ..
    } = server.handle_client_final(client_final.as_bytes()).unwrap()
    else {
        panic!("RFC 7677 exchange failed");
    };
    assert_eq!(
        server_final,
        "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="
    );
    let verified = client.handle_server_final(server_final.as_bytes()).unwrap();
    assert!(verified.client_key.ct_eq(&client_key));
    assert!(!verified.channel_bound);
}

#[test]
fn right_password_succeeds_and_recovers_the_client_key() {
    let stored = verifier("correct horse");
    let expected_stored_key = stored.stored_key().clone();
    let Outcome::Success { client_key, .. } = run(Credentials::Verifier(stored), "correct horse")
    else {
        panic!("login failed");
    };
    assert!(client_key.stored_key().ct_eq(&expected_stored_key));
}

#[test]
fn during_a_rotation_either_password_logs_in_and_the_outcome_says_which() {
    let pair = || VerifierPair::new(verifier("old pw"), verifier("new pw")).unwrap();
    for (password, expected) in [("old pw", 0), ("new pw", 1)] {
        let (server, client, client_final) = until_client_final(
            Credentials::Rotating(pair()),
            password,
            Channel::unbound(),
            ClientChannel::NotSupported,
        );
        let Outcome::Success {
            server_final,
            client_key,
            verifier,
            ..
        } = server.handle_client_final(client_final.as_bytes()).unwrap()
        else {
            panic!("{password} did not log in");
        };
        assert_eq!(verifier, expected, "{password}");
        // server-final is signed with the matching verifier's ServerKey: the client,
        // which knows only its own password, accepts it.
        let verified = client.handle_server_final(server_final.as_bytes()).unwrap();
        assert!(verified.client_key.ct_eq(&client_key));
    }
    assert!(matches!(
        run(Credentials::Rotating(pair()), "neither"),
        Outcome::Failure {
            reason: FailureReason::WrongPassword
        }
    ));
}

#[test]
fn a_single_verifier_reports_itself_as_the_first() {
    let Outcome::Success { verifier, .. } = run(Credentials::Verifier(verifier("pw")), "pw") else {
        panic!("login failed");
    };
    assert_eq!(verifier, 0);
}

#[test]
fn client_key_logs_in_without_the_password() {
    let salted = pgscram_scram::keys::SaltedPassword::derive(b"pw", &[3u8; 16], 4096);
    let credential = Credential::Keys {
        client_key: salted.client_key(),
        server_key: salted.server_key(),
    };
    let (client, first) = ClientExchange::start(
        credential,
        ClientChannel::NotSupported,
        &nonce("c"),
        ClientOptions::default(),
    );
    let server = ServerExchange::new(
        "SCRAM-SHA-256",
        Channel::unbound(),
        Credentials::Verifier(verifier("pw")),
    )
    .unwrap();
    let (server, server_first) = server
        .handle_client_first(first.as_bytes(), &nonce("s"))
        .unwrap();
    let (client, client_final) = client.handle_server_first(server_first.as_bytes()).unwrap();
    let Outcome::Success { server_final, .. } =
        server.handle_client_final(client_final.as_bytes()).unwrap()
    else {
        panic!("key login failed");
    };
    client.handle_server_final(server_final.as_bytes()).unwrap();
}

#[test]
fn wrong_password_fails_at_the_end() {
    let outcome = run(Credentials::Verifier(verifier("right")), "wrong");
    assert!(matches!(
        outcome,
        Outcome::Failure {
            reason: FailureReason::WrongPassword
        }
    ));
}

#[test]
fn doomed_exchange_fails_even_with_a_matching_proof() {
    // Mock verifier made from the very password the client uses: still a failure.
    let mock = verifier("pw");
    let outcome = run(
        Credentials::Doomed {
            mock,
            reason: "Role \"x\" does not exist.".into(),
        },
        "pw",
    );
    let Outcome::Failure {
        reason: FailureReason::Doomed(reason),
    } = outcome
    else {
        panic!("doomed exchange succeeded");
    };
    assert_eq!(reason, "Role \"x\" does not exist.");
}

#[test]
fn mock_and_real_server_first_look_alike() {
    let secret = MockSecret::from_bytes([9; 32]);
    let server_first = |credentials: Credentials| {
        let server = ServerExchange::new("SCRAM-SHA-256", Channel::unbound(), credentials).unwrap();
        server
            .handle_client_first(b"n,,n=,r=abc", &nonce("def"))
            .unwrap()
            .1
    };
    let real = server_first(Credentials::Verifier(verifier("pw")));
    let mock1 = server_first(Credentials::Doomed {
        mock: secret.verifier("ghost", 4096).unwrap(),
        reason: String::new(),
    });
    let mock2 = server_first(Credentials::Doomed {
        mock: secret.verifier("ghost", 4096).unwrap(),
        reason: String::new(),
    });
    assert_eq!(mock1, mock2, "mock salt must be stable per user");
    assert_eq!(
        real.len(),
        mock1.len(),
        "same salt length and iteration digits"
    );
    assert!(real.ends_with(",i=4096") && mock1.ends_with(",i=4096"));
}

#[test]
fn flipped_proof_bit_fails() {
    let (server, _, client_final) = until_client_final(
        Credentials::Verifier(verifier("pw")),
        "pw",
        Channel::unbound(),
        ClientChannel::NotSupported,
    );
    let (head, proof) = client_final.rsplit_once(",p=").unwrap();
    let mut bytes = base64_decode(proof);
    bytes[0] ^= 1;
    let tampered = format!("{head},p={}", base64_encode(&bytes));
    let outcome = server.handle_client_final(tampered.as_bytes()).unwrap();
    assert!(matches!(
        outcome,
        Outcome::Failure {
            reason: FailureReason::WrongPassword
        }
    ));
}

#[test]
fn wrong_nonce_in_client_final_is_refused() {
    let (server, _, client_final) = until_client_final(
        Credentials::Verifier(verifier("pw")),
        "pw",
        Channel::unbound(),
        ClientChannel::NotSupported,
    );
    let tampered = client_final.replace("r=clientnonce", "r=clientnonceX");
    let err = server
        .handle_client_final(tampered.as_bytes())
        .err()
        .unwrap();
    assert_eq!(err, ServerError::NonceMismatch);
    assert_eq!(err.detail().as_deref(), Some("Nonce does not match."));
}

#[test]
fn server_with_a_foreign_nonce_is_refused_by_the_client() {
    let (client, _) = ClientExchange::start(
        password("pw"),
        ClientChannel::NotSupported,
        &nonce("mine"),
        ClientOptions::default(),
    );
    let err = client
        .handle_server_first(b"r=theirs123,s=AAAA,i=4096")
        .err()
        .unwrap();
    assert_eq!(err, ClientError::NonceMismatch);
    assert_eq!(err.to_string(), "invalid SCRAM response (nonce mismatch)");
}

#[test]
fn client_caps_and_checks_iterations() {
    let start = || {
        ClientExchange::start(
            password("pw"),
            ClientChannel::NotSupported,
            &nonce("n"),
            ClientOptions::default(),
        )
        .0
    };
    let err = start()
        .handle_server_first(b"r=ns,s=AAAA,i=4000000000")
        .err()
        .unwrap();
    assert!(matches!(
        err,
        ClientError::IterationCountTooHigh {
            requested: 4_000_000_000,
            ..
        }
    ));
    for bad in ["0", "-1", "", "12a", "99999999999999999999999999"] {
        let msg = format!("r=ns,s=AAAA,i={bad}");
        let err = start().handle_server_first(msg.as_bytes()).err().unwrap();
        assert!(
            matches!(
                err,
                ClientError::InvalidIterationCount | ClientError::IterationCountTooHigh { .. }
            ),
            "{bad}: {err:?}"
        );
    }
    let err = start()
        .handle_server_first(b"r=ns,s=!!,i=4096")
        .err()
        .unwrap();
    assert_eq!(err, ClientError::InvalidSalt);
    let err = start()
        .handle_server_first(b"r=ns,s=AAAA,i=1,garbage")
        .err()
        .unwrap();
    assert_eq!(err, ClientError::GarbageServerFirst);
}

#[test]
fn forged_server_signature_is_refused() {
    let (server, client, client_final) = until_client_final(
        Credentials::Verifier(verifier("pw")),
        "pw",
        Channel::unbound(),
        ClientChannel::NotSupported,
    );
    let Outcome::Success { server_final, .. } =
        server.handle_client_final(client_final.as_bytes()).unwrap()
    else {
        panic!("login failed");
    };
    let mut sig = base64_decode(&server_final[2..]);
    sig[31] ^= 0x80;
    let forged = format!("v={}", base64_encode(&sig));
    let (_, client2, _) = until_client_final(
        Credentials::Verifier(verifier("pw")),
        "pw",
        Channel::unbound(),
        ClientChannel::NotSupported,
    );
    drop(client);
    assert_eq!(
        client2.handle_server_final(forged.as_bytes()).err(),
        Some(ClientError::IncorrectServerSignature)
    );
}

#[test]
fn server_error_attribute_is_reported() {
    let (_, client, _) = until_client_final(
        Credentials::Verifier(verifier("pw")),
        "pw",
        Channel::unbound(),
        ClientChannel::NotSupported,
    );
    let err = client
        .handle_server_final(b"e=invalid-proof")
        .err()
        .unwrap();
    assert_eq!(
        err.to_string(),
        "error received from server in SCRAM exchange: invalid-proof"
    );
}

#[test]
fn plus_with_matching_binding_succeeds() {
    let (server, client, client_final) = until_client_final(
        Credentials::Verifier(verifier("pw")),
        "pw",
        Channel::tls_server_end_point(END_POINT),
        ClientChannel::TlsServerEndPoint(END_POINT.to_vec()),
    );
    let Outcome::Success { server_final, .. } =
        server.handle_client_final(client_final.as_bytes()).unwrap()
    else {
        panic!("PLUS login failed");
    };
    assert!(
        client
            .handle_server_final(server_final.as_bytes())
            .unwrap()
            .channel_bound
    );
}

#[test]
fn plus_with_wrong_binding_data_fails() {
    let (server, _, client_final) = until_client_final(
        Credentials::Verifier(verifier("pw")),
        "pw",
        Channel::tls_server_end_point(END_POINT),
        ClientChannel::TlsServerEndPoint(vec![0x11; 32]),
    );
    let err = server
        .handle_client_final(client_final.as_bytes())
        .err()
        .unwrap();
    assert_eq!(err, ServerError::ChannelBindingCheckFailed);
    assert_eq!(err.sqlstate(), "28000");
}

#[test]
fn y_while_plus_offered_is_a_downgrade() {
    let server = ServerExchange::new(
        "SCRAM-SHA-256",
        Channel::tls_server_end_point(END_POINT),
        Credentials::Verifier(verifier("pw")),
    )
    .unwrap();
    let err = server
        .handle_client_first(b"y,,n=,r=abc", &nonce("s"))
        .err()
        .unwrap();
    assert_eq!(err, ServerError::ChannelBindingNegotiation);
    assert_eq!(err.message(), "SCRAM channel binding negotiation error");
}

#[test]
fn y_without_plus_offered_is_fine_and_must_be_repeated() {
    let (server, _, client_final) = until_client_final(
        Credentials::Verifier(verifier("pw")),
        "pw",
        Channel::unbound(),
        ClientChannel::SupportedNotUsed,
    );
    assert!(client_final.starts_with("c=eSws,"));
    // Swapping the repeated flag for `n` is refused.
    let err = server
        .handle_client_final(client_final.replace("c=eSws", "c=biws").as_bytes())
        .err()
        .unwrap();
    assert_eq!(err, ServerError::UnexpectedChannelBindingAttribute);
}

#[test]
fn plus_without_tls_is_an_invalid_mechanism() {
    let err = ServerExchange::new(
        "SCRAM-SHA-256-PLUS",
        Channel::unbound(),
        Credentials::Verifier(verifier("pw")),
    )
    .err()
    .unwrap();
    assert_eq!(err, ServerError::InvalidMechanism);
    assert_eq!(
        err.message(),
        "client selected an invalid SASL authentication mechanism"
    );
    assert!(
        ServerExchange::new(
            "SCRAM-SHA-1",
            Channel::unbound(),
            Credentials::Verifier(verifier("pw"))
        )
        .is_err()
    );
}

#[test]
fn p_flag_with_plain_mechanism_and_n_flag_with_plus_are_malformed() {
    let plain = ServerExchange::new(
        "SCRAM-SHA-256",
        Channel::tls_server_end_point(END_POINT),
        Credentials::Verifier(verifier("pw")),
    )
    .unwrap();
    let err = plain
        .handle_client_first(b"p=tls-server-end-point,,n=,r=a", &nonce("s"))
        .err()
        .unwrap();
    assert_eq!(
        err,
        ServerError::Malformed(Malformed::BindingDataWithoutPlus)
    );
    let plus = ServerExchange::new(
        "SCRAM-SHA-256-PLUS",
        Channel::tls_server_end_point(END_POINT),
        Credentials::Verifier(verifier("pw")),
    )
    .unwrap();
    let err = plus
        .handle_client_first(b"n,,n=,r=a", &nonce("s"))
        .err()
        .unwrap();
    assert_eq!(
        err,
        ServerError::Malformed(Malformed::PlusWithoutBindingData)
    );
    let plus = ServerExchange::new(
        "SCRAM-SHA-256-PLUS",
        Channel::tls_server_end_point(END_POINT),
        Credentials::Verifier(verifier("pw")),
    )
    .unwrap();
    let err = plus
        .handle_client_first(b"p=tls-unique,,n=,r=a", &nonce("s"))
        .err()
        .unwrap();
    assert_eq!(
        err.message(),
        "unsupported SCRAM channel-binding type \"tls-unique\""
    );
}

#[test]
fn authzid_and_mandatory_extensions_are_refused() {
    let start = || {
        ServerExchange::new(
            "SCRAM-SHA-256",
            Channel::unbound(),
            Credentials::Verifier(verifier("pw")),
        )
        .unwrap()
    };
    let err = start()
        .handle_client_first(b"n,a=admin,n=,r=a", &nonce("s"))
        .err()
        .unwrap();
    assert_eq!(
        (err.sqlstate(), err.message().as_str()),
        (
            "0A000",
            "client uses authorization identity, but it is not supported"
        )
    );
    let err = start()
        .handle_client_first(b"n,,m=x,n=,r=a", &nonce("s"))
        .err()
        .unwrap();
    assert_eq!(
        (err.sqlstate(), err.message().as_str()),
        ("0A000", "client requires an unsupported SCRAM extension")
    );
}

#[test]
fn extensions_in_client_first_survive_into_the_auth_message() {
    // A client that signs an extension: the server must echo client-first-bare verbatim.
    let stored = verifier("pw");
    let salted =
        pgscram_scram::keys::SaltedPassword::derive(b"pw", stored.salt(), stored.iterations());
    let server = ServerExchange::new(
        "SCRAM-SHA-256",
        Channel::unbound(),
        Credentials::Verifier(stored),
    )
    .unwrap();
    let bare = "n=someone,r=abc,x=signed";
    let (server, server_first) = server
        .handle_client_first(format!("n,,{bare}").as_bytes(), &nonce("s"))
        .unwrap();
    let without_proof = "c=biws,r=abcs,y=also-signed";
    let auth: [&[u8]; 5] = [
        bare.as_bytes(),
        b",",
        server_first.as_bytes(),
        b",",
        without_proof.as_bytes(),
    ];
    let client_key = salted.client_key();
    let proof = client_key.proof(&client_key.stored_key(), &auth);
    let last = format!("{without_proof},p={}", base64_encode(proof.as_bytes()));
    assert!(matches!(
        server.handle_client_final(last.as_bytes()).unwrap(),
        Outcome::Success { .. }
    ));
}

#[test]
fn truncated_and_oversized_messages_never_panic() {
    let (server_template_first, client_final) = {
        let (client, first) = ClientExchange::start(
            password("pw"),
            ClientChannel::NotSupported,
            &nonce("c"),
            ClientOptions::default(),
        );
        let server = ServerExchange::new(
            "SCRAM-SHA-256",
            Channel::unbound(),
            Credentials::Verifier(verifier("pw")),
        )
        .unwrap();
        let (_, server_first) = server
            .handle_client_first(first.as_bytes(), &nonce("s"))
            .unwrap();
        let (_, last) = client.handle_server_first(server_first.as_bytes()).unwrap();
        (first, last)
    };
    for cut in 0..server_template_first.len() {
        let server = ServerExchange::new(
            "SCRAM-SHA-256",
            Channel::unbound(),
            Credentials::Verifier(verifier("pw")),
        )
        .unwrap();
        let _ = server.handle_client_first(&server_template_first.as_bytes()[..cut], &nonce("s"));
    }
    for cut in 0..client_final.len() {
        let server = ServerExchange::new(
            "SCRAM-SHA-256",
            Channel::unbound(),
            Credentials::Verifier(verifier("pw")),
        )
        .unwrap();
        let (server, _) = server
            .handle_client_first(server_template_first.as_bytes(), &nonce("s"))
            .unwrap();
        assert!(
            server
                .handle_client_final(&client_final.as_bytes()[..cut])
                .is_err(),
            "prefix {cut}"
        );
    }
    let huge = format!("n,,n=,r={}", "a".repeat(1 << 20));
    let server = ServerExchange::new(
        "SCRAM-SHA-256",
        Channel::unbound(),
        Credentials::Verifier(verifier("pw")),
    )
    .unwrap();
    assert!(
        server
            .handle_client_first(huge.as_bytes(), &nonce("s"))
            .is_ok(),
        "size limits belong to the transport"
    );
}

fn base64_decode(text: &str) -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .unwrap()
}

fn base64_encode(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[test]
fn stale_verifier_is_named_as_such() {
    let options = ClientOptions {
        expected_parameters: Some((vec![1; 16], 4096)),
        ..ClientOptions::default()
    };
    let (client, _) = ClientExchange::start(
        password("pw"),
        ClientChannel::NotSupported,
        &nonce("c"),
        options.clone(),
    );
    // Same iterations, other salt.
    let err = client
        .handle_server_first(b"r=cs,s=AgICAgICAgICAgICAgICAg==,i=4096")
        .err()
        .unwrap();
    assert_eq!(err, ClientError::UnexpectedParameters);
    // Matching salt and count proceeds.
    let (client, _) = ClientExchange::start(
        password("pw"),
        ClientChannel::NotSupported,
        &nonce("c"),
        options,
    );
    assert!(
        client
            .handle_server_first(b"r=cs,s=AQEBAQEBAQEBAQEBAQEBAQ==,i=4096")
            .is_ok()
    );
}
