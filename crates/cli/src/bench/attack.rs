//! `pgscram bench --attack`: an attack on the login path from one loopback address,
//! and meanwhile legitimate logins (the conninfo's user and password, or its cached
//! keys) from another loopback address, and for `abandoned-guesses` from the
//! attacker's own address too. What is measured is the legitimate logins: how many
//! failed and how long they took while the attack ran.
//!
//! ```text
//! abandoned-guesses  N at a time: startup for the attacked role, a SCRAM exchange with
//!                    a wrong proof, hang up 300 ms after client-final (or when answered);
//!                    a refused connection is retried; stops after --attack-count guesses
//! stalled-startups   N connections send a startup packet for the attacked role, then
//!                    nothing until the server closes them or --duration ends
//! silent-tcp         N TCP connections that send nothing at all
//! ```
//!
//! A connection the server refuses or closes is opened again after --retry-after (the
//! attacker is persistent), at most --attack-count connections in all. Everything is
//! bounded by --duration; the target must be a loopback address, and the attacking
//! sockets are bound to --source (all of 127.0.0.0/8 is loopback on Linux).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use anyhow::{Context as _, bail};
use pgscram_auth::client_policy::ClientPolicy;
use pgscram_auth::conninfo::HostKind;
use pgscram_client::{Config, Framed, Login, Secrets, Stream};
use pgscram_scram::nonce::NONCE_RANDOM_LEN;
use pgscram_scram::{ClientChannel, ClientExchange, ClientKey, ClientOptions, Credential, Nonce};
use pgscram_scram::{ServerKey, keys::KEY_LEN};
use pgscram_wire::{
    Authentication, BackendMessage, FrontendMessage, SaslInitialResponse, SaslResponse,
    StartupMessage, StartupRequest,
};
use serde::Serialize;
use tokio::io::AsyncReadExt as _;
use tokio::net::{TcpSocket, TcpStream};
use tokio::time::Instant;
use zeroize::Zeroizing;

use super::JsonErrorKind;

use super::{ErrorTally, Histogram, Limit, Mode, Options, micros, rounded};

/// The attacks `--attack` knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attack {
    AbandonedGuesses,
    StalledStartups,
    SilentTcp,
    /// No attack: the legitimate logins alone, from both addresses, for a baseline.
    None,
}

impl Attack {
    pub fn parse(name: &str) -> anyhow::Result<Attack> {
        Ok(match name {
            "abandoned-guesses" => Attack::AbandonedGuesses,
            "stalled-startups" => Attack::StalledStartups,
            "silent-tcp" => Attack::SilentTcp,
            "none" => Attack::None,
            other => bail!(
                "invalid --attack \"{other}\": use abandoned-guesses, stalled-startups, \
                 silent-tcp or none"
            ),
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Attack::AbandonedGuesses => "abandoned-guesses",
            Attack::StalledStartups => "stalled-startups",
            Attack::SilentTcp => "silent-tcp",
            Attack::None => "none",
        }
    }

    /// Attacking connections at a time, by default.
    fn default_connections(self) -> u32 {
        match self {
            Attack::AbandonedGuesses => 32,
            Attack::StalledStartups => 64,
            Attack::SilentTcp => 384,
            Attack::None => 0,
        }
    }

    /// Guesses (abandoned-guesses) or connections in all, by default.
    fn default_count(self) -> u64 {
        match self {
            Attack::AbandonedGuesses => 150,
            _ => 100_000,
        }
    }
}

/// The attack options as given on the command line.
#[derive(Debug, Clone, Default)]
pub struct Given {
    pub attack: Option<Attack>,
    pub role: Option<String>,
    pub connections: Option<u32>,
    pub count: Option<u64>,
    pub source: Option<IpAddr>,
    pub hang_up_ms: Option<u64>,
    pub retry_ms: Option<u64>,
    pub interval_ms: Option<u64>,
}

impl Given {
    fn any_option(&self) -> bool {
        self.role.is_some()
            || self.connections.is_some()
            || self.count.is_some()
            || self.source.is_some()
            || self.hang_up_ms.is_some()
            || self.retry_ms.is_some()
            || self.interval_ms.is_some()
    }

