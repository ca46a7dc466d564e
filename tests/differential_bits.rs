//! Differential tests of the bit commands (SETBIT, GETBIT, BITCOUNT,
//! BITPOS, BITOP, BITFIELD, BITFIELD_RO) and LCS: the same lines go to
//! redynamo (in-memory backend) and to a real `redis-server`, and the raw
//! RESP replies must be the same bytes (see `tests/differential.rs` for the
//! harness and the Redis version caveats).
//!
//! - [`hand_picked_edge_cases`]: argument errors and their order, offsets
//!   at the limits, BITPOS's "clear bit past the end" rule, BITCOUNT and
//!   BITPOS ranges in bytes and bits with negative indexes, BITFIELD's
//!   overflow modes at every width's edges, LCS's options.
//! - [`random_sequences`]: seeded random sequences over four keys holding
//!   binary strings rich in 0x00 and 0xff bytes, with every command here
//!   and GET/STRLEN to compare the bytes written. A failure prints the
//!   seed (`DIFF_SEED=n` replays it), the step and the lines before it.
//! - [`bitfield_random_arithmetic`]: random SET/INCRBY values and widths
//!   under each OVERFLOW mode, the arithmetic the sequences reach rarely.
//! - [`lcs_random_strings`]: LCS with every option over strings of a
//!   small alphabet, where matches are long and ties many.
//! - [`resp3_shapes`]: LCS IDX's map and BITFIELD's null under HELLO 3.
//!
//! Every reply here is deterministic, so all are compared byte for byte.
//! WRONGTYPE cannot be reached yet (no command here creates a key of
//! another type); the unit tests in `src/commands/bits.rs` cover it.

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
    macro_rules! add {
        ($s:expr) => {
            lines.push(words($s))
        };
    }

    // SETBIT / GETBIT: argument errors in Redis' order, the limits.
    for s in [
        "setbit b 0 1",
        "setbit b 7 1",
        "setbit b 7 1",
        "setbit b 7 0",
        "get b",
        "setbit b 100 1",
        "strlen b",
        "get b",
        "setbit b -1 1",
        "setbit b abc 1",
        "setbit b abc abc",
        "setbit b 1 abc",
        "setbit b 1 2",
        "setbit b 1 -1",
        "setbit b 1 01",
        "setbit b #1 1",
        "setbit b 4294967296 1",
        "setbit b 4294967296 abc",
        "setbit b 9223372036854775807 1",
        "setbit b 9223372036854775808 1",
        "setbit b 1",
        "getbit b 0",
        "getbit b 7",
        "getbit b 100",
        "getbit b 101",
        "getbit b 1000000",
        "getbit b 4294967295",
        "getbit b 4294967296",
        "getbit b -1",
        "getbit b x",
        "getbit missing 5",
        "getbit missing x",
        "set n 12",
        "getbit n 2",
        "getbit n 3",
        "setbit n 0 1",
        "get n",
    ] {
        add!(s);
    }

    // BITCOUNT: ranges in bytes and bits, negative indexes, argument
    // errors (which 7.2 checks only when the key exists).
    add!("set f foobar");
    for range in [
        "",
        "0 0",
        "1 1",
        "0 -1",
        "-1 -1",
        "-2 -1",
        "-100 100",
        "2 1",
        "-1 -2",
        "-1 -5 junk",
        "1 -1000",
        "0 0 bit",
        "0 7 bit",
        "5 30 bit",
        "5 30 BIT",
        "5 30 byte",
        "-7 -1 bit",
        "-100 -1 bit",
        "0 1000 bit",
        "47 47 bit",
        "48 48 bit",
        "3 2 bit",
        "1 2 bits",
        "1",
        "1 2 3 4",
        "a 1",
        "1 a",
        "a 1 foo",
        "9223372036854775807 9223372036854775807",
        "-9223372036854775808 -1",
        "-9223372036854775808 -1 bit",
        "0 9223372036854775807 bit",
    ] {
        add!(format!("bitcount f {range}").trim());
        add!(format!("bitcount missing {range}").trim());
    }
    lines.push(vec![b"set".to_vec(), b"e".to_vec(), Vec::new()]);
    for s in [
        "bitcount e",
        "bitcount e 0 -1",
        "bitcount e 0 -1 bit",
        "bitcount e 0 0",
    ] {
        lines.push(words(s));
    }

    // BITPOS: the clear bit past the end, explicit ends, bit ranges.
    let ones = vec![0xffu8; 3];
    let zeros = vec![0u8; 3];
    lines.push(vec![b"set".to_vec(), b"ones".to_vec(), ones]);
    lines.push(vec![b"set".to_vec(), b"zeros".to_vec(), zeros]);
    lines.push(vec![
        b"set".to_vec(),
        b"mix".to_vec(),
        vec![0xff, 0xf0, 0x00, 0x0f, 0xff],
    ]);
    for key in ["ones", "zeros", "mix", "missing", "e", "f"] {
        for args in [
            "0",
            "1",
            "0 0",
            "1 0",
            "0 1",
            "0 -1",
            "0 0 -1",
            "1 0 -1",
            "0 1 1",
            "0 2 -1",
            "0 -2 -1",
            "0 5",
            "0 -100",
            "0 0 100",
            "0 3 2",
            "1 0 -1 bit",
            "0 0 -1 bit",
            "0 4 11 bit",
            "1 4 11 bit",
            "0 7 7 bit",
            "1 7 7 bit",
            "0 12 12 bit",
            "1 12 12 bit",
            "0 -5 -1 bit",
            "1 -5 -1 bit",
            "0 -12 -6 bit",
            "1 9 30 bit",
            "0 9 30 bit",
            "0 30 9 bit",
            "0 0 -1 BYTE",
            "0 0 -1 bits",
            "2",
            "-1",
            "x",
            "1 x",
            "1 0 x",
            "1 0 1 x",
            "1 0 1 bit x",
        ] {
            add!(&format!("bitpos {key} {args}"));
        }
    }

    // BITOP: each operation, lengths that differ, missing sources, the
    // destination deleted when every source is empty, errors.
    lines.push(vec![b"set".to_vec(), b"a".to_vec(), vec![0xf0, 0x0f, 0xaa]]);
    lines.push(vec![b"set".to_vec(), b"c".to_vec(), vec![0xff]]);
    for s in [
        "bitop and d a c",
        "get d",
        "bitop or d a c",
        "get d",
        "bitop xor d a c",
        "get d",
        "bitop not d a",
        "get d",
        "bitop AND d a c missing",
        "get d",
        "bitop or d missing a",
        "get d",
        "bitop not d missing",
        "exists d",
        "set d x",
        "bitop and d missing other",
        "exists d",
        "set d x",
        "expire d 100",
        "bitop or d a",
        "ttl d",
        "get d",
        "bitop not d a c",
        "bitop nand d a",
        "bitop and d",
        "bitop xor a a a",
        "get a",
        "bitop xor a a",
        "get a",
        "bitop not a a",
        "get a",
        "bitop and d f f f f f",
        "get d",
    ] {
        add!(s);
    }
    let long_a: Vec<u8> = (0..100u8).map(|i| i.wrapping_mul(37)).collect();
    let long_b: Vec<u8> = (0..77u8).map(|i| i.wrapping_mul(11) ^ 0x5a).collect();
    lines.push(vec![b"set".to_vec(), b"la".to_vec(), long_a]);
    lines.push(vec![b"set".to_vec(), b"lb".to_vec(), long_b]);
    for op in ["and", "or", "xor"] {
        lines.push(words(&format!("bitop {op} d la lb a")));
        lines.push(words("get d"));
    }
    lines.push(words("bitop not d la"));
    lines.push(words("get d"));

    // BITFIELD: types, offsets, overflow modes, errors in order.
    for s in [
        "bitfield bf set i8 0 100",
        "bitfield bf get i8 0 get u8 0 get i4 0 get u4 4",
        "bitfield bf incrby i8 0 27",
        "bitfield bf incrby i8 0 1",
        "bitfield bf overflow sat incrby i8 0 100 overflow wrap incrby i8 0 100",
        "bitfield bf overflow fail incrby i8 0 100 incrby i8 0 -1",
        "bitfield bf overflow fail set i8 0 128 set i8 0 -128 set u8 8 256 set u8 8 255",
        "bitfield bf overflow sat set i8 0 128 set i8 0 -129 set u8 8 256 set u8 8 -1",
        "bitfield bf overflow wrap set i8 0 128 set i8 0 -129 set u8 8 256 set u8 8 -1",
        "bitfield bf overflow sat set i8 0 -9223372036854775808",
        "bitfield bf overflow sat set i8 0 9223372036854775807",
        "bitfield bf overflow wrap set i8 0 -9223372036854775808",
        "bitfield bf set i64 0 -1 get u63 0 get u63 1 get i64 0 get i64 1",
        "bitfield bf overflow wrap incrby i64 0 9223372036854775807 incrby i64 0 9223372036854775807",
        "bitfield bf overflow sat incrby i64 0 9223372036854775807 incrby i64 0 -9223372036854775808 incrby i64 0 -9223372036854775808",
        "bitfield bf overflow fail incrby i64 0 9223372036854775807 incrby i64 0 9223372036854775807",
        "bitfield bf set u63 0 9223372036854775807 incrby u63 0 1 overflow sat incrby u63 0 -1 incrby u63 0 10",
        "bitfield bf overflow sat set u1 0 5 set u1 1 -5 incrby u1 2 1 incrby u1 2 1 get u3 0",
        "bitfield bf overflow wrap set i1 0 1 get i1 0 incrby i1 0 1 incrby i1 0 -3",
        "bitfield bf overflow sat set i1 0 1 get i1 0 incrby i1 0 1 incrby i1 0 -3",
        "bitfield bf set u8 #3 200 get u8 24 get u8 #3 set i5 #2 -7 get i5 10",
        "get bf",
        "bitfield bf set u8 #0 0",
        "bitfield bf get u8 1000",
        "bitfield bf set u8 1000 1",
        "strlen bf",
        "bitfield bf get i64 4294967232 get u8 4294967295",
        "bitfield bf get u8 4294967296",
        "bitfield bf get u8 #536870912",
        "bitfield bf get u8 #536870911",
        "bitfield bf get i64 #67108863",
        "bitfield bf get i64 #67108864",
        "bitfield bf get u8 #9223372036854775807",
        "bitfield bf get u8 -1",
        "bitfield bf get u8 #-1",
        "bitfield bf get u8 ##1",
        "bitfield bf get u8 x",
        "bitfield bf get u64 0",
        "bitfield bf get i65 0",
        "bitfield bf get i0 0",
        "bitfield bf get I8 0",
        "bitfield bf get x8 0",
        "bitfield bf get u 0",
        "bitfield bf get u08 0",
        "bitfield bf set u8 0",
        "bitfield bf set u8 0 x",
        "bitfield bf incrby u8 0 1.5",
        "bitfield bf get u8",
        "bitfield bf overflow",
        "bitfield bf overflow sat",
        "bitfield bf overflow foo get u8 0",
        "bitfield bf overflow foo",
        "bitfield bf foo",
        "bitfield bf get u8 0 foo",
        "bitfield bf get x8 0 set u64 0 1",
        "bitfield bf set u64 0 1 get x8 0",
        "bitfield bf get u8 x set u8 0 x",
        "bitfield bf",
        "bitfield missing",
        "bitfield missing get u8 0 get i64 100",
        "exists missing",
        "bitfield newkey overflow fail incrby u2 10 10",
        "get newkey",
        "bitfield newkey2 overflow fail set i8 0 1000",
        "strlen newkey2",
        "bitfield BF GET u8 0 Set u8 0 1 INCRBY u8 0 1 OVERFLOW Sat",
        "bitfield_ro bf get u8 0 get i4 4",
        "bitfield_ro bf",
        "bitfield_ro bf get u8 0 set u8 0 1",
        "bitfield_ro bf incrby u8 0 1",
        "bitfield_ro bf overflow sat",
        "bitfield_ro bf get u64 0",
        "bitfield_ro missing get u8 0",
        "bitfield_ro missing set u8 0 1",
        "exists missing",
    ] {
        add!(s);
    }

    // LCS: the documented example, options, errors.
    for s in [
        "mset k1 ohmytext k2 mynewtext",
        "lcs k1 k2",
        "lcs k1 k2 len",
        "lcs k1 k2 idx",
        "lcs k1 k2 idx withmatchlen",
        "lcs k1 k2 idx minmatchlen 4",
        "lcs k1 k2 idx minmatchlen 4 withmatchlen",
        "lcs k1 k2 IDX MINMATCHLEN -5 WITHMATCHLEN",
        "lcs k1 k2 withmatchlen",
        "lcs k1 k2 minmatchlen 3",
        "lcs k1 k2 len idx",
        "lcs k1 k2 idx len",
        "lcs k1 k2 len len",
        "lcs k1 k2 minmatchlen",
        "lcs k1 k2 minmatchlen x",
        "lcs k1 k2 foo",
        "lcs k1 missing",
        "lcs missing missing idx",
        "lcs missing k2 len",
        "lcs k1 k1 idx withmatchlen",
        "mset x1 aaaa x2 aa",
        "lcs x1 x2 idx withmatchlen",
        "mset x1 abcabcabc x2 cbacbacba",
        "lcs x1 x2",
        "lcs x1 x2 idx withmatchlen",
        "mset x1 ACCGGTCGAGTGCGCGGAAGCCGGCCGAA x2 GTCGTTCGGAATGCCGTTGCTCTGTAAA",
        "lcs x1 x2",
        "lcs x1 x2 idx",
        "lcs x1 x2 idx minmatchlen 2 withmatchlen",
    ] {
        add!(s);
    }
    // The table Redis would build is over proto-max-bulk-len.
    let big = "a".repeat(12_000);
    lines.push(line(&["set", "big1", &big]));
    lines.push(line(&["set", "big2", &big]));
    lines.push(line(&["lcs", "big1", "big2"]));
    lines.push(line(&["lcs", "big1", "big2", "len"]));

    let result = pair.run(&lines).await;
    if let Err(report) = result {
        panic!("redynamo and redis-server disagree:\n{report}");
    }
}

