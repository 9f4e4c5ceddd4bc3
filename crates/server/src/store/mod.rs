//! Where the server finds a role: one async lookup per login returns the role's secret
//! together with its authorization facts (login right, superuser, expiry, connection
//! limit, memberships), so every later stage of the login and every backend works from
//! that one answer.
//!
//! `serve` reads its durable catalog ([`CatalogStore`]), `proxy` an auth_file or
//! auth_query, and a program embedding the server implements [`PasswordStore`] over its
//! own storage.

mod catalog;

use std::collections::{HashMap, HashSet};
use std::sync::RwLock;
use std::time::SystemTime;

pub use catalog::CatalogStore;
pub(crate) use catalog::system_time;

/// A stored password secret as the store holds it: `SCRAM-SHA-256$...` (RFC 5803), an
/// md5 secret, or anything else (which authenticates nobody). The same zeroizing,
/// redacted type the client's configuration uses: an md5 secret is a password
/// equivalent, and a verifier is what an offline guesser wants.
pub use pgscram_auth::secret::Secret;

/// What the server needs to know about a role, read once per login.
///
/// Built with [`Role::login`] (a role that may log in with `secret`) or
/// [`Role::default`] (no login, no secret), then adjusted field by field.
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct Role {
    /// The stored secret, if any. A role without one cannot log in with a password.
    /// During a rotation this is the newest password (the one `pg_authid` shows).
    pub secret: Option<Secret>,
    /// The older of two passwords while a new one rolls out, with its own expiry:
    /// either logs in. Two SCRAM verifiers must share salt and iteration count
    /// (see [`pgscram_scram::rotation`]); a pair that does not is used as `secret` alone.
    pub older: Option<OlderPassword>,
    /// PostgreSQL's `rolcanlogin`: checked after authentication (28000).
    pub can_login: bool,
    /// Superusers skip CONNECTION LIMIT and see secrets in the catalog views.
    pub superuser: bool,
    /// PostgreSQL's `VALID UNTIL`: the password stops working at this time.
    pub valid_until: Option<SystemTime>,
    /// PostgreSQL's `CONNECTION LIMIT`; `None` for no limit.
    pub connection_limit: Option<u32>,
    /// Every role this one is a member of, directly or through others (pg_hba's
    /// `+group`). A role is always a member of itself; it need not be listed.
    pub member_of: Vec<String>,
}

/// A role's second, older password during a rotation.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct OlderPassword {
    /// The secret, like [`Role::secret`].
    pub secret: Secret,
    /// When it stops working; `None` for never (as [`Role::valid_until`] for `secret`).
    pub valid_until: Option<SystemTime>,
}

impl OlderPassword {
    /// An older password that works until `valid_until`.
    pub fn new(secret: impl Into<String>, valid_until: Option<SystemTime>) -> Self {
        OlderPassword {
            secret: Secret::new(secret),
            valid_until,
        }
    }
}

/// Which of a role's passwords a login used: what the audit event and the
/// `pgscram_password_logins_total` metric report, so operators see when an old
/// password has stopped being used.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PasswordUsed {
    /// [`Role::secret`]: the only password, or the newer of two.
    Newest,
    /// [`Role::older`].
    Older,
}

impl PasswordUsed {
    /// `newest` or `older`, as the audit log and the metric label write it.
    pub fn as_str(self) -> &'static str {
        match self {
            PasswordUsed::Newest => "newest",
            PasswordUsed::Older => "older",
        }
    }
}

impl Role {
    /// A role that may log in with `secret` (`SCRAM-SHA-256$...` or `md5...`).
    pub fn login(secret: impl Into<String>) -> Self {
        Role {
            secret: Some(Secret::new(secret)),
            can_login: true,
            ..Role::default()
        }
    }

    /// Whether the password has expired at `now` (`VALID UNTIL` in the past).
    pub fn password_expired(&self, now: SystemTime) -> bool {
        self.valid_until.is_some_and(|until| until <= now)
    }

    /// Whether the role named `name` (this role) is a member of `group`.
    pub fn is_member_of(&self, name: &str, group: &str) -> bool {
        name == group || self.member_of.iter().any(|m| m == group)
    }
}

/// Why a lookup failed. The login fails with the generic 28P01 (or 08006 for an
/// unreachable store) and the error goes to the server log only.
#[derive(Debug)]
#[non_exhaustive]
pub enum StoreError {
    /// The store could not be reached or did not answer in time: worth retrying.
    Unavailable(String),
    /// The store answered with something unusable (a malformed row, a bad file).
    Invalid(String),
    /// Any other failure of the implementation.
    Other(Box<dyn std::error::Error + Send + Sync>),
}

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreError::Unavailable(why) => write!(f, "credential store unavailable: {why}"),
            StoreError::Invalid(why) => write!(f, "credential store answer unusable: {why}"),
            StoreError::Other(e) => write!(f, "credential store failed: {e}"),
        }
    }
}

impl std::error::Error for StoreError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            StoreError::Other(e) => Some(e.as_ref()),
            _ => None,
        }
    }
}

