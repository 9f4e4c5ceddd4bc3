//! `pgscram proxy` in front of a real PostgreSQL 15 holding the same verifiers.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Arc;

use pgscram_server::proxy::{AuthFileStore, AuthQueryStore, PoolSettings, ProxyBackend};
use pgscram_server::{PasswordStore, Server};
use pgscram_testkit::{Options, Postgres, self_signed_cert};

struct Proxy {
    port: u16,
    /// The metrics page's address, when `metrics_listen` was set.
    metrics: Option<std::net::SocketAddr>,
    dir: PathBuf,
    runtime: tokio::runtime::Runtime,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn postgres() -> Postgres {
    let pg = Postgres::start_with(Options {
        tls: Some(self_signed_cert(&["-newkey", "rsa:2048"], "sha256")),
        hba: "local all all trust\nhost all all 127.0.0.1/32 scram-sha-256\n".into(),
        ..Options::default()
    });
    pg.sql("CREATE ROLE alice LOGIN PASSWORD 'wonderland'");
    pg.sql("CREATE ROLE pgscram_auth LOGIN SUPERUSER PASSWORD 'authpw'");
    pg
}

fn verifier(pg: &Postgres, role: &str) -> String {
    pg.sql(&format!(
        "SELECT rolpassword FROM pg_authid WHERE rolname = '{role}'"
    ))
}

fn write_auth_file(dir: &Path, pg: &Postgres) -> PathBuf {
    let path = dir.join("users.txt");
    std::fs::write(&path, format!("\"alice\" \"{}\"\n", verifier(pg, "alice"))).unwrap();
    path
}

fn start_proxy(
    pg: &Postgres,
    upstream_extra: &str,
    store: impl FnOnce(&Path, pgscram_client::Config) -> Arc<dyn PasswordStore>,
) -> Proxy {
    start_proxy_with(pg, upstream_extra, &[], SCRAM_ONLY, store)
}

/// The proxy's pg_hba.conf unless a test says otherwise.
const SCRAM_ONLY: &str = "host all all 127.0.0.1/32 scram-sha-256\n";

/// [`start_proxy`] with server settings (postgresql.conf names and values) and the
/// proxy's pg_hba.conf.
fn start_proxy_with(
    pg: &Postgres,
    upstream_extra: &str,
    settings: &[(&str, &str)],
    hba: &str,
    store: impl FnOnce(&Path, pgscram_client::Config) -> Arc<dyn PasswordStore>,
) -> Proxy {
    start_proxy_pooled(pg, upstream_extra, settings, hba, None, store)
}

/// [`start_proxy_with`], pooling upstream connections with `pooling`.
fn start_proxy_pooled(
    pg: &Postgres,
    upstream_extra: &str,
    settings: &[(&str, &str)],
    hba: &str,
    pooling: Option<PoolSettings>,
    store: impl FnOnce(&Path, pgscram_client::Config) -> Arc<dyn PasswordStore>,
) -> Proxy {
    let dir = pgscram_testkit::temp_dir("proxy");
    std::fs::write(dir.join("pg_hba.conf"), hba).unwrap();
    let upstream = pgscram_server::proxy::upstream_config(&format!(
        "host=127.0.0.1 port={} {upstream_extra}",
        pg.port()
    ))
    .unwrap();
    let store = store(&dir, upstream.clone());
    // The tests' own clients run here.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let pooled = pooling.is_some();
    let builder = settings
        .iter()
        .fold(Server::builder(), |builder, (name, value)| {
            builder.set(name, value).unwrap()
        })
        .listen("127.0.0.1:0".parse().unwrap())
        .data_dir(&dir)
        .store(store.clone())
        .backend(match pooling {
            Some(pooling) => ProxyBackend::new(upstream, store).with_pooling(pooling),
            None => ProxyBackend::new(upstream, store),
        });
    let (port, metrics) = if pooled {
        // As `pgscram proxy` runs by default (one worker): a single-threaded runtime
        // on a thread of its own, for the life of the test process.
        let (ready, addrs) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            let server = runtime.block_on(builder.build()).unwrap();
            ready
                .send((server.local_addrs()[0].port(), server.metrics_addr()))
                .unwrap();
            runtime.block_on(server.run());
        });
        addrs.recv().unwrap()
    } else {
        let server = runtime.block_on(builder.build()).unwrap();
        let addrs = (server.local_addrs()[0].port(), server.metrics_addr());
        runtime.spawn(server.run());
        addrs
    };
    Proxy {
        port,
        metrics,
        dir,
        runtime,
    }
}

fn file_proxy(pg: &Postgres, upstream_extra: &str) -> Proxy {
    start_proxy(pg, upstream_extra, |dir, _| {
        Arc::new(AuthFileStore::load(&write_auth_file(dir, pg)).unwrap())
    })
}

fn psql(port: u16, password: &str, extra: &str, args: &[&str], stdin: &str) -> Output {
    let conninfo =
        format!("host=127.0.0.1 port={port} user=alice dbname=postgres connect_timeout=10 {extra}");
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
    let mut input = child.stdin.take().unwrap();
    let stdin = stdin.to_owned();
    let writer = std::thread::spawn(move || {
        let _ = input.write_all(stdin.as_bytes());
    });
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    out
}

fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "psql failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// psql's error for a `SELECT 1` that must fail.
fn psql_error(port: u16, password: &str, extra: &str) -> String {
    let out = psql(port, password, extra, &["-c", "SELECT 1"], "");
    assert!(!out.status.success(), "psql succeeded with {extra}");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn connections_received(pg: &Postgres) -> usize {
    pg.log().matches("connection received").count()
}

#[test]
fn psql_through_the_proxy_on_every_leg_combination() {
    let pg = postgres();
    for upstream in ["sslmode=disable", "sslmode=require channel_binding=require"] {
        let proxy = file_proxy(&pg, upstream);
        for client in ["sslmode=disable", "sslmode=require channel_binding=require"] {
            let out = psql(
                proxy.port,
                "wonderland",
                client,
                &[
                    "-c",
                    "SELECT current_user, inet_server_port(), ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
                ],
                "",
            );
            let expected_ssl = if upstream.contains("require") {
                "t"
            } else {
                "f"
            };
            assert_eq!(
                ok(&out),
                format!("alice|{}|{expected_ssl}", pg.port()),
                "upstream {upstream}, client {client}"
            );
        }
        drop(proxy);
    }
}

#[test]
fn a_wrong_password_never_reaches_the_upstream() {
    let pg = postgres();
    let proxy = file_proxy(&pg, "sslmode=disable");
    let before = connections_received(&pg);
    let out = psql(
        proxy.port,
        "wrong",
        "sslmode=disable",
        &["-c", "SELECT 1"],
        "",
    );
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("password authentication failed for user \"alice\"")
    );
    let out = psql(
        proxy.port,
        "x",
        "sslmode=disable user=ghost",
        &["-c", "SELECT 1"],
        "",
    );
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("password authentication failed for user \"ghost\"")
    );
    std::thread::sleep(std::time::Duration::from_millis(200));
    assert_eq!(
        connections_received(&pg),
        before,
        "the proxy opened an upstream connection for a failed login"
    );
    ok(&psql(
        proxy.port,
        "wonderland",
        "sslmode=disable",
        &["-c", "SELECT 1"],
        "",
    ));
    assert_eq!(connections_received(&pg), before + 1);
}

#[test]
fn a_changed_upstream_password_is_reported_as_a_stale_verifier() {
    let pg = postgres();
    let proxy = file_proxy(&pg, "sslmode=disable");
    pg.sql("ALTER ROLE alice PASSWORD 'changed'");
    let stderr = psql_error(proxy.port, "wonderland", "sslmode=disable");
    assert!(
        stderr.contains("the stored SCRAM verifier for role \"alice\" is stale"),
        "{stderr}"
    );
    drop(proxy);
}

fn auth_query(upstream: pgscram_client::Config) -> AuthQueryStore {
    let mut auth = upstream;
    auth.set_user("pgscram_auth");
    auth.set_password(Some("authpw"));
    AuthQueryStore::new(auth, None, std::time::Duration::from_secs(30))
}

fn auth_query_store(upstream: pgscram_client::Config) -> Arc<dyn PasswordStore> {
    Arc::new(auth_query(upstream))
}

/// Issue #15: with `upgrade_md5_on_login` and an auth_user, an md5 role that logs in
/// through the proxy over TLS ends with a SCRAM verifier in the upstream's pg_authid, and
/// its next login is SCRAM pass-through. Nobody else changes; a plain connection and a
/// wrong password change nothing.
#[test]
fn md5_roles_are_upgraded_upstream_as_they_log_in_through_the_proxy() {
    let pg = postgres();
    pg.sql(
        "SET password_encryption = 'md5'; \
         CREATE ROLE dave LOGIN PASSWORD 'dave-secret'; \
         CREATE ROLE erin LOGIN PASSWORD 'erin-secret'",
    );
    let seed = || {
        pg.sql(
            "SELECT string_agg(rolname || '=' || (rolpassword ~ '^SCRAM-SHA-256\\$')::text, ' ' \
             ORDER BY rolname) FROM pg_authid WHERE rolname IN ('dave', 'erin')",
        )
    };
    assert_eq!(seed(), "dave=false erin=false");
    let proxy = start_proxy_with(
        &pg,
        "sslmode=require",
        &[("upgrade_md5_on_login", "on")],
        SCRAM_ONLY,
        |_, upstream| auth_query_store(upstream),
    );
    let as_dave = |password: &str, extra: &str| {
        psql(
            proxy.port,
            password,
            &format!("user=dave {extra}"),
            &["-c", "SELECT current_user"],
            "",
        )
    };
    // Plain connection and wrong password: refused, nothing upgraded.
    assert!(!as_dave("dave-secret", "sslmode=disable").status.success());
    assert!(!as_dave("not-his", "sslmode=require").status.success());
    assert_eq!(seed(), "dave=false erin=false");

    assert_eq!(ok(&as_dave("dave-secret", "sslmode=require")), "dave");
    assert_eq!(seed(), "dave=true erin=false", "only dave is upgraded");

    // The next login is SCRAM pass-through (our client insists on SCRAM).
    let port = proxy.port;
    proxy
        .runtime
        .block_on(async move {
            pgscram_client::connect(&format!(
                "host=127.0.0.1 port={port} user=dave password=dave-secret dbname=postgres \
                 sslmode=require require_auth=scram-sha-256"
            ))
            .await
            .map(drop)
        })
        .expect("SCRAM login through the proxy after the upgrade");
}

