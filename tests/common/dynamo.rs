//! DynamoDB for tests: a real moto server, a fault-injecting proxy in front
//! of it, and direct reads of the table behind redynamo's back.
//!
//! - [`moto`] starts moto's server on 127.0.0.1 and a free port once per
//!   test binary (the `moto_server` of the repository's `.venv`, which
//!   `scripts/install-moto.sh` creates, or of `PATH`; single-threaded, see
//!   [`Moto::start`]) and waits until it answers. A watchdog shell kills it
//!   by its PID when the test process ends (within half a second; it holds
//!   none of the test's output open meanwhile, so nextest sees no leak).
//!   Without moto the test skips through
//!   [`skip_missing`](super::skip_missing) (a failure under `CI=true`).
//! - [`FaultProxy`] forwards HTTP requests to moto, counts them by DynamoDB
//!   operation, and can be told to fail the next N requests with a status
//!   and body, to stall them, to forward them and lose the response, or to
//!   hold them past the client's deadline and deliver them to moto later,
//!   when the test says so ([`FaultProxy::release_held`]).
//! - [`Backend`] names the store a [`TestServer`](super::TestServer) runs
//!   on: memory, or DynamoDB at an endpoint in a table (a fresh one per
//!   server unless one is given, created through `--create-table`), with
//!   dummy credentials and the endpoint set on the SDK configuration.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use aws_config::BehaviorVersion;
use aws_sdk_dynamodb::config::{Credentials, Region};
use redynamo::config::Config;
use redynamo::store::dynamo::DynamoConfig;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A moto server, killed (with its watchdog) when dropped.
pub struct Moto {
    pub port: u16,
    watchdog: Child,
}

impl Moto {
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn start(binary: &Path) -> Moto {
        let port = super::free_port();
        // moto_server serves requests on many threads, and moto's DynamoDB
        // is not thread-safe: concurrent conditional writes both pass their
        // conditions, and a failed transaction restores a copy of the whole
        // table over concurrent writes. DynamoDB makes every request atomic;
        // moto does too when it serves one request at a time. So run what
        // moto_server runs, single-threaded, with the Python next to it.
        let python = binary.with_file_name("python3");
        let launcher = format!(
            "{python} -c 'import sys; from werkzeug.serving import run_simple; \
             from moto.server import DomainDispatcherApplication, create_backend_app, MotoRequestHandler; \
             run_simple(\"127.0.0.1\", {port}, DomainDispatcherApplication(create_backend_app), \
             threaded=False, request_handler=MotoRequestHandler)'",
            python = python.display(),
        );
        // The shell runs moto in the background and kills it (by PID) when
        // this test process is gone: statics are never dropped, so without
        // it a shared moto would outlive `cargo test`.
        let script = format!(
            "{launcher} >/dev/null 2>&1 & m=$!; \
             trap 'kill $m 2>/dev/null' EXIT TERM INT; \
             while kill -0 {parent} 2>/dev/null && kill -0 $m 2>/dev/null; do sleep 0.5; done",
            parent = std::process::id(),
        );
        // Its output goes nowhere (moto's already does): the watchdog
        // outlives the test process by up to half a second, and nextest
        // reports a test whose stdout or stderr some child still holds
        // open after it exits as LEAK.
        let watchdog = Command::new("sh")
            .arg("-c")
            .arg(script)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start moto");
        let moto = Moto { port, watchdog };
        for _ in 0..300 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return moto;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("moto did not answer on port {port} within 15 s");
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        // SIGTERM to the watchdog, whose trap kills moto by its PID.
        let _ = Command::new("kill")
            .arg(self.watchdog.id().to_string())
            .status();
        let _ = self.watchdog.wait();
    }
}

/// Where moto_server is: the repository's venv first, then PATH.
pub fn moto_binary() -> Option<PathBuf> {
    let venv = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/moto_server");
    if venv.is_file() {
        return Some(venv);
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join("moto_server"))
        .find(|p| p.is_file())
}

