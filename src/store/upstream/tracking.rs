//! The invalidation connection: keeps the node cache coherent with every
//! write to the upstream, whoever made it, through Redis' own CLIENT
//! TRACKING (docs/upstream.md, "Coherence").
//!
//! One RESP3 connection per proxy receives `invalidate` pushes. Every
//! shared data link registers `CLIENT TRACKING on REDIRECT <its id>` (the
//! default mode, not BCAST: the upstream remembers the keys each data link
//! read and tells us only about those, which are exactly the keys the
//! cache can hold). Each time the invalidation connection is (re)made it
//! gets a new **epoch**; a cache fill is kept only when the link that read
//! it was registered under the live epoch, so no value whose invalidation
//! could be lost is ever stored.
//!
//! Losing the connection (EOF, an error, no answer to the 1 s PING within
//! 2 s) flushes the cache and stops it serving until a new connection is
//! registered; then the cache is flushed again and serves. With
//! `--serve-stale-on-error` the cache instead keeps answering what it holds
//! for up to `--serve-stale-max-ms` while the upstream is unreachable.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use parking_lot::Mutex;
use redynamo_layers::cache::SharedCache;
use redynamo_layers::Reply;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use super::link::{put_command, CONNECT_TIMEOUT};
use super::url::UpstreamUrl;
use crate::follower::{FollowerHandle, FollowerStatus};
use crate::protocol::decode_reply;

const PING_EVERY: Duration = Duration::from_secs(1);
const PING_PATIENCE: Duration = Duration::from_secs(2);
const BACKOFF_MIN: Duration = Duration::from_millis(50);
const BACKOFF_MAX: Duration = Duration::from_secs(2);

/// The tracking state shared by the store's links and the invalidation
/// task.
pub(crate) struct Tracking {
    url: UpstreamUrl,
    /// The live epoch (0: no live invalidation connection).
    epoch: AtomicU64,
    /// (epoch, CLIENT ID of the invalidation connection), set together.
    redirect: Mutex<(u64, u64)>,
    next_epoch: AtomicU64,
    status: Mutex<Status>,
    /// Invalidation messages received, and keys they named.
    pub invalidations: AtomicU64,
    pub invalidated_keys: AtomicU64,
    /// Times the invalidation connection was lost.
    pub losses: AtomicU64,
    /// Cache hits answered while serving stale values, counted at the end
    /// of each stale window (and at scrape time for the current one).
    stale_hits: AtomicU64,
    serve_stale: Option<Duration>,
    /// The proxy's db count: an invalidation names a key, not a db.
    databases: u32,
}

#[derive(Clone, Debug)]
enum Status {
    Starting,
    Live,
    Lost {
        reason: String,
    },
    /// Lost, and serving stale values since `since` (hits counted from
    /// `hits_at_start`).
    Stale {
        reason: String,
        since: Instant,
        hits_at_start: u64,
    },
}

impl Tracking {
    pub fn new(url: UpstreamUrl, serve_stale: Option<Duration>, databases: u32) -> Tracking {
        Tracking {
            url,
            epoch: AtomicU64::new(0),
            redirect: Mutex::new((0, 0)),
            next_epoch: AtomicU64::new(1),
            status: Mutex::new(Status::Starting),
            invalidations: AtomicU64::new(0),
            invalidated_keys: AtomicU64::new(0),
            losses: AtomicU64::new(0),
            stale_hits: AtomicU64::new(0),
            serve_stale,
            databases,
        }
    }

    /// The live epoch and where to redirect invalidations, if live.
    pub fn live_redirect(&self) -> Option<(u64, u64)> {
        if self.epoch.load(Ordering::Acquire) == 0 {
            return None;
        }
        let (epoch, id) = *self.redirect.lock();
        (epoch != 0).then_some((epoch, id))
    }

    /// Whether replies read under `epoch` may fill the cache.
    pub fn is_live(&self, epoch: u64) -> bool {
        epoch != 0 && self.epoch.load(Ordering::Acquire) == epoch
    }