/// Issue #15 with an auth_file and an auth_user beside it (PgBouncer's pair): the md5
/// role's new verifier goes upstream through the auth_user, then into the file, which is
/// rewritten with only that line changed; the next login is SCRAM pass-through, and
/// still is after the file is reloaded. A wrong password changes nothing anywhere.
#[test]
fn an_md5_upgrade_rewrites_the_auth_file_atomically() {
    let pg = postgres();
    pg.sql(
        "SET password_encryption = 'md5'; \
         CREATE ROLE dave LOGIN PASSWORD 'dave-secret'; \
         CREATE ROLE erin LOGIN PASSWORD 'erin-secret'",
    );
    let auth_file = std::cell::RefCell::new(PathBuf::new());
    let store = std::cell::RefCell::new(None);
    let proxy = start_proxy_with(
        &pg,
        "sslmode=require",
        &[("upgrade_md5_on_login", "on")],
        SCRAM_ONLY,
        |dir, upstream| {
            let path = dir.join("users.txt");
            std::fs::write(
                &path,
                format!(
                    "; copied from pg_authid\n\"alice\" \"{}\"\n\"dave\" \"{}\"\n\"erin\" \"{}\"\n",
                    verifier(&pg, "alice"),
                    verifier(&pg, "dave"),
                    verifier(&pg, "erin")
                ),
            )
            .unwrap();
            let file = Arc::new(
                AuthFileStore::load(&path)
                    .unwrap()
                    .with_auth_query(auth_query(upstream)),
            );
            *auth_file.borrow_mut() = path;
            *store.borrow_mut() = Some(file.clone());
            file
        },
    );
    let auth_file = auth_file.into_inner();
    let before = std::fs::read_to_string(&auth_file).unwrap();
    let as_dave = |password: &str| {
        psql(
            proxy.port,
            password,
            "user=dave sslmode=require",
            &["-c", "SELECT current_user"],
            "",
        )
    };
    assert!(!as_dave("not-his").status.success());
    assert_eq!(std::fs::read_to_string(&auth_file).unwrap(), before);
    assert!(verifier(&pg, "dave").starts_with("md5"));

    assert_eq!(ok(&as_dave("dave-secret")), "dave");
    let upgraded = verifier(&pg, "dave");
    assert!(upgraded.starts_with("SCRAM-SHA-256$"), "{upgraded}");
    let after = std::fs::read_to_string(&auth_file).unwrap();
    let dave_md5 = before
        .lines()
        .find(|l| l.starts_with("\"dave\""))
        .unwrap()
        .to_owned();
    assert_eq!(
        after,
        before.replace(&dave_md5, &format!("\"dave\" \"{upgraded}\"")),
        "only dave's line changed, to the upstream's new verifier"
    );
    assert!(verifier(&pg, "erin").starts_with("md5"), "only dave");

    // SCRAM pass-through from now on, after a reload too.
    let port = proxy.port;
    let scram_login = || {
        proxy.runtime.block_on(async move {
            pgscram_client::connect(&format!(
                "host=127.0.0.1 port={port} user=dave password=dave-secret dbname=postgres \
                 sslmode=require require_auth=scram-sha-256"
            ))
            .await
            .map(drop)
        })
    };
    scram_login().expect("SCRAM pass-through after the upgrade");
    store.borrow().as_ref().unwrap().reload().unwrap();
    scram_login().expect("and after the auth_file is reloaded");
}

/// A store that returns two passwords (a rotation, issue #15): the client that logs in
/// with the older one is logged in upstream with that one's keys, not the newest's.
#[test]
fn a_login_with_the_older_of_two_passwords_goes_upstream_with_its_keys() {
    use pgscram_scram::ScramVerifier;
    use pgscram_server::{MemoryStore, OlderPassword, Role};

    let pg = postgres();
    let upstream_verifier = verifier(&pg, "alice");
    let parsed = ScramVerifier::parse(&upstream_verifier).unwrap();
    let newer = ScramVerifier::derive(
        b"through-the-looking-glass",
        parsed.salt(),
        parsed.iterations(),
    )
    .unwrap();
    let proxy = start_proxy(&pg, "sslmode=disable", |_, _| {
        let store = MemoryStore::new();
        let mut alice = Role::login(newer.to_string());
        alice.older = Some(OlderPassword::new(upstream_verifier.clone(), None));
        store.insert("alice", alice);
        Arc::new(store)
    });
    assert_eq!(
        ok(&psql(
            proxy.port,
            "wonderland",
            "user=alice sslmode=disable",
            &["-c", "SELECT current_user"],
            "",
        )),
        "alice"
    );
}

