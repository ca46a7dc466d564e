//! [`GateLayer`]: a custom layer that makes chosen commands slow, for the
//! overload and drain tests. Add it with
//! `TestServer::with_builder(config, |b| b.layer(GateLayer(gate.clone())))`.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use redynamo::stack::Stack;
use redynamo_layers::{BoxError, Reply, Request};
use tokio::sync::Semaphore;
use tower::{Layer, Service};

use super::PATIENCE;

/// Controls the [`GateLayer`]. A command whose first argument after the name
/// is `hold` announces itself ([`Gate::entered`]) and waits until the test
/// calls [`Gate::release`]; one on `hang` never finishes by itself (only a
/// timeout or shutdown ends it). Every other command passes straight through.
#[derive(Clone, Default)]
pub struct Gate {
    shared: Arc<GateShared>,
}

struct GateShared {
    entered: Semaphore,
    release: Semaphore,
}

impl Default for GateShared {
    fn default() -> Self {
        GateShared {
            entered: Semaphore::new(0),
            release: Semaphore::new(0),
        }
    }
}

impl Gate {
    /// Wait until a `hold` command has reached the gate.
    pub async fn entered(&self) {
        tokio::time::timeout(PATIENCE, self.shared.entered.acquire())
            .await
            .expect("a held command reached the gate in time")
            .expect("gate open")
            .forget();
    }

    /// Let `n` held commands through.
    pub fn release(&self, n: usize) {
        self.shared.release.add_permits(n);
    }
}

#[derive(Clone)]
pub struct GateLayer(pub Gate);

impl Layer<Stack> for GateLayer {
    type Service = Gated;

    fn layer(&self, inner: Stack) -> Gated {
        Gated {
            inner,
            gate: self.0.clone(),
        }
    }
}

#[derive(Clone)]
pub struct Gated {
    inner: Stack,
    gate: Gate,
}

type BoxFuture = Pin<Box<dyn Future<Output = Result<Reply, BoxError>> + Send>>;

impl Service<Request> for Gated {
    type Response = Reply;
    type Error = BoxError;
    type Future = BoxFuture;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request) -> BoxFuture {
        let clone = self.inner.clone();
        // Use the service that was made ready for this call.
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let gate = self.gate.clone();
        let key = req.command.args.get(1).cloned();
        Box::pin(async move {
            match key.as_deref() {
                Some(b"hold") => {
                    gate.shared.entered.add_permits(1);
                    gate.shared.release.acquire().await?.forget();
                }
                Some(b"hang") => std::future::pending::<()>().await,
                _ => {}
            }
            inner.call(req).await
        })
    }
}

impl super::TestServer {
    /// A server over memory with `config` and the [`GateLayer`] of `gate`
    /// as its custom layer.
    pub async fn with_gate(config: redynamo::config::Config, gate: &Gate) -> super::TestServer {
        super::TestServer::with_builder(config, |b| b.layer(GateLayer(gate.clone()))).await
    }
}
