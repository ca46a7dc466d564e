//! Two redynamo nodes on one DynamoDB table (moto): what one node does is
//! atomic with respect to the other.

mod common;

use common::{moto, unique_table, Backend, TestServer};
use redis::AsyncCommands;

/// Two servers over the same fresh table.
async fn two_nodes() -> Option<(TestServer, TestServer)> {
    let moto = moto()?;
    let backend = Backend::Dynamo {
        endpoint: moto.endpoint(),
        table: unique_table("nodes"),
        // These tests check atomicity across nodes and read on one node
        // right after writing on the other, which only a node without a
        // cache promises: a cached read may be up to --max-staleness-ms old
        // (tests/cache_nodes.rs tests that bound).
        args: vec![
            "--dynamo-timeout-ms".into(),
            "20000".into(),
            "--cache-max-bytes".into(),
            "0".into(),
        ],
    };
    let a = TestServer::on(&backend).await;
    let b = TestServer::on(&backend).await;
    Some((a, b))
}

#[tokio::test]
async fn concurrent_incr_on_two_nodes_loses_no_update() {
    let Some((a, b)) = two_nodes().await else {
        return;
    };
    const N: i64 = 100;
    const CLIENTS: i64 = 2;
    let mut tasks = Vec::new();
    for server in [&a, &b] {
        for _ in 0..CLIENTS {
            let mut conn = server.conn().await;
            tasks.push(tokio::spawn(async move {
                for _ in 0..N {
                    let _: i64 = conn.incr("counter", 1).await.expect("INCR");
                }
            }));
        }
    }
    for t in tasks {
        t.await.expect("incr task");
    }
    let mut conn = a.conn().await;
    let total: i64 = conn.get("counter").await.expect("GET");
    assert_eq!(total, 2 * CLIENTS * N);
    let mut conn = b.conn().await;
    let total: i64 = conn.get("counter").await.expect("GET");
    assert_eq!(total, 2 * CLIENTS * N);
}

#[tokio::test]
async fn setnx_race_has_exactly_one_winner() {
    let Some((a, b)) = two_nodes().await else {
        return;
    };
    for round in 0..10 {
        let key = format!("lock:{round}");
        let mut tasks = Vec::new();
        for (i, server) in [&a, &b, &a, &b].into_iter().enumerate() {
            let mut conn = server.conn().await;
            let key = key.clone();
            tasks.push(tokio::spawn(async move {
                let won: bool = conn
                    .set_nx(&key, format!("owner-{i}"))
                    .await
                    .expect("SETNX");
                won.then_some(format!("owner-{i}"))
            }));
        }
        let mut winners = Vec::new();
        for t in tasks {
            winners.extend(t.await.expect("setnx task"));
        }
        assert_eq!(winners.len(), 1, "round {round}: winners {winners:?}");
        let mut conn = b.conn().await;
        let owner: String = conn.get(&key).await.expect("GET");
        assert_eq!(owner, winners[0]);
    }
}

#[tokio::test]
async fn watch_on_one_node_sees_a_write_on_the_other() {
    let Some((a, b)) = two_nodes().await else {
        return;
    };
    let mut on_a = a.conn().await;
    let mut on_b = b.conn().await;
    let _: () = on_a.set("balance", 10).await.expect("SET");

    // A change on node B between WATCH and EXEC on node A: EXEC is nil.
    redis::cmd("WATCH")
        .arg("balance")
        .query_async::<()>(&mut on_a)
        .await
        .expect("WATCH");
    let _: i64 = on_b.incr("balance", 5).await.expect("INCR on B");
    let result: Option<(i64,)> = redis::pipe()
        .atomic()
        .decr("balance", 3)
        .query_async(&mut on_a)
        .await
        .expect("EXEC");
    assert_eq!(result, None, "the transaction must abort");
    let balance: i64 = on_b.get("balance").await.expect("GET");
    assert_eq!(balance, 15);

    // Without interference it commits, and node B sees the result.
    redis::cmd("WATCH")
        .arg("balance")
        .query_async::<()>(&mut on_a)
        .await
        .expect("WATCH");
    let result: Option<(i64,)> = redis::pipe()
        .atomic()
        .decr("balance", 3)
        .query_async(&mut on_a)
        .await
        .expect("EXEC");
    assert_eq!(result, Some((12,)));
    let balance: i64 = on_b.get("balance").await.expect("GET");
    assert_eq!(balance, 12);

    // A key absent at WATCH time, created on the other node: abort too.
    redis::cmd("WATCH")
        .arg("fresh")
        .query_async::<()>(&mut on_a)
        .await
        .expect("WATCH");
    let _: () = on_b.set("fresh", "b").await.expect("SET on B");
    let result: Option<(String,)> = redis::pipe()
        .atomic()
        .cmd("SET")
        .arg("fresh")
        .arg("a")
        .cmd("GET")
        .arg("fresh")
        .ignore()
        .query_async(&mut on_a)
        .await
        .expect("EXEC");
    assert_eq!(result, None);
    let fresh: String = on_a.get("fresh").await.expect("GET");
    assert_eq!(fresh, "b");

    // Deleted and re-created on the other node (same value): still a
    // change, thanks to the tombstone's version.
    redis::cmd("WATCH")
        .arg("fresh")
        .query_async::<()>(&mut on_a)
        .await
        .expect("WATCH");
    let _: i64 = on_b.del("fresh").await.expect("DEL on B");
    let _: () = on_b.set("fresh", "b").await.expect("SET on B");
    let result: Option<(String,)> = redis::pipe()
        .atomic()
        .cmd("SET")
        .arg("fresh")
        .arg("a")
        .ignore()
        .cmd("GET")
        .arg("fresh")
        .query_async(&mut on_a)
        .await
        .expect("EXEC");
    assert_eq!(result, None);
}

#[tokio::test]
async fn transactions_on_two_nodes_are_serializable() {
    let Some((a, b)) = two_nodes().await else {
        return;
    };
    // Each transaction moves one unit from x to y; the sum must hold and
    // no transfer may be lost, whichever node runs it.
    let mut conn = a.conn().await;
    let _: () = conn.mset(&[("x", 1000), ("y", 0)]).await.expect("MSET");
    let mut tasks = Vec::new();
    for server in [&a, &b] {
        let mut conn = server.conn().await;
        tasks.push(tokio::spawn(async move {
            for _ in 0..25 {
                let (_, _): (i64, i64) = redis::pipe()
                    .atomic()
                    .decr("x", 1)
                    .incr("y", 1)
                    .query_async(&mut conn)
                    .await
                    .expect("EXEC");
            }
        }));
    }
    for t in tasks {
        t.await.expect("transfer task");
    }
    let (x, y): (i64, i64) = redis::cmd("MGET")
        .arg("x")
        .arg("y")
        .query_async(&mut conn)
        .await
        .expect("MGET");
    assert_eq!((x, y), (950, 50));
}
