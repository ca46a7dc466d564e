//! Commands over a whole database: KEYS, SCAN, DBSIZE, RANDOMKEY, FLUSHDB
//! and FLUSHALL, all built on DynamoDB's paginated Scan.
//!
//! A Scan reads the whole table (every db, every item) and filters
//! afterwards, so these commands cost read capacity in proportion to the
//! table, not to the db: KEYS, DBSIZE and FLUSHDB read all of it, as
//! Redis' own KEYS walks the whole keyspace. SCAN reads it a slice per call.
//!
//! SCAN cursors are integers (redis-py parses them with `int()`) that name
//! a DynamoDB `LastEvaluatedKey` this node keeps: a bounded map (at most
//! [`MAX_CURSORS`], each forgotten [`CURSOR_IDLE`] after its last use). A
//! call reads pages of at most COUNT items (evaluated, before the db
//! filter) until it has seen COUNT keys of the db or read
//! [`PAGES_PER_CALL`] pages, and answers with a fresh cursor for where it
//! stopped. Every key that exists for the whole iteration is returned
//! exactly once (DynamoDB's scan order is stable). A cursor only works on
//! the node that issued it and for a while; an unknown cursor is an error,
//! never a silent restart or a silent end. (Stateless cursors from
//! parallel-scan segments would survive restarts and load balancers, but
//! moto cannot scan segments of a binary-keyed table, so they could not be
//! tested.)

use std::collections::HashMap;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use aws_sdk_dynamodb::types::{AttributeValue, DeleteRequest, Select, WriteRequest};
use bytes::Bytes;
use futures::stream::{self, StreamExt, TryStreamExt};
use rand::Rng;
use redynamo_layers::{BoxError, Reply};

use super::calls::{Expr, BATCH_WRITE_MAX};
use super::error::{build_error, fail};
use super::schema::{self, blob, num, HEAD_SK};
use super::Shared;
use crate::commands::server::{scan_reply, KeyFilter};

/// Most SCAN cursors a node remembers; the least recently used goes.
pub const MAX_CURSORS: usize = 10_000;
/// A SCAN cursor unused this long is forgotten.
pub const CURSOR_IDLE: Duration = Duration::from_secs(600);
/// Pages one SCAN call reads at most, whatever COUNT asks for, so one
/// call's latency stays bounded when the db is sparse in the table.
const PAGES_PER_CALL: usize = 16;
/// Items a RANDOMKEY page evaluates.
const RANDOM_PAGE: i32 = 100;
/// Concurrent BatchWriteItem calls of a FLUSHDB.
const FLUSH_CONCURRENCY: usize = 8;

/// The resume points of this node's SCAN iterations.
#[derive(Default)]
pub struct Cursors {
    map: Mutex<HashMap<u64, Resume>>,
}

struct Resume {
    db: u32,
    start: HashMap<String, AttributeValue>,
    used: Instant,
}

impl Cursors {
    fn get(&self, cursor: u64, db: u32) -> Option<HashMap<String, AttributeValue>> {
        let mut map = self.map.lock();
        let resume = map.get_mut(&cursor).filter(|r| r.db == db)?;
        if resume.used.elapsed() > CURSOR_IDLE {
            map.remove(&cursor);
            return None;
        }
        // Kept, not taken: a client may repeat a call whose reply it lost.
        resume.used = Instant::now();
        Some(resume.start.clone())
    }

    fn insert(&self, db: u32, start: HashMap<String, AttributeValue>) -> u64 {
        let mut map = self.map.lock();
        if map.len() >= MAX_CURSORS {
            map.retain(|_, r| r.used.elapsed() <= CURSOR_IDLE);
        }
        if map.len() >= MAX_CURSORS {
            if let Some(oldest) = map.iter().min_by_key(|(_, r)| r.used).map(|(c, _)| *c) {
                map.remove(&oldest);
            }
        }
        let mut rng = rand::thread_rng();
        let cursor = loop {
            // Below 2^53 so that clients that parse cursors as doubles
            // (JavaScript) keep them exact.
            let c = rng.gen_range(1..1u64 << 53);
            if !map.contains_key(&c) {
                break c;
            }
        };
        map.insert(
            cursor,
            Resume {
                db,
                start,
                used: Instant::now(),
            },
        );
        cursor
    }
}

/// Which items a Scan returns.
enum Filter {
    /// Live heads of one db.
    LiveHeads { db: u32, now: u64 },
    /// Every item (heads, tombstones, members) of one db.
    AllOfDb(u32),
    /// Every item of the table.
    All,
}

/// A Scan in pages: `visit` sees each page's items and says whether to go
/// on.
struct ScanSpec<'a> {
    filter: Filter,
    /// Where to start (a `LastEvaluatedKey`), None for the beginning.
    start: Option<HashMap<String, AttributeValue>>,
    /// Items evaluated per page (None: DynamoDB's 1 MB pages).
    page: Option<i32>,
    projection: &'a [&'a str],
    count_only: bool,
}

