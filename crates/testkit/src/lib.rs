//! A real PostgreSQL for tests: `initdb` into a fresh temp directory, started on a free
//! port on 127.0.0.1 (and a private Unix socket directory), stopped and removed on drop.
//!
//! PostgreSQL refuses to run as root, and CI runs as root: in that case the server
//! binaries run as the `postgres` user through `runuser`, and the directory is handed to
//! that user. Binaries are found with `pg_config --bindir`, then Debian's
//! `/usr/lib/postgresql/<version>/bin`. A missing PostgreSQL fails the test with a
//! message that says how to install it: these tests must not pass by doing nothing.

#![forbid(unsafe_code)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

/// How to set up the cluster.
#[derive(Debug, Clone)]
pub struct Options {
    /// pg_hba.conf contents. The default trusts the Unix socket (for test setup) and asks
    /// TCP clients for SCRAM.
    pub hba: String,
    /// Extra `postgresql.conf` lines.
    pub conf: Vec<String>,
    /// PEM certificate and key: turns `ssl = on`.
    pub tls: Option<(String, String)>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            hba: "local all all trust\nhost all all 127.0.0.1/32 scram-sha-256\n".into(),
            conf: Vec::new(),
            tls: None,
        }
    }
}

/// A running PostgreSQL; dropped means stopped and deleted.
#[derive(Debug)]
pub struct Postgres {
    root: PathBuf,
    bindir: PathBuf,
    port: u16,
    as_postgres: bool,
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// The directory holding `initdb`, `pg_ctl`, `postgres`.
pub fn bindir() -> PathBuf {
    if let Ok(out) = Command::new("pg_config").arg("--bindir").output() {
        let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        if dir.join("initdb").exists() {
            return dir;
        }
    }
    for version in ["18", "17", "16", "15"] {
        let dir = PathBuf::from(format!("/usr/lib/postgresql/{version}/bin"));
        if dir.join("initdb").exists() {
            return dir;
        }
    }
    panic!("PostgreSQL server binaries not found: install Debian's postgresql-15 (.ci/run does)");
}

/// A free TCP port on 127.0.0.1 (free when asked; bind promptly).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("no free loopback port")
}

