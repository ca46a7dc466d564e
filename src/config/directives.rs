//! Every setting the server knows, in one table: Redis 7.2's directives
//! (from `standardConfig static_configs[]` in redis/redis `src/config.c`,
//! aliases included) and redynamo's own options.
//!
//! A row says whether redynamo applies the setting — through which
//! command-line option, how to read its current value for CONFIG GET and
//! how (if at all) CONFIG SET changes it — or accepts it and ignores it,
//! and why. The config file reader ([`super::load_from`]), CONFIG
//! GET/SET and CONFIG REWRITE all work from this table.
//!
//! To add a setting, add one row where it sorts (Redis' names first, then
//! redynamo's own): `applied(...)` with its getter (and setter, when it may
//! change at run time), or turn an `ignored(...)` row into an `applied`
//! one when redynamo starts to honour it.
//!
//! The file is long because the table is: about 190 rows, one per setting
//! Redis 7.2 or redynamo knows. Keeping them in one place is the point.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::atomic::{AtomicU64, AtomicUsize};

use crate::server::state::ServerState;
use crate::server::tls::TlsFile;

use Arg::*;
use Mutability::*;
use Why::*;

/// Reads a setting's current value as CONFIG GET prints it.
pub type Getter = fn(&ServerState) -> String;
/// Changes a setting at run time; the error is the text after
/// `ERR CONFIG SET failed (possibly related to argument 'x') - `.
pub type Setter = fn(&ServerState, &str) -> Result<(), String>;

/// One known setting.
#[derive(Clone, Copy)]
pub struct Directive {
    pub name: &'static str,
    /// Redis' other name for it (`slaveof` for `replicaof`,
    /// `hash-max-ziplist-entries` …): read in files, listed by CONFIG GET.
    pub alias: Option<&'static str>,
    /// The value when nothing sets it, as CONFIG GET prints it; CONFIG
    /// REWRITE adds a line only for a value that differs.
    pub default: &'static str,
    /// Not listed by `CONFIG GET *` (Redis' HIDDEN_CONFIG: test hooks).
    pub hidden: bool,
    pub effect: Effect,
}

#[derive(Clone, Copy)]
pub enum Effect {
    /// redynamo honours it, as the command-line option `--{option}`.
    Applied {
        option: &'static str,
        arg: Arg,
        get: Getter,
        /// None: cannot change at run time.
        set: Option<Setter>,
    },
    /// Known to Redis, no effect in redynamo: accepted in a config file
    /// with one start-up warning, its value recorded for CONFIG GET and
    /// CONFIG REWRITE.
    Ignored(Why, Mutability),
}

/// How a directive's arguments become the command-line option's value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arg {
    /// One argument, as it is (numbers, names).
    Plain,
    /// One argument, a string: CONFIG REWRITE writes it quoted.
    Text,
    /// One byte count with memtoll's units (`64mb`).
    Bytes,
    /// A switch (`--create-table`): `yes`, `no` or nothing.
    Switch,
    /// Redis' `debug|verbose|notice|warning|nothing`, as a log filter.
    LogLevel,
    /// Redis' list of addresses (`127.0.0.1 -::1`): redynamo listens on
    /// the first; the start-up warning names the others.
    Bind,
    /// Several arguments, one value (`client-output-buffer-limit pubsub
    /// 32mb 8mb 60`); its lines add up, as in Redis (`normal …` on one
    /// line, `pubsub …` on the next).
    Words,
}

/// Whether Redis lets CONFIG SET change a setting (what CONFIG SET of an
/// ignored one answers).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mutability {
    Mutable,
    /// `can't set immutable config`.
    Immutable,
    /// `can't set protected config` (`enable-protected-configs no`).
    Protected,
}

/// Why redynamo ignores a Redis directive (the start-up warning groups
/// them by this).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Why {
    Persistence,
    Replication,
    Cluster,
    Tls,
    Process,
    Memory,
    Encoding,
    NotYet,
    Deprecated,
}

impl Why {
    pub fn text(self) -> &'static str {
        match self {
            Persistence => "no RDB or AOF files, the backend keeps the data",
            Replication => "no replication",
            Cluster => "no cluster mode",
            Tls => "no TLS yet",
            Process => "runs in the foreground and logs to stdout, under a service manager",
            Memory => "no eviction or allocator tuning",
            Encoding => "Redis' internal encodings",
            NotYet => "not implemented yet",
            Deprecated => "deprecated in Redis",
        }
    }
}

