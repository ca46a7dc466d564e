//! Differential tests of the hash commands: the same lines go to redynamo
//! (in-memory backend) and to a real `redis-server`, and the raw replies
//! must be the same bytes, in RESP2 and in RESP3.
//!
//! - [`hand_picked_edge_cases`]: argument errors and their order, WRONGTYPE,
//!   HINCRBY/HINCRBYFLOAT corners, the small/large boundary (128 fields, 64
//!   bytes), HRANDFIELD with a count covering the hash, HSCAN options.
//! - [`random_sequences`]: seeded random sequences over two hashes and a
//!   string, with field counts that cross the 128-field boundary and values
//!   that cross 64 bytes. A failure prints the seed, the step and the lines
//!   that led there.
//!
//! What is compared how:
//!
//! - Everything is compared byte for byte, except:
//! - HGETALL, HKEYS, HVALS and HSCAN of a hash that redis-server holds as a
//!   `hashtable` (asked with `OBJECT ENCODING`, which redynamo does not
//!   answer): both orders are the table's, so the elements (field/value
//!   pairs for HGETALL and HSCAN) are compared sorted. A small (`listpack`)
//!   hash replies in insertion order on both, and is compared as bytes.
//!   HSCAN is sent with `COUNT 1000`, more than any hash here holds, so both
//!   answer in one step with cursor 0.
//! - HRANDFIELD with a count is random: compared are the shape (array, its
//!   length, pairs in RESP3) and, when the count covers the hash, the
//!   elements sorted. Errors and the no-count nil are compared as bytes; a
//!   field picked without a count is not compared.

mod common;

use common::*;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};

fn strs(parts: &[String]) -> Vec<Vec<u8>> {
    parts.iter().map(|p| p.as_bytes().to_vec()).collect()
}

