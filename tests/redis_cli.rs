//! The real `redis-cli` and `redis-benchmark` (Debian's redis-tools)
//! against the server. Without the tools these tests fail under `CI=true`
//! and skip loudly elsewhere (see `common::tool_available`).

// A test fails by panicking: unwrap is the point here, not a shortcut.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use redynamo::config::Config;

#[tokio::test]
async fn set_and_get() {
    if !tool_available("redis-cli") {
        return;
    }
    let server = TestServer::start().await;
    let port = server.port();
    // Not a TTY: redis-cli prints raw replies.
    assert_eq!(redis_cli(port, &["SET", "k", "hello world"]).await, "OK\n");
    assert_eq!(redis_cli(port, &["GET", "k"]).await, "hello world\n");
    assert_eq!(redis_cli(port, &["INCR", "n"]).await, "1\n");
    assert_eq!(redis_cli(port, &["GET", "nokey"]).await, "\n");
    assert_eq!(redis_cli(port, &["PING"]).await, "PONG\n");
    // -n selects a database.
    assert_eq!(
        redis_cli(port, &["-n", "3", "SET", "k", "db3"]).await,
        "OK\n"
    );
    assert_eq!(redis_cli(port, &["-n", "3", "GET", "k"]).await, "db3\n");
    assert_eq!(redis_cli(port, &["GET", "k"]).await, "hello world\n");
    // -x reads the last argument from stdin.
    assert_eq!(
        redis_cli_stdin(port, &["-x", "SET", "fromstdin"], Some(b"piped\n")).await,
        "OK\n"
    );
    assert_eq!(redis_cli(port, &["GET", "fromstdin"]).await, "piped\n\n");
}

#[tokio::test]
async fn no_raw_output() {
    if !tool_available("redis-cli") {
        return;
    }
    let server = TestServer::start().await;
    let port = server.port();
    let cli = |args: &'static [&'static str]| async move {
        let mut all = vec!["--no-raw"];
        all.extend_from_slice(args);
        redis_cli(port, &all).await
    };
    assert_eq!(cli(&["SET", "k", "v"]).await, "OK\n");
    assert_eq!(cli(&["GET", "k"]).await, "\"v\"\n");
    assert_eq!(cli(&["GET", "nokey"]).await, "(nil)\n");
    assert_eq!(cli(&["INCR", "n"]).await, "(integer) 1\n");
    assert_eq!(cli(&["MGET", "k", "nokey"]).await, "1) \"v\"\n2) (nil)\n");
    assert_eq!(
        cli(&["INCR", "k"]).await,
        "(error) ERR value is not an integer or out of range\n"
    );
    assert_eq!(
        cli(&["SET", "k"]).await,
        "(error) ERR wrong number of arguments for 'set' command\n"
    );
    assert_eq!(cli(&["EXPIRE", "nokey", "10"]).await, "(integer) 0\n");
    // RESP3 through redis-cli -3
    let mut args = vec!["-3", "--no-raw", "CONFIG", "GET", "databases"];
    let out = redis_cli(port, &args).await;
    assert_eq!(out, "1# \"databases\" => \"16\"\n");
    args.truncate(2);
    args.extend(["GET", "nokey"]);
    assert_eq!(redis_cli(port, &args).await, "(nil)\n");
}

#[tokio::test]
async fn command_docs_info_and_scan() {
    if !tool_available("redis-cli") {
        return;
    }
    let server = TestServer::start().await;
    let port = server.port();
    let docs = redis_cli(port, &["COMMAND", "DOCS", "get"]).await;
    let lines: Vec<&str> = docs.lines().collect();
    assert_eq!(lines[0], "get");
    assert!(
        lines.contains(&"summary") && lines.contains(&"arguments"),
        "{docs}"
    );
    assert!(
        lines.contains(&"Returns the string value of a key."),
        "{docs}"
    );
    let info = redis_cli(port, &["INFO", "server"]).await;
    assert!(info.contains("redis_version:7.2.4"), "{info}");
    assert!(info.contains(&format!("tcp_port:{port}")), "{info}");
    // --scan drives SCAN to the end.
    let keys: Vec<String> = (0..250).map(|i| format!("key:{i}")).collect();
    let mut mset = vec!["MSET"];
    for k in &keys {
        mset.push(k);
        mset.push("v");
    }
    assert_eq!(redis_cli(port, &mset).await, "OK\n");
    assert_eq!(redis_cli(port, &["SET", "other", "v"]).await, "OK\n");
    let scanned = redis_cli(port, &["--scan", "--pattern", "key:*"]).await;
    let mut got: Vec<&str> = scanned.lines().collect();
    got.sort();
    let mut want: Vec<&str> = keys.iter().map(String::as_str).collect();
    want.sort();
    assert_eq!(got, want);
}

