//! What the metrics layer costs: GET throughput with and without it.
//!
//! Two settings, each with both stacks:
//!
//! - `get_through_stack`: pre-built requests straight into the full,
//!   unboxed stack the server runs (metrics → shed → timeout → auth →
//!   admin → memory store), no socket. This isolates the layer: its cost
//!   is a large share of a ~0.13 µs call.
//! - `get_over_tcp`: a real connection task (codec, session, stack) serving
//!   a client that pipelines GETs 32 at a time over loopback, as a busy
//!   client does. This is the throughput a client sees. The paired report
//!   also runs it unpipelined (one GET per round trip, the common client).
//!
//! The stacks are the server's: `stack::service` (the metrics layer
//! chained, with runs over the memory store) and
//! `stack::service_without_metrics`, each its own type. The metrics stack
//! records into a real Prometheus recorder with the default SLOWLOG
//! threshold, exactly as a server with `--metrics-addr` does; the
//! exporter's upkeep, which the server runs every 5 s, runs between
//! batches, outside the timed loops. The process uses the server's
//! allocator. The same comparison against the real server, with
//! redis-benchmark, is `benches/vs-redis.sh --metrics-layer`.
//!
//! After criterion, a paired report runs both stacks in alternating rounds
//! (so load from other processes hits both alike) and prints the median
//! per-GET time of each and the median overhead; `docs/observability.md`
//! records the figures. Run:
//!
//! ```text
//! cargo bench --bench metrics_overhead
//! cargo bench --bench metrics_overhead -- overhead   # the paired report only
//! ```

mod support;

/// The server's allocator (`src/main.rs`), so the stack allocates here as
/// it does in the server.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::measurement::WallTime;
use criterion::{criterion_group, Criterion, Throughput};
use redynamo::connection::Connection;
use redynamo::server::state::ServerState;
use redynamo::stack::{self, StackService};
use redynamo::store::memory::{MemoryConfig, MemoryStore};
use redynamo::telemetry::Exporter;
use redynamo_layers::{ClientInfo, Reply, Request};
use support::request;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::runtime::Runtime;
use tower::ServiceExt;

const KEY: &str = "key:000042";
const VALUE: &str = "a 16 byte value.";
/// GETs per pipelined batch over TCP, for criterion and the paired
/// report (which also runs unpipelined, one GET per round trip).
const PIPELINE: u64 = 32;

/// One server state and store, and the stack built over them with and
/// without the metrics layer: unboxed, as the server runs it.
struct Fixture<A, B> {
    runtime: Runtime,
    exporter: Exporter,
    state: Arc<ServerState>,
    with_metrics: A,
    without_metrics: B,
    get: Request,
}

fn fixture() -> Fixture<impl StackService, impl StackService> {
    let runtime = support::runtime();
    // The store starts its expiry task, so build inside the runtime.
    let guard = runtime.enter();
    let store = MemoryStore::new(MemoryConfig::default());
    let exporter = Exporter::new();
    let state = support::server_state(&store, exporter.telemetry.clone());
    let with_metrics = stack::service(&state, store.clone(), &[]);
    let without_metrics = stack::service_without_metrics(&state, store, &[]);
    let addr = "127.0.0.1:50000".parse().expect("addr");
    let client = Arc::new(ClientInfo::new(1, Some(addr)));
    let set = request(&client, &["SET", KEY, VALUE]);
    let reply = runtime.block_on(with_metrics.clone().oneshot(set));
    assert_eq!(reply.expect("SET"), Reply::ok());
    let get = request(&client, &["GET", KEY]);
    drop(guard);
    Fixture {
        runtime,
        exporter,
        state,
        with_metrics,
        without_metrics,
        get,
    }
}

/// Time `iters` GETs through `stack`, one after another as a connection
/// sends them.
fn in_process<A, B, S: StackService>(f: &Fixture<A, B>, stack: &S, iters: u64) -> Duration {
    // What the server's upkeep task does every 5 s.
    f.exporter.handle.run_upkeep();
    let requests: Vec<Request> = (0..iters).map(|_| f.get.clone()).collect();
    support::time_calls(&WallTime, &f.runtime, stack, requests)
}

/// A client connected to a real connection task serving `stack`.
struct Wire {
    socket: TcpStream,
    pipeline: u64,
    batch: Vec<u8>,
    reply_len: usize,
    buf: Vec<u8>,
}

fn connect<A, B, S: StackService>(f: &Fixture<A, B>, stack: &S, pipeline: u64) -> Wire {
    let state = f.state.clone();
    let stack = stack.clone();
    f.runtime.block_on(async move {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let socket = TcpStream::connect(addr).await.expect("connect");
        socket.set_nodelay(true).expect("nodelay");
        let (server_side, peer) = listener.accept().await.expect("accept");
        server_side.set_nodelay(true).expect("nodelay");
        let entry = state.clients.register(Some(peer), Some(addr), 0);
        let conn = Connection::new(server_side, stack, state, entry);
        tokio::spawn(conn.run());
        let one = format!("*2\r\n$3\r\nGET\r\n${}\r\n{KEY}\r\n", KEY.len());
        Wire {
            socket,
            pipeline,
            batch: one.repeat(pipeline as usize).into_bytes(),
            reply_len: format!("${}\r\n{VALUE}\r\n", VALUE.len()).len(),
            buf: vec![0; 64 * 1024],
        }
    })
}

