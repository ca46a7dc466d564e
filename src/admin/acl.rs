//! The ACL command: SETUSER, GETUSER, DELUSER, LIST, USERS, WHOAMI, CAT,
//! GENPASS, LOG, DRYRUN, SAVE, LOAD, HELP, with Redis 7.2's replies and
//! error texts (`aclCommand` in `src/acl.c`). The rules themselves are
//! `redynamo_layers::acl`; this module parses the command, answers it and
//! disconnects the clients of users that are deleted or replaced.

use std::sync::Arc;

use bytes::Bytes;
use redynamo_layers::acl::{self, rules, User};
use redynamo_layers::command;
use redynamo_layers::Reply;

use crate::server::state::ServerState;

/// Answer `cmd`, an ACL subcommand, for a client running as `user`.
pub fn execute(
    state: &ServerState,
    user: Option<&Arc<User>>,
    cmd: &redynamo_layers::Command,
) -> Reply {
    let a = &cmd.args;
    let acl = &state.credentials;
    match cmd.spec.name {
        "acl|setuser" => setuser(state, a),
        "acl|getuser" => match acl.user(&a[2]) {
            Some(u) => getuser(&u),
            None => Reply::Null,
        },
        "acl|deluser" => {
            if a[2..].iter().any(|n| &n[..] == b"default") {
                return Reply::static_error("ERR The 'default' user cannot be removed");
            }
            let gone = acl.delete_users(&a[2..]);
            disconnect(state, &gone);
            Reply::Integer(gone.len() as i64)
        }
        "acl|list" => Reply::Array(
            acl.users()
                .iter()
                .map(|u| {
                    let mut line = b"user ".to_vec();
                    line.extend_from_slice(u.name());
                    line.push(b' ');
                    line.extend_from_slice(&u.rules().describe());
                    Reply::Bulk(Bytes::from(line))
                })
                .collect(),
        ),
        "acl|users" => Reply::Array(
            acl.users()
                .iter()
                .map(|u| Reply::Bulk(u.name().clone()))
                .collect(),
        ),
        "acl|whoami" => Reply::Bulk(
            user.map(|u| u.name().clone())
                .unwrap_or_else(|| Bytes::from_static(b"default")),
        ),
        "acl|cat" => match a.get(2) {
            None => Reply::Array(acl::CATEGORIES.iter().map(Reply::bulk).collect()),
            Some(cat) => match rules::category_commands(cat) {
                Some(names) => Reply::Array(names.into_iter().map(Reply::bulk).collect()),
                None => {
                    let shown = &cat[..cat.len().min(128)];
                    Reply::error(format!(
                        "ERR Unknown category '{}'",
                        String::from_utf8_lossy(shown)
                    ))
                }
            },
        },
        "acl|genpass" => genpass(a.get(2)),
        "acl|log" => match a.get(2) {
            None => acl.log_reply(10),
            Some(arg) if arg.eq_ignore_ascii_case(b"reset") => {
                acl.log_reset();
                Reply::ok()
            }
            Some(arg) => match crate::util::num::parse_i64(arg) {
                Some(n) => acl.log_reply(n.max(0) as usize),
                None => redynamo_layers::reply::errors::NOT_INTEGER,
            },
        },
        "acl|dryrun" => dryrun(state, a),
        "acl|load" | "acl|save" if state.config.aclfile.is_none() => Reply::static_error(
            "ERR This Redis instance is not configured to use an ACL file. You may want to specify users via the ACL SETUSER command and then issue a CONFIG REWRITE (assuming you have a Redis configuration file set) in order to store users in the Redis configuration.",
        ),
        "acl|load" => match load(state) {
            Ok(()) => Reply::ok(),
            Err(e) => Reply::error(format!("ERR {e}")),
        },
        "acl|save" => match save(state) {
            Ok(()) => Reply::ok(),
            Err(e) => {
                tracing::warn!(error = %e, "ACL SAVE failed");
                Reply::static_error("ERR There was an error trying to save the ACLs. Please check the server logs for more information")
            }
        },
        _ => help(),
    }
}

fn setuser(state: &ServerState, a: &[Bytes]) -> Reply {
    let name = &a[2];
    if rules::has_spaces(name) {
        return Reply::static_error("ERR Usernames can't contain spaces or null characters");
    }
    let merged = match rules::merge_selectors(&a[3..]) {
        Ok(m) => m,
        // The rule that opened the selector, as redis-server 7.0 names
        // it. (7.2's source indexes the whole line with the rule's index,
        // which would name `ACL` itself; the sane text is kept.)
        Err(i) => {
            return Reply::error(format!(
                "ERR Unmatched parenthesis in acl selector starting at '{}'.",
                String::from_utf8_lossy(&a[3 + i])
            ))
        }
    };
    match state.credentials.set_user(name, &merged) {
        Ok(()) => Reply::ok(),
        Err((op, e)) => Reply::error(format!(
            "ERR Error in ACL SETUSER modifier '{}': {e}",
            String::from_utf8_lossy(&op)
        )),
    }
}

