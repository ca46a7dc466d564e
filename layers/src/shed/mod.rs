//! Load shedding: a bound on commands in flight, with no queue.
//!
//! When `limit` commands are already waiting on their backend, the next
//! one fails at once with [`Overloaded`] (the client sees `-ERR server is
//! overloaded, try again later`) instead of waiting in an unbounded queue.
//!
//! A command counts as in flight from the first time it has to wait (its
//! first `Pending` poll) until it completes or is dropped. A command
//! answered at once — the in-memory store, a cache hit — never waits, holds
//! no slot, and costs no atomic operation at all: only a plain load of the
//! count to decide whether to shed. (Counting every command took two
//! locked adds and two reference counts per command, which showed in the
//! pipelined benchmarks; tower's `ConcurrencyLimit` + `LoadShed` pair
//! costs a semaphore round trip.) Commands that start waiting at the same
//! instant on several threads may overshoot the limit by that many.
//!
//! A blocking command (BLPOP …) that waits holds no slot either: it is
//! parked, not working the backend, and a thousand clients waiting on a
//! queue must not shed everyone else's commands.
//!
//! The count lives for the life of the process (one leaked word per
//! [`ShedLayer::new`], i.e. per server built), so the futures that update
//! it need no reference count.
//!
//! ```
//! use redynamo_layers::shed::ShedLayer;
//! let layer = ShedLayer::new(4096);
//! # drop(layer);
//! ```

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};

use pin_project_lite::pin_project;
use tower_layer::Layer;
use tower_service::Service;

use crate::error::{BoxError, Overloaded};
use crate::Request;

/// Applies [`Shed`]. A limit of 0 means no limit.
#[derive(Clone, Copy, Debug)]
pub struct ShedLayer {
    limit: usize,
    in_flight: &'static AtomicUsize,
}

impl ShedLayer {
    pub fn new(limit: usize) -> ShedLayer {
        ShedLayer {
            limit: if limit == 0 { usize::MAX } else { limit },
            in_flight: Box::leak(Box::new(AtomicUsize::new(0))),
        }
    }

    /// Commands waiting on their backend right now.
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
            in_flight: self.in_flight,
        }
    }
}

/// Sheds commands past the in-flight limit. See the module docs.
#[derive(Clone, Debug)]
pub struct Shed<S> {
    inner: S,
    limit: usize,
    in_flight: &'static AtomicUsize,
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
        let parked = req.command.spec.routing.blocking;
        let state = if self.in_flight.load(Ordering::Relaxed) >= self.limit {
            State::Shed
        } else {
            State::Running {
                future: self.inner.call(req),
            }
        };
        ResponseFuture {
            state,
            slot: Slot {
                in_flight: self.in_flight,
                held: false,
                parked,
            },
        }
    }
}

/// The command's place in the in-flight count, taken the first time it
/// waits and given back when it is done or dropped.
#[derive(Debug)]
struct Slot {
    in_flight: &'static AtomicUsize,
    held: bool,
    /// A blocking command: never counted.
    parked: bool,
}

impl Slot {
    fn take(&mut self) {
        if !self.held && !self.parked {
            self.in_flight.fetch_add(1, Ordering::AcqRel);
            self.held = true;
        }
    }

    fn give_back(&mut self) {
        if self.held {
            self.in_flight.fetch_sub(1, Ordering::AcqRel);
            self.held = false;
        }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.give_back();
    }
}

pin_project! {
    /// The response future of [`Shed`].
    pub struct ResponseFuture<F> {
        #[pin]
        state: State<F>,
        slot: Slot,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<F> {
        Running { #[pin] future: F },
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
        let this = self.project();
        match this.state.project() {
            StateProj::Running { future } => match future.poll(cx) {
                Poll::Ready(out) => {
                    this.slot.give_back();
                    Poll::Ready(out.map_err(Into::into))
                }
                Poll::Pending => {
                    this.slot.take();
                    Poll::Pending
                }
            },
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
        let mut first = svc.ready().await.unwrap().call(request());
        let (_req, send) = handle.next_request().await.unwrap();
        // Waiting on the backend takes the slot.
        assert!(futures::FutureExt::now_or_never(&mut first).is_none());
        assert_eq!(layer.in_flight(), 1);
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
        assert_eq!(layer.in_flight(), 0);
    }

    #[tokio::test]
    async fn a_dropped_waiting_command_gives_its_slot_back() {
        let (mock, mut handle) = tower_test::mock::pair::<Request, Reply>();
        let layer = ShedLayer::new(1);
        let mut svc = layer.layer(mock);
        let mut first = svc.ready().await.unwrap().call(request());
        let _pending = handle.next_request().await.unwrap();
        assert!(futures::FutureExt::now_or_never(&mut first).is_none());
        assert_eq!(layer.in_flight(), 1);
        drop(first);
        assert_eq!(layer.in_flight(), 0);
    }
}
