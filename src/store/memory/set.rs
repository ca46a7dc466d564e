//! The in-memory Set type: [`SetValue`] and its part of the keyspace
//! ([`Sets`] for [`MemKeyspace`]).
//!
//! Three encodings, chosen and changed by Redis 7.2's rules (`t_set.c`),
//! because the two small ones decide the order Redis replies in:
//!
//! - [`IntSet`]: every member an integer in Redis' canonical form
//!   (`string2ll`), at most 512 of them (`set-max-intset-entries`), sorted
//!   by value and stored 2, 4 or 8 bytes wide as the largest needs (Redis'
//!   intset). SMEMBERS replies in numeric order.
//! - [`Pack`]: at most 128 members (`set-max-listpack-entries`) of at most
//!   64 bytes (`set-max-listpack-value`) in one buffer, each a length byte
//!   and its bytes, in insertion order (Redis' listpack).
//! - [`Table`]: a `hashbrown` table of boxed members (one allocation per
//!   member, a 16-byte slot), in no particular order.
//!
//! A set is created as an intset when its first member is an integer and
//! the command adds at most 512 members, as a pack when it adds at most
//! 128, as a table otherwise. An intset given a non-integer becomes a pack
//! if it has fewer than 128 members, a table otherwise; an intset past 512
//! members or a pack past 128 (or given a member over 64 bytes) becomes a
//! table. Nothing ever converts back, except a set built by SINTERSTORE
//! (an intset when every member is an integer).
//!
//! Memory: an intset costs what Redis' does (2, 4 or 8 bytes a member), a
//! pack one byte of length per member where a listpack takes two. A table
//! member costs its 16-byte slot (and a control byte) at the table's load,
//! plus its own allocation: with 1 M members of 14 bytes (the table at half
//! load) about 52 bytes a member, against 56 measured for redis-server
//! 7.0.15 (`used_memory`). Redis 7.2 keeps a bare `sds` pointer per dict
//! bucket and is lower; an 8-byte thin pointer per member would match it
//! but needs unsafe code, which the crate forbids.
//!
//! SSCAN of a table walks the members in the order of their hash (one
//! process-wide hasher), the cursor being the next hash to return: every
//! member present for the whole scan is returned exactly once, whatever
//! the table does in between. Each call takes at least COUNT members and at
//! least 1/32 of the set, so a whole scan is at most about 32 passes over
//! the table. The small encodings answer in one call with cursor 0, as
//! Redis does.
//!
//! This file is longer than ~600 lines on purpose: the three encodings
//! (intset, listpack, table), the conversions and Redis' pick order for
//! SPOP/SRANDMEMBER belong together; a fifth of it is tests.

use std::hash::BuildHasher;
use std::sync::OnceLock;

use bytes::Bytes;
use hashbrown::DefaultHashBuilder;
use hashbrown::HashTable;
use rand::seq::index::sample;
use rand::Rng;

use super::entry::{Collection, Entry};
use super::keyspace::MemKeyspace;
use crate::commands::sets::{
    Sets, StoreOrder, MAX_INTSET_ENTRIES, MAX_LISTPACK_ENTRIES, MAX_LISTPACK_VALUE,
};
use crate::commands::Ks;
use crate::util::num::parse_i64;

/// The value of a Set key.
#[derive(Clone, Debug, PartialEq)]
pub enum SetValue {
    Ints(IntSet),
    Pack(Pack),
    Table(Table),
}

/// Sorted integers, as narrow as the widest member allows.
#[derive(Clone, Debug, PartialEq)]
pub enum IntSet {
    W16(Vec<i16>),
    W32(Vec<i32>),
    W64(Vec<i64>),
}

/// Members in insertion order: `[length byte][bytes]` each.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Pack {
    buf: Vec<u8>,
    len: usize,
}

/// The large encoding.
#[derive(Clone, Default)]
pub struct Table(HashTable<Box<[u8]>>);

/// The one hasher of every set table (and of SSCAN's order).
fn hash(member: &[u8]) -> u64 {
    static HASHER: OnceLock<DefaultHashBuilder> = OnceLock::new();
    HASHER
        .get_or_init(DefaultHashBuilder::default)
        .hash_one(member)
}

fn int_bytes(v: i64) -> Bytes {
    Bytes::copy_from_slice(itoa::Buffer::new().format(v).as_bytes())
}

