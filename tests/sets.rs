//! Set commands over real TCP, with Redis 7.2's replies: RESP2 and RESP3
//! shapes, error texts, WRONGTYPE, the order of small sets (numeric for
//! integers, insertion order for strings, which Redis 7.0, the oracle of
//! tests/differential_sets.rs, cannot check), deletion of emptied sets,
//! the STORE commands, random members, SSCAN, and WATCH/MULTI. Some
//! assertions are ported from Redis' `tests/unit/type/set.tcl`.

// A test fails by panicking: unwrap is the point here, not a shortcut.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeSet;

use common::*;
use redis::AsyncCommands;

fn set(items: &[&str]) -> Reply {
    Reply::Set(items.iter().map(bulk).collect())
}

/// The bulk strings of a set or array reply.
fn members(r: &Reply) -> Vec<String> {
    match r {
        Reply::Set(items) | Reply::Array(items) => items.iter().map(|i| i.text()).collect(),
        other => panic!("expected a set or an array, got {other:?}"),
    }
}

fn sorted(r: &Reply) -> Vec<String> {
    let mut m = members(r);
    m.sort();
    m
}

async fn sadd(c: &mut RawClient, key: &str, items: impl IntoIterator<Item = String>) -> Reply {
    let mut args = vec!["SADD".to_string(), key.to_string()];
    args.extend(items);
    let refs: Vec<&str> = args.iter().map(|s| s.as_str()).collect();
    c.cmd(&refs).await
}

#[tokio::test]
async fn add_remove_count_and_membership() {
    let server = TestServer::start().await;
    let mut c = server.raw().await;
    assert_eq!(c.cmd(&["SADD", "s", "a", "b", "a", "c"]).await, int(3));
    assert_eq!(c.cmd(&["SADD", "s", "a", "d"]).await, int(1));
    assert_eq!(c.cmd(&["SCARD", "s"]).await, int(4));
    assert_eq!(c.cmd(&["SCARD", "nokey"]).await, int(0));
    assert_eq!(c.cmd(&["SISMEMBER", "s", "a"]).await, int(1));
    assert_eq!(c.cmd(&["SISMEMBER", "s", "z"]).await, int(0));
    assert_eq!(c.cmd(&["SISMEMBER", "nokey", "a"]).await, int(0));
    assert_eq!(
        c.cmd(&["SMISMEMBER", "s", "a", "z", "d"]).await,
        arr([int(1), int(0), int(1)])
    );
    assert_eq!(
        c.cmd(&["SMISMEMBER", "nokey", "a", "b"]).await,
        arr([int(0), int(0)])
    );
    assert_eq!(c.cmd(&["SREM", "s", "a", "z", "a"]).await, int(1));
    assert_eq!(c.cmd(&["SREM", "nokey", "a"]).await, int(0));
    assert_eq!(c.cmd(&["TYPE", "s"]).await, simple("set"));
    // Emptying a set deletes the key.
    assert_eq!(c.cmd(&["SREM", "s", "b", "c", "d"]).await, int(3));
    assert_eq!(c.cmd(&["EXISTS", "s"]).await, int(0));
    assert_eq!(c.cmd(&["TYPE", "s"]).await, simple("none"));
    // Arity.
    assert_eq!(
        c.cmd(&["SADD", "s"]).await,
        err("ERR wrong number of arguments for 'sadd' command")
    );
    assert_eq!(
        c.cmd(&["SMISMEMBER", "s"]).await,
        err("ERR wrong number of arguments for 'smismember' command")
    );
}

#[tokio::test]
async fn through_the_redis_crate() {
    let server = TestServer::start().await;
    let mut con = server.conn().await;
    let added: i64 = con.sadd("k", &["x", "y", "z"]).await.unwrap();
    assert_eq!(added, 3);
    let all: BTreeSet<String> = con.smembers("k").await.unwrap();
    assert_eq!(all, ["x", "y", "z"].map(String::from).into());
    let is: bool = con.sismember("k", "y").await.unwrap();
    assert!(is);
    let moved: bool = con.smove("k", "k2", "y").await.unwrap();
    assert!(moved);
    let card: i64 = con.scard("k").await.unwrap();
    assert_eq!(card, 2);
    let union: BTreeSet<String> = con.sunion(&["k", "k2"]).await.unwrap();
    assert_eq!(union.len(), 3);
}

