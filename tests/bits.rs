//! The bit commands (SETBIT, GETBIT, BITCOUNT, BITPOS, BITOP, BITFIELD,
//! BITFIELD_RO) and LCS over real TCP on the memory backend, in RESP2 and
//! RESP3. Many cases are ported from Redis' `tests/unit/bitops.tcl`,
//! `bitfield.tcl` and the LCS tests of `type/string.tcl`; the byte-exact
//! comparison with redis-server is `tests/differential_bits.rs`.

// A test fails by panicking: unwrap is the point here, not a shortcut.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::HashMap;

use common::*;
use redynamo::config::Config;

const OFFSET_ERR: &str = "ERR bit offset is not an integer or out of range";

async fn stats(c: &mut RawClient) -> HashMap<String, i64> {
    c.cmd(&["INFO", "stats"])
        .await
        .text()
        .lines()
        .filter_map(|l| l.split_once(':'))
        .filter_map(|(k, v)| Some((k.to_string(), v.parse().ok()?)))
        .collect()
}

#[tokio::test]
async fn setbit_and_getbit() {
    let server = TestServer::start().await;
    let mut c = server.raw().await;
    // SETBIT against non-existing key
    assert_eq!(c.cmd(&["SETBIT", "mykey", "1", "1"]).await, int(0));
    assert_eq!(c.cmd(&["GET", "mykey"]).await, bulk([0x40]));
    // SETBIT against string-encoded key: "@" is 0x40
    assert_eq!(c.cmd(&["SET", "mykey", "@"]).await, ok());
    assert_eq!(c.cmd(&["SETBIT", "mykey", "2", "1"]).await, int(0));
    assert_eq!(c.cmd(&["GET", "mykey"]).await, bulk("`"));
    assert_eq!(c.cmd(&["SETBIT", "mykey", "1", "0"]).await, int(1));
    assert_eq!(c.cmd(&["GET", "mykey"]).await, bulk(" "));
    // SETBIT against integer-encoded key: "1" is 0x31
    assert_eq!(c.cmd(&["SET", "mykey", "1"]).await, ok());
    assert_eq!(c.cmd(&["SETBIT", "mykey", "6", "1"]).await, int(0));
    assert_eq!(c.cmd(&["GET", "mykey"]).await, bulk("3"));
    assert_eq!(c.cmd(&["SETBIT", "mykey", "2", "0"]).await, int(1));
    assert_eq!(c.cmd(&["GET", "mykey"]).await, bulk([0x13]));
    // Growing pads with zero bytes and keeps the deadline.
    assert_eq!(c.cmd(&["SET", "g", "a", "EX", "100"]).await, ok());
    assert_eq!(c.cmd(&["SETBIT", "g", "31", "1"]).await, int(0));
    assert_eq!(c.cmd(&["GET", "g"]).await, bulk([b'a', 0, 0, 1]));
    assert_eq!(c.cmd(&["TTL", "g"]).await, int(100));
    // Errors, offset first.
    for (args, e) in [
        (
            &["SETBIT", "mykey", "0", "-1"][..],
            "ERR bit is not an integer or out of range",
        ),
        (
            &["SETBIT", "mykey", "0", "2"],
            "ERR bit is not an integer or out of range",
        ),
        (
            &["SETBIT", "mykey", "0", "x"],
            "ERR bit is not an integer or out of range",
        ),
        (&["SETBIT", "mykey", "-1", "x"], OFFSET_ERR),
        (&["SETBIT", "mykey", "4294967296", "1"], OFFSET_ERR),
        (&["SETBIT", "mykey", "#1", "1"], OFFSET_ERR),
        (&["GETBIT", "mykey", "4294967296"], OFFSET_ERR),
        (&["GETBIT", "mykey", "-1"], OFFSET_ERR),
    ] {
        assert_eq!(c.cmd(args).await, err(e), "{args:?}");
    }
    assert_eq!(
        c.cmd(&["SETBIT", "mykey", "0"]).await,
        err("ERR wrong number of arguments for 'setbit' command")
    );
    // GETBIT against non-existing key, out of range, within.
    assert_eq!(c.cmd(&["GETBIT", "nokey", "0"]).await, int(0));
    assert_eq!(c.cmd(&["SET", "k", "`"]).await, ok());
    let bits: Vec<Reply> = futures_bits(&mut c, "k", 0..12).await;
    assert_eq!(bits, [0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0].map(int).to_vec());
    assert_eq!(c.cmd(&["GETBIT", "k", "4294967295"]).await, int(0));
}

