//! The follower against a scripted stream: lineage order, iterator
//! renewal, trimmed data, throttling and the staleness gate, on paused
//! time. (moto has one shard that never closes, so these paths are only
//! reachable here; `tests/cache_nodes.rs` runs the real thing on moto.)

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use parking_lot::Mutex;
use redynamo_layers::cache::Item;
use redynamo_layers::metrics::Telemetry;
use redynamo_layers::ItemState;
use tokio_util::sync::CancellationToken;

use super::*;

/// What the fake stream holds and what it was asked.
#[derive(Default)]
struct Script {
    shards: Vec<ShardInfo>,
    records: HashMap<String, Vec<Record>>,
    /// Records before this index of a shard are trimmed away.
    trimmed: HashMap<String, usize>,
    /// Iterators: shard and index of the next record.
    iterators: HashMap<String, (String, usize)>,
    /// Errors the next reads return, in order.
    read_errors: VecDeque<StreamError>,
    /// Positions asked for, in order.
    positions: Vec<(String, Position)>,
    next_id: u64,
    next_seq: u64,
}

#[derive(Clone, Default)]
struct FakeStream(Arc<Mutex<Script>>);

impl FakeStream {
    fn add_shard(&self, id: &str, parent: Option<&str>) {
        let mut s = self.0.lock();
        s.shards.push(ShardInfo {
            id: id.into(),
            parent: parent.map(Into::into),
            closed: false,
        });
        s.records.entry(id.into()).or_default();
    }

    fn close(&self, id: &str) {
        let mut s = self.0.lock();
        if let Some(shard) = s.shards.iter_mut().find(|s| s.id == id) {
            shard.closed = true;
        }
    }

    /// A write of `key` = `value` at `version`, now.
    fn write(&self, shard: &str, key: &str, value: &str, version: u64, now_ms: u64) {
        let mut s = self.0.lock();
        s.next_seq += 1;
        let record = Record {
            sequence: format!("{:020}", s.next_seq),
            created_ms: now_ms,
            event: EventKind::Modify,
            change: Change::Put {
                db: 0,
                key: Bytes::from(key.to_string()),
                item: Item {
                    version,
                    state: ItemState::Value {
                        value: Bytes::from(value.to_string()),
                        expire_at: 0,
                    },
                },
            },
        };
        s.records.entry(shard.into()).or_default().push(record);
    }

    fn fail_reads(&self, e: StreamError, n: usize) {
        self.0.lock().read_errors.extend(std::iter::repeat_n(e, n));
    }

    fn positions(&self) -> Vec<(String, Position)> {
        self.0.lock().positions.clone()
    }
}

impl StreamsApi for FakeStream {
    async fn list_shards(&self) -> Result<Vec<ShardInfo>, StreamError> {
        Ok(self.0.lock().shards.clone())
    }

    async fn iterator(&self, shard: &str, at: &Position) -> Result<String, StreamError> {
        let mut s = self.0.lock();
        s.positions.push((shard.into(), at.clone()));
        let records = s.records.get(shard).cloned().unwrap_or_default();
        let trimmed = s.trimmed.get(shard).copied().unwrap_or(0);
        let index = match at {
            Position::Latest => records.len(),
            Position::TrimHorizon => trimmed,
            Position::AfterSequence(seq) => {
                let i = records
                    .iter()
                    .position(|r| &r.sequence == seq)
                    .ok_or_else(|| StreamError::Trimmed(seq.clone()))?;
                if i < trimmed {
                    return Err(StreamError::Trimmed(seq.clone()));
                }
                i + 1
            }
        };
        s.next_id += 1;
        let id = format!("it-{}", s.next_id);
        s.iterators.insert(id.clone(), (shard.into(), index));
        Ok(id)
    }

    async fn read(&self, iterator: &str) -> Result<Batch, StreamError> {
        let mut s = self.0.lock();
        if let Some(e) = s.read_errors.pop_front() {
            return Err(e);
        }
        let (shard, index) = s
            .iterators
            .remove(iterator)
            .ok_or(StreamError::ExpiredIterator)?;
        if index < s.trimmed.get(&shard).copied().unwrap_or(0) {
            return Err(StreamError::Trimmed(shard));
        }
        let all = s.records.get(&shard).cloned().unwrap_or_default();
        let records: Vec<Record> = all[index.min(all.len())..]
            .iter()
            .take(2)
            .cloned()
            .collect();
        let end = index + records.len();
        let closed = s.shards.iter().any(|x| x.id == shard && x.closed);
        let next = if closed && end >= all.len() {
            None
        } else {
            s.next_id += 1;
            let id = format!("it-{}", s.next_id);
            s.iterators.insert(id.clone(), (shard, end));
            Some(id)
        };
        Ok(Batch { records, next })
    }
}

