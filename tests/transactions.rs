//! MULTI / EXEC / DISCARD / WATCH, across clients. Assertions ported from
//! Redis' `tests/unit/multi.tcl`.

// A test fails by panicking: unwrap is the point here, not a shortcut.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;

#[tokio::test]
async fn multi_exec_basics_and_discard() {
    let server = TestServer::start().await;
    let mut c = server.raw().await;
    assert_eq!(c.cmd(&["MULTI"]).await, ok());
    assert_eq!(c.cmd(&["SET", "a", "1"]).await, simple("QUEUED"));
    assert_eq!(c.cmd(&["INCR", "a"]).await, simple("QUEUED"));
    assert_eq!(c.cmd(&["GET", "a"]).await, simple("QUEUED"));
    assert_eq!(c.cmd(&["PING"]).await, simple("QUEUED"));
    assert_eq!(
        c.cmd(&["EXEC"]).await,
        arr([ok(), int(2), bulk("2"), simple("PONG")])
    );
    // DISCARD
    assert_eq!(c.cmd(&["MULTI"]).await, ok());
    assert_eq!(c.cmd(&["DEL", "a"]).await, simple("QUEUED"));
    assert_eq!(c.cmd(&["DISCARD"]).await, ok());
    assert_eq!(c.cmd(&["GET", "a"]).await, bulk("2"));
    // Empty transaction
    assert_eq!(c.cmd(&["MULTI"]).await, ok());
    assert_eq!(c.cmd_bytes(&["EXEC"]).await, b"*0\r\n");
    // State errors
    assert_eq!(c.cmd(&["EXEC"]).await, err("ERR EXEC without MULTI"));
    assert_eq!(c.cmd(&["DISCARD"]).await, err("ERR DISCARD without MULTI"));
    assert_eq!(c.cmd(&["MULTI"]).await, ok());
    assert_eq!(
        c.cmd(&["MULTI"]).await,
        err("ERR MULTI calls can not be nested")
    );
    assert_eq!(
        c.cmd(&["WATCH", "x"]).await,
        err("ERR WATCH inside MULTI is not allowed")
    );
    // Neither error aborts the transaction.
    assert_eq!(c.cmd(&["SET", "b", "1"]).await, simple("QUEUED"));
    assert_eq!(c.cmd(&["EXEC"]).await, arr([ok()]));
    assert_eq!(
        c.cmd(&["UNWATCH"]).await,
        ok(),
        "UNWATCH with nothing watched"
    );
}

#[tokio::test]
async fn queueing_errors_abort_the_whole_transaction() {
    let server = TestServer::start().await;
    let mut c = server.raw().await;
    // Unknown command
    assert_eq!(c.cmd(&["MULTI"]).await, ok());
    assert_eq!(c.cmd(&["SET", "foo1", "bar1"]).await, simple("QUEUED"));
    assert_eq!(
        c.cmd(&["NON-EXISTING-COMMAND"]).await,
        err("ERR unknown command 'NON-EXISTING-COMMAND', with args beginning with: ")
    );
    assert_eq!(c.cmd(&["SET", "foo2", "bar2"]).await, simple("QUEUED"));
    assert_eq!(
        c.cmd(&["EXEC"]).await,
        err("EXECABORT Transaction discarded because of previous errors.")
    );
    assert_eq!(c.cmd(&["EXISTS", "foo1", "foo2"]).await, int(0));
    // If EXEC aborts, the client MULTI state is cleared
    assert_eq!(c.cmd(&["PING"]).await, simple("PONG"));
    // Wrong arity
    assert_eq!(c.cmd(&["MULTI"]).await, ok());
    assert_eq!(
        c.cmd(&["GET"]).await,
        err("ERR wrong number of arguments for 'get' command")
    );
    assert_eq!(
        c.cmd(&["EXEC"]).await,
        err("EXECABORT Transaction discarded because of previous errors.")
    );
    // The redis crate reports the abort too.
    let mut con = server.conn().await;
    let result: redis::RedisResult<()> = redis::pipe()
        .atomic()
        .set("k", "v")
        .cmd("NOSUCHCMD")
        .query_async(&mut con)
        .await;
    // The crate surfaces the first error of the pipeline: the queueing one.
    let e = result.expect_err("the transaction fails");
    assert_eq!(
        err_text(&e),
        "ERR unknown command 'NOSUCHCMD', with args beginning with: "
    );
    assert_eq!(c.cmd(&["EXISTS", "k"]).await, int(0));
}

