//! Command-line and config-file settings. How each Redis directive is
//! treated (applied, ignored, refused) is the table in [`directives`]; how a
//! redis.conf is read, [`load`] and [`redis_conf`].
//!
//! Options read like redis-server's: `redynamo [CONFIG_FILE] [--port 6380]
//! …`. The config file is redis.conf style — one `name value` per line, `#`
//! comments — and uses the same names as the long options (a switch such as
//! `create-table` takes `yes`, `no` or no value); options on the command
//! line override the file. Every limit has a documented default
//! chosen for a 2-core, 24 GiB machine serving many clients
//! (`docs/limits.md`).

use std::net::IpAddr;
use std::path::PathBuf;

use clap::Parser;

pub mod directives;
mod load;
pub mod redis_conf;
pub mod rewrite;

pub use load::RedisConf;

/// A Redis-compatible server built as a tower stack.
#[derive(Clone, Debug, Parser)]
#[command(
    name = "redynamo",
    about,
    disable_version_flag = true,
    args_override_self = true
)]
pub struct Config {
    /// A redis.conf-style file: `name value` per line, names as the long
    /// options below (`port 6380`, `requirepass secret`).
    #[arg(value_name = "CONFIG_FILE")]
    pub config_file: Option<PathBuf>,

    /// Print the version as `redis-server -v` does (`redynamo v=VERSION
    /// redis=7.2.4 malloc=mimalloc-VERSION bits=64`) and exit.
    #[arg(short = 'v', long, short_alias = 'V')]
    pub version: bool,

    /// Do not serve: PING the server at ADDR (`host:port`) and exit 0 if it
    /// answers, 1 if not. The container image's HEALTHCHECK, which has no
    /// shell to run anything else.
    #[arg(long, value_name = "ADDR")]
    pub check: Option<String>,

    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    pub bind: IpAddr,

    /// TCP port to listen on (0 picks a free port).
    #[arg(long, default_value_t = 6379)]
    pub port: u16,

    /// Password of the `default` user; clients must AUTH. Also read from
    /// REDYNAMO_REQUIREPASS so it stays out of the process list.
    #[arg(long, env = "REDYNAMO_REQUIREPASS", hide_env_values = true)]
    pub requirepass: Option<String>,

    /// ACL users from a file in Redis' users.acl format (`user <name>
    /// <rules…>` lines); ACL LOAD rereads it and ACL SAVE rewrites it.
    #[arg(long, value_name = "PATH")]
    pub aclfile: Option<PathBuf>,

    /// Entries ACL LOG keeps (denied commands, failed AUTH); older ones are
    /// dropped, so brute force cannot grow it.
    #[arg(long, default_value_t = 128)]
    pub acllog_max_len: usize,

    /// Serve TLS on this port too (0: no TLS). With it, `--port 0` turns
    /// the plain TCP port off.
    #[arg(long, default_value_t = 0)]
    pub tls_port: u16,

    /// The server's certificate chain (PEM); reloaded on SIGHUP and on
    /// CONFIG SET.
    #[arg(long, value_name = "PATH")]
    pub tls_cert_file: Option<PathBuf>,

    /// The server certificate's private key (PEM: PKCS#8, PKCS#1 or SEC1).
    #[arg(long, value_name = "PATH")]
    pub tls_key_file: Option<PathBuf>,

    /// CA certificates (PEM) that client certificates must chain to.
    #[arg(long, value_name = "PATH")]
    pub tls_ca_cert_file: Option<PathBuf>,

    /// A directory of CA certificates (PEM files), as `--tls-ca-cert-file`.
    #[arg(long, value_name = "DIR")]
    pub tls_ca_cert_dir: Option<PathBuf>,

    /// Client certificates: `yes` (required; a client without one from
    /// the CA is refused in the handshake), `optional` (checked when
    /// sent), `no` (not asked for).
    #[arg(long, default_value = "yes", value_parser = parse_tls_auth_clients)]
    pub tls_auth_clients: TlsAuthClients,

    /// TLS versions to accept, e.g. "TLSv1.2 TLSv1.3" (the default: both).
    #[arg(long, value_name = "LIST")]
    pub tls_protocols: Option<String>,