/// Issue #13: what unauthenticated clients can make auth_query do is bounded. 10,000
/// distinct unknown names (what a spray of made-up user names asks for) cost the upstream
/// one login, and the cache stays within its bound; names are bound parameters, so a
/// quote in one finds nothing.
#[test]
fn auth_query_costs_one_upstream_login_for_ten_thousand_unknown_names() {
    let pg = postgres();
    let upstream = pgscram_server::proxy::upstream_config(&format!(
        "host=127.0.0.1 port={} sslmode=disable",
        pg.port()
    ))
    .unwrap();
    let store = auth_query(upstream);
    let before = connections_received(&pg);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        for i in 0..10_000 {
            let name = format!("nobody{i}");
            assert!(store.role(&name).await.unwrap().is_none(), "{name}");
        }
        for name in ["alice' OR '1'='1", "alice'--", "x\\' OR true --"] {
            assert!(store.role(name).await.unwrap().is_none(), "{name}");
        }
        assert!(store.role("alice").await.unwrap().is_some());
    });
    assert!(
        store.cached() <= pgscram_server::proxy::CACHE_ENTRIES,
        "the cache is bounded"
    );
    assert_eq!(
        connections_received(&pg),
        before + 1,
        "one auth_user connection"
    );
}

/// PgBouncer's CVE-2025-2291: auth_query ignored VALID UNTIL. Here an expired role fails
/// like a wrong password, and its password still works once the date is moved on.
#[test]
fn auth_query_honours_valid_until() {
    let pg = postgres();
    pg.sql("ALTER ROLE alice VALID UNTIL '2001-01-01 00:00:00+00'");
    let proxy = start_proxy(&pg, "sslmode=disable", |_, upstream| {
        auth_query_store(upstream)
    });
    let stderr = psql_error(proxy.port, "wonderland", "sslmode=disable");
    assert!(
        stderr.contains("password authentication failed for user \"alice\""),
        "{stderr}"
    );
    drop(proxy);
    pg.sql("ALTER ROLE alice VALID UNTIL 'infinity'");
    let proxy = start_proxy(&pg, "sslmode=disable", |_, upstream| {
        auth_query_store(upstream)
    });
    ok(&psql(
        proxy.port,
        "wonderland",
        "sslmode=disable",
        &["-c", "SELECT 1"],
        "",
    ));
}

/// Issue #13: an auth_file may mix md5 and SCRAM secrets. Under an md5 line an md5 role
/// gets the md5 challenge and is logged in upstream by md5 pass-through; under
/// scram-sha-256 it gets the mock exchange and 28P01; SCRAM roles are unchanged.
#[test]
fn md5_roles_in_the_auth_file_log_in_by_md5_pass_through() {
    let pg = Postgres::start_with(Options {
        hba: "local all all trust\n\
              host all carol 127.0.0.1/32 md5\n\
              host all all 127.0.0.1/32 scram-sha-256\n"
            .into(),
        ..Options::default()
    });
    pg.sql("CREATE ROLE alice LOGIN PASSWORD 'wonderland'");
    pg.sql("SET password_encryption = 'md5'; CREATE ROLE carol LOGIN PASSWORD 'carol-secret'");
    let auth_file = |dir: &Path| -> Arc<dyn PasswordStore> {
        let path = dir.join("users.txt");
        std::fs::write(
            &path,
            format!(
                "\"alice\" \"{}\"\n\"carol\" \"{}\"\n",
                verifier(&pg, "alice"),
                verifier(&pg, "carol")
            ),
        )
        .unwrap();
        Arc::new(AuthFileStore::load(&path).unwrap())
    };
    let hba = "host all carol 127.0.0.1/32 md5\nhost all all 127.0.0.1/32 scram-sha-256\n";
    let proxy = start_proxy_with(&pg, "sslmode=disable", &[], hba, |dir, _| auth_file(dir));
    let as_user = |user: &str, password: &str| {
        let extra = format!("sslmode=disable user={user}");
        psql(
            proxy.port,
            password,
            &extra,
            &["-c", "SELECT current_user"],
            "",
        )
    };
    assert_eq!(ok(&as_user("carol", "carol-secret")), "carol");
    assert_eq!(ok(&as_user("alice", "wonderland")), "alice");
    let stderr = String::from_utf8_lossy(&as_user("carol", "wrong").stderr).into_owned();
    assert!(
        stderr.contains("password authentication failed for user \"carol\""),
        "{stderr}"
    );
    drop(proxy);

    // Under scram-sha-256 the md5 role cannot log in: mock exchange, 28P01.
    let proxy = start_proxy_with(&pg, "sslmode=disable", &[], SCRAM_ONLY, |dir, _| {
        auth_file(dir)
    });
    let stderr = psql_error(proxy.port, "carol-secret", "sslmode=disable user=carol");
    assert!(
        stderr.contains("password authentication failed for user \"carol\""),
        "{stderr}"
    );
}