async fn futures_bits(c: &mut RawClient, key: &str, range: std::ops::Range<u32>) -> Vec<Reply> {
    let mut out = Vec::new();
    for i in range {
        out.push(c.cmd(&["GETBIT", key, &i.to_string()]).await);
    }
    out
}

#[tokio::test]
async fn offsets_are_limited_by_proto_max_bulk_len() {
    let mut config = Config::for_tests();
    config.proto_max_bulk_len = 1000;
    let server = TestServer::with_config(config).await;
    let mut c = server.raw().await;
    assert_eq!(c.cmd(&["SETBIT", "k", "7999", "1"]).await, int(0));
    assert_eq!(c.cmd(&["STRLEN", "k"]).await, int(1000));
    assert_eq!(c.cmd(&["SETBIT", "k", "8000", "1"]).await, err(OFFSET_ERR));
    assert_eq!(c.cmd(&["GETBIT", "k", "8000"]).await, err(OFFSET_ERR));
    assert_eq!(
        c.cmd(&["BITFIELD", "k", "GET", "u8", "#1000"]).await,
        err(OFFSET_ERR)
    );
    // The offset's byte is checked, not the field's last one: a field may
    // reach a few bytes past the limit, as in Redis.
    assert_eq!(
        c.cmd(&["BITFIELD", "k", "SET", "i64", "7999", "-1"]).await,
        arr([int(i64::MIN)])
    );
    assert_eq!(c.cmd(&["STRLEN", "k"]).await, int(1008));
}

#[tokio::test]
async fn setbit_in_place_on_a_large_string() {
    let server = TestServer::start().await;
    let mut c = server.raw().await;
    let big = vec![0x55u8; 4 << 20];
    assert_eq!(c.cmd_bin(&[b"SET", b"big", &big]).await, ok());
    for i in 0..200u64 {
        let offset = (i * 167_773) % (big.len() as u64 * 8);
        let was = c.cmd(&["SETBIT", "big", &offset.to_string(), "1"]).await;
        assert_eq!(was, int(i64::from(offset % 2 == 1)), "offset {offset}");
    }
    assert_eq!(c.cmd(&["STRLEN", "big"]).await, int(4 << 20));
    assert_eq!(
        c.cmd(&["GETBIT", "big", &(167_773 * 3).to_string()]).await,
        int(1)
    );
}

#[tokio::test]
async fn bitcount() {
    let server = TestServer::start().await;
    let mut c = server.raw().await;
    assert_eq!(c.cmd(&["BITCOUNT", "no-key"]).await, int(0));
    // Redis 7.2 reads the key first: a missing key is 0 whatever follows.
    assert_eq!(c.cmd(&["BITCOUNT", "no-key", "0"]).await, int(0));
    assert_eq!(c.cmd(&["BITCOUNT", "no-key", "a", "b"]).await, int(0));
    assert_eq!(c.cmd(&["SET", "s", "foobar"]).await, ok());
    for (args, n) in [
        (&["BITCOUNT", "s"][..], 26),
        (&["BITCOUNT", "s", "0", "0"], 4),
        (&["BITCOUNT", "s", "1", "1"], 6),
        (&["BITCOUNT", "s", "1", "1", "BYTE"], 6),
        (&["BITCOUNT", "s", "5", "30", "BIT"], 17),
        (&["BITCOUNT", "s", "-2", "-1"], 7),
        (&["BITCOUNT", "s", "-1", "-2"], 0),
        (&["BITCOUNT", "s", "0", "-1"], 26),
        (&["BITCOUNT", "s", "0", "1000"], 26),
        (&["BITCOUNT", "s", "-1000", "0"], 4),
        (&["BITCOUNT", "s", "-8", "-1", "bit"], 4),
        (&["BITCOUNT", "s", "47", "47", "bit"], 0),
        (&["BITCOUNT", "s", "46", "46", "bit"], 1),
        // A reversed negative range is 0 before the unit is even read.
        (&["BITCOUNT", "s", "-1", "-2", "nonsense"], 0),
    ] {
        assert_eq!(c.cmd(args).await, int(n), "{args:?}");
    }
    for (args, e) in [
        (&["BITCOUNT", "s", "0"][..], "ERR syntax error"),
        (&["BITCOUNT", "s", "0", "1", "bits"], "ERR syntax error"),
        (&["BITCOUNT", "s", "0", "1", "bit", "x"], "ERR syntax error"),
        (
            &["BITCOUNT", "s", "a", "1"],
            "ERR value is not an integer or out of range",
        ),
    ] {
        assert_eq!(c.cmd(args).await, err(e), "{args:?}");
    }
}

