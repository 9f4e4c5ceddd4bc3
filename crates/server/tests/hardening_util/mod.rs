//! Raw-socket helpers for the hardening tests: a SCRAM login written out by hand so a
//! test can pick the client address, see every message, know the proof it sent and
//! time each step. Shared with crates/cli/tests through `#[path]`.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use pgscram_scram::{ClientChannel, ClientExchange, ClientOptions, Credential, Nonce};
use pgscram_wire::{Authentication, BackendMessage, StartupMessage, StartupRequest};
use zeroize::Zeroizing;

/// What one login attempt saw.
#[derive(Debug, Default)]
pub struct Login {
    pub messages: Vec<BackendMessage>,
    /// server-first-message (salt, iterations, nonce).
    pub server_first: Option<String>,
    /// The client-final-message sent, proof included.
    pub client_final: Option<String>,
    /// Time from sending client-final to the server's answer (or its close).
    pub final_wait: Duration,
    /// Time of the whole attempt.
    pub total: Duration,
    pub ok: bool,
}

impl Login {
    /// `CODE message` of the first ErrorResponse, if any.
    pub fn error(&self) -> Option<String> {
        self.messages.iter().find_map(|m| match m {
            BackendMessage::ErrorResponse(e) => Some(format!("{} {}", e.code, e.message)),
            _ => None,
        })
    }

    /// `s=` of server-first.
    pub fn salt(&self) -> Option<String> {
        attribute(self.server_first.as_deref()?, 's')
    }

    /// `i=` of server-first.
    pub fn iterations(&self) -> Option<String> {
        attribute(self.server_first.as_deref()?, 'i')
    }

    /// `p=` of client-final.
    pub fn proof(&self) -> Option<String> {
        attribute(self.client_final.as_deref()?, 'p')
    }

    /// The message kinds in order, for comparing two attempts' shapes.
    pub fn shape(&self) -> Vec<String> {
        self.messages
            .iter()
            .map(|m| match m {
                BackendMessage::Authentication(Authentication::Sasl { mechanisms }) => {
                    format!("SASL {mechanisms:?}")
                }
                BackendMessage::Authentication(Authentication::SaslContinue(_)) => {
                    "SASLContinue".into()
                }
                BackendMessage::Authentication(Authentication::SaslFinal(_)) => "SASLFinal".into(),
                BackendMessage::Authentication(Authentication::Ok) => "AuthenticationOk".into(),
                BackendMessage::ErrorResponse(e) => {
                    format!("Error {:?} {} {}", e.severity, e.code, e.message)
                }
                other => format!("{:?}", std::mem::discriminant(other)),
            })
            .collect()
    }
}

pub fn attribute(message: &str, name: char) -> Option<String> {
    message
        .split(',')
        .find_map(|part| part.strip_prefix(&format!("{name}=")))
        .map(str::to_owned)
}

pub fn startup(user: &str) -> Vec<u8> {
    let mut out = Vec::new();
    StartupRequest::Startup(StartupMessage::new(user).with("database", "postgres"))
        .encode(&mut out)
        .unwrap();
    out
}

fn sasl_initial(mechanism: &str, data: &[u8]) -> Vec<u8> {
    let mut body = mechanism.as_bytes().to_vec();
    body.push(0);
    body.extend_from_slice(&(data.len() as i32).to_be_bytes());
    body.extend_from_slice(data);
    frame(b'p', &body)
}

pub fn frame(tag: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    out.extend_from_slice(&((body.len() + 4) as u32).to_be_bytes());
    out.extend_from_slice(body);
    out
}

