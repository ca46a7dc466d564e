//! A client-side parser of RESP2 and RESP3 replies, for property tests,
//! fuzzing, benches and test clients. The server itself never parses
//! replies.
//!
//! [`decode_reply`] understands every type redynamo sends plus RESP3's blob
//! error (`!`, read as [`Reply::Error`]) and attributes (`|`, skipped).
//! [`Reply`] cannot hold a big number (`(`) or a verbatim format other than
//! `txt` and `mkd`, so those are errors.
//!
//! Some replies read back as another variant, because the wire does not tell
//! them apart: in RESP3 both null kinds are `_` and read as [`Reply::Null`];
//! in RESP2 a map is a flat array, a set and a push are arrays, a double and
//! a verbatim string are bulk strings and a boolean is an integer.
//!
//! The parser makes two passes over a reply: the first only checks that the
//! whole reply has arrived, with no allocation and no recursion (it counts
//! the values still expected), the second builds the [`Reply`] with bulk
//! strings as zero-copy slices. Neither recurses, so no nesting depth can
//! overflow the stack, and no vector is sized from a declared length before
//! the first pass has seen every element. A partial reply is checked again
//! from its start on the next call; that is fine for the intended uses and
//! keeps the parser simple.

use bytes::{Bytes, BytesMut};
use redynamo_layers::Reply;

use super::decode::parse_i64;
use super::ProtocolError;

/// Parse one complete reply from the front of `buf`, removing it. `Ok(None)`
/// when the reply has not fully arrived; `buf` is then left untouched.
pub fn decode_reply(buf: &mut BytesMut) -> Result<Option<Reply>, ProtocolError> {
    let Some(len) = reply_len(buf)? else {
        return Ok(None);
    };
    let frame = buf.split_to(len).freeze();
    build(&frame).map(Some)
}

fn error(text: &str) -> ProtocolError {
    ProtocolError::Protocol(format!("Protocol error: {text}"))
}

/// One header line: its type byte, the text up to `\r\n`, and the position
/// after the `\r\n`. `None` if the line has not fully arrived.
fn read_line(buf: &[u8], pos: usize) -> Option<(u8, &[u8], usize)> {
    let kind = *buf.get(pos)?;
    let rest = &buf[pos + 1..];
    let end = memchr::memmem::find(rest, b"\r\n")?;
    Some((kind, &rest[..end], pos + 1 + end + 2))
}

fn parse_len(line: &[u8]) -> Result<i64, ProtocolError> {
    parse_i64(line).ok_or_else(|| error("invalid length"))
}

fn parse_double(line: &[u8]) -> Result<f64, ProtocolError> {
    std::str::from_utf8(line)
        .ok()
        .and_then(|s| s.parse::<f64>().ok())
        .ok_or_else(|| error("invalid double"))
}

fn verbatim_format(payload: &[u8]) -> Result<&'static str, ProtocolError> {
    match payload.get(..4) {
        Some(b"txt:") => Ok("txt"),
        Some(b"mkd:") => Ok("mkd"),
        _ => Err(error("unsupported verbatim format")),
    }
}

/// The length in bytes of the complete reply at the front of `buf`,
/// validated but not built; `Ok(None)` while it has not fully arrived. For
/// a client that wants a reply's exact bytes (a byte-for-byte comparison)
/// as well as, or instead of, its [`Reply`].
pub fn reply_len(buf: &[u8]) -> Result<Option<usize>, ProtocolError> {
    let mut pos = 0;
    // Values still expected; an aggregate adds its elements.
    let mut pending: u64 = 1;
    while pending > 0 {
        let Some((kind, line, next)) = read_line(buf, pos) else {
            return Ok(None);
        };
        pos = next;
        match kind {
            b'+' | b'-' => {}
            b':' => {
                parse_len(line).map_err(|_| error("invalid integer"))?;
            }
            b'_' if line.is_empty() => {}
            b'#' if line == b"t" || line == b"f" => {}
            b',' => {
                parse_double(line)?;
            }
            b'$' | b'!' | b'=' => {
                let n = parse_len(line)?;
                if !(n == -1 && kind == b'$') {
                    let n = usize::try_from(n).map_err(|_| error("invalid length"))?;
                    let end = match pos.checked_add(n).and_then(|e| e.checked_add(2)) {
                        Some(end) if end <= buf.len() => end,
                        _ => return Ok(None),
                    };
                    if &buf[end - 2..end] != b"\r\n" {
                        return Err(error("bulk string not followed by CRLF"));
                    }
                    if kind == b'=' {
                        verbatim_format(&buf[pos..end - 2])?;
                    }
                    pos = end;
                }
            }
            b'*' | b'~' | b'>' | b'%' | b'|' => {
                let n = parse_len(line)?;
                if !(n == -1 && kind == b'*') {
                    let n = u64::try_from(n).map_err(|_| error("invalid length"))?;
                    let items = if matches!(kind, b'%' | b'|') {
                        n.saturating_mul(2)
                    } else {
                        n
                    };
                    pending = pending.saturating_add(items);
                    if kind == b'|' {
                        // An attribute precedes the value it describes: that
                        // value is still expected.
                        continue;
                    }
                }
            }
            _ => {
                return Err(ProtocolError::Protocol(format!(
                    "Protocol error: unexpected reply type '{}'",
                    char::from(kind).escape_default()
                )))
            }
        }
        pending -= 1;
    }
    Ok(Some(pos))
}

