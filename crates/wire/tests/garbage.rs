//! Random bytes and bit-flipped messages through every decoder: nothing may panic.
//! A tiny xorshift generator keeps the crate free of dependencies and the runs
//! reproducible.

mod common;

use common::*;
use pgscram_wire::frame::{self, limits};

struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

const TAGS: &[u8] = b"pQPBDECSHXFdcfRKSZENTDCI123ntsvGHWAV?\0\xff";

#[test]
fn random_bodies_never_panic() {
    let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
    for _ in 0..20_000 {
        let len = rng.below(64);
        let body: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        let tag = TAGS[rng.below(TAGS.len())];
        decode_everything(tag, &body);
    }
}

#[test]
fn bit_flipped_messages_never_panic() {
    let mut rng = XorShift(0x2545_f491_4f6c_dd1d);
    let mut frames: Vec<Vec<u8>> = frontend_messages().iter().map(encode_frontend).collect();
    frames.extend(backend_messages().iter().map(encode_backend));
    frames.extend(auth_response_frames());
    for bytes in &frames {
        for _ in 0..300 {
            let mut mutated = bytes.clone();
            for _ in 0..1 + rng.below(3) {
                let at = rng.below(mutated.len());
                mutated[at] ^= 1 << rng.below(8);
            }
            let mut buf = mutated.clone();
            while let Ok(Some(frame)) = frame::take_message(&mut buf, limits::LARGE_MESSAGE) {
                decode_everything(frame.tag(), frame.body());
            }
            decode_everything(mutated[0], &mutated[5..]);
        }
    }
}

#[test]
fn random_streams_never_panic_the_framer() {
    let mut rng = XorShift(0xdead_beef_cafe_f00d);
    for _ in 0..2_000 {
        let len = rng.below(200);
        let mut buf: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        while let Ok(Some(packet)) = frame::take_startup(&mut buf, limits::STARTUP_PACKET) {
            let _ = pgscram_wire::StartupRequest::decode(&packet);
        }
        let mut buf: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        while let Ok(Some(frame)) = frame::take_message_with(&mut buf, frame::frontend_max_len) {
            decode_everything(frame.tag(), frame.body());
        }
    }
}
