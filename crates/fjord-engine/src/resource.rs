//! Keys for Kubernetes objects and Argo CD's tracking annotation.
//!
//! Every stage pairs desired and live objects by [`ResourceKey`] (group, kind, namespace,
//! name: the version is left out because one object is served at several versions). An object
//! belongs to an Application when its `argocd.argoproj.io/tracking-id` annotation names that
//! Application *and* the object itself, so copies made by other tools are never pruned.

use serde_json::Value;
use std::fmt;

/// The field manager Fjord applies with.
pub const FIELD_MANAGER: &str = "fjord";
/// Tracking annotation: `<app>:<group>/<kind>:<namespace>/<name>`.
pub const ANNOTATION_TRACKING_ID: &str = "argocd.argoproj.io/tracking-id";
/// Per-object sync options: `Prune=false,ServerSideApply=true`.
pub const ANNOTATION_SYNC_OPTIONS: &str = "argocd.argoproj.io/sync-options";
/// Per-object compare options: `IgnoreExtraneous`.
pub const ANNOTATION_COMPARE_OPTIONS: &str = "argocd.argoproj.io/compare-options";
/// Sync wave (integer, default 0).
pub const ANNOTATION_SYNC_WAVE: &str = "argocd.argoproj.io/sync-wave";
/// Hook type(s).
pub const ANNOTATION_HOOK: &str = "argocd.argoproj.io/hook";
/// `"true"` removes an object from health aggregation.
pub const ANNOTATION_IGNORE_HEALTHCHECK: &str = "argocd.argoproj.io/ignore-healthcheck";
/// On an Application: `normal` or `hard` forces a refresh.
pub const ANNOTATION_REFRESH: &str = "argocd.argoproj.io/refresh";

/// Identifies one object: group (empty for core), kind, namespace (empty for cluster-scoped)
/// and name.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ResourceKey {
    /// API group, empty for the core group.
    pub group: String,
    /// Kind.
    pub kind: String,
    /// Namespace, empty for cluster-scoped objects.
    pub namespace: String,
    /// Name.
    pub name: String,
}

impl ResourceKey {
    /// Builds a key.
    pub fn new(group: &str, kind: &str, namespace: &str, name: &str) -> Self {
        ResourceKey {
            group: group.to_string(),
            kind: kind.to_string(),
            namespace: namespace.to_string(),
            name: name.to_string(),
        }
    }

    /// The key of an object (`apiVersion`, `kind`, `metadata.namespace`, `metadata.name`);
    /// `None` when kind or name is missing.
    pub fn of(obj: &Value) -> Option<Self> {
        let api_version = obj.get("apiVersion")?.as_str()?;
        let kind = obj.get("kind")?.as_str()?;
        let meta = obj.get("metadata")?;
        let name = meta.get("name")?.as_str()?;
        let namespace = meta.get("namespace").and_then(Value::as_str).unwrap_or("");
        Some(ResourceKey::new(
            group_of(api_version),
            kind,
            namespace,
            name,
        ))
    }

    /// The tracking id this object carries when Application `app` manages it.
    pub fn tracking_id(&self, app: &str) -> String {
        format!(
            "{app}:{}/{}:{}/{}",
            self.group, self.kind, self.namespace, self.name
        )
    }
}

/// `group/Kind namespace/name` (`Kind namespace/name` for the core group, no namespace part
/// for cluster-scoped objects).
impl fmt::Display for ResourceKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.group.is_empty() {
            write!(f, "{}/", self.group)?;
        }
        write!(f, "{} ", self.kind)?;
        if !self.namespace.is_empty() {
            write!(f, "{}/", self.namespace)?;
        }
        f.write_str(&self.name)
    }
}

/// The group of an `apiVersion` (`apps/v1` → `apps`, `v1` → ``).
pub fn group_of(api_version: &str) -> &str {
    api_version.rsplit_once('/').map_or("", |(g, _)| g)
}

/// A parsed tracking id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrackingId {
    /// The Application's instance name (`name`, or `namespace_name` for apps outside the
    /// controller's namespace).
    pub app: String,
    /// The object the annotation says it is on.
    pub key: ResourceKey,
}

