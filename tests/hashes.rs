//! Hash commands over real TCP, with Redis 7.2's replies in RESP2 and
//! RESP3. Many assertions are ported from Redis' own
//! `tests/unit/type/hash.tcl`; the rest were checked against redis-server.

// A test fails by panicking: unwrap is the point here, not a shortcut.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::{BTreeMap, HashSet};

use common::*;

const WRONGTYPE: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";

/// The fields of a flat field, value, field, value … array.
fn fields_of(reply: &Reply) -> Vec<String> {
    reply.items().chunks(2).map(|p| p[0].text()).collect()
}

#[tokio::test]
async fn set_get_and_friends() {
    let server = TestServer::start().await;
    let mut c = server.raw().await;
    assert_eq!(c.cmd(&["HSET", "h", "a", "1", "b", "2"]).await, int(2));
    assert_eq!(c.cmd(&["HSET", "h", "a", "10", "c", "3"]).await, int(1));
    assert_eq!(c.cmd(&["HGET", "h", "a"]).await, bulk("10"));
    assert_eq!(c.cmd(&["HGET", "h", "zz"]).await, nil());
    assert_eq!(c.cmd(&["HGET", "nokey", "a"]).await, nil());
    assert_eq!(
        c.cmd(&["HMGET", "h", "a", "zz", "c"]).await,
        arr([bulk("10"), nil(), bulk("3")])
    );
    assert_eq!(
        c.cmd(&["HMGET", "nokey", "a", "b"]).await,
        arr([nil(), nil()])
    );
    assert_eq!(c.cmd(&["HLEN", "h"]).await, int(3));
    assert_eq!(c.cmd(&["HLEN", "nokey"]).await, int(0));
    assert_eq!(c.cmd(&["HEXISTS", "h", "b"]).await, int(1));
    assert_eq!(c.cmd(&["HEXISTS", "h", "zz"]).await, int(0));
    assert_eq!(c.cmd(&["HEXISTS", "nokey", "b"]).await, int(0));
    assert_eq!(c.cmd(&["HSTRLEN", "h", "a"]).await, int(2));
    assert_eq!(c.cmd(&["HSTRLEN", "h", "zz"]).await, int(0));
    assert_eq!(c.cmd(&["HSTRLEN", "nokey", "a"]).await, int(0));
    // HSETNX: sets only a new field; creates the key.
    assert_eq!(c.cmd(&["HSETNX", "h", "a", "x"]).await, int(0));
    assert_eq!(c.cmd(&["HSETNX", "h", "d", "4"]).await, int(1));
    assert_eq!(c.cmd(&["HSETNX", "new", "f", "v"]).await, int(1));
    assert_eq!(c.cmd(&["HGET", "new", "f"]).await, bulk("v"));
    // HMSET replies OK.
    assert_eq!(c.cmd(&["HMSET", "h", "e", "5", "a", "1"]).await, ok());
    assert_eq!(
        c.cmd(&["HGETALL", "h"]).await,
        bulks(&["a", "1", "b", "2", "c", "3", "d", "4", "e", "5"])
    );
    assert_eq!(
        c.cmd(&["HKEYS", "h"]).await,
        bulks(&["a", "b", "c", "d", "e"])
    );
    assert_eq!(
        c.cmd(&["HVALS", "h"]).await,
        bulks(&["1", "2", "3", "4", "5"])
    );
    assert_eq!(c.cmd(&["HGETALL", "nokey"]).await, arr([]));
    assert_eq!(c.cmd(&["HKEYS", "nokey"]).await, arr([]));
    assert_eq!(c.cmd(&["HVALS", "nokey"]).await, arr([]));
    assert_eq!(c.cmd(&["TYPE", "h"]).await, simple("hash"));
    // Binary-safe fields and values, empty ones included.
    assert_eq!(
        c.cmd_bin(&[b"HSET", b"bin", b"\x00\r\n", b"", b"", b"\xff"])
            .await,
        int(2)
    );
    assert_eq!(c.cmd_bin(&[b"HGET", b"bin", b"\x00\r\n"]).await, bulk(""));
    assert_eq!(c.cmd_bin(&[b"HGET", b"bin", b""]).await, bulk(b"\xff"));
}

