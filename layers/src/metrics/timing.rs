//! How the metrics layer times commands without a clock reading each.
//!
//! A command's latency runs from its start to the moment its reply is
//! ready. Taken literally that is two clock readings per command, and on
//! the machines this project runs on a reading (`rdtsc`) costs ~10 ns:
//! ~2% of what a pipelined GET costs the server, system calls included.
//! A layer built [chained](super::MetricsLayer::chained) reads the clock
//! less, in two ways, for the commands of a client whose connection says
//! they follow straight on from each other (its [`RunTimer`], below).
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
//! # The run timer: the contract with the connection
//!
//! The state of a client's run (the reading the next command may start
//! from, the commands of the open segment) lives in its [`RunTimer`],
//! which every [`ClientInfo`](crate::ClientInfo) carries (`timing`), so
//! it travels in every [`Request`](crate::Request) at no cost: the layer
//! reaches it through the request's client, and the connection through its
//! own. One connection runs one command at a time, so the timer's fields
//! are uncontended atomics read and written with plain loads and stores
//! (a task may move between threads between commands; it never runs two).
//!
//! - **Chaining is opt-in.** A command chains or joins a run only while
//!   its connection holds the guard of [`RunTimer::follow_on`], which says
//!   "the commands called from now on were read already and run one after
//!   another". Dropping the guard ends the run. A driver that knows
//!   nothing of this (a test calling the stack, a new kind of connection,
//!   requests of the server's own with client id 0) gets every command
//!   timed on its own from two readings, as by [`MetricsLayer::new`](super::MetricsLayer::new):
//!   nothing it forgets can make a figure wrong.
//! - **While it holds the guard**, the connection calls
//!   [`RunTimer::end_run`] wherever the next command does not follow on:
//!   before it makes replies visible (its flush: a reply is never seen
//!   before its command is settled), before it waits for input, and
//!   before work of its own between commands (decoding a batch ahead, a
//!   session command), which would otherwise be charged to the next
//!   command. The server's connection does it in `flush` and `read_more`,
//!   the two places every reply and every read pass through, and in those
//!   two kinds of own work.
//! - **The layer ends the run itself** when a command has to wait (its
//!   future is pending), when the stack is not ready, and when a service
//!   gets a command of another client than the last one's.
//!
//! A timer belongs to the first chained layer that times one of its
//! client's commands (a client is served by one stack); another layer
//! times that client's commands on their own.
//!
//! The layer calls the stack below it and polls the call once, with a
//! no-op waker, inside [`Service::call`](tower_service::Service::call): a
//! command answered in place (the in-memory store, a cache hit) is timed
//! and counted there, with the layer's own references, so its future holds
//! no reference to anything and costs no reference count. A command that
//! is not answered yet gets a future that holds the layer's and its
//! client's references and polls the call again, with the caller's waker,
//! the first time it is polled (which the caller must do to get the reply),
//! so no wake-up is lost.

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, OnceLock};

use super::stats::CounterId;
use super::{Shared, LATENCY_BOUNDS_NS};

/// Commands in a run's segment before it is read.
pub const RUN_LEN: usize = 8;

/// A segment that took at most this long put every command in the first
/// latency bucket.
const FIRST_BOUND_NS: u64 = LATENCY_BOUNDS_NS[0];

/// A slow-log threshold (µs) at or below which runs are not formed: a
/// segment within the first bucket could hide a command the log must show.
pub(crate) const RUN_SLOWLOG_FLOOR_US: i64 = (FIRST_BOUND_NS / 1000) as i64;

