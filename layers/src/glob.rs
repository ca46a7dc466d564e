//! Redis' glob-style pattern matching (`stringmatchlen`), used by KEYS and
//! SCAN MATCH and by ACL key and channel patterns: `*`, `?`, `[abc]`,
//! `[^abc]`, `[a-z]` and `\` escapes.

/// True when `text` matches `pattern`, byte for byte as Redis matches.
pub fn matches(pattern: &[u8], text: &[u8]) -> bool {
    // Redis bounds the recursion of nested stars; an iterative matcher with a
    // single backtrack point needs no bound and runs in O(p * t).
    let (mut p, mut t) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    loop {
        if p < pattern.len() {
            if pattern[p] == b'*' {
                while p < pattern.len() && pattern[p] == b'*' {
                    p += 1;
                }
                if p == pattern.len() {
                    return true;
                }
                star = Some((p, t));
                continue;
            }
            // How far the pattern advances when it matches one text byte.
            let advance = if t >= text.len() {
                None
            } else {
                match pattern[p] {
                    b'?' => Some(1),
                    b'[' => {
                        let (matched, next) = class(pattern, p + 1, text[t]);
                        matched.then_some(next - p)
                    }
                    b'\\' if p + 1 < pattern.len() => (pattern[p + 1] == text[t]).then_some(2),
                    c => (c == text[t]).then_some(1),
                }
            };
            if let Some(advance) = advance {
                p += advance;
                t += 1;
                continue;
            }
        } else if t == text.len() {
            return true;
        }
        // Mismatch: let the last star swallow one more byte, if there is one.
        match star {
            Some((sp, st)) if st < text.len() => {
                star = Some((sp, st + 1));
                p = sp;
                t = st + 1;
            }
            _ => return false,
        }
    }
}

/// Match `c` against the class starting after `[` at `i`; returns whether it
/// matched and the pattern index after the closing `]`.
fn class(pattern: &[u8], mut i: usize, c: u8) -> (bool, usize) {
    let negate = i < pattern.len() && pattern[i] == b'^';
    if negate {
        i += 1;
    }
    let mut matched = false;
    loop {
        if i >= pattern.len() {
            // Unterminated class: Redis treats the end of pattern as `]`.
            break;
        }
        match pattern[i] {
            b']' => {
                i += 1;
                break;
            }
            b'\\' if i + 1 < pattern.len() => {
                if pattern[i + 1] == c {
                    matched = true;
                }
                i += 2;
            }
            lo if i + 2 < pattern.len() && pattern[i + 1] == b'-' => {
                let hi = pattern[i + 2];
                let (lo, hi) = if lo > hi { (hi, lo) } else { (lo, hi) };
                if c >= lo && c <= hi {
                    matched = true;
                }
                i += 3;
            }
            b => {
                if b == c {
                    matched = true;
                }
                i += 1;
            }
        }
    }
    (matched != negate, i)
}

#[cfg(test)]
mod tests {
    use super::matches;

    #[test]
    fn redis_glob_cases() {
        assert!(matches(b"*", b""));
        assert!(matches(b"*", b"anything"));
        assert!(matches(b"h?llo", b"hello"));
        assert!(!matches(b"h?llo", b"hllo"));
        assert!(matches(b"h*llo", b"heeeello"));
        assert!(matches(b"h[ae]llo", b"hallo"));
        assert!(!matches(b"h[ae]llo", b"hillo"));
        assert!(matches(b"h[^e]llo", b"hallo"));
        assert!(!matches(b"h[^e]llo", b"hello"));
        assert!(matches(b"h[a-b]llo", b"hbllo"));
        assert!(matches(b"h[b-a]llo", b"hallo"));
        assert!(matches(b"h\\*llo", b"h*llo"));
        assert!(!matches(b"h\\*llo", b"hello"));
        assert!(matches(b"key:*:end", b"key:a:b:end"));
        assert!(!matches(b"key:*:end", b"key:a:b:en"));
        assert!(matches(b"*a*b*c*", b"xxaxxbxxcxx"));
        assert!(!matches(b"a", b"ab"));
        assert!(!matches(b"ab", b"a"));
    }
}
