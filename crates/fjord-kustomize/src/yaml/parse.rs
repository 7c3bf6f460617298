//! YAML text to `serde_json::Value`, resolving plain scalars the way go-yaml v3 (kyaml's parser)
//! does: `012` is octal, `yes` stays a string, a bare date becomes a timestamp. Comments and styles
//! are dropped because kustomize's output goes through JSON and never shows them.

use serde_json::{Map, Number, Value};
use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser, Tag};
use yaml_rust2::scanner::{Marker, TScalarStyle};

/// A YAML syntax or structure problem, with the 1-based line where it was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct YamlError {
    /// What went wrong.
    pub message: String,
    /// 1-based line number, 0 when unknown.
    pub line: usize,
}

impl std::fmt::Display for YamlError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.line > 0 {
            write!(f, "line {}: {}", self.line, self.message)
        } else {
            f.write_str(&self.message)
        }
    }
}

#[derive(Debug, Clone)]
enum Node {
    Scalar {
        text: String,
        plain: bool,
        tag: Option<String>,
    },
    Seq(Vec<Node>),
    Map(Vec<(Node, Node)>, usize),
}

enum Frame {
    Seq(Vec<Node>, usize),
    Map(Vec<(Node, Node)>, Option<Node>, usize, usize),
}

#[derive(Default)]
struct TreeBuilder {
    docs: Vec<Option<Node>>,
    stack: Vec<Frame>,
    anchors: std::collections::HashMap<usize, Node>,
    error: Option<YamlError>,
}

fn tag_name(tag: &Option<Tag>) -> Option<String> {
    tag.as_ref().map(|t| {
        if t.handle == "!!" || t.handle == "tag:yaml.org,2002:" {
            format!("!!{}", t.suffix)
        } else {
            format!("{}{}", t.handle, t.suffix)
        }
    })
}

impl TreeBuilder {
    fn push_node(&mut self, node: Node, anchor: usize) {
        if anchor > 0 {
            self.anchors.insert(anchor, node.clone());
        }
        match self.stack.last_mut() {
            None => self.docs.push(Some(node)),
            Some(Frame::Seq(items, _)) => items.push(node),
            Some(Frame::Map(entries, key, _, _)) => match key.take() {
                None => *key = Some(node),
                Some(k) => entries.push((k, node)),
            },
        }
    }
}

impl MarkedEventReceiver for TreeBuilder {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        if self.error.is_some() {
            return;
        }
        match ev {
            Event::Scalar(text, style, anchor, tag) => {
                let node = Node::Scalar {
                    text,
                    plain: style == TScalarStyle::Plain,
                    tag: tag_name(&tag),
                };
                self.push_node(node, anchor);
            }
            Event::SequenceStart(anchor, _) => self.stack.push(Frame::Seq(Vec::new(), anchor)),
            Event::SequenceEnd => {
                if let Some(Frame::Seq(items, anchor)) = self.stack.pop() {
                    self.push_node(Node::Seq(items), anchor);
                }
            }
            Event::MappingStart(anchor, _) => {
                self.stack
                    .push(Frame::Map(Vec::new(), None, anchor, mark.line() + 1))
            }
            Event::MappingEnd => {
                if let Some(Frame::Map(entries, _, anchor, line)) = self.stack.pop() {
                    self.push_node(Node::Map(entries, line), anchor);
                }
            }
            Event::Alias(id) => match self.anchors.get(&id).cloned() {
                Some(node) => self.push_node(node, 0),
                None => {
                    self.error = Some(YamlError {
                        message: "unknown anchor".into(),
                        line: mark.line() + 1,
                    })
                }
            },
            _ => {}
        }
    }
}

/// Parses every document in `text`. Empty documents (only comments, or `---` alone) are skipped,
/// as kustomize's reader skips them.
pub fn parse_documents(text: &str) -> Result<Vec<Value>, YamlError> {
    parse_documents_with(text, false)
}

