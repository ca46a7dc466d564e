//! SLOWLOG: the most recent commands that took longer than a threshold.

use std::borrow::Cow;
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;

use crate::command::CommandSpec;

/// Redis keeps at most 32 arguments of a slow command, each at most 128
/// bytes; the rest is summarised.
const MAX_ARGS: usize = 32;
const MAX_ARG_LEN: usize = 128;

/// Settings whose value `CONFIG SET` must never show: the slow log hides
/// it as `(redacted)`, as Redis does for its sensitive configs.
const SENSITIVE_SETTINGS: &[&[u8]] = &[b"requirepass", b"masterauth"];

const REDACTED: Bytes = Bytes::from_static(b"(redacted)");

/// `args` as the slow log may show them: secrets replaced by
/// `(redacted)`. Borrows (no copy) for every command but `CONFIG SET`.
pub fn redacted<'a>(spec: &CommandSpec, args: &'a [Bytes]) -> Cow<'a, [Bytes]> {
    if spec.name != "config|set" {
        return Cow::Borrowed(args);
    }
    let mut args = args.to_vec();
    // CONFIG SET name value [name value …]: names at 2, 4, …
    for i in (2..args.len().saturating_sub(1)).step_by(2) {
        if SENSITIVE_SETTINGS
            .iter()
            .any(|s| args[i].eq_ignore_ascii_case(s))
        {
            args[i + 1] = REDACTED;
        }
    }
    Cow::Owned(args)
}

/// Arguments [`KeptArgs`] copies inline, and how many bytes of them: room
/// for `SET` with a 16-byte key and a 64-byte value and an `EX` option,
/// the shape of most writes (and of the load benchmark's).
const INLINE_ARGS: usize = 6;
const INLINE_BYTES: usize = 112;

/// A command's arguments, kept while it runs in case it turns out slow.
///
/// A short line (`GET key`, `SET key value` with a small value, `INCR key`
/// …) is copied into an inline buffer: no allocation and no reference
/// counts to bump and drop, which matters because every command pays it
/// and almost none turns out slow. Longer lines keep their `Bytes`.
pub struct KeptArgs(Kept);

enum Kept {
    Inline {
        count: u8,
        lens: [u8; INLINE_ARGS],
        bytes: [u8; INLINE_BYTES],
    },
    Shared(Vec<Bytes>),
}

impl KeptArgs {
    pub fn new(args: &[Bytes]) -> KeptArgs {
        let total: usize = args.iter().map(Bytes::len).sum();
        if args.len() > INLINE_ARGS || total > INLINE_BYTES {
            return KeptArgs(Kept::Shared(args.to_vec()));
        }
        let mut lens = [0u8; INLINE_ARGS];
        let mut bytes = [0u8; INLINE_BYTES];
        let mut at = 0;
        for (len, arg) in lens.iter_mut().zip(args) {
            // Fits in u8: the total is at most INLINE_BYTES.
            *len = arg.len() as u8;
            bytes[at..at + arg.len()].copy_from_slice(arg);
            at += arg.len();
        }
        KeptArgs(Kept::Inline {
            count: args.len() as u8,
            lens,
            bytes,
        })
    }

