//! The list commands, and [`Lists`]: what they need of a keyspace.
//!
//! LPUSH, RPUSH, LPUSHX, RPUSHX, LPOP, RPOP, LLEN, LRANGE, LINDEX, LSET,
//! LINSERT, LREM, LTRIM, LPOS, LMOVE, RPOPLPUSH, LMPOP, and the blocking
//! BLPOP, BRPOP, BLMOVE, BRPOPLPUSH, BLMPOP. Each follows Redis 7.2's
//! `t_list.c`: the order in which arguments, the key's type and the
//! values are checked decides which error a bad line gets, and is kept.
//!
//! The blocking commands are [`BlockingCommand`]s: applied, they either
//! answer or say what they would wait for ([`Blocking::Wait`]). A store
//! that can park a client ([`crate::store::memory`]) waits and runs the
//! command again when a key it waits on is ready; everywhere else
//! (inside MULTI, on a backend that does not block) the wait becomes the
//! command's immediate "nothing" reply, as Redis answers a client that
//! may not block.
//!
//! This file is longer than ~600 lines on purpose: it holds the whole list
//! command group (22 commands, the blocking ones among them) and its unit
//! tests, one file a group.

use std::time::Duration;

use bytes::Bytes;
use redynamo_layers::command::wrong_arity;
use redynamo_layers::reply::errors;
use redynamo_layers::Reply;

use super::keyspace::{Clock, Interrupt, Keyspace, Kind, Ks};
use super::notify::class::LIST;
use super::notify::del_if_emptied;
use super::{int_arg, KeyCommand};
use crate::util::longdouble::LongDouble;
use crate::util::num::parse_f64;

/// An end of a list: LEFT (head) or RIGHT (tail).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum End {
    Front,
    Back,
}

const UNSUPPORTED: Interrupt = Interrupt::Unsupported(Kind::List);

/// The list members of a keyspace. Every method defaults to
/// [`Interrupt::Unsupported`] for a backend that does not store lists
/// yet. Positions are 0-based from the head; the caller has resolved
/// negative indexes and checked the key's type. An operation that leaves
/// a list empty deletes its key; one on a key that holds no list does
/// nothing (and reads as empty).
pub trait Lists {
    /// How many elements the list holds.
    fn list_len(&mut self, _key: &[u8]) -> Ks<usize> {
        Err(UNSUPPORTED)
    }
    /// Push `elements` one after another at `end` (so LPUSH a b c leaves
    /// c first), creating the list when absent; the new length.
    fn list_push(&mut self, _key: &[u8], _end: End, _elements: &[Bytes]) -> Ks<usize> {
        Err(UNSUPPORTED)
    }
    /// Remove and return up to `count` elements from `end`, nearest first.
    fn list_pop(&mut self, _key: &[u8], _end: End, _count: usize) -> Ks<Vec<Bytes>> {
        Err(UNSUPPORTED)
    }
    /// Elements `start..=stop`, head to tail (`stop` may pass the end).
    fn list_range(&mut self, _key: &[u8], _start: usize, _stop: usize) -> Ks<Vec<Bytes>> {
        Err(UNSUPPORTED)
    }
    /// The element at `index`.
    fn list_get(&mut self, _key: &[u8], _index: usize) -> Ks<Option<Bytes>> {
        Err(UNSUPPORTED)
    }
    /// Replace the element at `index`; false when out of range.
    fn list_set(&mut self, _key: &[u8], _index: usize, _element: &[u8]) -> Ks<bool> {
        Err(UNSUPPORTED)
    }
    /// Insert `element` at position `index` (<= length); the new length.
    fn list_insert(&mut self, _key: &[u8], _index: usize, _element: &[u8]) -> Ks<usize> {
        Err(UNSUPPORTED)
    }
    /// Remove up to `limit` (0: every) elements equal to `element`,
    /// searching from the head or (`from_back`) the tail; how many went.
    fn list_remove_eq(
        &mut self,
        _key: &[u8],
        _element: &[u8],
        _limit: usize,
        _from_back: bool,
    ) -> Ks<usize> {
        Err(UNSUPPORTED)
    }
    /// Keep only positions `start..end` (end exclusive).
    fn list_trim(&mut self, _key: &[u8], _start: usize, _end: usize) -> Ks<()> {
        Err(UNSUPPORTED)
    }
    /// Positions of the elements equal to `element`, searching from the
    /// head or (`from_back`) the tail: after the first `skip` matches, at
    /// most `limit` (0: all), looking at no more than `maxlen` elements
    /// (0: all).
    fn list_positions(
        &mut self,
        _key: &[u8],
        _element: &[u8],
        _from_back: bool,
        _skip: usize,
        _limit: usize,
        _maxlen: usize,
    ) -> Ks<Vec<usize>> {
        Err(UNSUPPORTED)
    }
}

