//! The API surface kube-rs and controllers lean on, one behaviour per test: generateName, dry run,
//! selectors, paging, deletecollection, status isolation, and watch bookmarks and timeouts.

use std::time::Duration;

use fjord_e2e::{TestCluster, client};
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{
    Api, DeleteParams, ListParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams,
};
use serde_json::json;

fn cm(v: serde_json::Value) -> ConfigMap {
    serde_json::from_value(v).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "e2e: boots the embedded control plane"]
async fn generate_name_and_dry_run() {
    let tc = TestCluster::start().await.unwrap();
    let api: Api<ConfigMap> = Api::default_namespaced(client(&tc).await);
    let made = api
        .create(
            &PostParams::default(),
            &cm(json!({"metadata": {"generateName": "gen-"}})),
        )
        .await
        .unwrap();
    let name = made.metadata.name.unwrap();
    assert!(name.starts_with("gen-") && name.len() == 9, "{name}");

    let before = tc.server().store().current_revision();
    let dry = api
        .create(
            &PostParams {
                dry_run: true,
                ..Default::default()
            },
            &cm(json!({"metadata": {"name": "dry"}})),
        )
        .await
        .unwrap();
    assert!(
        dry.metadata.resource_version.is_none(),
        "a dry-run create has no resourceVersion"
    );
    assert!(dry.metadata.uid.is_some());
    assert!(
        api.get_opt("dry").await.unwrap().is_none(),
        "a dry run stores nothing"
    );
    // Simulated controllers may write meanwhile; the dry run itself must leave no trace.
    let (events, _) = tc
        .server()
        .store()
        .events_after(before, "/configmaps/default/dry")
        .unwrap();
    assert!(
        events.is_empty(),
        "a dry run writes nothing to the revision log"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "e2e: boots the embedded control plane"]
async fn selectors_paging_and_deletecollection() {
    let tc = TestCluster::start().await.unwrap();
    let api: Api<ConfigMap> = Api::default_namespaced(client(&tc).await);
    for i in 0..7 {
        let tier = if i % 2 == 0 { "even" } else { "odd" };
        api.create(
            &PostParams::default(),
            &cm(json!({"metadata": {"name": format!("c{i}"), "labels": {"tier": tier}}})),
        )
        .await
        .unwrap();
    }
    let even = api
        .list(&ListParams::default().labels("tier=even"))
        .await
        .unwrap();
    assert_eq!(even.items.len(), 4);
    let one = api
        .list(&ListParams::default().fields("metadata.name=c3"))
        .await
        .unwrap();
    assert_eq!(one.items.len(), 1);
    assert!(
        api.list(&ListParams::default().fields("data.x=1"))
            .await
            .is_err(),
        "unsupported field selectors are refused"
    );

    let mut names = Vec::new();
    let mut lp = ListParams::default().limit(3);
    let mut pages = 0;
    loop {
        let page = api.list(&lp).await.unwrap();
        pages += 1;
        names.extend(page.items.into_iter().filter_map(|c| c.metadata.name));
        match page.metadata.continue_ {
            Some(c) if !c.is_empty() => lp = lp.continue_token(&c),
            _ => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(names, vec!["c0", "c1", "c2", "c3", "c4", "c5", "c6"]);

    api.delete_collection(
        &DeleteParams::default(),
        &ListParams::default().labels("tier=odd"),
    )
    .await
    .unwrap();
    let left: Vec<String> = api
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter_map(|c| c.metadata.name)
        .collect();
    assert_eq!(left, vec!["c0", "c2", "c4", "c6"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "e2e: boots the embedded control plane"]
async fn status_subresource_is_isolated_both_ways() {
    // No simulated Deployment controller here: it would write status meanwhile.
    let tc = TestCluster::start_with(fjord_e2e::ClusterOptions {
        controllers: false,
        ..Default::default()
    })
    .await
    .unwrap();
    let api: Api<Deployment> = Api::default_namespaced(client(&tc).await);
    let d: Deployment = serde_json::from_value(json!({
        "metadata": {"name": "web"},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "c", "image": "nginx"}]}}},
        "status": {"replicas": 99}
    }))
    .unwrap();
    let created = api.create(&PostParams::default(), &d).await.unwrap();
    assert_ne!(
        created.status.and_then(|s| s.replicas),
        Some(99),
        "status in a create is dropped"
    );

    let status_patch = json!({"status": {"replicas": 5}, "spec": {"replicas": 7}});
    let after = api
        .patch_status("web", &PatchParams::default(), &Patch::Merge(&status_patch))
        .await
        .unwrap();
    assert_eq!(after.status.unwrap().replicas, Some(5));
    assert_eq!(
        after.spec.unwrap().replicas,
        Some(1),
        "/status does not change spec"
    );

    let main_patch = json!({"status": {"replicas": 6}, "spec": {"replicas": 2}});
    let after = api
        .patch("web", &PatchParams::default(), &Patch::Merge(&main_patch))
        .await
        .unwrap();
    assert_eq!(after.spec.unwrap().replicas, Some(2));
    assert_eq!(
        after.status.unwrap().replicas,
        Some(5),
        "the main resource does not change status"
    );
    assert_eq!(
        after.metadata.generation,
        Some(2),
        "a spec change bumps generation"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "e2e: boots the embedded control plane"]
async fn watch_sends_bookmarks_and_ends_at_its_timeout() {
    let tc = TestCluster::start().await.unwrap();
    let api: Api<ConfigMap> = Api::default_namespaced(client(&tc).await);
    let rv = api
        .list(&ListParams::default())
        .await
        .unwrap()
        .metadata
        .resource_version
        .unwrap();
    let started = std::time::Instant::now();
    let stream = api
        .watch(&WatchParams::default().timeout(2), &rv)
        .await
        .unwrap();
    api.create(
        &PostParams::default(),
        &cm(json!({"metadata": {"name": "w"}})),
    )
    .await
    .unwrap();
    let events: Vec<_> =
        tokio::time::timeout(Duration::from_secs(10), stream.try_collect::<Vec<_>>())
            .await
            .expect("the server closes the watch at timeoutSeconds")
            .unwrap();
    assert!(started.elapsed() >= Duration::from_secs(2));
    assert!(
        matches!(&events[0], WatchEvent::Added(c) if c.metadata.name.as_deref() == Some("w")),
        "{events:?}"
    );
    let last = events.last().unwrap();
    let WatchEvent::Bookmark(b) = last else {
        panic!("the watch ends with a bookmark: {events:?}")
    };
    let Some(WatchEvent::Added(added)) = events.first() else {
        unreachable!()
    };
    // The bookmark's revision is where the watch got to: at least the event it sent (other
    // writes, such as the simulated controllers', may have moved the global revision further).
    let rv = |s: &str| s.parse::<u64>().unwrap();
    assert!(
        rv(&b.metadata.resource_version) >= rv(added.metadata.resource_version.as_deref().unwrap())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "e2e: boots the embedded control plane"]
async fn a_watch_from_a_compacted_revision_gets_410_in_the_stream() {
    let tc = TestCluster::start_with(fjord_e2e::ClusterOptions {
        min_retained_revisions: 0,
        ..Default::default()
    })
    .await
    .unwrap();
    let api: Api<ConfigMap> = Api::default_namespaced(client(&tc).await);
    for i in 0..3 {
        api.create(
            &PostParams::default(),
            &cm(json!({"metadata": {"name": format!("x{i}")}})),
        )
        .await
        .unwrap();
    }
    tc.server().compact_now().await.unwrap();
    let mut events = api
        .watch(&WatchParams::default(), "1")
        .await
        .expect("HTTP 200")
        .boxed();
    match events.next().await {
        Some(Ok(WatchEvent::Error(e))) => {
            assert_eq!(e.code, 410);
            assert_eq!(e.reason, "Expired");
        }
        other => panic!("expected an in-stream 410, got {other:?}"),
    }
}

/// A one-route HTTP server on loopback: `/small` answers a short text, `/huge` 4 MiB.
async fn endpoint() -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut conn, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = vec![0u8; 4096];
                let n = conn.read(&mut buf).await.unwrap_or(0);
                let request = String::from_utf8_lossy(&buf[..n]).to_string();
                let body = if request.starts_with("GET /huge") {
                    vec![b'x'; 4 * 1024 * 1024]
                } else {
                    format!("hello from {}", request.lines().next().unwrap_or("")).into_bytes()
                };
                let head = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                    body.len()
                );
                let _ = conn.write_all(head.as_bytes()).await;
                let _ = conn.write_all(&body).await;
            });
        }
    });
    port
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "e2e: boots the embedded control plane"]
async fn the_service_proxy_reaches_endpoints_and_bounds_what_it_relays() {
    let tc = TestCluster::start().await.unwrap();
    let c = client(&tc).await;
    let port = endpoint().await;
    let params = PatchParams::apply("test").force();
    let services: Api<k8s_openapi::api::core::v1::Service> = Api::default_namespaced(c.clone());
    let service = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
        "spec": {"ports": [{"name": "http", "port": 80}]}});
    services
        .patch("web", &params, &Patch::Apply(&service))
        .await
        .unwrap();
    let endpoints: Api<k8s_openapi::api::core::v1::Endpoints> = Api::default_namespaced(c.clone());
    let ep = json!({"apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": "web"},
        "subsets": [{"addresses": [{"ip": "127.0.0.1"}], "ports": [{"name": "http", "port": port}]}]});
    endpoints
        .patch("web", &params, &Patch::Apply(&ep))
        .await
        .unwrap();
    let get = |path: &str| {
        let c = c.clone();
        let path = path.to_string();
        async move {
            let request = http::Request::get(path).body(Vec::new()).unwrap();
            c.request_text(request).await
        }
    };
    let text = get("/api/v1/namespaces/default/services/web:http/proxy/small?x=1")
        .await
        .expect("the endpoint answers through the proxy");
    assert_eq!(text, "hello from GET /small?x=1 HTTP/1.1");
    let err = get("/api/v1/namespaces/default/services/web/proxy/huge")
        .await
        .expect_err("a 4 MiB answer is not relayed");
    assert!(
        err.to_string().contains("502") || err.to_string().contains("BadGateway"),
        "{err}"
    );
    let err = get("/api/v1/namespaces/default/services/missing/proxy/small")
        .await
        .expect_err("no such Service");
    assert!(
        err.to_string().contains("404") || err.to_string().contains("not found"),
        "{err}"
    );
}

/// `/metrics` counts resource requests by verb and resource (what `fjord bench` reports).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "e2e: boots the embedded control plane"]
async fn metrics_count_requests_by_verb_and_resource() {
    let tc = TestCluster::start().await.unwrap();
    let count = |verb: &str, resource: &str| -> u64 {
        let text = tc
            .kubectl_ok("1.33", &["get", "--raw", "/metrics"])
            .unwrap();
        let series = format!(
            "fjord_apiserver_resource_requests_total{{verb=\"{verb}\",resource=\"{resource}\"}} "
        );
        text.lines()
            .find_map(|l| l.strip_prefix(&series))
            .map_or(0, |n| n.trim().parse().unwrap())
    };
    let (lists, gets) = (count("list", "configmaps"), count("get", "namespaces"));
    tc.kubectl_ok("1.33", &["get", "configmaps", "-n", "default"])
        .unwrap();
    tc.kubectl_ok("1.33", &["get", "namespace", "default"])
        .unwrap();
    tc.kubectl_ok("1.33", &["get", "namespace", "kube-system"])
        .unwrap();
    assert_eq!(count("list", "configmaps"), lists + 1);
    assert_eq!(count("get", "namespaces"), gets + 2);
}
