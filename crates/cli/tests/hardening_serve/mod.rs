//! The real `pgscram serve` process for the hardening tests: every byte it writes to
//! standard output and standard error is kept, so a test can search all of it.
#![allow(dead_code)]

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

pub const SUPERUSER_PASSWORD: &str = "Super-Secret-Pw0";

pub struct Serve {
    pub child: Child,
    pub port: u16,
    pub dir: PathBuf,
    pub stderr: Arc<Mutex<Vec<u8>>>,
    pub stdout: Arc<Mutex<Vec<u8>>>,
    readers: Vec<JoinHandle<()>>,
}

fn capture(
    mut from: impl std::io::Read + Send + 'static,
    into: Arc<Mutex<Vec<u8>>>,
) -> JoinHandle<()> {
    std::thread::spawn(move || {
        let mut chunk = [0u8; 4096];
        loop {
            match from.read(&mut chunk) {
                Ok(0) | Err(_) => return,
                Ok(n) => into.lock().unwrap().extend_from_slice(&chunk[..n]),
            }
        }
    })
}

impl Serve {
    /// Starts `pgscram serve` on a free port in `dir` (made if missing) with `extra`
    /// arguments, and waits for it to be ready.
    pub fn start(dir: &Path, extra: &[&str]) -> Serve {
        std::fs::create_dir_all(dir).unwrap();
        let port = pgscram_testkit::free_port();
        let mut child = Command::new(env!("CARGO_BIN_EXE_pgscram"))
            .args([
                "serve",
                "--port",
                &port.to_string(),
                "--no-unix-socket",
                "--data-dir",
            ])
            .arg(dir)
            .args(extra)
            .env("PGSCRAM_PASSWORD", SUPERUSER_PASSWORD)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let stdout = Arc::new(Mutex::new(Vec::new()));
        let readers = vec![
            capture(child.stderr.take().unwrap(), stderr.clone()),
            capture(child.stdout.take().unwrap(), stdout.clone()),
        ];
        let serve = Serve {
            child,
            port,
            dir: dir.to_owned(),
            stderr,
            stdout,
            readers,
        };
        serve.wait_for_log("listening on IPv4");
        serve
    }

    pub fn log(&self) -> String {
        String::from_utf8_lossy(&self.stderr.lock().unwrap()).into_owned()
    }

    pub fn wait_for_log(&self, needle: &str) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while !self.log().contains(needle) {
            assert!(
                Instant::now() < deadline,
                "no {needle:?} in:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn addr(&self) -> std::net::SocketAddr {
        std::net::SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    pub fn conninfo(&self, user: &str) -> String {
        format!(
            "host=127.0.0.1 port={} user={user} dbname=postgres sslmode=disable connect_timeout=10",
            self.port
        )
    }

    /// psql -c `sql` as `user` with `password`.
    pub fn psql(&self, user: &str, password: &str, sql: &str) -> Output {
        Command::new(pgscram_testkit::bindir().join("psql"))
            .args(["-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", sql])
            .arg(self.conninfo(user))
            .env("PGPASSWORD", password)
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILL: no shutdown code runs.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        for reader in self.readers.drain(..) {
            let _ = reader.join();
        }
    }

    /// Everything the process wrote, once it has been killed.
    pub fn output_bytes(&self) -> Vec<u8> {
        let mut all = self.stderr.lock().unwrap().clone();
        all.extend_from_slice(&self.stdout.lock().unwrap());
        all
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Reads a whole file, or nothing.
pub fn read_all(path: &Path) -> Vec<u8> {
    let mut out = Vec::new();
    if let Ok(mut f) = std::fs::File::open(path) {
        let _ = f.read_to_end(&mut out);
    }
    out
}

/// Standard base64 with padding (for searching logs for keys).
pub fn b64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &b)| n | u32::from(b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[test]
fn b64_matches_rfc_4648() {
    assert_eq!(b64(b""), "");
    assert_eq!(b64(b"f"), "Zg==");
    assert_eq!(b64(b"fo"), "Zm8=");
    assert_eq!(b64(b"foobar"), "Zm9vYmFy");
}
