#![no_main]
//! The first bytes an unauthenticated client sends: the framing (length word, 10 000-byte
//! cap) and the startup packet kinds. Never panics; a StartupMessage encodes back to
//! bytes that decode to the same message.
use libfuzzer_sys::fuzz_target;
use pgscram_wire::frame::{limits, take_startup};
use pgscram_wire::StartupRequest;

fuzz_target!(|data: &[u8]| {
    let mut buf = data.to_vec();
    // Several packets back to back, as SSLRequest + StartupMessage arrive.
    while let Ok(Some(packet)) = take_startup(&mut buf, limits::STARTUP_PACKET) {
        assert!(packet.body().len() + 8 <= limits::STARTUP_PACKET as usize);
        let Ok(request) = StartupRequest::decode(&packet) else { continue };
        if let StartupRequest::Startup(message) = &request {
            let _ = (message.user(), message.database());
            let mut out = Vec::new();
            if request.encode(&mut out).is_ok() {
                let again = take_startup(&mut out, u32::MAX)
                    .expect("re-encoded packet frames")
                    .expect("re-encoded packet is complete");
                let again = StartupRequest::decode(&again).expect("re-encoded packet decodes");
                assert_eq!(again, request);
            }
        }
    }
});