/// The outcome of a blocking command.
#[derive(Clone, Debug, PartialEq)]
pub enum Blocking {
    /// Answered now.
    Done(Reply),
    /// Nothing to take: wait for one of the keys to be ready.
    Wait(Wait),
}

/// What a blocking command waits for. A store that parks the client
/// watches `keys` (in the request's db) for a write that leaves one of
/// them holding a value of type `kind`, then runs the command again; the
/// first ready key wakes the client that has waited longest.
#[derive(Clone, Debug, PartialEq)]
pub struct Wait {
    pub keys: Vec<Bytes>,
    pub kind: Kind,
    /// None: for ever.
    pub timeout: Option<Duration>,
    /// The reply of a client that may not block (inside MULTI).
    pub instead: Reply,
}

/// What a client blocked on keys gets when its timeout passes (or CLIENT
/// UNBLOCK … TIMEOUT): Redis' `replyToBlockedClientTimedOut` answers a
/// null array for every key-blocked command, BLMOVE included.
pub const TIMED_OUT: Reply = Reply::NullArray;

/// A command that may block: parsed like a [`KeyCommand`], applied to a
/// [`Blocking`] outcome.
pub trait BlockingCommand<'a>: Sized {
    fn parse(args: &'a [Bytes], clock: &mut impl Clock) -> Result<Self, Reply>;
    fn apply<K: Keyspace>(self, ks: &mut K) -> Ks<Blocking>;
}

/// A blocking command's timeout in seconds, as Redis'
/// `getTimeoutFromObjectOrReply` reads it: a long double, scaled to
/// milliseconds and rounded up; 0 is for ever.
pub fn parse_timeout(arg: &[u8], now_ms: u64) -> Result<Option<Duration>, Reply> {
    let not_float = || Reply::static_error("ERR timeout is not a float or out of range");
    let ld = LongDouble::parse(arg).ok_or_else(not_float)?;
    let seconds = match parse_f64(arg) {
        Some(v) => v,
        // Hex floats, which `strtold` reads and Rust does not.
        None => parse_f64(ld.to_human_string().as_bytes()).ok_or_else(not_float)?,
    };
    let ms = seconds * 1000.0;
    if ms > i64::MAX as f64 {
        return Err(Reply::static_error("ERR timeout is out of range"));
    }
    let ms = ms.ceil();
    if ms < 0.0 {
        return Err(Reply::static_error("ERR timeout is negative"));
    }
    let ms = ms as i64;
    if ms > i64::MAX - now_ms as i64 {
        return Err(Reply::static_error("ERR timeout is out of range"));
    }
    Ok((ms > 0).then(|| Duration::from_millis(ms as u64)))
}

/// LEFT or RIGHT, as `getListPositionFromObjectOrReply` reads it.
fn end_arg(arg: &[u8]) -> Result<End, Reply> {
    if arg.eq_ignore_ascii_case(b"left") {
        Ok(End::Front)
    } else if arg.eq_ignore_ascii_case(b"right") {
        Ok(End::Back)
    } else {
        Err(errors::SYNTAX)
    }
}

/// `getRangeLongFromObjectOrReply`: an integer within `min..=max`, with
/// `msg` for both a non-integer and one out of range (Redis' default
/// texts without it).
fn ranged(arg: &[u8], min: i64, max: i64, msg: Option<&'static str>) -> Result<i64, Reply> {
    let n = match int_arg(arg) {
        Ok(n) => n,
        Err(e) => return Err(msg.map_or(e, |m| Reply::error(format!("ERR {m}")))),
    };
    if n < min || n > max {
        return Err(match msg {
            Some(m) => Reply::error(format!("ERR {m}")),
            None => Reply::error(format!(
                "ERR value is out of range, value must between {min} and {max}"
            )),
        });
    }
    Ok(n)
}

