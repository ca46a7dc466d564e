//! The deploy files against the binary: every redynamo command line in the
//! Dockerfile, the compose file and the rendered Kubernetes overlays parses
//! with the binary's own option parser (config files included); the pods'
//! shutdown timings fit their grace period; the IAM policy grants exactly
//! the actions docs/dynamodb.md lists; and `redynamo --check`, the image's
//! health check, tells a serving node from a stopped one.
//!
//! The command lines are extracted by `scripts/deploy-args.py` (YAML and
//! `kubectl kustomize` live on the Python side, in `.venv-deploy`, which
//! `scripts/check-deploy.sh` installs before the suite runs). Without it
//! the extraction test fails under `CI=true` and skips loudly elsewhere.
//! The schema checks themselves (hadolint, kubernetes-validate, cfn-lint,
//! compose-spec, promtool) are in `scripts/check-deploy.sh`.

// A test fails by panicking: unwrap is the point here, not a shortcut.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use common::TestServer;
use redynamo::config::{BackendKind, Config};
use serde_json::Value;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The Python of `.venv-deploy`, or None (a loud skip; a failure under CI).
fn deploy_python() -> Option<PathBuf> {
    let python = root().join(".venv-deploy/bin/python");
    if python.exists() {
        return Some(python);
    }
    let how = "run scripts/install-deploy-tools.sh (scripts/test.sh does)";
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!(".venv-deploy is missing and CI=true: {how}");
    }
    use std::io::Write as _;
    let _ = writeln!(
        std::io::stderr(),
        "\n** NOTE: .venv-deploy not found: SKIPPING the deploy option check. To run it, {how}.\n"
    );
    None
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap().to_owned())
        .collect()
}

/// Parse one command line as the binary does. A `config` (the text of the
/// file at `config_path`) is written to a temporary file first.
fn parse(entry: &Value, scratch: &Path) -> Config {
    let source = entry["source"].as_str().unwrap();
    let mut args = strings(&entry["args"]);
    if let Some(text) = entry.get("config").and_then(Value::as_str) {
        let path = scratch.join(source.replace(' ', "-"));
        std::fs::write(&path, text).unwrap();
        let named = entry["config_path"].as_str().unwrap();
        for a in &mut args {
            if a == named {
                *a = path.to_string_lossy().into_owned();
            }
        }
    }
    let argv = std::iter::once("redynamo".to_owned()).chain(args.iter().cloned());
    match Config::load_from(argv) {
        Ok(config) => config,
        Err(e) => panic!("{source}: redynamo does not accept {args:?}: {e}"),
    }
}

