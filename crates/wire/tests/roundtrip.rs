//! encode -> frame -> decode gives back the same value, for every message.

mod common;

use common::*;
use pgscram_wire::frame::{self, limits};
use pgscram_wire::*;

#[test]
fn frontend_messages_round_trip() {
    for message in frontend_messages() {
        let mut buf = encode_frontend(&message);
        let frame = frame::take_message(&mut buf, limits::LARGE_MESSAGE)
            .expect("valid frame")
            .expect("complete frame");
        assert!(buf.is_empty(), "{message:?} left bytes behind");
        assert_eq!(frame.tag(), message.tag());
        assert_eq!(FrontendMessage::decode(&frame).as_ref(), Ok(&message));
    }
}

#[test]
fn frontend_messages_pass_postgres_per_tag_limits() {
    for message in frontend_messages() {
        if message.tag() == tag::frontend::PASSWORD {
            continue; // only valid during authentication, with its own limit
        }
        let mut buf = encode_frontend(&message);
        let frame = frame::take_message_with(&mut buf, frame::frontend_max_len)
            .expect("valid frame")
            .expect("complete frame");
        assert_eq!(FrontendMessage::decode(&frame).as_ref(), Ok(&message));
    }
}

#[test]
fn backend_messages_round_trip() {
    for message in backend_messages() {
        let mut buf = encode_backend(&message);
        let frame = frame::take_message(&mut buf, limits::LARGE_MESSAGE)
            .expect("valid frame")
            .expect("complete frame");
        assert!(buf.is_empty());
        assert_eq!(frame.tag(), message.tag());
        assert_eq!(BackendMessage::decode(&frame).as_ref(), Ok(&message));
    }
}

#[test]
fn startup_requests_round_trip() {
    for request in startup_requests() {
        let mut buf = encode_startup(&request);
        let packet = frame::take_startup(&mut buf, limits::STARTUP_PACKET)
            .expect("valid packet")
            .expect("complete packet");
        assert!(buf.is_empty());
        assert_eq!(StartupRequest::decode(&packet).as_ref(), Ok(&request));
    }
}

#[test]
fn auth_responses_round_trip_through_each_reading() {
    let password = PasswordMessage::new("pencil");
    let initial = SaslInitialResponse {
        mechanism: "SCRAM-SHA-256".into(),
        data: Some(b"n,,n=,r=abc".to_vec()),
    };
    let no_data = SaslInitialResponse {
        mechanism: "SCRAM-SHA-256-PLUS".into(),
        data: None,
    };
    let later = SaslResponse {
        data: b"c=biws,r=abc,p=xyz".to_vec(),
    };

    let raw = |encode: &dyn Fn(&mut Vec<u8>) -> Result<(), EncodeError>| {
        let mut buf = Vec::new();
        encode(&mut buf).expect("encodable");
        let frame = frame::take_message(&mut buf, limits::SASL_MESSAGE)
            .expect("valid frame")
            .expect("complete frame");
        match FrontendMessage::decode(&frame).expect("decodable") {
            FrontendMessage::Auth(raw) => raw,
            other => panic!("not a p message: {other:?}"),
        }
    };
    assert_eq!(
        raw(&|out| password.encode(out)).password(),
        Ok(password.clone())
    );
    assert_eq!(
        raw(&|out| initial.encode(out)).sasl_initial(),
        Ok(initial.clone())
    );
    assert_eq!(
        raw(&|out| no_data.encode(out)).sasl_initial(),
        Ok(no_data.clone())
    );
    assert_eq!(raw(&|out| later.encode(out)).sasl_response(), later);
}

#[test]
fn a_stream_of_many_messages_decodes_in_order() {
    let messages = backend_messages();
    let mut stream = Vec::new();
    for message in &messages {
        message.encode(&mut stream).expect("encodable");
    }
    // Feed the stream in 3-byte reads, the way a socket might deliver it.
    let mut buf = Vec::new();
    let mut decoded = Vec::new();
    for chunk in stream.chunks(3) {
        buf.extend_from_slice(chunk);
        while let Some(frame) = frame::take_message(&mut buf, limits::LARGE_MESSAGE).expect("valid")
        {
            decoded.push(BackendMessage::decode(&frame).expect("decodable"));
        }
    }
    assert!(buf.is_empty());
    assert_eq!(decoded, messages);
}

#[test]
fn bytes_after_ssl_request_stay_in_the_buffer() {
    // CVE-2021-23214: the driver must see data that arrived before the TLS handshake.
    let mut buf = encode_startup(&StartupRequest::SslRequest);
    buf.extend_from_slice(b"Q\0\0\0\x0dselect 1\0");
    let packet = frame::take_startup(&mut buf, limits::STARTUP_PACKET)
        .expect("valid")
        .expect("complete");
    assert_eq!(
        StartupRequest::decode(&packet),
        Ok(StartupRequest::SslRequest)
    );
    assert!(
        !buf.is_empty(),
        "injected plaintext must stay visible to the driver"
    );
}
