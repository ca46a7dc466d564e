//! The generic key commands that apply to keys one by one: DEL, UNLINK,
//! EXISTS, TOUCH, TYPE, the EXPIRE and TTL families, PERSIST, RENAME,
//! RENAMENX, COPY, and SELECT as it runs inside a transaction. The commands
//! that walk a whole db (KEYS, SCAN, RANDOMKEY, DBSIZE, FLUSHDB …) are in
//! [`super::server`].

use bytes::Bytes;
use redynamo_layers::reply::errors;
use redynamo_layers::Reply;

use super::args::{int_arg, ms_to_reply_seconds, parse_expire, CopyArgs, ExpireFlags};
use super::keyspace::{Clock, Keyspace, Ks};
use super::notify::class::GENERIC;
use super::KeyCommand;

/// `DEL key [key ...]` and `UNLINK key [key ...]`.
pub struct Del<'a> {
    keys: &'a [Bytes],
}

impl<'a> KeyCommand<'a> for Del<'a> {
    fn parse(a: &'a [Bytes], _: &mut impl Clock) -> Result<Self, Reply> {
        Ok(Del { keys: &a[1..] })
    }
    fn apply<K: Keyspace>(self, ks: &mut K) -> Ks<Reply> {
        let mut n = 0;
        for key in self.keys {
            if ks.delete(key)? {
                ks.notify(GENERIC, "del", key);
                n += 1;
            }
        }
        Ok(Reply::Integer(n))
    }
}

/// `EXISTS key [key ...]` and `TOUCH key [key ...]`: how many are live (a
/// key named twice counts twice, as in Redis).
pub struct Exists<'a> {
    keys: &'a [Bytes],
}

impl<'a> KeyCommand<'a> for Exists<'a> {
    fn parse(a: &'a [Bytes], _: &mut impl Clock) -> Result<Self, Reply> {
        Ok(Exists { keys: &a[1..] })
    }
    fn apply<K: Keyspace>(self, ks: &mut K) -> Ks<Reply> {
        let mut n = 0;
        for key in self.keys {
            n += ks.exists(key)? as i64;
        }
        Ok(Reply::Integer(n))
    }
}

/// `TYPE key`.
pub struct Type<'a> {
    key: &'a [u8],
}

impl<'a> KeyCommand<'a> for Type<'a> {
    fn parse(a: &'a [Bytes], _: &mut impl Clock) -> Result<Self, Reply> {
        Ok(Type { key: &a[1] })
    }
    fn apply<K: Keyspace>(self, ks: &mut K) -> Ks<Reply> {
        Ok(match ks.lookup(self.key)? {
            Some(head) => Reply::status(head.kind.type_name()),
            None => Reply::status("none"),
        })
    }
}

/// EXPIRE, PEXPIRE, EXPIREAT, PEXPIREAT with NX | XX | GT | LT.
pub struct Expire<'a> {
    key: &'a [u8],
    /// Unix ms; may be in the past (the key is then deleted) or negative.
    at: i64,
    flags: ExpireFlags,
}

impl<'a> KeyCommand<'a> for Expire<'a> {
    fn parse(a: &'a [Bytes], clock: &mut impl Clock) -> Result<Self, Reply> {
        let (at, flags) = parse_expire(a, clock.now())?;
        Ok(Expire {
            key: &a[1],
            at,
            flags,
        })
    }
    fn apply<K: Keyspace>(self, ks: &mut K) -> Ks<Reply> {
        let Some(current) = ks.lookup(self.key)?.map(|h| h.expire_at) else {
            return Ok(Reply::Integer(0));
        };
        let new = self.at.max(0) as u64;
        if !self.flags.allows(current, new) {
            return Ok(Reply::Integer(0));
        }
        if self.at <= ks.now() as i64 {
            ks.delete(self.key)?;
            ks.notify(GENERIC, "del", self.key);
        } else {
            ks.set_expire(self.key, new)?;
            ks.notify(GENERIC, "expire", self.key);
        }
        Ok(Reply::Integer(1))
    }
}

/// What a TTL-family command reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TtlKind {
    /// TTL: seconds left, rounded to the nearest.
    Seconds,
    /// PTTL: milliseconds left.
    Millis,
    /// EXPIRETIME: the deadline as a Unix time in seconds, rounded to the
    /// nearest like TTL.
    UnixSeconds,
    /// PEXPIRETIME: the deadline as a Unix time in milliseconds.
    UnixMillis,
}

/// TTL, PTTL, EXPIRETIME, PEXPIRETIME.
pub struct Ttl<'a> {
    key: &'a [u8],
    kind: TtlKind,
}