/// A credential store. Called once per login, from many connections at once, on the
/// async runtime: an implementation that blocks (a file, SQLite) must move that work
/// off the async workers (`tokio::task::spawn_blocking`).
#[async_trait::async_trait]
pub trait PasswordStore: Send + Sync + 'static {
    /// The role named `name`, or `None` if there is none. Unknown roles are not an
    /// error: the server answers them with mock authentication.
    async fn role(&self, name: &str) -> Result<Option<Role>, StoreError>;

    /// Forgets anything cached for `name` because it proved wrong (the proxy found the
    /// upstream's verifier changed).
    fn invalidate(&self, _name: &str) {}

    /// Whether [`PasswordStore::replace_secret`] can write. `upgrade_md5_on_login` asks
    /// for a cleartext password only where the upgrade can be stored.
    fn replaces_secrets(&self) -> bool {
        false
    }

    /// Replaces `name`'s secret with `new` if it is still `current`, durably, in one
    /// transaction: `Ok(true)` if it was replaced, `Ok(false)` if the secret had
    /// changed meanwhile (or the store cannot write, the default). Used by
    /// `upgrade_md5_on_login`.
    async fn replace_secret(
        &self,
        _name: &str,
        _current: &Secret,
        _new: Secret,
    ) -> Result<bool, StoreError> {
        Ok(false)
    }
}

/// Roles held in memory: for tests, and for programs that keep verifiers themselves.
#[derive(Default)]
pub struct MemoryStore {
    roles: RwLock<HashMap<String, Role>>,
    /// (group, member) pairs.
    grants: RwLock<Vec<(String, String)>>,
}

impl std::fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let count = self.roles.read().map_or(0, |r| r.len());
        f.debug_struct("MemoryStore")
            .field("roles", &count)
            .finish_non_exhaustive()
    }
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds or replaces the role `name`.
    pub fn insert(&self, name: &str, role: Role) {
        self.roles
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(name.to_owned(), role);
    }

    /// Removes the role `name`.
    pub fn remove(&self, name: &str) {
        self.roles
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .remove(name);
    }

    /// Makes `member` a member of `group`.
    pub fn grant(&self, group: &str, member: &str) {
        self.grants
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .push((group.to_owned(), member.to_owned()));
    }

    /// Every group `name` belongs to, transitively; cycles are harmless.
    fn groups_of(&self, name: &str) -> Vec<String> {
        let grants = self.grants.read().unwrap_or_else(|e| e.into_inner());
        let mut seen = HashSet::new();
        let mut frontier = vec![name.to_owned()];
        while let Some(current) = frontier.pop() {
            for (group, member) in grants.iter() {
                if *member == current && group != name && seen.insert(group.clone()) {
                    frontier.push(group.clone());
                }
            }
        }
        let mut groups: Vec<String> = seen.into_iter().collect();
        groups.sort();
        groups
    }
}

#[async_trait::async_trait]
impl PasswordStore for MemoryStore {
    async fn role(&self, name: &str) -> Result<Option<Role>, StoreError> {
        let role = self
            .roles
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(name)
            .cloned();
        Ok(role.map(|mut role| {
            role.member_of = self.groups_of(name);
            role
        }))
    }

    fn replaces_secrets(&self) -> bool {
        true
    }

    async fn replace_secret(
        &self,
        name: &str,
        current: &Secret,
        new: Secret,
    ) -> Result<bool, StoreError> {
        let mut roles = self.roles.write().unwrap_or_else(|e| e.into_inner());
        let Some(role) = roles.get_mut(name) else {
            return Ok(false);
        };
        let unchanged = role.secret.as_ref().is_some_and(|held| held.ct_eq(current));
        if unchanged {
            role.secret = Some(new);
        }
        Ok(unchanged)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn membership_is_transitive_and_cycle_safe() {
        let store = MemoryStore::new();
        store.insert("alice", Role::login("md5x"));
        store.grant("admins", "alice");
        store.grant("staff", "admins");
        store.grant("admins", "staff");
        let alice = store.role("alice").await.unwrap().unwrap();
        assert_eq!(alice.member_of, vec!["admins", "staff"]);
        assert!(alice.is_member_of("alice", "staff"));
        assert!(alice.is_member_of("alice", "alice"));
        assert!(!alice.is_member_of("alice", "others"));
        assert!(store.role("bob").await.unwrap().is_none());
    }

    #[test]
    fn secrets_print_redacted() {
        let role = Role::login("SCRAM-SHA-256$4096:c2FsdA==$c3RvcmVk:c2VydmVy");
        let printed = format!("{role:?}");
        assert!(!printed.contains("SCRAM-SHA-256"), "{printed}");
        assert!(printed.contains("<redacted>"));
    }

    #[test]
    fn expiry_is_checked_against_now() {
        let mut role = Role::login("md5x");
        let now = SystemTime::now();
        assert!(!role.password_expired(now));
        role.valid_until = Some(now - std::time::Duration::from_secs(1));
        assert!(role.password_expired(now));
    }
}
