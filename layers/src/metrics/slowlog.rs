//! SLOWLOG: the most recent commands that took longer than a threshold.

use std::cell::Cell;
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;

use crate::command::CommandSpec;
use crate::{ClientInfo, Request};

/// Redis keeps at most 32 arguments of a slow command, each at most 128
/// bytes; the rest is summarised.
const MAX_ARGS: usize = 32;
const MAX_ARG_LEN: usize = 128;

/// Settings whose value `CONFIG SET` must never show: the slow log hides
/// it as `(redacted)`, as Redis does for its sensitive configs.
const SENSITIVE_SETTINGS: &[&[u8]] = &[b"requirepass", b"masterauth"];

const REDACTED: Bytes = Bytes::from_static(b"(redacted)");

/// What the slow log keeps of a command line, taken before the command
/// runs in case it turns out slow: the first 32 arguments (31 and a count
/// when there are more), each cut to its first 128 bytes, with their full
/// lengths — exactly what an entry shows, so a long value is never copied
/// whole.
///
/// A `KeptArgs` is refilled rather than rebuilt: the metrics layer keeps
/// one spare per thread ([`Capture`]), so keeping a line costs a copy of
/// its (shown) bytes and, once the buffers have grown, no allocation.
#[derive(Clone, Debug)]
pub struct KeptArgs {
    /// The kept prefix of each argument, back to back: room for the most
    /// an entry shows, so filling never allocates or grows.
    bytes: Box<[u8; KEPT_BYTES]>,
    /// Per kept argument: the bytes kept and the argument's full length.
    lens: [(u32, u32); MAX_ARGS],
    /// Arguments kept (`lens[..kept]`).
    kept: usize,
    /// Arguments in the line.
    count: usize,
}

/// The most bytes an entry shows: 32 arguments of 128 bytes.
const KEPT_BYTES: usize = MAX_ARGS * MAX_ARG_LEN;

/// `dst.copy_from_slice(src)`, with the short lengths most arguments have
/// (a command name, a key) copied by two overlapping fixed-size moves
/// instead of a call to `memcpy`, which costs more than the copy itself.
#[inline(always)]
fn copy_short(dst: &mut [u8], src: &[u8]) {
    let n = src.len();
    if (8..=16).contains(&n) {
        dst[..8].copy_from_slice(&src[..8]);
        dst[n - 8..].copy_from_slice(&src[n - 8..]);
    } else if (4..8).contains(&n) {
        dst[..4].copy_from_slice(&src[..4]);
        dst[n - 4..].copy_from_slice(&src[n - 4..]);
    } else if n < 4 {
        for (d, s) in dst.iter_mut().zip(src) {
            *d = *s;
        }
    } else {
        dst.copy_from_slice(src);
    }
}

impl Default for KeptArgs {
    fn default() -> KeptArgs {
        let bytes: Box<[u8]> = vec![0; KEPT_BYTES].into_boxed_slice();
        KeptArgs {
            bytes: bytes
                .try_into()
                .unwrap_or_else(|_| unreachable!("KEPT_BYTES long")),
            lens: [(0, 0); MAX_ARGS],
            kept: 0,
            count: 0,
        }
    }
}

impl KeptArgs {
    pub fn new(args: &[Bytes]) -> KeptArgs {
        let mut kept = KeptArgs::default();
        kept.fill(args);
        kept
    }

    /// Keep `args` in place of what was kept before.
    #[inline]
    pub fn fill(&mut self, args: &[Bytes]) {
        self.count = args.len();
        let keep = if args.len() > MAX_ARGS {
            MAX_ARGS - 1
        } else {
            args.len()
        };
        let mut at = 0;
        for (slot, arg) in self.lens.iter_mut().zip(&args[..keep]) {
            let n = arg.len().min(MAX_ARG_LEN);
            // At most MAX_ARGS prefixes of at most MAX_ARG_LEN bytes: in
            // bounds.
            copy_short(&mut self.bytes[at..at + n], &arg[..n]);
            at += n;
            // An argument is at most `proto-max-bulk-len` (≤ 4 GiB) long.
            *slot = (n as u32, u32::try_from(arg.len()).unwrap_or(u32::MAX));
        }
        self.kept = keep;
    }