#[test]
fn auth_query_reads_verifiers_from_the_upstream() {
    let pg = postgres();
    let proxy = start_proxy(&pg, "sslmode=require", |_, upstream| {
        auth_query_store(upstream)
    });
    assert_eq!(
        ok(&psql(
            proxy.port,
            "wonderland",
            "sslmode=require channel_binding=require",
            &["-c", "SELECT current_user"],
            ""
        )),
        "alice"
    );
    let out = psql(
        proxy.port,
        "wrong",
        "sslmode=disable",
        &["-c", "SELECT 1"],
        "",
    );
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("password authentication failed for user \"alice\"")
    );
    // The verifier changes upstream: the cached one is stale, the failure drops it, and
    // the next login with the new password reads the new verifier.
    pg.sql("ALTER ROLE alice PASSWORD 'changed'");
    let out = psql(
        proxy.port,
        "wonderland",
        "sslmode=disable",
        &["-c", "SELECT 1"],
        "",
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("is stale"));
    assert_eq!(
        ok(&psql(
            proxy.port,
            "changed",
            "sslmode=disable",
            &["-c", "SELECT current_user"],
            ""
        )),
        "alice"
    );
}

#[test]
fn a_large_copy_arrives_intact() {
    let pg = postgres();
    pg.sql("CREATE TABLE big (id integer, payload text); GRANT ALL ON big TO alice");
    let proxy = file_proxy(&pg, "sslmode=require");
    let rows = 200_000u64;
    let mut data = String::new();
    let mut expected_len = 0u64;
    for i in 0..rows {
        let payload = format!("row-{i}-{}", "x".repeat((i % 97) as usize));
        expected_len += payload.len() as u64;
        data.push_str(&format!("{i}\t{payload}\n"));
    }
    data.push_str("\\.\n");
    ok(&psql(
        proxy.port,
        "wonderland",
        "sslmode=require",
        &["-c", "\\copy big FROM STDIN"],
        &data,
    ));
    let summary = ok(&psql(
        proxy.port,
        "wonderland",
        "sslmode=require",
        &[
            "-c",
            "SELECT count(*), sum(id), sum(length(payload)) FROM big",
        ],
        "",
    ));
    assert_eq!(
        summary,
        format!("{rows}|{}|{expected_len}", rows * (rows - 1) / 2)
    );
}

#[test]
fn tokio_postgres_query_cancel_through_the_proxy() {
    let pg = postgres();
    let proxy = file_proxy(&pg, "sslmode=disable");
    let port = proxy.port;
    let result = proxy.runtime.block_on(async move {
        let conninfo =
            format!("host=127.0.0.1 port={port} user=alice password=wonderland dbname=postgres");
        let (client, connection) = tokio_postgres::connect(&conninfo, tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(connection);
        let token = client.cancel_token();
        let canceller = tokio::spawn(async move {
            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
            token.cancel_query(tokio_postgres::NoTls).await
        });
        let result = client.simple_query("SELECT pg_sleep(30)").await;
        canceller.await.unwrap().unwrap();
        let after = client.simple_query("SELECT 1").await.map(|rows| rows.len());
        (
            result
                .err()
                .and_then(|e| e.code().map(|c| c.code().to_owned())),
            after.is_ok(),
        )
    });
    assert_eq!(
        result.0.as_deref(),
        Some("57014"),
        "the query was not canceled"
    );
    assert!(result.1, "the session should survive the cancel");
}

// ---- pooling (issue #13) ----

fn pooled(pg: &Postgres, settings: &[(&str, &str)]) -> Proxy {
    let mut pooling = PoolSettings::default();
    for (name, value) in settings {
        pooling.set(name, value).unwrap();
    }
    start_proxy_pooled(
        pg,
        "sslmode=disable",
        &[],
        SCRAM_ONLY,
        Some(pooling),
        |dir, _| Arc::new(AuthFileStore::load(&write_auth_file(dir, pg)).unwrap()),
    )
}

/// A tokio-postgres client through the proxy as alice.
async fn alice(port: u16) -> tokio_postgres::Client {
    let conninfo = format!(
        "host=127.0.0.1 port={port} user=alice password=wonderland dbname=postgres connect_timeout=10"
    );
    let (client, connection) = tokio_postgres::connect(&conninfo, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    client
}

async fn one(client: &tokio_postgres::Client, sql: &str) -> String {
    let rows = client.simple_query(sql).await.unwrap();
    rows.iter()
        .find_map(|m| match m {
            tokio_postgres::SimpleQueryMessage::Row(row) => row.get(0).map(str::to_owned),
            _ => None,
        })
        .unwrap_or_default()
}

/// Session pooling: one upstream login serves client after client; what a client
/// changed is reset (DISCARD ALL) before the next one gets the connection.
#[test]
fn session_pooling_serves_clients_one_after_another_on_one_reset_connection() {
    let pg = postgres();
    let proxy = pooled(&pg, &[("pool_mode", "session"), ("default_pool_size", "1")]);
    let before = connections_received(&pg);
    let run = |sql: &[&str]| {
        let args: Vec<&str> = sql.iter().flat_map(|s| ["-c", s]).collect();
        ok(&psql(
            proxy.port,
            "wonderland",
            "sslmode=disable",
            &args,
            "",
        ))
    };
    let first = run(&[
        "SHOW TimeZone",
        "SELECT pg_backend_pid()",
        "SET TimeZone = 'Asia/Tokyo'",
    ]);
    let second = run(&["SHOW TimeZone", "SELECT pg_backend_pid()"]);
    let (zone, pid) = first.split_once('\n').unwrap();
    assert_eq!(
        second,
        format!("{zone}\n{}", pid.lines().next().unwrap()),
        "same backend, reset"
    );
    assert_eq!(connections_received(&pg), before + 1, "one upstream login");
    // A wrong password never gets near the pool.
    assert!(
        !psql(
            proxy.port,
            "wrong",
            "sslmode=disable",
            &["-c", "SELECT 1"],
            ""
        )
        .status
        .success()
    );
}

/// Transaction pooling under pgbench: 8 clients on 2 server connections, with
/// `-M prepared` (named statements prepared transparently on whichever connection
/// runs them): no failed transaction. One pgbench thread per client: pgbench prepares
/// with a blocking PQprepare, so a thread of several clients would wait on its own
/// clients' open transactions for a connection (as it would through PgBouncer).
#[test]
fn transaction_pooling_runs_pgbench_prepared_without_a_failure() {
    let pg = postgres();
    pg.sql("GRANT CREATE ON SCHEMA public TO alice");
    let proxy = pooled(
        &pg,
        &[("pool_mode", "transaction"), ("default_pool_size", "2")],
    );
    let pgbench = |args: &[&str]| {
        Command::new(pgscram_testkit::bindir().join("pgbench"))
            .args(args)
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &proxy.port.to_string(),
                "-U",
                "alice",
                "postgres",
            ])
            .env("PGPASSWORD", "wonderland")
            .env("PGSSLMODE", "disable")
            .output()
            .unwrap()
    };
    let init = pgbench(&["-i", "-s", "1", "-q"]);
    assert!(
        init.status.success(),
        "{}",
        String::from_utf8_lossy(&init.stderr)
    );
    let before = connections_received(&pg);
    for mode in ["prepared", "extended", "simple"] {
        let out = pgbench(&["-n", "-M", mode, "-c", "8", "-j", "8", "-t", "50"]);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{mode}: {stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            stdout.contains("number of transactions actually processed: 400/400"),
            "{mode}: {stdout}"
        );
        assert!(
            stdout.contains("number of failed transactions: 0"),
            "{mode}: {stdout}"
        );
    }
    assert!(
        connections_received(&pg) <= before + 2,
        "at most the pool size of upstream logins"
    );
}

