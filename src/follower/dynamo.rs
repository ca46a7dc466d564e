//! DynamoDB Streams as a [`StreamsApi`], and the decoding of its records
//! into cache changes with the store's own item decoding.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue as TableValue;
use aws_sdk_dynamodbstreams::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodbstreams::types::{
    AttributeValue as StreamValue, OperationType, ShardIteratorType,
};
use bytes::Bytes;
use parking_lot::Mutex;
use redynamo_layers::cache::Item;
use redynamo_layers::ItemState;

use super::source::{
    Batch, Change, EventKind, Position, Record, ShardInfo, StreamError, StreamsApi,
};
use crate::store::dynamo::item::{Head, STRING};
use crate::store::dynamo::schema::{split_pk, HEAD_SK, PK, SK};

/// The stream of one table, found through DescribeTable.
pub struct DynamoStreams {
    table: String,
    tables: aws_sdk_dynamodb::Client,
    streams: aws_sdk_dynamodbstreams::Client,
    /// The table's current stream; looked up again when it is gone (a
    /// stream disabled and re-enabled gets a new ARN).
    arn: Mutex<Option<String>>,
}

impl DynamoStreams {
    pub fn new(
        tables: aws_sdk_dynamodb::Client,
        streams: aws_sdk_dynamodbstreams::Client,
        table: impl Into<String>,
    ) -> DynamoStreams {
        DynamoStreams {
            table: table.into(),
            tables,
            streams,
            arn: Mutex::new(None),
        }
    }

    async fn stream_arn(&self) -> Result<String, StreamError> {
        if let Some(arn) = self.arn.lock().clone() {
            return Ok(arn);
        }
        let out = self
            .tables
            .describe_table()
            .table_name(&self.table)
            .send()
            .await
            .map_err(|e| {
                let code = e.code().unwrap_or_default().to_string();
                let message = aws_sdk_dynamodb::error::DisplayErrorContext(&e).to_string();
                classify(&code, message)
            })?;
        let arn = out
            .table()
            .and_then(|t| t.latest_stream_arn())
            .filter(|_| {
                out.table()
                    .and_then(|t| t.stream_specification())
                    .is_some_and(|s| s.stream_enabled())
            })
            .ok_or_else(|| {
                StreamError::StreamGone(format!(
                    "table '{}' has no stream enabled (NEW_AND_OLD_IMAGES is needed)",
                    self.table
                ))
            })?
            .to_string();
        *self.arn.lock() = Some(arn.clone());
        Ok(arn)
    }

    /// A failure: forget the ARN when the stream is gone, so the next
    /// listing finds the new one.
    fn failed<T>(&self, e: StreamError) -> Result<T, StreamError> {
        if matches!(e, StreamError::StreamGone(_)) {
            *self.arn.lock() = None;
        }
        Err(e)
    }
}

/// Sort an SDK error into what the follower does about it.
fn sdk_error<E, R>(e: SdkError<E, R>) -> StreamError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    let code = e.code().unwrap_or_default().to_string();
    let message = aws_sdk_dynamodbstreams::error::DisplayErrorContext(&e).to_string();
    classify(&code, message)
}

fn classify(code: &str, message: String) -> StreamError {
    match code {
        "ExpiredIteratorException" => StreamError::ExpiredIterator,
        "TrimmedDataAccessException" => StreamError::Trimmed(message),
        "LimitExceededException"
        | "ProvisionedThroughputExceededException"
        | "ThrottlingException"
        | "RequestLimitExceeded" => StreamError::Throttled(message),
        "ResourceNotFoundException" => StreamError::StreamGone(message),
        _ => StreamError::Unavailable(message),
    }
}

impl StreamsApi for DynamoStreams {
    async fn list_shards(&self) -> Result<Vec<ShardInfo>, StreamError> {
        let arn = self.stream_arn().await?;
        let mut shards = Vec::new();
        let mut start: Option<String> = None;
        loop {
            let out = match self
                .streams
                .describe_stream()
                .stream_arn(&arn)
                .set_exclusive_start_shard_id(start.take())
                .send()
                .await
            {
                Ok(out) => out,
                Err(e) => return self.failed(sdk_error(e)),
            };
            let Some(description) = out.stream_description() else {
                break;
            };
            for shard in description.shards() {
                let Some(id) = shard.shard_id() else { continue };
                shards.push(ShardInfo {
                    id: id.to_string(),
                    parent: shard.parent_shard_id().map(str::to_string),
                    closed: shard
                        .sequence_number_range()
                        .and_then(|r| r.ending_sequence_number())
                        .is_some(),
                });
            }
            // A page that names where it stopped: the next page starts
            // after it.
            match description.last_evaluated_shard_id() {
                Some(last) if !last.is_empty() => start = Some(last.to_string()),
                _ => break,
            }
        }
        Ok(shards)
    }

