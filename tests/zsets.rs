//! Sorted set commands over real TCP, RESP2 and RESP3, with Redis 7.2's
//! replies (many cases from Redis' `tests/unit/type/zset.tcl`). The
//! byte-for-byte comparison with a real redis-server is in
//! `tests/differential_zsets.rs`; here: what 7.0 cannot be the oracle for
//! (ZRANK WITHSCORE, doubles printed the 7.2 way), random replies
//! (ZRANDMEMBER), ZSCAN of a large set, WATCH, expiry, and the key
//! lifecycle.

// A test fails by panicking: unwrap is the point here, not a shortcut.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::*;
use redis::AsyncCommands;

async fn resp3(server: &TestServer) -> RawClient {
    let mut c = server.raw().await;
    c.cmd(&["HELLO", "3"]).await;
    c
}

#[tokio::test]
async fn through_the_redis_crate() {
    let server = TestServer::start().await;
    let mut con = server.conn().await;
    let added: i64 = con
        .zadd_multiple("z", &[(1.5, "a"), (1.0, "b"), (2.0, "c")])
        .await
        .unwrap();
    assert_eq!(added, 3);
    let all: Vec<(String, f64)> = con.zrange_withscores("z", 0, -1).await.unwrap();
    assert_eq!(
        all,
        vec![("b".into(), 1.0), ("a".into(), 1.5), ("c".into(), 2.0)]
    );
    let score: Option<f64> = con.zscore("z", "a").await.unwrap();
    assert_eq!(score, Some(1.5));
    let rank: Option<i64> = con.zrank("z", "c").await.unwrap();
    assert_eq!(rank, Some(2));
    let n: i64 = con.zcard("z").await.unwrap();
    assert_eq!(n, 3);
    let t: String = redis::cmd("TYPE")
        .arg("z")
        .query_async(&mut con)
        .await
        .unwrap();
    assert_eq!(t, "zset");
}

#[tokio::test]
async fn doubles_print_as_redis_7_2_prints_them() {
    let server = TestServer::start().await;
    let mut c = server.raw().await;
    c.cmd(&["ZADD", "z", "0.1", "a", "1e20", "b", "-0", "c", "3", "d"])
        .await;
    assert_eq!(c.cmd(&["ZSCORE", "z", "a"]).await, bulk("0.1"));
    assert_eq!(c.cmd(&["ZSCORE", "z", "b"]).await, bulk("1e+20"));
    assert_eq!(c.cmd(&["ZSCORE", "z", "c"]).await, bulk("-0"));
    assert_eq!(
        c.cmd(&["ZINCRBY", "z", "0.2", "a"]).await,
        bulk("0.30000000000000004")
    );
    assert_eq!(c.cmd(&["ZADD", "z", "inf", "i"]).await, int(1));
    assert_eq!(c.cmd(&["ZSCORE", "z", "i"]).await, bulk("inf"));
    assert_eq!(
        c.cmd(&["ZINCRBY", "z", "-inf", "i"]).await,
        err("ERR resulting score is not a number (NaN)")
    );
    assert_eq!(
        c.cmd(&["ZADD", "z", "nan", "x"]).await,
        err("ERR value is not a valid float")
    );
    // Hexadecimal, as strtod reads it.
    assert_eq!(c.cmd(&["ZADD", "z", "0x10", "h"]).await, int(1));
    assert_eq!(c.cmd(&["ZSCORE", "z", "h"]).await, bulk("16"));
    let mut c3 = resp3(&server).await;
    assert_eq!(
        c3.cmd_bytes(&["ZSCORE", "z", "a"]).await,
        b",0.30000000000000004\r\n"
    );
    assert_eq!(c3.cmd_bytes(&["ZSCORE", "z", "d"]).await, b",3\r\n");
    assert_eq!(c3.cmd_bytes(&["ZSCORE", "z", "nope"]).await, b"_\r\n");
    assert_eq!(c3.cmd_bytes(&["ZSCORE", "nokey", "a"]).await, b"_\r\n");
}

