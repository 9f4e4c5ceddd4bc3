//! The full require_auth matrix (every method list against every server flow), after
//! PostgreSQL's src/test/authentication/t/001_password.pl, and the channel_binding
//! matrix (setting x TLS x what the server offers), after libpq's fe-auth.c.

use std::collections::BTreeSet;

use pgscram_auth::client_policy::{
    Action, AuthRequest, AuthSession, ChannelBinding, ClientPolicy, Gs2Flag, PolicyError,
    RequireAuth, SCRAM_SHA_256, SCRAM_SHA_256_PLUS, SaslMechanism,
};

const PLAIN: &[&str] = &[SCRAM_SHA_256];
const PLUS: &[&str] = &[SCRAM_SHA_256_PLUS, SCRAM_SHA_256];

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Flow {
    Trust,
    Password,
    Md5,
    Scram,
    Gss,
    Sspi,
}

const FLOWS: [Flow; 6] = [
    Flow::Trust,
    Flow::Password,
    Flow::Md5,
    Flow::Scram,
    Flow::Gss,
    Flow::Sspi,
];

fn requests(flow: Flow, plus: bool) -> Vec<AuthRequest<'static>> {
    let mechs = if plus { PLUS } else { PLAIN };
    match flow {
        Flow::Trust => vec![AuthRequest::Ok],
        Flow::Password => vec![AuthRequest::CleartextPassword, AuthRequest::Ok],
        Flow::Md5 => vec![AuthRequest::Md5Password, AuthRequest::Ok],
        Flow::Scram => vec![
            AuthRequest::Sasl(mechs),
            AuthRequest::SaslContinue,
            AuthRequest::SaslFinal,
            AuthRequest::Ok,
        ],
        Flow::Gss => vec![AuthRequest::Gss],
        Flow::Sspi => vec![AuthRequest::Sspi],
    }
}

