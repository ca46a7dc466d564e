//! The embedded in-memory store: the default backend, nothing to set up.
//!
//! `MemoryStore` is a cheap `Clone` handle over shared state behind one
//! mutex. Every command runs to completion inside one short critical section
//! (no `.await` while holding it), which makes each command — and each
//! `EXEC` — atomic, as in Redis. Expiry is lazy (a read of an expired key
//! deletes it) plus active: a background task deletes keys whose deadline
//! passed, in bounded batches so it never holds the lock for long. The task
//! stops when the last handle is dropped.
//!
//! Blocking commands (BLPOP …) that find nothing park their client
//! without a thread or the lock ([`blocking`]): the call's future is then
//! a [`blocking::BlockedCall`] instead of a ready reply, and every other
//! command stays answered in place, with no allocation.
//!
//! Scripts (EVAL, FCALL) run inside the same critical section as any
//! command, on the calling task's thread, so nothing interleaves with them
//! ([`crate::scripting`]). A long script must not stall the runtime's
//! other threads, so no thread ever waits for the lock while a script
//! holds it ([`Shared::lock_unless_script`]): a command that finds a
//! script running waits asynchronously ([`ScriptWait`]) and, once the
//! script is past `busy-reply-threshold`, answers `-BUSY`; SCRIPT KILL and
//! FUNCTION KILL never take the lock.

mod blocking;
mod db;
mod entry;
mod hash;
mod keyspace;
mod list;
mod set;
mod zset;

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Weak};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures::future::{ready, Either, Ready};
use parking_lot::{Mutex, MutexGuard};
use redynamo_layers::command::CommandId;
use redynamo_layers::{BoxError, ClientInfo, Reply, Request};
use tower::Service;

pub use db::Db;
pub use entry::{Collection, Entry, Value};

use super::{Backend, BackendStats, DbStats, Hints};
use crate::commands;
use crate::commands::notify::class;
use crate::scripting::{KillKind, ScriptStatus};
use crate::server::notify::{Event, Notifier};
use crate::server::tracking::Modified;
use crate::util::clock::Clock;

/// Settings of the memory store.
#[derive(Clone, Debug)]
pub struct MemoryConfig {
    pub databases: u32,
    /// Largest string a command may build (APPEND, SETRANGE): Redis'
    /// proto-max-bulk-len.
    pub max_string_len: usize,
    /// How often active expiry runs.
    pub expire_interval: Duration,
    /// The wall clock expiry is measured against (a manual one in tests).
    pub clock: Clock,
    /// Memory the Lua VM of scripts and functions may use, bytes.
    pub lua_memory_limit: usize,
}

impl Default for MemoryConfig {
    fn default() -> Self {
        MemoryConfig {
            databases: 16,
            max_string_len: 512 * 1024 * 1024,
            expire_interval: Duration::from_millis(100),
            clock: Clock::system(),
            lua_memory_limit: crate::scripting::DEFAULT_MEMORY_LIMIT,
        }
    }
}

#[derive(Clone)]
pub struct MemoryStore {
    shared: Arc<Shared>,
}

struct Shared {
    state: Mutex<State>,
    config: MemoryConfig,
    /// The running script, read without the lock.
    scripts: Arc<ScriptStatus>,
}

impl Shared {
    /// The lock, or None at once when a script holds it (a script may
    /// hold it for seconds: no runtime thread may wait that long).
    fn lock_unless_script(&self) -> Option<MutexGuard<'_, State>> {
        loop {
            if let Some(guard) = self.state.try_lock_for(Duration::from_micros(200)) {
                return Some(guard);
            }
            if self.scripts.is_running() {
                return None;
            }
        }
    }
}

/// The future of a memory store call: ready, a parked blocking command,
/// or a command waiting for a running script to end.
pub type MemoryFuture =
    Either<Ready<Result<Reply, BoxError>>, Either<blocking::BlockedCall, ScriptWait>>;

/// A command that found a script holding the store: it polls every
/// millisecond and runs when the script is over, or answers `-BUSY` once
/// the script is past `busy-reply-threshold`.
pub type ScriptWait = Pin<Box<dyn Future<Output = Result<Reply, BoxError>> + Send>>;

