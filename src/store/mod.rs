//! Leaf stores: the services at the bottom of the stack that execute
//! commands. They know nothing about auth, caching or metrics.

pub mod dynamo;
pub mod memory;

use redynamo_layers::cache::SharedCache;
use redynamo_layers::metrics::Telemetry;
use redynamo_layers::{BoxError, Reply, Request};
use tokio_util::sync::CancellationToken;

use crate::follower::{FollowerConfig, FollowerHandle};
use tower::Service;

/// Per-database key counts for INFO keyspace.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DbStats {
    pub db: u32,
    pub keys: u64,
    pub expires: u64,
}

/// Counters a backend keeps for INFO stats.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BackendStats {
    pub keyspace: Vec<DbStats>,
    pub expired_keys: u64,
    pub evicted_keys: u64,
    pub keyspace_hits: u64,
    pub keyspace_misses: u64,
    /// Approximate bytes of keys and values held, when the backend holds any.
    pub data_bytes: u64,
}

/// What every leaf store is: a cloneable tower service over [`Request`]s
/// that can also report its statistics.
pub trait Backend:
    Service<Request, Response = Reply, Error = BoxError, Future: Send + Unpin + 'static>
    + Clone
    + Send
    + Sync
    + 'static
{
    /// Counters and per-db sizes, for INFO and metrics.
    fn stats(&self) -> BackendStats;

    /// A short name for INFO (`memory`, `dynamodb`, `redis`).
    fn name(&self) -> &'static str;

    /// Whether a node cache in front of this backend pays off and the
    /// backend reports item versions for it (`Request::observations`). A
    /// local in-memory store needs no cache.
    fn wants_cache(&self) -> bool {
        false
    }

    /// Whether every command is answered in place, within the call (the
    /// in-memory store): the metrics layer then times runs of O(1)
    /// commands together (`redynamo_layers::metrics::timing`).
    fn answers_in_place(&self) -> bool {
        false
    }

    /// Whether [`Backend::warm`] does anything (a connection collects no
    /// keys for a backend that ignores them).
    fn warms(&self) -> bool {
        false
    }

    /// A hint that commands on `keys` of `db` are about to run. The memory
    /// store pulls their entries into the CPU's caches, so a pipelined
    /// batch waits for memory once, with the misses overlapped, instead of
    /// once per command. Advisory only: it must change nothing a client can
    /// observe, and may do nothing.
    fn warm(&self, _db: u32, _keys: &[&[u8]]) {}

    /// Keep `cache` coherent with writes made elsewhere (other nodes, other
    /// programs) until `shutdown`: the DynamoDB backend starts its streams
    /// follower. None when the backend has no change stream, in which case
    /// the cache never serves.
    fn follow(
        &self,
        _cache: SharedCache,
        _config: FollowerConfig,
        _telemetry: &Telemetry,
        _shutdown: CancellationToken,
    ) -> Option<FollowerHandle> {
        None
    }
}
