//! `serve` on the embedded database, driven by psql and tokio-postgres: roles made with
//! SQL log in with SCRAM (and SCRAM-PLUS), the catalog answers the seed query, psql's
//! \password works, and everything survives a restart.

mod hardening_util;

use std::path::Path;
use std::process::{Command, Output, Stdio};

use pgscram_embedded::Database;
use pgscram_server::Server;

struct Serve {
    port: u16,
    handle: pgscram_server::ServerHandle,
    runtime: tokio::runtime::Runtime,
}

fn start(data_dir: &Path) -> Serve {
    start_with(data_dir, |builder| builder)
}

/// [`start`] with more configuration of the builder.
fn start_with(
    data_dir: &Path,
    configure: impl FnOnce(pgscram_server::ServerBuilder) -> pgscram_server::ServerBuilder,
) -> Serve {
    let db = Database::open(data_dir.join("pgscram.db")).unwrap();
    db.bootstrap_superuser("postgres", Some("superpw")).unwrap();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let builder = Server::builder()
        .listen("127.0.0.1:0".parse().unwrap())
        .data_dir(data_dir);
    let server = runtime
        .block_on(configure(builder).embedded(db).build())
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
    fn psql(&self, user: &str, password: &str, extra: &str, sql: &str) -> Output {
        self.psql_stdin(user, password, extra, &["-c", sql], "")
    }

    fn psql_stdin(
        &self,
        user: &str,
        password: &str,
        extra: &str,
        args: &[&str],
        stdin: &str,
    ) -> Output {
        use std::io::Write as _;
        let conninfo = format!(
            "host=127.0.0.1 port={} user={user} dbname=postgres connect_timeout=10 {extra}",
            self.port
        );
        let mut child = Command::new(pgscram_testkit::bindir().join("psql"))
            .args(["-X", "-A", "-t", "-v", "ON_ERROR_STOP=1"])
            .args(args)
            .arg(conninfo)
            .env("PGPASSWORD", password)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(stdin.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    }

    fn stop(self) {
        self.runtime
            .shutdown_timeout(std::time::Duration::from_secs(5));
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
fn roles_made_with_sql_log_in_and_survive_a_restart() {
    let dir = pgscram_testkit::temp_dir("serve-embedded");
    let serve = start(&dir);
    let admin = |sql: &str| ok(&serve.psql("postgres", "superpw", "sslmode=disable", sql));
    admin("CREATE ROLE alice LOGIN PASSWORD 'wonderland'");
    admin("SET password_encryption = 'md5'; CREATE ROLE oldie LOGIN PASSWORD 'legacy'");
    admin(
        "CREATE TABLE users (id integer primary key, name text); INSERT INTO users VALUES (1, 'ada'), (2, 'grace')",
    );

    // SCRAM with and without TLS; PLUS with channel binding required.
    assert_eq!(
        ok(&serve.psql(
            "alice",
            "wonderland",
            "sslmode=disable",
            "SELECT current_user"
        )),
        "alice"
    );
    assert_eq!(
        ok(&serve.psql(
            "alice",
            "wonderland",
            "sslmode=require channel_binding=require",
            "SELECT * FROM users"
        )),
        "1|ada\n2|grace"
    );
    let wrong = serve.psql("alice", "nope", "sslmode=disable", "SELECT 1");
    assert!(
        String::from_utf8_lossy(&wrong.stderr)
            .contains("password authentication failed for user \"alice\"")
    );

    // The seed query, verbatim, as the superuser.
    let seed = "SELECT rolname, rolpassword ~ '^SCRAM-SHA-256\\$' AS has_upgraded FROM pg_authid WHERE rolcanlogin;";
    let rows = admin(seed);
    assert!(rows.contains("alice|t"), "{rows}");
    assert!(rows.contains("oldie|f"), "{rows}");
    assert!(rows.contains("postgres|t"), "{rows}");
    // pg_authid is for superusers only.
    let denied = serve.psql(
        "alice",
        "wonderland",
        "sslmode=disable",
        "SELECT rolpassword FROM pg_authid",
    );
    assert!(
        String::from_utf8_lossy(&denied.stderr).contains("permission denied for table pg_authid")
    );

    // psql's \password hashes on the client and sends ALTER ROLE ... PASSWORD 'SCRAM-SHA-256$...'.
    let out = serve.psql_stdin(
        "alice",
        "wonderland",
        "sslmode=disable",
        &["-c", "\\password"],
        "looking-glass\nlooking-glass\n",
    );
    ok(&out);
    assert!(
        !serve
            .psql("alice", "wonderland", "sslmode=disable", "SELECT 1")
            .status
            .success()
    );
    assert_eq!(
        ok(&serve.psql("alice", "looking-glass", "sslmode=disable", "SELECT 1")),
        "1"
    );
    serve.stop();

    // Restart on the same data directory: roles, passwords and data are still there.
    let serve = start(&dir);
    assert_eq!(
        ok(&serve.psql(
            "alice",
            "looking-glass",
            "sslmode=require",
            "SELECT count(*) FROM users"
        )),
        "2"
    );
    serve.stop();
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn pg_hba_file_rules_shows_the_file_for_superusers() {
    let dir = pgscram_testkit::temp_dir("serve-hba-view");
    let serve = start(&dir);
    ok(&serve.psql(
        "postgres",
        "superpw",
        "sslmode=disable",
        "CREATE ROLE alice LOGIN PASSWORD 'pw'",
    ));
    let rows = ok(&serve.psql(
        "postgres",
        "superpw",
        "sslmode=disable",
        "SELECT line_number, type, database, user_name, address, auth_method FROM pg_hba_file_rules ORDER BY line_number",
    ));
    assert!(
        rows.contains("4|host|{all}|{all}|127.0.0.1|scram-sha-256"),
        "{rows}"
    );
    let denied = serve.psql(
        "alice",
        "pw",
        "sslmode=disable",
        "SELECT * FROM pg_hba_file_rules",
    );
    assert!(
        String::from_utf8_lossy(&denied.stderr)
            .contains("permission denied for table pg_hba_file_rules")
    );
    // An edit shows up (with its error) before any reload, as in PostgreSQL.
    let hba = std::fs::read_to_string(dir.join("pg_hba.conf")).unwrap();
    std::fs::write(
        dir.join("pg_hba.conf"),
        format!("{hba}host all all 10.0.0.0/33 trust\n"),
    )
    .unwrap();
    let rows = ok(&serve.psql(
        "postgres",
        "superpw",
        "sslmode=disable",
        "SELECT error FROM pg_hba_file_rules WHERE error IS NOT NULL",
    ));
    assert!(
        rows.contains("invalid CIDR mask in address \"10.0.0.0/33\""),
        "{rows}"
    );
    serve.stop();
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn tokio_postgres_binary_parameters_and_results() {
    let dir = pgscram_testkit::temp_dir("serve-binary");
    let serve = start(&dir);
    let port = serve.port;
    let (sum, text, flag) = serve.runtime.block_on(async move {
        let conninfo =
            format!("host=127.0.0.1 port={port} user=postgres password=superpw dbname=postgres");
        let (client, connection) = tokio_postgres::connect(&conninfo, tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(connection);
        // A binary int4 parameter in, binary int4/text/bool results out.
        let row = client
            .query_one("SELECT $1::integer, 'x'::text, true", &[&42i32])
            .await
            .unwrap();
        (
            row.get::<_, i32>(0),
            row.get::<_, String>(1),
            row.get::<_, bool>(2),
        )
    });
    assert_eq!((sum, text.as_str(), flag), (42, "x", true));
    serve.stop();
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn one_pid_for_backend_key_data_and_pg_backend_pid() {
    let dir = pgscram_testkit::temp_dir("serve-pid");
    let serve = start(&dir);
    let pids: Vec<(i32, String)> = serve.runtime.block_on(async {
        let mut pids = Vec::new();
        for _ in 0..2 {
            let mut connection = pgscram_client::connect(&format!(
                "host=127.0.0.1 port={} user=postgres password=superpw dbname=postgres sslmode=disable",
                serve.port
            ))
            .await
            .expect("login");
            let key_pid = connection.backend_pid().expect("BackendKeyData");
            let result = connection.query("SELECT pg_backend_pid()").await.unwrap();
            let sql_pid = result.rows[0][0].clone().unwrap();
            pids.push((key_pid, sql_pid));
        }
        pids
    });
    for (key_pid, sql_pid) in &pids {
        assert_eq!(key_pid.to_string(), *sql_pid);
    }
    assert_ne!(pids[0].0, pids[1].0, "each session has its own pid");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn pg_reload_conf_reloads_pg_hba_and_pg_stat_ssl_shows_the_session_tls() {
    let dir = pgscram_testkit::temp_dir("serve-reload");
    let serve = start(&dir);
    let ssl = ok(&serve.psql(
        "postgres",
        "superpw",
        "sslmode=require",
        "SELECT ssl, version, cipher, bits FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
    ));
    assert!(ssl.starts_with("t|TLSv1.3|TLS_"), "{ssl}");
    let plain = ok(&serve.psql(
        "postgres",
        "superpw",
        "sslmode=disable",
        "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
    ));
    assert_eq!(plain, "f");

    std::fs::write(
        dir.join("pg_hba.conf"),
        "hostssl all all 127.0.0.1/32 scram-sha-256\n",
    )
    .unwrap();
    assert_eq!(
        ok(&serve.psql(
            "postgres",
            "superpw",
            "sslmode=disable",
            "SELECT pg_reload_conf()"
        )),
        "t"
    );
    // The poller picks the request up within a fraction of a second.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let out = serve.psql("postgres", "superpw", "sslmode=disable", "SELECT 1");
        if !out.status.success() {
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(stderr.contains("no pg_hba.conf entry"), "{stderr}");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "not reloaded");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert_eq!(
        ok(&serve.psql("postgres", "superpw", "sslmode=require", "SELECT 1")),
        "1"
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_failed_parse_is_answered_at_flush_not_at_sync() {
    // asyncpg sends Parse, Describe, Flush and waits: the error must come before Sync.
    use std::io::Write as _;
    let dir = pgscram_testkit::temp_dir("serve-flush");
    let serve = start(&dir);
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", serve.port)).unwrap();
    let login = hardening_util::scram_login(&mut stream, "postgres", "superpw", "flushnonce");
    assert!(login.ok, "{:?}", login.messages);
    let mut parse = b"\0SELEC 1\0".to_vec(); // unnamed statement, a syntax error
    parse.extend_from_slice(&0u16.to_be_bytes());
    let mut bytes = hardening_util::frame(b'P', &parse);
    bytes.extend(hardening_util::frame(b'D', b"S\0"));
    bytes.extend(hardening_util::frame(b'H', b""));
    stream.write_all(&bytes).unwrap();
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .unwrap();
    let mut buf = Vec::new();
    let messages = hardening_util::read_until(&mut stream, &mut buf, |m| {
        matches!(m, pgscram_wire::BackendMessage::ErrorResponse(_))
    });
    match messages.last() {
        Some(pgscram_wire::BackendMessage::ErrorResponse(e)) => {
            assert_eq!(e.code.as_str(), "42601", "{e:?}")
        }
        other => panic!("no error before Sync: {other:?} in {messages:?}"),
    }
    let _ = std::fs::remove_dir_all(dir);
}

/// The SQLite session opens at the first statement, not at login; what the session
/// shows of its start still dates from the login, as in PostgreSQL.
#[test]
fn a_session_opened_at_its_first_query_dates_from_its_login() {
    let dir = pgscram_testkit::temp_dir("serve-lazy");
    let serve = start(&dir);
    let conninfo = format!(
        "host=127.0.0.1 port={} user=postgres password=superpw dbname=postgres sslmode=disable",
        serve.port
    );
    let (started, between) = serve.runtime.block_on(async {
        let mut idle = pgscram_client::connect(&conninfo).await.expect("login");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        let mut other = pgscram_client::connect(&conninfo).await.expect("login");
        let between = other.query("SELECT now()::text").await.unwrap().rows[0][0].clone();
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        let sql = "SELECT backend_start::text FROM pg_stat_activity WHERE pid = pg_backend_pid()";
        let started = idle.query(sql).await.unwrap().rows[0][0].clone();
        (started.unwrap(), between.unwrap())
    });
    // Same format and time zone, so text order is time order.
    assert!(
        started < between,
        "backend_start {started} must be the login, before {between}, not the first query"
    );
    serve.stop();
    let _ = std::fs::remove_dir_all(dir);
}

/// The seed query of the migration guide (issue #15), rows joined by spaces.
const SEED: &str = "SELECT string_agg(rolname || '=' || \
                    CASE WHEN rolpassword ~ '^SCRAM-SHA-256\\$' THEN 't' ELSE 'f' END, ' ') \
                    FROM (SELECT rolname, rolpassword FROM pg_authid WHERE rolcanlogin \
                    ORDER BY rolname) r";

/// `upgrade_md5_on_login` (issue #15): an md5 role that logs in over TLS gives its
/// password in cleartext and leaves with a SCRAM verifier; its next login is SCRAM.
/// Nothing is asked or changed on a plain connection, for a wrong password, or for
/// anyone else.
#[test]
fn an_md5_role_leaves_its_first_tls_login_with_a_scram_verifier() {
    let dir = pgscram_testkit::temp_dir("upgrade-md5");
    let audit = dir.join("audit.log");
    let serve = start_with(&dir, |builder| {
        builder
            .hba_rules(
                "host all frank 127.0.0.1/32 md5\n\
                 host all all 127.0.0.1/32 scram-sha-256\n",
            )
            .set("upgrade_md5_on_login", "on")
            .unwrap()
            .set("audit_log", &audit.to_string_lossy())
            .unwrap()
    });
    let tls = "sslmode=require";
    let seed = || ok(&serve.psql("postgres", "superpw", tls, SEED));
    // md5 roles, as a migrated catalog holds them.
    ok(&serve.psql(
        "postgres",
        "superpw",
        tls,
        "SET password_encryption = 'md5'; \
         CREATE ROLE dave LOGIN PASSWORD 'dave-secret'; \
         CREATE ROLE erin LOGIN PASSWORD 'erin-secret'; \
         CREATE ROLE frank LOGIN PASSWORD 'frank-secret'",
    ));
    assert_eq!(seed(), "dave=f erin=f frank=f postgres=t");
    let login = |user: &str, password: &str, extra: &str| {
        let conninfo = format!(
            "host=127.0.0.1 port={} user={user} password={password} dbname=postgres {extra}",
            serve.port
        );
        serve.runtime.block_on(async {
            pgscram_client::connect(&conninfo)
                .await
                .map(drop)
                .map_err(|e| format!("{:?}: {e}", e.sqlstate()))
        })
    };

    // A plain connection: no cleartext request (our client would refuse one), and the
    // SCRAM rule fails the md5 role as before, with the generic 28P01.
    let error = login(
        "dave",
        "dave-secret",
        "sslmode=disable require_auth=scram-sha-256",
    )
    .expect_err("no SCRAM secret, no login");
    assert!(error.contains("28P01"), "{error}");
    assert!(
        !serve
            .psql("dave", "dave-secret", "sslmode=disable", "SELECT 1")
            .status
            .success()
    );
    // A wrong password over TLS: 28P01, nothing changes.
    let out = serve.psql("dave", "not-his", tls, "SELECT 1");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("password authentication failed for user \"dave\""),
        "{stderr}"
    );
    assert_eq!(seed(), "dave=f erin=f frank=f postgres=t");

    // The right password over TLS under the scram-sha-256 rule: logged in, upgraded.
    assert_eq!(
        ok(&serve.psql("dave", "dave-secret", tls, "SELECT current_user")),
        "dave"
    );
    assert_eq!(seed(), "dave=t erin=f frank=f postgres=t", "only dave");
    // His next login is SCRAM, with or without TLS, and SCRAM-PLUS over TLS.
    login(
        "dave",
        "dave-secret",
        "sslmode=disable require_auth=scram-sha-256",
    )
    .expect("SCRAM login after the upgrade");
    login(
        "dave",
        "dave-secret",
        "sslmode=require channel_binding=require",
    )
    .expect("SCRAM-PLUS login after the upgrade");
    // Under an md5 rule too.
    assert_eq!(
        ok(&serve.psql("frank", "frank-secret", tls, "SELECT 1")),
        "1"
    );
    assert_eq!(seed(), "dave=t erin=f frank=t postgres=t");

    assert_eq!(serve.handle.metrics().password_upgrades(), 2);
    serve.stop();
    // The audit log says which logins upgraded, and only those.
    let audit = std::fs::read_to_string(&audit).unwrap();
    let upgraded: Vec<&str> = audit
        .lines()
        .filter(|l| l.contains("password upgraded md5 -> scram-sha-256"))
        .collect();
    assert_eq!(upgraded.len(), 2, "{audit}");
    assert!(
        upgraded[0].contains("dave") && upgraded[1].contains("frank"),
        "{audit}"
    );
    let _ = std::fs::remove_dir_all(dir);
}

/// Rotation with two passwords (issue #15): a second password rolls out while the first
/// still logs in; the audit log and the metrics say which one each login used;
/// pg_authid shows the newest; only superusers see both; an expired or dropped first
/// password stops working while the second goes on; `PASSWORD` replaces both.
#[test]
fn a_role_rotates_its_password_with_two_valid_at_once() {
    use pgscram_server::PasswordUsed;

    let dir = pgscram_testkit::temp_dir("rotation");
    let audit = dir.join("audit.log");
    let serve = start_with(&dir, |builder| {
        builder
            .hba_rules(
                "host all clear 127.0.0.1/32 password\n\
                 host all all 127.0.0.1/32 scram-sha-256\n",
            )
            .set("audit_log", &audit.to_string_lossy())
            .unwrap()
    });
    let admin = |sql: &str| ok(&serve.psql("postgres", "superpw", "", sql));
    let logs_in = |password: &str, extra: &str| {
        let conninfo = format!(
            "host=127.0.0.1 port={} user=app password={password} dbname=postgres \
             require_auth=scram-sha-256 {extra}",
            serve.port
        );
        serve
            .runtime
            .block_on(pgscram_client::connect(&conninfo))
            .map(|c| serve.runtime.block_on(c.close()))
            .is_ok()
    };
    admin("CREATE ROLE app LOGIN PASSWORD 'old-pw'");
    let before = admin("SELECT rolpassword FROM pg_authid WHERE rolname = 'app'");
    admin("ALTER ROLE app ADD SECOND PASSWORD 'new-pw'");
    let metrics = serve.handle.metrics();
    // The superuser's own logins so far used its only (newest) password.
    let newest_before = metrics.password_logins(PasswordUsed::Newest);

    // Both log in, with and without channel binding; nothing else does.
    assert!(logs_in("old-pw", "sslmode=disable"));
    assert!(logs_in("new-pw", "sslmode=disable"));
    assert!(logs_in("old-pw", "sslmode=require channel_binding=require"));
    assert!(logs_in("new-pw", "sslmode=require channel_binding=require"));
    assert!(!logs_in("neither", "sslmode=disable"));
    // psql, with its own SCRAM code, too.
    assert_eq!(ok(&serve.psql("app", "old-pw", "", "SELECT 1")), "1");
    assert_eq!(metrics.password_logins(PasswordUsed::Older), 3);
    assert_eq!(
        metrics.password_logins(PasswordUsed::Newest) - newest_before,
        2
    );

    // pg_authid shows the newest; both, sharing one salt, only in pgscram_passwords.
    let newest = admin("SELECT rolpassword FROM pg_authid WHERE rolname = 'app'");
    assert_ne!(newest, before);
    let both = admin(
        "SELECT password || ' ' || rolpassword FROM pgscram_passwords \
         WHERE rolname = 'app' ORDER BY password",
    );
    let salt = |verifier: &str| verifier.split('$').nth(1).unwrap().to_owned();
    let lines: Vec<&str> = both.lines().collect();
    assert_eq!(lines.len(), 2, "{both}");
    assert_eq!(lines[0], format!("first {before}"));
    assert_eq!(lines[1], format!("second {newest}"));
    assert_eq!(salt(&before), salt(&newest), "one salt and iteration count");
    let out = serve.psql("app", "new-pw", "", "SELECT * FROM pgscram_passwords");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("permission denied"),
        "{out:?}"
    );

    // The first expires: the second goes on alone.
    admin("ALTER ROLE app FIRST PASSWORD VALID UNTIL '2001-01-01'");
    assert!(!logs_in("old-pw", "sslmode=disable"));
    assert!(logs_in("new-pw", "sslmode=disable"));
    // Given back its time, then dropped: the rotation is over.
    admin("ALTER ROLE app FIRST PASSWORD VALID UNTIL 'infinity'");
    assert!(logs_in("old-pw", "sslmode=disable"));
    admin("ALTER ROLE app DROP FIRST PASSWORD");
    assert!(!logs_in("old-pw", "sslmode=disable"));
    assert!(logs_in("new-pw", "sslmode=disable"));
    assert_eq!(
        admin("SELECT password FROM pgscram_passwords WHERE rolname = 'app'"),
        "first"
    );

    // A rotation rolled back drops the second; PASSWORD replaces every password.
    admin("ALTER ROLE app ADD SECOND PASSWORD 'newer-pw'");
    admin("ALTER ROLE app DROP SECOND PASSWORD");
    assert!(!logs_in("newer-pw", "sslmode=disable"));
    assert!(logs_in("new-pw", "sslmode=disable"));
    admin("ALTER ROLE app ADD SECOND PASSWORD 'newer-pw'");
    admin("ALTER ROLE app PASSWORD 'only-pw'");
    assert!(!logs_in("new-pw", "sslmode=disable"));
    assert!(!logs_in("newer-pw", "sslmode=disable"));
    assert!(logs_in("only-pw", "sslmode=disable"));

    // The cleartext `password` method checks both passwords too.
    admin("CREATE ROLE clear LOGIN PASSWORD 'old-pw'");
    admin("ALTER ROLE clear ADD SECOND PASSWORD 'new-pw'");
    let tls = "sslmode=require";
    assert_eq!(ok(&serve.psql("clear", "old-pw", tls, "SELECT 1")), "1");
    assert_eq!(ok(&serve.psql("clear", "new-pw", tls, "SELECT 1")), "1");
    assert!(
        !serve
            .psql("clear", "neither", tls, "SELECT 1")
            .status
            .success()
    );
    serve.stop();

    // Every successful login says which password it used.
    let audit = std::fs::read_to_string(&audit).unwrap();
    let app: Vec<&str> = audit
        .lines()
        .filter(|l| l.contains("user=\"app\"") && l.contains("outcome=success"))
        .collect();
    assert!(app[0].contains("password=\"older\""), "{audit}");
    assert!(app[1].contains("password=\"newest\""), "{audit}");
    assert!(app.iter().all(|l| l.contains("password=")), "{audit}");
    let clear: Vec<&str> = audit
        .lines()
        .filter(|l| l.contains("user=\"clear\"") && l.contains("outcome=success"))
        .collect();
    assert_eq!(clear.len(), 2, "{audit}");
    assert!(
        clear[0].contains("method=\"password\"") && clear[0].contains("password=\"older\""),
        "{audit}"
    );
    assert!(clear[1].contains("password=\"newest\""), "{audit}");
    let _ = std::fs::remove_dir_all(dir);
}
