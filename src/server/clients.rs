//! The registry of connected clients: CLIENT LIST, CLIENT KILL, INFO
//! clients and `maxclients` read it.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use bytes::Bytes;
use parking_lot::Mutex;
use redynamo_layers::command::{all_specs, CommandSpec};
use redynamo_layers::ClientInfo;
use tokio_util::sync::CancellationToken;

use super::pubsub::{Mailbox, OutputLimits};

/// What the registry knows about one connection. Fields the connection
/// updates as it runs are atomics or short mutexes, so CLIENT LIST from
/// another connection never waits on a busy one.
#[derive(Debug)]
pub struct ClientEntry {
    pub info: Arc<ClientInfo>,
    pub laddr: Option<SocketAddr>,
    pub fd: i32,
    pub created: Instant,
    /// Milliseconds since `created` of the last command.
    pub last_active_ms: AtomicU64,
    pub db: AtomicU32,
    pub resp: AtomicU8,
    /// -1 outside MULTI, else the number of queued commands.
    pub multi: AtomicU64,
    pub in_multi: AtomicBool,
    pub lib_name: Mutex<Option<Bytes>>,
    pub lib_ver: Mutex<Option<Bytes>>,
    /// The last command's spec, as an address into the static command table
    /// (an atomic store per command instead of a lock); CLIENT LIST maps it
    /// back to a name.
    last_cmd: AtomicUsize,
    /// Cancelled by CLIENT KILL or server shutdown.
    pub kill: CancellationToken,
    /// Where pushes for this client queue (messages, invalidations); made
    /// on first use, by the client itself or by a publisher that
    /// redirects to it.
    mailbox: OnceLock<Arc<Mailbox>>,
    /// Wakes the client's idle connection when its mailbox is made (by a
    /// tracking client redirecting to it, for instance), so that it starts
    /// waiting on it.
    pub mailbox_made: tokio::sync::Notify,
    /// Output limits and the disconnection counter every mailbox shares.
    push_limits: Arc<OutputLimits>,
    push_disconnections: Arc<AtomicU64>,
    /// In Pub/Sub mode (subscribed to anything): a RESP2 redirect target
    /// of tracking must be.
    pub pubsub_mode: AtomicBool,
    /// CLIENT LIST's `sub`, `psub`, `ssub`.
    pub subs: [AtomicU64; 3],
}

impl ClientEntry {
    pub fn id(&self) -> u64 {
        self.info.id
    }

    /// This client's push mailbox, made on first use.
    pub fn mailbox(&self) -> &Arc<Mailbox> {
        if let Some(m) = self.mailbox.get() {
            return m;
        }
        let m = self.mailbox.get_or_init(|| {
            Arc::new(Mailbox::new(
                self.id(),
                self.resp.load(Ordering::Relaxed) > 2,
                self.kill.clone(),
                self.push_limits.clone(),
                self.push_disconnections.clone(),
            ))
        });
        self.mailbox_made.notify_one();
        m
    }

    /// The mailbox, if anything made it.
    pub fn mailbox_if_any(&self) -> Option<&Arc<Mailbox>> {
        self.mailbox.get()
    }

    pub fn in_pubsub(&self) -> bool {
        self.pubsub_mode.load(Ordering::Relaxed)
    }

    /// Remember the command being run (cheap: once per command).
    pub fn touch(&self, spec: &'static CommandSpec) {
        self.last_cmd
            .store(spec as *const CommandSpec as usize, Ordering::Relaxed);
    }

    /// Remember that the client sent something (once per read, not per
    /// command: it reads the clock).
    pub fn mark_active(&self) {
        self.last_active_ms
            .store(self.created.elapsed().as_millis() as u64, Ordering::Relaxed);
    }

