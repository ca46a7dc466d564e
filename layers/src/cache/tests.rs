use super::*;
use crate::command::lookup;
use crate::metrics::Telemetry;
use crate::{ClientInfo, Command, Observation};
use tower::ServiceExt;

fn cache() -> SharedCache {
    sized_cache(1 << 20)
}

fn sized_cache(max_bytes: u64) -> SharedCache {
    let cache = SharedCache::new(
        &CacheConfig {
            max_bytes,
            max_age: None,
        },
        &Telemetry::noop(),
    );
    assert!(!cache.is_serving(), "a new cache waits for its follower");
    cache.resume_serving();
    cache
}

fn item(version: u64, value: &str) -> Item {
    Item {
        version,
        state: ItemState::Value {
            value: Bytes::copy_from_slice(value.as_bytes()),
            expire_at: 0,
        },
    }
}

fn key(k: &str) -> Bytes {
    Bytes::copy_from_slice(k.as_bytes())
}

#[test]
fn newer_versions_replace_older_never() {
    let c = cache();
    let k = key("k");
    c.apply(0, &k, item(5, "five"), true);
    c.apply(0, &k, item(4, "four"), false);
    assert_eq!(c.peek(0, &k), Some(item(5, "five")));
    c.apply(0, &k, item(6, "six"), false);
    assert_eq!(c.peek(0, &k), Some(item(6, "six")));
}

#[test]
fn stream_events_never_create_entries() {
    let c = cache();
    let k = key("k");
    c.apply(0, &k, item(3, "three"), false);
    assert_eq!(c.peek(0, &k), None);
    assert_eq!(c.lookup_at(0, &k, 0), Lookup::Miss);
}

#[test]
fn a_fill_loses_its_lease_to_a_newer_event_or_an_invalidation() {
    let c = cache();
    let k = key("k");
    let token = c.begin_fill(0, &k).expect("lease");
    // While the read is in flight, an event for version 5 arrives.
    c.apply(0, &k, item(5, "five"), false);
    // The read completes with what it saw before: version 4. The event
    // broke its lease, so it stores nothing; the next read refills.
    c.complete_fill(0, &k, token, item(4, "four"));
    assert_eq!(c.peek(0, &k), None);
    let token = c.begin_fill(0, &k).expect("lease");
    c.complete_fill(0, &k, token, item(4, "four"));
    assert_eq!(
        c.peek(0, &k),
        None,
        "version 5 was seen: 4 must not be stored"
    );
    let token = c.begin_fill(0, &k).expect("lease");
    c.complete_fill(0, &k, token, item(5, "five"));
    assert_eq!(c.peek(0, &k), Some(item(5, "five")));

    let k2 = key("k2");
    let token = c.begin_fill(0, &k2).expect("lease");
    c.invalidate(0, &k2);
    c.complete_fill(0, &k2, token, item(1, "one"));
    assert_eq!(c.peek(0, &k2), None);
}

#[test]
fn not_serving_means_no_hits_and_no_fills() {
    let c = cache();
    let k = key("k");
    c.apply(0, &k, item(1, "one"), true);
    c.stop_serving();
    assert_eq!(c.lookup_at(0, &k, 0), Lookup::Miss);
    assert!(c.begin_fill(0, &key("other")).is_none());
    c.resume_serving();
    // Resuming drops what may have been missed.
    assert_eq!(c.lookup_at(0, &k, 0), Lookup::Miss);
}

#[test]
fn expired_entries_are_misses() {
    let c = cache();
    let k = key("k");
    c.apply(
        0,
        &k,
        Item {
            version: 1,
            state: ItemState::Value {
                value: key("v"),
                expire_at: 1_000,
            },
        },
        true,
    );
    assert!(matches!(c.lookup_at(0, &k, 999), Lookup::Hit(_)));
    assert_eq!(c.lookup_at(0, &k, 1_000), Lookup::Miss);
}

#[test]
fn an_evicted_version_is_not_replaced_by_an_older_one() {
    let c = sized_cache(4096);
    let k = key("k");
    c.apply(0, &k, item(5, "five"), true);
    // Other keys, each read after it is written: frequent enough to push
    // `k`, never read, out.
    for i in 0..100 {
        let other = key(&format!("other:{i}"));
        c.apply(0, &other, item(1, "filler"), true);
        c.lookup(0, &other);
    }
    assert_eq!(c.peek(0, &k), None, "evicted by the others");
    // A local write that DynamoDB accepted before version 5 applies late.
    c.apply(0, &k, item(4, "four"), true);
    assert_eq!(
        c.peek(0, &k),
        None,
        "version 5 was seen: 4 must not be stored"
    );
    // So does a fill that read version 4.
    let token = c.begin_fill(0, &k).expect("lease");
    c.complete_fill(0, &k, token, item(4, "four"));
    assert_eq!(c.peek(0, &k), None);
    c.apply(0, &k, item(6, "six"), true);
    assert_eq!(c.peek(0, &k), Some(item(6, "six")));
}

