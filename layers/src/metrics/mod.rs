//! Metrics: per-command counts, outcomes and latency, and the slow log.
//!
//! [`MetricsLayer`] sits outermost in the stack. For every request it
//! records, in one [`CommandStats`] registry, the call, its outcome
//! (`ok`, `error` for a Redis error reply, `failure` for an infrastructure
//! error) and its latency — which feeds Prometheus through the `metrics`
//! facade, INFO commandstats and errorstats — and logs slow commands in
//! the [`SlowLog`].
//!
//! Labels stay bounded: the `command` label is a name from the command
//! table (or `unknown`), never a key or a client-chosen string.
//!
//! Handles are registered once, at construction, with the [`Recorder`]
//! passed in, so recording is a few atomic operations and no global
//! recorder is needed (two servers in one process keep separate figures).
//!
//! ```
//! use std::sync::Arc;
//! use redynamo_layers::metrics::{CommandStats, MetricsLayer, SlowLog};
//! let stats = Arc::new(CommandStats::new(&metrics::NoopRecorder));
//! let slowlog = Arc::new(SlowLog::new(10_000, 128));
//! let layer = MetricsLayer::new(stats, slowlog);
//! # drop(layer);
//! ```
//!
//! # Feeding metrics from other components
//!
//! The cache, the DynamoDB backend and the streams follower report through
//! a [`Telemetry`] handle: `telemetry.counter("redynamo_cache_hits_total",
//! &[])` gives a `metrics::Counter` registered with the server's recorder.
//! Names MUST follow Prometheus conventions (`redynamo_` prefix, `_total`
//! for counters, base units `_seconds` / `_bytes`) and labels MUST be
//! bounded (no keys).

mod future;
mod slowlog;
mod stats;

use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use metrics::{Counter, Gauge, Histogram, Key, Label, Metadata, Recorder};
use tower_layer::Layer;
use tower_service::Service;

pub use self::future::ResponseFuture;
pub use self::slowlog::{SlowEntry, SlowLog};
pub use self::stats::{CommandSnapshot, CommandStats, Outcome, UNKNOWN_COMMAND};
use crate::error::BoxError;
use crate::{Reply, Request};

/// Applies [`Metrics`].
#[derive(Clone)]
pub struct MetricsLayer {
    stats: Arc<CommandStats>,
    slowlog: Arc<SlowLog>,
}

impl MetricsLayer {
    pub fn new(stats: Arc<CommandStats>, slowlog: Arc<SlowLog>) -> MetricsLayer {
        MetricsLayer { stats, slowlog }
    }
}

impl<S> Layer<S> for MetricsLayer {
    type Service = Metrics<S>;

    fn layer(&self, inner: S) -> Metrics<S> {
        Metrics {
            inner,
            stats: self.stats.clone(),
            slowlog: self.slowlog.clone(),
        }
    }
}

#[derive(Clone)]
pub struct Metrics<S> {
    inner: S,
    stats: Arc<CommandStats>,
    slowlog: Arc<SlowLog>,
}

impl<S> Service<Request> for Metrics<S>
where
    S: Service<Request, Response = Reply>,
    S::Error: Into<BoxError>,
{
    type Response = Reply;
    type Error = BoxError;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, req: Request) -> Self::Future {
        let spec = req.command.spec;
        // Kept for the slow log, which needs the arguments after the inner
        // service consumed the request: reference-count bumps, no copies.
        let args = (self.slowlog.threshold_us() >= 0).then(|| req.command.args.clone());
        let client = req.client.clone();
        let start = Instant::now();
        ResponseFuture::new(
            self.inner.call(req),
            future::Record {
                spec,
                args,
                client,
                start,
                stats: self.stats.clone(),
                slowlog: self.slowlog.clone(),
            },
        )
    }
}

/// Registers metrics with the server's recorder, for components outside
/// the stack (cache, backends, follower). Cheap to clone.
#[derive(Clone)]
pub struct Telemetry {
    recorder: Arc<dyn Recorder + Send + Sync>,
}

impl Telemetry {
    pub fn new(recorder: Arc<dyn Recorder + Send + Sync>) -> Telemetry {
        Telemetry { recorder }
    }

    /// A telemetry handle that records nothing.
    pub fn noop() -> Telemetry {
        Telemetry::new(Arc::new(metrics::NoopRecorder))
    }

    pub fn recorder(&self) -> &(dyn Recorder + Send + Sync) {
        &*self.recorder
    }

    fn key(name: &'static str, labels: &[(&'static str, &'static str)]) -> Key {
        Key::from_parts(
            name,
            labels
                .iter()
                .map(|(k, v)| Label::new(*k, *v))
                .collect::<Vec<_>>(),
        )
    }

    fn meta() -> Metadata<'static> {
        Metadata::new(module_path!(), metrics::Level::INFO, Some(module_path!()))
    }

    pub fn counter(&self, name: &'static str, labels: &[(&'static str, &'static str)]) -> Counter {
        self.recorder
            .register_counter(&Self::key(name, labels), &Self::meta())
    }

    pub fn gauge(&self, name: &'static str, labels: &[(&'static str, &'static str)]) -> Gauge {
        self.recorder
            .register_gauge(&Self::key(name, labels), &Self::meta())
    }

    pub fn histogram(
        &self,
        name: &'static str,
        labels: &[(&'static str, &'static str)],
    ) -> Histogram {
        self.recorder
            .register_histogram(&Self::key(name, labels), &Self::meta())
    }
}
