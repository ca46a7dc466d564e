//! Executing commands: optimistic concurrency over versioned heads.
//!
//! Every keyed command takes the general path ([`Shared::optimistic`]): run
//! the command's handler (`crate::commands`) on a recording keyspace
//! ([`recording`]) over the heads it reads, loaded lazily, and write back
//! what it changed with a condition on every version read. A concurrent
//! change on any node fails the condition; the command is then re-run on
//! fresh data, a bounded number of times with jittered backoff, before the
//! client gets `-TRYAGAIN`. Two nodes that INCR one key therefore never
//! lose an update.
//!
//! Each command carries a random write id that every write of it records in
//! the item (`w`). When a write's response is lost and the SDK retries it,
//! the retry fails its condition against the command's own first attempt;
//! the reload sees the id and the command succeeds with the reply it
//! computed, instead of being applied twice.
//!
//! Writes that do not depend on the current value (plain SET, SETEX,
//! PSETEX, MSET) read nothing, so they are blind writes: one call each,
//! conditional on the item's stamp ([`Shared::write_blind`],
//! [`Shared::transact_blind`]).
//! DEL of one key is one conditional write (the condition is the key being
//! live, which is all DEL needs to know).
//!
//! No write is unconditional, and every write sets the item's version to a
//! stamp that only grows ([`Stamps`]): an attempt held up in the network
//! and delivered after later writes fails its condition, so it never undoes
//! an acknowledged write (docs/dynamodb.md, "No acknowledged write is
//! undone").
//!
//! This file is longer than ~600 lines on purpose: the commit loop (read
//! set, write set, one conditional write, retries on conflict) and its
//! fault handling read best as one unit; the parts it calls live in
//! `calls.rs` and `recording.rs`.

use std::time::Duration;

use bytes::Bytes;
use futures::future::try_join_all;
use redynamo_layers::error::TryAgain;
use redynamo_layers::{BoxError, Command, ItemState, Observation, Reply, Request};

use super::calls::{
    backoff, Blind, Cond, DbKey, Op, Snapshot, Write, TRANSACT_MAX, TRANSACT_MAX_BYTES,
};
use super::error::{contended, CallError, KEY_TOO_LONG, TOO_LARGE};
use super::item::Malformed;
use super::item::{fits, head_size, Stamps, WriteId};
use super::recording::{self, After};
use super::tracking::Watched;
use super::{keyspace, Shared};
use crate::commands::server::{DbCommand, SWAPDB_UNSUPPORTED};
use crate::commands::{self, Interrupt, Route};
use redynamo_layers::command::CommandId;

/// Most lazy loads one command may make: each adds a key the command
/// reaches beyond the ones it names (COPY … DB n), so a handful at most.
const MAX_LOADS: usize = 8;

fn too_many(what: &str, n: usize) -> Reply {
    Reply::error(format!(
        "ERR {what} touches {n} keys; DynamoDB allows at most {TRANSACT_MAX} items per transaction"
    ))
}

const TRANSACTION_TOO_LARGE: Reply =
    Reply::static_error("ERR transaction too large for DynamoDB (max 4 MB per transaction)");

/// Why an EXEC cannot run on DynamoDB, if it cannot: a whole-db command
/// among the queued ones (the recording keyspace runs keyed commands only).
fn unsupported_in_transaction(cmds: &[Command]) -> Option<Reply> {
    cmds.iter()
        .find(|c| !matches!(commands::route(c.spec), Route::Keyed | Route::Unwatch))
        .map(|c| recording::not_in_transaction(c.spec.name))
}

