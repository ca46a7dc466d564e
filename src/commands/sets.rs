//! The set commands, and [`Sets`]: what they need of a keyspace.
//!
//! SADD, SREM, SCARD, SISMEMBER, SMISMEMBER, SMEMBERS, SRANDMEMBER, SPOP,
//! SMOVE, SINTER, SINTERCARD, SINTERSTORE, SUNION, SUNIONSTORE, SDIFF,
//! SDIFFSTORE, SSCAN, with Redis 7.2's replies (`t_set.c`): the order of
//! errors, RESP3 sets (`~`) for SMEMBERS, SINTER, SUNION, SDIFF and SPOP
//! with a count (arrays in RESP2), and the order of members wherever Redis'
//! is deterministic. That order comes from Redis' encodings: a small set of
//! integers (an intset) is sorted, a small set of strings (a listpack) is
//! in insertion order. A keyspace replies with a set's members in its own
//! encoding's order ([`Sets::set_members`]); the results that Redis builds
//! in a fresh set (SUNION, SDIFF, SPOP of the whole set) are put in the
//! order that fresh set would have here ([`Building`]).
//!
//! Multi-key commands read every key first: a key of another type is
//! WRONGTYPE wherever it is, a missing key is an empty set. The STORE
//! commands overwrite the destination whatever it held (and clear its
//! deadline), and delete it when the result is empty.
//!
//! This file is longer than ~600 lines on purpose: it holds the whole set
//! command group (17 commands, the multi-key algebra among them) and its
//! unit tests, one file a group.

use std::collections::HashSet;

use bytes::Bytes;
use redynamo_layers::reply::errors;
use redynamo_layers::Reply;

use super::args::int_arg;
use super::keyspace::{Clock, Interrupt, Keyspace, Kind, Ks, WRONGTYPE};
use super::notify::class::{GENERIC, SET};
use super::notify::del_if_emptied;
use super::KeyCommand;
use crate::util::glob;
use crate::util::num::parse_i64;

/// Redis' `set-max-intset-entries`: the most members an intset holds.
pub const MAX_INTSET_ENTRIES: usize = 512;
/// Redis' `set-max-listpack-entries`.
pub const MAX_LISTPACK_ENTRIES: usize = 128;
/// Redis' `set-max-listpack-value`: the longest member a listpack holds.
pub const MAX_LISTPACK_VALUE: usize = 64;

/// How Redis builds a stored result, which decides its encoding and so
/// the order SMEMBERS gives it later.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StoreOrder {
    /// SUNIONSTORE, SDIFFSTORE: added in order to an empty intset.
    FromIntset,
    /// SINTERSTORE: added in order to an empty listpack, made an intset at
    /// the end if every member is an integer.
    FromPack,
}

const UNSUPPORTED: Interrupt = Interrupt::Unsupported(Kind::Set);

