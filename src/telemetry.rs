//! Prometheus metrics and health endpoints on `--metrics-addr`.
//!
//! - `GET /metrics`: Prometheus text format. Command counters and latency
//!   histograms are recorded as commands run (see
//!   `redynamo_layers::metrics`); server-wide figures (connections, bytes,
//!   keys per db, expired keys) are read from the server state at scrape
//!   time, so they cost nothing on the command path.
//! - `GET /healthz`: 200 while the process is alive.
//! - `GET /readyz`: 200 while the server accepts traffic and its backend is
//!   reachable; 503 once shutdown has begun (so a load balancer drains this
//!   node before its connections close) or while the backend is not ready
//!   (the upstream proxy with no connection up: the body says why).
//!
//! The recorder is per server, not global: two servers in one process keep
//! separate figures.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use metrics::Recorder;
use metrics_exporter_prometheus::{
    Matcher, PrometheusBuilder, PrometheusHandle, PrometheusRecorder,
};
use redynamo_layers::metrics::{CommandStats, Telemetry, LATENCY_BOUNDS_NS};
use tokio::net::TcpListener;
use tracing::{debug, info, warn};

use crate::server::state::ServerState;

/// Latency buckets in seconds for `_seconds` histograms that other
/// components record through the facade: the same bounds as the command
/// latency histogram, so dashboards can compare them.
fn latency_buckets() -> Vec<f64> {
    LATENCY_BOUNDS_NS
        .iter()
        .map(|&ns| ns as f64 / 1e9)
        .collect()
}

/// The server's recorder and the handle that renders it.
#[derive(Clone)]
pub struct Exporter {
    pub telemetry: Telemetry,
    pub handle: PrometheusHandle,
}

impl Exporter {
    pub fn new() -> Exporter {
        let recorder: PrometheusRecorder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), &latency_buckets())
            .expect("static, non-empty buckets")
            .build_recorder();
        let handle = recorder.handle();
        let recorder: Arc<dyn Recorder + Send + Sync> = Arc::new(recorder);
        let telemetry = Telemetry::new(recorder);
        describe(&telemetry);
        Exporter { telemetry, handle }
    }
}

/// `# HELP` for the figures [`render`] sets at scrape time.
fn describe(t: &Telemetry) {
    t.describe_gauge("redynamo_connected_clients", "Clients connected now.");
    t.describe_counter(
        "redynamo_connections_received_total",
        "Connections accepted (not those refused at maxclients).",
    );
    t.describe_counter(
        "redynamo_connections_rejected_total",
        "Connections refused with \"max number of clients reached\".",
    );
    t.describe_counter("redynamo_net_input_bytes_total", "Bytes read from clients.");
    t.describe_counter(
        "redynamo_net_output_bytes_total",
        "Bytes written to clients.",
    );
    t.describe_gauge(
        "redynamo_uptime_seconds",
        "Seconds since the server started.",
    );
    t.describe_gauge("redynamo_up", "Always 1: the server answers.");
    t.describe_gauge(
        "redynamo_ready",
        "1 while /readyz answers 200; 0 once a drain has begun or the backend is unreachable.",
    );
    t.describe_gauge(
        "process_resident_memory_bytes",
        "Resident set size of the process.",
    );
    t.describe_counter(
        "redynamo_expired_keys_total",
        "Keys removed because their TTL passed.",
    );
    t.describe_counter("redynamo_evicted_keys_total", "Keys evicted for memory.");
    t.describe_counter(
        "redynamo_keyspace_hits_total",
        "Key lookups that found the key.",
    );
    t.describe_counter(
        "redynamo_keyspace_misses_total",
        "Key lookups that did not find the key.",
    );
    t.describe_gauge("redynamo_keys", "Keys in each database (db 0 to 15).");
    t.describe_gauge(
        "redynamo_expiring_keys",
        "Keys with a TTL in each database (db 0 to 15).",
    );
}

impl Default for Exporter {
    fn default() -> Self {
        Exporter::new()
    }
}

