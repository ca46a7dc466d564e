//! The node's Pub/Sub registry: who listens to which channel, pattern and
//! shard channel, and each listening client's [`Mailbox`] of pushes.
//!
//! PUBLISH (the admin layer), keyspace notifications and CLIENT TRACKING
//! invalidations all end here: a message is encoded once per protocol
//! (RESP2 `*`, RESP3 `>`; the two differ only in the first byte) and the
//! same reference-counted bytes are queued in every receiver's mailbox, so
//! a PUBLISH to 50 subscribers costs 50 queue pushes, not 50 encodings.
//! The connection that owns a mailbox writes what it holds after each reply
//! and whenever it is woken while idle (`crate::connection`).
//!
//! Delivery order: channel subscribers first, then pattern subscribers, as
//! Redis' `pubsubPublishMessage`; the messages of one publisher reach each
//! subscriber in the order they were published (one publisher publishes one
//! message at a time, and a mailbox is a FIFO).
//!
//! Memory: a mailbox is bounded by `client-output-buffer-limit pubsub`
//! (Redis' defaults, hard 32 MB, soft 8 MB for 60 s, [`OutputLimits`]). A
//! client over the hard limit, or over the soft limit for longer than its
//! seconds, is closed: its queue is dropped, nothing more is queued for it,
//! and its connection is cancelled (CLIENT KILL's token), as Redis closes
//! it asynchronously. What is counted is what the connection has not yet
//! taken for writing; a connection blocked on a full socket takes nothing,
//! so a slow reader's backlog is what grows. Redis applies the `normal`
//! class (unlimited by default) to RESP3 clients that only track keys; here
//! every mailbox has the pubsub limits, so no client grows without bound.
//!
//! Fleet seam: a node's registry is local. Cross-node PUBLISH (issue #15's
//! peer links) calls [`PubSub::publish`] on each peer with the message as
//! received, in the publisher's order; nothing else here changes.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{BufMut, Bytes, BytesMut};
use parking_lot::{Mutex, RwLock};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::util::glob;

/// `client-output-buffer-limit` for the pubsub class, which CONFIG SET
/// changes while clients run. Zero means no limit.
/// The `normal` and `replica` classes are kept for CONFIG GET only: a
/// client with no mailbox has no output buffer to bound beyond one
/// pipeline's replies, and there are no replicas.
#[derive(Debug)]
pub struct OutputLimits {
    pub hard: AtomicU64,
    pub soft: AtomicU64,
    pub soft_secs: AtomicU64,
    pub normal: Mutex<[u64; 3]>,
    pub replica: Mutex<[u64; 3]>,
}

impl Default for OutputLimits {
    /// Redis' defaults: `normal 0 0 0 slave 256mb 64mb 60 pubsub 32mb 8mb 60`.
    fn default() -> Self {
        OutputLimits {
            hard: AtomicU64::new(32 * 1024 * 1024),
            soft: AtomicU64::new(8 * 1024 * 1024),
            soft_secs: AtomicU64::new(60),
            normal: Mutex::new([0, 0, 0]),
            replica: Mutex::new([256 * 1024 * 1024, 64 * 1024 * 1024, 60]),
        }
    }
}

impl OutputLimits {
    /// CONFIG GET's value, in Redis' order and words.
    pub fn describe(&self) -> String {
        let n = *self.normal.lock();
        let r = *self.replica.lock();
        format!(
            "normal {} {} {} slave {} {} {} pubsub {} {} {}",
            n[0],
            n[1],
            n[2],
            r[0],
            r[1],
            r[2],
            self.hard.load(Ordering::Relaxed),
            self.soft.load(Ordering::Relaxed),
            self.soft_secs.load(Ordering::Relaxed)
        )
    }

