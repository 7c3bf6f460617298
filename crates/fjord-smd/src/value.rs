//! Value semantics shared by every walker: structured-merge-diff compares numbers numerically
//! (`3 == 3.0`), orders values of mixed kinds totally (so set items and keys can be sorted), and
//! renders values as Go's `encoding/json` does (the bytes inside `k:`/`v:` path elements).

use serde_json::{Map, Number, Value};
use std::cmp::Ordering;
use std::fmt::Write;

/// The kind of a JSON value as the schema walkers see it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Kind {
    Null,
    Bool,
    Number,
    String,
    List,
    Map,
}

pub(crate) fn kind(v: &Value) -> Kind {
    match v {
        Value::Null => Kind::Null,
        Value::Bool(_) => Kind::Bool,
        Value::Number(_) => Kind::Number,
        Value::String(_) => Kind::String,
        Value::Array(_) => Kind::List,
        Value::Object(_) => Kind::Map,
    }
}

fn as_f64(n: &Number) -> f64 {
    n.as_f64().unwrap_or(0.0)
}

fn is_float(n: &Number) -> bool {
    n.is_f64()
}

/// Numeric-aware deep equality (`value.Equals`): an int and a float are equal when their values are.
pub(crate) fn equals(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Null, Value::Null) => true,
        (Value::Bool(x), Value::Bool(y)) => x == y,
        (Value::String(x), Value::String(y)) => x == y,
        (Value::Number(x), Value::Number(y)) => numbers_equal(x, y),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| equals(p, q))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| equals(v, w)))
        }
        _ => false,
    }
}

fn numbers_equal(x: &Number, y: &Number) -> bool {
    if is_float(x) || is_float(y) {
        as_f64(x) == as_f64(y)
    } else if let (Some(p), Some(q)) = (x.as_i64(), y.as_i64()) {
        p == q
    } else {
        x.as_u64() == y.as_u64()
    }
}

fn compare_numbers(x: &Number, y: &Number) -> Ordering {
    if is_float(x) || is_float(y) {
        as_f64(x).partial_cmp(&as_f64(y)).unwrap_or(Ordering::Equal)
    } else if let (Some(p), Some(q)) = (x.as_i64(), y.as_i64()) {
        p.cmp(&q)
    } else {
        // At least one is a u64 above i64::MAX.
        match (x.as_u64(), y.as_u64()) {
            (Some(p), Some(q)) => p.cmp(&q),
            (None, Some(_)) => Ordering::Less,
            (Some(_), None) => Ordering::Greater,
            (None, None) => Ordering::Equal,
        }
    }
}

fn kind_rank(v: &Value) -> u8 {
    match v {
        Value::Number(_) => 0,
        Value::String(_) => 1,
        Value::Bool(_) => 2,
        Value::Array(_) => 3,
        Value::Object(_) => 4,
        Value::Null => 5,
    }
}

/// Total order over values (`value.Compare`): numbers < strings < booleans < lists < maps < null.
pub(crate) fn compare(a: &Value, b: &Value) -> Ordering {
    let (ra, rb) = (kind_rank(a), kind_rank(b));
    if ra != rb {
        return ra.cmp(&rb);
    }
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => compare_numbers(x, y),
        (Value::String(x), Value::String(y)) => x.cmp(y),
        (Value::Bool(x), Value::Bool(y)) => x.cmp(y),
        (Value::Array(x), Value::Array(y)) => {
            for (p, q) in x.iter().zip(y) {
                let c = compare(p, q);
                if c != Ordering::Equal {
                    return c;
                }
            }
            x.len().cmp(&y.len())
        }
        (Value::Object(x), Value::Object(y)) => compare_maps(x, y),
        _ => Ordering::Equal,
    }
}

fn compare_maps(x: &Map<String, Value>, y: &Map<String, Value>) -> Ordering {
    let mut xk: Vec<&String> = x.keys().collect();
    let mut yk: Vec<&String> = y.keys().collect();
    xk.sort();
    yk.sort();
    for (p, q) in xk.iter().zip(&yk) {
        let c = p.cmp(q);
        if c != Ordering::Equal {
            return c;
        }
        let c = compare(&x[p.as_str()], &y[q.as_str()]);
        if c != Ordering::Equal {
            return c;
        }
    }
    xk.len().cmp(&yk.len())
}

