//! Command execution for the memory store. Every function runs inside the
//! store's critical section and returns the reply; none blocks.

use std::cell::Cell;
use std::sync::Arc;

use bytes::Bytes;
use redynamo_layers::reply::errors;
use redynamo_layers::{ClientInfo, Command, Reply, Request};

use super::db::Db;
use super::entry::{Entry, Value};
use super::{MemoryConfig, State};
use crate::commands::{
    byte_range, int_arg, ms_to_reply_seconds, parse_expire, parse_flush, parse_getex, parse_setex,
    CopyArgs, ExpireFlags, Expiry, ScanArgs, SetArgs, SetCondition,
};
use crate::util::glob;
use crate::util::longdouble::{incr_by_float, FloatError};
use crate::util::now_ms;
use crate::util::num::parse_i64;

/// The execution context of one command.
struct Ctx<'a> {
    state: &'a mut State,
    config: &'a MemoryConfig,
    db: u32,
    /// Unix milliseconds, read on first use: most commands on keys without
    /// a deadline never need it.
    now: Cell<u64>,
    client: &'a Arc<ClientInfo>,
}

/// Run one request. The DynamoDB backend runs this same function on a
/// scratch keyspace of the items it loaded (`store::dynamo::scratch`), so
/// a change to a command's semantics here changes both backends.
///
/// `now` is the command's clock in Unix milliseconds, or None to read the
/// system clock when (and if) the command first needs it.
pub(crate) fn execute(
    state: &mut State,
    config: &MemoryConfig,
    req: &Request,
    now: Option<u64>,
) -> Reply {
    let mut ctx = Ctx {
        state,
        config,
        db: req.db,
        now: Cell::new(now.unwrap_or(0)),
        client: &req.client,
    };
    if req.command.spec.name == "exec" {
        return exec_transaction(&mut ctx, &req.transaction);
    }
    dispatch(&mut ctx, &req.command)
}

fn dispatch(ctx: &mut Ctx<'_>, cmd: &Command) -> Reply {
    let a = &cmd.args[..];
    match cmd.spec.name {
        // strings
        "get" => get(ctx, a),
        "set" => set(ctx, a),
        "setnx" => setnx(ctx, a),
        "setex" => setex(ctx, a, false),
        "psetex" => setex(ctx, a, true),
        "getset" => getset(ctx, a),
        "getdel" => getdel(ctx, a),
        "getex" => getex(ctx, a),
        "mget" => mget(ctx, a),
        "mset" => mset(ctx, a),
        "msetnx" => msetnx(ctx, a),
        "incr" => incr_by(ctx, &a[1], 1),
        "decr" => incr_by(ctx, &a[1], -1),
        "incrby" => match int_arg(&a[2]) {
            Ok(n) => incr_by(ctx, &a[1], n),
            Err(e) => e,
        },
        "decrby" => match int_arg(&a[2]) {
            Ok(i64::MIN) => Reply::static_error("ERR decrement would overflow"),
            Ok(n) => incr_by(ctx, &a[1], -n),
            Err(e) => e,
        },
        "incrbyfloat" => incrbyfloat(ctx, a),
        "append" => append(ctx, a),
        "strlen" => strlen(ctx, a),
        "getrange" | "substr" => getrange(ctx, a),
        "setrange" => setrange(ctx, a),
        // keys
        "del" | "unlink" => del(ctx, a),
        "exists" => exists(ctx, a),
        "touch" => exists(ctx, a),
        "type" => type_of(ctx, a),
        "expire" | "pexpire" | "expireat" | "pexpireat" => expire(ctx, a),
        "ttl" => ttl(ctx, a, TtlKind::Seconds),
        "pttl" => ttl(ctx, a, TtlKind::Millis),
        "expiretime" => ttl(ctx, a, TtlKind::UnixSeconds),
        "pexpiretime" => ttl(ctx, a, TtlKind::UnixMillis),
        "persist" => persist(ctx, a),
        "rename" => rename(ctx, a, false),
        "renamenx" => rename(ctx, a, true),
        "copy" => copy(ctx, a),
        "keys" => keys(ctx, a),
        "scan" => scan(ctx, a),
        "randomkey" => randomkey(ctx),
        // databases
        "dbsize" => Reply::Integer(ctx.db().len() as i64),
        "flushdb" => flushdb(ctx, a),
        "flushall" => flushall(ctx, a),
        "swapdb" => swapdb(ctx, a),
        "select" => select(ctx, a),
        // transactions
        "watch" => watch(ctx, a),
        "unwatch" => {
            ctx.state.watches.unwatch(ctx.client.id);
            Reply::ok()
        }
        other => Reply::error(format!(
            "ERR command '{other}' is not supported by the memory backend"
        )),
    }
}

