//! `pgscram proxy`: SCRAM in front of a real PostgreSQL, logging clients in upstream
//! with the ClientKey recovered from their own proof.

use std::ffi::OsString;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, bail};
use lexopt::prelude::*;
use pgscram_server::proxy::{AuthFileStore, AuthQueryStore, ProxyBackend};
use pgscram_server::{Backend, PasswordStore, Server, ServerConfig};

pub const USAGE: &str = "\
usage: pgscram proxy --upstream CONNINFO (--auth-file FILE | --auth-user ROLE) [options]

  --upstream CONNINFO         the PostgreSQL to log in to (host, port, sslmode, channel_binding,
                              sslrootcert...; user and dbname come from each client)
  --auth-file FILE            PgBouncer-format \"user\" \"SCRAM-SHA-256$...\" lines (reloaded on SIGHUP)
  --auth-user ROLE            read verifiers from the upstream's pg_shadow as ROLE (its password from
                              PGPASSWORD or .pgpass), cached for --auth-query-ttl seconds (default 30)
  --auth-query SQL            the query for --auth-user, $1 is the role name
  --listen ADDR:PORT          (default 127.0.0.1:6432)   --port N
  --data-dir DIR              pg_hba.conf, certificate, mock secret (default ./pgscram-proxy-data)
  --hba-file FILE  --no-tls  --tls-cert FILE --tls-key FILE
  --unix-socket-dir DIR  --no-unix-socket
  --max-connections N  --authentication-timeout SECONDS  --scram-iterations N (for mock verifiers)
  and the hardening flags of `pgscram serve --help` (throttling, handshake caps, audit, metrics)

Clients must log in with SCRAM (scram-sha-256 in pg_hba.conf): their proof is what logs
them in upstream. The stored verifier must be the upstream's own (same salt and
iteration count); a stale one is reported to the client and in the log.
";

enum Source {
    File(PathBuf),
    Query {
        user: String,
        query: Option<String>,
        ttl: Duration,
    },
}

struct Options {
    config: ServerConfig,
    upstream: String,
    source: Source,
}

fn parse(args: Vec<OsString>) -> anyhow::Result<Option<Options>> {
    let mut config = ServerConfig {
        listen: vec![SocketAddr::from(([127, 0, 0, 1], 6432))],
        data_dir: PathBuf::from("pgscram-proxy-data"),
        // Failed logins are throttled by default, as in serve.
        throttle: pgscram_server::throttle::ThrottleConfig::default(),
        ..ServerConfig::default()
    };
    let (mut upstream, mut auth_file, mut auth_user, mut auth_query) = (None, None, None, None);
    let mut ttl = Duration::from_secs(30);
    let (mut listen, mut port, mut unix_dir, mut no_unix) = (Vec::new(), None, None, false);
    let mut parser = lexopt::Parser::from_args(args);
    while let Some(arg) = parser.next()? {
        match arg {
            Long("help") | Short('h') => return Ok(None),
            Long("upstream") => upstream = Some(parser.value()?.string()?),
            Long("auth-file") => auth_file = Some(PathBuf::from(parser.value()?)),
            Long("auth-user") => auth_user = Some(parser.value()?.string()?),
            Long("auth-query") => auth_query = Some(parser.value()?.string()?),
            Long("auth-query-ttl") => {
                ttl = Duration::from_secs(number(&mut parser, "--auth-query-ttl")?)
            }
            Long("listen") => {
                let text = parser.value()?.string()?;
                listen.push(
                    text.parse::<SocketAddr>()
                        .with_context(|| format!("invalid --listen address \"{text}\""))?,
                );
            }
            Long("port") | Short('p') => port = Some(number::<u16>(&mut parser, "--port")?),
            Long("data-dir") => config.data_dir = parser.value()?.into(),
            Long("hba-file") => config.hba_file = Some(parser.value()?.into()),
            Long("unix-socket-dir") => unix_dir = Some(PathBuf::from(parser.value()?)),
            Long("no-unix-socket") => no_unix = true,
            Long("no-tls") => config.tls = false,
            Long("tls-cert") => config.tls_cert = Some(parser.value()?.into()),
            Long("tls-key") => config.tls_key = Some(parser.value()?.into()),
            Long("max-connections") => {
                config.max_connections = number(&mut parser, "--max-connections")?
            }
            Long("authentication-timeout") => {
                config.authentication_timeout =
                    Duration::from_secs(number(&mut parser, "--authentication-timeout")?)
            }
            Long("scram-iterations") => {
                config.scram_iterations = number(&mut parser, "--scram-iterations")?
            }
            Long(name) if crate::serve::HARDENING_FLAGS.contains(&name) => {
                let name = name.to_owned();
                crate::serve::hardening_flag(&name, &mut parser, &mut config)?;
            }
            Long("password") => bail!("passwords are not accepted on the command line"),
            other => return Err(other.unexpected().into()),
        }
    }
    let upstream = upstream.context("--upstream CONNINFO is required")?;
    if upstream.contains("password") || upstream.contains("scram_client_key") {
        bail!(
            "--upstream must not carry a password or key: give the auth_user's password in PGPASSWORD or .pgpass"
        );
    }
    let source = match (auth_file, auth_user) {
        (Some(file), None) => Source::File(file),
        (None, Some(user)) => Source::Query {
            user,
            query: auth_query,
            ttl,
        },
        _ => bail!("give exactly one of --auth-file FILE and --auth-user ROLE"),
    };
    if !listen.is_empty() {
        config.listen = listen;
    } else if let Some(port) = port {
        config.listen = vec![SocketAddr::from(([127, 0, 0, 1], port))];
    }
    if !no_unix {
        config.unix_socket_dir = Some(unix_dir.unwrap_or_else(|| config.data_dir.clone()));
    }
    if config.tls_cert.is_some() != config.tls_key.is_some() {
        bail!("--tls-cert and --tls-key go together");
    }
    crate::serve::check_hardening(&config)?;
    Ok(Some(Options {
        config,
        upstream,
        source,
    }))
}

