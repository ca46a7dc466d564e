//! The hash commands (HSET, HGET, HDEL, HGETALL, HINCRBY, HRANDFIELD,
//! HSCAN …), and [`Hashes`]: what they need of a keyspace.
//!
//! Every command checks the key's type through its head
//! ([`Keyspace::read`] for a read, which counts a keyspace hit or miss as
//! Redis' `lookupKeyRead` does, [`Keyspace::lookup`] for a write), then
//! works on single fields through [`Hashes`]. Nothing here asks for the
//! whole structure except the commands that reply with all of it (HGETALL,
//! HKEYS, HVALS), which walk it as one scan.
//!
//! Error texts and the order of the checks are Redis 7.2's `t_hash.c`: an
//! argument that is parsed before the key is looked up (HINCRBY's
//! increment, HRANDFIELD's count, HSCAN's cursor) is refused even on a key
//! of another type; HSCAN's options are read only once the key is known to
//! be a hash, so `HSCAN missing 0 COUNT 0` is an empty scan, not an error.
//!
//! This file is longer than ~600 lines on purpose: it holds the whole hash
//! command group (16 commands: parsing, semantics and replies) and its unit
//! tests, one file a group as the other types have.

use bytes::Bytes;
use redynamo_layers::reply::errors;
use redynamo_layers::Reply;

use super::args::int_arg;
use super::keyspace::{Clock, Interrupt, Keyspace, Kind, Ks, WRONGTYPE};
use super::notify::class::HASH;
use super::notify::del_if_emptied;
use super::server::scan_reply;
use super::KeyCommand;
use crate::util::glob;
use crate::util::longdouble::LongDouble;
use crate::util::num::parse_i64;

/// The hash members of a keyspace. Every method defaults to
/// [`Interrupt::Unsupported`] for a backend that does not store hashes yet.
///
/// The caller has checked that `key` is absent or a hash (through its
/// head); an absent key is an empty hash. The operations are member-level
/// (one field, a count, a scan from a cursor), so that a store that keeps
/// one item per field (DynamoDB) reads only what a command needs.
pub trait Hashes {
    /// The value of `field`.
    fn hash_get(&mut self, key: &[u8], field: &[u8]) -> Ks<Option<Bytes>> {
        let _ = (key, field);
        unsupported()
    }

    /// The length of the value of `field` (HSTRLEN, HEXISTS): None when
    /// the field is absent.
    fn hash_value_len(&mut self, key: &[u8], field: &[u8]) -> Ks<Option<usize>> {
        let _ = (key, field);
        unsupported()
    }

    /// How many fields the hash has (0 when absent).
    fn hash_len(&mut self, key: &[u8]) -> Ks<usize> {
        let _ = key;
        unsupported()
    }

    /// Set `field` to `value`, creating the hash (without deadline) when
    /// absent. True when the field is new. Marks the key modified.
    fn hash_set(&mut self, key: &[u8], field: &[u8], value: &[u8]) -> Ks<bool> {
        let _ = (key, field, value);
        unsupported()
    }

    /// Delete `field`; whether it existed. The hash is deleted with its
    /// last field. Marks the key modified when a field went.
    fn hash_delete(&mut self, key: &[u8], field: &[u8]) -> Ks<bool> {
        let _ = (key, field);
        unsupported()
    }

    /// Visit the fields from `cursor` (0: the start) on, at least `count`
    /// of them unless the hash ends first, and return the cursor to go on
    /// from (0: the scan is complete). With SCAN's guarantee: a field that
    /// exists for the whole scan is visited at least once. A hash in the
    /// small encoding is visited whole, in insertion order, whatever the
    /// cursor and count (what Redis does with a listpack); `count ==
    /// usize::MAX` from cursor 0 visits every field in the order HGETALL
    /// replies with.
    fn hash_scan(
        &mut self,
        key: &[u8],
        cursor: u64,
        count: usize,
        visit: &mut dyn FnMut(&[u8], &[u8]),
    ) -> Ks<u64> {
        let _ = (key, cursor, count, visit);
        unsupported()
    }

    /// Visit `count` fields drawn at random: independently (repeats
    /// allowed, any order) when `distinct` is false; otherwise
    /// `min(count, len)` different fields, in the hash's order.
    fn hash_random(
        &mut self,
        key: &[u8],
        count: usize,
        distinct: bool,
        visit: &mut dyn FnMut(&[u8], &[u8]),
    ) -> Ks<()> {
        let _ = (key, count, distinct, visit);
        unsupported()
    }
}

