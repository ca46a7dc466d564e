//! The response future of [`Metrics`](super::Metrics).

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use pin_project_lite::pin_project;

use super::{KeptArgs, Outcome, Shared};
use crate::command::CommandSpec;
use crate::error::BoxError;
use crate::{ClientInfo, Reply};

/// What the slow log needs if the command turns out slow.
pub(crate) struct SlowCandidate {
    pub(crate) args: KeptArgs,
    pub(crate) addr: Option<SocketAddr>,
    /// Only for a client with a name, which is read when the entry is
    /// logged; an unnamed client costs no reference count.
    pub(crate) named: Option<Arc<ClientInfo>>,
}

/// What to record when the inner future completes.
pub(crate) struct Record {
    pub(crate) spec: &'static CommandSpec,
    /// None while the slow log is disabled.
    pub(crate) slow: Option<SlowCandidate>,
    /// A raw reading of `shared.clock`.
    pub(crate) start: u64,
    pub(crate) shared: &'static Shared,
}

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
            Poll::Pending => return Poll::Pending,
        };
        if let Some(r) = this.record.take() {
            let clock = &r.shared.clock;
            let elapsed = clock.delta(r.start, clock.raw());
            let (outcome, error) = match &out {
                Ok(reply) => (Outcome::of(reply), reply.is_error().then_some(reply)),
                Err(_) => (Outcome::Failure, None),
            };
            r.shared.stats.record(Some(r.spec), outcome, elapsed, error);
            if let Some(slow) = &r.slow {
                let log = &r.shared.slowlog;
                if log.is_slow(elapsed) {
                    let args = slow.args.to_vec();
                    let args = super::slowlog::redacted(r.spec, &args);
                    let name = slow.named.as_ref().and_then(|c| c.name());
                    log.push(&args, elapsed, slow.addr, name);
                }
            }
        }
        Poll::Ready(out)
    }
}
