//! `pgscram serve`: the PostgreSQL-wire server on its embedded database.

use std::ffi::OsString;
use std::io::IsTerminal as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, bail};
use lexopt::prelude::*;
use pgscram_server::ServerConfig;
use pgscram_server::audit::AuditTarget;
use zeroize::Zeroizing;

pub const USAGE: &str = "\
usage: pgscram serve [options]

  --listen ADDR:PORT          TCP address (repeatable; default 127.0.0.1:5432)
  --port N                    port for the default address
  --data-dir DIR              database, certificate, pg_hba.conf (default ./pgscram-data)
  --hba-file FILE             pg_hba.conf to use (default DIR/pg_hba.conf, made on first start)
  --unix-socket-dir DIR       where .s.PGSQL.PORT goes (default: the data directory)
  --no-unix-socket            no Unix socket
  --no-tls                    refuse SSLRequest
  --tls-cert FILE --tls-key FILE   certificate and key (default: self-signed, made on first start)
  --superuser NAME            bootstrap superuser on first start (default postgres)
  --password-encryption md5|scram-sha-256   default for new passwords (scram-sha-256)
  --scram-iterations N        default SCRAM iteration count (4096)
  --max-connections N         (100)
  --authentication-timeout SECONDS   (60; covers the startup packet, TLS and the exchange)

First start creates the superuser with the password in PGSCRAM_PASSWORD, or asks for one
on a terminal, or generates one and prints it once.
";

pub const HARDENING_USAGE: &str = "\
Hardening:
  --max-handshakes N          connections in startup/authentication at once (64)
  --max-connections-per-address N   per client address, IPv6 per /64 (0 = no cap, default)
  --throttle-delay MS         delay before a failed login's error, doubling with each recent
                              failure of the address or the role (100; 0 turns it off)
  --throttle-max-delay MS     cap of that delay (10000)
  --throttle-half-life SECONDS   time for failures to be half forgotten (60)
  --throttle-slots N          fixed size of the failure table (16384)
  --audit-log FILE|-          one event per connection attempt (- for standard output)
  --audit-format text|json    (text)
  --metrics-listen ADDR:PORT  Prometheus metrics at http://ADDR:PORT/metrics
";

struct Options {
    config: ServerConfig,
    superuser: String,
    no_unix_socket: bool,
    port: Option<u16>,
}

