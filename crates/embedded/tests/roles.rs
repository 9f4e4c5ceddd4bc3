//! Role DDL with PostgreSQL's rules, messages and SQLSTATEs (REFERENCE.md §2), and
//! where we are deliberately stricter.

mod common;

use common::*;
use pgscram_embedded::{Database, Severity, sqlstate};
use pgscram_scram::ScramVerifier;

const SECRET_VERIFIER: &str = "SCRAM-SHA-256$4096:AQIDBAUGBwgJCgsMDQ4PEA==$8rrDg00OqaiWXJ7p+sCgHEIaBSHY89ZJl3mfIsf32oY=:05L1f+yZbiN8O0AnO40Og85NNRhvzTS57naKRWCcsIA=";
const MD5_SECRET_FOO: &str = "md54ab2c5d00339c4b2a4e921d2dc4edec7";

fn secret(db: &Database, name: &str) -> Option<String> {
    db.role(name).unwrap().expect("role").password.clone()
}

#[test]
fn create_role_and_user_defaults_and_tags() {
    let db = memdb();
    let mut s = session(&db, "admin");
    assert_eq!(tag(&mut s, "CREATE ROLE r"), "CREATE ROLE");
    assert_eq!(tag(&mut s, "CREATE USER u"), "CREATE ROLE");
    assert_eq!(tag(&mut s, "CREATE GROUP g"), "CREATE ROLE");
    assert!(!db.role("r").unwrap().unwrap().can_login);
    assert!(
        db.role("u").unwrap().unwrap().can_login,
        "CREATE USER implies LOGIN"
    );
    assert!(!db.role("g").unwrap().unwrap().can_login);
    tag(&mut s, "CREATE USER v NOLOGIN");
    assert!(!db.role("v").unwrap().unwrap().can_login);
    // Case folding and quoted identifiers.
    tag(&mut s, "CREATE ROLE MixedCase");
    tag(&mut s, "CREATE ROLE \"Quoted Name\"");
    assert!(db.role("mixedcase").unwrap().is_some());
    assert!(db.role("Quoted Name").unwrap().is_some());
}

#[test]
fn duplicate_and_missing_roles() {
    let db = memdb();
    let mut s = session(&db, "admin");
    tag(&mut s, "CREATE ROLE dup");
    let e = err(&mut s, "CREATE ROLE dup");
    assert_eq!(e.code, sqlstate::DUPLICATE_OBJECT);
    assert_eq!(e.message, "role \"dup\" already exists");
    let e = err(&mut s, "ALTER ROLE nope LOGIN");
    assert_eq!(e.code, sqlstate::UNDEFINED_OBJECT);
    assert_eq!(e.message, "role \"nope\" does not exist");
    let e = err(&mut s, "DROP ROLE nope");
    assert_eq!(e.message, "role \"nope\" does not exist");
    let (r, notices) = ok_with_notices(&mut s, "DROP ROLE IF EXISTS nope, dup");
    assert_eq!(r.tag(), Some("DROP ROLE"));
    assert_eq!(notices.len(), 1);
    assert_eq!(notices[0].message, "role \"nope\" does not exist, skipping");
    assert!(db.role("dup").unwrap().is_none());
}

#[test]
fn plaintext_passwords_follow_password_encryption_and_scram_iterations() {
    let db = memdb();
    let mut s = session(&db, "admin");
    tag(&mut s, "CREATE ROLE a LOGIN PASSWORD 'secret'");
    let v = ScramVerifier::parse(&secret(&db, "a").unwrap()).unwrap();
    assert_eq!(v.iterations(), 4096);
    assert_eq!(v.salt().len(), 16);
    assert!(
        ScramVerifier::derive(b"secret", v.salt(), 4096)
            .unwrap()
            .ct_eq(&v)
    );

    tag(&mut s, "SET scram_iterations = 1234");
    tag(&mut s, "ALTER ROLE a PASSWORD 'secret'");
    let v2 = ScramVerifier::parse(&secret(&db, "a").unwrap()).unwrap();
    assert_eq!(v2.iterations(), 1234);
    assert_ne!(v.salt(), v2.salt(), "a fresh salt every time");

    tag(&mut s, "SET password_encryption = 'md5'");
    let (_, notices) = ok_with_notices(&mut s, "CREATE ROLE foo PASSWORD 'secret'");
    assert_eq!(secret(&db, "foo").as_deref(), Some(MD5_SECRET_FOO));
    assert_eq!(notices.len(), 1);
    assert_eq!(notices[0].severity, Severity::Warning);
    assert_eq!(notices[0].code, sqlstate::WARNING_DEPRECATED_FEATURE);
    assert_eq!(notices[0].message, "setting an MD5-encrypted password");
    assert_eq!(
        notices[0].detail.as_deref(),
        Some(
            "MD5 password support is deprecated and will be removed in a future release of PostgreSQL."
        )
    );
}

