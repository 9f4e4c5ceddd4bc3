//! Authentication of one connection, the way PostgreSQL's `ClientAuthentication` does it:
//! find the pg_hba rule, run its method, and fail every credential problem with the same
//! `28P01 password authentication failed for user "u"`, the reason going to the log only.
//!
//! Unknown roles, roles without a password, expired passwords and md5 secrets under a
//! `scram-sha-256` rule all run a full SCRAM exchange against a mock verifier first, so
//! an attacker cannot tell them from a wrong password (no role enumeration).

use std::time::SystemTime;

use pgscram_auth::hba::{AuthMethod, ConnKind, ConnRequest, HbaRule};
use pgscram_scram::md5::Md5Secret;
use pgscram_scram::{
    Channel, Credentials, MockSecret, Nonce, Outcome, ProofVerified, ScramVerifier, ServerError,
    ServerExchange, StoredSecret, VerifierPair,
};
use pgscram_wire::frame::limits;
use pgscram_wire::{Authentication, ErrorFields, SqlState};
use zeroize::Zeroizing;

use crate::backend::LoginSecrets;
use crate::config::{PasswordEncryption, UpgradeMd5};
use crate::hash_pool::HashPool;
use crate::random::random_bytes;
use crate::reply;
use crate::store::{PasswordStore, PasswordUsed, Role, Secret, StoreError};
use crate::stream::{Conn, ReadError};

/// What the connection knows when authentication starts.
pub(crate) struct AuthContext<'a> {
    pub user: &'a str,
    /// The request as pg_hba saw it (for the `rejects` message).
    pub request: ConnRequest<'a>,
    /// tls-server-end-point of our certificate, when TLS is up and binding is possible.
    pub end_point: Option<&'a [u8]>,
    /// The store's answer for the user: looked up once, before pg_hba matching.
    pub role: &'a Result<Option<Role>, StoreError>,
}

/// What authentication needs from the server: nothing else of it.
pub(crate) struct AuthEnv<'a> {
    pub mock: &'a MockSecret,
    pub scram_iterations: u32,
    pub password_encryption: PasswordEncryption,
    pub hash_pool: &'a HashPool,
    /// `upgrade_md5_on_login`.
    pub upgrade_md5: UpgradeMd5,
    /// Where an upgraded secret is written.
    pub store: &'a dyn PasswordStore,
}

/// Proof that the client authenticated: the only way to send AuthenticationOk
/// ([`Authenticated::queue_ok`]). After SCRAM it can only be made from the
/// [`ProofVerified`] token of a constant-time proof check.
pub(crate) struct Authenticated {
    /// `None` for the methods that compare no SCRAM proof (trust, md5, password).
    _proof: Option<ProofVerified>,
}

impl Authenticated {
    /// Queues AuthenticationOk. It leaves with what follows it (the session's
    /// greeting or the error that refuses it): one write, and one wake-up of the
    /// client, instead of two.
    pub fn queue_ok(&self, conn: &mut Conn) -> std::io::Result<()> {
        reply::queue_authentication(conn, &Authentication::Ok)
    }

    /// After trust, or a constant-time md5 or cleartext comparison.
    fn without_proof() -> Self {
        Authenticated { _proof: None }
    }
}

/// How authentication ended. Made once per login and consumed at once, so the size of
/// the failure variant (a whole ErrorFields) costs nothing worth boxing.
#[allow(clippy::large_enum_variant)]
pub(crate) enum AuthResult {
    /// Authenticated; carries the proof of it and, after SCRAM, the ClientKey
    /// recovered from the proof (the proxy logs in upstream with it).
    Ok {
        authenticated: Authenticated,
        /// What can log the client in upstream (the proxy): the ClientKey after SCRAM,
        /// the md5 secret after md5, the password after an md5 upgrade.
        secrets: LoginSecrets,
        /// The role's md5 secret was replaced by a SCRAM verifier during this login.
        upgraded: bool,
        /// Which of the role's passwords logged in (`None` for trust).
        password: Option<PasswordUsed>,
    },
    /// Failed: `error` goes to the client (FATAL), `log` lines to the server log.
    Failed {
        error: ErrorFields,
        log: Vec<String>,
    },
    /// The client went away mid-exchange: PostgreSQL exits silently.
    Gone,
}