impl<'a> Ttl<'a> {
    pub fn new(a: &'a [Bytes], kind: TtlKind) -> Ttl<'a> {
        Ttl { key: &a[1], kind }
    }

    pub fn apply<K: Keyspace>(self, ks: &mut K) -> Ks<Reply> {
        let now = ks.now();
        let Some(at) = ks.read(self.key)?.map(|h| h.expire_at) else {
            return Ok(Reply::Integer(-2));
        };
        if at == 0 {
            return Ok(Reply::Integer(-1));
        }
        let left = at.saturating_sub(now);
        Ok(Reply::Integer(match self.kind {
            TtlKind::Seconds => ms_to_reply_seconds(left),
            TtlKind::Millis => left as i64,
            TtlKind::UnixSeconds => ms_to_reply_seconds(at),
            TtlKind::UnixMillis => at as i64,
        }))
    }
}

/// `PERSIST key`.
pub struct Persist<'a> {
    key: &'a [u8],
}

impl<'a> KeyCommand<'a> for Persist<'a> {
    fn parse(a: &'a [Bytes], _: &mut impl Clock) -> Result<Self, Reply> {
        Ok(Persist { key: &a[1] })
    }
    fn apply<K: Keyspace>(self, ks: &mut K) -> Ks<Reply> {
        match ks.lookup(self.key)?.map(|h| h.expire_at) {
            Some(at) if at != 0 => {
                ks.set_expire(self.key, 0)?;
                ks.notify(GENERIC, "persist", self.key);
                Ok(Reply::Integer(1))
            }
            _ => Ok(Reply::Integer(0)),
        }
    }
}

/// `RENAME key newkey` and `RENAMENX key newkey`.
pub struct Rename<'a> {
    src: &'a [u8],
    dst: &'a [u8],
    /// RENAMENX: only when `dst` does not exist; replies with integers.
    nx: bool,
}

impl<'a> Rename<'a> {
    pub fn new(a: &'a [Bytes], nx: bool) -> Rename<'a> {
        Rename {
            src: &a[1],
            dst: &a[2],
            nx,
        }
    }

    pub fn apply<K: Keyspace>(self, ks: &mut K) -> Ks<Reply> {
        if !ks.exists(self.src)? {
            return Ok(errors::NO_SUCH_KEY);
        }
        if self.src == self.dst {
            return Ok(if self.nx {
                Reply::Integer(0)
            } else {
                Reply::ok()
            });
        }
        if self.nx && ks.exists(self.dst)? {
            return Ok(Reply::Integer(0));
        }
        let db = ks.db();
        ks.copy(self.src, db, self.dst)?;
        ks.delete(self.src)?;
        ks.notify(GENERIC, "rename_from", self.src);
        ks.notify(GENERIC, "rename_to", self.dst);
        Ok(if self.nx {
            Reply::Integer(1)
        } else {
            Reply::ok()
        })
    }
}

/// `COPY source destination [DB destination-db] [REPLACE]`.
pub struct Copy<'a> {
    src: &'a [u8],
    dst: &'a [u8],
    /// The arguments, parsed in `apply`: checking `DB n` needs the number
    /// of databases, and Redis checks it as it reads the options.
    args: &'a [Bytes],
}

impl<'a> KeyCommand<'a> for Copy<'a> {
    fn parse(a: &'a [Bytes], _: &mut impl Clock) -> Result<Self, Reply> {
        Ok(Copy {
            src: &a[1],
            dst: &a[2],
            args: a,
        })
    }
    fn apply<K: Keyspace>(self, ks: &mut K) -> Ks<Reply> {
        let args = match CopyArgs::parse(self.args, ks.databases()) {
            Ok(args) => args,
            Err(e) => return Ok(e),
        };
        let home = ks.db();
        let target = args.db.unwrap_or(home);
        if target == home && self.src == self.dst {
            return Ok(Reply::static_error(
                "ERR source and destination objects are the same",
            ));
        }
        if !ks.exists(self.src)? {
            return Ok(Reply::Integer(0));
        }
        ks.select(target);
        let taken = ks.exists(self.dst);
        ks.select(home);
        if taken? && !args.replace {
            return Ok(Reply::Integer(0));
        }
        ks.copy(self.src, target, self.dst)?;
        ks.select(target);
        ks.notify(GENERIC, "copy_to", self.dst);
        ks.select(home);
        Ok(Reply::Integer(1))
    }
}

/// `SELECT index` inside a transaction: moves the keyspace to the db for
/// the commands that follow (the connection applies it to its session
/// after EXEC). Outside a transaction SELECT is a session command.
pub struct Select {
    db: i64,
}

impl<'a> KeyCommand<'a> for Select {
    fn parse(a: &'a [Bytes], _: &mut impl Clock) -> Result<Self, Reply> {
        Ok(Select {
            db: int_arg(&a[1])?,
        })
    }
    fn apply<K: Keyspace>(self, ks: &mut K) -> Ks<Reply> {
        if self.db < 0 || self.db >= ks.databases() as i64 {
            return Ok(errors::DB_INDEX);
        }
        ks.select(self.db as u32);
        Ok(Reply::ok())
    }
}
