//! One behavioural suite, two backends: every string and key command runs
//! against the memory backend and against DynamoDB (on moto), and the
//! replies must be identical — values, nils, integers and error texts.
//!
//! Each test starts one server of each kind (DynamoDB in a fresh table),
//! runs a script on both, and compares every reply. Replies that depend on
//! the clock are compared within a tolerance, and replies whose order is
//! unspecified (KEYS, SCAN) as sets.

mod common;

use std::collections::BTreeSet;

use common::{Backend, TestServer};
use redis::aio::MultiplexedConnection;
use redis::Value;

/// How to compare the two backends' replies to one step.
#[derive(Clone, Copy, Debug)]
enum Check {
    /// Exactly equal.
    Same,
    /// Arrays equal as sets (KEYS).
    Unordered,
    /// Integers within this distance (PTTL and friends).
    Near(i64),
}

/// What a reply looks like, comparable across backends.
#[derive(Clone, Debug, PartialEq)]
enum Seen {
    Value(Value),
    Error(String),
}

async fn send(conn: &mut MultiplexedConnection, args: &[&str]) -> Seen {
    let mut cmd = redis::cmd(args[0]);
    for a in &args[1..] {
        cmd.arg(*a);
    }
    match cmd.query_async::<Value>(conn).await {
        Ok(v) => Seen::Value(v),
        Err(e) => Seen::Error(e.to_string()),
    }
}

fn sorted(v: &Value) -> Option<BTreeSet<Vec<u8>>> {
    match v {
        Value::Array(items) => items
            .iter()
            .map(|i| match i {
                Value::BulkString(b) => Some(b.clone()),
                _ => None,
            })
            .collect(),
        _ => None,
    }
}

fn agree(check: Check, memory: &Seen, dynamo: &Seen) -> bool {
    match (check, memory, dynamo) {
        (Check::Same, a, b) => a == b,
        (Check::Unordered, Seen::Value(a), Seen::Value(b)) => {
            sorted(a).is_some() && sorted(a) == sorted(b)
        }
        (Check::Near(d), Seen::Value(Value::Int(a)), Seen::Value(Value::Int(b))) => {
            (a - b).abs() <= d
        }
        (_, a, b) => a == b,
    }
}

/// A memory server and a DynamoDB server, side by side.
struct Pair {
    memory: MultiplexedConnection,
    dynamo: MultiplexedConnection,
    _servers: (TestServer, TestServer),
}

impl Pair {
    async fn start() -> Option<Pair> {
        let backend = Backend::dynamo()?;
        let mem_server = TestServer::on(&Backend::Memory).await;
        let dyn_server = TestServer::on(&backend).await;
        Some(Pair {
            memory: mem_server.conn().await,
            dynamo: dyn_server.conn().await,
            _servers: (mem_server, dyn_server),
        })
    }

    /// Run one step on both; panic with both replies when they differ.
    async fn step(&mut self, check: Check, args: &[&str]) -> Seen {
        let m = send(&mut self.memory, args).await;
        let d = send(&mut self.dynamo, args).await;
        assert!(
            agree(check, &m, &d),
            "{args:?}\n  memory:   {m:?}\n  dynamodb: {d:?}"
        );
        m
    }

    async fn same(&mut self, args: &[&str]) -> Seen {
        self.step(Check::Same, args).await
    }

    async fn script(&mut self, steps: &[&[&str]]) {
        for s in steps {
            self.same(s).await;
        }
    }
}

macro_rules! pair_or_skip {
    () => {
        match Pair::start().await {
            Some(p) => p,
            None => return,
        }
    };
}

fn int(n: i64) -> Seen {
    Seen::Value(Value::Int(n))
}

fn bulk(s: &str) -> Seen {
    Seen::Value(Value::BulkString(s.as_bytes().to_vec()))
}

