//! What `serve` and `proxy` share: every setting is a flag (`--max-connections 50` is
//! `max_connections = 50`), a configuration file in postgresql.conf's syntax (`-c FILE`)
//! that flags override, and the signals: SIGTERM and SIGINT shut the server down,
//! SIGHUP reloads the file and pg_hba.conf.

use std::collections::HashMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use lexopt::prelude::*;
use pgscram_server::config::{SETTINGS, Settings, file};
use pgscram_server::{Server, ServerHandle};

/// The command line of a server command, before resolution.
#[derive(Debug, Default)]
pub struct ServerArgs {
    /// `-c FILE`.
    pub config_file: Option<PathBuf>,
    /// Server settings from flags, in order: they win over the file.
    pub overrides: Vec<(String, String)>,
    /// The command's own settings (`superuser`, `upstream`, ...) from flags.
    pub program: HashMap<String, String>,
}

/// Server settings and the command's own, resolved from defaults, file and flags.
pub struct Resolved {
    /// What the server starts with (the library resolves it again on every reload).
    pub settings: Settings,
    /// The command's own settings: flags over file.
    pub program: HashMap<String, String>,
    /// Where each of `program`'s values from the file came from (file, line).
    origins: HashMap<String, (PathBuf, usize)>,
}

impl Resolved {
    /// Where the command's setting `name` was given, for an error about its value:
    /// ` in file "..." line N` as for the server's settings, or `` for a flag.
    pub fn origin(&self, name: &str) -> String {
        match self.origins.get(name) {
            Some((file, line)) => format!(" in file \"{}\" line {line}", file.display()),
            None => String::new(),
        }
    }
}

/// The flags every server command takes, shown by `--help`.
pub const USAGE: &str = "\
Settings (each also a line of the -c file, with _ for -):
  -c FILE                     a configuration file in postgresql.conf's syntax; flags win over it;
                              SIGHUP re-reads it with pg_hba.conf (-c NAME=VALUE sets one setting)
  --listen ADDR:PORT          TCP address (repeatable)      --port N
  --data-dir DIR              pg_hba.conf, certificate, mock secret (and serve's database)
  --hba-file FILE             pg_hba.conf to use (default DIR/pg_hba.conf, made on first start)
  --unix-socket-dir DIR       where .s.PGSQL.PORT goes (default: the data directory)
  --no-unix-socket            no Unix socket
  --no-tls                    refuse SSLRequest
  --tls-cert FILE --tls-key FILE   certificate and key (default: self-signed, made on first start)
  --password-encryption md5|scram-sha-256   default for new passwords (scram-sha-256)
  --scram-iterations N        default SCRAM iteration count (4096)
  --max-connections N         (100)
  --authentication-timeout SECONDS   (60; covers the startup packet, TLS and the exchange)
  --shutdown-grace SECONDS    how long SIGTERM waits for sessions before closing them (5)
  --upgrade-md5-on-login      over TLS, ask an md5 role for its password in cleartext and,
                              if it matches, store a SCRAM verifier instead (serve only)
  --log-connections           log each successful login (log_connections; off by default)
Hardening:
  --max-handshakes N          connections in TLS/authentication at once (64); one stalled on a
                              silent client for 500 ms makes room when all are taken
  --max-connections-per-address N   connections not yet authenticated from one address,
                              IPv6 per /64 (16; 0 = no cap); sessions are never capped per address
  --max-pending-connections N connections not yet authenticated, in all (256)
  --throttle-delay MS         after a failed login, the next check of the same role (or
                              address and role, or spraying address) waits this long, doubling
                              with each recent failure; errors are never held (100; 0 = off)
  --throttle-max-delay MS     cap of that wait (2000)
  --throttle-half-life SECONDS   time for failures to be half forgotten (60)
  --throttle-slots N          fixed size of the failure table (16384)
  --audit-log FILE|-          one event per connection attempt (- for standard output)
  --audit-format text|json    (text)
  --metrics-listen ADDR:PORT  Prometheus metrics at http://ADDR:PORT/metrics
";

/// Short flags and flags whose setting has another name.
fn setting_of_flag(flag: &str) -> Option<&'static str> {
    Some(match flag {
        "data-dir" | "D" => "data_directory",
        "port" | "p" => "port",
        "unix-socket-dir" => "unix_socket_directories",
        "tls-cert" => "ssl_cert_file",
        "tls-key" => "ssl_key_file",
        _ => return None,
    })
}

