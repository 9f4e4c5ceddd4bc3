//! Connecting for the client commands: the connection string (with PG* variables and
//! .pgpass), then, like psql, a no-echo prompt when the server wants a password that
//! was not given and a terminal is there to ask.

use std::io::IsTerminal as _;

use anyhow::Context as _;
use pgscram_client::{Config, Connection, Error};
use zeroize::Zeroizing;

/// Runs `future` on a single-threaded runtime: the commands make one connection at a
/// time.
pub fn block_on<F: std::future::Future>(future: F) -> anyhow::Result<F::Output> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("could not start the async runtime")?;
    Ok(runtime.block_on(future))
}

/// Reads the settings; prints libpq's warning when .pgpass was ignored.
pub fn config(conninfo: &str) -> anyhow::Result<Config> {
    let config = Config::parse(conninfo).map_err(connection_error)?;
    if let Some(warning) = config.pgpass_warning() {
        eprintln!("WARNING: {warning}");
    }
    Ok(config)
}

/// Connects; asks for the password on the terminal if the server wants one.
pub async fn connect(config: &mut Config) -> anyhow::Result<Connection> {
    match pgscram_client::connect_with(config).await {
        Err(Error::NoPassword) if std::io::stdin().is_terminal() => {
            let prompt = format!("Password for user {}: ", config.conn().user);
            let password =
                Zeroizing::new(rpassword::prompt_password(prompt).context("reading password")?);
            config.set_password(Some(&password));
            pgscram_client::connect_with(config)
                .await
                .map_err(connection_error)
        }
        result => result.map_err(connection_error),
    }
}

/// libpq's framing of a failed connection; errors that already name the server (or
/// are about the settings) are shown as they are.
pub fn connection_error(error: Error) -> anyhow::Error {
    match error {
        Error::AllHostsFailed(_) | Error::Config(_) | Error::Connect { .. } => {
            anyhow::anyhow!("{error}")
        }
        other => anyhow::anyhow!("connection to server failed: {other}"),
    }
}
