//! Differential tests of SORT and SORT_RO, and of OBJECT ENCODING across
//! the types: the same lines go to redynamo (in-memory backend) and to a
//! real `redis-server`, and the replies must be the same bytes (see
//! tests/differential.rs for the oracle, Redis 7.0).
//!
//! - [`hand_picked_edge_cases`]: option parsing and its errors, LIMIT
//!   clamping, BY without `*`, GET `#` and `->field`, weights that are not
//!   numbers, STORE over other types and empty results, DESC on each
//!   container, WRONGTYPE.
//! - [`random_sequences`]: seeded random lists, sorted sets, intsets and
//!   weight keys (strings and hash fields), sorted with random options. A
//!   failure prints the seed, the step and the lines that led there.
//!
//! Left out of the byte comparison: a set sorted with `BY` a constant
//! pattern and no STORE (Redis replies in the set's own order, which for a
//! hash-table set is not specified; an intset's is, so intsets are in).

mod common;

use common::*;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};

#[tokio::test]
async fn hand_picked_edge_cases() {
    let Some(mut pair) = Pair::start().await else {
        return;
    };
    let mut lines: Vec<Vec<Vec<u8>>> = Vec::new();
    for args in [
        "rpush l 3 1 2 10 -5 1.5",
        "sort l",
        "sort l desc",
        "sort l alpha",
        "sort l alpha desc",
        "sort l limit 1 2",
        "sort l limit -5 2",
        "sort l limit 0 -1",
        "sort l limit 10 2",
        "sort l limit 5 100",
        "sort l limit 0 0",
        "sort l limit x 1",
        "sort l limit 1",
        "sort l by nosort",
        "sort l by nosort desc",
        "sort l by nosort limit 1 3",
        "sort l by nosort desc limit 1 3",
        "sort l by nosort limit 9 3",
        "sort l asc desc asc",
        "sort l bogus",
        "sort l store",
        "sort_ro l store dst",
        "sort_ro l desc limit 0 3",
        "sort l get",
        "sort l by",
        "mset w_3 30 w_1 10 w_2 20 w_10 -1 w_-5 5 w_1.5 x",
        "sort l by w_*",
        "sort l by w_* alpha",
        "del w_1.5",
        "sort l by w_*",
        "sort l by w_* desc",
        "sort l by w_* alpha desc",
        "sort l by w_* limit 1 2",
        "sort l get # get w_*",
        "sort l get w_* get nothing get #",
        "sort l by w_* get w_* desc",
        "hset h_3 f c3 g 3",
        "hset h_1 f c1 g 1",
        "hset h_10 f c10",
        "sort l by h_*->g get h_*->f",
        "sort l by h_*->g get h_*->f alpha",
        "sort l get h_*->",
        "sort l get h_->*",
        "sort l by h_*-> get #",
        "sort l store dst",
        "lrange dst 0 -1",
        "type dst",
        "sort l get w_* store dst",
        "lrange dst 0 -1",
        "set dst string",
        "sort l limit 0 2 store dst",
        "lrange dst 0 -1",
        "sort missing store dst",
        "exists dst",
        "sort missing",
        "sort missing desc limit 0 1",
        "rpush words banana apple cherry 10 9",
        "sort words",
        "sort words alpha",
        "sort words alpha desc limit 1 1",
        "rpush blanks 2 \"\" 1",
        "sort blanks",
        "sort blanks alpha",
        "sadd nums 5 3 9 1",
        "sort nums",
        "sort nums desc",
        "sort nums by nosort",
        "sort nums by nosort store dst",
        "lrange dst 0 -1",
        "sadd strs b a c",
        "sort strs alpha",
        "sort strs",
        "sort strs by nosort store dst",
        "lrange dst 0 -1",
        "zadd z 3 c 1 a 2 b 5 e 4 d",
        "sort z alpha",
        "sort z by nosort",
        "sort z by nosort desc",
        "sort z by nosort limit 1 2",
        "sort z by nosort desc limit 1 2",
        "sort z by nosort desc limit 4 10",
        "sort z",
        "set s v",
        "sort s",
        "sort s by nosort",
        "hset hh a 1",
        "sort hh",
        "sort_ro hh",
        // OBJECT ENCODING of the types whose encodings 7.0 and 7.2 share
        // (7.0 has no listpack lists or sets; tests/object.rs has those).
        "object encoding nums",
        // (SORT converts a small sorted set to a skiplist in Redis: not
        // copied, so the encoding is read from one never sorted.)
        "zadd z2 1 a",
        "object encoding z2",
        "object encoding hh",
        "object encoding s",
        "object refcount l",
    ] {
        lines.push(split(args));
    }
    if let Err(report) = pair.run(&lines).await {
        panic!("redynamo and redis-server disagree:\n{report}");
    }
}

/// Words split on spaces; `""` is an empty argument.
fn split(args: &str) -> Vec<Vec<u8>> {
    args.split(' ')
        .map(|w| {
            if w == "\"\"" {
                Vec::new()
            } else {
                w.as_bytes().to_vec()
            }
        })
        .collect()
}

