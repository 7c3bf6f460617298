//! Destination clusters. An Application's `destination.server` or `destination.name` names
//! a cluster; clusters are Secrets in Argo CD's format in the controller's namespace (label
//! `argocd.argoproj.io/secret-type: cluster`; data `name`, `server` and `config`, a JSON
//! document with `bearerToken` or `username`/`password` and `tlsClientConfig {insecure,
//! caData, certData, keyData, serverName}`). `https://kubernetes.default.svc` (name
//! `in-cluster`) is the controller's own client unless a Secret names that server.
//!
//! Everything that belongs to one cluster lives in a [`Cluster`]: its client, its discovery
//! cache and its watches (live caches and self-heal triggers). Clusters built from Secrets
//! are cached by Secret name and rebuilt when the Secret's resourceVersion changes (the old
//! watches stop). Credentials never reach a log or a message: errors name the Secret and
//! the field, never a value.

use super::live::KindCache;
use super::watch::Watches;
use super::{Context, ControllerError, kube_err};
use crate::source::credentials::SECRET_TYPE_LABEL;
use crate::types::{Application, ApplicationDestination};
use base64::Engine;
use k8s_openapi::api::core::v1::Secret;
use kube::Api;
use kube::Client;
use kube::api::ListParams;
use kube::runtime::reflector::ObjectRef;
use serde::Deserialize;
use serde_json::json;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// The in-cluster destination's server URL.
pub const IN_CLUSTER_SERVER: &str = "https://kubernetes.default.svc";
/// The in-cluster destination's name.
pub const IN_CLUSTER_NAME: &str = "in-cluster";
/// How long connecting to a cluster from a Secret may take.
const CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);
/// The value of the secret-type label on cluster Secrets.
pub const CLUSTER_SECRET_TYPE: &str = "cluster";

/// One destination cluster and what the controller keeps per cluster.
pub(crate) struct Cluster {
    /// The API server URL.
    pub server: String,
    /// The cluster's name.
    pub name: String,
    /// A client for it.
    pub client: Client,
    /// Discovery results.
    pub kinds: KindCache,
    /// Live caches and self-heal triggers.
    pub watches: Watches,
    /// The Secret's resourceVersion (empty for the controller's own cluster).
    version: String,
}

impl Cluster {
    /// The Application's destination with both server and name of this cluster.
    pub fn destination(&self, dest: &ApplicationDestination) -> ApplicationDestination {
        ApplicationDestination {
            server: Some(self.server.clone()),
            name: Some(self.name.clone()),
            ..dest.clone()
        }
    }
}

/// A cluster Secret's identity; the credentials stay in `config` until a client is built.
#[derive(Clone)]
pub(crate) struct ClusterSecret {
    /// The Secret's name.
    pub secret: String,
    /// Its resourceVersion.
    pub version: String,
    /// `data.name`.
    pub name: String,
    /// `data.server`, without a trailing slash.
    pub server: String,
    config: Option<String>,
}

