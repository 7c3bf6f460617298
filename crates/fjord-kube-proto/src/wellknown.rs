//! Kubernetes types whose JSON form is not their protobuf structure: `Time` and `MicroTime`
//! (RFC 3339 strings), `Duration` (Go duration string), `Quantity` (a string), `IntOrString`
//! (a number or a string), and raw JSON carriers (`RawExtension`, `FieldsV1`, apiextensions `JSON`).
//! Also the base64 encoding Go uses for `[]byte`.

use serde_json::Value;

use crate::wire::{FieldReader, WireValue};

/// Why a well-known type's protobuf value has no JSON form.
pub(crate) type ValueResult = Result<Value, String>;

const META: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.";
const APIEXT_V1: &str = "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.";
const APIEXT_V1BETA1: &str = "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1beta1.";

/// The well-known types with a hand-written JSON mapping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WellKnown {
    Time,
    MicroTime,
    Duration,
    Quantity,
    IntOrString,
    RawJson,
}

impl WellKnown {
    pub(crate) fn of(message: &str) -> Option<WellKnown> {
        if let Some(name) = message.strip_prefix(META) {
            return match name {
                "Time" => Some(WellKnown::Time),
                "MicroTime" => Some(WellKnown::MicroTime),
                "Duration" => Some(WellKnown::Duration),
                "FieldsV1" => Some(WellKnown::RawJson),
                _ => None,
            };
        }
        match message {
            "io.k8s.apimachinery.pkg.api.resource.Quantity" => Some(WellKnown::Quantity),
            "io.k8s.apimachinery.pkg.util.intstr.IntOrString" => Some(WellKnown::IntOrString),
            "io.k8s.apimachinery.pkg.runtime.RawExtension" => Some(WellKnown::RawJson),
            _ => {
                let name = message
                    .strip_prefix(APIEXT_V1)
                    .or_else(|| message.strip_prefix(APIEXT_V1BETA1))?;
                (name == "JSON").then_some(WellKnown::RawJson)
            }
        }
    }

    /// The JSON value of this type's encoded message `data`.
    pub(crate) fn to_json(self, data: &[u8]) -> ValueResult {
        match self {
            WellKnown::Time => time(data, false),
            WellKnown::MicroTime => time(data, true),
            WellKnown::Duration => {
                let nanos = varint_field(data, 1)?.unwrap_or(0) as i64;
                Ok(Value::String(go_duration(nanos)))
            }
            WellKnown::Quantity => {
                let text = string_field(data, 1)?.unwrap_or_default();
                // The zero Quantity prints as "0" in Go.
                Ok(Value::String(if text.is_empty() {
                    "0".to_string()
                } else {
                    text
                }))
            }
            WellKnown::IntOrString => int_or_string(data),
            WellKnown::RawJson => raw_json(data),
        }
    }
}

fn fields(data: &[u8]) -> impl Iterator<Item = Result<(u32, WireValue<'_>), String>> {
    FieldReader::new(data).map(|r| r.map_err(|e| e.to_string()))
}

fn varint_field(data: &[u8], number: u32) -> Result<Option<u64>, String> {
    let mut found = None;
    for field in fields(data) {
        match field? {
            (n, WireValue::Varint(v)) if n == number => found = Some(v),
            (n, other) if n == number => {
                return Err(format!(
                    "field {n}: expected a varint, found {:?}",
                    other.wire_type()
                ));
            }
            _ => {}
        }
    }
    Ok(found)
}

fn bytes_field(data: &[u8], number: u32) -> Result<Option<&[u8]>, String> {
    let mut found = None;
    for field in fields(data) {
        match field? {
            (n, WireValue::Bytes(b)) if n == number => found = Some(b),
            (n, other) if n == number => {
                return Err(format!(
                    "field {n}: expected a length-delimited value, found {:?}",
                    other.wire_type()
                ));
            }
            _ => {}
        }
    }
    Ok(found)
}

fn string_field(data: &[u8], number: u32) -> Result<Option<String>, String> {
    Ok(bytes_field(data, number)?.map(|b| String::from_utf8_lossy(b).into_owned()))
}

/// `metav1.Time` / `MicroTime`: an empty message is the zero time (JSON `null`); otherwise
/// `Timestamp{seconds=1, nanos=2}` printed in UTC. `Time` keeps whole seconds only (as the Go
/// decoder does); `MicroTime` prints six fractional digits.
fn time(data: &[u8], micro: bool) -> ValueResult {
    if data.is_empty() {
        return Ok(Value::Null);
    }
    let seconds = varint_field(data, 1)?.unwrap_or(0) as i64;
    let nanos = varint_field(data, 2)?.unwrap_or(0) as i64 as i32;
    let days = seconds.div_euclid(86_400);
    let secs_of_day = seconds.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    let (h, m, s) = (
        secs_of_day / 3600,
        secs_of_day % 3600 / 60,
        secs_of_day % 60,
    );
    let date = format!("{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}");
    Ok(Value::String(if micro {
        format!("{date}.{:06}Z", nanos.clamp(0, 999_999_999) / 1000)
    } else {
        format!("{date}Z")
    }))
}

