//! The sorted set commands, and [`SortedSets`]: what they need of a keyspace.
//!
//! ZADD, ZINCRBY, ZREM, ZCARD, ZSCORE, ZMSCORE, ZRANK, ZREVRANK, ZCOUNT,
//! ZLEXCOUNT, ZRANGE and its older forms (ZRANGEBYSCORE, ZREVRANGEBYSCORE,
//! ZRANGEBYLEX, ZREVRANGEBYLEX, ZREVRANGE), ZRANGESTORE, ZREMRANGEBYRANK,
//! ZREMRANGEBYSCORE, ZREMRANGEBYLEX, ZPOPMIN, ZPOPMAX, ZMPOP, ZRANDMEMBER,
//! ZUNION, ZUNIONSTORE, ZINTER, ZINTERSTORE, ZINTERCARD, ZDIFF, ZDIFFSTORE
//! and ZSCAN, read as Redis 7.2's `t_zset.c` reads them: the same order of
//! checks (so the same error wins), the same error texts, the same reply
//! shapes in RESP2 and RESP3.
//!
//! Every range command works in *ranks*: a score or lex bound becomes the
//! number of members below it ([`SortedSets::zset_count_below_score`],
//! [`SortedSets::zset_count_below_member`]), and the range is then a window
//! of ascending ranks, read with [`SortedSets::zset_range`] or removed with
//! [`SortedSets::zset_remove_range`]. So a backend offers a handful of
//! ordered, member-level operations and no command logic.
//!
//! Scores are `f64`, never NaN. An argument score is read as Redis'
//! `string2d` reads it (C `strtod` over the whole argument, no leading
//! space, no overflow or underflow to zero, hexadecimal floats included);
//! a range bound as `zslParseRange` reads it (plain `strtod`: leading
//! spaces, overflow to infinity and an empty number are allowed).
//!
//! This file is longer than ~600 lines on purpose: it holds the whole
//! sorted-set command group (40 commands: ranges by rank, score and lex in
//! both directions, the store and algebra variants) with their shared range
//! parsers and replies; splitting it would split those shared parts from
//! their users.

use bytes::Bytes;
use rand::Rng;
use redynamo_layers::reply::errors;
use redynamo_layers::Reply;

use std::time::Duration;

use super::args::ScanArgs;
use super::keyspace::{Clock, Interrupt, Keyspace, Kind, Ks};
use super::lists::{parse_timeout, Blocking, Wait};
use super::notify::class::{GENERIC, ZSET};
use super::notify::del_if_emptied;
use super::KeyCommand;
use crate::protocol::format_double;
use crate::util::glob;
use crate::util::num::parse_i64;

/// A score bound, to count the members below it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ScoreBound {
    /// Members whose score is `< x`.
    Below(f64),
    /// Members whose score is `<= x`.
    AtOrBelow(f64),
}

/// A member bound, to count the members below it (by bytes).
#[derive(Clone, Debug, PartialEq)]
pub enum LexBound {
    /// `-`: no member is below it.
    Min,
    /// `+`: every member is below it.
    Max,
    /// Members `< x`.
    Below(Bytes),
    /// Members `<= x`.
    AtOrBelow(Bytes),
}

fn unsupported<T>() -> Ks<T> {
    Err(Interrupt::Unsupported(Kind::ZSet))
}

/// The sorted set members of a keyspace. Every method defaults to
/// [`Interrupt::Unsupported`] for a backend that does not store sorted
/// sets yet.
///
/// Members are ordered by (score, member bytes); ranks count from 0 in
/// that ascending order. Each method works on the key's current value; a
/// caller has checked the key's type with [`Keyspace::read`] or
/// [`Keyspace::lookup`] first, and an absent key reads as an empty set.
/// Writes mark the key modified (WATCH) and delete a key they leave empty.
pub trait SortedSets {
    /// How many members.
    fn zset_len(&mut self, _key: &[u8]) -> Ks<usize> {
        unsupported()
    }
    /// The score of `member`.
    fn zset_score(&mut self, _key: &[u8], _member: &[u8]) -> Ks<Option<f64>> {
        unsupported()
    }
    /// Give `member` the score `score`, adding it (and creating the key)
    /// when absent.
    fn zset_put(&mut self, _key: &[u8], _member: &[u8], _score: f64) -> Ks<()> {
        unsupported()
    }
    /// A write of `members` members, the longest `longest` bytes, is
    /// coming: a store may pick its encoding for that size now (Redis
    /// decides ZADD's encoding by its arguments). Changes no member; by
    /// default nothing.
    fn zset_size_hint(&mut self, _key: &[u8], _members: usize, _longest: usize) -> Ks<()> {
        Ok(())
    }
    /// Remove `member`; whether it was there.
    fn zset_remove(&mut self, _key: &[u8], _member: &[u8]) -> Ks<bool> {
        unsupported()
    }
    /// The ascending rank of `member`, and its score.
    fn zset_rank(&mut self, _key: &[u8], _member: &[u8]) -> Ks<Option<(usize, f64)>> {
        unsupported()
    }
    /// How many members have a score below `bound`.
    fn zset_count_below_score(&mut self, _key: &[u8], _bound: ScoreBound) -> Ks<usize> {
        unsupported()
    }
    /// How many members come before `bound` in the order, comparing
    /// members only (meaningful when all scores are equal, as Redis says
    /// of its lex commands).
    fn zset_count_below_member(&mut self, _key: &[u8], _bound: &LexBound) -> Ks<usize> {
        unsupported()
    }
    /// The members of ascending ranks `start..end` (clamped to the
    /// length) with their scores, in ascending order or, if `rev`,
    /// descending.
    fn zset_range(
        &mut self,
        _key: &[u8],
        _start: usize,
        _end: usize,
        _rev: bool,
    ) -> Ks<Vec<(Bytes, f64)>> {
        unsupported()
    }
    /// Remove the members of ascending ranks `start..end`; how many.
    fn zset_remove_range(&mut self, _key: &[u8], _start: usize, _end: usize) -> Ks<usize> {
        unsupported()
    }
    /// Make `key` the sorted set of `members` (distinct), with no expiry,
    /// whatever it held; no members deletes the key.
    fn zset_store(&mut self, _key: &[u8], _members: Vec<(Bytes, f64)>) -> Ks<()> {
        unsupported()
    }
    /// One step of ZSCAN from `cursor`: about `count` members with their
    /// scores, and the next cursor (0: done). A member present for the
    /// whole scan is returned at least once.
    fn zset_scan(
        &mut self,
        _key: &[u8],
        _cursor: u64,
        _count: usize,
    ) -> Ks<(u64, Vec<(Bytes, f64)>)> {
        unsupported()
    }
    /// The members of the *set* (type set) at `key`: ZUNION, ZINTER and
    /// ZDIFF read a set as a sorted set whose scores are all 1.
    fn zset_read_set(&mut self, _key: &[u8]) -> Ks<Vec<Bytes>> {
        Err(Interrupt::Unsupported(Kind::Set))
    }
}

// ---------------------------------------------------------------------------
// Numbers as Redis reads them.

fn is_c_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\x0b' | b'\x0c' | b'\r')
}

