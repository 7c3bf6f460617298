//! The subset of jq that `ignoreDifferences.jqPathExpressions` uses in practice, as path
//! expressions: `.a.b`, `.a."k/x"`, `.a["k"]`, `.a[0]`, `.a[]`, optional `?`, pipes, and
//! `select(<path> == <literal>)` / `!=`, joined with `and` / `or`. Anything else is
//! rejected with a clear error when the rule is compiled (reported as unsupported, never
//! silently ignored).

use serde_json::Value;

/// One step of a concrete path.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Step {
    Key(String),
    Index(usize),
}

#[derive(Clone, Debug, PartialEq)]
enum Segment {
    Key(String),
    Index(usize),
    Iterate,
}

#[derive(Clone, Debug, PartialEq)]
enum Cond {
    Compare {
        path: Vec<Segment>,
        equal: bool,
        literal: Value,
    },
    And(Box<Cond>, Box<Cond>),
    Or(Box<Cond>, Box<Cond>),
}

#[derive(Clone, Debug, PartialEq)]
enum Stage {
    Path(Vec<Segment>),
    Select(Cond),
}

/// A compiled path expression.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct JqPath {
    stages: Vec<Stage>,
}

struct Parser<'a> {
    s: &'a [u8],
    pos: usize,
}

impl Parser<'_> {
    fn ws(&mut self) {
        while self.pos < self.s.len() && self.s[self.pos].is_ascii_whitespace() {
            self.pos += 1;
        }
    }

    fn peek(&mut self) -> Option<u8> {
        self.ws();
        self.s.get(self.pos).copied()
    }

    fn eat(&mut self, tok: &str) -> bool {
        self.ws();
        if self.s[self.pos..].starts_with(tok.as_bytes()) {
            self.pos += tok.len();
            true
        } else {
            false
        }
    }

    fn err<T>(&self, what: &str) -> Result<T, String> {
        Err(format!("{what} at offset {}", self.pos))
    }

    fn string(&mut self) -> Result<String, String> {
        // A JSON string literal.
        let start = self.pos;
        let mut i = self.pos + 1;
        while i < self.s.len() && self.s[i] != b'"' {
            if self.s[i] == b'\\' {
                i += 1;
            }
            i += 1;
        }
        if i >= self.s.len() {
            return self.err("unterminated string");
        }
        self.pos = i + 1;
        let text = std::str::from_utf8(&self.s[start..self.pos]).map_err(|e| e.to_string())?;
        serde_json::from_str(text).map_err(|e| e.to_string())
    }

    fn ident(&mut self) -> Option<String> {
        let start = self.pos;
        while self.pos < self.s.len()
            && (self.s[self.pos].is_ascii_alphanumeric() || self.s[self.pos] == b'_')
        {
            self.pos += 1;
        }
        (self.pos > start).then(|| String::from_utf8_lossy(&self.s[start..self.pos]).into_owned())
    }

    fn bracket(&mut self) -> Result<Segment, String> {
        // After '['.
        if self.eat("]") {
            return Ok(Segment::Iterate);
        }
        let seg = match self.peek() {
            Some(b'"') => Segment::Key(self.string()?),
            Some(c) if c.is_ascii_digit() => {
                let start = self.pos;
                while self.pos < self.s.len() && self.s[self.pos].is_ascii_digit() {
                    self.pos += 1;
                }
                let n = std::str::from_utf8(&self.s[start..self.pos]).unwrap_or("0");
                Segment::Index(n.parse().map_err(|_| "index too large".to_string())?)
            }
            _ => return self.err("expected an index, a string or ']'"),
        };
        if !self.eat("]") {
            return self.err("expected ']'");
        }
        Ok(seg)
    }

    fn path(&mut self) -> Result<Vec<Segment>, String> {
        if !self.eat(".") {
            return self.err("expected a path starting with '.'");
        }
        let mut segs = Vec::new();
        // The first segment may follow the leading dot directly.
        let mut need_dot = false;
        loop {
            self.ws();
            // `?` suppresses type errors in jq; path walking here never fails, so it is a no-op.
            if need_dot && self.s.get(self.pos) == Some(&b'?') {
                self.pos += 1;
                continue;
            }
            match self.s.get(self.pos) {
                Some(b'[') => {
                    self.pos += 1;
                    segs.push(self.bracket()?);
                    need_dot = true;
                }
                Some(b'.') if need_dot => {
                    self.pos += 1;
                    need_dot = false;
                }
                Some(b'"') if !need_dot => {
                    segs.push(Segment::Key(self.string()?));
                    need_dot = true;
                }
                Some(c) if !need_dot && (c.is_ascii_alphabetic() || *c == b'_') => {
                    let name = self.ident().unwrap_or_default();
                    segs.push(Segment::Key(name));
                    need_dot = true;
                }
                _ => break,
            }
        }
        Ok(segs)
    }

    fn literal(&mut self) -> Result<Value, String> {
        self.ws();
        if self.peek() == Some(b'"') {
            return Ok(Value::String(self.string()?));
        }
        let start = self.pos;
        while self.pos < self.s.len()
            && (self.s[self.pos].is_ascii_alphanumeric() || b"-+.".contains(&self.s[self.pos]))
        {
            self.pos += 1;
        }
        let text = std::str::from_utf8(&self.s[start..self.pos]).unwrap_or("");
        serde_json::from_str(text).or_else(|_| self.err("expected a literal"))
    }

    fn compare(&mut self) -> Result<Cond, String> {
        let path = self.path()?;
        let equal = if self.eat("==") {
            true
        } else if self.eat("!=") {
            false
        } else {
            return self.err("only == and != comparisons are supported in select()");
        };
        let literal = self.literal()?;
        Ok(Cond::Compare {
            path,
            equal,
            literal,
        })
    }

    fn cond(&mut self) -> Result<Cond, String> {
        let mut left = self.compare()?;
        loop {
            if self.eat("and ") {
                left = Cond::And(Box::new(left), Box::new(self.compare()?));
            } else if self.eat("or ") {
                left = Cond::Or(Box::new(left), Box::new(self.compare()?));
            } else {
                return Ok(left);
            }
        }
    }
}