#[tokio::test]
async fn argument_errors_and_wrong_type() {
    let server = TestServer::start().await;
    let mut c = server.raw().await;
    let arity = |name: &str| {
        err(&format!(
            "ERR wrong number of arguments for '{name}' command"
        ))
    };
    assert_eq!(c.cmd(&["HSET", "h", "a"]).await, arity("hset"));
    assert_eq!(c.cmd(&["HSET", "h", "a", "1", "b"]).await, arity("hset"));
    assert_eq!(c.cmd(&["HMSET", "h", "a", "1", "b"]).await, arity("hmset"));
    assert_eq!(c.cmd(&["HSETNX", "h", "a"]).await, arity("hsetnx"));
    assert_eq!(c.cmd(&["HDEL", "h"]).await, arity("hdel"));
    assert_eq!(c.cmd(&["EXISTS", "h"]).await, int(0));

    assert_eq!(c.cmd(&["SET", "s", "x"]).await, ok());
    for line in [
        &["HSET", "s", "a", "1"][..],
        &["HMSET", "s", "a", "1"],
        &["HSETNX", "s", "a", "1"],
        &["HGET", "s", "a"],
        &["HMGET", "s", "a"],
        &["HDEL", "s", "a"],
        &["HLEN", "s"],
        &["HSTRLEN", "s", "a"],
        &["HEXISTS", "s", "a"],
        &["HKEYS", "s"],
        &["HVALS", "s"],
        &["HGETALL", "s"],
        &["HINCRBY", "s", "a", "1"],
        &["HINCRBYFLOAT", "s", "a", "1"],
        &["HRANDFIELD", "s"],
        &["HRANDFIELD", "s", "2"],
        &["HRANDFIELD", "s", "2", "WITHVALUES"],
        &["HSCAN", "s", "0"],
        &["HSCAN", "s", "0", "bad", "options"],
    ] {
        assert_eq!(c.cmd(line).await, err(WRONGTYPE), "{line:?}");
    }
    assert_eq!(c.cmd(&["GET", "s"]).await, bulk("x"));
    // Arguments parsed before the key's type is known win over WRONGTYPE.
    let not_int = err("ERR value is not an integer or out of range");
    assert_eq!(c.cmd(&["HINCRBY", "s", "a", "x"]).await, not_int);
    assert_eq!(
        c.cmd(&["HINCRBYFLOAT", "s", "a", "x"]).await,
        err("ERR value is not a valid float")
    );
    assert_eq!(c.cmd(&["HRANDFIELD", "s", "x"]).await, not_int);
    assert_eq!(c.cmd(&["HSCAN", "s", "x"]).await, err("ERR invalid cursor"));
    // A string command on a hash.
    assert_eq!(c.cmd(&["HSET", "h", "a", "1"]).await, int(1));
    assert_eq!(c.cmd(&["GET", "h"]).await, err(WRONGTYPE));
    assert_eq!(c.cmd(&["INCR", "h"]).await, err(WRONGTYPE));
    assert_eq!(c.cmd(&["APPEND", "h", "x"]).await, err(WRONGTYPE));
    // SET overwrites a hash.
    assert_eq!(c.cmd(&["SET", "h", "v"]).await, ok());
    assert_eq!(c.cmd(&["TYPE", "h"]).await, simple("string"));
}

