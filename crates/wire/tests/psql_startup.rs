//! A startup packet laid out byte by byte the way psql sends it, decoded.

use pgscram_wire::frame::{self, limits};
use pgscram_wire::*;

/// psql 15's packet for `psql -U alice -d app`: protocol 3.0, then user, database,
/// application_name and client_encoding, then the terminating NUL.
fn psql_packet() -> Vec<u8> {
    let mut body = Vec::new();
    body.extend_from_slice(&[0x00, 0x03, 0x00, 0x00]); // protocol 3.0
    for (name, value) in [
        ("user", "alice"),
        ("database", "app"),
        ("application_name", "psql"),
        ("client_encoding", "UTF8"),
    ] {
        body.extend_from_slice(name.as_bytes());
        body.push(0);
        body.extend_from_slice(value.as_bytes());
        body.push(0);
    }
    body.push(0);
    let mut packet = ((body.len() + 4) as u32).to_be_bytes().to_vec();
    packet.extend_from_slice(&body);
    packet
}

#[test]
fn psql_startup_packet_decodes() {
    let mut buf = psql_packet();
    assert_eq!(buf.len(), 76);
    assert_eq!(&buf[..8], [0, 0, 0, 76, 0, 3, 0, 0]);
    let packet = frame::take_startup(&mut buf, limits::STARTUP_PACKET)
        .expect("valid length")
        .expect("complete");
    let StartupRequest::Startup(message) = StartupRequest::decode(&packet).expect("decodes") else {
        panic!("not a StartupMessage");
    };
    assert_eq!(message.version(), ProtocolVersion::V3_0);
    assert_eq!(message.user(), "alice");
    assert_eq!(message.database(), "app");
    assert_eq!(message.application_name(), Some("psql"));
    assert_eq!(message.get("client_encoding"), Some("UTF8"));
    assert_eq!(
        message.settings().collect::<Vec<_>>(),
        [("application_name", "psql"), ("client_encoding", "UTF8")]
    );
    assert_eq!(message.negotiation(ProtocolVersion::LATEST), None);
}

#[test]
fn our_encoding_is_byte_identical_to_psql() {
    let ours = StartupMessage::new("alice")
        .with("database", "app")
        .with("application_name", "psql")
        .with("client_encoding", "UTF8");
    let mut out = Vec::new();
    StartupRequest::Startup(ours)
        .encode(&mut out)
        .expect("encodable");
    assert_eq!(out, psql_packet());
}

#[test]
fn psql_packet_arriving_byte_by_byte() {
    let packet = psql_packet();
    let mut buf = Vec::new();
    let mut decoded = None;
    for &byte in &packet {
        assert!(decoded.is_none(), "decoded before the last byte");
        buf.push(byte);
        decoded = frame::take_startup(&mut buf, limits::STARTUP_PACKET).expect("valid");
    }
    let packet = decoded.expect("complete after the last byte");
    assert!(matches!(
        StartupRequest::decode(&packet),
        Ok(StartupRequest::Startup(_))
    ));
}

#[test]
fn psql_ssl_probe_then_startup() {
    // sslmode=prefer: SSLRequest first, then (after 'N') the startup packet.
    let mut buf = vec![0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f];
    let probe = frame::take_startup(&mut buf, limits::STARTUP_PACKET)
        .expect("valid")
        .expect("complete");
    assert_eq!(
        StartupRequest::decode(&probe),
        Ok(StartupRequest::SslRequest)
    );
    assert!(buf.is_empty());
    assert_eq!(SslResponse::Refused.to_byte(), b'N');
    buf.extend_from_slice(&psql_packet());
    let startup = frame::take_startup(&mut buf, limits::STARTUP_PACKET)
        .expect("valid")
        .expect("complete");
    assert!(matches!(
        StartupRequest::decode(&startup),
        Ok(StartupRequest::Startup(_))
    ));
}

#[test]
fn missing_user_is_postgres_fatal_28000() {
    let body = b"database\0app\0\0";
    let packet = StartupPacket::new(ProtocolVersion::V3_0.code(), body.to_vec());
    let error = StartupRequest::decode(&packet).unwrap_err();
    assert_eq!(
        error.sqlstate(),
        SqlState::INVALID_AUTHORIZATION_SPECIFICATION
    );
    assert_eq!(
        error.to_string(),
        "no PostgreSQL user name specified in startup packet"
    );
}
