//! The DynamoDB store as a recording [`Keyspace`].
//!
//! A command runs on the heads the engine has loaded (a [`Snapshot`]):
//! what it reads is served from there, what it writes is kept in an
//! overlay, and nothing reaches DynamoDB while it runs. A read of a key the
//! snapshot does not hold stops the command with [`Interrupt::Load`]; the
//! engine loads the key and runs the command again from the start (the
//! handlers are pure functions of what they read). When the command ends,
//! the overlay is the write set, and the snapshot's entries that were read
//! are the read set, with the versions the commit is conditional on.
//!
//! A key written without having been read is a *blind* write: plain SET,
//! MSET, SETEX, COPY … REPLACE's destination. It needs no load, and the
//! engine commits it without a condition on a version it never saw.

use std::collections::HashMap;

use bytes::Bytes;
use redynamo_layers::{Command, Reply};

use super::calls::{DbKey, Snapshot};
use super::item::Head as StoredHead;
use crate::commands::keyspace::{Head, Kind};
use crate::commands::{self, transactions, Clock, Interrupt, Keyspace, Ks, Route};

/// A key's state after a write.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum After {
    /// A string with its deadline (Unix ms, 0 = none).
    String { value: Bytes, expire_at: u64 },
    /// Deleted (a deadline in the past deletes too).
    Deleted,
}

/// What running a command on the recording keyspace produced.
#[derive(Debug)]
pub struct Outcome {
    pub reply: Reply,
    /// Every key the command wrote, with its state afterwards, in a stable
    /// (sorted) order. A write of an identical value counts, as in Redis.
    pub changes: Vec<(DbKey, After)>,
    pub hits: u64,
    pub misses: u64,
}

/// Limits a command runs under.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub databases: u32,
    pub max_string_len: usize,
}

/// The keyspace a command runs on.
pub struct Recording<'a> {
    snapshot: &'a Snapshot,
    /// Writes so far, by key; later reads see them.
    overlay: HashMap<DbKey, After>,
    /// Keys in the order they were first written (the commit's order is
    /// sorted anyway; this keeps `changes` free of a second sort key).
    written: Vec<DbKey>,
    db: u32,
    limits: Limits,
    now: u64,
    hits: u64,
    misses: u64,
}

impl<'a> Recording<'a> {
    pub fn new(snapshot: &'a Snapshot, db: u32, now: u64, limits: Limits) -> Recording<'a> {
        Recording {
            snapshot,
            overlay: HashMap::new(),
            written: Vec::new(),
            db,
            limits,
            now,
            hits: 0,
            misses: 0,
        }
    }

    fn key(&self, key: &[u8]) -> DbKey {
        (self.db, Bytes::copy_from_slice(key))
    }

    /// The live state of `key`: the overlay's if written, else the
    /// snapshot's; an interrupt when the snapshot does not hold it.
    fn live(&self, key: &[u8]) -> Ks<Option<Head<'_>>> {
        live(self.snapshot, &self.overlay, self.db, key, self.now)
    }

    fn write(&mut self, key: DbKey, after: After) {
        if self.overlay.insert(key.clone(), after).is_none() {
            self.written.push(key);
        }
    }

    /// A deadline already past deletes the key. Deleting is never blind:
    /// a tombstone is written over an item the command has read (a blind
    /// one could land on an item of which it knows nothing, not even the
    /// type), so such a write loads the key first.
    fn put(&mut self, key: DbKey, value: Bytes, expire_at: u64) -> Ks<()> {
        let after = if expire_at != 0 && expire_at <= self.now {
            if !self.overlay.contains_key(&key) && !self.snapshot.contains_key(&key) {
                return Err(Interrupt::Load {
                    db: key.0,
                    key: key.1,
                });
            }
            After::Deleted
        } else {
            After::String { value, expire_at }
        };
        self.write(key, after);
        Ok(())
    }

    /// The outcome of a command that ran to its end.
    fn finish(mut self, reply: Reply) -> Outcome {
        self.written.sort_unstable();
        let changes = self
            .written
            .into_iter()
            .map(|k| {
                let after = self.overlay.remove(&k).unwrap_or(After::Deleted);
                (k, after)
            })
            .collect();
        Outcome {
            reply,
            changes,
            hits: self.hits,
            misses: self.misses,
        }
    }
}

