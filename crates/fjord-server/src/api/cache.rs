//! The in-memory view of Applications and AppProjects the API serves from. A watch
//! (`watch.rs`) keeps it current; every list, count and filter runs here, so a list of ten
//! thousand Applications costs no request to the API server. Each change is also broadcast
//! (as the Application's summary) to the event streams.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use fjord_engine::types::{AppProject, Application};
use serde::Serialize;
use tokio::sync::broadcast;

/// What the list shows of one Application (precomputed when the Application changes).
#[derive(Clone, Debug, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct AppSummary {
    /// `metadata.name`.
    pub name: String,
    /// `metadata.namespace`.
    pub namespace: String,
    /// `spec.project` (`default` when empty).
    pub project: String,
    /// `metadata.labels`.
    pub labels: BTreeMap<String, String>,
    /// The first source's repository.
    pub repo_url: String,
    /// The first source's path.
    pub path: String,
    /// The first source's target revision (`HEAD` when unset).
    pub target_revision: String,
    /// `spec.destination.server` or `.name`.
    pub destination_server: String,
    /// `spec.destination.namespace`.
    pub destination_namespace: String,
    /// `Synced`, `OutOfSync` or `Unknown`.
    pub sync: String,
    /// Argo CD's health code.
    pub health: String,
    /// The health message, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub health_message: Option<String>,
    /// The commit last compared.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revision: Option<String>,
    /// The phase of the current or last operation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub operation_phase: Option<String>,
    /// An operation is requested and not yet finished.
    pub operation_pending: bool,
    /// Automated sync is on.
    pub auto_sync: bool,
    /// `metadata.creationTimestamp`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
    /// `status.reconciledAt`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reconciled_at: Option<String>,
    /// Conditions, as `type: message`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<String>,
}

fn json_name<T: Serialize>(v: &T) -> String {
    match serde_json::to_value(v) {
        Ok(serde_json::Value::String(s)) => s,
        _ => "Unknown".to_string(),
    }
}

impl AppSummary {
    /// Summarises an Application.
    pub fn of(app: &Application) -> Self {
        let source = app.spec.all_sources().into_iter().next();
        let status = app.status.as_ref();
        let sync = status
            .and_then(|s| s.sync.as_ref())
            .map(|s| json_name(&s.status))
            .unwrap_or_else(|| "Unknown".into());
        let health = status.and_then(|s| s.health.as_ref());
        let dest = &app.spec.destination;
        let op_phase = status
            .and_then(|s| s.operation_state.as_ref())
            .map(|o| json_name(&o.phase));
        AppSummary {
            name: app.name().to_string(),
            namespace: app.namespace().to_string(),
            project: if app.spec.project.is_empty() {
                "default".into()
            } else {
                app.spec.project.clone()
            },
            labels: app.metadata.labels.clone().unwrap_or_default(),
            repo_url: source.map(|s| s.repo_url.clone()).unwrap_or_default(),
            path: source.and_then(|s| s.path.clone()).unwrap_or_default(),
            target_revision: source.map(|s| s.revision().to_string()).unwrap_or_default(),
            destination_server: dest
                .server
                .clone()
                .or_else(|| dest.name.clone())
                .unwrap_or_default(),
            destination_namespace: dest.namespace.clone().unwrap_or_default(),
            sync,
            health: health
                .map(|h| json_name(&h.status))
                .unwrap_or_else(|| "Unknown".into()),
            health_message: health
                .and_then(|h| h.message.clone())
                .filter(|m| !m.is_empty()),
            revision: status
                .and_then(|s| s.sync.as_ref())
                .and_then(|s| s.revision.clone()),
            operation_phase: op_phase,
            operation_pending: app.operation.is_some(),
            auto_sync: app
                .spec
                .sync_policy
                .as_ref()
                .is_some_and(|p| p.is_automated()),
            created_at: app
                .metadata
                .creation_timestamp
                .as_ref()
                .map(|t| t.0.to_string()),
            reconciled_at: status.and_then(|s| s.reconciled_at.clone()),
            conditions: status
                .map(|s| {
                    s.conditions
                        .iter()
                        .map(|c| format!("{}: {}", c.condition_type, c.message))
                        .collect()
                })
                .unwrap_or_default(),
        }
    }
}