#[tokio::test]
async fn small_sets_reply_in_redis_order() {
    let server = TestServer::start().await;
    let mut c = server.raw().await;
    // An intset: numeric order, whatever the insertion order.
    c.cmd(&["SADD", "i", "10", "-5", "3", "70000", "0"]).await;
    assert_eq!(
        c.cmd(&["SMEMBERS", "i"]).await,
        bulks(&["-5", "0", "3", "10", "70000"])
    );
    // A listpack: insertion order.
    c.cmd(&["SADD", "p", "c", "a", "b", "1"]).await;
    assert_eq!(
        c.cmd(&["SMEMBERS", "p"]).await,
        bulks(&["c", "a", "b", "1"])
    );
    c.cmd(&["SREM", "p", "a"]).await;
    c.cmd(&["SADD", "p", "a"]).await;
    assert_eq!(
        c.cmd(&["SMEMBERS", "p"]).await,
        bulks(&["c", "b", "1", "a"])
    );
    // An intset given a string: the integers stay sorted, the string last.
    c.cmd(&["SADD", "m", "3", "1", "2"]).await;
    c.cmd(&["SADD", "m", "x", "0"]).await;
    assert_eq!(
        c.cmd(&["SMEMBERS", "m"]).await,
        bulks(&["1", "2", "3", "x", "0"])
    );
    // Only canonical integers are integers: "01" makes a listpack.
    c.cmd(&["SADD", "n", "2", "01", "1"]).await;
    assert_eq!(c.cmd(&["SMEMBERS", "n"]).await, bulks(&["2", "01", "1"]));
    assert_eq!(c.cmd(&["SISMEMBER", "i", "010"]).await, int(0));
    assert_eq!(c.cmd(&["SISMEMBER", "i", "10"]).await, int(1));
    // SINTER follows the smallest set; SUNION and SDIFF build an intset
    // first, so the integers that come before the first string are sorted.
    c.cmd(&["SADD", "q", "z", "2", "1", "b", "c"]).await;
    assert_eq!(c.cmd(&["SINTER", "q", "p"]).await, bulks(&["c", "b", "1"]));
    assert_eq!(c.cmd(&["SINTER", "p", "q"]).await, bulks(&["c", "b", "1"]));
    c.cmd(&["SADD", "r", "x", "3", "1"]).await;
    c.cmd(&["SREM", "r", "x"]).await;
    c.cmd(&["SADD", "r", "y"]).await;
    assert_eq!(c.cmd(&["SMEMBERS", "r"]).await, bulks(&["3", "1", "y"]));
    assert_eq!(c.cmd(&["SUNION", "r"]).await, bulks(&["1", "3", "y"]));
    assert_eq!(
        c.cmd(&["SUNION", "r", "q"]).await,
        bulks(&["1", "3", "y", "z", "2", "b", "c"])
    );
    assert_eq!(
        c.cmd(&["SDIFF", "q", "r"]).await,
        bulks(&["z", "2", "b", "c"])
    );
    // Stored: SUNIONSTORE as SUNION's reply, SINTERSTORE in the order of
    // the smallest set (an intset when all are integers).
    assert_eq!(c.cmd(&["SUNIONSTORE", "d", "r"]).await, int(3));
    assert_eq!(c.cmd(&["SMEMBERS", "d"]).await, bulks(&["1", "3", "y"]));
    assert_eq!(c.cmd(&["SINTERSTORE", "d", "r", "r"]).await, int(3));
    assert_eq!(c.cmd(&["SMEMBERS", "d"]).await, bulks(&["3", "1", "y"]));
    c.cmd(&["SREM", "r", "y"]).await;
    assert_eq!(c.cmd(&["SINTERSTORE", "d", "r"]).await, int(2));
    assert_eq!(c.cmd(&["SMEMBERS", "d"]).await, bulks(&["1", "3"]));
    c.cmd(&["SADD", "d", "x"]).await;
    assert_eq!(c.cmd(&["SMEMBERS", "d"]).await, bulks(&["1", "3", "x"]));
    // SPOP of the whole set answers in SUNION's order; SRANDMEMBER with a
    // count past the size in the set's own.
    c.cmd(&["SADD", "w", "x", "5", "4"]).await;
    c.cmd(&["SREM", "w", "x"]).await;
    assert_eq!(c.cmd(&["SRANDMEMBER", "w", "10"]).await, bulks(&["5", "4"]));
    assert_eq!(c.cmd(&["SPOP", "w", "10"]).await, bulks(&["4", "5"]));
}

