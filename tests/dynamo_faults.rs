//! Failures between redynamo and DynamoDB, injected by a proxy in front of
//! moto: throttling, HTTP 500s, timeouts and lost responses. In every case
//! the client gets a clear error (or, when retries absorb the fault, the
//! right reply), the server stays up, nothing is applied twice or half, and
//! every acknowledged write is in the table afterwards (read with the SDK,
//! behind redynamo's back). An attempt held up in the network past its
//! deadline and delivered after later writes never undoes them.

mod common;

use std::time::{Duration, Instant};

use common::{
    direct_client, moto, table_value, unique_table, Backend, Fault, FaultProxy, TestServer,
};
use redis::aio::MultiplexedConnection;
use redis::AsyncCommands;

/// A server whose DynamoDB traffic goes through a fault proxy, plus a
/// direct client to check the table.
struct Rig {
    proxy: FaultProxy,
    _server: TestServer,
    conn: MultiplexedConnection,
    direct: aws_sdk_dynamodb::Client,
    table: String,
}

impl Rig {
    async fn start() -> Option<Rig> {
        Rig::start_with(&["--dynamo-max-attempts", "3", "--dynamo-timeout-ms", "1000"]).await
    }

    async fn start_with(args: &[&str]) -> Option<Rig> {
        let moto = moto()?;
        let proxy = FaultProxy::start(moto.port).await;
        let table = unique_table("faults");
        let backend = Backend::Dynamo {
            endpoint: proxy.endpoint(),
            table: table.clone(),
            args: args.iter().map(|a| a.to_string()).collect(),
        };
        let server = TestServer::on(&backend).await;
        let conn = server.conn().await;
        Some(Rig {
            proxy,
            conn,
            _server: server,
            direct: direct_client(&moto.endpoint()).await,
            table,
        })
    }

    async fn in_table(&self, key: &str) -> Option<String> {
        table_value(&self.direct, &self.table, 0, key.as_bytes())
            .await
            .map(|v| String::from_utf8(v).expect("utf-8 value"))
    }

    /// The server answers and its backend works again.
    async fn assert_healthy(&mut self) {
        self.proxy.clear();
        let pong: String = redis::cmd("PING")
            .query_async(&mut self.conn)
            .await
            .expect("PING");
        assert_eq!(pong, "PONG");
        let _: () = self
            .conn
            .set("health", "ok")
            .await
            .expect("SET after faults");
        assert_eq!(self.in_table("health").await.as_deref(), Some("ok"));
    }
}

macro_rules! rig_or_skip {
    () => {
        match Rig::start().await {
            Some(r) => r,
            None => return,
        }
    };
    ($($arg:expr),+) => {
        match Rig::start_with(&[$($arg),+]).await {
            Some(r) => r,
            None => return,
        }
    };
}

fn text(e: &redis::RedisError) -> String {
    e.to_string()
}

#[tokio::test]
async fn throttling_is_retried_then_reported_as_tryagain() {
    let mut rig = rig_or_skip!();
    for fault in [Fault::throttle(), Fault::throttling_exception()] {
        // Fewer failures than attempts: the SDK's backoff absorbs them.
        rig.proxy.inject(fault.clone(), 2);
        let _: () = rig.conn.set("absorbed", "yes").await.expect("SET retried");
        assert_eq!(rig.in_table("absorbed").await.as_deref(), Some("yes"));

        // More failures than attempts: -TRYAGAIN, nothing written.
        rig.proxy.inject(fault, 50);
        let err = rig
            .conn
            .set::<_, _, ()>("refused", "no")
            .await
            .expect_err("SET under throttling");
        assert_eq!(err.code(), Some("TRYAGAIN"), "{err}");
        assert!(text(&err).contains("throttling"), "{err}");
        rig.assert_healthy().await;
        assert_eq!(rig.in_table("refused").await, None);
    }
}

#[tokio::test]
async fn server_errors_are_retried_then_reported() {
    let mut rig = rig_or_skip!();
    rig.proxy.inject(Fault::internal_error(), 2);
    let n: i64 = rig.conn.incr("n", 1).await.expect("INCR retried");
    assert_eq!(n, 1);

    rig.proxy.inject(Fault::internal_error(), 50);
    let err = rig.conn.incr::<_, _, i64>("n", 1).await.expect_err("INCR");
    let msg = text(&err);
    assert!(
        msg.contains("backend unavailable") && msg.contains("InternalServerError"),
        "{msg}"
    );
    rig.assert_healthy().await;
    assert_eq!(rig.in_table("n").await.as_deref(), Some("1"));
    let n: i64 = rig.conn.incr("n", 1).await.expect("INCR after faults");
    assert_eq!(n, 2);
}