/// Everything behind the lock.
pub(crate) struct State {
    pub(crate) dbs: Vec<Db>,
    pub(crate) watches: Watches,
    pub(crate) stats: Counters,
    /// Clients parked in blocking commands, by key.
    pub(crate) blocked: blocking::Blocked,
    /// The Lua engine, made on the first scripting command. Taken out
    /// while a script runs (its `redis.call` needs the rest of the state).
    pub(crate) scripting: Option<crate::scripting::Engine>,
    pub(crate) scripts: Arc<ScriptStatus>,
    /// Where keyspace events go (set once by the server).
    pub(crate) notifier: Option<Arc<Notifier>>,
    /// Events the running command raised, published after it
    /// ([`State::publish_events`]) while the lock is still held, so they
    /// go out in the order commands ran.
    pub(crate) events: Vec<Event>,
    /// Keys the running command changed, with its client's id, for CLIENT
    /// TRACKING (collected only while some client tracks).
    pub(crate) changed: Modified,
    /// The running command flushed a db (tracking's null invalidation).
    pub(crate) flushed: bool,
}

impl State {
    /// Raise an event in db `db` if anyone asked for its class.
    pub(crate) fn notify(&mut self, class: u32, event: &'static str, db: u32, key: &[u8]) {
        if self.notifier.as_ref().is_some_and(|n| n.wants(class)) {
            self.events.push(Event {
                class,
                event,
                db,
                key: Bytes::copy_from_slice(key),
            });
        }
    }

    /// `key` changed, by client `writer` (0: expiry), for CLIENT TRACKING.
    pub(crate) fn modified(&mut self, key: &[u8], writer: u64) {
        if self
            .notifier
            .as_ref()
            .is_some_and(|n| n.tracking.is_active())
        {
            self.changed.push((Bytes::copy_from_slice(key), writer));
        }
    }

    /// Publish what the last command raised: its keyspace events, then
    /// its tracking invalidations.
    pub(crate) fn publish_events(&mut self) {
        if self.events.is_empty() && self.changed.is_empty() && !self.flushed {
            return;
        }
        if let Some(n) = &self.notifier {
            for e in self.events.drain(..) {
                n.publish(&e);
            }
            n.tracking.invalidate(&self.changed);
            if std::mem::take(&mut self.flushed) {
                n.tracking.flush();
            }
        }
        self.events.clear();
        self.changed.clear();
        self.flushed = false;
    }
}

#[derive(Default)]
pub(crate) struct Counters {
    pub(crate) expired_keys: u64,
    pub(crate) keyspace_hits: u64,
    pub(crate) keyspace_misses: u64,
}

/// WATCH bookkeeping, as Redis keeps it: who watches which key, so a write
/// marks exactly those clients dirty. Writes pay one `is_empty` check when
/// nobody watches anything.
#[derive(Default)]
pub(crate) struct Watches {
    /// db → key → the clients watching it.
    by_key: HashMap<u32, HashMap<Bytes, Vec<Weak<ClientInfo>>>>,
    by_client: HashMap<u64, Vec<(u32, Bytes)>>,
}

impl Watches {
    pub(crate) fn touch(&mut self, db: u32, key: &[u8]) {
        if self.by_key.is_empty() {
            return;
        }
        if let Some(clients) = self.by_key.get(&db).and_then(|keys| keys.get(key)) {
            for c in clients.iter().filter_map(Weak::upgrade) {
                c.mark_watch_dirty();
            }
        }
    }

    /// Mark every client that watches a key of `db` for which `changed`
    /// holds (FLUSHDB, FLUSHALL, SWAPDB). As in Redis'
    /// `touchAllWatchedKeysInDb`, only keys the operation really changes
    /// count: watching a key that does not exist survives a flush.
    pub(crate) fn touch_db(&mut self, db: u32, mut changed: impl FnMut(&[u8]) -> bool) {
        for (key, clients) in self.by_key.get(&db).into_iter().flat_map(|k| k.iter()) {
            if changed(key) {
                for c in clients.iter().filter_map(Weak::upgrade) {
                    c.mark_watch_dirty();
                }
            }
        }
    }