/// Transaction pooling: each client keeps its own parameters whichever connection
/// serves it; a client that leaves mid-transaction never hands that transaction on;
/// a cancel reaches the connection running the client's query.
#[test]
fn transaction_pooling_keeps_parameters_drops_dirty_connections_and_routes_cancels() {
    let pg = postgres();
    pg.sql("CREATE TABLE pooled_t (x int); GRANT ALL ON pooled_t TO alice");
    let proxy = pooled(
        &pg,
        &[("pool_mode", "transaction"), ("default_pool_size", "1")],
    );
    let port = proxy.port;
    proxy.runtime.block_on(async move {
        let a = alice(port).await;
        let b = alice(port).await;
        let default_zone = one(&b, "SHOW TimeZone").await;
        a.simple_query("SET TimeZone = 'Asia/Tokyo'").await.unwrap();
        assert_eq!(one(&b, "SHOW TimeZone").await, default_zone);
        assert_eq!(one(&a, "SHOW TimeZone").await, "Asia/Tokyo");
        assert_eq!(one(&b, "SHOW TimeZone").await, default_zone);

        // A leaves in the middle of a transaction.
        a.simple_query("BEGIN; INSERT INTO pooled_t VALUES (1)")
            .await
            .unwrap();
        drop(a);
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        assert_eq!(one(&b, "SELECT count(*) FROM pooled_t").await, "0");
        assert_eq!(
            one(&b, "SELECT txid_current_if_assigned() IS NULL").await,
            "t"
        );

        // A cancel goes to the connection running b's query.
        let token = b.cancel_token();
        let canceller = tokio::spawn(async move {
            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
            token.cancel_query(tokio_postgres::NoTls).await
        });
        let error = b.simple_query("SELECT pg_sleep(30)").await.unwrap_err();
        canceller.await.unwrap().unwrap();
        assert_eq!(error.code().map(|c| c.code()), Some("57014"));
        assert_eq!(one(&b, "SELECT 1").await, "1");
    });
}

