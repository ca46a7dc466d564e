//! Key expiry on a real server: lazy (a read of an expired key finds it
//! gone) and active (a background cycle deletes expired keys nobody
//! touches). The server's store runs on a manual clock that the tests
//! advance, so a deadline passes exactly when a test says so; only the
//! active cycle's own tick (every 100 ms of real time) is waited for.

// A test fails by panicking: unwrap is the point here, not a shortcut.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::HashMap;
use std::time::Duration;

use common::*;
use redynamo::util::clock::Clock;

/// A manual clock at a fixed, realistic Unix time.
fn clock() -> Clock {
    Clock::manual(1_700_000_000_000)
}

const LIMIT: Duration = Duration::from_millis(300);

fn stat(info: &str, name: &str) -> u64 {
    let fields: HashMap<&str, &str> = info
        .split("\r\n")
        .filter_map(|l| l.split_once(':'))
        .collect();
    fields[name].parse().unwrap()
}

#[tokio::test]
async fn lazy_expiry_hides_and_deletes_the_key() {
    let clock = clock();
    let server = TestServer::with_clock(clock.clone()).await;
    let mut c = server.raw().await;
    assert_eq!(c.cmd(&["SET", "k", "v", "PX", "150"]).await, ok());
    assert_eq!(
        c.cmd(&["GET", "k"]).await,
        bulk("v"),
        "alive before its deadline"
    );
    assert_eq!(c.cmd(&["PTTL", "k"]).await, int(150));
    clock.advance(149);
    assert_eq!(c.cmd(&["PTTL", "k"]).await, int(1));
    assert_eq!(c.cmd(&["GET", "k"]).await, bulk("v"), "alive 1 ms before");
    clock.advance(1);
    assert_eq!(c.cmd(&["GET", "k"]).await, nil(), "gone at its deadline");
    assert_eq!(c.cmd(&["EXISTS", "k"]).await, int(0));
    assert_eq!(c.cmd(&["TTL", "k"]).await, int(-2));
    assert_eq!(c.cmd(&["DBSIZE"]).await, int(0));
    assert!(stat(&c.cmd(&["INFO", "stats"]).await.text(), "expired_keys") >= 1);
}

#[tokio::test]
async fn expired_keys_are_invisible_to_every_command_before_removal() {
    let clock = clock();
    let server = TestServer::with_clock(clock.clone()).await;
    let mut c = server.raw().await;
    assert_eq!(c.cmd(&["SET", "live", "1"]).await, ok());
    for i in 1..=9 {
        assert_eq!(
            c.cmd(&["SET", &format!("e{i}"), "9", "PX", "20"]).await,
            ok()
        );
    }
    // The deadlines pass without touching the keys, so they are still
    // stored (until the active cycle gets to them) when the commands run.
    clock.advance(30);
    assert_eq!(c.cmd(&["KEYS", "*"]).await, bulks(&["live"]));
    assert_eq!(
        c.cmd(&["SCAN", "0", "COUNT", "1000"]).await.items()[1],
        bulks(&["live"])
    );
    assert_eq!(c.cmd(&["GET", "e1"]).await, nil());
    assert_eq!(
        c.cmd(&["MGET", "e2", "live"]).await,
        arr([nil(), bulk("1")])
    );
    assert_eq!(c.cmd(&["TYPE", "e3"]).await, simple("none"));
    assert_eq!(c.cmd(&["EXISTS", "e4"]).await, int(0));
    assert_eq!(c.cmd(&["TTL", "e5"]).await, int(-2));
    assert_eq!(c.cmd(&["STRLEN", "e6"]).await, int(0));
    assert_eq!(
        c.cmd(&["APPEND", "e7", "x"]).await,
        int(1),
        "APPEND starts afresh"
    );
    assert_eq!(c.cmd(&["TTL", "e7"]).await, int(-1), "without the old TTL");
    assert_eq!(c.cmd(&["INCR", "e8"]).await, int(1), "INCR starts from 0");
    assert_eq!(c.cmd(&["SETNX", "e9", "x"]).await, int(1));
}