/// C `strtod` over all of `s` (no leading space): the value and whether
/// it over- or underflowed (`ERANGE` to ±HUGE_VAL or to zero). None when
/// `s` is not one whole number.
fn c_strtod(s: &[u8]) -> Option<(f64, bool)> {
    let text = std::str::from_utf8(s).ok()?;
    let (neg, body) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    let lower = body.to_ascii_lowercase();
    if let Some(hex) = lower.strip_prefix("0x") {
        let v = parse_hex_float(hex)?;
        return Some((if neg { -v } else { v }, v.is_infinite()));
    }
    if lower == "inf" || lower == "infinity" {
        return Some((
            if neg {
                f64::NEG_INFINITY
            } else {
                f64::INFINITY
            },
            false,
        ));
    }
    if lower.starts_with("nan") {
        return Some((f64::NAN, false));
    }
    // Decimal: digits, an optional point, an optional exponent.
    let b = body.as_bytes();
    if b.is_empty() || !(b[0].is_ascii_digit() || b[0] == b'.') {
        return None;
    }
    let v: f64 = text.parse().ok()?;
    let mantissa = body.split(['e', 'E']).next().unwrap_or("");
    let nonzero = mantissa.bytes().any(|c| (b'1'..=b'9').contains(&c));
    let erange = v.is_infinite() || (v == 0.0 && nonzero);
    Some((v, erange))
}

/// The digits of a C hexadecimal float after `0x`: `h[.h][p±d]`.
fn parse_hex_float(s: &str) -> Option<f64> {
    let (mant, exp) = match s.find('p') {
        Some(i) => (&s[..i], Some(&s[i + 1..])),
        None => (s, None),
    };
    let (int, frac) = match mant.find('.') {
        Some(i) => (&mant[..i], &mant[i + 1..]),
        None => (mant, ""),
    };
    if int.is_empty() && frac.is_empty() {
        return None;
    }
    let mut v = 0f64;
    for c in int.chars().chain(frac.chars()) {
        v = v * 16.0 + c.to_digit(16)? as f64;
    }
    let mut e: i64 = -4 * frac.len() as i64;
    if let Some(exp) = exp {
        let digits = exp.strip_prefix(['+', '-']).unwrap_or(exp);
        if digits.is_empty() || !digits.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        let n: i64 = exp.parse().unwrap_or(if exp.starts_with('-') {
            -100_000
        } else {
            100_000
        });
        e += n.clamp(-100_000, 100_000);
    }
    Some(v * 2f64.powi(e.clamp(-2000, 2000) as i32))
}

/// A score argument (ZADD, ZINCRBY, WEIGHTS), as Redis' `string2d` reads
/// it; None for anything it refuses, NaN included.
pub fn parse_score(s: &[u8]) -> Option<f64> {
    if s.is_empty() || is_c_space(s[0]) {
        return None;
    }
    match c_strtod(s) {
        Some((v, false)) if !v.is_nan() => Some(v),
        _ => None,
    }
}

/// A number in a score range bound, as `zslParseRange` reads it.
fn parse_bound_number(s: &[u8]) -> Option<f64> {
    let start = s.iter().position(|&b| !is_c_space(b)).unwrap_or(s.len());
    if s.is_empty() {
        return Some(0.0);
    }
    if start == s.len() {
        return None;
    }
    match c_strtod(&s[start..]) {
        Some((v, _)) if !v.is_nan() => Some(v),
        _ => None,
    }
}

fn eq(arg: &[u8], word: &str) -> bool {
    arg.eq_ignore_ascii_case(word.as_bytes())
}

fn long_arg(b: &[u8]) -> Result<i64, Reply> {
    parse_i64(b).ok_or(errors::NOT_INTEGER)
}

/// `getRangeLongFromObjectOrReply` with a message: the message for a
/// non-integer and for a value out of `min..=max` alike.
fn ranged(b: &[u8], min: i64, max: i64, msg: &'static str) -> Result<i64, Reply> {
    match parse_i64(b) {
        Some(n) if (min..=max).contains(&n) => Ok(n),
        _ => Err(Reply::static_error(msg)),
    }
}

// ---------------------------------------------------------------------------
// Ranges.

/// `min max` of ZRANGEBYSCORE and friends.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ScoreRange {
    min: f64,
    min_ex: bool,
    max: f64,
    max_ex: bool,
}

const NOT_FLOAT_RANGE: Reply = Reply::static_error("ERR min or max is not a float");
const NOT_LEX_RANGE: Reply = Reply::static_error("ERR min or max not valid string range item");

impl ScoreRange {
    pub fn parse(min: &[u8], max: &[u8]) -> Result<ScoreRange, Reply> {
        let item = |s: &[u8]| match s.first() {
            Some(b'(') => parse_bound_number(&s[1..]).map(|v| (v, true)),
            _ => parse_bound_number(s).map(|v| (v, false)),
        };
        let (min, min_ex) = item(min).ok_or(NOT_FLOAT_RANGE)?;
        let (max, max_ex) = item(max).ok_or(NOT_FLOAT_RANGE)?;
        Ok(ScoreRange {
            min,
            min_ex,
            max,
            max_ex,
        })
    }

    /// The window of ascending ranks in range.
    fn ranks<K: Keyspace>(&self, ks: &mut K, key: &[u8]) -> Ks<(usize, usize)> {
        if self.min > self.max || (self.min == self.max && (self.min_ex || self.max_ex)) {
            return Ok((0, 0));
        }
        let lo = ks.zset_count_below_score(
            key,
            if self.min_ex {
                ScoreBound::AtOrBelow(self.min)
            } else {
                ScoreBound::Below(self.min)
            },
        )?;
        let hi = ks.zset_count_below_score(
            key,
            if self.max_ex {
                ScoreBound::Below(self.max)
            } else {
                ScoreBound::AtOrBelow(self.max)
            },
        )?;
        Ok((lo, hi.max(lo)))
    }
}

/// One end of a lex range: `-`, `+`, `[member` or `(member`.
#[derive(Clone, Debug, PartialEq)]
enum LexItem {
    Min,
    Max,
    Incl(Bytes),
    Excl(Bytes),
}

impl LexItem {
    fn parse(s: &Bytes) -> Option<LexItem> {
        match s.first()? {
            b'+' if s.len() == 1 => Some(LexItem::Max),
            b'-' if s.len() == 1 => Some(LexItem::Min),
            b'(' => Some(LexItem::Excl(s.slice(1..))),
            b'[' => Some(LexItem::Incl(s.slice(1..))),
            _ => None,
        }
    }

    /// (rank order, exclusive) as `sdscmplex` compares: `-` below all,
    /// `+` above all; `-` and `+` count as exclusive.
    fn cmp(&self, other: &LexItem) -> std::cmp::Ordering {
        use std::cmp::Ordering::*;
        use LexItem::*;
        match (self, other) {
            (Min, Min) | (Max, Max) => Equal,
            (Min, _) | (_, Max) => Less,
            (Max, _) | (_, Min) => Greater,
            (Incl(a) | Excl(a), Incl(b) | Excl(b)) => a.cmp(b),
        }
    }

    fn exclusive(&self) -> bool {
        !matches!(self, LexItem::Incl(_))
    }
}

/// `min max` of ZRANGEBYLEX and friends.
#[derive(Clone, Debug, PartialEq)]
pub struct LexRange {
    min: LexItem,
    max: LexItem,
}

impl LexRange {
    pub fn parse(min: &Bytes, max: &Bytes) -> Result<LexRange, Reply> {
        match (LexItem::parse(min), LexItem::parse(max)) {
            (Some(min), Some(max)) => Ok(LexRange { min, max }),
            _ => Err(NOT_LEX_RANGE),
        }
    }

    fn ranks<K: Keyspace>(&self, ks: &mut K, key: &[u8]) -> Ks<(usize, usize)> {
        let c = self.min.cmp(&self.max);
        if c == std::cmp::Ordering::Greater
            || (c == std::cmp::Ordering::Equal && (self.min.exclusive() || self.max.exclusive()))
        {
            return Ok((0, 0));
        }
        let lo = ks.zset_count_below_member(
            key,
            &match &self.min {
                LexItem::Min => LexBound::Min,
                LexItem::Max => LexBound::Max,
                LexItem::Incl(m) => LexBound::Below(m.clone()),
                LexItem::Excl(m) => LexBound::AtOrBelow(m.clone()),
            },
        )?;
        let hi = ks.zset_count_below_member(
            key,
            &match &self.max {
                LexItem::Min => LexBound::Min,
                LexItem::Max => LexBound::Max,
                LexItem::Incl(m) => LexBound::AtOrBelow(m.clone()),
                LexItem::Excl(m) => LexBound::Below(m.clone()),
            },
        )?;
        Ok((lo, hi.max(lo)))
    }
}

