//! Per-command statistics: one registry feeds Prometheus, INFO
//! commandstats / errorstats and SLOWLOG, so they always agree.

use std::collections::{BTreeMap, HashMap};
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use metrics::{Counter, Key, KeyName, Label, Metadata, Recorder};

use crate::command::{all_specs, CommandSpec};
use crate::Reply;

/// How a command ended, as the `outcome` label says it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// A normal reply.
    Ok,
    /// A Redis error reply (`-WRONGTYPE`, `-ERR syntax error` …).
    Error,
    /// An infrastructure failure (timeout, shed, backend down).
    Failure,
    /// Refused before it ran: unknown command, wrong arity, NOAUTH.
    Rejected,
}

impl Outcome {
    pub fn of(reply: &Reply) -> Outcome {
        if reply.is_error() {
            Outcome::Error
        } else {
            Outcome::Ok
        }
    }

    fn label(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Error => "error",
            Outcome::Failure => "failure",
            Outcome::Rejected => "rejected",
        }
    }
}

const OUTCOMES: [Outcome; 4] = [
    Outcome::Ok,
    Outcome::Error,
    Outcome::Failure,
    Outcome::Rejected,
];

/// The label value for commands the table does not know, so a client
/// sending random names cannot create unbounded label values.
pub const UNKNOWN_COMMAND: &str = "unknown";

/// Distinct error codes tracked by errorstats; further codes are counted
/// under `errorstat_OTHER` (Redis caps its error table at 128 too).
const MAX_ERROR_CODES: usize = 128;

/// Upper bounds of the command latency buckets, in nanoseconds: 10 µs to
/// 10 s, fine where Redis commands live (tens of microseconds) and wide
/// enough for a DynamoDB call or a timeout.
pub const LATENCY_BOUNDS_NS: [u64; 19] = [
    10_000,
    25_000,
    50_000,
    100_000,
    250_000,
    500_000,
    1_000_000,
    2_500_000,
    5_000_000,
    10_000_000,
    25_000_000,
    50_000_000,
    100_000_000,
    250_000_000,
    500_000_000,
    1_000_000_000,
    2_500_000_000,
    5_000_000_000,
    10_000_000_000,
];

/// A fixed-bucket latency histogram: recording is two relaxed atomic adds
/// and memory is constant, whatever the command rate. (The Prometheus
/// exporter's own histograms buffer every sample between upkeeps and stamp
/// each with a clock read; at this rate that was most of the metrics
/// layer's cost, see `benches/metrics_overhead.rs`.)
pub struct LatencyHistogram {
    /// Per bucket, not cumulative; the last one is past every bound.
    buckets: [AtomicU64; LATENCY_BOUNDS_NS.len() + 1],
    sum_ns: AtomicU64,
}

impl Default for LatencyHistogram {
    fn default() -> Self {
        LatencyHistogram {
            buckets: std::array::from_fn(|_| AtomicU64::new(0)),
            sum_ns: AtomicU64::new(0),
        }
    }
}

impl LatencyHistogram {
    pub fn record(&self, elapsed: Duration) {
        let ns = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
        // Most commands land in the first buckets: a short scan.
        let i = LATENCY_BOUNDS_NS
            .iter()
            .position(|&bound| ns <= bound)
            .unwrap_or(LATENCY_BOUNDS_NS.len());
        // Release, with Acquire in `totals`: whoever sees this command in
        // the count also sees the error counters it bumped just before.
        self.buckets[i].fetch_add(1, Ordering::Release);
        self.sum_ns.fetch_add(ns, Ordering::Relaxed);
    }

    /// How many commands were recorded, and their total nanoseconds.
    pub fn totals(&self) -> (u64, u64) {
        let count = self.buckets.iter().map(|b| b.load(Ordering::Acquire)).sum();
        (count, self.sum_ns.load(Ordering::Relaxed))
    }

