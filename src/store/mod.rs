//! Leaf stores: the services at the bottom of the stack that execute
//! commands. They know nothing about auth, caching or metrics.

pub mod dynamo;
pub mod memory;
pub mod upstream;

use std::sync::Arc;

use redynamo_layers::metrics::Telemetry;
use redynamo_layers::{BoxError, Reply, Request};
use tower::Service;

use crate::follower::ChangeFeed;
use crate::server::notify::Notifier;

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
    /// The backend's change feed, when it has one (DynamoDB Streams): a
    /// node cache in front of the backend then pays off, the backend
    /// reporting item versions for it (`Request::observations`), and the
    /// server starts a follower on the feed to keep the cache coherent.
    /// None: no cache (a local in-memory store needs none).
    pub change_feed: Option<ChangeFeed>,
    /// Every write the backend acknowledged is already durable
    /// (DynamoDB): SHUTDOWN SAVE then has nothing left to save. False for
    /// a store that loses its data on exit (the memory store), where
    /// SHUTDOWN SAVE fails as Redis' does when its save fails.
    pub durable: bool,
    /// What the backend tells operators beyond [`BackendStats`]: whether
    /// it can serve (/readyz), an INFO section and metrics of its own (the
    /// upstream proxy's connections). None: nothing more.
    pub report: Option<Arc<dyn BackendReport>>,
    /// The state of the script the backend runs, when it runs scripts:
    /// connections answer `-BUSY` from it while a script is past
    /// `busy-reply-threshold`, and CONFIG SET changes the threshold
    /// through it. None: the backend runs no scripts.
    pub scripts: Option<Arc<crate::scripting::ScriptStatus>>,
}

/// A backend's own readiness, INFO section and metrics
/// ([`Hints::report`]).
pub trait BackendReport: Send + Sync {
    /// Ok while the backend can serve; why not otherwise (/readyz answers
    /// 503 with it).
    fn ready(&self) -> Result<(), String>;

    /// An INFO section: its name (lowercase) and its `name:value` lines,
    /// CRLF-terminated.
    fn info(&self) -> (&'static str, String);

    /// Called once at start-up with the server's telemetry: describe the
    /// metrics and keep handles for those recorded as things happen.
    fn attach(&self, telemetry: &Telemetry);

    /// Set the scrape-time figures (called on every `/metrics` scrape).
    fn publish(&self, telemetry: &Telemetry);
}

/// What every leaf store is: a cloneable tower service over [`Request`]s
/// that can also report its statistics, its name, and how it answers
/// ([`Hints`], which also carry its change feed if it has one).
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

    /// How the backend answers, for the shortcuts the connection and the
    /// metrics layer may take over it, and its change feed ([`Hints`]).
    /// None by default.
    fn hints(&self) -> Hints {
        Hints::default()
    }

    /// Where the keyspace events the backend's commands raise go
    /// (`notify-keyspace-events`); called once, before serving. A backend
    /// that keeps the default raises none.
    fn set_notifier(&self, _notifier: Arc<Notifier>) {}
}