    pub(crate) fn watch(&mut self, db: u32, key: Bytes, client: &Arc<ClientInfo>) {
        let keys = self.by_client.entry(client.id).or_default();
        if keys.iter().any(|(d, k)| *d == db && *k == key) {
            return;
        }
        keys.push((db, key.clone()));
        self.by_key
            .entry(db)
            .or_default()
            .entry(key)
            .or_default()
            .push(Arc::downgrade(client));
    }

    pub(crate) fn unwatch(&mut self, client_id: u64) {
        for (db, key) in self.by_client.remove(&client_id).unwrap_or_default() {
            let Some(keys) = self.by_key.get_mut(&db) else {
                continue;
            };
            if let Some(clients) = keys.get_mut(&key) {
                clients.retain(|c| c.upgrade().is_some_and(|c| c.id != client_id));
                if clients.is_empty() {
                    keys.remove(&key);
                }
            }
            if keys.is_empty() {
                self.by_key.remove(&db);
            }
        }
    }

    pub(crate) fn watched_by(&self, client_id: u64) -> &[(u32, Bytes)] {
        self.by_client
            .get(&client_id)
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }
}

impl MemoryStore {
    /// A new store. Spawns the active-expiry task, so it must be called
    /// inside a tokio runtime.
    pub fn new(config: MemoryConfig) -> MemoryStore {
        let scripts = Arc::new(ScriptStatus::default());
        let state = State {
            dbs: (0..config.databases).map(|_| Db::default()).collect(),
            watches: Watches::default(),
            stats: Counters::default(),
            blocked: blocking::Blocked::default(),
            scripting: None,
            scripts: scripts.clone(),
            notifier: None,
            events: Vec::new(),
            changed: Vec::new(),
            flushed: false,
        };
        let shared = Arc::new(Shared {
            state: Mutex::new(state),
            config,
            scripts,
        });
        tokio::spawn(active_expiry(Arc::downgrade(&shared)));
        MemoryStore { shared }
    }

    /// Execute one request synchronously. A blocking command that finds
    /// nothing answers as inside MULTI (see [`Service::call`] for one
    /// that waits).
    pub fn execute(&self, req: &Request) -> Reply {
        let mut state = self.shared.state.lock();
        Self::execute_locked(&self.shared, &mut state, req)
    }

    fn execute_locked(shared: &Arc<Shared>, state: &mut State, req: &Request) -> Reply {
        let config = &shared.config;
        let reply = keyspace::MemKeyspace::new(state, config, &config.clock, req).execute(req);
        state.publish_events();
        if state.blocked.has_ready() {
            blocking::serve_ready(shared, state);
        }
        reply
    }

    /// The script status this store's scripts report to (the server's
    /// `-BUSY` check, CONFIG SET busy-reply-threshold).
    pub fn script_status(&self) -> Arc<ScriptStatus> {
        self.shared.scripts.clone()
    }

    /// Wait for the running script to end, then run `req`; `-BUSY` once
    /// the script is past the threshold.
    fn after_script(&self, req: Request) -> MemoryFuture {
        let mut store = self.clone();
        Either::Right(Either::Right(Box::pin(async move {
            loop {
                if let Some(busy) = store.shared.scripts.busy_reply() {
                    return Ok(busy);
                }
                if !store.shared.scripts.is_running() {
                    return store.call(req).await;
                }
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        })))
    }

    /// Run a blocking command: its reply, or its parked future.
    fn call_blocking(&self, req: Request) -> MemoryFuture {
        let Some(mut state) = self.shared.lock_unless_script() else {
            return self.after_script(req);
        };
        let config = &self.shared.config;
        let outcome =
            keyspace::MemKeyspace::new(&mut state, config, &config.clock, &req).blocking(&req);
        state.publish_events();
        match outcome {
            commands::Blocking::Done(reply) => {
                if state.blocked.has_ready() {
                    blocking::serve_ready(&self.shared, &mut state);
                }
                Either::Left(ready(Ok(reply)))
            }
            commands::Blocking::Wait(wait) => Either::Right(Either::Left(blocking::park(
                &self.shared,
                &mut state,
                req,
                wait,
            ))),
        }
    }
}

/// Delete up to `batch` expired keys; returns how many it deleted.
fn expire_batch(shared: &Shared, batch: usize) -> usize {
    let now = shared.config.clock.now_ms();
    // A script holds the store: expiry waits for the next tick.
    let Some(mut state) = shared.lock_unless_script() else {
        return 0;
    };
    let mut removed = 0;
    for db in 0..state.dbs.len() {
        while removed < batch {
            let Some(key) = state.dbs[db].next_expired(now) else {
                break;
            };
            state.dbs[db].remove(&key);
            state.stats.expired_keys += 1;
            state.watches.touch(db as u32, &key);
            state.notify(class::EXPIRED, "expired", db as u32, &key);
            state.modified(&key, 0);
            removed += 1;
        }
    }
    state.publish_events();
    removed
}

/// Delete expired keys in batches, releasing the lock between batches so
/// that commands are never held up for more than one batch.
async fn active_expiry(shared: Weak<Shared>) {
    const BATCH: usize = 200;
    let interval = match shared.upgrade() {
        Some(s) => s.config.expire_interval,
        None => return,
    };
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let Some(shared) = shared.upgrade() else {
            return;
        };
        loop {
            let removed = expire_batch(&shared, BATCH);
            if removed < BATCH {
                break;
            }
            tokio::task::yield_now().await;
        }
    }
}

