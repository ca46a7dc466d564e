//! One stored key: its name, value and expiry in a single allocation.
//!
//! An [`Entry`] is a `Box<[u8]>` laid out as
//!
//! ```text
//! [header: u8][expire_at: u64 LE, only if HAS_EXPIRY][key length: LEB128][key][value]
//! ```
//!
//! so a hash-table slot is one 16-byte handle and each key costs one
//! allocation. The alternative it replaced, a struct of a boxed key, a
//! boxed value and a `u64` deadline, took 40-byte slots and two allocations
//! per key; at 1 M keys, where every table of a db sits at half load, the
//! slots alone then cost more than the keys and values (BENCHMARKS.md).
//!
//! The header's low bits are the value's type. Strings are the raw bytes
//! after the key. A small hash (Redis' listpack encoding) is packed the
//! same way, its value being `[field count: u8]` and the pairs of
//! `hash.rs`'s small encoding: a key of a few short fields is one
//! allocation, as a string is (Redis spends a `robj`, an sds key and a
//! listpack on it). The other collection types, and hashes once they
//! outgrow the small encoding, are a [`Collection`] behind a second kind of
//! handle, a `Box` of key, deadline and collection: `Entry` is an enum of
//! the two, which rustc lays out in 16 bytes (the boxed slice's null
//! pointer is the niche), so a table slot stays 16 bytes whatever the type.
//! Each collection type keeps its own compact encoding for small sizes
//! inside its value (what Redis calls a listpack) and switches to an
//! indexed structure when it grows.
//!
//! Keys without an expiry do not pay for one. Setting the first expiry on
//! a key (or removing the last) rebuilds the allocation, which EXPIRE and
//! PERSIST can afford; changing an existing deadline writes it in place.

use std::fmt;

use super::hash::HashValue;
use super::list::ListValue;
use super::set::SetValue;
use super::zset::ZSetValue;
use crate::commands::keyspace::Kind;

/// Header bit: an 8-byte deadline follows the header.
const HAS_EXPIRY: u8 = 0x80;
/// Header bits holding the value's type.
const KIND: u8 = 0x7f;
/// Type tag of a string.
const STRING: u8 = 0;
/// Type tag of a small hash: `[field count: u8][pairs]` (see `hash.rs`).
const SMALL_HASH: u8 = 1;

/// A stored value, borrowed from its [`Entry`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Value<'a> {
    Str(&'a [u8]),
    /// A hash in the small encoding, packed in its entry:
    /// `[field count: u8][pairs]` (see `hash.rs`).
    SmallHash(&'a [u8]),
    Coll(&'a Collection),
}

impl Value<'_> {
    /// The key's type.
    pub fn kind(&self) -> Kind {
        match self {
            Value::Str(_) => Kind::String,
            Value::SmallHash(_) => Kind::Hash,
            Value::Coll(c) => c.kind(),
        }
    }

    /// The name TYPE and SCAN TYPE use.
    pub fn type_name(&self) -> &'static str {
        self.kind().type_name()
    }
}

/// The value of a key of a collection type. Each type's module
/// (`hash.rs`, `list.rs`, `set.rs`, `zset.rs`) owns its structure and
/// implements its part of the keyspace over it.
#[derive(Clone, Debug, PartialEq)]
pub enum Collection {
    Hash(HashValue),
    List(ListValue),
    Set(SetValue),
    ZSet(ZSetValue),
}

impl Collection {
    pub fn kind(&self) -> Kind {
        match self {
            Collection::Hash(_) => Kind::Hash,
            Collection::List(_) => Kind::List,
            Collection::Set(_) => Kind::Set,
            Collection::ZSet(_) => Kind::ZSet,
        }
    }

    /// Heap bytes owned by the collection (MEMORY USAGE, INFO).
    pub fn heap_bytes(&self) -> usize {
        match self {
            Collection::Hash(v) => v.heap_bytes(),
            Collection::List(v) => v.heap_bytes(),
            Collection::Set(v) => v.heap_bytes(),
            Collection::ZSet(v) => v.heap_bytes(),
        }
    }

