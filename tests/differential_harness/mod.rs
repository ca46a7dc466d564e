//! The differential tests' harness: a real `redis-server` on a free port
//! beside a redynamo test server, the same lines sent to both, and the
//! comparison of their raw replies (with the tolerance time needs).
//!
//! Each differential test file (one per command group) uses part of it.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::common::{encode, parse_reply, tool_available, RawClient, Resp, TestServer};
use tokio::process::{Child, Command};

/// A `redis-server` on a free port, killed when dropped.
pub struct RedisServer {
    addr: SocketAddr,
    _child: Child,
}

impl RedisServer {
    pub async fn start() -> RedisServer {
        // Take a free port from the OS, release it, and hand it to
        // redis-server; retry on the rare race with another process.
        for _ in 0..5 {
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .expect("a free port")
                .port();
            let child = Command::new("redis-server")
                .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
                .args(["--save", "", "--appendonly", "no", "--databases", "16"])
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .kill_on_drop(true)
                .spawn()
                .expect("spawn redis-server");
            let addr: SocketAddr = ([127, 0, 0, 1], port).into();
            let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
            while tokio::time::Instant::now() < deadline {
                if tokio::net::TcpStream::connect(addr).await.is_ok() {
                    return RedisServer {
                        addr,
                        _child: child,
                    };
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        panic!("redis-server did not start listening");
    }
}

/// One redynamo and one redis-server, a connection to each.
pub struct Pair {
    ours: RawClient,
    theirs: RawClient,
    _redis: RedisServer,
    _server: TestServer,
}

impl Pair {
    /// None (after a loud note) when redis-server is missing outside CI.
    pub async fn start() -> Option<Pair> {
        if !tool_available("redis-server") {
            return None;
        }
        let server = TestServer::start().await;
        let redis = RedisServer::start().await;
        Some(Pair {
            ours: server.raw().await,
            theirs: RawClient::connect(redis.addr).await,
            _redis: redis,
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

    /// The connection to redynamo alone (for checks a byte comparison
    /// cannot make, e.g. of random replies).
    #[allow(dead_code)]
    pub fn ours(&mut self) -> &mut RawClient {
        &mut self.ours
    }

    /// The connection to redis-server alone.
    #[allow(dead_code)]
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
        Ok(Some((Resp::Int(n), _))) => Some(n),
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