impl Shared {
    /// Returns where the scan stopped: None at the end of the table.
    async fn scan_pages(
        &self,
        spec: ScanSpec<'_>,
        mut visit: impl FnMut(&[HashMap<String, AttributeValue>], i32) -> bool,
    ) -> Result<Option<HashMap<String, AttributeValue>>, BoxError> {
        let mut e = Expr::default();
        let filter = match spec.filter {
            Filter::LiveHeads { db, now } => {
                let (d, sk, x) = (
                    e.name(schema::DB),
                    e.name(schema::SK),
                    e.name(schema::EXPIRE),
                );
                Some(format!(
                    "{d} = {} AND {sk} = {} AND (attribute_not_exists({x}) OR {x} > {})",
                    e.value("db", num(db)),
                    e.value("head", blob(Bytes::from_static(HEAD_SK))),
                    e.value("now", num(now)),
                ))
            }
            Filter::AllOfDb(db) => Some(format!(
                "{} = {}",
                e.name(schema::DB),
                e.value("db", num(db))
            )),
            Filter::All => None,
        };
        let projection = (!spec.count_only).then(|| {
            spec.projection
                .iter()
                .map(|a| e.name(a))
                .collect::<Vec<_>>()
                .join(", ")
        });
        let mut start = spec.start;
        loop {
            let mut call = self
                .client
                .scan()
                .table_name(&self.table)
                .set_filter_expression(filter.clone())
                .set_projection_expression(projection.clone())
                .set_expression_attribute_names(e.names())
                .set_expression_attribute_values(e.values())
                .consistent_read(self.config.strong_reads)
                .set_exclusive_start_key(start.take());
            if spec.count_only {
                call = call.select(Select::Count);
            }
            if let Some(page) = spec.page {
                call = call.limit(page);
            }
            let out = call.send().await.map_err(|e| fail("Scan", e))?;
            let next = out.last_evaluated_key().filter(|k| !k.is_empty()).cloned();
            if !visit(out.items(), out.count()) || next.is_none() {
                return Ok(next);
            }
            start = next;
        }
    }
}

/// The key of a head item from its `pk`.
fn key_of(item: &HashMap<String, AttributeValue>) -> Option<&[u8]> {
    match item.get(schema::PK) {
        Some(AttributeValue::B(pk)) => schema::split_pk(pk.as_ref()).map(|(_, k)| k),
        _ => None,
    }
}

fn type_of(item: &HashMap<String, AttributeValue>) -> &str {
    match item.get(schema::TYPE) {
        Some(AttributeValue::S(t)) => t,
        _ => "",
    }
}

pub async fn keys(shared: &Shared, db: u32, filter: &KeyFilter) -> Result<Reply, BoxError> {
    let mut out = Vec::new();
    let spec = ScanSpec {
        filter: Filter::LiveHeads {
            db,
            now: shared.now(),
        },
        start: None,
        page: None,
        projection: &[schema::PK],
        count_only: false,
    };
    shared
        .scan_pages(spec, |items, _| {
            for key in items.iter().filter_map(key_of) {
                if filter.matches_named(key, "") {
                    out.push(Reply::Bulk(Bytes::copy_from_slice(key)));
                }
            }
            true
        })
        .await?;
    Ok(Reply::Array(out))
}

/// The SCAN error for a cursor this node does not know.
const UNKNOWN_CURSOR: Reply = Reply::static_error(
    "ERR invalid or expired SCAN cursor (on DynamoDB, cursors belong to the node that issued them and expire after 10 minutes idle)",
);

pub async fn scan(
    shared: &Shared,
    db: u32,
    cursor: u64,
    count: usize,
    filter: &KeyFilter,
) -> Result<Reply, BoxError> {
    let start = if cursor == 0 {
        None
    } else {
        match shared.cursors.get(cursor, db) {
            Some(start) => Some(start),
            None => return Ok(UNKNOWN_CURSOR),
        }
    };
    let mut found = Vec::new();
    let mut seen = 0usize;
    let mut pages = 0;
    let spec = ScanSpec {
        filter: Filter::LiveHeads {
            db,
            now: shared.now(),
        },
        start,
        page: Some(count.clamp(10, 1000) as i32),
        projection: &[schema::PK, schema::TYPE],
        count_only: false,
    };
    let stopped = shared
        .scan_pages(spec, |items, _| {
            for item in items {
                let Some(key) = key_of(item) else { continue };
                seen += 1;
                if filter.matches_named(key, type_of(item)) {
                    found.push(Reply::Bulk(Bytes::copy_from_slice(key)));
                }
            }
            pages += 1;
            seen < count && pages < PAGES_PER_CALL
        })
        .await?;
    let next = match stopped {
        Some(resume) => shared.cursors.insert(db, resume),
        None => 0,
    };
    Ok(scan_reply(next, found))
}

