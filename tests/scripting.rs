//! Lua scripting and functions over real TCP (docs/scripting.md): what the
//! differential corpus (`tests/differential_scripting.rs`) cannot compare
//! with the redis-server here, and real programs.
//!
//! - `-BUSY`, SCRIPT KILL, FUNCTION KILL and UNKILLABLE, against the
//!   `redynamo` binary in its own process (a script holds a runtime thread
//!   for as long as it runs, as it holds Redis' only thread);
//! - EVALSHA after SCRIPT FLUSH, the sandbox with Redis 7.2's texts (7.0
//!   words some differently), bounded recursion and memory;
//! - FUNCTION DUMP / RESTORE and 7.2's function-name error;
//! - a Redlock-style lock and a token-bucket rate limiter written as client
//!   libraries write them (`redis::Script`: EVALSHA, then EVAL on
//!   NOSCRIPT), under concurrent clients;
//! - bee-queue's own Lua scripts (`tests/fixtures/bee-queue/`, MIT), sent
//!   as bee-queue sends them: SCRIPT EXISTS, SCRIPT LOAD, EVALSHA.

mod common;

use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;

use common::*;
use redynamo::scripting::sha1_hex;

const BUSY_SCRIPT: &str =
    "BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.";
const BUSY_FUNCTION: &str =
    "BUSY Redis is busy running a script. You can only call FUNCTION KILL or SHUTDOWN NOSAVE.";

/// The `redynamo` binary on a free port, killed when dropped.
struct Process {
    child: Child,
    port: u16,
}

