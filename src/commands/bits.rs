//! The bit commands on strings (SETBIT, GETBIT, BITCOUNT, BITPOS, BITOP,
//! BITFIELD, BITFIELD_RO) and LCS.
//!
//! A string is a bitmap whose bit 0 is the most significant bit of its
//! first byte, as in Redis' `bitops.c`; every read treats the bits past
//! the end as zeros. The commands only use the keyspace's string
//! operations, so they run on every backend. Writes go through
//! [`Keyspace::modify_string`], which the memory store does in place: a
//! SETBIT within a large string changes one byte, not a copy of the value.
//!
//! The rules follow Redis 7.2 where they are easy to get wrong:
//!
//! - Argument errors come before the key is read, except for BITCOUNT and
//!   BITPOS, which in 7.2 read the key first: a missing key answers 0 (or
//!   -1 for `BITPOS key 1`) whatever the range arguments say, and
//!   WRONGTYPE beats a bad range (Redis 8 changed this, redis#11734).
//! - A write that changes nothing (SETBIT of a bit already so, a
//!   BITFIELD whose writes all store the old value or fail with OVERFLOW
//!   FAIL) writes nothing unless it created or grew the string, as Redis
//!   signals no modification then (WATCH stays clean). One difference:
//!   a BITFIELD that creates or grows the key while every write fails
//!   under OVERFLOW FAIL keeps the new bytes, as in Redis, and counts as
//!   a change here (Redis adds them without signalling).
//! - Bit offsets are limited by proto-max-bulk-len
//!   ([`Keyspace::max_string_len`]): `offset / 8` must be below it.
//! - BITFIELD's overflow arithmetic is Redis' `checkSignedBitfieldOverflow`
//!   and `checkUnsignedBitfieldOverflow` in wrapping 64-bit arithmetic,
//!   quirks included (`OVERFLOW SAT SET i8 0 -9223372036854775808` is
//!   127, as in Redis).
//!
//! Parsing needs the length limit, which only the keyspace knows, so these
//! commands keep their arguments in `parse` and read them in `apply`, in
//! Redis' order.
//!
//! This file is longer than ~600 lines on purpose: it holds the whole bit
//! command group (SETBIT … BITFIELD, LCS) with Redis' argument rules and
//! its unit tests, one file a group; BITFIELD alone is a third of it.

use bytes::Bytes;
use redynamo_layers::reply::errors;
use redynamo_layers::Reply;

use super::args::int_arg;
use super::keyspace::{Clock, Keyspace, Kind, Ks};
use super::notify::class::{GENERIC, STRING};
use super::KeyCommand;
use crate::util::num::parse_i64;

const BIT_OFFSET: Reply = Reply::static_error("ERR bit offset is not an integer or out of range");
const BIT_VALUE: Reply = Reply::static_error("ERR bit is not an integer or out of range");
const BIT_ARGUMENT: Reply = Reply::static_error("ERR The bit argument must be 1 or 0.");
const BITFIELD_TYPE: Reply = Reply::static_error(
    "ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is.",
);

fn eq(arg: &[u8], word: &str) -> bool {
    arg.eq_ignore_ascii_case(word.as_bytes())
}

/// Redis' `getBitOffsetFromArgument`: a non-negative integer whose byte is
/// below `max_len`. With `hash_bits`, `#n` means `n * bits` (BITFIELD),
/// multiplied as C does (wrapping; a wrapped negative is refused).
fn bit_offset(arg: &[u8], hash_bits: Option<u32>, max_len: usize) -> Result<u64, Reply> {
    let (digits, scale) = match (arg.first(), hash_bits) {
        (Some(b'#'), Some(bits)) => (&arg[1..], i64::from(bits)),
        _ => (arg, 1),
    };
    let n = parse_i64(digits).ok_or(BIT_OFFSET)?.wrapping_mul(scale);
    if n < 0 || (n >> 3) as u64 >= max_len as u64 {
        return Err(BIT_OFFSET);
    }
    Ok(n as u64)
}

/// The byte holding bit `offset` and the bit's mask within it.
fn bit_at(offset: u64) -> (usize, u8) {
    ((offset >> 3) as usize, 0x80 >> (offset & 7))
}

/// The value of bit `offset` of `v`, zero past its end.
fn get_bit(v: &[u8], offset: u64) -> bool {
    let (byte, mask) = bit_at(offset);
    v.get(byte).is_some_and(|b| b & mask != 0)
}

/// `SETBIT key offset value`.
pub struct SetBit<'a> {
    args: &'a [Bytes],
}

impl<'a> KeyCommand<'a> for SetBit<'a> {
    fn parse(args: &'a [Bytes], _: &mut impl Clock) -> Result<Self, Reply> {
        Ok(SetBit { args })
    }

    fn apply<K: Keyspace>(self, ks: &mut K) -> Ks<Reply> {
        let key = &self.args[1][..];
        let offset = match bit_offset(&self.args[2], None, ks.max_string_len()) {
            Ok(offset) => offset,
            Err(e) => return Ok(e),
        };
        let on = match parse_i64(&self.args[3]) {
            Some(0) => false,
            Some(1) => true,
            _ => return Ok(BIT_VALUE),
        };
        if let Some(head) = ks.lookup(key)? {
            if let Err(e) = head.expect(Kind::String) {
                return Ok(e);
            }
        }
        let (byte, mask) = bit_at(offset);
        let mut was = false;
        ks.modify_string(key, byte + 1, |v| {
            was = v[byte] & mask != 0;
            if on {
                v[byte] |= mask;
            } else {
                v[byte] &= !mask;
            }
            was != on
        })?;
        ks.notify(STRING, "setbit", key);
        Ok(Reply::Integer(i64::from(was)))
    }
}

/// `GETBIT key offset`.
pub struct GetBit<'a> {
    args: &'a [Bytes],
}