/// The set members of a keyspace. Every method defaults to
/// [`Interrupt::Unsupported`] for a backend that does not store sets yet.
///
/// The caller has looked `key` up ([`Keyspace::read`] or
/// [`Keyspace::lookup`]) and checked that it is a set or absent; an absent
/// key is an empty set. Writes mark the key for WATCH and delete a set they
/// empty.
pub trait Sets {
    /// Add `members` (at least one) to the set at `key`, created when
    /// absent; how many were new. `members.len()` is Redis' size hint:
    /// it may pick the encoding.
    fn set_add(&mut self, _key: &[u8], _members: &[Bytes]) -> Ks<usize> {
        Err(UNSUPPORTED)
    }
    /// Remove `members`; how many were there.
    fn set_remove(&mut self, _key: &[u8], _members: &[Bytes]) -> Ks<usize> {
        Err(UNSUPPORTED)
    }
    /// How many members the set has.
    fn set_len(&mut self, _key: &[u8]) -> Ks<usize> {
        Err(UNSUPPORTED)
    }
    /// Whether `member` is in the set.
    fn set_contains(&mut self, _key: &[u8], _member: &[u8]) -> Ks<bool> {
        Err(UNSUPPORTED)
    }
    /// Every member, in the order the keyspace keeps them.
    fn set_members(&mut self, _key: &[u8]) -> Ks<Vec<Bytes>> {
        Err(UNSUPPORTED)
    }
    /// Members from `cursor` on, at least `count` of them unless the scan
    /// ends; the next cursor, 0 at the end. Every member present for a whole
    /// scan is returned at least once.
    fn set_scan(&mut self, _key: &[u8], _cursor: u64, _count: usize) -> Ks<(u64, Vec<Bytes>)> {
        Err(UNSUPPORTED)
    }
    /// `count` random members, with repetition; or (`distinct`) up to
    /// `count` different ones, the whole set in order when `count` reaches
    /// its size.
    fn set_random(&mut self, _key: &[u8], _count: usize, _distinct: bool) -> Ks<Vec<Bytes>> {
        Err(UNSUPPORTED)
    }
    /// Remove and return `count` random members; all of them, in order,
    /// when `count` reaches the size.
    fn set_pop(&mut self, _key: &[u8], _count: usize) -> Ks<Vec<Bytes>> {
        Err(UNSUPPORTED)
    }
    /// Make `key` the set of `members` (distinct, in the order given),
    /// whatever it held, without deadline; delete it when `members` is
    /// empty.
    fn set_store(&mut self, _key: &[u8], _members: &[Bytes], _order: StoreOrder) -> Ks<()> {
        Err(UNSUPPORTED)
    }
}

fn set_reply(members: Vec<Bytes>) -> Reply {
    Reply::Set(members.into_iter().map(Reply::Bulk).collect())
}

fn array_reply(members: Vec<Bytes>) -> Reply {
    Reply::Array(members.into_iter().map(Reply::Bulk).collect())
}

/// Whether `key` is a set (Some(true)), absent (Some(false)), or of
/// another type (None). `counted`: a read command's lookup (keyspace hits
/// and misses).
fn is_set<K: Keyspace>(ks: &mut K, key: &[u8], counted: bool) -> Ks<Option<bool>> {
    let head = if counted {
        ks.read(key)?
    } else {
        ks.lookup(key)?
    };
    Ok(match head {
        None => Some(false),
        Some(h) if h.kind == Kind::Set => Some(true),
        Some(_) => None,
    })
}

/// Every key looked up: which exist, or WRONGTYPE if one is not a set.
fn sources<K: Keyspace>(ks: &mut K, keys: &[Bytes]) -> Ks<Result<Vec<bool>, Reply>> {
    let mut found = Vec::with_capacity(keys.len());
    for key in keys {
        match is_set(ks, key, true)? {
            Some(exists) => found.push(exists),
            None => return Ok(Err(WRONGTYPE)),
        }
    }
    Ok(Ok(found))
}

/// A set being built as Redis builds a set operation's result: in a fresh
/// intset, which becomes a listpack or a hash table by the usual rules.
/// Its members come out in that set's order: sorted while an intset (and
/// the integers added before it became a listpack stay sorted), insertion
/// order after.
struct Building {
    encoding: Encoding,
    items: Vec<Bytes>,
    present: HashSet<Bytes>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Encoding {
    Ints,
    Pack,
    Table,
}

impl Building {
    fn new() -> Building {
        Building {
            encoding: Encoding::Ints,
            items: Vec::new(),
            present: HashSet::new(),
        }
    }

    fn len(&self) -> usize {
        self.present.len()
    }

    fn add(&mut self, member: Bytes) {
        if self.present.contains(&member) {
            return;
        }
        let len = self.len();
        let fits_pack = len < MAX_LISTPACK_ENTRIES && member.len() <= MAX_LISTPACK_VALUE;
        match self.encoding {
            Encoding::Ints if parse_i64(&member).is_some() => {
                if len + 1 > MAX_INTSET_ENTRIES {
                    self.encoding = Encoding::Table;
                }
            }
            Encoding::Ints if fits_pack => {
                self.sort_ints();
                self.encoding = Encoding::Pack;
            }
            Encoding::Pack if fits_pack => {}
            Encoding::Table => {}
            _ => self.encoding = Encoding::Table,
        }
        self.present.insert(member.clone());
        self.items.push(member);
    }

