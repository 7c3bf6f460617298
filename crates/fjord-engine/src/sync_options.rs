//! Sync options (`spec.syncPolicy.syncOptions` and the per-object
//! `argocd.argoproj.io/sync-options` annotation), parsed into what Fjord acts on, with the
//! options it does not support yet listed so the controller can report them as a condition
//! instead of silently ignoring them.

/// Options Fjord implements (name and value).
pub const SUPPORTED: [(&str, &str); 5] = [
    ("CreateNamespace", "true"),
    ("Prune", "false"),
    ("ServerSideApply", "true"),
    ("ApplyOutOfSyncOnly", "true"),
    ("Validate", "true"),
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

/// Parsed application-level sync options.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SyncOptions {
    /// `CreateNamespace=true`.
    pub create_namespace: bool,
    /// `Prune=false`: never prune.
    pub prune_disabled: bool,
    /// Known options Fjord does not implement yet, as written (`Replace=true`).
    pub unsupported: Vec<String>,
    /// Options Argo CD does not know either, as written.
    pub unknown: Vec<String>,
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
            match (name, value) {
                ("CreateNamespace", v) => out.create_namespace = v == "true",
                ("Prune", v) => out.prune_disabled = v == "false",
                _ => {}
            }
            if !KNOWN.contains(&name) {
                out.unknown.push(raw.to_string());
            } else if !SUPPORTED.contains(&(name, value))
                && !matches!(
                    (name, value),
                    ("CreateNamespace", "false") | ("Prune", "true")
                )
            {
                out.unsupported.push(raw.to_string());
            }
        }
        out
    }

    /// The condition message for unsupported and unknown options, if any.
    pub fn condition_message(&self) -> Option<String> {
        let mut parts = Vec::new();
        if !self.unsupported.is_empty() {
            parts.push(format!(
                "sync options not supported yet: {}",
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

    #[test]
    fn seed_options_are_supported() {
        let o = SyncOptions::parse(&["CreateNamespace=true"]);
        assert!(o.create_namespace && !o.prune_disabled);
        assert_eq!(o.condition_message(), None);
    }

    #[test]
    fn unsupported_and_unknown_are_reported() {
        let o = SyncOptions::parse(&[
            "Prune=false",
            " Replace=true",
            "PruneLast=true",
            "Bogus=1",
            "ServerSideApply=true",
        ]);
        assert!(o.prune_disabled);
        assert_eq!(o.unsupported, ["Replace=true", "PruneLast=true"]);
        assert_eq!(o.unknown, ["Bogus=1"]);
        assert_eq!(
            o.condition_message().unwrap(),
            "sync options not supported yet: Replace=true, PruneLast=true; unknown sync options: Bogus=1"
        );
        let o = SyncOptions::parse(&["ServerSideApply=false", "Prune=confirm"]);
        assert_eq!(o.unsupported, ["ServerSideApply=false", "Prune=confirm"]);
    }
}