fn unsupported<T>() -> Ks<T> {
    Err(Interrupt::Unsupported(Kind::Hash))
}

/// The type check of a hash command: `Ok(true)` when `key` is a hash,
/// `Ok(false)` when absent, the WRONGTYPE reply otherwise. `read` counts
/// a keyspace hit or miss (a read command), `lookup` does not (a write).
fn is_hash<K: Keyspace>(ks: &mut K, key: &[u8], read: bool) -> Ks<Result<bool, Reply>> {
    let head = if read { ks.read(key)? } else { ks.lookup(key)? };
    Ok(match head {
        None => Ok(false),
        Some(h) if h.kind == Kind::Hash => Ok(true),
        Some(_) => Err(WRONGTYPE),
    })
}

/// Return the reply of a failed type check, or the check's value.
macro_rules! hash_or_reply {
    ($check:expr) => {
        match $check? {
            Ok(found) => found,
            Err(reply) => return Ok(reply),
        }
    };
}

/// `HSET key field value [field value ...]` and the deprecated HMSET,
/// which replies OK instead of the count of new fields.
pub struct HSet<'a> {
    key: &'a [u8],
    pairs: &'a [Bytes],
    ok_reply: bool,
}

impl<'a> HSet<'a> {
    fn parse_named(a: &'a [Bytes], name: &str, ok_reply: bool) -> Result<Self, Reply> {
        // The table's arity is only a minimum: the pairs must be whole.
        if a.len() % 2 == 1 {
            return Err(redynamo_layers::command::wrong_arity(name));
        }
        Ok(HSet {
            key: &a[1],
            pairs: &a[2..],
            ok_reply,
        })
    }

    fn run<K: Keyspace>(self, ks: &mut K) -> Ks<Reply> {
        hash_or_reply!(is_hash(ks, self.key, false));
        let mut created = 0;
        for pair in self.pairs.chunks(2) {
            created += i64::from(ks.hash_set(self.key, &pair[0], &pair[1])?);
        }
        ks.notify(HASH, "hset", self.key);
        Ok(if self.ok_reply {
            Reply::ok()
        } else {
            Reply::Integer(created)
        })
    }
}

/// HSET: a [`HSet`] that replies with the count of new fields.
pub struct HSetCmd<'a>(HSet<'a>);
/// HMSET: a [`HSet`] that replies OK.
pub struct HMSet<'a>(HSet<'a>);

impl<'a> KeyCommand<'a> for HSetCmd<'a> {
    fn parse(a: &'a [Bytes], _: &mut impl Clock) -> Result<Self, Reply> {
        HSet::parse_named(a, "hset", false).map(HSetCmd)
    }
    fn apply<K: Keyspace>(self, ks: &mut K) -> Ks<Reply> {
        self.0.run(ks)
    }
}

impl<'a> KeyCommand<'a> for HMSet<'a> {
    fn parse(a: &'a [Bytes], _: &mut impl Clock) -> Result<Self, Reply> {
        HSet::parse_named(a, "hmset", true).map(HMSet)
    }
    fn apply<K: Keyspace>(self, ks: &mut K) -> Ks<Reply> {
        self.0.run(ks)
    }
}

/// `HSETNX key field value`.
pub struct HSetNx<'a> {
    key: &'a [u8],
    field: &'a [u8],
    value: &'a [u8],
}

impl<'a> KeyCommand<'a> for HSetNx<'a> {
    fn parse(a: &'a [Bytes], _: &mut impl Clock) -> Result<Self, Reply> {
        Ok(HSetNx {
            key: &a[1],
            field: &a[2],
            value: &a[3],
        })
    }
    fn apply<K: Keyspace>(self, ks: &mut K) -> Ks<Reply> {
        let found = hash_or_reply!(is_hash(ks, self.key, false));
        if found && ks.hash_value_len(self.key, self.field)?.is_some() {
            return Ok(Reply::Integer(0));
        }
        ks.hash_set(self.key, self.field, self.value)?;
        ks.notify(HASH, "hset", self.key);
        Ok(Reply::Integer(1))
    }
}

