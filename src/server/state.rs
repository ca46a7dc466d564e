//! State shared by every connection and by the admin commands.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use std::sync::atomic::AtomicBool;

use redynamo_layers::auth::Credentials;
use redynamo_layers::cache::SharedCache;
use redynamo_layers::metrics::{CommandStats, SlowLog, Telemetry};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::clients::Clients;
use super::notify::Notifier;
use super::pause::ClientPause;
use super::pubsub::PubSub;
use super::tracking::Tracking;
use crate::config::Config;
use crate::follower::FollowerHandle;
use crate::store::BackendStats;

/// Settings that CONFIG SET may change while the server runs. Connections
/// read them on every read loop, so a change applies to existing clients.
#[derive(Debug)]
pub struct Tunables {
    pub maxclients: AtomicUsize,
    pub idle_timeout_secs: AtomicU64,
    pub proto_max_bulk_len: AtomicUsize,
    pub client_query_buffer_limit: AtomicUsize,
}

/// Counters for INFO stats.
#[derive(Debug, Default)]
pub struct ServerStats {
    pub total_connections_received: AtomicU64,
    pub rejected_connections: AtomicU64,
    pub total_commands_processed: AtomicU64,
    pub net_input_bytes: AtomicU64,
    pub net_output_bytes: AtomicU64,
}

impl ServerStats {
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }
    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }
    pub fn reset(&self) {
        for c in [
            &self.total_connections_received,
            &self.rejected_connections,
            &self.total_commands_processed,
            &self.net_input_bytes,
            &self.net_output_bytes,
        ] {
            c.store(0, Ordering::Relaxed);
        }
    }
}

/// The global allocator's memory in bytes, (current, peak), for INFO's
/// `used_memory` and `used_memory_peak`.
pub type AllocatorStats = fn() -> (u64, u64);

/// Reads a backend's statistics; boxed so the server state is not generic.
pub type StatsSource = Arc<dyn Fn() -> BackendStats + Send + Sync>;

pub use crate::store::Warm;

pub struct ServerState {
    /// The settings the server started with.
    pub config: Config,
    pub tunables: Tunables,
    /// The ACL users (the default one's password is `requirepass`), the
    /// ACL LOG and the denial counters.
    pub credentials: Credentials,
    /// The TLS configuration, with `--tls-port` (reloaded in place).
    pub tls: Option<Arc<super::tls::Tls>>,
    pub clients: Arc<Clients>,
    /// CLIENT PAUSE's pause, which connections wait on.
    pub pause: ClientPause,
    /// MONITOR's clients, fed every command while there are any.
    pub monitors: super::monitor::Monitors,
    /// Who listens to which channel; PUBLISH, keyspace notifications and
    /// tracking invalidations are delivered through it.
    pub pubsub: Arc<PubSub>,
    /// `notify-keyspace-events` and where the stores' events go.
    pub notifier: Arc<Notifier>,
    /// CLIENT TRACKING's table and options.
    pub tracking: Arc<Tracking>,
    pub stats: ServerStats,
    pub started: Instant,
    pub started_unix_secs: u64,
    /// 40 hex characters, new for every process (INFO run_id).
    pub run_id: String,
    pub backend_name: &'static str,
    pub backend_stats: StatsSource,
    /// INFO `mem_allocator`: the process's global allocator.
    pub allocator: String,
    /// The allocator's own figures, when the program supplied them
    /// ([`crate::server::ServerBuilder::allocator_stats`]).
    pub allocator_stats: Option<AllocatorStats>,
    /// Set when the backend warms keys ahead of commands (the memory
    /// store); None otherwise.
    pub warm: Option<Warm>,
    /// The backend keeps every acknowledged write ([`crate::store::Hints::durable`]).
    pub durable: bool,
    /// The port actually bound (differs from `config.port` when it was 0).
    pub port: AtomicU64,
    /// Cancelled when the server begins to shut down.
    pub shutdown: CancellationToken,
    /// Cancelled when every connection has drained (stops the metrics
    /// listener last, so it reports the drain).
    pub stopped: CancellationToken,
    /// Cleared as soon as shutdown is requested: /readyz reports it.
    ready: AtomicBool,
    /// A shutdown was requested and is still in its `--shutdown-delay-ms`
    /// wait, the one phase SHUTDOWN ABORT may cancel.
    shutdown_pending: AtomicBool,
    /// Wakes the shutdowns waiting in that phase when one is aborted.
    shutdown_aborted: Notify,
    pub command_stats: Arc<CommandStats>,
    pub slowlog: Arc<SlowLog>,
    pub telemetry: Telemetry,
    /// The node's read cache, when the backend wants one and the settings
    /// allow it (`--cache-max-bytes` > 0, eventual reads).
    pub cache: Option<SharedCache>,
    /// The streams follower that keeps `cache` coherent and decides when
    /// it may serve (INFO cache section, /readyz).
    pub follower: Option<FollowerHandle>,
    /// The backend's own readiness, INFO section and metrics, if it has
    /// any ([`crate::store::Hints::report`]).
    pub backend_report: Option<Arc<dyn crate::store::BackendReport>>,
    /// The backend's running script ([`crate::store::Hints::scripts`]):
    /// connections answer `-BUSY` while it is past the threshold.
    pub scripts: Arc<crate::scripting::ScriptStatus>,
}

