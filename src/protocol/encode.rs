//! The reply encoder: [`Reply`] to RESP2 or RESP3 bytes, as Redis 7.2
//! writes them.
//!
//! | Reply | RESP2 | RESP3 |
//! |---|---|---|
//! | `Simple` / `Error` | `+…` / `-…`, any CR or LF sent as a space | same |
//! | `Integer` | `:n` | same |
//! | `Bulk` | `$len` data | same |
//! | `Null` | `$-1` | `_` |
//! | `NullArray` | `*-1` | `_` |
//! | `Array` | `*n` | same |
//! | `Map` | `*2n`, flat key, value, … | `%n` |
//! | `Set` | `*n` | `~n` |
//! | `Push` | `*n` | `>n` |
//! | `Pairs` | `*2n`, flat first, second, … | `*n` of `*2` |
//! | `Double` | bulk string of [`format_double`] | `,`[`format_double`] |
//! | `Bool` | `:1` / `:0` | `#t` / `#f` |
//! | `Verbatim` | bulk string of the data | `=len` `fmt:data` |
//! | `Encoded` | its bytes when they are RESP2, else parsed and written as RESP2 | the same, for RESP3 |
//!
//! The encoder first sizes the whole reply and reserves once, then writes;
//! integers and lengths go through `itoa` on the stack, never through a
//! `String`.
//!
//! [`format_double`]: super::format_double

use bytes::{BufMut, BytesMut};
use redynamo_layers::Reply;

use super::double::{write_double, MAX_DOUBLE_LEN};
use super::ProtocolVersion;

/// Append the encoding of `reply` for `version` to `dst`.
pub(crate) fn encode(reply: &Reply, version: ProtocolVersion, dst: &mut BytesMut) {
    dst.reserve(encoded_len(reply, version));
    write(reply, version == ProtocolVersion::Resp3, dst);
}

fn write(reply: &Reply, resp3: bool, dst: &mut BytesMut) {
    match reply {
        Reply::Simple(s) => line(dst, b'+', s),
        Reply::Error(s) => line(dst, b'-', s),
        Reply::Integer(n) => header(dst, b':', *n),
        Reply::Bulk(data) => bulk(dst, data),
        Reply::Null if resp3 => dst.put_slice(b"_\r\n"),
        Reply::NullArray if resp3 => dst.put_slice(b"_\r\n"),
        Reply::Null => dst.put_slice(b"$-1\r\n"),
        Reply::NullArray => dst.put_slice(b"*-1\r\n"),
        Reply::Array(items) => aggregate(dst, b'*', items, resp3),
        Reply::Set(items) => aggregate(dst, if resp3 { b'~' } else { b'*' }, items, resp3),
        Reply::Push(items) => aggregate(dst, if resp3 { b'>' } else { b'*' }, items, resp3),
        Reply::Encoded {
            resp3: theirs,
            frame,
        } if *theirs == resp3 => dst.put_slice(frame),
        Reply::Encoded { frame, .. } => match super::reply_parser::build(frame) {
            Ok(parsed) => write(&parsed, resp3, dst),
            Err(_) => line(
                dst,
                b'-',
                b"ERR upstream reply cannot be converted to this protocol",
            ),
        },
        Reply::Map(pairs) => {
            if resp3 {
                header(dst, b'%', pairs.len() as i64);
            } else {
                header(dst, b'*', 2 * pairs.len() as i64);
            }
            for (key, value) in pairs {
                write(key, resp3, dst);
                write(value, resp3, dst);
            }
        }
        Reply::Pairs(pairs) => {
            if resp3 {
                header(dst, b'*', pairs.len() as i64);
            } else {
                header(dst, b'*', 2 * pairs.len() as i64);
            }
            for (first, second) in pairs {
                if resp3 {
                    dst.put_slice(b"*2\r\n");
                }
                write(first, resp3, dst);
                write(second, resp3, dst);
            }
        }
        Reply::Double(v) => {
            let mut text = [0u8; MAX_DOUBLE_LEN];
            let len = write_double(*v, &mut text);
            if resp3 {
                line(dst, b',', &text[..len]);
            } else {
                bulk(dst, &text[..len]);
            }
        }
        Reply::Bool(b) => dst.put_slice(match (resp3, b) {
            (true, true) => b"#t\r\n",
            (true, false) => b"#f\r\n",
            (false, true) => b":1\r\n",
            (false, false) => b":0\r\n",
        }),
        Reply::Verbatim(format, data) => {
            if resp3 {
                header(dst, b'=', (format.len() + 1 + data.len()) as i64);
                dst.put_slice(format.as_bytes());
                dst.put_u8(b':');
                dst.put_slice(data);
                dst.put_slice(b"\r\n");
            } else {
                bulk(dst, data);
            }
        }
    }
}