    fn last_cmd_name(&self) -> &'static str {
        let addr = self.last_cmd.load(Ordering::Relaxed);
        all_specs()
            .find(|s| *s as *const CommandSpec as usize == addr)
            .map_or("NULL", |s| s.name)
    }

    /// One line of CLIENT LIST / CLIENT INFO, in Redis 7's field order.
    pub fn describe(&self) -> String {
        let age = self.created.elapsed();
        let idle_ms =
            (age.as_millis() as u64).saturating_sub(self.last_active_ms.load(Ordering::Relaxed));
        let text = |m: &Mutex<Option<Bytes>>| {
            m.lock()
                .as_ref()
                .map(|b| String::from_utf8_lossy(b).into_owned())
                .unwrap_or_default()
        };
        let in_multi = self.in_multi.load(Ordering::Relaxed);
        let mut s = String::with_capacity(256);
        let _ = write!(
            s,
            "id={} addr={} laddr={} fd={} name={} age={} idle={} flags={} db={} sub={} psub={} ssub={} multi={} qbuf=0 qbuf-free=0 argv-mem=0 multi-mem=0 rbs=0 rbp=0 obl=0 oll=0 omem=0 tot-mem=0 events=r cmd={} user={} redir=-1 resp={} lib-name={} lib-ver={}",
            self.id(),
            self.info.addr.map(|a| a.to_string()).unwrap_or_default(),
            self.laddr.map(|a| a.to_string()).unwrap_or_default(),
            self.fd,
            self.info
                .name()
                .map(|b| String::from_utf8_lossy(&b).into_owned())
                .unwrap_or_default(),
            age.as_secs(),
            idle_ms / 1000,
            if in_multi {
                "x"
            } else if self.info.block.is_blocked() {
                "b"
            } else if self.in_pubsub() {
                "P"
            } else {
                "N"
            },
            self.db.load(Ordering::Relaxed),
            self.subs[0].load(Ordering::Relaxed),
            self.subs[1].load(Ordering::Relaxed),
            self.subs[2].load(Ordering::Relaxed),
            if in_multi { self.multi.load(Ordering::Relaxed) as i64 } else { -1 },
            self.last_cmd_name(),
            String::from_utf8_lossy(&self.info.user_name()),
            self.resp.load(Ordering::Relaxed),
            text(&self.lib_name),
            text(&self.lib_ver),
        );
        s
    }
}

/// All connected clients, by id.
#[derive(Debug, Default)]
pub struct Clients {
    next_id: AtomicU64,
    map: Mutex<BTreeMap<u64, Arc<ClientEntry>>>,
    /// `client-output-buffer-limit pubsub`, for every client's mailbox.
    pub push_limits: Arc<OutputLimits>,
    /// Clients closed for their output buffer (INFO).
    pub push_disconnections: Arc<AtomicU64>,
}

impl Clients {
    /// Register a new connection and give it an id (increasing from 1).
    pub fn register(
        &self,
        addr: Option<SocketAddr>,
        laddr: Option<SocketAddr>,
        fd: i32,
    ) -> Arc<ClientEntry> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed) + 1;
        let entry = Arc::new(ClientEntry {
            info: Arc::new(ClientInfo::new(id, addr)),
            laddr,
            fd,
            created: Instant::now(),
            last_active_ms: AtomicU64::new(0),
            db: AtomicU32::new(0),
            resp: AtomicU8::new(2),
            multi: AtomicU64::new(0),
            in_multi: AtomicBool::new(false),
            lib_name: Mutex::new(None),
            lib_ver: Mutex::new(None),
            last_cmd: AtomicUsize::new(0),
            kill: CancellationToken::new(),
            mailbox: OnceLock::new(),
            mailbox_made: tokio::sync::Notify::new(),
            push_limits: self.push_limits.clone(),
            push_disconnections: self.push_disconnections.clone(),
            pubsub_mode: AtomicBool::new(false),
            subs: Default::default(),
        });
        self.map.lock().insert(id, entry.clone());
        entry
    }

    /// The connected client `id`.
    pub fn get(&self, id: u64) -> Option<Arc<ClientEntry>> {
        self.map.lock().get(&id).cloned()
    }

    pub fn unregister(&self, id: u64) {
        self.map.lock().remove(&id);
    }

    pub fn len(&self) -> usize {
        self.map.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A snapshot, in id order.
    pub fn all(&self) -> Vec<Arc<ClientEntry>> {
        self.map.lock().values().cloned().collect()
    }
}