#[tokio::test]
async fn encodings_change_at_redis_limits() {
    let server = TestServer::start().await;
    let mut c = server.raw().await;
    // 512 integers stay an intset (sorted), the 513th makes a table: every
    // member is still there.
    let ints: Vec<String> = (0..512).rev().map(|i| i.to_string()).collect();
    assert_eq!(sadd(&mut c, "i", ints.clone()).await, int(512));
    let got = members(&c.cmd(&["SMEMBERS", "i"]).await);
    let mut expect = ints.clone();
    expect.sort_by_key(|s| s.parse::<i64>().unwrap());
    assert_eq!(got, expect);
    assert_eq!(c.cmd(&["SADD", "i", "1000"]).await, int(1));
    assert_eq!(c.cmd(&["SCARD", "i"]).await, int(513));
    assert_eq!(c.cmd(&["SISMEMBER", "i", "511"]).await, int(1));
    assert_eq!(c.cmd(&["SISMEMBER", "i", "1000"]).await, int(1));
    // 128 strings stay in order; the 129th, or a member over 64 bytes,
    // makes a table.
    let strs: Vec<String> = (0..128).map(|i| format!("s{i}")).collect();
    sadd(&mut c, "p", strs.clone()).await;
    assert_eq!(members(&c.cmd(&["SMEMBERS", "p"]).await), strs);
    c.cmd(&["SADD", "p", "one-more"]).await;
    assert_eq!(c.cmd(&["SCARD", "p"]).await, int(129));
    let long = "L".repeat(65);
    c.cmd(&["SADD", "q", "a", &long]).await;
    assert_eq!(
        sorted(&c.cmd(&["SMEMBERS", "q"]).await),
        vec![long.clone(), "a".into()]
    );
    assert_eq!(c.cmd(&["SREM", "q", &long]).await, int(1));
    assert_eq!(c.cmd(&["SMEMBERS", "q"]).await, bulks(&["a"]));
}

