//! Micro-benchmarks of each step a command takes, in isolation and then
//! together, so a change to one step shows in its own figure:
//!
//! - `decode`: RESP bytes to an argument vector through [`RespCodec`], per
//!   command (a pipeline of 16 GETs is one input of 16 commands);
//! - `encode`: replies to RESP2 and RESP3 bytes;
//! - `parse`: the command table ([`lookup`], [`resolve`]) and the typed
//!   parsing of SET's and GETEX's options;
//! - `store`: the in-memory store alone, called as a tower service, over
//!   100,000 keys and 1,024 small hashes (HSET, HGET);
//! - `stack`: the same commands through the full stack (metrics, shed,
//!   timeout, auth, admin) over the same store, unboxed as the server runs
//!   it ([`stack::service`]), through `oneshot`-style calls with no socket,
//!   as a server without `--metrics-addr` runs it;
//! - `stack_boxed`: the same through [`stack::build`], which boxes that
//!   stack behind [`stack::Stack`].
//!
//! `store` and `stack` pick keys from a fixed rotation spread across the
//! keyspace, so the hash tables are not all in cache. Times are the CPU
//! time of the benchmarking thread ([`ThreadTime`]), not wall time: all of
//! this runs on that one thread, and on a shared machine wall time mostly
//! measures the other processes. BENCHMARKS.md records the figures. Run:
//!
//! ```text
//! cargo bench --bench micro
//! cargo bench --bench micro -- decode/      # one group
//! ```

mod support;
#[path = "support/thread_time.rs"]
mod thread_time;

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use criterion::{
    criterion_group, criterion_main, BatchSize, BenchmarkGroup, BenchmarkId, Criterion, Throughput,
};
use futures::FutureExt;
use redynamo::commands::{parse_getex, SetArgs};
use redynamo::protocol::{Limits, ProtocolVersion, RespCodec};
use redynamo::server::state::ServerState;
use redynamo::stack::{self, StackService};
use redynamo::store::memory::{MemoryConfig, MemoryStore};
use redynamo_layers::command::{lookup, resolve};
use redynamo_layers::metrics::Telemetry;
use redynamo_layers::{ClientInfo, Reply, Request};
use thread_time::ThreadTime;
use tokio_util::codec::Decoder;
use tower::{Service, ServiceExt};

/// Keys in the store before the `store` and `stack` groups run.
const KEYS: usize = 100_000;
/// Distinct requests each store and stack benchmark cycles through.
const ROTATION: usize = 1024;
/// A value as `redis-benchmark -d 64` sends it.
const VALUE: &str = "v123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

/// Short runs: the machine is shared, and these are for comparing a change
/// against the figure before it, not for publishing.
fn configure(group: &mut BenchmarkGroup<'_, ThreadTime>) {
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(2));
    group.sample_size(50);
}

/// Fields of each hash of the `hset`/`hget_hit` workloads: small hashes.
const HASH_FIELDS: usize = 16;

fn hash_key(i: usize) -> String {
    format!("hash:{:04}", i % ROTATION)
}

fn key(i: usize) -> String {
    format!("key:{i:06}")
}

/// The `i`-th key of the rotation, spread across the keyspace.
fn spread_key(i: usize) -> String {
    key(i * (KEYS / ROTATION) % KEYS)
}

/// A command line in RESP multibulk form, as every client library sends it.
fn resp(parts: &[&str]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", parts.len()).into_bytes();
    for p in parts {
        out.extend_from_slice(format!("${}\r\n{p}\r\n", p.len()).as_bytes());
    }
    out
}

fn decode(c: &mut Criterion<ThreadTime>) {
    assert_eq!(VALUE.len(), 64);
    let pipeline: Vec<u8> = (0..16).flat_map(|i| resp(&["GET", &key(i)])).collect();
    let mut mset = vec!["MSET".to_string()];
    for i in 0..10 {
        mset.extend([key(i), VALUE.to_string()]);
    }
    let mset: Vec<&str> = mset.iter().map(String::as_str).collect();
    let inputs: [(&str, Vec<u8>, u64); 5] = [
        ("get", resp(&["GET", &key(42)]), 1),
        ("set_64b", resp(&["SET", &key(42), VALUE]), 1),
        ("get_pipeline_16", pipeline, 16),
        ("mset_10", resp(&mset), 1),
        ("ping_inline", b"PING\r\n".to_vec(), 1),
    ];
    let mut group = c.benchmark_group("decode");
    configure(&mut group);
    let mut codec = RespCodec::new(Limits::default());
    for (name, wire, commands) in inputs {
        group.throughput(Throughput::Elements(commands));
        group.bench_function(name, |b| {
            b.iter_batched(
                // The read buffer, as the connection's read fills it.
                || BytesMut::from(&wire[..]),
                |mut buf| {
                    let mut decoded = 0;
                    while let Some(args) = codec.decode(&mut buf).expect("valid RESP") {
                        black_box(args);
                        decoded += 1;
                    }
                    assert_eq!(decoded, commands);
                    buf
                },
                BatchSize::SmallInput,
            )
        });
    }
    group.finish();
}