impl<'a> KeyCommand<'a> for GetBit<'a> {
    fn parse(args: &'a [Bytes], _: &mut impl Clock) -> Result<Self, Reply> {
        Ok(GetBit { args })
    }

    fn apply<K: Keyspace>(self, ks: &mut K) -> Ks<Reply> {
        let offset = match bit_offset(&self.args[2], None, ks.max_string_len()) {
            Ok(offset) => offset,
            Err(e) => return Ok(e),
        };
        Ok(match ks.read(&self.args[1])? {
            None => Reply::Integer(0),
            Some(head) => match head.string() {
                Ok(v) => Reply::Integer(i64::from(get_bit(v, offset))),
                Err(e) => e,
            },
        })
    }
}

/// The unit of a BITCOUNT or BITPOS range.
fn range_unit(arg: &[u8]) -> Result<bool, Reply> {
    if eq(arg, "bit") {
        Ok(true)
    } else if eq(arg, "byte") {
        Ok(false)
    } else {
        Err(errors::SYNTAX)
    }
}

/// Redis' index arithmetic for BITCOUNT and BITPOS: `start` and `end` (in
/// bits when `in_bits`, else bytes; negative from the end) over a string
/// of `len` bytes, as the inclusive bit range they cover; None when empty.
fn bit_range(start: i64, end: i64, len: usize, in_bits: bool) -> Option<(u64, u64)> {
    let total = if in_bits {
        (len as i64) << 3
    } else {
        len as i64
    };
    let mut start = if start < 0 {
        total.saturating_add(start)
    } else {
        start
    };
    let mut end = if end < 0 {
        total.saturating_add(end)
    } else {
        end
    };
    start = start.max(0);
    end = end.max(0);
    if end >= total {
        end = total - 1;
    }
    if start > end {
        return None;
    }
    let (start, end) = (start as u64, end as u64);
    Some(if in_bits {
        (start, end)
    } else {
        (start << 3, (end << 3) | 7)
    })
}

/// Bits set in `v`, eight bytes at a time.
fn popcount(v: &[u8]) -> u64 {
    let mut chunks = v.chunks_exact(8);
    let mut n: u64 = 0;
    for c in &mut chunks {
        let mut w = [0u8; 8];
        w.copy_from_slice(c);
        n += u64::from(u64::from_ne_bytes(w).count_ones());
    }
    n + chunks
        .remainder()
        .iter()
        .map(|b| u64::from(b.count_ones()))
        .sum::<u64>()
}

/// The mask of bits `lo..=hi` of a byte, bit 0 being the most significant.
fn byte_mask(lo: u64, hi: u64) -> u8 {
    (0xff >> lo) & (0xff << (7 - hi))
}

/// Bits set in the inclusive bit range `[from, to]` of `v` (within it).
fn count_bits(v: &[u8], from: u64, to: u64) -> u64 {
    let (first, last) = ((from >> 3) as usize, (to >> 3) as usize);
    if first == last {
        return u64::from((v[first] & byte_mask(from & 7, to & 7)).count_ones());
    }
    u64::from((v[first] & byte_mask(from & 7, 7)).count_ones())
        + popcount(&v[first + 1..last])
        + u64::from((v[last] & byte_mask(0, to & 7)).count_ones())
}

/// The first bit equal to `bit` in the inclusive bit range `[from, to]` of
/// `v` (within it).
fn find_bit(v: &[u8], from: u64, to: u64, bit: bool) -> Option<u64> {
    let (first, last) = ((from >> 3) as usize, (to >> 3) as usize);
    // Bits equal to `bit` in byte `i`, restricted to the range.
    let hits = |i: usize| {
        let b = if bit { v[i] } else { !v[i] };
        let lo = if i == first { from & 7 } else { 0 };
        let hi = if i == last { to & 7 } else { 7 };
        b & byte_mask(lo, hi)
    };
    let found = |i: usize, h: u8| Some(((i as u64) << 3) + u64::from(h.leading_zeros()));
    let h = hits(first);
    if h != 0 || first == last {
        return if h != 0 { found(first, h) } else { None };
    }
    // Whole bytes in between: skip those with nothing to find, a word at a
    // time.
    let skip = if bit { 0u8 } else { 0xff };
    let middle = &v[first + 1..last];
    let word = u64::from_ne_bytes([skip; 8]);
    let mut at = 0;
    for c in middle.chunks_exact(8) {
        let mut w = [0u8; 8];
        w.copy_from_slice(c);
        if u64::from_ne_bytes(w) != word {
            break;
        }
        at += 8;
    }
    if let Some(p) = middle[at..].iter().position(|&b| b != skip) {
        let i = first + 1 + at + p;
        return found(i, hits(i));
    }
    let h = hits(last);
    if h != 0 {
        found(last, h)
    } else {
        None
    }
}

/// `BITCOUNT key [start end [BYTE | BIT]]`.
pub struct BitCount<'a> {
    args: &'a [Bytes],
}

impl<'a> KeyCommand<'a> for BitCount<'a> {
    fn parse(args: &'a [Bytes], _: &mut impl Clock) -> Result<Self, Reply> {
        Ok(BitCount { args })
    }

    fn apply<K: Keyspace>(self, ks: &mut K) -> Ks<Reply> {
        let a = self.args;
        let v = match ks.read(&a[1])? {
            None => return Ok(Reply::Integer(0)),
            Some(head) => match head.string() {
                Ok(v) => v,
                Err(e) => return Ok(e),
            },
        };
        Ok(match bitcount(a, v) {
            Ok(n) => Reply::Integer(n as i64),
            Err(e) => e,
        })
    }
}

fn bitcount(a: &[Bytes], v: &[u8]) -> Result<u64, Reply> {
    let range = match a.len() {
        2 => bit_range(0, -1, v.len(), false),
        4 | 5 => {
            let start = int_arg(&a[2])?;
            let end = int_arg(&a[3])?;
            // Redis answers this case before it reads the unit.
            if start < 0 && end < 0 && start > end {
                return Ok(0);
            }
            let in_bits = match a.get(4) {
                Some(unit) => range_unit(unit)?,
                None => false,
            };
            bit_range(start, end, v.len(), in_bits)
        }
        _ => return Err(errors::SYNTAX),
    };
    Ok(range.map_or(0, |(from, to)| count_bits(v, from, to)))
}

