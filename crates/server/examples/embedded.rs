//! The five-line server: an embedded SQLite database served with PostgreSQL's
//! authentication, its own role catalog as the credential store.
//!
//! Run: `PGSCRAM_PASSWORD=secret cargo run -p pgscram-server --example embedded`, then
//! `psql "host=127.0.0.1 port=5433 user=app sslmode=require"` (password: secret).
//! Stop it with Ctrl-C.

use pgscram_embedded::Database;
use pgscram_server::Server;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let db = Database::open(std::env::temp_dir().join("pgscram-example.db"))?;
    // The first role of an empty catalog becomes its superuser (stored as a SCRAM verifier).
    db.bootstrap_superuser("app", Some(&std::env::var("PGSCRAM_PASSWORD")?))?;
    let server = Server::builder()
        .listen("127.0.0.1:5433".parse()?)
        .embedded(db)
        .build()
        .await?;
    let handle = server.handle();
    tokio::spawn(async move { tokio::signal::ctrl_c().await.map(|()| handle.shutdown()) });
    server.run().await;
    Ok(())
}
