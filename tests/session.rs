//! Session commands the connection answers itself: SELECT, CLIENT …, QUIT
//! and RESET.

// A test fails by panicking: unwrap is the point here, not a shortcut.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use redynamo::config::Config;

#[tokio::test]
async fn select_every_database_and_out_of_range() {
    let server = TestServer::start().await;
    let mut c = server.raw().await;
    for db in 0..16 {
        assert_eq!(
            c.cmd(&["SELECT", &db.to_string()]).await,
            ok(),
            "SELECT {db}"
        );
        assert_eq!(c.cmd(&["SET", "k", &format!("in-{db}")]).await, ok());
    }
    for db in (0..16).rev() {
        assert_eq!(c.cmd(&["SELECT", &db.to_string()]).await, ok());
        assert_eq!(c.cmd(&["GET", "k"]).await, bulk(format!("in-{db}")));
        assert_eq!(c.cmd(&["DBSIZE"]).await, int(1));
    }
    assert_eq!(
        c.cmd(&["SELECT", "16"]).await,
        err("ERR DB index is out of range")
    );
    assert_eq!(
        c.cmd(&["SELECT", "-1"]).await,
        err("ERR DB index is out of range")
    );
    assert_eq!(
        c.cmd(&["SELECT", "abc"]).await,
        err("ERR value is not an integer or out of range")
    );
    assert_eq!(
        c.cmd(&["SELECT"]).await,
        err("ERR wrong number of arguments for 'select' command")
    );
    // A failed SELECT leaves the db as it was (db 0 from the loop above).
    assert_eq!(c.cmd(&["GET", "k"]).await, bulk("in-0"));
    // Another connection starts in db 0.
    let mut other = server.raw().await;
    assert_eq!(other.cmd(&["GET", "k"]).await, bulk("in-0"));
}

#[tokio::test]
async fn select_respects_the_configured_database_count() {
    let mut config = Config::for_tests();
    config.databases = 4;
    let server = TestServer::with_config(config).await;
    let mut c = server.raw().await;
    assert_eq!(c.cmd(&["SELECT", "3"]).await, ok());
    assert_eq!(
        c.cmd(&["SELECT", "4"]).await,
        err("ERR DB index is out of range")
    );
    // The redis crate selects a db from the URL.
    let mut con = connect_url(&format!("redis://{}/3", server.addr())).await;
    let _: () = redis::cmd("SET")
        .arg("where")
        .arg("db3")
        .query_async(&mut con)
        .await
        .unwrap();
    assert_eq!(c.cmd(&["GET", "where"]).await, bulk("db3"));
}

#[tokio::test]
async fn client_id_setname_getname() {
    let server = TestServer::start().await;
    let mut a = server.raw().await;
    let mut b = server.raw().await;
    let id_a = a.cmd(&["CLIENT", "ID"]).await.int();
    let id_b = b.cmd(&["CLIENT", "ID"]).await.int();
    assert!(id_a > 0 && id_b > id_a, "ids increase: {id_a} then {id_b}");
    assert_eq!(a.cmd(&["CLIENT", "ID"]).await, int(id_a), "stable");
    assert_eq!(a.cmd(&["CLIENT", "GETNAME"]).await, nil());
    assert_eq!(a.cmd(&["CLIENT", "SETNAME", "myname"]).await, ok());
    assert_eq!(a.cmd(&["CLIENT", "GETNAME"]).await, bulk("myname"));
    assert_eq!(
        b.cmd(&["CLIENT", "GETNAME"]).await,
        nil(),
        "names are per connection"
    );
    for bad in ["a b", "new\nline", "tab\there"] {
        assert_eq!(
            a.cmd(&["CLIENT", "SETNAME", bad]).await,
            err("ERR Client names cannot contain spaces, newlines or special characters."),
            "{bad:?}"
        );
    }
    assert_eq!(a.cmd(&["CLIENT", "GETNAME"]).await, bulk("myname"));
    assert_eq!(
        a.cmd(&["CLIENT", "SETNAME", ""]).await,
        ok(),
        "empty clears"
    );
    assert_eq!(a.cmd(&["CLIENT", "GETNAME"]).await, nil());
    // HELLO reports the same id
    let hello = a.cmd(&["HELLO"]).await;
    let fields = hello.items();
    let id_at = fields
        .iter()
        .position(|f| *f == bulk("id"))
        .expect("id field");
    assert_eq!(fields[id_at + 1], int(id_a));
}

