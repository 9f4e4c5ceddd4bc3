//! The decisions a client makes while the server authenticates it: libpq's
//! `require_auth` and `channel_binding` rules, with libpq's error texts, and a few
//! stricter rules of pgscram's own (see [`session`]).
//!
//! ```text
//!   conninfo (require_auth, channel_binding) ─▶ ClientPolicy
//!   server 'R' messages ─▶ AuthSession::handle ─▶ Action (what to send) | PolicyError
//! ```

mod require_auth;
pub mod session;

use std::fmt;
use std::str::FromStr;

pub use require_auth::{RequireAuth, RequireAuthError, code};
pub use session::{
    Action, AuthRequest, AuthSession, ClientPolicy, Gs2Flag, PolicyError, SCRAM_SHA_256,
    SCRAM_SHA_256_PLUS, SaslChoice, SaslMechanism, choose_sasl_mechanism, gs2_flag,
    select_mechanism,
};

/// libpq's `channel_binding` option.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ChannelBinding {
    /// Never bind; send `n`.
    Disable,
    /// Bind when the server offers SCRAM-SHA-256-PLUS over TLS (the default).
    #[default]
    Prefer,
    /// Refuse to authenticate unless the exchange binds the TLS channel.
    Require,
}

impl ChannelBinding {
    /// The option value, as written in a connection string.
    pub fn as_str(self) -> &'static str {
        match self {
            ChannelBinding::Disable => "disable",
            ChannelBinding::Prefer => "prefer",
            ChannelBinding::Require => "require",
        }
    }
}

impl fmt::Display for ChannelBinding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The value is not one of `disable`, `prefer`, `require`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidChannelBinding(pub String);

impl fmt::Display for InvalidChannelBinding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid channel_binding value: \"{}\"", self.0)
    }
}

impl std::error::Error for InvalidChannelBinding {}

impl FromStr for ChannelBinding {
    type Err = InvalidChannelBinding;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "disable" => Ok(ChannelBinding::Disable),
            "prefer" => Ok(ChannelBinding::Prefer),
            "require" => Ok(ChannelBinding::Require),
            other => Err(InvalidChannelBinding(other.to_owned())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channel_binding_values() {
        for cb in [
            ChannelBinding::Disable,
            ChannelBinding::Prefer,
            ChannelBinding::Require,
        ] {
            assert_eq!(cb.as_str().parse::<ChannelBinding>(), Ok(cb));
        }
        assert_eq!(
            "Require".parse::<ChannelBinding>().unwrap_err().to_string(),
            "invalid channel_binding value: \"Require\""
        );
        assert_eq!(ChannelBinding::default(), ChannelBinding::Prefer);
    }
}