impl std::fmt::Debug for ClusterSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClusterSecret")
            .field("secret", &self.secret)
            .field("name", &self.name)
            .field("server", &self.server)
            .field("config", &self.config.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct ClusterConfig {
    bearer_token: Option<String>,
    username: Option<String>,
    password: Option<String>,
    #[serde(default)]
    tls_client_config: TlsClientConfig,
    aws_auth_config: Option<serde_json::Value>,
    exec_provider_config: Option<serde_json::Value>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct TlsClientConfig {
    #[serde(default)]
    insecure: bool,
    ca_data: Option<String>,
    cert_data: Option<String>,
    key_data: Option<String>,
    server_name: Option<String>,
}

fn trim_server(s: &str) -> String {
    s.trim().trim_end_matches('/').to_string()
}

/// A field of a Secret as text (`data`, else `stringData`).
fn field(secret: &Secret, key: &str) -> Option<String> {
    if let Some(v) = secret.data.as_ref().and_then(|d| d.get(key)) {
        return Some(String::from_utf8_lossy(&v.0).into_owned());
    }
    secret
        .string_data
        .as_ref()
        .and_then(|d| d.get(key))
        .cloned()
}

/// The cluster Secrets among `secrets` (those labelled `secret-type: cluster` with a server).
pub(crate) fn cluster_secrets<'a>(
    secrets: impl IntoIterator<Item = &'a Secret>,
) -> Vec<ClusterSecret> {
    let mut out: Vec<ClusterSecret> = secrets
        .into_iter()
        .filter(|s| {
            s.metadata
                .labels
                .as_ref()
                .and_then(|l| l.get(SECRET_TYPE_LABEL))
                .is_some_and(|t| t == CLUSTER_SECRET_TYPE)
        })
        .filter_map(|s| {
            let server = trim_server(&field(s, "server")?);
            Some(ClusterSecret {
                secret: s.metadata.name.clone().unwrap_or_default(),
                version: s.metadata.resource_version.clone().unwrap_or_default(),
                name: field(s, "name").unwrap_or_else(|| server.clone()),
                server,
                config: field(s, "config"),
            })
        })
        .collect();
    out.sort_by(|a, b| a.secret.cmp(&b.secret));
    out
}

/// Which cluster the destination names: a Secret, or `None` for the controller's own
/// cluster. `Err(message)` when it names none (Argo CD's messages).
pub(crate) fn resolve<'a>(
    dest: &ApplicationDestination,
    secrets: &'a [ClusterSecret],
) -> Result<Option<&'a ClusterSecret>, String> {
    let server = dest.server.as_deref().map(trim_server).unwrap_or_default();
    let name = dest.name.as_deref().unwrap_or("").trim();
    match (server.is_empty(), name.is_empty()) {
        (false, false) => Err(format!(
            "application destination can't have both name and server defined: {name} {server}"
        )),
        (true, true) => Err("spec.destination: either server or name is required".to_string()),
        (false, true) => match secrets.iter().find(|s| s.server == server) {
            Some(s) => Ok(Some(s)),
            None if server == IN_CLUSTER_SERVER => Ok(None),
            None => Err(format!("there are no clusters with this URL: {server}")),
        },
        (true, false) => match secrets.iter().find(|s| s.name == name) {
            Some(s) => Ok(Some(s)),
            None if name == IN_CLUSTER_NAME => Ok(None),
            None => Err(format!("there are no clusters with this name: {name}")),
        },
    }
}

/// The kubeconfig document equivalent to a cluster Secret.
fn kubeconfig(secret: &ClusterSecret) -> Result<kube::config::Kubeconfig, String> {
    let what = format!("cluster Secret {}", secret.secret);
    let config: ClusterConfig = match secret.config.as_deref() {
        None | Some("") => ClusterConfig::default(),
        Some(text) => serde_json::from_str(text)
            .map_err(|e| format!("{what}: field config: not the expected JSON document: {e}"))?,
    };
    if config.aws_auth_config.is_some() {
        return Err(format!(
            "{what}: field config.awsAuthConfig: not supported (use bearerToken or client certificates)"
        ));
    }
    if config.exec_provider_config.is_some() {
        return Err(format!(
            "{what}: field config.execProviderConfig: not supported (use bearerToken or client certificates)"
        ));
    }
    let tls = &config.tls_client_config;
    let mut cluster = json!({"server": secret.server});
    if let Some(ca) = tls.ca_data.as_deref().filter(|s| !s.is_empty()) {
        let pem = base64::engine::general_purpose::STANDARD
            .decode(ca.trim())
            .ok()
            .filter(|pem| String::from_utf8_lossy(pem).contains("-----BEGIN CERTIFICATE-----"));
        if pem.is_none() {
            return Err(format!(
                "{what}: field config.tlsClientConfig.caData: not a base64-encoded PEM certificate"
            ));
        }
        cluster["certificate-authority-data"] = json!(ca.trim());
    }
    if tls.insecure {
        cluster["insecure-skip-tls-verify"] = json!(true);
    }
    if let Some(name) = tls.server_name.as_deref().filter(|s| !s.is_empty()) {
        cluster["tls-server-name"] = json!(name);
    }
    let mut user = json!({});
    if let Some(token) = config.bearer_token.as_deref().filter(|s| !s.is_empty()) {
        user["token"] = json!(token);
    }
    if let (Some(u), Some(p)) = (&config.username, &config.password) {
        user["username"] = json!(u);
        user["password"] = json!(p);
    }
    if let Some(cert) = tls.cert_data.as_deref().filter(|s| !s.is_empty()) {
        user["client-certificate-data"] = json!(cert);
    }
    if let Some(key) = tls.key_data.as_deref().filter(|s| !s.is_empty()) {
        user["client-key-data"] = json!(key);
    }
    let doc = json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "target", "cluster": cluster}],
        "users": [{"name": "fjord", "user": user}],
        "contexts": [{"name": "target", "context": {"cluster": "target", "user": "fjord"}}],
        "current-context": "target",
    });
    serde_json::from_value(doc).map_err(|e| format!("{what}: building a client configuration: {e}"))
}

