//! Listening, accepting and shutting down.
//!
//! ```no_run
//! # async fn run() -> std::io::Result<()> {
//! use redynamo::{config::Config, server::Server};
//! let server = Server::builder(Config::for_tests()).bind().await?;
//! println!("listening on {}", server.local_addr());
//! server.serve_until_signal().await;
//! # Ok(()) }
//! ```
//!
//! Shutdown is graceful: the listener closes first, every connection
//! finishes the command it is running and writes its reply, idle
//! connections close at once, and after `--shutdown-timeout` whatever is
//! still running is dropped.

pub mod clients;
pub mod monitor;
pub mod notify;
pub mod pause;
pub mod pubsub;
pub mod state;
pub mod tls;
pub mod tracking;

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use redynamo_layers::{BoxError, Reply, Request};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio_util::task::TaskTracker;
use tower::{Layer, Service};
use tracing::{debug, info, info_span, warn, Instrument};

use crate::config::{BackendKind, Config, ReadConsistency};
use crate::connection::Connection;
use crate::follower::FollowerConfig;
use crate::stack::{self, BoxLayer, Stack, StackService};
use crate::store::dynamo::DynamoStore;
use crate::store::memory::{MemoryConfig, MemoryStore};
use crate::store::upstream::UpstreamStore;
use crate::store::Backend;
use crate::telemetry::{self, Exporter};
use crate::util::clock::Clock;
use clients::ClientEntry;
use redynamo_layers::cache::{CacheConfig, SharedCache};
use redynamo_layers::metrics::Telemetry;
use state::ServerState;

/// Configures a server: settings plus any custom layers.
pub struct ServerBuilder {
    config: Config,
    layers: Vec<BoxLayer>,
    clock: Clock,
    allocator: Option<String>,
    allocator_stats: Option<state::AllocatorStats>,
}

impl ServerBuilder {
    /// The wall clock the built-in store measures expiry against: the
    /// system's by default; a [`Clock::manual`] one lets a test advance
    /// time instead of sleeping on it.
    pub fn clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// Insert a custom layer between auth and the store. Layers added first
    /// sit outermost. The layer sees every authenticated command as a
    /// [`Request`] and may answer, rewrite or refuse it.
    pub fn layer<L>(mut self, layer: L) -> Self
    where
        L: Layer<Stack> + Send + Sync + 'static,
        L::Service: Service<Request, Response = Reply> + Clone + Send + 'static,
        <L::Service as Service<Request>>::Error: Into<BoxError>,
        <L::Service as Service<Request>>::Future: Send + 'static,
    {
        self.layers.push(stack::box_layer(layer));
        self
    }

    /// Name the process's global allocator for INFO's `mem_allocator`
    /// (the binary sets its own; a library user's program picks its own
    /// allocator, so the default is Redis' name for the system one,
    /// `libc`).
    pub fn allocator(mut self, name: impl Into<String>) -> Self {
        self.allocator = Some(name.into());
        self
    }

    /// Where INFO's `used_memory` and `used_memory_peak` come from: the
    /// global allocator's own figures (the binary reads mimalloc's). Without
    /// it they are the process's RSS.
    pub fn allocator_stats(mut self, stats: state::AllocatorStats) -> Self {
        self.allocator_stats = Some(stats);
        self
    }

    /// Bind the listener and build the stack over the configured backend.
    /// Must run inside a tokio runtime.
    pub async fn bind(self) -> std::io::Result<Server> {
        if self.config.backend == BackendKind::Redis {
            let store = UpstreamStore::new(&self.config).map_err(std::io::Error::other)?;
            store.start();
            return self.bind_with(store).await;
        }
        if self.config.backend == BackendKind::DynamoDb {
            let store = DynamoStore::connect_with_clock(&self.config, self.clock.clone())
                .await
                .map_err(std::io::Error::other)?;
            return self.bind_with(store).await;
        }
        let store = MemoryStore::new(MemoryConfig {
            databases: self.config.databases,
            max_string_len: self.config.proto_max_bulk_len,
            clock: self.clock.clone(),
            ..MemoryConfig::default()
        });
        self.bind_with(store).await
    }