#[tokio::test]
async fn hand_picked_edge_cases() {
    let Some(mut pair) = Pair::start().await else {
        return;
    };
    for resp3 in [false, true] {
        if resp3 {
            // HELLO's reply names the server: not compared.
            pair.both(&line(&["hello", "3"])).await;
        }
        let deadline = day_ahead().to_string();
        let mut lines: Vec<Vec<Vec<u8>>> = Vec::new();
        let mut add = |parts: &[&str]| lines.push(line(parts));
        add(&["hset", "h", "a", "1", "b", "2", "c", "3"]);
        add(&["hset", "h", "a", "10", "d", "4"]);
        add(&["hmset", "h", "e", "5"]);
        add(&["hsetnx", "h", "a", "x"]);
        add(&["hsetnx", "h", "f", "6"]);
        add(&["hgetall", "h"]);
        add(&["hkeys", "h"]);
        add(&["hvals", "h"]);
        add(&["hdel", "h", "b", "zz", "b"]);
        add(&["hset", "h", "b", "again"]);
        add(&["hgetall", "h"]);
        add(&["hget", "h", "a"]);
        add(&["hget", "h", "zz"]);
        add(&["hget", "nokey", "a"]);
        add(&["hmget", "h", "a", "zz", "b"]);
        add(&["hmget", "nokey", "a"]);
        add(&["hlen", "h"]);
        add(&["hlen", "nokey"]);
        add(&["hstrlen", "h", "b"]);
        add(&["hstrlen", "h", "zz"]);
        add(&["hexists", "h", "a"]);
        add(&["hexists", "h", "zz"]);
        add(&["hgetall", "nokey"]);
        add(&["hkeys", "nokey"]);
        add(&["hvals", "nokey"]);
        // Arity and argument errors, and which comes first.
        add(&["hset", "h", "a"]);
        add(&["hset", "h", "a", "1", "b"]);
        add(&["hmset", "h", "a", "1", "b"]);
        add(&["hsetnx", "h", "a"]);
        add(&["hget", "h"]);
        add(&["hdel", "h"]);
        add(&["hincrby", "h", "a"]);
        add(&["hrandfield"]);
        add(&["hscan", "h"]);
        add(&["set", "s", "x"]);
        for cmd in [
            &["hset", "s", "a", "1"][..],
            &["hsetnx", "s", "a", "1"],
            &["hget", "s", "a"],
            &["hmget", "s", "a"],
            &["hdel", "s", "a"],
            &["hlen", "s"],
            &["hstrlen", "s", "a"],
            &["hexists", "s", "a"],
            &["hkeys", "s"],
            &["hvals", "s"],
            &["hgetall", "s"],
            &["hincrby", "s", "a", "1"],
            &["hincrby", "s", "a", "x"],
            &["hincrbyfloat", "s", "a", "1"],
            &["hincrbyfloat", "s", "a", "x"],
            &["hincrbyfloat", "s", "a", "inf"],
            &["hrandfield", "s"],
            &["hrandfield", "s", "1"],
            &["hrandfield", "s", "x"],
            &["hrandfield", "s", "1", "junk"],
            &["hscan", "s", "0"],
            &["hscan", "s", "x"],
            &["hscan", "s", "0", "junk"],
        ] {
            add(cmd);
        }
        // HSTRLEN of values Redis' listpack stores as integers (Redis'
        // "HSTRLEN corner cases"), and a long field updated in place.
        for v in [
            "-9223372036854775808",
            "9223372036854775807",
            "9223372036854775808",
            "",
            "0",
            "-1",
            "x",
            "007",
            "-0",
        ] {
            add(&["hset", "strlen", "f", v]);
            add(&["hstrlen", "strlen", "f"]);
            add(&["hget", "strlen", "f"]);
        }
        let a1024 = "A".repeat(1024);
        add(&["hset", "longkey", &a1024, "1"]);
        add(&["hset", "longkey", &a1024, "2"]);
        add(&["hget", "longkey", &a1024]);
        add(&["hincrbyfloat", "pinf", "f", "+inf"]);
        add(&["hincrbyfloat", "pinf", "f", "-inf"]);
        add(&["exists", "pinf"]);
        // HINCRBY.
        add(&["hincrby", "n", "i", "5"]);
        add(&["hincrby", "n", "i", "-10"]);
        add(&["hincrby", "n", "i", "x"]);
        add(&["hincrby", "n", "i", "9223372036854775807"]);
        add(&["hincrby", "n", "i", "9223372036854775807"]);
        add(&["hincrby", "n", "i", "-9223372036854775808"]);
        add(&[
            "hset",
            "n",
            "max",
            "9223372036854775807",
            "min",
            "-9223372036854775808",
        ]);
        add(&["hincrby", "n", "max", "1"]);
        add(&["hincrby", "n", "min", "-1"]);
        add(&["hincrby", "n", "max", "-9223372036854775807"]);
        for v in ["x", " 1", "1 ", "1.0", "", "0x10", "+1", "-0", "007"] {
            add(&["hset", "n", "v", v]);
            add(&["hincrby", "n", "v", "1"]);
            add(&["hset", "n", "v", v]);
            add(&["hincrbyfloat", "n", "v", "1"]);
        }
        // HINCRBYFLOAT: long double sums and Redis' printing.
        for (start, by) in [
            ("10.5", "0.1"),
            ("0.1", "0.2"),
            ("1", "-1.1"),
            ("5.0e3", "2.0e2"),
            ("0", "0x1p3"),
            ("3.0", "1e-30"),
            ("1e308", "1e308"),
            ("1e4932", "1e4932"),
            ("-1e4932", "-1e4932"),
            ("1", "-1"),
            ("inf", "1"),
            ("1", "nan"),
            ("1", "-inf"),
            ("1", "  1"),
            ("1", "1e"),
            ("17179869184", "1.5"),
            ("0.0000000000000001", "0.0000000000000001"),
        ] {
            add(&["hset", "f", "x", start]);
            add(&["hincrbyfloat", "f", "x", by]);
            add(&["hget", "f", "x"]);
        }
        add(&["hincrbyfloat", "f", "new", "1.25"]);
        add(&["hincrbyfloat", "nokey2", "x", "inf"]);
        add(&["exists", "nokey2"]);
        // HRANDFIELD: errors, and counts that cover the hash (whole, in order).
        add(&["hrandfield", "nokey"]);
        add(&["hrandfield", "nokey", "5"]);
        add(&["hrandfield", "nokey", "5", "withvalues"]);
        add(&["hrandfield", "nokey", "x"]);
        add(&["hrandfield", "h", "0"]);
        add(&["hrandfield", "h", "0", "withvalues"]);
        add(&["hrandfield", "h", "6"]);
        add(&["hrandfield", "h", "100"]);
        add(&["hrandfield", "h", "6", "withvalues"]);
        add(&["hrandfield", "h", "6", "WITHVALUES"]);
        add(&["hrandfield", "h", "1", "withvalue"]);
        add(&["hrandfield", "h", "1", "withvalues", "x"]);
        add(&["hrandfield", "h", "-9223372036854775808"]);
        add(&["hrandfield", "h", "-9223372036854775807", "withvalues"]);
        add(&["hrandfield", "h", "4611686018427387904", "withvalues"]);
        add(&["hrandfield", "h", "4611686018427387903", "withvalues"]);
        add(&["hrandfield", "h", "9223372036854775808"]);
        add(&["hrandfield", "h", "1.5"]);
        // HSCAN: cursors as strtoul reads them, options only for a hash.
        for cursor in [
            "0",
            "",
            "-1",
            "+1",
            "1x",
            " 1",
            "-",
            "18446744073709551615",
            "18446744073709551616",
        ] {
            add(&["hscan", "h", cursor]);
        }
        add(&["hscan", "nokey", "0", "count", "0"]);
        add(&["hscan", "nokey", "x"]);
        add(&["hscan", "h", "0", "count", "0"]);
        add(&["hscan", "h", "0", "count", "-1"]);
        add(&["hscan", "h", "0", "count", "x"]);
        add(&["hscan", "h", "0", "count"]);
        add(&["hscan", "h", "0", "match"]);
        add(&["hscan", "h", "0", "type", "hash"]);
        add(&["hscan", "h", "0", "match", "[a-c]", "count", "1"]);
        add(&["hscan", "h", "0", "MATCH", "*", "COUNT", "1"]);
        add(&["hscan", "h", "0", "match", "nothing"]);
        add(&["hscan", "h", "0", "count", "1", "match", "a", "match", "b"]);
        // The small encoding's limits: 64-byte members stay small (insertion
        // order), 128 fields stay small.
        let v64 = "v".repeat(64);
        let f64 = "f".repeat(64);
        add(&["hset", "edge", &f64, &v64, "z", "1", "a", "2"]);
        add(&["hgetall", "edge"]);
        add(&["hstrlen", "edge", &f64]);
        for i in 0..128 {
            add(&["hset", "many", &format!("field{}", 127 - i), &i.to_string()]);
        }
        add(&["hgetall", "many"]);
        add(&["hkeys", "many"]);
        add(&["hscan", "many", "0"]);
        add(&["hrandfield", "many", "128", "withvalues"]);
        add(&["hdel", "many", "field5", "field77"]);
        add(&["hset", "many", "field5", "back"]);
        add(&["hvals", "many"]);
        // Generic commands on hashes.
        add(&["type", "h"]);
        add(&["copy", "h", "h2"]);
        add(&["hgetall", "h2"]);
        add(&["rename", "h2", "h3"]);
        add(&["hgetall", "h3"]);
        add(&["exists", "h2", "h3"]);
        add(&["expire", "h3", "100"]);
        add(&["ttl", "h3"]);
        add(&["persist", "h3"]);
        add(&["ttl", "h3"]);
        add(&["pexpireat", "h3", &deadline]);
        add(&["pexpiretime", "h3"]);
        add(&["hset", "h3", "more", "1"]);
        add(&["pexpiretime", "h3"]);
        add(&["del", "h3"]);
        add(&["hdel", "h", "a", "c", "d", "e", "f", "b"]);
        add(&["exists", "h"]);
        add(&["get", "f"]);
        add(&["incr", "f"]);
        add(&["set", "f", "x"]);
        add(&["type", "f"]);
        if let Err(e) = pair.run(&lines).await {
            panic!("RESP{}: {e}", if resp3 { 3 } else { 2 });
        }
    }
}

