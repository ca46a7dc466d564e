//! The node-wide cache and its version rules.
//!
//! Entries live in a [`quick_cache`] map: sharded behind read-write locks,
//! bounded by weight (bytes), evicting by recency and frequency (an
//! S3-FIFO-like policy with a ghost list). A hit is a read lock, a hash
//! lookup, a "referenced" bump and the clone of the value's `Bytes`: no
//! allocation, no key clone, no clock read unless the entry can expire.
//!
//! # Atomicity of the version rules
//!
//! Every operation that reads a key's slot and then changes it (fills,
//! applied writes and events, invalidations, removals of expired entries)
//! holds that key's *stripe* lock from the read to the write, so for one
//! key they happen one at a time. Lookups take no stripe lock.
//!
//! The only change to a slot made without the stripe lock is an eviction
//! (the map evicts while inserting any key of the same shard). An eviction
//! only removes, and its hook records the evicted version in the
//! recent versions (`recent.rs`) *while the map's shard lock is still
//! held*. So an operation that reads the slot first and the remembered
//! versions second either sees the entry, or sees it gone and its version
//! remembered — never neither. An eviction that lands between an
//! operation's read and its write is as if it came just after the
//! operation, except when the operation stores a newer state: then the
//! key holds that state and the version remembered for it is older, which
//! only refuses what is older still. Harmless either way.
//!
//! Lock order: stripe → map shard → recent-versions shard. The eviction
//! hook takes the last while holding the second, and nothing holds a
//! recent-versions lock while taking another, so there is no cycle.

use std::hash::{BuildHasher, Hash, Hasher};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use metrics::Counter;
use parking_lot::{Mutex, MutexGuard};
use quick_cache::{Equivalent, Lifecycle, OptionsBuilder, Weighter};

use super::recent::RecentVersions;
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

/// Bytes charged per entry on top of key and value, for the map's
/// bookkeeping, so a cache of tiny values stays within its bound.
const ENTRY_OVERHEAD: u64 = 96;

/// A typical entry's weight, to size the map's ghost list (keys recently
/// evicted, remembered to admit them as frequent if they come back).
const TYPICAL_ENTRY: u64 = 256;

/// How many absent keys' latest versions are remembered, and for how
/// long: far longer than a local write takes to be applied after DynamoDB
/// accepted it, or a fill to complete.
const RECENT_KEYS: usize = 100_000;
const RECENT_FOR: Duration = Duration::from_secs(60);

/// Stripe locks for the read-modify-write operations. Only writes, fills
/// and events take them; 256 makes two unrelated keys meet rarely.
const STRIPES: usize = 256;

/// A cached key: the db and the Redis key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Key {
    db: u32,
    key: Bytes,
}

impl Key {
    pub(super) fn new(db: u32, key: &Bytes) -> Key {
        Key {
            db,
            key: key.clone(),
        }
    }

    pub(super) fn as_ref(&self) -> KeyRef<'_> {
        KeyRef {
            db: self.db,
            key: &self.key,
        }
    }
}

/// A key borrowed from a request: a lookup clones nothing. It MUST hash
/// exactly as [`Key`] does.
#[derive(Clone, Copy, Debug, Hash)]
pub(super) struct KeyRef<'a> {
    db: u32,
    key: &'a [u8],
}

impl Hash for Key {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_ref().hash(state)
    }
}

impl Equivalent<Key> for KeyRef<'_> {
    fn equivalent(&self, key: &Key) -> bool {
        self.db == key.db && self.key == &key.key[..]
    }
}

/// What the map holds for a key.
#[derive(Clone, Debug)]
enum Slot {
    /// A read missed and is fetching from the backend; only the fill with
    /// this token may store its result (a lease, as memcache has).
    Filling(u64),
    /// A state of the key, and when it was stored (for `max_age`).
    Stored {
        item: Item,
        stored_at: quanta::Instant,
    },
}

/// A cached key: its state and the item version that state belongs to.
#[derive(Clone, Debug, PartialEq)]
pub struct Item {
    pub version: u64,
    pub state: ItemState,
}

impl Item {
    fn expired(&self, unix_now_ms: impl FnOnce() -> u64) -> bool {
        matches!(self.state, ItemState::Value { expire_at, .. } if expire_at != 0 && expire_at <= unix_now_ms())
    }
}

