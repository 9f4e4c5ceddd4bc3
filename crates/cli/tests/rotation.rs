//! `pgscram passwd --keep-old-for` against the real `pgscram serve`: the new password is
//! added as the role's second, the old one keeps working until its new expiry, and the
//! tool refuses what it cannot do (a rotation already under way).

mod hardening_serve;
mod run_pgscram;

use std::process::Output;

use hardening_serve::{SUPERUSER_PASSWORD, Serve};
use pgscram_embedded::Timestamp;
use run_pgscram::text;

/// `pgscram args` as the superuser (PGPASSWORD), with `stdin`.
fn pgscram(args: &[&str], stdin: &str) -> Output {
    run_pgscram::pgscram(args, stdin, &[("PGPASSWORD", SUPERUSER_PASSWORD)])
}

fn ok(out: &Output) -> String {
    assert!(out.status.success(), "{}", text(out));
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

#[test]
fn passwd_keep_old_for_rolls_a_new_password_out_beside_the_old() {
    let dir = pgscram_testkit::temp_dir("passwd-rotation");
    let serve = Serve::start(&dir, &[]);
    let admin = |sql: &str| ok(&serve.psql("postgres", SUPERUSER_PASSWORD, sql));
    admin("CREATE ROLE app LOGIN PASSWORD 'old-pw'");
    let conninfo = serve.conninfo("postgres");

    let out = pgscram(
        &["passwd", &conninfo, "app", "--keep-old-for", "2h"],
        "new-pw\n",
    );
    let stdout = ok(&out);
    assert!(
        stdout.contains("second password of role \"app\" added"),
        "{stdout}"
    );
    assert!(stdout.contains("checked: logged in as \"app\""), "{stdout}");
    assert!(!text(&out).contains("new-pw"), "{}", text(&out));

    // Both work; the old one until about two hours from now.
    assert_eq!(ok(&serve.psql("app", "old-pw", "SELECT 1")), "1");
    assert_eq!(ok(&serve.psql("app", "new-pw", "SELECT 1")), "1");
    let expiry = admin(
        "SELECT rolvaliduntil FROM pgscram_passwords \
         WHERE rolname = 'app' AND password = 'first'",
    );
    let Ok(Timestamp::At(expiry)) = Timestamp::parse(&expiry) else {
        panic!("{expiry}");
    };
    let Timestamp::At(now) = Timestamp::from_system_time(std::time::SystemTime::now()) else {
        unreachable!()
    };
    let minutes = (expiry - now) / 60_000_000;
    assert!((118..=120).contains(&minutes), "{minutes} minutes");
    // The newest keeps no expiry.
    assert_eq!(
        admin("SELECT rolvaliduntil IS NULL FROM pg_authid WHERE rolname = 'app'"),
        "t"
    );

    // A second rotation before the first ended: refused, nothing changed.
    let out = pgscram(
        &["passwd", &conninfo, "app", "--keep-old-for", "1h"],
        "newer-pw\n",
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("already has two passwords"),
        "{}",
        text(&out)
    );
    assert_eq!(ok(&serve.psql("app", "old-pw", "SELECT 1")), "1");

    // Ended by hand: only the new password is left.
    admin("ALTER ROLE app DROP FIRST PASSWORD");
    assert!(!serve.psql("app", "old-pw", "SELECT 1").status.success());
    assert_eq!(ok(&serve.psql("app", "new-pw", "SELECT 1")), "1");
    drop(serve);
    let _ = std::fs::remove_dir_all(dir);
}
