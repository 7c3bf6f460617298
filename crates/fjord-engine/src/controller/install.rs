//! Bootstrapping a cluster for the controller: Argo CD's CRDs (the same manifests as
//! `manifests/`), the controller's namespace and a permissive `default` AppProject, each
//! created only when missing. `fjord up` and the end-to-end tests use it.

use super::{ControllerError, kube_err};
use crate::types::AppProject;
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Patch, PatchParams, PostParams};
use kube::{Api, Client};
use serde_json::json;
use std::time::Duration;

/// The Application CRD (YAML).
pub const APPLICATION_CRD: &str = include_str!("../../manifests/application-crd.yaml");
/// The AppProject CRD (YAML).
pub const APPPROJECT_CRD: &str = include_str!("../../manifests/appproject-crd.yaml");

/// Installs (server-side applies) both CRDs and waits until Applications can be listed.
pub async fn install_crds(client: &Client) -> Result<(), ControllerError> {
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    for text in [APPLICATION_CRD, APPPROJECT_CRD] {
        let crd: CustomResourceDefinition =
            serde_norway::from_str(text).map_err(|e| ControllerError::Task {
                step: "reading the bundled CRD manifests",
                message: e.to_string(),
            })?;
        let name = crd.metadata.name.clone().unwrap_or_default();
        api.patch(
            &name,
            &PatchParams::apply(crate::resource::FIELD_MANAGER).force(),
            &Patch::Apply(&crd),
        )
        .await
        .map_err(kube_err(format!("installing CRD {name}")))?;
    }
    let apps: Api<crate::types::Application> = Api::all(client.clone());
    let mut attempt = 0;
    loop {
        attempt += 1;
        match apps.list(&Default::default()).await {
            Ok(_) => return Ok(()),
            Err(e) if attempt >= 100 => {
                return Err(kube_err("waiting for the Application CRD to be served")(e));
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

/// Creates namespace `namespace` and its permissive `default` AppProject when missing.
pub async fn ensure_namespace_and_default_project(
    client: &Client,
    namespace: &str,
) -> Result<(), ControllerError> {
    let namespaces: Api<Namespace> = Api::all(client.clone());
    if namespaces
        .get_opt(namespace)
        .await
        .map_err(kube_err(format!("reading namespace {namespace}")))?
        .is_none()
    {
        let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": namespace}}))
            .map_err(|source| ControllerError::Json {
                step: "building a namespace".into(),
                source,
            })?;
        namespaces
            .create(&PostParams::default(), &ns)
            .await
            .map_err(kube_err(format!("creating namespace {namespace}")))?;
    }
    ensure_default_project(client, namespace).await
}

/// Creates the permissive `default` AppProject in `namespace` when missing (any source, any
/// destination, every kind), as Argo CD does.
pub async fn ensure_default_project(
    client: &Client,
    namespace: &str,
) -> Result<(), ControllerError> {
    let projects: Api<AppProject> = Api::namespaced(client.clone(), namespace);
    if projects
        .get_opt("default")
        .await
        .map_err(kube_err(format!("reading AppProject {namespace}/default")))?
        .is_none()
    {
        let project: AppProject = serde_json::from_value(json!({
            "apiVersion": crate::types::API_VERSION,
            "kind": "AppProject",
            "metadata": {"name": "default", "namespace": namespace},
            "spec": {
                "sourceRepos": ["*"],
                "destinations": [{"server": "*", "namespace": "*"}],
                "clusterResourceWhitelist": [{"group": "*", "kind": "*"}]
            }
        }))
        .map_err(|source| ControllerError::Json {
            step: "building the default AppProject".into(),
            source,
        })?;
        match projects.create(&PostParams::default(), &project).await {
            Ok(_) => {}
            // Created meanwhile by someone else: fine.
            Err(kube::Error::Api(s)) if s.code == 409 => {}
            Err(e) => return Err(kube_err(format!("creating AppProject {namespace}/default"))(e)),
        }
    }
    Ok(())
}
