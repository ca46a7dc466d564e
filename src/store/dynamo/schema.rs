//! The table layout, planned once for every Redis type.
//!
//! One table holds every database and every key. Each Redis key is a
//! *partition* (`pk`); its *head item* (`sk` = [`HEAD_SK`]) carries the type,
//! the string value, the expiry and the version. Collection members (hash
//! fields, set and sorted-set members, list elements, stream entries) will be
//! further items of the same partition, their `sk` starting with
//! [`MEMBER_TAG`] and the 8-byte big-endian *generation* of the key, so that
//! deleting or overwriting a collection is one write to its head: the old
//! members keep the old generation and are garbage a background sweep
//! removes. Sorted-set members also carry `sc` (generation, then the
//! order-preserving bytes of the score, then the member), indexed by the
//! local secondary index [`SCORE_INDEX`], which DynamoDB only accepts at table
//! creation — hence declared now.
//!
//! | attribute | type | on | meaning |
//! |---|---|---|---|
//! | `pk` | B | all | 4-byte big-endian db index, then the key bytes |
//! | `sk` | B | all | `0x00` for the head; `0x01 ‖ generation ‖ …` for members |
//! | `db` | N | all | the db index again, so Scan can filter by db |
//! | `t` | S | head | Redis type name (`string`, later `hash`, `zset` …) |
//! | `v` | B | head | the value of a string |
//! | `x` | N | head | expiry, Unix milliseconds; absent = none |
//! | `ttl` | N | head | when DynamoDB TTL may remove a dead head: `x` in seconds (rounded up) plus an hour |
//! | `ver` | N | head | version: the stamp (µs, hybrid-logical) of the last write; only grows |
//! | `w` | B | head | ids of the last few writes (8 bytes each), newest first |
//! | `n` | N | head | member count (collections) |
//! | `g` | N | head | generation of the members (collections) |
//! | `sc` | B | zset members | sort key of [`SCORE_INDEX`] |
//!
//! A deleted key keeps its head as a *tombstone* (an item whose `x` is the
//! time of deletion and which has no value), so its version keeps growing
//! across delete and re-create and a WATCH cannot be fooled by a key that
//! was deleted and written again; DynamoDB's TTL reaper removes tombstones
//! like any expired key, an hour after the deletion (`ttl`), so that no
//! held-up attempt of an older write can find the item gone. Every write
//! sets `ver` to a stamp above the one it replaces (see `item::Stamps`), so
//! a key's versions only grow, also across delete and re-create.

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType,
    LocalSecondaryIndex, Projection, ProjectionType, ScalarAttributeType, StreamSpecification,
    StreamViewType, TableDescription, TableStatus, TimeToLiveSpecification,
};
use aws_sdk_dynamodb::Client;
use bytes::{BufMut, Bytes, BytesMut};
use tracing::{info, warn};

pub const PK: &str = "pk";
pub const SK: &str = "sk";
pub const DB: &str = "db";
pub const TYPE: &str = "t";
pub const VALUE: &str = "v";
pub const EXPIRE: &str = "x";
pub const TTL: &str = "ttl";
pub const VERSION: &str = "ver";
pub const WRITES: &str = "w";
pub const COUNT: &str = "n";
pub const GENERATION: &str = "g";
pub const SCORE: &str = "sc";

/// The local secondary index over `sc` (sorted-set scores).
pub const SCORE_INDEX: &str = "score";

/// The sort key of a key's head item. Member sort keys start with
/// [`MEMBER_TAG`], so the head sorts first in its partition.
pub const HEAD_SK: &[u8] = &[0x00];

/// First byte of every member's sort key.
pub const MEMBER_TAG: u8 = 0x01;

/// DynamoDB allows 2048 bytes of partition key; 4 go to the db index.
/// (Partition keys whose db word has its top bit set are reserved for a
/// hashed form of longer keys, so they can come without a migration.)
pub const MAX_KEY_LEN: usize = 2048 - 4;

/// DynamoDB's item size limit: names and values of every attribute.
pub const MAX_ITEM_BYTES: usize = 400 * 1024;

/// The partition key of `key` in `db`.
pub fn pk(db: u32, key: &[u8]) -> Bytes {
    let mut b = BytesMut::with_capacity(4 + key.len());
    b.put_u32(db);
    b.put_slice(key);
    b.freeze()
}

/// The db and key of a partition key, None for a malformed one.
pub fn split_pk(pk: &[u8]) -> Option<(u32, &[u8])> {
    if pk.len() < 4 {
        return None;
    }
    let db = u32::from_be_bytes([pk[0], pk[1], pk[2], pk[3]]);
    (db & 0x8000_0000 == 0).then_some((db, &pk[4..]))
}

/// The primary key of a key's head item.
pub fn head_key(db: u32, key: &[u8]) -> HashMap<String, AttributeValue> {
    HashMap::from([
        (PK.to_string(), blob(pk(db, key))),
        (SK.to_string(), blob(Bytes::from_static(HEAD_SK))),
    ])
}