    /// `live`, `lost` or `stale`, for INFO and metrics.
    pub fn state_name(&self) -> &'static str {
        match &*self.status.lock() {
            Status::Starting => "starting",
            Status::Live => "live",
            Status::Lost { .. } => "lost",
            Status::Stale { .. } => "stale",
        }
    }

    pub fn last_error(&self) -> String {
        match &*self.status.lock() {
            Status::Lost { reason } | Status::Stale { reason, .. } => reason.clone(),
            _ => String::new(),
        }
    }

    /// Cache hits served stale so far.
    pub fn stale_hits(&self, cache: &SharedCache) -> u64 {
        let done = self.stale_hits.load(Ordering::Relaxed);
        match &*self.status.lock() {
            Status::Stale { hits_at_start, .. } => {
                done + cache.counts().hits.saturating_sub(*hits_at_start)
            }
            _ => done,
        }
    }

    fn set_status(&self, cache: &SharedCache, status: Status) {
        let mut current = self.status.lock();
        if let Status::Stale { hits_at_start, .. } = &*current {
            let served = cache.counts().hits.saturating_sub(*hits_at_start);
            self.stale_hits.fetch_add(served, Ordering::Relaxed);
        }
        *current = status;
    }

    /// Start following invalidations into `cache` until `shutdown`.
    pub fn follow(
        self: Arc<Self>,
        cache: SharedCache,
        shutdown: CancellationToken,
    ) -> FollowerHandle {
        cache.stop_serving();
        let status_of = self.clone();
        let serving = cache.clone();
        tokio::spawn(self.run(cache, shutdown));
        FollowerHandle::new(
            move || {
                let status = match &*status_of.status.lock() {
                    Status::Starting => FollowerStatus::Starting,
                    Status::Live => FollowerStatus::Following {
                        lag: Duration::ZERO,
                    },
                    Status::Lost { reason } | Status::Stale { reason, .. } => {
                        FollowerStatus::Failing {
                            reason: format!("invalidation connection lost: {reason}"),
                            lag: Duration::ZERO,
                        }
                    }
                };
                let live = usize::from(status_of.epoch.load(Ordering::Relaxed) != 0);
                (status, 0, live)
            },
            move || serving.is_serving(),
        )
    }

    async fn run(self: Arc<Self>, cache: SharedCache, shutdown: CancellationToken) {
        let mut backoff = BACKOFF_MIN;
        loop {
            let why = match tokio::time::timeout(CONNECT_TIMEOUT, self.connect()).await {
                Ok(Ok((stream, id))) => {
                    backoff = BACKOFF_MIN;
                    let epoch = self.next_epoch.fetch_add(1, Ordering::Relaxed);
                    *self.redirect.lock() = (epoch, id);
                    self.epoch.store(epoch, Ordering::Release);
                    // Whatever the cache held may have missed invalidations.
                    cache.resume_serving();
                    self.set_status(&cache, Status::Live);
                    info!(upstream = %self.url, client_id = id, "upstream invalidations live; cache serving");
                    let why = tokio::select! {
                        why = self.listen(stream, &cache) => why,
                        _ = shutdown.cancelled() => return,
                    };
                    self.lose(&cache, &why);
                    warn!(upstream = %self.url, reason = %why, "upstream invalidation connection lost; cache flushed");
                    continue;
                }
                Ok(Err(why)) => why,
                Err(_) => format!(
                    "connecting timed out after {} ms",
                    CONNECT_TIMEOUT.as_millis()
                ),
            };
            self.lose(&cache, &why);
            let mut pause = backoff;
            backoff = (backoff * 2).min(BACKOFF_MAX);
            // The stale window ends on time even while reconnecting.
            if let Status::Stale { since, .. } = &*self.status.lock() {
                if let Some(limit) = self.serve_stale {
                    pause =
                        pause.min(limit.saturating_sub(since.elapsed()) + Duration::from_millis(1));
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(pause) => {}
                _ = shutdown.cancelled() => return,
            }
        }
    }

    /// The connection is gone (or could not be made): no fill is kept from
    /// now on; the cache is flushed and stops serving, or (serve-stale)
    /// keeps serving until the window closes.
    fn lose(&self, cache: &SharedCache, why: &str) {
        let was_live = self.epoch.swap(0, Ordering::AcqRel) != 0;
        if was_live {
            self.losses.fetch_add(1, Ordering::Relaxed);
        }
        let current = self.status.lock().clone();
        let next = match (current, self.serve_stale) {
            (Status::Live, Some(_)) if cache.is_serving() => Status::Stale {
                reason: why.to_string(),
                since: Instant::now(),
                hits_at_start: cache.counts().hits,
            },
            (
                Status::Stale {
                    since,
                    hits_at_start,
                    ..
                },
                Some(limit),
            ) if since.elapsed() < limit => Status::Stale {
                reason: why.to_string(),
                since,
                hits_at_start,
            },
            _ => {
                cache.stop_serving();
                cache.clear();
                Status::Lost {
                    reason: why.to_string(),
                }
            }
        };
        if matches!(next, Status::Lost { .. }) {
            self.set_status(cache, next);
        } else {
            *self.status.lock() = next;
        }
    }

    /// A RESP3 connection (HELLO 3 with AUTH) and its CLIENT ID.
    async fn connect(&self) -> Result<(TcpStream, u64), String> {
        let url = &self.url;
        let mut stream = TcpStream::connect(&url.addr)
            .await
            .map_err(|e| format!("cannot connect to {}: {e}", url.addr))?;
        let _ = stream.set_nodelay(true);
        let mut out = BytesMut::new();
        let mut hello: Vec<&str> = vec!["HELLO", "3"];
        if let Some(password) = &url.password {
            hello.extend(["AUTH", url.user.as_deref().unwrap_or("default"), password]);
        }
        put_command(&mut out, &hello);
        put_command(&mut out, &["CLIENT", "SETNAME", "redynamo-invalidations"]);
        stream.write_all(&out).await.map_err(|e| e.to_string())?;
        let mut buf = BytesMut::new();
        let mut replies = Vec::new();
        while replies.len() < 2 {
            match decode_reply(&mut buf) {
                Ok(Some(r)) => {
                    replies.push(r);
                    continue;
                }
                Ok(None) => {}
                Err(e) => return Err(e.to_string()),
            }
            if stream.read_buf(&mut buf).await.map_err(|e| e.to_string())? == 0 {
                return Err("connection closed by the upstream".to_string());
            }
        }
        match &replies[0] {
            Reply::Map(pairs) => pairs
                .iter()
                .find_map(|(k, v)| match (k, v) {
                    (Reply::Bulk(k), Reply::Integer(id)) if &k[..] == b"id" => Some(*id as u64),
                    _ => None,
                })
                .map(|id| (stream, id))
                .ok_or_else(|| "HELLO 3 gave no client id".to_string()),
            Reply::Error(e) => Err(format!(
                "HELLO 3 refused (tracking needs Redis 6 or later): {}",
                String::from_utf8_lossy(e)
            )),
            other => Err(format!("unexpected HELLO reply {other:?}")),
        }
    }

    /// Apply invalidations until the connection is lost; why it was.
    async fn listen(&self, mut stream: TcpStream, cache: &SharedCache) -> String {
        let mut buf = BytesMut::with_capacity(16 * 1024);
        let mut ping = tokio::time::interval(PING_EVERY);
        ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut waiting_since: Option<Instant> = None;
        loop {
            loop {
                match decode_reply(&mut buf) {
                    Ok(Some(Reply::Push(items))) => self.apply(cache, items),
                    Ok(Some(Reply::Error(e))) => {
                        return format!("error from the upstream: {}", String::from_utf8_lossy(&e))
                    }
                    // PONG.
                    Ok(Some(_)) => waiting_since = None,
                    Ok(None) => break,
                    Err(e) => return format!("bad reply from the upstream: {e}"),
                }
            }
            tokio::select! {
                read = stream.read_buf(&mut buf) => match read {
                    Ok(0) => return "connection closed by the upstream".to_string(),
                    Ok(_) => {}
                    Err(e) => return format!("read failed: {e}"),
                },
                _ = ping.tick() => {
                    if let Some(since) = waiting_since {
                        if since.elapsed() >= PING_PATIENCE {
                            return format!("no answer to PING in {} ms", PING_PATIENCE.as_millis());
                        }
                        continue;
                    }
                    if let Err(e) = stream.write_all(b"*1\r\n$4\r\nPING\r\n").await {
                        return format!("write failed: {e}");
                    }
                    waiting_since = Some(Instant::now());
                }
            }
        }
    }

    /// One push: `invalidate` with keys, or with null (FLUSHALL / FLUSHDB:
    /// everything).
    fn apply(&self, cache: &SharedCache, items: Vec<Reply>) {
        let mut items = items.into_iter();
        if !matches!(items.next(), Some(Reply::Bulk(kind)) if &kind[..] == b"invalidate") {
            return;
        }
        self.invalidations.fetch_add(1, Ordering::Relaxed);
        match items.next() {
            Some(Reply::Array(keys)) | Some(Reply::Set(keys)) => {
                for key in keys {
                    if let Reply::Bulk(key) = key {
                        self.invalidated_keys.fetch_add(1, Ordering::Relaxed);
                        // The upstream names the key, not its db.
                        for db in 0..self.databases {
                            cache.invalidate(db, &key);
                        }
                    }
                }
            }
            _ => cache.clear(),
        }
    }
}