fn aggregate(dst: &mut BytesMut, prefix: u8, items: &[Reply], resp3: bool) {
    header(dst, prefix, items.len() as i64);
    for item in items {
        write(item, resp3, dst);
    }
}

/// `<prefix><n>\r\n`.
fn header(dst: &mut BytesMut, prefix: u8, n: i64) {
    let mut itoa = itoa::Buffer::new();
    dst.put_u8(prefix);
    dst.put_slice(itoa.format(n).as_bytes());
    dst.put_slice(b"\r\n");
}

/// `<prefix><text>\r\n`. A line break inside `text` would end the line
/// early and let the rest be read as another reply, so, although [`Reply`]
/// forbids them, any `\r` or `\n` is sent as a space (what
/// [`Reply::error`] and Redis' `addReplyErrorFormat` do).
fn line(dst: &mut BytesMut, prefix: u8, text: &[u8]) {
    dst.put_u8(prefix);
    if memchr::memchr2(b'\r', b'\n', text).is_none() {
        dst.put_slice(text);
    } else {
        for &b in text {
            dst.put_u8(if b == b'\r' || b == b'\n' { b' ' } else { b });
        }
    }
    dst.put_slice(b"\r\n");
}

/// `$<len>\r\n<data>\r\n`.
fn bulk(dst: &mut BytesMut, data: &[u8]) {
    header(dst, b'$', data.len() as i64);
    dst.put_slice(data);
    dst.put_slice(b"\r\n");
}

/// Bytes [`encode`] will write: exact for everything but doubles, whose text
/// is bounded by [`MAX_DOUBLE_LEN`].
fn encoded_len(reply: &Reply, version: ProtocolVersion) -> usize {
    let resp3 = version == ProtocolVersion::Resp3;
    match reply {
        Reply::Simple(s) | Reply::Error(s) => s.len() + 3,
        Reply::Integer(n) => int_len(*n) + 3,
        Reply::Bulk(data) => bulk_len(data.len()),
        Reply::Null | Reply::NullArray => 5,
        Reply::Array(items) | Reply::Set(items) | Reply::Push(items) => {
            int_len(items.len() as i64)
                + 3
                + items.iter().map(|r| encoded_len(r, version)).sum::<usize>()
        }
        Reply::Map(pairs) => {
            int_len(2 * pairs.len() as i64)
                + 3
                + pairs
                    .iter()
                    .map(|(k, v)| encoded_len(k, version) + encoded_len(v, version))
                    .sum::<usize>()
        }
        Reply::Pairs(pairs) => {
            int_len(2 * pairs.len() as i64)
                + 3
                + pairs
                    .iter()
                    .map(|(a, b)| {
                        let nested = if resp3 { 4 } else { 0 };
                        nested + encoded_len(a, version) + encoded_len(b, version)
                    })
                    .sum::<usize>()
        }
        Reply::Double(_) => bulk_len(MAX_DOUBLE_LEN),
        Reply::Bool(_) => 4,
        Reply::Verbatim(format, data) if resp3 => bulk_len(format.len() + 1 + data.len()),
        Reply::Verbatim(_, data) => bulk_len(data.len()),
        // The fallback (another protocol) is sized as it is written.
        Reply::Encoded { frame, .. } => frame.len(),
    }
}

