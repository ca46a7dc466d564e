//! Keyspace notifications against a real redis-server: the same commands
//! (every type) run on both servers with `notify-keyspace-events KEA`, and
//! the events a `PSUBSCRIBE __key*__:*` client receives after each command
//! compared frame for frame, so event names, classes, order and the `del`
//! of an emptied key are Redis' own. Also expiry (lazy and active) and the
//! flag string's normalisation.

// A test fails by panicking: unwrap is the point here, not a shortcut.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::*;
use redynamo_layers::Reply;

/// Commands per type; each is followed by a marker PUBLISH so the
/// subscriber knows where one command's events end.
const SCRIPT: &[&str] = &[
    // strings
    "SET s v",
    "SET s v EX 100",
    "SET s v KEEPTTL",
    "SETNX s w",
    "SETNX s2 w",
    "SETEX s3 100 v",
    "PSETEX s3 100000 v",
    "GETSET s x",
    "MSET a 1 b 2",
    "MSETNX c 1 d 2",
    "INCR a",
    "DECRBY a 5",
    "INCRBYFLOAT a 1.5",
    "APPEND s tail",
    "SETRANGE s 1 zz",
    "SETRANGE missing 0 \"\"",
    "GETEX s EX 100",
    "GETEX s PERSIST",
    "GETEX s",
    "GETDEL s",
    "SETBIT bits 7 1",
    "BITOP OR dest bits bits",
    "BITOP AND dest nothing",
    "BITFIELD bf SET u8 0 255",
    // generic
    "EXPIRE a 100",
    "PERSIST a",
    "PEXPIRE a 100000",
    "EXPIRE a -1",
    "DEL b c nothing",
    "UNLINK d",
    "RENAME s2 s4",
    "COPY s4 s5",
    "COPY s4 s6 DB 1",
    // lists
    "RPUSH l a b c d e",
    "LPUSH l z",
    "LPUSHX l y",
    "RPUSHX nolist y",
    "LPOP l",
    "RPOP l 2",
    "LSET l 0 q",
    "LINSERT l BEFORE q p",
    "LINSERT l BEFORE nothere p",
    "LREM l 1 p",
    "LTRIM l 0 1",
    "LMOVE l l2 LEFT RIGHT",
    "RPOPLPUSH l l2",
    "LMPOP 2 none l2 LEFT COUNT 5",
    "RPUSH l3 x",
    "BLPOP l3 0",
    "RPUSH l4 3 1 2",
    "SORT l4 STORE sorted",
    "SORT nothing STORE sorted",
    // hashes
    "HSET h f1 v1 f2 v2",
    "HSETNX h f1 x",
    "HSETNX h f3 x",
    "HMSET h f4 v4",
    "HINCRBY h n 5",
    "HINCRBYFLOAT h n 0.5",
    "HDEL h nothere",
    "HDEL h f1 f2 f3 f4 n",
    // sets
    "SADD st a b c",
    "SADD st a",
    "SREM st zz",
    "SREM st a",
    "SMOVE st st2 b",
    "SPOP st",
    "SADD x1 1 2 3",
    "SADD x2 2 3 4",
    "SINTERSTORE si x1 x2",
    "SUNIONSTORE su x1 x2",
    "SDIFFSTORE sd x1 x1",
    "SPOP x1 5",
    // sorted sets
    "ZADD z 1 a 2 b 3 c",
    "ZADD z 1 a",
    "ZADD z XX CH 5 a",
    "ZINCRBY z 1 b",
    "ZREM z nothere",
    "ZREM z c",
    "ZADD z 7 d 8 e 9 f",
    "ZREMRANGEBYRANK z 0 0",
    "ZREMRANGEBYSCORE z 8 8",
    "ZREMRANGEBYLEX z [a [a",
    "ZPOPMIN z",
    "ZPOPMAX z 5",
    "ZADD y1 1 a 2 b",
    "ZADD y2 1 b 2 c",
    "ZUNIONSTORE zu 2 y1 y2",
    "ZINTERSTORE zi 2 y1 y2",
    "ZDIFFSTORE zd 2 y1 y1",
    "ZRANGESTORE zr y1 0 -1",
    "ZRANGESTORE zr y1 5 6",
    "ZMPOP 1 y1 MIN COUNT 9",
    "BZPOPMIN y2 0",
    "FLUSHALL",
];

/// Read frames until the marker message `n` on channel `sync`; the
/// frames before it.
async fn events_until(sub: &mut RawClient, n: usize) -> Vec<Vec<u8>> {
    let marker = n.to_string();
    let mut out = Vec::new();
    loop {
        let bytes = sub.read_bytes().await;
        let reply = parse(&bytes);
        if let Reply::Array(items) | Reply::Push(items) = &reply {
            if items.len() == 3 && items[1] == bulk("sync") {
                assert_eq!(items[2], bulk(&marker), "markers arrive in order");
                return out;
            }
        }
        out.push(bytes);
    }
}

fn split(cmd: &str) -> Vec<String> {
    cmd.split(' ')
        .map(|w| {
            if w == "\"\"" {
                String::new()
            } else {
                w.to_string()
            }
        })
        .collect()
}

async fn run_side(
    c: &mut RawClient,
    sub: &mut RawClient,
    i: usize,
    cmd: &str,
) -> (Vec<u8>, Vec<Vec<u8>>) {
    let words = split(cmd);
    let args: Vec<&str> = words.iter().map(String::as_str).collect();
    let reply = c.cmd_bytes(&args).await;
    c.cmd(&["PUBLISH", "sync", &i.to_string()]).await;
    (reply, events_until(sub, i).await)
}