/// Update the scrape-time figures, then render everything.
pub fn render(state: &ServerState, exporter: &Exporter) -> String {
    let t = &exporter.telemetry;
    let s = &state.stats;
    let get = |c: &std::sync::atomic::AtomicU64| c.load(Ordering::Relaxed);
    t.gauge("redynamo_connected_clients", &[])
        .set(state.clients.len() as f64);
    t.counter("redynamo_connections_received_total", &[])
        .absolute(get(&s.total_connections_received));
    t.counter("redynamo_connections_rejected_total", &[])
        .absolute(get(&s.rejected_connections));
    t.counter("redynamo_net_input_bytes_total", &[])
        .absolute(get(&s.net_input_bytes));
    t.counter("redynamo_net_output_bytes_total", &[])
        .absolute(get(&s.net_output_bytes));
    t.gauge("redynamo_uptime_seconds", &[])
        .set(state.started.elapsed().as_secs_f64());
    t.gauge("redynamo_up", &[]).set(1.0);
    t.gauge("redynamo_ready", &[])
        .set(if state.is_ready() { 1.0 } else { 0.0 });
    t.gauge("process_resident_memory_bytes", &[])
        .set(crate::admin::rss_bytes() as f64);
    let backend = (state.backend_stats)();
    t.counter("redynamo_expired_keys_total", &[])
        .absolute(backend.expired_keys);
    t.counter("redynamo_evicted_keys_total", &[])
        .absolute(backend.evicted_keys);
    t.counter("redynamo_keyspace_hits_total", &[])
        .absolute(backend.keyspace_hits);
    t.counter("redynamo_keyspace_misses_total", &[])
        .absolute(backend.keyspace_misses);
    for db in 0..state.config.databases.min(DB_LABELS.len() as u32) {
        let found = backend.keyspace.iter().find(|d| d.db == db);
        let label = DB_LABELS[db as usize];
        t.gauge("redynamo_keys", &[("db", label)])
            .set(found.map_or(0, |d| d.keys) as f64);
        t.gauge("redynamo_expiring_keys", &[("db", label)])
            .set(found.map_or(0, |d| d.expires) as f64);
    }
    if let Some(cache) = &state.cache {
        let (entries, bytes) = cache.usage();
        // Counted with plain atomics on the lookup path, published here.
        let counts = cache.counts();
        t.counter("redynamo_cache_hits_total", &[])
            .absolute(counts.hits);
        t.counter("redynamo_cache_misses_total", &[])
            .absolute(counts.misses);
        t.counter("redynamo_cache_stale_reads_total", &[])
            .absolute(counts.stale_refusals);
        t.gauge("redynamo_cache_entries", &[]).set(entries as f64);
        t.gauge("redynamo_cache_bytes", &[]).set(bytes as f64);
        t.gauge("redynamo_cache_serving", &[])
            .set(if cache.is_serving() { 1.0 } else { 0.0 });
    }
    if let Some(report) = &state.backend_report {
        report.publish(t);
    }
    state.command_stats.publish();
    let mut out = exporter.handle.render();
    render_command_latency(state, &mut out);
    out
}

/// `redynamo_command_duration_seconds`, from the metrics layer's own
/// fixed-bucket histograms (cheaper on the command path than the
/// exporter's), in the Prometheus text format.
fn render_command_latency(state: &ServerState, out: &mut String) {
    use std::fmt::Write as _;
    const NAME: &str = "redynamo_command_duration_seconds";
    let latencies = state.command_stats.latencies();
    if latencies.is_empty() {
        return;
    }
    if !out.is_empty() && !out.ends_with("\n\n") {
        out.push('\n');
    }
    let _ = writeln!(out, "# HELP {NAME} {}", CommandStats::LATENCY_HELP);
    let _ = writeln!(out, "# TYPE {NAME} histogram");
    let bounds: Vec<f64> = latency_buckets();
    for (command, l) in latencies {
        for (bound, count) in bounds.iter().zip(&l.cumulative) {
            let _ = writeln!(
                out,
                "{NAME}_bucket{{command=\"{command}\",le=\"{bound}\"}} {count}"
            );
        }
        let count = l.count();
        let _ = writeln!(
            out,
            "{NAME}_bucket{{command=\"{command}\",le=\"+Inf\"}} {count}"
        );
        let _ = writeln!(out, "{NAME}_sum{{command=\"{command}\"}} {}", l.sum_seconds);
        let _ = writeln!(out, "{NAME}_count{{command=\"{command}\"}} {count}");
    }
    out.push('\n');
}

