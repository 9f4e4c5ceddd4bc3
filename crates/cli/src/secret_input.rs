//! Reading passwords: a no-echo prompt (asked twice) on a terminal, one line from a pipe.

use std::io::{BufRead as _, IsTerminal as _};

use anyhow::{Context as _, bail};
use zeroize::Zeroizing;

/// Reads a new password. On a terminal it asks twice and compares; from a pipe it reads
/// one line (without its line ending). An empty password is refused, as PostgreSQL
/// refuses to store one.
pub fn read_new_password(prompt: &str) -> anyhow::Result<Zeroizing<String>> {
    let password = if std::io::stdin().is_terminal() {
        let first = Zeroizing::new(rpassword::prompt_password(prompt).context("reading password")?);
        let again = Zeroizing::new(
            rpassword::prompt_password("Enter it again: ").context("reading password")?,
        );
        if first != again {
            bail!("passwords didn't match");
        }
        first
    } else {
        let mut line = Zeroizing::new(String::new());
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .context("reading password from stdin")?;
        let trimmed = line.trim_end_matches(['\n', '\r']).len();
        line.truncate(trimmed);
        line
    };
    if password.is_empty() {
        bail!("empty password: not a valid password");
    }
    Ok(password)
}
