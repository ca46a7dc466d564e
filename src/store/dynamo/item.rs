//! Head items: decoding what DynamoDB returns, and what a write sets.

use std::collections::HashMap;

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

/// The version a write gives an item whose previous version was `prev`
/// (None: no item). See the schema docs for why new items start at
/// `now_ms * 1000`.
pub fn next_version(prev: Option<i64>, now: u64) -> i64 {
    match prev {
        Some(v) => v + 1,
        None => version_base(now),
    }
}

pub fn version_base(now: u64) -> i64 {
    (now as i64).saturating_mul(1000)
}

/// DynamoDB's TTL attribute for an expiry in ms: seconds, rounded up so the
/// reaper never removes a key before its millisecond deadline.
pub fn ttl_seconds(expire_at: u64) -> u64 {
    expire_at.div_ceil(1000)
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
    fn ttl_rounds_up() {
        assert_eq!(ttl_seconds(1000), 1);
        assert_eq!(ttl_seconds(1001), 2);
    }

    #[test]
    fn size_bound_is_close_to_the_limit() {
        assert!(fits(b"k", 400 * 1024 - 300));
        assert!(!fits(b"k", 400 * 1024));
    }
}