    /// OBJECT ENCODING's name for its current representation.
    pub fn encoding(&self) -> &'static str {
        match self {
            Collection::Hash(v) => v.encoding(),
            Collection::List(v) => v.encoding(),
            Collection::Set(v) => v.encoding(),
            Collection::ZSet(v) => v.encoding(),
        }
    }

    /// Whether it has no element left: an empty collection is deleted.
    pub fn is_empty(&self) -> bool {
        match self {
            Collection::Hash(v) => v.is_empty(),
            Collection::List(v) => v.is_empty(),
            Collection::Set(v) => v.is_empty(),
            Collection::ZSet(v) => v.is_empty(),
        }
    }
}

/// A key holding a collection.
#[derive(Clone, Debug, PartialEq)]
struct CollEntry {
    key: Box<[u8]>,
    /// Unix milliseconds; 0 = none.
    expire_at: u64,
    value: Collection,
}

#[derive(Clone, PartialEq)]
enum Repr {
    /// Header, deadline, key and string value in one buffer.
    Packed(Box<[u8]>),
    Coll(Box<CollEntry>),
}

/// A key with its value and expiry. Immutable from outside the store:
/// changing the expiry goes through [`super::Db::set_expire`] (the volatile
/// index follows it), changing the value builds a new entry.
///
/// Equality is byte equality, which is exact because the layout is
/// canonical (the deadline is present if and only if it is not 0).
#[derive(Clone, PartialEq)]
pub struct Entry(Repr);

impl Entry {
    /// Pull this entry into the CPU's caches: its first and last bytes,
    /// i.e. both cache lines of a small entry (header, key, value). See
    /// [`crate::store::Hints::warm`]; the loads' results are unused, so
    /// the CPU overlaps those of several entries.
    #[inline]
    pub fn touch(&self) {
        if let Repr::Packed(b) = &self.0 {
            std::hint::black_box(b.first().copied());
            std::hint::black_box(b.last().copied());
        }
    }

    /// An entry for `key` holding `value`, expiring at `expire_at` (Unix
    /// milliseconds; 0 means never).
    pub fn new(key: &[u8], value: Value<'_>, expire_at: u64) -> Entry {
        match value {
            Value::Str(s) => Entry::string(key, &[s], expire_at),
            Value::SmallHash(h) => Entry::small_hash(key, &[h], expire_at),
            Value::Coll(c) => Entry::collection(key, c.clone(), expire_at),
        }
    }

    /// An entry for `key` holding the collection `value`.
    pub fn collection(key: &[u8], value: Collection, expire_at: u64) -> Entry {
        Entry(Repr::Coll(Box::new(CollEntry {
            key: key.into(),
            expire_at,
            value,
        })))
    }

    /// The collection, to change in place; None for a string. The caller
    /// deletes the key when it leaves the collection empty.
    #[inline]
    pub fn collection_mut(&mut self) -> Option<&mut Collection> {
        match &mut self.0 {
            Repr::Packed(_) => None,
            Repr::Coll(c) => Some(&mut c.value),
        }
    }

    /// A string entry whose value is the concatenation of `parts`, built
    /// in place: APPEND makes its new value with one allocation and no
    /// intermediate copy.
    pub fn string(key: &[u8], parts: &[&[u8]], expire_at: u64) -> Entry {
        let value_len: usize = parts.iter().map(|p| p.len()).sum();
        let mut buf = Entry::start(STRING, key, expire_at, value_len);
        for part in parts {
            buf.extend_from_slice(part);
        }
        Entry::finish(buf)
    }

    /// A small-hash entry whose value (`[field count][pairs]`, see
    /// `hash.rs`) is the concatenation of `parts`.
    pub fn small_hash(key: &[u8], parts: &[&[u8]], expire_at: u64) -> Entry {
        let value_len: usize = parts.iter().map(|p| p.len()).sum();
        let mut buf = Entry::start(SMALL_HASH, key, expire_at, value_len);
        for part in parts {
            buf.extend_from_slice(part);
        }
        Entry::finish(buf)
    }

