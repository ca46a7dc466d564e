//! The node cache and the streams follower, measured in one run:
//!
//! 1. cache-hit GET throughput of redynamo over DynamoDB (moto) against
//!    redynamo's in-memory backend and redis-server (redis-benchmark
//!    `-t get` on a warmed key set; target ≥ 0.9× in-memory);
//! 2. hit ratio under a Zipf(0.99) workload with the cache at 1% and 10%
//!    of the keyspace (in process, against `SharedCache` with a simulated
//!    backend);
//! 3. propagation delay p50/p99 from a write acknowledged by node A to the
//!    update being served from node B's cache (polling B).
//!
//! ```text
//! cargo bench --bench cache            # ROUNDS=3 REQUESTS=200000 KEYS=1000
//! ROUNDS=1 REQUESTS=50000 cargo bench --bench cache
//! ```
//!
//! Needs moto (`scripts/install-moto.sh`), redis-server and redis-benchmark.
//! The servers are release binaries on loopback, pinned to core 0 while
//! redis-benchmark runs on core 1 (as `benches/vs-redis.sh` does). Writes a
//! markdown table to `target/cache-bench.md`.

#[path = "../tests/common/mod.rs"]
mod common;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bytes::Bytes;
use rand::Rng;
use redis::AsyncCommands;
use redynamo_layers::cache::{CacheConfig, Item, Lookup, SharedCache};
use redynamo_layers::metrics::Telemetry;
use redynamo_layers::ItemState;

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A server process, killed when dropped.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `program` pinned to `core` with taskset when there are two cores.
fn pinned(core: &str, program: &str) -> Command {
    let two_cores = std::thread::available_parallelism().map_or(1, |n| n.get()) >= 2;
    if two_cores && std::path::Path::new("/usr/bin/taskset").exists() {
        let mut c = Command::new("taskset");
        c.args(["-c", core, program]);
        c
    } else {
        Command::new(program)
    }
}

fn spawn(mut cmd: Command, args: &[String]) -> Proc {
    cmd.args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .stdin(Stdio::null());
    Proc(cmd.spawn().expect("start a server"))
}

async fn wait_port(port: u16) {
    for _ in 0..400 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("nothing listens on {port}");
}

fn redynamo(port: u16, extra: &[&str], moto: Option<&str>) -> Proc {
    let mut args: Vec<String> = ["--port", &port.to_string(), "--bind", "127.0.0.1"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    args.extend(extra.iter().map(|s| s.to_string()));
    let mut cmd = pinned("0", env!("CARGO_BIN_EXE_redynamo"));
    if let Some(endpoint) = moto {
        cmd.env("AWS_ENDPOINT_URL", endpoint)
            .env("AWS_ACCESS_KEY_ID", "bench")
            .env("AWS_SECRET_ACCESS_KEY", "bench")
            .env("AWS_REGION", "us-east-1");
    }
    spawn(cmd, &args)
}

async fn conn(port: u16) -> redis::aio::MultiplexedConnection {
    redis::Client::open(format!("redis://127.0.0.1:{port}/"))
        .expect("url")
        .get_multiplexed_tokio_connection()
        .await
        .expect("connect")
}

/// Set KEYS keys as redis-benchmark names them, then read each once (the
/// read fills the cache).
async fn warm(port: u16, keys: usize) {
    let mut c = conn(port).await;
    for chunk in (0..keys).collect::<Vec<_>>().chunks(100) {
        let mut pipe = redis::pipe();
        for i in chunk {
            pipe.set(format!("key:{i:012}"), "x".repeat(64)).ignore();
        }
        let _: () = pipe.query_async(&mut c).await.expect("warm SET");
    }
    for _ in 0..2 {
        let mut pipe = redis::pipe();
        for i in 0..keys {
            pipe.get(format!("key:{i:012}")).ignore();
        }
        let _: () = pipe.query_async(&mut c).await.expect("warm GET");
    }
}

/// Requests per second of `redis-benchmark -t get`.
fn get_rps(port: u16, requests: usize, keys: usize, pipeline: usize) -> f64 {
    let out = pinned("1", "redis-benchmark")
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &port.to_string(),
            "-t",
            "get",
            "-c",
            "50",
        ])
        .args(["-n", &requests.to_string(), "-r", &keys.to_string()])
        .args(["-P", &pipeline.to_string(), "--csv"])
        .output()
        .expect("run redis-benchmark");
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .find(|l| l.starts_with("\"GET\""))
        .and_then(|l| l.split(',').nth(1))
        .and_then(|v| v.trim_matches('"').parse().ok())
        .unwrap_or_else(|| panic!("redis-benchmark output: {text}"))
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