/// The commands whose replies list a hash's elements in its order.
fn lists_elements(name: &str) -> bool {
    matches!(name, "hgetall" | "hkeys" | "hvals" | "hscan")
}

/// A reply's elements in a canonical order: pairs for HGETALL and HSCAN.
fn sorted_elements(name: &str, reply: &Reply) -> Reply {
    fn pairs(items: &[Reply]) -> Vec<Reply> {
        let mut pairs: Vec<Vec<Reply>> = items.chunks(2).map(|p| p.to_vec()).collect();
        pairs.sort_by_key(|p| format!("{p:?}"));
        pairs.into_iter().flatten().collect()
    }
    match (name, reply) {
        ("hgetall", Reply::Map(m)) => {
            let mut m = m.clone();
            m.sort_by_key(|p| format!("{p:?}"));
            Reply::Map(m)
        }
        ("hgetall", Reply::Array(items)) => Reply::Array(pairs(items)),
        ("hscan", Reply::Array(parts)) if parts.len() == 2 => Reply::Array(vec![
            parts[0].clone(),
            Reply::Array(pairs(parts[1].items())),
        ]),
        (_, Reply::Array(items)) => {
            let mut items = items.clone();
            items.sort_by_key(|i| format!("{i:?}"));
            Reply::Array(items)
        }
        (_, other) => other.clone(),
    }
}

