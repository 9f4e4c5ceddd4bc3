//! The SCRAM core on its own: a client and a server exchange in memory, the way a
//! PostgreSQL-wire server would drive it. No sockets, no clock, no RNG: the caller brings
//! the nonces (random in real use).
//!
//! Run: `cargo run -p pgscram-scram --example exchange`

use pgscram_scram::{
    Channel, ClientChannel, ClientExchange, ClientOptions, Credential, Credentials, Nonce, Outcome,
    ScramVerifier, ServerExchange,
};
use zeroize::Zeroizing;

fn main() {
    // What CREATE ROLE ... PASSWORD stores: an RFC 5803 verifier, never the password.
    let verifier =
        ScramVerifier::derive(b"correct horse", &[7; 16], 4096).expect("valid parameters");
    println!("stored: {verifier}");

    let password = Credential::Password(Zeroizing::new(b"correct horse".to_vec()));
    let (client, client_first) = ClientExchange::start(
        password,
        ClientChannel::NotSupported,
        &Nonce::from_random(&[1; 18]),
        ClientOptions::default(),
    );
    let server = ServerExchange::new(
        client.mechanism().name(),
        Channel::unbound(),
        Credentials::Verifier(verifier),
    )
    .expect("mechanism offered");
    let (server, server_first) = server
        .handle_client_first(client_first.as_bytes(), &Nonce::from_random(&[2; 18]))
        .expect("well-formed");
    let (client, client_final) = client
        .handle_server_first(server_first.as_bytes())
        .expect("server-first accepted");
    println!("C: {client_first}\nS: {server_first}\nC: {client_final}");
    match server
        .handle_client_final(client_final.as_bytes())
        .expect("well-formed")
    {
        Outcome::Success { server_final, .. } => {
            println!("S: {server_final}");
            client
                .handle_server_final(server_final.as_bytes())
                .expect("server signature verified");
            println!("both sides authenticated");
        }
        Outcome::Failure { reason } => println!("login failed: {reason:?}"),
    }
}
