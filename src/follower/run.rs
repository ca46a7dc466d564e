//! The follower's loop: shard lineage, one reader task per shard, and the
//! staleness gate.
//!
//! This file is longer than ~600 lines on purpose: the shard lineage
//! (parents before children), the per-shard readers and the staleness gate
//! share one state and one shutdown, and read best together.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use metrics::{Counter, Gauge};
use parking_lot::Mutex;
use rand::Rng;
use redynamo_layers::metrics::Telemetry;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use super::source::{ChangeSink, EventKind, Position, ShardInfo, StreamError, StreamsApi};
use super::{FollowerConfig, FollowerStatus};

/// Wall-clock milliseconds, read from tokio's clock so that tests with
/// paused time see records, polls and lags on one (virtual) time line.
#[derive(Clone, Copy, Debug)]
pub struct Clock {
    wall0_ms: u64,
    t0: Instant,
}

impl Clock {
    pub fn new() -> Clock {
        let wall0_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        Clock {
            wall0_ms,
            t0: Instant::now(),
        }
    }

    pub fn now_ms(&self) -> u64 {
        self.wall0_ms + self.t0.elapsed().as_millis() as u64
    }
}

impl Default for Clock {
    fn default() -> Clock {
        Clock::new()
    }
}

/// Which shards to read, in which order, from where.
///
/// Invariants: a shard is started at most once; a shard whose parent is
/// known and not finished is not started (parents before children);
/// shards present at the first listing start at LATEST (the cache starts
/// empty, their history is not needed) and closed ones are skipped; shards
/// that appear later start at TRIM_HORIZON, so nothing between a parent's
/// end and its child's start is lost.
#[derive(Debug, Default)]
pub struct Lineage {
    known: BTreeMap<String, ShardInfo>,
    started: HashSet<String>,
    finished: HashSet<String>,
    listed: bool,
}

impl Lineage {
    /// Take in a listing; the shards to start now.
    pub fn update(&mut self, shards: Vec<ShardInfo>) -> Vec<(ShardInfo, Position)> {
        let first = !self.listed;
        self.listed = true;
        // Shards trimmed away are forgotten, unless being read.
        let listed: HashSet<&str> = shards.iter().map(|s| s.id.as_str()).collect();
        self.known.retain(|id, _| listed.contains(id.as_str()));
        self.finished.retain(|id| listed.contains(id.as_str()));
        for shard in shards {
            if first {
                self.started.insert(shard.id.clone());
                if shard.closed {
                    self.finished.insert(shard.id.clone());
                }
            }
            self.known.entry(shard.id.clone()).or_insert(shard);
        }
        if first {
            return self
                .known
                .values()
                .filter(|s| !s.closed)
                .map(|s| (s.clone(), Position::Latest))
                .collect();
        }
        self.ready()
    }

    /// A shard was read to its end; the children that may start now.
    pub fn finish(&mut self, id: &str) -> Vec<(ShardInfo, Position)> {
        self.finished.insert(id.to_string());
        self.ready()
    }

    /// Forget everything (the stream was replaced): the next listing is
    /// a first one again.
    pub fn reset(&mut self) {
        *self = Lineage::default();
    }

    fn ready(&mut self) -> Vec<(ShardInfo, Position)> {
        let ready: Vec<ShardInfo> = self
            .known
            .values()
            .filter(|s| !self.started.contains(&s.id))
            .filter(|s| match &s.parent {
                // A parent no longer listed was trimmed: long finished.
                Some(p) => self.finished.contains(p) || !self.known.contains_key(p),
                None => true,
            })
            .cloned()
            .collect();
        for s in &ready {
            self.started.insert(s.id.clone());
        }
        ready
            .into_iter()
            .map(|s| (s, Position::TrimHorizon))
            .collect()
    }
}

