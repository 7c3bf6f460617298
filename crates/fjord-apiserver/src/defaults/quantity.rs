//! Resource quantities in their canonical form. A real apiserver stores every `resources` quantity
//! rounded up to milli precision and prints it in canonical form (`0.5` → `500m`, `1024Mi` → `1Gi`,
//! `1.5Gi` → `1536Mi`), so a live object rarely spells a quantity the way the manifest did; GitOps
//! diffs must see the same strings here as on a cluster.
//!
//! The rules (Kubernetes `resource.Quantity`): the suffix family of the input is kept — binary
//! (`Ki`…`Ei`), decimal SI (`m`, ``, `k`…`E`) or decimal exponent (`e3`). Decimal values are written
//! as the smallest integer mantissa whose exponent is a multiple of three. Binary values are written
//! with the largest power of 1024 that divides them, unless they are below 1024 or not whole, when
//! they fall back to decimal SI.

use serde_json::{Map, Value};

/// The suffix family a quantity was written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    BinarySi,
    DecimalSi,
    DecimalExponent,
}

/// A parsed quantity: `mantissa × 10^scale`.
#[derive(Debug, Clone, Copy)]
struct Parsed {
    mantissa: i128,
    scale: i32,
    format: Format,
}

/// The canonical spelling of a quantity, rounded up to milli precision; None when `s` is not a
/// quantity (or too large to handle exactly), in which case it is left as written.
pub fn canonical(s: &str) -> Option<String> {
    let mut q = parse(s.trim())?;
    round_up_to_milli(&mut q);
    Some(format(q))
}

/// Canonicalises every value of a `ResourceList` map (`requests`, `limits`, `hard`, …) in place.
/// Numbers (`cpu: 1`) are accepted as the real decoder accepts them and come back as strings.
pub fn canonicalize_list(list: &mut Map<String, Value>) {
    for v in list.values_mut() {
        canonicalize_value(v);
    }
}

/// Canonicalises one quantity value in place (a string or a number).
pub fn canonicalize_value(v: &mut Value) {
    let text = match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        _ => return,
    };
    if let Some(c) = canonical(&text) {
        *v = Value::String(c);
    }
}

fn parse(s: &str) -> Option<Parsed> {
    let bytes = s.as_bytes();
    let mut i = 0;
    let negative = match bytes.first() {
        Some(b'-') => {
            i += 1;
            true
        }
        Some(b'+') => {
            i += 1;
            false
        }
        _ => false,
    };
    let mut mantissa: i128 = 0;
    let mut scale: i32 = 0;
    let mut digits = 0;
    let mut seen_dot = false;
    while i < bytes.len() {
        match bytes[i] {
            b'0'..=b'9' => {
                mantissa = mantissa
                    .checked_mul(10)?
                    .checked_add(i128::from(bytes[i] - b'0'))?;
                if seen_dot {
                    scale -= 1;
                }
                digits += 1;
            }
            b'.' if !seen_dot => seen_dot = true,
            _ => break,
        }
        i += 1;
    }
    if digits == 0 {
        return None;
    }
    let suffix = &s[i..];
    let (format, factor_pow10, factor_pow1024) = match suffix {
        "" => (Format::DecimalSi, 0, 0),
        "n" => (Format::DecimalSi, -9, 0),
        "u" => (Format::DecimalSi, -6, 0),
        "m" => (Format::DecimalSi, -3, 0),
        "k" => (Format::DecimalSi, 3, 0),
        "M" => (Format::DecimalSi, 6, 0),
        "G" => (Format::DecimalSi, 9, 0),
        "T" => (Format::DecimalSi, 12, 0),
        "P" => (Format::DecimalSi, 15, 0),
        "E" => (Format::DecimalSi, 18, 0),
        "Ki" => (Format::BinarySi, 0, 1),
        "Mi" => (Format::BinarySi, 0, 2),
        "Gi" => (Format::BinarySi, 0, 3),
        "Ti" => (Format::BinarySi, 0, 4),
        "Pi" => (Format::BinarySi, 0, 5),
        "Ei" => (Format::BinarySi, 0, 6),
        e if e.starts_with(['e', 'E']) => {
            let exp: i32 = e[1..].parse().ok()?;
            if exp.abs() > 60 {
                return None;
            }
            (Format::DecimalExponent, exp, 0)
        }
        _ => return None,
    };
    for _ in 0..factor_pow1024 {
        mantissa = mantissa.checked_mul(1024)?;
    }
    scale = scale.checked_add(factor_pow10)?;
    if negative {
        mantissa = -mantissa;
    }
    Some(Parsed {
        mantissa,
        scale,
        format,
    })
}

/// Rounds away from zero to a scale of -3 (what `SetDefaults_ResourceList` does).
fn round_up_to_milli(q: &mut Parsed) {
    if q.scale >= -3 {
        return;
    }
    let shift = (-3 - q.scale) as u32;
    let Some(div) = 10i128.checked_pow(shift) else {
        // Smaller than anything i128 can hold at milli precision: the least non-zero quantity.
        q.mantissa = q.mantissa.signum();
        q.scale = -3;
        return;
    };
    let (quot, rem) = (q.mantissa / div, q.mantissa % div);
    q.mantissa = if rem == 0 {
        quot
    } else {
        quot + q.mantissa.signum()
    };
    q.scale = -3;
}