/// `BITPOS key bit [start [end [BYTE | BIT]]]`.
pub struct BitPos<'a> {
    args: &'a [Bytes],
}

impl<'a> KeyCommand<'a> for BitPos<'a> {
    fn parse(args: &'a [Bytes], _: &mut impl Clock) -> Result<Self, Reply> {
        Ok(BitPos { args })
    }

    fn apply<K: Keyspace>(self, ks: &mut K) -> Ks<Reply> {
        let a = self.args;
        let bit = match int_arg(&a[2]) {
            Ok(0) => false,
            Ok(1) => true,
            Ok(_) => return Ok(BIT_ARGUMENT),
            Err(e) => return Ok(e),
        };
        // A missing key is an endless run of zeros.
        let v = match ks.read(&a[1])? {
            None => return Ok(Reply::Integer(if bit { -1 } else { 0 })),
            Some(head) => match head.string() {
                Ok(v) => v,
                Err(e) => return Ok(e),
            },
        };
        Ok(match bitpos(a, v, bit) {
            Ok(n) => Reply::Integer(n),
            Err(e) => e,
        })
    }
}

fn bitpos(a: &[Bytes], v: &[u8], bit: bool) -> Result<i64, Reply> {
    let (range, end_given) = match a.len() {
        3 => (bit_range(0, -1, v.len(), false), false),
        4..=6 => {
            let start = int_arg(&a[3])?;
            let in_bits = match a.get(5) {
                Some(unit) => range_unit(unit)?,
                None => false,
            };
            match a.get(4) {
                Some(end) => (bit_range(start, int_arg(end)?, v.len(), in_bits), true),
                None => (bit_range(start, -1, v.len(), false), false),
            }
        }
        _ => return Err(errors::SYNTAX),
    };
    let Some((from, to)) = range else {
        return Ok(-1);
    };
    Ok(match find_bit(v, from, to, bit) {
        Some(pos) => pos as i64,
        // Looking for a clear bit without an explicit end, the string
        // counts as padded with zeros on the right: the first bit past
        // the range is the answer.
        None if !bit && !end_given => (to + 1) as i64,
        None => -1,
    })
}

/// BITOP's operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum BitOp {
    And,
    Or,
    Xor,
    Not,
}

/// `BITOP <AND | OR | XOR | NOT> destkey key [key ...]`.
pub struct BitOpCommand<'a> {
    args: &'a [Bytes],
}

impl<'a> KeyCommand<'a> for BitOpCommand<'a> {
    fn parse(args: &'a [Bytes], _: &mut impl Clock) -> Result<Self, Reply> {
        Ok(BitOpCommand { args })
    }

    fn apply<K: Keyspace>(self, ks: &mut K) -> Ks<Reply> {
        let a = self.args;
        let op = match &a[1][..] {
            o if eq(o, "and") => BitOp::And,
            o if eq(o, "or") => BitOp::Or,
            o if eq(o, "xor") => BitOp::Xor,
            o if eq(o, "not") => BitOp::Not,
            _ => return Ok(errors::SYNTAX),
        };
        if op == BitOp::Not && a.len() != 4 {
            return Ok(Reply::static_error(
                "ERR BITOP NOT must be called with a single source key.",
            ));
        }
        // The sources folded one at a time into the result, each padded
        // with zeros to the longest: that is Redis' byte-wise operation
        // over all of them, with one copy (the result) held at a time.
        let mut result: Vec<u8> = Vec::new();
        for (i, key) in a[3..].iter().enumerate() {
            let src = match ks.read(key)? {
                None => &[][..],
                Some(head) => match head.string() {
                    Ok(v) => v,
                    Err(e) => return Ok(e),
                },
            };
            if i == 0 {
                result.extend_from_slice(src);
                if op == BitOp::Not {
                    result.iter_mut().for_each(|b| *b = !*b);
                }
                continue;
            }
            let common = result.len().min(src.len());
            let pairs = result[..common].iter_mut().zip(&src[..common]);
            match op {
                BitOp::And => pairs.for_each(|(r, s)| *r &= s),
                BitOp::Or => pairs.for_each(|(r, s)| *r |= s),
                BitOp::Xor => pairs.for_each(|(r, s)| *r ^= s),
                BitOp::Not => {}
            }
            if op == BitOp::And {
                // Past the end of the shorter one, AND gives zeros.
                result[common..].fill(0);
                result.resize(result.len().max(src.len()), 0);
            } else if src.len() > common {
                result.extend_from_slice(&src[common..]);
            }
        }
        let dest = &a[2];
        if result.is_empty() {
            if ks.delete(dest)? {
                ks.notify(GENERIC, "del", dest);
            }
        } else {
            ks.put_string(dest, &result, 0)?;
            ks.notify(STRING, "set", dest);
        }
        Ok(Reply::Integer(result.len() as i64))
    }
}

/// What BITFIELD does on an overflow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Overflow {
    Wrap,
    Sat,
    Fail,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum FieldOp {
    Get,
    Set(i64),
    IncrBy(i64),
}

/// One BITFIELD operation, parsed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Field {
    op: FieldOp,
    signed: bool,
    bits: u32,
    offset: u64,
    overflow: Overflow,
}

/// Redis' `getBitfieldTypeFromArgument`: `i1`..`i64` or `u1`..`u63`, the
/// letter in lower case. Redis reads the width as a C string, so it stops
/// at a NUL byte.
fn bitfield_type(arg: &[u8]) -> Result<(bool, u32), Reply> {
    let signed = match arg.first() {
        Some(b'i') => true,
        Some(b'u') => false,
        _ => return Err(BITFIELD_TYPE),
    };
    let width = &arg[1..];
    let width = &width[..width.iter().position(|&b| b == 0).unwrap_or(width.len())];
    match parse_i64(width) {
        Some(n) if n >= 1 && n <= if signed { 64 } else { 63 } => Ok((signed, n as u32)),
        _ => Err(BITFIELD_TYPE),
    }
}