#[tokio::test]
async fn timeouts_are_bounded_and_reported() {
    let mut rig = rig_or_skip!();
    rig.proxy.inject(Fault::Stall, 50);
    let started = Instant::now();
    let err = rig
        .conn
        .get::<_, Option<String>>("k")
        .await
        .expect_err("GET");
    let took = started.elapsed();
    let msg = text(&err);
    assert!(
        msg.contains("backend unavailable") && msg.contains("timed out"),
        "{msg}"
    );
    // 3 attempts of 1 s plus backoff, not a hang.
    assert!(took < Duration::from_secs(8), "took {took:?}");

    rig.proxy.inject(Fault::Stall, 50);
    let err = rig
        .conn
        .mset::<_, _, ()>(&[("a", "1"), ("b", "2")])
        .await
        .expect_err("MSET");
    assert!(text(&err).contains("timed out"), "{err}");
    rig.assert_healthy().await;
    // One stalled attempt, then success.
    rig.proxy.inject(Fault::Stall, 1);
    let _: () = rig
        .conn
        .set("late", "v")
        .await
        .expect("SET after one timeout");
    assert_eq!(rig.in_table("late").await.as_deref(), Some("v"));
}

#[tokio::test]
async fn a_lost_response_is_never_applied_twice() {
    let mut rig = rig_or_skip!();
    let _: () = rig.conn.set("counter", 5).await.expect("SET");
    // INCR reads (GetItem), then writes (UpdateItem): lose the write's
    // response. The SDK retries the write, which fails its version
    // condition against the first attempt; the reload finds the command's
    // write id, so the reply is 6 and the counter is 6, not 7.
    rig.proxy.inject_after(1, Fault::LoseResponse, 1);
    let n: i64 = rig.conn.incr("counter", 1).await.expect("INCR");
    assert_eq!(n, 6);
    assert_eq!(rig.in_table("counter").await.as_deref(), Some("6"));

    // The same for APPEND, and for DEL's single conditional write.
    rig.proxy.inject_after(1, Fault::LoseResponse, 1);
    let len: i64 = rig.conn.append("counter", "x").await.expect("APPEND");
    assert_eq!(len, 2);
    assert_eq!(rig.in_table("counter").await.as_deref(), Some("6x"));
    rig.proxy.inject(Fault::LoseResponse, 1);
    let deleted: i64 = rig.conn.del("counter").await.expect("DEL");
    assert_eq!(deleted, 1);
    assert_eq!(rig.in_table("counter").await, None);

    // A transaction whose response is lost: applied once.
    let _: () = rig.conn.mset(&[("x", 10), ("y", 0)]).await.expect("MSET");
    rig.proxy.inject_after(1, Fault::LoseResponse, 1);
    let (x, y): (i64, i64) = redis::pipe()
        .atomic()
        .decr("x", 1)
        .incr("y", 1)
        .query_async(&mut rig.conn)
        .await
        .expect("EXEC");
    assert_eq!((x, y), (9, 1));
    assert_eq!(rig.in_table("x").await.as_deref(), Some("9"));
    assert_eq!(rig.in_table("y").await.as_deref(), Some("1"));
    rig.assert_healthy().await;
}

/// A small deterministic generator, so a failing run can be replayed.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % n
    }
}

