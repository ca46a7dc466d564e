//! The response future of [`Timeout`](super::Timeout).

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use pin_project_lite::pin_project;
use tokio::time::Sleep;

use crate::error::{BoxError, TimedOut};

pin_project! {
    pub struct ResponseFuture<F> {
        #[pin]
        future: F,
        // Boxed-free: the Sleep lives inline, pinned with the future.
        #[pin]
        sleep: Option<Sleep>,
        millis: u64,
    }
}

impl<F> ResponseFuture<F> {
    pub(crate) fn new(future: F, sleep: Option<Sleep>, millis: u64) -> Self {
        ResponseFuture {
            future,
            sleep,
            millis,
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
        if let Some(sleep) = this.sleep.as_pin_mut() {
            if sleep.poll(cx).is_ready() {
                return Poll::Ready(Err(Box::new(TimedOut {
                    millis: *this.millis,
                })));
            }
        }
        Poll::Pending
    }
}
