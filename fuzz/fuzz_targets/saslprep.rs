#![no_main]
//! SASLprep: never panics; a prepared string is a fixed point of SASLprep.
use libfuzzer_sys::fuzz_target;
use pgscram_scram::saslprep::{prepare_password, saslprep};

fuzz_target!(|data: &[u8]| {
    let _ = prepare_password(data);
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(prepared) = saslprep(text) {
        let again = saslprep(&prepared).expect("SASLprep output is valid input");
        assert_eq!(again, prepared);
    }
});
