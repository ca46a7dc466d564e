//! Leaf stores: the services at the bottom of the stack that execute
//! commands. They know nothing about auth, caching or metrics.

pub mod dynamo;
pub mod memory;

use redynamo_layers::cache::SharedCache;
use redynamo_layers::metrics::Telemetry;
use std::sync::Arc;

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

/// A backend's `warm` hint: what a connection calls with the keys of the
/// commands it decoded ahead. Advisory only: it must change nothing a
/// client can observe, and may do nothing.
pub type Warm = Arc<dyn Fn(u32, &[&[u8]]) + Send + Sync>;

/// What a backend tells the server about how it answers: typed facts
/// behind which the connection and the metrics layer take their
/// shortcuts, so a new backend or a new kind of connection gets them (or
/// not) by construction.
#[derive(Clone, Default)]
pub struct Hints {
    /// Every command is answered in place, within the call (the in-memory
    /// store): the metrics layer then times runs of O(1) commands together
    /// (`redynamo_layers::metrics::timing`).
    pub answers_in_place: bool,
    /// Pulls the entries of `keys` of a db into the CPU's caches, so that a
    /// pipelined batch waits for memory once, with the misses overlapped,
    /// instead of once per command. None: the backend ignores such hints,
    /// and a connection collects no keys for it.
    pub warm: Option<Warm>,
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

    /// How the backend answers, for the shortcuts the connection and the
    /// metrics layer may take over it ([`Hints`]). None by default.
    fn hints(&self) -> Hints {
        Hints::default()
    }

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
