//! PBKDF2-HMAC-SHA-256 at 4096 iterations: ours against the hardware floor (8192 serial
//! SHA-256 compressions), OpenSSL's PKCS5_PBKDF2_HMAC (what libpq uses) and the `pbkdf2`
//! crate, measured in one run on one machine.
//!
//! Run: `cargo bench -p pgscram-scram --bench pbkdf2` (add `-- --quick` for a short run).

use std::hint::black_box;
use std::time::{Duration, Instant};

use pgscram_scram::pbkdf2::{pbkdf2_hmac_sha256, pbkdf2_hmac_sha256_portable, serial_compressions};

const ITERATIONS: u32 = 4096;

/// Median of `rounds` timings of `runs` calls each, in microseconds per call.
fn measure(rounds: usize, runs: u32, mut f: impl FnMut()) -> f64 {
    for _ in 0..runs {
        f();
    }
    let mut samples: Vec<f64> = (0..rounds)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..runs {
                f();
            }
            duration_us(start.elapsed()) / f64::from(runs)
        })
        .collect();
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

fn duration_us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let (rounds, runs) = if quick { (5, 20) } else { (31, 100) };
    let password = b"correct horse battery staple";
    let salt = [0x42u8; 16];

    let reference = openssl_pbkdf2(password, &salt);
    assert_eq!(
        pbkdf2_hmac_sha256(password, &salt, ITERATIONS),
        reference,
        "ours disagrees with OpenSSL"
    );
    assert_eq!(
        pbkdf2_hmac_sha256_portable(password, &salt, ITERATIONS),
        reference,
        "the portable loop disagrees with OpenSSL"
    );

    let floor = measure(rounds, runs, || {
        black_box(serial_compressions(black_box(2 * ITERATIONS)));
    });
    let ours = measure(rounds, runs, || {
        black_box(pbkdf2_hmac_sha256(
            black_box(password),
            black_box(&salt),
            ITERATIONS,
        ));
    });
    let portable = measure(rounds, runs, || {
        black_box(pbkdf2_hmac_sha256_portable(
            black_box(password),
            black_box(&salt),
            ITERATIONS,
        ));
    });
    let openssl = measure(rounds, runs, || {
        black_box(openssl_pbkdf2(black_box(password), black_box(&salt)));
    });
    let rustcrypto = measure(rounds, runs, || {
        let mut out = [0u8; 32];
        pbkdf2::pbkdf2_hmac::<sha2::Sha256>(
            black_box(password),
            black_box(&salt),
            ITERATIONS,
            &mut out,
        );
        black_box(out);
    });

    println!(
        "PBKDF2-HMAC-SHA-256, {ITERATIONS} iterations, median of {rounds} rounds x {runs} calls"
    );
    println!("| implementation | µs per derivation | vs floor |");
    println!("|---|---:|---:|");
    for (name, us) in [
        ("floor: 8192 serial SHA-256 compressions", floor),
        ("pgscram", ours),
        ("pgscram portable loop (sha2::compress256)", portable),
        ("OpenSSL PKCS5_PBKDF2_HMAC (libpq)", openssl),
        ("pbkdf2 crate (RustCrypto)", rustcrypto),
    ] {
        println!("| {name} | {us:.1} | {:.3}x |", us / floor);
    }
    println!(
        "pgscram is {:.2}x faster than OpenSSL and {:.2}x faster than the pbkdf2 crate",
        openssl / ours,
        rustcrypto / ours
    );
}

fn openssl_pbkdf2(password: &[u8], salt: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    openssl::pkcs5::pbkdf2_hmac(
        password,
        salt,
        ITERATIONS as usize,
        openssl::hash::MessageDigest::sha256(),
        &mut out,
    )
    .expect("OpenSSL PBKDF2");
    out
}
