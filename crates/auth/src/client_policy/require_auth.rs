//! libpq's `require_auth` connection option (PostgreSQL 16, with 18's SASL mechanism
//! list): which authentication requests the client may answer, and whether the server
//! must authenticate at all.

use std::fmt;
use std::str::FromStr;

/// AuthenticationRequest codes of the protocol (the Int32 after `'R'`).
pub mod code {
    /// AuthenticationOk.
    pub const OK: u32 = 0;
    /// Kerberos V4, removed from PostgreSQL long ago.
    pub const KERBEROS_V4: u32 = 1;
    /// Kerberos V5, removed in PostgreSQL 9.4.
    pub const KERBEROS_V5: u32 = 2;
    /// AuthenticationCleartextPassword.
    pub const CLEARTEXT_PASSWORD: u32 = 3;
    /// `crypt()` passwords, removed in PostgreSQL 8.4.
    pub const CRYPT: u32 = 4;
    /// AuthenticationMD5Password.
    pub const MD5_PASSWORD: u32 = 5;
    /// AuthenticationGSS.
    pub const GSS: u32 = 7;
    /// AuthenticationGSSContinue.
    pub const GSS_CONTINUE: u32 = 8;
    /// AuthenticationSSPI.
    pub const SSPI: u32 = 9;
    /// AuthenticationSASL.
    pub const SASL: u32 = 10;
    /// AuthenticationSASLContinue.
    pub const SASL_CONTINUE: u32 = 11;
    /// AuthenticationSASLFinal.
    pub const SASL_FINAL: u32 = 12;
}

const SASL_BITS: u32 = (1 << code::SASL) | (1 << code::SASL_CONTINUE) | (1 << code::SASL_FINAL);

/// A parsed `require_auth` value. The default allows everything and requires nothing,
/// which is libpq's behaviour when the option is unset or empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequireAuth {
    /// The option as written, quoted back in failure messages.
    spec: Option<String>,
    /// The server must run an authentication exchange before AuthenticationOk.
    auth_required: bool,
    /// Allowed request codes, one bit per code.
    allowed: u32,
    scram: bool,
    oauth: bool,
}

impl Default for RequireAuth {
    fn default() -> Self {
        RequireAuth {
            spec: None,
            auth_required: false,
            allowed: u32::MAX,
            scram: true,
            oauth: true,
        }
    }
}

/// A `require_auth` value libpq would refuse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequireAuthError {
    /// A `!method` after a plain method.
    NegativeMixed(String),
    /// A plain method after a `!method`.
    PositiveMixed(String),
    /// The same method twice (the element as written, `!` included).
    Duplicate(String),
    /// Not a method name.
    Invalid(String),
}

impl fmt::Display for RequireAuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RequireAuthError::NegativeMixed(m) => {
                write!(
                    f,
                    "negative require_auth method \"{m}\" cannot be mixed with non-negative methods"
                )
            }
            RequireAuthError::PositiveMixed(m) => {
                write!(
                    f,
                    "require_auth method \"{m}\" cannot be mixed with negative methods"
                )
            }
            RequireAuthError::Duplicate(m) => {
                write!(f, "require_auth method \"{m}\" is specified more than once")
            }
            RequireAuthError::Invalid(m) => write!(f, "invalid require_auth value: \"{m}\""),
        }
    }
}

impl std::error::Error for RequireAuthError {}

enum Method {
    Bits(u32),
    Scram,
    OAuth,
    None,
}

impl RequireAuth {
    /// Parses a comma list of `password`, `md5`, `gss`, `sspi`, `scram-sha-256`,
    /// `oauth` and `none`, either all plain (only these are allowed) or all negated
    /// with `!` (everything but these). Elements are not trimmed, as in libpq. An empty
    /// value means "not set".
    pub fn parse(value: &str) -> Result<Self, RequireAuthError> {
        if value.is_empty() {
            return Ok(RequireAuth::default());
        }
        let mut out = RequireAuth {
            spec: Some(value.to_owned()),
            auth_required: true,
            allowed: 0,
            scram: false,
            oauth: false,
        };
        let mut negated = false;
        for (i, part) in value.split(',').enumerate() {
            let method = match part.strip_prefix('!') {
                Some(rest) => {
                    if i == 0 {
                        out.auth_required = false;
                        out.allowed = u32::MAX;
                        out.scram = true;
                        out.oauth = true;
                    } else if !negated {
                        return Err(RequireAuthError::NegativeMixed(part.to_owned()));
                    }
                    negated = true;
                    rest
                }
                None if negated => return Err(RequireAuthError::PositiveMixed(part.to_owned())),
                None => part,
            };
            let kind = match method {
                "password" => Method::Bits(1 << code::CLEARTEXT_PASSWORD),
                "md5" => Method::Bits(1 << code::MD5_PASSWORD),
                "gss" => Method::Bits((1 << code::GSS) | (1 << code::GSS_CONTINUE)),
                "sspi" => Method::Bits((1 << code::SSPI) | (1 << code::GSS_CONTINUE)),
                "scram-sha-256" => Method::Scram,
                "oauth" => Method::OAuth,
                "none" => Method::None,
                other => return Err(RequireAuthError::Invalid(other.to_owned())),
            };
            let duplicate = || RequireAuthError::Duplicate(part.to_owned());
            match kind {
                Method::None => {
                    // "none" allows an exchange-less login; "!none" forbids it.
                    if out.auth_required == negated {
                        return Err(duplicate());
                    }
                    out.auth_required = negated;
                }
                Method::Scram | Method::OAuth => {
                    let slot = if matches!(kind, Method::Scram) {
                        &mut out.scram
                    } else {
                        &mut out.oauth
                    };
                    if *slot == negated {
                        *slot = !negated;
                    } else {
                        return Err(duplicate());
                    }
                }
                Method::Bits(bits) => {
                    if negated {
                        if out.allowed & bits == 0 {
                            return Err(duplicate());
                        }
                        out.allowed &= !bits;
                    } else {
                        if out.allowed & bits == bits {
                            return Err(duplicate());
                        }
                        out.allowed |= bits;
                    }
                }
            }
        }
        let any_mechanism = out.scram || out.oauth;
        if !negated && any_mechanism {
            out.allowed |= SASL_BITS;
        } else if negated && !any_mechanism {
            out.allowed &= !SASL_BITS;
        }
        Ok(out)
    }