#[test]
fn recognised_secrets_are_stored_as_is() {
    let db = memdb();
    let mut s = session(&db, "admin");
    tag(&mut s, "SET password_encryption = md5");
    let (_, notices) = ok_with_notices(
        &mut s,
        &format!("CREATE ROLE a PASSWORD '{SECRET_VERIFIER}'"),
    );
    assert!(notices.is_empty());
    assert_eq!(secret(&db, "a").as_deref(), Some(SECRET_VERIFIER));
    tag(&mut s, "RESET password_encryption");
    let (_, notices) = ok_with_notices(
        &mut s,
        &format!("CREATE ROLE b ENCRYPTED PASSWORD '{MD5_SECRET_FOO}'"),
    );
    assert_eq!(secret(&db, "b").as_deref(), Some(MD5_SECRET_FOO));
    assert_eq!(notices[0].code, sqlstate::WARNING_DEPRECATED_FEATURE);
    tag(&mut s, "SET md5_password_warnings = off");
    let (_, notices) =
        ok_with_notices(&mut s, &format!("ALTER ROLE b PASSWORD '{MD5_SECRET_FOO}'"));
    assert!(notices.is_empty());
}

#[test]
fn stricter_than_postgres_malformed_scram_secret_is_an_error() {
    let db = memdb();
    let mut s = session(&db, "admin");
    for bad in [
        "SCRAM-SHA-256$0:AQIDBAUGBwgJCgsMDQ4PEA==$8rrDg00OqaiWXJ7p+sCgHEIaBSHY89ZJl3mfIsf32oY=:05L1f+yZbiN8O0AnO40Og85NNRhvzTS57naKRWCcsIA=",
        "SCRAM-SHA-256$4096:AQIDBAUGBwgJCgsMDQ4PEA==$c2hvcnQ=:05L1f+yZbiN8O0AnO40Og85NNRhvzTS57naKRWCcsIA=",
        "SCRAM-SHA-256$garbage",
    ] {
        let e = err(&mut s, &format!("CREATE ROLE x PASSWORD '{bad}'"));
        assert_eq!(e.code, sqlstate::INVALID_PARAMETER_VALUE, "{bad}");
        assert!(
            e.message.starts_with("invalid SCRAM secret: "),
            "{}",
            e.message
        );
        assert!(db.role("x").unwrap().is_none());
    }
}

#[test]
fn empty_password_clears_with_a_notice() {
    let db = memdb();
    let mut s = session(&db, "admin");
    tag(&mut s, "CREATE ROLE e LOGIN PASSWORD 'first'");
    let (_, notices) = ok_with_notices(&mut s, "ALTER ROLE e PASSWORD ''");
    assert_eq!(notices.len(), 1);
    assert_eq!(notices[0].severity, Severity::Notice);
    assert_eq!(
        notices[0].message,
        "empty string is not a valid password, clearing password"
    );
    assert_eq!(secret(&db, "e"), None);
    // The md5 hash of the empty password counts as empty too.
    let empty_md5 = pgscram_scram::md5::md5_secret(b"", "e");
    let (_, notices) = ok_with_notices(&mut s, &format!("ALTER ROLE e PASSWORD '{empty_md5}'"));
    assert_eq!(
        notices[0].message,
        "empty string is not a valid password, clearing password"
    );
    assert_eq!(secret(&db, "e"), None);
    tag(&mut s, "ALTER ROLE e PASSWORD 'x'");
    tag(&mut s, "ALTER ROLE e PASSWORD NULL");
    assert_eq!(secret(&db, "e"), None);
}