    /// The plan, with defaults, or `None` without `--attack`.
    pub fn finish(self) -> anyhow::Result<Option<Plan>> {
        let Some(attack) = self.attack else {
            if self.any_option() {
                bail!(
                    "the --attack-* options, --source, --hang-up-after, --retry-after and --interval need --attack"
                );
            }
            return Ok(None);
        };
        let source = self
            .source
            .unwrap_or(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2)));
        if !source.is_loopback() {
            bail!("--source {source} is not a loopback address: attacks stay on this machine");
        }
        let other = match source {
            IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::LOCALHOST),
        };
        if source == other {
            bail!(
                "--source must differ from {other}, where the legitimate logins come from \
                 (use for example 127.0.0.2)"
            );
        }
        Ok(Some(Plan {
            attack,
            role: self.role.unwrap_or_else(|| "postgres".to_owned()),
            connections: match attack {
                Attack::None => 0,
                _ => self
                    .connections
                    .unwrap_or_else(|| attack.default_connections()),
            },
            count: self.count.unwrap_or_else(|| attack.default_count()),
            source,
            other,
            hang_up: Duration::from_millis(self.hang_up_ms.unwrap_or(300)),
            retry: Duration::from_millis(self.retry_ms.unwrap_or(250)),
            interval: Duration::from_millis(self.interval_ms.unwrap_or(100)),
        }))
    }
}

/// What to run.
#[derive(Debug, Clone)]
pub struct Plan {
    pub attack: Attack,
    /// The role the attack names in its startup packets.
    pub role: String,
    pub connections: u32,
    pub count: u64,
    /// Where the attack comes from.
    pub source: IpAddr,
    /// Where the legitimate logins come from (the loopback address of source's family).
    pub other: IpAddr,
    /// abandoned-guesses: how long after client-final the attacker hangs up.
    pub hang_up: Duration,
    /// How long an attacking slot waits before opening a connection again.
    pub retry: Duration,
    /// Each legitimate worker starts a login at most this often.
    pub interval: Duration,
}

/// Longest wait for one step of an attacking exchange (connect, a server message).
const STEP: Duration = Duration::from_secs(10);
/// Longest the legitimate logins wait for the attack to be in place.
const WARMUP: Duration = Duration::from_secs(2);