/// `HGET key field`.
pub struct HGet<'a> {
    key: &'a [u8],
    field: &'a [u8],
}

impl<'a> KeyCommand<'a> for HGet<'a> {
    fn parse(a: &'a [Bytes], _: &mut impl Clock) -> Result<Self, Reply> {
        Ok(HGet {
            key: &a[1],
            field: &a[2],
        })
    }
    fn apply<K: Keyspace>(self, ks: &mut K) -> Ks<Reply> {
        if !hash_or_reply!(is_hash(ks, self.key, true)) {
            return Ok(Reply::Null);
        }
        Ok(ks
            .hash_get(self.key, self.field)?
            .map_or(Reply::Null, Reply::Bulk))
    }
}

/// `HMGET key field [field ...]`: a missing key is an empty hash.
pub struct HMGet<'a> {
    key: &'a [u8],
    fields: &'a [Bytes],
}

impl<'a> KeyCommand<'a> for HMGet<'a> {
    fn parse(a: &'a [Bytes], _: &mut impl Clock) -> Result<Self, Reply> {
        Ok(HMGet {
            key: &a[1],
            fields: &a[2..],
        })
    }
    fn apply<K: Keyspace>(self, ks: &mut K) -> Ks<Reply> {
        let found = hash_or_reply!(is_hash(ks, self.key, true));
        let mut out = Vec::with_capacity(self.fields.len());
        for field in self.fields {
            out.push(if found {
                ks.hash_get(self.key, field)?
                    .map_or(Reply::Null, Reply::Bulk)
            } else {
                Reply::Null
            });
        }
        Ok(Reply::Array(out))
    }
}

/// `HDEL key field [field ...]`.
pub struct HDel<'a> {
    key: &'a [u8],
    fields: &'a [Bytes],
}

impl<'a> KeyCommand<'a> for HDel<'a> {
    fn parse(a: &'a [Bytes], _: &mut impl Clock) -> Result<Self, Reply> {
        Ok(HDel {
            key: &a[1],
            fields: &a[2..],
        })
    }
    fn apply<K: Keyspace>(self, ks: &mut K) -> Ks<Reply> {
        if !hash_or_reply!(is_hash(ks, self.key, false)) {
            return Ok(Reply::Integer(0));
        }
        let mut deleted = 0;
        for field in self.fields {
            deleted += i64::from(ks.hash_delete(self.key, field)?);
        }
        if deleted > 0 {
            ks.notify(HASH, "hdel", self.key);
            del_if_emptied(ks, self.key)?;
        }
        Ok(Reply::Integer(deleted))
    }
}

/// What HLEN, HSTRLEN and HEXISTS count.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HashCount {
    /// HLEN: the fields.
    Fields,
    /// HSTRLEN: the bytes of one field's value.
    ValueLen,
    /// HEXISTS: whether one field exists.
    Exists,
}

/// `HLEN key`, `HSTRLEN key field`, `HEXISTS key field`: an integer, 0
/// for a missing key.
pub struct HCount<'a> {
    key: &'a [u8],
    field: &'a [u8],
    what: HashCount,
}

impl<'a> HCount<'a> {
    pub fn new(a: &'a [Bytes], what: HashCount) -> HCount<'a> {
        HCount {
            key: &a[1],
            field: a.get(2).map_or(&[][..], |f| &f[..]),
            what,
        }
    }

    pub fn apply<K: Keyspace>(self, ks: &mut K) -> Ks<Reply> {
        if !hash_or_reply!(is_hash(ks, self.key, true)) {
            return Ok(Reply::Integer(0));
        }
        let n = match self.what {
            HashCount::Fields => ks.hash_len(self.key)?,
            HashCount::ValueLen => ks.hash_value_len(self.key, self.field)?.unwrap_or(0),
            HashCount::Exists => usize::from(ks.hash_value_len(self.key, self.field)?.is_some()),
        };
        Ok(Reply::Integer(n as i64))
    }
}

/// What HKEYS, HVALS and HGETALL reply with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HashPart {
    Fields,
    Values,
    /// A map of field to value (a flat array in RESP2).
    Both,
}

/// `HKEYS key`, `HVALS key`, `HGETALL key`: every field, in insertion
/// order for a small hash (as Redis' listpack), in the table's order for a
/// large one.
pub struct HGetAll<'a> {
    key: &'a [u8],
    part: HashPart,
}