/// Reads backend messages until one matches `until`, the server closes, or 30 s pass.
pub fn read_until(
    stream: &mut TcpStream,
    buf: &mut Vec<u8>,
    until: impl Fn(&BackendMessage) -> bool,
) -> Vec<BackendMessage> {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
    let mut out = Vec::new();
    loop {
        while let Ok(Some(message)) = pgscram_wire::frame::take_message(buf, 1 << 20) {
            let Ok(message) = BackendMessage::decode(&message) else {
                return out;
            };
            let stop = until(&message);
            out.push(message);
            if stop {
                return out;
            }
        }
        let mut chunk = [0u8; 4096];
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => return out,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

fn is_end(m: &BackendMessage) -> bool {
    matches!(
        m,
        BackendMessage::ErrorResponse(_) | BackendMessage::ReadyForQuery(_)
    )
}

/// A whole SCRAM-SHA-256 login without TLS on `stream`, with `nonce` as the client
/// nonce (any printable text).
pub fn scram_login(stream: &mut TcpStream, user: &str, password: &str, nonce: &str) -> Login {
    scram_login_to(stream, user, "postgres", password, nonce)
}

/// [`scram_login`] asking for `database`.
pub fn scram_login_to(
    stream: &mut TcpStream,
    user: &str,
    database: &str,
    password: &str,
    nonce: &str,
) -> Login {
    let started = Instant::now();
    let mut login = Login::default();
    let mut buf = Vec::new();
    // A server may close the socket at any point (limits): writes then fail quietly
    // and the attempt ends with what was read.
    let mut packet = Vec::new();
    StartupRequest::Startup(StartupMessage::new(user).with("database", database))
        .encode(&mut packet)
        .unwrap();
    if stream.write_all(&packet).is_err() {
        return login;
    }
    let first = read_until(stream, &mut buf, |m| {
        matches!(m, BackendMessage::Authentication(_)) || is_end(m)
    });
    let asked_sasl = matches!(
        first.last(),
        Some(BackendMessage::Authentication(Authentication::Sasl { .. }))
    );
    login.messages.extend(first);
    if !asked_sasl {
        login.total = started.elapsed();
        return login;
    }
    let (client, client_first) = ClientExchange::start(
        Credential::Password(Zeroizing::new(password.as_bytes().to_vec())),
        ClientChannel::NotSupported,
        &Nonce::from_text(nonce).unwrap(),
        ClientOptions::default(),
    );
    if stream
        .write_all(&sasl_initial("SCRAM-SHA-256", client_first.as_bytes()))
        .is_err()
    {
        return login;
    }
    let reply = read_until(stream, &mut buf, |m| {
        matches!(m, BackendMessage::Authentication(_)) || is_end(m)
    });
    let server_first = reply.iter().find_map(|m| match m {
        BackendMessage::Authentication(Authentication::SaslContinue(data)) => {
            Some(String::from_utf8_lossy(data).into_owned())
        }
        _ => None,
    });
    login.messages.extend(reply);
    let Some(server_first) = server_first else {
        login.total = started.elapsed();
        return login;
    };
    login.server_first = Some(server_first.clone());
    let (_, client_final) = client.handle_server_first(server_first.as_bytes()).unwrap();
    login.client_final = Some(client_final.clone());
    let sent = Instant::now();
    if stream
        .write_all(&frame(b'p', client_final.as_bytes()))
        .is_err()
    {
        return login;
    }
    let answer = read_until(stream, &mut buf, |m| {
        matches!(
            m,
            BackendMessage::ErrorResponse(_)
                | BackendMessage::Authentication(Authentication::SaslFinal(_))
        )
    });
    login.final_wait = sent.elapsed();
    login.ok = answer.iter().any(|m| {
        matches!(
            m,
            BackendMessage::Authentication(Authentication::SaslFinal(_))
        )
    });
    login.messages.extend(answer);
    if login.ok {
        login.messages.extend(read_until(stream, &mut buf, is_end));
    }
    login.total = started.elapsed();
    login
}

/// Connects and logs in.
pub fn login_at(addr: std::net::SocketAddr, user: &str, password: &str) -> Login {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_nodelay(true).unwrap();
    scram_login(&mut stream, user, password, "fixedclientnonce")
}

/// Resident set size of a process in KiB, from /proc.
pub fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// Every occurrence of `needle` in `haystack`.
pub fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}