    /// Bind over a given backend.
    pub async fn bind_with<B: Backend>(self, backend: B) -> std::io::Result<Server> {
        let tls = tls::Tls::from_config(&self.config).map_err(std::io::Error::other)?;
        // With a TLS port, port 0 means no plain TCP, as in redis-server;
        // without one it picks a free port (tests, embedding).
        let plain = match (&tls, self.config.port) {
            (Some(_), 0) => None,
            _ => {
                let addr = SocketAddr::new(self.config.bind, self.config.port);
                Some(
                    listen(addr, self.config.tcp_backlog)
                        .map_err(|e| failed(format_args!("cannot listen on {addr}"), e))?,
                )
            }
        };
        let tls_listener = match &tls {
            Some(tls) => {
                let addr = SocketAddr::new(self.config.bind, self.config.tls_port);
                let l = listen(addr, self.config.tcp_backlog)
                    .map_err(|e| failed(format_args!("cannot listen for TLS on {addr}"), e))?;
                Some((l, tls.clone()))
            }
            None => None,
        };
        let tls_addr = match &tls_listener {
            Some((l, _)) => Some(l.local_addr()?),
            None => None,
        };
        let local_addr = match (&plain, tls_addr) {
            (Some(l), _) => l.local_addr()?,
            (None, Some(a)) => a,
            (None, None) => unreachable!("a TLS port is set when plain TCP is off"),
        };
        let (exporter, metrics_listener) = match self.config.metrics_addr {
            Some(addr) => {
                let listener = telemetry::bind(addr)
                    .await
                    .map_err(|e| failed(format_args!("cannot listen for metrics on {addr}"), e))?;
                (Some(Exporter::new()), Some(listener))
            }
            None => (None, None),
        };
        let telemetry = exporter
            .as_ref()
            .map(|e| e.telemetry.clone())
            .unwrap_or_else(Telemetry::noop);
        let stats_source = backend.clone();
        let mut state = ServerState::new(
            self.config,
            backend.name(),
            Arc::new(move || stats_source.stats()),
            telemetry,
        );
        state.allocator_stats = self.allocator_stats;
        if let Some(name) = self.allocator {
            state.allocator = name;
        }
        state.tls = tls;
        let hints = backend.hints();
        backend.set_notifier(state.notifier.clone());
        state.warm = hints.warm;
        state.durable = hints.durable;
        if let Some(report) = &hints.report {
            report.attach(&state.telemetry);
        }
        state.backend_report = hints.report;
        if let Some(scripts) = hints.scripts.clone() {
            scripts.set_threshold_ms(state.config.busy_reply_threshold);
            state.scripts = scripts;
        }
        let c = &state.config;
        // A cache pays off in front of a backend with a change feed, which
        // keeps it coherent with writes made elsewhere.
        let feed = hints
            .change_feed
            .filter(|_| c.cache_max_bytes > 0 && c.read_consistency == ReadConsistency::Eventual);
        if let Some(feed) = feed {
            let config = CacheConfig {
                max_bytes: c.cache_max_bytes,
                max_age: (c.cache_max_age_ms > 0)
                    .then(|| Duration::from_millis(c.cache_max_age_ms)),
            };
            let cache = SharedCache::new(&config, &state.telemetry);
            // The follower decides when the cache may serve: it starts off,
            // and serves once the follower is positioned and caught up.
            // It runs until every connection has drained.
            state.follower = Some(feed.follow(
                cache.clone(),
                FollowerConfig::new(Duration::from_millis(c.max_staleness_ms)),
                &state.telemetry,
                state.stopped.clone(),
            ));
            state.cache = Some(cache);
        }
        let state = Arc::new(state);
        // ACL LOG's client-info is the client's CLIENT LIST line. Weak: the
        // registry lives inside the state.
        let weak = Arc::downgrade(&state);
        state.credentials.set_client_formatter(Arc::new(
            move |info: &redynamo_layers::ClientInfo| {
                weak.upgrade()
                    .and_then(|s| s.clients.get(info.id))
                    .map(|e| e.describe())
                    .unwrap_or_default()
            },
        ));
        if state.config.aclfile.is_some() {
            crate::admin::acl::load(&state).map_err(|e| {
                std::io::Error::other(format!("Aborting startup because of ACL errors: {e}"))
            })?;
        }
        load_configured_users(&state)?;
        let metrics_addr = match (metrics_listener, exporter) {
            (Some(l), Some(exporter)) => {
                let addr = l.local_addr()?;
                tokio::spawn(telemetry::serve(l, state.clone(), exporter));
                Some(addr)
            }
            _ => None,
        };
        state
            .port
            .store(local_addr.port() as u64, Ordering::Relaxed);
        // The stack's concrete type is known only here: connections run
        // over it unboxed, and the server keeps how to start one.
        let connect = if state.config.no_metrics_layer {
            connector(stack::service_without_metrics(
                &state,
                backend,
                &self.layers,
            ))
        } else {
            connector(stack::service(&state, backend, &self.layers))
        };
        Ok(Server {
            listener: plain,
            tls_listener,
            local_addr,
            tls_addr,
            metrics_addr,
            state,
            connect,
        })
    }
}