    /// CONFIG SET's value: `<class> <hard> <soft> <soft seconds>`
    /// repeated, memory in Redis' units (`32mb`, `1gb`, `100k` …). Checked
    /// whole before anything changes; errors in Redis' words.
    pub fn set(&self, value: &str) -> Result<(), &'static str> {
        let words: Vec<&str> = value.split_ascii_whitespace().collect();
        if words.len() % 4 != 0 {
            return Err("Wrong number of arguments in buffer limit configuration.");
        }
        let mut parsed = Vec::new();
        for w in words.chunks(4) {
            let class = match w[0].to_ascii_lowercase().as_str() {
                "normal" => 0,
                "slave" | "replica" => 1,
                "pubsub" => 2,
                _ => return Err("Invalid client class specified in buffer limit configuration."),
            };
            let bad = "Error in hard, soft or soft_seconds setting in buffer limit configuration.";
            let hard = memtoull(w[1]).ok_or(bad)?;
            let soft = memtoull(w[2]).ok_or(bad)?;
            let secs: u64 = w[3].parse().map_err(|_| bad)?;
            parsed.push((class, [hard, soft, secs]));
        }
        for (class, v) in parsed {
            match class {
                0 => *self.normal.lock() = v,
                1 => *self.replica.lock() = v,
                _ => {
                    self.hard.store(v[0], Ordering::Relaxed);
                    self.soft.store(v[1], Ordering::Relaxed);
                    self.soft_secs.store(v[2], Ordering::Relaxed);
                }
            }
        }
        Ok(())
    }
}

/// Redis' `memtoull`: a byte count with an optional unit (`b`, `k`, `kb`,
/// `m`, `mb`, `g`, `gb`; `k` is 1000 and `kb` 1024), case-insensitive.
pub fn memtoull(s: &str) -> Option<u64> {
    let lower = s.to_ascii_lowercase();
    let digits_end = lower
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(lower.len());
    let (num, unit) = lower.split_at(digits_end);
    let mul: u64 = match unit {
        "" | "b" => 1,
        "k" => 1000,
        "kb" => 1024,
        "m" => 1000 * 1000,
        "mb" => 1024 * 1024,
        "g" => 1000 * 1000 * 1000,
        "gb" => 1024 * 1024 * 1024,
        _ => return None,
    };
    num.parse::<u64>().ok()?.checked_mul(mul)
}

/// A message encoded for both protocols.
#[derive(Clone, Debug)]
pub struct Frame {
    resp2: Bytes,
    resp3: Bytes,
}

impl Frame {
    /// A push of bulk strings: `*n` / `>n` then each part.
    pub fn of_bulks(parts: &[&[u8]]) -> Frame {
        let len: usize = parts.iter().map(|p| p.len() + 16).sum::<usize>() + 8;
        let mut buf = BytesMut::with_capacity(len);
        header(&mut buf, b'*', parts.len());
        for p in parts {
            bulk(&mut buf, p);
        }
        Frame::from_resp2(buf)
    }

    /// A push whose RESP2 encoding is `buf` (starting with `*`): the RESP3
    /// one differs only in its first byte.
    pub fn from_resp2(buf: BytesMut) -> Frame {
        let resp2 = buf.freeze();
        let mut three = BytesMut::from(&resp2[..]);
        if let Some(first) = three.first_mut() {
            *first = b'>';
        }
        Frame {
            resp2,
            resp3: three.freeze(),
        }
    }

    fn for_version(&self, resp3: bool) -> &Bytes {
        if resp3 {
            &self.resp3
        } else {
            &self.resp2
        }
    }
}

/// `*n\r\n` (or `>n`).
pub fn header(buf: &mut BytesMut, kind: u8, n: usize) {
    buf.put_u8(kind);
    buf.put_slice(itoa::Buffer::new().format(n).as_bytes());
    buf.put_slice(b"\r\n");
}

/// `$len\r\ndata\r\n`.
pub fn bulk(buf: &mut BytesMut, data: &[u8]) {
    buf.put_u8(b'$');
    buf.put_slice(itoa::Buffer::new().format(data.len()).as_bytes());
    buf.put_slice(b"\r\n");
    buf.put_slice(data);
    buf.put_slice(b"\r\n");
}

