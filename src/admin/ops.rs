//! The operators' commands the admin layer answers: WAIT, WAITAOF,
//! LATENCY, MEMORY STATS and DOCTOR, DEBUG. (SHUTDOWN is the session's:
//! it closes the connection, `crate::session::shutdown`.)
//!
//! Their replies are Redis 7.2's for a server like this one:
//! - no replicas and no AOF: WAIT answers 0 and WAITAOF `[0, 0]`; asked
//!   for more, they wait out their timeout first (0: for ever), as Redis
//!   does when the acknowledgements never come, except inside MULTI, where
//!   Redis does not block either;
//! - the latency monitor off (`latency-monitor-threshold 0`, Redis'
//!   default): nothing is sampled, so LATEST and HISTORY are empty and
//!   RESET resets 0 events;
//! - MEMORY STATS from what INFO memory reports (the process's RSS, the
//!   backend's data bytes and key counts); what redynamo does not measure
//!   (allocator internals, per-db hash table overhead) is reported as no
//!   overhead (ratios 1, bytes 0) rather than invented;
//! - DEBUG behind `--enable-debug-command` (Redis' default `no`), with
//!   SLEEP, OBJECT and HELP; its other subcommands are Redis' internals
//!   and get Redis' reply to an unknown subcommand.

use std::time::Duration;

use bytes::Bytes;
use redynamo_layers::command::CommandId;
use redynamo_layers::{BoxError, Command, Reply, Request};
use tower::{Service, ServiceExt};

use crate::config::EnableDebug;
use crate::server::state::ServerState;
use crate::util::num::parse_i64;

/// An answer, now or after a wait.
pub(super) enum Answer {
    Now(Reply),
    /// Reply after this long (None: never; only the client leaving, CLIENT
    /// KILL or shutdown end the wait). Inside EXEC it is replied at once.
    After(Option<Duration>, Reply),
}

/// Whether the admin layer answers `cmd` here.
pub(super) fn handles(cmd: &Command) -> bool {
    use CommandId::*;
    matches!(
        cmd.spec.id,
        Wait | Waitaof
            | LatencyLatest
            | LatencyHistory
            | LatencyReset
            | LatencyDoctor
            | LatencyHelp
            | MemoryStats
            | MemoryDoctor
            | Debug
    )
}

/// The answer to `cmd` (one [`handles`] accepts); `local` says whether the
/// client connected from a loopback address (DEBUG with `local`).
pub(super) fn answer(state: &ServerState, cmd: &Command, local: bool) -> Answer {
    use CommandId::*;
    let a = &cmd.args[..];
    Answer::Now(match cmd.spec.id {
        Wait => return wait(a).unwrap_or_else(Answer::Now),
        Waitaof => return waitaof(a).unwrap_or_else(Answer::Now),
        LatencyLatest | LatencyHistory => Reply::Array(Vec::new()),
        LatencyReset => Reply::Integer(0),
        LatencyDoctor => Reply::Verbatim("txt", Bytes::from_static(LATENCY_DOCTOR.as_bytes())),
        LatencyHelp => help(LATENCY_HELP),
        MemoryStats => memory_stats(state),
        MemoryDoctor => memory_doctor(state),
        Debug => return debug(state, a, local),
        _ => return Answer::Now(Reply::Null),
    })
}

const NOT_INTEGER: Reply = Reply::static_error("ERR value is not an integer or out of range");

/// Redis' getTimeoutFromObjectOrReply in milliseconds (WAIT, CLIENT
/// PAUSE …).
pub(crate) fn timeout_ms(arg: &[u8]) -> Result<i64, Reply> {
    let ms = parse_i64(arg).ok_or(Reply::static_error(
        "ERR timeout is not an integer or out of range",
    ))?;
    if ms < 0 {
        return Err(Reply::static_error("ERR timeout is negative"));
    }
    let now = crate::util::now_ms() as i64;
    if ms > 0 && ms > i64::MAX - now {
        return Err(Reply::static_error("ERR timeout is out of range"));
    }
    Ok(ms)
}

