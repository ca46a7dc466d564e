//! `SHUTDOWN [NOSAVE | SAVE] [NOW] [FORCE] [ABORT]`: the graceful drain
//! SIGTERM starts ([`ServerState::begin_shutdown`]), asked for by a client.
//!
//! As in Redis, the client that asks gets no reply when the shutdown
//! starts: its connection closes (after the replies to the commands before
//! SHUTDOWN are written), and the server stops accepting, drains and
//! exits. What the flags mean here:
//!
//! - `NOW` skips `--shutdown-delay-ms` (the /readyz wait for load
//!   balancers), as Redis' NOW skips its wait for lagging replicas.
//! - `ABORT` cancels a shutdown still in that delay, the one phase that can
//!   be cancelled (Redis: its replica wait); otherwise Redis' "No shutdown
//!   in progress.".
//! - `SAVE` asks for the data to be saved. On a durable backend (DynamoDB)
//!   every acknowledged write already is, so it is satisfied. The memory
//!   store has nowhere to save to: SHUTDOWN SAVE then fails the way
//!   Redis' does when its save fails ("Errors trying to SHUTDOWN. Check
//!   logs.", with a warning in the log) and the server keeps running,
//!   unless `FORCE` says to go on anyway. `NOSAVE` and no flag never save
//!   (Redis with no save points configured saves nothing either).

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use redynamo_layers::reply::errors;
use redynamo_layers::Reply;

use crate::server::state::ServerState;

/// A parsed SHUTDOWN.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Shutdown {
    save: bool,
    now: bool,
    force: bool,
    abort: bool,
}

/// What the connection does after SHUTDOWN.
#[derive(Debug, PartialEq)]
pub enum ShutdownOutcome {
    /// Answer this and go on serving (ABORT, an error).
    Reply(Reply),
    /// The shutdown has started: close the connection without a reply.
    Close,
}

impl Shutdown {
    /// Parsed as Redis' shutdownCommand reads it: any order, then the
    /// illegal combinations (ABORT with anything, SAVE with NOSAVE) are a
    /// syntax error.
    pub fn parse(args: &[Bytes]) -> Result<Shutdown, Reply> {
        let mut s = Shutdown::default();
        let mut nosave = false;
        for arg in &args[1..] {
            match arg.to_ascii_lowercase().as_slice() {
                b"nosave" => nosave = true,
                b"save" => s.save = true,
                b"now" => s.now = true,
                b"force" => s.force = true,
                b"abort" => s.abort = true,
                _ => return Err(errors::SYNTAX),
            }
        }
        let flags = nosave || s.save || s.now || s.force;
        if (s.abort && flags) || (nosave && s.save) {
            return Err(errors::SYNTAX);
        }
        Ok(s)
    }

    pub fn apply(self, state: &Arc<ServerState>) -> ShutdownOutcome {
        if self.abort {
            return ShutdownOutcome::Reply(if state.abort_shutdown() {
                tracing::warn!("shutdown aborted by SHUTDOWN ABORT");
                Reply::ok()
            } else {
                Reply::static_error("ERR No shutdown in progress.")
            });
        }
        if self.save && !state.durable {
            if self.force {
                tracing::warn!(
                    "SHUTDOWN SAVE FORCE: the {} backend cannot save its data; shutting down without saving",
                    state.backend_name
                );
            } else {
                tracing::warn!(
                    "SHUTDOWN SAVE refused: the {} backend cannot save its data (use SHUTDOWN NOSAVE, or add FORCE)",
                    state.backend_name
                );
                return ShutdownOutcome::Reply(Reply::static_error(
                    "ERR Errors trying to SHUTDOWN. Check logs.",
                ));
            }
        }
        tracing::info!("shutdown requested by SHUTDOWN");
        let delay = if self.now {
            Duration::ZERO
        } else {
            Duration::from_millis(state.config.shutdown_delay_ms)
        };
        let state = state.clone();
        tokio::spawn(async move {
            state.shutdown_after(delay).await;
        });
        ShutdownOutcome::Close
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(line: &str) -> Result<Shutdown, Reply> {
        let args: Vec<Bytes> = line
            .split(' ')
            .map(|w| Bytes::copy_from_slice(w.as_bytes()))
            .collect();
        Shutdown::parse(&args)
    }

    #[test]
    fn flags_and_their_illegal_combinations() {
        assert_eq!(parse("shutdown"), Ok(Shutdown::default()));
        let s = parse("SHUTDOWN save NOW force").unwrap();
        assert!(s.save && s.now && s.force && !s.abort);
        assert!(parse("shutdown abort").unwrap().abort);
        for bad in [
            "shutdown nosave save",
            "shutdown abort now",
            "shutdown abort nosave",
            "shutdown later",
        ] {
            assert_eq!(parse(bad), Err(errors::SYNTAX), "{bad}");
        }
    }
}
