//! MONITOR as Redis 7.2: `+OK`, then one status line per command run by
//! any client, quoted as Redis quotes them, passwords redacted, admin
//! commands left out — compared with redis-server's own lines (time and
//! client address aside). A monitor that does not read is disconnected
//! rather than buffered without bound.

mod common;

use std::time::Duration;

use common::*;
use tokio::io::AsyncReadExt;

/// A monitor line without its time and client address:
/// `+1339518083.107412 [0 127.0.0.1:60866] "keys" "*"` → `[0] "keys" "*"`.
fn strip(line: &str) -> String {
    let (_, rest) = line.split_once(" [").expect("a monitor line");
    let (db_addr, args) = rest.split_once("] ").expect("a monitor line");
    let db = db_addr.split(' ').next().unwrap_or_default();
    format!("[{db}] {args}")
}

#[tokio::test]
async fn monitor_lines_as_redis_server() {
    let Some(redis) = RedisServer::start().await else {
        return;
    };
    let ours = TestServer::start().await;
    let mut lines = Vec::new();
    for addr in [ours.addr(), redis.addr()] {
        let mut monitor = RawClient::connect(addr).await;
        assert_eq!(monitor.cmd(&["MONITOR"]).await, simple("OK"));
        let mut c = RawClient::connect(addr).await;
        for cmd in [
            &["SET", "k", "a \"quoted\"\nline\x01é"][..],
            &["GET", "k"],
            &["CONFIG", "GET", "maxclients"],
            &["AUTH", "nobody", "secret"],
            &["HELLO", "2", "AUTH", "default", "wrong"],
            &["SELECT", "3"],
            &["INCR", "n"],
            &["MULTI"],
            &["SET", "a", "1"],
            &["EXEC"],
            &["NOSUCHCOMMAND", "x"],
            &["PING"],
        ] {
            c.cmd(cmd).await;
        }
        let mut seen = Vec::new();
        loop {
            let line = monitor.read().await.text();
            let done = line.contains("\"PING\"");
            seen.push(strip(&line));
            if done {
                break;
            }
        }
        lines.push(seen);
    }
    assert_eq!(lines[0], lines[1]);
    assert!(lines[0].contains(&"[0] \"AUTH\" \"(redacted)\" \"(redacted)\"".to_string()));
}

#[tokio::test]
async fn a_monitor_that_does_not_read_is_disconnected() {
    let server = TestServer::start().await;
    let mut monitor = RawClient::connect(server.addr()).await;
    assert_eq!(monitor.cmd(&["MONITOR"]).await, simple("OK"));
    let mut c = server.raw().await;
    // 64 MiB of lines (4 per byte of a value of `\x01`s), far past the
    // 16 MiB a monitor may have waiting, while it reads nothing.
    let value = "\x01".repeat(1 << 20);
    for _ in 0..16 {
        assert_eq!(c.cmd(&["SET", "k", &value]).await, ok());
    }
    // Everything it was sent, then the end.
    let mut stream = monitor.into_stream();
    let mut total = 0usize;
    let mut buf = vec![0u8; 1 << 16];
    let closed = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return true,
                Ok(n) => total += n,
            }
        }
    })
    .await
    .unwrap_or(false);
    assert!(closed, "still open after {total} bytes");
    assert!(total < 40 << 20, "{total} bytes were buffered for it");
    // The others are served still, and nobody monitors any more.
    assert_eq!(c.cmd(&["PING"]).await, simple("PONG"));
}
