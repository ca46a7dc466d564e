//! Versions of keys the cache does not hold, remembered for a while.
//!
//! A stream event for a key the cache does not hold, an eviction, an
//! invalidation: each leaves the key's version here, so that a local write
//! or a fill that finishes later with an *older* state of that key cannot
//! store it (the cache's versions never go backwards).
//!
//! Bounded in keys and in time; a key forgotten early only means a late,
//! older write could be cached until the follower's next event for it,
//! which is why the bounds are far above how long a local write or a fill
//! takes to complete.
//!
//! Locking: each shard's mutex is a *leaf* lock. Nothing here calls out
//! while holding it, so the cache's eviction hook may call in while it
//! holds a lock of the entries map.

use std::collections::{HashMap, VecDeque};
use std::hash::BuildHasher;
use std::time::Duration;

use parking_lot::Mutex;
use quanta::Instant;

use super::store::{Key, KeyRef};

/// Shards: enough that the follower and the request path rarely meet.
const SHARDS: usize = 16;

pub(super) struct RecentVersions {
    shards: Box<[Mutex<Shard>]>,
    hasher: foldhash::fast::RandomState,
    keys_per_shard: usize,
    keep_for: Duration,
}

#[derive(Default)]
struct Shard {
    /// Key → (highest version seen, sequence number of its latest update).
    versions: HashMap<Key, (u64, u64), foldhash::fast::RandomState>,
    /// Updates in time order, for expiry and the size bound. A key updated
    /// again appears twice; only the entry whose sequence number matches
    /// the map's is current, older ones are skipped when popped.
    order: VecDeque<(Key, Instant, u64)>,
    seq: u64,
}

impl RecentVersions {
    pub(super) fn new(keys: usize, keep_for: Duration) -> RecentVersions {
        RecentVersions {
            shards: (0..SHARDS).map(|_| Mutex::new(Shard::default())).collect(),
            hasher: foldhash::fast::RandomState::default(),
            keys_per_shard: keys.div_ceil(SHARDS).max(1),
            keep_for,
        }
    }

    fn shard(&self, key: KeyRef<'_>) -> &Mutex<Shard> {
        let i = self.hasher.hash_one(key) as usize % SHARDS;
        &self.shards[i]
    }

    /// Remember `version` for `key` unless a higher one is remembered.
    pub(super) fn remember(&self, key: Key, version: u64, now: Instant) {
        let mut shard = self.shard(key.as_ref()).lock();
        shard.expire(now, self.keep_for, self.keys_per_shard);
        shard.seq += 1;
        let seq = shard.seq;
        let entry = shard.versions.entry(key.clone()).or_insert((version, seq));
        entry.0 = entry.0.max(version);
        entry.1 = seq;
        shard.order.push_back((key, now, seq));
        shard.expire(now, self.keep_for, self.keys_per_shard);
    }

    /// The highest version remembered for `key`, if still remembered.
    pub(super) fn get(&self, key: &Key, now: Instant) -> Option<u64> {
        let mut shard = self.shard(key.as_ref()).lock();
        shard.expire(now, self.keep_for, self.keys_per_shard);
        shard.versions.get(key).map(|&(version, _)| version)
    }

    pub(super) fn clear(&self) {
        for shard in self.shards.iter() {
            let mut shard = shard.lock();
            shard.versions.clear();
            shard.order.clear();
        }
    }
}

impl Shard {
    /// Forget what is older than `keep_for`, and the oldest keys past the
    /// size bound (the queue itself is bounded to twice that).
    fn expire(&mut self, now: Instant, keep_for: Duration, max_keys: usize) {
        while let Some((_, at, _)) = self.order.front() {
            let old = now.saturating_duration_since(*at) >= keep_for;
            if !old && self.versions.len() <= max_keys && self.order.len() <= 2 * max_keys {
                break;
            }
            let Some((key, _, seq)) = self.order.pop_front() else {
                break;
            };
            if self.versions.get(&key).is_some_and(|&(_, s)| s == seq) {
                self.versions.remove(&key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn key(k: &'static str) -> Key {
        Key::new(0, &Bytes::from_static(k.as_bytes()))
    }

    #[test]
    fn keeps_the_highest_version_for_a_while() {
        let (clock, mock) = quanta::Clock::mock();
        let recent = RecentVersions::new(100, Duration::from_secs(60));
        recent.remember(key("k"), 5, clock.now());
        recent.remember(key("k"), 3, clock.now());
        assert_eq!(recent.get(&key("k"), clock.now()), Some(5));
        mock.increment(Duration::from_secs(30));
        // An update restarts the key's time.
        recent.remember(key("k"), 6, clock.now());
        mock.increment(Duration::from_secs(45));
        assert_eq!(recent.get(&key("k"), clock.now()), Some(6));
        mock.increment(Duration::from_secs(15));
        assert_eq!(recent.get(&key("k"), clock.now()), None);
    }

    #[test]
    fn bounded_in_keys() {
        let (clock, _mock) = quanta::Clock::mock();
        let recent = RecentVersions::new(SHARDS * 4, Duration::from_secs(60));
        let keys: Vec<Key> = (0..1000)
            .map(|i| Key::new(0, &Bytes::from(format!("k{i}"))))
            .collect();
        for (i, k) in keys.iter().enumerate() {
            recent.remember(k.clone(), i as u64, clock.now());
            // The same key again and again must not grow the queue.
            recent.remember(keys[0].clone(), 1, clock.now());
        }
        let held: usize = recent.shards.iter().map(|s| s.lock().versions.len()).sum();
        let queued: usize = recent.shards.iter().map(|s| s.lock().order.len()).sum();
        assert!(held <= SHARDS * 4, "{held} keys held");
        assert!(queued <= SHARDS * 8, "{queued} updates queued");
        // The newest key is still there.
        assert_eq!(recent.get(&keys[999], clock.now()), Some(999));
    }
}
