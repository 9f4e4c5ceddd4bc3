//! The `c=` attribute of client-final, cut short, mangled or simply wrong (issue 11).
//!
//! PostgreSQL 15 reads `c=` first and checks it before it reads anything else: without
//! channel binding the value must be exactly `biws` (flag `n`) or `eSws` (flag `y`), with
//! no base64 decoding, else 08P01 "unexpected SCRAM channel-binding attribute in
//! client-final-message"; with SCRAM-SHA-256-PLUS it must equal the base64 of the expected
//! cbind-input, else 28000 "SCRAM channel binding check failed". The last test sends the
//! same bytes to a real PostgreSQL 15 and compares its ErrorResponse with ours.

use std::io::{Read, Write};
use std::net::TcpStream;

use pgscram_scram::server::SaltSent;
use pgscram_scram::{
    Channel, Credentials, Nonce, Outcome, ScramVerifier, ServerError, ServerExchange,
};

const END_POINT: &[u8] = &[0x5a; 32];
/// The binding values of issue 11: `biws` ("n,,") cut short.
const CUT_SHORT: [&str; 4] = ["", "b", "bi", "biw"];
const CLIENT_NONCE: &str = "clientnonce";

fn b64(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// A proof that decodes (32 bytes) but is wrong: the binding must fail before it matters.
fn any_proof() -> String {
    b64(&[7u8; 32])
}

fn server_after_first(
    mechanism: &str,
    channel: Channel<'static>,
    first: &str,
) -> (SaltSent<'static>, String) {
    let verifier = ScramVerifier::derive(b"pw", &[3u8; 16], 4096).unwrap();
    let server = ServerExchange::new(mechanism, channel, Credentials::Verifier(verifier)).unwrap();
    let (server, server_first) = server
        .handle_client_first(first.as_bytes(), &Nonce::from_text("servernonce").unwrap())
        .unwrap();
    let combined = server_first
        .strip_prefix("r=")
        .and_then(|rest| rest.split(',').next())
        .unwrap()
        .to_owned();
    (server, combined)
}

/// Both shapes of each input: the message cut right after the value, and a complete
/// message (right nonce, decodable proof) carrying that value.
fn finals(value: &str, combined_nonce: &str) -> [String; 2] {
    [
        format!("c={value}"),
        format!("c={value},r={combined_nonce},p={}", any_proof()),
    ]
}

fn plain_error(flag: char, client_final: &str) -> ServerError {
    let (server, _) = server_after_first(
        "SCRAM-SHA-256",
        Channel::unbound(),
        &format!("{flag},,n=,r={CLIENT_NONCE}"),
    );
    server
        .handle_client_final(client_final.as_bytes())
        .err()
        .unwrap()
}

fn combined_nonce() -> String {
    server_after_first(
        "SCRAM-SHA-256",
        Channel::unbound(),
        &format!("n,,n=,r={CLIENT_NONCE}"),
    )
    .1
}

fn assert_unexpected_attribute(err: &ServerError, input: &str) {
    assert_eq!(
        *err,
        ServerError::UnexpectedChannelBindingAttribute,
        "{input:?}"
    );
    assert_eq!(err.sqlstate(), "08P01", "{input:?}");
    assert_eq!(
        err.message(),
        "unexpected SCRAM channel-binding attribute in client-final-message",
        "{input:?}"
    );
    assert_eq!(err.detail(), None, "{input:?}");
}

#[test]
fn cut_short_binding_is_an_unexpected_attribute_for_n_and_y() {
    let nonce = combined_nonce();
    for flag in ['n', 'y'] {
        for value in CUT_SHORT {
            for input in finals(value, &nonce) {
                assert_unexpected_attribute(&plain_error(flag, &input), &input);
            }
        }
    }
}

#[test]
fn well_formed_but_wrong_binding_is_an_unexpected_attribute() {
    let nonce = combined_nonce();
    let plus_header = b64(b"p=tls-server-end-point,,");
    for (flag, value) in [
        ('n', "eSws"),  // "y,," after `n`
        ('y', "biws"),  // "n,," after `y`
        ('n', "biws="), // same bytes, different spelling: no decoding
        ('n', "YWJj"),  // valid base64 of "abc"
        ('n', plus_header.as_str()),
    ] {
        for input in finals(value, &nonce) {
            assert_unexpected_attribute(&plain_error(flag, &input), &input);
        }
    }
    // The right value still logs in as far as the proof (which is wrong here).
    let right = format!("c=biws,r={nonce},p={}", any_proof());
    let (server, _) = server_after_first(
        "SCRAM-SHA-256",
        Channel::unbound(),
        &format!("n,,n=,r={CLIENT_NONCE}"),
    );
    assert!(matches!(
        server.handle_client_final(right.as_bytes()),
        Ok(Outcome::Failure { .. })
    ));
}

#[test]
fn binding_is_checked_before_the_rest_of_the_message() {
    // Without `r=` the message is malformed, but the bad binding is reported first,
    // as PostgreSQL does; with a good binding the missing `r=` is what is reported.
    let err = plain_error('n', "c=biw,x=1");
    assert_eq!(err, ServerError::UnexpectedChannelBindingAttribute);
    let err = plain_error('n', "c=biws");
    assert_eq!(err.message(), "malformed SCRAM message");
    assert_eq!(
        err.detail().as_deref(),
        Some("Expected attribute \"r\" but found \"0x00\".")
    );
}

#[test]
fn cut_short_or_wrong_binding_fails_the_plus_check() {
    let first = "p=tls-server-end-point,,n=,r=clientnonce";
    let (_, nonce) = server_after_first(
        "SCRAM-SHA-256-PLUS",
        Channel::tls_server_end_point(END_POINT),
        first,
    );
    let mut right_input = b"p=tls-server-end-point,,".to_vec();
    right_input.extend_from_slice(END_POINT);
    let right = b64(&right_input);
    let mut wrong_data = b"p=tls-server-end-point,,".to_vec();
    wrong_data.extend_from_slice(&[0x11; 32]);
    let values: Vec<String> = CUT_SHORT
        .iter()
        .map(|v| v.to_string())
        .chain([
            "biws".into(),
            "eSws".into(),
            right[..right.len() - 1].to_owned(),
            b64(&wrong_data),
        ])
        .collect();
    for value in &values {
        for input in finals(value, &nonce) {
            let (server, _) = server_after_first(
                "SCRAM-SHA-256-PLUS",
                Channel::tls_server_end_point(END_POINT),
                first,
            );
            let err = server.handle_client_final(input.as_bytes()).err().unwrap();
            assert_eq!(err, ServerError::ChannelBindingCheckFailed, "{input:?}");
            assert_eq!(err.sqlstate(), "28000");
            assert_eq!(err.message(), "SCRAM channel binding check failed");
        }
    }
}

// ---- the same inputs against a real PostgreSQL 15 ------------------------------------

/// What PostgreSQL answered: SQLSTATE, message, detail.
type Answer = (String, String, Option<String>);

fn frame(tag: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    out.extend_from_slice(&(body.len() as u32 + 4).to_be_bytes());
    out.extend_from_slice(body);
    out
}

fn read_message(stream: &mut TcpStream) -> (u8, Vec<u8>) {
    let mut head = [0u8; 5];
    stream.read_exact(&mut head).unwrap();
    let len = u32::from_be_bytes([head[1], head[2], head[3], head[4]]) as usize;
    let mut body = vec![0u8; len - 4];
    stream.read_exact(&mut body).unwrap();
    (head[0], body)
}

fn sasl_response(stream: &mut TcpStream, expected_code: u32) -> Vec<u8> {
    let (tag, body) = read_message(stream);
    assert_eq!(tag, b'R', "{}", String::from_utf8_lossy(&body));
    assert_eq!(
        u32::from_be_bytes(body[..4].try_into().unwrap()),
        expected_code
    );
    body[4..].to_vec()
}

/// Logs in as `role` with `flag` in the GS2 header and sends `make_final(combined nonce)`
/// as client-final; returns the ErrorResponse's fields.
fn postgres_answer(
    port: u16,
    role: &str,
    flag: char,
    make_final: &dyn Fn(&str) -> String,
) -> Answer {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let mut startup = 196_608u32.to_be_bytes().to_vec();
    for part in ["user", role, "database", "postgres"] {
        startup.extend_from_slice(part.as_bytes());
        startup.push(0);
    }
    startup.push(0);
    let mut packet = (startup.len() as u32 + 4).to_be_bytes().to_vec();
    packet.extend_from_slice(&startup);
    stream.write_all(&packet).unwrap();
    sasl_response(&mut stream, 10);

    let first = format!("{flag},,n=,r={CLIENT_NONCE}");
    let mut body = b"SCRAM-SHA-256\0".to_vec();
    body.extend_from_slice(&(first.len() as u32).to_be_bytes());
    body.extend_from_slice(first.as_bytes());
    stream.write_all(&frame(b'p', &body)).unwrap();
    let server_first = String::from_utf8(sasl_response(&mut stream, 11)).unwrap();
    let combined = server_first
        .strip_prefix("r=")
        .and_then(|rest| rest.split(',').next())
        .unwrap();
    stream
        .write_all(&frame(b'p', make_final(combined).as_bytes()))
        .unwrap();

    let (tag, body) = read_message(&mut stream);
    assert_eq!(tag, b'E', "{}", String::from_utf8_lossy(&body));
    let (mut code, mut message, mut detail) = (String::new(), String::new(), None);
    for field in body.split(|&b| b == 0).filter(|f| !f.is_empty()) {
        let text = String::from_utf8_lossy(&field[1..]).into_owned();
        match field[0] {
            b'C' => code = text,
            b'M' => message = text,
            b'D' => detail = Some(text),
            _ => {}
        }
    }
    (code, message, detail)
}

fn ours(flag: char, client_final: &str) -> Answer {
    let err = plain_error(flag, client_final);
    (err.sqlstate().to_owned(), err.message(), err.detail())
}

#[test]
fn postgres_15_answers_the_same() {
    let pg = pgscram_testkit::Postgres::start();
    pg.sql("SET password_encryption = 'scram-sha-256'; CREATE ROLE binder LOGIN PASSWORD 'pw'");
    let proof = any_proof();
    let mut cases: Vec<(char, String)> = Vec::new();
    for flag in ['n', 'y'] {
        for value in CUT_SHORT {
            cases.push((flag, format!("c={value}")));
            cases.push((flag, format!("c={value},r={{nonce}},p={proof}")));
        }
    }
    cases.push(('n', format!("c=eSws,r={{nonce}},p={proof}")));
    cases.push(('y', format!("c=biws,r={{nonce}},p={proof}")));
    cases.push(('n', format!("c=biws=,r={{nonce}},p={proof}")));
    cases.push(('n', "c=biw,x=1".into()));
    cases.push(('n', "c=biws".into()));
    // How PostgreSQL shows the unexpected character: a space in hex, `x` as 'x'.
    cases.push(('n', "c=biws, r=x".into()));
    cases.push(('n', "c=biws,x=1".into()));
    for (flag, template) in &cases {
        let theirs = postgres_answer(pg.port(), "binder", *flag, &|nonce| {
            template.replace("{nonce}", nonce)
        });
        // Our exchange has its own nonce; only the binding and the shape matter here.
        let nonce = combined_nonce();
        let mine = ours(*flag, &template.replace("{nonce}", &nonce));
        assert_eq!(mine, theirs, "flag {flag}, client-final {template:?}");
    }
}
