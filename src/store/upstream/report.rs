//! What operators see of the upstream proxy: /readyz, `INFO upstream`
//! and the `redynamo_upstream_*` metrics (docs/upstream.md, "Operators").

use std::sync::atomic::Ordering;
use std::sync::Arc;

use redynamo_layers::metrics::Telemetry;

use super::link::Link;
use super::Shared;
use crate::store::BackendReport;

/// What operators see: /readyz, INFO upstream, metrics.
pub(super) struct Report(pub(super) Arc<Shared>);

impl BackendReport for Report {
    fn ready(&self) -> Result<(), String> {
        let shared = &self.0;
        let pool = shared.pool(false);
        if pool.iter().any(|l| l.state.is_up()) {
            Ok(())
        } else {
            let why = pool
                .first()
                .map(|l| l.state.last_error())
                .unwrap_or_default();
            Err(format!("upstream unavailable: {why}"))
        }
    }

    fn info(&self) -> (&'static str, String) {
        let s = &self.0;
        let links: Vec<&Link> = s.pools.iter().filter_map(|p| p.get()).flatten().collect();
        let up = links.iter().filter(|l| l.state.is_up()).count();
        let in_flight: u64 = links
            .iter()
            .map(|l| l.state.in_flight.load(Ordering::Relaxed))
            .sum();
        let error = links
            .iter()
            .find(|l| !l.state.is_up())
            .map(|l| l.state.last_error())
            .unwrap_or_default();
        let (tracking, invalidations, keys, tracking_error) = match &s.tracking {
            Some(t) => (
                t.state_name(),
                t.invalidations.load(Ordering::Relaxed),
                t.invalidated_keys.load(Ordering::Relaxed),
                t.last_error(),
            ),
            None => ("off", 0, 0, String::new()),
        };
        let clean = |t: String| t.replace(['\r', '\n'], " ");
        // Read apart: a guard in format!'s arguments lives to its end.
        let pinned = s.pins.lock().len();
        let exclusive = s.exclusive_in_use();
        let body = format!(
            "upstream_url:{}\r\nupstream_status:{}\r\nupstream_databases:{}\r\nupstream_links:{}\r\nupstream_links_up:{up}\r\nupstream_in_flight:{in_flight}\r\nupstream_pinned_clients:{}\r\nupstream_exclusive_links_in_use:{}\r\nupstream_calls_ok:{}\r\nupstream_calls_error:{}\r\nupstream_calls_unavailable:{}\r\nupstream_last_error:{}\r\nupstream_tracking:{tracking}\r\nupstream_tracking_error:{}\r\nupstream_invalidations:{invalidations}\r\nupstream_invalidated_keys:{keys}\r\n",
            s.url,
            if self.ready().is_ok() { "up" } else { "down" },
            s.databases.load(Ordering::Relaxed),
            links.len(),
            pinned,
            exclusive,
            s.stats.ok.load(Ordering::Relaxed),
            s.stats.errors.load(Ordering::Relaxed),
            s.stats.unavailable.load(Ordering::Relaxed),
            clean(error),
            clean(tracking_error),
        );
        ("upstream", body)
    }