/// `$<len>\r\n<data>\r\n`.
fn bulk_len(len: usize) -> usize {
    int_len(len as i64) + len + 5
}

/// Decimal digits of `n`, with its sign.
fn int_len(n: i64) -> usize {
    let sign = usize::from(n < 0);
    sign + n
        .unsigned_abs()
        .checked_ilog10()
        .map_or(1, |d| d as usize + 1)
}

#[cfg(test)]
mod tests {
    use super::{encode, encoded_len, int_len};
    use crate::protocol::ProtocolVersion::{self, Resp2, Resp3};
    use bytes::{Bytes, BytesMut};
    use redynamo_layers::Reply;

    fn enc(reply: &Reply, version: ProtocolVersion) -> String {
        let mut dst = BytesMut::new();
        encode(reply, version, &mut dst);
        String::from_utf8(dst.to_vec()).expect("test replies are UTF-8")
    }

    fn both(reply: Reply, resp2: &str, resp3: &str) {
        assert_eq!(enc(&reply, Resp2), resp2, "RESP2 {reply:?}");
        assert_eq!(enc(&reply, Resp3), resp3, "RESP3 {reply:?}");
    }

    fn bulk(s: &'static str) -> Reply {
        Reply::Bulk(Bytes::from_static(s.as_bytes()))
    }

    #[test]
    fn scalars() {
        both(Reply::ok(), "+OK\r\n", "+OK\r\n");
        both(
            Reply::static_error("ERR bad"),
            "-ERR bad\r\n",
            "-ERR bad\r\n",
        );
        both(Reply::Integer(0), ":0\r\n", ":0\r\n");
        both(
            Reply::Integer(i64::MIN),
            ":-9223372036854775808\r\n",
            ":-9223372036854775808\r\n",
        );
        both(bulk("hello"), "$5\r\nhello\r\n", "$5\r\nhello\r\n");
        both(bulk(""), "$0\r\n\r\n", "$0\r\n\r\n");
        both(Reply::Null, "$-1\r\n", "_\r\n");
        both(Reply::NullArray, "*-1\r\n", "_\r\n");
        both(Reply::Bool(true), ":1\r\n", "#t\r\n");
        both(Reply::Bool(false), ":0\r\n", "#f\r\n");
    }

    #[test]
    fn doubles() {
        both(Reply::Double(3.0), "$1\r\n3\r\n", ",3\r\n");
        both(Reply::Double(1.5), "$3\r\n1.5\r\n", ",1.5\r\n");
        both(Reply::Double(f64::INFINITY), "$3\r\ninf\r\n", ",inf\r\n");
        both(
            Reply::Double(f64::NEG_INFINITY),
            "$4\r\n-inf\r\n",
            ",-inf\r\n",
        );
        both(Reply::Double(f64::NAN), "$3\r\nnan\r\n", ",nan\r\n");
        both(Reply::Double(1e-7), "$4\r\n1e-7\r\n", ",1e-7\r\n");
    }

    #[test]
    fn verbatim() {
        both(
            Reply::Verbatim("txt", Bytes::from_static(b"Some string")),
            "$11\r\nSome string\r\n",
            "=15\r\ntxt:Some string\r\n",
        );
    }