/// What a client connected over: the connection code is the same for
/// both (`Connection` is generic over its transport).
pub enum Stream {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::server::TlsStream<TcpStream>>),
}

/// How the server starts a connection over `stack`.
fn connector<S: StackService>(stack: S) -> Connect {
    // A user layer need not be Sync: the accept loop takes its copy of
    // the stack under a lock, once per connection.
    let stack = std::sync::Mutex::new(stack);
    Arc::new(move |socket, state, entry| {
        let stack = match stack.lock() {
            Ok(stack) => stack.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        };
        match socket {
            Stream::Plain(socket) => Box::pin(Connection::new(socket, stack, state, entry).run()),
            Stream::Tls(socket) => Box::pin(Connection::new(*socket, stack, state, entry).run()),
        }
    })
}

/// Serves one accepted client over the server's stack until it leaves.
type Connect = Arc<
    dyn Fn(Stream, Arc<ServerState>, Arc<ClientEntry>) -> Pin<Box<dyn Future<Output = ()> + Send>>
        + Send
        + Sync,
>;

/// Bound on a TLS handshake, so a client that connects and says nothing
/// holds a slot only this long.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Finish a TLS client's handshake; with `--tls-auth-clients-user CN`, a
/// certificate whose CN names an enabled ACL user starts the connection
/// authenticated as that user. None: the handshake failed (no or a wrong
/// client certificate, not TLS, too slow) and the client is gone.
async fn handshake(
    socket: TcpStream,
    tls: &tls::Tls,
    state: &ServerState,
    entry: &ClientEntry,
) -> Option<Stream> {
    let accept = tls.acceptor().accept(socket);
    let stream = match tokio::time::timeout(HANDSHAKE_TIMEOUT, accept).await {
        Ok(Ok(stream)) => stream,
        Ok(Err(e)) => {
            debug!(error = %e, "TLS handshake failed");
            return None;
        }
        Err(_) => {
            debug!("TLS handshake timed out");
            return None;
        }
    };
    if tls.cn_user {
        let (_, conn) = stream.get_ref();
        let cn = conn
            .peer_certificates()
            .and_then(|certs| certs.first())
            .and_then(|cert| tls::subject_cn(cert));
        if let Some(user) = cn.and_then(|cn| state.credentials.user(&cn)) {
            if user.rules().flags.enabled {
                *entry.info.user.lock() = Some(user);
            }
        }
    }
    Some(Stream::Tls(Box::new(stream)))
}

