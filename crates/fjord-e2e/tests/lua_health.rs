//! Custom health in Lua from `argocd-cm`, end to end: a script makes a custom resource (of a
//! CRD the test creates) Progressing, Degraded and then Healthy as its status changes; a
//! script that loops forever and one that errors are stopped and reported (health Unknown
//! with the reason, an `UnknownError` condition) while the controller goes on syncing other
//! Applications.
//!
//! Run: `cargo test -p fjord-e2e --test lua_health -- --ignored` (needs `git` and kubectl 1.32).

mod tenancy;

use std::time::Duration;

use fjord_engine::types::{Application, HealthStatusCode, condition_type};
use kube::Api;
use kube::api::{ApiResource, DynamicObject, Patch, PatchParams, PostParams};
use kube::core::GroupVersionKind;
use serde_json::json;
use tenancy::{Env, NS, Repo, application, condition, health, synced_at};

fn crd(kind: &str, plural: &str) -> serde_json::Value {
    json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": format!("{plural}.example.com")},
        "spec": {
            "group": "example.com",
            "scope": "Namespaced",
            "names": {"kind": kind, "plural": plural, "singular": kind.to_lowercase(), "listKind": format!("{kind}List")},
            "versions": [{
                "name": "v1", "served": true, "storage": true,
                "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}
            }]
        }
    })
}

fn custom_resource(kind: &str, name: &str) -> String {
    format!(
        "apiVersion: example.com/v1\nkind: {kind}\nmetadata:\n  name: {name}\nspec:\n  size: 3\n"
    )
}

const WIDGET_HEALTH: &str = r#"
hs = {}
if obj.status == nil or obj.status.phase == nil then
  hs.status = "Progressing"
  hs.message = "waiting for the widget controller"
elseif obj.status.phase == "Failed" then
  hs.status = "Degraded"
  hs.message = "widget failed: " .. (obj.status.reason or "unknown")
elseif obj.status.phase == "Ready" then
  hs.status = "Healthy"
  hs.message = "widget is ready (" .. obj.spec.size .. " parts)"
else
  hs.status = "Progressing"
  hs.message = obj.status.phase
end
return hs
"#;

/// The health entry of the one resource of kind `kind` in the Application's status.
fn resource_health(app: &Application, kind: &str) -> Option<(HealthStatusCode, String)> {
    let r = app
        .status
        .as_ref()?
        .resources
        .iter()
        .find(|r| r.kind == kind)?;
    let h = r.health.as_ref()?;
    Some((h.status, h.message.clone().unwrap_or_default()))
}

async fn set_status(
    env: &Env,
    kind: &str,
    plural: &str,
    ns: &str,
    name: &str,
    status: serde_json::Value,
) {
    let gvk = GroupVersionKind::gvk("example.com", "v1", kind);
    let api: Api<DynamicObject> = Api::namespaced_with(
        env.client.clone(),
        ns,
        &ApiResource::from_gvk_with_plural(&gvk, plural),
    );
    api.patch(
        name,
        &PatchParams::default(),
        &Patch::Merge(json!({"status": status})),
    )
    .await
    .expect("the status is patched");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "e2e: runs the Application controller against the embedded control plane and a local git repository"]
