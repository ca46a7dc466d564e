//! The black-box test harness: a real server on a free port, and three ways
//! to talk to it.
//!
//! - [`TestServer`] starts an in-process server (`Config` plus optional
//!   custom layers) on 127.0.0.1 port 0 and cancels its shutdown token when
//!   dropped, so every test owns its server and tests run in parallel.
//! - [`TestServer::conn`] gives a `redis` crate connection: what an
//!   application sees.
//! - [`TestServer::raw`] gives a [`RawClient`] that writes bytes and reads
//!   whole replies, for byte-exact checks (error texts, RESP3 types,
//!   protocol errors, pipelining, inline commands).
//! - [`redis_cli`] and [`tool_available`] run Debian's `redis-cli` and
//!   `redis-benchmark`. A missing tool fails under `CI=true` and is a loud
//!   skip elsewhere.
//!
//! Each test binary uses a different part of this module.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::process::Output;
use std::sync::Arc;
use std::time::{Duration, Instant};

use redynamo::config::Config;
use redynamo::server::state::ServerState;
use redynamo::server::{Server, ServerBuilder};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::task::JoinHandle;

/// Commands that are in the command table but that nothing answers yet
/// (the memory store replies "not supported"). The README marks them;
/// `tests/server.rs` fails once one of them gets answered, so this list
/// and the README stay true.
pub const NOT_ANSWERED_YET: &[&str] = &[];

/// How long any single read in a test may take before the test fails. A
/// hang is a failure, not a stuck CI job.
pub const IO_TIMEOUT: Duration = Duration::from_secs(5);

/// An in-process server on a free port; stopped when dropped.
pub struct TestServer {
    addr: SocketAddr,
    state: Arc<ServerState>,
    task: Option<JoinHandle<()>>,
}

impl TestServer {
    /// A server with the test defaults (`Config::for_tests()`).
    pub async fn start() -> TestServer {
        TestServer::with_config(Config::for_tests()).await
    }

    /// A server whose store measures expiry against `clock` (a manual one:
    /// the test advances time instead of sleeping on it).
    pub async fn with_clock(clock: redynamo::util::clock::Clock) -> TestServer {
        TestServer::with_builder(Config::for_tests(), |b| b.clock(clock)).await
    }

    /// A server with `config` (its port is forced to 0).
    pub async fn with_config(config: Config) -> TestServer {
        TestServer::with_builder(config, |b| b).await
    }

