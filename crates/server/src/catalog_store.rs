//! The embedded database's role catalog as a [`PasswordStore`]: what `pgscram serve`
//! authenticates against. Every lookup reads the committed catalog, so a password
//! changed by ALTER ROLE counts for the very next login.

use std::time::SystemTime;

use pgscram_embedded::{Database, Timestamp};

use crate::store::{PasswordStore, RoleAuth};

#[derive(Clone)]
pub struct CatalogStore {
    db: Database,
}

impl CatalogStore {
    pub fn new(db: Database) -> Self {
        CatalogStore { db }
    }
}

impl PasswordStore for CatalogStore {
    fn role(&self, name: &str) -> Result<Option<RoleAuth>, String> {
        let record = self.db.role(name).map_err(|e| e.to_string())?;
        let now = Timestamp::from_system_time(SystemTime::now());
        Ok(record.map(|r| RoleAuth {
            password_expired: r.password_expired(now),
            secret: r.password.clone(),
            can_login: r.can_login,
            superuser: r.superuser,
            connection_limit: r.conn_limit,
        }))
    }

    fn is_member(&self, user: &str, role: &str) -> bool {
        self.db.is_member(user, role).unwrap_or(false)
    }
}
