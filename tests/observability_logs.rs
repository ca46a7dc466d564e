//! The binary's logs: `--log-format json` gives one JSON object a line,
//! connection events carry the per-connection span (client id and
//! address), passwords never appear, and SIGTERM drains and exits 0.

mod common;

use std::process::Stdio;
use std::time::Duration;

use common::*;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, ChildStdout, Command};
use tokio::sync::mpsc;

const PASSWORD: &str = "s3cret-pw";
const WRONG: &str = "n0t-the-pw";
const NEW_PASSWORD: &str = "n3w-s3cret";

/// Every stdout line of the child, as it comes.
fn lines(stdout: ChildStdout) -> mpsc::UnboundedReceiver<String> {
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut lines = BufReader::new(stdout).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    rx
}

/// Read lines until one whose message is `message`; every line read goes
/// into `seen`.
async fn until(
    rx: &mut mpsc::UnboundedReceiver<String>,
    seen: &mut Vec<String>,
    message: &str,
) -> Value {
    loop {
        let line = tokio::time::timeout(PATIENCE, rx.recv())
            .await
            .unwrap_or_else(|_| panic!("no {message:?} log line in time; got {seen:#?}"))
            .unwrap_or_else(|| panic!("stdout closed before {message:?}; got {seen:#?}"));
        seen.push(line.clone());
        let json: Value = serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("not a JSON log line ({e}): {line}"));
        if json["fields"]["message"] == message {
            return json;
        }
    }
}

fn spawn_server() -> Child {
    Command::new(env!("CARGO_BIN_EXE_redynamo"))
        .args([
            "--port",
            "0",
            "--log-format",
            "json",
            "--log-level",
            "debug",
            "--requirepass",
            PASSWORD,
            "--shutdown-timeout",
            "5",
            "--metrics-addr",
            "127.0.0.1:0",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("start the redynamo binary")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_logs_carry_the_client_span_never_a_password_and_sigterm_drains() {
    let mut child = spawn_server();
    let mut rx = lines(child.stdout.take().expect("stdout"));
    let mut seen = Vec::new();

    let ready = until(&mut rx, &mut seen, "redynamo ready to accept connections").await;
    let addr = ready["fields"]["local_addr"]
        .as_str()
        .expect("the bound address is logged")
        .parse()
        .expect("a socket address");

    let mut c = RawClient::connect(addr).await;
    assert_eq!(
        c.cmd(&["AUTH", WRONG]).await,
        Reply::Error("WRONGPASS invalid username-password pair or user is disabled.".into())
    );
    assert_eq!(c.cmd(&["AUTH", PASSWORD]).await, Reply::ok());
    assert_eq!(
        c.cmd(&["CONFIG", "SET", "requirepass", NEW_PASSWORD]).await,
        Reply::ok()
    );
    assert_eq!(
        c.cmd(&["HELLO", "2", "AUTH", "default", NEW_PASSWORD])
            .await
            .items()
            .len(),
        14
    );
    assert_eq!(c.cmd(&["QUIT"]).await, Reply::ok());

    // The connection's events run inside its span: id and address.
    let connected = until(&mut rx, &mut seen, "client connected").await;
    assert_eq!(connected["span"]["name"], "client");
    assert_eq!(connected["span"]["id"], 1);
    assert!(
        connected["span"]["addr"]
            .as_str()
            .is_some_and(|a| a.starts_with("127.0.0.1:")),
        "{connected}"
    );
    assert_eq!(connected["level"], "DEBUG");
    let gone = until(&mut rx, &mut seen, "client disconnected").await;
    assert_eq!(gone["span"]["id"], 1);

    // SIGTERM: a graceful drain and a clean exit.
    let pid = child.id().expect("running").to_string();
    let status = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("run kill");
    assert!(status.success());
    until(&mut rx, &mut seen, "shutdown requested").await;
    until(&mut rx, &mut seen, "redynamo is now ready to exit, bye bye").await;
    let exit = tokio::time::timeout(PATIENCE, child.wait())
        .await
        .expect("exits in time")
        .expect("wait");
    assert!(exit.success(), "exit status {exit}");
    while let Ok(Some(line)) = tokio::time::timeout(Duration::from_secs(1), rx.recv()).await {
        seen.push(line);
    }
    let mut stderr = String::new();
    if let Some(mut err) = child.stderr.take() {
        use tokio::io::AsyncReadExt;
        err.read_to_string(&mut stderr).await.expect("stderr");
    }

    // Every line is a JSON object with the usual fields; none holds a
    // password, the right one, the wrong one or the new one.
    assert!(
        seen.iter()
            .any(|l| l.contains("serving /metrics, /healthz and /readyz")),
        "{seen:#?}"
    );
    for line in &seen {
        let json: Value = serde_json::from_str(line).expect("JSON line");
        for field in ["timestamp", "level", "fields", "target"] {
            assert!(json.get(field).is_some(), "no {field} in {line}");
        }
    }
    let everything = format!("{}\n{stderr}", seen.join("\n"));
    for secret in [PASSWORD, WRONG, NEW_PASSWORD] {
        assert!(
            !everything.contains(secret),
            "{secret} appears in the logs:\n{everything}"
        );
    }
}
