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
//! - [`strings`], [`bits`], [`keys`], [`object`], [`hashes`], [`lists`],
//!   [`sets`], [`zsets`]: commands on keys, one struct each,
//!   all of the same shape ([`KeyCommand`]: parse, then apply).
//! - [`server`]: the whole-db commands (KEYS, SCAN, FLUSHDB …), parsed
//!   here and walked by each store.
//! - [`lists`]: the list commands, and the blocking commands' outcome
//!   ([`Blocking`]), which [`apply_blocking`] gives a store that parks
//!   clients.
//! - [`transactions`]: EXEC's body.
//! - [`args`]: argument parsing shared by several commands, with Redis'
//!   exact error replies.
//!
//! Session commands (HELLO, AUTH, CLIENT, MULTI …) belong to the session
//! ([`crate::session`]) and admin commands (INFO, CONFIG, COMMAND …) to the admin layer; neither
//! reaches a store. [`route`] says where everything else goes.

pub mod args;
pub mod bits;
pub mod hashes;
pub mod keys;
pub mod keyspace;
pub mod lists;
pub mod notify;
pub mod object;
pub mod server;
pub mod sets;
pub mod sort;
pub mod strings;
pub mod transactions;
pub mod zsets;

use bytes::Bytes;
use redynamo_layers::command::{CommandId, CommandSpec};
use redynamo_layers::{Command, Reply};

pub use args::*;
pub use keyspace::{Clock, Interrupt, Keyspace, Ks};
pub use lists::{Blocking, End, Wait};

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

/// Apply a command parsed by a constructor of its own (the structs that
/// serve several names), or give its parse error.
#[inline]
fn or_reply<C>(parsed: Result<C, Reply>, apply: impl FnOnce(C) -> Ks<Reply>) -> Ks<Reply> {
    match parsed {
        Ok(cmd) => apply(cmd),
        Err(reply) => Ok(reply),
    }
}

fn zrange<K: Keyspace>(a: &[Bytes], form: zsets::RangeForm, ks: &mut K) -> Ks<Reply> {
    or_reply(zsets::ZRange::parse_form(a, form), |c| c.apply(ks))
}

fn zremrange<K: Keyspace>(a: &[Bytes], by: zsets::RemBy, ks: &mut K) -> Ks<Reply> {
    or_reply(zsets::ZRemRange::parse_by(a, by), |c| c.apply(ks))
}

fn zsetop<K: Keyspace>(
    a: &[Bytes],
    op: zsets::SetOpKind,
    store: bool,
    card: bool,
    name: &str,
    ks: &mut K,
) -> Ks<Reply> {
    or_reply(zsets::ZSetOp::parse_op(a, op, store, card, name), |c| {
        c.apply(ks)
    })
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
    /// EVAL, EVALSHA, FCALL, SCRIPT …, FUNCTION … (and their `_RO`
    /// forms): run by the store's Lua engine ([`crate::scripting`]).
    Script,
    /// Nothing a store answers (session and admin commands).
    NotStored,
}

