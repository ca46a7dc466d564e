//! Load shedding: a bound on commands in flight, with no queue.
//!
//! When `limit` commands are already running, the next one fails at once
//! with [`Overloaded`] (the client sees `-ERR server is overloaded, try
//! again later`) instead of waiting in an unbounded queue. The count is one
//! shared atomic, incremented when a command enters and decremented when
//! its future completes or is dropped, so the common path costs two atomic
//! operations — tower's `ConcurrencyLimit` + `LoadShed` pair costs a
//! semaphore round trip per command, which showed in profiles.
//!
//! ```
//! use redynamo_layers::shed::ShedLayer;
//! let layer = ShedLayer::new(4096);
//! # drop(layer);
//! ```

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use pin_project_lite::pin_project;
use tower_layer::Layer;
use tower_service::Service;

use crate::error::{BoxError, Overloaded};
use crate::Request;

/// Applies [`Shed`]. Clones share one in-flight count.
#[derive(Clone, Debug)]
pub struct ShedLayer {
    limit: usize,
    in_flight: Arc<AtomicUsize>,
}

impl ShedLayer {
    /// `limit` commands may run at once; 0 means no limit.
    pub fn new(limit: usize) -> ShedLayer {
        ShedLayer {
            limit: if limit == 0 { usize::MAX } else { limit },
            in_flight: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// Commands running now (for metrics and tests).
    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Relaxed)
    }
}

impl<S> Layer<S> for ShedLayer {
    type Service = Shed<S>;

    fn layer(&self, inner: S) -> Shed<S> {
        Shed {
            inner,
            limit: self.limit,
            in_flight: self.in_flight.clone(),
        }
    }
}

#[derive(Clone, Debug)]
pub struct Shed<S> {
    inner: S,
    limit: usize,
    in_flight: Arc<AtomicUsize>,
}

impl<S> Service<Request> for Shed<S>
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
        if self.in_flight.fetch_add(1, Ordering::AcqRel) >= self.limit {
            self.in_flight.fetch_sub(1, Ordering::AcqRel);
            return ResponseFuture { state: State::Shed };
        }
        ResponseFuture {
            state: State::Running {
                future: self.inner.call(req),
                permit: Permit(self.in_flight.clone()),
            },
        }
    }
}

/// Gives the slot back when the command's future ends or is dropped.
#[derive(Debug)]
struct Permit(Arc<AtomicUsize>);

impl Drop for Permit {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

pin_project! {
    pub struct ResponseFuture<F> {
        #[pin]
        state: State<F>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<F> {
        Running { #[pin] future: F, permit: Permit },
        Shed,
    }
}

impl<F, T, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<T, E>>,
    E: Into<BoxError>,
{
    type Output = Result<T, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().state.project() {
            StateProj::Running { future, .. } => future.poll(cx).map_err(Into::into),
            StateProj::Shed => Poll::Ready(Err(Box::new(Overloaded))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Reply;
    use tower::ServiceExt;

    fn request() -> Request {
        Request::from_line(&["get", "k"]).expect("valid command")
    }

    #[tokio::test]
    async fn sheds_past_the_limit_and_recovers() {
        let (mock, mut handle) = tower_test::mock::pair::<Request, Reply>();
        let layer = ShedLayer::new(1);
        let mut svc = layer.layer(mock);
        let first = svc.ready().await.unwrap().call(request());
        let (_req, send) = handle.next_request().await.unwrap();
        // The second command finds the only slot taken.
        let second = svc.ready().await.unwrap().call(request()).await;
        assert!(second.unwrap_err().is::<Overloaded>());
        send.send_response(Reply::ok());
        assert_eq!(first.await.unwrap(), Reply::ok());
        assert_eq!(layer.in_flight(), 0);
        // The slot is free again.
        let third = svc.ready().await.unwrap().call(request());
        let (_req, send) = handle.next_request().await.unwrap();
        send.send_response(Reply::Null);
        assert_eq!(third.await.unwrap(), Reply::Null);
    }
}
