//! INFO: the sections clients and tools read, in Redis' format
//! (`# Section` headers, `name:value` lines, CRLF).

use std::fmt::Write as _;
use std::sync::atomic::Ordering;

use bytes::Bytes;

use crate::server::pubsub::Kind;
use crate::server::state::{ServerState, ServerStats};

/// Redis version redynamo reports. Clients gate features on it; redynamo
/// implements the Redis 7.2 behaviour of every command it supports.
pub const REDIS_VERSION: &str = "7.2.4";

const DEFAULT: &[&str] = &[
    "server",
    "clients",
    "memory",
    "persistence",
    "stats",
    "replication",
    "cpu",
    "modules",
    "errorstats",
    "cluster",
    "keyspace",
    "cache",
    "upstream",
];

/// Render the sections named in `args` (none: the default set; `all`,
/// `everything` and `default` as in Redis).
pub fn render_info(state: &ServerState, args: &[Bytes]) -> String {
    let mut wanted: Vec<String> = args
        .iter()
        .map(|a| String::from_utf8_lossy(a).to_ascii_lowercase())
        .collect();
    if wanted.is_empty() || wanted.iter().any(|w| w == "default") {
        wanted.retain(|w| w != "default");
        wanted.extend(DEFAULT.iter().map(|s| s.to_string()));
    }
    if wanted.iter().any(|w| w == "all" || w == "everything") {
        wanted = DEFAULT.iter().map(|s| s.to_string()).collect();
        wanted.push("commandstats".into());
    }
    let mut out = String::with_capacity(2048);
    for section in DEFAULT.iter().copied().chain(["commandstats"]) {
        if !wanted.iter().any(|w| w == section) {
            continue;
        }
        let body = match section {
            "server" => server(state),
            "clients" => clients(state),
            "memory" => memory(state),
            "persistence" => persistence(state),
            "stats" => stats(state),
            "replication" => replication(),
            "cpu" => cpu(),
            "modules" => String::new(),
            "errorstats" => errorstats(state),
            "cluster" => "cluster_enabled:0\r\n".to_string(),
            "keyspace" => keyspace(state),
            "cache" => cache(state),
            // The backend's own section (the upstream proxy's), when it
            // has one.
            "upstream" => match state.backend_report.as_ref().map(|r| r.info()) {
                Some((name, body)) if name == section => body,
                _ => continue,
            },
            "commandstats" => commandstats(state),
            _ => continue,
        };
        if !out.is_empty() {
            out.push_str("\r\n");
        }
        let title = match section {
            "cpu" => "CPU".to_string(),
            other => {
                let mut t = other.to_string();
                t[..1].make_ascii_uppercase();
                t
            }
        };
        let _ = write!(out, "# {title}\r\n{body}");
    }
    out
}

fn server(state: &ServerState) -> String {
    let uptime = state.started.elapsed().as_secs();
    let mut s = String::new();
    let _ = write!(
        s,
        "redis_version:{REDIS_VERSION}\r\n\
         redis_git_sha1:00000000\r\n\
         redis_git_dirty:0\r\n\
         redis_build_id:0\r\n\
         redis_mode:standalone\r\n\
         os:{} {}\r\n\
         arch_bits:{}\r\n\
         multiplexing_api:epoll\r\n\
         process_id:{}\r\n\
         run_id:{}\r\n\
         tcp_port:{}\r\n\
         server_time_usec:{}\r\n\
         uptime_in_seconds:{uptime}\r\n\
         uptime_in_days:{}\r\n\
         executable:redynamo\r\n\
         config_file:{}\r\n\
         redynamo_version:{}\r\n\
         redynamo_backend:{}\r\n",
        std::env::consts::OS,
        std::env::consts::ARCH,
        usize::BITS,
        std::process::id(),
        state.run_id,
        state.port.load(Ordering::Relaxed),
        crate::util::now_us(),
        uptime / 86_400,
        state
            .config
            .config_file
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_default(),
        env!("CARGO_PKG_VERSION"),
        state.backend_name,
    );
    s
}

