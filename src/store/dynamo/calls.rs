//! The DynamoDB calls the engine makes: loading heads and committing writes.
//!
//! Loads: one key is a GetItem; several are BatchGetItem calls of at most
//! 100 keys, sent concurrently, with unprocessed keys retried with backoff;
//! a transaction's keys are one TransactGetItems (a snapshot). Commits: one
//! write is an UpdateItem; more (or any write with a condition on another
//! key) are one TransactWriteItems with an idempotency token.
//!
//! Every write of a head sets `ver` to a stamp and has a condition on `ver`
//! ([`Cond`] has no unconditional form): equal to the version read, or
//! below the write's own stamp. So `ver` only grows and a late attempt of
//! an older write always fails (see [`super::item::Stamps`]). A failed
//! condition returns the item (ALL_OLD), so blind writes decide what it
//! means without another read.
//!
//! This file is longer than ~600 lines on purpose: it is the one place that
//! builds and reads every DynamoDB request the backend makes (items, keys,
//! conditions, retries), so the wire format has one home.

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_dynamodb::types::{
    AttributeValue, ConditionCheck, Get, KeysAndAttributes, ReturnValuesOnConditionCheckFailure,
    TransactGetItem, TransactWriteItem, Update,
};
use bytes::Bytes;
use futures::future::try_join_all;
use rand::Rng;
use redynamo_layers::error::TryAgain;
use redynamo_layers::BoxError;

use super::error::{build_error, classify, contended, fail, CallError, Cancellation};
use super::item::{live_at, stamp_of, ttl_seconds, written_by, Head, WriteId, STRING};
use super::schema::{self, blob, head_key, num};
use super::Shared;

/// A key of a db: what the engine loads and writes.
pub type DbKey = (u32, Bytes);

/// What a load found: every requested key, None where no item exists.
pub type Snapshot = HashMap<DbKey, Option<Head>>;

/// DynamoDB's limits per call.
pub const BATCH_GET_MAX: usize = 100;
pub const TRANSACT_MAX: usize = 100;
pub const TRANSACT_MAX_BYTES: usize = 4 * 1024 * 1024;
pub const BATCH_WRITE_MAX: usize = 25;

/// Full-jitter exponential backoff: a random wait up to `base * 2^attempt`,
/// capped.
pub fn backoff(attempt: u32, base: Duration, cap: Duration) -> Duration {
    let ceiling = base.saturating_mul(1u32 << attempt.min(16)).min(cap);
    let ms = ceiling.as_millis().max(1) as u64;
    Duration::from_millis(rand::thread_rng().gen_range(0..=ms))
}

/// Expression attribute names and values, registered as they are used so
/// that none is left unused (DynamoDB refuses unused ones).
#[derive(Default)]
pub struct Expr {
    names: HashMap<String, String>,
    values: HashMap<String, AttributeValue>,
}

impl Expr {
    pub fn name(&mut self, attr: &str) -> String {
        let placeholder = format!("#{attr}");
        self.names.insert(placeholder.clone(), attr.to_string());
        placeholder
    }

    pub fn value(&mut self, tag: &str, v: AttributeValue) -> String {
        let placeholder = format!(":{tag}");
        self.values.insert(placeholder.clone(), v);
        placeholder
    }

    pub fn names(&self) -> Option<HashMap<String, String>> {
        (!self.names.is_empty()).then(|| self.names.clone())
    }

    pub fn values(&self) -> Option<HashMap<String, AttributeValue>> {
        (!self.values.is_empty()).then(|| self.values.clone())
    }
}

/// What a write requires of the item it writes or checks. There is no
/// unconditional write: every write is conditional on the item's stamp
/// (`ver`), so that no late attempt of an older write can ever apply
/// (see [`super::item::Stamps`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cond {
    /// No item at all.
    Absent,
    /// The item has exactly this version (read-modify-write).
    Version(i64),
    /// No item, or one whose stamp is below this one (a blind write whose
    /// own stamp this is).
    Below(i64),
    /// The key exists at `now` (an item, not expired, not a tombstone) and
    /// its stamp is below `stamp` (a blind delete).
    LiveBelow { now: u64, stamp: i64 },
}

