//! SORT and SORT_RO: the elements of a list, set or sorted set, sorted
//! numerically or by bytes, by themselves or by other keys (`BY`), with
//! other keys' values fetched for each (`GET`), optionally stored as a list.
//!
//! Follows Redis' `sortCommandGeneric` step for step, so that the corner
//! cases agree: options are parsed before the key is looked up; `BY` a
//! pattern without `*` means "do not sort" (the container's own order,
//! which for a set that is stored is forced to an ALPHA sort so the result
//! is reproducible); LIMIT is clamped to the element count; a numeric sort
//! parses each weight as C's `strtod` does (an empty string is 0, trailing
//! garbage is an error) and breaks ties by comparing the elements' bytes;
//! a missing `BY` key weighs 0 (numeric) or sorts first (ALPHA); `GET #`
//! is the element itself, `GET key*->field` a hash field. Byte comparison
//! stands in for `strcoll`, which is the same in the C locale redis-server
//! runs with by default.

use bytes::Bytes;
use redynamo_layers::reply::errors;
use redynamo_layers::Reply;

use super::args::int_arg;
use super::keyspace::{Keyspace, Kind, Ks, WRONGTYPE};
use super::lists::End;
use super::notify::class::{GENERIC, LIST};

/// `SORT key [BY pattern] [LIMIT offset count] [GET pattern ...] [ASC |
/// DESC] [ALPHA] [STORE destination]`, and SORT_RO without STORE.
pub struct Sort<'a> {
    key: &'a [u8],
    by: Option<&'a [u8]>,
    dont_sort: bool,
    limit: (i64, i64),
    gets: Vec<&'a [u8]>,
    desc: bool,
    alpha: bool,
    store: Option<&'a [u8]>,
}

