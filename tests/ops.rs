//! The operators' commands over real TCP: SHUTDOWN (the drain SIGTERM
//! starts, ABORT, SAVE on a store with nowhere to save), WAIT and WAITAOF
//! for a server without replicas or AOF (WAITAOF is Redis 7.2's, which the
//! differential tests' redis-server 7.0 lacks, so its texts are checked
//! here against 7.2's source), MEMORY STATS/DOCTOR, and DEBUG behind
//! `--enable-debug-command`. `tests/differential_ops.rs` compares the rest
//! with redis-server byte for byte.

mod common;

use std::time::{Duration, Instant};

use common::*;
use redynamo::config::{Config, EnableDebug};

fn config_with(edit: impl FnOnce(&mut Config)) -> Config {
    let mut config = Config::for_tests();
    edit(&mut config);
    config
}

#[tokio::test]
async fn shutdown_closes_the_connection_and_drains_the_server() {
    let mut server = TestServer::start().await;
    let mut c = server.raw().await;
    let mut other = server.raw().await;
    // The reply to the command before SHUTDOWN is written first; SHUTDOWN
    // itself gets none.
    c.send(&encode_str(&["SET", "k", "v"])).await;
    c.send(&encode_str(&["SHUTDOWN", "NOSAVE"])).await;
    assert_eq!(c.read().await, ok());
    assert!(
        c.is_closed().await,
        "SHUTDOWN closes the client's connection"
    );
    tokio::time::timeout(PATIENCE, server.serving())
        .await
        .expect("the server stops after SHUTDOWN")
        .expect("no panic");
    assert!(other.is_closed().await, "the drain closes the others too");
}

#[tokio::test]
async fn shutdown_abort_cancels_a_shutdown_still_in_its_delay() {
    let mut server = TestServer::with_config(config_with(|c| c.shutdown_delay_ms = 60_000)).await;
    let mut c = server.raw().await;
    assert_eq!(
        c.cmd(&["SHUTDOWN", "ABORT"]).await,
        err("ERR No shutdown in progress.")
    );
    let mut asker = server.raw().await;
    asker.send_cmd(&["SHUTDOWN"]).await;
    assert!(asker.is_closed().await);
    // In the delay: unready on /readyz, still serving.
    assert!(!server.state().is_ready());
    assert_eq!(c.cmd(&["PING"]).await, simple("PONG"));
    assert_eq!(c.cmd(&["SHUTDOWN", "ABORT"]).await, ok());
    assert!(server.state().is_ready(), "ready again after ABORT");
    assert_eq!(
        c.cmd(&["SHUTDOWN", "ABORT"]).await,
        err("ERR No shutdown in progress.")
    );
    assert_eq!(c.cmd(&["PING"]).await, simple("PONG"));
    // NOW skips the delay.
    c.send_cmd(&["SHUTDOWN", "NOW"]).await;
    assert!(c.is_closed().await);
    tokio::time::timeout(PATIENCE, server.serving())
        .await
        .expect("SHUTDOWN NOW does not wait out the delay")
        .expect("no panic");
}

#[tokio::test]
async fn shutdown_save_fails_on_the_memory_store_unless_forced() {
    let mut server = TestServer::start().await;
    let mut c = server.raw().await;
    assert_eq!(
        c.cmd(&["SHUTDOWN", "SAVE"]).await,
        err("ERR Errors trying to SHUTDOWN. Check logs.")
    );
    assert_eq!(c.cmd(&["PING"]).await, simple("PONG"), "still serving");
    for bad in [
        &["SHUTDOWN", "SAVE", "NOSAVE"][..],
        &["SHUTDOWN", "ABORT", "NOW"],
        &["SHUTDOWN", "X"],
    ] {
        assert_eq!(c.cmd(bad).await, err("ERR syntax error"), "{bad:?}");
    }
    c.send_cmd(&["SHUTDOWN", "SAVE", "FORCE"]).await;
    assert!(c.is_closed().await);
    tokio::time::timeout(PATIENCE, server.serving())
        .await
        .expect("SHUTDOWN SAVE FORCE stops the server")
        .expect("no panic");
}

