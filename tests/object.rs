//! OBJECT and MEMORY USAGE over real TCP: the encodings of every type as
//! Redis 7.2 names them (small collections in their compact encoding,
//! large ones indexed), and MEMORY USAGE growing with what a key holds.
//! (tests/differential.rs and tests/differential_sort.rs compare what
//! Redis 7.0 and 7.2 share byte for byte.)

mod common;

use common::*;

#[tokio::test]
async fn encodings_follow_the_size_of_each_type() {
    let server = TestServer::start().await;
    let mut c = server.raw().await;
    let enc = |r: Reply| r.text();
    let big = "x".repeat(100);

    c.cmd(&["rpush", "list", "a", "b"]).await;
    assert_eq!(
        enc(c.cmd(&["object", "encoding", "list"]).await),
        "listpack"
    );
    for _ in 0..200 {
        c.cmd(&["rpush", "list", &big]).await;
    }
    assert_eq!(
        enc(c.cmd(&["object", "encoding", "list"]).await),
        "quicklist"
    );

    c.cmd(&["sadd", "ints", "1", "2", "3"]).await;
    assert_eq!(enc(c.cmd(&["object", "encoding", "ints"]).await), "intset");
    c.cmd(&["sadd", "strs", "a", "b"]).await;
    assert_eq!(
        enc(c.cmd(&["object", "encoding", "strs"]).await),
        "listpack"
    );
    c.cmd(&["sadd", "strs", &big]).await;
    assert_eq!(
        enc(c.cmd(&["object", "encoding", "strs"]).await),
        "hashtable"
    );

    c.cmd(&["zadd", "z", "1", "a"]).await;
    assert_eq!(enc(c.cmd(&["object", "encoding", "z"]).await), "listpack");
    c.cmd(&["zadd", "z", "2", &big]).await;
    assert_eq!(enc(c.cmd(&["object", "encoding", "z"]).await), "skiplist");

    c.cmd(&["hset", "h", "f", "v"]).await;
    assert_eq!(enc(c.cmd(&["object", "encoding", "h"]).await), "listpack");
    c.cmd(&["hset", "h", "g", &big]).await;
    assert_eq!(enc(c.cmd(&["object", "encoding", "h"]).await), "hashtable");

    c.cmd(&["set", "n", "42"]).await;
    assert_eq!(enc(c.cmd(&["object", "encoding", "n"]).await), "int");
    c.cmd(&["set", "s", &big]).await;
    assert_eq!(enc(c.cmd(&["object", "encoding", "s"]).await), "raw");
    assert_eq!(c.cmd(&["object", "refcount", "h"]).await, int(1));
    assert_eq!(c.cmd(&["object", "idletime", "h"]).await, int(0));
    assert_eq!(c.cmd(&["object", "encoding", "missing"]).await, nil());
    server.stop().await;
}

#[tokio::test]
async fn memory_usage_grows_with_the_value() {
    let server = TestServer::start().await;
    let mut c = server.raw().await;
    c.cmd(&["rpush", "l", "a"]).await;
    let small = c.cmd(&["memory", "usage", "l"]).await.int();
    let many: Vec<String> = (0..1000).map(|i| format!("element-{i}")).collect();
    let mut args = vec!["rpush", "l"];
    args.extend(many.iter().map(String::as_str));
    c.cmd(&args).await;
    let large = c.cmd(&["memory", "usage", "l", "samples", "0"]).await.int();
    assert!(small > 0 && large > small + 10_000, "{small} → {large}");
    assert_eq!(c.cmd(&["memory", "usage", "missing"]).await, nil());
    server.stop().await;
}
