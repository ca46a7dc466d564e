//! Reading a redis.conf as redis-server does: lines split into arguments
//! by `sdssplitargs`' rules (double quotes with `\n`, `\xHH` … escapes,
//! single quotes), `#` comments, `include` (globs included), and the
//! memory units of `memtoll` (`64mb`, `1gb`, `100k`).
//!
//! Relative `include` paths are resolved as Redis resolves them: against
//! the working directory, which a `dir` line read earlier changes (Redis
//! `chdir`s while it reads the file).

use std::path::{Path, PathBuf};

use super::ConfigError;

/// One directive line: where it came from and its arguments, the name
/// lower-cased.
#[derive(Clone, Debug)]
pub struct Line {
    pub path: PathBuf,
    /// 1-based.
    pub number: usize,
    /// The line as written (trimmed), for error messages.
    pub text: String,
    pub args: Vec<String>,
}

impl Line {
    /// The start-up error for this line: one line, naming the file and
    /// line number, the line and what is wrong with it (the pieces of
    /// Redis' `*** FATAL CONFIG FILE ERROR ***` block).
    pub fn error(&self, why: impl std::fmt::Display) -> ConfigError {
        ConfigError::Line {
            path: self.path.clone(),
            line: self.number,
            message: format!(">>> '{}': {why}", self.text),
        }
    }
}

/// Includes nested deeper than this are an error (Redis would recurse
/// until its stack overflows on a file that includes itself).
const MAX_INCLUDE_DEPTH: usize = 16;

/// Every directive of `path` and the files it includes, in order.
pub fn read(path: &Path) -> Result<Vec<Line>, ConfigError> {
    let mut out = Vec::new();
    let mut cwd = std::env::current_dir().unwrap_or_default();
    read_into(path, &mut cwd, 0, &mut out)?;
    Ok(out)
}

fn read_into(
    path: &Path,
    cwd: &mut PathBuf,
    depth: usize,
    out: &mut Vec<Line>,
) -> Result<(), ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_owned(),
        source,
    })?;
    for (i, raw) in text.split('\n').enumerate() {
        let trimmed = raw.trim_matches([' ', '\t', '\r', '\n']);
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let mut line = Line {
            path: path.to_owned(),
            number: i + 1,
            text: trimmed.to_string(),
            args: Vec::new(),
        };
        let Some(mut args) = split_args(trimmed) else {
            return Err(line.error("Unbalanced quotes in configuration line"));
        };
        if args.is_empty() {
            continue;
        }
        args[0].make_ascii_lowercase();
        line.args = args;
        match (line.args[0].as_str(), line.args.len()) {
            ("include", 2) => {
                if depth >= MAX_INCLUDE_DEPTH {
                    return Err(line.error("includes nested too deep (a loop?)"));
                }
                for file in include_targets(&cwd.join(&line.args[1])) {
                    read_into(&file, cwd, depth + 1, out)?;
                }
            }
            ("dir", 2) => {
                *cwd = cwd.join(&line.args[1]);
                out.push(line);
            }
            _ => out.push(line),
        }
    }
    Ok(())
}

/// The files an `include` names: the path itself, or with a wildcard in
/// its last component (`conf.d/*.conf`) the matching files in name
/// order, none being no error (an empty conf.d), as in Redis.
fn include_targets(path: &Path) -> Vec<PathBuf> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if !name.contains(['*', '?', '[']) {
        return vec![path.to_owned()];
    }
    let dir = path.parent().unwrap_or(Path::new("."));
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .filter(|e| crate::util::glob::matches(name.as_bytes(), e.file_name().as_encoded_bytes()))
        .map(|e| e.path())
        .collect();
    files.sort();
    files
}

/// `sdssplitargs`: arguments separated by blanks; `"…"` with C escapes
/// (`\n \r \t \b \a \\ \" \xHH`), `'…'` with `\'` only. A closing quote
/// must be followed by a blank or the end. None when quotes are unbalanced.
pub fn split_args(line: &str) -> Option<Vec<String>> {
    let b = line.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    loop {
        while i < b.len() && b[i].is_ascii_whitespace() {
            i += 1;
        }
        if i >= b.len() {
            return Some(out);
        }
        let mut cur = Vec::new();
        let (mut inq, mut insq) = (false, false);
        loop {
            if inq {
                let c = *b.get(i)?;
                if c == b'\\'
                    && i + 3 < b.len()
                    && b[i + 1] == b'x'
                    && b[i + 2].is_ascii_hexdigit()
                    && b[i + 3].is_ascii_hexdigit()
                {
                    let hex = std::str::from_utf8(&b[i + 2..i + 4]).ok()?;
                    cur.push(u8::from_str_radix(hex, 16).ok()?);
                    i += 3;
                } else if c == b'\\' && i + 1 < b.len() {
                    i += 1;
                    cur.push(match b[i] {
                        b'n' => b'\n',
                        b'r' => b'\r',
                        b't' => b'\t',
                        b'b' => 8,
                        b'a' => 7,
                        other => other,
                    });
                } else if c == b'"' {
                    if i + 1 < b.len() && !b[i + 1].is_ascii_whitespace() {
                        return None;
                    }
                    inq = false;
                    i += 1;
                    break;
                } else {
                    cur.push(c);
                }
            } else if insq {
                let c = *b.get(i)?;
                if c == b'\\' && i + 1 < b.len() && b[i + 1] == b'\'' {
                    i += 1;
                    cur.push(b'\'');
                } else if c == b'\'' {
                    if i + 1 < b.len() && !b[i + 1].is_ascii_whitespace() {
                        return None;
                    }
                    insq = false;
                    i += 1;
                    break;
                } else {
                    cur.push(c);
                }
            } else {
                match b.get(i) {
                    None => break,
                    Some(c) if c.is_ascii_whitespace() => break,
                    Some(b'"') => inq = true,
                    Some(b'\'') => insq = true,
                    Some(&c) => cur.push(c),
                }
            }
            i += 1;
        }
        debug_assert!(!inq && !insq);
        out.push(String::from_utf8_lossy(&cur).into_owned());
    }
}

