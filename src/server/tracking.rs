//! CLIENT TRACKING: which client may cache which key, and the invalidation
//! messages Redis sends (`tracking.c`).
//!
//! - **Default mode**: before a tracking client's read runs, its keys are
//!   remembered (key → client ids). Remembering *before* the read, not
//!   after as single-threaded Redis may, closes the race where another
//!   thread's write lands between the read and the remembering: the
//!   client may get an invalidation for a read that then failed, never
//!   miss one. A write to a remembered key sends each of its clients
//!   `invalidate [key]` and forgets the key.
//! - **BCAST**: a write to a key under a client's prefix sends it the key,
//!   whether it read it or not, one message per prefix with the keys the
//!   command changed, in byte order (Redis sends once per event loop).
//! - **NOLOOP**: a client's own writes are not sent to it.
//! - **OPTIN / OPTOUT**: reads are remembered only after CLIENT CACHING yes
//!   (OPTIN), or unless CLIENT CACHING no (OPTOUT), for the next command.
//! - **REDIRECT**: messages go to another client: as a RESP3 push if it
//!   speaks RESP3, as a `message` on `__redis__:invalidate` if it is a
//!   RESP2 client in Pub/Sub mode, nowhere otherwise. A redirect to a
//!   client that left marks the tracking broken and tells a RESP3 client
//!   `tracking-redir-broken <id>`.
//! - **Flush** (FLUSHDB, FLUSHALL): every tracking client gets an
//!   invalidation whose keys are a null, and the table is emptied.
//! - `tracking-table-max-keys` (default 1,000,000, 0 = no limit): past it,
//!   keys are forgotten, with an invalidation to their clients, as Redis'
//!   `trackingLimitUsedSlots` does.
//!
//! Keys are not per db, as in Redis. Writes are reported by the store
//! ([`Tracking::invalidate`], after each command, still in its critical
//! section: the memory store today; the DynamoDB store's commits and the
//! streams follower's records are the seam for the fleet). Messages are
//! queued in the target's [`Mailbox`], so a client's own invalidations
//! follow its command's reply.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use bytes::{BufMut, Bytes, BytesMut};
use parking_lot::Mutex;

use super::clients::Clients;
use super::pubsub::{bulk, header};

/// A client's tracking options (CLIENT TRACKING ON …).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Options {
    /// 0: none.
    pub redirect: u64,
    pub bcast: bool,
    pub prefixes: Vec<Bytes>,
    pub optin: bool,
    pub optout: bool,
    pub noloop: bool,
}

#[derive(Debug)]
struct Tracked {
    options: Options,
    /// The redirect target left.
    broken: bool,
}

#[derive(Debug, Default)]
struct Inner {
    clients: HashMap<u64, Tracked>,
    /// Default mode: key → the clients that may cache it.
    table: HashMap<Bytes, HashSet<u64>>,
    /// BCAST: prefix → its clients.
    prefixes: HashMap<Bytes, HashSet<u64>>,
}

/// The server's tracking state (see the module docs).
#[derive(Debug)]
pub struct Tracking {
    inner: Mutex<Inner>,
    /// Clients with tracking on: writes skip everything while it is 0.
    active: AtomicUsize,
    pub max_keys: AtomicU64,
    clients: Arc<Clients>,
}

/// What one command changed: `(key, the client that wrote it; 0 for
/// expiry)`.
pub type Modified = Vec<(Bytes, u64)>;

impl Tracking {
    pub fn new(clients: Arc<Clients>) -> Tracking {
        Tracking {
            inner: Mutex::new(Inner::default()),
            active: AtomicUsize::new(0),
            max_keys: AtomicU64::new(1_000_000),
            clients,
        }
    }

    /// Whether any client tracks: stores collect modified keys only then.
    pub fn is_active(&self) -> bool {
        self.active.load(Ordering::Relaxed) > 0
    }