    /// The kept arguments: each one's shown prefix and full length.
    fn kept(&self) -> impl Iterator<Item = (&[u8], u32)> + '_ {
        let mut at = 0;
        self.lens[..self.kept].iter().map(move |&(n, full)| {
            let prefix = &self.bytes[at..at + n as usize];
            at += n as usize;
            (prefix, full)
        })
    }

    /// The arguments as a SLOWLOG entry shows them: cut ones end with
    /// `... (N more bytes)`, a line of more than 32 with
    /// `... (N more arguments)`, and the values of sensitive settings in
    /// `CONFIG SET`, ACL SETUSER's rules and AUTH's password read
    /// `(redacted)`, as Redis shows them.
    pub fn entry_args(&self, spec: &CommandSpec) -> Vec<Bytes> {
        let mut out = Vec::with_capacity(self.kept + 1);
        for (prefix, full) in self.kept() {
            out.push(if (prefix.len() as u32) < full {
                let mut s = prefix.to_vec();
                s.extend_from_slice(
                    format!("... ({} more bytes)", full - prefix.len() as u32).as_bytes(),
                );
                Bytes::from(s)
            } else {
                Bytes::copy_from_slice(prefix)
            });
        }
        if spec.name == "config|set" {
            // CONFIG SET name value [name value …]: names at 2, 4, …
            for i in (2..out.len().saturating_sub(1)).step_by(2) {
                let full = self.lens[i].1 as usize;
                if SENSITIVE_SETTINGS
                    .iter()
                    .any(|s| s.len() == full && out[i].eq_ignore_ascii_case(s))
                {
                    out[i + 1] = REDACTED;
                }
            }
        }
        // ACL SETUSER's rules and AUTH's password (Redis'
        // redactClientCommandArgument): never in the log.
        let from = match spec.name {
            "acl|setuser" => 2,
            "auth" => 1,
            _ => usize::MAX,
        };
        for arg in out.iter_mut().skip(from) {
            *arg = REDACTED;
        }
        if self.count > MAX_ARGS {
            out.push(Bytes::from(format!(
                "... ({} more arguments)",
                self.count - MAX_ARGS + 1
            )));
        }
        out
    }
}

/// What the metrics layer keeps of a command while it runs, for the slow
/// log. Recycled: each thread keeps one spare, so the common case (one
/// command at a time per thread) allocates nothing; a command that
/// finishes on another thread than it started leaves its capture there.
pub(crate) struct Capture {
    pub(crate) spec: &'static CommandSpec,
    pub(crate) args: KeptArgs,
    pub(crate) addr: Option<SocketAddr>,
    /// Only for a client with a name, which is read when the entry is
    /// logged; an unnamed client costs no reference count.
    pub(crate) named: Option<Arc<ClientInfo>>,
}

// A pure cache: a spare allocation, holding nothing of any command once
// recycled, that no caller has to keep right (a thread without one
// allocates). Command timing state lives in the client's `RunTimer`.
thread_local! {
    static SPARE: Cell<Option<Box<Capture>>> = const { Cell::new(None) };
}

impl Capture {
    /// Keep what the slow log would need of `req`.
    #[inline]
    pub(crate) fn of(req: &Request) -> Box<Capture> {
        let addr = req.client.addr;
        let named = req.client.is_named().then(|| req.client.clone());
        match SPARE.take() {
            Some(mut capture) => {
                capture.spec = req.command.spec;
                capture.args.fill(&req.command.args);
                capture.addr = addr;
                capture.named = named;
                capture
            }
            None => Box::new(Capture {
                spec: req.command.spec,
                args: KeptArgs::new(&req.command.args),
                addr,
                named,
            }),
        }
    }

