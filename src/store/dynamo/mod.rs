//! The DynamoDB backend: the durable leaf, shared by every node on a table.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use redynamo::config::Config;
//! use redynamo::server::Server;
//! use redynamo::store::dynamo::DynamoStore;
//!
//! let config = Config::load_from(["redynamo", "--backend", "dynamodb", "--table", "cache"].map(String::from))?;
//! // Credentials, region and endpoint come from the standard AWS chain.
//! let store = DynamoStore::connect(&config).await?;
//! Server::builder(config).bind_with(store).await?.serve_until_signal().await;
//! # Ok(()) }
//! ```
//!
//! Why it is built the way it is:
//!
//! - **One table, planned once** ([`schema`]): every db and every future
//!   Redis type fit the same `pk`/`sk` layout, so hashes, sets, sorted sets,
//!   lists and streams need no migration.
//! - **One command model, DynamoDB concurrency** ([`recording`], [`engine`]):
//!   a command's handler in `crate::commands` (the same for every backend)
//!   runs on a recording keyspace over the heads it reads, loaded lazily;
//!   what it wrote is committed on the condition that nothing it read
//!   changed meanwhile, retrying on conflict. Replies are the handlers' by
//!   construction; atomicity across nodes comes from DynamoDB's conditional
//!   writes and transactions.
//! - **Failures are bounded**: the SDK retries throttling, 5xx and timeouts
//!   with exponential backoff and jitter (`--dynamo-max-attempts`), every
//!   attempt has a deadline (`--dynamo-timeout-ms`), conflicts are retried a
//!   bounded number of times, and what still fails reaches the client as
//!   `-TRYAGAIN …` or `-ERR backend unavailable: …`. Multi-key writes are one
//!   transaction, so a failure never leaves a command half applied.
//!
//! `docs/dynamodb.md` lists the DynamoDB calls each command costs, the
//! isolation of transactions and the limits.

mod calls;
mod engine;
mod error;
pub(crate) mod item;
mod keyspace;
mod recording;
pub mod schema;
mod tracking;

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, SdkConfig};
use aws_sdk_dynamodb::Client;
use parking_lot::Mutex;
use redynamo_layers::{BoxError, Reply, Request};

use crate::util::clock::Clock;
use tower::Service;

use super::{Backend, BackendStats, Hints};
use crate::config::{Config, ReadConsistency};
use crate::follower::{ChangeFeed, DynamoStreams};
pub use schema::SchemaError;
use tracking::{RecentWrites, Watched};

/// Settings of the DynamoDB backend.
#[derive(Clone, Debug)]
pub struct DynamoConfig {
    pub table: String,
    /// Create the table when it does not exist.
    pub create_table: bool,
    /// ConsistentRead on every read.
    pub strong_reads: bool,
    /// Attempts per call (the SDK's retry strategy), the first included.
    pub max_attempts: u32,
    /// Deadline of one attempt of a call.
    pub attempt_timeout: Duration,
    pub databases: u32,
    /// Largest string APPEND/SETRANGE may build (DynamoDB's item limit
    /// applies on top).
    pub max_string_len: usize,
    /// Runs of a command whose conditional write lost to a concurrent one,
    /// before the client gets `-TRYAGAIN`.
    pub conflict_attempts: u32,
    /// Rounds of retrying keys a batch call left unprocessed.
    pub unprocessed_rounds: u32,
    /// How long reads of a key this node wrote stay consistent under
    /// `--read-consistency eventual`.
    pub read_your_writes_window: Duration,
    /// The wall clock deadlines are measured against (a manual one in
    /// tests).
    pub clock: Clock,
}

impl DynamoConfig {
    pub fn from_config(config: &Config) -> DynamoConfig {
        DynamoConfig {
            table: config.table.clone(),
            create_table: config.create_table,
            strong_reads: config.read_consistency == ReadConsistency::Strong,
            max_attempts: config.dynamo_max_attempts,
            attempt_timeout: Duration::from_millis(config.dynamo_timeout_ms),
            databases: config.databases,
            max_string_len: config.proto_max_bulk_len,
            conflict_attempts: 32,
            unprocessed_rounds: 8,
            read_your_writes_window: Duration::from_secs(1),
            clock: Clock::system(),
        }
    }

    /// The SDK's retry policy: standard mode (exponential backoff with full
    /// jitter, a retry quota so a dead service is not hammered).
    pub fn retry_config(&self) -> RetryConfig {
        RetryConfig::standard()
            .with_max_attempts(self.max_attempts)
            .with_initial_backoff(Duration::from_millis(25))
            .with_max_backoff(Duration::from_secs(1))
    }

    /// Deadlines: each attempt, and the whole call with its retries, so a
    /// command can never hang on DynamoDB.
    pub fn timeout_config(&self) -> TimeoutConfig {
        let attempts = self.max_attempts.max(1);
        TimeoutConfig::builder()
            .connect_timeout(self.attempt_timeout)
            .operation_attempt_timeout(self.attempt_timeout)
            .operation_timeout(
                self.attempt_timeout * attempts + Duration::from_secs(attempts as u64),
            )
            .build()
    }
}

/// Why the backend could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("no AWS region configured for DynamoDB: set AWS_REGION or a profile's region")]
    NoRegion,
    #[error(transparent)]
    Schema(#[from] SchemaError),
}

/// The DynamoDB leaf store: a cheap `Clone` handle.
#[derive(Clone)]
pub struct DynamoStore {
    shared: Arc<Shared>,
}