impl ServerArgs {
    /// Parses the command line; `program` names the command's own settings. `Ok(None)`
    /// for `--help`.
    pub fn parse(args: Vec<OsString>, program: &[&str]) -> anyhow::Result<Option<Self>> {
        let mut out = ServerArgs::default();
        let mut listen = Vec::new();
        let mut parser = lexopt::Parser::from_args(args);
        while let Some(arg) = parser.next()? {
            match arg {
                Long("help") | Short('h') => return Ok(None),
                Short('c') | Long("config-file") => {
                    let value = parser.value()?;
                    match value.to_str().and_then(|v| v.split_once('=')) {
                        Some((name, setting)) if !Path::new(&value).exists() => {
                            out.set(&name.replace('-', "_"), setting, program)?
                        }
                        _ => out.config_file = Some(PathBuf::from(value)),
                    }
                }
                Long("listen") => listen.push(parser.value()?.string()?),
                Long("no-unix-socket") => out.set("unix_socket_directories", "", program)?,
                Long("no-tls") => out.set("ssl", "off", program)?,
                Long("upgrade-md5-on-login") => out.set("upgrade_md5_on_login", "on", program)?,
                Long("log-connections") => out.set("log_connections", "on", program)?,
                Long("password") => bail!(
                    "passwords are not accepted on the command line; use the environment or a prompt"
                ),
                Short('D') | Short('p') => {
                    let Short(c) = arg else { unreachable!() };
                    let name = setting_of_flag(&c.to_string()).unwrap_or_default();
                    let value = parser.value()?.string()?;
                    out.set(name, &value, program)?;
                }
                Long(flag) => {
                    let flag = flag.to_owned();
                    let name = setting_of_flag(&flag)
                        .map_or_else(|| flag.replace('-', "_"), str::to_owned);
                    if !is_setting(&name) && !program.contains(&name.as_str()) {
                        bail!("unknown option --{flag}");
                    }
                    let value = parser.value()?.string()?;
                    out.set(&name, &value, program)?;
                }
                other => return Err(other.unexpected().into()),
            }
        }
        if !listen.is_empty() {
            out.set("listen", &listen.join(","), program)?;
        }
        Ok(Some(out))
    }

    fn set(&mut self, name: &str, value: &str, program: &[&str]) -> anyhow::Result<()> {
        if program.contains(&name) {
            self.program.insert(name.to_owned(), value.to_owned());
            return Ok(());
        }
        // Checked now, so a bad flag is reported as the flag it is.
        Settings::default()
            .set(name, value)
            .map_err(|e| anyhow::anyhow!("--{}: {e}", name.replace('_', "-")))?;
        self.overrides.push((name.to_owned(), value.to_owned()));
        Ok(())
    }

    /// Resolves defaults (`base`), then the file, then the flags. Unless a Unix socket
    /// directory is named anywhere, the socket goes in the data directory.
    pub fn resolve(&mut self, base: &Settings, program: &[&str]) -> anyhow::Result<Resolved> {
        let mut settings = base.clone();
        let mut program_values = HashMap::new();
        let mut origins = HashMap::new();
        let mut socket_named = self
            .overrides
            .iter()
            .any(|(n, _)| n == "unix_socket_directories");
        if let Some(path) = &self.config_file {
            let entries = file::read(path).map_err(|e| anyhow::anyhow!("{e}"))?;
            let (own, server): (Vec<_>, Vec<_>) = entries
                .into_iter()
                .partition(|e| program.contains(&e.name.as_str()));
            for entry in own {
                origins.insert(entry.name.clone(), (entry.file, entry.line));
                program_values.insert(entry.name, entry.value);
            }
            socket_named |= server.iter().any(|e| e.name == "unix_socket_directories");
            file::apply(&mut settings, &server).map_err(|e| anyhow::anyhow!("{e}"))?;
        }
        for (name, value) in &self.overrides {
            settings.set(name, value)?;
        }
        settings.validate()?;
        if !socket_named && let Some(dir) = settings.data_dir.clone() {
            let dir = dir.to_string_lossy().into_owned();
            settings.set("unix_socket_directories", &dir)?;
            self.overrides
                .push(("unix_socket_directories".to_owned(), dir));
        }
        // Flags win over the file.
        origins.retain(|name, _| !self.program.contains_key(name));
        program_values.extend(self.program.clone());
        Ok(Resolved {
            settings,
            program: program_values,
            origins,
        })
    }
}