#[test]
fn deploy_command_lines_are_accepted_by_the_binary() {
    let Some(python) = deploy_python() else {
        return;
    };
    let out = std::process::Command::new(python)
        .arg(root().join("scripts/deploy-args.py"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "scripts/deploy-args.py failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let entries: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    let sources: BTreeSet<&str> = entries
        .iter()
        .map(|e| e["source"].as_str().unwrap())
        .collect();
    // The extraction found every place a command line lives.
    for expected in [
        "Dockerfile CMD",
        "Dockerfile HEALTHCHECK",
        "compose redynamo-1",
        "compose redynamo-2",
        "compose redynamo-3",
        "k8s memory",
        "k8s dynamodb",
    ] {
        assert!(sources.contains(expected), "no {expected} in {sources:?}");
    }
    let scratch = std::env::temp_dir().join(format!("redynamo-deploy-{}", std::process::id()));
    std::fs::create_dir_all(&scratch).unwrap();
    for entry in &entries {
        let source = entry["source"].as_str().unwrap();
        let config = parse(entry, &scratch);
        match source {
            "Dockerfile HEALTHCHECK" => {
                let addr = config.check.as_deref().unwrap_or_default();
                assert!(
                    addr.parse::<std::net::SocketAddr>().is_ok(),
                    "HEALTHCHECK address {addr:?}"
                );
            }
            s if s.starts_with("k8s") => {
                assert!(entry.get("config").is_some(), "{s}: no config file");
                // Reachable from outside the pod, and probed.
                assert!(config.bind.is_unspecified(), "{s}: bind {}", config.bind);
                assert!(config.metrics_addr.is_some(), "{s}: no metrics");
                let expect_dynamo = s.ends_with("dynamodb");
                assert_eq!(
                    config.backend == BackendKind::DynamoDb,
                    expect_dynamo,
                    "{s}"
                );
                // The pod drains within its grace period: preStop, then
                // unready for shutdown-delay-ms, then shutdown-timeout.
                let grace = entry["grace_seconds"].as_u64().unwrap();
                let prestop = entry["prestop_seconds"].as_u64().unwrap();
                let delay = config.shutdown_delay_ms.div_ceil(1000);
                assert!(
                    grace > prestop + delay + config.shutdown_timeout,
                    "{s}: terminationGracePeriodSeconds {grace} <= preStop {prestop} + \
                     shutdown-delay {delay} + shutdown-timeout {}",
                    config.shutdown_timeout
                );
                // Load balancers probing /readyz see the 503 before the
                // listener closes.
                let readiness = entry["readiness_period_seconds"].as_u64().unwrap()
                    * entry["readiness_failure_threshold"].as_u64().unwrap();
                assert!(
                    readiness * 1000 < config.shutdown_delay_ms,
                    "{s}: readiness takes {readiness} s to notice, shutdown-delay-ms is {}",
                    config.shutdown_delay_ms
                );
            }
            s if s.starts_with("compose") => {
                assert_eq!(config.backend, BackendKind::DynamoDb, "{s}");
                assert!(config.bind.is_unspecified(), "{s}: bind {}", config.bind);
            }
            _ => {}
        }
    }
    let _ = std::fs::remove_dir_all(&scratch);
}

/// `dynamodb:Action` names in `text`, or bare ones after a prefixed one in
/// a list (docs/dynamodb.md writes "`dynamodb:DescribeStream`,
/// `GetShardIterator`").
fn actions(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for token in text.split(|c: char| !(c.is_ascii_alphanumeric() || c == ':')) {
        let name = token.strip_prefix("dynamodb:").unwrap_or(token);
        let known_bare = ["GetShardIterator", "GetRecords"];
        if (token.starts_with("dynamodb:") || known_bare.contains(&token))
            && name.chars().next().is_some_and(|c| c.is_ascii_uppercase())
        {
            out.insert(name.to_owned());
        }
    }
    out
}

#[test]
fn the_iam_policy_grants_exactly_the_documented_actions() {
    let docs = std::fs::read_to_string(root().join("docs/dynamodb.md")).unwrap();
    let section = docs
        .split("### IAM permissions")
        .nth(1)
        .and_then(|s| s.split("\n## ").next())
        .expect("docs/dynamodb.md has an `### IAM permissions` section");
    let documented = actions(section);
    let template = std::fs::read_to_string(root().join("deploy/dynamodb/table.yaml")).unwrap();
    let policy = template
        .split("NodePolicy:")
        .nth(1)
        .and_then(|s| s.split("\nOutputs:").next())
        .expect("table.yaml has a NodePolicy resource");
    let granted = actions(policy);
    assert!(
        documented.len() >= 14,
        "parsed {documented:?} from the docs"
    );
    assert_eq!(
        granted, documented,
        "table.yaml's NodePolicy vs docs/dynamodb.md"
    );
}

async fn check(addr: &str) -> std::process::ExitStatus {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_redynamo"))
        .args(["--check", addr])
        .output()
        .await
        .unwrap()
        .status
}

#[tokio::test]
async fn check_mode_tells_a_serving_node_from_a_stopped_one() {
    let server = TestServer::start().await;
    let addr = server.addr().to_string();
    assert!(check(&addr).await.success(), "a serving node");

    // With a password the node answers -NOAUTH: alive, and the check needs
    // no secret.
    let mut config = Config::for_tests();
    config.requirepass = Some("secret".into());
    let guarded = TestServer::with_config(config).await;
    assert!(check(&guarded.addr().to_string()).await.success(), "NOAUTH");

    server.stop().await;
    assert_eq!(check(&addr).await.code(), Some(1), "a stopped node");
}