/// Like [`parse_documents`]; with `kustomization_rules` the text is read the way kustomize reads
/// kustomization files (sigs.k8s.io/yaml, YAML 1.1): a repeated mapping key replaces the
/// earlier one instead of failing, and `yes`/`no`/`on`/`off`/`y`/`n` are booleans.
pub fn parse_documents_with(
    text: &str,
    kustomization_rules: bool,
) -> Result<Vec<Value>, YamlError> {
    let strict = !kustomization_rules;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    if let Some(pos) = text.find(|c: char| {
        let v = c as u32;
        !(matches!(c, '\t' | '\n' | '\r' | '\u{85}')
            || (0x20..=0x7e).contains(&v)
            || (0xa0..=0xd7ff).contains(&v)
            || (0xe000..=0xfffd).contains(&v)
            || v >= 0x10000)
    }) {
        return Err(YamlError {
            message: "control characters are not allowed".into(),
            line: text[..pos].matches('\n').count() + 1,
        });
    }
    let mut builder = TreeBuilder::default();
    let mut parser = Parser::new_from_str(text);
    parser.load(&mut builder, true).map_err(|e| YamlError {
        message: e.info().to_string(),
        line: e.marker().line() + 1,
    })?;
    if let Some(err) = builder.error {
        return Err(err);
    }
    let mut out = Vec::new();
    for doc in builder.docs.into_iter().flatten() {
        let v = to_value(&doc, Mode::Top, strict)?;
        if !v.is_null() {
            out.push(v);
        }
    }
    Ok(out)
}

/// Where in a document a node sits: annotation values keep the text written (an empty value
/// becomes ""), as kustomize reads and rewrites annotations as strings whatever they look like.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Top,
    Metadata,
    AnnotationMap,
    RawStrings,
    Normal,
}

fn to_value(node: &Node, mode: Mode, strict: bool) -> Result<Value, YamlError> {
    match node {
        Node::Scalar { text, .. } if mode == Mode::RawStrings => Ok(Value::String(text.clone())),
        // An annotation that is not a scalar has no string value: kustomize writes "".
        Node::Seq(_) | Node::Map(..) if mode == Mode::RawStrings => {
            Ok(Value::String(String::new()))
        }
        Node::Scalar { text, plain, tag } => {
            if !strict && *plain && tag.is_none() {
                match text.as_str() {
                    "y" | "Y" | "yes" | "Yes" | "YES" | "on" | "On" | "ON" => {
                        return Ok(Value::Bool(true));
                    }
                    "n" | "N" | "no" | "No" | "NO" | "off" | "Off" | "OFF" => {
                        return Ok(Value::Bool(false));
                    }
                    _ => {}
                }
            }
            if *plain
                && tag.is_none()
                && matches!(
                    text.trim_start_matches(['+', '-']),
                    ".inf" | ".Inf" | ".INF" | ".nan" | ".NaN" | ".NAN"
                )
            {
                // Infinity and NaN have no JSON form, and kustomize's JSON step rejects them.
                return Err(YamlError {
                    message: format!("json: unsupported value: {text}"),
                    line: 0,
                });
            }
            Ok(resolve_scalar(text, *plain, tag.as_deref()))
        }
        Node::Seq(items) => items
            .iter()
            .map(|n| to_value(n, Mode::Normal, strict))
            .collect::<Result<Vec<_>, _>>()
            .map(Value::Array),
        Node::Map(entries, line) => {
            let mut map = Map::new();
            let mut merges = Vec::new();
            for (k, v) in entries {
                let key = match k {
                    Node::Scalar { text, plain, .. } => {
                        if *plain && text == "<<" {
                            merges.push(v);
                            continue;
                        }
                        text.clone()
                    }
                    _ => {
                        return Err(YamlError {
                            message: "mapping keys must be scalars".into(),
                            line: *line,
                        });
                    }
                };
                if strict && map.contains_key(&key) {
                    return Err(YamlError {
                        message: format!("mapping key {key:?} already defined"),
                        line: *line,
                    });
                }
                let child_mode = match (mode, key.as_str()) {
                    (Mode::Top, "metadata") => Mode::Metadata,
                    (Mode::Metadata, "annotations") => Mode::AnnotationMap,
                    (Mode::AnnotationMap, _) => Mode::RawStrings,
                    (Mode::RawStrings, _) => Mode::RawStrings,
                    _ => Mode::Normal,
                };
                let child = to_value(v, child_mode, strict)?;
                map.insert(key, child);
            }
            for m in merges {
                let sources: Vec<&Node> = match m {
                    Node::Seq(items) => items.iter().collect(),
                    other => vec![other],
                };
                for src in sources {
                    if let Value::Object(src_map) = to_value(src, Mode::Normal, strict)? {
                        for (k, v) in src_map {
                            map.entry(k).or_insert(v);
                        }
                    }
                }
            }
            Ok(Value::Object(map))
        }
    }
}