#[tokio::test]
async fn runtime_errors_inside_exec_do_not_roll_back() {
    let server = TestServer::start().await;
    let mut c = server.raw().await;
    assert_eq!(c.cmd(&["MULTI"]).await, ok());
    assert_eq!(c.cmd(&["SET", "a", "x"]).await, simple("QUEUED"));
    assert_eq!(c.cmd(&["INCR", "a"]).await, simple("QUEUED"));
    assert_eq!(c.cmd(&["SET", "b", "2"]).await, simple("QUEUED"));
    assert_eq!(c.cmd(&["SET", "c", "3", "EX", "0"]).await, simple("QUEUED"));
    assert_eq!(
        c.cmd_bytes(&["EXEC"]).await,
        b"*4\r\n+OK\r\n-ERR value is not an integer or out of range\r\n+OK\r\n\
          -ERR invalid expire time in 'set' command\r\n"
    );
    assert_eq!(
        c.cmd(&["MGET", "a", "b", "c"]).await,
        arr([bulk("x"), bulk("2"), nil()])
    );
}

#[tokio::test]
async fn watch_across_two_clients() {
    let server = TestServer::start().await;
    let mut a = server.raw().await;
    let mut b = server.raw().await;
    assert_eq!(a.cmd(&["SET", "k", "1"]).await, ok());
    assert_eq!(a.cmd(&["WATCH", "k"]).await, ok());
    assert_eq!(b.cmd(&["SET", "k", "2"]).await, ok());
    assert_eq!(a.cmd(&["MULTI"]).await, ok());
    assert_eq!(a.cmd(&["SET", "k", "from-a"]).await, simple("QUEUED"));
    assert_eq!(
        a.cmd_bytes(&["EXEC"]).await,
        b"*-1\r\n",
        "aborted: null array"
    );
    assert_eq!(a.cmd(&["GET", "k"]).await, bulk("2"));
    // After a failed EXEC the key is no longer watched.
    assert_eq!(b.cmd(&["SET", "k", "3"]).await, ok());
    assert_eq!(a.cmd(&["MULTI"]).await, ok());
    assert_eq!(a.cmd(&["SET", "k", "from-a"]).await, simple("QUEUED"));
    assert_eq!(a.cmd(&["EXEC"]).await, arr([ok()]));
    // EXEC works on WATCHed keys not modified (several WATCH calls add up).
    assert_eq!(a.cmd(&["WATCH", "x", "y", "z"]).await, ok());
    assert_eq!(a.cmd(&["WATCH", "k"]).await, ok());
    assert_eq!(b.cmd(&["SET", "unrelated", "1"]).await, ok());
    assert_eq!(a.cmd(&["MULTI"]).await, ok());
    assert_eq!(a.cmd(&["PING"]).await, simple("QUEUED"));
    assert_eq!(a.cmd(&["EXEC"]).await, arr([simple("PONG")]));
    // 1 key of 5 watched modified, by a DEL from the other client
    assert_eq!(a.cmd(&["WATCH", "a", "b", "k", "d", "e"]).await, ok());
    assert_eq!(b.cmd(&["DEL", "k"]).await, int(1));
    assert_eq!(a.cmd(&["MULTI"]).await, ok());
    assert_eq!(a.cmd(&["PING"]).await, simple("QUEUED"));
    assert_eq!(a.cmd(&["EXEC"]).await, Reply::NullArray);
    // RESP3: the aborted EXEC is a null
    assert!(matches!(a.cmd(&["HELLO", "3"]).await, Reply::Map(_)));
    assert_eq!(a.cmd(&["WATCH", "k"]).await, ok());
    assert_eq!(b.cmd(&["SET", "k", "again"]).await, ok());
    assert_eq!(a.cmd(&["MULTI"]).await, ok());
    assert_eq!(a.cmd(&["PING"]).await, simple("QUEUED"));
    assert_eq!(a.cmd_bytes(&["EXEC"]).await, b"_\r\n");
}