/// A bound server, ready to serve.
pub struct Server {
    /// Plain TCP (None: `--port 0` with a TLS port).
    listener: Option<TcpListener>,
    tls_listener: Option<(TcpListener, Arc<tls::Tls>)>,
    local_addr: SocketAddr,
    tls_addr: Option<SocketAddr>,
    metrics_addr: Option<SocketAddr>,
    state: Arc<ServerState>,
    connect: Connect,
}

impl Server {
    pub fn builder(config: Config) -> ServerBuilder {
        ServerBuilder {
            config,
            layers: Vec::new(),
            clock: Clock::system(),
            allocator: None,
            allocator_stats: None,
        }
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Where TLS is served, with `--tls-port`.
    pub fn tls_addr(&self) -> Option<SocketAddr> {
        self.tls_addr
    }

    /// Where `/metrics` is served, when `--metrics-addr` is set.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_addr
    }

    /// The state shared with connections (for embedding and tests).
    pub fn state(&self) -> Arc<ServerState> {
        self.state.clone()
    }

    /// Serve until SIGINT or SIGTERM, then shut down gracefully. SIGHUP
    /// reloads the TLS certificates and keys.
    pub async fn serve_until_signal(self) {
        #[cfg(unix)]
        if let Some(tls) = self.state.tls.clone() {
            use tokio::signal::unix::{signal, SignalKind};
            if let Ok(mut hup) = signal(SignalKind::hangup()) {
                tokio::spawn(async move {
                    while hup.recv().await.is_some() {
                        match tls.reload() {
                            Ok(()) => info!("TLS certificates reloaded"),
                            Err(e) => {
                                warn!(error = %e, "TLS reload failed; the old certificates stay")
                            }
                        }
                    }
                });
            }
        }
        let state = self.state.clone();
        tokio::spawn(async move {
            wait_for_signal().await;
            info!("shutdown requested");
            state.begin_shutdown().await;
        });
        self.serve().await;
    }

    /// Serve until `state().shutdown` is cancelled.
    pub async fn serve(self) {
        let Server {
            listener,
            tls_listener,
            local_addr,
            tls_addr,
            state,
            connect,
            ..
        } = self;
        match tls_addr {
            Some(tls_addr) => info!(
                plain = listener.is_some(),
                %local_addr,
                %tls_addr,
                backend = state.backend_name,
                "redynamo ready to accept connections"
            ),
            None => {
                info!(%local_addr, backend = state.backend_name, "redynamo ready to accept connections")
            }
        }
        let tls = tls_listener.as_ref().map(|(_, tls)| tls.clone());
        let tracker = TaskTracker::new();
        // Made once: a fresh cancellation future per accept registers with
        // the token (a lock) every time, which slows a connect burst.
        let stopping = state.shutdown.clone().cancelled_owned();
        tokio::pin!(stopping);
        loop {
            let accepted = tokio::select! {
                // Shutdown first, or a steady stream of connects would
                // keep the listener open.
                biased;
                _ = &mut stopping => break,
                // Out of tokio's cooperative budget: a burst is accepted
                // until the kernel's queue is empty (redis-server accepts
                // up to 1,000 per event), not 128 at a time between turns
                // of the connections just started.
                accepted = tokio::task::unconstrained(accept(listener.as_ref())) => {
                    accepted.map(|(s, a)| (s, a, false))
                }
                accepted = tokio::task::unconstrained(accept(tls_listener.as_ref().map(|(l, _)| l))) => {
                    accepted.map(|(s, a)| (s, a, true))
                }
            };
            let (socket, addr, over_tls) = match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    // Out of file descriptors and the like: back off a
                    // little instead of spinning, keep serving the others.
                    warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            if state.clients.len() >= state.tunables.maxclients.load(Ordering::Relaxed) {
                state
                    .stats
                    .rejected_connections
                    .fetch_add(1, Ordering::Relaxed);
                tracker.spawn(reject(socket));
                continue;
            }
            // As in Redis, a connection refused for maxclients counts in
            // rejected_connections only, not in total_connections_received.
            state
                .stats
                .total_connections_received
                .fetch_add(1, Ordering::Relaxed);
            let _ = socket.set_nodelay(true);
            let fd = raw_fd(&socket);
            let laddr = socket.local_addr().ok();
            let entry = state.clients.register(Some(addr), laddr, fd);
            let clients_state = state.clone();
            let span = info_span!("client", id = entry.id(), %addr);
            let connect = connect.clone();
            let tls = if over_tls { tls.clone() } else { None };
            tracker.spawn(
                async move {
                    // Inside the span, so both lines carry the client's id
                    // and address.
                    debug!("client connected");
                    let stream = match tls {
                        None => Some(Stream::Plain(socket)),
                        Some(tls) => handshake(socket, &tls, &clients_state, &entry).await,
                    };
                    if let Some(stream) = stream {
                        connect(stream, clients_state.clone(), entry.clone()).await;
                    }
                    clients_state.clients.unregister(entry.id());
                    debug!("client disconnected");
                }
                .instrument(span),
            );
        }
        drop(listener);
        drop(tls_listener);
        tracker.close();
        let grace = Duration::from_secs(state.config.shutdown_timeout);
        if tokio::time::timeout(grace, tracker.wait()).await.is_err() {
            warn!(
                remaining = tracker.len(),
                "shutdown timeout: dropping connections still running"
            );
        }
        state.stopped.cancel();
        info!("redynamo is now ready to exit, bye bye");
    }
}