/// Runs the attack and the legitimate logins; prints the report.
pub async fn run(
    options: &Options,
    plan: &Plan,
    config: Config,
    keys: Option<(ClientKey, ServerKey)>,
) -> anyhow::Result<ExitCode> {
    let target = target(&config, plan)?;
    if plan.role == config.conn().user {
        bail!(
            "--attack-role must differ from the conninfo's user \"{}\": the legitimate \
             logins are another role's",
            plan.role
        );
    }
    let duration = match options.limit {
        Limit::Duration(d) => d,
        Limit::Count(_) => bail!("--attack runs for --duration; use --attack-count"),
    };
    let start = Instant::now();
    let end = start + duration;
    let shared = Arc::new(AttackShared::new(plan.count));
    let config = Arc::new(config);
    let keys = Arc::new(keys);

    let mut attackers = Vec::with_capacity(plan.connections as usize);
    for _ in 0..plan.connections {
        let (shared, plan, dbname) = (shared.clone(), plan.clone(), config.conn().dbname.clone());
        attackers.push(tokio::spawn(async move {
            attack_slot(&plan, target, &dbname, &shared, end).await
        }));
    }
    // The legitimate logins start once every attacking slot has made its first
    // attempt (or after WARMUP), and stop when the attack does.
    let warm = start + WARMUP.min(duration / 2);
    while shared.started.load(Ordering::Relaxed) < plan.connections && Instant::now() < warm {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let mut sources = vec![plan.other];
    if matches!(plan.attack, Attack::AbandonedGuesses | Attack::None) {
        sources.push(plan.source);
    }
    let mut legit = Vec::new();
    for &source in &sources {
        for _ in 0..options.workers {
            let (config, keys, shared) = (config.clone(), keys.clone(), shared.clone());
            let (interval, timeout) = (plan.interval, options.timeout);
            legit.push((
                source,
                tokio::spawn(async move {
                    legit_worker(
                        &config,
                        keys.as_ref().as_ref(),
                        target,
                        source,
                        &shared,
                        interval,
                        timeout,
                        end,
                    )
                    .await
                }),
            ));
        }
    }
    let legit_started = Instant::now();
    let mut attack = AttackStats::default();
    for task in attackers {
        attack.merge(task.await.context("an attacking task panicked")?);
    }
    if plan.attack == Attack::None {
        tokio::time::sleep_until(end).await;
    }
    let attack_seconds = start.elapsed();
    shared.done.store(true, Ordering::Relaxed);
    let mut by_source: Vec<LegitStats> = sources
        .iter()
        .map(|&source| LegitStats::new(source))
        .collect();
    for (source, task) in legit {
        let stats = task.await.context("a login task panicked")?;
        if let Some(into) = by_source.iter_mut().find(|s| s.source == source) {
            into.latency.merge(&stats.latency);
            into.errors.merge(stats.errors);
        }
    }
    let report = AttackReport {
        attack: plan.attack,
        target,
        role: plan.role.clone(),
        user: config.conn().user.clone(),
        mode: options.mode,
        source: plan.source,
        connections: plan.connections,
        attack_seconds,
        legit_seconds: legit_started.elapsed(),
        stats: attack,
        legit: by_source,
    };
    if options.json {
        println!("{}", report.json());
    } else {
        print!("{}", report.text());
    }
    let ok = report
        .legit
        .iter()
        .all(|s| s.errors.total() == 0 && s.latency.total > 0);
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// The first host of the conninfo, which must be a loopback TCP address of the same
/// family as --source.
pub fn target(config: &Config, plan: &Plan) -> anyhow::Result<SocketAddr> {
    let host = config
        .conn()
        .hosts
        .first()
        .context("the connection string names no host")?;
    let ip = match (host.kind, host.hostaddr) {
        (HostKind::UnixSocket, _) => {
            bail!("--attack needs a TCP host (for example host=127.0.0.1), not a Unix socket")
        }
        (_, Some(ip)) => ip,
        (_, None) => match host.host.parse::<IpAddr>() {
            Ok(ip) => ip,
            Err(_) if host.host == "localhost" => plan.other,
            Err(_) => bail!(
                "--attack needs a loopback address as host, not \"{}\"",
                host.host
            ),
        },
    };
    if !ip.is_loopback() {
        bail!("--attack only targets loopback addresses, not {ip}");
    }
    if ip.is_ipv4() != plan.source.is_ipv4() {
        bail!(
            "--source {} and the host {ip} are of different address families",
            plan.source
        );
    }
    Ok(SocketAddr::new(ip, host.port))
}

/// Counters the attacking slots share.
#[derive(Debug)]
struct AttackShared {
    /// Guesses (or connections) still to make.
    tickets: AtomicU64,
    /// Connections opened or tried, to bound retries.
    attempts: AtomicU64,
    /// Slots that made their first attempt.
    started: AtomicU32,
    /// Set when the attack is over: the legitimate logins stop.
    done: AtomicBool,
}

impl AttackShared {
    fn new(count: u64) -> Self {
        AttackShared {
            tickets: AtomicU64::new(count),
            attempts: AtomicU64::new(0),
            started: AtomicU32::new(0),
            done: AtomicBool::new(false),
        }
    }

    fn take_ticket(&self) -> bool {
        self.tickets
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
            .is_ok()
    }

    fn return_ticket(&self) {
        self.tickets.fetch_add(1, Ordering::Relaxed);
    }
}

/// What the attacking side saw.
#[derive(Debug, Default)]
struct AttackStats {
    /// TCP connections attempted.
    connections: u64,
    /// abandoned-guesses: client-finals sent (wrong proofs).
    guesses: u64,
    /// abandoned-guesses: answered with an error before the attacker hung up.
    answered: u64,
    /// Refused by the server with an ErrorResponse before the exchange (53300 ...), or
    /// the connection itself failed.
    refused: u64,
    /// Closed by the server without an error while the attacker held it.
    closed: u64,
    /// Still open (held, or a guess under way) when the attack ended.
    held_at_end: u64,
    /// Why connections were refused or failed.
    errors: ErrorTally,
}

impl AttackStats {
    fn merge(&mut self, other: AttackStats) {
        self.connections += other.connections;
        self.guesses += other.guesses;
        self.answered += other.answered;
        self.refused += other.refused;
        self.closed += other.closed;
        self.held_at_end += other.held_at_end;
        self.errors.merge(other.errors);
    }
}

/// How one attacking connection ended.
enum Ended {
    /// A wrong proof went out; `answered` if an error came back before hanging up.
    Guessed { answered: bool },
    /// The server sent an error before the attack got where it wanted.
    Refused(String),
    /// The connection could not be made or broke.
    Failed(String),
    /// The server closed a held connection without an error.
    Closed,
    /// Held (or still under way) until the end of the attack.
    Held,
}

/// One attacking slot: makes connections one after another until the tickets, the
/// attempt budget or the time run out.
async fn attack_slot(
    plan: &Plan,
    target: SocketAddr,
    dbname: &str,
    shared: &AttackShared,
    end: Instant,
) -> AttackStats {
    let mut stats = AttackStats::default();
    let max_attempts = plan.count.saturating_mul(20).max(1_000);
    let mut first = true;
    while Instant::now() < end && shared.take_ticket() {
        if shared.attempts.fetch_add(1, Ordering::Relaxed) >= max_attempts {
            break;
        }
        if std::mem::take(&mut first) {
            shared.started.fetch_add(1, Ordering::Relaxed);
        }
        stats.connections += 1;
        let ended = match plan.attack {
            Attack::AbandonedGuesses => {
                guess(target, plan.source, &plan.role, dbname, plan.hang_up, end).await
            }
            Attack::StalledStartups => {
                hold(target, plan.source, Some((&plan.role, dbname)), end).await
            }
            Attack::SilentTcp => hold(target, plan.source, None, end).await,
            Attack::None => break,
        };
        let again = match ended {
            Ended::Guessed { answered } => {
                stats.guesses += 1;
                stats.answered += u64::from(answered);
                false
            }
            Ended::Refused(message) => {
                stats.refused += 1;
                stats.errors.record(message);
                true
            }
            Ended::Failed(message) => {
                stats.refused += 1;
                stats.errors.record(message);
                true
            }
            Ended::Closed => {
                stats.closed += 1;
                true
            }
            Ended::Held => {
                stats.held_at_end += 1;
                false
            }
        };
        // A guess that never went out does not count; neither does a held connection
        // the server ended (another one takes its place).
        if again {
            if plan.attack == Attack::AbandonedGuesses {
                shared.return_ticket();
            }
            let pause = plan
                .retry
                .min(end.saturating_duration_since(Instant::now()));
            tokio::time::sleep(pause).await;
        }
    }
    if first {
        // This slot never started: do not hold up the legitimate logins.
        shared.started.fetch_add(1, Ordering::Relaxed);
    }
    stats
}

/// A TCP connection from `source` (any port) to `target`.
async fn connect_from(source: IpAddr, target: SocketAddr) -> std::io::Result<TcpStream> {
    let socket = match target {
        SocketAddr::V4(_) => TcpSocket::new_v4()?,
        SocketAddr::V6(_) => TcpSocket::new_v6()?,
    };
    socket.set_reuseaddr(true)?;
    socket.bind(SocketAddr::new(source, 0))?;
    let stream = tokio::time::timeout(STEP, socket.connect(target))
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "connect timed out"))??;
    stream.set_nodelay(true)?;
    Ok(stream)
}

