//! YAML documents to JSON values the way `kubectl` and Argo CD read them.
//!
//! Kubernetes tools parse manifests with YAML 1.1 rules (go-yaml v2 under
//! `sigs.k8s.io/yaml`), while `serde_norway` follows YAML 1.2. They differ on *plain*
//! (unquoted) scalars, most visibly file modes: `defaultMode: 0644` is the octal number 420
//! for kubectl but the string `"0644"` under YAML 1.2, which the API server rejects. This
//! module builds a `serde_json::Value` from serde_norway's events and re-resolves plain
//! scalars that YAML 1.2 left as strings: `y/yes/on` and `n/no/off` (all case forms go-yaml
//! knows) as booleans, integers with a leading `0` as octal, `0b` binary, and `_` digit
//! separators. Quoted scalars stay strings. Map keys are always strings (non-string keys
//! are written as their text, as `sigs.k8s.io/yaml` does).
//!
//! Whether a scalar was quoted is read from the input itself: serde_norway lends plain and
//! simply quoted scalars as slices of the input, so the byte before the slice tells.

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};
use std::fmt;

/// Deserialises one YAML document from `input` into a JSON value with YAML 1.1 scalars.
#[derive(Clone, Copy)]
pub(crate) struct Yaml11<'a> {
    pub input: &'a str,
}

fn is_plain(input: &str, s: &str) -> bool {
    let start = input.as_ptr() as usize;
    let at = s.as_ptr() as usize;
    if at < start || at + s.len() > start + input.len() {
        // Not a slice of the input: built from escapes or block lines, so not plain.
        return false;
    }
    let offset = at - start;
    offset == 0 || !matches!(input.as_bytes()[offset - 1], b'\'' | b'"')
}

fn bool_11(s: &str) -> Option<bool> {
    match s {
        "y" | "Y" | "yes" | "Yes" | "YES" | "on" | "On" | "ON" => Some(true),
        "n" | "N" | "no" | "No" | "NO" | "off" | "Off" | "OFF" => Some(false),
        _ => None,
    }
}

/// Go's `strconv.ParseInt(s, 0, 64)` after removing `_`, as go-yaml v2 resolves ints.
fn int_11(s: &str) -> Option<i64> {
    let cleaned: String = s.chars().filter(|c| *c != '_').collect();
    let (negative, digits) = match cleaned.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, cleaned.strip_prefix('+').unwrap_or(&cleaned)),
    };
    if digits.is_empty() || !digits.bytes().next().is_some_and(|b| b.is_ascii_digit()) {
        return None;
    }
    let value = if let Some(b) = digits
        .strip_prefix("0b")
        .or_else(|| digits.strip_prefix("0B"))
    {
        i64::from_str_radix(b, 2).ok()?
    } else if let Some(o) = digits
        .strip_prefix("0o")
        .or_else(|| digits.strip_prefix("0O"))
    {
        i64::from_str_radix(o, 8).ok()?
    } else if let Some(x) = digits
        .strip_prefix("0x")
        .or_else(|| digits.strip_prefix("0X"))
    {
        i64::from_str_radix(x, 16).ok()?
    } else if digits.len() > 1 && digits.starts_with('0') {
        i64::from_str_radix(&digits[1..], 8).ok()?
    } else {
        digits.parse::<i64>().ok()?
    };
    Some(if negative { -value } else { value })
}

/// A plain scalar YAML 1.2 left as a string, resolved with YAML 1.1 rules.
fn resolve_plain(s: &str) -> Value {
    if let Some(b) = bool_11(s) {
        return Value::Bool(b);
    }
    if let Some(i) = int_11(s) {
        return Value::Number(i.into());
    }
    Value::String(s.to_string())
}

impl<'de> DeserializeSeed<'de> for Yaml11<'de> {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Yaml11<'de> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a YAML value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        // JSON has no NaN or infinity; like sigs.k8s.io/yaml, such values cannot be sent.
        Ok(Number::from_f64(v).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_string()))
    }

    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Value, E> {
        if is_plain(self.input, v) {
            Ok(resolve_plain(v))
        } else {
            Ok(Value::String(v.to_string()))
        }
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut out = Vec::new();
        while let Some(v) = seq.next_element_seed(self)? {
            out.push(v);
        }
        Ok(Value::Array(out))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(k) = map.next_key_seed(Key)? {
            let v = map.next_value_seed(self)?;
            out.insert(k, v);
        }
        Ok(Value::Object(out))
    }
}

/// Map keys: any scalar, written as text.
struct Key;

impl<'de> DeserializeSeed<'de> for Key {
    type Value = String;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<String, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Key {
    type Value = String;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a scalar map key")
    }

    fn visit_bool<E>(self, v: bool) -> Result<String, E> {
        Ok(v.to_string())
    }

    fn visit_i64<E>(self, v: i64) -> Result<String, E> {
        Ok(v.to_string())
    }

    fn visit_u64<E>(self, v: u64) -> Result<String, E> {
        Ok(v.to_string())
    }

    fn visit_f64<E>(self, v: f64) -> Result<String, E> {
        Ok(v.to_string())
    }

    fn visit_str<E>(self, v: &str) -> Result<String, E> {
        Ok(v.to_string())
    }

    fn visit_unit<E>(self) -> Result<String, E> {
        Ok("null".to_string())
    }

    fn visit_map<A: MapAccess<'de>>(self, _: A) -> Result<String, A::Error> {
        Err(de::Error::custom("a mapping cannot be a map key"))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, _: A) -> Result<String, A::Error> {
        Err(de::Error::custom("a list cannot be a map key"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(text: &str) -> Value {
        let doc = serde_norway::Deserializer::from_str(text).next().unwrap();
        Yaml11 { input: text }.deserialize(doc).unwrap()
    }

    #[test]
    fn file_modes_are_octal_like_kubectl() {
        let v = parse(
            "volumes:\n- secret: {secretName: s, defaultMode: 0644}\n- configMap: {name: c, defaultMode: 0400, items: [{key: k, path: p, mode: 0755}]}\n",
        );
        assert_eq!(v["volumes"][0]["secret"]["defaultMode"], 420);
        assert_eq!(v["volumes"][1]["configMap"]["defaultMode"], 256);
        assert_eq!(v["volumes"][1]["configMap"]["items"][0]["mode"], 493);
    }

    #[test]
    fn yaml_11_plain_scalars_and_quoted_strings() {
        let v = parse(
            "a: yes\nb: Off\nc: 'yes'\nd: \"0644\"\ne: 1_000\nf: 0b101\ng: n\nh: 0x1F\ni: 0o17\nj: -012\nk: 08x\nl: \"esc\\tape\"\nm: |\n  0644\n",
        );
        assert_eq!(
            v,
            json!({"a": true, "b": false, "c": "yes", "d": "0644", "e": 1000, "f": 5, "g": false,
                   "h": 31, "i": 15, "j": -10, "k": "08x", "l": "esc\tape", "m": "0644\n"})
        );
    }

    #[test]
    fn ordinary_values_are_unchanged() {
        let v = parse(
            "name: web\nreplicas: 3\nratio: 0.5\nflag: true\nnone: ~\nempty:\nlist: [a, 1]\nversion: \"1.0\"\nport: 8080\n",
        );
        assert_eq!(
            v,
            json!({"name": "web", "replicas": 3, "ratio": 0.5, "flag": true, "none": null, "empty": null,
                   "list": ["a", 1], "version": "1.0", "port": 8080})
        );
    }

    #[test]
    fn non_string_keys_become_text() {
        assert_eq!(parse("1: a\ntrue: b\n"), json!({"1": "a", "true": "b"}));
    }
}