#[tokio::test]
async fn withscores_nests_pairs_in_resp3_only() {
    let server = TestServer::start().await;
    let mut c2 = server.raw().await;
    c2.cmd(&["ZADD", "z", "1", "a", "2.5", "b"]).await;
    c2.cmd(&["ZADD", "y", "1", "b"]).await;
    let flat = b"*4\r\n$1\r\na\r\n$1\r\n1\r\n$1\r\nb\r\n$3\r\n2.5\r\n".to_vec();
    let nested = b"*2\r\n*2\r\n$1\r\na\r\n,1\r\n*2\r\n$1\r\nb\r\n,2.5\r\n".to_vec();
    let mut c3 = resp3(&server).await;
    for line in [
        &["ZRANGE", "z", "0", "-1", "WITHSCORES"][..],
        &["ZRANGEBYSCORE", "z", "-inf", "+inf", "WITHSCORES"],
        &["ZUNION", "1", "z", "WITHSCORES"],
        &["ZDIFF", "2", "z", "nokey", "WITHSCORES"],
    ] {
        assert_eq!(c2.cmd_bytes(line).await, flat, "{line:?}");
        assert_eq!(c3.cmd_bytes(line).await, nested, "{line:?}");
    }
    // ZPOPMIN: flat without a count (both protocols), pairs with one.
    assert_eq!(
        c3.cmd_bytes(&["ZPOPMIN", "z"]).await,
        b"*2\r\n$1\r\na\r\n,1\r\n"
    );
    assert_eq!(
        c3.cmd_bytes(&["ZPOPMAX", "z", "1"]).await,
        b"*1\r\n*2\r\n$1\r\nb\r\n,2.5\r\n"
    );
    assert_eq!(c3.cmd_bytes(&["EXISTS", "z"]).await, b":0\r\n");
    // ZMPOP nests in both protocols; nothing to pop is a null array.
    assert_eq!(
        c2.cmd_bytes(&["ZMPOP", "2", "z", "y", "MIN"]).await,
        b"*2\r\n$1\r\ny\r\n*1\r\n*2\r\n$1\r\nb\r\n$1\r\n1\r\n"
    );
    assert_eq!(c2.cmd_bytes(&["ZMPOP", "1", "y", "MIN"]).await, b"*-1\r\n");
    assert_eq!(c3.cmd_bytes(&["ZMPOP", "1", "y", "MIN"]).await, b"_\r\n");
    // ZMSCORE of a missing key: nulls.
    assert_eq!(
        c3.cmd_bytes(&["ZMSCORE", "nokey", "a", "b"]).await,
        b"*2\r\n_\r\n_\r\n"
    );
}

#[tokio::test]
async fn zrank_withscore_is_new_in_7_2() {
    let server = TestServer::start().await;
    let mut c2 = server.raw().await;
    let mut c3 = resp3(&server).await;
    c2.cmd(&["ZADD", "z", "1", "a", "2", "b", "3", "c"]).await;
    assert_eq!(
        c2.cmd(&["ZRANK", "z", "b", "WITHSCORE"]).await,
        arr([int(1), bulk("2")])
    );
    assert_eq!(
        c2.cmd(&["ZREVRANK", "z", "a", "withscore"]).await,
        arr([int(2), bulk("1")])
    );
    assert_eq!(
        c3.cmd_bytes(&["ZRANK", "z", "c", "WITHSCORE"]).await,
        b"*2\r\n:2\r\n,3\r\n"
    );
    assert_eq!(
        c2.cmd_bytes(&["ZRANK", "z", "x", "WITHSCORE"]).await,
        b"*-1\r\n"
    );
    assert_eq!(c2.cmd_bytes(&["ZRANK", "z", "x"]).await, b"$-1\r\n");
    assert_eq!(
        c3.cmd_bytes(&["ZRANK", "nokey", "x", "WITHSCORE"]).await,
        b"_\r\n"
    );
    assert_eq!(
        c2.cmd(&["ZRANK", "z", "a", "foo"]).await,
        err("ERR syntax error")
    );
    assert_eq!(
        c2.cmd(&["ZRANK", "z", "a", "withscore", "x"]).await,
        err("ERR wrong number of arguments for 'zrank' command")
    );
}