fn parse(args: Vec<OsString>) -> anyhow::Result<Option<Options>> {
    let mut options = Options {
        config: ServerConfig {
            unix_socket_dir: None,
            // Hardened default for the server binary; the library keeps it off.
            throttle: pgscram_server::throttle::ThrottleConfig::default(),
            ..ServerConfig::default()
        },
        superuser: "postgres".to_owned(),
        no_unix_socket: false,
        port: None,
    };
    let mut listen: Vec<SocketAddr> = Vec::new();
    let mut unix_dir: Option<PathBuf> = None;
    let mut parser = lexopt::Parser::from_args(args);
    while let Some(arg) = parser.next()? {
        match arg {
            Long("help") | Short('h') => return Ok(None),
            Long("listen") => {
                let text = parser.value()?.string()?;
                listen.push(text.parse().with_context(|| {
                    format!("invalid --listen address \"{text}\": use ADDR:PORT")
                })?);
            }
            Long("port") | Short('p') => options.port = Some(number(&mut parser, "--port")?),
            Long("data-dir") | Short('D') => options.config.data_dir = parser.value()?.into(),
            Long("hba-file") => options.config.hba_file = Some(parser.value()?.into()),
            Long("unix-socket-dir") => unix_dir = Some(parser.value()?.into()),
            Long("no-unix-socket") => options.no_unix_socket = true,
            Long("no-tls") => options.config.tls = false,
            Long("tls-cert") => options.config.tls_cert = Some(parser.value()?.into()),
            Long("tls-key") => options.config.tls_key = Some(parser.value()?.into()),
            Long("superuser") => options.superuser = parser.value()?.string()?,
            Long("password-encryption") => {
                options.config.password_encryption_md5 = match parser.value()?.string()?.as_str() {
                    "md5" => true,
                    "scram-sha-256" => false,
                    other => {
                        bail!("invalid --password-encryption \"{other}\": use md5 or scram-sha-256")
                    }
                }
            }
            Long("scram-iterations") => {
                let n: u32 = number(&mut parser, "--scram-iterations")?;
                if n == 0 || n > pgscram_scram::verifier::MAX_ITERATIONS {
                    bail!("--scram-iterations must be between 1 and 2147483647");
                }
                options.config.scram_iterations = n;
            }
            Long("max-connections") => {
                options.config.max_connections = number(&mut parser, "--max-connections")?
            }
            Long("authentication-timeout") => {
                let secs: u64 = number(&mut parser, "--authentication-timeout")?;
                if !(1..=600).contains(&secs) {
                    bail!("--authentication-timeout must be between 1 and 600 seconds");
                }
                options.config.authentication_timeout = Duration::from_secs(secs);
            }
            Long(name) if HARDENING_FLAGS.contains(&name) => {
                let name = name.to_owned();
                hardening_flag(&name, &mut parser, &mut options.config)?;
            }
            Long("password") => bail!(
                "passwords are not accepted on the command line; use PGSCRAM_PASSWORD or the prompt"
            ),
            other => return Err(other.unexpected().into()),
        }
    }
    check_hardening(&options.config)?;
    if options.config.tls_cert.is_some() != options.config.tls_key.is_some() {
        bail!("--tls-cert and --tls-key go together");
    }
    if !listen.is_empty() {
        options.config.listen = listen;
    } else if let Some(port) = options.port {
        options.config.listen = vec![SocketAddr::from(([127, 0, 0, 1], port))];
    }
    if !options.no_unix_socket {
        options.config.unix_socket_dir =
            Some(unix_dir.unwrap_or_else(|| options.config.data_dir.clone()));
    }
    Ok(Some(options))
}

/// The flags of the hardening options (throttling, limits, audit, metrics), shared by
/// every command that runs a [`ServerConfig`] (`serve`, and `proxy` can call the same).
pub const HARDENING_FLAGS: [&str; 9] = [
    "max-handshakes",
    "max-connections-per-address",
    "throttle-delay",
    "throttle-max-delay",
    "throttle-half-life",
    "throttle-slots",
    "audit-log",
    "audit-format",
    "metrics-listen",
];

/// Applies one hardening flag `--NAME VALUE` (NAME in [`HARDENING_FLAGS`]) to `config`.
pub fn hardening_flag(
    name: &str,
    parser: &mut lexopt::Parser,
    config: &mut ServerConfig,
) -> anyhow::Result<()> {
    match name {
        "max-handshakes" => {
            let n: usize = number(parser, "--max-handshakes")?;
            if n == 0 {
                bail!("--max-handshakes must be at least 1");
            }
            config.max_handshakes = n;
        }
        "max-connections-per-address" => {
            config.max_connections_per_address = number(parser, "--max-connections-per-address")?
        }
        "throttle-delay" => {
            let ms: u64 = number(parser, "--throttle-delay")?;
            config.throttle.base_delay = Duration::from_millis(ms);
        }
        "throttle-max-delay" => {
            let ms: u64 = number(parser, "--throttle-max-delay")?;
            config.throttle.max_delay = Duration::from_millis(ms);
        }
        "throttle-half-life" => {
            let secs: u64 = number(parser, "--throttle-half-life")?;
            if secs == 0 {
                bail!("--throttle-half-life must be at least 1 second");
            }
            config.throttle.half_life = Duration::from_secs(secs);
        }
        "throttle-slots" => {
            let n: usize = number(parser, "--throttle-slots")?;
            if !(pgscram_server::throttle::WAYS..=1 << 24).contains(&n) {
                bail!("--throttle-slots must be between 4 and 16777216");
            }
            config.throttle.slots = n;
        }
        "audit-log" => {
            let value = parser.value()?;
            config.audit_log = Some(if value == "-" {
                AuditTarget::Stdout
            } else {
                AuditTarget::File(value.into())
            });
        }
        "audit-format" => {
            config.audit_format = parser
                .value()?
                .string()?
                .parse()
                .map_err(|e: String| anyhow::anyhow!("--audit-format: {e}"))?;
        }
        "metrics-listen" => {
            let text = parser.value()?.string()?;
            config.metrics_listen = Some(text.parse().with_context(|| {
                format!("invalid --metrics-listen address \"{text}\": use ADDR:PORT")
            })?);
        }
        other => bail!("--{other} is not a hardening option"),
    }
    Ok(())
}

