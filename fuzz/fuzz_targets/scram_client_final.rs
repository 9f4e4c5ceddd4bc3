#![no_main]
//! client-final parsing: never panics; without-proof is a prefix of the input.
use libfuzzer_sys::fuzz_target;
use pgscram_scram::message::parse_client_final;

fuzz_target!(|data: &[u8]| {
    if let Ok(last) = parse_client_final(data) {
        assert!(data.starts_with(last.without_proof));
        assert!(last.without_proof.starts_with(b"c="));
    }
});
