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

fn main() -> anyhow::Result<()> {
    let config = Config::load().map_err(|e| match e {
        redynamo::config::ConfigError::Invalid(clap) => clap.exit(),
        other => anyhow::anyhow!(other),
    })?;
    let filter = EnvFilter::try_new(&config.log_level).context("invalid --log-level")?;
    let logs = tracing_subscriber::fmt().with_env_filter(filter);
    match config.log_format {
        LogFormat::Json => logs.json().init(),
        LogFormat::Text => logs.init(),
    }
    runtime(config.threads)?.block_on(async {
        let addr = (config.bind, config.port);
        let server = Server::builder(config)
            .bind()
            .await
            .with_context(|| format!("cannot start serving on {}:{}", addr.0, addr.1))?;
        server.serve_until_signal().await;
        Ok(())
    })
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