impl Directive {
    const fn alias(mut self, alias: &'static str) -> Directive {
        self.alias = Some(alias);
        self
    }

    const fn hidden(mut self) -> Directive {
        self.hidden = true;
        self
    }

    /// `name` or its alias, case-insensitive.
    pub fn answers_to(&self, name: &str) -> bool {
        self.name.eq_ignore_ascii_case(name)
            || self.alias.is_some_and(|a| a.eq_ignore_ascii_case(name))
    }

    /// Its current value: the applied setting's, or the value an ignored
    /// one was given (its default when none was).
    pub fn value(&self, state: &ServerState) -> String {
        match self.effect {
            Effect::Applied { get, .. } => get(state),
            Effect::Ignored(..) => match state.config.redis_conf.recorded.get(self.name) {
                Some(v) => v.clone(),
                None if self.name == "dir" => std::env::current_dir()
                    .map(|d| d.to_string_lossy().into_owned())
                    .unwrap_or_default(),
                None => self.default.to_string(),
            },
        }
    }

    /// Takes several arguments (`save 900 1 300 10`).
    pub fn multi_arg(&self) -> bool {
        match self.effect {
            Effect::Applied { arg, .. } => matches!(arg, Bind | Words),
            Effect::Ignored(..) => MULTI_ARG.contains(&self.name),
        }
    }
}

/// Redis' MULTI_ARG_CONFIGs among the ignored directives.
const MULTI_ARG: &[&str] = &[
    "save",
    "oom-score-adj-values",
    "latency-tracking-info-percentiles",
    "replicaof",
];

/// Ignored directives that are refused at start-up unless at their
/// default: ignoring them would serve without what they ask for
/// (access control, being a replica).
pub const REFUSED_UNLESS_DEFAULT: &[(&str, &str)] = &[(
    "replicaof",
    "redynamo cannot be a replica (its backend is shared instead)",
)];

const fn applied(
    name: &'static str,
    option: &'static str,
    arg: Arg,
    default: &'static str,
    get: Getter,
    set: Option<Setter>,
) -> Directive {
    Directive {
        name,
        alias: None,
        default,
        hidden: false,
        effect: Effect::Applied {
            option,
            arg,
            get,
            set,
        },
    }
}

const fn ignored(name: &'static str, why: Why, m: Mutability, default: &'static str) -> Directive {
    Directive {
        name,
        alias: None,
        default,
        hidden: false,
        effect: Effect::Ignored(why, m),
    }
}

/// The row for `name` (or an alias of it).
pub fn find(name: &str) -> Option<&'static Directive> {
    DIRECTIVES.iter().find(|d| d.answers_to(name))
}

