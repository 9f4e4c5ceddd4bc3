//! `pgscram encrypt-password`: what libpq's PQencryptPasswordConn does, on the command line.

use std::process::ExitCode;

use anyhow::Context as _;

use crate::args::{EncryptOptions, Method};
use crate::secret_input::read_new_password;

pub fn run(options: &EncryptOptions) -> anyhow::Result<ExitCode> {
    let password = read_new_password("Password: ")?;
    let secret = match options.method {
        Method::ScramSha256 => {
            let mut salt = [0u8; pgscram_scram::verifier::DEFAULT_SALT_LEN];
            getrandom::getrandom(&mut salt).context("no system randomness for the salt")?;
            pgscram_scram::ScramVerifier::derive(password.as_bytes(), &salt, options.iterations)?
                .to_string()
        }
        Method::Md5 => {
            let user = options.user.as_deref().unwrap_or_default();
            pgscram_scram::md5::md5_secret(password.as_bytes(), user)
        }
    };
    println!("{secret}");
    Ok(ExitCode::SUCCESS)
}