/// The moto server of this test binary, started on first use. None (after a
/// loud note) when moto is not installed and CI is not set.
pub fn moto() -> Option<&'static Moto> {
    static MOTO: OnceLock<Option<Moto>> = OnceLock::new();
    MOTO.get_or_init(|| match moto_binary() {
        Some(binary) => Some(Moto::start(&binary)),
        None => {
            super::skip_missing(
                "moto_server (DynamoDB)",
                "run scripts/install-moto.sh (creates .venv)",
            );
            None
        }
    })
    .as_ref()
}

/// A table name no other test uses.
pub fn unique_table(prefix: &str) -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// SDK settings for a test: dummy credentials, a region, the endpoint, and
/// the retry/timeout policy of `config`.
pub async fn sdk_config(endpoint: &str, config: &DynamoConfig) -> aws_config::SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(Credentials::new("test", "test", None, None, "tests"))
        .retry_config(config.retry_config())
        .timeout_config(config.timeout_config())
        .load()
        .await
}

/// An SDK client straight to `endpoint`, to check the table behind
/// redynamo's back.
pub async fn direct_client(endpoint: &str) -> aws_sdk_dynamodb::Client {
    let config = DynamoConfig::from_config(&Config::for_tests());
    aws_sdk_dynamodb::Client::new(&sdk_config(endpoint, &config).await)
}

/// Which store a test server runs on.
#[derive(Clone, Debug)]
pub enum Backend {
    Memory,
    /// DynamoDB at `endpoint`, in `table`, with extra command-line options.
    Dynamo {
        endpoint: String,
        table: String,
        args: Vec<String>,
    },
}

impl Backend {
    /// DynamoDB on the shared moto, in a fresh table; None when skipping.
    pub fn dynamo() -> Option<Backend> {
        let moto = moto()?;
        Some(Backend::Dynamo {
            endpoint: moto.endpoint(),
            table: unique_table("suite"),
            // moto copies the whole table for every item of a transaction:
            // a 100-item MSET can take seconds on a busy machine.
            args: vec!["--dynamo-timeout-ms".into(), "20000".into()],
        })
    }
}

/// What the proxy does with the next requests.
#[derive(Clone, Debug)]
pub enum Fault {
    /// Answer with this status and JSON body without forwarding.
    Respond { status: u16, body: String },
    /// Hold the request without answering (the client times out).
    Stall,
    /// Forward to moto, then drop the response (the write happened, the
    /// client does not know).
    LoseResponse,
    /// Keep the request without answering: the client's attempt times out
    /// and the SDK retries it. The request reaches moto only when the test
    /// calls [`FaultProxy::release_held`] (an attempt held up in the
    /// network, delivered late).
    Hold,
}

impl Fault {
    pub fn throttle() -> Fault {
        Fault::Respond {
            status: 400,
            body: r#"{"__type":"com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException","message":"injected throttling"}"#.into(),
        }
    }

    pub fn throttling_exception() -> Fault {
        Fault::Respond {
            status: 400,
            body: r#"{"__type":"com.amazon.coral.availability#ThrottlingException","message":"injected throttling"}"#.into(),
        }
    }

    pub fn internal_error() -> Fault {
        Fault::Respond {
            status: 500,
            body: r#"{"__type":"com.amazonaws.dynamodb.v20120810#InternalServerError","message":"injected 500"}"#.into(),
        }
    }
}

#[derive(Default)]
struct ProxyState {
    /// What to do with the next requests, one entry consumed per request
    /// (None: forward normally).
    faults: Mutex<Vec<Option<Fault>>>,
    /// Requests seen, by `X-Amz-Target` operation (`GetItem` …).
    calls: Mutex<HashMap<String, u64>>,
    total: AtomicU64,
    /// The body of the last request of each operation.
    last_body: Mutex<HashMap<String, String>>,
    /// Added before forwarding each request (simulated network latency).
    delay_ms: AtomicU64,
    /// When set, faults apply only to requests of this operation
    /// (`GetRecords` …); the others are forwarded.
    only_op: Mutex<Option<String>>,
    /// Requests held by [`Fault::Hold`], oldest first.
    held: Mutex<Vec<Message>>,
}

/// A tiny HTTP/1.1 proxy in front of moto that counts and injects faults.
#[derive(Clone)]
pub struct FaultProxy {
    pub port: u16,
    /// moto's port.
    upstream: u16,
    state: Arc<ProxyState>,
}

