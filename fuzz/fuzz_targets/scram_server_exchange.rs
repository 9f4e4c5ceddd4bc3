#![no_main]
//! A whole server exchange driven by fuzzer bytes, with a fixed verifier and nonces:
//! never panics, and never succeeds without the password (the fuzzer cannot forge a proof).
use libfuzzer_sys::fuzz_target;
use pgscram_scram::{Channel, Credentials, Nonce, Outcome, ScramVerifier, ServerExchange};

fuzz_target!(|data: &[u8]| {
    let (selector, rest) = match data.split_first() { Some(x) => x, None => return };
    let split = rest.iter().position(|&b| b == 0xff).unwrap_or(rest.len());
    let (first, last) = rest.split_at(split);
    let last = last.get(1..).unwrap_or_default();
    let end_point = [0x42u8; 32];
    let channel = if selector & 1 == 1 { Channel::tls_server_end_point(&end_point) } else { Channel::unbound() };
    let mechanism = if selector & 2 == 2 { "SCRAM-SHA-256-PLUS" } else { "SCRAM-SHA-256" };
    let verifier = ScramVerifier::derive(b"password", &[1; 16], 1).expect("fixed verifier");
    let Ok(server) = ServerExchange::new(mechanism, channel, Credentials::Verifier(verifier)) else { return };
    let nonce = Nonce::from_text("servernonce").expect("fixed nonce");
    let Ok((server, _server_first)) = server.handle_client_first(first, &nonce) else { return };
    if let Ok(Outcome::Success { .. }) = server.handle_client_final(last) {
        panic!("fuzzer forged a SCRAM proof");
    }
});
