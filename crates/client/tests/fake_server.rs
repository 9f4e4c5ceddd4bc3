//! Hostile servers, written as raw bytes on a loopback listener: the client must refuse
//! each of them, and quickly.

use std::time::{Duration, Instant};

use pgscram_auth::client_policy::PolicyError;
use pgscram_client::tls::TlsError;
use pgscram_client::{Error, connect};
use pgscram_scram::ClientError;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};

/// An `R` message: code and data.
fn auth(code: u32, data: &[u8]) -> Vec<u8> {
    let mut out = vec![b'R'];
    out.extend_from_slice(&(8 + data.len() as u32).to_be_bytes());
    out.extend_from_slice(&code.to_be_bytes());
    out.extend_from_slice(data);
    out
}

/// Reads the startup packet (length-prefixed, untagged).
async fn read_startup(socket: &mut TcpStream) -> Vec<u8> {
    let mut len = [0u8; 4];
    socket.read_exact(&mut len).await.unwrap();
    let mut body = vec![0u8; u32::from_be_bytes(len) as usize - 4];
    socket.read_exact(&mut body).await.unwrap();
    body
}

/// Reads one tagged message; `None` on EOF.
async fn read_message(socket: &mut TcpStream) -> Option<(u8, Vec<u8>)> {
    let mut head = [0u8; 5];
    socket.read_exact(&mut head).await.ok()?;
    let len = u32::from_be_bytes([head[1], head[2], head[3], head[4]]) as usize;
    let mut body = vec![0u8; len - 4];
    socket.read_exact(&mut body).await.ok()?;
    Some((head[0], body))
}

/// The client nonce from a SASLInitialResponse body.
fn client_nonce(initial: &[u8]) -> String {
    let text = String::from_utf8_lossy(initial);
    let start = text.find("r=").unwrap() + 2;
    text[start..].trim_end_matches('\0').to_owned()
}

/// Starts a one-connection server running `script`; returns the conninfo to reach it.
async fn fake<F, Fut>(script: F) -> (String, tokio::task::JoinHandle<()>)
where
    F: FnOnce(TcpStream) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let task = tokio::spawn(async move {
        let (socket, _) = listener.accept().await.unwrap();
        script(socket).await;
    });
    let conninfo = format!(
        "host=127.0.0.1 port={port} user=alice dbname=postgres password=pw sslmode=disable connect_timeout=10"
    );
    (conninfo, task)
}

const SASL_OFFER: &[u8] = b"SCRAM-SHA-256\0\0";

#[tokio::test]
async fn regression_authentication_ok_right_after_sasl_started() {
    let (conninfo, server) = fake(|mut socket| async move {
        read_startup(&mut socket).await;
        socket.write_all(&auth(10, SASL_OFFER)).await.unwrap();
        let (tag, _) = read_message(&mut socket).await.unwrap();
        assert_eq!(tag, b'p');
        // No SASLContinue, no proof of anything: just "you're in".
        let mut ok = auth(0, &[]);
        ok.extend_from_slice(b"Z\0\0\0\x05I");
        socket.write_all(&ok).await.unwrap();
        assert!(
            read_message(&mut socket).await.is_none(),
            "client kept talking"
        );
    })
    .await;
    let error = connect(&conninfo).await.unwrap_err();
    server.await.unwrap();
    assert!(
        matches!(error, Error::Policy(PolicyError::OkBeforeSaslCompleted)),
        "{error}"
    );
}

#[tokio::test]
async fn regression_authentication_ok_instead_of_sasl_final() {
    let (conninfo, server) = fake(|mut socket| async move {
        read_startup(&mut socket).await;
        socket.write_all(&auth(10, SASL_OFFER)).await.unwrap();
        let (_, initial) = read_message(&mut socket).await.unwrap();
        let nonce = client_nonce(&initial);
        let first = format!("r={nonce}server,s=c2FsdHNhbHRzYWx0c2FsdA==,i=4096");
        socket.write_all(&auth(11, first.as_bytes())).await.unwrap();
        let (tag, _) = read_message(&mut socket).await.unwrap();
        assert_eq!(tag, b'p');
        // The server cannot compute v= (it does not know the verifier): skips it.
        socket.write_all(&auth(0, &[])).await.unwrap();
        assert!(read_message(&mut socket).await.is_none());
    })
    .await;
    let error = connect(&conninfo).await.unwrap_err();
    server.await.unwrap();
    assert!(
        matches!(error, Error::Policy(PolicyError::OkBeforeSaslCompleted)),
        "{error}"
    );
}