/// What the sink saw, in order.
#[derive(Clone, Debug, PartialEq)]
enum Seen {
    Applied(String),
    Stop,
    Resume,
}

#[derive(Clone, Default)]
struct FakeSink {
    seen: Arc<Mutex<Vec<Seen>>>,
    serving: Arc<Mutex<bool>>,
}

impl FakeSink {
    fn applied(&self) -> Vec<String> {
        self.seen
            .lock()
            .iter()
            .filter_map(|s| match s {
                Seen::Applied(v) => Some(v.clone()),
                _ => None,
            })
            .collect()
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().clone()
    }
}

impl ChangeSink for FakeSink {
    fn apply(&self, change: &Change) {
        if let Change::Put { item, .. } = change {
            if let ItemState::Value { value, .. } = &item.state {
                let v = String::from_utf8_lossy(value).into_owned();
                self.seen.lock().push(Seen::Applied(v));
            }
        }
    }
    fn stop_serving(&self) {
        *self.serving.lock() = false;
        self.seen.lock().push(Seen::Stop);
    }
    fn resume_serving(&self) {
        *self.serving.lock() = true;
        self.seen.lock().push(Seen::Resume);
    }
    fn is_serving(&self) -> bool {
        *self.serving.lock()
    }
}

fn config() -> FollowerConfig {
    let mut c = FollowerConfig::new(Duration::from_millis(1000));
    c.shard_refresh = Duration::from_millis(500);
    c
}

fn spawn(stream: &FakeStream, sink: &FakeSink) -> (FollowerHandle, CancellationToken) {
    let stop = CancellationToken::new();
    let handle = StreamFollower::spawn(
        stream.clone(),
        sink.clone(),
        config(),
        &Telemetry::noop(),
        stop.clone(),
    );
    (handle, stop)
}

async fn advance(ms: u64) {
    tokio::time::sleep(Duration::from_millis(ms)).await;
}

fn now_ms() -> u64 {
    // The follower's clock reads tokio's: a fresh one is as good as its own
    // up to the wall-clock start, which the records only compare to.
    Clock::new().now_ms()
}

#[test]
fn lineage_skips_closed_shards_at_start_and_orders_parents_first() {
    let shard = |id: &str, parent: Option<&str>, closed| ShardInfo {
        id: id.into(),
        parent: parent.map(Into::into),
        closed,
    };
    let mut lineage = Lineage::default();
    let first = lineage.update(vec![
        shard("old", None, true),
        shard("a", Some("old"), false),
    ]);
    assert_eq!(
        first,
        vec![(shard("a", Some("old"), false), Position::Latest)]
    );
    // Children of `a` appear: not before `a` is finished.
    let later = lineage.update(vec![
        shard("old", None, true),
        shard("a", Some("old"), true),
        shard("b1", Some("a"), false),
        shard("b2", Some("a"), false),
        shard("c", Some("b1"), false),
    ]);
    assert!(later.is_empty(), "{later:?}");
    let after_a: Vec<String> = lineage
        .finish("a")
        .into_iter()
        .map(|(s, p)| {
            assert_eq!(p, Position::TrimHorizon);
            s.id
        })
        .collect();
    assert_eq!(after_a, ["b1", "b2"]);
    assert_eq!(lineage.finish("b2"), vec![]);
    let after_b1: Vec<String> = lineage
        .finish("b1")
        .into_iter()
        .map(|(s, _)| s.id)
        .collect();
    assert_eq!(after_b1, ["c"]);
    // A shard whose parent was trimmed away starts at once.
    let orphan = lineage.update(vec![shard("d", Some("gone"), false)]);
    assert_eq!(
        orphan,
        vec![(shard("d", Some("gone"), false), Position::TrimHorizon)]
    );
}