fn parse(bytes: &[u8]) -> Reply {
    parse_reply(bytes)
        .expect("well-formed reply")
        .expect("a whole reply")
        .0
}

/// One random line over the hashes `h`, `g` and the string `s`.
fn random_line(rng: &mut StdRng, fields: usize) -> Vec<String> {
    let key = ["h", "h", "h", "g", "s", "nokey"]
        .choose(rng)
        .unwrap()
        .to_string();
    let field = |rng: &mut StdRng| -> String {
        match rng.gen_range(0..20) {
            0 => "f".repeat(rng.gen_range(60..70)),
            1 => String::new(),
            _ => format!("f{}", rng.gen_range(0..fields)),
        }
    };
    let value = |rng: &mut StdRng| -> String {
        match rng.gen_range(0..12) {
            0 => "v".repeat(rng.gen_range(60..70)),
            1 => String::new(),
            2 => "9223372036854775806".into(),
            3 => "1.5".into(),
            4 => "abc".into(),
            5 => "-7".into(),
            _ => rng.gen_range(-100..100).to_string(),
        }
    };
    let mut l: Vec<String> = Vec::new();
    match rng.gen_range(0..30) {
        0..=5 => {
            l.push(if rng.gen_bool(0.1) { "hmset" } else { "hset" }.into());
            l.push(key);
            for _ in 0..rng.gen_range(1..=4) {
                l.push(field(rng));
                l.push(value(rng));
            }
            // Sometimes a line whose pairs are not whole.
            if rng.gen_ratio(1, 30) {
                l.pop();
            }
        }
        6 => l.extend(["hsetnx".into(), key, field(rng), value(rng)]),
        7 | 8 => l.extend(["hget".into(), key, field(rng)]),
        9 => {
            l.extend(["hmget".into(), key]);
            for _ in 0..rng.gen_range(1..4) {
                l.push(field(rng));
            }
        }
        10..=12 => {
            l.extend(["hdel".into(), key]);
            for _ in 0..rng.gen_range(1..6) {
                l.push(field(rng));
            }
        }
        13 => l.extend(["hlen".into(), key]),
        14 => l.extend(["hstrlen".into(), key, field(rng)]),
        15 => l.extend(["hexists".into(), key, field(rng)]),
        16 => l.extend(["hgetall".into(), key]),
        17 => l.extend(["hkeys".into(), key]),
        18 => l.extend(["hvals".into(), key]),
        19 | 20 => {
            let by = [
                "1",
                "-3",
                "100",
                "x",
                "9223372036854775807",
                "-9223372036854775808",
            ]
            .choose(rng)
            .unwrap();
            l.extend(["hincrby".into(), key, field(rng), by.to_string()]);
        }
        21 => {
            let by = ["1.5", "-0.1", "1e3", "x", "inf", "0x10", "3"]
                .choose(rng)
                .unwrap();
            l.extend(["hincrbyfloat".into(), key, field(rng), by.to_string()]);
        }
        22 | 23 => {
            l.extend(["hrandfield".into(), key]);
            if rng.gen_bool(0.8) {
                let count = match rng.gen_range(0..4) {
                    0 => rng.gen_range(-20..0),
                    1 => rng.gen_range(0..5),
                    _ => rng.gen_range(0..400),
                };
                l.push(count.to_string());
                if rng.gen_bool(0.5) {
                    l.push("withvalues".into());
                }
            }
        }
        24 => {
            l.extend([
                "hscan".into(),
                key,
                "0".into(),
                "count".into(),
                "1000".into(),
            ]);
            if rng.gen_bool(0.5) {
                l.extend(["match".into(), format!("f{}*", rng.gen_range(0..10))]);
            }
        }
        25 => l.extend(["del".into(), key]),
        26 => l.extend(["copy".into(), "h".into(), "g".into(), "replace".into()]),
        27 => l.extend([
            "rename".into(),
            key,
            ["h", "g"].choose(rng).unwrap().to_string(),
        ]),
        28 => l.extend(["type".into(), key]),
        _ => l.extend(["set".into(), "s".into(), value(rng)]),
    }
    l
}

