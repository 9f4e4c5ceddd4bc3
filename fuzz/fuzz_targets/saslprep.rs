#![no_main]
//! SASLprep: never panics and is deterministic. (It is not idempotent: like PostgreSQL,
//! it checks characters before NFKC, so U+FCF2 passes but its normal form does not; the
//! PostgreSQL interop test pins that case.)
use libfuzzer_sys::fuzz_target;
use pgscram_scram::saslprep::{prepare_password, saslprep};

fuzz_target!(|data: &[u8]| {
    assert_eq!(prepare_password(data).as_bytes(), prepare_password(data).as_bytes());
    let Ok(text) = std::str::from_utf8(data) else { return };
    assert_eq!(saslprep(text), saslprep(text));
});
