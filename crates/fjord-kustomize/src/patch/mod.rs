//! Patches: `patchesStrategicMerge`, `patches` (strategic merge or JSON 6902, with target
//! selectors) and `patchesJson6902`. Selection follows kustomize: a patch without a target must
//! match exactly one object by its own id (current or original); a target selects every match.

mod json6902;
pub(crate) mod schema;
mod smp;

use crate::build::{Accumulated, Builder, find_by_any_id};
use crate::error::Result;
use crate::kustomization::{Kustomization, scalar_string};
use crate::resource::{Gvk, ResId, Resource};
use regex::Regex;
use serde_json::{Map, Value};

/// A name or namespace pattern: literal text compares directly, anything else is a regex.
enum Matcher {
    Literal(String),
    Regex(Regex),
}

impl Matcher {
    fn is_match(&self, s: &str) -> bool {
        match self {
            Matcher::Literal(l) => l == s,
            Matcher::Regex(r) => r.is_match(s),
        }
    }
}

/// A target selector (`patches[].target`, `replacements` select, ...).
#[derive(Debug, Clone, Default)]
pub(crate) struct Selector {
    pub group: String,
    pub version: String,
    pub kind: String,
    pub name: String,
    pub namespace: String,
    pub label_selector: String,
    pub annotation_selector: String,
    /// Name and namespace match exactly, against every id the object has had (replacements),
    /// instead of as regular expressions against the original and current ids (patches).
    pub exact_any_id: bool,
}

impl Selector {
    pub fn from_value(v: &Value) -> Option<Selector> {
        let m = v.as_object()?;
        let s = |k: &str| m.get(k).and_then(scalar_string).unwrap_or_default();
        let mut sel = Selector {
            group: s("group"),
            version: s("version"),
            kind: s("kind"),
            name: s("name"),
            namespace: s("namespace"),
            label_selector: s("labelSelector"),
            annotation_selector: s("annotationSelector"),
            exact_any_id: false,
        };
        if let Some(api) = m.get("apiVersion").and_then(Value::as_str) {
            let g = Gvk::from_api_version(api, "");
            sel.group = g.group;
            sel.version = g.version;
        }
        Some(sel)
    }

    fn regex(pattern: &str) -> std::result::Result<Option<Matcher>, String> {
        if pattern.is_empty() {
            return Ok(None);
        }
        if !pattern.contains(|c: char| "\\.+*?()|[]{}^$".contains(c)) {
            return Ok(Some(Matcher::Literal(pattern.to_string())));
        }
        Regex::new(&format!("^(?:{pattern})$"))
            .map(|r| Some(Matcher::Regex(r)))
            .map_err(|e| format!("invalid regex {pattern:?}: {e}"))
    }

    /// Indices of the resources this selector picks.
    pub fn select(&self, resources: &[Resource]) -> std::result::Result<Vec<usize>, String> {
        let (name, ns) = if self.exact_any_id {
            (None, None)
        } else {
            (Self::regex(&self.name)?, Self::regex(&self.namespace)?)
        };
        let mut out = Vec::new();
        for (i, r) in resources.iter().enumerate() {
            let cur = r.id();
            let org = r.orig_id();
            let eff = |id: &ResId| {
                if id.namespace.is_empty() {
                    "default".to_string()
                } else {
                    id.namespace.clone()
                }
            };
            if let Some(re) = &ns
                && !re.is_match(&eff(&org))
                && !re.is_match(&eff(&cur))
            {
                continue;
            }
            if let Some(re) = &name
                && !re.is_match(&org.name)
                && !re.is_match(&cur.name)
            {
                continue;
            }
            if self.exact_any_id {
                let ids = r.all_ids();
                if !self.name.is_empty() && !ids.iter().any(|id| id.name == self.name) {
                    continue;
                }
                if !self.namespace.is_empty() && !ids.iter().any(|id| eff(id) == self.namespace) {
                    continue;
                }
            }
            let gvk = r.gvk();
            if (!self.group.is_empty() && self.group != gvk.group)
                || (!self.version.is_empty() && self.version != gvk.version)
                || (!self.kind.is_empty() && self.kind != gvk.kind)
            {
                continue;
            }
            if !self.label_selector.is_empty()
                && !matches_selector(&self.label_selector, &r.labels())?
            {
                continue;
            }
            if !self.annotation_selector.is_empty()
                && !matches_selector(&self.annotation_selector, &r.annotations())?
            {
                continue;
            }
            out.push(i);
        }
        Ok(out)
    }
}