fn startup(user: &str, dbname: &str) -> Vec<u8> {
    let mut out = Vec::new();
    let startup = StartupMessage::new(user).with("database", dbname);
    // Encoding a startup packet of short names into a Vec cannot fail.
    let _ = StartupRequest::Startup(startup).encode(&mut out);
    out
}

/// "SQLSTATE message" of a server error.
fn server_error(fields: &pgscram_wire::ErrorFields) -> String {
    format!("{}: {}", fields.code, fields.message)
}

/// The next backend message within the step time (and before `end` + STEP).
async fn next(framed: &mut Framed<Stream>) -> Result<BackendMessage, String> {
    match tokio::time::timeout(
        STEP,
        framed.read_backend(pgscram_wire::frame::limits::SMALL_MESSAGE),
    )
    .await
    {
        Ok(Ok(message)) => Ok(message),
        Ok(Err(e)) => Err(format!("connection broke: {e}")),
        Err(_) => Err(format!("no answer within {}s", STEP.as_secs())),
    }
}

/// The next authentication request, skipping notices; an ErrorResponse is `Refused`.
async fn next_auth(framed: &mut Framed<Stream>) -> Result<Authentication, Ended> {
    loop {
        match next(framed).await.map_err(Ended::Failed)? {
            BackendMessage::Authentication(request) => return Ok(request),
            BackendMessage::ErrorResponse(fields) => {
                return Err(Ended::Refused(server_error(&fields)));
            }
            BackendMessage::NoticeResponse(_) | BackendMessage::NegotiateProtocolVersion(_) => {}
            _ => return Err(Ended::Failed("unexpected message from server".to_owned())),
        }
    }
}

