//! One pipelined connection to the upstream Redis.
//!
//! A [`Link`] is a handle on a task that owns the socket. Callers hand it
//! [`Job`]s (one or more encoded commands, written contiguously, so a
//! MULTI … EXEC from one job is never interleaved with another job's
//! commands) and get back the replies' exact bytes, split with the
//! project's own `reply_len`: nothing is parsed into a tree, so what the
//! upstream sent is what the client gets.
//!
//! - **Pipelining**: the writer (the link's task) takes every job waiting
//!   and writes them in one syscall; a reader task beside it splits replies
//!   and completes jobs in order. Many clients' commands share one link.
//! - **Db**: the writer knows the db its connection is in and puts a
//!   `SELECT` in front of a job for another db (the proxy's db n is the
//!   upstream's `base + n`, checked against the upstream's `databases`
//!   before anything is sent, so that SELECT cannot fail).
//! - **Tracking**: when the store's [`Tracking`] is live, the writer
//!   (re-)registers `CLIENT TRACKING on REDIRECT <id>` in front of the
//!   first job after the invalidation connection changed, and every
//!   answer says which tracking epoch its replies were read under, so a
//!   cache fill is kept only when invalidations for it would have arrived.
//! - **Failure**: a lost connection fails every job in flight with
//!   [`UpstreamUnavailable`]; a shared link reconnects at once, then with
//!   exponential backoff (50 ms to 2 s, jittered), failing new jobs at once
//!   meanwhile (fast failure, no queueing behind a dead upstream). An
//!   exclusive link (a pinned client's) does not reconnect: its state is
//!   gone with it.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use parking_lot::Mutex;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::OwnedReadHalf;
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};
use tracing::{debug, warn};

use super::tracking::Tracking;
use super::url::UpstreamUrl;
use super::UpstreamUnavailable;
use crate::protocol::{decode_reply, reply_len};
use redynamo_layers::Reply;

/// Connecting (TCP and the handshake) must finish within this.
pub(crate) const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
const BACKOFF_MIN: Duration = Duration::from_millis(50);
const BACKOFF_MAX: Duration = Duration::from_secs(2);

/// Append one command line as a RESP multibulk.
pub(crate) fn put_command<A: AsRef<[u8]>>(out: &mut BytesMut, args: &[A]) {
    let mut n = itoa::Buffer::new();
    out.put_u8(b'*');
    out.put_slice(n.format(args.len()).as_bytes());
    out.put_slice(b"\r\n");
    for a in args {
        let a = a.as_ref();
        out.put_u8(b'$');
        out.put_slice(n.format(a.len()).as_bytes());
        out.put_slice(b"\r\n");
        out.put_slice(a);
        out.put_slice(b"\r\n");
    }
}

/// What a link is told to do: `commands` (already encoded) that produce
/// `replies` replies, in upstream db `db`.
pub(crate) struct Job {
    pub commands: Bytes,
    pub replies: u32,
    pub db: u32,
    /// The commands may leave the connection in another db (a SELECT
    /// inside MULTI): the writer selects again before the next job.
    pub moves_db: bool,
    pub tx: oneshot::Sender<Result<Answer, UpstreamUnavailable>>,
}

/// The replies to a job, as the upstream sent them.
#[derive(Debug)]
pub(crate) struct Answer {
    pub frames: Vec<Bytes>,
    /// The tracking epoch the link was registered under when it read them
    /// (0: none).
    pub epoch: u64,
}

/// What the link knows about its connection, for the pool and INFO.
#[derive(Debug, Default)]
pub(crate) struct LinkState {
    up: AtomicBool,
    /// The connection's CLIENT ID on the upstream (from HELLO).
    pub id: AtomicU64,
    /// Jobs written and not yet answered.
    pub in_flight: AtomicU64,
    /// The tracking epoch the reader has seen confirmed (0: none).
    epoch: AtomicU64,
    last_error: Mutex<String>,
    /// The link's task has ended (an exclusive link whose connection went).
    ended: AtomicBool,
}