    pub fn snapshot(&self) -> LatencySnapshot {
        let mut cumulative = [0u64; LATENCY_BOUNDS_NS.len() + 1];
        let mut total = 0;
        for (slot, bucket) in cumulative.iter_mut().zip(&self.buckets) {
            total += bucket.load(Ordering::Relaxed);
            *slot = total;
        }
        LatencySnapshot {
            cumulative,
            sum_seconds: self.sum_ns.load(Ordering::Relaxed) as f64 / 1e9,
        }
    }
}

/// A histogram as Prometheus exposes it.
#[derive(Clone, Debug, PartialEq)]
pub struct LatencySnapshot {
    /// Commands that took at most each bound of [`LATENCY_BOUNDS_NS`]; the
    /// last entry is the `+Inf` bucket, i.e. the count.
    pub cumulative: [u64; LATENCY_BOUNDS_NS.len() + 1],
    pub sum_seconds: f64,
}

impl LatencySnapshot {
    pub fn count(&self) -> u64 {
        self.cumulative[LATENCY_BOUNDS_NS.len()]
    }
}

/// Counters of one command.
///
/// Every figure here only ever grows, so Prometheus sees true counters;
/// INFO's figures restart at CONFIG RESETSTAT by subtracting the value each
/// had at the reset. A command that ran normally pays for two relaxed
/// atomic adds (a latency bucket and the latency sum) and nothing else:
/// `redynamo_commands_total` is published from these at scrape time
/// ([`CommandStats::publish`]) instead of through the facade on every
/// command.
pub struct CommandCounters {
    pub name: &'static str,
    /// Refused before running (Redis' rejected_calls).
    rejected: AtomicU64,
    /// Ran and answered a Redis error.
    errors: AtomicU64,
    /// Failed: timeout, shed, backend error.
    failures: AtomicU64,
    /// `redynamo_commands_total{outcome=…}`, set at scrape time.
    outcomes: [Counter; 4],
    /// The last `ok` figure published, so that a scrape racing a command
    /// (counted in the histogram, not yet in `errors`) never publishes a
    /// lower figure than the scrape before.
    published_ok: AtomicU64,
    /// `redynamo_command_duration_seconds`, never reset. Its count is
    /// every command that ran (ok + error + failure) and, with the sum,
    /// gives INFO's `calls` and `usec`.
    latency: LatencyHistogram,
    /// The figures INFO counts from: their values at the last RESETSTAT.
    reset_calls: AtomicU64,
    reset_ns: AtomicU64,
    reset_rejected: AtomicU64,
    reset_failed: AtomicU64,
}

impl CommandCounters {
    fn failed(&self) -> u64 {
        self.errors.load(Ordering::Relaxed) + self.failures.load(Ordering::Relaxed)
    }
}

/// All commands' counters, the error-code table, and the Prometheus
/// handles behind them. Built once per server; shared.
pub struct CommandStats {
    by_spec: HashMap<usize, CommandCounters, BuildHasherDefault<AddressHasher>>,
    unknown: CommandCounters,
    errors: Mutex<BTreeMap<String, u64>>,
}

/// Hashes a spec's address: it is unique already, so a multiply and a
/// fold beat SipHash on a lookup every command makes.
#[derive(Default)]
struct AddressHasher(u64);

