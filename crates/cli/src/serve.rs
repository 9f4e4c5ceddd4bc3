//! `pgscram serve`: the PostgreSQL-wire server on its embedded database.

use std::ffi::OsString;
use std::io::IsTerminal as _;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use pgscram_server::{Server, Settings};
use zeroize::Zeroizing;

use crate::server_args::ServerArgs;

/// `serve`'s own settings, beside the server's.
const PROGRAM_SETTINGS: &[&str] = &["superuser"];

pub const USAGE: &str = "\
usage: pgscram serve [options]

  --superuser NAME            bootstrap superuser on first start (default postgres)
  (default address 127.0.0.1:5432, data directory ./pgscram-data)

First start creates the superuser with the password in PGSCRAM_PASSWORD, or asks for one
on a terminal, or generates one and prints it once.
";

/// serve's defaults: the library's, with the data directory in the current one.
fn defaults() -> Settings {
    let mut settings = Settings::default();
    settings.data_dir = Some(PathBuf::from("pgscram-data"));
    settings
}

pub fn run(args: Vec<OsString>) -> anyhow::Result<ExitCode> {
    let Some(mut args) = ServerArgs::parse(args, PROGRAM_SETTINGS)? else {
        print!("{USAGE}\n{}", crate::server_args::USAGE);
        return Ok(ExitCode::SUCCESS);
    };
    let resolved = args.resolve(&defaults(), PROGRAM_SETTINGS)?;
    let settings = resolved.settings;
    let superuser = resolved
        .program
        .get("superuser")
        .cloned()
        .unwrap_or_else(|| "postgres".to_owned());
    let data_dir = settings
        .data_dir
        .clone()
        .unwrap_or_else(|| PathBuf::from("pgscram-data"));
    crate::logging::init();
    std::fs::create_dir_all(&data_dir)
        .with_context(|| format!("creating data directory \"{}\"", data_dir.display()))?;
    let db_path = data_dir.join("pgscram.db");
    let db = pgscram_embedded::Database::open(&db_path)
        .with_context(|| format!("opening database \"{}\"", db_path.display()))?;
    bootstrap(&db, &superuser)?;

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?;
    runtime.block_on(async move {
        let mut builder = Server::builder()
            .settings(defaults())
            .overrides(std::mem::take(&mut args.overrides))
            .program_settings(PROGRAM_SETTINGS)
            .embedded(db);
        if let Some(file) = args.config_file.take() {
            builder = builder.config_file(file);
        }
        let server = builder.build().await?;
        for addr in server.local_addrs() {
            eprintln!(
                "pgscram: ready: psql \"host={} port={} user={superuser} dbname=postgres\"",
                addr.ip(),
                addr.port(),
            );
        }
        crate::server_args::run_until_signalled(server, || {}).await
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

    fn resolve(args: &[&str]) -> anyhow::Result<crate::server_args::Resolved> {
        let mut args =
            ServerArgs::parse(args.iter().map(OsString::from).collect(), PROGRAM_SETTINGS)?
                .expect("not --help");
        args.resolve(&defaults(), PROGRAM_SETTINGS)
    }

    #[test]
    fn defaults_and_overrides() {
        let o = resolve(&[]).unwrap();
        assert_eq!(o.settings.listen, vec!["127.0.0.1:5432".parse().unwrap()]);
        assert_eq!(
            o.settings.unix_socket_dir,
            Some(PathBuf::from("pgscram-data"))
        );
        assert!(
            o.settings.throttle.is_enabled(),
            "serve throttles by default"
        );
        let o = resolve(&[
            "--port",
            "6543",
            "--no-unix-socket",
            "--scram-iterations",
            "10000",
            "--superuser",
            "admin",
        ])
        .unwrap();
        assert_eq!(o.settings.listen, vec!["127.0.0.1:6543".parse().unwrap()]);
        assert_eq!(o.settings.unix_socket_dir, None);
        assert_eq!(o.settings.scram_iterations, 10000);
        assert_eq!(o.program["superuser"], "admin");
        assert!(resolve(&["--scram-iterations", "0"]).is_err());
        assert!(resolve(&["--tls-cert", "x"]).is_err());
        assert!(resolve(&["--password", "x"]).is_err());
    }

    #[test]
    fn hardening_flags() {
        let o = resolve(&[
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
        .settings;
        assert_eq!(o.max_handshakes, 8);
        assert_eq!(o.max_connections_per_address, 4);
        assert_eq!(o.throttle.base_delay, std::time::Duration::from_millis(250));
        assert_eq!(o.throttle.max_delay, std::time::Duration::from_secs(5));
        assert_eq!(o.throttle.half_life, std::time::Duration::from_secs(30));
        assert_eq!(o.throttle.slots, 1024);
        assert_eq!(
            o.audit_log,
            Some(pgscram_server::audit::AuditTarget::Stdout)
        );
        assert_eq!(o.audit_format, pgscram_server::audit::AuditFormat::Json);
        assert_eq!(o.metrics_listen, Some("127.0.0.1:9187".parse().unwrap()));
        let o = resolve(&["--audit-log", "/tmp/a.log", "--throttle-delay", "0"])
            .unwrap()
            .settings;
        assert_eq!(
            o.audit_log,
            Some(pgscram_server::audit::AuditTarget::File(PathBuf::from(
                "/tmp/a.log"
            )))
        );
        assert!(!o.throttle.is_enabled());
        for bad in [
            &["--audit-format", "xml"][..],
            &["--max-handshakes", "0"],
            &["--throttle-slots", "2"],
            &["--throttle-half-life", "0"],
            &["--throttle-delay", "2000", "--throttle-max-delay", "1000"],
            &["--metrics-listen", "localhost"],
        ] {
            assert!(resolve(bad).is_err(), "{bad:?}");
        }
    }
}
