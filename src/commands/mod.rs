//! Commands: the one home of every command's semantics, for every backend.
//!
//! ```text
//! Request ─► command table entry ─► handler here
//!                                     │ parse the arguments into a struct
//!                                     ▼ apply it to a Keyspace
//!            memory store: the keyspace itself
//!            DynamoDB store: a recording keyspace (read set, write set)
//! ```
//!
//! - [`keyspace`]: the [`Keyspace`] trait the handlers apply to.
//! - [`strings`], [`keys`]: commands on keys, one struct each, all of the
//!   same shape ([`KeyCommand`]: parse, then apply).
//! - [`server`]: the whole-db commands (KEYS, SCAN, FLUSHDB …), parsed
//!   here and walked by each store.
//! - [`transactions`]: EXEC's body.
//! - [`args`]: argument parsing shared by several commands, with Redis'
//!   exact error replies.
//!
//! Session commands (HELLO, AUTH, CLIENT, MULTI …) belong to the connection
//! and admin commands (INFO, CONFIG, COMMAND …) to the admin layer; neither
//! reaches a store. [`route`] says where everything else goes.

pub mod args;
pub mod keys;
pub mod keyspace;
pub mod server;
pub mod strings;
pub mod transactions;

use bytes::Bytes;
use redynamo_layers::{Command, Reply};

pub use args::*;
pub use keyspace::{Clock, Interrupt, Keyspace, Ks};

/// The shape of every keyed command: a struct parsed from the arguments,
/// then applied to a keyspace.
///
/// `parse` gives Redis' argument errors (the table has checked arity); it
/// may read the clock, for options that take a relative expiry. `apply`
/// must be a pure function of what it reads from the keyspace, because a
/// recording keyspace may stop it ([`Interrupt::Load`]) and run it again
/// from `parse`.
pub trait KeyCommand<'a>: Sized {
    fn parse(args: &'a [Bytes], clock: &mut impl Clock) -> Result<Self, Reply>;
    fn apply<K: Keyspace>(self, ks: &mut K) -> Ks<Reply>;
}

/// Parse and apply one command of type `C`.
#[inline]
fn run<'a, C: KeyCommand<'a>, K: Keyspace>(args: &'a [Bytes], ks: &mut K) -> Ks<Reply> {
    match C::parse(args, ks) {
        Ok(cmd) => cmd.apply(ks),
        Err(reply) => Ok(reply),
    }
}

/// Parse-and-apply for the commands whose struct serves several names.
#[inline]
fn parsed<K: Keyspace>(parsed: Result<strings::IncrBy<'_>, Reply>, ks: &mut K) -> Ks<Reply> {
    match parsed {
        Ok(cmd) => cmd.apply(ks),
        Err(reply) => Ok(reply),
    }
}

/// Where a command that reaches a store goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Route {
    /// A keyed command: [`apply`] it to the store's keyspace.
    Keyed,
    /// A whole-db command: [`server::DbCommand`].
    Db,
    /// EXEC, with the queued commands in `Request::transaction`.
    Exec,
    /// WATCH key [key ...].
    Watch,
    /// UNWATCH.
    Unwatch,
    /// Nothing a store answers (session and admin commands).
    NotStored,
}

/// Where `name` (a command table name) is executed.
pub fn route(name: &str) -> Route {
    match name {
        "keys" | "scan" | "randomkey" | "dbsize" | "flushdb" | "flushall" | "swapdb" => Route::Db,
        "exec" => Route::Exec,
        "watch" => Route::Watch,
        "unwatch" => Route::Unwatch,
        _ if is_keyed(name) => Route::Keyed,
        _ => Route::NotStored,
    }
}

/// Whether `name` is a keyed command ([`apply`] answers it).
fn is_keyed(name: &str) -> bool {
    KEYED.contains(&name)
}

/// The keyed commands, in [`apply`]'s order.
const KEYED: &[&str] = &[
    "get",
    "set",
    "setnx",
    "setex",
    "psetex",
    "getset",
    "getdel",
    "getex",
    "mget",
    "mset",
    "msetnx",
    "incr",
    "decr",
    "incrby",
    "decrby",
    "incrbyfloat",
    "append",
    "strlen",
    "getrange",
    "substr",
    "setrange",
    "del",
    "unlink",
    "exists",
    "touch",
    "type",
    "expire",
    "pexpire",
    "expireat",
    "pexpireat",
    "ttl",
    "pttl",
    "expiretime",
    "pexpiretime",
    "persist",
    "rename",
    "renamenx",
    "copy",
    "select",
];

/// Apply the keyed command `cmd` to `ks`; None when `cmd` is not keyed
/// ([`route`] is not [`Route::Keyed`]).
pub fn apply<K: Keyspace>(cmd: &Command, ks: &mut K) -> Option<Ks<Reply>> {
    use keys::*;
    use strings::*;
    let a = &cmd.args[..];
    Some(match cmd.spec.name {
        "get" => run::<Get, K>(a, ks),
        "set" => run::<Set, K>(a, ks),
        "setnx" => run::<SetNx, K>(a, ks),
        "setex" => run::<SetExSeconds, K>(a, ks),
        "psetex" => run::<SetExMillis, K>(a, ks),
        "getset" => run::<GetSet, K>(a, ks),
        "getdel" => run::<GetDel, K>(a, ks),
        "getex" => run::<GetEx, K>(a, ks),
        "mget" => run::<MGet, K>(a, ks),
        "mset" => run::<MSet, K>(a, ks),
        "msetnx" => run::<MSetNx, K>(a, ks),
        "incr" => IncrBy::one(a, 1).apply(ks),
        "decr" => IncrBy::one(a, -1).apply(ks),
        "incrby" => parsed(IncrBy::parse_incrby(a), ks),
        "decrby" => parsed(IncrBy::parse_decrby(a), ks),
        "incrbyfloat" => run::<IncrByFloat, K>(a, ks),
        "append" => run::<Append, K>(a, ks),
        "strlen" => run::<StrLen, K>(a, ks),
        "getrange" | "substr" => run::<GetRange, K>(a, ks),
        "setrange" => run::<SetRange, K>(a, ks),
        "del" | "unlink" => run::<Del, K>(a, ks),
        "exists" | "touch" => run::<Exists, K>(a, ks),
        "type" => run::<Type, K>(a, ks),
        "expire" | "pexpire" | "expireat" | "pexpireat" => run::<Expire, K>(a, ks),
        "ttl" => Ttl::new(a, TtlKind::Seconds).apply(ks),
        "pttl" => Ttl::new(a, TtlKind::Millis).apply(ks),
        "expiretime" => Ttl::new(a, TtlKind::UnixSeconds).apply(ks),
        "pexpiretime" => Ttl::new(a, TtlKind::UnixMillis).apply(ks),
        "persist" => run::<Persist, K>(a, ks),
        "rename" => Rename::new(a, false).apply(ks),
        "renamenx" => Rename::new(a, true).apply(ks),
        "copy" => run::<Copy, K>(a, ks),
        "select" => run::<Select, K>(a, ks),
        _ => return None,
    })
}

/// The error a store gives a command it cannot run.
pub fn unsupported(name: &str, backend: &str) -> Reply {
    Reply::error(format!(
        "ERR command '{name}' is not supported by the {backend} backend"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_keyed_name_is_applied_and_routed() {
        for name in KEYED {
            assert_eq!(route(name), Route::Keyed, "{name}");
        }
        assert_eq!(route("keys"), Route::Db);
        assert_eq!(route("client"), Route::NotStored);
    }
}
