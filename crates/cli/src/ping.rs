//! `pgscram ping`: connect, say what was negotiated, disconnect. Exit 0, or 2 with
//! the reason.

use std::process::ExitCode;

use pgscram_client::Negotiated;

use crate::login;

pub fn run(conninfo: &str) -> anyhow::Result<ExitCode> {
    let mut config = login::config(conninfo)?;
    login::block_on(async {
        let connection = login::connect(&mut config).await?;
        let version = connection
            .parameter("server_version")
            .unwrap_or("unknown")
            .to_owned();
        print!("{}", report(connection.negotiated(), &version));
        connection.close().await;
        Ok(ExitCode::SUCCESS)
    })?
}

fn report(n: &Negotiated, server_version: &str) -> String {
    format!(
        "server: {} (PostgreSQL {server_version})\nuser: {}\ndatabase: {}\n{n}\n",
        n.server, n.user, n.database
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use pgscram_client::{AuthMethod, TlsInfo};

    #[test]
    fn report_names_everything_negotiated() {
        let n = Negotiated {
            method: AuthMethod::ScramSha256,
            mechanism: Some("SCRAM-SHA-256-PLUS"),
            channel_binding: true,
            server_verified: true,
            tls: Some(TlsInfo {
                version: "TLSv1.3".into(),
                cipher: "TLS13_AES_256_GCM_SHA384".into(),
            }),
            user: "alice".into(),
            database: "postgres".into(),
            server: "127.0.0.1:5432".into(),
        };
        let text = report(&n, "15.18");
        assert_eq!(
            text,
            "server: 127.0.0.1:5432 (PostgreSQL 15.18)\nuser: alice\ndatabase: postgres\n\
             authentication: scram-sha-256 (SCRAM-SHA-256-PLUS)\n\
             channel binding: tls-server-end-point\n\
             server signature: verified\n\
             tls: TLSv1.3 TLS13_AES_256_GCM_SHA384\n"
        );
    }
}
