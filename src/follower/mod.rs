//! The DynamoDB Streams follower: keeps a node's cache coherent with every
//! write to the table, whoever made it, and turns the cache off while it
//! cannot vouch for it.
//!
//! ```no_run
//! # async fn run(sdk: aws_config::SdkConfig, cache: redynamo_layers::cache::SharedCache) {
//! use std::time::Duration;
//! use redynamo::follower::{DynamoStreams, FollowerConfig, StreamFollower};
//! use redynamo_layers::metrics::Telemetry;
//! use tokio_util::sync::CancellationToken;
//!
//! let streams = DynamoStreams::new(
//!     aws_sdk_dynamodb::Client::new(&sdk),
//!     aws_sdk_dynamodbstreams::Client::new(&sdk),
//!     "cache-table",
//! );
//! let config = FollowerConfig::new(Duration::from_millis(1000));
//! let handle = StreamFollower::spawn(streams, cache, config, &Telemetry::noop(), CancellationToken::new());
//! println!("{:?}", handle.status());
//! # }
//! ```
//!
//! How it works (`docs/cache.md` has the operator's view):
//!
//! - **Shards**: it lists the stream's shards (DescribeStream, paginated)
//!   every `shard_refresh` and whenever a shard closes, and runs one
//!   reader task per open shard. Parents are read to their end before
//!   their children start ([`Lineage`]). Shards open at start-up start at
//!   LATEST (the cache starts empty); shards found later start at
//!   TRIM_HORIZON, so nothing between a parent's end and the child's start
//!   is lost.
//! - **Failures**: an expired iterator is renewed after the last sequence
//!   number applied; trimmed data (past retention) means changes were
//!   lost, so the cache is cleared once caught up; throttling and other
//!   errors are retried with exponential backoff and jitter; a closed shard
//!   hands over to its children; a stream that is gone (disabled, table
//!   recreated) is found again and followed from LATEST.
//! - **Changes**: INSERT and MODIFY carry the new head (decoded with the
//!   store's item decoding; a tombstone is an absent key at its version)
//!   and update an entry only if newer; REMOVE (DynamoDB's TTL reaper, or
//!   another program) drops the key at the old image's version.
//! - **Staleness gate** ([`Gate`]): for each shard the follower knows a
//!   time before which every change has been applied (the start of the
//!   last read that came back empty, or the creation time of the last
//!   record applied). The lag is now minus the oldest of these — so it
//!   also grows while calls fail or hang. While the lag exceeds
//!   `max_staleness`, or after data may have been lost, the cache serves
//!   no reads (they go to DynamoDB); once every shard has applied
//!   everything up to a time after that, the cache is cleared and serves
//!   again. A node is *not serving from cache* until it first catches up.
//!
//! The two seams ([`StreamsApi`] for where records come from, [`ChangeSink`]
//! for where they go) are where a leased single reader per shard will plug
//! in: the lease holder's sink also fans changes out, and its peers feed
//! their caches from the fan-out instead of from DynamoDB Streams.

mod dynamo;
mod run;
mod source;
#[cfg(test)]
mod tests;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use redynamo_layers::cache::SharedCache;
use redynamo_layers::metrics::Telemetry;
use tokio_util::sync::CancellationToken;

pub use self::dynamo::{cached_item, change_of, decode_record, table_image, DynamoStreams};
pub use self::run::{Clock, Gate, Lineage, Verdict};
pub use self::source::{
    Batch, Change, ChangeSink, EventKind, Position, Record, ShardInfo, StreamError, StreamsApi,
};

/// Settings of the follower.
#[derive(Clone, Debug)]
pub struct FollowerConfig {
    /// The cache serves no reads while the follower is further behind than
    /// this (`--max-staleness-ms`).
    pub max_staleness: Duration,
    /// Pause between reads of a shard that came back empty. Each reader
    /// polls at most this often when idle (DynamoDB Streams allows a few
    /// GetRecords per second per shard, shared by every reader).
    pub poll_interval: Duration,
    /// How often shards are listed again (new shards appear as the table
    /// grows and every few hours as shards roll over).
    pub shard_refresh: Duration,
    /// First and longest pause after a failed call (throttling, errors).
    pub backoff_base: Duration,
    pub backoff_max: Duration,
}

