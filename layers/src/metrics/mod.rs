//! Metrics: per-command counts, outcomes and latency, and the slow log.
//!
//! [`MetricsLayer`] sits outermost in the stack. For every request it
//! records, in one [`CommandStats`] registry, the call, its outcome
//! (`ok`, `error` for a Redis error reply, `failure` for an infrastructure
//! error) and its latency — which feeds Prometheus, INFO commandstats and
//! errorstats — and logs slow commands in the [`SlowLog`].
//!
//! A command is counted in the layer's own counters: its outcome, a
//! latency bucket and the latency sum, in a stripe owned by the recording
//! thread (plain loads and stores, no locked instruction; see
//! [`CommandStats`]). `redynamo_commands_total` is published from them
//! through the `metrics` facade when `/metrics` is scraped
//! ([`CommandStats::publish`]), and the fixed-bucket histogram
//! `redynamo_command_duration_seconds` is rendered by the server's
//! exporter: the exporter's own histograms buffer and timestamp every
//! sample, too much for a path every command takes
//! (`benches/metrics_overhead.rs`).
//!
//! How a command is timed — one clock reading per command, or one per
//! segment of a run of O(1) commands, with what that changes — is in
//! [`timing`]: [`MetricsLayer::new`] reads the clock twice per command,
//! for any driver; [`MetricsLayer::chained`], which the server uses,
//! relies on its connection calling [`end_run`].
//!
//! Labels stay bounded: the `command` label is a name from the command
//! table (or `unknown`), never a key or a client-chosen string.
//!
//! Handles are registered once, at construction, with the [`Recorder`]
//! passed in, so no global recorder is needed (two servers in one process
//! keep separate figures).
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
//! a [`Telemetry`] handle: `telemetry.counter("redynamo_cache_evictions_total",
//! &[])` gives a `metrics::Counter` registered with the server's recorder,
//! and `telemetry.describe_counter(name, help)` its `# HELP` line. A figure
//! bumped on every command (the cache's hits and misses) is cheaper as a
//! plain atomic that the exporter reads at scrape time.
//! Names MUST follow Prometheus conventions (`redynamo_` prefix, `_total`
//! for counters, base units `_seconds` / `_bytes`) and labels MUST be
//! bounded (no keys).

mod future;
mod slowlog;
mod stats;
pub mod timing;

use std::sync::Arc;
use std::task::{Context, Poll};

use metrics::{Counter, Gauge, Histogram, Key, KeyName, Label, Metadata, Recorder};
use tower_layer::Layer;
use tower_service::Service;

pub use self::future::ResponseFuture;
use self::slowlog::Capture;
pub use self::slowlog::{KeptArgs, SlowEntry, SlowLog};
pub use self::stats::{
    CommandCounters, CommandSnapshot, CommandStats, LatencySnapshot, Outcome, LATENCY_BOUNDS_NS,
    UNKNOWN_COMMAND,
};
pub use self::timing::end_run;
use crate::command::{CommandSpec, Flags};
use crate::error::BoxError;
use crate::{Reply, Request};

/// Applies [`Metrics`].
///
/// What the layer records into lives for the rest of the process (a
/// leaked allocation per `MetricsLayer::new`, which a server calls once
/// when it builds its stack), so a command's future reaches it without a
/// reference count: two locked instructions per command fewer (see
/// `benches/metrics_overhead.rs`).
#[derive(Clone)]
pub struct MetricsLayer {
    shared: &'static Shared,
}

/// What every in-flight command records into.
pub(crate) struct Shared {
    pub(crate) stats: Arc<CommandStats>,
    pub(crate) slowlog: Arc<SlowLog>,
    /// Read raw (the TSC where it is reliable, as on this project's
    /// machines): one `rdtsc` per reading, scaled to nanoseconds once per
    /// command. `quanta::Instant::now` costs twice that: it checks a
    /// thread-local override and scales every reading.
    pub(crate) clock: quanta::Clock,
    /// The clock's scale ([`timing::nanos`]).
    pub(crate) ns_per_2_32_ticks: u64,
    /// Whether a command that follows straight on from the previous one
    /// starts from the reading that ended it ([`timing`]).
    pub(crate) chained: bool,
    /// Whether O(1) commands that follow straight on from each other are
    /// timed as runs ([`timing`]).
    pub(crate) runs: bool,
}

