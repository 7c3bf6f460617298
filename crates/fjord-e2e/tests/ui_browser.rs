//! The web UI in a real headless Chromium, driven over WebDriver (chromedriver): log in with
//! the admin token, see the seed Application Synced and Healthy, open it and see its resource
//! tree, push a Git change and see it go OutOfSync (auto-sync off), click Sync and see it
//! Synced again. Screenshots go to `target/screenshots/`.
//!
//! Needs Debian's `chromium` and `chromium-driver` (`scripts/install-test-deps`).
//! Run: `cargo test -p fjord-e2e --test ui_browser -- --ignored`.

mod ui_support;

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use ui_support::{APP, UiSetup, git, health_of, sync_of};

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(60)))
        .http_status_as_error(false)
        .build()
        .into()
}

/// A chromedriver process and one browser session.
struct Browser {
    driver: Child,
    base: String,
    session: String,
    agent: ureq::Agent,
}

impl Browser {
    fn start() -> Browser {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let driver = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver runs (apt-get install chromium chromium-driver)");
        let base = format!("http://127.0.0.1:{port}");
        let agent = agent();
        let deadline = Instant::now() + Duration::from_secs(20);
        while agent.get(&format!("{base}/status")).call().is_err() {
            assert!(Instant::now() < deadline, "chromedriver answers");
            std::thread::sleep(Duration::from_millis(100));
        }
        let mut b = Browser {
            driver,
            base,
            session: String::new(),
            agent,
        };
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": "/usr/bin/chromium",
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1400,1000"]
            }
        }}});
        let r = b.post("/session", caps);
        b.session = r["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("a WebDriver session: {r}"))
            .to_string();
        b
    }

    fn send(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let url = if path == "/session" {
            format!("{}{path}", self.base)
        } else {
            format!("{}/session/{}{path}", self.base, self.session)
        };
        let mut resp = match (method, body) {
            ("GET", _) => self.agent.get(&url).call(),
            ("DELETE", _) => self.agent.delete(&url).call(),
            (_, body) => self.agent.post(&url).content_type("application/json").send(
                serde_json::to_string(&body.unwrap_or(json!({})))
                    .unwrap()
                    .as_str(),
            ),
        }
        .unwrap_or_else(|e| panic!("{method} {url}: {e}"));
        let text = resp.body_mut().read_to_string().unwrap();
        let v: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        v["value"].clone()
    }

    fn post(&self, path: &str, body: Value) -> Value {
        self.send("POST", path, Some(body))
    }

    fn goto(&self, url: &str) {
        self.post("/url", json!({"url": url}));
    }

    /// The first element matching a CSS selector, if any.
    fn find(&self, css: &str) -> Option<String> {
        let v = self.post("/element", json!({"using": "css selector", "value": css}));
        // A match is `{"element-6066-...": id}`; no match is an error object.
        v.get("element-6066-11e4-a52e-4f735466cecf")
            .and_then(Value::as_str)
            .map(String::from)
    }

    /// Waits up to `secs` for an element matching `css`.
    fn wait_for(&self, css: &str, secs: u64, shot: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            if let Some(e) = self.find(css) {
                return e;
            }
            if Instant::now() > deadline {
                self.screenshot(shot);
                panic!("timed out waiting for {css:?} (screenshot {shot}.png)");
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    fn click(&self, element: &str) {
        self.post(&format!("/element/{element}/click"), json!({}));
    }

    fn type_into(&self, element: &str, text: &str) {
        self.post(&format!("/element/{element}/value"), json!({"text": text}));
    }

    fn text(&self, element: &str) -> String {
        self.send("GET", &format!("/element/{element}/text"), None)
            .as_str()
            .unwrap_or("")
            .to_string()
    }

    fn script(&self, js: &str) -> Value {
        self.post("/execute/sync", json!({"script": js, "args": []}))
    }

    fn screenshot(&self, name: &str) {
        use base64::Engine;
        // Let the page paint what the DOM holds before capturing.
        self.post(
            "/execute/async",
            json!({"script": "const done = arguments[0]; requestAnimationFrame(() => requestAnimationFrame(() => setTimeout(done, 150)));", "args": []}),
        );
        let data = self.send("GET", "/screenshot", None);
        let Some(b64) = data.as_str() else { return };
        let Ok(png) = base64::engine::general_purpose::STANDARD.decode(b64) else {
            return;
        };
        let dir = screenshots();
        let _ = std::fs::create_dir_all(&dir);
        let _ = std::fs::write(dir.join(format!("{name}.png")), png);
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if !self.session.is_empty() {
            let _ = self.send("DELETE", "", None);
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

fn screenshots() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../target")));
    target.join("screenshots")
}

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
        b.click(&b.wait_for("#sync-confirm", 5, "05-sync-confirm"));
        b.wait_for("#app-sync .badge.sync-Synced", 60, "05-not-synced");
        b.click(&b.wait_for("#tab-history", 5, "05-history-tab"));
        b.wait_for("#history tbody tr", 20, "05-history");
        b.screenshot("05-synced-history");
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