/// ZRANGE's index arithmetic: the ascending rank window `start..end` for
/// `start stop` (inclusive, negative from the end) over `len` members,
/// read in descending rank order if `rev`.
fn rank_window(start: i64, end: i64, len: usize, rev: bool) -> (usize, usize) {
    let llen = len as i64;
    let mut start = if start < 0 { llen + start } else { start };
    let mut end = if end < 0 { llen + end } else { end };
    if start < 0 {
        start = 0;
    }
    if start > end || start >= llen {
        return (0, 0);
    }
    if end >= llen {
        end = llen - 1;
    }
    let (s, e) = (start as usize, end as usize + 1);
    if rev {
        (len - e, len - s)
    } else {
        (s, e)
    }
}

/// The part of the window `lo..hi` that LIMIT `offset count` keeps,
/// counted from the low end, or from the high end if `rev`. A negative
/// offset keeps nothing and a negative count everything, as in Redis.
fn limit_window(lo: usize, hi: usize, offset: i64, count: i64, rev: bool) -> (usize, usize) {
    if offset < 0 {
        return (0, 0);
    }
    let offset = offset as usize;
    if offset >= hi - lo {
        return (0, 0);
    }
    let n = if count < 0 {
        usize::MAX
    } else {
        count as usize
    };
    if rev {
        let e = hi - offset;
        (e.saturating_sub(n).max(lo), e)
    } else {
        let s = lo + offset;
        (s, s.saturating_add(n).min(hi))
    }
}

// ---------------------------------------------------------------------------
// Helpers shared by the commands.

/// Whether `key` holds a sorted set (true), nothing (false), or another
/// type (WRONGTYPE), for a read command: counts a keyspace hit or miss.
fn read_zset<K: Keyspace>(ks: &mut K, key: &[u8]) -> Ks<Result<bool, Reply>> {
    Ok(match ks.read(key)? {
        None => Ok(false),
        Some(head) => head.expect(Kind::ZSet).map(|_| true),
    })
}

/// As [`read_zset`] for a write command: counts nothing.
fn lookup_zset<K: Keyspace>(ks: &mut K, key: &[u8]) -> Ks<Result<bool, Reply>> {
    Ok(match ks.lookup(key)? {
        None => Ok(false),
        Some(head) => head.expect(Kind::ZSet).map(|_| true),
    })
}

/// Return the reply early from an `Ks<Result<T, Reply>>`.
macro_rules! check {
    ($e:expr) => {
        match $e? {
            Ok(v) => v,
            Err(reply) => return Ok(reply),
        }
    };
}

/// As [`check!`], in a function that answers `Option<Reply>`.
macro_rules! check_some {
    ($e:expr) => {
        match $e? {
            Ok(v) => v,
            Err(reply) => return Ok(Some(reply)),
        }
    };
}

/// Members with their scores: pairs when `withscores` (RESP3 nests them),
/// bare members otherwise.
fn members_reply(items: Vec<(Bytes, f64)>, withscores: bool) -> Reply {
    if withscores {
        Reply::Pairs(
            items
                .into_iter()
                .map(|(m, s)| (Reply::Bulk(m), Reply::Double(s)))
                .collect(),
        )
    } else {
        Reply::Array(items.into_iter().map(|(m, _)| Reply::Bulk(m)).collect())
    }
}

// ---------------------------------------------------------------------------
// ZADD, ZINCRBY.

/// `ZADD key [NX | XX] [GT | LT] [CH] [INCR] score member [score member ...]`
/// and `ZINCRBY key increment member` (ZADD with INCR, as Redis parses it:
/// `ZINCRBY key nx member` is a syntax error).
pub struct ZAdd<'a> {
    key: &'a [u8],
    nx: bool,
    xx: bool,
    gt: bool,
    lt: bool,
    ch: bool,
    incr: bool,
    pairs: Vec<(f64, &'a [u8])>,
}

impl<'a> ZAdd<'a> {
    pub fn parse_with(a: &'a [Bytes], incr: bool) -> Result<ZAdd<'a>, Reply> {
        let mut z = ZAdd {
            key: &a[1],
            nx: false,
            xx: false,
            gt: false,
            lt: false,
            ch: false,
            incr,
            pairs: Vec::new(),
        };
        let mut i = 2;
        while i < a.len() {
            let o = &a[i];
            if eq(o, "nx") {
                z.nx = true;
            } else if eq(o, "xx") {
                z.xx = true;
            } else if eq(o, "ch") {
                z.ch = true;
            } else if eq(o, "incr") {
                z.incr = true;
            } else if eq(o, "gt") {
                z.gt = true;
            } else if eq(o, "lt") {
                z.lt = true;
            } else {
                break;
            }
            i += 1;
        }
        let elements = a.len() - i;
        if elements % 2 != 0 || elements == 0 {
            return Err(errors::SYNTAX);
        }
        if z.nx && z.xx {
            return Err(Reply::static_error(
                "ERR XX and NX options at the same time are not compatible",
            ));
        }
        if (z.nx && (z.gt || z.lt)) || (z.gt && z.lt) {
            return Err(Reply::static_error(
                "ERR GT, LT, and/or NX options at the same time are not compatible",
            ));
        }
        if z.incr && elements > 2 {
            return Err(Reply::static_error(
                "ERR INCR option supports a single increment-element pair",
            ));
        }
        z.pairs.reserve(elements / 2);
        for pair in a[i..].chunks_exact(2) {
            let score = parse_score(&pair[0]).ok_or(errors::NOT_FLOAT)?;
            z.pairs.push((score, &pair[1]));
        }
        Ok(z)
    }
}

impl<'a> KeyCommand<'a> for ZAdd<'a> {
    fn parse(a: &'a [Bytes], _: &mut impl Clock) -> Result<Self, Reply> {
        ZAdd::parse_with(a, false)
    }

    fn apply<K: Keyspace>(self, ks: &mut K) -> Ks<Reply> {
        let exists = check!(lookup_zset(ks, self.key));
        let none = || {
            if self.incr {
                Reply::Null
            } else {
                Reply::Integer(0)
            }
        };
        if !exists && self.xx {
            return Ok(none());
        }
        let longest = self.pairs.iter().map(|p| p.1.len()).max().unwrap_or(0);
        // Redis 7.2 (`zsetTypeCreate`, `zsetTypeMaybeConvert`): a new set
        // by the count and the longest member, an existing one by the
        // count alone.
        if exists {
            ks.zset_size_hint(self.key, self.pairs.len(), 0)?;
        }
        let (mut added, mut updated, mut processed) = (0, 0, 0);
        let mut last = 0.0;
        for &(score, member) in &self.pairs {
            let current = if exists || added > 0 {
                ks.zset_score(self.key, member)?
            } else {
                None
            };
            match current {
                Some(cur) => {
                    if self.nx {
                        continue;
                    }
                    let mut new = score;
                    if self.incr {
                        new += cur;
                        if new.is_nan() {
                            return Ok(Reply::static_error(
                                "ERR resulting score is not a number (NaN)",
                            ));
                        }
                    }
                    if (self.lt && new >= cur) || (self.gt && new <= cur) {
                        continue;
                    }
                    processed += 1;
                    last = new;
                    if new != cur {
                        ks.zset_put(self.key, member, new)?;
                        updated += 1;
                    }
                }
                None => {
                    if self.xx {
                        continue;
                    }
                    ks.zset_put(self.key, member, score)?;
                    added += 1;
                    processed += 1;
                    last = score;
                }
            }
        }
        if !exists && added > 0 {
            ks.zset_size_hint(self.key, self.pairs.len(), longest)?;
        }
        if added + updated > 0 {
            ks.notify(ZSET, if self.incr { "zincr" } else { "zadd" }, self.key);
        }
        Ok(if self.incr {
            if processed > 0 {
                Reply::Double(last)
            } else {
                Reply::Null
            }
        } else {
            Reply::Integer(if self.ch { added + updated } else { added })
        })
    }
}

