//! Command-line parsing. Secrets never come from here: argv is visible to every user
//! of the machine (`ps`), so passwords are read by `secret_input` instead.

use std::ffi::OsString;

use anyhow::{Context as _, bail};
use lexopt::prelude::*;

pub const USAGE: &str = "\
usage: pgscram <command> [options]

commands:
  serve                         run the PostgreSQL-wire server on its embedded database
  proxy                         SCRAM in front of a real PostgreSQL (pgscram proxy --help)
  bench CONNINFO [options]      login load: logins/s and latency (pgscram bench --help)
  ping CONNINFO                 connect and print what was negotiated (exit 0 or 2)
  audit CONNINFO [options]      report every login role's secret and what needs upgrading
      --json                    machine-readable output
      --min-iterations N        SCRAM iteration counts below N are weak
                                (default: 4096, or the server's scram_iterations if higher)
                                exit status: 0 clean, 1 work to do, 2 error
  passwd CONNINFO [ROLE]        set a role's password as a SCRAM verifier made here, then
                                prove it with a SCRAM login (default role: the current user)
      --iterations N            iteration count (default: the server's scram_iterations,
                                4096 before PostgreSQL 16)
      --keep-old-for TIME       rotate: add the new password as the role's second and keep
                                the old one working for TIME (30min, 12h, 7d); pgscram
                                serve only, as a superuser
  encrypt-password [options]    read a password (prompt or stdin) and print its verifier
      --user U                  role name (md5 mixes it into the hash)
      --method scram-sha-256|md5
      --iterations N            SCRAM iteration count (default 4096)
  help, --help                  this text
  --version                     print the version

Passwords are never taken from the command line: pgscram prompts without echo when
standard input is a terminal, and reads one line from standard input otherwise.
CONNINFO is a libpq connection string or URI; it must not hold a password or a SCRAM key
(use PGPASSWORD, a .pgpass file, or the prompt).
";

/// The method `encrypt-password` hashes with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    ScramSha256,
    Md5,
}

#[derive(Debug)]
pub struct EncryptOptions {
    pub user: Option<String>,
    pub method: Method,
    pub iterations: u32,
}

#[derive(Debug)]
pub struct AuditOptions {
    pub conninfo: String,
    pub json: bool,
    pub min_iterations: Option<u32>,
}

#[derive(Debug)]
pub struct PasswdOptions {
    pub conninfo: String,
    pub role: Option<String>,
    pub iterations: Option<u32>,
    /// `--keep-old-for`: how long the old password keeps working beside the new.
    pub keep_old_for: Option<std::time::Duration>,
}

#[derive(Debug)]
pub enum Command {
    Help,
    Version,
    /// `serve` parses its own options (see `serve.rs`).
    Serve(Vec<OsString>),
    /// `proxy` parses its own options (see `proxy.rs`).
    Proxy(Vec<OsString>),
    /// `bench` parses its own options (see `bench.rs`).
    Bench(Vec<OsString>),
    EncryptPassword(EncryptOptions),
    Ping {
        conninfo: String,
    },
    Audit(AuditOptions),
    Passwd(PasswdOptions),
}

impl Command {
    pub fn parse(args: impl IntoIterator<Item = OsString>) -> anyhow::Result<Self> {
        let mut parser = lexopt::Parser::from_args(args);
        let command = match parser.next()? {
            None => return Ok(Command::Help),
            Some(Long("help") | Short('h')) => return Ok(Command::Help),
            Some(Long("version") | Short('V')) => return Ok(Command::Version),
            Some(Value(word)) => word.string()?,
            Some(other) => return Err(other.unexpected().into()),
        };
        match command.as_str() {
            "help" => Ok(Command::Help),
            "serve" => Ok(Command::Serve(parser.raw_args()?.collect())),
            "proxy" => Ok(Command::Proxy(parser.raw_args()?.collect())),
            "bench" => Ok(Command::Bench(parser.raw_args()?.collect())),
            "encrypt-password" => parse_encrypt(&mut parser).map(Command::EncryptPassword),
            "ping" => parse_ping(&mut parser),
            "audit" => parse_audit(&mut parser).map(Command::Audit),
            "passwd" => parse_passwd(&mut parser).map(Command::Passwd),
            other => bail!("unknown command \"{other}\" (try `pgscram help`)"),
        }
    }
}

