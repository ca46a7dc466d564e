//! COMMAND, COMMAND COUNT / INFO / DOCS / LIST / GETKEYS / HELP, rendered
//! from the command table. redis-cli reads COMMAND DOCS at start-up for its
//! argument hints.

use bytes::Bytes;
use redynamo_layers::command::{self, all_specs, Arg, CommandSpec, COMMANDS};
use redynamo_layers::{Command, Reply};

use crate::util::glob;

pub(super) fn execute(cmd: &Command) -> Reply {
    let a = &cmd.args;
    match cmd.spec.name {
        "command" => Reply::Array(COMMANDS.iter().map(info).collect()),
        "command|count" => Reply::Integer(COMMANDS.len() as i64),
        "command|info" => {
            if a.len() == 2 {
                return Reply::Array(COMMANDS.iter().map(info).collect());
            }
            Reply::Array(
                a[2..]
                    .iter()
                    .map(|name| find(name).map_or(Reply::NullArray, info))
                    .collect(),
            )
        }
        "command|docs" => {
            let specs: Vec<&CommandSpec> = if a.len() == 2 {
                COMMANDS.iter().collect()
            } else {
                a[2..].iter().filter_map(|n| find(n)).collect()
            };
            Reply::Map(
                specs
                    .into_iter()
                    .map(|s| (Reply::bulk(s.name), docs(s)))
                    .collect(),
            )
        }
        "command|list" => list(&a[2..]),
        "command|getkeys" => getkeys(&a[2..]),
        _ => help(),
    }
}

/// A command or `parent|sub` by name.
fn find(name: &[u8]) -> Option<&'static CommandSpec> {
    let lower = name.to_ascii_lowercase();
    all_specs().find(|s| s.name.as_bytes() == lower.as_slice())
}