/// RESP3 shapes: LCS IDX is a map, BITFIELD's FAIL a null.
#[tokio::test]
async fn resp3_shapes() {
    let Some(mut pair) = Pair::start().await else {
        return;
    };
    // HELLO's reply names each server's version: switched outside the
    // comparison (the harness' flush leaves the protocol as it is).
    pair.both(&line(&["hello", "3"])).await;
    let lines = vec![
        line(&["mset", "k1", "ohmytext", "k2", "mynewtext"]),
        line(&["lcs", "k1", "k2", "idx", "withmatchlen"]),
        line(&["lcs", "k1", "k2", "idx", "minmatchlen", "10"]),
        line(&["lcs", "k1", "k2"]),
        line(&["lcs", "k1", "k2", "len"]),
        line(&[
            "bitfield", "b", "overflow", "fail", "incrby", "u2", "0", "9", "get", "u2", "0",
        ]),
        line(&["bitfield_ro", "b", "get", "u2", "0"]),
        line(&["bitcount", "k1"]),
        line(&["bitpos", "k1", "1"]),
        line(&["setbit", "k1", "3", "1"]),
        line(&["getbit", "k1", "3"]),
        line(&["bitop", "or", "d", "k1", "k2"]),
    ];
    if let Err(report) = pair.run(&lines).await {
        panic!("redynamo and redis-server disagree:\n{report}");
    }
}

