//! kube-rs against the embedded control plane: dynamic CRUD, and a reflector whose cache stays
//! exact across a server restart (watch resumes from its resourceVersion) and across a compaction
//! of the revision log (the in-stream 410 makes it re-list).

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use fjord_e2e::{ClusterOptions, TestCluster, client};
use futures::StreamExt;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{
    Api, ApiResource, DeleteParams, DynamicObject, GroupVersionKind, ListParams, Patch,
    PatchParams, PostParams,
};
use kube::runtime::{WatchStreamExt, reflector, watcher};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "e2e: boots the embedded control plane"]
async fn dynamic_object_crud() {
    let tc = TestCluster::start().await.unwrap();
    let client = client(&tc).await;
    let ar = ApiResource::from_gvk(&GroupVersionKind::gvk("", "v1", "ConfigMap"));
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), "default", &ar);
    let obj: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "dyn"}, "data": {"a": "1"}
    }))
    .unwrap();
    let created = api.create(&PostParams::default(), &obj).await.unwrap();
    assert!(created.metadata.uid.is_some());
    let rv1 = created.metadata.resource_version.clone().unwrap();

    let mut fetched = api.get("dyn").await.unwrap();
    assert_eq!(fetched.data["data"]["a"], "1");
    fetched.data["data"]["a"] = json!("2");
    let replaced = api
        .replace("dyn", &PostParams::default(), &fetched)
        .await
        .unwrap();
    assert_ne!(
        replaced.metadata.resource_version.as_deref(),
        Some(rv1.as_str())
    );

    // A replace with the stale resourceVersion conflicts.
    let mut stale = fetched.clone();
    stale.metadata.resource_version = Some(rv1);
    let err = api
        .replace("dyn", &PostParams::default(), &stale)
        .await
        .unwrap_err();
    assert!(
        matches!(err, kube::Error::Api(ref s) if s.code == 409),
        "{err:?}"
    );

    let patched = api
        .patch(
            "dyn",
            &PatchParams::default(),
            &Patch::Merge(json!({"data": {"b": "3"}})),
        )
        .await
        .unwrap();
    assert_eq!(patched.data["data"], json!({"a": "2", "b": "3"}));

    let list = api.list(&ListParams::default()).await.unwrap();
    assert!(
        list.items
            .iter()
            .any(|o| o.metadata.name.as_deref() == Some("dyn"))
    );
    assert!(list.metadata.resource_version.is_some());

    let typed: Api<ConfigMap> = Api::namespaced(client, "default");
    let page = typed.list(&ListParams::default().limit(1)).await.unwrap();
    assert_eq!(page.items.len(), 1);

    api.delete("dyn", &DeleteParams::default()).await.unwrap();
    let gone = api.get_opt("dyn").await.unwrap();
    assert!(gone.is_none());
}

/// Waits until the reflector's store holds exactly `want` (names).
async fn wait_for(store: &reflector::Store<ConfigMap>, want: &[&str]) {
    let want: BTreeSet<String> = want.iter().map(|s| s.to_string()).collect();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let have: BTreeSet<String> = store
            .state()
            .iter()
            .filter_map(|c| c.metadata.name.clone())
            .collect();
        if have == want {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "reflector holds {have:?}, want {want:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn cm(name: &str, value: &str) -> ConfigMap {
    serde_json::from_value(json!({"metadata": {"name": name}, "data": {"v": value}})).unwrap()
}

async fn reflector_survives(compact: bool) {
    let mut tc = TestCluster::start_with(ClusterOptions {
        min_retained_revisions: 0,
        ..Default::default()
    })
    .await
    .unwrap();
    let c = client(&tc).await;
    let api: Api<ConfigMap> = Api::namespaced(c.clone(), "default");
    api.create(&PostParams::default(), &cm("a", "1"))
        .await
        .unwrap();
    api.create(&PostParams::default(), &cm("b", "1"))
        .await
        .unwrap();

    let (reader, writer) = reflector::store();
    let stream = reflector(writer, watcher(api.clone(), watcher::Config::default()))
        .default_backoff()
        .touched_objects();
    let driver = tokio::spawn(async move {
        let mut stream = std::pin::pin!(stream);
        while stream.next().await.is_some() {}
    });
    wait_for(&reader, &["a", "b"]).await;
    let seen_rev = tc.server().store().current_revision();

    tc.restart().await.unwrap();
    // Writes made while the watcher is still reconnecting must reach it all the same.
    let c2 = client(&tc).await;
    let api2: Api<ConfigMap> = Api::namespaced(c2, "default");
    api2.create(&PostParams::default(), &cm("c", "1"))
        .await
        .unwrap();
    api2.delete("a", &DeleteParams::default()).await.unwrap();
    api2.patch(
        "b",
        &PatchParams::default(),
        &Patch::Merge(json!({"data": {"v": "2"}})),
    )
    .await
    .unwrap();
    if compact {
        let point = tc.server().compact_now().await.unwrap();
        assert!(
            point > seen_rev,
            "the compaction must cover what the watcher last saw"
        );
    }
    wait_for(&reader, &["b", "c"]).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let b = reader
            .state()
            .into_iter()
            .find(|o| o.metadata.name.as_deref() == Some("b"));
        if b.and_then(|b| b.data.clone())
            .and_then(|d| d.get("v").cloned())
            .as_deref()
            == Some("2")
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the change to b never reached the reflector"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // And it keeps following after the restart.
    api2.create(&PostParams::default(), &cm("d", "1"))
        .await
        .unwrap();
    wait_for(&reader, &["b", "c", "d"]).await;
    driver.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "e2e: boots the embedded control plane"]
async fn reflector_resumes_across_a_restart() {
    reflector_survives(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "e2e: boots the embedded control plane"]
async fn reflector_relists_after_compaction() {
    reflector_survives(true).await;
}