/// `getPositiveLongFromObjectOrReply`.
fn positive(arg: &[u8], msg: Option<&'static str>) -> Result<i64, Reply> {
    ranged(
        arg,
        0,
        i64::MAX,
        Some(msg.unwrap_or("value is out of range, must be positive")),
    )
}

/// The key's type: Ok(true) a list, Ok(false) absent, Err(WRONGTYPE).
fn is_list<K: Keyspace>(ks: &mut K, key: &[u8], read: bool) -> Ks<Result<bool, Reply>> {
    let head = if read { ks.read(key)? } else { ks.lookup(key)? };
    Ok(match head {
        None => Ok(false),
        Some(h) => h.expect(Kind::List).map(|()| true),
    })
}

macro_rules! list_or_reply {
    ($ks:expr, $key:expr, $read:expr, $absent:expr) => {
        match is_list($ks, $key, $read)? {
            Ok(true) => {}
            Ok(false) => return Ok($absent),
            Err(e) => return Ok(e),
        }
    };
}

fn bulk_array(elements: Vec<Bytes>) -> Reply {
    Reply::Array(elements.into_iter().map(Reply::Bulk).collect())
}

/// A Redis range (`start`, `stop`, negative from the end) over a list of
/// `len`: the inclusive positions, or None when empty.
fn resolve_range(start: i64, stop: i64, len: usize) -> Option<(usize, usize)> {
    let len = len as i64;
    let mut start = if start < 0 { len + start } else { start };
    let mut stop = if stop < 0 { len + stop } else { stop };
    if start < 0 {
        start = 0;
    }
    if start > stop || start >= len {
        return None;
    }
    if stop >= len {
        stop = len - 1;
    }
    Some((start as usize, stop as usize))
}

/// A Redis index (negative from the end) over a list of `len`.
fn resolve_index(index: i64, len: usize) -> Option<usize> {
    let i = if index < 0 { len as i64 + index } else { index };
    (i >= 0 && (i as usize) < len).then_some(i as usize)
}

/// LPUSH, RPUSH, LPUSHX, RPUSHX.
pub struct Push<'a> {
    key: &'a [u8],
    elements: &'a [Bytes],
    end: End,
    /// The X forms: only onto an existing list.
    existing: bool,
}

impl<'a> Push<'a> {
    pub fn new(a: &'a [Bytes], end: End, existing: bool) -> Push<'a> {
        Push {
            key: &a[1],
            elements: &a[2..],
            end,
            existing,
        }
    }

    pub fn apply<K: Keyspace>(self, ks: &mut K) -> Ks<Reply> {
        match is_list(ks, self.key, false)? {
            Err(e) => return Ok(e),
            Ok(false) if self.existing => return Ok(Reply::Integer(0)),
            Ok(_) => {}
        }
        let len = ks.list_push(self.key, self.end, self.elements)?;
        ks.notify(LIST, push_event(self.end), self.key);
        Ok(Reply::Integer(len as i64))
    }
}

/// Redis' event name for a push at `end`.
fn push_event(end: End) -> &'static str {
    match end {
        End::Front => "lpush",
        End::Back => "rpush",
    }
}

/// Redis' event name for a pop at `end`.
fn pop_event(end: End) -> &'static str {
    match end {
        End::Front => "lpop",
        End::Back => "rpop",
    }
}

/// LPOP and RPOP `key [count]`.
pub struct Pop<'a> {
    key: &'a [u8],
    end: End,
    count: Option<usize>,
}

impl<'a> Pop<'a> {
    pub fn parse(a: &'a [Bytes], end: End) -> Result<Pop<'a>, Reply> {
        if a.len() > 3 {
            let name = if end == End::Front { "lpop" } else { "rpop" };
            return Err(wrong_arity(name));
        }
        let count = match a.get(2) {
            Some(c) => Some(positive(c, None)? as usize),
            None => None,
        };
        Ok(Pop {
            key: &a[1],
            end,
            count,
        })
    }

    pub fn apply<K: Keyspace>(self, ks: &mut K) -> Ks<Reply> {
        let absent = if self.count.is_some() {
            Reply::NullArray
        } else {
            Reply::Null
        };
        list_or_reply!(ks, self.key, false, absent);
        let popped = match self.count {
            Some(0) => return Ok(Reply::Array(Vec::new())),
            Some(n) => ks.list_pop(self.key, self.end, n)?,
            None => ks.list_pop(self.key, self.end, 1)?,
        };
        if !popped.is_empty() {
            ks.notify(LIST, pop_event(self.end), self.key);
            del_if_emptied(ks, self.key)?;
        }
        Ok(match self.count {
            Some(_) => bulk_array(popped),
            None => popped.into_iter().next().map_or(Reply::Null, Reply::Bulk),
        })
    }
}

/// `LLEN key`.
pub struct LLen<'a> {
    key: &'a [u8],
}

