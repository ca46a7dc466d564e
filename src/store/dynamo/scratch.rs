//! Redis semantics on a few loaded items.
//!
//! The DynamoDB backend does not re-implement commands. It loads the items a
//! command touches, runs the memory backend's own executor on a scratch
//! keyspace holding just those items, and writes back what changed,
//! conditional on the versions it read. Replies and error texts are the
//! memory backend's by construction, and a fix to a command's semantics
//! fixes both backends.
//!
//! Which keys changed is learnt exactly as Redis learns it for WATCH: every
//! loaded key is watched by a throwaway client, and the executor marks the
//! clients of the keys it writes (a write of an identical value included,
//! as in Redis).

use std::cell::RefCell;
use std::sync::Arc;

use bytes::Bytes;
use redynamo_layers::{ClientInfo, Command, Reply, Request};

use super::calls::{DbKey, Snapshot};
use super::item::Malformed;
use crate::commands::{int_arg, CopyArgs};
use crate::store::memory::exec::execute;
use crate::store::memory::{Db, Entry, MemoryConfig, State};

/// What running a command on the scratch keyspace produced.
pub struct Outcome {
    pub reply: Reply,
    /// Every key the command wrote, with its value afterwards (None:
    /// deleted), in a stable order.
    pub changes: Vec<(DbKey, Option<Entry>)>,
    pub hits: u64,
    pub misses: u64,
}

thread_local! {
    /// The scratch keyspace, reused so that a server with many databases
    /// does not build them all for every command. Only the databases a run
    /// touched are cleared afterwards.
    static SCRATCH: RefCell<Option<State>> = const { RefCell::new(None) };
}

fn fresh_state(databases: u32) -> State {
    State {
        dbs: (0..databases).map(|_| Db::default()).collect(),
        watches: Default::default(),
        stats: Default::default(),
    }
}

/// Run `req` (a command, or EXEC with its transaction) against `snapshot`
/// at time `now`.
pub fn run(
    snapshot: &Snapshot,
    req: &Request,
    now: u64,
    config: &MemoryConfig,
) -> Result<Outcome, Malformed> {
    SCRATCH.with(|cell| {
        let mut slot = cell.borrow_mut();
        let mut state = match slot.take() {
            Some(s) if s.dbs.len() == config.databases as usize => s,
            _ => fresh_state(config.databases),
        };
        let outcome = run_in(&mut state, snapshot, req, now, config);
        // Leave the scratch empty for the next run, whatever happened.
        let mut touched: Vec<u32> = snapshot.keys().map(|(db, _)| *db).collect();
        touched.sort_unstable();
        touched.dedup();
        for db in touched {
            if let Some(d) = state.dbs.get_mut(db as usize) {
                d.clear();
            }
        }
        state.watches = Default::default();
        state.stats = Default::default();
        *slot = Some(state);
        outcome
    })
}

fn run_in(
    state: &mut State,
    snapshot: &Snapshot,
    req: &Request,
    now: u64,
    config: &MemoryConfig,
) -> Result<Outcome, Malformed> {
    let mut keys: Vec<&DbKey> = snapshot.keys().collect();
    keys.sort_unstable();
    let mut spies = Vec::with_capacity(keys.len());
    for (i, (db, key)) in keys.iter().enumerate() {
        if let Some(entry) = snapshot[&(*db, key.clone())]
            .as_ref()
            .map(|h| h.entry(key, now))
            .transpose()?
            .flatten()
        {
            state.dbs[*db as usize].insert(entry);
        }
        let spy = Arc::new(ClientInfo::new(i as u64 + 1, None));
        state.watches.watch(*db, key.clone(), &spy);
        spies.push(spy);
    }
    // Not one of the spies, and watching nothing: EXEC never aborts here
    // (WATCH is checked against DynamoDB's versions instead).
    let scratch_req = Request {
        client: Arc::new(ClientInfo::new(u64::MAX, None)),
        ..req.clone()
    };
    let reply = execute(state, config, &scratch_req, Some(now));
    let changes = keys
        .iter()
        .zip(&spies)
        .filter(|(_, spy)| spy.is_watch_dirty())
        .map(|((db, key), _)| {
            let after = state.dbs[*db as usize].get(key).cloned();
            ((*db, key.clone()), after)
        })
        .collect();
    Ok(Outcome {
        reply,
        changes,
        hits: state.stats.keyspace_hits,
        misses: state.stats.keyspace_misses,
    })
}