    /// TLS 1.3 cipher suites, OpenSSL names separated by `:`
    /// (TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256).
    #[arg(long, value_name = "LIST")]
    pub tls_ciphersuites: Option<String>,

    /// `CN`: a client certificate's subject CN names the ACL user the
    /// connection runs as, authenticated by the certificate alone (when
    /// that user exists and is on); `off`: certificates do not name users.
    #[arg(long, value_enum, default_value = "off")]
    pub tls_auth_clients_user: TlsAuthUser,

    /// Number of databases (SELECT 0 … N-1).
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub databases: u32,

    /// Maximum number of connected clients; more get
    /// "ERR max number of clients reached".
    #[arg(long, default_value_t = 10_000)]
    pub maxclients: usize,

    /// Length of the queue of connections the kernel has completed but
    /// the server has not accepted yet (Redis: tcp-backlog, default 511).
    /// The kernel caps it at `net.core.somaxconn`. A burst of connects
    /// larger than the queue overflows it, and each overflowed connect
    /// waits for a SYN retransmission (1 s, then 3 s …).
    #[arg(long, default_value_t = 511)]
    pub tcp_backlog: u32,

    /// Close a client after this many seconds idle (0 = never).
    #[arg(long, default_value_t = 0)]
    pub timeout: u64,

    /// Per-command timeout in milliseconds (0 = none). A command that takes
    /// longer gets "-ERR command timed out" and the connection stays usable.
    #[arg(long, default_value_t = 0)]
    pub timeout_ms: u64,

    /// Largest bulk string a client may send, in bytes (Redis:
    /// proto-max-bulk-len). Also the largest string APPEND/SETRANGE build.
    #[arg(long, default_value_t = 512 * 1024 * 1024)]
    pub proto_max_bulk_len: usize,

    /// Largest number of arguments in one command. Redis allows 2^31;
    /// redynamo bounds it so a `*2147483647` header is an error at once.
    #[arg(long, default_value_t = 1024 * 1024)]
    pub max_multibulk_len: usize,

    /// Longest inline command (telnet-style line), in bytes.
    #[arg(long, default_value_t = 64 * 1024)]
    pub max_inline_len: usize,

    /// Most bytes one client may have buffered for an incomplete command
    /// before it is disconnected (Redis: client-query-buffer-limit).
    #[arg(long, default_value_t = 1024 * 1024 * 1024)]
    pub client_query_buffer_limit: usize,

    /// Most commands in flight at once across all clients. Past it, new
    /// commands are shed with "-ERR server is overloaded" instead of
    /// queueing without bound (0 = no limit).
    #[arg(long, default_value_t = 4096)]
    pub max_concurrent_commands: usize,

    /// Serve Prometheus `/metrics`, `/healthz` and `/readyz` on this
    /// address (e.g. 127.0.0.1:9121). Off when unset.
    #[arg(long)]
    pub metrics_addr: Option<std::net::SocketAddr>,

    /// Log commands slower than this many microseconds in the SLOWLOG
    /// (negative disables, 0 logs every command).
    #[arg(long, default_value_t = 10_000, allow_negative_numbers = true)]
    pub slowlog_log_slower_than: i64,

    /// Entries the SLOWLOG keeps.
    #[arg(long, default_value_t = 128)]
    pub slowlog_max_len: usize,

    /// Leave the metrics layer out of the stack: commands that go through
    /// it are then not counted (INFO commandstats, `/metrics`) or timed,
    /// and the SLOWLOG stays empty. Only for measuring what the layer costs
    /// (`benches/vs-redis.sh --metrics-layer`); hidden from `--help`.
    #[arg(long, hide = true)]
    pub no_metrics_layer: bool,

    /// On SIGTERM, report unready on /readyz for this many milliseconds
    /// before closing the listener, so load balancers stop sending traffic
    /// first.
    #[arg(long, default_value_t = 0)]
    pub shutdown_delay_ms: u64,

    /// The DEBUG command (SLEEP, OBJECT): `no` refuses it (Redis'
    /// default), `yes` allows it, `local` allows it from loopback
    /// connections only. Cannot change at run time, as in Redis.
    #[arg(long, value_enum, value_name = "no|yes|local", default_value_t = EnableDebug::No)]
    pub enable_debug_command: EnableDebug,