async fn a_lua_health_script_follows_a_custom_resource_from_degraded_to_healthy() {
    let env = Env::start(|_| {}).await;
    env.apply(crd("Widget", "widgets")).await;
    env.apply(json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "argocd-cm", "namespace": NS},
        "data": {"resource.customizations.health.example.com_Widget": WIDGET_HEALTH}
    }))
    .await;
    let repo = Repo::new(
        &env.tc.scratch().join("git"),
        "repo",
        &[("widgets/widget.yaml", &custom_resource("Widget", "gear"))],
    );
    let commit = tenancy::git(&repo.work, &["rev-parse", "HEAD"]);
    let app = application(
        "widgets",
        "default",
        &repo.url(),
        "widgets",
        json!({"server": "https://kubernetes.default.svc", "namespace": "factory"}),
    );
    env.apps.create(&PostParams::default(), &app).await.unwrap();

    // No status yet: the script says Progressing.
    let app = env
        .wait("widgets", "Progressing by the script", |a| {
            synced_at(a, &commit) && health(a) == Some(HealthStatusCode::Progressing)
        })
        .await;
    assert_eq!(
        resource_health(&app, "Widget"),
        Some((
            HealthStatusCode::Progressing,
            "waiting for the widget controller".into()
        ))
    );

    // The widget fails: Degraded, with the script's message.
    set_status(
        &env,
        "Widget",
        "widgets",
        "factory",
        "gear",
        json!({"phase": "Failed", "reason": "out of sprockets"}),
    )
    .await;
    let app = env
        .wait("widgets", "Degraded by the script", |a| {
            health(a) == Some(HealthStatusCode::Degraded)
        })
        .await;
    assert_eq!(
        resource_health(&app, "Widget"),
        Some((
            HealthStatusCode::Degraded,
            "widget failed: out of sprockets".into()
        ))
    );
    assert!(condition(&app, condition_type::UNKNOWN_ERROR).is_none());

    // Repaired: Healthy.
    set_status(
        &env,
        "Widget",
        "widgets",
        "factory",
        "gear",
        json!({"phase": "Ready"}),
    )
    .await;
    let app = env.synced_healthy("widgets", &commit).await;
    assert_eq!(
        resource_health(&app, "Widget"),
        Some((
            HealthStatusCode::Healthy,
            "widget is ready (3 parts)".into()
        ))
    );
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "e2e: runs the Application controller against the embedded control plane and a local git repository"]
async fn looping_and_failing_scripts_are_stopped_and_reported_and_the_controller_goes_on() {
    let env = Env::start(|c| {
        c.lua_limits.time = Duration::from_millis(300);
    })
    .await;
    env.apply(crd("Loop", "loops")).await;
    env.apply(crd("Boom", "booms")).await;
    // One script per form: the per-kind key and the `resource.customizations` document.
    env.apply(json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "argocd-cm", "namespace": NS},
        "data": {
            "resource.customizations.health.example.com_Loop": "local n = 0\nwhile true do n = n + 1 end\n",
            "resource.customizations": "example.com/Boom:\n  health.lua: |\n    error(\"boom: the script broke\")\n"
        }
    }))
    .await;
    let configmap = |color: &str| {
        format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  color: {color}\n"
        )
    };
    let repo = Repo::new(
        &env.tc.scratch().join("git"),
        "repo",
        &[
            ("loop/loop.yaml", &custom_resource("Loop", "spinner")),
            ("boom/boom.yaml", &custom_resource("Boom", "bang")),
            ("ok/configmap.yaml", &configmap("blue")),
        ],
    );
    let first = tenancy::git(&repo.work, &["rev-parse", "HEAD"]);
    for (name, ns) in [("loop", "loop-ns"), ("boom", "boom-ns"), ("ok", "ok-ns")] {
        let app = application(
            name,
            "default",
            &repo.url(),
            name,
            json!({"server": "https://kubernetes.default.svc", "namespace": ns}),
        );
        env.apps.create(&PostParams::default(), &app).await.unwrap();
    }

    let looping = env
        .wait("loop", "Unknown health from the stopped script", |a| {
            synced_at(a, &first) && health(a) == Some(HealthStatusCode::Unknown)
        })
        .await;
    let (code, message) = resource_health(&looping, "Loop").expect("the Loop's health");
    assert_eq!(code, HealthStatusCode::Unknown);
    assert!(message.contains("was stopped"), "{message}");
    let reported =
        condition(&looping, condition_type::UNKNOWN_ERROR).expect("an UnknownError condition");
    assert!(
        reported.contains("spinner") && reported.contains("was stopped"),
        "{reported}"
    );

    let failing = env
        .wait("boom", "Unknown health from the failing script", |a| {
            synced_at(a, &first) && health(a) == Some(HealthStatusCode::Unknown)
        })
        .await;
    let (_, message) = resource_health(&failing, "Boom").expect("the Boom's health");
    assert!(message.contains("boom: the script broke"), "{message}");
    assert!(
        condition(&failing, condition_type::UNKNOWN_ERROR)
            .unwrap()
            .contains("boom: the script broke")
    );

    // The controller goes on: the other Application syncs, and keeps syncing new commits.
    env.synced_healthy("ok", &first).await;
    repo.write(&[("ok/configmap.yaml", &configmap("green"))]);
    let second = repo.commit("green");
    env.synced_healthy("ok", &second).await;
    let cm = env
        .tc
        .kubectl_ok(
            "1.32",
            &[
                "get",
                "configmap",
                "settings",
                "-n",
                "ok-ns",
                "-o",
                "jsonpath={.data.color}",
            ],
        )
        .unwrap();
    assert_eq!(cm, "green");
    // And the broken scripts are still reported, not fatal.
    let looping = env.apps.get("loop").await.unwrap();
    assert_eq!(health(&looping), Some(HealthStatusCode::Unknown));
    env.stop().await;
}