#[tokio::test]
async fn options_and_errors() {
    let server = TestServer::start().await;
    let mut c = server.raw().await;
    assert_eq!(
        c.cmd(&["ZADD", "z", "NX", "XX", "1", "a"]).await,
        err("ERR XX and NX options at the same time are not compatible")
    );
    assert_eq!(
        c.cmd(&["ZADD", "z", "GT", "LT", "1", "a"]).await,
        err("ERR GT, LT, and/or NX options at the same time are not compatible")
    );
    assert_eq!(
        c.cmd(&["ZADD", "z", "INCR", "1", "a", "2", "b"]).await,
        err("ERR INCR option supports a single increment-element pair")
    );
    assert_eq!(
        c.cmd(&["ZADD", "z", "1", "a", "2"]).await,
        err("ERR syntax error")
    );
    assert_eq!(
        c.cmd(&["ZINCRBY", "z", "NX", "a"]).await,
        err("ERR syntax error")
    );
    assert_eq!(c.cmd(&["ZADD", "z", "1", "a", "2", "b"]).await, int(2));
    assert_eq!(
        c.cmd(&["ZADD", "z", "CH", "GT", "0", "a", "5", "b"]).await,
        int(1)
    );
    assert_eq!(c.cmd(&["ZADD", "z", "XX", "INCR", "1", "zz"]).await, nil());
    assert_eq!(c.cmd(&["ZADD", "z", "LT", "INCR", "1", "a"]).await, nil());
    assert_eq!(
        c.cmd(&["ZRANGE", "z", "0", "1", "LIMIT", "0", "1"]).await,
        err(
            "ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX"
        )
    );
    assert_eq!(
        c.cmd(&["ZRANGE", "z", "-", "+", "BYLEX", "WITHSCORES"])
            .await,
        err("ERR syntax error, WITHSCORES not supported in combination with BYLEX")
    );
    assert_eq!(
        c.cmd(&["ZCOUNT", "z", "x", "1"]).await,
        err("ERR min or max is not a float")
    );
    assert_eq!(
        c.cmd(&["ZLEXCOUNT", "z", "a", "+"]).await,
        err("ERR min or max not valid string range item")
    );
    assert_eq!(
        c.cmd(&["ZUNION", "0", "z"]).await,
        err("ERR at least 1 input key is needed for 'zunion' command")
    );
    assert_eq!(
        c.cmd(&["ZINTERSTORE", "d", "0", "z"]).await,
        err("ERR at least 1 input key is needed for 'zinterstore' command")
    );
    assert_eq!(
        c.cmd(&["ZUNION", "1", "z", "WEIGHTS", "x"]).await,
        err("ERR weight value is not a float")
    );
    assert_eq!(
        c.cmd(&["ZINTERCARD", "1", "z", "LIMIT", "-1"]).await,
        err("ERR LIMIT can't be negative")
    );
    assert_eq!(
        c.cmd(&["ZPOPMIN", "z", "-1"]).await,
        err("ERR value is out of range, must be positive")
    );
    assert_eq!(
        c.cmd(&["ZMPOP", "0", "z", "MIN"]).await,
        err("ERR numkeys should be greater than 0")
    );
    assert_eq!(
        c.cmd(&["ZMPOP", "1", "z", "MIN", "COUNT", "0"]).await,
        err("ERR count should be greater than 0")
    );
    assert_eq!(
        c.cmd(&["ZRANDMEMBER", "z", "-9223372036854775808"]).await,
        err("ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807")
    );
    assert_eq!(c.cmd(&["ZSCAN", "z", "x"]).await, err("ERR invalid cursor"));
    // WRONGTYPE, for reads and writes; the sorted set commands accept a
    // plain set as an input of ZUNION & co (tested once sets exist).
    c.cmd(&["SET", "s", "v"]).await;
    let wrongtype = err("WRONGTYPE Operation against a key holding the wrong kind of value");
    for line in [
        &["ZADD", "s", "1", "a"][..],
        &["ZINCRBY", "s", "1", "a"],
        &["ZREM", "s", "a"],
        &["ZCARD", "s"],
        &["ZSCORE", "s", "a"],
        &["ZMSCORE", "s", "a"],
        &["ZRANK", "s", "a"],
        &["ZCOUNT", "s", "0", "1"],
        &["ZLEXCOUNT", "s", "-", "+"],
        &["ZRANGE", "s", "0", "1"],
        &["ZRANGESTORE", "d", "s", "0", "1"],
        &["ZREMRANGEBYRANK", "s", "0", "1"],
        &["ZPOPMIN", "s"],
        &["ZMPOP", "1", "s", "MIN"],
        &["ZRANDMEMBER", "s"],
        &["ZUNION", "2", "z", "s"],
        &["ZSCAN", "s", "0"],
    ] {
        assert_eq!(c.cmd(line).await, wrongtype, "{line:?}");
    }
    // A string can be a ZUNIONSTORE / ZRANGESTORE destination.
    assert_eq!(c.cmd(&["ZUNIONSTORE", "s", "1", "z"]).await, int(2));
    assert_eq!(c.cmd(&["TYPE", "s"]).await, simple("zset"));
}