#[tokio::test]
async fn get_set_and_their_options() {
    let mut p = pair_or_skip!();
    p.script(&[
        &["GET", "missing"],
        &["SET", "k", "v"],
        &["GET", "k"],
        &["SET", "k", "v2", "GET"],
        &["SET", "k", "v3", "NX"],
        &["SET", "k", "v3", "NX", "GET"],
        &["SET", "fresh", "1", "XX"],
        &["SET", "fresh", "1", "XX", "GET"],
        &["SET", "fresh", "1", "NX"],
        &["SET", "k", "v4", "XX", "GET"],
        &["GET", "k"],
        &["SET", "k", "v", "NX", "XX"],
        &["SET", "k", "v", "EX", "0"],
        &["SET", "k", "v", "EX", "abc"],
        &["SET", "k", "v", "PX"],
        &["SET", "k", "v", "KEEPTTL", "EX", "10"],
        &["SET", "k", "v", "EX", "9223372036854775807"],
        &["SET", "e", "v", "EX", "100"],
        &["TTL", "e"],
        &["SET", "e", "v2", "KEEPTTL"],
        &["TTL", "e"],
        &["SET", "e", "v3"],
        &["TTL", "e"],
        &["SET", "at", "v", "EXAT", "4102444800"],
        &["EXPIRETIME", "at"],
        &["SET", "at", "v", "PXAT", "4102444800123"],
        &["PEXPIRETIME", "at"],
        &["SET", "gone", "v", "PXAT", "1000"],
        &["GET", "gone"],
        &["EXISTS", "gone"],
        &["SET", "empty", ""],
        &["GET", "empty"],
        &["STRLEN", "empty"],
        &["SET", "", "empty key"],
        &["GET", ""],
        &["SETNX", "nx", "1"],
        &["SETNX", "nx", "2"],
        &["GET", "nx"],
        &["SETEX", "se", "100", "v"],
        &["TTL", "se"],
        &["SETEX", "se", "0", "v"],
        &["SETEX", "se", "x", "v"],
        &["PSETEX", "pse", "100000", "v"],
        &["PSETEX", "pse", "-5", "v"],
        &["GET", "pse"],
        &["GETSET", "gs", "1"],
        &["GETSET", "gs", "2"],
        &["GET", "gs"],
        &["GETDEL", "gs"],
        &["GETDEL", "gs"],
        &["EXISTS", "gs"],
    ])
    .await;
    p.step(Check::Near(1000), &["PTTL", "pse"]).await;
    let binary = "\u{0}\u{1}\r\n\u{7f}";
    p.script(&[&["SET", "bin", binary], &["GET", "bin"]]).await;
    assert_eq!(p.same(&["GET", "bin"]).await, bulk(binary));
}