/// The operations of a BITFIELD line, in order, checked as Redis checks
/// them (each operation's type, then offset, then value).
fn parse_fields(a: &[Bytes], max_len: usize) -> Result<Vec<Field>, Reply> {
    let mut fields = Vec::new();
    let mut overflow = Overflow::Wrap;
    let mut j = 2;
    while j < a.len() {
        let more = a.len() - j - 1;
        let sub = &a[j][..];
        let op = if eq(sub, "get") && more >= 2 {
            FieldOp::Get
        } else if eq(sub, "set") && more >= 3 {
            FieldOp::Set(0)
        } else if eq(sub, "incrby") && more >= 3 {
            FieldOp::IncrBy(0)
        } else if eq(sub, "overflow") && more >= 1 {
            let kind = &a[j + 1][..];
            overflow = if eq(kind, "wrap") {
                Overflow::Wrap
            } else if eq(kind, "sat") {
                Overflow::Sat
            } else if eq(kind, "fail") {
                Overflow::Fail
            } else {
                return Err(Reply::static_error("ERR Invalid OVERFLOW type specified"));
            };
            j += 2;
            continue;
        } else {
            return Err(errors::SYNTAX);
        };
        let (signed, bits) = bitfield_type(&a[j + 1])?;
        let offset = bit_offset(&a[j + 2], Some(bits), max_len)?;
        let op = match op {
            FieldOp::Get => FieldOp::Get,
            FieldOp::Set(_) => FieldOp::Set(int_arg(&a[j + 3])?),
            FieldOp::IncrBy(_) => FieldOp::IncrBy(int_arg(&a[j + 3])?),
        };
        fields.push(Field {
            op,
            signed,
            bits,
            offset,
            overflow,
        });
        j += if op == FieldOp::Get { 3 } else { 4 };
    }
    Ok(fields)
}

/// The unsigned `bits`-bit integer at bit `offset` of `v`, zero past its
/// end.
fn get_unsigned(v: &[u8], offset: u64, bits: u32) -> u64 {
    (0..u64::from(bits)).fold(0, |acc, i| (acc << 1) | u64::from(get_bit(v, offset + i)))
}

/// The signed `bits`-bit integer at bit `offset` of `v`.
fn get_signed(v: &[u8], offset: u64, bits: u32) -> i64 {
    let u = get_unsigned(v, offset, bits);
    if bits < 64 && u & (1 << (bits - 1)) != 0 {
        (u | (u64::MAX << bits)) as i64
    } else {
        u as i64
    }
}

/// Store the low `bits` bits of `value` at bit `offset` of `v` (long
/// enough).
fn set_bits(v: &mut [u8], offset: u64, bits: u32, value: u64) {
    for j in 0..u64::from(bits) {
        let (byte, mask) = bit_at(offset + j);
        if value & (1 << (u64::from(bits) - 1 - j)) != 0 {
            v[byte] |= mask;
        } else {
            v[byte] &= !mask;
        }
    }
}

/// `value + incr` stored in an unsigned field of `bits` bits: the value to
/// store, or None when it overflows under FAIL. Redis'
/// `checkUnsignedBitfieldOverflow`.
fn unsigned_result(value: u64, incr: i64, bits: u32, overflow: Overflow) -> Option<u64> {
    let max = if bits == 64 {
        u64::MAX
    } else {
        (1 << bits) - 1
    };
    let max_incr = max.wrapping_sub(value) as i64;
    let min_incr = value.wrapping_neg() as i64;
    let wrapped = || value.wrapping_add(incr as u64) & !(u64::MAX.checked_shl(bits).unwrap_or(0));
    if value > max || (incr > 0 && incr > max_incr) {
        match overflow {
            Overflow::Wrap => Some(wrapped()),
            Overflow::Sat => Some(max),
            Overflow::Fail => None,
        }
    } else if incr < 0 && incr < min_incr {
        match overflow {
            Overflow::Wrap => Some(wrapped()),
            Overflow::Sat => Some(0),
            Overflow::Fail => None,
        }
    } else {
        Some(value.wrapping_add(incr as u64))
    }
}

/// `value + incr` stored in a signed field of `bits` bits, as
/// [`unsigned_result`]. Redis' `checkSignedBitfieldOverflow`.
fn signed_result(value: i64, incr: i64, bits: u32, overflow: Overflow) -> Option<i64> {
    let max = if bits == 64 {
        i64::MAX
    } else {
        (1 << (bits - 1)) - 1
    };
    let min = -max - 1;
    // These may wrap, as in Redis; they are only compared once `value` is
    // known to be in range, except in the quirks the module docs mention.
    let max_incr = (max as u64).wrapping_sub(value as u64) as i64;
    let min_incr = min.wrapping_sub(value);
    let wrapped = || {
        let c = (value as u64).wrapping_add(incr as u64);
        if bits < 64 {
            let mask = u64::MAX << bits;
            if c & (1 << (bits - 1)) != 0 {
                (c | mask) as i64
            } else {
                (c & !mask) as i64
            }
        } else {
            c as i64
        }
    };
    if value > max || (bits != 64 && incr > max_incr) || (value >= 0 && incr > 0 && incr > max_incr)
    {
        match overflow {
            Overflow::Wrap => Some(wrapped()),
            Overflow::Sat => Some(max),
            Overflow::Fail => None,
        }
    } else if value < min
        || (bits != 64 && incr < min_incr)
        || (value < 0 && incr < 0 && incr < min_incr)
    {
        match overflow {
            Overflow::Wrap => Some(wrapped()),
            Overflow::Sat => Some(min),
            Overflow::Fail => None,
        }
    } else {
        Some(value.wrapping_add(incr))
    }
}

impl Field {
    /// GET: the field's value in `v`.
    fn get(&self, v: &[u8]) -> Reply {
        if self.signed {
            Reply::Integer(get_signed(v, self.offset, self.bits))
        } else {
            Reply::Integer(get_unsigned(v, self.offset, self.bits) as i64)
        }
    }

