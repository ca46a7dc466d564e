//! Keyspace commands over real TCP, with Redis 7's replies. Assertions are
//! ported from Redis' `tests/unit/keyspace.tcl`, `expire.tcl` and
//! `scan.tcl` where they apply to strings.

// A test fails by panicking: unwrap is the point here, not a shortcut.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::{BTreeSet, HashSet};

use common::*;
use redis::AsyncCommands;

#[tokio::test]
async fn del_unlink_exists_type_touch() {
    let server = TestServer::start().await;
    let mut c = server.raw().await;
    assert_eq!(c.cmd(&["MSET", "a", "1", "b", "2", "c", "3"]).await, ok());
    assert_eq!(c.cmd(&["DEL", "a", "b", "nokey"]).await, int(2));
    assert_eq!(
        c.cmd(&["EXISTS", "c", "c", "nokey"]).await,
        int(2),
        "EXISTS counts repeats"
    );
    assert_eq!(c.cmd(&["TYPE", "c"]).await, simple("string"));
    assert_eq!(c.cmd(&["TYPE", "nokey"]).await, simple("none"));
    assert_eq!(c.cmd(&["TOUCH", "c", "nokey", "c"]).await, int(2));
    assert_eq!(c.cmd(&["UNLINK", "c", "nokey"]).await, int(1));
    assert_eq!(c.cmd(&["EXISTS", "c"]).await, int(0));
    assert_eq!(
        c.cmd(&["DEL"]).await,
        err("ERR wrong number of arguments for 'del' command")
    );
    // The redis crate sees the same.
    let mut con = server.conn().await;
    let _: () = con.set("k", "v").await.unwrap();
    let n: i64 = con.del(&["k", "k2"]).await.unwrap();
    assert_eq!(n, 1);
    let there: bool = con.exists("k").await.unwrap();
    assert!(!there);
}

#[tokio::test]
async fn expire_family_with_nx_xx_gt_lt() {
    let server = TestServer::start().await;
    let mut c = server.raw().await;
    assert_eq!(c.cmd(&["SET", "s", "v"]).await, ok());
    assert_eq!(c.cmd(&["EXPIRE", "s", "100"]).await, int(1));
    assert_eq!(c.cmd(&["TTL", "s"]).await, int(100));
    let pttl = c.cmd(&["PTTL", "s"]).await.int();
    assert!((99_000..=100_000).contains(&pttl), "pttl {pttl}");
    assert_eq!(
        c.cmd(&["EXPIRE", "s", "100", "NX"]).await,
        int(0),
        "NX with a TTL"
    );
    assert_eq!(
        c.cmd(&["EXPIRE", "s", "200", "XX"]).await,
        int(1),
        "XX with a TTL"
    );
    assert_eq!(c.cmd(&["TTL", "s"]).await, int(200));
    assert_eq!(c.cmd(&["EXPIRE", "s", "50", "GT"]).await, int(0));
    assert_eq!(c.cmd(&["EXPIRE", "s", "500", "GT"]).await, int(1));
    assert_eq!(c.cmd(&["EXPIRE", "s", "600", "LT"]).await, int(0));
    assert_eq!(c.cmd(&["EXPIRE", "s", "50", "LT"]).await, int(1));
    assert_eq!(c.cmd(&["TTL", "s"]).await, int(50));
    // A key without TTL counts as an infinite TTL for GT/LT
    assert_eq!(c.cmd(&["SET", "p", "v"]).await, ok());
    assert_eq!(c.cmd(&["EXPIRE", "p", "10", "XX"]).await, int(0));
    assert_eq!(c.cmd(&["EXPIRE", "p", "10", "GT"]).await, int(0));
    assert_eq!(c.cmd(&["EXPIRE", "p", "10", "LT"]).await, int(1));
    assert_eq!(c.cmd(&["TTL", "p"]).await, int(10));
    assert_eq!(c.cmd(&["PEXPIRE", "p", "20000", "GT"]).await, int(1));
    assert_eq!(c.cmd(&["TTL", "p"]).await, int(20));
    // Option errors
    assert_eq!(
        c.cmd(&["EXPIRE", "s", "10", "NX", "XX"]).await,
        err("ERR NX and XX, GT or LT options at the same time are not compatible")
    );
    assert_eq!(
        c.cmd(&["EXPIRE", "s", "10", "GT", "LT"]).await,
        err("ERR GT and LT options at the same time are not compatible")
    );
    assert_eq!(
        c.cmd(&["EXPIRE", "s", "10", "foo"]).await,
        err("ERR Unsupported option foo")
    );
    assert_eq!(
        c.cmd(&["EXPIRE", "s", "abc"]).await,
        err("ERR value is not an integer or out of range")
    );
    assert_eq!(c.cmd(&["EXPIRE", "nokey", "10"]).await, int(0));
    // Flags are read before the number, as in Redis.
    assert_eq!(
        c.cmd(&["EXPIRE", "s", "abc", "foo"]).await,
        err("ERR Unsupported option foo")
    );
    assert_eq!(
        c.cmd(&["PEXPIRE", "s", "abc", "NX", "LT"]).await,
        err("ERR NX and XX, GT or LT options at the same time are not compatible")
    );
    // Overflow checks
    assert_eq!(
        c.cmd(&["EXPIRE", "s", "9223372036854775807"]).await,
        err("ERR invalid expire time in 'expire' command")
    );
    assert_eq!(
        c.cmd(&["PEXPIRE", "s", "9223372036854775807"]).await,
        err("ERR invalid expire time in 'pexpire' command")
    );
    assert_eq!(
        c.cmd(&["EXPIREAT", "s", "9223372036854775807"]).await,
        err("ERR invalid expire time in 'expireat' command")
    );
    // A deadline in the past deletes the key and answers 1
    assert_eq!(c.cmd(&["SET", "gone", "v"]).await, ok());
    assert_eq!(c.cmd(&["EXPIRE", "gone", "-1"]).await, int(1));
    assert_eq!(c.cmd(&["EXISTS", "gone"]).await, int(0));
    assert_eq!(c.cmd(&["SET", "gone", "v"]).await, ok());
    assert_eq!(c.cmd(&["PEXPIRE", "gone", "0"]).await, int(1));
    assert_eq!(c.cmd(&["EXISTS", "gone"]).await, int(0));
    assert_eq!(c.cmd(&["SET", "gone", "v"]).await, ok());
    assert_eq!(c.cmd(&["EXPIREAT", "gone", "1"]).await, int(1));
    assert_eq!(c.cmd(&["EXISTS", "gone"]).await, int(0));
}