#[tokio::test]
async fn resp3_sets_and_resp2_arrays() {
    let server = TestServer::start().await;
    let mut c = server.raw().await;
    c.cmd(&["SADD", "s", "1", "2"]).await;
    c.cmd(&["SADD", "t", "2", "3"]).await;
    // RESP2: arrays.
    assert_eq!(
        c.cmd_bytes(&["SMEMBERS", "s"]).await,
        b"*2\r\n$1\r\n1\r\n$1\r\n2\r\n"
    );
    assert_eq!(c.cmd_bytes(&["SMEMBERS", "nokey"]).await, b"*0\r\n");
    assert_eq!(c.cmd_bytes(&["SPOP", "nokey"]).await, b"$-1\r\n");
    assert_eq!(c.cmd_bytes(&["SPOP", "nokey", "2"]).await, b"*0\r\n");
    assert_eq!(c.cmd_bytes(&["SRANDMEMBER", "nokey"]).await, b"$-1\r\n");
    assert_eq!(c.cmd_bytes(&["SRANDMEMBER", "nokey", "2"]).await, b"*0\r\n");
    // RESP3: sets for SMEMBERS, SINTER, SUNION, SDIFF and SPOP with a
    // count; arrays for SRANDMEMBER, SMISMEMBER and SSCAN.
    assert!(matches!(c.cmd(&["HELLO", "3"]).await, Reply::Map(_)));
    assert_eq!(
        c.cmd_bytes(&["SMEMBERS", "s"]).await,
        b"~2\r\n$1\r\n1\r\n$1\r\n2\r\n"
    );
    assert_eq!(c.cmd_bytes(&["SMEMBERS", "nokey"]).await, b"~0\r\n");
    assert_eq!(c.cmd(&["SINTER", "s", "t"]).await, set(&["2"]));
    assert_eq!(c.cmd(&["SINTER", "s", "nokey"]).await, set(&[]));
    assert_eq!(c.cmd(&["SUNION", "s", "t"]).await, set(&["1", "2", "3"]));
    assert_eq!(c.cmd(&["SDIFF", "s", "t"]).await, set(&["1"]));
    assert_eq!(c.cmd(&["SDIFF", "nokey", "t"]).await, set(&[]));
    assert_eq!(c.cmd_bytes(&["SPOP", "nokey"]).await, b"_\r\n");
    assert_eq!(c.cmd_bytes(&["SPOP", "nokey", "2"]).await, b"~0\r\n");
    assert_eq!(c.cmd_bytes(&["SPOP", "s", "0"]).await, b"~0\r\n");
    assert_eq!(c.cmd_bytes(&["SRANDMEMBER", "nokey"]).await, b"_\r\n");
    assert_eq!(c.cmd_bytes(&["SRANDMEMBER", "nokey", "2"]).await, b"*0\r\n");
    assert_eq!(
        c.cmd_bytes(&["SRANDMEMBER", "s", "5"]).await,
        b"*2\r\n$1\r\n1\r\n$1\r\n2\r\n"
    );
    assert_eq!(
        c.cmd(&["SMISMEMBER", "s", "1", "9"]).await,
        arr([int(1), int(0)])
    );
    assert_eq!(
        c.cmd(&["SSCAN", "s", "0"]).await,
        arr([bulk("0"), bulks(&["1", "2"])])
    );
    assert_eq!(c.cmd(&["SINTERCARD", "2", "s", "t"]).await, int(1));
    assert_eq!(c.cmd(&["SPOP", "s", "5"]).await, set(&["1", "2"]));
    assert_eq!(c.cmd(&["EXISTS", "s"]).await, int(0));
}

#[tokio::test]
async fn wrong_type_everywhere() {
    let server = TestServer::start().await;
    let mut c = server.raw().await;
    c.cmd(&["SET", "str", "v"]).await;
    c.cmd(&["SADD", "s", "a"]).await;
    let wrongtype = err("WRONGTYPE Operation against a key holding the wrong kind of value");
    for line in [
        "SADD str a",
        "SREM str a",
        "SCARD str",
        "SISMEMBER str a",
        "SMISMEMBER str a",
        "SMEMBERS str",
        "SRANDMEMBER str",
        "SRANDMEMBER str 3",
        "SPOP str",
        "SPOP str 3",
        "SMOVE str s a",
        "SMOVE s str a",
        "SINTER s str",
        "SINTER nokey str",
        "SINTERCARD 2 nokey str",
        "SINTERSTORE d s str",
        "SUNION str",
        "SUNIONSTORE d s str",
        "SDIFF s str",
        "SDIFF nokey str",
        "SDIFFSTORE d s str",
        "SSCAN str 0",
    ] {
        let args: Vec<&str> = line.split(' ').collect();
        assert_eq!(c.cmd(&args).await, wrongtype, "{line}");
    }
    // A missing source key is answered before the destination's type.
    assert_eq!(c.cmd(&["SMOVE", "nokey", "str", "a"]).await, int(0));
    // Nothing was written.
    assert_eq!(c.cmd(&["EXISTS", "d"]).await, int(0));
    assert_eq!(c.cmd(&["GET", "str"]).await, bulk("v"));
}

