//! Where `fjord app` gets its answers: Fjord's API (`--server`, a bearer token) or the cluster
//! itself (`--core`, the kubeconfig's credentials, as Argo CD's core mode). Both return the
//! API's JSON shapes, so the output code does not care which one answered.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use fjord_engine::types::Application;
use fjord_server::api::actions::{
    RollbackRequest, SyncRequest, delete_app, request_operation, rollback_operation, sync_operation,
};
use fjord_server::api::cache::{AppEntry, AppSummary};
use fjord_server::api::desired::{desired, diff_all};
use fjord_server::api::live::Kinds;
use fjord_server::api::query::{ListQuery, list};
use kube::Api;
use kube::api::ListParams;
use serde_json::{Value, json};

/// The API over HTTP.
pub struct ApiClient {
    pub server: String,
    pub token: String,
    agent: ureq::Agent,
}

/// The cluster directly.
pub struct Core {
    runtime: tokio::runtime::Runtime,
    client: kube::Client,
    namespace: String,
    git_cache: PathBuf,
    kinds: Kinds,
}

pub enum Backend {
    Api(ApiClient),
    Core(Core),
}

/// Percent-encodes a path segment or query value.
fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

impl ApiClient {
    pub fn new(server: &str, token: &str) -> Self {
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        ApiClient {
            server: server.trim_end_matches('/').to_string(),
            token: token.to_string(),
            agent: ureq::Agent::config_builder()
                .timeout_global(Some(Duration::from_secs(120)))
                .http_status_as_error(false)
                .build()
                .into(),
        }
    }

    pub fn call(&self, method: &str, path: &str, body: Option<&Value>) -> Result<Value> {
        let url = format!("{}{path}", self.server);
        let auth = format!("Bearer {}", self.token);
        let result = match (method, body) {
            ("GET", _) => self.agent.get(&url).header("authorization", &auth).call(),
            ("DELETE", _) => self
                .agent
                .delete(&url)
                .header("authorization", &auth)
                .call(),
            (_, body) => self
                .agent
                .post(&url)
                .header("authorization", &auth)
                .content_type("application/json")
                .send(
                    body.map(Value::to_string)
                        .unwrap_or_else(|| "{}".into())
                        .as_str(),
                ),
        };
        let mut resp = result.with_context(|| format!("{method} {url}"))?;
        let status = resp.status().as_u16();
        let text = resp
            .body_mut()
            .read_to_string()
            .with_context(|| format!("reading the answer to {method} {url}"))?;
        let value: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        if !(200..300).contains(&status) {
            let message = value["message"].as_str().unwrap_or(text.trim());
            let hint = if status == 401 {
                " (run `fjord login --server URL` or set FJORD_TOKEN)"
            } else {
                ""
            };
            bail!("{method} {path}: {status}: {message}{hint}");
        }
        Ok(value)
    }
}

impl Core {
    pub fn new(
        kubeconfig: Option<&std::path::Path>,
        namespace: &str,
        git_cache: PathBuf,
    ) -> Result<Self> {
        let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
        let client = runtime.block_on(super::super::kube_client::client(kubeconfig))?;
        Ok(Core {
            runtime,
            client,
            namespace: namespace.to_string(),
            git_cache,
            kinds: Kinds::default(),
        })
    }

    fn apps(&self) -> Api<Application> {
        Api::namespaced(self.client.clone(), &self.namespace)
    }

    fn app(&self, name: &str) -> Result<Application> {
        self.runtime
            .block_on(self.apps().get_opt(name))
            .with_context(|| format!("reading application {}/{name}", self.namespace))?
            .ok_or_else(|| anyhow!("application {}/{name} not found", self.namespace))
    }
}

fn app_json(app: &Application) -> Value {
    let mut v = serde_json::to_value(app).unwrap_or_default();
    if let Some(m) = v.get_mut("metadata").and_then(Value::as_object_mut) {
        m.remove("managedFields");
    }
    v["summary"] = serde_json::to_value(AppSummary::of(app)).unwrap_or_default();
    v
}

fn user() -> String {
    std::env::var("USER").unwrap_or_else(|_| "fjord-cli".into())
}