#[tokio::test]
async fn watch_sees_the_clients_own_writes_and_unwatch_discard_clear_it() {
    let server = TestServer::start().await;
    let mut c = server.raw().await;
    // EXEC fail on WATCHed key modified by the same client
    assert_eq!(c.cmd(&["SET", "x", "30"]).await, ok());
    assert_eq!(c.cmd(&["WATCH", "x"]).await, ok());
    assert_eq!(c.cmd(&["SET", "x", "40"]).await, ok());
    assert_eq!(c.cmd(&["MULTI"]).await, ok());
    assert_eq!(c.cmd(&["PING"]).await, simple("QUEUED"));
    assert_eq!(c.cmd(&["EXEC"]).await, Reply::NullArray);
    // It is possible to UNWATCH
    assert_eq!(c.cmd(&["WATCH", "x"]).await, ok());
    assert_eq!(c.cmd(&["SET", "x", "40"]).await, ok());
    assert_eq!(c.cmd(&["UNWATCH"]).await, ok());
    assert_eq!(c.cmd(&["MULTI"]).await, ok());
    assert_eq!(c.cmd(&["PING"]).await, simple("QUEUED"));
    assert_eq!(c.cmd(&["EXEC"]).await, arr([simple("PONG")]));
    // DISCARD should clear the WATCH dirty flag on the client
    assert_eq!(c.cmd(&["WATCH", "x"]).await, ok());
    assert_eq!(c.cmd(&["SET", "x", "10"]).await, ok());
    assert_eq!(c.cmd(&["MULTI"]).await, ok());
    assert_eq!(c.cmd(&["DISCARD"]).await, ok());
    assert_eq!(c.cmd(&["MULTI"]).await, ok());
    assert_eq!(c.cmd(&["INCR", "x"]).await, simple("QUEUED"));
    assert_eq!(c.cmd(&["EXEC"]).await, arr([int(11)]));
    // DISCARD should UNWATCH all the keys
    assert_eq!(c.cmd(&["WATCH", "x"]).await, ok());
    assert_eq!(c.cmd(&["MULTI"]).await, ok());
    assert_eq!(c.cmd(&["DISCARD"]).await, ok());
    assert_eq!(c.cmd(&["SET", "x", "10"]).await, ok());
    assert_eq!(c.cmd(&["MULTI"]).await, ok());
    assert_eq!(c.cmd(&["INCR", "x"]).await, simple("QUEUED"));
    assert_eq!(c.cmd(&["EXEC"]).await, arr([int(11)]));
    // WATCH will consider touched keys target of EXPIRE
    assert_eq!(c.cmd(&["WATCH", "x"]).await, ok());
    assert_eq!(c.cmd(&["EXPIRE", "x", "10"]).await, int(1));
    assert_eq!(c.cmd(&["MULTI"]).await, ok());
    assert_eq!(c.cmd(&["PING"]).await, simple("QUEUED"));
    assert_eq!(c.cmd(&["EXEC"]).await, Reply::NullArray);
}

