//! The in-memory hash: [`HashValue`] and the memory store's [`Hashes`].
//!
//! Two encodings, as in Redis:
//!
//! - **small** (at most [`SMALL_FIELDS`] fields, every field and value at
//!   most [`SMALL_LEN`] bytes; Redis' `hash-max-listpack-entries` and
//!   `-value` defaults): `[field length: u8][field][value length:
//!   u8][value]` pairs in insertion order, a field's update keeping its
//!   place, after a count byte, packed in the key's own entry (see
//!   `entry.rs`): header, key and pairs are one exact-size allocation,
//!   rebuilt on each change as a listpack is reallocated. That is what a
//!   listpack is, so HGETALL, HKEYS, HVALS and HSCAN reply in the order
//!   Redis does, byte for byte. Lookups are a linear walk of at most 128
//!   pairs, as in a listpack. Packing the pairs with the key, rather than
//!   behind the collection handle with a boxed key, took a key of five
//!   short fields from about 223 bytes to about 135 (Redis 7.0: ~180;
//!   BENCHMARKS.md, "1,000,000 hashes of 5 fields").
//! - **large**: hashbrown `HashTable`s of single-allocation entries,
//!   `[field length: LEB128][field][value]`, so each field costs one
//!   16-byte slot and one allocation. The fields are spread over `2^bits`
//!   tables by bits of their hash (see [`Large`]), which gives HSCAN a
//!   cursor that survives growth, the way Redis' reverse-binary cursor
//!   does.
//!
//! Measured for 1 M fields like `field:123456` → `value:123456`: the
//! tables take 32 bytes a field (16-byte slots at hashbrown's load, plus
//! control bytes), the entries 25 (32 with the allocator's rounding), so
//! about 64 bytes a field, where Redis' dict takes about 72 to 80 (a
//! 24-byte `dictEntry` rounded to 32, a bucket pointer, two sds strings of
//! 16). A small hash of ten short pairs takes 60 bytes of pairs where the
//! listpack takes 87.
//!
//! A hash goes from small to large when a field or value longer than
//! [`SMALL_LEN`] is set or the 129th field arrives, and never back (Redis
//! does not convert back either).
//!
//! This file is longer than ~600 lines on purpose: the two encodings, the
//! conversion between them and the memory store's `Hashes` over them belong
//! together; a fifth of it is tests.

use std::fmt;
use std::hash::BuildHasher;

use bytes::Bytes;
use hashbrown::{DefaultHashBuilder, HashTable};
use rand::Rng;

use super::entry::{Collection, Entry, Value};
use super::keyspace::MemKeyspace;
use crate::commands::hashes::Hashes;
use crate::commands::Ks;

/// The most fields a small hash holds.
pub const SMALL_FIELDS: usize = 128;
/// The longest field or value a small hash holds.
pub const SMALL_LEN: usize = 64;
/// A large hash doubles its tables when they average more fields than
/// this: the granularity of HSCAN and the bound of a random pick's walk.
const PART_FIELDS: usize = 128;

/// A large hash: the value of a hash key in a [`Collection::Hash`]. A
/// small hash has no value of its own: it is packed in its [`Entry`]
/// (`Value::SmallHash`), one allocation with the key.
#[derive(Clone, PartialEq)]
pub struct HashValue(Box<Large>);

impl PartialEq for Large {
    /// Same fields and values, whatever the order.
    fn eq(&self, other: &Large) -> bool {
        if self.len != other.len {
            return false;
        }
        let mut same = true;
        self.for_each(&mut |f, v| same &= other.get(f) == Some(v));
        same
    }
}

impl fmt::Debug for HashValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut map = f.debug_map();
        self.0.for_each(&mut |k, v| {
            map.entry(&String::from_utf8_lossy(k), &String::from_utf8_lossy(v));
        });
        map.finish()
    }
}

impl HashValue {
    /// Heap bytes owned by the value.
    pub fn heap_bytes(&self) -> usize {
        std::mem::size_of::<Large>() + self.0.heap_bytes()
    }