/// A sort whose order Redis leaves to a hash table: a set in its own
/// order, or ALPHA BY a pattern over a set or sorted set, whose ties keep
/// the order Redis loaded the members in (its dict's).
fn unordered(cmd: &[String]) -> bool {
    let has = |w: &str| cmd.iter().any(|x| x == w);
    let by_pattern = cmd.windows(2).any(|p| p[0] == "by" && p[1].contains('*'));
    match cmd[1].as_str() {
        "si" => has("nosort") || (has("alpha") && by_pattern),
        "z" => has("alpha") && by_pattern,
        _ => false,
    }
}

#[tokio::test]
async fn random_sequences() {
    let Some(mut pair) = Pair::start().await else {
        return;
    };
    for seed in 0..40u64 {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut lines: Vec<Vec<Vec<u8>>> = Vec::new();
        let elements: Vec<String> = (0..rng.gen_range(0..12))
            .map(|_| match rng.gen_range(0..4) {
                0 => rng.gen_range(-20..20).to_string(),
                1 => format!("{:.2}", rng.gen_range(-5.0..5.0)),
                2 => ["a", "b", "ab", "B", "zz", ""][rng.gen_range(0..6)].to_string(),
                _ => rng.gen_range(0..6).to_string(),
            })
            .collect();
        if !elements.is_empty() {
            let mut push = vec!["rpush".to_string(), "l".to_string()];
            push.extend(elements.iter().cloned());
            lines.push(push.iter().map(|s| s.as_bytes().to_vec()).collect());
            let mut zadd = vec!["zadd".to_string(), "z".to_string()];
            for e in &elements {
                zadd.push(rng.gen_range(-3..3).to_string());
                zadd.push(e.clone());
            }
            lines.push(zadd.iter().map(|s| s.as_bytes().to_vec()).collect());
        }
        let ints: Vec<String> = (0..rng.gen_range(0..8))
            .map(|_| rng.gen_range(-50..50).to_string())
            .collect();
        if !ints.is_empty() {
            let mut sadd = vec!["sadd".to_string(), "si".to_string()];
            sadd.extend(ints.iter().cloned());
            lines.push(sadd.iter().map(|s| s.as_bytes().to_vec()).collect());
        }
        // Weights for some elements: strings and hash fields.
        for e in elements.iter().chain(ints.iter()) {
            if rng.gen_bool(0.6) {
                let w = rng.gen_range(-4..4).to_string();
                lines.push(line(&["set", &format!("w_{e}"), &w]));
            }
            if rng.gen_bool(0.4) {
                let w = rng.gen_range(-4..4).to_string();
                lines.push(line(&["hset", &format!("h_{e}"), "f", &w]));
            }
        }
        for _ in 0..25 {
            let key = ["l", "z", "si", "missing"][rng.gen_range(0..4)];
            let mut cmd: Vec<String> = vec![
                if rng.gen_bool(0.2) { "sort_ro" } else { "sort" }.to_string(),
                key.to_string(),
            ];
            let mut stores = false;
            for _ in 0..rng.gen_range(0..4) {
                match rng.gen_range(0..7) {
                    0 => cmd.push("desc".into()),
                    1 => cmd.push("alpha".into()),
                    2 => {
                        cmd.push("limit".into());
                        cmd.push(rng.gen_range(-2..8).to_string());
                        cmd.push(rng.gen_range(-2..8).to_string());
                    }
                    3 => {
                        cmd.push("by".into());
                        let by = ["w_*", "h_*->f", "nosort"].choose(&mut rng).unwrap();
                        // A hash-table set's own order is not specified.
                        if *by == "nosort" && key == "si" && !cmd[0].ends_with("ro") {
                            stores = true;
                        }
                        cmd.push(by.to_string());
                    }
                    4 | 5 => {
                        cmd.push("get".into());
                        cmd.push(
                            ["#", "w_*", "h_*->f", "none_*"]
                                .choose(&mut rng)
                                .unwrap()
                                .to_string(),
                        );
                    }
                    _ => {
                        if cmd[0] == "sort" {
                            stores = true;
                        }
                    }
                }
            }
            if stores
                && cmd[0] == "sort"
                && !(cmd[1] != "l"
                    && cmd.iter().any(|w| w == "alpha")
                    && cmd.windows(2).any(|p| p[0] == "by" && p[1].contains('*')))
            {
                cmd.push("store".into());
                cmd.push("dst".into());
                lines.push(cmd.iter().map(|s| s.as_bytes().to_vec()).collect());
                lines.push(line(&["lrange", "dst", "0", "-1"]));
                lines.push(line(&["exists", "dst"]));
            } else if !unordered(&cmd) {
                lines.push(cmd.iter().map(|s| s.as_bytes().to_vec()).collect());
            }
        }
        if let Err(report) = pair.run(&lines).await {
            panic!("seed {seed}: redynamo and redis-server disagree:\n{report}");
        }
    }
}