/// Every setting. Redis' directives in name order, then redynamo's own.
pub static DIRECTIVES: &[Directive] = &[
    ignored("acl-pubsub-default", NotYet, Mutable, "resetchannels"),
    applied(
        "aclfile",
        "aclfile",
        Text,
        "",
        |s| {
            s.config
                .aclfile
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_default()
        },
        None,
    ),
    applied(
        "acllog-max-len",
        "acllog-max-len",
        Plain,
        "128",
        |s| s.credentials.log_max_len().to_string(),
        Some(set_acllog_max_len),
    ),
    ignored("active-defrag-cycle-max", Memory, Mutable, "25"),
    ignored("active-defrag-cycle-min", Memory, Mutable, "1"),
    ignored("active-defrag-ignore-bytes", Memory, Mutable, "104857600"),
    ignored("active-defrag-max-scan-fields", Memory, Mutable, "1000"),
    ignored("active-defrag-threshold-lower", Memory, Mutable, "10"),
    ignored("active-defrag-threshold-upper", Memory, Mutable, "100"),
    ignored("active-expire-effort", Memory, Mutable, "1"),
    ignored("activedefrag", Memory, Mutable, "no"),
    ignored("activerehashing", Memory, Mutable, "yes"),
    ignored("always-show-logo", Process, Immutable, "no"),
    ignored("aof-disable-auto-gc", Persistence, Mutable, "no"),
    ignored("aof-load-truncated", Persistence, Mutable, "yes"),
    ignored("aof-rewrite-incremental-fsync", Persistence, Mutable, "yes"),
    ignored("aof-timestamp-enabled", Persistence, Mutable, "no"),
    ignored("aof-use-rdb-preamble", Persistence, Mutable, "yes"),
    ignored("aof_rewrite_cpulist", Persistence, Immutable, ""),
    ignored("appenddirname", Persistence, Immutable, "appendonlydir"),
    ignored("appendfilename", Persistence, Immutable, "appendonly.aof"),
    ignored("appendfsync", Persistence, Mutable, "everysec"),
    ignored("appendonly", Persistence, Mutable, "no"),
    ignored(
        "auto-aof-rewrite-min-size",
        Persistence,
        Mutable,
        "67108864",
    ),
    ignored("auto-aof-rewrite-percentage", Persistence, Mutable, "100"),
    ignored("bgsave_cpulist", Persistence, Immutable, ""),
    applied(
        "bind",
        "bind",
        Bind,
        "127.0.0.1",
        |s| s.config.bind.to_string(),
        None,
    ),
    ignored("bind-source-addr", NotYet, Mutable, ""),
    ignored("bio_cpulist", Process, Immutable, ""),
    // How long a script runs before other clients get -BUSY
    // (docs/scripting.md).
    applied(
        "busy-reply-threshold",
        "busy-reply-threshold",
        Plain,
        "5000",
        |s| s.scripts.threshold_ms().to_string(),
        Some(set_busy_reply_threshold),
    )
    .alias("lua-time-limit"),
    // Only the pubsub class bounds anything (src/server/pubsub.rs).
    applied(
        "client-output-buffer-limit",
        "client-output-buffer-limit",
        Words,
        "normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60",
        |s| s.pubsub.limits.describe(),
        Some(|s, v| s.pubsub.limits.set(v).map_err(str::to_string)),
    ),
    applied(
        "client-query-buffer-limit",
        "client-query-buffer-limit",
        Bytes,
        "1073741824",
        |s| load(&s.tunables.client_query_buffer_limit),
        Some(set_client_query_buffer_limit),
    ),
    ignored(
        "cluster-allow-pubsubshard-when-down",
        Cluster,
        Mutable,
        "yes",
    ),
    ignored("cluster-allow-reads-when-down", Cluster, Mutable, "no"),
    ignored("cluster-allow-replica-migration", Cluster, Mutable, "yes"),
    ignored("cluster-announce-bus-port", Cluster, Mutable, "0"),
    ignored("cluster-announce-hostname", Cluster, Mutable, ""),
    ignored("cluster-announce-human-nodename", Cluster, Mutable, ""),
    ignored("cluster-announce-ip", Cluster, Mutable, ""),
    ignored("cluster-announce-port", Cluster, Mutable, "0"),
    ignored("cluster-announce-tls-port", Cluster, Mutable, "0"),
    ignored("cluster-config-file", Cluster, Immutable, "nodes.conf"),
    ignored("cluster-enabled", Cluster, Immutable, "no"),
    ignored("cluster-link-sendbuf-limit", Cluster, Mutable, "0"),
    ignored("cluster-migration-barrier", Cluster, Mutable, "1"),
    ignored("cluster-node-timeout", Cluster, Mutable, "15000"),
    ignored("cluster-port", Cluster, Immutable, "0"),
    ignored("cluster-preferred-endpoint-type", Cluster, Mutable, "ip"),
    ignored("cluster-replica-no-failover", Cluster, Mutable, "no")
        .alias("cluster-slave-no-failover"),
    ignored("cluster-replica-validity-factor", Cluster, Mutable, "10")
        .alias("cluster-slave-validity-factor"),
    ignored("cluster-require-full-coverage", Cluster, Mutable, "yes"),
    ignored("crash-log-enabled", Process, Mutable, "yes"),
    ignored("crash-memcheck-enabled", Process, Mutable, "yes"),
    ignored("daemonize", Process, Immutable, "no"),
    applied(
        "databases",
        "databases",
        Plain,
        "16",
        |s| s.config.databases.to_string(),
        None,
    ),
    ignored("dbfilename", Persistence, Protected, "dump.rdb"),
    ignored("dir", Persistence, Protected, ""), // CONFIG GET: the working directory
    applied(
        "disable-thp",
        "disable-thp",
        Plain,
        "yes",
        |s| yes_no(s.config.disable_thp),
        None,
    ),
    ignored("dynamic-hz", Memory, Mutable, "yes"),
    applied(
        "enable-debug-command",
        "enable-debug-command",
        Plain,
        "no",
        |s| s.config.enable_debug_command.as_str().into(),
        None,
    ),
    ignored("enable-module-command", NotYet, Immutable, "no"),
    ignored("enable-protected-configs", NotYet, Immutable, "no"),
    ignored("hash-max-listpack-entries", Encoding, Mutable, "512")
        .alias("hash-max-ziplist-entries"),
    ignored("hash-max-listpack-value", Encoding, Mutable, "64").alias("hash-max-ziplist-value"),
    ignored("hll-sparse-max-bytes", Encoding, Mutable, "3000"),
    ignored("hz", Memory, Mutable, "10"),
    ignored("ignore-warnings", Process, Mutable, ""),
    ignored("io-threads", Memory, Immutable, "1"),
    ignored("io-threads-do-reads", Memory, Immutable, "no"),
    ignored("jemalloc-bg-thread", Memory, Mutable, "yes"),
    ignored("key-load-delay", Persistence, Mutable, "0").hidden(),
    ignored("latency-monitor-threshold", NotYet, Mutable, "0"),
    ignored("latency-tracking", NotYet, Mutable, "yes"),
    ignored(
        "latency-tracking-info-percentiles",
        NotYet,
        Mutable,
        "50 99 99.9",
    ),
    ignored("lazyfree-lazy-eviction", Memory, Mutable, "no"),
    ignored("lazyfree-lazy-expire", Memory, Mutable, "no"),
    ignored("lazyfree-lazy-server-del", Memory, Mutable, "no"),
    ignored("lazyfree-lazy-user-del", Memory, Mutable, "no"),
    ignored("lazyfree-lazy-user-flush", Memory, Mutable, "no"),
    ignored("lfu-decay-time", Memory, Mutable, "1"),
    ignored("lfu-log-factor", Memory, Mutable, "10"),
    ignored("list-compress-depth", Encoding, Mutable, "0"),
    ignored("list-max-listpack-size", Encoding, Mutable, "-2").alias("list-max-ziplist-size"),
    ignored(
        "loading-process-events-interval-bytes",
        Persistence,
        Mutable,
        "2097152",
    )
    .hidden(),
    ignored("locale-collate", Process, Mutable, ""),
    ignored("logfile", Process, Immutable, ""),
    applied(
        "loglevel",
        "log-level",
        LogLevel,
        "notice",
        |s| redis_loglevel(&s.config.log_level).into(),
        None,
    ),
    ignored("masterauth", Replication, Mutable, ""),
    ignored("masteruser", Replication, Mutable, ""),
    applied(
        "maxclients",
        "maxclients",
        Plain,
        "10000",
        |s| load(&s.tunables.maxclients),
        Some(set_maxclients),
    ),
    ignored("maxmemory", Memory, Mutable, "0"),
    ignored("maxmemory-clients", Memory, Mutable, "0"),
    ignored("maxmemory-eviction-tenacity", Memory, Mutable, "10"),
    ignored("maxmemory-policy", Memory, Mutable, "noeviction"),
    ignored("maxmemory-samples", Memory, Mutable, "5"),
    ignored("min-replicas-max-lag", Replication, Mutable, "10").alias("min-slaves-max-lag"),
    ignored("min-replicas-to-write", Replication, Mutable, "0").alias("min-slaves-to-write"),
    ignored("no-appendfsync-on-rewrite", Persistence, Mutable, "no"),
    applied(
        "notify-keyspace-events",
        "notify-keyspace-events",
        Text,
        "",
        |s| s.notifier.flags_string(),
        Some(|s, v| s.notifier.set_flags(v).map_err(str::to_string)),
    ),
    ignored("oom-score-adj", Process, Mutable, "no"),
    ignored("oom-score-adj-values", Process, Mutable, "0 200 800"),
    ignored("pidfile", Process, Immutable, ""),
    applied(
        "port",
        "port",
        Plain,
        "6379",
        |s| s.port.load(Relaxed).to_string(),
        None,
    ),
    ignored(
        "proc-title-template",
        Process,
        Mutable,
        "{title} {listen-addr} {server-mode}",
    ),
    ignored("propagation-error-behavior", Replication, Mutable, "ignore"),
    ignored("protected-mode", NotYet, Mutable, "yes"),
    applied(
        "proto-max-bulk-len",
        "proto-max-bulk-len",
        Bytes,
        "536870912",
        |s| load(&s.tunables.proto_max_bulk_len),
        Some(set_proto_max_bulk_len),
    ),
    ignored("rdb-del-sync-files", Persistence, Mutable, "no"),
    ignored("rdb-key-save-delay", Persistence, Mutable, "0").hidden(),
    ignored("rdb-save-incremental-fsync", Persistence, Mutable, "yes"),
    ignored("rdbchecksum", Persistence, Immutable, "yes"),
    ignored("rdbcompression", Persistence, Mutable, "yes"),
    ignored("repl-backlog-size", Replication, Mutable, "1048576"),
    ignored("repl-backlog-ttl", Replication, Mutable, "3600"),
    ignored("repl-disable-tcp-nodelay", Replication, Mutable, "no"),
    ignored("repl-diskless-load", Replication, Mutable, "disabled"),
    ignored("repl-diskless-sync", Replication, Mutable, "yes"),
    ignored("repl-diskless-sync-delay", Replication, Mutable, "5"),
    ignored("repl-diskless-sync-max-replicas", Replication, Mutable, "0"),
    ignored("repl-ping-replica-period", Replication, Mutable, "10").alias("repl-ping-slave-period"),
    ignored("repl-timeout", Replication, Mutable, "60"),
    ignored("replica-announce-ip", Replication, Mutable, "").alias("slave-announce-ip"),
    ignored("replica-announce-port", Replication, Mutable, "0").alias("slave-announce-port"),
    ignored("replica-announced", Replication, Mutable, "yes"),
    ignored(
        "replica-ignore-disk-write-errors",
        Replication,
        Mutable,
        "no",
    ),
    ignored("replica-ignore-maxmemory", Replication, Mutable, "yes")
        .alias("slave-ignore-maxmemory"),
    ignored("replica-lazy-flush", Replication, Mutable, "no").alias("slave-lazy-flush"),
    ignored("replica-priority", Replication, Mutable, "100").alias("slave-priority"),
    ignored("replica-read-only", Replication, Mutable, "yes").alias("slave-read-only"),
    ignored("replica-serve-stale-data", Replication, Mutable, "yes")
        .alias("slave-serve-stale-data"),
    ignored("replicaof", Replication, Immutable, "").alias("slaveof"),
    applied(
        "requirepass",
        "requirepass",
        Text,
        "",
        |s| s.credentials.password().unwrap_or_default(),
        Some(set_requirepass),
    ),
    ignored("sanitize-dump-payload", Encoding, Mutable, "no"),
    ignored("save", Persistence, Mutable, ""),
    ignored("server_cpulist", Process, Immutable, ""),
    ignored("set-max-intset-entries", Encoding, Mutable, "512"),
    ignored("set-proc-title", Process, Immutable, "yes"),
    ignored("shutdown-on-sigint", Process, Mutable, "default"),
    ignored("shutdown-on-sigterm", Process, Mutable, "default"),
    applied(
        "shutdown-timeout",
        "shutdown-timeout",
        Plain,
        "10",
        |s| s.config.shutdown_timeout.to_string(),
        None,
    ),
    applied(
        "slowlog-log-slower-than",
        "slowlog-log-slower-than",
        Plain,
        "10000",
        |s| s.slowlog.threshold_us().to_string(),
        Some(set_slowlog_log_slower_than),
    ),
    applied(
        "slowlog-max-len",
        "slowlog-max-len",
        Plain,
        "128",
        |s| s.slowlog.max_len().to_string(),
        Some(set_slowlog_max_len),
    ),
    ignored("socket-mark-id", Process, Immutable, "0"),
    ignored("stop-writes-on-bgsave-error", Persistence, Mutable, "yes"),
    ignored("stream-node-max-bytes", Encoding, Mutable, "4096"),
    ignored("stream-node-max-entries", Encoding, Mutable, "100"),
    ignored("supervised", Process, Immutable, "no"),
    ignored("syslog-enabled", Process, Immutable, "no"),
    ignored("syslog-facility", Process, Immutable, "local0"),
    ignored("syslog-ident", Process, Immutable, "redis"),
    applied(
        "tcp-backlog",
        "tcp-backlog",
        Plain,
        "511",
        |s| s.config.tcp_backlog.to_string(),
        None,
    ),
    ignored("tcp-keepalive", NotYet, Mutable, "300"),
    applied(
        "timeout",
        "timeout",
        Plain,
        "0",
        |s| load(&s.tunables.idle_timeout_secs),
        Some(set_timeout),
    ),
    ignored("tls-auth-clients", Tls, Mutable, "yes"),
    applied(
        "tls-ca-cert-dir",
        "tls-ca-cert-dir",
        Text,
        "",
        |s| {
            s.tls
                .as_ref()
                .map(|t| t.file(TlsFile::CaDir))
                .unwrap_or_default()
        },
        // Never called: CONFIG SET reloads every TLS file it names together
        // (src/admin/config.rs).
        Some(|_, _| Ok(())),
    ),
    applied(
        "tls-ca-cert-file",
        "tls-ca-cert-file",
        Text,
        "",
        |s| {
            s.tls
                .as_ref()
                .map(|t| t.file(TlsFile::CaFile))
                .unwrap_or_default()
        },
        // Never called: CONFIG SET reloads every TLS file it names together
        // (src/admin/config.rs).
        Some(|_, _| Ok(())),
    ),
    applied(
        "tls-cert-file",
        "tls-cert-file",
        Text,
        "",
        |s| {
            s.tls
                .as_ref()
                .map(|t| t.file(TlsFile::Cert))
                .unwrap_or_default()
        },
        // Never called: CONFIG SET reloads every TLS file it names together
        // (src/admin/config.rs).
        Some(|_, _| Ok(())),
    ),
    ignored("tls-ciphers", Tls, Mutable, ""),
    ignored("tls-ciphersuites", Tls, Mutable, ""),
    ignored("tls-client-cert-file", Tls, Mutable, ""),
    ignored("tls-client-key-file", Tls, Mutable, ""),
    ignored("tls-client-key-file-pass", Tls, Mutable, ""),
    ignored("tls-cluster", Tls, Mutable, "no"),
    ignored("tls-dh-params-file", Tls, Mutable, ""),
    applied(
        "tls-key-file",
        "tls-key-file",
        Text,
        "",
        |s| {
            s.tls
                .as_ref()
                .map(|t| t.file(TlsFile::Key))
                .unwrap_or_default()
        },
        // Never called: CONFIG SET reloads every TLS file it names together
        // (src/admin/config.rs).
        Some(|_, _| Ok(())),
    ),
    ignored("tls-key-file-pass", Tls, Mutable, ""),
    applied(
        "tls-port",
        "tls-port",
        Plain,
        "0",
        |s| s.config.tls_port.to_string(),
        None,
    ),
    ignored("tls-prefer-server-ciphers", Tls, Mutable, "no"),
    ignored("tls-protocols", Tls, Mutable, ""),
    ignored("tls-replication", Tls, Mutable, "no"),
    ignored("tls-session-cache-size", Tls, Mutable, "20480"),
    ignored("tls-session-cache-timeout", Tls, Mutable, "300"),
    ignored("tls-session-caching", Tls, Mutable, "yes"),
    applied(
        "tracking-table-max-keys",
        "tracking-table-max-keys",
        Plain,
        "1000000",
        |s| load(&s.tracking.max_keys),
        Some(set_tracking_table_max_keys),
    ),
    ignored("unixsocket", NotYet, Immutable, ""),
    ignored("unixsocketperm", NotYet, Immutable, "0"),
    ignored("use-exit-on-panic", Process, Mutable, "no").hidden(),
    ignored("watchdog-period", Process, Mutable, "0").hidden(),
    ignored("zset-max-listpack-entries", Encoding, Mutable, "128")
        .alias("zset-max-ziplist-entries"),
    ignored("zset-max-listpack-value", Encoding, Mutable, "64").alias("zset-max-ziplist-value"),
    // redynamo's own settings (its command-line options).
    applied(
        "backend",
        "backend",
        Plain,
        "memory",
        |s| s.config.backend.as_str().into(),
        None,
    ),
    applied(
        "cache-max-age-ms",
        "cache-max-age-ms",
        Plain,
        "0",
        |s| s.config.cache_max_age_ms.to_string(),
        None,
    ),
    applied(
        "cache-max-bytes",
        "cache-max-bytes",
        Bytes,
        "268435456",
        |s| s.config.cache_max_bytes.to_string(),
        None,
    ),
    applied(
        "create-table",
        "create-table",
        Switch,
        "no",
        |s| yes_no(s.config.create_table),
        None,
    ),
    applied(
        "dynamo-max-attempts",
        "dynamo-max-attempts",
        Plain,
        "3",
        |s| s.config.dynamo_max_attempts.to_string(),
        None,
    ),
    applied(
        "dynamo-timeout-ms",
        "dynamo-timeout-ms",
        Plain,
        "2000",
        |s| s.config.dynamo_timeout_ms.to_string(),
        None,
    ),
    applied(
        "log-format",
        "log-format",
        Plain,
        "text",
        |s| s.config.log_format.as_str().into(),
        None,
    ),
    applied(
        "log-level",
        "log-level",
        Text,
        "info",
        |s| s.config.log_level.clone(),
        None,
    ),
    applied(
        "max-concurrent-commands",
        "max-concurrent-commands",
        Plain,
        "4096",
        |s| s.config.max_concurrent_commands.to_string(),
        None,
    ),
    applied(
        "max-inline-len",
        "max-inline-len",
        Bytes,
        "65536",
        |s| s.config.max_inline_len.to_string(),
        None,
    ),
    applied(
        "max-multibulk-len",
        "max-multibulk-len",
        Plain,
        "1048576",
        |s| s.config.max_multibulk_len.to_string(),
        None,
    ),
    applied(
        "max-staleness-ms",
        "max-staleness-ms",
        Plain,
        "2000",
        |s| s.config.max_staleness_ms.to_string(),
        None,
    ),
    applied(
        "metrics-addr",
        "metrics-addr",
        Text,
        "",
        |s| {
            s.config
                .metrics_addr
                .map(|a| a.to_string())
                .unwrap_or_default()
        },
        None,
    ),
    applied(
        "no-metrics-layer",
        "no-metrics-layer",
        Switch,
        "no",
        |s| yes_no(s.config.no_metrics_layer),
        None,
    )
    .hidden(),
    applied(
        "read-consistency",
        "read-consistency",
        Plain,
        "eventual",
        |s| s.config.read_consistency.as_str().into(),
        None,
    ),
    applied(
        "serve-stale-max-ms",
        "serve-stale-max-ms",
        Plain,
        "30000",
        |s| s.config.serve_stale_max_ms.to_string(),
        None,
    ),
    applied(
        "serve-stale-on-error",
        "serve-stale-on-error",
        Switch,
        "no",
        |s| yes_no(s.config.serve_stale_on_error),
        None,
    ),
    applied(
        "shutdown-delay-ms",
        "shutdown-delay-ms",
        Plain,
        "0",
        |s| s.config.shutdown_delay_ms.to_string(),
        None,
    ),
    applied(
        "table",
        "table",
        Text,
        "redynamo",
        |s| s.config.table.clone(),
        None,
    ),
    applied(
        "threads",
        "threads",
        Plain,
        "0",
        |s| s.config.threads.to_string(),
        None,
    ),
    applied(
        "timeout-ms",
        "timeout-ms",
        Plain,
        "0",
        |s| s.config.timeout_ms.to_string(),
        None,
    ),
    // The Redis server behind `--backend redis` (docs/upstream.md). Its
    // URL may hold a password, so CONFIG GET shows it as Redis shows
    // masterauth: as it was given, to those allowed to run CONFIG.
    applied(
        "upstream",
        "upstream",
        Text,
        "",
        |s| s.config.upstream.clone().unwrap_or_default(),
        None,
    ),
    applied(
        "upstream-pool-size",
        "upstream-pool-size",
        Plain,
        "4",
        |s| s.config.upstream_pool_size.to_string(),
        None,
    ),
];