/// ZINCRBY: ZADD with INCR.
pub struct ZIncrBy<'a>(ZAdd<'a>);

impl<'a> KeyCommand<'a> for ZIncrBy<'a> {
    fn parse(a: &'a [Bytes], _: &mut impl Clock) -> Result<Self, Reply> {
        ZAdd::parse_with(a, true).map(ZIncrBy)
    }
    fn apply<K: Keyspace>(self, ks: &mut K) -> Ks<Reply> {
        self.0.apply(ks)
    }
}

// ---------------------------------------------------------------------------
// ZREM, ZCARD, ZSCORE, ZMSCORE, ZRANK, ZREVRANK.

/// `ZREM key member [member ...]`.
pub struct ZRem<'a> {
    key: &'a [u8],
    members: &'a [Bytes],
}

impl<'a> KeyCommand<'a> for ZRem<'a> {
    fn parse(a: &'a [Bytes], _: &mut impl Clock) -> Result<Self, Reply> {
        Ok(ZRem {
            key: &a[1],
            members: &a[2..],
        })
    }
    fn apply<K: Keyspace>(self, ks: &mut K) -> Ks<Reply> {
        if !check!(lookup_zset(ks, self.key)) {
            return Ok(Reply::Integer(0));
        }
        let mut removed = 0;
        for m in self.members {
            if ks.zset_remove(self.key, m)? {
                removed += 1;
            }
        }
        if removed > 0 {
            ks.notify(ZSET, "zrem", self.key);
            del_if_emptied(ks, self.key)?;
        }
        Ok(Reply::Integer(removed))
    }
}

/// `ZCARD key`.
pub struct ZCard<'a> {
    key: &'a [u8],
}

impl<'a> KeyCommand<'a> for ZCard<'a> {
    fn parse(a: &'a [Bytes], _: &mut impl Clock) -> Result<Self, Reply> {
        Ok(ZCard { key: &a[1] })
    }
    fn apply<K: Keyspace>(self, ks: &mut K) -> Ks<Reply> {
        if !check!(read_zset(ks, self.key)) {
            return Ok(Reply::Integer(0));
        }
        Ok(Reply::Integer(ks.zset_len(self.key)? as i64))
    }
}

/// `ZSCORE key member`.
pub struct ZScore<'a> {
    key: &'a [u8],
    member: &'a [u8],
}

impl<'a> KeyCommand<'a> for ZScore<'a> {
    fn parse(a: &'a [Bytes], _: &mut impl Clock) -> Result<Self, Reply> {
        Ok(ZScore {
            key: &a[1],
            member: &a[2],
        })
    }
    fn apply<K: Keyspace>(self, ks: &mut K) -> Ks<Reply> {
        if !check!(read_zset(ks, self.key)) {
            return Ok(Reply::Null);
        }
        Ok(ks
            .zset_score(self.key, self.member)?
            .map_or(Reply::Null, Reply::Double))
    }
}

/// `ZMSCORE key member [member ...]`.
pub struct ZMScore<'a> {
    key: &'a [u8],
    members: &'a [Bytes],
}

impl<'a> KeyCommand<'a> for ZMScore<'a> {
    fn parse(a: &'a [Bytes], _: &mut impl Clock) -> Result<Self, Reply> {
        Ok(ZMScore {
            key: &a[1],
            members: &a[2..],
        })
    }
    fn apply<K: Keyspace>(self, ks: &mut K) -> Ks<Reply> {
        if !check!(read_zset(ks, self.key)) {
            return Ok(Reply::Array(vec![Reply::Null; self.members.len()]));
        }
        let mut out = Vec::with_capacity(self.members.len());
        for m in self.members {
            out.push(
                ks.zset_score(self.key, m)?
                    .map_or(Reply::Null, Reply::Double),
            );
        }
        Ok(Reply::Array(out))
    }
}

/// `ZRANK key member [WITHSCORE]` and ZREVRANK.
pub struct ZRank<'a> {
    key: &'a [u8],
    member: &'a [u8],
    withscore: bool,
    rev: bool,
}

impl<'a> ZRank<'a> {
    pub fn parse_with(a: &'a [Bytes], rev: bool) -> Result<ZRank<'a>, Reply> {
        if a.len() > 4 {
            let name = if rev { "zrevrank" } else { "zrank" };
            return Err(Reply::error(format!(
                "ERR wrong number of arguments for '{name}' command"
            )));
        }
        let withscore = match a.get(3) {
            None => false,
            Some(o) if eq(o, "withscore") => true,
            Some(_) => return Err(errors::SYNTAX),
        };
        Ok(ZRank {
            key: &a[1],
            member: &a[2],
            withscore,
            rev,
        })
    }

    pub fn apply<K: Keyspace>(self, ks: &mut K) -> Ks<Reply> {
        let missing = if self.withscore {
            Reply::NullArray
        } else {
            Reply::Null
        };
        if !check!(read_zset(ks, self.key)) {
            return Ok(missing);
        }
        let Some((rank, score)) = ks.zset_rank(self.key, self.member)? else {
            return Ok(missing);
        };
        let rank = if self.rev {
            ks.zset_len(self.key)? - 1 - rank
        } else {
            rank
        };
        Ok(if self.withscore {
            Reply::Array(vec![Reply::Integer(rank as i64), Reply::Double(score)])
        } else {
            Reply::Integer(rank as i64)
        })
    }
}

// ---------------------------------------------------------------------------
// ZCOUNT, ZLEXCOUNT.

/// `ZCOUNT key min max`.
pub struct ZCount<'a> {
    key: &'a [u8],
    range: ScoreRange,
}

impl<'a> KeyCommand<'a> for ZCount<'a> {
    fn parse(a: &'a [Bytes], _: &mut impl Clock) -> Result<Self, Reply> {
        Ok(ZCount {
            key: &a[1],
            range: ScoreRange::parse(&a[2], &a[3])?,
        })
    }
    fn apply<K: Keyspace>(self, ks: &mut K) -> Ks<Reply> {
        if !check!(read_zset(ks, self.key)) {
            return Ok(Reply::Integer(0));
        }
        let (lo, hi) = self.range.ranks(ks, self.key)?;
        Ok(Reply::Integer((hi - lo) as i64))
    }
}

/// `ZLEXCOUNT key min max`.
pub struct ZLexCount<'a> {
    key: &'a [u8],
    range: LexRange,
}

impl<'a> KeyCommand<'a> for ZLexCount<'a> {
    fn parse(a: &'a [Bytes], _: &mut impl Clock) -> Result<Self, Reply> {
        Ok(ZLexCount {
            key: &a[1],
            range: LexRange::parse(&a[2], &a[3])?,
        })
    }
    fn apply<K: Keyspace>(self, ks: &mut K) -> Ks<Reply> {
        if !check!(read_zset(ks, self.key)) {
            return Ok(Reply::Integer(0));
        }
        let (lo, hi) = self.range.ranks(ks, self.key)?;
        Ok(Reply::Integer((hi - lo) as i64))
    }
}

// ---------------------------------------------------------------------------
// ZRANGE and its forms.

/// What a range is over.
#[derive(Clone, Debug, PartialEq)]
enum By {
    Rank(i64, i64),
    Score(ScoreRange),
    Lex(LexRange),
}

