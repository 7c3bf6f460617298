//! The AppProject boundary, in two checks with Argo CD's semantics:
//!
//! * [`check`], before anything is fetched: the project exists (the `default` project is
//!   created permissive when missing, as Argo CD's API server does), and allows the source
//!   repositories (`sourceRepos`) and the destination (`destinations`, after the destination
//!   is resolved to a cluster's server and name);
//! * [`check_resources`], after the desired and live objects are known and before the sync:
//!   every object to apply or prune is of a kind the project permits
//!   (`cluster`/`namespaceResourceWhitelist`/`Blacklist`, scope from discovery) and every
//!   namespaced object lands in a permitted namespace; so is the Namespace that
//!   `CreateNamespace=true` would create (Argo CD: "resource :Namespace is not permitted").
//!
//! Patterns are globs; a pattern starting with `!` denies. A violation is an
//! `InvalidSpecError` condition naming the object and the rule; nothing is applied or pruned.
//! The matching itself is pure (functions over the project spec) and unit-tested below.

use super::clusters::Cluster;
use super::sync::Item;
use super::{Context, ControllerError, kube_err};
use crate::source::url::{normalize, redact};
use crate::sync_options::SyncOptions;
use crate::types::{AppProject, AppProjectSpec, Application, ApplicationDestination, GroupKind};
use k8s_openapi::api::core::v1::Namespace;
use kube::Api;

/// The project an Application without `spec.project` belongs to.
pub(crate) const DEFAULT_PROJECT: &str = "default";

/// Argo CD's glob match (gobwas/glob): `*` and `?` stop at `/` when `separator` is set;
/// `[...]`, `{a,b}` work as usual. A pattern that does not compile matches only itself.
pub(crate) fn glob_match(pattern: &str, value: &str, separator: bool) -> bool {
    if pattern == "*" {
        return true;
    }
    globset::GlobBuilder::new(pattern)
        .literal_separator(separator)
        .backslash_escape(true)
        .build()
        .map(|g| g.compile_matcher().is_match(value))
        .unwrap_or(pattern == value)
}

fn is_deny(pattern: &str) -> bool {
    pattern.starts_with('!')
}

/// Argo CD's `globMatch` with negation allowed: `!p` matches whatever `p` does not.
fn glob_match_neg(pattern: &str, value: &str, separator: bool) -> bool {
    match pattern.strip_prefix('!') {
        Some(p) => !glob_match(p, value, separator),
        None => glob_match(pattern, value, separator),
    }
}

/// The form repository URLs are compared in (both sides): Fjord's URL normalisation,
/// lower-cased as Argo CD's `NormalizeGitURL` does.
fn repo_key(url: &str) -> String {
    normalize(url).to_lowercase()
}

/// Whether `repo_url` is among the project's source repositories (Argo CD's
/// `IsSourcePermitted`): some pattern matches, and no `!` pattern matches the URL. `*` and
/// `?` do not cross `/`.
pub(crate) fn source_allowed(spec: &AppProjectSpec, repo_url: &str) -> bool {
    let url = repo_key(repo_url);
    let mut any = false;
    for pattern in &spec.source_repos {
        let normalized = match pattern.strip_prefix('!') {
            Some(p) => format!("!{}", repo_key(p)),
            None if pattern == "*" => "*".to_string(),
            None => repo_key(pattern),
        };
        if glob_match_neg(&normalized, &url, true) {
            any = true;
        } else if is_deny(&normalized) {
            return false;
        }
    }
    any
}

/// Whether the destination is among the project's (Argo CD's `isDestinationMatched`): one
/// entry matches server or name, and namespace; no `!` entry excludes it. `dest` should carry
/// both the server and the name of the resolved cluster.
pub(crate) fn destination_allowed(spec: &AppProjectSpec, dest: &ApplicationDestination) -> bool {
    let ns = dest.namespace.as_deref().unwrap_or("");
    let mut any = false;
    let mut no_deny = true;
    for item in &spec.destinations {
        let item_name = item.name.as_deref().unwrap_or("");
        let item_server = item.server.as_deref().unwrap_or("");
        let item_ns = item.namespace.as_deref().unwrap_or("");
        let name_ok = dest
            .name
            .as_deref()
            .is_some_and(|n| !n.is_empty() && glob_match_neg(item_name, n, false));
        let server_ok = dest
            .server
            .as_deref()
            .is_some_and(|s| !s.is_empty() && glob_match_neg(item_server, s, false));
        let ns_ok = glob_match_neg(item_ns, ns, false);
        if (server_ok || name_ok) && ns_ok {
            any = true;
        } else if (((!name_ok && is_deny(item_name)) || (!server_ok && is_deny(item_server)))
            && ns_ok)
            || ((server_ok || name_ok) && is_deny(item_ns))
        {
            no_deny = false;
        }
    }
    any && no_deny
}