#[tokio::test]
async fn ttl_pttl_expiretime_persist() {
    let server = TestServer::start().await;
    let mut c = server.raw().await;
    assert_eq!(c.cmd(&["TTL", "nokey"]).await, int(-2));
    assert_eq!(c.cmd(&["PTTL", "nokey"]).await, int(-2));
    assert_eq!(c.cmd(&["EXPIRETIME", "nokey"]).await, int(-2));
    assert_eq!(c.cmd(&["PEXPIRETIME", "nokey"]).await, int(-2));
    assert_eq!(c.cmd(&["SET", "p", "v"]).await, ok());
    assert_eq!(c.cmd(&["TTL", "p"]).await, int(-1));
    assert_eq!(c.cmd(&["PTTL", "p"]).await, int(-1));
    assert_eq!(c.cmd(&["EXPIRETIME", "p"]).await, int(-1));
    assert_eq!(c.cmd(&["PEXPIRETIME", "p"]).await, int(-1));
    // EXPIRETIME/PEXPIRETIME give the absolute deadline
    assert_eq!(c.cmd(&["PEXPIREAT", "p", "33177117420000"]).await, int(1));
    assert_eq!(c.cmd(&["PEXPIRETIME", "p"]).await, int(33177117420000));
    assert_eq!(c.cmd(&["EXPIRETIME", "p"]).await, int(33177117420));
    assert_eq!(c.cmd(&["EXPIREAT", "p", "33177117421"]).await, int(1));
    assert_eq!(c.cmd(&["PEXPIRETIME", "p"]).await, int(33177117421000));
    // PERSIST
    assert_eq!(c.cmd(&["PERSIST", "p"]).await, int(1));
    assert_eq!(c.cmd(&["PERSIST", "p"]).await, int(0));
    assert_eq!(c.cmd(&["TTL", "p"]).await, int(-1));
    assert_eq!(c.cmd(&["PERSIST", "nokey"]).await, int(0));
    // TTL rounds to the nearest second, as Redis does
    assert_eq!(c.cmd(&["PEXPIRE", "p", "1600"]).await, int(1));
    assert_eq!(c.cmd(&["TTL", "p"]).await, int(2));
}

