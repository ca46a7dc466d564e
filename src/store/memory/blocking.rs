//! Clients blocked on keys (BLPOP, BRPOP, BLMOVE, BRPOPLPUSH, BLMPOP, and
//! the sorted sets' BZPOPMIN family): who waits for which key, in the
//! order they blocked, and how a write that makes a key ready serves them.
//!
//! A blocked client holds no thread and no lock: its command's future
//! ([`BlockedCall`]) sits in its connection's task, and the store keeps a
//! [`Waiter`] for it here, behind the store's one mutex. The mechanism is
//! Redis' (`blocked.c`), and generic over "a key became ready":
//!
//! 1. A blocking command that finds nothing says what it waits for
//!    ([`crate::commands::Wait`]: keys, the type it needs, a timeout). Its
//!    request is registered under each key, in FIFO order.
//! 2. Every write marks its key ([`MemKeyspace::touch`]); a key someone
//!    waits on is put on the ready list ([`Blocked::signal`]). SWAPDB
//!    signals every waited key of both dbs.
//! 3. When the request that wrote it is done (a whole EXEC counts as one),
//!    still under the lock, the store serves the ready keys
//!    ([`serve_ready`]): for each, the clients waiting on it, longest
//!    waiting first, as long as the key holds a value of the type the
//!    client waits for, run their command again
//!    ([`crate::commands::apply_blocking`]) as themselves. Its reply goes
//!    to the waiter and wakes its task. What the rerun writes (BLMOVE's
//!    push) may ready more keys, served in the same pass. So a push with
//!    three clients waiting hands one element to each, in blocking order,
//!    before any other client's command can take them, as in Redis.
//! 4. The timeout, CLIENT UNBLOCK (through the client's
//!    [`redynamo_layers::request::BlockState`]) or dropping the future
//!    (the client went away) removes the waiter.
//!
//! Adding a blocking type: return [`crate::commands::Blocking::Wait`] with
//! its [`Kind`] from the command, add the command to
//! `commands::apply_blocking`; nothing here changes.

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use bytes::Bytes;
use redynamo_layers::request::Unblock;
use redynamo_layers::{BoxError, ClientInfo, Reply, Request};
use tokio::time::Sleep;

use super::keyspace::MemKeyspace;
use super::{Shared, State};
use crate::commands::keyspace::Kind;
use crate::commands::lists::TIMED_OUT;
use crate::commands::{Blocking, Wait};

/// The error CLIENT UNBLOCK … ERROR gives the blocked client.
const UNBLOCKED: Reply = Reply::static_error("UNBLOCKED client unblocked via CLIENT UNBLOCK");

/// One parked command.
struct Waiter {
    req: Request,
    kind: Kind,
    keys: Vec<Bytes>,
    /// The reply, once served; the waiter stays until its future takes it.
    served: Option<Reply>,
    waker: Option<Waker>,
}

/// Every parked command, by key.
#[derive(Default)]
pub(crate) struct Blocked {
    next_id: u64,
    /// db → key → the waiters' ids, longest waiting first.
    by_key: HashMap<u32, HashMap<Bytes, VecDeque<u64>>>,
    waiters: HashMap<u64, Waiter>,
    /// Keys written since the last serve that someone waits on.
    ready: Vec<(u32, Bytes)>,
}

impl Blocked {
    /// `key` of `db` was written: queue it if a client waits on it. One
    /// `is_empty` check when nobody waits.
    #[inline]
    pub(crate) fn signal(&mut self, db: u32, key: &[u8]) {
        if self.by_key.is_empty() {
            return;
        }
        self.signal_waited(db, key);
    }

    fn signal_waited(&mut self, db: u32, key: &[u8]) {
        let waited = self.by_key.get(&db).is_some_and(|k| k.contains_key(key));
        if waited && !self.ready.iter().any(|(d, k)| *d == db && k == key) {
            self.ready.push((db, Bytes::copy_from_slice(key)));
        }
    }

    /// Every key of `db` someone waits on may have changed (SWAPDB).
    pub(crate) fn signal_db(&mut self, db: u32) {
        let keys: Vec<Bytes> = self
            .by_key
            .get(&db)
            .map(|k| k.keys().cloned().collect())
            .unwrap_or_default();
        for key in keys {
            self.signal_waited(db, &key);
        }
    }

    pub(crate) fn has_ready(&self) -> bool {
        !self.ready.is_empty()
    }

    fn register(&mut self, req: Request, wait: Wait) -> u64 {
        self.next_id += 1;
        let id = self.next_id;
        let keys = self.by_key.entry(req.db).or_default();
        let mut seen: Vec<&Bytes> = Vec::with_capacity(wait.keys.len());
        for key in &wait.keys {
            // BLPOP k k 0 waits once on k.
            if seen.contains(&key) {
                continue;
            }
            seen.push(key);
            keys.entry(key.clone()).or_default().push_back(id);
        }
        self.waiters.insert(
            id,
            Waiter {
                req,
                kind: wait.kind,
                keys: wait.keys,
                served: None,
                waker: None,
            },
        );
        id
    }

