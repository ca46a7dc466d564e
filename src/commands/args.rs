//! Typed argument parsing shared by every backend.
//!
//! The command table checks arity; this module turns the arguments of the
//! commands with options (SET, GETEX, the EXPIRE family, SCAN, COPY …) into
//! typed values, with Redis' exact error replies. Backends execute the typed
//! form, so a syntax error reads the same whatever the backend.

use bytes::Bytes;
use redynamo_layers::reply::errors;
use redynamo_layers::Reply;

use crate::util::num::parse_i64;

/// Parse an integer argument, with Redis' "not an integer" reply.
pub fn int_arg(b: &[u8]) -> Result<i64, Reply> {
    parse_i64(b).ok_or(errors::NOT_INTEGER)
}

fn eq(arg: &[u8], word: &str) -> bool {
    arg.eq_ignore_ascii_case(word.as_bytes())
}

/// An expiry as given by EX/PX/EXAT/PXAT, resolved to absolute Unix ms.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expiry {
    /// Expire at this Unix time in milliseconds (may be in the past).
    At(u64),
    /// KEEPTTL (SET) — keep whatever expiry the key has.
    Keep,
    /// PERSIST (GETEX) — remove the expiry.
    Persist,
}

/// Resolve `value` given with `unit` (EX, PX, EXAT, PXAT) into absolute
/// milliseconds, with Redis' checks: the number must be an integer, greater
/// than zero, and must not overflow when scaled or offset.
fn resolve_expiry(unit: &[u8], value: &[u8], now: u64, cmd: &str) -> Result<u64, Reply> {
    let invalid = || Reply::error(format!("ERR invalid expire time in '{cmd}' command"));
    let n = int_arg(value)?;
    if n <= 0 {
        return Err(invalid());
    }
    let (ms, relative) = if eq(unit, "ex") {
        (n.checked_mul(1000).ok_or_else(invalid)?, true)
    } else if eq(unit, "px") {
        (n, true)
    } else if eq(unit, "exat") {
        (n.checked_mul(1000).ok_or_else(invalid)?, false)
    } else {
        (n, false)
    };
    if relative {
        ms.checked_add(now as i64)
            .map(|v| v as u64)
            .ok_or_else(invalid)
    } else {
        Ok(ms as u64)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SetCondition {
    Always,
    /// NX: only if the key does not exist.
    IfAbsent,
    /// XX: only if the key exists.
    IfPresent,
}

/// `SET key value [NX | XX] [GET] [EX s | PX ms | EXAT t | PXAT t | KEEPTTL]`.
#[derive(Clone, Debug, PartialEq)]
pub struct SetArgs {
    pub key: Bytes,
    pub value: Bytes,
    pub condition: SetCondition,
    pub get: bool,
    /// None: clear any expiry (plain SET).
    pub expiry: Option<Expiry>,
}

impl SetArgs {
    /// Options are read as Redis' `parseExtendedStringArgumentsOrReply`
    /// reads them: an option may repeat (`NX NX`, `GET GET`, `EX 1 EX 10`,
    /// the last value winning) but two that conflict (`NX XX`, `EX PX`,
    /// `KEEPTTL EX`) are a syntax error, and the expiry value is checked
    /// only once every option has been read.
    pub fn parse(args: &[Bytes], now: u64) -> Result<SetArgs, Reply> {
        let mut set = SetArgs {
            key: args[1].clone(),
            value: args[2].clone(),
            condition: SetCondition::Always,
            get: false,
            expiry: None,
        };
        let mut keep_ttl = false;
        let mut expire: Option<(&[u8], &Bytes)> = None;
        let mut i = 3;
        while i < args.len() {
            let a = &args[i];
            let next = args.get(i + 1);
            if eq(a, "nx") && set.condition != SetCondition::IfPresent {
                set.condition = SetCondition::IfAbsent;
            } else if eq(a, "xx") && set.condition != SetCondition::IfAbsent {
                set.condition = SetCondition::IfPresent;
            } else if eq(a, "get") {
                set.get = true;
            } else if eq(a, "keepttl") && expire.is_none() {
                keep_ttl = true;
            } else if let (Some(unit), Some(value), false) =
                (expiry_unit(a, expire), next, keep_ttl)
            {
                expire = Some((unit, value));
                i += 1;
            } else {
                return Err(errors::SYNTAX);
            }
            i += 1;
        }
        set.expiry = match expire {
            _ if keep_ttl => Some(Expiry::Keep),
            Some((unit, value)) => Some(Expiry::At(resolve_expiry(unit, value, now, "set")?)),
            None => None,
        };
        Ok(set)
    }
}

/// The unit `arg` names (`ex`, `px`, `exat`, `pxat`), if it may follow the
/// expiry option already `given`: Redis lets an expiry option repeat, but
/// not mix with another unit.
fn expiry_unit(arg: &[u8], given: Option<(&[u8], &Bytes)>) -> Option<&'static [u8]> {
    let unit: &'static [u8] = [b"ex".as_slice(), b"px", b"exat", b"pxat"]
        .into_iter()
        .find(|u| arg.eq_ignore_ascii_case(u))?;
    match given {
        Some((g, _)) if g != unit => None,
        _ => Some(unit),
    }
}

/// `GETEX key [EX s | PX ms | EXAT t | PXAT t | PERSIST]`: None leaves the
/// expiry alone. Repeats and conflicts are read as in [`SetArgs::parse`].
pub fn parse_getex(args: &[Bytes], now: u64) -> Result<Option<Expiry>, Reply> {
    let mut persist = false;
    let mut expire: Option<(&[u8], &Bytes)> = None;
    let mut i = 2;
    while i < args.len() {
        let a = &args[i];
        if eq(a, "persist") && expire.is_none() {
            persist = true;
        } else if let (Some(unit), Some(value), false) =
            (expiry_unit(a, expire), args.get(i + 1), persist)
        {
            expire = Some((unit, value));
            i += 1;
        } else {
            return Err(errors::SYNTAX);
        }
        i += 1;
    }
    match expire {
        _ if persist => Ok(Some(Expiry::Persist)),
        Some((unit, value)) => Ok(Some(Expiry::At(resolve_expiry(unit, value, now, "getex")?))),
        None => Ok(None),
    }
}

/// SETEX / PSETEX: the relative expiry argument, resolved.
pub fn parse_setex(cmd: &str, amount: &[u8], unit_ms: bool, now: u64) -> Result<u64, Reply> {
    let unit: &[u8] = if unit_ms { b"px" } else { b"ex" };
    resolve_expiry(unit, amount, now, cmd)
}

/// The NX | XX | GT | LT flags of the EXPIRE family.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ExpireFlags {
    pub nx: bool,
    pub xx: bool,
    pub gt: bool,
    pub lt: bool,
}

