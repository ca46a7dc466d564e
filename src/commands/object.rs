//! Introspection of one key: OBJECT ENCODING | FREQ | IDLETIME | REFCOUNT |
//! HELP and MEMORY USAGE | HELP.
//!
//! What redynamo reports, and where it differs from what Redis tracks:
//! - ENCODING names the representation as Redis does: `int`, `embstr` or
//!   `raw` for strings (decided from the value, as Redis' `SET` encodes
//!   it; a value that APPEND or SETRANGE built may say `embstr` where Redis
//!   says `raw`), and for the collections the store's own small or large
//!   encoding under Redis' name (`listpack`, `intset`, `hashtable`,
//!   `quicklist`, `skiplist`).
//! - FREQ: redynamo has no LFU eviction, so, like Redis without an LFU
//!   `maxmemory-policy`, it answers with Redis' error.
//! - IDLETIME: keys carry no access time (it would cost every key a word),
//!   so the idle time is always 0. Documented in the README's known gaps.
//! - REFCOUNT: Redis shares the integers 0 to 9999 among keys
//!   (`OBJ_SHARED_INTEGERS`), whose count reads 2147483647; every other
//!   value has one owner. redynamo answers the same.
//! - MEMORY USAGE: the bytes the store holds for the key (its entry, the
//!   table slot, its members), as the store estimates them
//!   ([`Keyspace::memory_usage`]). The figure is redynamo's, not Redis'.

use bytes::Bytes;
use redynamo_layers::reply::errors;
use redynamo_layers::Reply;

use super::args::int_arg;
use super::keyspace::{Clock, Keyspace, Ks};
use super::KeyCommand;
use crate::util::num::parse_i64;

/// Largest length of a string Redis stores as `embstr`.
const EMBSTR_MAX: usize = 44;

/// Values Redis shares between keys (`OBJ_SHARED_INTEGERS`).
const SHARED_INTEGERS: i64 = 10_000;

/// The encoding Redis gives a string value it stores with SET.
pub fn string_encoding(value: &[u8]) -> &'static str {
    if value.len() <= 20 && parse_i64(value).is_some() {
        "int"
    } else if value.len() <= EMBSTR_MAX {
        "embstr"
    } else {
        "raw"
    }
}

/// Which OBJECT subcommand.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ObjectOp {
    Encoding,
    Freq,
    IdleTime,
    RefCount,
}

/// `OBJECT ENCODING | FREQ | IDLETIME | REFCOUNT key`.
pub struct Object<'a> {
    op: ObjectOp,
    key: &'a [u8],
}

impl<'a> Object<'a> {
    pub fn new(a: &'a [Bytes], op: ObjectOp) -> Object<'a> {
        Object { op, key: &a[2] }
    }

    pub fn apply<K: Keyspace>(self, ks: &mut K) -> Ks<Reply> {
        let Some(encoding) = ks.encoding(self.key)? else {
            return Ok(Reply::Null);
        };
        Ok(match self.op {
            ObjectOp::Encoding => Reply::bulk(encoding.as_bytes()),
            ObjectOp::Freq => Reply::static_error(
                "ERR An LFU maxmemory policy is not selected, access frequency not tracked. \
                 Please note that when switching between policies at runtime LRU and LFU data \
                 will take some time to adjust.",
            ),
            ObjectOp::IdleTime => Reply::Integer(0),
            ObjectOp::RefCount => {
                let shared = encoding == "int"
                    && ks
                        .lookup(self.key)?
                        .and_then(|h| parse_i64(h.value))
                        .is_some_and(|n| (0..SHARED_INTEGERS).contains(&n));
                Reply::Integer(if shared { i32::MAX as i64 } else { 1 })
            }
        })
    }
}

/// `MEMORY USAGE key [SAMPLES count]`.
pub struct MemoryUsage<'a> {
    key: &'a [u8],
}

impl<'a> KeyCommand<'a> for MemoryUsage<'a> {
    fn parse(a: &'a [Bytes], _: &mut impl Clock) -> Result<Self, Reply> {
        // SAMPLES is checked as Redis checks it; the estimate here counts
        // every member, so the sample size changes nothing.
        let mut i = 3;
        while i < a.len() {
            if a[i].eq_ignore_ascii_case(b"samples") && i + 1 < a.len() {
                if int_arg(&a[i + 1])? < 0 {
                    return Err(errors::SYNTAX);
                }
                i += 2;
            } else {
                return Err(errors::SYNTAX);
            }
        }
        Ok(MemoryUsage { key: &a[2] })
    }

    fn apply<K: Keyspace>(self, ks: &mut K) -> Ks<Reply> {
        Ok(match ks.memory_usage(self.key)? {
            Some(bytes) => Reply::Integer(bytes as i64),
            None => Reply::Null,
        })
    }
}

/// `OBJECT HELP`.
pub fn object_help() -> Reply {
    help(&[
        "OBJECT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "ENCODING <key>",
        "    Return the kind of internal representation used in order to store the value",
        "    associated with a <key>.",
        "FREQ <key>",
        "    Return the access frequency index of the <key>. The returned integer is",
        "    proportional to the logarithm of the recent access frequency of the key.",
        "IDLETIME <key>",
        "    Return the idle time of the <key>, that is the approximated number of",
        "    seconds elapsed since the last access to the key.",
        "REFCOUNT <key>",
        "    Return the number of references of the value associated with the specified",
        "    <key>.",
        "HELP",
        "    Print this help.",
    ])
}

/// `MEMORY HELP`: the subcommands redynamo has.
pub fn memory_help() -> Reply {
    help(&[
        "MEMORY <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "DOCTOR",
        "    Return memory problems reports.",
        "STATS",
        "    Return information about the memory usage of the server.",
        "USAGE <key> [SAMPLES <count>]",
        "    Return memory in bytes used by <key> and its value. Nested values are",
        "    sampled up to <count> times (default: 5, 0 means sample all).",
        "HELP",
        "    Print this help.",
    ])
}

fn help(lines: &[&'static str]) -> Reply {
    Reply::Array(lines.iter().map(|l| Reply::status(l)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn string_encodings_follow_redis_set() {
        assert_eq!(string_encoding(b"12345"), "int");
        assert_eq!(string_encoding(b"-9223372036854775808"), "int");
        // Not the canonical form of an integer, or too large for one.
        assert_eq!(string_encoding(b"01"), "embstr");
        assert_eq!(string_encoding(b"+1"), "embstr");
        assert_eq!(string_encoding(b"9223372036854775808"), "embstr");
        assert_eq!(string_encoding(&[b'a'; 44]), "embstr");
        assert_eq!(string_encoding(&[b'a'; 45]), "raw");
        assert_eq!(string_encoding(b""), "embstr");
    }
}