    /// A small hash's value bytes, to change in place (same length); None
    /// for any other type.
    pub fn small_hash_mut(&mut self) -> Option<&mut [u8]> {
        let Repr::Packed(b) = &mut self.0 else {
            return None;
        };
        if b[0] & KIND != SMALL_HASH {
            return None;
        }
        let (_, end) = key_range(b);
        Some(&mut b[end..])
    }

    /// Replace bytes `from..to` of a small hash's value with `middle`, in
    /// one exact-size allocation (a listpack reallocates on every change
    /// too). Header, deadline and key stay, so the table and the volatile
    /// index need no update. Does nothing to another type.
    pub fn splice_small_hash(&mut self, from: usize, to: usize, middle: &[&[u8]]) {
        let Repr::Packed(b) = &mut self.0 else {
            return;
        };
        if b[0] & KIND != SMALL_HASH {
            return;
        }
        let (_, end) = key_range(b);
        let (from, to) = (end + from, end + to);
        let len = from + middle.iter().map(|m| m.len()).sum::<usize>() + (b.len() - to);
        let mut next = Vec::with_capacity(len);
        next.extend_from_slice(&b[..from]);
        for m in middle {
            next.extend_from_slice(m);
        }
        next.extend_from_slice(&b[to..]);
        *b = next.into_boxed_slice();
    }

    /// Header, deadline and key of a new entry, in a buffer with exactly
    /// room for the value (so `finish` does not reallocate).
    fn start(kind: u8, key: &[u8], expire_at: u64, value_len: usize) -> Vec<u8> {
        let expiry_len = if expire_at == 0 { 0 } else { 8 };
        let len = 1 + expiry_len + varint_len(key.len()) + key.len() + value_len;
        let mut buf = Vec::with_capacity(len);
        if expire_at == 0 {
            buf.push(kind);
        } else {
            buf.push(kind | HAS_EXPIRY);
            buf.extend_from_slice(&expire_at.to_le_bytes());
        }
        write_varint(&mut buf, key.len());
        buf.extend_from_slice(key);
        buf
    }

    fn finish(buf: Vec<u8>) -> Entry {
        debug_assert_eq!(buf.len(), buf.capacity(), "entry buffer sized exactly");
        Entry(Repr::Packed(buf.into_boxed_slice()))
    }

    #[inline]
    pub fn key(&self) -> &[u8] {
        match &self.0 {
            Repr::Packed(b) => {
                let (start, end) = key_range(b);
                &b[start..end]
            }
            Repr::Coll(c) => &c.key,
        }
    }