impl ExpireFlags {
    pub fn parse(args: &[Bytes]) -> Result<ExpireFlags, Reply> {
        let mut f = ExpireFlags::default();
        for a in args {
            if eq(a, "nx") {
                f.nx = true;
            } else if eq(a, "xx") {
                f.xx = true;
            } else if eq(a, "gt") {
                f.gt = true;
            } else if eq(a, "lt") {
                f.lt = true;
            } else {
                return Err(Reply::error(format!(
                    "ERR Unsupported option {}",
                    String::from_utf8_lossy(a)
                )));
            }
        }
        if f.nx && (f.xx || f.gt || f.lt) {
            return Err(Reply::static_error(
                "ERR NX and XX, GT or LT options at the same time are not compatible",
            ));
        }
        if f.gt && f.lt {
            return Err(Reply::static_error(
                "ERR GT and LT options at the same time are not compatible",
            ));
        }
        Ok(f)
    }

    /// Whether a key whose current deadline is `current` (0 = none) may get
    /// `new`. A key without expiry counts as an infinite TTL for GT/LT.
    pub fn allows(&self, current: u64, new: u64) -> bool {
        if self.nx && current != 0 {
            return false;
        }
        if self.xx && current == 0 {
            return false;
        }
        if self.gt && (current == 0 || new <= current) {
            return false;
        }
        if self.lt && current != 0 && new >= current {
            return false;
        }
        true
    }
}

