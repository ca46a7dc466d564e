//! Commands are data.
//!
//! One table ([`COMMANDS`]) holds every command redynamo knows: name, arity,
//! flags, key positions, ACL categories and the documentation that
//! `COMMAND DOCS` serves to redis-cli for its hints. Everything that needs
//! to know about commands reads it:
//!
//! - the connection resolves a command line with [`resolve`], which gives
//!   Redis' exact unknown-command, unknown-subcommand and arity errors;
//! - the auth layer lets [`Flags::NO_AUTH`] commands through;
//! - the cache layer asks [`CommandSpec::is_write`], [`Command::keys`] and
//!   the routing facts ([`Routing`]): which reads it may answer, which
//!   commands reach other dbs;
//! - the connection routes by [`Routing`]: session commands, what MULTI
//!   queues, runs or refuses;
//! - backends dispatch on [`CommandSpec::id`] ([`CommandId`]);
//! - `COMMAND`, `COMMAND INFO|DOCS|LIST|COUNT` render it;
//! - the compatibility list in the README is checked against it by a test.
//!
//! No layer matches on command names.
//!
//! The table is generated (`scripts/gen-command-table.py`) from Redis 7.2's
//! command JSON and `commands.txt`, the list of the commands redynamo
//! implements with their routing facts; see docs/architecture.md, "How to
//! add a command".
//!
//! [`Command::keys`]: crate::Command::keys
//!
//! This file is longer than ~600 lines on purpose: it is the one home of
//! the command model every layer reads (spec, flags, routing, key
//! positions, resolution with Redis' errors, COMMAND's replies); a sixth of
//! it is tests.

// Generated code: the generator's layout is the one the freshness test
// compares, so rustfmt must not reflow it.
#[rustfmt::skip]
mod table;
pub mod keyspec;

use std::sync::OnceLock;

use foldhash::HashMap;

use bytes::Bytes;

use crate::reply::Reply;
pub use table::{CommandId, COMMANDS, REDIS_COMMANDS};

/// Command flags, as Redis 7.2 defines them. `COMMAND INFO` shows all but
/// the ones Redis hides (`may_replicate`, `protected`,
/// `touches_arbitrary_keys`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct Flags(u32);

impl Flags {
    pub const NONE: Flags = Flags(0);
    pub const WRITE: Flags = Flags(1 << 0);
    pub const READONLY: Flags = Flags(1 << 1);
    pub const DENYOOM: Flags = Flags(1 << 2);
    pub const ADMIN: Flags = Flags(1 << 3);
    pub const PUBSUB: Flags = Flags(1 << 4);
    pub const NOSCRIPT: Flags = Flags(1 << 5);
    pub const BLOCKING: Flags = Flags(1 << 6);
    pub const LOADING: Flags = Flags(1 << 7);
    pub const STALE: Flags = Flags(1 << 8);
    pub const SKIP_MONITOR: Flags = Flags(1 << 9);
    pub const SKIP_SLOWLOG: Flags = Flags(1 << 10);
    pub const FAST: Flags = Flags(1 << 11);
    pub const NO_AUTH: Flags = Flags(1 << 12);
    pub const MAY_REPLICATE: Flags = Flags(1 << 13);
    pub const NO_MANDATORY_KEYS: Flags = Flags(1 << 14);
    pub const NO_MULTI: Flags = Flags(1 << 15);
    pub const MOVABLEKEYS: Flags = Flags(1 << 16);
    pub const ALLOW_BUSY: Flags = Flags(1 << 17);
    pub const NO_ASYNC_LOADING: Flags = Flags(1 << 18);
    pub const ASKING: Flags = Flags(1 << 19);
    pub const PROTECTED: Flags = Flags(1 << 20);
    pub const TOUCHES_ARBITRARY_KEYS: Flags = Flags(1 << 21);