#[tokio::test]
async fn every_acknowledged_write_survives_mixed_faults() {
    let mut rig = rig_or_skip!();
    let mut rng = Lcg(0x5eed);
    let mut acked_sets = Vec::new();
    let mut acked_incrs = 0;
    let mut tried_incrs = 0;
    let mut pairs = Vec::new();
    for i in 0..60 {
        let fault = match rng.next(5) {
            0 => Some(Fault::throttle()),
            1 => Some(Fault::internal_error()),
            2 => Some(Fault::Stall),
            3 => Some(Fault::LoseResponse),
            _ => None,
        };
        if let Some(fault) = fault {
            let n = 1 + rng.next(4) as usize;
            rig.proxy.inject_after(rng.next(2) as usize, fault, n);
        }
        match i % 3 {
            0 => {
                let (k, v) = (format!("set:{i}"), format!("value:{i}"));
                if rig.conn.set::<_, _, ()>(&k, &v).await.is_ok() {
                    acked_sets.push((k, v));
                }
            }
            1 => {
                tried_incrs += 1;
                if rig.conn.incr::<_, _, i64>("hits", 1).await.is_ok() {
                    acked_incrs += 1;
                }
            }
            _ => {
                let (a, b) = (format!("pair:{i}:a"), format!("pair:{i}:b"));
                let ok = rig
                    .conn
                    .mset::<_, _, ()>(&[(&a, "1"), (&b, "1")])
                    .await
                    .is_ok();
                pairs.push((a, b, ok));
            }
        }
        rig.proxy.clear();
    }
    rig.assert_healthy().await;
    assert!(
        !acked_sets.is_empty() && acked_incrs > 0,
        "some writes must get through"
    );
    for (k, v) in &acked_sets {
        assert_eq!(rig.in_table(k).await.as_deref(), Some(v.as_str()), "{k}");
    }
    // Acknowledged INCRs are all there; unacknowledged ones may or may not
    // be (the client was told it failed), but none counts twice.
    let hits: i64 = rig
        .in_table("hits")
        .await
        .map_or(0, |v| v.parse().expect("counter"));
    assert!(
        hits >= acked_incrs && hits <= tried_incrs,
        "hits {hits}, acknowledged {acked_incrs}, tried {tried_incrs}"
    );
    // MSET is all or nothing.
    for (a, b, ok) in &pairs {
        let (va, vb) = (rig.in_table(a).await, rig.in_table(b).await);
        assert_eq!(va.is_some(), vb.is_some(), "half-applied MSET {a} {b}");
        if *ok {
            assert!(va.is_some(), "acknowledged MSET lost: {a}");
        }
    }
}

#[tokio::test]
async fn limits_get_clear_errors() {
    let Some(moto) = moto() else {
        return;
    };
    let backend = Backend::Dynamo {
        endpoint: moto.endpoint(),
        table: unique_table("limits"),
        args: vec!["--dynamo-timeout-ms".into(), "20000".into()],
    };
    let server = TestServer::on(&backend).await;
    let mut conn = server.conn().await;
    // (The redis crate drops the "ERR " prefix.)
    let too_large = "value too large for DynamoDB item (max 400 KB)";

    let big = "x".repeat(400 * 1024);
    let err = conn
        .set::<_, _, ()>("big", &big)
        .await
        .expect_err("SET 400 KB");
    assert!(text(&err).contains(too_large), "{err}");
    let fits = "x".repeat(300 * 1024);
    let _: () = conn.set("big", &fits).await.expect("SET 300 KB");
    let err = conn
        .append::<_, _, i64>("big", &fits)
        .await
        .expect_err("APPEND past the limit");
    assert!(text(&err).contains(too_large), "{err}");
    let err = redis::cmd("SETRANGE")
        .arg("big")
        .arg(400 * 1024)
        .arg("x")
        .query_async::<i64>(&mut conn)
        .await
        .expect_err("SETRANGE past the limit");
    assert!(text(&err).contains(too_large), "{err}");
    let len: i64 = conn.strlen("big").await.expect("STRLEN");
    assert_eq!(len, 300 * 1024, "nothing half-applied");

    let long_key = "k".repeat(3000);
    let err = conn
        .set::<_, _, ()>(&long_key, "v")
        .await
        .expect_err("long key");
    assert!(text(&err).contains("key too long"), "{err}");

    let pairs: Vec<(String, String)> = (0..101).map(|i| (format!("m{i}"), "v".into())).collect();
    let err = conn
        .mset::<_, _, ()>(&pairs)
        .await
        .expect_err("MSET of 101 keys");
    assert!(text(&err).contains("at most 100 items"), "{err}");
    let exists: i64 = conn.exists("m0").await.expect("EXISTS");
    assert_eq!(exists, 0);

    let err = redis::cmd("SWAPDB")
        .arg(0)
        .arg(1)
        .query_async::<()>(&mut conn)
        .await
        .expect_err("SWAPDB");
    assert!(text(&err).contains("SWAPDB is not supported"), "{err}");

    for cmd in [&["MULTI"][..], &["SET", "a", "1"], &["FLUSHDB"]] {
        redis::cmd(cmd[0])
            .arg(&cmd[1..])
            .query_async::<redis::Value>(&mut conn)
            .await
            .expect("queue");
    }
    let err = redis::cmd("EXEC")
        .query_async::<redis::Value>(&mut conn)
        .await
        .expect_err("EXEC with FLUSHDB");
    assert!(text(&err).contains("FLUSHDB inside MULTI"), "{err}");
    let exists: i64 = conn.exists("a").await.expect("EXISTS");
    assert_eq!(exists, 0, "nothing of the refused transaction applied");
}

