//! The wire: RESP3 after `HELLO 3`, pipelining, and inline commands, all
//! checked byte for byte.

// A test fails by panicking: unwrap is the point here, not a shortcut.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;

#[tokio::test]
async fn hello_switches_to_resp3_and_back() {
    let server = TestServer::start().await;
    let mut c = server.raw().await;
    let id = c.cmd(&["CLIENT", "ID"]).await.int();
    // HELLO with no version answers in the current protocol, changing nothing.
    let hello2 = c.cmd(&["HELLO"]).await;
    assert_eq!(hello2.items().len(), 14, "RESP2: a flat array");
    assert_eq!(
        String::from_utf8_lossy(&c.cmd_bytes(&["HELLO", "3"]).await),
        format!(
            "%7\r\n$6\r\nserver\r\n$5\r\nredis\r\n$7\r\nversion\r\n$5\r\n7.2.4\r\n\
             $5\r\nproto\r\n:3\r\n$2\r\nid\r\n:{id}\r\n$4\r\nmode\r\n$10\r\nstandalone\r\n\
             $4\r\nrole\r\n$6\r\nmaster\r\n$7\r\nmodules\r\n*0\r\n"
        )
    );
    // Nulls are `_` in RESP3 …
    assert_eq!(c.cmd_bytes(&["GET", "nokey"]).await, b"_\r\n");
    assert_eq!(c.cmd_bytes(&["SET", "k", "v"]).await, b"+OK\r\n");
    assert_eq!(
        c.cmd_bytes(&["MGET", "k", "nokey"]).await,
        b"*2\r\n$1\r\nv\r\n_\r\n"
    );
    assert_eq!(c.cmd_bytes(&["SET", "k", "w", "NX"]).await, b"_\r\n");
    assert_eq!(c.cmd_bytes(&["CLIENT", "GETNAME"]).await, b"_\r\n");
    // … maps are `%`, sets `~`, and plain replies look as in RESP2.
    assert_eq!(
        c.cmd_bytes(&["CONFIG", "GET", "databases"]).await,
        b"%1\r\n$9\r\ndatabases\r\n$2\r\n16\r\n"
    );
    assert_eq!(
        c.cmd_bytes(&["COMMAND", "INFO", "echo"]).await,
        b"*1\r\n*10\r\n$4\r\necho\r\n:2\r\n~3\r\n+loading\r\n+stale\r\n+fast\r\n\
          :0\r\n:0\r\n:0\r\n~2\r\n+@fast\r\n+@connection\r\n~0\r\n~0\r\n~0\r\n",
        "byte for byte what Redis sends"
    );
    assert_eq!(c.cmd_bytes(&["INCR", "n"]).await, b":1\r\n");
    assert_eq!(c.cmd_bytes(&["GET", "n"]).await, b"$1\r\n1\r\n");
    assert_eq!(
        c.cmd_bytes(&["INCR", "k"]).await,
        b"-ERR value is not an integer or out of range\r\n"
    );
    // No implemented command replies with a RESP3 double, boolean or big
    // number (INCRBYFLOAT answers a bulk string, as in Redis).
    assert_eq!(
        c.cmd_bytes(&["INCRBYFLOAT", "f", "1.5"]).await,
        b"$3\r\n1.5\r\n"
    );
    // HELLO 2 goes back.
    let back = c.cmd(&["HELLO", "2"]).await;
    assert_eq!(back.items()[5], int(2));
    assert_eq!(c.cmd_bytes(&["GET", "nokey"]).await, b"$-1\r\n");
    assert_eq!(
        c.cmd_bytes(&["CONFIG", "GET", "databases"]).await,
        b"*2\r\n$9\r\ndatabases\r\n$2\r\n16\r\n"
    );
}

