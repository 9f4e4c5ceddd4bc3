#![no_main]
//! client-first parsing: never panics; a parse keeps its slices inside the input.
use libfuzzer_sys::fuzz_target;
use pgscram_scram::message::parse_client_first;

fuzz_target!(|data: &[u8]| {
    if let Ok(first) = parse_client_first(data) {
        assert!(data.ends_with(first.bare));
        assert!(data.starts_with(first.gs2_header));
        assert_eq!(first.gs2_header.len() + first.bare.len(), data.len());
    }
});
