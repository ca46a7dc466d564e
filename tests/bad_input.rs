//! Hostile and broken input: Redis' exact protocol errors (then the
//! connection closes), bounded lengths, clients that vanish mid-frame or
//! send garbage while others keep working, the unauthenticated limits and
//! `maxclients`. Ported in part from Redis' `tests/unit/protocol.tcl`.

// A test fails by panicking: unwrap is the point here, not a shortcut.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use common::*;
use redynamo::config::Config;

/// Send `bytes` on a fresh connection; expect exactly `reply`, then a close.
async fn expect_protocol_error(server: &TestServer, bytes: &[u8], reply: &str) {
    let mut c = server.raw().await;
    c.send(bytes).await;
    let got = c.read_bytes().await;
    assert_eq!(
        String::from_utf8_lossy(&got),
        format!("-ERR Protocol error: {reply}\r\n"),
        "reply to {:?}",
        String::from_utf8_lossy(&bytes[..bytes.len().min(60)])
    );
    assert!(c.is_closed().await, "connection not closed after {reply:?}");
}

#[tokio::test]
async fn huge_multibulk_length_is_refused_at_once() {
    let server = TestServer::start().await;
    expect_protocol_error(&server, b"*2147483647\r\n", "invalid multibulk length").await;
    // Out of range multibulk length (protocol.tcl), and non-numbers
    expect_protocol_error(&server, b"*20000000\r\n", "invalid multibulk length").await;
    expect_protocol_error(&server, b"*abc\r\n", "invalid multibulk length").await;
    // The server is fine afterwards.
    let mut c = server.raw().await;
    assert_eq!(c.cmd(&["PING"]).await, simple("PONG"));
}

#[tokio::test]
async fn huge_or_malformed_bulk_length_is_refused() {
    let server = TestServer::start().await;
    expect_protocol_error(&server, b"*1\r\n$10737418240\r\n", "invalid bulk length").await;
    // protocol.tcl: negative, out of range and non-number payload lengths
    for header in ["$-10", "$2000000000", "$blabla"] {
        let bytes = format!("*3\r\n$3\r\nSET\r\n$1\r\nx\r\n{header}\r\n");
        expect_protocol_error(&server, bytes.as_bytes(), "invalid bulk length").await;
    }
}

#[tokio::test]
async fn multibulk_without_bulk_arguments() {
    let server = TestServer::start().await;
    expect_protocol_error(&server, b"*1\r\nX\r\n", "expected '$', got 'X'").await;
    // protocol.tcl: "Multi bulk request not followed by bulk arguments"
    expect_protocol_error(&server, b"*1\r\nfoo\r\n", "expected '$', got 'f'").await;
    // protocol.tcl: "Wrong multibulk payload header"
    expect_protocol_error(
        &server,
        b"*3\r\n$3\r\nSET\r\n$1\r\nx\r\nfooz\r\n",
        "expected '$', got 'f'",
    )
    .await;
    // As in Redis, the error comes when the line is complete: `*1\r\nX`
    // alone waits for more.
    let mut c = server.raw().await;
    c.send(b"*1\r\nX").await;
    assert!(c.nothing_within(Duration::from_millis(50)).await);
    c.send(b"\r\n").await;
    assert_eq!(
        c.read().await,
        err("ERR Protocol error: expected '$', got 'X'")
    );
    assert!(c.is_closed().await);
    // Commands before the bad frame in the same write still run.
    let mut c = server.raw().await;
    c.send(&[encode_str(&["SET", "before", "1"]), b"*1\r\nX\r\n".to_vec()].concat())
        .await;
    assert_eq!(c.read().await, ok());
    assert_eq!(
        c.read().await,
        err("ERR Protocol error: expected '$', got 'X'")
    );
    assert!(c.is_closed().await);
    assert_eq!(server.raw().await.cmd(&["GET", "before"]).await, bulk("1"));
}

#[tokio::test]
async fn unbalanced_inline_quotes() {
    let server = TestServer::start().await;
    expect_protocol_error(&server, b"SET \"a b\r\n", "unbalanced quotes in request").await;
    expect_protocol_error(&server, b"SET 'a b\r\n", "unbalanced quotes in request").await;
    // A closing quote must be followed by a space.
    expect_protocol_error(&server, b"SET \"a\"b c\r\n", "unbalanced quotes in request").await;
}