/// Runs a server flow the way a client would (verifying each SASLFinal).
fn run(
    policy: ClientPolicy,
    tls: bool,
    reqs: &[AuthRequest<'_>],
) -> Result<(Vec<Action>, bool), PolicyError> {
    let mut session = AuthSession::new(policy, tls);
    let mut actions = Vec::new();
    for r in reqs {
        let a = session.handle(*r)?;
        if a == Action::FinishSasl {
            session.sasl_verified()?;
        }
        actions.push(a);
    }
    Ok((actions, session.channel_bound()))
}

#[derive(Debug, Clone, Copy)]
enum Expect {
    Ok,
    /// `authentication method requirement "<spec>" failed: <reason>`
    Requirement(&'static str),
    /// Any other complete text.
    Text(&'static str),
}

const NOT_COMPLETED: &str = "server did not complete authentication";
const CLEARTEXT: &str = "server requested a cleartext password";
const HASHED: &str = "server requested a hashed password";
const SASL: &str = "server requested SASL authentication";
const SCRAM_MECH: &str = "server requested SCRAM-SHA-256 authentication";
const GSSAPI: &str = "server requested GSSAPI authentication";
const SSPI: &str = "server requested SSPI authentication";

/// For each flow, the outcome of each method list. Every list appears once per flow
/// (checked below), so the table is the full matrix.
fn table() -> Vec<(Flow, Expect, &'static [&'static str])> {
    use Expect::*;
    vec![
        (
            Flow::Trust,
            Ok,
            &[
                "",
                "none",
                "!password",
                "!md5",
                "!gss",
                "!sspi",
                "!scram-sha-256",
                "!oauth",
                "!password,!md5,!scram-sha-256",
                "!scram-sha-256,!oauth",
                "none,md5",
            ],
        ),
        (
            Flow::Trust,
            Requirement(NOT_COMPLETED),
            &[
                "password",
                "md5",
                "gss",
                "sspi",
                "scram-sha-256",
                "oauth",
                "!none",
                "password,scram-sha-256",
                "scram-sha-256,password,md5",
                "!none,!md5",
            ],
        ),
        (
            Flow::Password,
            Ok,
            &[
                "",
                "password",
                "!md5",
                "!gss",
                "!sspi",
                "!scram-sha-256",
                "!oauth",
                "!none",
                "password,scram-sha-256",
                "scram-sha-256,password,md5",
                "!scram-sha-256,!oauth",
                "!none,!md5",
            ],
        ),
        (
            Flow::Password,
            Requirement(CLEARTEXT),
            &[
                "md5",
                "gss",
                "sspi",
                "scram-sha-256",
                "oauth",
                "none",
                "!password",
                "!password,!md5,!scram-sha-256",
                "none,md5",
            ],
        ),
        (
            Flow::Md5,
            Ok,
            &[
                "",
                "md5",
                "!password",
                "!gss",
                "!sspi",
                "!scram-sha-256",
                "!oauth",
                "!none",
                "scram-sha-256,password,md5",
                "!scram-sha-256,!oauth",
                "none,md5",
            ],
        ),
        (
            Flow::Md5,
            Requirement(HASHED),
            &[
                "password",
                "gss",
                "sspi",
                "scram-sha-256",
                "oauth",
                "none",
                "!md5",
                "password,scram-sha-256",
                "!password,!md5,!scram-sha-256",
                "!none,!md5",
            ],
        ),
        (
            Flow::Scram,
            Ok,
            &[
                "",
                "scram-sha-256",
                "!password",
                "!md5",
                "!gss",
                "!sspi",
                "!oauth",
                "!none",
                "password,scram-sha-256",
                "scram-sha-256,password,md5",
                "!none,!md5",
            ],
        ),
        (
            Flow::Scram,
            Requirement(SASL),
            &[
                "password",
                "md5",
                "gss",
                "sspi",
                "none",
                "!scram-sha-256,!oauth",
                "none,md5",
            ],
        ),
        (
            Flow::Scram,
            Requirement(SCRAM_MECH),
            &["oauth", "!scram-sha-256", "!password,!md5,!scram-sha-256"],
        ),
        (
            Flow::Gss,
            Text("GSSAPI authentication not supported"),
            &[
                "",
                "gss",
                "!password",
                "!md5",
                "!sspi",
                "!scram-sha-256",
                "!oauth",
                "!none",
                "!password,!md5,!scram-sha-256",
                "!scram-sha-256,!oauth",
                "!none,!md5",
            ],
        ),
        (
            Flow::Gss,
            Requirement(GSSAPI),
            &[
                "password",
                "md5",
                "sspi",
                "scram-sha-256",
                "oauth",
                "none",
                "!gss",
                "password,scram-sha-256",
                "scram-sha-256,password,md5",
                "none,md5",
            ],
        ),
        (
            Flow::Sspi,
            Text("SSPI authentication not supported"),
            &[
                "",
                "sspi",
                "!password",
                "!md5",
                "!gss",
                "!scram-sha-256",
                "!oauth",
                "!none",
                "!password,!md5,!scram-sha-256",
                "!scram-sha-256,!oauth",
                "!none,!md5",
            ],
        ),
        (
            Flow::Sspi,
            Requirement(SSPI),
            &[
                "password",
                "md5",
                "gss",
                "scram-sha-256",
                "oauth",
                "none",
                "!sspi",
                "password,scram-sha-256",
                "scram-sha-256,password,md5",
                "none,md5",
            ],
        ),
    ]
}

#[test]
fn require_auth_matrix() {
    let table = table();
    let all_specs: BTreeSet<&str> = table
        .iter()
        .flat_map(|(_, _, specs)| specs.iter().copied())
        .collect();
    for flow in FLOWS {
        let mut seen = BTreeSet::new();
        for (f, expect, specs) in &table {
            if *f != flow {
                continue;
            }
            for spec in *specs {
                assert!(seen.insert(*spec), "{spec:?} listed twice for {flow:?}");
                let policy = ClientPolicy {
                    require_auth: RequireAuth::parse(spec).unwrap(),
                    channel_binding: ChannelBinding::Prefer,
                };
                let got = run(policy, false, &requests(flow, false));
                match expect {
                    Expect::Ok => {
                        assert!(got.is_ok(), "{flow:?} with require_auth={spec:?}: {got:?}")
                    }
                    Expect::Requirement(reason) => assert_eq!(
                        got.map(|_| ()).map_err(|e| e.to_string()),
                        Err(format!(
                            "authentication method requirement \"{spec}\" failed: {reason}"
                        )),
                        "{flow:?} with require_auth={spec:?}"
                    ),
                    Expect::Text(text) => assert_eq!(
                        got.map(|_| ()).map_err(|e| e.to_string()),
                        Err((*text).to_owned()),
                        "{flow:?} with require_auth={spec:?}"
                    ),
                }
            }
        }
        assert_eq!(seen, all_specs, "{flow:?} does not cover every method list");
    }
}

#[test]
fn require_auth_does_not_accept_a_half_done_scram_exchange() {
    // libpq's own rule: with a requirement, AuthenticationOk needs a completed exchange.
    let policy = ClientPolicy {
        require_auth: RequireAuth::parse("scram-sha-256").unwrap(),
        ..Default::default()
    };
    let got = run(
        policy,
        false,
        &[
            AuthRequest::Sasl(PLAIN),
            AuthRequest::SaslContinue,
            AuthRequest::Ok,
        ],
    );
    assert_eq!(
        got.unwrap_err().to_string(),
        "authentication method requirement \"scram-sha-256\" failed: server did not complete authentication"
    );
    // pgscram's stricter rule covers the case libpq lets through: no requirement at all.
    let got = run(
        ClientPolicy::default(),
        false,
        &[
            AuthRequest::Sasl(PLAIN),
            AuthRequest::SaslContinue,
            AuthRequest::Ok,
        ],
    );
    assert_eq!(got.unwrap_err(), PolicyError::OkBeforeSaslCompleted);
}

#[derive(Debug)]
enum CbExpect {
    Ok(Option<Gs2Flag>),
    Err(PolicyError),
}

#[test]
fn channel_binding_matrix() {
    use ChannelBinding::*;
    use PolicyError as E;
    // (setting, tls, flow, PLUS offered, expected)
    let cases: Vec<(ChannelBinding, bool, Flow, bool, CbExpect)> = vec![
        (Disable, false, Flow::Trust, false, CbExpect::Ok(None)),
        (Disable, false, Flow::Password, false, CbExpect::Ok(None)),
        (Disable, false, Flow::Md5, false, CbExpect::Ok(None)),
        (
            Disable,
            false,
            Flow::Scram,
            false,
            CbExpect::Ok(Some(Gs2Flag::N)),
        ),
        (
            Disable,
            false,
            Flow::Scram,
            true,
            CbExpect::Err(E::PlusWithoutTls),
        ),
        (
            Disable,
            true,
            Flow::Scram,
            false,
            CbExpect::Ok(Some(Gs2Flag::N)),
        ),
        (
            Disable,
            true,
            Flow::Scram,
            true,
            CbExpect::Ok(Some(Gs2Flag::N)),
        ),
        (Prefer, false, Flow::Trust, false, CbExpect::Ok(None)),
        (Prefer, false, Flow::Md5, false, CbExpect::Ok(None)),
        (
            Prefer,
            false,
            Flow::Scram,
            false,
            CbExpect::Ok(Some(Gs2Flag::N)),
        ),
        (
            Prefer,
            false,
            Flow::Scram,
            true,
            CbExpect::Err(E::PlusWithoutTls),
        ),
        (Prefer, true, Flow::Password, false, CbExpect::Ok(None)),
        (
            Prefer,
            true,
            Flow::Scram,
            false,
            CbExpect::Ok(Some(Gs2Flag::Y)),
        ),
        (
            Prefer,
            true,
            Flow::Scram,
            true,
            CbExpect::Ok(Some(Gs2Flag::P)),
        ),
        (
            Require,
            false,
            Flow::Trust,
            false,
            CbExpect::Err(E::ChannelBindingNotUsed),
        ),
        (
            Require,
            false,
            Flow::Password,
            false,
            CbExpect::Err(E::ChannelBindingUnsupportedRequest),
        ),
        (
            Require,
            false,
            Flow::Md5,
            false,
            CbExpect::Err(E::ChannelBindingUnsupportedRequest),
        ),
        (
            Require,
            false,
            Flow::Scram,
            false,
            CbExpect::Err(E::ChannelBindingWithoutTls),
        ),
        (
            Require,
            false,
            Flow::Scram,
            true,
            CbExpect::Err(E::ChannelBindingWithoutTls),
        ),
        (
            Require,
            true,
            Flow::Trust,
            false,
            CbExpect::Err(E::ChannelBindingNotUsed),
        ),
        (
            Require,
            true,
            Flow::Password,
            false,
            CbExpect::Err(E::ChannelBindingUnsupportedRequest),
        ),
        (
            Require,
            true,
            Flow::Md5,
            false,
            CbExpect::Err(E::ChannelBindingUnsupportedRequest),
        ),
        (
            Require,
            true,
            Flow::Gss,
            false,
            CbExpect::Err(E::ChannelBindingUnsupportedRequest),
        ),
        (
            Require,
            true,
            Flow::Scram,
            false,
            CbExpect::Err(E::ChannelBindingNotOffered),
        ),
        (
            Require,
            true,
            Flow::Scram,
            true,
            CbExpect::Ok(Some(Gs2Flag::P)),
        ),
    ];
    for (cb, tls, flow, plus, expect) in cases {
        let policy = ClientPolicy {
            require_auth: RequireAuth::default(),
            channel_binding: cb,
        };
        let got = run(policy, tls, &requests(flow, plus));
        let label = format!("{cb:?} tls={tls} {flow:?} plus={plus}");
        match expect {
            CbExpect::Err(e) => assert_eq!(got.map(|_| ()), Err(e), "{label}"),
            CbExpect::Ok(flag) => {
                let (actions, bound) = got.unwrap_or_else(|e| panic!("{label}: {e}"));
                let chosen = actions.iter().find_map(|a| match a {
                    Action::StartSasl(choice) => Some(choice.gs2),
                    _ => None,
                });
                assert_eq!(chosen, flag, "{label}");
                assert_eq!(bound, flag == Some(Gs2Flag::P), "{label}");
                if flag == Some(Gs2Flag::P) {
                    assert!(matches!(
                        actions[0],
                        Action::StartSasl(c) if c.mechanism == SaslMechanism::ScramSha256Plus
                    ));
                }
            }
        }
    }
}

#[test]
fn channel_binding_texts() {
    let texts = [
        (
            PolicyError::ChannelBindingWithoutTls,
            "channel binding required, but SSL not in use",
        ),
        (
            PolicyError::ChannelBindingNotOffered,
            "channel binding is required, but server did not offer an authentication method that supports channel binding",
        ),
        (
            PolicyError::ChannelBindingUnsupportedRequest,
            "channel binding required but not supported by server's authentication request",
        ),
        (
            PolicyError::ChannelBindingNotUsed,
            "channel binding required, but server authenticated client without channel binding",
        ),
        (
            PolicyError::PlusWithoutTls,
            "server offered SCRAM-SHA-256-PLUS authentication over a non-SSL connection",
        ),
        (
            PolicyError::NoSupportedMechanism,
            "none of the server's SASL authentication mechanisms are supported",
        ),
        (
            PolicyError::DuplicateSasl,
            "duplicate SASL authentication request",
        ),
    ];
    for (e, text) in texts {
        assert_eq!(e.to_string(), text);
    }
}

#[test]
fn require_auth_and_channel_binding_together() {
    // require_auth is checked before channel_binding, as in libpq.
    let policy = ClientPolicy {
        require_auth: RequireAuth::parse("scram-sha-256").unwrap(),
        channel_binding: ChannelBinding::Require,
    };
    assert_eq!(
        run(policy.clone(), true, &[AuthRequest::Md5Password])
            .unwrap_err()
            .to_string(),
        "authentication method requirement \"scram-sha-256\" failed: server requested a hashed password"
    );
    assert!(run(policy, true, &requests(Flow::Scram, true)).is_ok());
}