impl LinkState {
    pub fn is_up(&self) -> bool {
        self.up.load(Ordering::Acquire)
    }

    pub fn last_error(&self) -> String {
        self.last_error.lock().clone()
    }

    fn set_down(&self, why: &str) {
        self.up.store(false, Ordering::Release);
        self.epoch.store(0, Ordering::Release);
        *self.last_error.lock() = why.to_string();
    }
}

/// How a link connects and what it registers.
pub(crate) struct LinkConfig {
    pub url: UpstreamUrl,
    pub resp3: bool,
    /// Register tracking (shared links of a store with a cache); None for
    /// exclusive links, whose reads are never cached.
    pub tracking: Option<Arc<Tracking>>,
    /// The upstream's `databases`, learned at the first handshake.
    pub databases: Arc<AtomicU64>,
}

/// A handle on one upstream connection's task. Dropping the last handle
/// of an exclusive link closes its connection.
#[derive(Clone)]
pub(crate) struct Link {
    tx: mpsc::UnboundedSender<Job>,
    pub state: Arc<LinkState>,
    /// The protocol its connection speaks: its replies are in it.
    pub resp3: bool,
}

impl Link {
    /// A shared link: connects in the background and keeps reconnecting.
    pub fn shared(config: Arc<LinkConfig>) -> Link {
        let (tx, rx) = mpsc::unbounded_channel();
        let state = Arc::new(LinkState::default());
        *state.last_error.lock() = "connecting".to_string();
        let resp3 = config.resp3;
        tokio::spawn(supervise(config, rx, state.clone()));
        Link { tx, state, resp3 }
    }

    /// An exclusive link: connected before it is returned, never
    /// reconnected.
    pub async fn exclusive(config: Arc<LinkConfig>) -> Result<Link, UpstreamUnavailable> {
        let (stream, id) = connect(&config).await?;
        let (tx, rx) = mpsc::unbounded_channel();
        let state = Arc::new(LinkState::default());
        state.id.store(id, Ordering::Relaxed);
        state.up.store(true, Ordering::Release);
        let task_state = state.clone();
        let resp3 = config.resp3;
        tokio::spawn(async move {
            let mut rx = rx;
            let why = serve(&config, stream, &mut rx, &task_state).await;
            task_state.set_down(&why);
            task_state.ended.store(true, Ordering::Release);
            rx.close();
            while let Ok(job) = rx.try_recv() {
                let _ = job.tx.send(Err(UpstreamUnavailable(why.clone())));
            }
        });
        Ok(Link { tx, state, resp3 })
    }

    /// Whether the link's connection is gone for good (exclusive links).
    pub fn is_ended(&self) -> bool {
        self.state.ended.load(Ordering::Acquire) || self.tx.is_closed()
    }

    /// Queue `commands`; the answer comes on the returned receiver. Queued
    /// synchronously, so jobs sent one after another from one task are
    /// written in that order.
    pub fn send(
        &self,
        commands: Bytes,
        replies: u32,
        db: u32,
        moves_db: bool,
    ) -> oneshot::Receiver<Result<Answer, UpstreamUnavailable>> {
        let (tx, rx) = oneshot::channel();
        let job = Job {
            commands,
            replies,
            db,
            moves_db,
            tx,
        };
        if let Err(mpsc::error::SendError(job)) = self.tx.send(job) {
            let _ = job
                .tx
                .send(Err(UpstreamUnavailable("connection closed".to_string())));
        }
        rx
    }
}

