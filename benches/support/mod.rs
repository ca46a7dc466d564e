//! What more than one bench needs to drive the stack without a socket:
//! requests built as the connection builds them, a server state over a
//! memory store, and a timed loop of calls. Included with `mod support;`
//! (a directory, so cargo does not take it for a bench of its own).

use std::hint::black_box;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use criterion::measurement::Measurement;
use redynamo::config::Config;
use redynamo::server::state::ServerState;
use redynamo::store::memory::MemoryStore;
use redynamo::store::Backend;
use redynamo_layers::command::lookup;
use redynamo_layers::metrics::Telemetry;
use redynamo_layers::{BoxError, ClientInfo, Command, Reply, Request};
use tokio::runtime::Runtime;
use tower::{Service, ServiceExt};

/// One thread, like one busy connection: per-command costs are not hidden
/// behind parallelism.
pub fn runtime() -> Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

/// Arguments as the codec hands them over: slices of one shared read
/// buffer, so cloning one is a reference-count increment.
pub fn args(parts: &[&str]) -> Vec<Bytes> {
    let mut buf = BytesMut::from(parts.concat().as_bytes());
    parts
        .iter()
        .map(|p| buf.split_to(p.len()).freeze())
        .collect()
}

/// A request as the connection sends it into the stack (db 0,
/// authenticated).
pub fn request(client: &Arc<ClientInfo>, parts: &[&str]) -> Request {
    let spec = lookup(parts[0].as_bytes()).expect("command in the table");
    Request::new(
        Command {
            spec,
            args: args(parts),
        },
        0,
        client.clone(),
    )
}

/// The server state `Server::bind_with` builds over `store`, with default
/// settings, recording into `telemetry`.
pub fn server_state(store: &MemoryStore, telemetry: Telemetry) -> Arc<ServerState> {
    let stats = store.clone();
    Arc::new(ServerState::new(
        Config::for_tests(),
        store.name(),
        Arc::new(move || stats.stats()),
        telemetry,
    ))
}

/// Time `requests` through `svc` on `clock`, one after another as a
/// connection sends them, each waiting for readiness first.
pub fn time_calls<M, S>(clock: &M, runtime: &Runtime, svc: &S, requests: Vec<Request>) -> M::Value
where
    M: Measurement,
    S: Service<Request, Response = Reply, Error = BoxError> + Clone,
{
    let mut svc = svc.clone();
    runtime.block_on(async move {
        // The calls below follow straight on from each other, as a
        // connection's do; the last one of the previous batch did not end
        // this batch's first.
        let client = requests.first().map(|r| r.client.clone());
        let _follow = client.as_ref().map(|c| c.timing.follow_on());
        let start = clock.start();
        for req in requests {
            let ready = svc.ready().await.expect("ready");
            let reply = ready.call(req).await.expect("reply");
            black_box(reply);
        }
        clock.end(start)
    })
}
