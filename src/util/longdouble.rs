//! Redis' `long double` arithmetic (INCRBYFLOAT, HINCRBYFLOAT), reproduced
//! exactly.
//!
//! Redis parses both operands with `strtold`, adds them in the C `long
//! double` type, which on x86_64 is the x87 80-bit extended format (64-bit
//! significand with an explicit integer bit, 15-bit exponent, gradual
//! underflow), and prints the sum with `"%.17Lf"` before trimming trailing
//! zeros (`ld2string(…, LD_STR_HUMAN)` in `util.c`). Doing the same in
//! `f64` gives different text for ordinary inputs (`10.5 + 0.1`) and cannot
//! hold the values Redis can (`1e4000`), so this module computes what
//! glibc and the x87 unit compute:
//!
//! - [`LongDouble::parse`] is `string2ld`: glibc `strtold`'s grammar
//!   (decimal, hexadecimal `0x1.8p3`, `inf`/`infinity`, a sign) and its
//!   correctly rounded conversion, with Redis' rejections (leading space,
//!   trailing bytes, NaN, overflow, underflow to zero, 5 KiB and more);
//! - [`LongDouble::checked_add`] is the x87 `fadd`: the exact sum rounded once,
//!   to nearest with ties to even;
//! - [`LongDouble::to_human_string`] is `%.17Lf` (glibc prints the exact
//!   binary value's decimal expansion, rounded half to even) with Redis'
//!   trimming.
//!
//! [`incr_by_float`] is INCRBYFLOAT's whole computation. HINCRBYFLOAT
//! uses the same three steps with its own checks (an infinite increment is
//! "value is NaN or Infinity", a bad stored value "hash value is not a
//! float").
//!
//! Every step is exact integer arithmetic on the value `m × 2^q` (with
//! `num-bigint` where the numbers outgrow `u128`), followed by one
//! rounding, so the result is the one the hardware and libc produce, bit
//! for bit, for every input, including the ones near the format's limits.
//! The differential test (`tests/differential.rs`) checks that against a
//! real redis-server.

use num_bigint::BigUint;

/// Redis' `MAX_LONG_DOUBLE_CHARS`: `string2ld` refuses strings this long.
pub const MAX_LONG_DOUBLE_CHARS: usize = 5 * 1024;

/// The smallest exponent `q` of `m × 2^q`: the exponent of the least
/// significant significand bit of the subnormals (2^-16382 × 2^-63).
const Q_MIN: i64 = -16445;
/// The largest `q`: 2^16383 × 2^-63.
const Q_MAX: i64 = 16320;
/// Decimal digits printed after the point (`%.17Lf`).
const DECIMALS: u32 = 17;

/// An x87 extended-precision value: `±m × 2^q`, or an infinity. There is no
/// NaN: every operation that would produce one says so instead.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LongDouble {
    negative: bool,
    kind: Kind,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// `m × 2^q`, canonical: `m` has its top bit set, or `q == Q_MIN`
    /// (subnormals and zero).
    Finite {
        m: u64,
        q: i64,
    },
    Infinite,
}

/// What [`round`] did besides rounding: `strtold` reports these through
/// `errno`, and Redis rejects both.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Limit {
    Within,
    /// The magnitude exceeded the largest finite value: the result is ±inf.
    Overflow,
    /// A nonzero value rounded to zero.
    UnderflowToZero,
}

impl LongDouble {
    pub const ZERO: LongDouble = LongDouble {
        negative: false,
        kind: Kind::Finite { m: 0, q: Q_MIN },
    };

    /// The value of an integer (Redis' INT-encoded strings): exact, since
    /// the significand has 64 bits.
    pub fn from_i64(n: i64) -> LongDouble {
        let (value, _) = round(n < 0, BigUint::from(n.unsigned_abs()), 0, false);
        value
    }