fn parse_encrypt(parser: &mut lexopt::Parser) -> anyhow::Result<EncryptOptions> {
    let mut options = EncryptOptions {
        user: None,
        method: Method::ScramSha256,
        iterations: pgscram_scram::DEFAULT_ITERATIONS,
    };
    while let Some(arg) = parser.next()? {
        match arg {
            Long("user") | Short('U') => options.user = Some(parser.value()?.string()?),
            Long("method") => {
                options.method = match parser.value()?.string()?.as_str() {
                    "scram-sha-256" => Method::ScramSha256,
                    "md5" => Method::Md5,
                    other => bail!("invalid method \"{other}\": use scram-sha-256 or md5"),
                }
            }
            Long("iterations") => options.iterations = iterations(parser)?,
            Long("password") | Short('p') => return Err(password_on_argv()),
            other => return Err(other.unexpected().into()),
        }
    }
    if options.method == Method::Md5 && options.user.is_none() {
        bail!("--method md5 needs --user: md5 secrets mix the role name into the hash");
    }
    Ok(options)
}

fn iterations(parser: &mut lexopt::Parser) -> anyhow::Result<u32> {
    let text = parser.value()?.string()?;
    text.parse::<u32>()
        .ok()
        .filter(|n| (1..=pgscram_scram::verifier::MAX_ITERATIONS).contains(n))
        .with_context(|| format!("invalid iteration count \"{text}\": use 1..2147483647"))
}

pub(crate) fn password_on_argv() -> anyhow::Error {
    anyhow::anyhow!(
        "passwords are not accepted on the command line; pgscram reads them from a prompt or stdin"
    )
}

/// Connection-string keywords whose values are secrets: on argv they would be visible
/// to every user of the machine.
const SECRET_KEYWORDS: [&str; 3] = ["password", "scram_client_key", "sslpassword"];

/// Takes the CONNINFO operand and refuses it if it carries a secret.
pub(crate) fn conninfo_operand(value: OsString) -> anyhow::Result<String> {
    let text = value
        .into_string()
        .map_err(|_| anyhow::anyhow!("the connection string is not valid UTF-8"))?;
    // A string that does not parse is reported when connecting, with libpq's text.
    if let Ok(info) = pgscram_auth::conninfo::ConnInfo::parse(&text)
        && let Some(key) = SECRET_KEYWORDS.iter().find(|k| info.get(k).is_some())
    {
        bail!(
            "the connection string holds a secret ({key}); secrets are not accepted on the \
             command line: use PGPASSWORD, a .pgpass file, or the prompt"
        );
    }
    Ok(text)
}

fn parse_ping(parser: &mut lexopt::Parser) -> anyhow::Result<Command> {
    let mut conninfo = None;
    while let Some(arg) = parser.next()? {
        match arg {
            Value(v) if conninfo.is_none() => conninfo = Some(conninfo_operand(v)?),
            Long("password") => return Err(password_on_argv()),
            other => return Err(other.unexpected().into()),
        }
    }
    let conninfo = conninfo.context("ping needs a connection string: pgscram ping CONNINFO")?;
    Ok(Command::Ping { conninfo })
}

fn parse_audit(parser: &mut lexopt::Parser) -> anyhow::Result<AuditOptions> {
    let mut conninfo = None;
    let mut json = false;
    let mut min_iterations = None;
    while let Some(arg) = parser.next()? {
        match arg {
            Long("json") => json = true,
            Long("min-iterations") => min_iterations = Some(iterations(parser)?),
            Long("password") => return Err(password_on_argv()),
            Value(v) if conninfo.is_none() => conninfo = Some(conninfo_operand(v)?),
            other => return Err(other.unexpected().into()),
        }
    }
    let conninfo = conninfo.context("audit needs a connection string: pgscram audit CONNINFO")?;
    Ok(AuditOptions {
        conninfo,
        json,
        min_iterations,
    })
}

