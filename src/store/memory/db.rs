//! One logical database: the keyspace data structure.
//!
//! Keys live in [`BUCKETS`] independent hash tables chosen by bits of the
//! key's hash. That gives SCAN what Redis' reverse-binary cursor gives it: a
//! key never moves between buckets, so a cursor (a bucket index) returns
//! every key that exists for the whole scan, whatever the table does in
//! between, and no table ever rehashes more than `1/BUCKETS` of the keyspace
//! at once (no latency spike when a large db grows).
//!
//! A slot is one [`Entry`]: a 16-byte handle to a single allocation holding
//! key, value and deadline (see `entry.rs` for the layout and why).
//!
//! Keys with an expiry are also indexed by deadline in `volatile`, so active
//! expiry pops exactly the expired keys instead of sampling at random.

use std::collections::BTreeSet;
use std::hash::BuildHasher;

use hashbrown::{DefaultHashBuilder, HashTable};
use rand::Rng;

use super::entry::Entry;

/// Number of hash tables per db. A power of two; SCAN cursors are indexes.
pub const BUCKETS: usize = 1024;

#[derive(Default)]
pub struct Db {
    /// Empty until the first write, so 16 unused databases cost nothing.
    buckets: Vec<HashTable<Entry>>,
    hasher: DefaultHashBuilder,
    len: usize,
    /// (deadline, key) for every key with an expiry.
    volatile: BTreeSet<(u64, Box<[u8]>)>,
}

/// The bucket for a hash. Uses bits 40..50: hashbrown takes its probe
/// position from the low bits and its tag from the top seven, so bits from
/// the middle leave both well distributed inside a bucket.
fn bucket_of(hash: u64) -> usize {
    ((hash >> 40) as usize) & (BUCKETS - 1)
}

/// Key equality, inline for the common key sizes (8 to 32 bytes: up to
/// four word compares, the last one overlapping) instead of a call to
/// libc's `bcmp`, which the profile of pipelined GETs showed at 5% of the
/// server's time.
#[inline]
fn same_key(a: &[u8], b: &[u8]) -> bool {
    let n = a.len();
    if n != b.len() {
        return false;
    }
    if !(8..=32).contains(&n) {
        return a == b;
    }
    let word = |s: &[u8], at: usize| {
        let mut w = [0u8; 8];
        w.copy_from_slice(&s[at..at + 8]);
        u64::from_ne_bytes(w)
    };
    let mut at = 0;
    while at + 8 < n {
        if word(a, at) != word(b, at) {
            return false;
        }
        at += 8;
    }
    word(a, n - 8) == word(b, n - 8)
}

impl Db {
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Keys that have an expiry set.
    pub fn volatile_len(&self) -> usize {
        self.volatile.len()
    }

    fn hash(&self, key: &[u8]) -> u64 {
        self.hasher.hash_one(key)
    }

    /// The entry for `key`, expired or not: expiry is the caller's policy.
    pub fn get(&self, key: &[u8]) -> Option<&Entry> {
        if self.buckets.is_empty() {
            return None;
        }
        let h = self.hash(key);
        self.buckets[bucket_of(h)].find(h, |e| same_key(e.key(), key))
    }

    /// The entry for `key`, to change in place (expired or not).
    pub fn get_mut(&mut self, key: &[u8]) -> Option<&mut Entry> {
        if self.buckets.is_empty() {
            return None;
        }
        let h = self.hash(key);
        self.buckets[bucket_of(h)].find_mut(h, |e| same_key(e.key(), key))
    }

    /// Pull `key`'s entry into the CPU's caches: the probe reads the
    /// table (control bytes, slot), then the entry is touched. Nothing
    /// depends on what is read, so the misses of several keys warmed in a
    /// row overlap.
    pub fn warm(&self, key: &[u8]) {
        if self.buckets.is_empty() {
            return;
        }
        let h = self.hash(key);
        let _ = self.buckets[bucket_of(h)].find(h, |e| {
            e.touch();
            false
        });
    }

