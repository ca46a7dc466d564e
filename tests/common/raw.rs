//! Raw RESP over TCP: [`RawClient`] writes any bytes and reads whole
//! replies, as the library's [`Reply`] (parsed by
//! `redynamo::protocol::decode_reply`) or as their exact bytes (framed by
//! `redynamo::protocol::reply_len`).
//!
//! The parser is the library's client-side one, so a reply reads the way
//! the wire cannot tell apart: in RESP3 both nulls are `_` and read as
//! [`Reply::Null`], a double reads as an `f64`. A test that cares about the
//! exact bytes (`$-1` against `_`, a double's digits) compares
//! [`RawClient::cmd_bytes`].

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use redynamo::protocol::{decode_reply, reply_len};
pub use redynamo_layers::Reply;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::metrics::parse_info;
use super::PATIENCE;

pub fn ok() -> Reply {
    Reply::ok()
}
pub fn simple(s: &str) -> Reply {
    Reply::Simple(Bytes::copy_from_slice(s.as_bytes()))
}
/// An error reply with exactly this text (code included).
pub fn err(s: &str) -> Reply {
    Reply::Error(Bytes::copy_from_slice(s.as_bytes()))
}
pub fn int(n: i64) -> Reply {
    Reply::Integer(n)
}
pub fn bulk(s: impl AsRef<[u8]>) -> Reply {
    Reply::Bulk(Bytes::copy_from_slice(s.as_ref()))
}
/// A missing bulk string: `$-1` in RESP2.
pub fn nil() -> Reply {
    Reply::Null
}
pub fn arr(items: impl IntoIterator<Item = Reply>) -> Reply {
    Reply::Array(items.into_iter().collect())
}
/// An array of bulk strings.
pub fn bulks(items: &[&str]) -> Reply {
    arr(items.iter().map(bulk))
}

/// What tests read out of a [`Reply`]; each panics on another kind of
/// reply, so a test that expected a string and got an error fails there.
pub trait ReplyExt {
    /// The text of a bulk, simple or verbatim string, or of a double.
    fn text(&self) -> String;
    /// The text of a string reply; for anything else its kind, such as
    /// `<array>` (for scanning flat key/value lists).
    fn text_or_kind(&self) -> String;
    /// The text of an error reply, its code included.
    fn error_text(&self) -> String;
    /// The value of an integer reply.
    fn int(&self) -> i64;
    /// The elements of an array, set or push reply.
    fn items(&self) -> &[Reply];
}

impl ReplyExt for Reply {
    fn text(&self) -> String {
        match self {
            Reply::Simple(b) | Reply::Bulk(b) | Reply::Verbatim(_, b) => {
                String::from_utf8_lossy(b).into_owned()
            }
            Reply::Double(d) => redynamo::protocol::format_double(*d),
            other => panic!("expected a string reply, got {other:?}"),
        }
    }

    fn text_or_kind(&self) -> String {
        match self {
            Reply::Simple(_) | Reply::Double(_) | Reply::Bulk(_) | Reply::Verbatim(..) => {
                self.text()
            }
            Reply::Array(_) => "<array>".into(),
            Reply::Map(_) => "<map>".into(),
            other => format!("{other:?}"),
        }
    }

    fn error_text(&self) -> String {
        match self {
            Reply::Error(b) => String::from_utf8_lossy(b).into_owned(),
            other => panic!("expected an error reply, got {other:?}"),
        }
    }

    fn int(&self) -> i64 {
        match self {
            Reply::Integer(n) => *n,
            other => panic!("expected an integer reply, got {other:?}"),
        }
    }

    fn items(&self) -> &[Reply] {
        match self {
            Reply::Array(v) | Reply::Set(v) | Reply::Push(v) => v,
            other => panic!("expected an array reply, got {other:?}"),
        }
    }
}

/// Parse one reply from the front of `buf` with the library's parser:
/// `Ok(None)` while incomplete, `Ok(Some((reply, bytes used)))` once whole.
pub fn parse_reply(buf: &[u8]) -> Result<Option<(Reply, usize)>, String> {
    let Some(len) = reply_len(buf).map_err(|e| e.to_string())? else {
        return Ok(None);
    };
    let mut frame = BytesMut::from(&buf[..len]);
    let reply = decode_reply(&mut frame)
        .map_err(|e| e.to_string())?
        .ok_or("a framed reply did not parse whole")?;
    Ok(Some((reply, len)))
}

/// The one reply in `bytes` (as read by [`RawClient::read_bytes`]).
pub fn parse(bytes: &[u8]) -> Reply {
    parse_reply(bytes)
        .expect("well-formed reply")
        .expect("a whole reply")
        .0
}

