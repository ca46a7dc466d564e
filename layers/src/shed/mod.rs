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
//! The count is shared through an [`Arc`], cloned once per service (a
//! server clones its stack once per connection). The layer calls the
//! stack below and polls the call once inside `call` (with a no-op waker,
//! as the metrics layer does): a command answered there returns a ready
//! future that holds no reference, and only one that has to wait takes the
//! count's reference and its slot, so the hot path takes no reference
//! count on a line every worker thread shares.
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

use tower_layer::Layer;
use tower_service::Service;

use crate::error::{BoxError, Overloaded};
use crate::Request;

/// Applies [`Shed`]. A limit of 0 means no limit.
#[derive(Clone, Debug)]
pub struct ShedLayer {
    limit: usize,
    in_flight: Arc<AtomicUsize>,
}

impl ShedLayer {
    pub fn new(limit: usize) -> ShedLayer {
        ShedLayer {
            limit: if limit == 0 { usize::MAX } else { limit },
            in_flight: Arc::new(AtomicUsize::new(0)),
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
            in_flight: self.in_flight.clone(),
        }
    }
}

/// Sheds commands past the in-flight limit. See the module docs.
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
    S::Future: Unpin,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, req: Request) -> Self::Future {
        if self.in_flight.load(Ordering::Relaxed) >= self.limit {
            return ResponseFuture {
                state: State::Done(Some(Err(Overloaded))),
            };
        }
        let parked = req.command.spec.routing.blocking;
        let mut future = self.inner.call(req);
        let state = match crate::poll_now(&mut future) {
            Poll::Ready(out) => State::Done(Some(Ok(out))),
            Poll::Pending => {
                let mut slot = Slot {
                    in_flight: self.in_flight.clone(),
                    held: false,
                    parked,
                };
                slot.take();
                State::Running { future, slot }
            }
        };
        ResponseFuture { state }
    }
}

/// The command's place in the in-flight count, taken when it has to wait
/// and given back when it is done or dropped.
#[derive(Debug)]
struct Slot {
    in_flight: Arc<AtomicUsize>,
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

/// The response future of [`Shed`]: the reply (or the refusal) already, or
/// a call that waits, holding its slot.
pub struct ResponseFuture<F: Future> {
    state: State<F>,
}

enum State<F: Future> {
    Running {
        future: F,
        slot: Slot,
    },
    /// The reply, or the refusal (None once taken).
    Done(Option<Result<F::Output, Overloaded>>),
}

// Never pinned through: the call is polled only when it is `Unpin`, and
// the reply is moved out as a value.
impl<F: Future> Unpin for ResponseFuture<F> {}

impl<F, T, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<T, E>> + Unpin,
    E: Into<BoxError>,
{
    type Output = Result<T, BoxError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match &mut self.state {
            State::Running { future, slot } => match Pin::new(future).poll(cx) {
                Poll::Ready(out) => {
                    slot.give_back();
                    Poll::Ready(out.map_err(Into::into))
                }
                Poll::Pending => Poll::Pending,
            },
            State::Done(out) => Poll::Ready(match out.take() {
                Some(Ok(out)) => out.map_err(Into::into),
                Some(Err(overloaded)) => Err(Box::new(overloaded)),
                None => Err("shed future polled after completion".into()),
            }),
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
