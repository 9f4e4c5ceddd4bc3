//! Failed-login throttling: an exponential delay before the `28P01` of a failed login,
//! growing with the recent failures of the client's address and of the role it tried.
//!
//! PostgreSQL's auth_delay sleeps a fixed time after every failure. Here the delay
//! doubles with each recent failure and halves back over a configured half-life, so a
//! typo costs a legitimate user a tenth of a second while a guesser quickly waits
//! seconds per guess. Only failures are delayed: a successful login is never slowed,
//! whoever else is failing at the time.
//!
//! The failure counts live in a table whose size is fixed at start, indexed by a keyed
//! hash (SipHash with a random per-process key) so an attacker can neither grow it nor
//! aim collisions at someone else's entry. Each key may sit in one of [`WAYS`] slots
//! of its bucket; when all are taken, the entry with the lowest current score is
//! replaced, so a flood of one-off addresses evicts other one-offs, not the hot entries
//! that matter (a guessed role, a persistent address).
//!
//! IPv6 addresses are counted per /64, the block one subscriber usually holds, so
//! rotating through one's own block does not reset the count.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher as _;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Slots per bucket: a key can live in any of them.
pub const WAYS: usize = 4;

/// How failures are delayed. The default is the recommended setting: 100 ms for a
/// first failure, doubling to at most 10 s, halving back every minute.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ThrottleConfig {
    /// Delay for a first failure; each further recent failure doubles it. Zero turns
    /// throttling off.
    pub base_delay: Duration,
    /// The delay never exceeds this.
    pub max_delay: Duration,
    /// Time for a failure count to halve when no new failures come.
    pub half_life: Duration,
    /// Table entries (rounded up to a multiple of [`WAYS`]); memory is allocated once.
    pub slots: usize,
}

impl Default for ThrottleConfig {
    fn default() -> Self {
        ThrottleConfig {
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(10),
            half_life: Duration::from_secs(60),
            slots: 16_384,
        }
    }
}

impl ThrottleConfig {
    /// No delays (the table is then allocated at its minimum size).
    pub fn off() -> Self {
        ThrottleConfig {
            base_delay: Duration::ZERO,
            ..ThrottleConfig::default()
        }
    }

    /// Whether failures are delayed at all.
    pub fn is_enabled(&self) -> bool {
        !self.base_delay.is_zero()
    }
}

/// What a failure count is kept for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key<'a> {
    /// A client address (IPv6 reduced to its /64, IPv4-mapped IPv6 to IPv4).
    Address(IpAddr),
    /// A role name as the client sent it (unknown names included).
    Role(&'a str),
}

#[derive(Debug, Clone, Copy, Default)]
struct Entry {
    /// Keyed hash of the key; 0 marks an empty slot.
    tag: u64,
    /// Failures, decayed to `at`.
    score: f32,
    /// Milliseconds since the table's epoch.
    at: u64,
}

/// The fixed-size failure table.
#[derive(Debug)]
pub struct Throttle {
    config: ThrottleConfig,
    keys: RandomState,
    buckets: Box<[Mutex<[Entry; WAYS]>]>,
    epoch: Instant,
}

impl Throttle {
    /// A table of `config.slots` entries, allocated now and never grown.
    pub fn new(config: ThrottleConfig) -> Self {
        let slots = if config.is_enabled() {
            config.slots
        } else {
            WAYS
        };
        let buckets = slots.max(WAYS).div_ceil(WAYS);
        Throttle {
            config,
            keys: RandomState::new(),
            buckets: (0..buckets)
                .map(|_| Mutex::new([Entry::default(); WAYS]))
                .collect(),
            epoch: Instant::now(),
        }
    }

    /// The configuration in force.
    pub fn config(&self) -> &ThrottleConfig {
        &self.config
    }

    /// Counts one failed login and returns how long to wait before telling the client.
    /// The delay follows the worse of the address's and the role's recent failures, so
    /// neither many roles from one address nor one role from many addresses escapes it.
    pub fn record_failure(&self, addr: Option<IpAddr>, role: &str) -> Duration {
        self.record_failure_at(addr, role, Instant::now())
    }

    /// [`Throttle::record_failure`] at a given time (for tests).
    pub fn record_failure_at(&self, addr: Option<IpAddr>, role: &str, now: Instant) -> Duration {
        if !self.config.is_enabled() {
            return Duration::ZERO;
        }
        let now = self.millis(now);
        let by_addr = addr.map_or(0.0, |a| self.bump(Key::Address(a), now));
        let by_role = self.bump(Key::Role(role), now);
        self.delay_for(by_addr.max(by_role))
    }

