//! One task per client: read, decode, run, reply.
//!
//! The connection owns the session: authenticated or not, the selected db,
//! the RESP version, the client name, the MULTI queue and whether WATCH is
//! in force. Session commands (`Routing::session` in the command table)
//! are answered here; everything else becomes a [`Request`] for the stack.
//! What MULTI does with a command is the table's `Routing::in_multi`.
//!
//! Pipelining: every command already buffered is decoded and run, and the
//! replies of commands answered at once (the memory store, a cache hit) are
//! flushed together once the batch is done (or when the output passes
//! [`FLUSH_AT`]), so a pipeline of N such commands costs one write syscall,
//! not N. A command that has to wait (a DynamoDB call) first flushes the
//! replies before it: each reply goes out as soon as it and every reply
//! before it are ready, so a pipeline's first answer does not wait for its
//! last command. Replies go out in request order because commands of one
//! connection run one after another. Up to [`LOOKAHEAD`] commands are
//! decoded before the first of them runs, and their keys are passed to the
//! backend's [`crate::store::Hints::warm`] hint, so the memory store's
//! cache misses for a whole batch overlap (BENCHMARKS.md, "Warming keys
//! ahead").
//!
//! A connection closes only on QUIT, a protocol error, a dead socket,
//! CLIENT KILL, the idle timeout or server shutdown — never because a
//! command failed. On shutdown it starts no further command: the one
//! running finishes, its reply and those before it are written, and the
//! connection closes; commands read but not started are not run, so every
//! command that ran was answered.
//!
//! Memory: a connection holds its read and write buffers only while its
//! client is sending. When a read would wait, empty buffers go back to the
//! allocator ([`Transport::poll_read_ready`] waits for input without a
//! buffer), and a buffer grown past [`KEEP_BUFFER`] for a big command is
//! not kept once that command is done, so an idle client costs its task
//! and socket, not 32 KiB of buffers (Redis frees idle clients' query
//! buffers the same way; BENCHMARKS.md, "Connections").

use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use futures::StreamExt;
use redynamo_layers::command::{self, CommandSpec, InMulti};
use redynamo_layers::error::error_reply;
use redynamo_layers::metrics::{self, Outcome};
use redynamo_layers::reply::errors;
use redynamo_layers::{auth, Command, Reply, Request};
use std::future::Future as _;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_util::codec::Decoder;
use tracing::debug;

use crate::admin::REDIS_VERSION_FOR_HELLO;
use crate::commands::int_arg;
use crate::protocol::{Limits, ProtocolError, ProtocolVersion, RespCodec};
use crate::server::clients::ClientEntry;
use crate::server::state::{ServerState, ServerStats};
use crate::stack::{Stack, StackService};

/// Flush the output buffer mid-batch once it holds this many bytes, so a
/// huge pipeline does not buffer all of its replies.
const FLUSH_AT: usize = 64 * 1024;

/// Read at least this much per read call; also what the write buffer
/// starts with when a client wakes up.
const READ_CHUNK: usize = 16 * 1024;

/// A buffer that grew past this for one big command or reply is dropped
/// once it is empty rather than kept for the next, as Redis shrinks a
/// query buffer that outgrew what the client usually sends.
const KEEP_BUFFER: usize = 64 * 1024;

/// Commands decoded ahead of running them, whose keys the backend is asked
/// to warm together ([`crate::store::Hints::warm`]): a pipeline's worth.
const LOOKAHEAD: usize = 32;

/// At most this many keys per warm-up hint.
const WARM_KEYS: usize = 64;

/// A command line resolved against the table, or the error reply.
type Resolved = Result<&'static CommandSpec, Reply>;

/// A command decoded ahead: its line and resolution, or the protocol error
/// that ends the connection once the commands before it have run.
type Decoded = Result<Line, ProtocolError>;

/// A decoded command line and its resolution.
type Line = (Resolved, Vec<Bytes>);

/// A call into the stack: answered already, or still running.
enum Call<F> {
    Done(Result<Reply, redynamo_layers::BoxError>),
    Pending(F),
}