impl<'a> KeyCommand<'a> for LLen<'a> {
    fn parse(a: &'a [Bytes], _: &mut impl Clock) -> Result<Self, Reply> {
        Ok(LLen { key: &a[1] })
    }
    fn apply<K: Keyspace>(self, ks: &mut K) -> Ks<Reply> {
        list_or_reply!(ks, self.key, true, Reply::Integer(0));
        Ok(Reply::Integer(ks.list_len(self.key)? as i64))
    }
}

/// `LRANGE key start stop`.
pub struct LRange<'a> {
    key: &'a [u8],
    start: i64,
    stop: i64,
}

impl<'a> KeyCommand<'a> for LRange<'a> {
    fn parse(a: &'a [Bytes], _: &mut impl Clock) -> Result<Self, Reply> {
        Ok(LRange {
            key: &a[1],
            start: int_arg(&a[2])?,
            stop: int_arg(&a[3])?,
        })
    }
    fn apply<K: Keyspace>(self, ks: &mut K) -> Ks<Reply> {
        list_or_reply!(ks, self.key, true, Reply::Array(Vec::new()));
        let len = ks.list_len(self.key)?;
        Ok(match resolve_range(self.start, self.stop, len) {
            None => Reply::Array(Vec::new()),
            Some((s, e)) => bulk_array(ks.list_range(self.key, s, e)?),
        })
    }
}

/// `LINDEX key index`: the type is checked before the index is read.
pub struct LIndex<'a> {
    key: &'a [u8],
    index: &'a [u8],
}

impl<'a> KeyCommand<'a> for LIndex<'a> {
    fn parse(a: &'a [Bytes], _: &mut impl Clock) -> Result<Self, Reply> {
        Ok(LIndex {
            key: &a[1],
            index: &a[2],
        })
    }
    fn apply<K: Keyspace>(self, ks: &mut K) -> Ks<Reply> {
        list_or_reply!(ks, self.key, true, Reply::Null);
        let index = match int_arg(self.index) {
            Ok(i) => i,
            Err(e) => return Ok(e),
        };
        let len = ks.list_len(self.key)?;
        Ok(match resolve_index(index, len) {
            None => Reply::Null,
            Some(i) => ks.list_get(self.key, i)?.map_or(Reply::Null, Reply::Bulk),
        })
    }
}

/// `LSET key index element`.
pub struct LSet<'a> {
    key: &'a [u8],
    index: &'a [u8],
    element: &'a [u8],
}

impl<'a> KeyCommand<'a> for LSet<'a> {
    fn parse(a: &'a [Bytes], _: &mut impl Clock) -> Result<Self, Reply> {
        Ok(LSet {
            key: &a[1],
            index: &a[2],
            element: &a[3],
        })
    }
    fn apply<K: Keyspace>(self, ks: &mut K) -> Ks<Reply> {
        list_or_reply!(ks, self.key, false, errors::NO_SUCH_KEY);
        let index = match int_arg(self.index) {
            Ok(i) => i,
            Err(e) => return Ok(e),
        };
        let len = ks.list_len(self.key)?;
        match resolve_index(index, len) {
            Some(i) if ks.list_set(self.key, i, self.element)? => {
                ks.notify(LIST, "lset", self.key);
                Ok(Reply::ok())
            }
            _ => Ok(Reply::static_error("ERR index out of range")),
        }
    }
}

/// `LINSERT key BEFORE|AFTER pivot element`.
pub struct LInsert<'a> {
    key: &'a [u8],
    after: bool,
    pivot: &'a [u8],
    element: &'a [u8],
}

