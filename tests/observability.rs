//! `/metrics`, INFO, health endpoints and SLOWLOG, checked over real TCP and
//! real HTTP after real traffic: counters must move by exactly the traffic
//! sent, and INFO must agree with `/metrics`.

mod common;

use common::*;

const SETS_DB0: usize = 6;
const SETS_DB1: usize = 2;
const GET_HITS: usize = 3;
const GET_MISSES: usize = 2;
const BAD_INCRS: usize = 3;
const UNKNOWN: usize = 2;

fn commands(scrape: &Scrape, command: &str, outcome: &str) -> f64 {
    scrape.value(
        "redynamo_commands_total",
        &[("command", command), ("outcome", outcome)],
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_move_by_exactly_the_traffic_and_agree_with_info() {
    let server = TestServer::with_gate(metrics_config(), &Gate::default()).await;
    let mut c = server.raw().await;

    // The traffic: SETs in two databases (one with a TTL), GET hits and
    // misses, INCRs that fail with a Redis error, unknown commands and one
    // wrong-arity GET (both refused before running).
    for i in 0..SETS_DB0 - 1 {
        let (k, v) = (format!("key{i}"), format!("v{i}"));
        assert_eq!(c.cmd(&["SET", &k, &v]).await, Reply::ok());
    }
    assert_eq!(c.cmd(&["SET", "ttl", "x", "EX", "100"]).await, Reply::ok());
    for i in 0..GET_HITS {
        let k = format!("key{i}");
        assert_eq!(c.cmd(&["GET", &k]).await, Reply::bulk(format!("v{i}")));
    }
    for i in 0..GET_MISSES {
        let k = format!("missing{i}");
        assert_eq!(c.cmd(&["GET", &k]).await, Reply::Null);
    }
    for _ in 0..BAD_INCRS {
        assert_eq!(
            c.cmd(&["INCR", "key0"]).await,
            Reply::Error("ERR value is not an integer or out of range".into())
        );
    }
    for i in 0..UNKNOWN {
        let name = format!("NOSUCH{i}");
        let reply = c.cmd(&[&name, "a"]).await;
        assert!(
            reply.error_text().starts_with("ERR unknown command"),
            "{reply:?}"
        );
    }
    assert_eq!(
        c.cmd(&["GET"]).await,
        Reply::Error("ERR wrong number of arguments for 'get' command".into())
    );
    assert_eq!(c.cmd(&["SELECT", "1"]).await, Reply::ok());
    for i in 0..SETS_DB1 {
        let k = format!("one{i}");
        assert_eq!(c.cmd(&["SET", &k, "1"]).await, Reply::ok());
    }
    assert_eq!(c.cmd(&["DBSIZE"]).await, Reply::Integer(SETS_DB1 as i64));
    assert_eq!(c.cmd(&["SELECT", "0"]).await, Reply::ok());
    assert_eq!(c.cmd(&["DBSIZE"]).await, Reply::Integer(SETS_DB0 as i64));

    // INFO, then the scrape: nothing runs in between, so the two must
    // agree up to the INFO command itself.
    let before_info = c.received;
    let info_text = c.cmd(&["INFO", "all"]).await.text();
    let info_reply_bytes = c.received - before_info;
    let info = common::parse_info(&info_text);
    let m = server.scrape().await;

    // Exact counts by command and outcome.
    let sets = (SETS_DB0 + SETS_DB1) as f64;
    assert_eq!(commands(&m, "set", "ok"), sets);
    assert_eq!(commands(&m, "set", "error"), 0.0);
    assert_eq!(commands(&m, "get", "ok"), (GET_HITS + GET_MISSES) as f64);
    assert_eq!(commands(&m, "get", "rejected"), 1.0);
    assert_eq!(commands(&m, "incr", "error"), BAD_INCRS as f64);
    assert_eq!(commands(&m, "incr", "ok"), 0.0);
    assert_eq!(commands(&m, "unknown", "rejected"), UNKNOWN as f64);
    assert_eq!(commands(&m, "select", "ok"), 2.0);
    assert_eq!(commands(&m, "dbsize", "ok"), 2.0);
    assert_eq!(commands(&m, "info", "ok"), 1.0);
    for outcome in ["failure", "rejected"] {
        assert_eq!(commands(&m, "set", outcome), 0.0, "set {outcome}");
    }

    // The histogram counts every command that ran (not the refused ones).
    for (command, calls) in [
        ("set", sets),
        ("get", (GET_HITS + GET_MISSES) as f64),
        ("incr", BAD_INCRS as f64),
    ] {
        let labels = [("command", command)];
        let count = m.value("redynamo_command_duration_seconds_count", &labels);
        assert_eq!(count, calls, "{command} histogram count");
        let inf = m.value(
            "redynamo_command_duration_seconds_bucket",
            &[("command", command), ("le", "+Inf")],
        );
        assert_eq!(inf, calls, "{command} +Inf bucket");
        assert!(m.value("redynamo_command_duration_seconds_sum", &labels) > 0.0);
    }
    assert_eq!(
        m.types.get("redynamo_commands_total").map(String::as_str),
        Some("counter")
    );
    assert_eq!(
        m.types
            .get("redynamo_command_duration_seconds")
            .map(String::as_str),
        Some("histogram")
    );

    // INFO commandstats says the same, command by command.
    let stat = |name: &str| {
        parse_fields(
            info.get(&format!("cmdstat_{name}"))
                .unwrap_or_else(|| panic!("no cmdstat_{name} in INFO")),
        )
    };
    assert_eq!(stat("set")["calls"], sets.to_string());
    assert_eq!(stat("set")["failed_calls"], "0");
    assert_eq!(stat("get")["calls"], (GET_HITS + GET_MISSES).to_string());
    assert_eq!(stat("get")["rejected_calls"], "1");
    assert_eq!(stat("incr")["calls"], BAD_INCRS.to_string());
    assert_eq!(stat("incr")["failed_calls"], BAD_INCRS.to_string());
    let cmdstats: Vec<(&String, &String)> = info
        .iter()
        .filter(|(k, _)| k.starts_with("cmdstat_"))
        .collect();
    assert!(cmdstats.len() >= 5, "{cmdstats:?}");
    for (key, value) in cmdstats {
        let name = key.trim_start_matches("cmdstat_");
        let f = parse_fields(value);
        let num = |field: &str| f[field].parse::<f64>().expect("number");
        let ran: f64 = ["ok", "error", "failure"]
            .iter()
            .map(|o| commands(&m, name, o))
            .sum();
        assert_eq!(num("calls"), ran, "{name}: calls vs /metrics");
        assert_eq!(
            num("rejected_calls"),
            commands(&m, name, "rejected"),
            "{name}: rejected_calls vs /metrics"
        );
        assert_eq!(
            num("failed_calls"),
            commands(&m, name, "error") + commands(&m, name, "failure"),
            "{name}: failed_calls vs /metrics"
        );
    }
    // Unknown commands are not listed (Redis has no such command), but
    // /metrics counts them under the bounded label `unknown`.
    assert!(!info.keys().any(|k| k.starts_with("cmdstat_nosuch")));

    // errorstats: every error reply, refused commands included.
    let errors = (BAD_INCRS + UNKNOWN + 1).to_string();
    assert_eq!(parse_fields(&info["errorstat_ERR"])["count"], errors);
    let error_replies: f64 = info
        .iter()
        .filter(|(k, _)| k.starts_with("errorstat_"))
        .map(|(_, v)| parse_fields(v)["count"].parse::<f64>().expect("count"))
        .sum();
    let error_outcomes = m.sum("redynamo_commands_total", &[("outcome", "error")])
        + m.sum("redynamo_commands_total", &[("outcome", "rejected")])
        + m.sum("redynamo_commands_total", &[("outcome", "failure")]);
    assert_eq!(error_replies, error_outcomes);

    // Keyspace: per-db gauges equal DBSIZE and INFO keyspace.
    assert_eq!(m.value("redynamo_keys", &[("db", "0")]), SETS_DB0 as f64);
    assert_eq!(m.value("redynamo_keys", &[("db", "1")]), SETS_DB1 as f64);
    assert_eq!(m.value("redynamo_keys", &[("db", "2")]), 0.0);
    assert_eq!(m.value("redynamo_expiring_keys", &[("db", "0")]), 1.0);
    assert_eq!(m.value("redynamo_expiring_keys", &[("db", "1")]), 0.0);
    assert_eq!(info["db0"], "keys=6,expires=1,avg_ttl=0");
    assert_eq!(info["db1"], "keys=2,expires=0,avg_ttl=0");
    for (metric, field) in [
        ("redynamo_keyspace_hits_total", "keyspace_hits"),
        ("redynamo_keyspace_misses_total", "keyspace_misses"),
        ("redynamo_expired_keys_total", "expired_keys"),
        ("redynamo_evicted_keys_total", "evicted_keys"),
    ] {
        assert_eq!(
            m.value(metric, &[]).to_string(),
            info[field],
            "{metric} vs INFO {field}"
        );
    }
    assert!(m.value("redynamo_keyspace_hits_total", &[]) >= GET_HITS as f64);
    assert!(m.value("redynamo_keyspace_misses_total", &[]) >= GET_MISSES as f64);

    // Network bytes: exactly what this client wrote and read. INFO was
    // rendered before its own reply was written.
    assert_eq!(
        m.value("redynamo_net_input_bytes_total", &[]),
        c.sent as f64
    );
    assert_eq!(
        m.value("redynamo_net_output_bytes_total", &[]),
        c.received as f64
    );
    assert_eq!(info["total_net_input_bytes"], c.sent.to_string());
    assert_eq!(
        info["total_net_output_bytes"],
        (c.received - info_reply_bytes).to_string()
    );

    // Connections: one so far.
    assert_eq!(m.value("redynamo_connections_received_total", &[]), 1.0);
    assert_eq!(m.value("redynamo_connections_rejected_total", &[]), 0.0);
    assert_eq!(m.value("redynamo_connected_clients", &[]), 1.0);
    assert_eq!(info["connected_clients"], "1");
    assert_eq!(info["total_connections_received"], "1");
    assert_eq!(info["role"], "master");

    // Server-wide gauges.
    assert_eq!(m.value("redynamo_up", &[]), 1.0);
    assert_eq!(m.value("redynamo_ready", &[]), 1.0);
    assert!(m.value("redynamo_uptime_seconds", &[]) >= 0.0);
    assert!(m.value("process_resident_memory_bytes", &[]) > 0.0);
    for gauge in ["redynamo_connected_clients", "redynamo_keys", "redynamo_up"] {
        assert_eq!(m.types.get(gauge).map(String::as_str), Some("gauge"));
    }

    // A second client comes and goes: received counts it, connected
    // goes back to one.
    let mut other = server.raw().await;
    assert_eq!(other.cmd(&["PING"]).await, Reply::Simple("PONG".into()));
    let m = server.scrape().await;
    assert_eq!(m.value("redynamo_connections_received_total", &[]), 2.0);
    assert_eq!(m.value("redynamo_connected_clients", &[]), 2.0);
    drop(other);
    wait_until("the second client is unregistered", PATIENCE, || async {
        server
            .scrape()
            .await
            .value("redynamo_connected_clients", &[])
            == 1.0
    })
    .await;

    server.shutdown();
}

/// With no user layer over the in-memory store, the metrics layer times
/// runs of O(1) commands together (`redynamo_layers::metrics::timing`):
/// every command is still counted, its latency is settled before its reply
/// is sent, and no wait for the client is ever charged to a command.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn latencies_are_settled_before_replies_and_never_hold_the_wait_for_the_client() {
    let server = TestServer::with_config(metrics_config()).await;
    let metrics = server.metrics_addr();
    let mut c = server.raw().await;
    assert_eq!(c.cmd(&["SET", "k", "v"]).await, Reply::ok());
    // Idle between commands: 3 × 40 ms that belong to no command.
    for _ in 0..3 {
        tokio::time::sleep(std::time::Duration::from_millis(40)).await;
        assert_eq!(c.cmd(&["GET", "k"]).await, Reply::bulk("v"));
    }
    // A pipeline: 100 GETs in one write.
    for _ in 0..100 {
        c.send_cmd(&["GET", "k"]).await;
    }
    for _ in 0..100 {
        assert_eq!(c.read().await, Reply::bulk("v"));
    }
    // Scraped from another connection, right after the replies arrived:
    // every GET has its latency already.
    let (status, body) = http_get(metrics, "/metrics").await;
    assert_eq!(status, 200);
    let m = Scrape::parse(&body);
    let count = m.value(
        "redynamo_command_duration_seconds_count",
        &[("command", "get")],
    );
    assert_eq!(count, 103.0);
    assert_eq!(commands(&m, "get", "ok"), 103.0);
    let sum = m.value(
        "redynamo_command_duration_seconds_sum",
        &[("command", "get")],
    );
    // Had a wait been charged, the sum would hold at least 120 ms.
    assert!(sum < 0.06, "GET latency sum {sum} s holds a wait");
    let stats = c.info("commandstats").await;
    let get = parse_fields(&stats["cmdstat_get"]);
    assert_eq!(get["calls"], "103");
    assert!(
        get["usec"].parse::<u64>().expect("usec") < 60_000,
        "{get:?}"
    );
}

/// `--no-metrics-layer` (for measuring the layer, `benches/vs-redis.sh
/// --metrics-layer`) serves as usual and leaves the stack's commands
/// uncounted, as documented.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_metrics_layer_commands_run_uncounted() {
    let mut cfg = metrics_config();
    cfg.no_metrics_layer = true;
    cfg.slowlog_log_slower_than = 0;
    let server = TestServer::with_config(cfg).await;
    let mut c = server.raw().await;
    assert_eq!(c.cmd(&["SET", "k", "v"]).await, Reply::ok());
    assert_eq!(c.cmd(&["GET", "k"]).await, Reply::bulk("v"));
    let stats = c.info("commandstats").await;
    assert!(!stats.contains_key("cmdstat_get"), "{stats:?}");
    assert!(!stats.contains_key("cmdstat_set"), "{stats:?}");
    assert_eq!(c.cmd(&["SLOWLOG", "LEN"]).await, Reply::Integer(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_resetstat_restarts_info_but_not_prometheus_counters() {
    let server = TestServer::with_gate(metrics_config(), &Gate::default()).await;
    let mut c = server.raw().await;
    for _ in 0..4 {
        assert_eq!(c.cmd(&["SET", "k", "v"]).await, Reply::ok());
    }
    assert_eq!(c.cmd(&["CONFIG", "RESETSTAT"]).await, Reply::ok());
    assert_eq!(c.cmd(&["SET", "k", "v"]).await, Reply::ok());
    let info = c.info("commandstats").await;
    assert_eq!(parse_fields(&info["cmdstat_set"])["calls"], "1");
    // Prometheus counters are monotonic: a reset would look like a crash
    // to rate().
    let m = server.scrape().await;
    assert_eq!(commands(&m, "set", "ok"), 5.0);
    server.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_keys_are_counted() {
    let server = TestServer::with_gate(metrics_config(), &Gate::default()).await;
    let mut c = server.raw().await;
    assert_eq!(c.cmd(&["SET", "short", "x", "PX", "1"]).await, Reply::ok());
    // Active expiry (every 100 ms) or this lazy read removes it.
    let deadline = std::time::Instant::now() + common::PATIENCE;
    while c.cmd(&["EXISTS", "short"]).await != Reply::Integer(0) {
        assert!(
            std::time::Instant::now() < deadline,
            "the key never expired"
        );
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    let m = server.scrape().await;
    assert_eq!(m.value("redynamo_expired_keys_total", &[]), 1.0);
    assert_eq!(m.value("redynamo_keys", &[("db", "0")]), 0.0);
    let info = c.info("stats").await;
    assert_eq!(info["expired_keys"], "1");
    server.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_and_readiness_through_a_graceful_drain() {
    let mut cfg = metrics_config();
    // Long enough to observe the unready window, short enough for a test.
    cfg.shutdown_delay_ms = 1_000;
    let mut server = TestServer::with_gate(cfg, &Gate::default()).await;

    assert_eq!(
        http_get(server.metrics_addr(), "/healthz").await,
        (200, "ok\n".into())
    );
    assert_eq!(
        http_get(server.metrics_addr(), "/readyz").await,
        (200, "ready\n".into())
    );
    assert_eq!(http_get(server.metrics_addr(), "/nope").await.0, 404);

    let state = server.state().clone();
    let draining = tokio::spawn(async move { state.begin_shutdown().await });

    // Unready first, while the server still serves: a load balancer stops
    // sending new clients before any connection is closed.
    wait_until("/readyz answers 503", PATIENCE, || async {
        http_get(server.metrics_addr(), "/readyz").await == (503, "not ready\n".into())
    })
    .await;
    assert_eq!(http_get(server.metrics_addr(), "/healthz").await.0, 200);
    assert_eq!(server.scrape().await.value("redynamo_ready", &[]), 0.0);
    assert!(
        !server.state().shutdown.is_cancelled(),
        "the listener must stay open during --shutdown-delay-ms"
    );
    let mut late = server.raw().await;
    assert_eq!(late.cmd(&["PING"]).await, Reply::Simple("PONG".into()));

    // Then the listener closes and idle connections drain.
    tokio::time::timeout(common::PATIENCE, draining)
        .await
        .expect("begin_shutdown returns after the delay")
        .expect("no panic");
    assert!(late.is_closed().await, "idle client closed on drain");
    tokio::time::timeout(common::PATIENCE, server.serving())
        .await
        .expect("serve() returns")
        .expect("no panic");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slowlog_get_len_reset_and_config_set() {
    let mut cfg = metrics_config();
    cfg.slowlog_log_slower_than = 0;
    cfg.slowlog_max_len = 3;
    let server = TestServer::with_gate(cfg, &Gate::default()).await;
    let mut c = server.raw().await;
    assert_eq!(c.cmd(&["CLIENT", "SETNAME", "observer"]).await, Reply::ok());

    for i in 0..5 {
        let v = format!("{i}");
        assert_eq!(c.cmd(&["SET", "k", &v]).await, Reply::ok());
    }
    // Capped at the max length; newest first; each entry is
    // [id, unix time, micros, args, client addr, client name].
    assert_eq!(c.cmd(&["SLOWLOG", "LEN"]).await, Reply::Integer(3));
    let got = c.cmd(&["SLOWLOG", "GET", "2"]).await;
    let entries = got.items();
    assert_eq!(entries.len(), 2);
    // The newest is the SLOWLOG LEN above (logged once it finished).
    let newest = entries[0].items();
    assert_eq!(newest[0], Reply::Integer(5));
    assert_eq!(
        newest[3]
            .items()
            .iter()
            .map(Reply::text)
            .collect::<Vec<_>>(),
        ["SLOWLOG", "LEN"]
    );
    let set = entries[1].items();
    assert_eq!(set[0], Reply::Integer(4));
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64;
    assert!((set[1].int() - now).abs() <= 5, "timestamp {:?}", set[1]);
    assert!(set[2].int() >= 0);
    assert_eq!(
        set[3].items().iter().map(Reply::text).collect::<Vec<_>>(),
        ["SET", "k", "4"]
    );
    assert!(set[4].text().starts_with("127.0.0.1:"), "{:?}", set[4]);
    assert_eq!(set[5].text(), "observer");
    // -1 means all.
    assert_eq!(c.cmd(&["SLOWLOG", "GET", "-1"]).await.items().len(), 3);

    assert_eq!(c.cmd(&["SLOWLOG", "RESET"]).await, Reply::ok());
    // Only the RESET itself, logged after it ran.
    assert_eq!(c.cmd(&["SLOWLOG", "LEN"]).await, Reply::Integer(1));

    // CONFIG SET at run time: a threshold nothing reaches empties the flow.
    assert_eq!(
        c.cmd(&["CONFIG", "SET", "slowlog-log-slower-than", "10000000"])
            .await,
        Reply::ok()
    );
    let got = c.cmd(&["CONFIG", "GET", "slowlog-log-slower-than"]).await;
    assert_eq!(got.items()[1].text(), "10000000");
    assert_eq!(c.cmd(&["SLOWLOG", "RESET"]).await, Reply::ok());
    for _ in 0..3 {
        assert_eq!(c.cmd(&["GET", "k"]).await, Reply::bulk("4"));
    }
    assert_eq!(c.cmd(&["SLOWLOG", "LEN"]).await, Reply::Integer(0));
    // Negative disables it entirely.
    assert_eq!(
        c.cmd(&["CONFIG", "SET", "slowlog-log-slower-than", "-1"])
            .await,
        Reply::ok()
    );
    assert_eq!(c.cmd(&["SLOWLOG", "LEN"]).await, Reply::Integer(0));
    // Back to 0 and a smaller max length.
    assert_eq!(
        c.cmd(&[
            "CONFIG",
            "SET",
            "slowlog-log-slower-than",
            "0",
            "slowlog-max-len",
            "1"
        ])
        .await,
        Reply::ok()
    );
    for _ in 0..3 {
        assert_eq!(c.cmd(&["GET", "k"]).await, Reply::bulk("4"));
    }
    assert_eq!(c.cmd(&["SLOWLOG", "LEN"]).await, Reply::Integer(1));
    server.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slowlog_never_shows_a_password() {
    let mut cfg = metrics_config();
    cfg.slowlog_log_slower_than = 0;
    let server = TestServer::with_gate(cfg, &Gate::default()).await;
    let mut c = server.raw().await;
    assert_eq!(
        c.cmd(&["CONFIG", "SET", "requirepass", "s3cret-pw"]).await,
        Reply::ok()
    );
    assert_eq!(c.cmd(&["AUTH", "s3cret-pw"]).await, Reply::ok());
    let all = c.cmd(&["SLOWLOG", "GET", "-1"]).await;
    let flat = format!("{all:?}");
    assert!(!flat.contains("s3cret-pw"), "password in SLOWLOG: {flat}");
    let config_set = all
        .items()
        .iter()
        .map(|e| {
            e.items()[3]
                .items()
                .iter()
                .map(Reply::text)
                .collect::<Vec<_>>()
        })
        .find(|args| args[0].eq_ignore_ascii_case("config"))
        .expect("CONFIG SET is logged");
    assert_eq!(config_set, ["CONFIG", "SET", "requirepass", "(redacted)"]);
    server.shutdown();
}

/// promtool, if this machine has it (scripts/check-deploy.sh unpacks it
/// into `.venv-deploy/bin`).
fn promtool() -> Option<std::path::PathBuf> {
    let on_path = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default();
    on_path
        .into_iter()
        .chain([
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv-deploy/bin"),
            std::path::PathBuf::from("/usr/bin"),
        ])
        .map(|dir| dir.join("promtool"))
        .find(|p| p.is_file())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scrape_passes_promtool_check_metrics() {
    let Some(promtool) = promtool() else {
        assert_ne!(
            std::env::var("CI").as_deref(),
            Ok("true"),
            "promtool is missing under CI: scripts/check-deploy.sh installs it"
        );
        eprintln!("SKIPPED: no promtool (run scripts/check-deploy.sh to install it)");
        return;
    };
    let server = TestServer::with_gate(metrics_config(), &Gate::default()).await;
    let mut c = server.raw().await;
    assert_eq!(c.cmd(&["SET", "k", "v"]).await, Reply::ok());
    assert_eq!(c.cmd(&["GET", "k"]).await, Reply::bulk("v"));
    assert!(c
        .cmd(&["NOSUCH"])
        .await
        .error_text()
        .starts_with("ERR unknown"));
    let (status, body) = http_get(server.metrics_addr(), "/metrics").await;
    assert_eq!(status, 200);
    server.shutdown();

    // Prometheus' own parser and linter: format, TYPE and HELP lines,
    // naming conventions (`_total` counters, base units).
    let mut child = std::process::Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run promtool");
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().expect("stdin");
        stdin.write_all(body.as_bytes()).expect("feed the scrape");
    }
    let out = child.wait_with_output().expect("promtool finishes");
    assert!(
        out.status.success(),
        "promtool check metrics: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
