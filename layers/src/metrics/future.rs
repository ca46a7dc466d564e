//! The response future of [`Metrics`](super::Metrics).

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use pin_project_lite::pin_project;

use super::slowlog::Capture;
use super::{timing, CommandCounters, Outcome, Shared};
use crate::error::BoxError;
use crate::Reply;

/// What to record when the inner future completes. Small (a few words), as
/// it is moved with every command's future; the slow log's copy of the
/// line lives in a recycled [`Capture`].
pub(crate) struct Record {
    pub(crate) counters: &'static CommandCounters,
    /// None while the slow log is disabled.
    pub(crate) slow: Option<Box<Capture>>,
    /// The client's id, which owns the reading that ends the command.
    pub(crate) client: u64,
    /// A raw reading of `shared.clock`, or [`IN_RUN`].
    pub(crate) start: u64,
    pub(crate) shared: &'static Shared,
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

/// A [`Record::start`] that means: the command joined its client's run and
/// is timed with the run's segment ([`timing`]). Never a reading.
pub(crate) const IN_RUN: u64 = 0;

pin_project! {
    pub struct ResponseFuture<F> {
        #[pin]
        future: F,
        record: Option<Record>,
    }
}

impl<F> ResponseFuture<F> {
    pub(crate) fn new(future: F, record: Record) -> Self {
        ResponseFuture {
            future,
            record: Some(record),
        }
    }
}

impl<F, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Reply, E>>,
    E: Into<BoxError>,
{
    type Output = Result<Reply, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let out = match this.future.poll(cx) {
            Poll::Ready(out) => out.map_err(Into::into),
            Poll::Pending => {
                if let Some(r) = this.record.as_mut() {
                    if r.parked == Parked::May {
                        r.parked = Parked::Waited;
                    }
                    if r.start == IN_RUN {
                        // It joined its client's run but has to wait after
                        // all: timed on its own from here.
                        r.start = timing::joined_waits(r.shared);
                    } else if r.shared.chained {
                        // This command waits: whatever runs next on this
                        // thread does not follow on from it.
                        timing::end_run();
                    }
                }
                return Poll::Pending;
            }
        };
        if let Some(r) = this.record.take() {
            let shared = r.shared;
            let outcome = match &out {
                Ok(reply) if reply.is_error() => {
                    shared.stats.count_error_of(Outcome::Error, Some(reply));
                    Outcome::Error
                }
                Ok(_) => Outcome::Ok,
                Err(_) => {
                    shared.stats.count_error_of(Outcome::Failure, None);
                    Outcome::Failure
                }
            };
            r.counters.count(outcome);
            if r.start == IN_RUN {
                timing::joined_ended(shared, r.client, r.counters);
            } else {
                let ns = timing::nanos(shared, r.start, timing::end(shared, r.client));
                r.counters.add_latency(ns);
                if r.parked != Parked::Waited && shared.slowlog.is_slow_ns(ns) {
                    match &r.slow {
                        Some(capture) => log_slow(shared, capture, ns),
                        // A command of a run that waited: no line kept.
                        None => shared.slowlog.push_stall(r.counters.name, ns),
                    }
                }
            }
            if let Some(capture) = r.slow {
                capture.recycle();
            }
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
