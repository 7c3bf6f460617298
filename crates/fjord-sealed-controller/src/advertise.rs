//! Making the endpoints reachable the way kubeseal looks for them when the controller runs
//! outside a pod (beside the embedded control plane, or on a workstation against a cluster):
//! kubeseal goes through the API server's service proxy to the Service
//! `<namespace>/sealed-secrets-controller`. In a cluster the Service selects the controller's
//! pods and the cluster fills its Endpoints; here there is no pod, so the Service has no
//! selector and the controller writes the Endpoints itself, pointing at its own listener.

use std::net::SocketAddr;

use k8s_openapi::api::core::v1::{Endpoints, Service};
use kube::api::{Api, Patch, PatchParams};
use serde_json::json;

use crate::Error;

/// The port the Service exposes (Bitnami's).
const SERVICE_PORT: u16 = 8080;
const FIELD_MANAGER: &str = "fjord-sealed-secrets";

/// Writes the Service `namespace/name` (no selector, port `http` 8080) and its Endpoints
/// pointing at `addr`, so that `/api/v1/namespaces/<namespace>/services/http:<name>:/proxy/...`
/// reaches this controller.
///
/// Errors: the API refused either write.
pub async fn advertise(
    client: &kube::Client,
    namespace: &str,
    name: &str,
    addr: SocketAddr,
) -> Result<(), Error> {
    let params = PatchParams::apply(FIELD_MANAGER).force();
    let service = json!({
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": namespace,
            "labels": {"app.kubernetes.io/name": "sealed-secrets", "app.kubernetes.io/managed-by": "fjord"}},
        "spec": {"ports": [{"name": "http", "port": SERVICE_PORT, "targetPort": addr.port(), "protocol": "TCP"}]}
    });
    Api::<Service>::namespaced(client.clone(), namespace)
        .patch(name, &params, &Patch::Apply(&service))
        .await
        .map_err(|e| Error::Kube("writing the controller's Service", e))?;
    let endpoints = json!({
        "apiVersion": "v1",
        "kind": "Endpoints",
        "metadata": {"name": name, "namespace": namespace,
            "labels": {"app.kubernetes.io/name": "sealed-secrets", "app.kubernetes.io/managed-by": "fjord"}},
        "subsets": [{
            "addresses": [{"ip": addr.ip().to_string()}],
            "ports": [{"name": "http", "port": addr.port(), "protocol": "TCP"}]
        }]
    });
    Api::<Endpoints>::namespaced(client.clone(), namespace)
        .patch(name, &params, &Patch::Apply(&endpoints))
        .await
        .map_err(|e| Error::Kube("writing the controller's Endpoints", e))?;
    Ok(())
}
