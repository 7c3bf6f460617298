//! Sync options (`spec.syncPolicy.syncOptions`, `operation.sync.syncOptions` and the
//! per-object `argocd.argoproj.io/sync-options` annotation), parsed into what Fjord acts on,
//! with the options it does not support listed so the controller can report them as a
//! condition instead of silently ignoring them.
//!
//! Application-level options are defaults; an object's annotation overrides the ones Argo CD
//! allows per resource (`Prune`, `Validate`, `PruneLast`, `Replace`, `Force`,
//! `ServerSideApply`): [`SyncOptions::for_object`].

use crate::resource::{ANNOTATION_SYNC_OPTIONS, annotation, parse_options};
use serde_json::Value;

/// Options Fjord implements (name and value).
pub const SUPPORTED: [(&str, &str); 20] = [
    ("CreateNamespace", "true"),
    ("CreateNamespace", "false"),
    ("Prune", "true"),
    ("Prune", "false"),
    ("Prune", "confirm"),
    ("ServerSideApply", "true"),
    ("ApplyOutOfSyncOnly", "true"),
    ("ApplyOutOfSyncOnly", "false"),
    ("Validate", "true"),
    ("Validate", "false"),
    ("PrunePropagationPolicy", "foreground"),
    ("PrunePropagationPolicy", "background"),
    ("PrunePropagationPolicy", "orphan"),
    ("PruneLast", "true"),
    ("PruneLast", "false"),
    ("Replace", "true"),
    ("Replace", "false"),
    ("FailOnSharedResource", "true"),
    ("FailOnSharedResource", "false"),
    ("RespectIgnoreDifferences", "true"),
];

/// Every option name Argo CD documents.
pub const KNOWN: [&str; 14] = [
    "Prune",
    "Delete",
    "Validate",
    "SkipDryRunOnMissingResource",
    "ApplyOutOfSyncOnly",
    "PrunePropagationPolicy",
    "PruneLast",
    "Replace",
    "Force",
    "ServerSideApply",
    "ClientSideApplyMigration",
    "FailOnSharedResource",
    "RespectIgnoreDifferences",
    "CreateNamespace",
];

/// How prune deletes: the `propagationPolicy` of the DELETE (Argo CD's default: foreground).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum PropagationPolicy {
    /// Dependents first, then the owner.
    #[default]
    Foreground,
    /// The owner now, dependents by the garbage collector.
    Background,
    /// The owner only; dependents lose the reference and stay.
    Orphan,
}

impl PropagationPolicy {
    /// The API's spelling.
    pub fn as_api(self) -> &'static str {
        match self {
            PropagationPolicy::Foreground => "Foreground",
            PropagationPolicy::Background => "Background",
            PropagationPolicy::Orphan => "Orphan",
        }
    }
}

/// Whether an object may be pruned.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum PruneMode {
    /// Pruned when prune is requested.
    #[default]
    Allow,
    /// `Prune=false`: never pruned.
    Disabled,
    /// `Prune=confirm`: pruned once the Application carries a fresh
    /// `argocd.argoproj.io/deletion-approved` timestamp.
    Confirm,
}

/// Parsed application-level sync options.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyncOptions {
    /// `CreateNamespace=true`.
    pub create_namespace: bool,
    /// `Prune=false|confirm`.
    pub prune: PruneMode,
    /// `Prune=false`: never prune (kept for callers of the first version).
    pub prune_disabled: bool,
    /// `ApplyOutOfSyncOnly=true`: only objects that differ are applied.
    pub apply_out_of_sync_only: bool,
    /// `Validate=false`: the API server ignores unknown fields instead of refusing them.
    pub validate: bool,
    /// `PrunePropagationPolicy=...`.
    pub prune_propagation: PropagationPolicy,
    /// `PruneLast=true`: prune after every other object is applied and healthy.
    pub prune_last: bool,
    /// `Replace=true`: PUT (create when missing) instead of server-side apply.
    pub replace: bool,
    /// `FailOnSharedResource=true`: fail when an object belongs to another Application.
    pub fail_on_shared_resource: bool,
    /// `RespectIgnoreDifferences=true`: ignored fields of existing objects keep their live
    /// values.
    pub respect_ignore_differences: bool,
    /// Known options Fjord does not implement, as written (`ServerSideApply=false`).
    pub unsupported: Vec<String>,
    /// Options Argo CD does not know either, as written.
    pub unknown: Vec<String>,
}

