//! `pgscram bench`: a load generator for logins. N concurrent workers each connect,
//! authenticate, optionally run a query, and disconnect, in a loop, for a time or a
//! count; then handshakes per second, latency percentiles and errors are printed.
//!
//! ```text
//! --mode password   every login runs PBKDF2 on the client (what libpq does)
//! --mode keys       one probe login derives ClientKey/ServerKey, every later login
//!                   uses them: no client PBKDF2, so the server's cost is what shows
//! --hold K          open K logins and keep them idle (memory per connection)
//! --attack NAME     attack the login path from one loopback address while logins
//!                   of the conninfo's user run from another (see `attack`)
//! ```
//!
//! The password comes from PGPASSWORD, .pgpass or a no-echo prompt, never from argv.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fmt;
use std::io::{IsTerminal as _, Write as _};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use lexopt::prelude::*;
use pgscram_auth::conninfo::HostKind;
use pgscram_client::{Config, Connection, Framed, Stream};
use pgscram_scram::nonce::NONCE_RANDOM_LEN;
use pgscram_scram::{ClientChannel, ClientExchange, ClientKey, ClientOptions, Credential, Nonce};
use pgscram_scram::{ClientError, ServerKey};
use pgscram_wire::{
    Authentication, BackendMessage, FrontendMessage, SaslInitialResponse, SaslResponse,
    StartupMessage, StartupRequest,
};
use serde::Serialize;
use zeroize::Zeroizing;

mod attack;

pub const USAGE: &str = "\
usage: pgscram bench CONNINFO [options]

  --workers N                 concurrent connections in flight (default 8)
  --duration SECONDS          run this long (default 10)
  --count N                   or stop after N logins in total
  --mode password|keys        password: PBKDF2 on every login (default); keys: derive
                              ClientKey/ServerKey once, then log in with them
  --query SQL                 run SQL after each login (for example \"SELECT 1\")
  --hold K                    open K connections, keep them idle for --duration, close
  --threads N                 runtime threads (default: one per core)
  --timeout SECONDS           one login slower than this counts as an error (default 30)
  --json                      one JSON object on stdout instead of text

Under attack (loopback only; logins are plain TCP, as with sslmode=disable):
  --attack abandoned-guesses|stalled-startups|silent-tcp|none
        abandoned-guesses: wrong-password SCRAM exchanges for --attack-role, each
          hanging up --hang-up-after ms after its client-final (or when answered)
        stalled-startups: connections that send a startup packet, then nothing
        silent-tcp: TCP connections that send nothing
        none: no attack, the legitimate logins alone from both addresses (baseline)
      The attack comes from --source; meanwhile --workers logins of the conninfo's
      user (--mode password or keys) per source run from 127.0.0.1 and, for
      abandoned-guesses and none, from --source too, each worker one login per --interval.
      Prints their count, failures, p50, p99 and max latency; exits 1 if any failed.
  --attack-role ROLE          role the attack names (default postgres; not the user)
  --attack-connections N      attacking connections at a time (default: 32 guesses,
                              64 stalled startups, 384 silent connections)
  --attack-count N            abandoned-guesses: wrong proofs to send (150); others:
                              most connections to open in all (100000)
  --source ADDR               loopback address the attack comes from (127.0.0.2)
  --hang-up-after MS          abandoned-guesses: hang up this long after client-final (300)
  --retry-after MS            a refused or closed attacking connection is reopened
                              after this long (250)
  --interval MS               each legitimate worker logs in at most once per MS (100)
  --duration SECONDS          the attack stops after this long (default 10); the
                              legitimate logins stop with it. --workers defaults to 2.

The password comes from PGPASSWORD, a .pgpass file or the prompt. Use sslmode=disable
to measure authentication without TLS. --mode keys derives the keys over a plain
(non-TLS) connection to the first host.
";

/// How each login proves the password.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Password,
    Keys,
}

impl Mode {
    fn as_str(self) -> &'static str {
        match self {
            Mode::Password => "password",
            Mode::Keys => "keys",
        }
    }
}

/// When the load stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    Duration(Duration),
    Count(u64),
}

#[derive(Debug)]
struct Options {
    conninfo: String,
    workers: u32,
    limit: Limit,
    mode: Mode,
    query: Option<String>,
    hold: Option<u32>,
    threads: Option<usize>,
    timeout: Duration,
    json: bool,
    attack: Option<attack::Plan>,
}

