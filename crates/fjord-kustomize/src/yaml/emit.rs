//! `serde_json::Value` to YAML text exactly as kustomize prints it. kustomize marshals each
//! resource to JSON and converts that with sigs.k8s.io/yaml, whose go-yaml v2 encoder sorts map
//! keys (digit runs compared as numbers), quotes strings that would read back as another type,
//! folds long lines at column 80 and never indents a sequence under its mapping key.

use serde_json::{Number, Value};

const BEST_WIDTH: usize = 80;

/// Renders one object document without copying it.
pub fn to_yaml_object(map: &serde_json::Map<String, Value>) -> String {
    let mut e = Emitter::default();
    if map.is_empty() {
        e.put("{}");
    } else {
        e.block_map_entries(map, 0);
    }
    if !e.out.ends_with('\n') {
        e.out.push('\n');
    }
    e.out
}

/// Renders one document (no leading `---`), ending with a newline.
pub fn to_yaml(value: &Value) -> String {
    let mut e = Emitter::default();
    match value {
        Value::Object(m) if !m.is_empty() => e.block_map(value, 0),
        Value::Array(a) if !a.is_empty() => e.block_seq(value, 0),
        _ => {
            e.scalar_or_empty(value, 0, false);
        }
    }
    if !e.out.ends_with('\n') {
        e.out.push('\n');
    }
    e.out
}

#[derive(Default)]
struct Emitter {
    out: String,
    column: usize,
}

impl Emitter {
    fn put(&mut self, s: &str) {
        for c in s.chars() {
            self.put_char(c);
        }
    }
    fn put_char(&mut self, c: char) {
        self.out.push(c);
        if c == '\n' {
            self.column = 0;
        } else {
            self.column += 1;
        }
    }
    /// A line break as libyaml writes it: `\n` as a newline, other break characters (U+2028,
    /// U+2029) verbatim, either way starting a new line.
    fn write_break(&mut self, c: char) {
        self.out.push(c);
        self.column = 0;
    }

    /// Spaces up to `indent` on a line that has just started.
    fn pad_to(&mut self, indent: usize) {
        while self.column < indent {
            self.put_char(' ');
        }
    }

    fn newline_indent(&mut self, indent: usize) {
        if self.column != 0 {
            self.put_char('\n');
        }
        for _ in 0..indent {
            self.put_char(' ');
        }
    }

    /// A block mapping whose first key starts at the current position (column `indent`).
    fn block_map(&mut self, value: &Value, indent: usize) {
        let Value::Object(map) = value else { return };
        self.block_map_entries(map, indent);
    }

    fn block_map_entries(&mut self, map: &serde_json::Map<String, Value>, indent: usize) {
        if map.contains_key("<<") {
            // sigs.k8s.io/yaml reads a "<<" key back as a YAML merge key: its mappings fill in
            // missing keys and anything else disappears.
            let mut merged = map.clone();
            if let Some(v) = merged.remove("<<") {
                let sources = match v {
                    Value::Array(items) => items,
                    other => vec![other],
                };
                for src in sources {
                    if let Value::Object(m) = src {
                        for (k, val) in m {
                            merged.entry(k).or_insert(val);
                        }
                    }
                }
            }
            if merged.is_empty() {
                self.put("{}");
                return;
            }
            return self.block_map_entries(&merged, indent);
        }
        let mut keys: Vec<&String> = map.keys().collect();
        keys.sort_by(|a, b| go_key_cmp(a, b));
        for (i, key) in keys.into_iter().enumerate() {
            if i > 0 {
                self.newline_indent(indent);
            }
            let v = &map[key.as_str()];
            if analyze(key).multiline || key.len() > 128 {
                // Not a simple key: `? key` then `: value` on its own line.
                self.put("? ");
                self.string_scalar(key, indent + 2, false);
                self.newline_indent(indent);
                self.put(": ");
                match v {
                    Value::Object(m) if !m.is_empty() => self.block_map(v, indent + 2),
                    Value::Array(a) if !a.is_empty() => self.block_seq(v, indent + 2),
                    _ => self.scalar_or_empty(v, indent + 2, false),
                }
                continue;
            }
            self.string_scalar(key, indent, true);
            self.put_char(':');
            match v {
                Value::Object(m) if !m.is_empty() => {
                    self.newline_indent(indent + 2);
                    self.block_map(v, indent + 2);
                }
                Value::Array(a) if !a.is_empty() => {
                    self.newline_indent(indent);
                    self.block_seq(v, indent);
                }
                _ => {
                    self.put_char(' ');
                    self.scalar_or_empty(v, indent + 2, false);
                }
            }
        }
    }

