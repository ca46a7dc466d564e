//! The memory store as a [`Keyspace`]: the command handlers of
//! `crate::commands` applied straight to the store's tables, inside its
//! critical section. Nothing here ever interrupts a command.
//!
//! Also here: the store's own walk of a db for the whole-db commands
//! ([`DbCommand`]), and WATCH/EXEC over its dirty flags.

use std::sync::Arc;

use bytes::Bytes;
use redynamo_layers::{ClientInfo, Command, Reply, Request};

use super::db::Db;
use super::entry::{Entry, Value};
use super::{MemoryConfig, State};
use crate::commands::keyspace::{Head, Kind};
use crate::commands::notify::class;
use crate::commands::server::{scan_reply, DbCommand};
use crate::commands::{self, transactions, Clock, Keyspace, Ks, Route};
use crate::scripting::{Engine, Host};
use crate::util::clock;

/// One command's view of the store.
pub(crate) struct MemKeyspace<'a> {
    pub(super) state: &'a mut State,
    config: &'a MemoryConfig,
    clock: &'a clock::Clock,
    pub(super) db: u32,
    /// Unix milliseconds, read on first use; 0 until then.
    now: u64,
    client: &'a Arc<ClientInfo>,
}

impl<'a> MemKeyspace<'a> {
    pub(crate) fn new(
        state: &'a mut State,
        config: &'a MemoryConfig,
        clock: &'a clock::Clock,
        req: &'a Request,
    ) -> MemKeyspace<'a> {
        MemKeyspace {
            state,
            config,
            clock,
            db: req.db,
            now: 0,
            client: &req.client,
        }
    }

    pub(super) fn table(&mut self) -> &mut Db {
        &mut self.state.dbs[self.db as usize]
    }

    /// Every write calls this: WATCHers of the key become dirty, and a
    /// client blocked on it may be served ([`super::blocking`]).
    pub(super) fn touch(&mut self, key: &[u8]) {
        let db = self.db;
        self.state.watches.touch(db, key);
        self.state.blocked.signal(db, key);
        let writer = self.client.id;
        self.state.modified(key, writer);
    }

    /// Run a blocking command (`routing.blocking`): its reply, or what it
    /// waits for. Anything else is executed as usual.
    pub(super) fn blocking(mut self, req: &Request) -> commands::Blocking {
        match commands::apply_blocking(&req.command, &mut self) {
            Some(Ok(outcome)) => outcome,
            Some(Err(interrupt)) => {
                commands::Blocking::Done(never_interrupted(Some(Err(interrupt))))
            }
            None => commands::Blocking::Done(self.execute(req)),
        }
    }

    /// Delete `key` if its deadline has passed. Returns true when it did.
    pub(super) fn expire_if_needed(&mut self, key: &[u8]) -> bool {
        // Only a key with a deadline can have expired, and every deadline
        // is in the volatile index: a db without one needs no lookup here.
        if self.state.dbs[self.db as usize].volatile_len() == 0 {
            return false;
        }
        let now = self.now();
        let expired = self.table().get(key).is_some_and(|e| e.is_expired(now));
        if expired {
            if let Some(e) = self.table().remove(key) {
                self.state.stats.expired_keys += 1;
                let db = self.db;
                self.state.watches.touch(db, e.key());
                self.state.notify(class::EXPIRED, "expired", db, key);
                self.state.modified(key, 0);
            }
        }
        expired
    }

    /// Store `entry`. A deadline already in the past deletes the key
    /// instead, as Redis does.
    pub(super) fn store(&mut self, entry: Entry) {
        self.touch(entry.key());
        if entry.expire_at() != 0 && entry.is_expired(self.now()) {
            self.table().remove(entry.key());
        } else {
            self.table().insert(entry);
        }
    }

    /// Run one request: a keyed command, a whole-db command, EXEC, WATCH or
    /// UNWATCH.
    pub(crate) fn execute(mut self, req: &Request) -> Reply {
        let cmd = &req.command;
        match commands::route(cmd.spec) {
            Route::Keyed => never_interrupted(commands::apply(cmd, &mut self)),
            Route::Db => self.db_command(cmd),
            Route::Exec => self.exec(&req.transaction),
            Route::Watch => self.watch(&cmd.args[1..]),
            Route::Unwatch => {
                self.state.watches.unwatch(self.client.id);
                Reply::ok()
            }
            Route::Script => self.script(cmd),
            Route::NotStored => commands::unsupported(cmd.spec.name, "memory"),
        }
    }

    /// A scripting command: run by the store's Lua engine, whose
    /// `redis.call` comes back here ([`ScriptHost`]), all inside this
    /// critical section.
    fn script(&mut self, cmd: &Command) -> Reply {
        let engine = match self.state.scripting.take() {
            Some(engine) => engine,
            None => match Engine::new(self.state.scripts.clone(), self.config.lua_memory_limit) {
                Ok(engine) => engine,
                Err(e) => return Reply::error(format!("ERR cannot start the Lua engine: {e}")),
            },
        };
        let mut engine = engine;
        let db = self.db;
        let reply = engine.command(cmd, db, &mut ScriptHost { ks: self });
        self.db = db;
        self.state.scripting = Some(engine);
        reply
    }

    fn watch(&mut self, keys: &[Bytes]) -> Reply {
        for key in keys {
            // A key that is already expired counts as absent from now on:
            // deleting it later must not fail the transaction.
            self.expire_if_needed(key);
            let db = self.db;
            self.state
                .watches
                .watch(db, Bytes::copy_from_slice(key), self.client);
        }
        Reply::ok()
    }

    fn exec(&mut self, queued: &[Command]) -> Reply {
        // A watched key whose deadline passed since WATCH counts as
        // modified, even if nothing has deleted it yet.
        let watched: Vec<(u32, Bytes)> = self.state.watches.watched_by(self.client.id).to_vec();
        let home = self.db;
        for (db, key) in watched {
            self.db = db;
            self.expire_if_needed(&key);
        }
        self.db = home;
        let aborted = self.client.is_watch_dirty();
        self.state.watches.unwatch(self.client.id);
        if aborted {
            return Reply::NullArray;
        }
        let reply = transactions::exec(self, queued, |ks, cmd| {
            Ok(match commands::route(cmd.spec) {
                Route::Script => ks.script(cmd),
                _ => ks.db_command(cmd),
            })
        });
        never_interrupted(Some(reply))
    }

    fn db_command(&mut self, cmd: &Command) -> Reply {
        let databases = self.databases();
        let parsed = match DbCommand::parse(cmd, databases) {
            Some(Ok(parsed)) => parsed,
            Some(Err(reply)) => return reply,
            None => return commands::unsupported(cmd.spec.name, "memory"),
        };
        let now = self.now();
        match parsed {
            DbCommand::Keys(filter) => Reply::Array(
                self.table()
                    .iter()
                    .filter(|e| !e.is_expired(now) && filter.matches(e.key(), kind(e)))
                    .map(|e| Reply::bulk(e.key()))
                    .collect(),
            ),
            DbCommand::Scan {
                cursor,
                count,
                filter,
            } => {
                let mut found = Vec::new();
                let next = self.table().scan(cursor, count, |e| {
                    if !e.is_expired(now) && filter.matches(e.key(), kind(e)) {
                        found.push(Reply::bulk(e.key()));
                    }
                });
                scan_reply(next, found)
            }
            DbCommand::RandomKey => self.random_key(),
            DbCommand::DbSize => Reply::Integer(self.table().len() as i64),
            DbCommand::FlushDb => {
                let db = self.db;
                self.flush(db);
                self.state.flushed = true;
                Reply::ok()
            }
            DbCommand::FlushAll => {
                for db in 0..databases {
                    self.flush(db);
                }
                self.state.flushed = true;
                Reply::ok()
            }
            DbCommand::SwapDb(x, y) => {
                self.swap(x, y);
                Reply::ok()
            }
        }
    }

    fn random_key(&mut self) -> Reply {
        let now = self.now();
        let mut rng = rand::thread_rng();
        // An expired key found at random is deleted and another one drawn,
        // as Redis does; give up after a bounded number of tries when
        // nearly every key is expired, and answer with one of them rather
        // than stall.
        for _ in 0..100 {
            let Some(entry) = self.table().random(&mut rng) else {
                return Reply::Null;
            };
            let key = entry.key().to_vec();
            if !entry.is_expired(now) {
                return Reply::bulk(&key);
            }
            self.expire_if_needed(&key);
        }
        self.table()
            .random(&mut rng)
            .map_or(Reply::Null, |e| Reply::bulk(e.key()))
    }

    fn flush(&mut self, db: u32) {
        let now = self.now();
        let State { dbs, watches, .. } = &mut *self.state;
        let table = &mut dbs[db as usize];
        watches.touch_db(db, |k| is_live(table, k, now));
        table.clear();
    }

    fn swap(&mut self, x: u32, y: u32) {
        if x == y {
            return;
        }
        // A watched key changes if it exists on either side of the swap.
        let now = self.now();
        let State { dbs, watches, .. } = &mut *self.state;
        let (dx, dy) = (&dbs[x as usize], &dbs[y as usize]);
        let changed = |k: &[u8]| is_live(dx, k, now) || is_live(dy, k, now);
        watches.touch_db(x, changed);
        watches.touch_db(y, changed);
        dbs.swap(x as usize, y as usize);
        // A client blocked on a key the swap brought in may be served.
        self.state.blocked.signal_db(x);
        self.state.blocked.signal_db(y);
    }
}