#[test]
fn entries_older_than_max_age_are_misses_and_count_as_evictions() {
    let (clock, mock) = quanta::Clock::mock();
    let c = SharedCache::with_clock(
        &CacheConfig {
            max_bytes: 1 << 20,
            max_age: Some(std::time::Duration::from_secs(10)),
        },
        &Telemetry::noop(),
        clock,
    );
    c.resume_serving();
    let k = key("k");
    c.apply(0, &k, item(3, "three"), true);
    mock.increment(std::time::Duration::from_secs(9));
    assert_eq!(c.lookup_at(0, &k, 0), Lookup::Hit(item(3, "three").state));
    // A newer version restarts the entry's age.
    c.apply(0, &k, item(4, "four"), false);
    mock.increment(std::time::Duration::from_secs(9));
    assert_eq!(c.lookup_at(0, &k, 0), Lookup::Hit(item(4, "four").state));
    mock.increment(std::time::Duration::from_secs(1));
    assert_eq!(c.lookup_at(0, &k, 0), Lookup::Miss);
    assert_eq!(c.peek(0, &k), None);
    // The version that aged out is remembered like an evicted one.
    c.apply(0, &k, item(3, "three"), true);
    assert_eq!(c.peek(0, &k), None);
}

#[test]
fn lookups_are_counted() {
    let c = cache();
    let k = key("k");
    c.apply(0, &k, item(1, "one"), true);
    assert!(matches!(c.lookup(0, &k), Lookup::Hit(_)));
    assert_eq!(c.lookup(0, b"absent"), Lookup::Miss);
    c.stop_serving();
    assert_eq!(c.lookup(0, &k), Lookup::Miss);
    assert_eq!(
        c.counts(),
        CacheCounts {
            hits: 1,
            misses: 1,
            stale_refusals: 1
        }
    );
}

/// A small deterministic PRNG (xorshift) so the interleavings are
/// reproducible from the seed printed on failure.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Thousands of random interleavings of remote writes (whose stream events
/// arrive late, out of order and duplicated), local writes, fills that
/// read the backend while other things happen, invalidations and
/// evictions (other keys filling a small cache). Whatever the order, the
/// version the cache holds never goes backwards: once a version was
/// visible, no older one ever is again.
#[test]
fn reordered_events_fills_and_evictions_never_move_backwards() {
    for seed in 1..3_000u64 {
        // Room for about 20 entries: 40 other keys evict `k` (or its lease).
        let c = sized_cache(4096);
        let mut filler = 0u64;
        let k = key("k");
        let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
        let mut truth = 0u64; // the backend's current version
        let mut pending_events: Vec<u64> = Vec::new();
        let mut fills: Vec<(u64, u64)> = Vec::new(); // (token, version read)
        let mut max_visible = 0u64;
        // Local writes DynamoDB accepted whose cache update has not run yet.
        let mut pending_local: Vec<u64> = Vec::new();
        for _ in 0..60 {
            match rng.below(11) {
                0 => {
                    truth += 1;
                    pending_events.push(truth);
                }
                1 if !pending_events.is_empty() => {
                    let i = rng.below(pending_events.len() as u64) as usize;
                    let v = pending_events[i];
                    // Streams deliver at least once: sometimes keep it.
                    if rng.below(3) != 0 {
                        pending_events.swap_remove(i);
                    }
                    c.apply(0, &k, item(v, &v.to_string()), false);
                }
                2 => {
                    truth += 1;
                    c.apply(0, &k, item(truth, &truth.to_string()), true);
                }
                6 => {
                    truth += 1;
                    pending_local.push(truth);
                }
                7 if !pending_local.is_empty() => {
                    let i = rng.below(pending_local.len() as u64) as usize;
                    let v = pending_local.swap_remove(i);
                    c.apply(0, &k, item(v, &v.to_string()), true);
                    // Its stream event comes later, like every write's.
                    pending_events.push(v);
                }
                3 => {
                    if let Some(token) = c.begin_fill(0, &k) {
                        // The read happens now; it completes later.
                        fills.push((token, truth));
                    }
                }
                4 if !fills.is_empty() => {
                    let i = rng.below(fills.len() as u64) as usize;
                    let (token, v) = fills.swap_remove(i);
                    c.complete_fill(0, &k, token, item(v, &v.to_string()));
                }
                5 => c.invalidate(0, &k),
                9 => {
                    let _ = c.lookup(0, &k);
                }
                8 => {
                    for _ in 0..40 {
                        filler += 1;
                        let other = Bytes::from(format!("other:{filler}"));
                        c.apply(0, &other, item(1, "filler"), true);
                        c.lookup(0, &other);
                    }
                }
                _ => {}
            }
            if let Some(it) = c.peek(0, &k) {
                assert!(
                    it.version >= max_visible,
                    "seed {seed}: version went back from {max_visible} to {}",
                    it.version
                );
                assert!(
                    it.version <= truth,
                    "seed {seed}: a version from the future"
                );
                max_visible = it.version;
            }
        }
    }
}

