//! Helpers for the observability and overload tests: a server on port 0
//! with `/metrics` on port 0, a raw RESP client that counts the bytes it
//! moves, a raw HTTP GET, a parser for the Prometheus text format, and a
//! test layer that holds chosen commands until the test lets them go.
//!
//! Every test binary uses only part of this module.
#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use redynamo::config::Config;
use redynamo::server::state::ServerState;
use redynamo::server::Server;
use redynamo::stack::Stack;
use redynamo_layers::{BoxError, Reply, Request};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;
use tower::{Layer, Service};

/// Bound on every wait in these tests: long enough for a loaded CI
/// machine, short enough that a hang fails the test instead of the run.
pub const PATIENCE: Duration = Duration::from_secs(10);

/// A running server.
pub struct TestServer {
    pub addr: SocketAddr,
    pub metrics: SocketAddr,
    pub state: Arc<ServerState>,
    /// Completes when `serve()` returns.
    pub serving: JoinHandle<()>,
}

/// A config for tests: port 0, metrics on port 0.
pub fn config() -> Config {
    let mut config = Config::for_tests();
    config.metrics_addr = Some("127.0.0.1:0".parse().expect("address"));
    config
}

/// Start a server with the [`GateLayer`] of `gate` as its custom layer.
pub async fn start(config: Config, gate: &Gate) -> TestServer {
    let server = Server::builder(config)
        .layer(GateLayer(gate.clone()))
        .bind()
        .await
        .expect("bind");
    let addr = server.local_addr();
    let metrics = server.metrics_addr().expect("metrics address is set");
    let state = server.state();
    let serving = tokio::spawn(server.serve());
    TestServer {
        addr,
        metrics,
        state,
        serving,
    }
}

impl TestServer {
    pub async fn client(&self) -> RawClient {
        RawClient::connect(self.addr).await
    }

    pub async fn scrape(&self) -> Scrape {
        let (status, body) = http_get(self.metrics, "/metrics").await;
        assert_eq!(status, 200, "GET /metrics: {body}");
        Scrape::parse(&body)
    }

    pub fn stop(&self) {
        self.state.shutdown.cancel();
    }
}

/// Poll `check` until it holds, failing the test after [`PATIENCE`].
pub async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while !check().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting until {what}"
        );
        // A poll interval, not a wait for the behaviour under test.
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

// ---------------------------------------------------------------------------
// RESP

/// A reply as it came off the wire. Errors keep their full text.
#[derive(Clone, Debug, PartialEq)]
pub enum Resp {
    Simple(String),
    Error(String),
    Int(i64),
    Bulk(Option<Vec<u8>>),
    Array(Option<Vec<Resp>>),
}

impl Resp {
    pub fn ok() -> Resp {
        Resp::Simple("OK".into())
    }

    pub fn bulk(s: &str) -> Resp {
        Resp::Bulk(Some(s.as_bytes().to_vec()))
    }

    /// The text of a bulk or simple string.
    pub fn text(&self) -> String {
        match self {
            Resp::Simple(s) | Resp::Error(s) => s.clone(),
            Resp::Bulk(Some(b)) => String::from_utf8_lossy(b).into_owned(),
            other => panic!("not a string reply: {other:?}"),
        }
    }

    pub fn int(&self) -> i64 {
        match self {
            Resp::Int(n) => *n,
            other => panic!("not an integer reply: {other:?}"),
        }
    }

    pub fn array(&self) -> &[Resp] {
        match self {
            Resp::Array(Some(items)) => items,
            other => panic!("not an array reply: {other:?}"),
        }
    }
}

/// A RESP2 client over a plain socket, so tests see the exact wire text
/// and know exactly how many bytes they sent and received.
pub struct RawClient {
    io: BufReader<TcpStream>,
    pub sent: u64,
    pub received: u64,
}

impl RawClient {
    pub async fn connect(addr: SocketAddr) -> RawClient {
        let socket = tokio::time::timeout(PATIENCE, TcpStream::connect(addr))
            .await
            .expect("connect in time")
            .expect("connect");
        RawClient {
            io: BufReader::new(socket),
            sent: 0,
            received: 0,
        }
    }

    /// Write one command without reading its reply.
    pub async fn send(&mut self, args: &[&str]) {
        let mut buf = format!("*{}\r\n", args.len()).into_bytes();
        for a in args {
            buf.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
            buf.extend_from_slice(a.as_bytes());
            buf.extend_from_slice(b"\r\n");
        }
        self.io.get_mut().write_all(&buf).await.expect("write");
        self.sent += buf.len() as u64;
    }