/// Run `$body` with `$v` bound to the intset's vector, whatever its width.
macro_rules! with_ints {
    ($set:expr, $v:ident => $body:expr) => {
        match $set {
            IntSet::W16($v) => $body,
            IntSet::W32($v) => $body,
            IntSet::W64($v) => $body,
        }
    };
}

impl IntSet {
    fn new() -> IntSet {
        IntSet::W16(Vec::new())
    }

    pub fn len(&self) -> usize {
        with_ints!(self, v => v.len())
    }

    fn get(&self, i: usize) -> i64 {
        match self {
            IntSet::W16(v) => i64::from(v[i]),
            IntSet::W32(v) => i64::from(v[i]),
            IntSet::W64(v) => v[i],
        }
    }

    fn position(&self, x: i64) -> Result<usize, usize> {
        match self {
            IntSet::W16(v) => match i16::try_from(x) {
                Ok(x) => v.binary_search(&x),
                Err(_) => Err(if x < 0 { 0 } else { v.len() }),
            },
            IntSet::W32(v) => match i32::try_from(x) {
                Ok(x) => v.binary_search(&x),
                Err(_) => Err(if x < 0 { 0 } else { v.len() }),
            },
            IntSet::W64(v) => v.binary_search(&x),
        }
    }

    fn contains(&self, x: i64) -> bool {
        self.position(x).is_ok()
    }

    /// Widen to hold `x` (Redis' intsetUpgradeAndAdd).
    fn widen_for(&mut self, x: i64) {
        let fits16 = i16::try_from(x).is_ok();
        let fits32 = i32::try_from(x).is_ok();
        match self {
            IntSet::W16(v) if !fits16 => {
                *self = if fits32 {
                    IntSet::W32(v.iter().map(|&n| n as i32).collect())
                } else {
                    IntSet::W64(v.iter().map(|&n| n as i64).collect())
                };
            }
            IntSet::W32(v) if !fits32 => *self = IntSet::W64(v.iter().map(|&n| n as i64).collect()),
            _ => {}
        }
    }

    fn insert(&mut self, x: i64) -> bool {
        let Err(at) = self.position(x) else {
            return false;
        };
        self.widen_for(x);
        // Exact growth, as Redis reallocates an intset per insert.
        with_ints!(self, v => {
            v.reserve_exact(1);
            v.insert(at, x as _);
        });
        true
    }

    fn remove(&mut self, x: i64) -> bool {
        let Ok(at) = self.position(x) else {
            return false;
        };
        with_ints!(self, v => {
            v.remove(at);
            if v.capacity() > v.len() * 2 {
                v.shrink_to_fit();
            }
        });
        true
    }

    /// Keep the members at the indexes `keep` says.
    fn retain_indexes(&mut self, mut keep: impl FnMut(usize) -> bool) {
        with_ints!(self, v => {
            let mut i = 0;
            v.retain(|_| {
                i += 1;
                keep(i - 1)
            });
            v.shrink_to_fit();
        })
    }

    fn heap_bytes(&self) -> usize {
        match self {
            IntSet::W16(v) => v.capacity() * 2,
            IntSet::W32(v) => v.capacity() * 4,
            IntSet::W64(v) => v.capacity() * 8,
        }
    }
}

impl Pack {
    fn iter(&self) -> PackIter<'_> {
        PackIter { buf: &self.buf }
    }

    fn find(&self, member: &[u8]) -> Option<(usize, usize)> {
        let mut at = 0;
        while at < self.buf.len() {
            let n = self.buf[at] as usize;
            if &self.buf[at + 1..at + 1 + n] == member {
                return Some((at, at + 1 + n));
            }
            at += 1 + n;
        }
        None
    }

    fn push(&mut self, member: &[u8]) {
        debug_assert!(member.len() <= MAX_LISTPACK_VALUE);
        self.buf.reserve_exact(1 + member.len());
        self.buf.push(member.len() as u8);
        self.buf.extend_from_slice(member);
        self.len += 1;
    }

    fn remove(&mut self, member: &[u8]) -> bool {
        let Some((start, end)) = self.find(member) else {
            return false;
        };
        self.buf.drain(start..end);
        self.len -= 1;
        if self.buf.capacity() > self.buf.len() * 2 {
            self.buf.shrink_to_fit();
        }
        true
    }

    /// Keep the members at the indexes `keep` says.
    fn retain_indexes(&mut self, mut keep: impl FnMut(usize) -> bool) {
        let mut next = Pack::default();
        for (i, m) in self.iter().enumerate() {
            if keep(i) {
                next.push(m);
            }
        }
        *self = next;
    }

    fn nth(&self, i: usize) -> &[u8] {
        self.iter().nth(i).expect("index within the pack")
    }
}