/// One cached Application with its summary and search text.
#[derive(Debug)]
pub struct AppEntry {
    /// The Application as last seen.
    pub app: Arc<Application>,
    /// Its summary.
    pub summary: AppSummary,
    /// Lower-cased text the `search` filter matches against.
    pub search_text: String,
    /// Position of the health code in Argo CD's order, best first (for sorting).
    pub health_rank: u8,
}

/// Argo CD's health codes, best first.
pub const HEALTH_ORDER: [&str; 6] = [
    "Healthy",
    "Suspended",
    "Progressing",
    "Missing",
    "Degraded",
    "Unknown",
];

impl AppEntry {
    /// Builds the entry of an Application.
    pub fn new(app: Application) -> Self {
        let summary = AppSummary::of(&app);
        let search_text = format!(
            "{} {} {} {} {} {}",
            summary.name,
            summary.namespace,
            summary.project,
            summary.repo_url,
            summary.path,
            summary.destination_namespace
        )
        .to_lowercase();
        let health_rank = HEALTH_ORDER
            .iter()
            .position(|h| *h == summary.health)
            .unwrap_or(HEALTH_ORDER.len()) as u8;
        AppEntry {
            app: Arc::new(app),
            summary,
            search_text,
            health_rank,
        }
    }
}

/// A change to an Application, as the event stream sends it.
#[derive(Clone, Debug, Serialize)]
pub struct AppEvent {
    /// `ADDED`/`MODIFIED` (as one `UPSERT`) or `DELETED`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// The Application's summary after the change (before it, for a deletion).
    pub application: AppSummary,
}

/// The cache: Applications keyed `namespace/name`, AppProjects keyed by name.
pub struct AppCache {
    apps: RwLock<BTreeMap<String, Arc<AppEntry>>>,
    projects: RwLock<BTreeMap<String, Arc<AppProject>>>,
    events: broadcast::Sender<AppEvent>,
    ready: std::sync::atomic::AtomicBool,
}

impl Default for AppCache {
    fn default() -> Self {
        AppCache {
            apps: RwLock::default(),
            projects: RwLock::default(),
            events: broadcast::channel(4096).0,
            ready: std::sync::atomic::AtomicBool::new(false),
        }
    }
}

fn key_of(app: &Application) -> String {
    format!("{}/{}", app.namespace(), app.name())
}