#[tokio::test]
async fn bitpos() {
    let server = TestServer::start().await;
    let mut c = server.raw().await;
    // A missing key is an endless string of zeros.
    assert_eq!(c.cmd(&["BITPOS", "no-key", "1"]).await, int(-1));
    assert_eq!(c.cmd(&["BITPOS", "no-key", "0"]).await, int(0));
    assert_eq!(
        c.cmd(&["BITPOS", "no-key", "0", "5", "1", "bit"]).await,
        int(0)
    );
    assert_eq!(
        c.cmd_bin(&[b"SET", b"ones", &[0xff, 0xff, 0xff]]).await,
        ok()
    );
    // Looking for a clear bit with no end given: the first bit past the
    // string.
    assert_eq!(c.cmd(&["BITPOS", "ones", "0"]).await, int(24));
    assert_eq!(c.cmd(&["BITPOS", "ones", "0", "1"]).await, int(24));
    // With an explicit end, the range holds no clear bit.
    assert_eq!(c.cmd(&["BITPOS", "ones", "0", "0", "-1"]).await, int(-1));
    assert_eq!(
        c.cmd(&["BITPOS", "ones", "0", "0", "-1", "bit"]).await,
        int(-1)
    );
    assert_eq!(
        c.cmd_bin(&[b"SET", b"str", &[0x00, 0xff, 0xf0]]).await,
        ok()
    );
    for (args, n) in [
        (&["BITPOS", "str", "1"][..], 8),
        (&["BITPOS", "str", "1", "2"], 16),
        (&["BITPOS", "str", "1", "2", "-1", "byte"], 16),
        (&["BITPOS", "str", "1", "7", "15", "bit"], 8),
        (&["BITPOS", "str", "1", "7", "-3", "bit"], 8),
        (&["BITPOS", "str", "0", "8", "-1", "bit"], 20),
        (&["BITPOS", "str", "0", "-4", "-1", "bit"], 20),
        (&["BITPOS", "str", "0", "9", "15", "bit"], -1),
        (&["BITPOS", "str", "1", "3", "1"], -1),
        (&["BITPOS", "str", "0", "1", "1"], -1),
        (&["BITPOS", "str", "0", "1"], 20),
    ] {
        assert_eq!(c.cmd(args).await, int(n), "{args:?}");
    }
    for (args, e) in [
        (
            &["BITPOS", "str", "2"][..],
            "ERR The bit argument must be 1 or 0.",
        ),
        (
            &["BITPOS", "no-key", "-1"],
            "ERR The bit argument must be 1 or 0.",
        ),
        (
            &["BITPOS", "str", "x"],
            "ERR value is not an integer or out of range",
        ),
        (
            &["BITPOS", "str", "1", "0", "1", "bits"],
            "ERR syntax error",
        ),
        (
            &["BITPOS", "str", "1", "0", "1", "bit", "x"],
            "ERR syntax error",
        ),
        (
            &["BITPOS", "str", "1", "x"],
            "ERR value is not an integer or out of range",
        ),
    ] {
        assert_eq!(c.cmd(args).await, err(e), "{args:?}");
    }
}