#[tokio::test]
async fn argument_errors() {
    let server = TestServer::start().await;
    let mut c = server.raw().await;
    c.cmd(&["SADD", "s", "a", "b"]).await;
    for (line, reply) in [
        ("SPOP s -1", "ERR value is out of range, must be positive"),
        ("SPOP s abc", "ERR value is out of range, must be positive"),
        ("SPOP nokey -1", "ERR value is out of range, must be positive"),
        ("SPOP s 1 2", "ERR syntax error"),
        ("SRANDMEMBER s abc", "ERR value is not an integer or out of range"),
        ("SRANDMEMBER nokey abc", "ERR value is not an integer or out of range"),
        (
            "SRANDMEMBER s -9223372036854775808",
            "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807",
        ),
        ("SRANDMEMBER s 1 2", "ERR syntax error"),
        ("SINTERCARD 0 s", "ERR numkeys should be greater than 0"),
        ("SINTERCARD abc s", "ERR numkeys should be greater than 0"),
        ("SINTERCARD 2 s", "ERR Number of keys can't be greater than number of args"),
        ("SINTERCARD 1 s LIMIT -1", "ERR LIMIT can't be negative"),
        ("SINTERCARD 1 s LIMIT x", "ERR LIMIT can't be negative"),
        ("SINTERCARD 1 s LIMIT", "ERR syntax error"),
        ("SINTERCARD 1 s FOO 1", "ERR syntax error"),
        ("SSCAN s x", "ERR invalid cursor"),
        ("SSCAN nokey x", "ERR invalid cursor"),
        ("SSCAN s 0 COUNT 0", "ERR syntax error"),
        ("SSCAN s 0 COUNT x", "ERR value is not an integer or out of range"),
        ("SSCAN s 0 MATCH", "ERR syntax error"),
        ("SSCAN s 0 TYPE set", "ERR syntax error"),
    ] {
        let args: Vec<&str> = line.split(' ').collect();
        assert_eq!(c.cmd(&args).await, err(reply), "{line}");
    }
    // SSCAN answers a missing key before it reads the options.
    assert_eq!(
        c.cmd(&["SSCAN", "nokey", "0", "bogus"]).await,
        arr([bulk("0"), arr([])])
    );
}

#[tokio::test]
async fn smove_semantics() {
    let server = TestServer::start().await;
    let mut c = server.raw().await;
    c.cmd(&["SADD", "src", "a", "b"]).await;
    c.cmd(&["SADD", "dst", "b"]).await;
    assert_eq!(c.cmd(&["SMOVE", "src", "dst", "x"]).await, int(0));
    assert_eq!(c.cmd(&["SMOVE", "src", "src", "a"]).await, int(1));
    assert_eq!(c.cmd(&["SMOVE", "src", "src", "x"]).await, int(0));
    // Already in the destination: still moved out of the source.
    assert_eq!(c.cmd(&["SMOVE", "src", "dst", "b"]).await, int(1));
    assert_eq!(c.cmd(&["SMEMBERS", "dst"]).await, bulks(&["b"]));
    // The last member: the source goes, a new destination comes.
    assert_eq!(c.cmd(&["SMOVE", "src", "new", "a"]).await, int(1));
    assert_eq!(c.cmd(&["EXISTS", "src"]).await, int(0));
    assert_eq!(c.cmd(&["SMEMBERS", "new"]).await, bulks(&["a"]));
    assert_eq!(c.cmd(&["SMOVE", "src", "new", "a"]).await, int(0));
}