    fn remove(&mut self, member: &[u8]) {
        self.present.remove(member);
    }

    fn sort_ints(&mut self) {
        let present = &self.present;
        self.items.retain(|m| present.contains(m));
        self.items
            .sort_by_key(|m| parse_i64(m).expect("an intset holds integers"));
    }

    fn into_members(mut self) -> Vec<Bytes> {
        if self.encoding == Encoding::Ints {
            self.sort_ints();
        } else {
            let present = &self.present;
            self.items.retain(|m| present.contains(m));
        }
        self.items
    }
}

/// `members` (distinct) in the order of a set Redis builds from them
/// ([`Building`]): for the memory store's tests, which check that its sets
/// agree.
#[cfg(test)]
pub(crate) fn built_order(members: &[Bytes]) -> Vec<Bytes> {
    let mut b = Building::new();
    for m in members {
        b.add(m.clone());
    }
    b.into_members()
}

/// SINTER's members, in the order of the smallest set (the first of the
/// smallest), at most `limit` of them (0: no limit).
fn intersection<K: Keyspace>(
    ks: &mut K,
    keys: &[Bytes],
    limit: usize,
) -> Ks<Result<Vec<Bytes>, Reply>> {
    let found = match sources(ks, keys)? {
        Ok(found) => found,
        Err(e) => return Ok(Err(e)),
    };
    if found.contains(&false) {
        return Ok(Ok(Vec::new()));
    }
    let mut sizes = Vec::with_capacity(keys.len());
    for (i, key) in keys.iter().enumerate() {
        sizes.push((ks.set_len(key)?, i));
    }
    // Smallest first; a stable sort, as glibc's qsort is for short arrays.
    sizes.sort_by_key(|&(len, _)| len);
    let first = &keys[sizes[0].1];
    let mut out = Vec::new();
    'members: for member in ks.set_members(first)? {
        for &(_, j) in &sizes[1..] {
            if keys[j] != *first && !ks.set_contains(&keys[j], &member)? {
                continue 'members;
            }
        }
        out.push(member);
        if limit != 0 && out.len() >= limit {
            break;
        }
    }
    Ok(Ok(out))
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Op {
    Union,
    Diff,
}

/// SUNION's or SDIFF's members, in Redis' order ([`Building`]), with
/// Redis' choice of difference algorithm (which can change the order).
fn union_or_diff<K: Keyspace>(ks: &mut K, keys: &[Bytes], op: Op) -> Ks<Result<Vec<Bytes>, Reply>> {
    let found = match sources(ks, keys)? {
        Ok(found) => found,
        Err(e) => return Ok(Err(e)),
    };
    let mut result = Building::new();
    let live = |j: usize| found[j];
    match op {
        Op::Union => {
            for (j, key) in keys.iter().enumerate() {
                if live(j) {
                    for m in ks.set_members(key)? {
                        result.add(m);
                    }
                }
            }
        }
        Op::Diff if !found[0] => {}
        // The first set minus itself.
        Op::Diff if keys[1..].contains(&keys[0]) => {}
        Op::Diff => {
            let mut sizes = vec![0; keys.len()];
            for (j, key) in keys.iter().enumerate() {
                if live(j) {
                    sizes[j] = ks.set_len(key)?;
                }
            }
            let live_count = found.iter().filter(|&&f| f).count();
            let one = sizes[0] * live_count / 2;
            let two: usize = sizes.iter().sum();
            if one <= two {
                // Each member of the first set, if no other set has it.
                'members: for m in ks.set_members(&keys[0])? {
                    for (j, key) in keys.iter().enumerate().skip(1) {
                        if live(j) && ks.set_contains(key, &m)? {
                            continue 'members;
                        }
                    }
                    result.add(m);
                }
            } else {
                // The first set, then every other set's members removed.
                for m in ks.set_members(&keys[0])? {
                    result.add(m);
                }
                for (j, key) in keys.iter().enumerate().skip(1) {
                    if result.len() == 0 {
                        break;
                    }
                    if live(j) {
                        for m in ks.set_members(key)? {
                            result.remove(&m);
                        }
                    }
                }
            }
        }
    }
    Ok(Ok(result.into_members()))
}