/// How a script's `redis.call` runs a command on the memory store.
struct ScriptHost<'k, 'a> {
    ks: &'k mut MemKeyspace<'a>,
}

impl Host for ScriptHost<'_, '_> {
    fn call(&mut self, cmd: &Command, db: u32) -> Reply {
        let home = self.ks.db;
        self.ks.db = db;
        let reply = match commands::route(cmd.spec) {
            Route::Keyed => never_interrupted(commands::apply(cmd, self.ks)),
            Route::Db => self.ks.db_command(cmd),
            _ => commands::unsupported(cmd.spec.name, "memory"),
        };
        self.ks.db = home;
        reply
    }

    fn databases(&self) -> u32 {
        self.ks.databases()
    }
}

/// The memory store never interrupts a command.
fn never_interrupted(reply: Option<Ks<Reply>>) -> Reply {
    match reply {
        Some(Ok(reply)) => reply,
        // Unreachable: no operation of MemKeyspace returns an interrupt.
        Some(Err(interrupt)) => Reply::error(format!("ERR internal error: {interrupt:?}")),
        None => Reply::static_error("ERR internal error: not a keyed command"),
    }
}

/// `key` exists in `db` and has not expired.
fn is_live(db: &Db, key: &[u8], now: u64) -> bool {
    db.get(key).is_some_and(|e| !e.is_expired(now))
}