/// `name=value` fields of one CLIENT LIST / CLIENT INFO line.
fn line_fields(line: &str) -> Vec<(String, String)> {
    line.trim_end()
        .split(' ')
        .map(|f| {
            let (k, v) = f.split_once('=').unwrap_or((f, ""));
            (k.to_string(), v.to_string())
        })
        .collect()
}

fn field(line: &str, name: &str) -> String {
    line_fields(line)
        .into_iter()
        .find(|(k, _)| k == name)
        .unwrap_or_else(|| panic!("no {name}= in {line:?}"))
        .1
}

#[tokio::test]
async fn client_info_and_setinfo() {
    let server = TestServer::start().await;
    let mut c = server.raw().await;
    let id = c.cmd(&["CLIENT", "ID"]).await.int();
    assert_eq!(c.cmd(&["CLIENT", "SETNAME", "worker-1"]).await, ok());
    assert_eq!(c.cmd(&["SELECT", "5"]).await, ok());
    assert_eq!(
        c.cmd(&["CLIENT", "SETINFO", "lib-name", "mylib"]).await,
        ok()
    );
    assert_eq!(
        c.cmd(&["CLIENT", "SETINFO", "LIB-VER", "1.2.3"]).await,
        ok()
    );
    let info = c.cmd(&["CLIENT", "INFO"]).await;
    let Reply::Bulk(_) = info else {
        panic!("CLIENT INFO is a bulk string in RESP2: {info:?}")
    };
    let line = info.text();
    assert!(
        line.ends_with('\n') && line.lines().count() == 1,
        "{line:?}"
    );
    let names: Vec<String> = line_fields(&line).into_iter().map(|(k, _)| k).collect();
    assert_eq!(
        &names[..6],
        &["id", "addr", "laddr", "fd", "name", "age"],
        "Redis' field order"
    );
    assert_eq!(field(&line, "id"), id.to_string());
    assert_eq!(field(&line, "name"), "worker-1");
    assert_eq!(field(&line, "db"), "5");
    assert_eq!(field(&line, "cmd"), "client|info");
    assert_eq!(field(&line, "resp"), "2");
    assert_eq!(field(&line, "flags"), "N");
    assert_eq!(field(&line, "lib-name"), "mylib");
    assert_eq!(field(&line, "lib-ver"), "1.2.3");
    assert_eq!(field(&line, "laddr"), server.addr().to_string());
    let unknown = c.cmd(&["CLIENT", "SETINFO", "foo", "bar"]).await;
    assert_eq!(unknown, err("ERR Unrecognized option 'foo'"));
    let spaced = c.cmd(&["CLIENT", "SETINFO", "lib-name", "a b"]).await;
    let Reply::Error(text) = spaced else {
        panic!("{spaced:?}")
    };
    let text = String::from_utf8_lossy(&text);
    assert!(
        text.starts_with("ERR ")
            && text.ends_with("cannot contain spaces, newlines or special characters."),
        "{text}"
    );
    // RESP3: a verbatim string
    assert!(matches!(c.cmd(&["HELLO", "3"]).await, Reply::Map(_)));
    let raw = c.cmd_bytes(&["CLIENT", "INFO"]).await;
    assert!(raw.starts_with(b"="), "{}", String::from_utf8_lossy(&raw));
    let Reply::Verbatim(fmt, text) = parse_reply(&raw).unwrap().unwrap().0 else {
        panic!()
    };
    assert_eq!(fmt, "txt");
    assert_eq!(field(std::str::from_utf8(&text).unwrap(), "resp"), "3");
}