/// Where the command `spec` names is executed: an exhaustive match on the
/// table's [`CommandId`], so a command added to the table does not compile
/// until it is routed here.
pub fn route(spec: &CommandSpec) -> Route {
    use CommandId::*;
    match spec.id {
        Get | Set | Setnx | Setex | Psetex | Getset | Getdel | Getex | Mget | Mset | Msetnx
        | Incr | Decr | Incrby | Decrby | Incrbyfloat | Append | Strlen | Getrange | Substr
        | Setrange | Del | Unlink | Exists | Touch | Type | Expire | Pexpire | Expireat
        | Pexpireat | Ttl | Pttl | Expiretime | Pexpiretime | Persist | Rename | Renamenx
        | Copy | Select => Route::Keyed,
        ObjectEncoding | ObjectFreq | ObjectIdletime | ObjectRefcount | ObjectHelp
        | MemoryUsage | MemoryHelp | Sort | SortRo => Route::Keyed,
        Hset | Hsetnx | Hget | Hmget | Hmset | Hdel | Hlen | Hstrlen | Hexists | Hkeys | Hvals
        | Hgetall | Hincrby | Hincrbyfloat | Hrandfield | Hscan => Route::Keyed,
        Setbit | Getbit | Bitcount | Bitpos | Bitop | Bitfield | BitfieldRo | Lcs => Route::Keyed,
        Sadd | Srem | Scard | Sismember | Smismember | Smembers | Srandmember | Spop | Smove
        | Sinter | Sintercard | Sinterstore | Sunion | Sunionstore | Sdiff | Sdiffstore | Sscan => {
            Route::Keyed
        }
        // Sorted sets (commands/zsets.rs).
        Zadd | Zincrby | Zrem | Zcard | Zscore | Zmscore | Zrank | Zrevrank | Zcount
        | Zlexcount | Zrange | Zrangestore | Zrangebyscore | Zrevrangebyscore | Zrangebylex
        | Zrevrangebylex | Zrevrange | Zremrangebyrank | Zremrangebyscore | Zremrangebylex
        | Zpopmin | Zpopmax | Zmpop | Zrandmember | Zunion | Zunionstore | Zinter | Zinterstore
        | Zintercard | Zdiff | Zdiffstore | Zscan => Route::Keyed,
        Lpush | Rpush | Lpushx | Rpushx | Lpop | Rpop | Llen | Lrange | Lindex | Lset | Linsert
        | Lrem | Ltrim | Lpos | Lmove | Rpoplpush | Lmpop | Blpop | Brpop | Blmove | Brpoplpush
        | Bzpopmin | Bzpopmax | Bzmpop | Blmpop => Route::Keyed,
        Keys | Scan | Randomkey | Dbsize | Flushdb | Flushall | Swapdb => Route::Db,
        Exec => Route::Exec,
        Eval | EvalRo | Evalsha | EvalshaRo | Fcall | FcallRo | Script | ScriptExists
        | ScriptFlush | ScriptHelp | ScriptKill | ScriptLoad | Function | FunctionDelete
        | FunctionDump | FunctionFlush | FunctionHelp | FunctionKill | FunctionList
        | FunctionLoad | FunctionRestore | FunctionStats => Route::Script,
        Watch => Route::Watch,
        Unwatch => Route::Unwatch,
        // The session's (connection) and the admin layer's.
        Acl | AclCat | AclDeluser | AclDryrun | AclGenpass | AclGetuser | AclHelp | AclList
        | AclLoad | AclLog | AclSave | AclSetuser | AclUsers | AclWhoami => Route::NotStored,
        Auth | Client | ClientGetname | ClientHelp | ClientId | ClientInfo | ClientKill
        | ClientList | ClientNoEvict | ClientNoTouch | ClientPause | ClientUnpause
        | ClientSetinfo | ClientSetname | ClientUnblock | Command | CommandCount | CommandDocs
        | CommandGetkeys | CommandHelp | CommandInfo | CommandList | Config | ConfigGet
        | ConfigHelp | ConfigResetstat | ConfigRewrite | ConfigSet | Discard | Echo | Hello
        | Info | Lastsave | Monitor | Multi | Ping | Quit | Reset | Slowlog | SlowlogGet
        | SlowlogHelp | SlowlogLen | SlowlogReset | Time | Object | Memory | MemoryStats
        | MemoryDoctor | Shutdown | Wait | Waitaof | Latency | LatencyDoctor | LatencyHelp
        | LatencyHistory | LatencyLatest | LatencyReset | Debug => Route::NotStored,
        // Pub/Sub: the session's (the subscribe family) and the admin
        // layer's (PUBLISH, SPUBLISH, PUBSUB …), over the server's registry.
        Subscribe | Unsubscribe | Psubscribe | Punsubscribe | Ssubscribe | Sunsubscribe
        | Publish | Spublish | Pubsub | PubsubChannels | PubsubHelp | PubsubNumpat
        | PubsubNumsub | PubsubShardchannels | PubsubShardnumsub => Route::NotStored,
        ClientTracking | ClientCaching | ClientGetredir | ClientTrackinginfo => Route::NotStored,
    }
}

