//! SCRAM-SHA-256 and SCRAM-SHA-256-PLUS (RFC 5802, 7677, 5929) for both ends of a
//! PostgreSQL login, plus the stored secrets PostgreSQL keeps (RFC 5803 verifiers, md5).
//!
//! ```text
//!   client                                server
//!   ClientExchange::new ──client-first──▶ ServerExchange::new(lookup)
//!                       ◀─server-first──  (salt, iterations, nonce)
//!   ..::handle_server_first
//!                       ──client-final──▶ ..::handle_client_final
//!                       ◀─server-final──  Success { ClientKey } | Failure { reason }
//!   ..::handle_server_final -> Verified
//! ```
//!
//! Sans-IO: this crate never touches a socket, a clock or a random number generator.
//! Nonces and salts come in as arguments, so every exchange is reproducible in tests.
#![deny(unsafe_code)]
#![warn(missing_docs)]

pub mod channel_binding;
pub mod client;
pub mod error;
pub mod keys;
pub mod md5;
pub mod message;
pub mod mock;
pub mod nonce;
pub mod pbkdf2;
pub mod rotation;
pub mod saslprep;
pub mod secret;
pub mod server;
pub mod verifier;

pub use client::{ClientChannel, ClientExchange, ClientOptions, Credential, Verified};
pub use error::{ClientError, Malformed, ServerError};
pub use keys::{ClientKey, ServerKey, StoredKey};
pub use mock::MockSecret;
pub use nonce::Nonce;
pub use rotation::VerifierPair;
pub use secret::{SecretKind, StoredSecret};
pub use server::{
    Channel, Credentials, FailureReason, Mechanism, Outcome, ProofVerified, ServerExchange,
};
pub use verifier::{DEFAULT_ITERATIONS, ScramVerifier, VerifierError};
