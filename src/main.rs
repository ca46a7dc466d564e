//! The `redynamo` binary: parse configuration, start logging, serve.
//!
//! A start-up failure (a bad option, an unreadable config file, a port in
//! use, no AWS region) is one line on stderr, `redynamo: …`, and exit code
//! 1 (2 for a bad command line), as a Redis operator expects of a server;
//! never a backtrace.

use std::io::IsTerminal;
use std::process::ExitCode;

use redynamo::config::{Config, ConfigError, LogFormat};
use redynamo::server::Server;
use tracing_subscriber::EnvFilter;

/// mimalloc keeps no per-allocation header and has fine size classes, so a
/// stored key (key, value and deadline in one allocation) costs its size
/// class and nothing more; it is also faster than glibc malloc for the
/// small, short-lived allocations of the request path (BENCHMARKS.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc 3's `mi_option_purge_delay` (`mi_option_t` 15 in its
/// `mimalloc.h`; the bindings name only the options they consider stable).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Return freed memory to the system when it is freed.
///
/// mimalloc 3 purges free memory 1 s after it is freed, but only when it is
/// next busy allocating or freeing: a server that goes quiet after FLUSHALL
/// of 3 GiB kept it resident for minutes. With no delay, memory that
/// becomes free is given back there and then (`MADV_DONTNEED`), which
/// costs the request path nothing measurable (BENCHMARKS.md,
/// "Connections"). `MIMALLOC_PURGE_DELAY` in the environment still wins,
/// as mimalloc documents.
fn configure_allocator() {
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_some() {
        return;
    }
    // SAFETY: mi_option_set stores a number in mimalloc's option table,
    // which mimalloc reads on every purge decision. It takes no pointers;
    // it is not thread-safe, and this is the first thing main does, before
    // any other thread exists. 15 is the purge-delay option of the
    // mimalloc 3 that libmimalloc-sys builds (its v2 feature is off), for
    // which 0 means "purge at once".
    #[allow(unsafe_code)]
    unsafe {
        libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, 0);
    }
}

/// Transparent huge pages off for this process, as redis-server does by
/// default (`disable-thp yes`; `--disable-thp no` keeps them). mimalloc
/// asks for huge pages on its arenas (`MADV_HUGEPAGE`), so where the
/// system's THP mode is `madvise` or `always` the heap becomes resident
/// 2 MiB at a time: a list of 1 M short elements then took 15 MiB of RSS
/// for 12.5 MiB of data, 13 MiB without (BENCHMARKS.md). The flag covers
/// mappings made before it too: the kernel checks it at every fault.
fn disable_transparent_huge_pages() {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: prctl(PR_SET_THP_DISABLE, 1, 0, 0, 0) takes integers
        // only and changes one flag of this process; it reads and writes
        // no memory of ours. A kernel without the option returns EINVAL,
        // which leaves THP as it was: nothing to handle.
        #[allow(unsafe_code)]
        let rc = unsafe { libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0) };
        if rc != 0 {
            eprintln!("warning: could not disable transparent huge pages");
        }
    }
}

/// Why the server did not start: one line on stderr ("redynamo: cannot
/// listen on 127.0.0.1:6379: Address already in use") and a non-zero exit,
/// never a backtrace, whatever `RUST_BACKTRACE` says.
struct Fatal {
    message: String,
    /// 2 for a bad command line (clap's usage code), 1 for the rest.
    code: u8,
}

impl Fatal {
    fn new(message: impl std::fmt::Display) -> Fatal {
        Fatal {
            message: message.to_string(),
            code: 1,
        }
    }
}

fn main() -> ExitCode {
    // Before anything else: the call is not thread-safe.
    configure_allocator();
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(fatal) => {
            eprintln!("redynamo: {}", one_line(&fatal.message));
            ExitCode::from(fatal.code)
        }
    }
}

fn run() -> Result<(), Fatal> {
    let config = Config::load().map_err(|e| match e {
        ConfigError::Invalid(clap) => usage_error(clap),
        other => Fatal::new(other),
    })?;
    if config.version {
        println!("{}", version_line());
        return Ok(());
    }
    if config.disable_thp {
        disable_transparent_huge_pages();
    }
    if let Some(addr) = &config.check {
        std::process::exit(redynamo::healthcheck::run(addr));
    }
    let filter = EnvFilter::try_new(&config.log_level)
        .map_err(|e| Fatal::new(format!("invalid --log-level {:?}: {e}", config.log_level)))?;
    // Logs go to stdout; colour only for a terminal (not for a pipe, a
    // file, journald or a container's log driver), and never with a
    // non-empty NO_COLOR (no-color.org).
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    let ansi = std::io::stdout().is_terminal() && !no_color;
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi);
    match config.log_format {
        LogFormat::Json => logs.json().init(),
        LogFormat::Text => logs.init(),
    }
    if let Some(warning) = config.redis_conf.warning() {
        tracing::warn!("{warning}");
    }
    let runtime = runtime(config.threads)
        .map_err(|e| Fatal::new(format!("cannot start the async runtime: {e}")))?;
    let state = runtime.block_on(async {
        // The error names what failed ("cannot listen on …", "no AWS
        // region configured …", "DynamoDB table 'x' does not exist …").
        let server = Server::builder(config)
            .allocator(allocator_name())
            .allocator_stats(allocator_stats)
            .bind()
            .await
            .map_err(Fatal::new)?;
        let state = server.state();
        server.serve_until_signal().await;
        Ok::<_, Fatal>(state)
    })?;
    // Every connection has drained or been given up on. Exit without
    // dropping the server state (and through it the keyspace) or the
    // runtime: freeing 4 M keys one by one took 3 s after "bye bye", while
    // the system takes the memory back at once, as it does from
    // redis-server. Nothing left has anything to write: the log lines are
    // out (line-buffered) and the backends hold no unacknowledged writes.
    let _keep = (state, runtime);
    std::process::exit(0)
}

