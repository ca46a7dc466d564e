//! The command decoder: bytes from a client into argument vectors.
//!
//! It follows Redis 7's `processInputBuffer`, `processMultibulkBuffer` and
//! `processInlineBuffer` (`networking.c`) so that a client sees the same
//! replies and the same errors:
//!
//! - a command starting with `*` is a multibulk `*<n>\r\n` followed by `n`
//!   bulk strings `$<len>\r\n<data>\r\n`; anything else is an inline line;
//! - a header line ends at the first `\r` that has one more byte after it
//!   (Redis does not check that this byte is `\n`), and the two bytes after
//!   bulk data are skipped unchecked, also as Redis does;
//! - numbers are parsed as `string2ll` does: optional `-`, no `+`, no
//!   leading zeros, no spaces, within `i64`;
//! - `*0` and negative counts are empty commands, skipped without a reply,
//!   and so are empty inline lines.
//!
//! One deliberate difference: Redis looks for line terminators with
//! `strchr`, which stops at a NUL byte, so a NUL inside a header or before
//! the `\n` of an inline line makes Redis wait for more input (until the
//! 64 KiB "too big" error). redynamo searches past NUL bytes; the inline
//! splitter still ends the line at the first NUL as `sdssplitargs` does.
//!
//! # Incremental by construction
//!
//! The decoder is called after every socket read. It never rescans what it
//! has already looked at: bulk strings are split out of the buffer as soon
//! as they are complete and kept in [`CommandDecoder::args`], the length of
//! a bulk whose header was read is kept in `bulk_len`, and a search for a
//! line terminator resumes where the previous one stopped (`scanned`). A
//! 100 MB value arriving in 16 KB reads or a million-argument `MSET` is
//! therefore decoded in time linear in its size.
//!
//! # Memory
//!
//! Arguments are zero-copy slices of the read buffer (`split_to().freeze()`).
//! Nothing is allocated in proportion to a declared length before the data
//! arrives:
//!
//! - the argument vector starts with at most 1024 slots (as Redis does) and
//!   grows as arguments arrive;
//! - while a bulk string of 32 KiB or more (Redis' `PROTO_MBULK_BIG_ARG`)
//!   is arriving, the buffer is grown ahead of the data by what has already
//!   arrived (at least 64 KiB), so it doubles and copying stays amortised
//!   linear; the last step allocates exactly the bytes the value still
//!   needs, so a 512 MiB value ends in a 512 MiB buffer rather than a 1 GiB
//!   one, and the finished argument is a slice of it without another copy.
//!
//! A client that declares `$536870912` and sends nothing makes the server
//! reserve 64 KiB, not 512 MiB; at any time the buffer is at most about
//! twice what arrived. The bytes not yet parsed (the read buffer, which
//! holds a big bulk string while it arrives) are bounded by
//! [`Limits::query_buffer_limit`](super::Limits::query_buffer_limit), as
//! Redis bounds `sdslen(querybuf)`; arguments already split out count
//! against `max_multibulk_len` and `max_bulk_len`, not that limit.

use bytes::{Buf, Bytes, BytesMut};

use super::inline::split_args;
use super::limits::{UNAUTHENTICATED_MAX_BULK_LEN, UNAUTHENTICATED_MAX_MULTIBULK_LEN};
use super::{Limits, ProtocolError};

/// Redis' `PROTO_MBULK_BIG_ARG`: from this size on, the buffer is grown
/// ahead of a bulk string's data rather than read by read.
const BIG_ARG: usize = 32 * 1024;

/// The least the buffer grows by, ahead of a big bulk string's data.
const MIN_BULK_RESERVE: usize = 64 * 1024;

/// Below this much spare room, the buffer is grown ahead of a big bulk
/// string's data.
const MIN_READ_SPACE: usize = 16 * 1024;

/// The most argument slots reserved before the arguments arrive (Redis
/// reserves `min(multibulklen, 1024)`).
const MAX_ARGS_PREALLOC: usize = 1024;

/// Parse state kept between reads.
#[derive(Debug, Default)]
pub(crate) struct CommandDecoder {
    /// Arguments of the multibulk command being received.
    pub(super) args: Vec<Bytes>,
    /// Bulk strings still expected for that command; 0 between commands.
    remaining: usize,
    /// Length of the bulk string whose `$<len>` line was consumed and whose
    /// data is awaited.
    bulk_len: Option<usize>,
    /// Bytes of the current command already consumed from the buffer
    /// (headers and data), reported by `pending_bytes` (the query buffer
    /// limit counts only the unparsed buffer, as Redis does).
    consumed: usize,
    /// How many bytes at the front of the buffer are known to hold no line
    /// terminator, so a header trickling in byte by byte is not rescanned.
    /// Reset whenever bytes are consumed.
    pub(super) scanned: usize,
}