impl<'a> KeyCommand<'a> for LInsert<'a> {
    fn parse(a: &'a [Bytes], _: &mut impl Clock) -> Result<Self, Reply> {
        let after = if a[2].eq_ignore_ascii_case(b"after") {
            true
        } else if a[2].eq_ignore_ascii_case(b"before") {
            false
        } else {
            return Err(errors::SYNTAX);
        };
        Ok(LInsert {
            key: &a[1],
            after,
            pivot: &a[3],
            element: &a[4],
        })
    }
    fn apply<K: Keyspace>(self, ks: &mut K) -> Ks<Reply> {
        list_or_reply!(ks, self.key, false, Reply::Integer(0));
        let found = ks.list_positions(self.key, self.pivot, false, 0, 1, 0)?;
        let Some(&at) = found.first() else {
            return Ok(Reply::Integer(-1));
        };
        let at = if self.after { at + 1 } else { at };
        let len = ks.list_insert(self.key, at, self.element)? as i64;
        ks.notify(LIST, "linsert", self.key);
        Ok(Reply::Integer(len))
    }
}

/// `LREM key count element`.
pub struct LRem<'a> {
    key: &'a [u8],
    count: i64,
    element: &'a [u8],
}

impl<'a> KeyCommand<'a> for LRem<'a> {
    fn parse(a: &'a [Bytes], _: &mut impl Clock) -> Result<Self, Reply> {
        Ok(LRem {
            key: &a[1],
            count: int_arg(&a[2])?,
            element: &a[3],
        })
    }
    fn apply<K: Keyspace>(self, ks: &mut K) -> Ks<Reply> {
        list_or_reply!(ks, self.key, false, Reply::Integer(0));
        let limit = self.count.unsigned_abs().min(usize::MAX as u64) as usize;
        let removed = ks.list_remove_eq(self.key, self.element, limit, self.count < 0)?;
        if removed > 0 {
            ks.notify(LIST, "lrem", self.key);
            del_if_emptied(ks, self.key)?;
        }
        Ok(Reply::Integer(removed as i64))
    }
}

/// `LTRIM key start stop`.
pub struct LTrim<'a> {
    key: &'a [u8],
    start: i64,
    stop: i64,
}

impl<'a> KeyCommand<'a> for LTrim<'a> {
    fn parse(a: &'a [Bytes], _: &mut impl Clock) -> Result<Self, Reply> {
        Ok(LTrim {
            key: &a[1],
            start: int_arg(&a[2])?,
            stop: int_arg(&a[3])?,
        })
    }
    fn apply<K: Keyspace>(self, ks: &mut K) -> Ks<Reply> {
        list_or_reply!(ks, self.key, false, Reply::ok());
        let len = ks.list_len(self.key)?;
        match resolve_range(self.start, self.stop, len) {
            None => ks.list_trim(self.key, 0, 0)?,
            Some((s, e)) if s == 0 && e + 1 == len => {}
            Some((s, e)) => ks.list_trim(self.key, s, e + 1)?,
        }
        ks.notify(LIST, "ltrim", self.key);
        del_if_emptied(ks, self.key)?;
        Ok(Reply::ok())
    }
}

/// `LPOS key element [RANK rank] [COUNT num-matches] [MAXLEN len]`.
pub struct LPos<'a> {
    key: &'a [u8],
    element: &'a [u8],
    rank: i64,
    /// None: the option was not given (a single answer).
    count: Option<usize>,
    maxlen: usize,
}