/// A client for the cluster a Secret describes.
async fn build_client(secret: &ClusterSecret) -> Result<Client, String> {
    let what = format!("cluster Secret {}", secret.secret);
    let kc = kubeconfig(secret)?;
    let mut config = kube::Config::from_custom_kubeconfig(kc, &Default::default())
        .await
        .map_err(|e| format!("{what}: the server, CA or client credentials are unusable: {e}"))?;
    // An unreachable cluster should fail a reconcile quickly, not hold it for kube's 30 s.
    config.connect_timeout = Some(CONNECT_TIMEOUT);
    Client::try_from(config).map_err(|e| format!("{what}: building a client: {e}"))
}

/// The controller's own cluster and the clusters built from Secrets.
pub(crate) struct Clusters {
    namespace: String,
    local: Arc<Cluster>,
    remote: Mutex<HashMap<String, Arc<Cluster>>>,
    triggers: futures::channel::mpsc::UnboundedSender<ObjectRef<Application>>,
    metrics: Option<crate::metrics::Metrics>,
}

impl Clusters {
    /// The controller's own cluster through `client`; watches of every cluster send
    /// self-heal triggers to `triggers`.
    pub fn new(
        client: Client,
        namespace: &str,
        triggers: futures::channel::mpsc::UnboundedSender<ObjectRef<Application>>,
    ) -> Self {
        let local = Cluster {
            server: IN_CLUSTER_SERVER.to_string(),
            name: IN_CLUSTER_NAME.to_string(),
            watches: Watches::new(client.clone(), namespace.to_string(), triggers.clone()),
            kinds: KindCache::default(),
            client,
            version: String::new(),
        };
        Clusters {
            namespace: namespace.to_string(),
            local: Arc::new(local),
            remote: Mutex::new(HashMap::new()),
            triggers,
            metrics: None,
        }
    }

    /// Counts every cluster's watch events in `metrics` (clusters built from now on, and
    /// the controller's own, whose watches have not started yet).
    pub fn with_metrics(mut self, metrics: &crate::metrics::Metrics) -> Self {
        let local = &self.local;
        local
            .watches
            .count_events(metrics.cluster_events(&local.server));
        self.metrics = Some(metrics.clone());
        self
    }

    /// Every cluster in use: the controller's own and those built from Secrets.
    pub fn all(&self) -> Vec<Arc<Cluster>> {
        let remote = self
            .remote
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        std::iter::once(self.local.clone())
            .chain(remote.values().cloned())
            .collect()
    }

