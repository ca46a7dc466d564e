//! CONFIG GET / SET / RESETSTAT / REWRITE / HELP for the settings that
//! exist. Each parameter is one row: its name, how to read it, and — for
//! those that can change at run time — how to set it.

use std::sync::atomic::Ordering;

use bytes::Bytes;
use redynamo_layers::{Command, Reply};

use crate::server::state::ServerState;
use crate::server::tls::TlsFile;
use crate::util::glob;

type Getter = fn(&ServerState) -> String;
type Setter = fn(&ServerState, &str) -> Result<(), &'static str>;

struct Param {
    name: &'static str,
    get: Getter,
    /// None: immutable at run time.
    set: Option<Setter>,
}

fn parse_num<T: std::str::FromStr>(v: &str) -> Result<T, &'static str> {
    v.parse()
        .map_err(|_| "argument couldn't be parsed into an integer")
}

/// A byte limit CONFIG SET accepts: at least 1 MiB, as Redis requires for
/// proto-max-bulk-len and client-query-buffer-limit.
fn parse_byte_limit(v: &str) -> Result<usize, &'static str> {
    let n: usize = parse_num(v)?;
    if n < 1024 * 1024 {
        return Err("argument must be between 1048576 and 9223372036854775807 inclusive");
    }
    Ok(n)
}

/// A TLS file's path, for CONFIG GET (empty without TLS).
fn tls_file(s: &ServerState, which: TlsFile) -> String {
    s.tls.as_ref().map(|t| t.file(which)).unwrap_or_default()
}

/// CONFIG SET of one TLS file: reload with it, or keep everything as it
/// was (the reason goes to the log, as Redis says "Check server logs").
/// `set` sends every TLS file of one CONFIG SET here together instead.
fn set_tls_file(s: &ServerState, which: TlsFile, v: &str) -> Result<(), &'static str> {
    let Some(tls) = &s.tls else {
        return Err("TLS is not enabled (--tls-port)");
    };
    tls.set_files(&[(which, v)]).map_err(|e| {
        tracing::warn!(error = %e, "CONFIG SET of a TLS file failed");
        "Unable to update TLS configuration. Check server logs."
    })
}

/// The TLS file a CONFIG parameter names.
fn tls_which(name: &str) -> Option<TlsFile> {
    Some(match name {
        "tls-cert-file" => TlsFile::Cert,
        "tls-key-file" => TlsFile::Key,
        "tls-ca-cert-file" => TlsFile::CaFile,
        "tls-ca-cert-dir" => TlsFile::CaDir,
        _ => return None,
    })
}