    /// Parse `text` as Redis' `string2ld` does; None where Redis replies
    /// "value is not a valid float". `inf` and `-inf` are accepted (Redis
    /// accepts them; the sum is then refused as infinite), and so is a
    /// subnormal result, which `strtold` flags ERANGE.
    pub fn parse(text: &[u8]) -> Option<LongDouble> {
        if text.is_empty() || text.len() >= MAX_LONG_DOUBLE_CHARS {
            return None;
        }
        // `strtold` reads a C string and so stops at a NUL, but Redis also
        // checks that it consumed all `slen` bytes: a NUL anywhere refuses.
        if memchr::memchr(0, text).is_some() {
            return None;
        }
        let (negative, body) = match text[0] {
            b'-' => (true, &text[1..]),
            b'+' => (false, &text[1..]),
            _ => (false, text),
        };
        if body.eq_ignore_ascii_case(b"inf") || body.eq_ignore_ascii_case(b"infinity") {
            return Some(LongDouble {
                negative,
                kind: Kind::Infinite,
            });
        }
        let (value, range) = if body.len() > 2 && body[0] == b'0' && (body[1] | 0x20) == b'x' {
            parse_hex(negative, &body[2..])?
        } else {
            parse_decimal(negative, body)?
        };
        // `string2ld` rejects ERANGE results that are ±HUGE_VAL or zero;
        // a subnormal result (ERANGE too) is kept.
        match range {
            Limit::Within => Some(value),
            Limit::Overflow | Limit::UnderflowToZero => None,
        }
    }

    pub fn is_finite(&self) -> bool {
        matches!(self.kind, Kind::Finite { .. })
    }

    /// The x87 sum, rounded to nearest, ties to even; None for NaN
    /// (`inf + -inf`). Overflow gives an infinity, as the hardware does.
    pub fn checked_add(self, other: LongDouble) -> Option<LongDouble> {
        let (Kind::Finite { m: ma, q: qa }, Kind::Finite { m: mb, q: qb }) =
            (self.kind, other.kind)
        else {
            return match (self.kind, other.kind) {
                (Kind::Infinite, Kind::Infinite) if self.negative != other.negative => None,
                (Kind::Infinite, _) => Some(self),
                _ => Some(other),
            };
        };
        if ma == 0 && mb == 0 {
            // IEEE 754: -0 + -0 is -0, any other sum of zeros +0.
            return Some(LongDouble {
                negative: self.negative && other.negative,
                ..LongDouble::ZERO
            });
        }
        // The exact sum, on the grid of the smaller exponent.
        let q = qa.min(qb);
        let a = BigUint::from(ma) << (qa - q) as u64;
        let b = BigUint::from(mb) << (qb - q) as u64;
        let (negative, sum) = if self.negative == other.negative {
            (self.negative, a + b)
        } else if a >= b {
            (self.negative, a - b)
        } else {
            (other.negative, b - a)
        };
        if sum == BigUint::ZERO {
            // x - x is +0 when rounding to nearest.
            return Some(LongDouble::ZERO);
        }
        Some(round(negative, sum, q, false).0)
    }

    /// The text Redis stores for the value: `ld2string(…, LD_STR_HUMAN)`,
    /// which is `%.17Lf` with trailing zeros (and a trailing point)
    /// removed, and `-0` written `0`.
    pub fn to_human_string(&self) -> String {
        let (m, q) = match self.kind {
            Kind::Infinite if self.negative => return "-inf".to_string(),
            Kind::Infinite => return "inf".to_string(),
            Kind::Finite { m, q } => (m, q),
        };
        // The value times 10^17, rounded half to even, as an integer.
        let scaled = scaled_digits(m, q);
        let mut out = String::with_capacity(scaled.len() + 3);
        if self.negative {
            out.push('-');
        }
        let point = scaled.len().saturating_sub(DECIMALS as usize);
        if point == 0 {
            out.push('0');
        } else {
            out.push_str(&scaled[..point]);
        }
        out.push('.');
        for _ in scaled.len()..DECIMALS as usize {
            out.push('0');
        }
        out.push_str(&scaled[point..]);
        let kept = out.trim_end_matches('0').trim_end_matches('.').len();
        out.truncate(kept);
        if out == "-0" {
            out.remove(0);
        }
        out
    }
}