/// One client's run: where its commands that follow straight on from each
/// other are timed together (see the module docs for the contract).
///
/// Cheap: a few words, no allocation; a client that never follows on
/// costs nothing else.
pub struct RunTimer {
    /// The layer whose runs these are: the first chained layer that timed
    /// one of the client's commands.
    layer: OnceLock<Arc<Shared>>,
    /// Whether the connection holds a [`FollowOn`] guard.
    follows: AtomicBool,
    /// Whether a run is open: `start` is a reading the next command may
    /// start from.
    open: AtomicBool,
    /// The reading the open segment, or the next command timed on its
    /// own, starts from.
    start: AtomicU64,
    /// Commands ended in the open segment (their outcomes are counted).
    len: AtomicUsize,
    /// Their counters.
    members: [AtomicU32; RUN_LEN],
}

impl Default for RunTimer {
    fn default() -> Self {
        RunTimer::new()
    }
}

impl fmt::Debug for RunTimer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RunTimer")
            .field("follows", &self.follows.load(Relaxed))
            .field("open", &self.open.load(Relaxed))
            .field("len", &self.len.load(Relaxed))
            .finish_non_exhaustive()
    }
}

/// While it lives, the commands its client's connection calls follow
/// straight on from each other ([`RunTimer::follow_on`]); dropping it ends
/// the run.
#[must_use = "commands follow on only while the guard lives"]
pub struct FollowOn<'a> {
    timer: &'a RunTimer,
}

impl Drop for FollowOn<'_> {
    fn drop(&mut self) {
        self.timer.end_run();
        self.timer.follows.store(false, Relaxed);
    }
}

impl RunTimer {
    pub const fn new() -> RunTimer {
        RunTimer {
            layer: OnceLock::new(),
            follows: AtomicBool::new(false),
            open: AtomicBool::new(false),
            start: AtomicU64::new(0),
            len: AtomicUsize::new(0),
            members: [const { AtomicU32::new(0) }; RUN_LEN],
        }
    }

    /// The connection is about to run commands it has read already, one
    /// after another: until the guard is dropped, each may start where the
    /// previous one ended, and O(1) ones may form runs. The first starts
    /// from a reading of its own.
    pub fn follow_on(&self) -> FollowOn<'_> {
        self.end_run();
        self.follows.store(true, Relaxed);
        FollowOn { timer: self }
    }

    /// The next command does not follow straight on from the last one: the
    /// open run's segment is read and settled, and the next command starts
    /// from a reading of its own. Call it before replies become visible,
    /// before waiting, and before work of the connection's own (see the
    /// module docs). Cheap when no command joined a run since: a load or
    /// two.
    #[inline]
    pub fn end_run(&self) {
        if self.open.load(Relaxed) {
            if let Some(shared) = self.layer.get() {
                self.settle(shared);
            }
            self.open.store(false, Relaxed);
        }
    }

    /// Whether this timer is `shared`'s (binding it to `shared` if it is
    /// nobody's yet).
    pub(crate) fn bind(&self, shared: &Arc<Shared>) -> bool {
        Arc::ptr_eq(self.layer.get_or_init(|| shared.clone()), shared)
    }

    /// Whether the connection holds a [`FollowOn`] guard.
    #[inline]
    pub(crate) fn follows(&self) -> bool {
        self.follows.load(Relaxed)
    }

    /// Settle the open segment, if it has commands, with a new reading.
    fn settle(&self, shared: &Shared) {
        if self.len.load(Relaxed) > 0 {
            self.close(shared, shared.clock.raw());
        }
    }

    fn open_at(&self, now: u64) {
        self.start.store(now, Relaxed);
        self.open.store(true, Relaxed);
    }

    /// Settle the open segment's latencies with the reading `now`.
    fn close(&self, shared: &Shared, now: u64) {
        let len = self.len.swap_plain(0);
        if len == 0 {
            return;
        }
        let total = nanos(shared, self.start.load(Relaxed), now);
        let members = self.members[..len]
            .iter()
            .map(|m| shared.stats.counters(CounterId(m.load(Relaxed))));
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

    /// The reading a command timed on its own starts from.
    #[inline]
    pub(crate) fn start(&self, shared: &Shared) -> u64 {
        if self.open.load(Relaxed) && self.len.load(Relaxed) == 0 {
            return self.start.load(Relaxed);
        }
        // End the open run and start from here.
        let now = shared.clock.raw();
        self.close(shared, now);
        self.open_at(now);
        now
    }

    /// Read the clock as a command timed on its own ends; while the
    /// connection follows on, the next command starts from this reading.
    #[inline]
    pub(crate) fn end(&self, shared: &Shared) -> u64 {
        let now = shared.clock.raw();
        self.close(shared, now);
        if self.follows() {
            self.open_at(now);
        } else {
            self.open.store(false, Relaxed);
        }
        now
    }

    /// A command joins the run (one opens if there is none).
    #[inline]
    pub(crate) fn join(&self, shared: &Shared) {
        if !self.open.load(Relaxed) {
            let now = shared.clock.raw();
            self.close(shared, now);
            self.open_at(now);
        }
    }

    /// A command that joined the run ended: its latency is settled with
    /// its segment's.
    #[inline]
    pub(crate) fn joined_ended(&self, shared: &Shared, counters: CounterId) {
        let len = self.len.load(Relaxed);
        self.members[len].store(counters.0, Relaxed);
        if len + 1 == RUN_LEN {
            self.len.store(RUN_LEN, Relaxed);
            let now = shared.clock.raw();
            self.close(shared, now);
            self.start.store(now, Relaxed);
        } else {
            self.len.store(len + 1, Relaxed);
        }
    }

    /// A command that joined the run has to wait after all: the run ends
    /// here, and the command is timed on its own from the reading
    /// returned.
    #[inline]
    pub(crate) fn joined_waits(&self, shared: &Shared) -> u64 {
        let now = shared.clock.raw();
        self.close(shared, now);
        self.open.store(false, Relaxed);
        now
    }
}

