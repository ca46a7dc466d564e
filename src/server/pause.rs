//! CLIENT PAUSE: while a pause is in force, every client's commands (mode
//! `ALL`) or its writes (mode `WRITE`: Redis' `write` and `may_replicate`
//! commands, and an EXEC with one queued) wait until it ends; nothing else
//! is held up, and a waiting client still goes when it leaves, is killed
//! or the server stops. As in Redis, the client that paused is paused too
//! (with `ALL`, its own CLIENT UNPAUSE waits for the end), a new pause
//! replaces the mode and keeps the later end, and CLIENT UNPAUSE ends it
//! for everyone at once.
//!
//! The connection asks [`ClientPause::holds`] before each command: one
//! relaxed load while no pause was ever set, so the common path pays
//! nothing.

use std::sync::atomic::{AtomicBool, Ordering};

use redynamo_layers::command::{CommandSpec, Flags};
use tokio::sync::watch;
use tokio::time::Instant;

/// Which commands a pause holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PauseMode {
    /// Writes (and commands that may replicate) only.
    Write,
    /// Every command.
    All,
}

#[derive(Clone, Copy, Debug)]
struct Pause {
    until: Instant,
    mode: PauseMode,
}

impl Pause {
    fn holds(&self, write: bool, now: Instant) -> bool {
        self.until > now && (self.mode == PauseMode::All || write)
    }
}

/// The server's pause (one per server, in `ServerState`).
#[derive(Debug)]
pub struct ClientPause {
    /// The pause set last, if any; waiters watch it for UNPAUSE and
    /// changes of mode or end.
    current: watch::Sender<Option<Pause>>,
    /// A pause may be in force. Only changed under `current`'s lock, so a
    /// new pause is never hidden by the clearing of an expired one.
    active: AtomicBool,
}

impl Default for ClientPause {
    fn default() -> Self {
        ClientPause {
            current: watch::Sender::new(None),
            active: AtomicBool::new(false),
        }
    }
}

/// Whether `spec`, with `queued` its EXEC's commands, counts as a write
/// for a `WRITE` pause (Redis' `is_may_replicate_command`).
pub fn is_write(
    spec: &CommandSpec,
    queued: impl IntoIterator<Item = &'static CommandSpec>,
) -> bool {
    let writes =
        |s: &CommandSpec| s.flags.contains(Flags::WRITE) || s.flags.contains(Flags::MAY_REPLICATE);
    writes(spec) || queued.into_iter().any(writes)
}

impl ClientPause {
    /// Pause until `until`: the mode is replaced, the later end kept.
    pub fn pause(&self, until: Instant, mode: PauseMode) {
        self.current.send_modify(|p| {
            let until = p.map_or(until, |p| p.until.max(until));
            *p = Some(Pause { until, mode });
            self.active.store(true, Ordering::Release);
        });
    }

    /// End the pause for everyone.
    pub fn unpause(&self) {
        self.current.send_modify(|p| {
            *p = None;
            self.active.store(false, Ordering::Release);
        });
    }

    /// Whether a pause could be in force (the cheap test for code that
    /// would otherwise batch commands past [`ClientPause::holds`]).
    pub fn is_active(&self) -> bool {
        self.active.load(Ordering::Acquire)
    }

    /// Whether a command (`write`: see [`is_write`]) must wait now.
    pub fn holds(&self, write: bool) -> bool {
        if !self.is_active() {
            return false;
        }
        let current = self.current.borrow();
        let now = Instant::now();
        match *current {
            Some(p) if p.until <= now => {
                // Expired: back to the fast path. Under the read lock, so
                // no new pause lands between the look and the store.
                self.active.store(false, Ordering::Release);
                false
            }
            Some(p) => p.holds(write, now),
            None => false,
        }
    }

    /// Wait until a command (`write`) may run.
    pub async fn wait(&self, write: bool) {
        let mut changes = self.current.subscribe();
        loop {
            let current = *changes.borrow_and_update();
            match current {
                Some(p) if p.holds(write, Instant::now()) => {
                    tokio::select! {
                        _ = tokio::time::sleep_until(p.until) => {}
                        changed = changes.changed() => if changed.is_err() { return },
                    }
                }
                _ => return,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test(start_paused = true)]
    async fn a_pause_holds_its_mode_until_its_end_or_unpause() {
        let pause = ClientPause::default();
        assert!(!pause.holds(true));
        let now = Instant::now();
        pause.pause(now + Duration::from_secs(10), PauseMode::Write);
        assert!(
            !pause.holds(false) && pause.holds(true),
            "a read leaves it on"
        );
        // A shorter ALL keeps the end and takes the mode.
        pause.pause(now + Duration::from_secs(1), PauseMode::All);
        assert!(pause.holds(false));
        pause.wait(false).await;
        assert_eq!(Instant::now(), now + Duration::from_secs(10));
        assert!(!pause.holds(true) && !pause.is_active());

        pause.pause(Instant::now() + Duration::from_secs(100), PauseMode::All);
        let start = Instant::now();
        let waiting = async { pause.wait(false).await };
        let unpausing = async {
            tokio::time::sleep(Duration::from_secs(3)).await;
            pause.unpause();
        };
        tokio::join!(waiting, unpausing);
        assert_eq!(Instant::now(), start + Duration::from_secs(3));
    }
}
