//! The string commands: GET, SET and its variants, the INCR family, APPEND,
//! STRLEN, GETRANGE, SETRANGE, MGET, MSET, MSETNX.
//!
//! Each command is a struct parsed from its arguments ([`KeyCommand::parse`],
//! which gives Redis' argument errors) and applied to a [`Keyspace`]
//! ([`KeyCommand::apply`], which gives everything else). The table has
//! checked arity before `parse` runs.

use bytes::Bytes;
use redynamo_layers::reply::errors;
use redynamo_layers::Reply;

use super::args::{byte_range, int_arg, parse_getex, parse_setex, Expiry, SetArgs, SetCondition};
use super::keyspace::{Clock, Keyspace, Ks};
use super::notify::class::{GENERIC, STRING};
use super::KeyCommand;
use crate::util::longdouble::{incr_by_float, FloatError};
use crate::util::num::parse_i64;

/// The string at `key` copied out for a reply, for a read command.
fn read_string<K: Keyspace>(ks: &mut K, key: &[u8]) -> Ks<Result<Option<Bytes>, Reply>> {
    Ok(match ks.read(key)? {
        None => Ok(None),
        Some(head) => head.string().map(|v| Some(Bytes::copy_from_slice(v))),
    })
}

/// `GET key`.
pub struct Get<'a> {
    key: &'a [u8],
}

impl<'a> KeyCommand<'a> for Get<'a> {
    fn parse(a: &'a [Bytes], _: &mut impl Clock) -> Result<Self, Reply> {
        Ok(Get { key: &a[1] })
    }
    fn apply<K: Keyspace>(self, ks: &mut K) -> Ks<Reply> {
        Ok(match read_string(ks, self.key)? {
            Ok(Some(v)) => Reply::Bulk(v),
            Ok(None) => Reply::Null,
            Err(e) => e,
        })
    }
}

/// `SET key value [NX | XX] [GET] [EX s | PX ms | EXAT t | PXAT t | KEEPTTL]`.
pub enum Set<'a> {
    /// `SET key value`: no condition, no GET, clears any deadline,
    /// overwrites a key of any type. Needs no read of the key: on DynamoDB
    /// it is a write that depends on nothing.
    Plain {
        key: &'a [u8],
        value: &'a [u8],
    },
    WithOptions(SetArgs),
}

impl<'a> KeyCommand<'a> for Set<'a> {
    fn parse(a: &'a [Bytes], clock: &mut impl Clock) -> Result<Self, Reply> {
        if a.len() == 3 {
            return Ok(Set::Plain {
                key: &a[1],
                value: &a[2],
            });
        }
        SetArgs::parse(a, clock.now()).map(Set::WithOptions)
    }

    fn apply<K: Keyspace>(self, ks: &mut K) -> Ks<Reply> {
        let args = match self {
            Set::Plain { key, value } => {
                ks.put_string(key, value, 0)?;
                ks.notify(STRING, "set", key);
                return Ok(Reply::ok());
            }
            Set::WithOptions(args) => args,
        };
        // A SET that neither reads nor keeps anything of the old value is a
        // plain overwrite (with a deadline): no read of the key either.
        if args.condition == SetCondition::Always && !args.get {
            match args.expiry {
                None | Some(Expiry::Persist) => {
                    ks.put_string(&args.key, &args.value, 0)?;
                    ks.notify(STRING, "set", &args.key);
                    return Ok(Reply::ok());
                }
                Some(Expiry::At(at)) => {
                    ks.put_string(&args.key, &args.value, at)?;
                    ks.notify(STRING, "set", &args.key);
                    ks.notify(GENERIC, "expire", &args.key);
                    return Ok(Reply::ok());
                }
                Some(Expiry::Keep) => {}
            }
        }
        // (old value if GET asked for it, old deadline); None: absent.
        let old = match ks.lookup(&args.key)? {
            None => None,
            Some(head) if args.get => match head.string() {
                Ok(v) => Some((Some(Bytes::copy_from_slice(v)), head.expire_at)),
                Err(e) => return Ok(e),
            },
            // SET without GET overwrites a key of any type.
            Some(head) => Some((None, head.expire_at)),
        };
        let blocked = match args.condition {
            SetCondition::Always => false,
            SetCondition::IfAbsent => old.is_some(),
            SetCondition::IfPresent => old.is_none(),
        };
        let old_reply = |old: &Option<(Option<Bytes>, u64)>| match old {
            Some((Some(v), _)) => Reply::Bulk(v.clone()),
            _ => Reply::Null,
        };
        if blocked {
            return Ok(if args.get {
                old_reply(&old)
            } else {
                Reply::Null
            });
        }
        let expire_at = match args.expiry {
            None | Some(Expiry::Persist) => 0,
            Some(Expiry::At(at)) => at,
            Some(Expiry::Keep) => old.as_ref().map_or(0, |(_, at)| *at),
        };
        ks.put_string(&args.key, &args.value, expire_at)?;
        ks.notify(STRING, "set", &args.key);
        if matches!(args.expiry, Some(Expiry::At(_))) {
            ks.notify(GENERIC, "expire", &args.key);
        }
        Ok(if args.get {
            old_reply(&old)
        } else {
            Reply::ok()
        })
    }
}