struct PackIter<'a> {
    buf: &'a [u8],
}

impl<'a> Iterator for PackIter<'a> {
    type Item = &'a [u8];
    fn next(&mut self) -> Option<&'a [u8]> {
        let (&n, rest) = self.buf.split_first()?;
        let (m, rest) = rest.split_at(n as usize);
        self.buf = rest;
        Some(m)
    }
}

impl Table {
    fn with_capacity(n: usize) -> Table {
        Table(HashTable::with_capacity(n))
    }

    fn contains(&self, member: &[u8]) -> bool {
        self.0.find(hash(member), |m| &m[..] == member).is_some()
    }

    fn insert(&mut self, member: &[u8]) -> bool {
        let h = hash(member);
        match self.0.entry(h, |m| &m[..] == member, |m| hash(m)) {
            hashbrown::hash_table::Entry::Occupied(_) => false,
            hashbrown::hash_table::Entry::Vacant(slot) => {
                slot.insert(member.into());
                true
            }
        }
    }

    fn remove(&mut self, member: &[u8]) -> bool {
        match self.0.find_entry(hash(member), |m| &m[..] == member) {
            Ok(found) => {
                found.remove();
                self.shrink_if_sparse();
                true
            }
            Err(_) => false,
        }
    }

    /// Give memory back after deletes, as Redis resizes its dict: also keeps
    /// random picks (which probe buckets) cheap.
    fn shrink_if_sparse(&mut self) {
        let t = &mut self.0;
        if t.num_buckets() > 64 && t.len() * 8 < t.num_buckets() {
            t.shrink_to_fit(|m| hash(m));
        }
    }

    /// A random occupied bucket.
    fn random_bucket(&self, rng: &mut impl Rng) -> usize {
        let n = self.0.num_buckets();
        loop {
            let i = rng.gen_range(0..n);
            if self.0.get_bucket(i).is_some() {
                return i;
            }
        }
    }

    fn pop_random(&mut self, rng: &mut impl Rng) -> Box<[u8]> {
        let i = self.random_bucket(rng);
        let (m, _) = self
            .0
            .get_bucket_entry(i)
            .expect("an occupied bucket")
            .remove();
        m
    }
}

impl PartialEq for Table {
    fn eq(&self, other: &Table) -> bool {
        self.0.len() == other.0.len() && self.0.iter().all(|m| other.contains(m))
    }
}

impl std::fmt::Debug for Table {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set()
            .entries(self.0.iter().map(|m| String::from_utf8_lossy(m)))
            .finish()
    }
}

/// How many members each SSCAN call over a table takes at least: 1/32 of
/// the set (see the module docs).
const SCAN_SHARE: usize = 32;

impl SetValue {
    /// An empty set that will hold `first` and about `hint` members in all
    /// (Redis' setTypeCreate).
    pub fn new(first: &[u8], hint: usize) -> SetValue {
        if parse_i64(first).is_some() && hint <= MAX_INTSET_ENTRIES {
            SetValue::Ints(IntSet::new())
        } else if hint <= MAX_LISTPACK_ENTRIES {
            SetValue::Pack(Pack::default())
        } else {
            SetValue::Table(Table::with_capacity(hint))
        }
    }

    /// Switch to a table before adding about `hint` members, if the small
    /// encoding could not hold them (Redis' setTypeMaybeConvert).
    pub fn prepare(&mut self, hint: usize) {
        let too_many = match self {
            SetValue::Pack(_) => hint > MAX_LISTPACK_ENTRIES,
            SetValue::Ints(_) => hint > MAX_INTSET_ENTRIES,
            SetValue::Table(_) => false,
        };
        if too_many {
            self.convert_to_table(hint);
        }
    }

    /// A set holding `members`, built as Redis builds the result of a
    /// set operation (see [`StoreOrder`]).
    pub fn build(members: &[Bytes], order: StoreOrder) -> SetValue {
        let mut set = match order {
            StoreOrder::FromIntset => SetValue::Ints(IntSet::new()),
            StoreOrder::FromPack => SetValue::Pack(Pack::default()),
        };
        for m in members {
            set.add(m);
        }
        if order == StoreOrder::FromPack {
            set.maybe_to_intset();
        }
        set
    }

