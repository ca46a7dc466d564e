//! Pub/Sub over real TCP: SUBSCRIBE, PSUBSCRIBE, SSUBSCRIBE and their
//! UNSUBSCRIBEs, PUBLISH, SPUBLISH, PUBSUB …, the RESP2 subscribed-mode
//! rules, RESP3 pushes mixed with replies (raw and through the `redis`
//! crate), and the output-buffer limit that closes a slow subscriber.
//! Byte-for-byte comparisons with redis-server are in
//! `differential_pubsub.rs`.

// A test fails by panicking: unwrap is the point here, not a shortcut.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use redynamo_layers::Reply;

fn frame(kind: &str, name: &str, n: i64) -> Reply {
    arr([bulk(kind), bulk(name), int(n)])
}

fn push(items: Vec<Reply>) -> Reply {
    Reply::Push(items)
}

#[tokio::test]
async fn subscribe_publish_unsubscribe_in_resp2() {
    let server = TestServer::start().await;
    let mut sub = server.raw().await;
    let mut publ = server.raw().await;
    sub.send_cmd(&["SUBSCRIBE", "chan1", "chan2"]).await;
    assert_eq!(
        sub.read_bytes().await,
        b"*3\r\n$9\r\nsubscribe\r\n$5\r\nchan1\r\n:1\r\n"
    );
    assert_eq!(sub.read().await, frame("subscribe", "chan2", 2));
    assert_eq!(publ.cmd(&["PUBLISH", "chan1", "hello"]).await, int(1));
    assert_eq!(publ.cmd(&["PUBLISH", "chan2", "world"]).await, int(1));
    assert_eq!(
        sub.read_bytes().await,
        b"*3\r\n$7\r\nmessage\r\n$5\r\nchan1\r\n$5\r\nhello\r\n"
    );
    assert_eq!(sub.read().await, bulks(&["message", "chan2", "world"]));
    // Twice the same channel counts once.
    sub.send_cmd(&["SUBSCRIBE", "chan1"]).await;
    assert_eq!(sub.read().await, frame("subscribe", "chan1", 2));
    sub.send_cmd(&["UNSUBSCRIBE", "chan1"]).await;
    assert_eq!(sub.read().await, frame("unsubscribe", "chan1", 1));
    assert_eq!(publ.cmd(&["PUBLISH", "chan1", "x"]).await, int(0));
    assert_eq!(
        publ.cmd(&["PUBSUB", "NUMSUB", "chan1", "chan2"]).await,
        arr([bulk("chan1"), int(0), bulk("chan2"), int(1)])
    );
    sub.send_cmd(&["UNSUBSCRIBE"]).await;
    assert_eq!(sub.read().await, frame("unsubscribe", "chan2", 0));
    // Out of subscribed mode: plain commands again, PING is PONG.
    assert_eq!(sub.cmd(&["PING"]).await, simple("PONG"));
    // Nothing to leave: one frame with a null name.
    assert_eq!(
        sub.cmd_bytes(&["UNSUBSCRIBE"]).await,
        b"*3\r\n$11\r\nunsubscribe\r\n$-1\r\n:0\r\n"
    );
    assert_eq!(
        sub.cmd(&["PUNSUBSCRIBE"]).await,
        arr([bulk("punsubscribe"), nil(), int(0)])
    );
    assert_eq!(publ.cmd(&["PUBLISH", "chan2", "x"]).await, int(0));
}

