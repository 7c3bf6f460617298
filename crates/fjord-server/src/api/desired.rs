//! The desired state of an Application, produced the way the controller produces it: the
//! source at the commit last compared (`status.sync.revision`, else the target revision
//! resolved against the remote) is fetched into the server's own Git cache if missing, then
//! rendered with the engine's renderers (directory, native kustomize) and prepared
//! (destination namespace, tracking id). A commit already in the cache costs one
//! `git ls-tree` and a render; there is no network request.
//!
//! The diff pairs each desired object with its live one and runs the engine's comparison,
//! which masks Secret values on both sides.

use std::path::Path;

use fjord_engine::diff::{DiffKind, DiffOptions, IgnoreRules, diff};
use fjord_engine::render::{DesiredObject, Renderers};
use fjord_engine::resource::{ResourceKey, app_instance_name, prepare_desired};
use fjord_engine::source::credentials::{
    KNOWN_HOSTS_CONFIGMAP, SECRET_TYPE_LABEL, known_hosts_from_configmap,
};
use fjord_engine::source::{CredentialStore, GitAuth, GitRepo, git::is_full_sha};
use fjord_engine::types::{Application, ApplicationSource};
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::Api;
use kube::api::ListParams;
use serde::Serialize;
use serde_json::Value;

use super::error::ApiError;
use super::live::{self, Kinds};

/// Reads repository credentials and known hosts as the controller does.
pub async fn auth_for(
    client: &kube::Client,
    namespace: &str,
    repo_url: &str,
) -> Result<GitAuth, ApiError> {
    let secrets: Api<Secret> = Api::namespaced(client.clone(), namespace);
    let list = secrets
        .list(&ListParams::default().labels(SECRET_TYPE_LABEL))
        .await
        .map_err(ApiError::cluster(format!(
            "listing repository Secrets in {namespace}"
        )))?;
    let values: Vec<Value> = list
        .items
        .iter()
        .filter_map(|s| serde_json::to_value(s).ok())
        .collect();
    let store = CredentialStore::from_secrets(values.iter());
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), namespace);
    let cm = cms
        .get_opt(KNOWN_HOSTS_CONFIGMAP)
        .await
        .map_err(ApiError::cluster(format!(
            "reading {namespace}/{KNOWN_HOSTS_CONFIGMAP}"
        )))?;
    Ok(GitAuth {
        credentials: store.lookup(repo_url),
        known_hosts: cm
            .and_then(|c| serde_json::to_value(c).ok())
            .and_then(|v| known_hosts_from_configmap(&v)),
    })
}

/// The single source of an Application (multi-source is not rendered yet).
pub fn single_source(app: &Application) -> Result<ApplicationSource, ApiError> {
    if !app.spec.sources.is_empty() {
        return Err(ApiError::Render(
            "spec.sources (multiple sources) is not supported yet".into(),
        ));
    }
    app.spec
        .source
        .clone()
        .ok_or_else(|| ApiError::Render("spec.source is missing".into()))
}

/// Fetches (if needed) and renders `source` at the commit the Application last compared
/// (blocking: run it off the async runtime). Returns the commit and the raw objects.
pub fn render_blocking(
    cache_root: &Path,
    source: &ApplicationSource,
    compared: Option<&str>,
    auth: GitAuth,
) -> Result<(String, Vec<DesiredObject>), String> {
    let repo = GitRepo::new(cache_root, &source.repo_url, auth);
    let commit = match compared.filter(|c| is_full_sha(c)) {
        Some(c) => c.to_string(),
        None => {
            let refs = repo.ls_remote().map_err(|e| e.to_string())?;
            repo.resolve(&refs, source.revision())
                .map_err(|e| e.to_string())?
        }
    };
    repo.ensure_commits(&[&commit]).map_err(|e| e.to_string())?;
    let tree = repo.tree(&commit).map_err(|e| e.to_string())?;
    let (_, rendered) = Renderers::with_kustomize()
        .render(&tree, source)
        .map_err(|e| e.to_string())?;
    Ok((commit, rendered.objects))
}