fn unix_now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Weighs an entry in bytes: key + value + [`ENTRY_OVERHEAD`], never 0
/// (a weight of 0 would make it unevictable).
#[derive(Clone)]
struct ByBytes;

impl Weighter<Key, Slot> for ByBytes {
    fn weight(&self, key: &Key, slot: &Slot) -> u64 {
        let value = match slot {
            Slot::Stored {
                item:
                    Item {
                        state: ItemState::Value { value, .. },
                        ..
                    },
                ..
            } => value.len() as u64,
            _ => 0,
        };
        key.key.len() as u64 + value + ENTRY_OVERHEAD
    }
}

/// Called by the map, under its shard's write lock, for every entry it
/// evicts (or refuses because it is larger than a shard): remember the
/// version that left, so nothing older can come back in its place.
#[derive(Clone)]
struct OnEvict {
    recent: Arc<RecentVersions>,
    evictions: Counter,
    clock: quanta::Clock,
}

impl Lifecycle<Key, Slot> for OnEvict {
    type RequestState = ();

    fn on_evict(&self, _: &mut (), key: Key, slot: Slot) {
        self.evictions.increment(1);
        if let Slot::Stored { item, .. } = slot {
            self.recent.remember(key, item.version, self.clock.now());
        }
    }
}

type Entries = quick_cache::sync::Cache<Key, Slot, ByBytes, foldhash::fast::RandomState, OnEvict>;

/// Counters bumped on every lookup, on their own cache line so that the
/// read-mostly fields next to them stay shared between cores. Read at
/// scrape time ([`SharedCache::counts`]) rather than through a metrics
/// handle per lookup.
#[derive(Default)]
#[repr(align(128))]
struct LookupCounters {
    hits: AtomicU64,
    misses: AtomicU64,
    stale_refusals: AtomicU64,
}

/// What [`SharedCache::counts`] reports.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CacheCounts {
    /// Lookups answered from the cache.
    pub hits: u64,
    /// Lookups the cache could not answer.
    pub misses: u64,
    /// Lookups refused because the cache was not serving.
    pub stale_refusals: u64,
}

struct Shared {
    entries: Entries,
    recent: Arc<RecentVersions>,
    stripes: Box<[Mutex<()>]>,
    stripe_hasher: foldhash::fast::RandomState,
    next_token: AtomicU64,
    serving: AtomicBool,
    max_age: Option<Duration>,
    /// Monotonic clock for `max_age` and the recent versions' expiry
    /// (a mock one in tests).
    clock: quanta::Clock,
    evictions: Counter,
    counts: LookupCounters,
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
    shared: Arc<Shared>,
}

/// The result of a lookup.
#[derive(Clone, Debug, PartialEq)]
pub enum Lookup {
    Hit(ItemState),
    Miss,
}

impl SharedCache {
    pub fn new(config: &CacheConfig, telemetry: &Telemetry) -> SharedCache {
        SharedCache::with_clock(config, telemetry, quanta::Clock::new())
    }

    pub(crate) fn with_clock(
        config: &CacheConfig,
        telemetry: &Telemetry,
        clock: quanta::Clock,
    ) -> SharedCache {
        let evictions = telemetry.counter("redynamo_cache_evictions_total", &[]);
        let recent = Arc::new(RecentVersions::new(RECENT_KEYS, RECENT_FOR));
        let options = OptionsBuilder::new()
            .weight_capacity(config.max_bytes)
            .estimated_items_capacity((config.max_bytes / TYPICAL_ENTRY).max(1) as usize)
            .build()
            .expect("weight capacity and item estimate are set");
        let entries = Entries::with_options(
            options,
            ByBytes,
            foldhash::fast::RandomState::default(),
            OnEvict {
                recent: recent.clone(),
                evictions: evictions.clone(),
                clock: clock.clone(),
            },
        );
        SharedCache {
            shared: Arc::new(Shared {
                entries,
                recent,
                stripes: (0..STRIPES).map(|_| Mutex::new(())).collect(),
                stripe_hasher: foldhash::fast::RandomState::default(),
                next_token: AtomicU64::new(1),
                // Nothing is served until a follower has caught up and
                // called `resume_serving`: without one, other nodes' writes
                // would never reach this cache.
                serving: AtomicBool::new(false),
                max_age: config.max_age,
                clock,
                evictions,
                counts: LookupCounters::default(),
            }),
        }
    }