#[tokio::test]
async fn oversized_lines_are_refused_before_they_are_buffered() {
    let server = TestServer::start().await;
    // An inline line longer than 64 KiB without a newline …
    let long = vec![b'a'; 70 * 1024];
    expect_protocol_error(&server, &long, "too big inline request").await;
    // … and a multibulk or bulk count that never ends.
    let mut count = b"*".to_vec();
    count.extend(std::iter::repeat_n(b'1', 70 * 1024));
    expect_protocol_error(&server, &count, "too big mbulk count string").await;
    let mut bulk_count = b"*1\r\n$".to_vec();
    bulk_count.extend(std::iter::repeat_n(b'1', 70 * 1024));
    expect_protocol_error(&server, &bulk_count, "too big bulk count string").await;
}

#[tokio::test]
async fn protocol_desync_regressions() {
    // protocol.tcl "Protocol desync regression test #1..3": a stray byte
    // then a flood without line ends must end in a protocol error, not a
    // server that buffers forever.
    let server = TestServer::start().await;
    for seq in [&b"\x00"[..], b"*\x00", b"$\x00"] {
        let mut c = server.raw().await;
        c.send(seq).await;
        let payload = b"payload".repeat(1024);
        let mut sent = 0;
        while sent < 1024 * 1024 && c.try_send(&payload).await {
            sent += payload.len();
        }
        let reply = c.read_bytes().await;
        let reply = String::from_utf8_lossy(&reply);
        assert!(reply.starts_with("-ERR Protocol error"), "{seq:?}: {reply}");
        assert!(c.is_closed().await);
    }
}

#[tokio::test]
async fn configured_limits_are_enforced() {
    let mut config = Config::for_tests();
    config.proto_max_bulk_len = 1024;
    config.max_multibulk_len = 100;
    let server = TestServer::with_config(config).await;
    expect_protocol_error(&server, b"*101\r\n", "invalid multibulk length").await;
    expect_protocol_error(
        &server,
        b"*2\r\n$3\r\nGET\r\n$1025\r\n",
        "invalid bulk length",
    )
    .await;
    // At the limits everything works.
    let mut c = server.raw().await;
    let value = "v".repeat(1024);
    assert_eq!(c.cmd(&["SET", "k", &value]).await, ok());
    let mut mget = vec!["MGET"];
    mget.extend(std::iter::repeat_n("k", 99));
    assert_eq!(c.cmd(&mget).await.items().len(), 99);
}

#[tokio::test]
async fn query_buffer_limit_disconnects_silently() {
    // Redis closes a client whose pending command outgrows
    // client-query-buffer-limit, without a reply.
    let mut config = Config::for_tests();
    config.client_query_buffer_limit = 256 * 1024;
    let server = TestServer::with_config(config).await;
    let mut c = server.raw().await;
    c.send(b"*2\r\n$3\r\nGET\r\n$1000000\r\n").await;
    let chunk = vec![b'x'; 64 * 1024];
    let mut sent = 0;
    while sent < 1_000_000 && c.try_send(&chunk).await {
        sent += chunk.len();
    }
    assert!(c.is_closed().await, "connection closed after the limit");
    let mut other = server.raw().await;
    assert_eq!(other.cmd(&["PING"]).await, simple("PONG"));
}

/// Median and maximum round trip of `n` PINGs.
async fn ping_latency(c: &mut RawClient, n: usize) -> (Duration, Duration) {
    let mut samples = Vec::with_capacity(n);
    for _ in 0..n {
        let start = Instant::now();
        assert_eq!(c.cmd(&["PING"]).await, simple("PONG"));
        samples.push(start.elapsed());
    }
    samples.sort();
    (samples[n / 2], samples[n - 1])
}

#[tokio::test]
async fn half_frames_and_vanishing_clients_do_not_disturb_others() {
    let server = TestServer::start().await;
    let mut good = server.raw().await;
    let (base_median, _) = ping_latency(&mut good, 50).await;
    // Twenty clients stop in the middle of a frame, in every kind of place:
    // inside a header, inside a bulk, between arguments. Half stay
    // connected (a slow client), half disconnect.
    let fragments: [&[u8]; 5] = [
        b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$100\r\nabc",
        b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n",
        b"*3\r\n$3",
        b"*",
        b"SET k partial-inline",
    ];
    let mut lingering = Vec::new();
    for i in 0..20 {
        let mut c = server.raw().await;
        c.send(fragments[i % fragments.len()]).await;
        if i % 2 == 0 {
            lingering.push(c);
        }
    }
    let (median, max) = ping_latency(&mut good, 50).await;
    assert!(
        median <= base_median * 10 + Duration::from_millis(10) && max < Duration::from_millis(500),
        "latency with half frames pending: median {median:?} (was {base_median:?}), max {max:?}"
    );
    for mut c in lingering.drain(..) {
        // A few more bytes (never a line end), then vanish.
        c.send(b"ab").await;
        drop(c);
    }
    let (median, max) = ping_latency(&mut good, 50).await;
    assert!(
        median <= base_median * 10 + Duration::from_millis(10) && max < Duration::from_millis(500),
        "latency after disconnects: median {median:?} (was {base_median:?}), max {max:?}"
    );
    // No partial command ran, and every vanished client was cleaned up.
    assert_eq!(good.cmd(&["EXISTS", "k"]).await, int(0));
    let addr = server.addr();
    let cleaned = eventually(Duration::from_secs(2), || async move {
        let mut probe = RawClient::connect(addr).await;
        probe.cmd(&["CLIENT", "LIST"]).await.text().lines().count() == 2
    })
    .await
    .is_some();
    assert!(cleaned, "disconnected clients still registered");
}