#[tokio::test]
async fn patterns_and_channels_together() {
    let server = TestServer::start().await;
    let mut sub = server.raw().await;
    let mut publ = server.raw().await;
    sub.send_cmd(&["SUBSCRIBE", "foo.bar"]).await;
    assert_eq!(sub.read().await, frame("subscribe", "foo.bar", 1));
    sub.send_cmd(&["PSUBSCRIBE", "foo.*", "b?r"]).await;
    assert_eq!(sub.read().await, frame("psubscribe", "foo.*", 2));
    assert_eq!(sub.read().await, frame("psubscribe", "b?r", 3));
    assert_eq!(publ.cmd(&["PUBLISH", "foo.bar", "hello"]).await, int(2));
    assert_eq!(publ.cmd(&["PUBLISH", "bar", "x"]).await, int(1));
    assert_eq!(publ.cmd(&["PUBLISH", "foo1", "x"]).await, int(0));
    // The channel's subscribers first, then the patterns'.
    assert_eq!(sub.read().await, bulks(&["message", "foo.bar", "hello"]));
    assert_eq!(
        sub.read_bytes().await,
        b"*4\r\n$8\r\npmessage\r\n$5\r\nfoo.*\r\n$7\r\nfoo.bar\r\n$5\r\nhello\r\n"
    );
    assert_eq!(sub.read().await, bulks(&["pmessage", "b?r", "bar", "x"]));
    assert_eq!(publ.cmd(&["PUBSUB", "NUMPAT"]).await, int(2));
    assert_eq!(
        publ.cmd(&["PUBSUB", "CHANNELS"]).await,
        arr([bulk("foo.bar")])
    );
    assert_eq!(
        publ.cmd(&["PUBSUB", "CHANNELS", "x*"]).await,
        arr(Vec::new())
    );
    sub.send_cmd(&["PUNSUBSCRIBE", "foo.*"]).await;
    assert_eq!(sub.read().await, frame("punsubscribe", "foo.*", 2));
    assert_eq!(publ.cmd(&["PUBLISH", "foo.x", "x"]).await, int(0));
    // Leaving the connection leaves every subscription.
    drop(sub);
    wait_until("the registry forgets a closed client", PATIENCE, || async {
        let mut c = server.raw().await;
        c.cmd(&["PUBSUB", "NUMPAT"]).await == int(0)
            && c.cmd(&["PUBSUB", "NUMSUB", "foo.bar"]).await == arr([bulk("foo.bar"), int(0)])
    })
    .await;
}

#[tokio::test]
async fn shard_channels() {
    let server = TestServer::start().await;
    let mut sub = server.raw().await;
    let mut publ = server.raw().await;
    sub.send_cmd(&["SSUBSCRIBE", "s1", "s2"]).await;
    assert_eq!(sub.read().await, frame("ssubscribe", "s1", 1));
    assert_eq!(sub.read().await, frame("ssubscribe", "s2", 2));
    // Shard counts are apart from channels and patterns.
    sub.send_cmd(&["SUBSCRIBE", "c"]).await;
    assert_eq!(sub.read().await, frame("subscribe", "c", 1));
    assert_eq!(publ.cmd(&["SPUBLISH", "s1", "hi"]).await, int(1));
    assert_eq!(sub.read().await, bulks(&["smessage", "s1", "hi"]));
    // PUBLISH does not reach shard channels, nor SPUBLISH plain ones.
    assert_eq!(publ.cmd(&["PUBLISH", "s1", "hi"]).await, int(0));
    assert_eq!(publ.cmd(&["SPUBLISH", "c", "hi"]).await, int(0));
    let mut names = match publ.cmd(&["PUBSUB", "SHARDCHANNELS"]).await {
        Reply::Array(items) => items,
        other => panic!("{other:?}"),
    };
    names.sort_by_key(|r| format!("{r:?}"));
    assert_eq!(names, vec![bulk("s1"), bulk("s2")]);
    assert_eq!(
        publ.cmd(&["PUBSUB", "SHARDNUMSUB", "s2", "zz"]).await,
        arr([bulk("s2"), int(1), bulk("zz"), int(0)])
    );
    sub.send_cmd(&["SUNSUBSCRIBE", "s1"]).await;
    assert_eq!(sub.read().await, frame("sunsubscribe", "s1", 1));
    sub.send_cmd(&["SUNSUBSCRIBE"]).await;
    assert_eq!(sub.read().await, frame("sunsubscribe", "s2", 0));
    // Still subscribed to `c`: still in subscribed mode.
    assert_eq!(
        sub.cmd(&["GET", "k"]).await,
        err("ERR Can't execute 'get': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context")
    );
}

