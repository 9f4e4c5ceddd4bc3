//! `current_setting()` and `set_config()` as SQL functions over the session's settings.
//!
//! A statement that calls either gets a copy of the session's settings before it runs
//! ([`LiveSettings::load`]); the functions read and change that copy, so a value set
//! earlier in the statement is seen later in it, as in PostgreSQL. `set_config` also
//! records what it did; when the statement succeeds the session replays those changes
//! as `SET` / `SET LOCAL` ([`LiveSettings::take_changes`]). A failed statement's
//! changes are dropped, as PostgreSQL rolls them back with the failed transaction.

use std::sync::{Arc, Mutex};

use rusqlite::Connection;
use rusqlite::functions::{Context, FunctionFlags};
use rusqlite::types::ValueRef;

use crate::error::{SqlError, sqlstate};
use crate::hooks::{Shared, lock};
use crate::settings::SessionSettings;

/// One `set_config(name, value, is_local)` call, to replay on the session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Change {
    pub name: String,
    /// `None` resets the parameter (a NULL value).
    pub value: Option<String>,
    pub local: bool,
}

/// The settings a running statement sees, and the changes it made.
#[derive(Debug, Default)]
pub(crate) struct LiveSettings {
    settings: Mutex<Option<SessionSettings>>,
    changes: Mutex<Vec<Change>>,
}

impl LiveSettings {
    /// Gives the next statement a copy of the session's settings.
    pub fn load(&self, settings: &SessionSettings) {
        *lock(&self.settings) = Some(settings.clone());
        lock(&self.changes).clear();
    }

    /// The changes the statement made, in order; clears them.
    pub fn take_changes(&self) -> Vec<Change> {
        std::mem::take(&mut *lock(&self.changes))
    }

