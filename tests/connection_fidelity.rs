//! The connection and decoder against the real `redis-server`: the same
//! bytes go to both, and the replies must be the same bytes.
//!
//! - UNWATCH inside MULTI is queued (and does not save an EXEC whose
//!   watched key changed);
//! - the query-buffer limit counts what Redis counts: the bytes not parsed
//!   yet, not the arguments of a long command already split out;
//! - unknown-command errors echo the client's bytes, not UTF-8 text, and
//!   cut each at its first NUL, as C's `%s` does;
//! - `tcp-backlog` reads as Redis' default and is the listen queue's length.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::{encode, encode_str, RawClient, RedisServer, ReplyExt, TestServer};
use redynamo::config::Config;

/// A redynamo and a redis-server, each fresh.
async fn both() -> Option<(TestServer, RedisServer)> {
    let redis = RedisServer::start().await?;
    Some((TestServer::start().await, redis))
}

/// Send `steps` in order on one connection (each step a whole request,
/// its reply read before the next) and return the replies' exact bytes,
/// ASCII-escaped (losslessly) for readable failures.
async fn replies(addr: SocketAddr, steps: &[Vec<u8>]) -> Vec<String> {
    let mut c = RawClient::connect(addr).await;
    let mut out = Vec::new();
    for step in steps {
        c.send(step).await;
        out.push(c.read_bytes().await.escape_ascii().to_string());
    }
    out
}

#[tokio::test]
async fn unwatch_inside_multi_is_queued_as_in_redis() {
    let Some((server, redis)) = both().await else {
        return;
    };
    let steps: Vec<Vec<u8>> = [
        &["MULTI"][..],
        &["SET", "a", "1"],
        &["UNWATCH"],
        &["GET", "a"],
        &["EXEC"],
    ]
    .iter()
    .map(|c| encode_str(c))
    .collect();
    let ours = replies(server.addr(), &steps).await;
    assert_eq!(ours, replies(redis.addr(), &steps).await);
    assert_eq!(ours[2], "+QUEUED\\r\\n");

    // A watched key changed before MULTI: a queued UNWATCH does not save
    // the transaction (EXEC checks the watches before running the queue).
    for addr in [server.addr(), redis.addr()] {
        let mut c = RawClient::connect(addr).await;
        let mut other = RawClient::connect(addr).await;
        assert_eq!(c.cmd_bytes(&["WATCH", "w"]).await, b"+OK\r\n");
        assert_eq!(other.cmd_bytes(&["SET", "w", "x"]).await, b"+OK\r\n");
        assert_eq!(c.cmd_bytes(&["MULTI"]).await, b"+OK\r\n");
        assert_eq!(c.cmd_bytes(&["UNWATCH"]).await, b"+QUEUED\r\n");
        assert_eq!(c.cmd_bytes(&["SET", "w", "y"]).await, b"+QUEUED\r\n");
        assert_eq!(c.cmd_bytes(&["EXEC"]).await, b"*-1\r\n", "at {addr}");
        assert_eq!(c.cmd_bytes(&["GET", "w"]).await, b"$1\r\nx\r\n");
    }
}

#[tokio::test]
async fn the_query_buffer_limit_counts_unparsed_bytes_as_redis_does() {
    let Some((server, redis)) = both().await else {
        return;
    };
    // A DEL of 200,001 keys is 1.4 MB, over a 1 MiB limit, but it arrives
    // in ordinary reads that are parsed as they come.
    let mut del: Vec<String> = vec!["DEL".into()];
    del.extend((0..200_000).map(|i| format!("k{i}")));
    let del: Vec<&str> = del.iter().map(String::as_str).collect();
    let del = encode_str(&del);
    assert!(del.len() > 1024 * 1024);
    // One bulk string of 2 MiB is over the limit while it arrives.
    let mut big = b"*3\r\n$3\r\nSET\r\n$3\r\nbig\r\n$2097152\r\n".to_vec();
    big.extend(std::iter::repeat_n(b'v', 2 * 1024 * 1024));
    big.extend_from_slice(b"\r\n");
    for addr in [server.addr(), redis.addr()] {
        let mut c = RawClient::connect(addr).await;
        assert_eq!(
            c.cmd_bytes(&["CONFIG", "SET", "client-query-buffer-limit", "1048576"])
                .await,
            b"+OK\r\n"
        );
        for chunk in del.chunks(16 * 1024) {
            c.send(chunk).await;
        }
        assert_eq!(c.read_bytes().await, b":0\r\n", "the long DEL at {addr}");

        let mut c = RawClient::connect(addr).await;
        let mut sent = 0;
        for chunk in big.chunks(64 * 1024) {
            if !c.try_send(chunk).await {
                break;
            }
            sent += chunk.len();
        }
        assert!(
            c.is_closed().await,
            "the big SET closes at {addr} ({sent} B sent)"
        );
    }
}

