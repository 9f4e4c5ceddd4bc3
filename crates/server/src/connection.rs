//! The life of one client connection, as a pipeline where each stage knows only the
//! next: admission (caps) -> negotiation (TLS, cancel, startup packet) -> one store
//! lookup -> pg_hba match -> authentication -> PostgreSQL's post-authentication checks
//! -> the backend's session.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use pgscram_auth::hba::{AuthMethod, ConnKind, ConnRequest, MatchEnv, NoResolver, RoleOracle};
use pgscram_wire::{ErrorFields, SqlState, StartupPacket};
use tracing::Instrument as _;

use crate::admission::{Handshake, PoolSlot, Refusal, RoleSlot, SessionSlot, Watch};
use crate::audit::{AuditEvent, Outcome};
use crate::authenticate::{AuthContext, AuthEnv, AuthResult, authenticate};
use crate::backend::{Client, SessionDefaults, SessionStart};
use crate::config::{LogConnections, Settings};
use crate::metrics::RefuseReason;
use crate::negotiate::{Negotiated, negotiate, read_first_packet};
use crate::reply;
use crate::state::ServerState;
use crate::store::{PasswordUsed, Role, StoreError};
use crate::stream::{Conn, Transport};
use crate::throttle::Admit;

/// Serves one accepted connection to its end, as connection `pid` in the log.
pub(crate) async fn handle(
    state: Arc<ServerState>,
    io: Box<dyn Transport>,
    peer: Option<SocketAddr>,
) {
    let pid = state.next_pid();
    let client = peer.map_or_else(|| "[local]".to_owned(), |p| p.to_string());
    let span =
        tracing::info_span!("connection", pid, client = %client, user = tracing::field::Empty);
    serve_connection(&state, io, peer, pid)
        .instrument(span)
        .await;
}

/// What is known about one attempt so far, for its audit event. Filled in as the
/// connection progresses, so a timeout still reports how far it got.
struct Attempt {
    pid: i32,
    client: Option<SocketAddr>,
    user: Option<String>,
    database: Option<String>,
    method: Option<AuthMethod>,
    hba: Option<(String, u32)>,
    ssl: bool,
    delay: Duration,
    /// Which of the role's passwords authenticated, once one did.
    password: Option<PasswordUsed>,
}

impl Attempt {
    fn new(pid: i32, client: Option<SocketAddr>) -> Self {
        Attempt {
            pid,
            client,
            user: None,
            database: None,
            method: None,
            hba: None,
            ssl: false,
            delay: Duration::ZERO,
            password: None,
        }
    }

    /// Counts the outcome and writes the audit event.
    fn finish(self, state: &ServerState, outcome: Outcome, reason: Option<String>) {
        state.metrics.attempt(self.method, outcome);
        if let (Outcome::Success, Some(password)) = (outcome, self.password) {
            state.metrics.password_login(password);
        }
        if let Some(audit) = &state.audit {
            audit.record(&AuditEvent {
                time: SystemTime::now(),
                pid: self.pid,
                client: self.client,
                user: self.user,
                database: self.database,
                method: self.method,
                hba: self.hba,
                ssl: self.ssl,
                outcome,
                reason,
                delay: self.delay,
                password: self.password,
            });
        }
    }
}

/// How startup and authentication ended.
enum Step<'a> {
    /// Authenticated and admitted: start the session.
    /// The last field is a note for the audit event (an upgraded secret).
    Ready(
        Conn,
        Box<SessionStart>,
        SessionSlot<'a>,
        RoleSlot<'a>,
        Option<String>,
    ),
    /// A failure whose error is still to be sent. `reason` is the log-only explanation.
    Failed {
        conn: Conn,
        error: Box<ErrorFields>,
        reason: Option<String>,
    },
    /// Already answered or nothing to answer. `None`: not an attempt (a cancel
    /// request, a client that left before its startup packet).
    Ended(Option<(Outcome, Option<String>)>),
}

/// How long a connection may stay silent before its startup packet when pending
/// connections fill more than half of `max_pending_connections`: under pressure,
/// connections that make no progress go first.
const SILENCE_UNDER_PRESSURE: Duration = Duration::from_secs(2);

async fn serve_connection(
    state: &ServerState,
    io: Box<dyn Transport>,
    peer: Option<SocketAddr>,
    pid: i32,
) {
    // Boxed: admission, the startup packet and the handshake need far more state than
    // a session's wait, and the task's own future is allocated for the connection's
    // whole life; the box goes once the login is over.
    let Some(LoggedIn {
        conn,
        start,
        session_slot,
        role_slot,
    }) = Box::pin(log_in(state, io, peer, pid)).await
    else {
        return;
    };
    let client = Client::new(conn, pid, state.cancel.clone(), state.shutdown.signal());
    state.backend.serve(start, client).await;
    drop((session_slot, role_slot));
}

