//! Whether a script is running, for the clients that must not wait for it.
//!
//! A script holds its store for as long as it runs (that is what makes it
//! atomic). Past `busy-reply-threshold` milliseconds, other clients get
//! `-BUSY` instead of waiting, and SCRIPT KILL / FUNCTION KILL may stop it.
//! Everything here is atomics, read without the store's lock: the
//! connection checks [`ScriptStatus::busy_reply`] before every command,
//! the store checks it while its lock is held by a script, and the Lua
//! hook of the running script ([`ScriptStatus::tick`]) marks it busy and
//! reads kill requests.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Instant;

use redynamo_layers::Reply;

/// `-BUSY` for a running EVAL script.
pub const BUSY_SCRIPT: Reply = Reply::static_error(
    "BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.",
);
/// `-BUSY` for a running function.
pub const BUSY_FUNCTION: Reply = Reply::static_error(
    "BUSY Redis is busy running a script. You can only call FUNCTION KILL or SHUTDOWN NOSAVE.",
);

/// The shared state of the one script a store runs at a time.
#[derive(Debug)]
pub struct ScriptStatus {
    /// A script runs now.
    running: AtomicBool,
    /// It runs a function (FCALL), not an EVAL script.
    function: AtomicBool,
    /// It has run past the threshold: other clients get `-BUSY`.
    busy: AtomicBool,
    /// SCRIPT KILL or FUNCTION KILL asked it to stop.
    kill: AtomicBool,
    /// It has called a write command (it can no longer be killed).
    wrote: AtomicBool,
    /// Its runtime thread has been handed over ([`ScriptStatus::hand_off`]).
    handed_off: AtomicBool,
    /// Milliseconds since `epoch` when it started.
    started_ms: AtomicU64,
    /// `busy-reply-threshold` (`lua-time-limit`), milliseconds; 0: never busy.
    threshold_ms: AtomicU64,
    /// While a library's code runs for FUNCTION LOAD: when it must stop
    /// (milliseconds since `epoch`); 0 otherwise.
    load_deadline_ms: AtomicU64,
    epoch: Instant,
}

impl Default for ScriptStatus {
    fn default() -> Self {
        ScriptStatus::new(5000)
    }
}

/// What SCRIPT KILL / FUNCTION KILL asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KillKind {
    Script,
    Function,
}

impl ScriptStatus {
    pub fn new(threshold_ms: u64) -> ScriptStatus {
        ScriptStatus {
            running: AtomicBool::new(false),
            function: AtomicBool::new(false),
            busy: AtomicBool::new(false),
            kill: AtomicBool::new(false),
            wrote: AtomicBool::new(false),
            handed_off: AtomicBool::new(false),
            started_ms: AtomicU64::new(0),
            threshold_ms: AtomicU64::new(threshold_ms),
            load_deadline_ms: AtomicU64::new(0),
            epoch: Instant::now(),
        }
    }

    fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    pub fn threshold_ms(&self) -> u64 {
        self.threshold_ms.load(Ordering::Relaxed)
    }

    pub fn set_threshold_ms(&self, ms: u64) {
        self.threshold_ms.store(ms, Ordering::Relaxed);
    }

    /// A script starts (under the store's lock).
    pub(crate) fn start(&self, function: bool) {
        self.function.store(function, Ordering::Relaxed);
        self.busy.store(false, Ordering::Relaxed);
        self.kill.store(false, Ordering::Relaxed);
        self.wrote.store(false, Ordering::Relaxed);
        self.handed_off.store(false, Ordering::Relaxed);
        self.started_ms.store(self.now_ms(), Ordering::Relaxed);
        self.running.store(true, Ordering::Release);
    }

    /// The script is over.
    pub(crate) fn finish(&self) {
        self.running.store(false, Ordering::Release);
        self.busy.store(false, Ordering::Release);
        self.kill.store(false, Ordering::Relaxed);
    }

    /// The script called a write command.
    pub(crate) fn mark_wrote(&self) {
        self.wrote.store(true, Ordering::Relaxed);
    }

    pub fn is_running(&self) -> bool {
        self.running.load(Ordering::Acquire)
    }

    /// FUNCTION LOAD runs a library's code, for at most `timeout_ms`.
    pub(crate) fn begin_load(&self, timeout_ms: u64) {
        self.load_deadline_ms
            .store(self.now_ms() + timeout_ms.max(1), Ordering::Relaxed);
    }

    pub(crate) fn end_load(&self) {
        self.load_deadline_ms.store(0, Ordering::Relaxed);
    }