    /// Whether reads may be served from the cache.
    pub fn is_serving(&self) -> bool {
        self.shared.serving.load(Ordering::Acquire)
    }

    /// Stop serving (the follower fell behind or failed).
    pub fn stop_serving(&self) {
        self.shared.serving.store(false, Ordering::Release);
    }

    /// Drop everything the cache may have missed while it was not
    /// following, then serve again. MUST be called only once the follower
    /// has caught up.
    pub fn resume_serving(&self) {
        self.shared.entries.clear();
        self.shared.serving.store(true, Ordering::Release);
    }

    /// Look a key up. An expired entry is a miss (and is dropped).
    pub fn lookup(&self, db: u32, key: &[u8]) -> Lookup {
        self.lookup_with(db, key, unix_now_ms)
    }

    /// [`SharedCache::lookup`] at a given Unix time, for tests.
    #[cfg(test)]
    pub(crate) fn lookup_at(&self, db: u32, key: &[u8], unix_now_ms: u64) -> Lookup {
        self.lookup_with(db, key, || unix_now_ms)
    }

    /// The hit path. The clocks are read only for an entry that can expire
    /// (its key has a TTL, or `max_age` is set).
    #[inline]
    fn lookup_with(&self, db: u32, key: &[u8], unix_now_ms: impl FnOnce() -> u64) -> Lookup {
        let shared = &*self.shared;
        let counts = &shared.counts;
        if !self.is_serving() {
            counts.stale_refusals.fetch_add(1, Ordering::Relaxed);
            return Lookup::Miss;
        }
        let k = KeyRef { db, key };
        let Some(Slot::Stored { item, stored_at }) = shared.entries.get(&k) else {
            counts.misses.fetch_add(1, Ordering::Relaxed);
            return Lookup::Miss;
        };
        if item.expired(unix_now_ms) {
            self.drop_expired(k, &item, false);
            counts.misses.fetch_add(1, Ordering::Relaxed);
            return Lookup::Miss;
        }
        if let Some(max_age) = shared.max_age {
            if shared.clock.now().saturating_duration_since(stored_at) >= max_age {
                self.drop_expired(k, &item, true);
                counts.misses.fetch_add(1, Ordering::Relaxed);
                return Lookup::Miss;
            }
        }
        counts.hits.fetch_add(1, Ordering::Relaxed);
        Lookup::Hit(item.state)
    }

    /// Remove `item` (found expired) unless something newer replaced it
    /// meanwhile, and remember its version. Past `max_age` it counts as an
    /// eviction, as the key's own expiry does not.
    #[cold]
    fn drop_expired(&self, k: KeyRef<'_>, item: &Item, aged_out: bool) {
        let shared = &*self.shared;
        let _stripe = self.stripe(k);
        let same = |slot: &Slot| matches!(slot, Slot::Stored { item: held, .. } if held.version == item.version);
        if let Some((key, _)) = shared.entries.remove_if(&k, same) {
            shared
                .recent
                .remember(key, item.version, shared.clock.now());
            if aged_out {
                shared.evictions.increment(1);
            }
        }
    }