impl JqPath {
    /// Compiles an expression, or says what is unsupported.
    pub fn compile(expr: &str) -> Result<Self, String> {
        let mut p = Parser {
            s: expr.as_bytes(),
            pos: 0,
        };
        let mut stages = Vec::new();
        loop {
            if p.eat("select(") {
                let cond = p.cond()?;
                if !p.eat(")") {
                    return p.err("expected ')'");
                }
                stages.push(Stage::Select(cond));
            } else {
                stages.push(Stage::Path(p.path()?));
            }
            if p.peek().is_none() {
                return Ok(JqPath { stages });
            }
            if !p.eat("|") {
                return p.err("unsupported jq syntax");
            }
        }
    }

    /// The concrete paths the expression selects in `root`.
    pub fn paths(&self, root: &Value) -> Vec<Vec<Step>> {
        let mut current = vec![(Vec::new(), root)];
        for stage in &self.stages {
            current = match stage {
                Stage::Path(segs) => current
                    .into_iter()
                    .flat_map(|(base, v)| walk(v, segs, base))
                    .collect(),
                Stage::Select(cond) => current
                    .into_iter()
                    .filter(|(_, v)| holds(cond, v))
                    .collect(),
            };
        }
        current.into_iter().map(|(p, _)| p).collect()
    }
}

fn walk<'a>(v: &'a Value, segs: &[Segment], base: Vec<Step>) -> Vec<(Vec<Step>, &'a Value)> {
    let Some((first, rest)) = segs.split_first() else {
        return vec![(base, v)];
    };
    let step = |mut b: Vec<Step>, s: Step| {
        b.push(s);
        b
    };
    match (first, v) {
        (Segment::Key(k), Value::Object(m)) => m
            .get(k)
            .map(|c| walk(c, rest, step(base, Step::Key(k.clone()))))
            .unwrap_or_default(),
        (Segment::Index(i), Value::Array(a)) => a
            .get(*i)
            .map(|c| walk(c, rest, step(base, Step::Index(*i))))
            .unwrap_or_default(),
        (Segment::Iterate, Value::Array(a)) => a
            .iter()
            .enumerate()
            .flat_map(|(i, c)| walk(c, rest, step(base.clone(), Step::Index(i))))
            .collect(),
        (Segment::Iterate, Value::Object(m)) => m
            .iter()
            .flat_map(|(k, c)| walk(c, rest, step(base.clone(), Step::Key(k.clone()))))
            .collect(),
        _ => Vec::new(),
    }
}