impl<'a> KeyCommand<'a> for LPos<'a> {
    fn parse(a: &'a [Bytes], _: &mut impl Clock) -> Result<Self, Reply> {
        let mut pos = LPos {
            key: &a[1],
            element: &a[2],
            rank: 1,
            count: None,
            maxlen: 0,
        };
        let mut j = 3;
        while j < a.len() {
            let more = j + 1 < a.len();
            let opt = &a[j];
            if opt.eq_ignore_ascii_case(b"rank") && more {
                j += 1;
                pos.rank = ranged(&a[j], -i64::MAX, i64::MAX, None)?;
                if pos.rank == 0 {
                    return Err(Reply::static_error(
                        "ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use negative to start from the end of the list",
                    ));
                }
            } else if opt.eq_ignore_ascii_case(b"count") && more {
                j += 1;
                pos.count = Some(positive(&a[j], Some("COUNT can't be negative"))? as usize);
            } else if opt.eq_ignore_ascii_case(b"maxlen") && more {
                j += 1;
                pos.maxlen = positive(&a[j], Some("MAXLEN can't be negative"))? as usize;
            } else {
                return Err(errors::SYNTAX);
            }
            j += 1;
        }
        Ok(pos)
    }
    fn apply<K: Keyspace>(self, ks: &mut K) -> Ks<Reply> {
        let absent = match self.count {
            Some(_) => Reply::Array(Vec::new()),
            None => Reply::Null,
        };
        list_or_reply!(ks, self.key, true, absent);
        let from_back = self.rank < 0;
        let skip = (self.rank.unsigned_abs() - 1).min(usize::MAX as u64) as usize;
        let limit = self.count.unwrap_or(1);
        let found =
            ks.list_positions(self.key, self.element, from_back, skip, limit, self.maxlen)?;
        Ok(match self.count {
            Some(_) => Reply::Array(
                found
                    .into_iter()
                    .map(|i| Reply::Integer(i as i64))
                    .collect(),
            ),
            None => found
                .first()
                .map_or(Reply::Null, |&i| Reply::Integer(i as i64)),
        })
    }
}

/// LMOVE and RPOPLPUSH: the element moved, or None when `src` is empty;
/// Err: WRONGTYPE.
fn move_one<K: Keyspace>(
    ks: &mut K,
    src: &[u8],
    dst: &[u8],
    from: End,
    to: End,
) -> Ks<Result<Option<Bytes>, Reply>> {
    match is_list(ks, src, false)? {
        Err(e) => return Ok(Err(e)),
        Ok(false) => return Ok(Ok(None)),
        Ok(true) => {}
    }
    if let Err(e) = is_list(ks, dst, false)? {
        return Ok(Err(e));
    }
    if src == dst && ks.list_len(src)? == 1 {
        // Popping the only element would delete the key (and its
        // deadline) before the push made it again; Redis keeps the key.
        let only = ks.list_get(src, 0)?;
        if let Some(e) = &only {
            ks.list_set(src, 0, e)?;
            ks.notify(LIST, push_event(to), dst);
            ks.notify(LIST, pop_event(from), src);
        }
        return Ok(Ok(only));
    }
    let Some(element) = ks.list_pop(src, from, 1)?.pop() else {
        return Ok(Ok(None));
    };
    ks.list_push(dst, to, std::slice::from_ref(&element))?;
    // Redis' lmoveGenericCommand: the push, then the pop, then `del`.
    ks.notify(LIST, push_event(to), dst);
    ks.notify(LIST, pop_event(from), src);
    del_if_emptied(ks, src)?;
    Ok(Ok(Some(element)))
}

/// `LMOVE source destination LEFT|RIGHT LEFT|RIGHT` and `RPOPLPUSH
/// source destination`.
pub struct LMove<'a> {
    src: &'a [u8],
    dst: &'a [u8],
    from: End,
    to: End,
}

