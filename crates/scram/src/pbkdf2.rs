//! PBKDF2-HMAC-SHA-256 (RFC 8018) for one 32-byte block, at the speed limit of SHA-256.
//!
//! A textbook HMAC re-hashes the padded key for every call: four compressions per PBKDF2
//! iteration. The key never changes, so we compress `key ^ ipad` and `key ^ opad` once and
//! copy those two states for every iteration; each iteration is then exactly two SHA-256
//! compressions (inner and outer), whose padding blocks are prepared once. `sha2` picks
//! the SHA-NI instructions at run time when the CPU has them.
//!
//! On x86_64 CPUs with SHA-NI the iteration loop runs in the `shani` module, which keeps
//! the state in registers from one compression to the next (about 15% faster); the
//! portable loop here is the fallback everywhere else and the reference the kernel is
//! tested against.

#[cfg(target_arch = "x86_64")]
#[allow(unsafe_code)]
mod shani;

use sha2::digest::generic_array::GenericArray;
use sha2::{Digest, Sha256, compress256};
use zeroize::Zeroize;

const BLOCK: usize = 64;
const IV: [u32; 8] = [
    0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
];

/// HMAC-SHA-256 with the key schedule done once: the states after absorbing the padded key.
struct HmacKey {
    inner: [u32; 8],
    outer: [u32; 8],
}

impl HmacKey {
    fn new(key: &[u8]) -> Self {
        let mut padded = [0u8; BLOCK];
        if key.len() > BLOCK {
            let mut digest = Sha256::digest(key);
            padded[..32].copy_from_slice(&digest);
            digest.zeroize();
        } else {
            padded[..key.len()].copy_from_slice(key);
        }
        let mut inner = IV;
        let mut outer = IV;
        let mut block = [0u8; BLOCK];
        for (b, p) in block.iter_mut().zip(&padded) {
            *b = p ^ 0x36;
        }
        compress256(&mut inner, &[GenericArray::from(block)]);
        for (b, p) in block.iter_mut().zip(&padded) {
            *b = p ^ 0x5c;
        }
        compress256(&mut outer, &[GenericArray::from(block)]);
        block.zeroize();
        padded.zeroize();
        HmacKey { inner, outer }
    }

    /// HMAC over an arbitrary message (used once per derivation, for U1 = HMAC(P, salt || 1)).
    fn mac_parts(&self, parts: &[&[u8]]) -> [u8; 32] {
        let mut inner = words_to_bytes(&finish(self.inner, parts));
        let digest = finish(self.outer, &[&inner]);
        inner.zeroize();
        words_to_bytes(&digest)
    }
}

impl Drop for HmacKey {
    fn drop(&mut self) {
        self.inner.zeroize();
        self.outer.zeroize();
    }
}

/// Absorb `parts` after one already-compressed 64-byte block, pad, and return the state.
fn finish(mut state: [u32; 8], parts: &[&[u8]]) -> [u32; 8] {
    let total: usize = parts.iter().map(|p| p.len()).sum();
    let bit_len = ((BLOCK + total) as u64) * 8;
    let mut buf = Vec::with_capacity(total + 72);
    for part in parts {
        buf.extend_from_slice(part);
    }
    buf.push(0x80);
    while buf.len() % BLOCK != 56 {
        buf.push(0);
    }
    buf.extend_from_slice(&bit_len.to_be_bytes());
    for chunk in buf.chunks_exact(BLOCK) {
        compress256(&mut state, &[*GenericArray::from_slice(chunk)]);
    }
    buf.zeroize();
    state
}