#[derive(Clone, Copy)]
enum Aggregate {
    Array,
    Set,
    Push,
    Map,
    Attribute,
}

struct Open {
    kind: Aggregate,
    want: usize,
    items: Vec<Reply>,
}

impl Open {
    /// The finished value; an attribute yields none.
    fn finish(self) -> Option<Reply> {
        Some(match self.kind {
            Aggregate::Array => Reply::Array(self.items),
            Aggregate::Set => Reply::Set(self.items),
            Aggregate::Push => Reply::Push(self.items),
            Aggregate::Map => {
                let mut pairs = Vec::with_capacity(self.items.len() / 2);
                let mut items = self.items.into_iter();
                while let (Some(k), Some(v)) = (items.next(), items.next()) {
                    pairs.push((k, v));
                }
                Reply::Map(pairs)
            }
            Aggregate::Attribute => return None,
        })
    }
}

/// Build the reply in `frame`, which [`reply_len`] validated as complete.
pub(crate) fn build(frame: &Bytes) -> Result<Reply, ProtocolError> {
    let incomplete = || error("reply ended early");
    let mut stack: Vec<Open> = Vec::new();
    let mut pos = 0;
    loop {
        let (kind, line, next) = read_line(frame, pos).ok_or_else(incomplete)?;
        let line_at = pos + 1;
        pos = next;
        let mut value = match kind {
            b'+' => Some(Reply::Simple(frame.slice(line_at..line_at + line.len()))),
            b'-' => Some(Reply::Error(frame.slice(line_at..line_at + line.len()))),
            b':' => Some(Reply::Integer(parse_len(line)?)),
            b'_' => Some(Reply::Null),
            b'#' => Some(Reply::Bool(line == b"t")),
            b',' => Some(Reply::Double(parse_double(line)?)),
            b'$' | b'!' | b'=' => {
                let n = parse_len(line)?;
                if n == -1 && kind == b'$' {
                    Some(Reply::Null)
                } else {
                    let n = usize::try_from(n).map_err(|_| error("invalid length"))?;
                    let end = pos
                        .checked_add(n)
                        .filter(|end| end.saturating_add(2) <= frame.len())
                        .ok_or_else(incomplete)?;
                    let data = frame.slice(pos..end);
                    pos = end + 2;
                    Some(match kind {
                        b'$' => Reply::Bulk(data),
                        b'!' => Reply::Error(data),
                        _ => Reply::Verbatim(verbatim_format(&data)?, data.slice(4..)),
                    })
                }
            }
            b'*' | b'~' | b'>' | b'%' | b'|' => {
                let n = parse_len(line)?;
                if n == -1 && kind == b'*' {
                    Some(Reply::NullArray)
                } else {
                    let n = usize::try_from(n).map_err(|_| error("invalid length"))?;
                    let (agg, want) = match kind {
                        b'*' => (Aggregate::Array, n),
                        b'~' => (Aggregate::Set, n),
                        b'>' => (Aggregate::Push, n),
                        b'%' => (Aggregate::Map, n.saturating_mul(2)),
                        _ => (Aggregate::Attribute, n.saturating_mul(2)),
                    };
                    // The first pass saw all `want` elements, each at least
                    // three bytes; the cap only guards against a mismatch.
                    let open = Open {
                        kind: agg,
                        want,
                        items: Vec::with_capacity(want.min(frame.len() / 3)),
                    };
                    if want == 0 {
                        open.finish()
                    } else {
                        stack.push(open);
                        None
                    }
                }
            }
            _ => return Err(error("unexpected reply type")),
        };
        // Hand the finished value to its parent, closing every aggregate it
        // completes.
        while let Some(v) = value.take() {
            let Some(top) = stack.last_mut() else {
                return Ok(v);
            };
            top.items.push(v);
            if top.items.len() == top.want {
                value = stack.pop().and_then(Open::finish);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::decode_reply;
    use bytes::{Bytes, BytesMut};
    use redynamo_layers::Reply;

    fn parse(input: &[u8]) -> Reply {
        let mut buf = BytesMut::from(input);
        let reply = decode_reply(&mut buf).expect("valid").expect("complete");
        assert!(buf.is_empty(), "left over: {buf:?}");
        reply
    }

    fn bulk(s: &'static str) -> Reply {
        Reply::Bulk(Bytes::from_static(s.as_bytes()))
    }

    #[test]
    fn resp2() {
        assert_eq!(parse(b"+OK\r\n"), Reply::ok());
        assert_eq!(parse(b"-ERR x\r\n"), Reply::static_error("ERR x"));
        assert_eq!(parse(b":-5\r\n"), Reply::Integer(-5));
        assert_eq!(parse(b"$3\r\na\r\n\r\n"), bulk("a\r\n"));
        assert_eq!(parse(b"$-1\r\n"), Reply::Null);
        assert_eq!(parse(b"*-1\r\n"), Reply::NullArray);
        assert_eq!(
            parse(b"*2\r\n*1\r\n:1\r\n$0\r\n\r\n"),
            Reply::Array(vec![Reply::Array(vec![Reply::Integer(1)]), bulk("")])
        );
    }

    #[test]
    fn resp3() {
        assert_eq!(parse(b"_\r\n"), Reply::Null);
        assert_eq!(parse(b"#t\r\n"), Reply::Bool(true));
        assert_eq!(parse(b",-inf\r\n"), Reply::Double(f64::NEG_INFINITY));
        assert_eq!(parse(b",1.5e-7\r\n"), Reply::Double(1.5e-7));
        assert_eq!(
            parse(b"=8\r\ntxt:abcd\r\n"),
            Reply::Verbatim("txt", Bytes::from_static(b"abcd"))
        );
        assert_eq!(parse(b"!5\r\nERR x\r\n"), Reply::static_error("ERR x"));
        assert_eq!(
            parse(b"%1\r\n+k\r\n~1\r\n:1\r\n"),
            Reply::Map(vec![(
                Reply::status("k"),
                Reply::Set(vec![Reply::Integer(1)])
            )])
        );
        assert_eq!(parse(b">0\r\n"), Reply::Push(vec![]));
        assert_eq!(
            parse(b"*2\r\n|1\r\n+ttl\r\n:3\r\n:7\r\n:8\r\n"),
            Reply::Array(vec![Reply::Integer(7), Reply::Integer(8)])
        );
    }

    #[test]
    fn incomplete_leaves_the_buffer_alone() {
        let full = b"*2\r\n$5\r\nhello\r\n%1\r\n:1\r\n,2\r\n";
        for cut in 0..full.len() {
            let mut buf = BytesMut::from(&full[..cut]);
            assert_eq!(
                decode_reply(&mut buf).expect("valid prefix"),
                None,
                "cut {cut}"
            );
            assert_eq!(buf.len(), cut);
        }
        parse(full);
    }

    #[test]
    fn huge_declared_lengths_allocate_nothing() {
        for input in [
            &b"*9223372036854775807\r\n"[..],
            b"$9223372036854775807\r\n",
            b"%4611686018427387904\r\n",
        ] {
            let mut buf = BytesMut::from(input);
            assert_eq!(decode_reply(&mut buf).expect("valid so far"), None);
        }
    }

    #[test]
    fn deep_nesting_does_not_recurse() {
        let mut input = b"*1\r\n".repeat(100_000);
        input.extend_from_slice(b":1\r\n");
        let mut reply = parse(&input);
        let mut depth = 0;
        while let Reply::Array(mut items) = reply {
            reply = items.pop().expect("one element");
            depth += 1;
        }
        assert_eq!(depth, 100_000);
    }

    #[test]
    fn errors() {
        for input in [
            &b"?\r\n"[..],
            b":1.5\r\n",
            b"$2\r\nabcd\r\n",
            b"*-2\r\n",
            b"$-2\r\n",
            b"#x\r\n",
            b"_x\r\n",
            b",pi\r\n",
            b"=5\r\nxyz:a\r\n",
            b"(123\r\n",
        ] {
            let mut buf = BytesMut::from(input);
            assert!(
                decode_reply(&mut buf).is_err(),
                "{:?}",
                String::from_utf8_lossy(input)
            );
        }
    }
}
