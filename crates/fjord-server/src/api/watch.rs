//! Keeps the cache current: kube-rs watchers on Applications and AppProjects in the
//! controller's namespace. A restarted watch replaces the whole set, so nothing stale stays.

use std::sync::Arc;
use std::time::Duration;

use fjord_engine::types::{AppProject, Application};
use futures::StreamExt;
use kube::Api;
use kube::runtime::watcher::{self, Event};

use super::cache::AppCache;

/// Runs until the process ends: watches Applications and AppProjects into `cache`.
pub async fn run(client: kube::Client, namespace: String, cache: Arc<AppCache>) {
    let apps: Api<Application> = Api::namespaced(client.clone(), &namespace);
    let projects: Api<AppProject> = Api::namespaced(client, &namespace);
    let c1 = Arc::clone(&cache);
    let a = async move {
        let mut buffer: Vec<Application> = Vec::new();
        let mut stream = watcher::watcher(apps, watcher::Config::default()).boxed();
        while let Some(ev) = stream.next().await {
            match ev {
                Ok(Event::Init) => buffer.clear(),
                Ok(Event::InitApply(app)) => buffer.push(app),
                Ok(Event::InitDone) => c1.replace_all(std::mem::take(&mut buffer)),
                Ok(Event::Apply(app)) => c1.upsert(app),
                Ok(Event::Delete(app)) => c1.remove(app.namespace(), app.name()),
                Err(e) => {
                    tracing::warn!(error = %e, "watching Applications");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
            }
        }
    };
    let c2 = Arc::clone(&cache);
    let p = async move {
        let mut buffer: Vec<AppProject> = Vec::new();
        let mut stream = watcher::watcher(projects, watcher::Config::default()).boxed();
        while let Some(ev) = stream.next().await {
            match ev {
                Ok(Event::Init) => buffer.clear(),
                Ok(Event::InitApply(p)) => buffer.push(p),
                Ok(Event::InitDone) => c2.replace_projects(std::mem::take(&mut buffer)),
                Ok(Event::Apply(p)) => c2.upsert_project(p),
                Ok(Event::Delete(p)) => c2.remove_project(p.metadata.name.as_deref().unwrap_or("")),
                Err(e) => {
                    tracing::warn!(error = %e, "watching AppProjects");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
            }
        }
    };
    tokio::join!(a, p);
}
