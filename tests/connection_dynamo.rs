//! What a pipelining client sees from a connection whose commands wait on
//! DynamoDB (moto, through the fault proxy): each reply is sent as soon as
//! it and the replies before it are ready, and shutdown answers every
//! command it ran before closing.

mod common;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{
    direct_client, encode_str, moto, ok, table_value, unique_table, Fault, FaultProxy, RawClient,
    TestServer,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The first reply of a pipeline is not held back by a later command that
/// is still waiting on DynamoDB.
#[tokio::test]
async fn a_pipelines_first_reply_does_not_wait_for_its_last_command() {
    let Some(moto) = moto() else { return };
    let proxy = FaultProxy::start(moto.port).await;
    let table = unique_table("stream");
    let args: Vec<String> = [
        "--create-table",
        "--dynamo-max-attempts",
        "1",
        "--dynamo-timeout-ms",
        "3000",
    ]
    .map(String::from)
    .to_vec();
    let server = TestServer::try_dynamo(&proxy.endpoint(), &table, &args)
        .await
        .expect("server over DynamoDB");
    let mut c = RawClient::connect(server.addr()).await;
    assert_eq!(c.cmd(&["SET", "warm", "up"]).await, ok());

    // The first SET's UpdateItem goes through; the second is held by the
    // proxy until the SDK gives up on it (3 s).
    proxy.inject_op("UpdateItem", Fault::Stall, 0);
    proxy.inject_after(1, Fault::Stall, 1);
    let mut pipeline = encode_str(&["SET", "first", "1"]);
    pipeline.extend(encode_str(&["SET", "last", "2"]));
    c.send(&pipeline).await;

    assert_eq!(c.read().await, ok(), "the first SET's reply");
    // The last command cannot complete for 3 s: its reply (or anything
    // else) must not have come with the first one.
    assert!(
        c.nothing_within(Duration::from_secs(1)).await,
        "the first reply came together with the last command's"
    );
    let last = c.read().await;
    assert!(
        last.is_error() && format!("{last:?}").contains("timed out"),
        "{last:?}"
    );
    proxy.clear();
    let direct = direct_client(&moto.endpoint()).await;
    assert_eq!(
        table_value(&direct, &table, 0, b"first").await.as_deref(),
        Some(&b"1"[..])
    );
    assert_eq!(table_value(&direct, &table, 0, b"last").await, None);
}

/// Without faults: ten pipelined SETs, each a DynamoDB round trip, are
/// answered one by one as they complete, not all together at the end.
#[tokio::test]
async fn pipelined_writes_are_answered_as_they_complete() {
    let Some(moto) = moto() else { return };
    let proxy = FaultProxy::start(moto.port).await;
    let table = unique_table("stream");
    let server = TestServer::try_dynamo(&proxy.endpoint(), &table, &["--create-table".into()])
        .await
        .expect("server over DynamoDB");
    let mut c = RawClient::connect(server.addr()).await;
    assert_eq!(c.cmd(&["SET", "warm", "up"]).await, ok());
    // Every DynamoDB call takes at least 50 ms, so the commands are far
    // apart in time whatever the machine's speed.
    proxy.set_delay(Duration::from_millis(50));
    let mut pipeline = Vec::new();
    for i in 0..10 {
        pipeline.extend(encode_str(&["SET", &format!("k{i}"), "v"]));
    }
    let mut stream = c.into_stream();
    stream.write_all(&pipeline).await.expect("send");
    let started = Instant::now();
    // The time at which each reply's last byte arrived.
    let mut arrivals = Vec::new();
    let mut pending = Vec::new();
    while arrivals.len() < 10 {
        let mut chunk = [0u8; 1024];
        let n = tokio::time::timeout(Duration::from_secs(30), stream.read(&mut chunk))
            .await
            .expect("replies within 30 s")
            .expect("read");
        assert!(n > 0, "server closed the connection");
        pending.extend_from_slice(&chunk[..n]);
        while pending.starts_with(b"+OK\r\n") {
            pending.drain(..5);
            arrivals.push(started.elapsed());
        }
        assert!(
            b"+OK\r\n".starts_with(&pending),
            "{:?}",
            String::from_utf8_lossy(&pending)
        );
    }
    // All at once would put the first at the last one's time; answered as
    // they complete, the first is back while nine more round trips of
    // 50 ms or more are still to come.
    let (first, last) = (arrivals[0], arrivals[9]);
    assert!(
        last - first >= Duration::from_millis(9 * 50),
        "first reply at {first:?}, last at {last:?}"
    );
}

/// Shutdown under load: clients pipelining SETs when the server is told to
/// stop get a reply for every SET that was written, and the server is done
/// within `--shutdown-timeout`.
#[tokio::test]
async fn shutdown_answers_every_command_it_ran() {
    let Some(moto) = moto() else { return };
    let table = unique_table("shutdown");
    let args = [
        "--create-table",
        "--shutdown-timeout",
        "5",
        "--dynamo-timeout-ms",
        "20000",
    ]
    .map(String::from);
    let mut server = TestServer::try_dynamo(&moto.endpoint(), &table, &args)
        .await
        .expect("server over DynamoDB");
    let addr = server.addr();
    let state = server.state().clone();

    const CLIENTS: usize = 50;
    const PIPELINE: usize = 10;
    let acked = Arc::new(std::sync::Mutex::new(HashSet::new()));
    let mut clients = Vec::new();
    for c in 0..CLIENTS {
        let acked = acked.clone();
        let mut stream = TcpStream::connect(addr).await.expect("connect");
        clients.push(tokio::spawn(async move {
            let mut pipeline = Vec::new();
            for i in 0..PIPELINE {
                pipeline.extend(encode_str(&["SET", &format!("c{c}:{i}"), "v"]));
            }
            stream.write_all(&pipeline).await.expect("send");
            // Replies come in order: the n-th +OK acknowledges SET n.
            let mut got = Vec::new();
            let mut n = 0;
            loop {
                let mut chunk = [0u8; 256];
                match stream.read(&mut chunk).await {
                    Ok(0) | Err(_) => break,
                    Ok(len) => got.extend_from_slice(&chunk[..len]),
                }
                while got.starts_with(b"+OK\r\n") {
                    got.drain(..5);
                    acked.lock().expect("acked").insert(format!("c{c}:{n}"));
                    n += 1;
                }
                assert!(
                    b"+OK\r\n".starts_with(&got),
                    "{:?}",
                    String::from_utf8_lossy(&got)
                );
            }
        }));
    }
    // Stop once the load is under way (moto serves one request at a time:
    // 500 SETs take seconds).
    let deadline = Instant::now() + Duration::from_secs(60);
    while acked.lock().expect("acked").len() < 20 {
        assert!(Instant::now() < deadline, "no SET acknowledged within 60 s");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let stopping = Instant::now();
    state.begin_shutdown().await;
    tokio::time::timeout(Duration::from_secs(5 + 2), server.serving())
        .await
        .expect("server done within --shutdown-timeout")
        .expect("serve task");
    let took = stopping.elapsed();
    for client in clients {
        tokio::time::timeout(Duration::from_secs(5), client)
            .await
            .expect("every connection closed")
            .expect("client task");
    }

    let acked = acked.lock().expect("acked").clone();
    let direct = direct_client(&moto.endpoint()).await;
    let mut written = HashSet::new();
    for c in 0..CLIENTS {
        for i in 0..PIPELINE {
            let key = format!("c{c}:{i}");
            if table_value(&direct, &table, 0, key.as_bytes())
                .await
                .is_some()
            {
                written.insert(key);
            }
        }
    }
    let unanswered: Vec<_> = written.difference(&acked).collect();
    assert!(
        unanswered.is_empty(),
        "written but never acknowledged: {unanswered:?}"
    );
    let lost: Vec<_> = acked.difference(&written).collect();
    assert!(lost.is_empty(), "acknowledged but not written: {lost:?}");
    // The shutdown came in the middle of the load: some SETs were never
    // run (else this test would show nothing about shutdown).
    assert!(
        written.len() < CLIENTS * PIPELINE,
        "all {} SETs ran before the shutdown finished ({took:?})",
        written.len()
    );
}
