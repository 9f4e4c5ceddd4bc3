//! The server's side of a SCRAM exchange, as a chain of states that consume themselves.
//!
//! ```text
//! ServerExchange::new(mechanism, channel, credentials)   SASLInitialResponse names a mechanism
//!   .handle_client_first(msg, nonce) -> (SaltSent, server-first)
//!   SaltSent.handle_client_final(msg) -> Outcome::Success { server-final, ClientKey }
//!                                      | Outcome::Failure { reason for the log }
//! ```
//!
//! Protocol violations are `Err(ServerError)` at any step (PostgreSQL reports those as they
//! are). A wrong password or a doomed (mock) exchange is *not* an error: the exchange runs
//! to the end, proof check included, and then reports [`Outcome::Failure`], so that an
//! unknown user costs and looks the same as a known one.

use subtle::ConstantTimeEq;

use crate::channel_binding::ChannelBindingType;
use crate::error::{Malformed, ServerError};
use crate::keys::{ClientKey, ClientProof};
use crate::message::{
    Attrs, CbindFlag, b64, check_message, parse_client_final, parse_client_first,
};
use crate::nonce::Nonce;
use crate::rotation::{PROOF_CHECKS, Slot, VerifierPair, check_proof};
use crate::verifier::ScramVerifier;

/// The SASL mechanisms this crate implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mechanism {
    /// `SCRAM-SHA-256` (RFC 7677), without channel binding.
    ScramSha256,
    /// `SCRAM-SHA-256-PLUS`, bound to the TLS channel.
    ScramSha256Plus,
}

impl Mechanism {
    /// The IANA-registered name, as offered in AuthenticationSASL.
    pub const fn name(self) -> &'static str {
        match self {
            Mechanism::ScramSha256 => "SCRAM-SHA-256",
            Mechanism::ScramSha256Plus => "SCRAM-SHA-256-PLUS",
        }
    }

    /// Parses a mechanism name exactly (case-sensitive, as PostgreSQL compares it).
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "SCRAM-SHA-256" => Some(Mechanism::ScramSha256),
            "SCRAM-SHA-256-PLUS" => Some(Mechanism::ScramSha256Plus),
            _ => None,
        }
    }
}

/// What the server knows about the connection the exchange runs on.
#[derive(Debug, Clone, Copy)]
pub struct Channel<'a> {
    /// The tls-server-end-point hash of our certificate, when the connection is TLS and
    /// the certificate's signature algorithm allows binding (RFC 5929).
    end_point: Option<&'a [u8]>,
}

impl<'a> Channel<'a> {
    /// A connection without TLS, or with TLS whose certificate cannot be bound to.
    pub const fn unbound() -> Self {
        Channel { end_point: None }
    }

    /// A TLS connection whose certificate hash is `end_point`.
    pub const fn tls_server_end_point(end_point: &'a [u8]) -> Self {
        Channel {
            end_point: Some(end_point),
        }
    }

    /// The mechanisms to offer in AuthenticationSASL, most preferred first.
    pub fn mechanisms(&self) -> &'static [Mechanism] {
        if self.end_point.is_some() {
            &[Mechanism::ScramSha256Plus, Mechanism::ScramSha256]
        } else {
            &[Mechanism::ScramSha256]
        }
    }

    fn plus_offered(&self) -> bool {
        self.end_point.is_some()
    }
}

/// What the credential store had for the user.
pub enum Credentials {
    /// The role's verifier.
    Verifier(ScramVerifier),
    /// Two verifiers, during a password rotation: either password logs in, and
    /// [`Outcome::Success`] says which (see [`crate::rotation`]).
    Rotating(VerifierPair),
    /// Nothing usable (no role, no password, expired, md5-only...): run the exchange
    /// against `mock` and fail at the end, logging `reason` (never sent to the client).
    Doomed {
        /// The mock verifier to run the exchange against (see [`crate::mock`]).
        mock: ScramVerifier,
        /// Why the login must fail, for the server log.
        reason: String,
    },
}

/// Waiting for client-first, with the mechanism already checked.
pub struct ServerExchange<'a> {
    mechanism: Mechanism,
    channel: Channel<'a>,
    credentials: Credentials,
}

/// server-first was sent; waiting for client-final.
pub struct SaltSent<'a> {
    mechanism: Mechanism,
    channel: Channel<'a>,
    credentials: Credentials,
    cbind_flag: u8,
    gs2_header: Vec<u8>,
    client_first_bare: Vec<u8>,
    server_first: String,
    nonce: String,
}

/// A zero-sized token that only a constant-time proof check can create.
#[derive(Debug)]
pub struct ProofVerified(());

/// How the exchange ended.
pub enum Outcome {
    /// The proof checked out. Send `server_final` in AuthenticationSASLFinal.
    Success {
        /// The server-final-message, `v=<ServerSignature>`.
        server_final: String,
        /// The ClientKey recovered from the proof.
        client_key: ClientKey,
        /// Evidence that the proof was checked.
        verified: ProofVerified,
        /// Which verifier the proof matched: 0 for [`Credentials::Verifier`] and the
        /// first of a [`Credentials::Rotating`] pair, 1 for the second.
        verifier: usize,
    },
    /// The login fails with the generic 28P01; `reason` is for the log only.
    Failure {
        /// Why the exchange did not authenticate.
        reason: FailureReason,
    },
}

/// Why a well-formed exchange did not authenticate. Log-only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FailureReason {
    /// The proof did not match the stored verifier.
    WrongPassword,
    /// The exchange ran against a mock verifier; the text says why.
    Doomed(String),
}