    /// The names `COMMAND INFO` prints, in Redis' order
    /// (`addReplyCommandFlags`); the flags Redis hides are not here.
    const NAMES: &'static [(Flags, &'static str)] = &[
        (Flags::WRITE, "write"),
        (Flags::READONLY, "readonly"),
        (Flags::DENYOOM, "denyoom"),
        (Flags::ADMIN, "admin"),
        (Flags::PUBSUB, "pubsub"),
        (Flags::NOSCRIPT, "noscript"),
        (Flags::BLOCKING, "blocking"),
        (Flags::LOADING, "loading"),
        (Flags::STALE, "stale"),
        (Flags::SKIP_MONITOR, "skip_monitor"),
        (Flags::SKIP_SLOWLOG, "skip_slowlog"),
        (Flags::ASKING, "asking"),
        (Flags::FAST, "fast"),
        (Flags::NO_AUTH, "no_auth"),
        (Flags::NO_MANDATORY_KEYS, "no_mandatory_keys"),
        (Flags::NO_ASYNC_LOADING, "no_async_loading"),
        (Flags::NO_MULTI, "no_multi"),
        (Flags::MOVABLEKEYS, "movablekeys"),
        (Flags::ALLOW_BUSY, "allow_busy"),
    ];

    pub const fn union(self, other: Flags) -> Flags {
        Flags(self.0 | other.0)
    }

    pub const fn contains(self, other: Flags) -> bool {
        self.0 & other.0 == other.0
    }

    /// The flag names `COMMAND INFO` shows for this set.
    pub fn names(self) -> impl Iterator<Item = &'static str> {
        Flags::NAMES
            .iter()
            .filter(move |(f, _)| self.contains(*f))
            .map(|(_, n)| *n)
    }
}

impl std::ops::BitOr for Flags {
    type Output = Flags;
    fn bitor(self, rhs: Flags) -> Flags {
        self.union(rhs)
    }
}

/// The type of a documented argument, as `COMMAND DOCS` names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArgKind {
    String,
    Integer,
    Double,
    Key,
    Pattern,
    UnixTime,
    PureToken,
    Oneof,
    Block,
}

impl ArgKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ArgKind::String => "string",
            ArgKind::Integer => "integer",
            ArgKind::Double => "double",
            ArgKind::Key => "key",
            ArgKind::Pattern => "pattern",
            ArgKind::UnixTime => "unix-time",
            ArgKind::PureToken => "pure-token",
            ArgKind::Oneof => "oneof",
            ArgKind::Block => "block",
        }
    }
}

/// One documented argument, for `COMMAND DOCS` (redis-cli builds its
/// hints from these). Built with const builder methods so the table reads
/// like Redis' own JSON:
/// `Arg::new("seconds", ArgKind::Integer).token("EX")`.
#[derive(Clone, Copy, Debug)]
pub struct Arg {
    pub name: &'static str,
    pub kind: ArgKind,
    pub token: Option<&'static str>,
    pub display: Option<&'static str>,
    pub since: Option<&'static str>,
    pub optional: bool,
    pub multiple: bool,
    pub multiple_token: bool,
    /// Index into the command's key specs for `key` arguments.
    pub key_spec_index: Option<u32>,
    /// Members of a `oneof` or `block`.
    pub args: &'static [Arg],
}

impl Arg {
    pub const fn new(name: &'static str, kind: ArgKind) -> Arg {
        Arg {
            name,
            kind,
            token: None,
            display: None,
            since: None,
            optional: false,
            multiple: false,
            multiple_token: false,
            key_spec_index: None,
            args: &[],
        }
    }
    pub const fn key(name: &'static str, key_spec_index: u32) -> Arg {
        let mut a = Arg::new(name, ArgKind::Key);
        a.key_spec_index = Some(key_spec_index);
        a
    }
    /// The key spec of a non-`key` argument that still names keys (SORT's
    /// `BY pattern`).
    pub const fn key_spec_index(mut self, key_spec_index: u32) -> Arg {
        self.key_spec_index = Some(key_spec_index);
        self
    }
    pub const fn token(mut self, token: &'static str) -> Arg {
        self.token = Some(token);
        self
    }
    pub const fn display(mut self, display: &'static str) -> Arg {
        self.display = Some(display);
        self
    }
    pub const fn since(mut self, since: &'static str) -> Arg {
        self.since = Some(since);
        self
    }
    pub const fn optional(mut self) -> Arg {
        self.optional = true;
        self
    }
    pub const fn multiple(mut self) -> Arg {
        self.multiple = true;
        self
    }
    pub const fn multiple_token(mut self) -> Arg {
        self.multiple_token = true;
        self
    }
    pub const fn args(mut self, args: &'static [Arg]) -> Arg {
        self.args = args;
        self
    }
}