pub fn blob(b: impl Into<Bytes>) -> AttributeValue {
    AttributeValue::B(aws_sdk_dynamodb::primitives::Blob::new(b.into()))
}

pub fn num(n: impl std::fmt::Display) -> AttributeValue {
    AttributeValue::N(n.to_string())
}

/// The table does not exist, is of the wrong shape, or cannot be checked.
#[derive(Debug, thiserror::Error)]
pub enum SchemaError {
    #[error("DynamoDB table '{0}' does not exist; start with --create-table to create it, or deploy deploy/dynamodb/table.yaml")]
    Missing(String),
    #[error("DynamoDB table '{table}' does not have redynamo's schema: {problem} (see docs/dynamodb.md)")]
    Shape { table: String, problem: String },
    #[error("DynamoDB table '{table}' is {status}, not ACTIVE")]
    NotActive { table: String, status: String },
    #[error("DynamoDB table '{0}' did not become ACTIVE in time")]
    Timeout(String),
    #[error("cannot reach DynamoDB to check table '{table}': {message}")]
    Call { table: String, message: String },
}

fn call_error<E, R>(table: &str, e: aws_sdk_dynamodb::error::SdkError<E, R>) -> SchemaError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    let message = match e.code() {
        Some(code) => format!("{code}: {}", e.message().unwrap_or_default()),
        None => causes(&e),
    };
    SchemaError::Call {
        table: table.to_string(),
        message,
    }
}

/// `e` and its sources, "dispatch failure: io error: … Connection
/// refused": the line start-up prints, without the Debug dump of every
/// layer that `DisplayErrorContext` appends.
fn causes(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !out.ends_with(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = cause.source();
    }
    out
}

/// Check that `table` exists with redynamo's schema; create it first when
/// `create` is set and it does not exist. Waits until it is ACTIVE.
pub async fn ensure_table(client: &Client, table: &str, create: bool) -> Result<(), SchemaError> {
    let description = match describe(client, table).await? {
        Some(d) => d,
        None if create => {
            create_table(client, table).await?;
            wait_active(client, table).await?
        }
        None => return Err(SchemaError::Missing(table.to_string())),
    };
    check_shape(table, &description)?;
    let description = match description.table_status() {
        Some(TableStatus::Active) => description,
        Some(TableStatus::Creating) | Some(TableStatus::Updating) => {
            wait_active(client, table).await?
        }
        other => {
            return Err(SchemaError::NotActive {
                table: table.to_string(),
                status: other.map_or("unknown".into(), |s| s.as_str().to_string()),
            })
        }
    };
    if create {
        enable_ttl(client, table).await?;
    } else {
        warn_about_options(client, table, &description).await;
    }
    Ok(())
}

async fn describe(client: &Client, table: &str) -> Result<Option<TableDescription>, SchemaError> {
    match client.describe_table().table_name(table).send().await {
        Ok(out) => Ok(out.table),
        Err(e) if e.code() == Some("ResourceNotFoundException") => Ok(None),
        Err(e) => Err(call_error(table, e)),
    }
}

/// The one place the schema is declared (and `deploy/dynamodb/table.yaml`,
/// which a test keeps in step with it).
async fn create_table(client: &Client, table: &str) -> Result<(), SchemaError> {
    let shape = |e: aws_sdk_dynamodb::error::BuildError| SchemaError::Shape {
        table: table.to_string(),
        problem: e.to_string(),
    };
    let attr = |name: &str| {
        AttributeDefinition::builder()
            .attribute_name(name)
            .attribute_type(ScalarAttributeType::B)
            .build()
            .map_err(shape)
    };
    let key = |name: &str, kind: KeyType| {
        KeySchemaElement::builder()
            .attribute_name(name)
            .key_type(kind)
            .build()
            .map_err(shape)
    };
    let score_index = LocalSecondaryIndex::builder()
        .index_name(SCORE_INDEX)
        .key_schema(key(PK, KeyType::Hash)?)
        .key_schema(key(SCORE, KeyType::Range)?)
        .projection(
            Projection::builder()
                .projection_type(ProjectionType::KeysOnly)
                .build(),
        )
        .build()
        .map_err(shape)?;
    let streams = StreamSpecification::builder()
        .stream_enabled(true)
        .stream_view_type(StreamViewType::NewAndOldImages)
        .build()
        .map_err(shape)?;
    let result = client
        .create_table()
        .table_name(table)
        .attribute_definitions(attr(PK)?)
        .attribute_definitions(attr(SK)?)
        .attribute_definitions(attr(SCORE)?)
        .key_schema(key(PK, KeyType::Hash)?)
        .key_schema(key(SK, KeyType::Range)?)
        .local_secondary_indexes(score_index)
        .billing_mode(BillingMode::PayPerRequest)
        .stream_specification(streams)
        .send()
        .await;
    match result {
        Ok(_) => {
            info!(table, "created DynamoDB table");
            Ok(())
        }
        // Another node created it at the same moment: fine.
        Err(e) if e.code() == Some("ResourceInUseException") => Ok(()),
        Err(e) => Err(call_error(table, e)),
    }
}

