//! The client's side of the authentication phase as a checked state machine: for each
//! request the server sends, decide whether to answer it, with libpq's checks
//! (`check_expected_areq`, `pg_SASL_init`, `pg_fe_sendauth`) and texts, plus a few
//! stricter rules that close downgrade paths libpq leaves open.
//!
//! ```text
//!   AuthSession::new(policy, tls_in_use)
//!   loop { server 'R' message ─▶ handle(request) ─▶ Action (what to send) | PolicyError }
//!   after the SCRAM core has verified server-final: sasl_verified()
//!   Action::Authenticated ends the loop
//! ```
//!
//! Stricter than libpq:
//! - once SASL has started, AuthenticationOk is refused until the server's final
//!   message has been verified (libpq accepts it when `require_auth` is unset, so a
//!   server that does not know the password could skip its proof);
//! - once SASL has started, a request for another method is refused (no switching to
//!   cleartext or md5 mid-exchange), and SCRAM's single SASLContinue is enforced;
//! - after a password has been sent, only AuthenticationOk may follow (libpq would
//!   answer a second request, letting a server ask for md5 and then for cleartext).

use std::fmt;

use super::ChannelBinding;
use super::require_auth::{RequireAuth, code};

/// SASL mechanism names, as the server lists them.
pub const SCRAM_SHA_256: &str = "SCRAM-SHA-256";
/// SCRAM-SHA-256 with channel binding, offered only over TLS.
pub const SCRAM_SHA_256_PLUS: &str = "SCRAM-SHA-256-PLUS";

/// One authentication request from the server (`'R'` message), decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthRequest<'a> {
    /// AuthenticationOk.
    Ok,
    /// AuthenticationCleartextPassword.
    CleartextPassword,
    /// AuthenticationMD5Password (the salt is not needed for the decision).
    Md5Password,
    /// AuthenticationGSS.
    Gss,
    /// AuthenticationGSSContinue.
    GssContinue,
    /// AuthenticationSSPI.
    Sspi,
    /// AuthenticationSASL with the mechanisms offered, in the server's order.
    Sasl(&'a [&'a str]),
    /// AuthenticationSASLContinue (server-first-message for SCRAM).
    SaslContinue,
    /// AuthenticationSASLFinal (server-final-message for SCRAM).
    SaslFinal,
    /// Any other code (Kerberos, crypt, or unknown).
    Other(u32),
}

impl AuthRequest<'_> {
    /// The protocol's request code.
    pub fn code(&self) -> u32 {
        match self {
            AuthRequest::Ok => code::OK,
            AuthRequest::CleartextPassword => code::CLEARTEXT_PASSWORD,
            AuthRequest::Md5Password => code::MD5_PASSWORD,
            AuthRequest::Gss => code::GSS,
            AuthRequest::GssContinue => code::GSS_CONTINUE,
            AuthRequest::Sspi => code::SSPI,
            AuthRequest::Sasl(_) => code::SASL,
            AuthRequest::SaslContinue => code::SASL_CONTINUE,
            AuthRequest::SaslFinal => code::SASL_FINAL,
            AuthRequest::Other(c) => *c,
        }
    }
}

/// The SCRAM variant chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SaslMechanism {
    /// `SCRAM-SHA-256`, without channel binding.
    ScramSha256,
    /// `SCRAM-SHA-256-PLUS`, bound to the TLS channel.
    ScramSha256Plus,
}

impl SaslMechanism {
    /// The mechanism name to send in SASLInitialResponse.
    pub fn as_str(self) -> &'static str {
        match self {
            SaslMechanism::ScramSha256 => SCRAM_SHA_256,
            SaslMechanism::ScramSha256Plus => SCRAM_SHA_256_PLUS,
        }
    }
}

/// The channel-binding flag of the GS2 header (RFC 5802 section 7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gs2Flag {
    /// `n`: the client does not support channel binding (or no TLS).
    N,
    /// `y`: the client supports it but thinks the server does not.
    Y,
    /// `p=tls-server-end-point`: channel binding is used.
    P,
}

