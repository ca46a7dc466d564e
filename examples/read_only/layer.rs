//! `ReadOnlyLayer`: a custom tower layer that turns a redynamo server into a
//! read-only replica, refusing every write with Redis' own `READONLY` error.
//!
//! It decides from the command table alone (`spec.is_write()`), so it never
//! matches on command names and stays correct as commands are added. A
//! transaction is refused as a whole if any queued command writes, with the
//! `EXECABORT` text Redis sends when it refuses an EXEC.
//!
//! The shape is tower's: `ReadOnlyLayer` holds the configuration (none
//! here), `ReadOnly<S>` wraps the inner service, readiness is forwarded,
//! and the future is an `Either` of a ready refusal and the inner future,
//! so the layer adds no allocation per command. `tests/custom_layer.rs`
//! includes this file and checks it over TCP.

use std::task::{Context, Poll};

use futures::future::{ready, Either, Ready};
use redynamo::layers::{Reply, Request};
use tower::{Layer, Service};

/// Redis' reply to a write on a read-only replica.
pub const READONLY: &str = "READONLY You can't write against a read only replica.";

/// Refuse writes; pass everything else through.
#[derive(Clone, Copy, Debug, Default)]
pub struct ReadOnlyLayer;

impl<S> Layer<S> for ReadOnlyLayer {
    type Service = ReadOnly<S>;

    fn layer(&self, inner: S) -> ReadOnly<S> {
        ReadOnly { inner }
    }
}

/// The service [`ReadOnlyLayer`] builds.
#[derive(Clone, Debug)]
pub struct ReadOnly<S> {
    inner: S,
}

impl<S> Service<Request> for ReadOnly<S>
where
    S: Service<Request, Response = Reply>,
{
    type Response = Reply;
    type Error = S::Error;
    type Future = Either<Ready<Result<Reply, S::Error>>, S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request) -> Self::Future {
        if req.command.spec.is_write() {
            return Either::Left(ready(Ok(Reply::static_error(READONLY))));
        }
        // EXEC carries the queued commands; one write refuses them all.
        if req.transaction.iter().any(|c| c.spec.is_write()) {
            let refusal = format!("EXECABORT Transaction discarded because of: {READONLY}");
            return Either::Left(ready(Ok(Reply::error(refusal))));
        }
        Either::Right(self.inner.call(req))
    }
}