/// EXPIRE, PEXPIRE, EXPIREAT, PEXPIREAT: `(deadline ms, flags)`. The
/// deadline may be in the past (the key is then deleted), and may be
/// negative for the relative forms, which Redis also treats as "now".
pub fn parse_expire(args: &[Bytes], now: u64) -> Result<(i64, ExpireFlags), Reply> {
    let name = args[0].to_ascii_lowercase();
    let cmd = String::from_utf8_lossy(&name).into_owned();
    // Redis reads the flags before the number: `EXPIRE k abc foo` is
    // "Unsupported option foo".
    let flags = ExpireFlags::parse(&args[3..])?;
    let n = int_arg(&args[2])?;
    let invalid = || Reply::error(format!("ERR invalid expire time in '{cmd}' command"));
    let (scale, relative) = match cmd.as_str() {
        "expire" => (1000, true),
        "pexpire" => (1, true),
        "expireat" => (1000, false),
        _ => (1, false),
    };
    let ms = n.checked_mul(scale).ok_or_else(invalid)?;
    let at = if relative {
        ms.checked_add(now as i64).ok_or_else(invalid)?
    } else {
        ms
    };
    Ok((at, flags))
}

/// `SCAN cursor [MATCH pattern] [COUNT count] [TYPE type]`.
#[derive(Clone, Debug, PartialEq)]
pub struct ScanArgs {
    pub cursor: u64,
    pub pattern: Option<Bytes>,
    pub count: usize,
    pub type_name: Option<Bytes>,
}

impl ScanArgs {
    pub fn parse(args: &[Bytes]) -> Result<ScanArgs, Reply> {
        let cursor = std::str::from_utf8(&args[1])
            .ok()
            .and_then(|s| s.parse::<u64>().ok())
            .ok_or(Reply::static_error("ERR invalid cursor"))?;
        let mut scan = ScanArgs {
            cursor,
            pattern: None,
            count: 10,
            type_name: None,
        };
        let mut i = 2;
        while i < args.len() {
            let Some(value) = args.get(i + 1) else {
                return Err(errors::SYNTAX);
            };
            let a = &args[i];
            if eq(a, "count") {
                let n = int_arg(value)?;
                if n < 1 {
                    return Err(errors::SYNTAX);
                }
                scan.count = n as usize;
            } else if eq(a, "match") {
                // `*` matches everything: skip the matching work.
                scan.pattern = (value.as_ref() != b"*").then(|| value.clone());
            } else if eq(a, "type") {
                scan.type_name = Some(value.clone());
            } else {
                return Err(errors::SYNTAX);
            }
            i += 2;
        }
        Ok(scan)
    }
}

/// `COPY source destination [DB destination-db] [REPLACE]`.
#[derive(Clone, Debug, PartialEq)]
pub struct CopyArgs {
    /// The destination db, checked against the number of databases.
    pub db: Option<u32>,
    pub replace: bool,
}

