//! The web UI in a real headless Chromium, driven over WebDriver (chromedriver): log in with
//! the admin token, see the seed Application Synced and Healthy, open it and see its resource
//! tree, push a Git change and see it go OutOfSync (auto-sync off), click Sync and see it
//! Synced again. Screenshots go to `target/screenshots/`.
//!
//! Needs Debian's `chromium` and `chromium-driver` (`scripts/install-test-deps`).
//! Run: `cargo test -p fjord-e2e --test ui_browser -- --ignored`.

mod ui_support;

use serde_json::json;
use ui_support::webdriver::Browser;
use ui_support::{APP, UiSetup, git, health_of, sync_of};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "e2e: boots the control plane, controller and server, and drives headless Chromium"]
async fn log_in_see_synced_push_see_out_of_sync_click_sync() {
    let s = UiSetup::start(false).await;
    // Auto-sync is off: the first sync is manual, as a user would do it after creating it.
    let apps = s.apps.clone();
    let r = apps
        .patch(
            APP,
            &kube::api::PatchParams::default(),
            &kube::api::Patch::Merge(
                json!({"operation": {"sync": {}, "initiatedBy": {"username": "setup"}}}),
            ),
        )
        .await;
    assert!(r.is_ok(), "{r:?}");
    s.wait_app("Synced and Healthy", |a| {
        sync_of(a) == "Synced" && health_of(a) == "Healthy"
    })
    .await;

    let url = s.url.clone();
    let token = s.admin_token.clone();
    let work = s.repo.work.clone();
    let browser = tokio::task::spawn_blocking(move || {
        let b = Browser::start();
        // 1. The login page; log in with the admin token.
        b.goto(&format!("{url}/"));
        let input = b.wait_for("#token", 20, "01-login-missing");
        b.screenshot("01-login");
        b.type_into(&input, &token);
        b.click(&b.wait_for("#login-submit", 5, "01-login-button"));

        // 2. The list shows the seed Synced and Healthy.
        let tile = format!(".tile[data-app='{APP}']");
        b.wait_for(&tile, 20, "02-list-missing");
        b.wait_for(
            &format!("{tile} .badge.sync-Synced"),
            30,
            "02-list-not-synced",
        );
        b.wait_for(
            &format!("{tile} .badge.health-Healthy"),
            30,
            "02-list-not-healthy",
        );
        let counts = b.text(&b.wait_for("[data-count='sync-Synced']", 5, "02-counts"));
        assert_eq!(counts, "(1)");
        b.screenshot("02-list-synced-healthy");
        let tile_el = b.wait_for(&tile, 5, "02-tile");
        b.click(&tile_el);

        // 3. The application page and its resource tree.
        b.wait_for("#app-name", 20, "03-app-missing");
        b.wait_for(
            "#resource-tree svg g.node[data-kind='Deployment']",
            30,
            "03-tree-missing",
        );
        b.wait_for(
            "#resource-tree svg g.node[data-kind='ReplicaSet']",
            30,
            "03-tree-rs",
        );
        b.wait_for(
            "#resource-tree svg g.node[data-kind='Pod']",
            30,
            "03-tree-pod",
        );
        let health = b.script(
            "return document.querySelector(\"#resource-tree g.node[data-kind='Deployment']\").dataset.health",
        );
        assert_eq!(health, "Healthy");
        b.screenshot("03-app-tree");

        // 4. A push: the page goes OutOfSync by itself (event stream).
        let path = work.join("k8s/overlays/production/kustomization.yaml");
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::write(&path, text.replace("count: 3", "count: 2")).unwrap();
        git(&work, &["commit", "-q", "-am", "two replicas"]);
        git(&work, &["push", "-q", "origin", "main"]);
        b.wait_for("#app-sync .badge.sync-OutOfSync", 60, "04-not-out-of-sync");
        b.click(&b.wait_for("#tab-diff", 5, "04-diff-tab"));
        b.wait_for(
            "[data-resource='Deployment/payment-gateway'] tr.replace",
            30,
            "04-diff",
        );
        b.screenshot("04-out-of-sync-diff");

        // 5. Sync from the page: Synced again.
        b.click(&b.wait_for("#btn-sync", 5, "05-sync-button"));
        // The panel offers selective sync of the managed resources (none ticked: all).
        b.wait_for(
            "#sync-resources input[value*='Deployment']",
            5,
            "05-sync-resources",
        );
        b.screenshot("05-sync-panel");
        b.click(&b.wait_for("#sync-confirm", 5, "05-sync-confirm"));
        b.wait_for("#app-sync .badge.sync-Synced", 60, "05-not-synced");
        b.click(&b.wait_for("#tab-history", 5, "05-history-tab"));
        b.wait_for("#history tbody tr", 20, "05-history");
        b.screenshot("06-synced-history");
    });
    browser.await.expect("the browser scenario passes");
    let app = s.apps.get(APP).await.unwrap();
    assert_eq!(sync_of(&app), "Synced");
    let dep =
        s.tc.kubectl_ok(
            "1.32",
            &[
                "get",
                "deployment",
                "payment-gateway",
                "-n",
                "payment-prod",
                "-o",
                "jsonpath={.spec.replicas}",
            ],
        )
        .unwrap();
    assert_eq!(dep.trim(), "2", "the click synced the pushed change");
    s.stop().await;
}
