//! The real `pgscram proxy` process in front of PostgreSQL 15, configured as an
//! operator configures PgBouncer: pooling settings in the configuration file, the
//! console on the `pgscram` database, `max_client_conn`.

use std::io::Read as _;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use pgscram_testkit::{Options, Postgres};

struct Proxy {
    child: Child,
    port: u16,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn psql(port: u16, user: &str, password: &str, dbname: &str, sql: &str) -> Output {
    Command::new(pgscram_testkit::bindir().join("psql"))
        .arg(format!(
            "host=127.0.0.1 port={port} user={user} dbname={dbname} sslmode=disable connect_timeout=10"
        ))
        .args(["-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", sql])
        .env("PGPASSWORD", password)
        .env_remove("PGSERVICE")
        .stdin(Stdio::null())
        .output()
        .expect("psql")
}

fn stdout(out: &Output) -> String {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// Starts `pgscram proxy -c FILE` and waits until it accepts connections.
fn start(pg: &Postgres, dir: &std::path::Path, settings: &str) -> Proxy {
    let verifier = pg.sql("SELECT rolpassword FROM pg_authid WHERE rolname = 'alice'");
    let auth_file = dir.join("users.txt");
    std::fs::write(&auth_file, format!("\"alice\" \"{verifier}\"\n")).unwrap();
    let port = pgscram_testkit::free_port();
    let conf = dir.join("pgscram-proxy.conf");
    std::fs::write(
        &conf,
        format!(
            "upstream = 'host=127.0.0.1 port={} sslmode=disable'\n\
             auth_file = '{}'\n\
             port = {port}\n\
             {settings}",
            pg.port(),
            auth_file.display()
        ),
    )
    .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_pgscram"))
        .args(["proxy", "-c"])
        .arg(&conf)
        .args(["--no-unix-socket", "--no-tls", "--data-dir"])
        .arg(dir.join("data"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if let Ok(Some(status)) = child.try_wait() {
            let mut err = String::new();
            let _ = child.stderr.take().unwrap().read_to_string(&mut err);
            panic!("pgscram proxy exited ({status}):\n{err}");
        }
        assert!(Instant::now() < deadline, "pgscram proxy did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    Proxy { child, port }
}

#[test]
fn pooling_settings_from_the_file_the_console_and_max_client_conn() {
    let pg = Postgres::start_with(Options {
        hba: "local all all trust\nhost all all 127.0.0.1/32 scram-sha-256\n".into(),
        ..Options::default()
    });
    pg.sql("CREATE ROLE alice LOGIN PASSWORD 'wonderland'");
    let dir = pgscram_testkit::temp_dir("proxy-process");
    let proxy = start(
        &pg,
        &dir,
        "pool_mode = transaction\n\
         default_pool_size = 2\n\
         min_pool_size = 1\n\
         admin_users = 'alice'\n\
         max_client_conn = 2\n",
    );
    assert_eq!(
        stdout(&psql(
            proxy.port,
            "alice",
            "wonderland",
            "postgres",
            "SELECT 42"
        )),
        "42"
    );
    // database|user|cl_active|cl_waiting|sv_active|sv_idle|sv_login|...|pool_mode: the
    // client is gone, its connection (min_pool_size 1) stays in the pool.
    let pools = stdout(&psql(
        proxy.port,
        "alice",
        "wonderland",
        "pgscram",
        "SHOW POOLS",
    ));
    assert_eq!(pools, "postgres|alice|0|0|0|1|0|0|0|transaction");

    // max_client_conn = 2: two sessions held open, a third client is turned away
    // before it is asked for a password, as PostgreSQL's max_connections does.
    let hold = |n: u32| {
        let port = proxy.port;
        std::thread::spawn(move || {
            psql(
                port,
                "alice",
                "wonderland",
                "postgres",
                &format!("SELECT pg_sleep({n})"),
            )
        })
    };
    let holders = [hold(3), hold(3)];
    std::thread::sleep(Duration::from_millis(1000));
    let third = psql(proxy.port, "alice", "wonderland", "postgres", "SELECT 1");
    assert!(!third.status.success());
    let err = String::from_utf8_lossy(&third.stderr);
    assert!(err.contains("sorry, too many clients already"), "{err}");
    for holder in holders {
        stdout(&holder.join().unwrap());
    }
    std::fs::remove_dir_all(&dir).ok();
}