/// A value given in a file as CONFIG GET prints it, for the settings
/// that print it otherwise (`client-output-buffer-limit pubsub 32mb 8mb
/// 60` is `normal 0 0 0 slave … pubsub 33554432 8388608 60`, `KEA` is
/// `AKE`).
pub fn canonical(name: &str, given: &str) -> String {
    match name {
        "client-output-buffer-limit" => {
            let limits = crate::server::pubsub::OutputLimits::default();
            match limits.set(given) {
                Ok(()) => limits.describe(),
                Err(_) => given.to_string(),
            }
        }
        "notify-keyspace-events" => match crate::server::notify::string_to_flags(given) {
            Some(flags) => crate::server::notify::flags_to_string(flags),
            None => given.to_string(),
        },
        _ => given.to_string(),
    }
}

fn yes_no(b: bool) -> String {
    if b { "yes" } else { "no" }.to_string()
}

trait Load {
    fn get(&self) -> u64;
}
impl Load for AtomicU64 {
    fn get(&self) -> u64 {
        self.load(Relaxed)
    }
}
impl Load for AtomicUsize {
    fn get(&self) -> u64 {
        self.load(Relaxed) as u64
    }
}
fn load(a: &impl Load) -> String {
    a.get().to_string()
}

/// Redis' `loglevel` for a log filter: `debug`/`trace` → debug,
/// `info` → notice, `warn` → warning, `error`/`off` → nothing; a filter
/// with per-module directives by its default level.
pub fn redis_loglevel(filter: &str) -> &'static str {
    let default = filter
        .split(',')
        .find(|d| !d.contains('='))
        .unwrap_or("info")
        .trim()
        .to_ascii_lowercase();
    match default.as_str() {
        "trace" | "debug" => "debug",
        "warn" => "warning",
        "error" | "off" => "nothing",
        _ => "notice",
    }
}

