//! MONITOR: every command the server runs, as Redis 7.2 prints it to
//! monitoring clients (`replicationFeedMonitors`):
//!
//! ```text
//! +1339518083.107412 [0 127.0.0.1:60866] "keys" "*"
//! ```
//!
//! - Arguments are quoted by `sdscatrepr`'s rules; passwords are shown as
//!   `"(redacted)"` where Redis redacts them (AUTH, HELLO … AUTH, MIGRATE
//!   AUTH/AUTH2, ACL SETUSER rules, CONFIG SET of sensitive settings).
//! - Admin commands (CONFIG, DEBUG, SHUTDOWN, MONITOR …) are not shown,
//!   as in Redis.
//! - Nothing is formatted while nobody monitors: the command path pays one
//!   relaxed atomic load ([`Monitors::active`]).
//! - Each monitor's backlog is bounded ([`MONITOR_BACKLOG_BYTES`]): a
//!   monitor that does not read fast enough is disconnected rather than
//!   letting its lines pile up in memory.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use redynamo_layers::command::CommandSpec;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::config::redis_conf::repr;

/// Most bytes of lines one monitor may have waiting to be written; past
/// it the monitor is disconnected (Redis bounds its monitors by the
/// `normal` client-output-buffer-limit class, unlimited by default:
/// redynamo never lets memory grow without bound).
pub const MONITOR_BACKLOG_BYTES: usize = 16 * 1024 * 1024;

/// The monitoring clients of a server.
#[derive(Default)]
pub struct Monitors {
    count: AtomicUsize,
    subscribers: Mutex<Vec<Subscriber>>,
}

struct Subscriber {
    lines: mpsc::UnboundedSender<Bytes>,
    backlog: Arc<AtomicUsize>,
    /// Cancelled when it fell too far behind.
    dropped: CancellationToken,
}

/// One monitoring connection's end: the lines to write, and what it must
/// report as written ([`Subscription::written`]).
pub struct Subscription {
    pub lines: mpsc::UnboundedReceiver<Bytes>,
    backlog: Arc<AtomicUsize>,
    /// Cancelled when the monitor fell [`MONITOR_BACKLOG_BYTES`] behind:
    /// the connection closes.
    pub dropped: CancellationToken,
}

impl Subscription {
    /// `n` bytes of lines were written to the client.
    pub fn written(&self, n: usize) {
        self.backlog.fetch_sub(n, Ordering::Relaxed);
    }
}

/// Who ran a command, as the monitor line names it.
pub struct Origin {
    pub db: u32,
    pub addr: Option<SocketAddr>,
}

impl Monitors {
    /// Somebody monitors: only then is a command formatted and fed.
    #[inline]
    pub fn active(&self) -> bool {
        self.count.load(Ordering::Relaxed) != 0
    }

    pub fn subscribe(&self) -> Subscription {
        let (tx, rx) = mpsc::unbounded_channel();
        let backlog = Arc::new(AtomicUsize::new(0));
        let dropped = CancellationToken::new();
        let mut subs = self.subscribers.lock().unwrap_or_else(|e| e.into_inner());
        subs.push(Subscriber {
            lines: tx,
            backlog: backlog.clone(),
            dropped: dropped.clone(),
        });
        self.count.store(subs.len(), Ordering::Relaxed);
        Subscription {
            lines: rx,
            backlog,
            dropped,
        }
    }

    /// Feed one command to every monitor (when `active`).
    pub fn feed(&self, origin: &Origin, spec: &CommandSpec, args: &[Bytes]) {
        let Some(line) = format_line(origin, spec, args, crate::util::now_us() as u64) else {
            return;
        };
        let line = Bytes::from(line);
        let mut subs = self.subscribers.lock().unwrap_or_else(|e| e.into_inner());
        subs.retain(|s| {
            let pending = s.backlog.fetch_add(line.len(), Ordering::Relaxed) + line.len();
            if pending > MONITOR_BACKLOG_BYTES || s.lines.send(line.clone()).is_err() {
                s.dropped.cancel();
                return false;
            }
            true
        });
        self.count.store(subs.len(), Ordering::Relaxed);
    }
}

