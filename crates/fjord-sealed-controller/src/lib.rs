//! The in-cluster half of Sealed Secrets, compatible with Bitnami's controller: it keeps the
//! sealing keys in `kubernetes.io/tls` Secrets of its namespace (first key on start, renewal every
//! 30 days by default, old keys kept), turns every SealedSecret into its Secret (all-or-nothing,
//! never overwriting a Secret it does not manage), reports the outcome as the `Synced` condition
//! and an Event, and serves kubeseal's endpoints.
//!
//! ```text
//! key Secrets ──keys::start──▶ KeyRing (watch) ─┬─▶ reconcile: SealedSecret ─unseal─▶ Secret, status
//!                                               └─▶ http: /v1/cert.pem, /v1/verify, /v1/rotate
//! ```
//!
//! The crypto and the decisions are `fjord-sealed`'s pure functions; this crate is the kube-rs and
//! HTTP wiring around them.
#![warn(missing_docs)]

mod advertise;
mod http;
mod keys;
mod reconcile;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind};
use kube::runtime::{Controller, watcher};

pub use advertise::advertise;
pub use http::router;
pub use keys::{KeyConfig, KeyRingWatch};

/// The SealedSecret CRD (Bitnami-compatible), as YAML.
pub const CRD_YAML: &str = include_str!("../manifests/sealedsecret-crd.yaml");

/// A failure of the controller.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A Kubernetes API call failed.
    #[error("{0}: {1}")]
    Kube(&'static str, #[source] kube::Error),
    /// Unsealing or key handling failed (the message says what to do).
    #[error(transparent)]
    Sealed(fjord_sealed::Error),
    /// An existing Secret belongs to someone else.
    #[error(transparent)]
    NotManaged(fjord_sealed::NotManaged),
    /// A SealedSecret could not be read.
    #[error("the SealedSecret cannot be decoded: {0}")]
    Decode(String),
    /// A background task failed.
    #[error("a background task failed: {0}")]
    Task(String),
    /// The HTTP listener could not be bound.
    #[error("listening on {0}: {1}")]
    Listen(SocketAddr, #[source] std::io::Error),
}

/// Controller settings.
#[derive(Debug, Clone)]
pub struct ControllerConfig {
    /// Keys.
    pub keys: KeyConfig,
    /// Where to serve `/v1/*` (None: not at all; port 0: any free port).
    pub listen: Option<SocketAddr>,
    /// Register the listener as this Service (and its Endpoints) in the keys' namespace, so that
    /// kubeseal reaches a controller running outside any pod through the API server's service
    /// proxy (see [`advertise`]). Only with `listen`.
    pub advertise_service: Option<String>,
}

impl ControllerConfig {
    /// Bitnami's defaults: keys in `namespace`, prefix `sealed-secrets-key`, renewal every 30
    /// days, RSA-4096.
    pub fn new(namespace: &str) -> ControllerConfig {
        ControllerConfig {
            keys: KeyConfig {
                namespace: namespace.to_string(),
                key_prefix: fjord_sealed::DEFAULT_KEY_PREFIX.to_string(),
                renew_period: Duration::from_secs(30 * 24 * 3600),
                key_bits: fjord_sealed::DEFAULT_KEY_BITS,
            },
            listen: None,
            advertise_service: None,
        }
    }
}

fn api_resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("bitnami.com", "v1alpha1", "SealedSecret"),
        "sealedsecrets",
    )
}

pub(crate) fn sealed_secrets_api(client: kube::Client, ns: &str) -> Api<DynamicObject> {
    Api::namespaced_with(client, ns, &api_resource())
}

/// Runs the controller until `shutdown` resolves.
///
/// Errors: the keys cannot be loaded or created, or the listener cannot be bound. Failures on
/// single SealedSecrets are reported on them (condition and Event), never fatal.
pub async fn run(
    client: kube::Client,
    config: ControllerConfig,
    shutdown: impl std::future::Future<Output = ()> + Send + Sync + 'static,
) -> Result<(), Error> {
    let listener = match config.listen {
        Some(addr) => Some(
            tokio::net::TcpListener::bind(addr)
                .await
                .map_err(|e| Error::Listen(addr, e))?,
        ),
        None => None,
    };
    let (keys, key_task) = keys::start(client.clone(), config.keys.clone()).await?;
    let http_task = match listener {
        Some(listener) => {
            let addr = listener
                .local_addr()
                .map_err(|e| Error::Listen(config.listen.unwrap_or(([0, 0, 0, 0], 0).into()), e))?;
            tracing::info!(%addr, "sealed secrets endpoints listening");
            if let Some(service) = &config.advertise_service {
                advertise(&client, &config.keys.namespace, service, addr).await?;
            }
            let app = router(keys.clone());
            Some(tokio::spawn(async move {
                let _ = axum::serve(listener, app).await;
            }))
        }
        None => None,
    };
    // Every change of the key ring (a restored backup, a renewal) retries every SealedSecret.
    let mut ring_changes = keys.clone();
    ring_changes.mark_unchanged();
    let retrigger = futures::stream::unfold(ring_changes, |mut rx| async move {
        rx.changed().await.ok().map(|_| ((), rx))
    });
    let ar = api_resource();
    let sealed_api: Api<DynamicObject> = Api::all_with(client.clone(), &ar);
    let context = Arc::new(reconcile::Context {
        client: client.clone(),
        keys,
    });
    Controller::new_with(sealed_api, watcher::Config::default(), ar)
        .owns(Api::<Secret>::all(client), watcher::Config::default())
        .reconcile_all_on(retrigger)
        .graceful_shutdown_on(shutdown)
        .run(reconcile::reconcile, reconcile::error_policy, context)
        .for_each(|_| futures::future::ready(()))
        .await;
    key_task.abort();
    if let Some(t) = http_task {
        t.abort();
    }
    Ok(())
}