    /// Give the capture back for the next command of this thread. What it
    /// holds is bounded (32 × 128 bytes), so it is always worth keeping.
    #[inline]
    pub(crate) fn recycle(mut self: Box<Self>) {
        self.named = None;
        SPARE.set(Some(self));
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
        self.is_slow_ns(u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX))
    }

    /// Whether a command that took `ns` nanoseconds belongs in the log.
    pub fn is_slow_ns(&self, ns: u64) -> bool {
        let t = self.threshold_us();
        t >= 0 && ns / 1000 >= t as u64
    }

    /// Log a command (the caller checked [`SlowLog::is_slow_ns`]).
    pub fn push(
        &self,
        spec: &CommandSpec,
        args: &KeptArgs,
        elapsed: Duration,
        addr: Option<SocketAddr>,
        name: Option<Bytes>,
    ) {
        if self.max_len() > 0 {
            let micros = elapsed.as_micros() as u64;
            self.insert(args.entry_args(spec), micros, addr, name);
        }
    }

    /// Log a stall charged to a command whose line was not kept (see
    /// `timing`): the entry shows its name only.
    #[cold]
    pub fn push_stall(&self, name: &str, ns: u64) {
        let args = vec![Bytes::copy_from_slice(name.as_bytes())];
        self.insert(args, ns / 1000, None, None);
    }

    fn insert(&self, args: Vec<Bytes>, micros: u64, addr: Option<SocketAddr>, name: Option<Bytes>) {
        let max_len = self.max_len();
        if max_len == 0 {
            return;
        }
        let entry = SlowEntry {
            id: self.next_id.fetch_add(1, Ordering::Relaxed),
            unix_secs: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0),
            micros,
            args,
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

    fn spec(name: &[u8]) -> &'static CommandSpec {
        crate::command::lookup(name).expect("in the table")
    }

    fn line(parts: &[&str]) -> Vec<Bytes> {
        parts.iter().map(|p| Bytes::from(p.to_string())).collect()
    }

    #[test]
    fn keeps_newest_and_truncates_arguments() {
        let log = SlowLog::new(0, 2);
        let get = spec(b"get");
        for i in 0..3 {
            let args = KeptArgs::new(&line(&[&format!("cmd{i}")]));
            log.push(get, &args, Duration::from_micros(5), None, None);
        }
        let got = log.get(10);
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].args[0], Bytes::from("cmd2"));
        assert_eq!(got[0].id, 2);
        let long: Vec<Bytes> = (0..40).map(|i| Bytes::from(format!("{i}"))).collect();
        log.push(
            get,
            &KeptArgs::new(&long),
            Duration::from_micros(5),
            None,
            None,
        );
        let e = &log.get(1)[0];
        assert_eq!(e.args.len(), 32);
        assert_eq!(e.args[30], Bytes::from("30"));
        assert_eq!(e.args[31], Bytes::from("... (9 more arguments)"));
        assert!(log.is_slow(Duration::from_micros(1)));
        assert!(log.is_slow_ns(0));
        log.set_threshold_us(-1);
        assert!(!log.is_slow(Duration::from_secs(10)));
        assert!(!log.is_slow_ns(u64::MAX));
        log.set_threshold_us(10);
        assert!(!log.is_slow_ns(9_999));
        assert!(log.is_slow_ns(10_000));
    }

    #[test]
    fn kept_args_show_what_an_entry_shows_and_are_refilled_in_place() {
        let get = spec(b"get");
        for n in 0..=MAX_ARGS {
            let args: Vec<Bytes> = (0..n).map(|i| Bytes::from(format!("a{i}"))).collect();
            assert_eq!(KeptArgs::new(&args).entry_args(get), args);
        }
        let long = line(&[
            "SET",
            "k",
            &"x".repeat(MAX_ARG_LEN + 5),
            &"y".repeat(MAX_ARG_LEN),
        ]);
        let mut kept = KeptArgs::new(&long);
        let shown = kept.entry_args(get);
        assert_eq!(
            shown[2],
            Bytes::from(format!("{}... (5 more bytes)", "x".repeat(MAX_ARG_LEN)))
        );
        assert_eq!(shown[3], long[3]);
        // Only the shown prefix is kept.
        let kept_len: usize = kept.kept().map(|(p, _)| p.len()).sum();
        assert_eq!(kept_len, 3 + 1 + 2 * MAX_ARG_LEN);
        // Refilled with a shorter line: nothing of the old one shows.
        kept.fill(&line(&["GET", "", "k"]));
        assert_eq!(kept.entry_args(get), line(&["GET", "", "k"]));
        kept.fill(&[]);
        assert!(kept.entry_args(get).is_empty());
    }

    #[test]
    fn short_copies_keep_every_byte_at_every_length() {
        let get = spec(b"get");
        for len in 0..=MAX_ARG_LEN + 1 {
            let arg: Vec<u8> = (0..len).map(|i| (i * 7 + 1) as u8).collect();
            let args = vec![
                Bytes::from_static(b"x"),
                Bytes::from(arg.clone()),
                Bytes::from("y"),
            ];
            let shown = KeptArgs::new(&args).entry_args(get);
            assert_eq!(shown[0], args[0]);
            if len <= MAX_ARG_LEN {
                assert_eq!(shown[1], Bytes::from(arg), "length {len}");
            } else {
                assert!(shown[1].starts_with(&arg[..MAX_ARG_LEN]), "length {len}");
            }
            assert_eq!(shown[2], args[2]);
        }
    }

    #[test]
    fn hides_secrets_of_config_set_only() {
        let config = spec(b"config");
        let set = config.subcommand(b"set").expect("config|set");
        let shown = |spec, parts: &[&str]| KeptArgs::new(&line(parts)).entry_args(spec);
        assert_eq!(
            shown(
                set,
                &["CONFIG", "SET", "maxclients", "10", "RequirePass", "pw"]
            ),
            line(&[
                "CONFIG",
                "SET",
                "maxclients",
                "10",
                "RequirePass",
                "(redacted)"
            ])
        );
        assert_eq!(
            shown(set, &["CONFIG", "SET", "masterauth", "pw"]),
            line(&["CONFIG", "SET", "masterauth", "(redacted)"])
        );
        // An odd tail (a wrong-arity line) has no value to hide.
        assert_eq!(
            shown(set, &["CONFIG", "SET", "requirepass"]),
            line(&["CONFIG", "SET", "requirepass"])
        );
        // A value is not a name; other commands show everything.
        assert_eq!(
            shown(set, &["CONFIG", "SET", "maxclients", "requirepass", "x"]),
            line(&["CONFIG", "SET", "maxclients", "requirepass", "x"])
        );
        assert_eq!(
            shown(spec(b"get"), &["GET", "requirepass", "x"]),
            line(&["GET", "requirepass", "x"])
        );
    }
}