impl FollowerConfig {
    /// Defaults for a staleness bound: idle polls four times per second, or
    /// four times per bound when the bound is shorter than a second, so an
    /// idle follower never looks behind.
    pub fn new(max_staleness: Duration) -> FollowerConfig {
        FollowerConfig {
            max_staleness,
            poll_interval: (max_staleness / 4)
                .clamp(Duration::from_millis(10), Duration::from_millis(250)),
            shard_refresh: Duration::from_secs(10),
            backoff_base: Duration::from_millis(50),
            backoff_max: Duration::from_secs(2),
        }
    }

    /// How often the gate is judged: often enough that the lag is noticed
    /// within a tenth of the bound.
    fn check_interval(&self) -> Duration {
        (self.max_staleness / 10).clamp(Duration::from_millis(5), Duration::from_millis(100))
    }
}

/// What the follower is doing, for /readyz, INFO and logs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FollowerStatus {
    /// Positioning on the stream; the cache does not serve yet.
    Starting,
    /// Within the bound; the cache serves.
    Following { lag: Duration },
    /// Further behind than the bound (or catching up after a gap); reads
    /// go to DynamoDB.
    Behind { lag: Duration },
    /// Calls to the stream fail; reads go to DynamoDB.
    Failing { reason: String, lag: Duration },
}

impl FollowerStatus {
    /// A one-word name: `starting`, `following`, `behind`, `failing`.
    pub fn name(&self) -> &'static str {
        match self {
            FollowerStatus::Starting => "starting",
            FollowerStatus::Following { .. } => "following",
            FollowerStatus::Behind { .. } => "behind",
            FollowerStatus::Failing { .. } => "failing",
        }
    }

    pub fn lag(&self) -> Duration {
        match self {
            FollowerStatus::Starting => Duration::ZERO,
            FollowerStatus::Following { lag }
            | FollowerStatus::Behind { lag }
            | FollowerStatus::Failing { lag, .. } => *lag,
        }
    }
}

impl fmt::Display for FollowerStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FollowerStatus::Failing { reason, .. } => write!(f, "failing: {reason}"),
            other => f.write_str(other.name()),
        }
    }
}

/// A handle on a running follower. Cheap to clone; the follower runs until
/// the shutdown token given to [`StreamFollower::spawn`] is cancelled.
#[derive(Clone)]
pub struct FollowerHandle {
    status: Arc<dyn Fn() -> (FollowerStatus, u64, usize) + Send + Sync>,
    serving: Arc<dyn Fn() -> bool + Send + Sync>,
}

impl FollowerHandle {
    /// A handle over any follower: `status` gives its state, its lag in
    /// ms and how many sources (shards, connections) it reads; `serving`
    /// whether the cache serves now. The upstream proxy's invalidation
    /// connection reports through one (`crate::store::upstream`).
    pub fn new(
        status: impl Fn() -> (FollowerStatus, u64, usize) + Send + Sync + 'static,
        serving: impl Fn() -> bool + Send + Sync + 'static,
    ) -> FollowerHandle {
        FollowerHandle {
            status: Arc::new(status),
            serving: Arc::new(serving),
        }
    }

    pub fn status(&self) -> FollowerStatus {
        (self.status)().0
    }

    /// Whether the cache serves reads now.
    pub fn cache_serving(&self) -> bool {
        (self.serving)()
    }

