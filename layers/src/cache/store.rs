//! The node-wide cache and its version rules.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use metrics::Counter;
use moka::notification::RemovalCause;
use moka::ops::compute::Op;

use crate::metrics::Telemetry;
use crate::ItemState;

/// Settings of the cache.
#[derive(Clone, Debug)]
pub struct CacheConfig {
    /// Bound on keys + values + per-entry overhead, in bytes. 0 disables.
    pub max_bytes: u64,
    /// Drop entries this long after they were stored, whatever their
    /// version (a safety net on top of the follower). None: no bound.
    pub max_age: Option<Duration>,
}

/// Bytes charged per entry on top of key and value, for the handles and
/// moka's bookkeeping, so a cache of tiny values stays within its bound.
const ENTRY_OVERHEAD: u64 = 96;

type Key = (u32, Bytes);

/// How many absent keys' latest event versions are remembered, and for how
/// long: far longer than a local write takes to be applied after DynamoDB
/// accepted it, or a fill to complete.
const RECENT_KEYS: u64 = 100_000;
const RECENT_FOR: Duration = Duration::from_secs(60);

#[derive(Clone, Debug)]
enum Slot {
    /// A read missed and is fetching from the backend; only the fill with
    /// this token may store its result (a lease, as memcache has).
    Filling(u64),
    Item(Arc<Item>),
}

/// A cached key: its state and the item version that state belongs to.
#[derive(Clone, Debug, PartialEq)]
pub struct Item {
    pub version: u64,
    pub state: ItemState,
}

impl Item {
    fn weight(&self, key: &Key) -> u32 {
        let value = match &self.state {
            ItemState::Value { value, .. } => value.len() as u64,
            _ => 0,
        };
        (key.1.len() as u64 + value + ENTRY_OVERHEAD).min(u32::MAX as u64) as u32
    }

    fn expired(&self, now_ms: u64) -> bool {
        matches!(self.state, ItemState::Value { expire_at, .. } if expire_at != 0 && expire_at <= now_ms)
    }
}

/// Counters the cache reports.
#[derive(Clone)]
struct CacheMetrics {
    hits: Counter,
    misses: Counter,
    stale_refusals: Counter,
}

/// The cache shared by every connection of a node. Cheap to clone.
///
/// Invariants (each test in `tests` below pins one):
/// - an entry is replaced only by a state with a *higher* version, or by
///   the fill that holds its lease;
/// - a stream event never creates an entry, it only updates one, so an
///   evicted key cannot be brought back by an event that is already stale;
/// - a read that missed stores its result only if no write, event or
///   invalidation touched the key while it was reading;
/// - while `serving` is off (no follower yet, or it is behind or broken)
///   nothing is read from the cache and no fill is stored. A new cache
///   starts off.
#[derive(Clone)]
pub struct SharedCache {
    /// foldhash: the read path hashes every key it serves, and SipHash was
    /// a measurable share of a cache hit.
    entries: moka::sync::Cache<Key, Slot, foldhash::fast::RandomState>,
    /// The newest version stream events reported for keys the cache did
    /// not hold, for a while: a local write or fill that finishes after a
    /// newer remote write was seen must not store its older state.
    recent: moka::sync::Cache<Key, u64>,
    next_token: Arc<AtomicU64>,
    serving: Arc<AtomicBool>,
    metrics: CacheMetrics,
}

/// The result of a lookup.
#[derive(Clone, Debug, PartialEq)]
pub enum Lookup {
    Hit(ItemState),
    Miss,
}

