//! Output order: kustomize's "legacy" order by default (namespaces and other cluster basics
//! first, webhooks last, otherwise by type then namespace and name), or input order with
//! `sortOptions: {order: fifo}`; `legacySortOptions` replaces the first and last kind lists.

use crate::error::Result;
use crate::kustomization::Kustomization;
use crate::resource::Resource;
use serde_json::Value;

const ORDER_FIRST: &[&str] = &[
    "Namespace",
    "ResourceQuota",
    "StorageClass",
    "CustomResourceDefinition",
    "ServiceAccount",
    "PodSecurityPolicy",
    "Role",
    "ClusterRole",
    "RoleBinding",
    "ClusterRoleBinding",
    "ConfigMap",
    "Secret",
    "Endpoints",
    "Service",
    "LimitRange",
    "PriorityClass",
    "PersistentVolume",
    "PersistentVolumeClaim",
    "Deployment",
    "StatefulSet",
    "CronJob",
    "PodDisruptionBudget",
];

const ORDER_LAST: &[&str] = &[
    "MutatingWebhookConfiguration",
    "ValidatingWebhookConfiguration",
];

pub(crate) fn sort(kust: &Kustomization, mut resources: Vec<Resource>) -> Result<Vec<Resource>> {
    let opts = kust.get("sortOptions").cloned().unwrap_or(Value::Null);
    let order = opts.get("order").and_then(Value::as_str).unwrap_or("");
    let legacy_opts = opts.get("legacySortOptions").filter(|v| !v.is_null());
    if !opts.is_null() {
        match order {
            "fifo" => {
                if legacy_opts.is_some() {
                    return Err(kust.field_error(
                        "sortOptions",
                        "the field 'sortOptions.legacySortOptions' is set but the selected sort order is 'fifo', not 'legacy'",
                    ));
                }
                return Ok(resources);
            }
            "legacy" => {}
            _ => {
                return Err(kust.field_error(
                    "sortOptions",
                    "the field 'sortOptions.order' must be one of [fifo, legacy]",
                ));
            }
        }
    }
    let list = |k: &str| -> Option<Vec<String>> {
        legacy_opts?.get(k)?.as_array().map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
    };
    let first: Vec<String> =
        list("orderFirst").unwrap_or_else(|| ORDER_FIRST.iter().map(|s| s.to_string()).collect());
    let last: Vec<String> =
        list("orderLast").unwrap_or_else(|| ORDER_LAST.iter().map(|s| s.to_string()).collect());
    let rank = |kind: &str| -> i64 {
        if let Some(i) = first.iter().position(|k| k == kind) {
            return i as i64 - first.len() as i64 - 1;
        }
        if let Some(i) = last.iter().position(|k| k == kind) {
            return i as i64 + 1;
        }
        0
    };
    // Within one type kustomize compares "namespace|name" as one string, with "~X" for no
    // namespace (so, for example, namespace "a" sorts after "a-b", "a.b" and "a_x").
    let mut keyed: Vec<(i64, String, String, Resource)> = resources
        .drain(..)
        .map(|r| {
            let gvk = r.gvk();
            let ns = if r.namespace().is_empty() {
                "~X"
            } else {
                r.namespace()
            };
            let key = format!("{ns}|{}", r.name());
            (rank(&gvk.kind), gvk.sort_string(), key, r)
        })
        .collect();
    keyed.sort_by(|a, b| {
        a.0.cmp(&b.0)
            .then_with(|| {
                let (ka, kb) = (a.3.kind(), b.3.kind());
                let core = a.3.gvk().group.is_empty() || b.3.gvk().group.is_empty();
                if ka == "Namespace" && kb == "Namespace" && core {
                    // kustomize puts core Namespaces first by reversing the comparison.
                    b.1.cmp(&a.1)
                } else {
                    a.1.cmp(&b.1)
                }
            })
            .then_with(|| a.2.cmp(&b.2))
    });
    Ok(keyed.into_iter().map(|k| k.3).collect())
}