/// Connect, reconnect, and fail jobs fast while the upstream is down.
async fn supervise(
    config: Arc<LinkConfig>,
    mut rx: mpsc::UnboundedReceiver<Job>,
    state: Arc<LinkState>,
) {
    let mut backoff = BACKOFF_MIN;
    loop {
        let why = match connect(&config).await {
            Ok((stream, id)) => {
                state.id.store(id, Ordering::Relaxed);
                state.up.store(true, Ordering::Release);
                backoff = BACKOFF_MIN;
                let why = serve(&config, stream, &mut rx, &state).await;
                if rx.is_closed() {
                    return;
                }
                state.set_down(&why);
                warn!(upstream = %config.url, reason = %why, "upstream connection lost; reconnecting");
                // Straight back once: a connection killed on its own (CLIENT
                // KILL, an idle timeout) comes back at once.
                continue;
            }
            Err(e) => e.0,
        };
        state.set_down(&why);
        debug!(upstream = %config.url, reason = %why, ?backoff, "upstream unreachable");
        let pause = jittered(backoff);
        backoff = (backoff * 2).min(BACKOFF_MAX);
        let sleep = tokio::time::sleep(pause);
        tokio::pin!(sleep);
        loop {
            tokio::select! {
                _ = &mut sleep => break,
                job = rx.recv() => match job {
                    Some(job) => {
                        let _ = job.tx.send(Err(UpstreamUnavailable(why.clone())));
                    }
                    None => return,
                },
            }
        }
    }
}

fn jittered(d: Duration) -> Duration {
    let ms = d.as_millis() as u64;
    Duration::from_millis(ms / 2 + rand::random::<u64>() % (ms / 2 + 1))
}

/// TCP, then the handshake, within [`CONNECT_TIMEOUT`]: the connection
/// and its CLIENT ID.
async fn connect(config: &LinkConfig) -> Result<(TcpStream, u64), UpstreamUnavailable> {
    let addr = &config.url.addr;
    let attempt = async {
        let mut stream = TcpStream::connect(addr)
            .await
            .map_err(|e| UpstreamUnavailable(format!("cannot connect to {addr}: {e}")))?;
        let _ = stream.set_nodelay(true);
        let id = handshake(config, &mut stream).await?;
        Ok((stream, id))
    };
    match tokio::time::timeout(CONNECT_TIMEOUT, attempt).await {
        Ok(result) => result,
        Err(_) => Err(UpstreamUnavailable(format!(
            "connecting to {addr} timed out after {} ms",
            CONNECT_TIMEOUT.as_millis()
        ))),
    }
}

