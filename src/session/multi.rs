//! MULTI, DISCARD, EXEC, WATCH and the queue between them.
//!
//! The queue is session state; running it is the store's (EXEC goes
//! through the stack with the queue in `Request::transaction`, and WATCH
//! and UNWATCH with their keys, since each store keeps watches its own
//! way). Commands that reach the store are split: the session builds the
//! request, the connection sends it, and the session takes in the reply.

use std::sync::atomic::Ordering;

use redynamo_layers::command::{CommandId, CommandSpec, InMulti};
use redynamo_layers::{Command, Reply, Request};

use super::Session;
use crate::commands::int_arg;

/// What MULTI has queued.
pub struct Multi {
    queued: Vec<Command>,
    /// A command failed to queue: EXEC answers EXECABORT.
    dirty: bool,
}

/// How an EXEC starts.
pub enum ExecStart {
    /// Answered at once (no MULTI).
    Reply(Reply),
    /// A command failed to queue: the watches go (the connection sends
    /// [`Session::unwatch`]'s request), then this EXECABORT is the reply.
    Abort(Reply),
    /// Send this request (the queue in `transaction`) through the stack,
    /// then give its reply to [`Session::exec_done`] with the queue.
    Run(Request, Vec<Command>),
}

impl Session {
    /// `MULTI`.
    pub fn multi(&mut self) -> Reply {
        if self.multi.is_some() {
            return Reply::static_error("ERR MULTI calls can not be nested");
        }
        self.multi = Some(Multi {
            queued: Vec::new(),
            dirty: false,
        });
        self.entry.in_multi.store(true, Ordering::Relaxed);
        self.entry.multi.store(0, Ordering::Relaxed);
        Reply::ok()
    }

    /// Leave MULTI, dropping its queue; whether it was on.
    pub fn end_multi(&mut self) -> bool {
        self.take_multi().is_some()
    }

    fn take_multi(&mut self) -> Option<Multi> {
        self.entry.in_multi.store(false, Ordering::Relaxed);
        self.multi.take()
    }

    /// `DISCARD`: Ok when MULTI was on (the connection then sends
    /// [`Session::unwatch`]'s request and answers OK).
    pub fn discard(&mut self) -> Result<(), Reply> {
        if self.end_multi() {
            Ok(())
        } else {
            Err(Reply::static_error("ERR DISCARD without MULTI"))
        }
    }

    /// A command refused inside MULTI makes the EXEC that follows abort.
    /// The specs of the commands queued for EXEC (none outside MULTI).
    pub fn queued_specs(&self) -> impl Iterator<Item = &'static CommandSpec> + '_ {
        self.multi
            .iter()
            .flat_map(|m| m.queued.iter().map(|c| c.spec))
    }

    pub fn flag_multi(&mut self) {
        if let Some(multi) = &mut self.multi {
            multi.dirty = true;
        }
    }

    /// Queue `cmd` inside MULTI.
    pub fn queue(&mut self, cmd: Command) -> Reply {
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

    /// `EXEC`, first half: see [`ExecStart`].
    pub fn exec(&mut self, exec: Command) -> ExecStart {
        let Some(multi) = self.take_multi() else {
            return ExecStart::Reply(Reply::static_error("ERR EXEC without MULTI"));
        };
        if multi.dirty {
            return ExecStart::Abort(Reply::static_error(
                "EXECABORT Transaction discarded because of previous errors.",
            ));
        }
        let mut req = self.request(exec);
        req.transaction = multi.queued.clone();
        ExecStart::Run(req, multi.queued)
    }

    /// `EXEC`, second half: the store's reply to the queue.
    pub fn exec_done(&mut self, queued: &[Command], reply: &Reply) {
        // The store forgot this client's watches when it ran EXEC.
        self.watching = false;
        self.entry.info.watch_dirty.store(false, Ordering::Release);
        // A SELECT inside the transaction changes the session's db. A
        // proxied EXEC's reply comes as the upstream's bytes: read them.
        let parsed;
        let reply = match reply {
            Reply::Encoded { frame, .. }
                if queued.iter().any(|c| c.spec.id == CommandId::Select) =>
            {
                parsed = crate::protocol::decode_reply(&mut bytes::BytesMut::from(&frame[..]))
                    .ok()
                    .flatten()
                    .unwrap_or(Reply::Null);
                &parsed
            }
            other => other,
        };
        if let Reply::Array(replies) = reply {
            for (cmd, r) in queued.iter().zip(replies) {
                if cmd.spec.id == CommandId::Select && *r == Reply::ok() {
                    if let Ok(n) = int_arg(&cmd.args[1]) {
                        self.set_db(n as u32);
                    }
                }
            }
        }
    }

    /// `WATCH key …`, first half: the request for the store, or the
    /// error inside MULTI.
    pub fn watch(&self, cmd: Command) -> Result<Request, Reply> {
        if self.multi.is_some() {
            return Err(Reply::static_error("ERR WATCH inside MULTI is not allowed"));
        }
        Ok(self.request(cmd))
    }

    /// `WATCH`, second half: the store's reply.
    pub fn watched(&mut self, reply: &Reply) {
        self.watching |= reply.is_ok();
    }
}

/// The reply of a refused EXEC (the connection has ended MULTI and WATCH).
/// Redis' own texts drop the `ERR` code but keep any other (`NOAUTH`).
pub fn exec_abort(refusal: &Reply) -> Reply {
    let text = match refusal {
        Reply::Error(text) => String::from_utf8_lossy(text).into_owned(),
        other => format!("{other:?}"),
    };
    let text = text.strip_prefix("ERR ").unwrap_or(&text);
    Reply::error(format!(
        "EXECABORT Transaction discarded because of: {text}"
    ))
}
