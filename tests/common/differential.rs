//! The differential tests' harness: a real `redis-server` beside a
//! redynamo test server, the same lines sent to both, and the comparison of
//! their raw replies (with the tolerance time needs: TTL-like integers may
//! differ by what the time between the two servers explains).
//!
//! Each differential test file (one per command group) uses part of it.
//! `DIFF_SEED=n` replays one seed of a random test, `DIFF_SEEDS=n` runs
//! seeds `0..n` ([`seeds`]).

use std::time::{SystemTime, UNIX_EPOCH};

use super::raw::{encode, parse_reply, RawClient, Reply};
use super::server::TestServer;
use super::tools::RedisServer;

/// One redynamo and one redis-server, a connection to each.
pub struct Pair {
    ours: RawClient,
    theirs: RawClient,
    _redis: RedisServer,
    /// The redis-server behind a proxy under test (`DIFF_UPSTREAM=1`).
    _upstream: Option<RedisServer>,
    _server: TestServer,
}

impl Pair {
    /// None (after a loud note) when redis-server is missing outside CI.
    ///
    /// With `DIFF_UPSTREAM=1`, "ours" is redynamo as a caching proxy in
    /// front of a second redis-server (`--backend redis`), so every
    /// differential suite also checks the proxy:
    /// `DIFF_UPSTREAM=1 cargo nextest run --test 'differential*'`.
    pub async fn start() -> Option<Pair> {
        if std::env::var("DIFF_UPSTREAM").is_ok_and(|v| v == "1") {
            return Pair::start_upstream().await;
        }
        Pair::start_with(redynamo::config::Config::for_tests(), &[]).await
    }

    /// The same with redynamo's `config` and redis-server's `redis_args`
    /// (an `--aclfile` for each, say).
    pub async fn start_with(config: redynamo::config::Config, redis_args: &[&str]) -> Option<Pair> {
        let redis = RedisServer::start_with(redis_args).await?;
        let server = TestServer::with_config(config).await;
        Some(Pair {
            ours: server.raw().await,
            theirs: RawClient::connect(redis.addr()).await,
            _redis: redis,
            _upstream: None,
            _server: server,
        })
    }

    /// redynamo as a proxy in front of one redis-server, compared with
    /// another.
    pub async fn start_upstream() -> Option<Pair> {
        let redis = RedisServer::start().await?;
        let upstream = RedisServer::start().await?;
        let server = TestServer::upstream(&upstream, |_| {}).await;
        Some(Pair {
            ours: server.raw().await,
            theirs: RawClient::connect(redis.addr()).await,
            _redis: redis,
            _upstream: Some(upstream),
            _server: server,
        })
    }

    /// Send `args` to both; the raw replies, (redynamo, redis-server).
    pub async fn both(&mut self, args: &[Vec<u8>]) -> (Vec<u8>, Vec<u8>) {
        let refs: Vec<&[u8]> = args.iter().map(|a| a.as_slice()).collect();
        let frame = encode(&refs);
        self.theirs.send(&frame).await;
        let theirs = self.theirs.read_bytes().await;
        self.ours.send(&frame).await;
        let ours = self.ours.read_bytes().await;
        (ours, theirs)
    }

    /// Another connection to each, (redynamo, redis-server): a second
    /// client, to authenticate as another user.
    pub async fn connect(&self) -> (RawClient, RawClient) {
        (
            self._server.raw().await,
            RawClient::connect(self._redis.addr()).await,
        )
    }

    /// The connection to redynamo alone (for checks a byte comparison
    /// cannot make, e.g. of random replies).
    pub fn ours(&mut self) -> &mut RawClient {
        &mut self.ours
    }

    /// The connection to redis-server alone.
    pub fn theirs(&mut self) -> &mut RawClient {
        &mut self.theirs
    }

