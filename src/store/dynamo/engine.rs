//! Executing commands: optimistic concurrency over versioned heads.
//!
//! Most commands take the general path ([`Shared::optimistic`]): load the
//! heads of the keys the command touches, run the memory backend's
//! semantics on them ([`scratch`]), and write back what changed with a
//! condition on every version read. A concurrent change on any node fails
//! the condition; the command is then re-run on fresh data, a bounded number
//! of times with jittered backoff, before the client gets `-TRYAGAIN`. Two
//! nodes that INCR one key therefore never lose an update.
//!
//! Each command carries a random write id that every write of it records in
//! the item (`w`). When a write's response is lost and the SDK retries it,
//! the retry fails its condition against the command's own first attempt;
//! the reload sees the id and the command succeeds with the reply it
//! computed, instead of being applied twice.
//!
//! Writes that do not depend on the current value (plain SET, SETEX,
//! PSETEX, MSET, single-key DEL) skip the read: one call each.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::future::try_join_all;
use parking_lot::Mutex;
use redynamo_layers::error::TryAgain;
use redynamo_layers::{BoxError, Command, ItemState, Observation, Reply, Request};

use super::calls::{backoff, Cond, DbKey, Op, Snapshot, Write, TRANSACT_MAX, TRANSACT_MAX_BYTES};
use super::error::{contended, CallError, KEY_TOO_LONG, TOO_LARGE};
use super::item::{fits, head_size, next_version, Head, WriteId};
use super::schema::MAX_KEY_LEN;
use super::{keyspace, scratch, Shared};
use crate::commands::{parse_setex, Expiry, SetArgs, SetCondition};
use crate::util::now_ms;

/// Commands whose semantics run on the scratch keyspace.
const GENERAL: &[&str] = &[
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
];

pub const SWAPDB_UNSUPPORTED: Reply = Reply::static_error(
    "ERR SWAPDB is not supported by the DynamoDB backend (the db index is part of every item's key)",
);

/// What a client saw of a key when it WATCHed it.
#[derive(Clone, Debug)]
pub struct Watched {
    pub key: DbKey,
    pub seen: Seen,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Seen {
    /// The key existed with this version.
    Live(i64),
    /// The key did not exist; an item (expired, or a tombstone) had this
    /// version, or there was none.
    Absent(Option<i64>),
}

impl Watched {
    fn new(key: DbKey, head: Option<&Head>, now: u64) -> Watched {
        let seen = match head {
            Some(h) if h.is_live(now) => Seen::Live(h.version),
            Some(h) => Seen::Absent(Some(h.version)),
            None => Seen::Absent(None),
        };
        Watched { key, seen }
    }

    /// Whether the key is as it was at WATCH time. A key whose deadline
    /// passed since counts as modified; a dead item the TTL reaper removed
    /// since does not.
    fn unchanged(&self, snapshot: &Snapshot, now: u64) -> bool {
        let head = snapshot.get(&self.key).and_then(Option::as_ref);
        match (self.seen, head) {
            (Seen::Live(v), Some(h)) => h.version == v && h.is_live(now),
            (Seen::Live(_), None) => false,
            (Seen::Absent(Some(v)), Some(h)) => h.version == v,
            (Seen::Absent(_), None) => true,
            (Seen::Absent(None), Some(_)) => false,
        }
    }
}

/// Keys this node wrote in the last moment, so that with eventually
/// consistent reads a client still reads its own writes: a read of such a
/// key is made consistent. Bounded: pruned to the window whenever it grows.
pub struct RecentWrites {
    window: Duration,
    keys: Mutex<HashMap<DbKey, Instant>>,
    /// A FLUSHDB/FLUSHALL makes every read consistent for a window.
    everything_until: Mutex<Option<Instant>>,
}

impl RecentWrites {
    const PRUNE_AT: usize = 50_000;

    pub fn new(window: Duration) -> RecentWrites {
        RecentWrites {
            window,
            keys: Mutex::new(HashMap::new()),
            everything_until: Mutex::new(None),
        }
    }

    pub fn note<'a>(&self, written: impl IntoIterator<Item = &'a DbKey>) {
        let now = Instant::now();
        let mut keys = self.keys.lock();
        if keys.len() >= Self::PRUNE_AT {
            let window = self.window;
            keys.retain(|_, at| now.duration_since(*at) < window);
        }
        for k in written {
            keys.insert(k.clone(), now);
        }
    }

    pub fn note_everything(&self) {
        *self.everything_until.lock() = Some(Instant::now() + self.window);
    }