fn is_setting(name: &str) -> bool {
    SETTINGS.iter().any(|(known, _)| *known == name)
}

/// Runs `server` until SIGTERM or SIGINT (then exits 0 once sessions are closed);
/// SIGHUP reloads, and `on_reload` runs with it (the proxy re-reads its auth_file).
pub async fn run_until_signalled(
    server: Server,
    on_reload: impl Fn() + Send + 'static,
) -> anyhow::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let handle = server.handle();
    let mut term = signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
    let mut int = signal(SignalKind::interrupt()).context("installing the SIGINT handler")?;
    let mut hup = signal(SignalKind::hangup()).context("installing the SIGHUP handler")?;
    let signals = tokio::spawn({
        let handle: ServerHandle = handle.clone();
        async move {
            loop {
                tokio::select! {
                    _ = term.recv() => {
                        tracing::info!("received fast shutdown request");
                        break;
                    }
                    _ = int.recv() => {
                        tracing::info!("received fast shutdown request");
                        break;
                    }
                    _ = hup.recv() => {
                        tracing::info!("received SIGHUP, reloading configuration files");
                        handle.reload();
                        on_reload();
                    }
                }
            }
            handle.shutdown();
        }
    });
    server.run().await;
    signals.abort();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str], program: &[&str]) -> anyhow::Result<Option<ServerArgs>> {
        ServerArgs::parse(args.iter().map(OsString::from).collect(), program)
    }

    #[test]
    fn flags_are_settings() {
        let args = parse(
            &[
                "--port",
                "6543",
                "--max-connections",
                "7",
                "--no-tls",
                "-D",
                "/tmp/d",
                "--superuser",
                "admin",
                "-c",
                "scram_iterations=10000",
            ],
            &["superuser"],
        )
        .unwrap()
        .unwrap();
        assert_eq!(
            args.overrides,
            vec![
                ("port".to_owned(), "6543".to_owned()),
                ("max_connections".to_owned(), "7".to_owned()),
                ("ssl".to_owned(), "off".to_owned()),
                ("data_directory".to_owned(), "/tmp/d".to_owned()),
                ("scram_iterations".to_owned(), "10000".to_owned()),
            ]
        );
        assert_eq!(args.program["superuser"], "admin");
        for bad in [
            &["--max-connections", "x"][..],
            &["--no-such-flag", "1"],
            &["--password", "x"],
            &["--throttle-slots", "2"],
            &["--metrics-listen", "localhost"],
        ] {
            assert!(parse(bad, &[]).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn flags_win_over_the_file_and_the_socket_follows_the_data_directory() {
        let dir = std::env::temp_dir().join(format!("pgscram-args-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let conf = dir.join("pgscram.conf");
        std::fs::write(
            &conf,
            "max_connections = 10\nport = 7000\nsuperuser = 'boss'\ndata_directory = '/srv/x'\n",
        )
        .unwrap();
        let conf_arg = conf.to_string_lossy().into_owned();
        let mut args = parse(&["-c", &conf_arg, "--port", "7001"], &["superuser"])
            .unwrap()
            .unwrap();
        let resolved = args.resolve(&Settings::default(), &["superuser"]).unwrap();
        assert_eq!(resolved.settings.max_connections, 10);
        assert_eq!(resolved.settings.listen[0].port(), 7001);
        assert_eq!(resolved.program["superuser"], "boss");
        assert!(
            resolved
                .origin("superuser")
                .ends_with("pgscram.conf\" line 3")
        );
        let mut flagged = parse(&["-c", &conf_arg, "--superuser", "chief"], &["superuser"])
            .unwrap()
            .unwrap();
        let flagged = flagged
            .resolve(&Settings::default(), &["superuser"])
            .unwrap();
        assert_eq!(flagged.program["superuser"], "chief");
        assert_eq!(flagged.origin("superuser"), "", "a flag has no file line");
        assert_eq!(
            resolved.settings.unix_socket_dir,
            Some(PathBuf::from("/srv/x"))
        );
        std::fs::write(&conf, "max_connections = many\n").unwrap();
        let error = args
            .resolve(&Settings::default(), &["superuser"])
            .err()
            .unwrap()
            .to_string();
        assert!(error.contains("pgscram.conf\" line 1"), "{error}");
        std::fs::remove_dir_all(dir).unwrap();
    }
}
