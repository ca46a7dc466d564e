//! DynamoDB calls per command, counted by a proxy in front of moto, and
//! what a pipeline of reads costs in latency.
//!
//! ```text
//! scripts/install-moto.sh && cargo bench --bench dynamo_calls
//! ```
//!
//! (`cargo test --bench dynamo_calls` runs the same unoptimised, which is
//! enough to count calls.) The run fails when MGET of 100 keys or MSET of
//! 50 keys costs more than one call.

#[path = "../tests/common/mod.rs"]
mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use common::{moto, unique_table, Backend, FaultProxy, TestServer};
use redis::aio::MultiplexedConnection;
use redis::Value;

async fn run(conn: &mut MultiplexedConnection, args: &[String]) -> Value {
    let mut cmd = redis::cmd(&args[0]);
    for a in &args[1..] {
        cmd.arg(a);
    }
    cmd.query_async(conn).await.expect("command")
}

fn line(parts: &[&str]) -> Vec<String> {
    parts.iter().map(|p| p.to_string()).collect()
}

fn many(cmd: &str, prefix: &str, n: usize, with_values: bool) -> Vec<String> {
    let mut args = vec![cmd.to_string()];
    for i in 0..n {
        args.push(format!("{prefix}{i}"));
        if with_values {
            args.push(format!("value-{i}"));
        }
    }
    args
}