/// [`Recording::live`] over the keyspace's parts, so that a caller may
/// hold other fields mutably at the same time.
fn live<'s>(
    snapshot: &'s Snapshot,
    overlay: &'s HashMap<DbKey, After>,
    db: u32,
    key: &[u8],
    now: u64,
) -> Ks<Option<Head<'s>>> {
    let k = (db, Bytes::copy_from_slice(key));
    if let Some(after) = overlay.get(&k) {
        return Ok(match after {
            After::String { value, expire_at } => Some(Head {
                kind: Kind::String,
                expire_at: *expire_at,
                value,
            }),
            After::Deleted => None,
        });
    }
    match snapshot.get(&k) {
        None => Err(Interrupt::Load { db: k.0, key: k.1 }),
        Some(None) => Ok(None),
        Some(Some(head)) => view(head, now),
    }
}

/// A stored head as a command sees it; None when it is not live.
fn view(head: &StoredHead, now: u64) -> Ks<Option<Head<'_>>> {
    if !head.is_live(now) {
        return Ok(None);
    }
    match (head.kind.as_str(), &head.value) {
        (super::item::STRING, Some(value)) => Ok(Some(Head {
            kind: Kind::String,
            expire_at: head.expire_at,
            value,
        })),
        _ => Err(Interrupt::Malformed(
            "type not supported by this version of redynamo",
        )),
    }
}

/// Run `req`'s command (or, for EXEC, its queued commands) on `snapshot`.
/// `Err` is an interrupt: load what it names and run again.
pub fn run(
    snapshot: &Snapshot,
    command: &Command,
    transaction: &[Command],
    db: u32,
    now: u64,
    limits: Limits,
) -> Result<Outcome, Interrupt> {
    let mut ks = Recording::new(snapshot, db, now, limits);
    let reply = match commands::route(command.spec) {
        Route::Exec => transactions::exec(&mut ks, transaction, |_, cmd| {
            // The engine refuses such a transaction before running it.
            Ok(not_in_transaction(cmd.spec.name))
        })?,
        _ => match commands::apply(command, &mut ks) {
            Some(reply) => reply?,
            None => commands::unsupported(command.spec.name, "DynamoDB"),
        },
    };
    Ok(ks.finish(reply))
}

/// The reply to a transaction that holds a command the recording keyspace
/// cannot run (a whole-db command).
pub fn not_in_transaction(name: &str) -> Reply {
    Reply::error(format!(
        "ERR {} inside MULTI is not supported by the DynamoDB backend",
        name.to_ascii_uppercase()
    ))
}

impl Clock for Recording<'_> {
    fn now(&mut self) -> u64 {
        self.now
    }
}

// The collection types are not stored on DynamoDB yet: their member
// operations keep the traits' default, `Interrupt::Unsupported`.
impl crate::commands::hashes::Hashes for Recording<'_> {}
impl crate::commands::lists::Lists for Recording<'_> {}
impl crate::commands::sets::Sets for Recording<'_> {}
impl crate::commands::zsets::SortedSets for Recording<'_> {}

/// The refusal of a command on a type this backend does not store yet
/// (docs/dynamodb.md, "Types").
pub fn type_not_stored(kind: Kind) -> Reply {
    Reply::error(format!(
        "ERR the DynamoDB backend does not store {} keys yet (see docs/dynamodb.md, \"Types\")",
        kind.type_name()
    ))
}