/// How far one shard has been applied.
#[derive(Clone, Debug)]
struct ShardProgress {
    /// Every change made before this time (Unix ms) has been applied: the
    /// start of the last read that came back empty, or the creation time
    /// of the last record applied, whichever is later.
    applied_until: u64,
    /// The last call failed (cleared by a success).
    error: Option<String>,
    /// Read to its end; kept until a child takes over, so a child that
    /// does not show up makes the lag grow.
    closed: bool,
    /// A read succeeded: the reader holds a position. Until then a LATEST
    /// start has no position, and writes made before it would be missed.
    positioned: bool,
}

/// The gate's view of every shard, shared by the readers and the loop.
#[derive(Debug)]
pub struct Gate {
    shards: HashMap<String, ShardProgress>,
    /// Reads are refused since this time (Unix ms): start-up, data lost,
    /// or the lag went past the bound. Cleared once every shard has
    /// applied everything up to a later time.
    dirty_since: Option<u64>,
    /// A listing succeeded (shards are known).
    listed: bool,
    list_error: Option<String>,
    /// The cache has served since start-up.
    ever_served: bool,
    pub lag_ms: u64,
    pub status: FollowerStatus,
}

/// What the gate asks of the sink.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Keep,
    Stop,
    Resume,
}

impl Gate {
    pub fn new(now: u64) -> Gate {
        Gate {
            shards: HashMap::new(),
            dirty_since: Some(now),
            listed: false,
            list_error: None,
            ever_served: false,
            lag_ms: 0,
            status: FollowerStatus::Starting,
        }
    }

    fn reader_started(&mut self, id: &str, parent: Option<&str>, now: u64) {
        // A child continues where its parent ended.
        let from = parent
            .and_then(|p| self.shards.remove(p))
            .map_or(now, |p| p.applied_until);
        self.shards.insert(
            id.to_string(),
            ShardProgress {
                applied_until: from,
                error: None,
                closed: false,
                positioned: false,
            },
        );
    }

    fn progressed(&mut self, id: &str, until: u64) {
        if let Some(s) = self.shards.get_mut(id) {
            s.applied_until = s.applied_until.max(until);
            s.error = None;
            s.positioned = true;
        }
    }

    fn failed(&mut self, id: &str, reason: String) {
        if let Some(s) = self.shards.get_mut(id) {
            s.error = Some(reason);
        }
    }

    fn closed(&mut self, id: &str) {
        if let Some(s) = self.shards.get_mut(id) {
            s.closed = true;
        }
    }

    /// Changes may have been missed: refuse reads until everything from
    /// now on has been applied, then clear.
    pub fn gap(&mut self, now: u64) {
        self.dirty_since = Some(self.dirty_since.map_or(now, |d| d.max(now)));
    }

    /// Decide, at `now`, whether the cache may serve.
    pub fn evaluate(&mut self, now: u64, bound_ms: u64) -> Verdict {
        let oldest = self.shards.values().map(|s| s.applied_until).min();
        self.lag_ms = oldest.map_or(0, |o| now.saturating_sub(o));
        let mut verdict = Verdict::Keep;
        match self.dirty_since {
            None if self.lag_ms > bound_ms => {
                self.dirty_since = Some(now);
                verdict = Verdict::Stop;
            }
            None => {}
            Some(since) => {
                let caught_up = self.listed
                    && self.lag_ms <= bound_ms
                    && self
                        .shards
                        .values()
                        .all(|s| s.positioned && s.applied_until >= since);
                if caught_up {
                    self.dirty_since = None;
                    self.ever_served = true;
                    verdict = Verdict::Resume;
                }
            }
        }
        let error = self
            .list_error
            .clone()
            .or_else(|| self.shards.values().find_map(|s| s.error.clone()));
        let lag = Duration::from_millis(self.lag_ms);
        self.status = match (self.dirty_since, error) {
            (None, _) => FollowerStatus::Following { lag },
            (Some(_), Some(reason)) => FollowerStatus::Failing { reason, lag },
            (Some(_), None) if !self.ever_served => FollowerStatus::Starting,
            (Some(_), None) => FollowerStatus::Behind { lag },
        };
        verdict
    }