#[tokio::test]
async fn commands_from_stdin_and_pipe_mode() {
    if !tool_available("redis-cli") {
        return;
    }
    let server = TestServer::start().await;
    let port = server.port();
    // One command per line on stdin, as a shell script would send them.
    let out = redis_cli_stdin(port, &[], Some(b"SET a \"b c\"\nGET a\nINCR n\nINCR n\n")).await;
    assert_eq!(out, "OK\nb c\n1\n2\n");
    // --pipe: raw RESP, mass insertion.
    let mut input = Vec::new();
    for i in 0..1000 {
        input.extend(encode_str(&["SET", &format!("mass:{i}"), &i.to_string()]));
    }
    input.extend(encode_str(&["INCRBY", "mass:total", "1000"]));
    let out = redis_cli_stdin(port, &["--pipe"], Some(&input)).await;
    assert!(out.contains("errors: 0, replies: 1001"), "{out}");
    assert_eq!(redis_cli(port, &["GET", "mass:999"]).await, "999\n");
    assert_eq!(
        redis_cli(port, &["DBSIZE"]).await,
        "1003\n",
        "a, n and 1001 mass keys"
    );
    // Errors are counted, not hidden, and make redis-cli exit non-zero.
    let bad = encode_str(&["INCR", "mass:1", "extra"]);
    let port = port.to_string();
    let args = ["-h", "127.0.0.1", "-p", &port, "--pipe"];
    let out = run_tool("redis-cli", &args, Some(&bad)).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("errors: 1, replies: 1"), "{stdout}");
    assert!(!out.status.success());
}

#[tokio::test]
async fn password_protected_server() {
    if !tool_available("redis-cli") {
        return;
    }
    let mut config = Config::for_tests();
    config.requirepass = Some("pw".into());
    let server = TestServer::with_config(config).await;
    let port = server.port();
    // Raw mode prints an error reply followed by an empty line, as it does
    // against Redis.
    assert_eq!(
        redis_cli(port, &["GET", "k"]).await,
        "NOAUTH Authentication required.\n\n"
    );
    let auth = ["-a", "pw", "--no-auth-warning"];
    let with = |args: &[&'static str]| -> Vec<&'static str> {
        auth.iter().copied().chain(args.iter().copied()).collect()
    };
    assert_eq!(redis_cli(port, &with(&["SET", "k", "v"])).await, "OK\n");
    assert_eq!(redis_cli(port, &with(&["GET", "k"])).await, "v\n");
}

/// One line of `redis-benchmark -q` output: `SET: 123.4 requests per second, …`.
fn rps(output: &str, test: &str) -> Option<f64> {
    output
        .split(['\r', '\n'])
        .map(str::trim)
        .filter(|l| l.starts_with(&format!("{test}: ")) && l.contains("requests per second"))
        .filter_map(|l| l[test.len() + 2..].split(' ').next()?.parse::<f64>().ok())
        .next_back()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_benchmark_runs_without_errors() {
    if !tool_available("redis-benchmark") {
        return;
    }
    let server = TestServer::start().await;
    let port = server.port().to_string();
    let out = run_tool(
        "redis-benchmark",
        &[
            "-h",
            "127.0.0.1",
            "-p",
            &port,
            "-t",
            "set,get,incr,mset,ping",
            "-P",
            "16",
            "-q",
            "-n",
            "20000",
        ],
        None,
    )
    .await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    // Keep the numbers in the test log.
    eprintln!("redis-benchmark:\n{}", stdout.replace('\r', "\n"));
    assert!(out.status.success(), "redis-benchmark failed: {stderr}");
    for bad in ["ERR", "Error", "error", "WRONGTYPE", "NOAUTH"] {
        assert!(
            !stdout.contains(bad) && !stderr.contains(bad),
            "redis-benchmark reported {bad:?}:\n{stdout}\n{stderr}"
        );
    }
    for test in [
        "PING_INLINE",
        "PING_MBULK",
        "SET",
        "GET",
        "INCR",
        "MSET (10 keys)",
    ] {
        let r = rps(&stdout, test).unwrap_or_else(|| panic!("no result for {test}:\n{stdout}"));
        assert!(r > 0.0, "{test}: {r} requests per second");
    }
    // The benchmark's writes really happened: INCR ran 20000 times.
    let mut c = server.raw().await;
    assert_eq!(c.cmd(&["GET", "counter:__rand_int__"]).await, bulk("20000"));
    assert!(c.cmd(&["DBSIZE"]).await.int() >= 2);
}
