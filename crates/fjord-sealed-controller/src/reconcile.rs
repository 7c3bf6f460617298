//! One SealedSecret → its Secret: unseal with every key, decide with `fjord_sealed::plan_secret`
//! what to do with an existing Secret, write, then record the outcome as the `Synced` condition and
//! an Event. All-or-nothing: if anything fails, no Secret is written.

use std::sync::Arc;
use std::time::Duration;

use fjord_sealed::{SealedSecret, SecretPlan, UnsealOptions};
use k8s_openapi::api::core::v1::{Event, ObjectReference, Secret};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use kube::api::{Api, DynamicObject, Patch, PatchParams, PostParams};
use kube::runtime::controller::Action;

use crate::keys::KeyRingWatch;
use crate::{Error, sealed_secrets_api};

/// What the reconciler needs.
pub struct Context {
    /// The cluster.
    pub client: kube::Client,
    /// The current keys.
    pub keys: KeyRingWatch,
}

/// Reconciles one SealedSecret.
pub async fn reconcile(obj: Arc<DynamicObject>, ctx: Arc<Context>) -> Result<Action, Error> {
    if obj.metadata.deletion_timestamp.is_some() {
        return Ok(Action::await_change());
    }
    let value = serde_json::to_value(&*obj).map_err(|e| Error::Decode(e.to_string()))?;
    let sealed: SealedSecret =
        serde_json::from_value(value).map_err(|e| Error::Decode(e.to_string()))?;
    let ns = sealed.metadata.namespace.clone().unwrap_or_default();
    let name = sealed.metadata.name.clone().unwrap_or_default();
    let outcome = unseal_and_write(&ctx, &sealed, &ns, &name).await;
    let message = outcome.as_ref().err().map(ToString::to_string);
    let now = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string();
    let (status, write) =
        fjord_sealed::synced_status(&sealed, message.as_deref().map_or(Ok(()), Err), &now);
    if write {
        let api = sealed_secrets_api(ctx.client.clone(), &ns);
        let patch = serde_json::json!({"status": status});
        api.patch_status(&name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .map_err(|e| Error::Kube("writing the SealedSecret status", e))?;
        event(&ctx.client, &sealed, message.as_deref()).await;
    }
    match outcome {
        Ok(()) => Ok(Action::await_change()),
        Err(e) => {
            tracing::info!(sealed_secret = %format!("{ns}/{name}"), error = %e, "unsealing failed");
            // A key may yet arrive (a restored backup): the key watch triggers a new attempt, and
            // a slow retry covers everything else.
            Ok(Action::requeue(Duration::from_secs(300)))
        }
    }
}

async fn unseal_and_write(
    ctx: &Context,
    sealed: &SealedSecret,
    ns: &str,
    name: &str,
) -> Result<(), Error> {
    let ring = ctx.keys.borrow().clone();
    let to_open = sealed.clone();
    let secret = tokio::task::spawn_blocking(move || {
        fjord_sealed::unseal_with(
            &to_open,
            &ring,
            &UnsealOptions {
                accept_legacy_data: true,
            },
        )
    })
    .await
    .map_err(|e| Error::Task(e.to_string()))?
    .map_err(Error::Sealed)?;
    let secrets: Api<Secret> = Api::namespaced(ctx.client.clone(), ns);
    let existing = secrets
        .get_opt(name)
        .await
        .map_err(|e| Error::Kube("reading the Secret", e))?;
    match fjord_sealed::plan_secret(secret, existing.as_ref(), sealed) {
        Err(not_managed) => Err(Error::NotManaged(not_managed)),
        Ok(SecretPlan::Unchanged) => Ok(()),
        Ok(SecretPlan::Create(s)) => secrets
            .create(&PostParams::default(), &s)
            .await
            .map(|_| ())
            .map_err(|e| Error::Kube("creating the Secret", e)),
        Ok(SecretPlan::Update(s)) => secrets
            .replace(name, &PostParams::default(), &s)
            .await
            .map(|_| ())
            .map_err(|e| Error::Kube("updating the Secret", e)),
    }
}

/// A core/v1 Event on the SealedSecret, as Bitnami's controller records (`Unsealed` or
/// `ErrUnsealFailed`). Failing to record it is logged, never fatal.
async fn event(client: &kube::Client, sealed: &SealedSecret, error: Option<&str>) {
    let ns = sealed.metadata.namespace.clone().unwrap_or_default();
    let now = Time(k8s_openapi::jiff::Timestamp::now());
    let (type_, reason, message) = match error {
        None => (
            "Normal",
            "Unsealed",
            "SealedSecret unsealed successfully".to_string(),
        ),
        Some(e) => (
            "Warning",
            "ErrUnsealFailed",
            format!("Failed to unseal: {e}"),
        ),
    };
    let ev = Event {
        metadata: ObjectMeta {
            generate_name: Some(format!(
                "{}.",
                sealed.metadata.name.as_deref().unwrap_or("sealedsecret")
            )),
            namespace: Some(ns.clone()),
            ..Default::default()
        },
        involved_object: ObjectReference {
            api_version: Some(fjord_sealed::API_VERSION.into()),
            kind: Some(fjord_sealed::KIND.into()),
            name: sealed.metadata.name.clone(),
            namespace: Some(ns.clone()),
            uid: sealed.metadata.uid.clone(),
            ..Default::default()
        },
        type_: Some(type_.into()),
        reason: Some(reason.into()),
        message: Some(message),
        first_timestamp: Some(now.clone()),
        last_timestamp: Some(now),
        count: Some(1),
        reporting_component: Some("fjord-sealed-secrets".into()),
        source: Some(k8s_openapi::api::core::v1::EventSource {
            component: Some("fjord-sealed-secrets".into()),
            ..Default::default()
        }),
        ..Default::default()
    };
    if let Err(e) = Api::<Event>::namespaced(client.clone(), &ns)
        .create(&PostParams::default(), &ev)
        .await
    {
        tracing::debug!(error = %e, "recording an event failed");
    }
}

/// Failed reconciles (API errors) are retried with a short delay.
pub fn error_policy(_: Arc<DynamicObject>, error: &Error, _: Arc<Context>) -> Action {
    tracing::warn!(%error, "reconciling a SealedSecret failed");
    Action::requeue(Duration::from_secs(5))
}