    /// A block sequence whose first dash is at the current position (column `indent`).
    fn block_seq(&mut self, value: &Value, indent: usize) {
        let Value::Array(items) = value else { return };
        for (i, item) in items.iter().enumerate() {
            if i > 0 {
                self.newline_indent(indent);
            }
            self.put("- ");
            match item {
                Value::Object(m) if !m.is_empty() => self.block_map(item, indent + 2),
                Value::Array(a) if !a.is_empty() => self.block_seq(item, indent + 2),
                _ => self.scalar_or_empty(item, indent + 2, false),
            }
        }
    }

    fn scalar_or_empty(&mut self, value: &Value, indent: usize, simple_key: bool) {
        match value {
            Value::Null => self.put("null"),
            Value::Bool(b) => self.put(if *b { "true" } else { "false" }),
            Value::Number(n) => self.put(&format_number(n)),
            Value::String(s) => self.string_scalar(s, indent, simple_key),
            Value::Object(_) => self.put("{}"),
            Value::Array(_) => self.put("[]"),
        }
    }

    fn string_scalar(&mut self, s: &str, indent: usize, simple_key: bool) {
        let a = analyze(s);
        let can_plain = resolves_to_string(s) && !is_base60_float(s);
        let mut style = if s.contains('\n') {
            Style::Literal
        } else if can_plain {
            Style::Plain
        } else {
            Style::Double
        };
        if simple_key && a.multiline {
            style = Style::Double;
        }
        if style == Style::Plain {
            if !a.block_plain_allowed {
                style = Style::Single;
            }
            if s.is_empty() && simple_key {
                style = Style::Single;
            }
        }
        if style == Style::Single && !a.single_quoted_allowed {
            style = Style::Double;
        }
        if style == Style::Literal && (!a.block_allowed || simple_key) {
            style = Style::Double;
        }
        let allow_breaks = !simple_key;
        match style {
            Style::Plain => self.write_plain(s, indent, allow_breaks),
            Style::Single => self.write_single(s, indent, allow_breaks),
            Style::Double => self.write_double(s, indent, allow_breaks),
            Style::Literal => self.write_literal(s, indent),
        }
    }

    fn write_plain(&mut self, s: &str, indent: usize, allow_breaks: bool) {
        let chars: Vec<char> = s.chars().collect();
        let mut spaces = false;
        for (i, &c) in chars.iter().enumerate() {
            if c == ' ' {
                let next_space = chars.get(i + 1) == Some(&' ');
                if allow_breaks && !spaces && self.column > BEST_WIDTH && !next_space {
                    self.newline_indent(indent);
                } else {
                    self.put_char(c);
                }
                spaces = true;
            } else {
                self.put_char(c);
                spaces = false;
            }
        }
    }

    fn write_single(&mut self, s: &str, indent: usize, allow_breaks: bool) {
        let chars: Vec<char> = s.chars().collect();
        self.put_char('\'');
        let mut spaces = false;
        let mut breaks = false;
        for (i, &c) in chars.iter().enumerate() {
            if c == ' ' {
                let next_space = chars.get(i + 1) == Some(&' ');
                if allow_breaks
                    && !spaces
                    && self.column > BEST_WIDTH
                    && i != 0
                    && i != chars.len() - 1
                    && !next_space
                {
                    self.newline_indent(indent);
                } else {
                    self.put_char(c);
                }
                spaces = true;
            } else if is_break(c) {
                if !breaks && c == '\n' {
                    self.put_char('\n');
                }
                self.write_break(c);
                breaks = true;
            } else {
                if breaks {
                    self.pad_to(indent);
                }
                if c == '\'' {
                    self.put_char('\'');
                }
                self.put_char(c);
                spaces = false;
                breaks = false;
            }
        }
        self.put_char('\'');
    }