/// What one look at the buffer found.
enum Step {
    /// A complete command.
    Command(Vec<Bytes>),
    /// A command with no arguments (`*0`, `*-1`, an empty inline line):
    /// consumed and skipped.
    Empty,
    /// More bytes are needed.
    Incomplete,
}

impl CommandDecoder {
    /// Bytes held for the command being received, not counting the buffer.
    pub(crate) fn pending_bytes(&self) -> usize {
        self.consumed
    }

    pub(crate) fn decode(
        &mut self,
        src: &mut BytesMut,
        limits: &Limits,
        authenticated: bool,
    ) -> Result<Option<Vec<Bytes>>, ProtocolError> {
        loop {
            let step = if self.remaining > 0 {
                self.bulk_strings(src, limits, authenticated)?
            } else if src.is_empty() {
                Step::Incomplete
            } else if src[0] == b'*' {
                self.multibulk_header(src, limits, authenticated)?
            } else {
                self.inline(src, limits)?
            };
            match step {
                Step::Command(args) => return Ok(Some(args)),
                Step::Empty => continue,
                Step::Incomplete => {
                    // What Redis counts: the bytes in the query buffer that
                    // are not parsed yet (`sdslen(c->querybuf)` after a
                    // read), which include a big bulk string arriving but
                    // not the arguments already split out. A 200,001-key
                    // DEL of 1.4 MB sent in ordinary reads passes a 1 MiB
                    // limit there, and so it does here.
                    if src.len() > limits.query_buffer_limit {
                        return Err(ProtocolError::QueryBufferLimit);
                    }
                    return Ok(None);
                }
            }
        }
    }

    /// `*<n>\r\n`: start a multibulk command.
    fn multibulk_header(
        &mut self,
        src: &mut BytesMut,
        limits: &Limits,
        authenticated: bool,
    ) -> Result<Step, ProtocolError> {
        if let Some((count, cr)) = quick_header(src) {
            let allowed = authenticated || count <= UNAUTHENTICATED_MAX_MULTIBULK_LEN as u64;
            if count > 0 && count <= limits.max_multibulk_len as u64 && allowed {
                self.consume(src, cr + 2);
                self.remaining = count as usize;
                self.args = Vec::with_capacity((count as usize).min(MAX_ARGS_PREALLOC));
                return self.bulk_strings(src, limits, authenticated);
            }
        }
        let Some(cr) =
            self.find_header_end(src, limits, "Protocol error: too big mbulk count string")?
        else {
            return Ok(Step::Incomplete);
        };
        let count = match parse_i64(&src[1..cr]) {
            Some(n) if n <= limits.max_multibulk_len as i64 => n,
            _ => {
                return Err(ProtocolError::protocol(
                    "Protocol error: invalid multibulk length",
                ))
            }
        };
        if count > UNAUTHENTICATED_MAX_MULTIBULK_LEN as i64 && !authenticated {
            return Err(ProtocolError::protocol(
                "Protocol error: unauthenticated multibulk length",
            ));
        }
        self.consume(src, cr + 2);
        if count <= 0 {
            self.consumed = 0;
            return Ok(Step::Empty);
        }
        // `count` is positive and at most `max_multibulk_len`.
        let count = count as usize;
        self.remaining = count;
        self.args = Vec::with_capacity(count.min(MAX_ARGS_PREALLOC));
        self.bulk_strings(src, limits, authenticated)
    }

    /// Read as many `$<len>\r\n<data>\r\n` as the buffer holds.
    fn bulk_strings(
        &mut self,
        src: &mut BytesMut,
        limits: &Limits,
        authenticated: bool,
    ) -> Result<Step, ProtocolError> {
        while self.remaining > 0 {
            let len = match self.bulk_len {
                Some(len) => len,
                None => {
                    let Some(len) = self.bulk_header(src, limits, authenticated)? else {
                        return Ok(Step::Incomplete);
                    };
                    len
                }
            };
            // `len` is at most `max_bulk_len`; saturate anyway in case
            // that limit was set to `usize::MAX`.
            let framed = len.saturating_add(2);
            if src.len() < framed {
                if len >= BIG_ARG {
                    grow_for_bulk(src, framed);
                }
                return Ok(Step::Incomplete);
            }
            let data = if len == 0 {
                Bytes::new()
            } else {
                src.split_to(len).freeze()
            };
            src.advance(2);
            self.consumed += framed;
            self.scanned = 0;
            self.args.push(data);
            self.bulk_len = None;
            self.remaining -= 1;
        }
        self.consumed = 0;
        Ok(Step::Command(std::mem::take(&mut self.args)))
    }