/// RESP encoding of a command line (a multibulk of bulk strings).
pub fn encode(args: &[&[u8]]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// RESP encoding of a command given as `&str` arguments.
pub fn encode_str(args: &[&str]) -> Vec<u8> {
    let args: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
    encode(&args)
}

/// A client that speaks bytes: write anything, read whole replies. Every
/// read is bounded by [`PATIENCE`].
pub struct RawClient {
    stream: TcpStream,
    buf: BytesMut,
    /// Bytes written so far.
    pub sent: u64,
    /// Bytes of the replies read so far (what the server sent, as far as
    /// the test consumed it).
    pub received: u64,
}

impl RawClient {
    pub async fn connect(addr: SocketAddr) -> RawClient {
        let stream = tokio::time::timeout(PATIENCE, TcpStream::connect(addr))
            .await
            .expect("connect within the I/O timeout")
            .expect("TCP connect");
        stream.set_nodelay(true).expect("set TCP_NODELAY");
        RawClient {
            stream,
            buf: BytesMut::new(),
            sent: 0,
            received: 0,
        }
    }

    /// Write `bytes` as they are.
    pub async fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.expect("write to server");
        self.sent += bytes.len() as u64;
    }

    /// Write one command without reading its reply (pipelining).
    pub async fn send_cmd(&mut self, args: &[&str]) {
        self.send(&encode_str(args)).await;
    }

    /// Try to write; false when the server has closed the connection.
    pub async fn try_send(&mut self, bytes: &[u8]) -> bool {
        let ok = self.stream.write_all(bytes).await.is_ok();
        if ok {
            self.sent += bytes.len() as u64;
        }
        ok
    }

    /// Send a command and read its reply.
    pub async fn cmd(&mut self, args: &[&str]) -> Reply {
        self.send_cmd(args).await;
        self.read().await
    }

    /// Send a binary command and read its reply.
    pub async fn cmd_bin(&mut self, args: &[&[u8]]) -> Reply {
        self.send(&encode(args)).await;
        self.read().await
    }

    /// Send a command and return the exact bytes of its reply.
    pub async fn cmd_bytes(&mut self, args: &[&str]) -> Vec<u8> {
        self.send_cmd(args).await;
        self.read_bytes().await
    }

    /// Read one whole reply.
    pub async fn read(&mut self) -> Reply {
        let len = self.await_reply().await;
        self.received += len as u64;
        let mut frame = self.buf.split_to(len);
        decode_reply(&mut frame)
            .expect("well-formed reply")
            .expect("whole reply")
    }

    /// Read one whole reply and return its exact bytes.
    pub async fn read_bytes(&mut self) -> Vec<u8> {
        let len = self.await_reply().await;
        self.received += len as u64;
        self.buf.split_to(len).to_vec()
    }

    /// Read until a whole reply is buffered; its length.
    async fn await_reply(&mut self) -> usize {
        let framing = async {
            loop {
                match reply_len(&self.buf) {
                    Ok(Some(len)) => return len,
                    Ok(None) => {}
                    Err(e) => panic!(
                        "malformed reply ({e}): {:?}",
                        String::from_utf8_lossy(&self.buf)
                    ),
                }
                self.fill().await;
            }
        };
        match tokio::time::timeout(PATIENCE, framing).await {
            Ok(len) => len,
            Err(_) => panic!(
                "no whole reply within {PATIENCE:?}; buffered: {:?}",
                String::from_utf8_lossy(&self.buf)
            ),
        }
    }

    /// Read what the server sent next into the buffer; a close fails the
    /// test.
    async fn fill(&mut self) {
        let n = self
            .stream
            .read_buf(&mut self.buf)
            .await
            .expect("read from server");
        assert!(
            n > 0,
            "server closed the connection; buffered: {:?}",
            String::from_utf8_lossy(&self.buf)
        );
    }

    /// Read exactly `n` bytes (for replies checked byte by byte).
    pub async fn read_exact(&mut self, n: usize) -> Vec<u8> {
        tokio::time::timeout(PATIENCE, async {
            while self.buf.len() < n {
                self.fill().await;
            }
            self.received += n as u64;
            self.buf.split_to(n).to_vec()
        })
        .await
        .expect("bytes within the I/O timeout")
    }

    /// True when the server closes the connection (EOF or reset) within
    /// [`PATIENCE`] without sending anything more; data instead fails the
    /// test.
    pub async fn is_closed(&mut self) -> bool {
        assert!(
            self.buf.is_empty(),
            "unread bytes before the expected close: {:?}",
            String::from_utf8_lossy(&self.buf)
        );
        let mut chunk = [0u8; 1024];
        match tokio::time::timeout(PATIENCE, self.stream.read(&mut chunk)).await {
            Ok(Ok(0)) | Ok(Err(_)) => true,
            Ok(Ok(n)) => panic!(
                "expected the connection to close, got {:?}",
                String::from_utf8_lossy(&chunk[..n])
            ),
            Err(_) => false,
        }
    }

    /// Nothing arrives within `wait` (for "the server is still waiting for
    /// the rest of the frame").
    pub async fn nothing_within(&mut self, wait: Duration) -> bool {
        if !self.buf.is_empty() {
            return false;
        }
        // Whatever arrives (or EOF) stays buffered for the next read.
        tokio::time::timeout(wait, self.stream.read_buf(&mut self.buf))
            .await
            .is_err()
    }

    /// INFO `section` as `name -> value`.
    pub async fn info(&mut self, section: &str) -> BTreeMap<String, String> {
        parse_info(&self.cmd(&["INFO", section]).await.text())
    }

    pub fn into_stream(self) -> TcpStream {
        self.stream
    }
}