    /// Redis' maybeConvertToIntset: an intset when every member is an
    /// integer and there are few enough.
    fn maybe_to_intset(&mut self) {
        if matches!(self, SetValue::Ints(_)) || self.len() > MAX_INTSET_ENTRIES {
            return;
        }
        let mut ints = IntSet::new();
        let mut all = true;
        self.for_each(|m| match parse_i64(m) {
            Some(v) => {
                ints.insert(v);
            }
            None => all = false,
        });
        if all {
            *self = SetValue::Ints(ints);
        }
    }

    fn convert_to_table(&mut self, capacity: usize) {
        let mut t = Table::with_capacity(capacity.max(self.len()));
        self.for_each(|m| {
            t.insert(m);
        });
        *self = SetValue::Table(t);
    }

    pub fn len(&self) -> usize {
        match self {
            SetValue::Ints(s) => s.len(),
            SetValue::Pack(p) => p.len,
            SetValue::Table(t) => t.0.len(),
        }
    }

    /// OBJECT ENCODING's name for its representation.
    pub fn encoding(&self) -> &'static str {
        match self {
            SetValue::Ints(_) => "intset",
            SetValue::Pack(_) => "listpack",
            SetValue::Table(_) => "hashtable",
        }
    }

    /// Whether it holds no element.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Heap bytes owned by the value.
    pub fn heap_bytes(&self) -> usize {
        match self {
            SetValue::Ints(s) => s.heap_bytes(),
            SetValue::Pack(p) => p.buf.capacity(),
            SetValue::Table(t) => {
                t.0.allocation_size() + t.0.iter().map(|m| m.len()).sum::<usize>()
            }
        }
    }

    /// Every member, in the encoding's order.
    pub fn for_each(&self, mut f: impl FnMut(&[u8])) {
        match self {
            SetValue::Ints(s) => {
                let mut buf = itoa::Buffer::new();
                for i in 0..s.len() {
                    f(buf.format(s.get(i)).as_bytes());
                }
            }
            SetValue::Pack(p) => p.iter().for_each(f),
            SetValue::Table(t) => t.0.iter().for_each(|m| f(m)),
        }
    }

    pub fn members(&self) -> Vec<Bytes> {
        let mut out = Vec::with_capacity(self.len());
        self.for_each(|m| out.push(Bytes::copy_from_slice(m)));
        out
    }

    pub fn contains(&self, member: &[u8]) -> bool {
        match self {
            SetValue::Ints(s) => parse_i64(member).is_some_and(|v| s.contains(v)),
            SetValue::Pack(p) => p.find(member).is_some(),
            SetValue::Table(t) => t.contains(member),
        }
    }

    /// Add `member`; whether it was new (Redis' setTypeAdd).
    pub fn add(&mut self, member: &[u8]) -> bool {
        match self {
            SetValue::Table(t) => t.insert(member),
            SetValue::Pack(p) => {
                if p.find(member).is_some() {
                    return false;
                }
                if p.len < MAX_LISTPACK_ENTRIES && member.len() <= MAX_LISTPACK_VALUE {
                    p.push(member);
                } else {
                    self.convert_to_table(self.len() + 1);
                    self.add(member);
                }
                true
            }
            SetValue::Ints(s) => match parse_i64(member) {
                Some(v) => {
                    if !s.insert(v) {
                        return false;
                    }
                    if s.len() > MAX_INTSET_ENTRIES {
                        self.convert_to_table(self.len());
                    }
                    true
                }
                None => {
                    // The longest integer is 20 bytes: under the value limit.
                    if s.len() < MAX_LISTPACK_ENTRIES && member.len() <= MAX_LISTPACK_VALUE {
                        let mut p = Pack::default();
                        self.for_each(|m| p.push(m));
                        p.push(member);
                        p.buf.shrink_to_fit();
                        *self = SetValue::Pack(p);
                    } else {
                        self.convert_to_table(self.len() + 1);
                        self.add(member);
                    }
                    true
                }
            },
        }
    }

    /// Remove `member`; whether it was there.
    pub fn remove(&mut self, member: &[u8]) -> bool {
        match self {
            SetValue::Ints(s) => parse_i64(member).is_some_and(|v| s.remove(v)),
            SetValue::Pack(p) => p.remove(member),
            SetValue::Table(t) => t.remove(member),
        }
    }

    /// The member at index `i` of a small encoding.
    fn small_nth(&self, i: usize) -> Bytes {
        match self {
            SetValue::Ints(s) => int_bytes(s.get(i)),
            SetValue::Pack(p) => Bytes::copy_from_slice(p.nth(i)),
            SetValue::Table(_) => unreachable!("a table has no index"),
        }
    }

    /// SRANDMEMBER: `count` members drawn with repetition, or (`distinct`)
    /// up to `count` different members; the whole set, in order, when
    /// `count` reaches its size.
    pub fn random(&self, count: usize, distinct: bool, rng: &mut impl Rng) -> Vec<Bytes> {
        let len = self.len();
        if len == 0 || count == 0 {
            return Vec::new();
        }
        if distinct && count >= len {
            return self.members();
        }
        match self {
            SetValue::Table(t) => {
                let pick = |rng: &mut _| {
                    Bytes::copy_from_slice(t.0.get_bucket(t.random_bucket(rng)).expect("occupied"))
                };
                if !distinct {
                    return (0..count).map(|_| pick(rng)).collect();
                }
                if count * 3 > len {
                    let all: Vec<&Box<[u8]>> = t.0.iter().collect();
                    return sample(rng, len, count)
                        .into_iter()
                        .map(|i| Bytes::copy_from_slice(all[i]))
                        .collect();
                }
                let mut buckets = std::collections::HashSet::with_capacity(count);
                let mut out = Vec::with_capacity(count);
                while out.len() < count {
                    let i = t.random_bucket(rng);
                    if buckets.insert(i) {
                        out.push(Bytes::copy_from_slice(t.0.get_bucket(i).expect("occupied")));
                    }
                }
                out
            }
            _ if !distinct => (0..count)
                .map(|_| self.small_nth(rng.gen_range(0..len)))
                .collect(),
            _ => {
                // Distinct members of a small set come in the set's order,
                // as Redis' listpack sampling gives them.
                let mut at = sample(rng, len, count).into_vec();
                at.sort_unstable();
                at.into_iter().map(|i| self.small_nth(i)).collect()
            }
        }
    }

    /// SPOP: remove and return `count` random members (all of them, in
    /// order, when `count` reaches the size).
    pub fn pop(&mut self, count: usize, rng: &mut impl Rng) -> Vec<Bytes> {
        let len = self.len();
        if count >= len {
            let all = self.members();
            *self = SetValue::Pack(Pack::default());
            return all;
        }
        match self {
            SetValue::Table(t) => {
                let out = (0..count)
                    .map(|_| Bytes::from(t.pop_random(rng).into_vec()))
                    .collect();
                t.shrink_if_sparse();
                out
            }
            _ => {
                let mut at = sample(rng, len, count).into_vec();
                at.sort_unstable();
                let out = at.iter().map(|&i| self.small_nth(i)).collect();
                let mut next = at.into_iter().peekable();
                let mut keep = |i: usize| {
                    if next.peek() == Some(&i) {
                        next.next();
                        false
                    } else {
                        true
                    }
                };
                match self {
                    SetValue::Ints(s) => s.retain_indexes(&mut keep),
                    SetValue::Pack(p) => p.retain_indexes(&mut keep),
                    SetValue::Table(_) => unreachable!(),
                }
                out
            }
        }
    }

    /// SSCAN from `cursor`: (next cursor, 0 when done; members).
    pub fn scan(&self, cursor: u64, count: usize) -> (u64, Vec<Bytes>) {
        let SetValue::Table(t) = self else {
            return (0, self.members());
        };
        let want = count.max(t.0.len().div_ceil(SCAN_SHARE)).max(1);
        let mut ahead: Vec<(u64, &[u8])> =
            t.0.iter()
                .map(|m| (hash(m), &m[..]))
                .filter(|(h, _)| *h >= cursor)
                .collect();
        if ahead.len() > want {
            ahead.select_nth_unstable_by_key(want - 1, |(h, _)| *h);
            let last = ahead[want - 1].0;
            // Members sharing the last hash go together, so that the next
            // cursor (last + 1) skips none of them.
            let (mut taken, rest): (Vec<_>, Vec<_>) =
                ahead.into_iter().partition(|(h, _)| *h <= last);
            taken.sort_unstable_by_key(|(h, _)| *h);
            let next = if rest.is_empty() {
                0
            } else {
                last.wrapping_add(1)
            };
            let members = taken
                .into_iter()
                .map(|(_, m)| Bytes::copy_from_slice(m))
                .collect();
            return (next, members);
        }
        ahead.sort_unstable_by_key(|(h, _)| *h);
        (
            0,
            ahead
                .into_iter()
                .map(|(_, m)| Bytes::copy_from_slice(m))
                .collect(),
        )
    }
}

