//! `replacements`: copy one field of a source object into fields of target objects, optionally
//! one delimited part of a string, with target selection and rejection by selector.

use crate::build::{Accumulated, Builder};
use crate::error::{Error, Result};
use crate::kustomization::{Kustomization, scalar_string};
use crate::patch::Selector;
use serde_json::{Map, Value};

pub(crate) fn run(b: &Builder, kust: &Kustomization, acc: &mut Accumulated) -> Result<()> {
    let Some(list) = kust.get("replacements") else {
        return Ok(());
    };
    let Value::Array(items) = list else {
        return Err(kust.field_error("replacements", "expected a list"));
    };
    for (i, item) in items.iter().enumerate() {
        let field = format!("replacements[{i}]");
        if let Some(path) = item.get("path").and_then(Value::as_str) {
            let (file, bytes) = b.read_file(kust, &format!("{field}.path"), path)?;
            let docs =
                crate::yaml::parse_documents(&String::from_utf8_lossy(&bytes)).map_err(|e| {
                    Error::ParseYaml {
                        path: file.clone(),
                        message: e.to_string(),
                    }
                })?;
            for doc in docs {
                match doc {
                    Value::Array(rs) => {
                        for r in rs {
                            apply(kust, &field, &r, acc)?;
                        }
                    }
                    other => apply(kust, &field, &other, acc)?,
                }
            }
        } else {
            apply(kust, &field, item, acc)?;
        }
    }
    Ok(())
}

#[derive(Default)]
struct Options {
    delimiter: Option<String>,
    index: i64,
    create: bool,
}

fn options(v: Option<&Value>) -> Options {
    let Some(m) = v.and_then(Value::as_object) else {
        return Options::default();
    };
    Options {
        delimiter: m
            .get("delimiter")
            .and_then(Value::as_str)
            .map(str::to_string),
        index: m.get("index").and_then(Value::as_i64).unwrap_or(0),
        create: m.get("create").and_then(Value::as_bool).unwrap_or(false),
    }
}

fn apply(kust: &Kustomization, field: &str, r: &Value, acc: &mut Accumulated) -> Result<()> {
    let src = r
        .get("source")
        .ok_or_else(|| kust.field_error(&format!("{field}.source"), "missing source"))?;
    let mut sel = Selector::from_value(src)
        .ok_or_else(|| kust.field_error(&format!("{field}.source"), "expected a mapping"))?;
    sel.exact_any_id = true;
    let found = sel
        .select(&acc.resources)
        .map_err(|m| kust.field_error(&format!("{field}.source"), m))?;
    let src_idx = match found.len() {
        1 => found[0],
        0 => {
            return Err(kust.transform_error(
                field,
                format!("nothing selected by source {}", describe(src)),
            ));
        }
        _ => {
            return Err(kust.transform_error(
                field,
                format!("multiple matches for selector {}", describe(src)),
            ));
        }
    };
    let path = src
        .get("fieldPath")
        .and_then(Value::as_str)
        .unwrap_or("metadata.name");
    let segs = split_field_path(path);
    let root = Value::Object(acc.resources[src_idx].obj.clone());
    let mut value = get_path(&root, &segs).cloned().ok_or_else(|| {
        kust.transform_error(
            field,
            format!(
                "fieldPath `{path}` is missing for replacement source {}",
                acc.resources[src_idx].id()
            ),
        )
    })?;
    let src_opts = options(src.get("options"));
    if let Some(d) = &src_opts.delimiter {
        let text = scalar_string(&value).unwrap_or_default();
        let parts: Vec<&str> = text.split(d.as_str()).collect();
        let idx = src_opts.index;
        if idx < 0 || idx as usize >= parts.len() {
            return Err(kust.transform_error(
                field,
                format!("options.index {idx} is out of bounds for value {text}"),
            ));
        }
        value = Value::String(parts[idx as usize].to_string());
    }
    let targets = r
        .get("targets")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for (ti, t) in targets.iter().enumerate() {
        let tfield = format!("{field}.targets[{ti}]");
        let mut tsel = t
            .get("select")
            .and_then(Selector::from_value)
            .ok_or_else(|| kust.field_error(&format!("{tfield}.select"), "missing select"))?;
        tsel.exact_any_id = true;
        let mut chosen = tsel
            .select(&acc.resources)
            .map_err(|m| kust.field_error(&tfield, m))?;
        if let Some(Value::Array(rejects)) = t.get("reject") {
            for rj in rejects {
                if let Some(mut rs) = Selector::from_value(rj) {
                    rs.exact_any_id = true;
                    let out = rs
                        .select(&acc.resources)
                        .map_err(|m| kust.field_error(&tfield, m))?;
                    chosen.retain(|i| !out.contains(i));
                }
            }
        }
        let opts = options(t.get("options"));
        let paths: Vec<String> = t
            .get("fieldPaths")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default();
        for idx in chosen {
            let res = &mut acc.resources[idx];
            let id = res.id();
            let mut root = Value::Object(std::mem::take(&mut res.obj));
            let mut outcome = Ok(());
            for p in &paths {
                let segs = split_field_path(p);
                let mut hit = false;
                let r = set_path(&mut root, &segs, opts.create, &mut |slot| {
                    hit = true;
                    *slot = combine(slot, &value, &opts);
                });
                if let Err(e) = r {
                    outcome =
                        Err(kust
                            .transform_error(&tfield, format!("{e} (target {id}, fieldPath {p})")));
                    break;
                }
                if !hit && !opts.create {
                    outcome = Err(kust.transform_error(
                        &tfield,
                        format!("unable to find field \"{p}\" in replacement target {id}"),
                    ));
                    break;
                }
            }
            if let Value::Object(m) = root {
                res.obj = m;
            }
            outcome?;
        }
    }
    Ok(())
}

