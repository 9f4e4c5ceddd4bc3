//! The authentication phase: read the server's requests, let the policy
//! (`pgscram_auth::client_policy::AuthSession`) decide, answer with the SCRAM core or
//! an md5/cleartext password.
//!
//! ```text
//! server 'R' ──▶ AuthSession::handle ──▶ Action
//!   StartSasl   ──▶ ClientExchange::start          ──'p' SASLInitialResponse──▶
//!   ContinueSasl──▶ ClientFirstSent::handle_server_first ──'p' SASLResponse──▶
//!   FinishSasl  ──▶ ClientFinalSent::handle_server_final ──▶ Verified ──▶ sasl_verified()
//!   Authenticated (only accepted by the policy once Verified, if SASL started)
//! ```
//!
//! All decisions (require_auth, channel_binding, no AuthenticationOk before a verified
//! SASLFinal) live in the policy; this module only moves bytes and keys.

use std::fmt;

use pgscram_auth::client_policy::{
    Action, AuthRequest, AuthSession, ClientPolicy, Gs2Flag, SaslMechanism,
};
use pgscram_scram::client::{ClientFinalSent, ClientFirstSent};
use pgscram_scram::nonce::NONCE_RANDOM_LEN;
use pgscram_scram::{
    ClientChannel, ClientExchange, ClientKey, ClientOptions, Credential, Nonce, ServerKey,
};
use pgscram_wire::{
    Authentication, BackendMessage, ErrorFields, Password, PasswordMessage, SaslInitialResponse,
    SaslResponse,
};
use tokio::io::{AsyncRead, AsyncWrite};
use zeroize::Zeroizing;

use crate::error::{Error, ProtocolError};
use crate::stream::{AUTH_MESSAGE_LIMIT, Framed};

/// The method the server authenticated the client with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMethod {
    /// AuthenticationOk with no exchange at all.
    Trust,
    /// Cleartext password.
    Password,
    /// md5 challenge-response.
    Md5,
    /// SCRAM-SHA-256, with or without channel binding.
    ScramSha256,
}

impl AuthMethod {
    /// The name pg_hba.conf uses.
    pub fn as_str(self) -> &'static str {
        match self {
            AuthMethod::Trust => "trust",
            AuthMethod::Password => "password",
            AuthMethod::Md5 => "md5",
            AuthMethod::ScramSha256 => "scram-sha-256",
        }
    }
}

impl fmt::Display for AuthMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the client holds to prove itself. Debug shows only which secrets are present.
pub struct Secrets {
    /// The password, as bytes (SASLprep is applied for SCRAM).
    pub password: Option<Zeroizing<Vec<u8>>>,
    /// libpq 18's scram_client_key / scram_server_key: SCRAM without the password.
    pub scram_keys: Option<(ClientKey, ServerKey)>,
    /// An md5 secret (`md5` + 32 hex digits): the md5 challenge without the password,
    /// as a pooler answers it for a role whose md5 login it verified.
    pub md5_secret: Option<pgscram_scram::md5::Md5Secret>,
}

impl fmt::Debug for Secrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Secrets")
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field(
                "scram_keys",
                &self.scram_keys.as_ref().map(|_| "<redacted>"),
            )
            .field(
                "md5_secret",
                &self.md5_secret.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

/// Inputs of one authentication phase.
pub struct Login<'a> {
    /// The role name, which md5 hashes with the password.
    pub user: &'a str,
    /// What the client can prove itself with.
    pub secrets: &'a Secrets,
    /// `require_auth` and `channel_binding`.
    pub policy: &'a ClientPolicy,
    /// The highest SCRAM iteration count the client will compute.
    pub max_iterations: u32,
    /// The salt and iteration count the server must offer (stale-verifier check).
    pub expected_scram: Option<(&'a [u8], u32)>,
    /// The server's leaf certificate (DER) when TLS is in use.
    pub server_certificate: Option<&'a [u8]>,
    /// Whether the connection is TLS.
    pub tls_in_use: bool,
}

/// What the authentication phase established.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthOutcome {
    /// The method the server used.
    pub method: AuthMethod,
    /// The SASL mechanism used, for SCRAM.
    pub mechanism: Option<&'static str>,
    /// True when SCRAM-SHA-256-PLUS bound the exchange to the TLS channel.
    pub channel_binding: bool,
    /// True when the server proved knowledge of the verifier (SCRAM server signature).
    pub server_verified: bool,
    /// NoticeResponses received while authenticating.
    pub notices: Vec<ErrorFields>,
}