impl<'a> Sort<'a> {
    pub fn parse(a: &'a [Bytes], readonly: bool) -> Result<Sort<'a>, Reply> {
        let mut sort = Sort {
            key: &a[1],
            by: None,
            dont_sort: false,
            limit: (0, -1),
            gets: Vec::new(),
            desc: false,
            alpha: false,
            store: None,
        };
        let mut j = 2;
        while j < a.len() {
            let left = a.len() - j - 1;
            let opt = &a[j][..];
            if opt.eq_ignore_ascii_case(b"asc") {
                sort.desc = false;
            } else if opt.eq_ignore_ascii_case(b"desc") {
                sort.desc = true;
            } else if opt.eq_ignore_ascii_case(b"alpha") {
                sort.alpha = true;
            } else if opt.eq_ignore_ascii_case(b"limit") && left >= 2 {
                sort.limit = (int_arg(&a[j + 1])?, int_arg(&a[j + 2])?);
                j += 2;
            } else if !readonly && opt.eq_ignore_ascii_case(b"store") && left >= 1 {
                sort.store = Some(&a[j + 1]);
                j += 1;
            } else if opt.eq_ignore_ascii_case(b"by") && left >= 1 {
                sort.by = Some(&a[j + 1]);
                sort.dont_sort = !a[j + 1].contains(&b'*');
                j += 1;
            } else if opt.eq_ignore_ascii_case(b"get") && left >= 1 {
                sort.gets.push(&a[j + 1]);
                j += 1;
            } else {
                return Err(errors::SYNTAX);
            }
            j += 1;
        }
        Ok(sort)
    }

    pub fn apply<K: Keyspace>(mut self, ks: &mut K) -> Ks<Reply> {
        let kind = match ks.read(self.key)? {
            None => None,
            Some(h) if matches!(h.kind, Kind::List | Kind::Set | Kind::ZSet) => Some(h.kind),
            Some(_) => return Ok(WRONGTYPE),
        };
        if self.dont_sort && kind == Some(Kind::Set) && self.store.is_some() {
            // A set's own order is not reproducible: sort it by its bytes.
            self.dont_sort = false;
            self.alpha = true;
            self.by = None;
        }
        let len = match kind {
            None => 0,
            Some(Kind::List) => ks.list_len(self.key)?,
            Some(Kind::Set) => ks.set_len(self.key)?,
            Some(_) => ks.zset_len(self.key)?,
        } as i64;
        // LIMIT, clamped as Redis clamps it.
        let mut start = self.limit.0.clamp(0, len);
        let count = self.limit.1.clamp(-1, len);
        let mut end = if count < 0 { len } else { start + count - 1 };
        if start >= len {
            start = len - 1;
            end = len - 2;
        }
        if end >= len {
            end = len - 1;
        }
        // Load the elements: only the range when nothing is sorted and the
        // container has an order of its own.
        let ranged = self.dont_sort && matches!(kind, Some(Kind::List | Kind::ZSet));
        let mut elements: Vec<Sortable> = match kind {
            None => Vec::new(),
            Some(Kind::List) if ranged => {
                if end >= start {
                    let (from, to) = if self.desc {
                        (len - 1 - end, len - 1 - start)
                    } else {
                        (start, end)
                    };
                    let mut v = ks.list_range(self.key, from as usize, to as usize)?;
                    if self.desc {
                        v.reverse();
                    }
                    v.into_iter().map(Sortable::new).collect()
                } else {
                    Vec::new()
                }
            }
            Some(Kind::ZSet) if ranged => {
                if end >= start {
                    let (from, to) = if self.desc {
                        (len - 1 - end, len - start)
                    } else {
                        (start, end + 1)
                    };
                    ks.zset_range(self.key, from as usize, to as usize, self.desc)?
                        .into_iter()
                        .map(|(member, _)| Sortable::new(member))
                        .collect()
                } else {
                    Vec::new()
                }
            }
            Some(Kind::List) => ks
                .list_range(self.key, 0, usize::MAX)?
                .into_iter()
                .map(Sortable::new)
                .collect(),
            Some(Kind::Set) => ks
                .set_members(self.key)?
                .into_iter()
                .map(Sortable::new)
                .collect(),
            Some(_) => ks
                .zset_range(self.key, 0, usize::MAX, false)?
                .into_iter()
                .map(|(member, _)| Sortable::new(member))
                .collect(),
        };
        if ranged {
            end -= start;
            start = 0;
        }

        if !self.dont_sort {
            let mut conversion_error = false;
            for e in &mut elements {
                let weight = match self.by {
                    Some(pattern) => match lookup_by_pattern(ks, pattern, &e.element)? {
                        Some(w) => w,
                        None => continue,
                    },
                    None => e.element.clone(),
                };
                if self.alpha {
                    if self.by.is_some() {
                        e.by = Some(weight);
                    }
                } else {
                    match strtod(&weight) {
                        Some(score) => e.score = score,
                        None => conversion_error = true,
                    }
                }
            }
            if conversion_error {
                return Ok(Reply::static_error(
                    "ERR One or more scores can't be converted into double",
                ));
            }
            let (alpha, by, desc) = (self.alpha, self.by.is_some(), self.desc);
            elements.sort_by(|a, b| {
                let ord = if !alpha {
                    a.score
                        .partial_cmp(&b.score)
                        .unwrap_or(std::cmp::Ordering::Equal)
                        .then_with(|| a.element.cmp(&b.element))
                } else if by {
                    a.by.cmp(&b.by)
                } else {
                    a.element.cmp(&b.element)
                };
                if desc {
                    ord.reverse()
                } else {
                    ord
                }
            });
        }

        let picked = if end >= start {
            &elements[start as usize..=end as usize]
        } else {
            &elements[..0]
        };
        let mut out: Vec<Option<Bytes>> = Vec::new();
        for e in picked {
            if self.gets.is_empty() {
                out.push(Some(e.element.clone()));
            }
            for pattern in &self.gets {
                out.push(lookup_by_pattern(ks, pattern, &e.element)?);
            }
        }
        match self.store {
            None => Ok(Reply::Array(
                out.into_iter()
                    .map(|v| v.map_or(Reply::Null, Reply::Bulk))
                    .collect(),
            )),
            Some(dst) => {
                let n = out.len();
                let values: Vec<Bytes> = out.into_iter().map(Option::unwrap_or_default).collect();
                // The destination becomes the list, whatever it held; no
                // result deletes it.
                let existed = ks.delete(dst)?;
                if !values.is_empty() {
                    ks.list_push(dst, End::Back, &values)?;
                    ks.notify(LIST, "sortstore", dst);
                } else if existed {
                    ks.notify(GENERIC, "del", dst);
                }
                Ok(Reply::Integer(n as i64))
            }
        }
    }
}

/// One element and what it sorts by.
struct Sortable {
    element: Bytes,
    /// Numeric weight; 0 when the BY key is missing.
    score: f64,
    /// ALPHA weight from a BY key; None (sorts first) when missing.
    by: Option<Bytes>,
}

impl Sortable {
    fn new(element: Bytes) -> Sortable {
        Sortable {
            element,
            score: 0.0,
            by: None,
        }
    }
}

/// Redis' `lookupKeyByPattern`: `#` is the element itself; otherwise the
/// first `*` is replaced by the element and the key read — a string, or
/// with `->field` after the `*`, a hash's field. None when the pattern has
/// no `*`, the key is missing or of another type.
fn lookup_by_pattern<K: Keyspace>(
    ks: &mut K,
    pattern: &[u8],
    element: &Bytes,
) -> Ks<Option<Bytes>> {
    if pattern == b"#" {
        return Ok(Some(element.clone()));
    }
    let Some(star) = pattern.iter().position(|&b| b == b'*') else {
        return Ok(None);
    };
    let after = &pattern[star + 1..];
    let arrow = after
        .windows(2)
        .position(|w| w == b"->")
        .filter(|&at| at + 2 < after.len());
    let (postfix, field) = match arrow {
        Some(at) => (&after[..at], Some(&after[at + 2..])),
        None => (after, None),
    };
    let mut key = Vec::with_capacity(pattern.len() + element.len());
    key.extend_from_slice(&pattern[..star]);
    key.extend_from_slice(element);
    key.extend_from_slice(postfix);
    match field {
        None => Ok(match ks.read(&key)? {
            Some(h) if h.kind == Kind::String => Some(Bytes::copy_from_slice(h.value)),
            _ => None,
        }),
        Some(field) => match ks.read(&key)? {
            Some(h) if h.kind == Kind::Hash => ks.hash_get(&key, field),
            _ => Ok(None),
        },
    }
}

/// C's `strtod` as SORT uses it: leading spaces, then a number that must
/// reach the end; an empty string is 0; out of range and NaN are errors.
fn strtod(b: &[u8]) -> Option<f64> {
    let s = std::str::from_utf8(b).ok()?;
    let s = s.trim_start_matches([' ', '\t', '\n', '\r', '\x0b', '\x0c']);
    if s.is_empty() {
        return Some(0.0);
    }
    let v: f64 = s.parse().ok()?;
    if v.is_nan() {
        return None;
    }
    let lower = s.to_ascii_lowercase();
    let literal_inf = lower.trim_start_matches(['+', '-']).starts_with("inf");
    if v.is_infinite() && !literal_inf {
        return None; // ERANGE: overflow
    }
    let mantissa = lower.split('e').next().unwrap_or("");
    if (v == 0.0 || v.is_subnormal()) && mantissa.bytes().any(|c| (b'1'..=b'9').contains(&c)) {
        return None; // ERANGE: underflow
    }
    Some(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strtod_as_sort_reads_weights() {
        assert_eq!(strtod(b""), Some(0.0));
        assert_eq!(strtod(b"  3.5"), Some(3.5));
        assert_eq!(strtod(b"-2"), Some(-2.0));
        assert_eq!(strtod(b"1e3"), Some(1000.0));
        assert_eq!(strtod(b"inf"), Some(f64::INFINITY));
        assert_eq!(strtod(b"3 "), None);
        assert_eq!(strtod(b"abc"), None);
        assert_eq!(strtod(b"nan"), None);
        assert_eq!(strtod(b"1e400"), None);
        assert_eq!(strtod(b"1e-400"), None);
        assert_eq!(strtod(b"0.0"), Some(0.0));
    }
}