#[tokio::test]
async fn keyspace_events_match_redis_server() {
    let Some(redis) = RedisServer::start().await else {
        return;
    };
    let server = TestServer::start().await;
    let mut sides = Vec::new();
    for addr in [server.addr(), redis.addr()] {
        let mut c = RawClient::connect(addr).await;
        assert_eq!(
            c.cmd(&["CONFIG", "SET", "notify-keyspace-events", "KEA"])
                .await,
            ok()
        );
        assert_eq!(c.cmd(&["SELECT", "9"]).await, ok());
        assert_eq!(c.cmd(&["FLUSHALL"]).await, ok());
        let mut sub = RawClient::connect(addr).await;
        sub.send_cmd(&["PSUBSCRIBE", "__key*__:*"]).await;
        sub.read().await;
        sub.send_cmd(&["SUBSCRIBE", "sync"]).await;
        sub.read().await;
        sides.push((c, sub));
    }
    let mut seen = 0;
    for (i, cmd) in SCRIPT.iter().enumerate() {
        let (c, sub) = &mut sides[0];
        let ours = run_side(c, sub, i, cmd).await;
        let (c, sub) = &mut sides[1];
        let theirs = run_side(c, sub, i, cmd).await;
        let show = |v: &[Vec<u8>]| {
            v.iter()
                .map(|b| format!("{:?}", parse(b)))
                .collect::<Vec<_>>()
                .join("\n    ")
        };
        assert_eq!(
            String::from_utf8_lossy(&ours.0),
            String::from_utf8_lossy(&theirs.0),
            "reply of step {i} `{cmd}`"
        );
        assert!(
            ours.1 == theirs.1,
            "events of step {i} `{cmd}`:\n  redynamo:\n    {}\n  redis-server:\n    {}",
            show(&ours.1),
            show(&theirs.1)
        );
        seen += theirs.1.len();
    }
    // Not a vacuous comparison: KEA gives two frames per event.
    assert!(seen > 150, "only {seen} event frames compared");
}

#[tokio::test]
async fn expired_events_when_the_key_is_removed() {
    let server = TestServer::start().await;
    let mut c = server.raw().await;
    assert_eq!(
        c.cmd(&["CONFIG", "SET", "notify-keyspace-events", "Ex"])
            .await,
        ok()
    );
    assert_eq!(
        c.cmd(&["CONFIG", "GET", "notify-keyspace-events"]).await,
        bulks(&["notify-keyspace-events", "xE"])
    );
    let mut sub = server.raw().await;
    sub.send_cmd(&["PSUBSCRIBE", "*"]).await;
    sub.read().await;
    // Active expiry removes it without any client reading it.
    assert_eq!(c.cmd(&["PSETEX", "foo", "100", "1"]).await, ok());
    assert_eq!(
        sub.read().await,
        bulks(&["pmessage", "*", "__keyevent@0__:expired", "foo"])
    );
    // A read that finds it expired removes it (and raises the event) too:
    // the event comes at most once either way.
    assert_eq!(c.cmd(&["SELECT", "3"]).await, ok());
    assert_eq!(c.cmd(&["PSETEX", "bar", "50", "1"]).await, ok());
    tokio::time::sleep(Duration::from_millis(60)).await;
    c.cmd(&["GET", "bar"]).await;
    assert_eq!(
        sub.read().await,
        bulks(&["pmessage", "*", "__keyevent@3__:expired", "bar"])
    );
    assert!(sub.nothing_within(Duration::from_millis(300)).await);
}

#[tokio::test]
async fn flags_are_normalised_and_checked() {
    let server = TestServer::start().await;
    let mut c = server.raw().await;
    // tests/unit/pubsub.tcl, "test CONFIG GET/SET of event flags".
    for (set, get) in [
        ("gKE", "gKE"),
        ("$lshzxeKE", "$lshzxeKE"),
        ("KA", "AK"),
        ("EA", "AE"),
        ("", ""),
    ] {
        assert_eq!(
            c.cmd(&["CONFIG", "SET", "notify-keyspace-events", set])
                .await,
            ok()
        );
        assert_eq!(
            c.cmd(&["CONFIG", "GET", "notify-keyspace-events"]).await,
            bulks(&["notify-keyspace-events", get])
        );
    }
    assert_eq!(
        c.cmd(&["CONFIG", "SET", "notify-keyspace-events", "KQ"]).await,
        err("ERR CONFIG SET failed (possibly related to argument 'notify-keyspace-events') - Invalid event class character. Use 'Ag$lshzxeKEtmdn'.")
    );
    // Off: nothing is published.
    let mut sub = server.raw().await;
    sub.send_cmd(&["PSUBSCRIBE", "*"]).await;
    sub.read().await;
    c.cmd(&["SET", "k", "v"]).await;
    assert!(sub.nothing_within(Duration::from_millis(200)).await);
    // Masked by class: only lists.
    c.cmd(&["CONFIG", "SET", "notify-keyspace-events", "KEl"])
        .await;
    c.cmd(&["SET", "k", "v"]).await;
    c.cmd(&["LPUSH", "mylist", "a"]).await;
    assert_eq!(
        sub.read().await,
        bulks(&["pmessage", "*", "__keyspace@0__:mylist", "lpush"])
    );
    assert_eq!(
        sub.read().await,
        bulks(&["pmessage", "*", "__keyevent@0__:lpush", "mylist"])
    );
}