/// The decimal digits of `m × 2^q × 10^17`, rounded half to even.
fn scaled_digits(m: u64, q: i64) -> String {
    let ten17: u64 = 10u64.pow(DECIMALS);
    // m × 10^17 < 2^121: small exponents stay in u128.
    if (-127..0).contains(&q) {
        let n = m as u128 * ten17 as u128;
        let s = (-q) as u32;
        let (mut int, rem) = (n >> s, n & ((1u128 << s) - 1));
        let half = 1u128 << (s - 1);
        if rem > half || (rem == half && int & 1 == 1) {
            int += 1;
        }
        return int.to_string();
    }
    if (0..=6).contains(&q) {
        return ((m as u128 * ten17 as u128) << q).to_string();
    }
    let n = BigUint::from(m) * BigUint::from(ten17);
    if q > 0 {
        return (n << q as u64).to_string();
    }
    let s = (-q) as u64;
    let mut int = &n >> s;
    if n.bit(s - 1) && (int.bit(0) || n.trailing_zeros().is_some_and(|tz| tz < s - 1)) {
        int += 1u32;
    }
    int.to_string()
}

/// Round `(n + ε) × 2^e` (with `0 < ε < 1` when `sticky`, else `ε = 0`) to
/// the x87 format, to nearest with ties to even. With `sticky`, `n` must
/// have at least 66 bits, so that the bits below the result's last place
/// include a guard bit that `ε` cannot change.
fn round(negative: bool, n: BigUint, e: i64, sticky: bool) -> (LongDouble, Limit) {
    let finite = |m: u64, q: i64| LongDouble {
        negative,
        kind: Kind::Finite { m, q },
    };
    let bits = n.bits() as i64;
    if bits == 0 {
        debug_assert!(!sticky, "sticky needs a 66-bit n");
        return (finite(0, Q_MIN), Limit::Within);
    }
    debug_assert!(!sticky || bits >= 66, "sticky needs a 66-bit n");
    // The exponent of the result's last place: 64 significant bits, or
    // fewer once the value is below the normal range.
    let mut q = (e + bits - 64).max(Q_MIN);
    let shift = q - e;
    let mut m: u128 = if shift <= 0 {
        // The value fits: exact (and `sticky` is false, by the contract).
        let fits: u64 = (n << (-shift) as u64)
            .try_into()
            .expect("at most 64 significant bits");
        fits as u128
    } else {
        let s = shift as u64;
        let kept: u64 = (&n >> s).try_into().expect("at most 64 significant bits");
        let half = n.bit(s - 1);
        let below_half = sticky || n.trailing_zeros().is_some_and(|tz| tz < s - 1);
        let mut m = kept as u128;
        if half && (below_half || m & 1 == 1) {
            m += 1;
        }
        m
    };
    if m == 1u128 << 64 {
        m = 1 << 63;
        q += 1;
    }
    if q > Q_MAX {
        return (
            LongDouble {
                negative,
                kind: Kind::Infinite,
            },
            Limit::Overflow,
        );
    }
    if m == 0 {
        return (finite(0, Q_MIN), Limit::UnderflowToZero);
    }
    (finite(m as u64, q), Limit::Within)
}

/// The decimal digits of `text` from `*at` on (possibly none).
fn digits<'a>(text: &'a [u8], at: &mut usize, hex: bool) -> &'a [u8] {
    let start = *at;
    while *at < text.len() && (text[*at].is_ascii_digit() || (hex && text[*at].is_ascii_hexdigit()))
    {
        *at += 1;
    }
    &text[start..*at]
}