pub async fn dbsize(shared: &Shared, db: u32) -> Result<Reply, BoxError> {
    let mut n = 0i64;
    let spec = ScanSpec {
        filter: Filter::LiveHeads {
            db,
            now: shared.now(),
        },
        start: None,
        page: None,
        projection: &[],
        count_only: true,
    };
    shared
        .scan_pages(spec, |_, count| {
            n += count as i64;
            true
        })
        .await?;
    Ok(Reply::Integer(n))
}

/// A key near a random point of the table: the Scan starts after a random
/// partition key of the db (DynamoDB orders a Scan by the hash of the
/// partition key, so that is a random position) and wraps around to the
/// beginning when it finds nothing after it. Usually one page of
/// [`RANDOM_PAGE`] items.
pub async fn randomkey(shared: &Shared, db: u32) -> Result<Reply, BoxError> {
    let now = shared.now();
    let mut probe = [0u8; 16];
    rand::thread_rng().fill(&mut probe);
    let random_start = schema::head_key(db, &probe);
    for start in [Some(random_start), None] {
        let mut keys: Vec<Bytes> = Vec::new();
        let spec = ScanSpec {
            filter: Filter::LiveHeads { db, now },
            start,
            page: Some(RANDOM_PAGE),
            projection: &[schema::PK],
            count_only: false,
        };
        shared
            .scan_pages(spec, |items, _| {
                keys.extend(items.iter().filter_map(key_of).map(Bytes::copy_from_slice));
                keys.is_empty()
            })
            .await?;
        if !keys.is_empty() {
            let pick = rand::thread_rng().gen_range(0..keys.len());
            return Ok(Reply::Bulk(keys.swap_remove(pick)));
        }
    }
    Ok(Reply::Null)
}

/// FLUSHDB (`db` Some) or FLUSHALL: delete every item, members and
/// tombstones included, 25 per BatchWriteItem. Not atomic: a write racing
/// with it may survive, and a FLUSHDB that fails half-way leaves the rest
/// (running it again finishes the job).
pub async fn flush(shared: &Shared, db: Option<u32>) -> Result<Reply, BoxError> {
    let mut pages: Vec<Vec<HashMap<String, AttributeValue>>> = Vec::new();
    let spec = ScanSpec {
        filter: db.map_or(Filter::All, Filter::AllOfDb),
        start: None,
        page: None,
        projection: &[schema::PK, schema::SK],
        count_only: false,
    };
    // Collect first, then delete: deleting under a running Scan is allowed
    // by DynamoDB but would make moto-like servers skip items.
    shared
        .scan_pages(spec, |items, _| {
            pages.push(items.to_vec());
            true
        })
        .await?;
    let keys: Vec<HashMap<String, AttributeValue>> = pages.into_iter().flatten().collect();
    let batches: Vec<Vec<HashMap<String, AttributeValue>>> =
        keys.chunks(BATCH_WRITE_MAX).map(<[_]>::to_vec).collect();
    stream::iter(batches)
        .map(|batch| shared.delete_batch(batch))
        .buffer_unordered(FLUSH_CONCURRENCY)
        .try_collect::<Vec<()>>()
        .await?;
    shared.recent.note_everything();
    Ok(Reply::ok())
}

impl Shared {
    /// One BatchWriteItem of deletes, unprocessed items retried.
    async fn delete_batch(
        &self,
        keys: Vec<HashMap<String, AttributeValue>>,
    ) -> Result<(), BoxError> {
        let mut pending = Vec::with_capacity(keys.len());
        for key in keys {
            let delete = DeleteRequest::builder()
                .set_key(Some(key))
                .build()
                .map_err(build_error)?;
            pending.push(WriteRequest::builder().delete_request(delete).build());
        }
        let mut round = 0;
        while !pending.is_empty() {
            self.before_unprocessed_round(round, || {
                format!(
                    "flush interrupted: DynamoDB left {} deletes unprocessed (run it again)",
                    pending.len()
                )
            })
            .await?;
            round += 1;
            let out = self
                .client
                .batch_write_item()
                .request_items(&self.table, std::mem::take(&mut pending))
                .send()
                .await
                .map_err(|e| fail("BatchWriteItem", e))?;
            if let Some(left) = out.unprocessed_items().and_then(|u| u.get(&self.table)) {
                pending = left.clone();
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_resume_and_are_bounded() {
        let cursors = Cursors::default();
        let start = schema::head_key(0, b"k");
        let c = cursors.insert(0, start.clone());
        assert!(c > 0 && c < 1 << 53);
        assert_eq!(cursors.get(c, 0), Some(start.clone()));
        assert_eq!(cursors.get(c, 0), Some(start), "a cursor can be repeated");
        assert_eq!(cursors.get(c, 1), None, "cursors belong to their db");
        assert_eq!(cursors.get(c + 1, 0), None);
        for i in 0..MAX_CURSORS + 10 {
            cursors.insert(0, schema::head_key(0, format!("{i}").as_bytes()));
        }
        assert!(cursors.map.lock().len() <= MAX_CURSORS);
    }
}
