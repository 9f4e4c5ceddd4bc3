#![no_main]
//! Every frontend message the server parses: the framing with PostgreSQL's per-type
//! length limits, the regular messages of a session, and the `p` message read as a
//! password, a SASLInitialResponse or a SASLResponse during authentication. Never
//! panics; decoded regular messages round-trip through encode.
use libfuzzer_sys::fuzz_target;
use pgscram_wire::frame::{frontend_max_len, limits, take_message, take_message_with};
use pgscram_wire::{FrontendMessage, PasswordMessage, SaslInitialResponse, SaslResponse};

fuzz_target!(|data: &[u8]| {
    // Authentication: only `p`, under the SASL and password limits.
    let mut auth = data.to_vec();
    while let Ok(Some(message)) = take_message(&mut auth, limits::PASSWORD_MESSAGE) {
        let _ = PasswordMessage::from_message(&message);
        let _ = PasswordMessage::decode_body(message.body());
        if message.body().len() + 4 <= limits::SASL_MESSAGE as usize {
            let _ = SaslInitialResponse::from_message(&message);
            let _ = SaslInitialResponse::decode_body(message.body());
            let _ = SaslResponse::from_message(&message);
            let _ = SaslResponse::decode_body(message.body());
        }
    }
    // A session: any message type, each under its own limit.
    let mut session = data.to_vec();
    while let Ok(Some(message)) = take_message_with(&mut session, frontend_max_len) {
        let Ok(decoded) = FrontendMessage::decode(&message) else { continue };
        let mut out = Vec::new();
        if decoded.encode(&mut out).is_ok() {
            let again = take_message(&mut out, u32::MAX)
                .expect("re-encoded message frames")
                .expect("re-encoded message is complete");
            assert_eq!(FrontendMessage::decode(&again).expect("re-encoded message decodes"), decoded);
        }
    }
});