#[tokio::test]
async fn bitop() {
    let server = TestServer::start().await;
    let mut c = server.raw().await;
    assert_eq!(c.cmd_bin(&[b"SET", b"a", &[0xf0, 0x0f, 0xaa]]).await, ok());
    assert_eq!(c.cmd_bin(&[b"SET", b"b", &[0xff]]).await, ok());
    for (op, expected) in [
        ("AND", &[0xf0u8, 0x00, 0x00][..]),
        ("OR", &[0xff, 0x0f, 0xaa]),
        ("XOR", &[0x0f, 0x0f, 0xaa]),
    ] {
        assert_eq!(
            c.cmd(&["BITOP", op, "dest", "a", "b"]).await,
            int(3),
            "{op}"
        );
        assert_eq!(c.cmd(&["GET", "dest"]).await, bulk(expected), "{op}");
    }
    assert_eq!(c.cmd(&["BITOP", "not", "dest", "a"]).await, int(3));
    assert_eq!(c.cmd(&["GET", "dest"]).await, bulk([0x0f, 0xf0, 0x55]));
    // BITOP with non-string source key and missing sources
    assert_eq!(c.cmd(&["BITOP", "or", "dest", "nokey", "b"]).await, int(1));
    assert_eq!(c.cmd(&["GET", "dest"]).await, bulk([0xff]));
    // BITOP with empty string after non empty string (issue #529)
    assert_eq!(c.cmd(&["SET", "e", ""]).await, ok());
    assert_eq!(c.cmd(&["BITOP", "or", "dest", "b", "e"]).await, int(1));
    // An empty result deletes the destination, and drops its deadline
    // otherwise.
    assert_eq!(c.cmd(&["EXPIRE", "dest", "100"]).await, int(1));
    assert_eq!(c.cmd(&["BITOP", "and", "dest", "a"]).await, int(3));
    assert_eq!(c.cmd(&["TTL", "dest"]).await, int(-1));
    assert_eq!(c.cmd(&["BITOP", "and", "dest", "nokey", "e"]).await, int(0));
    assert_eq!(c.cmd(&["EXISTS", "dest"]).await, int(0));
    // The destination may be a source.
    assert_eq!(c.cmd(&["BITOP", "xor", "a", "a", "b"]).await, int(3));
    assert_eq!(c.cmd(&["GET", "a"]).await, bulk([0x0f, 0x0f, 0xaa]));
    for (args, e) in [
        (
            &["BITOP", "NOT", "dest", "a", "b"][..],
            "ERR BITOP NOT must be called with a single source key.",
        ),
        (&["BITOP", "NAND", "dest", "a"], "ERR syntax error"),
        (
            &["BITOP", "AND", "dest"],
            "ERR wrong number of arguments for 'bitop' command",
        ),
    ] {
        assert_eq!(c.cmd(args).await, err(e), "{args:?}");
    }
}

