//! The server's cluster side through kube-rs: webhook secrets from `argocd-secret`, and refreshes
//! as Argo CD requests them — the `argocd.argoproj.io/refresh: normal` annotation on each
//! Application a push concerns, which the controller acts on at once.

use futures::StreamExt;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{
    Api, ApiResource, DynamicObject, GroupVersionKind, ListParams, Patch, PatchParams,
};
use serde_json::{Value, json};

use crate::push::{self, PushEvent};
use crate::{BoxFuture, Refresher, SecretSource, WebhookSecrets};

/// The Secret holding webhook secrets (Argo CD's name).
pub const SECRET_NAME: &str = "argocd-secret";
/// The annotation that asks the controller to refresh an Application.
pub const REFRESH_ANNOTATION: &str = "argocd.argoproj.io/refresh";
/// Argo CD's annotation listing the paths (`;`-separated, relative to the source path unless
/// absolute) whose changes concern an Application.
pub const PATHS_ANNOTATION: &str = "argocd.argoproj.io/manifest-generate-paths";

/// Webhook secrets read from `argocd-secret` in a namespace.
pub struct KubeSecrets {
    /// The cluster.
    pub client: kube::Client,
    /// Fjord's namespace.
    pub namespace: String,
}

impl SecretSource for KubeSecrets {
    fn load(&self) -> BoxFuture<'_, Result<WebhookSecrets, String>> {
        Box::pin(async move {
            let api: Api<Secret> = Api::namespaced(self.client.clone(), &self.namespace);
            let secret = api.get_opt(SECRET_NAME).await.map_err(|e| e.to_string())?;
            let data = secret.and_then(|s| s.data).unwrap_or_default();
            let get = |k: &str| {
                data.get(k)
                    .map(|v| String::from_utf8_lossy(&v.0).trim().to_string())
                    .filter(|s| !s.is_empty())
            };
            Ok(WebhookSecrets {
                github: get("webhook.github.secret"),
                gitlab: get("webhook.gitlab.secret"),
                generic: get("webhook.generic.secret"),
            })
        })
    }
}

/// Refreshes Applications in a namespace.
pub struct KubeRefresher {
    /// The cluster.
    pub client: kube::Client,
    /// Namespace of the Applications.
    pub namespace: String,
}

fn applications(client: kube::Client, ns: &str) -> Api<DynamicObject> {
    let ar = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("argoproj.io", "v1alpha1", "Application"),
        "applications",
    );
    Api::namespaced_with(client, ns, &ar)
}

/// Whether a push concerns an Application (any of its sources).
pub fn concerns(app: &Value, push: &PushEvent) -> bool {
    let extra: Vec<String> = app
        .pointer(&format!(
            "/metadata/annotations/{}",
            PATHS_ANNOTATION.replace('/', "~1")
        ))
        .and_then(Value::as_str)
        .map(|s| {
            s.split(';')
                .map(|p| p.trim().to_string())
                .filter(|p| !p.is_empty())
                .collect()
        })
        .unwrap_or_default();
    let mut sources: Vec<&Value> = Vec::new();
    if let Some(s) = app.pointer("/spec/source") {
        sources.push(s);
    }
    if let Some(list) = app.pointer("/spec/sources").and_then(Value::as_array) {
        sources.extend(list);
    }
    sources.iter().any(|s| {
        let str_at = |k: &str| s.get(k).and_then(Value::as_str).unwrap_or("");
        push::touches(
            push,
            str_at("repoURL"),
            str_at("targetRevision"),
            str_at("path"),
            &extra,
        )
    })
}

/// Refresh patches in flight at once.
const REFRESH_CONCURRENCY: usize = 16;

impl Refresher for KubeRefresher {
    fn refresh<'a>(&'a self, push: &'a PushEvent) -> BoxFuture<'a, Result<Vec<String>, String>> {
        Box::pin(async move {
            let api = applications(self.client.clone(), &self.namespace);
            let apps = api
                .list(&ListParams::default())
                .await
                .map_err(|e| e.to_string())?;
            let names: Vec<String> = apps
                .items
                .iter()
                .filter(|app| {
                    serde_json::to_value(app)
                        .map(|v| concerns(&v, push))
                        .unwrap_or(false)
                })
                .filter_map(|app| app.metadata.name.clone())
                .collect();
            // One push may concern every Application of a monorepo: patch them a few at a
            // time rather than one after another.
            // The second annotation tells the audit trail that a webhook asked.
            let patch = json!({"metadata": {"annotations": {
                REFRESH_ANNOTATION: "normal",
                fjord_engine::audit::ANNOTATION_REFRESH_SOURCE: fjord_engine::audit::REFRESH_SOURCE_WEBHOOK,
            }}});
            let results: Vec<Result<String, String>> = futures::stream::iter(names)
                .map(|name| {
                    let api = api.clone();
                    let patch = &patch;
                    async move {
                        api.patch(&name, &PatchParams::default(), &Patch::Merge(patch))
                            .await
                            .map_err(|e| format!("{name}: {e}"))?;
                        Ok(name)
                    }
                })
                .buffer_unordered(REFRESH_CONCURRENCY)
                .collect()
                .await;
            let mut refreshed = Vec::new();
            for result in results {
                refreshed.push(format!("{}/{}", self.namespace, result?));
            }
            refreshed.sort();
            Ok(refreshed)
        })
    }
}