    /// From the Lua hook: why the code running now must stop, if it must.
    pub(crate) fn interrupt(&self) -> Option<&'static str> {
        let deadline = self.load_deadline_ms.load(Ordering::Relaxed);
        if deadline != 0 {
            return (self.now_ms() > deadline).then_some("FUNCTION LOAD timeout");
        }
        if !self.is_running() {
            return None;
        }
        self.tick()
            .then_some("Script killed by user with SCRIPT KILL...")
    }

    /// From the Lua hook: once a script has run for a millisecond, give its
    /// runtime worker's other tasks (and the I/O driver, which tokio may
    /// have left with this worker) to a new thread, and go on running the
    /// script here as a blocking section (`tokio::task::block_in_place`).
    /// Without it, a script holding a worker can leave every other
    /// connection unread until it ends, so nobody would ever see `-BUSY`.
    /// Short scripts never pay for it. A current-thread runtime (the
    /// in-process tests) has no other thread to hand over to.
    pub(crate) fn hand_off(&self) {
        if !self.is_running() || self.handed_off.load(Ordering::Relaxed) {
            return;
        }
        let ran = self
            .now_ms()
            .saturating_sub(self.started_ms.load(Ordering::Relaxed));
        if ran < 1 {
            return;
        }
        self.handed_off.store(true, Ordering::Relaxed);
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            if handle.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread {
                tokio::task::block_in_place(|| {});
            }
        }
    }

    /// From the running script's hook: marks it busy once past the
    /// threshold; true when it must stop (a kill was asked for).
    pub(crate) fn tick(&self) -> bool {
        if !self.busy.load(Ordering::Relaxed) {
            let threshold = self.threshold_ms();
            let ran = self
                .now_ms()
                .saturating_sub(self.started_ms.load(Ordering::Relaxed));
            if threshold > 0 && ran >= threshold {
                tracing::warn!(
                    ran_ms = ran,
                    "a script has run past busy-reply-threshold; other clients get -BUSY"
                );
                self.busy.store(true, Ordering::Release);
            }
        }
        self.kill.load(Ordering::Acquire)
    }

    /// The `-BUSY` reply other clients get now, if a script is busy.
    pub fn busy_reply(&self) -> Option<Reply> {
        if !self.busy.load(Ordering::Acquire) {
            return None;
        }
        Some(if self.function.load(Ordering::Relaxed) {
            BUSY_FUNCTION
        } else {
            BUSY_SCRIPT
        })
    }

    /// SCRIPT KILL (`Script`) or FUNCTION KILL (`Function`), as Redis'
    /// `scriptKill` answers.
    pub fn kill(&self, kind: KillKind) -> Reply {
        if !self.is_running() {
            return Reply::static_error("NOTBUSY No scripts in execution right now.");
        }
        if self.wrote.load(Ordering::Relaxed) {
            return Reply::static_error(
                "UNKILLABLE Sorry the script already executed write commands against the dataset. You can either wait the script termination or kill the server in a hard way using the SHUTDOWN NOSAVE command.",
            );
        }
        let function = self.function.load(Ordering::Relaxed);
        match (kind, function) {
            (KillKind::Script, true) => return BUSY_FUNCTION,
            (KillKind::Function, false) => return BUSY_SCRIPT,
            _ => {}
        }
        self.kill.store(true, Ordering::Release);
        Reply::ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn busy_only_past_the_threshold_and_kill_only_when_running() {
        let mut s = ScriptStatus::new(0);
        // The clock: the store began 10 ms ago, the script at its start.
        s.epoch -= std::time::Duration::from_millis(10);
        assert_eq!(
            s.kill(KillKind::Script),
            Reply::static_error("NOTBUSY No scripts in execution right now.")
        );
        s.start(false);
        assert!(!s.tick());
        // A threshold of 0 never makes a script busy.
        assert_eq!(s.busy_reply(), None);
        s.set_threshold_ms(1);
        s.started_ms.store(0, Ordering::Relaxed);
        s.tick();
        assert_eq!(s.busy_reply(), Some(BUSY_SCRIPT));
        assert_eq!(s.kill(KillKind::Function), BUSY_SCRIPT);
        assert_eq!(s.kill(KillKind::Script), Reply::ok());
        assert!(s.tick());
        s.finish();
        assert_eq!(s.busy_reply(), None);
        s.start(true);
        s.mark_wrote();
        assert!(s.kill(KillKind::Function).error_code() == Some("UNKILLABLE"));
    }
}