    /// Take the waiter off its keys (it stays, for its reply, if served).
    fn unlink(&mut self, id: u64) {
        let Some(w) = self.waiters.get(&id) else {
            return;
        };
        let db = w.req.db;
        if let Some(keys) = self.by_key.get_mut(&db) {
            for key in &w.keys {
                if let Some(ids) = keys.get_mut(key) {
                    ids.retain(|&i| i != id);
                    if ids.is_empty() {
                        keys.remove(key);
                    }
                }
            }
            if keys.is_empty() {
                self.by_key.remove(&db);
            }
        }
    }

    fn remove(&mut self, id: u64) -> Option<Waiter> {
        self.unlink(id);
        self.waiters.remove(&id)
    }

    fn serve(&mut self, id: u64, reply: Reply) {
        self.unlink(id);
        if let Some(w) = self.waiters.get_mut(&id) {
            w.served = Some(reply);
            if let Some(waker) = w.waker.take() {
                waker.wake();
            }
        }
    }
}

/// Serve the clients waiting on the keys made ready since the last serve
/// (see the module docs). Called under the store's lock, after each
/// request.
pub(crate) fn serve_ready(shared: &Shared, state: &mut State) {
    while state.blocked.has_ready() {
        let ready = std::mem::take(&mut state.blocked.ready);
        for (db, key) in ready {
            let ids: Vec<u64> = state
                .blocked
                .by_key
                .get(&db)
                .and_then(|k| k.get(&key))
                .map(|ids| ids.iter().copied().collect())
                .unwrap_or_default();
            for id in ids {
                let Some(w) = state.blocked.waiters.get(&id) else {
                    continue;
                };
                if w.served.is_some() || !holds(shared, state, db, &key, w.kind) {
                    continue;
                }
                // CLIENT UNBLOCK may have come first: then the future
                // answers it, and this waiter is not served.
                if !w.req.client.block.claim() {
                    continue;
                }
                let req = w.req.clone();
                let outcome = MemKeyspace::new(state, &shared.config, &shared.config.clock, &req)
                    .blocking(&req);
                // A served waiter's pops are events in their own right.
                state.publish_events();
                match outcome {
                    Blocking::Done(reply) => state.blocked.serve(id, reply),
                    // Still nothing (cannot happen for a key of the right
                    // type, but a command may be stricter): wait on.
                    Blocking::Wait(_) => req.client.block.enter(),
                }
            }
        }
    }
}

/// Whether `key` of `db` is live and of type `kind`.
fn holds(shared: &Shared, state: &State, db: u32, key: &[u8], kind: Kind) -> bool {
    let now = shared.config.clock.now_ms();
    state.dbs[db as usize]
        .get(key)
        .is_some_and(|e| !e.is_expired(now) && e.value().kind() == kind)
}

/// Park `req`, which waits for `wait`: its future.
pub(crate) fn park(
    shared: &Arc<Shared>,
    state: &mut State,
    req: Request,
    wait: Wait,
) -> BlockedCall {
    let client = req.client.clone();
    let timeout = wait.timeout;
    let id = state.blocked.register(req, wait);
    client.block.enter();
    BlockedCall {
        shared: shared.clone(),
        id,
        client,
        sleep: timeout.map(|t| Box::pin(tokio::time::sleep(t))),
        done: false,
    }
}

/// The future of a parked command: its reply when served, the timeout's,
/// or CLIENT UNBLOCK's. Dropping it (the client went away) removes the
/// waiter. `Unpin`, like every store future.
pub struct BlockedCall {
    shared: Arc<Shared>,
    id: u64,
    client: Arc<ClientInfo>,
    sleep: Option<Pin<Box<Sleep>>>,
    done: bool,
}

impl Future for BlockedCall {
    type Output = Result<Reply, BoxError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        if this.done {
            return Poll::Pending;
        }
        this.client.block.register(cx.waker());
        let mut state = this.shared.state.lock();
        let served = state
            .blocked
            .waiters
            .get_mut(&this.id)
            .and_then(|w| w.served.take());
        if let Some(reply) = served {
            state.blocked.remove(this.id);
            this.done = true;
            return Poll::Ready(Ok(reply));
        }
        if let Some(how) = this.client.block.take_unblock() {
            state.blocked.remove(this.id);
            this.done = true;
            return Poll::Ready(Ok(match how {
                Unblock::Timeout => TIMED_OUT,
                Unblock::Error => UNBLOCKED,
            }));
        }
        if let Some(sleep) = &mut this.sleep {
            if sleep.as_mut().poll(cx).is_ready() {
                state.blocked.remove(this.id);
                this.client.block.leave();
                this.done = true;
                return Poll::Ready(Ok(TIMED_OUT));
            }
        }
        if let Some(w) = state.blocked.waiters.get_mut(&this.id) {
            w.waker = Some(cx.waker().clone());
        }
        Poll::Pending
    }
}

impl Drop for BlockedCall {
    fn drop(&mut self) {
        if !self.done {
            self.shared.state.lock().blocked.remove(self.id);
            self.client.block.leave();
        }
    }
}
