//! Command-line parsing. Secrets never come from here: argv is visible to every user
//! of the machine (`ps`), so passwords are read by `secret_input` instead.

use std::ffi::OsString;

use anyhow::{Context as _, bail};
use lexopt::prelude::*;

pub const USAGE: &str = "\
usage: pgscram <command> [options]

commands:
  serve                         run the PostgreSQL-wire server on its embedded database
  encrypt-password [options]    read a password (prompt or stdin) and print its verifier
      --user U                  role name (md5 mixes it into the hash)
      --method scram-sha-256|md5
      --iterations N            SCRAM iteration count (default 4096)
  help, --help                  this text
  --version                     print the version

Passwords are never taken from the command line: pgscram prompts without echo when
standard input is a terminal, and reads one line from standard input otherwise.
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
pub enum Command {
    Help,
    Version,
    /// `serve` parses its own options (see `serve.rs`).
    Serve(Vec<OsString>),
    EncryptPassword(EncryptOptions),
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
            "encrypt-password" => parse_encrypt(&mut parser).map(Command::EncryptPassword),
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
            Long("iterations") => {
                let text = parser.value()?.string()?;
                options.iterations = text
                    .parse::<u32>()
                    .ok()
                    .filter(|n| (1..=pgscram_scram::verifier::MAX_ITERATIONS).contains(n))
                    .with_context(|| {
                        format!("invalid iteration count \"{text}\": use 1..2147483647")
                    })?;
            }
            Long("password") | Short('p') => {
                bail!(
                    "passwords are not accepted on the command line; pgscram reads them from a prompt or stdin"
                )
            }
            other => return Err(other.unexpected().into()),
        }
    }
    if options.method == Method::Md5 && options.user.is_none() {
        bail!("--method md5 needs --user: md5 secrets mix the role name into the hash");
    }
    Ok(options)
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
    fn passwords_on_argv_are_refused() {
        let err = parse(&["encrypt-password", "--password", "hunter2"])
            .unwrap_err()
            .to_string();
        assert!(err.contains("not accepted on the command line"));
        assert!(!err.contains("hunter2"));
    }
}