    /// INFO `tracking_clients`.
    pub fn clients(&self) -> usize {
        self.active.load(Ordering::Relaxed)
    }

    /// INFO `tracking_total_keys`, `tracking_total_items`,
    /// `tracking_total_prefixes`.
    pub fn totals(&self) -> (usize, usize, usize) {
        let inner = self.inner.lock();
        let items = inner.table.values().map(HashSet::len).sum();
        (inner.table.len(), items, inner.prefixes.len())
    }

    pub fn options(&self, id: u64) -> Option<(Options, bool)> {
        let inner = self.inner.lock();
        inner
            .clients
            .get(&id)
            .map(|t| (t.options.clone(), t.broken))
    }

    /// CLIENT TRACKING ON with checked options (`client.rs` checks them
    /// as Redis does).
    pub fn enable(&self, id: u64, options: Options) {
        let mut inner = self.inner.lock();
        let mut prefixes = options.prefixes.clone();
        if options.bcast && prefixes.is_empty() {
            prefixes.push(Bytes::new());
        }
        // Prefixes accumulate across CLIENT TRACKING ON … BCAST calls.
        let mut merged = options;
        if let Some(old) = inner.clients.get(&id) {
            for p in &old.options.prefixes {
                if !prefixes.contains(p) {
                    prefixes.push(p.clone());
                }
            }
        } else {
            self.active.fetch_add(1, Ordering::Relaxed);
        }
        if merged.bcast {
            for p in &prefixes {
                inner.prefixes.entry(p.clone()).or_default().insert(id);
            }
            merged.prefixes = prefixes;
        }
        inner.clients.insert(
            id,
            Tracked {
                options: merged,
                broken: false,
            },
        );
    }

    /// CLIENT TRACKING OFF, RESET, and the client leaving. Its ids in the
    /// table are forgotten lazily, as Redis does.
    pub fn disable(&self, id: u64) {
        let mut inner = self.inner.lock();
        let Some(t) = inner.clients.remove(&id) else {
            return;
        };
        self.active.fetch_sub(1, Ordering::Relaxed);
        for p in &t.options.prefixes {
            if let Some(set) = inner.prefixes.get_mut(p) {
                set.remove(&id);
                if set.is_empty() {
                    inner.prefixes.remove(p);
                }
            }
        }
    }

