//! SUBSCRIBE, UNSUBSCRIBE, PSUBSCRIBE, PUNSUBSCRIBE, SSUBSCRIBE and
//! SUNSUBSCRIBE: one client's subscriptions, and the RESP2 subscribed-mode
//! rules.
//!
//! A client's subscriptions are held here ([`Subscriptions`]) and mirrored
//! in the server's registry ([`crate::server::pubsub::PubSub`]), which
//! queues messages in the client's [`Mailbox`]; dropping the
//! subscriptions (the connection ends) takes the client out of the
//! registry. Replies follow Redis 7.2's `pubsub.c`: one
//! `subscribe|unsubscribe|…, name, count` frame per name (a push in RESP3),
//! the count being the client's channels plus patterns (shard channels
//! count apart), and a null name when a bare UNSUBSCRIBE finds nothing.
//!
//! Subscribed mode (Redis' `CLIENT_PUBSUB`): from the first subscription
//! until none is left. A RESP2 client in it may only run the subscribe
//! family, PING (answered `pong`, message), QUIT and RESET
//! ([`Session::pubsub_gate`]); RESP3 clients may run anything.
//!
//! Inside MULTI the subscribe family is refused (the table's default for
//! session commands); Redis 7.2 queues it, and its multi-frame replies
//! break the EXEC array (redis/redis#12207), so no client relies on it.

use std::collections::HashSet;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use bytes::Bytes;
use redynamo_layers::command::{CommandId, CommandSpec};
use redynamo_layers::Reply;

use super::Session;
use crate::protocol::ProtocolVersion;
use crate::server::pubsub::{Kind, Mailbox, PubSub};

/// One client's subscriptions; leaves the registry when dropped.
pub struct Subscriptions {
    registry: Arc<PubSub>,
    mailbox: Arc<Mailbox>,
    channels: HashSet<Bytes>,
    patterns: HashSet<Bytes>,
    shard: HashSet<Bytes>,
}

impl Subscriptions {
    fn set(&mut self, kind: Kind) -> &mut HashSet<Bytes> {
        match kind {
            Kind::Channel => &mut self.channels,
            Kind::Pattern => &mut self.patterns,
            Kind::Shard => &mut self.shard,
        }
    }

    /// The count Redis reports after a change of `kind`.
    fn count(&self, kind: Kind) -> i64 {
        match kind {
            Kind::Shard => self.shard.len() as i64,
            _ => (self.channels.len() + self.patterns.len()) as i64,
        }
    }

    fn total(&self) -> usize {
        self.channels.len() + self.patterns.len() + self.shard.len()
    }

    /// CLIENT LIST's `sub`, `psub`, `ssub`.
    pub fn counts(&self) -> (usize, usize, usize) {
        (self.channels.len(), self.patterns.len(), self.shard.len())
    }

    fn leave_all(&mut self) {
        let id = self.mailbox.id();
        for kind in [Kind::Channel, Kind::Pattern, Kind::Shard] {
            let names = std::mem::take(self.set(kind));
            self.registry.unsubscribe_all(kind, &names, id);
        }
    }
}

impl Drop for Subscriptions {
    fn drop(&mut self) {
        self.leave_all();
    }
}

/// The message kinds of each family.
fn words(kind: Kind) -> (&'static str, &'static str) {
    match kind {
        Kind::Channel => ("subscribe", "unsubscribe"),
        Kind::Pattern => ("psubscribe", "punsubscribe"),
        Kind::Shard => ("ssubscribe", "sunsubscribe"),
    }
}

fn frame(word: &'static str, name: Option<Bytes>, count: i64) -> Reply {
    Reply::Push(vec![
        Reply::Bulk(Bytes::from_static(word.as_bytes())),
        name.map_or(Reply::Null, Reply::Bulk),
        Reply::Integer(count),
    ])
}

/// What the RESP2 subscribed-mode rules make of a command.
pub enum Gate {
    /// Not allowed in this context: the error to answer.
    Refuse(Reply),
    /// PING, answered `pong`.
    Answer(Reply),
}

impl Session {
    /// The client's push mailbox, if anything made it (subscriptions,
    /// tracking, a client redirecting invalidations here); the connection
    /// writes what it holds.
    pub fn mailbox(&self) -> Option<&Arc<Mailbox>> {
        self.entry.mailbox_if_any()
    }

    /// Keep CLIENT LIST's counts and the Pub/Sub-mode flag in step.
    fn publish_counts(&self) {
        let (c, p, s) = self.pubsub.as_ref().map_or((0, 0, 0), |s| s.counts());
        self.entry.subs[0].store(c as u64, Ordering::Relaxed);
        self.entry.subs[1].store(p as u64, Ordering::Relaxed);
        self.entry.subs[2].store(s as u64, Ordering::Relaxed);
        self.entry
            .pubsub_mode
            .store(c + p + s > 0, Ordering::Relaxed);
    }