/// One abandoned guess: a SCRAM exchange for `role` with random keys (so a wrong proof,
/// and no PBKDF2 on the attacking side), hanging up `hang_up` after client-final.
async fn guess(
    target: SocketAddr,
    source: IpAddr,
    role: &str,
    dbname: &str,
    hang_up: Duration,
    end: Instant,
) -> Ended {
    let exchange = async {
        let stream = connect_from(source, target)
            .await
            .map_err(|e| Ended::Failed(format!("could not connect from {source}: {e}")))?;
        let mut framed = Framed::new(Stream::Tcp(stream));
        let failed = |e: pgscram_client::Error| Ended::Failed(format!("connection broke: {e}"));
        framed.send(&startup(role, dbname)).await.map_err(failed)?;
        match next_auth(&mut framed).await? {
            Authentication::Sasl { mechanisms }
                if mechanisms.iter().any(|m| m == "SCRAM-SHA-256") => {}
            _ => {
                return Err(Ended::Failed(
                    "the server did not ask for SCRAM-SHA-256".to_owned(),
                ));
            }
        }
        let mut random = Zeroizing::new([0u8; NONCE_RANDOM_LEN + 2 * KEY_LEN]);
        getrandom::getrandom(random.as_mut())
            .map_err(|e| Ended::Failed(format!("no random numbers: {e}")))?;
        let (nonce, keys) = random.split_at(NONCE_RANDOM_LEN);
        let (client_key, server_key) = keys.split_at(KEY_LEN);
        let credential = Credential::Keys {
            client_key: ClientKey::from_slice(client_key).expect("32 bytes"),
            server_key: ServerKey::from_slice(server_key).expect("32 bytes"),
        };
        let (state, client_first) = ClientExchange::start(
            credential,
            ClientChannel::NotSupported,
            &Nonce::from_random(nonce.try_into().expect("nonce length")),
            ClientOptions::default(),
        );
        let mut out = Vec::new();
        let _ = SaslInitialResponse {
            mechanism: "SCRAM-SHA-256".to_owned(),
            data: Some(client_first.into_bytes()),
        }
        .encode(&mut out);
        framed.send(&out).await.map_err(failed)?;
        let Authentication::SaslContinue(server_first) = next_auth(&mut framed).await? else {
            return Err(Ended::Failed("expected SASLContinue".to_owned()));
        };
        let (_state, client_final) = state
            .handle_server_first(&server_first)
            .map_err(|e| Ended::Failed(format!("SCRAM exchange failed: {e}")))?;
        out.clear();
        let _ = SaslResponse {
            data: client_final.into_bytes(),
        }
        .encode(&mut out);
        framed.send(&out).await.map_err(failed)?;
        // The wrong proof is out: wait for the answer at most `hang_up`, then hang up.
        let answered = matches!(
            tokio::time::timeout(
                hang_up,
                framed.read_backend(pgscram_wire::frame::limits::SMALL_MESSAGE)
            )
            .await,
            Ok(Ok(BackendMessage::ErrorResponse(_)))
        );
        Ok::<_, Ended>(Ended::Guessed { answered })
    };
    // A guess still under way when the attack ends is abandoned there.
    match tokio::time::timeout_at(end, exchange).await {
        Ok(Ok(ended) | Err(ended)) => ended,
        Err(_) => Ended::Held,
    }
}