impl Process {
    fn start() -> Process {
        let port = free_port();
        let mut child = Command::new(env!("CARGO_BIN_EXE_redynamo"))
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .env_remove("REDYNAMO_REQUIREPASS")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start redynamo");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { return };
                if line.contains("ready to accept connections") {
                    let _ = tx.send(());
                }
            }
        });
        rx.recv_timeout(PATIENCE).expect("redynamo gets ready");
        Process { child, port }
    }

    async fn raw(&self) -> RawClient {
        RawClient::connect(([127, 0, 0, 1], self.port).into()).await
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Wait until `client`'s PING answers `-BUSY` (the script passed the
/// threshold); the error text.
async fn until_busy(client: &mut RawClient) -> String {
    let start = std::time::Instant::now();
    loop {
        let reply = client.cmd(&["PING"]).await;
        if reply.is_error() {
            return reply.error_text();
        }
        assert!(start.elapsed() < PATIENCE, "the server never became busy");
        // A poll interval, not a wait for the behaviour under test.
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn a_long_script_makes_others_busy_and_script_kill_stops_it() {
    let server = Process::start();
    let mut runner = server.raw().await;
    let mut other = server.raw().await;
    assert_eq!(
        other
            .cmd(&["CONFIG", "SET", "busy-reply-threshold", "50"])
            .await,
        ok()
    );
    assert_eq!(
        other
            .cmd(&["CONFIG", "GET", "lua-time-limit"])
            .await
            .items()[1],
        bulk("50")
    );
    assert_eq!(other.cmd(&["SET", "before", "1"]).await, ok());
    runner
        .send_cmd(&["EVAL", "local i = 0 while true do i = i + 1 end", "0"])
        .await;
    assert_eq!(until_busy(&mut other).await, BUSY_SCRIPT);
    // Every command but the few Redis allows while busy.
    assert_eq!(other.cmd(&["GET", "before"]).await, err(BUSY_SCRIPT));
    assert_eq!(other.cmd(&["INFO"]).await, err(BUSY_SCRIPT));
    // A third client connecting now gets the same.
    let mut late = server.raw().await;
    assert_eq!(late.cmd(&["PING"]).await, err(BUSY_SCRIPT));
    // FUNCTION KILL does not stop an EVAL script.
    assert_eq!(other.cmd(&["FUNCTION", "KILL"]).await, err(BUSY_SCRIPT));
    assert_eq!(other.cmd(&["SCRIPT", "KILL"]).await, ok());
    let killed = runner.read().await.error_text();
    assert!(
        killed.starts_with("ERR Script killed by user with SCRIPT KILL..."),
        "{killed}"
    );
    assert_eq!(other.cmd(&["PING"]).await, simple("PONG"));
    assert_eq!(other.cmd(&["GET", "before"]).await, bulk("1"));
    assert_eq!(
        other.cmd(&["SCRIPT", "KILL"]).await,
        err("NOTBUSY No scripts in execution right now.")
    );
    // The runner's connection goes on.
    assert_eq!(
        runner.cmd(&["EVAL", "return 'next'", "0"]).await,
        bulk("next")
    );
}

#[tokio::test]
async fn a_script_that_wrote_cannot_be_killed() {
    let server = Process::start();
    let mut runner = server.raw().await;
    let mut other = server.raw().await;
    other.cmd(&["CONFIG", "SET", "lua-time-limit", "50"]).await;
    runner
        .send_cmd(&[
            "EVAL",
            "redis.call('set', KEYS[1], 'x') local t = redis.call('time') while true do end",
            "1",
            "k",
        ])
        .await;
    assert_eq!(until_busy(&mut other).await, BUSY_SCRIPT);
    let refused = other.cmd(&["SCRIPT", "KILL"]).await.error_text();
    assert_eq!(
        refused,
        "UNKILLABLE Sorry the script already executed write commands against the dataset. \
         You can either wait the script termination or kill the server in a hard way using \
         the SHUTDOWN NOSAVE command."
    );
    // Only SHUTDOWN NOSAVE (or a kill) ends it; the process is killed here.
}

#[tokio::test]
async fn function_kill_stops_a_function_and_script_kill_does_not() {
    let server = Process::start();
    let mut runner = server.raw().await;
    let mut other = server.raw().await;
    other
        .cmd(&["CONFIG", "SET", "busy-reply-threshold", "50"])
        .await;
    let lib = "#!lua name=spin\nredis.register_function('spin', function() while true do end end)";
    assert_eq!(other.cmd(&["FUNCTION", "LOAD", lib]).await, bulk("spin"));
    runner.send_cmd(&["FCALL", "spin", "0"]).await;
    assert_eq!(until_busy(&mut other).await, BUSY_FUNCTION);
    assert_eq!(other.cmd(&["SCRIPT", "KILL"]).await, err(BUSY_FUNCTION));
    assert_eq!(other.cmd(&["FUNCTION", "KILL"]).await, ok());
    let killed = runner.read().await.error_text();
    assert!(killed.contains("Script killed by user"), "{killed}");
    assert_eq!(other.cmd(&["PING"]).await, simple("PONG"));
}

#[tokio::test]
async fn evalsha_after_script_flush_is_noscript() {
    let server = TestServer::start().await;
    let mut c = server.raw().await;
    let body = "return ARGV[1] .. '!'";
    let sha = sha1_hex(body.as_bytes());
    assert_eq!(c.cmd(&["SCRIPT", "LOAD", body]).await, bulk(&sha));
    assert_eq!(c.cmd(&["EVALSHA", &sha, "0", "hi"]).await, bulk("hi!"));
    assert_eq!(c.cmd(&["SCRIPT", "EXISTS", &sha]).await, arr([int(1)]));
    assert_eq!(c.cmd(&["SCRIPT", "FLUSH"]).await, ok());
    assert_eq!(c.cmd(&["SCRIPT", "EXISTS", &sha]).await, arr([int(0)]));
    assert_eq!(
        c.cmd(&["EVALSHA", &sha, "0", "hi"]).await,
        err("NOSCRIPT No matching script. Please use EVAL.")
    );
    // EVAL caches it again.
    assert_eq!(c.cmd(&["EVAL", body, "0", "x"]).await, bulk("x!"));
    assert_eq!(c.cmd(&["EVALSHA", &sha, "0", "y"]).await, bulk("y!"));
}

#[tokio::test]
async fn the_sandbox_as_redis_7_2_has_it() {
    let server = TestServer::start().await;
    let mut c = server.raw().await;
    for name in [
        "getfenv", "setfenv", "newproxy", "print", "loadfile", "dofile", "require", "os", "io",
        "debug", "package", "module",
    ] {
        let script = format!("return {name}");
        let e = c.cmd(&["EVAL", &script, "0"]).await.error_text();
        assert!(
            e.starts_with(&format!(
                "ERR user_script:1: Script attempted to access nonexistent global variable '{name}' script: "
            )),
            "{name}: {e}"
        );
    }
    // Bytecode cannot be loaded (it can break out of any sandbox).
    assert_eq!(
        c.cmd(&[
            "EVAL",
            "local f, e = loadstring(string.dump(function() return 1 end)) return {f == nil, e}",
            "0"
        ])
        .await,
        arr([int(1), bulk("binary chunks are not allowed")])
    );
    // Code loaded at run time runs in the same read-only globals.
    let e = c
        .cmd(&["EVAL", "loadstring('x = 1')()", "0"])
        .await
        .error_text();
    assert!(e.contains("Attempt to modify a readonly table"), "{e}");
    // A table that contains itself ends in an error, and the connection
    // lives on.
    let mut reply = c
        .cmd(&["EVAL", "local a = {} local b = {a} a[1] = b return a", "0"])
        .await;
    let mut depth = 0;
    loop {
        match reply {
            redynamo::layers::Reply::Array(mut items) if items.len() == 1 => {
                reply = items.remove(0);
                depth += 1;
            }
            other => {
                assert_eq!(other, err("ERR reached lua stack limit"));
                break;
            }
        }
    }
    assert!(depth > 10, "{depth}");
    assert_eq!(c.cmd(&["PING"]).await, simple("PONG"));
    // KEYS of an EVAL are not globals of a function.
    let lib = "#!lua name=nokeys\nredis.register_function('k', function() return KEYS end)";
    c.cmd(&["FUNCTION", "LOAD", lib]).await;
    c.cmd(&["EVAL", "return 1", "1", "somekey"]).await;
    let e = c.cmd(&["FCALL", "k", "0"]).await.error_text();
    assert!(e.contains("nonexistent global variable 'KEYS'"), "{e}");
}

#[tokio::test]
async fn script_memory_is_bounded() {
    let server = TestServer::start().await;
    let mut c = server.raw().await;
    let e = c
        .cmd(&[
            "EVAL",
            "local t = {} while true do t[#t + 1] = string.rep('x', 1024 * 1024) .. #t end",
            "0",
        ])
        .await
        .error_text();
    assert!(e.contains("not enough memory"), "{e}");
    // The VM is usable afterwards: the garbage is collected.
    assert_eq!(
        c.cmd(&["EVAL", "return #string.rep('y', 1024 * 1024)", "0"])
            .await,
        int(1024 * 1024)
    );
}

#[tokio::test]
async fn functions_dump_restore_and_7_2_texts() {
    let server = TestServer::start().await;
    let mut c = server.raw().await;
    let lib = "#!lua name=mylib\nredis.register_function('hello', function(keys, args) return 'hello ' .. args[1] end)";
    assert_eq!(c.cmd(&["FUNCTION", "LOAD", lib]).await, bulk("mylib"));
    assert_eq!(
        c.cmd(&["FCALL", "hello", "0", "you"]).await,
        bulk("hello you")
    );
    let dump = c.cmd(&["FUNCTION", "DUMP"]).await;
    let redynamo::layers::Reply::Bulk(payload) = dump else {
        panic!("FUNCTION DUMP: {dump:?}");
    };
    assert_eq!(c.cmd(&["FUNCTION", "FLUSH"]).await, ok());
    assert_eq!(
        c.cmd(&["FCALL", "hello", "0", "x"]).await,
        err("ERR Function not found")
    );
    assert_eq!(c.cmd_bin(&[b"FUNCTION", b"RESTORE", &payload]).await, ok());
    assert_eq!(
        c.cmd(&["FCALL", "hello", "0", "again"]).await,
        bulk("hello again")
    );
    // APPEND (the default) refuses a library that exists, changing nothing.
    assert_eq!(
        c.cmd_bin(&[b"FUNCTION", b"RESTORE", &payload]).await,
        err("ERR Library 'mylib' already exists")
    );
    assert_eq!(
        c.cmd_bin(&[b"FUNCTION", b"RESTORE", &payload, b"REPLACE"])
            .await,
        ok()
    );
    assert_eq!(
        c.cmd_bin(&[b"FUNCTION", b"RESTORE", &payload, b"FLUSH"])
            .await,
        ok()
    );
    let mut bad = payload.to_vec();
    bad[10] ^= 0xff;
    assert_eq!(
        c.cmd_bin(&[b"FUNCTION", b"RESTORE", &bad]).await,
        err("ERR DUMP payload version or checksum are wrong")
    );
    assert_eq!(
        c.cmd(&["FCALL", "hello", "0", "still"]).await,
        bulk("hello still")
    );
    // Redis 7.2's text for a bad function name (7.0 gave the library one).
    assert_eq!(
        c.cmd(&["FUNCTION", "LOAD", "#!lua name=lib2\nredis.register_function('bad name', function() end)"]).await,
        err("ERR Error registering functions: ERR Function names can only contain letters, numbers, or underscores(_) and must be at least one character long")
    );
    assert_eq!(
        c.cmd(&["FUNCTION", "LOAD", "#!lua name=lib2\nredis.register_function('a', function() end)\nredis.register_function('a', function() end)"]).await,
        err("ERR Error registering functions: ERR Function already exists in the library")
    );
    // A library whose code never ends is stopped after 500 ms.
    assert_eq!(
        c.cmd(&["FUNCTION", "LOAD", "#!lua name=forever\nwhile true do end"])
            .await,
        err("ERR Error registering functions: ERR FUNCTION LOAD timeout")
    );
    // FUNCTION STATS counts what is loaded.
    let stats = c.cmd(&["FUNCTION", "STATS"]).await;
    let text = format!("{stats:?}");
    assert!(
        text.contains("libraries_count") && text.contains("Integer(1)"),
        "{text}"
    );
}

#[tokio::test]
async fn resp3_replies_of_scripts() {
    let server = TestServer::start().await;
    let mut c = server.raw().await;
    c.cmd(&["HELLO", "3"]).await;
    c.cmd(&["HSET", "h", "a", "1"]).await;
    assert_eq!(
        c.cmd_bytes(&[
            "EVAL",
            "redis.setresp(3) return redis.call('hgetall', KEYS[1])",
            "1",
            "h"
        ])
        .await,
        b"%1\r\n$1\r\na\r\n$1\r\n1\r\n"
    );
    assert_eq!(
        c.cmd_bytes(&["EVAL", "redis.setresp(3) return true", "0"])
            .await,
        b"#t\r\n"
    );
    assert_eq!(c.cmd_bytes(&["EVAL", "return false", "0"]).await, b"_\r\n");
    assert_eq!(
        c.cmd_bytes(&["EVAL", "return {double = 1.5}", "0"]).await,
        b",1.5\r\n"
    );
    assert_eq!(
        c.cmd_bytes(&["EVAL", "return {set = {x = true}}", "0"])
            .await,
        b"~1\r\n$1\r\nx\r\n"
    );
}

/// The release script every Redlock implementation sends (redlock-py,
/// node-redlock, Redisson's unlock): delete the key only if it holds our
/// token.
const UNLOCK: &str = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end";

#[tokio::test]
async fn a_redlock_style_lock_never_grants_twice() {
    let server = TestServer::start().await;
    let unlock = redis::Script::new(UNLOCK);
    let mut tasks = Vec::new();
    for worker in 0..8 {
        let mut con = server.conn().await;
        let unlock = unlock.clone();
        tasks.push(tokio::spawn(async move {
            let mut held = 0;
            for round in 0..40 {
                let token = format!("{worker}:{round}");
                let got: Option<String> = redis::cmd("SET")
                    .arg("lock")
                    .arg(&token)
                    .arg("NX")
                    .arg("PX")
                    .arg(30_000)
                    .query_async(&mut con)
                    .await
                    .expect("SET NX");
                if got.is_none() {
                    tokio::task::yield_now().await;
                    continue;
                }
                // Inside the lock: nobody else may be inside.
                let inside: i64 = redis::cmd("INCR")
                    .arg("inside")
                    .query_async(&mut con)
                    .await
                    .unwrap();
                assert_eq!(inside, 1, "two holders of the lock");
                tokio::task::yield_now().await;
                let _: i64 = redis::cmd("DECR")
                    .arg("inside")
                    .query_async(&mut con)
                    .await
                    .unwrap();
                // A stale token releases nothing.
                let stale: i64 = unlock
                    .key("lock")
                    .arg("not-mine")
                    .invoke_async(&mut con)
                    .await
                    .unwrap();
                assert_eq!(stale, 0);
                let released: i64 = unlock
                    .key("lock")
                    .arg(&token)
                    .invoke_async(&mut con)
                    .await
                    .unwrap();
                assert_eq!(released, 1);
                held += 1;
            }
            held
        }));
    }
    let mut total = 0;
    for t in tasks {
        total += t.await.expect("worker");
    }
    assert!(total > 0);
}

/// A token bucket as rate-limiter libraries write it (the shape of
/// `redis-cell`-less limiters such as `ratelimit.js` / `limits`): refill by
/// elapsed time, take if enough, store with an expiry.
const TOKEN_BUCKET: &str = r#"
local key = KEYS[1]
local rate = tonumber(ARGV[1])
local capacity = tonumber(ARGV[2])
local now = tonumber(ARGV[3])
local requested = tonumber(ARGV[4])
local bucket = redis.call('HMGET', key, 'tokens', 'ts')
local tokens = tonumber(bucket[1])
local ts = tonumber(bucket[2])
if tokens == nil then
  tokens = capacity
  ts = now
end
local elapsed = math.max(0, now - ts)
tokens = math.min(capacity, tokens + elapsed * rate / 1000)
local allowed = 0
if tokens >= requested then
  tokens = tokens - requested
  allowed = 1
end
redis.call('HSET', key, 'tokens', tokens, 'ts', now)
redis.call('PEXPIRE', key, math.ceil(capacity / rate * 1000) * 2)
return {allowed, tostring(tokens)}
"#;

#[tokio::test]
async fn a_token_bucket_grants_exactly_its_capacity() {
    let server = TestServer::start().await;
    let script = redis::Script::new(TOKEN_BUCKET);
    let now = 1_000_000i64;
    let mut tasks = Vec::new();
    for _ in 0..10 {
        let mut con = server.conn().await;
        let script = script.clone();
        tasks.push(tokio::spawn(async move {
            let mut granted = 0;
            for _ in 0..20 {
                let (allowed, _left): (i64, String) = script
                    .key("bucket")
                    .arg(5) // tokens per second
                    .arg(25) // capacity
                    .arg(now)
                    .arg(1)
                    .invoke_async(&mut con)
                    .await
                    .expect("token bucket");
                granted += allowed;
            }
            granted
        }));
    }
    let mut granted = 0;
    for t in tasks {
        granted += t.await.expect("client");
    }
    // 200 requests at one instant: exactly the capacity goes through.
    assert_eq!(granted, 25);
    // Two seconds later, ten more tokens (5 a second).
    let mut con = server.conn().await;
    let mut later = 0;
    for _ in 0..20 {
        let (allowed, _): (i64, String) = script
            .key("bucket")
            .arg(5)
            .arg(25)
            .arg(now + 2000)
            .arg(1)
            .invoke_async(&mut con)
            .await
            .unwrap();
        later += allowed;
    }
    assert_eq!(later, 10);
    let ttl: i64 = redis::cmd("PTTL")
        .arg("bucket")
        .query_async(&mut con)
        .await
        .unwrap();
    assert!(ttl > 0 && ttl <= 10_000, "{ttl}");
}

fn bee_script(name: &str) -> String {
    let path = format!(
        "{}/tests/fixtures/bee-queue/{name}.lua",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(path).expect("bee-queue script")
}

/// bee-queue's `lua/index.js`: SCRIPT EXISTS, SCRIPT LOAD when missing;
/// the SHA1 of the file, as bee-queue computes it.
async fn bee_load(c: &mut RawClient, name: &str) -> String {
    let script = bee_script(name);
    let sha = sha1_hex(script.as_bytes());
    if c.cmd(&["SCRIPT", "EXISTS", &sha]).await == arr([int(0)]) {
        assert_eq!(c.cmd(&["SCRIPT", "LOAD", &script]).await, bulk(&sha));
    }
    sha
}

#[tokio::test]
async fn bee_queue_scripts_run_as_bee_queue_sends_them() {
    let server = TestServer::start().await;
    let k = |s: &str| format!("bq:test:{s}");
    // Producers: concurrent addJob, ids from the counter.
    let mut producers = Vec::new();
    for p in 0..4 {
        let mut c = server.raw().await;

        producers.push(tokio::spawn(async move {
            let add = bee_load(&mut c, "addJob").await;
            let mut ids = Vec::new();
            for j in 0..50 {
                let data = format!(
                    "{{\"data\":{{\"p\":{p},\"j\":{j}}},\"options\":{{}},\"status\":\"created\"}}"
                );
                let id = c
                    .cmd(&[
                        "EVALSHA",
                        &add,
                        "3",
                        &k("id"),
                        &k("jobs"),
                        &k("waiting"),
                        "",
                        &data,
                    ])
                    .await
                    .text();
                ids.push(id);
            }
            // A job id given by the caller that exists already: nil.
            let again = c
                .cmd(&[
                    "EVALSHA",
                    &add,
                    "3",
                    &k("id"),
                    &k("jobs"),
                    &k("waiting"),
                    &ids[0],
                    "{}",
                ])
                .await;
            assert_eq!(again, nil());
            ids
        }));
    }
    let mut ids = HashSet::new();
    for p in producers {
        for id in p.await.expect("producer") {
            assert!(ids.insert(id.clone()), "job id {id} given twice");
        }
    }
    assert_eq!(ids.len(), 200);
    let mut c = server.raw().await;
    assert_eq!(c.cmd(&["HLEN", &k("jobs")]).await, int(200));
    // Workers: BRPOPLPUSH waiting → active, then bee-queue's finishing
    // MULTI. Worker 0 "crashes" with its first job left active.
    let check = bee_load(&mut c, "checkStalledJobs").await;
    let mut done = HashSet::new();
    let mut crashed = None;
    let mut w = server.raw().await;
    loop {
        let id = w
            .cmd(&["BRPOPLPUSH", &k("waiting"), &k("active"), "1"])
            .await;
        if id == redynamo::layers::Reply::NullArray || id == nil() {
            break;
        }
        let id = id.text();
        if crashed.is_none() {
            crashed = Some(id);
            continue;
        }
        w.cmd(&["MULTI"]).await;
        w.cmd(&["LREM", &k("active"), "0", &id]).await;
        w.cmd(&["SREM", &k("stalling"), &id]).await;
        w.cmd(&["SADD", &k("succeeded"), &id]).await;
        w.cmd(&["HDEL", &k("jobs"), &id]).await;
        let exec = w.cmd(&["EXEC"]).await;
        assert_eq!(exec.items().len(), 4);
        assert!(done.insert(id.clone()), "job {id} done twice");
    }
    assert_eq!(done.len(), 199);
    // The stall check: first pass marks the active job stalling, the
    // second (after the stall block expires) moves it back to waiting.
    let crashed = crashed.expect("a job");
    let first = c
        .cmd(&[
            "EVALSHA",
            &check,
            "4",
            &k("stallBlock"),
            &k("stalling"),
            &k("waiting"),
            &k("active"),
            "1",
        ])
        .await;
    assert_eq!(first, arr([]));
    assert_eq!(
        c.cmd(&["SMEMBERS", &k("stalling")]).await,
        arr([bulk(&crashed)])
    );
    let start = std::time::Instant::now();
    while c.cmd(&["EXISTS", &k("stallBlock")]).await != int(0) {
        assert!(start.elapsed() < PATIENCE, "the stall block never expired");
        // A poll interval: the block is a 1 ms PX key.
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    let second = c
        .cmd(&[
            "EVALSHA",
            &check,
            "4",
            &k("stallBlock"),
            &k("stalling"),
            &k("waiting"),
            &k("active"),
            "1",
        ])
        .await;
    assert_eq!(second, arr([bulk(&crashed)]));
    assert_eq!(
        c.cmd(&["LRANGE", &k("waiting"), "0", "-1"]).await,
        arr([bulk(&crashed)])
    );
    // removeJob takes it out of every structure.
    let remove = bee_load(&mut c, "removeJob").await;
    let keys = [
        "succeeded",
        "failed",
        "waiting",
        "active",
        "stalling",
        "jobs",
        "delayed",
    ]
    .map(k);
    let mut args = vec!["EVALSHA", remove.as_str(), "7"];
    args.extend(keys.iter().map(String::as_str));
    args.push(&crashed);
    assert_eq!(c.cmd(&args).await, nil());
    assert_eq!(c.cmd(&["LLEN", &k("waiting")]).await, int(0));
    assert_eq!(c.cmd(&["HEXISTS", &k("jobs"), &crashed]).await, int(0));
    // raiseDelayedJobs moves due jobs from the delayed set to waiting.
    // (addDelayedJob itself PUBLISHes, which redynamo has not yet.)
    let raise = bee_load(&mut c, "raiseDelayedJobs").await;
    c.cmd(&[
        "ZADD",
        &k("delayed"),
        "100",
        "d1",
        "200",
        "d2",
        "5000",
        "d3",
    ])
    .await;
    let raised = c
        .cmd(&[
            "EVALSHA",
            &raise,
            "2",
            &k("delayed"),
            &k("waiting"),
            "1000",
            "5000",
        ])
        .await;
    assert_eq!(raised, arr([int(2), bulk("5000")]));
    assert_eq!(
        c.cmd(&["LRANGE", &k("waiting"), "0", "-1"]).await,
        arr([bulk("d2"), bulk("d1")])
    );
}

#[test]
fn fixtures_are_bee_queues_own() {
    // The vendored scripts keep their licence beside them.
    let dir = format!("{}/tests/fixtures/bee-queue", env!("CARGO_MANIFEST_DIR"));
    let licence = std::fs::read_to_string(format!("{dir}/LICENSE")).expect("LICENSE");
    assert!(licence.contains("MIT License"));
}