fn parse_passwd(parser: &mut lexopt::Parser) -> anyhow::Result<PasswdOptions> {
    let mut conninfo = None;
    let mut role = None;
    let mut iterations_opt = None;
    let mut keep_old_for = None;
    while let Some(arg) = parser.next()? {
        match arg {
            Long("iterations") => iterations_opt = Some(iterations(parser)?),
            Long("keep-old-for") => {
                let text = parser.value()?.string()?;
                let time = pgscram_server::config::parse_time(&text)
                    .map_err(|e| anyhow::anyhow!("--keep-old-for: {e}"))?;
                if time.is_zero() {
                    bail!("--keep-old-for must be more than 0");
                }
                keep_old_for = Some(time);
            }
            Long("password") | Short('p') => return Err(password_on_argv()),
            Value(v) if conninfo.is_none() => conninfo = Some(conninfo_operand(v)?),
            Value(v) if role.is_none() => role = Some(v.string()?),
            other => return Err(other.unexpected().into()),
        }
    }
    let conninfo =
        conninfo.context("passwd needs a connection string: pgscram passwd CONNINFO [ROLE]")?;
    if role.as_deref() == Some("") {
        bail!("the role name is empty");
    }
    if keep_old_for.is_some() && iterations_opt.is_some() {
        bail!("--keep-old-for uses the old password's iteration count: drop --iterations");
    }
    Ok(PasswdOptions {
        conninfo,
        role,
        iterations: iterations_opt,
        keep_old_for,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> anyhow::Result<Command> {
        Command::parse(args.iter().map(OsString::from))
    }

    #[test]
    fn encrypt_password_options() {
        let Command::EncryptPassword(o) =
            parse(&["encrypt-password", "--iterations", "10000"]).unwrap()
        else {
            panic!("wrong command");
        };
        assert_eq!((o.method, o.iterations), (Method::ScramSha256, 10000));
        assert!(parse(&["encrypt-password", "--iterations", "0"]).is_err());
        assert!(parse(&["encrypt-password", "--method", "md5"]).is_err());
        assert!(parse(&["encrypt-password", "--method", "md5", "--user", "u"]).is_ok());
    }

    #[test]
    fn client_commands() {
        let Command::Audit(a) = parse(&["audit", "host=h", "--json"]).unwrap() else {
            panic!("wrong command");
        };
        assert_eq!((a.conninfo.as_str(), a.json), ("host=h", true));
        assert!(parse(&["audit"]).is_err());
        let Command::Passwd(p) = parse(&["passwd", "host=h", "alice"]).unwrap() else {
            panic!("wrong command");
        };
        assert_eq!(p.role.as_deref(), Some("alice"));
        assert_eq!(p.keep_old_for, None);
        let Command::Passwd(p) = parse(&["passwd", "host=h", "--keep-old-for", "7d"]).unwrap()
        else {
            panic!("wrong command");
        };
        assert_eq!(
            p.keep_old_for,
            Some(std::time::Duration::from_secs(7 * 86_400))
        );
        assert!(parse(&["passwd", "host=h", "--keep-old-for", "7 weeks"]).is_err());
        assert!(parse(&["passwd", "host=h", "--keep-old-for", "0"]).is_err());
        assert!(parse(&["passwd", "host=h", "alice", "extra"]).is_err());
        assert!(matches!(
            parse(&["ping", "postgresql://h/db"]).unwrap(),
            Command::Ping { .. }
        ));
    }

    #[test]
    fn secrets_in_the_connection_string_are_refused() {
        for conninfo in [
            "host=h password=hunter2",
            "postgresql://u:hunter2@h/db",
            "host=h scram_client_key=AAAA",
        ] {
            for command in ["ping", "audit", "passwd"] {
                let err = parse(&[command, conninfo]).unwrap_err().to_string();
                assert!(err.contains("not accepted on the command line"), "{err}");
                assert!(!err.contains("hunter2"));
            }
        }
        for command in ["ping", "audit", "passwd"] {
            let err = parse(&[command, "host=h", "--password", "hunter2"])
                .unwrap_err()
                .to_string();
            assert!(err.contains("not accepted"), "{err}");
        }
    }

    #[test]
    fn passwords_on_argv_are_refused() {
        let err = parse(&["encrypt-password", "--password", "hunter2"])
            .unwrap_err()
            .to_string();
        assert!(err.contains("not accepted on the command line"));
        assert!(!err.contains("hunter2"));
    }
}