    /// Run the operation on `v` (long enough for a SET or INCRBY); the
    /// reply, and whether the bytes changed.
    fn run(&self, v: &mut [u8]) -> (Reply, bool) {
        let (op_value, is_set) = match self.op {
            FieldOp::Get => return (self.get(v), false),
            FieldOp::Set(n) => (n, true),
            FieldOp::IncrBy(n) => (n, false),
        };
        let (reply, stored, old) = if self.signed {
            let old = get_signed(v, self.offset, self.bits);
            let new = if is_set {
                signed_result(op_value, 0, self.bits, self.overflow)
            } else {
                signed_result(old, op_value, self.bits, self.overflow)
            };
            let Some(new) = new else {
                return (Reply::Null, false);
            };
            (if is_set { old } else { new }, new as u64, old as u64)
        } else {
            let old = get_unsigned(v, self.offset, self.bits);
            let new = if is_set {
                unsigned_result(op_value as u64, 0, self.bits, self.overflow)
            } else {
                unsigned_result(old, op_value, self.bits, self.overflow)
            };
            let Some(new) = new else {
                return (Reply::Null, false);
            };
            ((if is_set { old } else { new }) as i64, new, old)
        };
        set_bits(v, self.offset, self.bits, stored);
        (Reply::Integer(reply), stored != old)
    }
}

/// `BITFIELD key [GET type offset | [OVERFLOW WRAP | SAT | FAIL] SET type
/// offset value | INCRBY type offset increment ...]`, and BITFIELD_RO,
/// which takes GET only.
pub struct BitField<'a> {
    args: &'a [Bytes],
    read_only: bool,
}

impl<'a> BitField<'a> {
    pub fn new(args: &'a [Bytes], read_only: bool) -> BitField<'a> {
        BitField { args, read_only }
    }

    pub fn apply<K: Keyspace>(self, ks: &mut K) -> Ks<Reply> {
        let key = &self.args[1][..];
        let fields = match parse_fields(self.args, ks.max_string_len()) {
            Ok(fields) => fields,
            Err(e) => return Ok(e),
        };
        // The last byte a write reaches: the string grows to hold it.
        let reach = fields
            .iter()
            .filter(|f| f.op != FieldOp::Get)
            .map(|f| f.offset + u64::from(f.bits) - 1)
            .max();
        let Some(reach) = reach else {
            return Ok(match ks.read(key)? {
                None => Reply::Array(fields.iter().map(|f| f.get(&[])).collect()),
                Some(head) => match head.string() {
                    Ok(v) => Reply::Array(fields.iter().map(|f| f.get(v)).collect()),
                    Err(e) => e,
                },
            });
        };
        if self.read_only {
            return Ok(Reply::static_error(
                "ERR BITFIELD_RO only supports the GET subcommand",
            ));
        }
        if let Some(head) = ks.lookup(key)? {
            if let Err(e) = head.expect(Kind::String) {
                return Ok(e);
            }
        }
        let mut replies = Vec::with_capacity(fields.len());
        let mut wrote = false;
        ks.modify_string(key, (reach >> 3) as usize + 1, |v| {
            let mut changed = false;
            for f in &fields {
                let (reply, c) = f.run(v);
                replies.push(reply);
                changed |= c;
            }
            wrote = changed;
            changed
        })?;
        if wrote {
            ks.notify(STRING, "setbit", key);
        }
        Ok(Reply::Array(replies))
    }
}

/// `LCS key1 key2 [LEN] [IDX] [MINMATCHLEN min-match-len] [WITHMATCHLEN]`.
pub struct Lcs<'a> {
    args: &'a [Bytes],
}

/// What LCS replies with.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct LcsOptions {
    len: bool,
    idx: bool,
    min_match_len: u64,
    with_match_len: bool,
}

fn lcs_options(a: &[Bytes]) -> Result<LcsOptions, Reply> {
    let mut o = LcsOptions::default();
    let mut j = 3;
    while j < a.len() {
        let opt = &a[j][..];
        if eq(opt, "idx") {
            o.idx = true;
        } else if eq(opt, "len") {
            o.len = true;
        } else if eq(opt, "withmatchlen") {
            o.with_match_len = true;
        } else if eq(opt, "minmatchlen") && j + 1 < a.len() {
            o.min_match_len = int_arg(&a[j + 1])?.max(0) as u64;
            j += 1;
        } else {
            return Err(errors::SYNTAX);
        }
        j += 1;
    }
    if o.len && o.idx {
        return Err(Reply::static_error(
            "ERR If you want both the length and indexes, please just use IDX.",
        ));
    }
    Ok(o)
}

impl<'a> KeyCommand<'a> for Lcs<'a> {
    fn parse(args: &'a [Bytes], _: &mut impl Clock) -> Result<Self, Reply> {
        Ok(Lcs { args })
    }

    fn apply<K: Keyspace>(self, ks: &mut K) -> Ks<Reply> {
        let max_len = ks.max_string_len();
        let not_strings =
            || Reply::static_error("ERR The specified keys must contain string values");
        // Both keys are read (and counted) before either type is checked.
        let first = ks.read(&self.args[1])?.map(|h| (h.kind, h.value.to_vec()));
        let (a, b) = match ks.read(&self.args[2])? {
            Some(h) if h.kind != Kind::String => return Ok(not_strings()),
            second => match first {
                Some((kind, _)) if kind != Kind::String => return Ok(not_strings()),
                first => (
                    first.map(|(_, v)| v).unwrap_or_default(),
                    second.map_or(&[][..], |h| h.value),
                ),
            },
        };
        let options = match lcs_options(self.args) {
            Ok(o) => o,
            Err(e) => return Ok(e),
        };
        Ok(lcs(&a, b, options, max_len))
    }
}