#[tokio::test]
async fn getex_and_expiry_commands() {
    let mut p = pair_or_skip!();
    p.script(&[
        &["SET", "k", "v"],
        &["GETEX", "k"],
        &["TTL", "k"],
        &["GETEX", "k", "EX", "100"],
        &["TTL", "k"],
        &["GETEX", "k", "PERSIST"],
        &["TTL", "k"],
        &["GETEX", "k", "EXAT", "4102444800"],
        &["EXPIRETIME", "k"],
        &["GETEX", "k", "PXAT", "4102444800999"],
        &["PEXPIRETIME", "k"],
        &["GETEX", "k", "EX", "0"],
        &["GETEX", "k", "FOO"],
        &["GETEX", "missing", "EX", "10"],
        &["GETEX", "k", "PXAT", "1"],
        &["EXISTS", "k"],
        &["TTL", "missing"],
        &["PTTL", "missing"],
        &["EXPIRETIME", "missing"],
        &["PEXPIRETIME", "missing"],
        &["SET", "p", "v"],
        &["TTL", "p"],
        &["PTTL", "p"],
        &["EXPIRETIME", "p"],
        &["PEXPIRETIME", "p"],
        &["EXPIRE", "missing", "10"],
        &["EXPIRE", "p", "100"],
        &["TTL", "p"],
        &["EXPIRE", "p", "200", "NX"],
        &["EXPIRE", "p", "200", "XX"],
        &["TTL", "p"],
        &["EXPIRE", "p", "100", "GT"],
        &["EXPIRE", "p", "300", "GT"],
        &["EXPIRE", "p", "400", "LT"],
        &["EXPIRE", "p", "50", "LT"],
        &["TTL", "p"],
        &["EXPIRE", "p", "10", "NX", "XX"],
        &["EXPIRE", "p", "10", "GT", "LT"],
        &["EXPIRE", "p", "10", "BOGUS"],
        &["EXPIRE", "p", "abc"],
        &["EXPIRE", "p", "9223372036854775807"],
        &["PERSIST", "p"],
        &["PERSIST", "p"],
        &["PERSIST", "missing"],
        &["TTL", "p"],
        &["EXPIRE", "p", "100", "XX"],
        &["EXPIRE", "p", "100", "GT"],
        &["EXPIRE", "p", "100", "LT"],
        &["TTL", "p"],
        &["PEXPIRE", "p", "500000"],
        &["EXPIREAT", "p", "4102444800"],
        &["EXPIRETIME", "p"],
        &["PEXPIREAT", "p", "4102444800500"],
        &["PEXPIRETIME", "p"],
        &["EXPIREAT", "p", "4102444801", "GT"],
        &["EXPIRETIME", "p"],
        &["EXPIRE", "p", "-1"],
        &["EXISTS", "p"],
        &["SET", "q", "v"],
        &["PEXPIREAT", "q", "1"],
        &["GET", "q"],
        &["SET", "r", "v"],
        &["EXPIREAT", "r", "0"],
        &["TYPE", "r"],
    ])
    .await;
}

#[tokio::test]
async fn counters() {
    let mut p = pair_or_skip!();
    p.script(&[
        &["INCR", "n"],
        &["INCR", "n"],
        &["DECR", "n"],
        &["INCRBY", "n", "100"],
        &["DECRBY", "n", "50"],
        &["GET", "n"],
        &["INCRBY", "n", "abc"],
        &["DECRBY", "n", "-9223372036854775808"],
        &["SET", "big", "9223372036854775807"],
        &["INCR", "big"],
        &["SET", "small", "-9223372036854775808"],
        &["DECR", "small"],
        &["SET", "word", "hello"],
        &["INCR", "word"],
        &["SET", "spaced", " 1"],
        &["INCR", "spaced"],
        &["SET", "lead", "01"],
        &["INCR", "lead"],
        &["INCRBYFLOAT", "f", "10.5"],
        &["INCRBYFLOAT", "f", "0.1"],
        &["INCRBYFLOAT", "f", "-5"],
        &["INCRBYFLOAT", "f", "abc"],
        &["INCRBYFLOAT", "word", "1"],
        &["INCRBYFLOAT", "f", "1e3"],
        &["GET", "f"],
        &["SET", "inf", "1"],
        &["INCRBYFLOAT", "inf", "1e308"],
        &["INCRBYFLOAT", "inf", "1e308"],
        &["SET", "ttl", "5", "EX", "100"],
        &["INCR", "ttl"],
        &["TTL", "ttl"],
        &["INCRBYFLOAT", "ttl", "1.5"],
        &["TTL", "ttl"],
    ])
    .await;
    assert_eq!(p.same(&["GET", "n"]).await, bulk("51"));
}

