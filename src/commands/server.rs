//! The commands that walk or replace whole dbs: KEYS, SCAN, RANDOMKEY,
//! DBSIZE, FLUSHDB, FLUSHALL, SWAPDB.
//!
//! Their arguments and replies are written here once; walking a db is the
//! store's own business (a hash table in memory, a paginated Scan of the
//! table on DynamoDB), so each store executes the typed [`DbCommand`] and
//! uses [`KeyFilter`] and [`scan_reply`] for what a client sees.

use bytes::Bytes;
use redynamo_layers::reply::errors;
use redynamo_layers::{Command, Reply};

use super::args::{parse_flush, ScanArgs};
use super::keyspace::Kind;
use crate::util::glob;
use crate::util::num::parse_i64;

/// A whole-db command, parsed.
#[derive(Clone, Debug, PartialEq)]
pub enum DbCommand {
    /// `KEYS pattern`.
    Keys(KeyFilter),
    /// `SCAN cursor [MATCH pattern] [COUNT count] [TYPE type]`.
    Scan {
        cursor: u64,
        count: usize,
        filter: KeyFilter,
    },
    RandomKey,
    DbSize,
    /// FLUSHDB `[ASYNC | SYNC]` (both flush before replying).
    FlushDb,
    /// FLUSHALL `[ASYNC | SYNC]`.
    FlushAll,
    /// `SWAPDB index1 index2`, both checked against the number of dbs.
    SwapDb(u32, u32),
}

impl DbCommand {
    /// The typed command, or the reply Redis gives to bad arguments. None
    /// when `cmd` is not a whole-db command.
    pub fn parse(cmd: &Command, databases: u32) -> Option<Result<DbCommand, Reply>> {
        let a = &cmd.args[..];
        Some(match cmd.spec.name {
            "keys" => Ok(DbCommand::Keys(KeyFilter::pattern(&a[1]))),
            "scan" => ScanArgs::parse(a).map(|s| DbCommand::Scan {
                cursor: s.cursor,
                count: s.count,
                filter: KeyFilter {
                    pattern: s.pattern,
                    type_name: s.type_name,
                },
            }),
            "randomkey" => Ok(DbCommand::RandomKey),
            "dbsize" => Ok(DbCommand::DbSize),
            "flushdb" => parse_flush(a).map(|()| DbCommand::FlushDb),
            "flushall" => parse_flush(a).map(|()| DbCommand::FlushAll),
            "swapdb" => parse_swapdb(a, databases),
            _ => return None,
        })
    }
}

fn parse_swapdb(a: &[Bytes], databases: u32) -> Result<DbCommand, Reply> {
    let parse = |b: &Bytes, which: &str| {
        parse_i64(b).ok_or_else(|| Reply::error(format!("ERR invalid {which} DB index")))
    };
    let x = parse(&a[1], "first")?;
    let y = parse(&a[2], "second")?;
    let in_range = |n: i64| n >= 0 && n < databases as i64;
    if !in_range(x) || !in_range(y) {
        return Err(errors::DB_INDEX);
    }
    Ok(DbCommand::SwapDb(x as u32, y as u32))
}

/// Which keys KEYS and SCAN report: a glob pattern (None: all) and a type.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct KeyFilter {
    pub pattern: Option<Bytes>,
    /// SCAN's TYPE, compared case-insensitively with TYPE's names.
    pub type_name: Option<Bytes>,
}

impl KeyFilter {
    /// KEYS' filter: `*` matches everything, so no matching work is done.
    fn pattern(pattern: &Bytes) -> KeyFilter {
        KeyFilter {
            pattern: (pattern.as_ref() != b"*").then(|| pattern.clone()),
            type_name: None,
        }
    }

    /// Whether a live key of type `kind` is reported.
    pub fn matches(&self, key: &[u8], kind: Kind) -> bool {
        self.pattern.as_ref().is_none_or(|p| glob::matches(p, key))
            && self
                .type_name
                .as_ref()
                .is_none_or(|t| t.eq_ignore_ascii_case(kind.type_name().as_bytes()))
    }

    /// Whether a live key of the type named `type_name` is reported (a
    /// store that reads type names back from storage).
    pub fn matches_named(&self, key: &[u8], type_name: &str) -> bool {
        self.pattern.as_ref().is_none_or(|p| glob::matches(p, key))
            && self
                .type_name
                .as_ref()
                .is_none_or(|t| t.eq_ignore_ascii_case(type_name.as_bytes()))
    }
}

/// SCAN's reply: the next cursor as a bulk string, then the keys.
pub fn scan_reply(cursor: u64, keys: Vec<Reply>) -> Reply {
    let mut buf = itoa::Buffer::new();
    Reply::Array(vec![Reply::bulk(buf.format(cursor)), Reply::Array(keys)])
}

/// The reply of a SWAPDB a store cannot perform.
pub const SWAPDB_UNSUPPORTED: Reply = Reply::static_error(
    "ERR SWAPDB is not supported by the DynamoDB backend (the db index is part of every item's key)",
);
