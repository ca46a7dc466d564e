//! Head items: decoding what DynamoDB returns, and what a write sets.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};

use aws_sdk_dynamodb::types::AttributeValue;
use bytes::{BufMut, Bytes, BytesMut};

use super::schema::{self, EXPIRE, MAX_ITEM_BYTES, TYPE, VALUE, VERSION, WRITES};

/// How many recent write ids a head remembers. A write whose response was
/// lost (timeout, 5xx) is recognised as applied when its id is still among
/// them, so a retry never applies a command twice; four covers every
/// interleaving short of four other writes to the key within one retry
/// interval.
const REMEMBERED_WRITES: usize = 4;

/// Redis' type name of a string head.
pub const STRING: &str = "string";

/// One command's identity across its retries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WriteId(pub u64);

impl WriteId {
    pub fn random() -> WriteId {
        WriteId(rand::random())
    }

    /// `w` for a write after `previous` (the item's `w` when it was read).
    pub fn chain(self, previous: &[u8]) -> Bytes {
        let mut b = BytesMut::with_capacity(8 * REMEMBERED_WRITES);
        b.put_u64(self.0);
        let keep = previous.len().min(8 * (REMEMBERED_WRITES - 1)) / 8 * 8;
        b.put_slice(&previous[..keep]);
        b.freeze()
    }

    /// An idempotency token for TransactWriteItems: the same for the SDK's
    /// retries of one attempt, different for a new attempt (whose items
    /// differ, which DynamoDB would refuse under a reused token).
    pub fn token(self, attempt: u32) -> String {
        format!("redynamo-{:016x}-{attempt}", self.0)
    }
}

/// A key's head item as read.
#[derive(Clone, Debug, PartialEq)]
pub struct Head {
    pub version: i64,
    /// Redis type name; a tombstone keeps the type it had.
    pub kind: String,
    /// The string value; None for tombstones (and, later, collections).
    pub value: Option<Bytes>,
    /// Unix ms; 0 = no expiry. A tombstone's is the time of its deletion.
    pub expire_at: u64,
    /// Recent write ids, 8 bytes each, newest first.
    pub writes: Bytes,
}