impl ServerState {
    pub fn new(
        config: Config,
        backend_name: &'static str,
        backend_stats: StatsSource,
        telemetry: Telemetry,
    ) -> ServerState {
        let clients = Arc::new(Clients::default());
        let pubsub = Arc::new(PubSub::with_limits(
            clients.push_limits.clone(),
            clients.push_disconnections.clone(),
        ));
        let tracking = Arc::new(Tracking::new(clients.clone()));
        let run_id: String = (0..40)
            .map(|_| char::from_digit(rand::random::<u32>() % 16, 16).unwrap_or('0'))
            .collect();
        let state = ServerState {
            tunables: Tunables {
                maxclients: AtomicUsize::new(config.maxclients),
                idle_timeout_secs: AtomicU64::new(config.timeout),
                proto_max_bulk_len: AtomicUsize::new(config.proto_max_bulk_len),
                client_query_buffer_limit: AtomicUsize::new(config.client_query_buffer_limit),
            },
            credentials: {
                let acl = Credentials::with_telemetry(config.requirepass.clone(), &telemetry);
                acl.set_log_max_len(config.acllog_max_len);
                acl
            },
            tls: None,
            clients: clients.clone(),
            pause: ClientPause::default(),
            monitors: Default::default(),
            pubsub: pubsub.clone(),
            notifier: Arc::new(Notifier::new(pubsub, tracking.clone())),
            tracking,
            stats: ServerStats::default(),
            started: Instant::now(),
            started_unix_secs: crate::util::now_ms() / 1000,
            run_id,
            backend_name,
            backend_stats,
            allocator: "libc".to_string(),
            allocator_stats: None,
            warm: None,
            durable: false,
            port: AtomicU64::new(config.port as u64),
            shutdown: CancellationToken::new(),
            stopped: CancellationToken::new(),
            ready: AtomicBool::new(true),
            shutdown_pending: AtomicBool::new(false),
            shutdown_aborted: Notify::new(),
            command_stats: Arc::new(CommandStats::new(telemetry.recorder())),
            slowlog: Arc::new(SlowLog::new(
                config.slowlog_log_slower_than,
                config.slowlog_max_len,
            )),
            cache: None,
            follower: None,
            backend_report: None,
            scripts: Arc::new(crate::scripting::ScriptStatus::new(
                config.busy_reply_threshold,
            )),
            telemetry,
            config,
        };
        state.apply_runtime_settings();
        state
    }

    /// The settings that live outside [`Tunables`] (the Pub/Sub, tracking
    /// and keyspace-event registries) from the options: the options were
    /// checked when parsed, so these cannot fail.
    fn apply_runtime_settings(&self) {
        let c = &self.config;
        let _ = self.notifier.set_flags(&c.notify_keyspace_events);
        if let Some(limits) = &c.client_output_buffer_limit {
            let _ = self.pubsub.limits.set(limits);
        }
        self.tracking
            .max_keys
            .store(c.tracking_table_max_keys, Ordering::Relaxed);
    }
}

impl ServerState {
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Relaxed)
            && !self.shutdown.is_cancelled()
            && self
                .backend_report
                .as_ref()
                .is_none_or(|r| r.ready().is_ok())
    }

    /// Graceful shutdown: report unready on /readyz first, give load
    /// balancers `--shutdown-delay-ms` to notice, then stop accepting and
    /// let connections drain. SIGTERM, SIGINT and SHUTDOWN all come here.
    pub async fn begin_shutdown(&self) {
        let delay = std::time::Duration::from_millis(self.config.shutdown_delay_ms);
        self.shutdown_after(delay).await;
    }

    /// [`ServerState::begin_shutdown`] with its own delay (SHUTDOWN NOW
    /// skips it). False when SHUTDOWN ABORT cancelled it during the delay.
    pub async fn shutdown_after(&self, delay: std::time::Duration) -> bool {
        if !delay.is_zero() {
            // Registered before the request is visible, so an ABORT that
            // sees it also wakes this wait.
            let aborted = self.shutdown_aborted.notified();
            tokio::pin!(aborted);
            aborted.as_mut().enable();
            self.ready.store(false, Ordering::Relaxed);
            self.shutdown_pending.store(true, Ordering::SeqCst);
            tokio::select! {
                _ = tokio::time::sleep(delay) => {}
                _ = aborted => return false,
            }
        }
        self.ready.store(false, Ordering::Relaxed);
        self.shutdown_pending.store(false, Ordering::SeqCst);
        self.shutdown.cancel();
        true
    }

    /// SHUTDOWN ABORT: cancel a shutdown still in its delay. False when
    /// none is (Redis' "No shutdown in progress."): not requested, or
    /// already draining, which nothing stops.
    pub fn abort_shutdown(&self) -> bool {
        if self.shutdown.is_cancelled() || !self.shutdown_pending.swap(false, Ordering::SeqCst) {
            return false;
        }
        self.ready.store(true, Ordering::Relaxed);
        self.shutdown_aborted.notify_waiters();
        true
    }
}