    /// Insert or replace; returns the previous entry.
    pub fn insert(&mut self, entry: Entry) -> Option<Entry> {
        if self.buckets.is_empty() {
            self.buckets = (0..BUCKETS).map(|_| HashTable::new()).collect();
        }
        let h = self.hash(entry.key());
        let expire_at = entry.expire_at();
        let indexed = (expire_at != 0).then(|| Box::<[u8]>::from(entry.key()));
        let hasher = &self.hasher;
        let table = &mut self.buckets[bucket_of(h)];
        let old = match table.find_mut(h, |e| same_key(e.key(), entry.key())) {
            Some(slot) => Some(std::mem::replace(slot, entry)),
            None => {
                table.insert_unique(h, entry, |e| hasher.hash_one(e.key()));
                self.len += 1;
                None
            }
        };
        // A replacement with the same deadline (SET … KEEPTTL, INCR) MUST
        // leave the key indexed, so an unchanged deadline is not touched.
        let old_at = old.as_ref().map_or(0, Entry::expire_at);
        if old_at != expire_at {
            if let Some(old) = &old {
                self.unindex(old);
            }
            if let Some(key) = indexed {
                self.volatile.insert((expire_at, key));
            }
        }
        old
    }

    /// Store the string `value` under an existing `key` in place, with no
    /// allocation, when the key holds a string of the same length and the
    /// same deadline (a cache refreshing fixed-size values, a counter whose
    /// digits did not grow). Returns false, changing nothing, otherwise.
    pub fn overwrite_string(&mut self, key: &[u8], value: &[u8], expire_at: u64) -> bool {
        if self.buckets.is_empty() {
            return false;
        }
        let h = self.hash(key);
        self.buckets[bucket_of(h)]
            .find_mut(h, |e| same_key(e.key(), key))
            .is_some_and(|e| e.overwrite_string(value, expire_at))
    }

    pub fn remove(&mut self, key: &[u8]) -> Option<Entry> {
        if self.buckets.is_empty() {
            return None;
        }
        let h = self.hash(key);
        let entry = match self.buckets[bucket_of(h)].find_entry(h, |e| same_key(e.key(), key)) {
            Ok(occupied) => occupied.remove().0,
            Err(_) => return None,
        };
        self.len -= 1;
        self.unindex(&entry);
        Some(entry)
    }

    /// Take `entry`'s deadline, if any, out of the volatile index.
    fn unindex(&mut self, entry: &Entry) {
        let at = entry.expire_at();
        if at != 0 {
            self.volatile.remove(&(at, Box::from(entry.key())));
        }
    }

    /// Set (or clear, with 0) the expiry of an existing key. Returns false
    /// when the key does not exist.
    pub fn set_expire(&mut self, key: &[u8], expire_at: u64) -> bool {
        if self.buckets.is_empty() {
            return false;
        }
        let h = self.hash(key);
        let Some(entry) = self.buckets[bucket_of(h)].find_mut(h, |e| same_key(e.key(), key)) else {
            return false;
        };
        let old_at = entry.expire_at();
        if old_at == expire_at {
            return true;
        }
        entry.set_expire_at(expire_at);
        if old_at != 0 {
            self.volatile.remove(&(old_at, Box::from(key)));
        }
        if expire_at != 0 {
            self.volatile.insert((expire_at, Box::from(key)));
        }
        true
    }

    /// The first key whose deadline is at or before `now`, if any.
    pub fn next_expired(&self, now: u64) -> Option<Box<[u8]>> {
        self.volatile
            .first()
            .filter(|(at, _)| *at <= now)
            .map(|(_, k)| k.clone())
    }

    /// Every entry, in bucket order.
    pub fn iter(&self) -> impl Iterator<Item = &Entry> {
        self.buckets.iter().flat_map(|b| b.iter())
    }

    /// Visit whole buckets from `cursor` until at least `count` entries were
    /// visited. Returns the next cursor, 0 when the scan is complete.
    pub fn scan(&self, cursor: u64, count: usize, mut visit: impl FnMut(&Entry)) -> u64 {
        let mut bucket = cursor as usize;
        let mut seen = 0usize;
        while bucket < self.buckets.len() {
            for e in self.buckets[bucket].iter() {
                visit(e);
                seen += 1;
            }
            bucket += 1;
            if seen >= count {
                break;
            }
        }
        if bucket >= self.buckets.len() {
            0
        } else {
            bucket as u64
        }
    }

    /// A uniformly random bucket's random entry (close enough to uniform
    /// over keys when buckets are balanced, which a good hash gives).
    pub fn random(&self, rng: &mut impl Rng) -> Option<&Entry> {
        if self.len == 0 {
            return None;
        }
        // Non-empty buckets exist; probe random ones, then fall back to a
        // linear pass so a nearly empty db still answers in bounded time.
        for _ in 0..64 {
            let b = &self.buckets[rng.gen_range(0..BUCKETS)];
            if !b.is_empty() {
                return b.iter().nth(rng.gen_range(0..b.len()));
            }
        }
        let start = rng.gen_range(0..BUCKETS);
        (0..BUCKETS)
            .map(|i| &self.buckets[(start + i) % BUCKETS])
            .find(|b| !b.is_empty())
            .and_then(|b| b.iter().nth(rng.gen_range(0..b.len())))
    }