/// The `name` glob of a cluster resource list entry (empty: any name).
fn name_glob(gk: &GroupKind) -> &str {
    gk.extra
        .get("name")
        .and_then(serde_json::Value::as_str)
        .unwrap_or("")
}

fn in_list(list: &[GroupKind], group: &str, kind: &str, name: &str) -> bool {
    list.iter().any(|gk| {
        glob_match(&gk.kind, kind, false)
            && glob_match(&gk.group, group, false)
            && match name_glob(gk) {
                "" => true,
                pattern => glob_match(pattern, name, false),
            }
    })
}

/// Which list rule refuses an object of `group`/`kind` named `name`, if any (Argo CD's
/// `IsGroupKindPermitted`): cluster-scoped kinds need a `clusterResourceWhitelist` entry
/// and no `clusterResourceBlacklist` one; namespaced kinds are allowed by an empty
/// `namespaceResourceWhitelist` (or one that matches) unless `namespaceResourceBlacklist`
/// matches.
pub(crate) fn kind_refusal(
    spec: &AppProjectSpec,
    group: &str,
    kind: &str,
    name: &str,
    namespaced: bool,
) -> Option<&'static str> {
    if namespaced {
        let white = &spec.namespace_resource_whitelist;
        if !white.is_empty() && !in_list(white, group, kind, name) {
            return Some("it is not in namespaceResourceWhitelist");
        }
        if in_list(&spec.namespace_resource_blacklist, group, kind, name) {
            return Some("it is in namespaceResourceBlacklist");
        }
        return None;
    }
    if !in_list(&spec.cluster_resource_whitelist, group, kind, name) {
        return Some(
            "cluster-scoped kinds must be listed in clusterResourceWhitelist, and it is not",
        );
    }
    if in_list(&spec.cluster_resource_blacklist, group, kind, name) {
        return Some("it is in clusterResourceBlacklist");
    }
    None
}

/// One object the sync would touch, for [`resource_violation`].
pub(crate) struct Touched<'a> {
    /// Group (empty for core).
    pub group: &'a str,
    /// Kind.
    pub kind: &'a str,
    /// Namespace (empty for cluster-scoped objects).
    pub namespace: &'a str,
    /// Name.
    pub name: &'a str,
    /// Whether the kind is namespaced (from discovery).
    pub namespaced: bool,
    /// Whether the object would be pruned rather than applied.
    pub prune: bool,
}

/// The first object the project forbids, as a message naming the object and the rule.
/// `dest` is the Application's resolved destination (server and name).
pub(crate) fn resource_violation<'a>(
    project: &str,
    spec: &AppProjectSpec,
    dest: &ApplicationDestination,
    objects: impl IntoIterator<Item = Touched<'a>>,
) -> Option<String> {
    for o in objects {
        let what = if o.group.is_empty() {
            format!("{} {:?}", o.kind, o.name)
        } else {
            format!("{}/{} {:?}", o.group, o.kind, o.name)
        };
        let verb = if o.prune { "prune" } else { "apply" };
        if let Some(rule) = kind_refusal(spec, o.group, o.kind, o.name, o.namespaced) {
            return Some(format!(
                "resource {}:{} is not permitted in project '{project}': refusing to {verb} {what}: {rule}",
                o.group, o.kind
            ));
        }
        if o.namespaced {
            let target = ApplicationDestination {
                namespace: Some(o.namespace.to_string()),
                ..dest.clone()
            };
            if !destination_allowed(spec, &target) {
                return Some(format!(
                    "namespace {} is not permitted in project '{project}': refusing to {verb} {what} in namespace {:?}: no entry of destinations allows it",
                    o.namespace, o.namespace
                ));
            }
        }
    }
    None
}

/// The Application's project name (`default` when unset).
pub(crate) fn project_name(app: &Application) -> &str {
    if app.spec.project.is_empty() {
        DEFAULT_PROJECT
    } else {
        app.spec.project.as_str()
    }
}

async fn read(ctx: &Context, name: &str) -> Result<Option<AppProject>, ControllerError> {
    let api: Api<AppProject> = Api::namespaced(ctx.client.clone(), &ctx.config.namespace);
    api.get_opt(name)
        .await
        .map_err(kube_err(format!("reading AppProject {name}")))
}