/// Like [`replies`] for one-line replies, read as raw bytes up to their
/// CRLF (the harness's parser wants error texts in UTF-8, which these are
/// not).
async fn reply_lines(addr: SocketAddr, steps: &[Vec<u8>]) -> Vec<String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = RawClient::connect(addr).await.into_stream();
    let mut out = Vec::new();
    for step in steps {
        stream.write_all(step).await.expect("send");
        let mut line = Vec::new();
        while !line.ends_with(b"\r\n") {
            let mut byte = [0u8; 1];
            let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut byte))
                .await
                .expect("a reply within 5 s")
                .expect("read");
            assert_eq!(n, 1, "closed after {:?}", line.escape_ascii().to_string());
            line.push(byte[0]);
        }
        out.push(line.escape_ascii().to_string());
    }
    out
}

#[tokio::test]
async fn unknown_command_errors_echo_bytes_up_to_a_nul() {
    let Some((server, redis)) = both().await else {
        return;
    };
    let lines: [&[&[u8]]; 6] = [
        &[b"f\xe9\xff", b"a\xfeb", b"x\x00y"],
        &[b"ab\x00cd", b"q"],
        &[b"a\r\nb", b"c\nd"],
        &[b"client", b"n\xffo\x00p"],
        &[b"x", b"\x00y", b"z"],
        &[&[b'x'; 200], &[b'y'; 100], &[b'z'; 100]],
    ];
    let steps: Vec<Vec<u8>> = lines.iter().map(|l| encode(l)).collect();
    let ours = reply_lines(server.addr(), &steps).await;
    assert_eq!(ours, reply_lines(redis.addr(), &steps).await);
    assert_eq!(
        ours[0],
        r"-ERR unknown command \'f\xe9\xff\', with args beginning with: \'a\xfeb\' \'x\' \r\n"
    );
}

#[tokio::test]
async fn tcp_backlog_is_redis_default_and_the_listen_queue_length() {
    let Some((server, redis)) = both().await else {
        return;
    };
    let steps = [encode_str(&["CONFIG", "GET", "tcp-backlog"])];
    assert_eq!(
        replies(server.addr(), &steps).await,
        replies(redis.addr(), &steps).await
    );
    let mut config = Config::for_tests();
    config.tcp_backlog = 77;
    let small = TestServer::with_config(config).await;
    // For a listening socket, `ss` shows the backlog as Send-Q.
    if !common::tool_available("ss") {
        return;
    }
    let out = std::process::Command::new("ss")
        .args(["-ltnH", &format!("sport = :{}", small.port())])
        .output()
        .expect("run ss");
    let text = String::from_utf8_lossy(&out.stdout);
    let send_q: Vec<&str> = text.split_whitespace().take(3).collect();
    assert_eq!(send_q.get(2), Some(&"77"), "{text}");
}

/// INFO names the allocator as Redis does (`mem_allocator:jemalloc-5.3.0`):
/// the binary names its own; an embedder's default is Redis' `libc`.
#[tokio::test]
async fn info_names_the_allocator() {
    let memory_line = |info: String| {
        info.lines()
            .find(|l| l.starts_with("mem_allocator:"))
            .map(str::to_string)
    };
    let plain = TestServer::start().await;
    let mut c = plain.raw().await;
    let info = c.cmd(&["INFO", "memory"]).await.text();
    assert_eq!(memory_line(info).as_deref(), Some("mem_allocator:libc"));

    let named =
        TestServer::with_builder(Config::for_tests(), |b| b.allocator("mimalloc-3.3.2")).await;
    let mut c = named.raw().await;
    let info = c.cmd(&["INFO", "memory"]).await.text();
    assert_eq!(
        memory_line(info).as_deref(),
        Some("mem_allocator:mimalloc-3.3.2")
    );
}