/// `memtoll`: a byte count with an optional unit, `k`/`m`/`g` (powers of
/// 1000) or `kb`/`mb`/`gb` (powers of 1024), case-insensitive.
pub fn parse_memory(value: &str) -> Option<u64> {
    let lower = value.to_ascii_lowercase();
    let digits = lower.trim_end_matches(|c: char| c.is_ascii_alphabetic());
    let mul: u64 = match &lower[digits.len()..] {
        "" | "b" => 1,
        "k" => 1000,
        "kb" => 1024,
        "m" => 1000 * 1000,
        "mb" => 1024 * 1024,
        "g" => 1000 * 1000 * 1000,
        "gb" => 1024 * 1024 * 1024,
        _ => return None,
    };
    digits.parse::<u64>().ok()?.checked_mul(mul)
}

/// A byte count as `CONFIG REWRITE` writes it (`rewriteConfigFormatMemory`):
/// `1gb`, `64mb`, `4kb` when it divides evenly, else plain.
pub fn format_memory(bytes: u64) -> String {
    const KB: u64 = 1024;
    match bytes {
        0 => "0".into(),
        b if b % (KB * KB * KB) == 0 => format!("{}gb", b / (KB * KB * KB)),
        b if b % (KB * KB) == 0 => format!("{}mb", b / (KB * KB)),
        b if b % KB == 0 => format!("{}kb", b / KB),
        b => b.to_string(),
    }
}

/// `sdscatrepr`: `s` in double quotes, with `\\ \" \n \r \t \a \b` escaped
/// and other bytes that are not printable as `\xHH` (lower-case hex), as
/// Redis writes strings in CONFIG REWRITE and MONITOR.
pub fn repr(s: &[u8]) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for &c in s {
        match c {
            b'\\' => out.push_str("\\\\"),
            b'"' => out.push_str("\\\""),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            b'\t' => out.push_str("\\t"),
            7 => out.push_str("\\a"),
            8 => out.push_str("\\b"),
            c if c.is_ascii_graphic() || c == b' ' => out.push(c as char),
            c => out.push_str(&format!("\\x{c:02x}")),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_as_sdssplitargs() {
        let s = |l: &str| split_args(l);
        assert_eq!(
            s("save 900 1"),
            Some(vec!["save".into(), "900".into(), "1".into()])
        );
        assert_eq!(
            s(r#"a "b c" 'd e'"#),
            Some(vec!["a".into(), "b c".into(), "d e".into()])
        );
        assert_eq!(
            s(r#"x "" "\x41\n""#),
            Some(vec!["x".into(), "".into(), "A\n".into()])
        );
        assert_eq!(s(r#"x 'it\'s'"#), Some(vec!["x".into(), "it's".into()]));
        assert_eq!(s(r#"x "open"#), None);
        assert_eq!(s(r#"x "a"b"#), None);
        assert_eq!(s("   "), Some(vec![]));
    }

    #[test]
    fn memory_units_as_memtoll() {
        assert_eq!(parse_memory("64mb"), Some(64 << 20));
        assert_eq!(parse_memory("1GB"), Some(1 << 30));
        assert_eq!(parse_memory("100k"), Some(100_000));
        assert_eq!(parse_memory("12"), Some(12));
        assert_eq!(parse_memory("12x"), None);
        assert_eq!(format_memory(512 << 20), "512mb");
        assert_eq!(format_memory(1 << 30), "1gb");
        assert_eq!(format_memory(1000), "1000");
    }

    #[test]
    fn repr_as_sdscatrepr() {
        assert_eq!(repr(b"a b"), "\"a b\"");
        assert_eq!(repr(b"\x01\"\n\\"), "\"\\x01\\\"\\n\\\\\"");
        assert_eq!(repr("é".as_bytes()), "\"\\xc3\\xa9\"");
    }
}
