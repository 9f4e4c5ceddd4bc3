//! Truncated input at every byte offset of every message is `Ok(None)` while the
//! frame is incomplete, and a typed error (never a panic) when a body is cut short
//! but framed as if complete. Over-long length words are refused from the header.

mod common;

use common::*;
use pgscram_wire::frame::{self, limits};
use pgscram_wire::*;

fn all_tagged_frames() -> Vec<Vec<u8>> {
    let mut frames: Vec<Vec<u8>> = frontend_messages().iter().map(encode_frontend).collect();
    frames.extend(backend_messages().iter().map(encode_backend));
    frames.extend(auth_response_frames());
    frames
}

/// A frame whose length word is rewritten to claim only the first `body_len` bytes.
fn reframed(tag: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    out.extend_from_slice(&(body.len() as u32 + 4).to_be_bytes());
    out.extend_from_slice(body);
    out
}

#[test]
fn every_prefix_of_every_message_needs_more_bytes() {
    for bytes in all_tagged_frames() {
        for cut in 0..bytes.len() {
            let mut buf = bytes[..cut].to_vec();
            assert!(
                matches!(
                    frame::take_message(&mut buf, limits::LARGE_MESSAGE),
                    Ok(None)
                ),
                "tag {} cut at {cut}",
                bytes[0] as char
            );
            assert_eq!(buf.len(), cut, "an incomplete frame must not be consumed");
        }
    }
}

#[test]
fn every_prefix_of_every_startup_packet_needs_more_bytes() {
    for request in startup_requests() {
        let bytes = encode_startup(&request);
        for cut in 0..bytes.len() {
            let mut buf = bytes[..cut].to_vec();
            assert!(matches!(
                frame::take_startup(&mut buf, limits::STARTUP_PACKET),
                Ok(None)
            ));
        }
    }
}

#[test]
fn every_truncated_body_is_a_typed_error_or_still_valid() {
    for bytes in all_tagged_frames() {
        let (tag, body) = (bytes[0], &bytes[5..]);
        for cut in 0..body.len() {
            let short = reframed(tag, &body[..cut]);
            let mut buf = short.clone();
            let frame = frame::take_message(&mut buf, limits::LARGE_MESSAGE)
                .expect("length is valid")
                .expect("frame is complete");
            decode_everything(frame.tag(), frame.body());
        }
    }
}

#[test]
fn truncated_bodies_that_need_their_end_are_refused() {
    // Messages whose every byte matters: cutting any of them must be an error.
    for message in frontend_messages() {
        if matches!(
            message,
            FrontendMessage::CopyData(_) | FrontendMessage::Auth(_)
        ) {
            continue; // raw bytes to the end: any prefix is itself valid
        }
        let bytes = encode_frontend(&message);
        let body = &bytes[5..];
        for cut in 0..body.len() {
            let result = FrontendMessage::decode_parts(bytes[0], &body[..cut]);
            assert!(
                result.is_err(),
                "{message:?} cut at {cut} decoded as {result:?}"
            );
        }
    }
    for message in backend_messages() {
        if matches!(
            message,
            BackendMessage::CopyData(_)
                | BackendMessage::Authentication(
                    Authentication::GssContinue(_)
                        | Authentication::SaslContinue(_)
                        | Authentication::SaslFinal(_)
                )
        ) {
            continue;
        }
        let bytes = encode_backend(&message);
        let body = &bytes[5..];
        // A protocol 3.2 cancel key runs to the end: any cut keeping pid and 4 key
        // bytes is a shorter valid key.
        let must_fail = match message {
            BackendMessage::BackendKeyData(_) => 8,
            _ => body.len(),
        };
        for cut in 0..must_fail {
            let result = BackendMessage::decode_parts(bytes[0], &body[..cut]);
            assert!(
                result.is_err(),
                "{message:?} cut at {cut} decoded as {result:?}"
            );
        }
    }
}

#[test]
fn truncated_startup_bodies_are_refused() {
    for request in startup_requests() {
        let bytes = encode_startup(&request);
        let code = u32::from_be_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]);
        let body = &bytes[8..];
        // As above: a cancel key may be any length from 4 bytes.
        let must_fail = match request {
            StartupRequest::Cancel(_) => 8,
            _ => body.len(),
        };
        for cut in 0..must_fail {
            let packet = StartupPacket::new(code, body[..cut].to_vec());
            assert!(
                StartupRequest::decode(&packet).is_err(),
                "{request:?} cut at {cut}"
            );
        }
    }
}

#[test]
fn over_limit_lengths_are_refused_before_buffering() {
    // Only the five header bytes exist; the refusal cannot have waited for the body.
    for (limit, len) in [
        (limits::SASL_MESSAGE, 1_025u32),
        (limits::PASSWORD_MESSAGE, 65_536),
        (limits::SMALL_MESSAGE, 10_001),
        (limits::LARGE_MESSAGE, 0x3fff_ffff),
        (limits::LARGE_MESSAGE, u32::MAX),
    ] {
        let mut header = vec![b'p'];
        header.extend_from_slice(&len.to_be_bytes());
        let before = header.clone();
        assert_eq!(
            frame::take_message(&mut header, limit).unwrap_err(),
            DecodeError::InvalidMessageLength { tag: b'p', len }
        );
        assert_eq!(header, before, "a refused frame leaves the buffer alone");
    }
    // The largest allowed SCRAM message still waits for its body.
    let mut header = vec![b'p', 0, 0, 4, 0];
    assert!(matches!(
        frame::take_message(&mut header, limits::SASL_MESSAGE),
        Ok(None)
    ));

    let mut startup = 10_005u32.to_be_bytes().to_vec();
    assert_eq!(
        frame::take_startup(&mut startup, limits::STARTUP_PACKET).unwrap_err(),
        DecodeError::InvalidStartupPacketLength(10_005)
    );
    let mut sync_after_small_limit = vec![b'S', 0, 0, 0x27, 0x15];
    assert!(
        frame::take_message_with(&mut sync_after_small_limit, frame::frontend_max_len).is_err()
    );
}

#[test]
fn scram_messages_at_the_limit() {
    // PostgreSQL: length word <= 1024, so 1020 payload bytes pass and 1021 do not.
    for (payload, ok) in [(1020usize, true), (1021, false)] {
        let mut buf = Vec::new();
        SaslResponse {
            data: vec![b'x'; payload],
        }
        .encode(&mut buf)
        .expect("encodable");
        let result = frame::take_message(&mut buf, limits::SASL_MESSAGE);
        assert_eq!(result.is_ok(), ok, "payload {payload}");
    }
}