#[tokio::test]
async fn ranges_and_appends() {
    let mut p = pair_or_skip!();
    p.script(&[
        &["APPEND", "a", "Hello"],
        &["APPEND", "a", " World"],
        &["GET", "a"],
        &["STRLEN", "a"],
        &["STRLEN", "missing"],
        &["GETRANGE", "a", "0", "4"],
        &["GETRANGE", "a", "-5", "-1"],
        &["GETRANGE", "a", "5", "1"],
        &["GETRANGE", "a", "0", "100"],
        &["GETRANGE", "a", "x", "1"],
        &["GETRANGE", "missing", "0", "1"],
        &["SUBSTR", "a", "0", "2"],
        &["SETRANGE", "a", "6", "Redis"],
        &["GET", "a"],
        &["SETRANGE", "pad", "5", "x"],
        &["GET", "pad"],
        &["SETRANGE", "a", "-1", "x"],
        &["SETRANGE", "none", "0", ""],
        &["EXISTS", "none"],
        &["SETRANGE", "a", "100", ""],
        &["SETRANGE", "a", "abc", "x"],
        &["SETRANGE", "a", "536870912", "x"],
        &["SET", "t", "v", "EX", "100"],
        &["APPEND", "t", "w"],
        &["TTL", "t"],
        &["SETRANGE", "t", "0", "V"],
        &["GET", "t"],
        &["TTL", "t"],
    ])
    .await;
}

#[tokio::test]
async fn multi_key_strings() {
    let mut p = pair_or_skip!();
    p.script(&[
        &["MSET", "a", "1", "b", "2", "c", "3"],
        &["MGET", "a", "b", "c", "missing"],
        &["MSET", "a", "x", "a", "y"],
        &["GET", "a"],
        &["MSET", "a"],
        &["MSET", "a", "1", "b"],
        &["MSETNX", "a", "1", "new", "2"],
        &["EXISTS", "new"],
        &["MSETNX", "n1", "1", "n2", "2"],
        &["MGET", "n1", "n2"],
        &["MSETNX", "n1"],
        &["MGET"],
        &["SET", "exp", "v", "PX", "1"],
    ])
    .await;
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    p.script(&[
        &["MGET", "exp", "a"],
        &["MSETNX", "exp", "back"],
        &["GET", "exp"],
    ])
    .await;
    // A hundred keys: one BatchGetItem on DynamoDB.
    let mut mset = vec!["MSET".to_string()];
    let mut mget = vec!["MGET".to_string()];
    for i in 0..100 {
        mset.push(format!("key:{i}"));
        mset.push(format!("value:{i}"));
        mget.push(format!("key:{i}"));
    }
    mget.push("key:missing".into());
    let mset: Vec<&str> = mset.iter().map(String::as_str).collect();
    let mget: Vec<&str> = mget.iter().map(String::as_str).collect();
    p.same(&mset).await;
    p.same(&mget).await;
}

#[tokio::test]
async fn key_commands() {
    let mut p = pair_or_skip!();
    p.script(&[
        &["MSET", "a", "1", "b", "2", "c", "3"],
        &["EXISTS", "a", "b", "missing", "a"],
        &["TOUCH", "a", "b", "missing"],
        &["TYPE", "a"],
        &["TYPE", "missing"],
        &["DEL", "a"],
        &["DEL", "a"],
        &["DEL", "b", "c", "missing", "b"],
        &["EXISTS", "a", "b", "c"],
        &["SET", "u", "1"],
        &["UNLINK", "u", "missing"],
        &["SET", "src", "v", "EX", "100"],
        &["RENAME", "src", "dst"],
        &["EXISTS", "src"],
        &["GET", "dst"],
        &["TTL", "dst"],
        &["RENAME", "missing", "x"],
        &["RENAME", "dst", "dst"],
        &["SET", "other", "o"],
        &["RENAMENX", "dst", "other"],
        &["RENAMENX", "dst", "dst"],
        &["RENAMENX", "dst", "fresh"],
        &["GET", "fresh"],
        &["RENAMENX", "missing", "x"],
        &["RENAME", "fresh", "other"],
        &["GET", "other"],
        &["COPY", "other", "copy"],
        &["GET", "copy"],
        &["TTL", "copy"],
        &["COPY", "other", "copy"],
        &["COPY", "other", "copy", "REPLACE"],
        &["COPY", "other", "other"],
        &["COPY", "missing", "x"],
        &["COPY", "other", "x", "DB", "99"],
        &["COPY", "other", "x", "DB", "abc"],
        &["COPY", "other", "x", "BOGUS"],
        &["COPY", "other", "other", "DB", "1"],
        &["SELECT", "1"],
        &["GET", "other"],
        &["TTL", "other"],
        &["COPY", "other", "back", "DB", "0"],
        &["SELECT", "0"],
        &["GET", "back"],
        &["SWAPDB", "0", "99"],
    ])
    .await;
    // Many keys at once: batched on DynamoDB (groups of 100).
    let keys: Vec<String> = (0..150).map(|i| format!("many:{i}")).collect();
    let mut mset = vec!["MSET"];
    for k in keys.iter().take(90) {
        mset.push(k);
        mset.push("v");
    }
    p.same(&mset).await;
    let mut del = vec!["DEL"];
    del.extend(keys.iter().map(String::as_str));
    assert_eq!(p.same(&del).await, int(90));
}

