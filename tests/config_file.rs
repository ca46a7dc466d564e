//! redis.conf as it is: Debian's stock file starts a server (with one
//! warning naming what is ignored), `include` works, Redis directives are
//! accepted on the command line, and CONFIG GET / SET / REWRITE behave as
//! redis-server's do (differential where the two are comparable).

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;

use common::*;
use redynamo::config::Config;

/// A fresh directory for one test's files.
fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "redynamo-config-{name}-{}-{}",
        std::process::id(),
        rand::random::<u32>()
    ));
    std::fs::create_dir_all(&dir).expect("create a temp dir");
    dir
}

fn load(args: &[&str]) -> Result<Config, String> {
    let argv = std::iter::once("redynamo")
        .chain(args.iter().copied())
        .map(String::from);
    Config::load_from(argv).map_err(|e| e.to_string())
}

/// Debian's /etc/redis/redis.conf, made to run in the foreground on
/// `port` with its files in `dir`: the four lines a test must change.
fn debian_conf(dir: &Path, port: u16) -> Option<String> {
    let stock = match std::fs::read_to_string("/etc/redis/redis.conf") {
        Ok(text) => text,
        Err(e) => {
            skip_missing(
                "/etc/redis/redis.conf",
                &format!("apt-get install redis-server ({e})"),
            );
            return None;
        }
    };
    let mut changed = 0;
    let text: Vec<String> = stock
        .lines()
        .map(|line| {
            let new = match line.split_whitespace().next() {
                Some("port") => format!("port {port}"),
                Some("daemonize") => "daemonize no".into(),
                Some("pidfile") => format!("pidfile {}", dir.join("redis.pid").display()),
                Some("logfile") => "logfile \"\"".into(),
                Some("dir") => format!("dir {}", dir.display()),
                _ => return line.to_string(),
            };
            changed += 1;
            new
        })
        .collect();
    assert_eq!(changed, 5, "Debian's file changed shape");
    Some(text.join("\n") + "\n")
}