/// The same property with the operations racing on threads (the stripe
/// locks and the eviction hook are what keep it): local writes and fills
/// complete late, as in the test above, and an observer that keeps peeking
/// never sees a key's version go back.
#[test]
fn concurrent_operations_never_move_a_key_backwards() {
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    const KEYS: usize = 2;
    let c = sized_cache(4096);
    let keys: Vec<Bytes> = (0..KEYS).map(|i| key(&format!("k{i}"))).collect();
    let truth: Vec<AtomicU64> = (0..KEYS).map(|_| AtomicU64::new(0)).collect();
    let done = AtomicBool::new(false);
    std::thread::scope(|scope| {
        let workers: Vec<_> = (1..=3u64)
            .map(|t| {
                let (c, keys, truth) = (&c, &keys, &truth);
                scope.spawn(move || {
                    let mut rng = Rng(t.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
                    // Accepted local writes and fills, completed later.
                    let mut local: Vec<(usize, u64)> = Vec::new();
                    let mut fills: Vec<(usize, u64, u64)> = Vec::new();
                    for n in 0..30_000u64 {
                        let i = rng.below(KEYS as u64) as usize;
                        let k = &keys[i];
                        match rng.below(8) {
                            0 => local.push((i, truth[i].fetch_add(1, Ordering::SeqCst) + 1)),
                            1 if !local.is_empty() => {
                                let (i, v) =
                                    local.swap_remove(rng.below(local.len() as u64) as usize);
                                c.apply(0, &keys[i], item(v, "local"), true);
                            }
                            2 => {
                                let v = truth[i].fetch_add(1, Ordering::SeqCst) + 1;
                                c.apply(0, k, item(v, "remote"), false);
                            }
                            3 => {
                                if let Some(token) = c.begin_fill(0, k) {
                                    fills.push((i, token, truth[i].load(Ordering::SeqCst)));
                                }
                            }
                            4 if !fills.is_empty() => {
                                let (i, token, v) =
                                    fills.swap_remove(rng.below(fills.len() as u64) as usize);
                                c.complete_fill(0, &keys[i], token, item(v, "fill"));
                            }
                            5 => c.invalidate(0, k),
                            6 => {
                                for j in 0..8 {
                                    let other = key(&format!("other:{t}:{n}:{j}"));
                                    c.apply(0, &other, item(1, "filler"), true);
                                    let _ = c.lookup(0, &other);
                                }
                            }
                            _ => {
                                let _ = c.lookup(0, k);
                            }
                        }
                    }
                })
            })
            .collect();
        scope.spawn(|| {
            let mut seen = [0u64; KEYS];
            while !done.load(Ordering::SeqCst) {
                for (i, k) in keys.iter().enumerate() {
                    if let Some(it) = c.peek(0, k) {
                        assert!(
                            it.version >= seen[i],
                            "{k:?} went back from {} to {}",
                            seen[i],
                            it.version
                        );
                        seen[i] = it.version;
                    }
                }
            }
        });
        for w in workers {
            w.join().unwrap();
        }
        done.store(true, Ordering::SeqCst);
    });
}

#[tokio::test]
async fn layer_serves_hits_and_applies_reported_writes() {
    let (mock, mut handle) = tower_test::mock::pair::<Request, Reply>();
    let c = cache();
    let mut svc = CacheLayer::new(c.clone()).layer(tower::util::MapErr::new(mock, |e| e));
    let req = |args: &[&str]| {
        Request::new(
            Command {
                spec: lookup(args[0].as_bytes()).expect("in table"),
                args: args.iter().map(|a| key(a)).collect(),
            },
            0,
            ClientInfo::internal(),
        )
    };

    // A miss reads through and fills from what the backend observed.
    let fut = svc.ready().await.unwrap().call(req(&["get", "k"]));
    let (r, send) = handle.next_request().await.unwrap();
    r.observations.expect("asked").push(Observation {
        db: 0,
        key: key("k"),
        version: 7,
        state: ItemState::Value {
            value: key("v7"),
            expire_at: 0,
        },
    });
    send.send_response(Reply::bulk("v7"));
    assert_eq!(fut.await.unwrap(), Reply::bulk("v7"));

    // Now a hit: the backend is not called.
    let reply = svc
        .ready()
        .await
        .unwrap()
        .call(req(&["get", "k"]))
        .await
        .unwrap();
    assert_eq!(reply, Reply::bulk("v7"));
    let mget = svc
        .ready()
        .await
        .unwrap()
        .call(req(&["mget", "k"]))
        .await
        .unwrap();
    assert_eq!(mget, Reply::Array(vec![Reply::bulk("v7")]));

    // A write the backend does not report on invalidates the key.
    let fut = svc.ready().await.unwrap().call(req(&["append", "k", "x"]));
    let (_r, send) = handle.next_request().await.unwrap();
    send.send_response(Reply::Integer(3));
    assert_eq!(fut.await.unwrap(), Reply::Integer(3));
    assert_eq!(c.peek(0, &key("k")), None);
}

#[test]
fn cached_states_answer_as_the_backend_would() {
    let value = || ItemState::Value {
        value: key("abc"),
        expire_at: 0,
    };
    let list = || ItemState::OtherType("list");
    assert_eq!(CachedRead::Get.answer_one(value()), Reply::bulk("abc"));
    assert_eq!(CachedRead::Get.answer_one(ItemState::Absent), Reply::Null);
    assert_eq!(CachedRead::Get.answer_one(list()), errors::WRONGTYPE);
    assert_eq!(CachedRead::Strlen.answer_one(value()), Reply::Integer(3));
    assert_eq!(CachedRead::Strlen.answer_one(list()), errors::WRONGTYPE);
    assert_eq!(CachedRead::Type.answer_one(list()), Reply::status("list"));
    assert_eq!(
        CachedRead::Type.answer_one(ItemState::Absent),
        Reply::status("none")
    );
    assert_eq!(
        CachedRead::Exists.answer(vec![value(), ItemState::Absent, list(), value()]),
        Reply::Integer(3)
    );
    assert_eq!(
        CachedRead::Mget.answer(vec![value(), ItemState::Absent, list()]),
        Reply::Array(vec![Reply::bulk("abc"), Reply::Null, Reply::Null])
    );
}

#[test]
fn the_table_names_the_cached_reads() {
    let cached: Vec<(&str, CachedRead)> = crate::command::all_specs()
        .filter_map(|s| Some((s.name, s.routing.cached_read?)))
        .collect();
    assert_eq!(
        cached,
        vec![
            ("exists", CachedRead::Exists),
            ("get", CachedRead::Get),
            ("mget", CachedRead::Mget),
            ("strlen", CachedRead::Strlen),
            ("type", CachedRead::Type),
        ]
    );
}

/// A write that reaches another db (the table's `Routing::dbs`) empties the
/// cache; the same command kept to the request's db touches only its keys.
#[tokio::test]
async fn writes_to_other_dbs_clear_the_cache() {
    let (mock, mut handle) = tower_test::mock::pair::<Request, Reply>();
    let c = cache();
    let mut svc = CacheLayer::new(c.clone()).layer(tower::util::MapErr::new(mock, |e| e));
    let req = |args: &[&str]| {
        Request::new(
            Command {
                spec: lookup(args[0].as_bytes()).expect("in table"),
                args: args.iter().map(|a| key(a)).collect(),
            },
            0,
            ClientInfo::internal(),
        )
    };
    let mut run = async |args: &[&str]| {
        let fut = svc.ready().await.unwrap().call(req(args));
        let (_r, send) = handle.next_request().await.unwrap();
        send.send_response(Reply::Integer(1));
        assert_eq!(fut.await.unwrap(), Reply::Integer(1));
    };
    let other = key("other");
    c.apply(0, &other, item(1, "o"), true);

    run(&["copy", "a", "b", "REPLACE"]).await;
    assert_eq!(c.peek(0, &other), Some(item(1, "o")), "same db: kept");
    run(&["copy", "a", "b", "DB", "1"]).await;
    assert_eq!(c.peek(0, &other), None, "another db: cleared");

    c.apply(0, &other, item(2, "o"), true);
    run(&["swapdb", "0", "1"]).await;
    assert_eq!(c.peek(0, &other), None, "SWAPDB: cleared");
}
