//! Per-command timeout.
//!
//! A command that takes longer than the configured duration fails with
//! [`TimedOut`]; the connection turns that into `-ERR command timed out
//! after N ms` and stays usable. The inner future is dropped, which for a
//! backend call means the request is abandoned — so a write that times out
//! may still have been applied, exactly as with a Redis client timeout.
//!
//! Blocking commands (the table's `blocking` routing fact: BLPOP …) are
//! exempt: waiting is what they are for, up to their own timeout, which
//! may be for ever.
//!
//! The clock starts the first time the command has to wait for its
//! backend (its first `Pending` poll). Work a service does synchronously
//! inside `call` cannot be interrupted by any timer, so it is not counted;
//! in exchange a command answered at once costs no timer at all.
//!
//! ```
//! use std::time::Duration;
//! use redynamo_layers::timeout::TimeoutLayer;
//! let layer = TimeoutLayer::new(Duration::from_millis(500));
//! # drop(layer);
//! ```

mod future;

use std::task::{Context, Poll};
use std::time::Duration;

use tower_layer::Layer;
use tower_service::Service;

pub use self::future::ResponseFuture;
use crate::error::BoxError;
use crate::Request;

/// Applies [`Timeout`]. A zero duration disables it.
#[derive(Clone, Copy, Debug)]
pub struct TimeoutLayer {
    duration: Duration,
}

impl TimeoutLayer {
    pub fn new(duration: Duration) -> TimeoutLayer {
        TimeoutLayer { duration }
    }
}

impl<S> Layer<S> for TimeoutLayer {
    type Service = Timeout<S>;

    fn layer(&self, inner: S) -> Timeout<S> {
        Timeout {
            inner,
            duration: self.duration,
        }
    }
}

#[derive(Clone, Debug)]
pub struct Timeout<S> {
    inner: S,
    duration: Duration,
}

impl<S> Service<Request> for Timeout<S>
where
    S: Service<Request>,
    S::Error: Into<BoxError>,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, req: Request) -> Self::Future {
        let limit = (!self.duration.is_zero() && !req.command.spec.routing.blocking)
            .then_some(self.duration);
        ResponseFuture::new(self.inner.call(req), limit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::TimedOut;
    use crate::Reply;
    use tower::ServiceExt;

    fn request() -> Request {
        Request::from_line(&["get", "k"]).expect("valid command")
    }

    #[tokio::test(start_paused = true)]
    async fn slow_inner_times_out() {
        let (mock, mut handle) = tower_test::mock::pair::<Request, Reply>();
        let mut svc = TimeoutLayer::new(Duration::from_millis(100)).layer(mock);
        let fut = svc.ready().await.expect("test step").call(request());
        let (_req, _send) = handle.next_request().await.expect("test step");
        // Never answered: paused time auto-advances to the deadline.
        let err = fut.await.expect_err("fails");
        let timed_out = err.downcast_ref::<TimedOut>().expect("TimedOut");
        assert_eq!(timed_out.millis, 100);
    }

    #[tokio::test(start_paused = true)]
    async fn blocking_commands_are_not_timed() {
        let (mock, mut handle) = tower_test::mock::pair::<Request, Reply>();
        let mut svc = TimeoutLayer::new(Duration::from_millis(100)).layer(mock);
        let req = Request::from_line(&["blpop", "k", "0"]).expect("valid command");
        let mut fut = svc.ready().await.expect("test step").call(req);
        let (_req, send) = handle.next_request().await.expect("test step");
        tokio::time::sleep(Duration::from_secs(10)).await;
        assert!(futures::FutureExt::now_or_never(&mut fut).is_none());
        send.send_response(Reply::Null);
        assert_eq!(fut.await.expect("test step"), Reply::Null);
    }

    #[tokio::test(start_paused = true)]
    async fn fast_inner_passes() {
        let (mock, mut handle) = tower_test::mock::pair::<Request, Reply>();
        let mut svc = TimeoutLayer::new(Duration::from_millis(100)).layer(mock);
        let fut = svc.ready().await.expect("test step").call(request());
        let (_req, send) = handle.next_request().await.expect("test step");
        send.send_response(Reply::ok());
        assert_eq!(fut.await.expect("test step"), Reply::ok());
    }
}
