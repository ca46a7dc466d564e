//! The keyspace: what a command applies to, whatever the backend.
//!
//! A command handler reads and writes keys only through [`Keyspace`]. The
//! memory store implements it directly over its tables
//! (`store::memory::keyspace`); the DynamoDB store implements it as a
//! *recording* keyspace (`store::dynamo::recording`): what a command reads
//! is loaded lazily and becomes the read set, with versions; what it writes
//! becomes the write set, committed as one conditional write.
//!
//! Lazy loading is the reason every operation returns [`Ks`]: a recording
//! keyspace that does not hold a key yet stops the command with
//! [`Interrupt::Load`], loads the key and runs the command again from the
//! start. Handlers are therefore pure functions of what they read: they
//! keep no state across runs and write nothing outside the keyspace. The
//! memory store never interrupts, so there every `?` is a branch that is
//! never taken.

use bytes::Bytes;

use super::hashes::Hashes;
use super::lists::Lists;
use super::sets::Sets;
use super::zsets::SortedSets;

/// Why a command stopped before its reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Interrupt {
    /// The keyspace does not hold `key` of db `db` yet: load it and run the
    /// command again.
    Load { db: u32, key: Bytes },
    /// A stored item cannot be read (written by another program, or by a
    /// newer redynamo with a type this one does not know).
    Malformed(&'static str),
    /// This keyspace does not store keys of this type (yet): the default
    /// of every member operation of the type traits ([`Hashes`] …), so a
    /// backend that has not implemented a type refuses its commands.
    Unsupported(Kind),
}

/// The result of a keyspace operation.
pub type Ks<T> = Result<T, Interrupt>;

/// The type of a key, as TYPE names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    String,
    List,
    Set,
    ZSet,
    Hash,
}

impl Kind {
    /// The name TYPE replies with and SCAN's TYPE option matches.
    pub fn type_name(self) -> &'static str {
        match self {
            Kind::String => "string",
            Kind::List => "list",
            Kind::Set => "set",
            Kind::ZSet => "zset",
            Kind::Hash => "hash",
        }
    }
}

/// The error of a command applied to a key of another type.
pub const WRONGTYPE: redynamo_layers::Reply = redynamo_layers::Reply::static_error(
    "WRONGTYPE Operation against a key holding the wrong kind of value",
);

/// A live key as a command sees it: not expired, not deleted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Head<'a> {
    pub kind: Kind,
    /// Unix milliseconds; 0 = no expiry.
    pub expire_at: u64,
    /// The value of a string; empty for the other types, whose members
    /// the type traits ([`Hashes`] …) reach.
    pub value: &'a [u8],
}

impl<'a> Head<'a> {
    /// The string value, or WRONGTYPE.
    pub fn string(self) -> Result<&'a [u8], redynamo_layers::Reply> {
        match self.kind {
            Kind::String => Ok(self.value),
            _ => Err(WRONGTYPE),
        }
    }

    /// Ok when the key is of type `kind`, WRONGTYPE otherwise.
    pub fn expect(self, kind: Kind) -> Result<(), redynamo_layers::Reply> {
        if self.kind == kind {
            Ok(())
        } else {
            Err(WRONGTYPE)
        }
    }
}

/// The clock a command reads: one instant per command, so that every check
/// within it agrees, read on first use (most commands on keys without a
/// deadline never need it).
pub trait Clock {
    /// Unix milliseconds, the same for the whole command.
    fn now(&mut self) -> u64;
}

/// What the command handlers in `src/commands/` need of a store: the
/// heads of keys here, the members of each collection type in that type's
/// trait (`commands::hashes::Hashes`, `lists::Lists`, `sets::Sets`,
/// `zsets::SortedSets`), whose methods all default to
/// [`Interrupt::Unsupported`] so a backend takes on one type at a time.
///
/// Keys are in the *current* db ([`Keyspace::db`]), which SELECT inside a
/// transaction moves. Every read treats an expired key as absent; a write
/// with a deadline already in the past deletes the key instead, as Redis
/// does. A write marks the key modified for WATCH, even when it writes an
/// identical value.
pub trait Keyspace: Clock + Hashes + Lists + Sets + SortedSets {
    /// The current db.
    fn db(&self) -> u32;
    /// Make `db` current (SELECT inside MULTI; COPY … DB n). The caller has
    /// checked that it is below [`Keyspace::databases`].
    fn select(&mut self, db: u32);
    /// How many dbs there are.
    fn databases(&self) -> u32;
    /// The largest string a command may build (APPEND, SETRANGE):
    /// proto-max-bulk-len.
    fn max_string_len(&self) -> usize;

    /// The live key, for a read command's answer: counts a keyspace hit or
    /// miss (INFO stats).
    fn read(&mut self, key: &[u8]) -> Ks<Option<Head<'_>>>;
    /// The live key, for a command's own decisions: counts nothing.
    fn lookup(&mut self, key: &[u8]) -> Ks<Option<Head<'_>>>;
    /// Whether the key is live.
    fn exists(&mut self, key: &[u8]) -> Ks<bool> {
        Ok(self.lookup(key)?.is_some())
    }