impl<'a> LMove<'a> {
    pub fn parse_lmove(a: &'a [Bytes]) -> Result<LMove<'a>, Reply> {
        Ok(LMove {
            src: &a[1],
            dst: &a[2],
            from: end_arg(&a[3])?,
            to: end_arg(&a[4])?,
        })
    }

    pub fn rpoplpush(a: &'a [Bytes]) -> LMove<'a> {
        LMove {
            src: &a[1],
            dst: &a[2],
            from: End::Back,
            to: End::Front,
        }
    }

    pub fn apply<K: Keyspace>(self, ks: &mut K) -> Ks<Reply> {
        Ok(
            match move_one(ks, self.src, self.dst, self.from, self.to)? {
                Ok(Some(e)) => Reply::Bulk(e),
                Ok(None) => Reply::Null,
                Err(e) => e,
            },
        )
    }
}

/// The keys, end and count of LMPOP and BLMPOP.
struct MPopArgs<'a> {
    keys: &'a [Bytes],
    end: End,
    count: usize,
}

impl<'a> MPopArgs<'a> {
    /// `numkeys key [key ...] LEFT|RIGHT [COUNT count]` from `a[at]`.
    fn parse(a: &'a [Bytes], at: usize) -> Result<MPopArgs<'a>, Reply> {
        let numkeys = ranged(
            &a[at],
            1,
            i64::MAX,
            Some("numkeys should be greater than 0"),
        )?;
        let where_at = at as i64 + numkeys + 1;
        if where_at >= a.len() as i64 {
            return Err(errors::SYNTAX);
        }
        let where_at = where_at as usize;
        let end = end_arg(&a[where_at])?;
        let mut count = None;
        let mut j = where_at + 1;
        while j < a.len() {
            if count.is_none() && a[j].eq_ignore_ascii_case(b"count") && j + 1 < a.len() {
                j += 1;
                count = Some(
                    ranged(&a[j], 1, i64::MAX, Some("count should be greater than 0"))? as usize,
                );
            } else {
                return Err(errors::SYNTAX);
            }
            j += 1;
        }
        Ok(MPopArgs {
            keys: &a[at + 1..where_at],
            end,
            count: count.unwrap_or(1),
        })
    }
}

/// Pop from the first non-empty list among `keys`: `Some(reply)` when one
/// was found (or a key had the wrong type), None when all are empty.
/// `nested`: LMPOP's `[key, [elements]]`; otherwise BLPOP's `[key, element]`.
fn pop_first<K: Keyspace>(
    ks: &mut K,
    keys: &[Bytes],
    end: End,
    count: Option<usize>,
) -> Ks<Option<Reply>> {
    for key in keys {
        match is_list(ks, key, false)? {
            Err(e) => return Ok(Some(e)),
            Ok(false) => continue,
            Ok(true) => {}
        }
        let popped = ks.list_pop(key, end, count.unwrap_or(1))?;
        if popped.is_empty() {
            continue;
        }
        ks.notify(LIST, pop_event(end), key);
        del_if_emptied(ks, key)?;
        let key = Reply::Bulk(key.clone());
        return Ok(Some(match count {
            Some(_) => Reply::Array(vec![key, bulk_array(popped)]),
            None => {
                let mut popped = popped;
                Reply::Array(vec![key, Reply::Bulk(popped.remove(0))])
            }
        }));
    }
    Ok(None)
}

/// `LMPOP numkeys key [key ...] LEFT|RIGHT [COUNT count]`.
pub struct LMPop<'a>(MPopArgs<'a>);

impl<'a> KeyCommand<'a> for LMPop<'a> {
    fn parse(a: &'a [Bytes], _: &mut impl Clock) -> Result<Self, Reply> {
        MPopArgs::parse(a, 1).map(LMPop)
    }
    fn apply<K: Keyspace>(self, ks: &mut K) -> Ks<Reply> {
        let m = self.0;
        Ok(pop_first(ks, m.keys, m.end, Some(m.count))?.unwrap_or(Reply::NullArray))
    }
}

/// `BLPOP key [key ...] timeout` and `BRPOP`.
pub struct BPop<'a> {
    keys: &'a [Bytes],
    end: End,
    timeout: Option<Duration>,
}

impl<'a> BPop<'a> {
    pub fn parse_end(a: &'a [Bytes], end: End, clock: &mut impl Clock) -> Result<Self, Reply> {
        Ok(BPop {
            keys: &a[1..a.len() - 1],
            end,
            timeout: parse_timeout(&a[a.len() - 1], clock.now())?,
        })
    }

    pub fn apply<K: Keyspace>(self, ks: &mut K) -> Ks<Blocking> {
        Ok(match pop_first(ks, self.keys, self.end, None)? {
            Some(reply) => Blocking::Done(reply),
            None => Blocking::Wait(Wait {
                keys: self.keys.to_vec(),
                kind: Kind::List,
                timeout: self.timeout,
                instead: Reply::NullArray,
            }),
        })
    }
}

/// `BLMOVE source destination LEFT|RIGHT LEFT|RIGHT timeout` and
/// `BRPOPLPUSH source destination timeout`.
pub struct BLMove<'a> {
    inner: LMove<'a>,
    timeout: Option<Duration>,
}

impl<'a> BLMove<'a> {
    pub fn parse_blmove(a: &'a [Bytes], clock: &mut impl Clock) -> Result<Self, Reply> {
        let inner = LMove::parse_lmove(a)?;
        let timeout = parse_timeout(&a[5], clock.now())?;
        Ok(BLMove { inner, timeout })
    }

    pub fn parse_brpoplpush(a: &'a [Bytes], clock: &mut impl Clock) -> Result<Self, Reply> {
        let timeout = parse_timeout(&a[3], clock.now())?;
        Ok(BLMove {
            inner: LMove::rpoplpush(a),
            timeout,
        })
    }

