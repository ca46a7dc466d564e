//! The upstream Redis backend: redynamo as a caching proxy in front of
//! another Redis (or Valkey, or a managed Redis), kept coherent by the
//! upstream's own CLIENT TRACKING invalidations.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use redynamo::config::Config;
//! use redynamo::server::Server;
//! use redynamo::store::upstream::UpstreamStore;
//!
//! let config = Config::load_from(
//!     ["redynamo", "--backend", "redis", "--upstream", "redis://127.0.0.1:6380"].map(String::from),
//! )?;
//! let store = UpstreamStore::new(&config)?;
//! Server::builder(config).bind_with(store).await?.serve_until_signal().await;
//! # Ok(()) }
//! ```
//!
//! There is no keyspace here: a request is forwarded as it is and the
//! upstream's reply comes back as its exact bytes ([`Reply::Encoded`]), in
//! the protocol the client speaks (the links of each protocol are
//! separate: RESP2 clients' commands go over RESP2 connections, RESP3
//! clients' over RESP3 ones, so nothing is converted).
//!
//! - **Shared links** ([`link`]): `--upstream-pool-size` pipelined
//!   connections per protocol; a client's commands always take the same
//!   one (by client id), so its pipeline stays in order and batches.
//! - **Pinned links**: WATCH pins an exclusive connection to the client
//!   until EXEC, UNWATCH, DISCARD, RESET or its exit (the session sends
//!   UNWATCH then); the EXEC runs on it. A blocking command (BLPOP …) takes
//!   an exclusive connection for its wait; CLIENT UNBLOCK on the proxy
//!   becomes CLIENT UNBLOCK of that connection upstream, and a client that
//!   leaves mid-wait closes it. Idle exclusive connections are kept (up to
//!   [`IDLE_EXCLUSIVE`] per protocol) for the next one.
//! - **Transactions** without WATCH: MULTI, the queue and EXEC are written
//!   as one job on the client's shared link, contiguously, so nothing
//!   interleaves.
//! - **Session state stays the proxy's**: AUTH, HELLO, CLIENT, SELECT are
//!   the session's; the db travels with each request and the link selects
//!   it (the proxy's db n is the upstream's `base + n`, `base` from the
//!   URL).
//! - **Cache fills** ([`tracking`]): a GET or TYPE that missed the node
//!   cache is sent as `PEXPIRETIME key` + the read, so the entry carries the
//!   key's expiry; it fills the cache only when its link was registered for
//!   invalidations on the live invalidation connection.
//!
//! `docs/upstream.md` has the operator's view and the decisions.

mod link;
mod report;
mod tracking;
mod url;

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use parking_lot::Mutex;
use redynamo_layers::cache::SharedCache;
use redynamo_layers::command::{CachedRead, CommandId, Dbs};
use redynamo_layers::reply::errors;
use redynamo_layers::request::Unblock;
use redynamo_layers::{BoxError, Command, ItemState, Observation, Reply, Request};
use tower::Service;

use self::link::{put_command, Answer, Link, LinkConfig};
use self::tracking::Tracking;
pub use self::url::{UpstreamUrl, UrlError};
use super::{Backend, BackendStats, Hints};
use crate::config::Config;
use crate::follower::ChangeFeed;

/// Idle exclusive connections kept per protocol for the next pinned client
/// or blocking command.
pub const IDLE_EXCLUSIVE: usize = 16;

/// The upstream cannot be reached (or the connection carrying the command
/// was lost): `-ERR upstream unavailable: …`.
#[derive(Clone, Debug, thiserror::Error)]
#[error("upstream unavailable: {0}")]
pub struct UpstreamUnavailable(pub String);

/// The proxy backend. Cheap to clone.
#[derive(Clone)]
pub struct UpstreamStore {
    shared: Arc<Shared>,
}

struct Shared {
    url: UpstreamUrl,
    pool_size: usize,
    /// Shared links, RESP2 then RESP3, made on first use.
    pools: [OnceLock<Vec<Link>>; 2],
    /// Idle exclusive links, RESP2 then RESP3.
    idle: [Mutex<Vec<Link>>; 2],
    /// Clients' pinned links (WATCH), by client id.
    pins: Mutex<HashMap<u64, Link>>,
    /// Blocking commands waiting on an exclusive link (with the pins, the
    /// exclusive links in use).
    blocked: AtomicU64,
    configs: [Arc<LinkConfig>; 2],
    exclusive_configs: [Arc<LinkConfig>; 2],
    /// Set when the node has a cache: the invalidation connection.
    tracking: Option<Arc<Tracking>>,
    /// The upstream's `databases` (0 until the first handshake).
    databases: Arc<AtomicU64>,
    /// Versions for cache fills: an entry is only replaced by a newer one.
    next_version: AtomicU64,
    stats: Stats,
    /// The call latency histogram, once the server's telemetry is known.
    latency: OnceLock<metrics::Histogram>,
    cache: OnceLock<SharedCache>,
}

