//! The README's quick start, run as typed: every `console` block of the
//! "Quick start" section that starts the server (`$ cargo run --release --
//! …`) is replayed against the real binary, each `$ redis-cli …` and
//! `$ curl …` line through `sh`, and its output compared with the lines the
//! README shows under it. So the README cannot drift from the code.
//!
//! As typed, except: the binary is this build's, not `cargo run
//! --release`; ports 6380 and 9121 become free ones; redis-cli gets
//! `--no-raw`, so that it prints to a pipe what it prints to a terminal;
//! lines the README says "come in no fixed order" are compared as a set.
//! Blocks without a `cargo run` (telnet, nc, DynamoDB ones, which need AWS
//! or a hand-started moto) are not run.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;

use common::{free_port, skip_missing, PATIENCE};

const SECTION: &str = "## Quick start\n";

/// One `$ command` of a block and the output the README shows for it.
struct Step {
    command: String,
    expected: Vec<String>,
}

/// The console blocks of the Quick start section, as steps.
fn blocks() -> Vec<(Vec<Step>, bool)> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/README.md");
    let readme = std::fs::read_to_string(path).expect("README.md");
    let start = readme.find(SECTION).expect("README has a Quick start");
    let rest = &readme[start + SECTION.len()..];
    let section = &rest[..rest.find("\n## ").unwrap_or(rest.len())];
    let mut blocks = Vec::new();
    let mut parts = section.split("```");
    // Text and code alternate: the text before a block says whether its
    // output comes in a fixed order.
    while let (Some(text), Some(code)) = (parts.next(), parts.next()) {
        let Some(body) = code.strip_prefix("console\n") else {
            continue;
        };
        let words: Vec<&str> = text.split_whitespace().collect();
        let unordered = words.join(" ").contains("no fixed order");
        let mut steps: Vec<Step> = Vec::new();
        let mut command: Option<String> = None;
        for line in body.lines() {
            if let Some(c) = line.strip_prefix("$ ") {
                command = Some(c.to_string());
                steps.push(Step {
                    command: c.to_string(),
                    expected: Vec::new(),
                });
            } else if let Some(cont) = line
                .strip_prefix("    ")
                .filter(|_| command.as_deref().is_some_and(|c| c.ends_with('\\')))
            {
                // A continued command line.
                let step = steps.last_mut().expect("a command before");
                step.command = format!("{}\n    {cont}", step.command);
                command = Some(step.command.clone());
            } else if let Some(step) = steps.last_mut() {
                step.expected.push(line.to_string());
                command = None;
            }
        }
        blocks.push((steps, unordered));
    }
    blocks
}

/// The server a block starts, stopped (by PID) when dropped.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Start the binary with the options of `$ cargo run --release -- …` and
/// wait for its ready line (not for a connection: client ids, which HELLO
/// shows, must start at 1 for the README's first command).
fn start(options: &str, ports: &[(&str, String)]) -> Server {
    let options = options.split('#').next().unwrap_or_default();
    let options = options.trim().trim_end_matches('&');
    let args: Vec<String> = options
        .split_whitespace()
        .map(|a| substitute(a, ports))
        .collect();
    let mut child = Command::new(env!("CARGO_BIN_EXE_redynamo"))
        .args(&args)
        .env_remove("REDYNAMO_REQUIREPASS")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start redynamo");
    let stdout = child.stdout.take().expect("piped stdout");
    let server = Server(child);
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { return };
            if line.contains("ready to accept connections") {
                let _ = tx.send(());
            }
        }
    });
    rx.recv_timeout(PATIENCE)
        .unwrap_or_else(|_| panic!("redynamo {args:?} did not get ready"));
    server
}

fn substitute(text: &str, ports: &[(&str, String)]) -> String {
    ports
        .iter()
        .fold(text.to_string(), |t, (from, to)| t.replace(from, to))
}

#[test]
fn the_quick_start_runs_as_typed() {
    let cli = Command::new("redis-cli").arg("--version").output();
    if !cli.is_ok_and(|o| o.status.success()) {
        return skip_missing("`redis-cli`", "apt-get install -y redis-tools");
    }
    let curl = Command::new("curl").arg("--version").output();
    if !curl.is_ok_and(|o| o.status.success()) {
        return skip_missing("`curl`", "apt-get install -y curl");
    }
    let blocks = blocks();
    let mut ran = 0;
    for (steps, unordered) in blocks {
        let Some(first) = steps.first() else { continue };
        let Some(options) = first.command.strip_prefix("cargo run --release -- ") else {
            continue;
        };
        if options.contains("dynamodb") {
            continue;
        }
        let ports = [
            ("6380", free_port().to_string()),
            ("9121", free_port().to_string()),
        ];
        let _server = start(options, &ports);
        for step in &steps[1..] {
            let command = substitute(&step.command, &ports);
            let command = match command.strip_prefix("redis-cli ") {
                Some(rest) => format!("redis-cli --no-raw {rest}"),
                None => command,
            };
            let out = Command::new("sh")
                .args(["-c", &command])
                .stdin(Stdio::null())
                .output()
                .expect("run sh");
            let stdout = String::from_utf8_lossy(&out.stdout);
            let mut got: Vec<&str> = stdout.lines().collect();
            let mut expected: Vec<&str> = step.expected.iter().map(String::as_str).collect();
            if unordered {
                got.sort_unstable();
                expected.sort_unstable();
            }
            assert_eq!(got, expected, "README: $ {}", step.command);
            ran += 1;
        }
    }
    assert!(ran >= 8, "only {ran} README commands found to run");
}