/// The keys `cmd` reads or writes when run in `db`, from the command
/// table's key positions; COPY … DB n also names its destination in db n.
pub fn keys_of(cmd: &Command, db: u32, databases: u32, out: &mut Vec<DbKey>) {
    out.extend(cmd.keys().map(|k| (db, k.clone())));
    if cmd.spec.name == "copy" && cmd.args.len() > 3 {
        if let Ok(CopyArgs { db: Some(n), .. }) = CopyArgs::parse(&cmd.args, databases) {
            out.push((n, cmd.args[2].clone()));
        }
    }
}

/// The keys of a transaction: SELECT inside it moves the following
/// commands to another db, as the executor will.
pub fn transaction_keys(cmds: &[Command], mut db: u32, databases: u32) -> Vec<DbKey> {
    let mut out = Vec::new();
    for cmd in cmds {
        if cmd.spec.name == "select" {
            if let Ok(n) = int_arg(&cmd.args[1]) {
                if n >= 0 && n < databases as i64 {
                    db = n as u32;
                }
            }
            continue;
        }
        keys_of(cmd, db, databases, &mut out);
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
mod tests {
    use super::*;
    use crate::store::dynamo::item::{Head, STRING};
    use redynamo_layers::command::lookup;

    fn cmd(parts: &[&str]) -> Command {
        Command {
            spec: lookup(parts[0].as_bytes()).expect("known command"),
            args: parts.iter().map(|p| own(p.as_bytes())).collect(),
        }
    }

    fn head(v: &str, expire_at: u64) -> Option<Head> {
        Some(Head {
            version: 7,
            kind: STRING.into(),
            value: Some(own(v.as_bytes())),
            expire_at,
            writes: Bytes::new(),
        })
    }

    fn config() -> MemoryConfig {
        MemoryConfig::default()
    }

    #[test]
    fn incr_reports_the_new_value_and_one_change() {
        let snapshot = Snapshot::from([((0, own(b"n")), head("41", 0))]);
        let req = Request::new(cmd(&["incr", "n"]), 0, ClientInfo::internal());
        let out = run(&snapshot, &req, 1000, &config()).unwrap();
        assert_eq!(out.reply, Reply::Integer(42));
        assert_eq!(out.changes.len(), 1);
        let (_, after) = &out.changes[0];
        assert_eq!(
            after.as_ref().map(Entry::expire_at),
            Some(0),
            "INCR keeps the (absent) expiry"
        );
    }

    #[test]
    fn expired_items_are_absent_and_reads_change_nothing() {
        let snapshot = Snapshot::from([((0, own(b"k")), head("v", 500))]);
        let req = Request::new(cmd(&["get", "k"]), 0, ClientInfo::internal());
        let out = run(&snapshot, &req, 1000, &config()).unwrap();
        assert_eq!(out.reply, Reply::Null);
        assert!(out.changes.is_empty());
        assert_eq!(out.misses, 1);
    }

    #[test]
    fn rename_deletes_the_source_and_writes_the_destination() {
        let snapshot = Snapshot::from([((0, own(b"a")), head("1", 0)), ((0, own(b"b")), None)]);
        let req = Request::new(cmd(&["rename", "a", "b"]), 0, ClientInfo::internal());
        let out = run(&snapshot, &req, 1000, &config()).unwrap();
        assert_eq!(out.reply, Reply::ok());
        assert_eq!(out.changes.len(), 2);
        assert!(out.changes[0].1.is_none());
        assert!(out.changes[1].1.is_some());
        // The scratch is empty again for the next run.
        let req = Request::new(cmd(&["get", "b"]), 0, ClientInfo::internal());
        let out = run(
            &Snapshot::from([((0, own(b"b")), None)]),
            &req,
            1000,
            &config(),
        )
        .unwrap();
        assert_eq!(out.reply, Reply::Null);
    }

    #[test]
    fn transaction_keys_follow_select_and_copy_db() {
        let cmds = [
            cmd(&["set", "a", "1"]),
            cmd(&["select", "3"]),
            cmd(&["copy", "b", "c", "db", "5"]),
        ];
        let keys = transaction_keys(&cmds, 0, 16);
        assert_eq!(
            keys,
            vec![
                (0, own(b"a")),
                (3, own(b"b")),
                (3, own(b"c")),
                (5, own(b"c"))
            ]
        );
    }
}