#[derive(Default)]
struct Stats {
    ok: AtomicU64,
    errors: AtomicU64,
    unavailable: AtomicU64,
}

impl UpstreamStore {
    /// A store for `--upstream`. Connects in the background: a proxy whose
    /// upstream is down starts, answers `-ERR upstream unavailable` and is
    /// not ready (/readyz) until it comes up.
    pub fn new(config: &Config) -> Result<UpstreamStore, UrlError> {
        let url = UpstreamUrl::parse(config.upstream.as_deref().unwrap_or(""))?;
        let databases = Arc::new(AtomicU64::new(0));
        let tracking = (config.cache_max_bytes > 0).then(|| {
            let stale = config
                .serve_stale_on_error
                .then(|| Duration::from_millis(config.serve_stale_max_ms));
            Arc::new(Tracking::new(url.clone(), stale, config.databases))
        });
        let link_config = |resp3, tracking: Option<Arc<Tracking>>| {
            Arc::new(LinkConfig {
                url: url.clone(),
                resp3,
                tracking,
                databases: databases.clone(),
            })
        };
        let shared = Shared {
            pool_size: config.upstream_pool_size as usize,
            pools: [OnceLock::new(), OnceLock::new()],
            idle: [Mutex::new(Vec::new()), Mutex::new(Vec::new())],
            pins: Mutex::new(HashMap::new()),
            blocked: AtomicU64::new(0),
            configs: [
                link_config(false, tracking.clone()),
                link_config(true, tracking.clone()),
            ],
            exclusive_configs: [link_config(false, None), link_config(true, None)],
            tracking,
            databases: databases.clone(),
            next_version: AtomicU64::new(1),
            stats: Stats::default(),
            latency: OnceLock::new(),
            cache: OnceLock::new(),
            url,
        };
        Ok(UpstreamStore {
            shared: Arc::new(shared),
        })
    }

    /// Start the RESP2 links now (most clients speak RESP2), so /readyz
    /// reflects the upstream from the start. Must run in a runtime.
    pub fn start(&self) {
        self.shared.pool(false);
    }
}

/// Which of the per-protocol arrays.
fn proto(resp3: bool) -> usize {
    usize::from(resp3)
}

impl Shared {
    fn pool(&self, resp3: bool) -> &[Link] {
        self.pools[proto(resp3)].get_or_init(|| {
            (0..self.pool_size)
                .map(|_| Link::shared(self.configs[proto(resp3)].clone()))
                .collect()
        })
    }

    fn link_for(&self, req: &Request) -> Link {
        let pool = self.pool(req.client.is_resp3());
        pool[(req.client.id as usize) % pool.len()].clone()
    }

    /// The upstream db of the proxy's `db`, if the upstream has it.
    fn upstream_db(&self, db: u32) -> Option<u32> {
        let n = self.url.db.checked_add(db)?;
        let have = self.databases.load(Ordering::Relaxed);
        // Unknown until a handshake has asked: let the upstream judge
        // then (a first SELECT out of range drops that one connection).
        (have == 0 || u64::from(n) < have).then_some(n)
    }

    /// An exclusive link: an idle one, or a new connection.
    async fn acquire(&self, resp3: bool) -> Result<Link, UpstreamUnavailable> {
        let reused = {
            let mut idle = self.idle[proto(resp3)].lock();
            let mut found = None;
            while let Some(link) = idle.pop() {
                if !link.is_ended() {
                    found = Some(link);
                    break;
                }
            }
            found
        };
        match reused {
            Some(link) => Ok(link),
            None => Link::exclusive(self.exclusive_configs[proto(resp3)].clone()).await,
        }
    }

    /// Exclusive links in use: pins and blocking commands.
    fn exclusive_in_use(&self) -> u64 {
        self.pins.lock().len() as u64 + self.blocked.load(Ordering::Relaxed)
    }

    /// Give an exclusive link back once its state is clean (no WATCH, no
    /// command waiting); anything else closes it.
    fn release(&self, link: Link, clean: bool) {
        if clean && !link.is_ended() && link.state.in_flight.load(Ordering::Relaxed) == 0 {
            let mut idle = self.idle[proto(link.resp3)].lock();
            if idle.len() < IDLE_EXCLUSIVE {
                idle.push(link);
            }
        }
    }

