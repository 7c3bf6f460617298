//! Kubernetes resource quantities (`500m`, `0.5`, `1Gi`, `1024Mi`, `1e3`) compared by value,
//! exactly: a quantity is kept as an integer times powers of 2 and 10.

/// A parsed quantity: `mantissa * 2^pow2 * 10^pow10`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Quantity {
    mantissa: i128,
    pow2: u32,
    pow10: i32,
}

fn parse(s: &str) -> Option<Quantity> {
    let s = s.trim();
    let (negative, rest) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let number_end = rest
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(rest.len());
    let (number, suffix) = rest.split_at(number_end);
    if number.is_empty() || number == "." || number.matches('.').count() > 1 {
        return None;
    }
    let (int_part, frac_part) = number.split_once('.').unwrap_or((number, ""));
    let digits = format!("{int_part}{frac_part}");
    if digits.len() > 30 {
        return None;
    }
    let mut mantissa: i128 = digits.parse().ok()?;
    if negative {
        mantissa = -mantissa;
    }
    let frac = i32::try_from(frac_part.len()).ok()?;
    let (pow2, pow10) = match suffix {
        "" => (0, 0),
        "Ki" => (10, 0),
        "Mi" => (20, 0),
        "Gi" => (30, 0),
        "Ti" => (40, 0),
        "Pi" => (50, 0),
        "Ei" => (60, 0),
        "n" => (0, -9),
        "u" => (0, -6),
        "m" => (0, -3),
        "k" => (0, 3),
        "M" => (0, 6),
        "G" => (0, 9),
        "T" => (0, 12),
        "P" => (0, 15),
        "E" => (0, 18),
        exp => {
            let e = exp.strip_prefix(['e', 'E'])?;
            (0, e.parse::<i32>().ok().filter(|e| e.abs() <= 30)?)
        }
    };
    Some(Quantity {
        mantissa,
        pow2,
        pow10: pow10 - frac,
    })
}

fn scale(m: i128, pow2: u32, pow10: i32) -> Option<i128> {
    let m = m.checked_mul(1i128.checked_shl(pow2)?)?;
    m.checked_mul(10i128.checked_pow(u32::try_from(pow10).ok()?)?)
}

/// True when two quantity strings denote the same amount (`None` when either does not
/// parse, or the comparison would overflow).
pub(crate) fn same_quantity(a: &str, b: &str) -> Option<bool> {
    let (a, b) = (parse(a)?, parse(b)?);
    // Bring both to the smaller power of ten, then compare a*2^pa vs b*2^pb.
    let low = a.pow10.min(b.pow10);
    let left = scale(a.mantissa, a.pow2, a.pow10 - low)?;
    let right = scale(b.mantissa, b.pow2, b.pow10 - low)?;
    Some(left == right)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_amounts_in_different_spellings() {
        for (a, b) in [
            ("0.5", "500m"),
            ("1Gi", "1024Mi"),
            ("1", "1000m"),
            ("1k", "1000"),
            ("1e3", "1k"),
            ("1.5Gi", "1536Mi"),
            ("129e6", "129M"),
            ("100Mi", "104857600"),
            ("-1", "-1000m"),
        ] {
            assert_eq!(same_quantity(a, b), Some(true), "{a} vs {b}");
        }
    }

    #[test]
    fn different_amounts_and_garbage() {
        assert_eq!(same_quantity("1G", "1Gi"), Some(false));
        assert_eq!(same_quantity("500m", "0.05"), Some(false));
        assert_eq!(same_quantity("1", "latest"), None);
        assert_eq!(same_quantity("1.2.3", "1"), None);
        assert_eq!(same_quantity("1Xi", "1"), None);
    }
}
