//! The protocol-neutral reply a command produces.
//!
//! A [`Reply`] says *what* the client should see; the connection's encoder
//! decides *how* for the client's protocol: a RESP3 map becomes a flat array
//! in RESP2, a double becomes a bulk string, a boolean becomes an integer, and
//! both null kinds become `_` in RESP3.

use bytes::Bytes;

/// One reply value. Errors a Redis client expects (`-WRONGTYPE`, `-NOAUTH`,
/// unknown command …) are `Reply::Error`, an `Ok` value on the service
/// channel; only infrastructure failures travel as `Err`.
#[derive(Clone, Debug, PartialEq)]
pub enum Reply {
    /// `+OK`: a status line. MUST NOT contain `\r` or `\n`.
    Simple(Bytes),
    /// `-ERR …`: the text includes its error code prefix. MUST NOT contain
    /// `\r` or `\n`.
    Error(Bytes),
    Integer(i64),
    Bulk(Bytes),
    /// A missing bulk string: `$-1` in RESP2, `_` in RESP3.
    Null,
    /// A missing array: `*-1` in RESP2, `_` in RESP3.
    NullArray,
    Array(Vec<Reply>),
    /// A RESP3 map; RESP2 sees a flat array of key, value, key, value.
    Map(Vec<(Reply, Reply)>),
    /// An array of pairs: RESP3 sees an array of two-element arrays, RESP2
    /// a flat array of first, second, first, second (HRANDFIELD … WITHVALUES,
    /// ZRANGE … WITHSCORES), as Redis' replies nest only for RESP3 clients.
    /// Not a map: the order matters and a first element may repeat
    /// (ZRANDMEMBER with a negative count).
    Pairs(Vec<(Reply, Reply)>),
    /// A RESP3 set; RESP2 sees an array.
    Set(Vec<Reply>),
    /// A RESP3 double; RESP2 sees it as a bulk string.
    Double(f64),
    /// A RESP3 boolean; RESP2 sees the integer 1 or 0.
    Bool(bool),
    /// A RESP3 verbatim string (`=`); RESP2 sees a bulk string. The format
    /// is three bytes, e.g. `txt`.
    Verbatim(&'static str, Bytes),
    /// A RESP3 push (`>`); RESP2 sees an array.
    Push(Vec<Reply>),
    /// One reply already encoded, exactly as another Redis server sent it
    /// (the upstream proxy, `docs/upstream.md`): `frame` is one complete
    /// RESP value in RESP3 when `resp3`, else RESP2. The encoder writes it
    /// as it is for a client of that protocol, so the client sees the
    /// upstream's bytes; for a client of the other protocol it is parsed
    /// and encoded again (a fallback the proxy avoids by asking the
    /// upstream in the client's protocol).
    Encoded {
        resp3: bool,
        frame: Bytes,
    },
}

impl Reply {
    /// `+OK`.
    pub const fn ok() -> Reply {
        Reply::Simple(Bytes::from_static(b"OK"))
    }

    /// A status reply from a static string.
    pub const fn status(s: &'static str) -> Reply {
        Reply::Simple(Bytes::from_static(s.as_bytes()))
    }

    /// An error reply. `msg` starts with the error code (`ERR`, `WRONGTYPE`,
    /// …). Line breaks are replaced by spaces so the reply stays one line,
    /// as Redis does.
    pub fn error(msg: impl Into<String>) -> Reply {
        let mut msg: String = msg.into();
        if msg.contains(['\r', '\n']) {
            msg = msg.replace(['\r', '\n'], " ");
        }
        Reply::Error(Bytes::from(msg))
    }

    /// An error reply from a static string, without allocating.
    pub const fn static_error(msg: &'static str) -> Reply {
        Reply::Error(Bytes::from_static(msg.as_bytes()))
    }

    /// A bulk reply that copies `data`.
    pub fn bulk(data: impl AsRef<[u8]>) -> Reply {
        Reply::Bulk(Bytes::copy_from_slice(data.as_ref()))
    }

    /// True for `+OK`, whether made here or passed through from another
    /// server ([`Reply::Encoded`]).
    pub fn is_ok(&self) -> bool {
        match self {
            Reply::Simple(s) => &s[..] == b"OK",
            Reply::Encoded { frame, .. } => &frame[..] == b"+OK\r\n",
            _ => false,
        }
    }

    /// True for `Reply::Error`.
    pub fn is_error(&self) -> bool {
        match self {
            Reply::Error(_) => true,
            Reply::Encoded { frame, .. } => matches!(frame.first(), Some(b'-' | b'!')),
            _ => false,
        }
    }

    /// The error code of an error reply (`ERR`, `WRONGTYPE`, …).
    pub fn error_code(&self) -> Option<&str> {
        match self {
            Reply::Error(msg) => {
                let end = msg.iter().position(|&b| b == b' ').unwrap_or(msg.len());
                std::str::from_utf8(&msg[..end]).ok()
            }
            // A simple error (`-CODE text`); a blob error's code is past
            // its length line.
            Reply::Encoded { frame, .. } if frame.first() == Some(&b'-') => {
                let msg = &frame[1..];
                let end = msg
                    .iter()
                    .position(|&b| b == b' ' || b == b'\r')
                    .unwrap_or(msg.len());
                std::str::from_utf8(&msg[..end]).ok()
            }
            _ => None,
        }
    }
}

/// Replies Redis gives word for word in many places.
pub mod errors {
    use super::Reply;

    pub const WRONGTYPE: Reply =
        Reply::static_error("WRONGTYPE Operation against a key holding the wrong kind of value");
    pub const SYNTAX: Reply = Reply::static_error("ERR syntax error");
    pub const NOT_INTEGER: Reply =
        Reply::static_error("ERR value is not an integer or out of range");
    pub const NOT_FLOAT: Reply = Reply::static_error("ERR value is not a valid float");
    pub const OVERFLOW: Reply = Reply::static_error("ERR increment or decrement would overflow");
    pub const NO_SUCH_KEY: Reply = Reply::static_error("ERR no such key");
    pub const NOAUTH: Reply = Reply::static_error("NOAUTH Authentication required.");
    pub const WRONGPASS: Reply =
        Reply::static_error("WRONGPASS invalid username-password pair or user is disabled.");
    pub const INVALID_EXPIRE: Reply =
        Reply::static_error("ERR invalid expire time in 'set' command");
    pub const DB_INDEX: Reply = Reply::static_error("ERR DB index is out of range");
    pub const STRING_TOO_LONG: Reply =
        Reply::static_error("ERR string exceeds maximum allowed size (proto-max-bulk-len)");
}
