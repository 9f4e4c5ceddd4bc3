//! Two valid passwords per role, for rotating a password without a flag day.
//!
//! SCRAM sends one salt and one iteration count (server-first) before the client proves
//! anything, so a server holding two verifiers cannot ask "which one?": both must be
//! made with the same salt and iteration count ([`VerifierPair::new`] refuses any
//! other pair), and the proof is then checked against both StoredKeys.
//!
//! Every exchange, whatever the server holds (one verifier, a pair, or a mock for a
//! role that cannot log in), checks the proof against exactly [`PROOF_CHECKS`] stored
//! keys and picks the result with constant-time selects: the work does not depend on
//! how many verifiers the role has, on which one matched, or on whether any did.

use std::fmt;

use subtle::{Choice, ConditionallySelectable, ConstantTimeEq};

use crate::keys::{ClientKey, ClientProof, KEY_LEN, ServerKey};
use crate::verifier::ScramVerifier;

/// How many stored keys every proof is checked against.
pub const PROOF_CHECKS: usize = 2;

/// Two verifiers of one role that share salt and iteration count: the one set first
/// and the one set second (the newer, during a rotation).
#[derive(Clone, Debug)]
pub struct VerifierPair {
    first: ScramVerifier,
    second: ScramVerifier,
}

/// Why two verifiers cannot be checked in one exchange.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SaltMismatch;

impl fmt::Display for SaltMismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(
            "the two SCRAM verifiers of a role must share one salt and iteration count \
             (SCRAM sends them before the client proves which password it holds)",
        )
    }
}

impl std::error::Error for SaltMismatch {}

impl VerifierPair {
    /// Pairs two verifiers; they must have the same salt and iteration count.
    pub fn new(first: ScramVerifier, second: ScramVerifier) -> Result<Self, SaltMismatch> {
        if first.salt() != second.salt() || first.iterations() != second.iterations() {
            return Err(SaltMismatch);
        }
        Ok(VerifierPair { first, second })
    }

    /// The verifier set first; its salt and iterations are the pair's.
    pub fn first(&self) -> &ScramVerifier {
        &self.first
    }

    /// The verifier set second.
    pub fn second(&self) -> &ScramVerifier {
        &self.second
    }
}

/// One stored key the proof is checked against; a slot that is not `live` never
/// matches, but costs the same.
pub(crate) struct Slot<'a> {
    pub verifier: &'a ScramVerifier,
    pub live: Choice,
}

/// The result of checking a proof against every slot.
pub(crate) struct Checked {
    /// Whether any live slot matched.
    pub matched: bool,
    /// The first matching slot (0 when none did).
    pub index: usize,
    /// The ClientKey recovered with the matching slot's StoredKey.
    pub client_key: ClientKey,
    /// The matching slot's ServerKey, to sign server-final.
    pub server_key: ServerKey,
}

/// Recovers a ClientKey from `proof` with each slot's StoredKey and compares its hash
/// with that StoredKey: all slots, always, selecting the first match without branching.
pub(crate) fn check_proof(
    slots: [Slot<'_>; PROOF_CHECKS],
    proof: &ClientProof,
    auth_message: &[&[u8]],
) -> Checked {
    let mut matched = Choice::from(0);
    let mut index = 0u8;
    let mut client_key = [0u8; KEY_LEN];
    let mut server_key = [0u8; KEY_LEN];
    for (i, slot) in slots.iter().enumerate() {
        let stored = slot.verifier.stored_key();
        let candidate = ClientKey::recover(proof, stored, auth_message);
        let hit = candidate.stored_key().as_bytes().ct_eq(stored.as_bytes()) & slot.live;
        let take = hit & !matched;
        select_into(&mut client_key, candidate.as_bytes(), take);
        select_into(&mut server_key, slot.verifier.server_key().as_bytes(), take);
        index.conditional_assign(&(i as u8), take);
        matched |= hit;
    }
    let checked = Checked {
        matched: matched.into(),
        index: usize::from(index),
        client_key: ClientKey::from_bytes(client_key),
        server_key: ServerKey::from_bytes(server_key),
    };
    zeroize::Zeroize::zeroize(&mut client_key);
    zeroize::Zeroize::zeroize(&mut server_key);
    checked
}

fn select_into(target: &mut [u8; KEY_LEN], source: &[u8; KEY_LEN], take: Choice) {
    for (t, s) in target.iter_mut().zip(source) {
        t.conditional_assign(s, take);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verifier(password: &str, salt: &[u8], iterations: u32) -> ScramVerifier {
        ScramVerifier::derive(password.as_bytes(), salt, iterations).unwrap()
    }

    #[test]
    fn a_pair_must_share_salt_and_iterations() {
        let first = verifier("old", &[1; 16], 4);
        assert!(VerifierPair::new(first.clone(), verifier("new", &[1; 16], 4)).is_ok());
        assert_eq!(
            VerifierPair::new(first.clone(), verifier("new", &[2; 16], 4)).unwrap_err(),
            SaltMismatch
        );
        assert_eq!(
            VerifierPair::new(first, verifier("new", &[1; 16], 5)).unwrap_err(),
            SaltMismatch
        );
    }

    fn proof_for(verifier: &ScramVerifier, password: &str, message: &[&[u8]]) -> ClientProof {
        let salted = crate::keys::SaltedPassword::derive(
            password.as_bytes(),
            verifier.salt(),
            verifier.iterations(),
        );
        let key = salted.client_key();
        key.proof(verifier.stored_key(), message)
    }

    #[test]
    fn the_first_live_match_is_selected_with_its_keys() {
        let old = verifier("old", &[1; 16], 2);
        let new = verifier("new", &[1; 16], 2);
        let message: &[&[u8]] = &[b"auth", b",", b"message"];
        let live = Choice::from(1);
        let slots = |a: &'static str| match a {
            "both" => [
                Slot {
                    verifier: &old,
                    live,
                },
                Slot {
                    verifier: &new,
                    live,
                },
            ],
            _ => [
                Slot {
                    verifier: &old,
                    live: Choice::from(0),
                },
                Slot {
                    verifier: &new,
                    live,
                },
            ],
        };

        let checked = check_proof(slots("both"), &proof_for(&new, "new", message), message);
        assert!(checked.matched);
        assert_eq!(checked.index, 1);
        assert!(checked.server_key.ct_eq(new.server_key()));
        assert!(checked.client_key.stored_key().ct_eq(new.stored_key()));

        let checked = check_proof(slots("both"), &proof_for(&old, "old", message), message);
        assert!(checked.matched);
        assert_eq!(checked.index, 0);
        assert!(checked.server_key.ct_eq(old.server_key()));

        // A slot that is not live (an expired password) matches nothing.
        let checked = check_proof(slots("dead"), &proof_for(&old, "old", message), message);
        assert!(!checked.matched);

        let checked = check_proof(slots("both"), &proof_for(&old, "wrong", message), message);
        assert!(!checked.matched);
    }
}