#[tokio::test]
async fn resp2_subscribed_mode_allows_only_the_listed_commands() {
    let server = TestServer::start().await;
    let mut sub = server.raw().await;
    sub.send_cmd(&["SUBSCRIBE", "somechannel"]).await;
    sub.read().await;
    assert_eq!(
        sub.cmd(&["SET", "k", "v"]).await,
        err("ERR Can't execute 'set': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context")
    );
    assert_eq!(
        sub.cmd(&["CLIENT", "LIST"]).await,
        err("ERR Can't execute 'client|list': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context")
    );
    assert_eq!(
        sub.cmd_bytes(&["PING"]).await,
        b"*2\r\n$4\r\npong\r\n$0\r\n\r\n"
    );
    assert_eq!(sub.cmd(&["PING", "foo"]).await, bulks(&["pong", "foo"]));
    // Unknown commands keep their own error.
    assert_eq!(
        sub.cmd(&["NOSUCH"]).await,
        err("ERR unknown command 'NOSUCH', with args beginning with: ")
    );
    // RESET leaves subscribed mode (and every subscription).
    assert_eq!(sub.cmd(&["RESET"]).await, simple("RESET"));
    assert_eq!(sub.cmd(&["PING"]).await, simple("PONG"));
    let mut other = server.raw().await;
    assert_eq!(other.cmd(&["PUBLISH", "somechannel", "x"]).await, int(0));
    // QUIT is allowed.
    sub.send_cmd(&["SUBSCRIBE", "a"]).await;
    sub.read().await;
    assert_eq!(sub.cmd(&["QUIT"]).await, ok());
    assert!(sub.is_closed().await);
}

#[tokio::test]
async fn subscribe_is_refused_inside_multi() {
    let server = TestServer::start().await;
    let mut c = server.raw().await;
    assert_eq!(c.cmd(&["MULTI"]).await, ok());
    assert_eq!(
        c.cmd(&["SUBSCRIBE", "a"]).await,
        err("ERR Command not allowed inside a transaction")
    );
    assert_eq!(c.cmd(&["DISCARD"]).await, ok());
}

#[tokio::test]
async fn resp3_pushes_mix_with_replies() {
    let server = TestServer::start().await;
    let mut c = server.raw().await;
    let mut publ = server.raw().await;
    c.cmd(&["HELLO", "3"]).await;
    c.send_cmd(&["SUBSCRIBE", "foo", "bar"]).await;
    assert_eq!(
        c.read_bytes().await,
        b">3\r\n$9\r\nsubscribe\r\n$3\r\nfoo\r\n:1\r\n"
    );
    assert_eq!(
        c.read().await,
        push(vec![bulk("subscribe"), bulk("bar"), int(2)])
    );
    // Any command runs while subscribed in RESP3; PING is plain.
    assert_eq!(c.cmd(&["SET", "k", "v"]).await, ok());
    assert_eq!(c.cmd(&["PING"]).await, simple("PONG"));
    // A message published to the client itself follows the reply.
    c.send_cmd(&["PUBLISH", "foo", "self"]).await;
    assert_eq!(c.read().await, int(1));
    assert_eq!(
        c.read_bytes().await,
        b">3\r\n$7\r\nmessage\r\n$3\r\nfoo\r\n$4\r\nself\r\n"
    );
    // Inside MULTI too: EXEC's reply, then the messages.
    assert_eq!(c.cmd(&["MULTI"]).await, ok());
    assert_eq!(c.cmd(&["PING", "abc"]).await, simple("QUEUED"));
    assert_eq!(c.cmd(&["PUBLISH", "foo", "bar"]).await, simple("QUEUED"));
    assert_eq!(c.cmd(&["PUBLISH", "foo", "vaz"]).await, simple("QUEUED"));
    assert_eq!(c.cmd(&["PING", "def"]).await, simple("QUEUED"));
    assert_eq!(
        c.cmd(&["EXEC"]).await,
        arr([bulk("abc"), int(1), int(1), bulk("def")])
    );
    assert_eq!(
        c.read().await,
        push(vec![bulk("message"), bulk("foo"), bulk("bar")])
    );
    assert_eq!(
        c.read().await,
        push(vec![bulk("message"), bulk("foo"), bulk("vaz")])
    );
    // From another client, while idle.
    assert_eq!(publ.cmd(&["PUBLISH", "bar", "idle"]).await, int(1));
    assert_eq!(
        c.read().await,
        push(vec![bulk("message"), bulk("bar"), bulk("idle")])
    );
    // Leaving everything: one frame per channel, in no set order, the
    // count going down.
    c.send_cmd(&["UNSUBSCRIBE"]).await;
    let (first, second) = (c.read().await, c.read().await);
    let name = |r: &Reply| r.items()[1].text();
    let mut names = vec![name(&first), name(&second)];
    names.sort();
    assert_eq!(names, vec!["bar", "foo"]);
    assert_eq!(
        first,
        push(vec![bulk("unsubscribe"), bulk(name(&first)), int(1)])
    );
    assert_eq!(
        second,
        push(vec![bulk("unsubscribe"), bulk(name(&second)), int(0)])
    );
    assert_eq!(
        c.cmd_bytes(&["UNSUBSCRIBE"]).await,
        b">3\r\n$11\r\nunsubscribe\r\n_\r\n:0\r\n"
    );
}