/// `SETNX key value`.
pub struct SetNx<'a> {
    key: &'a [u8],
    value: &'a [u8],
}

impl<'a> KeyCommand<'a> for SetNx<'a> {
    fn parse(a: &'a [Bytes], _: &mut impl Clock) -> Result<Self, Reply> {
        Ok(SetNx {
            key: &a[1],
            value: &a[2],
        })
    }
    fn apply<K: Keyspace>(self, ks: &mut K) -> Ks<Reply> {
        if ks.exists(self.key)? {
            return Ok(Reply::Integer(0));
        }
        ks.put_string(self.key, self.value, 0)?;
        ks.notify(STRING, "set", self.key);
        Ok(Reply::Integer(1))
    }
}

/// `SETEX key seconds value` and `PSETEX key milliseconds value`.
pub struct SetEx<'a> {
    key: &'a [u8],
    value: &'a [u8],
    expire_at: u64,
}

impl<'a> SetEx<'a> {
    fn parse_unit(a: &'a [Bytes], clock: &mut impl Clock, millis: bool) -> Result<Self, Reply> {
        let cmd = if millis { "psetex" } else { "setex" };
        Ok(SetEx {
            key: &a[1],
            value: &a[3],
            expire_at: parse_setex(cmd, &a[2], millis, clock.now())?,
        })
    }
}

/// SETEX: a [`SetEx`] in seconds.
pub struct SetExSeconds<'a>(SetEx<'a>);
/// PSETEX: a [`SetEx`] in milliseconds.
pub struct SetExMillis<'a>(SetEx<'a>);

impl<'a> KeyCommand<'a> for SetExSeconds<'a> {
    fn parse(a: &'a [Bytes], clock: &mut impl Clock) -> Result<Self, Reply> {
        SetEx::parse_unit(a, clock, false).map(SetExSeconds)
    }
    fn apply<K: Keyspace>(self, ks: &mut K) -> Ks<Reply> {
        self.0.apply(ks)
    }
}

impl<'a> KeyCommand<'a> for SetExMillis<'a> {
    fn parse(a: &'a [Bytes], clock: &mut impl Clock) -> Result<Self, Reply> {
        SetEx::parse_unit(a, clock, true).map(SetExMillis)
    }
    fn apply<K: Keyspace>(self, ks: &mut K) -> Ks<Reply> {
        self.0.apply(ks)
    }
}

impl SetEx<'_> {
    fn apply<K: Keyspace>(self, ks: &mut K) -> Ks<Reply> {
        ks.put_string(self.key, self.value, self.expire_at)?;
        ks.notify(STRING, "set", self.key);
        ks.notify(GENERIC, "expire", self.key);
        Ok(Reply::ok())
    }
}

/// `GETSET key value`.
pub struct GetSet<'a> {
    key: &'a [u8],
    value: &'a [u8],
}

impl<'a> KeyCommand<'a> for GetSet<'a> {
    fn parse(a: &'a [Bytes], _: &mut impl Clock) -> Result<Self, Reply> {
        Ok(GetSet {
            key: &a[1],
            value: &a[2],
        })
    }
    fn apply<K: Keyspace>(self, ks: &mut K) -> Ks<Reply> {
        let old = match ks.lookup(self.key)? {
            None => None,
            Some(head) => match head.string() {
                Ok(v) => Some(Bytes::copy_from_slice(v)),
                Err(e) => return Ok(e),
            },
        };
        ks.put_string(self.key, self.value, 0)?;
        ks.notify(STRING, "set", self.key);
        Ok(old.map_or(Reply::Null, Reply::Bulk))
    }
}