fn password_failed(user: &str, reason: String, rule: &HbaRule) -> AuthResult {
    AuthResult::Failed {
        error: ErrorFields::fatal(
            SqlState::INVALID_PASSWORD,
            format!("password authentication failed for user \"{user}\""),
        ),
        log: vec![reason, rule.matched_log_detail()],
    }
}

fn protocol_failure(error: ErrorFields) -> AuthResult {
    AuthResult::Failed { log: vec![], error }
}

/// Runs the rule's method. The caller has already matched the rule.
pub(crate) async fn authenticate(
    conn: &mut Conn,
    ctx: &AuthContext<'_>,
    rule: &HbaRule,
    env: &AuthEnv<'_>,
) -> AuthResult {
    match rule.method {
        AuthMethod::Trust => AuthResult::Ok {
            authenticated: Authenticated::without_proof(),
            secrets: LoginSecrets::default(),
            upgraded: false,
            password: None,
        },
        AuthMethod::Reject => AuthResult::Failed {
            error: ErrorFields::fatal(
                SqlState::INVALID_AUTHORIZATION_SPECIFICATION,
                pgscram_auth::hba::rejects_message(&ctx.request),
            ),
            log: vec![],
        },
        AuthMethod::Password => cleartext(conn, ctx, rule, env).await,
        AuthMethod::Md5 | AuthMethod::ScramSha256 => challenge(conn, ctx, rule, env).await,
    }
}

/// A role's passwords that work right now: the newest first, then the older one of a
/// rotation, each with the label the audit event reports.
struct Usable {
    secrets: Vec<(StoredSecret, PasswordUsed)>,
}

impl Usable {
    /// The password the md5 exchange and the md5 upgrade use: the newest that works.
    fn primary(&self) -> &StoredSecret {
        &self.secrets[0].0
    }
}

/// The role's passwords that are usable right now, or the log-only reason none is.
/// An expired password is left out; only when every one has expired is that the
/// reason (PostgreSQL's `User "u" has an expired password.`).
fn usable_secrets(user: &str, lookup: &Result<Option<Role>, StoreError>) -> Result<Usable, String> {
    let role = match lookup {
        Ok(Some(role)) => role,
        Ok(None) => return Err(format!("Role \"{user}\" does not exist.")),
        Err(e) => return Err(format!("Could not look up role \"{user}\": {e}")),
    };
    let now = SystemTime::now();
    let mut candidates = Vec::with_capacity(2);
    if let Some(secret) = &role.secret {
        candidates.push((secret, role.valid_until, PasswordUsed::Newest));
    }
    if let Some(older) = &role.older {
        candidates.push((&older.secret, older.valid_until, PasswordUsed::Older));
    }
    if candidates.is_empty() {
        return Err(format!("User \"{user}\" has no password assigned."));
    }
    let mut secrets = Vec::with_capacity(candidates.len());
    for (secret, valid_until, used) in candidates {
        if valid_until.is_some_and(|until| until <= now) {
            continue;
        }
        let classified = StoredSecret::classify(secret.expose())
            .map_err(|e| format!("User \"{user}\" has an invalid password secret: {e}."))?;
        secrets.push((classified, used));
    }
    if secrets.is_empty() {
        return Err(format!("User \"{user}\" has an expired password."));
    }
    Ok(Usable { secrets })
}

