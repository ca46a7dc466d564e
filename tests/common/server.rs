//! [`TestServer`]: one in-process redynamo on 127.0.0.1 port 0, over any
//! [`Backend`], with any `Config` and custom layers.
//!
//! ```ignore
//! let server = TestServer::start().await;                         // memory, test defaults
//! let server = TestServer::with_config(metrics_config()).await;   // + /metrics on port 0
//! let server = TestServer::with_builder(config, |b| b.layer(MyLayer)).await;
//! let server = TestServer::on(&Backend::dynamo()?).await;        // DynamoDB on moto
//! ```

use std::net::SocketAddr;
use std::sync::Arc;

use redynamo::config::Config;
use redynamo::server::state::ServerState;
use redynamo::server::{Server, ServerBuilder};
use redynamo::store::dynamo::{DynamoConfig, DynamoStore};
use tokio::task::JoinHandle;

use super::dynamo::{sdk_config, Backend};
use super::raw::RawClient;
use super::PATIENCE;

/// An in-process server on a free port; its shutdown token is cancelled
/// (and its task aborted) when dropped.
pub struct TestServer {
    addr: SocketAddr,
    /// The `/metrics` listener, when the config asked for one.
    metrics: Option<SocketAddr>,
    state: Arc<ServerState>,
    task: Option<JoinHandle<()>>,
}

/// `Config::for_tests()` with `/metrics` on 127.0.0.1 port 0.
pub fn metrics_config() -> Config {
    let mut config = Config::for_tests();
    config.metrics_addr = Some("127.0.0.1:0".parse().expect("address"));
    config
}

impl TestServer {
    /// A server over memory with the test defaults (`Config::for_tests()`).
    pub async fn start() -> TestServer {
        TestServer::with_config(Config::for_tests()).await
    }

    /// A server whose store measures expiry against `clock` (a manual one:
    /// the test advances time instead of sleeping on it).
    pub async fn with_clock(clock: redynamo::util::clock::Clock) -> TestServer {
        TestServer::with_builder(Config::for_tests(), |b| b.clock(clock)).await
    }

    /// redynamo as a caching proxy in front of `upstream` (`--backend
    /// redis`), with `customize` applied to the test config first.
    pub async fn upstream(
        upstream: &super::tools::RedisServer,
        customize: impl FnOnce(&mut Config),
    ) -> TestServer {
        let mut config = Config::for_tests();
        config.backend = redynamo::config::BackendKind::Redis;
        config.upstream = Some(upstream.url());
        customize(&mut config);
        TestServer::with_config(config).await
    }

    /// A server over memory with `config` (its address is forced to
    /// 127.0.0.1 port 0).
    pub async fn with_config(config: Config) -> TestServer {
        TestServer::with_builder(config, |b| b).await
    }

    /// A server over memory whose builder `customize` may add layers to.
    pub async fn with_builder(
        mut config: Config,
        customize: impl FnOnce(ServerBuilder) -> ServerBuilder,
    ) -> TestServer {
        config.port = 0;
        config.bind = [127, 0, 0, 1].into();
        let server = customize(Server::builder(config))
            .bind()
            .await
            .expect("bind a test server on a free port");
        TestServer::serve(server)
    }

    /// A server over `backend` with the test defaults; a DynamoDB table is
    /// created if missing.
    pub async fn on(backend: &Backend) -> TestServer {
        TestServer::on_with(backend, |b| b).await
    }

    /// [`TestServer::on`], with a builder `customize` may add layers to.
    pub async fn on_with(
        backend: &Backend,
        customize: impl FnOnce(ServerBuilder) -> ServerBuilder,
    ) -> TestServer {
        match backend {
            Backend::Memory => TestServer::with_builder(Config::for_tests(), customize).await,
            Backend::Dynamo {
                endpoint,
                table,
                args,
            } => {
                let mut args = args.clone();
                args.push("--create-table".into());
                TestServer::try_dynamo_with(endpoint, table, &args, customize)
                    .await
                    .expect("start redynamo over DynamoDB")
            }
        }
    }

