//! Server commands: PING, ECHO, DBSIZE, FLUSHDB, FLUSHALL, TIME, INFO,
//! CONFIG and COMMAND.

// A test fails by panicking: unwrap is the point here, not a shortcut.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::HashMap;

use common::*;
use redynamo::layers::command::{all_specs, COMMANDS};

#[tokio::test]
async fn ping_and_echo() {
    let server = TestServer::start().await;
    let mut c = server.raw().await;
    assert_eq!(c.cmd_bytes(&["PING"]).await, b"+PONG\r\n");
    assert_eq!(c.cmd_bytes(&["PING", "hello"]).await, b"$5\r\nhello\r\n");
    assert_eq!(
        c.cmd(&["PING", "a", "b"]).await,
        err("ERR wrong number of arguments for 'ping' command")
    );
    assert_eq!(c.cmd(&["ECHO", "hi there"]).await, bulk("hi there"));
    assert_eq!(
        c.cmd_bin(&[b"ECHO", b"\x00\xff\r\n"]).await,
        bulk(b"\x00\xff\r\n")
    );
    assert_eq!(
        c.cmd(&["ECHO"]).await,
        err("ERR wrong number of arguments for 'echo' command")
    );
    let mut con = server.conn().await;
    let pong: String = redis::cmd("PING").query_async(&mut con).await.unwrap();
    assert_eq!(pong, "PONG");
}

#[tokio::test]
async fn dbsize_flushdb_flushall() {
    let server = TestServer::start().await;
    let mut c = server.raw().await;
    assert_eq!(c.cmd(&["DBSIZE"]).await, int(0));
    assert_eq!(c.cmd(&["MSET", "a", "1", "b", "2"]).await, ok());
    assert_eq!(c.cmd(&["DBSIZE"]).await, int(2));
    assert_eq!(c.cmd(&["SELECT", "1"]).await, ok());
    assert_eq!(c.cmd(&["DBSIZE"]).await, int(0), "databases are separate");
    assert_eq!(c.cmd(&["SET", "c", "3"]).await, ok());
    assert_eq!(c.cmd(&["FLUSHDB"]).await, ok());
    assert_eq!(c.cmd(&["DBSIZE"]).await, int(0));
    assert_eq!(c.cmd(&["SET", "c", "3"]).await, ok());
    assert_eq!(c.cmd(&["SELECT", "0"]).await, ok());
    assert_eq!(
        c.cmd(&["DBSIZE"]).await,
        int(2),
        "FLUSHDB only flushed db 1"
    );
    assert_eq!(c.cmd(&["FLUSHDB", "ASYNC"]).await, ok());
    assert_eq!(c.cmd(&["DBSIZE"]).await, int(0));
    assert_eq!(c.cmd(&["FLUSHDB", "foo"]).await, err("ERR syntax error"));
    assert_eq!(c.cmd(&["SET", "d", "4"]).await, ok());
    assert_eq!(c.cmd(&["FLUSHALL", "SYNC"]).await, ok());
    assert_eq!(c.cmd(&["DBSIZE"]).await, int(0));
    assert_eq!(c.cmd(&["SELECT", "1"]).await, ok());
    assert_eq!(
        c.cmd(&["DBSIZE"]).await,
        int(0),
        "FLUSHALL flushed db 1 too"
    );
    assert_eq!(c.cmd(&["FLUSHALL", "foo"]).await, err("ERR syntax error"));
}

#[tokio::test]
async fn time_is_the_wall_clock() {
    let server = TestServer::start().await;
    let mut c = server.raw().await;
    let reply = c.cmd(&["TIME"]).await;
    let [secs, micros] = reply.items() else {
        panic!("TIME is a pair: {reply:?}")
    };
    let secs: u64 = secs.text().parse().unwrap();
    let micros: u64 = micros.text().parse().unwrap();
    assert!(micros < 1_000_000);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(secs.abs_diff(now) <= 2, "TIME {secs} vs clock {now}");
    assert_eq!(
        c.cmd(&["TIME", "x"]).await,
        err("ERR wrong number of arguments for 'time' command")
    );
}