    /// Default mode: client `id` is about to read `keys`.
    pub fn remember<'k>(&self, id: u64, keys: impl Iterator<Item = &'k [u8]>) {
        let mut inner = self.inner.lock();
        for key in keys {
            match inner.table.get_mut(key) {
                Some(ids) => {
                    ids.insert(id);
                }
                None => {
                    inner
                        .table
                        .insert(Bytes::copy_from_slice(key), HashSet::from([id]));
                }
            }
        }
        let max = self.max_keys.load(Ordering::Relaxed) as usize;
        if max > 0 && inner.table.len() > max {
            let over = inner.table.len() - max;
            let evict: Vec<Bytes> = inner.table.keys().take(over).cloned().collect();
            let mut out = Vec::new();
            for key in evict {
                if let Some(ids) = inner.table.remove(&key) {
                    for target in ids {
                        out.push((target, keys_frame(std::slice::from_ref(&key))));
                    }
                }
            }
            self.deliver(&mut inner, out);
        }
    }

    /// The keys one command (or expiry) changed: invalidations to the
    /// clients that may cache them.
    pub fn invalidate(&self, modified: &[(Bytes, u64)]) {
        if modified.is_empty() || !self.is_active() {
            return;
        }
        let mut inner = self.inner.lock();
        let mut out = Vec::new();
        for (key, writer) in modified {
            let Some(ids) = inner.table.remove(key) else {
                continue;
            };
            for target in ids {
                let Some(t) = inner.clients.get(&target) else {
                    continue;
                };
                if t.options.bcast || (t.options.noloop && target == *writer) {
                    continue;
                }
                out.push((target, keys_frame(std::slice::from_ref(key))));
            }
        }
        if !inner.prefixes.is_empty() {
            // prefix → key → its last writer, in byte order as Redis' rax.
            let mut per_prefix: HashMap<&Bytes, BTreeMap<&Bytes, u64>> = HashMap::new();
            for (key, writer) in modified {
                for prefix in inner.prefixes.keys() {
                    if key.starts_with(prefix) {
                        per_prefix.entry(prefix).or_default().insert(key, *writer);
                    }
                }
            }
            for (prefix, keys) in per_prefix {
                for &target in &inner.prefixes[prefix] {
                    let noloop = inner.clients.get(&target).is_some_and(|t| t.options.noloop);
                    let sent: Vec<Bytes> = keys
                        .iter()
                        .filter(|(_, w)| !(noloop && **w == target))
                        .map(|(k, _)| (*k).clone())
                        .collect();
                    if !sent.is_empty() {
                        out.push((target, keys_frame(&sent)));
                    }
                }
            }
        }
        self.deliver(&mut inner, out);
    }

    /// FLUSHDB / FLUSHALL: every tracking client is told all its keys are
    /// invalid (a null), and the table is emptied.
    pub fn flush(&self) {
        if !self.is_active() {
            return;
        }
        let mut inner = self.inner.lock();
        inner.table.clear();
        let out = inner.clients.keys().map(|&id| (id, Keys::Null)).collect();
        self.deliver(&mut inner, out);
    }

    /// Send each `(client, keys)` as Redis' `sendTrackingMessage` does.
    fn deliver(&self, inner: &mut Inner, out: Vec<(u64, Keys)>) {
        for (id, keys) in out {
            let Some(t) = inner.clients.get_mut(&id) else {
                continue;
            };
            let redirect = t.options.redirect;
            let target_id = if redirect != 0 { redirect } else { id };
            let Some(target) = self.clients.get(target_id) else {
                // The redirect target left.
                t.broken = true;
                if let Some(me) = self.clients.get(id) {
                    if me.resp.load(Ordering::Relaxed) > 2 {
                        let mut buf = BytesMut::new();
                        header(&mut buf, b'>', 2);
                        bulk(&mut buf, b"tracking-redir-broken");
                        buf.put_u8(b':');
                        buf.put_slice(itoa::Buffer::new().format(redirect).as_bytes());
                        buf.put_slice(b"\r\n");
                        me.mailbox().push_bytes(buf.freeze());
                    }
                }
                continue;
            };
            let resp3 = target.resp.load(Ordering::Relaxed) > 2;
            let mut buf = BytesMut::new();
            if resp3 {
                header(&mut buf, b'>', 2);
                bulk(&mut buf, b"invalidate");
            } else if redirect != 0 && target.in_pubsub() {
                header(&mut buf, b'*', 3);
                bulk(&mut buf, b"message");
                bulk(&mut buf, b"__redis__:invalidate");
            } else {
                // RESP2 without a subscribed redirect: nowhere to send it.
                continue;
            }
            keys.encode(&mut buf, resp3);
            target.mailbox().push_bytes(buf.freeze());
        }
    }
}

/// The keys part of an invalidation.
#[derive(Debug)]
enum Keys {
    List(Bytes),
    /// A flush: all keys.
    Null,
}

impl Keys {
    fn encode(&self, buf: &mut BytesMut, resp3: bool) {
        match self {
            Keys::List(encoded) => buf.extend_from_slice(encoded),
            Keys::Null if resp3 => buf.extend_from_slice(b"_\r\n"),
            Keys::Null => buf.extend_from_slice(b"$-1\r\n"),
        }
    }
}

/// `*n` and each key, the same in both protocols.
fn keys_frame(keys: &[Bytes]) -> Keys {
    let mut buf = BytesMut::new();
    header(&mut buf, b'*', keys.len());
    for k in keys {
        bulk(&mut buf, k);
    }
    Keys::List(buf.freeze())
}