impl FaultProxy {
    pub async fn start(upstream: u16) -> FaultProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let port = listener.local_addr().expect("addr").port();
        let state = Arc::new(ProxyState::default());
        let shared = state.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let state = shared.clone();
                tokio::spawn(async move {
                    let _ = serve_client(client, upstream, state).await;
                });
            }
        });
        FaultProxy {
            port,
            upstream,
            state,
        }
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Apply `fault` to the next `n` requests.
    pub fn inject(&self, fault: Fault, n: usize) {
        self.inject_after(0, fault, n);
    }

    /// Let `skip` requests through, then apply `fault` to `n` of them.
    pub fn inject_after(&self, skip: usize, fault: Fault, n: usize) {
        let mut faults = self.state.faults.lock().expect("faults");
        faults.extend(std::iter::repeat_n(None, skip));
        faults.extend(std::iter::repeat_n(Some(fault), n));
    }

    pub fn clear(&self) {
        self.state.faults.lock().expect("faults").clear();
        *self.state.only_op.lock().expect("only_op") = None;
    }

    /// Apply `fault` to the next `n` requests of operation `op` only
    /// (`GetRecords`, `GetItem` …), forwarding every other request.
    pub fn inject_op(&self, op: &str, fault: Fault, n: usize) {
        *self.state.only_op.lock().expect("only_op") = Some(op.to_string());
        self.inject(fault, n);
    }

    pub fn set_delay(&self, delay: Duration) {
        self.state
            .delay_ms
            .store(delay.as_millis() as u64, Ordering::Relaxed);
    }

    pub fn total(&self) -> u64 {
        self.state.total.load(Ordering::Relaxed)
    }

    /// The body of the last request of operation `op` (`GetItem` …).
    pub fn last_body(&self, op: &str) -> Option<String> {
        self.state
            .last_body
            .lock()
            .expect("bodies")
            .get(op)
            .cloned()
    }

    /// Deliver the requests held by [`Fault::Hold`] to moto, oldest first,
    /// each when the one before has been answered; moto's answers (status
    /// line, then body), which nobody else sees.
    pub async fn release_held(&self) -> Vec<String> {
        let held = std::mem::take(&mut *self.state.held.lock().expect("held"));
        let mut answers = Vec::new();
        for request in held {
            let (response, _) = forward(&request, self.upstream)
                .await
                .expect("deliver a held request to moto");
            let text = String::from_utf8_lossy(&response);
            let status = text.lines().next().unwrap_or_default().to_string();
            let body = text.split_once("\r\n\r\n").map_or("", |(_, b)| b);
            answers.push(format!("{status} {body}"));
        }
        answers
    }

    /// How many requests [`Fault::Hold`] holds now.
    pub fn held(&self) -> usize {
        self.state.held.lock().expect("held").len()
    }

    /// Requests by operation since the last call, and reset.
    pub fn take_calls(&self) -> HashMap<String, u64> {
        self.state.total.store(0, Ordering::Relaxed);
        std::mem::take(&mut *self.state.calls.lock().expect("calls"))
    }
}

/// One HTTP request or response: head and body, as raw bytes.
struct Message {
    head: Vec<u8>,
    body: Vec<u8>,
}

impl Message {
    fn header(&self, name: &str) -> Option<String> {
        let text = String::from_utf8_lossy(&self.head);
        text.lines().skip(1).find_map(|line| {
            let (n, v) = line.split_once(':')?;
            n.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().to_string())
        })
    }

    fn bytes(&self) -> Vec<u8> {
        let mut b = self.head.clone();
        b.extend_from_slice(&self.body);
        b
    }
}

/// Read one message with a Content-Length body (or none); None at EOF.
async fn read_message(
    stream: &mut TcpStream,
    buf: &mut Vec<u8>,
) -> std::io::Result<Option<Message>> {
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head: Vec<u8> = buf.drain(..end + 4).collect();
            let mut msg = Message {
                head,
                body: Vec::new(),
            };
            let len: usize = msg
                .header("content-length")
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            while buf.len() < len {
                let mut chunk = [0u8; 16384];
                let n = stream.read(&mut chunk).await?;
                if n == 0 {
                    return Ok(None);
                }
                buf.extend_from_slice(&chunk[..n]);
            }
            msg.body = buf.drain(..len).collect();
            return Ok(Some(msg));
        }
        let mut chunk = [0u8; 16384];
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Ok(None);
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