impl Shared {
    pub async fn execute(&self, req: Request) -> Result<Reply, BoxError> {
        match commands::route(req.command.spec) {
            Route::Exec => self.exec(&req).await,
            Route::Watch => self.watch(&req).await,
            Route::Unwatch => {
                self.watches.lock().remove(&req.client.id);
                Ok(Reply::ok())
            }
            Route::Db => self.db_command(&req).await,
            // DEL of one key: one conditional write whose condition is the
            // key being live, which is DEL's whole semantics for one key.
            Route::Keyed if matches!(req.command.spec.id, CommandId::Del | CommandId::Unlink) => {
                self.del(&req).await
            }
            Route::Keyed => match commands::collection_kind(req.command.spec) {
                Some(kind) => Ok(recording::type_not_stored(kind)),
                None => self.general(&req).await,
            },
            Route::NotStored => Ok(commands::unsupported(req.command.spec.name, "DynamoDB")),
            // Scripts need a keyspace that one Lua run reads and writes
            // atomically; the recording keyspace re-runs a command per key
            // it loads, which a script with side effects cannot be
            // (docs/scripting.md, "DynamoDB").
            Route::Script => Ok(crate::scripting::not_on_dynamodb(req.command.spec.name)),
        }
    }

    /// KEYS, SCAN, RANDOMKEY, DBSIZE, FLUSHDB, FLUSHALL; SWAPDB cannot be
    /// done (the db index is in every item's key).
    async fn db_command(&self, req: &Request) -> Result<Reply, BoxError> {
        let parsed = match DbCommand::parse(&req.command, self.config.databases) {
            Some(Ok(parsed)) => parsed,
            Some(Err(reply)) => return Ok(reply),
            None => return Ok(commands::unsupported(req.command.spec.name, "DynamoDB")),
        };
        match parsed {
            DbCommand::Keys(filter) => keyspace::keys(self, req.db, &filter).await,
            DbCommand::Scan {
                cursor,
                count,
                filter,
            } => keyspace::scan(self, req.db, cursor, count, &filter).await,
            DbCommand::DbSize => keyspace::dbsize(self, req.db).await,
            DbCommand::RandomKey => keyspace::randomkey(self, req.db).await,
            DbCommand::FlushDb => keyspace::flush(self, Some(req.db)).await,
            DbCommand::FlushAll => keyspace::flush(self, None).await,
            DbCommand::SwapDb(..) => Ok(SWAPDB_UNSUPPORTED),
        }
    }

    /// Whether a read of `keys` must be consistent.
    fn consistent_read(&self, keys: &[DbKey]) -> bool {
        self.config.strong_reads || self.recent.any(keys)
    }

    /// Any keyed command, through the recording keyspace. A write first
    /// runs on nothing: one that only writes (SET, MSET, SETEX …) needs no
    /// load and commits blind writes; one that reads is interrupted and
    /// then loads all its keys at once. A read loads its keys first.
    async fn general(&self, req: &Request) -> Result<Reply, BoxError> {
        let write = req.command.spec.is_write();
        let named = recording::dedup(
            req.command
                .keys()
                .map(|k| (req.db, recording::own(k)))
                .collect(),
        );
        if recording::too_long(&named) {
            return Ok(KEY_TOO_LONG);
        }
        if write && named.len() > TRANSACT_MAX {
            return Ok(too_many(
                &req.command.spec.name.to_ascii_uppercase(),
                named.len(),
            ));
        }
        // Writes read consistently: a stale read would only fail its
        // condition and cost a retry.
        let consistent = write || self.consistent_read(&named);
        let keys = if write { Vec::new() } else { named };
        self.optimistic(req, keys, consistent, None).await
    }