/// Store a set operation's result at `dst`: its size, and the key deleted
/// when it is empty.
/// `event` is the command's keyspace event (`sinterstore` …); an empty
/// result that deleted `dst` raises `del` instead, as in Redis.
fn store<K: Keyspace>(
    ks: &mut K,
    dst: &[u8],
    result: Result<Vec<Bytes>, Reply>,
    order: StoreOrder,
    event: &'static str,
) -> Ks<Reply> {
    let members = match result {
        Ok(members) => members,
        Err(e) => return Ok(e),
    };
    let existed = members.is_empty() && ks.notifies(GENERIC) && ks.exists(dst)?;
    ks.set_store(dst, &members, order)?;
    if !members.is_empty() {
        ks.notify(SET, event, dst);
    } else if existed {
        ks.notify(GENERIC, "del", dst);
    }
    Ok(Reply::Integer(members.len() as i64))
}

/// `SADD key member [member ...]`.
pub struct SAdd<'a> {
    key: &'a [u8],
    members: &'a [Bytes],
}

impl<'a> KeyCommand<'a> for SAdd<'a> {
    fn parse(a: &'a [Bytes], _: &mut impl Clock) -> Result<Self, Reply> {
        Ok(SAdd {
            key: &a[1],
            members: &a[2..],
        })
    }
    fn apply<K: Keyspace>(self, ks: &mut K) -> Ks<Reply> {
        if is_set(ks, self.key, false)?.is_none() {
            return Ok(WRONGTYPE);
        }
        let added = ks.set_add(self.key, self.members)?;
        if added > 0 {
            ks.notify(SET, "sadd", self.key);
        }
        Ok(Reply::Integer(added as i64))
    }
}

/// `SREM key member [member ...]`.
pub struct SRem<'a> {
    key: &'a [u8],
    members: &'a [Bytes],
}

impl<'a> KeyCommand<'a> for SRem<'a> {
    fn parse(a: &'a [Bytes], _: &mut impl Clock) -> Result<Self, Reply> {
        Ok(SRem {
            key: &a[1],
            members: &a[2..],
        })
    }
    fn apply<K: Keyspace>(self, ks: &mut K) -> Ks<Reply> {
        Ok(match is_set(ks, self.key, false)? {
            None => WRONGTYPE,
            Some(false) => Reply::Integer(0),
            Some(true) => {
                let removed = ks.set_remove(self.key, self.members)?;
                if removed > 0 {
                    ks.notify(SET, "srem", self.key);
                    del_if_emptied(ks, self.key)?;
                }
                Reply::Integer(removed as i64)
            }
        })
    }
}

/// `SCARD key`.
pub struct SCard<'a> {
    key: &'a [u8],
}

impl<'a> KeyCommand<'a> for SCard<'a> {
    fn parse(a: &'a [Bytes], _: &mut impl Clock) -> Result<Self, Reply> {
        Ok(SCard { key: &a[1] })
    }
    fn apply<K: Keyspace>(self, ks: &mut K) -> Ks<Reply> {
        Ok(match is_set(ks, self.key, true)? {
            None => WRONGTYPE,
            Some(false) => Reply::Integer(0),
            Some(true) => Reply::Integer(ks.set_len(self.key)? as i64),
        })
    }
}

/// `SISMEMBER key member`.
pub struct SIsMember<'a> {
    key: &'a [u8],
    member: &'a [u8],
}

impl<'a> KeyCommand<'a> for SIsMember<'a> {
    fn parse(a: &'a [Bytes], _: &mut impl Clock) -> Result<Self, Reply> {
        Ok(SIsMember {
            key: &a[1],
            member: &a[2],
        })
    }
    fn apply<K: Keyspace>(self, ks: &mut K) -> Ks<Reply> {
        Ok(match is_set(ks, self.key, true)? {
            None => WRONGTYPE,
            Some(false) => Reply::Integer(0),
            Some(true) => Reply::Integer(ks.set_contains(self.key, self.member)? as i64),
        })
    }
}