/// Apply the keyed command `cmd` to `ks`; None when `cmd` is not keyed
/// ([`route`] is not [`Route::Keyed`]).
pub fn apply<K: Keyspace>(cmd: &Command, ks: &mut K) -> Option<Ks<Reply>> {
    use keys::*;
    use object::{MemoryUsage, Object, ObjectOp};
    use strings::*;
    use CommandId as Id;
    let a = &cmd.args[..];
    Some(match cmd.spec.id {
        Id::Get => run::<Get, K>(a, ks),
        Id::Set => run::<Set, K>(a, ks),
        Id::Setnx => run::<SetNx, K>(a, ks),
        Id::Setex => run::<SetExSeconds, K>(a, ks),
        Id::Psetex => run::<SetExMillis, K>(a, ks),
        Id::Getset => run::<GetSet, K>(a, ks),
        Id::Getdel => run::<GetDel, K>(a, ks),
        Id::Getex => run::<GetEx, K>(a, ks),
        Id::Mget => run::<MGet, K>(a, ks),
        Id::Mset => run::<MSet, K>(a, ks),
        Id::Msetnx => run::<MSetNx, K>(a, ks),
        Id::Incr => IncrBy::one(a, 1).apply(ks),
        Id::Decr => IncrBy::one(a, -1).apply(ks),
        Id::Incrby => parsed(IncrBy::parse_incrby(a), ks),
        Id::Decrby => parsed(IncrBy::parse_decrby(a), ks),
        Id::Incrbyfloat => run::<IncrByFloat, K>(a, ks),
        Id::Append => run::<Append, K>(a, ks),
        Id::Strlen => run::<StrLen, K>(a, ks),
        Id::Getrange | Id::Substr => run::<GetRange, K>(a, ks),
        Id::Setrange => run::<SetRange, K>(a, ks),
        Id::Del | Id::Unlink => run::<Del, K>(a, ks),
        Id::Exists | Id::Touch => run::<Exists, K>(a, ks),
        Id::Type => run::<Type, K>(a, ks),
        Id::Expire | Id::Pexpire | Id::Expireat | Id::Pexpireat => run::<Expire, K>(a, ks),
        Id::Ttl => Ttl::new(a, TtlKind::Seconds).apply(ks),
        Id::Pttl => Ttl::new(a, TtlKind::Millis).apply(ks),
        Id::Expiretime => Ttl::new(a, TtlKind::UnixSeconds).apply(ks),
        Id::Pexpiretime => Ttl::new(a, TtlKind::UnixMillis).apply(ks),
        Id::Persist => run::<Persist, K>(a, ks),
        Id::Rename => Rename::new(a, false).apply(ks),
        Id::Renamenx => Rename::new(a, true).apply(ks),
        Id::Copy => run::<Copy, K>(a, ks),
        Id::Select => run::<Select, K>(a, ks),
        Id::ObjectEncoding => Object::new(a, ObjectOp::Encoding).apply(ks),
        Id::ObjectFreq => Object::new(a, ObjectOp::Freq).apply(ks),
        Id::ObjectIdletime => Object::new(a, ObjectOp::IdleTime).apply(ks),
        Id::ObjectRefcount => Object::new(a, ObjectOp::RefCount).apply(ks),
        Id::ObjectHelp => Ok(object::object_help()),
        Id::MemoryUsage => run::<MemoryUsage, K>(a, ks),
        Id::MemoryHelp => Ok(object::memory_help()),
        Id::Sort => or_reply(sort::Sort::parse(a, false), |c| c.apply(ks)),
        Id::SortRo => or_reply(sort::Sort::parse(a, true), |c| c.apply(ks)),
        Id::Hset => run::<hashes::HSetCmd, K>(a, ks),
        Id::Hmset => run::<hashes::HMSet, K>(a, ks),
        Id::Hsetnx => run::<hashes::HSetNx, K>(a, ks),
        Id::Hget => run::<hashes::HGet, K>(a, ks),
        Id::Hmget => run::<hashes::HMGet, K>(a, ks),
        Id::Hdel => run::<hashes::HDel, K>(a, ks),
        Id::Hlen => hashes::HCount::new(a, hashes::HashCount::Fields).apply(ks),
        Id::Hstrlen => hashes::HCount::new(a, hashes::HashCount::ValueLen).apply(ks),
        Id::Hexists => hashes::HCount::new(a, hashes::HashCount::Exists).apply(ks),
        Id::Hkeys => hashes::HGetAll::new(a, hashes::HashPart::Fields).apply(ks),
        Id::Hvals => hashes::HGetAll::new(a, hashes::HashPart::Values).apply(ks),
        Id::Hgetall => hashes::HGetAll::new(a, hashes::HashPart::Both).apply(ks),
        Id::Hincrby => run::<hashes::HIncrBy, K>(a, ks),
        Id::Hincrbyfloat => run::<hashes::HIncrByFloat, K>(a, ks),
        Id::Hrandfield => run::<hashes::HRandField, K>(a, ks),
        Id::Hscan => run::<hashes::HScan, K>(a, ks),
        Id::Setbit => run::<bits::SetBit, K>(a, ks),
        Id::Getbit => run::<bits::GetBit, K>(a, ks),
        Id::Bitcount => run::<bits::BitCount, K>(a, ks),
        Id::Bitpos => run::<bits::BitPos, K>(a, ks),
        Id::Bitop => run::<bits::BitOpCommand, K>(a, ks),
        Id::Bitfield => bits::BitField::new(a, false).apply(ks),
        Id::BitfieldRo => bits::BitField::new(a, true).apply(ks),
        Id::Lcs => run::<bits::Lcs, K>(a, ks),
        Id::Sadd => run::<sets::SAdd, K>(a, ks),
        Id::Srem => run::<sets::SRem, K>(a, ks),
        Id::Scard => run::<sets::SCard, K>(a, ks),
        Id::Sismember => run::<sets::SIsMember, K>(a, ks),
        Id::Smismember => run::<sets::SMIsMember, K>(a, ks),
        Id::Smembers => run::<sets::SMembers, K>(a, ks),
        Id::Srandmember => run::<sets::SRandMember, K>(a, ks),
        Id::Spop => run::<sets::SPop, K>(a, ks),
        Id::Smove => run::<sets::SMove, K>(a, ks),
        Id::Sinter => run::<sets::SInter, K>(a, ks),
        Id::Sintercard => run::<sets::SInterCard, K>(a, ks),
        Id::Sinterstore => run::<sets::SInterStore, K>(a, ks),
        Id::Sunion => sets::SUnionDiff::union(a).apply(ks),
        Id::Sdiff => sets::SUnionDiff::diff(a).apply(ks),
        Id::Sunionstore => sets::SUnionDiffStore::union(a).apply(ks),
        Id::Sdiffstore => sets::SUnionDiffStore::diff(a).apply(ks),
        Id::Sscan => run::<sets::SScan, K>(a, ks),
        Id::Zadd => run::<zsets::ZAdd, K>(a, ks),
        Id::Zincrby => run::<zsets::ZIncrBy, K>(a, ks),
        Id::Zrem => run::<zsets::ZRem, K>(a, ks),
        Id::Zcard => run::<zsets::ZCard, K>(a, ks),
        Id::Zscore => run::<zsets::ZScore, K>(a, ks),
        Id::Zmscore => run::<zsets::ZMScore, K>(a, ks),
        Id::Zrank => or_reply(zsets::ZRank::parse_with(a, false), |c| c.apply(ks)),
        Id::Zrevrank => or_reply(zsets::ZRank::parse_with(a, true), |c| c.apply(ks)),
        Id::Zcount => run::<zsets::ZCount, K>(a, ks),
        Id::Zlexcount => run::<zsets::ZLexCount, K>(a, ks),
        Id::Zrange => zrange(a, zsets::RangeForm::Range, ks),
        Id::Zrangestore => zrange(a, zsets::RangeForm::Store, ks),
        Id::Zrangebyscore => zrange(a, zsets::RangeForm::RangeByScore, ks),
        Id::Zrevrangebyscore => zrange(a, zsets::RangeForm::RevRangeByScore, ks),
        Id::Zrangebylex => zrange(a, zsets::RangeForm::RangeByLex, ks),
        Id::Zrevrangebylex => zrange(a, zsets::RangeForm::RevRangeByLex, ks),
        Id::Zrevrange => zrange(a, zsets::RangeForm::RevRange, ks),
        Id::Zremrangebyrank => zremrange(a, zsets::RemBy::Rank, ks),
        Id::Zremrangebyscore => zremrange(a, zsets::RemBy::Score, ks),
        Id::Zremrangebylex => zremrange(a, zsets::RemBy::Lex, ks),
        Id::Zpopmin => or_reply(zsets::ZPop::parse_with(a, false), |c| c.apply(ks)),
        Id::Zpopmax => or_reply(zsets::ZPop::parse_with(a, true), |c| c.apply(ks)),
        Id::Zmpop => run::<zsets::ZMPop, K>(a, ks),
        Id::Zrandmember => run::<zsets::ZRandMember, K>(a, ks),
        Id::Zunion => zsetop(a, zsets::SetOpKind::Union, false, false, "zunion", ks),
        Id::Zunionstore => zsetop(a, zsets::SetOpKind::Union, true, false, "zunionstore", ks),
        Id::Zinter => zsetop(a, zsets::SetOpKind::Inter, false, false, "zinter", ks),
        Id::Zinterstore => zsetop(a, zsets::SetOpKind::Inter, true, false, "zinterstore", ks),
        Id::Zintercard => zsetop(a, zsets::SetOpKind::Inter, false, true, "zintercard", ks),
        Id::Zdiff => zsetop(a, zsets::SetOpKind::Diff, false, false, "zdiff", ks),
        Id::Zdiffstore => zsetop(a, zsets::SetOpKind::Diff, true, false, "zdiffstore", ks),
        Id::Zscan => run::<zsets::ZScan, K>(a, ks),
        Id::Lpush => lists::Push::new(a, End::Front, false).apply(ks),
        Id::Rpush => lists::Push::new(a, End::Back, false).apply(ks),
        Id::Lpushx => lists::Push::new(a, End::Front, true).apply(ks),
        Id::Rpushx => lists::Push::new(a, End::Back, true).apply(ks),
        Id::Lpop => or_reply(lists::Pop::parse(a, End::Front), |c| c.apply(ks)),
        Id::Rpop => or_reply(lists::Pop::parse(a, End::Back), |c| c.apply(ks)),
        Id::Llen => run::<lists::LLen, K>(a, ks),
        Id::Lrange => run::<lists::LRange, K>(a, ks),
        Id::Lindex => run::<lists::LIndex, K>(a, ks),
        Id::Lset => run::<lists::LSet, K>(a, ks),
        Id::Linsert => run::<lists::LInsert, K>(a, ks),
        Id::Lrem => run::<lists::LRem, K>(a, ks),
        Id::Ltrim => run::<lists::LTrim, K>(a, ks),
        Id::Lpos => run::<lists::LPos, K>(a, ks),
        Id::Lmove => or_reply(lists::LMove::parse_lmove(a), |c| c.apply(ks)),
        Id::Rpoplpush => lists::LMove::rpoplpush(a).apply(ks),
        Id::Lmpop => run::<lists::LMPop, K>(a, ks),
        // Where a client may not block (inside MULTI, or a store that
        // parks nobody), a blocking command that finds nothing answers
        // at once, as Redis answers a client with CLIENT_DENY_BLOCKING.
        _ => {
            return apply_blocking(cmd, ks).map(|outcome| {
                outcome.map(|b| match b {
                    Blocking::Done(reply) => reply,
                    Blocking::Wait(wait) => wait.instead,
                })
            })
        }
    })
}