impl<'a> HGetAll<'a> {
    pub fn new(a: &'a [Bytes], part: HashPart) -> HGetAll<'a> {
        HGetAll { key: &a[1], part }
    }

    pub fn apply<K: Keyspace>(self, ks: &mut K) -> Ks<Reply> {
        let found = hash_or_reply!(is_hash(ks, self.key, true));
        let mut items = Vec::new();
        let mut pairs = Vec::new();
        if found {
            let part = self.part;
            ks.hash_scan(self.key, 0, usize::MAX, &mut |f, v| match part {
                HashPart::Fields => items.push(Reply::bulk(f)),
                HashPart::Values => items.push(Reply::bulk(v)),
                HashPart::Both => pairs.push((Reply::bulk(f), Reply::bulk(v))),
            })?;
        }
        Ok(match self.part {
            HashPart::Both => Reply::Map(pairs),
            _ => Reply::Array(items),
        })
    }
}

/// `HINCRBY key field increment`.
pub struct HIncrBy<'a> {
    key: &'a [u8],
    field: &'a [u8],
    by: i64,
}

impl<'a> KeyCommand<'a> for HIncrBy<'a> {
    fn parse(a: &'a [Bytes], _: &mut impl Clock) -> Result<Self, Reply> {
        Ok(HIncrBy {
            key: &a[1],
            field: &a[2],
            by: int_arg(&a[3])?,
        })
    }
    fn apply<K: Keyspace>(self, ks: &mut K) -> Ks<Reply> {
        let found = hash_or_reply!(is_hash(ks, self.key, false));
        let current = match found {
            true => ks.hash_get(self.key, self.field)?,
            false => None,
        };
        let current = match current {
            None => 0,
            Some(v) => match parse_i64(&v) {
                Some(n) => n,
                None => {
                    return Ok(Reply::static_error("ERR hash value is not an integer"));
                }
            },
        };
        let Some(next) = current.checked_add(self.by) else {
            return Ok(errors::OVERFLOW);
        };
        let mut buf = itoa::Buffer::new();
        ks.hash_set(self.key, self.field, buf.format(next).as_bytes())?;
        ks.notify(HASH, "hincrby", self.key);
        Ok(Reply::Integer(next))
    }
}

/// `HINCRBYFLOAT key field increment`: Redis' `long double` sum, printed
/// as INCRBYFLOAT prints it (`util::longdouble`).
pub struct HIncrByFloat<'a> {
    key: &'a [u8],
    field: &'a [u8],
    by: LongDouble,
}

impl<'a> KeyCommand<'a> for HIncrByFloat<'a> {
    fn parse(a: &'a [Bytes], _: &mut impl Clock) -> Result<Self, Reply> {
        let by = LongDouble::parse(&a[3]).ok_or(errors::NOT_FLOAT)?;
        // Redis 7.2 refuses an infinite increment before it looks the key
        // up (7.0 created the key first and then refused the sum).
        if !by.is_finite() {
            return Err(Reply::static_error("ERR value is NaN or Infinity"));
        }
        Ok(HIncrByFloat {
            key: &a[1],
            field: &a[2],
            by,
        })
    }
    fn apply<K: Keyspace>(self, ks: &mut K) -> Ks<Reply> {
        let found = hash_or_reply!(is_hash(ks, self.key, false));
        let current = match found {
            true => ks.hash_get(self.key, self.field)?,
            false => None,
        };
        let current = match current {
            None => LongDouble::ZERO,
            Some(v) => match LongDouble::parse(&v) {
                Some(n) => n,
                None => return Ok(Reply::static_error("ERR hash value is not a float")),
            },
        };
        let sum = match current.checked_add(self.by) {
            Some(sum) if sum.is_finite() => sum,
            _ => {
                return Ok(Reply::static_error(
                    "ERR increment would produce NaN or Infinity",
                ))
            }
        };
        let text = sum.to_human_string();
        ks.hash_set(self.key, self.field, text.as_bytes())?;
        ks.notify(HASH, "hincrbyfloat", self.key);
        Ok(Reply::Bulk(Bytes::from(text)))
    }
}