    /// A server over DynamoDB configured from command-line options (as the
    /// binary would be), with the SDK pointed at `endpoint`; the error text
    /// when the options or the table are refused.
    pub async fn try_dynamo(
        endpoint: &str,
        table: &str,
        args: &[String],
    ) -> Result<TestServer, String> {
        TestServer::try_dynamo_with(endpoint, table, args, |b| b).await
    }

    /// [`TestServer::try_dynamo`], with a builder `customize` may add
    /// layers to.
    pub async fn try_dynamo_with(
        endpoint: &str,
        table: &str,
        args: &[String],
        customize: impl FnOnce(ServerBuilder) -> ServerBuilder,
    ) -> Result<TestServer, String> {
        let mut argv: Vec<String> = [
            "redynamo",
            "--port",
            "0",
            "--backend",
            "dynamodb",
            "--table",
            table,
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        argv.extend(args.iter().cloned());
        let config = Config::load_from(argv).map_err(|e| e.to_string())?;
        let dynamo = DynamoConfig::from_config(&config);
        let sdk = sdk_config(endpoint, &dynamo).await;
        let store = DynamoStore::with_sdk_config(&sdk, dynamo)
            .await
            .map_err(|e| e.to_string())?;
        let server = customize(Server::builder(config))
            .bind_with(store)
            .await
            .map_err(|e| e.to_string())?;
        Ok(TestServer::serve(server))
    }

    fn serve(server: Server) -> TestServer {
        let addr = server.local_addr();
        let metrics = server.metrics_addr();
        let state = server.state();
        let task = tokio::spawn(server.serve());
        TestServer {
            addr,
            metrics,
            state,
            task: Some(task),
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// The `/metrics` listener's address; panics unless the config set
    /// `metrics_addr` (see [`metrics_config`]).
    pub fn metrics_addr(&self) -> SocketAddr {
        self.metrics
            .expect("the server has a /metrics listener (use metrics_config())")
    }

    pub fn state(&self) -> &Arc<ServerState> {
        &self.state
    }

    /// `redis://127.0.0.1:PORT/`.
    pub fn url(&self) -> String {
        format!("redis://{}/", self.addr)
    }

    /// A `redis` crate connection (its own TCP connection).
    pub async fn conn(&self) -> redis::aio::MultiplexedConnection {
        connect_url(&self.url()).await
    }

    /// A `redis` crate connection that authenticates as `default`.
    pub async fn conn_with_password(&self, password: &str) -> redis::aio::MultiplexedConnection {
        connect_url(&format!("redis://:{password}@{}/", self.addr)).await
    }

    /// A raw TCP client.
    pub async fn raw(&self) -> RawClient {
        RawClient::connect(self.addr).await
    }

    /// Cancel the shutdown token without waiting (the server drains in the
    /// background).
    pub fn shutdown(&self) {
        self.state.shutdown.cancel();
    }

    /// Cancel the shutdown token and wait until the server has finished.
    pub async fn stop(mut self) {
        self.shutdown();
        let limit = PATIENCE + std::time::Duration::from_secs(5);
        tokio::time::timeout(limit, self.serving())
            .await
            .expect("server stops within its shutdown timeout")
            .expect("server task did not panic");
    }

    /// The task running `serve()`, finished once the server has stopped:
    /// await it (with a timeout) after a shutdown begun elsewhere.
    pub fn serving(&mut self) -> &mut JoinHandle<()> {
        self.task
            .as_mut()
            .expect("the server task is kept until drop")
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.state.shutdown.cancel();
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// A `redis` crate connection to `url`, within [`PATIENCE`].
pub async fn connect_url(url: &str) -> redis::aio::MultiplexedConnection {
    let client = redis::Client::open(url).expect("valid redis URL");
    tokio::time::timeout(PATIENCE, client.get_multiplexed_async_connection())
        .await
        .expect("connect within the I/O timeout")
        .expect("redis crate connects")
}

/// The text a Redis client shows for an error reply from the `redis` crate:
/// `ERR syntax error`, `EXECABORT …`. Only for kinds that keep their code.
pub fn err_text(e: &redis::RedisError) -> String {
    format!("{} {}", e.code().unwrap_or("?"), e.detail().unwrap_or(""))
}