    /// The option as written, if it was set.
    pub fn spec(&self) -> Option<&str> {
        self.spec.as_deref()
    }

    /// Whether the option was given at all (an unset option allows everything).
    pub fn is_set(&self) -> bool {
        self.spec.is_some()
    }

    /// Whether AuthenticationOk is acceptable only after a completed exchange.
    pub fn requires_authentication(&self) -> bool {
        self.spec.is_some() && self.auth_required
    }

    /// Whether the request with this code may be answered.
    pub fn allows_code(&self, request_code: u32) -> bool {
        request_code < 32 && self.allowed & (1 << request_code) != 0
    }

    /// Whether SCRAM-SHA-256 (with or without -PLUS) may be used.
    pub fn allows_scram(&self) -> bool {
        self.scram
    }
}

impl FromStr for RequireAuth {
    type Err = RequireAuthError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        RequireAuth::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(s: &str) -> String {
        RequireAuth::parse(s).unwrap_err().to_string()
    }

    #[test]
    fn errors_are_libpqs() {
        assert_eq!(
            err("scram-sha-256,!md5"),
            "negative require_auth method \"!md5\" cannot be mixed with non-negative methods"
        );
        assert_eq!(
            err("!password,!none,scram-sha-256"),
            "require_auth method \"scram-sha-256\" cannot be mixed with negative methods"
        );
        assert_eq!(
            err("password,md5,password"),
            "require_auth method \"password\" is specified more than once"
        );
        assert_eq!(
            err("!password,!md5,!password"),
            "require_auth method \"!password\" is specified more than once"
        );
        assert_eq!(
            err("none,md5,none"),
            "require_auth method \"none\" is specified more than once"
        );
        assert_eq!(
            err("!none,!md5,!none"),
            "require_auth method \"!none\" is specified more than once"
        );
        assert_eq!(
            err("scram-sha-256,scram-sha-256"),
            "require_auth method \"scram-sha-256\" is specified more than once"
        );
        assert_eq!(
            err("!scram-sha-256,!scram-sha-256"),
            "require_auth method \"!scram-sha-256\" is specified more than once"
        );
        assert_eq!(
            err("gss,sspi,gss"),
            "require_auth method \"gss\" is specified more than once"
        );
        assert_eq!(
            err("none,abcdefg"),
            "invalid require_auth value: \"abcdefg\""
        );
        assert_eq!(
            err("md5, password"),
            "invalid require_auth value: \" password\""
        );
        assert_eq!(err("md5,"), "invalid require_auth value: \"\"");
        assert_eq!(err("!"), "invalid require_auth value: \"\"");
    }

    #[test]
    fn empty_means_unset() {
        let r = RequireAuth::parse("").unwrap();
        assert!(!r.is_set());
        assert_eq!(r, RequireAuth::default());
        assert!(!r.requires_authentication());
        for c in 0..13 {
            assert!(r.allows_code(c));
        }
    }

    #[test]
    fn positive_and_negative_sets() {
        let r = RequireAuth::parse("password,scram-sha-256").unwrap();
        assert!(r.requires_authentication());
        assert!(r.allows_code(code::CLEARTEXT_PASSWORD));
        assert!(!r.allows_code(code::MD5_PASSWORD));
        assert!(r.allows_code(code::SASL) && r.allows_code(code::SASL_FINAL));
        assert!(r.allows_scram());

        let r = RequireAuth::parse("!scram-sha-256").unwrap();
        assert!(!r.requires_authentication());
        assert!(!r.allows_scram());
        // OAUTHBEARER is still allowed, so SASL requests are too (PostgreSQL 18).
        assert!(r.allows_code(code::SASL));

        let r = RequireAuth::parse("!scram-sha-256,!oauth").unwrap();
        assert!(!r.allows_code(code::SASL));

        let r = RequireAuth::parse("none").unwrap();
        assert!(!r.requires_authentication());
        assert!(!r.allows_code(code::SASL) && !r.allows_code(code::MD5_PASSWORD));
        assert!(!r.allows_scram());

        let r = RequireAuth::parse("!none").unwrap();
        assert!(r.requires_authentication());
        assert!(r.allows_code(code::MD5_PASSWORD));

        let r = RequireAuth::parse("sspi").unwrap();
        assert!(r.allows_code(code::GSS_CONTINUE) && !r.allows_code(code::GSS));

        assert_eq!(r.spec(), Some("sspi"));
        assert!(!r.allows_code(40));
        assert_eq!("md5".parse::<RequireAuth>().unwrap().spec(), Some("md5"));
    }
}