fn parse(args: Vec<OsString>) -> anyhow::Result<Option<Options>> {
    let mut conninfo = None;
    let mut options = Options {
        conninfo: String::new(),
        workers: 8,
        limit: Limit::Duration(Duration::from_secs(10)),
        mode: Mode::Password,
        query: None,
        hold: None,
        threads: None,
        timeout: Duration::from_secs(30),
        json: false,
        attack: None,
    };
    let (mut duration, mut count, mut workers) = (None, None, None);
    let mut attack = attack::Given::default();
    let mut parser = lexopt::Parser::from_args(args);
    while let Some(arg) = parser.next()? {
        match arg {
            Long("help") | Short('h') => return Ok(None),
            Long("workers") | Short('c') => {
                workers = Some(positive(&mut parser, "--workers", 100_000)?)
            }
            Long("duration") | Short('T') => {
                duration = Some(positive(&mut parser, "--duration", 86_400)?)
            }
            Long("count") | Short('n') => count = Some(positive(&mut parser, "--count", u64::MAX)?),
            Long("mode") => {
                options.mode = match parser.value()?.string()?.as_str() {
                    "password" => Mode::Password,
                    "keys" => Mode::Keys,
                    other => bail!("invalid --mode \"{other}\": use password or keys"),
                }
            }
            Long("query") => options.query = Some(parser.value()?.string()?),
            Long("hold") => options.hold = Some(positive(&mut parser, "--hold", 100_000)?),
            Long("threads") => options.threads = Some(positive(&mut parser, "--threads", 1024)?),
            Long("timeout") => {
                options.timeout = Duration::from_secs(positive(&mut parser, "--timeout", 3600)?)
            }
            Long("json") => options.json = true,
            Long("attack") => {
                attack.attack = Some(attack::Attack::parse(&parser.value()?.string()?)?)
            }
            Long("attack-role") => attack.role = Some(parser.value()?.string()?),
            Long("attack-connections") => {
                attack.connections = Some(positive(&mut parser, "--attack-connections", 10_000)?)
            }
            Long("attack-count") => {
                attack.count = Some(positive(&mut parser, "--attack-count", 100_000_000)?)
            }
            Long("source") => {
                let text = parser.value()?.string()?;
                attack.source =
                    Some(text.parse().ok().with_context(|| {
                        format!("invalid --source \"{text}\": use an IP address")
                    })?);
            }
            Long("hang-up-after") => {
                attack.hang_up_ms = Some(positive(&mut parser, "--hang-up-after", 600_000)?)
            }
            Long("retry-after") => {
                attack.retry_ms = Some(positive(&mut parser, "--retry-after", 600_000)?)
            }
            Long("interval") => {
                attack.interval_ms = Some(positive(&mut parser, "--interval", 600_000)?)
            }
            Long("password") | Short('p') => return Err(crate::args::password_on_argv()),
            Value(v) if conninfo.is_none() => conninfo = Some(crate::args::conninfo_operand(v)?),
            other => return Err(other.unexpected().into()),
        }
    }
    options.conninfo =
        conninfo.context("bench needs a connection string: pgscram bench CONNINFO")?;
    options.limit = match (duration, count) {
        (Some(_), Some(_)) => bail!("--duration and --count exclude each other"),
        (None, Some(n)) => Limit::Count(n),
        (Some(secs), None) => Limit::Duration(Duration::from_secs(secs)),
        (None, None) => options.limit,
    };
    if options.hold.is_some() && matches!(options.limit, Limit::Count(_)) {
        bail!("--hold keeps connections for --duration seconds; --count does not apply");
    }
    options.attack = attack.finish()?;
    if options.attack.is_some() {
        if options.hold.is_some() || options.query.is_some() {
            bail!("--attack measures logins alone: --hold and --query do not apply");
        }
        if matches!(options.limit, Limit::Count(_)) {
            bail!("--attack runs for --duration; use --attack-count to bound the attack");
        }
    }
    options.workers = workers.unwrap_or(if options.attack.is_some() { 2 } else { 8 });
    Ok(Some(options))
}

fn positive<T>(parser: &mut lexopt::Parser, name: &str, max: T) -> anyhow::Result<T>
where
    T: std::str::FromStr + PartialOrd + From<u8> + fmt::Display,
{
    let text = parser.value()?.string()?;
    text.parse::<T>()
        .ok()
        .filter(|n| *n >= T::from(1) && *n <= max)
        .with_context(|| format!("invalid {name} value \"{text}\": use 1..{max}"))
}

