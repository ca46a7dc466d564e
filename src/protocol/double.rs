//! Double to text, as Redis 7.2 prints it (`util.c: d2string`).
//!
//! Redis 7.2 prints a double the same way in RESP2 bulk strings, RESP3 `,`
//! replies and commands such as `INCRBYFLOAT` and `ZSCORE`:
//!
//! - `nan`, `inf`, `-inf`, `0` and `-0` literally;
//! - an integral value within ±2^62 as an integer, without a decimal point
//!   (`3`, `-1024`);
//! - anything else with the shortest digits that read back to the same
//!   value, laid out by fpconv's `emit_digits` (`deps/fpconv`): plain
//!   notation for decimal exponents from -6 (and for up to 7 trailing zeros
//!   of a large integer), otherwise scientific with an explicit exponent
//!   sign and no zero padding (`1e+19`, `1.5e-7`, `5e-324`).
//!
//! Redis finds the digits with Grisu2, which in rare cases (well under 1% of
//! doubles) emits one digit more than the shortest form; redynamo uses the
//! standard library's exact shortest digits, so those rare values print one
//! digit shorter than on Redis. Both read back to the same double.

use std::io::Write as _;

/// Longest text [`format_double`] produces: `-` + 17 digits + `.` +
/// `e-308` is 25 bytes; plain notation is at most 26 (`-0.000000` + 17).
pub(crate) const MAX_DOUBLE_LEN: usize = 32;

/// The text Redis 7.2 uses for `v` (see the module docs).
pub fn format_double(v: f64) -> String {
    let mut buf = [0u8; MAX_DOUBLE_LEN];
    let len = write_double(v, &mut buf);
    // Only ASCII digits, signs, '.', 'e', "inf" and "nan" are written.
    String::from_utf8_lossy(&buf[..len]).into_owned()
}

/// Write the text of `v` into `out`, returning its length. No allocation:
/// the encoder calls this for every double it sends.
pub(crate) fn write_double(v: f64, out: &mut [u8; MAX_DOUBLE_LEN]) -> usize {
    if v.is_nan() {
        return put(out, 0, b"nan");
    }
    if v.is_infinite() {
        return put(out, 0, if v < 0.0 { b"-inf" } else { b"inf" });
    }
    if v == 0.0 {
        return put(out, 0, if v.is_sign_negative() { b"-0" } else { b"0" });
    }
    // `double2ll`: Redis' bounds are (double)(±LLONG_MAX/2), which round to
    // ±2^62, so the cast below cannot saturate.
    const INT_BOUND: f64 = 4_611_686_018_427_387_904.0; // 2^62
    if (-INT_BOUND..=INT_BOUND).contains(&v) && v.fract() == 0.0 {
        let mut itoa = itoa::Buffer::new();
        return put(out, 0, itoa.format(v as i64).as_bytes());
    }

    // Shortest round-trip digits and the decimal exponent of the first digit,
    // from the standard library's `{:e}` (`-1.2345e-7`).
    let mut sci = [0u8; MAX_DOUBLE_LEN];
    let sci_len = {
        let mut cursor = &mut sci[..];
        // 17 digits, '.', sign, 'e', sign and 3 exponent digits fit in 32
        // bytes; a failed write would only truncate, never panic.
        let _ = write!(cursor, "{:e}", v.abs());
        MAX_DOUBLE_LEN - cursor.len()
    };
    let sci = &sci[..sci_len];
    let e_at = sci.iter().position(|&b| b == b'e').unwrap_or(sci.len());
    let mut digits = [0u8; 20];
    let mut ndigits = 0usize;
    for &b in &sci[..e_at] {
        if b.is_ascii_digit() && ndigits < digits.len() {
            digits[ndigits] = b;
            ndigits += 1;
        }
    }
    let exp10 = parse_exponent(sci.get(e_at + 1..).unwrap_or_default());
    let digits = &digits[..ndigits];

    let mut at = 0;
    if v < 0.0 {
        at = put(out, at, b"-");
    }
    at + emit_digits(digits, exp10, &mut out[at..])
}

/// fpconv's `emit_digits`: `digits` × 10^`k` where `k` is the exponent of
/// the last digit, laid out as Redis does.
fn emit_digits(digits: &[u8], exp10: i32, out: &mut [u8]) -> usize {
    let n = digits.len() as i32;
    let k = exp10 - (n - 1);
    let exp = exp10.abs();

    // Plain integer: at most 7 zeros appended.
    if k >= 0 && exp < n + 7 {
        let mut at = put(out, 0, digits);
        for _ in 0..k {
            at = put(out, at, b"0");
        }
        return at;
    }

    // Decimal without exponent.
    if k < 0 && (k > -7 || exp < 4) {
        let offset = n + k;
        if offset <= 0 {
            let mut at = put(out, 0, b"0.");
            for _ in 0..-offset {
                at = put(out, at, b"0");
            }
            return put(out, at, digits);
        }
        let (int, frac) = digits.split_at(offset as usize);
        let at = put(out, 0, int);
        let at = put(out, at, b".");
        return put(out, at, frac);
    }

    // Scientific: d[.ddd]e±x, the exponent unpadded.
    let mut at = put(out, 0, &digits[..1]);
    if digits.len() > 1 {
        at = put(out, at, b".");
        at = put(out, at, &digits[1..]);
    }
    at = put(out, at, if exp10 < 0 { b"e-" } else { b"e+" });
    let mut itoa = itoa::Buffer::new();
    put(out, at, itoa.format(exp).as_bytes())
}