/// Opens a connection, sends the startup packet for `startup` (role, dbname) if given,
/// then nothing: holds it until the server closes it or `end`.
async fn hold(
    target: SocketAddr,
    source: IpAddr,
    startup_for: Option<(&str, &str)>,
    end: Instant,
) -> Ended {
    use tokio::io::AsyncWriteExt as _;
    let mut stream = match tokio::time::timeout_at(end, connect_from(source, target)).await {
        Ok(Ok(stream)) => stream,
        Ok(Err(e)) => return Ended::Failed(format!("could not connect from {source}: {e}")),
        Err(_) => return Ended::Held,
    };
    if let Some((role, dbname)) = startup_for
        && let Err(e) = stream.write_all(&startup(role, dbname)).await
    {
        return Ended::Failed(format!("connection broke: {e}"));
    }
    // Whatever the server sends (an authentication request) is read and ignored; an
    // ErrorResponse ('E') first means the server refused the connection.
    let mut first: Option<u8> = None;
    let mut received = Vec::new();
    let mut buf = [0u8; 1024];
    loop {
        match tokio::time::timeout_at(end, stream.read(&mut buf)).await {
            Err(_) => return Ended::Held,
            Ok(Ok(0)) | Ok(Err(_)) => {
                return match first {
                    Some(b'E') => Ended::Refused(error_text(&received)),
                    _ => Ended::Closed,
                };
            }
            Ok(Ok(n)) => {
                first.get_or_insert(buf[0]);
                if received.len() < 4096 {
                    received.extend_from_slice(&buf[..n]);
                }
            }
        }
    }
}

/// The SQLSTATE and message of the ErrorResponse at the start of `bytes`, best effort.
fn error_text(bytes: &[u8]) -> String {
    let fields = bytes.get(5..).unwrap_or_default().split(|&b| b == 0);
    let (mut code, mut message) = (String::new(), String::new());
    for field in fields {
        match field.split_first() {
            Some((b'C', rest)) => code = String::from_utf8_lossy(rest).into_owned(),
            Some((b'M', rest)) => message = String::from_utf8_lossy(rest).into_owned(),
            Some(_) => {}
            None => break,
        }
    }
    format!("{code}: {message}")
}

/// The legitimate logins of one source address.
struct LegitStats {
    source: IpAddr,
    latency: Histogram,
    errors: ErrorTally,
}

impl LegitStats {
    fn new(source: IpAddr) -> Self {
        LegitStats {
            source,
            latency: Histogram::new(),
            errors: ErrorTally::default(),
        }
    }
}

/// Logs in from `source` once per `interval` until the attack is over (or `end`).
#[allow(clippy::too_many_arguments)]
async fn legit_worker(
    config: &Config,
    keys: Option<&(ClientKey, ServerKey)>,
    target: SocketAddr,
    source: IpAddr,
    shared: &AttackShared,
    interval: Duration,
    timeout: Duration,
    end: Instant,
) -> LegitStats {
    let mut stats = LegitStats::new(source);
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if shared.done.load(Ordering::Relaxed) || Instant::now() >= end {
            break;
        }
        let started = Instant::now();
        match tokio::time::timeout(timeout, legit_login(config, keys, target, source)).await {
            Ok(Ok(())) => stats.latency.record(micros(started.elapsed())),
            Ok(Err(message)) => stats.errors.record(message),
            Err(_) => stats.errors.record(format!(
                "no login within {}s (--timeout)",
                timeout.as_secs()
            )),
        }
    }
    stats
}