#[tokio::test]
async fn an_emptied_set_deletes_its_key() {
    let server = TestServer::start().await;
    let mut c = server.raw().await;
    for (fill, empty) in [
        (&["ZADD", "z", "1", "a"][..], &["ZREM", "z", "a", "b"][..]),
        (&["ZADD", "z", "1", "a", "2", "b"], &["ZPOPMIN", "z", "5"]),
        (&["ZADD", "z", "1", "a", "2", "b"], &["ZPOPMAX", "z", "2"]),
        (&["ZADD", "z", "1", "a"], &["ZMPOP", "1", "z", "MAX"]),
        (
            &["ZADD", "z", "1", "a", "2", "b"],
            &["ZREMRANGEBYRANK", "z", "0", "-1"],
        ),
        (
            &["ZADD", "z", "1", "a", "2", "b"],
            &["ZREMRANGEBYSCORE", "z", "-inf", "inf"],
        ),
        (
            &["ZADD", "z", "0", "a", "0", "b"],
            &["ZREMRANGEBYLEX", "z", "-", "+"],
        ),
        (
            &["ZADD", "z", "1", "a"],
            &["ZRANGESTORE", "z", "z", "5", "9"],
        ),
        (
            &["ZADD", "z", "1", "a"],
            &["ZDIFFSTORE", "z", "2", "z", "z"],
        ),
    ] {
        c.cmd(fill).await;
        assert_eq!(c.cmd(&["EXISTS", "z"]).await, int(1));
        c.cmd(empty).await;
        assert_eq!(c.cmd(&["EXISTS", "z"]).await, int(0), "{empty:?}");
    }
    // ZADD XX on a missing key creates nothing.
    assert_eq!(c.cmd(&["ZADD", "z", "XX", "1", "a"]).await, int(0));
    assert_eq!(c.cmd(&["EXISTS", "z"]).await, int(0));
}

#[tokio::test]
async fn watch_sees_changes_but_not_no_ops() {
    let server = TestServer::start().await;
    let mut a = server.raw().await;
    let mut b = server.raw().await;
    a.cmd(&["ZADD", "z", "1", "m"]).await;
    // A ZADD that changes nothing (same score, NX on a member, XX on a
    // new one) does not touch the key.
    a.cmd(&["WATCH", "z"]).await;
    assert_eq!(b.cmd(&["ZADD", "z", "1", "m"]).await, int(0));
    assert_eq!(b.cmd(&["ZADD", "z", "NX", "5", "m"]).await, int(0));
    assert_eq!(b.cmd(&["ZREM", "z", "nope"]).await, int(0));
    a.cmd(&["MULTI"]).await;
    a.cmd(&["ZINCRBY", "z", "1", "m"]).await;
    assert_eq!(a.cmd(&["EXEC"]).await, arr([bulk("2")]));
    // A real change aborts the transaction.
    a.cmd(&["WATCH", "z"]).await;
    assert_eq!(b.cmd(&["ZADD", "z", "3", "m"]).await, int(0));
    a.cmd(&["MULTI"]).await;
    a.cmd(&["ZINCRBY", "z", "1", "m"]).await;
    assert_eq!(a.cmd(&["EXEC"]).await, Reply::NullArray);
    assert_eq!(a.cmd(&["ZSCORE", "z", "m"]).await, bulk("3"));
    // Inside MULTI the commands queue and run in order.
    a.cmd(&["MULTI"]).await;
    assert_eq!(a.cmd(&["ZADD", "q", "1", "x"]).await, simple("QUEUED"));
    a.cmd(&["ZPOPMIN", "q"]).await;
    assert_eq!(
        a.cmd(&["EXEC"]).await,
        arr([int(1), arr([bulk("x"), bulk("1")])])
    );
}

