//! How the metrics layer times commands without a clock reading each.
//!
//! A command's latency runs from its start to the moment its reply is
//! ready. Taken literally that is two clock readings per command, and on
//! the machines this project runs on a reading (`rdtsc`) costs ~10 ns:
//! ~2% of what a pipelined GET costs the server, system calls included.
//! A layer built [chained](super::MetricsLayer::chained) reads the clock
//! less, in two ways.
//!
//! **Chaining.** A command that a connection runs straight after the
//! previous one — the next command of a pipeline, already read — starts
//! when that one ended: the reading that ends one command starts the
//! next, so a pipeline costs one reading per command. A command's figure
//! then also holds the connection's own work between the two (writing the
//! previous reply into the buffer, building the request: tens of
//! nanoseconds), never a wait.
//!
//! **Runs**, for a backend that answers every command in place (the
//! in-memory store; `runs` in [`MetricsLayer::chained`](super::MetricsLayer::chained)).
//! Consecutive `@fast` commands of at most three arguments (`GET k`,
//! `SET k v`, `INCR k` …) of one client that follow straight on from each
//! other form a *run*, read once per segment of [`RUN_LEN`] commands and
//! at its end instead of once each. Each command is counted as it ends
//! (INFO `calls`, `redynamo_commands_total`); its latency is settled when
//! its segment is read:
//!
//! - a segment that took at most 10 µs (the first histogram bucket, the
//!   case of nearly every segment) puts each of its commands in that
//!   bucket — where a reading each would have put them, since none can
//!   have taken longer than the whole — and shares its time evenly
//!   between them in the latency sums (INFO `usec`), whose total is exact;
//! - a longer segment is a stall: an O(1) command on a local store takes
//!   well under a microsecond, so the thread was descheduled or
//!   interrupted. It is charged whole to the command that ended the
//!   segment (the others count as instant), and that command is logged in
//!   the SLOWLOG if the stall was long enough — by name only: a run keeps
//!   no arguments, which is what makes it cheap.
//!
//! A run forms only while the SLOWLOG threshold is off or above 10 µs, so
//! a segment in the first bucket never hides a command the log must show.
//! Any other command (`@slow`, longer, or under a lower threshold) ends
//! the run and is timed on its own, with its line kept for the log, as is
//! a command of a run that has to wait after all (its future is pending;
//! its log entry, if any, then shows its name only).
//!
//! The connection driving the stack keeps all this true by calling
//! [`end_run`] whenever the next command does not follow straight on:
//! after every wait (reading the socket), before flushing replies (so a
//! reply is never seen before its command is settled) and before other
//! work of its own (decoding a batch ahead, a session command). The layer
//! ends the run itself when a command has to wait or the stack is not
//! ready. A run belongs to one client and one layer: a command never joins
//! or starts from another's, even if a driver forgets a call, and requests
//! of the server's own (client id 0) are never chained.

use std::cell::Cell;

use super::{CommandCounters, Shared, LATENCY_BOUNDS_NS};

/// Commands in a run's segment before it is read.
pub const RUN_LEN: usize = 8;

/// A segment that took at most this long put every command in the first
/// latency bucket.
const FIRST_BOUND_NS: u64 = LATENCY_BOUNDS_NS[0];

/// A slow-log threshold (µs) at or below which runs are not formed: a
/// segment within the first bucket could hide a command the log must show.
pub(crate) const RUN_SLOWLOG_FLOOR_US: i64 = (FIRST_BOUND_NS / 1000) as i64;

/// This thread's run: the client's last reading, and the commands of the
/// open segment.
struct Run {
    /// The layer the run belongs to; None when there is no run.
    shared: Cell<Option<&'static Shared>>,
    /// Its client.
    owner: Cell<u64>,
    /// The reading the open segment, or the next command timed on its
    /// own, starts from.
    start: Cell<u64>,
    /// Commands ended in the open segment (their outcomes are counted).
    len: Cell<usize>,
    members: [Cell<Option<&'static CommandCounters>>; RUN_LEN],
}

impl Run {
    fn is(&self, shared: &'static Shared, client: u64) -> bool {
        self.owner.get() == client && self.shared.get().is_some_and(|s| std::ptr::eq(s, shared))
    }

    fn open(&self, shared: &'static Shared, client: u64, now: u64) {
        self.shared.set(Some(shared));
        self.owner.set(client);
        self.start.set(now);
    }