/// The most fields a negative HRANDFIELD count may ask for. Redis streams
/// `-count` picks into the client's output buffer until memory runs out
/// (`HRANDFIELD h -9223372036854775807` never ends); redynamo builds a
/// reply before sending it, so it refuses a reply this big instead.
pub const MAX_RANDOM_REPEATS: usize = 10_000_000;

/// `HRANDFIELD key [count [WITHVALUES]]`.
pub struct HRandField<'a> {
    key: &'a [u8],
    /// None: no count, a single field (or nil) as the reply.
    count: Option<i64>,
    with_values: bool,
}

impl<'a> KeyCommand<'a> for HRandField<'a> {
    fn parse(a: &'a [Bytes], _: &mut impl Clock) -> Result<Self, Reply> {
        let mut cmd = HRandField {
            key: &a[1],
            count: None,
            with_values: false,
        };
        if a.len() < 3 {
            return Ok(cmd);
        }
        // Redis reads the count as a C `long` within ±LONG_MAX (so that
        // negating it cannot overflow), then the option, then, with
        // WITHVALUES, a range that doubling cannot overflow.
        let count = int_arg(&a[2])?;
        if count == i64::MIN {
            return Err(Reply::static_error(
                "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807",
            ));
        }
        if a.len() > 4 || (a.len() == 4 && !a[3].eq_ignore_ascii_case(b"withvalues")) {
            return Err(errors::SYNTAX);
        }
        if a.len() == 4 {
            if !(-(i64::MAX / 2)..=i64::MAX / 2).contains(&count) {
                return Err(Reply::static_error("ERR value is out of range"));
            }
            cmd.with_values = true;
        }
        cmd.count = Some(count);
        Ok(cmd)
    }

    fn apply<K: Keyspace>(self, ks: &mut K) -> Ks<Reply> {
        let found = hash_or_reply!(is_hash(ks, self.key, true));
        let Some(count) = self.count else {
            if !found {
                return Ok(Reply::Null);
            }
            let mut picked = Reply::Null;
            ks.hash_random(self.key, 1, false, &mut |f, _| picked = Reply::bulk(f))?;
            return Ok(picked);
        };
        let distinct = count >= 0;
        let count = count.unsigned_abs() as usize;
        if found && !distinct && count > MAX_RANDOM_REPEATS {
            return Ok(Reply::static_error(
                "ERR value is out of range (redynamo answers at most 10000000 repeated fields)",
            ));
        }
        let mut fields = Vec::new();
        let mut pairs = Vec::new();
        if found && count > 0 {
            let with_values = self.with_values;
            ks.hash_random(self.key, count, distinct, &mut |f, v| {
                if with_values {
                    pairs.push((Reply::bulk(f), Reply::bulk(v)));
                } else {
                    fields.push(Reply::bulk(f));
                }
            })?;
        }
        Ok(if self.with_values {
            Reply::Pairs(pairs)
        } else {
            Reply::Array(fields)
        })
    }
}

/// `HSCAN key cursor [MATCH pattern] [COUNT count]`.
pub struct HScan<'a> {
    key: &'a [u8],
    cursor: u64,
    /// The options, read only once the key is known to be a hash.
    options: &'a [Bytes],
}

impl<'a> KeyCommand<'a> for HScan<'a> {
    fn parse(a: &'a [Bytes], _: &mut impl Clock) -> Result<Self, Reply> {
        Ok(HScan {
            key: &a[1],
            cursor: parse_cursor(&a[2]).ok_or(Reply::static_error("ERR invalid cursor"))?,
            options: &a[3..],
        })
    }

    fn apply<K: Keyspace>(self, ks: &mut K) -> Ks<Reply> {
        if !hash_or_reply!(is_hash(ks, self.key, true)) {
            return Ok(scan_reply(0, Vec::new()));
        }
        let (pattern, count) = match scan_options(self.options) {
            Ok(options) => options,
            Err(e) => return Ok(e),
        };
        let mut found = Vec::new();
        let next = ks.hash_scan(self.key, self.cursor, count, &mut |f, v| {
            if pattern.is_none_or(|p| glob::matches(p, f)) {
                found.push(Reply::bulk(f));
                found.push(Reply::bulk(v));
            }
        })?;
        Ok(scan_reply(next, found))
    }
}