const KEYS: &[&str] = &["k0", "k1", "k2", "k3"];

struct Gen {
    rng: StdRng,
}

impl Gen {
    fn key(&mut self) -> Vec<u8> {
        KEYS.choose(&mut self.rng)
            .expect("keys")
            .as_bytes()
            .to_vec()
    }

    /// A binary value: bytes that are mostly 0x00, 0xff or random.
    fn value(&mut self) -> Vec<u8> {
        let len = match self.rng.gen_range(0..10) {
            0 => 0,
            1..=6 => self.rng.gen_range(1..8),
            _ => self.rng.gen_range(8..70),
        };
        (0..len)
            .map(|_| match self.rng.gen_range(0..4) {
                0 => 0x00,
                1 => 0xff,
                _ => self.rng.gen(),
            })
            .collect()
    }

    /// A bit offset: mostly within a few bytes, sometimes further, rarely
    /// not one.
    fn bit_offset(&mut self) -> String {
        match self.rng.gen_range(0..20) {
            0 => "-1".into(),
            1 => "x".into(),
            2 => "4294967296".into(),
            3..=5 => self.rng.gen_range(0..2000).to_string(),
            _ => self.rng.gen_range(0..80).to_string(),
        }
    }

    /// A range index for BITCOUNT/BITPOS: small, negative, huge.
    fn index(&mut self) -> String {
        match self.rng.gen_range(0..20) {
            0 => "9223372036854775807".into(),
            1 => "-9223372036854775808".into(),
            2 => "x".into(),
            3..=8 => self.rng.gen_range(-80..0).to_string(),
            9..=10 => self.rng.gen_range(-600..600).to_string(),
            _ => self.rng.gen_range(0..80).to_string(),
        }
    }