impl SharedCache {
    pub fn new(config: &CacheConfig, telemetry: &Telemetry) -> SharedCache {
        let on_evict = telemetry.counter("redynamo_cache_evictions_total", &[]);
        let recent: moka::sync::Cache<Key, u64> = moka::sync::Cache::builder()
            .max_capacity(RECENT_KEYS)
            .time_to_live(RECENT_FOR)
            .build();
        let evicted_versions = recent.clone();
        let mut builder = moka::sync::Cache::builder()
            .max_capacity(config.max_bytes)
            .weigher(|key: &Key, slot: &Slot| match slot {
                Slot::Filling(_) => (key.1.len() as u64 + ENTRY_OVERHEAD) as u32,
                Slot::Item(item) => item.weight(key),
            })
            .eviction_listener(move |k: Arc<Key>, v: Slot, cause| {
                if matches!(cause, RemovalCause::Size | RemovalCause::Expired) {
                    on_evict.increment(1);
                    // Remember the version that left, so nothing older can
                    // come back in its place.
                    if let Slot::Item(item) = v {
                        remember_max(&evicted_versions, (*k).clone(), item.version);
                    }
                }
            });
        if let Some(age) = config.max_age {
            builder = builder.time_to_live(age);
        }
        SharedCache {
            entries: builder.build_with_hasher(foldhash::fast::RandomState::default()),
            recent,
            next_token: Arc::new(AtomicU64::new(1)),
            // Nothing is served until a follower has caught up and called
            // `resume_serving`: without one, other nodes' writes would never
            // reach this cache.
            serving: Arc::new(AtomicBool::new(false)),
            metrics: CacheMetrics {
                hits: telemetry.counter("redynamo_cache_hits_total", &[]),
                misses: telemetry.counter("redynamo_cache_misses_total", &[]),
                stale_refusals: telemetry.counter("redynamo_cache_stale_reads_total", &[]),
            },
        }
    }

    /// Whether reads may be served from the cache.
    pub fn is_serving(&self) -> bool {
        self.serving.load(Ordering::Acquire)
    }

    /// Stop serving (the follower fell behind or failed).
    pub fn stop_serving(&self) {
        self.serving.store(false, Ordering::Release);
    }

    /// Drop everything the cache may have missed while it was not
    /// following, then serve again. MUST be called only once the follower
    /// has caught up.
    pub fn resume_serving(&self) {
        self.entries.invalidate_all();
        self.serving.store(true, Ordering::Release);
    }

    /// Look a key up. An expired entry is a miss (and is dropped).
    pub fn lookup(&self, db: u32, key: &Bytes, now_ms: u64) -> Lookup {
        if !self.is_serving() {
            self.metrics.stale_refusals.increment(1);
            return Lookup::Miss;
        }
        let k = (db, key.clone());
        match self.entries.get(&k) {
            Some(Slot::Item(item)) if item.expired(now_ms) => {
                self.entries.invalidate(&k);
                self.metrics.misses.increment(1);
                Lookup::Miss
            }
            Some(Slot::Item(item)) => {
                self.metrics.hits.increment(1);
                Lookup::Hit(item.state.clone())
            }
            _ => {
                self.metrics.misses.increment(1);
                Lookup::Miss
            }
        }
    }

    /// Take the lease for filling `key` after a miss. None when the cache
    /// is not serving or another fill holds the lease (this read then just
    /// does not fill).
    pub fn begin_fill(&self, db: u32, key: &Bytes) -> Option<u64> {
        if !self.is_serving() {
            return None;
        }
        let token = self.next_token.fetch_add(1, Ordering::Relaxed);
        let result =
            self.entries
                .entry((db, key.clone()))
                .and_compute_with(|current| match current {
                    None => Op::Put(Slot::Filling(token)),
                    Some(_) => Op::Nop,
                });
        matches!(result, moka::ops::compute::CompResult::Inserted(_)).then_some(token)
    }

    /// Store what a read that missed found — only if it still holds the
    /// lease it took with [`SharedCache::begin_fill`].
    pub fn complete_fill(&self, db: u32, key: &Bytes, token: u64, item: Item) {
        let k = (db, key.clone());
        if self.recent.get(&k).is_some_and(|v| v > item.version) {
            self.abandon_fill(db, key, token);
            return;
        }
        self.entries
            .entry((db, key.clone()))
            .and_compute_with(|current| match current.map(|e| e.into_value()) {
                Some(Slot::Filling(t)) if t == token => Op::Put(Slot::Item(Arc::new(item))),
                _ => Op::Nop,
            });
    }

