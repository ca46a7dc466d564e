//! PUBLISH, SPUBLISH and PUBSUB CHANNELS / NUMSUB / NUMPAT / SHARDCHANNELS /
//! SHARDNUMSUB / HELP, answered from the server's registry
//! ([`crate::server::pubsub::PubSub`]) with Redis 7.2's replies
//! (`pubsub.c`). They sit in the admin layer, not the session, so that
//! MULTI queues them and EXEC runs them in order with the rest, and so that
//! the metrics, timeout and auth layers see them as any command.

use bytes::Bytes;
use redynamo_layers::{Command, Reply};

use crate::server::pubsub::Kind;
use crate::server::state::ServerState;

/// Whether `name` (the table's) is one of this module's commands.
pub(super) fn handles(name: &str) -> bool {
    matches!(name, "publish" | "spublish") || name.starts_with("pubsub|")
}

pub(super) fn execute(state: &ServerState, cmd: &Command) -> Reply {
    let a = &cmd.args;
    let ps = &state.pubsub;
    match cmd.spec.name {
        "publish" => Reply::Integer(ps.publish(&a[1], &a[2]) as i64),
        "spublish" => Reply::Integer(ps.spublish(&a[1], &a[2]) as i64),
        "pubsub|channels" | "pubsub|shardchannels" => {
            let kind = if cmd.spec.name == "pubsub|channels" {
                Kind::Channel
            } else {
                Kind::Shard
            };
            match a.len() {
                2 | 3 => Reply::Array(
                    ps.names(kind, a.get(2).map(|p| &p[..]))
                        .into_iter()
                        .map(Reply::Bulk)
                        .collect(),
                ),
                _ => syntax(&a[1]),
            }
        }
        "pubsub|numsub" | "pubsub|shardnumsub" => {
            let kind = if cmd.spec.name == "pubsub|numsub" {
                Kind::Channel
            } else {
                Kind::Shard
            };
            // A flat array in RESP3 too, as Redis answers.
            let mut out = Vec::with_capacity((a.len() - 2) * 2);
            for name in &a[2..] {
                out.push(Reply::Bulk(name.clone()));
                out.push(Reply::Integer(ps.count(kind, name) as i64));
            }
            Reply::Array(out)
        }
        "pubsub|numpat" => Reply::Integer(ps.numpat() as i64),
        _ => help(),
    }
}

/// Redis' `addReplySubcommandSyntaxError`, naming the subcommand as typed.
fn syntax(sub: &Bytes) -> Reply {
    Reply::error(format!(
        "ERR unknown subcommand or wrong number of arguments for '{}'. Try PUBSUB HELP.",
        String::from_utf8_lossy(sub)
    ))
}

fn help() -> Reply {
    let lines = [
        "PUBSUB <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "CHANNELS [<pattern>]",
        "    Return the currently active channels matching a <pattern> (default: '*').",
        "NUMPAT",
        "    Return number of subscriptions to patterns.",
        "NUMSUB [<channel> ...]",
        "    Return the number of subscribers for the specified channels, excluding",
        "    pattern subscriptions(default: no channels).",
        "SHARDCHANNELS [<pattern>]",
        "    Return the currently active shard level channels matching a <pattern> (default: '*').",
        "SHARDNUMSUB [<shardchannel> ...]",
        "    Return the number of subscribers for the specified shard level channel(s)",
        "HELP",
        "    Print this help.",
    ];
    Reply::Array(lines.iter().map(|l| Reply::status(l)).collect())
}
