//! Where the server finds a role's secret: a trait, so `serve` can read its durable
//! catalog, `proxy` an auth_file or auth_query, and library users anything else.

use std::collections::HashMap;
use std::sync::RwLock;

/// What authentication needs to know about a role.
#[derive(Debug, Clone, Default)]
pub struct RoleAuth {
    /// The stored secret (`SCRAM-SHA-256$...` or `md5...`), if any.
    pub secret: Option<String>,
    pub can_login: bool,
    pub superuser: bool,
    /// `VALID UNTIL` has passed (the store decides, at lookup time).
    pub password_expired: bool,
    /// -1: no limit.
    pub connection_limit: i32,
}

/// The lookup side of a credential store. Implementations must be cheap to call from
/// many connections at once.
pub trait PasswordStore: Send + Sync {
    /// The role, or `None` if it does not exist. An `Err` is an internal failure (the
    /// login fails; the reason is logged).
    fn role(&self, name: &str) -> Result<Option<RoleAuth>, String>;

    /// Whether `user` is a member of `role`, directly or through other roles (pg_hba's
    /// `+role` and `samerole`).
    fn is_member(&self, user: &str, role: &str) -> bool;

    /// Drops anything cached for `user`, because it proved wrong (a stale verifier).
    fn invalidate(&self, _user: &str) {}
}

/// A store in memory, for tests and for programs that keep verifiers themselves.
#[derive(Debug, Default)]
pub struct MemoryStore {
    roles: RwLock<HashMap<String, RoleAuth>>,
    members: RwLock<Vec<(String, String)>>,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn insert(&self, name: &str, role: RoleAuth) {
        self.roles
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(name.to_owned(), role);
    }

    /// Makes `member` a member of `role`.
    pub fn grant(&self, role: &str, member: &str) {
        self.members
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .push((role.to_owned(), member.to_owned()));
    }
}

impl PasswordStore for MemoryStore {
    fn role(&self, name: &str) -> Result<Option<RoleAuth>, String> {
        Ok(self
            .roles
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(name)
            .cloned())
    }

    fn is_member(&self, user: &str, role: &str) -> bool {
        let members = self.members.read().unwrap_or_else(|e| e.into_inner());
        let mut frontier = vec![user.to_owned()];
        let mut seen = std::collections::HashSet::new();
        while let Some(current) = frontier.pop() {
            if current == role {
                return true;
            }
            if !seen.insert(current.clone()) {
                continue;
            }
            frontier.extend(
                members
                    .iter()
                    .filter(|(_, m)| *m == current)
                    .map(|(r, _)| r.clone()),
            );
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn membership_is_transitive_and_cycle_safe() {
        let store = MemoryStore::new();
        store.grant("admins", "alice");
        store.grant("staff", "admins");
        store.grant("admins", "staff");
        assert!(store.is_member("alice", "staff"));
        assert!(store.is_member("alice", "alice"));
        assert!(!store.is_member("bob", "staff"));
    }
}
