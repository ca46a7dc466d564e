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

/// Threads that record into a stripe of their own, with plain loads and
/// stores; every other thread shares one more stripe, with atomic adds.
const PRIVATE_STRIPES: usize = 8;

/// The stripe the current thread records into: `0..PRIVATE_STRIPES` if
/// it owns one (the first threads of the process to record, which in the
/// server are the runtime's workers), `PRIVATE_STRIPES` (shared) if not.
/// A stripe index is never handed out twice, so an owned stripe has one
/// writer for the life of the process.
///
/// The thread-local below is a pure cache of that index: it holds no state
/// of any command or client, and nothing has to be called to keep it
/// right (unlike the old run timing, which moved to
/// [`RunTimer`](super::RunTimer)).
fn stripe() -> usize {
    use std::cell::Cell;
    use std::sync::atomic::AtomicUsize;
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static STRIPE: Cell<usize> = const { Cell::new(usize::MAX) };
    }
    STRIPE.with(|s| {
        if s.get() == usize::MAX {
            s.set(NEXT.fetch_add(1, Ordering::Relaxed).min(PRIVATE_STRIPES));
        }
        s.get()
    })
}

/// One command's figures in one stripe: per latency bucket (not
/// cumulative; the last is past every bound), then the nanoseconds, then
/// one count per [`Outcome`]. A cache line of its own (or four), so two
/// threads never write the same line.
#[repr(align(64))]
struct Cells([AtomicU64; CELLS]);

const BUCKETS: usize = LATENCY_BOUNDS_NS.len() + 1;
const SUM_NS: usize = BUCKETS;
const OUTCOME_CELLS: usize = BUCKETS + 1;
const CELLS: usize = OUTCOME_CELLS + OUTCOMES.len();

impl Cells {
    fn new() -> Cells {
        Cells(std::array::from_fn(|_| AtomicU64::new(0)))
    }
}

/// Counters of one command.
///
/// Every figure only ever grows, so Prometheus sees true counters; INFO's
/// figures restart at CONFIG RESETSTAT by subtracting the value each had
/// at the reset. A command costs three counter bumps (its outcome, a
/// latency bucket and the latency sum) in the recording thread's stripe:
/// on a worker thread those are plain loads and stores, no locked
/// instruction and no cache line shared with another writer. Readers
/// (scrapes, INFO) add the stripes up. `redynamo_commands_total` is
/// published from these at scrape time ([`CommandStats::publish`]), not
/// through the facade on every command.
pub struct CommandCounters {
    pub name: &'static str,
    /// `PRIVATE_STRIPES` owned stripes, then the shared one.
    stripes: Box<[Cells]>,
    /// `redynamo_commands_total{outcome=…}`, set at scrape time.
    outcomes: [Counter; 4],
    /// The figures INFO counts from: their values at the last RESETSTAT.
    reset_calls: AtomicU64,
    reset_ns: AtomicU64,
    reset_rejected: AtomicU64,
    reset_failed: AtomicU64,
}

impl CommandCounters {
    fn new(name: &'static str, outcomes: [Counter; 4]) -> CommandCounters {
        CommandCounters {
            name,
            stripes: (0..=PRIVATE_STRIPES).map(|_| Cells::new()).collect(),
            outcomes,
            reset_calls: AtomicU64::new(0),
            reset_ns: AtomicU64::new(0),
            reset_rejected: AtomicU64::new(0),
            reset_failed: AtomicU64::new(0),
        }
    }