    /// Seconds to let connections finish after SIGINT/SIGTERM.
    #[arg(long, default_value_t = 10)]
    pub shutdown_timeout: u64,

    /// Worker threads serving clients (0 = one per CPU this process may
    /// run on, which honours `taskset` and cgroup CPU limits). With one,
    /// the server runs on a single-threaded runtime, as redis-server does:
    /// no cross-thread queues or wake-ups on the request path.
    #[arg(long, default_value_t = 0)]
    pub threads: usize,

    /// Log filter, e.g. `info` or `redynamo=debug` (RUST_LOG syntax).
    #[arg(long, default_value = "info")]
    pub log_level: String,

    /// Log format.
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    /// The leaf store: `memory` (nothing to set up, lost on exit),
    /// `dynamodb` (durable, shared by every node on the same table) or
    /// `redis` (a caching proxy in front of `--upstream`).
    #[arg(long, value_enum, default_value_t = BackendKind::Memory)]
    pub backend: BackendKind,

    /// DynamoDB table (with `--backend dynamodb`). Credentials, region and
    /// endpoint come from the standard AWS chain (environment, profiles,
    /// IMDS/ECS/EKS roles, `AWS_ENDPOINT_URL_DYNAMODB`).
    #[arg(long, default_value = "redynamo")]
    pub table: String,

    /// Create the DynamoDB table (and wait until it is active) when it does
    /// not exist. Without it, a missing table is an error at start-up.
    #[arg(long)]
    pub create_table: bool,

    /// Turn transparent huge pages off for this process at start-up
    /// (`prctl(PR_SET_THP_DISABLE)`), as redis-server does with its default
    /// `disable-thp yes`: with THP on, memory is made resident 2 MiB at a
    /// time, which costs a small dataset megabytes of RSS (BENCHMARKS.md,
    /// "Collections"). Its effect on speed has not been measured.
    #[arg(long, value_name = "yes|no", default_value = "yes", value_parser = parse_yes_no, action = clap::ArgAction::Set)]
    pub disable_thp: bool,

    /// Reads from DynamoDB: `eventual` (half the cost; a node still reads
    /// its own recent writes consistently) or `strong` (ConsistentRead).
    #[arg(long, value_enum, default_value_t = ReadConsistency::Eventual)]
    pub read_consistency: ReadConsistency,

    /// Attempts per DynamoDB call, the first included: throttling, 5xx and
    /// timeouts are retried with exponential backoff and full jitter.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=20))]
    pub dynamo_max_attempts: u32,

    /// Timeout of one attempt of a DynamoDB call, in milliseconds.
    #[arg(long, default_value_t = 2000, value_parser = clap::value_parser!(u64).range(1..))]
    pub dynamo_timeout_ms: u64,

    /// Bound of the node's read cache in front of DynamoDB, in bytes (keys,
    /// values and per-entry overhead). 0 turns the cache off. Not used with
    /// `--read-consistency strong` (reads then always go to DynamoDB).
    #[arg(long, default_value_t = 256 * 1024 * 1024)]
    pub cache_max_bytes: u64,

    /// Drop cache entries this many milliseconds after they were stored,
    /// whatever the stream says (0 = no bound).
    #[arg(long, default_value_t = 0)]
    pub cache_max_age_ms: u64,

    /// While the streams follower is more than this many milliseconds
    /// behind, or failing, the cache serves no reads (they go to DynamoDB).
    #[arg(long, default_value_t = 2000)]
    pub max_staleness_ms: u64,

    /// The Redis server behind `--backend redis`:
    /// `redis://[user:password@]host:port[/db]` (docs/upstream.md). The
    /// db is where the proxy's db 0 lands; db n lands on db + n.
    #[arg(long, value_name = "URL")]
    pub upstream: Option<String>,

    /// Shared, pipelined connections to the upstream per protocol (RESP2,
    /// RESP3); many clients' commands share each one.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=256))]
    pub upstream_pool_size: u32,

