//! Redis' conversion rules between replies and Lua values, both ways
//! (Redis 7.2 `script_lua.c`).
//!
//! A command's reply reaches Lua as the script's RESP version says
//! (`redis.setresp`, 2 by default): in RESP2 a map is a flat array, a
//! double a string, a boolean an integer; in RESP3 they are `{map=…}`,
//! `{double=…}` and Lua booleans. Nulls are `false` in RESP2 and `nil` in
//! RESP3. A status is `{ok=…}`, an error `{err=…}`.
//!
//! A script's return value becomes a [`Reply`]: strings bulk, numbers
//! integers (truncated), tables by their `err`, `ok`, `double`,
//! `big_number`, `verbatim_string`, `map` or `set` field, else arrays up to
//! the first nil; booleans as the script's RESP version says. The client's
//! own protocol is the encoder's business, as for every reply.

use bytes::Bytes;
use mlua::{Lua, Table, Value};
use redynamo_layers::Reply;

use crate::protocol::format_double;

/// Nesting deeper than this in a script's return value (a table that
/// contains itself) ends in `-ERR reached lua stack limit`, as Redis' does
/// when its Lua stack runs out.
const MAX_DEPTH: usize = 400;

/// A command's reply as the Lua value a script sees.
pub fn reply_to_lua(lua: &Lua, reply: &Reply, resp3: bool) -> mlua::Result<Value> {
    Ok(match reply {
        Reply::Simple(s) => {
            let t = lua.create_table()?;
            t.raw_set("ok", lua.create_string(s)?)?;
            Value::Table(t)
        }
        Reply::Error(e) => Value::Table(error_table(lua, e)?),
        Reply::Integer(n) => Value::Number(*n as f64),
        Reply::Bulk(b) => Value::String(lua.create_string(b)?),
        Reply::Verbatim(format, b) => {
            if resp3 {
                let inner = lua.create_table()?;
                inner.raw_set("string", lua.create_string(b)?)?;
                inner.raw_set("format", *format)?;
                let t = lua.create_table()?;
                t.raw_set("verbatim_string", inner)?;
                Value::Table(t)
            } else {
                Value::String(lua.create_string(b)?)
            }
        }
        Reply::Null | Reply::NullArray => {
            if resp3 {
                Value::Nil
            } else {
                Value::Boolean(false)
            }
        }
        Reply::Array(items) | Reply::Push(items) => array(lua, items, resp3)?,
        // Another server's bytes (the upstream proxy): seen as their tree.
        Reply::Encoded { .. } => {
            return reply_to_lua(lua, &crate::protocol::tree(reply.clone()), resp3)
        }
        Reply::Set(items) => {
            if resp3 {
                let set = lua.create_table()?;
                for item in items {
                    set.raw_set(reply_to_lua(lua, item, resp3)?, true)?;
                }
                let t = lua.create_table()?;
                t.raw_set("set", set)?;
                Value::Table(t)
            } else {
                array(lua, items, resp3)?
            }
        }
        Reply::Map(pairs) => {
            if resp3 {
                let map = lua.create_table()?;
                for (k, v) in pairs {
                    map.raw_set(reply_to_lua(lua, k, resp3)?, reply_to_lua(lua, v, resp3)?)?;
                }
                let t = lua.create_table()?;
                t.raw_set("map", map)?;
                Value::Table(t)
            } else {
                flat_pairs(lua, pairs, resp3)?
            }
        }
        Reply::Pairs(pairs) => {
            if resp3 {
                let t = lua.create_table_with_capacity(pairs.len(), 0)?;
                for (i, (a, b)) in pairs.iter().enumerate() {
                    let pair = lua.create_table_with_capacity(2, 0)?;
                    pair.raw_seti(1, reply_to_lua(lua, a, resp3)?)?;
                    pair.raw_seti(2, reply_to_lua(lua, b, resp3)?)?;
                    t.raw_seti(i + 1, pair)?;
                }
                Value::Table(t)
            } else {
                flat_pairs(lua, pairs, resp3)?
            }
        }
        Reply::Double(d) => {
            if resp3 {
                let t = lua.create_table()?;
                t.raw_set("double", *d)?;
                Value::Table(t)
            } else {
                Value::String(lua.create_string(format_double(*d))?)
            }
        }
        Reply::Bool(b) => {
            if resp3 {
                Value::Boolean(*b)
            } else {
                Value::Number(if *b { 1.0 } else { 0.0 })
            }
        }
    })
}