#[tokio::test]
async fn rename_and_renamenx() {
    let server = TestServer::start().await;
    let mut c = server.raw().await;
    assert_eq!(c.cmd(&["SET", "mykey", "hello"]).await, ok());
    assert_eq!(c.cmd(&["RENAME", "mykey", "mykey1"]).await, ok());
    assert_eq!(c.cmd(&["GET", "mykey1"]).await, bulk("hello"));
    assert_eq!(c.cmd(&["EXISTS", "mykey"]).await, int(0));
    assert_eq!(
        c.cmd(&["RENAME", "nokey", "x"]).await,
        err("ERR no such key")
    );
    assert_eq!(
        c.cmd(&["RENAMENX", "nokey", "x"]).await,
        err("ERR no such key")
    );
    // RENAME with the same source and destination
    assert_eq!(c.cmd(&["RENAME", "mykey1", "mykey1"]).await, ok());
    assert_eq!(c.cmd(&["RENAMENX", "mykey1", "mykey1"]).await, int(0));
    assert_eq!(c.cmd(&["GET", "mykey1"]).await, bulk("hello"));
    // RENAME overwrites, RENAMENX does not
    assert_eq!(c.cmd(&["SET", "other", "x"]).await, ok());
    assert_eq!(c.cmd(&["RENAMENX", "mykey1", "other"]).await, int(0));
    assert_eq!(c.cmd(&["GET", "other"]).await, bulk("x"));
    assert_eq!(c.cmd(&["RENAME", "mykey1", "other"]).await, ok());
    assert_eq!(c.cmd(&["GET", "other"]).await, bulk("hello"));
    assert_eq!(c.cmd(&["RENAMENX", "other", "fresh"]).await, int(1));
    assert_eq!(c.cmd(&["GET", "fresh"]).await, bulk("hello"));
    // RENAME keeps the TTL of the source
    assert_eq!(c.cmd(&["SET", "t", "v", "EX", "100"]).await, ok());
    assert_eq!(c.cmd(&["RENAME", "t", "t2"]).await, ok());
    assert_eq!(c.cmd(&["TTL", "t2"]).await, int(100));
    // … and a destination's old TTL does not survive
    assert_eq!(c.cmd(&["SET", "src", "v"]).await, ok());
    assert_eq!(c.cmd(&["RENAME", "src", "t2"]).await, ok());
    assert_eq!(c.cmd(&["TTL", "t2"]).await, int(-1));
}

#[tokio::test]
async fn copy_with_db_and_replace() {
    let server = TestServer::start().await;
    let mut c = server.raw().await;
    assert_eq!(c.cmd(&["SET", "src", "v", "EX", "100"]).await, ok());
    assert_eq!(c.cmd(&["COPY", "src", "dst"]).await, int(1));
    assert_eq!(c.cmd(&["GET", "dst"]).await, bulk("v"));
    assert_eq!(c.cmd(&["TTL", "dst"]).await, int(100), "COPY keeps the TTL");
    assert_eq!(c.cmd(&["SET", "src", "w"]).await, ok());
    assert_eq!(
        c.cmd(&["COPY", "src", "dst"]).await,
        int(0),
        "destination exists"
    );
    assert_eq!(c.cmd(&["GET", "dst"]).await, bulk("v"));
    assert_eq!(c.cmd(&["COPY", "src", "dst", "REPLACE"]).await, int(1));
    assert_eq!(c.cmd(&["GET", "dst"]).await, bulk("w"));
    assert_eq!(c.cmd(&["TTL", "dst"]).await, int(-1));
    assert_eq!(c.cmd(&["COPY", "nokey", "x"]).await, int(0));
    // Across databases
    assert_eq!(c.cmd(&["COPY", "src", "dst", "DB", "1"]).await, int(1));
    assert_eq!(c.cmd(&["COPY", "src", "dst", "DB", "1"]).await, int(0));
    assert_eq!(
        c.cmd(&["COPY", "src", "src", "DB", "2"]).await,
        int(1),
        "same name, other db"
    );
    assert_eq!(c.cmd(&["SELECT", "1"]).await, ok());
    assert_eq!(c.cmd(&["GET", "dst"]).await, bulk("w"));
    assert_eq!(c.cmd(&["SELECT", "2"]).await, ok());
    assert_eq!(c.cmd(&["GET", "src"]).await, bulk("w"));
    assert_eq!(c.cmd(&["SELECT", "0"]).await, ok());
    // Errors
    assert_eq!(
        c.cmd(&["COPY", "src", "src"]).await,
        err("ERR source and destination objects are the same")
    );
    assert_eq!(
        c.cmd(&["COPY", "src", "src", "DB", "0"]).await,
        err("ERR source and destination objects are the same")
    );
    assert_eq!(
        c.cmd(&["COPY", "src", "x", "DB", "16"]).await,
        err("ERR DB index is out of range")
    );
    assert_eq!(
        c.cmd(&["COPY", "src", "x", "DB", "-1"]).await,
        err("ERR DB index is out of range")
    );
    assert_eq!(
        c.cmd(&["COPY", "src", "x", "DB", "abc"]).await,
        err("ERR value is not an integer or out of range")
    );
    assert_eq!(
        c.cmd(&["COPY", "src", "x", "foo"]).await,
        err("ERR syntax error")
    );
}