#[tokio::test]
async fn client_list_and_filters() {
    let server = TestServer::start().await;
    let mut a = server.raw().await;
    let mut b = server.raw().await;
    let id_a = a.cmd(&["CLIENT", "ID"]).await.int();
    let id_b = b.cmd(&["CLIENT", "ID"]).await.int();
    assert_eq!(b.cmd(&["CLIENT", "SETNAME", "bee"]).await, ok());
    let list = a.cmd(&["CLIENT", "LIST"]).await.text();
    let lines: Vec<&str> = list.lines().collect();
    assert_eq!(lines.len(), 2, "{list}");
    assert!(list.ends_with('\n'));
    let ids: Vec<String> = lines.iter().map(|l| field(l, "id")).collect();
    assert_eq!(ids, [id_a.to_string(), id_b.to_string()], "in id order");
    assert_eq!(field(lines[1], "name"), "bee");
    assert_eq!(field(lines[0], "cmd"), "client|list");
    // Filters
    let only_b = a
        .cmd(&["CLIENT", "LIST", "ID", &id_b.to_string()])
        .await
        .text();
    assert_eq!(only_b.lines().count(), 1);
    assert_eq!(field(&only_b, "id"), id_b.to_string());
    let both = a
        .cmd(&[
            "CLIENT",
            "LIST",
            "ID",
            &id_a.to_string(),
            &id_b.to_string(),
            "999999",
        ])
        .await
        .text();
    assert_eq!(both.lines().count(), 2);
    assert_eq!(
        a.cmd(&["CLIENT", "LIST", "TYPE", "normal"])
            .await
            .text()
            .lines()
            .count(),
        2
    );
    assert_eq!(a.cmd(&["CLIENT", "LIST", "TYPE", "pubsub"]).await, bulk(""));
    assert_eq!(
        a.cmd(&["CLIENT", "LIST", "TYPE", "foo"]).await,
        err("ERR Unknown client type 'foo'")
    );
    assert_eq!(
        a.cmd(&["CLIENT", "LIST", "ID", "abc"]).await,
        err("ERR Invalid client ID")
    );
    assert_eq!(
        a.cmd(&["CLIENT", "LIST", "foo"]).await,
        err("ERR syntax error")
    );
    // A client that leaves disappears from the list.
    drop(b);
    let gone = eventually(std::time::Duration::from_secs(2), || async {
        let mut probe = server.raw().await;
        let list = probe.cmd(&["CLIENT", "LIST"]).await.text();
        !list.contains(&format!("id={id_b} "))
    })
    .await
    .is_some();
    assert!(gone, "client {id_b} still listed after disconnecting");
}

#[tokio::test]
async fn client_kill_closes_the_other_connection() {
    let server = TestServer::start().await;
    let mut killer = server.raw().await;
    let mut victim = server.raw().await;
    let mut survivor = server.raw().await;
    let victim_id = victim.cmd(&["CLIENT", "ID"]).await.int();
    let own_id = killer.cmd(&["CLIENT", "ID"]).await.int();
    // New form, by id
    assert_eq!(
        killer
            .cmd(&["CLIENT", "KILL", "ID", &victim_id.to_string()])
            .await,
        int(1)
    );
    assert!(
        victim.is_closed().await,
        "the killed client's connection closes"
    );
    assert_eq!(survivor.cmd(&["PING"]).await, simple("PONG"));
    assert_eq!(
        killer.cmd(&["CLIENT", "KILL", "ID", "999999"]).await,
        int(0)
    );
    // SKIPME yes is the default: a client does not kill itself by id …
    assert_eq!(
        killer
            .cmd(&["CLIENT", "KILL", "ID", &own_id.to_string()])
            .await,
        int(0)
    );
    assert_eq!(killer.cmd(&["PING"]).await, simple("PONG"));
    // Old form, by address
    let addr = field(&survivor.cmd(&["CLIENT", "INFO"]).await.text(), "addr");
    assert_eq!(killer.cmd(&["CLIENT", "KILL", &addr]).await, ok());
    assert!(survivor.is_closed().await);
    assert_eq!(
        killer.cmd(&["CLIENT", "KILL", "1.2.3.4:5"]).await,
        err("ERR No such client")
    );
    assert_eq!(
        killer.cmd(&["CLIENT", "KILL", "ID", "abc"]).await,
        err("ERR client-id should be greater than 0")
    );
    assert_eq!(
        killer.cmd(&["CLIENT", "KILL", "SKIPME", "maybe"]).await,
        err("ERR syntax error")
    );
    // … but SKIPME no with its own address does.
    let own_addr = field(&killer.cmd(&["CLIENT", "INFO"]).await.text(), "addr");
    assert_eq!(
        killer
            .cmd(&["CLIENT", "KILL", "ADDR", &own_addr, "SKIPME", "no"])
            .await,
        int(1)
    );
    assert!(killer.is_closed().await);
}