/// `name:value` fields of an INFO text.
fn fields(info: &str) -> HashMap<String, String> {
    info.split("\r\n")
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[tokio::test]
async fn info_sections() {
    let server = TestServer::start().await;
    let mut c = server.raw().await;
    let _other = server.raw().await;
    let all = c.cmd(&["INFO"]).await.text();
    for section in ["# Server", "# Clients", "# Memory", "# Stats", "# Keyspace"] {
        assert!(
            all.contains(&format!("{section}\r\n")),
            "INFO lacks {section}"
        );
    }
    let f = fields(&all);
    assert_eq!(f["redis_version"], "7.2.4");
    assert_eq!(f["redis_mode"], "standalone");
    assert_eq!(f["tcp_port"], server.port().to_string());
    assert_eq!(f["connected_clients"], "2");
    assert_eq!(f["maxclients"], "10000");
    assert!(f["used_memory"].parse::<u64>().unwrap() > 0);
    assert_eq!(f["role"], "master");
    // One section only
    let server_only = c.cmd(&["INFO", "server"]).await.text();
    assert!(server_only.starts_with("# Server\r\n"), "{server_only}");
    assert!(!server_only.contains("# Clients"));
    let clients = c.cmd(&["INFO", "CLIENTS"]).await.text();
    assert!(
        clients.starts_with("# Clients\r\nconnected_clients:2\r\n"),
        "{clients}"
    );
    let memory = c.cmd(&["INFO", "memory"]).await.text();
    assert!(memory.starts_with("# Memory\r\n") && memory.contains("used_memory_rss:"));
    // Keyspace counts keys and keys with a TTL
    assert_eq!(c.cmd(&["INFO", "keyspace"]).await.text(), "# Keyspace\r\n");
    assert_eq!(c.cmd(&["SET", "a", "1", "EX", "100"]).await, ok());
    assert_eq!(c.cmd(&["SET", "b", "1"]).await, ok());
    assert_eq!(c.cmd(&["SELECT", "3"]).await, ok());
    assert_eq!(c.cmd(&["SET", "c", "1"]).await, ok());
    assert_eq!(
        c.cmd(&["INFO", "keyspace"]).await.text(),
        "# Keyspace\r\ndb0:keys=2,expires=1,avg_ttl=0\r\ndb3:keys=1,expires=0,avg_ttl=0\r\n"
    );
    // Stats count commands, hits and misses
    let before = fields(&c.cmd(&["INFO", "stats"]).await.text());
    assert_eq!(c.cmd(&["GET", "c"]).await, bulk("1"));
    assert_eq!(c.cmd(&["GET", "nokey"]).await, nil());
    let after = fields(&c.cmd(&["INFO", "stats"]).await.text());
    let delta = |k: &str| after[k].parse::<i64>().unwrap() - before[k].parse::<i64>().unwrap();
    assert_eq!(delta("keyspace_hits"), 1);
    assert_eq!(delta("keyspace_misses"), 1);
    assert_eq!(delta("total_commands_processed"), 3, "GET, GET, INFO");
    assert!(after["total_connections_received"].parse::<u64>().unwrap() >= 2);
    // Several sections at once, in Redis' order
    let two = c.cmd(&["INFO", "keyspace", "server"]).await.text();
    let (s, k) = (
        two.find("# Server").unwrap(),
        two.find("# Keyspace").unwrap(),
    );
    assert!(s < k);
}

#[tokio::test]
async fn info_is_verbatim_in_resp3() {
    let server = TestServer::start().await;
    let mut c = server.raw().await;
    assert!(matches!(c.cmd(&["HELLO", "3"]).await, Reply::Map(_)));
    let raw = c.cmd_bytes(&["INFO", "server"]).await;
    assert!(raw.starts_with(b"="), "{:?}", String::from_utf8_lossy(&raw));
    let Reply::Verbatim(fmt, text) = parse_reply(&raw).unwrap().unwrap().0 else {
        panic!("INFO is a verbatim string in RESP3")
    };
    assert_eq!(fmt, "txt");
    assert!(text.starts_with(b"# Server\r\nredis_version:"));
    // The declared length covers "txt:" plus the text.
    let header_end = raw.windows(2).position(|w| w == b"\r\n").unwrap();
    let declared: usize = std::str::from_utf8(&raw[1..header_end])
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(declared, 4 + text.len());
}

#[tokio::test]
async fn config_get_and_set() {
    let server = TestServer::start().await;
    let mut c = server.raw().await;
    assert_eq!(
        c.cmd(&["CONFIG", "GET", "maxclients"]).await,
        bulks(&["maxclients", "10000"])
    );
    assert_eq!(
        c.cmd(&["CONFIG", "GET", "port"]).await,
        bulks(&["port", &server.port().to_string()])
    );
    assert_eq!(c.cmd(&["CONFIG", "GET", "nosuchparam"]).await, arr([]));
    let globbed = c.cmd(&["CONFIG", "GET", "max*"]).await;
    let names: Vec<String> = globbed.items().iter().step_by(2).map(Reply::text).collect();
    assert!(names.contains(&"maxclients".to_string()), "{names:?}");
    assert!(names.contains(&"maxmemory".to_string()), "{names:?}");
    assert!(names.iter().all(|n| n.starts_with("max")), "{names:?}");
    // Several patterns at once, and what redis-benchmark asks for
    let both = c.cmd(&["CONFIG", "GET", "save", "appendonly"]).await;
    let mut pairs: Vec<(String, String)> = both
        .items()
        .chunks(2)
        .map(|p| (p[0].text(), p[1].text()))
        .collect();
    pairs.sort();
    let want = [("appendonly", "no"), ("save", "")].map(|(k, v)| (k.to_string(), v.to_string()));
    assert_eq!(pairs, want, "CONFIG GET order is unspecified, as in Redis");

    assert_eq!(c.cmd(&["CONFIG", "SET", "maxclients", "50"]).await, ok());
    assert_eq!(
        c.cmd(&["CONFIG", "GET", "maxclients"]).await,
        bulks(&["maxclients", "50"])
    );
    assert_eq!(c.cmd(&["CONFIG", "SET", "timeout", "300"]).await, ok());
    assert_eq!(
        c.cmd(&["CONFIG", "GET", "timeout"]).await,
        bulks(&["timeout", "300"])
    );
    assert_eq!(
        c.cmd(&["CONFIG", "SET", "nosuch", "1"]).await,
        err("ERR Unknown option or number of arguments for CONFIG SET - 'nosuch'")
    );
    assert_eq!(
        c.cmd(&["CONFIG", "SET", "port", "1"]).await,
        err("ERR CONFIG SET failed (possibly related to argument 'port') - can't set immutable config")
    );
    assert_eq!(
        c.cmd(&["CONFIG", "SET", "maxclients", "abc"]).await,
        err("ERR CONFIG SET failed (possibly related to argument 'maxclients') - argument couldn't be parsed into an integer")
    );
    assert_eq!(
        c.cmd(&["CONFIG", "SET", "maxclients"]).await,
        err("ERR wrong number of arguments for 'config|set' command")
    );
    assert_eq!(
        c.cmd(&["CONFIG", "GET"]).await,
        err("ERR wrong number of arguments for 'config|get' command")
    );
    assert_eq!(
        c.cmd(&["CONFIG", "NOPE"]).await,
        err("ERR unknown subcommand 'NOPE'. Try CONFIG HELP.")
    );
    // RESP3: a map
    assert!(matches!(c.cmd(&["HELLO", "3"]).await, Reply::Map(_)));
    assert_eq!(
        c.cmd_bytes(&["CONFIG", "GET", "maxclients"]).await,
        b"%1\r\n$10\r\nmaxclients\r\n$2\r\n50\r\n"
    );
}

#[tokio::test]
async fn config_resetstat() {
    let server = TestServer::start().await;
    let mut c = server.raw().await;
    for _ in 0..5 {
        assert_eq!(c.cmd(&["PING"]).await, simple("PONG"));
    }
    assert_eq!(c.cmd(&["CONFIG", "RESETSTAT"]).await, ok());
    let stats = fields(&c.cmd(&["INFO", "stats"]).await.text());
    assert_eq!(
        stats["total_commands_processed"], "1",
        "only the INFO itself"
    );
}

#[tokio::test]
async fn command_count_info_docs_list() {
    let server = TestServer::start().await;
    let mut c = server.raw().await;
    assert_eq!(
        c.cmd(&["COMMAND", "COUNT"]).await,
        int(COMMANDS.len() as i64)
    );
    // COMMAND INFO get: name, arity, flags, first, last, step, ACL categories …
    let info = c.cmd(&["COMMAND", "INFO", "get", "nosuchcommand"]).await;
    let [get, missing] = info.items() else {
        panic!("{info:?}")
    };
    assert_eq!(missing, &nil());
    let get = get.items();
    assert_eq!(get[0], bulk("get"));
    assert_eq!(get[1], int(2));
    assert_eq!(get[2], arr([simple("readonly"), simple("fast")]));
    assert_eq!(&get[3..6], &[int(1), int(1), int(1)]);
    assert_eq!(
        get[6],
        arr([simple("@read"), simple("@string"), simple("@fast")])
    );
    let set = c.cmd(&["COMMAND", "INFO", "SET"]).await;
    assert_eq!(set.items()[0].items()[1], int(-3));
    // MSET's key step
    let mset = c.cmd(&["COMMAND", "INFO", "mset"]).await;
    assert_eq!(&mset.items()[0].items()[3..6], &[int(1), int(-1), int(2)]);
    assert_eq!(
        mset.items()[0].items()[7],
        bulks(&[
            "request_policy:multi_shard",
            "response_policy:all_succeeded"
        ]),
        "tips are bulk strings"
    );
    // Subcommands are listed under their container
    let client = c.cmd(&["COMMAND", "INFO", "client"]).await;
    let subs: Vec<String> = client.items()[0].items()[9]
        .items()
        .iter()
        .map(|s| s.items()[0].text())
        .collect();
    assert!(subs.contains(&"client|setname".to_string()), "{subs:?}");
    // In RESP3 flags, categories, tips, key specs and subcommands are sets.
    let mut c3 = server.raw().await;
    assert!(matches!(c3.cmd(&["HELLO", "3"]).await, Reply::Map(_)));
    assert_eq!(
        c3.cmd_bytes(&["COMMAND", "INFO", "get"]).await,
        b"*1\r\n*10\r\n$3\r\nget\r\n:2\r\n~2\r\n+readonly\r\n+fast\r\n:1\r\n:1\r\n:1\r\n\
          ~3\r\n+@read\r\n+@string\r\n+@fast\r\n~0\r\n~0\r\n~0\r\n"
    );

    // COMMAND DOCS: what redis-cli reads for its hints
    let docs = c.cmd(&["COMMAND", "DOCS", "get"]).await;
    let items = docs.items();
    assert_eq!(items[0], bulk("get"));
    let doc: Vec<String> = items[1].items().iter().map(Reply::text_or_kind).collect();
    for field in ["summary", "since", "group", "complexity", "arguments"] {
        assert!(
            doc.contains(&field.to_string()),
            "COMMAND DOCS get lacks {field}: {doc:?}"
        );
    }
    assert!(doc.contains(&"string".to_string()), "group string: {doc:?}");
    assert_eq!(c.cmd(&["COMMAND", "DOCS", "nosuchcommand"]).await, arr([]));
    let all_docs = c.cmd(&["COMMAND", "DOCS"]).await;
    assert_eq!(all_docs.items().len(), COMMANDS.len() * 2);

    // COMMAND LIST: every command and subcommand
    let list = c.cmd(&["COMMAND", "LIST"]).await;
    let names: Vec<String> = list.items().iter().map(Reply::text).collect();
    assert_eq!(names.len(), all_specs().count());
    for spec in all_specs() {
        assert!(
            names.contains(&spec.name.to_string()),
            "COMMAND LIST lacks {}",
            spec.name
        );
    }
    let filtered = c
        .cmd(&["COMMAND", "LIST", "FILTERBY", "PATTERN", "client*"])
        .await;
    let filtered: Vec<String> = filtered.items().iter().map(Reply::text).collect();
    assert!(
        filtered.iter().all(|n| n.starts_with("client")),
        "{filtered:?}"
    );
    assert!(filtered.contains(&"client|kill".to_string()));
    let by_cat = c
        .cmd(&["COMMAND", "LIST", "FILTERBY", "ACLCAT", "string"])
        .await;
    let by_cat: Vec<String> = by_cat.items().iter().map(Reply::text).collect();
    assert!(by_cat.contains(&"incrbyfloat".to_string()) && !by_cat.contains(&"del".to_string()));
    // COMMAND with no subcommand: one entry per command
    assert_eq!(c.cmd(&["COMMAND"]).await.items().len(), COMMANDS.len());
    // GETKEYS uses the table's key positions
    assert_eq!(
        c.cmd(&["COMMAND", "GETKEYS", "MSET", "a", "1", "b", "2"])
            .await,
        bulks(&["a", "b"])
    );
    assert_eq!(
        c.cmd(&["COMMAND", "GETKEYS", "PING"]).await,
        err("ERR The command has no key arguments")
    );
}

#[tokio::test]
async fn unknown_commands_and_arity_errors() {
    let server = TestServer::start().await;
    let mut c = server.raw().await;
    assert_eq!(
        c.cmd(&["NOSUCH", "a", "b"]).await,
        err("ERR unknown command 'NOSUCH', with args beginning with: 'a' 'b' ")
    );
    assert_eq!(
        c.cmd(&["nosuch"]).await,
        err("ERR unknown command 'nosuch', with args beginning with: ")
    );
    assert_eq!(
        c.cmd(&["GET", "a", "b"]).await,
        err("ERR wrong number of arguments for 'get' command")
    );
    assert_eq!(
        c.cmd(&["CLIENT", "NOPE"]).await,
        err("ERR unknown subcommand 'NOPE'. Try CLIENT HELP.")
    );
    assert_eq!(
        c.cmd(&["CLIENT", "SETNAME"]).await,
        err("ERR wrong number of arguments for 'client|setname' command")
    );
    // The connection is still fine after all of these.
    assert_eq!(c.cmd(&["PING"]).await, simple("PONG"));
}

#[tokio::test]
async fn every_command_in_the_table_gets_an_answer() {
    // Each command and subcommand of the table, with its minimal number
    // of dummy arguments: whatever the reply, it must come from something
    // that implements the command, not from the store's catch-all.
    let server = TestServer::start().await;
    for spec in all_specs() {
        if !spec.subcommands.is_empty() && !spec.arity_ok(1) {
            continue; // a container: its subcommands are checked
        }
        if spec.name == "shutdown" {
            continue; // stops the server; tests/ops.rs covers it
        }
        let mut args: Vec<String> = spec.name.split('|').map(str::to_string).collect();
        while !spec.arity_ok(args.len()) {
            args.push("1".into());
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        // A fresh connection each: QUIT, RESET, MULTI, AUTH change the session.
        let mut c = server.raw().await;
        let reply = c.cmd(&args).await;
        let text = format!("{reply:?}");
        let parent = spec.name.split('|').next().unwrap_or_default();
        if NOT_ANSWERED_YET.contains(&parent) {
            assert!(
                text.contains("is not supported"),
                "{args:?} is answered now ({text}): remove {parent:?} from \
                 NOT_ANSWERED_YET in tests/common/mod.rs and re-bless the README"
            );
            continue;
        }
        assert!(
            !text.contains("is not supported") && !text.contains("unknown command"),
            "{args:?} is in the command table but not answered: {text}"
        );
    }
}

#[tokio::test]
async fn shutdown_closes_idle_clients_and_stops_listening() {
    let server = TestServer::start().await;
    let addr = server.addr();
    let mut idle = server.raw().await;
    assert_eq!(idle.cmd(&["SET", "k", "v"]).await, ok());
    // The harness cancels the shutdown token and waits for serve() to end.
    tokio::time::timeout(std::time::Duration::from_secs(5), server.stop())
        .await
        .expect("an idle server shuts down at once");
    assert!(idle.is_closed().await, "idle connections are closed");
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "the listener is closed"
    );
}