#[tokio::test]
async fn keys_patterns() {
    let server = TestServer::start().await;
    let mut c = server.raw().await;
    assert_eq!(
        c.cmd(&[
            "MSET", "one", "1", "two", "2", "three", "3", "four", "4", "hello", "5", "hallo", "6",
            "hxllo", "7", "hllo", "8", "heeeello", "9", "h[llo", "10",
        ])
        .await,
        ok()
    );
    let keys = |r: Reply| -> BTreeSet<String> { r.items().iter().map(Reply::text).collect() };
    let set = |v: &[&str]| -> BTreeSet<String> { v.iter().map(|s| s.to_string()).collect() };
    for (pattern, want) in [
        ("h?llo", &["hello", "hallo", "hxllo", "h[llo"][..]),
        (
            "h*llo",
            &["hello", "hallo", "hxllo", "hllo", "heeeello", "h[llo"],
        ),
        ("h[ae]llo", &["hello", "hallo"]),
        ("h[^e]llo", &["hallo", "hxllo", "h[llo"]),
        ("h[a-b]llo", &["hallo"]),
        ("h\\[llo", &["h[llo"]),
        (
            "*o",
            &[
                "two", "hello", "hallo", "hxllo", "hllo", "heeeello", "h[llo",
            ],
        ),
        ("nomatch*", &[]),
        ("t*", &["two", "three"]),
    ] {
        assert_eq!(
            keys(c.cmd(&["KEYS", pattern]).await),
            set(want),
            "KEYS {pattern}"
        );
    }
    assert_eq!(c.cmd(&["KEYS", "*"]).await.items().len(), 10);
    assert_eq!(c.cmd(&["DBSIZE"]).await, int(10));
    // Expired keys are not listed
    assert_eq!(c.cmd(&["SET", "tmp", "v", "PXAT", "1"]).await, ok());
    assert_eq!(c.cmd(&["KEYS", "tmp"]).await, arr([]));
}

/// Scan to cursor 0 with `extra` options; returns every key seen, in order.
async fn scan_all(c: &mut RawClient, extra: &[&str]) -> Vec<String> {
    let mut cursor = "0".to_string();
    let mut seen = Vec::new();
    let mut rounds = 0;
    loop {
        let mut args = vec!["SCAN", cursor.as_str()];
        args.extend_from_slice(extra);
        let reply = c.cmd(&args).await;
        let [next, batch] = reply.items() else {
            panic!("SCAN reply is not a pair: {reply:?}");
        };
        seen.extend(batch.items().iter().map(Reply::text));
        cursor = next.text();
        rounds += 1;
        assert!(rounds < 100_000, "SCAN never returned to cursor 0");
        if cursor == "0" {
            return seen;
        }
    }
}