/// The SCRAM credentials for the usable passwords, and which password each verifier
/// index of [`Outcome::Success`] stands for. The newest usable password decides: if it
/// is not SCRAM, the exchange is doomed. An older SCRAM verifier is checked with it
/// (older first) when the two share salt and iterations; a pair that does not (a custom
/// store's mistake: the catalog refuses it) is logged and only the newest is used.
fn scram_credentials(
    user: &str,
    usable: Usable,
    env: &AuthEnv<'_>,
) -> (Credentials, [PasswordUsed; 2]) {
    let mut secrets = usable.secrets.into_iter();
    let Some((StoredSecret::Scram(newest), newest_used)) = secrets.next() else {
        let reason = format!("User \"{user}\" does not have a valid SCRAM secret.");
        return (doomed(user, env, reason), [PasswordUsed::Newest; 2]);
    };
    let older = secrets.find_map(|(secret, used)| match secret {
        StoredSecret::Scram(verifier) => Some((verifier, used)),
        _ => None,
    });
    let Some((older, older_used)) = older else {
        return (Credentials::Verifier(newest), [newest_used; 2]);
    };
    match VerifierPair::new(older, newest.clone()) {
        Ok(pair) => (Credentials::Rotating(pair), [older_used, newest_used]),
        Err(e) => {
            tracing::warn!("role \"{user}\": {e}; only its newest password is checked");
            (Credentials::Verifier(newest), [newest_used; 2])
        }
    }
}

/// `md5` and `scram-sha-256` rules. Under `md5`, a role whose secret is SCRAM (or a
/// role that does not exist while password_encryption is scram-sha-256) gets SCRAM:
/// PostgreSQL's rule, which lets md5 lines keep working after roles upgrade.
async fn challenge(
    conn: &mut Conn,
    ctx: &AuthContext<'_>,
    rule: &HbaRule,
    env: &AuthEnv<'_>,
) -> AuthResult {
    let usable = usable_secrets(ctx.user, ctx.role);
    if let Ok(StoredSecret::Md5(stored)) = usable.as_ref().map(Usable::primary)
        && env.upgrade_md5 == UpgradeMd5::On
        && env.store.replaces_secrets()
        && matches!(ctx.request.kind, ConnKind::Host { ssl: true, .. })
    {
        return upgrade_md5(conn, ctx, rule, env, stored.clone()).await;
    }
    let use_md5 = rule.method == AuthMethod::Md5
        && match usable.as_ref().map(Usable::primary) {
            Ok(StoredSecret::Md5(_)) => true,
            Ok(_) => false,
            Err(_) => env.password_encryption == PasswordEncryption::Md5,
        };
    if use_md5 {
        let primary = usable.map(|u| u.secrets.into_iter().next().expect("one or more"));
        return md5_exchange(conn, ctx, rule, primary).await;
    }
    let (credentials, labels) = match usable {
        Ok(usable) => scram_credentials(ctx.user, usable, env),
        Err(reason) => (doomed(ctx.user, env, reason), [PasswordUsed::Newest; 2]),
    };
    scram_exchange(conn, ctx, rule, credentials, labels).await
}

fn doomed(user: &str, env: &AuthEnv<'_>, reason: String) -> Credentials {
    let mock = env
        .mock
        .verifier(user, env.scram_iterations)
        .or_else(|_| env.mock.verifier(user, pgscram_scram::DEFAULT_ITERATIONS));
    match mock {
        Ok(mock) => Credentials::Doomed { mock, reason },
        // Unreachable with a valid iteration count; fall back to a fixed shape.
        Err(_) => Credentials::Doomed {
            mock: ScramVerifier::derive(b"", &[0; 16], 1).expect("fixed mock parameters are valid"),
            reason,
        },
    }
}

