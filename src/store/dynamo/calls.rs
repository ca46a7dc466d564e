//! The DynamoDB calls the engine makes: loading heads and committing writes.
//!
//! Loads: one key is a GetItem; several are BatchGetItem calls of at most
//! 100 keys, sent concurrently, with unprocessed keys retried with backoff;
//! a transaction's keys are one TransactGetItems (a snapshot). Commits: one
//! write is an UpdateItem; more (or any write with a condition on another
//! key) are one TransactWriteItems with an idempotency token.

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

use super::error::{build_error, classify, fail, CallError};
use super::item::{ttl_seconds, Head, WriteId, STRING};
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

/// What a write requires of the item it writes or checks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cond {
    /// Nothing: a blind write.
    Any,
    /// No item at all.
    Absent,
    /// The item has exactly this version.
    Version(i64),
    /// The key exists at this time (an item, not expired, not a tombstone).
    LiveAt(u64),
}

impl Cond {
    fn render(self, e: &mut Expr) -> Option<String> {
        match self {
            Cond::Any => None,
            Cond::Absent => Some(format!("attribute_not_exists({})", e.name(schema::PK))),
            Cond::Version(v) => {
                let ver = e.name(schema::VERSION);
                Some(format!("{ver} = {}", e.value("cver", num(v))))
            }
            Cond::LiveAt(now) => {
                // A tombstone's expiry is its deletion time, so this also
                // excludes tombstones.
                let (pk, x) = (e.name(schema::PK), e.name(schema::EXPIRE));
                let now = e.value("now", num(now));
                Some(format!(
                    "attribute_exists({pk}) AND (attribute_not_exists({x}) OR {x} > {now})"
                ))
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
    /// The version to write; None: one more than the current one, or
    /// the base for a new item (blind writes, which do not know it).
    pub version: Option<i64>,
    /// The item's `w` after this write.
    pub writes: Bytes,
}

/// The parts of an UpdateItem or a transaction's Update/ConditionCheck.
pub struct Rendered {
    pub key: HashMap<String, AttributeValue>,
    pub update: Option<String>,
    pub condition: Option<String>,
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
                match self.version {
                    Some(v) => set.push(format!("{ver} = {}", e.value("ver", num(v)))),
                    None => {
                        let base = e.value("base", num(super::item::version_base(now)));
                        let one = e.value("one", num(1));
                        set.push(format!("{ver} = if_not_exists({ver}, {base}) + {one}"));
                    }
                }
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
            .set_condition_expression(r.condition)
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
                            .set_condition_expression(r.condition)
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
                            .condition_expression(
                                r.condition
                                    .unwrap_or_else(|| format!("attribute_exists({})", schema::PK)),
                            )
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
                    let reasons = c
                        .cancellation_reasons()
                        .iter()
                        .map(|r| r.code().map(str::to_string))
                        .collect();
                    return Err(CallError::Cancelled(reasons));
                }
                Err(classify("TransactWriteItems", e))
            }
        }
    }
}
