//! tokio-postgres, a real Rust driver, against `serve`: SCRAM-SHA-256-PLUS with
//! channel_binding=require over rustls, binary-format results, and plain SCRAM.

mod support;

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use pgscram_server::MemoryStore;
use rustls::pki_types::ServerName;
use support::{TestServer, accept_any_config, scram_role};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_postgres::tls::{ChannelBinding, MakeTlsConnect, TlsConnect, TlsStream};

#[derive(Clone)]
struct Rustls(tokio_rustls::TlsConnector);

impl Rustls {
    fn new() -> Self {
        Rustls(tokio_rustls::TlsConnector::from(accept_any_config()))
    }
}

struct Stream<S>(tokio_rustls::client::TlsStream<S>);

impl<S: AsyncRead + AsyncWrite + Unpin> TlsStream for Stream<S> {
    fn channel_binding(&self) -> ChannelBinding {
        let leaf = self
            .0
            .get_ref()
            .1
            .peer_certificates()
            .and_then(|c| c.first());
        match leaf.map(|c| pgscram_scram::channel_binding::tls_server_end_point(c)) {
            Some(Ok(hash)) => ChannelBinding::tls_server_end_point(hash),
            _ => ChannelBinding::none(),
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for Stream<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for Stream<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin + Send + 'static> MakeTlsConnect<S> for Rustls {
    type Stream = Stream<S>;
    type TlsConnect = Rustls;
    type Error = io::Error;
    fn make_tls_connect(&mut self, _domain: &str) -> io::Result<Rustls> {
        Ok(self.clone())
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin + Send + 'static> TlsConnect<S> for Rustls {
    type Stream = Stream<S>;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = io::Result<Stream<S>>> + Send>>;
    fn connect(self, stream: S) -> Self::Future {
        Box::pin(async move {
            let name = ServerName::try_from("localhost").map_err(io::Error::other)?;
            Ok(Stream(self.0.connect(name, stream).await?))
        })
    }
}

fn server() -> TestServer {
    let store = MemoryStore::new();
    store.insert("alice", scram_role("wonderland"));
    TestServer::start("host all all 127.0.0.1/32 scram-sha-256\n", store)
}

fn block_on<F: Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(future)
}

#[test]
fn channel_binding_required_over_tls() {
    let server = server();
    block_on(channel_binding_client(server.addr.port()));
}

async fn channel_binding_client(port: u16) {
    let conninfo = format!(
        "host=127.0.0.1 port={port} user=alice password=wonderland dbname=postgres sslmode=require channel_binding=require"
    );
    let (client, connection) = tokio_postgres::connect(&conninfo, Rustls::new())
        .await
        .expect("PLUS login");
    tokio::spawn(connection);
    // Binary-format results through the extended protocol.
    let rows = client.query("SELECT current_user", &[]).await.unwrap();
    assert_eq!(rows[0].get::<_, String>(0), "alice");
    let rows = client.simple_query("SELECT 1").await.unwrap();
    assert!(!rows.is_empty());
}

#[test]
fn wrong_password_is_28p01() {
    let server = server();
    let conninfo = format!(
        "host=127.0.0.1 port={} user=alice password=nope dbname=postgres sslmode=disable",
        server.addr.port()
    );
    let error = block_on(tokio_postgres::connect(&conninfo, tokio_postgres::NoTls))
        .err()
        .expect("login must fail");
    let db = error.as_db_error().expect("a server error");
    assert_eq!(db.code().code(), "28P01");
    assert_eq!(
        db.message(),
        "password authentication failed for user \"alice\""
    );
}