/// Parses `<app>:<group>/<kind>:<namespace>/<name>`; `None` when malformed.
pub fn parse_tracking_id(s: &str) -> Option<TrackingId> {
    let mut parts = s.splitn(3, ':');
    let app = parts.next()?;
    let group_kind = parts.next()?;
    let ns_name = parts.next()?;
    let (group, kind) = group_kind.split_once('/')?;
    let (namespace, name) = ns_name.split_once('/')?;
    if app.is_empty() || kind.is_empty() || name.is_empty() {
        return None;
    }
    Some(TrackingId {
        app: app.to_string(),
        key: ResourceKey::new(group, kind, namespace, name),
    })
}

/// The value of annotation `key` on an object.
pub fn annotation<'a>(obj: &'a Value, key: &str) -> Option<&'a str> {
    obj.get("metadata")?.get("annotations")?.get(key)?.as_str()
}

/// True when `obj` carries a tracking id naming Application `app` and the object itself
/// (Argo CD's "self-referencing" rule). Cluster-scoped objects must have an empty namespace
/// part; namespaced ones the object's own namespace.
pub fn is_tracked_by(obj: &Value, app: &str) -> bool {
    let Some(id) = annotation(obj, ANNOTATION_TRACKING_ID).and_then(parse_tracking_id) else {
        return false;
    };
    id.app == app && ResourceKey::of(obj).is_some_and(|k| k == id.key)
}

/// The instance name Argo CD uses in tracking ids: the Application's name when it lives in
/// the controller's namespace, else `<namespace>_<name>` ("apps in any namespace").
pub fn app_instance_name(
    app_name: &str,
    app_namespace: &str,
    controller_namespace: &str,
) -> String {
    if app_namespace.is_empty() || app_namespace == controller_namespace {
        app_name.to_string()
    } else {
        format!("{app_namespace}_{app_name}")
    }
}

/// Prepares a rendered object for apply and diff: sets the destination namespace on a
/// namespaced object that has none, and the tracking annotation naming `app_instance` and
/// the object itself. Returns the object's final key (`None` without kind or name).
pub fn prepare_desired(
    obj: &mut Value,
    app_instance: &str,
    destination_namespace: &str,
    namespaced: bool,
) -> Option<ResourceKey> {
    let meta = obj.get_mut("metadata")?.as_object_mut()?;
    let has_ns = meta
        .get("namespace")
        .and_then(Value::as_str)
        .is_some_and(|n| !n.is_empty());
    if namespaced && !has_ns && !destination_namespace.is_empty() {
        meta.insert(
            "namespace".into(),
            Value::String(destination_namespace.into()),
        );
    }
    if !namespaced {
        meta.shift_remove("namespace");
    }
    let key = ResourceKey::of(obj)?;
    let meta = obj.get_mut("metadata")?.as_object_mut()?;
    let annotations = meta
        .entry("annotations")
        .or_insert_with(|| Value::Object(serde_json::Map::new()));
    if !annotations.is_object() {
        *annotations = Value::Object(serde_json::Map::new());
    }
    annotations.as_object_mut()?.insert(
        ANNOTATION_TRACKING_ID.into(),
        Value::String(key.tracking_id(app_instance)),
    );
    Some(key)
}

/// Parses a comma-separated `Name=value` list (the sync-options annotation) into pairs,
/// trimming blanks; entries without `=` get an empty value.
pub fn parse_options(s: &str) -> Vec<(String, String)> {
    s.split(',')
        .map(str::trim)
        .filter(|o| !o.is_empty())
        .map(|o| match o.split_once('=') {
            Some((k, v)) => (k.trim().to_string(), v.trim().to_string()),
            None => (o.to_string(), String::new()),
        })
        .collect()
}

