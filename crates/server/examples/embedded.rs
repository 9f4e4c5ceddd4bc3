//! Serving an embedded database from your own program: open (or create) a database,
//! make a first role, and serve it with PostgreSQL's authentication.
//!
//! Run: `PGSCRAM_PASSWORD=secret cargo run -p pgscram-server --example embedded`, then
//! `psql "host=127.0.0.1 port=<printed port> user=app sslmode=require"`.

use pgscram_embedded::Database;
use pgscram_server::{ServerConfig, serve_embedded};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let password =
        std::env::var("PGSCRAM_PASSWORD").map_err(|_| "set PGSCRAM_PASSWORD for the first role")?;
    let data_dir = std::env::temp_dir().join("pgscram-example");
    std::fs::create_dir_all(&data_dir)?;
    let db = Database::open(data_dir.join("example.db"))?;
    // The first role of an empty catalog becomes its superuser (stored as a SCRAM verifier).
    db.bootstrap_superuser("app", Some(&password))?;

    let config = ServerConfig {
        listen: vec!["127.0.0.1:0".parse()?],
        data_dir,
        ..ServerConfig::default()
    };
    let server = serve_embedded(config, db).await?;
    println!("listening on {:?}", server.local_addrs());
    server.run().await;
    Ok(())
}