/// Accept on `listener`, or wait for ever when there is none.
async fn accept(listener: Option<&TcpListener>) -> std::io::Result<(TcpStream, SocketAddr)> {
    match listener {
        Some(l) => l.accept().await,
        None => std::future::pending().await,
    }
}

/// A listener with Redis' backlog (`tcp-backlog`) rather than the one
/// `TcpListener::bind` picks, and `SO_REUSEADDR` as Redis sets it, so a
/// restart binds while old connections linger in TIME_WAIT.
fn listen(addr: SocketAddr, backlog: u32) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    #[cfg(unix)]
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(backlog)
}

/// `e` as `what: reason`, of the same kind: what the binary prints when it
/// cannot start ("cannot listen on 127.0.0.1:6379: Address already in
/// use").
fn failed(what: std::fmt::Arguments<'_>, e: std::io::Error) -> std::io::Error {
    std::io::Error::new(e.kind(), format!("{what}: {e}"))
}

async fn reject(mut socket: TcpStream) {
    let _ = socket
        .write_all(b"-ERR max number of clients reached\r\n")
        .await;
    let _ = socket.shutdown().await;
}

#[cfg(unix)]
fn raw_fd(socket: &TcpStream) -> i32 {
    use std::os::fd::AsRawFd;
    socket.as_raw_fd()
}

#[cfg(not(unix))]
fn raw_fd(_socket: &TcpStream) -> i32 {
    0
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = match signal(SignalKind::terminate()) {
            Ok(s) => s,
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
                return;
            }
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// The `user` lines of the config file, as Redis' `ACLLoadConfiguredUsers`
/// applies them: the `default` user is reset first, the others created.
/// Their rules were checked when the file was read.
fn load_configured_users(state: &ServerState) -> std::io::Result<()> {
    for (name, rules) in &state.config.redis_conf.users {
        let mut ops = rules.clone();
        if name == "default" {
            ops.insert(0, bytes::Bytes::from_static(b"reset"));
        }
        state
            .credentials
            .set_user(name.as_bytes(), &ops)
            .map_err(|(op, e)| {
                std::io::Error::other(format!(
                    "Error loading ACL rule '{}' for the user named '{name}': {e}",
                    String::from_utf8_lossy(&op)
                ))
            })?;
    }
    Ok(())
}
