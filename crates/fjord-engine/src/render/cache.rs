//! A cache of rendered sources: no re-render without a new commit.
//!
//! The key is the repository, the resolved commit SHA, the path and the tool parameters
//! (the source's `directory`/`kustomize`/`helm`/`plugin` blocks, serialised), so a change of
//! any of them renders again and nothing else does. Failed renders are not cached. The cache
//! holds at most `capacity` entries and evicts the least recently used.

use super::Rendered;
use crate::types::ApplicationSource;
use std::collections::HashMap;
use std::sync::Arc;

/// What a rendered result depends on.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct RenderKey {
    /// Repository URL.
    pub repo_url: String,
    /// Resolved commit SHA.
    pub commit: String,
    /// App path.
    pub path: String,
    /// Serialised tool parameters.
    pub params: String,
    /// Anything else the renderer reads (Helm's release name defaults to the Application
    /// name; a kube version): empty unless set with [`RenderKey::with_context`].
    pub context: String,
}

impl RenderKey {
    /// The key for rendering `source` at `commit`.
    pub fn new(source: &ApplicationSource, commit: &str) -> Self {
        let params = serde_json::json!({
            "directory": source.directory,
            "kustomize": source.kustomize,
            "helm": source.helm,
            "plugin": source.plugin,
            "chart": source.chart,
        });
        RenderKey {
            repo_url: source.repo_url.clone(),
            commit: commit.to_string(),
            path: source.path.clone().unwrap_or_default(),
            params: params.to_string(),
            context: String::new(),
        }
    }

    /// Adds renderer inputs that are not part of the source (see [`RenderKey::context`]).
    pub fn with_context(mut self, context: impl Into<String>) -> Self {
        self.context = context.into();
        self
    }
}

/// A bounded least-recently-used cache of renders.
#[derive(Debug)]
pub struct RenderCache {
    capacity: usize,
    tick: u64,
    entries: HashMap<RenderKey, (u64, Arc<Rendered>)>,
}

impl RenderCache {
    /// A cache holding at most `capacity` renders (at least one).
    pub fn new(capacity: usize) -> Self {
        RenderCache {
            capacity: capacity.max(1),
            tick: 0,
            entries: HashMap::new(),
        }
    }

    /// The cached render for `key`, marking it recently used.
    pub fn get(&mut self, key: &RenderKey) -> Option<Arc<Rendered>> {
        self.tick += 1;
        let tick = self.tick;
        self.entries.get_mut(key).map(|(used, r)| {
            *used = tick;
            Arc::clone(r)
        })
    }

    /// The cached render for `key`, or the result of `render` (cached when it succeeds).
    pub fn get_or_render<E>(
        &mut self,
        key: RenderKey,
        render: impl FnOnce() -> Result<Rendered, E>,
    ) -> Result<Arc<Rendered>, E> {
        if let Some(hit) = self.get(&key) {
            return Ok(hit);
        }
        let rendered = Arc::new(render()?);
        self.insert(key, Arc::clone(&rendered));
        Ok(rendered)
    }

    /// Stores a render, evicting the least recently used entry when full.
    pub fn insert(&mut self, key: RenderKey, rendered: Arc<Rendered>) {
        self.tick += 1;
        if !self.entries.contains_key(&key) && self.entries.len() >= self.capacity {
            let oldest = self
                .entries
                .iter()
                .min_by_key(|(_, (used, _))| *used)
                .map(|(k, _)| k.clone());
            if let Some(k) = oldest {
                self.entries.remove(&k);
            }
        }
        self.entries.insert(key, (self.tick, rendered));
    }

    /// Number of cached renders.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::DirectorySource;

    fn src(recurse: bool) -> ApplicationSource {
        ApplicationSource {
            repo_url: "https://git.example/r.git".into(),
            path: Some("app".into()),
            directory: Some(Box::new(DirectorySource {
                recurse: Some(recurse),
                ..Default::default()
            })),
            ..Default::default()
        }
    }

    #[test]
    fn same_commit_and_params_render_once() {
        let mut cache = RenderCache::new(8);
        let mut renders = 0;
        for _ in 0..3 {
            cache
                .get_or_render(RenderKey::new(&src(false), "c1"), || {
                    renders += 1;
                    Ok::<_, ()>(Rendered::default())
                })
                .unwrap();
        }
        assert_eq!(renders, 1);
        // A new commit or new parameters render again.
        for key in [
            RenderKey::new(&src(false), "c2"),
            RenderKey::new(&src(true), "c1"),
        ] {
            cache
                .get_or_render(key, || {
                    renders += 1;
                    Ok::<_, ()>(Rendered::default())
                })
                .unwrap();
        }
        assert_eq!(renders, 3);
        // Different context (another Application's release name) renders again.
        cache
            .get_or_render(
                RenderKey::new(&src(false), "c1").with_context("app-b"),
                || {
                    renders += 1;
                    Ok::<_, ()>(Rendered::default())
                },
            )
            .unwrap();
        assert_eq!(renders, 4);
    }

    #[test]
    fn failures_are_not_cached_and_lru_evicts() {
        let mut cache = RenderCache::new(2);
        let k = |c: &str| RenderKey::new(&src(false), c);
        assert!(
            cache
                .get_or_render(k("a"), || Err::<Rendered, _>("boom"))
                .is_err()
        );
        assert!(cache.is_empty());
        cache.insert(k("a"), Arc::default());
        cache.insert(k("b"), Arc::default());
        assert!(cache.get(&k("a")).is_some()); // "b" is now the least recently used
        cache.insert(k("c"), Arc::default());
        assert_eq!(cache.len(), 2);
        assert!(cache.get(&k("b")).is_none());
        assert!(cache.get(&k("a")).is_some() && cache.get(&k("c")).is_some());
    }
}