async fn scram_exchange(
    conn: &mut Conn,
    ctx: &AuthContext<'_>,
    rule: &HbaRule,
    credentials: Credentials,
    labels: [PasswordUsed; 2],
) -> AuthResult {
    let channel = match ctx.end_point {
        Some(end_point) => Channel::tls_server_end_point(end_point),
        None => Channel::unbound(),
    };
    let mechanisms = channel
        .mechanisms()
        .iter()
        .map(|m| m.name().to_owned())
        .collect();
    if reply::authentication(conn, &Authentication::Sasl { mechanisms })
        .await
        .is_err()
    {
        return AuthResult::Gone;
    }
    let initial = match read_sasl(conn, ctx, rule).await {
        Ok(body) => body,
        Err(result) => return result,
    };
    let initial = match pgscram_wire::SaslInitialResponse::decode_body(&initial) {
        Ok(initial) => initial,
        Err(e) => return protocol_failure(ErrorFields::fatal(e.sqlstate(), e.to_string())),
    };
    let exchange = match ServerExchange::new(&initial.mechanism, channel, credentials) {
        Ok(exchange) => exchange,
        Err(e) => return protocol_failure(scram_error(&e)),
    };
    // No initial response (-1): answer with an empty SASLContinue and read client-first.
    let client_first = match initial.data {
        Some(data) => Zeroizing::new(data),
        None => {
            if reply::authentication(conn, &Authentication::SaslContinue(Vec::new()))
                .await
                .is_err()
            {
                return AuthResult::Gone;
            }
            match read_sasl(conn, ctx, rule).await {
                Ok(body) => body,
                Err(result) => return result,
            }
        }
    };
    let nonce = Nonce::from_random(&random_bytes());
    let (exchange, server_first) = match exchange.handle_client_first(&client_first, &nonce) {
        Ok(next) => next,
        Err(e) => return protocol_failure(scram_error(&e)),
    };
    if reply::authentication(
        conn,
        &Authentication::SaslContinue(server_first.into_bytes()),
    )
    .await
    .is_err()
    {
        return AuthResult::Gone;
    }
    let client_final = match read_sasl(conn, ctx, rule).await {
        Ok(body) => body,
        Err(result) => return result,
    };
    match exchange.handle_client_final(&client_final) {
        Ok(Outcome::Success {
            server_final,
            client_key,
            verified,
            verifier,
        }) => {
            // Queued: it leaves with AuthenticationOk and what follows (see `queue_ok`).
            let final_message = Authentication::SaslFinal(server_final.into_bytes());
            if reply::queue_authentication(conn, &final_message).is_err() {
                return AuthResult::Gone;
            }
            AuthResult::Ok {
                authenticated: Authenticated {
                    _proof: Some(verified),
                },
                secrets: LoginSecrets {
                    client_key: Some(client_key),
                    ..LoginSecrets::default()
                },
                upgraded: false,
                password: labels.get(verifier).copied(),
            }
        }
        Ok(Outcome::Failure { reason }) => {
            let reason = match reason {
                pgscram_scram::FailureReason::WrongPassword => {
                    format!("Password does not match for user \"{}\".", ctx.user)
                }
                pgscram_scram::FailureReason::Doomed(reason) => reason,
            };
            password_failed(ctx.user, reason, rule)
        }
        Err(e) => protocol_failure(scram_error(&e)),
    }
}

/// Maps a SCRAM protocol error to what PostgreSQL sends.
pub(crate) fn scram_error(error: &ServerError) -> ErrorFields {
    let code = SqlState::parse(error.sqlstate()).unwrap_or(SqlState::PROTOCOL_VIOLATION);
    let fields = ErrorFields::fatal(code, error.message());
    match error.detail() {
        Some(detail) => fields.with_detail(detail),
        None => fields,
    }
}

/// Reads one authentication response ('p') of at most `limit` bytes. A message of
/// another type is PostgreSQL's `expected <what> response, got message type N`; an
/// oversized one gets the generic 28P01 on the wire and `invalid message length` in the
/// log; a vanished client ends the exchange silently.
async fn read_response(
    conn: &mut Conn,
    ctx: &AuthContext<'_>,
    rule: &HbaRule,
    limit: u32,
    what: &str,
) -> Result<Zeroizing<Vec<u8>>, AuthResult> {
    match conn.read_message(limit).await {
        Ok(message) if message.tag() == b'p' => Ok(Zeroizing::new(message.into_body())),
        Ok(message) => Err(protocol_failure(ErrorFields::fatal(
            SqlState::PROTOCOL_VIOLATION,
            format!(
                "expected {what} response, got message type {}",
                message.tag()
            ),
        ))),
        Err(ReadError::Eof | ReadError::Io(_)) => Err(AuthResult::Gone),
        // Cut short, then gone: PostgreSQL fails the exchange with the generic 28P01
        // (sent, whether or not anyone still reads it).
        Err(ReadError::Truncated) => Err(password_failed(
            ctx.user,
            "incomplete message from client".to_owned(),
            rule,
        )),
        Err(ReadError::Protocol(_)) => Err(password_failed(
            ctx.user,
            "invalid message length".to_owned(),
            rule,
        )),
    }
}