enum Scram {
    Idle,
    FirstSent(Box<ClientFirstSent>, SaslMechanism),
    FinalSent(Box<ClientFinalSent>, SaslMechanism),
    Verified(SaslMechanism, bool),
}

/// Runs the authentication phase up to and including AuthenticationOk.
pub async fn authenticate<S: AsyncRead + AsyncWrite + Unpin>(
    framed: &mut Framed<S>,
    login: &Login<'_>,
) -> Result<AuthOutcome, Error> {
    let mut session = AuthSession::new(login.policy.clone(), login.tls_in_use);
    let mut scram = Scram::Idle;
    let mut password_method = None;
    let mut notices = Vec::new();
    loop {
        let request = match framed.read_backend(AUTH_MESSAGE_LIMIT).await? {
            BackendMessage::Authentication(request) => request,
            BackendMessage::ErrorResponse(fields) => return Err(Error::Server(Box::new(fields))),
            BackendMessage::NoticeResponse(fields) => {
                notices.push(fields);
                continue;
            }
            // We ask for 3.0 with no protocol options; a server that says it speaks
            // less than that cannot be talked to.
            BackendMessage::NegotiateProtocolVersion(n) if n.newest.major == 3 => continue,
            other => {
                return Err(ProtocolError::Unexpected {
                    tag: other.tag(),
                    during: "authentication",
                }
                .into());
            }
        };
        let mechanisms: Vec<&str> = match &request {
            Authentication::Sasl { mechanisms } => mechanisms.iter().map(String::as_str).collect(),
            _ => Vec::new(),
        };
        let action = session.handle(as_request(&request, &mechanisms))?;
        match action {
            Action::Authenticated => {
                let (method, mechanism, channel_binding, server_verified) = match scram {
                    Scram::Verified(m, bound) => {
                        (AuthMethod::ScramSha256, Some(m.as_str()), bound, true)
                    }
                    _ => (
                        password_method.unwrap_or(AuthMethod::Trust),
                        None,
                        false,
                        false,
                    ),
                };
                return Ok(AuthOutcome {
                    method,
                    mechanism,
                    channel_binding,
                    server_verified,
                    notices,
                });
            }
            Action::SendCleartextPassword => {
                let password = password(login.secrets)?;
                send_password(framed, password.to_vec()).await?;
                password_method = Some(AuthMethod::Password);
            }
            Action::SendMd5Password => {
                let Authentication::Md5Password { salt } = request else {
                    return Err(unexpected_request());
                };
                let response = match &login.secrets.md5_secret {
                    Some(secret) => pgscram_scram::md5::expected_response(secret.expose(), salt)
                        .ok_or(Error::NoPassword)?,
                    None => pgscram_scram::md5::client_response(
                        password(login.secrets)?,
                        login.user,
                        salt,
                    ),
                };
                send_password(framed, response.as_bytes().to_vec()).await?;
                password_method = Some(AuthMethod::Md5);
            }
            Action::StartSasl(choice) => {
                let channel = match choice.gs2 {
                    Gs2Flag::N => ClientChannel::NotSupported,
                    Gs2Flag::Y => ClientChannel::SupportedNotUsed,
                    Gs2Flag::P => {
                        let cert = login
                            .server_certificate
                            .ok_or(ProtocolError::NoServerCertificate)?;
                        let hash = pgscram_scram::channel_binding::tls_server_end_point(cert)
                            .map_err(ProtocolError::ChannelBindingHash)?;
                        ClientChannel::TlsServerEndPoint(hash)
                    }
                };
                let credential = credential(login.secrets)?;
                let nonce = fresh_nonce()?;
                let options = ClientOptions {
                    max_iterations: login.max_iterations,
                    expected_parameters: login.expected_scram.map(|(s, i)| (s.to_vec(), i)),
                    ..ClientOptions::default()
                };
                let (state, client_first) =
                    ClientExchange::start(credential, channel, &nonce, options);
                let mut out = Vec::new();
                SaslInitialResponse {
                    mechanism: choice.mechanism.as_str().to_owned(),
                    data: Some(client_first.into_bytes()),
                }
                .encode(&mut out)?;
                framed.send(&out).await?;
                scram = Scram::FirstSent(Box::new(state), choice.mechanism);
            }
            Action::ContinueSasl => {
                let (Authentication::SaslContinue(data), Scram::FirstSent(state, mechanism)) =
                    (&request, std::mem::replace(&mut scram, Scram::Idle))
                else {
                    return Err(unexpected_request());
                };
                let (state, client_final) = state.handle_server_first(data)?;
                let mut out = Vec::new();
                SaslResponse {
                    data: client_final.into_bytes(),
                }
                .encode(&mut out)?;
                framed.send(&out).await?;
                scram = Scram::FinalSent(Box::new(state), mechanism);
            }
            Action::FinishSasl => {
                let (Authentication::SaslFinal(data), Scram::FinalSent(state, mechanism)) =
                    (&request, std::mem::replace(&mut scram, Scram::Idle))
                else {
                    return Err(unexpected_request());
                };
                let verified = state.handle_server_final(data)?;
                session.sasl_verified()?;
                scram = Scram::Verified(mechanism, verified.channel_bound);
            }
        }
    }
}