/// One login of the conninfo's user from `source`, through the client's own
/// authentication phase, up to ReadyForQuery; then Terminate.
async fn legit_login(
    config: &Config,
    keys: Option<&(ClientKey, ServerKey)>,
    target: SocketAddr,
    source: IpAddr,
) -> Result<(), String> {
    let conn = config.conn();
    let stream = connect_from(source, target)
        .await
        .map_err(|e| format!("could not connect from {source}: {e}"))?;
    let mut framed = Framed::new(Stream::Tcp(stream));
    let broke = |e: pgscram_client::Error| crate::login::connection_error(e).to_string();
    framed
        .send(&startup(&conn.user, &conn.dbname))
        .await
        .map_err(broke)?;
    let secrets = Secrets {
        password: match keys {
            Some(_) => None,
            None => conn
                .password_for(0)
                .map(|p| Zeroizing::new(p.expose().as_bytes().to_vec())),
        },
        scram_keys: keys.cloned(),
        md5_secret: None,
    };
    let policy = ClientPolicy {
        require_auth: conn.require_auth.clone(),
        channel_binding: conn.channel_binding,
    };
    let login = Login {
        user: &conn.user,
        secrets: &secrets,
        policy: &policy,
        max_iterations: config.max_iterations(),
        expected_scram: None,
        server_certificate: None,
        tls_in_use: false,
    };
    pgscram_client::authenticate(&mut framed, &login)
        .await
        .map_err(broke)?;
    drop(secrets);
    loop {
        match framed
            .read_backend(pgscram_wire::frame::limits::SMALL_MESSAGE)
            .await
            .map_err(broke)?
        {
            BackendMessage::ReadyForQuery(_) => break,
            BackendMessage::ErrorResponse(fields) => {
                return Err(broke(pgscram_client::Error::Server(Box::new(fields))));
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    let _ = FrontendMessage::Terminate.encode(&mut out);
    let _ = framed.send(&out).await;
    framed.shutdown().await;
    Ok(())
}

/// What `--attack` measured.
struct AttackReport {
    attack: Attack,
    target: SocketAddr,
    role: String,
    user: String,
    mode: Mode,
    source: IpAddr,
    connections: u32,
    attack_seconds: Duration,
    legit_seconds: Duration,
    stats: AttackStats,
    legit: Vec<LegitStats>,
}

impl AttackReport {
    fn text(&self) -> String {
        let s = &self.stats;
        let mut text = format!(
            "attack: {} from {} on {} (role {}), {} at a time, {:.1}s\n\
             attack connections: {} ({} refused or failed, {} closed by the server, {} open at the end)\n",
            self.attack.as_str(),
            self.source,
            self.target,
            self.role,
            self.connections,
            self.attack_seconds.as_secs_f64(),
            s.connections,
            s.refused,
            s.closed,
            s.held_at_end,
        );
        if self.attack == Attack::AbandonedGuesses {
            text.push_str(&format!(
                "wrong proofs sent: {} ({} answered before the hang-up)\n",
                s.guesses, s.answered
            ));
        }
        text.push_str(&s.errors.text());
        let ms =
            |v: Option<u64>| v.map_or_else(|| "-".to_owned(), |v| format!("{:.3}", v as f64 / 1e3));
        for l in &self.legit {
            text.push_str(&format!(
                "legitimate logins from {} (user {}, {}): {} ok, {} failed in {:.1}s; \
                 latency ms p50 {} p99 {} max {}\n",
                l.source,
                self.user,
                self.mode.as_str(),
                l.latency.total,
                l.errors.total(),
                self.legit_seconds.as_secs_f64(),
                ms(l.latency.quantile(0.5)),
                ms(l.latency.quantile(0.99)),
                ms((l.latency.total > 0).then_some(l.latency.max)),
            ));
            text.push_str(&l.errors.text());
        }
        text
    }

    fn json(&self) -> String {
        let s = &self.stats;
        let line = JsonAttackReport {
            attack: self.attack.as_str(),
            target: self.target.to_string(),
            role: &self.role,
            user: &self.user,
            mode: self.mode.as_str(),
            source: self.source.to_string(),
            connections: self.connections,
            attack_seconds: rounded(self.attack_seconds.as_secs_f64(), 1e3),
            attack_stats: JsonAttackStats {
                connections: s.connections,
                guesses: s.guesses,
                answered: s.answered,
                refused: s.refused,
                closed: s.closed,
                held_at_end: s.held_at_end,
                error_kinds: error_kinds(&s.errors),
            },
            legitimate_seconds: rounded(self.legit_seconds.as_secs_f64(), 1e3),
            legitimate: self
                .legit
                .iter()
                .map(|l| JsonLegit {
                    source: l.source.to_string(),
                    logins: l.latency.total,
                    failures: l.errors.total(),
                    latency_us: JsonLatency {
                        p50: l.latency.quantile(0.5),
                        p99: l.latency.quantile(0.99),
                        max: (l.latency.total > 0).then_some(l.latency.max),
                    },
                    error_kinds: error_kinds(&l.errors),
                })
                .collect(),
            failures: self.legit.iter().map(|l| l.errors.total()).sum(),
        };
        serde_json::to_string(&line).unwrap_or_else(|_| "{}".to_owned())
    }
}

fn error_kinds(errors: &ErrorTally) -> Vec<JsonErrorKind<'_>> {
    errors
        .kinds
        .iter()
        .map(|(message, &count)| JsonErrorKind { message, count })
        .collect()
}

// The `--attack --json` line. Field names and order are the format scripts read.

#[derive(Serialize)]
struct JsonAttackReport<'a> {
    attack: &'static str,
    target: String,
    role: &'a str,
    user: &'a str,
    mode: &'static str,
    source: String,
    connections: u32,
    attack_seconds: f64,
    attack_stats: JsonAttackStats<'a>,
    legitimate_seconds: f64,
    legitimate: Vec<JsonLegit<'a>>,
    failures: u64,
}

#[derive(Serialize)]
struct JsonAttackStats<'a> {
    connections: u64,
    guesses: u64,
    answered: u64,
    refused: u64,
    closed: u64,
    held_at_end: u64,
    error_kinds: Vec<JsonErrorKind<'a>>,
}