impl Ctx<'_> {
    /// The command's clock: one reading of the system clock, taken on
    /// first use, so every check in one command sees the same instant.
    fn now(&self) -> u64 {
        match self.now.get() {
            0 => {
                let now = now_ms();
                self.now.set(now);
                now
            }
            now => now,
        }
    }

    fn db(&mut self) -> &mut Db {
        &mut self.state.dbs[self.db as usize]
    }

    /// Delete `key` if its deadline has passed. Returns true when it did.
    fn expire_if_needed(&mut self, key: &[u8]) -> bool {
        // Only a key with a deadline can have expired, and every deadline
        // is in the volatile index: a db without one needs no lookup here.
        if self.state.dbs[self.db as usize].volatile_len() == 0 {
            return false;
        }
        let now = self.now();
        let expired = self.db().get(key).is_some_and(|e| e.is_expired(now));
        if expired {
            if let Some(e) = self.db().remove(key) {
                self.state.stats.expired_keys += 1;
                let db = self.db;
                self.state.watches.touch(db, e.key());
            }
        }
        expired
    }

    /// The live entry for `key` (expired keys are deleted first).
    fn lookup(&mut self, key: &[u8]) -> Option<&Entry> {
        self.expire_if_needed(key);
        self.state.dbs[self.db as usize].get(key)
    }

    /// A read of `key` for a read command: counts a hit or a miss.
    fn read(&mut self, key: &[u8]) -> Option<&Entry> {
        self.expire_if_needed(key);
        let State { dbs, stats, .. } = &mut *self.state;
        let found = dbs[self.db as usize].get(key);
        if found.is_some() {
            stats.keyspace_hits += 1;
        } else {
            stats.keyspace_misses += 1;
        }
        found
    }

    /// The string at `key`, copied out for a reply; `Ok(None)` when absent,
    /// WRONGTYPE otherwise.
    fn read_str(&mut self, key: &[u8]) -> Result<Option<Bytes>, Reply> {
        match self.read(key).map(Entry::value) {
            None => Ok(None),
            Some(Value::Str(s)) => Ok(Some(Bytes::copy_from_slice(s))),
        }
    }

    /// The string at `key` and its deadline, borrowed, without touching
    /// hit/miss counters (for writes, which mostly need no copy of it).
    fn peek_str(&mut self, key: &[u8]) -> Result<Option<(&[u8], u64)>, Reply> {
        match self.lookup(key) {
            None => Ok(None),
            Some(e) => match e.value() {
                Value::Str(s) => Ok(Some((s, e.expire_at()))),
            },
        }
    }

    /// Store the string `value` under `key`: in place when the key already
    /// holds a string of the same size and deadline, as a new entry
    /// otherwise ([`Ctx::store`]).
    fn store_string(&mut self, key: &[u8], value: &[u8], expire_at: u64) {
        let db = self.db;
        let live = expire_at == 0 || expire_at > self.now();
        if live && self.db().overwrite_string(key, value, expire_at) {
            self.state.watches.touch(db, key);
            return;
        }
        self.store(string(key, value, expire_at));
    }

    /// Store `entry`. A deadline already in the past deletes the key
    /// instead, as Redis does.
    fn store(&mut self, entry: Entry) {
        let db = self.db;
        self.state.watches.touch(db, entry.key());
        if entry.expire_at() != 0 && entry.is_expired(self.now()) {
            self.db().remove(entry.key());
        } else {
            self.db().insert(entry);
        }
    }

    fn delete(&mut self, key: &[u8]) -> bool {
        self.expire_if_needed(key);
        match self.db().remove(key) {
            Some(e) => {
                let db = self.db;
                self.state.watches.touch(db, e.key());
                true
            }
            None => false,
        }
    }

    fn db_index(&self, n: i64) -> Result<u32, Reply> {
        if n < 0 || n >= self.state.dbs.len() as i64 {
            Err(errors::DB_INDEX)
        } else {
            Ok(n as u32)
        }
    }
}

