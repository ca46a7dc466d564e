//! RESP2/RESP3 and inline-command codec: client bytes in, argument vectors
//! out; [`Reply`] values in, RESP bytes out.
//!
//! [`RespCodec`] is a [`tokio_util::codec`] decoder and encoder that a
//! connection wraps around its socket. It decodes requests exactly as Redis 7
//! does, byte for byte where a client can see it (the same commands, the
//! same `-ERR Protocol error: …` texts at the same moments), and encodes
//! replies as Redis 7.2 does for the protocol version the client chose with
//! `HELLO`.
//!
//! ```
//! use bytes::BytesMut;
//! use redynamo::protocol::{Limits, RespCodec};
//! use redynamo_layers::Reply;
//! use tokio_util::codec::Decoder;
//!
//! let mut codec = RespCodec::new(Limits::default());
//! let mut input = BytesMut::from(&b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\nPING\r\n"[..]);
//! let get = codec.decode(&mut input)?.expect("a whole command");
//! assert_eq!(get, ["GET", "k"]);
//! let ping = codec.decode(&mut input)?.expect("an inline command");
//! assert_eq!(ping, ["PING"]);
//! assert_eq!(codec.decode(&mut input)?, None);
//!
//! let mut output = BytesMut::new();
//! codec.encode_reply(&Reply::status("PONG"), &mut output);
//! assert_eq!(&output[..], b"+PONG\r\n");
//! # Ok::<(), redynamo::protocol::ProtocolError>(())
//! ```
//!
//! # Why it looks like this
//!
//! - The codec is the hot path: a `redis-benchmark -P 16` read holds 16
//!   commands, decoded one after another from one buffer. Arguments are
//!   zero-copy slices of the read buffer, line ends are found with `memchr`,
//!   and the only allocation per command is its `Vec<Bytes>`.
//! - It is incremental: parse state survives between reads (the arguments
//!   received so far, the length of the bulk string being received, how far
//!   a search for a line end got), so nothing is rescanned, and a huge value
//!   or a million-argument command costs time linear in its size.
//! - Nothing a client declares is trusted before it arrives: lengths are
//!   checked against [`Limits`] when their header line completes, and
//!   memory follows the bytes actually received, so `*2147483647\r\n` gets
//!   an error, not an allocation. The argument vector starts with at most
//!   1024 slots; while a bulk string of 32 KiB or more arrives, the read
//!   buffer grows ahead of the data by what already arrived (at least
//!   64 KiB), and its last step is sized exactly to the value, so the buffer
//!   never holds more than about twice what the client really sent.
//! - Session state that changes how bytes are read or written (protocol
//!   version, whether the client has authenticated) lives in the codec;
//!   the connection updates it after `HELLO` and `AUTH`. Everything about
//!   what a command *means* stays out of the codec.
//! - After a [`ProtocolError`] the connection replies (for
//!   [`ProtocolError::Protocol`]) and closes; the decoder's state after an
//!   error is unspecified.
//!
//! [`decode_reply`] is the other direction, a client-side reply parser for
//! tests (the one the test harness in `tests/common/` reads replies with),
//! fuzzing and benches, and [`reply_len`] frames a reply without building
//! it; [`format_double`] is the double formatting
//! every command that prints a double must share.

mod decode;
mod double;
mod encode;
mod error;
mod inline;
mod limits;
mod reply_parser;

#[cfg(test)]
mod proptests;
#[cfg(test)]
mod tests;

use bytes::{Bytes, BytesMut};
use redynamo_layers::Reply;
use tokio_util::codec::{Decoder, Encoder};

pub use double::format_double;
pub use error::ProtocolError;
pub use limits::Limits;
pub use reply_parser::{decode_reply, reply_len};

/// `reply` as a tree: a [`Reply::Encoded`] (another server's bytes, from
/// the upstream proxy) is parsed, for code that must look inside a reply
/// (an EXEC's replies spliced with the admin layer's, SELECT inside
/// MULTI); anything else is returned as it is. A frame that does not
/// parse becomes an error reply.
pub fn tree(reply: Reply) -> Reply {
    match reply {
        Reply::Encoded { frame, .. } => reply_parser::build(&frame)
            .unwrap_or_else(|_| Reply::static_error("ERR unreadable reply from the upstream")),
        other => other,
    }
}

/// The protocol a client speaks; `HELLO 3` switches to RESP3.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProtocolVersion {
    Resp2,
    Resp3,
}

/// The codec of one connection. See the [module docs](self).
#[derive(Debug)]
pub struct RespCodec {
    limits: Limits,
    version: ProtocolVersion,
    /// False while a password is required and the client has not
    /// authenticated: Redis then caps commands at 10 arguments of 16 KiB,
    /// so an unauthenticated client cannot make the server buffer much.
    authenticated: bool,
    decoder: decode::CommandDecoder,
}

impl RespCodec {
    /// A codec for a new connection: RESP2, authenticated.
    pub fn new(limits: Limits) -> Self {
        RespCodec {
            limits,
            version: ProtocolVersion::Resp2,
            authenticated: true,
            decoder: decode::CommandDecoder::default(),
        }
    }

    /// Switch the reply encoding, after `HELLO`.
    pub fn set_version(&mut self, v: ProtocolVersion) {
        self.version = v;
    }

    pub fn version(&self) -> ProtocolVersion {
        self.version
    }

    /// When false (a password is required and the client has not
    /// authenticated), Redis' unauthenticated limits apply: a multibulk
    /// length over 10 gives "Protocol error: unauthenticated multibulk
    /// length", a bulk length over 16384 gives "Protocol error:
    /// unauthenticated bulk length".
    pub fn set_authenticated(&mut self, yes: bool) {
        self.authenticated = yes;
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Limits may change between reads (`CONFIG SET`); a command already
    /// partly received keeps the lengths checked when its headers arrived.
    pub fn limits_mut(&mut self) -> &mut Limits {
        &mut self.limits
    }

    /// Bytes the decoder holds for the command being received, outside the
    /// read buffer (arguments already split out, headers consumed). The
    /// decoder keeps this plus the read buffer within
    /// [`Limits::query_buffer_limit`]; exposed for metrics and fuzzing.
    pub fn pending_command_bytes(&self) -> usize {
        self.decoder.pending_bytes()
    }

    /// Append the encoding of `reply` for the current version to `dst`.
    pub fn encode_reply(&self, reply: &Reply, dst: &mut BytesMut) {
        encode::encode(reply, self.version, dst);
    }
}

impl Decoder for RespCodec {
    type Item = Vec<Bytes>;
    type Error = ProtocolError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Vec<Bytes>>, ProtocolError> {
        self.decoder.decode(src, &self.limits, self.authenticated)
    }

    /// At end of input a partial command is dropped silently, as Redis does
    /// when a client disconnects mid-command (the default implementation
    /// would report an I/O error).
    fn decode_eof(&mut self, src: &mut BytesMut) -> Result<Option<Vec<Bytes>>, ProtocolError> {
        let command = self.decode(src)?;
        if command.is_none() {
            src.clear();
        }
        Ok(command)
    }
}

impl Encoder<&Reply> for RespCodec {
    type Error = std::io::Error;

    fn encode(&mut self, reply: &Reply, dst: &mut BytesMut) -> Result<(), std::io::Error> {
        self.encode_reply(reply, dst);
        Ok(())
    }
}