/// True when the object's sync-options annotation contains `Name=value`.
pub fn has_sync_option(obj: &Value, name: &str, value: &str) -> bool {
    annotation(obj, ANNOTATION_SYNC_OPTIONS).is_some_and(|s| {
        parse_options(s)
            .iter()
            .any(|(k, v)| k == name && v == value)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn deploy(annotations: Value) -> Value {
        json!({"apiVersion": "apps/v1", "kind": "Deployment",
               "metadata": {"name": "web", "namespace": "prod", "annotations": annotations}})
    }

    #[test]
    fn tracking_id_formats_like_argo() {
        let k = ResourceKey::new("apps", "Deployment", "prod", "web");
        assert_eq!(k.tracking_id("shop"), "shop:apps/Deployment:prod/web");
        let ns = ResourceKey::new("", "Namespace", "", "prod");
        assert_eq!(ns.tracking_id("shop"), "shop:/Namespace:/prod");
    }

    #[test]
    fn tracking_id_parses_back() {
        let id = parse_tracking_id("argocd_shop:/Service:prod/web").unwrap();
        assert_eq!(id.app, "argocd_shop");
        assert_eq!(id.key, ResourceKey::new("", "Service", "prod", "web"));
        assert_eq!(parse_tracking_id("shop:apps/Deployment"), None);
        assert_eq!(parse_tracking_id("shop:Deployment:prod/web"), None);
        assert_eq!(parse_tracking_id(":apps/Deployment:prod/web"), None);
    }

    #[test]
    fn key_of_object_and_display() {
        let k = ResourceKey::of(&deploy(json!({}))).unwrap();
        assert_eq!(k, ResourceKey::new("apps", "Deployment", "prod", "web"));
        assert_eq!(k.to_string(), "apps/Deployment prod/web");
        let ns = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "prod"}});
        assert_eq!(ResourceKey::of(&ns).unwrap().to_string(), "Namespace prod");
        assert_eq!(ResourceKey::of(&json!({"kind": "X"})), None);
    }

    #[test]
    fn only_self_referencing_ids_count() {
        let own = deploy(json!({ANNOTATION_TRACKING_ID: "shop:apps/Deployment:prod/web"}));
        assert!(is_tracked_by(&own, "shop"));
        assert!(!is_tracked_by(&own, "other"));
        // A copy (another namespace) of a tracked object is not owned.
        let copy = deploy(json!({ANNOTATION_TRACKING_ID: "shop:apps/Deployment:staging/web"}));
        assert!(!is_tracked_by(&copy, "shop"));
        assert!(!is_tracked_by(&deploy(json!({})), "shop"));
    }

    #[test]
    fn instance_names_and_prepared_objects() {
        assert_eq!(app_instance_name("shop", "argocd", "argocd"), "shop");
        assert_eq!(app_instance_name("shop", "team-a", "argocd"), "team-a_shop");
        let mut d =
            json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"}});
        let key = prepare_desired(&mut d, "shop", "payment-prod", true).unwrap();
        assert_eq!(
            key,
            ResourceKey::new("apps", "Deployment", "payment-prod", "web")
        );
        assert_eq!(
            d["metadata"],
            json!({"name": "web", "namespace": "payment-prod",
                   "annotations": {ANNOTATION_TRACKING_ID: "shop:apps/Deployment:payment-prod/web"}})
        );
        assert!(is_tracked_by(&d, "shop"));
        // Cluster-scoped objects get no namespace; an explicit namespace is kept.
        let mut ns = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "x", "namespace": "y"}});
        prepare_desired(&mut ns, "shop", "payment-prod", false).unwrap();
        assert_eq!(
            ns["metadata"]["annotations"][ANNOTATION_TRACKING_ID],
            "shop:/Namespace:/x"
        );
        let mut cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "other"}});
        prepare_desired(&mut cm, "shop", "payment-prod", true).unwrap();
        assert_eq!(cm["metadata"]["namespace"], "other");
    }

    #[test]
    fn sync_options_annotation() {
        let o = deploy(json!({ANNOTATION_SYNC_OPTIONS: "Prune=false, ServerSideApply=true"}));
        assert!(has_sync_option(&o, "Prune", "false"));
        assert!(has_sync_option(&o, "ServerSideApply", "true"));
        assert!(!has_sync_option(&o, "Delete", "false"));
        assert_eq!(
            parse_options("A=b,,IgnoreExtraneous"),
            [
                ("A".into(), "b".into()),
                ("IgnoreExtraneous".into(), String::new())
            ]
        );
    }
}