#[tokio::test]
async fn hello_errors() {
    let server = TestServer::start().await;
    let mut c = server.raw().await;
    assert_eq!(
        c.cmd(&["HELLO", "4"]).await,
        err("NOPROTO unsupported protocol version")
    );
    assert_eq!(
        c.cmd(&["HELLO", "1"]).await,
        err("NOPROTO unsupported protocol version")
    );
    assert_eq!(
        c.cmd(&["HELLO", "abc"]).await,
        err("ERR Protocol version is not an integer or out of range")
    );
    assert_eq!(
        c.cmd(&["HELLO", "3", "foo"]).await,
        err("ERR Syntax error in HELLO option 'foo'")
    );
    assert_eq!(
        c.cmd(&["HELLO", "3", "SETNAME"]).await,
        err("ERR Syntax error in HELLO option 'SETNAME'")
    );
    assert_eq!(
        c.cmd(&["HELLO", "3", "SETNAME", "a b"]).await,
        err("ERR Client names cannot contain spaces, newlines or special characters.")
    );
    // A failed HELLO leaves the protocol alone.
    assert_eq!(c.cmd_bytes(&["GET", "nokey"]).await, b"$-1\r\n");
    assert!(matches!(
        c.cmd(&["HELLO", "3", "SETNAME", "ok"]).await,
        Reply::Map(_)
    ));
    assert_eq!(c.cmd(&["CLIENT", "GETNAME"]).await, bulk("ok"));
}

#[tokio::test]
async fn redis_crate_speaks_resp3() {
    let server = TestServer::start().await;
    let mut con = connect_url(&format!("redis://{}/?protocol=resp3", server.addr())).await;
    let _: () = redis::cmd("SET")
        .arg("k")
        .arg("v")
        .query_async(&mut con)
        .await
        .unwrap();
    let v: Option<String> = redis::cmd("GET")
        .arg("k")
        .query_async(&mut con)
        .await
        .unwrap();
    assert_eq!(v.as_deref(), Some("v"));
    let none: Option<String> = redis::cmd("GET")
        .arg("nokey")
        .query_async(&mut con)
        .await
        .unwrap();
    assert_eq!(none, None);
    let config: std::collections::HashMap<String, String> = redis::cmd("CONFIG")
        .arg("GET")
        .arg("databases")
        .query_async(&mut con)
        .await
        .unwrap();
    assert_eq!(config["databases"], "16");
    let mut c = server.raw().await;
    let clients = c.cmd(&["CLIENT", "LIST"]).await.text();
    assert!(
        clients.contains(" resp=3 "),
        "the crate's connection is RESP3: {clients}"
    );
}

#[tokio::test]
async fn pipelined_commands_reply_in_order() {
    let server = TestServer::start().await;
    let mut c = server.raw().await;
    // 1000 commands in one write.
    let mut batch = Vec::new();
    let mut want = Vec::new();
    for i in 0..1000 {
        match i % 4 {
            0 => {
                batch.extend(encode_str(&["SET", &format!("k{i}"), &i.to_string()]));
                want.push(ok());
            }
            1 => {
                batch.extend(encode_str(&["GET", &format!("k{}", i - 1)]));
                want.push(bulk((i - 1).to_string()));
            }
            2 => {
                batch.extend(encode_str(&["INCR", "counter"]));
                want.push(int(i / 4 + 1));
            }
            _ => {
                batch.extend(encode_str(&["ECHO", &format!("echo-{i}")]));
                want.push(bulk(format!("echo-{i}")));
            }
        }
    }
    c.send(&batch).await;
    for (i, w) in want.iter().enumerate() {
        assert_eq!(&c.read().await, w, "reply #{i}");
    }
    // Errors in the middle of a pipeline do not disturb the order.
    let mut batch = encode_str(&["SET", "x", "1"]);
    batch.extend(encode_str(&["NOSUCH"]));
    batch.extend(encode_str(&["INCR", "x"]));
    batch.extend(encode_str(&["GET"]));
    batch.extend(encode_str(&["GET", "x"]));
    c.send(&batch).await;
    assert_eq!(c.read().await, ok());
    assert_eq!(
        c.read().await,
        err("ERR unknown command 'NOSUCH', with args beginning with: ")
    );
    assert_eq!(c.read().await, int(2));
    assert_eq!(
        c.read().await,
        err("ERR wrong number of arguments for 'get' command")
    );
    assert_eq!(c.read().await, bulk("2"));
}