#[tokio::test]
async fn pubsub_help_and_bad_subcommands() {
    let server = TestServer::start().await;
    let mut c = server.raw().await;
    let help = c.cmd(&["PUBSUB", "HELP"]).await;
    let Reply::Array(lines) = help else {
        panic!("{help:?}")
    };
    assert_eq!(
        lines.first(),
        Some(&simple(
            "PUBSUB <subcommand> [<arg> [value] [opt] ...]. Subcommands are:"
        ))
    );
    assert_eq!(lines.len(), 14);
    assert_eq!(
        c.cmd(&["PUBSUB", "CHANNELS", "a", "b"]).await,
        err("ERR unknown subcommand or wrong number of arguments for 'CHANNELS'. Try PUBSUB HELP.")
    );
    assert_eq!(
        c.cmd(&["PUBSUB", "NUMPAT", "x"]).await,
        err("ERR wrong number of arguments for 'pubsub|numpat' command")
    );
    assert_eq!(c.cmd(&["PUBSUB", "NUMSUB"]).await, arr(Vec::new()));
    assert_eq!(
        c.cmd(&["PUBLISH", "a"]).await,
        err("ERR wrong number of arguments for 'publish' command")
    );
    assert_eq!(
        c.cmd(&["SUBSCRIBE"]).await,
        err("ERR wrong number of arguments for 'subscribe' command")
    );
}

#[tokio::test]
async fn slow_subscriber_is_closed_past_the_output_buffer_limit() {
    let server = TestServer::start().await;
    let mut admin = server.raw().await;
    assert_eq!(
        admin
            .cmd(&["CONFIG", "GET", "client-output-buffer-limit"])
            .await,
        bulks(&[
            "client-output-buffer-limit",
            "normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60"
        ])
    );
    assert_eq!(
        admin
            .cmd(&[
                "CONFIG",
                "SET",
                "client-output-buffer-limit",
                "pubsub 1mb 256kb 60"
            ])
            .await,
        ok()
    );
    assert_eq!(
        admin
            .cmd(&["CONFIG", "SET", "client-output-buffer-limit", "pubsub 1mb 256kb"])
            .await,
        err("ERR CONFIG SET failed (possibly related to argument 'client-output-buffer-limit') - Wrong number of arguments in buffer limit configuration.")
    );
    // A subscriber that never reads: its socket buffers fill, then its
    // mailbox passes 1 MB and it is closed.
    let mut slow = server.raw().await;
    slow.send_cmd(&["SUBSCRIBE", "firehose"]).await;
    assert_eq!(slow.read().await, frame("subscribe", "firehose", 1));
    let payload = "x".repeat(64 * 1024);
    let mut sent = 0;
    loop {
        let n = admin.cmd(&["PUBLISH", "firehose", &payload]).await;
        if n == int(0) {
            break;
        }
        sent += 1;
        assert!(
            sent < 2_000,
            "128 MB published and the slow subscriber is still there"
        );
    }
    let stats = admin.info("stats").await;
    assert_eq!(stats["client_output_buffer_limit_disconnections"], "1");
    // Its connection is gone: reading drains what was written, then EOF.
    let mut stream = slow.into_stream();
    let mut sink = Vec::new();
    let read = tokio::time::timeout(
        PATIENCE,
        tokio::io::AsyncReadExt::read_to_end(&mut stream, &mut sink),
    )
    .await;
    assert!(read.is_ok(), "the slow subscriber's socket was not closed");
    // A subscriber that reads is not affected.
    let mut fast = server.raw().await;
    fast.send_cmd(&["SUBSCRIBE", "firehose"]).await;
    fast.read().await;
    for _ in 0..64 {
        assert_eq!(admin.cmd(&["PUBLISH", "firehose", &payload]).await, int(1));
        assert_eq!(fast.read().await.items()[2].text().len(), payload.len());
    }
}