    /// OBJECT ENCODING's name for its representation.
    pub fn encoding(&self) -> &'static str {
        "hashtable"
    }

    /// Whether it holds no field.
    pub fn is_empty(&self) -> bool {
        self.0.len == 0
    }
}

/// A hash, borrowed from its entry: the small encoding's bytes packed in
/// the entry (`[field count: u8][pairs]`), or a large hash.
#[derive(Clone, Copy)]
enum HashRef<'a> {
    Small(&'a [u8]),
    Large(&'a Large),
}

impl<'a> HashRef<'a> {
    /// The hash `entry` holds; None for another type.
    fn of(entry: &'a Entry) -> Option<HashRef<'a>> {
        match entry.value() {
            Value::SmallHash(b) => Some(HashRef::Small(b)),
            Value::Coll(Collection::Hash(h)) => Some(HashRef::Large(&h.0)),
            _ => None,
        }
    }

    fn len(self) -> usize {
        match self {
            HashRef::Small(b) => b[0] as usize,
            HashRef::Large(l) => l.len,
        }
    }

    fn get(self, field: &[u8]) -> Option<&'a [u8]> {
        match self {
            HashRef::Small(b) => {
                let pairs = &b[1..];
                small::find(pairs, field).map(|at| small::value_at(pairs, at))
            }
            HashRef::Large(l) => l.get(field),
        }
    }

    fn for_each(self, visit: &mut dyn FnMut(&[u8], &[u8])) {
        match self {
            HashRef::Small(b) => small::for_each(&b[1..], visit),
            HashRef::Large(l) => l.for_each(visit),
        }
    }

    /// See [`Hashes::hash_scan`].
    fn scan(self, cursor: u64, count: usize, visit: &mut dyn FnMut(&[u8], &[u8])) -> u64 {
        match self {
            HashRef::Small(b) => {
                small::for_each(&b[1..], visit);
                0
            }
            HashRef::Large(l) => l.scan(cursor, count, visit),
        }
    }

    /// See [`Hashes::hash_random`].
    fn random(
        self,
        rng: &mut impl Rng,
        count: usize,
        distinct: bool,
        visit: &mut dyn FnMut(&[u8], &[u8]),
    ) {
        let len = self.len();
        if len == 0 || count == 0 {
            return;
        }
        if distinct && count >= len {
            // Redis' case 2: the whole hash, in its order.
            self.for_each(visit);
            return;
        }
        let mut picks: Vec<usize> = if distinct {
            rand::seq::index::sample(rng, len, count).into_vec()
        } else {
            (0..count).map(|_| rng.gen_range(0..len)).collect()
        };
        if distinct {
            // Distinct fields come in the hash's order, as Redis' listpack
            // sampling gives them.
            picks.sort_unstable();
        }
        match self {
            HashRef::Small(b) => {
                let pairs = small::pairs(&b[1..]);
                for i in picks {
                    let (f, v) = pairs[i];
                    visit(f, v);
                }
            }
            HashRef::Large(l) => l.visit_indexes(&picks, distinct, visit),
        }
    }
}

/// Set `field` to `value` in the hash `entry` holds (converting it to the
/// large encoding when the small one cannot take the pair); true when the
/// field is new. False, and nothing changed, for another type.
fn set_in(entry: &mut Entry, field: &[u8], value: &[u8]) -> bool {
    enum Step {
        Replace { at: usize, old: usize },
        Push { end: usize },
        Convert,
    }
    let step = match entry.value() {
        Value::SmallHash(b) => {
            let fits = field.len() <= SMALL_LEN && value.len() <= SMALL_LEN;
            match small::find(&b[1..], field) {
                // Offsets in the value, past the count byte.
                Some(at) if fits => {
                    let vat = 1 + at + 1 + b[1 + at] as usize;
                    Step::Replace {
                        at: vat,
                        old: b[vat] as usize,
                    }
                }
                None if fits && (b[0] as usize) < SMALL_FIELDS => Step::Push { end: b.len() },
                _ => Step::Convert,
            }
        }
        Value::Coll(Collection::Hash(_)) => {
            let Some(Collection::Hash(h)) = entry.collection_mut() else {
                unreachable!("matched above")
            };
            return h.0.set(field, value);
        }
        _ => return false,
    };
    match step {
        Step::Replace { at, old } => {
            if old == value.len() {
                if let Some(b) = entry.small_hash_mut() {
                    b[at + 1..at + 1 + old].copy_from_slice(value);
                }
            } else {
                entry.splice_small_hash(at, at + 1 + old, &[&[value.len() as u8], value]);
            }
            false
        }
        Step::Push { end } => {
            entry.splice_small_hash(
                end,
                end,
                &[&[field.len() as u8], field, &[value.len() as u8], value],
            );
            if let Some(b) = entry.small_hash_mut() {
                b[0] += 1;
            }
            true
        }
        Step::Convert => {
            let Value::SmallHash(b) = entry.value() else {
                unreachable!("matched above")
            };
            let mut large = Large::from_small(&b[1..]);
            let new = large.set(field, value);
            let hash = Collection::Hash(HashValue(Box::new(large)));
            *entry = Entry::collection(entry.key(), hash, entry.expire_at());
            new
        }
    }
}

/// Delete `field` from the hash `entry` holds; whether it was there.
fn delete_in(entry: &mut Entry, field: &[u8]) -> bool {
    let (at, end) = match entry.value() {
        Value::SmallHash(b) => match small::find(&b[1..], field) {
            Some(at) => {
                let vat = 1 + at + 1 + b[1 + at] as usize;
                (1 + at, vat + 1 + b[vat] as usize)
            }
            None => return false,
        },
        Value::Coll(Collection::Hash(_)) => {
            return match entry.collection_mut() {
                Some(Collection::Hash(h)) => h.0.delete(field),
                _ => false,
            };
        }
        _ => return false,
    };
    entry.splice_small_hash(at, end, &[]);
    if let Some(b) = entry.small_hash_mut() {
        b[0] -= 1;
    }
    true
}

/// The small encoding's pairs, `[field length][field][value length][value]`
/// in insertion order, lengths one byte (each at most [`SMALL_LEN`]); an
/// entry keeps them after a count byte.
mod small {
    /// The offset of `field`'s pair.
    pub(super) fn find(b: &[u8], field: &[u8]) -> Option<usize> {
        let mut at = 0;
        while at < b.len() {
            let flen = b[at] as usize;
            let vat = at + 1 + flen;
            if &b[at + 1..vat] == field {
                return Some(at);
            }
            at = vat + 1 + b[vat] as usize;
        }
        None
    }

    /// The value of the pair at `at`.
    pub(super) fn value_at(b: &[u8], at: usize) -> &[u8] {
        let vat = at + 1 + b[at] as usize;
        &b[vat + 1..vat + 1 + b[vat] as usize]
    }

    pub(super) fn for_each(b: &[u8], visit: &mut dyn FnMut(&[u8], &[u8])) {
        let mut at = 0;
        while at < b.len() {
            let vat = at + 1 + b[at] as usize;
            let end = vat + 1 + b[vat] as usize;
            visit(&b[at + 1..vat], &b[vat + 1..end]);
            at = end;
        }
    }

    pub(super) fn pairs(b: &[u8]) -> Vec<(&[u8], &[u8])> {
        let mut out = Vec::new();
        let mut at = 0;
        while at < b.len() {
            let vat = at + 1 + b[at] as usize;
            let end = vat + 1 + b[vat] as usize;
            out.push((&b[at + 1..vat], &b[vat + 1..end]));
            at = end;
        }
        out
    }
}

/// The large encoding: `2^bits` hash tables, a field's table chosen by
/// the top `bits` bits of its hash rotated left by 24. Those are hash bits
/// 39 downwards, which neither hashbrown's control tag (the top seven bits)
/// nor a table's probe position (the low bits) uses.
///
/// The tables are ordered by that prefix, and doubling their number splits
/// table `j` into `2j` and `2j + 1`, so a cursor that is a prefix value
/// (`j << (64 - bits)`) still names where the scan stopped after any
/// number of doublings: HSCAN visits every field that exists for the whole
/// scan. A step visits whole tables (64 to 128 fields each on average,
/// [`PART_FIELDS`]) until it has visited COUNT fields, so HSCAN's COUNT is
/// a lower bound here, where in Redis it is a rough target.
#[derive(Clone)]
struct Large {
    hasher: DefaultHashBuilder,
    bits: u32,
    /// Fields over all tables.
    len: usize,
    parts: Vec<HashTable<Box<[u8]>>>,
    /// Bytes of the entries' allocations.
    entry_bytes: usize,
}

impl Large {
    /// The large encoding of a small hash's `pairs`.
    fn from_small(pairs: &[u8]) -> Large {
        let mut large = Large {
            hasher: DefaultHashBuilder::default(),
            bits: 0,
            len: 0,
            parts: vec![HashTable::with_capacity(SMALL_FIELDS + 1)],
            entry_bytes: 0,
        };
        small::for_each(pairs, &mut |f, v| {
            large.set(f, v);
        });
        large
    }

    fn for_each(&self, visit: &mut dyn FnMut(&[u8], &[u8])) {
        for part in &self.parts {
            for e in part {
                visit(entry_field(e), entry_value(e));
            }
        }
    }

    fn heap_bytes(&self) -> usize {
        self.entry_bytes
            + self.parts.capacity() * std::mem::size_of::<HashTable<Box<[u8]>>>()
            + self
                .parts
                .iter()
                .map(|p| p.allocation_size())
                .sum::<usize>()
    }

    fn hash(&self, field: &[u8]) -> u64 {
        self.hasher.hash_one(field)
    }

    fn part_of(bits: u32, h: u64) -> usize {
        if bits == 0 {
            0
        } else {
            (h.rotate_left(24) >> (64 - bits)) as usize
        }
    }

    fn get(&self, field: &[u8]) -> Option<&[u8]> {
        let h = self.hash(field);
        self.parts[Self::part_of(self.bits, h)]
            .find(h, |e| entry_field(e) == field)
            .map(|e| entry_value(e))
    }

    fn set(&mut self, field: &[u8], value: &[u8]) -> bool {
        let h = self.hash(field);
        let Large {
            hasher,
            bits,
            parts,
            ..
        } = self;
        let part = &mut parts[Self::part_of(*bits, h)];
        if let Some(e) = part.find_mut(h, |e| entry_field(e) == field) {
            let old = entry_value(e).len();
            if old == value.len() {
                let start = e.len() - old;
                e[start..].copy_from_slice(value);
            } else {
                let new = new_entry(field, value);
                self.entry_bytes = self.entry_bytes + new.len() - e.len();
                *e = new;
            }
            return false;
        }
        let new = new_entry(field, value);
        self.entry_bytes += new.len();
        part.insert_unique(h, new, |e| hasher.hash_one(entry_field(e)));
        self.len += 1;
        if self.len > self.parts.len() * PART_FIELDS {
            self.split();
        }
        true
    }

    fn delete(&mut self, field: &[u8]) -> bool {
        let h = self.hash(field);
        let Large {
            hasher,
            bits,
            parts,
            ..
        } = self;
        let part = &mut parts[Self::part_of(*bits, h)];
        let Ok(found) = part.find_entry(h, |e| entry_field(e) == field) else {
            return false;
        };
        let (gone, _) = found.remove();
        self.entry_bytes -= gone.len();
        self.len -= 1;
        // hashbrown never shrinks by itself; Redis' dict does after deletes.
        if part.capacity() > 64 && part.len() * 4 < part.capacity() {
            part.shrink_to_fit(|e| hasher.hash_one(entry_field(e)));
        }
        if self.bits > 0 && self.len * 8 < self.parts.len() * PART_FIELDS {
            self.merge();
        }
        true
    }

    /// Halve the tables: `2j` and `2j + 1` become `j` again, so a hash that
    /// shrank does not keep thousands of empty tables. A cursor into the
    /// odd half now names the merged table, which a scan then visits from
    /// its start: fields may come twice, none is missed.
    fn merge(&mut self) {
        let old = std::mem::take(&mut self.parts);
        let mut parts = Vec::with_capacity(old.len() / 2);
        let mut old = old.into_iter();
        while let (Some(mut even), Some(odd)) = (old.next(), old.next()) {
            let hasher = &self.hasher;
            for e in odd {
                let h = hasher.hash_one(entry_field(&e));
                even.insert_unique(h, e, |e| hasher.hash_one(entry_field(e)));
            }
            parts.push(even);
        }
        self.parts = parts;
        self.bits -= 1;
    }

    /// Double the tables: table `j` becomes `2j` and `2j + 1`.
    fn split(&mut self) {
        let bits = self.bits + 1;
        let old = std::mem::take(&mut self.parts);
        let mut parts: Vec<HashTable<Box<[u8]>>> = Vec::with_capacity(old.len() * 2);
        for part in old {
            let half = part.len() / 2 + 1;
            let base = parts.len();
            parts.push(HashTable::with_capacity(half));
            parts.push(HashTable::with_capacity(half));
            for e in part {
                let h = self.hasher.hash_one(entry_field(&e));
                let j = Self::part_of(bits, h);
                debug_assert!(j == base || j == base + 1, "a table splits in two");
                let hasher = &self.hasher;
                parts[j].insert_unique(h, e, |e| hasher.hash_one(entry_field(e)));
            }
        }
        self.parts = parts;
        self.bits = bits;
    }

    fn scan(&self, cursor: u64, count: usize, visit: &mut dyn FnMut(&[u8], &[u8])) -> u64 {
        let start = if self.bits == 0 {
            0
        } else {
            (cursor >> (64 - self.bits)) as usize
        };
        let mut visited = 0usize;
        for j in start..self.parts.len() {
            for e in &self.parts[j] {
                visit(entry_field(e), entry_value(e));
            }
            visited += self.parts[j].len();
            if visited >= count && j + 1 < self.parts.len() {
                return ((j + 1) as u64) << (64 - self.bits);
            }
        }
        0
    }

    /// Visit the fields at positions `picks` of the tables' order (sorted
    /// when `distinct`, in which case each table is walked once).
    fn visit_indexes(&self, picks: &[usize], distinct: bool, visit: &mut dyn FnMut(&[u8], &[u8])) {
        // Where each table starts in the order.
        let mut starts = Vec::with_capacity(self.parts.len());
        let mut total = 0;
        for p in &self.parts {
            starts.push(total);
            total += p.len();
        }
        let locate = |i: usize| {
            let j = starts.partition_point(|&s| s <= i) - 1;
            (j, i - starts[j])
        };
        if !distinct {
            for &i in picks {
                let (j, at) = locate(i);
                if let Some(e) = self.parts[j].iter().nth(at) {
                    visit(entry_field(e), entry_value(e));
                }
            }
            return;
        }
        let mut k = 0;
        while k < picks.len() {
            let (j, _) = locate(picks[k]);
            let end = starts[j] + self.parts[j].len();
            let mut next = picks[k];
            for (at, e) in self.parts[j].iter().enumerate() {
                if starts[j] + at == next {
                    visit(entry_field(e), entry_value(e));
                    k += 1;
                    match picks.get(k) {
                        Some(&n) if n < end => next = n,
                        _ => break,
                    }
                }
            }
        }
    }
}

/// `[field length: LEB128][field][value]` in one allocation.
fn new_entry(field: &[u8], value: &[u8]) -> Box<[u8]> {
    let mut buf = Vec::with_capacity(varint_len(field.len()) + field.len() + value.len());
    let mut n = field.len();
    while n >= 0x80 {
        buf.push((n as u8) | 0x80);
        n >>= 7;
    }
    buf.push(n as u8);
    buf.extend_from_slice(field);
    buf.extend_from_slice(value);
    buf.into_boxed_slice()
}

fn varint_len(mut n: usize) -> usize {
    let mut len = 1;
    while n >= 0x80 {
        n >>= 7;
        len += 1;
    }
    len
}

/// Where an entry's field starts and ends.
#[inline]
fn field_range(e: &[u8]) -> (usize, usize) {
    if e[0] < 0x80 {
        return (1, 1 + e[0] as usize);
    }
    let mut n = 0usize;
    let mut i = 0;
    loop {
        n |= ((e[i] & 0x7f) as usize) << (7 * i);
        if e[i] < 0x80 {
            return (i + 1, i + 1 + n);
        }
        i += 1;
    }
}

#[inline]
fn entry_field(e: &[u8]) -> &[u8] {
    let (start, end) = field_range(e);
    &e[start..end]
}

#[inline]
fn entry_value(e: &[u8]) -> &[u8] {
    &e[field_range(e).1..]
}

impl MemKeyspace<'_> {
    /// The hash at `key`, if it is one and live.
    fn hash(&mut self, key: &[u8]) -> Option<HashRef<'_>> {
        self.expire_if_needed(key);
        HashRef::of(self.table().get(key)?)
    }
}