#[test]
fn rename_clears_md5_but_keeps_scram() {
    let db = memdb();
    let mut s = session(&db, "admin");
    tag(
        &mut s,
        &format!("CREATE ROLE m PASSWORD '{MD5_SECRET_FOO}'"),
    );
    tag(
        &mut s,
        &format!("CREATE ROLE k PASSWORD '{SECRET_VERIFIER}'"),
    );
    let (r, notices) = ok_with_notices(&mut s, "ALTER ROLE m RENAME TO m2");
    assert_eq!(r.tag(), Some("ALTER ROLE"));
    assert_eq!(notices.len(), 1);
    assert_eq!(
        notices[0].message,
        "MD5 password cleared because of role rename"
    );
    assert_eq!(secret(&db, "m2"), None);
    assert!(db.role("m").unwrap().is_none());
    let (_, notices) = ok_with_notices(&mut s, "ALTER ROLE k RENAME TO k2");
    assert!(notices.is_empty());
    assert_eq!(secret(&db, "k2").as_deref(), Some(SECRET_VERIFIER));
    assert_eq!(
        err(&mut s, "ALTER ROLE k2 RENAME TO m2").message,
        "role \"m2\" already exists"
    );
    let e = err(&mut s, "ALTER ROLE admin RENAME TO boss");
    assert_eq!(e.code, sqlstate::FEATURE_NOT_SUPPORTED);
    assert_eq!(e.message, "session user cannot be renamed");
    let e = err(&mut s, "ALTER ROLE k2 RENAME TO pg_k");
    assert_eq!(e.code, sqlstate::RESERVED_NAME);
}

#[test]
fn reserved_and_special_names() {
    let db = memdb();
    let mut s = session(&db, "admin");
    let e = err(&mut s, "CREATE ROLE pg_monitor2");
    assert_eq!(e.code, sqlstate::RESERVED_NAME);
    assert_eq!(e.message, "role name \"pg_monitor2\" is reserved");
    assert_eq!(
        e.detail.as_deref(),
        Some("Role names starting with \"pg_\" are reserved.")
    );
    assert_eq!(
        err(&mut s, "CREATE ROLE public").message,
        "role name \"public\" is reserved"
    );
    assert_eq!(
        err(&mut s, "CREATE ROLE none").code,
        sqlstate::RESERVED_NAME
    );
    let long = "n".repeat(70);
    let (_, notices) = ok_with_notices(&mut s, &format!("CREATE ROLE {long}"));
    assert_eq!(notices[0].code, sqlstate::NAME_TOO_LONG);
    assert!(db.role(&"n".repeat(63)).unwrap().is_some());
}

#[test]
fn conflicting_options_and_bad_values() {
    let db = memdb();
    let mut s = session(&db, "admin");
    let e = err(&mut s, "CREATE ROLE a LOGIN NOLOGIN");
    assert_eq!(e.code, sqlstate::SYNTAX_ERROR);
    assert_eq!(e.message, "conflicting or redundant options");
    let e = err(&mut s, "CREATE ROLE a CONNECTION LIMIT -2");
    assert_eq!(e.code, sqlstate::INVALID_PARAMETER_VALUE);
    assert_eq!(e.message, "invalid connection limit: -2");
    let e = err(&mut s, "CREATE ROLE a VALID UNTIL 'someday'");
    assert_eq!(e.code, sqlstate::INVALID_DATETIME_FORMAT);
    let e = err(&mut s, "CREATE ROLE a UNENCRYPTED PASSWORD 'x'");
    assert_eq!(e.message, "UNENCRYPTED PASSWORD is no longer supported");
    let e = err(&mut s, "ALTER ROLE admin PASSWORD 'hunter2' LOGIN garbage");
    assert_eq!(e.code, sqlstate::SYNTAX_ERROR);
    assert!(!e.message.contains("hunter2"));
}

