//! Overload paths over real TCP: per-command timeout, maxclients, load
//! shedding, the idle timeout and the graceful drain. Each checks what the
//! client sees on the wire and what `/metrics` and INFO count.
//!
//! Slowness comes from the test [`Gate`] layer (`hold` waits for the test,
//! `hang` never finishes); the only real time waited is the server's own
//! timers (`--timeout-ms`, `--timeout`, `--shutdown-timeout`), kept short.

mod common;

use std::time::{Duration, Instant};

use common::*;
use tokio::net::TcpStream;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_command_times_out_and_the_connection_stays_usable() {
    let mut cfg = metrics_config();
    cfg.timeout_ms = 200;
    let server = TestServer::with_gate(cfg, &Gate::default()).await;
    let mut c = server.raw().await;

    let started = Instant::now();
    assert_eq!(
        c.cmd(&["GET", "hang"]).await,
        Reply::Error("ERR command timed out after 200 ms".into())
    );
    assert!(started.elapsed() >= Duration::from_millis(200));

    // The same connection goes on working, pipelined too.
    assert_eq!(c.cmd(&["SET", "k", "v"]).await, Reply::ok());
    assert_eq!(c.cmd(&["GET", "k"]).await, Reply::bulk("v"));
    c.send_cmd(&["SET", "hang", "x"]).await;
    c.send_cmd(&["PING"]).await;
    assert_eq!(
        c.read().await,
        Reply::Error("ERR command timed out after 200 ms".into())
    );
    assert_eq!(c.read().await, Reply::Simple("PONG".into()));

    // Counted as infrastructure failures, in /metrics and INFO alike.
    let m = server.scrape().await;
    let count = |command: &str, outcome: &str| {
        m.value(
            "redynamo_commands_total",
            &[("command", command), ("outcome", outcome)],
        )
    };
    assert_eq!(count("get", "failure"), 1.0);
    assert_eq!(count("get", "ok"), 1.0);
    assert_eq!(count("set", "failure"), 1.0);
    assert_eq!(count("set", "ok"), 1.0);
    assert!(
        m.value(
            "redynamo_command_duration_seconds_sum",
            &[("command", "get")]
        ) >= 0.2
    );
    let info = c.info("all").await;
    assert_eq!(parse_fields(&info["cmdstat_get"])["failed_calls"], "1");
    assert_eq!(parse_fields(&info["errorstat_ERR"])["count"], "2");

    // Past the default 10 ms threshold: both are in the SLOWLOG with the
    // time they really took.
    let got = c.cmd(&["SLOWLOG", "GET"]).await;
    let timed_out: Vec<_> = got
        .items()
        .iter()
        .map(ReplyExt::items)
        .filter(|e| e[3].items()[1].text() == "hang")
        .collect();
    assert_eq!(timed_out.len(), 2, "{got:?}");
    assert!(timed_out.iter().all(|e| e[2].int() >= 200_000));
    server.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn maxclients_refuses_the_extra_client_with_the_redis_error() {
    let mut cfg = metrics_config();
    cfg.maxclients = 2;
    let server = TestServer::with_gate(cfg, &Gate::default()).await;
    let mut first = server.raw().await;
    let mut second = server.raw().await;
    // Both are registered once they have been answered.
    for c in [&mut first, &mut second] {
        assert_eq!(c.cmd(&["PING"]).await, Reply::Simple("PONG".into()));
    }

    let mut third = server.raw().await;
    assert_eq!(
        third.read().await,
        Reply::Error("ERR max number of clients reached".into())
    );
    assert!(third.is_closed().await);

    let m = server.scrape().await;
    assert_eq!(m.value("redynamo_connections_rejected_total", &[]), 1.0);
    assert_eq!(m.value("redynamo_connections_received_total", &[]), 2.0);
    assert_eq!(m.value("redynamo_connected_clients", &[]), 2.0);
    let info = first.info("stats").await;
    assert_eq!(info["rejected_connections"], "1");
    assert_eq!(info["total_connections_received"], "2");
    // The existing clients are unaffected.
    assert_eq!(second.cmd(&["PING"]).await, Reply::Simple("PONG".into()));

    // A slot frees up when a client leaves.
    drop(second);
    wait_until("the second client is unregistered", PATIENCE, || async {
        server
            .scrape()
            .await
            .value("redynamo_connected_clients", &[])
            == 1.0
    })
    .await;
    let mut fourth = server.raw().await;
    assert_eq!(fourth.cmd(&["PING"]).await, Reply::Simple("PONG".into()));
    server.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shedding_answers_at_once_instead_of_queueing() {
    let mut cfg = metrics_config();
    cfg.max_concurrent_commands = 1;
    let gate = Gate::default();
    let server = TestServer::with_gate(cfg, &gate).await;
    let mut holder = server.raw().await;
    let mut other = server.raw().await;

    // The holder's command takes the only permit and keeps it.
    holder.send_cmd(&["SET", "hold", "1"]).await;
    gate.entered().await;

    // Another client's command is refused promptly, not queued.
    let shed = tokio::time::timeout(Duration::from_secs(1), other.cmd(&["GET", "x"]))
        .await
        .expect("a shed command answers within a second");
    assert_eq!(
        shed,
        Reply::Error("ERR server is overloaded, try again later".into())
    );
    // Session commands do not take a permit: the connection stays usable.
    assert_eq!(other.cmd(&["SELECT", "0"]).await, Reply::ok());

    // Once the permit is free, both go on normally.
    gate.release(1);
    assert_eq!(holder.read().await, Reply::ok());
    assert_eq!(other.cmd(&["GET", "x"]).await, Reply::Null);
    assert_eq!(holder.cmd(&["GET", "x"]).await, Reply::Null);

    let m = server.scrape().await;
    let get = |outcome| {
        m.value(
            "redynamo_commands_total",
            &[("command", "get"), ("outcome", outcome)],
        )
    };
    assert_eq!(get("failure"), 1.0);
    assert_eq!(get("ok"), 2.0);
    server.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_clients_are_closed_after_the_timeout() {
    let mut cfg = metrics_config();
    cfg.timeout = 1;
    let server = TestServer::with_gate(cfg, &Gate::default()).await;
    let mut idle = server.raw().await;
    assert_eq!(idle.cmd(&["PING"]).await, Reply::Simple("PONG".into()));
    let since = Instant::now();
    assert!(idle.is_closed().await, "idle client closed");
    let waited = since.elapsed();
    assert!(
        waited >= Duration::from_millis(900),
        "closed after {waited:?}, before the 1 s idle timeout"
    );
    wait_until("the idle client is unregistered", PATIENCE, || async {
        server
            .scrape()
            .await
            .value("redynamo_connected_clients", &[])
            == 0.0
    })
    .await;
    server.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_drain_finishes_running_commands_and_refuses_new_clients() {
    let mut cfg = metrics_config();
    cfg.shutdown_timeout = 5;
    let gate = Gate::default();
    let mut server = TestServer::with_gate(cfg, &gate).await;
    let mut busy = server.raw().await;
    let mut idle = server.raw().await;
    assert_eq!(idle.cmd(&["PING"]).await, Reply::Simple("PONG".into()));
    busy.send_cmd(&["SET", "hold", "v"]).await;
    gate.entered().await;

    let state = server.state().clone();
    tokio::spawn(async move { state.begin_shutdown().await });
    tokio::time::timeout(PATIENCE, server.state().shutdown.cancelled())
        .await
        .expect("shutdown begins");
    let drain_started = Instant::now();

    // The listener is closed: new clients are refused.
    wait_until("new connections are refused", PATIENCE, || async {
        TcpStream::connect(server.addr()).await.is_err()
    })
    .await;
    // Idle clients are closed at once; the busy one is still running.
    assert!(idle.is_closed().await);
    assert!(!server.serving().is_finished());

    // The running command finishes and its reply is delivered, then the
    // connection closes and serve() returns well within the timeout.
    gate.release(1);
    assert_eq!(busy.read().await, Reply::ok());
    assert!(busy.is_closed().await);
    tokio::time::timeout(Duration::from_secs(5), server.serving())
        .await
        .expect("serve() returns within --shutdown-timeout")
        .expect("no panic");
    assert!(drain_started.elapsed() < Duration::from_secs(5));
    // The metrics listener stops last.
    wait_until("the metrics listener stops", PATIENCE, || async {
        TcpStream::connect(server.metrics_addr()).await.is_err()
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drain_gives_up_on_stuck_commands_after_the_shutdown_timeout() {
    let mut cfg = metrics_config();
    cfg.shutdown_timeout = 1;
    let mut server = TestServer::with_gate(cfg, &Gate::default()).await;
    let mut stuck = RawClient::connect(server.addr()).await;
    stuck.send_cmd(&["GET", "hang"]).await;
    // Make sure the command is running before shutdown begins.
    wait_until("the stuck command is running", PATIENCE, || async {
        let mut probe = server.raw().await;
        let list = probe.cmd(&["CLIENT", "LIST"]).await.text();
        list.lines().any(|l| l.contains(" cmd=get "))
    })
    .await;

    let started = Instant::now();
    server.state().begin_shutdown().await;
    tokio::time::timeout(PATIENCE, server.serving())
        .await
        .expect("serve() returns despite a stuck command")
        .expect("no panic");
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(5),
        "serve() returned after {took:?} with --shutdown-timeout 1"
    );
}
