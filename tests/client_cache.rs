//! A real client library's client-side cache against redynamo: redis-py
//! (>= 5.1, `cache_config`, RESP3 CLIENT TRACKING) caches a value, another
//! connection changes the key, and the application's next read sees the
//! new value, because the invalidation push reached redis-py's cache. The
//! delay from the write to the first fresh read is printed.
//!
//! redis-py refuses to cache against a server reporting a version below
//! 7.4; the script lowers that policy check to 7.2 (redynamo's reported
//! version), see its comment.
//!
//! redis-py lives in `.venv-redis-py` (`scripts/install-redis-py.sh`); a
//! missing one is a skip outside CI and a failure under `CI=true`
//! ([`skip_missing`]).

// A test fails by panicking: unwrap is the point here, not a shortcut.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::PathBuf;

use common::*;

const SCRIPT: &str = r#"
import sys, time
import redis
from redis.cache import CacheConfig
from redis.connection import CacheProxyConnection

# redis-py refuses client-side caching with a server that reports a version
# below 7.4 (a policy check on HELLO's `version`, not a protocol need);
# redynamo reports Redis 7.2's. The protocol it needs (HELLO 3, CLIENT
# TRACKING ON, invalidate pushes) is 7.2's.
CacheProxyConnection.MIN_ALLOWED_VERSION = "7.2.0"

port = int(sys.argv[1])
app = redis.Redis(host="127.0.0.1", port=port, protocol=3, cache_config=CacheConfig())
other = redis.Redis(host="127.0.0.1", port=port)
other.set("greeting", "hello")
assert app.get("greeting") == b"hello"
# Served from the local cache now: the server sees no second GET.
before = other.info("commandstats").get("cmdstat_get", {}).get("calls", 0)
assert app.get("greeting") == b"hello"
after = other.info("commandstats").get("cmdstat_get", {}).get("calls", 0)
assert after == before, f"second GET reached the server ({before} -> {after})"
start = time.perf_counter()
other.set("greeting", "bonjour")
deadline = start + 5
while True:
    value = app.get("greeting")
    if value == b"bonjour":
        break
    assert time.perf_counter() < deadline, f"stale cached value {value!r} after 5 s"
    time.sleep(0.0005)
print(f"fresh after {(time.perf_counter() - start) * 1000:.2f} ms")
"#;

fn python() -> Option<PathBuf> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let py = root.join(".venv-redis-py/bin/python");
    if py.exists() {
        return Some(py);
    }
    skip_missing(
        "redis-py (>= 5.1) in .venv-redis-py",
        "run scripts/install-redis-py.sh",
    );
    None
}

#[tokio::test]
async fn redis_py_client_side_cache_sees_an_invalidation() {
    let Some(py) = python() else {
        return;
    };
    let server = TestServer::start().await;
    let out = tokio::time::timeout(
        PATIENCE,
        tokio::process::Command::new(py)
            .args(["-c", SCRIPT, &server.port().to_string()])
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("redis-py finished in time")
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "redis-py failed:\n{stdout}\n{stderr}");
    assert!(stdout.contains("fresh after"), "{stdout}");
    // The delay, for the report (a local write: well under a millisecond
    // plus Python's own time).
    eprintln!("redis-py cache: {}", stdout.trim());
}