/// HSCAN's `[MATCH pattern] [COUNT count]`, read left to right as Redis'
/// `scanGenericCommand` reads them (TYPE belongs to SCAN alone): the
/// pattern (None for `*`, which matches everything) and the count.
fn scan_options(options: &[Bytes]) -> Result<(Option<&[u8]>, usize), Reply> {
    let mut pattern = None;
    let mut count = 10;
    let mut i = 0;
    while i < options.len() {
        let Some(value) = options.get(i + 1) else {
            return Err(errors::SYNTAX);
        };
        if options[i].eq_ignore_ascii_case(b"count") {
            let n = int_arg(value)?;
            if n < 1 {
                return Err(errors::SYNTAX);
            }
            count = n as usize;
        } else if options[i].eq_ignore_ascii_case(b"match") {
            pattern = (value.as_ref() != b"*").then_some(&value[..]);
        } else {
            return Err(errors::SYNTAX);
        }
        i += 2;
    }
    Ok((pattern, count))
}

/// A SCAN-family cursor as Redis' `parseScanCursorOrReply` reads it: C's
/// `strtoul` in base 10 (an optional sign, where `-n` wraps around, and no
/// digits at all reads as 0 when nothing follows), refusing a leading
/// space, trailing bytes and overflow.
pub fn parse_cursor(text: &[u8]) -> Option<u64> {
    let (negative, digits) = match text.first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    if digits.is_empty() {
        // `strtoul` read nothing: the end pointer is the start, which is
        // the end of the string only when the string is empty.
        return text.is_empty().then_some(0);
    }
    let mut n: u64 = 0;
    for &b in digits {
        if !b.is_ascii_digit() {
            return None;
        }
        n = n.checked_mul(10)?.checked_add(u64::from(b - b'0'))?;
    }
    Some(if negative { n.wrapping_neg() } else { n })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_as_strtoul_reads_them() {
        assert_eq!(parse_cursor(b"0"), Some(0));
        assert_eq!(parse_cursor(b""), Some(0));
        assert_eq!(parse_cursor(b"+7"), Some(7));
        assert_eq!(parse_cursor(b"-1"), Some(u64::MAX));
        assert_eq!(parse_cursor(b"18446744073709551615"), Some(u64::MAX));
        assert_eq!(parse_cursor(b"18446744073709551616"), None);
        assert_eq!(parse_cursor(b" 1"), None);
        assert_eq!(parse_cursor(b"1 "), None);
        assert_eq!(parse_cursor(b"-"), None);
        assert_eq!(parse_cursor(b"0x10"), None);
    }

    proptest::proptest! {
        #[test]
        fn any_cursor_bytes_parse_without_panic(text in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..30)) {
            let parsed = parse_cursor(&text);
            if !text.is_empty() && text.iter().all(u8::is_ascii_digit) {
                let decimal = std::str::from_utf8(&text).unwrap().parse::<u64>().ok();
                proptest::prop_assert_eq!(parsed, decimal);
            }
        }

        #[test]
        fn every_cursor_round_trips(n in proptest::prelude::any::<u64>()) {
            proptest::prop_assert_eq!(parse_cursor(n.to_string().as_bytes()), Some(n));
            proptest::prop_assert_eq!(parse_cursor(format!("+{n}").as_bytes()), Some(n));
            proptest::prop_assert_eq!(
                parse_cursor(format!("-{n}").as_bytes()),
                Some(n.wrapping_neg())
            );
        }
    }

    #[test]
    fn scan_options_in_redis_order() {
        let b = |s: &[&str]| -> Vec<Bytes> {
            s.iter()
                .map(|p| Bytes::copy_from_slice(p.as_bytes()))
                .collect()
        };
        assert_eq!(scan_options(&[]), Ok((None, 10)));
        let opts = b(&["match", "a*", "count", "5"]);
        assert_eq!(scan_options(&opts), Ok((Some(&b"a*"[..]), 5)));
        assert_eq!(scan_options(&b(&["match", "*"])), Ok((None, 10)));
        assert_eq!(scan_options(&b(&["count", "0"])), Err(errors::SYNTAX));
        assert_eq!(
            scan_options(&b(&["count", "x", "foo"])),
            Err(errors::NOT_INTEGER)
        );
        assert_eq!(scan_options(&b(&["type", "hash"])), Err(errors::SYNTAX));
        assert_eq!(scan_options(&b(&["match"])), Err(errors::SYNTAX));
    }
}