#[tokio::test]
async fn waitaof_answers_as_redis_7_2_without_aof_or_replicas() {
    let server = TestServer::start().await;
    let mut c = server.raw().await;
    assert_eq!(
        c.cmd(&["WAITAOF", "0", "0", "0"]).await,
        arr([int(0), int(0)])
    );
    assert_eq!(
        c.cmd(&["WAITAOF", "1", "0", "0"]).await,
        err("ERR WAITAOF cannot be used when numlocal is set but appendonly is disabled.")
    );
    for (args, e) in [
        (
            ["WAITAOF", "2", "0", "0"],
            "ERR value is out of range, value must between 0 and 1",
        ),
        (
            ["WAITAOF", "x", "0", "0"],
            "ERR value is not an integer or out of range",
        ),
        (
            ["WAITAOF", "0", "-1", "0"],
            "ERR value is out of range, must be positive",
        ),
        (
            ["WAITAOF", "0", "x", "0"],
            "ERR value is not an integer or out of range",
        ),
        (["WAITAOF", "0", "0", "-1"], "ERR timeout is negative"),
        (
            ["WAITAOF", "0", "0", "x"],
            "ERR timeout is not an integer or out of range",
        ),
        // Arguments are checked before appendonly.
        (["WAITAOF", "1", "0", "-1"], "ERR timeout is negative"),
    ] {
        assert_eq!(c.cmd(&args).await, err(e), "{args:?}");
    }
    assert_eq!(
        c.cmd(&["WAITAOF", "0", "0"]).await,
        err("ERR wrong number of arguments for 'waitaof' command")
    );
    // Replicas asked for: waits out the timeout, then [0, 0].
    let start = Instant::now();
    assert_eq!(
        c.cmd(&["WAITAOF", "0", "1", "100"]).await,
        arr([int(0), int(0)])
    );
    assert!(start.elapsed() >= Duration::from_millis(100));
}

#[tokio::test]
async fn wait_for_replicas_that_never_come_waits_out_its_timeout() {
    let server = TestServer::start().await;
    let mut c = server.raw().await;
    let start = Instant::now();
    assert_eq!(c.cmd(&["WAIT", "1", "100"]).await, int(0));
    assert!(start.elapsed() >= Duration::from_millis(100));
    // Timeout 0 waits for ever; other clients are not held up, and the
    // waiting one goes when killed.
    let id = c.cmd(&["CLIENT", "ID"]).await.int();
    c.send_cmd(&["WAIT", "1", "0"]).await;
    assert!(c.nothing_within(Duration::from_millis(200)).await);
    let mut other = server.raw().await;
    assert_eq!(other.cmd(&["WAIT", "0", "0"]).await, int(0));
    assert_eq!(
        other.cmd(&["CLIENT", "KILL", "ID", &id.to_string()]).await,
        int(1)
    );
    assert!(c.is_closed().await);
}

#[tokio::test]
async fn memory_stats_and_doctor() {
    let server = TestServer::start().await;
    let mut c = server.raw().await;
    c.cmd(&["SET", "k", "v"]).await;
    let stats = c.cmd(&["MEMORY", "STATS"]).await;
    let items = stats.items();
    let names: Vec<String> = items.iter().step_by(2).map(|r| r.text()).collect();
    for name in [
        "peak.allocated",
        "total.allocated",
        "db.0",
        "overhead.total",
        "keys.count",
        "dataset.bytes",
        "fragmentation",
    ] {
        assert!(names.iter().any(|n| n == name), "{name} in {names:?}");
    }
    let at = names
        .iter()
        .position(|n| n == "keys.count")
        .expect("keys.count");
    assert_eq!(items[at * 2 + 1], int(1));
    let doctor = c.cmd(&["MEMORY", "DOCTOR"]).await.text();
    assert!(doctor.starts_with("Hi Sam, "), "{doctor}");
}