    fn write_double(&mut self, s: &str, indent: usize, allow_breaks: bool) {
        let chars: Vec<char> = s.chars().collect();
        self.put_char('"');
        let mut spaces = false;
        // go-yaml tests for a byte order mark at the start of the value, not at each
        // character, so a value that starts with one is escaped throughout.
        let bom = chars.first() == Some(&'\u{feff}');
        for (i, &c) in chars.iter().enumerate() {
            if bom || !is_printable(c) || is_break(c) || c == '"' || c == '\\' {
                self.put_char('\\');
                match c {
                    '\0' => self.put_char('0'),
                    '\u{7}' => self.put_char('a'),
                    '\u{8}' => self.put_char('b'),
                    '\t' => self.put_char('t'),
                    '\n' => self.put_char('n'),
                    '\u{b}' => self.put_char('v'),
                    '\u{c}' => self.put_char('f'),
                    '\r' => self.put_char('r'),
                    '\u{1b}' => self.put_char('e'),
                    '"' => self.put_char('"'),
                    '\\' => self.put_char('\\'),
                    '\u{85}' => self.put_char('N'),
                    '\u{a0}' => self.put_char('_'),
                    '\u{2028}' => self.put_char('L'),
                    '\u{2029}' => self.put_char('P'),
                    _ => {
                        let v = c as u32;
                        let text = if v <= 0xff {
                            format!("x{v:02X}")
                        } else if v <= 0xffff {
                            format!("u{v:04X}")
                        } else {
                            format!("U{v:08X}")
                        };
                        self.put(&text);
                    }
                }
                spaces = false;
            } else if c == ' ' {
                if allow_breaks
                    && !spaces
                    && self.column > BEST_WIDTH
                    && i != 0
                    && i != chars.len() - 1
                {
                    self.newline_indent(indent);
                    if chars.get(i + 1) == Some(&' ') {
                        self.put_char('\\');
                    }
                } else {
                    self.put_char(c);
                }
                spaces = true;
            } else {
                self.put_char(c);
                spaces = false;
            }
        }
        self.put_char('"');
    }