impl Service<Request> for MemoryStore {
    type Response = Reply;
    type Error = BoxError;
    type Future = MemoryFuture;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }

    /// Answered in place, except a blocking command (the table's
    /// `blocking` routing fact) that finds nothing: it waits, parked.
    fn call(&mut self, req: Request) -> Self::Future {
        if req.command.spec.routing.blocking {
            return self.call_blocking(req);
        }
        // These stop the script that holds the lock: they never take it.
        match req.command.spec.id {
            CommandId::ScriptKill => {
                return Either::Left(ready(Ok(self.shared.scripts.kill(KillKind::Script))))
            }
            CommandId::FunctionKill => {
                return Either::Left(ready(Ok(self.shared.scripts.kill(KillKind::Function))))
            }
            _ => {}
        }
        let Some(mut state) = self.shared.lock_unless_script() else {
            return self.after_script(req);
        };
        Either::Left(ready(Ok(Self::execute_locked(
            &self.shared,
            &mut state,
            &req,
        ))))
    }
}

impl Backend for MemoryStore {
    fn stats(&self) -> BackendStats {
        // While a script holds the store, INFO shows no keyspace rather
        // than wait for it.
        let Some(state) = self.shared.lock_unless_script() else {
            return BackendStats::default();
        };
        let keyspace = state
            .dbs
            .iter()
            .enumerate()
            .filter(|(_, db)| !db.is_empty())
            .map(|(i, db)| DbStats {
                db: i as u32,
                keys: db.len() as u64,
                expires: db.volatile_len() as u64,
            })
            .collect();
        BackendStats {
            keyspace,
            expired_keys: state.stats.expired_keys,
            evicted_keys: 0,
            keyspace_hits: state.stats.keyspace_hits,
            keyspace_misses: state.stats.keyspace_misses,
            data_bytes: 0,
        }
    }

    fn name(&self) -> &'static str {
        "memory"
    }

    fn set_notifier(&self, notifier: Arc<Notifier>) {
        self.shared.state.lock().notifier = Some(notifier);
    }

    fn hints(&self) -> Hints {
        let store = self.clone();
        Hints {
            answers_in_place: true,
            warm: Some(Arc::new(move |db, keys| store.warm(db, keys))),
            // Local: no node cache in front of it, so no feed to follow.
            change_feed: None,
            // Lost on exit: SHUTDOWN SAVE cannot be honoured.
            durable: false,
            report: None,
            scripts: Some(self.shared.scripts.clone()),
        }
    }
}

impl MemoryStore {
    /// Pull the entries of `keys` of `db` into the CPU's caches
    /// ([`Hints::warm`]).
    fn warm(&self, db: u32, keys: &[&[u8]]) {
        // Only a hint: not worth any wait.
        let Some(state) = self.shared.state.try_lock() else {
            return;
        };
        if let Some(db) = state.dbs.get(db as usize) {
            for key in keys {
                db.warm(key);
            }
        }
    }
}