    /// Settle the open segment's latencies with the reading `now`.
    fn close(&self, now: u64) {
        let len = self.len.replace(0);
        let Some(shared) = self.shared.get() else {
            return;
        };
        if len == 0 {
            return;
        }
        let total = nanos(shared, self.start.get(), now);
        let members = self.members[..len].iter().filter_map(Cell::get);
        if total <= FIRST_BOUND_NS {
            let share = total / len as u64;
            let mut rest = total - share * len as u64;
            for counters in members {
                counters.add_latency(share + std::mem::take(&mut rest));
            }
        } else {
            for (i, counters) in members.enumerate() {
                if i + 1 < len {
                    counters.add_latency(0);
                } else {
                    counters.add_latency(total);
                    if shared.slowlog.is_slow_ns(total) {
                        shared.slowlog.push_stall(counters.name, total);
                    }
                }
            }
        }
    }
}

thread_local! {
    static RUN: Run = const {
        Run {
            shared: Cell::new(None),
            owner: Cell::new(0),
            start: Cell::new(0),
            len: Cell::new(0),
            members: [const { Cell::new(None) }; RUN_LEN],
        }
    };
}

/// The next command this thread runs does not follow straight on from the
/// last one: the open run's segment is read and settled, and the next
/// command starts from a reading of its own.
///
/// A connection driving a [chained](super::MetricsLayer::chained) metrics
/// layer calls this after every wait, before flushing replies and before
/// any work of its own between commands (see the module docs). Cheap when
/// no command joined a run since: a few thread-local loads and stores.
#[inline]
pub fn end_run() {
    RUN.with(|run| {
        if let Some(shared) = run.shared.get() {
            if run.len.get() > 0 {
                run.close(shared.clock.raw());
            }
            run.shared.set(None);
        }
    });
}

/// The reading a command of `client` timed on its own starts from.
#[inline]
pub(crate) fn start(shared: &'static Shared, client: u64) -> u64 {
    if !shared.chained || client == 0 {
        return shared.clock.raw();
    }
    RUN.with(|run| {
        if run.is(shared, client) && run.len.get() == 0 {
            return run.start.get();
        }
        // End the open run (this client's, or a stranger's if a driver
        // forgot to) and start from here.
        let now = shared.clock.raw();
        run.close(now);
        run.open(shared, client, now);
        now
    })
}

/// Read the clock as a command of `client` timed on its own ends; a
/// chained layer starts the client's next command from this reading.
#[inline]
pub(crate) fn end(shared: &'static Shared, client: u64) -> u64 {
    let now = shared.clock.raw();
    if shared.chained && client != 0 {
        RUN.with(|run| {
            run.close(now);
            run.open(shared, client, now);
        });
    }
    now
}

/// A command of `client` joins its run (one opens if there is none).
#[inline]
pub(crate) fn join(shared: &'static Shared, client: u64) {
    RUN.with(|run| {
        if !run.is(shared, client) {
            let now = shared.clock.raw();
            run.close(now);
            run.open(shared, client, now);
        }
    });
}

/// A command that joined its client's run ended: its latency is settled
/// with its segment's.
#[inline]
pub(crate) fn joined_ended(
    shared: &'static Shared,
    client: u64,
    counters: &'static CommandCounters,
) {
    RUN.with(|run| {
        if !run.is(shared, client) {
            // The run ended between the command's call and its end, which
            // a driver that polls at once never lets happen: count it as
            // instant rather than guess.
            counters.add_latency(0);
            return;
        }
        let len = run.len.get();
        run.members[len].set(Some(counters));
        if len + 1 == RUN_LEN {
            run.len.set(RUN_LEN);
            let now = shared.clock.raw();
            run.close(now);
            run.start.set(now);
        } else {
            run.len.set(len + 1);
        }
    });
}

/// A command that joined its client's run has to wait after all: the run
/// ends here, and the command is timed on its own from the reading
/// returned.
#[inline]
pub(crate) fn joined_waits(shared: &'static Shared) -> u64 {
    let now = shared.clock.raw();
    RUN.with(|run| {
        run.close(now);
        run.shared.set(None);
    });
    now
}

/// Nanoseconds between two readings: one multiply by the clock's scale,
/// taken once when the layer is built ([`ns_per_2_32_ticks`]).
#[inline]
pub(crate) fn nanos(shared: &Shared, start: u64, end: u64) -> u64 {
    let ticks = end.saturating_sub(start);
    ((u128::from(ticks) * u128::from(shared.ns_per_2_32_ticks)) >> 32) as u64
}

/// The clock's scale: nanoseconds in 2^32 raw ticks (2^32 when a raw
/// reading is in nanoseconds already, as it is without a usable TSC).
pub(crate) fn ns_per_2_32_ticks(clock: &quanta::Clock) -> u64 {
    clock.delta_as_nanos(0, 1 << 32)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use tower::{Layer, Service, ServiceExt};

    use super::*;
    use crate::metrics::{CommandStats, MetricsLayer, SlowLog};
    use crate::{BoxError, ClientInfo, Reply, Request};

    /// A store that answers at once, after sleeping (the thread, as a stall
    /// would) for a `GET stall`.
    fn leaf() -> impl Service<Request, Response = Reply, Error = BoxError, Future: Unpin> + Clone {
        tower::service_fn(|req: Request| {
            if req.command.args.get(1).is_some_and(|k| &k[..] == b"stall") {
                std::thread::sleep(Duration::from_millis(15));
            }
            std::future::ready(Ok::<_, BoxError>(Reply::ok()))
        })
    }

    fn request(client: &Arc<ClientInfo>, line: &[&str]) -> Request {
        let mut req = Request::from_line(line).expect("a command");
        req.client = client.clone();
        req
    }

    struct Setup {
        stats: Arc<CommandStats>,
        slowlog: Arc<SlowLog>,
        client: Arc<ClientInfo>,
    }

    fn setup(slowlog_us: i64) -> Setup {
        end_run();
        Setup {
            stats: Arc::new(CommandStats::new(&metrics::NoopRecorder)),
            slowlog: Arc::new(SlowLog::new(slowlog_us, 16)),
            client: Arc::new(ClientInfo::new(7, None)),
        }
    }

    fn get_latency(stats: &CommandStats) -> crate::metrics::LatencySnapshot {
        stats
            .latencies()
            .into_iter()
            .find(|(name, _)| *name == "get")
            .map(|(_, l)| l)
            .expect("get ran")
    }

    /// `GET key` for each key, one after another as a connection sends them.
    async fn get_each<S>(svc: &mut S, client: &Arc<ClientInfo>, keys: &[&str])
    where
        S: Service<Request, Response = Reply, Error = BoxError>,
    {
        for key in keys {
            let req = request(client, &["GET", key]);
            assert_eq!(
                svc.ready().await.unwrap().call(req).await.unwrap(),
                Reply::ok()
            );
        }
    }

    fn get_calls(stats: &CommandStats) -> u64 {
        stats
            .snapshot()
            .iter()
            .find(|s| s.name == "get")
            .map_or(0, |s| s.calls)
    }

    #[tokio::test]
    async fn a_run_counts_every_command_at_once_and_settles_them_in_segments() {
        let s = setup(10_000);
        let mut svc = MetricsLayer::chained(s.stats.clone(), s.slowlog.clone(), true).layer(leaf());
        let n = 2 * RUN_LEN + 3;
        for _ in 0..n {
            let req = request(&s.client, &["GET", "k"]);
            assert_eq!(
                svc.ready().await.unwrap().call(req).await.unwrap(),
                Reply::ok()
            );
        }
        // Counted as they ended; two full segments settled.
        assert_eq!(get_calls(&s.stats), n as u64);
        assert_eq!(get_latency(&s.stats).count(), 2 * RUN_LEN as u64);
        // The connection ends the run before it flushes the replies.
        end_run();
        let latency = get_latency(&s.stats);
        assert_eq!(latency.count(), n as u64);
        // In the first bucket, but for at most the command that ended each
        // of the three segments, if its segment was slow (a debug build on
        // a busy machine may take 10 µs for eight).
        assert!(latency.cumulative[0] >= n as u64 - 3, "{latency:?}");
        assert_eq!(s.slowlog.len(), 0);
    }

    #[tokio::test]
    async fn a_stall_in_a_run_is_charged_to_the_command_that_ends_its_segment() {
        let s = setup(10_000);
        let mut svc = MetricsLayer::chained(s.stats.clone(), s.slowlog.clone(), true).layer(leaf());
        get_each(&mut svc, &s.client, &["a", "stall", "b"]).await;
        end_run();
        let latency = get_latency(&s.stats);
        assert_eq!(latency.count(), 3);
        assert_eq!(latency.cumulative[0], 2, "two count as instant");
        assert!(latency.sum_seconds >= 0.015, "{latency:?}");
        // Logged by name only: a run keeps no arguments.
        let entries = s.slowlog.get(10);
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0].args, vec![bytes::Bytes::from("get")]);
        assert!(entries[0].micros >= 15_000, "{:?}", entries[0]);
    }

    #[tokio::test]
    async fn with_a_low_slowlog_threshold_every_command_is_timed_with_its_line() {
        // 10 µs or less: a segment in the first bucket could hide a slow
        // command, so none forms.
        let s = setup(10);
        let mut svc = MetricsLayer::chained(s.stats.clone(), s.slowlog.clone(), true).layer(leaf());
        get_each(&mut svc, &s.client, &["a", "stall", "b"]).await;
        // Each was settled as it ended, the stall where it happened.
        let latency = get_latency(&s.stats);
        assert_eq!(latency.count(), 3);
        let stalled: Vec<_> = s
            .slowlog
            .get(10)
            .into_iter()
            .filter(|e| e.micros >= 15_000)
            .collect();
        assert_eq!(stalled.len(), 1);
        assert_eq!(
            stalled[0].args,
            vec![bytes::Bytes::from("GET"), bytes::Bytes::from("stall")]
        );
    }

    #[tokio::test]
    async fn runs_never_mix_clients_and_a_slow_command_ends_the_run() {
        let s = setup(10_000);
        let other = Arc::new(ClientInfo::new(8, None));
        let mut svc = MetricsLayer::chained(s.stats.clone(), s.slowlog.clone(), true).layer(leaf());
        for client in [&s.client, &other, &s.client] {
            let req = request(client, &["GET", "k"]);
            svc.ready().await.unwrap().call(req).await.unwrap();
        }
        // Each change of client settled the run before it.
        assert_eq!(get_latency(&s.stats).count(), 2);
        // KEYS is @slow: timed on its own, after settling the run.
        let req = request(&s.client, &["KEYS", "*"]);
        svc.ready().await.unwrap().call(req).await.unwrap();
        assert_eq!(get_latency(&s.stats).count(), 3);
        end_run();
    }
}
