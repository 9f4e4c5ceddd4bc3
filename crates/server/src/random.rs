//! Randomness from the operating system, for nonces, salts and cancel keys.

/// Fresh random bytes from the OS for nonces and salts. A failing OS RNG is not
/// survivable for an authentication server.
pub(crate) fn random_bytes() -> [u8; 18] {
    let mut bytes = [0u8; 18];
    getrandom::getrandom(&mut bytes)
        .expect("the operating system's random number generator failed");
    bytes
}
