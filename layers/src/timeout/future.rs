//! The response future of [`Timeout`](super::Timeout).

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use pin_project_lite::pin_project;
use tokio::time::Sleep;

use crate::error::{BoxError, TimedOut};

pin_project! {
    /// The inner future, raced against a timer that is only made if the
    /// command has to wait: a command answered on its first poll (the
    /// in-memory store, a cache hit) costs no timer and no clock read, and
    /// the future stays small. The timer is boxed so that this future is
    /// `Unpin` whenever the inner one is.
    pub struct ResponseFuture<F> {
        #[pin]
        future: F,
        limit: Option<Duration>,
        sleep: Option<Pin<Box<Sleep>>>,
    }
}

impl<F> ResponseFuture<F> {
    pub(crate) fn new(future: F, limit: Option<Duration>) -> Self {
        ResponseFuture {
            future,
            limit,
            sleep: None,
        }
    }
}

impl<F, T, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<T, E>>,
    E: Into<BoxError>,
{
    type Output = Result<T, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        if let Poll::Ready(out) = this.future.poll(cx) {
            return Poll::Ready(out.map_err(Into::into));
        }
        let Some(limit) = *this.limit else {
            return Poll::Pending;
        };
        // The clock starts the first time the command waits.
        let sleep = this
            .sleep
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(limit)));
        if sleep.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Err(Box::new(TimedOut {
                millis: limit.as_millis() as u64,
            })));
        }
        Poll::Pending
    }
}