/// The wait for acknowledgements that never come: the timeout, or for ever.
fn wait_out(ms: i64) -> Option<Duration> {
    (ms > 0).then(|| Duration::from_millis(ms as u64))
}

/// `WAIT numreplicas timeout`: no replica ever acknowledges.
fn wait(a: &[Bytes]) -> Result<Answer, Reply> {
    let replicas = parse_i64(&a[1]).ok_or(NOT_INTEGER)?;
    let ms = timeout_ms(&a[2])?;
    Ok(if replicas <= 0 {
        Answer::Now(Reply::Integer(0))
    } else {
        Answer::After(wait_out(ms), Reply::Integer(0))
    })
}

/// `WAITAOF numlocal numreplicas timeout`: appendonly is off, and there
/// are no replicas.
fn waitaof(a: &[Bytes]) -> Result<Answer, Reply> {
    let local = parse_i64(&a[1]).ok_or(NOT_INTEGER)?;
    if !(0..=1).contains(&local) {
        return Err(Reply::static_error(
            "ERR value is out of range, value must between 0 and 1",
        ));
    }
    let replicas = parse_i64(&a[2]).ok_or(NOT_INTEGER)?;
    if replicas < 0 {
        return Err(Reply::static_error(
            "ERR value is out of range, must be positive",
        ));
    }
    let ms = timeout_ms(&a[3])?;
    if local > 0 {
        return Err(Reply::static_error(
            "ERR WAITAOF cannot be used when numlocal is set but appendonly is disabled.",
        ));
    }
    let reply = Reply::Array(vec![Reply::Integer(0), Reply::Integer(0)]);
    Ok(if replicas == 0 {
        Answer::Now(reply)
    } else {
        Answer::After(wait_out(ms), reply)
    })
}

const LATENCY_DOCTOR: &str = "I'm sorry, Dave, I can't do that. Latency monitoring is disabled in this Redis instance. You may use \"CONFIG SET latency-monitor-threshold <milliseconds>.\" in order to enable it. If we weren't in a deep space mission I'd suggest to take a look at https://redis.io/topics/latency-monitor.\n";

/// Redis' LATENCY HELP, less GRAPH and HISTOGRAM, which redynamo lacks.
const LATENCY_HELP: &[&str] = &[
    "LATENCY <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "DOCTOR",
    "    Return a human readable latency analysis report.",
    "HISTORY <event>",
    "    Return time-latency samples for the <event> class.",
    "LATEST",
    "    Return the latest latency samples for all events.",
    "RESET [<event> ...]",
    "    Reset latency data of one or more <event> classes.",
    "    (default: reset all data for all event classes)",
    "HELP",
    "    Prints this help.",
];