impl<'a> ServerExchange<'a> {
    /// Starts an exchange for the mechanism the client selected in SASLInitialResponse.
    pub fn new(
        mechanism_name: &str,
        channel: Channel<'a>,
        credentials: Credentials,
    ) -> Result<Self, ServerError> {
        let mechanism = Mechanism::from_name(mechanism_name)
            .filter(|m| channel.mechanisms().contains(m))
            .ok_or(ServerError::InvalidMechanism)?;
        Ok(ServerExchange {
            mechanism,
            channel,
            credentials,
        })
    }

    /// The mechanism the client selected.
    pub fn mechanism(&self) -> Mechanism {
        self.mechanism
    }

    /// Reads client-first and answers with server-first. `nonce` is the server's part
    /// of the nonce (PostgreSQL: 18 random bytes, base64).
    pub fn handle_client_first(
        self,
        message: &[u8],
        nonce: &Nonce,
    ) -> Result<(SaltSent<'a>, String), ServerError> {
        crate::message::check_message(message)?;
        // The flag must agree with the mechanism before anything else is read, as in
        // PostgreSQL; a `y` while we offered PLUS is a downgrade attempt.
        let plus = self.mechanism == Mechanism::ScramSha256Plus;
        match (message[0], plus) {
            (b'n' | b'y', true) => return Err(Malformed::PlusWithoutBindingData.into()),
            (b'p', false) => return Err(Malformed::BindingDataWithoutPlus.into()),
            (b'y', false) if self.channel.plus_offered() => {
                return Err(ServerError::ChannelBindingNegotiation);
            }
            _ => {}
        }
        let first = parse_client_first(message)?;
        if let CbindFlag::Required(name) = first.cbind_flag
            && ChannelBindingType::from_name(name) != Some(ChannelBindingType::TlsServerEndPoint)
        {
            return Err(ServerError::UnsupportedChannelBindingType(name.to_owned()));
        }
        let verifier = match &self.credentials {
            Credentials::Verifier(v) => v,
            Credentials::Rotating(pair) => pair.first(),
            Credentials::Doomed { mock, .. } => mock,
        };
        let combined = format!("{}{}", first.nonce, nonce.as_str());
        let server_first = format!(
            "r={combined},s={},i={}",
            b64(verifier.salt()),
            verifier.iterations()
        );
        let state = SaltSent {
            mechanism: self.mechanism,
            channel: self.channel,
            credentials: self.credentials,
            cbind_flag: message[0],
            gs2_header: first.gs2_header.to_vec(),
            client_first_bare: first.bare.to_vec(),
            server_first: server_first.clone(),
            nonce: combined,
        };
        Ok((state, server_first))
    }
}

impl SaltSent<'_> {
    /// Reads client-final, checks binding, nonce and proof, and ends the exchange.
    pub fn handle_client_final(self, message: &[u8]) -> Result<Outcome, ServerError> {
        // PostgreSQL checks `c=` as soon as it has read it, before the rest of the
        // message: a cut-short or mangled binding is a binding error, not a parse error.
        check_message(message)?;
        self.check_channel_binding(Attrs::new(message).expect(b'c')?)?;
        let last = parse_client_final(message)?;
        if !bool::from(last.nonce.ct_eq(self.nonce.as_bytes())) {
            return Err(ServerError::NonceMismatch);
        }
        let auth_message: [&[u8]; 5] = [
            &self.client_first_bare,
            b",",
            self.server_first.as_bytes(),
            b",",
            last.without_proof,
        ];
        // Every kind of credentials checks the proof against PROOF_CHECKS stored keys,
        // the doomed ones included, so that all paths do the same work.
        let live = subtle::Choice::from(1);
        let dead = subtle::Choice::from(0);
        let slot = |verifier, live| Slot { verifier, live };
        let (slots, doomed): ([Slot<'_>; PROOF_CHECKS], _) = match &self.credentials {
            Credentials::Verifier(v) => ([slot(v, live), slot(v, dead)], None),
            Credentials::Rotating(pair) => {
                ([slot(pair.first(), live), slot(pair.second(), live)], None)
            }
            Credentials::Doomed { mock, reason } => {
                ([slot(mock, dead), slot(mock, dead)], Some(reason))
            }
        };
        let proof = ClientProof::from_bytes(last.proof);
        let checked = check_proof(slots, &proof, &auth_message);
        if let Some(reason) = doomed {
            return Ok(Outcome::Failure {
                reason: FailureReason::Doomed(reason.clone()),
            });
        }
        if !checked.matched {
            return Ok(Outcome::Failure {
                reason: FailureReason::WrongPassword,
            });
        }
        let signature = checked.server_key.server_signature(&auth_message);
        Ok(Outcome::Success {
            server_final: format!("v={}", b64(&signature.0)),
            client_key: checked.client_key,
            verified: ProofVerified(()),
            verifier: checked.index,
        })
    }

    fn check_channel_binding(&self, received: &[u8]) -> Result<(), ServerError> {
        match (self.mechanism, self.channel.end_point) {
            (Mechanism::ScramSha256Plus, Some(end_point)) => {
                let mut input = self.gs2_header.clone();
                input.extend_from_slice(end_point);
                let expected = b64(&input);
                if expected.len() != received.len()
                    || !bool::from(expected.as_bytes().ct_eq(received))
                {
                    return Err(ServerError::ChannelBindingCheckFailed);
                }
                Ok(())
            }
            // `new` only accepts PLUS when binding data exists.
            (Mechanism::ScramSha256Plus, None) => Err(ServerError::ChannelBindingCheckFailed),
            (Mechanism::ScramSha256, _) => match (received, self.cbind_flag) {
                (b"biws", b'n') | (b"eSws", b'y') => Ok(()),
                _ => Err(ServerError::UnexpectedChannelBindingAttribute),
            },
        }
    }
}