    /// Subscribed mode: at least one subscription of any kind.
    pub fn subscribed(&self) -> bool {
        self.pubsub.as_ref().is_some_and(|s| s.total() > 0)
    }

    /// This client's subscriptions, for CLIENT LIST.
    pub fn subscriptions(&self) -> Option<&Subscriptions> {
        self.pubsub.as_ref()
    }

    fn subscriptions_mut(&mut self) -> &mut Subscriptions {
        let registry = self.state.pubsub.clone();
        let entry = self.entry.clone();
        self.pubsub.get_or_insert_with(|| Subscriptions {
            mailbox: entry.mailbox().clone(),
            registry,
            channels: HashSet::new(),
            patterns: HashSet::new(),
            shard: HashSet::new(),
        })
    }

    /// RESP2 subscribed mode lets through only the subscribe family,
    /// PING, QUIT and RESET; None lets the command run as usual.
    pub fn pubsub_gate(&self, spec: &CommandSpec, args: &[Bytes]) -> Option<Gate> {
        if self.version() != ProtocolVersion::Resp2 || !self.subscribed() {
            return None;
        }
        use CommandId as Id;
        match spec.id {
            Id::Subscribe
            | Id::Unsubscribe
            | Id::Psubscribe
            | Id::Punsubscribe
            | Id::Ssubscribe
            | Id::Sunsubscribe
            | Id::Quit
            | Id::Reset => None,
            // Redis' pingCommand for a RESP2 client in Pub/Sub mode.
            Id::Ping => Some(Gate::Answer(match args {
                [_] => Reply::Array(vec![Reply::bulk("pong"), Reply::bulk("")]),
                [_, msg] => Reply::Array(vec![Reply::bulk("pong"), Reply::Bulk(msg.clone())]),
                _ => redynamo_layers::command::wrong_arity("ping"),
            })),
            _ => Some(Gate::Refuse(Reply::error(format!(
                "ERR Can't execute '{}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context",
                spec.name
            )))),
        }
    }

    /// SUBSCRIBE / PSUBSCRIBE / SSUBSCRIBE `names`: one frame each.
    pub fn subscribe(&mut self, kind: Kind, names: &[Bytes]) -> Vec<Reply> {
        let subs = self.subscriptions_mut();
        let (word, _) = words(kind);
        let frames = names
            .iter()
            .map(|name| {
                if subs.set(kind).insert(name.clone()) {
                    subs.registry.subscribe(kind, name, &subs.mailbox);
                }
                frame(word, Some(name.clone()), subs.count(kind))
            })
            .collect();
        self.publish_counts();
        frames
    }

    /// UNSUBSCRIBE / PUNSUBSCRIBE / SUNSUBSCRIBE `names` (every name of the
    /// kind when empty): one frame each, or one with a null name when
    /// there was nothing to leave.
    pub fn unsubscribe(&mut self, kind: Kind, names: &[Bytes]) -> Vec<Reply> {
        let (_, word) = words(kind);
        let Some(subs) = self.pubsub.as_mut() else {
            return if names.is_empty() {
                vec![frame(word, None, 0)]
            } else {
                names
                    .iter()
                    .map(|n| frame(word, Some(n.clone()), 0))
                    .collect()
            };
        };
        let id = subs.mailbox.id();
        let names: Vec<Bytes> = if names.is_empty() {
            subs.set(kind).iter().cloned().collect()
        } else {
            names.to_vec()
        };
        if names.is_empty() {
            return vec![frame(word, None, subs.count(kind))];
        }
        let frames = names
            .into_iter()
            .map(|name| {
                if subs.set(kind).remove(&name) {
                    subs.registry.unsubscribe(kind, &name, id);
                }
                let count = subs.count(kind);
                frame(word, Some(name), count)
            })
            .collect();
        self.publish_counts();
        frames
    }

    /// RESET and the end of the connection: leave everything, without
    /// replies.
    pub(crate) fn leave_pubsub(&mut self) {
        if let Some(subs) = self.pubsub.as_mut() {
            subs.leave_all();
        }
        self.publish_counts();
    }

    /// HELLO changed the protocol: pushes from now on use its encoding.
    pub(crate) fn pubsub_version_changed(&self) {
        if let Some(m) = self.mailbox() {
            m.set_resp3(self.version() == ProtocolVersion::Resp3);
        }
    }
}

/// The subscribe family's kind and direction, for the connection's
/// dispatch.
pub fn family(id: CommandId) -> Option<(Kind, bool)> {
    use CommandId as Id;
    Some(match id {
        Id::Subscribe => (Kind::Channel, true),
        Id::Unsubscribe => (Kind::Channel, false),
        Id::Psubscribe => (Kind::Pattern, true),
        Id::Punsubscribe => (Kind::Pattern, false),
        Id::Ssubscribe => (Kind::Shard, true),
        Id::Sunsubscribe => (Kind::Shard, false),
        _ => return None,
    })
}
