//! Splitting an inline command line into arguments, as Redis'
//! `sdssplitargs` does.
//!
//! Inline commands are what a person types into `telnet` or `nc`:
//! `set "a b" 'c d'`. The rules, byte for byte those of `sds.c`:
//!
//! - arguments are separated by whitespace (`isspace`: space, `\t`, `\n`,
//!   `\v`, `\f`, `\r`), but an unquoted argument ends only at space, `\t`,
//!   `\n` or `\r`, so `a\vb` is one argument;
//! - double quotes allow the escapes `\n \r \t \b \a` and `\xHH`; a
//!   backslash before any other byte yields that byte (`\"`, `\\`);
//! - single quotes allow only `\'`;
//! - a quote may open in the middle of an argument (`a"b c"` is `ab c`),
//!   but a closing quote must be followed by whitespace or the end of the
//!   line;
//! - the line ends at its first NUL byte, because `sdssplitargs` reads a C
//!   string.
//!
//! An argument without quotes is a zero-copy slice of the line; only quoted
//! arguments are copied.

use bytes::Bytes;

/// The quotes did not balance, or a closing quote was followed by something
/// other than whitespace. Redis answers both with "unbalanced quotes".
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct UnbalancedQuotes;

/// Split `line` (without its line terminator) into arguments.
pub(crate) fn split_args(line: &Bytes) -> Result<Vec<Bytes>, UnbalancedQuotes> {
    let end = memchr::memchr(0, line).unwrap_or(line.len());
    let s = &line[..end];
    // `at(i)` reads like the C code's `*(p+i)`: past the end is the NUL.
    let at = |i: usize| s.get(i).copied().unwrap_or(0);

    let mut args = Vec::new();
    let mut i = 0;
    loop {
        while i < s.len() && is_c_space(s[i]) {
            i += 1;
        }
        if i >= s.len() {
            return Ok(args);
        }

        let start = i;
        // Set once a quote is seen: from then on the argument differs from
        // the raw bytes and is built here.
        let mut owned: Option<Vec<u8>> = None;
        let (mut in_double, mut in_single) = (false, false);
        let token_end;
        loop {
            let c = at(i);
            if in_double {
                let buf = owned.get_or_insert_with(Vec::new);
                if c == b'\\' && at(i + 1) == b'x' && is_hex(at(i + 2)) && is_hex(at(i + 3)) {
                    buf.push(hex_value(at(i + 2)) * 16 + hex_value(at(i + 3)));
                    i += 3;
                } else if c == b'\\' && at(i + 1) != 0 {
                    i += 1;
                    buf.push(match at(i) {
                        b'n' => b'\n',
                        b'r' => b'\r',
                        b't' => b'\t',
                        b'b' => 0x08,
                        b'a' => 0x07,
                        other => other,
                    });
                } else if c == b'"' {
                    if at(i + 1) != 0 && !is_c_space(at(i + 1)) {
                        return Err(UnbalancedQuotes);
                    }
                    token_end = i;
                    i += 1;
                    break;
                } else if c == 0 {
                    return Err(UnbalancedQuotes);
                } else {
                    buf.push(c);
                }
            } else if in_single {
                let buf = owned.get_or_insert_with(Vec::new);
                if c == b'\\' && at(i + 1) == b'\'' {
                    i += 1;
                    buf.push(b'\'');
                } else if c == b'\'' {
                    if at(i + 1) != 0 && !is_c_space(at(i + 1)) {
                        return Err(UnbalancedQuotes);
                    }
                    token_end = i;
                    i += 1;
                    break;
                } else if c == 0 {
                    return Err(UnbalancedQuotes);
                } else {
                    buf.push(c);
                }
            } else {
                match c {
                    b' ' | b'\n' | b'\r' | b'\t' | 0 => {
                        token_end = i;
                        if c != 0 {
                            i += 1;
                        }
                        break;
                    }
                    b'"' | b'\'' => {
                        owned.get_or_insert_with(|| s[start..i].to_vec());
                        in_double = c == b'"';
                        in_single = c == b'\'';
                    }
                    _ => {
                        if let Some(buf) = owned.as_mut() {
                            buf.push(c);
                        }
                    }
                }
            }
            if at(i) != 0 {
                i += 1;
            }
        }
        args.push(match owned {
            Some(bytes) => Bytes::from(bytes),
            None => line.slice(start..token_end),
        });
    }
}

/// C's `isspace` in the "C" locale.
fn is_c_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

fn is_hex(b: u8) -> bool {
    b.is_ascii_hexdigit()
}

fn hex_value(b: u8) -> u8 {
    match b {
        b'0'..=b'9' => b - b'0',
        b'a'..=b'f' => b - b'a' + 10,
        b'A'..=b'F' => b - b'A' + 10,
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::{split_args, UnbalancedQuotes};
    use bytes::Bytes;

    fn split(line: &[u8]) -> Result<Vec<Vec<u8>>, UnbalancedQuotes> {
        split_args(&Bytes::copy_from_slice(line))
            .map(|args| args.into_iter().map(|a| a.to_vec()).collect())
    }

    fn ok(line: &[u8], want: &[&[u8]]) {
        let want: Vec<Vec<u8>> = want.iter().map(|a| a.to_vec()).collect();
        assert_eq!(split(line), Ok(want), "{:?}", String::from_utf8_lossy(line));
    }

    #[test]
    fn whitespace_separates() {
        ok(b"PING", &[b"PING"]);
        ok(b"  set   k \t v  ", &[b"set", b"k", b"v"]);
        ok(b"", &[]);
        ok(b" \t\x0b\x0c ", &[]);
        // \v and \f separate only before an argument, not inside one.
        ok(b"a\x0bb", &[b"a\x0bb"]);
    }

    #[test]
    fn quotes() {
        ok(b"set \"a b\" 'c d'", &[b"set", b"a b", b"c d"]);
        ok(b"\"\\x41\"", &[b"A"]);
        ok(b"\"\\x4a\\x4A\"", &[b"JJ"]);
        ok(b"\"\\xZZ\"", &[b"xZZ"]);
        ok(b"\"a\\n\\r\\t\\b\\a\\\\\\\"z\"", &[b"a\n\r\t\x08\x07\\\"z"]);
        ok(b"\"\\q\"", &[b"q"]);
        ok(b"'it\\'s' 'a\\nb'", &[b"it's", b"a\\nb"]);
        ok(b"\"\" ''", &[b"", b""]);
        ok(b"a\"b c\"", &[b"ab c"]);
        ok(b"\"a\"\tb", &[b"a", b"b"]);
    }

    #[test]
    fn unbalanced_quotes() {
        assert_eq!(split(b"set \"a b"), Err(UnbalancedQuotes));
        assert_eq!(split(b"set 'a b"), Err(UnbalancedQuotes));
        assert_eq!(split(b"\"a\"b"), Err(UnbalancedQuotes));
        assert_eq!(split(b"'a'b"), Err(UnbalancedQuotes));
        assert_eq!(split(b"\"a\\\""), Err(UnbalancedQuotes));
    }

    #[test]
    fn line_ends_at_nul() {
        ok(b"set a b\0c d", &[b"set", b"a", b"b"]);
        assert_eq!(split(b"\"a\0\""), Err(UnbalancedQuotes));
        ok(b"\"a\"\0x", &[b"a"]);
    }

    #[test]
    fn plain_arguments_are_zero_copy() {
        let line = Bytes::from_static(b"get key");
        let args = split_args(&line).expect("balanced");
        assert_eq!(args[1].as_ptr(), line[4..].as_ptr());
    }
}