/// A string entry. Key and value are copied out of the network buffer
/// they arrived in, into the entry's one exact-size allocation, so a stored
/// key never pins a whole read buffer.
fn string(key: &[u8], value: &[u8], expire_at: u64) -> Entry {
    Entry::string(key, &[value], expire_at)
}

fn get(ctx: &mut Ctx<'_>, a: &[Bytes]) -> Reply {
    match ctx.read_str(&a[1]) {
        Ok(Some(v)) => Reply::Bulk(v),
        Ok(None) => Reply::Null,
        Err(e) => e,
    }
}

fn set(ctx: &mut Ctx<'_>, a: &[Bytes]) -> Reply {
    if a.len() == 3 {
        // Plain `SET key value`: no condition, no GET, clears any deadline,
        // overwrites a key of any type. One lookup when the old value has
        // the new one's size, and no copy of the arguments.
        ctx.expire_if_needed(&a[1]);
        ctx.store_string(&a[1], &a[2], 0);
        return Reply::ok();
    }
    let args = match SetArgs::parse(a, ctx.now()) {
        Ok(s) => s,
        Err(e) => return e,
    };
    // Only SET … GET needs a copy of the old value.
    let old = match ctx.peek_str(&args.key) {
        Ok(old) => old.map(|(v, at)| {
            let v = if args.get {
                Bytes::copy_from_slice(v)
            } else {
                Bytes::new()
            };
            (v, at)
        }),
        // SET without GET overwrites a key of any type.
        Err(e) if args.get => return e,
        Err(_) => ctx.lookup(&args.key).map(|e| (Bytes::new(), e.expire_at())),
    };
    let blocked = match args.condition {
        SetCondition::Always => false,
        SetCondition::IfAbsent => old.is_some(),
        SetCondition::IfPresent => old.is_none(),
    };
    let old_reply = || match &old {
        Some((v, _)) => Reply::Bulk(v.clone()),
        None => Reply::Null,
    };
    if blocked {
        return if args.get { old_reply() } else { Reply::Null };
    }
    let expire_at = match args.expiry {
        None | Some(Expiry::Persist) => 0,
        Some(Expiry::At(at)) => at,
        Some(Expiry::Keep) => old.as_ref().map_or(0, |(_, at)| *at),
    };
    ctx.store_string(&args.key, &args.value, expire_at);
    if args.get {
        old_reply()
    } else {
        Reply::ok()
    }
}

fn setnx(ctx: &mut Ctx<'_>, a: &[Bytes]) -> Reply {
    if ctx.lookup(&a[1]).is_some() {
        return Reply::Integer(0);
    }
    ctx.store(string(&a[1], &a[2], 0));
    Reply::Integer(1)
}

fn setex(ctx: &mut Ctx<'_>, a: &[Bytes], millis: bool) -> Reply {
    let cmd = if millis { "psetex" } else { "setex" };
    match parse_setex(cmd, &a[2], millis, ctx.now()) {
        Ok(at) => {
            ctx.store(string(&a[1], &a[3], at));
            Reply::ok()
        }
        Err(e) => e,
    }
}

fn getset(ctx: &mut Ctx<'_>, a: &[Bytes]) -> Reply {
    let old = match ctx.peek_str(&a[1]) {
        Ok(old) => old.map(|(v, _)| Bytes::copy_from_slice(v)),
        Err(e) => return e,
    };
    ctx.store(string(&a[1], &a[2], 0));
    old.map_or(Reply::Null, Reply::Bulk)
}

fn getdel(ctx: &mut Ctx<'_>, a: &[Bytes]) -> Reply {
    match ctx.read_str(&a[1]) {
        Ok(Some(v)) => {
            ctx.delete(&a[1]);
            Reply::Bulk(v)
        }
        Ok(None) => Reply::Null,
        Err(e) => e,
    }
}