/// Which of ZRANGE's forms: the range kind and direction a name fixes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RangeForm {
    /// ZRANGE: both from the options.
    Range,
    /// ZRANGESTORE: both from the options; no WITHSCORES.
    Store,
    RangeByScore,
    RevRangeByScore,
    RangeByLex,
    RevRangeByLex,
    RevRange,
}

/// `ZRANGE key start stop [BYSCORE | BYLEX] [REV] [LIMIT offset count]
/// [WITHSCORES]`, ZRANGESTORE and the older forms, parsed as Redis'
/// `zrangeGenericCommand` parses them.
pub struct ZRange<'a> {
    dst: Option<&'a [u8]>,
    src: &'a [u8],
    by: By,
    rev: bool,
    withscores: bool,
    offset: i64,
    limit: i64,
}

#[derive(Clone, Copy, PartialEq)]
enum Kind3 {
    Rank,
    Score,
    Lex,
}

impl<'a> ZRange<'a> {
    pub fn parse_form(a: &'a [Bytes], form: RangeForm) -> Result<ZRange<'a>, Reply> {
        use RangeForm::*;
        let store = form == Store;
        let first = if store { 2 } else { 1 };
        let (mut kind, mut rev): (Option<Kind3>, Option<bool>) = match form {
            Range | Store => (None, None),
            RangeByScore => (Some(Kind3::Score), Some(false)),
            RevRangeByScore => (Some(Kind3::Score), Some(true)),
            RangeByLex => (Some(Kind3::Lex), Some(false)),
            RevRangeByLex => (Some(Kind3::Lex), Some(true)),
            RevRange => (Some(Kind3::Rank), Some(true)),
        };
        let explicit_kind = kind.is_some();
        let explicit_dir = rev.is_some();
        let (mut withscores, mut offset, mut limit) = (false, 0i64, -1i64);
        let mut j = first + 3;
        while j < a.len() {
            let left = a.len() - j - 1;
            let o = &a[j];
            if !store && eq(o, "withscores") {
                withscores = true;
            } else if eq(o, "limit") && left >= 2 {
                offset = long_arg(&a[j + 1])?;
                limit = long_arg(&a[j + 2])?;
                j += 2;
            } else if !explicit_dir && rev.is_none() && eq(o, "rev") {
                rev = Some(true);
            } else if !explicit_kind && kind.is_none() && eq(o, "bylex") {
                kind = Some(Kind3::Lex);
            } else if !explicit_kind && kind.is_none() && eq(o, "byscore") {
                kind = Some(Kind3::Score);
            } else {
                return Err(errors::SYNTAX);
            }
            j += 1;
        }
        let kind = kind.unwrap_or(Kind3::Rank);
        let rev = rev.unwrap_or(false);
        if limit != -1 && kind == Kind3::Rank {
            return Err(Reply::static_error(
                "ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX",
            ));
        }
        if withscores && kind == Kind3::Lex {
            return Err(Reply::static_error(
                "ERR syntax error, WITHSCORES not supported in combination with BYLEX",
            ));
        }
        let (mut lo, mut hi) = (&a[first + 1], &a[first + 2]);
        if rev && kind != Kind3::Rank {
            std::mem::swap(&mut lo, &mut hi);
        }
        let by = match kind {
            Kind3::Rank => By::Rank(long_arg(lo)?, long_arg(hi)?),
            Kind3::Score => By::Score(ScoreRange::parse(lo, hi)?),
            Kind3::Lex => By::Lex(LexRange::parse(lo, hi)?),
        };
        Ok(ZRange {
            dst: store.then(|| &a[1][..]),
            src: &a[first],
            by,
            rev,
            withscores,
            offset,
            limit,
        })
    }

    pub fn apply<K: Keyspace>(self, ks: &mut K) -> Ks<Reply> {
        let exists = check!(read_zset(ks, self.src));
        let items = if exists {
            let (start, end) = match &self.by {
                By::Rank(s, e) => {
                    let len = ks.zset_len(self.src)?;
                    rank_window(*s, *e, len, self.rev)
                }
                By::Score(r) => {
                    let (lo, hi) = r.ranks(ks, self.src)?;
                    limit_window(lo, hi, self.offset, self.limit, self.rev)
                }
                By::Lex(r) => {
                    let (lo, hi) = r.ranks(ks, self.src)?;
                    limit_window(lo, hi, self.offset, self.limit, self.rev)
                }
            };
            ks.zset_range(self.src, start, end, self.rev)?
        } else {
            Vec::new()
        };
        match self.dst {
            Some(dst) => {
                let n = items.len();
                store_events(ks, dst, items, "zrangestore")?;
                Ok(Reply::Integer(n as i64))
            }
            None => Ok(members_reply(items, self.withscores)),
        }
    }
}

// ---------------------------------------------------------------------------
// ZREMRANGEBYRANK, ZREMRANGEBYSCORE, ZREMRANGEBYLEX.

/// `ZREMRANGEBY{RANK,SCORE,LEX} key min max`.
pub struct ZRemRange<'a> {
    key: &'a [u8],
    by: By,
}

/// Which ZREMRANGEBY command.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RemBy {
    Rank,
    Score,
    Lex,
}

impl<'a> ZRemRange<'a> {
    pub fn parse_by(a: &'a [Bytes], by: RemBy) -> Result<ZRemRange<'a>, Reply> {
        let by = match by {
            RemBy::Rank => By::Rank(long_arg(&a[2])?, long_arg(&a[3])?),
            RemBy::Score => By::Score(ScoreRange::parse(&a[2], &a[3])?),
            RemBy::Lex => By::Lex(LexRange::parse(&a[2], &a[3])?),
        };
        Ok(ZRemRange { key: &a[1], by })
    }

    pub fn apply<K: Keyspace>(self, ks: &mut K) -> Ks<Reply> {
        if !check!(lookup_zset(ks, self.key)) {
            return Ok(Reply::Integer(0));
        }
        let (start, end) = match &self.by {
            By::Rank(s, e) => {
                let len = ks.zset_len(self.key)?;
                rank_window(*s, *e, len, false)
            }
            By::Score(r) => r.ranks(ks, self.key)?,
            By::Lex(r) => r.ranks(ks, self.key)?,
        };
        if start >= end {
            return Ok(Reply::Integer(0));
        }
        let removed = ks.zset_remove_range(self.key, start, end)? as i64;
        if removed > 0 {
            let event = match self.by {
                By::Rank(..) => "zremrangebyrank",
                By::Score(_) => "zremrangebyscore",
                By::Lex(_) => "zremrangebylex",
            };
            ks.notify(ZSET, event, self.key);
            del_if_emptied(ks, self.key)?;
        }
        Ok(Reply::Integer(removed))
    }
}

// ---------------------------------------------------------------------------
// ZPOPMIN, ZPOPMAX, ZMPOP.

/// Pop up to `count` members from the low end (or the high end if
/// `max`) of the sorted set at `key`, which exists.
fn pop<K: Keyspace>(ks: &mut K, key: &[u8], count: usize, max: bool) -> Ks<Vec<(Bytes, f64)>> {
    let len = ks.zset_len(key)?;
    let n = count.min(len);
    let (start, end) = if max { (len - n, len) } else { (0, n) };
    let items = ks.zset_range(key, start, end, max)?;
    ks.zset_remove_range(key, start, end)?;
    if !items.is_empty() {
        ks.notify(ZSET, if max { "zpopmax" } else { "zpopmin" }, key);
        del_if_emptied(ks, key)?;
    }
    Ok(items)
}

/// Store a sorted set computed by `event`'s command at `dst`, raising
/// `event`, or `del` when an empty result removed `dst` (Redis'
/// `zrangeResultFinalizeStore`, `zunionInterDiffGenericCommand`).
fn store_events<K: Keyspace>(
    ks: &mut K,
    dst: &[u8],
    items: Vec<(Bytes, f64)>,
    event: &'static str,
) -> Ks<()> {
    let empty = items.is_empty();
    let existed = empty && ks.notifies(GENERIC) && ks.exists(dst)?;
    ks.zset_store(dst, items)?;
    if !empty {
        ks.notify(ZSET, event, dst);
    } else if existed {
        ks.notify(GENERIC, "del", dst);
    }
    Ok(())
}

/// `ZPOPMIN key [count]` and ZPOPMAX.
pub struct ZPop<'a> {
    key: &'a [u8],
    count: Option<usize>,
    max: bool,
}