fn describe(v: &Value) -> String {
    let mut parts = Vec::new();
    if let Some(m) = v.as_object() {
        for k in ["group", "version", "kind", "name", "namespace"] {
            if let Some(s) = m.get(k).and_then(Value::as_str) {
                parts.push(format!("{k}={s}"));
            }
        }
    }
    parts.join(", ")
}

fn combine(existing: &Value, value: &Value, opts: &Options) -> Value {
    let Some(d) = &opts.delimiter else {
        return value.clone();
    };
    let current = scalar_string(existing).unwrap_or_default();
    let mut parts: Vec<String> = current.split(d.as_str()).map(str::to_string).collect();
    let v = scalar_string(value).unwrap_or_default();
    if opts.index < 0 {
        parts.insert(0, v);
    } else if opts.index as usize >= parts.len() {
        parts.push(v);
    } else {
        parts[opts.index as usize] = v;
    }
    Value::String(parts.join(d))
}

/// Splits `a.b.[name=x].c` / `a.b[name=x].c` / `a.0.b` into segments.
fn split_field_path(path: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut depth = 0;
    for c in path.chars() {
        match c {
            '[' => {
                if depth == 0 && !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
                depth += 1;
                cur.push(c);
            }
            ']' => {
                depth -= 1;
                cur.push(c);
            }
            '.' if depth == 0 => {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
            }
            _ => cur.push(c),
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    // `[a.b]` without `=` quotes a key that contains dots.
    out.into_iter()
        .map(
            |seg| match seg.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
                Some(inner) if !inner.contains('=') => inner.to_string(),
                _ => seg,
            },
        )
        .collect()
}

fn list_match(seg: &str) -> Option<(&str, &str)> {
    seg.strip_prefix('[')?.strip_suffix(']')?.split_once('=')
}

fn get_path<'a>(v: &'a Value, segs: &[String]) -> Option<&'a Value> {
    let Some(seg) = segs.first() else {
        return Some(v);
    };
    match v {
        Value::Array(items) => {
            if let Some((k, val)) = list_match(seg) {
                let item = items
                    .iter()
                    .find(|i| i.get(k).and_then(scalar_string).as_deref() == Some(val))?;
                return get_path(item, &segs[1..]);
            }
            let ix: usize = seg
                .trim_start_matches('[')
                .trim_end_matches(']')
                .parse()
                .ok()?;
            get_path(items.get(ix)?, &segs[1..])
        }
        Value::Object(m) => get_path(m.get(seg.as_str())?, &segs[1..]),
        _ => None,
    }
}

fn set_path(
    v: &mut Value,
    segs: &[String],
    create: bool,
    f: &mut dyn FnMut(&mut Value),
) -> std::result::Result<(), String> {
    let Some(seg) = segs.first() else {
        f(v);
        return Ok(());
    };
    match v {
        Value::Array(items) => {
            if seg == "*" {
                for item in items.iter_mut() {
                    set_path(item, &segs[1..], create, f)?;
                }
                return Ok(());
            }
            if let Some((k, val)) = list_match(seg) {
                let pos = items
                    .iter()
                    .position(|i| i.get(k).and_then(scalar_string).as_deref() == Some(val));
                return match pos {
                    Some(p) => set_path(&mut items[p], &segs[1..], create, f),
                    None if create => {
                        let mut m = Map::new();
                        m.insert(k.to_string(), Value::String(val.to_string()));
                        items.push(Value::Object(m));
                        let last = items.len() - 1;
                        set_path(&mut items[last], &segs[1..], create, f)
                    }
                    None => Ok(()),
                };
            }
            let ix: usize = seg
                .trim_start_matches('[')
                .trim_end_matches(']')
                .parse()
                .map_err(|_| format!("cannot index a list with {seg:?}"))?;
            match items.get_mut(ix) {
                Some(item) => set_path(item, &segs[1..], create, f),
                None => Ok(()),
            }
        }
        Value::Object(m) => {
            if seg == "*" {
                for item in m.values_mut() {
                    set_path(item, &segs[1..], create, f)?;
                }
                return Ok(());
            }
            if !m.contains_key(seg.as_str()) {
                if !create {
                    return Ok(());
                }
                let fresh = match segs.get(1) {
                    None => Value::Null,
                    Some(next) if list_match(next).is_some() || next.parse::<usize>().is_ok() => {
                        Value::Array(Vec::new())
                    }
                    Some(_) => Value::Object(Map::new()),
                };
                m.insert(seg.clone(), fresh);
            }
            match m.get_mut(seg.as_str()) {
                Some(child) => {
                    if child.is_null() && segs.len() > 1 && create {
                        *child = Value::Object(Map::new());
                    }
                    set_path(child, &segs[1..], create, f)
                }
                None => Ok(()),
            }
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn field_paths_split_on_dots_and_list_selectors() {
        assert_eq!(
            split_field_path("spec.containers.[name=a].image"),
            vec!["spec", "containers", "[name=a]", "image"]
        );
        assert_eq!(split_field_path("a.b[x=y].c"), vec!["a", "b", "[x=y]", "c"]);
        assert_eq!(
            split_field_path("metadata.annotations.[a.io/b]"),
            vec!["metadata", "annotations", "a.io/b"]
        );
    }

    #[test]
    fn delimited_part_is_replaced() {
        let opts = Options {
            delimiter: Some(".".into()),
            index: 1,
            create: false,
        };
        assert_eq!(combine(&json!("a.b.c"), &json!("X"), &opts), json!("a.X.c"));
    }
}