fn holds(cond: &Cond, v: &Value) -> bool {
    match cond {
        Cond::Compare {
            path,
            equal,
            literal,
        } => {
            let found = walk(v, path, Vec::new());
            if found.is_empty() {
                // A missing field is null in jq.
                return (literal.is_null()) == *equal;
            }
            found.iter().any(|(_, x)| (*x == literal) == *equal)
        }
        Cond::And(a, b) => holds(a, v) && holds(b, v),
        Cond::Or(a, b) => holds(a, v) || holds(b, v),
    }
}

/// Removes every path (deepest and highest index first, so earlier removals do not shift
/// later ones).
pub(crate) fn remove_all(root: &mut Value, mut paths: Vec<Vec<Step>>) {
    paths.sort();
    paths.dedup();
    for path in paths.into_iter().rev() {
        remove_step_path(root, &path);
    }
}

fn remove_step_path(v: &mut Value, path: &[Step]) {
    let Some((first, rest)) = path.split_first() else {
        return;
    };
    match (first, v) {
        (Step::Key(k), Value::Object(m)) => {
            if rest.is_empty() {
                m.shift_remove(k);
            } else if let Some(c) = m.get_mut(k) {
                remove_step_path(c, rest);
            }
        }
        (Step::Index(i), Value::Array(a)) if *i < a.len() => {
            if rest.is_empty() {
                a.remove(*i);
            } else {
                remove_step_path(&mut a[*i], rest);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn del(expr: &str, mut v: Value) -> Value {
        let p = JqPath::compile(expr).unwrap();
        let paths = p.paths(&v);
        remove_all(&mut v, paths);
        v
    }

    #[test]
    fn simple_paths() {
        let v = json!({"spec": {"replicas": 3, "x": 1}, "metadata": {"annotations": {"a/b": "1", "c": "2"}}});
        assert_eq!(del(".spec.replicas", v.clone())["spec"], json!({"x": 1}));
        assert_eq!(
            del(".metadata.annotations.\"a/b\"", v.clone())["metadata"],
            json!({"annotations": {"c": "2"}})
        );
        assert_eq!(
            del(".metadata.annotations[\"c\"]", v.clone())["metadata"],
            json!({"annotations": {"a/b": "1"}})
        );
        assert_eq!(del(".nothing.here", v.clone()), v);
    }

    #[test]
    fn select_in_list() {
        let v = json!({"spec": {"containers": [
            {"name": "app", "image": "a"}, {"name": "sidecar", "image": "s"}, {"name": "other", "image": "o"}]}});
        let out = del(
            ".spec.containers[] | select(.name == \"sidecar\")",
            v.clone(),
        );
        assert_eq!(
            out["spec"]["containers"],
            json!([{"name": "app", "image": "a"}, {"name": "other", "image": "o"}])
        );
        let out = del(
            ".spec.containers[] | select(.name != \"app\") | .image",
            v.clone(),
        );
        assert_eq!(
            out["spec"]["containers"],
            json!([{"name": "app", "image": "a"}, {"name": "sidecar"}, {"name": "other"}])
        );
        let out = del(
            ".spec.containers[] | select(.name == \"app\" or .name == \"other\")",
            v,
        );
        assert_eq!(
            out["spec"]["containers"],
            json!([{"name": "sidecar", "image": "s"}])
        );
    }

    #[test]
    fn optional_iteration_for_webhook_ca_bundles() {
        let v = json!({"webhooks": [{"name": "a", "clientConfig": {"caBundle": "x", "url": "u"}},
                                    {"name": "b", "clientConfig": {"caBundle": "y"}}]});
        let out = del(".webhooks[]?.clientConfig.caBundle", v);
        assert_eq!(
            out,
            json!({"webhooks": [{"name": "a", "clientConfig": {"url": "u"}},
                                            {"name": "b", "clientConfig": {}}]})
        );
        assert_eq!(
            del(".spec?.x", json!({"spec": {"x": 1}})),
            json!({"spec": {}})
        );
    }

    #[test]
    fn index_and_iterate() {
        let v = json!({"a": [1, 2, 3]});
        assert_eq!(del(".a[1]", v.clone()), json!({"a": [1, 3]}));
        assert_eq!(del(".a[]", v), json!({"a": []}));
    }

    #[test]
    fn unsupported_syntax_is_an_error() {
        assert!(JqPath::compile(".a | map(.b)").is_err());
        assert!(JqPath::compile(".spec.x | select(.name | test(\"^a\"))").is_err());
        assert!(JqPath::compile("del(.a)").is_err());
        assert!(JqPath::compile(".a[").is_err());
    }
}