    /// Give a lease back without storing anything (the read failed).
    pub fn abandon_fill(&self, db: u32, key: &Bytes, token: u64) {
        self.entries
            .entry((db, key.clone()))
            .and_compute_with(|current| match current.map(|e| e.into_value()) {
                Some(Slot::Filling(t)) if t == token => Op::Remove,
                _ => Op::Nop,
            });
    }

    /// A state of `key` at `version`, learned from a local write the
    /// backend accepted (`local`) or from the stream.
    ///
    /// - An older or equal version never replaces a cached one.
    /// - A stream event never creates an entry; for a key the cache does
    ///   not hold it only remembers the version, and it breaks the lease of
    ///   a fill in flight (that fill may have read an older state).
    /// - A local write creates the entry (read-your-writes) unless a newer
    ///   version was already seen on the stream.
    pub fn apply(&self, db: u32, key: &Bytes, item: Item, local: bool) {
        let k = (db, key.clone());
        let seen_newer = self.recent.get(&k).is_some_and(|v| v >= item.version);
        let version = item.version;
        let mut remember = false;
        self.entries.entry(k.clone()).and_compute_with(|current| {
            match current.map(|e| e.into_value()) {
                None | Some(Slot::Filling(_)) if local && !seen_newer => {
                    Op::Put(Slot::Item(Arc::new(item)))
                }
                None if local => Op::Nop,
                None => {
                    remember = true;
                    Op::Nop
                }
                Some(Slot::Filling(_)) if local => Op::Remove,
                Some(Slot::Filling(_)) => {
                    remember = true;
                    Op::Remove
                }
                Some(Slot::Item(old)) if old.version < version => {
                    Op::Put(Slot::Item(Arc::new(item)))
                }
                Some(Slot::Item(_)) => Op::Nop,
            }
        });
        if remember {
            remember_max(&self.recent, k, version);
        }
    }

    /// A delete seen on the stream at `version`: forget the key and
    /// remember the version, so an older local write or fill that finishes
    /// later does not bring the key back.
    pub fn remove(&self, db: u32, key: &Bytes, version: u64) {
        let k = (db, key.clone());
        self.entries.invalidate(&k);
        remember_max(&self.recent, k, version);
    }

    /// Forget `key` (a write whose resulting version is unknown, a delete
    /// seen on the stream). Also breaks any fill's lease.
    pub fn invalidate(&self, db: u32, key: &Bytes) {
        let k = (db, key.clone());
        if let Some(Slot::Item(item)) = self.entries.remove(&k) {
            remember_max(&self.recent, k, item.version);
        }
    }

    /// Forget everything (FLUSHDB, FLUSHALL, or a write whose keys are not
    /// known).
    pub fn clear(&self) {
        self.entries.invalidate_all();
        self.recent.invalidate_all();
    }

    /// Entries and weighted bytes, for metrics and INFO.
    pub fn usage(&self) -> (u64, u64) {
        self.entries.run_pending_tasks();
        (self.entries.entry_count(), self.entries.weighted_size())
    }

    #[cfg(test)]
    pub(crate) fn peek(&self, db: u32, key: &Bytes) -> Option<Item> {
        match self.entries.get(&(db, key.clone())) {
            Some(Slot::Item(item)) => Some((*item).clone()),
            _ => None,
        }
    }
}

/// Record `version` for `key` unless a newer one is already remembered.
fn remember_max(recent: &moka::sync::Cache<Key, u64>, key: Key, version: u64) {
    recent
        .entry(key)
        .and_compute_with(|current| match current.map(|e| e.into_value()) {
            Some(v) if v >= version => Op::Nop,
            _ => Op::Put(version),
        });
}
