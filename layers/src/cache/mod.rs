//! A node-wide read cache in front of a remote backend.
//!
//! [`CacheLayer`] answers the reads it understands (GET, MGET, EXISTS,
//! STRLEN, TYPE) from a [`SharedCache`] shared by every connection of the
//! node, and keeps it coherent:
//!
//! - **Read-your-writes**: a write's outcome is applied only after the
//!   backend accepted it, using the item versions the backend reports
//!   through [`Observations`]; a write whose outcome is unknown (an error,
//!   a timeout, a backend that reports nothing) invalidates its keys.
//! - **Versions**: an entry is only ever replaced by a newer version, so
//!   no interleaving of local writes, stream events, fills and evictions
//!   leaves an older value in place of a newer one (see [`SharedCache`] and
//!   the reordering test below).
//! - **Other nodes' writes** arrive through the streams follower, which
//!   calls [`SharedCache::apply`] and [`SharedCache::invalidate`], and
//!   turns serving off while it is behind ([`SharedCache::stop_serving`]).
//!
//! Which commands are reads, writes and keys comes from the command table;
//! the layer only knows how to answer the five reads above from a cached
//! state.

mod recent;
mod store;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures::future::{ready, Either, Ready};
use tower_layer::Layer;
use tower_service::Service;

pub use self::store::{CacheConfig, CacheCounts, Item, Lookup, SharedCache};
use crate::command::CachedRead;
use crate::error::BoxError;
use crate::reply::errors;
use crate::{ItemState, Observations, Reply, Request};

/// Applies [`Cache`].
#[derive(Clone)]
pub struct CacheLayer {
    cache: SharedCache,
}

impl CacheLayer {
    pub fn new(cache: SharedCache) -> CacheLayer {
        CacheLayer { cache }
    }
}

impl<S> Layer<S> for CacheLayer {
    type Service = Cache<S>;

    fn layer(&self, inner: S) -> Cache<S> {
        Cache {
            inner,
            cache: self.cache.clone(),
        }
    }
}

#[derive(Clone)]
pub struct Cache<S> {
    inner: S,
    cache: SharedCache,
}

type BoxFuture = Pin<Box<dyn Future<Output = Result<Reply, BoxError>> + Send>>;

/// The reads the layer answers from cached states: the command table
/// says which ([`Routing::cached_read`]), this module says how.
///
/// [`Routing::cached_read`]: crate::command::Routing::cached_read
impl CachedRead {
    /// The reply for one key's state, moved in: a GET hit hands the cached
    /// `Bytes` to the reply without another clone.
    fn answer_one(self, state: ItemState) -> Reply {
        match (self, state) {
            (CachedRead::Get | CachedRead::Strlen, ItemState::OtherType(_)) => errors::WRONGTYPE,
            (CachedRead::Get, ItemState::Value { value, .. }) => Reply::Bulk(value),
            (CachedRead::Get, _) => Reply::Null,
            (CachedRead::Strlen, ItemState::Value { value, .. }) => {
                Reply::Integer(value.len() as i64)
            }
            (CachedRead::Strlen, _) => Reply::Integer(0),
            (CachedRead::Type, state) => Reply::status(match state {
                ItemState::Value { .. } => "string",
                ItemState::Absent => "none",
                ItemState::OtherType(t) => t,
            }),
            (CachedRead::Exists, state) => {
                Reply::Integer(i64::from(!matches!(state, ItemState::Absent)))
            }
            (CachedRead::Mget, state) => Reply::Array(vec![mget_entry(state)]),
        }
    }

    /// The reply for several keys' states, in key order.
    fn answer(self, states: Vec<ItemState>) -> Reply {
        match self {
            CachedRead::Exists => Reply::Integer(
                states
                    .iter()
                    .filter(|s| !matches!(s, ItemState::Absent))
                    .count() as i64,
            ),
            CachedRead::Mget => Reply::Array(states.into_iter().map(mget_entry).collect()),
            // The other reads name one key (the command table says so).
            _ => match states.into_iter().next() {
                Some(state) => self.answer_one(state),
                None => Reply::Null,
            },
        }
    }
}

fn mget_entry(state: ItemState) -> Reply {
    match state {
        ItemState::Value { value, .. } => Reply::Bulk(value),
        _ => Reply::Null,
    }
}