#[tokio::test]
async fn keyspace_commands() {
    let mut p = pair_or_skip!();
    p.script(&[
        &["DBSIZE"],
        &["KEYS", "*"],
        &["RANDOMKEY"],
        &[
            "MSET", "user:1", "a", "user:2", "b", "order:1", "c", "h[a]t", "d",
        ],
        &["SET", "dead", "v", "PX", "1"],
        &["SELECT", "2"],
        &["SET", "user:9", "other db"],
        &["SELECT", "0"],
    ])
    .await;
    // Past the memory backend's active expiry (every 100 ms): its DBSIZE,
    // like Redis', counts expired keys not yet purged.
    tokio::time::sleep(std::time::Duration::from_millis(350)).await;
    p.same(&["DBSIZE"]).await;
    for pattern in [
        "*",
        "user:*",
        "user:?",
        "*:1",
        "h\\[a\\]t",
        "nothing*",
        "[uo]*",
    ] {
        p.step(Check::Unordered, &["KEYS", pattern]).await;
    }
    let key = p.step(Check::Unordered, &["KEYS", "*"]).await;
    let Seen::Value(all) = key else {
        panic!("KEYS failed")
    };
    let all = sorted(&all).expect("keys");
    assert_eq!(all.len(), 4);
    // RANDOMKEY: any live key of the db.
    for conn in [&mut p.memory, &mut p.dynamo] {
        match send(conn, &["RANDOMKEY"]).await {
            Seen::Value(Value::BulkString(k)) => assert!(all.contains(&k), "{k:?}"),
            other => panic!("RANDOMKEY gave {other:?}"),
        }
    }
    // SCAN, whatever the COUNT: every key once, cursors are integers.
    for count in ["1", "2", "10", "1000"] {
        for (name, conn) in [("memory", &mut p.memory), ("dynamodb", &mut p.dynamo)] {
            let mut cursor = "0".to_string();
            let mut seen = BTreeSet::new();
            for _ in 0..10_000 {
                let reply = send(conn, &["SCAN", &cursor, "COUNT", count]).await;
                let Seen::Value(Value::Array(parts)) = reply else {
                    panic!("{name}: SCAN gave {reply:?}")
                };
                let Value::BulkString(next) = &parts[0] else {
                    panic!("{name}: cursor {parts:?}")
                };
                cursor = String::from_utf8(next.clone()).expect("cursor");
                cursor.parse::<u64>().expect("integer cursor");
                seen.extend(sorted(&parts[1]).expect("keys"));
                if cursor == "0" {
                    break;
                }
            }
            assert_eq!(cursor, "0", "{name}: SCAN never ended");
            assert_eq!(seen, all, "{name}: SCAN COUNT {count}");
        }
    }
    for (name, conn) in [("memory", &mut p.memory), ("dynamodb", &mut p.dynamo)] {
        let reply = send(
            conn,
            &[
                "SCAN", "0", "MATCH", "user:*", "COUNT", "1000", "TYPE", "string",
            ],
        )
        .await;
        let Seen::Value(Value::Array(parts)) = reply else {
            panic!("{name}: {reply:?}")
        };
        assert_eq!(sorted(&parts[1]).map(|s| s.len()), Some(2), "{name}");
        let reply = send(conn, &["SCAN", "0", "COUNT", "1000", "TYPE", "hash"]).await;
        let Seen::Value(Value::Array(parts)) = reply else {
            panic!("{name}: {reply:?}")
        };
        assert_eq!(sorted(&parts[1]).map(|s| s.len()), Some(0), "{name}");
    }
    p.script(&[
        &["SCAN", "abc"],
        &["SCAN", "0", "COUNT", "0"],
        &["SCAN", "0", "BOGUS", "1"],
        &["FLUSHDB", "BOGUS"],
        &["FLUSHDB"],
        &["DBSIZE"],
        &["KEYS", "*"],
        &["RANDOMKEY"],
        &["SELECT", "2"],
        &["DBSIZE"],
        &["FLUSHALL", "ASYNC"],
        &["DBSIZE"],
        &["SELECT", "0"],
    ])
    .await;
}

