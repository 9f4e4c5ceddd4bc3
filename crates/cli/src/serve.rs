//! `pgscram serve`: the PostgreSQL-wire server on its embedded database.

use std::ffi::OsString;
use std::process::ExitCode;

pub fn run(_args: Vec<OsString>) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`pgscram serve` is not built yet (issue #3); see README.md")
}