#[derive(Serialize)]
struct JsonLegit<'a> {
    source: String,
    logins: u64,
    failures: u64,
    latency_us: JsonLatency,
    error_kinds: Vec<JsonErrorKind<'a>>,
}

#[derive(Serialize)]
struct JsonLatency {
    p50: Option<u64>,
    p99: Option<u64>,
    max: Option<u64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attack_names_and_defaults() {
        for name in [
            "abandoned-guesses",
            "stalled-startups",
            "silent-tcp",
            "none",
        ] {
            assert_eq!(Attack::parse(name).unwrap().as_str(), name);
        }
        assert!(Attack::parse("flood").is_err());
        let plan = Given {
            attack: Some(Attack::AbandonedGuesses),
            ..Given::default()
        }
        .finish()
        .unwrap()
        .unwrap();
        assert_eq!((plan.connections, plan.count), (32, 150));
        assert_eq!(plan.source, IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2)));
        assert_eq!(plan.other, IpAddr::V4(Ipv4Addr::LOCALHOST));
        assert_eq!(plan.hang_up, Duration::from_millis(300));
        assert!(Given::default().finish().unwrap().is_none());
    }

    #[test]
    fn bad_attack_options_are_refused() {
        let with = |source: &str| Given {
            attack: Some(Attack::SilentTcp),
            source: Some(source.parse().unwrap()),
            ..Given::default()
        };
        assert!(with("10.0.0.1").finish().is_err());
        assert!(with("127.0.0.1").finish().is_err());
        assert!(with("127.0.0.9").finish().is_ok());
        let orphan = Given {
            role: Some("victim".into()),
            ..Given::default()
        };
        assert!(orphan.finish().is_err());
    }

    #[test]
    fn error_responses_are_read_back() {
        let mut bytes = vec![b'E', 0, 0, 0, 0];
        bytes.extend_from_slice(b"SFATAL\0C53300\0Msorry, too many clients already\0\0");
        assert_eq!(error_text(&bytes), "53300: sorry, too many clients already");
        assert_eq!(error_text(b"E"), ": ");
    }
}