/// Desired objects, prepared for comparison.
pub struct Desired {
    /// The commit rendered.
    pub commit: String,
    /// Objects with their keys.
    pub objects: Vec<(ResourceKey, Value)>,
}

/// Renders and prepares an Application's desired objects.
pub async fn desired(
    client: &kube::Client,
    kinds: &Kinds,
    cache_root: &Path,
    controller_namespace: &str,
    app: &Application,
) -> Result<Desired, ApiError> {
    let source = single_source(app)?;
    let auth = auth_for(client, controller_namespace, &source.repo_url).await?;
    let compared = app
        .status
        .as_ref()
        .and_then(|s| s.sync.as_ref())
        .and_then(|s| s.revision.clone());
    let root = cache_root.to_path_buf();
    let (commit, raw) = tokio::task::spawn_blocking(move || {
        render_blocking(&root, &source, compared.as_deref(), auth)
    })
    .await
    .map_err(|e| ApiError::Render(e.to_string()))?
    .map_err(ApiError::Render)?;
    let instance = app_instance_name(app.name(), app.namespace(), controller_namespace);
    let dest_ns = app.spec.destination.namespace.clone().unwrap_or_default();
    let statuses = app
        .status
        .as_ref()
        .map(|s| s.resources.clone())
        .unwrap_or_default();
    let mut objects = Vec::new();
    for d in raw {
        let mut obj = d.object;
        let api_version = obj
            .get("apiVersion")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let (group, version) = match api_version.rsplit_once('/') {
            Some((g, v)) => (g.to_string(), v.to_string()),
            None => (String::new(), api_version.clone()),
        };
        // The status knows each managed object's scope; otherwise ask discovery.
        let known = statuses
            .iter()
            .find(|r| r.group == group && r.kind == d.key.kind && r.name == d.key.name)
            .map(|r| !r.namespace.is_empty());
        let namespaced = match known {
            Some(n) => n,
            None => kinds
                .resolve(client, &group, &version, &d.key.kind)
                .await?
                .is_none_or(|k| k.namespaced),
        };
        if let Some(key) = prepare_desired(&mut obj, &instance, &dest_ns, namespaced) {
            objects.push((key, obj));
        }
    }
    Ok(Desired { commit, objects })
}

/// One row of a side-by-side diff.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct DiffRow {
    /// `equal`, `delete` (live only), `insert` (desired only) or `replace`.
    pub op: &'static str,
    /// The live side's line.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub live: Option<String>,
    /// The desired side's line.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub desired: Option<String>,
}

/// Pairs the lines of two texts for a side-by-side view.
pub fn side_by_side(live: &str, desired: &str) -> Vec<DiffRow> {
    let d = similar::TextDiff::from_lines(live, desired);
    let mut rows = Vec::new();
    let line = |s: &str| s.trim_end_matches('\n').to_string();
    for op in d.ops() {
        let (tag, old, new) = op.as_tag_tuple();
        let old_lines: Vec<&str> = live.lines().skip(old.start).take(old.len()).collect();
        let new_lines: Vec<&str> = desired.lines().skip(new.start).take(new.len()).collect();
        let name = match tag {
            similar::DiffTag::Equal => "equal",
            similar::DiffTag::Delete => "delete",
            similar::DiffTag::Insert => "insert",
            similar::DiffTag::Replace => "replace",
        };
        for i in 0..old_lines.len().max(new_lines.len()) {
            rows.push(DiffRow {
                op: name,
                live: old_lines.get(i).map(|s| line(s)),
                desired: new_lines.get(i).map(|s| line(s)),
            });
        }
    }
    rows
}

/// A copy with every map's keys sorted, so two sides line up field by field.
fn sorted(v: &Value) -> Value {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            Value::Object(
                keys.into_iter()
                    .map(|k| (k.clone(), sorted(&m[k])))
                    .collect(),
            )
        }
        Value::Array(a) => Value::Array(a.iter().map(sorted).collect()),
        other => other.clone(),
    }
}