#[tokio::test]
async fn set_operations_and_store() {
    let server = TestServer::start().await;
    let mut c = server.raw().await;
    // From set.tcl: SINTER/SUNION/SDIFF against three sets.
    for i in 0..200 {
        sadd(&mut c, "set1", [i.to_string()]).await;
        sadd(&mut c, "set2", [(i + 195).to_string()]).await;
    }
    c.cmd(&["SADD", "set3", "199", "195", "1000", "2000"]).await;
    c.cmd(&["SADD", "set4", "5", "6", "7", "8", "9"]).await;
    assert_eq!(
        c.cmd(&["SINTER", "set1", "set2"]).await,
        bulks(&["195", "196", "197", "198", "199"])
    );
    assert_eq!(
        c.cmd(&["SINTERSTORE", "setres", "set1", "set2"]).await,
        int(5)
    );
    assert_eq!(
        c.cmd(&["SMEMBERS", "setres"]).await,
        bulks(&["195", "196", "197", "198", "199"])
    );
    assert_eq!(
        c.cmd(&["SUNIONSTORE", "setres", "set1", "set2"]).await,
        int(395)
    );
    assert_eq!(c.cmd(&["SCARD", "setres"]).await, int(395));
    assert_eq!(
        c.cmd(&["SINTER", "set1", "set2", "set3"]).await,
        bulks(&["195", "199"])
    );
    assert_eq!(
        c.cmd(&["SDIFF", "set1", "set2", "set3"])
            .await
            .items()
            .len(),
        195
    );
    assert_eq!(
        c.cmd(&["SDIFF", "set3", "set1"]).await,
        bulks(&["1000", "2000"])
    );
    assert_eq!(c.cmd(&["SDIFF", "set1", "set1"]).await, arr([]));
    assert_eq!(c.cmd(&["SDIFF", "set4", "nokey"]).await.items().len(), 5);
    assert_eq!(c.cmd(&["SUNION", "nokey1", "nokey2"]).await, arr([]));
    assert_eq!(c.cmd(&["SINTERCARD", "2", "set1", "set2"]).await, int(5));
    assert_eq!(
        c.cmd(&["SINTERCARD", "2", "set1", "set2", "LIMIT", "3"])
            .await,
        int(3)
    );
    assert_eq!(
        c.cmd(&["SINTERCARD", "2", "set1", "set2", "limit", "0"])
            .await,
        int(5)
    );
    assert_eq!(c.cmd(&["SINTERCARD", "2", "set1", "nokey"]).await, int(0));
    // STORE over another type, with a deadline: replaced, no deadline.
    c.cmd(&["SET", "dst", "v", "EX", "100"]).await;
    assert_eq!(c.cmd(&["SDIFFSTORE", "dst", "set3", "set1"]).await, int(2));
    assert_eq!(c.cmd(&["TYPE", "dst"]).await, simple("set"));
    assert_eq!(c.cmd(&["TTL", "dst"]).await, int(-1));
    // An empty result deletes the destination, whatever it held.
    assert_eq!(
        c.cmd(&["SINTERSTORE", "dst", "set1", "nokey"]).await,
        int(0)
    );
    assert_eq!(c.cmd(&["EXISTS", "dst"]).await, int(0));
    c.cmd(&["SET", "dst", "v"]).await;
    assert_eq!(c.cmd(&["SDIFFSTORE", "dst", "set4", "set4"]).await, int(0));
    assert_eq!(c.cmd(&["EXISTS", "dst"]).await, int(0));
    c.cmd(&["SET", "dst", "v"]).await;
    assert_eq!(c.cmd(&["SUNIONSTORE", "dst", "nokey"]).await, int(0));
    assert_eq!(c.cmd(&["EXISTS", "dst"]).await, int(0));
    // The destination may be a source.
    assert_eq!(
        c.cmd(&["SUNIONSTORE", "set4", "set4", "set3"]).await,
        int(9)
    );
    assert_eq!(
        c.cmd(&["SINTERSTORE", "set4", "set4", "set3"]).await,
        int(4)
    );
    assert_eq!(
        c.cmd(&["SMEMBERS", "set4"]).await,
        bulks(&["195", "199", "1000", "2000"])
    );
}

