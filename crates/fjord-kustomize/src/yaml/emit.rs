//! `serde_json::Value` to YAML text exactly as kustomize prints it. kustomize marshals each
//! resource to JSON and converts that with sigs.k8s.io/yaml, whose go-yaml v2 encoder sorts map
//! keys (digit runs compared as numbers), quotes strings that would read back as another type,
//! folds long lines at column 80 and never indents a sequence under its mapping key.

use super::scalar::{
    Style, analyze, format_number, go_key_cmp, is_base60_float, is_break, is_printable,
    resolves_to_string,
};
use serde_json::Value;

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

#[cfg(test)]
mod tests {
    use super::super::scalar::format_number;
    use super::*;
    use serde_json::Number;
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