#[tokio::test]
async fn bitfield() {
    let server = TestServer::start().await;
    let mut c = server.raw().await;
    // BITFIELD signed SET and GET basics
    assert_eq!(
        c.cmd(&["BITFIELD", "bits", "SET", "i8", "0", "-100"]).await,
        arr([int(0)])
    );
    assert_eq!(
        c.cmd(&["BITFIELD", "bits", "SET", "i8", "0", "101"]).await,
        arr([int(-100)])
    );
    assert_eq!(
        c.cmd(&["BITFIELD", "bits", "GET", "i8", "0"]).await,
        arr([int(101)])
    );
    // BITFIELD unsigned SET and GET basics
    assert_eq!(c.cmd(&["DEL", "bits"]).await, int(1));
    assert_eq!(
        c.cmd(&["BITFIELD", "bits", "SET", "u8", "0", "255"]).await,
        arr([int(0)])
    );
    assert_eq!(
        c.cmd(&["BITFIELD", "bits", "SET", "u8", "0", "100"]).await,
        arr([int(255)])
    );
    assert_eq!(
        c.cmd(&["BITFIELD", "bits", "GET", "u8", "0"]).await,
        arr([int(100)])
    );
    // BITFIELD signed SET and GET together, and # offsets
    assert_eq!(c.cmd(&["DEL", "bits"]).await, int(1));
    assert_eq!(
        c.cmd(&[
            "BITFIELD", "bits", "SET", "i8", "0", "255", "GET", "i8", "0", "SET", "u8", "#1",
            "200", "GET", "u8", "8"
        ])
        .await,
        arr([int(0), int(-1), int(0), int(200)])
    );
    // BITFIELD unsigned with SET, GET and INCRBY arguments
    assert_eq!(c.cmd(&["DEL", "bits"]).await, int(1));
    assert_eq!(
        c.cmd(&[
            "BITFIELD", "bits", "INCRBY", "u2", "100", "1", "OVERFLOW", "SAT", "INCRBY", "u2",
            "102", "1"
        ])
        .await,
        arr([int(1), int(1)])
    );
    // BITFIELD overflow detection fuzzing is differential; these are the
    // Redis test's own edges.
    assert_eq!(c.cmd(&["DEL", "bits"]).await, int(1));
    assert_eq!(
        c.cmd(&["BITFIELD", "bits", "SET", "u8", "0", "255", "INCRBY", "u8", "0", "100"])
            .await,
        arr([int(0), int(99)])
    );
    assert_eq!(
        c.cmd(&["BITFIELD", "bits", "OVERFLOW", "SAT", "INCRBY", "u8", "0", "-200"])
            .await,
        arr([int(0)])
    );
    assert_eq!(
        c.cmd(&["BITFIELD", "bits", "OVERFLOW", "FAIL", "INCRBY", "u8", "0", "-1"])
            .await,
        arr([nil()])
    );
    // i64 and u63 at their limits
    assert_eq!(
        c.cmd(&[
            "BITFIELD",
            "bits",
            "SET",
            "i64",
            "0",
            "9223372036854775807",
            "INCRBY",
            "i64",
            "0",
            "1",
            "OVERFLOW",
            "SAT",
            "INCRBY",
            "i64",
            "0",
            "-1",
            "INCRBY",
            "i64",
            "0",
            "-9223372036854775808",
            "GET",
            "u63",
            "1"
        ])
        .await,
        arr([int(0), int(i64::MIN), int(i64::MIN), int(i64::MIN), int(0)])
    );
    // BITFIELD with no operation is an empty array, even on a missing key.
    assert_eq!(c.cmd(&["BITFIELD", "none"]).await, arr([]));
    assert_eq!(
        c.cmd(&["BITFIELD", "none", "GET", "u8", "0"]).await,
        arr([int(0)])
    );
    assert_eq!(c.cmd(&["EXISTS", "none"]).await, int(0));
    // A write that fails still creates the key, as in Redis.
    assert_eq!(
        c.cmd(&["BITFIELD", "new", "OVERFLOW", "FAIL", "SET", "u2", "0", "9"])
            .await,
        arr([nil()])
    );
    assert_eq!(c.cmd(&["GET", "new"]).await, bulk([0]));
    // Errors, each operation's type, then offset, then value.
    let bad_type = "ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is.";
    for (args, e) in [
        (&["BITFIELD", "bits", "GET", "u64", "0"][..], bad_type),
        (&["BITFIELD", "bits", "GET", "i65", "0"], bad_type),
        (&["BITFIELD", "bits", "GET", "I8", "0"], bad_type),
        (&["BITFIELD", "bits", "GET", "u8", "-1"], OFFSET_ERR),
        (&["BITFIELD", "bits", "GET", "u8", "#-1"], OFFSET_ERR),
        (&["BITFIELD", "bits", "GET", "u8", "4294967296"], OFFSET_ERR),
        (
            &["BITFIELD", "bits", "SET", "u8", "0", "x"],
            "ERR value is not an integer or out of range",
        ),
        (
            &["BITFIELD", "bits", "OVERFLOW", "MAYBE"],
            "ERR Invalid OVERFLOW type specified",
        ),
        (&["BITFIELD", "bits", "OVERFLOW"], "ERR syntax error"),
        (&["BITFIELD", "bits", "GET", "u8"], "ERR syntax error"),
        (&["BITFIELD", "bits", "SET", "u8", "0"], "ERR syntax error"),
        (&["BITFIELD", "bits", "FOO", "u8", "0"], "ERR syntax error"),
        (
            &["BITFIELD", "bits", "GET", "x8", "0", "SET", "u64", "0", "1"],
            bad_type,
        ),
    ] {
        assert_eq!(c.cmd(args).await, err(e), "{args:?}");
    }
}