/// Reads one SASL message, with PostgreSQL's 1024-byte limit.
async fn read_sasl(
    conn: &mut Conn,
    ctx: &AuthContext<'_>,
    rule: &HbaRule,
) -> Result<Zeroizing<Vec<u8>>, AuthResult> {
    read_response(conn, ctx, rule, limits::SASL_MESSAGE, "SASL").await
}

/// Asks for the password in cleartext (AuthenticationCleartextPassword) and reads it.
async fn ask_password(
    conn: &mut Conn,
    ctx: &AuthContext<'_>,
    rule: &HbaRule,
) -> Result<Zeroizing<Vec<u8>>, AuthResult> {
    if reply::authentication(conn, &Authentication::CleartextPassword)
        .await
        .is_err()
    {
        return Err(AuthResult::Gone);
    }
    read_password(conn, ctx, rule).await
}

/// Reads a PasswordMessage for the cleartext and md5 methods.
async fn read_password(
    conn: &mut Conn,
    ctx: &AuthContext<'_>,
    rule: &HbaRule,
) -> Result<Zeroizing<Vec<u8>>, AuthResult> {
    let body = read_response(conn, ctx, rule, limits::PASSWORD_MESSAGE, "password").await?;
    // One NUL-terminated string, nothing after it.
    let nul = match body.iter().position(|&b| b == 0) {
        Some(nul) if nul + 1 == body.len() => nul,
        _ => {
            return Err(protocol_failure(ErrorFields::fatal(
                SqlState::PROTOCOL_VIOLATION,
                "invalid password packet size",
            )));
        }
    };
    if nul == 0 {
        return Err(protocol_failure(ErrorFields::fatal(
            SqlState::INVALID_PASSWORD,
            "empty password returned by client",
        )));
    }
    Ok(Zeroizing::new(body[..nul].to_vec()))
}

async fn md5_exchange(
    conn: &mut Conn,
    ctx: &AuthContext<'_>,
    rule: &HbaRule,
    secret: Result<(StoredSecret, PasswordUsed), String>,
) -> AuthResult {
    let mut salt = [0u8; 4];
    salt.copy_from_slice(&random_bytes()[..4]);
    if reply::authentication(conn, &Authentication::Md5Password { salt })
        .await
        .is_err()
    {
        return AuthResult::Gone;
    }
    let response = match read_password(conn, ctx, rule).await {
        Ok(response) => response,
        Err(result) => return result,
    };
    match secret {
        Ok((StoredSecret::Md5(stored), used)) => {
            if pgscram_scram::md5::verify_response(stored.expose(), salt, &response) {
                AuthResult::Ok {
                    authenticated: Authenticated::without_proof(),
                    // The secret the client just proved it knows: what an md5 login
                    // upstream needs (the proxy's md5 pass-through).
                    secrets: LoginSecrets {
                        md5_secret: Some(stored),
                        ..LoginSecrets::default()
                    },
                    upgraded: false,
                    password: Some(used),
                }
            } else {
                password_failed(
                    ctx.user,
                    format!("Password does not match for user \"{}\".", ctx.user),
                    rule,
                )
            }
        }
        Ok(_) => password_failed(
            ctx.user,
            format!("User \"{}\" does not have a valid MD5 secret.", ctx.user),
            rule,
        ),
        Err(reason) => password_failed(ctx.user, reason, rule),
    }
}