/// A small deterministic generator, so a failure can be replayed.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }

    /// Garbage that looks like RESP often enough to reach every decoder
    /// state: random bytes, protocol punctuation and broken frames.
    fn garbage(&mut self) -> Vec<u8> {
        const PIECES: &[&[u8]] = &[
            b"*",
            b"$",
            b"\r\n",
            b"\r",
            b"\n",
            b"-1",
            b"0",
            b"99999999999",
            b"3",
            b"\"",
            b"'",
            b"SET",
            b"GET",
            b" ",
            b"\\x",
            b"\x00",
            b"\xff",
            b"*2\r\n",
            b"$3\r\nfoo\r\n",
        ];
        let mut out = Vec::new();
        for _ in 0..(1 + self.next() % 40) {
            if self.next() % 3 == 0 {
                out.push(self.next() as u8);
            } else {
                out.extend_from_slice(PIECES[(self.next() as usize) % PIECES.len()]);
            }
        }
        out
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_garbage_clients_while_a_good_client_works() {
    let server = TestServer::start().await;
    let addr = server.addr();
    let good = tokio::spawn(async move {
        let mut c = RawClient::connect(addr).await;
        for i in 0..300 {
            let v = format!("value-{i}");
            assert_eq!(c.cmd(&["SET", "good", &v]).await, ok());
            assert_eq!(c.cmd(&["GET", "good"]).await, bulk(&v));
        }
        assert_eq!(c.cmd(&["INCRBY", "good:n", "300"]).await, int(300));
    });
    let mut attackers = Vec::new();
    for seed in 0..64u64 {
        attackers.push(tokio::spawn(async move {
            let mut rng = Lcg(seed);
            let mut c = RawClient::connect(addr).await;
            for _ in 0..20 {
                if !c.try_send(&rng.garbage()).await {
                    break;
                }
            }
            // Some get a protocol error and are closed, some are left
            // waiting for a frame that never completes; both are fine.
            drop(c);
        }));
    }
    tokio::time::timeout(Duration::from_secs(10), good)
        .await
        .expect("the good client finished in time")
        .expect("the good client saw correct replies");
    for a in attackers {
        a.await.expect("attacker task");
    }
    let cleaned = eventually(Duration::from_secs(2), || async move {
        let mut probe = RawClient::connect(addr).await;
        probe.cmd(&["CLIENT", "LIST"]).await.text().lines().count() == 1
    })
    .await
    .is_some();
    assert!(cleaned, "garbage clients were not all cleaned up");
    let mut c = server.raw().await;
    assert_eq!(c.cmd(&["GET", "good"]).await, bulk("value-299"));
}

#[tokio::test]
async fn unauthenticated_clients_get_small_limits() {
    let mut config = Config::for_tests();
    config.requirepass = Some("pw".into());
    let server = TestServer::with_config(config).await;
    expect_protocol_error(&server, b"*100\r\n", "unauthenticated multibulk length").await;
    expect_protocol_error(&server, b"*11\r\n", "unauthenticated multibulk length").await;
    expect_protocol_error(
        &server,
        b"*2\r\n$4\r\nAUTH\r\n$16385\r\n",
        "unauthenticated bulk length",
    )
    .await;
    // Ten arguments and 16 KiB are still fine before AUTH (and get NOAUTH) …
    let mut c = server.raw().await;
    let mut ten = vec!["MGET"];
    ten.extend(std::iter::repeat_n("k", 9));
    assert_eq!(c.cmd(&ten).await, err("NOAUTH Authentication required."));
    let big = "x".repeat(16 * 1024);
    assert_eq!(
        c.cmd(&["ECHO", &big]).await,
        err("NOAUTH Authentication required.")
    );
    // … and after AUTH the normal limits apply.
    assert_eq!(c.cmd(&["AUTH", "pw"]).await, ok());
    let mut many = vec!["MGET"];
    many.extend(std::iter::repeat_n("k", 99));
    assert_eq!(c.cmd(&many).await.items().len(), 99);
    let bigger = "x".repeat(100_000);
    assert_eq!(c.cmd(&["SET", "k", &bigger]).await, ok());
    assert_eq!(c.cmd(&["STRLEN", "k"]).await, int(100_000));
}

#[tokio::test]
async fn auth_pipelined_with_a_long_command_lifts_the_limits_for_it() {
    // The connection decodes commands ahead of running them; it must not
    // decode the MGET (99 keys) under the unauthenticated limits when the
    // AUTH before it, in the same write, lifts them.
    let mut config = Config::for_tests();
    config.requirepass = Some("pw".into());
    let server = TestServer::with_config(config).await;
    let mut c = server.raw().await;
    let mut many = vec!["MGET"];
    many.extend(std::iter::repeat_n("k", 99));
    let mut batch = encode_str(&["AUTH", "pw"]);
    batch.extend(encode_str(&many));
    batch.extend(encode_str(&["PING"]));
    c.send(&batch).await;
    assert_eq!(c.read().await, ok());
    assert_eq!(c.read().await.items().len(), 99);
    assert_eq!(c.read().await, simple("PONG"));
}

#[tokio::test]
async fn a_protocol_error_after_a_long_pipeline_comes_after_every_reply() {
    // More commands than the connection decodes ahead, then garbage: every
    // command before the garbage runs and is answered, in order, and only
    // then come the protocol error and the close.
    let server = TestServer::start().await;
    let mut c = server.raw().await;
    let mut batch = Vec::new();
    for i in 0..100 {
        batch.extend(encode_str(&["INCR", "n"]));
        batch.extend(encode_str(&["SET", &format!("k{i}"), "v"]));
    }
    batch.extend(b"*1\r\n$abc\r\n");
    c.send(&batch).await;
    for i in 0..100 {
        assert_eq!(c.read().await, int(i + 1), "INCR #{i}");
        assert_eq!(c.read().await, ok(), "SET #{i}");
    }
    assert_eq!(
        c.read().await,
        err("ERR Protocol error: invalid bulk length")
    );
    assert!(c.is_closed().await);
    let mut other = server.raw().await;
    assert_eq!(other.cmd(&["GET", "n"]).await, bulk("100"));
    assert_eq!(other.cmd(&["EXISTS", "k99"]).await, int(1));
    // The same after a run of reads, which are sent into the stack
    // together: their replies first, then the error.
    let mut batch = Vec::new();
    for _ in 0..10 {
        batch.extend(encode_str(&["GET", "n"]));
    }
    batch.extend(b"*1\r\n$abc\r\n");
    other.send(&batch).await;
    for i in 0..10 {
        assert_eq!(other.read().await, bulk("100"), "GET #{i}");
    }
    assert_eq!(
        other.read().await,
        err("ERR Protocol error: invalid bulk length")
    );
    assert!(other.is_closed().await);
}

#[tokio::test]
async fn maxclients_refuses_the_next_connection() {
    let mut config = Config::for_tests();
    config.maxclients = 2;
    let server = TestServer::with_config(config).await;
    let mut a = server.raw().await;
    let mut b = server.raw().await;
    // Both are registered once they have been answered.
    assert_eq!(a.cmd(&["PING"]).await, simple("PONG"));
    assert_eq!(b.cmd(&["PING"]).await, simple("PONG"));
    let mut c = server.raw().await;
    assert_eq!(
        c.read_bytes().await,
        b"-ERR max number of clients reached\r\n"
    );
    assert!(c.is_closed().await);
    // The two keep working, and a slot frees up when one leaves.
    assert_eq!(a.cmd(&["SET", "k", "v"]).await, ok());
    drop(b);
    let addr = server.addr();
    let admitted = eventually(Duration::from_secs(2), || async move {
        let mut d = RawClient::connect(addr).await;
        d.send(&encode_str(&["PING"])).await;
        d.read().await == simple("PONG")
    })
    .await
    .is_some();
    assert!(admitted, "a new client is admitted after one leaves");
    let info = a.cmd(&["INFO", "stats"]).await.text();
    let rejected: u64 = info
        .split("\r\n")
        .find_map(|l| l.strip_prefix("rejected_connections:"))
        .expect("rejected_connections in INFO stats")
        .parse()
        .unwrap();
    assert!(rejected >= 1, "{info}");
    // CONFIG SET maxclients applies to the next accept.
    assert_eq!(a.cmd(&["CONFIG", "SET", "maxclients", "10"]).await, ok());
    let mut e = server.raw().await;
    assert_eq!(e.cmd(&["PING"]).await, simple("PONG"));
}