    /// While the upstream cannot be reached, keep answering cached reads
    /// (values as they were when it was lost) for up to
    /// `--serve-stale-max-ms`, instead of flushing the cache at once.
    #[arg(long)]
    pub serve_stale_on_error: bool,

    /// How long `--serve-stale-on-error` may serve stale reads, in ms.
    #[arg(long, default_value_t = 30_000)]
    pub serve_stale_max_ms: u64,

    /// Which keyspace events are published (Redis'
    /// notify-keyspace-events: `K`, `E`, `A`, `g`, `$` …; empty: none).
    #[arg(long, default_value = "", value_parser = parse_keyspace_events)]
    pub notify_keyspace_events: String,

    /// Output buffer limits per client class, as Redis'
    /// client-output-buffer-limit (`pubsub 32mb 8mb 60`; `normal 0 0 0`
    /// …). Only the pubsub class bounds anything: other clients have no
    /// buffer beyond one pipeline's replies.
    #[arg(long, value_name = "CLASS HARD SOFT SECONDS", value_parser = parse_output_limits)]
    pub client_output_buffer_limit: Option<String>,

    /// Milliseconds a script may run before other clients get -BUSY
    /// (Redis' busy-reply-threshold, lua-time-limit; 0: never busy).
    #[arg(long, default_value_t = 5000, alias = "lua-time-limit")]
    pub busy_reply_threshold: u64,

    /// Most keys CLIENT TRACKING remembers; past it, keys are evicted
    /// and their clients told (0: no bound).
    #[arg(long, default_value_t = 1_000_000)]
    pub tracking_table_max_keys: u64,

    /// What the config file said beyond the options above: its path,
    /// the Redis directives it set that redynamo ignores (for CONFIG GET,
    /// CONFIG REWRITE and the start-up warning).
    #[arg(skip)]
    pub redis_conf: RedisConf,
}

/// Which leaf store serves the data.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum BackendKind {
    Memory,
    #[value(name = "dynamodb")]
    DynamoDb,
    /// A caching proxy in front of another Redis (`--upstream`).
    Redis,
}

impl BackendKind {
    /// Its name in a config file and in CONFIG GET.
    pub fn as_str(self) -> &'static str {
        match self {
            BackendKind::Memory => "memory",
            BackendKind::DynamoDb => "dynamodb",
            BackendKind::Redis => "redis",
        }
    }
}

/// Read consistency of the DynamoDB backend.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ReadConsistency {
    Eventual,
    Strong,
}

impl ReadConsistency {
    /// Its name in a config file and in CONFIG GET.
    pub fn as_str(self) -> &'static str {
        match self {
            ReadConsistency::Eventual => "eventual",
            ReadConsistency::Strong => "strong",
        }
    }
}

/// Who may run DEBUG (`--enable-debug-command`, Redis'
/// `enable-debug-command`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum EnableDebug {
    No,
    Yes,
    /// From a loopback address only.
    Local,
}

impl EnableDebug {
    /// Its name in a config file and in CONFIG GET.
    pub fn as_str(self) -> &'static str {
        match self {
            EnableDebug::No => "no",
            EnableDebug::Yes => "yes",
            EnableDebug::Local => "local",
        }
    }
}

/// `--tls-auth-clients`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum TlsAuthClients {
    Yes,
    No,
    Optional,
}

/// redis.conf's `yes`/`no`/`optional`, case-insensitively.
fn parse_tls_auth_clients(v: &str) -> Result<TlsAuthClients, String> {
    match v.to_ascii_lowercase().as_str() {
        "yes" => Ok(TlsAuthClients::Yes),
        "no" => Ok(TlsAuthClients::No),
        "optional" => Ok(TlsAuthClients::Optional),
        other => Err(format!("expected yes, no or optional, got {other:?}")),
    }
}

/// `--tls-auth-clients-user`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum TlsAuthUser {
    Off,
    #[value(name = "CN", alias = "cn")]
    Cn,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

impl LogFormat {
    /// Its name in a config file and in CONFIG GET.
    pub fn as_str(self) -> &'static str {
        match self {
            LogFormat::Text => "text",
            LogFormat::Json => "json",
        }
    }
}

