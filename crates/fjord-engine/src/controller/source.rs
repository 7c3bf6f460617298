//! The source stage of a reconcile: credentials from the namespace, then (blocking, off the
//! runtime) remote check, fetch and render through the shared registry and render cache.
//!
//! The remote is checked at most once per poll interval per Application unless a refresh
//! is forced; in between, the last resolved commit is reused, so a reconcile triggered by a
//! live change costs no `git` process and (on a cache hit) no render.

use super::{Context, ControllerError, kube_err};
use crate::render::cache::RenderKey;
use crate::render::{Rendered, SourceType};
use crate::source::credentials::{
    KNOWN_HOSTS_CONFIGMAP, SECRET_TYPE_LABEL, known_hosts_from_configmap,
};
use crate::source::{CredentialStore, GitAuth, Refresh};
use crate::types::ApplicationSource;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::Api;
use kube::api::ListParams;
use std::sync::Arc;

/// A rendered source at a resolved commit.
pub(crate) struct Fetched {
    pub commit: String,
    pub source_type: SourceType,
    pub rendered: Arc<Rendered>,
}

/// Why the source could not be turned into desired objects: the condition message.
pub(crate) struct SourceFailure {
    /// The commit, when resolution got that far.
    pub commit: Option<String>,
    pub message: String,
}

/// Reads the repository credentials and known hosts of the controller's namespace.
pub(crate) async fn auth_for(ctx: &Context, repo_url: &str) -> Result<GitAuth, ControllerError> {
    let ns = &ctx.config.namespace;
    let values: Vec<serde_json::Value> = match ctx.settings.secrets() {
        Some(cached) => cached
            .iter()
            .filter_map(|s| serde_json::to_value(s.as_ref()).ok())
            .collect(),
        None => {
            let secrets: Api<Secret> = Api::namespaced(ctx.client.clone(), ns);
            let list = secrets
                .list(&ListParams::default().labels(SECRET_TYPE_LABEL))
                .await
                .map_err(kube_err(format!("listing repository Secrets in {ns}")))?;
            list.items
                .iter()
                .filter_map(|s| serde_json::to_value(s).ok())
                .collect()
        }
    };
    let store = CredentialStore::from_secrets(values.iter());
    let cm = match ctx.settings.known_hosts() {
        Some(cached) => cached.map(|c| c.as_ref().clone()),
        None => {
            let cms: Api<ConfigMap> = Api::namespaced(ctx.client.clone(), ns);
            cms.get_opt(KNOWN_HOSTS_CONFIGMAP)
                .await
                .map_err(kube_err(format!("reading {ns}/{KNOWN_HOSTS_CONFIGMAP}")))?
        }
    };
    let known_hosts = cm
        .and_then(|cm| serde_json::to_value(cm).ok())
        .and_then(|v| known_hosts_from_configmap(&v));
    Ok(GitAuth {
        credentials: store.lookup(repo_url),
        known_hosts,
    })
}

/// Resolves, fetches and renders `source` (off the runtime).
pub(crate) async fn fetch_and_render(
    ctx: &Arc<Context>,
    source: &ApplicationSource,
    auth: GitAuth,
    refresh: Option<Refresh>,
) -> Result<Result<Fetched, SourceFailure>, ControllerError> {
    let ctx2 = Arc::clone(ctx);
    let source = source.clone();
    tokio::task::spawn_blocking(move || fetch_blocking(&ctx2, &source, auth, refresh))
        .await
        .map_err(|e| ControllerError::Task {
            step: "fetching and rendering the source",
            message: e.to_string(),
        })
}

fn fetch_blocking(
    ctx: &Context,
    source: &ApplicationSource,
    auth: GitAuth,
    refresh: Option<Refresh>,
) -> Result<Fetched, SourceFailure> {
    let check_key = format!("{}@{}", source.repo_url, source.revision());
    let fail = |commit: Option<&str>, message: String| SourceFailure {
        commit: commit.map(String::from),
        message,
    };
    let repo = ctx.registry.get(&source.repo_url, auth);
    let commit = ctx.checks.resolve(
        &check_key,
        refresh.is_some(),
        ctx.config.poll_interval,
        || {
            let refs = repo
                .ls_remote()
                .map_err(|e| fail(None, format!("Failed to load target state: {e}")))?;
            repo.resolve(&refs, source.revision())
                .map_err(|e| fail(None, format!("Failed to load target state: {e}")))
        },
    )?;
    let key = RenderKey::new(source, &commit);
    let cached = if refresh == Some(Refresh::Hard) {
        None
    } else {
        ctx.cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(&key)
    };
    let failed = |message: String| fail(Some(&commit), message);
    let (source_type, rendered) = match cached {
        Some(hit) => {
            let kind = ctx
                .source_types
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .get(&key)
                .copied()
                .unwrap_or(SourceType::Directory);
            (kind, hit)
        }
        None => {
            repo.ensure_commits(&[&commit])
                .map_err(|e| failed(format!("Failed to load target state: {e}")))?;
            let tree = repo
                .tree(&commit)
                .map_err(|e| failed(format!("Failed to load target state: {e}")))?;
            let (kind, rendered) = ctx.renderers.render(&tree, source).map_err(|e| {
                failed(format!(
                    "Failed to load target state: failed to generate manifest for source 1 of 1: {e}"
                ))
            })?;
            let rendered = Arc::new(rendered);
            ctx.source_types
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .insert(key.clone(), kind);
            ctx.cache
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .insert(key, Arc::clone(&rendered));
            (kind, rendered)
        }
    };
    Ok(Fetched {
        commit,
        source_type,
        rendered,
    })
}