fn getex(ctx: &mut Ctx<'_>, a: &[Bytes]) -> Reply {
    // Redis checks the options' syntax, then looks the key up, and only
    // then the expiry value: GETEX of a missing key with `EX abc` is nil.
    let expiry = parse_getex(a, ctx.now());
    if let Err(e) = &expiry {
        if *e == errors::SYNTAX {
            return e.clone();
        }
    }
    let value = match ctx.read_str(&a[1]) {
        Ok(Some(v)) => v,
        Ok(None) => return Reply::Null,
        Err(e) => return e,
    };
    let expiry = match expiry {
        Ok(e) => e,
        Err(e) => return e,
    };
    match expiry {
        Some(Expiry::At(at)) if at <= ctx.now() => {
            ctx.delete(&a[1]);
        }
        Some(Expiry::At(at)) => {
            ctx.db().set_expire(&a[1], at);
            let db = ctx.db;
            ctx.state.watches.touch(db, &a[1]);
        }
        Some(Expiry::Persist | Expiry::Keep)
            if ctx.lookup(&a[1]).is_some_and(|e| e.expire_at() != 0) =>
        {
            ctx.db().set_expire(&a[1], 0);
            let db = ctx.db;
            ctx.state.watches.touch(db, &a[1]);
        }
        None | Some(Expiry::Persist | Expiry::Keep) => {}
    }
    Reply::Bulk(value)
}

fn mget(ctx: &mut Ctx<'_>, a: &[Bytes]) -> Reply {
    Reply::Array(
        a[1..]
            .iter()
            .map(|k| match ctx.read_str(k) {
                Ok(Some(v)) => Reply::Bulk(v),
                _ => Reply::Null,
            })
            .collect(),
    )
}

fn mset(ctx: &mut Ctx<'_>, a: &[Bytes]) -> Reply {
    if a.len() % 2 == 0 {
        return redynamo_layers::command::wrong_arity("mset");
    }
    for pair in a[1..].chunks(2) {
        ctx.store(string(&pair[0], &pair[1], 0));
    }
    Reply::ok()
}

fn msetnx(ctx: &mut Ctx<'_>, a: &[Bytes]) -> Reply {
    if a.len() % 2 == 0 {
        return redynamo_layers::command::wrong_arity("msetnx");
    }
    if a[1..].chunks(2).any(|pair| ctx.lookup(&pair[0]).is_some()) {
        return Reply::Integer(0);
    }
    for pair in a[1..].chunks(2) {
        ctx.store(string(&pair[0], &pair[1], 0));
    }
    Reply::Integer(1)
}

fn incr_by(ctx: &mut Ctx<'_>, key: &Bytes, by: i64) -> Reply {
    ctx.expire_if_needed(key);
    let db = ctx.db;
    // One lookup in the common case: the number is read, and rewritten in
    // place when the result has as many digits.
    let (current, expire_at) = match ctx.db().get_mut(key) {
        Some(entry) => {
            let Value::Str(v) = entry.value();
            let Some(n) = parse_i64(v) else {
                return errors::NOT_INTEGER;
            };
            let Some(next) = n.checked_add(by) else {
                return errors::OVERFLOW;
            };
            let at = entry.expire_at();
            if entry.overwrite_string(itoa::Buffer::new().format(next).as_bytes(), at) {
                ctx.state.watches.touch(db, key);
                return Reply::Integer(next);
            }
            (n, at)
        }
        None => (0, 0),
    };
    let Some(next) = current.checked_add(by) else {
        return errors::OVERFLOW;
    };
    let mut buf = itoa::Buffer::new();
    ctx.store_string(key, buf.format(next).as_bytes(), expire_at);
    Reply::Integer(next)
}

fn incrbyfloat(ctx: &mut Ctx<'_>, a: &[Bytes]) -> Reply {
    let (text, expire_at) = match ctx.peek_str(&a[1]) {
        Ok(current) => (
            incr_by_float(current.map(|(v, _)| v), &a[2]),
            current.map_or(0, |(_, at)| at),
        ),
        Err(e) => return e,
    };
    let text = match text {
        Ok(text) => text,
        Err(FloatError::NotAFloat) => return errors::NOT_FLOAT,
        Err(FloatError::NanOrInfinity) => {
            return Reply::static_error("ERR increment would produce NaN or Infinity")
        }
    };
    ctx.store(string(&a[1], text.as_bytes(), expire_at));
    Reply::Bulk(Bytes::from(text))
}

