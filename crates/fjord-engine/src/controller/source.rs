//! The source stage of a reconcile: credentials from the namespace and the cluster's
//! capabilities, then (blocking, off the runtime) remote check, fetch and render of every
//! source through the shared registry and render cache.
//!
//! Each source is resolved to a revision (a Git commit, or a Helm chart version) at most
//! once per poll interval per Application unless a refresh is forced; in between, the last
//! resolved revision is reused, so a reconcile triggered by a live change costs no `git` or
//! `helm pull` process and (on a cache hit) no render. With `spec.sources`, the sources
//! with `ref` lend their trees to the others' `$ref/...` value files, every rendering
//! source is rendered and the objects are merged (the last source wins a repeated object);
//! the revisions go to the status in Argo CD's multi-source shape (`source_status`).

use super::{Context, ControllerError, kube_err};
use crate::render::cache::RenderKey;
use crate::render::helm::repo::{RepoAuth, is_helm_http_repo};
use crate::render::sources::{SourceRole, merge, plan};
use crate::render::{
    Capabilities, LocalTree, RenderContext, RenderError, Rendered, SourceTree, SourceType,
    detect_source_type,
};
use crate::resource::ResourceKey;
use crate::source::credentials::{
    KNOWN_HOSTS_CONFIGMAP, SECRET_TYPE_LABEL, known_hosts_from_configmap,
};
use crate::source::{CredentialStore, GitAuth, Refresh};
use crate::types::{Application, ApplicationSource, ApplicationSpec};
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::Api;
use kube::api::ListParams;
use std::collections::BTreeMap;
use std::sync::Arc;

/// The rendered sources at their resolved revisions.
pub(crate) struct Fetched {
    /// The commit (one source), or every source's revision joined by `,` (several): the
    /// identity the sync logic compares.
    pub commit: String,
    /// Each source's revision, in `spec.sources` order (one entry for a single source).
    pub revisions: Vec<String>,
    /// True for `spec.sources`.
    pub multi: bool,
    /// The first rendering source's tool.
    pub source_type: SourceType,
    /// Each source's tool (ref-only sources count as Directory).
    pub source_types: Vec<SourceType>,
    pub rendered: Arc<Rendered>,
    /// Objects rendered by more than one source (the last one's is used).
    pub repeated: Vec<ResourceKey>,
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

/// Checks `spec.source`/`spec.sources` before anything is fetched; `Err` is the
/// InvalidSpecError message.
pub(crate) fn check_sources(spec: &ApplicationSpec) -> Result<Vec<SourceRole>, String> {
    let sources = spec.all_sources();
    if sources.is_empty() {
        return Err("spec.source: a source is required".into());
    }
    if spec.sources.is_empty() && sources[0].repo_url.is_empty() {
        return Err("spec.source.repoURL: required".into());
    }
    plan(&sources)
}

/// Resolves, fetches and renders every source of `app` (blocking, off the runtime); Helm's
/// `.Capabilities` come from the destination `cluster`.
pub(crate) async fn fetch_and_render(
    ctx: &Arc<Context>,
    cluster: &super::clusters::Cluster,
    app: &Application,
    refresh: Option<Refresh>,
) -> Result<Result<Fetched, SourceFailure>, ControllerError> {
    let sources: Vec<ApplicationSource> = app.spec.all_sources().into_iter().cloned().collect();
    let roles = match plan(&sources.iter().collect::<Vec<_>>()) {
        Ok(r) => r,
        Err(message) => {
            return Ok(Err(SourceFailure {
                commit: None,
                message,
            }));
        }
    };
    let mut auths = Vec::new();
    for s in &sources {
        auths.push(auth_for(ctx, &s.repo_url).await?);
    }
    let app_key = format!("{}/{}", app.namespace(), app.name());
    // The cluster's capabilities are read only for Applications that render Helm (declared,
    // or found so by an earlier render), so an idle controller without Helm sources makes
    // no discovery requests.
    let mut with_capabilities = ctx.renderers.helm.is_some()
        && (sources.iter().any(|s| s.helm.is_some() || is_chart_repo(s))
            || ctx.capabilities.renders_helm(&app_key));
    loop {
        let capabilities = if with_capabilities {
            Some(
                ctx.capabilities
                    .get(&cluster.server, &cluster.client, ctx.config.poll_interval)
                    .await?,
            )
        } else {
            None
        };
        let job = FetchJob {
            app_key: app_key.clone(),
            app_name: app.name().to_string(),
            namespace: app.spec.destination.namespace.clone().unwrap_or_default(),
            multi: !app.spec.sources.is_empty(),
            sources: sources.clone(),
            roles: roles.clone(),
            auths: auths.clone(),
            capabilities,
            refresh,
        };
        let ctx2 = Arc::clone(ctx);
        let outcome = tokio::task::spawn_blocking(move || fetch_blocking(&ctx2, &job))
            .await
            .map_err(|e| ControllerError::Task {
                step: "fetching and rendering the sources",
                message: e.to_string(),
            })?;
        match outcome {
            Ok(result) => return Ok(result),
            Err(NeedCapabilities) if !with_capabilities => {
                ctx.capabilities.mark_helm(&app_key);
                with_capabilities = true;
            }
            Err(NeedCapabilities) => {
                return Ok(Err(SourceFailure {
                    commit: None,
                    message: "Failed to load target state: the cluster's capabilities are needed for Helm but were not read".into(),
                }));
            }
        }
    }
}

/// The blocking stage found a Helm source but was given no capabilities.
struct NeedCapabilities;

/// Everything the blocking stage needs, owned.
struct FetchJob {
    app_key: String,
    app_name: String,
    namespace: String,
    multi: bool,
    sources: Vec<ApplicationSource>,
    roles: Vec<SourceRole>,
    auths: Vec<GitAuth>,
    capabilities: Option<Arc<Capabilities>>,
    refresh: Option<Refresh>,
}

impl FetchJob {
    /// `source 2 of 3 (repo, path p)`: how a condition names a source.
    fn describe(&self, i: usize) -> String {
        let s = &self.sources[i];
        let at = match (&s.chart, &s.path) {
            (Some(c), _) if !c.is_empty() => format!("chart {c} {}", s.revision()),
            (_, Some(p)) if !p.is_empty() => format!("path {p}"),
            _ => "root".to_string(),
        };
        format!(
            "source {} of {} ({} {at})",
            i + 1,
            self.sources.len(),
            s.repo_url
        )
    }

