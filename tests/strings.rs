//! String commands over real TCP, with Redis 7's replies. Many assertions
//! are ported from Redis' own `tests/unit/type/string.tcl` and `incr.tcl`.

// A test fails by panicking: unwrap is the point here, not a shortcut.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use redis::AsyncCommands;

#[tokio::test]
async fn set_and_get_through_the_redis_crate() {
    let server = TestServer::start().await;
    let mut con = server.conn().await;
    let _: () = con.set("x", "foobar").await.unwrap();
    let got: String = con.get("x").await.unwrap();
    assert_eq!(got, "foobar");
    let _: () = con.set("x", "").await.unwrap();
    let got: String = con.get("x").await.unwrap();
    assert_eq!(got, "");
    let missing: Option<String> = con.get("nokey").await.unwrap();
    assert_eq!(missing, None);
    // Binary-safe values and a 4 MB payload.
    let binary = vec![0u8, 255, b'\r', b'\n', 1, 2, 3];
    let _: () = con.set("bin", &binary).await.unwrap();
    let back: Vec<u8> = con.get("bin").await.unwrap();
    assert_eq!(back, binary);
    let big = "abcd".repeat(1_000_000);
    let _: () = con.set("foo", &big).await.unwrap();
    let back: String = con.get("foo").await.unwrap();
    assert_eq!(back.len(), big.len());
    assert!(back == big, "4 MB value read back differs");
}

#[tokio::test]
async fn set_nx_xx_get() {
    let server = TestServer::start().await;
    let mut c = server.raw().await;
    // Extended SET NX option
    assert_eq!(c.cmd(&["SET", "foo", "1", "NX"]).await, ok());
    assert_eq!(c.cmd(&["SET", "foo", "2", "NX"]).await, nil());
    assert_eq!(c.cmd(&["GET", "foo"]).await, bulk("1"));
    // Extended SET XX option
    assert_eq!(c.cmd(&["SET", "bar", "1", "XX"]).await, nil());
    assert_eq!(c.cmd(&["SET", "foo", "2", "xx"]).await, ok());
    assert_eq!(c.cmd(&["GET", "foo"]).await, bulk("2"));
    // Extended SET GET option, with and without a previous value
    assert_eq!(c.cmd(&["SET", "foo", "bar2", "GET"]).await, bulk("2"));
    assert_eq!(c.cmd(&["GET", "foo"]).await, bulk("bar2"));
    assert_eq!(c.cmd(&["SET", "new", "v", "GET"]).await, nil());
    assert_eq!(c.cmd(&["GET", "new"]).await, bulk("v"));
    // GET with XX and no previous value: nothing is set
    assert_eq!(c.cmd(&["SET", "gx", "v", "GET", "XX"]).await, nil());
    assert_eq!(c.cmd(&["EXISTS", "gx"]).await, int(0));
    // GET with NX and a previous value: the old value, nothing set
    assert_eq!(
        c.cmd(&["SET", "foo", "baz", "GET", "NX"]).await,
        bulk("bar2")
    );
    assert_eq!(c.cmd(&["GET", "foo"]).await, bulk("bar2"));
    // Syntax errors
    for bad in [
        &["SET", "foo", "bar", "non-existing-option"][..],
        &["SET", "foo", "bar", "NX", "XX"],
        &["SET", "foo", "bar", "EX"],
        &["SET", "foo", "bar", "EX", "10", "PX", "100"],
        &["SET", "foo", "bar", "KEEPTTL", "EX", "1"],
        &["SET", "foo", "bar", "EX", "10", "KEEPTTL"],
    ] {
        assert_eq!(c.cmd(bad).await, err("ERR syntax error"), "{bad:?}");
    }
    assert_eq!(
        c.cmd(&["SET", "k"]).await,
        err("ERR wrong number of arguments for 'set' command")
    );
}