fn append(ctx: &mut Ctx<'_>, a: &[Bytes]) -> Reply {
    let max_len = ctx.config.max_string_len;
    let (current, expire_at) = match ctx.peek_str(&a[1]) {
        Ok(current) => current.unwrap_or((&[], 0)),
        Err(e) => return e,
    };
    let len = current.len() + a[2].len();
    if len > max_len {
        return errors::STRING_TOO_LONG;
    }
    // The new entry is built straight from the stored value: one copy.
    let entry = Entry::string(&a[1], &[current, &a[2]], expire_at);
    ctx.store(entry);
    Reply::Integer(len as i64)
}

fn strlen(ctx: &mut Ctx<'_>, a: &[Bytes]) -> Reply {
    match ctx.read_str(&a[1]) {
        Ok(v) => Reply::Integer(v.map_or(0, |v| v.len() as i64)),
        Err(e) => e,
    }
}

fn getrange(ctx: &mut Ctx<'_>, a: &[Bytes]) -> Reply {
    let (start, end) = match (int_arg(&a[2]), int_arg(&a[3])) {
        (Ok(s), Ok(e)) => (s, e),
        (Err(e), _) | (_, Err(e)) => return e,
    };
    match ctx.read_str(&a[1]) {
        Ok(Some(v)) => match byte_range(start, end, v.len()) {
            Some((s, e)) => Reply::Bulk(v.slice(s..=e)),
            None => Reply::Bulk(Bytes::new()),
        },
        Ok(None) => Reply::Bulk(Bytes::new()),
        Err(e) => e,
    }
}

fn setrange(ctx: &mut Ctx<'_>, a: &[Bytes]) -> Reply {
    let offset = match int_arg(&a[2]) {
        Ok(n) if n < 0 => return Reply::static_error("ERR offset is out of range"),
        Ok(n) => n as usize,
        Err(e) => return e,
    };
    let value = &a[3];
    let max_len = ctx.config.max_string_len;
    let (current, expire_at) = match ctx.peek_str(&a[1]) {
        Ok(Some(v)) => v,
        Ok(None) if value.is_empty() => return Reply::Integer(0),
        Ok(None) => (&[][..], 0),
        Err(e) => return e,
    };
    if value.is_empty() {
        return Reply::Integer(current.len() as i64);
    }
    if offset.saturating_add(value.len()) > max_len {
        return errors::STRING_TOO_LONG;
    }
    let len = current.len().max(offset + value.len());
    let mut buf = vec![0u8; len];
    buf[..current.len()].copy_from_slice(current);
    buf[offset..offset + value.len()].copy_from_slice(value);
    ctx.store(string(&a[1], &buf, expire_at));
    Reply::Integer(len as i64)
}

fn del(ctx: &mut Ctx<'_>, a: &[Bytes]) -> Reply {
    let n = a[1..].iter().filter(|k| ctx.delete(k)).count();
    Reply::Integer(n as i64)
}

fn exists(ctx: &mut Ctx<'_>, a: &[Bytes]) -> Reply {
    let n = a[1..].iter().filter(|k| ctx.lookup(k).is_some()).count();
    Reply::Integer(n as i64)
}

fn type_of(ctx: &mut Ctx<'_>, a: &[Bytes]) -> Reply {
    match ctx.lookup(&a[1]) {
        Some(e) => Reply::status(e.value().type_name()),
        None => Reply::status("none"),
    }
}

fn expire(ctx: &mut Ctx<'_>, a: &[Bytes]) -> Reply {
    let (at, flags): (i64, ExpireFlags) = match parse_expire(a, ctx.now()) {
        Ok(v) => v,
        Err(e) => return e,
    };
    let Some(current) = ctx.lookup(&a[1]).map(Entry::expire_at) else {
        return Reply::Integer(0);
    };
    let new = at.max(0) as u64;
    if !flags.allows(current, new) {
        return Reply::Integer(0);
    }
    if at <= ctx.now() as i64 {
        ctx.delete(&a[1]);
    } else {
        ctx.db().set_expire(&a[1], new);
        let db = ctx.db;
        ctx.state.watches.touch(db, &a[1]);
    }
    Reply::Integer(1)
}

enum TtlKind {
    Seconds,
    Millis,
    UnixSeconds,
    UnixMillis,
}