fn getuser(user: &User) -> Reply {
    let rules = user.rules();
    let selector = |s: &rules::Selector| {
        vec![
            (Reply::bulk("commands"), Reply::bulk(s.describe_commands())),
            (
                Reply::bulk("keys"),
                Reply::Bulk(Bytes::from(s.describe_keys())),
            ),
            (
                Reply::bulk("channels"),
                Reply::Bulk(Bytes::from(s.describe_channels())),
            ),
        ]
    };
    let mut fields = vec![
        (
            Reply::bulk("flags"),
            Reply::Set(
                rules
                    .flag_names()
                    .iter()
                    .filter(|(on, _)| *on)
                    .map(|(_, n)| Reply::bulk(n))
                    .collect(),
            ),
        ),
        (
            Reply::bulk("passwords"),
            Reply::Array(rules.passwords.iter().map(Reply::bulk).collect()),
        ),
    ];
    fields.extend(selector(rules.root()));
    fields.push((
        Reply::bulk("selectors"),
        Reply::Array(
            rules.selectors[1..]
                .iter()
                .map(|s| Reply::Map(selector(s)))
                .collect(),
        ),
    ));
    Reply::Map(fields)
}

fn genpass(bits: Option<&Bytes>) -> Reply {
    const MAX_BITS: i64 = 4096;
    let bits = match bits {
        None => 256,
        Some(b) => match crate::util::num::parse_i64(b) {
            Some(n) => n,
            None => return redynamo_layers::reply::errors::NOT_INTEGER,
        },
    };
    if bits <= 0 || bits > MAX_BITS {
        return Reply::static_error("ERR ACL GENPASS argument must be the number of bits for the output password, a positive number up to 4096");
    }
    let chars = ((bits + 3) / 4) as usize;
    // rand's thread RNG is a CSPRNG (ChaCha, seeded from the OS).
    use rand::Rng;
    let mut rng = rand::thread_rng();
    let hex: String = (0..chars)
        .map(|_| char::from(b"0123456789abcdef"[rng.gen_range(0..16)]))
        .collect();
    Reply::bulk(hex)
}

fn dryrun(state: &ServerState, a: &[Bytes]) -> Reply {
    let Some(user) = state.credentials.user(&a[2]) else {
        return Reply::error(format!(
            "ERR User '{}' not found",
            String::from_utf8_lossy(&a[2])
        ));
    };
    let line = &a[3..];
    let spec = command::lookup(&line[0]).and_then(|spec| {
        if spec.subcommands.is_empty() {
            Some(spec)
        } else {
            line.get(1).and_then(|sub| spec.subcommand(sub))
        }
    });
    let Some(spec) = spec else {
        return Reply::error(format!(
            "ERR Command '{}' not found",
            String::from_utf8_lossy(&line[0])
        ));
    };
    match acl::check(&user, spec, line) {
        Ok(()) => Reply::ok(),
        Err(d) => Reply::bulk(d.message(&user, spec, line, true)),
    }
}

/// ACL LOAD: all or nothing; the clients of replaced users go.
pub fn load(state: &ServerState) -> Result<(), String> {
    let Some(path) = &state.config.aclfile else {
        return Ok(());
    };
    let name = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| {
        format!(
            "Error loading ACLs, opening file '{name}': {}",
            strerror(&e)
        )
    })?;
    let users = acl::parse_acl_file(&text, &name)?;
    let gone = state.credentials.replace_all(users);
    disconnect(state, &gone);
    Ok(())
}

/// ACL SAVE: written to a temporary file, then renamed over the old one.
fn save(state: &ServerState) -> std::io::Result<()> {
    let Some(path) = &state.config.aclfile else {
        return Ok(());
    };
    let text = acl::acl_file_text(&state.credentials.users());
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(format!(
        ".tmp-{}-{}",
        std::process::id(),
        crate::util::now_ms()
    ));
    let tmp = std::path::PathBuf::from(tmp);
    let written = std::fs::write(&tmp, &text).and_then(|()| std::fs::rename(&tmp, path));
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

/// The C library's text for an I/O error, as Redis prints `strerror`.
fn strerror(e: &std::io::Error) -> String {
    let text = e.to_string();
    // Rust appends " (os error N)".
    match text.rfind(" (os error") {
        Some(i) => text[..i].to_string(),
        None => text,
    }
}

/// Disconnect the clients authenticated as any of `users` (Redis'
/// `ACLFreeUserAndKillClients`); the current one after its reply.
fn disconnect(state: &ServerState, users: &[Arc<User>]) {
    if users.is_empty() {
        return;
    }
    for entry in state.clients.all() {
        if users.iter().any(|u| entry.info.is_user(u)) {
            entry.kill.cancel();
        }
    }
}

fn help() -> Reply {
    Reply::Array(
        [
            "ACL <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            "CAT [<category>]",
            "    List all commands that belong to <category>, or all command categories",
            "    when no category is specified.",
            "DELUSER <username> [<username> ...]",
            "    Delete a list of users.",
            "DRYRUN <username> <command> [<arg> ...]",
            "    Returns whether the user can execute the given command without executing the command.",
            "GETUSER <username>",
            "    Get the user's details.",
            "GENPASS [<bits>]",
            "    Generate a secure 256-bit user password. The optional `bits` argument can",
            "    be used to specify a different size.",
            "LIST",
            "    Show users details in config file format.",
            "LOAD",
            "    Reload users from the ACL file.",
            "LOG [<count> | RESET]",
            "    Show the ACL log entries.",
            "SAVE",
            "    Save the current config to the ACL file.",
            "SETUSER <username> <attribute> [<attribute> ...]",
            "    Create or modify a user with the specified attributes.",
            "USERS",
            "    List all the registered usernames.",
            "WHOAMI",
            "    Return the current connection username.",
            "HELP",
            "    Print this help.",
        ]
        .iter()
        .map(|l| Reply::status(l))
        .collect(),
    )
}
