//! The middleware contract of redynamo.
//!
//! Everything that flows through the tower stack lives here: the [`Request`]
//! a connection sends in, the [`Reply`] that comes back, the command table
//! that classifies every command ([`command`]), the infrastructure error
//! types ([`error`]) and the stock layers ([`auth`], [`timeout`]).
//!
//! A custom layer depends on this crate alone and never compiles the AWS SDK:
//!
//! ```
//! use redynamo_layers::{Reply, Request};
//! use tower_layer::layer_fn;
//! use tower_service::Service;
//!
//! // A layer that refuses every write: a read-only replica in five lines.
//! #[derive(Clone)]
//! struct ReadOnly<S>(S);
//!
//! impl<S> Service<Request> for ReadOnly<S>
//! where
//!     S: Service<Request, Response = Reply>,
//!     S::Future: Send + 'static,
//! {
//!     type Response = Reply;
//!     type Error = S::Error;
//!     type Future = futures::future::Either<
//!         futures::future::Ready<Result<Reply, S::Error>>,
//!         S::Future,
//!     >;
//!
//!     fn poll_ready(&mut self, cx: &mut std::task::Context<'_>) -> std::task::Poll<Result<(), S::Error>> {
//!         self.0.poll_ready(cx)
//!     }
//!
//!     fn call(&mut self, req: Request) -> Self::Future {
//!         if req.command.spec.is_write() {
//!             let reply = Reply::error("READONLY You can't write against a read only replica.");
//!             return futures::future::Either::Left(futures::future::ready(Ok(reply)));
//!         }
//!         futures::future::Either::Right(self.0.call(req))
//!     }
//! }
//!
//! let layer = layer_fn(ReadOnly);
//! # use tower_layer::Layer;
//! # let leaf = tower::service_fn(|_r: Request| async { Ok::<_, redynamo_layers::BoxError>(Reply::ok()) });
//! let _read_only = layer.layer(leaf);
//! ```

pub mod acl;
pub mod auth;
pub mod cache;
pub mod command;
pub mod error;
pub mod glob;
pub mod metrics;
pub mod reply;
pub mod request;
pub mod shed;
pub mod timeout;

pub use command::{CommandSpec, Flags};
pub use error::BoxError;
pub use reply::Reply;
pub use request::{ClientInfo, Command, ItemState, Observation, Observations, Request};

/// Poll `future` once with a waker that does nothing: what the metrics and
/// shed layers do inside `call`, so that a command answered in place is
/// recorded there and its future holds no reference to the layer (see
/// `metrics::timing`). A future that is not ready is polled again, with
/// the caller's waker, before anyone waits on it (the caller must poll to
/// get the reply), so no wake-up is lost.
#[inline]
pub(crate) fn poll_now<F: std::future::Future + Unpin>(
    future: &mut F,
) -> std::task::Poll<F::Output> {
    std::pin::Pin::new(future).poll(&mut std::task::Context::from_waker(std::task::Waker::noop()))
}