/// What one client has been sent and not yet written.
#[derive(Debug, Default)]
struct Queue {
    frames: VecDeque<Bytes>,
    bytes: u64,
    /// Since when the queue is over the soft limit.
    soft_since: Option<Instant>,
    /// Closed for going over a limit: nothing more is queued.
    closed: bool,
}

/// One client's queue of pushes (messages, invalidations), filled by
/// publishers on any thread and emptied by the client's connection.
#[derive(Debug)]
pub struct Mailbox {
    id: u64,
    /// The client speaks RESP3: pushes are encoded with `>`.
    resp3: AtomicBool,
    queue: Mutex<Queue>,
    /// Wakes the idle connection when the queue stops being empty.
    notify: Notify,
    /// The client's CLIENT KILL token, cancelled when a limit is passed.
    kill: CancellationToken,
    limits: Arc<OutputLimits>,
    /// Counts clients closed for their output buffer (INFO).
    disconnections: Arc<AtomicU64>,
}

impl Mailbox {
    pub fn new(
        id: u64,
        resp3: bool,
        kill: CancellationToken,
        limits: Arc<OutputLimits>,
        disconnections: Arc<AtomicU64>,
    ) -> Mailbox {
        Mailbox {
            id,
            resp3: AtomicBool::new(resp3),
            queue: Mutex::new(Queue::default()),
            notify: Notify::new(),
            kill,
            limits,
            disconnections,
        }
    }

    pub fn id(&self) -> u64 {
        self.id
    }

    /// Queue bytes already encoded for this client's protocol (tracking
    /// invalidations); false when the client was closed for its limits.
    pub fn push_bytes(&self, bytes: Bytes) -> bool {
        let frame = Frame {
            resp2: bytes.clone(),
            resp3: bytes,
        };
        self.push(&frame)
    }

    pub fn set_resp3(&self, yes: bool) {
        self.resp3.store(yes, Ordering::Relaxed);
    }

    /// Queue a frame; false when the client was closed for its limits.
    pub fn push(&self, frame: &Frame) -> bool {
        let bytes = frame.for_version(self.resp3.load(Ordering::Relaxed));
        let mut q = self.queue.lock();
        if q.closed {
            return false;
        }
        let was_empty = q.frames.is_empty();
        q.bytes += bytes.len() as u64;
        q.frames.push_back(bytes.clone());
        let over = self.over_limits(&mut q);
        if over {
            q.closed = true;
            q.frames = VecDeque::new();
            q.bytes = 0;
        }
        drop(q);
        if over {
            self.disconnections.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(
                client = self.id,
                "client scheduled to be closed ASAP for overcoming of output buffer limits"
            );
            self.kill.cancel();
            return false;
        }
        if was_empty {
            self.notify.notify_one();
        }
        true
    }

    /// Redis' `checkClientOutputBufferLimits`: over the hard limit, or
    /// over the soft limit for longer than its seconds.
    fn over_limits(&self, q: &mut Queue) -> bool {
        let hard = self.limits.hard.load(Ordering::Relaxed);
        if hard > 0 && q.bytes >= hard {
            return true;
        }
        let soft = self.limits.soft.load(Ordering::Relaxed);
        if soft > 0 && q.bytes >= soft {
            let secs = self.limits.soft_secs.load(Ordering::Relaxed);
            match q.soft_since {
                None => q.soft_since = Some(Instant::now()),
                Some(t) => return t.elapsed() > Duration::from_secs(secs),
            }
        } else {
            q.soft_since = None;
        }
        false
    }

    /// Whether anything waits to be written.
    pub fn has_pending(&self) -> bool {
        !self.queue.lock().frames.is_empty()
    }

    /// Move queued frames into `out`, stopping once `max` bytes were
    /// added; true when frames remain.
    pub fn take_into(&self, out: &mut BytesMut, max: usize) -> bool {
        let mut q = self.queue.lock();
        let mut added = 0;
        while added < max {
            let Some(frame) = q.frames.pop_front() else {
                break;
            };
            added += frame.len();
            q.bytes -= frame.len() as u64;
            out.extend_from_slice(&frame);
        }
        if q.bytes < self.limits.soft.load(Ordering::Relaxed) {
            q.soft_since = None;
        }
        !q.frames.is_empty()
    }

