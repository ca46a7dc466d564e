//! Differential tests of the set commands: the same lines go to redynamo
//! (in-memory backend) and to a real `redis-server`, and the replies must
//! match (see tests/differential.rs for the oracle, Redis 7.0).
//!
//! - [`hand_picked_edge_cases`]: argument errors and their order,
//!   WRONGTYPE, missing keys, the STORE commands over other types and
//!   deadlines, intset order, encoding changes.
//! - [`random_sequences`]: seeded random sequences over four set keys and
//!   a string key, in RESP2 and RESP3 (odd seeds). A failure prints the
//!   seed, the step and the lines that led there.
//!
//! What is compared how:
//!
//! - Byte for byte: every reply, except the ones below.
//! - Sorted: SMEMBERS, SINTER, SUNION, SDIFF and SPOP of the whole set,
//!   unless every set they read is an intset on redis-server (`OBJECT
//!   ENCODING`), whose order is the same in both (numeric); then byte for
//!   byte. Redis 7.0 has no listpack sets: a small set of strings is a hash
//!   table there, so the insertion order that redynamo keeps (as Redis 7.2
//!   does) is checked in tests/sets.rs instead.
//! - SSCAN: byte for byte when both answer the same (intsets, missing keys,
//!   errors); otherwise each server is scanned from 0 to the end on its own
//!   and the members found compared as sets (cursors of hash tables
//!   differ).
//! - SRANDMEMBER: the same kind and length of reply, members that are in
//!   the set, distinct for a positive count; the whole set (sorted) when
//!   the count reaches its size.
//! - SPOP: the same kind and length of reply (and order, for the whole of
//!   an intset), then both servers are
//!   brought back to the same state: each adds back what it popped, and
//!   both remove what redis-server popped.

mod common;

use common::*;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};

fn parse(b: &[u8]) -> Reply {
    parse_reply(b).expect("well-formed").expect("whole").0
}

/// The members of a set or array reply, sorted; None for anything else.
fn sorted_items(r: &Reply) -> Option<(bool, Vec<Vec<u8>>)> {
    let (is_set, items) = match r {
        Reply::Set(items) => (true, items),
        Reply::Array(items) => (false, items),
        _ => return None,
    };
    let mut out: Vec<Vec<u8>> = items
        .iter()
        .map(|i| match i {
            Reply::Bulk(b) => b.to_vec(),
            other => format!("{other:?}").into_bytes(),
        })
        .collect();
    out.sort();
    Some((is_set, out))
}