/// `SMISMEMBER key member [member ...]`.
pub struct SMIsMember<'a> {
    key: &'a [u8],
    members: &'a [Bytes],
}

impl<'a> KeyCommand<'a> for SMIsMember<'a> {
    fn parse(a: &'a [Bytes], _: &mut impl Clock) -> Result<Self, Reply> {
        Ok(SMIsMember {
            key: &a[1],
            members: &a[2..],
        })
    }
    fn apply<K: Keyspace>(self, ks: &mut K) -> Ks<Reply> {
        let exists = match is_set(ks, self.key, true)? {
            None => return Ok(WRONGTYPE),
            Some(exists) => exists,
        };
        let mut out = Vec::with_capacity(self.members.len());
        for m in self.members {
            let found = exists && ks.set_contains(self.key, m)?;
            out.push(Reply::Integer(found as i64));
        }
        Ok(Reply::Array(out))
    }
}

/// `SMEMBERS key`.
pub struct SMembers<'a> {
    key: &'a [u8],
}

impl<'a> KeyCommand<'a> for SMembers<'a> {
    fn parse(a: &'a [Bytes], _: &mut impl Clock) -> Result<Self, Reply> {
        Ok(SMembers { key: &a[1] })
    }
    fn apply<K: Keyspace>(self, ks: &mut K) -> Ks<Reply> {
        Ok(match is_set(ks, self.key, true)? {
            None => WRONGTYPE,
            Some(false) => Reply::Set(Vec::new()),
            Some(true) => set_reply(ks.set_members(self.key)?),
        })
    }
}

/// `SRANDMEMBER key [count]`.
pub struct SRandMember<'a> {
    key: &'a [u8],
    /// None: one member as a bulk string.
    count: Option<i64>,
}

impl<'a> KeyCommand<'a> for SRandMember<'a> {
    fn parse(a: &'a [Bytes], _: &mut impl Clock) -> Result<Self, Reply> {
        let count = match a.len() {
            2 => None,
            3 => match int_arg(&a[2])? {
                i64::MIN => {
                    return Err(Reply::static_error(
                        "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807",
                    ))
                }
                n => Some(n),
            },
            _ => return Err(errors::SYNTAX),
        };
        Ok(SRandMember { key: &a[1], count })
    }
    fn apply<K: Keyspace>(self, ks: &mut K) -> Ks<Reply> {
        let exists = match is_set(ks, self.key, true)? {
            None => return Ok(WRONGTYPE),
            Some(exists) => exists,
        };
        let Some(count) = self.count else {
            if !exists {
                return Ok(Reply::Null);
            }
            let mut one = ks.set_random(self.key, 1, true)?;
            return Ok(one.pop().map_or(Reply::Null, Reply::Bulk));
        };
        if !exists || count == 0 {
            return Ok(Reply::Array(Vec::new()));
        }
        let members = ks.set_random(self.key, count.unsigned_abs() as usize, count > 0)?;
        Ok(array_reply(members))
    }
}

/// `SPOP key [count]`.
pub struct SPop<'a> {
    key: &'a [u8],
    /// None: one member as a bulk string.
    count: Option<usize>,
}

impl<'a> KeyCommand<'a> for SPop<'a> {
    fn parse(a: &'a [Bytes], _: &mut impl Clock) -> Result<Self, Reply> {
        let count = match a.len() {
            2 => None,
            // Redis' getPositiveLongFromObjectOrReply: one error for both.
            3 => match parse_i64(&a[2]) {
                Some(n) if n >= 0 => Some(n as usize),
                _ => {
                    return Err(Reply::static_error(
                        "ERR value is out of range, must be positive",
                    ))
                }
            },
            _ => return Err(errors::SYNTAX),
        };
        Ok(SPop { key: &a[1], count })
    }
    fn apply<K: Keyspace>(self, ks: &mut K) -> Ks<Reply> {
        let exists = match is_set(ks, self.key, false)? {
            None => return Ok(WRONGTYPE),
            Some(exists) => exists,
        };
        let Some(count) = self.count else {
            if !exists {
                return Ok(Reply::Null);
            }
            let mut one = ks.set_pop(self.key, 1)?;
            ks.notify(SET, "spop", self.key);
            del_if_emptied(ks, self.key)?;
            return Ok(one.pop().map_or(Reply::Null, Reply::Bulk));
        };
        if !exists || count == 0 {
            return Ok(Reply::Set(Vec::new()));
        }
        let size = ks.set_len(self.key)?;
        let popped = ks.set_pop(self.key, count.min(size))?;
        ks.notify(SET, "spop", self.key);
        del_if_emptied(ks, self.key)?;
        if count >= size {
            // Redis answers with the union of the one set.
            let mut whole = Building::new();
            for m in popped {
                whole.add(m);
            }
            return Ok(set_reply(whole.into_members()));
        }
        Ok(set_reply(popped))
    }
}