    fn unit(&mut self) -> &'static str {
        ["bit", "byte", "BIT", "Byte", "bits"][self.rng.gen_range(0..5)]
    }

    /// A BITFIELD type, rarely an invalid one.
    fn field_type(&mut self) -> (String, u32, bool) {
        if self.rng.gen_range(0..40) == 0 {
            let bad = ["u64", "i65", "i0", "x8", "U8", "i"][self.rng.gen_range(0..6)];
            return (bad.into(), 8, false);
        }
        let signed = self.rng.gen_bool(0.5);
        let bits = match self.rng.gen_range(0..4) {
            0 => [1, 8, 16, 32][self.rng.gen_range(0..4)],
            1 => {
                if signed {
                    64
                } else {
                    63
                }
            }
            _ => self.rng.gen_range(1..if signed { 65 } else { 64 }),
        };
        (
            format!("{}{bits}", if signed { 'i' } else { 'u' }),
            bits,
            signed,
        )
    }

    /// A value near the edges of a `bits`-wide field, or anywhere.
    fn field_value(&mut self, bits: u32, signed: bool) -> String {
        let (min, max): (i128, i128) = if signed {
            (-(1i128 << (bits - 1)), (1i128 << (bits - 1)) - 1)
        } else {
            (0, (1i128 << bits) - 1)
        };
        let v: i128 = match self.rng.gen_range(0..10) {
            0 => i64::MIN as i128,
            1 => i64::MAX as i128,
            2 => max + self.rng.gen_range(-2..3),
            3 => min + self.rng.gen_range(-2..3),
            4 => self.rng.gen_range(-3..4),
            5 => self.rng.gen::<i64>() as i128,
            _ => self.rng.gen_range(min..=max),
        };
        v.clamp(i64::MIN as i128, i64::MAX as i128).to_string()
    }

    fn bitfield(&mut self, read_only: bool) -> Vec<Vec<u8>> {
        let mut out = vec![
            if read_only {
                b"bitfield_ro".to_vec()
            } else {
                b"bitfield".to_vec()
            },
            self.key(),
        ];
        for _ in 0..self.rng.gen_range(0..5) {
            let (ty, bits, signed) = self.field_type();
            let offset = match self.rng.gen_range(0..6) {
                0 => format!("#{}", self.rng.gen_range(0..8)),
                _ => self.rng.gen_range(0..100).to_string(),
            };
            let op = if read_only && self.rng.gen_range(0..10) != 0 {
                0
            } else {
                self.rng.gen_range(0..4)
            };
            match op {
                0 => out.extend([b"get".to_vec(), ty.into_bytes(), offset.into_bytes()]),
                1 | 2 => out.extend([
                    if op == 1 {
                        b"set".to_vec()
                    } else {
                        b"incrby".to_vec()
                    },
                    ty.into_bytes(),
                    offset.into_bytes(),
                    self.field_value(bits, signed).into_bytes(),
                ]),
                _ => {
                    let modes = if self.rng.gen_range(0..20) == 0 { 5 } else { 4 };
                    let mode =
                        ["wrap", "sat", "fail", "SAT", "bogus"][self.rng.gen_range(0..modes)];
                    out.extend([b"overflow".to_vec(), mode.as_bytes().to_vec()]);
                }
            }
        }
        out
    }

    fn command(&mut self) -> Vec<Vec<u8>> {
        let s = |x: &str| x.as_bytes().to_vec();
        match self.rng.gen_range(0..24) {
            0..=2 => vec![s("set"), self.key(), self.value()],
            3 => vec![s("get"), self.key()],
            4 => vec![s("strlen"), self.key()],
            5 => vec![s("del"), self.key()],
            6..=7 => {
                let bit = ["0", "1", "1", "0", "2"][self.rng.gen_range(0..5)];
                vec![
                    s("setbit"),
                    self.key(),
                    self.bit_offset().into_bytes(),
                    s(bit),
                ]
            }
            8 => vec![s("getbit"), self.key(), self.bit_offset().into_bytes()],
            9..=11 => {
                let mut c = vec![s("bitcount"), self.key()];
                match self.rng.gen_range(0..6) {
                    0 => {}
                    1 => c.push(self.index().into_bytes()),
                    2 | 3 => c.extend([self.index().into_bytes(), self.index().into_bytes()]),
                    _ => c.extend([
                        self.index().into_bytes(),
                        self.index().into_bytes(),
                        s(self.unit()),
                    ]),
                }
                c
            }
            12..=14 => {
                let bit = ["0", "1", "0", "1", "-1"][self.rng.gen_range(0..5)];
                let mut c = vec![s("bitpos"), self.key(), s(bit)];
                let n = self.rng.gen_range(0..4);
                if n >= 1 {
                    c.push(self.index().into_bytes());
                }
                if n >= 2 {
                    c.push(self.index().into_bytes());
                }
                if n >= 3 {
                    c.push(s(self.unit()));
                }
                c
            }
            15..=16 => {
                let op = ["and", "or", "xor", "not", "AND", "nor"][self.rng.gen_range(0..6)];
                let n = if op.eq_ignore_ascii_case("not") && self.rng.gen_range(0..5) != 0 {
                    1
                } else {
                    self.rng.gen_range(1..5)
                };
                let mut c = vec![s("bitop"), s(op), self.key()];
                for _ in 0..n {
                    c.push(self.key());
                }
                c
            }
            17..=19 => self.bitfield(false),
            20 => self.bitfield(true),
            _ => {
                let mut c = vec![s("lcs"), self.key(), self.key()];
                match self.rng.gen_range(0..6) {
                    0 => c.push(s("len")),
                    1 => c.push(s("idx")),
                    2 => c.extend([s("idx"), s("withmatchlen")]),
                    3 => c.extend([
                        s("idx"),
                        s("minmatchlen"),
                        self.rng.gen_range(-1..5).to_string().into_bytes(),
                        s("withmatchlen"),
                    ]),
                    _ => {}
                }
                c
            }
        }
    }
}