/// Apply the blocking command `cmd` (the table's `blocking` routing fact)
/// to `ks`: its reply, or what it would wait for ([`lists::Wait`]); None
/// when `cmd` is not one. A store that parks clients calls this instead
/// of [`apply`] for blocking commands, and again, on the waiter's behalf,
/// whenever a key it waits on may be ready.
pub fn apply_blocking<K: Keyspace>(cmd: &Command, ks: &mut K) -> Option<Ks<Blocking>> {
    use CommandId as Id;
    let a = &cmd.args[..];
    let parsed = match cmd.spec.id {
        Id::Blpop => lists::BPop::parse_end(a, End::Front, ks).map(BlockingRun::Pop),
        Id::Brpop => lists::BPop::parse_end(a, End::Back, ks).map(BlockingRun::Pop),
        Id::Blmove => lists::BLMove::parse_blmove(a, ks).map(BlockingRun::Move),
        Id::Brpoplpush => lists::BLMove::parse_brpoplpush(a, ks).map(BlockingRun::Move),
        Id::Blmpop => {
            <lists::BLMPop as lists::BlockingCommand>::parse(a, ks).map(BlockingRun::MPop)
        }
        Id::Bzpopmin => zsets::BZPop::parse_with(a, false, ks).map(BlockingRun::ZPop),
        Id::Bzpopmax => zsets::BZPop::parse_with(a, true, ks).map(BlockingRun::ZPop),
        Id::Bzmpop => zsets::BZMPop::parse_bzmpop(a, ks).map(BlockingRun::ZMPop),
        _ => return None,
    };
    Some(match parsed {
        Err(reply) => Ok(Blocking::Done(reply)),
        Ok(BlockingRun::Pop(c)) => c.apply(ks),
        Ok(BlockingRun::Move(c)) => c.apply(ks),
        Ok(BlockingRun::MPop(c)) => lists::BlockingCommand::apply(c, ks),
        Ok(BlockingRun::ZPop(c)) => c.apply(ks),
        Ok(BlockingRun::ZMPop(c)) => c.apply(ks),
    })
}

