//! The resource tree: the managed resources (`status.resources`, with their sync and health)
//! and, below them, every object that names one of them, directly or through another child,
//! in its `ownerReferences` (Deployment → ReplicaSet → Pod). Pure over objects already read.

use std::collections::{HashMap, HashSet};

use fjord_engine::types::ResourceStatus;
use serde::Serialize;
use serde_json::Value;

/// One node of the tree.
#[derive(Clone, Debug, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct TreeNode {
    /// `group/kind/namespace/name`.
    pub id: String,
    /// API group.
    pub group: String,
    /// API version.
    pub version: String,
    /// Kind.
    pub kind: String,
    /// Namespace (empty for cluster-scoped).
    pub namespace: String,
    /// Name.
    pub name: String,
    /// `metadata.uid`, when live.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
    /// Ids of the owners in the tree (empty for managed resources: the Application owns them).
    pub parents: Vec<String>,
    /// Managed by the Application (else a child found by ownership).
    pub managed: bool,
    /// Exists in the cluster.
    pub live: bool,
    /// Sync status (managed resources).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sync: Option<String>,
    /// Health code.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub health: Option<String>,
    /// Health message.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub health_message: Option<String>,
    /// Short facts (images, replicas, phase).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub info: Vec<String>,
}

fn str_at<'a>(v: &'a Value, ptr: &str) -> &'a str {
    v.pointer(ptr).and_then(Value::as_str).unwrap_or("")
}

fn node_id(group: &str, kind: &str, namespace: &str, name: &str) -> String {
    format!("{group}/{kind}/{namespace}/{name}")
}

fn json_str<T: Serialize>(v: &T) -> Option<String> {
    match serde_json::to_value(v).ok()? {
        Value::String(s) => Some(s),
        _ => None,
    }
}

fn info_of(obj: &Value) -> Vec<String> {
    let mut info = Vec::new();
    if let Some(phase) = obj.pointer("/status/phase").and_then(Value::as_str) {
        info.push(format!("phase: {phase}"));
    }
    if let (Some(want), Some(ready)) = (
        obj.pointer("/spec/replicas").and_then(Value::as_i64),
        obj.pointer("/status/readyReplicas")
            .and_then(Value::as_i64)
            .or(Some(0)),
    ) {
        info.push(format!("ready: {ready}/{want}"));
    }
    let containers = obj
        .pointer("/spec/containers")
        .or_else(|| obj.pointer("/spec/template/spec/containers"))
        .and_then(Value::as_array);
    for c in containers.into_iter().flatten() {
        if let Some(image) = c.get("image").and_then(Value::as_str) {
            info.push(format!("image: {image}"));
        }
    }
    info
}

fn child_node(obj: &Value, parents: Vec<String>) -> TreeNode {
    let api_version = str_at(obj, "/apiVersion");
    let (group, version) = match api_version.rsplit_once('/') {
        Some((g, v)) => (g.to_string(), v.to_string()),
        None => (String::new(), api_version.to_string()),
    };
    let kind = str_at(obj, "/kind").to_string();
    let namespace = str_at(obj, "/metadata/namespace").to_string();
    let name = str_at(obj, "/metadata/name").to_string();
    let health = fjord_engine::health::assess(obj);
    TreeNode {
        id: node_id(&group, &kind, &namespace, &name),
        group,
        version,
        kind,
        namespace,
        name,
        uid: Some(str_at(obj, "/metadata/uid").to_string()).filter(|u| !u.is_empty()),
        parents,
        managed: false,
        live: true,
        sync: None,
        health: health.as_ref().and_then(|h| json_str(&h.status)),
        health_message: health.map(|h| h.message).filter(|m| !m.is_empty()),
        info: info_of(obj),
    }
}