#[tokio::test]
async fn random_members_and_pop() {
    let server = TestServer::start().await;
    let mut c = server.raw().await;
    for (key, items) in [
        ("ints", (0..50).map(|i| i.to_string()).collect::<Vec<_>>()),
        ("strs", (0..50).map(|i| format!("s{i}")).collect()),
        ("big", (0..1000).map(|i| format!("b{i}")).collect()),
    ] {
        sadd(&mut c, key, items.clone()).await;
        let all: BTreeSet<String> = items.iter().cloned().collect();
        let one = c.cmd(&["SRANDMEMBER", key]).await.text();
        assert!(all.contains(&one));
        for count in [1usize, 5, 20, 49] {
            let got = members(&c.cmd(&["SRANDMEMBER", key, &count.to_string()]).await);
            let distinct: BTreeSet<_> = got.iter().cloned().collect();
            assert_eq!((got.len(), distinct.len()), (count, count), "{key} {count}");
            assert!(distinct.is_subset(&all));
        }
        // A negative count: exactly that many, repeats allowed.
        let got = members(&c.cmd(&["SRANDMEMBER", key, "-2000"]).await);
        assert_eq!(got.len(), 2000);
        assert!(got.iter().all(|m| all.contains(m)));
        let distinct: BTreeSet<_> = got.iter().collect();
        assert!(distinct.len() < got.len(), "repeats in 2000 draws");
        // A count past the size: the whole set.
        let got = c.cmd(&["SRANDMEMBER", key, "5000"]).await;
        assert_eq!(sorted(&got).into_iter().collect::<BTreeSet<_>>(), all);
        // SPOP: members leave the set.
        let popped = c.cmd(&["SPOP", key]).await.text();
        assert!(all.contains(&popped));
        assert_eq!(c.cmd(&["SISMEMBER", key, &popped]).await, int(0));
        let popped = members(&c.cmd(&["SPOP", key, "10"]).await);
        let distinct: BTreeSet<_> = popped.iter().cloned().collect();
        assert_eq!(distinct.len(), 10);
        let size = items.len() as i64 - 11;
        assert_eq!(c.cmd(&["SCARD", key]).await, int(size));
        for m in &popped {
            assert_eq!(c.cmd(&["SISMEMBER", key, m]).await, int(0));
        }
        // Most of what is left, then the rest: the key goes.
        let most = members(&c.cmd(&["SPOP", key, &(size - 3).to_string()]).await);
        assert_eq!(most.len() as i64, size - 3);
        let rest = members(&c.cmd(&["SPOP", key, "100"]).await);
        assert_eq!(rest.len(), 3);
        assert_eq!(c.cmd(&["EXISTS", key]).await, int(0));
        let mut seen: BTreeSet<String> = [popped, most, rest].concat().into_iter().collect();
        seen.insert(one.clone());
        assert!(seen.is_subset(&all));
    }
    c.cmd(&["SADD", "single", "x"]).await;
    assert_eq!(c.cmd(&["SPOP", "single"]).await, bulk("x"));
    assert_eq!(c.cmd(&["EXISTS", "single"]).await, int(0));
}

#[tokio::test]
async fn sscan_returns_every_member() {
    let server = TestServer::start().await;
    let mut c = server.raw().await;
    // Small sets: everything at once, cursor 0, MATCH applied.
    c.cmd(&["SADD", "small", "a1", "b1", "a2"]).await;
    assert_eq!(
        c.cmd(&["SSCAN", "small", "0", "MATCH", "a*"]).await,
        arr([bulk("0"), bulks(&["a1", "a2"])])
    );
    assert_eq!(
        c.cmd(&["SSCAN", "small", "123", "COUNT", "1"]).await,
        arr([bulk("0"), bulks(&["a1", "b1", "a2"])])
    );
    // A big set: pages until cursor 0, every member exactly once, even
    // with members coming and going.
    let items: Vec<String> = (0..3000).map(|i| format!("m{i}")).collect();
    sadd(&mut c, "big", items.clone()).await;
    let mut seen = BTreeSet::new();
    let mut cursor = "0".to_string();
    let mut calls = 0;
    loop {
        let reply = c.cmd(&["SSCAN", "big", &cursor, "COUNT", "10"]).await;
        let parts = reply.items();
        for m in members(&parts[1]) {
            assert!(seen.insert(m), "returned twice");
        }
        c.cmd(&["SADD", "big", &format!("new{calls}")]).await;
        calls += 1;
        cursor = parts[0].text();
        if cursor == "0" {
            break;
        }
    }
    let originals: BTreeSet<String> = seen.into_iter().filter(|m| m.starts_with('m')).collect();
    assert_eq!(originals, items.into_iter().collect());
    assert!(calls > 1, "a big set is scanned in pages");
    // MATCH on a big set.
    let mut found = BTreeSet::new();
    let mut cursor = "0".to_string();
    loop {
        let reply = c
            .cmd(&["SSCAN", "big", &cursor, "MATCH", "m1??", "COUNT", "100"])
            .await;
        let parts = reply.items();
        found.extend(members(&parts[1]));
        cursor = parts[0].text();
        if cursor == "0" {
            break;
        }
    }
    assert_eq!(found.len(), 100);
    assert!(found.iter().all(|m| m.len() == 4 && m.starts_with("m1")));
}