    /// Send a job and wait for its answer, counting the call.
    async fn run(
        &self,
        link: &Link,
        commands: Bytes,
        replies: u32,
        db: u32,
        moves_db: bool,
    ) -> Result<Answer, UpstreamUnavailable> {
        let started = Instant::now();
        let rx = link.send(commands, replies, db, moves_db);
        let result = match rx.await {
            Ok(result) => result,
            Err(_) => Err(UpstreamUnavailable("connection closed".to_string())),
        };
        self.count(&result, started);
        result
    }

    fn count(&self, result: &Result<Answer, UpstreamUnavailable>, started: Instant) {
        let stats = &self.stats;
        match result {
            Ok(answer) => {
                let failed = answer
                    .frames
                    .last()
                    .is_some_and(|f| matches!(f.first(), Some(b'-' | b'!')));
                if failed { &stats.errors } else { &stats.ok }.fetch_add(1, Ordering::Relaxed);
            }
            Err(_) => {
                stats.unavailable.fetch_add(1, Ordering::Relaxed);
            }
        }
        if let Some(h) = self.latency.get() {
            h.record(started.elapsed().as_secs_f64());
        }
    }

    async fn execute(self: Arc<Self>, req: Request) -> Result<Reply, BoxError> {
        let resp3 = req.client.is_resp3();
        let Some(db) = self.upstream_db(req.db) else {
            return Ok(errors::DB_INDEX);
        };
        let spec = req.command.spec;
        // An EXEC whose queue the admin layer answered entirely comes with
        // an empty one: still MULTI … EXEC upstream (WATCH applies).
        if !req.transaction.is_empty() || spec.id == CommandId::Exec {
            return self.exec(req, db, resp3).await;
        }
        match spec.id {
            CommandId::Watch => return self.watch(req, db, resp3).await,
            CommandId::Unwatch => return self.unwatch(req, db).await,
            _ => {}
        }
        if spec.routing.blocking {
            return self.blocking(req, db, resp3).await;
        }
        let mut out = BytesMut::new();
        let fill = fill_kind(&req);
        if let Some(key) = fill.and(req.command.keys().next()) {
            put_command(&mut out, &[&b"PEXPIRETIME"[..], key]);
        }
        let args = self.mapped_args(&req.command);
        put_command(&mut out, &args);
        let link = self.link_for(&req);
        let replies = if fill.is_some() { 2 } else { 1 };
        let answer = self.run(&link, out.freeze(), replies, db, false).await?;
        if let (Some(read), Some(observations)) = (fill, &req.observations) {
            if let Some(observation) = self.observe(&req, read, &answer) {
                observations.push(observation);
            }
        }
        let frame = answer.frames.into_iter().last().unwrap_or_default();
        Ok(Reply::Encoded { resp3, frame })
    }

    /// What a GET or TYPE that missed tells the cache, if its link was
    /// tracked under the live epoch: the key's state and expiry.
    fn observe(&self, req: &Request, read: CachedRead, answer: &Answer) -> Option<Observation> {
        let tracking = self.tracking.as_ref()?;
        if !tracking.is_live(answer.epoch) {
            return None;
        }
        let [expiry, frame] = &answer.frames[..] else {
            return None;
        };
        let expire_at = match parse_integer(expiry)? {
            -2 | -1 => 0,
            at if at > 0 => at as u64,
            _ => return None,
        };
        let state = match read {
            CachedRead::Get => match frame.first()? {
                b'$' if frame.starts_with(b"$-1\r\n") => ItemState::Absent,
                b'_' => ItemState::Absent,
                b'$' => {
                    let header = memchr::memchr(b'\n', frame)? + 1;
                    ItemState::Value {
                        value: frame.slice(header..frame.len().checked_sub(2)?),
                        expire_at,
                    }
                }
                _ => return None,
            },
            CachedRead::Type => match &frame[..] {
                b"+none\r\n" => ItemState::Absent,
                b"+hash\r\n" => ItemState::OtherType("hash"),
                b"+list\r\n" => ItemState::OtherType("list"),
                b"+set\r\n" => ItemState::OtherType("set"),
                b"+zset\r\n" => ItemState::OtherType("zset"),
                b"+stream\r\n" => ItemState::OtherType("stream"),
                // A string's value is not in a TYPE reply.
                _ => return None,
            },
            _ => return None,
        };
        // An absent key has no expiry, whatever PEXPIRETIME raced with.
        let state = match state {
            ItemState::Value { .. } => state,
            other if expire_at == 0 => other,
            // A TTL on another type: the cache entry would not expire.
            _ => return None,
        };
        Some(Observation {
            db: req.db,
            key: req.command.keys().next()?.clone(),
            version: self.next_version.fetch_add(1, Ordering::Relaxed),
            state,
        })
    }