    /// Load, run, write back conditionally; again on conflict.
    ///
    /// `keys` are loaded before the first run (none for a write, which may
    /// need none). A run interrupted for a key it has not loaded loads that
    /// key with every key the command names, and runs again; this does not
    /// count as an attempt, and is bounded by the keys a command can name.
    async fn optimistic(
        &self,
        req: &Request,
        mut keys: Vec<DbKey>,
        consistent: bool,
        watched: Option<&[Watched]>,
    ) -> Result<Reply, BoxError> {
        let transaction = watched.is_some();
        let id = WriteId::random();
        // The reply of an attempt whose commit failed a condition, and a key
        // it wrote: if the reload shows the write id there, that attempt
        // was applied after all (its response was lost and retried).
        let mut pending: Option<(Reply, DbKey)> = None;
        let attempts = self.config.conflict_attempts;
        let mut attempt = 0;
        let mut loads = 0;
        let mut wait = false;
        while attempt < attempts {
            if wait {
                tokio::time::sleep(backoff(
                    attempt - 1,
                    Duration::from_millis(2),
                    Duration::from_millis(100),
                ))
                .await;
            }
            wait = false;
            let now = self.now();
            let snapshot = if keys.is_empty() {
                Snapshot::new()
            } else if transaction {
                self.transact_get(&keys).await?
            } else {
                self.load(&keys, consistent).await?
            };
            if let Some((reply, probe)) = pending.take() {
                let applied = snapshot
                    .get(&probe)
                    .and_then(Option::as_ref)
                    .is_some_and(|h| h.wrote(id));
                if applied {
                    return Ok(reply);
                }
            }
            if let Some(watched) = watched {
                if !watched.iter().all(|w| w.unchanged(&snapshot, now)) {
                    return Ok(Reply::NullArray);
                }
            }
            let run = recording::run(
                &snapshot,
                &req.command,
                &req.transaction,
                req.db,
                now,
                self.limits,
            );
            let outcome = match run {
                Ok(outcome) => outcome,
                Err(Interrupt::Load { db, key }) => {
                    loads += 1;
                    if loads > MAX_LOADS {
                        return Err(Box::new(Malformed("a command kept asking for more keys")));
                    }
                    keys.push((db, key));
                    if transaction {
                        keys.extend(recording::transaction_keys(
                            &req.transaction,
                            req.db,
                            self.config.databases,
                        ));
                    } else {
                        recording::keys_of(&req.command, req.db, &mut keys);
                    }
                    keys = recording::dedup(keys);
                    if recording::too_long(&keys) {
                        return Ok(KEY_TOO_LONG);
                    }
                    if keys.len() > TRANSACT_MAX {
                        return Ok(too_many(
                            &req.command.spec.name.to_ascii_uppercase(),
                            keys.len(),
                        ));
                    }
                    continue;
                }
                Err(Interrupt::Malformed(m)) => return Err(Box::new(Malformed(m))),
                Err(Interrupt::Unsupported(kind)) => return Ok(recording::type_not_stored(kind)),
            };
            // Keys written without having been read: blind writes. Alone
            // (plain SET, MSET, SETEX …) they are committed as such; next to
            // reads (COPY … REPLACE's destination) they are loaded too, so
            // the whole command commits conditionally on what it saw.
            let blind: Vec<DbKey> = outcome
                .changes
                .iter()
                .filter(|(k, _)| !snapshot.contains_key(k))
                .map(|(k, _)| k.clone())
                .collect();
            if !blind.is_empty() {
                if snapshot.is_empty() && !transaction {
                    self.counters.add(outcome.hits, outcome.misses);
                    return self.commit_blind(outcome, id, now).await;
                }
                loads += 1;
                keys.extend(blind);
                keys = recording::dedup(keys);
                continue;
            }
            self.counters.add(outcome.hits, outcome.misses);
            let writes = match plan(
                &snapshot,
                &outcome.changes,
                id,
                keys.len() > 1,
                &self.stamps,
            ) {
                Ok(w) => w,
                Err(reply) => return Ok(reply),
            };
            let Some(probe) = writes.iter().find(|w| w.op != Op::Check) else {
                observe(req, &snapshot, &[], now);
                return Ok(outcome.reply);
            };
            let probe = (probe.db, probe.key.clone());
            attempt += 1;
            wait = true;
            match self.commit(&writes, id, attempt - 1, now).await {
                Ok(()) => {
                    self.note_writes(&writes);
                    observe(req, &snapshot, &writes, now);
                    return Ok(outcome.reply);
                }
                // A lost response retried by the SDK also ends here: the
                // reload tells whether this attempt was applied after all.
                Err(CallError::Condition | CallError::Conflict) => {
                    pending = Some((outcome.reply, probe))
                }
                Err(CallError::Cancelled(c)) => {
                    let reasons = &c.codes;
                    let failed =
                        |r: &Option<String>| matches!(r.as_deref(), Some("ConditionalCheckFailed"));
                    if let Some(watched) = watched {
                        let watched_failed = reasons.iter().zip(&writes).any(|(r, w)| {
                            failed(r) && watched.iter().any(|x| x.key.0 == w.db && x.key.1 == w.key)
                        });
                        if watched_failed {
                            return Ok(Reply::NullArray);
                        }
                    }
                    if reasons
                        .iter()
                        .any(|r| failed(r) || matches!(r.as_deref(), Some("TransactionConflict")))
                    {
                        pending = Some((outcome.reply, probe));
                    } else {
                        return cancelled(reasons);
                    }
                }
                Err(CallError::TooLarge) => return Ok(TOO_LARGE),
                Err(CallError::Failed(e)) => return Err(e),
            }
            // The reload must show the probe key (a blind write's key was
            // never loaded) and every key written.
            for w in &writes {
                keys.push((w.db, w.key.clone()));
            }
            keys = recording::dedup(keys);
        }
        Err(contended(attempts))
    }