#[tokio::test(start_paused = true)]
async fn no_serving_before_every_reader_is_positioned() {
    /// Iterators that take a second to come back.
    #[derive(Clone)]
    struct SlowStart(FakeStream);
    impl StreamsApi for SlowStart {
        async fn list_shards(&self) -> Result<Vec<ShardInfo>, StreamError> {
            self.0.list_shards().await
        }
        async fn iterator(&self, s: &str, at: &Position) -> Result<String, StreamError> {
            tokio::time::sleep(Duration::from_millis(800)).await;
            self.0.iterator(s, at).await
        }
        async fn read(&self, it: &str) -> Result<Batch, StreamError> {
            self.0.read(it).await
        }
    }
    let stream = FakeStream::default();
    stream.add_shard("s", None);
    let sink = FakeSink::default();
    let stop = CancellationToken::new();
    let handle = StreamFollower::spawn(
        SlowStart(stream.clone()),
        sink.clone(),
        config(),
        &Telemetry::noop(),
        stop.clone(),
    );
    advance(700).await;
    assert!(
        !sink.is_serving(),
        "serving before the reader has a position"
    );
    assert_eq!(handle.status(), FollowerStatus::Starting);
    advance(300).await;
    assert!(sink.is_serving());
    stop.cancel();
}

#[tokio::test(start_paused = true)]
async fn starts_at_latest_and_serves_once_positioned() {
    let stream = FakeStream::default();
    stream.add_shard("s1", None);
    stream.write("s1", "k", "before-start", 1, now_ms());
    let sink = FakeSink::default();
    let (handle, _stop) = spawn(&stream, &sink);
    assert!(!sink.is_serving(), "not serving before positioned");
    advance(300).await;
    assert!(sink.is_serving());
    assert!(matches!(handle.status(), FollowerStatus::Following { .. }));
    assert_eq!(stream.positions(), vec![("s1".into(), Position::Latest)]);
    stream.write("s1", "k", "after-start", 2, now_ms());
    advance(300).await;
    assert_eq!(
        sink.applied(),
        ["after-start"],
        "history before start is skipped"
    );
    assert_eq!(sink.seen()[0], Seen::Stop);
    assert_eq!(sink.seen()[1], Seen::Resume);
    assert!(handle.info().contains("follower_status:following"));
}

#[tokio::test(start_paused = true)]
async fn parents_are_read_to_their_end_before_children() {
    let stream = FakeStream::default();
    stream.add_shard("a", None);
    let sink = FakeSink::default();
    let (_handle, _stop) = spawn(&stream, &sink);
    advance(100).await;
    // The shard splits: children are listed and written to while the
    // parent still holds unread records.
    stream.add_shard("b1", Some("a"));
    stream.add_shard("b2", Some("a"));
    for i in 0..5 {
        stream.write("a", "k", &format!("a{i}"), 10 + i, now_ms());
    }
    stream.write("b1", "k", "b1-0", 20, now_ms());
    stream.write("b2", "j", "b2-0", 20, now_ms());
    stream.close("a");
    advance(2_000).await;
    let applied = sink.applied();
    assert_eq!(applied.len(), 7, "{applied:?}");
    let last_parent = applied.iter().rposition(|v| v.starts_with('a')).unwrap();
    let first_child = applied.iter().position(|v| v.starts_with('b')).unwrap();
    assert!(last_parent < first_child, "{applied:?}");
    // Children start at TRIM_HORIZON: their first record was not lost.
    let positions = stream.positions();
    assert!(positions.contains(&("b1".into(), Position::TrimHorizon)));
    assert!(positions.contains(&("b2".into(), Position::TrimHorizon)));
    assert!(sink.is_serving());
}

#[tokio::test(start_paused = true)]
async fn an_expired_iterator_resumes_after_the_last_record() {
    let stream = FakeStream::default();
    stream.add_shard("s", None);
    let sink = FakeSink::default();
    let (_handle, _stop) = spawn(&stream, &sink);
    advance(100).await;
    for i in 0..3 {
        stream.write("s", "k", &format!("v{i}"), 10 + i, now_ms());
    }
    // Two records a read, a read every 250 ms: all three applied.
    advance(800).await;
    assert_eq!(sink.applied(), ["v0", "v1", "v2"]);
    stream.fail_reads(StreamError::ExpiredIterator, 1);
    stream.write("s", "k", "v3", 13, now_ms());
    advance(800).await;
    assert_eq!(
        sink.applied(),
        ["v0", "v1", "v2", "v3"],
        "nothing lost, nothing twice"
    );
    let last = stream.positions().last().cloned().unwrap();
    assert_eq!(
        last,
        ("s".into(), Position::AfterSequence(format!("{:020}", 3)))
    );
    assert!(sink.is_serving(), "a renewal is not a gap");
    assert!(!sink.seen()[2..].contains(&Seen::Stop));
}