    fn record(&self, outcome: Outcome, elapsed: Duration) {
        self.record_ns(
            outcome,
            u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX),
        );
    }

    /// Count one command that ended with `outcome` after `ns` nanoseconds
    /// (ignored for a rejected command, which did not run).
    #[inline]
    pub(crate) fn record_ns(&self, outcome: Outcome, ns: u64) {
        self.count(outcome);
        if outcome != Outcome::Rejected {
            self.add_latency(ns);
        }
    }

    /// Count one command that ended with `outcome`; its latency follows
    /// ([`CommandCounters::add_latency`]) unless it was rejected.
    #[inline]
    pub(crate) fn count(&self, outcome: Outcome) {
        self.add(stripe(), OUTCOME_CELLS + outcome as usize, 1);
    }

    /// The latency of one command that ran.
    #[inline]
    pub(crate) fn add_latency(&self, ns: u64) {
        // Most commands land in the first bucket: test it before the scan.
        let bucket = if ns <= LATENCY_BOUNDS_NS[0] {
            0
        } else {
            LATENCY_BOUNDS_NS
                .iter()
                .position(|&bound| ns <= bound)
                .unwrap_or(LATENCY_BOUNDS_NS.len())
        };
        let stripe = stripe();
        self.add(stripe, bucket, 1);
        self.add(stripe, SUM_NS, ns);
    }

    #[inline]
    fn add(&self, stripe: usize, cell: usize, n: u64) {
        let cell = &self.stripes[stripe].0[cell];
        if stripe < PRIVATE_STRIPES {
            // Only this thread writes this cell.
            cell.store(
                cell.load(Ordering::Relaxed).wrapping_add(n),
                Ordering::Relaxed,
            );
        } else {
            cell.fetch_add(n, Ordering::Relaxed);
        }
    }

    /// One cell summed over the stripes.
    fn total(&self, cell: usize) -> u64 {
        self.stripes
            .iter()
            .map(|c| c.0[cell].load(Ordering::Relaxed))
            .fold(0, u64::wrapping_add)
    }

    fn outcome(&self, outcome: Outcome) -> u64 {
        self.total(OUTCOME_CELLS + outcome as usize)
    }

    /// Commands that ran (ok, error or failure), and their nanoseconds.
    /// Counted from outcomes, which are recorded as a command ends; its
    /// latency may be settled a few microseconds later (a run's segment,
    /// see `timing`).
    fn totals(&self) -> (u64, u64) {
        let calls = self.outcome(Outcome::Ok) + self.failed();
        (calls, self.total(SUM_NS))
    }

    fn failed(&self) -> u64 {
        self.outcome(Outcome::Error) + self.outcome(Outcome::Failure)
    }

    fn latency(&self) -> LatencySnapshot {
        let mut cumulative = [0u64; BUCKETS];
        let mut total = 0;
        for (bucket, slot) in cumulative.iter_mut().enumerate() {
            total += self.total(bucket);
            *slot = total;
        }
        LatencySnapshot {
            cumulative,
            sum_seconds: self.total(SUM_NS) as f64 / 1e9,
        }
    }
}

/// All commands' counters, the error-code table, and the Prometheus
/// handles behind them. Built once per server; shared.
pub struct CommandStats {
    /// Every command's counters, `unknown` last.
    all: Box<[CommandCounters]>,
    /// A spec's place in `all`.
    by_spec: HashMap<usize, CounterId, BuildHasherDefault<AddressHasher>>,
    errors: Mutex<BTreeMap<String, u64>>,
}