    /// Read one reply, failing the test after [`PATIENCE`].
    pub async fn read(&mut self) -> Resp {
        tokio::time::timeout(PATIENCE, self.read_reply())
            .await
            .expect("a reply in time")
    }

    /// Send one command and read its reply.
    pub async fn call(&mut self, args: &[&str]) -> Resp {
        self.send(args).await;
        self.read().await
    }

    async fn line(&mut self) -> String {
        let mut line = String::new();
        let n = self.io.read_line(&mut line).await.expect("read");
        assert!(n > 0, "connection closed while a reply was expected");
        self.received += n as u64;
        assert!(line.ends_with("\r\n"), "unterminated line {line:?}");
        line.truncate(line.len() - 2);
        line
    }

    fn read_reply(&mut self) -> Pin<Box<dyn Future<Output = Resp> + Send + '_>> {
        Box::pin(async move {
            let line = self.line().await;
            let (kind, rest) = line.split_at(1);
            let n = || rest.parse::<i64>().expect("a length");
            match kind {
                "+" => Resp::Simple(rest.to_string()),
                "-" => Resp::Error(rest.to_string()),
                ":" => Resp::Int(n()),
                "$" if n() < 0 => Resp::Bulk(None),
                "$" => {
                    let mut data = vec![0; n() as usize + 2];
                    self.io.read_exact(&mut data).await.expect("bulk data");
                    self.received += data.len() as u64;
                    data.truncate(data.len() - 2);
                    Resp::Bulk(Some(data))
                }
                "*" if n() < 0 => Resp::Array(None),
                "*" => {
                    let mut items = Vec::new();
                    for _ in 0..n() {
                        items.push(self.read_reply().await);
                    }
                    Resp::Array(Some(items))
                }
                _ => panic!("unexpected reply line {line:?}"),
            }
        })
    }

    /// Whether the server has closed this connection (EOF within the
    /// patience bound; data instead of EOF fails the test).
    pub async fn closed_by_server(&mut self) -> bool {
        let mut byte = [0u8; 1];
        match tokio::time::timeout(PATIENCE, self.io.read(&mut byte)).await {
            Ok(Ok(0)) | Ok(Err(_)) => true,
            Ok(Ok(_)) => panic!("unexpected data {byte:?} on a connection expected to close"),
            Err(_) => false,
        }
    }

    /// INFO `section` as `name -> value`.
    pub async fn info(&mut self, section: &str) -> BTreeMap<String, String> {
        parse_info(&self.call(&["INFO", section]).await.text())
    }
}

/// `name:value` lines of an INFO reply.
pub fn parse_info(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.to_string(), v.trim_end().to_string()))
        .collect()
}

/// `calls=3,usec=10,...` as a map.
pub fn parse_fields(value: &str) -> BTreeMap<String, String> {
    value
        .split(',')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

// ---------------------------------------------------------------------------
// HTTP

/// `GET path` over a fresh connection: (status, body).
pub async fn http_get(addr: SocketAddr, path: &str) -> (u16, String) {
    let exchange = async {
        let mut socket = TcpStream::connect(addr).await?;
        let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
        socket.write_all(request.as_bytes()).await?;
        let mut raw = Vec::new();
        socket.read_to_end(&mut raw).await?;
        Ok::<_, std::io::Error>(raw)
    };
    let raw = tokio::time::timeout(PATIENCE, exchange)
        .await
        .expect("HTTP answer in time")
        .expect("HTTP exchange");
    let text = String::from_utf8(raw).expect("UTF-8 response");
    let (head, body) = text.split_once("\r\n\r\n").expect("HTTP head");
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status code");
    assert!(
        !head
            .to_ascii_lowercase()
            .contains("transfer-encoding: chunked"),
        "these helpers expect a Content-Length body"
    );
    (status, body.to_string())
}

// ---------------------------------------------------------------------------
// Prometheus text format

#[derive(Clone, Debug)]
pub struct Sample {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

/// One `/metrics` scrape.
#[derive(Clone, Debug)]
pub struct Scrape {
    pub samples: Vec<Sample>,
    /// `# TYPE` lines: metric family -> counter | gauge | histogram …
    pub types: BTreeMap<String, String>,
}

impl Scrape {
    pub fn parse(text: &str) -> Scrape {
        let mut samples = Vec::new();
        let mut types = BTreeMap::new();
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                let (name, kind) = rest.split_once(' ').expect("TYPE line");
                types.insert(name.to_string(), kind.to_string());
                continue;
            }
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            samples.push(parse_sample(line));
        }
        Scrape { samples, types }
    }

    /// The sample with exactly these labels.
    pub fn get(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let want: BTreeMap<String, String> = labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        self.samples
            .iter()
            .find(|s| s.name == name && s.labels == want)
            .map(|s| s.value)
    }

    /// Like [`Scrape::get`], failing the test when the series is missing.
    pub fn value(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.get(name, labels)
            .unwrap_or_else(|| panic!("no series {name}{labels:?} in the scrape"))
    }

    /// Sum of every sample of `name` whose labels include `labels`.
    pub fn sum(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.samples
            .iter()
            .filter(|s| s.name == name)
            .filter(|s| {
                labels
                    .iter()
                    .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
            })
            .map(|s| s.value)
            .sum()
    }

    /// Every sample name (histograms appear with their suffixes).
    pub fn names(&self) -> BTreeSet<String> {
        self.samples.iter().map(|s| s.name.clone()).collect()
    }
}