/// The policy and this driver disagree about the request: cannot happen with a
/// consistent policy, reported rather than trusted.
fn unexpected_request() -> Error {
    ProtocolError::Unexpected {
        tag: b'R',
        during: "authentication",
    }
    .into()
}

fn as_request<'a>(request: &Authentication, mechanisms: &'a [&'a str]) -> AuthRequest<'a> {
    match request {
        Authentication::Ok => AuthRequest::Ok,
        Authentication::KerberosV5 => AuthRequest::Other(2),
        Authentication::CleartextPassword => AuthRequest::CleartextPassword,
        Authentication::Md5Password { .. } => AuthRequest::Md5Password,
        Authentication::Gss => AuthRequest::Gss,
        Authentication::GssContinue(_) => AuthRequest::GssContinue,
        Authentication::Sspi => AuthRequest::Sspi,
        Authentication::Sasl { .. } => AuthRequest::Sasl(mechanisms),
        Authentication::SaslContinue(_) => AuthRequest::SaslContinue,
        Authentication::SaslFinal(_) => AuthRequest::SaslFinal,
    }
}

/// libpq treats an empty password as none.
fn password(secrets: &Secrets) -> Result<&[u8], Error> {
    match &secrets.password {
        Some(p) if !p.is_empty() => Ok(p),
        _ => Err(Error::NoPassword),
    }
}

fn credential(secrets: &Secrets) -> Result<Credential, Error> {
    if let Some((client_key, server_key)) = &secrets.scram_keys {
        return Ok(Credential::Keys {
            client_key: client_key.clone(),
            server_key: server_key.clone(),
        });
    }
    Ok(Credential::Password(Zeroizing::new(
        password(secrets)?.to_vec(),
    )))
}

fn fresh_nonce() -> Result<Nonce, Error> {
    let mut bytes = Zeroizing::new([0u8; NONCE_RANDOM_LEN]);
    getrandom::getrandom(bytes.as_mut()).map_err(|e| Error::Io(std::io::Error::other(e)))?;
    Ok(Nonce::from_random(&bytes))
}

async fn send_password<S: AsyncRead + AsyncWrite + Unpin>(
    framed: &mut Framed<S>,
    bytes: Vec<u8>,
) -> Result<(), Error> {
    let mut out = Zeroizing::new(Vec::new());
    PasswordMessage::new(Password::new(bytes)).encode(&mut out)?;
    framed.send(&out).await
}

#[cfg(test)]
mod tests {
    use pgscram_auth::client_policy::{ChannelBinding, PolicyError, RequireAuth};
    use pgscram_scram::server::{Channel, Credentials, Outcome, ServerExchange};
    use pgscram_scram::{ClientError, ScramVerifier};
    use pgscram_wire::{FrontendMessage, SqlState};
    use tokio::io::DuplexStream;

    use super::*;

    const USER: &str = "alice";
    const PASSWORD: &str = "correct horse";

    fn verifier() -> ScramVerifier {
        ScramVerifier::derive(PASSWORD.as_bytes(), &[7u8; 16], 4096).unwrap()
    }

    fn secrets(password: Option<&str>) -> Secrets {
        Secrets {
            password: password.map(|p| Zeroizing::new(p.as_bytes().to_vec())),
            scram_keys: None,
            md5_secret: None,
        }
    }

    fn policy(require_auth: &str, channel_binding: ChannelBinding) -> ClientPolicy {
        ClientPolicy {
            require_auth: RequireAuth::parse(require_auth).unwrap(),
            channel_binding,
        }
    }

    /// The server's end of the pipe.
    struct Peer(Framed<DuplexStream>);

    impl Peer {
        async fn send(&mut self, message: BackendMessage) {
            let mut out = Vec::new();
            message.encode(&mut out).unwrap();
            self.0.send(&out).await.unwrap();
        }

        async fn auth(&mut self, request: Authentication) {
            self.send(BackendMessage::Authentication(request)).await;
        }

        /// The next `p` message's body, or `None` when the client hung up.
        async fn recv(&mut self) -> Option<pgscram_wire::AuthResponse> {
            let message = self.0.read_message(AUTH_MESSAGE_LIMIT).await.ok()?;
            match FrontendMessage::decode_parts(message.tag(), message.body()).ok()? {
                FrontendMessage::Auth(response) => Some(response),
                other => panic!("unexpected {other:?}"),
            }
        }

        /// Runs SCRAM as a server up to (not including) SASLFinal; returns server-final.
        async fn scram_until_final(&mut self, end_point: Option<&[u8]>) -> String {
            let channel = end_point.map_or(Channel::unbound(), Channel::tls_server_end_point);
            let mechanisms = channel
                .mechanisms()
                .iter()
                .map(|m| m.name().into())
                .collect();
            self.auth(Authentication::Sasl { mechanisms }).await;
            let initial = self.recv().await.unwrap().sasl_initial().unwrap();
            let exchange = ServerExchange::new(
                &initial.mechanism,
                channel,
                Credentials::Verifier(verifier()),
            )
            .unwrap();
            let nonce = Nonce::from_random(&[9u8; NONCE_RANDOM_LEN]);
            let (salt_sent, server_first) = exchange
                .handle_client_first(&initial.data.unwrap(), &nonce)
                .unwrap();
            self.auth(Authentication::SaslContinue(server_first.into_bytes()))
                .await;
            let client_final = self.recv().await.unwrap().sasl_response().data;
            match salt_sent.handle_client_final(&client_final).unwrap() {
                Outcome::Success { server_final, .. } => server_final,
                Outcome::Failure { reason } => panic!("proof refused: {reason:?}"),
            }
        }
    }

    /// Runs the client against `server` over an in-memory pipe.
    async fn run<F, Fut>(login: Login<'_>, server: F) -> Result<AuthOutcome, Error>
    where
        F: FnOnce(Peer) -> Fut,
        Fut: std::future::Future<Output = ()> + Send + 'static,
    {
        let (client_end, server_end) = tokio::io::duplex(64 * 1024);
        let task = tokio::spawn(server(Peer(Framed::new(server_end))));
        let mut framed = Framed::new(client_end);
        let result = authenticate(&mut framed, &login).await;
        drop(framed);
        task.await.unwrap();
        result
    }

    fn login<'a>(secrets: &'a Secrets, policy: &'a ClientPolicy) -> Login<'a> {
        Login {
            user: USER,
            secrets,
            policy,
            max_iterations: 100_000,
            expected_scram: None,
            server_certificate: None,
            tls_in_use: false,
        }
    }

    #[tokio::test]
    async fn scram_login_verifies_the_server() {
        let (s, p) = (secrets(Some(PASSWORD)), policy("", ChannelBinding::Prefer));
        let outcome = run(login(&s, &p), |mut peer| async move {
            let server_final = peer.scram_until_final(None).await;
            peer.auth(Authentication::SaslFinal(server_final.into_bytes()))
                .await;
            peer.auth(Authentication::Ok).await;
        })
        .await
        .unwrap();
        assert_eq!(outcome.method, AuthMethod::ScramSha256);
        assert_eq!(outcome.mechanism, Some("SCRAM-SHA-256"));
        assert!(outcome.server_verified);
        assert!(!outcome.channel_binding);
    }

    #[tokio::test]
    async fn scram_plus_binds_to_the_certificate() {
        let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
        let der = cert.cert.der().to_vec();
        let hash = pgscram_scram::channel_binding::tls_server_end_point(&der).unwrap();
        let (s, p) = (secrets(Some(PASSWORD)), policy("", ChannelBinding::Require));
        let mut l = login(&s, &p);
        l.server_certificate = Some(&der);
        l.tls_in_use = true;
        let outcome = run(l, |mut peer| async move {
            let server_final = peer.scram_until_final(Some(&hash)).await;
            peer.auth(Authentication::SaslFinal(server_final.into_bytes()))
                .await;
            peer.auth(Authentication::Ok).await;
        })
        .await
        .unwrap();
        assert_eq!(outcome.mechanism, Some("SCRAM-SHA-256-PLUS"));
        assert!(outcome.channel_binding && outcome.server_verified);
    }

    #[tokio::test]
    async fn keys_log_in_without_the_password() {
        let salted =
            pgscram_scram::keys::SaltedPassword::derive(PASSWORD.as_bytes(), &[7u8; 16], 4096);
        let s = Secrets {
            password: None,
            scram_keys: Some((salted.client_key(), salted.server_key())),
            md5_secret: None,
        };
        let p = policy("scram-sha-256", ChannelBinding::Prefer);
        let outcome = run(login(&s, &p), |mut peer| async move {
            let server_final = peer.scram_until_final(None).await;
            peer.auth(Authentication::SaslFinal(server_final.into_bytes()))
                .await;
            peer.auth(Authentication::Ok).await;
        })
        .await
        .unwrap();
        assert!(outcome.server_verified);
    }

    #[tokio::test]
    async fn regression_ok_before_sasl_final_is_refused() {
        let (s, p) = (secrets(Some(PASSWORD)), policy("", ChannelBinding::Prefer));
        let error = run(login(&s, &p), |mut peer| async move {
            let _ = peer.scram_until_final(None).await;
            // A server that does not know the verifier skips its proof.
            peer.auth(Authentication::Ok).await;
        })
        .await
        .unwrap_err();
        assert!(
            matches!(error, Error::Policy(PolicyError::OkBeforeSaslCompleted)),
            "{error}"
        );
    }

    #[tokio::test]
    async fn forged_server_signature_is_refused() {
        let (s, p) = (secrets(Some(PASSWORD)), policy("", ChannelBinding::Prefer));
        let error = run(login(&s, &p), |mut peer| async move {
            let _ = peer.scram_until_final(None).await;
            // base64 of 32 zero bytes.
            let forged = format!("v={}A=", "A".repeat(42));
            peer.auth(Authentication::SaslFinal(forged.into_bytes()))
                .await;
            peer.auth(Authentication::Ok).await;
        })
        .await
        .unwrap_err();
        assert!(
            matches!(error, Error::Scram(ClientError::IncorrectServerSignature)),
            "{error}"
        );
    }

    #[tokio::test]
    async fn regression_huge_iteration_count_is_refused_without_hashing() {
        let (s, p) = (secrets(Some(PASSWORD)), policy("", ChannelBinding::Prefer));
        let started = std::time::Instant::now();
        let error = run(login(&s, &p), |mut peer| async move {
            peer.auth(Authentication::Sasl {
                mechanisms: vec!["SCRAM-SHA-256".into()],
            })
            .await;
            let initial = peer.recv().await.unwrap().sasl_initial().unwrap();
            let first = String::from_utf8(initial.data.unwrap()).unwrap();
            let nonce = first.split("r=").nth(1).unwrap().to_owned();
            let server_first = format!("r={nonce}xyz,s=AAAAAAAAAAAAAAAAAAAAAA==,i=4000000000");
            peer.auth(Authentication::SaslContinue(server_first.into_bytes()))
                .await;
            assert!(
                peer.recv().await.is_none(),
                "client answered a hostile count"
            );
        })
        .await
        .unwrap_err();
        assert!(
            matches!(
                error,
                Error::Scram(ClientError::IterationCountTooHigh {
                    requested: 4_000_000_000,
                    ..
                })
            ),
            "{error}"
        );
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
    }

    #[tokio::test]
    async fn md5_answer_is_what_the_server_expects() {
        md5_answer_checks_out(secrets(Some(PASSWORD))).await;
    }

    /// md5 pass-through: the md5 secret alone answers the challenge as the password would.
    #[tokio::test]
    async fn an_md5_secret_answers_the_md5_challenge() {
        let mut s = secrets(None);
        let stored = pgscram_scram::md5::md5_secret(PASSWORD.as_bytes(), USER);
        s.md5_secret = pgscram_scram::md5::Md5Secret::parse(&stored);
        md5_answer_checks_out(s).await;
    }

    async fn md5_answer_checks_out(s: Secrets) {
        let p = policy("", ChannelBinding::Prefer);
        let outcome = run(login(&s, &p), |mut peer| async move {
            let salt = [1, 2, 3, 4];
            peer.auth(Authentication::Md5Password { salt }).await;
            let answer = peer.recv().await.unwrap().password().unwrap();
            let stored = pgscram_scram::md5::md5_secret(PASSWORD.as_bytes(), USER);
            assert!(pgscram_scram::md5::verify_response(
                &stored,
                salt,
                answer.password.expose()
            ));
            peer.auth(Authentication::Ok).await;
        })
        .await
        .unwrap();
        assert_eq!(outcome.method, AuthMethod::Md5);
        assert!(!outcome.server_verified);
    }

    #[tokio::test]
    async fn cleartext_is_never_sent_when_require_auth_forbids_it() {
        let (s, p) = (
            secrets(Some(PASSWORD)),
            policy("scram-sha-256", ChannelBinding::Prefer),
        );
        let error = run(login(&s, &p), |mut peer| async move {
            peer.auth(Authentication::CleartextPassword).await;
            assert!(peer.recv().await.is_none(), "the password went out");
        })
        .await
        .unwrap_err();
        assert_eq!(
            error.to_string(),
            "authentication method requirement \"scram-sha-256\" failed: server requested a cleartext password"
        );
    }

    #[tokio::test]
    async fn channel_binding_require_refuses_md5() {
        let (s, p) = (secrets(Some(PASSWORD)), policy("", ChannelBinding::Require));
        let error = run(login(&s, &p), |mut peer| async move {
            peer.auth(Authentication::Md5Password { salt: [0; 4] })
                .await;
            assert!(peer.recv().await.is_none());
        })
        .await
        .unwrap_err();
        assert!(matches!(error, Error::Policy(_)), "{error}");
    }

    #[tokio::test]
    async fn trust_and_missing_password() {
        let (s, p) = (secrets(None), policy("", ChannelBinding::Prefer));
        let outcome = run(login(&s, &p), |mut peer| async move {
            peer.auth(Authentication::Ok).await;
        })
        .await
        .unwrap();
        assert_eq!(outcome.method, AuthMethod::Trust);

        let error = run(login(&s, &p), |mut peer| async move {
            peer.auth(Authentication::CleartextPassword).await;
        })
        .await
        .unwrap_err();
        assert_eq!(error.to_string(), "fe_sendauth: no password supplied");

        // An empty password counts as none, as in libpq.
        let s = secrets(Some(""));
        let error = run(login(&s, &p), |mut peer| async move {
            peer.auth(Authentication::Md5Password { salt: [0; 4] })
                .await;
        })
        .await
        .unwrap_err();
        assert!(matches!(error, Error::NoPassword));
    }

    #[tokio::test]
    async fn server_error_surfaces_with_its_code() {
        let (s, p) = (secrets(Some("wrong")), policy("", ChannelBinding::Prefer));
        let error = run(login(&s, &p), |mut peer| async move {
            peer.auth(Authentication::CleartextPassword).await;
            let _ = peer.recv().await;
            peer.send(BackendMessage::ErrorResponse(ErrorFields::fatal(
                SqlState::INVALID_PASSWORD,
                "password authentication failed for user \"alice\"",
            )))
            .await;
        })
        .await
        .unwrap_err();
        assert_eq!(error.sqlstate(), Some(SqlState::INVALID_PASSWORD));
        assert!(!error.to_string().contains("wrong"));
    }

    #[tokio::test]
    async fn unexpected_message_during_authentication() {
        let (s, p) = (secrets(Some(PASSWORD)), policy("", ChannelBinding::Prefer));
        let error = run(login(&s, &p), |mut peer| async move {
            peer.send(BackendMessage::ReadyForQuery(
                pgscram_wire::TransactionStatus::Idle,
            ))
            .await;
        })
        .await
        .unwrap_err();
        assert!(
            matches!(
                error,
                Error::Protocol(ProtocolError::Unexpected { tag: b'Z', .. })
            ),
            "{error}"
        );
    }

    #[test]
    fn secrets_debug_is_redacted() {
        let s = secrets(Some(PASSWORD));
        let shown = format!("{s:?}");
        assert!(!shown.contains("horse"));
        assert!(shown.contains("<redacted>"));
    }
}