fn strings(items: &[&'static str]) -> Reply {
    Reply::Set(items.iter().map(|s| Reply::status(s)).collect())
}

/// One COMMAND INFO entry: name, arity, flags, first key, last key, step,
/// ACL categories, tips, key specs, subcommands.
fn info(spec: &'static CommandSpec) -> Reply {
    Reply::Array(vec![
        Reply::bulk(spec.name),
        Reply::Integer(spec.arity as i64),
        Reply::Set(spec.flags.names().map(Reply::status).collect()),
        Reply::Integer(spec.first_key as i64),
        Reply::Integer(spec.last_key as i64),
        Reply::Integer(spec.step as i64),
        Reply::Set(
            spec.acl_categories
                .iter()
                .map(|c| Reply::Simple(Bytes::from(format!("@{c}"))))
                .collect(),
        ),
        strings(spec.tips),
        Reply::Array(Vec::new()),
        Reply::Array(spec.subcommands.iter().map(info).collect()),
    ])
}

fn docs(spec: &'static CommandSpec) -> Reply {
    let mut map = vec![
        (Reply::bulk("summary"), Reply::bulk(spec.summary)),
        (Reply::bulk("since"), Reply::bulk(spec.since)),
        (Reply::bulk("group"), Reply::bulk(spec.group)),
        (Reply::bulk("complexity"), Reply::bulk(spec.complexity)),
    ];
    if !spec.arguments.is_empty() {
        map.push((
            Reply::bulk("arguments"),
            Reply::Array(spec.arguments.iter().map(arg_doc).collect()),
        ));
    }
    if !spec.subcommands.is_empty() {
        map.push((
            Reply::bulk("subcommands"),
            Reply::Map(
                spec.subcommands
                    .iter()
                    .map(|s| (Reply::bulk(s.name), docs(s)))
                    .collect(),
            ),
        ));
    }
    Reply::Map(map)
}

fn arg_doc(arg: &Arg) -> Reply {
    let mut map = vec![
        (Reply::bulk("name"), Reply::bulk(arg.name)),
        (Reply::bulk("type"), Reply::bulk(arg.kind.as_str())),
    ];
    if let Some(i) = arg.key_spec_index {
        map.push((Reply::bulk("key_spec_index"), Reply::Integer(i as i64)));
    }
    if let Some(t) = arg.token {
        map.push((Reply::bulk("token"), Reply::bulk(t)));
    }
    if let Some(d) = arg.display {
        map.push((Reply::bulk("display_text"), Reply::bulk(d)));
    }
    if let Some(s) = arg.since {
        map.push((Reply::bulk("since"), Reply::bulk(s)));
    }
    let mut flags = Vec::new();
    if arg.optional {
        flags.push(Reply::status("optional"));
    }
    if arg.multiple {
        flags.push(Reply::status("multiple"));
    }
    if arg.multiple_token {
        flags.push(Reply::status("multiple_token"));
    }
    if !flags.is_empty() {
        map.push((Reply::bulk("flags"), Reply::Set(flags)));
    }
    if !arg.args.is_empty() {
        map.push((
            Reply::bulk("arguments"),
            Reply::Array(arg.args.iter().map(arg_doc).collect()),
        ));
    }
    Reply::Map(map)
}

/// `COMMAND LIST [FILTERBY MODULE name | ACLCAT cat | PATTERN pattern]`.
fn list(args: &[Bytes]) -> Reply {
    let names = all_specs();
    let filtered: Vec<Reply> = match args {
        [] => names.map(|s| Reply::bulk(s.name)).collect(),
        [by, kind, value] if by.eq_ignore_ascii_case(b"filterby") => {
            if kind.eq_ignore_ascii_case(b"aclcat") {
                let cat = String::from_utf8_lossy(value).to_ascii_lowercase();
                names
                    .filter(|s| s.acl_categories.contains(&cat.as_str()))
                    .map(|s| Reply::bulk(s.name))
                    .collect()
            } else if kind.eq_ignore_ascii_case(b"pattern") {
                names
                    .filter(|s| glob::matches(value, s.name.as_bytes()))
                    .map(|s| Reply::bulk(s.name))
                    .collect()
            } else if kind.eq_ignore_ascii_case(b"module") {
                Vec::new()
            } else {
                return redynamo_layers::reply::errors::SYNTAX;
            }
        }
        _ => return redynamo_layers::reply::errors::SYNTAX,
    };
    Reply::Array(filtered)
}

/// `COMMAND GETKEYS command arg …`.
fn getkeys(line: &[Bytes]) -> Reply {
    let spec = match command::resolve(line) {
        Ok(spec) => spec,
        Err(_) if line.is_empty() => {
            return Reply::static_error(
                "ERR wrong number of arguments for 'command|getkeys' command",
            )
        }
        Err(_) if command::lookup(&line[0]).is_none() => {
            return Reply::static_error("ERR Invalid command specified")
        }
        Err(_) => {
            return Reply::static_error("ERR Invalid number of arguments specified for command")
        }
    };
    let keys: Vec<Reply> = spec
        .key_indexes(line.len())
        .map(|i| Reply::Bulk(line[i].clone()))
        .collect();
    if keys.is_empty() {
        return Reply::static_error("ERR The command has no key arguments");
    }
    Reply::Array(keys)
}

fn help() -> Reply {
    let lines = [
        "COMMAND <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "(no subcommand)",
        "    Return details about all Redis commands.",
        "COUNT",
        "    Return the total number of commands in this Redis server.",
        "LIST",
        "    Return a list of all commands in this Redis server.",
        "INFO [<command-name> ...]",
        "    Return details about multiple Redis commands.",
        "    If no command names are given, documentation details for all",
        "    commands are returned.",
        "DOCS [<command-name> ...]",
        "    Return documentation details about multiple Redis commands.",
        "    If no command names are given, documentation details for all",
        "    commands are returned.",
        "GETKEYS <full-command>",
        "    Return the keys from a full Redis command.",
        "HELP",
        "    Print this help.",
    ];
    Reply::Array(lines.iter().map(|l| Reply::status(l)).collect())
}