const PARAMS: &[Param] = &[
    Param {
        name: "bind",
        get: |s| s.config.bind.to_string(),
        set: None,
    },
    Param {
        name: "port",
        get: |s| s.port.load(Ordering::Relaxed).to_string(),
        set: None,
    },
    Param {
        name: "requirepass",
        get: |s| s.credentials.password().unwrap_or_default(),
        set: Some(|s, v| {
            s.credentials.set_password(Some(v.to_string()));
            Ok(())
        }),
    },
    Param {
        name: "acllog-max-len",
        get: |s| s.credentials.log_max_len().to_string(),
        set: Some(|s, v| {
            let n: usize = parse_num(v)?;
            s.credentials.set_log_max_len(n);
            Ok(())
        }),
    },
    Param {
        name: "aclfile",
        get: |s| {
            s.config
                .aclfile
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_default()
        },
        set: None,
    },
    Param {
        name: "tls-cert-file",
        get: |s| tls_file(s, TlsFile::Cert),
        set: Some(|s, v| set_tls_file(s, TlsFile::Cert, v)),
    },
    Param {
        name: "tls-key-file",
        get: |s| tls_file(s, TlsFile::Key),
        set: Some(|s, v| set_tls_file(s, TlsFile::Key, v)),
    },
    Param {
        name: "tls-ca-cert-file",
        get: |s| tls_file(s, TlsFile::CaFile),
        set: Some(|s, v| set_tls_file(s, TlsFile::CaFile, v)),
    },
    Param {
        name: "tls-ca-cert-dir",
        get: |s| tls_file(s, TlsFile::CaDir),
        set: Some(|s, v| set_tls_file(s, TlsFile::CaDir, v)),
    },
    Param {
        name: "tls-port",
        get: |s| s.config.tls_port.to_string(),
        set: None,
    },
    Param {
        name: "databases",
        get: |s| s.config.databases.to_string(),
        set: None,
    },
    Param {
        name: "maxclients",
        get: |s| s.tunables.maxclients.load(Ordering::Relaxed).to_string(),
        set: Some(|s, v| {
            let n: usize = parse_num(v)?;
            if n == 0 {
                return Err("argument must be between 1 and 4294967295 inclusive");
            }
            s.tunables.maxclients.store(n, Ordering::Relaxed);
            Ok(())
        }),
    },
    Param {
        name: "tcp-backlog",
        get: |s| s.config.tcp_backlog.to_string(),
        set: None,
    },
    Param {
        name: "timeout",
        get: |s| {
            s.tunables
                .idle_timeout_secs
                .load(Ordering::Relaxed)
                .to_string()
        },
        set: Some(|s, v| {
            s.tunables
                .idle_timeout_secs
                .store(parse_num(v)?, Ordering::Relaxed);
            Ok(())
        }),
    },
    Param {
        name: "proto-max-bulk-len",
        get: |s| {
            s.tunables
                .proto_max_bulk_len
                .load(Ordering::Relaxed)
                .to_string()
        },
        set: Some(|s, v| {
            let n = parse_byte_limit(v)?;
            s.tunables.proto_max_bulk_len.store(n, Ordering::Relaxed);
            Ok(())
        }),
    },
    Param {
        name: "client-query-buffer-limit",
        get: |s| {
            s.tunables
                .client_query_buffer_limit
                .load(Ordering::Relaxed)
                .to_string()
        },
        set: Some(|s, v| {
            let n = parse_byte_limit(v)?;
            s.tunables
                .client_query_buffer_limit
                .store(n, Ordering::Relaxed);
            Ok(())
        }),
    },
    Param {
        name: "tracking-table-max-keys",
        get: |s| s.tracking.max_keys.load(Ordering::Relaxed).to_string(),
        set: Some(|s, v| {
            s.tracking.max_keys.store(parse_num(v)?, Ordering::Relaxed);
            Ok(())
        }),
    },
    Param {
        name: "notify-keyspace-events",
        get: |s| s.notifier.flags_string(),
        set: Some(|s, v| s.notifier.set_flags(v)),
    },
    // Only the pubsub class bounds anything (src/server/pubsub.rs).
    Param {
        name: "client-output-buffer-limit",
        get: |s| s.pubsub.limits.describe(),
        set: Some(|s, v| s.pubsub.limits.set(v)),
    },
    Param {
        name: "slowlog-log-slower-than",
        get: |s| s.slowlog.threshold_us().to_string(),
        set: Some(|s, v| {
            s.slowlog.set_threshold_us(parse_num(v)?);
            Ok(())
        }),
    },
    Param {
        name: "slowlog-max-len",
        get: |s| s.slowlog.max_len().to_string(),
        set: Some(|s, v| {
            s.slowlog.set_max_len(parse_num(v)?);
            Ok(())
        }),
    },
    Param {
        name: "enable-debug-command",
        get: |s| s.config.enable_debug_command.as_str().to_string(),
        set: None,
    },
    // How long a script runs before other clients get -BUSY
    // (docs/scripting.md); lua-time-limit is its old name.
    Param {
        name: "busy-reply-threshold",
        get: |s| s.scripts.threshold_ms().to_string(),
        set: Some(|s, v| {
            s.scripts.set_threshold_ms(parse_num(v)?);
            Ok(())
        }),
    },
    Param {
        name: "lua-time-limit",
        get: |s| s.scripts.threshold_ms().to_string(),
        set: Some(|s, v| {
            s.scripts.set_threshold_ms(parse_num(v)?);
            Ok(())
        }),
    },
    // The latency monitor (LATENCY) is off, Redis' default: nothing is
    // sampled, so LATENCY LATEST and HISTORY are empty.
    Param {
        name: "latency-monitor-threshold",
        get: |_| "0".to_string(),
        set: None,
    },
    // Persistence and eviction do not exist in redynamo (the backends own
    // durability); these answer what tools such as redis-benchmark ask.
    Param {
        name: "save",
        get: |_| String::new(),
        set: None,
    },
    Param {
        name: "appendonly",
        get: |_| "no".to_string(),
        set: None,
    },
    Param {
        name: "maxmemory",
        get: |_| "0".to_string(),
        set: None,
    },
    Param {
        name: "maxmemory-policy",
        get: |_| "noeviction".to_string(),
        set: None,
    },
];