/// The LCS of `a` and `b` by the dynamic-programming table Redis builds
/// (`LCS[i][j]` = length of the LCS of `a[..i]` and `b[..j]`), walked back
/// from the end the way Redis walks it, so that ties and the match ranges
/// come out as Redis gives them.
fn lcs(a: &[u8], b: &[u8], o: LcsOptions, max_len: usize) -> Reply {
    if a.len() >= u32::MAX as usize - 1 || b.len() >= u32::MAX as usize - 1 {
        return Reply::static_error("ERR String too long for LCS");
    }
    let (alen, blen) = (a.len(), b.len());
    let width = blen + 1;
    let cells = (alen as u64 + 1) * (blen as u64 + 1);
    if cells * 4 > max_len as u64 {
        return Reply::static_error(
            "ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len",
        );
    }
    // LEN needs only the table's last row: two rows do (Redis builds the
    // whole table for it, which the check above still sizes).
    let rows = if o.len { 2 } else { alen + 1 };
    let mut table: Vec<u32> = Vec::new();
    if table.try_reserve_exact(rows * width).is_err() {
        return Reply::static_error(
            "ERR Insufficient memory, failed allocating transient memory for LCS",
        );
    }
    table.resize(rows * width, 0);
    for i in 1..=alen {
        let row = if o.len { i % 2 } else { i };
        let prev_row = if o.len { (i - 1) % 2 } else { i - 1 };
        let (prev, cur) = if prev_row < row {
            let (head, tail) = table.split_at_mut(row * width);
            (&head[prev_row * width..][..width], &mut tail[..width])
        } else {
            let (head, tail) = table.split_at_mut(prev_row * width);
            (&tail[..width], &mut head[row * width..][..width])
        };
        let ai = a[i - 1];
        for j in 1..=blen {
            cur[j] = if ai == b[j - 1] {
                prev[j - 1] + 1
            } else {
                prev[j].max(cur[j - 1])
            };
        }
    }
    if o.len {
        return Reply::Integer(i64::from(table[(alen % 2) * width + blen]));
    }
    let total = table[alen * width + blen];
    let at = |i: usize, j: usize| table[i * width + j];
    let mut result = vec![0u8; total as usize];
    let mut idx = total as usize;
    let mut matches = Vec::new();
    // The range being extended backwards: (a start, a end, b start, b end).
    let mut range: Option<(usize, usize, usize, usize)> = None;
    let (mut i, mut j) = (alen, blen);
    while i > 0 && j > 0 {
        let mut emit = false;
        if a[i - 1] == b[j - 1] {
            result[idx - 1] = a[i - 1];
            range = match range {
                None => Some((i - 1, i - 1, j - 1, j - 1)),
                // The walk only ever meets a match right before the one
                // it just took, or after a mismatch, which ended the
                // range: so a range always continues here.
                Some((as_, ae, bs, be)) => Some((as_ - 1, ae, bs - 1, be)),
            };
            if let Some((as_, _, bs, _)) = range {
                emit = as_ == 0 || bs == 0;
            }
            idx -= 1;
            i -= 1;
            j -= 1;
        } else {
            if at(i - 1, j) > at(i, j - 1) {
                i -= 1;
            } else {
                j -= 1;
            }
            emit = range.is_some();
        }
        if emit {
            if let Some((as_, ae, bs, be)) = range.take() {
                let len = (ae - as_ + 1) as u64;
                if o.idx && (o.min_match_len == 0 || len >= o.min_match_len) {
                    let mut m = vec![
                        Reply::Array(vec![Reply::Integer(as_ as i64), Reply::Integer(ae as i64)]),
                        Reply::Array(vec![Reply::Integer(bs as i64), Reply::Integer(be as i64)]),
                    ];
                    if o.with_match_len {
                        m.push(Reply::Integer(len as i64));
                    }
                    matches.push(Reply::Array(m));
                }
            }
        }
    }
    if o.idx {
        Reply::Map(vec![
            (Reply::bulk(b"matches"), Reply::Array(matches)),
            (Reply::bulk(b"len"), Reply::Integer(i64::from(total))),
        ])
    } else {
        Reply::Bulk(Bytes::from(result))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn offsets_as_redis_reads_them() {
        let max = 512 << 20;
        assert_eq!(bit_offset(b"0", None, max), Ok(0));
        assert_eq!(bit_offset(b"4294967295", None, max), Ok(4_294_967_295));
        assert_eq!(bit_offset(b"4294967296", None, max), Err(BIT_OFFSET));
        assert_eq!(bit_offset(b"-1", None, max), Err(BIT_OFFSET));
        assert_eq!(bit_offset(b"#3", None, max), Err(BIT_OFFSET));
        assert_eq!(bit_offset(b"#3", Some(8), max), Ok(24));
        assert_eq!(bit_offset(b"#", Some(8), max), Err(BIT_OFFSET));
        assert_eq!(bit_offset(b"", None, max), Err(BIT_OFFSET));
        // `#n * bits` wraps as in C, and a negative result is refused.
        assert_eq!(
            bit_offset(b"#9223372036854775807", Some(2), max),
            Err(BIT_OFFSET)
        );
    }

    #[test]
    fn bitfield_types() {
        assert_eq!(bitfield_type(b"i64"), Ok((true, 64)));
        assert_eq!(bitfield_type(b"u63"), Ok((false, 63)));
        assert_eq!(bitfield_type(b"i8\0junk"), Ok((true, 8)));
        for bad in [
            &b"u64"[..],
            b"i65",
            b"i0",
            b"I8",
            b"8",
            b"",
            b"u",
            b"u-1",
            b"i08",
        ] {
            assert_eq!(bitfield_type(bad), Err(BITFIELD_TYPE), "{bad:?}");
        }
    }

    #[test]
    fn overflow_arithmetic() {
        use Overflow::*;
        assert_eq!(unsigned_result(250, 10, 8, Wrap), Some(4));
        assert_eq!(unsigned_result(250, 10, 8, Sat), Some(255));
        assert_eq!(unsigned_result(250, 10, 8, Fail), None);
        assert_eq!(unsigned_result(5, -10, 8, Wrap), Some(251));
        assert_eq!(unsigned_result(5, -10, 8, Sat), Some(0));
        assert_eq!(unsigned_result(u64::MAX, 0, 8, Wrap), Some(255));
        assert_eq!(signed_result(127, 1, 8, Wrap), Some(-128));
        assert_eq!(signed_result(127, 1, 8, Sat), Some(127));
        assert_eq!(signed_result(-128, -1, 8, Sat), Some(-128));
        assert_eq!(signed_result(-128, -1, 8, Wrap), Some(127));
        assert_eq!(signed_result(i64::MAX, 1, 64, Wrap), Some(i64::MIN));
        assert_eq!(signed_result(i64::MAX, 1, 64, Sat), Some(i64::MAX));
        assert_eq!(signed_result(i64::MIN, -1, 64, Sat), Some(i64::MIN));
        assert_eq!(signed_result(300, 0, 8, Wrap), Some(44));
        // Redis' quirk: i64::MIN looks like a positive overflow for a
        // narrow field.
        assert_eq!(signed_result(i64::MIN, 0, 8, Sat), Some(127));
    }

    /// The bit-by-bit definition the fast paths must agree with.
    fn naive_find(v: &[u8], from: u64, to: u64, bit: bool) -> Option<u64> {
        (from..=to).find(|&p| get_bit(v, p) == bit)
    }

    proptest! {
        #[test]
        fn find_and_count_agree_with_bit_by_bit(
            v in proptest::collection::vec(prop_oneof![Just(0u8), Just(0xff), any::<u8>()], 1..70),
            a in 0u64..560,
            b in 0u64..560,
            bit in any::<bool>(),
        ) {
            let n = v.len() as u64 * 8;
            let (from, to) = (a.min(b) % n, a.max(b) % n);
            let (from, to) = (from.min(to), from.max(to));
            prop_assert_eq!(find_bit(&v, from, to, bit), naive_find(&v, from, to, bit));
            let naive = (from..=to).filter(|&p| get_bit(&v, p)).count() as u64;
            prop_assert_eq!(count_bits(&v, from, to), naive);
        }

        #[test]
        fn set_then_get_round_trips(
            v in proptest::collection::vec(any::<u8>(), 16..24),
            offset in 0u64..64,
            bits in 1u32..=64,
            value in any::<u64>(),
        ) {
            let mut v = v;
            set_bits(&mut v, offset, bits, value);
            let mask = if bits == 64 { u64::MAX } else { (1 << bits) - 1 };
            prop_assert_eq!(get_unsigned(&v, offset, bits), value & mask);
        }
    }

    /// A keyspace of a few keys of any type, which keeps the default
    /// [`Keyspace::modify_string`] (the DynamoDB store's) and counts writes.
    #[derive(Default)]
    struct Keys {
        keys: std::collections::HashMap<Vec<u8>, (Kind, Vec<u8>)>,
        writes: usize,
    }

    impl Clock for Keys {
        fn now(&mut self) -> u64 {
            1
        }
    }
    impl crate::commands::hashes::Hashes for Keys {}
    impl crate::commands::lists::Lists for Keys {}
    impl crate::commands::sets::Sets for Keys {}
    impl crate::commands::zsets::SortedSets for Keys {}

    impl Keyspace for Keys {
        fn db(&self) -> u32 {
            0
        }
        fn select(&mut self, _: u32) {}
        fn databases(&self) -> u32 {
            1
        }
        fn max_string_len(&self) -> usize {
            512 << 20
        }
        fn read(&mut self, key: &[u8]) -> Ks<Option<super::super::keyspace::Head<'_>>> {
            self.lookup(key)
        }
        fn lookup(&mut self, key: &[u8]) -> Ks<Option<super::super::keyspace::Head<'_>>> {
            Ok(self
                .keys
                .get(key)
                .map(|(kind, value)| super::super::keyspace::Head {
                    kind: *kind,
                    expire_at: 0,
                    value,
                }))
        }
        fn put_string(&mut self, key: &[u8], value: &[u8], _: u64) -> Ks<()> {
            self.writes += 1;
            self.keys
                .insert(key.to_vec(), (Kind::String, value.to_vec()));
            Ok(())
        }
        fn append_string(&mut self, _: &[u8], _: &[u8]) -> Ks<usize> {
            unreachable!("no bit command appends")
        }
        fn set_expire(&mut self, _: &[u8], _: u64) -> Ks<()> {
            Ok(())
        }
        fn delete(&mut self, key: &[u8]) -> Ks<bool> {
            self.writes += 1;
            Ok(self.keys.remove(key).is_some())
        }
        fn copy(&mut self, _: &[u8], _: u32, _: &[u8]) -> Ks<()> {
            Ok(())
        }
    }

    fn run(ks: &mut Keys, line: &str) -> Reply {
        let spec = redynamo_layers::command::all_specs()
            .find(|s| s.name.eq_ignore_ascii_case(line.split(' ').next().unwrap()))
            .unwrap();
        let cmd = redynamo_layers::Command {
            spec,
            args: line
                .split(' ')
                .map(|w| Bytes::copy_from_slice(w.as_bytes()))
                .collect(),
        };
        crate::commands::apply(&cmd, ks).unwrap().unwrap()
    }

    #[test]
    fn wrong_types_in_redis_order() {
        let mut ks = Keys::default();
        ks.keys.insert(b"h".to_vec(), (Kind::Hash, Vec::new()));
        ks.keys
            .insert(b"s".to_vec(), (Kind::String, b"foobar".to_vec()));
        let wrongtype = errors::WRONGTYPE;
        let not_strings = Reply::static_error("ERR The specified keys must contain string values");
        for (line, reply) in [
            ("setbit h 1 1", wrongtype.clone()),
            ("setbit h x 1", BIT_OFFSET),
            ("setbit h 1 2", BIT_VALUE),
            ("getbit h 1", wrongtype.clone()),
            ("getbit h x", BIT_OFFSET),
            // 7.2 reads the key before the range arguments.
            ("bitcount h", wrongtype.clone()),
            ("bitcount h 1", wrongtype.clone()),
            ("bitcount h x y", wrongtype.clone()),
            ("bitpos h 1", wrongtype.clone()),
            ("bitpos h 1 x", wrongtype.clone()),
            ("bitpos h 2", BIT_ARGUMENT),
            ("bitop and d s h", wrongtype.clone()),
            ("bitop nand d h", errors::SYNTAX),
            (
                "bitfield s get u8 0",
                Reply::Array(vec![Reply::Integer(102)]),
            ),
            ("bitfield h get u8 0", wrongtype.clone()),
            ("bitfield h set u8 0 1", wrongtype.clone()),
            ("bitfield h get u64 0", BITFIELD_TYPE),
            ("bitfield_ro h get u8 0", wrongtype.clone()),
            (
                "bitfield_ro h set u8 0 1",
                Reply::static_error("ERR BITFIELD_RO only supports the GET subcommand"),
            ),
            ("lcs h s", not_strings.clone()),
            ("lcs s h", not_strings.clone()),
            ("lcs s h bogus", not_strings),
            ("lcs s missing bogus", errors::SYNTAX),
            // The destination's type does not matter.
            ("bitop or h s", Reply::Integer(6)),
        ] {
            assert_eq!(run(&mut ks, line), reply, "{line}");
        }
        assert_eq!(ks.writes, 1, "only BITOP wrote");
        assert_eq!(ks.keys[&b"h"[..]], (Kind::String, b"foobar".to_vec()));
    }

    #[test]
    fn the_default_modify_string_writes_only_changes() {
        let mut ks = Keys::default();
        assert_eq!(run(&mut ks, "setbit k 9 1"), Reply::Integer(0));
        assert_eq!(ks.keys[&b"k"[..]].1, vec![0, 0x40]);
        assert_eq!(ks.writes, 1);
        assert_eq!(run(&mut ks, "setbit k 9 1"), Reply::Integer(1));
        assert_eq!(run(&mut ks, "setbit k 0 0"), Reply::Integer(0));
        assert_eq!(
            run(
                &mut ks,
                "bitfield k set u8 0 0 overflow fail incrby u4 0 16"
            ),
            Reply::Array(vec![Reply::Integer(0), Reply::Null])
        );
        assert_eq!(ks.writes, 1, "nothing changed");
        assert_eq!(run(&mut ks, "setbit k 16 0"), Reply::Integer(0));
        assert_eq!(ks.keys[&b"k"[..]].1, vec![0, 0x40, 0]);
        assert_eq!(ks.writes, 2, "grown");
        assert_eq!(
            run(&mut ks, "bitfield k incrby i16 #0 -1"),
            Reply::Array(vec![Reply::Integer(63)])
        );
        assert_eq!(ks.writes, 3);
        assert_eq!(
            run(&mut ks, "bitfield new overflow fail incrby u4 0 16"),
            Reply::Array(vec![Reply::Null])
        );
        assert_eq!(ks.keys[&b"new"[..]].1, vec![0], "created even so");
    }

    /// Words the argument fuzzing below draws from: keywords of every
    /// command here, numbers at the edges, offsets small enough that no
    /// case allocates much.
    const WORDS: &[&str] = &[
        "k",
        "s",
        "h",
        "0",
        "1",
        "2",
        "7",
        "8",
        "63",
        "64",
        "100",
        "-1",
        "-8",
        "#3",
        "#-1",
        "#",
        "4294967296",
        "9223372036854775807",
        "-9223372036854775808",
        "99999999999999999999",
        "x",
        "",
        "bit",
        "BYTE",
        "get",
        "SET",
        "incrby",
        "overflow",
        "wrap",
        "SAT",
        "fail",
        "i8",
        "u63",
        "i64",
        "u64",
        "i1",
        "u0",
        "and",
        "or",
        "xor",
        "NOT",
        "len",
        "IDX",
        "minmatchlen",
        "withmatchlen",
    ];

    proptest! {
        /// No argument line, of any length the arity allows, panics a
        /// command here; each answers something.
        #[test]
        fn random_arguments_never_panic(
            name in prop::sample::select(vec![
                "setbit", "getbit", "bitcount", "bitpos", "bitop", "bitfield",
                "bitfield_ro", "lcs",
            ]),
            words in proptest::collection::vec(prop::sample::select(WORDS), 0..12),
        ) {
            let spec = redynamo_layers::command::all_specs()
                .find(|s| s.name == name)
                .unwrap();
            let argc = words.len() + 1;
            let arity = spec.arity.unsigned_abs() as usize;
            prop_assume!(if spec.arity < 0 { argc >= arity } else { argc == arity });
            let mut ks = Keys::default();
            ks.keys.insert(b"h".to_vec(), (Kind::Hash, Vec::new()));
            ks.keys.insert(b"s".to_vec(), (Kind::String, b"foobar".to_vec()));
            let line = std::iter::once(name).chain(words).collect::<Vec<_>>().join(" ");
            let _ = run(&mut ks, &line);
        }
    }

    #[test]
    fn lcs_as_redis_documents_it() {
        let o = LcsOptions::default();
        assert_eq!(
            lcs(b"ohmytext", b"mynewtext", o, 1 << 20),
            Reply::bulk(b"mytext")
        );
        let idx = LcsOptions {
            idx: true,
            with_match_len: true,
            ..o
        };
        let pair = |a: i64, b: i64| Reply::Array(vec![Reply::Integer(a), Reply::Integer(b)]);
        assert_eq!(
            lcs(b"ohmytext", b"mynewtext", idx, 1 << 20),
            Reply::Map(vec![
                (
                    Reply::bulk(b"matches"),
                    Reply::Array(vec![
                        Reply::Array(vec![pair(4, 7), pair(5, 8), Reply::Integer(4)]),
                        Reply::Array(vec![pair(2, 3), pair(0, 1), Reply::Integer(2)]),
                    ])
                ),
                (Reply::bulk(b"len"), Reply::Integer(6)),
            ])
        );
        for (a, b, n) in [
            (&b"ohmytext"[..], &b"mynewtext"[..], 6),
            (b"", b"abc", 0),
            (b"abc", b"", 0),
            (b"abcabcabc", b"cbacbacba", 5),
            (b"a", b"a", 1),
        ] {
            let len = LcsOptions { len: true, ..o };
            assert_eq!(lcs(a, b, len, 1 << 20), Reply::Integer(n), "{a:?} {b:?}");
            let Reply::Bulk(text) = lcs(a, b, o, 1 << 20) else {
                panic!("LCS is a bulk string");
            };
            assert_eq!(text.len() as i64, n, "{a:?} {b:?}");
        }
        assert_eq!(
            lcs(&[b'a'; 100], &[b'a'; 100], o, 100),
            Reply::static_error(
                "ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len"
            )
        );
    }
}
