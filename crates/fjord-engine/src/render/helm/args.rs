//! The `helm template` command line, built from resolved inputs without touching the disk.
//!
//! Kept pure so the exact flags Argo CD would pass (release name, namespace, value files in
//! order, inline values last, `--set`/`--set-string`/`--set-file`, CRDs, capabilities) are
//! unit-tested without the helm binary.

use crate::types::HelmSource;
use std::path::PathBuf;

/// `.Capabilities` of the target cluster: what `helm template` would otherwise guess.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Capabilities {
    /// `.Capabilities.KubeVersion` (`v1.33.0`), empty for helm's default.
    pub kube_version: String,
    /// `.Capabilities.APIVersions`: `group/version` and `group/version/Kind` entries
    /// (`v1`, `v1/ConfigMap`, `apps/v1`, `apps/v1/Deployment`, ...).
    pub api_versions: Vec<String>,
}

impl Capabilities {
    /// A short fingerprint for cache keys (changes when the cluster's API surface does).
    pub fn fingerprint(&self) -> String {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        self.hash(&mut h);
        format!("{}:{:016x}", self.kube_version, h.finish())
    }
}

/// The `--kube-version` for a cluster's `/version`: the git version without pre-release or
/// build suffixes (`v1.30.2-eks-1552ad0` gives `v1.30.2`, which a chart's `kubeVersion:
/// >=1.20.0` accepts), else `v<major>.<minor>.0`.
pub fn kube_version(git_version: &str, major: &str, minor: &str) -> String {
    let core = git_version
        .split(['-', '+'])
        .next()
        .unwrap_or("")
        .trim_start_matches('v');
    if core.split('.').count() == 3 && core.split('.').all(|p| p.parse::<u64>().is_ok()) {
        return format!("v{core}");
    }
    let minor: String = minor.chars().take_while(char::is_ascii_digit).collect();
    if major.is_empty() || minor.is_empty() {
        return String::new();
    }
    format!("v{major}.{minor}.0")
}

/// Everything `helm template` needs, with files already written to disk.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TemplateInputs {
    /// Release name (`.Release.Name`).
    pub release_name: String,
    /// Release namespace (`.Release.Namespace`), empty to leave helm's default.
    pub namespace: String,
    /// The chart directory or archive.
    pub chart: PathBuf,
    /// Value files in order (later wins), inline values last.
    pub value_files: Vec<PathBuf>,
    /// `--set-file name=path` pairs.
    pub file_parameters: Vec<(String, PathBuf)>,
    /// Cluster capabilities, when known.
    pub capabilities: Capabilities,
}

/// Escapes commas that helm's `--set` parser would split on, as Argo CD does; a `{a,b}`
/// list and already escaped commas are left alone.
pub fn escape_set_value(value: &str) -> String {
    if value.starts_with('{') && value.ends_with('}') {
        return value.to_string();
    }
    let mut out = String::with_capacity(value.len());
    let mut escaped = false;
    for c in value.chars() {
        if c == ',' && !escaped {
            out.push('\\');
        }
        escaped = c == '\\' && !escaped;
        out.push(c);
    }
    out
}

/// The arguments after the program name: `template NAME CHART ...`.
pub fn template_args(helm: &HelmSource, inputs: &TemplateInputs) -> Vec<String> {
    let mut args = vec![
        "template".to_string(),
        inputs.release_name.clone(),
        inputs.chart.display().to_string(),
    ];
    if !inputs.namespace.is_empty() {
        args.push("--namespace".into());
        args.push(inputs.namespace.clone());
    }
    let kube_version = helm
        .kube_version
        .clone()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| inputs.capabilities.kube_version.clone());
    if !kube_version.is_empty() {
        args.push("--kube-version".into());
        args.push(kube_version);
    }
    let api_versions = if helm.api_versions.is_empty() {
        &inputs.capabilities.api_versions
    } else {
        &helm.api_versions
    };
    for v in api_versions {
        args.push("--api-versions".into());
        args.push(v.clone());
    }
    for f in &inputs.value_files {
        args.push("--values".into());
        args.push(f.display().to_string());
    }
    for p in &helm.parameters {
        let flag = if p.force_string.unwrap_or(false) {
            "--set-string"
        } else {
            "--set"
        };
        args.push(flag.into());
        args.push(format!("{}={}", p.name, escape_set_value(&p.value)));
    }
    for (name, path) in &inputs.file_parameters {
        args.push("--set-file".into());
        args.push(format!("{name}={}", path.display()));
    }
    if !helm.skip_crds.unwrap_or(false) {
        args.push("--include-crds".into());
    }
    if helm.skip_tests.unwrap_or(false) {
        args.push("--skip-tests".into());
    }
    if helm.skip_schema_validation.unwrap_or(false) {
        args.push("--skip-schema-validation".into());
    }
    args
}