fn encode(c: &mut Criterion<ThreadTime>) {
    let value = Bytes::from_static(VALUE.as_bytes());
    let replies = [
        ("ok", Reply::ok()),
        ("bulk_64b", Reply::Bulk(value.clone())),
        ("nil", Reply::Null),
        ("integer", Reply::Integer(1_234_567)),
        (
            "mget_10",
            Reply::Array((0..10).map(|_| Reply::Bulk(value.clone())).collect()),
        ),
    ];
    let mut group = c.benchmark_group("encode");
    configure(&mut group);
    group.throughput(Throughput::Elements(1));
    for (label, version) in [
        ("resp2", ProtocolVersion::Resp2),
        ("resp3", ProtocolVersion::Resp3),
    ] {
        let mut codec = RespCodec::new(Limits::default());
        codec.set_version(version);
        // The connection's write buffer: reused, emptied by each write.
        let mut out = BytesMut::with_capacity(4096);
        for (name, reply) in &replies {
            group.bench_function(BenchmarkId::new(label, name), |b| {
                b.iter(|| {
                    codec.encode_reply(black_box(reply), &mut out);
                    black_box(&out);
                    out.clear();
                })
            });
        }
    }
    group.finish();
}

fn parse(c: &mut Criterion<ThreadTime>) {
    let get = support::args(&["GET", "key:000042"]);
    let set = support::args(&["SET", "key:000042", VALUE]);
    let set_ex_nx = support::args(&["SET", "key:000042", VALUE, "EX", "100", "NX"]);
    let set_px_xx_get = support::args(&["set", "key:000042", VALUE, "px", "1500", "xx", "get"]);
    let getex = support::args(&["GETEX", "key:000042", "EX", "100"]);
    let config_get = support::args(&["CONFIG", "GET", "maxmemory"]);
    let now = 1_700_000_000_000;
    let mut group = c.benchmark_group("parse");
    configure(&mut group);
    group.throughput(Throughput::Elements(1));
    group.bench_function("lookup/get", |b| b.iter(|| lookup(black_box(b"GET"))));
    group.bench_function("lookup/mset", |b| b.iter(|| lookup(black_box(b"mset"))));
    group.bench_function("resolve/get", |b| {
        b.iter(|| resolve(black_box(&get)).expect("known"))
    });
    group.bench_function("resolve/set_ex_nx", |b| {
        b.iter(|| resolve(black_box(&set_ex_nx)).expect("known"))
    });
    group.bench_function("resolve/config_get", |b| {
        b.iter(|| resolve(black_box(&config_get)).expect("known"))
    });
    group.bench_function("set_args/plain", |b| {
        b.iter(|| SetArgs::parse(black_box(&set), now).expect("valid"))
    });
    group.bench_function("set_args/ex_nx", |b| {
        b.iter(|| SetArgs::parse(black_box(&set_ex_nx), now).expect("valid"))
    });
    group.bench_function("set_args/px_xx_get", |b| {
        b.iter(|| SetArgs::parse(black_box(&set_px_xx_get), now).expect("valid"))
    });
    group.bench_function("getex_args/ex", |b| {
        b.iter(|| parse_getex(black_box(&getex), now).expect("valid"))
    });
    group.finish();
}

/// One workload of the `store` and `stack` groups: the requests it cycles
/// through, and what each must answer (checked once before timing, so a
/// bench never times an error path by mistake).
struct Workload {
    name: &'static str,
    requests: Vec<Request>,
    expect: fn(&Reply) -> bool,
}

fn workloads(client: &Arc<ClientInfo>) -> Vec<Workload> {
    let rotate = |line: &dyn Fn(usize) -> Vec<String>| -> Vec<Request> {
        (0..ROTATION)
            .map(|i| {
                let parts = line(i);
                let parts: Vec<&str> = parts.iter().map(String::as_str).collect();
                support::request(client, &parts)
            })
            .collect()
    };
    vec![
        Workload {
            name: "get_hit",
            requests: rotate(&|i| vec!["GET".into(), spread_key(i)]),
            expect: |r| matches!(r, Reply::Bulk(v) if v.len() == VALUE.len()),
        },
        Workload {
            name: "get_miss",
            requests: rotate(&|i| vec!["GET".into(), format!("missing:{i:06}")]),
            expect: |r| *r == Reply::Null,
        },
        Workload {
            name: "set",
            requests: rotate(&|i| vec!["SET".into(), spread_key(i), VALUE.into()]),
            expect: |r| *r == Reply::ok(),
        },
        Workload {
            name: "incr",
            requests: rotate(&|i| vec!["INCR".into(), format!("counter:{i:04}")]),
            expect: |r| matches!(r, Reply::Integer(_)),
        },
        Workload {
            name: "hset",
            requests: rotate(&|i| {
                let field = format!("field:{}", i % 64);
                vec!["HSET".into(), hash_key(i), field, VALUE.into()]
            }),
            expect: |r| matches!(r, Reply::Integer(0 | 1)),
        },
        Workload {
            name: "hget_hit",
            requests: rotate(&|i| {
                vec![
                    "HGET".into(),
                    hash_key(i),
                    format!("field:{}", i % HASH_FIELDS),
                ]
            }),
            expect: |r| matches!(r, Reply::Bulk(v) if v.len() == VALUE.len()),
        },
        Workload {
            name: "mget_10",
            requests: rotate(&|i| {
                let mut line = vec!["MGET".to_string()];
                line.extend((0..10).map(|k| spread_key((i + k * 101) % ROTATION)));
                line
            }),
            expect: |r| {
                matches!(r, Reply::Array(values)
                    if values.len() == 10 && values.iter().all(|v| matches!(v, Reply::Bulk(_))))
            },
        },
    ]
}