/// Kubernetes label-selector syntax: `a=b`, `a==b`, `a!=b`, `a in (x,y)`, `a notin (x)`, `a`, `!a`.
fn matches_selector(sel: &str, labels: &Map<String, Value>) -> std::result::Result<bool, String> {
    let get = |k: &str| labels.get(k).and_then(Value::as_str);
    let mut terms = Vec::new();
    let mut depth = 0;
    let mut cur = String::new();
    for c in sel.chars() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                terms.push(std::mem::take(&mut cur));
                continue;
            }
            _ => {}
        }
        cur.push(c);
    }
    terms.push(cur);
    for t in terms.iter().map(|t| t.trim()).filter(|t| !t.is_empty()) {
        let ok = if let Some((k, v)) = t.split_once("!=") {
            get(k.trim()) != Some(v.trim())
        } else if let Some((k, v)) = t.split_once("==").or_else(|| t.split_once('=')) {
            get(k.trim()) == Some(v.trim())
        } else if let Some(idx) = t.find(" notin ") {
            let vals = parse_set(&t[idx + 7..])?;
            get(t[..idx].trim()).is_none_or(|v| !vals.contains(&v.to_string()))
        } else if let Some(idx) = t.find(" in ") {
            let vals = parse_set(&t[idx + 4..])?;
            get(t[..idx].trim()).is_some_and(|v| vals.contains(&v.to_string()))
        } else if let Some(k) = t.strip_prefix('!') {
            get(k.trim()).is_none()
        } else {
            get(t).is_some()
        };
        if !ok {
            return Ok(false);
        }
    }
    Ok(true)
}

fn parse_set(s: &str) -> std::result::Result<Vec<String>, String> {
    let s = s.trim();
    let inner = s
        .strip_prefix('(')
        .and_then(|x| x.strip_suffix(')'))
        .ok_or_else(|| format!("invalid set {s:?} in selector"))?;
    Ok(inner.split(',').map(|v| v.trim().to_string()).collect())
}

/// Parsed patch content.
enum PatchBody {
    Strategic(Vec<Map<String, Value>>),
    Json(Vec<Value>),
}

fn parse_body(kust: &Kustomization, field: &str, text: &str, origin: &str) -> Result<PatchBody> {
    let docs = crate::yaml::parse_documents(text)
        .map_err(|e| kust.transform_error(field, format!("{origin}: invalid patch: {e}")))?;
    if docs.is_empty() {
        return Err(kust.transform_error(
            field,
            format!("{origin}: illegally qualifies as both an SM and JSON patch (it is empty)"),
        ));
    }
    if docs.len() == 1
        && let Value::Array(ops) = &docs[0]
    {
        return Ok(PatchBody::Json(ops.clone()));
    }
    let mut out = Vec::new();
    for d in docs {
        match d {
            Value::Object(m) => out.push(m),
            _ => {
                return Err(kust.transform_error(
                    field,
                    format!("{origin}: a patch must be a mapping or a list of operations"),
                ));
            }
        }
    }
    Ok(PatchBody::Strategic(out))
}

/// Loads a patch from `path` (a file of the kustomization) or inline text.
fn load_patch_text(
    b: &Builder,
    kust: &Kustomization,
    field: &str,
    path: Option<&str>,
    inline: Option<&str>,
) -> Result<(String, String)> {
    match (path, inline) {
        (Some(_), Some(_)) => {
            Err(kust.field_error(field, "patch and path can't be set at the same time"))
        }
        (Some(p), None) => {
            let (_, bytes) = b.read_file(kust, field, p)?;
            Ok((String::from_utf8_lossy(&bytes).into_owned(), p.to_string()))
        }
        (None, Some(text)) => Ok((text.to_string(), "inline patch".to_string())),
        (None, None) => Err(kust.field_error(field, "must specify one of patch and path")),
    }
}

fn patch_id(p: &Map<String, Value>) -> ResId {
    let mut r = Resource::new(p.clone());
    r.prev_ids.clear();
    r.id()
}