    #[test]
    fn aggregates() {
        both(
            Reply::Array(vec![bulk("a"), Reply::Integer(1), Reply::Null]),
            "*3\r\n$1\r\na\r\n:1\r\n$-1\r\n",
            "*3\r\n$1\r\na\r\n:1\r\n_\r\n",
        );
        both(Reply::Array(vec![]), "*0\r\n", "*0\r\n");
        both(
            Reply::Map(vec![
                (bulk("k"), Reply::Double(2.5)),
                (bulk("b"), Reply::Bool(true)),
            ]),
            "*4\r\n$1\r\nk\r\n$3\r\n2.5\r\n$1\r\nb\r\n:1\r\n",
            "%2\r\n$1\r\nk\r\n,2.5\r\n$1\r\nb\r\n#t\r\n",
        );
        both(
            Reply::Pairs(vec![
                (bulk("f"), bulk("v")),
                (bulk("g"), Reply::Double(1.5)),
            ]),
            "*4\r\n$1\r\nf\r\n$1\r\nv\r\n$1\r\ng\r\n$3\r\n1.5\r\n",
            "*2\r\n*2\r\n$1\r\nf\r\n$1\r\nv\r\n*2\r\n$1\r\ng\r\n,1.5\r\n",
        );
        both(Reply::Pairs(vec![]), "*0\r\n", "*0\r\n");
        both(
            Reply::Set(vec![bulk("x")]),
            "*1\r\n$1\r\nx\r\n",
            "~1\r\n$1\r\nx\r\n",
        );
        both(
            Reply::Push(vec![bulk("message"), bulk("ch"), bulk("hi")]),
            "*3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$2\r\nhi\r\n",
            ">3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$2\r\nhi\r\n",
        );
        both(
            Reply::Array(vec![Reply::Array(vec![Reply::NullArray])]),
            "*1\r\n*1\r\n*-1\r\n",
            "*1\r\n*1\r\n_\r\n",
        );
        both(
            Reply::Pairs(vec![
                (bulk("a"), Reply::Double(1.5)),
                (bulk("b"), Reply::Double(2.0)),
            ]),
            "*4\r\n$1\r\na\r\n$3\r\n1.5\r\n$1\r\nb\r\n$1\r\n2\r\n",
            "*2\r\n*2\r\n$1\r\na\r\n,1.5\r\n*2\r\n$1\r\nb\r\n,2\r\n",
        );
        both(Reply::Pairs(vec![]), "*0\r\n", "*0\r\n");
    }

    #[test]
    fn line_breaks_cannot_split_a_status_line() {
        both(
            Reply::Error(Bytes::from_static(b"ERR a\r\n+OK")),
            "-ERR a  +OK\r\n",
            "-ERR a  +OK\r\n",
        );
        both(
            Reply::Simple(Bytes::from_static(b"\nx\r")),
            "+ x \r\n",
            "+ x \r\n",
        );
    }

    #[test]
    fn appends_to_what_is_there() {
        let mut dst = BytesMut::from(&b"+PONG\r\n"[..]);
        encode(&Reply::Integer(7), Resp2, &mut dst);
        assert_eq!(&dst[..], b"+PONG\r\n:7\r\n");
    }

    #[test]
    fn size_estimate_is_never_short() {
        let replies = [
            Reply::Map(vec![(bulk("k"), Reply::Double(-1.2345678901234567e-300))]),
            Reply::Verbatim("txt", Bytes::from_static(b"x")),
            Reply::Array(vec![Reply::Integer(-10), Reply::Integer(99), Reply::Null]),
            Reply::Push(vec![Reply::Bool(false), Reply::NullArray]),
        ];
        for reply in &replies {
            for version in [Resp2, Resp3] {
                let mut dst = BytesMut::new();
                encode(reply, version, &mut dst);
                assert!(
                    dst.len() <= encoded_len(reply, version),
                    "{reply:?} {version:?}"
                );
            }
        }
    }

    #[test]
    fn digit_counts() {
        assert_eq!(int_len(0), 1);
        assert_eq!(int_len(9), 1);
        assert_eq!(int_len(10), 2);
        assert_eq!(int_len(-10), 3);
        assert_eq!(int_len(i64::MIN), 20);
        assert_eq!(int_len(i64::MAX), 19);
    }
}