/// What a command does when it arrives while MULTI is open.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InMulti {
    /// Queued for EXEC (the default).
    Queue,
    /// Run at once (EXEC, DISCARD, MULTI, WATCH, QUIT, RESET), as Redis'
    /// processCommand does.
    Run,
    /// Refused with "Command not allowed inside a transaction": Redis'
    /// `no_multi` commands, and session commands, whose state a
    /// transaction in the store cannot reach.
    Refuse,
}

/// The dbs a command reaches besides the request's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dbs {
    /// Only the request's db.
    One,
    /// Another db when the line names one with the `DB` token
    /// (`COPY src dst DB 3`); see [`Command::reaches_other_db`].
    ///
    /// [`Command::reaches_other_db`]: crate::Command::reaches_other_db
    Named,
    /// Several dbs (SWAPDB, FLUSHALL), or, inside MULTI, the commands after
    /// it run in another db (SELECT).
    Several,
}

/// A read the node cache may answer from cached key states, and the way it
/// answers: as GET, STRLEN, TYPE, EXISTS or MGET does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CachedRead {
    Get,
    Strlen,
    Type,
    Exists,
    Mget,
}

/// redynamo's routing facts for one command: what the connection, the
/// layers and the backends need to know beyond Redis' own flags. They come
/// from `commands.txt` through the generator; `COMMAND` does not show them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Routing {
    /// Run by the connection on its session state (AUTH, SELECT, CLIENT,
    /// MULTI …), never sent into the stack as a plain request.
    pub session: bool,
    /// What MULTI does with it.
    pub in_multi: InMulti,
    /// Which dbs it reaches.
    pub dbs: Dbs,
    /// Whether, and how, the cache layer may answer it.
    pub cached_read: Option<CachedRead>,
    /// May block the client (Redis' `blocking` flag, or redynamo says so).
    pub blocking: bool,
}

impl Routing {
    /// A plain command: sent into the stack, queued by MULTI, one db, not
    /// answered by the cache, never blocks.
    pub const STACK: Routing = Routing {
        session: false,
        in_multi: InMulti::Queue,
        dbs: Dbs::One,
        cached_read: None,
        blocking: false,
    };
}

/// One command (or subcommand, whose name is `parent|sub`).
#[derive(Debug)]
pub struct CommandSpec {
    /// Which command this is, for dispatch by an exhaustive `match`.
    pub id: CommandId,
    /// Lowercase; `client|list` for a subcommand.
    pub name: &'static str,
    /// Redis arity: positive is exact, negative is a minimum, both counting
    /// the command name itself.
    pub arity: i32,
    pub flags: Flags,
    /// 1-based argument index of the first key, 0 when there is none.
    pub first_key: i32,
    /// Index of the last key; negative counts from the end (-1 = last).
    pub last_key: i32,
    pub step: i32,
    /// ACL categories without the `@`: `write`, `string`, `slow` …
    pub acl_categories: &'static [&'static str],
    /// Redis' key specs: which arguments are keys and what the command
    /// does to them (the ACL layer's `%R~`/`%W~` checks).
    pub key_specs: &'static [keyspec::KeySpec],
    /// Command tips (`nondeterministic_output`, `request_policy:all_shards` …).
    pub tips: &'static [&'static str],
    pub group: &'static str,
    pub summary: &'static str,
    pub since: &'static str,
    pub complexity: &'static str,
    pub arguments: &'static [Arg],
    pub subcommands: &'static [CommandSpec],
    /// redynamo's routing facts.
    pub routing: Routing,
}

impl CommandSpec {
    pub fn is_write(&self) -> bool {
        self.flags.contains(Flags::WRITE)
    }
    pub fn is_readonly(&self) -> bool {
        self.flags.contains(Flags::READONLY)
    }
    pub fn is_admin(&self) -> bool {
        self.flags.contains(Flags::ADMIN)
    }
    /// Allowed before authentication (AUTH, HELLO, QUIT …).
    pub fn allows_no_auth(&self) -> bool {
        self.flags.contains(Flags::NO_AUTH)
    }
    /// Handled by the connection, not sent into the stack
    /// ([`Routing::session`]).
    pub fn is_connection(&self) -> bool {
        self.routing.session
    }
    /// Redis' `no_multi` flag. What MULTI does with the command is
    /// [`Routing::in_multi`], which also covers session commands.
    pub fn is_no_multi(&self) -> bool {
        self.flags.contains(Flags::NO_MULTI)
    }