#[tokio::test]
async fn set_repeated_options_behave_as_in_redis() {
    // Redis accepts an option twice; the last expiry wins and only it is
    // checked.
    let server = TestServer::start().await;
    let mut c = server.raw().await;
    assert_eq!(c.cmd(&["SET", "foo", "bar", "NX", "NX"]).await, ok());
    assert_eq!(c.cmd(&["SET", "foo", "bar", "XX", "XX"]).await, ok());
    assert_eq!(
        c.cmd(&["SET", "foo", "baz", "GET", "GET"]).await,
        bulk("bar")
    );
    assert_eq!(
        c.cmd(&["SET", "foo", "bar", "EX", "0", "EX", "20"]).await,
        ok()
    );
    assert_eq!(c.cmd(&["TTL", "foo"]).await, int(20));
    assert_eq!(
        c.cmd(&["SET", "foo", "bar", "KEEPTTL", "KEEPTTL"]).await,
        ok()
    );
    assert_eq!(c.cmd(&["TTL", "foo"]).await, int(20));
    assert_eq!(
        c.cmd(&["GETEX", "foo", "PX", "0", "PX", "5000"]).await,
        bulk("bar")
    );
    let pttl = c.cmd(&["PTTL", "foo"]).await.int();
    assert!((4000..=5000).contains(&pttl), "pttl {pttl}");
}

#[tokio::test]
async fn set_expiry_options() {
    let server = TestServer::start().await;
    let mut c = server.raw().await;
    let now_s = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert_eq!(c.cmd(&["SET", "foo", "bar", "EX", "10"]).await, ok());
    let ttl = c.cmd(&["TTL", "foo"]).await.int();
    assert!(ttl <= 10 && ttl > 5, "ttl {ttl}");
    assert_eq!(c.cmd(&["SET", "foo", "bar", "PX", "10000"]).await, ok());
    let ttl = c.cmd(&["TTL", "foo"]).await.int();
    assert!(ttl <= 10 && ttl > 5, "ttl {ttl}");
    let exat = (now_s + 10).to_string();
    assert_eq!(c.cmd(&["SET", "foo", "bar", "EXAT", &exat]).await, ok());
    let ttl = c.cmd(&["TTL", "foo"]).await.int();
    assert!((5..=10).contains(&ttl), "ttl {ttl}");
    assert_eq!(
        c.cmd(&["EXPIRETIME", "foo"]).await,
        int((now_s + 10) as i64)
    );
    let pxat = ((now_s + 10) * 1000).to_string();
    assert_eq!(c.cmd(&["SET", "foo", "bar", "PXAT", &pxat]).await, ok());
    assert_eq!(
        c.cmd(&["PEXPIRETIME", "foo"]).await,
        int(((now_s + 10) * 1000) as i64)
    );
    // Multiple options at once
    assert_eq!(c.cmd(&["SET", "foo", "val"]).await, ok());
    assert_eq!(
        c.cmd(&["TTL", "foo"]).await,
        int(-1),
        "plain SET clears the TTL"
    );
    assert_eq!(
        c.cmd(&["SET", "foo", "bar", "XX", "PX", "10000"]).await,
        ok()
    );
    let ttl = c.cmd(&["TTL", "foo"]).await.int();
    assert!(ttl <= 10 && ttl > 5, "ttl {ttl}");
    // KEEPTTL keeps it, a plain SET drops it
    assert_eq!(c.cmd(&["SET", "foo", "other", "KEEPTTL"]).await, ok());
    assert!(c.cmd(&["TTL", "foo"]).await.int() > 5);
    assert_eq!(c.cmd(&["GET", "foo"]).await, bulk("other"));
    // Invalid expire times
    for (unit, value) in [
        ("EX", "0"),
        ("EX", "-1"),
        ("PX", "0"),
        ("EXAT", "0"),
        ("PXAT", "-5"),
    ] {
        assert_eq!(
            c.cmd(&["SET", "foo", "bar", unit, value]).await,
            err("ERR invalid expire time in 'set' command"),
            "{unit} {value}"
        );
    }
    assert_eq!(
        c.cmd(&["SET", "foo", "bar", "EX", "9223372036854775807"])
            .await,
        err("ERR invalid expire time in 'set' command"),
        "EX overflowing when scaled to ms"
    );
    assert_eq!(
        c.cmd(&["SET", "foo", "bar", "PX", "abc"]).await,
        err("ERR value is not an integer or out of range")
    );
    // EXAT in the past: OK, and the key is gone at once
    assert_eq!(c.cmd(&["SET", "past", "v", "EXAT", "1"]).await, ok());
    assert_eq!(c.cmd(&["GET", "past"]).await, nil());
    assert_eq!(c.cmd(&["EXISTS", "past"]).await, int(0));
    assert_eq!(c.cmd(&["SET", "past", "v", "PXAT", "1"]).await, ok());
    assert_eq!(c.cmd(&["EXISTS", "past"]).await, int(0));
}