/// HELLO (with AUTH), the base db, and the upstream's `databases` the
/// first time; the connection's CLIENT ID.
async fn handshake(
    config: &LinkConfig,
    stream: &mut TcpStream,
) -> Result<u64, UpstreamUnavailable> {
    let url = &config.url;
    let mut out = BytesMut::new();
    let proto = if config.resp3 { "3" } else { "2" };
    let mut hello: Vec<&str> = vec!["HELLO", proto];
    if let Some(password) = &url.password {
        hello.extend(["AUTH", url.user.as_deref().unwrap_or("default"), password]);
    }
    put_command(&mut out, &hello);
    put_command(&mut out, &["CLIENT", "SETNAME", "redynamo-proxy"]);
    let base = url.db.to_string();
    put_command(&mut out, &["SELECT", base.as_str()]);
    let learn = config.databases.load(Ordering::Relaxed) == 0;
    if learn {
        put_command(&mut out, &["CONFIG", "GET", "databases"]);
    }
    stream
        .write_all(&out)
        .await
        .map_err(|e| UpstreamUnavailable(format!("handshake: {e}")))?;
    let mut buf = BytesMut::with_capacity(4096);
    let mut replies = Vec::new();
    let want = if learn { 4 } else { 3 };
    while replies.len() < want {
        match decode_reply(&mut buf) {
            Ok(Some(reply)) => {
                replies.push(reply);
                continue;
            }
            Ok(None) => {}
            Err(e) => return Err(UpstreamUnavailable(format!("handshake: {e}"))),
        }
        let n = stream
            .read_buf(&mut buf)
            .await
            .map_err(|e| UpstreamUnavailable(format!("handshake: {e}")))?;
        if n == 0 {
            return Err(UpstreamUnavailable(
                "handshake: connection closed by the upstream".to_string(),
            ));
        }
    }
    let fail = |what: &str, reply: &Reply| {
        let text = match reply {
            Reply::Error(e) => String::from_utf8_lossy(e).into_owned(),
            other => format!("{other:?}"),
        };
        UpstreamUnavailable(format!("{what}: {text}"))
    };
    let id = match &replies[0] {
        Reply::Map(pairs) => pairs.iter().find_map(|(k, v)| match (k, v) {
            (Reply::Bulk(k), Reply::Integer(id)) if &k[..] == b"id" => Some(*id as u64),
            _ => None,
        }),
        Reply::Array(items) => items.chunks(2).find_map(|kv| match kv {
            [Reply::Bulk(k), Reply::Integer(id)] if &k[..] == b"id" => Some(*id as u64),
            _ => None,
        }),
        other => return Err(fail("HELLO (the upstream must be Redis 6 or later)", other)),
    }
    .unwrap_or(0);
    if replies[2].is_error() {
        return Err(fail("SELECT of the --upstream URL's db", &replies[2]));
    }
    if learn {
        let n = match &replies[3] {
            Reply::Array(items) | Reply::Set(items) => items.get(1).cloned(),
            Reply::Map(pairs) => pairs.first().map(|(_, v)| v.clone()),
            _ => None,
        }
        .and_then(|v| match v {
            Reply::Bulk(b) => std::str::from_utf8(&b).ok().and_then(|s| s.parse().ok()),
            _ => None,
        })
        // CONFIG may be refused (a managed Redis): assume Redis' default.
        .unwrap_or(16u64);
        config.databases.store(n, Ordering::Relaxed);
    }
    // Anything the upstream sent past the handshake replies (a push) is
    // not expected here; it would only be a tracking message, ignored.
    Ok(id)
}

/// One expected group of replies, in write order.
struct Pending {
    /// Internal replies first (SELECT, CLIENT TRACKING), checked here.
    internal: VecDeque<Internal>,
    remaining: u32,
    frames: Vec<Bytes>,
    tx: Option<oneshot::Sender<Result<Answer, UpstreamUnavailable>>>,
}

enum Internal {
    Select,
    /// `CLIENT TRACKING on REDIRECT …` for this epoch.
    Track(u64),
}

type Queue = Arc<Mutex<VecDeque<Pending>>>;

/// Write jobs until the connection breaks or every handle is dropped;
/// why it ended.
async fn serve(
    config: &LinkConfig,
    stream: TcpStream,
    rx: &mut mpsc::UnboundedReceiver<Job>,
    state: &Arc<LinkState>,
) -> String {
    let (rd, mut wr) = stream.into_split();
    let queue: Queue = Arc::new(Mutex::new(VecDeque::new()));
    let reader = tokio::spawn(read_replies(rd, queue.clone(), state.clone()));
    let mut reader = reader;
    let mut db = Some(config.url.db);
    // The tracking epoch this connection registered (0: none yet).
    let mut registered = 0u64;
    let mut out = BytesMut::with_capacity(16 * 1024);
    let why = loop {
        let job = tokio::select! {
            ended = &mut reader => break ended.unwrap_or_else(|e| format!("reader failed: {e}")),
            job = rx.recv() => job,
        };
        let Some(job) = job else {
            reader.abort();
            break "closed".to_string();
        };
        out.clear();
        {
            let mut q = queue.lock();
            let mut next = Some(job);
            while let Some(job) = next {
                let mut internal = VecDeque::new();
                if let Some(tracking) = &config.tracking {
                    if let Some((epoch, redirect)) = tracking.live_redirect() {
                        if epoch != registered {
                            let id = redirect.to_string();
                            put_command(&mut out, &["CLIENT", "TRACKING", "on", "REDIRECT", &id]);
                            internal.push_back(Internal::Track(epoch));
                            registered = epoch;
                        }
                    }
                }
                if db != Some(job.db) {
                    put_command(&mut out, &["SELECT", &job.db.to_string()]);
                    internal.push_back(Internal::Select);
                }
                db = if job.moves_db { None } else { Some(job.db) };
                out.extend_from_slice(&job.commands);
                state.in_flight.fetch_add(1, Ordering::Relaxed);
                q.push_back(Pending {
                    internal,
                    remaining: job.replies,
                    frames: Vec::with_capacity(job.replies as usize),
                    tx: Some(job.tx),
                });
                next = rx.try_recv().ok();
            }
        }
        if let Err(e) = wr.write_all(&out).await {
            reader.abort();
            break format!("write failed: {e}");
        }
        if out.capacity() > 1024 * 1024 {
            out = BytesMut::with_capacity(16 * 1024);
        }
    };
    let pending: Vec<Pending> = queue.lock().drain(..).collect();
    state.in_flight.store(0, Ordering::Relaxed);
    for p in pending {
        if let Some(tx) = p.tx {
            let _ = tx.send(Err(UpstreamUnavailable(why.clone())));
        }
    }
    why
}

