//! Health with the custom rules of `argocd-cm`: the compiled scripts are cached per
//! ConfigMap resourceVersion, and evaluated off the async runtime (a script may run until
//! its time limit). A failing script makes its object's health Unknown with the reason, is
//! logged, and becomes an `UnknownError` condition; the reconcile goes on.

use super::sync::Item;
use super::{Context, ControllerError, kube_err, settings::ARGOCD_CM};
use crate::health::HealthStatus;
use crate::health::custom::HealthOverrides;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::Api;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// The compiled overrides of the last `argocd-cm` version seen.
#[derive(Default)]
pub(crate) struct HealthCache {
    current: Mutex<Option<Arc<HealthOverrides>>>,
}

/// The healths of a reconcile's objects and the script failures met.
pub(crate) struct Assessed {
    /// One per item (`None`: not live, or no rule).
    pub healths: Vec<Option<HealthStatus>>,
    /// "object: reason" for every script that failed, plus configuration problems.
    pub failures: Vec<String>,
}

impl Context {
    async fn health_overrides(&self) -> Result<Arc<HealthOverrides>, ControllerError> {
        let cm = match self.settings.argocd_cm() {
            Some(cached) => cached.map(|c| c.as_ref().clone()),
            None => {
                let ns = &self.config.namespace;
                let api: Api<ConfigMap> = Api::namespaced(self.client.clone(), ns);
                api.get_opt(ARGOCD_CM)
                    .await
                    .map_err(kube_err(format!("reading {ns}/{ARGOCD_CM}")))?
            }
        };
        let version = cm
            .as_ref()
            .and_then(|c| c.metadata.resource_version.clone())
            .unwrap_or_default();
        let mut current = self
            .health
            .current
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(c) = current.as_ref().filter(|c| c.version() == version) {
            return Ok(c.clone());
        }
        let data: BTreeMap<String, String> = cm.and_then(|c| c.data).unwrap_or_default();
        let compiled = Arc::new(HealthOverrides::from_data(&version, &data));
        for problem in compiled.problems() {
            tracing::warn!(problem = %problem, "argocd-cm resource customizations");
        }
        *current = Some(compiled.clone());
        Ok(compiled)
    }

    /// The health of every item's live object, custom rules first.
    pub(crate) async fn assess_health(&self, items: &[Item]) -> Result<Assessed, ControllerError> {
        let overrides = self.health_overrides().await?;
        let lives: Vec<Option<serde_json::Value>> = items.iter().map(|i| i.live.clone()).collect();
        let keys: Vec<String> = items.iter().map(|i| i.key.to_string()).collect();
        let limits = self.config.lua_limits.clone();
        // Built-in rules are quick enough for the async runtime; scripts may run until
        // their time limit.
        let builtin_only = overrides.is_empty();
        let run = move || {
            let mut failures: Vec<String> = overrides.problems().to_vec();
            let healths = lives
                .iter()
                .zip(&keys)
                .map(|(live, key)| {
                    let (health, failure) = overrides.assess(live.as_ref()?, &limits);
                    if let Some(f) = failure {
                        tracing::warn!(object = %key, error = %f, "custom health check failed");
                        failures.push(format!("{key}: {f}"));
                    }
                    health
                })
                .collect();
            Assessed { healths, failures }
        };
        if builtin_only {
            return Ok(run());
        }
        tokio::task::spawn_blocking(run)
            .await
            .map_err(|e| ControllerError::Task {
                step: "assessing health",
                message: e.to_string(),
            })
    }
}