#[tokio::test]
async fn quit_replies_ok_then_closes() {
    let server = TestServer::start().await;
    let mut c = server.raw().await;
    assert_eq!(c.cmd_bytes(&["QUIT"]).await, b"+OK\r\n");
    assert!(c.is_closed().await);
    // Commands pipelined after QUIT are not run.
    let mut d = server.raw().await;
    d.send(
        &[
            encode_str(&["QUIT"]),
            encode_str(&["SET", "after-quit", "1"]),
        ]
        .concat(),
    )
    .await;
    assert_eq!(d.read().await, ok());
    assert!(d.is_closed().await);
    let mut e = server.raw().await;
    assert_eq!(e.cmd(&["EXISTS", "after-quit"]).await, int(0));
}

#[tokio::test]
async fn reset_restores_a_fresh_session() {
    let server = TestServer::start().await;
    let mut c = server.raw().await;
    let mut other = server.raw().await;
    assert_eq!(c.cmd(&["SELECT", "2"]).await, ok());
    assert_eq!(c.cmd(&["CLIENT", "SETNAME", "before"]).await, ok());
    assert!(matches!(c.cmd(&["HELLO", "3"]).await, Reply::Map(_)));
    assert_eq!(c.cmd(&["WATCH", "w"]).await, ok());
    assert_eq!(c.cmd(&["MULTI"]).await, ok());
    assert_eq!(c.cmd(&["SET", "queued", "1"]).await, simple("QUEUED"));
    assert_eq!(c.cmd_bytes(&["RESET"]).await, b"+RESET\r\n");
    // RESP2 again: a missing key is $-1, not _
    assert_eq!(c.cmd_bytes(&["GET", "nokey"]).await, b"$-1\r\n");
    assert_eq!(c.cmd(&["CLIENT", "GETNAME"]).await, nil());
    assert_eq!(c.cmd(&["EXEC"]).await, err("ERR EXEC without MULTI"));
    assert_eq!(
        c.cmd(&["EXISTS", "queued"]).await,
        int(0),
        "the queue was dropped"
    );
    let info = c.cmd(&["CLIENT", "INFO"]).await.text();
    assert_eq!(field(&info, "db"), "0");
    // The WATCH is gone: another client's write no longer aborts EXEC.
    assert_eq!(other.cmd(&["SET", "w", "changed"]).await, ok());
    assert_eq!(c.cmd(&["MULTI"]).await, ok());
    assert_eq!(c.cmd(&["PING"]).await, simple("QUEUED"));
    assert_eq!(c.cmd(&["EXEC"]).await, arr([simple("PONG")]));
}

#[tokio::test]
async fn client_kill_filters_by_type_and_user() {
    let server = TestServer::start().await;
    let mut killer = server.raw().await;
    let mut bystander = server.raw().await;
    assert_eq!(bystander.cmd(&["PING"]).await, simple("PONG"));
    // Nobody here is a pub/sub client, a replica or a master.
    for kind in ["pubsub", "master", "replica", "slave"] {
        assert_eq!(
            killer.cmd(&["CLIENT", "KILL", "TYPE", kind]).await,
            int(0),
            "{kind}"
        );
    }
    assert_eq!(
        killer.cmd(&["CLIENT", "KILL", "TYPE", "foo"]).await,
        err("ERR Unknown client type 'foo'")
    );
    assert_eq!(
        killer.cmd(&["CLIENT", "KILL", "USER", "nobody"]).await,
        err("ERR No such user 'nobody'")
    );
    assert_eq!(
        killer.cmd(&["CLIENT", "KILL", "MAXAGE", "1"]).await,
        err("ERR syntax error"),
        "MAXAGE is Redis 7.4"
    );
    assert_eq!(
        bystander.cmd(&["PING"]).await,
        simple("PONG"),
        "still connected"
    );
    // TYPE normal and USER default match every other client.
    assert_eq!(
        killer
            .cmd(&["CLIENT", "KILL", "TYPE", "normal", "USER", "default"])
            .await,
        int(1)
    );
    assert!(bystander.is_closed().await);
    assert_eq!(killer.cmd(&["PING"]).await, simple("PONG"));
}