/// A fresh, empty directory under the system temp dir.
pub fn temp_dir(label: &str) -> PathBuf {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!(
        "pgscram-{label}-{}-{n}-{nanos}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).expect("create temp dir");
    dir
}

fn running_as_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

impl Postgres {
    /// Starts a cluster with default options.
    pub fn start() -> Self {
        Self::start_with(Options::default())
    }

    pub fn start_with(options: Options) -> Self {
        let bindir = bindir();
        let root = temp_dir("pg");
        let as_postgres = running_as_root();
        std::fs::create_dir_all(root.join("sock")).expect("socket dir");
        if as_postgres {
            chown_postgres(&root);
        }
        let pg = Postgres {
            root,
            bindir,
            port: free_port(),
            as_postgres,
        };
        pg.run_checked(
            "initdb",
            &[
                "-D",
                pg.data().to_str().unwrap_or_default(),
                "-U",
                "postgres",
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
                "--no-sync",
                "-E",
                "UTF8",
                "--locale=C",
            ],
        );
        let mut conf = vec![
            format!("port = {}", pg.port),
            "listen_addresses = '127.0.0.1'".into(),
            format!("unix_socket_directories = '{}'", pg.socket_dir().display()),
            "fsync = off".into(),
            "log_connections = on".into(),
        ];
        if let Some((cert, key)) = &options.tls {
            pg.write_file("server.crt", cert, 0o644);
            pg.write_file("server.key", key, 0o600);
            conf.push("ssl = on".into());
        }
        conf.extend(options.conf.iter().cloned());
        let mut existing =
            std::fs::read_to_string(pg.data().join("postgresql.conf")).unwrap_or_default();
        existing.push('\n');
        existing.push_str(&conf.join("\n"));
        existing.push('\n');
        pg.write_file("postgresql.conf", &existing, 0o600);
        pg.write_file("pg_hba.conf", &options.hba, 0o600);
        let log = pg.root.join("server.log");
        pg.run_checked(
            "pg_ctl",
            &[
                "-D",
                pg.data().to_str().unwrap_or_default(),
                "-l",
                log.to_str().unwrap_or_default(),
                "-w",
                "-t",
                "60",
                "start",
            ],
        );
        pg
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn host(&self) -> &'static str {
        "127.0.0.1"
    }

    pub fn data(&self) -> PathBuf {
        self.root.join("data")
    }

    pub fn socket_dir(&self) -> PathBuf {
        self.root.join("sock")
    }

    /// The server log so far (for assertions on what PostgreSQL logged).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.root.join("server.log")).unwrap_or_default()
    }

    /// Runs SQL as the superuser over the trusted Unix socket; returns unaligned,
    /// tuples-only output. Panics with psql's error on failure.
    pub fn sql(&self, sql: &str) -> String {
        let out = Command::new(self.bindir.join("psql"))
            .args([
                "-X",
                "-A",
                "-t",
                "-q",
                "-v",
                "ON_ERROR_STOP=1",
                "-d",
                "postgres",
                "-U",
                "postgres",
            ])
            .arg("-h")
            .arg(self.socket_dir())
            .arg("-p")
            .arg(self.port.to_string())
            .arg("-c")
            .arg(sql)
            .output()
            .expect("run psql");
        assert!(
            out.status.success(),
            "psql failed for {sql:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim_end().to_owned()
    }

    /// Connects with psql over TCP as `user` with `password` (given through the
    /// environment, never argv) and runs `sql`. `conninfo_extra` is appended to the
    /// connection string (e.g. `sslmode=require channel_binding=require`).
    pub fn psql_tcp(&self, user: &str, password: &str, conninfo_extra: &str, sql: &str) -> Output {
        let conninfo = format!(
            "host=127.0.0.1 port={} user={user} dbname=postgres connect_timeout=10 {conninfo_extra}",
            self.port
        );
        Command::new(self.bindir.join("psql"))
            .args(["-X", "-A", "-t", "-q", "-v", "ON_ERROR_STOP=1"])
            .arg(conninfo)
            .arg("-c")
            .arg(sql)
            .env("PGPASSWORD", password)
            .env_remove("PGSERVICE")
            .stdin(Stdio::null())
            .output()
            .expect("run psql")
    }

    /// Replaces pg_hba.conf and reloads.
    pub fn set_hba(&self, hba: &str) {
        self.write_file("pg_hba.conf", hba, 0o600);
        self.sql("SELECT pg_reload_conf()");
    }

    /// Restarts the cluster (fast shutdown: sessions are cut, as in a real restart).
    pub fn restart(&self) {
        let log = self.root.join("server.log");
        self.run_checked(
            "pg_ctl",
            &[
                "-D",
                self.data().to_str().unwrap_or_default(),
                "-l",
                log.to_str().unwrap_or_default(),
                "-m",
                "fast",
                "-w",
                "-t",
                "60",
                "restart",
            ],
        );
    }

    fn write_file(&self, name: &str, contents: &str, mode: u32) {
        use std::os::unix::fs::PermissionsExt;
        let path = self.data().join(name);
        std::fs::write(&path, contents).expect("write cluster file");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).expect("chmod");
        if self.as_postgres {
            chown_postgres(&path);
        }
    }

    fn command(&self, program: &str) -> Command {
        let binary = self.bindir.join(program);
        if self.as_postgres {
            let mut cmd = Command::new("runuser");
            cmd.args(["-u", "postgres", "--"]).arg(binary);
            cmd
        } else {
            Command::new(binary)
        }
    }

    fn run_checked(&self, program: &str, args: &[&str]) {
        let out = self
            .command(program)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("run PostgreSQL tool");
        assert!(
            out.status.success(),
            "{program} failed: {}\n{}\n{}",
            String::from_utf8_lossy(&out.stderr),
            String::from_utf8_lossy(&out.stdout),
            self.log()
        );
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let data = self.data();
        let _ = self
            .command("pg_ctl")
            .args([
                "-D",
                data.to_str().unwrap_or_default(),
                "-m",
                "immediate",
                "-w",
                "stop",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

fn chown_postgres(path: &Path) {
    let status = Command::new("chown")
        .args(["-R", "postgres:postgres"])
        .arg(path)
        .status();
    assert!(
        matches!(status, Ok(s) if s.success()),
        "chown {} to postgres failed",
        path.display()
    );
}

/// A self-signed certificate for `localhost`/127.0.0.1 made by the `openssl` tool, as
/// (certificate PEM, key PEM). `key_args` picks the algorithm, e.g.
/// `["-newkey", "rsa:2048"]` or `["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"]`.
pub fn self_signed_cert(key_args: &[&str], digest: &str) -> (String, String) {
    let dir = temp_dir("cert");
    let (cert, key) = (dir.join("c.pem"), dir.join("k.pem"));
    let out = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=localhost",
        ])
        .args(key_args)
        .arg(format!("-{digest}"))
        .args(["-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("run openssl");
    assert!(
        out.status.success(),
        "openssl req failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let pair = (
        std::fs::read_to_string(&cert).expect("read cert"),
        std::fs::read_to_string(&key).expect("read key"),
    );
    let _ = std::fs::remove_dir_all(dir);
    pair
}