    /// Commit a command that only wrote keys it never read: one
    /// UpdateItem for one key, one TransactWriteItems for several, each
    /// conditional on the item's stamp only (`Shared::write_blind`).
    async fn commit_blind(
        &self,
        outcome: recording::Outcome,
        id: WriteId,
        now: u64,
    ) -> Result<Reply, BoxError> {
        let mut items = Vec::with_capacity(outcome.changes.len());
        let mut bytes = 0;
        for (key, after) in outcome.changes {
            let op = match after {
                After::String { value, expire_at } => {
                    if !fits(&key.1, value.len()) {
                        return Ok(TOO_LARGE);
                    }
                    bytes += head_size(&key.1, value.len());
                    Op::Put { value, expire_at }
                }
                // Deletes are never blind (`recording`).
                After::Deleted => Op::Tombstone,
            };
            items.push((key, op));
        }
        if items.len() > TRANSACT_MAX {
            return Ok(too_many("the command", items.len()));
        }
        if bytes > TRANSACT_MAX_BYTES {
            return Ok(TRANSACTION_TOO_LARGE);
        }
        let result = match items.as_slice() {
            [((db, key), op)] => self
                .write_blind(*db, key, op, false, id, now)
                .await
                .map(drop),
            _ => self.transact_blind(&items, id, now).await,
        };
        match result {
            Ok(()) => {
                self.recent.note(items.iter().map(|(k, _)| k));
                Ok(outcome.reply)
            }
            Err(e) => unexpected(e),
        }
    }

    fn note_writes(&self, writes: &[Write]) {
        let keys: Vec<DbKey> = writes
            .iter()
            .filter(|w| w.op != Op::Check)
            .map(|w| (w.db, w.key.clone()))
            .collect();
        self.recent.note(&keys);
    }

    /// WATCH: remember the versions the keys have now.
    async fn watch(&self, req: &Request) -> Result<Reply, BoxError> {
        let keys = recording::dedup(
            req.command.args[1..]
                .iter()
                .map(|k| (req.db, recording::own(k)))
                .collect(),
        );
        if recording::too_long(&keys) {
            return Ok(KEY_TOO_LONG);
        }
        let now = self.now();
        let snapshot = self.load(&keys, true).await?;
        let mut watches = self.watches.lock();
        let mine = watches.entry(req.client.id).or_default();
        for key in keys {
            // Watching a key twice keeps the first version: a change in
            // between must still abort the transaction.
            if !mine.iter().any(|w| w.key == key) {
                let head = snapshot.get(&key).and_then(Option::as_ref);
                mine.push(Watched::new(key, head, now));
            }
        }
        Ok(Reply::ok())
    }