    /// True when `argc` (counting the name) satisfies the arity.
    pub fn arity_ok(&self, argc: usize) -> bool {
        let argc = argc as i64;
        let arity = self.arity as i64;
        if arity >= 0 {
            argc == arity
        } else {
            argc >= -arity
        }
    }

    /// Argument indexes that hold keys, for a command line of `argc`
    /// arguments (counting the name).
    pub fn key_indexes(&self, argc: usize) -> impl Iterator<Item = usize> {
        let (first, last, step) = if self.first_key <= 0 || argc == 0 {
            (1usize, 0usize, 1usize)
        } else {
            let last = if self.last_key < 0 {
                argc as i64 + self.last_key as i64
            } else {
                (self.last_key as i64).min(argc as i64 - 1)
            };
            (
                self.first_key as usize,
                last.max(0) as usize,
                self.step.max(1) as usize,
            )
        };
        (first..=last).step_by(step).filter(move |&i| i < argc)
    }

    /// The subcommand named `sub` (case-insensitive), if this is a
    /// container command.
    pub fn subcommand(&'static self, sub: &[u8]) -> Option<&'static CommandSpec> {
        let parent = self.name.len() + 1;
        self.subcommands.iter().find(|s| {
            s.name.len() > parent && s.name.as_bytes()[parent..].eq_ignore_ascii_case(sub)
        })
    }
}

/// Every command and subcommand in the table.
pub fn all_specs() -> impl Iterator<Item = &'static CommandSpec> {
    COMMANDS
        .iter()
        .flat_map(|c| std::iter::once(c).chain(c.subcommands.iter()))
}

/// Look up a top-level command by name, case-insensitively.
///
/// This runs for every command a client sends, so it is one hash of the
/// folded name ([`fold_name`]), one probe and one case-insensitive
/// comparison, not a search through the table, and nothing is copied.
pub fn lookup(name: &[u8]) -> Option<&'static CommandSpec> {
    static INDEX: OnceLock<HashMap<(u64, u64), &'static CommandSpec>> = OnceLock::new();
    let folded = fold_name(name)?;
    let index = INDEX.get_or_init(|| {
        let index: HashMap<_, _> = COMMANDS
            .iter()
            .filter_map(|c| Some((fold_name(c.name.as_bytes())?, c)))
            .collect();
        debug_assert_eq!(index.len(), COMMANDS.len(), "command names fold apart");
        index
    });
    index
        .get(&folded)
        .copied()
        .filter(|spec| spec.name.as_bytes().eq_ignore_ascii_case(name))
}

/// A command name of 1 to 16 bytes as two words, every byte ORed with
/// 0x20 (which lowercases ASCII letters) and absent bytes zero, so the
/// length is part of the value. Non-letters may fold onto one another
/// (`@` and `` ` ``), so a match is confirmed by comparing the names.
fn fold_name(name: &[u8]) -> Option<(u64, u64)> {
    if name.is_empty() || name.len() > 16 {
        return None;
    }
    let mut words = [0u64; 2];
    for (i, &b) in name.iter().enumerate() {
        words[i / 8] |= u64::from(b | 0x20) << (8 * (i % 8));
    }
    Some((words[0], words[1]))
}

/// Resolve a command line against the table, with Redis' exact errors for
/// an unknown command, an unknown subcommand and a wrong argument count.
pub fn resolve(args: &[Bytes]) -> Result<&'static CommandSpec, Reply> {
    let Some(name) = args.first() else {
        return Err(Reply::static_error("ERR empty command"));
    };
    let Some(spec) = lookup(name) else {
        return Err(unknown_command(args));
    };
    if !spec.subcommands.is_empty() && args.len() >= 2 {
        return match spec.subcommand(&args[1]) {
            Some(sub) if sub.arity_ok(args.len()) => Ok(sub),
            Some(sub) => Err(wrong_arity(sub.name)),
            None => {
                let mut text = b"ERR unknown subcommand '".to_vec();
                text.extend_from_slice(c_str(&args[1], 128));
                text.extend_from_slice(b"'. Try ");
                text.extend_from_slice(spec.name.to_ascii_uppercase().as_bytes());
                text.extend_from_slice(b" HELP.");
                Err(Reply::Error(Bytes::from(text)))
            }
        };
    }
    if !spec.arity_ok(args.len()) {
        return Err(wrong_arity(spec.name));
    }
    Ok(spec)
}

