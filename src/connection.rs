//! One task per client: read, decode, run, reply.
//!
//! The connection reads, decodes, pipelines and writes. It holds a
//! [`Session`] (the selected db, authentication, the RESP version, the
//! MULTI queue, WATCH), and hands session commands (`Routing::session` in
//! the command table, dispatched on its `CommandId`) to the session's
//! modules ([`crate::session`]); everything else becomes a [`Request`]
//! for the stack. What MULTI does with a command is the table's
//! `Routing::in_multi`.
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
//! Timing: the metrics layer times the client's commands through the
//! client's `RunTimer` (`ClientInfo::timing`; the contract is in
//! `redynamo_layers::metrics::timing`). Commands may chain (start where
//! the previous one ended, one clock reading each, or fewer in runs) only
//! while [`Connection::serve`] holds the timer's `follow_on` guard around
//! running what was read; [`Connection::flush`], through which every reply
//! goes out, and [`Connection::read_more`], through which every read goes,
//! end the run, as do decoding ahead and session commands (the
//! connection's own work).
//!
//! Pushes: a client that subscribed (or tracks keys) has a mailbox
//! ([`crate::server::pubsub::Mailbox`]) that publishers on any thread fill.
//! Its frames are written after each reply (so a message a command
//! publishes to its own client follows that command's reply, as in Redis
//! 7.2) and, while the client is idle, as soon as the mailbox wakes the
//! read loop. A write to a client that stopped reading is raced against
//! CLIENT KILL, so a subscriber closed for its output buffer limit goes
//! even while its socket is full.
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
//!
//! This file is longer than most (~1,000 lines) on purpose: the read loop,
//! the decoding ahead, the batches of concurrent reads and the calls into
//! the stack are one state machine over the same buffers (pushes from the
//! mailbox are written through the same buffer and flushes); the session
//! commands, which need none of that, live in [`crate::session`], and the
//! Pub/Sub and tracking state in `session::pubsub`, `session::tracking`
//! and `server::{pubsub, tracking}`.

use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use futures::StreamExt;
use redynamo_layers::command::{self, CommandId, CommandSpec, Flags, InMulti};
use redynamo_layers::error::error_reply;
use redynamo_layers::metrics::Outcome;
use redynamo_layers::reply::errors;
use redynamo_layers::{auth, Command, Reply, Request};
use std::future::Future;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_util::codec::Decoder;
use tokio_util::sync::WaitForCancellationFutureOwned;
use tracing::debug;

use crate::protocol::{Limits, ProtocolError, RespCodec};
use crate::server::clients::ClientEntry;
use crate::server::monitor::Origin;
use crate::server::pause;
use crate::server::state::{ServerState, ServerStats};
use crate::session::hello_auth::{Auth, Hello, Select};
use crate::session::pubsub::{self as pubsub_session, Gate};
use crate::session::shutdown::{Shutdown, ShutdownOutcome};
use crate::session::{self, ExecStart, Session};
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

/// TLS: readiness of the socket says nothing about decrypted bytes rustls
/// may already hold, so an idle TLS connection waits inside a read, with
/// its read buffer (the default).
impl Transport for tokio_rustls::server::TlsStream<TcpStream> {}

/// Why the loop ended.
enum Close {
    /// The client asked (QUIT) or went away.
    Client,
    /// A protocol error was answered; close after flushing.
    Protocol,
    /// MONITOR was answered: the connection only receives monitor lines
    /// from now on ([`crate::server::monitor`]).
    Monitor,
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
    /// The client's session state; session commands apply to it.
    session: Session,
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
        let session = Session::new(state.clone(), entry.clone());
        codec.set_authenticated(session.decode_authenticated());
        Connection {
            io,
            codec,
            // Allocated when the client first sends (see `read_more`).
            read_buf: BytesMut::new(),
            write_buf: BytesMut::new(),
            stack,
            state,
            entry,
            session,
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
        self.unwatch().await;
    }