#[tokio::test]
async fn random_sequences() {
    let Some(mut pair) = Pair::start().await else {
        return;
    };
    let mut divergences = Divergences::default();
    for seed in seeds(0..60) {
        let mut generator = Gen {
            rng: StdRng::seed_from_u64(seed),
        };
        let lines: Vec<Vec<Vec<u8>>> = (0..150).map(|_| generator.command()).collect();
        let outcome = pair.run(&lines).await;
        divergences.record(seed, lines.len(), outcome);
    }
    divergences.assert_none();
}

#[tokio::test]
async fn bitfield_random_arithmetic() {
    let Some(mut pair) = Pair::start().await else {
        return;
    };
    let mut failures = Vec::new();
    for seed in seeds(0..3) {
        let mut g = Gen {
            rng: StdRng::seed_from_u64(5000 + seed),
        };
        let mut lines = Vec::new();
        for _ in 0..400 {
            let (ty, bits, signed) = g.field_type();
            let mode = ["wrap", "sat", "fail"][g.rng.gen_range(0..3)];
            let offset = g.rng.gen_range(0..20).to_string();
            let start = g.field_value(bits, signed);
            let by = g.field_value(bits, signed);
            lines.push(line(&[
                "bitfield", "f", "overflow", mode, "set", &ty, &offset, &start, "incrby", &ty,
                &offset, &by, "get", &ty, &offset,
            ]));
            lines.push(line(&["get", "f"]));
        }
        if let Err(report) = pair.run(&lines).await {
            failures.push(format!("seed {seed}: {report}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// LCS over strings of a small alphabet, where matches are long and ties
/// many: the walk back through the table must break them as Redis does.
#[tokio::test]
async fn lcs_random_strings() {
    let Some(mut pair) = Pair::start().await else {
        return;
    };
    let mut failures = Vec::new();
    for seed in seeds(0..3) {
        let mut rng = StdRng::seed_from_u64(7000 + seed);
        let mut lines = Vec::new();
        for _ in 0..60 {
            let alphabet: &[u8] = [&b"ab"[..], b"acgt", b"abcdefghij"][rng.gen_range(0..3)];
            let text = |rng: &mut StdRng| -> Vec<u8> {
                let len = rng.gen_range(0..200);
                (0..len)
                    .map(|_| *alphabet.choose(rng).expect("letters"))
                    .collect()
            };
            let (a, b) = (text(&mut rng), text(&mut rng));
            lines.push(vec![b"mset".to_vec(), b"a".to_vec(), a, b"b".to_vec(), b]);
            lines.push(line(&["lcs", "a", "b"]));
            lines.push(line(&["lcs", "a", "b", "len"]));
            lines.push(line(&["lcs", "a", "b", "idx", "withmatchlen"]));
            let min = rng.gen_range(0..6).to_string();
            lines.push(line(&["lcs", "b", "a", "idx", "minmatchlen", &min]));
        }
        if let Err(report) = pair.run(&lines).await {
            failures.push(format!("seed {seed}: {report}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