/// `upgrade_md5_on_login`, for a role whose secret is md5, over TLS: the client is asked
/// for its password in cleartext (as the `password` method asks), which is checked
/// against the md5 secret in constant time. If it matches, a SCRAM verifier made from it
/// (fresh salt, the current `scram_iterations`, on the hashing pool) replaces the md5
/// secret, if that is still the stored one, in one durable write; the password is
/// zeroized when the check and the hashing are done. A wrong password changes nothing
/// and fails as any wrong password does.
async fn upgrade_md5(
    conn: &mut Conn,
    ctx: &AuthContext<'_>,
    rule: &HbaRule,
    env: &AuthEnv<'_>,
    stored: Md5Secret,
) -> AuthResult {
    let password = match ask_password(conn, ctx, rule).await {
        Ok(password) => password,
        Err(result) => return result,
    };
    // The backend may need the password (the proxy logs in upstream with it); it is
    // zeroized when the session start is dropped.
    let password_kept = Secret::new(String::from_utf8_lossy(&password).into_owned());
    let user = ctx.user.to_owned();
    let iterations = env.scram_iterations;
    let current = Secret::new(stored.expose());
    let verifier = env
        .hash_pool
        .run(move || {
            let computed = Zeroizing::new(pgscram_scram::md5::md5_secret(&password, &user));
            if !stored.ct_eq(&computed) {
                return None;
            }
            let salt = Zeroizing::new(random_bytes()[..16].to_vec());
            Some(ScramVerifier::derive(&password, &salt, iterations))
        })
        .await;
    let verifier = match verifier {
        None => {
            return password_failed(
                ctx.user,
                format!("Password does not match for user \"{}\".", ctx.user),
                rule,
            );
        }
        Some(Ok(verifier)) => verifier,
        // The password matched; only the new verifier could not be made (an iteration
        // count out of range): log in as md5 allows, and keep the md5 secret.
        Some(Err(e)) => {
            tracing::warn!(
                "could not make a SCRAM verifier for role \"{}\": {e}; its md5 secret stays",
                ctx.user
            );
            return md5_login(password_kept, false);
        }
    };
    let upgraded = match env
        .store
        .replace_secret(ctx.user, &current, Secret::new(verifier.to_string()))
        .await
    {
        Ok(replaced) => replaced,
        Err(e) => {
            tracing::warn!(
                "could not store the SCRAM verifier of role \"{}\": {e}; its md5 secret stays",
                ctx.user
            );
            false
        }
    };
    md5_login(password_kept, upgraded)
}

/// Success after a password checked against an md5 secret.
fn md5_login(password: Secret, upgraded: bool) -> AuthResult {
    AuthResult::Ok {
        authenticated: Authenticated::without_proof(),
        secrets: LoginSecrets {
            password: Some(password),
            ..LoginSecrets::default()
        },
        upgraded,
        password: Some(PasswordUsed::Newest),
    }
}

/// The `password` method: the client sends the password itself (over TLS, one hopes),
/// and the server checks it against the stored secret. For a SCRAM secret that means
/// PBKDF2 on the server: it runs on the blocking pool so a flood cannot stall the
/// runtime's workers.
async fn cleartext(
    conn: &mut Conn,
    ctx: &AuthContext<'_>,
    rule: &HbaRule,
    env: &AuthEnv<'_>,
) -> AuthResult {
    let password = match ask_password(conn, ctx, rule).await {
        Ok(password) => password,
        Err(result) => return result,
    };
    let usable = match usable_secrets(ctx.user, ctx.role) {
        Ok(usable) => usable,
        Err(reason) => return password_failed(ctx.user, reason, rule),
    };
    let user = ctx.user.to_owned();
    // Every usable password is checked, whichever matches.
    let matched = env
        .hash_pool
        .run(move || {
            let mut matched = None;
            for (secret, used) in usable.secrets {
                if cleartext_matches(&password, &user, secret) && matched.is_none() {
                    matched = Some(used);
                }
            }
            matched
        })
        .await;
    match matched {
        Some(used) => AuthResult::Ok {
            authenticated: Authenticated::without_proof(),
            secrets: LoginSecrets::default(),
            upgraded: false,
            password: Some(used),
        },
        None => password_failed(
            ctx.user,
            format!("Password does not match for user \"{}\".", ctx.user),
            rule,
        ),
    }
}

/// Whether `password` is the one `secret` was made from (PBKDF2 for SCRAM: run it on
/// the hashing pool).
fn cleartext_matches(password: &[u8], user: &str, secret: StoredSecret) -> bool {
    match secret {
        StoredSecret::Scram(stored) => {
            ScramVerifier::derive(password, stored.salt(), stored.iterations())
                .map(|derived| derived.ct_eq(&stored))
                .unwrap_or(false)
        }
        StoredSecret::Md5(stored) => {
            let computed = Zeroizing::new(pgscram_scram::md5::md5_secret(password, user));
            stored.ct_eq(&computed)
        }
        StoredSecret::Plaintext => false,
    }
}
