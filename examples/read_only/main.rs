//! A read-only redynamo: the stock server plus one custom layer.
//!
//! ```text
//! cargo run --example read_only -- --port 6380
//! redis-cli -p 6380 SET k v     # (error) READONLY You can't write against a read only replica.
//! redis-cli -p 6380 GET k       # (nil)
//! ```
//!
//! It takes the same options as the `redynamo` binary. The layer is in
//! `layer.rs`; `tests/custom_layer.rs` tests it.

mod layer;

use redynamo::config::Config;
use redynamo::server::Server;

use layer::ReadOnlyLayer;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = Config::load()?;
    let server = Server::builder(config)
        // Sits between auth and the store, like every custom layer: it sees
        // only authenticated commands.
        .layer(ReadOnlyLayer)
        .bind()
        .await?;
    println!("read-only redynamo listening on {}", server.local_addr());
    server.serve_until_signal().await;
    Ok(())
}