/// A config file could not be read or parsed.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config file {path}, line {line}: {message}")]
    Line {
        path: PathBuf,
        line: usize,
        message: String,
    },
    #[error(transparent)]
    Invalid(#[from] clap::Error),
}

impl Config {
    /// Parse the process arguments, merging a config file if one is named.
    pub fn load() -> Result<Config, ConfigError> {
        Config::load_from(std::env::args_os().map(|a| a.to_string_lossy().into_owned()))
    }

    /// Parse `args` (with the program name first), merging the config file
    /// named by the first positional argument under them. Redis directives
    /// are accepted in the file and on the command line (`--save ""`), as
    /// redis-server accepts them ([`directives`]).
    pub fn load_from(args: impl IntoIterator<Item = String>) -> Result<Config, ConfigError> {
        load::load(args.into_iter().collect())
    }

    /// Defaults, for tests and embedding: listen on 127.0.0.1, a free port.
    pub fn for_tests() -> Config {
        let mut config = Config::try_parse_from(["redynamo"]).expect("defaults parse");
        config.port = 0;
        config
    }
}

/// `notify-keyspace-events`: Redis' event class characters.
fn parse_keyspace_events(value: &str) -> Result<String, String> {
    crate::server::notify::string_to_flags(value)
        .map(|_| value.to_string())
        .ok_or_else(|| "Invalid event class character. Use 'Ag$lshzxeKEtmdn'.".to_string())
}

/// `client-output-buffer-limit`: checked as CONFIG SET checks it.
fn parse_output_limits(value: &str) -> Result<String, String> {
    crate::server::pubsub::OutputLimits::default()
        .set(value)
        .map(|()| value.to_string())
        .map_err(str::to_string)
}

/// redis.conf's booleans: `yes` or `no`.
fn parse_yes_no(value: &str) -> Result<bool, String> {
    match value.to_ascii_lowercase().as_str() {
        "yes" => Ok(true),
        "no" => Ok(false),
        other => Err(format!("expected yes or no, got {other:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_then_cli_override() {
        let dir = std::env::temp_dir().join(format!("redynamo-conf-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("test setup");
        let path = dir.join("r.conf");
        std::fs::write(
            &path,
            "# comment\nport 7000\nrequirepass \"pw\"\ndatabases 4\n",
        )
        .expect("test setup");
        let p = path.to_string_lossy().into_owned();
        let c = Config::load_from(["redynamo".into(), p.clone(), "--port".into(), "7001".into()])
            .expect("test setup");
        assert_eq!(c.port, 7001);
        assert_eq!(c.databases, 4);
        assert_eq!(c.requirepass.as_deref(), Some("pw"));
        std::fs::write(&path, "bogus-option 1\n").expect("test setup");
        assert!(Config::load_from(["redynamo".into(), p.clone()]).is_err());
    }

    #[test]
    fn output_buffer_limits_add_up_on_the_command_line_and_in_files() {
        let c = Config::load_from(
            [
                "redynamo",
                "--client-output-buffer-limit",
                "normal",
                "0",
                "0",
                "0",
                "--client-output-buffer-limit",
                "pubsub 1mb 1mb 0",
                "--lua-time-limit",
                "10",
            ]
            .map(String::from),
        )
        .expect("parses");
        assert_eq!(
            c.client_output_buffer_limit.as_deref(),
            Some("normal 0 0 0 pubsub 1mb 1mb 0")
        );
        assert_eq!(c.busy_reply_threshold, 10);
    }

    #[test]
    fn switches_in_a_file_take_yes_no_or_nothing() {
        let dir = std::env::temp_dir().join(format!("redynamo-conf-flags-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("test setup");
        let path = dir.join("r.conf");
        let p = path.to_string_lossy().into_owned();
        for (text, expected) in [
            ("create-table\nport 7000\n", Some(true)),
            ("create-table yes\n", Some(true)),
            ("create-table no\n", Some(false)),
            ("create-table maybe\n", None),
        ] {
            std::fs::write(&path, text).expect("test setup");
            let parsed = Config::load_from(["redynamo".into(), p.clone()]);
            assert_eq!(parsed.ok().map(|c| c.create_table), expected, "{text:?}");
        }
    }
}