impl AppCache {
    /// Adds or replaces an Application (no event when its summary is unchanged).
    pub fn upsert(&self, app: Application) {
        let key = key_of(&app);
        let entry = Arc::new(AppEntry::new(app));
        let previous = self
            .apps
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key, Arc::clone(&entry));
        if previous.is_none_or(|p| p.summary != entry.summary) {
            let _ = self.events.send(AppEvent {
                kind: "UPSERT",
                application: entry.summary.clone(),
            });
        }
    }

    /// Removes an Application.
    pub fn remove(&self, namespace: &str, name: &str) {
        let removed = self
            .apps
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&format!("{namespace}/{name}"));
        if let Some(e) = removed {
            let _ = self.events.send(AppEvent {
                kind: "DELETED",
                application: e.summary.clone(),
            });
        }
    }

    /// Replaces the whole set (after a watch restarts), sending events for the differences.
    pub fn replace_all(&self, apps: Vec<Application>) {
        let fresh: BTreeMap<String, Application> =
            apps.into_iter().map(|a| (key_of(&a), a)).collect();
        let gone: Vec<(String, String)> = self
            .apps
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .filter(|e| !fresh.contains_key(&key_of(&e.app)))
            .map(|e| (e.summary.namespace.clone(), e.summary.name.clone()))
            .collect();
        for (ns, name) in gone {
            self.remove(&ns, &name);
        }
        for app in fresh.into_values() {
            self.upsert(app);
        }
        self.ready.store(true, std::sync::atomic::Ordering::Release);
    }

    /// True once the first full list has arrived.
    pub fn is_ready(&self) -> bool {
        self.ready.load(std::sync::atomic::Ordering::Acquire)
    }

    /// One Application.
    pub fn get(&self, namespace: &str, name: &str) -> Option<Arc<AppEntry>> {
        self.apps
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&format!("{namespace}/{name}"))
            .cloned()
    }

    /// Every Application, in key order.
    pub fn all(&self) -> Vec<Arc<AppEntry>> {
        self.apps
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .cloned()
            .collect()
    }

    /// The number of Applications.
    pub fn len(&self) -> usize {
        self.apps.read().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// True when no Application is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Adds or replaces an AppProject.
    pub fn upsert_project(&self, project: AppProject) {
        let name = project.metadata.name.clone().unwrap_or_default();
        self.projects
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(name, Arc::new(project));
    }

    /// Removes an AppProject.
    pub fn remove_project(&self, name: &str) {
        self.projects
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .remove(name);
    }

    /// Replaces every AppProject.
    pub fn replace_projects(&self, projects: Vec<AppProject>) {
        let map = projects
            .into_iter()
            .map(|p| (p.metadata.name.clone().unwrap_or_default(), Arc::new(p)))
            .collect();
        *self.projects.write().unwrap_or_else(|e| e.into_inner()) = map;
    }

    /// Every AppProject.
    pub fn projects(&self) -> Vec<Arc<AppProject>> {
        self.projects
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .cloned()
            .collect()
    }

    /// A receiver of future changes.
    pub fn subscribe(&self) -> broadcast::Receiver<AppEvent> {
        self.events.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn app(name: &str, sync: &str) -> Application {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
            "metadata": {"name": name, "namespace": "argocd", "labels": {"team": "pay"}},
            "spec": {"project": "", "source": {"repoURL": "https://g/r.git", "path": "k8s"},
                     "destination": {"server": "https://kubernetes.default.svc", "namespace": "prod"}},
            "status": {"sync": {"status": sync}, "health": {"status": "Healthy"}}
        }))
        .unwrap()
    }

    #[test]
    fn summaries_read_the_status_and_default_the_project() {
        let s = AppSummary::of(&app("a", "OutOfSync"));
        assert_eq!(s.project, "default");
        assert_eq!(s.sync, "OutOfSync");
        assert_eq!(s.health, "Healthy");
        assert_eq!(s.target_revision, "HEAD");
        assert_eq!(s.labels.get("team").map(String::as_str), Some("pay"));
    }

    #[test]
    fn changes_are_broadcast_once_and_deletions_too() {
        let cache = AppCache::default();
        let mut rx = cache.subscribe();
        cache.upsert(app("a", "Synced"));
        cache.upsert(app("a", "Synced"));
        cache.upsert(app("a", "OutOfSync"));
        cache.replace_all(vec![app("b", "Synced")]);
        let kinds: Vec<(String, String)> = std::iter::from_fn(|| rx.try_recv().ok())
            .map(|e| {
                (
                    e.kind.to_string(),
                    format!("{}:{}", e.application.name, e.application.sync),
                )
            })
            .collect();
        assert_eq!(
            kinds,
            vec![
                ("UPSERT".into(), "a:Synced".into()),
                ("UPSERT".into(), "a:OutOfSync".into()),
                ("DELETED".into(), "a:OutOfSync".into()),
                ("UPSERT".into(), "b:Synced".into()),
            ]
        );
        assert_eq!(cache.len(), 1);
        assert!(cache.is_ready());
    }
}
