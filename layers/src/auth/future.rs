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
        Inner { #[pin] future: F, refused: Vec<(usize, Reply)> },
        Reply { reply: Option<Reply> },
    }
}

impl<F> ResponseFuture<F> {
    /// The inner call; `refused` are EXEC slots the ACL refused, spliced
    /// into the EXEC reply at their places.
    pub(crate) fn inner(future: F, refused: Vec<(usize, Reply)>) -> Self {
        ResponseFuture::Inner { future, refused }
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
            Proj::Inner { future, refused } => match future.poll(cx) {
                Poll::Ready(Ok(Reply::Array(mut items))) if !refused.is_empty() => {
                    for (at, reply) in refused.drain(..) {
                        let at = at.min(items.len());
                        items.insert(at, reply);
                    }
                    Poll::Ready(Ok(Reply::Array(items)))
                }
                other => other,
            },
            Proj::Reply { reply } => Poll::Ready(Ok(reply.take().unwrap_or(Reply::Null))),
        }
    }
}