#[tokio::test]
async fn regression_hostile_iteration_count() {
    let (conninfo, server) = fake(|mut socket| async move {
        read_startup(&mut socket).await;
        socket.write_all(&auth(10, SASL_OFFER)).await.unwrap();
        let (_, initial) = read_message(&mut socket).await.unwrap();
        let nonce = client_nonce(&initial);
        let first = format!("r={nonce}server,s=c2FsdHNhbHRzYWx0c2FsdA==,i=4000000000");
        socket.write_all(&auth(11, first.as_bytes())).await.unwrap();
        assert!(
            read_message(&mut socket).await.is_none(),
            "client answered after a hostile iteration count"
        );
    })
    .await;
    let started = Instant::now();
    let error = connect(&conninfo).await.unwrap_err();
    server.await.unwrap();
    assert!(
        matches!(
            error,
            Error::Scram(ClientError::IterationCountTooHigh {
                requested: 4_000_000_000,
                ..
            })
        ),
        "{error}"
    );
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn regression_iteration_count_zero() {
    let (conninfo, server) = fake(|mut socket| async move {
        read_startup(&mut socket).await;
        socket.write_all(&auth(10, SASL_OFFER)).await.unwrap();
        let (_, initial) = read_message(&mut socket).await.unwrap();
        let nonce = client_nonce(&initial);
        let first = format!("r={nonce}server,s=c2FsdA==,i=0");
        socket.write_all(&auth(11, first.as_bytes())).await.unwrap();
        let _ = read_message(&mut socket).await;
    })
    .await;
    let error = connect(&conninfo).await.unwrap_err();
    server.await.unwrap();
    assert_eq!(
        error.to_string(),
        "malformed SCRAM message (invalid iteration count)"
    );
}

#[tokio::test]
async fn plus_offered_without_tls_is_refused() {
    let (conninfo, server) = fake(|mut socket| async move {
        read_startup(&mut socket).await;
        socket
            .write_all(&auth(10, b"SCRAM-SHA-256-PLUS\0SCRAM-SHA-256\0\0"))
            .await
            .unwrap();
        assert!(read_message(&mut socket).await.is_none());
    })
    .await;
    let error = connect(&conninfo).await.unwrap_err();
    server.await.unwrap();
    assert_eq!(
        error.to_string(),
        "server offered SCRAM-SHA-256-PLUS authentication over a non-SSL connection"
    );
}

#[tokio::test]
async fn regression_unencrypted_bytes_after_ssl_accept() {
    let (conninfo, server) = fake(|mut socket| async move {
        let mut request = [0u8; 8];
        socket.read_exact(&mut request).await.unwrap();
        assert_eq!(request, [0, 0, 0, 8, 4, 210, 22, 47]);
        // 'S' and, in the same segment, bytes that TLS would never protect.
        socket.write_all(b"SR\0\0\0\x08\0\0\0\0").await.unwrap();
        tokio::time::sleep(Duration::from_millis(200)).await;
    })
    .await;
    let error = connect(&conninfo.replace("sslmode=disable", "sslmode=require"))
        .await
        .unwrap_err();
    server.await.unwrap();
    assert!(
        matches!(error, Error::Tls(TlsError::UnencryptedData)),
        "{error}"
    );
}

#[tokio::test]
async fn regression_error_before_tls_is_not_shown() {
    let (conninfo, server) = fake(|mut socket| async move {
        let mut request = [0u8; 8];
        socket.read_exact(&mut request).await.unwrap();
        // A man in the middle answers the SSLRequest with an error text.
        socket
            .write_all(b"E\0\0\0\x20SFATAL\0Mplease type password\0\0")
            .await
            .unwrap();
    })
    .await;
    let error = connect(&conninfo.replace("sslmode=disable", "sslmode=require"))
        .await
        .unwrap_err();
    server.await.unwrap();
    assert_eq!(
        error.to_string(),
        "received invalid response to SSL negotiation: E"
    );
}

#[tokio::test]
async fn closed_connection_during_authentication() {
    let (conninfo, server) = fake(|mut socket| async move {
        read_startup(&mut socket).await;
    })
    .await;
    let error = connect(&conninfo).await.unwrap_err();
    server.await.unwrap();
    assert!(matches!(error, Error::Closed), "{error}");
}

#[tokio::test]
async fn oversized_message_is_refused_before_buffering() {
    let (conninfo, server) = fake(|mut socket| async move {
        read_startup(&mut socket).await;
        // An 'R' announcing a gigabyte.
        socket.write_all(b"R\x40\0\0\0\0\0\0\x0a").await.unwrap();
        let _ = read_message(&mut socket).await;
    })
    .await;
    let error = connect(&conninfo).await.unwrap_err();
    server.await.unwrap();
    assert!(matches!(error, Error::Protocol(_)), "{error}");
}

#[tokio::test]
async fn connect_timeout_applies() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = tokio::spawn(async move {
        // Accept and say nothing.
        let (_socket, _) = listener.accept().await.unwrap();
        tokio::time::sleep(Duration::from_secs(5)).await;
    });
    let started = Instant::now();
    let error = connect(&format!(
        "host=127.0.0.1 port={port} user=alice dbname=postgres sslmode=disable connect_timeout=2"
    ))
    .await
    .unwrap_err();
    assert!(matches!(error, Error::Timeout), "{error}");
    assert!(started.elapsed() < Duration::from_secs(4));
    server.abort();
}