#[test]
fn only_superusers_or_createrole_manage_roles() {
    let db = memdb();
    let mut admin = session(&db, "admin");
    tag(&mut admin, "CREATE ROLE plain LOGIN PASSWORD 'p'");
    tag(&mut admin, "CREATE ROLE manager LOGIN CREATEROLE");
    tag(&mut admin, "CREATE ROLE victim LOGIN");
    tag(&mut admin, "CREATE ROLE su SUPERUSER");

    let mut plain = session(&db, "plain");
    let e = err(&mut plain, "CREATE ROLE x");
    assert_eq!(e.code, sqlstate::INSUFFICIENT_PRIVILEGE);
    assert_eq!(e.message, "permission denied to create role");
    assert_eq!(
        e.detail.as_deref(),
        Some("Only roles with the CREATEROLE attribute may create roles.")
    );
    assert_eq!(
        err(&mut plain, "ALTER ROLE victim LOGIN").message,
        "permission denied to alter role"
    );
    assert_eq!(
        err(&mut plain, "DROP ROLE victim").message,
        "permission denied to drop role"
    );
    assert_eq!(
        err(&mut plain, "ALTER ROLE victim RENAME TO v2").message,
        "permission denied to rename role"
    );
    // Not even on itself, except for the password.
    assert_eq!(
        err(&mut plain, "ALTER ROLE plain CREATEDB").code,
        sqlstate::INSUFFICIENT_PRIVILEGE
    );
    assert_eq!(
        err(&mut plain, "ALTER ROLE plain VALID UNTIL 'infinity'").code,
        sqlstate::INSUFFICIENT_PRIVILEGE
    );

    let mut mgr = session(&db, "manager");
    assert_eq!(
        tag(&mut mgr, "CREATE ROLE made LOGIN PASSWORD 'x'"),
        "CREATE ROLE"
    );
    assert_eq!(
        tag(&mut mgr, "ALTER ROLE victim NOLOGIN CONNECTION LIMIT 3"),
        "ALTER ROLE"
    );
    let e = err(&mut mgr, "CREATE ROLE x SUPERUSER");
    assert_eq!(e.message, "permission denied to create role");
    assert_eq!(
        e.detail.as_deref(),
        Some(
            "Only roles with the SUPERUSER attribute may create roles with the SUPERUSER attribute."
        )
    );
    let e = err(&mut mgr, "CREATE ROLE x REPLICATION");
    assert!(e.detail.unwrap().contains("REPLICATION"));
    let e = err(&mut mgr, "ALTER ROLE su LOGIN");
    assert_eq!(
        e.detail.as_deref(),
        Some(
            "Only roles with the SUPERUSER attribute may alter roles with the SUPERUSER attribute."
        )
    );
    let e = err(&mut mgr, "ALTER ROLE victim SUPERUSER");
    assert_eq!(
        e.detail.as_deref(),
        Some("Only roles with the SUPERUSER attribute may change the SUPERUSER attribute.")
    );
    let e = err(&mut mgr, "ALTER ROLE su PASSWORD 'x'");
    assert_eq!(e.code, sqlstate::INSUFFICIENT_PRIVILEGE);
    assert_eq!(
        err(&mut mgr, "DROP ROLE su").code,
        sqlstate::INSUFFICIENT_PRIVILEGE
    );
    assert_eq!(
        tag(&mut mgr, "ALTER ROLE made RENAME TO made2"),
        "ALTER ROLE"
    );
    assert_eq!(tag(&mut mgr, "DROP ROLE made2"), "DROP ROLE");
    assert!(db.role("su").unwrap().is_some());
}