/// Zipf(s) over 0..n by inverse CDF.
struct Zipf {
    cdf: Vec<f64>,
}

impl Zipf {
    fn new(n: usize, s: f64) -> Zipf {
        let mut cdf = Vec::with_capacity(n);
        let mut total = 0.0;
        for k in 1..=n {
            total += 1.0 / (k as f64).powf(s);
            cdf.push(total);
        }
        for c in &mut cdf {
            *c /= total;
        }
        Zipf { cdf }
    }

    fn sample(&self, rng: &mut impl Rng) -> usize {
        let u: f64 = rng.gen();
        self.cdf.partition_point(|c| *c < u).min(self.cdf.len() - 1)
    }
}

/// Hit ratio of a cache holding `fraction` of `n` keys under Zipf(0.99),
/// reads filling on miss from a simulated backend.
fn hit_ratio(n: usize, fraction: f64, requests: usize) -> f64 {
    const VALUE: usize = 100;
    // Key bytes + value + the cache's per-entry overhead (96).
    let entry = 16 + VALUE as u64 + 96;
    let cache = SharedCache::new(
        &CacheConfig {
            max_bytes: (n as f64 * fraction) as u64 * entry,
            max_age: None,
        },
        &Telemetry::noop(),
    );
    cache.resume_serving();
    let zipf = Zipf::new(n, 0.99);
    let mut rng = rand::thread_rng();
    // Keys are shuffled ranks so hot keys are spread over the keyspace.
    let value = Bytes::from(vec![b'v'; VALUE]);
    let mut run = |count: usize| {
        let mut hits = 0usize;
        for _ in 0..count {
            let rank = zipf.sample(&mut rng);
            let key = Bytes::from(format!("key:{:012}", rank.wrapping_mul(2_654_435_761) % n));
            match cache.lookup(0, &key) {
                Lookup::Hit(_) => hits += 1,
                Lookup::Miss => {
                    if let Some(token) = cache.begin_fill(0, &key) {
                        cache.complete_fill(
                            0,
                            &key,
                            token,
                            Item {
                                version: 1,
                                state: ItemState::Value {
                                    value: value.clone(),
                                    expire_at: 0,
                                },
                            },
                        );
                    }
                }
            }
        }
        hits
    };
    run(requests / 2);
    run(requests) as f64 / requests as f64
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

async fn wait_serving(port: u16) {
    let mut c = conn(port).await;
    for _ in 0..600 {
        let info: String = redis::cmd("INFO")
            .arg("cache")
            .query_async(&mut c)
            .await
            .expect("INFO");
        if info.contains("cache_serving:1") {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("node on {port} never served from its cache");
}

/// Write on A, poll B until its cache serves the new value.
async fn propagation(a: u16, b: u16, samples: usize) -> Vec<Duration> {
    let (mut ca, mut cb) = (conn(a).await, conn(b).await);
    let mut delays = Vec::with_capacity(samples);
    for i in 0..samples {
        let key = format!("prop:{i}");
        let _: () = ca.set(&key, "0").await.expect("SET");
        // B caches "0" (a miss fills it, or the stream updates a fill).
        loop {
            let v: Option<String> = cb.get(&key).await.expect("GET");
            if v.as_deref() == Some("0") {
                break;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        // Write at a random moment of B's poll cycle, not in step with it.
        let offset = rand::thread_rng().gen_range(0..300);
        tokio::time::sleep(Duration::from_millis(offset)).await;
        let _: () = ca.set(&key, "1").await.expect("SET");
        let acked = Instant::now();
        loop {
            let v: Option<String> = cb.get(&key).await.expect("GET");
            if v.as_deref() == Some("1") {
                break;
            }
            if acked.elapsed() > Duration::from_secs(30) {
                panic!("update never reached B");
            }
        }
        delays.push(acked.elapsed());
    }
    delays.sort();
    delays
}

fn main() {
    // `cargo bench` passes --bench; `cargo test --benches` passes nothing
    // useful either: this bench only runs in full under `cargo bench`.
    if !std::env::args().any(|a| a == "--bench") {
        println!("benches/cache.rs: run with `cargo bench --bench cache`");
        return;
    }
    let rounds = env("ROUNDS", 3);
    let requests = env("REQUESTS", 200_000);
    let keys = env("KEYS", 1000);
    let samples = env("SAMPLES", 100);
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let mut report = String::from("# Cache benchmark\n\n");

    // 2. Hit ratio (no services needed).
    report.push_str("## Hit ratio, Zipf(0.99), 100,000 keys, 1,000,000 reads\n\n| cache size | hit ratio |\n|---|---|\n");
    for fraction in [0.01, 0.10] {
        let ratio = hit_ratio(100_000, fraction, 1_000_000);
        report.push_str(&format!(
            "| {:.0}% of keys | {:.1}% |\n",
            fraction * 100.0,
            ratio * 100.0
        ));
    }
    println!("{report}");

    let Some(moto) = common::moto() else {
        println!("moto missing: throughput and propagation skipped");
        return;
    };
    let endpoint = moto.endpoint();
    let table = common::unique_table("bench");
    let workdir = std::env::temp_dir();
    let ports: Vec<u16> = (0..4).map(|_| common::free_port()).collect();
    let (p_redis, p_mem, p_a, p_b) = (ports[0], ports[1], ports[2], ports[3]);
    let _redis = spawn(
        pinned("0", "redis-server"),
        &[
            "--port".into(),
            p_redis.to_string(),
            "--bind".into(),
            "127.0.0.1".into(),
            "--save".into(),
            String::new(),
            "--appendonly".into(),
            "no".into(),
            "--dir".into(),
            workdir.display().to_string(),
        ],
    );
    let _mem = redynamo(p_mem, &[], None);
    let dynamo = ["--backend", "dynamodb", "--table", &table, "--create-table"];
    let _a = redynamo(p_a, &dynamo, Some(&endpoint));
    rt.block_on(async {
        for p in [p_redis, p_mem, p_a] {
            wait_port(p).await;
        }
    });
    let _b = redynamo(p_b, &dynamo, Some(&endpoint));
    rt.block_on(async {
        wait_port(p_b).await;
        wait_serving(p_a).await;
        wait_serving(p_b).await;
        for p in [p_redis, p_mem, p_a] {
            warm(p, keys).await;
        }
    });

    // 1. Throughput, servers alternating each round.
    report.push_str(&format!(
        "\n## Cache-hit GET throughput ({keys} warmed keys, 64-byte values, 50 clients, median of {rounds})\n\n| workload | redis-server | redynamo memory | redynamo DynamoDB + cache | DynamoDB+cache / memory |\n|---|---|---|---|---|\n"
    ));
    for pipeline in [1, 16] {
        let mut rps = [Vec::new(), Vec::new(), Vec::new()];
        for _ in 0..rounds {
            for (i, port) in [p_redis, p_mem, p_a].into_iter().enumerate() {
                rps[i].push(get_rps(port, requests, keys, pipeline));
            }
        }
        let [r, m, d] = rps.map(median);
        report.push_str(&format!(
            "| GET -P {pipeline} | {r:.0} | {m:.0} | {d:.0} | {:.2}× |\n",
            d / m
        ));
        println!("GET -P {pipeline}: redis {r:.0}, memory {m:.0}, dynamo+cache {d:.0}");
    }

    // 3. Propagation A → B.
    let delays = rt.block_on(propagation(p_a, p_b, samples));
    report.push_str(&format!(
        "\n## Propagation, write acknowledged on A → served by B's cache ({samples} writes, moto)\n\n| p50 | p99 | max |\n|---|---|---|\n| {:.1} ms | {:.1} ms | {:.1} ms |\n",
        percentile(&delays, 0.5).as_secs_f64() * 1000.0,
        percentile(&delays, 0.99).as_secs_f64() * 1000.0,
        delays.last().copied().unwrap_or_default().as_secs_f64() * 1000.0,
    ));
    println!("{report}");
    let out = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/cache-bench.md");
    let _ = std::fs::write(&out, &report);
    println!("written to {}", out.display());
}