    /// The cluster of `secret`, built (or rebuilt, when the Secret changed) on demand.
    async fn of_secret(&self, secret: &ClusterSecret) -> Result<Arc<Cluster>, String> {
        if let Some(c) = self
            .remote
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(&secret.secret)
            .filter(|c| c.version == secret.version && c.server == secret.server)
        {
            return Ok(c.clone());
        }
        let client = build_client(secret).await?;
        tracing::info!(secret = %secret.secret, cluster = %secret.name, server = %secret.server, "cluster client built");
        let cluster = Arc::new(Cluster {
            server: secret.server.clone(),
            name: secret.name.clone(),
            watches: Watches::new(
                client.clone(),
                self.namespace.clone(),
                self.triggers.clone(),
            ),
            kinds: KindCache::default(),
            client,
            version: secret.version.clone(),
        });
        if let Some(m) = &self.metrics {
            cluster
                .watches
                .count_events(m.cluster_events(&cluster.server));
        }
        // Replacing an older entry drops its watches (their tasks stop).
        self.remote
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(secret.secret.clone(), cluster.clone());
        Ok(cluster)
    }
}

impl Context {
    /// The cluster Secrets of the controller's namespace (cached; read directly until the
    /// cache is ready).
    async fn cluster_secrets(&self) -> Result<Vec<ClusterSecret>, ControllerError> {
        if let Some(cached) = self.settings.secrets() {
            return Ok(cluster_secrets(cached.iter().map(|s| s.as_ref())));
        }
        let ns = &self.config.namespace;
        let api: Api<Secret> = Api::namespaced(self.client.clone(), ns);
        let list = api
            .list(
                &ListParams::default()
                    .labels(&format!("{SECRET_TYPE_LABEL}={CLUSTER_SECRET_TYPE}")),
            )
            .await
            .map_err(kube_err(format!("listing cluster Secrets in {ns}")))?;
        Ok(cluster_secrets(list.items.iter()))
    }