#[tokio::test]
async fn setnx_setex_psetex_getset() {
    let server = TestServer::start().await;
    let mut c = server.raw().await;
    // SETNX target key missing / exists
    assert_eq!(c.cmd(&["SETNX", "novar", "foobared"]).await, int(1));
    assert_eq!(c.cmd(&["GET", "novar"]).await, bulk("foobared"));
    assert_eq!(c.cmd(&["SETNX", "novar", "blabla"]).await, int(0));
    assert_eq!(c.cmd(&["GET", "novar"]).await, bulk("foobared"));
    // SETNX against a not-yet-expired volatile key
    assert_eq!(c.cmd(&["SET", "x", "10"]).await, ok());
    assert_eq!(c.cmd(&["EXPIRE", "x", "10000"]).await, int(1));
    assert_eq!(c.cmd(&["SETNX", "x", "20"]).await, int(0));
    assert_eq!(c.cmd(&["GET", "x"]).await, bulk("10"));
    // SETEX / PSETEX
    assert_eq!(c.cmd(&["SETEX", "k", "100", "v"]).await, ok());
    assert_eq!(c.cmd(&["TTL", "k"]).await, int(100));
    assert_eq!(c.cmd(&["GET", "k"]).await, bulk("v"));
    assert_eq!(c.cmd(&["PSETEX", "pk", "100000", "v"]).await, ok());
    assert_eq!(c.cmd(&["TTL", "pk"]).await, int(100));
    assert_eq!(
        c.cmd(&["SETEX", "k", "0", "v"]).await,
        err("ERR invalid expire time in 'setex' command")
    );
    assert_eq!(
        c.cmd(&["SETEX", "k", "-1", "v"]).await,
        err("ERR invalid expire time in 'setex' command")
    );
    assert_eq!(
        c.cmd(&["PSETEX", "k", "0", "v"]).await,
        err("ERR invalid expire time in 'psetex' command")
    );
    assert_eq!(
        c.cmd(&["SETEX", "k", "abc", "v"]).await,
        err("ERR value is not an integer or out of range")
    );
    // GETSET (set new value / replace old value); it clears the TTL
    assert_eq!(c.cmd(&["GETSET", "gs", "xyz"]).await, nil());
    assert_eq!(c.cmd(&["GET", "gs"]).await, bulk("xyz"));
    assert_eq!(c.cmd(&["GETSET", "k", "new"]).await, bulk("v"));
    assert_eq!(c.cmd(&["TTL", "k"]).await, int(-1));
}