    /// `$<len>\r\n`: returns the checked length once the line is complete.
    fn bulk_header(
        &mut self,
        src: &mut BytesMut,
        limits: &Limits,
        authenticated: bool,
    ) -> Result<Option<usize>, ProtocolError> {
        if src.first() == Some(&b'$') {
            if let Some((len, cr)) = quick_header(src) {
                let allowed = authenticated || len <= UNAUTHENTICATED_MAX_BULK_LEN as u64;
                if len <= limits.max_bulk_len as u64 && allowed {
                    self.consume(src, cr + 2);
                    self.bulk_len = Some(len as usize);
                    return Ok(Some(len as usize));
                }
            }
        }
        let Some(cr) =
            self.find_header_end(src, limits, "Protocol error: too big bulk count string")?
        else {
            return Ok(None);
        };
        if src[0] != b'$' {
            return Err(ProtocolError::Protocol(format!(
                "Protocol error: expected '$', got '{}'",
                error_char(src[0])
            )));
        }
        let len = match parse_i64(&src[1..cr]) {
            Some(n) if n >= 0 && n as u64 <= limits.max_bulk_len as u64 => n as usize,
            _ => {
                return Err(ProtocolError::protocol(
                    "Protocol error: invalid bulk length",
                ))
            }
        };
        if len > UNAUTHENTICATED_MAX_BULK_LEN && !authenticated {
            return Err(ProtocolError::protocol(
                "Protocol error: unauthenticated bulk length",
            ));
        }
        self.consume(src, cr + 2);
        self.bulk_len = Some(len);
        Ok(Some(len))
    }

    /// Position of the `\r` ending the header line at the front of `src`,
    /// once the byte after it has arrived too. Like Redis, searches the
    /// whole buffer and complains about size only when no `\r` is there.
    fn find_header_end(
        &mut self,
        src: &BytesMut,
        limits: &Limits,
        too_big: &str,
    ) -> Result<Option<usize>, ProtocolError> {
        let from = self.scanned.min(src.len());
        match memchr::memchr(b'\r', &src[from..]) {
            Some(i) => {
                let cr = from + i;
                // Remember the `\r` itself: the next look starts there.
                self.scanned = cr;
                Ok((cr + 2 <= src.len()).then_some(cr))
            }
            None => {
                self.scanned = src.len();
                if src.len() > limits.max_inline_len {
                    return Err(ProtocolError::protocol(too_big));
                }
                Ok(None)
            }
        }
    }

    /// An inline command: one line ending in `\n`, split like `redis-cli`
    /// input.
    fn inline(&mut self, src: &mut BytesMut, limits: &Limits) -> Result<Step, ProtocolError> {
        let from = self.scanned.min(src.len());
        let Some(i) = memchr::memchr(b'\n', &src[from..]) else {
            self.scanned = src.len();
            if src.len() > limits.max_inline_len {
                return Err(ProtocolError::protocol(
                    "Protocol error: too big inline request",
                ));
            }
            return Ok(Step::Incomplete);
        };
        let newline = from + i;
        let line = src.split_to(newline + 1).freeze();
        self.scanned = 0;
        let end = if newline > 0 && line[newline - 1] == b'\r' {
            newline - 1
        } else {
            newline
        };
        let args = split_args(&line.slice(..end))
            .map_err(|_| ProtocolError::protocol("Protocol error: unbalanced quotes in request"))?;
        Ok(if args.is_empty() {
            Step::Empty
        } else {
            Step::Command(args)
        })
    }

    fn consume(&mut self, src: &mut BytesMut, n: usize) {
        src.advance(n);
        self.consumed += n;
        self.scanned = 0;
    }
}

/// Make room in `src` for a bulk string still arriving, whose data and
/// CRLF take `need` bytes from the front of `src` (see the module docs,
/// "Memory"). `src` holds only (the start of) that bulk string.
/// Most digits [`quick_header`] reads: any 18-digit number fits in a u64.
const QUICK_DIGITS: usize = 18;

/// The fast path for the common header: complete and well formed, that is
/// the type byte, 1 to 18 digits without a leading zero (or a lone `0`),
/// `\r` and one more byte. Returns the number and the index of the `\r`.
///
/// Anything else (a sign, a leading zero, a long or incomplete line, any
/// other byte) returns None and takes the general path, which gives
/// Redis' exact errors; this one only skips the line search and the
/// second pass over the digits for the headers every client sends.
#[inline]
fn quick_header(src: &[u8]) -> Option<(u64, usize)> {
    let end = src.len().min(QUICK_DIGITS + 1);
    let mut value: u64 = 0;
    let mut i = 1;
    while i < end && src[i].is_ascii_digit() {
        value = value * 10 + u64::from(src[i] - b'0');
        i += 1;
    }
    let digits = i - 1;
    let well_formed = digits > 0 && (digits == 1 || src[1] != b'0');
    (well_formed && i + 2 <= src.len() && src[i] == b'\r').then_some((value, i))
}

