//! Resource hooks as Argo CD reads them: which phases an object hooks into, its delete
//! policies, its wave, the name a `generateName` hook gets, and what a hook's live state
//! says about its progress.
//!
//! `argocd.argoproj.io/hook` wins; an object without it may carry Helm's `helm.sh/hook`,
//! mapped the way Argo CD maps it (pre-install/pre-upgrade → PreSync, post-install/
//! post-upgrade → PostSync, `helm.sh/hook-weight` → wave, `helm.sh/hook-delete-policy` →
//! the Argo CD policy). Hooks are not part of the diff or the prune set: they run once per
//! sync operation, in phase and wave order.

use super::order::SyncPhase;
use crate::health::HealthStatus;
use crate::resource::{ANNOTATION_HOOK, ANNOTATION_SYNC_WAVE, annotation};
use crate::types::HealthStatusCode;
use serde_json::Value;

/// Argo CD's hook-delete-policy annotation.
pub const ANNOTATION_HOOK_DELETE_POLICY: &str = "argocd.argoproj.io/hook-delete-policy";
/// Helm's hook annotation.
pub const ANNOTATION_HELM_HOOK: &str = "helm.sh/hook";
/// Helm's hook weight (Argo CD uses it as the sync wave).
pub const ANNOTATION_HELM_HOOK_WEIGHT: &str = "helm.sh/hook-weight";
/// Helm's hook delete policy.
pub const ANNOTATION_HELM_HOOK_DELETE_POLICY: &str = "helm.sh/hook-delete-policy";

/// A hook type (`argocd.argoproj.io/hook` value).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum HookType {
    /// Before the sync's objects are applied.
    PreSync,
    /// With the sync's objects.
    Sync,
    /// After every object is applied and healthy.
    PostSync,
    /// When the sync fails.
    SyncFail,
    /// Never applied.
    Skip,
    /// Before the Application's objects are deleted (deletion only).
    PreDelete,
    /// After the Application's objects are deleted (deletion only).
    PostDelete,
}

impl HookType {
    /// Argo CD's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            HookType::PreSync => "PreSync",
            HookType::Sync => "Sync",
            HookType::PostSync => "PostSync",
            HookType::SyncFail => "SyncFail",
            HookType::Skip => "Skip",
            HookType::PreDelete => "PreDelete",
            HookType::PostDelete => "PostDelete",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        Some(match s.trim() {
            "PreSync" => HookType::PreSync,
            "Sync" => HookType::Sync,
            "PostSync" => HookType::PostSync,
            "SyncFail" => HookType::SyncFail,
            "Skip" => HookType::Skip,
            "PreDelete" => HookType::PreDelete,
            "PostDelete" => HookType::PostDelete,
            _ => return None,
        })
    }

    fn from_helm(s: &str) -> Option<Self> {
        Some(match s.trim() {
            "pre-install" | "pre-upgrade" => HookType::PreSync,
            "post-install" | "post-upgrade" => HookType::PostSync,
            "pre-delete" => HookType::PreDelete,
            "post-delete" => HookType::PostDelete,
            _ => return None,
        })
    }

    /// The sync phase this hook runs in (`None` for Skip and the deletion hooks).
    pub fn sync_phase(self) -> Option<SyncPhase> {
        match self {
            HookType::PreSync => Some(SyncPhase::PreSync),
            HookType::Sync => Some(SyncPhase::Sync),
            HookType::PostSync => Some(SyncPhase::PostSync),
            HookType::SyncFail => Some(SyncPhase::SyncFail),
            _ => None,
        }
    }
}

fn is_helm_hook(obj: &Value) -> bool {
    annotation(obj, ANNOTATION_HOOK).is_none() && annotation(obj, ANNOTATION_HELM_HOOK).is_some()
}

/// The hook types of `obj`, in annotation order without repeats: Argo CD's annotation if
/// present, else Helm's (Helm hooks Argo CD does not run, like `test`, are left out).
pub fn hook_types(obj: &Value) -> Vec<HookType> {
    let mut out = Vec::new();
    let parsed: Vec<Option<HookType>> = if let Some(a) = annotation(obj, ANNOTATION_HOOK) {
        a.split(',').map(HookType::parse).collect()
    } else if let Some(h) = annotation(obj, ANNOTATION_HELM_HOOK) {
        h.split(',').map(HookType::from_helm).collect()
    } else {
        Vec::new()
    };
    for t in parsed.into_iter().flatten() {
        if !out.contains(&t) {
            out.push(t);
        }
    }
    out
}

/// `Skip` alone: the object is neither applied nor compared.
pub fn is_skipped(obj: &Value) -> bool {
    hook_types(obj) == [HookType::Skip]
}