/// The inline values file content: `valuesObject` wins over `values`; `None` when neither
/// is set.
pub fn inline_values(helm: &HelmSource) -> Option<String> {
    match (&helm.values_object, &helm.values) {
        (Some(obj), _) if !obj.is_null() => Some(obj.to_string()),
        (_, Some(text)) if !text.trim().is_empty() => Some(text.clone()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::HelmParameter;
    use serde_json::json;

    fn param(name: &str, value: &str, force: bool) -> HelmParameter {
        HelmParameter {
            name: name.into(),
            value: value.into(),
            force_string: force.then_some(true),
            ..Default::default()
        }
    }

    #[test]
    fn commas_are_escaped_except_in_lists() {
        assert_eq!(escape_set_value("a,b"), "a\\,b");
        assert_eq!(escape_set_value("a\\,b"), "a\\,b");
        assert_eq!(escape_set_value("{a,b}"), "{a,b}");
        assert_eq!(escape_set_value("plain"), "plain");
    }

    #[test]
    fn arguments_follow_argo_order_and_flags() {
        let helm = HelmSource {
            parameters: vec![
                param("image.tag", "1.2", true),
                param("replicas", "3", false),
            ],
            ..Default::default()
        };
        let inputs = TemplateInputs {
            release_name: "web".into(),
            namespace: "prod".into(),
            chart: "/tmp/c/chart".into(),
            value_files: vec!["/tmp/v/0-values.yaml".into(), "/tmp/v/inline.yaml".into()],
            file_parameters: vec![("config".into(), "/tmp/f/0".into())],
            capabilities: Capabilities {
                kube_version: "v1.33.0".into(),
                api_versions: vec!["v1".into(), "example.com/v1/Widget".into()],
            },
        };
        let args = template_args(&helm, &inputs);
        assert_eq!(
            args,
            [
                "template",
                "web",
                "/tmp/c/chart",
                "--namespace",
                "prod",
                "--kube-version",
                "v1.33.0",
                "--api-versions",
                "v1",
                "--api-versions",
                "example.com/v1/Widget",
                "--values",
                "/tmp/v/0-values.yaml",
                "--values",
                "/tmp/v/inline.yaml",
                "--set-string",
                "image.tag=1.2",
                "--set",
                "replicas=3",
                "--set-file",
                "config=/tmp/f/0",
                "--include-crds",
            ]
        );
    }

    #[test]
    fn skip_flags_and_overrides() {
        let helm = HelmSource {
            skip_crds: Some(true),
            skip_tests: Some(true),
            skip_schema_validation: Some(true),
            kube_version: Some("1.30.0".into()),
            api_versions: vec!["x/v1".into()],
            ..Default::default()
        };
        let inputs = TemplateInputs {
            release_name: "r".into(),
            chart: "c".into(),
            capabilities: Capabilities {
                kube_version: "v1.33.0".into(),
                api_versions: vec!["v1".into()],
            },
            ..Default::default()
        };
        let args = template_args(&helm, &inputs);
        assert!(!args.contains(&"--include-crds".to_string()));
        assert!(!args.contains(&"--namespace".to_string()));
        assert!(args.contains(&"--skip-tests".to_string()));
        assert!(args.contains(&"--skip-schema-validation".to_string()));
        let kv = args.iter().position(|a| a == "--kube-version").unwrap();
        assert_eq!(args[kv + 1], "1.30.0");
        assert_eq!(args.iter().filter(|a| *a == "--api-versions").count(), 1);
        assert!(args.contains(&"x/v1".to_string()));
    }

    #[test]
    fn kube_versions_lose_vendor_suffixes() {
        assert_eq!(kube_version("v1.30.2-eks-1552ad0", "1", "30+"), "v1.30.2");
        assert_eq!(kube_version("v1.33.0", "1", "33"), "v1.33.0");
        assert_eq!(kube_version("v1.29.1+k3s1", "1", "29"), "v1.29.1");
        assert_eq!(kube_version("", "1", "28+"), "v1.28.0");
        assert_eq!(kube_version("weird", "", ""), "");
    }

    #[test]
    fn values_object_wins_over_values() {
        let mut helm = HelmSource {
            values: Some("a: 1\n".into()),
            ..Default::default()
        };
        assert_eq!(inline_values(&helm).as_deref(), Some("a: 1\n"));
        helm.values_object = Some(json!({"b": 2}));
        assert_eq!(inline_values(&helm).as_deref(), Some("{\"b\":2}"));
        assert_eq!(inline_values(&HelmSource::default()), None);
    }

    #[test]
    fn fingerprint_changes_with_api_versions() {
        let a = Capabilities {
            kube_version: "v1.33.0".into(),
            api_versions: vec!["v1".into()],
        };
        let mut b = a.clone();
        b.api_versions.push("example.com/v1".into());
        assert_ne!(a.fingerprint(), b.fingerprint());
        assert_eq!(a.fingerprint(), a.clone().fingerprint());
    }
}
