//! Commands about the server itself: PING, ECHO, TIME, LASTSAVE, INFO,
//! CONFIG, COMMAND, SLOWLOG, ACL ([`acl`]), PUBLISH and PUBSUB ([`pubsub`]), and the operators' WAIT, WAITAOF, LATENCY,
//! MEMORY STATS/DOCTOR and DEBUG ([`ops`]).
//!
//! [`Admin`] sits innermost, right above the leaf store, and answers these
//! from the [`ServerState`]; everything else goes to the store. Inside EXEC
//! it answers its own commands and sends the rest to the store as one
//! transaction, then puts the replies back in order — so a store never needs
//! to know about server state, and MULTI … PING … EXEC works on every
//! backend.

pub(crate) mod acl;
mod command;
mod config;
mod info;
pub(crate) mod ops;
mod pubsub;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures::future::{ready, Either, Ready};
use redynamo_layers::{BoxError, Command, Reply, Request};
use tower::{Layer, Service, ServiceExt};

use crate::server::state::ServerState;
use crate::util::now_us;

pub use info::{render_info, rss_bytes, REDIS_VERSION as REDIS_VERSION_FOR_HELLO};

#[derive(Clone)]
pub struct AdminLayer {
    state: Arc<ServerState>,
}

impl AdminLayer {
    pub fn new(state: Arc<ServerState>) -> AdminLayer {
        AdminLayer { state }
    }
}

impl<S> Layer<S> for AdminLayer {
    type Service = Admin<S>;

    fn layer(&self, inner: S) -> Admin<S> {
        Admin {
            inner,
            state: self.state.clone(),
        }
    }
}

#[derive(Clone)]
pub struct Admin<S> {
    inner: S,
    state: Arc<ServerState>,
}

type BoxFuture = Pin<Box<dyn Future<Output = Result<Reply, BoxError>> + Send>>;

impl<S> Service<Request> for Admin<S>
where
    S: Service<Request, Response = Reply, Error = BoxError> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Reply;
    type Error = BoxError;
    type Future = Either<Ready<Result<Reply, BoxError>>, Either<S::Future, BoxFuture>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request) -> Self::Future {
        if let Some(key) = ops::debug_object_key(&self.state, &req.command, is_local(&req)) {
            let clone = self.inner.clone();
            // Use the service that was made ready for this call.
            let inner = std::mem::replace(&mut self.inner, clone);
            return Either::Right(Either::Right(Box::pin(ops::debug_object(inner, req, key))));
        }
        if ops::handles(&req.command) {
            return match ops::answer(&self.state, &req.command, is_local(&req)) {
                ops::Answer::Now(reply) => Either::Left(ready(Ok(reply))),
                ops::Answer::After(wait, reply) => {
                    Either::Right(Either::Right(Box::pin(async move {
                        match wait {
                            Some(wait) => tokio::time::sleep(wait).await,
                            None => std::future::pending().await,
                        }
                        Ok(reply)
                    })))
                }
            };
        }
        if let Some(reply) = answer(&self.state, &req.command, is_local(&req), req.user.as_ref()) {
            return Either::Left(ready(Ok(reply)));
        }
        if req.command.spec.name == "exec" && req.transaction.iter().any(is_admin) {
            let clone = self.inner.clone();
            // Use the service that was made ready for this call.
            let inner = std::mem::replace(&mut self.inner, clone);
            return Either::Right(Either::Right(Box::pin(exec_mixed(
                self.state.clone(),
                inner,
                req,
            ))));
        }
        Either::Right(Either::Left(self.inner.call(req)))
    }
}

/// The client connected from a loopback address (or not over TCP): what
/// Redis calls a local connection (DEBUG with `enable-debug-command local`).
fn is_local(req: &Request) -> bool {
    req.client.addr.is_none_or(|a| a.ip().is_loopback())
}

fn is_admin(cmd: &Command) -> bool {
    // Runs for every command: compare the group first (two bytes differ
    // for most data commands), then the names.
    let name = cmd.spec.name;
    match cmd.spec.group {
        "generic" => matches!(name, "wait" | "waitaof"),
        "connection" => matches!(name, "ping" | "echo"),
        "pubsub" => pubsub::handles(name),
        "server" => {
            matches!(name, "time" | "lastsave" | "info" | "command")
                || name.starts_with("config|")
                || name.starts_with("acl|")
                || name.starts_with("command|")
                || name.starts_with("slowlog|")
                || name.starts_with("latency|")
                || matches!(name, "memory|stats" | "memory|doctor" | "debug")
        }
        _ => false,
    }
}