impl<'a> ZPop<'a> {
    pub fn parse_with(a: &'a [Bytes], max: bool) -> Result<ZPop<'a>, Reply> {
        if a.len() > 3 {
            return Err(errors::SYNTAX);
        }
        let count = match a.get(2) {
            None => None,
            Some(c) => Some(ranged(
                c,
                0,
                i64::MAX,
                "ERR value is out of range, must be positive",
            )? as usize),
        };
        Ok(ZPop {
            key: &a[1],
            count,
            max,
        })
    }

    pub fn apply<K: Keyspace>(self, ks: &mut K) -> Ks<Reply> {
        if !check!(lookup_zset(ks, self.key)) || self.count == Some(0) {
            return Ok(Reply::Array(Vec::new()));
        }
        let items = pop(ks, self.key, self.count.unwrap_or(1), self.max)?;
        Ok(match self.count {
            Some(_) => members_reply(items, true),
            None => Reply::Array(
                items
                    .into_iter()
                    .flat_map(|(m, s)| [Reply::Bulk(m), Reply::Double(s)])
                    .collect(),
            ),
        })
    }
}

/// `ZMPOP numkeys key [key ...] MIN | MAX [COUNT count]`.
pub struct ZMPop<'a> {
    keys: &'a [Bytes],
    max: bool,
    count: usize,
}

impl<'a> ZMPop<'a> {
    /// The arguments from `numkeys` (at `at`) on, as Redis'
    /// `zmpopGenericCommand` reads them.
    fn parse_at(a: &'a [Bytes], at: usize) -> Result<Self, Reply> {
        let numkeys = ranged(&a[at], 1, i64::MAX, "ERR numkeys should be greater than 0")?;
        let where_idx = (numkeys as usize).saturating_add(at + 1);
        if where_idx >= a.len() {
            return Err(errors::SYNTAX);
        }
        let max = if eq(&a[where_idx], "min") {
            false
        } else if eq(&a[where_idx], "max") {
            true
        } else {
            return Err(errors::SYNTAX);
        };
        let mut count: Option<usize> = None;
        let mut j = where_idx + 1;
        while j < a.len() {
            if count.is_none() && eq(&a[j], "count") && j + 1 < a.len() {
                j += 1;
                count = Some(
                    ranged(&a[j], 1, i64::MAX, "ERR count should be greater than 0")? as usize,
                );
            } else {
                return Err(errors::SYNTAX);
            }
            j += 1;
        }
        Ok(ZMPop {
            keys: &a[at + 1..where_idx],
            max,
            count: count.unwrap_or(1),
        })
    }

    /// Pop from the first sorted set among the keys: `Some(reply)` when
    /// one was found (or a key had the wrong type), None when none exists.
    fn pop_first<K: Keyspace>(&self, ks: &mut K) -> Ks<Option<Reply>> {
        for key in self.keys {
            if !check_some!(lookup_zset(ks, key)) {
                continue;
            }
            let items = pop(ks, key, self.count, self.max)?;
            return Ok(Some(Reply::Array(vec![
                Reply::Bulk(key.clone()),
                Reply::Array(
                    items
                        .into_iter()
                        .map(|(m, s)| Reply::Array(vec![Reply::Bulk(m), Reply::Double(s)]))
                        .collect(),
                ),
            ])));
        }
        Ok(None)
    }
}

impl<'a> KeyCommand<'a> for ZMPop<'a> {
    fn parse(a: &'a [Bytes], _: &mut impl Clock) -> Result<Self, Reply> {
        ZMPop::parse_at(a, 1)
    }

    fn apply<K: Keyspace>(self, ks: &mut K) -> Ks<Reply> {
        Ok(self.pop_first(ks)?.unwrap_or(Reply::NullArray))
    }
}

/// `BZPOPMIN key [key ...] timeout` and BZPOPMAX: the first non-empty
/// sorted set's lowest (highest) member, as `[key, member, score]`, or a
/// wait for one.
pub struct BZPop<'a> {
    keys: &'a [Bytes],
    max: bool,
    timeout: Option<Duration>,
}

impl<'a> BZPop<'a> {
    pub fn parse_with(a: &'a [Bytes], max: bool, clock: &mut impl Clock) -> Result<Self, Reply> {
        Ok(BZPop {
            keys: &a[1..a.len() - 1],
            max,
            timeout: parse_timeout(&a[a.len() - 1], clock.now())?,
        })
    }

    pub fn apply<K: Keyspace>(self, ks: &mut K) -> Ks<Blocking> {
        for key in self.keys {
            match lookup_zset(ks, key)? {
                Err(e) => return Ok(Blocking::Done(e)),
                Ok(false) => continue,
                Ok(true) => {}
            }
            let mut items = pop(ks, key, 1, self.max)?;
            if let Some((m, s)) = items.pop() {
                return Ok(Blocking::Done(Reply::Array(vec![
                    Reply::Bulk(key.clone()),
                    Reply::Bulk(m),
                    Reply::Double(s),
                ])));
            }
        }
        Ok(Blocking::Wait(Wait {
            keys: self.keys.to_vec(),
            kind: Kind::ZSet,
            timeout: self.timeout,
            instead: Reply::NullArray,
        }))
    }
}

/// `BZMPOP timeout numkeys key [key ...] MIN | MAX [COUNT count]`: the
/// arguments after the timeout are read first, as Redis does.
pub struct BZMPop<'a> {
    args: ZMPop<'a>,
    timeout: Option<Duration>,
}

impl<'a> BZMPop<'a> {
    pub fn parse_bzmpop(a: &'a [Bytes], clock: &mut impl Clock) -> Result<Self, Reply> {
        let args = ZMPop::parse_at(a, 2)?;
        let timeout = parse_timeout(&a[1], clock.now())?;
        Ok(BZMPop { args, timeout })
    }

    pub fn apply<K: Keyspace>(self, ks: &mut K) -> Ks<Blocking> {
        Ok(match self.args.pop_first(ks)? {
            Some(reply) => Blocking::Done(reply),
            None => Blocking::Wait(Wait {
                keys: self.args.keys.to_vec(),
                kind: Kind::ZSet,
                timeout: self.timeout,
                instead: Reply::NullArray,
            }),
        })
    }
}

// ---------------------------------------------------------------------------
// ZRANDMEMBER.

/// `ZRANDMEMBER key [count [WITHSCORES]]`.
pub struct ZRandMember<'a> {
    key: &'a [u8],
    count: Option<i64>,
    withscores: bool,
}