impl Backend {
    pub fn list(&self, q: &ListQuery) -> Result<Value> {
        match self {
            Backend::Api(c) => {
                let mut params = Vec::new();
                let mut push = |k: &str, v: &Option<String>| {
                    if let Some(v) = v.as_deref().filter(|v| !v.is_empty()) {
                        params.push(format!("{k}={}", encode(v)));
                    }
                };
                push("project", &q.project);
                push("sync", &q.sync);
                push("health", &q.health);
                push("selector", &q.selector);
                push("search", &q.search);
                push("sort", &q.sort);
                push("continue", &q.continue_token);
                push("limit", &q.limit.map(|l| l.to_string()));
                c.call(
                    "GET",
                    &format!("/api/v1/applications?{}", params.join("&")),
                    None,
                )
            }
            Backend::Core(core) => {
                let apps = core
                    .runtime
                    .block_on(core.apps().list(&ListParams::default()))
                    .with_context(|| format!("listing applications in {}", core.namespace))?;
                let entries: Vec<_> = apps
                    .items
                    .into_iter()
                    .map(|a| std::sync::Arc::new(AppEntry::new(a)))
                    .collect();
                let page = list(&entries, q).map_err(|e| anyhow!("{e}"))?;
                Ok(serde_json::to_value(page)?)
            }
        }
    }

    pub fn get(&self, name: &str) -> Result<Value> {
        match self {
            Backend::Api(c) => c.call(
                "GET",
                &format!("/api/v1/applications/{}", encode(name)),
                None,
            ),
            Backend::Core(core) => Ok(app_json(&core.app(name)?)),
        }
    }

    pub fn diff(&self, name: &str) -> Result<Value> {
        match self {
            Backend::Api(c) => c.call(
                "GET",
                &format!("/api/v1/applications/{}/managed-resources", encode(name)),
                None,
            ),
            Backend::Core(core) => {
                let app = core.app(name)?;
                core.runtime.block_on(async {
                    let d = desired(
                        &core.client,
                        &core.kinds,
                        &core.git_cache,
                        &core.namespace,
                        &app,
                    )
                    .await
                    .map_err(|e| anyhow!("{e}"))?;
                    let items = diff_all(&core.client, &core.kinds, &app, &d)
                        .await
                        .map_err(|e| anyhow!("{e}"))?;
                    Ok(json!({"revision": d.commit, "items": items}))
                })
            }
        }
    }

    pub fn history(&self, name: &str) -> Result<Value> {
        match self {
            Backend::Api(c) => c.call(
                "GET",
                &format!("/api/v1/applications/{}/history", encode(name)),
                None,
            ),
            Backend::Core(core) => {
                let app = core.app(name)?;
                let status = app.status.clone().unwrap_or_default();
                let mut items = status.history.clone();
                items.reverse();
                let audit = core
                    .runtime
                    .block_on(fjord_server::api::audit::records(&core.client, &app))?;
                Ok(
                    json!({"items": items, "operation": app.operation, "operationState": status.operation_state, "audit": audit}),
                )
            }
        }
    }

    pub fn sync(&self, name: &str, req: &SyncRequest, body: &Value) -> Result<Value> {
        match self {
            Backend::Api(c) => c.call(
                "POST",
                &format!("/api/v1/applications/{}/sync", encode(name)),
                Some(body),
            ),
            Backend::Core(core) => {
                let app = core.app(name)?;
                let op = sync_operation(req, &user());
                let updated = core
                    .runtime
                    .block_on(request_operation(&core.client, &app, op))
                    .map_err(|e| anyhow!("{e}"))?;
                Ok(app_json(&updated))
            }
        }
    }

    pub fn rollback(&self, name: &str, req: &RollbackRequest) -> Result<Value> {
        match self {
            Backend::Api(c) => c.call(
                "POST",
                &format!("/api/v1/applications/{}/rollback", encode(name)),
                Some(&json!({"id": req.id, "prune": req.prune, "dryRun": req.dry_run})),
            ),
            Backend::Core(core) => {
                let app = core.app(name)?;
                let mut op = rollback_operation(&app, req.id, req.prune.unwrap_or(false))
                    .map_err(|e| anyhow!("{e}"))?;
                op.initiated_by = Some(fjord_engine::types::OperationInitiator {
                    username: Some(user()),
                    automated: None,
                });
                if let Some(s) = op.sync.as_mut() {
                    s.dry_run = req.dry_run;
                }
                let updated = core
                    .runtime
                    .block_on(request_operation(&core.client, &app, op))
                    .map_err(|e| anyhow!("{e}"))?;
                Ok(app_json(&updated))
            }
        }
    }

    pub fn delete(&self, name: &str, cascade: bool) -> Result<Value> {
        match self {
            Backend::Api(c) => c.call(
                "DELETE",
                &format!("/api/v1/applications/{}?cascade={cascade}", encode(name)),
                None,
            ),
            Backend::Core(core) => {
                let app = core.app(name)?;
                core.runtime
                    .block_on(delete_app(&core.client, &app, cascade))
                    .map_err(|e| anyhow!("{e}"))?;
                Ok(
                    json!({"deleted": format!("{}/{}", app.namespace(), app.name()), "cascade": cascade}),
                )
            }
        }
    }
}