/// A load and a store: the timer has one writer at a time (its client's
/// connection), so a read-modify-write needs no locked instruction.
trait SwapPlain {
    fn swap_plain(&self, to: usize) -> usize;
}

impl SwapPlain for AtomicUsize {
    #[inline]
    fn swap_plain(&self, to: usize) -> usize {
        let was = self.load(Relaxed);
        self.store(to, Relaxed);
        was
    }
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
        let _follow = s.client.timing.follow_on();
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
        s.client.timing.end_run();
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
        let _follow = s.client.timing.follow_on();
        get_each(&mut svc, &s.client, &["a", "stall", "b"]).await;
        s.client.timing.end_run();
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
        let _follow = s.client.timing.follow_on();
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
    async fn without_the_follow_on_guard_every_command_is_timed_on_its_own() {
        let s = setup(10_000);
        let mut svc = MetricsLayer::chained(s.stats.clone(), s.slowlog.clone(), true).layer(leaf());
        // A driver that knows nothing of runs, and the server's own client.
        let internal = ClientInfo::internal();
        for client in [&s.client, &internal] {
            get_each(&mut svc, client, &["a", "b", "c"]).await;
        }
        // Each settled as it ended: no run was left open to settle.
        assert_eq!(get_latency(&s.stats).count(), 6);
        // Once the guard is dropped, the run it allowed is settled too.
        {
            let _follow = s.client.timing.follow_on();
            get_each(&mut svc, &s.client, &["a", "b"]).await;
            assert_eq!(get_latency(&s.stats).count(), 6);
        }
        assert_eq!(get_latency(&s.stats).count(), 8);
    }

    #[tokio::test]
    async fn runs_never_mix_clients_and_a_slow_command_ends_the_run() {
        let s = setup(10_000);
        let other = Arc::new(ClientInfo::new(8, None));
        let mut svc = MetricsLayer::chained(s.stats.clone(), s.slowlog.clone(), true).layer(leaf());
        let _follow = (s.client.timing.follow_on(), other.timing.follow_on());
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
        s.client.timing.end_run();
    }
}