/// What every handle shares.
pub(crate) struct Shared {
    client: Client,
    /// For the streams follower of the node's cache.
    streams: aws_sdk_dynamodbstreams::Client,
    table: String,
    config: DynamoConfig,
    /// What commands run under (dbs, longest string).
    limits: recording::Limits,
    /// WATCHed keys by client id, with the versions seen at WATCH time.
    /// Entries go on EXEC and UNWATCH (which the connection also sends
    /// when a watching client disconnects).
    watches: Mutex<HashMap<u64, Vec<Watched>>>,
    recent: RecentWrites,
    /// The write clock: the stamp every write sets and is conditional on.
    stamps: item::Stamps,
    /// Where this node's SCAN iterations stopped.
    cursors: keyspace::Cursors,
    counters: Counters,
}

#[derive(Default)]
struct Counters {
    hits: AtomicU64,
    misses: AtomicU64,
}

impl Counters {
    fn add(&self, hits: u64, misses: u64) {
        if hits > 0 {
            self.hits.fetch_add(hits, Ordering::Relaxed);
        }
        if misses > 0 {
            self.misses.fetch_add(misses, Ordering::Relaxed);
        }
    }
}

impl DynamoStore {
    /// Load the AWS configuration from the standard chain, then check (or
    /// create) the table.
    pub async fn connect(config: &Config) -> Result<DynamoStore, StartError> {
        DynamoStore::connect_with_clock(config, Clock::system()).await
    }

    /// [`DynamoStore::connect`], with deadlines measured against `clock`.
    pub async fn connect_with_clock(
        config: &Config,
        clock: Clock,
    ) -> Result<DynamoStore, StartError> {
        let config = DynamoConfig {
            clock,
            ..DynamoConfig::from_config(config)
        };
        let region = region().await.ok_or(StartError::NoRegion)?;
        let sdk = aws_config::defaults(BehaviorVersion::latest())
            .region(region)
            .retry_config(config.retry_config())
            .timeout_config(config.timeout_config())
            .load()
            .await;
        DynamoStore::with_sdk_config(&sdk, config).await
    }

    /// Over an SDK configuration the caller loaded (tests, embedding).
    pub async fn with_sdk_config(
        sdk: &SdkConfig,
        config: DynamoConfig,
    ) -> Result<DynamoStore, StartError> {
        if sdk.region().is_none() {
            return Err(StartError::NoRegion);
        }
        let client = Client::new(sdk);
        schema::ensure_table(&client, &config.table, config.create_table).await?;
        let limits = recording::Limits {
            databases: config.databases,
            max_string_len: config.max_string_len,
        };
        Ok(DynamoStore {
            shared: Arc::new(Shared {
                client,
                streams: aws_sdk_dynamodbstreams::Client::new(sdk),
                table: config.table.clone(),
                recent: RecentWrites::new(config.read_your_writes_window),
                stamps: item::Stamps::default(),
                config,
                limits,
                watches: Mutex::new(HashMap::new()),
                cursors: keyspace::Cursors::default(),
                counters: Counters::default(),
            }),
        })
    }

    /// The SDK client the store uses.
    pub fn client(&self) -> &Client {
        &self.shared.client
    }
}

/// How long start-up waits for the instance metadata service to name the
/// region: it answers in milliseconds on EC2, and elsewhere its client
/// would retry connecting for seconds.
const IMDS_REGION_PATIENCE: Duration = Duration::from_secs(2);

/// The region, from the standard chain's sources in its order: the
/// environment (`AWS_REGION`), the profile (`AWS_PROFILE`,
/// `~/.aws/config`), then EC2 instance metadata unless
/// `AWS_EC2_METADATA_DISABLED`. Only when the first two name none is the
/// metadata service asked, quietly: off EC2 its client logs a warning per
/// failed attempt, which would bury the one line that matters ("no AWS
/// region configured …").
async fn region() -> Option<aws_config::Region> {
    use aws_config::meta::region::RegionProviderChain;
    use tracing::instrument::WithSubscriber;
    let local = RegionProviderChain::first_try(
        aws_config::environment::EnvironmentVariableRegionProvider::new(),
    )
    .or_else(aws_config::profile::ProfileFileRegionProvider::new());
    if let Some(region) = local.region().await {
        return Some(region);
    }
    let imds = aws_config::imds::region::ImdsRegionProvider::builder().build();
    let quiet = imds
        .region()
        .with_subscriber(tracing::subscriber::NoSubscriber::default());
    tokio::time::timeout(IMDS_REGION_PATIENCE, quiet)
        .await
        .ok()
        .flatten()
}

impl Service<Request> for DynamoStore {
    type Response = Reply;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Reply, BoxError>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        // Every call is independent; concurrency is bounded above the leaf.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request) -> Self::Future {
        let shared = self.shared.clone();
        Box::pin(async move { shared.execute(req).await })
    }
}

impl Backend for DynamoStore {
    /// Hits and misses only: key counts would cost a Scan of the table,
    /// which INFO must not trigger (DBSIZE does it on request).
    fn stats(&self) -> BackendStats {
        BackendStats {
            keyspace_hits: self.shared.counters.hits.load(Ordering::Relaxed),
            keyspace_misses: self.shared.counters.misses.load(Ordering::Relaxed),
            ..BackendStats::default()
        }
    }

    fn name(&self) -> &'static str {
        "dynamodb"
    }

    /// The table's stream is the change feed a node cache follows.
    fn hints(&self) -> Hints {
        let (tables, streams) = (self.shared.client.clone(), self.shared.streams.clone());
        let table = self.shared.table.clone();
        Hints {
            change_feed: Some(ChangeFeed::new(move || {
                DynamoStreams::new(tables.clone(), streams.clone(), table.clone())
            })),
            durable: true,
            ..Hints::default()
        }
    }
}

impl Shared {
    /// Unix milliseconds by the store's clock.
    fn now(&self) -> u64 {
        self.config.clock.now_ms()
    }
}