/// True when `obj` is a hook (any hook annotation other than a lone `Skip`, including a Helm
/// hook type Argo CD does not run): it is not part of the diff or the prune set.
pub fn is_hook(obj: &Value) -> bool {
    if is_skipped(obj) {
        return false;
    }
    annotation(obj, ANNOTATION_HOOK).is_some() || annotation(obj, ANNOTATION_HELM_HOOK).is_some()
}

/// The sync phases a hook runs in, in phase order.
pub fn hook_phases(obj: &Value) -> Vec<(SyncPhase, HookType)> {
    let mut out: Vec<(SyncPhase, HookType)> = hook_types(obj)
        .into_iter()
        .filter_map(|t| Some((t.sync_phase()?, t)))
        .collect();
    out.sort();
    out
}

/// The wave of a hook: `argocd.argoproj.io/sync-wave`, or for a Helm hook without it
/// `helm.sh/hook-weight` (default 0).
pub fn hook_wave(obj: &Value) -> i64 {
    let raw = match annotation(obj, ANNOTATION_SYNC_WAVE) {
        Some(w) => Some(w),
        None if is_helm_hook(obj) => annotation(obj, ANNOTATION_HELM_HOOK_WEIGHT),
        None => None,
    };
    raw.and_then(|w| w.trim().parse().ok()).unwrap_or(0)
}

/// When a hook object is deleted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DeletePolicy {
    /// After the hook succeeded.
    HookSucceeded,
    /// After the hook failed.
    HookFailed,
    /// Before the hook is created again (the default).
    BeforeHookCreation,
}

/// The delete policies of a hook (Argo CD's annotation, else Helm's mapped; default
/// `BeforeHookCreation`).
pub fn delete_policies(obj: &Value) -> Vec<DeletePolicy> {
    let mut out = Vec::new();
    let argo = annotation(obj, ANNOTATION_HOOK_DELETE_POLICY);
    let helm = annotation(obj, ANNOTATION_HELM_HOOK_DELETE_POLICY).filter(|_| argo.is_none());
    for p in argo.or(helm).unwrap_or("").split(',') {
        let policy = match p.trim() {
            "HookSucceeded" | "hook-succeeded" => DeletePolicy::HookSucceeded,
            "HookFailed" | "hook-failed" => DeletePolicy::HookFailed,
            "BeforeHookCreation" | "before-hook-creation" => DeletePolicy::BeforeHookCreation,
            _ => continue,
        };
        if !out.contains(&policy) {
            out.push(policy);
        }
    }
    if out.is_empty() {
        out.push(DeletePolicy::BeforeHookCreation);
    }
    out
}

/// The name Argo CD gives a hook that has only `generateName`: the prefix, then the first 7
/// characters of the revision, the phase and the operation's start (Unix seconds), lower
/// case, so every reconcile of one operation names it the same.
pub fn generated_hook_name(
    generate_name: &str,
    revision: &str,
    phase: SyncPhase,
    started_unix: i64,
) -> String {
    let rev: String = revision.chars().take(7).collect();
    format!("{generate_name}{rev}-{phase:?}-{started_unix}").to_lowercase()
}

/// Sets `metadata.name` of a `generateName`-only object (see [`generated_hook_name`]);
/// returns false when it has neither.
pub fn name_hook(obj: &mut Value, revision: &str, phase: SyncPhase, started_unix: i64) -> bool {
    let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) else {
        return false;
    };
    if meta
        .get("name")
        .and_then(Value::as_str)
        .is_some_and(|n| !n.is_empty())
    {
        return true;
    }
    let Some(prefix) = meta
        .get("generateName")
        .and_then(Value::as_str)
        .filter(|g| !g.is_empty())
    else {
        return false;
    };
    let name = generated_hook_name(prefix, revision, phase, started_unix);
    meta.shift_remove("generateName");
    meta.insert("name".into(), Value::String(name));
    true
}

/// Progress of a hook, as `hookPhase` spells it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum HookPhase {
    /// Created, not finished.
    Running,
    /// Finished successfully.
    Succeeded,
    /// Finished unsuccessfully.
    Failed,
}

impl HookPhase {
    /// Argo CD's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            HookPhase::Running => "Running",
            HookPhase::Succeeded => "Succeeded",
            HookPhase::Failed => "Failed",
        }
    }

    /// Parses Argo CD's spelling (`Error` counts as failed).
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "Running" | "Terminating" => Some(HookPhase::Running),
            "Succeeded" => Some(HookPhase::Succeeded),
            "Failed" | "Error" => Some(HookPhase::Failed),
            _ => None,
        }
    }
}