fn kind(entry: &Entry) -> Kind {
    entry.value().kind()
}

fn head(entry: &Entry) -> Head<'_> {
    match entry.value() {
        Value::Str(value) => Head {
            kind: Kind::String,
            expire_at: entry.expire_at(),
            value,
        },
        other => Head {
            kind: other.kind(),
            expire_at: entry.expire_at(),
            value: &[],
        },
    }
}

impl Clock for MemKeyspace<'_> {
    #[inline]
    fn now(&mut self) -> u64 {
        if self.now == 0 {
            self.now = self.clock.now_ms();
        }
        self.now
    }
}

impl Keyspace for MemKeyspace<'_> {
    fn db(&self) -> u32 {
        self.db
    }

    fn notifies(&self, class: u32) -> bool {
        self.state.notifier.as_ref().is_some_and(|n| n.wants(class))
    }

    fn notify(&mut self, class: u32, event: &'static str, key: &[u8]) {
        let db = self.db;
        self.state.notify(class, event, db, key);
    }

    fn select(&mut self, db: u32) {
        self.db = db;
    }

    fn databases(&self) -> u32 {
        self.state.dbs.len() as u32
    }

    fn max_string_len(&self) -> usize {
        self.config.max_string_len
    }

    #[inline]
    fn read(&mut self, key: &[u8]) -> Ks<Option<Head<'_>>> {
        self.expire_if_needed(key);
        let State { dbs, stats, .. } = &mut *self.state;
        let found = dbs[self.db as usize].get(key);
        if found.is_some() {
            stats.keyspace_hits += 1;
        } else {
            stats.keyspace_misses += 1;
        }
        Ok(found.map(head))
    }

    #[inline]
    fn lookup(&mut self, key: &[u8]) -> Ks<Option<Head<'_>>> {
        self.expire_if_needed(key);
        Ok(self.state.dbs[self.db as usize].get(key).map(head))
    }

    /// In place when the key already holds a string of the same size and
    /// deadline (no allocation, no free), as a new entry otherwise. Key and
    /// value are copied out of the network buffer they arrived in, into the
    /// entry's one exact-size allocation, so a stored key never pins a
    /// whole read buffer.
    #[inline]
    fn put_string(&mut self, key: &[u8], value: &[u8], expire_at: u64) -> Ks<()> {
        self.expire_if_needed(key);
        let live = expire_at == 0 || expire_at > self.now();
        if live && self.table().overwrite_string(key, value, expire_at) {
            self.touch(key);
            return Ok(());
        }
        self.store(Entry::string(key, &[value], expire_at));
        Ok(())
    }

    fn append_string(&mut self, key: &[u8], suffix: &[u8]) -> Ks<usize> {
        self.expire_if_needed(key);
        // The new entry is built straight from the stored value: one copy.
        let entry = match self.table().get(key) {
            Some(e) => match e.value() {
                Value::Str(current) => Entry::string(key, &[current, suffix], e.expire_at()),
                // The caller checked the type.
                Value::SmallHash(_) | Value::Coll(_) => return Ok(0),
            },
            None => Entry::string(key, &[suffix], 0),
        };
        let len = match entry.value() {
            Value::Str(value) => value.len(),
            Value::SmallHash(_) | Value::Coll(_) => 0,
        };
        self.store(entry);
        Ok(len)
    }

    /// In place: a change within the string touches only its bytes, and
    /// growing resizes the entry's one allocation (see
    /// [`Entry::string_mut`]).
    fn modify_string(
        &mut self,
        key: &[u8],
        min_len: usize,
        f: impl FnOnce(&mut [u8]) -> bool,
    ) -> Ks<()> {
        self.expire_if_needed(key);
        let changed = match self.table().get_mut(key) {
            Some(entry) => {
                let grown = match entry.value() {
                    Value::Str(current) => current.len() < min_len,
                    // The caller checked the type.
                    Value::SmallHash(_) | Value::Coll(_) => return Ok(()),
                };
                match entry.string_mut(min_len) {
                    Some(bytes) => f(bytes) || grown,
                    None => return Ok(()),
                }
            }
            None => {
                let mut entry = Entry::string(key, &[], 0);
                if let Some(bytes) = entry.string_mut(min_len) {
                    f(bytes);
                }
                self.store(entry);
                return Ok(());
            }
        };
        if changed {
            self.touch(key);
        }
        Ok(())
    }

    /// One lookup: the entry is changed where it is (in place when the
    /// digits keep their count, else rebuilt under the same key and
    /// deadline, so neither the table nor the volatile index moves).
    fn update_integer(
        &mut self,
        key: &[u8],
        f: impl FnOnce(Option<Head<'_>>) -> Result<i64, Reply>,
    ) -> Ks<Result<i64, Reply>> {
        self.expire_if_needed(key);
        let Some(entry) = self.table().get_mut(key) else {
            let next = f(None);
            if let Ok(n) = next {
                let mut buf = itoa::Buffer::new();
                self.store(Entry::string(key, &[buf.format(n).as_bytes()], 0));
            }
            return Ok(next);
        };
        let next = f(Some(head(entry)));
        if let Ok(n) = next {
            let mut buf = itoa::Buffer::new();
            let digits = buf.format(n).as_bytes();
            let expire_at = entry.expire_at();
            if !entry.overwrite_string(digits, expire_at) {
                *entry = Entry::string(key, &[digits], expire_at);
            }
            self.touch(key);
        }
        Ok(next)
    }

    fn set_expire(&mut self, key: &[u8], expire_at: u64) -> Ks<()> {
        if expire_at != 0 && expire_at <= self.now() {
            self.delete(key)?;
            return Ok(());
        }
        if self.table().set_expire(key, expire_at) {
            self.touch(key);
        }
        Ok(())
    }

    fn delete(&mut self, key: &[u8]) -> Ks<bool> {
        self.expire_if_needed(key);
        Ok(match self.table().remove(key) {
            Some(e) => {
                self.touch(e.key());
                true
            }
            None => false,
        })
    }

    fn encoding(&mut self, key: &[u8]) -> Ks<Option<&'static str>> {
        self.expire_if_needed(key);
        Ok(self.table().get(key).map(|e| match e.value() {
            Value::Str(v) => commands::object::string_encoding(v),
            Value::SmallHash(_) => "listpack",
            Value::Coll(c) => c.encoding(),
        }))
    }

    /// The entry's allocations and its 16-byte table slot.
    fn memory_usage(&mut self, key: &[u8]) -> Ks<Option<usize>> {
        self.expire_if_needed(key);
        Ok(self.table().get(key).map(|e| 16 + e.heap_bytes()))
    }

    fn copy(&mut self, src: &[u8], dst_db: u32, dst: &[u8]) -> Ks<()> {
        self.expire_if_needed(src);
        let Some(copied) = self
            .table()
            .get(src)
            .map(|e| Entry::new(dst, e.value(), e.expire_at()))
        else {
            return Ok(());
        };
        let home = self.db;
        self.db = dst_db;
        self.expire_if_needed(dst);
        self.store(copied);
        self.db = home;
        Ok(())
    }
}