    pub fn any(&self, keys: &[DbKey]) -> bool {
        let now = Instant::now();
        if self
            .everything_until
            .lock()
            .is_some_and(|until| now < until)
        {
            return true;
        }
        let recent = self.keys.lock();
        keys.iter().any(|k| {
            recent
                .get(k)
                .is_some_and(|at| now.duration_since(*at) < self.window)
        })
    }
}

fn too_many(what: &str, n: usize) -> Reply {
    Reply::error(format!(
        "ERR {what} touches {n} keys; DynamoDB allows at most {TRANSACT_MAX} items per transaction"
    ))
}

const TRANSACTION_TOO_LARGE: Reply =
    Reply::static_error("ERR transaction too large for DynamoDB (max 4 MB per transaction)");

/// Why an EXEC cannot run on DynamoDB, if it cannot.
fn unsupported_in_transaction(cmds: &[Command]) -> Option<Reply> {
    cmds.iter().find_map(|c| {
        let name = c.spec.name;
        // SELECT and UNWATCH run in the scratch executor like any command
        // (UNWATCH inside MULTI only answers OK).
        (!matches!(name, "select" | "unwatch") && !GENERAL.contains(&name)).then(|| {
            Reply::error(format!(
                "ERR {} inside MULTI is not supported by the DynamoDB backend",
                name.to_ascii_uppercase()
            ))
        })
    })
}

impl Shared {
    pub async fn execute(&self, req: Request) -> Result<Reply, BoxError> {
        match req.command.spec.name {
            "exec" => self.exec(&req).await,
            "watch" => self.watch(&req).await,
            "unwatch" => {
                self.watches.lock().remove(&req.client.id);
                Ok(Reply::ok())
            }
            "keys" => keyspace::keys(self, &req).await,
            "scan" => keyspace::scan(self, &req).await,
            "dbsize" => keyspace::dbsize(self, req.db).await,
            "randomkey" => keyspace::randomkey(self, req.db).await,
            "flushdb" => keyspace::flush(self, &req, Some(req.db)).await,
            "flushall" => keyspace::flush(self, &req, None).await,
            "swapdb" => self.swapdb(&req),
            "set" | "setex" | "psetex" => self.set(&req).await,
            "mset" => self.mset(&req).await,
            "del" | "unlink" => self.del(&req).await,
            name if GENERAL.contains(&name) => self.general(&req).await,
            other => Ok(Reply::error(format!(
                "ERR command '{other}' is not supported by the DynamoDB backend"
            ))),
        }
    }

    /// SWAPDB's argument errors are the memory backend's; a valid SWAPDB
    /// cannot be done (the db index is in every item's key).
    fn swapdb(&self, req: &Request) -> Result<Reply, BoxError> {
        let outcome = scratch::run(&Snapshot::new(), req, now_ms(), &self.memory)?;
        Ok(match outcome.reply {
            e @ Reply::Error(_) => e,
            _ => SWAPDB_UNSUPPORTED,
        })
    }

    /// Whether a read of `keys` must be consistent.
    fn consistent_read(&self, keys: &[DbKey]) -> bool {
        self.config.strong_reads || self.recent.any(keys)
    }

    /// Any command, through the scratch keyspace.
    async fn general(&self, req: &Request) -> Result<Reply, BoxError> {
        let mut keys = Vec::new();
        scratch::keys_of(&req.command, req.db, self.config.databases, &mut keys);
        let keys = scratch::dedup(keys);
        if scratch::too_long(&keys) {
            return Ok(KEY_TOO_LONG);
        }
        let write = req.command.spec.is_write();
        if write && keys.len() > TRANSACT_MAX {
            return Ok(too_many(
                &req.command.spec.name.to_ascii_uppercase(),
                keys.len(),
            ));
        }
        // Writes read consistently: a stale read would only fail its
        // condition and cost a retry.
        let consistent = write || self.consistent_read(&keys);
        self.optimistic(req, &keys, consistent, None).await
    }