#[tokio::test]
async fn getdel_and_getex() {
    let server = TestServer::start().await;
    let mut c = server.raw().await;
    assert_eq!(c.cmd(&["SET", "foo", "bar"]).await, ok());
    assert_eq!(c.cmd(&["GETDEL", "foo"]).await, bulk("bar"));
    assert_eq!(c.cmd(&["GETDEL", "foo"]).await, nil());
    assert_eq!(c.cmd(&["EXISTS", "foo"]).await, int(0));

    assert_eq!(c.cmd(&["SET", "foo", "bar"]).await, ok());
    assert_eq!(c.cmd(&["GETEX", "foo"]).await, bulk("bar"));
    assert_eq!(c.cmd(&["TTL", "foo"]).await, int(-1));
    assert_eq!(c.cmd(&["GETEX", "foo", "EX", "10"]).await, bulk("bar"));
    let ttl = c.cmd(&["TTL", "foo"]).await.int();
    assert!((5..=10).contains(&ttl), "ttl {ttl}");
    assert_eq!(c.cmd(&["GETEX", "foo", "PX", "10000"]).await, bulk("bar"));
    let pttl = c.cmd(&["PTTL", "foo"]).await.int();
    assert!((5000..=10000).contains(&pttl), "pttl {pttl}");
    assert_eq!(c.cmd(&["GETEX", "foo", "PERSIST"]).await, bulk("bar"));
    assert_eq!(c.cmd(&["TTL", "foo"]).await, int(-1));
    assert_eq!(c.cmd(&["GETEX", "foo", "PXAT", "1"]).await, bulk("bar"));
    assert_eq!(
        c.cmd(&["EXISTS", "foo"]).await,
        int(0),
        "GETEX into the past deletes"
    );
    assert_eq!(c.cmd(&["GETEX", "nokey", "EX", "10"]).await, nil());
    // The expiry value is checked only once the key is known to exist.
    assert_eq!(c.cmd(&["GETEX", "nokey", "PX", "abc"]).await, nil());
    assert_eq!(c.cmd(&["GETEX", "nokey", "EXAT", "0"]).await, nil());
    assert_eq!(c.cmd(&["SET", "present", "v"]).await, ok());
    assert_eq!(
        c.cmd(&["GETEX", "present", "PX", "abc"]).await,
        err("ERR value is not an integer or out of range")
    );
    assert_eq!(
        c.cmd(&["GETEX", "present", "EXAT", "0"]).await,
        err("ERR invalid expire time in 'getex' command")
    );
    assert_eq!(c.cmd(&["SET", "foo", "bar"]).await, ok());
    assert_eq!(
        c.cmd(&["GETEX", "foo", "non-existent-option"]).await,
        err("ERR syntax error")
    );
    assert_eq!(
        c.cmd(&["GETEX", "foo", "PERSIST", "EX", "1"]).await,
        err("ERR syntax error")
    );
    assert_eq!(
        c.cmd(&["GETEX", "foo", "KEEPTTL"]).await,
        err("ERR syntax error")
    );
    assert_eq!(
        c.cmd(&["GETEX", "foo", "EX", "0"]).await,
        err("ERR invalid expire time in 'getex' command")
    );
    assert_eq!(
        c.cmd(&["GETEX"]).await,
        err("ERR wrong number of arguments for 'getex' command")
    );
}