/// Builds the tree from the managed resources (with their live objects) and candidate
/// children. Managed nodes come first in `status.resources` order, children after, each
/// after its owner.
pub fn build(managed: &[(ResourceStatus, Option<Value>)], candidates: &[Value]) -> Vec<TreeNode> {
    let mut nodes = Vec::new();
    let mut by_uid: HashMap<String, String> = HashMap::new();
    for (r, live) in managed {
        let id = node_id(&r.group, &r.kind, &r.namespace, &r.name);
        let uid = live
            .as_ref()
            .map(|l| str_at(l, "/metadata/uid").to_string())
            .filter(|u| !u.is_empty());
        if let Some(u) = &uid {
            by_uid.insert(u.clone(), id.clone());
        }
        nodes.push(TreeNode {
            id,
            group: r.group.clone(),
            version: r.version.clone(),
            kind: r.kind.clone(),
            namespace: r.namespace.clone(),
            name: r.name.clone(),
            uid,
            parents: Vec::new(),
            managed: true,
            live: live.is_some(),
            sync: r.status.as_ref().and_then(json_str),
            health: r.health.as_ref().and_then(|h| json_str(&h.status)),
            health_message: r.health.as_ref().and_then(|h| h.message.clone()),
            info: live.as_ref().map(info_of).unwrap_or_default(),
        });
    }
    // Breadth first: each round adopts the candidates owned by a node already in the tree.
    let mut placed: HashSet<usize> = HashSet::new();
    loop {
        let mut added = false;
        for (i, obj) in candidates.iter().enumerate() {
            if placed.contains(&i) {
                continue;
            }
            let parents: Vec<String> = obj
                .pointer("/metadata/ownerReferences")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|o| o.get("uid").and_then(Value::as_str))
                .filter_map(|u| by_uid.get(u).cloned())
                .collect();
            if parents.is_empty() {
                continue;
            }
            let node = child_node(obj, parents);
            if let Some(u) = &node.uid {
                by_uid.insert(u.clone(), node.id.clone());
            }
            nodes.push(node);
            placed.insert(i);
            added = true;
        }
        if !added {
            return nodes;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn status(group: &str, kind: &str, name: &str) -> ResourceStatus {
        serde_json::from_value(json!({"group": group, "version": "v1", "kind": kind,
            "namespace": "prod", "name": name, "status": "Synced",
            "health": {"status": "Healthy"}}))
        .unwrap()
    }

    fn obj(api: &str, kind: &str, name: &str, uid: &str, owner: Option<&str>) -> Value {
        let mut o = json!({"apiVersion": api, "kind": kind,
            "metadata": {"name": name, "namespace": "prod", "uid": uid}});
        if let Some(owner) = owner {
            o["metadata"]["ownerReferences"] = json!([{"uid": owner}]);
        }
        o
    }

    #[test]
    fn ownership_chains_hang_below_the_managed_resource() {
        let managed = vec![
            (
                status("apps", "Deployment", "web"),
                Some(obj("apps/v1", "Deployment", "web", "d1", None)),
            ),
            (status("", "Service", "web"), None),
        ];
        let candidates = vec![
            // The Pod comes before its ReplicaSet: it is adopted in the second round.
            json!({"apiVersion": "v1", "kind": "Pod",
                   "metadata": {"name": "web-1-a", "namespace": "prod", "uid": "p1",
                                "ownerReferences": [{"uid": "r1"}]},
                   "spec": {"containers": [{"image": "nginx:1"}]},
                   "status": {"phase": "Running",
                              "conditions": [{"type": "Ready", "status": "True"}]}}),
            obj("apps/v1", "ReplicaSet", "web-1", "r1", Some("d1")),
            obj("v1", "Pod", "stranger", "p2", Some("other")),
        ];
        let tree = build(&managed, &candidates);
        let ids: Vec<&str> = tree.iter().map(|n| n.id.as_str()).collect();
        assert_eq!(
            ids,
            [
                "apps/Deployment/prod/web",
                "/Service/prod/web",
                "apps/ReplicaSet/prod/web-1",
                "/Pod/prod/web-1-a"
            ]
        );
        assert_eq!(tree[2].parents, ["apps/Deployment/prod/web"]);
        assert_eq!(tree[3].parents, ["apps/ReplicaSet/prod/web-1"]);
        assert!(!tree[1].live, "the Service is missing");
        assert_eq!(tree[0].sync.as_deref(), Some("Synced"));
        assert_eq!(tree[0].health.as_deref(), Some("Healthy"));
        assert_eq!(tree[3].health.as_deref(), Some("Healthy"), "a running Pod");
        assert!(tree[3].info.contains(&"image: nginx:1".to_string()));
    }
}