    /// Make `key` the string `value` with deadline `expire_at` (0: none),
    /// whatever it held.
    fn put_string(&mut self, key: &[u8], value: &[u8], expire_at: u64) -> Ks<()>;
    /// Append `suffix` to the string at `key` (created empty when absent),
    /// keeping its deadline. The caller has checked the type and the
    /// length limit. Returns the new length.
    fn append_string(&mut self, key: &[u8], suffix: &[u8]) -> Ks<usize>;
    /// Change the string at `key` where it is stored: first make it at
    /// least `min_len` bytes long, padding with zero bytes (an absent key
    /// becomes `min_len` zero bytes without a deadline), then let `f`
    /// change its bytes; `f` returns whether it changed any. The key is
    /// written (marked for WATCH, in the write set) only when it was
    /// created, grew or `f` changed it. The caller has checked the type
    /// and the length limit. SETBIT and BITFIELD write through this.
    ///
    /// The default changes a copy and stores it with
    /// [`Keyspace::put_string`], keeping the deadline; the memory store
    /// overrides it to change the bytes in place.
    fn modify_string(
        &mut self,
        key: &[u8],
        min_len: usize,
        f: impl FnOnce(&mut [u8]) -> bool,
    ) -> Ks<()> {
        let (mut value, expire_at, existed) = match self.lookup(key)? {
            Some(head) => (head.value.to_vec(), head.expire_at, true),
            None => (Vec::new(), 0, false),
        };
        let grown = value.len() < min_len;
        if grown {
            value.resize(min_len, 0);
        }
        let changed = f(&mut value);
        if changed || grown || !existed {
            self.put_string(key, &value, expire_at)?;
        }
        Ok(())
    }
    /// The INCR family's read-modify-write: `f` gets the live key (None
    /// when absent) and gives the integer to store in its place, keeping
    /// its deadline, or an error reply that leaves the key alone. The
    /// caller's checks (type, integer syntax, overflow) are all in `f`.
    ///
    /// The default reads with [`Keyspace::lookup`] and writes with
    /// [`Keyspace::put_string`]; the memory store overrides it to find the
    /// key once and change the entry where it is.
    fn update_integer(
        &mut self,
        key: &[u8],
        f: impl FnOnce(Option<Head<'_>>) -> Result<i64, redynamo_layers::Reply>,
    ) -> Ks<Result<i64, redynamo_layers::Reply>> {
        let (next, expire_at) = match self.lookup(key)? {
            Some(head) => (f(Some(head)), head.expire_at),
            None => (f(None), 0),
        };
        if let Ok(n) = next {
            let mut buf = itoa::Buffer::new();
            self.put_string(key, buf.format(n).as_bytes(), expire_at)?;
        }
        Ok(next)
    }
    /// Give the live `key` the deadline `expire_at` (0: none, past: delete).
    fn set_expire(&mut self, key: &[u8], expire_at: u64) -> Ks<()>;
    /// Delete `key`; whether it was live.
    fn delete(&mut self, key: &[u8]) -> Ks<bool>;
    /// Make `dst` in db `dst_db` a copy of the live key `src` of the
    /// current db (value and deadline), whatever `dst` held. Does nothing
    /// when `src` is not live.
    fn copy(&mut self, src: &[u8], dst_db: u32, dst: &[u8]) -> Ks<()>;

    /// Raise a keyspace event (`notify-keyspace-events`): `class` is one
    /// of [`super::notify::class`], `event` Redis' name for it, `key` in
    /// the current db. Called where Redis' command calls
    /// `notifyKeyspaceEvent`, after the write. The default drops it: a
    /// store publishes events only once it says how
    /// (docs/pubsub.md, "Keyspace notifications").
    fn notify(&mut self, _class: u32, _event: &'static str, _key: &[u8]) {}

    /// Whether events of `class` go anywhere: a command may skip work
    /// that only an event needs ([`super::notify::del_if_emptied`]).
    fn notifies(&self, _class: u32) -> bool {
        false
    }

    /// OBJECT ENCODING's name for the live key's representation. The
    /// default knows strings; a store that holds collections names their
    /// encodings.
    fn encoding(&mut self, key: &[u8]) -> Ks<Option<&'static str>> {
        match self.read(key)? {
            None => Ok(None),
            Some(h) if h.kind == Kind::String => Ok(Some(super::object::string_encoding(h.value))),
            Some(h) => Err(Interrupt::Unsupported(h.kind)),
        }
    }

    /// MEMORY USAGE: the bytes the store holds for the live key. The
    /// default, for a store of one item per string key, is the item's size
    /// as DynamoDB counts it: attribute names and values, about 60 bytes
    /// of them besides the key and the value.
    fn memory_usage(&mut self, key: &[u8]) -> Ks<Option<usize>> {
        match self.read(key)? {
            None => Ok(None),
            Some(h) if h.kind == Kind::String => Ok(Some(60 + key.len() + h.value.len())),
            Some(h) => Err(Interrupt::Unsupported(h.kind)),
        }
    }
}
