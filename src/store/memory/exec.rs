//! Command execution for the memory store. Every function runs inside the
//! store's critical section and returns the reply; none blocks.

use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use redynamo_layers::reply::errors;
use redynamo_layers::{ClientInfo, Command, Reply, Request};

use super::db::{Db, Entry, Value};
use super::{MemoryConfig, State};
use crate::commands::{
    byte_range, int_arg, parse_expire, parse_flush, parse_getex, parse_setex, CopyArgs,
    ExpireFlags, Expiry, ScanArgs, SetArgs, SetCondition,
};
use crate::util::glob;
use crate::util::num::{format_incr_float, parse_f64, parse_i64};

/// The execution context of one command.
struct Ctx<'a> {
    state: &'a mut State,
    config: &'a MemoryConfig,
    db: u32,
    now: u64,
    client: &'a Arc<ClientInfo>,
}

pub(super) fn execute(state: &mut State, config: &MemoryConfig, req: &Request, now: u64) -> Reply {
    let mut ctx = Ctx {
        state,
        config,
        db: req.db,
        now,
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
    fn db(&mut self) -> &mut Db {
        &mut self.state.dbs[self.db as usize]
    }

    /// Delete `key` if its deadline has passed. Returns true when it did.
    fn expire_if_needed(&mut self, key: &[u8]) -> bool {
        let now = self.now;
        let expired = self.db().get(key).is_some_and(|e| e.is_expired(now));
        if expired {
            if let Some(e) = self.db().remove(key) {
                self.state.stats.expired_keys += 1;
                let db = self.db;
                self.state.watches.touch(db, &e.key);
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
        let db = self.db as usize;
        let found = self.state.dbs[db].get(key).is_some();
        if found {
            self.state.stats.keyspace_hits += 1;
        } else {
            self.state.stats.keyspace_misses += 1;
        }
        self.state.dbs[db].get(key)
    }

    /// The string at `key`, `Ok(None)` when absent, WRONGTYPE otherwise.
    fn read_str(&mut self, key: &[u8]) -> Result<Option<Bytes>, Reply> {
        match self.read(key) {
            None => Ok(None),
            Some(Entry {
                value: Value::Str(s),
                ..
            }) => Ok(Some(s.clone())),
        }
    }

    /// Like `read_str` without touching hit/miss counters (for writes).
    fn peek_str(&mut self, key: &[u8]) -> Result<Option<(Bytes, u64)>, Reply> {
        match self.lookup(key) {
            None => Ok(None),
            Some(Entry {
                value: Value::Str(s),
                expire_at,
                ..
            }) => Ok(Some((s.clone(), *expire_at))),
        }
    }

    /// Store `value` at `key` with `expire_at` (0 = none). A deadline already
    /// in the past deletes the key instead, as Redis does.
    fn store(&mut self, key: &Bytes, value: Value, expire_at: u64) {
        let db = self.db;
        if expire_at != 0 && expire_at <= self.now {
            self.db().remove(key);
        } else {
            self.db().insert(Entry {
                key: own(key),
                value,
                expire_at,
            });
        }
        self.state.watches.touch(db, key);
    }

    fn delete(&mut self, key: &[u8]) -> bool {
        self.expire_if_needed(key);
        match self.db().remove(key) {
            Some(e) => {
                let db = self.db;
                self.state.watches.touch(db, &e.key);
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

/// Copy bytes that arrived in a network buffer into their own allocation, so
/// a stored key or value never pins a whole read buffer.
fn own(b: &Bytes) -> Bytes {
    Bytes::copy_from_slice(b)
}

fn str_value(b: &Bytes) -> Value {
    Value::Str(own(b))
}

fn get(ctx: &mut Ctx<'_>, a: &[Bytes]) -> Reply {
    match ctx.read_str(&a[1]) {
        Ok(Some(v)) => Reply::Bulk(v),
        Ok(None) => Reply::Null,
        Err(e) => e,
    }
}

fn set(ctx: &mut Ctx<'_>, a: &[Bytes]) -> Reply {
    let args = match SetArgs::parse(a, ctx.now) {
        Ok(s) => s,
        Err(e) => return e,
    };
    let old = match ctx.peek_str(&args.key) {
        Ok(old) => old,
        // SET without GET overwrites a key of any type.
        Err(e) if args.get => return e,
        Err(_) => ctx.lookup(&args.key).map(|e| (Bytes::new(), e.expire_at)),
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
    ctx.store(&args.key, str_value(&args.value), expire_at);
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
    ctx.store(&a[1], str_value(&a[2]), 0);
    Reply::Integer(1)
}

fn setex(ctx: &mut Ctx<'_>, a: &[Bytes], millis: bool) -> Reply {
    let cmd = if millis { "psetex" } else { "setex" };
    match parse_setex(cmd, &a[2], millis, ctx.now) {
        Ok(at) => {
            ctx.store(&a[1], str_value(&a[3]), at);
            Reply::ok()
        }
        Err(e) => e,
    }
}

fn getset(ctx: &mut Ctx<'_>, a: &[Bytes]) -> Reply {
    let old = match ctx.peek_str(&a[1]) {
        Ok(old) => old,
        Err(e) => return e,
    };
    ctx.store(&a[1], str_value(&a[2]), 0);
    old.map_or(Reply::Null, |(v, _)| Reply::Bulk(v))
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
    let expiry = match parse_getex(a, ctx.now) {
        Ok(e) => e,
        Err(e) => return e,
    };
    let value = match ctx.read_str(&a[1]) {
        Ok(Some(v)) => v,
        Ok(None) => return Reply::Null,
        Err(e) => return e,
    };
    match expiry {
        None => {}
        Some(Expiry::At(at)) if at <= ctx.now => {
            ctx.delete(&a[1]);
        }
        Some(Expiry::At(at)) => {
            ctx.db().set_expire(&a[1], at);
            let db = ctx.db;
            ctx.state.watches.touch(db, &a[1]);
        }
        Some(Expiry::Persist) | Some(Expiry::Keep)
            if ctx.lookup(&a[1]).is_some_and(|e| e.expire_at != 0) =>
        {
            ctx.db().set_expire(&a[1], 0);
            let db = ctx.db;
            ctx.state.watches.touch(db, &a[1]);
        }
        Some(Expiry::Persist) | Some(Expiry::Keep) => {}
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
        ctx.store(&pair[0], str_value(&pair[1]), 0);
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
        ctx.store(&pair[0], str_value(&pair[1]), 0);
    }
    Reply::Integer(1)
}

/// Replace the string at `key`, keeping its expiry (INCR, APPEND, SETRANGE).
fn replace_keep_ttl(ctx: &mut Ctx<'_>, key: &Bytes, value: Bytes, expire_at: u64) {
    ctx.store(key, Value::Str(value), expire_at);
}

fn incr_by(ctx: &mut Ctx<'_>, key: &Bytes, by: i64) -> Reply {
    let (current, expire_at) = match ctx.peek_str(key) {
        Ok(Some((v, at))) => match parse_i64(&v) {
            Some(n) => (n, at),
            None => return errors::NOT_INTEGER,
        },
        Ok(None) => (0, 0),
        Err(e) => return e,
    };
    let Some(next) = current.checked_add(by) else {
        return errors::OVERFLOW;
    };
    let mut buf = itoa::Buffer::new();
    let text = Bytes::copy_from_slice(buf.format(next).as_bytes());
    replace_keep_ttl(ctx, key, text, expire_at);
    Reply::Integer(next)
}

fn incrbyfloat(ctx: &mut Ctx<'_>, a: &[Bytes]) -> Reply {
    let (current, expire_at) = match ctx.peek_str(&a[1]) {
        Ok(Some((v, at))) => match parse_f64(&v) {
            Some(n) => (n, at),
            None => return errors::NOT_FLOAT,
        },
        Ok(None) => (0.0, 0),
        Err(e) => return e,
    };
    let Some(by) = parse_f64(&a[2]) else {
        return errors::NOT_FLOAT;
    };
    let next = current + by;
    if !next.is_finite() {
        return Reply::static_error("ERR increment would produce NaN or Infinity");
    }
    let text = Bytes::from(format_incr_float(next));
    replace_keep_ttl(ctx, &a[1], text.clone(), expire_at);
    Reply::Bulk(text)
}

fn append(ctx: &mut Ctx<'_>, a: &[Bytes]) -> Reply {
    let (current, expire_at) = match ctx.peek_str(&a[1]) {
        Ok(Some(v)) => v,
        Ok(None) => (Bytes::new(), 0),
        Err(e) => return e,
    };
    if current.len() + a[2].len() > ctx.config.max_string_len {
        return errors::STRING_TOO_LONG;
    }
    let mut buf = BytesMut::with_capacity(current.len() + a[2].len());
    buf.extend_from_slice(&current);
    buf.extend_from_slice(&a[2]);
    let len = buf.len();
    replace_keep_ttl(ctx, &a[1], buf.freeze(), expire_at);
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
    let (current, expire_at) = match ctx.peek_str(&a[1]) {
        Ok(Some(v)) => v,
        Ok(None) if value.is_empty() => return Reply::Integer(0),
        Ok(None) => (Bytes::new(), 0),
        Err(e) => return e,
    };
    if value.is_empty() {
        return Reply::Integer(current.len() as i64);
    }
    if offset.saturating_add(value.len()) > ctx.config.max_string_len {
        return errors::STRING_TOO_LONG;
    }
    let len = current.len().max(offset + value.len());
    let mut buf = BytesMut::zeroed(len);
    buf[..current.len()].copy_from_slice(&current);
    buf[offset..offset + value.len()].copy_from_slice(value);
    replace_keep_ttl(ctx, &a[1], buf.freeze(), expire_at);
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
        Some(e) => Reply::status(e.value.type_name()),
        None => Reply::status("none"),
    }
}

fn expire(ctx: &mut Ctx<'_>, a: &[Bytes]) -> Reply {
    let (at, flags): (i64, ExpireFlags) = match parse_expire(a, ctx.now) {
        Ok(v) => v,
        Err(e) => return e,
    };
    let Some(current) = ctx.lookup(&a[1]).map(|e| e.expire_at) else {
        return Reply::Integer(0);
    };
    let new = at.max(0) as u64;
    if !flags.allows(current, new) {
        return Reply::Integer(0);
    }
    if at <= ctx.now as i64 {
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
    let now = ctx.now;
    let Some(at) = ctx.read(&a[1]).map(|e| e.expire_at) else {
        return Reply::Integer(-2);
    };
    if at == 0 {
        return Reply::Integer(-1);
    }
    let left = at.saturating_sub(now);
    Reply::Integer(match kind {
        TtlKind::Seconds => left.saturating_add(500).div_euclid(1000) as i64,
        TtlKind::Millis => left as i64,
        TtlKind::UnixSeconds => (at / 1000) as i64,
        TtlKind::UnixMillis => at as i64,
    })
}

fn persist(ctx: &mut Ctx<'_>, a: &[Bytes]) -> Reply {
    match ctx.lookup(&a[1]).map(|e| e.expire_at) {
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
    let Some(entry) = ctx.lookup(src).cloned() else {
        return errors::NO_SUCH_KEY;
    };
    if src == dst {
        return if nx { Reply::Integer(0) } else { Reply::ok() };
    }
    if nx && ctx.lookup(dst).is_some() {
        return Reply::Integer(0);
    }
    ctx.delete(src);
    ctx.store(dst, entry.value, entry.expire_at);
    if nx {
        Reply::Integer(1)
    } else {
        Reply::ok()
    }
}

fn copy(ctx: &mut Ctx<'_>, a: &[Bytes]) -> Reply {
    let args = match CopyArgs::parse(a) {
        Ok(c) => c,
        Err(e) => return e,
    };
    let target = match args.db.map(|n| ctx.db_index(n)).transpose() {
        Ok(t) => t.unwrap_or(ctx.db),
        Err(e) => return e,
    };
    let (src, dst) = (&a[1], &a[2]);
    if target == ctx.db && src == dst {
        return Reply::static_error("ERR source and destination objects are the same");
    }
    let Some(entry) = ctx.lookup(src).cloned() else {
        return Reply::Integer(0);
    };
    let source_db = ctx.db;
    ctx.db = target;
    let reply = if ctx.lookup(dst).is_some() && !args.replace {
        Reply::Integer(0)
    } else {
        ctx.store(dst, entry.value, entry.expire_at);
        Reply::Integer(1)
    };
    ctx.db = source_db;
    reply
}

fn keys(ctx: &mut Ctx<'_>, a: &[Bytes]) -> Reply {
    let now = ctx.now;
    let pattern = &a[1];
    let all = pattern.as_ref() == b"*";
    let out = ctx
        .db()
        .iter()
        .filter(|e| !e.is_expired(now) && (all || glob::matches(pattern, &e.key)))
        .map(|e| Reply::Bulk(e.key.clone()))
        .collect();
    Reply::Array(out)
}

fn scan(ctx: &mut Ctx<'_>, a: &[Bytes]) -> Reply {
    let args = match ScanArgs::parse(a) {
        Ok(s) => s,
        Err(e) => return e,
    };
    let now = ctx.now;
    let mut found = Vec::new();
    let next = ctx.db().scan(args.cursor, args.count, |e| {
        let keep = !e.is_expired(now)
            && args
                .pattern
                .as_ref()
                .is_none_or(|p| glob::matches(p, &e.key))
            && args
                .type_name
                .as_ref()
                .is_none_or(|t| t.eq_ignore_ascii_case(e.value.type_name().as_bytes()));
        if keep {
            found.push(Reply::Bulk(e.key.clone()));
        }
    });
    let mut buf = itoa::Buffer::new();
    Reply::Array(vec![Reply::bulk(buf.format(next)), Reply::Array(found)])
}

fn randomkey(ctx: &mut Ctx<'_>) -> Reply {
    let now = ctx.now;
    let mut rng = rand::thread_rng();
    // An expired key found at random is deleted and another one drawn, as
    // Redis does; give up after a bounded number of tries when nearly every
    // key is expired, and answer with one of them rather than stall.
    for _ in 0..100 {
        let Some(entry) = ctx.db().random(&mut rng) else {
            return Reply::Null;
        };
        let key = entry.key.clone();
        if !entry.is_expired(now) {
            return Reply::Bulk(key);
        }
        ctx.expire_if_needed(&key);
    }
    ctx.db()
        .random(&mut rng)
        .map_or(Reply::Null, |e| Reply::Bulk(e.key.clone()))
}

fn flushdb(ctx: &mut Ctx<'_>, a: &[Bytes]) -> Reply {
    if let Err(e) = parse_flush(a) {
        return e;
    }
    let db = ctx.db;
    ctx.db().clear();
    ctx.state.watches.touch_db(db);
    Reply::ok()
}

fn flushall(ctx: &mut Ctx<'_>, a: &[Bytes]) -> Reply {
    if let Err(e) = parse_flush(a) {
        return e;
    }
    for i in 0..ctx.state.dbs.len() {
        ctx.state.dbs[i].clear();
        ctx.state.watches.touch_db(i as u32);
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
    ctx.state.dbs.swap(x as usize, y as usize);
    ctx.state.watches.touch_db(x);
    ctx.state.watches.touch_db(y);
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
        ctx.state.watches.watch(db, own(key), ctx.client);
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