/// A client that logged in and was admitted: what its session starts from.
struct LoggedIn<'a> {
    conn: Conn,
    /// Unboxed, so its box is freed with the login's state, not kept for the session.
    start: SessionStart,
    session_slot: SessionSlot<'a>,
    role_slot: RoleSlot<'a>,
}

/// Admission, the startup packet, the handshake and authentication, up to a session
/// or the connection's end (`None`: answered, audited and done).
async fn log_in<'a>(
    state: &'a ServerState,
    io: Box<dyn Transport>,
    peer: Option<SocketAddr>,
    pid: i32,
) -> Option<LoggedIn<'a>> {
    let settings = state.settings();
    state.metrics.accepted();
    let ip = peer.map(|p| p.ip());
    let mut attempt = Attempt::new(pid, peer);
    let mut conn = Conn::new(io);
    let watch = Arc::new(Watch::default());
    conn.set_watch(Some(watch.clone()));
    let pending = match admit_pending(state, &settings, ip).await {
        Ok(slot) => slot,
        Err(refusal) => {
            // As PostgreSQL's postmaster does when it cannot start a backend: the error
            // goes out at once, before reading anything (libpq shows it whether it sent
            // an SSLRequest or a startup packet).
            let (reason, why) = match refusal {
                Refusal::Total => (RefuseReason::Overload, "too many pending connections"),
                Refusal::PerAddress => (
                    RefuseReason::PerAddress,
                    "too many pending connections from this address",
                ),
            };
            state.metrics.refused(reason);
            let _ = reply::error(&mut conn, too_many_clients_error()).await;
            attempt.finish(
                state,
                Outcome::Refused,
                Some(format!("{why}; refused at accept")),
            );
            return None;
        }
    };
    let mut shutdown = state.shutdown.signal();
    // authentication_timeout covers the startup packet, the wait for a handshake slot,
    // TLS and the exchange: a slow client is cut wherever it stalls. A shutdown cuts
    // every connection that has not authenticated yet.
    let started = tokio::time::Instant::now();
    let deadline = started + settings.authentication_timeout;
    // The first packet is read before a handshake slot is taken: reading it is cheap
    // and bounded (10 000 bytes), so idle and half-open connections wait out their
    // timeout without holding a slot a real client needs.
    let first = {
        let silent = state.admission.silent(&watch);
        let read = tokio::time::timeout_at(deadline, read_first_packet(&mut conn));
        tokio::pin!(read);
        let mut tick = tokio::time::interval(Duration::from_millis(250));
        let first = loop {
            tokio::select! {
                read = &mut read => break read,
                () = shutdown.requested() => return None,
                () = watch.evict.notified() => {
                    attempt.finish(
                        state,
                        Outcome::Timeout,
                        Some("silent connection evicted: its place was needed".to_owned()),
                    );
                    return None;
                }
                _ = tick.tick() => {
                    let pressure = state.admission.pending.count() * 2 > settings.max_pending_connections;
                    if pressure && started.elapsed() >= SILENCE_UNDER_PRESSURE {
                        attempt.finish(
                            state,
                            Outcome::Timeout,
                            Some("silent while pending connections are scarce".to_owned()),
                        );
                        return None;
                    }
                }
            }
        };
        drop(silent);
        first
    };
    let first = match first {
        Ok(Ok(packet)) => packet,
        Ok(Err(None)) => return None,
        Ok(Err(Some(message))) => {
            attempt.finish(state, Outcome::ProtocolError, Some(message));
            return None;
        }
        Err(_) => {
            attempt.finish(
                state,
                Outcome::Timeout,
                Some("timeout before a complete startup packet".to_owned()),
            );
            return None;
        }
    };
    let handshake = tokio::select! {
        permit = tokio::time::timeout_at(deadline, state.admission.handshake(&state.metrics, &watch)) => permit,
        () = shutdown.requested() => return None,
    };
    let Ok(handshake) = handshake else {
        attempt.finish(
            state,
            Outcome::Timeout,
            Some("timed out waiting for a handshake slot".to_owned()),
        );
        return None;
    };
    let mut handshake = Some(handshake);
    let mut pending = Some(pending);
    let step = tokio::select! {
        step = tokio::time::timeout_at(
            deadline,
            // Boxed: the handshake's state (TLS, SCRAM) is allocated only for
            // connections that got this far, so a silent connection holds little.
            Box::pin(startup_and_authenticate(state, &settings, conn, first, peer, pid, &watch, &mut handshake, &mut pending, &mut attempt)),
        ) => step,
        () = shutdown.requested() => return None,
        () = watch.evict.notified() => {
            attempt.finish(
                state,
                Outcome::Timeout,
                Some("stalled handshake evicted: its slot was needed".to_owned()),
            );
            return None;
        }
    };
    // Whatever follows (a session) is no longer handshake work.
    drop(handshake);
    match step {
        Err(_) => {
            // Slow-loris, or a client that never answers: cut without a word, as
            // PostgreSQL does.
            attempt.finish(
                state,
                Outcome::Timeout,
                Some("authentication timeout".to_owned()),
            );
        }
        Ok(Step::Ready(mut conn, start, session_slot, role_slot, note)) => {
            // Authenticated: no longer pending, so no longer capped per address, and
            // no longer watched for stalls (reads skip that bookkeeping from now on).
            drop(pending.take());
            conn.set_watch(None);
            attempt.finish(state, Outcome::Success, note);
            return Some(LoggedIn {
                conn,
                start: *start,
                session_slot,
                role_slot,
            });
        }
        Ok(Step::Failed {
            mut conn,
            error,
            reason,
        }) => {
            let outcome = if error.code == SqlState::INVALID_PASSWORD {
                Outcome::Failure
            } else if error.code == SqlState::INVALID_AUTHORIZATION_SPECIFICATION {
                Outcome::Rejected
            } else {
                Outcome::ProtocolError
            };
            if outcome == Outcome::Failure {
                let user = attempt.user.as_deref().unwrap_or_default();
                state.throttle.record_failure(ip, user);
            }
            attempt.finish(
                state,
                outcome,
                reason.or_else(|| Some(error.message.clone())),
            );
            // The error goes out at once: the throttle slows the next check instead.
            let _ = reply::error(&mut conn, *error).await;
        }
        Ok(Step::Ended(Some((outcome, reason)))) => attempt.finish(state, outcome, reason),
        Ok(Step::Ended(None)) => {}
    }
    None
}

