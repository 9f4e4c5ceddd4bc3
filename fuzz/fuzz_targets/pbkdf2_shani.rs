#![no_main]
//! The SHA-NI PBKDF2 kernel against the portable loop, and both against PBKDF2 spelled
//! out with plain HMAC calls, for any password and salt and 0..=64 iterations (0 counts
//! as 1). Input: iteration byte, password length byte, then password and salt bytes.
//! On a CPU without SHA-NI only the portable loop is checked (and a note is printed).
use libfuzzer_sys::fuzz_target;
use pgscram_scram::pbkdf2::{hmac_sha256, pbkdf2_hmac_sha256_portable, pbkdf2_hmac_sha256_shani};

/// RFC 8018's F(P, S, c, 1): U1 = HMAC(P, S || INT(1)), Ui = HMAC(P, Ui-1), XORed.
fn textbook(password: &[u8], salt: &[u8], iterations: u32) -> [u8; 32] {
    let mut u = hmac_sha256(password, &[salt, &1u32.to_be_bytes()]);
    let mut out = u;
    for _ in 1..iterations.max(1) {
        u = hmac_sha256(password, &[&u]);
        for (o, b) in out.iter_mut().zip(&u) {
            *o ^= b;
        }
    }
    out
}

fuzz_target!(|data: &[u8]| {
    let Some((&[n, cut], rest)) = data.split_first_chunk::<2>() else {
        return;
    };
    let iterations = u32::from(n % 65);
    let (password, salt) = rest.split_at(usize::from(cut).min(rest.len()));
    let portable = pbkdf2_hmac_sha256_portable(password, salt, iterations);
    assert_eq!(
        portable,
        textbook(password, salt, iterations),
        "portable loop vs HMAC"
    );
    match pbkdf2_hmac_sha256_shani(password, salt, iterations) {
        Some(kernel) => assert_eq!(kernel, portable, "SHA-NI kernel vs portable loop"),
        None => {
            static NOTE: std::sync::Once = std::sync::Once::new();
            NOTE.call_once(|| eprintln!("pbkdf2_shani: no SHA-NI on this CPU, kernel not checked"));
        }
    }
});