/// `{err = text}`, the text trimmed of line breaks at its ends, as
/// `luaPushErrorBuff` keeps it.
pub fn error_table(lua: &Lua, text: &[u8]) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.raw_set("err", lua.create_string(text.trim_ascii_end())?)?;
    Ok(t)
}

fn array(lua: &Lua, items: &[Reply], resp3: bool) -> mlua::Result<Value> {
    let t = lua.create_table_with_capacity(items.len(), 0)?;
    for (i, item) in items.iter().enumerate() {
        t.raw_seti(i + 1, reply_to_lua(lua, item, resp3)?)?;
    }
    Ok(Value::Table(t))
}

fn flat_pairs(lua: &Lua, pairs: &[(Reply, Reply)], resp3: bool) -> mlua::Result<Value> {
    let t = lua.create_table_with_capacity(pairs.len() * 2, 0)?;
    for (i, (a, b)) in pairs.iter().enumerate() {
        t.raw_seti(2 * i + 1, reply_to_lua(lua, a, resp3)?)?;
        t.raw_seti(2 * i + 2, reply_to_lua(lua, b, resp3)?)?;
    }
    Ok(Value::Table(t))
}

/// A script's return value as the reply its client gets. `resp3`: the
/// script's RESP version (`redis.setresp`), which decides booleans.
pub fn lua_to_reply(value: &Value, resp3: bool) -> Reply {
    to_reply(value, resp3, 0)
}

fn to_reply(value: &Value, resp3: bool, depth: usize) -> Reply {
    if depth > MAX_DEPTH {
        return Reply::static_error("ERR reached lua stack limit");
    }
    match value {
        Value::String(s) => Reply::Bulk(Bytes::copy_from_slice(&s.as_bytes())),
        Value::Boolean(b) => {
            if resp3 {
                Reply::Bool(*b)
            } else if *b {
                Reply::Integer(1)
            } else {
                Reply::Null
            }
        }
        Value::Integer(n) => Reply::Integer(*n),
        Value::Number(n) => Reply::Integer(number_to_i64(*n)),
        Value::Table(t) => table_to_reply(t, resp3, depth),
        _ => Reply::Null,
    }
}

/// C's `(long long)` of a Lua number as x86-64 computes it: truncation
/// toward zero, and the "integer indefinite" `i64::MIN` for NaN and
/// anything out of range (`return math.huge` gives that on Redis).
fn number_to_i64(n: f64) -> i64 {
    if n.is_nan() || !(-9_223_372_036_854_775_808.0..9_223_372_036_854_775_808.0).contains(&n) {
        return i64::MIN;
    }
    n as i64
}