impl Gs2Flag {
    /// The header's first part: `n`, `y` or `p=tls-server-end-point`.
    pub fn header_part(self) -> &'static str {
        match self {
            Gs2Flag::N => "n",
            Gs2Flag::Y => "y",
            Gs2Flag::P => "p=tls-server-end-point",
        }
    }
}

/// What to run for an AuthenticationSASL request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SaslChoice {
    /// The mechanism to name in SASLInitialResponse.
    pub mechanism: SaslMechanism,
    /// The GS2 channel-binding flag to put in client-first-message.
    pub gs2: Gs2Flag,
}

/// What the client should do next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// AuthenticationOk accepted: authentication is over.
    Authenticated,
    /// Send the password in a PasswordMessage.
    SendCleartextPassword,
    /// Send the md5 response in a PasswordMessage.
    SendMd5Password,
    /// Start SCRAM: send SASLInitialResponse with this mechanism and GS2 flag.
    StartSasl(SaslChoice),
    /// Give the SASLContinue data (server-first) to the SCRAM core.
    ContinueSasl,
    /// Give the SASLFinal data (server-final) to the SCRAM core, then call
    /// [`AuthSession::sasl_verified`] once it has checked the server signature.
    FinishSasl,
}

/// Why the client gives up. Texts are libpq's except where marked as pgscram's own.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PolicyError {
    /// `require_auth` forbids this request (`reason` is libpq's description).
    RequirementFailed {
        /// The `require_auth` value as written.
        requirement: String,
        /// What the server asked for, e.g. `server requested a hashed password`.
        reason: &'static str,
    },
    /// `require_auth` forbids the SASL mechanism the server offers.
    MechanismForbidden {
        /// The `require_auth` value as written.
        requirement: String,
        /// The mechanism that would have been used.
        mechanism: &'static str,
    },
    /// `channel_binding=require` on a connection without TLS.
    ChannelBindingWithoutTls,
    /// `channel_binding=require`, but SCRAM-SHA-256-PLUS was not offered.
    ChannelBindingNotOffered,
    /// `channel_binding=require`, and the server asked for a method that cannot bind.
    ChannelBindingUnsupportedRequest,
    /// `channel_binding=require`, and AuthenticationOk came without a bound exchange.
    ChannelBindingNotUsed,
    /// SCRAM-SHA-256-PLUS offered without TLS, which suggests TLS was stripped.
    PlusWithoutTls,
    /// No offered SASL mechanism is one the client can use.
    NoSupportedMechanism,
    /// A second AuthenticationSASL.
    DuplicateSasl,
    /// SASLContinue or SASLFinal with no SASL exchange started.
    SaslContinueWithoutSasl,
    /// SASLFinal before the exchange reached its final step.
    SaslFinalTooEarly,
    /// A method libpq names but pgscram does not implement (GSSAPI, SSPI, Kerberos,
    /// crypt).
    Unsupported(&'static str),
    /// An authentication request code libpq does not know.
    UnknownRequest(u32),
    /// pgscram: AuthenticationOk before the SASL exchange was verified.
    OkBeforeSaslCompleted,
    /// pgscram: another method requested in the middle of a SASL exchange.
    MethodChangedDuringSasl,
    /// pgscram: a second SASLContinue (SCRAM has exactly one).
    ExtraSaslContinue,
    /// pgscram: a request after the password was sent.
    RequestAfterPassword,
    /// pgscram: a request after authentication completed.
    RequestAfterAuthentication,
    /// pgscram: [`AuthSession::sasl_verified`] called with no SASLFinal pending.
    NoSaslFinalPending,
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PolicyError::RequirementFailed { requirement, reason } => {
                write!(f, "authentication method requirement \"{requirement}\" failed: {reason}")
            }
            PolicyError::MechanismForbidden { requirement, mechanism } => write!(
                f,
                "authentication method requirement \"{requirement}\" failed: server requested {mechanism} authentication"
            ),
            PolicyError::ChannelBindingWithoutTls => f.write_str("channel binding required, but SSL not in use"),
            PolicyError::ChannelBindingNotOffered => f.write_str(
                "channel binding is required, but server did not offer an authentication method that supports channel binding",
            ),
            PolicyError::ChannelBindingUnsupportedRequest => {
                f.write_str("channel binding required but not supported by server's authentication request")
            }
            PolicyError::ChannelBindingNotUsed => {
                f.write_str("channel binding required, but server authenticated client without channel binding")
            }
            PolicyError::PlusWithoutTls => {
                f.write_str("server offered SCRAM-SHA-256-PLUS authentication over a non-SSL connection")
            }
            PolicyError::NoSupportedMechanism => {
                f.write_str("none of the server's SASL authentication mechanisms are supported")
            }
            PolicyError::DuplicateSasl => f.write_str("duplicate SASL authentication request"),
            PolicyError::SaslContinueWithoutSasl => f.write_str(
                "fe_sendauth: invalid authentication request from server: AUTH_REQ_SASL_CONT without AUTH_REQ_SASL",
            ),
            PolicyError::SaslFinalTooEarly => f.write_str(
                "AuthenticationSASLFinal received from server, but SASL authentication was not completed",
            ),
            PolicyError::Unsupported(text) => f.write_str(text),
            PolicyError::UnknownRequest(c) => write!(f, "authentication method {c} not supported"),
            PolicyError::OkBeforeSaslCompleted => {
                f.write_str("server sent AuthenticationOk before completing SASL authentication")
            }
            PolicyError::MethodChangedDuringSasl => {
                f.write_str("server requested a different authentication method during SASL authentication")
            }
            PolicyError::ExtraSaslContinue => {
                f.write_str("server sent more than one AuthenticationSASLContinue for SCRAM authentication")
            }
            PolicyError::RequestAfterPassword => {
                f.write_str("server sent another authentication request after the password was sent")
            }
            PolicyError::RequestAfterAuthentication => {
                f.write_str("server sent an authentication request after authentication completed")
            }
            PolicyError::NoSaslFinalPending => {
                f.write_str("no AuthenticationSASLFinal is waiting to be verified")
            }
        }
    }
}