impl Default for SyncOptions {
    fn default() -> Self {
        SyncOptions {
            create_namespace: false,
            prune: PruneMode::Allow,
            prune_disabled: false,
            apply_out_of_sync_only: false,
            validate: true,
            prune_propagation: PropagationPolicy::Foreground,
            prune_last: false,
            replace: false,
            fail_on_shared_resource: false,
            respect_ignore_differences: false,
            unsupported: Vec::new(),
            unknown: Vec::new(),
        }
    }
}

/// The options in force for one object (application defaults, overridden by the object's
/// `argocd.argoproj.io/sync-options` annotation).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ObjectSyncOptions {
    /// Prune behaviour.
    pub prune: PruneMode,
    /// Validate on apply.
    pub validate: bool,
    /// Prune in the final wave.
    pub prune_last: bool,
    /// PUT instead of apply.
    pub replace: bool,
    /// With `replace`: delete and create again.
    pub force: bool,
}

fn prune_mode(value: &str) -> Option<PruneMode> {
    match value {
        "false" => Some(PruneMode::Disabled),
        "confirm" => Some(PruneMode::Confirm),
        "true" => Some(PruneMode::Allow),
        _ => None,
    }
}

/// Per-object options Fjord acts on (name and value).
pub const SUPPORTED_PER_OBJECT: [(&str, &str); 12] = [
    ("Prune", "true"),
    ("Prune", "false"),
    ("Prune", "confirm"),
    ("Validate", "true"),
    ("Validate", "false"),
    ("PruneLast", "true"),
    ("PruneLast", "false"),
    ("Replace", "true"),
    ("Replace", "false"),
    ("Force", "true"),
    ("Force", "false"),
    ("ServerSideApply", "true"),
];

/// The entries of `obj`'s `argocd.argoproj.io/sync-options` annotation Fjord does not act on
/// (unsupported or unknown), as `Name=value`.
pub fn unsupported_object_options(obj: &Value) -> Vec<String> {
    let Some(text) = annotation(obj, ANNOTATION_SYNC_OPTIONS) else {
        return Vec::new();
    };
    parse_options(text)
        .into_iter()
        .filter(|(k, v)| !SUPPORTED_PER_OBJECT.contains(&(k.as_str(), v.as_str())))
        .map(|(k, v)| format!("{k}={v}"))
        .collect()
}

impl SyncOptions {
    /// Parses `Name=value` entries (blanks trimmed; later entries win).
    pub fn parse<S: AsRef<str>>(options: &[S]) -> Self {
        let mut out = SyncOptions::default();
        for raw in options {
            let raw = raw.as_ref().trim();
            if raw.is_empty() {
                continue;
            }
            let (name, value) = raw.split_once('=').unwrap_or((raw, ""));
            let (name, value) = (name.trim(), value.trim());
            let on = value == "true";
            match name {
                "CreateNamespace" => out.create_namespace = on,
                "Prune" => {
                    if let Some(m) = prune_mode(value) {
                        out.prune = m;
                    }
                }
                "ApplyOutOfSyncOnly" => out.apply_out_of_sync_only = on,
                "Validate" => out.validate = value != "false",
                "PrunePropagationPolicy" => match value.to_ascii_lowercase().as_str() {
                    "foreground" => out.prune_propagation = PropagationPolicy::Foreground,
                    "background" => out.prune_propagation = PropagationPolicy::Background,
                    "orphan" => out.prune_propagation = PropagationPolicy::Orphan,
                    _ => {}
                },
                "PruneLast" => out.prune_last = on,
                "Replace" => out.replace = on,
                "FailOnSharedResource" => out.fail_on_shared_resource = on,
                "RespectIgnoreDifferences" => out.respect_ignore_differences = on,
                _ => {}
            }
            let value_key = if name == "PrunePropagationPolicy" {
                value.to_ascii_lowercase()
            } else {
                value.to_string()
            };
            if !KNOWN.contains(&name) {
                out.unknown.push(raw.to_string());
            } else if !SUPPORTED.contains(&(name, value_key.as_str())) {
                out.unsupported.push(raw.to_string());
            }
        }
        out.prune_disabled = out.prune == PruneMode::Disabled;
        out
    }

    /// Parses the Application's options followed by the operation's (which win).
    pub fn parse_all<S: AsRef<str>, T: AsRef<str>>(app: &[S], operation: &[T]) -> Self {
        let all: Vec<&str> = app
            .iter()
            .map(AsRef::as_ref)
            .chain(operation.iter().map(AsRef::as_ref))
            .collect();
        Self::parse(&all)
    }