#[tokio::test(start_paused = true)]
async fn trimmed_data_clears_the_cache_once_caught_up() {
    let stream = FakeStream::default();
    stream.add_shard("s", None);
    let sink = FakeSink::default();
    let (_handle, _stop) = spawn(&stream, &sink);
    advance(300).await;
    assert!(sink.is_serving());
    stream.write("s", "k", "v0", 1, now_ms());
    stream.fail_reads(StreamError::Trimmed("past retention".into()), 1);
    advance(1_000).await;
    let seen = sink.seen();
    // Stop (start-up), Resume, then Stop for the gap and Resume (clear)
    // once caught up.
    assert_eq!(&seen[..2], &[Seen::Stop, Seen::Resume]);
    let gap = seen[2..]
        .iter()
        .position(|s| *s == Seen::Stop)
        .expect("stopped");
    assert!(seen[2 + gap..].contains(&Seen::Resume), "{seen:?}");
    assert!(sink.is_serving());
    assert_eq!(stream.positions().last().unwrap().1, Position::TrimHorizon);
}

#[tokio::test(start_paused = true)]
async fn long_throttling_stops_serving_then_recovers() {
    let stream = FakeStream::default();
    stream.add_shard("s", None);
    let sink = FakeSink::default();
    let (handle, _stop) = spawn(&stream, &sink);
    advance(300).await;
    assert!(sink.is_serving());
    // A short burst: retried within the bound, the cache keeps serving.
    stream.fail_reads(StreamError::Throttled("slow down".into()), 2);
    advance(600).await;
    assert!(sink.is_serving(), "{:?}", handle.status());
    // Throttled for longer than the bound: the cache stops serving.
    stream.fail_reads(StreamError::Throttled("slow down".into()), 12);
    let mut stopped = false;
    for _ in 0..100 {
        advance(100).await;
        if !sink.is_serving() {
            stopped = true;
            assert!(
                matches!(handle.status(), FollowerStatus::Failing { .. }),
                "{:?}",
                handle.status()
            );
            break;
        }
    }
    assert!(stopped, "never stopped serving");
    // The errors end: it catches up and serves again, by itself.
    for _ in 0..200 {
        advance(100).await;
        if sink.is_serving() {
            break;
        }
    }
    assert!(sink.is_serving(), "{:?}", handle.status());
    assert!(matches!(handle.status(), FollowerStatus::Following { .. }));
}

#[tokio::test(start_paused = true)]
async fn a_hung_stream_makes_the_lag_grow() {
    /// Reads that never answer.
    #[derive(Clone)]
    struct Hung(FakeStream);
    impl StreamsApi for Hung {
        async fn list_shards(&self) -> Result<Vec<ShardInfo>, StreamError> {
            self.0.list_shards().await
        }
        async fn iterator(&self, s: &str, at: &Position) -> Result<String, StreamError> {
            self.0.iterator(s, at).await
        }
        async fn read(&self, it: &str) -> Result<Batch, StreamError> {
            if self.0 .0.lock().next_seq > 0 {
                std::future::pending::<()>().await;
            }
            self.0.read(it).await
        }
    }
    let stream = FakeStream::default();
    stream.add_shard("s", None);
    let sink = FakeSink::default();
    let stop = CancellationToken::new();
    let handle = StreamFollower::spawn(
        Hung(stream.clone()),
        sink.clone(),
        config(),
        &Telemetry::noop(),
        stop.clone(),
    );
    advance(300).await;
    assert!(sink.is_serving());
    stream.write("s", "k", "v", 1, now_ms());
    advance(1_500).await;
    assert!(!sink.is_serving());
    assert!(
        matches!(handle.status(), FollowerStatus::Behind { lag } if lag >= Duration::from_secs(1))
    );
    stop.cancel();
}