/// The reply to an admin command, or None when `cmd` is for the store.
/// Inside EXEC, an operator's command that would wait (WAIT …) answers
/// at once, as Redis' do for a client that may not block.
fn answer(
    state: &ServerState,
    cmd: &Command,
    local: bool,
    user: Option<&Arc<redynamo_layers::acl::User>>,
) -> Option<Reply> {
    if !is_admin(cmd) {
        return None;
    }
    if ops::handles(cmd) {
        return Some(match ops::answer(state, cmd, local) {
            ops::Answer::Now(reply) | ops::Answer::After(_, reply) => reply,
        });
    }
    let a = &cmd.args;
    Some(match cmd.spec.name {
        // PING's arity is -1 but it takes at most one message, as in Redis.
        "ping" => match a.as_slice() {
            [_] => Reply::status("PONG"),
            [_, msg] => Reply::Bulk(msg.clone()),
            _ => redynamo_layers::command::wrong_arity("ping"),
        },
        "echo" => Reply::Bulk(a[1].clone()),
        "time" => {
            let us = now_us();
            let mut buf = itoa::Buffer::new();
            let secs = Reply::bulk(buf.format((us / 1_000_000) as u64));
            let micros = Reply::bulk(buf.format((us % 1_000_000) as u64));
            Reply::Array(vec![secs, micros])
        }
        "lastsave" => Reply::Integer(state.started_unix_secs as i64),
        "info" => Reply::Verbatim("txt", Bytes::from(render_info(state, &a[1..]))),
        name if name.starts_with("config|") => config::execute(state, cmd),
        name if name.starts_with("acl|") => acl::execute(state, user, cmd),
        name if pubsub::handles(name) => pubsub::execute(state, cmd),
        name if name.starts_with("slowlog|") => slowlog(state, cmd),
        name if name.starts_with("command") => command::execute(cmd),
        _ => return None,
    })
}

/// EXEC with admin commands in it: the store runs its part atomically; the
/// admin replies are spliced in at their positions.
async fn exec_mixed<S>(
    state: Arc<ServerState>,
    inner: S,
    mut req: Request,
) -> Result<Reply, BoxError>
where
    S: Service<Request, Response = Reply, Error = BoxError>,
{
    let queued = std::mem::take(&mut req.transaction);
    let local = is_local(&req);
    let user = req.user.clone();
    let (admin, store): (Vec<_>, Vec<_>) =
        queued.iter().enumerate().partition(|(_, c)| is_admin(c));
    req.transaction = store.iter().map(|(_, c)| (*c).clone()).collect();
    let store_reply = crate::protocol::tree(inner.oneshot(req).await?);
    let mut store_replies = match store_reply {
        Reply::Array(items) => items.into_iter(),
        // Aborted by WATCH (or an error): that is the whole answer.
        other => return Ok(other),
    };
    let mut admin_replies = admin
        .iter()
        .map(|(_, c)| answer(&state, c, local, user.as_ref()).unwrap_or(Reply::Null));
    let replies = queued
        .iter()
        .map(|c| {
            let next = if is_admin(c) {
                admin_replies.next()
            } else {
                store_replies.next()
            };
            next.unwrap_or(Reply::Null)
        })
        .collect();
    Ok(Reply::Array(replies))
}

/// `SLOWLOG GET [count] | LEN | RESET | HELP`.
fn slowlog(state: &ServerState, cmd: &Command) -> Reply {
    let log = &state.slowlog;
    match cmd.spec.name {
        "slowlog|len" => Reply::Integer(log.len() as i64),
        "slowlog|reset" => {
            log.reset();
            Reply::ok()
        }
        "slowlog|get" => {
            let count = match cmd.args.get(2) {
                None => 10,
                Some(arg) => match crate::util::num::parse_i64(arg) {
                    Some(-1) => usize::MAX,
                    Some(n) if n >= 0 => n as usize,
                    _ => {
                        return Reply::static_error(
                            "ERR count should be greater than or equal to -1",
                        )
                    }
                },
            };
            Reply::Array(
                log.get(count)
                    .into_iter()
                    .map(|e| {
                        Reply::Array(vec![
                            Reply::Integer(e.id as i64),
                            Reply::Integer(e.unix_secs as i64),
                            Reply::Integer(e.micros as i64),
                            Reply::Array(e.args.into_iter().map(Reply::Bulk).collect()),
                            Reply::Bulk(Bytes::from(
                                e.addr.map(|a| a.to_string()).unwrap_or_default(),
                            )),
                            Reply::Bulk(e.name.unwrap_or_default()),
                        ])
                    })
                    .collect(),
            )
        }
        _ => Reply::Array(
            [
                "SLOWLOG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
                "GET [<count>]",
                "    Return top <count> entries from the slowlog (default: 10, -1 mean all).",
                "    Entries are made of:",
                "    id, timestamp, time in microseconds, arguments array, client IP and port,",
                "    client name",
                "LEN",
                "    Return the length of the slowlog.",
                "RESET",
                "    Reset the slowlog.",
                "HELP",
                "    Print this help.",
            ]
            .iter()
            .map(|l| Reply::status(l))
            .collect(),
        ),
    }
}