fn bulks_of(r: &Reply) -> Vec<Vec<u8>> {
    match r {
        Reply::Bulk(b) => vec![b.to_vec()],
        Reply::Set(items) | Reply::Array(items) => items
            .iter()
            .filter_map(|i| match i {
                Reply::Bulk(b) => Some(b.to_vec()),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    }
}

fn lower(a: &[u8]) -> String {
    String::from_utf8_lossy(a).to_ascii_lowercase()
}

/// The keys a command reads, for the encoding check.
fn source_keys(args: &[Vec<u8>]) -> Vec<Vec<u8>> {
    if args.len() < 2 {
        return Vec::new();
    }
    match lower(&args[0]).as_str() {
        "smembers" | "spop" | "srandmember" | "sscan" => vec![args[1].clone()],
        "sinter" | "sunion" | "sdiff" => args[1..].to_vec(),
        _ => Vec::new(),
    }
}

/// Whether every existing key of `keys` is an intset on redis-server.
async fn all_intsets(pair: &mut Pair, keys: &[Vec<u8>]) -> bool {
    for key in keys {
        let enc = pair.theirs().cmd_bin(&[b"object", b"encoding", key]).await;
        match enc {
            Reply::Null => {}
            Reply::Bulk(b) if &b[..] == b"intset" => {}
            _ => return false,
        }
    }
    true
}

async fn one(client: &mut common::RawClient, args: &[Vec<u8>]) -> Reply {
    let refs: Vec<&[u8]> = args.iter().map(|a| a.as_slice()).collect();
    client.cmd_bin(&refs).await
}

/// SSCAN to the end on one server: the members found, or the first reply
/// that is not a scan page.
async fn full_scan(
    client: &mut common::RawClient,
    args: &[Vec<u8>],
) -> Result<Vec<Vec<u8>>, Reply> {
    // From the start: a cursor other than 0 means something else to each.
    let mut args = args.to_vec();
    args[2] = b"0".to_vec();
    let mut found = Vec::new();
    for _ in 0..100_000 {
        let reply = one(client, &args).await;
        let Reply::Array(parts) = &reply else {
            return Err(reply);
        };
        let [Reply::Bulk(cursor), page] = &parts[..] else {
            return Err(reply);
        };
        found.extend(bulks_of(page));
        if &cursor[..] == b"0" {
            found.sort();
            found.dedup();
            return Ok(found);
        }
        args[2] = cursor.to_vec();
    }
    panic!("SSCAN did not finish: {}", show(&args));
}

/// Send `args` to both and check the replies as the module docs say.
async fn check(pair: &mut Pair, args: &[Vec<u8>]) -> Result<(), String> {
    let name = lower(&args[0]);
    let strict = all_intsets(pair, &source_keys(args)).await;
    let (ours, theirs) = pair.both(args).await;
    if ours == theirs {
        return Ok(());
    }
    let fail = |why: &str| {
        Err(format!(
            "{}: {why}\n  redynamo:     {}\n  redis-server: {}",
            show(args),
            String::from_utf8_lossy(&ours).escape_debug(),
            String::from_utf8_lossy(&theirs).escape_debug()
        ))
    };
    let (o, t) = (parse(&ours), parse(&theirs));
    if o.is_error() || t.is_error() {
        return fail("different replies");
    }
    match name.as_str() {
        "smembers" | "sinter" | "sunion" | "sdiff" => {
            if strict {
                return fail("intset order differs");
            }
            if sorted_items(&o) != sorted_items(&t) || sorted_items(&o).is_none() {
                return fail("different members");
            }
            Ok(())
        }
        "sscan" => {
            let mine = full_scan(pair.ours(), args).await;
            let yours = full_scan(pair.theirs(), args).await;
            if mine != yours {
                return fail(&format!("full scans differ: {mine:?} vs {yours:?}"));
            }
            Ok(())
        }
        "srandmember" => {
            if std::mem::discriminant(&o) != std::mem::discriminant(&t) {
                return fail("different kinds of reply");
            }
            let mine = bulks_of(&o);
            if mine.len() != bulks_of(&t).len() {
                return fail("different lengths");
            }
            let count: i64 = args
                .get(2)
                .and_then(|c| std::str::from_utf8(c).ok()?.parse().ok())
                .unwrap_or(1);
            let mut distinct = mine.clone();
            distinct.sort();
            distinct.dedup();
            if count > 0 && distinct.len() != mine.len() {
                return fail("repeated members for a positive count");
            }
            let card = one(pair.theirs(), &line_of(&[b"scard", args[1].as_slice()]))
                .await
                .int();
            if count > 0 && count >= card && sorted_items(&o) != sorted_items(&t) {
                return fail("not the whole set");
            }
            let mut probe = vec![b"smismember".to_vec(), args[1].clone()];
            probe.extend(distinct);
            if let Reply::Array(flags) = one(pair.ours(), &probe).await {
                if flags.iter().any(|f| *f != Reply::Integer(1)) {
                    return fail("a member that is not in the set");
                }
            }
            Ok(())
        }
        "spop" => {
            if std::mem::discriminant(&o) != std::mem::discriminant(&t) {
                return fail("different kinds of reply");
            }
            let (mine, yours) = (bulks_of(&o), bulks_of(&t));
            if mine.len() != yours.len() {
                return fail("different lengths");
            }
            // Only the whole set comes in a set order (SUNION's); a part
            // comes in the order it was drawn.
            let whole = one(pair.theirs(), &line_of(&[b"exists", args[1].as_slice()])).await
                == Reply::Integer(0);
            if strict && whole && sorted_items(&o).is_some() && sorted_items(&o) == sorted_items(&t)
            {
                return fail("intset order differs");
            }
            // Back to the same state on both sides.
            let key = args[1].clone();
            let add = |popped: &[Vec<u8>]| {
                let mut l = vec![b"sadd".to_vec(), key.clone()];
                l.extend(popped.iter().cloned());
                l
            };
            if !mine.is_empty() {
                let back = one(pair.ours(), &add(&mine)).await;
                if back != Reply::Integer(mine.len() as i64) {
                    return fail(&format!("popped members were still there: {back:?}"));
                }
                one(pair.theirs(), &add(&yours)).await;
                let mut rem = vec![b"srem".to_vec(), key];
                rem.extend(yours);
                pair.both(&rem).await;
            }
            Ok(())
        }
        _ => fail("different replies"),
    }
}

fn line_of(parts: &[&[u8]]) -> Vec<Vec<u8>> {
    parts.iter().map(|p| p.to_vec()).collect()
}

/// Run `lines` from an empty keyspace (RESP3 if `resp3`); the first
/// divergence, with the lines up to it.
async fn run(pair: &mut Pair, lines: &[Vec<Vec<u8>>], resp3: bool) -> Result<(), String> {
    let proto = if resp3 { "3" } else { "2" };
    pair.both(&line(&["hello", proto])).await;
    pair.both(&line(&["flushall"])).await;
    for (i, args) in lines.iter().enumerate() {
        if let Err(report) = check(pair, args).await {
            let history: Vec<String> = lines[..=i].iter().map(|l| show(l)).collect();
            return Err(format!(
                "step {i} ({}): {report}\n  lines so far:\n    {}",
                if resp3 { "RESP3" } else { "RESP2" },
                history.join("\n    ")
            ));
        }
    }
    Ok(())
}

#[tokio::test]
async fn hand_picked_edge_cases() {
    let Some(mut pair) = Pair::start().await else {
        return;
    };
    let mut lines: Vec<Vec<Vec<u8>>> = [
        // Intsets: numeric order, widening, canonical integers only.
        "sadd i 5 3 -1 100 3",
        "smembers i",
        "sadd i 70000 -9223372036854775808 9223372036854775807",
        "smembers i",
        "sismember i 05",
        "sismember i +5",
        "sismember i 5",
        "smismember i 5 05 x 100",
        "smismember missing a b",
        "sadd i 05",
        "smembers i",
        "scard i",
        "srem i 05 5 nope",
        "scard i",
        "srandmember i 0",
        "srandmember i 100",
        "srandmember missing",
        "srandmember missing 5",
        "srandmember missing -5",
        "spop missing",
        "spop missing 0",
        "spop missing 3",
        "spop i 0",
        // Argument errors, and which comes first.
        "spop i -1",
        "spop missing -1",
        "spop i abc",
        "spop i 1 2",
        "spop str",
        "srandmember i abc",
        "srandmember missing abc",
        "srandmember i -9223372036854775808",
        "srandmember i 1 2",
        "sintercard 0 i",
        "sintercard -1 i",
        "sintercard abc i",
        "sintercard 2 i",
        "sintercard 1 i limit -1",
        "sintercard 1 i limit abc",
        "sintercard 1 i limit",
        "sintercard 1 i foo 1",
        "sintercard 1 i limit 1 limit 2",
        "sintercard 1 i limit 0",
        "sintercard 2 i i limit 2",
        "sintercard 2 i missing",
        "sintercard 1 str",
        "sscan i abc",
        "sscan i -1",
        "sscan i -18446744073709551615",
        "sscan i 18446744073709551616",
        "sscan i -",
        "sscan i 5x",
        "sscan i 0 count 0",
        "sscan i 0 count abc",
        "sscan i 0 match",
        "sscan i 0 type set",
        "sscan i 0 match 1*",
        "sscan i 0 match *",
        "sscan i +5",
        "sscan i 18446744073709551615",
        "sscan missing 0 bogus",
        "sscan missing abc",
        "sscan str 0",
        "sscan str 0 bogus",
        // WRONGTYPE wherever the other type is.
        "set str v",
        "sadd str a",
        "srem str a",
        "srem missing a",
        "scard str",
        "sismember str a",
        "smismember str a",
        "smembers str",
        "srandmember str",
        "srandmember str 0",
        "sinter i str",
        "sinter missing str",
        "sinter str missing",
        "sunion i str",
        "sdiff missing str",
        "sinterstore d i str",
        "sunionstore d str",
        "sdiffstore d i str",
        "smembers missing",
        "sinter missing i",
        "sunion missing",
        "sdiff missing i",
        // SMOVE.
        "sadd a 1 2 3",
        "smove a b 2",
        "smembers a",
        "smembers b",
        "smove a b 9",
        "smove missing b 1",
        "smove missing str 1",
        "smove str b 1",
        "smove a str 1",
        "smove a a 1",
        "smove a a 9",
        "smove a b 1",
        "smove a b 3",
        "exists a",
        "smembers b",
        "smove b c x",
        "smove b c 1",
        "smembers c",
        // The STORE commands: overwrite any type, drop the deadline,
        // delete on an empty result.
        "set dst v ex 1000",
        "sunionstore dst b c",
        "type dst",
        "ttl dst",
        "smembers dst",
        "sinterstore dst b missing",
        "exists dst",
        "set dst v",
        "sdiffstore dst b b",
        "exists dst",
        "sadd dst x",
        "sinterstore dst b c",
        "smembers dst",
        "sadd e 3 2 1 0",
        "sadd f 2 3 4",
        "sinterstore dst e f",
        "smembers dst",
        "sunionstore dst e f",
        "smembers dst",
        "sdiffstore dst e f",
        "smembers dst",
        "sdiffstore dst f e",
        "smembers dst",
        "sdiff e f missing",
        "sdiff e missing f",
        "sdiff e e",
        "sdiff e f e",
        "sinter e f",
        "sinter e e",
        "sunion e f missing",
        "sunionstore e e f",
        "smembers e",
        "sintercard 2 e f",
        "sintercard 2 e f limit 1",
        // Strings and mixed sets (unordered on Redis 7.0).
        "sadd s c a b 1",
        "smembers s",
        "sinter s e",
        "sunion s e",
        "sdiff s e",
        "sdiff e s",
        "spop s 10",
        "exists s",
        "sadd s a",
        "spop s",
        "exists s",
        "sadd s 1",
        "spop s 1",
        "sadd ss ''",
        "smembers ss",
        "sismember ss ''",
        "srem ss ''",
        "exists ss",
    ]
    .iter()
    .map(|l| words(l))
    .collect();
    // An empty member, a member over the listpack limit.
    lines.push(line_of(&[b"sadd", b"em", b""]));
    lines.push(line_of(&[b"smembers", b"em"]));
    lines.push(line_of(&[b"sismember", b"em", b""]));
    let long = vec![b'x'; 70];
    lines.push(line_of(&[b"sadd", b"em", &long, b"1"]));
    lines.push(line_of(&[b"smembers", b"em"]));
    lines.push(line_of(&[b"sscan", b"em", b"0", b"count", b"1"]));
    // Big sets: an intset past 512 members, strings past 128, one SADD of
    // many members, and full scans.
    let mut big: Vec<Vec<u8>> = vec![b"sadd".to_vec(), b"bi".to_vec()];
    big.extend((0..512).map(|i| (i * 7).to_string().into_bytes()));
    lines.push(big);
    lines.push(words("smembers bi"));
    lines.push(words("sadd bi -1"));
    lines.push(words("scard bi"));
    lines.push(words("sismember bi 14"));
    lines.push(words("smembers bi"));
    lines.push(words("sscan bi 0 count 5"));
    lines.push(words("sscan bi 0 match *7 count 1000"));
    let mut big: Vec<Vec<u8>> = vec![b"sadd".to_vec(), b"bs".to_vec()];
    big.extend((0..200).map(|i| format!("m{i}").into_bytes()));
    lines.push(big);
    lines.push(words("sscan bs 0"));
    lines.push(words("sscan bs 0 match m1*"));
    lines.push(words("sinter bs bi"));
    lines.push(words("sunionstore u bs bi"));
    lines.push(words("scard u"));
    lines.push(words("sdiffstore u bs bi"));
    lines.push(words("scard u"));
    lines.push(words("sintercard 2 u bs limit 7"));
    lines.push(words("srandmember bs 300"));
    lines.push(words("srandmember bs 20"));
    lines.push(words("srandmember bs 150"));
    lines.push(words("srandmember bs -20"));
    lines.push(words("srandmember bi -600"));
    lines.push(words("spop bs 20"));
    lines.push(words("spop bs 170"));
    lines.push(words("scard bs"));
    lines.push(words("smembers bs"));
    lines.push(words("spop bi 3"));
    lines.push(words("spop bi 600"));
    lines.push(words("exists bi"));

    for resp3 in [false, true] {
        if let Err(report) = run(&mut pair, &lines, resp3).await {
            panic!("redynamo and redis-server disagree:\n{report}");
        }
    }
}

const KEYS: &[&str] = &["s0", "s1", "s2", "s3"];

const MEMBERS: &[&str] = &[
    "0",
    "1",
    "2",
    "3",
    "5",
    "8",
    "13",
    "-1",
    "-7",
    "100",
    "65536",
    "-40000",
    "9223372036854775807",
    "-9223372036854775808",
    "01",
    "+1",
    "1.0",
    " 1",
    "a",
    "b",
    "c",
    "d",
    "e",
    "hello",
    "",
];

struct Gen {
    rng: StdRng,
}

impl Gen {
    fn key(&mut self) -> String {
        if self.rng.gen_bool(0.05) {
            return ["str", "missing"][self.rng.gen_range(0..2)].into();
        }
        KEYS.choose(&mut self.rng).expect("keys").to_string()
    }

    fn keys(&mut self, max: usize) -> Vec<String> {
        let n = self.rng.gen_range(1..=max);
        (0..n).map(|_| self.key()).collect()
    }

    fn member(&mut self) -> String {
        match self.rng.gen_range(0..12) {
            0 => self.rng.gen_range(-300..300).to_string(),
            1 => format!("m{}", self.rng.gen_range(0..300)),
            2 if self.rng.gen_bool(0.1) => "y".repeat(self.rng.gen_range(60..70)),
            _ => MEMBERS.choose(&mut self.rng).expect("members").to_string(),
        }
    }

    fn members(&mut self, max: usize) -> Vec<String> {
        let n = self.rng.gen_range(1..=max);
        (0..n).map(|_| self.member()).collect()
    }

    fn count(&mut self) -> String {
        [
            "0", "1", "2", "3", "5", "10", "100", "-1", "-3", "-20", "abc",
        ]
        .choose(&mut self.rng)
        .expect("counts")
        .to_string()
    }

    fn command(&mut self) -> Vec<String> {
        let k = self.key();
        let pick = self.rng.gen_range(0..30);
        let cmd = |name: &str, rest: Vec<String>| {
            let mut c = vec![name.to_string()];
            c.extend(rest);
            c
        };
        let mut c = match pick {
            0..=5 => {
                // Now and then many members at once: past the listpack and
                // intset limits (distinct integers, as redis-server 7.0
                // and 7.2 pick encodings differently for a big SADD of
                // repeated ones).
                let members = match self.rng.gen_range(0..20) {
                    0 => {
                        let base = self.rng.gen_range(0..1000) * 1000;
                        (0..self.rng.gen_range(100..600))
                            .map(|i| (base + i).to_string())
                            .collect()
                    }
                    1 => (0..self.rng.gen_range(100..200))
                        .map(|i| format!("w{i}"))
                        .collect(),
                    _ => self.members(5),
                };
                cmd("sadd", [vec![k], members].concat())
            }
            6 | 7 => cmd("srem", [vec![k], self.members(4)].concat()),
            8 => cmd("scard", vec![k]),
            9 => cmd("sismember", vec![k, self.member()]),
            10 => cmd("smismember", [vec![k], self.members(4)].concat()),
            11 | 12 => cmd("smembers", vec![k]),
            13 => {
                let mut c = cmd("srandmember", vec![k]);
                if self.rng.gen_bool(0.7) {
                    c.push(self.count());
                }
                c
            }
            14 => {
                let mut c = cmd("spop", vec![k]);
                if self.rng.gen_bool(0.6) {
                    c.push(self.count());
                }
                c
            }
            15 => cmd("smove", vec![k, self.key(), self.member()]),
            16 => cmd("sinter", self.keys(3)),
            17 => {
                let keys = self.keys(3);
                let mut c = vec!["sintercard".to_string(), keys.len().to_string()];
                c.extend(keys);
                if self.rng.gen_bool(0.5) {
                    c.push("limit".into());
                    c.push(["0", "1", "2", "5"][self.rng.gen_range(0..4)].into());
                }
                c
            }
            18 => cmd("sinterstore", [vec![k], self.keys(3)].concat()),
            19 => cmd("sunion", self.keys(3)),
            20 => cmd("sunionstore", [vec![k], self.keys(3)].concat()),
            21 => cmd("sdiff", self.keys(3)),
            22 => cmd("sdiffstore", [vec![k], self.keys(3)].concat()),
            23 | 24 => {
                let mut c = cmd("sscan", vec![k, "0".into()]);
                if self.rng.gen_bool(0.4) {
                    c.extend([
                        "match".into(),
                        ["*", "1*", "m*", "?", "[a-c]"][self.rng.gen_range(0..5)].into(),
                    ]);
                }
                if self.rng.gen_bool(0.4) {
                    c.extend([
                        "count".into(),
                        ["1", "5", "100"][self.rng.gen_range(0..3)].into(),
                    ]);
                }
                c
            }
            25 => cmd("del", vec![k]),
            26 => cmd("type", vec![k]),
            27 => cmd("exists", vec![k]),
            28 => cmd("set", vec!["str".into(), "v".into()]),
            _ => cmd("copy", vec![k, self.key(), "replace".into()]),
        };
        // Now and then a wrong argument count.
        if self.rng.gen_bool(0.02) && c.len() > 1 {
            c.pop();
        }
        c
    }
}

#[tokio::test]
async fn random_sequences() {
    let Some(mut pair) = Pair::start().await else {
        return;
    };
    let mut divergences = Divergences::default();
    for seed in seeds(0..40) {
        let mut generator = Gen {
            rng: StdRng::seed_from_u64(seed),
        };
        let lines: Vec<Vec<Vec<u8>>> = (0..200)
            .map(|_| {
                generator
                    .command()
                    .into_iter()
                    .map(String::into_bytes)
                    .collect()
            })
            .collect();
        let outcome = run(&mut pair, &lines, seed % 2 == 1).await;
        divergences.record(seed, lines.len(), outcome);
    }
    divergences.assert_none();
}