    fn repo_auth(&self, i: usize) -> RepoAuth {
        let creds = self.auths[i].credentials.as_ref();
        RepoAuth {
            username: creds.and_then(|c| c.username.clone()),
            password: creds.and_then(|c| c.password.clone()),
            insecure: creds.is_some_and(|c| c.insecure),
            pass_credentials: self.sources[i]
                .helm
                .as_ref()
                .and_then(|h| h.pass_credentials)
                .unwrap_or(false),
        }
    }
}

fn is_chart_repo(source: &ApplicationSource) -> bool {
    is_helm_http_repo(source.chart.as_deref(), &source.repo_url)
}

fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The revision of source `i`: the last check when fresh, else resolved now.
fn resolve(ctx: &Context, job: &FetchJob, i: usize) -> Result<String, String> {
    let source = &job.sources[i];
    let check_key = if is_chart_repo(source) {
        format!(
            "helm:{}:{}@{}",
            source.repo_url,
            source.chart.as_deref().unwrap_or(""),
            source.revision()
        )
    } else {
        format!("{}@{}", source.repo_url, source.revision())
    };
    // Checks are shared by every Application of the repository and revision, and the poller
    // repeats them once per poll interval (`checks`).
    let recheck: super::checks::Recheck = if is_chart_repo(source) {
        let renderers = Arc::clone(&ctx.renderers);
        let (url, chart) = (
            source.repo_url.clone(),
            source.chart.clone().unwrap_or_default(),
        );
        let version = match source.target_revision.as_deref() {
            None | Some("") | Some("HEAD") => String::new(),
            Some(v) => v.to_string(),
        };
        let auth = job.repo_auth(i);
        Arc::new(move || {
            let helm = renderers.helm.as_ref().ok_or_else(|| {
                "Helm repositories need helm, which is not configured".to_string()
            })?;
            Ok(helm
                .pull_chart(&url, &chart, &version, &auth)
                .map_err(|e| e.to_string())?
                .version)
        })
    } else {
        let registry = Arc::clone(&ctx.registry);
        let (url, revision) = (source.repo_url.clone(), source.revision().to_string());
        let auth = job.auths[i].clone();
        Arc::new(move || {
            let repo = registry.get(&url, auth.clone());
            let refs = repo.ls_remote().map_err(|e| e.to_string())?;
            repo.resolve(&refs, &revision).map_err(|e| e.to_string())
        })
    };
    ctx.checks
        .track(&check_key, &job.app_key, Arc::clone(&recheck));
    ctx.checks.resolve(
        &check_key,
        job.refresh.is_some(),
        ctx.config.poll_interval,
        || recheck(),
    )
}

/// The tree of source `i` at `revision` (a Git commit's tree, or the unpacked chart) and
/// the chart's directory in it for Helm repositories.
fn open_tree(
    ctx: &Context,
    job: &FetchJob,
    i: usize,
    revision: &str,
) -> Result<(Box<dyn SourceTree>, Option<String>), String> {
    let source = &job.sources[i];
    if is_chart_repo(source) {
        let helm =
            ctx.renderers.helm.as_ref().ok_or_else(|| {
                "Helm repositories need helm, which is not configured".to_string()
            })?;
        let pulled = helm
            .pull_chart(
                &source.repo_url,
                source.chart.as_deref().unwrap_or(""),
                revision,
                &job.repo_auth(i),
            )
            .map_err(|e| e.to_string())?;
        return Ok((Box::new(LocalTree::new(pulled.root)), Some(pulled.chart)));
    }
    let repo = ctx.registry.get(&source.repo_url, job.auths[i].clone());
    repo.ensure_commits(&[revision])
        .map_err(|e| e.to_string())?;
    let tree = repo.tree(revision).map_err(|e| e.to_string())?;
    Ok((Box::new(tree), None))
}

fn fetch_blocking(
    ctx: &Context,
    job: &FetchJob,
) -> Result<Result<Fetched, SourceFailure>, NeedCapabilities> {
    match fetch_sources(ctx, job) {
        Ok(fetched) => Ok(Ok(fetched)),
        Err(Failure::Source(f)) => Ok(Err(f)),
        Err(Failure::NeedCapabilities) => Err(NeedCapabilities),
    }
}

enum Failure {
    Source(SourceFailure),
    NeedCapabilities,
}

impl From<SourceFailure> for Failure {
    fn from(f: SourceFailure) -> Self {
        Failure::Source(f)
    }
}

fn fetch_sources(ctx: &Context, job: &FetchJob) -> Result<Fetched, Failure> {
    let n = job.sources.len();
    let mut revisions = Vec::with_capacity(n);
    for i in 0..n {
        let revision = resolve(ctx, job, i).map_err(|e| SourceFailure {
            commit: None,
            message: format!(
                "Failed to load target state: {} of application {}: {e}",
                job.describe(i),
                job.app_key
            ),
        })?;
        revisions.push(revision);
    }
    let commit = revisions.join(",");
    let failure_commit = (!job.multi).then(|| commit.clone());
    let failed = |i: usize, what: &str, e: String| SourceFailure {
        commit: failure_commit.clone(),
        message: format!(
            "Failed to load target state: {what} {} of application {}: {e}",
            job.describe(i),
            job.app_key
        ),
    };
    let ref_revisions: Vec<String> = job
        .roles
        .iter()
        .filter_map(|r| {
            r.reference
                .as_ref()
                .map(|name| format!("{name}={}", revisions[r.index]))
        })
        .collect();
    // Helm renders depend on the Application (release name, namespace) and the cluster;
    // directory and kustomize renders do not, so Applications on one path share them.
    let render_context = match &job.capabilities {
        Some(caps) => format!(
            "app={};ns={};caps={};refs={}",
            job.app_name,
            job.namespace,
            caps.fingerprint(),
            ref_revisions.join(",")
        ),
        None => format!("refs={}", ref_revisions.join(",")),
    };
    let keys: Vec<RenderKey> = (0..n)
        .map(|i| {
            RenderKey::new(&job.sources[i], &revisions[i]).with_context(render_context.clone())
        })
        .collect();
    let mut parts: Vec<Option<(SourceType, Arc<Rendered>)>> = vec![None; n];
    let mut missing = Vec::new();
    for role in job.roles.iter().filter(|r| r.renders) {
        let i = role.index;
        let cached = if job.refresh == Some(Refresh::Hard) {
            None
        } else {
            lock(&ctx.cache).get(&keys[i])
        };
        match cached {
            Some(hit) => {
                let kind = lock(&ctx.source_types)
                    .get(&keys[i])
                    .copied()
                    .unwrap_or(SourceType::Directory);
                parts[i] = Some((kind, hit));
            }
            None => missing.push(i),
        }
    }
    if !missing.is_empty() {
        // Trees: the sources to render, and every ref source they may read from.
        let mut trees: BTreeMap<usize, (Box<dyn SourceTree>, Option<String>)> = BTreeMap::new();
        for role in &job.roles {
            let i = role.index;
            if missing.contains(&i) || role.reference.is_some() {
                let opened =
                    open_tree(ctx, job, i, &revisions[i]).map_err(|e| failed(i, "fetching", e))?;
                trees.insert(i, opened);
            }
        }
        let mut refs: BTreeMap<String, &dyn SourceTree> = BTreeMap::new();
        for role in &job.roles {
            if let (Some(name), Some((tree, _))) = (&role.reference, trees.get(&role.index)) {
                refs.insert(name.clone(), tree.as_ref());
            }
        }
        let render_ctx = RenderContext {
            app_name: &job.app_name,
            namespace: &job.namespace,
            capabilities: job.capabilities.as_deref(),
            refs: Some(&refs),
        };
        for &i in &missing {
            let Some((tree, chart_dir)) = trees.get(&i) else {
                continue;
            };
            let source = &job.sources[i];
            if job.capabilities.is_none() && ctx.renderers.helm.is_some() {
                let is_helm = chart_dir.is_some()
                    || crate::render::tree::normalize(source.path.as_deref().unwrap_or(""))
                        .and_then(|p| detect_source_type(tree.as_ref(), &p, source).ok())
                        == Some(SourceType::Helm);
                if is_helm {
                    return Err(Failure::NeedCapabilities);
                }
            }
            let render_started = std::time::Instant::now();
            let result: Result<(SourceType, Rendered), RenderError> = match chart_dir {
                Some(dir) => ctx
                    .renderers
                    .render_helm_chart(tree.as_ref(), dir, source, &render_ctx)
                    .map(|r| (SourceType::Helm, r)),
                None => ctx
                    .renderers
                    .render_with(tree.as_ref(), source, &render_ctx),
            };
            let took = render_started.elapsed();
            super::observe::rendered(ctx, result.as_ref().ok().map(|r| r.0), took);
            let (kind, rendered) =
                result.map_err(|e| failed(i, "failed to generate manifest for", e.to_string()))?;
            let rendered = Arc::new(rendered);
            lock(&ctx.source_types).insert(keys[i].clone(), kind);
            lock(&ctx.cache).insert(keys[i].clone(), Arc::clone(&rendered));
            parts[i] = Some((kind, rendered));
        }
    }
    let source_types: Vec<SourceType> = parts
        .iter()
        .map(|p| p.as_ref().map(|(k, _)| *k).unwrap_or(SourceType::Directory))
        .collect();
    let rendered_parts: Vec<(SourceType, Arc<Rendered>)> = parts.into_iter().flatten().collect();
    let source_type = rendered_parts
        .first()
        .map(|(k, _)| *k)
        .unwrap_or(SourceType::Directory);
    let (rendered, repeated) = if rendered_parts.len() == 1 {
        (Arc::clone(&rendered_parts[0].1), Vec::new())
    } else {
        let (merged, repeated) = merge(
            rendered_parts
                .iter()
                .map(|(_, r)| r.as_ref().clone())
                .collect(),
        );
        (Arc::new(merged), repeated)
    };
    if !repeated.is_empty() {
        tracing::warn!(app = %job.app_key, repeated = ?repeated.iter().map(|k| k.to_string()).collect::<Vec<_>>(), "objects rendered by more than one source; the last source wins");
    }
    Ok(Fetched {
        commit,
        revisions,
        multi: job.multi,
        source_type,
        source_types,
        rendered,
        repeated,
    })
}
