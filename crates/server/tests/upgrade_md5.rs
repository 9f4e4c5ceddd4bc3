//! `upgrade_md5_on_login` on the embedded database, driven by psql: an md5 role that logs
//! in over TLS gives its password in cleartext and leaves with a SCRAM verifier; its next
//! login is SCRAM. Nothing is asked or changed on a plain connection, for a wrong
//! password, or for anyone else.

use std::path::Path;
use std::process::{Command, Output, Stdio};

use pgscram_embedded::Database;
use pgscram_server::{Server, ServerHandle};

/// The seed query of the migration guide (issue #15).
const SEED: &str = "SELECT rolname, rolpassword ~ '^SCRAM-SHA-256\\$' AS has_upgraded \
                    FROM pg_authid WHERE rolcanlogin ORDER BY rolname";

struct Serve {
    port: u16,
    handle: ServerHandle,
    runtime: tokio::runtime::Runtime,
}

fn start(data_dir: &Path) -> Serve {
    let db = Database::open(data_dir.join("pgscram.db")).unwrap();
    db.bootstrap_superuser("postgres", Some("superpw")).unwrap();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let server = runtime
        .block_on(
            Server::builder()
                .listen("127.0.0.1:0".parse().unwrap())
                .data_dir(data_dir)
                .hba_rules(
                    "host all frank 127.0.0.1/32 md5\n\
                     host all all 127.0.0.1/32 scram-sha-256\n",
                )
                .set("upgrade_md5_on_login", "on")
                .unwrap()
                .set("audit_log", &data_dir.join("audit.log").to_string_lossy())
                .unwrap()
                .embedded(db)
                .build(),
        )
        .unwrap();
    let port = server.local_addrs()[0].port();
    let handle = server.handle();
    runtime.spawn(server.run());
    Serve {
        port,
        handle,
        runtime,
    }
}

impl Serve {
    fn psql(&self, user: &str, password: &str, sslmode: &str, sql: &str) -> Output {
        let conninfo = format!(
            "host=127.0.0.1 port={} user={user} dbname=postgres connect_timeout=10 sslmode={sslmode}",
            self.port
        );
        Command::new(pgscram_testkit::bindir().join("psql"))
            .args([
                "-X",
                "-A",
                "-t",
                "-F",
                " ",
                "-v",
                "ON_ERROR_STOP=1",
                "-c",
                sql,
            ])
            .arg(conninfo)
            .env("PGPASSWORD", password)
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }

    fn seed(&self) -> String {
        ok(&self.psql("postgres", "superpw", "require", SEED))
    }

    /// Our client, which can insist on SCRAM (`require_auth`).
    fn login(&self, user: &str, password: &str, extra: &str) -> Result<(), String> {
        let conninfo = format!(
            "host=127.0.0.1 port={} user={user} password={password} dbname=postgres {extra}",
            self.port
        );
        self.runtime.block_on(async {
            pgscram_client::connect(&conninfo)
                .await
                .map(drop)
                .map_err(|e| match e.sqlstate() {
                    Some(code) => format!("{code}: {e}"),
                    None => e.to_string(),
                })
        })
    }
}

fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "psql failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

#[test]
fn an_md5_role_leaves_its_first_tls_login_with_a_scram_verifier() {
    let dir = pgscram_testkit::temp_dir("upgrade-md5");
    let serve = start(&dir);
    // md5 roles, as a migrated catalog holds them.
    ok(&serve.psql(
        "postgres",
        "superpw",
        "require",
        "SET password_encryption = 'md5'; \
         CREATE ROLE dave LOGIN PASSWORD 'dave-secret'; \
         CREATE ROLE erin LOGIN PASSWORD 'erin-secret'; \
         CREATE ROLE frank LOGIN PASSWORD 'frank-secret'",
    ));
    assert_eq!(
        serve.seed(),
        "dave f\nerin f\nfrank f\npostgres t",
        "all three start as md5"
    );

    // A plain connection: no cleartext request (the client refuses one), and the
    // SCRAM rule fails the md5 role as before, with the generic 28P01.
    let plain = serve.login(
        "dave",
        "dave-secret",
        "sslmode=disable require_auth=scram-sha-256",
    );
    let error = plain.expect_err("no SCRAM secret, no login");
    assert!(error.starts_with("28P01"), "{error}");
    // psql over a plain connection is not asked for a cleartext password either.
    let out = serve.psql("dave", "dave-secret", "disable", "SELECT 1");
    assert!(!out.status.success());

    // A wrong password over TLS: 28P01, nothing changes.
    let out = serve.psql("dave", "not-his", "require", "SELECT 1");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("password authentication failed for user \"dave\""),
        "{stderr}"
    );
    assert_eq!(serve.seed(), "dave f\nerin f\nfrank f\npostgres t");

    // The right password over TLS under the scram-sha-256 rule: logged in, upgraded.
    assert_eq!(
        ok(&serve.psql("dave", "dave-secret", "require", "SELECT current_user")),
        "dave"
    );
    assert_eq!(
        serve.seed(),
        "dave t\nerin f\nfrank f\npostgres t",
        "only dave is upgraded"
    );
    // His next login is SCRAM, with or without TLS, and SCRAM-PLUS over TLS.
    serve
        .login(
            "dave",
            "dave-secret",
            "sslmode=disable require_auth=scram-sha-256",
        )
        .expect("SCRAM login after the upgrade");
    serve
        .login(
            "dave",
            "dave-secret",
            "sslmode=require channel_binding=require",
        )
        .expect("SCRAM-PLUS login after the upgrade");

    // Under an md5 rule too.
    assert_eq!(
        ok(&serve.psql("frank", "frank-secret", "require", "SELECT 1")),
        "1"
    );
    assert_eq!(serve.seed(), "dave t\nerin f\nfrank t\npostgres t");

    assert_eq!(serve.handle.metrics().password_upgrades(), 2);
    serve
        .runtime
        .shutdown_timeout(std::time::Duration::from_secs(5));
    let _ = std::fs::remove_dir_all(dir);
}