#[tokio::test]
async fn stores_clear_the_destination_deadline_and_keep_the_source() {
    let server = TestServer::start().await;
    let mut c = server.raw().await;
    c.cmd(&["ZADD", "z", "1", "a", "2", "b"]).await;
    c.cmd(&["EXPIRE", "z", "100"]).await;
    c.cmd(&["ZADD", "d", "9", "old"]).await;
    c.cmd(&["EXPIRE", "d", "100"]).await;
    assert_eq!(c.cmd(&["ZRANGESTORE", "d", "z", "0", "0"]).await, int(1));
    assert_eq!(c.cmd(&["TTL", "d"]).await, int(-1));
    assert_eq!(c.cmd(&["ZRANGE", "d", "0", "-1"]).await, bulks(&["a"]));
    // Adding to a key keeps its deadline.
    c.cmd(&["ZADD", "z", "3", "c"]).await;
    assert!(c.cmd(&["TTL", "z"]).await.int() > 0);
}

#[tokio::test]
async fn zrandmember_replies() {
    let server = TestServer::start().await;
    let mut c = server.raw().await;
    let members: Vec<String> = (0..20).map(|i| format!("m{i}")).collect();
    let mut line = vec!["ZADD".to_string(), "z".into()];
    for (i, m) in members.iter().enumerate() {
        line.push(i.to_string());
        line.push(m.clone());
    }
    let refs: Vec<&str> = line.iter().map(String::as_str).collect();
    c.cmd(&refs).await;
    let all: BTreeSet<String> = members.iter().cloned().collect();
    // One member.
    let one = c.cmd(&["ZRANDMEMBER", "z"]).await.text();
    assert!(all.contains(&one));
    // Distinct members for a positive count, at most the set.
    for n in [1, 5, 19, 20, 50] {
        let got: Vec<String> = c
            .cmd(&["ZRANDMEMBER", "z", &n.to_string()])
            .await
            .items()
            .iter()
            .map(Reply::text)
            .collect();
        let distinct: BTreeSet<String> = got.iter().cloned().collect();
        assert_eq!(got.len(), n.min(20));
        assert_eq!(distinct.len(), got.len());
        assert!(distinct.is_subset(&all));
    }
    // A negative count may repeat, and gives exactly that many.
    let got = c.cmd(&["ZRANDMEMBER", "z", "-100"]).await;
    assert_eq!(got.items().len(), 100);
    // WITHSCORES: each member with its own score.
    let got = c.cmd(&["ZRANDMEMBER", "z", "-7", "WITHSCORES"]).await;
    let items = got.items();
    assert_eq!(items.len(), 14);
    for pair in items.chunks(2) {
        let i: usize = pair[0].text()[1..].parse().unwrap();
        assert_eq!(pair[1].text(), i.to_string());
    }
    let mut c3 = resp3(&server).await;
    let got = c3.cmd(&["ZRANDMEMBER", "z", "3", "WITHSCORES"]).await;
    assert_eq!(got.items().len(), 3);
    assert!(got.items().iter().all(|p| p.items().len() == 2));
    assert_eq!(c.cmd(&["ZRANDMEMBER", "z", "0"]).await, arr([]));
    // A reply Redis would stream until memory runs out is refused.
    assert!(c
        .cmd(&["ZRANDMEMBER", "z", "-9223372036854775807"])
        .await
        .is_error());
    assert_eq!(c.cmd(&["ZRANDMEMBER", "nokey"]).await, nil());
    assert_eq!(c.cmd(&["ZRANDMEMBER", "nokey", "3"]).await, arr([]));
}