fn grow_for_bulk(src: &mut BytesMut, need: usize) {
    let missing = need - src.len();
    let spare = src.capacity() - src.len();
    if spare >= missing {
        return;
    }
    let step = src.len().max(MIN_BULK_RESERVE);
    if missing <= step {
        // The last growth for this bulk string: allocate exactly what it
        // needs (`BytesMut::reserve` would round up to a doubling, up to
        // twice the value's size) and copy what arrived, once.
        let mut exact = BytesMut::with_capacity(need);
        exact.extend_from_slice(src);
        *src = exact;
    } else if spare < MIN_READ_SPACE {
        // Nearly full: at least double, so copying stays amortised linear.
        // Since `missing` is more than `step`, this never reaches past the
        // bulk's end, and waiting until the buffer is nearly full keeps the
        // capacity within about twice what arrived.
        src.reserve(step);
    }
}

/// The byte as Redis' `%c` shows it in an error. Line breaks become spaces
/// (Redis' `addReplyErrorFormat` does the same so the reply stays one line).
/// A byte of 128 or more cannot be one `char` of a `String`: it is shown as
/// the Latin-1 character of that value, so the client sees two UTF-8 bytes
/// where Redis sends one.
fn error_char(b: u8) -> char {
    match b {
        b'\r' | b'\n' => ' ',
        _ => char::from(b),
    }
}

/// Redis' `string2ll`: an optional `-`, then `0` alone or a digit 1-9
/// followed by digits, within `i64`. No `+`, spaces or leading zeros.
pub(crate) fn parse_i64(s: &[u8]) -> Option<i64> {
    if s == b"0" {
        return Some(0);
    }
    let (negative, digits) = match s.split_first()? {
        (b'-', rest) => (true, rest),
        _ => (false, s),
    };
    match digits.first()? {
        b'1'..=b'9' => {}
        _ => return None,
    }
    let mut v: u64 = 0;
    for &b in digits {
        if !b.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add(u64::from(b - b'0'))?;
    }
    if negative {
        if v > i64::MAX as u64 + 1 {
            return None;
        }
        Some((v as i64).wrapping_neg())
    } else {
        i64::try_from(v).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::{parse_i64, quick_header};
    use proptest::prelude::*;

    proptest! {
        /// Whenever the fast path takes a header, the general path would
        /// have read the same line end and the same number.
        #[test]
        fn quick_header_agrees_with_the_general_path(
            line in prop::collection::vec(
                prop::sample::select(&b"*$0123456789-+\r\n x"[..]),
                0..24,
            ),
        ) {
            if let Some((value, cr)) = quick_header(&line) {
                let first_cr = line[1..].iter().position(|&b| b == b'\r').map(|i| i + 1);
                prop_assert_eq!(first_cr, Some(cr));
                prop_assert!(cr + 2 <= line.len());
                prop_assert_eq!(parse_i64(&line[1..cr]), Some(value as i64));
            }
        }
    }

    #[test]
    fn quick_header_takes_only_plain_complete_numbers() {
        assert_eq!(quick_header(b"*3\r\n$3"), Some((3, 2)));
        assert_eq!(quick_header(b"$0\r\n"), Some((0, 2)));
        assert_eq!(quick_header(b"$16\r\n"), Some((16, 3)));
        // Redis does not look at the byte after `\r`, nor does this.
        assert_eq!(quick_header(b"$7\rx"), Some((7, 2)));
        assert_eq!(
            quick_header(b"$999999999999999999\r\n"),
            Some((999_999_999_999_999_999, 19))
        );
        // Left to the general path, which knows Redis' errors and limits.
        for other in [
            &b"$"[..],
            b"$\r\n",
            b"$5",
            b"$5\r",
            b"$-1\r\n",
            b"$+1\r\n",
            b"$01\r\n",
            b"$1 \r\n",
            b"$1000000000000000000\r\n",
        ] {
            assert_eq!(
                quick_header(other),
                None,
                "{:?}",
                String::from_utf8_lossy(other)
            );
        }
    }

    #[test]
    fn string2ll_rules() {
        assert_eq!(parse_i64(b"0"), Some(0));
        assert_eq!(parse_i64(b"12"), Some(12));
        assert_eq!(parse_i64(b"-1"), Some(-1));
        assert_eq!(parse_i64(b"9223372036854775807"), Some(i64::MAX));
        assert_eq!(parse_i64(b"-9223372036854775808"), Some(i64::MIN));
        for bad in [
            &b""[..],
            b"-",
            b"-0",
            b"01",
            b"+1",
            b" 1",
            b"1 ",
            b"1a",
            b"9223372036854775808",
            b"-9223372036854775809",
            b"99999999999999999999999",
        ] {
            assert_eq!(parse_i64(bad), None, "{:?}", String::from_utf8_lossy(bad));
        }
    }
}
