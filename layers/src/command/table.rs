//! The command table. Sorted by name (a test checks it); generated from
//! Redis 7's command JSON for the commands redynamo implements.

use super::{Arg, ArgKind, CommandSpec, Flags};

const W: Flags = Flags::WRITE;
const R: Flags = Flags::READONLY;
const F: Flags = Flags::FAST;
const D: Flags = Flags::DENYOOM;
const C: Flags = Flags::CONNECTION;

pub static COMMANDS: &[CommandSpec] = &[
    CommandSpec {
        name: "get",
        arity: 2,
        flags: R.union(F),
        first_key: 1,
        last_key: 1,
        step: 1,
        acl_categories: &["read", "string", "fast"],
        tips: &[],
        group: "string",
        summary: "Returns the string value of a key.",
        since: "1.0.0",
        complexity: "O(1)",
        arguments: &[Arg::key("key", 0)],
        subcommands: &[],
    },
    CommandSpec {
        name: "mset",
        arity: -3,
        flags: W.union(D),
        first_key: 1,
        last_key: -1,
        step: 2,
        acl_categories: &["write", "string", "slow"],
        tips: &["request_policy:multi_shard", "response_policy:all_succeeded"],
        group: "string",
        summary: "Atomically creates or modifies the string values of one or more keys.",
        since: "1.0.1",
        complexity: "O(N) where N is the number of keys to set.",
        arguments: &[Arg::new("data", ArgKind::Block)
            .multiple()
            .args(&[Arg::key("key", 0), Arg::new("value", ArgKind::String)])],
        subcommands: &[],
    },
    CommandSpec {
        name: "ping",
        arity: -1,
        flags: F,
        first_key: 0,
        last_key: 0,
        step: 0,
        acl_categories: &["fast", "connection"],
        tips: &["request_policy:all_shards", "response_policy:all_succeeded"],
        group: "connection",
        summary: "Returns the server's liveliness response.",
        since: "1.0.0",
        complexity: "O(1)",
        arguments: &[Arg::new("message", ArgKind::String).optional()],
        subcommands: &[],
    },
    CommandSpec {
        name: "select",
        arity: 2,
        flags: F.union(Flags::LOADING).union(Flags::STALE).union(C),
        first_key: 0,
        last_key: 0,
        step: 0,
        acl_categories: &["fast", "connection"],
        tips: &[],
        group: "connection",
        summary: "Changes the selected database.",
        since: "1.0.0",
        complexity: "O(1)",
        arguments: &[Arg::new("index", ArgKind::Integer)],
        subcommands: &[],
    },
    CommandSpec {
        name: "set",
        arity: -3,
        flags: W.union(D),
        first_key: 1,
        last_key: 1,
        step: 1,
        acl_categories: &["write", "string", "slow"],
        tips: &[],
        group: "string",
        summary: "Sets the string value of a key, ignoring its type. The key is created if it doesn't exist.",
        since: "1.0.0",
        complexity: "O(1)",
        arguments: &[
            Arg::key("key", 0),
            Arg::new("value", ArgKind::String),
            Arg::new("condition", ArgKind::Oneof).optional().since("2.6.12").args(&[
                Arg::new("nx", ArgKind::PureToken).token("NX"),
                Arg::new("xx", ArgKind::PureToken).token("XX"),
            ]),
        ],
        subcommands: &[],
    },
];