#[tokio::test]
async fn pipelines_split_at_every_byte_still_work() {
    // The same pipeline delivered one byte per write: the decoder must
    // resume anywhere, including inside a length header and a CRLF.
    let server = TestServer::start().await;
    let mut c = server.raw().await;
    let mut batch = encode_str(&["SET", "key with spaces", "value\r\nwith crlf"]);
    batch.extend(encode_str(&["GET", "key with spaces"]));
    batch.extend(b"PING\r\n");
    for byte in &batch {
        c.send(std::slice::from_ref(byte)).await;
    }
    assert_eq!(c.read().await, ok());
    assert_eq!(c.read().await, bulk("value\r\nwith crlf"));
    assert_eq!(c.read().await, simple("PONG"));
}

#[tokio::test]
async fn redis_crate_pipeline() {
    let server = TestServer::start().await;
    let mut con = server.conn().await;
    let mut pipe = redis::pipe();
    for i in 0..500 {
        pipe.cmd("SET").arg(format!("p{i}")).arg(i).ignore();
    }
    for i in 0..500 {
        pipe.cmd("GET").arg(format!("p{i}"));
    }
    let got: Vec<i64> = pipe.query_async(&mut con).await.unwrap();
    assert_eq!(got, (0..500).collect::<Vec<i64>>());
}

#[tokio::test]
async fn inline_commands() {
    let server = TestServer::start().await;
    let mut c = server.raw().await;
    c.send(b"SET \"a b\" 'c d'\r\n").await;
    assert_eq!(c.read_bytes().await, b"+OK\r\n");
    c.send(b"GET \"a b\"\r\n").await;
    assert_eq!(c.read_bytes().await, b"$3\r\nc d\r\n");
    // What telnet and nc send: LF alone ends a line too.
    c.send(b"PING\n").await;
    assert_eq!(c.read().await, simple("PONG"));
    // Escapes inside double quotes; single quotes keep \\' only.
    c.send(b"SET esc \"\\x41\\tB\\n\"\r\n").await;
    assert_eq!(c.read().await, ok());
    assert_eq!(c.cmd(&["GET", "esc"]).await, bulk("A\tB\n"));
    c.send(b"SET sq 'it\\'s'\r\n").await;
    assert_eq!(c.read().await, ok());
    assert_eq!(c.cmd(&["GET", "sq"]).await, bulk("it's"));
    // Extra spaces between arguments are ignored; empty lines are no-ops.
    c.send(b"\r\n\r\n   SET    spaced    x   \r\n").await;
    assert_eq!(c.read().await, ok());
    assert_eq!(c.cmd(&["GET", "spaced"]).await, bulk("x"));
    // Inline and RESP mixed in one write, in order.
    let mut mixed = b"INCR n\r\n".to_vec();
    mixed.extend(encode_str(&["INCR", "n"]));
    mixed.extend(b"INCR n\n");
    c.send(&mixed).await;
    assert_eq!(c.read().await, int(1));
    assert_eq!(c.read().await, int(2));
    assert_eq!(c.read().await, int(3));
    // Inline errors use the same texts.
    c.send(b"GET\r\n").await;
    assert_eq!(
        c.read().await,
        err("ERR wrong number of arguments for 'get' command")
    );
    c.send(b"nosuch a b\r\n").await;
    assert_eq!(
        c.read().await,
        err("ERR unknown command 'nosuch', with args beginning with: 'a' 'b' ")
    );
    // An empty quoted argument is an argument.
    c.send(b"SET empty \"\"\r\n").await;
    assert_eq!(c.read().await, ok());
    assert_eq!(c.cmd(&["STRLEN", "empty"]).await, int(0));
}

#[tokio::test]
async fn negative_and_zero_multibulk_are_ignored() {
    // protocol.tcl: "Negative multibulk length" and "Handle an empty query".
    let server = TestServer::start().await;
    let mut c = server.raw().await;
    c.send(b"*-10\r\n").await;
    assert_eq!(c.cmd(&["PING"]).await, simple("PONG"));
    c.send(b"*0\r\n").await;
    assert_eq!(c.cmd(&["PING"]).await, simple("PONG"));
    c.send(b"\r\n").await;
    assert_eq!(c.cmd(&["PING"]).await, simple("PONG"));
}
