//! `pgscram proxy`: SCRAM in front of a real PostgreSQL, logging clients in upstream
//! with the ClientKey recovered from their own proof.

use std::ffi::OsString;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, bail};
use pgscram_server::proxy::{AuthFileStore, AuthQueryStore, PoolSettings, ProxyBackend};
use pgscram_server::{PasswordStore, Server, Settings};

use crate::server_args::{Resolved, ServerArgs};

/// The proxy's own settings (PgBouncer's names), beside the server's: its sources, and
/// the pooling settings.
static PROGRAM_SETTINGS: std::sync::LazyLock<Vec<&'static str>> = std::sync::LazyLock::new(|| {
    let sources = [
        "upstream",
        "auth_file",
        "auth_user",
        "auth_query",
        "auth_query_ttl",
        "max_client_conn",
        "workers",
    ];
    sources
        .into_iter()
        .chain(PoolSettings::NAMES.iter().copied())
        .collect()
});

pub const USAGE: &str = "\
usage: pgscram proxy --upstream CONNINFO (--auth-file FILE | --auth-user ROLE | both) [options]

  --upstream CONNINFO         the PostgreSQL to log in to (host, port, sslmode, channel_binding,
                              sslrootcert...; user and dbname come from each client)
  --auth-file FILE            PgBouncer-format \"user\" \"SCRAM-SHA-256$...\" (or \"md5...\") lines
                              (reloaded on SIGHUP); md5 roles need an md5 line in pg_hba.conf
  --auth-user ROLE            read verifiers from the upstream's pg_shadow as ROLE (its password from
                              PGPASSWORD or .pgpass) over one reused connection, caching answers
                              (unknown names too, 4096 at most) for --auth-query-ttl seconds (30)
  --auth-query SQL            the query for --auth-user: $1 is the role name (a bound parameter);
                              columns name, secret and, optionally, VALID UNTIL
  both, as PgBouncer: names the auth_file lacks are read with --auth-user, and
  --upgrade-md5-on-login writes a role's new verifier upstream as ROLE and into the file
  --pool-mode session|transaction
                              pool upstream connections per (database, user), as PgBouncer
                              (default: none, one upstream login per client session)
  --default-pool-size N       server connections per pool (20)
  --query-wait-timeout TIME   how long a client waits for a server connection (120s)
  --server-idle-timeout TIME  close idle server connections after (600s)
  --server-lifetime TIME      close server connections this old when idle (3600s)
  --server-reset-query SQL    run before a connection goes back in session mode (DISCARD ALL)
  --max-prepared-statements N named statements kept per server connection (200)
  --min-pool-size N           server connections a pool keeps open while it holds a key (0)
  --client-key-retention pool|login
                              keep a user's ClientKey in its pool while the pool may need new
                              connections, zeroized after server_idle_timeout without clients
                              (pool, the default), or only for the login that produced it
  --admin-users LIST, --stats-users LIST
                              who may use the console: dbname=pgscram, SHOW POOLS|CLIENTS|
                              SERVERS|STATS (comma-separated role names)
  --max-client-conn N         client connections at once (PgBouncer's name for max_connections)
  --workers N                 threads serving clients (1, the default: one event loop, as
                              PgBouncer and Odyssey run; more for TLS-heavy loads on many cores)
  (default address 127.0.0.1:6432, data directory ./pgscram-proxy-data)

Clients must log in with SCRAM (scram-sha-256 in pg_hba.conf): their proof is what logs
them in upstream. The stored verifier must be the upstream's own (same salt and
iteration count); a stale one is reported to the client and in the log.
";

enum Source {
    File(PathBuf),
    Query(AuthUser),
    /// PgBouncer's pair: the file first, the auth_user for names it lacks and upgrades.
    FileAndQuery(PathBuf, AuthUser),
}

/// `--auth-user` and what goes with it.
struct AuthUser {
    user: String,
    query: Option<String>,
    ttl: Duration,
}

/// The proxy's defaults: the library's, on PgBouncer's port, with its own data directory.
fn defaults() -> Settings {
    let mut settings = Settings::default();
    settings.listen = vec![SocketAddr::from(([127, 0, 0, 1], 6432))];
    settings.data_dir = Some(PathBuf::from("pgscram-proxy-data"));
    settings
}

struct Options {
    upstream: String,
    /// `workers`: the threads that serve clients.
    workers: usize,
    source: Source,
    /// `None` without `pool_mode`: one upstream login per client session.
    pooling: Option<PoolSettings>,
}