#[tokio::test]
async fn flushes_and_swapdb_touch_watched_keys() {
    let server = TestServer::start().await;
    let mut c = server.raw().await;
    // FLUSHALL is able to touch the watched keys
    assert_eq!(c.cmd(&["SET", "x", "30"]).await, ok());
    assert_eq!(c.cmd(&["WATCH", "x"]).await, ok());
    assert_eq!(c.cmd(&["FLUSHALL"]).await, ok());
    assert_eq!(exec_ping(&mut c).await, Reply::NullArray);
    // FLUSHDB is able to touch the watched keys
    assert_eq!(c.cmd(&["SET", "x", "30"]).await, ok());
    assert_eq!(c.cmd(&["WATCH", "x"]).await, ok());
    assert_eq!(c.cmd(&["FLUSHDB"]).await, ok());
    assert_eq!(exec_ping(&mut c).await, Reply::NullArray);
    // SWAPDB is able to touch the watched keys that exist
    assert_eq!(c.cmd(&["SET", "x", "30"]).await, ok());
    assert_eq!(c.cmd(&["WATCH", "x"]).await, ok());
    assert_eq!(c.cmd(&["SWAPDB", "0", "1"]).await, ok());
    assert_eq!(exec_ping(&mut c).await, Reply::NullArray);
    // FLUSHALL / FLUSHDB / SWAPDB do not touch keys they do not change
    assert_eq!(c.cmd(&["DEL", "x"]).await, int(0));
    for change in [&["FLUSHALL"][..], &["FLUSHDB"], &["SWAPDB", "0", "1"]] {
        assert_eq!(c.cmd(&["WATCH", "x"]).await, ok());
        assert_eq!(c.cmd(change).await, ok());
        assert_eq!(
            exec_ping(&mut c).await,
            arr([simple("PONG")]),
            "{change:?} with the watched key absent"
        );
    }
    // SWAPDB is able to touch the watched keys that do not exist (yet)
    assert_eq!(c.cmd(&["FLUSHALL"]).await, ok());
    assert_eq!(c.cmd(&["SELECT", "1"]).await, ok());
    assert_eq!(c.cmd(&["SET", "x", "30"]).await, ok());
    assert_eq!(c.cmd(&["SELECT", "0"]).await, ok());
    assert_eq!(c.cmd(&["WATCH", "x"]).await, ok());
    assert_eq!(c.cmd(&["SWAPDB", "0", "1"]).await, ok());
    assert_eq!(exec_ping(&mut c).await, Reply::NullArray);
    // WATCH is able to remember the DB a key belongs to
    assert_eq!(c.cmd(&["SELECT", "5"]).await, ok());
    assert_eq!(c.cmd(&["SET", "x", "30"]).await, ok());
    assert_eq!(c.cmd(&["WATCH", "x"]).await, ok());
    assert_eq!(c.cmd(&["SELECT", "1"]).await, ok());
    assert_eq!(c.cmd(&["SET", "x", "10"]).await, ok());
    assert_eq!(c.cmd(&["SELECT", "5"]).await, ok());
    assert_eq!(exec_ping(&mut c).await, arr([simple("PONG")]));
}

/// MULTI, PING, EXEC; returns EXEC's reply.
async fn exec_ping(c: &mut RawClient) -> Reply {
    assert_eq!(c.cmd(&["MULTI"]).await, ok());
    assert_eq!(c.cmd(&["PING"]).await, simple("QUEUED"));
    c.cmd(&["EXEC"]).await
}

