//! Bounds on what one client may make the decoder hold.
//!
//! Every bound is checked *before* memory is committed for it: a declared
//! length is compared with its limit as soon as its header line is complete,
//! and the decoder only grows its buffer as data actually arrives (see
//! [`super::decode`]). The bytes received and not yet parsed are bounded
//! by `query_buffer_limit` (1 GiB), as Redis bounds its query buffer; the
//! arguments of a command already split out of it are bounded, as in Redis,
//! only by `max_multibulk_len` and `max_bulk_len`, and only as far as the
//! client really sends them. The per-connection worst case times the client
//! limit is what the server must survive, so operators with many untrusted
//! clients should lower these limits together.

/// Protocol size limits, Redis' configuration names in brackets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Largest bulk string a client may send (`proto-max-bulk-len`). Default
    /// 512 MiB, the Redis default and the largest string value Redis accepts,
    /// so `SET` of any value Redis would store is accepted.
    pub max_bulk_len: usize,
    /// Most arguments in one multibulk command. Redis allows `INT_MAX`;
    /// redynamo defaults to 1 Mi arguments because the argument vector costs
    /// 32 bytes per argument on top of the data, and a million-key `MSET` or
    /// `DEL` is already far beyond what any client library sends in one
    /// command.
    pub max_multibulk_len: usize,
    /// Longest inline command line, and also the longest `*<n>` or `$<n>`
    /// header line (Redis' `PROTO_INLINE_MAX_SIZE`, 64 KiB, which is not
    /// configurable in Redis). Checked, as Redis does, only while no line
    /// terminator has arrived.
    pub max_inline_len: usize,
    /// Most bytes received and not yet parsed into arguments
    /// (`client-query-buffer-limit`, default 1 GiB), counted as Redis counts
    /// `sdslen(querybuf)`: a big bulk string counts while it arrives, the
    /// arguments of a command already split out do not. Redis closes such a
    /// client without a reply; see [`super::ProtocolError::QueryBufferLimit`].
    pub query_buffer_limit: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_bulk_len: 512 * 1024 * 1024,
            max_multibulk_len: 1024 * 1024,
            max_inline_len: 64 * 1024,
            query_buffer_limit: 1024 * 1024 * 1024,
        }
    }
}

/// Redis' bound on the argument count of a client that must authenticate
/// first (`networking.c`: `ll > 10 && authRequired(c)`).
pub(crate) const UNAUTHENTICATED_MAX_MULTIBULK_LEN: usize = 10;

/// Redis' bound on one bulk string of a client that must authenticate first.
pub(crate) const UNAUTHENTICATED_MAX_BULK_LEN: usize = 16 * 1024;
