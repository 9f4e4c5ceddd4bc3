//! The client's side of a SCRAM exchange, with libpq's checks and stricter ones.
//!
//! ```text
//! ClientExchange::start(credential, channel, nonce, options) -> (ClientFirstSent, client-first)
//!   .handle_server_first(msg) -> (ClientFinalSent, client-final)   nonce prefix, salt, iteration cap
//!   .handle_server_final(msg) -> Verified                          server signature, constant time
//! ```
//!
//! Only [`ClientFinalSent::handle_server_final`] can produce [`Verified`], and only after
//! the server's signature checked out: a driver that holds no `Verified` must not accept
//! AuthenticationOk (libpq's `AuthenticationSASLFinal received from server, but SASL
//! authentication was not completed` case, and the peers that accept Ok early).

use zeroize::Zeroizing;

use crate::channel_binding::ChannelBindingType;
use crate::error::{ClientError, Malformed};
use crate::keys::{ClientKey, SaltedPassword, ServerKey, ServerSignature};
use crate::message::{Attrs, b64, decode_32};
use crate::nonce::Nonce;
use crate::saslprep::prepare_password;
use crate::server::Mechanism;

/// The default cap on the server's iteration count: 250 times PostgreSQL's default,
/// about a quarter of a second of PBKDF2. libpq has no cap, so a hostile server can
/// make it compute for hours (`i=4000000000`).
pub const DEFAULT_MAX_ITERATIONS: u32 = 1_000_000;

/// What the client authenticates with.
pub enum Credential {
    /// A password; SASLprep is applied (with PostgreSQL's fallback to raw bytes).
    Password(Zeroizing<Vec<u8>>),
    /// Keys from a verifier's derivation (libpq's scram_client_key / scram_server_key):
    /// no PBKDF2 at all.
    Keys {
        /// XORed with the ClientSignature into the ClientProof.
        client_key: ClientKey,
        /// Checks the server's signature in server-final.
        server_key: ServerKey,
    },
}

/// How this exchange treats channel binding, decided by the caller from TLS state,
/// the offered mechanisms and the `channel_binding` setting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientChannel {
    /// GS2 flag `n`: no TLS, or channel_binding=disable.
    NotSupported,
    /// GS2 flag `y`: TLS, but the server did not offer PLUS.
    SupportedNotUsed,
    /// GS2 flag `p=tls-server-end-point` with the server certificate's hash.
    TlsServerEndPoint(Vec<u8>),
}

impl ClientChannel {
    fn gs2_header(&self) -> String {
        match self {
            ClientChannel::NotSupported => "n,,".into(),
            ClientChannel::SupportedNotUsed => "y,,".into(),
            ClientChannel::TlsServerEndPoint(_) => {
                format!("p={},,", ChannelBindingType::TlsServerEndPoint.name())
            }
        }
    }

    /// The mechanism to name in SASLInitialResponse.
    pub fn mechanism(&self) -> Mechanism {
        match self {
            ClientChannel::TlsServerEndPoint(_) => Mechanism::ScramSha256Plus,
            _ => Mechanism::ScramSha256,
        }
    }
}

/// Knobs for the client exchange.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// Refuse servers that ask for more iterations than this.
    pub max_iterations: u32,
    /// The `n=` user name. PostgreSQL ignores it and libpq sends it empty.
    pub username: String,
    /// The salt and iteration count the server must offer: a proxy that logs in
    /// upstream with keys from a stored verifier sets this, so a verifier that no longer
    /// matches the upstream's is reported as such instead of as a wrong password.
    pub expected_parameters: Option<(Vec<u8>, u32)>,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            max_iterations: DEFAULT_MAX_ITERATIONS,
            username: String::new(),
            expected_parameters: None,
        }
    }
}

/// Entry point of the client exchange.
pub struct ClientExchange;

/// client-first was sent; waiting for server-first.
pub struct ClientFirstSent {
    credential: Credential,
    channel: ClientChannel,
    options: ClientOptions,
    client_nonce: String,
    client_first_bare: String,
}

/// client-final was sent; waiting for server-final.
pub struct ClientFinalSent {
    client_key: ClientKey,
    server_key: ServerKey,
    expected: ServerSignature,
    channel_bound: bool,
}

/// The server proved it knows the verifier. Carries the keys so a caller may cache
/// them (and log in again without PBKDF2).
pub struct Verified {
    /// The ClientKey this exchange proved with.
    pub client_key: ClientKey,
    /// The ServerKey that checked the server's signature.
    pub server_key: ServerKey,
    /// Whether the exchange bound itself to the TLS channel.
    pub channel_bound: bool,
}

impl ClientExchange {
    /// Builds client-first. `nonce` should be [`Nonce::from_random`] of 18 fresh bytes.
    pub fn start(
        credential: Credential,
        channel: ClientChannel,
        nonce: &Nonce,
        options: ClientOptions,
    ) -> (ClientFirstSent, String) {
        let client_first_bare = format!(
            "n={},r={}",
            escape_saslname(&options.username),
            nonce.as_str()
        );
        let message = format!("{}{client_first_bare}", channel.gs2_header());
        let state = ClientFirstSent {
            credential,
            channel,
            options,
            client_nonce: nonce.as_str().to_owned(),
            client_first_bare,
        };
        (state, message)
    }
}