/// `GETDEL key`.
pub struct GetDel<'a> {
    key: &'a [u8],
}

impl<'a> KeyCommand<'a> for GetDel<'a> {
    fn parse(a: &'a [Bytes], _: &mut impl Clock) -> Result<Self, Reply> {
        Ok(GetDel { key: &a[1] })
    }
    fn apply<K: Keyspace>(self, ks: &mut K) -> Ks<Reply> {
        Ok(match read_string(ks, self.key)? {
            Ok(Some(v)) => {
                ks.delete(self.key)?;
                ks.notify(GENERIC, "del", self.key);
                Reply::Bulk(v)
            }
            Ok(None) => Reply::Null,
            Err(e) => e,
        })
    }
}

/// `GETEX key [EX s | PX ms | EXAT t | PXAT t | PERSIST]`.
pub struct GetEx<'a> {
    key: &'a [u8],
    /// Redis checks the options' syntax, then looks the key up, and only
    /// then the expiry value: GETEX of a missing key with `EX abc` is nil.
    /// So a value error waits here until the key is known to exist.
    expiry: Result<Option<Expiry>, Reply>,
}

impl<'a> KeyCommand<'a> for GetEx<'a> {
    fn parse(a: &'a [Bytes], clock: &mut impl Clock) -> Result<Self, Reply> {
        let expiry = parse_getex(a, clock.now());
        if let Err(e) = &expiry {
            if *e == errors::SYNTAX {
                return Err(e.clone());
            }
        }
        Ok(GetEx { key: &a[1], expiry })
    }
    fn apply<K: Keyspace>(self, ks: &mut K) -> Ks<Reply> {
        let (value, current) = match ks.read(self.key)? {
            None => return Ok(Reply::Null),
            Some(head) => match head.string() {
                Ok(v) => (Bytes::copy_from_slice(v), head.expire_at),
                Err(e) => return Ok(e),
            },
        };
        let expiry = match self.expiry {
            Ok(e) => e,
            Err(e) => return Ok(e),
        };
        match expiry {
            Some(Expiry::At(at)) => {
                ks.set_expire(self.key, at)?;
                // A deadline already past deleted the key, as in Redis.
                let event = if ks.exists(self.key)? {
                    "expire"
                } else {
                    "del"
                };
                ks.notify(GENERIC, event, self.key);
            }
            Some(Expiry::Persist | Expiry::Keep) if current != 0 => {
                ks.set_expire(self.key, 0)?;
                ks.notify(GENERIC, "persist", self.key);
            }
            None | Some(Expiry::Persist | Expiry::Keep) => {}
        }
        Ok(Reply::Bulk(value))
    }
}

/// `MGET key [key ...]`.
pub struct MGet<'a> {
    keys: &'a [Bytes],
}

impl<'a> KeyCommand<'a> for MGet<'a> {
    fn parse(a: &'a [Bytes], _: &mut impl Clock) -> Result<Self, Reply> {
        Ok(MGet { keys: &a[1..] })
    }
    fn apply<K: Keyspace>(self, ks: &mut K) -> Ks<Reply> {
        let mut out = Vec::with_capacity(self.keys.len());
        for key in self.keys {
            out.push(match read_string(ks, key)? {
                Ok(Some(v)) => Reply::Bulk(v),
                _ => Reply::Null,
            });
        }
        Ok(Reply::Array(out))
    }
}

/// The key/value pairs of MSET and MSETNX; an odd count is an arity error
/// (the table's arity is only a minimum).
fn pairs<'a>(a: &'a [Bytes], name: &str) -> Result<&'a [Bytes], Reply> {
    if a.len() % 2 == 0 {
        return Err(redynamo_layers::command::wrong_arity(name));
    }
    Ok(&a[1..])
}

/// `MSET key value [key value ...]`.
pub struct MSet<'a> {
    pairs: &'a [Bytes],
}