async fn wait_active(client: &Client, table: &str) -> Result<TableDescription, SchemaError> {
    // Table creation takes seconds on DynamoDB; give it five minutes.
    for _ in 0..600 {
        if let Some(d) = describe(client, table).await? {
            if d.table_status() == Some(&TableStatus::Active) {
                return Ok(d);
            }
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    Err(SchemaError::Timeout(table.to_string()))
}

async fn enable_ttl(client: &Client, table: &str) -> Result<(), SchemaError> {
    let current = client
        .describe_time_to_live()
        .table_name(table)
        .send()
        .await
        .map_err(|e| call_error(table, e))?;
    let enabled = current
        .time_to_live_description()
        .and_then(|d| d.attribute_name())
        == Some(TTL);
    if enabled {
        return Ok(());
    }
    let spec = TimeToLiveSpecification::builder()
        .enabled(true)
        .attribute_name(TTL)
        .build()
        .map_err(|e| SchemaError::Shape {
            table: table.to_string(),
            problem: e.to_string(),
        })?;
    match client
        .update_time_to_live()
        .table_name(table)
        .time_to_live_specification(spec)
        .send()
        .await
    {
        Ok(_) => Ok(()),
        // Being enabled by another node right now.
        Err(e) if e.code() == Some("ValidationException") => {
            warn!(table, error = %e.message().unwrap_or_default(), "could not enable TTL");
            Ok(())
        }
        Err(e) => Err(call_error(table, e)),
    }
}

/// Key schema, attribute types and the score index must be exactly ours:
/// anything else would be misread. Streams and TTL are only warned about,
/// because the store works without them (the follower and the reaper don't).
fn check_shape(table: &str, d: &TableDescription) -> Result<(), SchemaError> {
    let problem = |p: String| {
        Err(SchemaError::Shape {
            table: table.to_string(),
            problem: p,
        })
    };
    let keys: Vec<(&str, &KeyType)> = d
        .key_schema()
        .iter()
        .map(|k| (k.attribute_name(), k.key_type()))
        .collect();
    if keys != [(PK, &KeyType::Hash), (SK, &KeyType::Range)] {
        return problem(format!(
            "key schema must be {PK} (HASH) + {SK} (RANGE), found {keys:?}"
        ));
    }
    for name in [PK, SK, SCORE] {
        let ty = d
            .attribute_definitions()
            .iter()
            .find(|a| a.attribute_name() == name)
            .map(|a| a.attribute_type());
        if ty != Some(&ScalarAttributeType::B) {
            return problem(format!("attribute {name} must be declared as binary (B)"));
        }
    }
    let index = d
        .local_secondary_indexes()
        .iter()
        .find(|i| i.index_name() == Some(SCORE_INDEX));
    let Some(index) = index else {
        return problem(format!(
            "local secondary index '{SCORE_INDEX}' on {SCORE} is missing"
        ));
    };
    let index_keys: Vec<(&str, &KeyType)> = index
        .key_schema()
        .iter()
        .map(|k| (k.attribute_name(), k.key_type()))
        .collect();
    if index_keys != [(PK, &KeyType::Hash), (SCORE, &KeyType::Range)] {
        return problem(format!(
            "index '{SCORE_INDEX}' must be {PK} (HASH) + {SCORE} (RANGE), found {index_keys:?}"
        ));
    }
    Ok(())
}

async fn warn_about_options(client: &Client, table: &str, d: &TableDescription) {
    let streams = d.stream_specification().is_some_and(|s| s.stream_enabled());
    if !streams {
        warn!(
            table,
            "DynamoDB streams are off: other nodes' caches cannot follow changes"
        );
    }
    if let Ok(ttl) = client
        .describe_time_to_live()
        .table_name(table)
        .send()
        .await
    {
        let on = ttl
            .time_to_live_description()
            .and_then(|t| t.attribute_name())
            == Some(TTL);
        if !on {
            warn!(
                table,
                "TTL is not enabled on attribute '{TTL}': expired keys are never reaped"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partition_keys_round_trip_and_keep_dbs_apart() {
        let a = pk(1, b"key");
        assert_eq!(&a[..], b"\x00\x00\x00\x01key");
        assert_eq!(split_pk(&a), Some((1, &b"key"[..])));
        assert_eq!(split_pk(&pk(0, b"")), Some((0, &b""[..])));
        assert_ne!(pk(0, b"\x00\x00\x00\x01key"), pk(1, b"key"));
        assert_eq!(split_pk(b"\x80\x00\x00\x00hash"), None);
        assert_eq!(split_pk(b"abc"), None);
    }
}