impl ClientFirstSent {
    /// The mechanism to name in SASLInitialResponse, from the channel binding choice.
    pub fn mechanism(&self) -> Mechanism {
        self.channel.mechanism()
    }

    /// Reads server-first and builds client-final. Runs PBKDF2 when the credential is a
    /// password: this is the expensive step.
    pub fn handle_server_first(
        self,
        message: &[u8],
    ) -> Result<(ClientFinalSent, String), ClientError> {
        let mut attrs = Attrs::new(message);
        if attrs.peek() == b'm' {
            return Err(ClientError::UnsupportedExtension);
        }
        let nonce = attrs.expect(b'r').map_err(client_attr_error)?;
        if !nonce.starts_with(self.client_nonce.as_bytes())
            || !crate::message::is_printable_nonce(nonce)
        {
            return Err(ClientError::NonceMismatch);
        }
        let salt_b64 = attrs.expect(b's').map_err(client_attr_error)?;
        let salt = decode_b64(salt_b64)
            .filter(|s| !s.is_empty())
            .ok_or(ClientError::InvalidSalt)?;
        let iterations = attrs.expect(b'i').map_err(client_attr_error)?;
        let iterations = parse_iterations(iterations, self.options.max_iterations)?;
        if let Some((expected_salt, expected_iterations)) = &self.options.expected_parameters
            && (*expected_salt != salt || *expected_iterations != iterations)
        {
            return Err(ClientError::UnexpectedParameters);
        }
        // RFC 5802 allows extensions after i=; anything that is not one is garbage.
        while !attrs.at_end() {
            attrs.any().map_err(|_| ClientError::GarbageServerFirst)?;
        }

        let (client_key, server_key) = match self.credential {
            Credential::Password(password) => {
                let prepared = prepare_password(&password);
                let salted = SaltedPassword::derive(prepared.as_bytes(), &salt, iterations);
                (salted.client_key(), salted.server_key())
            }
            Credential::Keys {
                client_key,
                server_key,
            } => (client_key, server_key),
        };

        let mut cbind_input = self.channel.gs2_header().into_bytes();
        if let ClientChannel::TlsServerEndPoint(hash) = &self.channel {
            cbind_input.extend_from_slice(hash);
        }
        let nonce = std::str::from_utf8(nonce).map_err(|_| ClientError::NonceMismatch)?;
        let without_proof = format!("c={},r={nonce}", b64(&cbind_input));
        let auth_message: [&[u8]; 5] = [
            self.client_first_bare.as_bytes(),
            b",",
            message,
            b",",
            without_proof.as_bytes(),
        ];
        let stored_key = client_key.stored_key();
        let proof = client_key.proof(&stored_key, &auth_message);
        let expected = server_key.server_signature(&auth_message);
        let client_final = format!("{without_proof},p={}", b64(proof.as_bytes()));
        let state = ClientFinalSent {
            client_key,
            server_key,
            expected,
            channel_bound: matches!(self.channel, ClientChannel::TlsServerEndPoint(_)),
        };
        Ok((state, client_final))
    }
}

impl ClientFinalSent {
    /// Reads server-final and checks the server's signature in constant time.
    pub fn handle_server_final(self, message: &[u8]) -> Result<Verified, ClientError> {
        let mut attrs = Attrs::new(message);
        if attrs.peek() == b'e' {
            let text = attrs.expect(b'e').map_err(client_attr_error)?;
            return Err(ClientError::ServerSentError(
                String::from_utf8_lossy(text).into_owned(),
            ));
        }
        let signature = attrs.expect(b'v').map_err(client_attr_error)?;
        while !attrs.at_end() {
            attrs.any().map_err(|_| ClientError::GarbageServerFinal)?;
        }
        let signature = decode_32(signature).ok_or(ClientError::InvalidServerSignature)?;
        if !self.expected.ct_eq(&ServerSignature(signature)) {
            return Err(ClientError::IncorrectServerSignature);
        }
        Ok(Verified {
            client_key: self.client_key,
            server_key: self.server_key,
            channel_bound: self.channel_bound,
        })
    }
}

fn client_attr_error(error: Malformed) -> ClientError {
    match error {
        Malformed::ExpectedEquals(a) => ClientError::ExpectedEquals(a),
        Malformed::ExpectedAttribute { expected, .. } => ClientError::AttributeExpected(expected),
        _ => ClientError::GarbageServerFirst,
    }
}

fn parse_iterations(text: &[u8], limit: u32) -> Result<u32, ClientError> {
    if text.is_empty() || !text.iter().all(u8::is_ascii_digit) {
        return Err(ClientError::InvalidIterationCount);
    }
    let value = std::str::from_utf8(text)
        .ok()
        .and_then(|t| t.parse::<u64>().ok())
        .unwrap_or(u64::MAX);
    if value == 0 {
        return Err(ClientError::InvalidIterationCount);
    }
    if value > u64::from(limit) {
        return Err(ClientError::IterationCountTooHigh {
            requested: value,
            limit,
        });
    }
    Ok(value as u32)
}

fn decode_b64(text: &[u8]) -> Option<Vec<u8>> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.decode(text).ok()
}

/// RFC 5802 saslname: `,` and `=` are escaped as `=2C` and `=3D`.
fn escape_saslname(name: &str) -> String {
    name.replace('=', "=3D").replace(',', "=2C")
}