    pub fn clear(&mut self) {
        *self = Db {
            hasher: self.hasher.clone(),
            ..Db::default()
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::memory::Value;
    use std::collections::HashSet;

    fn entry(k: &str, expire_at: u64) -> Entry {
        Entry::new(k.as_bytes(), Value::Str(b"v"), expire_at)
    }

    #[test]
    fn same_key_agrees_with_slice_equality() {
        // Every length around the word-compare range, differing at every
        // position (the overlapping last word included).
        for n in 0..=40 {
            let a: Vec<u8> = (0..n as u8).collect();
            assert!(same_key(&a, &a.clone()), "len {n}");
            for at in 0..n {
                let mut b = a.clone();
                b[at] ^= 0x80;
                assert!(!same_key(&a, &b), "len {n}, differs at {at}");
            }
            let longer = [a.as_slice(), b"x"].concat();
            assert!(!same_key(&a, &longer));
        }
    }

    #[test]
    fn warm_and_get_mut_find_the_entry() {
        let mut db = Db::default();
        db.warm(b"absent");
        db.insert(entry("counter:000000000001", 0));
        db.warm(b"counter:000000000001");
        let e = db.get_mut(b"counter:000000000001").expect("present");
        assert!(e.overwrite_string(b"w", 0));
        assert!(matches!(
            db.get(b"counter:000000000001").map(Entry::value),
            Some(Value::Str(b"w"))
        ));
        assert!(db.get_mut(b"counter:000000000002").is_none());
    }

    #[test]
    fn insert_get_remove_track_len_and_volatile() {
        let mut db = Db::default();
        assert!(db.insert(entry("a", 0)).is_none());
        assert!(db.insert(entry("b", 10)).is_none());
        assert_eq!(db.len(), 2);
        assert_eq!(db.volatile_len(), 1);
        assert!(db.insert(entry("b", 0)).is_some());
        assert_eq!(db.volatile_len(), 0);
        assert!(db.set_expire(b"a", 5));
        assert_eq!(db.next_expired(4), None);
        assert_eq!(db.next_expired(5).as_deref(), Some(&b"a"[..]));
        assert!(db.remove(b"a").is_some());
        assert_eq!(db.volatile_len(), 0);
        assert_eq!(db.len(), 1);
        assert!(db.get(b"a").is_none());
    }

    #[test]
    fn replacing_a_key_with_the_same_deadline_keeps_it_indexed() {
        let mut db = Db::default();
        db.insert(entry("k", 10));
        assert!(db.insert(entry("k", 10)).is_some());
        assert_eq!(db.volatile_len(), 1);
        assert_eq!(db.next_expired(10).as_deref(), Some(&b"k"[..]));
    }

    #[test]
    fn set_expire_moves_the_key_in_the_index() {
        let mut db = Db::default();
        db.insert(entry("k", 0));
        assert!(db.set_expire(b"k", 10));
        assert!(db.set_expire(b"k", 20));
        assert_eq!(db.volatile_len(), 1);
        assert_eq!(db.next_expired(19), None);
        assert_eq!(db.get(b"k").map(Entry::expire_at), Some(20));
        assert!(db.set_expire(b"k", 0));
        assert_eq!(db.volatile_len(), 0);
        assert_eq!(db.get(b"k"), Some(&entry("k", 0)));
        assert!(!db.set_expire(b"missing", 5));
    }

    #[test]
    fn scan_returns_every_key_once_despite_concurrent_inserts() {
        let mut db = Db::default();
        for i in 0..5000 {
            db.insert(entry(&format!("k{i}"), 0));
        }
        let mut seen = HashSet::new();
        let mut cursor = 0;
        let mut round = 0;
        loop {
            cursor = db.scan(cursor, 10, |e| {
                assert!(seen.insert(e.key().to_vec()), "duplicate");
            });
            // Keys added during the scan may or may not be returned, but
            // they must not disturb the ones that were there all along.
            db.insert(entry(&format!("new{round}"), 0));
            round += 1;
            if cursor == 0 {
                break;
            }
        }
        for i in 0..5000 {
            assert!(seen.contains(format!("k{i}").as_bytes()));
        }
    }
}