/// `SMOVE source destination member`.
pub struct SMove<'a> {
    src: &'a [u8],
    dst: &'a [u8],
    member: &'a Bytes,
}

impl<'a> KeyCommand<'a> for SMove<'a> {
    fn parse(a: &'a [Bytes], _: &mut impl Clock) -> Result<Self, Reply> {
        Ok(SMove {
            src: &a[1],
            dst: &a[2],
            member: &a[3],
        })
    }
    fn apply<K: Keyspace>(self, ks: &mut K) -> Ks<Reply> {
        let src = is_set(ks, self.src, false)?;
        let dst = is_set(ks, self.dst, false)?;
        match (src, dst) {
            (Some(false), _) => return Ok(Reply::Integer(0)),
            (None, _) | (_, None) => return Ok(WRONGTYPE),
            _ => {}
        }
        if self.src == self.dst {
            return Ok(Reply::Integer(
                ks.set_contains(self.src, self.member)? as i64
            ));
        }
        let member = std::slice::from_ref(self.member);
        if ks.set_remove(self.src, member)? == 0 {
            return Ok(Reply::Integer(0));
        }
        ks.notify(SET, "srem", self.src);
        del_if_emptied(ks, self.src)?;
        if ks.set_add(self.dst, member)? > 0 {
            ks.notify(SET, "sadd", self.dst);
        }
        Ok(Reply::Integer(1))
    }
}

/// `SINTER key [key ...]`.
pub struct SInter<'a> {
    keys: &'a [Bytes],
}

impl<'a> KeyCommand<'a> for SInter<'a> {
    fn parse(a: &'a [Bytes], _: &mut impl Clock) -> Result<Self, Reply> {
        Ok(SInter { keys: &a[1..] })
    }
    fn apply<K: Keyspace>(self, ks: &mut K) -> Ks<Reply> {
        Ok(match intersection(ks, self.keys, 0)? {
            Ok(members) => set_reply(members),
            Err(e) => e,
        })
    }
}

/// `SINTERCARD numkeys key [key ...] [LIMIT limit]`.
pub struct SInterCard<'a> {
    keys: &'a [Bytes],
    limit: usize,
}

impl<'a> KeyCommand<'a> for SInterCard<'a> {
    fn parse(a: &'a [Bytes], _: &mut impl Clock) -> Result<Self, Reply> {
        let numkeys = match parse_i64(&a[1]) {
            Some(n) if n >= 1 => n as usize,
            _ => return Err(Reply::static_error("ERR numkeys should be greater than 0")),
        };
        if numkeys > a.len() - 2 {
            return Err(Reply::static_error(
                "ERR Number of keys can't be greater than number of args",
            ));
        }
        let mut limit = 0;
        let mut j = 2 + numkeys;
        while j < a.len() {
            if a[j].eq_ignore_ascii_case(b"limit") && j + 1 < a.len() {
                limit = match parse_i64(&a[j + 1]) {
                    Some(n) if n >= 0 => n as usize,
                    _ => return Err(Reply::static_error("ERR LIMIT can't be negative")),
                };
                j += 2;
            } else {
                return Err(errors::SYNTAX);
            }
        }
        Ok(SInterCard {
            keys: &a[2..2 + numkeys],
            limit,
        })
    }
    fn apply<K: Keyspace>(self, ks: &mut K) -> Ks<Reply> {
        Ok(match intersection(ks, self.keys, self.limit)? {
            Ok(members) => Reply::Integer(members.len() as i64),
            Err(e) => e,
        })
    }
}