/// Applies a strategic merge patch to one resource, keeping its name, kind and namespace unless
/// the options allow a change. Returns false when the patch deleted the object; fails when a
/// patch value's kind (map, list, scalar) differs from the value it patches.
fn apply_smp(
    custom: Option<&std::sync::Arc<Value>>,
    res: &mut Resource,
    patch: &Map<String, Value>,
    allow_name: bool,
    allow_kind: bool,
) -> std::result::Result<bool, String> {
    let (name, ns, kind, api) = (
        res.name().to_string(),
        res.namespace().to_string(),
        res.kind().to_string(),
        res.api_version().to_string(),
    );
    let type_name = schema::root_type(custom, &api, &kind);
    let mut root = Value::Object(std::mem::take(&mut res.obj));
    let outcome = smp::merge_object(&mut root, patch, type_name.as_ref());
    if let Value::Object(m) = root {
        res.obj = m;
    }
    if outcome? == smp::MergeOutcome::Deleted {
        return Ok(false);
    }
    let old_id = ResId {
        gvk: Gvk::from_api_version(&api, &kind),
        name: name.clone(),
        namespace: ns.clone(),
    };
    if !allow_kind {
        res.obj.insert("kind".into(), Value::String(kind));
        res.obj.insert("apiVersion".into(), Value::String(api));
    }
    let meta = res.metadata_mut();
    if !allow_name {
        meta.insert("name".into(), Value::String(name));
    }
    if ns.is_empty() {
        meta.remove("namespace");
    } else {
        meta.insert("namespace".into(), Value::String(ns));
    }
    if res.id() != old_id {
        res.prev_ids.push(old_id);
    }
    Ok(true)
}

fn apply_untargeted_smp(
    kust: &Kustomization,
    field: &str,
    acc: &mut Accumulated,
    patch: &Map<String, Value>,
) -> Result<()> {
    let id = patch_id(patch);
    let found = find_by_any_id(&acc.resources, &id);
    match found.len() {
        0 => Err(kust.transform_error(
            field,
            format!("no matches for Id {id}; failed to find unique target for patch {id}"),
        )),
        1 => {
            let target = acc.resources[found[0]].id();
            let kept = apply_smp(
                acc.openapi.as_ref(),
                &mut acc.resources[found[0]],
                patch,
                false,
                false,
            )
            .map_err(|m| kust.transform_error(field, format!("patching {target}: {m}")))?;
            if !kept {
                acc.resources.remove(found[0]);
            }
            Ok(())
        }
        _ => Err(kust.transform_error(
            field,
            format!("multiple matches for Id {id}; failed to find unique target for patch {id}"),
        )),
    }
}

pub(crate) fn patches_strategic_merge(
    b: &Builder,
    kust: &Kustomization,
    acc: &mut Accumulated,
) -> Result<()> {
    for (i, entry) in kust.strings("patchesStrategicMerge")?.iter().enumerate() {
        let field = format!("patchesStrategicMerge[{i}]");
        let is_inline =
            entry.contains('\n') || (entry.contains(": ") && !b.src.is_file(&kust.dir.join(entry)));
        let (text, origin) = if is_inline {
            (entry.clone(), "inline patch".to_string())
        } else {
            load_patch_text(b, kust, &field, Some(entry), None)?
        };
        match parse_body(kust, &field, &text, &origin)? {
            PatchBody::Strategic(docs) => {
                for p in docs {
                    apply_untargeted_smp(kust, &field, acc, &p)?;
                }
            }
            PatchBody::Json(_) => {
                return Err(kust.transform_error(
                    &field,
                    format!("{origin}: a JSON patch needs patches[].target"),
                ));
            }
        }
    }
    Ok(())
}

fn apply_json(kust: &Kustomization, field: &str, res: &mut Resource, ops: &[Value]) -> Result<()> {
    let before = res.id();
    let mut root = Value::Object(std::mem::take(&mut res.obj));
    let outcome = json6902::apply(&mut root, ops);
    if let Value::Object(m) = root {
        res.obj = m;
    }
    outcome.map_err(|e| {
        kust.transform_error(
            field,
            format!("unable to apply JSON patch to {before}: {e}"),
        )
    })?;
    if res.id() != before {
        res.prev_ids.push(before);
    }
    Ok(())
}