/// Split replies and complete jobs in order; why the connection ended.
async fn read_replies(mut rd: OwnedReadHalf, queue: Queue, state: Arc<LinkState>) -> String {
    let mut buf = BytesMut::with_capacity(16 * 1024);
    loop {
        loop {
            let len = match reply_len(&buf) {
                Ok(Some(len)) => len,
                Ok(None) => break,
                Err(e) => return format!("bad reply from the upstream: {e}"),
            };
            let frame = buf.split_to(len).freeze();
            // Out-of-band pushes (tracking-redir-broken …): the
            // invalidation connection's own loss is what counts.
            if frame.first() == Some(&b'>') {
                continue;
            }
            if let Err(why) = take(&queue, &state, frame) {
                return why;
            }
        }
        if buf.capacity() - buf.len() < 4096 {
            buf.reserve(16 * 1024);
        }
        match rd.read_buf(&mut buf).await {
            Ok(0) => return "connection closed by the upstream".to_string(),
            Ok(_) => {}
            Err(e) => return format!("read failed: {e}"),
        }
    }
}

/// Give `frame` to the job it answers.
fn take(queue: &Queue, state: &LinkState, frame: Bytes) -> Result<(), String> {
    let mut q = queue.lock();
    let Some(front) = q.front_mut() else {
        return Err("a reply nobody asked for".to_string());
    };
    if let Some(internal) = front.internal.pop_front() {
        let failed = matches!(frame.first(), Some(b'-' | b'!'));
        match internal {
            Internal::Track(epoch) => {
                state
                    .epoch
                    .store(if failed { 0 } else { epoch }, Ordering::Release);
                if failed {
                    warn!(reply = %String::from_utf8_lossy(&frame).trim_end(), "CLIENT TRACKING refused by the upstream; its reads will not be cached");
                }
            }
            // The db was checked against the upstream's range: a failed
            // SELECT means the connection's state is unknown; drop it.
            Internal::Select if failed => {
                return Err(format!(
                    "SELECT refused: {}",
                    String::from_utf8_lossy(&frame).trim_end()
                ))
            }
            Internal::Select => {}
        }
        return Ok(());
    }
    front.frames.push(frame);
    front.remaining = front.remaining.saturating_sub(1);
    if front.remaining == 0 {
        if let Some(done) = q.pop_front() {
            drop(q);
            state.in_flight.fetch_sub(1, Ordering::Relaxed);
            if let Some(tx) = done.tx {
                let _ = tx.send(Ok(Answer {
                    frames: done.frames,
                    epoch: state.epoch.load(Ordering::Acquire),
                }));
            }
        }
    }
    Ok(())
}