#[tokio::test]
async fn transactions() {
    let mut p = pair_or_skip!();
    p.script(&[
        &["SET", "a", "1"],
        &["MULTI"],
        &["INCR", "a"],
        &["GET", "a"],
        &["SET", "b", "x"],
        &["APPEND", "b", "y"],
        &["INCR", "b"],
        &["SELECT", "3"],
        &["SET", "a", "in three"],
        &["EXEC"],
        &["GET", "a"],
        &["SELECT", "0"],
        &["MGET", "a", "b"],
        &["MULTI"],
        &["EXEC"],
        &["MULTI"],
        &["DEL", "a", "b"],
        &["EXISTS", "a", "b"],
        &["EXEC"],
        &["WATCH", "w"],
        &["SET", "w", "changed by me"],
        &["MULTI"],
        &["GET", "w"],
        &["EXEC"],
        &["WATCH", "w"],
        &["MULTI"],
        &["SET", "w", "inside"],
        &["EXEC"],
        &["GET", "w"],
        &["WATCH", "w", "w2"],
        &["UNWATCH"],
        &["SET", "w", "after unwatch"],
        &["MULTI"],
        &["GET", "w"],
        &["EXEC"],
        &["SET", "soon", "v", "PX", "20"],
        &["WATCH", "soon"],
    ])
    .await;
    tokio::time::sleep(std::time::Duration::from_millis(40)).await;
    // The watched key expired: the transaction aborts on both.
    p.script(&[&["MULTI"], &["SET", "x", "1"], &["EXEC"], &["EXISTS", "x"]])
        .await;
    // A watched key another client changes.
    let mut other_mem = p._servers.0.conn().await;
    let mut other_dyn = p._servers.1.conn().await;
    p.script(&[
        &["WATCH", "contended"],
        &["MULTI"],
        &["SET", "contended", "mine"],
    ])
    .await;
    send(&mut other_mem, &["SET", "contended", "theirs"]).await;
    send(&mut other_dyn, &["SET", "contended", "theirs"]).await;
    assert_eq!(
        p.same(&["EXEC"]).await,
        Seen::Value(Value::Nil),
        "EXEC after a watched key changed"
    );
    p.same(&["GET", "contended"]).await;
}

