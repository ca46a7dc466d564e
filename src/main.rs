//! The `redynamo` binary: parse configuration, start logging, serve.

use anyhow::Context;
use redynamo::config::{Config, LogFormat};
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

fn main() -> anyhow::Result<()> {
    // Before anything else: the call is not thread-safe.
    configure_allocator();
    let config = Config::load().map_err(|e| match e {
        redynamo::config::ConfigError::Invalid(clap) => clap.exit(),
        other => anyhow::anyhow!(other),
    })?;
    if config.disable_thp {
        disable_transparent_huge_pages();
    }
    if let Some(addr) = &config.check {
        std::process::exit(redynamo::healthcheck::run(addr));
    }
    let filter = EnvFilter::try_new(&config.log_level).context("invalid --log-level")?;
    let logs = tracing_subscriber::fmt().with_env_filter(filter);
    match config.log_format {
        LogFormat::Json => logs.json().init(),
        LogFormat::Text => logs.init(),
    }
    let runtime = runtime(config.threads)?;
    let state = runtime.block_on(async {
        let addr = (config.bind, config.port);
        let server = Server::builder(config)
            .allocator(allocator_name())
            .bind()
            .await
            .with_context(|| format!("cannot start serving on {}:{}", addr.0, addr.1))?;
        let state = server.state();
        server.serve_until_signal().await;
        anyhow::Ok(state)
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

/// The tokio runtime for `--threads` (0: one worker per CPU the process may
/// use). One worker gets the current-thread scheduler: on a single CPU the
/// multi-threaded one only adds cross-thread queues and atomic wake-ups to
/// every request (BENCHMARKS.md).
fn runtime(threads: usize) -> anyhow::Result<tokio::runtime::Runtime> {
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
    builder
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

/// INFO's `mem_allocator`, as Redis names its own (`jemalloc-5.3.0`).
fn allocator_name() -> String {
    let v = GLOBAL.version();
    format!("mimalloc-{}.{}.{}", v / 10000, v / 100 % 100, v % 100)
}