/// A command's place in its [`CommandStats`]: what the metrics layer keeps
/// of a command while it runs, and what a run's segment lists, instead of
/// a reference (which would need a reference count, or a registry that
/// lives for the process).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct CounterId(pub(crate) u32);

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
            CommandCounters::new(name, outcomes)
        };
        let specs: Vec<&'static CommandSpec> = all_specs().collect();
        let all: Box<[CommandCounters]> = specs
            .iter()
            .map(|s| make(s.name))
            .chain(std::iter::once(make(UNKNOWN_COMMAND)))
            .collect();
        let by_spec = specs
            .iter()
            .enumerate()
            .map(|(i, s)| (spec_key(s), CounterId(i as u32)))
            .collect();
        CommandStats {
            all,
            by_spec,
            errors: Mutex::new(BTreeMap::new()),
        }
    }

    /// The `unknown` command's place.
    fn unknown(&self) -> CounterId {
        CounterId(self.all.len() as u32 - 1)
    }

    fn counters_of(&self, spec: Option<&'static CommandSpec>) -> &CommandCounters {
        self.counters(spec.map_or(self.unknown(), |s| self.counters_for(s)))
    }

    /// The place of a command's counters (a spec the table did not produce
    /// counts as `unknown`).
    pub(crate) fn counters_for(&self, spec: &'static CommandSpec) -> CounterId {
        self.by_spec
            .get(&spec_key(spec))
            .copied()
            .unwrap_or(self.unknown())
    }

    /// The counters at `id`, which [`CommandStats::counters_for`] of this
    /// registry gave.
    #[inline]
    pub(crate) fn counters(&self, id: CounterId) -> &CommandCounters {
        &self.all[id.0 as usize]
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
        self.counters_of(spec).record(outcome, elapsed);
        self.count_error_of(outcome, error);
    }

    /// Count the error code of a command that failed (errorstats): the
    /// code of its error reply, or `ERR` for an infrastructure failure.
    pub(crate) fn count_error_of(&self, outcome: Outcome, error: Option<&Reply>) {
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
            .all
            .iter()
            .map(|c| {
                let (count, ns) = c.totals();
                CommandSnapshot {
                    name: c.name,
                    calls: count.saturating_sub(c.reset_calls.load(Ordering::Relaxed)),
                    usec: ns.saturating_sub(c.reset_ns.load(Ordering::Relaxed)) / 1000,
                    rejected: c
                        .outcome(Outcome::Rejected)
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
            .all
            .iter()
            .map(|c| (c.name, c.latency()))
            .filter(|(_, l)| l.count() > 0)
            .collect();
        out.sort_by_key(|(name, _)| *name);
        out
    }

    /// Publish `redynamo_commands_total` from the counters (called when
    /// `/metrics` is scraped). These figures are never reset.
    pub fn publish(&self) {
        for c in self.all.iter() {
            for (counter, outcome) in c.outcomes.iter().zip(OUTCOMES) {
                counter.absolute(c.outcome(outcome));
            }
        }
    }

    /// Error replies by code (INFO errorstats).
    pub fn errors(&self) -> Vec<(String, u64)> {
        self.errors
            .lock()
            .map(|e| e.iter().map(|(k, v)| (k.clone(), *v)).collect())
            .unwrap_or_default()
    }

    /// CONFIG RESETSTAT. Prometheus counters are never reset (they are
    /// monotonic by contract); only the INFO figures restart.
    pub fn reset(&self) {
        for c in self.all.iter() {
            let (count, ns) = c.totals();
            c.reset_calls.store(count, Ordering::Relaxed);
            c.reset_ns.store(ns, Ordering::Relaxed);
            c.reset_rejected
                .store(c.outcome(Outcome::Rejected), Ordering::Relaxed);
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
        let h = CommandCounters::new("get", std::array::from_fn(|_| Counter::noop()));
        h.record(Outcome::Ok, Duration::from_micros(10)); // on the first bound: in it
        h.record(Outcome::Ok, Duration::from_micros(11));
        h.record(Outcome::Error, Duration::from_millis(3));
        h.record(Outcome::Ok, Duration::from_secs(60)); // past every bound
        h.record(Outcome::Rejected, Duration::ZERO); // not a latency
        let s = h.latency();
        assert_eq!(s.cumulative[0], 1);
        assert_eq!(s.cumulative[1], 2);
        assert_eq!(s.cumulative[7], 2); // le 2.5 ms
        assert_eq!(s.cumulative[8], 3); // le 5 ms
        assert_eq!(s.cumulative[18], 3); // le 10 s
        assert_eq!(s.count(), 4);
        assert!((s.sum_seconds - 60.003021).abs() < 1e-9);
        assert_eq!(h.outcome(Outcome::Ok), 3);
        assert_eq!(h.outcome(Outcome::Rejected), 1);
        assert_eq!(h.failed(), 1);
    }

    #[test]
    fn threads_past_the_private_stripes_share_one_and_lose_nothing() {
        let stats = std::sync::Arc::new(CommandStats::new(&metrics::NoopRecorder));
        let get = crate::command::lookup(b"get");
        let threads = 2 * PRIVATE_STRIPES + 3;
        let per_thread = 2_000u64;
        std::thread::scope(|scope| {
            for _ in 0..threads {
                let stats = stats.clone();
                scope.spawn(move || {
                    for _ in 0..per_thread {
                        stats.record(get, Outcome::Ok, Duration::from_micros(1), None);
                    }
                });
            }
        });
        let info = stats.snapshot().into_iter().find(|s| s.name == "get");
        assert_eq!(info.map(|s| s.calls), Some(threads as u64 * per_thread));
    }
}
