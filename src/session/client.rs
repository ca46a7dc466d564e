//! CLIENT and its subcommands, dispatched on the table's [`CommandId`].
//! LIST and KILL, the two with options, parse into a struct first, then
//! apply; the errors are Redis'.

use bytes::Bytes;
use redynamo_layers::command::CommandId;
use redynamo_layers::reply::errors;
use redynamo_layers::request::Unblock;
use redynamo_layers::{Command, Reply};

use super::Session;
use crate::commands::int_arg;
use crate::server::pause::PauseMode;

/// Run the CLIENT subcommand `cmd`.
pub fn client(session: &Session, cmd: &Command) -> Reply {
    let a = &cmd.args;
    let entry = &session.entry;
    match cmd.spec.id {
        CommandId::ClientId => Reply::Integer(entry.id() as i64),
        CommandId::ClientGetname => match entry.info.name() {
            Some(n) => Reply::Bulk(n),
            None => Reply::Null,
        },
        CommandId::ClientSetname => match check_name(&a[2], "Client names") {
            Ok(()) => {
                entry
                    .info
                    .set_name((!a[2].is_empty()).then(|| a[2].clone()));
                Reply::ok()
            }
            Err(e) => e,
        },
        CommandId::ClientSetinfo => {
            let attr = a[2].to_ascii_lowercase();
            let slot = match attr.as_slice() {
                b"lib-name" => &entry.lib_name,
                b"lib-ver" => &entry.lib_ver,
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
        CommandId::ClientInfo => {
            let mut line = entry.describe();
            line.push('\n');
            Reply::Verbatim("txt", Bytes::from(line))
        }
        CommandId::ClientList => match ClientList::parse(&a[2..]) {
            Ok(list) => list.apply(session),
            Err(e) => e,
        },
        CommandId::ClientKill => match ClientKill::parse(&a[2..]) {
            Ok(kill) => kill.apply(session),
            Err(e) => e,
        },
        CommandId::ClientUnblock => match ClientUnblock::parse(a) {
            Ok(unblock) => unblock.apply(session),
            Err(e) => e,
        },
        CommandId::ClientPause => match client_pause(a) {
            Ok((until, mode)) => {
                session.state.pause.pause(until, mode);
                Reply::ok()
            }
            Err(e) => e,
        },
        CommandId::ClientUnpause => {
            session.state.pause.unpause();
            Reply::ok()
        }
        CommandId::ClientNoEvict | CommandId::ClientNoTouch => {
            match a[2].to_ascii_lowercase().as_slice() {
                b"on" | b"off" => Reply::ok(),
                _ => errors::SYNTAX,
            }
        }
        // CLIENT HELP, and the container itself.
        _ => client_help(),
    }
}

/// `CLIENT PAUSE timeout [WRITE | ALL]`, read as Redis reads it: the mode
/// before the timeout. The pause itself is [`crate::server::pause`]'s.
fn client_pause(a: &[Bytes]) -> Result<(tokio::time::Instant, PauseMode), Reply> {
    let mode = match a.get(3) {
        _ if a.len() > 4 => {
            return Err(Reply::error(format!(
                "ERR unknown subcommand or wrong number of arguments for '{}'. Try CLIENT HELP.",
                String::from_utf8_lossy(&a[1])
            )))
        }
        None => PauseMode::All,
        Some(m) if m.eq_ignore_ascii_case(b"write") => PauseMode::Write,
        Some(m) if m.eq_ignore_ascii_case(b"all") => PauseMode::All,
        Some(_) => {
            return Err(Reply::static_error(
                "ERR CLIENT PAUSE mode must be WRITE or ALL",
            ))
        }
    };
    let ms = crate::admin::ops::timeout_ms(&a[2])?;
    // Far beyond any real pause; keeps the deadline representable.
    let ms = ms.min(100 * 365 * 24 * 3600 * 1000) as u64;
    let until = tokio::time::Instant::now() + std::time::Duration::from_millis(ms);
    Ok((until, mode))
}

/// `CLIENT UNBLOCK client-id [TIMEOUT | ERROR]`: ends the wait of a
/// client blocked in BLPOP and friends, through its
/// [`redynamo_layers::request::BlockState`]; 1 if it was blocked.
struct ClientUnblock {
    id: i64,
    how: Unblock,
}

impl ClientUnblock {
    /// As Redis reads it: the reason before the id.
    fn parse(a: &[Bytes]) -> Result<ClientUnblock, Reply> {
        if a.len() > 4 {
            return Err(Reply::error(format!(
                "ERR unknown subcommand or wrong number of arguments for '{}'. Try CLIENT HELP.",
                String::from_utf8_lossy(&a[1])
            )));
        }
        let how = match a.get(3) {
            None => Unblock::Timeout,
            Some(r) if r.eq_ignore_ascii_case(b"timeout") => Unblock::Timeout,
            Some(r) if r.eq_ignore_ascii_case(b"error") => Unblock::Error,
            Some(_) => {
                return Err(Reply::static_error(
                    "ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR",
                ))
            }
        };
        Ok(ClientUnblock {
            id: int_arg(&a[2])?,
            how,
        })
    }

    fn apply(self, session: &Session) -> Reply {
        let unblocked = session
            .state
            .clients
            .all()
            .iter()
            .find(|c| c.id() as i64 == self.id)
            .is_some_and(|c| c.info.block.unblock(self.how));
        Reply::Integer(unblocked as i64)
    }
}

/// `CLIENT LIST [TYPE normal|master|replica|pubsub] [ID id …]`.
struct ClientList {
    ids: Option<Vec<u64>>,
    /// Every client here is a normal one: other types list none.
    type_ok: bool,
}

impl ClientList {
    fn parse(filters: &[Bytes]) -> Result<ClientList, Reply> {
        let mut ids: Option<Vec<u64>> = None;
        let mut type_ok = true;
        if let Some(first) = filters.first() {
            if first.eq_ignore_ascii_case(b"type") && filters.len() == 2 {
                let t = filters[1].to_ascii_lowercase();
                match t.as_slice() {
                    b"normal" => {}
                    b"master" | b"replica" | b"slave" | b"pubsub" => type_ok = false,
                    _ => {
                        return Err(Reply::error(format!(
                            "ERR Unknown client type '{}'",
                            String::from_utf8_lossy(&filters[1])
                        )))
                    }
                }
            } else if first.eq_ignore_ascii_case(b"id") && filters.len() >= 2 {
                let mut v = Vec::new();
                for id in &filters[1..] {
                    match int_arg(id) {
                        Ok(n) if n > 0 => v.push(n as u64),
                        _ => return Err(Reply::static_error("ERR Invalid client ID")),
                    }
                }
                ids = Some(v);
            } else {
                return Err(errors::SYNTAX);
            }
        }
        Ok(ClientList { ids, type_ok })
    }

    fn apply(self, session: &Session) -> Reply {
        let mut out = String::new();
        if self.type_ok {
            for c in session.state.clients.all() {
                if self.ids.as_ref().is_none_or(|ids| ids.contains(&c.id())) {
                    out.push_str(&c.describe());
                    out.push('\n');
                }
            }
        }
        Reply::Verbatim("txt", Bytes::from(out))
    }
}

/// `CLIENT KILL addr:port` (old form) or filters (new form).
enum ClientKill {
    Addr(String),
    Filters {
        id: Option<u64>,
        addr: Option<String>,
        laddr: Option<String>,
        skipme: bool,
        type_matches: bool,
    },
}

impl ClientKill {
    fn parse(args: &[Bytes]) -> Result<ClientKill, Reply> {
        if args.len() == 1 {
            return Ok(ClientKill::Addr(
                String::from_utf8_lossy(&args[0]).into_owned(),
            ));
        }
        if args.len() % 2 != 0 {
            return Err(errors::SYNTAX);
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
                    _ => {
                        return Err(Reply::static_error(
                            "ERR client-id should be greater than 0",
                        ))
                    }
                },
                b"addr" => addr = Some(String::from_utf8_lossy(v).into_owned()),
                b"laddr" => laddr = Some(String::from_utf8_lossy(v).into_owned()),
                b"skipme" => match v.to_ascii_lowercase().as_slice() {
                    b"yes" => skipme = true,
                    b"no" => skipme = false,
                    _ => return Err(errors::SYNTAX),
                },
                // Every client here is a normal one of the `default` user,
                // so TYPE normal and USER default match all, the other
                // types none; unknown names are errors, as in Redis.
                b"type" => match v.to_ascii_lowercase().as_slice() {
                    b"normal" => {}
                    b"master" | b"slave" | b"replica" | b"pubsub" => type_matches = false,
                    _ => {
                        return Err(Reply::error(format!(
                            "ERR Unknown client type '{}'",
                            String::from_utf8_lossy(v)
                        )))
                    }
                },
                b"user" if v.as_ref() == b"default" => {}
                b"user" => {
                    return Err(Reply::error(format!(
                        "ERR No such user '{}'",
                        String::from_utf8_lossy(v)
                    )))
                }
                _ => return Err(errors::SYNTAX),
            }
        }
        Ok(ClientKill::Filters {
            id,
            addr,
            laddr,
            skipme,
            type_matches,
        })
    }

    fn apply(self, session: &Session) -> Reply {
        let all = session.state.clients.all();
        match self {
            ClientKill::Addr(addr) => match all
                .iter()
                .find(|c| c.info.addr.is_some_and(|a| a.to_string() == addr))
            {
                Some(c) => {
                    c.kill.cancel();
                    Reply::ok()
                }
                None => Reply::static_error("ERR No such client"),
            },
            ClientKill::Filters {
                id,
                addr,
                laddr,
                skipme,
                type_matches,
            } => {
                let mut killed = 0;
                for c in all {
                    if skipme && c.id() == session.entry.id() {
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
    }
}

/// Client names and library attributes must be printable without spaces.
pub(super) fn check_name(name: &[u8], what: &str) -> Result<(), Reply> {
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
        "UNPAUSE",
        "    Stop the current client pause, resuming traffic.",
        "PAUSE <timeout> [WRITE|ALL]",
        "    Suspend all, or just write, clients for <timeout> milliseconds.",
        "SETNAME <name>",
        "    Assign the name <name> to the current connection.",
        "SETINFO <option> <value>",
        "    Set client meta attr. Options are: LIB-NAME, LIB-VER.",
        "UNBLOCK <clientid> [TIMEOUT|ERROR]",
        "    Unblock the specified blocked client.",
        "HELP",
        "    Print this help.",
    ];
    Reply::Array(lines.iter().map(|l| Reply::status(l)).collect())
}