    /// The command's arguments with db numbers moved by the URL's base
    /// (SELECT inside MULTI, SWAPDB, COPY … DB).
    fn mapped_args<'a>(&self, cmd: &'a Command) -> std::borrow::Cow<'a, [Bytes]> {
        let base = self.url.db;
        if base == 0 || cmd.spec.routing.dbs == Dbs::One {
            return std::borrow::Cow::Borrowed(&cmd.args);
        }
        let positions: Vec<usize> = match cmd.spec.id {
            CommandId::Select => vec![1],
            CommandId::Swapdb => vec![1, 2],
            CommandId::Copy => cmd
                .args
                .iter()
                .position(|a| a.eq_ignore_ascii_case(b"db"))
                .map(|i| vec![i + 1])
                .unwrap_or_default(),
            _ => Vec::new(),
        };
        let mut args = cmd.args.clone();
        for i in positions {
            let moved = args
                .get(i)
                .and_then(|a| std::str::from_utf8(a).ok())
                .and_then(|s| s.parse::<u32>().ok())
                .and_then(|n| n.checked_add(base));
            if let Some(n) = moved {
                args[i] = Bytes::from(n.to_string());
            }
        }
        std::borrow::Cow::Owned(args)
    }

    /// EXEC: MULTI, the queue and EXEC as one job, on the client's pinned
    /// link if it WATCHes, else on its shared link.
    async fn exec(&self, req: Request, db: u32, resp3: bool) -> Result<Reply, BoxError> {
        // A pinned link keeps the protocol it was opened in (the client
        // may have said HELLO since): its replies say which.
        let mut out = BytesMut::new();
        put_command(&mut out, &["MULTI"]);
        let mut moves_db = false;
        for cmd in &req.transaction {
            moves_db |= cmd.spec.id == CommandId::Select;
            put_command(&mut out, &self.mapped_args(cmd));
        }
        put_command(&mut out, &["EXEC"]);
        let replies = req.transaction.len() as u32 + 2;
        let pinned = self.pins.lock().remove(&req.client.id);
        let (answer, resp3) = match &pinned {
            Some(link) => {
                let result = self.run(link, out.freeze(), replies, db, moves_db).await;
                // EXEC ends the WATCH: the connection is clean again (if
                // its db moved, the next job selects again).
                self.release(link.clone(), result.is_ok());
                (result?, link.resp3)
            }
            None => {
                let link = self.link_for(&req);
                (
                    self.run(&link, out.freeze(), replies, db, moves_db).await?,
                    resp3,
                )
            }
        };
        let frame = answer.frames.into_iter().last().unwrap_or_default();
        Ok(Reply::Encoded { resp3, frame })
    }

    /// WATCH: on the client's pinned link, pinned now if it was not.
    async fn watch(&self, req: Request, db: u32, resp3: bool) -> Result<Reply, BoxError> {
        let pinned = self.pins.lock().remove(&req.client.id);
        let had_pin = pinned.is_some();
        let link = match pinned {
            Some(link) => link,
            None => self.acquire(resp3).await?,
        };
        let mut out = BytesMut::new();
        put_command(&mut out, &req.command.args);
        match self.run(&link, out.freeze(), 1, db, false).await {
            Ok(answer) => {
                let frame = answer.frames.into_iter().last().unwrap_or_default();
                let reply = Reply::Encoded {
                    resp3: link.resp3,
                    frame,
                };
                if reply.is_error() && !had_pin {
                    // Nothing watched: the session will send no UNWATCH.
                    self.release(link, true);
                } else {
                    // Earlier WATCHes live on it; UNWATCH or EXEC releases.
                    self.pins.lock().insert(req.client.id, link);
                }
                Ok(reply)
            }
            Err(e) => {
                self.release(link, false);
                Err(e.into())
            }
        }
    }

    /// UNWATCH: on the pinned link, which is then released.
    async fn unwatch(&self, req: Request, db: u32) -> Result<Reply, BoxError> {
        let Some(link) = self.pins.lock().remove(&req.client.id) else {
            return Ok(Reply::ok());
        };
        let mut out = BytesMut::new();
        put_command(&mut out, &["UNWATCH"]);
        let result = self.run(&link, out.freeze(), 1, db, false).await;
        self.release(link.clone(), result.is_ok());
        let answer = result?;
        let frame = answer.frames.into_iter().last().unwrap_or_default();
        Ok(Reply::Encoded {
            resp3: link.resp3,
            frame,
        })
    }

    /// A blocking command, on an exclusive link for its wait. CLIENT
    /// UNBLOCK on the proxy unblocks it upstream, where the reply is made.
    async fn blocking(&self, req: Request, db: u32, resp3: bool) -> Result<Reply, BoxError> {
        // Counted while this future lives, however it ends.
        struct Waiting<'a>(&'a AtomicU64);
        impl Drop for Waiting<'_> {
            fn drop(&mut self) {
                self.0.fetch_sub(1, Ordering::Relaxed);
            }
        }
        self.blocked.fetch_add(1, Ordering::Relaxed);
        let _waiting = Waiting(&self.blocked);
        let link = self.acquire(resp3).await?;
        let mut out = BytesMut::new();
        put_command(&mut out, &req.command.args);
        let started = Instant::now();
        let mut rx = link.send(out.freeze(), 1, db, false);
        let client = req.client.clone();
        client.block.enter();
        // Leaves the blocked state however the wait ends (a client that
        // goes drops this future: `link`, never released, then closes).
        struct Leave(Arc<redynamo_layers::request::ClientInfo>);
        impl Drop for Leave {
            fn drop(&mut self) {
                self.0.block.leave();
            }
        }
        let _leave = Leave(client.clone());
        let unblock_link = self.link_for(&req);
        let result = std::future::poll_fn(|cx| {
            if let Poll::Ready(result) = Pin::new(&mut rx).poll(cx) {
                return Poll::Ready(result);
            }
            client.block.register(cx.waker());
            if let Some(how) = client.block.take_unblock() {
                let id = link.state.id.load(Ordering::Relaxed).to_string();
                let how = match how {
                    Unblock::Timeout => "TIMEOUT",
                    Unblock::Error => "ERROR",
                };
                let mut out = BytesMut::new();
                put_command(&mut out, &["CLIENT", "UNBLOCK", id.as_str(), how]);
                // The blocked command's own reply is what answers.
                drop(unblock_link.send(out.freeze(), 1, db, false));
                client.block.enter();
            }
            Poll::Pending
        })
        .await;
        let result =
            result.unwrap_or_else(|_| Err(UpstreamUnavailable("connection closed".into())));
        self.count(&result, started);
        let clean = result.is_ok();
        self.release(link, clean);
        let answer = result?;
        let frame = answer.frames.into_iter().last().unwrap_or_default();
        Ok(Reply::Encoded { resp3, frame })
    }
}