    /// The follower's lines of INFO's cache section, CRLF-terminated.
    pub fn info(&self) -> String {
        let (status, lag_ms, shards) = (self.status)();
        let reason = match &status {
            FollowerStatus::Failing { reason, .. } => reason.replace(['\r', '\n'], " "),
            _ => String::new(),
        };
        format!(
            "follower_status:{}\r\nfollower_lag_ms:{lag_ms}\r\nfollower_shards:{shards}\r\nfollower_error:{reason}\r\n",
            status.name(),
        )
    }
}

impl fmt::Debug for FollowerHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FollowerHandle")
            .field("status", &self.status())
            .finish()
    }
}

/// A backend's change feed: where every write made to its data, by anyone
/// (this node, other nodes, other programs), can be followed. A node cache
/// in front of a backend pays off only with one, since following it is
/// what keeps the cache coherent. A backend offers it in its hints
/// ([`crate::store::Hints::change_feed`]); the server's start-up asks for
/// it and, when it builds a cache, starts a follower on it
/// ([`ChangeFeed::follow`]). The backend knows nothing of followers.
#[derive(Clone)]
pub struct ChangeFeed {
    start: Arc<StartFollower>,
}

/// How a [`ChangeFeed`] starts a follower.
type StartFollower = dyn Fn(SharedCache, FollowerConfig, &Telemetry, CancellationToken) -> FollowerHandle
    + Send
    + Sync;

impl ChangeFeed {
    /// A feed read through a [`StreamsApi`]: each follower opens its own
    /// with `open`.
    pub fn new<A: StreamsApi>(open: impl Fn() -> A + Send + Sync + 'static) -> ChangeFeed {
        ChangeFeed {
            start: Arc::new(move |cache, config, telemetry, shutdown| {
                StreamFollower::spawn(open(), cache, config, telemetry, shutdown)
            }),
        }
    }

    /// A feed that starts its own kind of follower (the upstream proxy's
    /// invalidation connection): `start` must stop the cache serving until
    /// it can vouch for it, as [`StreamFollower::spawn`] does.
    pub fn custom(
        start: impl Fn(SharedCache, FollowerConfig, &Telemetry, CancellationToken) -> FollowerHandle
            + Send
            + Sync
            + 'static,
    ) -> ChangeFeed {
        ChangeFeed {
            start: Arc::new(start),
        }
    }

    /// Keep `cache` coherent with the feed until `shutdown`: the cache
    /// stops serving at once and serves again once the follower has caught
    /// up ([`StreamFollower::spawn`]). Must run in a tokio runtime.
    pub fn follow(
        &self,
        cache: SharedCache,
        config: FollowerConfig,
        telemetry: &Telemetry,
        shutdown: CancellationToken,
    ) -> FollowerHandle {
        (self.start)(cache, config, telemetry, shutdown)
    }
}

impl fmt::Debug for ChangeFeed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ChangeFeed")
    }
}

/// Starts followers.
pub struct StreamFollower;

impl StreamFollower {
    /// Follow `api` into `sink` until `shutdown` is cancelled. The sink
    /// stops serving at once, and serves again once the follower is
    /// positioned on every shard and caught up. Must run in a tokio runtime.
    pub fn spawn<A: StreamsApi, K: ChangeSink + Clone>(
        api: A,
        sink: K,
        config: FollowerConfig,
        telemetry: &Telemetry,
        shutdown: CancellationToken,
    ) -> FollowerHandle {
        sink.stop_serving();
        let clock = Clock::new();
        let shared = Arc::new(run::Shared {
            api,
            sink: sink.clone(),
            gate: Mutex::new(Gate::new(clock.now_ms())),
            config,
            clock,
            metrics: run::Metrics::new(telemetry),
        });
        let status_of = shared.clone();
        let handle = FollowerHandle {
            status: Arc::new(move || {
                let gate = status_of.gate.lock();
                let shards = gate.shard_count();
                (gate.status.clone(), gate.lag_ms, shards)
            }),
            serving: Arc::new(move || sink.is_serving()),
        };
        tokio::spawn(run::run(shared, shutdown));
        handle
    }
}
