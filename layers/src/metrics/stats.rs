//! Per-command statistics: one registry feeds Prometheus, INFO
//! commandstats / errorstats and SLOWLOG, so they always agree.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use metrics::{Counter, Histogram, Key, Label, Metadata, Recorder};

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

/// Counters of one command.
pub struct CommandCounters {
    pub name: &'static str,
    pub calls: AtomicU64,
    pub usec: AtomicU64,
    /// Redis' rejected_calls: refused before running.
    pub rejected: AtomicU64,
    /// Redis' failed_calls: ran and answered an error, or failed.
    pub failed: AtomicU64,
    outcomes: [Counter; 4],
    latency: Histogram,
}

/// All commands' counters, the error-code table, and the Prometheus
/// handles behind them. Built once per server; shared.
pub struct CommandStats {
    by_spec: HashMap<usize, CommandCounters>,
    unknown: CommandCounters,
    errors: Mutex<BTreeMap<String, u64>>,
}

fn spec_key(spec: &'static CommandSpec) -> usize {
    spec as *const CommandSpec as usize
}

impl CommandStats {
    /// Register a counter per command and outcome, and a latency histogram
    /// per command, with `recorder` (`metrics::NoopRecorder` when metrics
    /// are not exported).
    pub fn new(recorder: &dyn Recorder) -> CommandStats {
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
            let key = Key::from_parts(
                "redynamo_command_duration_seconds",
                vec![Label::new("command", name)],
            );
            CommandCounters {
                name,
                calls: AtomicU64::new(0),
                usec: AtomicU64::new(0),
                rejected: AtomicU64::new(0),
                failed: AtomicU64::new(0),
                outcomes,
                latency: recorder.register_histogram(&key, &meta),
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
        c.outcomes[outcome as usize].increment(1);
        match outcome {
            Outcome::Rejected => {
                c.rejected.fetch_add(1, Ordering::Relaxed);
            }
            _ => {
                c.calls.fetch_add(1, Ordering::Relaxed);
                c.usec
                    .fetch_add(elapsed.as_micros() as u64, Ordering::Relaxed);
                c.latency.record(elapsed.as_secs_f64());
                if outcome != Outcome::Ok {
                    c.failed.fetch_add(1, Ordering::Relaxed);
                }
            }
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
            .map(|c| CommandSnapshot {
                name: c.name,
                calls: c.calls.load(Ordering::Relaxed),
                usec: c.usec.load(Ordering::Relaxed),
                rejected: c.rejected.load(Ordering::Relaxed),
                failed: c.failed.load(Ordering::Relaxed),
            })
            .filter(|s| s.calls + s.rejected > 0)
            .collect();
        out.sort_by_key(|s| s.name);
        out
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
        for c in self.by_spec.values().chain(std::iter::once(&self.unknown)) {
            c.calls.store(0, Ordering::Relaxed);
            c.usec.store(0, Ordering::Relaxed);
            c.rejected.store(0, Ordering::Relaxed);
            c.failed.store(0, Ordering::Relaxed);
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
