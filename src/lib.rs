//! redynamo: a Redis-compatible server whose request path is a tower stack.
//!
//! ```text
//! TCP ─► RespCodec ─► Connection (session) ─► tower stack ─► leaf store
//! ```
//!
//! - [`protocol`]: the RESP2/RESP3 and inline codec.
//! - [`connection`]: one task per client: read, decode, pipeline, write.
//! - [`session`]: a client's session state and the session commands.
//! - [`stack`]: the tower stack, built in one function.
//! - [`admin`]: INFO, CONFIG, COMMAND and friends.
//! - [`store`]: the leaf stores (in-memory by default).
//! - [`scripting`]: Lua scripts and functions (EVAL, FCALL), run by a store.
//! - [`healthcheck`]: `redynamo --check ADDR`, the container image's health
//!   check.
//! - [`server`]: listening, `maxclients`, graceful shutdown, the builder API
//!   through which a library user inserts a custom layer:
//!
//! ```no_run
//! # async fn run() -> std::io::Result<()> {
//! use redynamo::{config::Config, server::Server};
//! use tower::layer::layer_fn;
//! # #[derive(Clone)] struct Passthrough<S>(S);
//! # impl<S: tower::Service<redynamo_layers::Request>> tower::Service<redynamo_layers::Request> for Passthrough<S> {
//! #   type Response = S::Response; type Error = S::Error; type Future = S::Future;
//! #   fn poll_ready(&mut self, cx: &mut std::task::Context<'_>) -> std::task::Poll<Result<(), S::Error>> { self.0.poll_ready(cx) }
//! #   fn call(&mut self, r: redynamo_layers::Request) -> S::Future { self.0.call(r) }
//! # }
//! let server = Server::builder(Config::for_tests())
//!     .layer(layer_fn(Passthrough))
//!     .bind()
//!     .await?;
//! server.serve_until_signal().await;
//! # Ok(()) }
//! ```

#![forbid(unsafe_code)]

pub mod admin;
pub mod commands;
pub mod config;
pub mod connection;
pub mod follower;
pub mod healthcheck;
pub mod protocol;
pub mod scripting;
pub mod server;
pub mod session;
pub mod stack;
pub mod store;
pub mod telemetry;
pub mod util;

pub use redynamo_layers as layers;