impl Hashes for MemKeyspace<'_> {
    fn hash_get(&mut self, key: &[u8], field: &[u8]) -> Ks<Option<Bytes>> {
        Ok(self
            .hash(key)
            .and_then(|h| h.get(field))
            .map(Bytes::copy_from_slice))
    }

    fn hash_value_len(&mut self, key: &[u8], field: &[u8]) -> Ks<Option<usize>> {
        Ok(self.hash(key).and_then(|h| h.get(field)).map(<[u8]>::len))
    }

    fn hash_len(&mut self, key: &[u8]) -> Ks<usize> {
        Ok(self.hash(key).map_or(0, HashRef::len))
    }

    fn hash_set(&mut self, key: &[u8], field: &[u8], value: &[u8]) -> Ks<bool> {
        self.expire_if_needed(key);
        let created = match self.table().get_mut(key) {
            // Another type: the caller checked, so never here.
            Some(entry) => set_in(entry, field, value),
            None => {
                self.store(new_hash(key, field, value));
                return Ok(true);
            }
        };
        self.touch(key);
        Ok(created)
    }

    fn hash_delete(&mut self, key: &[u8], field: &[u8]) -> Ks<bool> {
        self.expire_if_needed(key);
        let (deleted, emptied) = match self.table().get_mut(key) {
            Some(entry) => {
                let deleted = delete_in(entry, field);
                (deleted, HashRef::of(entry).is_some_and(|h| h.len() == 0))
            }
            None => return Ok(false),
        };
        if emptied {
            self.table().remove(key);
        }
        if deleted {
            self.touch(key);
        }
        Ok(deleted)
    }

    fn hash_scan(
        &mut self,
        key: &[u8],
        cursor: u64,
        count: usize,
        visit: &mut dyn FnMut(&[u8], &[u8]),
    ) -> Ks<u64> {
        Ok(self.hash(key).map_or(0, |h| h.scan(cursor, count, visit)))
    }

    fn hash_random(
        &mut self,
        key: &[u8],
        count: usize,
        distinct: bool,
        visit: &mut dyn FnMut(&[u8], &[u8]),
    ) -> Ks<()> {
        if let Some(h) = self.hash(key) {
            h.random(&mut rand::thread_rng(), count, distinct, visit);
        }
        Ok(())
    }
}