#[tokio::test]
async fn mget_mset_msetnx() {
    let server = TestServer::start().await;
    let mut con = server.conn().await;
    let _: () = con
        .mset(&[
            ("x", "10"),
            ("y", "foo bar"),
            ("z", "x x x x x x x\n\n\r\n"),
        ])
        .await
        .unwrap();
    let got: Vec<Option<String>> = con.mget(&["x", "y", "nokey", "z"]).await.unwrap();
    assert_eq!(
        got,
        vec![
            Some("10".into()),
            Some("foo bar".into()),
            None,
            Some("x x x x x x x\n\n\r\n".into())
        ]
    );
    let mut c = server.raw().await;
    assert_eq!(
        c.cmd(&["MSET", "x", "10", "y", "foo bar", "z"]).await,
        err("ERR wrong number of arguments for 'mset' command")
    );
    assert_eq!(
        c.cmd(&["MSETNX", "x", "20", "y", "foo bar", "z"]).await,
        err("ERR wrong number of arguments for 'msetnx' command")
    );
    // MSET with the same key twice: the last wins
    assert_eq!(c.cmd(&["MSET", "x", "xxx", "x", "yyy"]).await, ok());
    assert_eq!(c.cmd(&["GET", "x"]).await, bulk("yyy"));
    // MSETNX with an existing key sets nothing
    assert_eq!(
        c.cmd(&["MSETNX", "x1", "xxx", "y2", "yyy", "x", "20"])
            .await,
        int(0)
    );
    assert_eq!(c.cmd(&["EXISTS", "x1", "y2"]).await, int(0));
    // MSETNX with new keys, and with the same new key twice
    assert_eq!(c.cmd(&["MSETNX", "x1", "xxx", "y2", "yyy"]).await, int(1));
    assert_eq!(c.cmd(&["MGET", "x1", "y2"]).await, bulks(&["xxx", "yyy"]));
    assert_eq!(c.cmd(&["DEL", "x1"]).await, int(1));
    assert_eq!(c.cmd(&["MSETNX", "x1", "xxx", "x1", "yyy"]).await, int(1));
    assert_eq!(c.cmd(&["GET", "x1"]).await, bulk("yyy"));
    assert_eq!(c.cmd(&["MSETNX", "x1", "xxx", "x1", "zzz"]).await, int(0));
    assert_eq!(c.cmd(&["GET", "x1"]).await, bulk("yyy"));
    // MSET clears TTLs of the keys it sets
    assert_eq!(c.cmd(&["SET", "t", "v", "EX", "100"]).await, ok());
    assert_eq!(c.cmd(&["MSET", "t", "w"]).await, ok());
    assert_eq!(c.cmd(&["TTL", "t"]).await, int(-1));
}

#[tokio::test]
async fn incr_decr_family() {
    let server = TestServer::start().await;
    let mut con = server.conn().await;
    let n: i64 = con.incr("novar", 1).await.unwrap();
    assert_eq!(n, 1);
    let n: i64 = con.incr("novar", 1).await.unwrap();
    assert_eq!(n, 2);
    let n: i64 = con.decr("novar", 3).await.unwrap();
    assert_eq!(n, -1);
    let mut c = server.raw().await;
    assert_eq!(c.cmd(&["SET", "n", "10"]).await, ok());
    assert_eq!(c.cmd(&["INCR", "n"]).await, int(11));
    assert_eq!(c.cmd(&["DECR", "n"]).await, int(10));
    assert_eq!(c.cmd(&["INCRBY", "n", "5"]).await, int(15));
    assert_eq!(c.cmd(&["DECRBY", "n", "20"]).await, int(-5));
    assert_eq!(c.cmd(&["INCRBY", "n", "-5"]).await, int(-10));
    // INCR against a key originally set with SET, then GET returns the text
    assert_eq!(c.cmd(&["SET", "n", "  11"]).await, ok());
    assert_eq!(
        c.cmd(&["INCR", "n"]).await,
        err("ERR value is not an integer or out of range")
    );
    for bad in ["11 ", "1.5", "00", "+1", "", "abc", "9223372036854775808"] {
        assert_eq!(c.cmd(&["SET", "n", bad]).await, ok());
        assert_eq!(
            c.cmd(&["INCR", "n"]).await,
            err("ERR value is not an integer or out of range"),
            "INCR of {bad:?}"
        );
    }
    assert_eq!(c.cmd(&["SET", "n", "17179869184"]).await, ok());
    assert_eq!(
        c.cmd(&["INCRBY", "n", "17179869184"]).await,
        int(34359738368)
    );
    assert_eq!(c.cmd(&["GET", "n"]).await, bulk("34359738368"));
    assert_eq!(
        c.cmd(&["INCRBY", "n", "abc"]).await,
        err("ERR value is not an integer or out of range")
    );
    // Overflow
    assert_eq!(c.cmd(&["SET", "n", "9223372036854775807"]).await, ok());
    assert_eq!(
        c.cmd(&["INCR", "n"]).await,
        err("ERR increment or decrement would overflow")
    );
    assert_eq!(c.cmd(&["GET", "n"]).await, bulk("9223372036854775807"));
    assert_eq!(c.cmd(&["SET", "n", "-9223372036854775808"]).await, ok());
    assert_eq!(
        c.cmd(&["DECR", "n"]).await,
        err("ERR increment or decrement would overflow")
    );
    assert_eq!(
        c.cmd(&["DECRBY", "n", "-9223372036854775808"]).await,
        err("ERR decrement would overflow")
    );
    assert_eq!(
        c.cmd(&["INCRBY", "n", "9223372036854775808"]).await,
        err("ERR value is not an integer or out of range")
    );
    // INCR keeps the TTL
    assert_eq!(c.cmd(&["SET", "t", "1", "EX", "100"]).await, ok());
    assert_eq!(c.cmd(&["INCR", "t"]).await, int(2));
    assert_eq!(c.cmd(&["TTL", "t"]).await, int(100));
}