/// Pool exhaustion: a client waits its turn for at most query_wait_timeout; when a
/// connection frees, the next client gets it. After an upstream restart the pooled
/// connections (closed under it) are not handed out: new ones are opened.
#[test]
fn a_full_pool_makes_clients_wait_and_pools_recover_from_an_upstream_restart() {
    let pg = postgres();
    let proxy = pooled(
        &pg,
        &[
            ("pool_mode", "session"),
            ("default_pool_size", "1"),
            ("query_wait_timeout", "1"),
        ],
    );
    let port = proxy.port;
    proxy.runtime.block_on(async move {
        let holder = alice(port).await;
        assert_eq!(one(&holder, "SELECT 1").await, "1");
        let conninfo =
            format!("host=127.0.0.1 port={port} user=alice password=wonderland dbname=postgres");
        let started = std::time::Instant::now();
        let waited = tokio_postgres::connect(&conninfo, tokio_postgres::NoTls).await;
        let error = waited.err().expect("no connection is free");
        assert!(
            format!("{error:?}").contains("query_wait_timeout"),
            "{error:?}"
        );
        assert!(started.elapsed() >= std::time::Duration::from_millis(900));
        // The holder leaves; a waiting client gets its connection.
        let next = tokio::spawn(async move { alice(port).await });
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        drop(holder);
        let next = next.await.unwrap();
        assert_eq!(one(&next, "SELECT 2").await, "2");
    });
    pg.restart();
    proxy.runtime.block_on(async move {
        let after = alice(port).await;
        assert_eq!(one(&after, "SELECT 3").await, "3");
    });
}

/// alice and carol in the auth file, carol also upstream.
fn pooled_with_carol(
    pg: &Postgres,
    server_settings: &[(&str, &str)],
    settings: &[(&str, &str)],
) -> Proxy {
    pg.sql("CREATE ROLE carol LOGIN PASSWORD 'carolpw'");
    let mut pooling = PoolSettings::default();
    for (name, value) in settings {
        pooling.set(name, value).unwrap();
    }
    start_proxy_pooled(
        pg,
        "sslmode=disable",
        server_settings,
        SCRAM_ONLY,
        Some(pooling),
        |dir, _| {
            let path = dir.join("users.txt");
            let lines = format!(
                "\"alice\" \"{}\"\n\"carol\" \"{}\"\n",
                verifier(pg, "alice"),
                verifier(pg, "carol")
            );
            std::fs::write(&path, lines).unwrap();
            Arc::new(AuthFileStore::load(&path).unwrap())
        },
    )
}

/// `psql -A -t` on the console as `user`: rows of `|`-separated values.
fn console(port: u16, user: &str, password: &str, sql: &str) -> Output {
    let mut child = Command::new("psql")
        .arg(format!(
            "host=127.0.0.1 port={port} user={user} dbname=pgscram sslmode=disable"
        ))
        .args(["-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", sql])
        .env("PGPASSWORD", password)
        .env_remove("PGSERVICE")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("psql");
    let _ = child.stdin.take();
    child.wait_with_output().unwrap()
}

fn metrics_page(addr: std::net::SocketAddr) -> String {
    use std::io::Read as _;
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut page = String::new();
    stream.read_to_string(&mut page).unwrap();
    page
}