#[tokio::test]
async fn stale_and_expiring_watched_keys() {
    let clock = redynamo::util::clock::Clock::manual(1_700_000_000_000);
    let server = TestServer::with_clock(clock.clone()).await;
    let mut c = server.raw().await;
    // WATCH stale keys should not fail EXEC: the key's deadline passed
    // before WATCH, so it counts as absent from the start (the store's clock
    // is a manual one: a deadline passes without anything touching the key).
    assert_eq!(c.cmd(&["SET", "x", "foo", "PX", "1"]).await, ok());
    clock.advance(5);
    assert_eq!(c.cmd(&["WATCH", "x"]).await, ok());
    assert_eq!(exec_ping(&mut c).await, arr([simple("PONG")]));
    // Delete WATCHed stale keys should not fail EXEC
    assert_eq!(c.cmd(&["SET", "x", "foo", "PX", "1"]).await, ok());
    clock.advance(5);
    assert_eq!(c.cmd(&["WATCH", "x"]).await, ok());
    assert_eq!(c.cmd(&["EXISTS", "x"]).await, int(0));
    assert_eq!(exec_ping(&mut c).await, arr([simple("PONG")]));
    // FLUSHDB while watching stale keys should not fail EXEC
    assert_eq!(c.cmd(&["SET", "x", "foo", "PX", "1"]).await, ok());
    clock.advance(5);
    assert_eq!(c.cmd(&["WATCH", "x"]).await, ok());
    assert_eq!(c.cmd(&["FLUSHDB"]).await, ok());
    assert_eq!(exec_ping(&mut c).await, arr([simple("PONG")]));
    // EXEC fails on a WATCHed key that expires between WATCH and EXEC, even
    // if nothing has deleted it yet (lazy expiry at EXEC).
    assert_eq!(c.cmd(&["SET", "key", "1", "PX", "100"]).await, ok());
    assert_eq!(c.cmd(&["WATCH", "key"]).await, ok());
    clock.advance(130);
    assert_eq!(c.cmd(&["MULTI"]).await, ok());
    assert_eq!(c.cmd(&["INCR", "key"]).await, simple("QUEUED"));
    assert_eq!(c.cmd(&["EXEC"]).await, Reply::NullArray);
    assert_eq!(c.cmd(&["EXISTS", "key"]).await, int(0), "INCR did not run");
}

#[tokio::test]
async fn select_inside_multi_switches_the_db_for_what_follows() {
    let server = TestServer::start().await;
    let mut c = server.raw().await;
    assert_eq!(c.cmd(&["MULTI"]).await, ok());
    assert_eq!(c.cmd(&["SELECT", "1"]).await, simple("QUEUED"));
    assert_eq!(c.cmd(&["SET", "foo", "bar"]).await, simple("QUEUED"));
    assert_eq!(c.cmd(&["SELECT", "2"]).await, simple("QUEUED"));
    assert_eq!(c.cmd(&["SET", "foo2", "bar2"]).await, simple("QUEUED"));
    assert_eq!(c.cmd(&["EXEC"]).await, arr([ok(), ok(), ok(), ok()]));
    // The session is now in db 2.
    assert_eq!(c.cmd(&["GET", "foo2"]).await, bulk("bar2"));
    assert_eq!(c.cmd(&["GET", "foo"]).await, nil());
    assert_eq!(c.cmd(&["SELECT", "1"]).await, ok());
    assert_eq!(c.cmd(&["GET", "foo"]).await, bulk("bar"));
    // An out-of-range SELECT inside EXEC is a runtime error only.
    assert_eq!(c.cmd(&["MULTI"]).await, ok());
    assert_eq!(c.cmd(&["SELECT", "99"]).await, simple("QUEUED"));
    assert_eq!(c.cmd(&["GET", "foo"]).await, simple("QUEUED"));
    assert_eq!(
        c.cmd(&["EXEC"]).await,
        arr([err("ERR DB index is out of range"), bulk("bar")])
    );
}

#[tokio::test]
async fn server_commands_inside_exec_keep_their_place() {
    let server = TestServer::start().await;
    let mut c = server.raw().await;
    assert_eq!(c.cmd(&["MULTI"]).await, ok());
    for cmd in [
        &["ECHO", "first"][..],
        &["SET", "k", "v"],
        &["PING"],
        &["GET", "k"],
        &["CONFIG", "GET", "databases"],
        &["DBSIZE"],
    ] {
        assert_eq!(c.cmd(cmd).await, simple("QUEUED"), "{cmd:?}");
    }
    assert_eq!(
        c.cmd(&["EXEC"]).await,
        arr([
            bulk("first"),
            ok(),
            simple("PONG"),
            bulk("v"),
            bulks(&["databases", "16"]),
            int(1),
        ])
    );
}

