#![no_main]
//! A whole client exchange against fuzzer-chosen server messages: never panics, never
//! verifies a server that does not know the password, never runs more than the capped
//! PBKDF2 work.
use libfuzzer_sys::fuzz_target;
use pgscram_scram::{ClientChannel, ClientExchange, ClientOptions, Credential, Nonce};
use zeroize::Zeroizing;

fuzz_target!(|data: &[u8]| {
    let split = data.iter().position(|&b| b == 0xff).unwrap_or(data.len());
    let (server_first, server_final) = data.split_at(split);
    let server_final = server_final.get(1..).unwrap_or_default();
    let options = ClientOptions { max_iterations: 64, ..ClientOptions::default() };
    let credential = Credential::Password(Zeroizing::new(b"password".to_vec()));
    let nonce = Nonce::from_text("c").expect("fixed nonce");
    let (client, _) = ClientExchange::start(credential, ClientChannel::NotSupported, &nonce, options);
    let Ok((client, _)) = client.handle_server_first(server_first) else { return };
    if client.handle_server_final(server_final).is_ok() {
        panic!("fuzzer forged a server signature");
    }
});