#[tokio::test]
async fn sets_expire_copy_and_rename() {
    let server = TestServer::start().await;
    let mut c = server.raw().await;
    c.cmd(&["SADD", "s", "b", "a"]).await;
    assert_eq!(c.cmd(&["EXPIRE", "s", "100"]).await, int(1));
    assert_eq!(c.cmd(&["TTL", "s"]).await, int(100));
    // Writes keep the deadline.
    c.cmd(&["SADD", "s", "c"]).await;
    c.cmd(&["SREM", "s", "a"]).await;
    assert_eq!(c.cmd(&["TTL", "s"]).await, int(100));
    assert_eq!(c.cmd(&["COPY", "s", "t"]).await, int(1));
    assert_eq!(c.cmd(&["SMEMBERS", "t"]).await, bulks(&["b", "c"]));
    assert_eq!(c.cmd(&["RENAME", "t", "u"]).await, ok());
    assert_eq!(c.cmd(&["SMEMBERS", "u"]).await, bulks(&["b", "c"]));
    assert_eq!(c.cmd(&["TYPE", "u"]).await, simple("set"));
    assert_eq!(c.cmd(&["PEXPIRE", "s", "-1"]).await, int(1));
    assert_eq!(c.cmd(&["SMEMBERS", "s"]).await, arr([]));
    // SET overwrites a set.
    assert_eq!(c.cmd(&["SET", "u", "v"]).await, ok());
    assert_eq!(c.cmd(&["GET", "u"]).await, bulk("v"));
}

#[tokio::test]
async fn watch_sees_set_writes_and_not_no_ops() {
    let server = TestServer::start().await;
    let mut a = server.raw().await;
    let mut b = server.raw().await;
    a.cmd(&["SADD", "s", "x"]).await;
    // A write that changes nothing leaves the watch alone.
    for noop in [
        vec!["SADD", "s", "x"],
        vec!["SREM", "s", "nope"],
        vec!["SMOVE", "s", "t", "nope"],
        vec!["SPOP", "s", "0"],
        vec!["SMEMBERS", "s"],
    ] {
        assert_eq!(a.cmd(&["WATCH", "s"]).await, ok());
        b.cmd(&noop).await;
        a.cmd(&["MULTI"]).await;
        a.cmd(&["SCARD", "s"]).await;
        assert_eq!(a.cmd(&["EXEC"]).await, arr([int(1)]), "{noop:?}");
    }
    // Every kind of change fails the transaction.
    for change in [
        vec!["SADD", "s", "w"],
        vec!["SREM", "s", "y"],
        vec!["SINTERSTORE", "s", "s"],
        vec!["SUNIONSTORE", "s", "s", "other"],
        vec!["SMOVE", "other", "s", "z"],
        vec!["SPOP", "s", "1"],
    ] {
        a.cmd(&["DEL", "s", "other"]).await;
        a.cmd(&["SADD", "s", "x", "y"]).await;
        a.cmd(&["SADD", "other", "z"]).await;
        assert_eq!(a.cmd(&["WATCH", "s"]).await, ok());
        b.cmd(&change).await;
        a.cmd(&["MULTI"]).await;
        a.cmd(&["SCARD", "s"]).await;
        assert_eq!(a.cmd(&["EXEC"]).await, Reply::NullArray, "{change:?}");
    }
    // Set commands queue and run inside MULTI.
    assert_eq!(a.cmd(&["MULTI"]).await, ok());
    assert_eq!(a.cmd(&["SADD", "m", "1", "2"]).await, simple("QUEUED"));
    assert_eq!(a.cmd(&["SMEMBERS", "m"]).await, simple("QUEUED"));
    assert_eq!(a.cmd(&["SPOP", "m", "5"]).await, simple("QUEUED"));
    assert_eq!(
        a.cmd(&["EXEC"]).await,
        arr([int(2), bulks(&["1", "2"]), bulks(&["1", "2"])])
    );
    assert_eq!(a.cmd(&["EXISTS", "m"]).await, int(0));
}