impl<'a> KeyCommand<'a> for ZRandMember<'a> {
    fn parse(a: &'a [Bytes], _: &mut impl Clock) -> Result<Self, Reply> {
        let mut z = ZRandMember {
            key: &a[1],
            count: None,
            withscores: false,
        };
        if a.len() >= 3 {
            let l = long_arg(&a[2])?;
            if l == i64::MIN {
                return Err(Reply::static_error(
                    "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807",
                ));
            }
            if a.len() > 4 || (a.len() == 4 && !eq(&a[3], "withscores")) {
                return Err(errors::SYNTAX);
            }
            if a.len() == 4 {
                z.withscores = true;
                if !(-(i64::MAX / 2)..=i64::MAX / 2).contains(&l) {
                    return Err(Reply::static_error("ERR value is out of range"));
                }
            }
            z.count = Some(l);
        }
        Ok(z)
    }

    fn apply<K: Keyspace>(self, ks: &mut K) -> Ks<Reply> {
        let exists = check!(read_zset(ks, self.key));
        let Some(count) = self.count else {
            if !exists {
                return Ok(Reply::Null);
            }
            let len = ks.zset_len(self.key)?;
            let r = rand::thread_rng().gen_range(0..len);
            let mut one = ks.zset_range(self.key, r, r + 1, false)?;
            return Ok(one.pop().map_or(Reply::Null, |(m, _)| Reply::Bulk(m)));
        };
        if !exists || count == 0 {
            return Ok(Reply::Array(Vec::new()));
        }
        let len = ks.zset_len(self.key)?;
        let mut rng = rand::thread_rng();
        let items = if count < 0 {
            let n = count.unsigned_abs() as usize;
            if n > super::hashes::MAX_RANDOM_REPEATS {
                // Redis streams picks into the output buffer until memory
                // runs out; redynamo builds the reply first, so it refuses
                // one this big (as HRANDFIELD does).
                return Ok(Reply::static_error(
                    "ERR value is out of range (redynamo answers at most 10000000 repeated members)",
                ));
            }
            let mut out = Vec::with_capacity(n.min(1 << 16));
            for _ in 0..n {
                let r = rng.gen_range(0..len);
                out.extend(ks.zset_range(self.key, r, r + 1, false)?);
            }
            out
        } else if count as usize >= len {
            ks.zset_range(self.key, 0, len, false)?
        } else {
            let mut out = Vec::with_capacity(count as usize);
            for r in rand::seq::index::sample(&mut rng, len, count as usize) {
                out.extend(ks.zset_range(self.key, r, r + 1, false)?);
            }
            out
        };
        Ok(members_reply(items, self.withscores))
    }
}

// ---------------------------------------------------------------------------
// ZUNION, ZINTER, ZDIFF, their STORE forms, ZINTERCARD.

/// Which set operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SetOpKind {
    Union,
    Inter,
    Diff,
}

#[derive(Clone, Copy, PartialEq)]
enum Aggregate {
    Sum,
    Min,
    Max,
}

fn aggregate(target: &mut f64, value: f64, how: Aggregate) {
    match how {
        Aggregate::Sum => {
            *target += value;
            // inf + -inf: Redis keeps the convention of 0.
            if target.is_nan() {
                *target = 0.0;
            }
        }
        Aggregate::Min => {
            if value < *target {
                *target = value;
            }
        }
        Aggregate::Max => {
            if value > *target {
                *target = value;
            }
        }
    }
}

/// `ZUNION numkeys key [key ...] [WEIGHTS w ...] [AGGREGATE SUM|MIN|MAX]
/// [WITHSCORES]`, ZINTER, ZDIFF (no WEIGHTS, no AGGREGATE), the STORE
/// forms (a destination first, no WITHSCORES) and ZINTERCARD (LIMIT
/// only), as Redis' `zunionInterDiffGenericCommand` reads them: the
/// numkeys checks, then the keys' types, then the options.
pub struct ZSetOp<'a> {
    args: &'a [Bytes],
    dst: Option<&'a [u8]>,
    keys: &'a [Bytes],
    /// Where the options start.
    options: usize,
    op: SetOpKind,
    card_only: bool,
}

/// One input of a set operation: its members and scores.
struct Source {
    items: Vec<(Bytes, f64)>,
    weight: f64,
}

impl<'a> ZSetOp<'a> {
    pub fn parse_op(
        a: &'a [Bytes],
        op: SetOpKind,
        store: bool,
        card_only: bool,
        name: &str,
    ) -> Result<ZSetOp<'a>, Reply> {
        let numkeys_idx = if store { 2 } else { 1 };
        let setnum = long_arg(&a[numkeys_idx])?;
        if setnum < 1 {
            return Err(Reply::error(format!(
                "ERR at least 1 input key is needed for '{name}' command"
            )));
        }
        if setnum as u64 > (a.len() - (numkeys_idx + 1)) as u64 {
            return Err(errors::SYNTAX);
        }
        let first = numkeys_idx + 1;
        Ok(ZSetOp {
            args: a,
            dst: store.then(|| &a[1][..]),
            keys: &a[first..first + setnum as usize],
            options: first + setnum as usize,
            op,
            card_only,
        })
    }

    pub fn apply<K: Keyspace>(self, ks: &mut K) -> Ks<Reply> {
        // The inputs' types first: Redis looks every key up (as a read,
        // for the STORE forms too) before it reads an option.
        let mut kinds = Vec::with_capacity(self.keys.len());
        for key in self.keys {
            kinds.push(match ks.read(key)? {
                None => None,
                Some(h) if h.kind == Kind::ZSet || h.kind == Kind::Set => Some(h.kind),
                Some(_) => return Ok(super::keyspace::WRONGTYPE),
            });
        }
        let setnum = self.keys.len();
        let mut weights = vec![1.0; setnum];
        let mut how = Aggregate::Sum;
        let mut withscores = false;
        let mut limit = 0usize;
        let mut j = self.options;
        let a = self.args;
        while j < a.len() {
            let remaining = a.len() - j;
            let set_op = self.op != SetOpKind::Diff && !self.card_only;
            if set_op && remaining > setnum && eq(&a[j], "weights") {
                j += 1;
                for w in weights.iter_mut() {
                    *w = match parse_score(&a[j]) {
                        Some(v) => v,
                        None => return Ok(Reply::static_error("ERR weight value is not a float")),
                    };
                    j += 1;
                }
            } else if set_op && remaining >= 2 && eq(&a[j], "aggregate") {
                let v = &a[j + 1];
                how = if eq(v, "sum") {
                    Aggregate::Sum
                } else if eq(v, "min") {
                    Aggregate::Min
                } else if eq(v, "max") {
                    Aggregate::Max
                } else {
                    return Ok(errors::SYNTAX);
                };
                j += 2;
            } else if self.dst.is_none() && !self.card_only && eq(&a[j], "withscores") {
                withscores = true;
                j += 1;
            } else if self.card_only && remaining >= 2 && eq(&a[j], "limit") {
                match parse_i64(&a[j + 1]) {
                    Some(n) if n >= 0 => limit = n as usize,
                    _ => return Ok(Reply::static_error("ERR LIMIT can't be negative")),
                }
                j += 2;
            } else {
                return Ok(errors::SYNTAX);
            }
        }

        let mut sources = Vec::with_capacity(setnum);
        for ((key, kind), weight) in self.keys.iter().zip(kinds).zip(weights) {
            let items = match kind {
                None => Vec::new(),
                Some(Kind::Set) => ks
                    .zset_read_set(key)?
                    .into_iter()
                    .map(|m| (m, 1.0))
                    .collect(),
                Some(_) => {
                    let len = ks.zset_len(key)?;
                    ks.zset_range(key, 0, len, false)?
                }
            };
            sources.push(Source { items, weight });
        }
        if self.op != SetOpKind::Diff {
            // Smallest first, stable, as Redis' qsort by cardinality.
            sources.sort_by_key(|s| s.items.len());
        }

        let mut result: Vec<(Bytes, f64)> = Vec::new();
        let mut card = 0usize;
        match self.op {
            SetOpKind::Inter => {
                if !sources[0].items.is_empty() {
                    let lookups: Vec<std::collections::HashMap<&[u8], f64>> = sources[1..]
                        .iter()
                        .map(|s| s.items.iter().map(|(m, sc)| (&m[..], *sc)).collect())
                        .collect();
                    let w0 = sources[0].weight;
                    for (m, s) in &sources[0].items {
                        let mut score = w0 * s;
                        if score.is_nan() {
                            score = 0.0;
                        }
                        let mut everywhere = true;
                        for (lookup, src) in lookups.iter().zip(&sources[1..]) {
                            match lookup.get(&m[..]) {
                                Some(v) => aggregate(&mut score, v * src.weight, how),
                                None => {
                                    everywhere = false;
                                    break;
                                }
                            }
                        }
                        if !everywhere {
                            continue;
                        }
                        if self.card_only {
                            card += 1;
                            if limit > 0 && card >= limit {
                                break;
                            }
                        } else {
                            result.push((m.clone(), score));
                        }
                    }
                }
            }
            SetOpKind::Union => {
                let mut acc: std::collections::HashMap<Bytes, f64> =
                    std::collections::HashMap::new();
                for src in &sources {
                    for (m, s) in &src.items {
                        let mut score = src.weight * s;
                        if score.is_nan() {
                            score = 0.0;
                        }
                        match acc.get_mut(m) {
                            Some(cur) => aggregate(cur, score, how),
                            None => {
                                acc.insert(m.clone(), score);
                            }
                        }
                    }
                }
                result = acc.into_iter().collect();
            }
            SetOpKind::Diff => {
                let others: std::collections::HashSet<&[u8]> = sources[1..]
                    .iter()
                    .flat_map(|s| s.items.iter().map(|(m, _)| &m[..]))
                    .collect();
                result = sources[0]
                    .items
                    .iter()
                    .filter(|(m, _)| !others.contains(&m[..]))
                    .cloned()
                    .collect();
            }
        }
        if self.card_only {
            return Ok(Reply::Integer(card as i64));
        }
        result.sort_by(|a, b| match a.1.partial_cmp(&b.1) {
            Some(std::cmp::Ordering::Equal) | None => a.0.cmp(&b.0),
            Some(o) => o,
        });
        match self.dst {
            Some(dst) => {
                let n = result.len();
                let event = match self.op {
                    SetOpKind::Union => "zunionstore",
                    SetOpKind::Inter => "zinterstore",
                    SetOpKind::Diff => "zdiffstore",
                };
                store_events(ks, dst, result, event)?;
                Ok(Reply::Integer(n as i64))
            }
            None => Ok(members_reply(result, withscores)),
        }
    }
}