#[test]
fn a_user_may_change_its_own_password() {
    let db = memdb();
    let mut admin = session(&db, "admin");
    tag(&mut admin, "CREATE ROLE self LOGIN PASSWORD 'old'");
    let before = secret(&db, "self");
    let mut me = session(&db, "self");
    assert_eq!(tag(&mut me, "ALTER ROLE self PASSWORD 'new'"), "ALTER ROLE");
    assert_eq!(
        tag(&mut me, "ALTER USER CURRENT_USER PASSWORD 'newer'"),
        "ALTER ROLE"
    );
    let after = secret(&db, "self");
    assert_ne!(before, after);
    let v = ScramVerifier::parse(&after.unwrap()).unwrap();
    assert!(
        ScramVerifier::derive(b"newer", v.salt(), v.iterations())
            .unwrap()
            .ct_eq(&v)
    );
    // psql's \password: the client hashes and sends the verifier.
    assert_eq!(
        tag(
            &mut me,
            &format!("ALTER USER self PASSWORD '{SECRET_VERIFIER}'")
        ),
        "ALTER ROLE"
    );
    assert_eq!(secret(&db, "self").as_deref(), Some(SECRET_VERIFIER));
    assert_eq!(
        err(&mut me, "ALTER ROLE admin PASSWORD 'x'").code,
        sqlstate::INSUFFICIENT_PRIVILEGE
    );
}

#[test]
fn dropping_yourself_or_the_bootstrap_superuser_fails() {
    let db = memdb();
    let mut admin = session(&db, "admin");
    let e = err(&mut admin, "DROP ROLE admin");
    assert_eq!(e.code, sqlstate::OBJECT_IN_USE);
    assert_eq!(e.message, "current user cannot be dropped");
    tag(&mut admin, "CREATE ROLE su2 SUPERUSER LOGIN");
    let mut su2 = session(&db, "su2");
    let e = err(&mut su2, "DROP ROLE admin");
    assert_eq!(e.code, sqlstate::DEPENDENT_OBJECTS_STILL_EXIST);
    assert_eq!(
        e.message,
        "cannot drop role admin because it is required by the database system"
    );
    let e = err(&mut su2, "ALTER ROLE admin NOSUPERUSER");
    assert_eq!(
        e.detail.as_deref(),
        Some("The bootstrap user must have the SUPERUSER attribute.")
    );
    // A whole DROP ROLE list is one statement: nothing is dropped when one fails.
    tag(&mut admin, "CREATE ROLE d1");
    let e = err(&mut su2, "DROP ROLE d1, admin");
    assert_eq!(e.code, sqlstate::DEPENDENT_OBJECTS_STILL_EXIST);
    assert!(db.role("d1").unwrap().is_some());
}

#[test]
fn grant_and_revoke_membership() {
    let db = memdb();
    let mut admin = session(&db, "admin");
    tag(&mut admin, "CREATE ROLE g");
    tag(&mut admin, "CREATE ROLE h");
    tag(&mut admin, "CREATE ROLE u LOGIN");
    assert_eq!(tag(&mut admin, "GRANT g TO u"), "GRANT ROLE");
    let (_, notices) = ok_with_notices(&mut admin, "GRANT g TO u");
    assert_eq!(
        notices[0].message,
        "role \"u\" is already a member of role \"g\""
    );
    assert_eq!(tag(&mut admin, "GRANT h TO g"), "GRANT ROLE");
    assert!(db.is_member("u", "h").unwrap());
    // Circular grants.
    let e = err(&mut admin, "GRANT u TO h");
    assert_eq!(e.code, sqlstate::INVALID_GRANT_OPERATION);
    assert_eq!(e.message, "role \"u\" is a member of role \"h\"");
    let e = err(&mut admin, "GRANT g TO g");
    assert_eq!(e.message, "role \"g\" is a member of role \"g\"");
    assert_eq!(
        err(&mut admin, "GRANT nope TO u").code,
        sqlstate::UNDEFINED_OBJECT
    );
    assert_eq!(
        err(&mut admin, "GRANT g TO nope").code,
        sqlstate::UNDEFINED_OBJECT
    );
    assert_eq!(tag(&mut admin, "REVOKE g FROM u"), "REVOKE ROLE");
    let (_, notices) = ok_with_notices(&mut admin, "REVOKE g FROM u");
    assert_eq!(notices[0].severity, Severity::Warning);
    assert_eq!(
        notices[0].message,
        "role \"u\" is not a member of role \"g\""
    );
    assert!(!db.is_member("u", "g").unwrap());
    let e = err(&mut admin, "GRANT SELECT ON pg_roles TO u");
    assert_eq!(e.code, sqlstate::FEATURE_NOT_SUPPORTED);
    // ALTER GROUP is GRANT/REVOKE by another name.
    assert_eq!(tag(&mut admin, "ALTER GROUP g ADD USER u"), "ALTER ROLE");
    assert!(db.is_member("u", "g").unwrap());
    assert_eq!(tag(&mut admin, "ALTER GROUP g DROP USER u"), "ALTER ROLE");
    assert!(!db.is_member("u", "g").unwrap());
}

