//! The AppProject boundary, checked before anything is fetched: the project must exist,
//! allow the source repository (`sourceRepos`) and the destination (`destinations`).
//! Patterns are globs (`*` matches anything, `/` included), as Argo CD's; a pattern starting
//! with `!` denies. A violation is an `InvalidSpecError` and touches no live object.

use super::{Context, ControllerError, kube_err};
use crate::source::url::normalize;
use crate::types::{AppProject, AppProjectSpec, Application, ApplicationDestination};
use kube::Api;

fn glob_match(pattern: &str, value: &str) -> bool {
    globset::GlobBuilder::new(pattern)
        .literal_separator(false)
        .build()
        .map(|g| g.compile_matcher().is_match(value))
        .unwrap_or(pattern == value)
}

/// Argo CD's allow/deny list semantics: allowed when some positive pattern matches and no
/// `!` pattern does.
fn allowed<'a>(patterns: impl Iterator<Item = &'a str> + Clone, value: &str) -> bool {
    let denied = patterns
        .clone()
        .filter_map(|p| p.strip_prefix('!'))
        .any(|p| glob_match(p, value));
    !denied
        && patterns
            .filter(|p| !p.starts_with('!'))
            .any(|p| glob_match(p, value))
}

/// Whether `repo_url` is among the project's source repositories.
pub(crate) fn source_allowed(spec: &AppProjectSpec, repo_url: &str) -> bool {
    let patterns = spec.source_repos.iter().map(String::as_str);
    allowed(patterns.clone(), repo_url) || allowed(patterns, &normalize(repo_url))
}

/// Whether the destination (server or name, and namespace) is among the project's.
pub(crate) fn destination_allowed(spec: &AppProjectSpec, dest: &ApplicationDestination) -> bool {
    let ns = dest.namespace.as_deref().unwrap_or("");
    spec.destinations.iter().any(|d| {
        let ns_ok = glob_match(d.namespace.as_deref().unwrap_or(""), ns);
        let target_ok = match (&dest.server, &dest.name) {
            (Some(server), _) => d.server.as_deref().is_some_and(|p| glob_match(p, server)),
            (None, Some(name)) => d.name.as_deref().is_some_and(|p| glob_match(p, name)),
            (None, None) => false,
        };
        ns_ok && target_ok
    })
}

/// `Err(message)` when the project forbids the Application.
pub(crate) async fn check(
    ctx: &Context,
    app: &Application,
) -> Result<Result<(), String>, ControllerError> {
    let name = if app.spec.project.is_empty() {
        "default"
    } else {
        app.spec.project.as_str()
    };
    let project = match ctx.settings.project(name) {
        Some(cached) => cached.map(|p| p.as_ref().clone()),
        None => {
            let api: Api<AppProject> = Api::namespaced(ctx.client.clone(), &ctx.config.namespace);
            api.get_opt(name)
                .await
                .map_err(kube_err(format!("reading AppProject {name}")))?
        }
    };
    let Some(project) = project else {
        return Ok(Err(format!(
            "Application referencing project {name} which does not exist"
        )));
    };
    for source in app.spec.all_sources() {
        if !source_allowed(&project.spec, &source.repo_url) {
            return Ok(Err(format!(
                "application repo {} is not permitted in project '{name}'",
                crate::source::url::redact(&source.repo_url)
            )));
        }
    }
    let dest = &app.spec.destination;
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
    Ok(Ok(()))
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

    #[test]
    fn source_repos_are_globs_with_negation() {
        let s = spec(
            &["git@github.com:my-org/*", "!git@github.com:my-org/secret*"],
            &[],
        );
        assert!(source_allowed(&s, "git@github.com:my-org/infra-config.git"));
        assert!(!source_allowed(&s, "git@github.com:my-org/secrets.git"));
        assert!(!source_allowed(&s, "git@github.com:other/infra.git"));
        assert!(source_allowed(&spec(&["*"], &[]), "file:///tmp/repo"));
        assert!(!source_allowed(&spec(&[], &[]), "file:///tmp/repo"));
    }

    #[test]
    fn destinations_match_server_and_namespace() {
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
    }
}