#[tokio::test]
async fn active_expiry_deletes_keys_nobody_reads() {
    let clock = clock();
    let server = TestServer::with_clock(clock.clone()).await;
    let mut c = server.raw().await;
    let mut mset = vec!["MSET".to_string()];
    for i in 0..100 {
        mset.push(format!("stay:{i}"));
        mset.push("v".into());
    }
    let mset: Vec<&str> = mset.iter().map(String::as_str).collect();
    assert_eq!(c.cmd(&mset).await, ok());
    // One write, so all 100 deadlines fall together, 100 ms from now.
    let mut batch = Vec::new();
    for i in 0..100 {
        batch.extend(encode_str(&["SET", &format!("go:{i}"), "v", "PX", "100"]));
    }
    c.send(&batch).await;
    for _ in 0..100 {
        assert_eq!(c.read().await, ok());
    }
    assert_eq!(c.cmd(&["DBSIZE"]).await, int(200));
    assert!(c
        .cmd(&["INFO", "keyspace"])
        .await
        .text()
        .contains("db0:keys=200,expires=100,"));
    // DBSIZE counts what the store holds and touches no key, so it only
    // drops when the active cycle deletes the expired ones.
    clock.advance(100);
    let addr = server.addr();
    let drained = eventually(LIMIT, || async move {
        let mut probe = RawClient::connect(addr).await;
        probe.cmd(&["DBSIZE"]).await == int(100)
    })
    .await
    .is_some();
    assert!(
        drained,
        "active expiry did not delete 100 expired keys within {LIMIT:?}"
    );
    let info = c.cmd(&["INFO"]).await.text();
    assert_eq!(stat(&info, "expired_keys"), 100);
    assert!(info.contains("db0:keys=100,expires=0,"), "{info}");
}

#[tokio::test]
async fn deadlines_in_the_past_delete_at_once() {
    let server = TestServer::start().await;
    let mut c = server.raw().await;
    assert_eq!(c.cmd(&["SET", "a", "v", "EXAT", "1"]).await, ok());
    assert_eq!(c.cmd(&["DBSIZE"]).await, int(0), "never stored");
    assert_eq!(c.cmd(&["SET", "b", "v"]).await, ok());
    assert_eq!(c.cmd(&["PEXPIREAT", "b", "1000"]).await, int(1));
    assert_eq!(
        c.cmd(&["DBSIZE"]).await,
        int(0),
        "deleted, not left for later"
    );
    assert_eq!(c.cmd(&["SET", "c", "v"]).await, ok());
    assert_eq!(c.cmd(&["GETEX", "c", "EXAT", "1"]).await, bulk("v"));
    assert_eq!(c.cmd(&["DBSIZE"]).await, int(0));
}

#[tokio::test]
async fn ttl_counts_down() {
    let clock = clock();
    let server = TestServer::with_clock(clock.clone()).await;
    let mut c = server.raw().await;
    assert_eq!(c.cmd(&["SET", "k", "v", "PX", "2500"]).await, ok());
    assert_eq!(c.cmd(&["PTTL", "k"]).await, int(2500));
    assert_eq!(c.cmd(&["TTL", "k"]).await, int(3), "2.5 s rounds to 3");
    clock.advance(1_000);
    assert_eq!(c.cmd(&["PTTL", "k"]).await, int(1500));
    assert_eq!(c.cmd(&["TTL", "k"]).await, int(2));
    clock.advance(1_499);
    assert_eq!(c.cmd(&["PTTL", "k"]).await, int(1));
    assert_eq!(c.cmd(&["TTL", "k"]).await, int(0));
    clock.advance(1);
    assert_eq!(c.cmd(&["PTTL", "k"]).await, int(-2));
}