impl MemKeyspace<'_> {
    /// The set at `key`, if it is one (the caller has looked it up, so it
    /// is live).
    fn set(&mut self, key: &[u8]) -> Option<&mut SetValue> {
        match self.table().get_mut(key)?.collection_mut()? {
            Collection::Set(s) => Some(s),
            _ => None,
        }
    }

    /// After a change to the set at `key`: WATCH, and delete it if empty.
    fn changed(&mut self, key: &[u8]) {
        self.touch(key);
        if self.set(key).is_some_and(|s| s.is_empty()) {
            self.table().remove(key);
        }
    }
}

impl Sets for MemKeyspace<'_> {
    fn set_add(&mut self, key: &[u8], members: &[Bytes]) -> Ks<usize> {
        self.expire_if_needed(key);
        let Some(first) = members.first() else {
            return Ok(0);
        };
        if let Some(set) = self.set(key) {
            set.prepare(members.len());
            let added = members.iter().filter(|m| set.add(m)).count();
            if added > 0 {
                self.touch(key);
            }
            return Ok(added);
        }
        if self.table().get(key).is_some() {
            // Not a set: the caller checked that it is absent.
            return Ok(0);
        }
        let mut set = SetValue::new(first, members.len());
        let added = members.iter().filter(|m| set.add(m)).count();
        self.table()
            .insert(Entry::collection(key, Collection::Set(set), 0));
        self.touch(key);
        Ok(added)
    }

    fn set_remove(&mut self, key: &[u8], members: &[Bytes]) -> Ks<usize> {
        let Some(set) = self.set(key) else {
            return Ok(0);
        };
        let mut removed = 0;
        for m in members {
            if set.remove(m) {
                removed += 1;
                if set.is_empty() {
                    break;
                }
            }
        }
        if removed > 0 {
            self.changed(key);
        }
        Ok(removed)
    }

    fn set_len(&mut self, key: &[u8]) -> Ks<usize> {
        Ok(self.set(key).map_or(0, |s| s.len()))
    }

    fn set_contains(&mut self, key: &[u8], member: &[u8]) -> Ks<bool> {
        Ok(self.set(key).is_some_and(|s| s.contains(member)))
    }

    fn set_members(&mut self, key: &[u8]) -> Ks<Vec<Bytes>> {
        Ok(self.set(key).map_or_else(Vec::new, |s| s.members()))
    }

    fn set_scan(&mut self, key: &[u8], cursor: u64, count: usize) -> Ks<(u64, Vec<Bytes>)> {
        Ok(self
            .set(key)
            .map_or((0, Vec::new()), |s| s.scan(cursor, count)))
    }

    fn set_random(&mut self, key: &[u8], count: usize, distinct: bool) -> Ks<Vec<Bytes>> {
        let mut rng = rand::thread_rng();
        Ok(self
            .set(key)
            .map_or_else(Vec::new, |s| s.random(count, distinct, &mut rng)))
    }

    fn set_pop(&mut self, key: &[u8], count: usize) -> Ks<Vec<Bytes>> {
        let mut rng = rand::thread_rng();
        let Some(set) = self.set(key) else {
            return Ok(Vec::new());
        };
        let popped = set.pop(count, &mut rng);
        if !popped.is_empty() {
            self.changed(key);
        }
        Ok(popped)
    }

    fn set_store(&mut self, key: &[u8], members: &[Bytes], order: StoreOrder) -> Ks<()> {
        self.expire_if_needed(key);
        if members.is_empty() {
            if let Some(e) = self.table().remove(key) {
                self.touch(e.key());
            }
            return Ok(());
        }
        let set = SetValue::build(members, order);
        self.store(Entry::collection(key, Collection::Set(set), 0));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeSet;

    fn b(s: &str) -> Bytes {
        Bytes::copy_from_slice(s.as_bytes())
    }

    fn kind(s: &SetValue) -> &'static str {
        match s {
            SetValue::Ints(_) => "intset",
            SetValue::Pack(_) => "listpack",
            SetValue::Table(_) => "hashtable",
        }
    }

    fn set_of(first_hint: usize, members: &[&str]) -> SetValue {
        let mut s = SetValue::new(members[0].as_bytes(), first_hint);
        for m in members {
            s.add(m.as_bytes());
        }
        s
    }

    #[test]
    fn intset_keeps_numeric_order_and_widens() {
        let s = set_of(5, &["5", "-3", "100000", "9223372036854775807", "0"]);
        assert_eq!(kind(&s), "intset");
        assert_eq!(
            s.members(),
            vec![
                b("-3"),
                b("0"),
                b("5"),
                b("100000"),
                b("9223372036854775807")
            ]
        );
        assert!(matches!(s, SetValue::Ints(IntSet::W64(_))));
        assert!(s.contains(b"100000") && !s.contains(b"0100000") && !s.contains(b"x"));
    }

    #[test]
    fn conversions_follow_redis() {
        // intset + string: listpack, integers first in numeric order.
        let s = set_of(3, &["3", "1", "a"]);
        assert_eq!(
            (kind(&s), s.members()),
            ("listpack", vec![b("1"), b("3"), b("a")])
        );
        // 513 integers: hashtable.
        let mut s = SetValue::new(b"0", 1);
        for i in 0..512 {
            s.add(i.to_string().as_bytes());
        }
        assert_eq!(kind(&s), "intset");
        s.add(b"600");
        assert_eq!(kind(&s), "hashtable");
        // 128 integers + a string: hashtable; 127 + a string: listpack.
        for (n, expect) in [(127, "listpack"), (128, "hashtable")] {
            let mut s = SetValue::new(b"0", 1);
            for i in 0..n {
                s.add(i.to_string().as_bytes());
            }
            s.add(b"x");
            assert_eq!(kind(&s), expect, "{n} integers");
        }
        // A long member or the 129th: hashtable.
        let mut s = set_of(1, &["a"]);
        s.add(&[b'x'; 65]);
        assert_eq!(kind(&s), "hashtable");
        let mut s = set_of(1, &["a"]);
        for i in 0..128 {
            s.add(format!("m{i}").as_bytes());
        }
        assert_eq!((kind(&s), s.len()), ("hashtable", 129));
        // A big SADD starts as a table; a small one after it keeps it.
        assert_eq!(kind(&SetValue::new(b"1", 513)), "hashtable");
        assert_eq!(kind(&SetValue::new(b"a", 129)), "hashtable");
        let mut s = set_of(1, &["a"]);
        s.prepare(129);
        assert_eq!(kind(&s), "hashtable");
    }

    #[test]
    fn build_for_sinterstore_becomes_an_intset_when_it_can() {
        let s = SetValue::build(&[b("3"), b("1")], StoreOrder::FromPack);
        assert_eq!((kind(&s), s.members()), ("intset", vec![b("1"), b("3")]));
        let s = SetValue::build(&[b("3"), b("1"), b("a")], StoreOrder::FromPack);
        assert_eq!(s.members(), vec![b("3"), b("1"), b("a")]);
        let s = SetValue::build(&[b("3"), b("1"), b("a")], StoreOrder::FromIntset);
        assert_eq!(s.members(), vec![b("1"), b("3"), b("a")]);
    }

    #[test]
    fn pop_and_random_from_every_encoding() {
        let mut rng = rand::thread_rng();
        for members in [
            (0..100).map(|i| i.to_string()).collect::<Vec<_>>(),
            (0..100).map(|i| format!("m{i}")).collect(),
            (0..1000).map(|i| format!("m{i}")).collect(),
        ] {
            let refs: Vec<&str> = members.iter().map(|s| s.as_str()).collect();
            let mut s = set_of(1, &refs);
            let all: BTreeSet<Bytes> = s.members().into_iter().collect();
            let r = s.random(10, true, &mut rng);
            assert_eq!(r.iter().collect::<BTreeSet<_>>().len(), 10);
            assert!(r.iter().all(|m| all.contains(m)));
            let r = s.random(members.len() / 2, true, &mut rng);
            assert_eq!(r.iter().collect::<BTreeSet<_>>().len(), members.len() / 2);
            assert_eq!(s.random(5000, false, &mut rng).len(), 5000);
            assert_eq!(s.random(5000, true, &mut rng).len(), members.len());
            let popped = s.pop(30, &mut rng);
            assert_eq!(popped.iter().collect::<BTreeSet<_>>().len(), 30);
            assert_eq!(s.len(), members.len() - 30);
            assert!(popped.iter().all(|m| !s.contains(m) && all.contains(m)));
            let rest = s.pop(usize::MAX, &mut rng);
            assert_eq!(rest.len(), members.len() - 30);
            assert!(s.is_empty());
        }
    }

    #[test]
    fn scan_of_a_table_returns_every_member_once_despite_changes() {
        let mut s = SetValue::new(b"a", 1000);
        for i in 0..5000 {
            s.add(format!("m{i}").as_bytes());
        }
        let mut seen = BTreeSet::new();
        let (mut cursor, mut rounds) = (0, 0);
        loop {
            let (next, found) = s.scan(cursor, 10);
            for m in found {
                assert!(seen.insert(m), "returned twice");
            }
            // Changes during the scan: new members, and removals of
            // members that were never there for the whole scan.
            s.add(format!("new{rounds}").as_bytes());
            s.remove(format!("new{}", rounds / 2).as_bytes());
            rounds += 1;
            cursor = next;
            if cursor == 0 {
                break;
            }
        }
        for i in 0..5000 {
            assert!(seen.contains(format!("m{i}").as_bytes()));
        }
        assert!(rounds <= SCAN_SHARE + 2, "{rounds} calls");
    }

    proptest! {
        /// The memory set and the command module's model of Redis' result
        /// sets (which orders SUNION's and SDIFF's replies) agree on the
        /// order of every result that is not a hash table.
        #[test]
        fn built_sets_agree_with_the_reply_order(members in proptest::collection::vec(
            prop_oneof![
                (-50i64..50).prop_map(|v| v.to_string()),
                "[a-z]{1,2}",
                "z{65}",
            ], 0..200)) {
            let mut seen = BTreeSet::new();
            let distinct: Vec<Bytes> = members.into_iter()
                .filter(|m| seen.insert(m.clone()))
                .map(Bytes::from)
                .collect();
            let ordered = crate::commands::sets::built_order(&distinct);
            let set = SetValue::build(&ordered, StoreOrder::FromIntset);
            let stored = set.members();
            if matches!(set, SetValue::Table(_)) {
                let a: BTreeSet<_> = stored.iter().collect();
                let b: BTreeSet<_> = ordered.iter().collect();
                prop_assert_eq!(a, b);
            } else {
                prop_assert_eq!(&stored, &ordered);
            }
            // Built from the original order too: the same set, same order.
            let direct = SetValue::build(&distinct, StoreOrder::FromIntset);
            if !matches!(direct, SetValue::Table(_)) {
                prop_assert_eq!(direct.members(), ordered);
            }
        }

        #[test]
        fn behaves_as_a_set(ops in proptest::collection::vec(
            (any::<bool>(), prop_oneof![
                (-70_000i64..70_000).prop_map(|v| v.to_string()),
                Just(i64::MIN.to_string()),
                "[a-c]{0,3}",
                "[0-9]{1,3}",
                "x{60,70}",
            ]), 1..400)) {
            let mut s: Option<SetValue> = None;
            let mut model = BTreeSet::new();
            for (add, m) in ops {
                let set = s.get_or_insert_with(|| SetValue::new(m.as_bytes(), 1));
                if add {
                    prop_assert_eq!(set.add(m.as_bytes()), model.insert(m.clone()));
                } else {
                    prop_assert_eq!(set.remove(m.as_bytes()), model.remove(&m));
                }
                prop_assert_eq!(set.len(), model.len());
                prop_assert!(model.iter().all(|m| set.contains(m.as_bytes())));
                if let SetValue::Ints(i) = set {
                    let v: Vec<i64> = (0..i.len()).map(|k| i.get(k)).collect();
                    prop_assert!(v.windows(2).all(|w| w[0] < w[1]));
                }
            }
            if let Some(set) = &s {
                let got: BTreeSet<String> = set.members().iter()
                    .map(|m| String::from_utf8(m.to_vec()).unwrap()).collect();
                prop_assert_eq!(got, model);
            }
        }
    }
}