impl std::error::Error for PolicyError {}

/// libpq's description of a request that `require_auth` forbids.
fn describe(request_code: u32) -> &'static str {
    match request_code {
        code::CLEARTEXT_PASSWORD => "server requested a cleartext password",
        code::MD5_PASSWORD => "server requested a hashed password",
        code::GSS | code::GSS_CONTINUE => "server requested GSSAPI authentication",
        code::SSPI => "server requested SSPI authentication",
        code::SASL | code::SASL_CONTINUE | code::SASL_FINAL => {
            "server requested SASL authentication"
        }
        _ => "server requested an unknown authentication type",
    }
}

/// The mechanism libpq picks from the server's list: `SCRAM-SHA-256-PLUS` over TLS
/// unless channel binding is disabled, else `SCRAM-SHA-256`. Names pgscram does not
/// implement (OAUTHBEARER) are skipped.
pub fn select_mechanism<S: AsRef<str>>(
    channel_binding: ChannelBinding,
    tls_in_use: bool,
    mechanisms: &[S],
) -> Result<SaslMechanism, PolicyError> {
    let mut selected = None;
    for name in mechanisms {
        match name.as_ref() {
            SCRAM_SHA_256_PLUS => {
                if !tls_in_use {
                    return Err(PolicyError::PlusWithoutTls);
                }
                if channel_binding != ChannelBinding::Disable {
                    selected = Some(SaslMechanism::ScramSha256Plus);
                }
            }
            SCRAM_SHA_256 if selected.is_none() => selected = Some(SaslMechanism::ScramSha256),
            _ => {}
        }
    }
    selected.ok_or(PolicyError::NoSupportedMechanism)
}

/// The GS2 flag for `mechanism`: `p` with PLUS, `y` over TLS when binding is not
/// disabled, `n` otherwise.
pub fn gs2_flag(
    channel_binding: ChannelBinding,
    tls_in_use: bool,
    mechanism: SaslMechanism,
) -> Gs2Flag {
    match mechanism {
        SaslMechanism::ScramSha256Plus => Gs2Flag::P,
        SaslMechanism::ScramSha256 if tls_in_use && channel_binding != ChannelBinding::Disable => {
            Gs2Flag::Y
        }
        SaslMechanism::ScramSha256 => Gs2Flag::N,
    }
}