#[tokio::test]
async fn debian_stock_redis_conf_serves_with_one_warning() {
    let dir = temp_dir("debian");
    let port = free_port();
    let Some(text) = debian_conf(&dir, port) else {
        return;
    };
    let conf = dir.join("redis.conf");
    std::fs::write(&conf, text).expect("write the conf");
    let mut child = Command::new(env!("CARGO_BIN_EXE_redynamo"))
        .arg(&conf)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start redynamo");
    let stdout = child.stdout.take().expect("piped stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    let mut seen = Vec::new();
    while let Ok(line) = rx.recv_timeout(PATIENCE) {
        let ready = line.contains("ready to accept connections");
        seen.push(line);
        if ready {
            break;
        }
    }
    let served = seen
        .iter()
        .any(|l| l.contains("ready to accept connections"));
    if !served {
        let _ = child.kill();
        let out = child.wait_with_output().expect("wait");
        panic!(
            "did not start: {seen:#?} {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let warnings: Vec<&String> = seen.iter().filter(|l| l.contains("WARN")).collect();
    assert_eq!(warnings.len(), 1, "{seen:#?}");
    let warning = warnings[0];
    for expected in [
        "Redis directives accepted but ignored",
        "rdbcompression",
        "daemonize",
        "jemalloc-bg-thread",
        "no RDB or AOF files",
        "bind: listening on 127.0.0.1 only, not on ::1",
    ] {
        assert!(warning.contains(expected), "{expected:?} not in {warning}");
    }
    // Applied, not ignored.
    for applied in [
        "port",
        "timeout",
        "databases",
        "slowlog-max-len",
        "loglevel",
        "client-output-buffer-limit",
        "notify-keyspace-events",
        "acllog-max-len",
        "lua-time-limit",
        "busy-reply-threshold",
    ] {
        assert!(
            !warning.contains(&format!(" {applied}")),
            "{applied}: {warning}"
        );
    }

    let mut c = RawClient::connect(([127, 0, 0, 1], port).into()).await;
    assert_eq!(c.cmd(&["PING"]).await, simple("PONG"));
    assert_eq!(c.cmd(&["SET", "k", "v"]).await, ok());
    assert_eq!(c.cmd(&["GET", "k"]).await, bulk("v"));
    for (name, value) in [
        ("port", port.to_string()),
        ("bind", "127.0.0.1".to_string()),
        ("loglevel", "notice".to_string()),
        ("rdbcompression", "yes".to_string()),
        ("dir", dir.display().to_string()),
        // Debian's three lines (normal, replica, pubsub) add up, as in Redis.
        (
            "client-output-buffer-limit",
            "normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60".to_string(),
        ),
        ("notify-keyspace-events", String::new()),
        ("acllog-max-len", "128".to_string()),
        ("hash-max-listpack-entries", "512".to_string()),
    ] {
        let reply = c.cmd(&["CONFIG", "GET", name]).await;
        assert_eq!(reply, arr([bulk(name), bulk(&value)]), "{name}");
    }
    assert_eq!(c.cmd(&["CONFIG", "REWRITE"]).await, ok());
    let _ = child.kill();
    let _ = child.wait();
    // Nothing changed at run time: every line stays as Debian wrote it
    // (trimmed, runs of blank lines made one, as Redis' rewrite does).
    let after = std::fs::read_to_string(&conf).expect("read back");
    let before = debian_conf(&dir, port).expect("as before");
    let lines = |t: &str| -> Vec<String> {
        t.lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(String::from)
            .collect()
    };
    let (after, before) = (lines(&after), lines(&before));
    let first_change = after.iter().zip(&before).position(|(a, b)| a != b);
    assert_eq!(
        first_change,
        None,
        "{:?}",
        first_change.map(|i| (&after[i], &before[i]))
    );
    assert_eq!(after.len(), before.len());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn include_resolves_as_redis_does() {
    let dir = temp_dir("include");
    std::fs::create_dir_all(dir.join("conf.d")).expect("conf.d");
    std::fs::write(dir.join("conf.d/a.conf"), "maxclients 77\n").expect("write");
    std::fs::write(dir.join("conf.d/b.conf"), "timeout 9\n").expect("write");
    std::fs::write(dir.join("conf.d/skip.txt"), "bogus-directive 1\n").expect("write");
    std::fs::write(dir.join("extra.conf"), "databases 3\n").expect("write");
    // Relative includes resolve against the working directory, which a
    // `dir` line moves (Redis chdirs while it reads).
    let main = dir.join("main.conf");
    std::fs::write(
        &main,
        format!(
            "dir {}\ninclude extra.conf\ninclude conf.d/*.conf\ninclude empty.d/*.conf\nport 7100\n",
            dir.display()
        ),
    )
    .expect("write");
    let main = main.to_string_lossy().into_owned();
    let c = load(&[&main]).expect("loads");
    assert_eq!(
        (c.databases, c.maxclients, c.timeout, c.port),
        (3, 77, 9, 7100)
    );
    std::fs::write(dir.join("missing.conf"), "include nope.conf\n").expect("write");
    let missing = dir.join("missing.conf").to_string_lossy().into_owned();
    let err = load(&[&missing]).expect_err("a missing include is an error");
    assert!(err.contains("nope.conf"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn redis_directives_on_the_command_line() {
    let c = load(&[
        "--save",
        "",
        "--appendonly",
        "no",
        "--port",
        "7001",
        "--loglevel",
        "warning",
    ])
    .expect("loads");
    assert_eq!(c.port, 7001);
    assert_eq!(c.log_level, "warn");
    assert_eq!(
        c.redis_conf.recorded.get("save").map(String::as_str),
        Some("")
    );
    let err = load(&["--frobnicate", "1"]).expect_err("unknown");
    assert!(err.contains("unexpected argument '--frobnicate'"), "{err}");
    let err = load(&["--hz"]).expect_err("no value");
    assert_eq!(
        err,
        "config file (command line), line 1: >>> 'hz': wrong number of arguments"
    );
}

#[test]
fn file_values_with_units_quotes_and_aliases() {
    let dir = temp_dir("units");
    let path = dir.join("r.conf");
    std::fs::write(
        &path,
        "proto-max-bulk-len 64mb\nrequirepass \"a b\\x21\"\nslave-read-only yes\n\
         hash-max-ziplist-entries 100\nlist-max-ziplist-entries 5\nCREATE-TABLE\n",
    )
    .expect("write");
    let p = path.to_string_lossy().into_owned();
    let c = load(&[&p]).expect("loads");
    assert_eq!(c.proto_max_bulk_len, 64 << 20);
    assert_eq!(c.requirepass.as_deref(), Some("a b!"));
    assert!(c.create_table);
    assert_eq!(
        c.redis_conf
            .recorded
            .get("hash-max-listpack-entries")
            .map(String::as_str),
        Some("100")
    );
    let warning = c.redis_conf.warning().expect("a warning");
    assert!(
        warning.contains("deprecated in Redis: list-max-ziplist-entries"),
        "{warning}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn refused_and_unknown_directives_name_file_and_line() {
    let dir = temp_dir("bad");
    let path = dir.join("r.conf");
    let p = path.to_string_lossy().into_owned();
    for (text, message) in [
        ("port 7000\nfrobnicate yes\n", ">>> 'frobnicate yes': Bad directive or wrong number of arguments"),
        ("\n\nport abc\n", ">>> 'port abc': invalid value 'abc' for '--port <PORT>': invalid digit found in string"),
        ("user alice on >pw ~* +@nosuch\n", ">>> 'user alice on >pw ~* +@nosuch': Error in user declaration '+@nosuch': Unknown command or category name in ACL"),
        ("user alice on\nuser alice off\n", ">>> 'user alice off': Error in user declaration 'alice': Duplicate user found. A user can only be defined once in config files"),
        ("user alice on\naclfile users.acl\n", ">>> 'user alice on': Configuring Redis with users defined in redis.conf and at the same setting an ACL file path is invalid. This setup is very likely to lead to configuration errors and security holes, please define either an ACL file or declare users directly in your redis.conf, but not both."),
        ("notify-keyspace-events KEQ\n", ">>> 'notify-keyspace-events KEQ': invalid value 'KEQ' for '--notify-keyspace-events <NOTIFY_KEYSPACE_EVENTS>': Invalid event class character. Use 'Ag$lshzxeKEtmdn'."),
        ("rename-command FLUSHALL \"\"\n", ">>> 'rename-command FLUSHALL \"\"': rename-command is not supported (the command would stay available)"),
        ("replicaof 10.0.0.1 6379\n", ">>> 'replicaof 10.0.0.1 6379': redynamo cannot be a replica (its backend is shared instead)"),
        ("save \"900 1\nport 1\n", ">>> 'save \"900 1': Unbalanced quotes in configuration line"),
        ("hz 10 20\n", ">>> 'hz 10 20': wrong number of arguments"),
    ] {
        std::fs::write(&path, text).expect("write");
        let err = load(&[&p]).expect_err(text);
        let line = text
            .lines()
            .position(|l| !l.is_empty() && message.contains(l))
            .map_or(0, |i| i + 1);
        assert_eq!(err, format!("config file {p}, line {line}: {message}"), "{text:?}");
    }
    // `replicaof no one` and an empty aclfile ask for nothing.
    std::fs::write(&path, "replicaof no one\naclfile \"\"\n").expect("write");
    load(&[&p]).expect("harmless values load");
    let _ = std::fs::remove_dir_all(&dir);
}

/// CONFIG GET, SET and their errors, byte for byte against redis-server.
#[tokio::test]
async fn config_get_set_as_redis_server() {
    let Some(mut pair) = Pair::start().await else {
        return;
    };
    for cmd in [
        "CONFIG GET maxclients",
        "CONFIG GET timeout maxclients timeout",
        "CONFIG GET slave-read-only",
        "CONFIG GET nosuch",
        "CONFIG GET slowlog-*",
        "CONFIG SET maxclients 5000 timeout 7",
        "CONFIG GET maxclients",
        "CONFIG GET timeout",
        "CONFIG SET maxclients 0",
        "CONFIG SET maxclients abc",
        "CONFIG SET timeout 8 maxclients 0",
        "CONFIG GET timeout",
        "CONFIG SET timeout 8 timeout 9",
        "CONFIG SET databases 4",
        "CONFIG SET daemonize yes",
        "CONFIG SET dir /tmp",
        "CONFIG SET nosuch 1",
        "CONFIG SET timeout",
        "CONFIG SET appendonly no",
        "CONFIG SET save \"\"",
        "CONFIG SET proto-max-bulk-len 2mb",
        "CONFIG GET proto-max-bulk-len",
        "CONFIG SET proto-max-bulk-len 100",
        "CONFIG SET slowlog-log-slower-than -2",
        "CONFIG SET requirepass \"\"",
        "CONFIG GET requirepass",
    ] {
        let args = words(cmd);
        let args: Vec<Vec<u8>> = args
            .into_iter()
            .map(|a| if a == b"\"\"" { Vec::new() } else { a })
            .collect();
        let (ours, theirs) = pair.both(&args).await;
        if cmd.starts_with("CONFIG GET") {
            // Redis lists in its hash table's order.
            let pairs = |bytes: &[u8]| {
                let mut pairs: Vec<(String, String)> = parse(bytes)
                    .items()
                    .chunks(2)
                    .map(|p| (p[0].text(), p[1].text()))
                    .collect();
                pairs.sort();
                pairs
            };
            assert_eq!(pairs(&ours), pairs(&theirs), "{cmd}");
            continue;
        }
        assert_eq!(
            String::from_utf8_lossy(&ours),
            String::from_utf8_lossy(&theirs),
            "{cmd}"
        );
    }
    // Settings redynamo ignores say so when asked to change.
    let reply = pair.ours().cmd(&["CONFIG", "SET", "hz", "50"]).await;
    assert_eq!(
        reply,
        err("ERR CONFIG SET failed (possibly related to argument 'hz') - not supported by redynamo (no eviction or allocator tuning)")
    );
}

/// `CONFIG GET *` lists every setting, redynamo's own included, each
/// once, and every name redis-server lists.
#[tokio::test]
async fn config_get_star_lists_everything() {
    let Some(mut pair) = Pair::start().await else {
        return;
    };
    let names =
        |reply: Reply| -> Vec<String> { reply.items().chunks(2).map(|p| p[0].text()).collect() };
    let ours = names(pair.ours().cmd(&["CONFIG", "GET", "*"]).await);
    let theirs = names(pair.theirs().cmd(&["CONFIG", "GET", "*"]).await);
    let mut unique = ours.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), ours.len(), "a name twice");
    let missing: Vec<&String> = theirs.iter().filter(|n| !ours.contains(n)).collect();
    assert!(missing.is_empty(), "redis-server has {missing:?}");
    for own in [
        "threads",
        "backend",
        "metrics-addr",
        "table",
        "log-format",
        "max-concurrent-commands",
    ] {
        assert!(ours.iter().any(|n| n == own), "{own}");
    }
    // Hidden settings need their exact name, as in Redis.
    assert!(!ours.iter().any(|n| n == "key-load-delay"));
    let reply = pair.ours().cmd(&["CONFIG", "GET", "key-load-delay"]).await;
    assert_eq!(reply, arr([bulk("key-load-delay"), bulk("0")]));
    let reply = pair
        .ours()
        .cmd(&["CONFIG", "GET", "threads", "backend"])
        .await;
    assert_eq!(
        reply,
        arr([bulk("threads"), bulk("0"), bulk("backend"), bulk("memory")])
    );
}

/// CONFIG REWRITE against redis-server's: the same file, the same
/// changes, the same result where the two are comparable.
#[tokio::test]
async fn config_rewrite_as_redis_server() {
    let dir = temp_dir("rewrite");
    let original = "# A comment that must stay\n\
                    maxclients 100\n\
                    timeout 5\n\
                    # another comment\n\
                    timeout 6\n\
                    hz 10\n\
                    \n\
                    slowlog-max-len 64\n";
    let ours_path = dir.join("ours.conf");
    let theirs_path = dir.join("theirs.conf");
    std::fs::write(&ours_path, original).expect("write");
    std::fs::write(&theirs_path, original).expect("write");
    let Some(redis) = RedisServer::start_with(&[&theirs_path.to_string_lossy()]).await else {
        return;
    };
    let config = load(&[&ours_path.to_string_lossy()]).expect("loads");
    let server = TestServer::with_config(config).await;
    let mut ours = server.raw().await;
    let mut theirs = RawClient::connect(redis.addr()).await;
    for c in [&mut ours, &mut theirs] {
        assert_eq!(
            c.cmd(&["CONFIG", "GET", "timeout"]).await,
            arr([bulk("timeout"), bulk("6")])
        );
        assert_eq!(
            c.cmd(&[
                "CONFIG",
                "SET",
                "maxclients",
                "200",
                "slowlog-log-slower-than",
                "5"
            ])
            .await,
            ok()
        );
        assert_eq!(c.cmd(&["CONFIG", "REWRITE"]).await, ok());
    }
    let ours_text = std::fs::read_to_string(&ours_path).expect("read");
    let theirs_text = std::fs::read_to_string(&theirs_path).expect("read");
    // redis-server also writes what its command line set (port, bind,
    // save …); compare the lines both know.
    let relevant = |text: &str| -> Vec<String> {
        text.lines()
            .filter(|l| {
                l.starts_with('#')
                    || l.is_empty()
                    || ["maxclients", "timeout", "hz", "slowlog"]
                        .iter()
                        .any(|p| l.starts_with(p))
            })
            .map(String::from)
            .collect()
    };
    assert_eq!(
        relevant(&ours_text),
        relevant(&theirs_text),
        "ours:\n{ours_text}\ntheirs:\n{theirs_text}"
    );
    // Our port is the one bound (port 0 asked for any): REWRITE records it.
    let ours_text: String = ours_text
        .lines()
        .filter(|l| !l.starts_with("port "))
        .map(|l| format!("{l}\n"))
        .collect();
    assert_eq!(
        ours_text,
        "# A comment that must stay\nmaxclients 200\ntimeout 6\n# another comment\n\nhz 10\n\n\
         slowlog-max-len 64\n\n# Generated by CONFIG REWRITE\nslowlog-log-slower-than 5\n"
    );
    // Without a file: Redis' error.
    let plain = TestServer::start().await;
    let mut c = plain.raw().await;
    assert_eq!(
        c.cmd(&["CONFIG", "REWRITE"]).await,
        err("ERR The server is running without a config file")
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// The settings the ACL, scripting, Pub/Sub and tracking code honour are
/// applied from a redis.conf (not ignored): `user` lines create users,
/// and the rest show in CONFIG GET and change behaviour.
#[tokio::test]
async fn acl_scripting_pubsub_settings_from_a_file_are_applied() {
    let dir = temp_dir("applied");
    let path = dir.join("r.conf");
    std::fs::write(
        &path,
        "user alice on >secret ~* +@all\n\
         user default on nopass ~* &* +@all\n\
         acllog-max-len 7\n\
         notify-keyspace-events KEA\n\
         client-output-buffer-limit normal 0 0 0\n\
         client-output-buffer-limit pubsub 1mb 512kb 10\n\
         lua-time-limit 1234\n\
         tracking-table-max-keys 99\n",
    )
    .expect("write");
    let p = path.to_string_lossy().into_owned();
    let mut config = load(&[&p]).expect("loads");
    assert!(config.redis_conf.warning().is_none(), "nothing ignored");
    config.port = 0;
    let server = TestServer::with_config(config).await;
    let mut c = server.raw().await;
    for (name, value) in [
        ("acllog-max-len", "7"),
        ("notify-keyspace-events", "AKE"),
        (
            "client-output-buffer-limit",
            "normal 0 0 0 slave 268435456 67108864 60 pubsub 1048576 524288 10",
        ),
        ("busy-reply-threshold", "1234"),
        ("lua-time-limit", "1234"),
        ("tracking-table-max-keys", "99"),
    ] {
        assert_eq!(
            c.cmd(&["CONFIG", "GET", name]).await,
            arr([bulk(name), bulk(value)]),
            "{name}"
        );
    }
    assert_eq!(c.cmd(&["AUTH", "alice", "secret"]).await, ok());
    assert_eq!(c.cmd(&["ACL", "WHOAMI"]).await, bulk("alice"));
    assert_eq!(
        c.cmd(&["ACL", "USERS"]).await,
        arr([bulk("alice"), bulk("default")])
    );
    // notify-keyspace-events KEA: a SET is published.
    let mut sub = server.raw().await;
    assert_eq!(
        sub.cmd(&["SUBSCRIBE", "__keyevent@0__:set"]).await,
        arr([bulk("subscribe"), bulk("__keyevent@0__:set"), int(1)])
    );
    assert_eq!(c.cmd(&["SET", "k", "v"]).await, ok());
    assert_eq!(
        sub.read().await,
        arr([bulk("message"), bulk("__keyevent@0__:set"), bulk("k")])
    );
    // CONFIG SET changes them at run time.
    assert_eq!(
        c.cmd(&[
            "CONFIG",
            "SET",
            "busy-reply-threshold",
            "500",
            "acllog-max-len",
            "3"
        ])
        .await,
        ok()
    );
    assert_eq!(
        c.cmd(&["CONFIG", "GET", "lua-time-limit"]).await,
        arr([bulk("lua-time-limit"), bulk("500")])
    );
    server.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
}