/// The pg_hba role oracle, answered from the one store lookup of this login.
struct LookedUp<'a> {
    user: &'a str,
    role: Option<&'a Role>,
}

impl RoleOracle for LookedUp<'_> {
    fn is_member(&self, user: &str, group: &str) -> bool {
        user == self.user && self.role.is_some_and(|r| r.is_member_of(user, group))
    }
}

#[allow(clippy::too_many_arguments)]
async fn startup_and_authenticate<'a>(
    state: &'a ServerState,
    settings: &Settings,
    conn: Conn,
    first: StartupPacket,
    peer: Option<SocketAddr>,
    pid: i32,
    watch: &Arc<Watch>,
    handshake: &mut Option<Handshake<'a>>,
    pending: &mut Option<PoolSlot<'a>>,
    attempt: &mut Attempt,
) -> Step<'a> {
    let (mut conn, startup, tls) =
        match negotiate(conn, first, state.tls.as_ref(), &state.cancel).await {
            Negotiated::Startup(conn, startup, tls) => (conn, startup, tls),
            Negotiated::Ended(outcome) => return Step::Ended(outcome),
        };
    let ssl = tls.is_some();
    let ip = peer.map(|p| p.ip());
    attempt.ssl = ssl;
    attempt.user = Some(startup.user().to_owned());
    attempt.database = Some(startup.database().to_owned());
    tracing::Span::current().record("user", startup.user());
    if state.admission.sessions() >= settings.max_connections {
        return too_many_clients(&mut conn, TOO_MANY_CLIENTS).await;
    }
    if let Some(negotiate) = startup.negotiation(pgscram_wire::ProtocolVersion::LATEST) {
        let _ = reply::push(
            &mut conn,
            &pgscram_wire::BackendMessage::NegotiateProtocolVersion(negotiate),
        );
    }
    let user = startup.user().to_owned();
    let database = startup.database().to_owned();
    // The one lookup of this login: pg_hba's `+group`, the exchange, and every check
    // after it work from this answer.
    let lookup: Result<Option<Role>, StoreError> = state.store.role(&user).await;
    let kind = match peer {
        Some(addr) => ConnKind::Host {
            addr: addr.ip(),
            ssl,
        },
        None => ConnKind::Local,
    };
    let request = ConnRequest {
        kind,
        database: &database,
        user: &user,
        physical_replication: false,
    };
    // The matched rule is borrowed from this snapshot of the rules (a reload swaps in
    // a new one), not copied.
    let hba = state.hba();
    let matched = {
        let roles = LookedUp {
            user: &user,
            role: lookup.as_ref().ok().and_then(Option::as_ref),
        };
        let env = MatchEnv {
            roles: &roles,
            resolver: &NoResolver,
            interfaces: &state.interfaces,
        };
        hba.check(&request, &env)
    };
    let Some(rule) = matched else {
        let message = pgscram_auth::hba::no_entry_message(&request);
        tracing::error!("{message}");
        let _ = reply::error(
            &mut conn,
            ErrorFields::fatal(
                SqlState::INVALID_AUTHORIZATION_SPECIFICATION,
                message.clone(),
            ),
        )
        .await;
        return Step::Ended(Some((Outcome::Rejected, Some(message))));
    };
    attempt.method = Some(rule.method);
    attempt.hba = Some((rule.file.clone(), rule.line));
    let end_point = if ssl {
        state.tls.as_ref().and_then(|t| t.end_point.as_deref())
    } else {
        None
    };
    // A connection that waited keeps its waiting place until authentication ends.
    let mut _waiting = None;
    if matches!(
        rule.method,
        AuthMethod::Md5 | AuthMethod::ScramSha256 | AuthMethod::Password
    ) {
        match state.throttle.admit(ip, &user) {
            Admit::After(wait) if wait.is_zero() => {}
            Admit::After(wait) => {
                // Waiting holds no handshake slot and no pending slot (it has a place of
                // its own, capped per address and in total), and ends the moment the
                // client leaves.
                attempt.delay = wait;
                state.metrics.throttled(wait);
                let waiting = state.admission.waiting.take(
                    ip,
                    settings.max_pending_connections,
                    WAITING_PER_ADDRESS,
                );
                let Ok(slot) = waiting else {
                    return too_many_clients(&mut conn, "too many checks waiting their turn").await;
                };
                _waiting = Some(slot);
                drop(handshake.take());
                drop(pending.take());
                if !conn.wait_watching(wait).await {
                    return Step::Ended(Some((
                        Outcome::Disconnected,
                        Some("client left while its check waited its turn".to_owned()),
                    )));
                }
                *handshake = Some(state.admission.handshake(&state.metrics, watch).await);
            }
            Admit::Refuse => {
                return too_many_clients(
                    &mut conn,
                    "too many recent failures: the check queue is full",
                )
                .await;
            }
        }
    }
    let ctx = AuthContext {
        user: &user,
        request,
        end_point,
        role: &lookup,
    };
    let env = AuthEnv {
        mock: &state.mock,
        scram_iterations: settings.scram_iterations,
        password_encryption: settings.password_encryption,
        hash_pool: &state.hash_pool,
        upgrade_md5: settings.upgrade_md5_on_login,
        store: state.store.as_ref(),
    };
    let (authenticated, secrets, upgraded) = match authenticate(&mut conn, &ctx, rule, &env).await {
        AuthResult::Ok {
            authenticated,
            secrets,
            upgraded,
            password,
        } => {
            attempt.password = password;
            if upgraded {
                tracing::info!("password of role \"{user}\" {UPGRADED}");
                state.metrics.password_upgraded();
            }
            (authenticated, secrets, upgraded)
        }
        AuthResult::Failed { error, log: lines } => {
            if lines.is_empty() {
                tracing::error!("{}", error.message);
            } else {
                // One event; the log shows each line of the detail as a DETAIL line.
                tracing::error!(detail = %lines.join("\n"), "{}", error.message);
            }
            return Step::Failed {
                conn,
                error: Box::new(error),
                reason: lines.first().cloned(),
            };
        }
        AuthResult::Gone => {
            return Step::Ended(Some((
                Outcome::Disconnected,
                Some("client closed the connection during authentication".to_owned()),
            )));
        }
    };
    // AuthenticationOk now, before the checks below, as PostgreSQL's backend does:
    // their errors follow it.
    if authenticated.queue_ok(&mut conn).is_err() {
        return Step::Ended(Some((
            Outcome::Disconnected,
            Some("client closed the connection during authentication".to_owned()),
        )));
    }
    if settings.log_connections == LogConnections::On {
        tracing::info!("{}", rule.authenticated_log(&user));
    }
    state.throttle.record_success(ip, &user);

    // After authentication, as PostgreSQL's InitPostgres: role, login right, database,
    // connection limit. Only now may existence be revealed.
    let role = match lookup {
        Ok(Some(role)) => role,
        Ok(None) => {
            return fail_after_auth(
                &mut conn,
                SqlState::INVALID_AUTHORIZATION_SPECIFICATION,
                format!("role \"{user}\" does not exist"),
            )
            .await;
        }
        Err(e) => {
            return fail_after_auth(
                &mut conn,
                SqlState::INTERNAL_ERROR,
                format!("could not read role \"{user}\": {e}"),
            )
            .await;
        }
    };
    if !role.can_login {
        return fail_after_auth(
            &mut conn,
            SqlState::INVALID_AUTHORIZATION_SPECIFICATION,
            format!("role \"{user}\" is not permitted to log in"),
        )
        .await;
    }
    if !state.backend.has_database(&database) {
        return fail_after_auth(
            &mut conn,
            SqlState::INVALID_CATALOG_NAME,
            format!("database \"{database}\" does not exist"),
        )
        .await;
    }
    let Some(session_slot) = state.admission.session(settings.max_connections) else {
        return fail_after_auth(
            &mut conn,
            SqlState::TOO_MANY_CONNECTIONS,
            TOO_MANY_CLIENTS.to_owned(),
        )
        .await;
    };
    let Some(role_slot) = state.admission.role(&user, &role) else {
        return fail_after_auth(
            &mut conn,
            SqlState::TOO_MANY_CONNECTIONS,
            format!("too many connections for role \"{user}\""),
        )
        .await;
    };
    let defaults = SessionDefaults {
        password_encryption: settings.password_encryption,
        scram_iterations: settings.scram_iterations,
    };
    let mut start = SessionStart::new(pid, role, startup, tls, peer, defaults, secrets);
    start.password_used = attempt.password;
    let note = upgraded.then(|| UPGRADED.to_owned());
    Step::Ready(conn, Box::new(start), session_slot, role_slot, note)
}