    /// A server whose builder `customize` may add layers to.
    pub async fn with_builder(
        mut config: Config,
        customize: impl FnOnce(ServerBuilder) -> ServerBuilder,
    ) -> TestServer {
        config.port = 0;
        config.bind = [127, 0, 0, 1].into();
        let server = customize(Server::builder(config))
            .bind()
            .await
            .expect("bind a test server on a free port");
        let addr = server.local_addr();
        let state = server.state();
        let task = tokio::spawn(server.serve());
        TestServer {
            addr,
            state,
            task: Some(task),
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    pub fn state(&self) -> &Arc<ServerState> {
        &self.state
    }

    /// `redis://127.0.0.1:PORT/`.
    pub fn url(&self) -> String {
        format!("redis://{}/", self.addr)
    }

    /// A `redis` crate connection (its own TCP connection).
    pub async fn conn(&self) -> redis::aio::MultiplexedConnection {
        connect_url(&self.url()).await
    }

    /// A `redis` crate connection that authenticates as `default`.
    pub async fn conn_with_password(&self, password: &str) -> redis::aio::MultiplexedConnection {
        connect_url(&format!("redis://:{password}@{}/", self.addr)).await
    }

    /// A raw TCP client.
    pub async fn raw(&self) -> RawClient {
        RawClient::connect(self.addr).await
    }

    /// Cancel the shutdown token and wait until the server has finished.
    pub async fn stop(mut self) {
        self.state.shutdown.cancel();
        if let Some(task) = self.task.take() {
            tokio::time::timeout(Duration::from_secs(15), task)
                .await
                .expect("server stops within its shutdown timeout")
                .expect("server task did not panic");
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.state.shutdown.cancel();
    }
}

pub async fn connect_url(url: &str) -> redis::aio::MultiplexedConnection {
    let client = redis::Client::open(url).expect("valid redis URL");
    tokio::time::timeout(IO_TIMEOUT, client.get_multiplexed_async_connection())
        .await
        .expect("connect within the I/O timeout")
        .expect("redis crate connects")
}

/// The text a Redis client shows for an error reply from the `redis` crate:
/// `ERR syntax error`, `EXECABORT …`. Only for kinds that keep their code.
pub fn err_text(e: &redis::RedisError) -> String {
    format!("{} {}", e.code().unwrap_or("?"), e.detail().unwrap_or(""))
}

/// Poll `check` every few milliseconds until it returns true or `limit`
/// passes; returns whether it did. For real-time behaviour of a real server
/// (expiry), where pausing tokio's clock cannot reach.
pub async fn eventually<F, Fut>(limit: Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    loop {
        if check().await {
            return true;
        }
        if start.elapsed() >= limit {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

// ---------------------------------------------------------------------
// Raw RESP over TCP
// ---------------------------------------------------------------------

/// One parsed reply, RESP2 or RESP3, kept close to the wire so tests can
/// tell `$-1` from `*-1` from `_`.
#[derive(Clone, Debug, PartialEq)]
pub enum Resp {
    /// `+…`
    Simple(String),
    /// `-…`, the whole text after the `-`.
    Error(String),
    /// `:…`
    Int(i64),
    /// `$n …`
    Bulk(Vec<u8>),
    /// `$-1`
    NilBulk,
    /// `*-1`
    NilArray,
    /// `*n …`
    Array(Vec<Resp>),
    /// RESP3 `_`
    Null,
    /// RESP3 `%n …`
    Map(Vec<(Resp, Resp)>),
    /// RESP3 `~n …`
    Set(Vec<Resp>),
    /// RESP3 `,…`, as sent.
    Double(String),
    /// RESP3 `#t` / `#f`
    Bool(bool),
    /// RESP3 `=n fmt:…`: (format, text).
    Verbatim(String, Vec<u8>),
    /// RESP3 `(…`
    BigNumber(String),
    /// RESP3 `!n …`
    BlobError(Vec<u8>),
    /// RESP3 `>n …`
    Push(Vec<Resp>),
}

pub fn ok() -> Resp {
    Resp::Simple("OK".into())
}
pub fn simple(s: &str) -> Resp {
    Resp::Simple(s.into())
}
pub fn err(s: &str) -> Resp {
    Resp::Error(s.into())
}
pub fn int(n: i64) -> Resp {
    Resp::Int(n)
}
pub fn bulk(s: impl AsRef<[u8]>) -> Resp {
    Resp::Bulk(s.as_ref().to_vec())
}
pub fn nil() -> Resp {
    Resp::NilBulk
}
pub fn arr(items: impl IntoIterator<Item = Resp>) -> Resp {
    Resp::Array(items.into_iter().collect())
}
/// An array of bulk strings.
pub fn bulks(items: &[&str]) -> Resp {
    arr(items.iter().map(bulk))
}

impl Resp {
    /// The text of a bulk, simple or verbatim string.
    pub fn text(&self) -> String {
        match self {
            Resp::Simple(s) | Resp::Double(s) | Resp::BigNumber(s) => s.clone(),
            Resp::Bulk(b) | Resp::Verbatim(_, b) => String::from_utf8_lossy(b).into_owned(),
            other => panic!("expected a string reply, got {other:?}"),
        }
    }

    /// The text of a string reply; for anything else its kind, such as
    /// `<array>` (for scanning flat key/value lists).
    pub fn text_or_kind(&self) -> String {
        match self {
            Resp::Simple(_)
            | Resp::Double(_)
            | Resp::BigNumber(_)
            | Resp::Bulk(_)
            | Resp::Verbatim(..) => self.text(),
            Resp::Array(_) => "<array>".into(),
            Resp::Map(_) => "<map>".into(),
            other => format!("{other:?}"),
        }
    }

    pub fn int(&self) -> i64 {
        match self {
            Resp::Int(n) => *n,
            other => panic!("expected an integer reply, got {other:?}"),
        }
    }

    pub fn items(&self) -> &[Resp] {
        match self {
            Resp::Array(v) | Resp::Set(v) | Resp::Push(v) => v,
            other => panic!("expected an array reply, got {other:?}"),
        }
    }

    pub fn is_error(&self) -> bool {
        matches!(self, Resp::Error(_) | Resp::BlobError(_))
    }
}

/// Parse one reply from the front of `buf`: `Ok(None)` while incomplete,
/// `Ok(Some((reply, bytes used)))` once whole.
pub fn parse_reply(buf: &[u8]) -> Result<Option<(Resp, usize)>, String> {
    let Some(line_end) = find_crlf(buf) else {
        return Ok(None);
    };
    let kind = *buf.first().ok_or("empty")?;
    let line = std::str::from_utf8(&buf[1..line_end]).map_err(|e| e.to_string())?;
    let after = line_end + 2;
    let num = |s: &str| {
        s.parse::<i64>()
            .map_err(|e| format!("bad length {s:?}: {e}"))
    };
    let blob = |n: i64| -> Result<Option<(Vec<u8>, usize)>, String> {
        let n = usize::try_from(n).map_err(|_| "negative length")?;
        if buf.len() < after + n + 2 {
            return Ok(None);
        }
        if &buf[after + n..after + n + 2] != b"\r\n" {
            return Err(format!("blob of {n} bytes not followed by CRLF"));
        }
        Ok(Some((buf[after..after + n].to_vec(), after + n + 2)))
    };
    let many = |n: i64| -> Result<Option<(Vec<Resp>, usize)>, String> {
        let mut items = Vec::new();
        let mut at = after;
        for _ in 0..n {
            match parse_reply(&buf[at..])? {
                Some((item, used)) => {
                    items.push(item);
                    at += used;
                }
                None => return Ok(None),
            }
        }
        Ok(Some((items, at)))
    };
    Ok(Some(match kind {
        b'+' => (Resp::Simple(line.into()), after),
        b'-' => (Resp::Error(line.into()), after),
        b':' => (Resp::Int(num(line)?), after),
        b',' => (Resp::Double(line.into()), after),
        b'(' => (Resp::BigNumber(line.into()), after),
        b'_' if line.is_empty() => (Resp::Null, after),
        b'#' if line == "t" || line == "f" => (Resp::Bool(line == "t"), after),
        b'$' if line == "-1" => (Resp::NilBulk, after),
        b'*' if line == "-1" => (Resp::NilArray, after),
        b'$' => match blob(num(line)?)? {
            Some((b, used)) => (Resp::Bulk(b), used),
            None => return Ok(None),
        },
        b'!' => match blob(num(line)?)? {
            Some((b, used)) => (Resp::BlobError(b), used),
            None => return Ok(None),
        },
        b'=' => match blob(num(line)?)? {
            Some((b, used)) => {
                if b.len() < 4 || b[3] != b':' {
                    return Err(format!("verbatim string without a format: {b:?}"));
                }
                let fmt = String::from_utf8_lossy(&b[..3]).into_owned();
                (Resp::Verbatim(fmt, b[4..].to_vec()), used)
            }
            None => return Ok(None),
        },
        b'*' | b'~' | b'>' => match many(num(line)?)? {
            Some((items, used)) => match kind {
                b'*' => (Resp::Array(items), used),
                b'~' => (Resp::Set(items), used),
                _ => (Resp::Push(items), used),
            },
            None => return Ok(None),
        },
        b'%' => match many(num(line)? * 2)? {
            Some((items, used)) => {
                let mut pairs = Vec::new();
                let mut it = items.into_iter();
                while let (Some(k), Some(v)) = (it.next(), it.next()) {
                    pairs.push((k, v));
                }
                (Resp::Map(pairs), used)
            }
            None => return Ok(None),
        },
        other => return Err(format!("unknown reply type byte {:?}", other as char)),
    }))
}

fn find_crlf(buf: &[u8]) -> Option<usize> {
    buf.windows(2).position(|w| w == b"\r\n")
}

/// RESP encoding of a command line (a multibulk of bulk strings).
pub fn encode(args: &[&[u8]]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// RESP encoding of a command given as `&str` arguments.
pub fn encode_str(args: &[&str]) -> Vec<u8> {
    let args: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
    encode(&args)
}

/// A client that speaks bytes: write anything, read whole replies.
pub struct RawClient {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl RawClient {
    pub async fn connect(addr: SocketAddr) -> RawClient {
        let stream = tokio::time::timeout(IO_TIMEOUT, TcpStream::connect(addr))
            .await
            .expect("connect within the I/O timeout")
            .expect("TCP connect");
        stream.set_nodelay(true).expect("set TCP_NODELAY");
        RawClient {
            stream,
            buf: Vec::new(),
        }
    }

    /// Write `bytes` as they are.
    pub async fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.expect("write to server");
    }

    /// Try to write; false when the server has closed the connection.
    pub async fn try_send(&mut self, bytes: &[u8]) -> bool {
        self.stream.write_all(bytes).await.is_ok()
    }

    /// Send a command and read its reply.
    pub async fn cmd(&mut self, args: &[&str]) -> Resp {
        self.send(&encode_str(args)).await;
        self.read().await
    }

    /// Send a binary command and read its reply.
    pub async fn cmd_bin(&mut self, args: &[&[u8]]) -> Resp {
        self.send(&encode(args)).await;
        self.read().await
    }

    /// Send a command and return the exact bytes of its reply.
    pub async fn cmd_bytes(&mut self, args: &[&str]) -> Vec<u8> {
        self.send(&encode_str(args)).await;
        self.read_bytes().await
    }

    /// Read one whole reply.
    pub async fn read(&mut self) -> Resp {
        let bytes = self.read_bytes().await;
        parse_reply(&bytes)
            .expect("well-formed reply")
            .expect("whole reply")
            .0
    }

    /// Read one whole reply and return its exact bytes.
    pub async fn read_bytes(&mut self) -> Vec<u8> {
        tokio::time::timeout(IO_TIMEOUT, self.read_bytes_inner())
            .await
            .unwrap_or_else(|_| {
                panic!(
                    "no whole reply within {IO_TIMEOUT:?}; buffered: {:?}",
                    String::from_utf8_lossy(&self.buf)
                )
            })
    }

    async fn read_bytes_inner(&mut self) -> Vec<u8> {
        loop {
            match parse_reply(&self.buf) {
                Ok(Some((_, used))) => return self.buf.drain(..used).collect(),
                Ok(None) => {}
                Err(e) => panic!(
                    "malformed reply ({e}): {:?}",
                    String::from_utf8_lossy(&self.buf)
                ),
            }
            let mut chunk = [0u8; 16 * 1024];
            let n = self
                .stream
                .read(&mut chunk)
                .await
                .expect("read from server");
            assert!(
                n > 0,
                "server closed the connection; buffered: {:?}",
                String::from_utf8_lossy(&self.buf)
            );
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    /// Read exactly `n` bytes (for replies checked byte by byte).
    pub async fn read_exact(&mut self, n: usize) -> Vec<u8> {
        tokio::time::timeout(IO_TIMEOUT, async {
            while self.buf.len() < n {
                let mut chunk = [0u8; 16 * 1024];
                let got = self
                    .stream
                    .read(&mut chunk)
                    .await
                    .expect("read from server");
                assert!(
                    got > 0,
                    "server closed the connection after {} bytes",
                    self.buf.len()
                );
                self.buf.extend_from_slice(&chunk[..got]);
            }
            self.buf.drain(..n).collect()
        })
        .await
        .expect("bytes within the I/O timeout")
    }

    /// True when the server closes the connection (EOF or reset) within
    /// the I/O timeout without sending anything more.
    pub async fn is_closed(&mut self) -> bool {
        assert!(
            self.buf.is_empty(),
            "unread bytes before the expected close: {:?}",
            String::from_utf8_lossy(&self.buf)
        );
        let mut chunk = [0u8; 1024];
        match tokio::time::timeout(IO_TIMEOUT, self.stream.read(&mut chunk)).await {
            Ok(Ok(0)) | Ok(Err(_)) => true,
            Ok(Ok(n)) => panic!(
                "expected the connection to close, got {:?}",
                String::from_utf8_lossy(&chunk[..n])
            ),
            Err(_) => false,
        }
    }

    /// Nothing arrives within `wait` (for "the server is still waiting for
    /// the rest of the frame").
    pub async fn nothing_within(&mut self, wait: Duration) -> bool {
        if !self.buf.is_empty() {
            return false;
        }
        let mut chunk = [0u8; 1024];
        match tokio::time::timeout(wait, self.stream.read(&mut chunk)).await {
            Err(_) => true,
            Ok(Ok(n)) => {
                self.buf.extend_from_slice(&chunk[..n]);
                false
            }
            Ok(Err(_)) => false,
        }
    }

    pub fn into_stream(self) -> TcpStream {
        self.stream
    }
}

// ---------------------------------------------------------------------
// redis-cli and redis-benchmark
// ---------------------------------------------------------------------

/// Whether the external `tool` (redis-cli, redis-benchmark) can run. Under
/// `CI=true` a missing tool panics: CI must never pass by skipping. Locally
/// it prints a loud note and the caller skips.
pub fn tool_available(tool: &str) -> bool {
    let found = std::process::Command::new(tool)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        let how = "install Debian's redis-tools (`apt-get install -y redis-tools`), or run scripts/test.sh, which installs it";
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("{tool} is not installed and CI=true: {how}. A missing tool fails CI instead of skipping.");
        }
        // Straight to the process's stderr, not eprintln!: libtest captures
        // the output of passing tests, and a skip must not go unseen.
        use std::io::Write as _;
        let _ = writeln!(
            std::io::stderr(),
            "\n**********************************************************************\n\
             ** NOTE: `{tool}` not found: SKIPPING this test. To run it, {how}.\n\
             **********************************************************************\n"
        );
    }
    found
}

/// Run `tool` with `args` (and `stdin`), with a time limit; the process is
/// killed if the test gives up on it.
pub async fn run_tool(tool: &str, args: &[&str], stdin: Option<&[u8]>) -> Output {
    let mut cmd = tokio::process::Command::new(tool);
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