    #[inline]
    pub fn value(&self) -> Value<'_> {
        match &self.0 {
            Repr::Packed(b) => {
                let (_, end) = key_range(b);
                match b[0] & KIND {
                    STRING => Value::Str(&b[end..]),
                    SMALL_HASH => Value::SmallHash(&b[end..]),
                    other => unreachable!("entry with unknown type tag {other}"),
                }
            }
            Repr::Coll(c) => Value::Coll(&c.value),
        }
    }

    /// Unix milliseconds at which the key expires; 0 means never.
    #[inline]
    pub fn expire_at(&self) -> u64 {
        match &self.0 {
            Repr::Packed(b) => {
                if b[0] & HAS_EXPIRY == 0 {
                    return 0;
                }
                let mut at = [0u8; 8];
                at.copy_from_slice(&b[1..9]);
                u64::from_le_bytes(at)
            }
            Repr::Coll(c) => c.expire_at,
        }
    }

    #[inline]
    pub fn is_expired(&self, now: u64) -> bool {
        let at = self.expire_at();
        at != 0 && at <= now
    }

    /// Make this a string entry holding `value` with deadline `expire_at`
    /// without reallocating, when that keeps its size: it holds a string of
    /// the same length and the same deadline. Returns false (and changes
    /// nothing) otherwise. The key and the deadline stay as they were, so
    /// the table and the volatile index need no update.
    pub fn overwrite_string(&mut self, value: &[u8], expire_at: u64) -> bool {
        if self.expire_at() != expire_at {
            return false;
        }
        let Repr::Packed(b) = &mut self.0 else {
            return false;
        };
        if b[0] & KIND != STRING {
            return false;
        }
        let (_, end) = key_range(b);
        let stored = &mut b[end..];
        if stored.len() != value.len() {
            return false;
        }
        stored.copy_from_slice(value);
        true
    }

    /// The string value, to change in place; None for a collection.
    /// A value shorter than `min_len` first grows to it with zero bytes:
    /// the allocation is resized (`realloc`, which the allocator does
    /// without a copy when the block has room), never rebuilt from a
    /// copy. Key and deadline stay, so the table and the volatile index
    /// need no update.
    pub fn string_mut(&mut self, min_len: usize) -> Option<&mut [u8]> {
        let Repr::Packed(b) = &mut self.0 else {
            return None;
        };
        if b[0] & KIND != STRING {
            return None;
        }
        let (_, end) = key_range(b);
        if b.len() - end < min_len {
            let mut buf = std::mem::take(b).into_vec();
            buf.reserve_exact(end + min_len - buf.len());
            buf.resize(end + min_len, 0);
            *b = buf.into_boxed_slice();
        }
        Some(&mut b[end..])
    }

    /// Bytes of the allocation, for memory accounting.
    pub fn heap_bytes(&self) -> usize {
        match &self.0 {
            Repr::Packed(b) => b.len(),
            Repr::Coll(c) => std::mem::size_of::<CollEntry>() + c.key.len() + c.value.heap_bytes(),
        }
    }

    /// Change the deadline (0: none). In place when the entry already has
    /// one and keeps one; otherwise the entry is rebuilt.
    pub(super) fn set_expire_at(&mut self, expire_at: u64) {
        let b = match &mut self.0 {
            Repr::Coll(c) => {
                c.expire_at = expire_at;
                return;
            }
            Repr::Packed(b) => b,
        };
        let has = b[0] & HAS_EXPIRY != 0;
        if has && expire_at != 0 {
            b[1..9].copy_from_slice(&expire_at.to_le_bytes());
        } else if has || expire_at != 0 {
            let (key_start, key_end) = key_range(b);
            let key = &b[key_start..key_end];
            let rest = &b[key_end..];
            let mut buf = Entry::start(b[0] & KIND, key, expire_at, rest.len());
            buf.extend_from_slice(rest);
            *self = Entry::finish(buf);
        }
    }
}

/// Where the key starts and ends in a packed buffer. Every lookup compares
/// keys through this, so keys under 128 bytes take a short path.
#[inline]
fn key_range(b: &[u8]) -> (usize, usize) {
    let at = if b[0] & HAS_EXPIRY == 0 { 1 } else { 9 };
    let first = b[at];
    if first < 0x80 {
        return (at + 1, at + 1 + first as usize);
    }
    let (len, varint) = read_varint(&b[at..]);
    let start = at + varint;
    (start, start + len)
}

impl fmt::Debug for Entry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Entry")
            .field("key", &String::from_utf8_lossy(self.key()))
            .field("value", &self.value())
            .field("expire_at", &self.expire_at())
            .finish()
    }
}

/// Bytes LEB128 takes for `n`: one for keys under 128 bytes.
fn varint_len(mut n: usize) -> usize {
    let mut len = 1;
    while n >= 0x80 {
        n >>= 7;
        len += 1;
    }
    len
}

fn write_varint(buf: &mut Vec<u8>, mut n: usize) {
    while n >= 0x80 {
        buf.push((n as u8) | 0x80);
        n >>= 7;
    }
    buf.push(n as u8);
}