pub(super) fn execute(state: &ServerState, cmd: &Command) -> Reply {
    let a = &cmd.args;
    match cmd.spec.name {
        "config|get" => get(state, &a[2..]),
        "config|set" => set(state, &a[2..]),
        "config|resetstat" => {
            state.stats.reset();
            state.command_stats.reset();
            Reply::ok()
        }
        "config|rewrite" => Reply::static_error("ERR The server is running without a config file"),
        _ => help(),
    }
}

fn get(state: &ServerState, patterns: &[Bytes]) -> Reply {
    let pairs = PARAMS
        .iter()
        .filter(|p| {
            patterns
                .iter()
                .any(|pat| glob::matches(&pat.to_ascii_lowercase(), p.name.as_bytes()))
        })
        .map(|p| {
            (
                Reply::bulk(p.name),
                Reply::Bulk(Bytes::from((p.get)(state))),
            )
        })
        .collect();
    Reply::Map(pairs)
}

fn set(state: &ServerState, args: &[Bytes]) -> Reply {
    if args.is_empty() || args.len() % 2 != 0 {
        return Reply::static_error("ERR wrong number of arguments for 'config|set' command");
    }
    // Check every pair before applying any, so a bad one changes nothing.
    let mut changes = Vec::new();
    for pair in args.chunks(2) {
        let name = String::from_utf8_lossy(&pair[0]).to_ascii_lowercase();
        let Some(param) = PARAMS.iter().find(|p| p.name == name) else {
            return Reply::error(format!(
                "ERR Unknown option or number of arguments for CONFIG SET - '{name}'"
            ));
        };
        let Some(setter) = param.set else {
            return Reply::error(format!(
                "ERR CONFIG SET failed (possibly related to argument '{name}') - can't set immutable config"
            ));
        };
        changes.push((name, setter, String::from_utf8_lossy(&pair[1]).into_owned()));
    }
    // The TLS files change together, in one reload: a new certificate
    // and its key set in one CONFIG SET must not be tried one at a time.
    let (tls, changes): (Vec<_>, Vec<_>) = changes
        .into_iter()
        .partition(|(name, _, _)| tls_which(name).is_some());
    if let Some((name, _, _)) = tls.first() {
        let files: Vec<_> = tls
            .iter()
            .filter_map(|(n, _, v)| Some((tls_which(n)?, v.as_str())))
            .collect();
        let result = match &state.tls {
            None => Err("TLS is not enabled (--tls-port)"),
            Some(t) => t.set_files(&files).map_err(|e| {
                tracing::warn!(error = %e, "CONFIG SET of TLS files failed");
                "Unable to update TLS configuration. Check server logs."
            }),
        };
        if let Err(why) = result {
            return Reply::error(format!(
                "ERR CONFIG SET failed (possibly related to argument '{name}') - {why}"
            ));
        }
    }
    for (name, setter, value) in changes {
        if let Err(why) = setter(state, &value) {
            return Reply::error(format!(
                "ERR CONFIG SET failed (possibly related to argument '{name}') - {why}"
            ));
        }
    }
    Reply::ok()
}

fn help() -> Reply {
    let lines = [
        "CONFIG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "GET <pattern>",
        "    Return parameters matching the glob-like <pattern> and their values.",
        "SET <directive> <value>",
        "    Set the configuration <directive> to <value>.",
        "RESETSTAT",
        "    Reset statistics reported by the INFO command.",
        "REWRITE",
        "    Rewrite the configuration file.",
        "HELP",
        "    Print this help.",
    ];
    Reply::Array(lines.iter().map(|l| Reply::status(l)).collect())
}