#[tokio::test]
async fn deleting_the_last_field_deletes_the_key() {
    let server = TestServer::start().await;
    let mut c = server.raw().await;
    assert_eq!(c.cmd(&["HSET", "h", "a", "1", "b", "2"]).await, int(2));
    assert_eq!(c.cmd(&["HDEL", "h", "zz"]).await, int(0));
    assert_eq!(c.cmd(&["HDEL", "h", "a", "a", "zz"]).await, int(1));
    assert_eq!(c.cmd(&["EXISTS", "h"]).await, int(1));
    assert_eq!(c.cmd(&["HDEL", "h", "b", "a"]).await, int(1));
    assert_eq!(c.cmd(&["EXISTS", "h"]).await, int(0));
    assert_eq!(c.cmd(&["TYPE", "h"]).await, simple("none"));
    assert_eq!(c.cmd(&["HDEL", "nokey", "a"]).await, int(0));
    // The same for a large hash.
    let mut args = vec!["HSET".to_string(), "big".to_string()];
    for i in 0..200 {
        args.push(format!("f{i}"));
        args.push(format!("v{i}"));
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    assert_eq!(c.cmd(&args).await, int(200));
    let mut del = vec!["HDEL", "big"];
    del.extend(args[2..].iter().step_by(2));
    assert_eq!(c.cmd(&del).await, int(200));
    assert_eq!(c.cmd(&["EXISTS", "big"]).await, int(0));
    assert_eq!(c.cmd(&["DBSIZE"]).await, int(0));
}

#[tokio::test]
async fn resp3_shapes() {
    let server = TestServer::start().await;
    let mut c = server.raw().await;
    c.cmd(&["HELLO", "3"]).await;
    assert_eq!(c.cmd(&["HSET", "h", "a", "1", "b", "2"]).await, int(2));
    assert_eq!(
        c.cmd_bytes(&["HGETALL", "h"]).await,
        b"%2\r\n$1\r\na\r\n$1\r\n1\r\n$1\r\nb\r\n$1\r\n2\r\n"
    );
    assert_eq!(c.cmd_bytes(&["HGETALL", "nokey"]).await, b"%0\r\n");
    assert_eq!(c.cmd_bytes(&["HKEYS", "nokey"]).await, b"*0\r\n");
    assert_eq!(c.cmd_bytes(&["HGET", "h", "zz"]).await, b"_\r\n");
    assert_eq!(c.cmd_bytes(&["HMGET", "h", "zz"]).await, b"*1\r\n_\r\n");
    assert_eq!(c.cmd_bytes(&["HRANDFIELD", "nokey"]).await, b"_\r\n");
    // WITHVALUES: an array of [field, value] pairs in RESP3.
    assert_eq!(
        c.cmd_bytes(&["HRANDFIELD", "h", "5", "WITHVALUES"]).await,
        b"*2\r\n*2\r\n$1\r\na\r\n$1\r\n1\r\n*2\r\n$1\r\nb\r\n$1\r\n2\r\n"
    );
    assert_eq!(
        c.cmd_bytes(&["HRANDFIELD", "nokey", "5", "WITHVALUES"])
            .await,
        b"*0\r\n"
    );
    let repeated = c.cmd(&["HRANDFIELD", "h", "-3", "WITHVALUES"]).await;
    assert_eq!(repeated.items().len(), 3);
    for pair in repeated.items() {
        let pair = pair.items();
        assert_eq!(pair.len(), 2);
        let want = if pair[0].text() == "a" { "1" } else { "2" };
        assert_eq!(pair[1].text(), want);
    }
    // HSCAN: a cursor and a flat array, in RESP3 too.
    assert_eq!(
        c.cmd_bytes(&["HSCAN", "h", "0"]).await,
        b"*2\r\n$1\r\n0\r\n*4\r\n$1\r\na\r\n$1\r\n1\r\n$1\r\nb\r\n$1\r\n2\r\n"
    );
    assert_eq!(
        c.cmd_bytes(&["HINCRBYFLOAT", "h", "a", "0.5"]).await,
        b"$3\r\n1.5\r\n"
    );
}

#[tokio::test]
async fn incr_by_integers_and_floats() {
    let server = TestServer::start().await;
    let mut c = server.raw().await;
    assert_eq!(c.cmd(&["HINCRBY", "h", "n", "2"]).await, int(2));
    assert_eq!(c.cmd(&["HINCRBY", "h", "n", "-5"]).await, int(-3));
    assert_eq!(c.cmd(&["HGET", "h", "n"]).await, bulk("-3"));
    assert_eq!(
        c.cmd(&["HSET", "h", "big", "9223372036854775807"]).await,
        int(1)
    );
    assert_eq!(
        c.cmd(&["HINCRBY", "h", "big", "1"]).await,
        err("ERR increment or decrement would overflow")
    );
    assert_eq!(
        c.cmd(&["HINCRBY", "h", "n", "-9223372036854775808"]).await,
        err("ERR increment or decrement would overflow")
    );
    for bad in ["x", " 1", "1 ", "1.0", ""] {
        c.cmd(&["HSET", "h", "s", bad]).await;
        assert_eq!(
            c.cmd(&["HINCRBY", "h", "s", "1"]).await,
            err("ERR hash value is not an integer"),
            "{bad:?}"
        );
    }
    assert_eq!(
        c.cmd(&["HINCRBY", "h", "n", "1.5"]).await,
        err("ERR value is not an integer or out of range")
    );
    // HINCRBYFLOAT prints like INCRBYFLOAT (long double, %.17Lg, trimmed).
    assert_eq!(c.cmd(&["HSET", "h", "f", "10.5"]).await, int(1));
    assert_eq!(
        c.cmd(&["HINCRBYFLOAT", "h", "f", "0.1"]).await,
        bulk("10.6")
    );
    assert_eq!(c.cmd(&["HINCRBYFLOAT", "h", "f", "-0.6"]).await, bulk("10"));
    assert_eq!(
        c.cmd(&["HINCRBYFLOAT", "h", "g", "5.0e3"]).await,
        bulk("5000")
    );
    assert_eq!(
        c.cmd(&["HINCRBYFLOAT", "h", "n", "0.25"]).await,
        bulk("-2.75")
    );
    assert_eq!(
        c.cmd(&["HINCRBYFLOAT", "h", "s", "1"]).await,
        err("ERR hash value is not a float")
    );
    assert_eq!(
        c.cmd(&["HINCRBYFLOAT", "h", "f", "abc"]).await,
        err("ERR value is not a valid float")
    );
    assert_eq!(
        c.cmd(&["HINCRBYFLOAT", "nokey", "f", "inf"]).await,
        err("ERR value is NaN or Infinity")
    );
    assert_eq!(c.cmd(&["EXISTS", "nokey"]).await, int(0));
    c.cmd(&["HSET", "h", "huge", "1e4932"]).await;
    assert_eq!(
        c.cmd(&["HINCRBYFLOAT", "h", "huge", "1e4932"]).await,
        err("ERR increment would produce NaN or Infinity")
    );
    assert_eq!(c.cmd(&["HGET", "h", "huge"]).await, bulk("1e4932"));
}

#[tokio::test]
async fn random_fields() {
    let server = TestServer::start().await;
    let mut c = server.raw().await;
    assert_eq!(c.cmd(&["HRANDFIELD", "nokey"]).await, nil());
    assert_eq!(c.cmd(&["HRANDFIELD", "nokey", "3"]).await, arr([]));
    assert_eq!(
        c.cmd(&["HSET", "h", "a", "1", "b", "2", "c", "3"]).await,
        int(3)
    );
    assert_eq!(c.cmd(&["HRANDFIELD", "h", "0"]).await, arr([]));
    assert_eq!(
        c.cmd(&["HRANDFIELD", "h", "0", "WITHVALUES"]).await,
        arr([])
    );
    // A count as large as the hash: all of it, in its order.
    assert_eq!(
        c.cmd(&["HRANDFIELD", "h", "3"]).await,
        bulks(&["a", "b", "c"])
    );
    assert_eq!(
        c.cmd(&["HRANDFIELD", "h", "10", "withvalues"]).await,
        bulks(&["a", "1", "b", "2", "c", "3"])
    );
    let one = c.cmd(&["HRANDFIELD", "h"]).await.text();
    assert!(["a", "b", "c"].contains(&one.as_str()));
    // Positive count: distinct fields.
    let two = c.cmd(&["HRANDFIELD", "h", "2"]).await;
    let names: HashSet<String> = two.items().iter().map(Reply::text).collect();
    assert_eq!(names.len(), 2);
    // Negative count: repeats allowed, exactly |count| of them.
    let many = c.cmd(&["HRANDFIELD", "h", "-100"]).await;
    assert_eq!(many.items().len(), 100);
    let names: HashSet<String> = many.items().iter().map(Reply::text).collect();
    assert_eq!(names.len(), 3, "100 draws of 3 fields find them all");
    let pairs = c.cmd(&["HRANDFIELD", "h", "-20", "WITHVALUES"]).await;
    assert_eq!(pairs.items().len(), 40);
    for p in pairs.items().chunks(2) {
        let want = match p[0].text().as_str() {
            "a" => "1",
            "b" => "2",
            _ => "3",
        };
        assert_eq!(p[1].text(), want);
    }
    // Errors.
    assert_eq!(
        c.cmd(&["HRANDFIELD", "h", "1", "foo"]).await,
        err("ERR syntax error")
    );
    assert_eq!(
        c.cmd(&["HRANDFIELD", "h", "1", "withvalues", "x"]).await,
        err("ERR syntax error")
    );
    assert_eq!(
        c.cmd(&["HRANDFIELD", "h", "-9223372036854775808"]).await,
        err("ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807")
    );
    assert_eq!(
        c.cmd(&["HRANDFIELD", "h", "-9223372036854775807", "withvalues"])
            .await,
        err("ERR value is out of range")
    );
    // A large hash: distinct picks are distinct and valid.
    let mut args = vec!["HSET".to_string(), "big".to_string()];
    for i in 0..1000 {
        args.push(format!("f{i}"));
        args.push(format!("v{i}"));
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    c.cmd(&args).await;
    for count in ["1", "10", "500", "999", "1000", "2000"] {
        let got = c.cmd(&["HRANDFIELD", "big", count, "WITHVALUES"]).await;
        let fields = fields_of(&got);
        let want = count.parse::<usize>().unwrap().min(1000);
        assert_eq!(fields.len(), want);
        assert_eq!(fields.iter().collect::<HashSet<_>>().len(), want);
        for p in got.items().chunks(2) {
            assert_eq!(p[1].text(), format!("v{}", &p[0].text()[1..]));
        }
    }
    assert_eq!(
        c.cmd(&["HRANDFIELD", "big", "-3000"]).await.items().len(),
        3000
    );
}

#[tokio::test]
async fn scan_small_and_large() {
    let server = TestServer::start().await;
    let mut c = server.raw().await;
    assert_eq!(
        c.cmd(&["HSCAN", "nokey", "0"]).await,
        arr([bulk("0"), arr([])])
    );
    // Options are read only for an existing hash.
    assert_eq!(
        c.cmd(&["HSCAN", "nokey", "0", "COUNT", "0"]).await,
        arr([bulk("0"), arr([])])
    );
    c.cmd(&["HSET", "h", "a1", "1", "b", "2", "a2", "3"]).await;
    // Small: everything at once, whatever the count and cursor.
    assert_eq!(
        c.cmd(&["HSCAN", "h", "0", "COUNT", "1"]).await,
        arr([bulk("0"), bulks(&["a1", "1", "b", "2", "a2", "3"])])
    );
    assert_eq!(
        c.cmd(&["HSCAN", "h", "12345", "MATCH", "a*"]).await,
        arr([bulk("0"), bulks(&["a1", "1", "a2", "3"])])
    );
    for (opts, reply) in [
        (&["COUNT", "0"][..], "ERR syntax error"),
        (
            &["COUNT", "x"],
            "ERR value is not an integer or out of range",
        ),
        (&["MATCH"], "ERR syntax error"),
        (&["TYPE", "hash"], "ERR syntax error"),
        (&["NOVALUES"], "ERR syntax error"),
    ] {
        let mut line = vec!["HSCAN", "h", "0"];
        line.extend_from_slice(opts);
        assert_eq!(c.cmd(&line).await, err(reply), "{opts:?}");
    }
    assert_eq!(c.cmd(&["HSCAN", "h", "-1"]).await.items()[0], bulk("0"));
    assert_eq!(
        c.cmd(&["HSCAN", "h", "1x"]).await,
        err("ERR invalid cursor")
    );

    // Large: in steps, every field at least once, values with them.
    let mut args = vec!["HSET".to_string(), "big".to_string()];
    for i in 0..1000 {
        args.push(format!("f{i}"));
        args.push(format!("v{i}"));
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    c.cmd(&args).await;
    let mut seen = BTreeMap::new();
    let mut cursor = "0".to_string();
    let mut steps = 0;
    loop {
        let reply = c.cmd(&["HSCAN", "big", &cursor, "COUNT", "50"]).await;
        cursor = reply.items()[0].text();
        for p in reply.items()[1].items().chunks(2) {
            seen.insert(p[0].text(), p[1].text());
        }
        steps += 1;
        if cursor == "0" {
            break;
        }
        assert!(steps < 1000, "the scan ends");
    }
    assert!(steps > 2, "a large hash is scanned in steps ({steps})");
    assert_eq!(seen.len(), 1000);
    for (f, v) in &seen {
        assert_eq!(v, &format!("v{}", &f[1..]));
    }
    // MATCH on a large hash.
    let mut matched = HashSet::new();
    let mut cursor = "0".to_string();
    loop {
        let reply = c
            .cmd(&["HSCAN", "big", &cursor, "MATCH", "f1?", "COUNT", "100"])
            .await;
        cursor = reply.items()[0].text();
        matched.extend(fields_of(&reply.items()[1]));
        if cursor == "0" {
            break;
        }
    }
    let want: HashSet<String> = (10..20).map(|i| format!("f{i}")).collect();
    assert_eq!(matched, want);
}

#[tokio::test]
async fn large_hashes_keep_working() {
    let server = TestServer::start().await;
    let mut c = server.raw().await;
    // The 129th field converts; so does one long value. HGETALL, HKEYS
    // and HVALS agree with each other whatever the order.
    for i in 0..129 {
        assert_eq!(
            c.cmd(&["HSET", "many", &format!("f{i}"), &i.to_string()])
                .await,
            int(1)
        );
    }
    assert_eq!(c.cmd(&["HLEN", "many"]).await, int(129));
    assert_eq!(c.cmd(&["HGET", "many", "f77"]).await, bulk("77"));
    let all = c.cmd(&["HGETALL", "many"]).await;
    let keys = c.cmd(&["HKEYS", "many"]).await;
    let vals = c.cmd(&["HVALS", "many"]).await;
    assert_eq!(all.items().len(), 258);
    let from_all: Vec<String> = fields_of(&all);
    assert_eq!(
        from_all,
        keys.items().iter().map(Reply::text).collect::<Vec<_>>()
    );
    let vals_from_all: Vec<String> = all.items().chunks(2).map(|p| p[1].text()).collect();
    assert_eq!(
        vals_from_all,
        vals.items().iter().map(Reply::text).collect::<Vec<_>>()
    );

    let long = "x".repeat(65);
    assert_eq!(c.cmd(&["HSET", "long", "a", "1", "b", &long]).await, int(2));
    assert_eq!(c.cmd(&["HGET", "long", "b"]).await, bulk(&long));
    assert_eq!(c.cmd(&["HSTRLEN", "long", "b"]).await, int(65));
    assert_eq!(c.cmd(&["HINCRBY", "long", "a", "41"]).await, int(42));
    assert_eq!(
        c.cmd(&["HINCRBYFLOAT", "long", "c", "1.5"]).await,
        bulk("1.5")
    );
    assert_eq!(c.cmd(&["HSETNX", "long", "a", "0"]).await, int(0));
    assert_eq!(c.cmd(&["HDEL", "long", "b"]).await, int(1));
    assert_eq!(c.cmd(&["HLEN", "long"]).await, int(2));
    let mut got = fields_of(&c.cmd(&["HGETALL", "long"]).await);
    got.sort();
    assert_eq!(got, ["a", "c"]);
    // A long field name, past 127 bytes (a two-byte length).
    let field = "f".repeat(300);
    let value = "v".repeat(1000);
    assert_eq!(c.cmd(&["HSET", "long", &field, &value]).await, int(1));
    assert_eq!(c.cmd(&["HGET", "long", &field]).await, bulk(&value));
    assert_eq!(c.cmd(&["HSTRLEN", "long", &field]).await, int(1000));
}

#[tokio::test]
async fn generic_key_commands_on_hashes() {
    let server = TestServer::start().await;
    let mut c = server.raw().await;
    c.cmd(&["HSET", "h", "a", "1", "b", "2"]).await;
    // COPY is deep: changing the copy leaves the original alone.
    assert_eq!(c.cmd(&["COPY", "h", "h2"]).await, int(1));
    assert_eq!(c.cmd(&["HSET", "h2", "c", "3"]).await, int(1));
    assert_eq!(c.cmd(&["HLEN", "h"]).await, int(2));
    assert_eq!(
        c.cmd(&["HGETALL", "h2"]).await,
        bulks(&["a", "1", "b", "2", "c", "3"])
    );
    assert_eq!(c.cmd(&["COPY", "h", "h2"]).await, int(0));
    assert_eq!(c.cmd(&["COPY", "h", "h2", "REPLACE"]).await, int(1));
    assert_eq!(c.cmd(&["HLEN", "h2"]).await, int(2));
    assert_eq!(c.cmd(&["COPY", "h", "other", "DB", "3"]).await, int(1));
    c.cmd(&["SELECT", "3"]).await;
    assert_eq!(c.cmd(&["HGET", "other", "b"]).await, bulk("2"));
    c.cmd(&["SELECT", "0"]).await;
    // RENAME keeps the hash, and its deadline.
    assert_eq!(c.cmd(&["EXPIRE", "h", "100"]).await, int(1));
    assert_eq!(c.cmd(&["RENAME", "h", "r"]).await, ok());
    assert_eq!(c.cmd(&["EXISTS", "h"]).await, int(0));
    assert_eq!(c.cmd(&["TYPE", "r"]).await, simple("hash"));
    assert_eq!(c.cmd(&["HGET", "r", "a"]).await, bulk("1"));
    let ttl = c.cmd(&["TTL", "r"]).await.int();
    assert!((99..=100).contains(&ttl), "{ttl}");
    // HSET keeps the deadline; PERSIST removes it.
    c.cmd(&["HSET", "r", "z", "9"]).await;
    assert!(c.cmd(&["TTL", "r"]).await.int() > 0);
    assert_eq!(c.cmd(&["PERSIST", "r"]).await, int(1));
    assert_eq!(c.cmd(&["TTL", "r"]).await, int(-1));
    // A deadline in the past deletes the hash.
    assert_eq!(c.cmd(&["PEXPIREAT", "r", "1"]).await, int(1));
    assert_eq!(c.cmd(&["EXISTS", "r"]).await, int(0));
    assert_eq!(c.cmd(&["HLEN", "r"]).await, int(0));
    // DEL, UNLINK.
    assert_eq!(c.cmd(&["DEL", "h2", "nokey"]).await, int(1));
    assert_eq!(c.cmd(&["HGET", "h2", "a"]).await, nil());
    c.cmd(&["HSET", "u", "a", "1"]).await;
    assert_eq!(c.cmd(&["UNLINK", "u"]).await, int(1));
    // RENAME onto a string key replaces it.
    c.cmd(&["HSET", "h", "a", "1"]).await;
    c.cmd(&["SET", "s", "x"]).await;
    assert_eq!(c.cmd(&["RENAME", "h", "s"]).await, ok());
    assert_eq!(c.cmd(&["TYPE", "s"]).await, simple("hash"));
    // SCAN TYPE hash.
    assert_eq!(
        c.cmd(&["SCAN", "0", "TYPE", "hash", "COUNT", "1000"]).await,
        arr([bulk("0"), bulks(&["s"])])
    );
}

#[tokio::test]
async fn expired_hash_is_gone() {
    let clock = redynamo::util::clock::Clock::manual(1_700_000_000_000);
    let server = TestServer::with_clock(clock.clone()).await;
    let mut c = server.raw().await;
    c.cmd(&["HSET", "h", "a", "1"]).await;
    assert_eq!(c.cmd(&["PEXPIRE", "h", "100"]).await, int(1));
    clock.advance(100);
    assert_eq!(c.cmd(&["HGET", "h", "a"]).await, nil());
    assert_eq!(c.cmd(&["HLEN", "h"]).await, int(0));
    // A new HSET starts from an empty hash without the old deadline.
    assert_eq!(c.cmd(&["HSET", "h", "b", "2"]).await, int(1));
    assert_eq!(c.cmd(&["HGETALL", "h"]).await, bulks(&["b", "2"]));
    assert_eq!(c.cmd(&["TTL", "h"]).await, int(-1));
}

#[tokio::test]
async fn watch_sees_hash_writes_only_when_they_change_something() {
    let server = TestServer::start().await;
    let mut c = server.raw().await;
    let mut other = server.raw().await;
    c.cmd(&["HSET", "h", "a", "1"]).await;

    // Writes that change nothing leave a watched key clean.
    for noop in [
        &["HDEL", "h", "zz"][..],
        &["HSETNX", "h", "a", "2"],
        &["HINCRBY", "h", "a", "x"],
        &["HGET", "h", "a"],
        &["HGETALL", "h"],
    ] {
        assert_eq!(c.cmd(&["WATCH", "h"]).await, ok());
        other.cmd(noop).await;
        c.cmd(&["MULTI"]).await;
        c.cmd(&["HGET", "h", "a"]).await;
        assert_eq!(c.cmd(&["EXEC"]).await, arr([bulk("1")]), "{noop:?}");
    }
    // Writes that change it abort the transaction.
    for write in [
        &["HSET", "h", "a", "1"][..],
        &["HSETNX", "h", "n", "1"],
        &["HDEL", "h", "n"],
        &["HINCRBY", "h", "a", "0"],
        &["HINCRBYFLOAT", "h", "a", "0"],
        &["HMSET", "h", "a", "1"],
    ] {
        assert_eq!(c.cmd(&["WATCH", "h"]).await, ok());
        other.cmd(write).await;
        c.cmd(&["MULTI"]).await;
        c.cmd(&["HGET", "h", "a"]).await;
        assert_eq!(c.cmd(&["EXEC"]).await, Reply::NullArray, "{write:?}");
    }
    // Hash commands queue inside MULTI and run in EXEC.
    c.cmd(&["MULTI"]).await;
    assert_eq!(c.cmd(&["HSET", "t", "a", "1"]).await, simple("QUEUED"));
    assert_eq!(c.cmd(&["HINCRBY", "t", "a", "2"]).await, simple("QUEUED"));
    assert_eq!(c.cmd(&["HGETALL", "t"]).await, simple("QUEUED"));
    assert_eq!(
        c.cmd(&["EXEC"]).await,
        arr([int(1), int(3), bulks(&["a", "3"])])
    );
}

#[tokio::test]
async fn through_the_redis_crate() {
    use redis::AsyncCommands;
    let server = TestServer::start().await;
    let mut con = server.conn().await;
    let _: () = con
        .hset_multiple("h", &[("a", "1"), ("b", "2")])
        .await
        .unwrap();
    let all: BTreeMap<String, String> = con.hgetall("h").await.unwrap();
    assert_eq!(all.get("a").map(String::as_str), Some("1"));
    assert_eq!(all.len(), 2);
    let n: i64 = con.hincr("h", "a", 5).await.unwrap();
    assert_eq!(n, 6);
    let exists: bool = con.hexists("h", "b").await.unwrap();
    assert!(exists);
}

#[tokio::test]
async fn reads_count_keyspace_hits_and_misses_once_per_key() {
    let server = TestServer::start().await;
    let mut c = server.raw().await;
    // The same lines give keyspace_hits:4 and keyspace_misses:2 on
    // redis-server: reads count once per key, writes not at all.
    for line in [
        &["HSET", "h", "a", "1"][..],
        &["HGET", "h", "a"],
        &["HGET", "nokey", "a"],
        &["HMGET", "h", "a", "b", "c"],
        &["HDEL", "h", "zz"],
        &["HINCRBY", "h", "n", "1"],
        &["HSCAN", "h", "0"],
        &["HRANDFIELD", "nokey", "3"],
        &["HGETALL", "h"],
        &["HSETNX", "h", "a", "1"],
    ] {
        assert!(!c.cmd(line).await.is_error(), "{line:?}");
    }
    let info = c.cmd(&["INFO", "stats"]).await.text();
    let stat = |name: &str| -> i64 {
        info.lines()
            .find_map(|l| l.strip_prefix(&format!("{name}:")))
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    };
    assert_eq!((stat("keyspace_hits"), stat("keyspace_misses")), (4, 2));
}
