//! The Application list: filters (project, sync, health, label selector, text), sorting,
//! offset pagination with an opaque `continue` token, and counts by sync and health status.
//! Pure over cached entries, so the handler only picks which entries the caller may see.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::cache::{AppEntry, AppSummary};

/// Default and largest page size.
pub const DEFAULT_LIMIT: usize = 100;
/// The largest page a caller may ask for.
pub const MAX_LIMIT: usize = 1000;

/// Query parameters of `GET /api/v1/applications` (lists are comma-separated).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListQuery {
    /// Projects (any of).
    pub project: Option<String>,
    /// Sync statuses (any of).
    pub sync: Option<String>,
    /// Health statuses (any of).
    pub health: Option<String>,
    /// A Kubernetes label selector (`k=v`, `k!=v`, `k`, `!k`, `k in (a,b)`, `k notin (a,b)`).
    pub selector: Option<String>,
    /// Case-insensitive text found in name, namespace, project, repository, path or
    /// destination namespace.
    pub search: Option<String>,
    /// Sort field (`name`, `project`, `sync`, `health`, `createdAt`, `reconciledAt`), `-` for
    /// descending.
    pub sort: Option<String>,
    /// Page size (default 100, at most 1000).
    pub limit: Option<usize>,
    /// The `continue` token of the previous page.
    #[serde(rename = "continue")]
    pub continue_token: Option<String>,
    /// Applications in this namespace only.
    pub namespace: Option<String>,
}

/// Why a list query is invalid.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum QueryError {
    /// The label selector does not parse.
    #[error("selector: {0}")]
    Selector(String),
    /// Unknown sort field.
    #[error("sort: unknown field {0:?} (name, project, sync, health, createdAt, reconciledAt)")]
    Sort(String),
    /// The continue token is not one this server issued.
    #[error("continue: invalid token {0:?}")]
    Continue(String),
}

/// One requirement of a label selector.
#[derive(Clone, Debug, PartialEq)]
enum Requirement {
    Equals(String, String),
    NotEquals(String, String),
    Exists(String),
    NotExists(String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
}

/// A parsed label selector.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Selector(Vec<Requirement>);

fn split_top_level(s: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut depth, mut start) = (0i32, 0usize);
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&s[start..]);
    parts
}

fn set_values(rest: &str, part: &str) -> Result<Vec<String>, QueryError> {
    let inner = rest
        .trim()
        .strip_prefix('(')
        .and_then(|r| r.strip_suffix(')'))
        .ok_or_else(|| QueryError::Selector(format!("{part:?}: expected (a,b,...)")))?;
    Ok(inner
        .split(',')
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
        .collect())
}

impl Selector {
    /// Parses a selector; empty text selects everything.
    pub fn parse(text: &str) -> Result<Self, QueryError> {
        let mut reqs = Vec::new();
        for part in split_top_level(text) {
            let part = part.trim();
            if part.is_empty() {
                continue;
            }
            let req = if let Some((k, v)) = part.split_once("!=") {
                Requirement::NotEquals(k.trim().into(), v.trim().into())
            } else if let Some((k, v)) = part.split_once("==").or_else(|| part.split_once('=')) {
                Requirement::Equals(k.trim().into(), v.trim().into())
            } else if let Some((k, rest)) = part.split_once(" notin ") {
                Requirement::NotIn(k.trim().into(), set_values(rest, part)?)
            } else if let Some((k, rest)) = part.split_once(" in ") {
                Requirement::In(k.trim().into(), set_values(rest, part)?)
            } else if let Some(k) = part.strip_prefix('!') {
                Requirement::NotExists(k.trim().into())
            } else {
                Requirement::Exists(part.into())
            };
            let key = match &req {
                Requirement::Equals(k, _)
                | Requirement::NotEquals(k, _)
                | Requirement::Exists(k)
                | Requirement::NotExists(k)
                | Requirement::In(k, _)
                | Requirement::NotIn(k, _) => k,
            };
            if key.is_empty() || key.contains(char::is_whitespace) {
                return Err(QueryError::Selector(format!("{part:?}: invalid label key")));
            }
            reqs.push(req);
        }
        Ok(Selector(reqs))
    }

    /// True when `labels` satisfy every requirement.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.0.iter().all(|r| match r {
            Requirement::Equals(k, v) => labels.get(k) == Some(v),
            Requirement::NotEquals(k, v) => labels.get(k) != Some(v),
            Requirement::Exists(k) => labels.contains_key(k),
            Requirement::NotExists(k) => !labels.contains_key(k),
            Requirement::In(k, vs) => labels.get(k).is_some_and(|v| vs.contains(v)),
            Requirement::NotIn(k, vs) => labels.get(k).is_none_or(|v| !vs.contains(v)),
        })
    }
}