/// Mechanism and GS2 flag for an AuthenticationSASL request, with libpq's
/// channel-binding checks (but not `require_auth`; [`AuthSession`] adds that).
pub fn choose_sasl_mechanism<S: AsRef<str>>(
    channel_binding: ChannelBinding,
    tls_in_use: bool,
    mechanisms: &[S],
) -> Result<SaslChoice, PolicyError> {
    if channel_binding == ChannelBinding::Require && !tls_in_use {
        return Err(PolicyError::ChannelBindingWithoutTls);
    }
    let mechanism = select_mechanism(channel_binding, tls_in_use, mechanisms)?;
    if channel_binding == ChannelBinding::Require && mechanism != SaslMechanism::ScramSha256Plus {
        return Err(PolicyError::ChannelBindingNotOffered);
    }
    Ok(SaslChoice {
        mechanism,
        gs2: gs2_flag(channel_binding, tls_in_use, mechanism),
    })
}

/// The options that govern the client's answers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientPolicy {
    /// libpq's `require_auth`.
    pub require_auth: RequireAuth,
    /// libpq's `channel_binding`.
    pub channel_binding: ChannelBinding,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    Start,
    PasswordSent,
    SaslStarted(SaslMechanism),
    SaslContinued(SaslMechanism),
    SaslFinalReceived(SaslMechanism),
    SaslVerified(SaslMechanism),
    Done { channel_bound: bool },
}

/// One connection attempt's authentication phase (see the module docs for the order
/// of calls).
#[derive(Debug, Clone)]
pub struct AuthSession {
    policy: ClientPolicy,
    tls_in_use: bool,
    stage: Stage,
}

impl AuthSession {
    /// A session for one connection attempt; `tls_in_use` once TLS is established.
    pub fn new(policy: ClientPolicy, tls_in_use: bool) -> Self {
        AuthSession {
            policy,
            tls_in_use,
            stage: Stage::Start,
        }
    }

    /// Decides how to answer one request. After an error the connection must be
    /// closed; the session is not meant to be used again.
    pub fn handle(&mut self, request: AuthRequest<'_>) -> Result<Action, PolicyError> {
        if matches!(self.stage, Stage::Done { .. }) {
            return Err(PolicyError::RequestAfterAuthentication);
        }
        self.check_expected(request)?;
        match request {
            AuthRequest::Ok => self.on_ok(),
            AuthRequest::CleartextPassword | AuthRequest::Md5Password => {
                self.not_after_password()?;
                if self.in_sasl() {
                    return Err(PolicyError::MethodChangedDuringSasl);
                }
                self.stage = Stage::PasswordSent;
                Ok(if request == AuthRequest::Md5Password {
                    Action::SendMd5Password
                } else {
                    Action::SendCleartextPassword
                })
            }
            AuthRequest::Gss | AuthRequest::GssContinue | AuthRequest::Sspi => {
                self.not_after_password()?;
                if self.in_sasl() {
                    return Err(PolicyError::MethodChangedDuringSasl);
                }
                Err(PolicyError::Unsupported(if request == AuthRequest::Sspi {
                    "SSPI authentication not supported"
                } else {
                    "GSSAPI authentication not supported"
                }))
            }
            AuthRequest::Sasl(mechanisms) => self.on_sasl(mechanisms),
            AuthRequest::SaslContinue => {
                self.not_after_password()?;
                match self.stage {
                    Stage::SaslStarted(m) => {
                        self.stage = Stage::SaslContinued(m);
                        Ok(Action::ContinueSasl)
                    }
                    Stage::Start => Err(PolicyError::SaslContinueWithoutSasl),
                    _ => Err(PolicyError::ExtraSaslContinue),
                }
            }
            AuthRequest::SaslFinal => {
                self.not_after_password()?;
                match self.stage {
                    Stage::SaslContinued(m) => {
                        self.stage = Stage::SaslFinalReceived(m);
                        Ok(Action::FinishSasl)
                    }
                    Stage::Start => Err(PolicyError::SaslContinueWithoutSasl),
                    _ => Err(PolicyError::SaslFinalTooEarly),
                }
            }
            AuthRequest::Other(c) => {
                self.not_after_password()?;
                if self.in_sasl() {
                    return Err(PolicyError::MethodChangedDuringSasl);
                }
                Err(match c {
                    code::KERBEROS_V4 => {
                        PolicyError::Unsupported("Kerberos 4 authentication not supported")
                    }
                    code::KERBEROS_V5 => {
                        PolicyError::Unsupported("Kerberos 5 authentication not supported")
                    }
                    code::CRYPT => PolicyError::Unsupported("Crypt authentication not supported"),
                    other => PolicyError::UnknownRequest(other),
                })
            }
        }
    }