/// A mantissa `int[.frac]` with at least one digit, then an optional
/// exponent introduced by `marker`, and nothing after it. Returns the
/// digits (point removed), how many were after the point, and the
/// exponent, saturated far beyond any value that matters.
fn split_number(text: &[u8], hex: bool, marker: u8) -> Option<(Vec<u8>, i64, i64)> {
    let mut at = 0;
    let int = digits(text, &mut at, hex);
    let mut frac: &[u8] = &[];
    if text.get(at) == Some(&b'.') {
        at += 1;
        frac = digits(text, &mut at, hex);
    }
    if int.is_empty() && frac.is_empty() {
        return None;
    }
    let mut exponent: i64 = 0;
    if at < text.len() && (text[at] | 0x20) == marker {
        at += 1;
        let negative = match text.get(at) {
            Some(b'-') => {
                at += 1;
                true
            }
            Some(b'+') => {
                at += 1;
                false
            }
            _ => false,
        };
        let exp_digits = digits(text, &mut at, false);
        if exp_digits.is_empty() {
            // `strtold` leaves `e`/`p` without digits unconsumed: trailing
            // bytes, which Redis rejects.
            return None;
        }
        for &d in exp_digits {
            exponent = (exponent * 10 + (d - b'0') as i64).min(1_000_000_000);
        }
        if negative {
            exponent = -exponent;
        }
    }
    if at != text.len() {
        return None;
    }
    let mut all = Vec::with_capacity(int.len() + frac.len());
    all.extend_from_slice(int);
    all.extend_from_slice(frac);
    Some((all, frac.len() as i64, exponent))
}

/// The digits without their leading zeros.
fn significant(digits: &[u8]) -> &[u8] {
    let first = digits
        .iter()
        .position(|&d| d != b'0')
        .unwrap_or(digits.len());
    &digits[first..]
}

fn parse_decimal(negative: bool, text: &[u8]) -> Option<(LongDouble, Limit)> {
    let (all, frac_len, exponent) = split_number(text, false, b'e')?;
    let digits = significant(&all);
    if digits.is_empty() {
        return Some((round(negative, BigUint::ZERO, 0, false).0, Limit::Within));
    }
    // value = D × 10^x, and 10^(x + len - 1) <= value < 10^(x + len).
    let x = exponent - frac_len;
    let magnitude = x + digits.len() as i64;
    // The largest finite value is about 1.19e4932; half the smallest
    // subnormal about 1.82e-4951.
    if magnitude - 1 > 4932 {
        return Some(overflow(negative));
    }
    if magnitude < -4951 {
        return Some((
            round(negative, BigUint::ZERO, 0, false).0,
            Limit::UnderflowToZero,
        ));
    }
    let d = BigUint::parse_bytes(digits, 10)?;
    if x >= 0 {
        let n = d * BigUint::from(10u32).pow(x as u32);
        return Some(round(negative, n, 0, false));
    }
    // D / 10^-x: a quotient of at least 66 bits and a sticky remainder.
    let den = BigUint::from(10u32).pow((-x) as u32);
    let s = (66 + den.bits() as i64 - d.bits() as i64 + 1).max(0);
    let num = d << s as u64;
    let quotient = &num / &den;
    let exact = &quotient * &den == num;
    Some(round(negative, quotient, -s, !exact))
}

fn overflow(negative: bool) -> (LongDouble, Limit) {
    (
        LongDouble {
            negative,
            kind: Kind::Infinite,
        },
        Limit::Overflow,
    )
}

fn parse_hex(negative: bool, text: &[u8]) -> Option<(LongDouble, Limit)> {
    // `0x` without a hex digit after it is the number 0 followed by `x…`:
    // trailing bytes, rejected either way.
    let (all, frac_len, exponent) = split_number(text, true, b'p')?;
    let digits = significant(&all);
    if digits.is_empty() {
        return Some((round(negative, BigUint::ZERO, 0, false).0, Limit::Within));
    }
    let h = BigUint::parse_bytes(digits, 16)?;
    // value = H × 2^e, and 2^(e + bits - 1) <= value < 2^(e + bits).
    let e = exponent - 4 * frac_len;
    let top = e + h.bits() as i64;
    if top > 16384 {
        return Some(overflow(negative));
    }
    if top < Q_MIN - 1 {
        return Some((
            round(negative, BigUint::ZERO, 0, false).0,
            Limit::UnderflowToZero,
        ));
    }
    Some(round(negative, h, e, false))
}

/// INCRBYFLOAT's arithmetic on the stored text (None: no key) and the
/// increment: the text to store and reply with.
pub fn incr_by_float(current: Option<&[u8]>, increment: &[u8]) -> Result<String, FloatError> {
    let value = match current {
        Some(text) => LongDouble::parse(text).ok_or(FloatError::NotAFloat)?,
        None => LongDouble::ZERO,
    };
    let increment = LongDouble::parse(increment).ok_or(FloatError::NotAFloat)?;
    match value.checked_add(increment) {
        Some(sum) if sum.is_finite() => Ok(sum.to_human_string()),
        _ => Err(FloatError::NanOrInfinity),
    }
}

