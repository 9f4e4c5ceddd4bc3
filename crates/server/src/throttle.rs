//! Failed-login throttling that locks out nobody else: a credential check for a key
//! that has failed recently waits its turn *before* the check, and a client that hangs
//! up while waiting frees everything at once.
//!
//! Keys are the role, the pair (client address, role) and, once it tries many roles
//! (a password spray), the client address. Each failure raises the key's score, which
//! halves back over a half-life; a key with a score gets a schedule: every check
//! reserves the next free moment and pushes it on by `base * 2^(score - 1)`, capped.
//! So concurrent guesses on one key are served one at a time, abandoning a guess does
//! not speed the next one up (the reservation stays), and an honest typist's next
//! try waits at most the cap (2 s by default). A successful login is answered as soon
//! as its check runs and clears its (address, role) pair; the error of a failed login
//! is sent at once. A right password for another role, from any address (the
//! attacker's own included), never waits.
//!
//! PostgreSQL's auth_delay sleeps a fixed time after every failure, holding the
//! backend: an attacker who hangs up learns the answer early and costs the server a
//! process for the whole delay.
//!
//! The counts live in a table whose size is fixed at start, indexed by a keyed hash
//! (SipHash with a random per-process key) so an attacker can neither grow it nor aim
//! collisions at someone else's entry. Each key may sit in one of [`WAYS`] slots of its
//! bucket; when all are taken, the entry with the lowest current score is replaced, so
//! a flood of one-off keys evicts other one-offs, not the hot entries that matter.
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

