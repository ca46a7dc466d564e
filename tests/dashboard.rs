//! Every metric the Grafana dashboard (`deploy/grafana/redynamo.json`) and
//! the alert rules (`deploy/prometheus/alerts.yml`) query must be exported
//! by a real server: a renamed metric would otherwise leave an empty panel
//! or an alert that can never fire.
//!
//! The names are read from the PromQL itself (every `expr`, and the
//! dashboard's template queries), then looked up in a `/metrics` scrape of
//! a server that has served some traffic.

mod common;

use std::collections::BTreeSet;
use std::path::Path;

use common::*;
use serde_json::Value;

/// Queried on purpose although this server does not export them yet; each
/// MUST say why. The test fails if one of them shows up in the scrape, so
/// the list cannot go stale.
const FUTURE_METRICS: &[(&str, &str)] = &[(
    "redynamo_follower_lag_seconds",
    "exported by the DynamoDB streams follower, which is not built yet \
     (docs/observability.md, 'Hooks for other components')",
)];

/// Series Prometheus makes itself for every target; no exporter has them.
const PROMETHEUS_SERIES: &[&str] = &["up"];

const KEYWORDS: &[&str] = &[
    // Aggregation operators (may be followed by `by`/`without`, not `(`).
    "sum",
    "min",
    "max",
    "avg",
    "group",
    "stddev",
    "stdvar",
    "count",
    "count_values",
    "bottomk",
    "topk",
    "quantile",
    // Binary operators and modifiers.
    "and",
    "or",
    "unless",
    "bool",
    "offset",
    "atan2",
    // Literals.
    "inf",
    "nan",
];

/// Clauses whose parenthesised list holds label names, not metrics.
const LABEL_LISTS: &[&str] = &[
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
];

/// The metric names a PromQL expression selects. Label matchers (`{…}`),
/// ranges (`[…]`), strings, label lists (`by (…)`), function names and
/// keywords are not metric names; what is left is.
fn metric_names(expr: &str) -> BTreeSet<String> {
    let chars: Vec<char> = expr.chars().collect();
    let mut names = BTreeSet::new();
    let mut i = 0;
    let skip_to = |from: usize, open: char, close: char| -> usize {
        let mut depth = 0;
        let mut j = from;
        while j < chars.len() {
            if chars[j] == open {
                depth += 1;
            } else if chars[j] == close {
                depth -= 1;
                if depth == 0 {
                    return j + 1;
                }
            }
            j += 1;
        }
        panic!("unbalanced {open}{close} in {expr}");
    };
    while i < chars.len() {
        let c = chars[i];
        if c == '{' {
            i = skip_to(i, '{', '}');
        } else if c == '[' {
            i = skip_to(i, '[', ']');
        } else if c == '"' || c == '\'' || c == '`' {
            let end = chars[i + 1..]
                .iter()
                .position(|&d| d == c)
                .expect("closed string");
            i += end + 2;
        } else if c.is_ascii_alphabetic() || c == '_' || c == ':' {
            let start = i;
            while i < chars.len()
                && (chars[i].is_ascii_alphanumeric() || chars[i] == '_' || chars[i] == ':')
            {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            let next = chars[i..].iter().find(|c| !c.is_whitespace()).copied();
            if LABEL_LISTS.contains(&word.as_str()) {
                // `group_left` may stand without a list.
                if next == Some('(') {
                    let open = i + chars[i..]
                        .iter()
                        .position(|&c| c == '(')
                        .expect("label list");
                    i = skip_to(open, '(', ')');
                }
            } else if next == Some('(') || KEYWORDS.contains(&word.as_str()) {
                // A function or an operator.
            } else if start > 0 && chars[start - 1] == '$' {
                // A Grafana variable outside a matcher.
            } else {
                names.insert(word);
            }
        } else if c.is_ascii_digit() || c == '.' {
            // A number or a duration (`5m`, `1e-3`).
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '.') {
                i += 1;
            }
        } else {
            i += 1;
        }
    }
    names
}