/// One write path: a command whose first write attempt is held up in the
/// network past `--dynamo-timeout-ms` (the SDK's retry gets the command
/// acknowledged), then later commands, acknowledged too, then the held
/// attempt reaches DynamoDB. `{p}` in a command is the run's key prefix.
struct LateCase {
    name: &'static str,
    setup: &'static [&'static str],
    /// The DynamoDB operation of the write whose first attempt is held.
    op: &'static str,
    /// The command (several: a MULTI … EXEC) whose attempt is held.
    held: &'static [&'static str],
    /// Later writes, each acknowledged before the held attempt arrives.
    later: &'static [&'static str],
    /// What each key holds in the end.
    expect: &'static [(&'static str, &'static str)],
}

/// The cases whose held attempt is an UpdateItem come first: moto restores
/// a copy of the whole table when it cancels a transaction (as it does the
/// late attempt of a transaction), and its stream iterators keep reading
/// the replaced copy, so after that this node's follower sees nothing new
/// (a moto artifact; DynamoDB's streams are not affected).
const LATE_CASES: &[LateCase] = &[
    LateCase {
        name: "SET",
        setup: &[],
        op: "UpdateItem",
        held: &["SET {p}k a1"],
        later: &["SET {p}k a2", "SET {p}k a3"],
        expect: &[("k", "a3")],
    },
    LateCase {
        name: "SETEX",
        setup: &["SET {p}k a0"],
        op: "UpdateItem",
        held: &["SETEX {p}k 100 b1"],
        later: &["SETEX {p}k 100 b2"],
        expect: &[("k", "b2")],
    },
    LateCase {
        name: "PSETEX",
        setup: &[],
        op: "UpdateItem",
        held: &["PSETEX {p}k 100000 c1"],
        later: &["SET {p}k c2"],
        expect: &[("k", "c2")],
    },
    LateCase {
        name: "INCR (creating the key)",
        setup: &[],
        op: "UpdateItem",
        held: &["INCR {p}n"],
        later: &["SET {p}n 100"],
        expect: &[("n", "100")],
    },
    LateCase {
        name: "INCR",
        setup: &["SET {p}n 5"],
        op: "UpdateItem",
        held: &["INCR {p}n"],
        later: &["INCRBY {p}n 10"],
        expect: &[("n", "16")],
    },
    LateCase {
        name: "DEL (1 key)",
        setup: &["SET {p}d v0"],
        op: "UpdateItem",
        held: &["DEL {p}d"],
        later: &["SET {p}d v1"],
        expect: &[("d", "v1")],
    },
    LateCase {
        name: "MSET",
        setup: &[],
        op: "TransactWriteItems",
        held: &["MSET {p}a x1 {p}b x1"],
        later: &["MSET {p}a x2 {p}b x2"],
        expect: &[("a", "x2"), ("b", "x2")],
    },
    LateCase {
        name: "DEL (2 keys)",
        setup: &["MSET {p}e 1 {p}f 1"],
        op: "TransactWriteItems",
        held: &["DEL {p}e {p}f"],
        later: &["MSET {p}e 2 {p}f 2"],
        expect: &[("e", "2"), ("f", "2")],
    },
    LateCase {
        name: "MULTI/EXEC",
        setup: &[],
        op: "TransactWriteItems",
        held: &["MULTI", "SET {p}t a", "INCR {p}u", "EXEC"],
        later: &["SET {p}t b", "SET {p}u 50"],
        expect: &[("t", "b"), ("u", "50")],
    },
];

fn command(line: &str, prefix: &str) -> redis::Cmd {
    let line = line.replace("{p}", prefix);
    let mut parts = line.split_whitespace();
    let mut cmd = redis::cmd(parts.next().expect("a command"));
    for arg in parts {
        cmd.arg(arg);
    }
    cmd
}