#[test]
fn grant_needs_admin_option_createrole_or_superuser() {
    let db = memdb();
    let mut admin = session(&db, "admin");
    tag(&mut admin, "CREATE ROLE g");
    tag(&mut admin, "CREATE ROLE sug SUPERUSER");
    tag(&mut admin, "CREATE ROLE lead LOGIN");
    tag(&mut admin, "CREATE ROLE worker LOGIN");
    tag(&mut admin, "CREATE ROLE mgr LOGIN CREATEROLE");
    let mut lead = session(&db, "lead");
    let e = err(&mut lead, "GRANT g TO worker");
    assert_eq!(e.code, sqlstate::INSUFFICIENT_PRIVILEGE);
    assert_eq!(e.message, "permission denied to grant role \"g\"");
    assert_eq!(
        e.detail.as_deref(),
        Some("Only roles with the ADMIN option on role \"g\" may grant this role.")
    );
    tag(&mut admin, "GRANT g TO lead WITH ADMIN OPTION");
    assert_eq!(tag(&mut lead, "GRANT g TO worker"), "GRANT ROLE");
    assert_eq!(tag(&mut lead, "REVOKE g FROM worker"), "REVOKE ROLE");
    let mut mgr = session(&db, "mgr");
    assert_eq!(tag(&mut mgr, "GRANT g TO worker"), "GRANT ROLE");
    let e = err(&mut mgr, "GRANT sug TO worker");
    assert_eq!(
        e.detail.as_deref(),
        Some(
            "Only roles with the SUPERUSER attribute may grant roles with the SUPERUSER attribute."
        )
    );
    tag(&mut admin, "REVOKE ADMIN OPTION FOR g FROM lead");
    assert!(
        db.is_member("lead", "g").unwrap(),
        "membership kept, admin option gone"
    );
    assert_eq!(
        err(&mut lead, "REVOKE g FROM worker").message,
        "permission denied to revoke role \"g\""
    );
}

#[test]
fn create_role_with_membership_options() {
    let db = memdb();
    let mut admin = session(&db, "admin");
    tag(&mut admin, "CREATE ROLE parent");
    tag(&mut admin, "CREATE ROLE kid LOGIN");
    tag(&mut admin, "CREATE ROLE mid IN ROLE parent ROLE kid");
    assert!(db.is_member("mid", "parent").unwrap());
    assert!(db.is_member("kid", "mid").unwrap());
    assert!(db.is_member("kid", "parent").unwrap());
    tag(&mut admin, "CREATE ROLE boss ADMIN kid");
    let mut kid = session(&db, "kid");
    tag(&mut admin, "CREATE ROLE other LOGIN");
    assert_eq!(
        tag(&mut kid, "GRANT boss TO other"),
        "GRANT ROLE",
        "ADMIN list members hold the admin option"
    );
}

#[test]
fn catalog_cannot_be_written_with_plain_sql() {
    let db = memdb();
    let mut admin = session(&db, "admin");
    for sql in [
        "UPDATE pgscram_roles SET rolsuper = 1",
        "DELETE FROM pgscram_auth_members",
        "INSERT INTO pgscram_roles (oid, rolname) VALUES (1, 'x')",
        "DROP TABLE pgscram_roles",
        "DROP VIEW pg_authid",
        "CREATE TABLE pgscram_evil (a int)",
    ] {
        let e = err(&mut admin, sql);
        assert!(
            e.code == sqlstate::INSUFFICIENT_PRIVILEGE || e.code == sqlstate::RESERVED_NAME,
            "{sql}: {e}"
        );
    }
    assert_eq!(db.roles().unwrap().len(), 1);
}