    /// Run `lines` in order from an empty keyspace; the first divergence
    /// (with the lines up to it), if any.
    pub async fn run(&mut self, lines: &[Vec<Vec<u8>>]) -> Result<(), String> {
        self.both(&line(&["flushall"])).await;
        self.both(&line(&["select", "0"])).await;
        for (i, args) in lines.iter().enumerate() {
            let (ours, theirs) = self.both(args).await;
            if !same_reply(args, &ours, &theirs) {
                let history: Vec<String> = lines[..=i].iter().map(|l| show(l)).collect();
                return Err(format!(
                    "step {i}: {}\n  redynamo:     {}\n  redis-server: {}\n  lines so far:\n    {}",
                    show(args),
                    String::from_utf8_lossy(&ours).escape_debug(),
                    String::from_utf8_lossy(&theirs).escape_debug(),
                    history.join("\n    ")
                ));
            }
        }
        Ok(())
    }
}

pub fn line(parts: &[&str]) -> Vec<Vec<u8>> {
    parts.iter().map(|p| p.as_bytes().to_vec()).collect()
}

/// A line from words separated by single spaces.
pub fn words(s: &str) -> Vec<Vec<u8>> {
    s.split(' ').map(|w| w.as_bytes().to_vec()).collect()
}

/// The seeds a random test runs: `DIFF_SEED=n` alone, `DIFF_SEEDS=n` for
/// `0..n`, else `default`.
pub fn seeds(default: std::ops::Range<u64>) -> Vec<u64> {
    let var = |name| std::env::var(name).ok().and_then(|s| s.parse::<u64>().ok());
    match (var("DIFF_SEED"), var("DIFF_SEEDS")) {
        (Some(seed), _) => vec![seed],
        (None, Some(n)) => (0..n).collect(),
        (None, None) => default.collect(),
    }
}

pub fn show(args: &[Vec<u8>]) -> String {
    let words: Vec<String> = args
        .iter()
        .map(|a| {
            let s = String::from_utf8_lossy(a);
            if s.len() > 60 {
                format!("{:?}…({} bytes)", &s[..40], a.len())
            } else {
                format!("{s:?}")
            }
        })
        .collect();
    words.join(" ")
}

/// Unix milliseconds now.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_millis() as u64
}

/// A whole second a day from now: the base of every absolute deadline,
/// so that those never come near the relative ones (at most an hour).
pub fn day_ahead() -> u64 {
    (now_ms() / 1000 + 86_400) * 1000
}

/// Equal replies, or TTL-like integers within the tolerance that the time
/// between the two servers explains (see the module docs).
pub fn same_reply(args: &[Vec<u8>], ours: &[u8], theirs: &[u8]) -> bool {
    if ours == theirs {
        return true;
    }
    let name = String::from_utf8_lossy(&args[0]).to_ascii_lowercase();
    let (tolerance, relative_only) = match name.as_str() {
        "ttl" => (1, false),
        "pttl" => (500, false),
        "expiretime" => (1, true),
        "pexpiretime" => (500, true),
        _ => return false,
    };
    let int = |b: &[u8]| match parse_reply(b) {
        Ok(Some((Reply::Integer(n), _))) => Some(n),
        _ => None,
    };
    let (Some(a), Some(b)) = (int(ours), int(theirs)) else {
        return false;
    };
    if a < 0 || b < 0 {
        return false;
    }
    if relative_only {
        // Relative deadlines are within an hour of now; absolute ones a day
        // ahead, and those must be equal.
        let hour_ahead_ms = (now_ms() + 3_600_000) as i64;
        let limit = if name == "expiretime" {
            hour_ahead_ms / 1000
        } else {
            hour_ahead_ms
        };
        if a > limit || b > limit {
            return false;
        }
    }
    (a - b).abs() <= tolerance
}

/// The outcome of a differential test's seeded runs: how many commands
/// ran, and the seeds whose sequences diverged (with how to replay them).
#[derive(Default)]
pub struct Divergences {
    ran: usize,
    failures: Vec<String>,
}

impl Divergences {
    /// One seed's run of `commands` commands and its outcome.
    pub fn record(&mut self, seed: u64, commands: usize, outcome: Result<(), String>) {
        self.ran += commands;
        if let Err(report) = outcome {
            self.failures.push(format!(
                "seed {seed} (DIFF_SEED={seed} to replay): {report}"
            ));
        }
    }

    /// Fail unless something ran and no sequence diverged.
    pub fn assert_none(self) {
        assert!(self.ran > 0, "no command ran");
        assert!(
            self.failures.is_empty(),
            "{} of the sequences diverged:\n\n{}",
            self.failures.len(),
            self.failures.join("\n\n")
        );
    }
}