/// Time about `iters` GETs over `wire`, in pipelined batches.
fn over_tcp<A, B>(f: &Fixture<A, B>, wire: &mut Wire, iters: u64) -> Duration {
    f.exporter.handle.run_upkeep();
    let batches = iters.div_ceil(wire.pipeline).max(1);
    let per_batch = wire.reply_len * wire.pipeline as usize;
    let elapsed = f.runtime.block_on(async {
        let start = Instant::now();
        for _ in 0..batches {
            wire.socket.write_all(&wire.batch).await.expect("write");
            let mut got = 0;
            while got < per_batch {
                let n = wire.socket.read(&mut wire.buf).await.expect("read");
                assert!(n > 0, "server closed the connection");
                got += n;
            }
            assert_eq!(got, per_batch, "replies are exactly the GET values");
        }
        start.elapsed()
    });
    // Scale to what was asked, so throughput per GET stays right.
    elapsed.mul_f64(iters as f64 / (batches * wire.pipeline) as f64)
}

fn get_through_stack(c: &mut Criterion) {
    let f = fixture();
    let mut group = c.benchmark_group("get_through_stack");
    group.throughput(Throughput::Elements(1));
    group.sample_size(50);
    group.warm_up_time(Duration::from_secs(2));
    group.measurement_time(Duration::from_secs(5));
    group.bench_function("without_metrics", |b| {
        b.iter_custom(|iters| in_process(&f, &f.without_metrics, iters))
    });
    group.bench_function("with_metrics", |b| {
        b.iter_custom(|iters| in_process(&f, &f.with_metrics, iters))
    });
    group.finish();
}

fn get_over_tcp(c: &mut Criterion) {
    let f = fixture();
    let mut without = connect(&f, &f.without_metrics, PIPELINE);
    let mut with = connect(&f, &f.with_metrics, PIPELINE);
    let mut group = c.benchmark_group("get_over_tcp");
    group.throughput(Throughput::Elements(1));
    group.sample_size(50);
    group.warm_up_time(Duration::from_secs(2));
    group.measurement_time(Duration::from_secs(5));
    group.bench_function("without_metrics", |b| {
        b.iter_custom(|iters| over_tcp(&f, &mut without, iters))
    });
    group.bench_function("with_metrics", |b| {
        b.iter_custom(|iters| over_tcp(&f, &mut with, iters))
    });
    group.finish();
}

criterion_group!(benches, get_through_stack, get_over_tcp);

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Both stacks in alternating rounds of `ops` GETs; prints the median
/// ns per GET of each and the median of the per-round overheads.
fn paired(name: &str, rounds: usize, ops: u64, mut run: impl FnMut(bool, u64) -> Duration) {
    let (mut without, mut with, mut ratio) = (Vec::new(), Vec::new(), Vec::new());
    // Warm both up.
    run(false, ops);
    run(true, ops);
    for round in 0..rounds {
        // Alternate which goes first, so drift does not favour one.
        let (a, b) = if round % 2 == 0 {
            let a = run(false, ops);
            (a, run(true, ops))
        } else {
            let b = run(true, ops);
            (run(false, ops), b)
        };
        let per = |d: Duration| d.as_nanos() as f64 / ops as f64;
        without.push(per(a));
        with.push(per(b));
        ratio.push(per(b) / per(a));
    }
    println!(
        "metrics overhead, {name}: without {:.1} ns/GET, with {:.1} ns/GET, overhead {:+.1} % (median of {rounds} paired rounds of {ops} GETs)",
        median(&mut without),
        median(&mut with),
        (median(&mut ratio) - 1.0) * 100.0,
    );
}

fn overhead_report() {
    let f = fixture();
    paired("in-process stack", 101, 50_000, |metrics, ops| {
        if metrics {
            in_process(&f, &f.with_metrics, ops)
        } else {
            in_process(&f, &f.without_metrics, ops)
        }
    });
    for (pipeline, ops) in [(PIPELINE, 50_000), (1, 5_000)] {
        let mut without = connect(&f, &f.without_metrics, pipeline);
        let mut with = connect(&f, &f.with_metrics, pipeline);
        let name = format!("over TCP, pipeline {pipeline}");
        paired(&name, 101, ops, |metrics, ops| {
            let wire = if metrics { &mut with } else { &mut without };
            over_tcp(&f, wire, ops)
        });
    }
}

fn main() {
    let filters: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let listing = std::env::args().any(|a| a == "--list" || a == "--test");
    if filters.iter().all(|f| f != "overhead") {
        benches();
    }
    if !listing && (filters.is_empty() || filters.iter().any(|f| f == "overhead")) {
        overhead_report();
    }
    Criterion::default().configure_from_args().final_summary();
}