impl<S> Service<Request> for Cache<S>
where
    S: Service<Request, Response = Reply, Error = BoxError> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Reply;
    type Error = BoxError;
    type Future = Either<Ready<Result<Reply, BoxError>>, Either<S::Future, BoxFuture>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request) -> Self::Future {
        let spec = req.command.spec;
        let db = req.db;
        // The generator allows `cached_read` on readonly commands only.
        let read = spec.routing.cached_read;
        if let Some(read) = read {
            let single_missed = {
                let mut named = req.command.keys();
                let (first, more) = (named.next(), named.next().is_some());
                // Most reads name one key: a hit on it allocates nothing and
                // clones the value once, into the reply.
                match (first, more) {
                    (Some(key), false) => match self.cache.lookup(db, key) {
                        Lookup::Hit(state) => {
                            return Either::Left(ready(Ok(read.answer_one(state))))
                        }
                        Lookup::Miss => true,
                    },
                    _ => false,
                }
            };
            if !single_missed {
                // Several keys: answered only if every one hits; the keys
                // are cloned only for a miss.
                let mut states = Vec::new();
                let mut all_hit = true;
                for key in req.command.keys() {
                    match self.cache.lookup(db, key) {
                        Lookup::Hit(state) => states.push(state),
                        Lookup::Miss => {
                            all_hit = false;
                            break;
                        }
                    }
                }
                if all_hit {
                    return Either::Left(ready(Ok(read.answer(states))));
                }
            }
            let keys: Vec<Bytes> = req.command.keys().cloned().collect();
            // Miss: take leases, read through, fill what we leased.
            let leases: Vec<(Bytes, u64)> = keys
                .iter()
                .filter_map(|k| self.cache.begin_fill(db, k).map(|t| (k.clone(), t)))
                .collect();
            if leases.is_empty() {
                return Either::Right(Either::Left(self.inner.call(req)));
            }
            let observations = Arc::new(Observations::default());
            req.observations = Some(observations.clone());
            let cache = self.cache.clone();
            let future = self.inner.call(req);
            return Either::Right(Either::Right(Box::pin(async move {
                let result = future.await;
                let seen = observations.take();
                for (key, token) in leases {
                    let found = seen.iter().find(|o| o.db == db && o.key == key);
                    match (&result, found) {
                        (Ok(reply), Some(o)) if !reply.is_error() => cache.complete_fill(
                            db,
                            &key,
                            token,
                            Item {
                                version: o.version,
                                state: o.state.clone(),
                            },
                        ),
                        _ => cache.abandon_fill(db, &key, token),
                    }
                }
                result
            })));
        }
        let is_transaction = !req.transaction.is_empty();
        if !spec.is_write() && !is_transaction {
            return Either::Right(Either::Left(self.inner.call(req)));
        }
        // A write (or EXEC): learn the new versions, else invalidate.
        let mut touched: Vec<(u32, Bytes)> = Vec::new();
        let mut clear_all = false;
        for cmd in std::iter::once(&req.command).chain(req.transaction.iter()) {
            // Commands that reach keys in another db than the request's
            // (COPY … DB n, SWAPDB), or move the rest of a transaction to
            // another db (SELECT): the keys above would name the wrong db.
            if cmd.reaches_other_db() {
                clear_all = true;
            }
            let before = touched.len();
            touched.extend(cmd.keys().map(|k| (db, k.clone())));
            if cmd.spec.is_write() && touched.len() == before {
                // A write without keys (FLUSHDB, FLUSHALL …).
                clear_all = true;
            }
        }
        let observations = Arc::new(Observations::default());
        req.observations = Some(observations.clone());
        let cache = self.cache.clone();
        let future = self.inner.call(req);
        Either::Right(Either::Right(Box::pin(async move {
            let result = future.await;
            if clear_all {
                cache.clear();
                return result;
            }
            let seen = if result.is_ok() {
                observations.take()
            } else {
                Vec::new()
            };
            // Everything the backend reported, then the keys it did not.
            for o in &seen {
                cache.apply(
                    o.db,
                    &o.key,
                    Item {
                        version: o.version,
                        state: o.state.clone(),
                    },
                    true,
                );
            }
            for (db, key) in touched {
                if !seen.iter().any(|o| o.db == db && o.key == key) {
                    cache.invalidate(db, &key);
                }
            }
            result
        })))
    }
}

#[cfg(test)]
mod tests;