fn ttl(ctx: &mut Ctx<'_>, a: &[Bytes], kind: TtlKind) -> Reply {
    let now = ctx.now();
    let Some(at) = ctx.read(&a[1]).map(Entry::expire_at) else {
        return Reply::Integer(-2);
    };
    if at == 0 {
        return Reply::Integer(-1);
    }
    let left = at.saturating_sub(now);
    Reply::Integer(match kind {
        TtlKind::Seconds => ms_to_reply_seconds(left),
        TtlKind::Millis => left as i64,
        TtlKind::UnixSeconds => ms_to_reply_seconds(at),
        TtlKind::UnixMillis => at as i64,
    })
}

fn persist(ctx: &mut Ctx<'_>, a: &[Bytes]) -> Reply {
    match ctx.lookup(&a[1]).map(Entry::expire_at) {
        Some(at) if at != 0 => {
            ctx.db().set_expire(&a[1], 0);
            let db = ctx.db;
            ctx.state.watches.touch(db, &a[1]);
            Reply::Integer(1)
        }
        _ => Reply::Integer(0),
    }
}

fn rename(ctx: &mut Ctx<'_>, a: &[Bytes], nx: bool) -> Reply {
    let (src, dst) = (&a[1], &a[2]);
    let Some(moved) = ctx
        .lookup(src)
        .map(|e| Entry::new(dst, e.value(), e.expire_at()))
    else {
        return errors::NO_SUCH_KEY;
    };
    if src == dst {
        return if nx { Reply::Integer(0) } else { Reply::ok() };
    }
    if nx && ctx.lookup(dst).is_some() {
        return Reply::Integer(0);
    }
    ctx.delete(src);
    ctx.store(moved);
    if nx {
        Reply::Integer(1)
    } else {
        Reply::ok()
    }
}

fn copy(ctx: &mut Ctx<'_>, a: &[Bytes]) -> Reply {
    let args = match CopyArgs::parse(a, ctx.state.dbs.len() as u32) {
        Ok(c) => c,
        Err(e) => return e,
    };
    let target = args.db.unwrap_or(ctx.db);
    let (src, dst) = (&a[1], &a[2]);
    if target == ctx.db && src == dst {
        return Reply::static_error("ERR source and destination objects are the same");
    }
    let Some(copied) = ctx
        .lookup(src)
        .map(|e| Entry::new(dst, e.value(), e.expire_at()))
    else {
        return Reply::Integer(0);
    };
    let source_db = ctx.db;
    ctx.db = target;
    let reply = if ctx.lookup(dst).is_some() && !args.replace {
        Reply::Integer(0)
    } else {
        ctx.store(copied);
        Reply::Integer(1)
    };
    ctx.db = source_db;
    reply
}

fn keys(ctx: &mut Ctx<'_>, a: &[Bytes]) -> Reply {
    let now = ctx.now();
    let pattern = &a[1];
    let all = pattern.as_ref() == b"*";
    let out = ctx
        .db()
        .iter()
        .filter(|e| !e.is_expired(now) && (all || glob::matches(pattern, e.key())))
        .map(|e| Reply::bulk(e.key()))
        .collect();
    Reply::Array(out)
}

fn scan(ctx: &mut Ctx<'_>, a: &[Bytes]) -> Reply {
    let args = match ScanArgs::parse(a) {
        Ok(s) => s,
        Err(e) => return e,
    };
    let now = ctx.now();
    let mut found = Vec::new();
    let next = ctx.db().scan(args.cursor, args.count, |e| {
        let keep = !e.is_expired(now)
            && args
                .pattern
                .as_ref()
                .is_none_or(|p| glob::matches(p, e.key()))
            && args
                .type_name
                .as_ref()
                .is_none_or(|t| t.eq_ignore_ascii_case(e.value().type_name().as_bytes()));
        if keep {
            found.push(Reply::bulk(e.key()));
        }
    });
    let mut buf = itoa::Buffer::new();
    Reply::Array(vec![Reply::bulk(buf.format(next)), Reply::Array(found)])
}

