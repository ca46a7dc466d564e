//! The Redis tools from Debian's `redis-tools` and `redis-server`:
//! `redis-cli` and `redis-benchmark` run against a test server, and a real
//! `redis-server` on a free port for the differential and fidelity tests.
//! A missing tool skips through [`skip_missing`](super::skip_missing) (a
//! failure under `CI=true`).

use std::net::SocketAddr;
use std::process::Output;
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::process::{Child, Command};

use super::{free_port, skip_missing};

/// Whether the external `tool` (redis-cli, redis-benchmark, redis-server)
/// can run; when not, see [`skip_missing`](super::skip_missing).
pub fn tool_available(tool: &str) -> bool {
    let found = std::process::Command::new(tool)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        skip_missing(
            &format!("`{tool}`"),
            "install Debian's redis-tools and redis-server (`apt-get install -y redis-tools redis-server`), or run scripts/test.sh, which installs them",
        );
    }
    found
}

/// Run `tool` with `args` (and `stdin`), with a time limit; the process is
/// killed if the test gives up on it.
pub async fn run_tool(tool: &str, args: &[&str], stdin: Option<&[u8]>) -> Output {
    let mut cmd = Command::new(tool);
    cmd.args(args)
        .stdin(if stdin.is_some() {
            std::process::Stdio::piped()
        } else {
            std::process::Stdio::null()
        })
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true);
    let mut child = cmd.spawn().unwrap_or_else(|e| panic!("spawn {tool}: {e}"));
    if let Some(input) = stdin {
        let mut pipe = child.stdin.take().expect("piped stdin");
        pipe.write_all(input)
            .await
            .expect("write to the tool's stdin");
        drop(pipe);
    }
    tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("{tool} {args:?} did not finish within 60 s"))
        .unwrap_or_else(|e| panic!("{tool} failed to run: {e}"))
}

/// `redis-cli -p PORT args…`; panics unless it exits 0. Returns stdout.
pub async fn redis_cli(port: u16, args: &[&str]) -> String {
    redis_cli_stdin(port, args, None).await
}

/// `redis-cli -p PORT args…` with `stdin`; panics unless it exits 0.
pub async fn redis_cli_stdin(port: u16, args: &[&str], stdin: Option<&[u8]>) -> String {
    let port = port.to_string();
    let mut all = vec!["-h", "127.0.0.1", "-p", &port];
    all.extend_from_slice(args);
    let out = run_tool("redis-cli", &all, stdin).await;
    assert!(
        out.status.success(),
        "redis-cli {args:?} failed: {}\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A `redis-server` on a free port, killed when dropped.
pub struct RedisServer {
    addr: SocketAddr,
    child: Option<Child>,
    /// The arguments it was started with beyond the defaults (kept for
    /// [`RedisServer::restart`]).
    extra: Vec<String>,
}

impl RedisServer {
    /// None (after a loud note) when redis-server is missing outside CI.
    pub async fn start() -> Option<RedisServer> {
        RedisServer::start_with(&[]).await
    }

    /// The same with more arguments (`--aclfile f`, TLS options …); those
    /// before the first `--option` (a config file, which must come first)
    /// go before the port.
    pub async fn start_with(extra: &[&str]) -> Option<RedisServer> {
        if !tool_available("redis-server") {
            return None;
        }
        // Take a free port from the OS, release it, and hand it to
        // redis-server; retry on the rare race with another process.
        for _ in 0..5 {
            let port = free_port();
            let extra: Vec<String> = extra.iter().map(|a| a.to_string()).collect();
            if let Some(child) = RedisServer::spawn(port, &extra).await {
                return Some(RedisServer {
                    addr: ([127, 0, 0, 1], port).into(),
                    child: Some(child),
                    extra,
                });
            }
        }
        panic!("redis-server did not start listening");
    }

    /// redis-server on `port`, once it accepts connections.
    async fn spawn(port: u16, extra: &[String]) -> Option<Child> {
        let options = extra
            .iter()
            .position(|a| a.starts_with("--"))
            .unwrap_or(extra.len());
        let (first, rest) = extra.split_at(options);
        let mut child = Command::new("redis-server")
            .args(first)
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--databases", "16"])
            .args(rest)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("spawn redis-server");
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while tokio::time::Instant::now() < deadline {
            if tokio::net::TcpStream::connect(addr).await.is_ok() {
                return Some(child);
            }
            if child.try_wait().ok().flatten().is_some() {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        None
    }

    /// Kill the server (its port stays this server's, for
    /// [`RedisServer::restart`]).
    pub async fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill().await;
        }
    }

    /// Start it again on the same port (empty: it saves nothing).
    pub async fn restart(&mut self) {
        self.kill().await;
        for _ in 0..50 {
            if let Some(child) = RedisServer::spawn(self.addr.port(), &self.extra).await {
                self.child = Some(child);
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("redis-server did not restart on {}", self.addr);
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `redis://127.0.0.1:PORT`, for `--upstream`.
    pub fn url(&self) -> String {
        format!("redis://{}", self.addr)
    }
}