/// Every `expr` in the dashboard, and the PromQL inside its template
/// queries (`label_values(metric{…}, label)`).
fn dashboard_queries(dashboard: &Value) -> Vec<String> {
    fn walk(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(map) => {
                for (k, v) in map {
                    match (k.as_str(), v) {
                        ("expr", Value::String(e)) => out.push(e.clone()),
                        _ => walk(v, out),
                    }
                }
            }
            Value::Array(items) => items.iter().for_each(|i| walk(i, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(&dashboard["panels"], &mut out);
    for var in dashboard["templating"]["list"]
        .as_array()
        .expect("templating list")
    {
        if var["type"] != "query" {
            continue;
        }
        let query = var["query"]["query"]
            .as_str()
            .or_else(|| var["query"].as_str())
            .expect("a query variable has a query");
        let inner = query
            .strip_prefix("label_values(")
            .and_then(|q| q.rsplit_once(','))
            .map(|(metric, _label)| metric.to_string())
            .unwrap_or_else(|| query.to_string());
        out.push(inner);
    }
    out
}

/// The `expr:` values of a Prometheus rules file: one line, or a `|` / `>`
/// block of more-indented lines.
fn rule_exprs(yaml: &str) -> Vec<String> {
    let lines: Vec<&str> = yaml.lines().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        let trimmed = line.trim_start();
        i += 1;
        let Some(value) = trimmed.trim_start_matches("- ").strip_prefix("expr:") else {
            continue;
        };
        let value = value.trim();
        if value.starts_with('|') || value.starts_with('>') {
            let indent = line.len() - trimmed.len();
            let mut block = Vec::new();
            while i < lines.len() {
                let l = lines[i];
                let t = l.trim_start();
                if !t.is_empty() && l.len() - t.len() <= indent {
                    break;
                }
                block.push(t);
                i += 1;
            }
            out.push(block.join("\n"));
        } else {
            out.push(value.trim_matches(|c| c == '\'' || c == '"').to_string());
        }
    }
    out
}

fn repo_file(path: &str) -> String {
    let full = Path::new(env!("CARGO_MANIFEST_DIR")).join(path);
    std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("read {}: {e}", full.display()))
}

#[test]
fn promql_metric_names_are_found() {
    let names = metric_names(
        r#"histogram_quantile(0.99, sum by (command, le) (rate(redynamo_command_duration_seconds_bucket{job="$job",le!="x"}[$__rate_interval]))) / on (instance) group_left up offset 5m > 1e-3 and bool redynamo_ready"#,
    );
    let want: BTreeSet<String> = [
        "redynamo_command_duration_seconds_bucket",
        "up",
        "redynamo_ready",
    ]
    .map(String::from)
    .into();
    assert_eq!(names, want);
    assert_eq!(
        rule_exprs(
            "  - alert: A\n    expr: |\n      sum(x)\n        / y\n    for: 1m\n  - expr: z == 0\n"
        ),
        ["sum(x)\n/ y", "z == 0"]
    );
}

#[test]
fn dashboard_is_a_grafana_dashboard() {
    let dashboard: Value =
        serde_json::from_str(&repo_file("deploy/grafana/redynamo.json")).expect("valid JSON");
    assert_eq!(dashboard["uid"], "redynamo-overview");
    assert!(dashboard["schemaVersion"].as_u64().is_some());
    let panels = dashboard["panels"].as_array().expect("panels");
    let mut titles = BTreeSet::new();
    for p in panels.iter().filter(|p| p["type"] != "row") {
        let title = p["title"].as_str().expect("title");
        assert!(titles.insert(title), "duplicate panel title {title}");
        assert_eq!(p["datasource"]["uid"], "${datasource}", "{title}");
        let targets = p["targets"].as_array().expect("targets");
        assert!(!targets.is_empty(), "{title} queries nothing");
        for t in targets {
            assert!(t["expr"].as_str().is_some_and(|e| !e.is_empty()), "{title}");
        }
        for key in ["h", "w", "x", "y"] {
            assert!(p["gridPos"][key].is_u64(), "{title} gridPos.{key}");
        }
    }
    // What an operator looks for first.
    for wanted in [
        "Command rate by command",
        "Latency p50 / p99 (all commands)",
        "Rejected connections/s (maxclients)",
        "Keys per db",
        "Network bytes",
        "Resident memory",
        "Ready",
    ] {
        assert!(titles.contains(wanted), "no panel {wanted:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_queried_metric_is_exported() {
    let dashboard: Value =
        serde_json::from_str(&repo_file("deploy/grafana/redynamo.json")).expect("valid JSON");
    let mut queried: Vec<(String, String)> = Vec::new();
    for expr in dashboard_queries(&dashboard) {
        for name in metric_names(&expr) {
            queried.push((name, "deploy/grafana/redynamo.json".into()));
        }
    }
    let dashboard_count = queried.len();
    for expr in rule_exprs(&repo_file("deploy/prometheus/alerts.yml")) {
        for name in metric_names(&expr) {
            queried.push((name, "deploy/prometheus/alerts.yml".into()));
        }
    }
    assert!(dashboard_count >= 20, "too few dashboard queries parsed");
    assert!(
        queried.len() > dashboard_count,
        "no alert expressions parsed"
    );

    // A server with some traffic: histograms appear with their first
    // sample, so every family has something to show.
    let server = TestServer::with_gate(metrics_config(), &Gate::default()).await;
    let mut c = server.raw().await;
    assert_eq!(c.cmd(&["SET", "k", "1", "EX", "100"]).await, Reply::ok());
    assert_eq!(c.cmd(&["GET", "k"]).await, Reply::bulk("1"));
    assert_eq!(c.cmd(&["GET", "nope"]).await, Reply::Null);
    assert_eq!(c.cmd(&["INCR", "k"]).await, Reply::Integer(2));
    let scrape = server.scrape().await;
    let exported = scrape.names();
    server.shutdown();

    let mut missing = Vec::new();
    for (name, file) in &queried {
        if PROMETHEUS_SERIES.contains(&name.as_str())
            || FUTURE_METRICS.iter().any(|(n, _)| n == name)
        {
            continue;
        }
        if !exported.contains(name) {
            missing.push(format!("{name} (queried in {file})"));
        }
    }
    assert!(
        missing.is_empty(),
        "queried but not exported: {missing:#?}\nexported: {exported:#?}"
    );
    for (name, why) in FUTURE_METRICS {
        assert!(
            !exported.contains(*name),
            "{name} is exported now ({why}): remove it from FUTURE_METRICS"
        );
        assert!(
            queried.iter().any(|(q, _)| q == name),
            "{name} is allowed but no longer queried: remove it from FUTURE_METRICS"
        );
    }
    // The names that matter most are really covered by the check.
    for name in [
        "redynamo_commands_total",
        "redynamo_command_duration_seconds_bucket",
        "redynamo_connections_rejected_total",
        "redynamo_keys",
        "redynamo_ready",
    ] {
        assert!(queried.iter().any(|(q, _)| q == name), "{name} not queried");
    }
}