#[tokio::test]
async fn incrbyfloat() {
    let server = TestServer::start().await;
    let mut c = server.raw().await;
    assert_eq!(c.cmd(&["INCRBYFLOAT", "novar", "1"]).await, bulk("1"));
    assert_eq!(c.cmd(&["INCRBYFLOAT", "novar", "0.25"]).await, bulk("1.25"));
    assert_eq!(c.cmd(&["SET", "f", "10.5"]).await, ok());
    assert_eq!(c.cmd(&["INCRBYFLOAT", "f", "0.1"]).await, bulk("10.6"));
    assert_eq!(c.cmd(&["SET", "f", "1"]).await, ok());
    assert_eq!(c.cmd(&["INCRBYFLOAT", "f", "-1.1"]).await, bulk("-0.1"));
    assert_eq!(c.cmd(&["SET", "f", "5.0e3"]).await, ok());
    assert_eq!(c.cmd(&["INCRBYFLOAT", "f", "2.0e2"]).await, bulk("5200"));
    assert_eq!(c.cmd(&["GET", "f"]).await, bulk("5200"));
    assert_eq!(
        c.cmd(&["INCRBYFLOAT", "f", "abc"]).await,
        err("ERR value is not a valid float")
    );
    assert_eq!(
        c.cmd(&["INCRBYFLOAT", "f", " 1"]).await,
        err("ERR value is not a valid float")
    );
    assert_eq!(c.cmd(&["SET", "f", "1.5 "]).await, ok());
    assert_eq!(
        c.cmd(&["INCRBYFLOAT", "f", "1"]).await,
        err("ERR value is not a valid float")
    );
    // Redis computes in long double, so 1.5e308 + 1.5e308 is finite there
    // (a documented difference, see README); infinities fail in both.
    assert_eq!(c.cmd(&["SET", "f", "1"]).await, ok());
    assert_eq!(
        c.cmd(&["INCRBYFLOAT", "f", "inf"]).await,
        err("ERR increment would produce NaN or Infinity")
    );
    assert_eq!(
        c.cmd(&["INCRBYFLOAT", "f", "nan"]).await,
        err("ERR value is not a valid float")
    );
    assert_eq!(c.cmd(&["SET", "f", "inf"]).await, ok());
    assert_eq!(
        c.cmd(&["INCRBYFLOAT", "f", "1"]).await,
        err("ERR increment would produce NaN or Infinity")
    );
    assert_eq!(
        c.cmd(&["GET", "f"]).await,
        bulk("inf"),
        "unchanged after the error"
    );
    // RESP3 still gets a bulk string: INCRBYFLOAT replies with the stored text.
    assert!(matches!(c.cmd(&["HELLO", "3"]).await, Reply::Map(_)));
    assert_eq!(c.cmd(&["SET", "g", "3"]).await, ok());
    assert_eq!(c.cmd(&["INCRBYFLOAT", "g", "1.5"]).await, bulk("4.5"));
}