    async fn iterator(&self, shard: &str, at: &Position) -> Result<String, StreamError> {
        let arn = self.stream_arn().await?;
        let request = self
            .streams
            .get_shard_iterator()
            .stream_arn(arn)
            .shard_id(shard);
        let request = match at {
            Position::Latest => request.shard_iterator_type(ShardIteratorType::Latest),
            Position::TrimHorizon => request.shard_iterator_type(ShardIteratorType::TrimHorizon),
            Position::AfterSequence(seq) => request
                .shard_iterator_type(ShardIteratorType::AfterSequenceNumber)
                .sequence_number(seq),
        };
        match request.send().await {
            Ok(out) => out
                .shard_iterator()
                .map(str::to_string)
                // No iterator: the shard is past its retention.
                .ok_or_else(|| StreamError::Trimmed(format!("no iterator for shard {shard}"))),
            Err(e) => self.failed(sdk_error(e)),
        }
    }

    async fn read(&self, iterator: &str) -> Result<Batch, StreamError> {
        let out = match self
            .streams
            .get_records()
            .shard_iterator(iterator)
            .send()
            .await
        {
            Ok(out) => out,
            Err(e) => return self.failed(sdk_error(e)),
        };
        let records = out.records().iter().filter_map(decode_record).collect();
        Ok(Batch {
            records,
            next: out.next_shard_iterator().map(str::to_string),
        })
    }
}

/// A stream image as the table API's attribute map, so the store's own
/// item decoding reads it (the two SDKs have distinct but identical types).
pub fn table_image(image: &HashMap<String, StreamValue>) -> HashMap<String, TableValue> {
    image
        .iter()
        .filter_map(|(k, v)| Some((k.clone(), table_value(v)?)))
        .collect()
}

fn table_value(v: &StreamValue) -> Option<TableValue> {
    Some(match v {
        StreamValue::B(b) => TableValue::B(b.clone()),
        StreamValue::Bs(b) => TableValue::Bs(b.clone()),
        StreamValue::Bool(b) => TableValue::Bool(*b),
        StreamValue::L(l) => TableValue::L(l.iter().filter_map(table_value).collect()),
        StreamValue::M(m) => TableValue::M(table_image(m)),
        StreamValue::N(n) => TableValue::N(n.clone()),
        StreamValue::Ns(n) => TableValue::Ns(n.clone()),
        StreamValue::Null(n) => TableValue::Null(*n),
        StreamValue::S(s) => TableValue::S(s.clone()),
        StreamValue::Ss(s) => TableValue::Ss(s.clone()),
        _ => return None,
    })
}

/// A stream record as a cache change; None for a record without its
/// sequence number (never sent by DynamoDB).
pub fn decode_record(record: &aws_sdk_dynamodbstreams::types::Record) -> Option<Record> {
    let data = record.dynamodb()?;
    let sequence = data.sequence_number()?.to_string();
    let created_ms = data
        .approximate_creation_date_time()
        .and_then(|t| t.to_millis().ok())
        .map_or(0, |ms| ms.max(0) as u64);
    let event = match record.event_name()? {
        OperationType::Insert => EventKind::Insert,
        OperationType::Modify => EventKind::Modify,
        OperationType::Remove => EventKind::Remove,
        _ => return None,
    };
    let new = data.new_image().map(table_image);
    let old = data.old_image().map(table_image);
    // The key from an image first: it carries the item's own attributes
    // (moto encodes `Keys` blobs twice).
    let keys = new
        .as_ref()
        .or(old.as_ref())
        .cloned()
        .or_else(|| data.keys().map(table_image))
        .unwrap_or_default();
    let change = change_of(event, &keys, new.as_ref(), old.as_ref());
    Some(Record {
        sequence,
        created_ms,
        event,
        change,
    })
}

/// What a head's change means for a cache, from the images.
pub fn change_of(
    event: EventKind,
    keys: &HashMap<String, TableValue>,
    new: Option<&HashMap<String, TableValue>>,
    old: Option<&HashMap<String, TableValue>>,
) -> Change {
    let (Some(TableValue::B(pk)), Some(TableValue::B(sk))) = (keys.get(PK), keys.get(SK)) else {
        return Change::Ignore;
    };
    if sk.as_ref() != HEAD_SK {
        return Change::Ignore;
    }
    let Some((db, key)) = split_pk(pk.as_ref()) else {
        return Change::Ignore;
    };
    let key = Bytes::copy_from_slice(key);
    let version = |image: &HashMap<String, TableValue>| {
        Head::decode(image)
            .ok()
            .and_then(|h| u64::try_from(h.version).ok())
    };
    match event {
        EventKind::Remove => match old.and_then(version) {
            Some(version) => Change::Remove { db, key, version },
            None => Change::Invalidate { db, key },
        },
        EventKind::Insert | EventKind::Modify => {
            let item = new
                .and_then(|image| Head::decode(image).ok())
                .and_then(|head| cached_item(&head));
            match item {
                Some(item) => Change::Put { db, key, item },
                None => Change::Invalidate { db, key },
            }
        }
    }
}

