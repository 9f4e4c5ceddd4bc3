//! `pgscram passwd`: what psql's `\password` does, then a proof that it worked.
//!
//! ```text
//! connect (admin) ── SHOW scram_iterations (4096 before 16) ── new password (prompt|stdin)
//!   ── ScramVerifier::derive(password, 16 random bytes, iterations)   here, never on the server
//!   ── ALTER ROLE "role" PASSWORD 'SCRAM-SHA-256$...'                  the plaintext never leaves
//!   ── connect as role, require_auth=scram-sha-256 ── server signature verified
//! ```
//!
//! With `--keep-old-for TIME` (pgscram serve's two-password rotation) the new verifier
//! is made with the salt and iteration count of the role's current one (read from the
//! superuser-only `pgscram_passwords`: SCRAM sends one salt for both), added with
//! `ADD SECOND PASSWORD`, and the old one is given `VALID UNTIL now + TIME`, in one
//! transaction.

use std::process::ExitCode;
use std::time::SystemTime;

use anyhow::{Context as _, bail};
use pgscram_auth::client_policy::RequireAuth;
use pgscram_client::{Connection, Error};
use pgscram_scram::ScramVerifier;
use pgscram_scram::verifier::{DEFAULT_ITERATIONS, DEFAULT_SALT_LEN};
use pgscram_wire::SqlState;

use crate::args::PasswdOptions;
use crate::login;
use crate::secret_input::read_new_password;
use crate::sql::{quote_ident, quote_literal};

pub fn run(options: &PasswdOptions) -> anyhow::Result<ExitCode> {
    let mut config = login::config(&options.conninfo)?;
    login::block_on(async {
        let mut admin = login::connect(&mut config).await?;
        let role = match &options.role {
            Some(role) => role.clone(),
            None => single_value(&mut admin, "SELECT current_user").await?,
        };
        let can_login = single_value(
            &mut admin,
            &format!(
                "SELECT rolcanlogin FROM pg_catalog.pg_roles WHERE rolname = {}",
                quote_literal(&role)
            ),
        )
        .await
        .with_context(|| format!("role \"{role}\" does not exist"))?;
        if let Some(keep) = options.keep_old_for {
            let current = current_verifier(&mut admin, &role).await?;
            let password = read_new_password(&format!("New password for role \"{role}\": "))?;
            let verifier =
                ScramVerifier::derive(password.as_bytes(), current.salt(), current.iterations())?;
            let until = pgscram_embedded::Timestamp::from_system_time(SystemTime::now() + keep);
            let role_sql = quote_ident(&role);
            admin
                .simple_query(&format!(
                    "BEGIN; ALTER ROLE {role_sql} ADD SECOND PASSWORD {}; \
                     ALTER ROLE {role_sql} FIRST PASSWORD VALID UNTIL {}; COMMIT",
                    quote_literal(&verifier.to_string()),
                    quote_literal(&until.to_string())
                ))
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))
                .with_context(|| format!("could not add a password to role \"{role}\""))?;
            admin.close().await;
            println!(
                "second password of role \"{role}\" added; the old one works until {until}, \
                 then only the new one (see pgscram_passwords; ALTER ROLE ... DROP FIRST \
                 PASSWORD ends the rotation at once)"
            );
            return check_login(config, &role, &can_login, &password).await;
        }
        let iterations = match options.iterations {
            Some(n) => n,
            None => server_iterations(&mut admin).await?,
        };

        let password = read_new_password(&format!("New password for role \"{role}\": "))?;
        let mut salt = [0u8; DEFAULT_SALT_LEN];
        getrandom::getrandom(&mut salt).context("no system randomness for the salt")?;
        let verifier = ScramVerifier::derive(password.as_bytes(), &salt, iterations)?;
        admin
            .simple_query(&format!(
                "ALTER ROLE {} PASSWORD {}",
                quote_ident(&role),
                quote_literal(&verifier.to_string())
            ))
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))
            .with_context(|| format!("could not set the password of role \"{role}\""))?;
        admin.close().await;
        println!(
            "password of role \"{role}\" set: SCRAM-SHA-256 verifier made here, {iterations} iterations"
        );
        check_login(config, &role, &can_login, &password).await
    })?
}