/// Checks hardening settings that depend on each other.
pub fn check_hardening(config: &ServerConfig) -> anyhow::Result<()> {
    if config.throttle.max_delay < config.throttle.base_delay {
        bail!("--throttle-max-delay must not be below --throttle-delay");
    }
    Ok(())
}

fn number<T: std::str::FromStr>(parser: &mut lexopt::Parser, name: &str) -> anyhow::Result<T> {
    let text = parser.value()?.string()?;
    text.parse()
        .map_err(|_| anyhow::anyhow!("invalid {name} value \"{text}\""))
}

pub fn run(args: Vec<OsString>) -> anyhow::Result<ExitCode> {
    let Some(options) = parse(args)? else {
        print!("{USAGE}\n{HARDENING_USAGE}");
        return Ok(ExitCode::SUCCESS);
    };
    let config = options.config;
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("creating data directory \"{}\"", config.data_dir.display()))?;
    let db_path = config.data_dir.join("pgscram.db");
    let db = pgscram_embedded::Database::open(&db_path)
        .with_context(|| format!("opening database \"{}\"", db_path.display()))?;
    bootstrap(&db, &options.superuser)?;

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?;
    runtime.block_on(async move {
        let store = Arc::new(pgscram_server::catalog_store::CatalogStore::new(db.clone()));
        let factory = pgscram_server::embedded_engine::EmbeddedFactory::new(db, &config);
        let backend = pgscram_server::Backend::Engine(Box::new(factory));
        let server = pgscram_server::Server::bind(config, store, backend).await?;
        for addr in server.local_addrs() {
            eprintln!(
                "pgscram: ready: psql \"host={} port={} user={} dbname=postgres\"",
                addr.ip(),
                addr.port(),
                options.superuser
            );
        }
        tokio::select! {
            () = server.run() => {}
            _ = tokio::signal::ctrl_c() => eprintln!("pgscram: shutting down"),
        }
        anyhow::Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}

/// First start: the catalog is empty, so create the superuser. Never a built-in default
/// password: PGSCRAM_PASSWORD, a no-echo prompt, or a generated one shown once.
fn bootstrap(db: &pgscram_embedded::Database, superuser: &str) -> anyhow::Result<()> {
    if !db.roles().context("reading the role catalog")?.is_empty() {
        return Ok(());
    }
    let (password, generated) = match std::env::var("PGSCRAM_PASSWORD") {
        Ok(password) if !password.is_empty() => (Zeroizing::new(password), false),
        _ if std::io::stdin().is_terminal() => {
            let password = crate::secret_input::read_new_password(&format!(
                "Password for new superuser \"{superuser}\": "
            ))?;
            (password, false)
        }
        _ => {
            let mut bytes = Zeroizing::new([0u8; 18]);
            getrandom::getrandom(bytes.as_mut()).context("no system randomness for a password")?;
            (
                Zeroizing::new(
                    pgscram_scram::Nonce::from_random(&bytes)
                        .as_str()
                        .replace(['+', '/'], "x"),
                ),
                true,
            )
        }
    };
    db.bootstrap_superuser(superuser, Some(&password))
        .context("creating the superuser")?;
    seed_example_table(db, superuser)?;
    if generated {
        eprintln!(
            "pgscram: created superuser \"{superuser}\" with password: {}",
            password.as_str()
        );
        eprintln!("pgscram: this password is shown only once; change it with \\password in psql");
    } else {
        eprintln!("pgscram: created superuser \"{superuser}\"");
    }
    Ok(())
}

/// A small table to query on first start, so the first psql session has something to
/// `SELECT * FROM users` from. Drop it when you no longer want it.
const SEED_SQL: &str = "\
CREATE TABLE users (id integer PRIMARY KEY, name text NOT NULL, email text NOT NULL UNIQUE);
INSERT INTO users VALUES (1, 'Ada Lovelace', 'ada@example.org'), (2, 'Grace Hopper', 'grace@example.org'), (3, 'Edsger Dijkstra', 'edsger@example.org');";

fn seed_example_table(db: &pgscram_embedded::Database, superuser: &str) -> anyhow::Result<()> {
    let mut session =
        pgscram_embedded::Session::new(db, superuser, pgscram_embedded::SessionSettings::default())
            .map_err(|e| {
                anyhow::anyhow!("opening a session to seed the example table: {}", e.message)
            })?;
    for outcome in session.simple_query(SEED_SQL) {
        if let Err(e) = outcome.result {
            anyhow::bail!("seeding the example table: {}", e.message);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_args(args: &[&str]) -> anyhow::Result<Option<Options>> {
        parse(args.iter().map(OsString::from).collect())
    }

    #[test]
    fn defaults_and_overrides() {
        let o = parse_args(&[]).unwrap().unwrap();
        assert_eq!(o.config.listen, vec!["127.0.0.1:5432".parse().unwrap()]);
        assert_eq!(
            o.config.unix_socket_dir,
            Some(PathBuf::from("pgscram-data"))
        );
        let o = parse_args(&[
            "--port",
            "6543",
            "--no-unix-socket",
            "--scram-iterations",
            "10000",
        ])
        .unwrap()
        .unwrap();
        assert_eq!(o.config.listen, vec!["127.0.0.1:6543".parse().unwrap()]);
        assert_eq!(o.config.unix_socket_dir, None);
        assert_eq!(o.config.scram_iterations, 10000);
        assert!(parse_args(&["--scram-iterations", "0"]).is_err());
        assert!(parse_args(&["--tls-cert", "x"]).is_err());
        assert!(parse_args(&["--password", "x"]).is_err());
    }

    #[test]
    fn hardening_flags() {
        let o = parse_args(&[]).unwrap().unwrap();
        assert!(o.config.throttle.is_enabled(), "serve throttles by default");
        assert_eq!(o.config.max_connections_per_address, 0);
        assert_eq!(o.config.audit_log, None);
        let o = parse_args(&[
            "--max-handshakes",
            "8",
            "--max-connections-per-address",
            "4",
            "--throttle-delay",
            "250",
            "--throttle-max-delay",
            "5000",
            "--throttle-half-life",
            "30",
            "--throttle-slots",
            "1024",
            "--audit-log",
            "-",
            "--audit-format",
            "json",
            "--metrics-listen",
            "127.0.0.1:9187",
        ])
        .unwrap()
        .unwrap();
        assert_eq!(o.config.max_handshakes, 8);
        assert_eq!(o.config.max_connections_per_address, 4);
        assert_eq!(o.config.throttle.base_delay, Duration::from_millis(250));
        assert_eq!(o.config.throttle.max_delay, Duration::from_secs(5));
        assert_eq!(o.config.throttle.half_life, Duration::from_secs(30));
        assert_eq!(o.config.throttle.slots, 1024);
        assert_eq!(o.config.audit_log, Some(AuditTarget::Stdout));
        assert_eq!(
            o.config.audit_format,
            pgscram_server::audit::AuditFormat::Json
        );
        assert_eq!(
            o.config.metrics_listen,
            Some("127.0.0.1:9187".parse().unwrap())
        );
        let o = parse_args(&["--audit-log", "/tmp/a.log", "--throttle-delay", "0"])
            .unwrap()
            .unwrap();
        assert_eq!(
            o.config.audit_log,
            Some(AuditTarget::File(PathBuf::from("/tmp/a.log")))
        );
        assert!(!o.config.throttle.is_enabled());
        for bad in [
            &["--audit-format", "xml"][..],
            &["--max-handshakes", "0"],
            &["--throttle-slots", "2"],
            &["--throttle-half-life", "0"],
            &["--throttle-delay", "2000", "--throttle-max-delay", "1000"],
            &["--metrics-listen", "localhost"],
        ] {
            assert!(parse_args(bad).is_err(), "{bad:?}");
        }
    }
}