/// The project from the cache (`fresh`: from the API, for a verdict against it: the cache
/// may lag behind the change that triggered this reconcile).
async fn load(
    ctx: &Context,
    name: &str,
    fresh: bool,
) -> Result<Option<AppProject>, ControllerError> {
    let found = match ctx.settings.project(name).filter(|_| !fresh) {
        Some(cached) => cached.map(|p| p.as_ref().clone()),
        None => read(ctx, name).await?,
    };
    if found.is_some()
        || name != DEFAULT_PROJECT
        || !super::shard::may_lead(ctx.config.shard.as_ref())
    {
        return Ok(found);
    }
    tracing::info!(namespace = %ctx.config.namespace, "creating the missing default AppProject");
    super::install::ensure_default_project(&ctx.client, &ctx.config.namespace).await?;
    read(ctx, name).await
}

/// The project, when it exists and allows the Application's sources and destination
/// (`dest`: the destination resolved to a cluster's server and name); `Err(message)` when it
/// forbids them.
pub(crate) async fn check(
    ctx: &Context,
    app: &Application,
    dest: &ApplicationDestination,
) -> Result<Result<AppProject, String>, ControllerError> {
    match check_with(ctx, app, dest, false).await? {
        Ok(p) => Ok(Ok(p)),
        // Confirm a refusal against the API.
        Err(_) => check_with(ctx, app, dest, true).await,
    }
}

async fn check_with(
    ctx: &Context,
    app: &Application,
    dest: &ApplicationDestination,
    fresh: bool,
) -> Result<Result<AppProject, String>, ControllerError> {
    let name = project_name(app);
    let Some(project) = load(ctx, name, fresh).await? else {
        return Ok(Err(format!(
            "Application referencing project {name} which does not exist"
        )));
    };
    for source in app.spec.all_sources() {
        if !source_allowed(&project.spec, &source.repo_url) {
            return Ok(Err(format!(
                "application repo {} is not permitted in project '{name}' (sourceRepos)",
                redact(&source.repo_url)
            )));
        }
    }
    if !destination_allowed(&project.spec, dest) {
        return Ok(Err(format!(
            "application destination server '{}' and namespace '{}' do not match any of the allowed destinations in project '{name}'",
            dest.server
                .as_deref()
                .or(dest.name.as_deref())
                .unwrap_or(""),
            dest.namespace.as_deref().unwrap_or("")
        )));
    }
    Ok(Ok(project))
}

/// The namespace `CreateNamespace=true` would create, when the project does not permit
/// creating it: the destination namespace when the option is set, the project refuses the
/// Namespace, and it does not exist in the destination cluster yet. (The API is asked only
/// in that case, so an idle controller stays idle.)
pub(crate) async fn namespace_to_create(
    cluster: &Cluster,
    app: &Application,
    project: &AppProject,
) -> Option<String> {
    let ns = app.spec.destination.namespace.as_deref().unwrap_or("");
    if ns.is_empty()
        || !SyncOptions::parse(app.spec.sync_options()).create_namespace
        || kind_refusal(&project.spec, "", "Namespace", ns, false).is_none()
    {
        return None;
    }
    let api: Api<Namespace> = Api::all(cluster.client.clone());
    match api.get_opt(ns).await {
        Ok(Some(_)) => None,
        // Absent, or unknown: the sync would try to create it.
        _ => Some(ns.to_string()),
    }
}

/// `Err(message)` when the project forbids an object the sync would apply or prune, or the
/// Namespace `CreateNamespace=true` would create (`create_namespace`: that namespace when it
/// does not exist yet). A refusal is confirmed against the project as the API has it now.
pub(crate) async fn check_resources(
    ctx: &Context,
    project: &AppProject,
    dest: &ApplicationDestination,
    items: &[Item],
    create_namespace: Option<&str>,
) -> Result<Result<(), String>, ControllerError> {
    if resources_allowed(project, dest, items, create_namespace).is_ok() {
        return Ok(Ok(()));
    }
    let name = project.metadata.name.as_deref().unwrap_or(DEFAULT_PROJECT);
    Ok(match load(ctx, name, true).await? {
        Some(current) => resources_allowed(&current, dest, items, create_namespace),
        None => Err(format!(
            "Application referencing project {name} which does not exist"
        )),
    })
}