/// Resolves a scalar to a JSON value. Quoted scalars are strings; plain ones follow go-yaml v3.
pub fn resolve_scalar(text: &str, plain: bool, tag: Option<&str>) -> Value {
    match tag {
        Some("!!str") | Some("!") => return Value::String(text.to_string()),
        Some("!!binary") => {
            use base64::Engine;
            let cleaned: String = text.chars().filter(|c| !c.is_whitespace()).collect();
            if let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(cleaned)
                && let Ok(s) = String::from_utf8(bytes)
            {
                return Value::String(s);
            }
            return Value::String(text.to_string());
        }
        Some("!!int") | Some("!!float") | Some("!!bool") | Some("!!null") => {
            return resolve_plain(text);
        }
        _ => {}
    }
    if !plain {
        return Value::String(text.to_string());
    }
    resolve_plain(text)
}

fn resolve_plain(text: &str) -> Value {
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return Value::Null,
        "true" | "True" | "TRUE" => return Value::Bool(true),
        "false" | "False" | "FALSE" => return Value::Bool(false),
        _ => {}
    }
    let first = text.as_bytes()[0];
    if first == b'.' {
        if let Ok(f) = text.parse::<f64>()
            && let Some(n) = Number::from_f64(f)
        {
            return Value::Number(n);
        }
        return Value::String(text.to_string());
    }
    if first.is_ascii_digit() || first == b'+' || first == b'-' {
        if let Some(ts) = parse_timestamp(text) {
            return Value::String(ts);
        }
        let stripped = text.replace('_', "");
        if let Some(n) = go_parse_int(&stripped) {
            return Value::Number(n);
        }
        if is_yaml_float(&stripped)
            && let Ok(f) = stripped.parse::<f64>()
            && let Some(n) = Number::from_f64(f)
        {
            return Value::Number(n);
        }
    }
    Value::String(text.to_string())
}

/// A plain timestamp in one of go-yaml's layouts (`2006-1-2`, `2006-1-2T15:4:5.999999999Z07:00`,
/// the same with `t`, or `2006-1-2 15:4:5.999999999` in UTC) becomes the RFC 3339 text Go's
/// JSON encoding gives the time.
fn parse_timestamp(text: &str) -> Option<String> {
    let b = text.as_bytes();
    let mut i = 0;
    let num = |i: &mut usize, min: usize, max: usize| -> Option<u32> {
        let start = *i;
        while *i < b.len() && b[*i].is_ascii_digit() && *i - start < max {
            *i += 1;
        }
        if *i - start < min {
            return None;
        }
        text[start..*i].parse().ok()
    };
    let year = num(&mut i, 4, 4)?;
    let expect = |i: &mut usize, c: u8| -> Option<()> {
        if *i < b.len() && b[*i] == c {
            *i += 1;
            Some(())
        } else {
            None
        }
    };
    expect(&mut i, b'-')?;
    let month = num(&mut i, 1, 2)?;
    expect(&mut i, b'-')?;
    let day = num(&mut i, 1, 2)?;
    let days_in_month = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        _ => return None,
    };
    if day == 0 || day > days_in_month {
        return None;
    }
    let date = format!("{year:04}-{month:02}-{day:02}");
    if i == b.len() {
        return Some(format!("{date}T00:00:00Z"));
    }
    let sep = b[i];
    if !matches!(sep, b'T' | b't' | b' ') {
        return None;
    }
    i += 1;
    let hour = num(&mut i, 1, 2)?;
    expect(&mut i, b':')?;
    let minute = num(&mut i, 1, 2)?;
    expect(&mut i, b':')?;
    let second = num(&mut i, 1, 2)?;
    if hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    let mut frac = String::new();
    if i < b.len() && b[i] == b'.' {
        i += 1;
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() && i - start < 9 {
            i += 1;
        }
        if i == start {
            return None;
        }
        frac = text[start..i].trim_end_matches('0').to_string();
    }
    let zone = if sep == b' ' {
        if i != b.len() {
            return None;
        }
        "Z".to_string()
    } else if i < b.len() && b[i] == b'Z' && i + 1 == b.len() {
        "Z".to_string()
    } else if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
        let sign = b[i] as char;
        i += 1;
        let zh = num(&mut i, 2, 2)?;
        expect(&mut i, b':')?;
        let zm = num(&mut i, 2, 2)?;
        if i != b.len() {
            return None;
        }
        if zh == 0 && zm == 0 {
            "Z".to_string()
        } else {
            format!("{sign}{zh:02}:{zm:02}")
        }
    } else {
        return None;
    };
    let frac = if frac.is_empty() {
        String::new()
    } else {
        format!(".{frac}")
    };
    Some(format!(
        "{date}T{hour:02}:{minute:02}:{second:02}{frac}{zone}"
    ))
}