    fn current(&self, name: &str, missing_ok: bool) -> Result<Option<String>, SqlError> {
        let guard = lock(&self.settings);
        let settings = guard
            .as_ref()
            .ok_or_else(|| SqlError::internal("settings were not loaded for this statement"))?;
        match settings.show(name) {
            Ok((_, v)) => Ok(Some(v)),
            Err(e) if missing_ok && e.code == sqlstate::UNDEFINED_OBJECT => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn set(&self, name: &str, value: Option<&str>, local: bool) -> Result<String, SqlError> {
        let mut guard = lock(&self.settings);
        let settings = guard
            .as_mut()
            .ok_or_else(|| SqlError::internal("settings were not loaded for this statement"))?;
        match value {
            Some(v) => settings.set(name, v)?,
            None => settings.reset(name)?,
        }
        let shown = settings.show(name)?.1;
        lock(&self.changes).push(Change {
            name: name.to_owned(),
            value: value.map(str::to_owned),
            local,
        });
        Ok(shown)
    }
}

fn text_arg(ctx: &Context<'_>, i: usize) -> Option<String> {
    match ctx.get_raw(i) {
        ValueRef::Null => None,
        ValueRef::Text(t) | ValueRef::Blob(t) => Some(String::from_utf8_lossy(t).into_owned()),
        ValueRef::Integer(n) => Some(n.to_string()),
        ValueRef::Real(f) => Some(crate::types::format_float(f)),
    }
}

/// Reads a boolean argument the way the bridge stores booleans (0/1, or `t`/`f` text).
fn bool_arg(ctx: &Context<'_>, i: usize) -> Result<Option<bool>, SqlError> {
    Ok(match ctx.get_raw(i) {
        ValueRef::Null => None,
        ValueRef::Integer(n) => Some(n != 0),
        ValueRef::Real(f) => Some(f != 0.0),
        ValueRef::Text(t) | ValueRef::Blob(t) => {
            let s = String::from_utf8_lossy(t);
            Some(crate::types::parse_bool(&s).ok_or_else(|| {
                SqlError::new(
                    sqlstate::INVALID_TEXT_REPRESENTATION,
                    format!("invalid input syntax for type boolean: \"{s}\""),
                )
            })?)
        }
    })
}

/// Installs `current_setting(name [, missing_ok])` and `set_config(name, value,
/// is_local)` on a session connection.
pub(crate) fn install(conn: &Connection, shared: &Arc<Shared>) -> rusqlite::Result<()> {
    let flags = FunctionFlags::SQLITE_UTF8;
    for n_arg in [1, 2] {
        let sh = Arc::clone(shared);
        conn.create_scalar_function("current_setting", n_arg, flags, move |ctx| {
            let r = (|| {
                let Some(name) = text_arg(ctx, 0) else {
                    return Ok(None);
                };
                let missing_ok = if n_arg == 2 {
                    bool_arg(ctx, 1)?.unwrap_or(false)
                } else {
                    false
                };
                sh.settings.current(&name, missing_ok)
            })();
            r.map_err(|e| sh.raise(e))
        })?;
    }
    let sh = Arc::clone(shared);
    conn.create_scalar_function("set_config", 3, flags, move |ctx| {
        let r = (|| {
            let name = text_arg(ctx, 0).ok_or_else(|| {
                SqlError::new(
                    sqlstate::NULL_VALUE_NOT_ALLOWED,
                    "SET requires parameter name",
                )
            })?;
            let value = text_arg(ctx, 1);
            let local = bool_arg(ctx, 2)?.unwrap_or(false);
            sh.settings.set(&name, value.as_deref(), local)
        })();
        r.map_err(|e| sh.raise(e))
    })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conn() -> (Connection, Arc<Shared>) {
        let c = Connection::open_in_memory().unwrap();
        let sh = Arc::new(Shared::new("alice", "db", 7));
        install(&c, &sh).unwrap();
        sh.settings.load(&SessionSettings::default());
        (c, sh)
    }

    fn one(c: &Connection, sql: &str) -> rusqlite::Result<Option<String>> {
        c.query_row(sql, [], |r| r.get(0))
    }

    #[test]
    fn current_setting_errors_on_unknown_names_unless_missing_ok() {
        let (c, sh) = conn();
        assert_eq!(
            one(&c, "SELECT current_setting('DateStyle')")
                .unwrap()
                .as_deref(),
            Some("ISO, MDY")
        );
        assert!(one(&c, "SELECT current_setting('no_such')").is_err());
        let e = lock(&sh.fn_error).take().unwrap();
        assert_eq!(e.code, sqlstate::UNDEFINED_OBJECT);
        assert_eq!(
            e.message,
            "unrecognized configuration parameter \"no_such\""
        );
        assert_eq!(
            one(&c, "SELECT current_setting('no_such', 1)").unwrap(),
            None
        );
        assert_eq!(
            one(&c, "SELECT current_setting('no_such', 'false')").map_err(|_| ()),
            Err(())
        );
    }

    #[test]
    fn set_config_changes_the_copy_and_records_the_change() {
        let (c, sh) = conn();
        let r = one(
            &c,
            "SELECT set_config('application_name', 'x', 0) || current_setting('application_name')",
        )
        .unwrap();
        assert_eq!(r.as_deref(), Some("xx"));
        assert_eq!(
            one(&c, "SELECT set_config('datestyle', 'iso, dmy', 1)")
                .unwrap()
                .as_deref(),
            Some("ISO, DMY")
        );
        assert_eq!(
            sh.settings.take_changes(),
            vec![
                Change {
                    name: "application_name".into(),
                    value: Some("x".into()),
                    local: false
                },
                Change {
                    name: "datestyle".into(),
                    value: Some("iso, dmy".into()),
                    local: true
                },
            ]
        );
        assert!(one(&c, "SELECT set_config('nope', 'x', false)").is_err());
        assert_eq!(
            lock(&sh.fn_error).take().unwrap().code,
            sqlstate::UNDEFINED_OBJECT
        );
        assert!(one(&c, "SELECT set_config(NULL, 'x', false)").is_err());
        assert!(sh.settings.take_changes().is_empty());
    }
}