impl Rig {
    async fn run(&mut self, line: &str, prefix: &str) -> redis::Value {
        command(line, prefix)
            .query_async(&mut self.conn)
            .await
            .unwrap_or_else(|e| panic!("{line}: {e}"))
    }

    /// What this node serves for `key` once its cache has caught up with
    /// the table's stream: a key it caches is changed behind its back,
    /// and the change waited for, so every earlier change has reached the
    /// cache too (moto's stream has one shard).
    async fn settled_get(&mut self, key: &str, prefix: &str) -> Option<String> {
        let sentinel = format!("{prefix}sentinel");
        self.run(&format!("SET {sentinel} s0"), "").await;
        self.run(&format!("GET {sentinel}"), "").await;
        let stamp: i64 = {
            let item = self
                .direct
                .get_item()
                .table_name(&self.table)
                .set_key(Some(redynamo::store::dynamo::schema::head_key(
                    0,
                    sentinel.as_bytes(),
                )))
                .consistent_read(true)
                .send()
                .await
                .expect("direct GetItem");
            match item.item().and_then(|i| i.get("ver")) {
                Some(aws_sdk_dynamodb::types::AttributeValue::N(n)) => n.parse().expect("ver"),
                other => panic!("sentinel has no version: {other:?}"),
            }
        };
        self.direct
            .update_item()
            .table_name(&self.table)
            .set_key(Some(redynamo::store::dynamo::schema::head_key(
                0,
                sentinel.as_bytes(),
            )))
            .update_expression("SET v = :v, ver = :ver")
            .expression_attribute_values(
                ":v",
                redynamo::store::dynamo::schema::blob(bytes::Bytes::from_static(b"s1")),
            )
            .expression_attribute_values(":ver", redynamo::store::dynamo::schema::num(stamp + 1))
            .send()
            .await
            .expect("direct UpdateItem");
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let seen: Option<String> = self.conn.get(&sentinel).await.expect("GET sentinel");
            if seen.as_deref() == Some("s1") {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "the node never saw the change of {sentinel}: GET {seen:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        self.conn.get(format!("{prefix}{key}")).await.expect("GET")
    }
}

/// The acknowledged writes survive their held-up predecessors: for every
/// write path, with later writes of values and with a later FLUSHDB.
#[tokio::test]
async fn a_late_attempt_never_undoes_an_acknowledged_write() {
    // Attempts time out fast, so that a held attempt is retried soon.
    let mut rig = rig_or_skip!("--dynamo-max-attempts", "4", "--dynamo-timeout-ms", "500");
    let mut failures = Vec::new();
    for (run, case) in LATE_CASES.iter().enumerate() {
        for flush in [false, true] {
            let prefix = format!("late{run}{}:", if flush { "f" } else { "" });
            let label = format!("{}{}", case.name, if flush { " then FLUSHDB" } else { "" });
            for line in case.setup {
                rig.run(line, &prefix).await;
            }
            rig.proxy.inject_op(case.op, Fault::Hold, 1);
            if let [single] = case.held {
                rig.run(single, &prefix).await;
            } else {
                let mut pipe = redis::pipe();
                for line in case.held {
                    pipe.add_command(command(line, &prefix));
                }
                let _: redis::Value = pipe
                    .query_async(&mut rig.conn)
                    .await
                    .unwrap_or_else(|e| panic!("{label}: {e}"));
            }
            rig.proxy.clear();
            assert_eq!(rig.proxy.held(), 1, "{label}: one attempt held");
            if flush {
                rig.run("FLUSHDB", "").await;
            } else {
                for line in case.later {
                    rig.run(line, &prefix).await;
                }
            }
            // The held attempt reaches moto only now, after the later
            // writes were acknowledged.
            let answers = rig.proxy.release_held().await;
            let [answer] = answers.as_slice() else {
                panic!("{label}: {answers:?}")
            };
            eprintln!(
                "{label}: the late attempt got {}",
                answer.chars().take(160).collect::<String>()
            );
            let refused = answer.split_whitespace().nth(1) == Some("400")
                && (answer.contains("ConditionalCheckFailed")
                    || answer.contains("TransactionCanceled"));
            if !refused {
                failures.push(format!("{label}: the late attempt was applied: {answer}"));
            }
            for (key, value) in case.expect {
                let want = (!flush).then(|| value.to_string());
                let in_table = rig.in_table(&format!("{prefix}{key}")).await;
                // What the node serves once its cache has caught up with
                // the stream (while moto's stream still works, see
                // LATE_CASES), else what it serves now.
                let served = if case.op == "UpdateItem" {
                    rig.settled_get(key, &prefix).await
                } else {
                    rig.conn.get(format!("{prefix}{key}")).await.expect("GET")
                };
                if in_table != want || served != want {
                    failures.push(format!(
                        "{label}: {key} should be {want:?}; table {in_table:?}, GET {served:?}"
                    ));
                }
            }
        }
    }
    rig.assert_healthy().await;
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

impl Rig {
    /// Make `key` look last written by a node whose clock is `ahead` of
    /// this one: its version is a stamp from that clock.
    async fn written_ahead(&self, key: &str, value: &str, ahead: Duration) {
        use redynamo::store::dynamo::schema::{blob, head_key, num};
        let now_us = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock")
            .as_micros();
        let stamp = now_us + ahead.as_micros();
        self.direct
            .update_item()
            .table_name(&self.table)
            .set_key(Some(head_key(0, key.as_bytes())))
            .update_expression("SET v = :v, ver = :ver, t = :t, db = :db REMOVE x")
            .expression_attribute_values(":v", blob(bytes::Bytes::from(value.to_string())))
            .expression_attribute_values(":ver", num(stamp))
            .expression_attribute_values(
                ":t",
                aws_sdk_dynamodb::types::AttributeValue::S("string".into()),
            )
            .expression_attribute_values(":db", num(0))
            .send()
            .await
            .expect("direct UpdateItem");
    }

    /// Calls of DynamoDB operation `op` since the last look.
    fn calls_of(&self, op: &str) -> u64 {
        self.proxy.take_calls().get(op).copied().unwrap_or(0)
    }
}

/// Clock skew: a key last written by a node whose clock is ahead. A blind
/// write of this node fails its stamp condition once, learns the stamp from
/// the item DynamoDB returns with the failure, and wins with the next call
/// (the newer write is never refused for good); this node's clock then
/// follows, so its next write is one call again.
#[tokio::test]
async fn a_write_from_a_clock_behind_still_wins() {
    let mut rig = rig_or_skip!();
    rig.written_ahead("skew", "ahead", Duration::from_secs(5))
        .await;
    rig.calls_of("UpdateItem");
    let _: () = rig.conn.set("skew", "mine").await.expect("SET");
    assert_eq!(rig.calls_of("UpdateItem"), 2, "one refused, one above it");
    assert_eq!(rig.in_table("skew").await.as_deref(), Some("mine"));
    let _: () = rig.conn.set("skew", "again").await.expect("SET");
    assert_eq!(rig.calls_of("UpdateItem"), 1, "the clock followed");
    assert_eq!(rig.in_table("skew").await.as_deref(), Some("again"));

    // DEL of one key: the same.
    rig.written_ahead("skew", "ahead", Duration::from_secs(60))
        .await;
    rig.calls_of("UpdateItem");
    let deleted: i64 = rig.conn.del("skew").await.expect("DEL");
    assert_eq!(deleted, 1);
    assert_eq!(rig.calls_of("UpdateItem"), 2);
    assert_eq!(rig.in_table("skew").await, None);

    // MSET: the transaction is cancelled with the item, then made again.
    rig.written_ahead("skew2", "ahead", Duration::from_secs(120))
        .await;
    rig.calls_of("TransactWriteItems");
    let _: () = rig
        .conn
        .mset(&[("skew2", "m"), ("skew3", "m")])
        .await
        .expect("MSET");
    assert_eq!(rig.calls_of("TransactWriteItems"), 2);
    assert_eq!(rig.in_table("skew2").await.as_deref(), Some("m"));
    assert_eq!(rig.in_table("skew3").await.as_deref(), Some("m"));

    // A read-modify-write goes above the version it read: one write.
    rig.written_ahead("skew4", "41", Duration::from_secs(180))
        .await;
    rig.calls_of("UpdateItem");
    let n: i64 = rig.conn.incr("skew4", 1).await.expect("INCR");
    assert_eq!(n, 42);
    assert_eq!(rig.calls_of("UpdateItem"), 1);
    rig.assert_healthy().await;
}