/// The number at the start of `buf` and how many bytes it took.
fn read_varint(buf: &[u8]) -> (usize, usize) {
    let mut n = 0usize;
    for (i, &b) in buf.iter().enumerate() {
        n |= ((b & 0x7f) as usize) << (7 * i);
        if b < 0x80 {
            return (n, i + 1);
        }
    }
    unreachable!("entry with an unterminated key length")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn overwrite_in_place_only_when_the_size_and_deadline_stay() {
        let mut e = Entry::string(b"k", &[b"12"], 0);
        assert!(e.overwrite_string(b"13", 0));
        assert_eq!(
            (e.key(), e.value(), e.expire_at()),
            (&b"k"[..], Value::Str(b"13"), 0)
        );
        // A longer value, or another deadline, needs a new entry.
        assert!(!e.overwrite_string(b"100", 0));
        assert!(!e.overwrite_string(b"14", 5));
        assert_eq!(e.value(), Value::Str(b"13"));
        let mut timed = Entry::string(b"key", &[b"abc"], 77);
        assert!(timed.overwrite_string(b"xyz", 77));
        assert_eq!((timed.value(), timed.expire_at()), (Value::Str(b"xyz"), 77));
        assert!(!timed.overwrite_string(b"xyz", 0));
    }

    #[test]
    fn string_mut_grows_with_zeros_and_keeps_key_and_deadline() {
        let mut e = Entry::string(b"key", &[b"ab"], 9);
        assert_eq!(e.string_mut(1), Some(&mut b"ab".to_vec()[..]));
        let v = e.string_mut(5).unwrap();
        v[4] = b'z';
        assert_eq!(
            (e.key(), e.value(), e.expire_at()),
            (&b"key"[..], Value::Str(b"ab\0\0z"), 9)
        );
        assert_eq!(e, Entry::new(b"key", Value::Str(b"ab\0\0z"), 9));
        // Within its length, the value is changed where it is stored.
        let at = e.string_mut(0).unwrap().as_ptr();
        e.string_mut(5).unwrap()[0] = b'A';
        assert_eq!(e.string_mut(3).unwrap().as_ptr(), at);
        assert_eq!(e.value(), Value::Str(b"Ab\0\0z"));
        let mut empty = Entry::string(b"k", &[], 0);
        assert_eq!(empty.string_mut(3), Some(&mut [0u8, 0, 0][..]));
        assert_eq!(empty.heap_bytes(), 2 + 1 + 3);
    }

    #[test]
    fn an_entry_is_a_sixteen_byte_handle() {
        assert_eq!(std::mem::size_of::<Entry>(), 16);
    }

    #[test]
    fn short_key_and_value_take_two_header_bytes() {
        let e = Entry::new(&[b'k'; 16], Value::Str(&[b'v'; 64]), 0);
        assert_eq!(e.heap_bytes(), 2 + 16 + 64);
        let e = Entry::new(&[b'k'; 16], Value::Str(&[b'v'; 64]), 5);
        assert_eq!(e.heap_bytes(), 2 + 8 + 16 + 64);
    }

    #[test]
    fn setting_and_clearing_the_expiry_keeps_key_and_value() {
        let mut e = Entry::new(b"key", Value::Str(b"value"), 0);
        e.set_expire_at(10);
        assert_eq!(
            (e.key(), e.value(), e.expire_at()),
            (&b"key"[..], Value::Str(b"value"), 10)
        );
        assert!(!e.is_expired(9) && e.is_expired(10));
        e.set_expire_at(20);
        assert_eq!(e.expire_at(), 20);
        e.set_expire_at(0);
        assert_eq!(e, Entry::new(b"key", Value::Str(b"value"), 0));
        assert!(!e.is_expired(u64::MAX));
    }

    #[test]
    fn string_concatenates_its_parts() {
        let e = Entry::string(b"k", &[b"ab", b"", b"cd"], 7);
        assert_eq!(e, Entry::new(b"k", Value::Str(b"abcd"), 7));
    }

    proptest! {
        #[test]
        fn round_trips(key in proptest::collection::vec(any::<u8>(), 0..400),
                       value in proptest::collection::vec(any::<u8>(), 0..300),
                       expire_at in prop_oneof![Just(0u64), any::<u64>()],
                       later in prop_oneof![Just(0u64), any::<u64>()]) {
            let mut e = Entry::new(&key, Value::Str(&value), expire_at);
            prop_assert_eq!(e.key(), &key[..]);
            prop_assert_eq!(e.value(), Value::Str(&value));
            prop_assert_eq!(e.expire_at(), expire_at);
            e.set_expire_at(later);
            prop_assert_eq!(&e, &Entry::new(&key, Value::Str(&value), later));
        }
    }
}