/// A set past the small encoding: ranks, ranges and ZSCAN agree with a
/// model, through inserts, updates and removals.
#[tokio::test]
async fn a_large_set_agrees_with_a_model() {
    let server = TestServer::start().await;
    let mut c = server.raw().await;
    let mut model: BTreeMap<String, i64> = BTreeMap::new();
    for round in 0..6 {
        let mut line = vec!["ZADD".to_string(), "big".into()];
        for i in 0..400 {
            let m = format!("member:{}", (i * 31 + round * 7) % 1000);
            let s = ((i * 7919 + round * 13) % 257) as i64;
            line.push(s.to_string());
            line.push(m.clone());
            model.insert(m, s);
        }
        let refs: Vec<&str> = line.iter().map(String::as_str).collect();
        c.cmd(&refs).await;
        for i in (0..1000).step_by(3 + round as usize) {
            let m = format!("member:{i}");
            c.cmd(&["ZREM", "big", &m]).await;
            model.remove(&m);
        }
    }
    let mut order: Vec<(i64, String)> = model.iter().map(|(m, s)| (*s, m.clone())).collect();
    order.sort();
    assert_eq!(c.cmd(&["ZCARD", "big"]).await, int(order.len() as i64));
    let got: Vec<String> = c
        .cmd(&["ZRANGE", "big", "0", "-1"])
        .await
        .items()
        .iter()
        .map(Reply::text)
        .collect();
    let want: Vec<String> = order.iter().map(|(_, m)| m.clone()).collect();
    assert_eq!(got, want);
    for (rank, (_, m)) in order.iter().enumerate().step_by(17) {
        assert_eq!(c.cmd(&["ZRANK", "big", m]).await, int(rank as i64));
        assert_eq!(
            c.cmd(&["ZREVRANK", "big", m]).await,
            int((order.len() - 1 - rank) as i64)
        );
    }
    let in_range = order.iter().filter(|(s, _)| (50..=100).contains(s)).count();
    assert_eq!(
        c.cmd(&["ZCOUNT", "big", "50", "100"]).await,
        int(in_range as i64)
    );
    // ZSCAN walks every member, each with its score.
    let mut seen: BTreeMap<String, String> = BTreeMap::new();
    let mut cursor = "0".to_string();
    loop {
        let reply = c.cmd(&["ZSCAN", "big", &cursor, "COUNT", "50"]).await;
        let items = reply.items();
        cursor = items[0].text();
        for pair in items[1].items().chunks(2) {
            seen.insert(pair[0].text(), pair[1].text());
        }
        if cursor == "0" {
            break;
        }
    }
    let want: BTreeMap<String, String> = model
        .iter()
        .map(|(m, s)| (m.clone(), s.to_string()))
        .collect();
    assert_eq!(seen, want);
    // MATCH filters members.
    let reply = c
        .cmd(&["ZSCAN", "big", "0", "MATCH", "member:1?", "COUNT", "100000"])
        .await;
    let matched: BTreeSet<String> = reply.items()[1]
        .items()
        .chunks(2)
        .map(|p| p[0].text())
        .collect();
    let want: BTreeSet<String> = model
        .keys()
        .filter(|m| m.len() == 9 && m.starts_with("member:1"))
        .cloned()
        .collect();
    assert_eq!(matched, want);
}