/// A memory store holding [`KEYS`] keys with 64-byte values.
fn populated_store(runtime: &tokio::runtime::Runtime) -> MemoryStore {
    // The store starts its expiry task, so build inside the runtime.
    let _guard = runtime.enter();
    let store = MemoryStore::new(MemoryConfig::default());
    let client = ClientInfo::internal();
    for i in 0..KEYS {
        let reply = store.execute(&support::request(&client, &["SET", &key(i), VALUE]));
        assert_eq!(reply, Reply::ok());
    }
    // Small hashes (the listpack-like encoding) for HGET and HSET.
    for i in 0..ROTATION {
        let mut line = vec!["HSET".to_string(), hash_key(i)];
        for f in 0..HASH_FIELDS {
            line.push(format!("field:{f}"));
            line.push(VALUE.to_string());
        }
        let line: Vec<&str> = line.iter().map(String::as_str).collect();
        let reply = store.execute(&support::request(&client, &line));
        assert!(matches!(reply, Reply::Integer(_)), "{reply:?}");
    }
    store
}

fn store(c: &mut Criterion<ThreadTime>) {
    let runtime = support::runtime();
    let mut store = populated_store(&runtime);
    let client = ClientInfo::internal();
    let mut group = c.benchmark_group("store");
    configure(&mut group);
    group.throughput(Throughput::Elements(1));
    for w in workloads(&client) {
        let reply = store.execute(&w.requests[0]);
        assert!((w.expect)(&reply), "store/{}: {reply:?}", w.name);
        let mut next = w.requests.iter().cycle();
        group.bench_function(w.name, |b| {
            b.iter_batched(
                || next.next().expect("endless").clone(),
                |req| {
                    // The memory store answers at once: its readiness and
                    // its reply are both ready futures, so no runtime
                    // needs to poll them.
                    let svc = store.ready().now_or_never().expect("ready at once");
                    let svc = svc.expect("ready");
                    let reply = svc.call(req).now_or_never().expect("answered at once");
                    reply.expect("reply")
                },
                BatchSize::SmallInput,
            )
        });
    }
    group.finish();
}

/// The stack as the server runs it: unboxed (`stack::service`).
fn full_stack(c: &mut Criterion<ThreadTime>) {
    through_stack(c, "stack", |state, store| stack::service(state, store, &[]));
}

/// The same stack boxed behind [`stack::Stack`] (`stack::build`), as user
/// layers see it: the difference is the box and dynamic call per command.
fn full_stack_boxed(c: &mut Criterion<ThreadTime>) {
    through_stack(c, "stack_boxed", |state, store| {
        stack::build(state, store, &[])
    });
}

/// The `store` workloads through the stack `build` makes over a populated
/// store, with default settings and a no-op recorder.
fn through_stack<S: StackService>(
    c: &mut Criterion<ThreadTime>,
    group_name: &str,
    build: impl FnOnce(&Arc<ServerState>, MemoryStore) -> S,
) {
    let runtime = support::runtime();
    let store = populated_store(&runtime);
    let state = support::server_state(&store, Telemetry::noop());
    let stack = {
        let _guard = runtime.enter();
        build(&state, store)
    };
    let client = ClientInfo::internal();
    let mut group = c.benchmark_group(group_name);
    configure(&mut group);
    group.throughput(Throughput::Elements(1));
    for w in workloads(&client) {
        let reply = runtime.block_on(stack.clone().oneshot(w.requests[0].clone()));
        let reply = reply.expect("reply");
        assert!((w.expect)(&reply), "{group_name}/{}: {reply:?}", w.name);
        let mut next = w.requests.iter().cycle();
        group.bench_function(w.name, |b| {
            b.iter_custom(|iters| {
                let batch = (0..iters).map(|_| next.next().expect("endless").clone());
                support::time_calls(&ThreadTime::new(), &runtime, &stack, batch.collect())
            })
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().with_measurement(ThreadTime::new());
    targets = decode, encode, parse, store, full_stack, full_stack_boxed
}
criterion_main!(benches);
