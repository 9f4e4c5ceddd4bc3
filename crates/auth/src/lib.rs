//! Authentication policy for both ends of a PostgreSQL login, as PostgreSQL and libpq
//! decide it. Pure: no sockets, no clock; files are read only by thin loaders
//! ([`hba::FsSource`], [`conninfo::read_pgpass`]).
//!
//! ```text
//!   server side                                   client side
//!   pg_hba.conf ─▶ hba::HbaRules                  "host=.. user=.." / postgresql://..
//!   (type, db, user, address) ─check─▶ method        ─▶ conninfo::ConnConfig (+ PG* env, .pgpass)
//!   no match / reject ─▶ 28000 texts              server 'R' requests ─▶ client_policy::AuthSession
//!                                                    ─▶ what to send, or libpq's refusal
//! ```
//!
//! - [`hba`]: pg_hba.conf as PostgreSQL 16 reads it (includes, regexes, `+group`),
//!   first-match rule lookup, and the `pg_hba_file_rules` view.
//! - [`conninfo`]: libpq connection strings and URIs, environment fallbacks, defaults,
//!   `.pgpass`.
//! - [`client_policy`]: `require_auth` and `channel_binding`, with libpq's error texts,
//!   plus stricter rules against downgrades.
//! - [`secret`]: zeroizing, `Debug`-redacting password and key types.
//!
//! ```
//! use pgscram_auth::client_policy::{Action, AuthRequest, AuthSession, ClientPolicy};
//! use pgscram_auth::conninfo::{ConnConfig, Defaults};
//! use pgscram_auth::hba::{ConnKind, ConnRequest, HbaOptions, HbaRules, MatchEnv, MemorySource, NoResolver, RoleOracle};
//!
//! struct NoGroups;
//! impl RoleOracle for NoGroups {
//!     fn is_member(&self, user: &str, role: &str) -> bool { user == role }
//! }
//! let rules = HbaRules::parse(
//!     "/etc/pgscram/pg_hba.conf",
//!     "host all all 10.0.0.0/8 scram-sha-256\n",
//!     &MemorySource::new(),
//!     &HbaOptions::default(),
//! )
//! .unwrap();
//! let req = ConnRequest {
//!     kind: ConnKind::Host { addr: "10.1.2.3".parse().unwrap(), ssl: false },
//!     database: "app",
//!     user: "alice",
//!     physical_replication: false,
//! };
//! let env = MatchEnv { roles: &NoGroups, resolver: &NoResolver, interfaces: &[] };
//! assert_eq!(rules.check(&req, &env).unwrap().method.as_str(), "scram-sha-256");
//!
//! let no_env = |_: &str| None;
//! let config = ConnConfig::from_conninfo("host=db require_auth=scram-sha-256 user=alice", &no_env, &Defaults::default()).unwrap();
//! let policy = ClientPolicy { require_auth: config.require_auth.clone(), channel_binding: config.channel_binding };
//! let mut session = AuthSession::new(policy, false);
//! let refused = session.handle(AuthRequest::Md5Password).unwrap_err();
//! assert_eq!(
//!     refused.to_string(),
//!     "authentication method requirement \"scram-sha-256\" failed: server requested a hashed password"
//! );
//! # let _ = Action::Authenticated;
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod client_policy;
pub mod conninfo;
pub mod hba;
pub mod secret;