/// A parsed blocking command.
enum BlockingRun<'a> {
    Pop(lists::BPop<'a>),
    Move(lists::BLMove<'a>),
    MPop(lists::BLMPop<'a>),
    ZPop(zsets::BZPop<'a>),
    ZMPop(zsets::BZMPop<'a>),
}

/// The collection type a command works on, from its group in the table
/// (hash, list, set, sorted_set): what a backend that does not store the
/// type refuses up front.
pub fn collection_kind(spec: &CommandSpec) -> Option<keyspace::Kind> {
    use keyspace::Kind;
    match spec.group {
        "hash" => Some(Kind::Hash),
        "list" => Some(Kind::List),
        "set" => Some(Kind::Set),
        "sorted_set" => Some(Kind::ZSet),
        _ => None,
    }
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
    use redynamo_layers::command::all_specs;

    #[test]
    fn every_keyed_command_is_applied() {
        for spec in all_specs() {
            if route(spec) != Route::Keyed {
                continue;
            }
            let cmd = Command {
                spec,
                args: (0..spec.arity.unsigned_abs().max(2))
                    .map(|_| Bytes::from_static(b"1"))
                    .collect(),
            };
            let mut written = std::collections::HashMap::new();
            let mut ks = test_keyspace::Empty::new(&mut written);
            assert!(
                apply(&cmd, &mut ks).is_some(),
                "{} is not applied",
                spec.name
            );
        }
    }

    #[test]
    fn session_and_admin_commands_never_reach_a_store() {
        for spec in all_specs() {
            // EXEC, WATCH and UNWATCH are session commands that the
            // session sends on to the store (with the queue, the keys), and
            // SELECT, queued by MULTI, runs in the store inside EXEC.
            let sent_on = matches!(route(spec), Route::Exec | Route::Watch | Route::Unwatch)
                || (spec.id == CommandId::Select && route(spec) == Route::Keyed);
            if (spec.routing.session || spec.is_admin()) && !sent_on {
                assert_eq!(route(spec), Route::NotStored, "{}", spec.name);
            }
        }
    }
}

/// A keyspace of strings without expiry, for tests of the dispatch.
#[cfg(test)]
mod test_keyspace {
    use super::keyspace::Head;
    use super::*;
    use std::collections::HashMap;

    pub struct Empty<'a> {
        written: &'a mut HashMap<Vec<u8>, Vec<u8>>,
        db: u32,
    }

    impl<'a> Empty<'a> {
        pub fn new(written: &'a mut HashMap<Vec<u8>, Vec<u8>>) -> Empty<'a> {
            Empty { written, db: 0 }
        }
    }

    impl Clock for Empty<'_> {
        fn now(&mut self) -> u64 {
            1_000
        }
    }

    impl super::hashes::Hashes for Empty<'_> {}
    impl super::lists::Lists for Empty<'_> {}
    impl super::sets::Sets for Empty<'_> {}
    impl super::zsets::SortedSets for Empty<'_> {}

    impl Keyspace for Empty<'_> {
        fn db(&self) -> u32 {
            self.db
        }
        fn select(&mut self, db: u32) {
            self.db = db;
        }
        fn databases(&self) -> u32 {
            16
        }
        fn max_string_len(&self) -> usize {
            1 << 20
        }
        fn read(&mut self, key: &[u8]) -> Ks<Option<Head<'_>>> {
            self.lookup(key)
        }
        fn lookup(&mut self, key: &[u8]) -> Ks<Option<Head<'_>>> {
            Ok(self.written.get(key).map(|v| Head {
                kind: keyspace::Kind::String,
                expire_at: 0,
                value: v,
            }))
        }
        fn put_string(&mut self, key: &[u8], value: &[u8], _: u64) -> Ks<()> {
            self.written.insert(key.to_vec(), value.to_vec());
            Ok(())
        }
        fn append_string(&mut self, key: &[u8], suffix: &[u8]) -> Ks<usize> {
            let v = self.written.entry(key.to_vec()).or_default();
            v.extend_from_slice(suffix);
            Ok(v.len())
        }
        fn set_expire(&mut self, _: &[u8], _: u64) -> Ks<()> {
            Ok(())
        }
        fn delete(&mut self, key: &[u8]) -> Ks<bool> {
            Ok(self.written.remove(key).is_some())
        }
        fn copy(&mut self, src: &[u8], _: u32, dst: &[u8]) -> Ks<()> {
            if let Some(v) = self.written.get(src).cloned() {
                self.written.insert(dst.to_vec(), v);
            }
            Ok(())
        }
    }
}