    fn stripe(&self, k: KeyRef<'_>) -> MutexGuard<'_, ()> {
        let shared = &*self.shared;
        let i = shared.stripe_hasher.hash_one(k) as usize % STRIPES;
        shared.stripes[i].lock()
    }

    /// Store `item` for `key` (the caller holds the key's stripe lock).
    fn store(&self, db: u32, key: &Bytes, item: Item) {
        let shared = &*self.shared;
        let slot = Slot::Stored {
            item,
            stored_at: shared.clock.now(),
        };
        shared.entries.insert(Key::new(db, key), slot);
    }

    /// Take the lease for filling `key` after a miss. None when the cache
    /// is not serving or the key has an entry or another fill's lease (this
    /// read then just does not fill).
    pub fn begin_fill(&self, db: u32, key: &Bytes) -> Option<u64> {
        if !self.is_serving() {
            return None;
        }
        let shared = &*self.shared;
        let k = KeyRef { db, key };
        let _stripe = self.stripe(k);
        if shared.entries.peek(&k).is_some() {
            return None;
        }
        let token = shared.next_token.fetch_add(1, Ordering::Relaxed);
        shared
            .entries
            .insert(Key::new(db, key), Slot::Filling(token));
        Some(token)
    }

    /// Store what a read that missed found — only if it still holds the
    /// lease it took with [`SharedCache::begin_fill`], and no newer version
    /// of the key was seen meanwhile.
    pub fn complete_fill(&self, db: u32, key: &Bytes, token: u64, item: Item) {
        let shared = &*self.shared;
        let k = KeyRef { db, key };
        let _stripe = self.stripe(k);
        if !matches!(shared.entries.peek(&k), Some(Slot::Filling(t)) if t == token) {
            return;
        }
        let seen = shared.recent.get(&Key::new(db, key), shared.clock.now());
        if seen.is_some_and(|v| v > item.version) {
            shared.entries.remove(&k);
            return;
        }
        self.store(db, key, item);
    }

    /// Give a lease back without storing anything (the read failed).
    pub fn abandon_fill(&self, db: u32, key: &Bytes, token: u64) {
        let k = KeyRef { db, key };
        let _stripe = self.stripe(k);
        self.shared
            .entries
            .remove_if(&k, |slot| matches!(slot, Slot::Filling(t) if *t == token));
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
        let shared = &*self.shared;
        let k = KeyRef { db, key };
        let version = item.version;
        let _stripe = self.stripe(k);
        // The slot first, the remembered versions second (module docs).
        let filling = match shared.entries.peek(&k) {
            Some(Slot::Stored { item: old, .. }) => {
                if old.version < version {
                    self.store(db, key, item);
                }
                return;
            }
            Some(Slot::Filling(_)) => true,
            None => false,
        };
        let now = shared.clock.now();
        if local {
            let seen_newer = shared
                .recent
                .get(&Key::new(db, key), now)
                .is_some_and(|v| v >= version);
            if !seen_newer {
                self.store(db, key, item);
                return;
            }
        } else {
            shared.recent.remember(Key::new(db, key), version, now);
        }
        if filling {
            shared.entries.remove(&k);
        }
    }

    /// A delete seen on the stream at `version`: forget the key and
    /// remember the version, so an older local write or fill that finishes
    /// later does not bring the key back.
    pub fn remove(&self, db: u32, key: &Bytes, version: u64) {
        let shared = &*self.shared;
        let k = KeyRef { db, key };
        let _stripe = self.stripe(k);
        let held = match shared.entries.remove(&k) {
            Some((_, Slot::Stored { item, .. })) => item.version,
            _ => 0,
        };
        shared
            .recent
            .remember(Key::new(db, key), version.max(held), shared.clock.now());
    }

    /// Forget `key` (a write whose resulting version is unknown, a delete
    /// seen on the stream). Also breaks any fill's lease.
    pub fn invalidate(&self, db: u32, key: &Bytes) {
        let shared = &*self.shared;
        let k = KeyRef { db, key };
        let _stripe = self.stripe(k);
        if let Some((key, Slot::Stored { item, .. })) = shared.entries.remove(&k) {
            shared
                .recent
                .remember(key, item.version, shared.clock.now());
        }
    }

    /// Forget everything (FLUSHDB, FLUSHALL, or a write whose keys are not
    /// known).
    pub fn clear(&self) {
        self.shared.entries.clear();
        self.shared.recent.clear();
    }

    /// Entries and weighted bytes, for metrics and INFO.
    pub fn usage(&self) -> (u64, u64) {
        let entries = &self.shared.entries;
        (entries.len() as u64, entries.weight())
    }

    /// Lookups so far, for metrics (read at scrape time).
    pub fn counts(&self) -> CacheCounts {
        let c = &self.shared.counts;
        CacheCounts {
            hits: c.hits.load(Ordering::Relaxed),
            misses: c.misses.load(Ordering::Relaxed),
            stale_refusals: c.stale_refusals.load(Ordering::Relaxed),
        }
    }

    #[cfg(test)]
    pub(crate) fn peek(&self, db: u32, key: &Bytes) -> Option<Item> {
        match self.shared.entries.peek(&KeyRef { db, key }) {
            Some(Slot::Stored { item, .. }) => Some(item),
            _ => None,
        }
    }
}