/// Role statements come from sqlparser's tree now; a password in a failing statement
/// is never echoed, neither in the error nor in `pg_stat_activity.query`.
#[test]
fn regression_failing_password_statements_never_echo_the_password() {
    let db = memdb();
    let mut s = session(&db, "admin");
    tag(&mut s, "CREATE ROLE dup LOGIN");
    for sql in [
        "CREATE ROLE dup PASSWORD 'hunter2'",
        "CREATE ROLE x PASSWORD 'hunter2' 'hunter2'",
        "CREATE ROLE x PASSWORD 'hunter2' PASSWORD 'hunter2'",
        "CREATE ROLE x PASSWORD E'hunter2' NOSUCH",
        "CREATE USER x PASSWORD $$hunter2$$ garbage",
        "ALTER USER nobody PASSWORD 'hunter2'",
        "ALTER ROLE dup PASSWORD 'hunter2' VALID UNTIL 'someday'",
        "SELECT 1; ALTER ROLE dup PASSWORD 'hunter2' garbage",
    ] {
        let e = err(&mut s, sql);
        assert!(!e.message.contains("hunter2"), "{sql}: {}", e.message);
        assert!(!format!("{e:?}").contains("hunter2"), "{sql}: {e:?}");
        let activity = value(&mut s, "SELECT query FROM pg_stat_activity");
        assert!(!activity.contains("hunter2"), "{sql}: {activity}");
    }
}

#[test]
fn postgres_role_spellings_sqlparser_lacks() {
    let db = memdb();
    let mut s = session(&db, "admin");
    tag(&mut s, "CREATE ROLE g");
    // ENCRYPTED is a noise word; SYSID is accepted with PostgreSQL's NOTICE.
    tag(&mut s, "CREATE USER u ENCRYPTED PASSWORD 'x' IN GROUP g");
    let (_, notices) = ok_with_notices(&mut s, "CREATE ROLE r SYSID 7 NOLOGIN");
    assert_eq!(notices[0].message, "SYSID can no longer be specified");
    assert_eq!(
        rows(
            &mut s,
            "SELECT rolname, rolcanlogin FROM pg_roles WHERE rolname IN ('u', 'r') ORDER BY 1"
        ),
        vec![
            vec!["r".to_owned(), "f".to_owned()],
            vec!["u".to_owned(), "t".to_owned()]
        ]
    );
    let members = "SELECT count(*) FROM pg_auth_members WHERE roleid = 'g'::regrole";
    assert_eq!(value(&mut s, members), "1");
    assert_eq!(tag(&mut s, "ALTER GROUP g DROP USER u"), "ALTER ROLE");
    assert_eq!(value(&mut s, members), "0");
    assert_eq!(tag(&mut s, "RESET TIME ZONE"), "RESET");
    // A syntax error anywhere in a query string runs nothing, as in PostgreSQL.
    let e = err(&mut s, "CREATE ROLE never; CREATE ROLE");
    assert_eq!(e.code, sqlstate::SYNTAX_ERROR);
    assert_eq!(
        value(
            &mut s,
            "SELECT count(*) FROM pg_roles WHERE rolname = 'never'"
        ),
        "0"
    );
}

