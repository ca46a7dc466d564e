//! Infrastructure failures: the second error channel.
//!
//! What a Redis client should see as part of normal operation (`-WRONGTYPE`,
//! `-NOAUTH`) is an `Ok(Reply::Error)`. What travels as `Err` is a failure of
//! the machinery: a timeout, a shed request, an unreachable backend. One place
//! at the edge (the connection) turns these into `-ERR …` replies with
//! [`error_reply`], and the connection stays open.

use crate::Reply;

/// The error type of every service in the stack.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// A command did not finish within the configured time.
#[derive(Debug, thiserror::Error)]
#[error("command timed out after {millis} ms")]
pub struct TimedOut {
    pub millis: u64,
}

/// The server is at its concurrency limit and shed the request.
#[derive(Debug, thiserror::Error)]
#[error("server is overloaded, try again later")]
pub struct Overloaded;

/// The backend cannot be reached or refused the request.
#[derive(Debug, thiserror::Error)]
#[error("backend unavailable: {0}")]
pub struct BackendUnavailable(pub String);

/// A transient backend condition (throttling, conflict retries exhausted):
/// the client may retry. Sent as `-TRYAGAIN`.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct TryAgain(pub String);

/// Turn an infrastructure error into the reply the client sees.
pub fn error_reply(err: &BoxError) -> Reply {
    if let Some(e) = err.downcast_ref::<TryAgain>() {
        return Reply::error(format!("TRYAGAIN {e}"));
    }
    Reply::error(format!("ERR {err}"))
}