/// `SINTERSTORE destination key [key ...]`.
pub struct SInterStore<'a> {
    dst: &'a [u8],
    keys: &'a [Bytes],
}

impl<'a> KeyCommand<'a> for SInterStore<'a> {
    fn parse(a: &'a [Bytes], _: &mut impl Clock) -> Result<Self, Reply> {
        Ok(SInterStore {
            dst: &a[1],
            keys: &a[2..],
        })
    }
    fn apply<K: Keyspace>(self, ks: &mut K) -> Ks<Reply> {
        let result = intersection(ks, self.keys, 0)?;
        store(ks, self.dst, result, StoreOrder::FromPack, "sinterstore")
    }
}

/// SUNION, SDIFF: `key [key ...]`.
pub struct SUnionDiff<'a> {
    keys: &'a [Bytes],
    op: Op,
}

impl<'a> SUnionDiff<'a> {
    pub fn union(a: &'a [Bytes]) -> SUnionDiff<'a> {
        SUnionDiff {
            keys: &a[1..],
            op: Op::Union,
        }
    }
    pub fn diff(a: &'a [Bytes]) -> SUnionDiff<'a> {
        SUnionDiff {
            keys: &a[1..],
            op: Op::Diff,
        }
    }
    pub fn apply<K: Keyspace>(self, ks: &mut K) -> Ks<Reply> {
        Ok(match union_or_diff(ks, self.keys, self.op)? {
            Ok(members) => set_reply(members),
            Err(e) => e,
        })
    }
}

/// SUNIONSTORE, SDIFFSTORE: `destination key [key ...]`.
pub struct SUnionDiffStore<'a> {
    dst: &'a [u8],
    keys: &'a [Bytes],
    op: Op,
}

impl<'a> SUnionDiffStore<'a> {
    pub fn union(a: &'a [Bytes]) -> SUnionDiffStore<'a> {
        SUnionDiffStore {
            dst: &a[1],
            keys: &a[2..],
            op: Op::Union,
        }
    }
    pub fn diff(a: &'a [Bytes]) -> SUnionDiffStore<'a> {
        SUnionDiffStore {
            dst: &a[1],
            keys: &a[2..],
            op: Op::Diff,
        }
    }
    pub fn apply<K: Keyspace>(self, ks: &mut K) -> Ks<Reply> {
        let result = union_or_diff(ks, self.keys, self.op)?;
        let event = match self.op {
            Op::Union => "sunionstore",
            Op::Diff => "sdiffstore",
        };
        store(ks, self.dst, result, StoreOrder::FromIntset, event)
    }
}

/// SSCAN's cursor as Redis 7.2's parseScanCursorOrReply reads it: what
/// `strtoul` reads whole, except after a leading space (so `+5`, `-0`, the
/// empty string (0) and `-1` (2^64 - 1) are cursors).
fn parse_cursor(b: &[u8]) -> Option<u64> {
    if b.first().is_some_and(|c| b" \t\n\x0b\x0c\r".contains(c)) {
        return None;
    }
    if b.is_empty() {
        return Some(0);
    }
    let (neg, digits) = match b[0] {
        b'-' => (true, &b[1..]),
        b'+' => (false, &b[1..]),
        _ => (false, b),
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let n: u64 = std::str::from_utf8(digits).ok()?.parse().ok()?;
    Some(if neg { n.wrapping_neg() } else { n })
}

/// `SSCAN key cursor [MATCH pattern] [COUNT count]`.
pub struct SScan<'a> {
    key: &'a [u8],
    cursor: u64,
    /// The options, read once the key is known to be a set (Redis answers
    /// a missing key before it looks at them).
    options: &'a [Bytes],
}

impl<'a> KeyCommand<'a> for SScan<'a> {
    fn parse(a: &'a [Bytes], _: &mut impl Clock) -> Result<Self, Reply> {
        let cursor = parse_cursor(&a[2]).ok_or(Reply::static_error("ERR invalid cursor"))?;
        Ok(SScan {
            key: &a[1],
            cursor,
            options: &a[3..],
        })
    }
    fn apply<K: Keyspace>(self, ks: &mut K) -> Ks<Reply> {
        let empty = || {
            Reply::Array(vec![
                Reply::Bulk(Bytes::from_static(b"0")),
                Reply::Array(Vec::new()),
            ])
        };
        match is_set(ks, self.key, true)? {
            None => return Ok(WRONGTYPE),
            Some(false) => return Ok(empty()),
            Some(true) => {}
        }
        let mut count = 10;
        let mut pattern: Option<&[u8]> = None;
        let mut i = 0;
        let o = self.options;
        while i < o.len() {
            if o[i].eq_ignore_ascii_case(b"count") && i + 1 < o.len() {
                count = match int_arg(&o[i + 1]) {
                    Ok(n) if n < 1 => return Ok(errors::SYNTAX),
                    Ok(n) => n as usize,
                    Err(e) => return Ok(e),
                };
            } else if o[i].eq_ignore_ascii_case(b"match") && i + 1 < o.len() {
                pattern = (o[i + 1].as_ref() != b"*").then_some(&o[i + 1][..]);
            } else {
                return Ok(errors::SYNTAX);
            }
            i += 2;
        }
        let (next, mut members) = ks.set_scan(self.key, self.cursor, count)?;
        if let Some(p) = pattern {
            members.retain(|m| glob::matches(p, m));
        }
        let mut buf = itoa::Buffer::new();
        Ok(Reply::Array(vec![
            Reply::bulk(buf.format(next)),
            array_reply(members),
        ]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn build(members: &[&str]) -> Vec<String> {
        let mut b = Building::new();
        for m in members {
            b.add(Bytes::copy_from_slice(m.as_bytes()));
        }
        b.into_members()
            .iter()
            .map(|m| String::from_utf8(m.to_vec()).unwrap())
            .collect()
    }

    #[test]
    fn a_built_set_is_ordered_as_redis_orders_it() {
        assert_eq!(build(&["3", "1", "2"]), ["1", "2", "3"]);
        // Integers before the first string are sorted, the rest in order.
        assert_eq!(build(&["3", "1", "a", "0", "b"]), ["1", "3", "a", "0", "b"]);
        assert_eq!(build(&["a", "3", "1"]), ["a", "3", "1"]);
        assert_eq!(build(&["1", "1", "a", "a"]), ["1", "a"]);
    }

    proptest::proptest! {
        #[test]
        fn cursors_are_unsigned_decimal_numbers(n: u64, junk in "[ a-z.]{1,3}") {
            proptest::prop_assert_eq!(parse_cursor(n.to_string().as_bytes()), Some(n));
            proptest::prop_assert_eq!(parse_cursor(format!("+{n}").as_bytes()), Some(n));
            proptest::prop_assert_eq!(parse_cursor(format!("-{n}").as_bytes()), Some(n.wrapping_neg()));
            proptest::prop_assert_eq!(parse_cursor(format!("{junk}{n}").as_bytes()), None);
            proptest::prop_assert_eq!(parse_cursor(format!("{n}{junk}").as_bytes()), None);
            proptest::prop_assert_eq!(parse_cursor(format!("{n}0000000000000000000000").as_bytes()), None);
        }
    }

    #[test]
    fn cursors_read_as_strtoul() {
        assert_eq!(parse_cursor(b"0"), Some(0));
        assert_eq!(parse_cursor(b"18446744073709551615"), Some(u64::MAX));
        assert_eq!(parse_cursor(b"+5"), Some(5));
        assert_eq!(parse_cursor(b" 5"), None);
        assert_eq!(parse_cursor(b"-0"), Some(0));
        assert_eq!(parse_cursor(b"-1"), Some(u64::MAX));
        assert_eq!(parse_cursor(b"5 "), None);
        assert_eq!(parse_cursor(b""), Some(0));
        assert_eq!(parse_cursor(b"-"), None);
        assert_eq!(parse_cursor(b"x"), None);
        assert_eq!(parse_cursor(b"18446744073709551616"), None);
    }
}