/// The proxy's own settings; an error about one value names its file and line when the
/// configuration file gave it.
fn options(resolved: &Resolved) -> anyhow::Result<Options> {
    let program = &resolved.program;
    let upstream = program
        .get("upstream")
        .cloned()
        .context("--upstream CONNINFO is required")?;
    if upstream.contains("password") || upstream.contains("scram_client_key") {
        bail!(
            "--upstream must not carry a password or key: give the auth_user's password in PGPASSWORD or .pgpass"
        );
    }
    let ttl = match program.get("auth_query_ttl") {
        Some(text) => Duration::from_secs(text.parse().map_err(|_| {
            anyhow::anyhow!(
                "invalid value for auth_query_ttl: \"{text}\"{}",
                resolved.origin("auth_query_ttl")
            )
        })?),
        None => Duration::from_secs(30),
    };
    let auth_user = program.get("auth_user").map(|user| AuthUser {
        user: user.clone(),
        query: program.get("auth_query").cloned(),
        ttl,
    });
    let source = match (program.get("auth_file"), auth_user) {
        (Some(file), None) => Source::File(PathBuf::from(file)),
        (None, Some(auth_user)) => Source::Query(auth_user),
        (Some(file), Some(auth_user)) => Source::FileAndQuery(PathBuf::from(file), auth_user),
        (None, None) => bail!("give --auth-file FILE, --auth-user ROLE, or both"),
    };
    let workers = match program.get("workers") {
        None => 1,
        Some(text) => match text.trim().parse::<usize>() {
            Ok(n @ 1..=1024) => n,
            _ => bail!(
                "invalid value for workers: \"{text}\" (1 to 1024){}",
                resolved.origin("workers")
            ),
        },
    };
    let pooling = match program.get("pool_mode") {
        None => {
            if let Some(name) = PoolSettings::NAMES
                .iter()
                .find(|name| program.contains_key(**name))
            {
                bail!(
                    "{name} needs pool_mode (session or transaction){}",
                    resolved.origin(name)
                );
            }
            None
        }
        Some(_) => {
            let mut settings = PoolSettings::default();
            for name in PoolSettings::NAMES {
                if let Some(value) = program.get(*name) {
                    settings
                        .set(name, value)
                        .map_err(|e| anyhow::anyhow!("{e}{}", resolved.origin(name)))?;
                }
            }
            settings.validate().map_err(|e| anyhow::anyhow!(e))?;
            Some(settings)
        }
    };
    Ok(Options {
        upstream,
        workers,
        source,
        pooling,
    })
}

/// One worker: a single event loop, as PgBouncer runs. A proxy's work is mostly handing
/// bytes between two sockets, and on a multi-threaded runtime each hand-off may wake the
/// other thread; on two cores one loop spent 25 µs of CPU per pooled transaction where
/// two workers spent 29 (docs/BENCHMARKS.md). More workers share TLS handshakes and
/// SCRAM checks across cores.
fn runtime(workers: usize) -> std::io::Result<tokio::runtime::Runtime> {
    let mut builder = if workers == 1 {
        tokio::runtime::Builder::new_current_thread()
    } else {
        let mut builder = tokio::runtime::Builder::new_multi_thread();
        builder.worker_threads(workers);
        builder
    };
    builder.enable_all().build()
}