/// How failures slow the next checks of their keys. The default is the recommended
/// setting: 100 ms after a first failure, doubling to at most 2 s, halving back every
/// minute; at most 30 checks a minute for a hot key.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ThrottleConfig {
    /// Spacing of checks after a first failure; each further recent failure doubles
    /// it. Zero turns throttling off.
    pub base_delay: Duration,
    /// The spacing never exceeds this: a hot key gets one check per `max_delay`.
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
            max_delay: Duration::from_secs(2),
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
    /// A client address (IPv6 reduced to its /64, IPv4-mapped IPv6 to IPv4). Its
    /// schedule applies only while it sprays: failures for [`SPRAY_ROLES`] roles or more.
    Address(IpAddr),
    /// A role name as the client sent it (unknown names included).
    Role(&'a str),
    /// One client address trying one role.
    Pair(IpAddr, &'a str),
}

/// Distinct failing roles (as counted by a 64-bit sketch) that make an address a
/// sprayer, whose every check then waits its turn.
pub const SPRAY_ROLES: u32 = 4;

/// A check must not be scheduled further ahead than this many `max_delay`s: past it
/// the attempt is refused at once (53300), not parked.
const MAX_QUEUE: u32 = 8;

/// Scores below this are forgotten: the key is cold and its checks do not wait.
const COLD: f32 = 0.25;

#[derive(Debug, Clone, Copy, Default)]
struct Entry {
    /// Keyed hash of the key; 0 marks an empty slot.
    tag: u64,
    /// Failures, decayed to `at`.
    score: f32,
    /// Milliseconds since the table's epoch.
    at: u64,
    /// The next free moment for a check of this key (milliseconds since the epoch).
    next: u64,
    /// For an address: a sketch of the roles it failed on (one bit per role hash).
    roles: u64,
}

/// Why a check may not run now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admit {
    /// Run the check after waiting this long (zero: at once).
    After(Duration),
    /// The key's queue is full: refuse the attempt without checking anything.
    Refuse,
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

    /// Before checking the credentials of `role` from `addr`: when the check may run.
    /// Reserves the check's place on every hot key, so concurrent attempts are served
    /// one at a time and an abandoned attempt still uses its turn.
    pub fn admit(&self, addr: Option<IpAddr>, role: &str) -> Admit {
        self.admit_at(addr, role, Instant::now())
    }

    /// [`Throttle::admit`] at a given time (for tests).
    pub fn admit_at(&self, addr: Option<IpAddr>, role: &str, now: Instant) -> Admit {
        if !self.config.is_enabled() {
            return Admit::After(Duration::ZERO);
        }
        let now = self.millis(now);
        let limit = self.config.max_delay.as_millis() as u64 * u64::from(MAX_QUEUE);
        let mut keys = vec![Key::Role(role)];
        if let Some(addr) = addr {
            keys.push(Key::Pair(addr, role));
            keys.push(Key::Address(addr));
        }
        // First find the latest start any key allows; refuse past the queue limit.
        let mut start = now;
        for key in &keys {
            if let Some(next) = self.peek_next(*key, now) {
                start = start.max(next);
            }
        }
        if start - now > limit {
            return Admit::Refuse;
        }
        for key in &keys {
            self.reserve(*key, start, now);
        }
        Admit::After(Duration::from_millis(start - now))
    }

    /// Counts one failed login against the role, the pair and the address.
    pub fn record_failure(&self, addr: Option<IpAddr>, role: &str) {
        self.record_failure_at(addr, role, Instant::now());
    }

    /// [`Throttle::record_failure`] at a given time (for tests).
    pub fn record_failure_at(&self, addr: Option<IpAddr>, role: &str, now: Instant) {
        if !self.config.is_enabled() {
            return;
        }
        let now = self.millis(now);
        self.bump(Key::Role(role), now, 0);
        if let Some(addr) = addr {
            self.bump(Key::Pair(addr, role), now, 0);
            let bit = 1u64 << (self.keys.hash_one((2u8, role.as_bytes())) % 64);
            self.bump(Key::Address(addr), now, bit);
        }
    }

    /// A login succeeded: its (address, role) pair starts afresh. The role's own count
    /// stays, so knowing one password does not reset a guesser's count on the role.
    pub fn record_success(&self, addr: Option<IpAddr>, role: &str) {
        if let Some(addr) = addr {
            let (tag, bucket) = self.locate(Key::Pair(addr, role));
            let mut slots = bucket.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(entry) = slots.iter_mut().find(|e| e.tag == tag) {
                *entry = Entry::default();
            }
        }
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

    /// The spacing a failure count earns: `base * 2^(score - 1)`, capped.
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
            Key::Pair(addr, name) => self.keys.hash_one((3u8, prefix(addr), name.as_bytes())),
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

    /// When `key`'s next check may start, if the key is hot and (for an address)
    /// spraying; `None` for a cold key, whose checks run at once.
    fn peek_next(&self, key: Key<'_>, now: u64) -> Option<u64> {
        let (tag, bucket) = self.locate(key);
        let slots = bucket.lock().unwrap_or_else(|e| e.into_inner());
        let entry = slots.iter().find(|e| e.tag == tag)?;
        let hot = self.decayed(entry, now) >= COLD
            && (!matches!(key, Key::Address(_)) || entry.roles.count_ones() >= SPRAY_ROLES);
        hot.then_some(entry.next.max(now))
    }

    /// Takes the check's place on a hot key: the next check of the key starts one
    /// spacing after `start`.
    fn reserve(&self, key: Key<'_>, start: u64, now: u64) {
        let (tag, bucket) = self.locate(key);
        let mut slots = bucket.lock().unwrap_or_else(|e| e.into_inner());
        let Some(entry) = slots.iter_mut().find(|e| e.tag == tag) else {
            return;
        };
        let score = self.decayed(entry, now);
        if score < COLD
            || (matches!(key, Key::Address(_)) && entry.roles.count_ones() < SPRAY_ROLES)
        {
            return;
        }
        let spacing = self.delay_for(score).as_millis() as u64;
        entry.next = entry.next.max(start).saturating_add(spacing);
    }

    /// Adds one failure to `key` (and `role_bit` to an address's sketch of roles).
    fn bump(&self, key: Key<'_>, now: u64, role_bit: u64) {
        let (tag, bucket) = self.locate(key);
        let mut slots = bucket.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(entry) = slots.iter_mut().find(|e| e.tag == tag) {
            let decayed = self.decayed(entry, now);
            // A key that had gone cold starts a fresh sketch of roles.
            let roles = if decayed < COLD { 0 } else { entry.roles };
            let score = decayed + 1.0;
            // The next check waits at least one spacing after this failure.
            let spacing = self.delay_for(score).as_millis() as u64;
            *entry = Entry {
                tag,
                score,
                at: now,
                next: entry.next.max(now.saturating_add(spacing)),
                roles: roles | role_bit,
            };
            return;
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
            next: now.saturating_add(self.delay_for(1.0).as_millis() as u64),
            roles: role_bit,
        };
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
            max_delay: Duration::from_secs(2),
            half_life: Duration::from_secs(60),
            slots: 1024,
        }
    }

    fn ip(a: u8, b: u8, c: u8, d: u8) -> Option<IpAddr> {
        Some(IpAddr::V4(Ipv4Addr::new(a, b, c, d)))
    }

    fn wait(admit: Admit) -> u128 {
        match admit {
            Admit::After(d) => d.as_millis(),
            Admit::Refuse => u128::MAX,
        }
    }

    #[test]
    fn a_cold_key_checks_at_once_and_an_honest_typist_waits_at_most_the_cap() {
        let t = Throttle::new(config());
        let now = Instant::now();
        let mut waits = Vec::new();
        let mut at = now;
        for _ in 0..9 {
            let w = wait(t.admit_at(ip(10, 0, 0, 1), "alice", at));
            waits.push(w);
            at += Duration::from_millis(w as u64);
            t.record_failure_at(ip(10, 0, 0, 1), "alice", at);
            // The typist reads the error and types again a second later.
            at += Duration::from_secs(1);
        }
        assert_eq!(waits[0], 0, "a first attempt never waits");
        assert!(waits.iter().all(|w| *w <= 2000), "{waits:?}");
        assert!(waits[8] > 0, "{waits:?}");
    }

    #[test]
    fn concurrent_guesses_are_served_one_spacing_apart() {
        let t = Throttle::new(config());
        let now = Instant::now();
        for _ in 0..8 {
            t.record_failure_at(ip(10, 0, 0, 1), "alice", now);
        }
        // Eight guesses at once, right after the failures: each takes the next 2 s turn.
        let waits: Vec<u128> = (0..8)
            .map(|_| wait(t.admit_at(ip(10, 0, 0, 1), "alice", now)))
            .collect();
        assert_eq!(
            waits,
            [2000, 4000, 6000, 8000, 10000, 12000, 14000, 16000],
            "serialized"
        );
        // Up to eight spacings ahead a check is parked; past that it is refused.
        assert_eq!(t.admit_at(ip(10, 0, 0, 1), "alice", now), Admit::Refuse);
        // A guesser from elsewhere on the same role queues behind them, or is refused.
        assert_eq!(t.admit_at(ip(10, 9, 9, 9), "alice", now), Admit::Refuse);
    }

    #[test]
    fn other_roles_from_any_address_the_attackers_own_included_never_wait() {
        let t = Throttle::new(config());
        let now = Instant::now();
        for _ in 0..150 {
            t.record_failure_at(ip(10, 0, 0, 1), "alice", now);
        }
        assert_eq!(wait(t.admit_at(ip(10, 0, 0, 1), "bob", now)), 0);
        assert_eq!(wait(t.admit_at(ip(10, 0, 0, 2), "bob", now)), 0);
        assert!(t.score_at(Key::Address(ip(10, 0, 0, 1).unwrap()), now) >= 150.0);
    }

    #[test]
    fn a_spraying_address_waits_its_turn_for_every_role() {
        let t = Throttle::new(config());
        let now = Instant::now();
        for role in ["r1", "r2", "r3", "r4", "r5", "r6"] {
            t.record_failure_at(ip(10, 0, 0, 7), role, now);
        }
        let first = wait(t.admit_at(ip(10, 0, 0, 7), "fresh", now));
        let second = wait(t.admit_at(ip(10, 0, 0, 7), "another", now));
        assert_eq!(first, 2000, "the address is hot: one check per spacing");
        assert_eq!(second, 4000);
        assert_eq!(wait(t.admit_at(ip(10, 0, 0, 8), "fresh2", now)), 0);
    }

    #[test]
    fn success_clears_the_pair_but_not_the_role() {
        let t = Throttle::new(config());
        let now = Instant::now();
        for _ in 0..3 {
            t.record_failure_at(ip(10, 0, 0, 1), "alice", now);
        }
        t.record_success(ip(10, 0, 0, 1), "alice");
        assert_eq!(
            t.score_at(Key::Pair(ip(10, 0, 0, 1).unwrap(), "alice"), now),
            0.0
        );
        assert!(t.score_at(Key::Role("alice"), now) >= 3.0);
    }

    #[test]
    fn scores_decay_with_the_half_life() {
        let t = Throttle::new(config());
        let start = Instant::now();
        for _ in 0..4 {
            t.record_failure_at(ip(10, 0, 0, 1), "alice", start);
        }
        let later = start + Duration::from_secs(60);
        let score = t.score_at(Key::Role("alice"), later);
        assert!((score - 2.0).abs() < 0.01, "{score}");
        let much_later = start + Duration::from_secs(3600);
        assert!(t.score_at(Key::Role("alice"), much_later) < 0.001);
        assert_eq!(wait(t.admit_at(ip(10, 0, 0, 1), "alice", much_later)), 0);
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
    fn disabled_means_no_wait() {
        let t = Throttle::new(ThrottleConfig {
            base_delay: Duration::ZERO,
            ..config()
        });
        for _ in 0..10 {
            t.record_failure(ip(10, 0, 0, 1), "a");
            assert_eq!(t.admit(ip(10, 0, 0, 1), "a"), Admit::After(Duration::ZERO));
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
        assert!(before < 400 * 1024, "{before} bytes");
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