impl<'a> KeyCommand<'a> for MSet<'a> {
    fn parse(a: &'a [Bytes], _: &mut impl Clock) -> Result<Self, Reply> {
        pairs(a, "mset").map(|pairs| MSet { pairs })
    }
    fn apply<K: Keyspace>(self, ks: &mut K) -> Ks<Reply> {
        for pair in self.pairs.chunks(2) {
            ks.put_string(&pair[0], &pair[1], 0)?;
            ks.notify(STRING, "set", &pair[0]);
        }
        Ok(Reply::ok())
    }
}

/// `MSETNX key value [key value ...]`.
pub struct MSetNx<'a> {
    pairs: &'a [Bytes],
}

impl<'a> KeyCommand<'a> for MSetNx<'a> {
    fn parse(a: &'a [Bytes], _: &mut impl Clock) -> Result<Self, Reply> {
        pairs(a, "msetnx").map(|pairs| MSetNx { pairs })
    }
    fn apply<K: Keyspace>(self, ks: &mut K) -> Ks<Reply> {
        for pair in self.pairs.chunks(2) {
            if ks.exists(&pair[0])? {
                return Ok(Reply::Integer(0));
            }
        }
        for pair in self.pairs.chunks(2) {
            ks.put_string(&pair[0], &pair[1], 0)?;
            ks.notify(STRING, "set", &pair[0]);
        }
        Ok(Reply::Integer(1))
    }
}

/// INCR, DECR, INCRBY, DECRBY: add `by` to the integer at `key`.
pub struct IncrBy<'a> {
    key: &'a [u8],
    by: i64,
}

impl<'a> IncrBy<'a> {
    /// INCR and DECR.
    pub fn one(a: &'a [Bytes], by: i64) -> IncrBy<'a> {
        IncrBy { key: &a[1], by }
    }

    /// INCRBY.
    pub fn parse_incrby(a: &'a [Bytes]) -> Result<IncrBy<'a>, Reply> {
        Ok(IncrBy {
            key: &a[1],
            by: int_arg(&a[2])?,
        })
    }

    /// DECRBY: the negated amount, which i64::MIN does not have.
    pub fn parse_decrby(a: &'a [Bytes]) -> Result<IncrBy<'a>, Reply> {
        match int_arg(&a[2])? {
            i64::MIN => Err(Reply::static_error("ERR decrement would overflow")),
            n => Ok(IncrBy { key: &a[1], by: -n }),
        }
    }

    pub fn apply<K: Keyspace>(self, ks: &mut K) -> Ks<Reply> {
        let by = self.by;
        let next = ks.update_integer(self.key, |head| {
            let current = match head {
                None => 0,
                Some(head) => parse_i64(head.string()?).ok_or(errors::NOT_INTEGER)?,
            };
            current.checked_add(by).ok_or(errors::OVERFLOW)
        })?;
        Ok(match next {
            Ok(n) => {
                ks.notify(STRING, "incrby", self.key);
                Reply::Integer(n)
            }
            Err(e) => e,
        })
    }
}

/// `INCRBYFLOAT key increment`.
pub struct IncrByFloat<'a> {
    key: &'a [u8],
    by: &'a [u8],
}

impl<'a> KeyCommand<'a> for IncrByFloat<'a> {
    fn parse(a: &'a [Bytes], _: &mut impl Clock) -> Result<Self, Reply> {
        Ok(IncrByFloat {
            key: &a[1],
            by: &a[2],
        })
    }
    fn apply<K: Keyspace>(self, ks: &mut K) -> Ks<Reply> {
        // Redis reads the stored value before the increment: a non-float
        // value is reported even when the increment is bad too. The sum is
        // Redis' x87 `long double` one (`util::longdouble`).
        let (text, expire_at) = match ks.lookup(self.key)? {
            None => (incr_by_float(None, self.by), 0),
            Some(head) => match head.string() {
                Ok(v) => (incr_by_float(Some(v), self.by), head.expire_at),
                Err(e) => return Ok(e),
            },
        };
        let text = match text {
            Ok(text) => text,
            Err(FloatError::NotAFloat) => return Ok(errors::NOT_FLOAT),
            Err(FloatError::NanOrInfinity) => {
                return Ok(Reply::static_error(
                    "ERR increment would produce NaN or Infinity",
                ))
            }
        };
        ks.put_string(self.key, text.as_bytes(), expire_at)?;
        ks.notify(STRING, "incrbyfloat", self.key);
        Ok(Reply::Bulk(Bytes::from(text)))
    }
}

/// `APPEND key value`.
pub struct Append<'a> {
    key: &'a [u8],
    value: &'a [u8],
}