fn parse_sample(line: &str) -> Sample {
    let (series, value) = line.rsplit_once(' ').expect("sample line");
    let value = match value {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        v => v
            .parse()
            .unwrap_or_else(|_| panic!("bad value in {line:?}")),
    };
    let (name, labels) = match series.split_once('{') {
        None => (series, BTreeMap::new()),
        Some((name, rest)) => {
            let body = rest.strip_suffix('}').expect("closing brace");
            (name, parse_labels(body))
        }
    };
    Sample {
        name: name.to_string(),
        labels,
        value,
    }
}

fn parse_labels(body: &str) -> BTreeMap<String, String> {
    let mut labels = BTreeMap::new();
    let mut chars = body.chars().peekable();
    loop {
        let name: String = chars.by_ref().take_while(|&c| c != '=').collect();
        if name.is_empty() {
            return labels;
        }
        assert_eq!(chars.next(), Some('"'), "label value opens with a quote");
        let mut value = String::new();
        while let Some(c) = chars.next() {
            match c {
                '\\' => match chars.next() {
                    Some('n') => value.push('\n'),
                    Some(other) => value.push(other),
                    None => break,
                },
                '"' => break,
                c => value.push(c),
            }
        }
        labels.insert(name.trim_start_matches(',').to_string(), value);
        if chars.peek() == Some(&',') {
            chars.next();
        }
    }
}

// ---------------------------------------------------------------------------
// The gate: a custom layer that makes chosen commands slow

/// Controls the [`GateLayer`]. A command whose first argument after the name
/// is `hold` announces itself ([`Gate::entered`]) and waits until the test
/// calls [`Gate::release`]; one on `hang` never finishes by itself (only a
/// timeout or shutdown ends it). Every other command passes straight through.
#[derive(Clone, Default)]
pub struct Gate {
    shared: Arc<GateShared>,
}

struct GateShared {
    entered: Semaphore,
    release: Semaphore,
}

impl Default for GateShared {
    fn default() -> Self {
        GateShared {
            entered: Semaphore::new(0),
            release: Semaphore::new(0),
        }
    }
}

impl Gate {
    /// Wait until a `hold` command has reached the gate.
    pub async fn entered(&self) {
        tokio::time::timeout(PATIENCE, self.shared.entered.acquire())
            .await
            .expect("a held command reached the gate in time")
            .expect("gate open")
            .forget();
    }

    /// Let `n` held commands through.
    pub fn release(&self, n: usize) {
        self.shared.release.add_permits(n);
    }
}

#[derive(Clone)]
pub struct GateLayer(pub Gate);

impl Layer<Stack> for GateLayer {
    type Service = Gated;

    fn layer(&self, inner: Stack) -> Gated {
        Gated {
            inner,
            gate: self.0.clone(),
        }
    }
}

#[derive(Clone)]
pub struct Gated {
    inner: Stack,
    gate: Gate,
}

type BoxFuture = Pin<Box<dyn Future<Output = Result<Reply, BoxError>> + Send>>;

impl Service<Request> for Gated {
    type Response = Reply;
    type Error = BoxError;
    type Future = BoxFuture;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request) -> BoxFuture {
        let clone = self.inner.clone();
        // Use the service that was made ready for this call.
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let gate = self.gate.clone();
        let key = req.command.args.get(1).cloned();
        Box::pin(async move {
            match key.as_deref() {
                Some(b"hold") => {
                    gate.shared.entered.add_permits(1);
                    gate.shared.release.acquire().await?.forget();
                }
                Some(b"hang") => std::future::pending::<()>().await,
                _ => {}
            }
            inner.call(req).await
        })
    }
}