    /// The current (decayed) failure count of `key`, without counting anything.
    pub fn score(&self, key: Key<'_>) -> f32 {
        self.score_at(key, Instant::now())
    }

    /// [`Throttle::score`] at a given time (for tests).
    pub fn score_at(&self, key: Key<'_>, now: Instant) -> f32 {
        let now = self.millis(now);
        let (tag, bucket) = self.locate(key);
        let slots = bucket.lock().unwrap_or_else(|e| e.into_inner());
        slots
            .iter()
            .find(|e| e.tag == tag)
            .map_or(0.0, |e| self.decayed(e, now))
    }

    /// The delay a failure count earns: `base * 2^(score - 1)`, capped.
    pub fn delay_for(&self, score: f32) -> Duration {
        if !self.config.is_enabled() || score <= 0.0 {
            return Duration::ZERO;
        }
        let exponent = f64::from(score - 1.0).clamp(0.0, 40.0);
        let secs = self.config.base_delay.as_secs_f64() * exponent.exp2();
        Duration::from_secs_f64(secs.min(self.config.max_delay.as_secs_f64()))
    }

    /// Bytes held by the table: fixed from construction on, whatever is recorded.
    pub fn memory_bytes(&self) -> usize {
        self.buckets.len() * std::mem::size_of::<Mutex<[Entry; WAYS]>>()
    }

    /// Slots in the table.
    pub fn slots(&self) -> usize {
        self.buckets.len() * WAYS
    }

    fn millis(&self, now: Instant) -> u64 {
        u64::try_from(now.saturating_duration_since(self.epoch).as_millis()).unwrap_or(u64::MAX)
    }

    fn locate(&self, key: Key<'_>) -> (u64, &Mutex<[Entry; WAYS]>) {
        let hash = match key {
            Key::Address(addr) => self.keys.hash_one((0u8, prefix(addr))),
            Key::Role(name) => self.keys.hash_one((1u8, name.as_bytes())),
        };
        let tag = hash | 1;
        // The high half picks the bucket; the full hash is the tag.
        let index = ((hash >> 32) as usize) % self.buckets.len();
        (tag, &self.buckets[index])
    }

    fn decayed(&self, entry: &Entry, now: u64) -> f32 {
        let half_life = self.config.half_life.as_millis().max(1) as f64;
        let elapsed = now.saturating_sub(entry.at) as f64;
        (f64::from(entry.score) * (-elapsed / half_life).exp2()) as f32
    }

    /// Adds one failure to `key` and returns its new score.
    fn bump(&self, key: Key<'_>, now: u64) -> f32 {
        let (tag, bucket) = self.locate(key);
        let mut slots = bucket.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(entry) = slots.iter_mut().find(|e| e.tag == tag) {
            let score = self.decayed(entry, now) + 1.0;
            *entry = Entry {
                tag,
                score,
                at: now,
            };
            return score;
        }
        // A new key takes an empty slot, or the one whose score has fallen lowest.
        let mut victim = 0;
        let mut lowest = f32::INFINITY;
        for (i, entry) in slots.iter().enumerate() {
            let score = if entry.tag == 0 {
                -1.0
            } else {
                self.decayed(entry, now)
            };
            if score < lowest {
                lowest = score;
                victim = i;
            }
        }
        slots[victim] = Entry {
            tag,
            score: 1.0,
            at: now,
        };
        1.0
    }
}