    /// The arguments, for the slow log (only ever called for a slow one).
    pub fn to_vec(&self) -> Vec<Bytes> {
        match &self.0 {
            Kept::Inline { count, lens, bytes } => {
                let mut at = 0;
                lens[..*count as usize]
                    .iter()
                    .map(|&len| {
                        let arg = Bytes::copy_from_slice(&bytes[at..at + len as usize]);
                        at += len as usize;
                        arg
                    })
                    .collect()
            }
            Kept::Shared(args) => args.clone(),
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct SlowEntry {
    pub id: u64,
    pub unix_secs: u64,
    pub micros: u64,
    pub args: Vec<Bytes>,
    pub addr: Option<SocketAddr>,
    pub name: Option<Bytes>,
}

#[derive(Debug)]
pub struct SlowLog {
    /// Microseconds; negative disables, 0 logs every command.
    threshold_us: AtomicI64,
    max_len: AtomicUsize,
    next_id: AtomicU64,
    entries: Mutex<VecDeque<SlowEntry>>,
}

impl SlowLog {
    pub fn new(threshold_us: i64, max_len: usize) -> SlowLog {
        SlowLog {
            threshold_us: AtomicI64::new(threshold_us),
            max_len: AtomicUsize::new(max_len),
            next_id: AtomicU64::new(0),
            entries: Mutex::new(VecDeque::new()),
        }
    }

    pub fn threshold_us(&self) -> i64 {
        self.threshold_us.load(Ordering::Relaxed)
    }

    pub fn set_threshold_us(&self, us: i64) {
        self.threshold_us.store(us, Ordering::Relaxed);
    }

    pub fn max_len(&self) -> usize {
        self.max_len.load(Ordering::Relaxed)
    }

    pub fn set_max_len(&self, len: usize) {
        self.max_len.store(len, Ordering::Relaxed);
        if let Ok(mut e) = self.entries.lock() {
            e.truncate(len);
        }
    }

    /// Whether a command that took `elapsed` belongs in the log.
    pub fn is_slow(&self, elapsed: Duration) -> bool {
        let t = self.threshold_us();
        t >= 0 && elapsed.as_micros() as i64 >= t
    }

    /// Log a command (the caller checked [`SlowLog::is_slow`]).
    pub fn push(
        &self,
        args: &[Bytes],
        elapsed: Duration,
        addr: Option<SocketAddr>,
        name: Option<Bytes>,
    ) {
        let max_len = self.max_len();
        if max_len == 0 {
            return;
        }
        let mut kept: Vec<Bytes> = args
            .iter()
            .take(if args.len() > MAX_ARGS {
                MAX_ARGS - 1
            } else {
                MAX_ARGS
            })
            .map(|a| {
                if a.len() > MAX_ARG_LEN {
                    let mut s = a.slice(..MAX_ARG_LEN).to_vec();
                    s.extend_from_slice(
                        format!("... ({} more bytes)", a.len() - MAX_ARG_LEN).as_bytes(),
                    );
                    Bytes::from(s)
                } else {
                    a.clone()
                }
            })
            .collect();
        if args.len() > MAX_ARGS {
            kept.push(Bytes::from(format!(
                "... ({} more arguments)",
                args.len() - MAX_ARGS + 1
            )));
        }
        let entry = SlowEntry {
            id: self.next_id.fetch_add(1, Ordering::Relaxed),
            unix_secs: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0),
            micros: elapsed.as_micros() as u64,
            args: kept,
            addr,
            name,
        };
        if let Ok(mut e) = self.entries.lock() {
            e.push_front(entry);
            e.truncate(max_len);
        }
    }

    /// The newest `count` entries, newest first.
    pub fn get(&self, count: usize) -> Vec<SlowEntry> {
        self.entries
            .lock()
            .map(|e| e.iter().take(count).cloned().collect())
            .unwrap_or_default()
    }

    pub fn len(&self) -> usize {
        self.entries.lock().map(|e| e.len()).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn reset(&self) {
        if let Ok(mut e) = self.entries.lock() {
            e.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_newest_and_truncates_arguments() {
        let log = SlowLog::new(0, 2);
        for i in 0..3 {
            log.push(
                &[Bytes::from(format!("cmd{i}"))],
                Duration::from_micros(5),
                None,
                None,
            );
        }
        let got = log.get(10);
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].args[0], Bytes::from("cmd2"));
        assert_eq!(got[0].id, 2);
        let long: Vec<Bytes> = (0..40).map(|i| Bytes::from(format!("{i}"))).collect();
        log.push(&long, Duration::from_micros(5), None, None);
        let e = &log.get(1)[0];
        assert_eq!(e.args.len(), 32);
        assert_eq!(e.args[31], Bytes::from("... (9 more arguments)"));
        assert!(!log.is_slow(Duration::from_micros(1)) || log.threshold_us() <= 1);
        log.set_threshold_us(-1);
        assert!(!log.is_slow(Duration::from_secs(10)));
    }

    #[test]
    fn kept_args_round_trip_inline_and_shared() {
        for n in 0..INLINE_ARGS + 3 {
            let args: Vec<Bytes> = (0..n).map(|i| Bytes::from(format!("a{i}"))).collect();
            assert_eq!(KeptArgs::new(&args).to_vec(), args);
        }
        let exact = [
            Bytes::from("x".repeat(INLINE_BYTES - 4)),
            Bytes::from("abcd"),
        ];
        assert!(matches!(KeptArgs::new(&exact).0, Kept::Inline { .. }));
        assert_eq!(KeptArgs::new(&exact).to_vec(), exact);
        let long = [
            Bytes::from("x".repeat(INLINE_BYTES - 3)),
            Bytes::from("abcd"),
        ];
        assert!(matches!(KeptArgs::new(&long).0, Kept::Shared(_)));
        assert_eq!(KeptArgs::new(&long).to_vec(), long);
        let empty = [Bytes::new(), Bytes::from("k")];
        assert_eq!(KeptArgs::new(&empty).to_vec(), empty);
    }

    #[test]
    fn hides_secrets_of_config_set_only() {
        let args = |parts: &[&'static str]| -> Vec<Bytes> {
            parts
                .iter()
                .map(|p| Bytes::from_static(p.as_bytes()))
                .collect()
        };
        let config = crate::command::lookup(b"config").expect("config");
        let set = config.subcommand(b"set").expect("config|set");
        let line = args(&["CONFIG", "SET", "maxclients", "10", "RequirePass", "pw"]);
        assert_eq!(
            &*redacted(set, &line),
            &args(&[
                "CONFIG",
                "SET",
                "maxclients",
                "10",
                "RequirePass",
                "(redacted)"
            ])[..]
        );
        // An odd tail (a wrong-arity line) has no value to hide.
        let odd = args(&["CONFIG", "SET", "requirepass"]);
        assert_eq!(&*redacted(set, &odd), &odd[..]);
        let get = crate::command::lookup(b"get").expect("get");
        let plain = args(&["GET", "requirepass"]);
        assert!(matches!(redacted(get, &plain), Cow::Borrowed(_)));
    }
}