impl CopyArgs {
    /// Options are read as Redis' `copyCommand` reads them: left to right,
    /// each `DB n` checked the moment it is read (an integer, within C
    /// `int`, an existing db), so the first bad option decides the error:
    /// `COPY a b DB 99 junk` is "DB index is out of range" and `COPY a b
    /// junk DB 99` a syntax error. The same-key check comes after all
    /// options, in the command.
    pub fn parse(args: &[Bytes], databases: u32) -> Result<CopyArgs, Reply> {
        let mut copy = CopyArgs {
            db: None,
            replace: false,
        };
        let mut i = 3;
        while i < args.len() {
            if eq(&args[i], "replace") {
                copy.replace = true;
            } else if eq(&args[i], "db") && i + 1 < args.len() {
                let n = int_arg(&args[i + 1])?;
                if i32::try_from(n).is_err() {
                    return Err(Reply::static_error(
                        "ERR value is out of range, value must between -2147483648 and 2147483647",
                    ));
                }
                if n < 0 || n >= databases as i64 {
                    return Err(errors::DB_INDEX);
                }
                copy.db = Some(n as u32);
                i += 1;
            } else {
                return Err(errors::SYNTAX);
            }
            i += 1;
        }
        Ok(copy)
    }
}

/// Milliseconds (a TTL, or a deadline for EXPIRETIME) as the seconds TTL
/// and EXPIRETIME reply with: Redis' `ttlGenericCommand` rounds to the
/// nearest second, `(ms + 500) / 1000`, for both, so a key that expires at
/// Unix time 1700000000.600 has EXPIRETIME 1700000001.
pub fn ms_to_reply_seconds(ms: u64) -> i64 {
    (ms.saturating_add(500) / 1000) as i64
}

/// FLUSHDB / FLUSHALL `[ASYNC | SYNC]`.
pub fn parse_flush(args: &[Bytes]) -> Result<(), Reply> {
    match args.get(1) {
        None => Ok(()),
        Some(a) if args.len() == 2 && (eq(a, "async") || eq(a, "sync")) => Ok(()),
        Some(_) => Err(errors::SYNTAX),
    }
}

