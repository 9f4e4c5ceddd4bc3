//! The embedded SQLite database behind `pgscram serve`: a durable role catalog that the
//! authentication layer reads, and sessions that speak enough PostgreSQL for psql, JDBC
//! and tokio-postgres to feel at home.
//!
//! ```text
//!   auth layer ── Database::role / is_member ──▶ catalog connection ─┐
//!                                                                     ├─ one SQLite file
//!   server task ── Session::simple_query(sql) ─▶ session connection ─┘   (WAL, FULL sync)
//!                  Session::prepare/bind/execute_portal/sync
//!                  ◀── StatementOutcome { notices, ParameterStatus, rows | error }
//! ```
//!
//! No networking and no async here: the server owns sockets and threads, and calls in.
//! Every role change is one SQLite transaction (or a savepoint inside the client's
//! transaction block). `VALID UNTIL` is compared with a time the caller passes in.
//!
//! # The SQL bridge, and what does not work
//!
//! Queries (`SELECT`, `VALUES`, `TABLE`, `WITH`) are parsed by sqlparser's PostgreSQL
//! dialect into a tree, rewritten for SQLite and typed on the tree (see `tree`): every
//! result column's type comes from the expression and the declared types of the
//! relations it reads (`SELECT true` is a bool that prints `t`, `1+1` is int4, `now()`
//! timestamptz), never from the data. psql's catalog queries run against `pg_catalog`
//! views over SQLite's schema and the role catalog (`pg_class`, `pg_attribute`,
//! `pg_index`, `pg_database`, `pg_settings`, `pg_stat_activity`, ...): `\du`, `\l`,
//! `\dt`, `\d table` and the rest of psql 15's `\d` family work (tests/psql15.rs).
//! DML (`INSERT`, `UPDATE`, `DELETE`, with `RETURNING`) and DDL (`CREATE TABLE/INDEX/
//! VIEW`, `ALTER TABLE`, `DROP`, `TRUNCATE`) go through the same tree; PostgreSQL type
//! names in `CREATE TABLE` become SQLite declarations that keep the right affinity and
//! map back to the type; transaction control, `SET`, `SHOW`, `DISCARD` and `COMMENT ON`
//! are read from the same tree, and so is role DDL (`CREATE/ALTER/DROP ROLE`, `GRANT`
//! and `REVOKE` of roles). A query string is parsed whole, as PostgreSQL does: a syntax
//! error anywhere runs none of its statements. Four PostgreSQL spellings sqlparser does
//! not parse are read narrowly from its tokens (`CREATE USER`, `ALTER GROUP`, `RESET TIME
//! ZONE`, `ENCRYPTED`/`SYSID` in role options; see `script`). Supported PostgreSQL
//! spellings: `~ ~* !~ !~*` (Rust `regex` syntax, which covers the usual POSIX-style
//! patterns), `LIKE` (case-sensitive, `\` escapes), `ILIKE`/`NOT ILIKE`, `::type` and
//! `CAST`, `$n` parameters, `true`/`false`, `current_user`, `session_user`,
//! `current_timestamp`, `now()`, `version()`, `current_database()`, `md5()`,
//! `gen_random_uuid()`, `pg_catalog.` names, arrays in text form (`ARRAY(subquery)`,
//! `array_agg`, `= ANY`), `regclass`/`regtype` casts, window functions (`OVER`,
//! `WINDOW`), set-returning functions in a select list (`unnest`, `generate_series`,
//! `information_schema._pg_expandarray`, in lockstep as PostgreSQL runs them; see
//! `srf`), `current_setting()`/`set_config()` over the session's settings, and
//! PostgreSQL type names in `CREATE TABLE`. Booleans print as `t`/`f`, bytea as `\x` hex, floats as PostgreSQL
//! prints them. Untyped `$n` parameters take the type of the column they are compared
//! with or inserted into. [`binary`] converts values to and from the binary wire format
//! for drivers that ask for it.
//!
//! Known gaps (each fails with an error rather than a wrong answer where possible):
//! - Regular expressions are Rust `regex`, not PostgreSQL's ARE: no backreferences or
//!   lookaround; `ILIKE ... ESCAPE` and `SIMILAR TO` are not supported.
//! - Identifiers are case-insensitive in SQLite even when quoted: `"A"` and `"a"` name the
//!   same column.
//! - Types: arrays only in text form (one dimension); no intervals, `time`, network or
//!   geometric types, ranges. A `'name'::regclass` cast yields the OID (printed as a
//!   number), an `oid::regclass` cast the name.
//!   `numeric` is SQLite's (integer or double, not arbitrary precision: `1.50` comes
//!   back as `1.5`); `varchar(n)`
//!   lengths are not enforced on insert; `serial`/identity columns must be the
//!   `PRIMARY KEY`.
//! - Timestamps are always shown in UTC (`+00`), whatever `TimeZone` says; `DateStyle`
//!   output is ISO only.
//! - Division by zero yields NULL (SQLite's rule), not 22012; NaN floats become NULL.
//! - No schemas beyond `pg_catalog.`/`public.` prefixes, no object privileges
//!   (`GRANT SELECT ON ...`), no `COPY`, `LISTEN`/`NOTIFY`, SQL-level `PREPARE`,
//!   `SET ROLE`, per-role settings, functions, or triggers in PostgreSQL syntax.
//!   `has_*_privilege()` answer true (every role may read every table).
//! - The catalog views describe what SQLite has: a `serial` column's sequence is listed
//!   (`\ds`) but is SQLite's AUTOINCREMENT counter, not a sequence object; no foreign keys,
//!   check constraints or triggers in `\d`; one database (`\l` also lists template0
//!   and template1, as every PostgreSQL cluster does, but nothing connects to them); no
//!   extensions or procedural languages (`\dx`, `\dL`) and no casts catalog (`\dC`).
//!   `pg_stat_activity` and `pg_stat_ssl` show the current session only, with what the
//!   server passed to [`Session::set_connection_info`]. `pg_reload_conf()` (superusers)
//!   raises a flag the server takes with [`Database::take_reload_request`].
//! - PostgreSQL 15's predefined roles exist and can be granted, but grant nothing here
//!   (there are no object privileges to extend).
//! - Set-returning functions in a select list: not with GROUP BY or HAVING;
//!   `generate_series` with two arguments; a record reached through a subquery's column
//!   (`(sub.r).x`) has its fields typed as text.
//! - Extended-protocol parameter types come from Parse, a `$n::type` cast, or what the
//!   tree puts the parameter against (`col = $1`, a column it is stored into, `LIMIT`,
//!   `LIKE`); otherwise they are described as text.
//! - Role privileges follow PostgreSQL before 16: CREATEROLE may manage every
//!   non-superuser role without an ADMIN grant, and creating a role does not grant its
//!   creator membership in it.
//! - The extended protocol's implicit transaction ends at [`Session::sync`]; the server
//!   must call it for every Sync message.
//! - `Database::open_in_memory` is a private WAL file in a fresh temporary directory,
//!   deleted on drop: SQLite's in-memory databases cannot let readers proceed while
//!   another session writes.
//! - Stricter than PostgreSQL: a password starting with `SCRAM-SHA-256$` that does not
//!   parse as an RFC 5803 verifier is an error (22023), never hashed as a plaintext
//!   password; catalog tables cannot be written with plain SQL even by superusers.
#![warn(missing_docs)]
#![forbid(unsafe_code)]

pub mod binary;
mod catalog;
mod database;
mod ddl;
mod error;
mod hooks;
mod numeric;
mod password;
mod pg_catalog;
mod role_commits;
mod role_syntax;
mod script;
mod session;
mod setting_functions;
mod settings;
mod srf;
mod timestamp;
mod tree;
mod types;

pub use catalog::{BOOTSTRAP_SUPERUSER_OID, HbaFileRow, OlderPassword, RoleRecord};
pub use database::{Database, RoleWithGroups, Versioned};
pub use error::{DbError, Notice, Severity, SqlError, SqlState, sqlstate};
pub use password::MAX_SECRET_LEN;
pub use session::{
    CancelHandle, Column, Completion, ConnectionInfo, Portal, PreparedStatement, QueryResult, Row,
    Session, SessionIdentity, StatementOutcome, TlsInfo, TransactionStatus,
};
pub use settings::{PasswordEncryption, SessionSettings};
pub use timestamp::{Timestamp, TimestampError};
pub use types::oid;