/// An item that is not a head redynamo wrote.
#[derive(Debug, thiserror::Error)]
#[error("malformed item in the DynamoDB table: {0}")]
pub struct Malformed(pub &'static str);

impl Head {
    pub fn decode(item: &HashMap<String, AttributeValue>) -> Result<Head, Malformed> {
        let version = match item.get(VERSION) {
            Some(AttributeValue::N(n)) => n.parse().map_err(|_| Malformed("bad version"))?,
            _ => return Err(Malformed("no version")),
        };
        let kind = match item.get(TYPE) {
            Some(AttributeValue::S(s)) => s.clone(),
            _ => return Err(Malformed("no type")),
        };
        let value = match item.get(VALUE) {
            Some(AttributeValue::B(b)) => Some(Bytes::from(b.clone().into_inner())),
            Some(_) => return Err(Malformed("value is not binary")),
            None => None,
        };
        let expire_at = match item.get(EXPIRE) {
            Some(AttributeValue::N(n)) => n.parse().map_err(|_| Malformed("bad expiry"))?,
            Some(_) => return Err(Malformed("expiry is not a number")),
            None => 0,
        };
        let writes = match item.get(WRITES) {
            Some(AttributeValue::B(b)) => Bytes::from(b.clone().into_inner()),
            _ => Bytes::new(),
        };
        Ok(Head {
            version,
            kind,
            value,
            expire_at,
            writes,
        })
    }

    /// Whether the key exists at `now`: not expired, not a tombstone.
    pub fn is_live(&self, now: u64) -> bool {
        (self.expire_at == 0 || self.expire_at > now) && (self.value.is_some() || !self.is_string())
    }

    fn is_string(&self) -> bool {
        self.kind == STRING
    }

    /// Whether the write `id` is among the last writes of this item.
    pub fn wrote(&self, id: WriteId) -> bool {
        self.writes
            .chunks_exact(8)
            .any(|c| c == id.0.to_be_bytes().as_slice())
    }
}

/// How long an item stays in the table after it died (its expiry passed,
/// or it was deleted), before DynamoDB's TTL reaper may remove it.
///
/// A dead item still carries its stamp, and the stamp is what makes a late
/// attempt of an older write fail its condition. Once the item is gone,
/// `attribute_not_exists` passes again, so the item must outlive every
/// attempt that could still arrive. DynamoDB refuses a request signed more
/// than 5 minutes before it arrives (SigV4), so one hour covers any attempt
/// of any write, with room for the signing node's clock to be off by tens
/// of minutes. Reads treat a dead item as absent whatever the reaper does.
pub const KEEP_DEAD_SECS: u64 = 3600;

/// DynamoDB's TTL attribute for an item dead from `dead_at` (ms): seconds,
/// rounded up, plus [`KEEP_DEAD_SECS`].
pub fn ttl_seconds(dead_at: u64) -> u64 {
    dead_at.div_ceil(1000) + KEEP_DEAD_SECS
}

/// How far ahead of this node's wall clock a stamp seen on an item may pull
/// the node's write clock (10 minutes). A stamp further ahead (a node with
/// a clock far off, or another program's version numbers) is still
/// respected key by key (a write goes above it), but does not drag every
/// later stamp of this node with it.
const MAX_PULL_US: i64 = 10 * 60 * 1_000_000;

/// The node's write clock: hybrid-logical stamps in microseconds.
///
/// Every write to a head sets `ver` to a stamp and is conditional on the
/// item's current `ver` being *lower* (blind writes) or equal to what was
/// read (read-modify-write; the new stamp is above it). So an item's `ver`
/// only grows, and an attempt of a write can apply only while the item's
/// `ver` is below that attempt's stamp. An acknowledged write left `ver` at
/// its stamp or above, and every attempt of an older write carries a lower
/// or equal stamp, or a condition on a version that is gone: a held-up
/// attempt delivered late always fails.
///
/// A stamp is `max(wall clock µs, last stamp issued or seen + 1, floor)`:
/// on one node, stamps grow with every write; across nodes, a node whose
/// clock is behind learns the higher stamp from the failed condition
/// (ReturnValuesOnConditionCheckFailure) and retries above it, so the newer
/// write still wins, at the cost of one more call, and the node's clock
/// moves up for the next writes (bounded by [`MAX_PULL_US`]).
#[derive(Debug, Default)]
pub struct Stamps {
    last: AtomicI64,
}

impl Stamps {
    /// A stamp above `floor`-1 (at least `floor`), above every stamp this
    /// node issued or saw, and at least the wall clock.
    pub fn next(&self, floor: i64) -> i64 {
        let now = wall_us();
        let mut last = self.last.load(Ordering::Relaxed);
        loop {
            let stamp = now.max(last.saturating_add(1)).max(floor);
            // A floor far ahead of the wall clock serves this write only.
            let keep = stamp.min(now.saturating_add(MAX_PULL_US)).max(last);
            match self
                .last
                .compare_exchange_weak(last, keep, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => return stamp,
                Err(current) => last = current,
            }
        }
    }

    /// A stamp read from an item: later stamps of this node go above it.
    pub fn saw(&self, stamp: i64) {
        let bound = wall_us().saturating_add(MAX_PULL_US);
        self.last.fetch_max(stamp.min(bound), Ordering::Relaxed);
    }
}

fn wall_us() -> i64 {
    i64::try_from(crate::util::now_us()).unwrap_or(i64::MAX)
}

/// The stamp (`ver`) of a raw item, when it has a numeric one.
pub fn stamp_of(item: &HashMap<String, AttributeValue>) -> Option<i64> {
    match item.get(VERSION) {
        Some(AttributeValue::N(n)) => n.parse().ok(),
        _ => None,
    }
}

/// Whether the write `id` is among the last writes a raw item records.
pub fn written_by(item: &HashMap<String, AttributeValue>, id: WriteId) -> bool {
    match item.get(WRITES) {
        Some(AttributeValue::B(b)) => b
            .as_ref()
            .chunks_exact(8)
            .any(|c| c == id.0.to_be_bytes().as_slice()),
        _ => false,
    }
}

/// Whether a raw item is a live key at `now` (what `Cond::LiveAt` checks:
/// an item whose expiry, if any, has not passed; a tombstone's expiry is
/// its deletion time).
pub fn live_at(item: &HashMap<String, AttributeValue>, now: u64) -> bool {
    match item.get(EXPIRE) {
        Some(AttributeValue::N(n)) => n.parse::<u64>().is_ok_and(|x| x > now),
        _ => true,
    }
}

/// An upper bound of the size DynamoDB counts for a string head item:
/// attribute names plus values, numbers at their 21-byte maximum.
pub fn head_size(key: &[u8], value_len: usize) -> usize {
    let names: usize = [
        schema::PK,
        schema::SK,
        schema::DB,
        TYPE,
        VALUE,
        EXPIRE,
        schema::TTL,
        VERSION,
        WRITES,
    ]
    .iter()
    .map(|n| n.len())
    .sum();
    let numbers = 4 * 21;
    names + 4 + key.len() + 1 + STRING.len() + value_len + numbers + 8 * REMEMBERED_WRITES
}

/// Whether a string of `value_len` bytes at `key` fits in one item.
pub fn fits(key: &[u8], value_len: usize) -> bool {
    head_size(key, value_len) <= MAX_ITEM_BYTES
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_ids_are_remembered_for_four_writes() {
        let mut w = Bytes::new();
        for i in 1..=6u64 {
            w = WriteId(i).chain(&w);
        }
        let head = Head {
            version: 1,
            kind: STRING.into(),
            value: Some(Bytes::new()),
            expire_at: 0,
            writes: w,
        };
        assert!(head.wrote(WriteId(6)));
        assert!(head.wrote(WriteId(3)));
        assert!(!head.wrote(WriteId(2)));
        assert_eq!(head.writes.len(), 32);
    }

    #[test]
    fn tombstones_and_expired_items_are_not_live() {
        let mut head = Head {
            version: 1,
            kind: STRING.into(),
            value: Some(Bytes::from_static(b"v")),
            expire_at: 100,
            writes: Bytes::new(),
        };
        assert!(head.is_live(99));
        assert!(!head.is_live(100));
        head.expire_at = 0;
        assert!(head.is_live(u64::MAX));
        head.value = None;
        assert!(!head.is_live(0));
    }

    #[test]
    fn ttl_rounds_up_and_keeps_dead_items_an_hour() {
        assert_eq!(ttl_seconds(1000), 1 + KEEP_DEAD_SECS);
        assert_eq!(ttl_seconds(1001), 2 + KEEP_DEAD_SECS);
    }

    #[test]
    fn stamps_grow_and_follow_what_they_see() {
        let stamps = Stamps::default();
        let a = stamps.next(0);
        let b = stamps.next(0);
        assert!(b > a, "one node's stamps only grow");
        assert!(
            a >= wall_us() - 1_000_000,
            "a stamp is at least the wall clock"
        );
        // An item written by a node whose clock is 5 s ahead.
        let ahead = wall_us() + 5_000_000;
        assert_eq!(
            stamps.next(ahead + 1),
            ahead + 1,
            "a write goes above the item"
        );
        assert!(stamps.next(0) > ahead + 1, "and later writes follow");
        // A version far in the future serves its key but does not drag the
        // clock: later stamps stay within the pull bound.
        let far = i64::MAX / 2;
        assert_eq!(stamps.next(far), far);
        stamps.saw(far);
        assert!(stamps.next(0) <= wall_us() + MAX_PULL_US + 1_000);
    }

    #[test]
    fn raw_items_tell_stamp_writer_and_liveness() {
        let mut item = HashMap::from([
            (VERSION.to_string(), AttributeValue::N("42".into())),
            (
                WRITES.to_string(),
                schema::blob(WriteId(7).chain(&WriteId(9).chain(&[]))),
            ),
        ]);
        assert_eq!(stamp_of(&item), Some(42));
        assert!(written_by(&item, WriteId(9)));
        assert!(!written_by(&item, WriteId(8)));
        assert!(live_at(&item, 5));
        item.insert(EXPIRE.to_string(), AttributeValue::N("5".into()));
        assert!(!live_at(&item, 5));
        assert!(live_at(&item, 4));
    }

    #[test]
    fn size_bound_is_close_to_the_limit() {
        assert!(fits(b"k", 400 * 1024 - 300));
        assert!(!fits(b"k", 400 * 1024));
    }
}