/// Which cached read this request fills, when the cache asked
/// (`Request::observations`) and the read names one key.
fn fill_kind(req: &Request) -> Option<CachedRead> {
    req.observations.as_ref()?;
    match req.command.spec.routing.cached_read? {
        read @ (CachedRead::Get | CachedRead::Type) if req.command.args.len() == 2 => Some(read),
        _ => None,
    }
}

/// `:n\r\n`.
fn parse_integer(frame: &[u8]) -> Option<i64> {
    let body = frame.strip_prefix(b":")?.strip_suffix(b"\r\n")?;
    std::str::from_utf8(body).ok()?.parse().ok()
}

impl Service<Request> for UpstreamStore {
    type Response = Reply;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Reply, BoxError>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        // Jobs queue on their link; concurrency is bounded above the leaf.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request) -> Self::Future {
        Box::pin(self.shared.clone().execute(req))
    }
}

impl Backend for UpstreamStore {
    fn stats(&self) -> BackendStats {
        BackendStats::default()
    }

    fn name(&self) -> &'static str {
        "redis"
    }

    fn hints(&self) -> Hints {
        let change_feed = self.shared.tracking.clone().map(|tracking| {
            let shared = self.shared.clone();
            ChangeFeed::custom(move |cache, _config, _telemetry, shutdown| {
                let _ = shared.cache.set(cache.clone());
                tracking.clone().follow(cache, shutdown)
            })
        });
        Hints {
            change_feed,
            // The upstream keeps (or not) what it acknowledged: the proxy
            // holds nothing SHUTDOWN SAVE could save.
            durable: true,
            report: Some(Arc::new(report::Report(self.shared.clone()))),
            ..Hints::default()
        }
    }
}