/// The part of an address that identifies one client: IPv4 whole, IPv6 by its /64
/// (also the key of the per-address connection cap).
pub fn prefix(addr: IpAddr) -> [u8; 16] {
    let mut out = [0u8; 16];
    match addr {
        IpAddr::V4(v4) => out[..4].copy_from_slice(&v4.octets()),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => out[..4].copy_from_slice(&v4.octets()),
            None => {
                out[0] = 6;
                out[8..].copy_from_slice(&v6.octets()[..8]);
            }
        },
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    fn config() -> ThrottleConfig {
        ThrottleConfig {
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(10),
            half_life: Duration::from_secs(60),
            slots: 1024,
        }
    }

    fn ip(a: u8, b: u8, c: u8, d: u8) -> Option<IpAddr> {
        Some(IpAddr::V4(Ipv4Addr::new(a, b, c, d)))
    }

    #[test]
    fn delays_double_per_failure_and_stop_at_the_cap() {
        let t = Throttle::new(config());
        let now = Instant::now();
        let delays: Vec<u128> = (0..10)
            .map(|_| {
                t.record_failure_at(ip(10, 0, 0, 1), "alice", now)
                    .as_millis()
            })
            .collect();
        assert_eq!(
            delays,
            [100, 200, 400, 800, 1600, 3200, 6400, 10000, 10000, 10000]
        );
    }

    #[test]
    fn other_addresses_and_roles_are_not_affected() {
        let t = Throttle::new(config());
        let now = Instant::now();
        for _ in 0..8 {
            t.record_failure_at(ip(10, 0, 0, 1), "alice", now);
        }
        assert_eq!(
            t.record_failure_at(ip(10, 0, 0, 2), "bob", now),
            Duration::from_millis(100)
        );
        assert_eq!(t.score_at(Key::Address(ip(10, 0, 0, 3).unwrap()), now), 0.0);
        assert!(t.score_at(Key::Address(ip(10, 0, 0, 1).unwrap()), now) >= 8.0);
    }

    #[test]
    fn one_role_from_many_addresses_is_throttled_by_the_role() {
        let t = Throttle::new(config());
        let now = Instant::now();
        let mut last = Duration::ZERO;
        for i in 0..6 {
            last = t.record_failure_at(ip(10, 1, 0, i), "postgres", now);
        }
        assert_eq!(last, Duration::from_millis(3200));
    }

    #[test]
    fn scores_decay_with_the_half_life() {
        let t = Throttle::new(config());
        let start = Instant::now();
        for _ in 0..4 {
            t.record_failure_at(ip(10, 0, 0, 1), "alice", start);
        }
        let later = start + Duration::from_secs(60);
        let score = t.score_at(Key::Address(ip(10, 0, 0, 1).unwrap()), later);
        assert!((score - 2.0).abs() < 0.01, "{score}");
        let much_later = start + Duration::from_secs(3600);
        assert!(t.score_at(Key::Role("alice"), much_later) < 0.001);
        assert_eq!(
            t.record_failure_at(ip(10, 0, 0, 1), "alice", much_later),
            Duration::from_millis(100)
        );
    }

    #[test]
    fn ipv6_counts_per_slash_64_and_mapped_ipv4_as_ipv4() {
        let t = Throttle::new(config());
        let now = Instant::now();
        let a: IpAddr = "2001:db8:1:2::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:ffff::9".parse().unwrap();
        let other: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        t.record_failure_at(Some(a), "x", now);
        t.record_failure_at(Some(b), "y", now);
        assert_eq!(t.score_at(Key::Address(a), now), 2.0);
        assert_eq!(t.score_at(Key::Address(other), now), 0.0);
        let mapped = IpAddr::V6(Ipv4Addr::new(10, 0, 0, 9).to_ipv6_mapped());
        t.record_failure_at(Some(mapped), "z", now);
        assert_eq!(t.score_at(Key::Address(ip(10, 0, 0, 9).unwrap()), now), 1.0);
        assert_eq!(
            t.score_at(Key::Address(IpAddr::V6(Ipv6Addr::LOCALHOST)), now),
            0.0
        );
    }

    #[test]
    fn disabled_means_no_delay() {
        let t = Throttle::new(ThrottleConfig {
            base_delay: Duration::ZERO,
            ..config()
        });
        for _ in 0..10 {
            assert_eq!(t.record_failure(ip(10, 0, 0, 1), "a"), Duration::ZERO);
        }
    }

    /// A million distinct attacker addresses: the table stays the size it was made,
    /// and a role under sustained attack keeps its count through the flood.
    #[test]
    fn a_million_distinct_keys_fit_in_fixed_memory() {
        let t = Throttle::new(ThrottleConfig {
            slots: 4096,
            ..config()
        });
        let before = t.memory_bytes();
        let now = Instant::now();
        for _ in 0..12 {
            t.record_failure_at(None, "postgres", now);
        }
        for i in 0u32..1_000_000 {
            let [a, b, c, d] = (0x0a00_0000 + i).to_be_bytes();
            t.record_failure_at(ip(a, b, c, d), "random-guess", now);
        }
        assert_eq!(t.memory_bytes(), before);
        assert_eq!(t.slots(), 4096);
        assert!(before < 200 * 1024, "{before} bytes");
        assert!(t.score_at(Key::Role("postgres"), now) >= 12.0);
        // The flood's own role was hit a million times.
        assert!(t.score_at(Key::Role("random-guess"), now) > 1000.0);
        println!(
            "throttle table: {} slots, {} bytes, unchanged after 1e6 distinct addresses",
            t.slots(),
            t.memory_bytes()
        );
    }
}