/// The log filter for Redis' `loglevel` value.
pub fn log_filter(loglevel: &str) -> Option<&'static str> {
    Some(match loglevel.to_ascii_lowercase().as_str() {
        "debug" | "verbose" => "debug",
        "notice" => "info",
        "warning" => "warn",
        "nothing" => "off",
        _ => return None,
    })
}

/// An integer CONFIG SET accepts, in `lo..=hi`, with Redis' texts.
fn int_in(v: &str, lo: i64, hi: i64) -> Result<i64, String> {
    let n: i64 = v
        .parse()
        .map_err(|_| "argument couldn't be parsed into an integer".to_string())?;
    if n < lo || n > hi {
        return Err(format!("argument must be between {lo} and {hi} inclusive"));
    }
    Ok(n)
}

/// A byte count CONFIG SET accepts (memtoll's units), in `lo..=hi`.
fn bytes_in(v: &str, lo: u64, hi: u64) -> Result<u64, String> {
    let n = super::redis_conf::parse_memory(v)
        .ok_or_else(|| "argument must be a memory value".to_string())?;
    if n < lo || n > hi {
        return Err(format!("argument must be between {lo} and {hi} inclusive"));
    }
    Ok(n)
}

fn set_maxclients(s: &ServerState, v: &str) -> Result<(), String> {
    let n = int_in(v, 1, u32::MAX as i64)?;
    s.tunables.maxclients.store(n as usize, Relaxed);
    Ok(())
}