fn words_to_bytes(words: &[u32; 8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    for (chunk, w) in out.chunks_exact_mut(4).zip(words) {
        chunk.copy_from_slice(&w.to_be_bytes());
    }
    out
}

type Block = GenericArray<u8, sha2::digest::consts::U64>;

/// A 64-byte block holding a 32-byte digest followed by the fixed padding for a
/// 96-byte message (one key block plus the digest): the shape of every inner and outer
/// hash after the first iteration. Only the first 32 bytes ever change.
fn digest_block() -> Block {
    let mut block = Block::default();
    block[32] = 0x80;
    block[56..].copy_from_slice(&((BLOCK as u64 + 32) * 8).to_be_bytes());
    block
}

#[inline(always)]
fn store_words(block: &mut Block, words: &[u32; 8]) {
    for (chunk, w) in block[..32].chunks_exact_mut(4).zip(words) {
        chunk.copy_from_slice(&w.to_be_bytes());
    }
}

/// PBKDF2-HMAC-SHA-256 producing the first (and, for SCRAM, only) 32-byte block.
///
/// `iterations` of 0 is treated as 1, as the loop structure of RFC 8018 implies; callers
/// validate the count before they get here.
pub fn pbkdf2_hmac_sha256(password: &[u8], salt: &[u8], iterations: u32) -> [u8; 32] {
    derive(password, salt, iterations, Backend::detect())
}

/// Which loop runs iterations 2..n.
#[derive(Clone, Copy, Debug)]
enum Backend {
    Portable,
    #[cfg(target_arch = "x86_64")]
    ShaNi(shani::ShaNi),
}

impl Backend {
    fn detect() -> Self {
        #[cfg(target_arch = "x86_64")]
        if let Some(cpu) = shani::ShaNi::detect() {
            return Backend::ShaNi(cpu);
        }
        Backend::Portable
    }
}

fn derive(password: &[u8], salt: &[u8], iterations: u32, backend: Backend) -> [u8; 32] {
    let key = HmacKey::new(password);
    let mut u = key.mac_parts(&[salt, &1u32.to_be_bytes()]);
    let mut u1 = [0u32; 8];
    for (w, chunk) in u1.iter_mut().zip(u.chunks_exact(4)) {
        *w = u32::from_be_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
    }
    let extra = iterations.max(1) - 1;
    let mut acc = match backend {
        Backend::Portable => iterate_portable(&key, &u1, extra),
        #[cfg(target_arch = "x86_64")]
        Backend::ShaNi(cpu) => cpu.iterate(&key.inner, &key.outer, &u1, extra),
    };
    let out = words_to_bytes(&acc);
    acc.zeroize();
    u1.zeroize();
    u.zeroize();
    out
}

/// Iterations 2..=`extra + 1` through `sha2::compress256`; returns U1 ^ U2 ^ ... in words.
fn iterate_portable(key: &HmacKey, u1: &[u32; 8], extra: u32) -> [u32; 8] {
    let mut u_words = *u1;
    let mut acc = u_words;

    // The hot loop: two compressions, no copies of whole blocks, no volatile writes
    // (everything is wiped once, after the loop).
    let mut inner_block = digest_block();
    let mut outer_block = digest_block();
    let mut inner = [0u32; 8];
    for _ in 0..extra {
        store_words(&mut inner_block, &u_words);
        inner = key.inner;
        compress256(&mut inner, std::slice::from_ref(&inner_block));
        store_words(&mut outer_block, &inner);
        u_words = key.outer;
        compress256(&mut u_words, std::slice::from_ref(&outer_block));
        for (a, w) in acc.iter_mut().zip(&u_words) {
            *a ^= w;
        }
    }
    u_words.zeroize();
    inner.zeroize();
    inner_block.as_mut_slice().zeroize();
    outer_block.as_mut_slice().zeroize();
    acc
}

/// [`pbkdf2_hmac_sha256`] without the SHA-NI kernel, whatever the CPU.
/// Public for the benchmark only, to measure the kernel against the loop it replaces.
#[doc(hidden)]
pub fn pbkdf2_hmac_sha256_portable(password: &[u8], salt: &[u8], iterations: u32) -> [u8; 32] {
    derive(password, salt, iterations, Backend::Portable)
}

/// [`pbkdf2_hmac_sha256`] through the SHA-NI kernel, or `None` where the CPU (or the
/// architecture) has none. Public for the fuzz target only, which checks the kernel
/// against [`pbkdf2_hmac_sha256_portable`].
#[doc(hidden)]
pub fn pbkdf2_hmac_sha256_shani(password: &[u8], salt: &[u8], iterations: u32) -> Option<[u8; 32]> {
    let backend = Backend::detect();
    if matches!(backend, Backend::Portable) {
        return None;
    }
    Some(derive(password, salt, iterations, backend))
}

/// HMAC-SHA-256 of one message; the keys in SCRAM are 32 bytes, so this is two
/// compressions for the key schedule plus the message.
pub fn hmac_sha256(key: &[u8], message: &[&[u8]]) -> [u8; 32] {
    HmacKey::new(key).mac_parts(message)
}

/// The cost floor PBKDF2 is measured against: `n` dependent SHA-256 compressions.
/// Public for the benchmark only.
#[doc(hidden)]
pub fn serial_compressions(n: u32) -> [u32; 8] {
    let mut state = IV;
    let mut block = digest_block();
    for _ in 0..n {
        store_words(&mut block, &state);
        compress256(&mut state, std::slice::from_ref(&block));
    }
    state
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// Every backend this machine can run; the kernel is missing only on CPUs without it.
    fn backends() -> Vec<Backend> {
        let mut all = vec![Backend::Portable];
        #[cfg(target_arch = "x86_64")]
        match shani::ShaNi::detect() {
            Some(cpu) => all.push(Backend::ShaNi(cpu)),
            None => eprintln!("no SHA-NI on this CPU: kernel not exercised"),
        }
        all
    }

    fn reference(password: &[u8], salt: &[u8], iterations: u32) -> [u8; 32] {
        let mut out = [0u8; 32];
        ::pbkdf2::pbkdf2_hmac::<Sha256>(password, salt, iterations, &mut out);
        out
    }

    /// Deterministic bytes (xorshift32), so a failure names a reproducible case.
    fn bytes(len: usize, seed: u32) -> Vec<u8> {
        let mut x = seed.wrapping_mul(0x9e37_79b9) | 1;
        (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                x as u8
            })
            .collect()
    }

    fn check(password: &[u8], salt: &[u8], iterations: u32) {
        let expected = reference(password, salt, iterations);
        for backend in backends() {
            assert_eq!(
                derive(password, salt, iterations, backend),
                expected,
                "{backend:?}, password {} bytes, salt {} bytes, {iterations} iterations",
                password.len(),
                salt.len()
            );
        }
        assert_eq!(pbkdf2_hmac_sha256(password, salt, iterations), expected);
    }

    #[test]
    fn backends_agree_with_the_pbkdf2_crate() {
        // Every password length 0..200 (short keys, exactly one block, hashed long keys),
        // each with a different salt length and iteration count.
        for len in 0..=200usize {
            let salt_len = (len * 37) % 101;
            let iterations = 1 + (len as u32 * 13) % 50;
            check(
                &bytes(len, len as u32),
                &bytes(salt_len, 1000 + len as u32),
                iterations,
            );
        }
        // Every salt length 0..100 (salt || INT(1) needs a second block from 52 bytes on).
        for salt_len in 0..=100usize {
            let len = (salt_len * 53) % 201;
            let iterations = 1 + (salt_len as u32 * 7) % 50;
            check(
                &bytes(len, 2000 + salt_len as u32),
                &bytes(salt_len, salt_len as u32),
                iterations,
            );
        }
        // Every iteration count 1..50 on SCRAM-shaped inputs.
        for iterations in 1..=50u32 {
            check(
                &bytes(28, iterations),
                &bytes(16, 3000 + iterations),
                iterations,
            );
        }
        // Counts real verifiers use, plus an odd one.
        for iterations in [4096u32, 10_000, 4097] {
            check(b"pencil", &bytes(16, iterations), iterations);
        }
    }

    #[test]
    fn zero_iterations_is_one() {
        for backend in backends() {
            assert_eq!(
                derive(b"password", b"salt", 0, backend),
                derive(b"password", b"salt", 1, Backend::Portable),
                "{backend:?}"
            );
        }
    }

    #[test]
    fn rfc7914_and_peers_vectors() {
        // PBKDF2-HMAC-SHA-256 vectors (RFC 7914 §11 and the widely published set).
        let cases: &[(&[u8], &[u8], u32, &str)] = &[
            (
                b"password",
                b"salt",
                1,
                "120fb6cffcf8b32c43e7225256c4f837a86548c92ccc35480805987cb70be17b",
            ),
            (
                b"password",
                b"salt",
                2,
                "ae4d0c95af6b46d32d0adff928f06dd02a303f8ef3c251dfd6e2d85a95474c43",
            ),
            (
                b"password",
                b"salt",
                4096,
                "c5e478d59288c841aa530db6845c4c8d962893a001ce4e11a4963873aa98134a",
            ),
        ];
        for (password, salt, iterations, expected) in cases {
            assert_eq!(
                hex(&pbkdf2_hmac_sha256(password, salt, *iterations)),
                *expected
            );
            for backend in backends() {
                assert_eq!(
                    hex(&derive(password, salt, *iterations, backend)),
                    *expected,
                    "{backend:?}"
                );
            }
        }
    }

    #[test]
    fn long_keys_and_salts_match_the_reference_hmac() {
        use hmac::{Hmac, Mac};
        for key_len in [0usize, 1, 32, 63, 64, 65, 200] {
            for msg_len in [0usize, 1, 55, 56, 64, 119, 120, 300] {
                let key: Vec<u8> = (0..key_len).map(|i| i as u8).collect();
                let msg: Vec<u8> = (0..msg_len).map(|i| (i * 7) as u8).collect();
                let mut reference = Hmac::<Sha256>::new_from_slice(&key).unwrap();
                reference.update(&msg);
                let expected = reference.finalize().into_bytes();
                assert_eq!(
                    hmac_sha256(&key, &[&msg]),
                    expected.as_slice(),
                    "{key_len}/{msg_len}"
                );
            }
        }
    }

    #[test]
    fn shani_hook_is_the_kernel_or_nothing() {
        let kernel = pbkdf2_hmac_sha256_shani(b"password", b"salt", 4096);
        let has_kernel = backends().len() > 1;
        assert_eq!(kernel.is_some(), has_kernel);
        if let Some(out) = kernel {
            assert_eq!(out, reference(b"password", b"salt", 4096));
        }
    }

    #[test]
    fn serial_compressions_is_deterministic() {
        assert_eq!(serial_compressions(3), serial_compressions(3));
        assert_ne!(serial_compressions(3), serial_compressions(4));
    }
}