/// What the cache holds for a head: strings with their expiry, tombstones
/// as absent, other types by name. None for what it cannot represent.
pub fn cached_item(head: &Head) -> Option<Item> {
    let version = u64::try_from(head.version).ok()?;
    let state = if head.kind == STRING {
        match &head.value {
            Some(value) => ItemState::Value {
                value: value.clone(),
                expire_at: head.expire_at,
            },
            None => ItemState::Absent,
        }
    } else {
        let name = match head.kind.as_str() {
            "hash" => "hash",
            "list" => "list",
            "set" => "set",
            "zset" => "zset",
            "stream" => "stream",
            _ => return None,
        };
        ItemState::OtherType(name)
    };
    Some(Item { version, state })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::dynamo::schema::{blob, num, pk, EXPIRE, TYPE, VALUE, VERSION};

    fn head(
        key: &[u8],
        value: Option<&'static [u8]>,
        version: u64,
        expire: u64,
    ) -> HashMap<String, TableValue> {
        let mut m = HashMap::from([
            (PK.to_string(), blob(pk(3, key))),
            (SK.to_string(), blob(Bytes::from_static(HEAD_SK))),
            (TYPE.to_string(), TableValue::S("string".into())),
            (VERSION.to_string(), num(version)),
        ]);
        if let Some(v) = value {
            m.insert(VALUE.to_string(), blob(Bytes::from_static(v)));
        }
        if expire != 0 {
            m.insert(EXPIRE.to_string(), num(expire));
        }
        m
    }

    #[test]
    fn new_images_become_versioned_puts() {
        let new = head(b"k", Some(b"v"), 7, 99);
        let change = change_of(EventKind::Insert, &new, Some(&new), None);
        assert_eq!(
            change,
            Change::Put {
                db: 3,
                key: Bytes::from_static(b"k"),
                item: Item {
                    version: 7,
                    state: ItemState::Value {
                        value: Bytes::from_static(b"v"),
                        expire_at: 99
                    }
                }
            }
        );
    }

    #[test]
    fn tombstones_are_absent_at_their_version() {
        let new = head(b"k", None, 8, 1000);
        let change = change_of(EventKind::Modify, &new, Some(&new), None);
        assert!(matches!(
            change,
            Change::Put {
                item: Item {
                    version: 8,
                    state: ItemState::Absent
                },
                ..
            }
        ));
    }

    #[test]
    fn removes_carry_the_old_version_and_members_are_ignored() {
        let old = head(b"k", Some(b"v"), 9, 0);
        assert_eq!(
            change_of(EventKind::Remove, &old, None, Some(&old)),
            Change::Remove {
                db: 3,
                key: Bytes::from_static(b"k"),
                version: 9
            }
        );
        let mut member = old.clone();
        member.insert(SK.to_string(), blob(Bytes::from_static(b"\x01gen")));
        assert_eq!(
            change_of(EventKind::Remove, &member, None, Some(&member)),
            Change::Ignore
        );
        // An image the store cannot decode drops the key.
        let mut bad = old.clone();
        bad.remove(VERSION);
        assert!(matches!(
            change_of(EventKind::Modify, &bad, Some(&bad), None),
            Change::Invalidate { .. }
        ));
    }

    #[test]
    fn stream_images_convert_to_table_images() {
        let image = HashMap::from([
            (
                "b".to_string(),
                StreamValue::B(aws_sdk_dynamodbstreams::primitives::Blob::new(
                    b"x".to_vec(),
                )),
            ),
            ("n".to_string(), StreamValue::N("5".into())),
            (
                "l".to_string(),
                StreamValue::L(vec![StreamValue::S("s".into())]),
            ),
        ]);
        let converted = table_image(&image);
        assert_eq!(converted.get("n"), Some(&TableValue::N("5".into())));
        assert_eq!(
            converted.get("l"),
            Some(&TableValue::L(vec![TableValue::S("s".into())]))
        );
        assert!(matches!(converted.get("b"), Some(TableValue::B(b)) if b.as_ref() == b"x"));
    }
}