/// YAML text of an object with sorted keys (`""` for none).
pub fn yaml(v: Option<&Value>) -> String {
    v.and_then(|v| serde_norway::to_string(&sorted(v)).ok())
        .unwrap_or_default()
}

/// The comparison of one object as the API returns it.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourceDiffView {
    /// API group.
    pub group: String,
    /// Kind.
    pub kind: String,
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// `Unchanged`, `Modified`, `Missing` or `Extraneous`.
    pub status: &'static str,
    /// Live as compared (YAML, Secret values masked).
    pub live: String,
    /// Desired as compared (YAML, Secret values masked).
    pub desired: String,
    /// Unified diff from live to desired.
    pub unified: String,
    /// Side-by-side rows.
    pub rows: Vec<DiffRow>,
}

fn kind_name(k: DiffKind) -> &'static str {
    match k {
        DiffKind::Unchanged => "Unchanged",
        DiffKind::Modified => "Modified",
        DiffKind::Missing => "Missing",
        DiffKind::Extraneous => "Extraneous",
    }
}

/// Compares each desired object with its live one, and tracked live objects no longer
/// desired.
pub async fn diff_all(
    client: &kube::Client,
    kinds: &Kinds,
    app: &Application,
    desired: &Desired,
) -> Result<Vec<ResourceDiffView>, ApiError> {
    let (rules, _errors) = IgnoreRules::compile(&app.spec.ignore_differences);
    let options = DiffOptions {
        ignore: rules,
        ..Default::default()
    };
    let mut pairs: Vec<(ResourceKey, Option<Value>, Option<Value>)> = Vec::new();
    for (key, obj) in &desired.objects {
        let version = obj
            .get("apiVersion")
            .and_then(Value::as_str)
            .and_then(|a| a.rsplit('/').next())
            .unwrap_or("v1")
            .to_string();
        let live = match kinds
            .resolve(client, &key.group, &version, &key.kind)
            .await?
        {
            Some(kind) => live::get(client, &kind, &key.namespace, &key.name).await?,
            None => None,
        };
        pairs.push((key.clone(), Some(obj.clone()), live));
    }
    for (r, live) in live::managed(client, kinds, app).await? {
        let key = ResourceKey::new(&r.group, &r.kind, &r.namespace, &r.name);
        if live.is_some() && !pairs.iter().any(|(k, _, _)| *k == key) {
            pairs.push((key, None, live));
        }
    }
    let mut out = Vec::new();
    for (key, want, live) in pairs {
        let d = diff(want.as_ref(), live.as_ref(), &options)
            .map_err(|e| ApiError::Render(format!("comparing {key}: {e}")))?;
        // The engine masks Secret values in what it compares (both sides, consistently).
        let (ly, wy) = (yaml(d.live.as_ref()), yaml(d.desired.as_ref()));
        out.push(ResourceDiffView {
            group: key.group.clone(),
            kind: key.kind.clone(),
            namespace: key.namespace.clone(),
            name: key.name.clone(),
            status: kind_name(d.kind),
            rows: side_by_side(&ly, &wy),
            live: ly,
            desired: wy,
            unified: d.unified,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml_sorts_keys_at_every_level() {
        let v = serde_json::json!({"b": 1, "a": {"d": [{"z": 1, "y": 2}], "c": 0}});
        assert_eq!(
            yaml(Some(&v)),
            "a:\n  c: 0\n  d:\n  - y: 2\n    z: 1\nb: 1\n"
        );
        assert_eq!(yaml(None), "");
    }

    #[test]
    fn side_by_side_pairs_changed_lines() {
        let rows = side_by_side("a: 1\nb: 2\nc: 3\n", "a: 1\nb: 5\nc: 3\nd: 4\n");
        let ops: Vec<&str> = rows.iter().map(|r| r.op).collect();
        assert_eq!(ops, ["equal", "replace", "equal", "insert"]);
        assert_eq!(rows[1].live.as_deref(), Some("b: 2"));
        assert_eq!(rows[1].desired.as_deref(), Some("b: 5"));
        assert_eq!(rows[3].live, None);
    }
}
