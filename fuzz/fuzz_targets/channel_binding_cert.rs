#![no_main]
//! tls-server-end-point over arbitrary "certificates": never panics.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = pgscram_scram::channel_binding::tls_server_end_point(data);
});