    /// Records that the SCRAM core verified the server's final message.
    pub fn sasl_verified(&mut self) -> Result<(), PolicyError> {
        match self.stage {
            Stage::SaslFinalReceived(m) => {
                self.stage = Stage::SaslVerified(m);
                Ok(())
            }
            _ => Err(PolicyError::NoSaslFinalPending),
        }
    }

    /// Whether a completed SCRAM-SHA-256-PLUS exchange bound the TLS channel.
    pub fn channel_bound(&self) -> bool {
        matches!(
            self.stage,
            Stage::SaslVerified(SaslMechanism::ScramSha256Plus)
                | Stage::Done {
                    channel_bound: true
                }
        )
    }

    fn in_sasl(&self) -> bool {
        matches!(
            self.stage,
            Stage::SaslStarted(_) | Stage::SaslContinued(_) | Stage::SaslFinalReceived(_)
        )
    }

    fn not_after_password(&self) -> Result<(), PolicyError> {
        if self.stage == Stage::PasswordSent {
            Err(PolicyError::RequestAfterPassword)
        } else {
            Ok(())
        }
    }

    /// The client finished its part of an exchange (libpq's `client_finished_auth`).
    fn client_finished(&self) -> bool {
        matches!(self.stage, Stage::PasswordSent | Stage::SaslVerified(_))
    }

    /// libpq's `check_expected_areq`: `require_auth` first, then `channel_binding`.
    fn check_expected(&self, request: AuthRequest<'_>) -> Result<(), PolicyError> {
        let ra = &self.policy.require_auth;
        if let Some(spec) = ra.spec() {
            let c = request.code();
            let failed = |reason| PolicyError::RequirementFailed {
                requirement: spec.to_owned(),
                reason,
            };
            match request {
                AuthRequest::Ok => {
                    if ra.requires_authentication() && !self.client_finished() {
                        return Err(failed("server did not complete authentication"));
                    }
                }
                AuthRequest::Other(_) => return Err(failed(describe(c))),
                _ => {
                    if !ra.allows_code(c) {
                        return Err(failed(describe(c)));
                    }
                }
            }
        }
        if self.policy.channel_binding == ChannelBinding::Require {
            match request {
                AuthRequest::Sasl(_) | AuthRequest::SaslContinue | AuthRequest::SaslFinal => {}
                AuthRequest::Ok => {
                    if !matches!(
                        self.stage,
                        Stage::SaslVerified(SaslMechanism::ScramSha256Plus)
                    ) {
                        return Err(PolicyError::ChannelBindingNotUsed);
                    }
                }
                _ => return Err(PolicyError::ChannelBindingUnsupportedRequest),
            }
        }
        Ok(())
    }

    fn on_ok(&mut self) -> Result<Action, PolicyError> {
        if self.in_sasl() {
            return Err(PolicyError::OkBeforeSaslCompleted);
        }
        let channel_bound = matches!(
            self.stage,
            Stage::SaslVerified(SaslMechanism::ScramSha256Plus)
        );
        self.stage = Stage::Done { channel_bound };
        Ok(Action::Authenticated)
    }