    /// The options in force for `obj`.
    pub fn for_object(&self, obj: &Value) -> ObjectSyncOptions {
        let mut o = ObjectSyncOptions {
            prune: self.prune,
            validate: self.validate,
            prune_last: self.prune_last,
            replace: self.replace,
            force: false,
        };
        let Some(text) = annotation(obj, ANNOTATION_SYNC_OPTIONS) else {
            return o;
        };
        for (name, value) in parse_options(text) {
            let on = value == "true";
            match name.as_str() {
                "Prune" => {
                    if let Some(m) = prune_mode(&value) {
                        o.prune = m;
                    }
                }
                "Validate" => o.validate = value != "false",
                "PruneLast" => o.prune_last = on,
                "Replace" => o.replace = on,
                "Force" => o.force = on,
                "ServerSideApply" if on => o.replace = false,
                _ => {}
            }
        }
        o
    }

    /// The condition message for unsupported and unknown options, if any.
    pub fn condition_message(&self) -> Option<String> {
        let mut parts = Vec::new();
        if !self.unsupported.is_empty() {
            parts.push(format!(
                "sync options not supported: {}",
                self.unsupported.join(", ")
            ));
        }
        if !self.unknown.is_empty() {
            parts.push(format!("unknown sync options: {}", self.unknown.join(", ")));
        }
        (!parts.is_empty()).then(|| parts.join("; "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn seed_options_are_supported() {
        let o = SyncOptions::parse(&["CreateNamespace=true"]);
        assert!(o.create_namespace && !o.prune_disabled);
        assert!(o.validate);
        assert_eq!(o.prune_propagation, PropagationPolicy::Foreground);
        assert_eq!(o.condition_message(), None);
    }

    #[test]
    fn every_implemented_option_parses() {
        let o = SyncOptions::parse(&[
            "Prune=confirm",
            " Replace=true",
            "PruneLast=true",
            "ApplyOutOfSyncOnly=true",
            "Validate=false",
            "PrunePropagationPolicy=orphan",
            "FailOnSharedResource=true",
            "RespectIgnoreDifferences=true",
            "ServerSideApply=true",
        ]);
        assert_eq!(o.prune, PruneMode::Confirm);
        assert!(o.replace && o.prune_last && o.apply_out_of_sync_only && !o.validate);
        assert!(o.fail_on_shared_resource && o.respect_ignore_differences);
        assert_eq!(o.prune_propagation, PropagationPolicy::Orphan);
        assert_eq!(o.condition_message(), None);
    }

    #[test]
    fn unsupported_and_unknown_are_reported() {
        let o = SyncOptions::parse(&[
            "Prune=false",
            "Bogus=1",
            "ServerSideApply=false",
            "PrunePropagationPolicy=sideways",
        ]);
        assert!(o.prune_disabled);
        assert_eq!(
            o.unsupported,
            ["ServerSideApply=false", "PrunePropagationPolicy=sideways"]
        );
        assert_eq!(o.unknown, ["Bogus=1"]);
        assert_eq!(
            o.condition_message().unwrap(),
            "sync options not supported: ServerSideApply=false, PrunePropagationPolicy=sideways; unknown sync options: Bogus=1"
        );
    }

    #[test]
    fn unsupported_object_options_are_listed() {
        let obj = json!({"metadata": {"annotations": {
            ANNOTATION_SYNC_OPTIONS: "Prune=confirm, ServerSideApply=false,Delete=false,Nope=1,Replace=true"
        }}});
        assert_eq!(
            unsupported_object_options(&obj),
            ["ServerSideApply=false", "Delete=false", "Nope=1"]
        );
        assert!(unsupported_object_options(&json!({"metadata": {}})).is_empty());
    }

    #[test]
    fn operation_options_win_and_objects_override() {
        let o = SyncOptions::parse_all(&["Replace=true"], &["Replace=false"]);
        assert!(!o.replace);
        let app = SyncOptions::parse(&["Prune=false", "Replace=true"]);
        let obj = json!({"metadata": {"annotations": {
            ANNOTATION_SYNC_OPTIONS: "Prune=confirm,ServerSideApply=true,Validate=false,PruneLast=true"
        }}});
        let per = app.for_object(&obj);
        assert_eq!(per.prune, PruneMode::Confirm);
        assert!(!per.replace && !per.validate && per.prune_last);
        let plain = app.for_object(&json!({"metadata": {}}));
        assert_eq!(plain.prune, PruneMode::Disabled);
        assert!(plain.replace && plain.validate);
        let forced = app.for_object(&json!({"metadata": {"annotations": {
            ANNOTATION_SYNC_OPTIONS: "Replace=true,Force=true"}}}));
        assert!(forced.replace && forced.force);
    }
}