    /// Shards being read (closed ones waiting for a child excluded).
    pub fn shard_count(&self) -> usize {
        self.shards.values().filter(|s| !s.closed).count()
    }

    pub fn is_dirty(&self) -> bool {
        self.dirty_since.is_some()
    }
}

/// The follower's metrics.
#[derive(Clone)]
pub(crate) struct Metrics {
    records: [Counter; 3],
    renewals: Counter,
    errors: HashMap<&'static str, Counter>,
    shards: Gauge,
    lag: Gauge,
    serving: Gauge,
}

impl Metrics {
    pub(crate) fn new(t: &Telemetry) -> Metrics {
        let records =
            |e: EventKind| t.counter("redynamo_follower_records_total", &[("event", e.label())]);
        let kinds = [
            StreamError::ExpiredIterator,
            StreamError::Trimmed(String::new()),
            StreamError::Throttled(String::new()),
            StreamError::StreamGone(String::new()),
            StreamError::Unavailable(String::new()),
        ];
        Metrics {
            records: [
                records(EventKind::Insert),
                records(EventKind::Modify),
                records(EventKind::Remove),
            ],
            renewals: t.counter("redynamo_follower_iterator_renewals_total", &[]),
            errors: kinds
                .iter()
                .map(|k| {
                    (
                        k.label(),
                        t.counter("redynamo_follower_errors_total", &[("kind", k.label())]),
                    )
                })
                .collect(),
            shards: t.gauge("redynamo_follower_shards", &[]),
            lag: t.gauge("redynamo_follower_lag_seconds", &[]),
            serving: t.gauge("redynamo_cache_serving", &[]),
        }
    }

    fn record(&self, e: EventKind) {
        let i = match e {
            EventKind::Insert => 0,
            EventKind::Modify => 1,
            EventKind::Remove => 2,
        };
        self.records[i].increment(1);
    }

    fn error(&self, e: &StreamError) {
        if let Some(c) = self.errors.get(e.label()) {
            c.increment(1);
        }
    }
}

/// Exponential backoff with jitter (half fixed, half random), so that
/// readers throttled together do not retry together.
struct Backoff {
    base: Duration,
    max: Duration,
    attempt: u32,
}

impl Backoff {
    fn new(base: Duration, max: Duration) -> Backoff {
        Backoff {
            base,
            max,
            attempt: 0,
        }
    }

    fn next(&mut self) -> Duration {
        let cap = self
            .base
            .saturating_mul(1u32 << self.attempt.min(16))
            .min(self.max);
        self.attempt += 1;
        let half = cap / 2;
        half + rand::thread_rng().gen_range(Duration::ZERO..=half)
    }

    fn reset(&mut self) {
        self.attempt = 0;
    }
}

/// Everything the loop and the readers share.
pub(crate) struct Shared<A, K> {
    pub api: A,
    pub sink: K,
    pub config: FollowerConfig,
    pub gate: Mutex<Gate>,
    pub clock: Clock,
    pub metrics: Metrics,
}

impl<A: StreamsApi, K: ChangeSink> Shared<A, K> {
    /// Apply the gate's verdict to the sink and the metrics.
    fn judge(&self) {
        let now = self.clock.now_ms();
        let (verdict, lag, shards) = {
            let mut gate = self.gate.lock();
            let verdict = gate.evaluate(now, self.config.max_staleness.as_millis() as u64);
            (verdict, gate.lag_ms, gate.shards.len())
        };
        match verdict {
            Verdict::Stop => {
                warn!(lag_ms = lag, "streams follower behind: cache stops serving");
                self.sink.stop_serving();
            }
            Verdict::Resume => {
                info!(
                    lag_ms = lag,
                    "streams follower caught up: cache cleared and serving"
                );
                self.sink.resume_serving();
            }
            Verdict::Keep => {}
        }
        self.metrics.lag.set(lag as f64 / 1000.0);
        self.metrics.shards.set(shards as f64);
        self.metrics
            .serving
            .set(if self.sink.is_serving() { 1.0 } else { 0.0 });
    }