fn number<T: std::str::FromStr>(parser: &mut lexopt::Parser, name: &str) -> anyhow::Result<T> {
    let text = parser.value()?.string()?;
    text.parse()
        .map_err(|_| anyhow::anyhow!("invalid {name} value \"{text}\""))
}

pub fn run(args: Vec<OsString>) -> anyhow::Result<ExitCode> {
    let Some(options) = parse(args)? else {
        print!("{USAGE}");
        return Ok(ExitCode::SUCCESS);
    };
    let upstream =
        pgscram_server::proxy::upstream_config(&options.upstream).context("reading --upstream")?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?;
    runtime.block_on(async move {
        let (store, auth_file): (Arc<dyn PasswordStore>, Option<Arc<AuthFileStore>>) =
            match options.source {
                Source::File(path) => {
                    let store = Arc::new(AuthFileStore::load(&path)?);
                    (store.clone(), Some(store))
                }
                Source::Query { user, query, ttl } => {
                    let mut auth = upstream.clone();
                    auth.set_user(&user);
                    // set_user forgets passwords; read PGPASSWORD/.pgpass again for the auth_user.
                    let conninfo = format!("{} user={user}", options.upstream);
                    let auth = pgscram_server::proxy::upstream_config(&conninfo).unwrap_or(auth);
                    (Arc::new(AuthQueryStore::new(auth, query, ttl)), None)
                }
            };
        let backend = Backend::Proxy(Box::new(ProxyBackend::new(upstream, store.clone())));
        let server = Server::bind(options.config, store, backend).await?;
        for addr in server.local_addrs() {
            eprintln!("pgscram proxy: ready on {addr}");
        }
        if let Some(file) = auth_file {
            tokio::spawn(async move {
                let Ok(mut hup) =
                    tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
                else {
                    return;
                };
                while hup.recv().await.is_some() {
                    match file.reload() {
                        Ok(n) => eprintln!("pgscram proxy: auth_file reloaded: {n} verifiers"),
                        Err(e) => eprintln!("pgscram proxy: {e}; auth_file was not reloaded"),
                    }
                }
            });
        }
        tokio::select! {
            () = server.run() => {}
            _ = tokio::signal::ctrl_c() => eprintln!("pgscram proxy: shutting down"),
        }
        anyhow::Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_args(args: &[&str]) -> anyhow::Result<Option<Options>> {
        parse(args.iter().map(OsString::from).collect())
    }

    #[test]
    fn needs_an_upstream_and_one_source() {
        assert!(parse_args(&["--auth-file", "f"]).is_err());
        assert!(
            parse_args(&[
                "--upstream",
                "host=h",
                "--auth-file",
                "f",
                "--auth-user",
                "u"
            ])
            .is_err()
        );
        assert!(parse_args(&["--upstream", "host=h password=x", "--auth-file", "f"]).is_err());
        let o = parse_args(&["--upstream", "host=h", "--auth-file", "f"])
            .unwrap()
            .unwrap();
        assert_eq!(o.config.listen, vec!["127.0.0.1:6432".parse().unwrap()]);
    }
}
