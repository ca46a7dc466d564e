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
//! for any driver; [`MetricsLayer::chained`], which the server uses, does
//! so too unless the client's connection says, through the client's
//! [`RunTimer`] (carried in every request's [`ClientInfo`](crate::ClientInfo)),
//! that its commands follow straight on from each other.
//!
//! A command answered in place is recorded inside the layer's `call`
//! (which polls the stack's future once), so its future holds no
//! reference; one that waits holds the layer's [`Arc`] (see [`timing`]).
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
use self::stats::CounterId;
pub use self::stats::{
    CommandCounters, CommandSnapshot, CommandStats, LatencySnapshot, Outcome, LATENCY_BOUNDS_NS,
    UNKNOWN_COMMAND,
};
pub use self::timing::{FollowOn, RunTimer};
use crate::command::{CommandSpec, Flags};
use crate::error::BoxError;
use crate::{ClientInfo, Reply, Request};

/// Applies [`Metrics`].
///
/// Every service the layer makes shares what it records into through an
/// [`Arc`], cloned once per service (a server clones its stack once per
/// connection). A command answered in place is recorded within `call`
/// and its future takes no reference, so the hot path takes no reference
/// count (two locked instructions per command, on a line every worker
/// thread shares: see `benches/metrics_overhead.rs`).
#[derive(Clone)]
pub struct MetricsLayer {
    shared: Arc<Shared>,
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
    /// in-memory store). Commands chain only while their client's
    /// connection holds [`RunTimer::follow_on`]'s guard, and it then calls
    /// [`RunTimer::end_run`] before flushing replies, before waiting and
    /// before work of its own between commands (the contract is in
    /// [`timing`]); the server's connection does. Without the guard, every
    /// command is timed on its own, as by [`MetricsLayer::new`].
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
            shared: Arc::new(Shared {
                stats,
                slowlog,
                ns_per_2_32_ticks: timing::ns_per_2_32_ticks(&clock),
                clock,
                chained,
                runs: chained && runs,
            }),
        }
    }
}

impl<S> Layer<S> for MetricsLayer {
    type Service = Metrics<S>;

    fn layer(&self, inner: S) -> Metrics<S> {
        Metrics {
            inner,
            shared: self.shared.clone(),
            last: None,
            client: None,
        }
    }
}

#[derive(Clone)]
pub struct Metrics<S> {
    inner: S,
    shared: Arc<Shared>,
    /// The last command called and its counters: a pipeline mostly repeats
    /// one command, which then skips the registry lookup.
    last: Option<(&'static CommandSpec, CounterId)>,
    /// The client of the last command timed by a chained layer, and whether
    /// its [`RunTimer`] is this layer's: kept so that the command's run can
    /// be reached after the request has gone down the stack, with one
    /// reference count per client, not per command.
    client: Option<(Arc<ClientInfo>, bool)>,
}

/// The client whose run the command of `client` may chain into: Some when
/// the client's timer is this layer's and its connection follows on.
#[inline]
fn run_client<'a>(
    bound: &'a mut Option<(Arc<ClientInfo>, bool)>,
    client: &Arc<ClientInfo>,
    shared: &Arc<Shared>,
) -> Option<&'a Arc<ClientInfo>> {
    if !matches!(bound, Some((c, _)) if Arc::ptr_eq(c, client)) {
        // Another client than the last one: its run ends here.
        if let Some((last, true)) = bound.take() {
            last.timing.end_run();
        }
        let ours = client.timing.bind(shared);
        *bound = Some((client.clone(), ours));
    }
    match bound {
        Some((c, true)) if c.timing.follows() => Some(c),
        _ => None,
    }
}

impl<S> Service<Request> for Metrics<S>
where
    S: Service<Request, Response = Reply>,
    S::Error: Into<BoxError>,
    S::Future: Unpin,
{
    type Response = Reply;
    type Error = BoxError;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        let ready = self.inner.poll_ready(cx).map_err(Into::into);
        if ready.is_pending() {
            // The next command waits for the stack: it does not follow on.
            if let Some((client, true)) = &self.client {
                client.timing.end_run();
            }
        }
        ready
    }

    fn call(&mut self, req: Request) -> Self::Future {
        let spec = req.command.spec;
        let counters = match self.last {
            Some((last, counters)) if std::ptr::eq(last, spec) => counters,
            _ => {
                let counters = self.shared.stats.counters_for(spec);
                self.last = Some((spec, counters));
                counters
            }
        };
        let shared = &*self.shared;
        let threshold = shared.slowlog.threshold_us();
        let client = if shared.chained && req.client.id != 0 {
            run_client(&mut self.client, &req.client, &self.shared)
        } else {
            None
        };
        let parked = if spec.routing.blocking {
            future::Parked::May
        } else {
            future::Parked::No
        };
        // An O(1) command following straight on from its client's last one
        // joins their run and is timed with it ([`timing`]): no reading of
        // its own, no line kept.
        let joins = shared.runs
            && spec.flags.contains(Flags::FAST)
            && req.command.args.len() <= 3
            && !(0..=timing::RUN_SLOWLOG_FLOOR_US).contains(&threshold);
        if let Some(run) = client.filter(|_| joins) {
            run.timing.join(shared);
            let mut future = self.inner.call(req);
            return match crate::poll_now(&mut future) {
                Poll::Ready(out) => {
                    let out = out.map_err(Into::into);
                    shared
                        .stats
                        .counters(counters)
                        .count(future::outcome(shared, &out));
                    run.timing.joined_ended(shared, counters);
                    ResponseFuture::ready(out)
                }
                // It has to wait after all: timed on its own from here.
                Poll::Pending => ResponseFuture::waiting(
                    future,
                    future::Record {
                        start: run.timing.joined_waits(shared),
                        shared: self.shared.clone(),
                        counters,
                        slow: None,
                        client: Some(run.clone()),
                        parked: parked.waits(),
                    },
                ),
            };
        }
        // Kept for the slow log, which needs the arguments and the client
        // after the inner service consumed the request: the shown part of
        // the line, copied into this thread's spare capture.
        let slow = (threshold >= 0).then(|| Capture::of(&req));
        let start = match client {
            Some(run) => run.timing.start(shared),
            None => shared.clock.raw(),
        };
        let mut future = self.inner.call(req);
        match crate::poll_now(&mut future) {
            Poll::Ready(out) => {
                let out = out.map_err(Into::into);
                future::settle(
                    shared,
                    counters,
                    slow,
                    start,
                    client.map(|c| &c.timing),
                    parked,
                    &out,
                );
                ResponseFuture::ready(out)
            }
            Poll::Pending => {
                if let Some(run) = client {
                    // This command waits: whatever runs next does not
                    // follow on from it.
                    run.timing.end_run();
                }
                ResponseFuture::waiting(
                    future,
                    future::Record {
                        start,
                        shared: self.shared.clone(),
                        counters,
                        slow,
                        client: client.cloned(),
                        parked: parked.waits(),
                    },
                )
            }
        }
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