fn set_timeout(s: &ServerState, v: &str) -> Result<(), String> {
    let n = int_in(v, 0, i32::MAX as i64)?;
    s.tunables.idle_timeout_secs.store(n as u64, Relaxed);
    Ok(())
}

fn set_requirepass(s: &ServerState, v: &str) -> Result<(), String> {
    // Empty: no password, as in Redis (EMPTY_STRING_IS_NULL).
    s.credentials
        .set_password(Some(v.to_string()).filter(|v| !v.is_empty()));
    Ok(())
}

fn set_proto_max_bulk_len(s: &ServerState, v: &str) -> Result<(), String> {
    let n = bytes_in(v, 1024 * 1024, i64::MAX as u64)?;
    s.tunables.proto_max_bulk_len.store(n as usize, Relaxed);
    Ok(())
}

fn set_client_query_buffer_limit(s: &ServerState, v: &str) -> Result<(), String> {
    let n = bytes_in(v, 1024 * 1024, i64::MAX as u64)?;
    s.tunables
        .client_query_buffer_limit
        .store(n as usize, Relaxed);
    Ok(())
}

fn set_slowlog_log_slower_than(s: &ServerState, v: &str) -> Result<(), String> {
    s.slowlog.set_threshold_us(int_in(v, -1, i64::MAX)?);
    Ok(())
}