    /// EXEC: the queued commands as one snapshot read and one
    /// TransactWriteItems, conditional on every version read and watched.
    async fn exec(&self, req: &Request) -> Result<Reply, BoxError> {
        // EXEC forgets the client's watches whatever happens.
        let watched = self
            .watches
            .lock()
            .remove(&req.client.id)
            .unwrap_or_default();
        if let Some(reply) = unsupported_in_transaction(&req.transaction) {
            return Ok(reply);
        }
        let mut keys = recording::transaction_keys(&req.transaction, req.db, self.config.databases);
        keys.extend(watched.iter().map(|w| w.key.clone()));
        let keys = recording::dedup(keys);
        if recording::too_long(&keys) {
            return Ok(KEY_TOO_LONG);
        }
        if keys.len() > TRANSACT_MAX {
            return Ok(too_many("the transaction", keys.len()));
        }
        self.optimistic(req, keys, true, Some(&watched)).await
    }

    /// DEL/UNLINK. One key: a conditional tombstone, one call. Up to 100:
    /// one BatchGetItem and one TransactWriteItems. More: groups of 100,
    /// each atomic.
    async fn del(&self, req: &Request) -> Result<Reply, BoxError> {
        let keys = recording::dedup(
            req.command.args[1..]
                .iter()
                .map(|k| (req.db, k.clone()))
                .collect(),
        );
        if recording::too_long(&keys) {
            return Ok(KEY_TOO_LONG);
        }
        if keys.len() > TRANSACT_MAX {
            let groups = keys.chunks(TRANSACT_MAX).map(|group| {
                let mut args = vec![req.command.args[0].clone()];
                args.extend(group.iter().map(|(_, k)| k.clone()));
                let sub = Request {
                    command: Command {
                        spec: req.command.spec,
                        args,
                    },
                    ..req.clone()
                };
                async move { self.general(&sub).await }
            });
            let mut deleted = 0;
            for reply in try_join_all(groups).await? {
                match reply {
                    Reply::Integer(n) => deleted += n,
                    other => return Ok(other),
                }
            }
            return Ok(Reply::Integer(deleted));
        }
        let [(db, key)] = keys.as_slice() else {
            return self.general(req).await;
        };
        let now = self.now();
        match self
            .write_blind(*db, key, &Op::Tombstone, true, WriteId::random(), now)
            .await
        {
            // Our own tombstone, written by an attempt whose response was
            // lost, counts as deleted by this command.
            Ok(Blind::Written(_) | Blind::WrittenBefore) => {
                self.recent.note([&(*db, key.clone())]);
                Ok(Reply::Integer(1))
            }
            Ok(Blind::NotLive) => Ok(Reply::Integer(0)),
            Err(e) => unexpected(e),
        }
    }
}

/// Tell the cache layer, when it asked, the state and version of every key
/// this command read or wrote: a committed write's new state at its new
/// version (its stamp), otherwise the state read. Keys of commands that do
/// not come here (the blind writes) are invalidated by the cache.
fn observe(req: &Request, snapshot: &Snapshot, writes: &[Write], now: u64) {
    let Some(observations) = &req.observations else {
        return;
    };
    for ((db, key), head) in snapshot {
        let written = writes
            .iter()
            .find(|w| w.op != Op::Check && w.db == *db && w.key == *key);
        let (version, state) = match written {
            Some(w) => {
                let version = w.version;
                let state = match &w.op {
                    Op::Put { value, expire_at } if *expire_at == 0 || *expire_at > now => {
                        ItemState::Value {
                            value: value.clone(),
                            expire_at: *expire_at,
                        }
                    }
                    _ => ItemState::Absent,
                };
                (version, state)
            }
            None => match head {
                None => (0, ItemState::Absent),
                Some(h) if !h.is_live(now) => (h.version, ItemState::Absent),
                Some(h) => match &h.value {
                    Some(value) if h.kind == super::item::STRING => (
                        h.version,
                        ItemState::Value {
                            value: value.clone(),
                            expire_at: h.expire_at,
                        },
                    ),
                    _ => continue,
                },
            },
        };
        observations.push(Observation {
            db: *db,
            key: key.clone(),
            version: version.max(0) as u64,
            state,
        });
    }
}