#[tokio::test]
async fn bitfield_ro() {
    let server = TestServer::start().await;
    let mut c = server.raw().await;
    assert_eq!(
        c.cmd(&["BITFIELD", "bits", "SET", "u8", "0", "255"]).await,
        arr([int(0)])
    );
    assert_eq!(
        c.cmd(&["BITFIELD_RO", "bits", "GET", "u8", "0", "GET", "i4", "4"])
            .await,
        arr([int(255), int(-1)])
    );
    assert_eq!(c.cmd(&["BITFIELD_RO", "bits"]).await, arr([]));
    assert_eq!(
        c.cmd(&["BITFIELD_RO", "missing", "GET", "u8", "0"]).await,
        arr([int(0)])
    );
    for args in [
        &["BITFIELD_RO", "bits", "SET", "u8", "0", "1"][..],
        &[
            "BITFIELD_RO",
            "bits",
            "GET",
            "u8",
            "0",
            "INCRBY",
            "u8",
            "0",
            "1",
        ],
    ] {
        assert_eq!(
            c.cmd(args).await,
            err("ERR BITFIELD_RO only supports the GET subcommand")
        );
    }
    assert_eq!(c.cmd(&["GET", "bits"]).await, bulk([0xff]));
}

#[tokio::test]
async fn lcs_in_resp2_and_resp3() {
    let server = TestServer::start().await;
    let mut c = server.raw().await;
    assert_eq!(
        c.cmd(&["MSET", "key1", "ohmytext", "key2", "mynewtext"])
            .await,
        ok()
    );
    assert_eq!(c.cmd(&["LCS", "key1", "key2"]).await, bulk("mytext"));
    assert_eq!(c.cmd(&["LCS", "key1", "key2", "LEN"]).await, int(6));
    let idx = c
        .cmd_bytes(&[
            "LCS",
            "key1",
            "key2",
            "IDX",
            "MINMATCHLEN",
            "4",
            "WITHMATCHLEN",
        ])
        .await;
    assert_eq!(
        idx,
        b"*4\r\n$7\r\nmatches\r\n*1\r\n*3\r\n*2\r\n:4\r\n:7\r\n*2\r\n:5\r\n:8\r\n:4\r\n$3\r\nlen\r\n:6\r\n"
    );
    assert_eq!(c.cmd(&["LCS", "key1", "missing"]).await, bulk(""));
    assert_eq!(
        c.cmd(&["LCS", "key1", "key2", "LEN", "IDX"]).await,
        err("ERR If you want both the length and indexes, please just use IDX.")
    );
    assert_eq!(
        c.cmd(&["LCS", "key1", "key2", "MINMATCHLEN"]).await,
        err("ERR syntax error")
    );
    // RESP3: IDX is a map.
    c.cmd(&["HELLO", "3"]).await;
    let idx = c.cmd_bytes(&["LCS", "key1", "key2", "IDX"]).await;
    assert_eq!(
        idx,
        b"%2\r\n$7\r\nmatches\r\n*2\r\n*2\r\n*2\r\n:4\r\n:7\r\n*2\r\n:5\r\n:8\r\n*2\r\n*2\r\n:2\r\n:3\r\n*2\r\n:0\r\n:1\r\n$3\r\nlen\r\n:6\r\n"
    );
    // BITFIELD's failed write is RESP3's null.
    assert_eq!(
        c.cmd_bytes(&["BITFIELD", "f", "OVERFLOW", "FAIL", "INCRBY", "u2", "0", "9"])
            .await,
        b"*1\r\n_\r\n"
    );
}

