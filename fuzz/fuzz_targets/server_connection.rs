#![no_main]
//! A whole server connection, bytes in and bytes out: startup negotiation, pg_hba
//! (trust, reject, password, md5, SCRAM), the exchange with mock authentication, and the
//! throttle and caps, over an in-memory stream that closes after the input. Never
//! panics, never hangs past the authentication timeout, and never answers a login with
//! AuthenticationOk unless pg_hba trusts the user (only `trusty` is trusted; no input a
//! fuzzer can find proves a password).
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use pgscram_server::fuzzing::Harness;
use pgscram_wire::{Authentication, BackendMessage};

fn harness() -> &'static Harness {
    static HARNESS: OnceLock<Harness> = OnceLock::new();
    HARNESS.get_or_init(Harness::new)
}

fuzz_target!(|data: &[u8]| {
    let mut output = harness().drive(data);
    // Skip the one-byte answers to SSLRequest / GSSENCRequest.
    while matches!(output.first(), Some(b'N' | b'S')) {
        output.remove(0);
    }
    while let Ok(Some(message)) = pgscram_wire::frame::take_message(&mut output, 1 << 20) {
        if let Ok(BackendMessage::Authentication(Authentication::Ok)) =
            BackendMessage::decode(&message)
        {
            assert!(
                data.windows(12).any(|w| w == b"user\0trusty\0"),
                "AuthenticationOk without a trusted user or a proof"
            );
        }
    }
});