fn parse_exponent(text: &[u8]) -> i32 {
    let (negative, digits) = match text.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, text),
    };
    let magnitude = digits
        .iter()
        .take_while(|b| b.is_ascii_digit())
        .fold(0i32, |acc, &b| {
            acc.saturating_mul(10).saturating_add(i32::from(b - b'0'))
        });
    if negative {
        -magnitude
    } else {
        magnitude
    }
}

/// Copy `bytes` to `out[at..]`, returning the new end. Callers stay within
/// [`MAX_DOUBLE_LEN`]; anything past it is dropped rather than panicking.
fn put(out: &mut [u8], at: usize, bytes: &[u8]) -> usize {
    let end = (at + bytes.len()).min(out.len());
    if at < end {
        out[at..end].copy_from_slice(&bytes[..end - at]);
    }
    end
}

#[cfg(test)]
mod tests {
    use super::format_double;

    #[test]
    fn specials() {
        assert_eq!(format_double(f64::NAN), "nan");
        assert_eq!(format_double(f64::INFINITY), "inf");
        assert_eq!(format_double(f64::NEG_INFINITY), "-inf");
        assert_eq!(format_double(0.0), "0");
        assert_eq!(format_double(-0.0), "-0");
    }

    #[test]
    fn integers_have_no_decimal_point() {
        assert_eq!(format_double(3.0), "3");
        assert_eq!(format_double(-1024.0), "-1024");
        assert_eq!(format_double(1e15), "1000000000000000");
        // 2^62 is the last value printed through the integer path.
        assert_eq!(format_double(4611686018427387904.0), "4611686018427387904");
        assert_eq!(
            format_double(-4611686018427387904.0),
            "-4611686018427387904"
        );
    }

    #[test]
    fn fractions() {
        assert_eq!(format_double(1.5), "1.5");
        assert_eq!(format_double(-0.1), "-0.1");
        assert_eq!(format_double(0.0001), "0.0001");
        assert_eq!(format_double(0.000001), "0.000001");
        assert_eq!(format_double(123456.789), "123456.789");
        assert_eq!(format_double(3.125), "3.125");
        assert_eq!(format_double(0.3), "0.3");
        assert_eq!(format_double(1.0 / 3.0), "0.3333333333333333");
        assert_eq!(format_double(2.0 / 3.0), "0.6666666666666666");
        // exp < 4 keeps plain notation however many digits follow.
        assert_eq!(format_double(1234.5678901234), "1234.5678901234");
    }

    #[test]
    fn scientific_like_fpconv() {
        assert_eq!(format_double(1e-7), "1e-7");
        assert_eq!(format_double(1.5e-7), "1.5e-7");
        assert_eq!(format_double(1e19), "1e+19");
        assert_eq!(format_double(-2.5e100), "-2.5e+100");
        assert_eq!(format_double(1e300), "1e+300");
        assert_eq!(format_double(5e-324), "5e-324");
        assert_eq!(format_double(f64::MAX), "1.7976931348623157e+308");
        assert_eq!(format_double(f64::MIN_POSITIVE), "2.2250738585072014e-308");
        // Four or more integer digits with a fraction past 10^-6 go
        // scientific, an fpconv quirk Redis 7.2 shows (`ZSCORE`).
        assert_eq!(format_double(12345.678901234567), "1.2345678901234567e+4");
    }

    #[test]
    fn large_integers_beyond_2_pow_62() {
        // 2^62 + 1024: shortest digits with 3 trailing zeros, plain layout.
        assert_eq!(format_double(4611686018427388928.0), "4611686018427389000");
        assert_eq!(format_double(9e18), "9e+18");
        assert_eq!(format_double(1e26), "1e+26");
    }

    #[test]
    fn reads_back_to_the_same_value() {
        for v in [
            0.1,
            -7.25e-5,
            1e-300,
            6.02214076e23,
            9007199254740993.0,
            123.456e10,
            f64::EPSILON,
        ] {
            let text = format_double(v);
            assert_eq!(text.parse::<f64>().ok(), Some(v), "{text}");
        }
    }
}
