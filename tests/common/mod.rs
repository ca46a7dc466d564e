//! The one test harness: a real server on a free port, a raw client, and the
//! services around them. Every test binary (and the benches that need a
//! server) declares `mod common;` and takes what it needs, usually with
//! `use common::*;`.
//!
//! - [`server`]: [`TestServer`], an in-process redynamo on 127.0.0.1 port 0
//!   over any backend ([`Backend::Memory`], or DynamoDB on moto), with any
//!   `Config`, an optional `/metrics` listener ([`metrics_config`]) and
//!   custom layers; stopped when dropped, so every test owns its server and
//!   tests run in parallel. [`TestServer::conn`] gives a `redis` crate
//!   connection (what an application sees), [`TestServer::raw`] a
//!   [`RawClient`].
//! - [`raw`]: [`RawClient`] writes bytes and reads whole replies, for
//!   byte-exact checks (error texts, RESP3 types, protocol errors,
//!   pipelining, inline commands), and counts the bytes it moves. Replies
//!   are the library's own [`Reply`](redynamo_layers::Reply), read with the
//!   library's own client-side parser (`redynamo::protocol::decode_reply`
//!   and `reply_len`): there is no second RESP parser in the tests.
//!   [`ReplyExt`] adds the accessors tests want (`text`, `int`, `items`).
//! - [`dynamo`]: moto (started once per test binary), the [`FaultProxy`]
//!   that counts and fails DynamoDB requests, and direct table reads.
//! - [`metrics`]: HTTP GET and the Prometheus text format ([`Scrape`]),
//!   INFO parsing.
//! - [`gate`]: a custom layer that holds chosen commands until the test
//!   lets them go (overload and drain tests).
//! - [`tools`]: `redis-cli`, `redis-benchmark` and a real `redis-server`.
//! - [`differential`]: redynamo beside `redis-server`, the same lines sent
//!   to both and their raw replies compared.
//!
//! # Missing services
//!
//! A test that needs moto or a Redis tool asks [`dynamo::moto`] or
//! [`tools::tool_available`] (through [`RedisServer::start`],
//! [`Pair::start`] …). Under `CI=true` a missing service panics: CI never
//! passes by skipping. Elsewhere the test prints a loud SKIPPING note
//! straight to stderr and returns. `scripts/test.sh` goes further: its
//! `skip_filter` leaves the test binaries of a missing service out of the
//! nextest run, so the summary counts them as skipped, not passed. A new
//! test binary that needs a service must be named in `skip_filter` (or
//! match one of its patterns: `differential*`, `dynamo_*`).
//!
//! Each test binary uses a different part of the harness, hence the one
//! `allow(dead_code)` below; test files must not repeat it (clippy rejects
//! a duplicated attribute).
#![allow(dead_code, unused_imports)]

pub mod differential;
pub mod dynamo;
pub mod gate;
pub mod metrics;
pub mod raw;
pub mod server;
pub mod tools;

pub use differential::*;
pub use dynamo::*;
pub use gate::*;
pub use metrics::*;
pub use raw::*;
pub use server::*;
pub use tools::*;

use std::future::Future;
use std::time::{Duration, Instant};

/// Commands that are in the command table but that nothing answers yet
/// (the memory store replies "not supported"). The README marks them;
/// `tests/server.rs` fails once one of them gets answered, so this list
/// and the README stay true.
pub const NOT_ANSWERED_YET: &[&str] = &[];

/// Bound on any single wait in a test (a reply, a connection, an HTTP
/// answer): long enough for a loaded CI machine, short enough that a hang
/// fails the test instead of the run.
pub const PATIENCE: Duration = Duration::from_secs(10);

/// Whether `CI=true`: a missing service must then fail, never skip.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

/// The one way a test meets a missing service: under `CI=true` it panics
/// (`how` says how to install it); elsewhere it prints a loud note straight
/// to the process's stderr (libtest captures `eprintln!` of passing tests,
/// and a skip must not go unseen) and the caller returns.
pub fn skip_missing(service: &str, how: &str) {
    if in_ci() {
        panic!("{service} is not available and CI=true: {how}. A missing service fails CI instead of skipping.");
    }
    use std::io::Write as _;
    let _ = writeln!(
        std::io::stderr(),
        "\n**********************************************************************\n\
         ** NOTE: {service} not found: SKIPPING this test. To run it, {how}.\n\
         **********************************************************************\n"
    );
}

/// A port nobody listens on now (taken from the OS and released), for a
/// process that must be told its port; servers in this process bind port 0.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Poll `check` every 10 ms until it returns true (how long that took) or
/// `limit` passes (None). For real-time behaviour of a real server (expiry,
/// a follower catching up), where pausing tokio's clock cannot reach.
pub async fn eventually<F, Fut>(limit: Duration, mut check: F) -> Option<Duration>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let start = Instant::now();
    loop {
        if check().await {
            return Some(start.elapsed());
        }
        if start.elapsed() >= limit {
            return None;
        }
        // A poll interval, not a wait for the behaviour under test.
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// [`eventually`], failing the test (naming `what`) after `limit`.
pub async fn wait_until<F, Fut>(what: &str, limit: Duration, check: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    eventually(limit, check)
        .await
        .unwrap_or_else(|| panic!("timed out after {limit:?} waiting until {what}"))
}