#[tokio::test]
async fn redis_crate_resp3_subscriber_gets_pushes() {
    let server = TestServer::start().await;
    let client = redis::Client::open(format!("{}/?protocol=resp3", server.url())).unwrap();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let config = redis::AsyncConnectionConfig::new().set_push_sender(tx);
    let mut con = client
        .get_multiplexed_async_connection_with_config(&config)
        .await
        .unwrap();
    con.subscribe("news").await.unwrap();
    con.psubscribe("n*").await.unwrap();
    // The same connection still answers commands.
    let pong: String = redis::cmd("PING").query_async(&mut con).await.unwrap();
    assert_eq!(pong, "PONG");
    let mut publisher = server.conn().await;
    let n: i64 = redis::cmd("PUBLISH")
        .arg("news")
        .arg("hello")
        .query_async(&mut publisher)
        .await
        .unwrap();
    assert_eq!(n, 2);
    let mut kinds = Vec::new();
    while kinds.len() < 4 {
        let msg = tokio::time::timeout(PATIENCE, rx.recv())
            .await
            .expect("a push within the patience")
            .expect("push channel open");
        kinds.push((msg.kind, msg.data));
    }
    use redis::{PushKind, Value};
    let s = |t: &str| Value::BulkString(t.as_bytes().to_vec());
    assert_eq!(
        kinds[0],
        (PushKind::Subscribe, vec![s("news"), Value::Int(1)])
    );
    assert_eq!(
        kinds[1],
        (PushKind::PSubscribe, vec![s("n*"), Value::Int(2)])
    );
    assert_eq!(kinds[2], (PushKind::Message, vec![s("news"), s("hello")]));
    assert_eq!(
        kinds[3],
        (PushKind::PMessage, vec![s("n*"), s("news"), s("hello")])
    );
}

#[tokio::test]
async fn redis_cli_subscriber_sees_messages() {
    if !tool_available("redis-cli") {
        return;
    }
    let server = TestServer::start().await;
    let port = server.port().to_string();
    let mut child = tokio::process::Command::new("redis-cli")
        .args(["-p", &port, "SUBSCRIBE", "cli"])
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut c = server.raw().await;
    wait_until("redis-cli subscribed", PATIENCE, || async {
        server.raw().await.cmd(&["PUBSUB", "NUMSUB", "cli"]).await == arr([bulk("cli"), int(1)])
    })
    .await;
    assert_eq!(c.cmd(&["PUBLISH", "cli", "from-test"]).await, int(1));
    let mut out = child.stdout.take().unwrap();
    let mut seen = Vec::new();
    let found = tokio::time::timeout(PATIENCE, async {
        let mut chunk = [0u8; 1024];
        loop {
            let n = tokio::io::AsyncReadExt::read(&mut out, &mut chunk)
                .await
                .unwrap();
            assert!(n > 0, "redis-cli ended early");
            seen.extend_from_slice(&chunk[..n]);
            if String::from_utf8_lossy(&seen).contains("from-test") {
                return;
            }
        }
    })
    .await;
    assert!(
        found.is_ok(),
        "redis-cli printed {:?}",
        String::from_utf8_lossy(&seen)
    );
    let text = String::from_utf8_lossy(&seen);
    assert!(text.contains("subscribe\ncli\n1"), "{text}");
    assert!(text.contains("message\ncli\nfrom-test"), "{text}");
    child.kill().await.unwrap();
}