#[tokio::test]
async fn scan_sees_every_key_exactly_once() {
    let server = TestServer::start().await;
    let mut c = server.raw().await;
    let mut args = vec!["MSET".to_string()];
    for i in 0..1000 {
        args.push(format!("key:{i}"));
        args.push(i.to_string());
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    assert_eq!(c.cmd(&args).await, ok());
    for count in [None, Some("1"), Some("7"), Some("100"), Some("100000")] {
        let extra: Vec<&str> = count.map(|n| vec!["COUNT", n]).unwrap_or_default();
        let seen = scan_all(&mut c, &extra).await;
        let unique: HashSet<&String> = seen.iter().collect();
        assert_eq!(
            unique.len(),
            seen.len(),
            "SCAN COUNT {count:?} returned a key twice"
        );
        assert_eq!(seen.len(), 1000, "SCAN COUNT {count:?} missed keys");
    }
    // MATCH filters
    let matched = scan_all(&mut c, &["MATCH", "key:1?", "COUNT", "50"]).await;
    let matched: BTreeSet<String> = matched.into_iter().collect();
    let want: BTreeSet<String> = (10..20).map(|i| format!("key:{i}")).collect();
    assert_eq!(matched, want);
    // TYPE filters
    assert_eq!(
        scan_all(&mut c, &["TYPE", "string", "COUNT", "1000"])
            .await
            .len(),
        1000
    );
    assert!(scan_all(&mut c, &["TYPE", "list"]).await.is_empty());
    assert!(scan_all(&mut c, &["MATCH", "nomatch*"]).await.is_empty());
}

#[tokio::test]
async fn scan_returns_keys_that_exist_for_the_whole_scan_while_others_change() {
    let server = TestServer::start().await;
    let mut c = server.raw().await;
    let mut writer = server.raw().await;
    let mut args = vec!["MSET".to_string()];
    for i in 0..500 {
        args.push(format!("stable:{i}"));
        args.push("v".into());
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    assert_eq!(c.cmd(&args).await, ok());
    let mut cursor = "0".to_string();
    let mut seen = HashSet::new();
    let mut round = 0;
    loop {
        let reply = c.cmd(&["SCAN", &cursor, "COUNT", "20"]).await;
        let [next, batch] = reply.items() else {
            panic!("bad SCAN reply {reply:?}")
        };
        for k in batch.items() {
            let k = k.text();
            assert!(seen.insert(k.clone()), "{k} returned twice");
        }
        // Grow the keyspace a lot between calls.
        let mut grow = vec!["MSET".to_string()];
        for i in 0..50 {
            grow.push(format!("new:{round}:{i}"));
            grow.push("v".into());
        }
        let grow: Vec<&str> = grow.iter().map(String::as_str).collect();
        assert_eq!(writer.cmd(&grow).await, ok());
        round += 1;
        cursor = next.text();
        if cursor == "0" {
            break;
        }
    }
    for i in 0..500 {
        assert!(
            seen.contains(&format!("stable:{i}")),
            "stable:{i} was never returned"
        );
    }
}

#[tokio::test]
async fn scan_errors() {
    let server = TestServer::start().await;
    let mut c = server.raw().await;
    assert_eq!(c.cmd(&["SCAN", "abc"]).await, err("ERR invalid cursor"));
    assert_eq!(
        c.cmd(&["SCAN", "0", "COUNT", "0"]).await,
        err("ERR syntax error")
    );
    assert_eq!(
        c.cmd(&["SCAN", "0", "COUNT", "abc"]).await,
        err("ERR value is not an integer or out of range")
    );
    assert_eq!(
        c.cmd(&["SCAN", "0", "MATCH"]).await,
        err("ERR syntax error")
    );
    assert_eq!(
        c.cmd(&["SCAN", "0", "foo", "bar"]).await,
        err("ERR syntax error")
    );
    // An empty db: cursor 0, no keys
    assert_eq!(c.cmd(&["SCAN", "0"]).await, arr([bulk("0"), arr([])]));
}

#[tokio::test]
async fn randomkey() {
    let server = TestServer::start().await;
    let mut c = server.raw().await;
    assert_eq!(c.cmd(&["RANDOMKEY"]).await, nil());
    assert_eq!(c.cmd(&["MSET", "a", "1", "b", "2", "c", "3"]).await, ok());
    let mut seen = BTreeSet::new();
    for _ in 0..200 {
        seen.insert(c.cmd(&["RANDOMKEY"]).await.text());
    }
    let all: BTreeSet<String> = ["a", "b", "c"].iter().map(|s| s.to_string()).collect();
    assert_eq!(seen, all, "200 draws from 3 keys see each of them");
    // Only expired keys: RANDOMKEY never returns one of them
    assert_eq!(c.cmd(&["FLUSHDB"]).await, ok());
    assert_eq!(c.cmd(&["SET", "x", "1"]).await, ok());
    assert_eq!(c.cmd(&["SET", "y", "1", "PX", "1"]).await, ok());
    let gone = eventually(std::time::Duration::from_millis(300), || async {
        // A fresh connection per poll: the borrow checker and the server
        // agree this is simplest.
        let mut probe = server.raw().await;
        probe.cmd(&["PTTL", "y"]).await == int(-2)
    })
    .await
    .is_some();
    assert!(gone, "y expired");
    for _ in 0..20 {
        assert_eq!(c.cmd(&["RANDOMKEY"]).await, bulk("x"));
    }
}