/// A hook's progress from its live health, as Argo CD decides it: no health rule or
/// Healthy is done, Progressing or Suspended still running, Degraded or Unknown failed.
pub fn hook_phase(health: Option<&HealthStatus>) -> HookPhase {
    match health.map(|h| h.status) {
        None | Some(HealthStatusCode::Healthy) => HookPhase::Succeeded,
        Some(
            HealthStatusCode::Progressing | HealthStatusCode::Suspended | HealthStatusCode::Missing,
        ) => HookPhase::Running,
        Some(HealthStatusCode::Degraded | HealthStatusCode::Unknown) => HookPhase::Failed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(annotations: Value) -> Value {
        json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "j", "annotations": annotations}})
    }

    #[test]
    fn argo_hooks_parse_and_win_over_helm() {
        let o = obj(json!({ANNOTATION_HOOK: "PostSync, PreSync,PreSync"}));
        assert_eq!(hook_types(&o), [HookType::PostSync, HookType::PreSync]);
        assert_eq!(
            hook_phases(&o),
            [
                (SyncPhase::PreSync, HookType::PreSync),
                (SyncPhase::PostSync, HookType::PostSync)
            ]
        );
        assert!(is_hook(&o));
        let both = obj(json!({ANNOTATION_HOOK: "SyncFail", ANNOTATION_HELM_HOOK: "pre-install"}));
        assert_eq!(hook_types(&both), [HookType::SyncFail]);
        assert!(!is_hook(&obj(json!({}))));
    }

    #[test]
    fn helm_hooks_map_to_phases_waves_and_policies() {
        let o = obj(json!({
            ANNOTATION_HELM_HOOK: "pre-install,pre-upgrade,test",
            ANNOTATION_HELM_HOOK_WEIGHT: "-5",
            ANNOTATION_HELM_HOOK_DELETE_POLICY: "hook-succeeded,before-hook-creation"
        }));
        assert_eq!(hook_types(&o), [HookType::PreSync]);
        assert_eq!(hook_wave(&o), -5);
        assert_eq!(
            delete_policies(&o),
            [
                DeletePolicy::HookSucceeded,
                DeletePolicy::BeforeHookCreation
            ]
        );
        let post = obj(
            json!({ANNOTATION_HELM_HOOK: "post-upgrade", ANNOTATION_SYNC_WAVE: "3", ANNOTATION_HELM_HOOK_WEIGHT: "9"}),
        );
        assert_eq!(hook_types(&post), [HookType::PostSync]);
        assert_eq!(hook_wave(&post), 3, "sync-wave wins over hook-weight");
        // A Helm test hook is still a hook (never part of the diff) but runs in no phase.
        let test = obj(json!({ANNOTATION_HELM_HOOK: "test"}));
        assert!(is_hook(&test) && hook_phases(&test).is_empty());
        // Argo CD's own hooks ignore Helm's weight.
        let argo = obj(json!({ANNOTATION_HOOK: "PreSync", ANNOTATION_HELM_HOOK_WEIGHT: "4"}));
        assert_eq!(hook_wave(&argo), 0);
    }

    #[test]
    fn skip_alone_is_not_a_hook_and_is_skipped() {
        let o = obj(json!({ANNOTATION_HOOK: "Skip"}));
        assert!(is_skipped(&o) && !is_hook(&o));
        let o = obj(json!({ANNOTATION_HOOK: "Skip,PreSync"}));
        assert!(!is_skipped(&o) && is_hook(&o));
    }

    #[test]
    fn delete_policy_defaults_to_before_hook_creation() {
        assert_eq!(
            delete_policies(&obj(json!({}))),
            [DeletePolicy::BeforeHookCreation]
        );
        let o = obj(
            json!({ANNOTATION_HOOK_DELETE_POLICY: "HookFailed", ANNOTATION_HELM_HOOK_DELETE_POLICY: "hook-succeeded"}),
        );
        assert_eq!(delete_policies(&o), [DeletePolicy::HookFailed]);
    }

    #[test]
    fn generate_name_hooks_get_a_stable_name() {
        let mut o = json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"generateName": "migrate-"}});
        assert!(name_hook(
            &mut o,
            "0123456789abcdef",
            SyncPhase::PreSync,
            1700000000
        ));
        assert_eq!(o["metadata"]["name"], "migrate-0123456-presync-1700000000");
        assert!(o["metadata"].get("generateName").is_none());
        let mut named = obj(json!({}));
        assert!(name_hook(&mut named, "x", SyncPhase::Sync, 1));
        assert_eq!(named["metadata"]["name"], "j");
        let mut none = json!({"metadata": {}});
        assert!(!name_hook(&mut none, "x", SyncPhase::Sync, 1));
    }

    #[test]
    fn hook_phase_follows_health() {
        use crate::types::HealthStatusCode::*;
        assert_eq!(hook_phase(None), HookPhase::Succeeded);
        let h = |s| HealthStatus::new(s, "");
        assert_eq!(hook_phase(Some(&h(Healthy))), HookPhase::Succeeded);
        assert_eq!(hook_phase(Some(&h(Progressing))), HookPhase::Running);
        assert_eq!(hook_phase(Some(&h(Degraded))), HookPhase::Failed);
        assert_eq!(HookPhase::parse("Error"), Some(HookPhase::Failed));
    }
}