/// A bad command line in one line: clap's first ("error: unexpected
/// argument '--frob' found"), without its tips and usage. `--help` is
/// clap's to print, on stdout, exiting 0.
fn usage_error(e: clap::Error) -> Fatal {
    use clap::error::ErrorKind;
    match e.kind() {
        ErrorKind::DisplayHelp
        | ErrorKind::DisplayVersion
        | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => e.exit(),
        _ => {
            let text = e.render().to_string();
            let first = text.lines().next().unwrap_or_default();
            let first = first.strip_prefix("error: ").unwrap_or(first);
            Fatal {
                message: format!("{first} (redynamo --help lists the options)"),
                code: e.exit_code().clamp(1, 255) as u8,
            }
        }
    }
}

/// `message` on one line, without the " (os error 98)" the standard
/// library appends to a system error: the text says it already.
fn one_line(message: &str) -> String {
    const OS_ERROR: &str = " (os error ";
    let mut out = String::new();
    let mut rest = message;
    while let Some(i) = rest.find(OS_ERROR) {
        let after = &rest[i + OS_ERROR.len()..];
        let digits = after.bytes().take_while(u8::is_ascii_digit).count();
        if digits > 0 && after[digits..].starts_with(')') {
            out.push_str(&rest[..i]);
            rest = &after[digits + 1..];
        } else {
            out.push_str(&rest[..i + 1]);
            rest = &rest[i + 1..];
        }
    }
    out.push_str(rest);
    out.lines().collect::<Vec<_>>().join("; ")
}

/// `redynamo -v`, after `redis-server -v` ("Redis server v=7.2.4
/// sha=00000000:0 malloc=jemalloc-5.3.0 bits=64 build=…"): redynamo's
/// version, the Redis version it answers as, the allocator and the word
/// size. No sha or build id: the build records neither.
fn version_line() -> String {
    format!(
        "redynamo v={} redis={} malloc={} bits={}",
        env!("CARGO_PKG_VERSION"),
        redynamo::admin::REDIS_VERSION_FOR_HELLO,
        allocator_name(),
        usize::BITS
    )
}

/// The tokio runtime for `--threads` (0: one worker per CPU the process may
/// use). One worker gets the current-thread scheduler: on a single CPU the
/// multi-threaded one only adds cross-thread queues and atomic wake-ups to
/// every request (BENCHMARKS.md).
fn runtime(threads: usize) -> std::io::Result<tokio::runtime::Runtime> {
    let threads = match threads {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    };
    let mut builder = if threads == 1 {
        tokio::runtime::Builder::new_current_thread()
    } else {
        let mut b = tokio::runtime::Builder::new_multi_thread();
        b.worker_threads(threads);
        b
    };
    builder.enable_all().build()
}

/// INFO's `used_memory` and `used_memory_peak`: the bytes mimalloc has
/// committed, now and at most (`mi_process_info`'s `current_commit` and
/// `peak_commit`). On Linux mimalloc counts them itself as the read/write
/// memory it holds from the system: live allocations plus the free space
/// inside its committed pages (purged at once, see
/// `configure_allocator`), so it is at least what Redis' jemalloc-based
/// `used_memory` (bytes allocated) would show, and at most the RSS.
fn allocator_stats() -> (u64, u64) {
    let (mut current, mut peak) = (0usize, 0usize);
    // SAFETY: mi_process_info writes through the pointers it is given,
    // each to a live local usize here, and ignores the null ones (its
    // documented contract: every out-parameter is optional).
    #[allow(unsafe_code)]
    unsafe {
        libmimalloc_sys::mi_process_info(
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            &mut current,
            &mut peak,
            std::ptr::null_mut(),
        );
    }
    (current as u64, peak as u64)
}

/// INFO's `mem_allocator`, as Redis names its own (`jemalloc-5.3.0`).
fn allocator_name() -> String {
    let v = GLOBAL.version();
    format!("mimalloc-{}.{}.{}", v / 10000, v / 100 % 100, v % 100)
}