fn format(q: Parsed) -> String {
    if q.mantissa == 0 {
        return "0".into();
    }
    let mut format = q.format;
    if format == Format::BinarySi {
        match whole_value(q) {
            Some(v) if v.abs() >= 1024 => return binary(v),
            _ => format = Format::DecimalSi,
        }
    }
    // Smallest integer mantissa, exponent a multiple of three.
    let (mut mantissa, mut scale) = (q.mantissa, q.scale);
    while mantissa % 10 == 0 {
        mantissa /= 10;
        scale += 1;
    }
    match scale.rem_euclid(3) {
        1 => {
            mantissa *= 10;
            scale -= 1;
        }
        2 => {
            mantissa *= 100;
            scale -= 2;
        }
        _ => {}
    }
    let suffix = match (format, scale) {
        (_, 0) => String::new(),
        (Format::DecimalExponent, e) => format!("e{e}"),
        (_, -9) => "n".into(),
        (_, -6) => "u".into(),
        (_, -3) => "m".into(),
        (_, 3) => "k".into(),
        (_, 6) => "M".into(),
        (_, 9) => "G".into(),
        (_, 12) => "T".into(),
        (_, 15) => "P".into(),
        (_, 18) => "E".into(),
        (_, e) => format!("e{e}"),
    };
    format!("{mantissa}{suffix}")
}

/// The value as a whole number, if it is one.
fn whole_value(q: Parsed) -> Option<i128> {
    if q.scale >= 0 {
        let mut v = q.mantissa;
        for _ in 0..q.scale {
            v = v.checked_mul(10)?;
        }
        Some(v)
    } else {
        let div = 10i128.checked_pow((-q.scale) as u32)?;
        (q.mantissa % div == 0).then_some(q.mantissa / div)
    }
}

fn binary(mut v: i128) -> String {
    const SUFFIXES: [&str; 7] = ["", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"];
    let mut k = 0;
    while k < 6 && v % 1024 == 0 {
        v /= 1024;
        k += 1;
    }
    format!("{v}{}", SUFFIXES[k])
}

#[cfg(test)]
mod tests {
    use super::canonical;

    #[test]
    fn decimal_values_use_the_smallest_mantissa_and_a_multiple_of_three() {
        for (input, want) in [
            ("0.5", "500m"),
            ("0.25", "250m"),
            ("1.5", "1500m"),
            ("2.0", "2"),
            ("1000m", "1"),
            ("1500m", "1500m"),
            ("100m", "100m"),
            ("2000", "2k"),
            ("1500", "1500"),
            ("1000000", "1M"),
            ("1G", "1G"),
            ("1000M", "1G"),
            ("0", "0"),
            ("0m", "0"),
            ("-0.5", "-500m"),
            ("+3", "3"),
        ] {
            assert_eq!(canonical(input).as_deref(), Some(want), "{input}");
        }
    }

    #[test]
    fn values_are_rounded_up_to_milli() {
        assert_eq!(canonical("0.0001").as_deref(), Some("1m"));
        assert_eq!(canonical("500000u").as_deref(), Some("500m"));
        assert_eq!(canonical("1n").as_deref(), Some("1m"));
        assert_eq!(canonical("1.0005").as_deref(), Some("1001m"));
        assert_eq!(canonical("-1.0005").as_deref(), Some("-1001m"));
    }

    #[test]
    fn binary_values_keep_binary_suffixes_when_whole_and_at_least_1024() {
        for (input, want) in [
            ("1Gi", "1Gi"),
            ("1024Mi", "1Gi"),
            ("1.5Gi", "1536Mi"),
            ("0.5Gi", "512Mi"),
            ("1000Mi", "1000Mi"),
            ("128974848", "128974848"),
            ("1.5Ki", "1536"),
            ("0.5Ki", "512"),
            ("1Ki", "1Ki"),
            ("2048Ki", "2Mi"),
        ] {
            assert_eq!(canonical(input).as_deref(), Some(want), "{input}");
        }
    }

    #[test]
    fn exponent_notation_is_kept() {
        assert_eq!(canonical("1e3").as_deref(), Some("1e3"));
        assert_eq!(canonical("12e6").as_deref(), Some("12e6"));
        assert_eq!(canonical("1.5e3").as_deref(), Some("1500"));
        assert_eq!(canonical("1E6").as_deref(), Some("1e6"));
        assert_eq!(canonical("1E").as_deref(), Some("1E"), "E alone is exa");
    }

    #[test]
    fn non_quantities_are_left_alone() {
        for input in ["", "abc", "1x", "1.2.3", "Mi", "1e"] {
            assert_eq!(canonical(input), None, "{input}");
        }
    }
}