/// `db` label values: static so the label set is bounded. Databases past
/// the 16th are not broken out (INFO keyspace still lists them).
const DB_LABELS: [&str; 16] = [
    "0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12", "13", "14", "15",
];

/// Serve `/metrics`, `/healthz` and `/readyz` until shutdown completes.
pub async fn serve(listener: TcpListener, state: Arc<ServerState>, exporter: Exporter) {
    if let Ok(metrics_addr) = listener.local_addr() {
        info!(%metrics_addr, "serving /metrics, /healthz and /readyz");
    }
    // Histograms need periodic upkeep to bound their memory.
    let upkeep = exporter.handle.clone();
    let upkeep_stop = state.stopped.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(5));
        loop {
            tokio::select! {
                _ = tick.tick() => upkeep.run_upkeep(),
                _ = upkeep_stop.cancelled() => return,
            }
        }
    });
    loop {
        let (stream, _) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    warn!(error = %e, "metrics listener accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = state.stopped.cancelled() => return,
        };
        let state = state.clone();
        let exporter = exporter.clone();
        tokio::spawn(async move {
            let svc = service_fn(move |req: Request<Incoming>| {
                let state = state.clone();
                let exporter = exporter.clone();
                async move { Ok::<_, Infallible>(respond(&req, &state, &exporter)) }
            });
            if let Err(e) = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), svc)
                .await
            {
                debug!(error = %e, "metrics connection ended");
            }
        });
    }
}

fn respond(
    req: &Request<Incoming>,
    state: &ServerState,
    exporter: &Exporter,
) -> Response<Full<Bytes>> {
    let (status, content_type, body) = match req.uri().path() {
        "/metrics" => (
            StatusCode::OK,
            "text/plain; version=0.0.4",
            render(state, exporter),
        ),
        "/healthz" => (StatusCode::OK, "text/plain", "ok\n".to_string()),
        // A node whose follower is behind or failing stays ready: reads go
        // to DynamoDB, correct but slower. The body says so.
        "/readyz" if state.is_ready() => (StatusCode::OK, "text/plain", ready_body(state)),
        "/readyz" => (
            StatusCode::SERVICE_UNAVAILABLE,
            "text/plain",
            match state.backend_report.as_ref().map(|r| r.ready()) {
                Some(Err(why)) if !state.shutdown.is_cancelled() => format!("not ready\n{why}\n"),
                _ => "not ready\n".to_string(),
            },
        ),
        _ => (
            StatusCode::NOT_FOUND,
            "text/plain",
            "not found\n".to_string(),
        ),
    };
    let mut resp = Response::new(Full::new(Bytes::from(body)));
    *resp.status_mut() = status;
    if let Ok(v) = content_type.parse() {
        resp.headers_mut().insert(hyper::header::CONTENT_TYPE, v);
    }
    resp
}

/// Bind the metrics listener (before the server starts, so a bad address
/// fails start-up).
pub async fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    TcpListener::bind(addr).await
}

/// `ready`, and the cache's state when there is a follower.
fn ready_body(state: &ServerState) -> String {
    match (&state.cache, &state.follower) {
        (Some(cache), Some(follower)) => format!(
            "ready\ncache: {} (follower {}, lag {} ms)\n",
            if cache.is_serving() {
                "serving"
            } else {
                "not serving"
            },
            follower.status(),
            follower.status().lag().as_millis(),
        ),
        _ => "ready\n".to_string(),
    }
}