/// Redis' GETRANGE index arithmetic: the inclusive byte range of a string
/// of `len` bytes, or None when it is empty.
pub fn byte_range(start: i64, end: i64, len: usize) -> Option<(usize, usize)> {
    let len = len as i64;
    if len == 0 || (start < 0 && end < 0 && start > end) {
        return None;
    }
    let mut start = if start < 0 { len + start } else { start };
    let mut end = if end < 0 { len + end } else { end };
    if start < 0 {
        start = 0;
    }
    if end < 0 {
        end = 0;
    }
    if end >= len {
        end = len - 1;
    }
    if start > end {
        return None;
    }
    Some((start as usize, end as usize))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(parts: &[&str]) -> Vec<Bytes> {
        parts
            .iter()
            .map(|p| Bytes::copy_from_slice(p.as_bytes()))
            .collect()
    }

    #[test]
    fn set_options() {
        let s = SetArgs::parse(&line(&["set", "k", "v", "nx", "get", "px", "100"]), 1000)
            .expect("valid");
        assert_eq!(s.condition, SetCondition::IfAbsent);
        assert!(s.get);
        assert_eq!(s.expiry, Some(Expiry::At(1100)));
        assert_eq!(
            SetArgs::parse(&line(&["set", "k", "v", "nx", "xx"]), 0).expect_err("invalid"),
            errors::SYNTAX
        );
        assert_eq!(
            SetArgs::parse(&line(&["set", "k", "v", "ex", "0"]), 0).expect_err("invalid"),
            errors::INVALID_EXPIRE
        );
        assert_eq!(
            SetArgs::parse(&line(&["set", "k", "v", "ex", "x"]), 0).expect_err("invalid"),
            errors::NOT_INTEGER
        );
        assert_eq!(
            SetArgs::parse(&line(&["set", "k", "v", "ex"]), 0).expect_err("invalid"),
            errors::SYNTAX
        );
        assert_eq!(
            SetArgs::parse(&line(&["set", "k", "v", "keepttl", "ex", "1"]), 0)
                .expect_err("invalid"),
            errors::SYNTAX
        );
        assert_eq!(
            SetArgs::parse(&line(&["set", "k", "v", "ex", "9223372036854775807"]), 0)
                .expect_err("invalid"),
            errors::INVALID_EXPIRE
        );
        // Redis lets an option repeat (the last expiry wins, and only it is
        // checked) but not mix with a conflicting one.
        let s = SetArgs::parse(
            &line(&[
                "set", "k", "v", "nx", "nx", "get", "get", "ex", "0", "ex", "10",
            ]),
            5,
        )
        .unwrap();
        assert_eq!(
            (s.condition, s.get, s.expiry),
            (SetCondition::IfAbsent, true, Some(Expiry::At(10_005)))
        );
        assert_eq!(
            SetArgs::parse(&line(&["set", "k", "v", "keepttl", "keepttl"]), 0)
                .unwrap()
                .expiry,
            Some(Expiry::Keep)
        );
        assert_eq!(
            SetArgs::parse(&line(&["set", "k", "v", "ex", "1", "px", "1"]), 0).unwrap_err(),
            errors::SYNTAX
        );
        assert_eq!(
            parse_getex(&line(&["getex", "k", "px", "0", "px", "7"]), 1).unwrap(),
            Some(Expiry::At(8))
        );
        assert_eq!(
            parse_getex(&line(&["getex", "k", "persist", "persist"]), 1).unwrap(),
            Some(Expiry::Persist)
        );
        assert_eq!(
            parse_getex(&line(&["getex", "k", "persist", "ex", "1"]), 1).unwrap_err(),
            errors::SYNTAX
        );
    }

    #[test]
    fn expire_flags() {
        assert!(ExpireFlags::parse(&line(&["nx", "xx"])).is_err());
        assert!(ExpireFlags::parse(&line(&["gt", "lt"])).is_err());
        let gt = ExpireFlags::parse(&line(&["gt"])).expect("valid");
        assert!(!gt.allows(0, 10));
        assert!(gt.allows(5, 10));
        let lt = ExpireFlags::parse(&line(&["lt"])).expect("valid");
        assert!(lt.allows(0, 10));
        assert!(!lt.allows(5, 10));
    }

    #[test]
    fn copy_errors_in_redis_order() {
        let parse = |parts: &[&str]| CopyArgs::parse(&line(parts), 16);
        let out_of_int = Reply::static_error(
            "ERR value is out of range, value must between -2147483648 and 2147483647",
        );
        // Each expected reply is what redis-server gives for the same line.
        assert_eq!(
            parse(&["copy", "a", "b", "db", "99", "foo"]),
            Err(errors::DB_INDEX)
        );
        assert_eq!(
            parse(&["copy", "a", "b", "foo", "db", "99"]),
            Err(errors::SYNTAX)
        );
        assert_eq!(
            parse(&["copy", "a", "b", "db", "abc"]),
            Err(errors::NOT_INTEGER)
        );
        assert_eq!(
            parse(&["copy", "a", "b", "db", "4294967296"]),
            Err(out_of_int.clone())
        );
        assert_eq!(
            parse(&["copy", "a", "b", "db", "-1"]),
            Err(errors::DB_INDEX)
        );
        assert_eq!(parse(&["copy", "a", "b", "db"]), Err(errors::SYNTAX));
        assert_eq!(
            parse(&["copy", "a", "b", "db", "0", "db", "99"]),
            Err(errors::DB_INDEX)
        );
        assert_eq!(
            parse(&["copy", "a", "b", "replace", "replace", "db", "2147483648"]),
            Err(out_of_int)
        );
        assert_eq!(
            parse(&["copy", "a", "b", "db", "3", "replace"]),
            Ok(CopyArgs {
                db: Some(3),
                replace: true
            })
        );
    }

    #[test]
    fn ranges() {
        assert_eq!(byte_range(0, -1, 5), Some((0, 4)));
        assert_eq!(byte_range(-3, -1, 5), Some((2, 4)));
        assert_eq!(byte_range(3, 1, 5), None);
        assert_eq!(byte_range(0, 100, 5), Some((0, 4)));
        assert_eq!(byte_range(-1, -3, 5), None);
        assert_eq!(byte_range(0, 0, 0), None);
    }
}