    /// Wait until a push arrives (or arrived since the last take).
    pub async fn notified(&self) {
        self.notify.notified().await
    }
}

/// Which namespace a subscription lives in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Channel,
    Pattern,
    Shard,
}

type Subscribers = HashMap<u64, Arc<Mailbox>>;

/// The server-wide registry (see the module docs).
#[derive(Debug, Default)]
pub struct PubSub {
    channels: RwLock<HashMap<Bytes, Subscribers>>,
    patterns: RwLock<HashMap<Bytes, Subscribers>>,
    shard: RwLock<HashMap<Bytes, Subscribers>>,
    pub limits: Arc<OutputLimits>,
    /// Clients closed for their output buffer limits.
    pub disconnections: Arc<AtomicU64>,
}

impl PubSub {
    /// A mailbox for client `id`, closed through `kill` when it passes
    /// the limits.
    pub fn mailbox(&self, id: u64, resp3: bool, kill: CancellationToken) -> Arc<Mailbox> {
        Arc::new(Mailbox::new(
            id,
            resp3,
            kill,
            self.limits.clone(),
            self.disconnections.clone(),
        ))
    }

    /// A registry whose mailboxes share `limits` and `disconnections`
    /// (the clients registry's, so that mailboxes made for any client
    /// obey one CONFIG SET).
    pub fn with_limits(limits: Arc<OutputLimits>, disconnections: Arc<AtomicU64>) -> PubSub {
        PubSub {
            limits,
            disconnections,
            ..PubSub::default()
        }
    }

    fn table(&self, kind: Kind) -> &RwLock<HashMap<Bytes, Subscribers>> {
        match kind {
            Kind::Channel => &self.channels,
            Kind::Pattern => &self.patterns,
            Kind::Shard => &self.shard,
        }
    }

    /// Add `mailbox` under `name`.
    pub fn subscribe(&self, kind: Kind, name: &Bytes, mailbox: &Arc<Mailbox>) {
        self.table(kind)
            .write()
            .entry(name.clone())
            .or_default()
            .insert(mailbox.id, mailbox.clone());
    }

    /// Remove client `id` from `name`; a name nobody listens to is
    /// forgotten, so that PUBSUB CHANNELS and memory follow what is live.
    pub fn unsubscribe(&self, kind: Kind, name: &[u8], id: u64) {
        let mut table = self.table(kind).write();
        if let Some(subs) = table.get_mut(name) {
            subs.remove(&id);
            if subs.is_empty() {
                table.remove(name);
            }
        }
    }

    /// Remove client `id` from every name in `names`, under one lock.
    pub fn unsubscribe_all(&self, kind: Kind, names: &HashSet<Bytes>, id: u64) {
        if names.is_empty() {
            return;
        }
        let mut table = self.table(kind).write();
        for name in names {
            if let Some(subs) = table.get_mut(&name[..]) {
                subs.remove(&id);
                if subs.is_empty() {
                    table.remove(&name[..]);
                }
            }
        }
    }

    /// PUBLISH: `message` to `channel`'s subscribers, then to every
    /// matching pattern's; the number of receivers.
    pub fn publish(&self, channel: &[u8], message: &[u8]) -> usize {
        let mut receivers = 0;
        {
            let channels = self.channels.read();
            if let Some(subs) = channels.get(channel) {
                let frame = Frame::of_bulks(&[b"message", channel, message]);
                for m in subs.values() {
                    m.push(&frame);
                    receivers += 1;
                }
            }
        }
        let patterns = self.patterns.read();
        for (pattern, subs) in patterns.iter() {
            if !glob::matches(pattern, channel) {
                continue;
            }
            let frame = Frame::of_bulks(&[b"pmessage", pattern, channel, message]);
            for m in subs.values() {
                m.push(&frame);
                receivers += 1;
            }
        }
        receivers
    }