impl<'a> KeyCommand<'a> for Append<'a> {
    fn parse(a: &'a [Bytes], _: &mut impl Clock) -> Result<Self, Reply> {
        Ok(Append {
            key: &a[1],
            value: &a[2],
        })
    }
    fn apply<K: Keyspace>(self, ks: &mut K) -> Ks<Reply> {
        let max_len = ks.max_string_len();
        let current = match ks.lookup(self.key)? {
            None => 0,
            Some(head) => match head.string() {
                Ok(v) => v.len(),
                Err(e) => return Ok(e),
            },
        };
        if current + self.value.len() > max_len {
            return Ok(errors::STRING_TOO_LONG);
        }
        let len = ks.append_string(self.key, self.value)?;
        ks.notify(STRING, "append", self.key);
        Ok(Reply::Integer(len as i64))
    }
}

/// `STRLEN key`.
pub struct StrLen<'a> {
    key: &'a [u8],
}

impl<'a> KeyCommand<'a> for StrLen<'a> {
    fn parse(a: &'a [Bytes], _: &mut impl Clock) -> Result<Self, Reply> {
        Ok(StrLen { key: &a[1] })
    }
    fn apply<K: Keyspace>(self, ks: &mut K) -> Ks<Reply> {
        Ok(match ks.read(self.key)? {
            None => Reply::Integer(0),
            Some(head) => match head.string() {
                Ok(v) => Reply::Integer(v.len() as i64),
                Err(e) => e,
            },
        })
    }
}

/// `GETRANGE key start end` (and SUBSTR).
pub struct GetRange<'a> {
    key: &'a [u8],
    start: i64,
    end: i64,
}

impl<'a> KeyCommand<'a> for GetRange<'a> {
    fn parse(a: &'a [Bytes], _: &mut impl Clock) -> Result<Self, Reply> {
        Ok(GetRange {
            key: &a[1],
            start: int_arg(&a[2])?,
            end: int_arg(&a[3])?,
        })
    }
    fn apply<K: Keyspace>(self, ks: &mut K) -> Ks<Reply> {
        Ok(match ks.read(self.key)? {
            None => Reply::Bulk(Bytes::new()),
            Some(head) => match head.string() {
                Ok(v) => match byte_range(self.start, self.end, v.len()) {
                    Some((s, e)) => Reply::bulk(&v[s..=e]),
                    None => Reply::Bulk(Bytes::new()),
                },
                Err(e) => e,
            },
        })
    }
}

/// `SETRANGE key offset value`.
pub struct SetRange<'a> {
    key: &'a [u8],
    offset: usize,
    value: &'a [u8],
}

impl<'a> KeyCommand<'a> for SetRange<'a> {
    fn parse(a: &'a [Bytes], _: &mut impl Clock) -> Result<Self, Reply> {
        let offset = match int_arg(&a[2])? {
            n if n < 0 => return Err(Reply::static_error("ERR offset is out of range")),
            n => n as usize,
        };
        Ok(SetRange {
            key: &a[1],
            offset,
            value: &a[3],
        })
    }
    fn apply<K: Keyspace>(self, ks: &mut K) -> Ks<Reply> {
        let max_len = ks.max_string_len();
        let (buf, expire_at) = {
            let current = match ks.lookup(self.key)? {
                None if self.value.is_empty() => return Ok(Reply::Integer(0)),
                None => None,
                Some(head) => match head.string() {
                    Ok(v) => Some((v, head.expire_at)),
                    Err(e) => return Ok(e),
                },
            };
            let (current, expire_at) = current.unwrap_or((&[], 0));
            if self.value.is_empty() {
                return Ok(Reply::Integer(current.len() as i64));
            }
            if self.offset.saturating_add(self.value.len()) > max_len {
                return Ok(errors::STRING_TOO_LONG);
            }
            let len = current.len().max(self.offset + self.value.len());
            let mut buf = vec![0u8; len];
            buf[..current.len()].copy_from_slice(current);
            (buf, expire_at)
        };
        let mut buf = buf;
        buf[self.offset..self.offset + self.value.len()].copy_from_slice(self.value);
        ks.put_string(self.key, &buf, expire_at)?;
        ks.notify(STRING, "setrange", self.key);
        Ok(Reply::Integer(buf.len() as i64))
    }
}
