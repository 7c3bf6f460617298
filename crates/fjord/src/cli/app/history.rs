//! The audit part of `fjord app history`: for each finished sync or rollback (newest
//! first), who started it, when, the revisions, and each object created, changed (with its
//! changed fields) or pruned. Records come from the API (`audit` of the history response)
//! or, with `--core`, from the Application's Events; they never hold a Secret value.

use fjord_engine::audit::AuditRecord;
use serde_json::Value;
use std::fmt::Write as _;

/// The audit records of a history response as text; empty when there are none.
pub fn audit_text(history: &Value) -> String {
    let records: Vec<AuditRecord> = history["audit"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| serde_json::from_value(r.clone()).ok())
        .collect();
    if records.is_empty() {
        return String::new();
    }
    let mut out = String::from("\nAUDIT (newest first)\n");
    for r in &records {
        let who = match &r.initiated_by.username {
            Some(u) => format!("{:?} {u}", r.initiated_by.trigger).to_lowercase(),
            None => format!("{:?}", r.initiated_by.trigger).to_lowercase(),
        };
        let _ = writeln!(
            out,
            "{}  {}  {}  by {who}  {} → {}{}",
            r.finished_at.as_deref().unwrap_or(&r.started_at),
            r.operation.as_str(),
            r.phase,
            short(r.revision_before.as_deref()),
            short(r.revision_after.as_deref()),
            if r.dry_run { "  (dry run)" } else { "" }
        );
        let _ = writeln!(out, "  started {}: {}", r.started_at, r.message);
        for o in &r.objects {
            let kind = if o.group.is_empty() {
                o.kind.clone()
            } else {
                format!("{}/{}", o.group, o.kind)
            };
            let name = if o.namespace.is_empty() {
                o.name.clone()
            } else {
                format!("{}/{}", o.namespace, o.name)
            };
            let _ = writeln!(out, "  {:<12} {kind} {name}", o.action.as_str());
            for c in &o.changes {
                let _ = writeln!(out, "      {c}");
            }
            if o.changes_omitted > 0 {
                let _ = writeln!(out, "      ... {} more changes", o.changes_omitted);
            }
            if let Some(m) = &o.message {
                let _ = writeln!(out, "      {m}");
            }
        }
        if r.unchanged > 0 {
            let _ = writeln!(out, "  ({} objects unchanged)", r.unchanged);
        }
        if r.objects_omitted > 0 {
            let _ = writeln!(out, "  ({} more objects not recorded)", r.objects_omitted);
        }
        if r.partial {
            let _ = writeln!(
                out,
                "  (partial: the controller restarted during this operation)"
            );
        }
    }
    out
}

fn short(rev: Option<&str>) -> String {
    match rev {
        Some(r) => r.chars().take(8).collect(),
        None => "-".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn records_list_who_revisions_objects_and_changes() {
        let h = json!({"items": [], "audit": [{
            "version": "fjord.dev/audit/v1",
            "application": {"namespace": "argocd", "name": "shop", "project": "default"},
            "operation": "rollback",
            "initiatedBy": {"type": "user", "username": "alice"},
            "phase": "Succeeded", "message": "successfully synced (all tasks run)",
            "revisionBefore": "bbbbbbbbbbbb", "revisionAfter": "aaaaaaaaaaaa",
            "startedAt": "2024-01-02T00:00:00Z", "finishedAt": "2024-01-02T00:00:05Z",
            "objects": [
                {"group": "apps", "kind": "Deployment", "namespace": "shop", "name": "web", "action": "configured",
                 "changes": [{"path": "spec.replicas", "change": "changed", "old": "3", "new": "2"}]},
                {"kind": "Secret", "namespace": "shop", "name": "creds", "action": "configured",
                 "changes": [{"path": "data.password", "change": "changed", "masked": true}]},
                {"kind": "ConfigMap", "namespace": "shop", "name": "old", "action": "pruned"}
            ]
        }]});
        let text = audit_text(&h);
        assert!(
            text.contains(
                "2024-01-02T00:00:05Z  rollback  Succeeded  by user alice  bbbbbbbb → aaaaaaaa"
            ),
            "{text}"
        );
        assert!(
            text.contains("  configured   apps/Deployment shop/web\n      spec.replicas: 3 → 2\n"),
            "{text}"
        );
        assert!(text.contains("      data.password: changed\n"), "{text}");
        assert!(
            text.contains("  pruned       ConfigMap shop/old\n"),
            "{text}"
        );
        assert_eq!(audit_text(&json!({"items": []})), "");
    }
}