/// SETBIT, GETBIT, BITCOUNT, BITPOS, BITOP, BITFIELD, BITFIELD_RO and
/// LCS: string commands, so DynamoDB runs them through the same string
/// operations (a read, then a write of the whole value when it changed).
#[tokio::test]
async fn bit_commands() {
    let mut p = pair_or_skip!();
    p.script(&[
        &["SETBIT", "b", "1", "1"],
        &["SETBIT", "b", "1", "1"],
        &["SETBIT", "b", "1", "0"],
        &["SETBIT", "b", "100", "1"],
        &["STRLEN", "b"],
        &["GET", "b"],
        &["GETBIT", "b", "100"],
        &["GETBIT", "b", "99"],
        &["GETBIT", "b", "100000"],
        &["GETBIT", "missing", "3"],
        &["SETBIT", "b", "-1", "1"],
        &["SETBIT", "b", "4294967296", "1"],
        &["SETBIT", "b", "1", "2"],
        &["GETBIT", "b", "x"],
        &["SET", "t", "a", "EX", "100"],
        &["SETBIT", "t", "15", "1"],
        &["GET", "t"],
        &["SET", "f", "foobar"],
        &["BITCOUNT", "f"],
        &["BITCOUNT", "f", "1", "1"],
        &["BITCOUNT", "f", "5", "30", "BIT"],
        &["BITCOUNT", "f", "-2", "-1"],
        &["BITCOUNT", "f", "0"],
        &["BITCOUNT", "missing", "0"],
        &["BITPOS", "f", "1"],
        &["BITPOS", "f", "0", "2", "-1"],
        &["BITPOS", "f", "1", "7", "15", "BIT"],
        &["BITPOS", "missing", "0"],
        &["BITPOS", "missing", "1"],
        &["BITPOS", "f", "2"],
        &["BITOP", "AND", "d", "f", "b"],
        &["GET", "d"],
        &["BITOP", "OR", "d", "f", "b", "missing"],
        &["GET", "d"],
        &["BITOP", "XOR", "d", "f", "f"],
        &["GET", "d"],
        &["BITOP", "NOT", "d", "f"],
        &["GET", "d"],
        &["BITOP", "NOT", "d", "f", "b"],
        &["BITOP", "AND", "d", "missing", "missing2"],
        &["EXISTS", "d"],
        &[
            "BITFIELD", "bf", "SET", "i8", "0", "100", "INCRBY", "i8", "0", "100", "GET", "u8", "0",
        ],
        &[
            "BITFIELD", "bf", "OVERFLOW", "SAT", "INCRBY", "i8", "0", "100", "OVERFLOW", "FAIL",
            "INCRBY", "i8", "0", "1",
        ],
        &[
            "BITFIELD",
            "bf",
            "SET",
            "u63",
            "#1",
            "9223372036854775807",
            "GET",
            "i64",
            "#1",
        ],
        &["GET", "bf"],
        &["BITFIELD", "bf", "GET", "u64", "0"],
        &["BITFIELD", "bf", "GET", "u8", "#-1"],
        &["BITFIELD", "bf", "OVERFLOW", "MAYBE"],
        &["BITFIELD", "new", "OVERFLOW", "FAIL", "SET", "u2", "0", "9"],
        &["GET", "new"],
        &["BITFIELD", "none"],
        &["BITFIELD_RO", "bf", "GET", "u8", "0", "GET", "i4", "4"],
        &["BITFIELD_RO", "bf", "SET", "u8", "0", "1"],
        &["BITFIELD_RO", "none", "GET", "u8", "0"],
        &["EXISTS", "none"],
        &["MSET", "k1", "ohmytext", "k2", "mynewtext"],
        &["LCS", "k1", "k2"],
        &["LCS", "k1", "k2", "LEN"],
        &["LCS", "k1", "k2", "IDX", "MINMATCHLEN", "4", "WITHMATCHLEN"],
        &["LCS", "k1", "k2", "IDX"],
        &["LCS", "k1", "missing"],
        &["LCS", "k1", "k2", "LEN", "IDX"],
        &["MULTI"],
        &["SETBIT", "m", "7", "1"],
        &["BITFIELD", "m", "INCRBY", "u8", "0", "1"],
        &["BITOP", "NOT", "m2", "m"],
        &["BITCOUNT", "m2"],
        &["EXEC"],
        &["WATCH", "m"],
        &["SETBIT", "m", "6", "1"],
        &["MULTI"],
        &["GETBIT", "m", "6"],
        &["EXEC"],
        // A SETBIT that changes nothing writes nothing: the WATCH holds.
        &["WATCH", "m"],
        &["SETBIT", "m", "6", "1"],
        &[
            "BITFIELD", "m", "OVERFLOW", "FAIL", "INCRBY", "u2", "0", "9",
        ],
        &["MULTI"],
        &["GETBIT", "m", "6"],
    ])
    .await;
    assert_eq!(
        p.same(&["EXEC"]).await,
        Seen::Value(Value::Array(vec![Value::Int(1)]))
    );
    p.step(Check::Near(1), &["TTL", "t"]).await;
}

