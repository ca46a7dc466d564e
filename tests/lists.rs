//! The list commands over real TCP: every command's replies and errors in
//! RESP2 and RESP3, WRONGTYPE, an emptied list deleting its key, WATCH and
//! MULTI; and the blocking commands: wake-up order, timeouts with
//! decimals, a client that leaves while blocked, CLIENT UNBLOCK, BLMOVE
//! feeding another waiter, MULTI, and the request timeout not applying.
//!
//! A client is known to be blocked when CLIENT LIST shows it with flag
//! `b` (polled: the one wait here that has no event to await).

mod common;

use std::time::{Duration, Instant};

use common::*;
use redynamo::config::Config;

/// Wait until the client `id` is blocked.
async fn until_blocked(c: &mut RawClient, id: i64) {
    let needle = format!("id={id} ");
    let mut blocked = false;
    for _ in 0..400 {
        let list = c.cmd(&["client", "list"]).await.text();
        if list
            .lines()
            .any(|l| l.starts_with(&needle) && l.contains(" flags=b "))
        {
            blocked = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(blocked, "client {id} never blocked");
}

/// A new connection and its CLIENT ID.
async fn client(server: &TestServer) -> (RawClient, i64) {
    let mut c = server.raw().await;
    let id = c.cmd(&["client", "id"]).await.int();
    (c, id)
}

async fn blocked_clients(c: &mut RawClient) -> i64 {
    let info = c.cmd(&["info", "clients"]).await.text();
    info.lines()
        .find_map(|l| l.strip_prefix("blocked_clients:"))
        .expect("blocked_clients in INFO")
        .trim()
        .parse()
        .expect("a number")
}

#[tokio::test]
async fn every_command_answers_as_redis() {
    let server = TestServer::start().await;
    let mut c = server.raw().await;
    assert_eq!(c.cmd(&["lpush", "l", "a", "b", "c"]).await, int(3));
    assert_eq!(c.cmd(&["rpush", "l", "d"]).await, int(4));
    assert_eq!(c.cmd(&["lpushx", "nokey", "a"]).await, int(0));
    assert_eq!(c.cmd(&["rpushx", "l", "e"]).await, int(5));
    assert_eq!(
        c.cmd(&["lrange", "l", "0", "-1"]).await,
        bulks(&["c", "b", "a", "d", "e"])
    );
    assert_eq!(c.cmd(&["llen", "l"]).await, int(5));
    assert_eq!(c.cmd(&["lindex", "l", "-1"]).await, bulk("e"));
    assert_eq!(c.cmd(&["lindex", "l", "9"]).await, nil());
    assert_eq!(c.cmd(&["lset", "l", "1", "B"]).await, ok());
    assert_eq!(
        c.cmd(&["lset", "l", "9", "x"]).await,
        err("ERR index out of range")
    );
    assert_eq!(
        c.cmd(&["lset", "nokey", "0", "x"]).await,
        err("ERR no such key")
    );
    assert_eq!(c.cmd(&["linsert", "l", "after", "B", "X"]).await, int(6));
    assert_eq!(c.cmd(&["linsert", "l", "before", "zz", "X"]).await, int(-1));
    assert_eq!(
        c.cmd(&["linsert", "l", "beside", "B", "X"]).await,
        err("ERR syntax error")
    );
    assert_eq!(c.cmd(&["lpos", "l", "X"]).await, int(2));
    assert_eq!(
        c.cmd(&["lpos", "l", "X", "rank", "-9223372036854775808"]).await,
        err("ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807")
    );
    assert_eq!(c.cmd(&["lrem", "l", "0", "X"]).await, int(1));
    assert_eq!(c.cmd(&["ltrim", "l", "1", "-2"]).await, ok());
    assert_eq!(
        c.cmd(&["lrange", "l", "0", "-1"]).await,
        bulks(&["B", "a", "d"])
    );
    assert_eq!(
        c.cmd(&["lmove", "l", "m", "left", "right"]).await,
        bulk("B")
    );
    assert_eq!(c.cmd(&["rpoplpush", "l", "m"]).await, bulk("d"));
    assert_eq!(
        c.cmd(&["lmpop", "2", "nokey", "m", "right", "count", "5"])
            .await,
        arr([bulk("m"), bulks(&["B", "d"])])
    );
    assert_eq!(c.cmd(&["exists", "m"]).await, int(0), "emptied: deleted");
    assert_eq!(c.cmd(&["lpop", "l"]).await, bulk("a"));
    assert_eq!(c.cmd(&["exists", "l"]).await, int(0), "emptied: deleted");
    assert_eq!(c.cmd(&["rpop", "l"]).await, nil());
    assert_eq!(c.cmd(&["rpop", "l", "2"]).await, Reply::NullArray);
    assert_eq!(c.cmd(&["rpush", "l", "1", "2", "3"]).await, int(3));
    assert_eq!(c.cmd(&["rpop", "l", "0"]).await, arr([]));
    assert_eq!(c.cmd(&["rpop", "l", "2"]).await, bulks(&["3", "2"]));
    // WRONGTYPE from every command.
    c.cmd(&["set", "s", "v"]).await;
    let wrongtype = err("WRONGTYPE Operation against a key holding the wrong kind of value");
    for line in [
        &["lpush", "s", "a"][..],
        &["rpushx", "s", "a"],
        &["lpop", "s"],
        &["llen", "s"],
        &["lrange", "s", "0", "1"],
        &["lindex", "s", "0"],
        &["lset", "s", "0", "a"],
        &["linsert", "s", "before", "a", "b"],
        &["lrem", "s", "0", "a"],
        &["ltrim", "s", "0", "1"],
        &["lpos", "s", "a"],
        &["lmove", "s", "l", "left", "left"],
        &["lmove", "l", "s", "left", "left"],
        &["lmpop", "1", "s", "left"],
        &["blpop", "s", "0"],
        &["blmove", "s", "l", "left", "left", "0"],
        &["blmpop", "0", "1", "s", "left"],
    ] {
        assert_eq!(c.cmd(line).await, wrongtype, "{line:?}");
    }
    assert_eq!(c.cmd(&["type", "l"]).await, simple("list"));
}

#[tokio::test]
async fn resp3_null_shapes() {
    let server = TestServer::start().await;
    let mut c = server.raw().await;
    c.cmd(&["hello", "3"]).await;
    for (line, want) in [
        (&["lpop", "nokey"][..], &b"_\r\n"[..]),
        (&["lpop", "nokey", "2"], b"_\r\n"),
        (&["lpop", "nokey", "0"], b"_\r\n"),
        (&["lindex", "nokey", "0"], b"_\r\n"),
        (&["lpos", "nokey", "a"], b"_\r\n"),
        (&["lpos", "nokey", "a", "count", "0"], b"*0\r\n"),
        (&["lmpop", "1", "nokey", "left"], b"_\r\n"),
        (&["lmove", "nokey", "x", "left", "left"], b"_\r\n"),
        (&["blpop", "nokey", "0.01"], b"_\r\n"),
        (&["brpoplpush", "nokey", "x", "0.01"], b"_\r\n"),
        (&["rpush", "l", "a"], b":1\r\n"),
        (&["lpop", "l", "0"], b"*0\r\n"),
        (&["blpop", "l", "0"], b"*2\r\n$1\r\nl\r\n$1\r\na\r\n"),
    ] {
        assert_eq!(
            c.cmd_bytes(line).await,
            want,
            "{line:?}: {:?}",
            String::from_utf8_lossy(want)
        );
    }
}

#[tokio::test]
async fn three_waiters_are_served_in_blocking_order() {
    let server = TestServer::start().await;
    let (mut admin, _) = client(&server).await;
    let mut waiters = Vec::new();
    for _ in 0..3 {
        let (mut w, id) = client(&server).await;
        w.send(&encode_str(&["blpop", "q", "0"])).await;
        until_blocked(&mut admin, id).await;
        waiters.push(w);
    }
    assert_eq!(blocked_clients(&mut admin).await, 3);
    // One push of three: one element each, longest waiting first, before
    // anyone else could take them.
    admin
        .send(&encode_str(&["rpush", "q", "a", "b", "c"]))
        .await;
    admin.send(&encode_str(&["llen", "q"])).await;
    assert_eq!(admin.read().await, int(3));
    assert_eq!(admin.read().await, int(0));
    for (w, want) in waiters.iter_mut().zip(["a", "b", "c"]) {
        assert_eq!(w.read().await, bulks(&["q", want]));
    }
    assert_eq!(blocked_clients(&mut admin).await, 0);

    // One at a time, again in order; BRPOP too.
    let mut waiters = Vec::new();
    for cmd in ["blpop", "brpop", "blpop"] {
        let (mut w, id) = client(&server).await;
        w.send(&encode_str(&[cmd, "other", "q", "0"])).await;
        until_blocked(&mut admin, id).await;
        waiters.push(w);
    }
    for (w, x) in waiters.iter_mut().zip(["x", "y", "z"]) {
        assert_eq!(admin.cmd(&["lpush", "q", x]).await, int(1));
        assert_eq!(w.read().await, bulks(&["q", x]));
    }
}

#[tokio::test]
async fn timeouts_take_decimals() {
    let server = TestServer::start().await;
    let mut c = server.raw().await;
    let start = Instant::now();
    assert_eq!(c.cmd(&["blpop", "q", "0.15"]).await, Reply::NullArray);
    let waited = start.elapsed();
    assert!(
        waited >= Duration::from_millis(150) && waited < Duration::from_secs(3),
        "{waited:?}"
    );
    assert_eq!(
        c.cmd(&["blmpop", "0.05", "1", "q", "left"]).await,
        Reply::NullArray
    );
    // A blocked client's timeout reply is a null array, BLMOVE's too
    // (Redis' replyToBlockedClientTimedOut).
    assert_eq!(
        c.cmd_bytes(&["blmove", "q", "d", "left", "left", "0.01"])
            .await,
        b"*-1\r\n"
    );
    for (t, e) in [
        ("abc", "ERR timeout is not a float or out of range"),
        ("-0.5", "ERR timeout is negative"),
        ("1e300", "ERR timeout is out of range"),
    ] {
        assert_eq!(c.cmd(&["blpop", "q", t]).await, err(e), "{t}");
    }
}

#[tokio::test]
async fn blocking_commands_ignore_the_request_timeout() {
    let mut config = Config::for_tests();
    config.timeout_ms = 50;
    let server = TestServer::with_config(config).await;
    let mut c = server.raw().await;
    assert_eq!(c.cmd(&["brpop", "q", "0.3"]).await, Reply::NullArray);
}

#[tokio::test]
async fn a_client_that_leaves_while_blocked_leaves_no_waiter() {
    let server = TestServer::start().await;
    let (mut admin, _) = client(&server).await;
    let (mut w, id) = client(&server).await;
    w.send(&encode_str(&["blpop", "q", "0"])).await;
    until_blocked(&mut admin, id).await;
    drop(w);
    assert!(eventually(Duration::from_secs(5), || {
        let server = &server;
        async move {
            let mut c = server.raw().await;
            blocked_clients(&mut c).await == 0
        }
    })
    .await
    .is_some());
    // The push is not handed to the gone client.
    assert_eq!(admin.cmd(&["rpush", "q", "kept"]).await, int(1));
    assert_eq!(
        admin.cmd(&["lrange", "q", "0", "-1"]).await,
        bulks(&["kept"])
    );
}

#[tokio::test]
async fn client_unblock_in_both_forms() {
    let server = TestServer::start().await;
    let (mut admin, admin_id) = client(&server).await;
    assert_eq!(
        admin
            .cmd(&["client", "unblock", &admin_id.to_string()])
            .await,
        int(0)
    );
    assert_eq!(
        admin.cmd(&["client", "unblock", "x", "maybe"]).await,
        err("ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR")
    );
    assert_eq!(
        admin.cmd(&["client", "unblock", "x"]).await,
        err("ERR value is not an integer or out of range")
    );

    let (mut w, id) = client(&server).await;
    w.send(&encode_str(&["blmove", "q", "d", "left", "left", "0"]))
        .await;
    until_blocked(&mut admin, id).await;
    assert_eq!(
        admin
            .cmd(&["client", "unblock", &id.to_string(), "timeout"])
            .await,
        int(1)
    );
    assert_eq!(w.read_bytes().await, b"*-1\r\n");

    w.send(&encode_str(&["blpop", "q", "0"])).await;
    until_blocked(&mut admin, id).await;
    assert_eq!(
        admin
            .cmd(&["client", "unblock", &id.to_string(), "ERROR"])
            .await,
        int(1)
    );
    assert_eq!(
        w.read().await,
        err("UNBLOCKED client unblocked via CLIENT UNBLOCK")
    );
    assert_eq!(
        admin.cmd(&["client", "unblock", &id.to_string()]).await,
        int(0)
    );
    // The client works on, and left no waiter behind.
    assert_eq!(w.cmd(&["ping"]).await, simple("PONG"));
    assert_eq!(admin.cmd(&["rpush", "q", "v"]).await, int(1));
    assert_eq!(admin.cmd(&["llen", "q"]).await, int(1));
}

#[tokio::test]
async fn inside_multi_a_blocking_command_answers_at_once() {
    let server = TestServer::start().await;
    let mut c = server.raw().await;
    c.cmd(&["multi"]).await;
    for line in [
        &["blpop", "q", "0"][..],
        &["brpoplpush", "q", "d", "0"],
        &["blmpop", "0", "1", "q", "left"],
        &["rpush", "q", "v"],
        &["brpop", "q", "0"],
    ] {
        assert_eq!(c.cmd(line).await, simple("QUEUED"));
    }
    assert_eq!(
        c.cmd(&["exec"]).await,
        arr([
            Reply::NullArray,
            nil(),
            Reply::NullArray,
            int(1),
            bulks(&["q", "v"])
        ])
    );
}

#[tokio::test]
async fn writes_that_ready_a_key_serve_its_waiters() {
    let server = TestServer::start().await;
    let (mut admin, _) = client(&server).await;
    // BLMOVE's push feeds a client waiting on its destination.
    let (mut mover, mover_id) = client(&server).await;
    mover
        .send(&encode_str(&["blmove", "src", "dst", "left", "right", "0"]))
        .await;
    until_blocked(&mut admin, mover_id).await;
    let (mut popper, popper_id) = client(&server).await;
    popper.send(&encode_str(&["blpop", "dst", "0"])).await;
    until_blocked(&mut admin, popper_id).await;
    assert_eq!(admin.cmd(&["rpush", "src", "x"]).await, int(1));
    assert_eq!(mover.read().await, bulk("x"));
    assert_eq!(popper.read().await, bulks(&["dst", "x"]));
    assert_eq!(admin.cmd(&["exists", "src", "dst"]).await, int(0));

    // A transaction that pushes then deletes readies nothing; a key of
    // another type serves no list waiter; a rename onto the key does.
    let (mut w, id) = client(&server).await;
    w.send(&encode_str(&["blpop", "k", "0"])).await;
    until_blocked(&mut admin, id).await;
    admin.cmd(&["multi"]).await;
    admin.cmd(&["rpush", "k", "gone"]).await;
    admin.cmd(&["del", "k"]).await;
    assert_eq!(admin.cmd(&["exec"]).await, arr([int(1), int(1)]));
    admin.cmd(&["set", "k", "string"]).await;
    admin.cmd(&["del", "k"]).await;
    assert_eq!(blocked_clients(&mut admin).await, 1);
    admin.cmd(&["rpush", "elsewhere", "moved"]).await;
    assert_eq!(admin.cmd(&["rename", "elsewhere", "k"]).await, ok());
    assert_eq!(w.read().await, bulks(&["k", "moved"]));

    // A pipelined command behind a blocked one runs after its reply.
    w.send(&encode_str(&["blpop", "k", "0"])).await;
    w.send(&encode_str(&["ping"])).await;
    until_blocked(&mut admin, id).await;
    admin.cmd(&["lpush", "k", "late"]).await;
    assert_eq!(w.read().await, bulks(&["k", "late"]));
    assert_eq!(w.read().await, simple("PONG"));
}

#[tokio::test]
async fn watch_sees_list_writes() {
    let server = TestServer::start().await;
    let mut a = server.raw().await;
    let mut b = server.raw().await;
    a.cmd(&["rpush", "l", "x"]).await;
    a.cmd(&["watch", "l"]).await;
    b.cmd(&["lpop", "l"]).await;
    a.cmd(&["multi"]).await;
    a.cmd(&["rpush", "l", "y"]).await;
    assert_eq!(a.cmd(&["exec"]).await, Reply::NullArray);
    a.cmd(&["watch", "l"]).await;
    b.cmd(&["lrange", "l", "0", "-1"]).await;
    a.cmd(&["multi"]).await;
    a.cmd(&["rpush", "l", "y"]).await;
    assert_eq!(a.cmd(&["exec"]).await, arr([int(1)]));
}

#[tokio::test]
async fn time_blocked_is_not_slow() {
    let server = TestServer::start().await;
    let mut c = server.raw().await;
    assert_eq!(
        c.cmd(&["config", "set", "slowlog-log-slower-than", "1000"])
            .await,
        ok()
    );
    c.cmd(&["slowlog", "reset"]).await;
    assert_eq!(c.cmd(&["blpop", "q", "0.05"]).await, Reply::NullArray);
    assert_eq!(c.cmd(&["slowlog", "len"]).await, int(0));
}

#[tokio::test]
async fn a_client_waiting_on_several_keys_is_served_once() {
    let server = TestServer::start().await;
    let (mut admin, _) = client(&server).await;
    let (mut w, id) = client(&server).await;
    w.send(&encode_str(&["brpop", "a", "b", "a", "0"])).await;
    until_blocked(&mut admin, id).await;
    admin.send(&encode_str(&["multi"])).await;
    admin.send(&encode_str(&["rpush", "b", "1"])).await;
    admin.send(&encode_str(&["rpush", "a", "2"])).await;
    admin.send(&encode_str(&["exec"])).await;
    for _ in 0..3 {
        admin.read().await;
    }
    assert_eq!(admin.read().await, arr([int(1), int(1)]));
    // The command runs again once the transaction is done: it takes from
    // the first non-empty key in its own order, as Redis 7 does.
    assert_eq!(w.read().await, bulks(&["a", "2"]));
    assert_eq!(admin.cmd(&["lrange", "b", "0", "-1"]).await, bulks(&["1"]));

    // SWAPDB brings a list into the waiter's db.
    w.send(&encode_str(&["blpop", "k", "0"])).await;
    until_blocked(&mut admin, id).await;
    admin.cmd(&["select", "1"]).await;
    admin.cmd(&["rpush", "k", "from-db-1"]).await;
    assert_eq!(admin.cmd(&["swapdb", "0", "1"]).await, ok());
    assert_eq!(w.read().await, bulks(&["k", "from-db-1"]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_waiters_and_pushers_lose_nothing() {
    let server = TestServer::start().await;
    let (mut admin, _) = client(&server).await;
    let mut waiters = Vec::new();
    for _ in 0..20 {
        let (mut w, _) = client(&server).await;
        w.send(&encode_str(&["blpop", "work", "0"])).await;
        waiters.push(w);
    }
    assert!(eventually(Duration::from_secs(5), || {
        let server = &server;
        async move { blocked_clients(&mut server.raw().await).await == 20 }
    })
    .await
    .is_some());
    let pushers: Vec<_> = (0..20)
        .map(|i| {
            let addr = server.addr();
            tokio::spawn(async move {
                let mut p = RawClient::connect(addr).await;
                p.cmd(&["rpush", "work", &format!("job{i}")]).await
            })
        })
        .collect();
    for p in pushers {
        assert!(!p.await.expect("pusher").is_error());
    }
    let mut got = Vec::new();
    for w in &mut waiters {
        let reply = w.read().await;
        got.push(reply.items()[1].text());
    }
    got.sort();
    let mut want: Vec<String> = (0..20).map(|i| format!("job{i}")).collect();
    want.sort();
    assert_eq!(got, want);
    assert_eq!(admin.cmd(&["exists", "work"]).await, int(0));
    assert_eq!(blocked_clients(&mut admin).await, 0);
}
