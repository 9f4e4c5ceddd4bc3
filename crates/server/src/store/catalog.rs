//! The embedded database's role catalog as a [`PasswordStore`]: what `pgscram serve`
//! authenticates against. Every lookup reads the committed catalog, so a password
//! changed by ALTER ROLE counts for the very next login.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use pgscram_embedded::{Database, RoleRecord, Timestamp};

use super::{PasswordStore, Role, Secret, StoreError};

/// Roles from the embedded database's catalog (`pgscram_roles`, `pgscram_auth_members`).
#[derive(Clone)]
pub struct CatalogStore {
    db: Database,
}

impl std::fmt::Debug for CatalogStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CatalogStore").finish_non_exhaustive()
    }
}

impl CatalogStore {
    /// A store reading `db`'s role catalog.
    pub fn new(db: Database) -> Self {
        CatalogStore { db }
    }
}

#[async_trait::async_trait]
impl PasswordStore for CatalogStore {
    async fn role(&self, name: &str) -> Result<Option<Role>, StoreError> {
        // SQLite blocks: the read runs on the blocking pool, never on an async worker.
        let db = self.db.clone();
        let name = name.to_owned();
        let found = tokio::task::spawn_blocking(move || db.role_with_groups(&name))
            .await
            .map_err(|e| StoreError::Other(Box::new(e)))?
            .map_err(|e| StoreError::Unavailable(e.to_string()))?;
        Ok(found.map(|(record, groups)| role(record, groups)))
    }
}

fn role(mut record: RoleRecord, member_of: Vec<String>) -> Role {
    Role {
        // Moved, not copied: the only copy of the secret is the zeroizing one.
        secret: record.password.take().map(Secret::new),
        can_login: record.can_login,
        superuser: record.superuser,
        valid_until: record.valid_until.map(system_time),
        connection_limit: u32::try_from(record.conn_limit).ok(),
        member_of,
    }
}

/// `VALID UNTIL` as a clock time: `-infinity` is the epoch (always past), `infinity`
/// is as far as the clock goes.
fn system_time(at: Timestamp) -> SystemTime {
    match at {
        Timestamp::NegInfinity => UNIX_EPOCH,
        Timestamp::At(micros) if micros <= 0 => UNIX_EPOCH,
        Timestamp::At(micros) => UNIX_EPOCH + Duration::from_micros(micros.unsigned_abs()),
        Timestamp::Infinity => UNIX_EPOCH + Duration::from_secs(u64::from(u32::MAX) * 64),
    }
}