fn help(lines: &[&'static str]) -> Reply {
    Reply::Array(lines.iter().map(|l| Reply::status(l)).collect())
}

/// The figures MEMORY STATS and DOCTOR report.
struct MemoryFigures {
    /// What INFO reports as used_memory (the RSS: the allocator is not
    /// instrumented).
    used: u64,
    dataset: u64,
    keys: u64,
    /// (db, keys) of the dbs that hold keys.
    dbs: Vec<(u32, u64)>,
}

impl MemoryFigures {
    fn read(state: &ServerState) -> MemoryFigures {
        let backend = (state.backend_stats)();
        let dbs: Vec<(u32, u64)> = backend
            .keyspace
            .iter()
            .filter(|d| d.keys > 0)
            .map(|d| (d.db, d.keys))
            .collect();
        let used = super::rss_bytes();
        MemoryFigures {
            used,
            dataset: backend.data_bytes.min(used),
            keys: dbs.iter().map(|(_, k)| k).sum(),
            dbs,
        }
    }
}

/// `MEMORY STATS`, in Redis 7.2's order.
fn memory_stats(state: &ServerState) -> Reply {
    let m = MemoryFigures::read(state);
    let int = |n: u64| Reply::Integer(n.min(i64::MAX as u64) as i64);
    let pct = |part: u64, whole: u64| {
        Reply::Double(if whole == 0 {
            0.0
        } else {
            part as f64 * 100.0 / whole as f64
        })
    };
    let mut fields: Vec<(&str, Reply)> = vec![
        ("peak.allocated", int(m.used)),
        ("total.allocated", int(m.used)),
        ("startup.allocated", int(0)),
        ("replication.backlog", int(0)),
        ("clients.slaves", int(0)),
        ("clients.normal", int(0)),
        ("cluster.links", int(0)),
        ("aof.buffer", int(0)),
        ("lua.caches", int(0)),
        ("functions.caches", int(0)),
    ];
    let mut pairs: Vec<(Reply, Reply)> =
        fields.drain(..).map(|(k, v)| (Reply::bulk(k), v)).collect();
    for (db, _) in &m.dbs {
        pairs.push((
            Reply::Bulk(Bytes::from(format!("db.{db}"))),
            Reply::Map(vec![
                (Reply::bulk("overhead.hashtable.main"), int(0)),
                (Reply::bulk("overhead.hashtable.expires"), int(0)),
            ]),
        ));
    }
    let rest: Vec<(&str, Reply)> = vec![
        ("overhead.total", int(m.used - m.dataset)),
        ("keys.count", int(m.keys)),
        (
            "keys.bytes-per-key",
            int(m.used.checked_div(m.keys).unwrap_or(0)),
        ),
        ("dataset.bytes", int(m.dataset)),
        ("dataset.percentage", pct(m.dataset, m.used)),
        ("peak.percentage", pct(m.used, m.used)),
        ("allocator.allocated", int(m.used)),
        ("allocator.active", int(m.used)),
        ("allocator.resident", int(m.used)),
        ("allocator-fragmentation.ratio", Reply::Double(1.0)),
        ("allocator-fragmentation.bytes", int(0)),
        ("allocator-rss.ratio", Reply::Double(1.0)),
        ("allocator-rss.bytes", int(0)),
        ("rss-overhead.ratio", Reply::Double(1.0)),
        ("rss-overhead.bytes", int(0)),
        ("fragmentation", Reply::Double(1.0)),
        ("fragmentation.bytes", int(0)),
    ];
    pairs.extend(rest.into_iter().map(|(k, v)| (Reply::bulk(k), v)));
    Reply::Map(pairs)
}

/// `MEMORY DOCTOR`: Redis' report. With no fragmentation or peak figures
/// of its own to judge, redynamo finds either too little to judge (under
/// 5 MB, Redis' bound) or no issue.
fn memory_doctor(state: &ServerState) -> Reply {
    let m = MemoryFigures::read(state);
    let text = if m.used < 5 * 1024 * 1024 {
        "Hi Sam, this instance is empty or is using very little memory, my issues detector can't be used in these conditions. Please, leave for your mission on Earth and fill it with some data. The new Sam and I will be back to our programming as soon as I finished rebooting.\n"
    } else {
        "Hi Sam, I can't find any memory issue in your instance. I can only account for what occurs on this base.\n"
    };
    Reply::Verbatim("txt", Bytes::from_static(text.as_bytes()))
}

const DEBUG_REFUSED: Reply = Reply::static_error("ERR DEBUG command not allowed. If the enable-debug-command option is set to \"local\", you can run it from a local connection, otherwise you need to set this option in the configuration file, and then restart the server.");

const DEBUG_HELP: &[&str] = &[
    "DEBUG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "OBJECT <key>",
    "    Show low level info about `key` and associated value.",
    "SLEEP <seconds>",
    "    Stop the server for <seconds>. Decimals allowed.",
    "HELP",
    "    Prints this help.",
];

/// `DEBUG SLEEP seconds | HELP`, when `--enable-debug-command` allows it.
fn debug(state: &ServerState, a: &[Bytes], local: bool) -> Answer {
    let allowed = match state.config.enable_debug_command {
        EnableDebug::Yes => true,
        EnableDebug::Local => local,
        EnableDebug::No => false,
    };
    if !allowed {
        return Answer::Now(DEBUG_REFUSED);
    }
    let sub = a[1].to_ascii_lowercase();
    match (sub.as_slice(), a.len()) {
        (b"help", 2) => Answer::Now(help(DEBUG_HELP)),
        // Needs the store: [`debug_object`] runs it, except inside EXEC,
        // whose admin replies are made without the store.
        (b"object", 3) => Answer::Now(Reply::static_error(
            "ERR DEBUG OBJECT is not supported inside MULTI by redynamo",
        )),
        // Redis reads the seconds with strtod and no check: what is not a
        // number sleeps 0. Only this client waits here, not the server.
        (b"sleep", 3) => {
            let secs = std::str::from_utf8(&a[2])
                .ok()
                .and_then(|s| s.trim().parse::<f64>().ok())
                .filter(|s| s.is_finite() && *s > 0.0)
                .unwrap_or(0.0);
            let wait = Duration::try_from_secs_f64(secs).unwrap_or(Duration::MAX);
            Answer::After(Some(wait), Reply::ok())
        }
        _ => Answer::Now(Reply::error(format!(
            "ERR unknown subcommand or wrong number of arguments for '{}'. Try DEBUG HELP.",
            String::from_utf8_lossy(&a[1])
        ))),
    }
}

/// The key of a `DEBUG OBJECT key` that [`debug_object`] should run: the
/// command is allowed here and has the right arguments.
pub(super) fn debug_object_key(state: &ServerState, cmd: &Command, local: bool) -> Option<Bytes> {
    let a = &cmd.args;
    let allowed = match state.config.enable_debug_command {
        EnableDebug::Yes => true,
        EnableDebug::Local => local,
        EnableDebug::No => false,
    };
    (cmd.spec.id == CommandId::Debug
        && allowed
        && a.len() == 3
        && a[1].eq_ignore_ascii_case(b"object"))
    .then(|| a[2].clone())
}

/// `DEBUG OBJECT key`, from the store's OBJECT ENCODING and IDLETIME, in
/// Redis' format. What a store here does not have is given as Redis' zero
/// values: no address (`0x0`), `refcount:1`, `serializedlength:0` (there
/// is no RDB serialization), `lru:0`.
pub(super) async fn debug_object<S>(inner: S, req: Request, key: Bytes) -> Result<Reply, BoxError>
where
    S: Service<Request, Response = Reply, Error = BoxError> + Clone,
{
    let ask = |sub: &'static str| {
        let args = vec![
            Bytes::from_static(b"object"),
            Bytes::from_static(sub.as_bytes()),
            key.clone(),
        ];
        let spec = redynamo_layers::command::resolve(&args)?;
        let mut asked = Request::new(Command { spec, args }, req.db, req.client.clone());
        asked.authenticated = req.authenticated;
        Ok::<_, Reply>(asked)
    };
    let (encoding, idle) = match (ask("encoding"), ask("idletime")) {
        (Ok(e), Ok(i)) => (e, i),
        (Err(e), _) | (_, Err(e)) => return Ok(e),
    };
    let encoding = match inner.clone().oneshot(encoding).await? {
        Reply::Bulk(e) => e,
        Reply::Null => return Ok(Reply::static_error("ERR no such key")),
        other => return Ok(other),
    };
    let idle = match inner.oneshot(idle).await? {
        Reply::Integer(n) => n,
        _ => 0,
    };
    Ok(Reply::Simple(Bytes::from(format!(
        "Value at:0x0 refcount:1 encoding:{} serializedlength:0 lru:0 lru_seconds_idle:{idle}",
        String::from_utf8_lossy(&encoding)
    ))))
}