fn table_to_reply(t: &Table, resp3: bool, depth: usize) -> Reply {
    if let Ok(Value::String(e)) = t.raw_get::<Value>("err") {
        return Reply::error(String::from_utf8_lossy(&e.as_bytes()).into_owned());
    }
    if let Ok(Value::String(ok)) = t.raw_get::<Value>("ok") {
        let text: Vec<u8> = ok
            .as_bytes()
            .iter()
            .map(|&b| if b == b'\r' || b == b'\n' { b' ' } else { b })
            .collect();
        return Reply::Simple(Bytes::from(text));
    }
    match t.raw_get::<Value>("double") {
        Ok(Value::Number(d)) => return Reply::Double(d),
        Ok(Value::Integer(d)) => return Reply::Double(d as f64),
        _ => {}
    }
    if let Ok(Value::String(n)) = t.raw_get::<Value>("big_number") {
        // No big-number reply type here: a RESP2 client sees a bulk
        // string either way; a RESP3 one sees a bulk instead of `(`.
        let text: Vec<u8> = n
            .as_bytes()
            .iter()
            .map(|&b| if b == b'\r' || b == b'\n' { b' ' } else { b })
            .collect();
        return Reply::Bulk(Bytes::from(text));
    }
    if let Ok(Value::Table(v)) = t.raw_get::<Value>("verbatim_string") {
        if let (Ok(Value::String(format)), Ok(Value::String(s))) =
            (v.raw_get::<Value>("format"), v.raw_get::<Value>("string"))
        {
            let format: &'static str = match &format.as_bytes()[..] {
                b"mkd" => "mkd",
                _ => "txt",
            };
            return Reply::Verbatim(format, Bytes::copy_from_slice(&s.as_bytes()));
        }
    }
    if let Ok(Value::Table(map)) = t.raw_get::<Value>("map") {
        let mut pairs = Vec::new();
        for (k, v) in map.pairs::<Value, Value>().flatten() {
            pairs.push((
                to_reply(&k, resp3, depth + 1),
                to_reply(&v, resp3, depth + 1),
            ));
        }
        return Reply::Map(pairs);
    }
    if let Ok(Value::Table(set)) = t.raw_get::<Value>("set") {
        let mut items = Vec::new();
        for (k, _) in set.pairs::<Value, Value>().flatten() {
            items.push(to_reply(&k, resp3, depth + 1));
        }
        return Reply::Set(items);
    }
    let mut items = Vec::new();
    for i in 1.. {
        match t.raw_get::<Value>(i) {
            Ok(Value::Nil) | Err(_) => break,
            Ok(v) => items.push(to_reply(&v, resp3, depth + 1)),
        }
    }
    Reply::Array(items)
}

/// A Lua number as a command argument: C's `%.17g`, as Redis formats it
/// (Lua's own `%.14g` would lose precision).
pub fn number_arg(n: f64) -> String {
    if n.is_nan() {
        return if n.is_sign_negative() { "-nan" } else { "nan" }.to_string();
    }
    if n.is_infinite() {
        return if n < 0.0 { "-inf" } else { "inf" }.to_string();
    }
    if n == 0.0 {
        return if n.is_sign_negative() { "-0" } else { "0" }.to_string();
    }
    format_g(n, 17)
}

/// C's `%.<precision>g` of a finite, non-zero `n`: `precision` significant
/// digits in scientific form, then laid out as %g does (trailing zeros
/// dropped; exponent form when the exponent is below -4 or not below
/// `precision`).
pub(crate) fn format_g(n: f64, precision: usize) -> String {
    let sci = format!("{:.*e}", precision - 1, n);
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let negative = mantissa.starts_with('-');
    let digits: String = mantissa.chars().filter(|c| c.is_ascii_digit()).collect();
    let mut out = String::new();
    if negative {
        out.push('-');
    }
    if !(-4..precision as i32).contains(&exp) {
        let (first, rest) = digits.split_at(1);
        let rest = rest.trim_end_matches('0');
        out.push_str(first);
        if !rest.is_empty() {
            out.push('.');
            out.push_str(rest);
        }
        out.push('e');
        out.push(if exp < 0 { '-' } else { '+' });
        out.push_str(&format!("{:02}", exp.abs()));
    } else if exp >= 0 {
        let point = exp as usize + 1;
        let (int, frac) = digits.split_at(point.min(digits.len()));
        out.push_str(int);
        let frac = frac.trim_end_matches('0');
        if !frac.is_empty() {
            out.push('.');
            out.push_str(frac);
        }
    } else {
        out.push_str("0.");
        for _ in 0..(-exp - 1) {
            out.push('0');
        }
        out.push_str(digits.trim_end_matches('0'));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_as_arguments_read_as_c_prints_them() {
        for (n, text) in [
            (3.0, "3"),
            (-42.0, "-42"),
            (3.5, "3.5"),
            (0.1, "0.10000000000000001"),
            (1e17, "1e+17"),
            (12345678901234567.0, "12345678901234568"),
            (1.5e-7, "1.4999999999999999e-07"),
            (0.0001, "0.0001"),
            (-0.5, "-0.5"),
            (f64::INFINITY, "inf"),
        ] {
            assert_eq!(number_arg(n), text, "{n}");
        }
    }
}
