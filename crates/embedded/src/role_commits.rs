//! An in-process count of committed role-catalog changes, kept without asking SQLite:
//! what lets a login's role cache answer without a read (see
//! [`crate::Database::settled_role_commits`]).
//!
//! Every connection a [`crate::Database`] opens gets three SQLite hooks. The update
//! hook notes that the open transaction wrote a role table; the rollback hook forgets
//! it; the commit hook, which SQLite calls *before* the commit is made, raises
//! `started` and leaves a note on the committing thread. The note is turned into a
//! raise of `finished` by [`settle`], which the engine calls once the statement that
//! committed has returned (so after the commit is made, or has failed). While
//! `started != finished` a role change may be committed and not yet counted, and
//! nothing may be answered from a cache; once they are equal again, every role
//! change committed so far is counted.
//!
//! Why a note on the thread: SQLite runs a commit hook inside `sqlite3_step`, on the
//! thread that steps. When that thread later runs [`settle`] outside any SQLite call,
//! every step it ran has returned, so every commit it noted has finished. A note that
//! is never settled only keeps `started` ahead: caches then miss, answers stay right.

use std::cell::RefCell;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use rusqlite::Connection;

/// The tables a role lookup reads (the ones the `roles_version` triggers watch).
const ROLE_TABLES: [&str; 3] = [
    "pgscram_roles",
    "pgscram_auth_members",
    "pgscram_older_passwords",
];

/// Commits of role changes through one database's connections in this process.
#[derive(Debug, Default)]
pub(crate) struct RoleCommits {
    /// Raised by the commit hook, before the commit is made.
    started: AtomicU64,
    /// Raised by [`settle`], after it has been made (or has failed).
    finished: AtomicU64,
}

impl RoleCommits {
    /// The count of role commits if none is under way, else `None`.
    pub(crate) fn settled(&self) -> Option<u64> {
        let started = self.started.load(Ordering::SeqCst);
        let finished = self.finished.load(Ordering::SeqCst);
        (started == finished).then_some(started)
    }
}

thread_local! {
    /// Role commits this thread started and has not settled.
    static UNSETTLED: RefCell<Vec<Arc<RoleCommits>>> = const { RefCell::new(Vec::new()) };
}

/// Counts the role commits made through `conn` into `commits`.
pub(crate) fn watch(conn: &Connection, commits: &Arc<RoleCommits>) {
    let wrote_roles = Arc::new(AtomicBool::new(false));
    let wrote = Arc::clone(&wrote_roles);
    conn.update_hook(Some(move |_, _: &str, table: &str, _| {
        if ROLE_TABLES.contains(&table) {
            wrote.store(true, Ordering::Relaxed);
        }
    }));
    // Savepoints rolled back to are not reported: their writes still count, which
    // costs a cache miss, never a stale answer.
    let wrote = Arc::clone(&wrote_roles);
    conn.rollback_hook(Some(move || wrote.store(false, Ordering::Relaxed)));
    let commits = Arc::clone(commits);
    conn.commit_hook(Some(move || {
        if wrote_roles.swap(false, Ordering::Relaxed) {
            commits.started.fetch_add(1, Ordering::SeqCst);
            UNSETTLED.with(|u| u.borrow_mut().push(Arc::clone(&commits)));
        }
        false // never veto the commit
    }));
}

/// Counts as finished every role commit this thread started. Call only outside any
/// SQLite call (never from a hook or an SQL function), after the statements that may
/// have committed have returned.
pub(crate) fn settle() {
    UNSETTLED.with(|u| {
        for commits in u.borrow_mut().drain(..) {
            commits.finished.fetch_add(1, Ordering::SeqCst);
        }
    });
}