/// A new hash entry for `key` with one pair: small when the pair fits.
fn new_hash(key: &[u8], field: &[u8], value: &[u8]) -> Entry {
    if field.len() <= SMALL_LEN && value.len() <= SMALL_LEN {
        return Entry::small_hash(
            key,
            &[&[1, field.len() as u8], field, &[value.len() as u8], value],
            0,
        );
    }
    let mut large = Large::from_small(&[]);
    large.set(field, value);
    Entry::collection(key, Collection::Hash(HashValue(Box::new(large))), 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::{BTreeMap, HashSet};

    /// A hash key as the store keeps it (a packed small hash, or a large
    /// one behind its entry), driven like a map.
    struct H(Entry);

    impl Default for H {
        fn default() -> H {
            H(Entry::small_hash(b"k", &[&[0]], 0))
        }
    }

    impl H {
        fn set(&mut self, field: &[u8], value: &[u8]) -> bool {
            set_in(&mut self.0, field, value)
        }
        fn delete(&mut self, field: &[u8]) -> bool {
            delete_in(&mut self.0, field)
        }
        fn view(&self) -> HashRef<'_> {
            HashRef::of(&self.0).expect("a hash")
        }
        fn get(&self, field: &[u8]) -> Option<&[u8]> {
            self.view().get(field)
        }
        fn len(&self) -> usize {
            self.view().len()
        }
        fn is_small(&self) -> bool {
            matches!(self.0.value(), Value::SmallHash(_))
        }
        fn heap_bytes(&self) -> usize {
            self.0.heap_bytes()
        }
        fn scan(&self, cursor: u64, count: usize, visit: &mut dyn FnMut(&[u8], &[u8])) -> u64 {
            self.view().scan(cursor, count, visit)
        }
        fn random(
            &self,
            rng: &mut impl rand::Rng,
            count: usize,
            distinct: bool,
            visit: &mut dyn FnMut(&[u8], &[u8]),
        ) {
            self.view().random(rng, count, distinct, visit)
        }
    }

    fn all(h: &H) -> Vec<(Vec<u8>, Vec<u8>)> {
        let mut out = Vec::new();
        h.scan(0, usize::MAX, &mut |f, v| {
            out.push((f.to_vec(), v.to_vec()))
        });
        out
    }

    #[test]
    fn small_keeps_insertion_order_and_updates_in_place() {
        let mut h = H::default();
        assert!(h.set(b"a", b"1"));
        assert!(h.set(b"b", b"2"));
        assert!(h.set(b"c", b"3"));
        assert!(!h.set(b"a", b"longer"));
        assert!(h.delete(b"b"));
        assert!(!h.delete(b"b"));
        assert!(h.set(b"b", b""));
        assert_eq!(
            all(&h),
            vec![
                (b"a".to_vec(), b"longer".to_vec()),
                (b"c".to_vec(), b"3".to_vec()),
                (b"b".to_vec(), b"".to_vec()),
            ]
        );
        assert!(h.is_small());
        // Header, key length, key, count; then the pairs.
        assert_eq!(h.heap_bytes(), 4 + (2 + 1 + 6) + (2 + 1 + 1) + (2 + 1));
    }

    #[test]
    fn converts_on_the_129th_field_or_a_long_member_and_never_back() {
        let mut h = H::default();
        for i in 0..SMALL_FIELDS {
            h.set(format!("f{i}").as_bytes(), b"v");
        }
        assert!(h.is_small());
        h.set(b"f0", b"w");
        assert!(h.is_small(), "an update adds no field");
        h.set(b"extra", b"v");
        assert!(!h.is_small());
        for i in 0..=SMALL_FIELDS {
            h.delete(format!("f{i}").as_bytes());
        }
        assert_eq!(h.len(), 1);
        assert!(!h.is_small());

        let mut h = H::default();
        h.set(&[b'f'; SMALL_LEN], &[b'v'; SMALL_LEN]);
        assert!(h.is_small());
        h.set(b"x", &[b'v'; SMALL_LEN + 1]);
        assert!(!h.is_small());
        assert_eq!(h.get(&[b'f'; SMALL_LEN]), Some(&[b'v'; SMALL_LEN][..]));
        let mut h = H::default();
        h.set(&[b'f'; SMALL_LEN + 1], b"v");
        assert!(!h.is_small());
    }

    #[test]
    fn a_scan_survives_growth_between_steps() {
        let mut h = H::default();
        for i in 0..1000 {
            h.set(format!("field:{i}").as_bytes(), b"v");
        }
        let mut seen = HashSet::new();
        let mut cursor = 0;
        let mut steps = 0;
        loop {
            cursor = h.scan(cursor, 10, &mut |f, _| {
                seen.insert(f.to_vec());
            });
            steps += 1;
            // Grow (and split the tables) in the middle of the scan.
            for i in 0..200 {
                h.set(format!("new:{steps}:{i}").as_bytes(), b"v");
            }
            if cursor == 0 {
                break;
            }
        }
        assert!(steps > 1, "a large hash is scanned in steps");
        for i in 0..1000 {
            assert!(seen.contains(format!("field:{i}").as_bytes()), "field:{i}");
        }
    }

    #[test]
    fn tables_merge_when_the_hash_shrinks_and_scans_stay_complete() {
        let mut h = H::default();
        for i in 0..5000 {
            h.set(format!("f{i}").as_bytes(), b"v");
        }
        let tables = |h: &H| match h.0.value() {
            Value::Coll(Collection::Hash(v)) => v.0.parts.len(),
            _ => 0,
        };
        let grown = tables(&h);
        assert!(grown >= 32, "{grown} tables");
        // Delete most of it in the middle of a scan.
        let mut seen = HashSet::new();
        let mut cursor = h.scan(0, 10, &mut |f, _| {
            seen.insert(f.to_vec());
        });
        for i in 100..5000 {
            h.delete(format!("f{i}").as_bytes());
        }
        assert!(tables(&h) < grown / 8, "{} tables", tables(&h));
        while cursor != 0 {
            cursor = h.scan(cursor, 10, &mut |f, _| {
                seen.insert(f.to_vec());
            });
        }
        for i in 0..100 {
            assert!(seen.contains(format!("f{i}").as_bytes()), "f{i}");
            assert_eq!(h.get(format!("f{i}").as_bytes()), Some(&b"v"[..]));
        }
        assert_eq!(h.len(), 100);
    }

    #[test]
    fn random_picks() {
        let mut rng = rand::thread_rng();
        for n in [5usize, 300] {
            let mut h = H::default();
            for i in 0..n {
                h.set(format!("{i}").as_bytes(), format!("v{i}").as_bytes());
            }
            for count in [1, 3, n - 1, n, n + 10] {
                let mut got = Vec::new();
                h.random(&mut rng, count, true, &mut |f, v| {
                    assert_eq!(format!("v{}", String::from_utf8_lossy(f)).as_bytes(), v);
                    got.push(f.to_vec());
                });
                assert_eq!(got.len(), count.min(n));
                let distinct: HashSet<_> = got.iter().collect();
                assert_eq!(distinct.len(), got.len());
            }
            let mut got = 0;
            h.random(&mut rng, 1000, false, &mut |_, _| got += 1);
            assert_eq!(got, 1000);
        }
    }

    proptest! {
        #[test]
        fn behaves_as_a_map(ops in proptest::collection::vec(
            (0u8..3, 0usize..200, proptest::collection::vec(any::<u8>(), 0..80)), 0..600)) {
            let mut h = H::default();
            let mut model = BTreeMap::new();
            // Insertion order, as a listpack keeps it: an update stays in
            // place, a deleted field that comes back goes to the end.
            let mut order: Vec<Vec<u8>> = Vec::new();
            for (op, field, value) in ops {
                let field = format!("{field}").into_bytes();
                match op {
                    0 | 1 => {
                        let new = model.insert(field.clone(), value.clone()).is_none();
                        if new {
                            order.push(field.clone());
                        }
                        prop_assert_eq!(h.set(&field, &value), new);
                    }
                    _ => {
                        order.retain(|f| f != &field);
                        prop_assert_eq!(h.delete(&field), model.remove(&field).is_some());
                    }
                }
                prop_assert_eq!(h.len(), model.len());
                if h.is_small() {
                    let fields: Vec<Vec<u8>> = all(&h).into_iter().map(|(f, _)| f).collect();
                    prop_assert_eq!(&fields, &order);
                }
            }
            let mut got: Vec<_> = all(&h);
            got.sort();
            let want: Vec<_> = model.into_iter().collect();
            prop_assert_eq!(got, want);
        }
    }
}
