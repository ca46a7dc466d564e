//! redynamo as a caching proxy in front of a real `redis-server`
//! (`--backend redis`, docs/upstream.md): every command group compared
//! byte for byte with a second redis-server, in RESP2 and RESP3;
//! transactions and WATCH across proxy clients and a direct client;
//! blocking commands woken by a direct write; the cache kept coherent by
//! the upstream's invalidations; the upstream and the invalidation
//! connection lost and recovered.

mod common;

use std::time::{Duration, Instant};

use common::*;
use redynamo_layers::Reply;

fn lines(text: &str) -> Vec<Vec<Vec<u8>>> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(words)
        .collect()
}

/// One script per command group; each runs in RESP2 and again in RESP3.
const GROUPS: &[(&str, &str)] = &[
    (
        "strings",
        "SET s hello
         GET s
         APPEND s _world
         STRLEN s
         GETRANGE s 0 4
         SETRANGE s 0 J
         SET n 10
         INCR n
         INCRBY n 5
         DECRBY n 2
         INCRBYFLOAT n 1.5
         INCRBYFLOAT n 0.1
         MSET a 1 b 2
         MGET a b missing s
         SETNX a 3
         GETSET a 4
         GETDEL a
         GET a
         SET e v EX 100
         GETEX e PERSIST
         TTL e
         SET k v NX GET
         SET k w XX GET
         LCS s k
         INCR s
         GET nosuchkey",
    ),
    (
        "keys",
        "SET k1 v
         SET k2 v
         EXPIRE k1 100
         TTL k1
         PTTL k2
         PERSIST k1
         EXISTS k1 k2 k3
         TYPE k1
         TYPE nothing
         RENAME k1 k9
         RENAMENX k9 k2
         COPY k9 k10
         DEL k9 k10 nothing
         UNLINK k2
         DBSIZE
         SET x 1
         KEYS x
         OBJECT ENCODING x
         TOUCH x
         SELECT 2
         SET indb2 yes
         GET x
         SELECT 0
         GET indb2
         SWAPDB 0 2
         GET indb2
         SWAPDB 0 2
         FLUSHDB",
    ),
    (
        "hashes",
        "HSET h f1 v1 f2 v2 n 5
         HGET h f1
         HMGET h f1 nope f2
         HGETALL h
         HKEYS h
         HVALS h
         HLEN h
         HEXISTS h f2
         HINCRBY h n 3
         HINCRBYFLOAT h n 0.25
         HSTRLEN h f1
         HSETNX h f1 x
         HDEL h f1 nope
         HSCAN h 0
         GET h
         HGET nohash f",
    ),
    (
        "lists",
        "RPUSH l a b c d
         LPUSH l z
         LRANGE l 0 -1
         LLEN l
         LINDEX l 2
         LSET l 0 y
         LINSERT l BEFORE c bb
         LPOS l c
         LREM l 1 bb
         LPOP l
         RPOP l 2
         LMOVE l l2 LEFT RIGHT
         LMPOP 2 nope l LEFT COUNT 2
         BLPOP l l2 1
         LTRIM l2 0 0
         RPOPLPUSH l2 l
         LRANGE l 0 -1",
    ),
    (
        "sets",
        // Redis 7.0 keeps small sets of strings in a hash table whose
        // order differs between two servers: orders go through SORT.
        "SADD s1 a b c
         SADD s2 b c d
         SORT s1 ALPHA
         SISMEMBER s1 a
         SMISMEMBER s1 a z
         SCARD s1
         SINTERCARD 2 s1 s2
         SINTERSTORE s3 s1 s2
         SUNIONSTORE s4 s1 s2
         SDIFFSTORE s5 s1 s2
         SORT s3 ALPHA
         SORT s4 ALPHA
         SORT s5 ALPHA
         SMOVE s1 s2 a
         SREM s2 a
         SCARD s2
         SPOP nosuchset",
    ),
    (
        "zsets",
        "ZADD z 1 a 2 b 3.5 c
         ZSCORE z c
         ZINCRBY z 1.1 a
         ZRANGE z 0 -1 WITHSCORES
         ZREVRANGE z 0 1
         ZRANGEBYSCORE z 1 3 WITHSCORES
         ZRANK z b
         ZREVRANK z b
         ZCARD z
         ZCOUNT z 0 10
         ZMSCORE z a nope
         ZPOPMIN z
         ZPOPMAX z
         ZADD z2 1 x 2 y
         ZUNIONSTORE z3 2 z z2
         ZRANGE z3 0 -1 WITHSCORES
         ZINTER 2 z3 z2 WITHSCORES
         ZREM z3 x
         ZLEXCOUNT z3 - +
         BZPOPMIN z3 1",
    ),
    (
        "bits and sort",
        "SETBIT b 7 1
         GETBIT b 7
         BITCOUNT b
         BITPOS b 1
         SET b2 abc
         BITOP AND b3 b b2
         BITFIELD bf SET u8 0 200 GET u8 0
         RPUSH sl 3 1 2
         SORT sl
         SORT sl DESC LIMIT 0 2
         SORT_RO sl ALPHA",
    ),
    (
        "transactions",
        "MULTI
         SET t 1
         INCR t
         LPUSH t x
         GET t
         EXEC
         MULTI
         INCR t
         DISCARD
         GET t
         WATCH t
         MULTI
         INCR t
         EXEC
         UNWATCH
         MULTI
         SELECT 1
         SET one 1
         EXEC
         GET one
         SELECT 0
         GET one",
    ),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_command_group_through_the_proxy_is_byte_identical_to_redis() {
    let Some(mut pair) = Pair::start_upstream().await else {
        return;
    };
    for resp3 in [false, true] {
        if resp3 {
            // Not compared: HELLO's reply names each server's version.
            pair.both(&words("HELLO 3")).await;
        }
        for (group, script) in GROUPS {
            let steps = lines(script);
            if let Err(divergence) = pair.run(&steps).await {
                panic!("{group} (RESP{}): {divergence}", if resp3 { 3 } else { 2 });
            }
        }
        // Back to RESP2 for the next round (HELLO's reply differs: the
        // server's name and version are redynamo's own).
        pair.both(&words("HELLO 2")).await;
    }
}

/// Redis' replies, parsed (the proxy's come through the same parser).
async fn cmd(c: &mut RawClient, args: &[&str]) -> Reply {
    c.cmd(args).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_and_exec_across_two_proxy_clients_and_a_direct_client() {
    let Some(upstream) = RedisServer::start().await else {
        return;
    };
    let proxy = TestServer::upstream(&upstream, |_| {}).await;
    let mut a = proxy.raw().await;
    let mut b = proxy.raw().await;
    let mut direct = RawClient::connect(upstream.addr()).await;
    cmd(&mut a, &["SET", "w", "1"]).await;

    // A direct write after WATCH aborts the proxy client's EXEC.
    assert_eq!(cmd(&mut a, &["WATCH", "w"]).await, ok());
    assert_eq!(cmd(&mut direct, &["INCR", "w"]).await, int(2));
    assert_eq!(cmd(&mut a, &["MULTI"]).await, ok());
    assert_eq!(cmd(&mut a, &["INCR", "w"]).await, simple("QUEUED"));
    assert_eq!(cmd(&mut a, &["EXEC"]).await, Reply::NullArray);

    // Another proxy client's write aborts it too.
    assert_eq!(cmd(&mut a, &["WATCH", "w"]).await, ok());
    assert_eq!(cmd(&mut b, &["INCR", "w"]).await, int(3));
    cmd(&mut a, &["MULTI"]).await;
    cmd(&mut a, &["INCR", "w"]).await;
    assert_eq!(cmd(&mut a, &["EXEC"]).await, Reply::NullArray);

    // Untouched, the transaction runs; B's own transaction meanwhile
    // (on a shared connection) neither sees nor breaks A's WATCH.
    assert_eq!(cmd(&mut a, &["WATCH", "w"]).await, ok());
    cmd(&mut b, &["MULTI"]).await;
    cmd(&mut b, &["SET", "other", "x"]).await;
    assert_eq!(cmd(&mut b, &["EXEC"]).await, arr([ok()]));
    cmd(&mut a, &["MULTI"]).await;
    cmd(&mut a, &["INCR", "w"]).await;
    assert_eq!(cmd(&mut a, &["EXEC"]).await, arr([int(4)]));
    assert_eq!(cmd(&mut direct, &["GET", "w"]).await, bulk("4"));

    // WATCH pins a connection while it lives, released afterwards.
    cmd(&mut a, &["WATCH", "w"]).await;
    let info = parse_info(&cmd(&mut b, &["INFO", "upstream"]).await.text());
    assert_eq!(info["upstream_pinned_clients"], "1");
    cmd(&mut a, &["UNWATCH"]).await;
    let info = parse_info(&cmd(&mut b, &["INFO", "upstream"]).await.text());
    assert_eq!(info["upstream_pinned_clients"], "0");
    // A client that leaves while watching releases its pin too.
    cmd(&mut a, &["WATCH", "w"]).await;
    drop(a);
    wait_until(
        "the pin of a client that left is released",
        PATIENCE,
        || async {
            let info = parse_info(&proxy.raw().await.cmd(&["INFO", "upstream"]).await.text());
            info["upstream_pinned_clients"] == "0"
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blpop_through_the_proxy_is_woken_by_a_direct_lpush() {
    let Some(upstream) = RedisServer::start().await else {
        return;
    };
    let proxy = TestServer::upstream(&upstream, |_| {}).await;
    let mut blocked = proxy.raw().await;
    let mut other = proxy.raw().await;
    let mut direct = RawClient::connect(upstream.addr()).await;
    blocked.send_cmd(&["BLPOP", "queue", "0"]).await;
    // The proxy's other clients go on meanwhile.
    wait_until("the upstream sees the blocked client", PATIENCE, || async {
        let info = RawClient::connect(upstream.addr())
            .await
            .cmd(&["INFO", "clients"])
            .await
            .text();
        parse_info(&info)["blocked_clients"] == "1"
    })
    .await;
    assert_eq!(cmd(&mut other, &["SET", "x", "1"]).await, ok());
    assert_eq!(cmd(&mut direct, &["LPUSH", "queue", "job"]).await, int(1));
    assert_eq!(blocked.read().await, bulks(&["queue", "job"]));

    // CLIENT UNBLOCK on the proxy ends the wait upstream, as Redis would.
    blocked.send_cmd(&["BRPOP", "queue", "0"]).await;
    let blocked_client = wait_for_blocked_id(&mut other).await;
    assert_eq!(
        cmd(&mut other, &["CLIENT", "UNBLOCK", &blocked_client, "ERROR"]).await,
        int(1)
    );
    assert_eq!(
        blocked.read().await,
        err("UNBLOCKED client unblocked via CLIENT UNBLOCK")
    );
    // The connection stays usable.
    assert_eq!(cmd(&mut blocked, &["GET", "x"]).await, bulk("1"));
}

/// The proxy's CLIENT ID of its blocked client, once it is blocked.
async fn wait_for_blocked_id(c: &mut RawClient) -> String {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let list = c.cmd(&["CLIENT", "LIST"]).await.text();
        if let Some(line) = list.lines().find(|l| l.contains(" flags=b ")) {
            let id = line
                .split(' ')
                .find_map(|f| f.strip_prefix("id="))
                .expect("id field");
            return id.to_string();
        }
        assert!(Instant::now() < deadline, "no blocked client in {list}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_direct_write_is_seen_through_the_cache_within_50_ms() {
    let Some(upstream) = RedisServer::start().await else {
        return;
    };
    let proxy = TestServer::upstream(&upstream, |c| {
        c.metrics_addr = Some("127.0.0.1:0".parse().expect("address"));
    })
    .await;
    let mut c = proxy.raw().await;
    wait_until("the cache serves", PATIENCE, || async {
        proxy.scrape().await.value("redynamo_cache_serving", &[]) == 1.0
    })
    .await;
    assert_eq!(cmd(&mut c, &["SET", "hot", "v1"]).await, ok());
    // The first read fills the cache; the next ones are hits.
    assert_eq!(cmd(&mut c, &["GET", "hot"]).await, bulk("v1"));
    let hits = proxy.scrape().await.value("redynamo_cache_hits_total", &[]);
    for _ in 0..5 {
        assert_eq!(cmd(&mut c, &["GET", "hot"]).await, bulk("v1"));
    }
    let after = proxy.scrape().await.value("redynamo_cache_hits_total", &[]);
    assert_eq!(after - hits, 5.0, "the reads were answered from the cache");
    let calls = proxy
        .scrape()
        .await
        .sum("redynamo_upstream_calls_total", &[]);

    // redis-cli straight to the upstream.
    if !tool_available("redis-cli") {
        return;
    }
    redis_cli(upstream.addr().port(), &["SET", "hot", "v2"]).await;
    let written = Instant::now();
    loop {
        if cmd(&mut c, &["GET", "hot"]).await == bulk("v2") {
            break;
        }
        assert!(
            written.elapsed() < Duration::from_millis(50),
            "the proxy still served the old value 50 ms after the direct write"
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let seen = written.elapsed();
    assert!(seen < Duration::from_millis(50), "seen after {seen:?}");
    let scrape = proxy.scrape().await;
    assert!(scrape.value("redynamo_upstream_invalidations_total", &[]) >= 1.0);
    assert!(scrape.sum("redynamo_upstream_calls_total", &[]) > calls);

    // A key with a TTL is cached with it and not served past it, even if
    // the upstream's own expiry has not reached the key yet.
    cmd(&mut c, &["SET", "brief", "v", "PX", "150"]).await;
    assert_eq!(cmd(&mut c, &["GET", "brief"]).await, bulk("v"));
    assert_eq!(cmd(&mut c, &["GET", "brief"]).await, bulk("v"));
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(cmd(&mut c, &["GET", "brief"]).await, nil());

    // FLUSHALL straight to the upstream empties the cache.
    assert_eq!(cmd(&mut c, &["GET", "hot"]).await, bulk("v2"));
    redis_cli(upstream.addr().port(), &["FLUSHALL"]).await;
    wait_until(
        "the flush reaches the cache",
        Duration::from_millis(500),
        || async { proxy.raw().await.cmd(&["GET", "hot"]).await == nil() },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_upstream_lost_and_restarted_errors_then_recovers() {
    let Some(mut upstream) = RedisServer::start().await else {
        return;
    };
    let proxy = TestServer::upstream(&upstream, |c| {
        c.metrics_addr = Some("127.0.0.1:0".parse().expect("address"));
    })
    .await;
    let mut c = proxy.raw().await;
    assert_eq!(cmd(&mut c, &["SET", "k", "v"]).await, ok());
    assert_eq!(http_get(proxy.metrics_addr(), "/readyz").await.0, 200);

    upstream.kill().await;
    // Fast failure: a clear error at once, no hang.
    let asked = Instant::now();
    let reply = cmd(&mut c, &["SET", "k", "w"]).await;
    assert!(
        reply.error_text().starts_with("ERR upstream unavailable"),
        "{reply:?}"
    );
    assert!(
        asked.elapsed() < Duration::from_secs(2),
        "took {:?}",
        asked.elapsed()
    );
    wait_until("/readyz reports the upstream", PATIENCE, || async {
        let (status, body) = http_get(proxy.metrics_addr(), "/readyz").await;
        status == 503 && body.contains("upstream unavailable")
    })
    .await;
    let reply = cmd(&mut c, &["GET", "k"]).await;
    assert!(
        reply.error_text().starts_with("ERR upstream unavailable"),
        "{reply:?}"
    );

    upstream.restart().await;
    wait_until("the proxy reconnects by itself", PATIENCE, || async {
        proxy.raw().await.cmd(&["SET", "k", "back"]).await == ok()
    })
    .await;
    // The pool's other links reconnect on their own schedule: the old
    // client is served again once the link it lands on has.
    let deadline = Instant::now() + PATIENCE;
    let mut got = cmd(&mut c, &["GET", "k"]).await;
    while got != bulk("back") && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
        got = cmd(&mut c, &["GET", "k"]).await;
    }
    assert_eq!(got, bulk("back"));
    wait_until("/readyz is ready again", PATIENCE, || async {
        http_get(proxy.metrics_addr(), "/readyz").await.0 == 200
    })
    .await;
    let scrape = proxy.scrape().await;
    assert!(
        scrape.value(
            "redynamo_upstream_calls_total",
            &[("outcome", "unavailable")]
        ) >= 2.0
    );
    assert_eq!(scrape.value("redynamo_upstream_up", &[]), 1.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_stale_keeps_answering_cached_reads_while_the_upstream_is_down() {
    let Some(mut upstream) = RedisServer::start().await else {
        return;
    };
    let proxy = TestServer::upstream(&upstream, |c| {
        c.metrics_addr = Some("127.0.0.1:0".parse().expect("address"));
        c.serve_stale_on_error = true;
        c.serve_stale_max_ms = 60_000;
    })
    .await;
    let mut c = proxy.raw().await;
    wait_until("the cache serves", PATIENCE, || async {
        proxy.scrape().await.value("redynamo_cache_serving", &[]) == 1.0
    })
    .await;
    cmd(&mut c, &["SET", "cached", "v"]).await;
    assert_eq!(cmd(&mut c, &["GET", "cached"]).await, bulk("v"));

    upstream.kill().await;
    wait_until("the proxy notices", PATIENCE, || async {
        proxy
            .scrape()
            .await
            .value("redynamo_upstream_serving_stale", &[])
            == 1.0
    })
    .await;
    for _ in 0..3 {
        assert_eq!(cmd(&mut c, &["GET", "cached"]).await, bulk("v"));
    }
    // What the cache does not hold still fails, clearly.
    let reply = cmd(&mut c, &["GET", "uncached"]).await;
    assert!(
        reply.error_text().starts_with("ERR upstream unavailable"),
        "{reply:?}"
    );
    let scrape = proxy.scrape().await;
    assert!(scrape.value("redynamo_upstream_stale_reads_total", &[]) >= 3.0);

    // Back: the cache is flushed (it may have missed writes) and serves.
    upstream.restart().await;
    wait_until(
        "the upstream (empty after its restart) answers",
        PATIENCE,
        || async { proxy.raw().await.cmd(&["GET", "cached"]).await == nil() },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_serve_stale_a_lost_upstream_stops_the_cache_at_once() {
    let Some(mut upstream) = RedisServer::start().await else {
        return;
    };
    let proxy = TestServer::upstream(&upstream, |c| {
        c.metrics_addr = Some("127.0.0.1:0".parse().expect("address"));
    })
    .await;
    let mut c = proxy.raw().await;
    wait_until("the cache serves", PATIENCE, || async {
        proxy.scrape().await.value("redynamo_cache_serving", &[]) == 1.0
    })
    .await;
    cmd(&mut c, &["SET", "cached", "v"]).await;
    assert_eq!(cmd(&mut c, &["GET", "cached"]).await, bulk("v"));
    upstream.kill().await;
    wait_until("the cache stops serving", PATIENCE, || async {
        proxy.scrape().await.value("redynamo_cache_serving", &[]) == 0.0
    })
    .await;
    let reply = cmd(&mut c, &["GET", "cached"]).await;
    assert!(
        reply.error_text().starts_with("ERR upstream unavailable"),
        "{reply:?}"
    );
    assert_eq!(
        proxy.scrape().await.value("redynamo_cache_entries", &[]),
        0.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cut_invalidation_connection_stops_the_cache_until_tracking_is_back() {
    let Some(upstream) = RedisServer::start().await else {
        return;
    };
    let proxy = TestServer::upstream(&upstream, |c| {
        c.metrics_addr = Some("127.0.0.1:0".parse().expect("address"));
    })
    .await;
    let mut c = proxy.raw().await;
    let mut direct = RawClient::connect(upstream.addr()).await;
    wait_until("the cache serves", PATIENCE, || async {
        proxy.scrape().await.value("redynamo_cache_serving", &[]) == 1.0
    })
    .await;
    cmd(&mut c, &["SET", "k", "before"]).await;
    assert_eq!(cmd(&mut c, &["GET", "k"]).await, bulk("before"));
    assert_eq!(cmd(&mut c, &["GET", "k"]).await, bulk("before"));

    // No new connection may reach the upstream: the invalidation
    // connection, once killed, cannot come back until this is undone.
    // Redis refuses a new client when the clients it has reach the limit
    // before counting the new one: once the invalidation connection is
    // gone, `connected - 1` leaves no room for it.
    let clients = direct.cmd(&["CLIENT", "LIST"]).await.text();
    let connected = clients.lines().count();
    let limit = (connected - 1).to_string();
    assert_eq!(
        direct.cmd(&["CONFIG", "SET", "maxclients", &limit]).await,
        ok()
    );
    let killed = direct
        .cmd(&["CLIENT", "KILL", "ADDR", &invalidation_addr(&clients)])
        .await;
    assert_eq!(killed, int(1));
    wait_until("the cache stops serving", PATIENCE, || async {
        proxy.scrape().await.value("redynamo_cache_serving", &[]) == 0.0
    })
    .await;
    // A write the proxy cannot hear about; reads go to the upstream.
    assert_eq!(cmd(&mut direct, &["SET", "k", "during"]).await, ok());
    assert_eq!(cmd(&mut c, &["GET", "k"]).await, bulk("during"));
    let scrape = proxy.scrape().await;
    assert_eq!(scrape.value("redynamo_upstream_tracking_live", &[]), 0.0);
    assert!(scrape.value("redynamo_upstream_tracking_losses_total", &[]) >= 1.0);
    let info = parse_info(&cmd(&mut c, &["INFO", "upstream"]).await.text());
    assert_ne!(info["upstream_tracking"], "live");

    // Let it back in: tracking is re-established and the cache serves,
    // with nothing from before.
    direct.cmd(&["CONFIG", "SET", "maxclients", "10000"]).await;
    wait_until("the cache serves again", PATIENCE, || async {
        proxy.scrape().await.value("redynamo_cache_serving", &[]) == 1.0
    })
    .await;
    assert_eq!(cmd(&mut c, &["GET", "k"]).await, bulk("during"));
    assert_eq!(cmd(&mut direct, &["SET", "k", "after"]).await, ok());
    wait_until(
        "the new registration carries invalidations",
        Duration::from_millis(500),
        || async { proxy.raw().await.cmd(&["GET", "k"]).await == bulk("after") },
    )
    .await;
}

/// The address of the proxy's invalidation connection in CLIENT LIST.
fn invalidation_addr(clients: &str) -> String {
    clients
        .lines()
        .find(|l| l.contains("name=redynamo-invalidations"))
        .and_then(|l| l.split(' ').find_map(|f| f.strip_prefix("addr=")))
        .unwrap_or_else(|| panic!("no invalidation connection in {clients}"))
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replies_keep_the_upstreams_bytes_in_each_protocol() {
    let Some(upstream) = RedisServer::start().await else {
        return;
    };
    let Some(oracle) = RedisServer::start().await else {
        return;
    };
    let proxy = TestServer::upstream(&upstream, |_| {}).await;
    let mut ours = proxy.raw().await;
    let mut theirs = RawClient::connect(oracle.addr()).await;
    for line in [
        &["ZADD", "z", "1.1", "a", "2.5", "b"][..],
        &["ZSCORE", "z", "a"],
        &["ZRANGE", "z", "0", "-1", "WITHSCORES"],
        &["HSET", "h", "f", "v"],
        &["HGETALL", "h"],
        &["HELLO", "3"],
        &["ZSCORE", "z", "a"],
        &["ZRANGE", "z", "0", "-1", "WITHSCORES"],
        &["HGETALL", "h"],
        &["SMEMBERS", "nothing"],
        &["GET", "nothing"],
    ] {
        let theirs_bytes = theirs.cmd_bytes(line).await;
        let ours_bytes = ours.cmd_bytes(line).await;
        if line[0] == "HELLO" {
            continue;
        }
        assert_eq!(
            String::from_utf8_lossy(&ours_bytes),
            String::from_utf8_lossy(&theirs_bytes),
            "{line:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_url_db_is_the_proxys_db_0() {
    let Some(upstream) = RedisServer::start().await else {
        return;
    };
    let url = format!("{}/3", upstream.url());
    let mut config = redynamo::config::Config::for_tests();
    config.backend = redynamo::config::BackendKind::Redis;
    config.upstream = Some(url);
    let proxy = TestServer::with_config(config).await;
    let mut c = proxy.raw().await;
    let mut direct = RawClient::connect(upstream.addr()).await;
    assert_eq!(cmd(&mut c, &["SET", "k", "zero"]).await, ok());
    cmd(&mut c, &["SELECT", "2"]).await;
    assert_eq!(cmd(&mut c, &["SET", "k", "two"]).await, ok());
    cmd(&mut direct, &["SELECT", "3"]).await;
    assert_eq!(cmd(&mut direct, &["GET", "k"]).await, bulk("zero"));
    cmd(&mut direct, &["SELECT", "5"]).await;
    assert_eq!(cmd(&mut direct, &["GET", "k"]).await, bulk("two"));
    // Past the upstream's 16 dbs: refused before anything is sent.
    cmd(&mut c, &["SELECT", "13"]).await;
    assert_eq!(
        cmd(&mut c, &["GET", "k"]).await,
        err("ERR DB index is out of range")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_to_the_proxy_is_the_proxys_own() {
    let Some(upstream) = RedisServer::start().await else {
        return;
    };
    // The upstream wants a password the proxy's clients never see.
    let mut direct = RawClient::connect(upstream.addr()).await;
    direct
        .cmd(&["CONFIG", "SET", "requirepass", "upstream-secret"])
        .await;
    let url = format!("redis://:upstream-secret@{}", upstream.addr());
    let mut config = redynamo::config::Config::for_tests();
    config.backend = redynamo::config::BackendKind::Redis;
    config.upstream = Some(url);
    config.requirepass = Some("proxy-secret".into());
    let proxy = TestServer::with_config(config).await;
    let mut c = proxy.raw().await;
    assert_eq!(
        cmd(&mut c, &["GET", "k"]).await,
        err("NOAUTH Authentication required.")
    );
    assert!(cmd(&mut c, &["AUTH", "upstream-secret"]).await.is_error());
    assert_eq!(cmd(&mut c, &["AUTH", "proxy-secret"]).await, ok());
    wait_until("the proxy logs in upstream", PATIENCE, || async {
        let mut c = proxy.raw().await;
        c.cmd(&["AUTH", "proxy-secret"]).await;
        c.cmd(&["SET", "k", "v"]).await == ok()
    })
    .await;
    assert_eq!(cmd(&mut c, &["GET", "k"]).await, bulk("v"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_command_in_the_table_is_answered_through_the_proxy() {
    let Some(upstream) = RedisServer::start().await else {
        return;
    };
    let proxy = TestServer::upstream(&upstream, |_| {}).await;
    let mut c = proxy.raw().await;
    let mut checked = 0;
    for spec in redynamo::layers::command::all_specs() {
        // Containers (their subcommands are checked), the commands that
        // close the connection or stop the server, and MONITOR, which turns
        // the connection into a feed (tests/monitor.rs covers it).
        if !spec.subcommands.is_empty() || matches!(spec.name, "quit" | "shutdown" | "monitor") {
            continue;
        }
        let mut args: Vec<&str> = spec.name.split('|').collect();
        while args.len() < spec.arity.unsigned_abs() as usize {
            args.push("1");
        }
        // Blocking commands wait their timeout ("1" s) at most.
        let reply = c.cmd(&args).await;
        if let Reply::Error(e) = &reply {
            let e = String::from_utf8_lossy(e);
            assert!(
                !e.contains("is not supported by the") && !e.contains("upstream unavailable"),
                "{args:?}: {e}"
            );
        }
        if spec.name == "multi" {
            c.cmd(&["DISCARD"]).await;
        }
        if spec.name == "hello" {
            c.cmd(&["HELLO", "2"]).await;
        }
        // The subscribe family leaves the connection subscribed.
        if matches!(spec.name, "subscribe" | "psubscribe" | "ssubscribe") {
            assert_eq!(c.cmd(&["RESET"]).await, simple("RESET"), "{args:?}");
        }
        assert_eq!(c.cmd(&["PING"]).await, simple("PONG"), "after {args:?}");
        checked += 1;
    }
    assert!(checked > 80, "only {checked} commands checked");
}