    /// Load, run, write back conditionally; again on conflict.
    async fn optimistic(
        &self,
        req: &Request,
        keys: &[DbKey],
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
        for attempt in 0..attempts {
            if attempt > 0 {
                tokio::time::sleep(backoff(
                    attempt - 1,
                    Duration::from_millis(2),
                    Duration::from_millis(100),
                ))
                .await;
            }
            let now = now_ms();
            let snapshot = if transaction {
                self.transact_get(keys).await?
            } else {
                self.load(keys, consistent).await?
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
            let outcome = scratch::run(&snapshot, req, now, &self.memory)?;
            self.counters.add(outcome.hits, outcome.misses);
            let writes = match plan(&snapshot, &outcome.changes, id, keys.len() > 1, now) {
                Ok(w) => w,
                Err(reply) => return Ok(reply),
            };
            let Some(probe) = writes.iter().find(|w| w.op != Op::Check) else {
                observe(req, &snapshot, &[], now);
                return Ok(outcome.reply);
            };
            let probe = (probe.db, probe.key.clone());
            match self.commit(&writes, id, attempt, now).await {
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
                Err(CallError::Cancelled(reasons)) => {
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
                        continue;
                    }
                    return cancelled(&reasons);
                }
                Err(CallError::TooLarge) => return Ok(TOO_LARGE),
                Err(CallError::Failed(e)) => return Err(e),
            }
        }
        Err(contended(attempts))
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
        let keys = scratch::dedup(
            req.command.args[1..]
                .iter()
                .map(|k| (req.db, scratch::own(k)))
                .collect(),
        );
        if scratch::too_long(&keys) {
            return Ok(KEY_TOO_LONG);
        }
        let now = now_ms();
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
        let mut keys = scratch::transaction_keys(&req.transaction, req.db, self.config.databases);
        keys.extend(watched.iter().map(|w| w.key.clone()));
        let keys = scratch::dedup(keys);
        if scratch::too_long(&keys) {
            return Ok(KEY_TOO_LONG);
        }
        if keys.len() > TRANSACT_MAX {
            return Ok(too_many("the transaction", keys.len()));
        }
        self.optimistic(req, &keys, true, Some(&watched)).await
    }

    /// SET, SETEX, PSETEX: a blind write when the outcome does not depend on
    /// the current value.
    async fn set(&self, req: &Request) -> Result<Reply, BoxError> {
        let now = now_ms();
        let a = &req.command.args;
        let name = req.command.spec.name;
        let blind = if name == "set" {
            match SetArgs::parse(a, now) {
                Ok(s) if s.condition == SetCondition::Always && !s.get => match s.expiry {
                    None | Some(Expiry::Persist) => Some((&a[1], &a[2], 0)),
                    Some(Expiry::At(at)) if at > now => Some((&a[1], &a[2], at)),
                    _ => None,
                },
                Ok(_) => None,
                Err(e) => return Ok(e),
            }
        } else {
            match parse_setex(name, &a[2], name == "psetex", now) {
                Ok(at) if at > now => Some((&a[1], &a[3], at)),
                Ok(_) => None,
                Err(e) => return Ok(e),
            }
        };
        let Some((key, value, expire_at)) = blind else {
            return self.general(req).await;
        };
        if key.len() > MAX_KEY_LEN {
            return Ok(KEY_TOO_LONG);
        }
        if !fits(key, value.len()) {
            return Ok(TOO_LARGE);
        }
        let id = WriteId::random();
        let write = blind_put(req.db, key, value, expire_at, id);
        match self.update(&write, now, false).await {
            Ok(()) => {
                self.note_writes(std::slice::from_ref(&write));
                Ok(Reply::ok())
            }
            Err(e) => unexpected(e),
        }
    }

    /// MSET: one TransactWriteItems of blind writes (atomic, as in Redis).
    async fn mset(&self, req: &Request) -> Result<Reply, BoxError> {
        let a = &req.command.args;
        if a.len() % 2 == 0 {
            // The memory semantics give the arity error.
            return self.general(req).await;
        }
        // Later pairs win, as in Redis; DynamoDB wants one action per item.
        let mut position: HashMap<&Bytes, usize> = HashMap::new();
        let mut pairs: Vec<(&Bytes, &Bytes)> = Vec::new();
        for pair in a[1..].chunks(2) {
            match position.get(&pair[0]) {
                Some(&i) => pairs[i].1 = &pair[1],
                None => {
                    position.insert(&pair[0], pairs.len());
                    pairs.push((&pair[0], &pair[1]));
                }
            }
        }
        if pairs.len() > TRANSACT_MAX {
            return Ok(too_many("MSET", pairs.len()));
        }
        if pairs.iter().any(|(k, _)| k.len() > MAX_KEY_LEN) {
            return Ok(KEY_TOO_LONG);
        }
        if pairs.iter().any(|(k, v)| !fits(k, v.len())) {
            return Ok(TOO_LARGE);
        }
        let total: usize = pairs.iter().map(|(k, v)| head_size(k, v.len())).sum();
        if total > TRANSACT_MAX_BYTES {
            return Ok(TRANSACTION_TOO_LARGE);
        }
        let id = WriteId::random();
        let writes: Vec<Write> = pairs
            .iter()
            .map(|(k, v)| blind_put(req.db, k, v, 0, id))
            .collect();
        let attempts = self.config.conflict_attempts;
        for attempt in 0..attempts {
            if attempt > 0 {
                tokio::time::sleep(backoff(
                    attempt - 1,
                    Duration::from_millis(2),
                    Duration::from_millis(100),
                ))
                .await;
            }
            match self.commit(&writes, id, attempt, now_ms()).await {
                Ok(()) => {
                    self.note_writes(&writes);
                    return Ok(Reply::ok());
                }
                // Another transaction was working on one of the items.
                Err(CallError::Cancelled(r))
                    if r.iter()
                        .any(|r| r.as_deref() == Some("TransactionConflict")) =>
                {
                    continue
                }
                Err(CallError::Cancelled(r)) => return cancelled(&r),
                Err(e) => return unexpected(e),
            }
        }
        Err(contended(attempts))
    }