    fn gap(&self, why: &str) {
        warn!(
            why,
            "streams follower may have missed changes: cache cleared once caught up"
        );
        self.gate.lock().gap(self.clock.now_ms());
        self.sink.stop_serving();
    }
}

/// The most records one GetRecords returns (DynamoDB's limit).
const FULL_BATCH: usize = 1000;

/// How a reader ended.
enum ReaderEnd {
    /// The shard is closed and fully applied.
    Closed(String),
    /// The stream is gone: start over.
    StreamGone,
}

/// Read one shard until it closes.
async fn read_shard<A: StreamsApi, K: ChangeSink>(
    shared: Arc<Shared<A, K>>,
    shard: String,
    start: Position,
) -> ReaderEnd {
    let config = &shared.config;
    let mut backoff = Backoff::new(config.backoff_base, config.backoff_max);
    let mut position = start.clone();
    let mut iterator: Option<String> = None;
    let mut last_sequence: Option<String> = None;
    loop {
        let it = match iterator.take() {
            Some(it) => it,
            None => match shared.api.iterator(&shard, &position).await {
                Ok(it) => it,
                Err(e) => {
                    shared.metrics.error(&e);
                    match e {
                        StreamError::StreamGone(_) => return ReaderEnd::StreamGone,
                        StreamError::Trimmed(_) => {
                            // Where we wanted to start is gone: take the
                            // oldest record there is, and clear later.
                            shared.gap("trimmed shard");
                            position = Position::TrimHorizon;
                        }
                        _ => {}
                    }
                    shared.gate.lock().failed(&shard, e.to_string());
                    tokio::time::sleep(backoff.next()).await;
                    continue;
                }
            },
        };
        let started = shared.clock.now_ms();
        match shared.api.read(&it).await {
            Ok(batch) => {
                backoff.reset();
                let empty = batch.records.is_empty();
                let mut until = if empty { started } else { 0 };
                for record in &batch.records {
                    shared.sink.apply(&record.change);
                    shared.metrics.record(record.event);
                    until = until.max(record.created_ms);
                }
                if let Some(last) = batch.records.last() {
                    last_sequence = Some(last.sequence.clone());
                }
                shared.gate.lock().progressed(&shard, until);
                match batch.next {
                    None => {
                        debug!(shard, "shard closed");
                        shared.gate.lock().closed(&shard);
                        return ReaderEnd::Closed(shard);
                    }
                    Some(next) => iterator = Some(next),
                }
                // Only a full batch says more is waiting; otherwise pace
                // the reads, so steady writes do not turn a reader into a
                // busy loop that the stream throttles (a shard serves a
                // few reads a second, shared by every reader).
                if batch.records.len() < FULL_BATCH {
                    tokio::time::sleep(config.poll_interval).await;
                }
            }
            Err(StreamError::ExpiredIterator) => {
                shared.metrics.renewals.increment(1);
                position = match &last_sequence {
                    Some(seq) => Position::AfterSequence(seq.clone()),
                    // Nothing read yet: a TRIM_HORIZON start can start
                    // over; a LATEST one cannot know what it missed.
                    None if start == Position::TrimHorizon => Position::TrimHorizon,
                    None => {
                        shared.gap("iterator expired before any record");
                        Position::Latest
                    }
                };
            }
            Err(e) => {
                shared.metrics.error(&e);
                match e {
                    StreamError::StreamGone(_) => return ReaderEnd::StreamGone,
                    StreamError::Trimmed(_) => {
                        shared.gap("trimmed records");
                        position = Position::TrimHorizon;
                        shared.gate.lock().failed(&shard, e.to_string());
                        continue;
                    }
                    _ => {
                        // The iterator stays valid: retry it after a pause.
                        iterator = Some(it);
                    }
                }
                shared.gate.lock().failed(&shard, e.to_string());
                tokio::time::sleep(backoff.next()).await;
            }
        }
    }
}

