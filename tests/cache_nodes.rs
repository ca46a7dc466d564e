//! A fleet on one table (moto): each node caches, and the streams follower
//! brings every write — from another node or from a program that never
//! talks to redynamo — into every cache within the staleness bound; a
//! broken follower turns the cache off until it has caught up again.

mod common;

use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use common::{direct_client, moto, unique_table, wait_until, Fault, FaultProxy, TestServer};
use redis::aio::MultiplexedConnection;
use redis::AsyncCommands;
use redynamo::store::dynamo::schema::{self, blob, num};

/// The bound the nodes run with.
const STALENESS_MS: u64 = 2000;

/// How long a test waits for something the follower does. Larger than the
/// bound: moto serves one request at a time to every test of this binary,
/// so a poll can wait behind another test's transaction.
const DEADLINE: Duration = Duration::from_secs(15);

fn node_args() -> Vec<String> {
    [
        "--create-table",
        "--max-staleness-ms",
        &STALENESS_MS.to_string(),
        "--dynamo-timeout-ms",
        "5000",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

async fn node(endpoint: &str, table: &str) -> TestServer {
    TestServer::try_dynamo(endpoint, table, &node_args())
        .await
        .expect("start a redynamo node")
}

/// A field of `INFO cache`.
async fn info(conn: &mut MultiplexedConnection, field: &str) -> String {
    let text: String = redis::cmd("INFO")
        .arg("cache")
        .query_async(conn)
        .await
        .expect("INFO cache");
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")).map(str::to_string))
        .unwrap_or_default()
}

/// Keys the backend found (INFO keyspace_hits): a read the cache answers
/// never reaches it.
async fn backend_hits(conn: &mut MultiplexedConnection) -> u64 {
    let text: String = redis::cmd("INFO")
        .arg("stats")
        .query_async(conn)
        .await
        .expect("INFO stats");
    text.lines()
        .find_map(|l| l.strip_prefix("keyspace_hits:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

async fn serving(conn: &mut MultiplexedConnection) {
    let mut c = conn.clone();
    wait_until("cache serving", DEADLINE, || {
        let mut c = c.clone();
        async move { info(&mut c, "cache_serving").await == "1" }
    })
    .await;
    assert_eq!(info(&mut c, "follower_status").await, "following");
}

async fn get(conn: &mut MultiplexedConnection, key: &str) -> Option<String> {
    conn.get(key).await.expect("GET")
}

/// Two nodes on a fresh table, both serving from their caches.
async fn fleet() -> Option<(String, TestServer, TestServer)> {
    let endpoint = moto()?.endpoint();
    let table = unique_table("fleet");
    let a = node(&endpoint, &table).await;
    let b = node(&endpoint, &table).await;
    serving(&mut a.conn().await).await;
    serving(&mut b.conn().await).await;
    Some((table, a, b))
}

#[tokio::test]
async fn a_write_on_one_node_is_read_on_the_other_within_the_bound() {
    let Some((_table, a, b)) = fleet().await else {
        return;
    };
    let (mut ca, mut cb) = (a.conn().await, b.conn().await);
    // B caches the key as absent, then as a value: only the stream can
    // change what it answers now.
    assert_eq!(get(&mut cb, "k").await, None);
    let _: () = ca.set("k", "v1").await.expect("SET");
    let took = wait_until("B sees v1", DEADLINE, || {
        let mut cb = cb.clone();
        async move { get(&mut cb, "k").await.as_deref() == Some("v1") }
    })
    .await;
    eprintln!("propagation A→B of an insert over a negative entry: {took:?}");
    // Either the event arrived, or the follower fell behind and the cache
    // stopped answering: both within the bound (plus the gate's check
    // interval and the polling here).
    let bound = Duration::from_millis(STALENESS_MS) + Duration::from_secs(2);
    assert!(took < bound, "B saw the write after {took:?}");
    let hits = backend_hits(&mut cb).await;
    assert_eq!(get(&mut cb, "k").await.as_deref(), Some("v1"));
    assert_eq!(
        backend_hits(&mut cb).await,
        hits,
        "B answers from its cache"
    );
    let _: () = ca.set("k", "v2").await.expect("SET");
    let took = wait_until("B sees v2", DEADLINE, || {
        let mut cb = cb.clone();
        async move { get(&mut cb, "k").await.as_deref() == Some("v2") }
    })
    .await;
    eprintln!("propagation A→B of an update: {took:?}");
    assert!(took < bound, "B saw the update after {took:?}");
    // Read-your-writes on A, at once.
    assert_eq!(get(&mut ca, "k").await.as_deref(), Some("v2"));
}

#[tokio::test]
async fn a_write_straight_to_the_table_reaches_both_caches() {
    let Some((table, a, b)) = fleet().await else {
        return;
    };
    let (mut ca, mut cb) = (a.conn().await, b.conn().await);
    let _: () = ca.set("direct", "old").await.expect("SET");
    for c in [&mut ca, &mut cb] {
        let c2 = c.clone();
        wait_until("old cached", DEADLINE, || {
            let mut c = c2.clone();
            async move { get(&mut c, "direct").await.as_deref() == Some("old") }
        })
        .await;
    }
    // Another program writes the item with the store's encoding.
    let client = direct_client(&moto().expect("moto").endpoint()).await;
    let mut item = schema::head_key(0, b"direct");
    item.insert(schema::DB.into(), num(0));
    item.insert(schema::TYPE.into(), AttributeValue::S("string".into()));
    item.insert(
        schema::VALUE.into(),
        blob(bytes::Bytes::from_static(b"new")),
    );
    // Far above any version redynamo gave it.
    item.insert(schema::VERSION.into(), num(i64::MAX / 2));
    client
        .put_item()
        .table_name(&table)
        .set_item(Some(item))
        .send()
        .await
        .expect("direct PutItem");
    for (name, c) in [("A", &ca), ("B", &cb)] {
        let took = wait_until(name, DEADLINE, || {
            let mut c = c.clone();
            async move { get(&mut c, "direct").await.as_deref() == Some("new") }
        })
        .await;
        eprintln!("direct write reached {name} in {took:?}");
    }
}

#[tokio::test]
async fn del_expiry_and_removed_items_invalidate() {
    let Some((table, a, b)) = fleet().await else {
        return;
    };
    let (mut ca, cb) = (a.conn().await, b.conn().await);
    let _: () = ca.set("gone", "v").await.expect("SET");
    let _: () = ca.set("reaped", "v").await.expect("SET");
    let _: () = ca.set_ex("brief", "v", 2).await.expect("SETEX");
    for key in ["gone", "reaped", "brief"] {
        wait_until(key, DEADLINE, || {
            let mut cb = cb.clone();
            async move { get(&mut cb, key).await.as_deref() == Some("v") }
        })
        .await;
    }
    // DEL on A: a tombstone (MODIFY) reaches B.
    let _: i64 = ca.del("gone").await.expect("DEL");
    wait_until("DEL reaches B", DEADLINE, || {
        let mut cb = cb.clone();
        async move { get(&mut cb, "gone").await.is_none() }
    })
    .await;
    // The TTL reaper (or another program) deletes the item: a REMOVE.
    let client = direct_client(&moto().expect("moto").endpoint()).await;
    client
        .delete_item()
        .table_name(&table)
        .set_key(Some(schema::head_key(0, b"reaped")))
        .send()
        .await
        .expect("direct DeleteItem");
    wait_until("REMOVE reaches B", DEADLINE, || {
        let mut cb = cb.clone();
        async move { get(&mut cb, "reaped").await.is_none() }
    })
    .await;
    // Expiry: the cached entry carries the key's deadline.
    wait_until("expiry on B", DEADLINE, || {
        let mut cb = cb.clone();
        async move { get(&mut cb, "brief").await.is_none() }
    })
    .await;
    assert_eq!(get(&mut ca, "brief").await, None);
}

#[tokio::test]
async fn a_broken_follower_turns_the_cache_off_and_recovers_by_itself() {
    let Some(moto) = moto() else {
        return;
    };
    let table = unique_table("broken");
    let a = node(&moto.endpoint(), &table).await;
    // B reaches DynamoDB (and its stream) through a proxy that can break.
    let proxy = FaultProxy::start(moto.port).await;
    let b = node(&proxy.endpoint(), &table).await;
    let (mut ca, mut cb) = (a.conn().await, b.conn().await);
    serving(&mut ca).await;
    serving(&mut cb).await;
    let _: () = ca.set("k", "v1").await.expect("SET");
    wait_until("B caches v1", DEADLINE, || {
        let mut cb = cb.clone();
        async move { get(&mut cb, "k").await.as_deref() == Some("v1") }
    })
    .await;

    // Every GetRecords of B fails from now on.
    proxy.inject_op("GetRecords", Fault::internal_error(), 1_000_000);
    wait_until("B stops serving from cache", DEADLINE, || {
        let mut cb = cb.clone();
        async move { info(&mut cb, "cache_serving").await == "0" }
    })
    .await;
    assert_eq!(info(&mut cb, "follower_status").await, "failing");
    assert!(!info(&mut cb, "follower_error").await.is_empty());
    // Reads fall back to DynamoDB: B sees A's new write at once, although
    // its follower sees nothing.
    let _: () = ca.set("k", "v2").await.expect("SET");
    assert_eq!(get(&mut cb, "k").await.as_deref(), Some("v2"));
    let hits = backend_hits(&mut cb).await;
    assert_eq!(get(&mut cb, "k").await.as_deref(), Some("v2"));
    assert!(
        backend_hits(&mut cb).await > hits,
        "the read went to DynamoDB"
    );

    // The stream comes back: B catches up, clears, serves again.
    proxy.clear();
    let took = wait_until("B serves again", DEADLINE, || {
        let mut cb = cb.clone();
        async move { info(&mut cb, "cache_serving").await == "1" }
    })
    .await;
    eprintln!("recovered {took:?} after the stream came back");
    assert_eq!(info(&mut cb, "follower_status").await, "following");
    assert_eq!(get(&mut cb, "k").await.as_deref(), Some("v2"));
    let _: () = ca.set("k", "v3").await.expect("SET");
    wait_until("B follows again", DEADLINE, || {
        let mut cb = cb.clone();
        async move { get(&mut cb, "k").await.as_deref() == Some("v3") }
    })
    .await;
}

#[tokio::test]
async fn concurrent_writes_on_two_nodes_converge_in_both_caches() {
    let Some((_table, a, b)) = fleet().await else {
        return;
    };
    const N: i64 = 40;
    let mut tasks = Vec::new();
    for server in [&a, &b] {
        let mut conn = server.conn().await;
        tasks.push(tokio::spawn(async move {
            for _ in 0..N {
                // Read through the cache between writes, so each node's
                // cache holds the key while the other's events arrive.
                let _: Option<i64> = conn.get("counter").await.expect("GET");
                let _: i64 = conn.incr("counter", 1).await.expect("INCR");
            }
        }));
    }
    for t in tasks {
        t.await.expect("writer");
    }
    // Local writes, stream events and fills interleaved on both nodes; by
    // version, both caches end at the last write.
    for (name, server) in [("A", &a), ("B", &b)] {
        let conn = server.conn().await;
        wait_until(name, DEADLINE, || {
            let mut c = conn.clone();
            async move { c.get::<_, Option<i64>>("counter").await.expect("GET") == Some(2 * N) }
        })
        .await;
        let mut c = conn.clone();
        let hits = backend_hits(&mut c).await;
        let v: i64 = c.get("counter").await.expect("GET");
        assert_eq!(v, 2 * N);
        assert_eq!(
            backend_hits(&mut c).await,
            hits,
            "{name} answers from its cache"
        );
    }
}