    /// SPUBLISH: shard channels ignore patterns.
    pub fn spublish(&self, channel: &[u8], message: &[u8]) -> usize {
        let shard = self.shard.read();
        let Some(subs) = shard.get(channel) else {
            return 0;
        };
        let frame = Frame::of_bulks(&[b"smessage", channel, message]);
        for m in subs.values() {
            m.push(&frame);
        }
        subs.len()
    }

    /// Whether anyone listens to anything (keyspace notifications skip
    /// their work when nobody does).
    pub fn has_listeners(&self) -> bool {
        !self.channels.read().is_empty() || !self.patterns.read().is_empty()
    }

    /// PUBSUB CHANNELS / SHARDCHANNELS: the live names matching `pattern`.
    pub fn names(&self, kind: Kind, pattern: Option<&[u8]>) -> Vec<Bytes> {
        self.table(kind)
            .read()
            .keys()
            .filter(|name| pattern.is_none_or(|p| glob::matches(p, name)))
            .cloned()
            .collect()
    }

    /// PUBSUB NUMSUB / SHARDNUMSUB: subscribers of one name.
    pub fn count(&self, kind: Kind, name: &[u8]) -> usize {
        self.table(kind).read().get(name).map_or(0, |s| s.len())
    }

    /// PUBSUB NUMPAT: distinct patterns subscribed to.
    pub fn numpat(&self) -> usize {
        self.patterns.read().len()
    }

    /// INFO `pubsub_channels` / `pubsubshard_channels`.
    pub fn len(&self, kind: Kind) -> usize {
        self.table(kind).read().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drain(m: &Mailbox) -> Vec<u8> {
        let mut out = BytesMut::new();
        m.take_into(&mut out, usize::MAX);
        out.to_vec()
    }

    #[test]
    fn channel_subscribers_come_before_patterns() {
        let ps = PubSub::default();
        let m = ps.mailbox(1, false, CancellationToken::new());
        ps.subscribe(Kind::Pattern, &Bytes::from_static(b"f*"), &m);
        ps.subscribe(Kind::Channel, &Bytes::from_static(b"foo"), &m);
        assert_eq!(ps.publish(b"foo", b"hi"), 2);
        assert_eq!(
            drain(&m),
            b"*3\r\n$7\r\nmessage\r\n$3\r\nfoo\r\n$2\r\nhi\r\n*4\r\n$8\r\npmessage\r\n$2\r\nf*\r\n$3\r\nfoo\r\n$2\r\nhi\r\n"
        );
        m.set_resp3(true);
        assert_eq!(ps.spublish(b"foo", b"x"), 0);
        assert_eq!(ps.publish(b"foo", b"x"), 2);
        assert!(drain(&m).starts_with(b">3\r\n$7\r\nmessage"));
    }

    #[test]
    fn a_mailbox_over_the_hard_limit_is_closed() {
        let ps = PubSub::default();
        ps.limits.hard.store(100, Ordering::Relaxed);
        let kill = CancellationToken::new();
        let m = ps.mailbox(7, false, kill.clone());
        ps.subscribe(Kind::Channel, &Bytes::from_static(b"c"), &m);
        let big = vec![b'x'; 60];
        ps.publish(b"c", &big);
        assert!(!kill.is_cancelled());
        ps.publish(b"c", &big);
        assert!(kill.is_cancelled());
        assert!(!m.has_pending(), "a closed mailbox frees its queue");
        assert_eq!(ps.disconnections.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn empty_names_are_forgotten() {
        let ps = PubSub::default();
        let m = ps.mailbox(1, false, CancellationToken::new());
        ps.subscribe(Kind::Shard, &Bytes::from_static(b"s"), &m);
        assert_eq!(ps.names(Kind::Shard, None), vec![Bytes::from_static(b"s")]);
        ps.unsubscribe(Kind::Shard, b"s", 1);
        assert!(ps.names(Kind::Shard, None).is_empty());
        assert_eq!(ps.count(Kind::Shard, b"s"), 0);
    }
}
