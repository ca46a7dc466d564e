//! What the DynamoDB store remembers between commands: the versions each
//! client saw of the keys it WATCHed, and the keys this node wrote a moment
//! ago (for reading its own writes).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use super::calls::{DbKey, Snapshot};
use super::item::Head;

/// What a client saw of a key when it WATCHed it.
#[derive(Clone, Debug)]
pub struct Watched {
    pub key: DbKey,
    pub seen: Seen,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Seen {
    /// The key existed with this version.
    Live(i64),
    /// The key did not exist; an item (expired, or a tombstone) had this
    /// version, or there was none.
    Absent(Option<i64>),
}

impl Watched {
    pub fn new(key: DbKey, head: Option<&Head>, now: u64) -> Watched {
        let seen = match head {
            Some(h) if h.is_live(now) => Seen::Live(h.version),
            Some(h) => Seen::Absent(Some(h.version)),
            None => Seen::Absent(None),
        };
        Watched { key, seen }
    }

    /// Whether the key is as it was at WATCH time. A key whose deadline
    /// passed since counts as modified; a dead item the TTL reaper removed
    /// since does not.
    pub fn unchanged(&self, snapshot: &Snapshot, now: u64) -> bool {
        let head = snapshot.get(&self.key).and_then(Option::as_ref);
        match (self.seen, head) {
            (Seen::Live(v), Some(h)) => h.version == v && h.is_live(now),
            (Seen::Live(_), None) => false,
            (Seen::Absent(Some(v)), Some(h)) => h.version == v,
            (Seen::Absent(_), None) => true,
            (Seen::Absent(None), Some(_)) => false,
        }
    }
}

/// Keys this node wrote in the last moment, so that with eventually
/// consistent reads a client still reads its own writes: a read of such a
/// key is made consistent. Bounded: pruned to the window whenever it grows.
pub struct RecentWrites {
    window: Duration,
    keys: Mutex<HashMap<DbKey, Instant>>,
    /// A FLUSHDB/FLUSHALL makes every read consistent for a window.
    everything_until: Mutex<Option<Instant>>,
}

impl RecentWrites {
    const PRUNE_AT: usize = 50_000;

    pub fn new(window: Duration) -> RecentWrites {
        RecentWrites {
            window,
            keys: Mutex::new(HashMap::new()),
            everything_until: Mutex::new(None),
        }
    }

    pub fn note<'a>(&self, written: impl IntoIterator<Item = &'a DbKey>) {
        let now = Instant::now();
        let mut keys = self.keys.lock();
        if keys.len() >= Self::PRUNE_AT {
            let window = self.window;
            keys.retain(|_, at| now.duration_since(*at) < window);
        }
        for k in written {
            keys.insert(k.clone(), now);
        }
    }

    pub fn note_everything(&self) {
        *self.everything_until.lock() = Some(Instant::now() + self.window);
    }

    pub fn any(&self, keys: &[DbKey]) -> bool {
        let now = Instant::now();
        if self
            .everything_until
            .lock()
            .is_some_and(|until| now < until)
        {
            return true;
        }
        let recent = self.keys.lock();
        keys.iter().any(|k| {
            recent
                .get(k)
                .is_some_and(|at| now.duration_since(*at) < self.window)
        })
    }
}