#[tokio::test]
async fn random_sequences() {
    let Some(mut pair) = Pair::start().await else {
        return;
    };
    // Lines that listed a hashtable-encoded hash, and HRANDFIELD lines
    // that redis-server answered with a non-empty array: the sequences
    // must reach both for the comparison above to mean anything.
    let (mut on_hashtables, mut random_arrays) = (0, 0);
    for seed in 0..24u64 {
        let mut rng = StdRng::seed_from_u64(seed);
        let resp3 = seed % 2 == 1;
        pair.both(&line(&["hello", if resp3 { "3" } else { "2" }]))
            .await;
        pair.both(&line(&["flushall"])).await;
        // Few fields keep the hashes small; many cross 128 fields.
        let fields = [8, 40, 300][(seed % 3) as usize];
        let steps = if fields == 300 { 700 } else { 300 };
        let mut history: Vec<String> = Vec::new();
        for step in 0..steps {
            let parts = random_line(&mut rng, fields);
            let args = strs(&parts);
            history.push(show(&args));
            let name = parts[0].clone();
            let hashtable = if lists_elements(&name) || name == "hrandfield" {
                let (_, enc) = pair.both(&line(&["object", "encoding", &parts[1]])).await;
                enc.windows(9).any(|w| w == b"hashtable")
            } else {
                false
            };
            let (ours, theirs) = pair.both(&args).await;
            on_hashtables += usize::from(hashtable && lists_elements(&name));
            random_arrays += usize::from(
                name == "hrandfield" && theirs.starts_with(b"*") && theirs != b"*0\r\n",
            );
            if ours == theirs {
                continue;
            }
            let (a, b) = (parse(&ours), parse(&theirs));
            let same = if a.is_error() || b.is_error() {
                false
            } else if lists_elements(&name) && hashtable {
                sorted_elements(&name, &a) == sorted_elements(&name, &b)
            } else if name == "hrandfield" {
                same_random_shape(&parts, &a, &b)
            } else {
                false
            };
            assert!(
                same,
                "seed {seed} step {step} (RESP{}): {}\n  redynamo:     {}\n  redis-server: {}\n  lines so far:\n    {}",
                if resp3 { 3 } else { 2 },
                show(&args),
                String::from_utf8_lossy(&ours).escape_debug(),
                String::from_utf8_lossy(&theirs).escape_debug(),
                history.join("\n    ")
            );
        }
    }
    assert!(
        on_hashtables > 50,
        "{on_hashtables} lines listed a hashtable"
    );
    assert!(random_arrays > 50, "{random_arrays} HRANDFIELD arrays");
}

/// HRANDFIELD replies that may differ by chance only: the same kind and
/// length; the same elements when the count covers the whole hash.
fn same_random_shape(parts: &[String], ours: &Reply, theirs: &Reply) -> bool {
    let Some(count) = parts.get(2).and_then(|c| c.parse::<i64>().ok()) else {
        // One field, no count: both must be a bulk string.
        return matches!((ours, theirs), (Reply::Bulk(_), Reply::Bulk(_)));
    };
    let (Reply::Array(a), Reply::Array(b)) = (ours, theirs) else {
        return false;
    };
    if a.len() != b.len() {
        return false;
    }
    // RESP3 pairs are two-element arrays on both sides.
    let nested = |items: &[Reply]| {
        items
            .iter()
            .all(|i| matches!(i, Reply::Array(p) if p.len() == 2))
    };
    if parts.len() == 4 && nested(a) != nested(b) {
        return false;
    }
    let width = if parts.len() == 4 && !nested(a) { 2 } else { 1 };
    if count > 0 && (a.len() / width) < count as usize {
        // The count covered the hash: every element, in some order.
        let name = if width == 2 { "hgetall" } else { "hkeys" };
        return sorted_elements(name, ours) == sorted_elements(name, theirs);
    }
    true
}