pub fn run(args: Vec<OsString>) -> anyhow::Result<ExitCode> {
    let Some(options) = parse(args)? else {
        print!("{USAGE}");
        return Ok(ExitCode::SUCCESS);
    };
    let mut config = crate::login::config(&options.conninfo)?;
    if config.conn().password_for(0).is_none() && std::io::stdin().is_terminal() {
        let prompt = format!("Password for user {}: ", config.conn().user);
        let password =
            Zeroizing::new(rpassword::prompt_password(prompt).context("reading password")?);
        config.set_password(Some(&password));
    }
    if let Some(plan) = &options.attack {
        // Before any traffic (--mode keys logs in first): attacks stay on loopback.
        attack::target(&config, plan)?;
    }
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if let Some(threads) = options.threads {
        builder.worker_threads(threads);
    }
    let runtime = builder
        .enable_all()
        .build()
        .context("could not start the async runtime")?;
    runtime.block_on(async move {
        if options.mode == Mode::Keys {
            let (client_key, server_key) = derive_keys(&config)
                .await
                .context("deriving the SCRAM keys (--mode keys)")?;
            if let Some(plan) = &options.attack {
                let keys = Some((client_key, server_key));
                return attack::run(&options, plan, config, keys).await;
            }
            config.set_scram_keys(client_key, server_key);
        }
        if let Some(plan) = &options.attack {
            return attack::run(&options, plan, config, None).await;
        }
        match options.hold {
            Some(k) => hold(&options, &config, k).await,
            None => load(&options, config).await,
        }
    })
}

/// What one bench run measured.
#[derive(Debug)]
struct Report {
    target: String,
    mode: Mode,
    workers: u32,
    elapsed: Duration,
    latency: Histogram,
    errors: ErrorTally,
}