/// The console on the virtual database `pgscram`: SHOW POOLS, CLIENTS, SERVERS and
/// STATS as PgBouncer names their columns, for admin_users only; the same figures on
/// the metrics page.
#[test]
fn the_console_and_the_metrics_page_show_the_pools_to_admin_users_only() {
    let pg = postgres();
    let proxy = pooled_with_carol(
        &pg,
        &[("metrics_listen", "127.0.0.1:0")],
        &[
            ("pool_mode", "transaction"),
            ("default_pool_size", "2"),
            ("admin_users", "alice"),
        ],
    );
    let port = proxy.port;
    let (client, upstream_pid) = proxy.runtime.block_on(async move {
        let client = alice(port).await;
        for _ in 0..3 {
            assert_eq!(one(&client, "SELECT 1").await, "1");
        }
        let pid = one(&client, "SELECT pg_backend_pid()").await;
        (client, pid)
    });
    let show = |sql: &str| ok(&console(port, "alice", "wonderland", sql));

    // database|user|cl_active|cl_waiting|sv_active|sv_idle|sv_login|maxwait|maxwait_us|pool_mode
    assert_eq!(
        show("SHOW POOLS"),
        "postgres|alice|1|0|0|1|0|0|0|transaction"
    );
    let servers = show("SHOW SERVERS");
    let fields: Vec<&str> = servers.split('|').collect();
    assert_eq!(
        (fields[0], fields[1], fields[2], fields[3], fields[10]),
        ("S", "alice", "postgres", "idle", upstream_pid.as_str()),
        "{servers}"
    );
    let clients = show("SHOW CLIENTS");
    let fields: Vec<&str> = clients.split('|').collect();
    assert_eq!(
        (fields[0], fields[1], fields[2], fields[3], fields[4]),
        ("C", "alice", "postgres", "active", "127.0.0.1"),
        "{clients}"
    );
    let stats = show("SHOW STATS");
    let fields: Vec<u64> = stats
        .split('|')
        .skip(1)
        .map(|v| v.parse().unwrap())
        .collect();
    assert_eq!(stats.split('|').next(), Some("postgres"));
    assert!(
        fields[0] >= 4 && fields[1] >= 4,
        "transactions and queries: {stats}"
    );
    assert!(fields[2] > 0 && fields[3] > 0, "bytes both ways: {stats}");
    // Several statements in one query, as psql sends them; anything else is refused.
    assert_eq!(show("SHOW POOLS; SHOW STATS").lines().count(), 2);
    let refused = console(port, "alice", "wonderland", "SELECT 1");
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("unsupported console command"));

    // carol authenticates, but is not an admin user.
    let denied = console(port, "carol", "carolpw", "SHOW POOLS");
    assert!(!denied.status.success());
    assert!(
        String::from_utf8_lossy(&denied.stderr)
            .contains("permission denied for database \"pgscram\""),
        "{}",
        String::from_utf8_lossy(&denied.stderr)
    );

    let page = metrics_page(proxy.metrics.expect("metrics_listen"));
    for line in [
        r#"pgscram_pool_clients{database="postgres",user="alice",state="active"} 1"#,
        r#"pgscram_pool_servers{database="postgres",user="alice",state="idle"} 1"#,
    ] {
        assert!(page.contains(line), "{line} not in\n{page}");
    }
    assert!(page.contains(r#"pgscram_pool_transactions_total{database="postgres"}"#));
    drop(client);
}

/// alice's upstream backends, as PostgreSQL counts them.
fn upstream_backends(pg: &Postgres) -> usize {
    pg.sql("SELECT count(*) FROM pg_stat_activity WHERE usename = 'alice'")
        .parse()
        .unwrap()
}

fn eventually(what: &str, deadline: std::time::Duration, mut done: impl FnMut() -> bool) {
    let started = std::time::Instant::now();
    while !done() {
        assert!(
            started.elapsed() < deadline,
            "{what}: not within {deadline:?}"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

/// min_pool_size keeps connections open with the key the pool kept from alice's login,
/// refills after they are killed, and stops once the key is zeroized: the pool has
/// had no client for server_idle_timeout.
#[test]
fn min_pool_size_lasts_as_long_as_the_pools_key() {
    let pg = postgres();
    let proxy = pooled(
        &pg,
        &[
            ("pool_mode", "transaction"),
            ("default_pool_size", "3"),
            ("min_pool_size", "2"),
            ("server_idle_timeout", "3"),
        ],
    );
    ok(&psql(
        proxy.port,
        "wonderland",
        "sslmode=disable",
        &["-c", "SELECT 1"],
        "",
    ));
    eventually(
        "two connections kept",
        std::time::Duration::from_secs(5),
        || upstream_backends(&pg) == 2,
    );
    pg.sql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = 'alice'");
    eventually(
        "refilled after they were killed",
        std::time::Duration::from_secs(5),
        || upstream_backends(&pg) == 2,
    );
    // No client for server_idle_timeout: the key is gone, and with it the pool.
    eventually(
        "closed once idle",
        std::time::Duration::from_secs(10),
        || upstream_backends(&pg) == 0,
    );
    std::thread::sleep(std::time::Duration::from_millis(2500));
    assert_eq!(upstream_backends(&pg), 0, "not refilled: no key left");
}

/// client_key_retention: with `pool` (the default) a client whose server connection
/// died gets a new one opened with the pool's key; with `login` no key outlives the
/// login, so it can only wait for a connection to come back (query_wait_timeout).
#[test]
fn client_key_retention_decides_who_can_open_a_new_connection() {
    let pg = postgres();
    for (retention, survives) in [("pool", true), ("login", false)] {
        let proxy = pooled(
            &pg,
            &[
                ("pool_mode", "transaction"),
                ("default_pool_size", "1"),
                ("query_wait_timeout", "2"),
                ("client_key_retention", retention),
            ],
        );
        let port = proxy.port;
        let pg = &pg;
        proxy.runtime.block_on(async move {
            let client = alice(port).await;
            assert_eq!(one(&client, "SELECT 1").await, "1");
            pg.sql(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = 'alice'",
            );
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            let next = client.simple_query("SELECT 2").await;
            match (survives, next) {
                (true, Ok(_)) => {}
                (false, Err(error)) => {
                    assert!(
                        format!("{error:?}").contains("query_wait_timeout"),
                        "{error:?}"
                    )
                }
                (_, other) => panic!("{retention}: {other:?}"),
            }
        });
    }
}

/// A client that proved no password (a `trust` line) is never served with the key a
/// pool keeps from other clients' proofs: it is refused, as without pooling.
#[test]
fn a_trusted_client_does_not_ride_on_a_pools_kept_key() {
    let pg = postgres();
    let mut pooling = PoolSettings::default();
    pooling.set("pool_mode", "transaction").unwrap();
    let proxy = start_proxy_pooled(
        &pg,
        "sslmode=disable",
        &[],
        "hostnossl all all 127.0.0.1/32 scram-sha-256\nhostssl all all 127.0.0.1/32 trust\n",
        Some(pooling),
        |dir, _| Arc::new(AuthFileStore::load(&write_auth_file(dir, &pg)).unwrap()),
    );
    // alice's proof: the pool now keeps her key.
    assert_eq!(
        ok(&psql(
            proxy.port,
            "wonderland",
            "sslmode=disable",
            &["-c", "SELECT 1"],
            ""
        )),
        "1"
    );
    let trusted = psql(proxy.port, "", "sslmode=require", &["-c", "SELECT 1"], "");
    assert!(!trusted.status.success());
    let err = String::from_utf8_lossy(&trusted.stderr);
    assert!(
        err.contains("logs in upstream with the client's proof"),
        "{err}"
    );
}