fn resources_allowed(
    project: &AppProject,
    dest: &ApplicationDestination,
    items: &[Item],
    create_namespace: Option<&str>,
) -> Result<(), String> {
    let name = project.metadata.name.as_deref().unwrap_or(DEFAULT_PROJECT);
    let namespace = create_namespace.map(|ns| Touched {
        group: "",
        kind: "Namespace",
        namespace: "",
        name: ns,
        namespaced: false,
        prune: false,
    });
    let touched = namespace.into_iter().chain(items.iter().map(|i| Touched {
        group: &i.key.group,
        kind: &i.key.kind,
        namespace: &i.key.namespace,
        name: &i.key.name,
        namespaced: i.kind.namespaced,
        prune: i.desired.is_none(),
    }));
    match resource_violation(name, &project.spec, dest, touched) {
        Some(message) => Err(message),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(repos: &[&str], dests: &[(&str, &str)]) -> AppProjectSpec {
        AppProjectSpec {
            source_repos: repos.iter().map(|s| s.to_string()).collect(),
            destinations: dests
                .iter()
                .map(|(s, n)| ApplicationDestination {
                    server: Some(s.to_string()),
                    namespace: Some(n.to_string()),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        }
    }

    fn dest(server: &str, ns: &str) -> ApplicationDestination {
        ApplicationDestination {
            server: Some(server.into()),
            namespace: Some(ns.into()),
            ..Default::default()
        }
    }

    fn gk(group: &str, kind: &str) -> GroupKind {
        GroupKind {
            group: group.into(),
            kind: kind.into(),
            ..Default::default()
        }
    }

    #[test]
    fn glob_stops_at_slash_only_when_asked() {
        assert!(glob_match("a/*", "a/b/c", false));
        assert!(!glob_match("a/*", "a/b/c", true));
        assert!(glob_match("a/**", "a/b/c", true));
        assert!(glob_match("payment-?", "payment-1", false));
        assert!(glob_match("{dev,prod}", "prod", false));
        assert!(!glob_match("{dev,prod}", "stage", false));
        assert!(glob_match("*", "", false));
        assert!(glob_match("", "", false));
        assert!(!glob_match("", "x", false));
    }

    #[test]
    fn source_repos_are_globs_with_negation() {
        let s = spec(
            &["git@github.com:my-org/*", "!git@github.com:my-org/secret*"],
            &[],
        );
        assert!(source_allowed(&s, "git@github.com:my-org/infra-config.git"));
        assert!(!source_allowed(&s, "git@github.com:my-org/secrets.git"));
        // Argo CD counts a deny pattern that does not match as a match (`globMatch` with
        // negation), so this list lets other organisations through...
        assert!(source_allowed(&s, "git@github.com:other/infra.git"));
        // ...while positive patterns alone do not.
        let s = spec(&["git@github.com:my-org/*"], &[]);
        assert!(!source_allowed(&s, "git@github.com:other/infra.git"));
        assert!(source_allowed(&spec(&["*"], &[]), "file:///tmp/repo"));
        assert!(!source_allowed(&spec(&[], &[]), "file:///tmp/repo"));
        // `*` does not cross `/` in repository patterns; case and `.git` do not matter.
        let s = spec(&["https://github.com/my-org/*"], &[]);
        assert!(source_allowed(&s, "https://GitHub.com/my-org/App.git"));
        assert!(!source_allowed(&s, "https://github.com/my-org/group/app"));
        // A deny pattern alone allows everything else (Argo CD's rule).
        let s = spec(&["!https://github.com/evil/*"], &[]);
        assert!(source_allowed(&s, "https://github.com/good/app"));
        assert!(!source_allowed(&s, "https://github.com/evil/app"));
    }

    #[test]
    fn destinations_match_server_or_name_and_namespace() {
        let s = spec(&[], &[("https://kubernetes.default.svc", "payment-*")]);
        assert!(destination_allowed(
            &s,
            &dest("https://kubernetes.default.svc", "payment-prod")
        ));
        assert!(!destination_allowed(
            &s,
            &dest("https://kubernetes.default.svc", "kube-system")
        ));
        assert!(!destination_allowed(
            &s,
            &dest("https://other:6443", "payment-prod")
        ));
        assert!(destination_allowed(
            &spec(&[], &[("*", "*")]),
            &dest("https://x", "y")
        ));
        let by_name = AppProjectSpec {
            destinations: vec![ApplicationDestination {
                name: Some("edge-*".into()),
                namespace: Some("*".into()),
                ..Default::default()
            }],
            ..Default::default()
        };
        let mut d = dest("https://10.0.0.1:6443", "apps");
        assert!(!destination_allowed(&by_name, &d));
        d.name = Some("edge-1".into());
        assert!(destination_allowed(&by_name, &d));
    }

    #[test]
    fn destination_negation_excludes() {
        let s = spec(
            &[],
            &[
                ("*", "*"),
                ("*", "!kube-system"),
                ("!https://prod:6443", "*"),
            ],
        );
        assert!(destination_allowed(&s, &dest("https://dev:6443", "apps")));
        assert!(!destination_allowed(
            &s,
            &dest("https://dev:6443", "kube-system")
        ));
        assert!(!destination_allowed(&s, &dest("https://prod:6443", "apps")));
    }

    #[test]
    fn cluster_scoped_kinds_need_the_whitelist() {
        let mut s = AppProjectSpec::default();
        assert!(kind_refusal(&s, "", "Namespace", "x", false).is_some());
        assert_eq!(kind_refusal(&s, "apps", "Deployment", "x", true), None);
        s.cluster_resource_whitelist = vec![gk("", "Namespace")];
        assert_eq!(kind_refusal(&s, "", "Namespace", "x", false), None);
        assert!(
            kind_refusal(&s, "rbac.authorization.k8s.io", "ClusterRole", "x", false)
                .unwrap()
                .contains("clusterResourceWhitelist")
        );
        s.cluster_resource_whitelist = vec![gk("*", "*")];
        s.cluster_resource_blacklist = vec![gk("rbac.authorization.k8s.io", "*")];
        assert!(
            kind_refusal(&s, "rbac.authorization.k8s.io", "ClusterRole", "x", false)
                .unwrap()
                .contains("clusterResourceBlacklist")
        );
        assert_eq!(kind_refusal(&s, "", "Namespace", "x", false), None);
    }

    #[test]
    fn cluster_whitelist_name_globs() {
        let mut entry = gk("", "Namespace");
        entry
            .extra
            .insert("name".into(), serde_json::Value::String("team-a-*".into()));
        let s = AppProjectSpec {
            cluster_resource_whitelist: vec![entry],
            ..Default::default()
        };
        assert_eq!(kind_refusal(&s, "", "Namespace", "team-a-dev", false), None);
        assert!(kind_refusal(&s, "", "Namespace", "team-b-dev", false).is_some());
    }

    #[test]
    fn namespaced_kinds_allowed_unless_listed() {
        let mut s = AppProjectSpec {
            namespace_resource_blacklist: vec![gk("", "ResourceQuota"), gk("", "LimitRange")],
            ..Default::default()
        };
        assert!(
            kind_refusal(&s, "", "ResourceQuota", "q", true)
                .unwrap()
                .contains("namespaceResourceBlacklist")
        );
        assert_eq!(kind_refusal(&s, "", "ConfigMap", "c", true), None);
        s.namespace_resource_whitelist = vec![gk("apps", "*")];
        assert_eq!(kind_refusal(&s, "apps", "Deployment", "d", true), None);
        assert!(
            kind_refusal(&s, "", "ConfigMap", "c", true)
                .unwrap()
                .contains("namespaceResourceWhitelist")
        );
    }

    #[test]
    fn resource_violation_names_object_and_rule() {
        let s = AppProjectSpec {
            destinations: vec![dest("*", "team-a")],
            ..Default::default()
        };
        let d = dest("https://kubernetes.default.svc", "team-a");
        let ok = Touched {
            group: "apps",
            kind: "Deployment",
            namespace: "team-a",
            name: "web",
            namespaced: true,
            prune: false,
        };
        assert_eq!(resource_violation("team", &s, &d, [ok]), None);
        let elsewhere = Touched {
            group: "",
            kind: "ConfigMap",
            namespace: "kube-system",
            name: "cfg",
            namespaced: true,
            prune: false,
        };
        let m = resource_violation("team", &s, &d, [elsewhere]).unwrap();
        assert!(m.contains("kube-system") && m.contains("ConfigMap") && m.contains("'team'"));
        let cluster = Touched {
            group: "rbac.authorization.k8s.io",
            kind: "ClusterRole",
            namespace: "",
            name: "admin",
            namespaced: false,
            prune: true,
        };
        let namespace = Touched {
            group: "",
            kind: "Namespace",
            namespace: "",
            name: "team-a",
            namespaced: false,
            prune: false,
        };
        let m = resource_violation("team", &s, &d, [namespace]).unwrap();
        assert!(
            m.starts_with("resource :Namespace is not permitted in project 'team'"),
            "{m}"
        );
        let m = resource_violation("team", &s, &d, [cluster]).unwrap();
        assert!(m.contains("ClusterRole") && m.contains("\"admin\"") && m.contains("prune"));
        assert!(m.contains("clusterResourceWhitelist"), "{m}");
    }
}