    pub fn apply<K: Keyspace>(self, ks: &mut K) -> Ks<Blocking> {
        let m = &self.inner;
        Ok(match move_one(ks, m.src, m.dst, m.from, m.to)? {
            Ok(Some(e)) => Blocking::Done(Reply::Bulk(e)),
            Err(e) => Blocking::Done(e),
            Ok(None) => Blocking::Wait(Wait {
                keys: vec![Bytes::copy_from_slice(m.src)],
                kind: Kind::List,
                timeout: self.timeout,
                instead: Reply::Null,
            }),
        })
    }
}

/// `BLMPOP timeout numkeys key [key ...] LEFT|RIGHT [COUNT count]`: the
/// arguments after the timeout are read first, as Redis does.
pub struct BLMPop<'a> {
    args: MPopArgs<'a>,
    timeout: Option<Duration>,
}

impl<'a> BlockingCommand<'a> for BLMPop<'a> {
    fn parse(a: &'a [Bytes], clock: &mut impl Clock) -> Result<Self, Reply> {
        let args = MPopArgs::parse(a, 2)?;
        let timeout = parse_timeout(&a[1], clock.now())?;
        Ok(BLMPop { args, timeout })
    }
    fn apply<K: Keyspace>(self, ks: &mut K) -> Ks<Blocking> {
        let m = self.args;
        Ok(match pop_first(ks, m.keys, m.end, Some(m.count))? {
            Some(reply) => Blocking::Done(reply),
            None => Blocking::Wait(Wait {
                keys: m.keys.to_vec(),
                kind: Kind::List,
                timeout: self.timeout,
                instead: Reply::NullArray,
            }),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_as_redis_reads_them() {
        assert_eq!(parse_timeout(b"0", 0), Ok(None));
        assert_eq!(
            parse_timeout(b"0.1", 0),
            Ok(Some(Duration::from_millis(100)))
        );
        assert_eq!(
            parse_timeout(b"0.0001", 0),
            Ok(Some(Duration::from_millis(1)))
        );
        assert_eq!(parse_timeout(b"1", 0), Ok(Some(Duration::from_secs(1))));
        assert_eq!(
            parse_timeout(b"abc", 0),
            Err(Reply::static_error(
                "ERR timeout is not a float or out of range"
            ))
        );
        assert_eq!(
            parse_timeout(b"-1", 0),
            Err(Reply::static_error("ERR timeout is negative"))
        );
        assert_eq!(
            parse_timeout(b"inf", 0),
            Err(Reply::static_error("ERR timeout is out of range"))
        );
        // ceil(-0.1) is -0: for ever, as in Redis.
        assert_eq!(parse_timeout(b"-0.0001", 0), Ok(None));
    }

    proptest::proptest! {
        #[test]
        fn any_timeout_argument_parses_or_is_refused(arg in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..40)) {
            // Never a panic; a parsed timeout is a whole number of ms.
            if let Ok(Some(d)) = parse_timeout(&arg, 1_700_000_000_000) {
                proptest::prop_assert_eq!(d.subsec_nanos() % 1_000_000, 0);
            }
        }

        #[test]
        fn decimal_timeouts_round_up_to_the_millisecond(ms in 0u64..10_000_000, frac in 0u32..1000) {
            let text = format!("{}.{:03}{}", ms / 1000, ms % 1000, frac);
            let want = ms + u64::from(frac != 0);
            let got = parse_timeout(text.as_bytes(), 0).expect("valid");
            proptest::prop_assert_eq!(got.map_or(0, |d| d.as_millis() as u64), want);
        }
    }

    #[test]
    fn ranges_as_lrange() {
        assert_eq!(resolve_range(0, -1, 3), Some((0, 2)));
        assert_eq!(resolve_range(-100, 100, 3), Some((0, 2)));
        assert_eq!(resolve_range(2, 1, 3), None);
        assert_eq!(resolve_range(3, 5, 3), None);
        assert_eq!(resolve_range(0, 0, 0), None);
        assert_eq!(resolve_index(-1, 3), Some(2));
        assert_eq!(resolve_index(-4, 3), None);
        assert_eq!(resolve_index(3, 3), None);
    }
}