/// Go's `strconv.ParseInt(s, 0, 64)` then `ParseUint(s, 0, 64)`.
pub(crate) fn go_parse_int(s: &str) -> Option<Number> {
    let (neg, body) = match s.as_bytes().first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    let (radix, digits) =
        if let Some(r) = body.strip_prefix("0x").or_else(|| body.strip_prefix("0X")) {
            (16, r)
        } else if let Some(r) = body.strip_prefix("0o").or_else(|| body.strip_prefix("0O")) {
            (8, r)
        } else if let Some(r) = body.strip_prefix("0b").or_else(|| body.strip_prefix("0B")) {
            (2, r)
        } else if body.len() > 1 && body.starts_with('0') {
            (8, &body[1..])
        } else {
            (10, body)
        };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    let mag = u128::from_str_radix(digits, radix).ok()?;
    if neg {
        if mag <= (i64::MAX as u128) + 1 {
            return Some(Number::from((-(mag as i128)) as i64));
        }
        None
    } else if mag <= i64::MAX as u128 {
        Some(Number::from(mag as i64))
    } else if mag <= u64::MAX as u128 {
        Some(Number::from(mag as u64))
    } else {
        None
    }
}

/// `^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$`
pub(crate) fn is_yaml_float(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
        i += 1;
    }
    let digits = |i: &mut usize| {
        let start = *i;
        while *i < b.len() && b[*i].is_ascii_digit() {
            *i += 1;
        }
        *i - start
    };
    if i < b.len() && b[i] == b'.' {
        i += 1;
        if digits(&mut i) == 0 {
            return false;
        }
    } else {
        if digits(&mut i) == 0 {
            return false;
        }
        if i < b.len() && b[i] == b'.' {
            i += 1;
            digits(&mut i);
        }
    }
    if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
        i += 1;
        if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
            i += 1;
        }
        if digits(&mut i) == 0 {
            return false;
        }
    }
    i == b.len()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn resolves_like_go_yaml_v3() {
        let docs = parse_documents(
            "a: 012\nb: yes\nc: '1'\nd: 1.5\ne: ~\nf: 0x10\ng: 2001-12-14\nh: 1_000\ni: 2024-1-2 3:04:05.50\n",
        )
        .unwrap();
        assert_eq!(
            docs[0],
            json!({"a": 10, "b": "yes", "c": "1", "d": 1.5, "e": null, "f": 16, "g": "2001-12-14T00:00:00Z", "h": 1000, "i": "2024-01-02T03:04:05.5Z"})
        );
    }

    #[test]
    fn skips_empty_documents_and_resolves_aliases() {
        let docs =
            parse_documents("---\n# only a comment\n---\na: &x {b: 1}\nc: *x\n---\n").unwrap();
        assert_eq!(docs, vec![json!({"a": {"b": 1}, "c": {"b": 1}})]);
    }

    #[test]
    fn merge_keys_fill_missing_fields() {
        let docs = parse_documents("base: &b {x: 1, y: 2}\nd:\n  <<: *b\n  y: 3\n").unwrap();
        assert_eq!(docs[0]["d"], json!({"y": 3, "x": 1}));
    }

    #[test]
    fn raw_control_characters_are_rejected() {
        let err = parse_documents("a: b\nc: d\u{7f}\n").unwrap_err();
        assert_eq!(
            err,
            YamlError {
                message: "control characters are not allowed".into(),
                line: 2
            }
        );
    }

    #[test]
    fn syntax_error_has_line() {
        let err = parse_documents("a: b\nc: [d\n").unwrap_err();
        assert!(err.line >= 2, "{err}");
    }
}