fn clients(state: &ServerState) -> String {
    format!(
        "connected_clients:{}\r\n\
         cluster_connections:0\r\n\
         maxclients:{}\r\n\
         client_recent_max_input_buffer:0\r\n\
         client_recent_max_output_buffer:0\r\n\
         blocked_clients:{}\r\n\
         tracking_clients:{}\r\n\
         clients_in_timeout_table:0\r\n",
        state.clients.len(),
        state.tunables.maxclients.load(Ordering::Relaxed),
        state
            .clients
            .all()
            .iter()
            .filter(|c| c.info.block.is_blocked())
            .count(),
        state.tracking.clients(),
    )
}

/// Resident set size of this process, from /proc (0 where unavailable).
pub fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map(|pages| pages * 4096)
        .unwrap_or(0)
}

fn human(bytes: u64) -> String {
    let b = bytes as f64;
    if b >= 1024.0 * 1024.0 * 1024.0 {
        format!("{:.2}G", b / (1024.0 * 1024.0 * 1024.0))
    } else if b >= 1024.0 * 1024.0 {
        format!("{:.2}M", b / (1024.0 * 1024.0))
    } else if b >= 1024.0 {
        format!("{:.2}K", b / 1024.0)
    } else {
        format!("{bytes}B")
    }
}

fn memory(state: &ServerState) -> String {
    let rss = rss_bytes();
    // The allocator's own figures when the program gave a way to read
    // them (the binary: mimalloc's committed bytes, see main.rs); else the
    // RSS, the figure an operator's capacity planning needs anyway.
    let (used, peak) = match state.allocator_stats {
        Some(stats) => stats(),
        None => (rss, rss),
    };
    let backend = (state.backend_stats)();
    // An empty Lua VM is ~30 KB in Redis; 0 here until the first script.
    let lua = backend.lua_bytes;
    format!(
        "used_memory:{used}\r\n\
         used_memory_human:{}\r\n\
         used_memory_rss:{rss}\r\n\
         used_memory_rss_human:{}\r\n\
         used_memory_peak:{peak}\r\n\
         used_memory_peak_human:{}\r\n\
         used_memory_lua:{lua}\r\n\
         used_memory_vm_eval:{lua}\r\n\
         used_memory_lua_human:{}\r\n\
         used_memory_scripts_eval:0\r\n\
         number_of_cached_scripts:{}\r\n\
         number_of_functions:{}\r\n\
         maxmemory:0\r\n\
         maxmemory_human:0B\r\n\
         maxmemory_policy:noeviction\r\n\
         mem_allocator:{}\r\n",
        human(used),
        human(rss),
        human(peak),
        human(lua),
        backend.cached_scripts,
        backend.functions,
        state.allocator,
    )
}

fn persistence(state: &ServerState) -> String {
    format!(
        "loading:0\r\n\
         async_loading:0\r\n\
         rdb_changes_since_last_save:0\r\n\
         rdb_bgsave_in_progress:0\r\n\
         rdb_last_save_time:{}\r\n\
         rdb_last_bgsave_status:ok\r\n\
         aof_enabled:0\r\n\
         aof_rewrite_in_progress:0\r\n\
         aof_last_bgrewrite_status:ok\r\n\
         aof_last_write_status:ok\r\n",
        state.started_unix_secs
    )
}