// ---------------------------------------------------------------------------
// ZSCAN.

/// `ZSCAN key cursor [MATCH pattern] [COUNT count]`.
pub struct ZScan<'a> {
    args: &'a [Bytes],
    key: &'a [u8],
    cursor: u64,
}

impl<'a> KeyCommand<'a> for ZScan<'a> {
    fn parse(a: &'a [Bytes], _: &mut impl Clock) -> Result<Self, Reply> {
        let cursor = std::str::from_utf8(&a[2])
            .ok()
            .and_then(|s| s.parse::<u64>().ok())
            .ok_or(Reply::static_error("ERR invalid cursor"))?;
        Ok(ZScan {
            args: a,
            key: &a[1],
            cursor,
        })
    }

    fn apply<K: Keyspace>(self, ks: &mut K) -> Ks<Reply> {
        let scan_reply = |cursor: u64, items: Vec<Reply>| {
            Reply::Array(vec![
                Reply::Bulk(Bytes::from(cursor.to_string())),
                Reply::Array(items),
            ])
        };
        if !check!(read_zset(ks, self.key)) {
            return Ok(scan_reply(0, Vec::new()));
        }
        // The options are read after the key, as Redis does; ZSCAN has no
        // TYPE.
        let opts = match ScanArgs::parse(&self.args[1..]) {
            Ok(o) if o.type_name.is_none() => o,
            Ok(_) => return Ok(errors::SYNTAX),
            Err(e) => return Ok(e),
        };
        let (next, items) = ks.zset_scan(self.key, self.cursor, opts.count)?;
        let mut out = Vec::with_capacity(items.len() * 2);
        for (m, s) in items {
            if let Some(p) = &opts.pattern {
                if !glob::matches(p, &m) {
                    continue;
                }
            }
            out.push(Reply::Bulk(m));
            out.push(Reply::Bulk(Bytes::from(format_double(s))));
        }
        Ok(scan_reply(next, out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scores_read_like_string2d() {
        assert_eq!(parse_score(b"1.5"), Some(1.5));
        assert_eq!(parse_score(b"-inf"), Some(f64::NEG_INFINITY));
        assert_eq!(parse_score(b"+Infinity"), Some(f64::INFINITY));
        assert_eq!(parse_score(b"0x10"), Some(16.0));
        assert_eq!(parse_score(b"0x1p-2"), Some(0.25));
        assert_eq!(parse_score(b".5"), Some(0.5));
        assert_eq!(parse_score(b"5."), Some(5.0));
        assert_eq!(parse_score(b"1e400"), None);
        assert_eq!(parse_score(b"1e-400"), None);
        assert_eq!(parse_score(b"0e-400"), Some(0.0));
        assert_eq!(parse_score(b"nan"), None);
        assert_eq!(parse_score(b" 1"), None);
        assert_eq!(parse_score(b"1 "), None);
        assert_eq!(parse_score(b""), None);
        assert_eq!(parse_score(b"abc"), None);
        assert_eq!(parse_score(b"0x"), None);
    }

    #[test]
    fn bounds_read_like_strtod() {
        assert_eq!(parse_bound_number(b""), Some(0.0));
        assert_eq!(parse_bound_number(b" 1"), Some(1.0));
        assert_eq!(parse_bound_number(b" "), None);
        assert_eq!(parse_bound_number(b"1e400"), Some(f64::INFINITY));
        assert_eq!(parse_bound_number(b"nan"), None);
        let r = ScoreRange::parse(b"(", b"(1").unwrap();
        assert_eq!((r.min, r.min_ex, r.max, r.max_ex), (0.0, true, 1.0, true));
    }

    proptest::proptest! {
        #[test]
        fn parsers_never_panic(b in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..40)) {
            let _ = parse_score(&b);
            let _ = parse_bound_number(&b);
            let _ = ScoreRange::parse(&b, &b);
            let _ = LexRange::parse(&Bytes::from(b.clone()), &Bytes::from(b));
        }

        #[test]
        fn printed_doubles_read_back(v in proptest::prelude::any::<f64>()) {
            proptest::prop_assume!(v.is_finite());
            for text in [format!("{v}"), format!("{v:e}"), format_double(v)] {
                proptest::prop_assert_eq!(parse_score(text.as_bytes()).map(f64::to_bits), Some(v.to_bits()));
                proptest::prop_assert_eq!(parse_bound_number(text.as_bytes()).map(f64::to_bits), Some(v.to_bits()));
            }
        }

        #[test]
        fn hex_floats_read_as_c_does(m in 0u32..0x100000, e in -40i32..40) {
            let text = format!("0x{m:x}p{e}");
            proptest::prop_assert_eq!(parse_score(text.as_bytes()), Some(m as f64 * 2f64.powi(e)));
        }
    }

    #[test]
    fn windows() {
        assert_eq!(rank_window(0, -1, 5, false), (0, 5));
        assert_eq!(rank_window(0, 0, 5, true), (4, 5));
        assert_eq!(rank_window(-2, -1, 5, true), (0, 2));
        assert_eq!(rank_window(3, 1, 5, false), (0, 0));
        assert_eq!(limit_window(2, 8, 1, 2, false), (3, 5));
        assert_eq!(limit_window(2, 8, 1, 2, true), (5, 7));
        assert_eq!(limit_window(2, 8, 0, -1, true), (2, 8));
        assert_eq!(limit_window(2, 8, -1, 3, false), (0, 0));
        assert_eq!(limit_window(2, 8, 6, 3, false), (0, 0));
    }
}
