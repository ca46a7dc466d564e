//! Where change records come from, and where they go.
//!
//! The follower is split at two seams so that a leased single reader per
//! shard can be added without rewriting it (see `docs/cache.md`):
//!
//! - [`StreamsApi`]: the shard-level API of a change stream (list shards,
//!   position an iterator, read a batch). [`super::DynamoStreams`] is the
//!   DynamoDB Streams implementation; tests use a scripted fake.
//! - [`ChangeSink`]: what the follower does with decoded changes and with
//!   its verdict on staleness. [`SharedCache`] is the sink of every node
//!   today; a lease holder's sink would also fan changes out to its peers,
//!   and a peer would feed the same sink from the fan-out instead of from
//!   the stream.

use std::future::Future;

use bytes::Bytes;
use redynamo_layers::cache::{Item, SharedCache};

/// One shard as the stream lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShardInfo {
    pub id: String,
    /// The shard this one continues (a split or a rotation): its records
    /// MUST be applied before this shard's.
    pub parent: Option<String>,
    /// The shard has an ending sequence number: it receives no new records.
    pub closed: bool,
}

/// Where a new shard iterator starts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Position {
    /// Only records written from now on.
    Latest,
    /// The oldest record the stream still holds.
    TrimHorizon,
    /// Right after a record already applied.
    AfterSequence(String),
}

/// The kind of a stream event, for the records metric.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventKind {
    Insert,
    Modify,
    Remove,
}

impl EventKind {
    pub fn label(self) -> &'static str {
        match self {
            EventKind::Insert => "insert",
            EventKind::Modify => "modify",
            EventKind::Remove => "remove",
        }
    }
}

/// What one record means for a node's cache.
#[derive(Clone, Debug, PartialEq)]
pub enum Change {
    /// The key's head now has this state at this version.
    Put { db: u32, key: Bytes, item: Item },
    /// The key's head item was deleted (DEL leaves a tombstone, so this
    /// is DynamoDB's TTL reaper or another program) at this version.
    Remove { db: u32, key: Bytes, version: u64 },
    /// Something changed that cannot be decoded: drop the key.
    Invalidate { db: u32, key: Bytes },
    /// Not a key's head (a collection member, a foreign item).
    Ignore,
}

/// One record of a shard, decoded.
#[derive(Clone, Debug, PartialEq)]
pub struct Record {
    pub sequence: String,
    /// When the change was made, Unix ms (DynamoDB rounds it down to the
    /// second, which only makes the lag look larger than it is).
    pub created_ms: u64,
    pub event: EventKind,
    pub change: Change,
}

/// What one read of a shard returned.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Batch {
    pub records: Vec<Record>,
    /// The iterator for the next read; None once the shard is closed and
    /// fully read.
    pub next: Option<String>,
}

/// Why a call to the stream failed, as far as the follower cares.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum StreamError {
    /// The iterator is older than 15 minutes: get a new one.
    #[error("shard iterator expired")]
    ExpiredIterator,
    /// The records asked for are past the 24 h retention: data was lost.
    #[error("stream records trimmed: {0}")]
    Trimmed(String),
    /// Too many calls (LimitExceeded, ProvisionedThroughputExceeded,
    /// Throttling): back off.
    #[error("throttled: {0}")]
    Throttled(String),
    /// The stream (or table) is gone, disabled or replaced: start over.
    #[error("stream not found: {0}")]
    StreamGone(String),
    /// Anything else (network, 5xx, timeouts): retry with backoff.
    #[error("{0}")]
    Unavailable(String),
}

impl StreamError {
    /// A bounded label for the errors metric.
    pub fn label(&self) -> &'static str {
        match self {
            StreamError::ExpiredIterator => "expired_iterator",
            StreamError::Trimmed(_) => "trimmed",
            StreamError::Throttled(_) => "throttled",
            StreamError::StreamGone(_) => "stream_gone",
            StreamError::Unavailable(_) => "unavailable",
        }
    }
}

/// The shard-level API of a change stream.
pub trait StreamsApi: Send + Sync + 'static {
    /// Every shard the stream currently holds, open and closed.
    fn list_shards(&self) -> impl Future<Output = Result<Vec<ShardInfo>, StreamError>> + Send;

    /// A new iterator over `shard` starting at `at`.
    fn iterator(
        &self,
        shard: &str,
        at: &Position,
    ) -> impl Future<Output = Result<String, StreamError>> + Send;

    /// The records after `iterator`.
    fn read(&self, iterator: &str) -> impl Future<Output = Result<Batch, StreamError>> + Send;
}

/// Where decoded changes and the staleness verdict go.
pub trait ChangeSink: Send + Sync + 'static {
    fn apply(&self, change: &Change);
    /// The follower is behind or failing: reads MUST NOT be served from
    /// what this sink holds.
    fn stop_serving(&self);
    /// The follower has caught up: drop whatever may have been missed,
    /// then serve.
    fn resume_serving(&self);
    fn is_serving(&self) -> bool;
}

impl ChangeSink for SharedCache {
    fn apply(&self, change: &Change) {
        match change {
            Change::Put { db, key, item } => {
                SharedCache::apply(self, *db, key, item.clone(), false)
            }
            Change::Remove { db, key, version } => SharedCache::remove(self, *db, key, *version),
            Change::Invalidate { db, key } => SharedCache::invalidate(self, *db, key),
            Change::Ignore => {}
        }
    }

    fn stop_serving(&self) {
        SharedCache::stop_serving(self)
    }

    fn resume_serving(&self) {
        SharedCache::resume_serving(self)
    }

    fn is_serving(&self) -> bool {
        SharedCache::is_serving(self)
    }
}