#[tokio::test]
async fn debug_is_refused_unless_enabled() {
    let refused = "ERR DEBUG command not allowed. If the enable-debug-command option is set to \"local\", you can run it from a local connection, otherwise you need to set this option in the configuration file, and then restart the server.";
    let server = TestServer::start().await;
    let mut c = server.raw().await;
    assert_eq!(c.cmd(&["DEBUG", "SLEEP", "0"]).await, err(refused));
    assert_eq!(
        c.cmd(&["CONFIG", "GET", "enable-debug-command"]).await,
        bulks(&["enable-debug-command", "no"])
    );

    for mode in [EnableDebug::Yes, EnableDebug::Local] {
        // The test server listens on 127.0.0.1: a local connection.
        let server = TestServer::with_config(config_with(|c| c.enable_debug_command = mode)).await;
        let mut c = server.raw().await;
        let start = Instant::now();
        assert_eq!(c.cmd(&["DEBUG", "SLEEP", "0.1"]).await, ok());
        assert!(start.elapsed() >= Duration::from_millis(100));
        assert_eq!(c.cmd(&["DEBUG", "sleep", "junk"]).await, ok());
        assert_eq!(
            c.cmd(&["DEBUG", "RELOAD"]).await,
            err(
                "ERR unknown subcommand or wrong number of arguments for 'RELOAD'. Try DEBUG HELP."
            )
        );
        assert_eq!(
            c.cmd(&["DEBUG", "SLEEP"]).await,
            err("ERR unknown subcommand or wrong number of arguments for 'SLEEP'. Try DEBUG HELP.")
        );
        assert!(!c.cmd(&["DEBUG", "HELP"]).await.items().is_empty());
        assert_eq!(c.cmd(&["SET", "k", "v"]).await, ok());
        assert_eq!(
            c.cmd(&["DEBUG", "OBJECT", "k"]).await,
            simple("Value at:0x0 refcount:1 encoding:embstr serializedlength:0 lru:0 lru_seconds_idle:0")
        );
        assert_eq!(c.cmd(&["RPUSH", "l", "a"]).await, int(1));
        assert!(c
            .cmd(&["DEBUG", "OBJECT", "l"])
            .await
            .text()
            .contains(" encoding:listpack "));
        assert_eq!(
            c.cmd(&["DEBUG", "OBJECT", "nokey"]).await,
            err("ERR no such key")
        );
    }
}

#[tokio::test]
async fn client_pause_write_holds_writes_until_unpause() {
    let server = TestServer::start().await;
    let mut admin = server.raw().await;
    let mut writer = server.raw().await;
    let mut reader = server.raw().await;
    assert_eq!(admin.cmd(&["SET", "k", "before"]).await, ok());
    assert_eq!(
        admin.cmd(&["CLIENT", "PAUSE", "100000", "WRITE"]).await,
        ok()
    );
    writer.send_cmd(&["SET", "k", "after"]).await;
    assert!(
        writer.nothing_within(Duration::from_millis(200)).await,
        "SET waits"
    );
    // Reads, and a transaction of reads, go on.
    assert_eq!(reader.cmd(&["GET", "k"]).await, bulk("before"));
    assert_eq!(reader.cmd(&["MULTI"]).await, ok());
    assert_eq!(reader.cmd(&["GET", "k"]).await, simple("QUEUED"));
    assert_eq!(reader.cmd(&["EXEC"]).await, arr([bulk("before")]));
    // A transaction with a write waits at EXEC.
    let mut tx = server.raw().await;
    assert_eq!(tx.cmd(&["MULTI"]).await, ok());
    // Queueing a write waits too, as in Redis: the pause is checked first.
    tx.send_cmd(&["INCR", "n"]).await;
    assert!(tx.nothing_within(Duration::from_millis(100)).await);
    assert_eq!(admin.cmd(&["CLIENT", "UNPAUSE"]).await, ok());
    assert_eq!(writer.read().await, ok());
    assert_eq!(tx.read().await, simple("QUEUED"));
    assert_eq!(tx.cmd(&["EXEC"]).await, arr([int(1)]));
    assert_eq!(reader.cmd(&["GET", "k"]).await, bulk("after"));
}

#[tokio::test]
async fn client_pause_all_holds_every_client_until_it_ends() {
    let server = TestServer::start().await;
    let mut admin = server.raw().await;
    let mut other = server.raw().await;
    let start = Instant::now();
    assert_eq!(admin.cmd(&["CLIENT", "PAUSE", "300"]).await, ok());
    assert_eq!(other.cmd(&["PING"]).await, simple("PONG"));
    assert!(start.elapsed() >= Duration::from_millis(300), "PING waited");
    // The pausing client waits too; a killed client goes at once.
    assert_eq!(admin.cmd(&["CLIENT", "PAUSE", "100000", "ALL"]).await, ok());
    let id = other.cmd(&["CLIENT", "ID"]);
    let mut id = std::pin::pin!(id);
    assert!(
        tokio::time::timeout(Duration::from_millis(200), &mut id)
            .await
            .is_err(),
        "CLIENT ID waits"
    );
    server.state().pause.unpause();
    assert!(id.await.int() > 0);
}
