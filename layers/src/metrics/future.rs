//! The response future of [`Metrics`](super::Metrics).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::Bytes;
use pin_project_lite::pin_project;

use super::{CommandStats, Outcome, SlowLog};
use crate::command::CommandSpec;
use crate::error::BoxError;
use crate::{ClientInfo, Reply};

/// What to record when the inner future completes.
pub(crate) struct Record {
    pub(crate) spec: &'static CommandSpec,
    pub(crate) args: Option<Vec<Bytes>>,
    pub(crate) client: Arc<ClientInfo>,
    pub(crate) start: Instant,
    pub(crate) stats: Arc<CommandStats>,
    pub(crate) slowlog: Arc<SlowLog>,
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
            let elapsed = r.start.elapsed();
            let (outcome, error) = match &out {
                Ok(reply) => (Outcome::of(reply), reply.is_error().then_some(reply)),
                Err(_) => (Outcome::Failure, None),
            };
            r.stats.record(Some(r.spec), outcome, elapsed, error);
            if let Some(args) = &r.args {
                if r.slowlog.is_slow(elapsed) {
                    let args = super::slowlog::redacted(r.spec, args);
                    r.slowlog
                        .push(&args, elapsed, r.client.addr, r.client.name());
                }
            }
        }
        Poll::Ready(out)
    }
}