fn list_param(p: &Option<String>) -> Vec<String> {
    p.as_deref()
        .unwrap_or("")
        .split(',')
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

/// Counts by status.
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct Counts {
    /// By sync status.
    pub sync: BTreeMap<String, usize>,
    /// By health status.
    pub health: BTreeMap<String, usize>,
}

/// One page of the list.
#[derive(Clone, Debug, Serialize)]
pub struct ListPage {
    /// The page's Applications.
    pub items: Vec<AppSummary>,
    /// How many Applications match all filters.
    pub total: usize,
    /// Counts over the Applications matching every filter except sync and health (so a
    /// status filter shows how many each choice would give).
    pub counts: Counts,
    /// Token of the next page, absent on the last.
    #[serde(rename = "continue", skip_serializing_if = "Option::is_none")]
    pub continue_token: Option<String>,
}

type SortKey = fn(&AppEntry, &AppEntry) -> std::cmp::Ordering;

fn sort_key(field: &str) -> Option<SortKey> {
    Some(match field {
        "name" => |a, b| {
            let (a, b) = (&a.summary, &b.summary);
            a.name.cmp(&b.name).then(a.namespace.cmp(&b.namespace))
        },
        "project" => |a, b| {
            let (a, b) = (&a.summary, &b.summary);
            a.project.cmp(&b.project).then(a.name.cmp(&b.name))
        },
        "sync" => |a, b| {
            let (a, b) = (&a.summary, &b.summary);
            a.sync.cmp(&b.sync).then(a.name.cmp(&b.name))
        },
        "health" => |a, b| {
            a.health_rank
                .cmp(&b.health_rank)
                .then(a.summary.name.cmp(&b.summary.name))
        },
        "createdAt" => |a, b| {
            let (a, b) = (&a.summary, &b.summary);
            a.created_at.cmp(&b.created_at).then(a.name.cmp(&b.name))
        },
        "reconciledAt" => |a, b| {
            let (a, b) = (&a.summary, &b.summary);
            a.reconciled_at
                .cmp(&b.reconciled_at)
                .then(a.name.cmp(&b.name))
        },
        _ => return None,
    })
}

/// Filters, counts, sorts and pages `entries` (already restricted to what the caller may
/// see).
pub fn list<'a>(entries: &'a [Arc<AppEntry>], q: &ListQuery) -> Result<ListPage, QueryError> {
    let selector = Selector::parse(q.selector.as_deref().unwrap_or(""))?;
    let projects = list_param(&q.project);
    let syncs = list_param(&q.sync);
    let healths = list_param(&q.health);
    let search = q.search.as_deref().unwrap_or("").trim().to_lowercase();
    let sort = q.sort.as_deref().unwrap_or("name");
    let (desc, field) = match sort.strip_prefix('-') {
        Some(f) => (true, f),
        None => (false, sort),
    };
    let cmp = sort_key(field).ok_or_else(|| QueryError::Sort(field.to_string()))?;
    let offset = match q.continue_token.as_deref().filter(|t| !t.is_empty()) {
        None => 0,
        Some(t) => t
            .strip_prefix("o")
            .and_then(|n| n.parse::<usize>().ok())
            .ok_or_else(|| QueryError::Continue(t.to_string()))?,
    };
    let limit = q.limit.unwrap_or(DEFAULT_LIMIT).clamp(1, MAX_LIMIT);
    let mut sync_counts: Vec<(&str, usize)> = Vec::new();
    let mut health_counts: Vec<(&str, usize)> = Vec::new();
    let bump = |counts: &mut Vec<(&'a str, usize)>, key: &'a str| match counts
        .iter_mut()
        .find(|(k, _)| *k == key)
    {
        Some((_, n)) => *n += 1,
        None => counts.push((key, 1)),
    };
    let mut matched: Vec<&AppEntry> = Vec::new();
    for e in entries {
        let s = &e.summary;
        if q.namespace.as_deref().is_some_and(|n| n != s.namespace)
            || (!projects.is_empty() && !projects.contains(&s.project))
            || !selector.matches(&s.labels)
            || (!search.is_empty() && !e.search_text.contains(&search))
        {
            continue;
        }
        bump(&mut sync_counts, &s.sync);
        bump(&mut health_counts, &s.health);
        if (!syncs.is_empty() && !syncs.contains(&s.sync))
            || (!healths.is_empty() && !healths.contains(&s.health))
        {
            continue;
        }
        matched.push(e);
    }
    let counts = Counts {
        sync: sync_counts
            .into_iter()
            .map(|(k, n)| (k.to_string(), n))
            .collect(),
        health: health_counts
            .into_iter()
            .map(|(k, n)| (k.to_string(), n))
            .collect(),
    };
    let total = matched.len();
    let order = |a: &&AppEntry, b: &&AppEntry| if desc { cmp(b, a) } else { cmp(a, b) };
    // Only the first `offset + limit` in order matter: partition them off in linear time and
    // sort just those. Entries come in cache (namespace/name) order, often already sorted.
    if !matched.is_sorted_by(|a, b| order(a, b) != std::cmp::Ordering::Greater) {
        let wanted = offset.saturating_add(limit);
        if wanted < matched.len() {
            matched.select_nth_unstable_by(wanted, order);
            matched.truncate(wanted);
        }
        matched.sort_by(order);
    }
    let end = offset.saturating_add(limit).min(total);
    let items = matched
        .get(offset.min(total)..end)
        .unwrap_or(&[])
        .iter()
        .map(|e| e.summary.clone())
        .collect();
    Ok(ListPage {
        items,
        total,
        counts,
        continue_token: (end < total).then(|| format!("o{end}")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use fjord_engine::types::Application;

    fn entry(name: &str, project: &str, sync: &str, health: &str, team: &str) -> Arc<AppEntry> {
        let app: Application = serde_json::from_value(serde_json::json!({
            "metadata": {"name": name, "namespace": "argocd", "labels": {"team": team}},
            "spec": {"project": project, "source": {"repoURL": format!("https://git/{name}.git")},
                     "destination": {"namespace": "ns"}},
            "status": {"sync": {"status": sync}, "health": {"status": health}}
        }))
        .unwrap();
        Arc::new(AppEntry::new(app))
    }

    fn set() -> Vec<Arc<AppEntry>> {
        vec![
            entry("pay", "prod", "Synced", "Healthy", "payments"),
            entry("web", "prod", "OutOfSync", "Degraded", "web"),
            entry("api", "dev", "Synced", "Progressing", "web"),
            entry("db", "dev", "Unknown", "Missing", "data"),
        ]
    }

    fn names(p: &ListPage) -> Vec<&str> {
        p.items.iter().map(|s| s.name.as_str()).collect()
    }

    #[test]
    fn filters_combine_and_counts_ignore_the_status_filters() {
        let q = ListQuery {
            project: Some("prod,dev".into()),
            selector: Some("team in (web,payments)".into()),
            sync: Some("Synced".into()),
            ..Default::default()
        };
        let page = list(&set(), &q).unwrap();
        assert_eq!(names(&page), ["api", "pay"]);
        assert_eq!(page.total, 2);
        assert_eq!(page.counts.sync.get("Synced"), Some(&2));
        assert_eq!(page.counts.sync.get("OutOfSync"), Some(&1));
        assert_eq!(page.counts.health.get("Missing"), None);
    }

    #[test]
    fn text_search_is_case_insensitive_over_the_repository_too() {
        let q = ListQuery {
            search: Some("GIT/WEB".into()),
            ..Default::default()
        };
        assert_eq!(names(&list(&set(), &q).unwrap()), ["web"]);
    }

    #[test]
    fn sorting_by_health_follows_argo_order_and_descends_with_a_minus() {
        let q = ListQuery {
            sort: Some("-health".into()),
            ..Default::default()
        };
        assert_eq!(
            names(&list(&set(), &q).unwrap()),
            ["web", "db", "api", "pay"]
        );
        let bad = ListQuery {
            sort: Some("colour".into()),
            ..Default::default()
        };
        assert!(matches!(list(&set(), &bad), Err(QueryError::Sort(_))));
    }

    #[test]
    fn pages_follow_the_continue_token_to_the_end() {
        let mut q = ListQuery {
            limit: Some(3),
            ..Default::default()
        };
        let first = list(&set(), &q).unwrap();
        assert_eq!(names(&first), ["api", "db", "pay"]);
        assert_eq!(first.continue_token.as_deref(), Some("o3"));
        q.continue_token = first.continue_token;
        let second = list(&set(), &q).unwrap();
        assert_eq!(names(&second), ["web"]);
        assert_eq!(second.continue_token, None);
        q.continue_token = Some("xyz".into());
        assert!(matches!(list(&set(), &q), Err(QueryError::Continue(_))));
    }

    #[test]
    fn selectors_parse_every_operator_and_reject_garbage() {
        let labels: BTreeMap<String, String> =
            [("a".to_string(), "1".to_string())].into_iter().collect();
        for (sel, want) in [
            ("a=1", true),
            ("a==1", true),
            ("a!=1", false),
            ("a", true),
            ("!a", false),
            ("b", false),
            ("!b", true),
            ("a in (1,2)", true),
            ("a notin (1,2)", false),
            ("a=1,b!=2", true),
        ] {
            assert_eq!(
                Selector::parse(sel).unwrap().matches(&labels),
                want,
                "{sel}"
            );
        }
        assert!(Selector::parse("a in 1").is_err());
        assert!(Selector::parse("bad key=1").is_err());
    }
}