#[tokio::test]
async fn session_commands_other_than_select_are_refused_inside_multi() {
    // A documented difference from Redis (README, "Known gaps"): the
    // connection owns session state that a transaction in the store cannot
    // reach, so these fail to queue and the transaction aborts.
    let server = TestServer::start().await;
    let mut c = server.raw().await;
    for cmd in [
        &["CLIENT", "ID"][..],
        &["CLIENT", "SETNAME", "x"],
        &["AUTH", "pw"],
        &["HELLO", "3"],
    ] {
        assert_eq!(c.cmd(&["MULTI"]).await, ok());
        assert_eq!(
            c.cmd(cmd).await,
            err("ERR Command not allowed inside a transaction"),
            "{cmd:?}"
        );
        assert_eq!(
            c.cmd(&["EXEC"]).await,
            err("EXECABORT Transaction discarded because of previous errors.")
        );
    }
    assert_eq!(c.cmd(&["CLIENT", "GETNAME"]).await, nil());
}

#[tokio::test]
async fn redis_crate_transactions_and_optimistic_locking() {
    let server = TestServer::start().await;
    let mut con = server.conn().await;
    let (set, n): (String, i64) = redis::pipe()
        .atomic()
        .set("counter", 10)
        .incr("counter", 5)
        .query_async(&mut con)
        .await
        .unwrap();
    assert_eq!((set.as_str(), n), ("OK", 15));
    // WATCH on one connection, a write on another, EXEC gives nil.
    let mut watcher = server.conn().await;
    let mut writer = server.conn().await;
    let _: () = redis::cmd("WATCH")
        .arg("counter")
        .query_async(&mut watcher)
        .await
        .unwrap();
    let _: () = redis::cmd("SET")
        .arg("counter")
        .arg(100)
        .query_async(&mut writer)
        .await
        .unwrap();
    let result: Option<(i64,)> = redis::pipe()
        .atomic()
        .incr("counter", 1)
        .query_async(&mut watcher)
        .await
        .unwrap();
    assert_eq!(result, None, "the transaction was aborted");
    let v: i64 = redis::cmd("GET")
        .arg("counter")
        .query_async(&mut con)
        .await
        .unwrap();
    assert_eq!(v, 100);
}

#[tokio::test]
async fn concurrent_increments_in_transactions_lose_nothing() {
    let server = TestServer::start().await;
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let mut con = server.conn().await;
        tasks.push(tokio::spawn(async move {
            for _ in 0..50 {
                let _: (i64, i64) = redis::pipe()
                    .atomic()
                    .incr("total", 1)
                    .incr("total", 1)
                    .query_async(&mut con)
                    .await
                    .unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let mut c = server.raw().await;
    assert_eq!(c.cmd(&["GET", "total"]).await, bulk("800"));
}

#[tokio::test]
async fn a_refused_exec_discards_the_transaction() {
    // Redis' execCommandAbort: an EXEC rejected before it runs answers
    // EXECABORT with the reason and leaves MULTI, in or out of MULTI.
    let server = TestServer::start().await;
    let mut c = server.raw().await;
    let abort = err(
        "EXECABORT Transaction discarded because of: wrong number of arguments for 'exec' command",
    );
    assert_eq!(c.cmd(&["EXEC", "foo"]).await, abort);
    assert_eq!(c.cmd(&["MULTI"]).await, ok());
    assert_eq!(c.cmd(&["SET", "k", "v"]).await, simple("QUEUED"));
    assert_eq!(c.cmd(&["EXEC", "foo"]).await, abort);
    assert_eq!(c.cmd(&["EXEC"]).await, err("ERR EXEC without MULTI"));
    assert_eq!(c.cmd(&["EXISTS", "k"]).await, int(0));
}