/// `ERR wrong number of arguments for 'get' command`.
pub fn wrong_arity(name: &str) -> Reply {
    Reply::error(format!(
        "ERR wrong number of arguments for '{name}' command"
    ))
}

/// Redis' `unknown command '%.128s', with args beginning with: %s`, each
/// argument as `'%.*s' ` while the list is under 128 bytes. The bytes are
/// echoed as they came (not necessarily UTF-8) and each is cut at its first
/// NUL, as C's `%s` does; the encoder turns line breaks into spaces.
fn unknown_command(args: &[Bytes]) -> Reply {
    let mut rest = Vec::new();
    for arg in &args[1..] {
        if rest.len() >= 128 {
            break;
        }
        let room = 128 - rest.len();
        rest.push(b'\'');
        rest.extend_from_slice(c_str(arg, room));
        rest.extend_from_slice(b"' ");
    }
    let mut text = b"ERR unknown command '".to_vec();
    text.extend_from_slice(c_str(&args[0], 128));
    text.extend_from_slice(b"', with args beginning with: ");
    text.extend_from_slice(&rest);
    Reply::Error(Bytes::from(text))
}

/// What C's `%.<max>s` prints of `b`: up to `max` bytes, ending at a NUL.
fn c_str(b: &[u8], max: usize) -> &[u8] {
    let b = &b[..b.len().min(max)];
    match b.iter().position(|&c| c == 0) {
        Some(nul) => &b[..nul],
        None => b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_sorted_and_lowercase() {
        for pair in COMMANDS.windows(2) {
            assert!(
                pair[0].name < pair[1].name,
                "{} before {}",
                pair[0].name,
                pair[1].name
            );
        }
        for spec in all_specs() {
            assert_eq!(spec.name, spec.name.to_ascii_lowercase());
        }
    }

    #[test]
    fn subcommands_are_named_after_their_parent() {
        for c in COMMANDS {
            for s in c.subcommands {
                assert!(s.name.starts_with(&format!("{}|", c.name)), "{}", s.name);
            }
        }
    }

    #[test]
    fn resolve_gives_redis_errors() {
        let line = |parts: &[&str]| -> Vec<Bytes> {
            parts
                .iter()
                .map(|p| Bytes::copy_from_slice(p.as_bytes()))
                .collect()
        };
        assert_eq!(resolve(&line(&["GeT", "k"])).map(|s| s.name), Ok("get"));
        assert_eq!(
            resolve(&line(&["get"])).expect_err("fails"),
            Reply::error("ERR wrong number of arguments for 'get' command")
        );
        assert_eq!(
            resolve(&line(&["nope", "a", "b"])).expect_err("fails"),
            Reply::error("ERR unknown command 'nope', with args beginning with: 'a' 'b' ")
        );
    }

    #[test]
    fn unknown_names_are_echoed_as_bytes_up_to_a_nul() {
        let line = |parts: &[&[u8]]| -> Vec<Bytes> {
            parts.iter().map(|p| Bytes::copy_from_slice(p)).collect()
        };
        assert_eq!(
            resolve(&line(&[b"f\xe9\xff", b"a\xfeb", b"x\0y"])).expect_err("fails"),
            Reply::Error(Bytes::from_static(
                b"ERR unknown command 'f\xe9\xff', with args beginning with: 'a\xfeb' 'x' "
            ))
        );
        assert_eq!(
            resolve(&line(&[b"client", b"n\xffo\0p"])).expect_err("fails"),
            Reply::Error(Bytes::from_static(
                b"ERR unknown subcommand 'n\xffo'. Try CLIENT HELP."
            ))
        );
    }

    #[test]
    fn key_positions() {
        let mset = lookup(b"mset").expect("test step");
        let keys: Vec<usize> = mset.key_indexes(5).collect();
        assert_eq!(keys, vec![1, 3]);
        let get = lookup(b"get").expect("test step");
        assert_eq!(get.key_indexes(2).collect::<Vec<_>>(), vec![1]);
        let ping = lookup(b"ping").expect("test step");
        assert_eq!(ping.key_indexes(1).count(), 0);
    }

    #[test]
    fn every_command_has_its_own_id() {
        let mut seen = std::collections::HashMap::new();
        for spec in all_specs() {
            if let Some(other) = seen.insert(spec.id, spec.name) {
                panic!("{} and {other} share {:?}", spec.name, spec.id);
            }
        }
        assert_eq!(lookup(b"GET").map(|s| s.id), Some(CommandId::Get));
        let client = lookup(b"client").expect("test step");
        assert_eq!(client.id, CommandId::Client);
        assert_eq!(
            client.subcommand(b"NO-EVICT").map(|s| s.id),
            Some(CommandId::ClientNoEvict)
        );
    }

    /// The routing facts reproduce what the connection used to decide by
    /// name: the session commands, what MULTI runs at once, queues or
    /// refuses, and the commands that reach other dbs.
    #[test]
    fn routing_facts() {
        let names = |pick: &dyn Fn(&Routing) -> bool| -> Vec<&str> {
            all_specs()
                .filter(|s| pick(&s.routing))
                .map(|s| s.name)
                .collect()
        };
        let session = names(&|r| r.session);
        assert!(session.contains(&"client|kill"), "{session:?}");
        assert_eq!(
            session.iter().filter(|n| !n.starts_with("client")).count(),
            18,
            "{session:?}"
        );
        assert_eq!(
            names(&|r| r.in_multi == InMulti::Run),
            ["discard", "exec", "multi", "quit", "reset", "watch"]
        );
        // Session commands are refused inside MULTI, except those MULTI
        // runs, and SELECT and UNWATCH, which it queues (as Redis does).
        for spec in all_specs().filter(|s| s.routing.session) {
            let want = match spec.name {
                "select" | "unwatch" => InMulti::Queue,
                "discard" | "exec" | "multi" | "quit" | "reset" | "watch" => InMulti::Run,
                _ => InMulti::Refuse,
            };
            assert_eq!(spec.routing.in_multi, want, "{}", spec.name);
        }
        for spec in all_specs().filter(|s| s.is_no_multi()) {
            assert_ne!(spec.routing.in_multi, InMulti::Queue, "{}", spec.name);
        }
        // Scripts may SELECT inside (redis.call('select', n)).
        assert_eq!(
            names(&|r| r.dbs != Dbs::One),
            [
                "copy",
                "eval",
                "eval_ro",
                "evalsha",
                "evalsha_ro",
                "fcall",
                "fcall_ro",
                "flushall",
                "select",
                "swapdb"
            ]
        );
        // Redis' blocking flag makes a command blocking.
        for name in ["blpop", "brpop", "blmove", "brpoplpush", "blmpop"] {
            assert!(names(&|r| r.blocking).contains(&name), "{name}");
        }
        assert!(!names(&|r| r.blocking).contains(&"lpop"));
        for spec in all_specs().filter(|s| s.routing.cached_read.is_some()) {
            assert!(spec.is_readonly() && !spec.routing.session, "{}", spec.name);
        }
    }

    /// COMMAND INFO shows the flags Redis shows, in Redis' order, and hides
    /// the ones Redis hides.
    #[test]
    fn flag_names_follow_redis() {
        let all = Flags::WRITE
            | Flags::NO_MULTI
            | Flags::NO_ASYNC_LOADING
            | Flags::MAY_REPLICATE
            | Flags::PROTECTED
            | Flags::TOUCHES_ARBITRARY_KEYS
            | Flags::ASKING
            | Flags::FAST;
        assert_eq!(
            all.names().collect::<Vec<_>>(),
            ["write", "asking", "fast", "no_async_loading", "no_multi"]
        );
    }

    #[test]
    fn lookup_finds_every_command_in_any_case_and_nothing_else() {
        for spec in COMMANDS {
            let upper = spec.name.to_ascii_uppercase();
            let found = lookup(upper.as_bytes()).map(|s| s.name);
            assert_eq!(found, Some(spec.name));
            let mut mixed = spec.name.as_bytes().to_vec();
            mixed[0] = mixed[0].to_ascii_uppercase();
            assert_eq!(lookup(&mixed).map(|s| s.name), Some(spec.name));
        }
        // Prefixes, extensions, control and padding bytes.
        for other in [
            &b"ge"[..],
            b"gett",
            b"get\0",
            b"get ",
            b"\x07et",
            b"",
            b"x_very_long_command_name",
        ] {
            assert_eq!(lookup(other).map(|s| s.name), None, "{other:?}");
        }
    }
}