impl Cond {
    fn render(self, e: &mut Expr) -> String {
        match self {
            Cond::Absent => format!("attribute_not_exists({})", e.name(schema::PK)),
            Cond::Version(v) => {
                let ver = e.name(schema::VERSION);
                format!("{ver} = {}", e.value("cver", num(v)))
            }
            Cond::Below(stamp) => {
                let ver = e.name(schema::VERSION);
                format!(
                    "attribute_not_exists({ver}) OR {ver} < {}",
                    e.value("cver", num(stamp))
                )
            }
            Cond::LiveBelow { now, stamp } => {
                // A tombstone's expiry is its deletion time, so this also
                // excludes tombstones.
                let (pk, x) = (e.name(schema::PK), e.name(schema::EXPIRE));
                let now = e.value("now", num(now));
                let ver = e.name(schema::VERSION);
                let stamp = e.value("cver", num(stamp));
                format!(
                    "attribute_exists({pk}) AND (attribute_not_exists({x}) OR {x} > {now}) \
                     AND (attribute_not_exists({ver}) OR {ver} < {stamp})"
                )
            }
        }
    }
}

/// What a write does to a head.
#[derive(Clone, Debug, PartialEq)]
pub enum Op {
    /// Make the key a string with this value and expiry (0 = none).
    Put { value: Bytes, expire_at: u64 },
    /// Delete the key, leaving a tombstone.
    Tombstone,
    /// Change nothing; only the condition matters (TransactWriteItems).
    Check,
}

/// One write of a commit.
#[derive(Clone, Debug)]
pub struct Write {
    pub db: u32,
    pub key: Bytes,
    pub op: Op,
    pub cond: Cond,
    /// The version (stamp) the item gets; above the one the condition
    /// requires (unused by a check).
    pub version: i64,
    /// The item's `w` after this write.
    pub writes: Bytes,
}

/// The parts of an UpdateItem or a transaction's Update/ConditionCheck.
pub struct Rendered {
    pub key: HashMap<String, AttributeValue>,
    pub update: Option<String>,
    pub condition: String,
    pub expr: Expr,
}

impl Write {
    pub fn render(&self, now: u64) -> Rendered {
        let mut e = Expr::default();
        let condition = self.cond.render(&mut e);
        let update = match &self.op {
            Op::Check => None,
            op => {
                let mut set = Vec::new();
                let mut remove = Vec::new();
                let ver = e.name(schema::VERSION);
                set.push(format!("{ver} = {}", e.value("ver", num(self.version))));
                set.push(format!(
                    "{} = {}",
                    e.name(schema::WRITES),
                    e.value("w", blob(self.writes.clone()))
                ));
                match op {
                    Op::Put { value, expire_at } => {
                        set.push(format!(
                            "{} = {}",
                            e.name(schema::TYPE),
                            e.value("t", AttributeValue::S(STRING.into()))
                        ));
                        set.push(format!(
                            "{} = {}",
                            e.name(schema::VALUE),
                            e.value("v", blob(value.clone()))
                        ));
                        set.push(format!(
                            "{} = {}",
                            e.name(schema::DB),
                            e.value("db", num(self.db))
                        ));
                        if *expire_at == 0 {
                            remove.push(e.name(schema::EXPIRE));
                            remove.push(e.name(schema::TTL));
                        } else {
                            set.push(format!(
                                "{} = {}",
                                e.name(schema::EXPIRE),
                                e.value("x", num(expire_at))
                            ));
                            set.push(format!(
                                "{} = {}",
                                e.name(schema::TTL),
                                e.value("ttl", num(ttl_seconds(*expire_at)))
                            ));
                        }
                        // A string has no members: a former collection's
                        // count goes (its members are garbage already).
                        remove.push(e.name(schema::COUNT));
                    }
                    Op::Tombstone => {
                        // A tombstone keeps the type it had, and is a
                        // well-formed head even over no item at all.
                        let t = e.name(schema::TYPE);
                        let s = e.value("t", AttributeValue::S(STRING.into()));
                        set.push(format!("{t} = if_not_exists({t}, {s})"));
                        set.push(format!(
                            "{} = {}",
                            e.name(schema::EXPIRE),
                            e.value("x", num(now))
                        ));
                        set.push(format!(
                            "{} = {}",
                            e.name(schema::TTL),
                            e.value("ttl", num(ttl_seconds(now)))
                        ));
                        remove.push(e.name(schema::VALUE));
                        remove.push(e.name(schema::COUNT));
                    }
                    Op::Check => unreachable!("handled above"),
                }
                let mut text = format!("SET {}", set.join(", "));
                if !remove.is_empty() {
                    text.push_str(&format!(" REMOVE {}", remove.join(", ")));
                }
                Some(text)
            }
        };
        Rendered {
            key: head_key(self.db, &self.key),
            update,
            condition,
            expr: e,
        }
    }
}