    /// DEL/UNLINK. One key: a conditional tombstone, one call. Up to 100:
    /// one BatchGetItem and one TransactWriteItems. More: groups of 100,
    /// each atomic.
    async fn del(&self, req: &Request) -> Result<Reply, BoxError> {
        let keys = scratch::dedup(
            req.command.args[1..]
                .iter()
                .map(|k| (req.db, k.clone()))
                .collect(),
        );
        if scratch::too_long(&keys) {
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
        let now = now_ms();
        let id = WriteId::random();
        let write = Write {
            db: *db,
            key: key.clone(),
            op: Op::Tombstone,
            cond: Cond::LiveAt(now),
            version: None,
            writes: id.chain(&[]),
        };
        match self.update_returning_old(&write, now, true).await {
            Ok(()) => {
                self.note_writes(std::slice::from_ref(&write));
                Ok(Reply::Integer(1))
            }
            // A transaction is changing the key: decide on fresh data.
            Err((CallError::Conflict, _)) => self.general(req).await,
            Err((CallError::Condition, old)) => {
                // Not live — unless it is our own tombstone, written by an
                // attempt whose response was lost.
                let ours = old
                    .as_ref()
                    .and_then(|item| Head::decode(item).ok())
                    .is_some_and(|h| h.wrote(id));
                Ok(Reply::Integer(ours as i64))
            }
            Err((e, _)) => unexpected(e),
        }
    }
}

/// A write that sets a string whatever the key held.
fn blind_put(db: u32, key: &Bytes, value: &Bytes, expire_at: u64, id: WriteId) -> Write {
    Write {
        db,
        key: scratch::own(key),
        op: Op::Put {
            value: scratch::own(value),
            expire_at,
        },
        cond: Cond::Any,
        version: None,
        writes: id.chain(&[]),
    }
}

/// Tell the cache layer, when it asked, the state and version of every key
/// this command read or wrote: a committed write's new state at its new
/// version, otherwise the state read. A write whose version is not known
/// (none here, but blind writes elsewhere) is left out, and the cache
/// invalidates it.
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
                let Some(version) = w.version else { continue };
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
/// the version read. With `check_reads`, keys read but not written get a
/// ConditionCheck, so the command's reads still hold when it commits
/// (serializable). An error is the reply to give instead.
fn plan(
    snapshot: &Snapshot,
    changes: &[(DbKey, Option<crate::store::memory::Entry>)],
    id: WriteId,
    check_reads: bool,
    now: u64,
) -> Result<Vec<Write>, Reply> {
    let mut writes = Vec::with_capacity(snapshot.len());
    let mut bytes = 0;
    let mut changed = std::collections::HashSet::new();
    for ((db, key), after) in changes {
        changed.insert((*db, key.clone()));
        let before = snapshot.get(&(*db, key.clone())).and_then(Option::as_ref);
        let cond = before.map_or(Cond::Absent, |h| Cond::Version(h.version));
        let previous_writes = before.map_or(&[][..], |h| &h.writes[..]);
        let op = match after {
            Some(entry) => {
                let crate::store::memory::Value::Str(value) = entry.value();
                if !fits(key, value.len()) {
                    return Err(TOO_LARGE);
                }
                bytes += head_size(key, value.len());
                Op::Put {
                    value: Bytes::copy_from_slice(value),
                    expire_at: entry.expire_at(),
                }
            }
            // Deleting a key no item holds is nothing to write.
            None if before.is_none() => continue,
            None => Op::Tombstone,
        };
        writes.push(Write {
            db: *db,
            key: key.clone(),
            op,
            cond,
            version: Some(next_version(before.map(|h| h.version), now)),
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
                version: None,
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
        CallError::Cancelled(r) => cancelled(&r),
        CallError::Conflict => Err(Box::new(TryAgain(
            "DynamoDB was running a transaction on the key, try again".into(),
        ))),
        CallError::Condition => Err(Box::new(TryAgain(
            "DynamoDB refused a write on a condition it does not have".into(),
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