    /// The seam every live read, write and watch of an Application goes through: the
    /// cluster its destination names. `Err(message)` (for a condition) when the destination
    /// names no known cluster or its Secret is unusable.
    pub(crate) async fn cluster_for(
        &self,
        app: &Application,
    ) -> Result<Result<Arc<Cluster>, String>, ControllerError> {
        let secrets = self.cluster_secrets().await?;
        Ok(match resolve(&app.spec.destination, &secrets) {
            Err(message) => Err(message),
            Ok(None) => Ok(self.clusters.local.clone()),
            Ok(Some(secret)) => self.clusters.of_secret(secret).await,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::ByteString;
    use std::collections::BTreeMap;

    fn secret(name: &str, kind: &str, data: &[(&str, &str)]) -> Secret {
        let mut s = Secret::default();
        s.metadata.name = Some(name.into());
        s.metadata.resource_version = Some("7".into());
        s.metadata.labels = Some(BTreeMap::from([(
            SECRET_TYPE_LABEL.to_string(),
            kind.to_string(),
        )]));
        s.data = Some(
            data.iter()
                .map(|(k, v)| (k.to_string(), ByteString(v.as_bytes().to_vec())))
                .collect(),
        );
        s
    }

    fn dest(server: Option<&str>, name: Option<&str>) -> ApplicationDestination {
        ApplicationDestination {
            server: server.map(String::from),
            name: name.map(String::from),
            namespace: Some("apps".into()),
            ..Default::default()
        }
    }

    #[test]
    fn resolves_by_server_or_name_and_defaults_to_in_cluster() {
        let all = [
            secret(
                "edge",
                "cluster",
                &[("name", "edge"), ("server", "https://10.1.2.3:6443/")],
            ),
            secret(
                "repo",
                "repository",
                &[("url", "https://git.example.com/x")],
            ),
        ];
        let secrets = cluster_secrets(all.iter());
        assert_eq!(secrets.len(), 1, "only cluster Secrets count");
        let by_server = resolve(&dest(Some("https://10.1.2.3:6443"), None), &secrets).unwrap();
        assert_eq!(by_server.unwrap().secret, "edge");
        let by_name = resolve(&dest(None, Some("edge")), &secrets).unwrap();
        assert_eq!(by_name.unwrap().server, "https://10.1.2.3:6443");
        assert!(
            resolve(&dest(Some(IN_CLUSTER_SERVER), None), &secrets)
                .unwrap()
                .is_none()
        );
        assert!(
            resolve(&dest(None, Some("in-cluster")), &secrets)
                .unwrap()
                .is_none()
        );
        let e = resolve(&dest(None, Some("nowhere")), &secrets).unwrap_err();
        assert!(e.contains("no clusters with this name: nowhere"), "{e}");
        let e = resolve(&dest(Some("https://x:6443"), None), &secrets).unwrap_err();
        assert!(e.contains("no clusters with this URL"), "{e}");
        assert!(resolve(&dest(Some("https://x"), Some("y")), &secrets).is_err());
        assert!(resolve(&dest(None, None), &secrets).is_err());
    }

    #[tokio::test]
    async fn clients_build_from_secrets_and_bad_ones_are_named_without_values() {
        let good = [secret(
            "edge",
            "cluster",
            &[
                ("server", "https://127.0.0.1:6443"),
                (
                    "config",
                    r#"{"bearerToken":"t0k3n","tlsClientConfig":{"insecure":true}}"#,
                ),
            ],
        )];
        assert!(build_client(&cluster_secrets(good.iter())[0]).await.is_ok());
        let bad = [secret(
            "edge",
            "cluster",
            &[
                ("server", "https://127.0.0.1:6443"),
                (
                    "config",
                    r#"{"bearerToken":"t0k3n","tlsClientConfig":{"caData":"bm90IGEgY2VydA=="}}"#,
                ),
            ],
        )];
        let Err(e) = build_client(&cluster_secrets(bad.iter())[0]).await else {
            panic!("a CA that is not a certificate is refused");
        };
        assert!(
            e.starts_with("cluster Secret edge:") && e.contains("caData"),
            "{e}"
        );
        assert!(!e.contains("t0k3n") && !e.contains("bm90IGEgY2VydA"), "{e}");
    }

    #[test]
    fn a_secret_overrides_in_cluster() {
        let all = [secret(
            "local",
            "cluster",
            &[("name", "in-cluster"), ("server", IN_CLUSTER_SERVER)],
        )];
        let secrets = cluster_secrets(all.iter());
        assert_eq!(
            resolve(&dest(Some(IN_CLUSTER_SERVER), None), &secrets)
                .unwrap()
                .unwrap()
                .secret,
            "local"
        );
    }

    #[test]
    fn kubeconfig_carries_token_and_tls_and_errors_hide_values() {
        let config = r#"{"bearerToken":"s3cr3t-token","tlsClientConfig":{"insecure":false,"caData":"LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSUI=","serverName":"api.internal"}}"#;
        let all = [secret(
            "edge",
            "cluster",
            &[
                ("name", "edge"),
                ("server", "https://10.1.2.3:6443"),
                ("config", config),
            ],
        )];
        let secrets = cluster_secrets(all.iter());
        let kc = kubeconfig(&secrets[0]).unwrap();
        let cluster = kc.clusters[0].cluster.as_ref().unwrap();
        assert_eq!(cluster.server.as_deref(), Some("https://10.1.2.3:6443"));
        assert_eq!(
            cluster.certificate_authority_data.as_deref(),
            Some("LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSUI=")
        );
        assert_eq!(cluster.tls_server_name.as_deref(), Some("api.internal"));
        let user = kc.auth_infos[0].auth_info.as_ref().unwrap();
        assert!(user.token.is_some());
        assert!(
            !format!("{:?}", secrets[0]).contains("s3cr3t"),
            "Debug hides the config"
        );

        let bad = [secret(
            "edge",
            "cluster",
            &[
                ("server", "https://h"),
                ("config", "{\"bearerToken\": s3cr3t"),
            ],
        )];
        let e = kubeconfig(&cluster_secrets(bad.iter())[0]).unwrap_err();
        assert!(
            e.contains("cluster Secret edge") && e.contains("field config"),
            "{e}"
        );
        assert!(!e.contains("s3cr3t"), "{e}");
        let aws = [secret(
            "eks",
            "cluster",
            &[
                ("server", "https://h"),
                ("config", r#"{"awsAuthConfig":{"clusterName":"x"}}"#),
            ],
        )];
        let e = kubeconfig(&cluster_secrets(aws.iter())[0]).unwrap_err();
        assert!(e.contains("awsAuthConfig"), "{e}");
    }
}