fn set_acllog_max_len(s: &ServerState, v: &str) -> Result<(), String> {
    s.credentials
        .set_log_max_len(int_in(v, 0, i64::MAX)? as usize);
    Ok(())
}

fn set_busy_reply_threshold(s: &ServerState, v: &str) -> Result<(), String> {
    s.scripts.set_threshold_ms(int_in(v, 0, i64::MAX)? as u64);
    Ok(())
}

fn set_tracking_table_max_keys(s: &ServerState, v: &str) -> Result<(), String> {
    s.tracking
        .max_keys
        .store(int_in(v, 0, i64::MAX)? as u64, Relaxed);
    Ok(())
}

fn set_slowlog_max_len(s: &ServerState, v: &str) -> Result<(), String> {
    s.slowlog.set_max_len(int_in(v, 0, i64::MAX)? as usize);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_aliases_are_unique_and_lower_case() {
        let mut seen = std::collections::HashSet::new();
        for d in DIRECTIVES {
            for name in std::iter::once(d.name).chain(d.alias) {
                assert_eq!(name, name.to_ascii_lowercase());
                assert!(seen.insert(name), "{name} twice");
            }
        }
    }

    #[test]
    fn loglevels_round_trip() {
        for level in ["debug", "notice", "warning", "nothing"] {
            assert_eq!(redis_loglevel(log_filter(level).unwrap_or("?")), level);
        }
    }
}