/// The item of a failed single-item condition, when DynamoDB returned it.
pub type OldItem = Option<HashMap<String, AttributeValue>>;

/// What a blind single-item write did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Blind {
    /// Written now, at this stamp.
    Written(i64),
    /// Written by an earlier attempt of the same command whose response was
    /// lost (the item records the command's write id).
    WrittenBefore,
    /// A delete found no live key: nothing was written.
    NotLive,
}

impl Shared {
    /// Before retry round `round` of the items a batch call left
    /// unprocessed: give up with `-TRYAGAIN` (the text from `give_up`) after
    /// the configured rounds, otherwise back off with jitter. Round 0 is the
    /// first call and waits for nothing.
    pub(super) async fn before_unprocessed_round(
        &self,
        round: u32,
        give_up: impl FnOnce() -> String,
    ) -> Result<(), BoxError> {
        if round == 0 {
            return Ok(());
        }
        if round >= self.config.unprocessed_rounds {
            return Err(Box::new(TryAgain(give_up())));
        }
        tokio::time::sleep(backoff(
            round,
            Duration::from_millis(20),
            Duration::from_secs(1),
        ))
        .await;
        Ok(())
    }

    /// Load the heads of `keys` (deduplicated by the caller).
    pub async fn load(&self, keys: &[DbKey], consistent: bool) -> Result<Snapshot, BoxError> {
        match keys {
            [] => Ok(Snapshot::new()),
            [(db, key)] => {
                let head = self.get_head(*db, key, consistent).await?;
                Ok(Snapshot::from([((*db, key.clone()), head)]))
            }
            _ => {
                let chunks = keys
                    .chunks(BATCH_GET_MAX)
                    .map(|c| self.batch_get(c, consistent));
                let mut snapshot = Snapshot::with_capacity(keys.len());
                for part in try_join_all(chunks).await? {
                    snapshot.extend(part);
                }
                Ok(snapshot)
            }
        }
    }

