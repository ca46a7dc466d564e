//! The tower stack, assembled in one place.
//!
//! ```text
//! connection ─► metrics ─► shed ─► timeout ─► auth
//!            ─► [custom layers] ─► cache (DynamoDB) ─► admin ─► leaf store
//! ```
//!
//! Each line of [`service`] says why its layer sits where it does. The
//! server runs connections over that concrete, unboxed type
//! ([`StackService`]): a command's future is built in place through every
//! layer and polled with static calls, with no allocation and no dynamic
//! dispatch (BENCHMARKS.md measures what the box cost). [`build`] boxes
//! the same stack behind [`Stack`] for code that wants one nameable type;
//! user layers see the stack below them as a [`Stack`].

use std::sync::Arc;
use std::time::Duration;

use redynamo_layers::auth::AuthLayer;
use redynamo_layers::cache::CacheLayer;
use redynamo_layers::metrics::MetricsLayer;
use redynamo_layers::shed::ShedLayer;
use redynamo_layers::timeout::TimeoutLayer;
use redynamo_layers::{BoxError, Reply, Request};
use tower::util::{BoxCloneService, Either};
use tower::{Layer, Service, ServiceBuilder, ServiceExt};

use crate::admin::AdminLayer;
use crate::server::state::ServerState;
use crate::store::Backend;

/// The finished stack every connection clones.
pub type Stack = BoxCloneService<Request, Reply, BoxError>;

/// A user's layer, type-erased so any number can be inserted.
pub type BoxLayer = Arc<dyn Fn(Stack) -> Stack + Send + Sync>;

/// Erase a user's tower layer into a [`BoxLayer`].
pub fn box_layer<L>(layer: L) -> BoxLayer
where
    L: Layer<Stack> + Send + Sync + 'static,
    L::Service: Service<Request, Response = Reply> + Clone + Send + 'static,
    <L::Service as Service<Request>>::Error: Into<BoxError>,
    <L::Service as Service<Request>>::Future: Send + 'static,
{
    Arc::new(move |inner: Stack| BoxCloneService::new(layer.layer(inner).map_err(Into::into)))
}

/// Applies the user's layers in the order they were added: the first one
/// added is the outermost of them.
#[derive(Clone)]
struct CustomLayers(Vec<BoxLayer>);

impl<S> Layer<S> for CustomLayers
where
    S: Service<Request, Response = Reply, Error = BoxError> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    /// Without custom layers the inner service is used as it is: no box, no
    /// dynamic call on every command.
    type Service = Either<Stack, S>;

    fn layer(&self, inner: S) -> Either<Stack, S> {
        if self.0.is_empty() {
            return Either::Right(inner);
        }
        Either::Left(
            self.0
                .iter()
                .rev()
                .fold(BoxCloneService::new(inner), |svc, layer| layer(svc)),
        )
    }
}

/// Which optional layers [`build_with`] includes.
#[derive(Clone, Copy, Debug)]
pub struct StackOptions {
    /// Include the metrics layer (the default). Without it, commands are
    /// not counted in `/metrics`, INFO commandstats / errorstats or the
    /// SLOWLOG; `benches/metrics_overhead.rs` builds both stacks to measure
    /// what the layer costs.
    pub metrics: bool,
}

impl Default for StackOptions {
    fn default() -> Self {
        StackOptions { metrics: true }
    }
}

/// What a connection runs its commands through: the stack as built by
/// [`service`], or a boxed [`Stack`]. Its futures are `Unpin` so that a
/// pipelined batch can poll each one where it is, and keep the ones still
/// pending without boxing them.
pub trait StackService:
    Service<Request, Response = Reply, Error = BoxError, Future: Send + Unpin + 'static>
    + Clone
    + Send
    + 'static
{
}

impl<T> StackService for T where
    T: Service<Request, Response = Reply, Error = BoxError, Future: Send + Unpin + 'static>
        + Clone
        + Send
        + 'static
{
}

/// Build the stack over `backend`, boxed.
pub fn build<B: Backend>(state: &Arc<ServerState>, backend: B, custom: &[BoxLayer]) -> Stack {
    build_with(state, backend, custom, StackOptions::default())
}

/// Build the stack over `backend`, boxed, with the optional layers
/// `options` names.
pub fn build_with<B: Backend>(
    state: &Arc<ServerState>,
    backend: B,
    custom: &[BoxLayer],
    options: StackOptions,
) -> Stack {
    if options.metrics {
        BoxCloneService::new(service(state, backend, custom))
    } else {
        BoxCloneService::new(service_without_metrics(state, backend, custom))
    }
}

/// Build the stack over `backend`, unboxed: the type connections run.
pub fn service<B: Backend>(
    state: &Arc<ServerState>,
    backend: B,
    custom: &[BoxLayer],
) -> impl StackService {
    // Outermost: metrics see every command's true latency and outcome,
    // shed and timed-out ones included. Chained: the connection
    // (`crate::connection`) tells the layer, through the client's run timer
    // (`ClientInfo::timing`), which commands follow straight on from each
    // other and where a run of them ends, so a pipeline costs one clock
    // reading per command, or fewer (see the layer's `timing`).
    // Runs of O(1) commands are timed together when every command is
    // answered in place: over such a backend, with no user layer (which
    // might make a command wait).
    let runs = backend.hints().answers_in_place && custom.is_empty();
    MetricsLayer::chained(state.command_stats.clone(), state.slowlog.clone(), runs)
        .layer(service_without_metrics(state, backend, custom))
}

/// The stack without the metrics layer (`--no-metrics-layer`): what the
/// layer costs is the difference (`benches/metrics_overhead.rs`,
/// `benches/vs-redis.sh --metrics-layer`). A type of its own, rather than
/// the same stack with the layer switched off at run time, so that neither
/// pays for the other's futures.
pub fn service_without_metrics<B: Backend>(
    state: &Arc<ServerState>,
    backend: B,
    custom: &[BoxLayer],
) -> impl StackService {
    ServiceBuilder::new()
        // Shedding bounds the commands in flight across all connections
        // and answers at once past the bound, instead of queueing.
        .layer(ShedLayer::new(state.config.max_concurrent_commands))
        // The timeout bounds everything below it, auth and user
        // layers included, so no layer can hang a client.
        .layer(TimeoutLayer::new(Duration::from_millis(
            state.config.timeout_ms,
        )))
        // Auth before any user layer: user code never sees a request from
        // an unauthenticated client (except AUTH/HELLO/QUIT/RESET).
        .layer(AuthLayer::new(state.credentials.clone()))
        // User layers see every authenticated command, server commands
        // included, and can answer, rewrite or refuse them.
        .layer(CustomLayers(custom.to_vec()))
        // The cache answers hot reads before they reach the backend, and
        // sees every write after the backend accepted it; below user layers
        // so they see every command, above admin which it never caches.
        .option_layer(state.cache.clone().map(CacheLayer::new))
        // Admin answers the commands about the server itself (INFO, CONFIG,
        // COMMAND, PING, TIME …) next to the leaf, so caches above it never
        // mistake them for data.
        .layer(AdminLayer::new(state.clone()))
        .service(backend)
}