/// Logs in as `role` with the new password, SCRAM only, to prove it works.
async fn check_login(
    mut config: pgscram_client::Config,
    role: &str,
    can_login: &str,
    password: &str,
) -> anyhow::Result<ExitCode> {
    if can_login != "t" {
        println!("role \"{role}\" cannot log in (NOLOGIN): login check skipped");
        return Ok(ExitCode::SUCCESS);
    }
    config.set_user(role);
    config.set_password(Some(password));
    config.conn_mut().require_auth = RequireAuth::parse("scram-sha-256")?;
    match pgscram_client::connect_with(&config).await {
        Ok(connection) => {
            let n = connection.negotiated();
            println!(
                "checked: logged in as \"{role}\" with {}, server signature verified",
                n.mechanism.unwrap_or("SCRAM")
            );
            connection.close().await;
            Ok(ExitCode::SUCCESS)
        }
        Err(error) => {
            eprintln!("pgscram: the SCRAM login check as \"{role}\" failed: {error}");
            if matches!(error, Error::Policy(_)) {
                eprintln!(
                    "HINT: pg_hba.conf may not ask this role for a password on this connection; \
                     the new password is set all the same"
                );
            }
            Ok(ExitCode::from(1))
        }
    }
}

/// The role's one SCRAM verifier, whose salt and iteration count a second password
/// must share. Refuses a role mid-rotation, an md5 role, and servers without rotation.
async fn current_verifier(admin: &mut Connection, role: &str) -> anyhow::Result<ScramVerifier> {
    let result = admin
        .query(&format!(
            "SELECT password, rolpassword FROM pgscram_passwords WHERE rolname = {}",
            quote_literal(role)
        ))
        .await;
    let rows = match result {
        Ok(result) => result.rows,
        Err(e) if e.sqlstate() == Some(SqlState::UNDEFINED_TABLE) => {
            bail!(
                "this server has no two-password rotation (pgscram_passwords): --keep-old-for needs pgscram serve"
            )
        }
        Err(e) if e.sqlstate() == Some(SqlState::INSUFFICIENT_PRIVILEGE) => {
            bail!(
                "--keep-old-for reads the role's salt from pgscram_passwords: connect as a superuser"
            )
        }
        Err(e) => return Err(anyhow::anyhow!("{e}")),
    };
    match rows.as_slice() {
        [] => bail!("role \"{role}\" has no password to keep: set one with pgscram passwd"),
        [row] => {
            let secret = row.get(1).cloned().flatten().unwrap_or_default();
            ScramVerifier::parse(&secret).map_err(|_| {
                anyhow::anyhow!(
                    "the password of role \"{role}\" is not a SCRAM-SHA-256 verifier: a second password shares its salt"
                )
            })
        }
        _ => bail!(
            "role \"{role}\" already has two passwords: end that rotation first (ALTER ROLE ... DROP FIRST PASSWORD)"
        ),
    }
}

/// The iteration count psql's `\password` would use: `scram_iterations` (PostgreSQL
/// 16+), else PostgreSQL's fixed 4096.
async fn server_iterations(connection: &mut Connection) -> anyhow::Result<u32> {
    match connection.query("SHOW scram_iterations").await {
        Ok(result) => {
            let text = result
                .rows
                .first()
                .and_then(|row| row.first().cloned().flatten())
                .context("SHOW scram_iterations returned no value")?;
            text.parse::<u32>()
                .ok()
                .filter(|n| *n >= 1)
                .with_context(|| format!("server reports an invalid scram_iterations \"{text}\""))
        }
        Err(error) if error.sqlstate() == Some(SqlState::UNDEFINED_OBJECT) => {
            Ok(DEFAULT_ITERATIONS)
        }
        Err(error) => Err(anyhow::anyhow!("{error}")),
    }
}

async fn single_value(connection: &mut Connection, sql: &str) -> anyhow::Result<String> {
    let result = connection
        .query(sql)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    match result.rows.first().and_then(|row| row.first()) {
        Some(Some(value)) => Ok(value.clone()),
        _ => bail!("no value returned"),
    }
}