    pub async fn get_head(
        &self,
        db: u32,
        key: &Bytes,
        consistent: bool,
    ) -> Result<Option<Head>, BoxError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(head_key(db, key)))
            .consistent_read(consistent)
            .send()
            .await
            .map_err(|e| fail("GetItem", e))?;
        out.item().map(Head::decode).transpose().map_err(Into::into)
    }

    /// One BatchGetItem of at most 100 keys, unprocessed keys retried.
    async fn batch_get(&self, keys: &[DbKey], consistent: bool) -> Result<Snapshot, BoxError> {
        let mut snapshot: Snapshot = keys.iter().map(|k| (k.clone(), None)).collect();
        let mut pending: Vec<HashMap<String, AttributeValue>> =
            keys.iter().map(|(db, k)| head_key(*db, k)).collect();
        let mut round = 0;
        while !pending.is_empty() {
            self.before_unprocessed_round(round, || {
                format!(
                    "DynamoDB left {} keys of a BatchGetItem unprocessed, retries exhausted",
                    pending.len()
                )
            })
            .await?;
            round += 1;
            let request = KeysAndAttributes::builder()
                .set_keys(Some(std::mem::take(&mut pending)))
                .consistent_read(consistent)
                .build()
                .map_err(build_error)?;
            let out = self
                .client
                .batch_get_item()
                .request_items(&self.table, request)
                .send()
                .await
                .map_err(|e| fail("BatchGetItem", e))?;
            for item in out
                .responses()
                .and_then(|r| r.get(&self.table))
                .into_iter()
                .flatten()
            {
                let Some(AttributeValue::B(pk)) = item.get(schema::PK) else {
                    continue;
                };
                let Some((db, key)) = schema::split_pk(pk.as_ref()) else {
                    continue;
                };
                let head = Head::decode(item)?;
                snapshot.insert((db, Bytes::copy_from_slice(key)), Some(head));
            }
            if let Some(left) = out.unprocessed_keys().and_then(|u| u.get(&self.table)) {
                pending = left.keys().to_vec();
            }
        }
        Ok(snapshot)
    }

    /// A consistent snapshot of up to 100 keys (TransactGetItems).
    pub async fn transact_get(&self, keys: &[DbKey]) -> Result<Snapshot, BoxError> {
        if keys.len() <= 1 {
            return self.load(keys, true).await;
        }
        let mut items = Vec::with_capacity(keys.len());
        for (db, key) in keys {
            let get = Get::builder()
                .table_name(&self.table)
                .set_key(Some(head_key(*db, key)))
                .build()
                .map_err(build_error)?;
            items.push(TransactGetItem::builder().get(get).build());
        }
        // A transactional read is cancelled while a transaction writes one
        // of its items: retry a few times, as for a write conflict.
        let mut attempt = 0;
        let out = loop {
            let result = self
                .client
                .transact_get_items()
                .set_transact_items(Some(items.clone()))
                .send()
                .await;
            match result {
                Ok(out) => break out,
                Err(e) => match classify("TransactGetItems", e) {
                    CallError::Failed(e) => return Err(e),
                    _ if attempt + 1 < self.config.unprocessed_rounds => {
                        tokio::time::sleep(backoff(
                            attempt,
                            Duration::from_millis(5),
                            Duration::from_millis(200),
                        ))
                        .await;
                        attempt += 1;
                    }
                    _ => return Err(Box::new(TryAgain(
                        "DynamoDB kept cancelling a transactional read (concurrent transactions)"
                            .into(),
                    ))),
                },
            }
        };
        let mut snapshot = Snapshot::with_capacity(keys.len());
        for (k, response) in keys.iter().zip(out.responses()) {
            let head = response.item().map(Head::decode).transpose()?;
            snapshot.insert(k.clone(), head);
        }
        for k in keys {
            snapshot.entry(k.clone()).or_insert(None);
        }
        Ok(snapshot)
    }

    /// Apply `writes` atomically. One write is an UpdateItem, more are one
    /// TransactWriteItems.
    pub async fn commit(
        &self,
        writes: &[Write],
        id: WriteId,
        attempt: u32,
        now: u64,
    ) -> Result<(), CallError> {
        match writes {
            [] => Ok(()),
            [single] if single.op != Op::Check => self.update(single, now, false).await.map(drop),
            _ => self.transact_write(writes, id, attempt, now).await,
        }
    }

    /// One UpdateItem. With `old_on_failure`, a failed condition returns the
    /// item as it was (ReturnValuesOnConditionCheckFailure).
    pub async fn update(
        &self,
        write: &Write,
        now: u64,
        old_on_failure: bool,
    ) -> Result<(), CallError> {
        self.update_returning_old(write, now, old_on_failure)
            .await
            .map_err(|(e, _)| e)
    }

    pub async fn update_returning_old(
        &self,
        write: &Write,
        now: u64,
        old_on_failure: bool,
    ) -> Result<(), (CallError, OldItem)> {
        let r = write.render(now);
        let mut call = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(r.key))
            .set_update_expression(r.update)
            .condition_expression(r.condition)
            .set_expression_attribute_names(r.expr.names())
            .set_expression_attribute_values(r.expr.values());
        if old_on_failure {
            call = call.return_values_on_condition_check_failure(
                ReturnValuesOnConditionCheckFailure::AllOld,
            );
        }
        match call.send().await {
            Ok(_) => Ok(()),
            Err(e) => {
                let old = e
                    .as_service_error()
                    .and_then(|s| match s {
                        aws_sdk_dynamodb::operation::update_item::UpdateItemError::ConditionalCheckFailedException(c) => c.item().cloned(),
                        _ => None,
                    });
                Err((classify("UpdateItem", e), old))
            }
        }
    }

    /// Write `op` to the head of `key` whatever it held: SET, SETEX,
    /// PSETEX, and, with `live_only`, the delete of a live key (DEL, a
    /// FLUSHDB's keys). One UpdateItem conditional on the item's stamp
    /// being below this write's, in the common case.
    ///
    /// A failed condition returns the item (ALL_OLD), which decides without
    /// another read: the command's own write id → an earlier attempt of it
    /// was applied (its response was lost); a dead item for a delete →
    /// nothing to delete; otherwise the item's stamp is ahead of this
    /// node's clock (another node's clock is ahead, or a write raced with
    /// this one), and the write is made again above it. The attempts of the
    /// failed write can never apply later: the item's stamp is already at
    /// or above theirs and only grows.
    pub async fn write_blind(
        &self,
        db: u32,
        key: &Bytes,
        op: &Op,
        live_only: bool,
        id: WriteId,
        now: u64,
    ) -> Result<Blind, CallError> {
        let attempts = self.config.conflict_attempts;
        let mut floor = 0;
        for attempt in 0..attempts {
            let stamp = self.stamps.next(floor);
            let cond = if live_only {
                Cond::LiveBelow { now, stamp }
            } else {
                Cond::Below(stamp)
            };
            let write = Write {
                db,
                key: key.clone(),
                op: op.clone(),
                cond,
                version: stamp,
                writes: id.chain(&[]),
            };
            match self.update_returning_old(&write, now, true).await {
                Ok(()) => return Ok(Blind::Written(stamp)),
                Err((CallError::Condition, old)) => {
                    // Without an item, only a delete's condition can fail
                    // (there is no key to delete).
                    let Some(old) = old else {
                        return match live_only {
                            true => Ok(Blind::NotLive),
                            false => Err(CallError::Condition),
                        };
                    };
                    if written_by(&old, id) {
                        return Ok(Blind::WrittenBefore);
                    }
                    if live_only && !live_at(&old, now) {
                        return Ok(Blind::NotLive);
                    }
                    // A `ver` that is not a number is not redynamo's; no
                    // stamp can pass it.
                    let seen = stamp_of(&old).ok_or(CallError::Condition)?;
                    self.stamps.saw(seen);
                    floor = seen.saturating_add(1);
                }
                // A transaction is writing the item right now.
                Err((CallError::Conflict, _)) => {
                    tokio::time::sleep(backoff(
                        attempt,
                        Duration::from_millis(2),
                        Duration::from_millis(100),
                    ))
                    .await
                }
                Err((e, _)) => return Err(e),
            }
        }
        Err(CallError::Failed(contended(attempts)))
    }

    /// Blind writes of several heads as one transaction (MSET): each
    /// conditional on its item's stamp being below the write's, all under
    /// one stamp. A cancellation for failed conditions carries the items
    /// (ALL_OLD) and is decided as in [`Shared::write_blind`]: the command's
    /// write id on one of them → the transaction was applied by an earlier
    /// attempt; otherwise again above the highest stamp found.
    pub async fn transact_blind(
        &self,
        items: &[(DbKey, Op)],
        id: WriteId,
        now: u64,
    ) -> Result<(), CallError> {
        if let [((db, key), op)] = items {
            // One item is one UpdateItem, whose failure carries the item.
            return self
                .write_blind(*db, key, op, false, id, now)
                .await
                .map(drop);
        }
        let attempts = self.config.conflict_attempts;
        let mut floor = 0;
        for attempt in 0..attempts {
            let stamp = self.stamps.next(floor);
            let writes: Vec<Write> = items
                .iter()
                .map(|((db, key), op)| Write {
                    db: *db,
                    key: key.clone(),
                    op: op.clone(),
                    cond: Cond::Below(stamp),
                    version: stamp,
                    writes: id.chain(&[]),
                })
                .collect();
            match self.commit(&writes, id, attempt, now).await {
                Ok(()) => return Ok(()),
                Err(CallError::Cancelled(c)) if c.any("ConditionalCheckFailed") => {
                    let old: Vec<_> = c.old.iter().flatten().collect();
                    if old.iter().any(|item| written_by(item, id)) {
                        return Ok(());
                    }
                    let Some(seen) = old.iter().filter_map(|item| stamp_of(item)).max() else {
                        return Err(CallError::Cancelled(c));
                    };
                    self.stamps.saw(seen);
                    floor = seen.saturating_add(1);
                }
                Err(CallError::Cancelled(c)) if c.any("TransactionConflict") => {
                    tokio::time::sleep(backoff(
                        attempt,
                        Duration::from_millis(2),
                        Duration::from_millis(100),
                    ))
                    .await
                }
                Err(e) => return Err(e),
            }
        }
        Err(CallError::Failed(contended(attempts)))
    }

    async fn transact_write(
        &self,
        writes: &[Write],
        id: WriteId,
        attempt: u32,
        now: u64,
    ) -> Result<(), CallError> {
        let mut items = Vec::with_capacity(writes.len());
        for w in writes {
            let r = w.render(now);
            let item = match r.update {
                Some(update) => TransactWriteItem::builder()
                    .update(
                        Update::builder()
                            .table_name(&self.table)
                            .set_key(Some(r.key))
                            .update_expression(update)
                            .condition_expression(r.condition)
                            // The item that failed comes back with the
                            // cancellation: its stamp and write ids decide
                            // what to do next without another read.
                            .return_values_on_condition_check_failure(
                                ReturnValuesOnConditionCheckFailure::AllOld,
                            )
                            .set_expression_attribute_names(r.expr.names())
                            .set_expression_attribute_values(r.expr.values())
                            .build()
                            .map_err(|e| CallError::Failed(build_error(e)))?,
                    )
                    .build(),
                None => TransactWriteItem::builder()
                    .condition_check(
                        ConditionCheck::builder()
                            .table_name(&self.table)
                            .set_key(Some(r.key))
                            .condition_expression(r.condition)
                            .set_expression_attribute_names(r.expr.names())
                            .set_expression_attribute_values(r.expr.values())
                            .build()
                            .map_err(|e| CallError::Failed(build_error(e)))?,
                    )
                    .build(),
            };
            items.push(item);
        }
        let result = self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .client_request_token(id.token(attempt))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) => {
                use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
                if let Some(TransactWriteItemsError::TransactionCanceledException(c)) =
                    e.as_service_error()
                {
                    return Err(CallError::Cancelled(Cancellation::of(
                        c.cancellation_reasons(),
                    )));
                }
                Err(classify("TransactWriteItems", e))
            }
        }
    }
}