impl MetricsLayer {
    pub fn new(stats: Arc<CommandStats>, slowlog: Arc<SlowLog>) -> MetricsLayer {
        MetricsLayer::build(stats, slowlog, false, false)
    }

    /// A layer that times a pipeline with fewer clock readings (see
    /// [`timing`]): a command run straight after the previous one of its
    /// client starts when that one ended, and, with `runs`, consecutive
    /// O(1) commands are read once per segment of [`timing::RUN_LEN`].
    /// `runs` suits a backend that answers every command in place (the
    /// in-memory store). The connection driving the stack must call
    /// [`end_run`] after every wait, before flushing replies and before
    /// work of its own between commands; the server's connection does.
    pub fn chained(stats: Arc<CommandStats>, slowlog: Arc<SlowLog>, runs: bool) -> MetricsLayer {
        MetricsLayer::build(stats, slowlog, true, runs)
    }

    fn build(
        stats: Arc<CommandStats>,
        slowlog: Arc<SlowLog>,
        chained: bool,
        runs: bool,
    ) -> MetricsLayer {
        // Building the clock calibrates it (up to 200 ms, once per
        // process): paid at start-up, not on a client's first command.
        let clock = quanta::Clock::new();
        MetricsLayer {
            shared: Box::leak(Box::new(Shared {
                stats,
                slowlog,
                ns_per_2_32_ticks: timing::ns_per_2_32_ticks(&clock),
                clock,
                chained,
                runs: chained && runs,
            })),
        }
    }
}

impl<S> Layer<S> for MetricsLayer {
    type Service = Metrics<S>;

    fn layer(&self, inner: S) -> Metrics<S> {
        Metrics {
            inner,
            shared: self.shared,
            last: None,
        }
    }
}

#[derive(Clone)]
pub struct Metrics<S> {
    inner: S,
    shared: &'static Shared,
    /// The last command called and its counters: a pipeline mostly repeats
    /// one command, which then skips the registry lookup.
    last: Option<(&'static CommandSpec, &'static CommandCounters)>,
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
        let ready = self.inner.poll_ready(cx).map_err(Into::into);
        if ready.is_pending() && self.shared.chained {
            // The next command waits for the stack: it does not follow on.
            end_run();
        }
        ready
    }

    fn call(&mut self, req: Request) -> Self::Future {
        let shared = self.shared;
        let spec = req.command.spec;
        let counters = match self.last {
            Some((last, counters)) if std::ptr::eq(last, spec) => counters,
            _ => {
                let counters = shared.stats.counters_for(spec);
                self.last = Some((spec, counters));
                counters
            }
        };
        let threshold = shared.slowlog.threshold_us();
        let client = req.client.id;
        // An O(1) command following straight on from its client's last one
        // joins their run and is timed with it ([`timing`]): no reading of
        // its own, no line kept.
        let joins = shared.runs
            && client != 0
            && spec.flags.contains(Flags::FAST)
            && req.command.args.len() <= 3
            && !(0..=timing::RUN_SLOWLOG_FLOOR_US).contains(&threshold);
        let (slow, start) = if joins {
            timing::join(shared, client);
            (None, future::IN_RUN)
        } else {
            // Kept for the slow log, which needs the arguments and the
            // client after the inner service consumed the request: the
            // shown part of the line, copied into this thread's spare
            // capture.
            let slow = (threshold >= 0).then(|| Capture::of(&req));
            (slow, timing::start(shared, client))
        };
        ResponseFuture::new(
            self.inner.call(req),
            future::Record {
                counters,
                slow,
                client,
                start,
                shared,
                parked: if spec.routing.blocking {
                    future::Parked::May
                } else {
                    future::Parked::No
                },
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

    /// The `# HELP` text of a counter: what it counts, in a sentence.
    pub fn describe_counter(&self, name: &'static str, help: &'static str) {
        self.recorder
            .describe_counter(KeyName::from_const_str(name), None, help.into());
    }

    /// The `# HELP` text of a gauge.
    pub fn describe_gauge(&self, name: &'static str, help: &'static str) {
        self.recorder
            .describe_gauge(KeyName::from_const_str(name), None, help.into());
    }

    /// The `# HELP` text of a histogram.
    pub fn describe_histogram(&self, name: &'static str, help: &'static str) {
        self.recorder
            .describe_histogram(KeyName::from_const_str(name), None, help.into());
    }
}
