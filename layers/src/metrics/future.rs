//! The response future of [`Metrics`](super::Metrics), and the recording
//! of a command that ended.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use super::slowlog::Capture;
use super::stats::CounterId;
use super::{timing, Outcome, RunTimer, Shared};
use crate::error::BoxError;
use crate::{ClientInfo, Reply};

/// What to record when a command that had to wait completes. Small (a few
/// words), as it is moved with the command's future; the slow log's copy
/// of the line lives in a recycled [`Capture`].
pub(crate) struct Record {
    pub(crate) counters: CounterId,
    /// None while the slow log is disabled, or for a command of a run.
    pub(crate) slow: Option<Box<Capture>>,
    /// A raw reading of `shared.clock`.
    pub(crate) start: u64,
    pub(crate) shared: Arc<Shared>,
    /// The client whose run the command ends, when its connection follows
    /// on ([`timing`]).
    pub(crate) client: Option<Arc<ClientInfo>>,
    /// A blocking command (BLPOP …) that had to wait: its time blocked is
    /// not work, so it never enters the slow log (Redis leaves the
    /// blocked time out of a command's duration).
    pub(crate) parked: Parked,
}

/// Whether a command may block, and whether it did.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Parked {
    /// Not a blocking command.
    No,
    /// A blocking command, not waiting (yet).
    May,
    /// A blocking command that waited.
    Waited,
}

impl Parked {
    /// What a command that has to wait becomes.
    pub(crate) fn waits(self) -> Parked {
        match self {
            Parked::No => Parked::No,
            Parked::May | Parked::Waited => Parked::Waited,
        }
    }
}

/// How a command ended, counting the error code of a failed one.
#[inline]
pub(crate) fn outcome(shared: &Shared, out: &Result<Reply, BoxError>) -> Outcome {
    match out {
        Ok(reply) if reply.is_error() => {
            shared.stats.count_error_of(Outcome::Error, Some(reply));
            Outcome::Error
        }
        Ok(_) => Outcome::Ok,
        Err(_) => {
            shared.stats.count_error_of(Outcome::Failure, None);
            Outcome::Failure
        }
    }
}

/// Record a command timed on its own, which started at the reading
/// `start` and ended with `out`: its outcome, its latency, and its slow
/// log entry if it was slow. `run` is its client's timer when the
/// connection follows on: the next command starts where this one ended.
#[inline]
pub(crate) fn settle(
    shared: &Shared,
    counters: CounterId,
    slow: Option<Box<Capture>>,
    start: u64,
    run: Option<&RunTimer>,
    parked: Parked,
    out: &Result<Reply, BoxError>,
) {
    let counters = shared.stats.counters(counters);
    counters.count(outcome(shared, out));
    let end = match run {
        Some(run) => run.end(shared),
        None => shared.clock.raw(),
    };
    let ns = timing::nanos(shared, start, end);
    counters.add_latency(ns);
    if parked != Parked::Waited && shared.slowlog.is_slow_ns(ns) {
        match &slow {
            Some(capture) => log_slow(shared, capture, ns),
            // A command of a run that waited: no line kept.
            None => shared.slowlog.push_stall(counters.name, ns),
        }
    }
    if let Some(capture) = slow {
        capture.recycle();
    }
}

/// The future of a command through [`Metrics`](super::Metrics): its reply
/// already, recorded, or the call still running with what to record when
/// it completes.
pub struct ResponseFuture<F> {
    state: State<F>,
}

enum State<F> {
    Ready(Option<Result<Reply, BoxError>>),
    Waiting { future: F, record: Option<Record> },
}

impl<F> ResponseFuture<F> {
    pub(crate) fn ready(out: Result<Reply, BoxError>) -> Self {
        ResponseFuture {
            state: State::Ready(Some(out)),
        }
    }

    pub(crate) fn waiting(future: F, record: Record) -> Self {
        ResponseFuture {
            state: State::Waiting {
                future,
                record: Some(record),
            },
        }
    }
}

impl<F, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Reply, E>> + Unpin,
    E: Into<BoxError>,
{
    type Output = Result<Reply, BoxError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let (future, record) = match &mut self.state {
            State::Ready(out) => {
                return Poll::Ready(
                    out.take()
                        .unwrap_or_else(|| Err("metrics future polled after completion".into())),
                )
            }
            State::Waiting { future, record } => (future, record),
        };
        let out = match Pin::new(future).poll(cx) {
            Poll::Ready(out) => out.map_err(Into::into),
            Poll::Pending => {
                if let Some(client) = record.as_ref().and_then(|r| r.client.as_ref()) {
                    // Still waiting: whatever the connection runs meanwhile
                    // does not follow on from it.
                    client.timing.end_run();
                }
                return Poll::Pending;
            }
        };
        if let Some(r) = record.take() {
            settle(
                &r.shared,
                r.counters,
                r.slow,
                r.start,
                r.client.as_ref().map(|c| &c.timing),
                r.parked,
                &out,
            );
        }
        Poll::Ready(out)
    }
}

#[cold]
fn log_slow(shared: &Shared, capture: &Capture, ns: u64) {
    let name = capture.named.as_ref().and_then(|c| c.name());
    shared.slowlog.push(
        capture.spec,
        &capture.args,
        Duration::from_nanos(ns),
        capture.addr,
        name,
    );
}