    async fn serve(&mut self) -> std::io::Result<()> {
        // Made once, not per read: a cancellation future registers with its
        // token (a lock) when first polled and deregisters when dropped, a
        // cost one command per round trip would pay twice per token.
        let killed = self.entry.kill.clone().cancelled_owned();
        let stopping = self.state.shutdown.clone().cancelled_owned();
        tokio::pin!(killed, stopping);
        // The client's commands are timed by the metrics layer through
        // this handle (`RunTimer`): they may follow straight on from each
        // other only while `drain_buffered` runs what was read, and every
        // flush and read ends the run (see `flush` and `read_more`).
        let info = self.entry.info.clone();
        // Whose mailbox may be made by another client meanwhile.
        let entry = self.entry.clone();
        loop {
            // Run everything already buffered, then flush once.
            let drained = {
                let _follow = info.timing.follow_on();
                self.drain_buffered().await?
            };
            match drained {
                Some(Close::Client) => {
                    self.flush().await?;
                    return Ok(());
                }
                Some(Close::Protocol) => {
                    self.flush().await?;
                    return Ok(());
                }
                Some(Close::Monitor) => {
                    self.flush().await?;
                    return self.monitor(killed.as_mut(), stopping.as_mut()).await;
                }
                None => {}
            }
            // A subscriber that stopped reading may be closed for its
            // output buffer meanwhile (its mailbox cancels `killed`).
            // Biased: a client that killed itself still gets its reply
            // when the socket takes it.
            tokio::select! {
                biased;
                flushed = self.flush() => flushed?,
                _ = &mut killed => return Ok(()),
            }
            self.refresh_limits();
            // Pushes that came while the client was served go out before
            // any wait; a mailbox with more is emptied a flush at a time.
            let mailbox = self.session.mailbox().cloned();
            if mailbox.as_ref().is_some_and(|m| m.has_pending()) {
                self.deliver_pushes();
                continue;
            }
            let pushed = async {
                match &mailbox {
                    Some(m) => m.notified().await,
                    // Made while we wait: go round and wait on it.
                    None => entry.mailbox_made.notified().await,
                }
            };

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
                _ = pushed => self.deliver_pushes(),
                _ = &mut killed => return Ok(()),
                _ = &mut stopping => return Ok(()),
                _ = idle => return Ok(()),
            }
        }
    }

    /// Move what the client's mailbox holds into the output, at most
    /// [`FLUSH_AT`] bytes at a time.
    fn deliver_pushes(&mut self) {
        if let Some(m) = self.session.mailbox() {
            m.take_into(&mut self.write_buf, FLUSH_AT);
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
        // A read may wait: the next command does not follow on from the
        // last one.
        self.entry.info.timing.end_run();
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
        // be seen (and the next command will follow a write, not them).
        // Every reply goes out through here.
        self.entry.info.timing.end_run();
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

    /// Write a reply, then any pushes waiting in the client's mailbox (a
    /// message a command published to its own client follows its reply).
    fn reply(&mut self, reply: &Reply) {
        self.codec.encode_reply(reply, &mut self.write_buf);
        self.deliver_pushes();
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
        self.entry.info.timing.end_run();
        let depth = if self.session.authenticated() {
            LOOKAHEAD
        } else {
            1
        };
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
        warm(self.session.db(), &keys);
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
        !self.session.in_multi()
            && self.session.authenticated()
            && !self.state.pause.is_active()
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
            self.feed_monitors(spec, &args);
            self.session.track_read(spec, &args);
            let req = self.session.request(Command { spec, args });
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
        if !auth::permits(
            self.state.credentials.required(),
            self.session.authenticated(),
            spec,
        ) {
            self.refuse(Some(spec), errors::NOAUTH).await;
            return None;
        }
        // A script past busy-reply-threshold holds the store: everything
        // but the few `allow_busy` commands (SCRIPT KILL, SHUTDOWN …)
        // answers -BUSY, as in Redis' processCommand.
        if let Some(busy) = self.state.scripts.busy_reply() {
            if !spec.flags.contains(Flags::ALLOW_BUSY) {
                self.refuse(Some(spec), busy).await;
                return None;
            }
        }
        // RESP2 subscribed mode, checked where Redis' processCommand does.
        match self.session.pubsub_gate(spec, &args) {
            None => {}
            Some(Gate::Refuse(reply)) => {
                self.refuse(Some(spec), reply).await;
                return None;
            }
            Some(Gate::Answer(reply)) => {
                self.feed_monitors(spec, &args);
                self.state
                    .command_stats
                    .record(Some(spec), Outcome::Ok, Duration::ZERO, None);
                self.reply(&reply);
                return None;
            }
        }
        self.feed_monitors(spec, &args);
        // CLIENT PAUSE holds the command here, before MULTI queues it, as
        // in Redis' processCommand.
        if self.state.pause.is_active() {
            // An EXEC writes when a command it runs does.
            let exec = spec.id == CommandId::Exec;
            let queued = exec.then(|| self.session.queued_specs());
            let write = pause::is_write(spec, queued.into_iter().flatten());
            if self.state.pause.holds(write) {
                if let Some(close) = self.wait_for_pause(write).await {
                    return Some(close);
                }
            }
        }
        // ACL: the stack's auth layer checks what goes through the stack;
        // what the connection runs itself, and what MULTI queues, is
        // checked here (EXEC and WATCH go through the stack).
        let queues = self.session.in_multi() && spec.routing.in_multi != InMulti::Run;
        let own = spec.is_connection() && !matches!(spec.id, CommandId::Exec | CommandId::Watch);
        if queues || own {
            if let Err(reply) = self.session.acl_check(spec, &args) {
                self.refuse(Some(spec), reply).await;
                return None;
            }
        }
        let cmd = Command { spec, args };
        if self.session.in_multi() && spec.routing.in_multi != InMulti::Run {
            let reply = self.session.queue(cmd);
            self.reply(&reply);
            return None;
        }
        if spec.is_connection() {
            let start = Instant::now();
            let written = self.write_buf.len();
            let close = self.session_command(cmd).await;
            // The next command does not follow on from a stack command.
            self.entry.info.timing.end_run();
            // EXEC and WATCH went through the stack, whose metrics layer
            // counted them already.
            if !matches!(spec.id, CommandId::Exec | CommandId::Watch) {
                let failed = self.write_buf.get(written) == Some(&b'-');
                let outcome = if failed { Outcome::Error } else { Outcome::Ok };
                self.state
                    .command_stats
                    .record(Some(spec), outcome, start.elapsed(), None);
            }
            return close;
        }
        self.session.track_read(spec, &cmd.args);
        if spec.routing.blocking {
            return self.call_blocking(self.session.request(cmd)).await;
        }
        let reply = self.call_stack(self.session.request(cmd)).await;
        self.reply(&reply);
        None
    }

    /// Send a blocking command (BLPOP …) through the stack. One that
    /// waits may wait for ever, so, unlike any other command, it is
    /// raced against the client going away (the socket's end: its input
    /// is read meanwhile, kept for after the reply, as Redis keeps a
    /// blocked client's query buffer), CLIENT KILL and shutdown. Any of
    /// those drops the command's future, which takes the client off the
    /// keys it waits on, and closes the connection.
    async fn call_blocking(&mut self, req: Request) -> Option<Close> {
        let future = match self.start(req).await {
            Call::Done(result) => {
                self.reply(&result.unwrap_or_else(|e| error_reply(&e)));
                return None;
            }
            Call::Pending(future) => future,
        };
        match self.wait_or_leave(future).await {
            Ok(result) => {
                self.reply(&result.unwrap_or_else(|e| error_reply(&e)));
                None
            }
            Err(close) => Some(close),
        }
    }

    /// Wait while CLIENT PAUSE holds this client's next command (`write`:
    /// it writes), as a blocked command waits; Some when the client went
    /// meanwhile.
    async fn wait_for_pause(&mut self, write: bool) -> Option<Close> {
        let state = self.state.clone();
        let paused = Box::pin(state.pause.wait(write));
        self.wait_or_leave(paused).await.err()
    }

    /// Wait for `future`, or for the client to go: the socket's end (its
    /// input is read meanwhile, kept for after, as Redis keeps a blocked
    /// client's query buffer), CLIENT KILL or shutdown. Replies before the
    /// wait are flushed first.
    async fn wait_or_leave<F: Future + Unpin>(
        &mut self,
        mut future: F,
    ) -> Result<F::Output, Close> {
        self.waited = true;
        self.flush_before_wait().await;
        let killed = self.entry.kill.clone();
        let stopping = self.state.shutdown.clone();
        loop {
            tokio::select! {
                out = &mut future => return Ok(out),
                _ = killed.cancelled() => return Err(Close::Client),
                _ = stopping.cancelled() => return Err(Close::Client),
                read = self.read_more() => match read {
                    Ok(0) | Err(_) => return Err(Close::Client),
                    Ok(n) => {
                        ServerStats::add(&self.state.stats.net_input_bytes, n as u64);
                        self.entry.mark_active();
                        if self.read_buf.len() > self.codec.limits_mut().query_buffer_limit {
                            tracing::warn!(
                                client = self.entry.id(),
                                "closing blocked client that reached max query buffer length"
                            );
                            return Err(Close::Client);
                        }
                    }
                },
            }
        }
    }

    /// Answer an error for a command refused before it ran, and count it.
    /// A refused EXEC (wrong arity, not authenticated) discards the
    /// transaction, as Redis' execCommandAbort does; anything else refused
    /// inside MULTI makes the EXEC that follows abort.
    async fn refuse(&mut self, spec: Option<&'static CommandSpec>, reply: Reply) {
        self.state
            .command_stats
            .record(spec, Outcome::Rejected, Duration::ZERO, Some(&reply));
        let reply = if spec.is_some_and(|s| s.id == CommandId::Exec) {
            self.session.end_multi();
            self.unwatch().await;
            session::multi::exec_abort(&reply)
        } else {
            self.session.flag_multi();
            reply
        };
        self.reply(&reply);
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

    /// Run a session command (`Routing::session`): parsed and applied by
    /// the session's modules; EXEC, WATCH and UNWATCH also go through the
    /// stack, sent from here so that waiting and flushing stay the
    /// connection's.
    async fn session_command(&mut self, cmd: Command) -> Option<Close> {
        use CommandId as Id;
        let a = &cmd.args[..];
        let reply = match cmd.spec.id {
            Id::Quit => {
                self.reply(&Reply::ok());
                return Some(Close::Client);
            }
            Id::Monitor => {
                self.reply(&Reply::ok());
                return Some(Close::Monitor);
            }
            Id::Select => match Select::parse(a) {
                Ok(select) => select.apply(&mut self.session),
                Err(e) => e,
            },
            Id::Auth => match Auth::parse(a) {
                Ok(auth) => auth.apply(&mut self.session, &a[0]),
                Err(e) => e,
            },
            Id::Hello => match Hello::parse(a) {
                Ok(hello) => hello.apply(&mut self.session, &a[0]),
                Err(e) => e,
            },
            Id::Reset => {
                self.session.end_multi();
                self.unwatch().await;
                self.session.reset()
            }
            Id::Multi => self.session.multi(),
            Id::Discard => match self.session.discard() {
                Ok(()) => {
                    self.unwatch().await;
                    Reply::ok()
                }
                Err(e) => e,
            },
            Id::Exec => match self.session.exec(cmd.clone()) {
                ExecStart::Reply(reply) => reply,
                ExecStart::Abort(reply) => {
                    self.unwatch().await;
                    reply
                }
                ExecStart::Run(req, queued) => {
                    // The transaction's reads are tracked like any other.
                    for queued_cmd in &req.transaction {
                        self.session.track_read(queued_cmd.spec, &queued_cmd.args);
                    }
                    let reply = self.call_stack(req).await;
                    self.session.exec_done(&queued, &reply);
                    reply
                }
            },
            Id::Watch => match self.session.watch(cmd.clone()) {
                Ok(req) => {
                    let reply = self.call_stack(req).await;
                    self.session.watched(&reply);
                    reply
                }
                Err(e) => e,
            },
            Id::Unwatch => {
                self.unwatch().await;
                Reply::ok()
            }
            Id::Subscribe
            | Id::Unsubscribe
            | Id::Psubscribe
            | Id::Punsubscribe
            | Id::Ssubscribe
            | Id::Sunsubscribe => {
                let (kind, on) = pubsub_session::family(cmd.spec.id)?;
                let frames = if on {
                    self.session.subscribe(kind, &a[1..])
                } else {
                    self.session.unsubscribe(kind, &a[1..])
                };
                // Every frame before any message, as Redis answers the
                // whole command before a publisher can run.
                for frame in &frames {
                    self.codec.encode_reply(frame, &mut self.write_buf);
                }
                self.deliver_pushes();
                return None;
            }
            Id::Client
            | Id::ClientGetname
            | Id::ClientHelp
            | Id::ClientId
            | Id::ClientInfo
            | Id::ClientKill
            | Id::ClientList
            | Id::ClientNoEvict
            | Id::ClientNoTouch
            | Id::ClientPause
            | Id::ClientUnpause
            | Id::ClientSetinfo
            | Id::ClientSetname
            | Id::ClientUnblock => session::client::client(&self.session, &cmd),
            Id::ClientTracking
            | Id::ClientCaching
            | Id::ClientGetredir
            | Id::ClientTrackinginfo => self.session.tracking_command(cmd.spec, a),
            // No reply when the shutdown starts: the connection closes, as
            // Redis' does when the server exits.
            Id::Shutdown => match Shutdown::parse(a).map(|s| s.apply(&self.state)) {
                Ok(ShutdownOutcome::Close) => return Some(Close::Client),
                Ok(ShutdownOutcome::Reply(reply)) | Err(reply) => reply,
            },
            _ => Reply::error(format!(
                "ERR unknown command '{}'",
                String::from_utf8_lossy(&a[0])
            )),
        };
        // AUTH, HELLO and RESET change how the codec decodes and encodes,
        // from this reply on.
        self.codec.set_version(self.session.version());
        self.codec
            .set_authenticated(self.session.decode_authenticated());
        self.reply(&reply);
        None
    }

    /// Show the command to MONITOR clients, if any (one atomic load
    /// otherwise).
    #[inline]
    fn feed_monitors(&self, spec: &CommandSpec, args: &[Bytes]) {
        if self.state.monitors.active() {
            let origin = Origin {
                db: self.session.db(),
                addr: self.entry.info.addr,
            };
            self.state.monitors.feed(&origin, spec, args);
        }
    }

    /// After MONITOR: write the monitor lines as they come, until the
    /// client goes away, is killed, falls too far behind, or the server
    /// stops. What the client sends meanwhile is read and dropped.
    async fn monitor(
        &mut self,
        mut killed: Pin<&mut WaitForCancellationFutureOwned>,
        mut stopping: Pin<&mut WaitForCancellationFutureOwned>,
    ) -> std::io::Result<()> {
        let mut sub = self.state.monitors.subscribe();
        let dropped = sub.dropped.clone();
        loop {
            tokio::select! {
                line = sub.lines.recv() => {
                    let Some(line) = line else { return Ok(()) };
                    let mut n = line.len();
                    self.write_buf.extend_from_slice(&line);
                    while self.write_buf.len() < READ_CHUNK {
                        let Ok(more) = sub.lines.try_recv() else { break };
                        n += more.len();
                        self.write_buf.extend_from_slice(&more);
                    }
                    // A client that does not read must not hold the task:
                    // the write races the same ends as the wait.
                    tokio::select! {
                        written = self.flush() => written?,
                        _ = dropped.cancelled() => return Ok(()),
                        _ = killed.as_mut() => return Ok(()),
                        _ = stopping.as_mut() => return Ok(()),
                    }
                    sub.written(n);
                }
                read = self.read_more() => {
                    if read? == 0 {
                        return Ok(());
                    }
                    self.read_buf.clear();
                }
                _ = dropped.cancelled() => return Ok(()),
                _ = killed.as_mut() => return Ok(()),
                _ = stopping.as_mut() => return Ok(()),
            }
        }
    }

    /// Send the UNWATCH that forgets this session's watches, if it holds
    /// any.
    async fn unwatch(&mut self) {
        if let Some(req) = self.session.unwatch() {
            self.entry.info.timing.end_run();
            let _ = self.call_stack(req).await;
        }
    }
}