pub fn run(args: Vec<OsString>) -> anyhow::Result<ExitCode> {
    let Some(mut args) = ServerArgs::parse(args, &PROGRAM_SETTINGS)? else {
        print!("{USAGE}\n{}", crate::server_args::USAGE);
        return Ok(ExitCode::SUCCESS);
    };
    let resolved = args.resolve(&defaults(), &PROGRAM_SETTINGS)?;
    let options = options(&resolved)?;
    if let Some(n) = resolved.program.get("max_client_conn") {
        // PgBouncer's name for the limit the server library calls max_connections
        // (flag or file line alike; it wins over a max_connections beside it).
        let mut check = Settings::default();
        check.set("max_connections", n).map_err(|e| {
            anyhow::anyhow!("max_client_conn: {e}{}", resolved.origin("max_client_conn"))
        })?;
        args.overrides
            .push(("max_connections".to_owned(), n.clone()));
    }
    // Client proofs' ClientKeys (password equivalents) pass through this process and
    // pools keep them: no core file, no ptrace by other users, where Linux allows.
    if let Err(e) =
        rustix::process::set_dumpable_behavior(rustix::process::DumpableBehavior::NotDumpable)
    {
        eprintln!("pgscram proxy: could not mark the process not dumpable: {e}");
    }
    let upstream =
        pgscram_server::proxy::upstream_config(&options.upstream).context("reading --upstream")?;
    crate::logging::init();
    let runtime = runtime(options.workers).context("starting the runtime")?;
    runtime.block_on(async move {
        let auth_query = |auth_user: AuthUser| {
            let mut auth = upstream.clone();
            auth.set_user(&auth_user.user);
            // set_user forgets passwords; read PGPASSWORD/.pgpass again for the auth_user.
            let conninfo = format!("{} user={}", options.upstream, auth_user.user);
            let auth = pgscram_server::proxy::upstream_config(&conninfo).unwrap_or(auth);
            AuthQueryStore::new(auth, auth_user.query, auth_user.ttl)
        };
        let (store, auth_file): (Arc<dyn PasswordStore>, Option<Arc<AuthFileStore>>) = match options
            .source
        {
            Source::File(path) => {
                let store = Arc::new(AuthFileStore::load(&path)?);
                (store.clone(), Some(store))
            }
            Source::Query(auth_user) => (Arc::new(auth_query(auth_user)), None),
            Source::FileAndQuery(path, auth_user) => {
                let store =
                    Arc::new(AuthFileStore::load(&path)?.with_auth_query(auth_query(auth_user)));
                (store.clone(), Some(store))
            }
        };
        let mut builder = Server::builder()
            .settings(defaults())
            .overrides(std::mem::take(&mut args.overrides))
            .program_settings(&PROGRAM_SETTINGS)
            .store(store.clone());
        let backend = ProxyBackend::new(upstream, store);
        builder = builder.backend(match options.pooling {
            Some(settings) => backend.with_pooling(settings),
            None => backend,
        });
        if let Some(file) = args.config_file.take() {
            builder = builder.config_file(file);
        }
        let server = builder.build().await?;
        for addr in server.local_addrs() {
            eprintln!("pgscram proxy: ready on {addr}");
        }
        crate::server_args::run_until_signalled(server, move || {
            if let Some(file) = &auth_file {
                match file.reload() {
                    Ok(n) => tracing::info!("auth_file reloaded: {n} verifiers"),
                    Err(e) => tracing::info!("{e}; auth_file was not reloaded"),
                }
            }
        })
        .await
    })?;
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_args(args: &[&str]) -> anyhow::Result<(Settings, Options)> {
        let mut args =
            ServerArgs::parse(args.iter().map(OsString::from).collect(), &PROGRAM_SETTINGS)?
                .expect("not --help");
        let resolved = args.resolve(&defaults(), &PROGRAM_SETTINGS)?;
        let options = options(&resolved)?;
        Ok((resolved.settings, options))
    }

    #[test]
    fn needs_an_upstream_and_a_source() {
        assert!(parse_args(&["--auth-file", "f"]).is_err());
        assert!(parse_args(&["--upstream", "host=h"]).is_err());
        let (_, both) = parse_args(&[
            "--upstream",
            "host=h",
            "--auth-file",
            "f",
            "--auth-user",
            "u",
        ])
        .unwrap();
        assert!(matches!(both.source, Source::FileAndQuery(..)));
        assert!(both.pooling.is_none(), "no pooling unless pool_mode is set");
        let (_, pooled) = parse_args(&[
            "--upstream",
            "host=h",
            "--auth-file",
            "f",
            "--pool-mode",
            "transaction",
            "--default-pool-size",
            "10",
            "--query-wait-timeout",
            "5s",
        ])
        .unwrap();
        let pooling = pooled.pooling.expect("pooling");
        assert_eq!(pooling.mode, pgscram_server::proxy::PoolMode::Transaction);
        assert_eq!(pooling.default_pool_size, 10);
        assert_eq!(pooling.query_wait_timeout, Duration::from_secs(5));
        for bad in [
            &["--default-pool-size", "10"][..],
            &["--pool-mode", "statement"][..],
            &["--pool-mode", "session", "--default-pool-size", "0"][..],
            &[
                "--pool-mode",
                "session",
                "--default-pool-size",
                "2",
                "--min-pool-size",
                "3",
            ][..],
            &["--pool-mode", "session", "--client-key-retention", "always"][..],
        ] {
            let mut args = vec!["--upstream", "host=h", "--auth-file", "f"];
            args.extend_from_slice(bad);
            assert!(parse_args(&args).is_err(), "{bad:?}");
        }
        assert!(parse_args(&["--upstream", "host=h password=x", "--auth-file", "f"]).is_err());
        let dir = std::env::temp_dir().join(format!("pgscram-proxy-args-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let conf = dir.join("proxy.conf");
        let conf_arg = conf.to_string_lossy().into_owned();
        for (text, line) in [
            ("pool_mode = session\n\nworkers = 0\n", 3),
            ("pool_mode = session\ndefault_pool_size = many\n", 2),
            ("default_pool_size = 5\n", 1),
        ] {
            std::fs::write(&conf, text).unwrap();
            let error = parse_args(&["--upstream", "host=h", "--auth-file", "f", "-c", &conf_arg])
                .err()
                .unwrap()
                .to_string();
            assert!(
                error.ends_with(&format!("proxy.conf\" line {line}")),
                "{error}"
            );
        }
        std::fs::write(&conf, "workers = 2\n").unwrap();
        let args = ["--upstream", "host=h", "--auth-file", "f", "-c", &conf_arg];
        assert_eq!(parse_args(&args).unwrap().1.workers, 2, "from the file");
        std::fs::remove_dir_all(dir).unwrap();
        let base = ["--upstream", "host=h", "--auth-file", "f"];
        assert_eq!(
            parse_args(&base).unwrap().1.workers,
            1,
            "one event loop by default"
        );
        let four = [&base[..], &["--workers", "4"]].concat();
        assert_eq!(parse_args(&four).unwrap().1.workers, 4);
        for bad in ["0", "-1", "many", "1025"] {
            let args = [&base[..], &["--workers", bad]].concat();
            assert!(parse_args(&args).is_err(), "--workers {bad}");
        }
        let (settings, options) =
            parse_args(&["--upstream", "host=h", "--auth-file", "f"]).unwrap();
        assert_eq!(settings.listen, vec!["127.0.0.1:6432".parse().unwrap()]);
        assert!(matches!(options.source, Source::File(_)));
    }
}