/// Seeded random lines of the bit commands over three keys: the memory
/// store's in-place writes and DynamoDB's read-and-rewrite must leave the
/// same bytes and give the same replies.
#[tokio::test]
async fn bit_commands_random() {
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};
    let mut p = pair_or_skip!();
    let mut rng = StdRng::seed_from_u64(11);
    let keys = ["b0", "b1", "b2"];
    for _ in 0..150 {
        let key = keys[rng.gen_range(0..3)];
        let other = keys[rng.gen_range(0..3)];
        let offset = rng.gen_range(0..120).to_string();
        let small = rng.gen_range(-20..20).to_string();
        let small2 = rng.gen_range(-20..20).to_string();
        let value = rng.gen_range(-300..300).to_string();
        let ty = ["u8", "i8", "u3", "i13", "u63", "i64"][rng.gen_range(0..6)];
        let mode = ["WRAP", "SAT", "FAIL"][rng.gen_range(0..3)];
        let bit = ["0", "1"][rng.gen_range(0..2)];
        let unit = ["BIT", "BYTE"][rng.gen_range(0..2)];
        let op = ["AND", "OR", "XOR"][rng.gen_range(0..3)];
        let line: Vec<&str> = match rng.gen_range(0..10) {
            0 | 1 => vec!["SETBIT", key, &offset, bit],
            2 => vec!["GETBIT", key, &offset],
            3 => vec!["BITCOUNT", key, &small, &small2, unit],
            4 => vec!["BITPOS", key, bit, &small, &small2, unit],
            5 => vec!["BITOP", op, key, other, keys[0]],
            6 => vec!["BITOP", "NOT", key, other],
            7 | 8 => vec![
                "BITFIELD", key, "OVERFLOW", mode, "INCRBY", ty, &offset, &value, "GET", ty,
                &offset,
            ],
            _ => vec!["LCS", key, other, "IDX", "WITHMATCHLEN"],
        };
        p.same(&line).await;
    }
    for key in keys {
        p.same(&["GET", key]).await;
    }
}

/// Every command in the table is answered on every backend, or refused
/// there with a documented error: none reaches a store that does not know
/// it ("ERR command 'x' is not supported by the … backend"). Each command
/// is sent with the fewest arguments its arity allows (all `1`), so most
/// answers are argument errors: what matters is that something answers.
#[tokio::test]
async fn every_command_is_answered_or_refused_as_documented() {
    let mut p = pair_or_skip!();
    let mut checked = 0;
    for spec in redynamo::layers::command::all_specs() {
        if !spec.subcommands.is_empty() {
            continue; // a container: its subcommands are checked instead
        }
        if spec.name == "quit" {
            continue; // closes the connection; tests/session.rs covers it
        }
        if spec.name == "shutdown" {
            continue; // stops the server; tests/ops.rs covers it
        }
        if spec.name == "monitor" {
            continue; // turns the connection into a feed; tests/monitor.rs covers it
        }
        let mut args: Vec<&str> = spec.name.split('|').collect();
        while args.len() < spec.arity.unsigned_abs() as usize {
            args.push("1");
        }
        for (backend, conn) in [("memory", &mut p.memory), ("DynamoDB", &mut p.dynamo)] {
            let reply = send(conn, &args).await;
            if let Seen::Error(e) = &reply {
                // The generic refusal of a command no store knows; the
                // documented refusals (SWAPDB on DynamoDB …) say more.
                assert!(
                    !(e.contains("command '") && e.contains("is not supported by the")),
                    "{args:?} on {backend}: {e}"
                );
            }
            if spec.name == "multi" {
                send(conn, &["DISCARD"]).await;
            }
        }
        checked += 1;
    }
    assert!(checked > 80, "only {checked} commands checked");
}
