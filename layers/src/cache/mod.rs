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

mod store;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use futures::future::{ready, Either, Ready};
use tower_layer::Layer;
use tower_service::Service;

pub use self::store::{CacheConfig, Item, Lookup, SharedCache};
use crate::error::BoxError;
use crate::reply::errors;
use crate::{ItemState, Observations, Reply, Request};

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

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

/// The reply a read gets from cached states, one per key, in key order;
/// None when the layer does not answer this command.
fn answer(name: &str, states: &[ItemState]) -> Option<Reply> {
    let wrong_type = states.iter().any(|s| matches!(s, ItemState::OtherType(_)));
    Some(match name {
        "get" | "strlen" if wrong_type => errors::WRONGTYPE,
        "get" => match &states[0] {
            ItemState::Value { value, .. } => Reply::Bulk(value.clone()),
            _ => Reply::Null,
        },
        "strlen" => match &states[0] {
            ItemState::Value { value, .. } => Reply::Integer(value.len() as i64),
            _ => Reply::Integer(0),
        },
        "type" => Reply::status(match &states[0] {
            ItemState::Value { .. } => "string",
            ItemState::Absent => "none",
            ItemState::OtherType(t) => t,
        }),
        "exists" => Reply::Integer(
            states
                .iter()
                .filter(|s| !matches!(s, ItemState::Absent))
                .count() as i64,
        ),
        "mget" => Reply::Array(
            states
                .iter()
                .map(|s| match s {
                    ItemState::Value { value, .. } => Reply::Bulk(value.clone()),
                    _ => Reply::Null,
                })
                .collect(),
        ),
        _ => return None,
    })
}

fn answers(name: &str) -> bool {
    matches!(name, "get" | "strlen" | "type" | "exists" | "mget")
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
        if spec.is_readonly() && answers(spec.name) {
            let now = now_ms();
            let single_missed = {
                let mut named = req.command.keys();
                let (first, more) = (named.next(), named.next().is_some());
                // Most reads name one key: a hit on it allocates nothing.
                match (first, more) {
                    (Some(key), false) => match self.cache.lookup(db, key, now) {
                        Lookup::Hit(state) => {
                            if let Some(reply) = answer(spec.name, std::slice::from_ref(&state)) {
                                return Either::Left(ready(Ok(reply)));
                            }
                            true
                        }
                        Lookup::Miss => true,
                    },
                    _ => false,
                }
            };
            let keys: Vec<Bytes> = req.command.keys().cloned().collect();
            if !single_missed {
                let mut states = Vec::with_capacity(keys.len());
                for key in &keys {
                    match self.cache.lookup(db, key, now) {
                        Lookup::Hit(state) => states.push(state),
                        Lookup::Miss => break,
                    }
                }
                if states.len() == keys.len() {
                    if let Some(reply) = answer(spec.name, &states) {
                        return Either::Left(ready(Ok(reply)));
                    }
                }
            }
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
            // Commands that reach keys in another db than the request's.
            let other_db = cmd.spec.name == "copy" && cmd.args.len() > 3;
            if other_db || cmd.spec.name == "select" || cmd.spec.name == "swapdb" {
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