/// A label, commands to prepare (not counted), and the commands counted.
type Case = (&'static str, Vec<Vec<String>>, Vec<Vec<String>>);

#[tokio::main]
async fn main() {
    let Some(moto) = moto() else {
        return;
    };
    let proxy = FaultProxy::start(moto.port).await;
    let backend = Backend::Dynamo {
        endpoint: proxy.endpoint(),
        table: unique_table("bench"),
        // The store's own calls are counted: no node cache, so no streams
        // follower polling through the same proxy and no reads served
        // from memory (the cache has its own benchmark, benches/cache.rs).
        args: vec![
            "--dynamo-timeout-ms".into(),
            "30000".into(),
            "--cache-max-bytes".into(),
            "0".into(),
        ],
    };
    let server = TestServer::on(&backend).await;
    let mut conn = server.conn().await;

    // (label, setup, measured commands)
    let cases: Vec<Case> = vec![
        (
            "GET (hit)",
            vec![line(&["SET", "k", "v"])],
            vec![line(&["GET", "k"])],
        ),
        ("GET (miss)", vec![], vec![line(&["GET", "nope"])]),
        ("SET", vec![], vec![line(&["SET", "k", "v"])]),
        (
            "SET EX",
            vec![],
            vec![line(&["SET", "k", "v", "EX", "100"])],
        ),
        ("SET NX", vec![], vec![line(&["SET", "nx", "v", "NX"])]),
        ("SET GET", vec![], vec![line(&["SET", "k", "v2", "GET"])]),
        ("SETNX", vec![], vec![line(&["SETNX", "nx2", "v"])]),
        (
            "INCR",
            vec![line(&["SET", "n", "1"])],
            vec![line(&["INCR", "n"])],
        ),
        (
            "INCRBYFLOAT",
            vec![],
            vec![line(&["INCRBYFLOAT", "f", "1.5"])],
        ),
        ("APPEND", vec![], vec![line(&["APPEND", "k", "x"])]),
        (
            "GETDEL",
            vec![line(&["SET", "gd", "v"])],
            vec![line(&["GETDEL", "gd"])],
        ),
        ("EXPIRE", vec![], vec![line(&["EXPIRE", "k", "100"])]),
        ("TTL", vec![], vec![line(&["TTL", "k"])]),
        ("PERSIST", vec![], vec![line(&["PERSIST", "k"])]),
        (
            "EXISTS (10 keys)",
            vec![],
            vec![many("EXISTS", "m:", 10, false)],
        ),
        (
            "MGET (100 keys)",
            vec![many("MSET", "m:", 100, true)],
            vec![many("MGET", "m:", 100, false)],
        ),
        (
            "MGET (250 keys)",
            vec![many("MSET", "x:", 100, true)],
            vec![many("MGET", "m:", 250, false)],
        ),
        ("MSET (50 keys)", vec![], vec![many("MSET", "s:", 50, true)]),
        (
            "MSET (100 keys)",
            vec![],
            vec![many("MSET", "s:", 100, true)],
        ),
        (
            "MSETNX (10 keys)",
            vec![],
            vec![many("MSETNX", "nx:", 10, true)],
        ),
        (
            "DEL (1 key)",
            vec![line(&["SET", "d", "v"])],
            vec![line(&["DEL", "d"])],
        ),
        ("DEL (50 keys)", vec![], vec![many("DEL", "s:", 50, false)]),
        (
            "DEL (150 keys)",
            vec![],
            vec![many("DEL", "m:", 150, false)],
        ),
        (
            "RENAME",
            vec![line(&["SET", "r1", "v"])],
            vec![line(&["RENAME", "r1", "r2"])],
        ),
        ("COPY", vec![], vec![line(&["COPY", "r2", "r3"])]),
        (
            "MULTI INCR a, INCR b, GET c; EXEC",
            vec![],
            vec![
                line(&["MULTI"]),
                line(&["INCR", "a"]),
                line(&["INCR", "b"]),
                line(&["GET", "c"]),
                line(&["EXEC"]),
            ],
        ),
        ("WATCH (2 keys)", vec![], vec![line(&["WATCH", "a", "b"])]),
        (
            "EXEC after WATCH a b (SET c)",
            vec![line(&["WATCH", "a", "b"])],
            vec![line(&["MULTI"]), line(&["SET", "c", "1"]), line(&["EXEC"])],
        ),
        (
            "SETBIT (changes the bit)",
            vec![line(&["SET", "bits", "foobar"])],
            vec![line(&["SETBIT", "bits", "3", "1"])],
        ),
        (
            "SETBIT (bit already so)",
            vec![],
            vec![line(&["SETBIT", "bits", "3", "1"])],
        ),
        ("GETBIT", vec![], vec![line(&["GETBIT", "bits", "3"])]),
        ("BITCOUNT", vec![], vec![line(&["BITCOUNT", "bits"])]),
        (
            "BITFIELD INCRBY",
            vec![],
            vec![line(&["BITFIELD", "bits", "INCRBY", "u8", "0", "1"])],
        ),
        (
            "BITOP AND (2 sources)",
            vec![line(&["SET", "bits2", "barfoo"])],
            vec![line(&["BITOP", "AND", "bitsd", "bits", "bits2"])],
        ),
        ("LCS", vec![], vec![line(&["LCS", "bits", "bits2"])]),
        ("DBSIZE", vec![], vec![line(&["DBSIZE"])]),
        ("KEYS *", vec![], vec![line(&["KEYS", "*"])]),
        ("RANDOMKEY", vec![], vec![line(&["RANDOMKEY"])]),
        (
            "SCAN 0 COUNT 100",
            vec![],
            vec![line(&["SCAN", "0", "COUNT", "100"])],
        ),
        ("FLUSHDB", vec![], vec![line(&["FLUSHDB"])]),
    ];

    println!("\nDynamoDB calls per command (counted at a proxy in front of moto)\n");
    println!("{:<36} {:>5}  by operation", "command", "calls");
    let mut failures = Vec::new();
    for (label, setup, measured) in cases {
        for cmd in &setup {
            run(&mut conn, cmd).await;
        }
        proxy.take_calls();
        for cmd in &measured {
            run(&mut conn, cmd).await;
        }
        let calls: BTreeMap<String, u64> = proxy.take_calls().into_iter().collect();
        let total: u64 = calls.values().sum();
        let by: Vec<String> = calls.iter().map(|(op, n)| format!("{op} {n}")).collect();
        println!("{label:<36} {total:>5}  {}", by.join(", "));
        if (label == "MGET (100 keys)" || label == "MSET (50 keys)") && total != 1 {
            failures.push(format!("{label} costs {total} calls, not 1"));
        }
    }

    // Latency: one GET against a pipeline of 100 GETs, with 100 ms added
    // to every DynamoDB call, so that the network dominates moto's own
    // time (moto serves one request at a time, a few ms each: that part
    // stays serial however concurrent the server is).
    proxy.set_delay(Duration::from_millis(100));
    run(&mut conn, &line(&["SET", "p", "v"])).await;
    let started = Instant::now();
    for _ in 0..3 {
        run(&mut conn, &line(&["GET", "p"])).await;
    }
    let single = started.elapsed() / 3;
    let mut pipe = redis::pipe();
    for _ in 0..100 {
        pipe.cmd("GET").arg("p");
    }
    proxy.take_calls();
    let started = Instant::now();
    let _: Vec<Value> = pipe.query_async(&mut conn).await.expect("pipeline");
    let pipelined = started.elapsed();
    let calls = proxy.total();
    println!(
        "\nlatency with 100 ms per DynamoDB call: GET {:.1} ms; pipeline of 100 GETs {:.1} ms ({calls} calls, {:.1} GET round trips)",
        single.as_secs_f64() * 1e3,
        pipelined.as_secs_f64() * 1e3,
        pipelined.as_secs_f64() / single.as_secs_f64(),
    );
    drop(server);
    if !failures.is_empty() {
        panic!("{}", failures.join("; "));
    }
}