async fn load(options: &Options, config: Config) -> anyhow::Result<ExitCode> {
    let shared = Arc::new(Shared::default());
    let config = Arc::new(config);
    let query: Option<Arc<str>> = options.query.as_deref().map(Arc::from);
    let start = Instant::now();
    let plan = Plan {
        limit: options.limit,
        start,
        timeout: options.timeout,
    };
    let progress = std::io::stderr().is_terminal().then(|| {
        let shared = shared.clone();
        tokio::spawn(async move { progress(plan, &shared).await })
    });
    let mut tasks = Vec::with_capacity(options.workers as usize);
    for _ in 0..options.workers {
        let (config, shared, query) = (config.clone(), shared.clone(), query.clone());
        tasks.push(tokio::spawn(async move {
            worker(&config, query.as_deref(), &shared, plan).await
        }));
    }
    let mut latency = Histogram::new();
    let mut errors = ErrorTally::default();
    for task in tasks {
        let stats = task.await.context("a bench worker panicked")?;
        latency.merge(&stats.latency);
        errors.merge(stats.errors);
    }
    let elapsed = start.elapsed();
    shared.done.store(true, Ordering::Relaxed);
    if let Some(progress) = progress {
        let _ = progress.await;
    }
    let report = Report {
        target: target_name(&config),
        mode: options.mode,
        workers: options.workers,
        elapsed,
        latency,
        errors,
    };
    if options.json {
        println!("{}", report.json());
    } else {
        print!("{}", report.text());
    }
    Ok(if report.errors.total() == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// Opens `k` connections (at most `--workers` at a time), keeps them idle for the
/// duration so a caller can measure the server's memory, then closes them.
async fn hold(options: &Options, config: &Config, k: u32) -> anyhow::Result<ExitCode> {
    let mut connections: Vec<Connection> = Vec::with_capacity(k as usize);
    let mut errors = ErrorTally::default();
    let mut remaining = k;
    while remaining > 0 {
        let batch = remaining.min(options.workers);
        remaining -= batch;
        let mut set = tokio::task::JoinSet::new();
        for _ in 0..batch {
            let config = config.clone();
            let timeout = options.timeout;
            set.spawn(async move {
                match tokio::time::timeout(timeout, pgscram_client::connect_with(&config)).await {
                    Ok(Ok(connection)) => Ok(connection),
                    Ok(Err(error)) => Err(crate::login::connection_error(error).to_string()),
                    Err(_) => Err(format!("no connection within {}s", timeout.as_secs())),
                }
            });
        }
        while let Some(joined) = set.join_next().await {
            match joined.context("a bench task panicked")? {
                Ok(connection) => connections.push(connection),
                Err(message) => errors.record(message),
            }
        }
    }
    let seconds = match options.limit {
        Limit::Duration(d) => d,
        Limit::Count(_) => Duration::from_secs(10),
    };
    let opened = connections.len();
    if options.json {
        println!(
            "{{\"hold\":{k},\"opened\":{opened},\"errors\":{},\"seconds\":{}}}",
            errors.total(),
            seconds.as_secs()
        );
    } else {
        println!(
            "holding {opened} idle connections for {}s ({} failed)",
            seconds.as_secs(),
            errors.total()
        );
    }
    let _ = std::io::stdout().flush();
    eprint!("{}", errors.text());
    tokio::time::sleep(seconds).await;
    for connection in connections {
        connection.close().await;
    }
    Ok(if errors.total() == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn target_name(config: &Config) -> String {
    let conn = config.conn();
    let host = conn
        .hosts
        .first()
        .map(|h| match (h.kind, h.hostaddr) {
            (HostKind::Address, Some(ip)) => SocketAddr::new(ip, h.port).to_string(),
            _ => format!("{}:{}", h.host, h.port),
        })
        .unwrap_or_default();
    format!("{host} user={} dbname={}", conn.user, conn.dbname)
}

/// Counters every worker updates, read by the progress line.
#[derive(Debug, Default)]
struct Shared {
    claimed: AtomicU64,
    ok: AtomicU64,
    failed: AtomicU64,
    done: AtomicBool,
}

#[derive(Debug, Clone, Copy)]
struct Plan {
    limit: Limit,
    start: Instant,
    timeout: Duration,
}

impl Plan {
    /// Whether a worker may start one more login.
    fn claim(&self, shared: &Shared) -> bool {
        match self.limit {
            Limit::Duration(d) => self.start.elapsed() < d,
            Limit::Count(n) => shared.claimed.fetch_add(1, Ordering::Relaxed) < n,
        }
    }

    /// How far the run is, 0.0 to 1.0.
    fn fraction(&self, shared: &Shared) -> f64 {
        let f = match self.limit {
            Limit::Duration(d) => self.start.elapsed().as_secs_f64() / d.as_secs_f64(),
            Limit::Count(n) => {
                let finished =
                    shared.ok.load(Ordering::Relaxed) + shared.failed.load(Ordering::Relaxed);
                finished as f64 / n as f64
            }
        };
        f.clamp(0.0, 1.0)
    }
}

struct WorkerStats {
    latency: Histogram,
    errors: ErrorTally,
}

async fn worker(config: &Config, query: Option<&str>, shared: &Shared, plan: Plan) -> WorkerStats {
    let mut stats = WorkerStats {
        latency: Histogram::new(),
        errors: ErrorTally::default(),
    };
    while plan.claim(shared) {
        let started = Instant::now();
        match tokio::time::timeout(plan.timeout, login_once(config, query)).await {
            Ok(Ok(connection)) => {
                stats.latency.record(micros(started.elapsed()));
                shared.ok.fetch_add(1, Ordering::Relaxed);
                connection.close().await;
            }
            Ok(Err(message)) => {
                stats.errors.record(message);
                shared.failed.fetch_add(1, Ordering::Relaxed);
            }
            Err(_) => {
                stats.errors.record(format!(
                    "no login within {}s (--timeout)",
                    plan.timeout.as_secs()
                ));
                shared.failed.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
    stats
}

/// One login (and the query); the connection is returned open so that closing it is
/// not part of the measured latency.
async fn login_once(config: &Config, query: Option<&str>) -> Result<Connection, String> {
    let mut connection = pgscram_client::connect_with(config)
        .await
        .map_err(|e| crate::login::connection_error(e).to_string())?;
    if let Some(sql) = query {
        connection
            .simple_query(sql)
            .await
            .map_err(|e| format!("query failed: {e}"))?;
    }
    Ok(connection)
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

async fn progress(plan: Plan, shared: &Shared) {
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    let mut shown = 0;
    loop {
        tick.tick().await;
        let mut err = std::io::stderr().lock();
        if shared.done.load(Ordering::Relaxed) {
            // Clear the line so the report starts on a clean one.
            let _ = write!(err, "\r{}\r", " ".repeat(shown));
            let _ = err.flush();
            return;
        }
        let line = progress_line(
            plan.fraction(shared),
            plan.start.elapsed().as_secs_f64(),
            shared.ok.load(Ordering::Relaxed),
            shared.failed.load(Ordering::Relaxed),
        );
        shown = line.chars().count();
        let _ = write!(err, "\r{line}");
        let _ = err.flush();
    }
}

fn progress_line(fraction: f64, elapsed: f64, ok: u64, failed: u64) -> String {
    const WIDTH: usize = 24;
    let filled = ((fraction * WIDTH as f64).round() as usize).min(WIDTH);
    let rate = if elapsed > 0.0 {
        ok as f64 / elapsed
    } else {
        0.0
    };
    format!(
        "[{}{}] {:5.1}s {ok} logins {rate:.0}/s {failed} errors",
        "#".repeat(filled),
        ".".repeat(WIDTH - filled),
        elapsed
    )
}

/// Why the keys probe failed. Never holds a password or a key.
#[derive(Debug)]
enum ProbeError {
    NoHost,
    Connect(String, std::io::Error),
    Client(pgscram_client::Error),
    Scram(ClientError),
    NotScram,
    Unexpected(&'static str),
    NoPassword,
}

impl fmt::Display for ProbeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProbeError::NoHost => f.write_str("the connection string names no host"),
            ProbeError::Connect(target, e) => write!(f, "could not connect to {target}: {e}"),
            ProbeError::Client(e) => write!(f, "{e}"),
            ProbeError::Scram(e) => write!(f, "SCRAM exchange failed: {e}"),
            ProbeError::NotScram => f.write_str(
                "the server did not ask for SCRAM-SHA-256 on a plain connection; \
                 --mode keys needs a SCRAM login",
            ),
            ProbeError::Unexpected(what) => write!(f, "unexpected message from server: {what}"),
            ProbeError::NoPassword => f.write_str(
                "--mode keys needs the password once (PGPASSWORD, .pgpass or the prompt)",
            ),
        }
    }
}

impl std::error::Error for ProbeError {}

impl From<pgscram_client::Error> for ProbeError {
    fn from(e: pgscram_client::Error) -> Self {
        ProbeError::Client(e)
    }
}

impl From<pgscram_wire::EncodeError> for ProbeError {
    fn from(_: pgscram_wire::EncodeError) -> Self {
        ProbeError::Unexpected("a message could not be encoded")
    }
}

/// One SCRAM login with the password over a plain connection to the first host, done
/// here rather than by the client because the client keeps the keys to itself: the
/// `Verified` state carries ClientKey and ServerKey, which every later login reuses.
async fn derive_keys(config: &Config) -> Result<(ClientKey, ServerKey), ProbeError> {
    let conn = config.conn();
    let password = conn
        .password_for(0)
        .filter(|p| !p.is_empty())
        .map(|p| Zeroizing::new(p.expose().as_bytes().to_vec()))
        .ok_or(ProbeError::NoPassword)?;
    let host = conn.hosts.first().ok_or(ProbeError::NoHost)?;
    let stream = match host.kind {
        HostKind::UnixSocket => {
            let path = PathBuf::from(&host.host).join(format!(".s.PGSQL.{}", host.port));
            let socket = tokio::net::UnixStream::connect(&path)
                .await
                .map_err(|e| ProbeError::Connect(path.display().to_string(), e))?;
            Stream::Unix(socket)
        }
        HostKind::Name | HostKind::Address => {
            let target = format!("{}:{}", host.host, host.port);
            let address = match host.hostaddr {
                Some(ip) => SocketAddr::new(ip, host.port),
                None => tokio::net::lookup_host((host.host.as_str(), host.port))
                    .await
                    .map_err(|e| ProbeError::Connect(target.clone(), e))?
                    .next()
                    .ok_or_else(|| {
                        ProbeError::Connect(
                            target.clone(),
                            std::io::Error::new(std::io::ErrorKind::NotFound, "no address"),
                        )
                    })?,
            };
            let socket = tokio::net::TcpStream::connect(address)
                .await
                .map_err(|e| ProbeError::Connect(target, e))?;
            let _ = socket.set_nodelay(true);
            Stream::Tcp(socket)
        }
    };
    let mut framed = Framed::new(stream);
    let mut out = Vec::new();
    let startup = StartupMessage::new(conn.user.as_str()).with("database", conn.dbname.as_str());
    StartupRequest::Startup(startup).encode(&mut out)?;
    framed.send(&out).await?;

    match next_auth(&mut framed).await? {
        Authentication::Sasl { mechanisms } if mechanisms.iter().any(|m| m == "SCRAM-SHA-256") => {}
        _ => return Err(ProbeError::NotScram),
    }
    let mut random = Zeroizing::new([0u8; NONCE_RANDOM_LEN]);
    getrandom::getrandom(random.as_mut())
        .map_err(|e| ProbeError::Client(pgscram_client::Error::Io(std::io::Error::other(e))))?;
    let options = ClientOptions {
        max_iterations: config.max_iterations(),
        ..ClientOptions::default()
    };
    let (state, client_first) = ClientExchange::start(
        Credential::Password(password),
        ClientChannel::NotSupported,
        &Nonce::from_random(&random),
        options,
    );
    out.clear();
    SaslInitialResponse {
        mechanism: "SCRAM-SHA-256".to_owned(),
        data: Some(client_first.into_bytes()),
    }
    .encode(&mut out)?;
    framed.send(&out).await?;

    let Authentication::SaslContinue(server_first) = next_auth(&mut framed).await? else {
        return Err(ProbeError::Unexpected("expected SASLContinue"));
    };
    let (state, client_final) = state
        .handle_server_first(&server_first)
        .map_err(ProbeError::Scram)?;
    out.clear();
    SaslResponse {
        data: client_final.into_bytes(),
    }
    .encode(&mut out)?;
    framed.send(&out).await?;

    let Authentication::SaslFinal(server_final) = next_auth(&mut framed).await? else {
        return Err(ProbeError::Unexpected("expected SASLFinal"));
    };
    let verified = state
        .handle_server_final(&server_final)
        .map_err(ProbeError::Scram)?;
    let Authentication::Ok = next_auth(&mut framed).await? else {
        return Err(ProbeError::Unexpected("expected AuthenticationOk"));
    };
    out.clear();
    FrontendMessage::Terminate.encode(&mut out)?;
    let _ = framed.send(&out).await;
    framed.shutdown().await;
    Ok((verified.client_key.clone(), verified.server_key.clone()))
}

/// The next authentication request; an ErrorResponse becomes the server's error.
async fn next_auth(framed: &mut Framed<Stream>) -> Result<Authentication, ProbeError> {
    loop {
        match framed
            .read_backend(pgscram_wire::frame::limits::SMALL_MESSAGE)
            .await?
        {
            BackendMessage::Authentication(request) => return Ok(request),
            BackendMessage::ErrorResponse(fields) => {
                return Err(pgscram_client::Error::Server(Box::new(fields)).into());
            }
            BackendMessage::NoticeResponse(_) | BackendMessage::NegotiateProtocolVersion(_) => {}
            _ => return Err(ProbeError::Unexpected("expected an authentication request")),
        }
    }
}

/// Distinct error messages and how often each came. Bounded: past `KINDS` distinct
/// texts, the rest are counted under one line.
#[derive(Debug, Default)]
struct ErrorTally {
    kinds: BTreeMap<String, u64>,
    other: u64,
}

impl ErrorTally {
    const KINDS: usize = 8;

    fn record(&mut self, message: String) {
        self.add(message, 1);
    }

    fn add(&mut self, message: String, n: u64) {
        if let Some(count) = self.kinds.get_mut(&message) {
            *count += n;
        } else if self.kinds.len() < Self::KINDS {
            self.kinds.insert(message, n);
        } else {
            self.other += n;
        }
    }

    fn merge(&mut self, other: ErrorTally) {
        for (message, n) in other.kinds {
            self.add(message, n);
        }
        self.other += other.other;
    }

    fn total(&self) -> u64 {
        self.kinds.values().sum::<u64>() + self.other
    }

    fn text(&self) -> String {
        let mut text = String::new();
        for (message, n) in &self.kinds {
            text.push_str(&format!("  {n} x {message}\n"));
        }
        if self.other > 0 {
            text.push_str(&format!("  {} x other errors\n", self.other));
        }
        text
    }
}

/// Latencies in microseconds, in log-linear buckets: exact below 128 µs, then 64
/// buckets per power of two (under 1.6% error), so memory stays fixed however long
/// the run.
#[derive(Debug, Clone)]
struct Histogram {
    counts: Vec<u64>,
    total: u64,
    sum: u128,
    min: u64,
    max: u64,
}

const EXACT: u64 = 128;
const SUB: u64 = 64;

impl Histogram {
    fn new() -> Self {
        Histogram {
            counts: vec![0; Self::index(u64::MAX) + 1],
            total: 0,
            sum: 0,
            min: u64::MAX,
            max: 0,
        }
    }

    fn index(value: u64) -> usize {
        if value < EXACT {
            return value as usize;
        }
        let shift = u64::from(63 - value.leading_zeros()) - 6;
        (EXACT + (shift - 1) * SUB + ((value >> shift) - SUB)) as usize
    }

    /// The smallest value and the width of bucket `index`.
    fn bucket(index: usize) -> (u64, u64) {
        let index = index as u64;
        if index < EXACT {
            return (index, 1);
        }
        let shift = (index - EXACT) / SUB + 1;
        let mantissa = (index - EXACT) % SUB + SUB;
        (mantissa << shift, 1 << shift)
    }

    fn record(&mut self, value: u64) {
        self.counts[Self::index(value)] += 1;
        self.total += 1;
        self.sum += u128::from(value);
        self.min = self.min.min(value);
        self.max = self.max.max(value);
    }

    fn merge(&mut self, other: &Histogram) {
        for (a, b) in self.counts.iter_mut().zip(&other.counts) {
            *a += b;
        }
        self.total += other.total;
        self.sum += other.sum;
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
    }

    fn mean(&self) -> Option<f64> {
        (self.total > 0).then(|| self.sum as f64 / self.total as f64)
    }

    /// The value at quantile `q` (0..=1): the middle of its bucket, kept within the
    /// observed minimum and maximum.
    fn quantile(&self, q: f64) -> Option<u64> {
        if self.total == 0 {
            return None;
        }
        let rank = ((q * self.total as f64).ceil() as u64).clamp(1, self.total);
        let mut seen = 0;
        for (index, count) in self.counts.iter().enumerate() {
            seen += count;
            if seen >= rank {
                let (low, width) = Self::bucket(index);
                return Some((low + width / 2).clamp(self.min, self.max));
            }
        }
        Some(self.max)
    }
}

impl Report {
    fn rate(&self) -> f64 {
        let secs = self.elapsed.as_secs_f64();
        if secs > 0.0 {
            self.latency.total as f64 / secs
        } else {
            0.0
        }
    }

    fn text(&self) -> String {
        let ms = |v: Option<f64>| v.map_or_else(|| "-".to_owned(), |v| format!("{:.3}", v / 1e3));
        let q = |p: f64| ms(self.latency.quantile(p).map(|v| v as f64));
        let mut text = format!(
            "target: {}\nmode: {}, {} workers, {:.1}s\nlogins: {} ({:.1}/s)\nerrors: {}\n\
             latency ms: mean {} p50 {} p90 {} p99 {} max {}\n",
            self.target,
            self.mode.as_str(),
            self.workers,
            self.elapsed.as_secs_f64(),
            self.latency.total,
            self.rate(),
            self.errors.total(),
            ms(self.latency.mean()),
            q(0.5),
            q(0.9),
            q(0.99),
            ms((self.latency.total > 0).then_some(self.latency.max as f64)),
        );
        text.push_str(&self.errors.text());
        text
    }

    /// The report as one JSON line (`--json`).
    fn json(&self) -> String {
        let total = self.latency.total;
        let line = JsonReport {
            target: &self.target,
            mode: self.mode.as_str(),
            workers: self.workers,
            seconds: rounded(self.elapsed.as_secs_f64(), 1e3),
            logins: total,
            rate: rounded(self.rate(), 1e1),
            errors: self.errors.total(),
            latency_us: JsonLatency {
                mean: self.latency.mean().map(|m| rounded(m, 1e1)),
                p50: self.latency.quantile(0.5),
                p90: self.latency.quantile(0.9),
                p99: self.latency.quantile(0.99),
                max: (total > 0).then_some(self.latency.max),
            },
            error_kinds: self
                .errors
                .kinds
                .iter()
                .map(|(message, &count)| JsonErrorKind { message, count })
                .collect(),
        };
        // Strings and finite numbers only: serializing into a String cannot fail.
        serde_json::to_string(&line).unwrap_or_else(|_| "{}".to_owned())
    }
}

/// `value` rounded to `1 / scale` (1e3: milliseconds), so the JSON carries the
/// precision the text report shows rather than every bit of the float.
fn rounded(value: f64, scale: f64) -> f64 {
    (value * scale).round() / scale
}

// The `--json` line. Field names and order are the format scripts read.

#[derive(Serialize)]
struct JsonReport<'a> {
    target: &'a str,
    mode: &'static str,
    workers: u32,
    seconds: f64,
    logins: u64,
    rate: f64,
    errors: u64,
    latency_us: JsonLatency,
    error_kinds: Vec<JsonErrorKind<'a>>,
}

#[derive(Serialize)]
struct JsonLatency {
    mean: Option<f64>,
    p50: Option<u64>,
    p90: Option<u64>,
    p99: Option<u64>,
    max: Option<u64>,
}

#[derive(Serialize)]
struct JsonErrorKind<'a> {
    message: &'a str,
    count: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_args(args: &[&str]) -> anyhow::Result<Option<Options>> {
        parse(args.iter().map(OsString::from).collect())
    }

    #[test]
    fn options_and_defaults() {
        let o = parse_args(&["host=h"]).unwrap().unwrap();
        assert_eq!(o.workers, 8);
        assert_eq!(o.limit, Limit::Duration(Duration::from_secs(10)));
        assert_eq!(o.mode, Mode::Password);
        let o = parse_args(&[
            "host=h",
            "--workers",
            "3",
            "--count",
            "500",
            "--mode",
            "keys",
            "--query",
            "SELECT 1",
            "--json",
        ])
        .unwrap()
        .unwrap();
        assert_eq!((o.workers, o.limit), (3, Limit::Count(500)));
        assert_eq!(o.mode, Mode::Keys);
        assert_eq!(o.query.as_deref(), Some("SELECT 1"));
        assert!(o.json);
        assert!(parse_args(&["--help"]).unwrap().is_none());
    }

    #[test]
    fn bad_options_are_refused() {
        for bad in [
            &["host=h", "--workers", "0"][..],
            &["host=h", "--duration", "-1"],
            &["host=h", "--count", "many"],
            &["host=h", "--mode", "md5"],
            &["host=h", "--duration", "5", "--count", "5"],
            &["host=h", "--hold", "10", "--count", "5"],
            &["host=h", "extra"],
            &[],
        ] {
            assert!(parse_args(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn secrets_on_the_command_line_are_refused() {
        let err = parse_args(&["host=h password=hunter2"])
            .unwrap_err()
            .to_string();
        assert!(err.contains("not accepted on the command line"), "{err}");
        assert!(!err.contains("hunter2"));
        let err = parse_args(&["host=h", "--password", "hunter2"])
            .unwrap_err()
            .to_string();
        assert!(err.contains("not accepted"), "{err}");
        assert!(!err.contains("hunter2"));
    }

    #[test]
    fn histogram_buckets_are_contiguous_and_tight() {
        let mut previous = 0;
        for value in (0..5_000u64).chain([1 << 20, (1 << 40) + 12345, u64::MAX]) {
            let index = Histogram::index(value);
            assert!(index >= previous, "index went down at {value}");
            previous = index;
            let (low, width) = Histogram::bucket(index);
            assert!(
                low <= value && value - low < width,
                "{value} not in [{low}, +{width})"
            );
            // Relative bucket width under 1.6% past the exact range.
            if value >= EXACT {
                assert!((width as f64) / (low as f64) <= 1.0 / 64.0 + 1e-12);
            }
        }
        assert_eq!(Histogram::index(127), 127);
        assert_eq!(Histogram::index(128), 128);
        assert_eq!(Histogram::index(256), 192);
    }

    #[test]
    fn quantiles_of_known_data() {
        let mut h = Histogram::new();
        assert_eq!(h.quantile(0.5), None);
        for v in 1..=100 {
            h.record(v);
        }
        assert_eq!(h.quantile(0.5), Some(50));
        assert_eq!(h.quantile(0.9), Some(90));
        assert_eq!(h.quantile(0.99), Some(99));
        assert_eq!(h.quantile(1.0), Some(100));
        assert_eq!(h.mean(), Some(50.5));
        // Large values land within the bucket resolution.
        let mut big = Histogram::new();
        for _ in 0..10 {
            big.record(10_000);
        }
        big.record(1_000_000);
        let p50 = big.quantile(0.5).unwrap();
        assert!((p50 as f64 - 10_000.0).abs() / 10_000.0 < 0.016, "{p50}");
        assert_eq!(big.quantile(1.0), Some(1_000_000));
        let mut merged = Histogram::new();
        merged.merge(&h);
        merged.merge(&big);
        assert_eq!(merged.total, 111);
        assert_eq!((merged.min, merged.max), (1, 1_000_000));
    }

    #[test]
    fn errors_are_tallied_and_bounded() {
        let mut a = ErrorTally::default();
        for i in 0..20 {
            a.record(format!("kind {}", i % 10));
        }
        assert_eq!(a.total(), 20);
        assert_eq!(a.kinds.len(), ErrorTally::KINDS);
        assert_eq!(a.other, 4);
        let mut b = ErrorTally::default();
        b.record("kind 0".into());
        b.record("kind 0".into());
        b.record("new".into());
        b.merge(a);
        assert_eq!(b.total(), 23);
        assert_eq!(b.kinds["kind 0"], 4);
        assert!(b.text().contains("4 x kind 0"));
    }

    #[test]
    fn reports_in_text_and_json() {
        let mut latency = Histogram::new();
        for v in [1_000, 2_000, 3_000] {
            latency.record(v);
        }
        let mut errors = ErrorTally::default();
        errors.record("server said \"no\"\n".into());
        let report = Report {
            target: "127.0.0.1:5432 user=bench dbname=postgres".into(),
            mode: Mode::Keys,
            workers: 2,
            elapsed: Duration::from_secs(2),
            latency,
            errors,
        };
        let text = report.text();
        assert!(text.contains("logins: 3 (1.5/s)"), "{text}");
        assert!(text.contains("errors: 1"), "{text}");
        assert!(text.contains("mode: keys, 2 workers"), "{text}");
        let json = report.json();
        assert!(json.contains("\"logins\":3"), "{json}");
        assert!(json.contains("\"rate\":1.5"), "{json}");
        assert!(json.contains("\"mode\":\"keys\""), "{json}");
        assert!(
            json.contains(r#""message":"server said \"no\"\n""#),
            "{json}"
        );
        assert!(!json.contains('\n'));
    }

    #[test]
    fn progress_line_shows_a_bar() {
        let line = progress_line(0.5, 2.0, 100, 3);
        assert!(line.starts_with("[############............]"), "{line}");
        assert!(line.contains("100 logins 50/s 3 errors"), "{line}");
        assert!(progress_line(7.0, 0.0, 0, 0).starts_with(&format!("[{}]", "#".repeat(24))));
    }

    /// Error texts come from servers: whatever they hold, the line parses back to them.
    #[test]
    fn json_escapes_error_texts() {
        let mut errors = ErrorTally::default();
        errors.record("a\"b\\c\u{1}\r\n".into());
        let report = Report {
            target: "host=\"x\"".into(),
            mode: Mode::Password,
            workers: 1,
            elapsed: Duration::from_millis(1234),
            latency: Histogram::new(),
            errors,
        };
        let json = report.json();
        assert!(!json.contains('\n') && !json.contains('\r'), "{json}");
        assert!(json.contains(r#""message":"a\"b\\c\u0001\r\n""#), "{json}");
        assert!(json.contains(r#""seconds":1.234,"#), "{json}");
        assert!(
            json.contains(
                r#""latency_us":{"mean":null,"p50":null,"p90":null,"p99":null,"max":null}"#
            ),
            "{json}"
        );
        let value: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(value["target"], "host=\"x\"");
        assert_eq!(value["error_kinds"][0]["count"], 1);
    }
}