impl Hasher for AddressHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 << 8 | u64::from(b)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        }
    }

    fn write_usize(&mut self, n: usize) {
        let h = (n as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        // Addresses are aligned: fold the mixed high bits into the low
        // ones, which pick the bucket.
        self.0 = h ^ (h >> 32);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

fn spec_key(spec: &'static CommandSpec) -> usize {
    spec as *const CommandSpec as usize
}

impl CommandStats {
    /// Register a counter per command and outcome, and a latency histogram
    /// per command, with `recorder` (`metrics::NoopRecorder` when metrics
    /// are not exported).
    /// The `# HELP` line of `redynamo_command_duration_seconds`, which the
    /// server's exporter renders from [`CommandStats::latencies`].
    pub const LATENCY_HELP: &'static str =
        "Latency of commands that ran, by command, measured outermost in the stack.";

    pub fn new(recorder: &dyn Recorder) -> CommandStats {
        recorder.describe_counter(
            KeyName::from_const_str("redynamo_commands_total"),
            None,
            "Commands by name and outcome: ok, error (a Redis error reply), failure (timeout, shed, backend error), rejected (refused before running).".into(),
        );
        let make = |name: &'static str| {
            let meta = Metadata::new(module_path!(), metrics::Level::INFO, Some(module_path!()));
            let outcomes = OUTCOMES.map(|o| {
                let key = Key::from_parts(
                    "redynamo_commands_total",
                    vec![
                        Label::new("command", name),
                        Label::new("outcome", o.label()),
                    ],
                );
                recorder.register_counter(&key, &meta)
            });
            CommandCounters {
                name,
                rejected: AtomicU64::new(0),
                errors: AtomicU64::new(0),
                failures: AtomicU64::new(0),
                outcomes,
                published_ok: AtomicU64::new(0),
                latency: LatencyHistogram::default(),
                reset_calls: AtomicU64::new(0),
                reset_ns: AtomicU64::new(0),
                reset_rejected: AtomicU64::new(0),
                reset_failed: AtomicU64::new(0),
            }
        };
        CommandStats {
            by_spec: all_specs().map(|s| (spec_key(s), make(s.name))).collect(),
            unknown: make(UNKNOWN_COMMAND),
            errors: Mutex::new(BTreeMap::new()),
        }
    }

    fn counters(&self, spec: Option<&'static CommandSpec>) -> &CommandCounters {
        spec.and_then(|s| self.by_spec.get(&spec_key(s)))
            .unwrap_or(&self.unknown)
    }

    /// Count one command. `spec` is None for a name the table does not
    /// know; `reply` is the error reply when there was one.
    pub fn record(
        &self,
        spec: Option<&'static CommandSpec>,
        outcome: Outcome,
        elapsed: Duration,
        error: Option<&Reply>,
    ) {
        let c = self.counters(spec);
        match outcome {
            Outcome::Ok => {}
            Outcome::Error => {
                c.errors.fetch_add(1, Ordering::Relaxed);
            }
            Outcome::Failure => {
                c.failures.fetch_add(1, Ordering::Relaxed);
            }
            Outcome::Rejected => {
                c.rejected.fetch_add(1, Ordering::Relaxed);
            }
        }
        if outcome != Outcome::Rejected {
            c.latency.record(elapsed);
        }
        if let Some(code) = error.and_then(Reply::error_code) {
            self.count_error(code);
        } else if outcome == Outcome::Failure {
            self.count_error("ERR");
        }
    }

    fn count_error(&self, code: &str) {
        if let Ok(mut errors) = self.errors.lock() {
            let key = if errors.len() < MAX_ERROR_CODES || errors.contains_key(code) {
                code
            } else {
                "OTHER"
            };
            *errors.entry(key.to_string()).or_insert(0) += 1;
        }
    }

    /// Commands that were called at least once (INFO commandstats).
    pub fn snapshot(&self) -> Vec<CommandSnapshot> {
        let mut out: Vec<CommandSnapshot> = self
            .by_spec
            .values()
            .chain(std::iter::once(&self.unknown))
            .map(|c| {
                let (count, ns) = c.latency.totals();
                CommandSnapshot {
                    name: c.name,
                    calls: count.saturating_sub(c.reset_calls.load(Ordering::Relaxed)),
                    usec: ns.saturating_sub(c.reset_ns.load(Ordering::Relaxed)) / 1000,
                    rejected: c
                        .rejected
                        .load(Ordering::Relaxed)
                        .saturating_sub(c.reset_rejected.load(Ordering::Relaxed)),
                    failed: c
                        .failed()
                        .saturating_sub(c.reset_failed.load(Ordering::Relaxed)),
                }
            })
            .filter(|s| s.calls + s.rejected > 0)
            .collect();
        out.sort_by_key(|s| s.name);
        out
    }

    /// `redynamo_command_duration_seconds` of every command that ran at
    /// least once, by name. Rendered by the server's exporter next to the
    /// facade's metrics.
    pub fn latencies(&self) -> Vec<(&'static str, LatencySnapshot)> {
        let mut out: Vec<_> = self
            .by_spec
            .values()
            .chain(std::iter::once(&self.unknown))
            .map(|c| (c.name, c.latency.snapshot()))
            .filter(|(_, l)| l.count() > 0)
            .collect();
        out.sort_by_key(|(name, _)| *name);
        out
    }

    /// Error replies by code (INFO errorstats).
    /// Publish `redynamo_commands_total` from the counters (called when
    /// `/metrics` is scraped). These figures are never reset.
    pub fn publish(&self) {
        for c in self.by_spec.values().chain(std::iter::once(&self.unknown)) {
            let (ran, _) = c.latency.totals();
            let errors = c.errors.load(Ordering::Relaxed);
            let failures = c.failures.load(Ordering::Relaxed);
            // `ran` is read first and the command path adds to it last, so
            // the difference can only lag; never publish less than before.
            let ok = ran.saturating_sub(errors + failures);
            let ok = c.published_ok.fetch_max(ok, Ordering::Relaxed).max(ok);
            let [o, e, f, r] = &c.outcomes;
            o.absolute(ok);
            e.absolute(errors);
            f.absolute(failures);
            r.absolute(c.rejected.load(Ordering::Relaxed));
        }
    }

    pub fn errors(&self) -> Vec<(String, u64)> {
        self.errors
            .lock()
            .map(|e| e.iter().map(|(k, v)| (k.clone(), *v)).collect())
            .unwrap_or_default()
    }

    /// CONFIG RESETSTAT. Prometheus counters are never reset (they are
    /// monotonic by contract); only the INFO figures restart.
    pub fn reset(&self) {
        for c in self.by_spec.values().chain(std::iter::once(&self.unknown)) {
            let (count, ns) = c.latency.totals();
            c.reset_calls.store(count, Ordering::Relaxed);
            c.reset_ns.store(ns, Ordering::Relaxed);
            c.reset_rejected
                .store(c.rejected.load(Ordering::Relaxed), Ordering::Relaxed);
            c.reset_failed.store(c.failed(), Ordering::Relaxed);
        }
        if let Ok(mut e) = self.errors.lock() {
            e.clear();
        }
    }
}

/// One line of INFO commandstats.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommandSnapshot {
    pub name: &'static str,
    pub calls: u64,
    pub usec: u64,
    pub rejected: u64,
    pub failed: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn info_figures_restart_at_resetstat_but_prometheus_ones_do_not() {
        let stats = CommandStats::new(&metrics::NoopRecorder);
        let get = crate::command::lookup(b"get");
        for _ in 0..3 {
            stats.record(get, Outcome::Ok, Duration::from_micros(5), None);
        }
        let info = |stats: &CommandStats| stats.snapshot().into_iter().find(|s| s.name == "get");
        let before = info(&stats).expect("get was called");
        assert_eq!((before.calls, before.usec), (3, 15));
        stats.reset();
        assert_eq!(info(&stats), None);
        stats.record(get, Outcome::Error, Duration::from_micros(7), None);
        let after = info(&stats).expect("get was called again");
        assert_eq!((after.calls, after.usec, after.failed), (1, 7, 1));
        let latencies = stats.latencies();
        assert_eq!(latencies[0].0, "get");
        assert_eq!(latencies[0].1.count(), 4);
    }

    #[test]
    fn latency_buckets_are_cumulative_and_inclusive() {
        let h = LatencyHistogram::default();
        h.record(Duration::from_micros(10)); // on the first bound: in it
        h.record(Duration::from_micros(11));
        h.record(Duration::from_millis(3));
        h.record(Duration::from_secs(60)); // past every bound
        let s = h.snapshot();
        assert_eq!(s.cumulative[0], 1);
        assert_eq!(s.cumulative[1], 2);
        assert_eq!(s.cumulative[7], 2); // le 2.5 ms
        assert_eq!(s.cumulative[8], 3); // le 5 ms
        assert_eq!(s.cumulative[18], 3); // le 10 s
        assert_eq!(s.count(), 4);
        assert!((s.sum_seconds - 60.003021).abs() < 1e-9);
    }
}