/// What a connection runs over: a byte stream that can also tell when
/// input is waiting, so that an idle connection waits without holding a
/// read buffer.
pub trait Transport: AsyncRead + AsyncWrite + Unpin {
    /// Ready when a read would find input (or the end of it), registering
    /// the task's waker otherwise. The default is always ready: the
    /// connection then waits inside a read, holding its buffer.
    fn poll_read_ready(&self, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

impl Transport for TcpStream {
    fn poll_read_ready(&self, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        TcpStream::poll_read_ready(self, cx)
    }
}

impl Transport for tokio::io::DuplexStream {}

/// Why the loop ended.
enum Close {
    /// The client asked (QUIT) or went away.
    Client,
    /// A protocol error was answered; close after flushing.
    Protocol,
}

/// What MULTI has queued.
struct Multi {
    queued: Vec<Command>,
    /// A command failed to queue: EXEC answers EXECABORT.
    dirty: bool,
}

/// One client connection, over any stack: the server runs it over the
/// unboxed stack type ([`crate::stack::service`]), benchmarks and
/// embedders may use the boxed [`Stack`].
pub struct Connection<IO, S = Stack> {
    io: IO,
    codec: RespCodec,
    read_buf: BytesMut,
    write_buf: BytesMut,
    stack: S,
    state: Arc<ServerState>,
    entry: Arc<ClientEntry>,
    db: u32,
    authenticated: bool,
    multi: Option<Multi>,
    /// This connection has WATCHed keys the store must forget on exit.
    watching: bool,
    /// Commands decoded but not yet run, in order (see [`LOOKAHEAD`]).
    ahead: std::collections::VecDeque<Decoded>,
    /// A write of replies ahead of a waiting command failed; the next
    /// [`Connection::flush`] reports it and the connection ends.
    write_failed: Option<std::io::Error>,
    /// A command had to wait since the last look at the shutdown token.
    waited: bool,
    /// The read buffer grew past [`KEEP_BUFFER`] (a big command): it is
    /// replaced once empty rather than reused.
    read_buf_grown: bool,
}

impl<IO: Transport, S: StackService> Connection<IO, S> {
    pub fn new(io: IO, stack: S, state: Arc<ServerState>, entry: Arc<ClientEntry>) -> Self {
        let limits = Limits {
            max_bulk_len: state.tunables.proto_max_bulk_len.load(Ordering::Relaxed),
            max_multibulk_len: state.config.max_multibulk_len,
            max_inline_len: state.config.max_inline_len,
            query_buffer_limit: state
                .tunables
                .client_query_buffer_limit
                .load(Ordering::Relaxed),
        };
        let mut codec = RespCodec::new(limits);
        let authenticated = !state.credentials.required();
        codec.set_authenticated(authenticated);
        Connection {
            io,
            codec,
            // Allocated when the client first sends (see `read_more`).
            read_buf: BytesMut::new(),
            write_buf: BytesMut::new(),
            stack,
            state,
            entry,
            db: 0,
            authenticated,
            multi: None,
            watching: false,
            ahead: std::collections::VecDeque::new(),
            write_failed: None,
            waited: false,
            read_buf_grown: false,
        }
    }

    /// Serve the client until it leaves, is killed, or the server shuts
    /// down.
    pub async fn run(mut self) {
        let result = self.serve().await;
        if let Err(e) = result {
            debug!(error = %e, "connection closed with an I/O error");
        }
        if self.watching {
            metrics::end_run();
            let _ = self.call_stack(self.internal("unwatch")).await;
        }
    }

    async fn serve(&mut self) -> std::io::Result<()> {
        // Made once, not per read: a cancellation future registers with its
        // token (a lock) when first polled and deregisters when dropped, a
        // cost one command per round trip would pay twice per token.
        let killed = self.entry.kill.clone().cancelled_owned();
        let stopping = self.state.shutdown.clone().cancelled_owned();
        tokio::pin!(killed, stopping);
        loop {
            // Whatever ran before this (a read, a flush) was a wait: the
            // next command starts a run of its own (`metrics::end_run`).
            metrics::end_run();
            // Run everything already buffered, then flush once.
            match self.drain_buffered().await? {
                Some(Close::Client) => {
                    self.flush().await?;
                    return Ok(());
                }
                Some(Close::Protocol) => {
                    self.flush().await?;
                    return Ok(());
                }
                None => {}
            }
            self.flush().await?;
            self.refresh_limits();

            let idle = self
                .state
                .tunables
                .idle_timeout_secs
                .load(Ordering::Relaxed);
            // Lazy: with no idle timeout (the default) no timer is made.
            let idle = async move {
                match idle {
                    0 => std::future::pending().await,
                    secs => tokio::time::sleep(Duration::from_secs(secs)).await,
                }
            };
            tokio::select! {
                read = self.read_more() => {
                    let n = read?;
                    if n == 0 {
                        return Ok(());
                    }
                    ServerStats::add(&self.state.stats.net_input_bytes, n as u64);
                    self.entry.mark_active();
                }
                _ = &mut killed => return Ok(()),
                _ = &mut stopping => return Ok(()),
                _ = idle => return Ok(()),
            }
        }
    }

    /// Read what the client sends next.
    ///
    /// A client that is already sending (a pipeline, a big value) is read
    /// at once with the buffers held. Otherwise the connection is about to
    /// wait, perhaps for hours: its empty buffers go back to the allocator
    /// first, and are allocated again when input arrives. Cancel-safe, as
    /// the `select!` in [`Connection::serve`] needs: nothing is consumed
    /// until the read itself completes.
    async fn read_more(&mut self) -> std::io::Result<usize> {
        let io = &self.io;
        let ready_now = std::future::poll_fn(|cx| Poll::Ready(io.poll_read_ready(cx))).await;
        match ready_now {
            Poll::Ready(ready) => ready?,
            Poll::Pending => {
                self.release_buffers();
                let io = &self.io;
                std::future::poll_fn(|cx| io.poll_read_ready(cx)).await?;
            }
        }
        if self.write_buf.capacity() == 0 {
            self.write_buf.reserve(READ_CHUNK);
        }
        // A buffer that grew for one big command is not kept for the
        // small ones after it: reserving would take back the whole
        // allocation once the command's arguments are gone.
        if self.read_buf.is_empty() && std::mem::take(&mut self.read_buf_grown) {
            self.read_buf = BytesMut::new();
        }
        self.read_buf.reserve(READ_CHUNK);
        let n = self.io.read_buf(&mut self.read_buf).await?;
        // Seen here, while the big command's bytes are still in the buffer
        // (once split out, only the tail's capacity shows).
        self.read_buf_grown |= self.read_buf.capacity() > KEEP_BUFFER;
        Ok(n)
    }

    /// Give empty buffers back to the allocator while the client is quiet.
    /// A partly received command keeps its bytes.
    fn release_buffers(&mut self) {
        if self.read_buf.is_empty() && self.read_buf.capacity() > 0 {
            self.read_buf = BytesMut::new();
            self.read_buf_grown = false;
        }
        if self.write_buf.is_empty() && self.write_buf.capacity() > 0 {
            self.write_buf = BytesMut::new();
        }
    }

    /// CONFIG SET may change limits while we run.
    fn refresh_limits(&mut self) {
        let t = &self.state.tunables;
        let limits = self.codec.limits_mut();
        limits.max_bulk_len = t.proto_max_bulk_len.load(Ordering::Relaxed);
        limits.query_buffer_limit = t.client_query_buffer_limit.load(Ordering::Relaxed);
    }

    async fn flush(&mut self) -> std::io::Result<()> {
        if let Some(e) = self.write_failed.take() {
            return Err(e);
        }
        // The metrics layer settles the commands whose replies are about to
        // be seen (and the next command will follow a wait, not them).
        metrics::end_run();
        if !self.write_buf.is_empty() {
            ServerStats::add(
                &self.state.stats.net_output_bytes,
                self.write_buf.len() as u64,
            );
            self.io.write_all(&self.write_buf).await?;
            self.write_buf.clear();
            // A buffer grown for one huge reply is not kept.
            if self.write_buf.capacity() > KEEP_BUFFER {
                self.write_buf = BytesMut::new();
            }
        }
        Ok(())
    }

    /// Send the replies written so far, before waiting for a command that
    /// is not answered yet: they are ready and must not wait for it. A
    /// failed write is kept for [`Connection::flush`] to report, since the
    /// command already started and its caller expects a reply value.
    async fn flush_before_wait(&mut self) {
        if self.write_buf.is_empty() || self.write_failed.is_some() {
            return;
        }
        if let Err(e) = self.flush().await {
            self.write_buf.clear();
            self.write_failed = Some(e);
        }
    }

    fn reply(&mut self, reply: &Reply) {
        self.codec.encode_reply(reply, &mut self.write_buf);
    }

    /// Decode and run every complete command in the read buffer.
    ///
    /// A run of consecutive read-only commands is sent into the stack
    /// together and awaited in order, so a pipeline of reads against a
    /// remote backend costs about one round trip instead of one per
    /// command. Any other command ends the run: a write never overtakes or
    /// is overtaken by a read of the same connection.
    async fn drain_buffered(&mut self) -> std::io::Result<Option<Close>> {
        // A command decoded while collecting a batch that did not belong in
        // it, with its resolution.
        let mut pending: Option<(Resolved, Vec<Bytes>)> = None;
        loop {
            // Shutting down: start nothing more. What ran has its reply in
            // the buffer (flushed by the caller); what was read but not
            // started is not run, so nothing is done without an answer.
            // Looked at only after a command that waited (the token's check
            // takes a lock): commands answered in place take microseconds,
            // and the read loop sees the shutdown before reading more.
            if std::mem::take(&mut self.waited) && self.state.shutdown.is_cancelled() {
                return Ok(Some(Close::Client));
            }
            if let Some((resolved, args)) = pending.take() {
                if let Some(close) = self.handle(resolved, args).await {
                    return Ok(Some(close));
                }
                continue;
            }
            let (resolved, args) = match self.decode_next() {
                Ok(Some(decoded)) => decoded,
                Ok(None) => return Ok(None),
                Err(e) => return self.protocol_error(e),
            };
            match resolved {
                Ok(spec) if self.is_concurrent_read(spec) => {
                    let mut batch = vec![(spec, args)];
                    loop {
                        match self.decode_next() {
                            Ok(Some((resolved, next))) => match resolved {
                                Ok(spec) if self.is_concurrent_read(spec) => {
                                    batch.push((spec, next))
                                }
                                other => {
                                    pending = Some((other, next));
                                    break;
                                }
                            },
                            Ok(None) => break,
                            Err(e) => {
                                self.run_reads(batch).await?;
                                return self.protocol_error(e);
                            }
                        }
                    }
                    self.run_reads(batch).await?;
                }
                resolved => {
                    if let Some(close) = self.handle(resolved, args).await {
                        return Ok(Some(close));
                    }
                }
            }
            if self.write_buf.len() >= FLUSH_AT {
                self.flush().await?;
            }
        }
    }

    /// The next complete command, resolved, or how the connection must end.
    ///
    /// Commands are decoded up to [`LOOKAHEAD`] ahead of running them, and
    /// the backend is told the keys of those it will run
    /// ([`crate::store::Hints::warm`]), so that a pipelined batch waits
    /// for memory once rather than once per command. Nothing else changes:
    /// commands still run one at a time, in order, and a protocol error is
    /// answered only after every command before it. Decoding ahead does
    /// not start before authentication, and stops
    /// after a session or admin command or an unknown one, so a command
    /// that changes how the next is decoded (AUTH lifts the limits of an
    /// unauthenticated client) runs first. As before, limits changed by
    /// CONFIG SET apply from the next read on.
    ///
    /// A protocol error is returned, not answered: the caller answers it
    /// ([`Connection::protocol_error`]) once the commands before it have
    /// replied.
    fn decode_next(&mut self) -> Result<Option<Line>, ProtocolError> {
        if self.ahead.is_empty() {
            self.decode_ahead();
        }
        self.ahead.pop_front().transpose()
    }

    /// Decode what the read buffer holds, up to [`LOOKAHEAD`] commands, and
    /// hint the backend about their keys.
    fn decode_ahead(&mut self) {
        // Decoding is the connection's work, not the next command's.
        metrics::end_run();
        let depth = if self.authenticated { LOOKAHEAD } else { 1 };
        while self.ahead.len() < depth {
            match self.codec.decode(&mut self.read_buf) {
                Ok(Some(args)) => {
                    let resolved = command::resolve(&args);
                    let last = resolved
                        .as_ref()
                        .map_or(true, |s| s.is_connection() || s.is_admin());
                    self.ahead.push_back(Ok((resolved, args)));
                    if last {
                        break;
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    self.ahead.push_back(Err(e));
                    break;
                }
            }
        }
        // One command gains nothing from a hint: its lookup is the same
        // memory wait either way.
        if self.ahead.len() < 2 {
            return;
        }
        let Some(warm) = &self.state.warm else {
            return;
        };
        let mut keys: Vec<&[u8]> = Vec::with_capacity(self.ahead.len());
        for (spec, args) in self.ahead.iter().filter_map(|d| match d {
            Ok((Ok(spec), args)) => Some((spec, args)),
            _ => None,
        }) {
            keys.extend(
                spec.key_indexes(args.len())
                    .map(|i| &args[i][..])
                    .take(WARM_KEYS - keys.len()),
            );
            if keys.len() == WARM_KEYS {
                break;
            }
        }
        warm(self.db, &keys);
    }

    /// Answer a protocol error; says how the connection ends.
    fn protocol_error(&mut self, e: ProtocolError) -> std::io::Result<Option<Close>> {
        match e {
            ProtocolError::Protocol(msg) => {
                self.reply(&Reply::error(format!("ERR {msg}")));
                Ok(Some(Close::Protocol))
            }
            ProtocolError::QueryBufferLimit => {
                tracing::warn!(
                    client = self.entry.id(),
                    "closing client that reached max query buffer length"
                );
                Ok(Some(Close::Client))
            }
            ProtocolError::Io(e) => Err(e),
        }
    }

    /// Whether `spec` is a plain read that may run concurrently with its
    /// neighbours.
    fn is_concurrent_read(&self, spec: &CommandSpec) -> bool {
        self.multi.is_none()
            && self.authenticated
            && spec.is_readonly()
            && !spec.routing.session
            && !spec.routing.blocking
    }

    /// Run reads together; replies are written in request order.
    ///
    /// Every call is started and polled once as soon as it is made, so a
    /// backend that answers at once (the in-memory store, a cache hit) has
    /// its reply written straight away, with nothing collected. Calls still
    /// pending (a remote backend) then run together, and their replies are
    /// sent in order as they complete: each as soon as it and every reply
    /// before it are ready.
    async fn run_reads(
        &mut self,
        batch: Vec<(&'static CommandSpec, Vec<Bytes>)>,
    ) -> std::io::Result<()> {
        if batch.len() == 1 {
            for (spec, args) in batch {
                self.handle(Ok(spec), args).await;
            }
            return Ok(());
        }
        // Empty until a call is pending; from then on, every call in order.
        let mut queued: Vec<Call<S::Future>> = Vec::new();
        ServerStats::add(
            &self.state.stats.total_commands_processed,
            batch.len() as u64,
        );
        for (spec, args) in batch {
            self.entry.touch(spec);
            let req = self.request(Command { spec, args });
            match self.start(req).await {
                Call::Done(result) if queued.is_empty() => {
                    self.reply(&result.unwrap_or_else(|e| error_reply(&e)));
                }
                call => queued.push(call),
            }
        }
        if queued.is_empty() {
            return Ok(());
        }
        self.waited = true;
        let mut running: futures::stream::FuturesOrdered<_> = queued
            .into_iter()
            .map(|call| async move {
                match call {
                    Call::Done(result) => result,
                    Call::Pending(future) => future.await,
                }
            })
            .collect();
        loop {
            // Take what is ready without waiting; before waiting, send what
            // is written. Polling once with a no-op waker loses no wake-up:
            // the calls' own wakers queue them inside `running`.
            let next = match futures::FutureExt::now_or_never(running.next()) {
                Some(next) => next,
                None => {
                    self.flush().await?;
                    running.next().await
                }
            };
            let Some(result) = next else {
                return Ok(());
            };
            self.reply(&result.unwrap_or_else(|e| error_reply(&e)));
        }
    }

    /// Run one command line; returns Some when the connection must close.
    async fn handle(&mut self, resolved: Resolved, args: Vec<Bytes>) -> Option<Close> {
        ServerStats::add(&self.state.stats.total_commands_processed, 1);
        let spec = match resolved {
            Ok(spec) => spec,
            Err(reply) => {
                let known = args.first().and_then(|name| command::lookup(name));
                self.refuse(known, reply).await;
                return None;
            }
        };
        self.entry.touch(spec);
        if !auth::permits(self.state.credentials.required(), self.authenticated, spec) {
            self.refuse(Some(spec), errors::NOAUTH).await;
            return None;
        }
        let cmd = Command { spec, args };
        if self.multi.is_some() && spec.routing.in_multi != InMulti::Run {
            let reply = self.queue(cmd);
            self.reply(&reply);
            return None;
        }
        if spec.is_connection() {
            let start = Instant::now();
            let written = self.write_buf.len();
            let close = self.session_command(cmd).await;
            // The next command does not follow on from a stack command.
            metrics::end_run();
            // EXEC and WATCH went through the stack, whose metrics layer
            // counted them already.
            if !matches!(spec.name, "exec" | "watch") {
                let failed = self.write_buf.get(written) == Some(&b'-');
                let outcome = if failed { Outcome::Error } else { Outcome::Ok };
                self.state
                    .command_stats
                    .record(Some(spec), outcome, start.elapsed(), None);
            }
            return close;
        }
        let reply = self.call_stack(self.request(cmd)).await;
        self.reply(&reply);
        None
    }

    /// Answer an error for a command refused before it ran, and count it.
    /// A refused EXEC (wrong arity, not authenticated) discards the
    /// transaction, as Redis' execCommandAbort does; anything else refused
    /// inside MULTI makes the EXEC that follows abort.
    async fn refuse(&mut self, spec: Option<&'static CommandSpec>, reply: Reply) {
        self.state
            .command_stats
            .record(spec, Outcome::Rejected, Duration::ZERO, Some(&reply));
        let reply = if spec.is_some_and(|s| s.name == "exec") {
            self.exec_abort(&reply).await
        } else {
            self.flag_multi();
            reply
        };
        self.reply(&reply);
    }

    /// The reply of a refused EXEC, which also ends MULTI and WATCH. Redis'
    /// own texts drop the `ERR` code but keep any other (`NOAUTH`).
    async fn exec_abort(&mut self, refusal: &Reply) -> Reply {
        self.end_multi();
        self.unwatch().await;
        let text = match refusal {
            Reply::Error(text) => String::from_utf8_lossy(text).into_owned(),
            other => format!("{other:?}"),
        };
        let text = text.strip_prefix("ERR ").unwrap_or(&text);
        Reply::error(format!(
            "EXECABORT Transaction discarded because of: {text}"
        ))
    }

    fn flag_multi(&mut self) {
        if let Some(multi) = &mut self.multi {
            multi.dirty = true;
        }
    }

    fn queue(&mut self, cmd: Command) -> Reply {
        // Redis' `no_multi` commands, and session commands other than
        // SELECT and UNWATCH (queued as Redis queues it: EXEC forgets the
        // watches before running the queue, so there it only answers OK),
        // which change connection state that a transaction in the
        // store cannot reach (the table says which: `Routing::in_multi`).
        if cmd.spec.routing.in_multi == InMulti::Refuse {
            self.flag_multi();
            return Reply::static_error("ERR Command not allowed inside a transaction");
        }
        let Some(multi) = &mut self.multi else {
            return Reply::static_error("ERR MULTI is not active");
        };
        multi.queued.push(cmd);
        self.entry
            .multi
            .store(multi.queued.len() as u64, Ordering::Relaxed);
        Reply::status("QUEUED")
    }

    fn request(&self, command: Command) -> Request {
        let mut req = Request::new(command, self.db, self.entry.info.clone());
        req.authenticated = self.authenticated;
        req
    }

    /// A request the connection makes on its own behalf (UNWATCH on exit).
    fn internal(&self, name: &str) -> Request {
        let spec = command::lookup(name.as_bytes()).expect("internal command in the table");
        self.request(Command {
            spec,
            args: vec![Bytes::copy_from_slice(name.as_bytes())],
        })
    }

    /// Send a request through the stack; an infrastructure error becomes
    /// an `-ERR` reply here, at the edge.
    async fn call_stack(&mut self, req: Request) -> Reply {
        let result = match self.start(req).await {
            Call::Done(result) => result,
            Call::Pending(future) => {
                self.waited = true;
                self.flush_before_wait().await;
                future.await
            }
        };
        result.unwrap_or_else(|e| error_reply(&e))
    }

    /// Start a call and poll it once.
    ///
    /// Readiness, the call and its first poll happen in one synchronous
    /// step, so a call answered at once (the in-memory store, a cache hit)
    /// is never stored in this connection's state machine. A stack that is
    /// not ready is waited for, as `ServiceExt::ready` would.
    async fn start(&mut self, req: Request) -> Call<S::Future> {
        let mut req = Some(req);
        std::future::poll_fn(|cx| {
            match self.stack.poll_ready(cx) {
                Poll::Ready(Ok(())) => {}
                Poll::Ready(Err(e)) => return Poll::Ready(Call::Done(Err(e))),
                Poll::Pending => return Poll::Pending,
            }
            // This closure returns Ready right after taking the request,
            // and a completed poll_fn is never polled again.
            let req = req.take().expect("a request is called once");
            let mut future = self.stack.call(req);
            Poll::Ready(match Pin::new(&mut future).poll(cx) {
                Poll::Ready(result) => Call::Done(result),
                Poll::Pending => Call::Pending(future),
            })
        })
        .await
    }

    async fn session_command(&mut self, cmd: Command) -> Option<Close> {
        let a = &cmd.args;
        let reply = match cmd.spec.name {
            "quit" => {
                self.reply(&Reply::ok());
                return Some(Close::Client);
            }
            "select" => match int_arg(&a[1]) {
                Ok(n) if n >= 0 && n < self.state.config.databases as i64 => {
                    self.set_db(n as u32);
                    Reply::ok()
                }
                Ok(_) => errors::DB_INDEX,
                Err(e) => e,
            },
            "auth" => self.auth(a),
            "hello" => self.hello(a),
            "reset" => self.reset().await,
            "multi" => {
                if self.multi.is_some() {
                    Reply::static_error("ERR MULTI calls can not be nested")
                } else {
                    self.multi = Some(Multi {
                        queued: Vec::new(),
                        dirty: false,
                    });
                    self.entry.in_multi.store(true, Ordering::Relaxed);
                    self.entry.multi.store(0, Ordering::Relaxed);
                    Reply::ok()
                }
            }
            "discard" => match self.end_multi() {
                Some(_) => {
                    self.unwatch().await;
                    Reply::ok()
                }
                None => Reply::static_error("ERR DISCARD without MULTI"),
            },
            "exec" => self.exec(cmd.clone()).await,
            "watch" => {
                if self.multi.is_some() {
                    Reply::static_error("ERR WATCH inside MULTI is not allowed")
                } else {
                    let reply = self.call_stack(self.request(cmd.clone())).await;
                    self.watching |= reply == Reply::ok();
                    reply
                }
            }
            "unwatch" => {
                self.unwatch().await;
                Reply::ok()
            }
            name if name.starts_with("client") => self.client(&cmd),
            _ => Reply::error(format!(
                "ERR unknown command '{}'",
                String::from_utf8_lossy(&a[0])
            )),
        };
        self.reply(&reply);
        None
    }

    fn set_db(&mut self, db: u32) {
        self.db = db;
        self.entry.db.store(db, Ordering::Relaxed);
    }

    fn end_multi(&mut self) -> Option<Multi> {
        self.entry.in_multi.store(false, Ordering::Relaxed);
        self.multi.take()
    }

    async fn unwatch(&mut self) {
        if self.watching {
            metrics::end_run();
            let _ = self.call_stack(self.internal("unwatch")).await;
            self.watching = false;
        }
        self.entry.info.watch_dirty.store(false, Ordering::Release);
    }

    async fn exec(&mut self, exec: Command) -> Reply {
        let Some(multi) = self.end_multi() else {
            return Reply::static_error("ERR EXEC without MULTI");
        };
        if multi.dirty {
            self.unwatch().await;
            return Reply::static_error(
                "EXECABORT Transaction discarded because of previous errors.",
            );
        }
        let mut req = self.request(exec);
        req.transaction = multi.queued.clone();
        let reply = self.call_stack(req).await;
        // The store forgot this client's watches when it ran EXEC.
        self.watching = false;
        self.entry.info.watch_dirty.store(false, Ordering::Release);
        // A SELECT inside the transaction changes the session's db.
        if let Reply::Array(replies) = &reply {
            for (cmd, r) in multi.queued.iter().zip(replies) {
                if cmd.spec.name == "select" && *r == Reply::ok() {
                    if let Ok(n) = int_arg(&cmd.args[1]) {
                        self.set_db(n as u32);
                    }
                }
            }
        }
        reply
    }

    fn set_authenticated(&mut self, yes: bool) {
        self.authenticated = yes;
        self.codec
            .set_authenticated(yes || !self.state.credentials.required());
    }

    fn auth(&mut self, a: &[Bytes]) -> Reply {
        let (user, pass) = match a.len() {
            2 => (None, &a[1]),
            3 => (Some(a[1].as_ref()), &a[2]),
            _ => return errors::SYNTAX,
        };
        match self.state.credentials.verify(user, pass) {
            Ok(()) => {
                self.set_authenticated(true);
                Reply::ok()
            }
            Err(e) => e,
        }
    }

    /// `HELLO [protover [AUTH username password] [SETNAME clientname]]`.
    fn hello(&mut self, a: &[Bytes]) -> Reply {
        let mut version = None;
        if let Some(v) = a.get(1) {
            match int_arg(v) {
                Ok(2) => version = Some(ProtocolVersion::Resp2),
                Ok(3) => version = Some(ProtocolVersion::Resp3),
                Ok(_) => return Reply::static_error("NOPROTO unsupported protocol version"),
                Err(_) => {
                    return Reply::static_error(
                        "ERR Protocol version is not an integer or out of range",
                    )
                }
            }
        }
        let mut i = 2;
        let mut name = None;
        let mut credentials = None;
        while i < a.len() {
            let more = a.len() - i - 1;
            if a[i].eq_ignore_ascii_case(b"auth") && more >= 2 {
                credentials = Some((a[i + 1].clone(), a[i + 2].clone()));
                i += 3;
            } else if a[i].eq_ignore_ascii_case(b"setname") && more >= 1 {
                name = Some(a[i + 1].clone());
                i += 2;
            } else {
                return Reply::error(format!(
                    "ERR Syntax error in HELLO option '{}'",
                    String::from_utf8_lossy(&a[i])
                ));
            }
        }
        if let Some((user, pass)) = &credentials {
            if let Err(e) = self.state.credentials.verify(Some(user), pass) {
                return e;
            }
            self.set_authenticated(true);
        }
        if !self.authenticated && self.state.credentials.required() {
            return Reply::static_error("NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time");
        }
        if let Some(name) = name {
            if let Err(e) = check_name(&name, "Client names") {
                return e;
            }
            self.entry.info.set_name((!name.is_empty()).then_some(name));
        }
        if let Some(v) = version {
            self.codec.set_version(v);
            let n = if v == ProtocolVersion::Resp3 { 3 } else { 2 };
            self.entry.resp.store(n, Ordering::Relaxed);
        }
        let proto = if self.codec.version() == ProtocolVersion::Resp3 {
            3
        } else {
            2
        };
        Reply::Map(vec![
            (Reply::bulk("server"), Reply::bulk("redis")),
            (Reply::bulk("version"), Reply::bulk(REDIS_VERSION_FOR_HELLO)),
            (Reply::bulk("proto"), Reply::Integer(proto)),
            (Reply::bulk("id"), Reply::Integer(self.entry.id() as i64)),
            (Reply::bulk("mode"), Reply::bulk("standalone")),
            (Reply::bulk("role"), Reply::bulk("master")),
            (Reply::bulk("modules"), Reply::Array(Vec::new())),
        ])
    }

    async fn reset(&mut self) -> Reply {
        self.end_multi();
        self.unwatch().await;
        self.set_db(0);
        self.codec.set_version(ProtocolVersion::Resp2);
        self.entry.resp.store(2, Ordering::Relaxed);
        self.entry.info.set_name(None);
        let required = self.state.credentials.required();
        self.set_authenticated(!required);
        Reply::status("RESET")
    }

    fn client(&mut self, cmd: &Command) -> Reply {
        let a = &cmd.args;
        match cmd.spec.name {
            "client|id" => Reply::Integer(self.entry.id() as i64),
            "client|getname" => match self.entry.info.name() {
                Some(n) => Reply::Bulk(n),
                None => Reply::Null,
            },
            "client|setname" => match check_name(&a[2], "Client names") {
                Ok(()) => {
                    self.entry
                        .info
                        .set_name((!a[2].is_empty()).then(|| a[2].clone()));
                    Reply::ok()
                }
                Err(e) => e,
            },
            "client|setinfo" => {
                let attr = a[2].to_ascii_lowercase();
                let slot = match attr.as_slice() {
                    b"lib-name" => &self.entry.lib_name,
                    b"lib-ver" => &self.entry.lib_ver,
                    _ => {
                        return Reply::error(format!(
                            "ERR Unrecognized option '{}'",
                            String::from_utf8_lossy(&a[2])
                        ))
                    }
                };
                let label = if attr == b"lib-name" {
                    "lib-name"
                } else {
                    "lib-ver"
                };
                if let Err(e) = check_name(&a[3], label) {
                    return e;
                }
                *slot.lock() = (!a[3].is_empty()).then(|| a[3].clone());
                Reply::ok()
            }
            "client|info" => {
                let mut line = self.entry.describe();
                line.push('\n');
                Reply::Verbatim("txt", Bytes::from(line))
            }
            "client|list" => self.client_list(&a[2..]),
            "client|kill" => self.client_kill(&a[2..]),
            "client|no-evict" | "client|no-touch" => match a[2].to_ascii_lowercase().as_slice() {
                b"on" | b"off" => Reply::ok(),
                _ => errors::SYNTAX,
            },
            _ => client_help(),
        }
    }

    /// `CLIENT LIST [TYPE normal|master|replica|pubsub] [ID id …]`.
    fn client_list(&self, filters: &[Bytes]) -> Reply {
        let mut ids: Option<Vec<u64>> = None;
        let mut type_ok = true;
        if let Some(first) = filters.first() {
            if first.eq_ignore_ascii_case(b"type") && filters.len() == 2 {
                let t = filters[1].to_ascii_lowercase();
                match t.as_slice() {
                    b"normal" => {}
                    b"master" | b"replica" | b"slave" | b"pubsub" => type_ok = false,
                    _ => {
                        return Reply::error(format!(
                            "ERR Unknown client type '{}'",
                            String::from_utf8_lossy(&filters[1])
                        ))
                    }
                }
            } else if first.eq_ignore_ascii_case(b"id") && filters.len() >= 2 {
                let mut v = Vec::new();
                for id in &filters[1..] {
                    match int_arg(id) {
                        Ok(n) if n > 0 => v.push(n as u64),
                        _ => return Reply::static_error("ERR Invalid client ID"),
                    }
                }
                ids = Some(v);
            } else {
                return errors::SYNTAX;
            }
        }
        let mut out = String::new();
        if type_ok {
            for c in self.state.clients.all() {
                if ids.as_ref().is_none_or(|ids| ids.contains(&c.id())) {
                    out.push_str(&c.describe());
                    out.push('\n');
                }
            }
        }
        Reply::Verbatim("txt", Bytes::from(out))
    }

    /// `CLIENT KILL addr:port` (old form) or filters (new form).
    fn client_kill(&self, args: &[Bytes]) -> Reply {
        let all = self.state.clients.all();
        if args.len() == 1 {
            let addr = String::from_utf8_lossy(&args[0]);
            return match all
                .iter()
                .find(|c| c.info.addr.is_some_and(|a| a.to_string() == addr))
            {
                Some(c) => {
                    c.kill.cancel();
                    Reply::ok()
                }
                None => Reply::static_error("ERR No such client"),
            };
        }
        if args.len() % 2 != 0 {
            return errors::SYNTAX;
        }
        let mut id = None;
        let mut addr = None;
        let mut laddr = None;
        let mut skipme = true;
        let mut type_matches = true;
        for pair in args.chunks(2) {
            let (k, v) = (pair[0].to_ascii_lowercase(), &pair[1]);
            match k.as_slice() {
                b"id" => match int_arg(v) {
                    Ok(n) if n > 0 => id = Some(n as u64),
                    _ => return Reply::static_error("ERR client-id should be greater than 0"),
                },
                b"addr" => addr = Some(String::from_utf8_lossy(v).into_owned()),
                b"laddr" => laddr = Some(String::from_utf8_lossy(v).into_owned()),
                b"skipme" => match v.to_ascii_lowercase().as_slice() {
                    b"yes" => skipme = true,
                    b"no" => skipme = false,
                    _ => return errors::SYNTAX,
                },
                // Every client here is a normal one of the `default` user,
                // so TYPE normal and USER default match all, the other
                // types none; unknown names are errors, as in Redis.
                b"type" => match v.to_ascii_lowercase().as_slice() {
                    b"normal" => {}
                    b"master" | b"slave" | b"replica" | b"pubsub" => type_matches = false,
                    _ => {
                        return Reply::error(format!(
                            "ERR Unknown client type '{}'",
                            String::from_utf8_lossy(v)
                        ))
                    }
                },
                b"user" if v.as_ref() == b"default" => {}
                b"user" => {
                    return Reply::error(format!(
                        "ERR No such user '{}'",
                        String::from_utf8_lossy(v)
                    ))
                }
                _ => return errors::SYNTAX,
            }
        }
        let mut killed = 0;
        for c in all {
            if skipme && c.id() == self.entry.id() {
                continue;
            }
            let matches = type_matches
                && id.is_none_or(|id| id == c.id())
                && addr
                    .as_ref()
                    .is_none_or(|a| c.info.addr.is_some_and(|x| x.to_string() == *a))
                && laddr
                    .as_ref()
                    .is_none_or(|a| c.laddr.is_some_and(|x| x.to_string() == *a));
            if matches {
                c.kill.cancel();
                killed += 1;
            }
        }
        Reply::Integer(killed)
    }
}

/// Client names and library attributes must be printable without spaces.
fn check_name(name: &[u8], what: &str) -> Result<(), Reply> {
    if name.iter().all(|&b| (b'!'..=b'~').contains(&b)) {
        Ok(())
    } else if what == "Client names" {
        Err(Reply::static_error(
            "ERR Client names cannot contain spaces, newlines or special characters.",
        ))
    } else {
        Err(Reply::error(format!(
            "ERR {} cannot contain spaces, newlines or special characters.",
            what.to_ascii_uppercase()
        )))
    }
}

fn client_help() -> Reply {
    let lines = [
        "CLIENT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "GETNAME",
        "    Return the name of the current connection.",
        "ID",
        "    Return the ID of the current connection.",
        "INFO",
        "    Return information about the current client connection.",
        "KILL <ip:port>",
        "    Kill connection made from <ip:port>.",
        "KILL <option> <value> [<option> <value> [...]]",
        "    Kill connections. Options are: ID, ADDR, LADDR, SKIPME.",
        "LIST [options ...]",
        "    Return information about client connections. Options: TYPE, ID.",
        "SETNAME <name>",
        "    Assign the name <name> to the current connection.",
        "SETINFO <option> <value>",
        "    Set client meta attr. Options are: LIB-NAME, LIB-VER.",
        "HELP",
        "    Print this help.",
    ];
    Reply::Array(lines.iter().map(|l| Reply::status(l)).collect())
}