/// The two-password rotation statements: their rules, errors and who may use them.
#[test]
fn a_second_password_shares_the_first_ones_salt_and_follows_the_rules() {
    let db = memdb();
    let mut admin = session(&db, "admin");
    let older = |db: &Database| {
        db.role("app")
            .unwrap()
            .unwrap()
            .older
            .as_ref()
            .map(|o| o.password.clone())
    };
    tag(&mut admin, "CREATE ROLE app LOGIN");
    let e = err(&mut admin, "ALTER ROLE app ADD SECOND PASSWORD 'x'");
    assert_eq!(e.code, sqlstate::OBJECT_NOT_IN_PREREQUISITE_STATE);
    assert_eq!(e.message, "role \"app\" has no password");
    tag(&mut admin, "ALTER ROLE app ADD FIRST PASSWORD 'one'");
    let first = secret(&db, "app").unwrap();
    let e = err(&mut admin, "ALTER ROLE app ADD FIRST PASSWORD 'two'");
    assert_eq!(e.message, "role \"app\" already has a first password");

    // A pre-hashed second password must use the first's salt and iterations.
    let e = err(
        &mut admin,
        &format!("ALTER ROLE app ADD SECOND PASSWORD '{SECRET_VERIFIER}'"),
    );
    assert_eq!(e.code, sqlstate::INVALID_PARAMETER_VALUE);
    assert!(!e.message.contains("SCRAM-SHA-256$"), "{}", e.message);
    let e = err(
        &mut admin,
        &format!("ALTER ROLE app ADD SECOND PASSWORD '{MD5_SECRET_FOO}'"),
    );
    assert_eq!(e.code, sqlstate::INVALID_PARAMETER_VALUE);
    assert!(older(&db).is_none(), "failed statements change nothing");

    tag(
        &mut admin,
        "ALTER ROLE app ADD SECOND PASSWORD 'two' VALID UNTIL '2100-01-01'",
    );
    let second = secret(&db, "app").unwrap();
    assert_eq!(older(&db).as_deref(), Some(first.as_str()));
    let (v1, v2) = (
        ScramVerifier::parse(&first).unwrap(),
        ScramVerifier::parse(&second).unwrap(),
    );
    assert_eq!((v1.salt(), v1.iterations()), (v2.salt(), v2.iterations()));
    assert!(
        ScramVerifier::derive(b"two", v2.salt(), v2.iterations())
            .unwrap()
            .ct_eq(&v2)
    );
    let e = err(&mut admin, "ALTER ROLE app ADD SECOND PASSWORD 'three'");
    assert_eq!(e.message, "role \"app\" already has two passwords");

    // A role changes its own passwords, but not their expiry.
    let mut me = session(&db, "app");
    let e = err(
        &mut me,
        "ALTER ROLE app FIRST PASSWORD VALID UNTIL 'infinity'",
    );
    assert_eq!(e.code, sqlstate::INSUFFICIENT_PRIVILEGE);
    tag(&mut me, "ALTER ROLE app DROP SECOND PASSWORD");
    assert_eq!(secret(&db, "app").as_deref(), Some(first.as_str()));
    assert!(older(&db).is_none());
    let e = err(&mut me, "ALTER ROLE app DROP SECOND PASSWORD");
    assert_eq!(e.message, "role \"app\" has no second password");
    let e = err(&mut me, "ALTER ROLE admin ADD SECOND PASSWORD 'x'");
    assert_eq!(e.code, sqlstate::INSUFFICIENT_PRIVILEGE);

    // md5 roles cannot rotate: SCRAM sends the salt both passwords share.
    tag(&mut admin, "SET password_encryption = 'md5'");
    tag(&mut admin, "CREATE ROLE legacy LOGIN PASSWORD 'x'");
    let e = err(&mut admin, "ALTER ROLE legacy ADD SECOND PASSWORD 'y'");
    assert_eq!(e.code, sqlstate::OBJECT_NOT_IN_PREREQUISITE_STATE);
    tag(&mut admin, "RESET password_encryption");

    // DROP ALL PASSWORDS, and DROP ROLE, take the older one too.
    tag(&mut admin, "ALTER ROLE app ADD SECOND PASSWORD 'two'");
    tag(&mut admin, "ALTER ROLE app DROP ALL PASSWORDS");
    assert!(secret(&db, "app").is_none() && older(&db).is_none());
    tag(&mut admin, "ALTER ROLE app PASSWORD 'one'");
    tag(&mut admin, "ALTER ROLE app ADD SECOND PASSWORD 'two'");
    tag(&mut admin, "DROP ROLE app");
    tag(&mut admin, "CREATE ROLE app LOGIN PASSWORD 'fresh'");
    assert!(older(&db).is_none(), "nothing left behind by DROP ROLE");
}