#[tokio::test]
async fn append_and_strlen() {
    let server = TestServer::start().await;
    let mut c = server.raw().await;
    assert_eq!(c.cmd(&["APPEND", "foo", "bar"]).await, int(3));
    assert_eq!(c.cmd(&["GET", "foo"]).await, bulk("bar"));
    assert_eq!(c.cmd(&["APPEND", "foo", "100"]).await, int(6));
    assert_eq!(c.cmd(&["GET", "foo"]).await, bulk("bar100"));
    assert_eq!(c.cmd(&["STRLEN", "foo"]).await, int(6));
    assert_eq!(c.cmd(&["STRLEN", "notakey"]).await, int(0));
    assert_eq!(c.cmd(&["SET", "myinteger", "-555"]).await, ok());
    assert_eq!(c.cmd(&["STRLEN", "myinteger"]).await, int(4));
    assert_eq!(
        c.cmd(&["SET", "mystring", "foozzz0123456789 baz"]).await,
        ok()
    );
    assert_eq!(c.cmd(&["STRLEN", "mystring"]).await, int(20));
    // APPEND keeps the TTL
    assert_eq!(c.cmd(&["EXPIRE", "foo", "100"]).await, int(1));
    assert_eq!(c.cmd(&["APPEND", "foo", "x"]).await, int(7));
    assert_eq!(c.cmd(&["TTL", "foo"]).await, int(100));
}

#[tokio::test]
async fn append_is_bounded_by_proto_max_bulk_len() {
    let mut config = redynamo::config::Config::for_tests();
    config.proto_max_bulk_len = 1024 * 1024;
    let server = TestServer::with_config(config).await;
    let mut c = server.raw().await;
    let half = "x".repeat(600 * 1024);
    assert_eq!(c.cmd(&["APPEND", "k", &half]).await, int(600 * 1024));
    assert_eq!(
        c.cmd(&["APPEND", "k", &half]).await,
        err("ERR string exceeds maximum allowed size (proto-max-bulk-len)")
    );
    assert_eq!(c.cmd(&["STRLEN", "k"]).await, int(600 * 1024));
}

#[tokio::test]
async fn getrange_and_substr() {
    let server = TestServer::start().await;
    let mut c = server.raw().await;
    assert_eq!(c.cmd(&["GETRANGE", "mykey", "0", "-1"]).await, bulk(""));
    assert_eq!(c.cmd(&["SET", "mykey", "Hello World"]).await, ok());
    for (start, end, want) in [
        ("0", "3", "Hell"),
        ("0", "-1", "Hello World"),
        ("-4", "-1", "orld"),
        ("5", "3", ""),
        ("5", "5000", " World"),
        ("-5000", "10000", "Hello World"),
        ("0", "-100", "H"),
        ("1", "-100", ""),
        ("-1", "-100", ""),
        ("-100", "-99", "H"),
        ("-100", "-100", "H"),
        ("-100", "-101", ""),
        ("0", "4294967297", "Hello World"),
    ] {
        assert_eq!(
            c.cmd(&["GETRANGE", "mykey", start, end]).await,
            bulk(want),
            "GETRANGE {start} {end}"
        );
    }
    assert_eq!(c.cmd(&["SET", "mykey", "1234"]).await, ok());
    assert_eq!(c.cmd(&["GETRANGE", "mykey", "0", "2"]).await, bulk("123"));
    assert_eq!(c.cmd(&["GETRANGE", "mykey", "-3", "-1"]).await, bulk("234"));
    assert_eq!(
        c.cmd(&["GETRANGE", "mykey", "a", "1"]).await,
        err("ERR value is not an integer or out of range")
    );
    // Coverage: SUBSTR
    assert_eq!(c.cmd(&["SET", "key", "abcde"]).await, ok());
    assert_eq!(c.cmd(&["SUBSTR", "key", "0", "0"]).await, bulk("a"));
    assert_eq!(c.cmd(&["SUBSTR", "key", "0", "3"]).await, bulk("abcd"));
    assert_eq!(c.cmd(&["SUBSTR", "key", "-4", "-1"]).await, bulk("bcde"));
    assert_eq!(c.cmd(&["SUBSTR", "key", "-1", "-3"]).await, bulk(""));
    assert_eq!(c.cmd(&["SUBSTR", "key", "7", "8"]).await, bulk(""));
    assert_eq!(c.cmd(&["SUBSTR", "nokey", "0", "1"]).await, bulk(""));
}