#[tokio::test]
async fn read_commands_count_keyspace_hits_and_misses() {
    let server = TestServer::start().await;
    let mut c = server.raw().await;
    assert_eq!(c.cmd(&["SET", "s", "foobar"]).await, ok());
    let before = stats(&mut c).await;
    for args in [
        &["GETBIT", "s", "1"][..],
        &["GETBIT", "no", "1"],
        &["BITCOUNT", "s"],
        &["BITPOS", "no", "1"],
        &["BITFIELD_RO", "s", "GET", "u8", "0"],
        &["BITFIELD", "no", "GET", "u8", "0"],
        &["BITOP", "and", "d", "s", "no"],
        &["LCS", "s", "no"],
        // Writes count nothing.
        &["SETBIT", "w", "1", "1"],
        &["BITFIELD", "w", "SET", "u8", "0", "1"],
    ] {
        c.cmd(args).await;
    }
    let after = stats(&mut c).await;
    assert_eq!(after["keyspace_hits"] - before["keyspace_hits"], 5);
    assert_eq!(after["keyspace_misses"] - before["keyspace_misses"], 5);
}

/// A write that changes nothing leaves a WATCH clean, as in Redis; one
/// that changes the key (or creates or grows it) aborts the transaction.
#[tokio::test]
async fn watch_sees_only_real_changes() {
    let server = TestServer::start().await;
    let mut c = server.raw().await;
    let mut other = server.raw().await;
    assert_eq!(c.cmd(&["SET", "k", "@"]).await, ok());
    // (change made by `other`, whether EXEC must abort)
    for (change, aborts) in [
        (&["SETBIT", "k", "1", "1"][..], false),
        (&["SETBIT", "k", "0", "0"], false),
        (&["SETBIT", "k", "0", "1"], true),
        (&["SETBIT", "k", "0", "1"], false),
        (&["SETBIT", "k", "15", "0"], true),
        (&["BITFIELD", "k", "SET", "u8", "0", "192"], false),
        (&["BITFIELD", "k", "GET", "u8", "0"], false),
        (
            &[
                "BITFIELD", "k", "OVERFLOW", "FAIL", "INCRBY", "u8", "0", "100",
            ],
            false,
        ),
        (&["BITFIELD", "k", "INCRBY", "u8", "0", "1"], true),
        (&["BITOP", "or", "k", "k"], true),
        // Every source empty: the destination is deleted…
        (&["BITOP", "and", "k", "nokey"], true),
        // … and when it does not exist, nothing changes.
        (&["BITOP", "and", "k", "nokey"], false),
        // Creating the key is a change here, although Redis (which adds
        // the key without signalling it when every write fails) leaves
        // the WATCH clean: a documented difference.
        (
            &["BITFIELD", "k", "OVERFLOW", "FAIL", "SET", "u2", "0", "9"],
            true,
        ),
    ] {
        assert_eq!(c.cmd(&["WATCH", "k"]).await, ok());
        other.cmd(change).await;
        assert_eq!(c.cmd(&["MULTI"]).await, ok());
        assert_eq!(c.cmd(&["GETBIT", "k", "0"]).await, simple("QUEUED"));
        let reply = c.cmd(&["EXEC"]).await;
        if aborts {
            assert_eq!(reply, Reply::NullArray, "{change:?}");
        } else {
            assert!(matches!(reply, Reply::Array(_)), "{change:?}: {reply:?}");
        }
    }
}

#[tokio::test]
async fn bit_commands_inside_multi() {
    let server = TestServer::start().await;
    let mut c = server.raw().await;
    assert_eq!(c.cmd(&["MULTI"]).await, ok());
    for args in [
        &["SETBIT", "k", "7", "1"][..],
        &["BITCOUNT", "k"],
        &["BITFIELD", "k", "INCRBY", "u8", "0", "1"],
        &["BITOP", "not", "d", "k"],
        &["GETBIT", "d", "7"],
        &["LCS", "k", "d", "LEN"],
    ] {
        assert_eq!(c.cmd(args).await, simple("QUEUED"), "{args:?}");
    }
    assert_eq!(
        c.cmd(&["EXEC"]).await,
        arr([int(0), int(1), arr([int(2)]), int(1), int(1), int(0)])
    );
}