fn randomkey(ctx: &mut Ctx<'_>) -> Reply {
    let now = ctx.now();
    let mut rng = rand::thread_rng();
    // An expired key found at random is deleted and another one drawn, as
    // Redis does; give up after a bounded number of tries when nearly every
    // key is expired, and answer with one of them rather than stall.
    for _ in 0..100 {
        let Some(entry) = ctx.db().random(&mut rng) else {
            return Reply::Null;
        };
        let key = entry.key().to_vec();
        if !entry.is_expired(now) {
            return Reply::bulk(&key);
        }
        ctx.expire_if_needed(&key);
    }
    ctx.db()
        .random(&mut rng)
        .map_or(Reply::Null, |e| Reply::bulk(e.key()))
}

fn flushdb(ctx: &mut Ctx<'_>, a: &[Bytes]) -> Reply {
    if let Err(e) = parse_flush(a) {
        return e;
    }
    let (db, now) = (ctx.db as usize, ctx.now());
    let State { dbs, watches, .. } = &mut *ctx.state;
    watches.touch_db(ctx.db, |k| is_live(&dbs[db], k, now));
    dbs[db].clear();
    Reply::ok()
}

/// `key` exists in `db` and has not expired.
fn is_live(db: &Db, key: &[u8], now: u64) -> bool {
    db.get(key).is_some_and(|e| !e.is_expired(now))
}

fn flushall(ctx: &mut Ctx<'_>, a: &[Bytes]) -> Reply {
    if let Err(e) = parse_flush(a) {
        return e;
    }
    let now = ctx.now();
    let State { dbs, watches, .. } = &mut *ctx.state;
    for (i, db) in dbs.iter_mut().enumerate() {
        watches.touch_db(i as u32, |k| is_live(db, k, now));
        db.clear();
    }
    Reply::ok()
}

fn swapdb(ctx: &mut Ctx<'_>, a: &[Bytes]) -> Reply {
    let parse = |b: &Bytes, which: &str| {
        parse_i64(b).ok_or_else(|| Reply::error(format!("ERR invalid {which} DB index")))
    };
    let (x, y) = match (parse(&a[1], "first"), parse(&a[2], "second")) {
        (Ok(x), Ok(y)) => (x, y),
        (Err(e), _) | (_, Err(e)) => return e,
    };
    let (x, y) = match (ctx.db_index(x), ctx.db_index(y)) {
        (Ok(x), Ok(y)) => (x, y),
        _ => return errors::DB_INDEX,
    };
    if x == y {
        return Reply::ok();
    }
    // A watched key changes if it exists on either side of the swap.
    let now = ctx.now();
    let State { dbs, watches, .. } = &mut *ctx.state;
    let (dx, dy) = (&dbs[x as usize], &dbs[y as usize]);
    let changed = |k: &[u8]| is_live(dx, k, now) || is_live(dy, k, now);
    watches.touch_db(x, changed);
    watches.touch_db(y, changed);
    dbs.swap(x as usize, y as usize);
    Reply::ok()
}

/// SELECT inside a transaction: the connection applies it to its session
/// after EXEC; here it switches the db for the commands that follow.
fn select(ctx: &mut Ctx<'_>, a: &[Bytes]) -> Reply {
    match int_arg(&a[1]).and_then(|n| ctx.db_index(n)) {
        Ok(db) => {
            ctx.db = db;
            Reply::ok()
        }
        Err(e) => e,
    }
}

fn watch(ctx: &mut Ctx<'_>, a: &[Bytes]) -> Reply {
    for key in &a[1..] {
        // A key that is already expired counts as absent from now on:
        // deleting it later must not fail the transaction.
        ctx.expire_if_needed(key);
        let db = ctx.db;
        ctx.state
            .watches
            .watch(db, Bytes::copy_from_slice(key), ctx.client);
    }
    Reply::ok()
}

fn exec_transaction(ctx: &mut Ctx<'_>, commands: &[Command]) -> Reply {
    // A watched key whose deadline passed since WATCH counts as modified,
    // even if nothing has deleted it yet.
    let watched: Vec<(u32, Bytes)> = ctx.state.watches.watched_by(ctx.client.id).to_vec();
    let home = ctx.db;
    for (db, key) in watched {
        ctx.db = db;
        ctx.expire_if_needed(&key);
    }
    ctx.db = home;
    let aborted = ctx.client.is_watch_dirty();
    ctx.state.watches.unwatch(ctx.client.id);
    if aborted {
        return Reply::NullArray;
    }
    Reply::Array(commands.iter().map(|c| dispatch(ctx, c)).collect())
}