/// Wait until the client `id` is blocked (CLIENT LIST flag `b`; polled,
/// the one wait here without an event to await).
async fn until_blocked(c: &mut RawClient, id: i64) {
    let needle = format!("id={id} ");
    for _ in 0..400 {
        let list = c.cmd(&["CLIENT", "LIST"]).await.text();
        if list
            .lines()
            .any(|l| l.starts_with(&needle) && l.contains(" flags=b "))
        {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    panic!("client {id} never blocked");
}

#[tokio::test]
async fn bzpop_answers_at_once_when_it_can() {
    let server = TestServer::start().await;
    let mut c = server.raw().await;
    c.cmd(&["ZADD", "z", "1", "a", "2", "b", "3", "c"]).await;
    assert_eq!(
        c.cmd(&["BZPOPMIN", "nokey", "z", "0"]).await,
        arr([bulk("z"), bulk("a"), bulk("1")])
    );
    assert_eq!(
        c.cmd(&["BZPOPMAX", "z", "0"]).await,
        arr([bulk("z"), bulk("c"), bulk("3")])
    );
    assert_eq!(
        c.cmd_bytes(&["BZMPOP", "0", "2", "nokey", "z", "MIN", "COUNT", "5"])
            .await,
        b"*2\r\n$1\r\nz\r\n*1\r\n*2\r\n$1\r\nb\r\n$1\r\n2\r\n"
    );
    assert_eq!(c.cmd(&["EXISTS", "z"]).await, int(0));
    let mut c3 = resp3(&server).await;
    c3.cmd(&["ZADD", "y", "1.5", "m"]).await;
    assert_eq!(
        c3.cmd_bytes(&["BZPOPMIN", "y", "0"]).await,
        b"*3\r\n$1\r\ny\r\n$1\r\nm\r\n,1.5\r\n"
    );
    // Errors: the timeout, WRONGTYPE, and BZMPOP's arguments before its
    // timeout.
    c.cmd(&["SET", "s", "v"]).await;
    assert_eq!(
        c.cmd(&["BZPOPMIN", "z", "x"]).await,
        err("ERR timeout is not a float or out of range")
    );
    assert_eq!(
        c.cmd(&["BZPOPMIN", "z", "-1"]).await,
        err("ERR timeout is negative")
    );
    assert_eq!(
        c.cmd(&["BZPOPMIN", "nokey", "s", "0"]).await,
        err("WRONGTYPE Operation against a key holding the wrong kind of value")
    );
    assert_eq!(
        c.cmd(&["BZMPOP", "x", "0", "z", "MIN"]).await,
        err("ERR numkeys should be greater than 0")
    );
    assert_eq!(
        c.cmd(&["BZMPOP", "x", "1", "z", "MIN"]).await,
        err("ERR timeout is not a float or out of range")
    );
    // Inside MULTI nothing blocks: a null array at once.
    c.cmd(&["MULTI"]).await;
    c.cmd(&["BZPOPMIN", "nokey", "0"]).await;
    c.cmd(&["BZMPOP", "0", "1", "nokey", "MAX"]).await;
    assert_eq!(
        c.cmd(&["EXEC"]).await,
        arr([Reply::NullArray, Reply::NullArray])
    );
    // A timeout answers a null array.
    assert_eq!(
        c.cmd(&["BZPOPMAX", "nokey", "0.05"]).await,
        Reply::NullArray
    );
}

#[tokio::test]
async fn a_blocked_bzpop_is_served_in_blocking_order() {
    let server = TestServer::start().await;
    let mut admin = server.raw().await;
    let mut first = server.raw().await;
    let first_id = first.cmd(&["CLIENT", "ID"]).await.int();
    let mut second = server.raw().await;
    let second_id = second.cmd(&["CLIENT", "ID"]).await.int();
    first
        .send(&encode_str(&["BZPOPMIN", "q", "other", "0"]))
        .await;
    until_blocked(&mut admin, first_id).await;
    second
        .send(&encode_str(&["BZMPOP", "0", "1", "q", "MAX", "COUNT", "2"]))
        .await;
    until_blocked(&mut admin, second_id).await;
    // A write of another type does not wake them.
    admin.cmd(&["SET", "other", "v"]).await;
    // One ZADD of three members: the first waiter takes the lowest, the
    // second the two highest of what is left.
    assert_eq!(
        admin
            .cmd(&["ZADD", "q", "1", "a", "2", "b", "3", "c"])
            .await,
        int(3)
    );
    assert_eq!(first.read().await, arr([bulk("q"), bulk("a"), bulk("1")]));
    assert_eq!(
        second.read().await,
        arr([
            bulk("q"),
            arr([arr([bulk("c"), bulk("3")]), arr([bulk("b"), bulk("2")])])
        ])
    );
    assert_eq!(admin.cmd(&["EXISTS", "q"]).await, int(0));
}

#[tokio::test]
async fn object_encoding_follows_redis_7_2() {
    let server = TestServer::start().await;
    let mut c = server.raw().await;
    let mut dup = vec!["ZADD".to_string(), "dup".into()];
    for _ in 0..129 {
        dup.push("1".into());
        dup.push("same".into());
    }
    let refs: Vec<&str> = dup.iter().map(String::as_str).collect();
    assert_eq!(c.cmd(&refs).await, int(1));
    // 7.2's zsetTypeCreate: more than 128 pairs make a large set, even of
    // one member.
    assert_eq!(
        c.cmd(&["OBJECT", "ENCODING", "dup"]).await,
        bulk("skiplist")
    );
    c.cmd(&["ZADD", "small", "1", "a"]).await;
    assert_eq!(
        c.cmd(&["OBJECT", "ENCODING", "small"]).await,
        bulk("listpack")
    );
    // An existing small set converts by the number of pairs only.
    let long = "x".repeat(65);
    c.cmd(&["ZADD", "small", "XX", "1", &long]).await;
    assert_eq!(
        c.cmd(&["OBJECT", "ENCODING", "small"]).await,
        bulk("listpack")
    );
    zadd_xx_129_pairs(&mut c, "small").await;
    assert_eq!(
        c.cmd(&["OBJECT", "ENCODING", "small"]).await,
        bulk("skiplist")
    );
    assert_eq!(c.cmd(&["ZCARD", "small"]).await, int(1));
}

/// ZADD XX of 129 pairs of one existing member.
async fn zadd_xx_129_pairs(c: &mut RawClient, key: &str) {
    let mut line = vec!["ZADD".to_string(), key.into(), "XX".into()];
    for _ in 0..129 {
        line.push("2".into());
        line.push("a".into());
    }
    let refs: Vec<&str> = line.iter().map(String::as_str).collect();
    assert_eq!(c.cmd(&refs).await, int(0));
}