    fn attach(&self, telemetry: &Telemetry) {
        let _ = self
            .0
            .latency
            .set(telemetry.histogram("redynamo_upstream_call_duration_seconds", &[]));
        telemetry.describe_histogram(
            "redynamo_upstream_call_duration_seconds",
            "Time from sending a command to the upstream to its reply (blocking waits included).",
        );
        telemetry.describe_counter("redynamo_upstream_calls_total", "Commands sent to the upstream, by outcome: ok, error (an error reply), unavailable (no reply: connection down or lost).");
        telemetry.describe_gauge(
            "redynamo_upstream_up",
            "1 while at least one shared upstream connection is up.",
        );
        telemetry.describe_gauge(
            "redynamo_upstream_links",
            "Shared upstream connections, by state.",
        );
        telemetry.describe_gauge(
            "redynamo_upstream_in_flight",
            "Commands sent on shared upstream connections and not yet answered (pool use).",
        );
        telemetry.describe_gauge(
            "redynamo_upstream_pinned_clients",
            "Clients holding a pinned upstream connection (WATCH).",
        );
        telemetry.describe_gauge(
            "redynamo_upstream_exclusive_links",
            "Exclusive upstream connections in use (pinned clients and blocking commands).",
        );
        telemetry.describe_counter(
            "redynamo_upstream_invalidations_total",
            "Invalidation messages received from the upstream.",
        );
        telemetry.describe_counter(
            "redynamo_upstream_invalidated_keys_total",
            "Keys named by the upstream's invalidation messages.",
        );
        telemetry.describe_gauge(
            "redynamo_upstream_tracking_live",
            "1 while the invalidation connection is live (the cache may serve).",
        );
        telemetry.describe_counter(
            "redynamo_upstream_tracking_losses_total",
            "Times the invalidation connection was lost (each flushes the cache).",
        );
        telemetry.describe_gauge(
            "redynamo_upstream_serving_stale",
            "1 while --serve-stale-on-error answers cached reads without invalidations.",
        );
        telemetry.describe_counter(
            "redynamo_upstream_stale_reads_total",
            "Cached reads answered while serving stale (--serve-stale-on-error).",
        );
    }

    fn publish(&self, t: &Telemetry) {
        let s = &self.0;
        let links: Vec<&Link> = s.pools.iter().filter_map(|p| p.get()).flatten().collect();
        let up = links.iter().filter(|l| l.state.is_up()).count();
        t.counter("redynamo_upstream_calls_total", &[("outcome", "ok")])
            .absolute(s.stats.ok.load(Ordering::Relaxed));
        t.counter("redynamo_upstream_calls_total", &[("outcome", "error")])
            .absolute(s.stats.errors.load(Ordering::Relaxed));
        t.counter(
            "redynamo_upstream_calls_total",
            &[("outcome", "unavailable")],
        )
        .absolute(s.stats.unavailable.load(Ordering::Relaxed));
        t.gauge("redynamo_upstream_up", &[])
            .set(if self.ready().is_ok() { 1.0 } else { 0.0 });
        t.gauge("redynamo_upstream_links", &[("state", "up")])
            .set(up as f64);
        t.gauge("redynamo_upstream_links", &[("state", "down")])
            .set((links.len() - up) as f64);
        t.gauge("redynamo_upstream_in_flight", &[]).set(
            links
                .iter()
                .map(|l| l.state.in_flight.load(Ordering::Relaxed))
                .sum::<u64>() as f64,
        );
        let pinned = s.pins.lock().len();
        t.gauge("redynamo_upstream_pinned_clients", &[])
            .set(pinned as f64);
        t.gauge("redynamo_upstream_exclusive_links", &[])
            .set(s.exclusive_in_use() as f64);
        if let Some(tr) = &s.tracking {
            t.counter("redynamo_upstream_invalidations_total", &[])
                .absolute(tr.invalidations.load(Ordering::Relaxed));
            t.counter("redynamo_upstream_invalidated_keys_total", &[])
                .absolute(tr.invalidated_keys.load(Ordering::Relaxed));
            t.gauge("redynamo_upstream_tracking_live", &[])
                .set(if tr.state_name() == "live" { 1.0 } else { 0.0 });
            t.counter("redynamo_upstream_tracking_losses_total", &[])
                .absolute(tr.losses.load(Ordering::Relaxed));
            t.gauge("redynamo_upstream_serving_stale", &[])
                .set(if tr.state_name() == "stale" { 1.0 } else { 0.0 });
            if let Some(cache) = s.cache.get() {
                t.counter("redynamo_upstream_stale_reads_total", &[])
                    .absolute(tr.stale_hits(cache));
            }
        }
    }
}