/// What the log and the audit event say of a login that upgraded its role's secret.
const UPGRADED: &str = "password upgraded md5 -> scram-sha-256";

/// A pending slot for a new connection. When pending connections are at their cap,
/// the one silent the longest makes room (a few tries, a few milliseconds apart, while
/// the evicted connection ends); refused only when none is silent.
async fn admit_pending<'a>(
    state: &'a ServerState,
    settings: &Settings,
    ip: Option<std::net::IpAddr>,
) -> Result<PoolSlot<'a>, Refusal> {
    let mut evicted = false;
    for _ in 0..20 {
        match state.admission.pending.take(
            ip,
            settings.max_pending_connections,
            settings.max_connections_per_address,
        ) {
            Err(Refusal::Total) => {
                if !evicted && !state.admission.evict_silent() {
                    return Err(Refusal::Total);
                }
                evicted = true;
                // The evicted connection is ending: give it a moment.
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            other => return other,
        }
    }
    Err(Refusal::Total)
}

/// Checks waiting their turn from one client address at once; more are refused.
const WAITING_PER_ADDRESS: usize = 8;

/// PostgreSQL's message when a cap on connections is hit.
const TOO_MANY_CLIENTS: &str = "sorry, too many clients already";

/// PostgreSQL's 53300 for a cap that is hit.
fn too_many_clients_error() -> ErrorFields {
    ErrorFields::fatal(SqlState::TOO_MANY_CONNECTIONS, TOO_MANY_CLIENTS)
}

/// Answers a cap that is hit, before authentication; `why` is for the audit log.
async fn too_many_clients<'a>(conn: &mut Conn, why: &str) -> Step<'a> {
    let _ = reply::error(conn, too_many_clients_error()).await;
    Step::Ended(Some((Outcome::TooManyConnections, Some(why.to_owned()))))
}

async fn fail_after_auth<'a>(conn: &mut Conn, code: SqlState, message: String) -> Step<'a> {
    tracing::error!("{message}");
    let _ = reply::error(conn, ErrorFields::fatal(code, message.clone())).await;
    Step::Ended(Some((Outcome::Denied, Some(message))))
}

#[cfg(test)]
mod tests {
    /// The size of the future `f` returns, without making one.
    fn future_size<A, B, C, R, F: FnOnce(A, B, C) -> R>(_: F) -> usize {
        std::mem::size_of::<R>()
    }

    /// A connection's task is allocated for its whole life: the login's state (the
    /// startup packet, admission, the handshake) is boxed and freed once it is over,
    /// so an idle session does not carry it. It was 1,528 bytes when it was inline.
    #[test]
    fn a_connection_task_keeps_no_login_state() {
        let size = future_size(super::handle);
        assert!(size <= 512, "connection future is {size} bytes");
    }
}