pub(crate) fn patches(b: &Builder, kust: &Kustomization, acc: &mut Accumulated) -> Result<()> {
    for (i, e) in kust.objects("patches")?.iter().enumerate() {
        let field = format!("patches[{i}]");
        for k in e.keys() {
            if !matches!(k.as_str(), "path" | "patch" | "target" | "options") {
                return Err(kust.field_error(&field, format!("json: unknown field \"{k}\"")));
            }
        }
        let path = e.get("path").and_then(Value::as_str);
        let inline = e.get("patch").and_then(Value::as_str);
        let (text, origin) = load_patch_text(b, kust, &field, path, inline)?;
        let body = parse_body(kust, &field, &text, &origin)?;
        let opt = |k: &str| {
            e.get("options")
                .and_then(|o| o.get(k))
                .and_then(Value::as_bool)
                .unwrap_or(false)
        };
        let (allow_name, allow_kind) = (opt("allowNameChange"), opt("allowKindChange"));
        let target = match e.get("target") {
            Some(t) if !t.is_null() => Some(Selector::from_value(t).ok_or_else(|| {
                kust.field_error(&format!("{field}.target"), "expected a mapping")
            })?),
            _ => None,
        };
        match (body, target) {
            (PatchBody::Json(_), None) => {
                return Err(
                    kust.field_error(&field, "unable to apply a JSON patch without a target")
                );
            }
            (PatchBody::Json(ops), Some(sel)) => {
                let idx = sel
                    .select(&acc.resources)
                    .map_err(|m| kust.field_error(&format!("{field}.target"), m))?;
                for i in idx {
                    apply_json(kust, &field, &mut acc.resources[i], &ops)?;
                }
            }
            (PatchBody::Strategic(docs), None) => {
                let deletes = docs
                    .iter()
                    .filter(|d| d.get("$patch").and_then(Value::as_str) == Some("delete"))
                    .count();
                if deletes > 1 {
                    // kustomize v5.5 crashes on this input; refuse it clearly instead.
                    return Err(kust.transform_error(
                        &field,
                        format!("{origin}: one patch file may delete only one object ($patch: delete); split it into one patch per object"),
                    ));
                }
                for p in docs {
                    apply_untargeted_smp(kust, &field, acc, &p)?;
                }
            }
            (PatchBody::Strategic(docs), Some(sel)) => {
                let idx = sel
                    .select(&acc.resources)
                    .map_err(|m| kust.field_error(&format!("{field}.target"), m))?;
                let mut deleted = Vec::new();
                for i in idx {
                    for p in &docs {
                        let target = acc.resources[i].id();
                        let kept = apply_smp(
                            acc.openapi.as_ref(),
                            &mut acc.resources[i],
                            p,
                            allow_name,
                            allow_kind,
                        )
                        .map_err(|m| {
                            kust.transform_error(&field, format!("patching {target}: {m}"))
                        })?;
                        if !kept {
                            deleted.push(i);
                            break;
                        }
                    }
                }
                for i in deleted.into_iter().rev() {
                    acc.resources.remove(i);
                }
            }
        }
    }
    Ok(())
}

pub(crate) fn patches_json6902(
    b: &Builder,
    kust: &Kustomization,
    acc: &mut Accumulated,
) -> Result<()> {
    for (i, e) in kust.objects("patchesJson6902")?.iter().enumerate() {
        let field = format!("patchesJson6902[{i}]");
        let path = e.get("path").and_then(Value::as_str);
        let inline = e.get("patch").and_then(Value::as_str);
        let (text, origin) = load_patch_text(b, kust, &field, path, inline)?;
        let sel = e
            .get("target")
            .and_then(Selector::from_value)
            .ok_or_else(|| {
                kust.field_error(&format!("{field}.target"), "a JSON patch needs a target")
            })?;
        let ops = match parse_body(kust, &field, &text, &origin)? {
            PatchBody::Json(ops) => ops,
            PatchBody::Strategic(_) => {
                return Err(kust.transform_error(
                    &field,
                    format!("{origin}: expected a list of JSON patch operations"),
                ));
            }
        };
        let idx = sel
            .select(&acc.resources)
            .map_err(|m| kust.field_error(&format!("{field}.target"), m))?;
        for i in idx {
            apply_json(kust, &field, &mut acc.resources[i], &ops)?;
        }
    }
    Ok(())
}