/// The status line Redis sends monitors for `args`, or None for a
/// command monitors do not see.
///
/// The db is the client's after the command, as Redis feeds monitors once
/// a command has run: `SELECT 3` shows as `[3 …]`.
pub fn format_line(
    origin: &Origin,
    spec: &CommandSpec,
    args: &[Bytes],
    now_us: u64,
) -> Option<String> {
    if spec.is_admin() && spec.name != "acl|setuser" {
        return None;
    }
    let name = args.first()?.to_ascii_lowercase();
    let redacted = redacted_args(&name, args);
    let db = match (spec.name, args.get(1)) {
        ("select", Some(db)) => crate::util::num::parse_i64(db)
            .and_then(|n| u32::try_from(n).ok())
            .unwrap_or(origin.db),
        _ => origin.db,
    };
    let peer = match origin.addr {
        Some(addr) => addr.to_string(),
        None => "unix:".to_string(),
    };
    let mut line = format!(
        "+{}.{:06} [{} {}]",
        now_us / 1_000_000,
        now_us % 1_000_000,
        db,
        peer
    );
    for (i, arg) in args.iter().enumerate() {
        line.push(' ');
        if redacted.contains(&i) {
            line.push_str("\"(redacted)\"");
        } else {
            line.push_str(&repr(arg));
        }
    }
    line.push_str("\r\n");
    Some(line)
}

/// The positions of the arguments Redis redacts for `name`.
fn redacted_args(name: &[u8], args: &[Bytes]) -> Vec<usize> {
    let is = |i: usize, word: &str| {
        args.get(i)
            .is_some_and(|a| a.eq_ignore_ascii_case(word.as_bytes()))
    };
    match name {
        b"auth" => (1..args.len()).collect(),
        b"hello" => (2..args.len())
            .find(|&i| is(i, "auth"))
            .map(|i| vec![i + 1, i + 2])
            .unwrap_or_default(),
        b"migrate" => {
            let mut out = Vec::new();
            for i in 6..args.len() {
                if is(i, "auth") {
                    out.push(i + 1);
                } else if is(i, "auth2") {
                    out.extend([i + 1, i + 2]);
                }
            }
            out
        }
        b"acl" if is(1, "setuser") => (3..args.len()).collect(),
        b"config" if is(1, "set") => (2..args.len())
            .step_by(2)
            .filter(|&i| {
                ["requirepass", "masterauth", "masteruser"]
                    .iter()
                    .any(|s| is(i, s))
            })
            .map(|i| i + 1)
            .collect(),
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(args: &[&str]) -> Option<String> {
        let args: Vec<Bytes> = args.iter().map(|a| Bytes::from(a.to_string())).collect();
        let origin = Origin {
            db: 0,
            addr: Some(([127, 0, 0, 1], 60866).into()),
        };
        let spec = redynamo_layers::command::resolve(&args).ok()?;
        format_line(&origin, spec, &args, 1_339_518_083_107_412)
    }

    #[test]
    fn lines_as_redis_prints_them() {
        assert_eq!(
            line(&["keys", "*"]).as_deref(),
            Some("+1339518083.107412 [0 127.0.0.1:60866] \"keys\" \"*\"\r\n")
        );
        assert_eq!(
            line(&["SET", "k", "a\"b\n\x01"]).as_deref(),
            Some("+1339518083.107412 [0 127.0.0.1:60866] \"SET\" \"k\" \"a\\\"b\\n\\x01\"\r\n")
        );
        assert_eq!(line(&["config", "get", "*"]), None);
        assert!(line(&["auth", "u", "p"])
            .is_some_and(|l| l.ends_with("\"auth\" \"(redacted)\" \"(redacted)\"\r\n")));
        assert!(line(&["hello", "3", "AUTH", "u", "p"])
            .is_some_and(|l| l.ends_with("\"AUTH\" \"(redacted)\" \"(redacted)\"\r\n")));
    }
}