#[tokio::test]
async fn setrange_and_its_limits() {
    let server = TestServer::start().await;
    let mut c = server.raw().await;
    // against a non-existing key
    assert_eq!(c.cmd(&["SETRANGE", "mykey", "0", "foo"]).await, int(3));
    assert_eq!(c.cmd(&["GET", "mykey"]).await, bulk("foo"));
    assert_eq!(c.cmd(&["DEL", "mykey"]).await, int(1));
    assert_eq!(c.cmd(&["SETRANGE", "mykey", "0", ""]).await, int(0));
    assert_eq!(c.cmd(&["EXISTS", "mykey"]).await, int(0));
    assert_eq!(c.cmd(&["SETRANGE", "mykey", "1", "foo"]).await, int(4));
    assert_eq!(c.cmd(&["GET", "mykey"]).await, bulk(b"\x00foo"));
    // against a string
    for (offset, value, len, want) in [
        ("0", "b", 3, &b"boo"[..]),
        ("0", "", 3, b"foo"),
        ("1", "b", 3, b"fbo"),
        ("4", "bar", 7, b"foo\x00bar"),
    ] {
        assert_eq!(c.cmd(&["SET", "mykey", "foo"]).await, ok());
        assert_eq!(c.cmd(&["SETRANGE", "mykey", offset, value]).await, int(len));
        assert_eq!(c.cmd(&["GET", "mykey"]).await, bulk(want));
    }
    // against an integer-looking value
    assert_eq!(c.cmd(&["SET", "mykey", "1234"]).await, ok());
    assert_eq!(c.cmd(&["SETRANGE", "mykey", "5", "2"]).await, int(6));
    assert_eq!(c.cmd(&["GET", "mykey"]).await, bulk(b"1234\x002"));
    // out of range offsets
    assert_eq!(c.cmd(&["DEL", "mykey"]).await, int(1));
    let too_far = (512 * 1024 * 1024 - 4).to_string();
    assert_eq!(
        c.cmd(&["SETRANGE", "mykey", &too_far, "world"]).await,
        err("ERR string exceeds maximum allowed size (proto-max-bulk-len)")
    );
    assert_eq!(c.cmd(&["SET", "mykey", "hello"]).await, ok());
    assert_eq!(
        c.cmd(&["SETRANGE", "mykey", "-1", "world"]).await,
        err("ERR offset is out of range")
    );
    assert_eq!(
        c.cmd(&["SETRANGE", "mykey", &too_far, "world"]).await,
        err("ERR string exceeds maximum allowed size (proto-max-bulk-len)")
    );
    for huge in ["9223372036854775807", "2147483647"] {
        assert_eq!(
            c.cmd(&["SETRANGE", "K", huge, "A"]).await,
            err("ERR string exceeds maximum allowed size (proto-max-bulk-len)"),
            "SETRANGE with huge offset {huge}"
        );
    }
    // An empty value past the end changes nothing and allocates nothing.
    assert_eq!(c.cmd(&["SETRANGE", "mykey", "536870912", ""]).await, int(5));
    assert_eq!(c.cmd(&["GET", "mykey"]).await, bulk("hello"));
}