/// The follower's main loop: list shards, start readers in lineage order,
/// judge staleness, until `shutdown`.
pub(crate) async fn run<A: StreamsApi, K: ChangeSink>(
    shared: Arc<Shared<A, K>>,
    shutdown: CancellationToken,
) {
    let config = shared.config.clone();
    let mut lineage = Lineage::default();
    let mut readers: JoinSet<ReaderEnd> = JoinSet::new();
    let mut list_backoff = Backoff::new(config.backoff_base, config.backoff_max);
    let mut next_list = Instant::now();
    let mut tick = tokio::time::interval(config.check_interval());
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let start = |readers: &mut JoinSet<ReaderEnd>, todo: Vec<(ShardInfo, Position)>| {
        let now = shared.clock.now_ms();
        for (shard, position) in todo {
            debug!(shard = shard.id, ?position, "following shard");
            shared
                .gate
                .lock()
                .reader_started(&shard.id, shard.parent.as_deref(), now);
            readers.spawn(read_shard(shared.clone(), shard.id, position));
        }
    };
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = tick.tick() => shared.judge(),
            _ = tokio::time::sleep_until(next_list) => {
                match shared.api.list_shards().await {
                    Ok(shards) => {
                        list_backoff.reset();
                        {
                            let mut gate = shared.gate.lock();
                            gate.listed = true;
                            gate.list_error = None;
                        }
                        let todo = lineage.update(shards);
                        start(&mut readers, todo);
                        next_list = Instant::now() + config.shard_refresh;
                    }
                    Err(e) => {
                        shared.metrics.error(&e);
                        warn!(error = %e, "streams follower cannot list shards");
                        if matches!(e, StreamError::StreamGone(_)) && shared.gate.lock().listed {
                            restart(&shared, &mut readers, &mut lineage);
                        }
                        shared.gate.lock().list_error = Some(e.to_string());
                        next_list = Instant::now() + list_backoff.next();
                    }
                }
                shared.judge();
            }
            Some(ended) = readers.join_next(), if !readers.is_empty() => {
                match ended {
                    Ok(ReaderEnd::Closed(id)) => {
                        let todo = lineage.finish(&id);
                        start(&mut readers, todo);
                        // Its children may not be listed yet.
                        next_list = next_list.min(Instant::now() + config.poll_interval);
                    }
                    Ok(ReaderEnd::StreamGone) => {
                        warn!("stream gone: following the table's current stream from LATEST");
                        restart(&shared, &mut readers, &mut lineage);
                        next_list = Instant::now() + list_backoff.next();
                    }
                    // A reader panicked: start over the same way, the
                    // lineage is no longer trustworthy.
                    Err(e) if e.is_panic() => {
                        warn!("shard reader panicked; restarting the follower");
                        restart(&shared, &mut readers, &mut lineage);
                        next_list = Instant::now();
                    }
                    Err(_) => {}
                }
                shared.judge();
            }
        }
    }
    readers.abort_all();
}

/// Drop every reader and start as at start-up (LATEST, cache cleared once
/// caught up): the stream was replaced or a reader died.
fn restart<A: StreamsApi, K: ChangeSink>(
    shared: &Shared<A, K>,
    readers: &mut JoinSet<ReaderEnd>,
    lineage: &mut Lineage,
) {
    readers.abort_all();
    lineage.reset();
    {
        let mut gate = shared.gate.lock();
        let served = gate.ever_served;
        *gate = Gate::new(shared.clock.now_ms());
        gate.ever_served = served;
    }
    shared.sink.stop_serving();
}