    fn write_literal(&mut self, s: &str, indent: usize) {
        self.put_char('|');
        let chars: Vec<char> = s.chars().collect();
        if chars.first().is_some_and(|&c| c == ' ' || is_break(c)) {
            self.put_char('2');
        }
        match chars.last() {
            None => self.put_char('-'),
            Some(&last) if !is_break(last) => self.put_char('-'),
            Some(_) => {
                if chars.len() == 1 || is_break(chars[chars.len() - 2]) {
                    self.put_char('+');
                }
            }
        }
        self.put_char('\n');
        let mut breaks = true;
        for &c in &chars {
            if is_break(c) {
                self.write_break(c);
                breaks = true;
            } else {
                if breaks {
                    for _ in 0..indent {
                        self.put_char(' ');
                    }
                    breaks = false;
                }
                self.put_char(c);
            }
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Style {
    Plain,
    Single,
    Double,
    Literal,
}

struct Analysis {
    multiline: bool,
    block_plain_allowed: bool,
    single_quoted_allowed: bool,
    block_allowed: bool,
}

fn is_break(c: char) -> bool {
    matches!(c, '\r' | '\n' | '\u{85}' | '\u{2028}' | '\u{2029}')
}

fn is_printable(c: char) -> bool {
    let v = c as u32;
    v == 0x0a
        || (0x20..=0x7e).contains(&v)
        || (0xa0..=0xd7ff).contains(&v)
        || ((0xe000..=0xfffd).contains(&v) && v != 0xfeff)
}

fn analyze(s: &str) -> Analysis {
    if s.is_empty() {
        return Analysis {
            multiline: false,
            block_plain_allowed: true,
            single_quoted_allowed: true,
            block_allowed: false,
        };
    }
    let chars: Vec<char> = s.chars().collect();
    let mut block_indicators = s.starts_with("---") || s.starts_with("...");
    let mut line_breaks = false;
    let mut special = false;
    let (mut leading_space, mut leading_break, mut trailing_space, mut trailing_break) =
        (false, false, false, false);
    let (mut break_space, mut space_break) = (false, false);
    let (mut previous_space, mut previous_break) = (false, false);
    let mut preceded_by_whitespace = true;
    let n = chars.len();
    for (i, &c) in chars.iter().enumerate() {
        let followed_by_whitespace = i + 1 >= n || matches!(chars[i + 1], ' ' | '\t');
        if i == 0 {
            match c {
                '#' | ',' | '[' | ']' | '{' | '}' | '&' | '*' | '!' | '|' | '>' | '\'' | '"'
                | '%' | '@' | '`' => block_indicators = true,
                '?' | ':' | '-' if followed_by_whitespace => block_indicators = true,
                _ => {}
            }
        } else {
            match c {
                ':' if followed_by_whitespace => block_indicators = true,
                '#' if preceded_by_whitespace => block_indicators = true,
                _ => {}
            }
        }
        if !is_printable(c) {
            special = true;
        }
        if c == ' ' {
            if i == 0 {
                leading_space = true;
            }
            if i + 1 == n {
                trailing_space = true;
            }
            if previous_break {
                break_space = true;
            }
            previous_space = true;
            previous_break = false;
        } else if is_break(c) {
            line_breaks = true;
            if i == 0 {
                leading_break = true;
            }
            if i + 1 == n {
                trailing_break = true;
            }
            if previous_space {
                space_break = true;
            }
            previous_space = false;
            previous_break = true;
        } else {
            previous_space = false;
            previous_break = false;
        }
        preceded_by_whitespace = matches!(c, ' ' | '\t' | '\0') || is_break(c);
    }
    let mut a = Analysis {
        multiline: line_breaks,
        block_plain_allowed: true,
        single_quoted_allowed: true,
        block_allowed: true,
    };
    if leading_space || leading_break || trailing_space || trailing_break {
        a.block_plain_allowed = false;
    }
    if trailing_space {
        a.block_allowed = false;
    }
    if break_space {
        a.block_plain_allowed = false;
        a.single_quoted_allowed = false;
    }
    if space_break || special {
        a.block_plain_allowed = false;
        a.single_quoted_allowed = false;
        a.block_allowed = false;
    }
    if line_breaks || block_indicators {
        a.block_plain_allowed = false;
    }
    a
}

/// Whether go-yaml v2 would read `s`, written plain, back as a string.
fn resolves_to_string(s: &str) -> bool {
    if s.is_empty() {
        return false;
    }
    match s {
        "y" | "Y" | "yes" | "Yes" | "YES" | "n" | "N" | "no" | "No" | "NO" | "true" | "True"
        | "TRUE" | "false" | "False" | "FALSE" | "on" | "On" | "ON" | "off" | "Off" | "OFF"
        | "~" | "null" | "Null" | "NULL" | ".nan" | ".NaN" | ".NAN" | ".inf" | ".Inf" | ".INF"
        | "+.inf" | "+.Inf" | "+.INF" | "-.inf" | "-.Inf" | "-.INF" => return false,
        _ => {}
    }
    let first = s.as_bytes()[0];
    if first == b'.' {
        return go_parse_float(s).is_none();
    }
    if first.is_ascii_digit() || first == b'+' || first == b'-' {
        if is_timestamp(s) {
            return false;
        }
        let plain = s.replace('_', "");
        if super::parse::go_parse_int(&plain).is_some() {
            return false;
        }
        if super::parse::is_yaml_float(&plain) && go_parse_float(&plain).is_some() {
            return false;
        }
        if let Some(rest) = plain
            .strip_prefix("0b")
            .or_else(|| plain.strip_prefix("-0b"))
            && !rest.is_empty()
            && rest.chars().all(|c| c == '0' || c == '1')
        {
            return false;
        }
    }
    true
}

fn go_parse_float(s: &str) -> Option<f64> {
    let lower = s.to_ascii_lowercase();
    let body = lower.trim_start_matches(['+', '-']);
    if body.starts_with("inf") || body.starts_with("nan") {
        return matches!(body, "inf" | "infinity" | "nan").then_some(0.0);
    }
    s.parse::<f64>().ok()
}

/// go-yaml v2's timestamp check: `YYYY-M-D`, optionally followed by a time.
fn is_timestamp(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() && b[i].is_ascii_digit() {
        i += 1;
    }
    if i != 4 || i == b.len() || b[i] != b'-' {
        return false;
    }
    let take_num = |i: &mut usize, max: usize| {
        let start = *i;
        while *i < b.len() && b[*i].is_ascii_digit() && *i - start < max {
            *i += 1;
        }
        *i - start
    };
    i += 1;
    if take_num(&mut i, 2) == 0 || i >= b.len() || b[i] != b'-' {
        return false;
    }
    i += 1;
    if take_num(&mut i, 2) == 0 {
        return false;
    }
    if i == b.len() {
        return true;
    }
    let sep = b[i];
    if sep != b'T' && sep != b't' && sep != b' ' {
        return false;
    }
    i += 1;
    for k in 0..3 {
        if take_num(&mut i, 2) == 0 {
            return false;
        }
        if k < 2 {
            if i >= b.len() || b[i] != b':' {
                return false;
            }
            i += 1;
        }
    }
    if i < b.len() && b[i] == b'.' {
        i += 1;
        if take_num(&mut i, 9) == 0 {
            return false;
        }
    }
    if sep == b' ' {
        return i == b.len();
    }
    if i < b.len() && b[i] == b'Z' {
        return i + 1 == b.len();
    }
    if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
        i += 1;
        if take_num(&mut i, 2) != 2 || i >= b.len() || b[i] != b':' {
            return false;
        }
        i += 1;
        return take_num(&mut i, 2) == 2 && i == b.len();
    }
    false
}

/// `^[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?$`
fn is_base60_float(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
        i += 1;
    }
    if i >= b.len() || !b[i].is_ascii_digit() {
        return false;
    }
    i += 1;
    while i < b.len() && (b[i].is_ascii_digit() || b[i] == b'_') {
        i += 1;
    }
    let mut groups = 0;
    while i < b.len() && b[i] == b':' {
        i += 1;
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() && i - start < 2 {
            i += 1;
        }
        let g = &b[start..i];
        let ok = match g.len() {
            1 => true,
            2 => g[0] <= b'5',
            _ => false,
        };
        if !ok {
            return false;
        }
        groups += 1;
    }
    if groups == 0 {
        return false;
    }
    if i < b.len() && b[i] == b'.' {
        i += 1;
        while i < b.len() && (b[i].is_ascii_digit() || b[i] == b'_') {
            i += 1;
        }
    }
    i == b.len()
}

/// Numbers as they come out of Go's JSON then go-yaml v2: integral values print as integers,
/// other floats in `strconv.FormatFloat(f, 'g', -1, 64)` form.
pub fn format_number(n: &Number) -> String {
    if let Some(i) = n.as_i64() {
        return i.to_string();
    }
    if let Some(u) = n.as_u64() {
        return u.to_string();
    }
    let f = n.as_f64().unwrap_or(0.0);
    if f.fract() == 0.0 && f.abs() < 1e21 {
        if f >= i64::MIN as f64 && f < i64::MAX as f64 {
            return (f as i64).to_string();
        }
        if f >= 0.0 && f < u64::MAX as f64 {
            return (f as u64).to_string();
        }
    }
    format_go_g(f)
}

fn format_go_g(f: f64) -> String {
    let sci = format!("{f:e}");
    let (mant, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let neg = mant.starts_with('-');
    let digits: String = mant.chars().filter(|c| c.is_ascii_digit()).collect();
    let sign = if neg { "-" } else { "" };
    if !(-4..6).contains(&exp) {
        return go_exp(sign, &digits, exp);
    }
    if exp < 0 {
        let zeros = "0".repeat((-exp - 1) as usize);
        return format!("{sign}0.{zeros}{digits}");
    }
    let int_len = exp as usize + 1;
    if digits.len() <= int_len {
        format!("{sign}{}{}", digits, "0".repeat(int_len - digits.len()))
    } else {
        format!("{sign}{}.{}", &digits[..int_len], &digits[int_len..])
    }
}

fn go_exp(sign: &str, digits: &str, exp: i32) -> String {
    let mant = if digits.len() > 1 {
        format!("{}.{}", &digits[..1], &digits[1..])
    } else {
        digits.to_string()
    };
    let esign = if exp < 0 { '-' } else { '+' };
    format!("{sign}{mant}e{esign}{:02}", exp.abs())
}

/// go-yaml v2's key order: letters after non-letters, runs of digits compared as numbers.
pub fn go_key_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    if go_key_less(a, b) {
        Ordering::Less
    } else if go_key_less(b, a) {
        Ordering::Greater
    } else {
        Ordering::Equal
    }
}

fn go_key_less(a: &str, b: &str) -> bool {
    let ar: Vec<char> = a.chars().collect();
    let br: Vec<char> = b.chars().collect();
    let mut i = 0;
    while i < ar.len() && i < br.len() {
        if ar[i] == br[i] {
            i += 1;
            continue;
        }
        let al = ar[i].is_alphabetic();
        let bl = br[i].is_alphabetic();
        if al && bl {
            return ar[i] < br[i];
        }
        if al || bl {
            return bl;
        }
        let mut an: i64 = 0;
        let mut bn: i64 = 0;
        if ar[i] == '0' || br[i] == '0' {
            let mut j = i;
            while j > 0 && ar[j - 1].is_ascii_digit() {
                j -= 1;
                if ar[j] != '0' {
                    an = 1;
                    bn = 1;
                    break;
                }
            }
        }
        let mut ai = i;
        while ai < ar.len() && ar[ai].is_ascii_digit() {
            an = an.wrapping_mul(10).wrapping_add(ar[ai] as i64 - '0' as i64);
            ai += 1;
        }
        let mut bi = i;
        while bi < br.len() && br[bi].is_ascii_digit() {
            bn = bn.wrapping_mul(10).wrapping_add(br[bi] as i64 - '0' as i64);
            bi += 1;
        }
        if an != bn {
            return an < bn;
        }
        if ai != bi {
            return ai < bi;
        }
        return ar[i] < br[i];
    }
    ar.len() < br.len()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn quotes_like_go_yaml_v2() {
        let v = json!({"a": "yes", "b": "1.0", "c": "- x", "d": "it's", "e": "", "n": "x",
            "f": "tab\there", "g": "1:20", "h": "a: b", "i": "#x", "j": "'x"});
        assert_eq!(
            to_yaml(&v),
            "a: \"yes\"\nb: \"1.0\"\nc: '- x'\nd: it's\ne: \"\"\nf: \"tab\\there\"\ng: \"1:20\"\nh: 'a: b'\ni: '#x'\nj: '''x'\n\"n\": x\n"
        );
    }

    #[test]
    fn sequences_sit_under_their_key_and_keys_sort_naturally() {
        let v = json!({"z10": 1, "z9": [{"b": 1, "a": [1, 2]}, [3]], "e": {}, "l": []});
        assert_eq!(
            to_yaml(&v),
            "e: {}\nl: []\nz9:\n- a:\n  - 1\n  - 2\n  b: 1\n- - 3\nz10: 1\n"
        );
    }

    #[test]
    fn literal_blocks_carry_chomping_and_indent_hints() {
        let v = json!({"a": "x\ny", "b": "x\n", "c": "x\n\n", "d": {"e": "\nfoo"}});
        assert_eq!(
            to_yaml(&v),
            "a: |-\n  x\n  y\nb: |\n  x\nc: |+\n  x\n\nd:\n  e: |2-\n\n    foo\n"
        );
    }

    #[test]
    fn long_plain_strings_fold_at_80_columns() {
        let long = format!("{} tail", "a".repeat(90));
        assert_eq!(
            to_yaml(&json!({"k": long})),
            format!("k: {}\n  tail\n", "a".repeat(90))
        );
    }

    #[test]
    fn numbers_print_as_go_does() {
        assert_eq!(format_number(&Number::from_f64(1.0).unwrap()), "1");
        assert_eq!(format_number(&Number::from_f64(1.5).unwrap()), "1.5");
        assert_eq!(format_number(&Number::from_f64(0.00001).unwrap()), "1e-05");
        assert_eq!(
            format_number(&Number::from_f64(1234567.5).unwrap()),
            "1.2345675e+06"
        );
        assert_eq!(
            format_number(&Number::from(12345678901234567890u64)),
            "12345678901234567890"
        );
    }
}