/// Why a float increment was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FloatError {
    /// `ERR value is not a valid float` (INCRBYFLOAT) / `ERR hash value is
    /// not a float` (HINCRBYFLOAT's stored value).
    #[error("value is not a valid float")]
    NotAFloat,
    /// `ERR increment would produce NaN or Infinity`.
    #[error("increment would produce NaN or Infinity")]
    NanOrInfinity,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn incr(current: &str, by: &str) -> Result<String, FloatError> {
        incr_by_float(Some(current.as_bytes()), by.as_bytes())
    }

    #[test]
    fn sums_as_redis_prints_them() {
        // Each expected text is what redis-server 7 on x86_64 replies.
        assert_eq!(incr("10.5", "0.1").unwrap(), "10.6");
        assert_eq!(incr("0.1", "0.2").unwrap(), "0.3");
        assert_eq!(incr("1", "-1.1").unwrap(), "-0.1");
        assert_eq!(incr("5.0e3", "2.0e2").unwrap(), "5200");
        assert_eq!(incr("0", "0x1p3").unwrap(), "8");
        assert_eq!(incr("3.0", "1e-30").unwrap(), "3");
        assert_eq!(incr("-1e-30", "0").unwrap(), "0");
        // 10^30 needs 70 bits: the nearest long double is printed exactly.
        assert_eq!(
            incr("1e30", "0").unwrap(),
            "1000000000000000000024696061952"
        );
        assert_eq!(incr("0", "0x1p-18").unwrap(), "0.00000381469726562");
        assert_eq!(incr("0", "0x3p-18").unwrap(), "0.00001144409179688");
        assert_eq!(
            incr("0", "0x1p63").unwrap(),
            "9223372036854775808",
            "2^63 is exact"
        );
    }

    #[test]
    fn refusals_as_redis() {
        for bad in [
            "",
            " 1",
            "1 ",
            "abc",
            "1e",
            "1e+",
            "0x",
            "0x1p",
            ".",
            "-",
            "nan",
            "NaN(1)",
            "1..2",
            "1e99999",
            "-1e5000",
            "1e-5000",
            "0x1p-16446",
            "infinit",
            "++1",
        ] {
            assert_eq!(incr("0", bad), Err(FloatError::NotAFloat), "{bad:?}");
        }
        assert_eq!(incr("0", "inf"), Err(FloatError::NanOrInfinity));
        assert_eq!(incr("inf", "-inf"), Err(FloatError::NanOrInfinity));
        assert_eq!(incr("1.1e4932", "1.1e4932"), Err(FloatError::NanOrInfinity));
        // `1.000…`: 5119 bytes are read, 5120 are refused.
        let long = format!("1.{}", "0".repeat(MAX_LONG_DOUBLE_CHARS - 2));
        assert_eq!(incr("0", &long), Err(FloatError::NotAFloat));
        assert_eq!(incr("0", &long[..long.len() - 1]).unwrap(), "1");
    }

    #[test]
    fn subnormals_and_limits() {
        // 0x3p-16447 rounds up to the smallest subnormal, which strtold
        // flags ERANGE but Redis keeps (it is not zero).
        let tiny = LongDouble::parse(b"0x3p-16447").unwrap();
        assert_eq!(tiny.kind, Kind::Finite { m: 1, q: Q_MIN });
        let max = LongDouble::parse(b"0xffffffffffffffffp16320").unwrap();
        assert_eq!(
            max.kind,
            Kind::Finite {
                m: u64::MAX,
                q: Q_MAX
            }
        );
        assert_eq!(
            max.checked_add(max),
            Some(LongDouble {
                negative: false,
                kind: Kind::Infinite
            })
        );
        assert_eq!(LongDouble::parse(b"0x1p16384"), None);
        assert_eq!(
            LongDouble::from_i64(i64::MIN).to_human_string(),
            i64::MIN.to_string()
        );
    }
}