    /// libpq's `pg_SASL_init`, in its order of checks.
    fn on_sasl(&mut self, mechanisms: &[&str]) -> Result<Action, PolicyError> {
        let cb = self.policy.channel_binding;
        if cb == ChannelBinding::Require && !self.tls_in_use {
            return Err(PolicyError::ChannelBindingWithoutTls);
        }
        self.not_after_password()?;
        if self.stage != Stage::Start {
            return Err(PolicyError::DuplicateSasl);
        }
        let mechanism = select_mechanism(cb, self.tls_in_use, mechanisms)?;
        if let Some(spec) = self.policy.require_auth.spec()
            && !self.policy.require_auth.allows_scram()
        {
            return Err(PolicyError::MechanismForbidden {
                requirement: spec.to_owned(),
                mechanism: mechanism.as_str(),
            });
        }
        if cb == ChannelBinding::Require && mechanism != SaslMechanism::ScramSha256Plus {
            return Err(PolicyError::ChannelBindingNotOffered);
        }
        self.stage = Stage::SaslStarted(mechanism);
        Ok(Action::StartSasl(SaslChoice {
            mechanism,
            gs2: gs2_flag(cb, self.tls_in_use, mechanism),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PLUS_AND_PLAIN: &[&str] = &[SCRAM_SHA_256_PLUS, SCRAM_SHA_256];
    const PLAIN: &[&str] = &[SCRAM_SHA_256];

    fn policy(require_auth: &str, cb: ChannelBinding) -> ClientPolicy {
        ClientPolicy {
            require_auth: RequireAuth::parse(require_auth).unwrap(),
            channel_binding: cb,
        }
    }

    /// Feeds `requests`, calling `sasl_verified` after each SASLFinal, as a client would.
    fn run(
        p: ClientPolicy,
        tls: bool,
        requests: &[AuthRequest<'_>],
    ) -> Result<Vec<Action>, PolicyError> {
        let mut s = AuthSession::new(p, tls);
        let mut out = Vec::new();
        for r in requests {
            let a = s.handle(*r)?;
            if a == Action::FinishSasl {
                s.sasl_verified()?;
            }
            out.push(a);
        }
        Ok(out)
    }

    const SCRAM_FLOW: &[AuthRequest<'static>] = &[
        AuthRequest::Sasl(PLAIN),
        AuthRequest::SaslContinue,
        AuthRequest::SaslFinal,
        AuthRequest::Ok,
    ];

    #[test]
    fn mechanism_choice_and_gs2_flag() {
        use ChannelBinding::*;
        let c = |cb, tls, m: &[&str]| choose_sasl_mechanism(cb, tls, m);
        let choice = |mechanism, gs2| Ok(SaslChoice { mechanism, gs2 });
        assert_eq!(
            c(Prefer, true, PLUS_AND_PLAIN),
            choice(SaslMechanism::ScramSha256Plus, Gs2Flag::P)
        );
        assert_eq!(
            c(Require, true, PLUS_AND_PLAIN),
            choice(SaslMechanism::ScramSha256Plus, Gs2Flag::P)
        );
        assert_eq!(
            c(Disable, true, PLUS_AND_PLAIN),
            choice(SaslMechanism::ScramSha256, Gs2Flag::N)
        );
        assert_eq!(
            c(Prefer, true, PLAIN),
            choice(SaslMechanism::ScramSha256, Gs2Flag::Y)
        );
        assert_eq!(
            c(Disable, true, PLAIN),
            choice(SaslMechanism::ScramSha256, Gs2Flag::N)
        );
        assert_eq!(
            c(Prefer, false, PLAIN),
            choice(SaslMechanism::ScramSha256, Gs2Flag::N)
        );
        assert_eq!(
            c(Prefer, false, PLUS_AND_PLAIN),
            Err(PolicyError::PlusWithoutTls)
        );
        assert_eq!(
            c(Disable, false, PLUS_AND_PLAIN),
            Err(PolicyError::PlusWithoutTls)
        );
        assert_eq!(
            c(Require, false, PLAIN),
            Err(PolicyError::ChannelBindingWithoutTls)
        );
        assert_eq!(
            c(Require, true, PLAIN),
            Err(PolicyError::ChannelBindingNotOffered)
        );
        assert_eq!(
            c(Prefer, true, &["OAUTHBEARER"]),
            Err(PolicyError::NoSupportedMechanism)
        );
        assert_eq!(
            c(Prefer, true, &[] as &[&str]),
            Err(PolicyError::NoSupportedMechanism)
        );
        // Order does not matter for PLUS; it wins over plain SCRAM.
        assert_eq!(
            c(Prefer, true, &[SCRAM_SHA_256, SCRAM_SHA_256_PLUS]),
            choice(SaslMechanism::ScramSha256Plus, Gs2Flag::P)
        );
        assert_eq!(Gs2Flag::P.header_part(), "p=tls-server-end-point");
    }

    #[test]
    fn plain_flows_pass() {
        let p = ClientPolicy::default();
        assert_eq!(
            run(p.clone(), false, &[AuthRequest::Ok]),
            Ok(vec![Action::Authenticated])
        );
        assert_eq!(
            run(
                p.clone(),
                false,
                &[AuthRequest::Md5Password, AuthRequest::Ok]
            ),
            Ok(vec![Action::SendMd5Password, Action::Authenticated])
        );
        let actions = run(p, false, SCRAM_FLOW).unwrap();
        assert_eq!(
            actions,
            vec![
                Action::StartSasl(SaslChoice {
                    mechanism: SaslMechanism::ScramSha256,
                    gs2: Gs2Flag::N
                }),
                Action::ContinueSasl,
                Action::FinishSasl,
                Action::Authenticated
            ]
        );
    }

    #[test]
    fn stricter_than_libpq() {
        let p = ClientPolicy::default;
        let sasl = AuthRequest::Sasl(PLAIN);
        assert_eq!(
            run(p(), false, &[sasl, AuthRequest::Ok]),
            Err(PolicyError::OkBeforeSaslCompleted)
        );
        assert_eq!(
            run(
                p(),
                false,
                &[sasl, AuthRequest::SaslContinue, AuthRequest::Ok]
            ),
            Err(PolicyError::OkBeforeSaslCompleted)
        );
        let mut s = AuthSession::new(p(), false);
        s.handle(sasl).unwrap();
        s.handle(AuthRequest::SaslContinue).unwrap();
        s.handle(AuthRequest::SaslFinal).unwrap();
        assert_eq!(
            s.handle(AuthRequest::Ok),
            Err(PolicyError::OkBeforeSaslCompleted)
        );
        assert_eq!(
            run(p(), false, &[sasl, AuthRequest::Md5Password]),
            Err(PolicyError::MethodChangedDuringSasl)
        );
        assert_eq!(
            run(p(), false, &[sasl, AuthRequest::CleartextPassword]),
            Err(PolicyError::MethodChangedDuringSasl)
        );
        assert_eq!(
            run(
                p(),
                false,
                &[sasl, AuthRequest::SaslContinue, AuthRequest::SaslContinue]
            ),
            Err(PolicyError::ExtraSaslContinue)
        );
        assert_eq!(
            run(p(), false, &[sasl, sasl]),
            Err(PolicyError::DuplicateSasl)
        );
        assert_eq!(
            run(
                p(),
                false,
                &[AuthRequest::Md5Password, AuthRequest::CleartextPassword]
            ),
            Err(PolicyError::RequestAfterPassword)
        );
        assert_eq!(
            run(p(), false, &[AuthRequest::CleartextPassword, sasl]),
            Err(PolicyError::RequestAfterPassword)
        );
        assert_eq!(
            run(p(), false, &[AuthRequest::Ok, AuthRequest::Ok]),
            Err(PolicyError::RequestAfterAuthentication)
        );
        let mut s = AuthSession::new(p(), false);
        assert_eq!(s.sasl_verified(), Err(PolicyError::NoSaslFinalPending));
    }

    #[test]
    fn out_of_order_sasl_messages_use_libpq_texts() {
        let p = ClientPolicy::default;
        assert_eq!(
            run(p(), false, &[AuthRequest::SaslContinue]),
            Err(PolicyError::SaslContinueWithoutSasl)
        );
        assert_eq!(
            run(p(), false, &[AuthRequest::SaslFinal]),
            Err(PolicyError::SaslContinueWithoutSasl)
        );
        assert_eq!(
            run(
                p(),
                false,
                &[AuthRequest::Sasl(PLAIN), AuthRequest::SaslFinal]
            ),
            Err(PolicyError::SaslFinalTooEarly)
        );
        assert_eq!(
            PolicyError::SaslFinalTooEarly.to_string(),
            "AuthenticationSASLFinal received from server, but SASL authentication was not completed"
        );
    }

    #[test]
    fn unsupported_requests() {
        let p = ClientPolicy::default;
        let e = |r| run(p(), false, &[r]).unwrap_err().to_string();
        assert_eq!(e(AuthRequest::Gss), "GSSAPI authentication not supported");
        assert_eq!(
            e(AuthRequest::GssContinue),
            "GSSAPI authentication not supported"
        );
        assert_eq!(e(AuthRequest::Sspi), "SSPI authentication not supported");
        assert_eq!(
            e(AuthRequest::Other(1)),
            "Kerberos 4 authentication not supported"
        );
        assert_eq!(
            e(AuthRequest::Other(2)),
            "Kerberos 5 authentication not supported"
        );
        assert_eq!(
            e(AuthRequest::Other(4)),
            "Crypt authentication not supported"
        );
        assert_eq!(
            e(AuthRequest::Other(99)),
            "authentication method 99 not supported"
        );
        let ra = policy("md5", ChannelBinding::Prefer);
        assert_eq!(
            run(ra, false, &[AuthRequest::Other(99)])
                .unwrap_err()
                .to_string(),
            "authentication method requirement \"md5\" failed: server requested an unknown authentication type"
        );
    }

    #[test]
    fn channel_binding_require() {
        let p = || policy("", ChannelBinding::Require);
        assert_eq!(
            run(p(), false, &[AuthRequest::Sasl(PLAIN)]),
            Err(PolicyError::ChannelBindingWithoutTls)
        );
        assert_eq!(
            run(p(), true, &[AuthRequest::Sasl(PLAIN)]),
            Err(PolicyError::ChannelBindingNotOffered)
        );
        for r in [
            AuthRequest::CleartextPassword,
            AuthRequest::Md5Password,
            AuthRequest::Gss,
        ] {
            assert_eq!(
                run(p(), true, &[r]),
                Err(PolicyError::ChannelBindingUnsupportedRequest)
            );
        }
        assert_eq!(
            run(p(), true, &[AuthRequest::Ok]),
            Err(PolicyError::ChannelBindingNotUsed)
        );
        let mut s = AuthSession::new(p(), true);
        assert!(matches!(
            s.handle(AuthRequest::Sasl(PLUS_AND_PLAIN)),
            Ok(Action::StartSasl(SaslChoice {
                gs2: Gs2Flag::P,
                ..
            }))
        ));
        s.handle(AuthRequest::SaslContinue).unwrap();
        s.handle(AuthRequest::SaslFinal).unwrap();
        assert!(!s.channel_bound());
        s.sasl_verified().unwrap();
        assert!(s.channel_bound());
        assert_eq!(s.handle(AuthRequest::Ok), Ok(Action::Authenticated));
        assert!(s.channel_bound());
        assert_eq!(
            PolicyError::ChannelBindingNotUsed.to_string(),
            "channel binding required, but server authenticated client without channel binding"
        );
    }

    #[test]
    fn require_auth_forbids_the_scram_mechanism_after_selection() {
        let p = policy("!scram-sha-256", ChannelBinding::Prefer);
        assert_eq!(
            run(p, true, &[AuthRequest::Sasl(PLUS_AND_PLAIN)])
                .unwrap_err()
                .to_string(),
            "authentication method requirement \"!scram-sha-256\" failed: server requested SCRAM-SHA-256-PLUS authentication"
        );
        let p = policy("oauth", ChannelBinding::Prefer);
        assert_eq!(
            run(p, false, &[AuthRequest::Sasl(PLAIN)])
                .unwrap_err()
                .to_string(),
            "authentication method requirement \"oauth\" failed: server requested SCRAM-SHA-256 authentication"
        );
    }
}