/// Kubernetes decodes unstructured JSON numbers as int64 when they are integral: turn every
/// integral float (`3.0`) into an integer so stored objects and path elements look like the
/// apiserver's.
pub(crate) fn normalize_numbers(v: &mut Value) {
    match v {
        Value::Number(n) => {
            if let Some(f) = n.as_f64().filter(|_| n.is_f64())
                && f.fract() == 0.0
                && (-9.223_372_036_854_776e18..9.223_372_036_854_776e18).contains(&f)
            {
                *n = Number::from(f as i64);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(normalize_numbers),
        Value::Object(m) => m.values_mut().for_each(normalize_numbers),
        _ => {}
    }
}

/// True when [`normalize_numbers`] would change something.
pub(crate) fn has_integral_floats(v: &Value) -> bool {
    match v {
        Value::Number(n) => n.is_f64() && n.as_f64().is_some_and(|f| f.fract() == 0.0),
        Value::Array(items) => items.iter().any(has_integral_floats),
        Value::Object(m) => m.values().any(has_integral_floats),
        _ => false,
    }
}

/// Renders a value as Go's `encoding/json` would: compact, map keys sorted, `<`, `>`, `&`,
/// U+2028 and U+2029 escaped.
pub(crate) fn go_json(v: &Value) -> String {
    let mut out = String::new();
    write_go_json(v, &mut out);
    out
}

pub(crate) fn write_go_json(v: &Value, out: &mut String) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => write_go_number(n, out),
        Value::String(s) => write_go_string(s, out),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_go_json(item, out);
            }
            out.push(']');
        }
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_go_string(k, out);
                out.push(':');
                write_go_json(&m[k.as_str()], out);
            }
            out.push('}');
        }
    }
}

fn write_go_number(n: &Number, out: &mut String) {
    if let Some(f) = n.as_f64().filter(|_| n.is_f64()) {
        let abs = f.abs();
        if abs != 0.0 && !(1e-6..1e21).contains(&abs) {
            // Go switches to exponent form outside [1e-6, 1e21) and writes e+NN / e-NN.
            let s = format!("{f:e}");
            let (mant, exp) = s.split_once('e').unwrap_or((&s, "0"));
            let exp: i32 = exp.parse().unwrap_or(0);
            let _ = write!(
                out,
                "{mant}e{}{:02}",
                if exp < 0 { '-' } else { '+' },
                exp.abs()
            );
        } else {
            let _ = write!(out, "{f}");
        }
    } else {
        let _ = write!(out, "{n}");
    }
}

pub(crate) fn write_go_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Go's `%T` name of an unstructured value, used in typing errors.
pub(crate) fn go_type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "<nil>",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_f64() => "float64",
        Value::Number(_) => "int64",
        Value::String(_) => "string",
        Value::Array(_) => "[]interface {}",
        Value::Object(_) => "map[string]interface {}",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn int_and_float_are_equal_but_not_string() {
        assert!(equals(&json!(3), &json!(3.0)));
        assert!(!equals(&json!(8080), &json!("8080")));
        assert_eq!(compare(&json!(2), &json!(2.0)), Ordering::Equal);
        assert_eq!(compare(&json!(80), &json!(443)), Ordering::Less);
        assert_eq!(compare(&json!(1), &json!("a")), Ordering::Less);
    }

    #[test]
    fn go_json_sorts_keys_and_escapes_html() {
        assert_eq!(
            go_json(&json!({"b": 1, "a": "<x>"})),
            r#"{"a":"\u003cx\u003e","b":1}"#
        );
        assert_eq!(go_json(&json!(2.5)), "2.5");
    }

    #[test]
    fn integral_floats_become_ints() {
        let mut v = json!({"a": [2.0, 2.5]});
        normalize_numbers(&mut v);
        assert_eq!(v, json!({"a": [2, 2.5]}));
    }
}