/// Days since 1970-01-01 to a proleptic Gregorian (year, month, day) (H. Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Go's `time.Duration.String()`: "1h2m3.5s", "1.5ms", "0s".
pub(crate) fn go_duration(nanos: i64) -> String {
    if nanos == 0 {
        return "0s".to_string();
    }
    let negative = nanos < 0;
    let u = nanos.unsigned_abs();
    let sign = if negative { "-" } else { "" };
    if u < 1_000_000_000 {
        let (unit, scale) = match u {
            0..=999 => ("ns", 1),
            1_000..=999_999 => ("µs", 1_000),
            _ => ("ms", 1_000_000),
        };
        return format!("{sign}{}{unit}", fraction(u, scale));
    }
    let hours = u / 3_600_000_000_000;
    let minutes = u / 60_000_000_000 % 60;
    let seconds = fraction(u % 60_000_000_000, 1_000_000_000);
    let mut out = sign.to_string();
    if hours > 0 {
        out += &format!("{hours}h");
    }
    if hours > 0 || minutes > 0 {
        out += &format!("{minutes}m");
    }
    out + &format!("{seconds}s")
}

/// `value / scale` with the fractional digits Go prints (trailing zeros dropped).
fn fraction(value: u64, scale: u64) -> String {
    let whole = value / scale;
    let rest = value % scale;
    if rest == 0 {
        return whole.to_string();
    }
    let width = scale.ilog10() as usize;
    let digits = format!("{rest:0width$}");
    format!("{whole}.{}", digits.trim_end_matches('0'))
}

/// `intstr.IntOrString{type=1 (0 int, 1 string), intVal=2, strVal=3}`.
fn int_or_string(data: &[u8]) -> ValueResult {
    match varint_field(data, 1)?.unwrap_or(0) {
        0 => Ok(Value::from(
            varint_field(data, 2)?.unwrap_or(0) as i64 as i32
        )),
        1 => Ok(Value::String(string_field(data, 3)?.unwrap_or_default())),
        other => Err(format!(
            "IntOrString type {other} is neither 0 (int) nor 1 (string)"
        )),
    }
}

/// A message whose field 1 holds JSON text (`RawExtension.raw`, `FieldsV1.Raw`, apiextensions `JSON.raw`).
fn raw_json(data: &[u8]) -> ValueResult {
    match bytes_field(data, 1)? {
        None | Some([]) => Ok(Value::Null),
        Some(raw) => {
            serde_json::from_slice(raw).map_err(|e| format!("embedded raw JSON is invalid: {e}"))
        }
    }
}

/// Standard base64 with padding, as Go's encoding/json writes `[]byte`.
pub(crate) fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::MessageWriter;

    fn timestamp(seconds: i64, nanos: i64) -> Vec<u8> {
        let mut w = MessageWriter::new();
        w.int64(1, seconds);
        w.int64(2, nanos);
        w.into_bytes()
    }

    #[test]
    fn time_prints_rfc3339_utc_seconds_and_empty_is_null() {
        let t = WellKnown::Time
            .to_json(&timestamp(1_767_225_600, 5))
            .unwrap();
        assert_eq!(t, "2026-01-01T00:00:00Z");
        assert_eq!(WellKnown::Time.to_json(&[]).unwrap(), Value::Null);
        let leap = WellKnown::Time.to_json(&timestamp(951_827_696, 0)).unwrap();
        assert_eq!(leap, "2000-02-29T12:34:56Z");
        assert_eq!(
            WellKnown::Time.to_json(&timestamp(-1, 0)).unwrap(),
            "1969-12-31T23:59:59Z"
        );
    }

    #[test]
    fn micro_time_keeps_microseconds() {
        let t = WellKnown::MicroTime
            .to_json(&timestamp(0, 123_456_789))
            .unwrap();
        assert_eq!(t, "1970-01-01T00:00:00.123456Z");
    }

    #[test]
    fn durations_print_like_go() {
        assert_eq!(go_duration(3_600_000_000_000), "1h0m0s");
        assert_eq!(go_duration(90_500_000_000), "1m30.5s");
        assert_eq!(go_duration(1_500_000), "1.5ms");
        assert_eq!(go_duration(2_000), "2µs");
        assert_eq!(go_duration(7), "7ns");
        assert_eq!(go_duration(-5_000_000_000), "-5s");
        assert_eq!(go_duration(0), "0s");
    }

    #[test]
    fn int_or_string_picks_the_typed_member() {
        let mut w = MessageWriter::new();
        w.int64(2, 80);
        assert_eq!(WellKnown::IntOrString.to_json(&w.into_bytes()).unwrap(), 80);
        let mut w = MessageWriter::new();
        w.int64(1, 1);
        w.string(3, "25%");
        assert_eq!(
            WellKnown::IntOrString.to_json(&w.into_bytes()).unwrap(),
            "25%"
        );
        let mut w = MessageWriter::new();
        w.int64(1, 7);
        assert!(WellKnown::IntOrString.to_json(&w.into_bytes()).is_err());
    }

    #[test]
    fn raw_extension_parses_embedded_json() {
        let mut w = MessageWriter::new();
        w.string(1, r#"{"a":[1,2]}"#);
        let v = WellKnown::RawJson.to_json(&w.into_bytes()).unwrap();
        assert_eq!(v, serde_json::json!({"a": [1, 2]}));
        let mut w = MessageWriter::new();
        w.string(1, "{not json");
        assert!(WellKnown::RawJson.to_json(&w.into_bytes()).is_err());
    }

    #[test]
    fn base64_matches_the_standard_alphabet_with_padding() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(&[0, 1, 2, 0xff, 0xfe]), "AAEC//4=");
    }
}