impl Keyspace for Recording<'_> {
    fn db(&self) -> u32 {
        self.db
    }

    fn select(&mut self, db: u32) {
        self.db = db;
    }

    fn databases(&self) -> u32 {
        self.limits.databases
    }

    fn max_string_len(&self) -> usize {
        self.limits.max_string_len
    }

    fn read(&mut self, key: &[u8]) -> Ks<Option<Head<'_>>> {
        // Counted before the borrow of the answer: one lookup, not two.
        let (hits, misses) = (&mut self.hits, &mut self.misses);
        let found = live(self.snapshot, &self.overlay, self.db, key, self.now)?;
        if found.is_some() {
            *hits += 1;
        } else {
            *misses += 1;
        }
        Ok(found)
    }

    fn lookup(&mut self, key: &[u8]) -> Ks<Option<Head<'_>>> {
        self.live(key)
    }

    fn put_string(&mut self, key: &[u8], value: &[u8], expire_at: u64) -> Ks<()> {
        let k = self.key(key);
        self.put(k, Bytes::copy_from_slice(value), expire_at)
    }

    fn append_string(&mut self, key: &[u8], suffix: &[u8]) -> Ks<usize> {
        let (value, expire_at) = match self.live(key)? {
            Some(head) => {
                let mut v = Vec::with_capacity(head.value.len() + suffix.len());
                v.extend_from_slice(head.value);
                v.extend_from_slice(suffix);
                (v, head.expire_at)
            }
            None => (suffix.to_vec(), 0),
        };
        let len = value.len();
        let k = self.key(key);
        self.put(k, Bytes::from(value), expire_at)?;
        Ok(len)
    }

    fn set_expire(&mut self, key: &[u8], expire_at: u64) -> Ks<()> {
        let Some(value) = self.live(key)?.map(|h| Bytes::copy_from_slice(h.value)) else {
            return Ok(());
        };
        let k = self.key(key);
        self.put(k, value, expire_at)
    }

    fn delete(&mut self, key: &[u8]) -> Ks<bool> {
        let live = self.live(key)?.is_some();
        if live {
            let k = self.key(key);
            self.write(k, After::Deleted);
        }
        Ok(live)
    }

    fn copy(&mut self, src: &[u8], dst_db: u32, dst: &[u8]) -> Ks<()> {
        let Some((value, expire_at)) = self
            .live(src)?
            .map(|h| (Bytes::copy_from_slice(h.value), h.expire_at))
        else {
            return Ok(());
        };
        self.put((dst_db, Bytes::copy_from_slice(dst)), value, expire_at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::dynamo::item::STRING;
    use redynamo_layers::command::lookup;

    fn own(b: &[u8]) -> Bytes {
        Bytes::copy_from_slice(b)
    }

    fn cmd(parts: &[&str]) -> Command {
        Command {
            spec: lookup(parts[0].as_bytes()).expect("known command"),
            args: parts.iter().map(|p| own(p.as_bytes())).collect(),
        }
    }

    fn head(v: &str, expire_at: u64) -> Option<StoredHead> {
        Some(StoredHead {
            version: 7,
            kind: STRING.into(),
            value: Some(own(v.as_bytes())),
            expire_at,
            writes: Bytes::new(),
        })
    }

    const LIMITS: Limits = Limits {
        databases: 16,
        max_string_len: 512 * 1024 * 1024,
    };

    fn run1(snapshot: &Snapshot, parts: &[&str]) -> Result<Outcome, Interrupt> {
        run(snapshot, &cmd(parts), &[], 0, 1000, LIMITS)
    }

    #[test]
    fn incr_reports_the_new_value_and_one_change() {
        let snapshot = Snapshot::from([((0, own(b"n")), head("41", 0))]);
        let out = run1(&snapshot, &["incr", "n"]).unwrap();
        assert_eq!(out.reply, Reply::Integer(42));
        assert_eq!(
            out.changes,
            vec![(
                (0, own(b"n")),
                After::String {
                    value: own(b"42"),
                    expire_at: 0
                }
            )]
        );
    }

    #[test]
    fn a_read_of_an_unloaded_key_asks_for_it_and_a_blind_write_does_not() {
        let empty = Snapshot::new();
        assert_eq!(
            run1(&empty, &["get", "k"]).unwrap_err(),
            Interrupt::Load {
                db: 0,
                key: own(b"k")
            }
        );
        let out = run1(&empty, &["set", "k", "v"]).unwrap();
        assert_eq!(out.reply, Reply::ok());
        assert_eq!(out.changes.len(), 1);
        let out = run1(&empty, &["mset", "a", "1", "b", "2", "a", "3"]).unwrap();
        assert_eq!(
            out.changes[0].1,
            After::String {
                value: own(b"3"),
                expire_at: 0
            },
            "the last pair for a key wins"
        );
        assert_eq!(out.changes.len(), 2);
    }

    #[test]
    fn expired_items_are_absent_and_reads_change_nothing() {
        let snapshot = Snapshot::from([((0, own(b"k")), head("v", 500))]);
        let out = run1(&snapshot, &["get", "k"]).unwrap();
        assert_eq!(out.reply, Reply::Null);
        assert!(out.changes.is_empty());
        assert_eq!(out.misses, 1);
    }

    #[test]
    fn rename_deletes_the_source_and_writes_the_destination() {
        let snapshot = Snapshot::from([((0, own(b"a")), head("1", 0)), ((0, own(b"b")), None)]);
        let out = run1(&snapshot, &["rename", "a", "b"]).unwrap();
        assert_eq!(out.reply, Reply::ok());
        assert_eq!(out.changes.len(), 2);
        assert_eq!(out.changes[0].1, After::Deleted);
        assert!(matches!(out.changes[1].1, After::String { .. }));
    }

    #[test]
    fn a_transaction_sees_its_own_writes_and_follows_select() {
        let snapshot = Snapshot::new();
        let queued = [
            cmd(&["set", "a", "1"]),
            cmd(&["incr", "a"]),
            cmd(&["select", "3"]),
            cmd(&["set", "a", "x"]),
        ];
        let out = run(&snapshot, &cmd(&["exec"]), &queued, 0, 1000, LIMITS).unwrap();
        assert_eq!(
            out.reply,
            Reply::Array(vec![
                Reply::ok(),
                Reply::Integer(2),
                Reply::ok(),
                Reply::ok()
            ])
        );
        let keys: Vec<&DbKey> = out.changes.iter().map(|(k, _)| k).collect();
        assert_eq!(keys, vec![&(0, own(b"a")), &(3, own(b"a"))]);
    }
}

/// The keys `cmd` names when run in `db`, from the command table's key
/// positions: what the engine loads before a first run. A command that
/// reaches further (COPY … DB n) is interrupted and loads the rest.
pub fn keys_of(cmd: &Command, db: u32, out: &mut Vec<DbKey>) {
    out.extend(cmd.keys().map(|k| (db, own(k))));
}

/// The keys of a transaction: SELECT inside it moves the following
/// commands to another db, as the keyspace will.
pub fn transaction_keys(cmds: &[Command], mut db: u32, databases: u32) -> Vec<DbKey> {
    let mut out = Vec::new();
    for cmd in cmds {
        if cmd.spec.id == redynamo_layers::command::CommandId::Select {
            if let Ok(n) = commands::int_arg(&cmd.args[1]) {
                if n >= 0 && n < databases as i64 {
                    db = n as u32;
                }
            }
            continue;
        }
        keys_of(cmd, db, &mut out);
    }
    dedup(out)
}

/// Sort and deduplicate keys (the order also makes transactions' item
/// order deterministic).
pub fn dedup(mut keys: Vec<DbKey>) -> Vec<DbKey> {
    keys.sort_unstable();
    keys.dedup();
    keys
}

/// A key too long for a partition key, if any.
pub fn too_long(keys: &[DbKey]) -> bool {
    keys.iter()
        .any(|(_, k)| k.len() > super::schema::MAX_KEY_LEN)
}

/// Bytes that must outlive a network buffer.
pub fn own(b: &[u8]) -> Bytes {
    Bytes::copy_from_slice(b)
}

#[cfg(test)]
mod key_tests {
    use super::*;
    use redynamo_layers::command::lookup;

    fn cmd(parts: &[&str]) -> Command {
        Command {
            spec: lookup(parts[0].as_bytes()).expect("known command"),
            args: parts.iter().map(|p| own(p.as_bytes())).collect(),
        }
    }

    #[test]
    fn transaction_keys_follow_select() {
        let cmds = [
            cmd(&["set", "a", "1"]),
            cmd(&["select", "3"]),
            cmd(&["copy", "b", "c", "db", "5"]),
        ];
        let keys = transaction_keys(&cmds, 0, 16);
        assert_eq!(keys, vec![(0, own(b"a")), (3, own(b"b")), (3, own(b"c"))]);
    }
}