/// The writes that apply `changes` on top of `snapshot`, each conditional on
/// the version read and stamped above it. With `check_reads`, keys read but
/// not written get a ConditionCheck, so the command's reads still hold when
/// it commits (serializable). An error is the reply to give instead.
fn plan(
    snapshot: &Snapshot,
    changes: &[(DbKey, After)],
    id: WriteId,
    check_reads: bool,
    stamps: &Stamps,
) -> Result<Vec<Write>, Reply> {
    let mut writes = Vec::with_capacity(snapshot.len());
    let mut bytes = 0;
    let mut changed = std::collections::HashSet::new();
    for ((db, key), after) in changes {
        changed.insert((*db, key.clone()));
        // Some(None): loaded, no item. Blind writes (never loaded) do not
        // come here: the engine loads their keys first, or commits them
        // with `Shared::write_blind`.
        let Some(loaded) = snapshot.get(&(*db, key.clone())) else {
            return Err(Reply::static_error(
                "ERR internal error: a blind write among conditional ones",
            ));
        };
        let before = loaded.as_ref();
        let cond = before.map_or(Cond::Absent, |h| Cond::Version(h.version));
        let previous_writes = before.map_or(&[][..], |h| &h.writes[..]);
        let op = match after {
            After::String { value, expire_at } => {
                if !fits(key, value.len()) {
                    return Err(TOO_LARGE);
                }
                bytes += head_size(key, value.len());
                Op::Put {
                    value: value.clone(),
                    expire_at: *expire_at,
                }
            }
            // Deleting a key no item holds is nothing to write.
            After::Deleted if before.is_none() => continue,
            After::Deleted => Op::Tombstone,
        };
        writes.push(Write {
            db: *db,
            key: key.clone(),
            op,
            cond,
            version: stamps.next(before.map_or(0, |h| h.version.saturating_add(1))),
            writes: id.chain(previous_writes),
        });
    }
    if writes.is_empty() {
        return Ok(writes);
    }
    if bytes > TRANSACT_MAX_BYTES {
        return Err(TRANSACTION_TOO_LARGE);
    }
    if check_reads {
        let mut read: Vec<&DbKey> = snapshot.keys().filter(|k| !changed.contains(*k)).collect();
        read.sort_unstable();
        for (db, key) in read {
            let before = snapshot[&(*db, key.clone())].as_ref();
            writes.push(Write {
                db: *db,
                key: key.clone(),
                op: Op::Check,
                cond: before.map_or(Cond::Absent, |h| Cond::Version(h.version)),
                version: 0,
                writes: Bytes::new(),
            });
        }
    }
    Ok(writes)
}

/// A failure of a write that has no condition to fail.
fn unexpected(e: CallError) -> Result<Reply, BoxError> {
    match e {
        CallError::TooLarge => Ok(TOO_LARGE),
        CallError::Failed(e) => Err(e),
        CallError::Cancelled(c) => cancelled(&c.codes),
        CallError::Conflict => Err(Box::new(TryAgain(
            "DynamoDB was running a transaction on the key, try again".into(),
        ))),
        // A blind write fails for good only on an item whose version is
        // not a number (not redynamo's).
        CallError::Condition => Err(Box::new(TryAgain(
            "DynamoDB refused a write: the item's version is not a number (not written by redynamo)".into(),
        ))),
    }
}

/// A transaction cancelled for a reason other than a condition.
fn cancelled(reasons: &[Option<String>]) -> Result<Reply, BoxError> {
    let codes: Vec<&str> = reasons
        .iter()
        .filter_map(|r| r.as_deref())
        .filter(|r| *r != "None")
        .collect();
    if codes.iter().any(|c| c.contains("Validation")) {
        return Ok(Reply::error(format!(
            "ERR DynamoDB refused the transaction ({})",
            codes.join(", ")
        )));
    }
    Err(Box::new(TryAgain(format!(
        "DynamoDB cancelled the transaction ({})",
        codes.join(", ")
    ))))
}
