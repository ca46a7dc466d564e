//! The response future of [`Auth`](super::Auth).

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use pin_project_lite::pin_project;

use crate::Reply;

pin_project! {
    /// Either the inner service's future or an immediate refusal.
    #[project = Proj]
    pub enum ResponseFuture<F> {
        Inner { #[pin] future: F },
        Reply { reply: Option<Reply> },
    }
}

impl<F> ResponseFuture<F> {
    pub(crate) fn inner(future: F) -> Self {
        ResponseFuture::Inner { future }
    }
    pub(crate) fn reply(reply: Reply) -> Self {
        ResponseFuture::Reply { reply: Some(reply) }
    }
}

impl<F, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Reply, E>>,
{
    type Output = Result<Reply, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project() {
            Proj::Inner { future } => future.poll(cx),
            Proj::Reply { reply } => Poll::Ready(Ok(reply.take().unwrap_or(Reply::Null))),
        }
    }
}
