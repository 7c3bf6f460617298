//! `fjord doctor api` measurements against the embedded control plane.

use fjord_e2e::{TestCluster, client};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "e2e: boots the embedded control plane"]
async fn api_check_measures_latency_and_watch_lag_and_cleans_up() {
    let tc = TestCluster::start().await.unwrap();
    let c = client(&tc).await;
    let report = fjord_doctor::api::run(c.clone(), "default", 10)
        .await
        .unwrap();
    for l in [&report.version, &report.list, &report.watch_lag] {
        assert_eq!(l.samples, 10);
        assert!(l.p50 <= l.p99 && l.p99 <= l.max);
        assert!(l.max < std::time::Duration::from_secs(5), "{l:?}");
    }
    assert!(report.render().contains("watch delivery lag"));
    let cms: kube::Api<k8s_openapi::api::core::v1::ConfigMap> = kube::Api::default_namespaced(c);
    let left = cms.list(&Default::default()).await.unwrap();
    assert!(left.items.is_empty(), "the probes are deleted");
}
