#![no_main]
//! RFC 5803 parsing: never panics; whatever parses formats back to a string that parses
//! to the same verifier.
use libfuzzer_sys::fuzz_target;
use pgscram_scram::{ScramVerifier, StoredSecret};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let _ = StoredSecret::classify(text);
    if let Ok(verifier) = ScramVerifier::parse(text) {
        let again = ScramVerifier::parse(&verifier.to_string()).expect("formatted verifier parses");
        assert!(again.ct_eq(&verifier));
    }
});