fn stats(state: &ServerState) -> String {
    let s = &state.stats;
    let backend = (state.backend_stats)();
    let tracking = state.tracking.totals();
    format!(
        "total_connections_received:{}\r\n\
         total_commands_processed:{}\r\n\
         instantaneous_ops_per_sec:0\r\n\
         total_net_input_bytes:{}\r\n\
         total_net_output_bytes:{}\r\n\
         rejected_connections:{}\r\n\
         expired_keys:{}\r\n\
         evicted_keys:{}\r\n\
         keyspace_hits:{}\r\n\
         keyspace_misses:{}\r\n\
         pubsub_channels:{}\r\n\
         pubsub_patterns:{}\r\n\
         pubsubshard_channels:{}\r\n\
         client_output_buffer_limit_disconnections:{}\r\n\
         tracking_total_keys:{}\r\n\
         tracking_total_items:{}\r\n\
         tracking_total_prefixes:{}\r\n",
        ServerStats::get(&s.total_connections_received),
        ServerStats::get(&s.total_commands_processed),
        ServerStats::get(&s.net_input_bytes),
        ServerStats::get(&s.net_output_bytes),
        ServerStats::get(&s.rejected_connections),
        backend.expired_keys,
        backend.evicted_keys,
        backend.keyspace_hits,
        backend.keyspace_misses,
        state.pubsub.len(Kind::Channel),
        state.pubsub.numpat(),
        state.pubsub.len(Kind::Shard),
        state.pubsub.disconnections.load(Ordering::Relaxed),
        tracking.0,
        tracking.1,
        tracking.2,
    )
}

fn replication() -> String {
    "role:master\r\nconnected_slaves:0\r\nmaster_repl_offset:0\r\n".to_string()
}

fn cpu() -> String {
    // utime and stime of this process, from /proc/self/stat (fields 14, 15).
    let (user, sys) = std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|s| {
            let rest = s.rsplit_once(')')?.1;
            let f: Vec<&str> = rest.split_whitespace().collect();
            Some((
                f.get(11)?.parse::<f64>().ok()?,
                f.get(12)?.parse::<f64>().ok()?,
            ))
        })
        .unwrap_or((0.0, 0.0));
    format!(
        "used_cpu_sys:{:.6}\r\nused_cpu_user:{:.6}\r\nused_cpu_sys_children:0.000000\r\nused_cpu_user_children:0.000000\r\n",
        sys / 100.0,
        user / 100.0
    )
}

fn keyspace(state: &ServerState) -> String {
    let mut s = String::new();
    for db in (state.backend_stats)().keyspace {
        if db.keys > 0 {
            let _ = write!(
                s,
                "db{}:keys={},expires={},avg_ttl=0\r\n",
                db.db, db.keys, db.expires
            );
        }
    }
    s
}

fn commandstats(state: &ServerState) -> String {
    let mut s = String::new();
    // Unknown names are counted for Prometheus only: Redis does not list
    // commands that do not exist.
    let known = state.command_stats.snapshot().into_iter();
    for c in known.filter(|c| c.name != redynamo_layers::metrics::UNKNOWN_COMMAND) {
        let per_call = if c.calls == 0 {
            0.0
        } else {
            c.usec as f64 / c.calls as f64
        };
        let _ = write!(
            s,
            "cmdstat_{}:calls={},usec={},usec_per_call={:.2},rejected_calls={},failed_calls={}\r\n",
            c.name, c.calls, c.usec, per_call, c.rejected, c.failed
        );
    }
    s
}

fn errorstats(state: &ServerState) -> String {
    let mut s = String::new();
    for (code, count) in state.command_stats.errors() {
        let _ = write!(s, "errorstat_{code}:count={count}\r\n");
    }
    s
}

/// The node cache in front of DynamoDB (absent for the memory backend).
fn cache(state: &ServerState) -> String {
    match &state.cache {
        None => "cache_enabled:0\r\n".to_string(),
        Some(cache) => {
            let (entries, bytes) = cache.usage();
            let follower = state
                .follower
                .as_ref()
                .map_or_else(|| "follower_status:none\r\n".to_string(), |f| f.info());
            format!(
                "cache_enabled:1\r\ncache_serving:{}\r\ncache_entries:{entries}\r\ncache_bytes:{bytes}\r\ncache_max_bytes:{}\r\ncache_max_staleness_ms:{}\r\n{follower}",
                u8::from(cache.is_serving()),
                state.config.cache_max_bytes,
                state.config.max_staleness_ms,
            )
        }
    }
}