async fn serve_client(
    mut client: TcpStream,
    upstream: u16,
    state: Arc<ProxyState>,
) -> std::io::Result<()> {
    let mut buf = Vec::new();
    while let Some(request) = read_message(&mut client, &mut buf).await? {
        let op = request
            .header("x-amz-target")
            .and_then(|t| t.rsplit('.').next().map(str::to_string))
            .unwrap_or_else(|| "?".into());
        state.total.fetch_add(1, Ordering::Relaxed);
        state.last_body.lock().expect("bodies").insert(
            op.clone(),
            String::from_utf8_lossy(&request.body).into_owned(),
        );
        *state
            .calls
            .lock()
            .expect("calls")
            .entry(op.clone())
            .or_default() += 1;
        let targeted = state
            .only_op
            .lock()
            .expect("only_op")
            .as_ref()
            .is_none_or(|only| *only == op);
        let fault = {
            let mut faults = state.faults.lock().expect("faults");
            if faults.is_empty() || !targeted {
                None
            } else {
                faults.remove(0)
            }
        };
        let delay = state.delay_ms.load(Ordering::Relaxed);
        if delay > 0 {
            tokio::time::sleep(Duration::from_millis(delay)).await;
        }
        match fault {
            Some(Fault::Respond { status, body }) => {
                let reason = if status == 500 {
                    "Internal Server Error"
                } else {
                    "Bad Request"
                };
                let response = format!(
                    "HTTP/1.1 {status} {reason}\r\nContent-Type: application/x-amz-json-1.0\r\nContent-Length: {}\r\n\r\n{body}",
                    body.len()
                );
                client.write_all(response.as_bytes()).await?;
            }
            Some(Fault::Stall) => {
                // Hold until the client gives up and closes.
                let mut sink = [0u8; 1024];
                let _ = tokio::time::timeout(Duration::from_secs(30), client.read(&mut sink)).await;
                return Ok(());
            }
            Some(Fault::Hold) => {
                state.held.lock().expect("held").push(request);
                // The client gives up on this connection at its deadline.
                let mut sink = [0u8; 1024];
                let _ = tokio::time::timeout(Duration::from_secs(30), client.read(&mut sink)).await;
                return Ok(());
            }
            Some(Fault::LoseResponse) => {
                let _ = forward(&request, upstream).await?;
                let mut sink = [0u8; 1024];
                let _ = tokio::time::timeout(Duration::from_secs(30), client.read(&mut sink)).await;
                return Ok(());
            }
            None => {
                let (response, close) = forward(&request, upstream).await?;
                client.write_all(&response).await?;
                if close {
                    return Ok(());
                }
            }
        }
    }
    Ok(())
}

/// Send one request to moto on a fresh connection; the response and
/// whether the client connection must close after it.
async fn forward(request: &Message, upstream: u16) -> std::io::Result<(Vec<u8>, bool)> {
    let mut moto = TcpStream::connect(("127.0.0.1", upstream)).await?;
    moto.write_all(&request.bytes()).await?;
    let mut buf = Vec::new();
    let response = read_message(&mut moto, &mut buf)
        .await?
        .ok_or_else(|| std::io::Error::other("moto closed without answering"))?;
    let close = response
        .header("connection")
        .is_some_and(|c| c.eq_ignore_ascii_case("close"));
    Ok((response.bytes(), close))
}

/// Read a head item straight from the table (consistent), bypassing
/// redynamo: the value, or None when absent or a tombstone.
pub async fn table_value(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    db: u32,
    key: &[u8],
) -> Option<Vec<u8>> {
    use aws_sdk_dynamodb::types::AttributeValue;
    let key_attrs = redynamo::store::dynamo::schema::head_key(db, key);
    let out = client
        .get_item()
        .table_name(table)
        .set_key(Some(key_attrs))
        .consistent_read(true)
        .send()
        .await
        .expect("direct GetItem");
    match out.item()?.get("v") {
        Some(AttributeValue::B(b)) => Some(b.clone().into_inner()),
        _ => None,
    }
}
