//! `fjord app history` with the audit trail (issue 11), run as the real binary through Fjord's
//! API and with `--core` against the cluster: who started each sync, its revisions and the
//! objects it created, changed or pruned — and never a Secret value, plain or base64.
//!
//! Run: `cargo test -p fjord --test audit_cli -- --ignored`.

#[path = "../../fjord-e2e/tests/ui_support/mod.rs"]
mod ui_support;

use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::Value;
use ui_support::{APP, SECRET_VALUE, UiSetup};

const SECOND_SECRET: &str = "second-secret-never-shown";

/// Runs fjord against the API, or with `--core` (among `args`) against the cluster.
fn fjord(s: &UiSetup, args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_fjord"));
    cmd.args(args)
        .env("FJORD_CONFIG", s.tc.scratch().join("cli/config.json"))
        .env("KUBECONFIG", &s.tc.kubeconfig)
        .env("FJORD_TOKEN", &s.admin_token)
        .env("USER", "core-user")
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null());
    if args.contains(&"--core") {
        cmd.env_remove("FJORD_SERVER");
    } else {
        cmd.env("FJORD_SERVER", &s.url);
    }
    cmd.output().expect("fjord runs")
}

fn ok(s: &UiSetup, args: &[&str]) -> String {
    let out = fjord(s, args);
    assert!(
        out.status.success(),
        "fjord {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn assert_no_secret(what: &str, text: &str) {
    let b64 = |v: &str| base64::engine::general_purpose::STANDARD.encode(v);
    for v in [SECRET_VALUE, SECOND_SECRET] {
        assert!(!text.contains(v), "{what} shows {v}: {text}");
        assert!(
            !text.contains(&b64(v)),
            "{what} shows base64 of {v}: {text}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "e2e: boots the control plane, controller and server, and runs the fjord binary"]
async fn history_shows_who_what_and_no_secret_through_the_api_and_core() {
    let s = UiSetup::start(false).await;
    ok(
        &s,
        &["app", "sync", APP, "--prune", "--wait", "--timeout", "90"],
    );
    // A new password: the generated Secret gets a new name, the old one is pruned.
    s.repo.edit(
        "k8s/overlays/production/kustomization.yaml",
        SECRET_VALUE,
        SECOND_SECRET,
    );
    let second = s.repo.commit("rotate the database password");
    ok(
        &s,
        &[
            "app",
            "sync",
            APP,
            "--prune",
            "--core",
            "--wait",
            "--timeout",
            "90",
        ],
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    let history: Value = loop {
        let h: Value =
            serde_json::from_str(&ok(&s, &["app", "history", APP, "-o", "json"])).expect("JSON");
        if h["audit"].as_array().is_some_and(|a| a.len() >= 2) {
            break h;
        }
        assert!(Instant::now() < deadline, "two audit records: {h}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    let newest = &history["audit"][0];
    assert_eq!(newest["initiatedBy"]["type"], "user");
    assert_eq!(newest["initiatedBy"]["username"], "core-user");
    assert_eq!(newest["revisionAfter"], second.as_str());
    let secrets: Vec<(&str, &str)> = newest["objects"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| o["kind"] == "Secret")
        .map(|o| (o["name"].as_str().unwrap(), o["action"].as_str().unwrap()))
        .collect();
    assert!(
        secrets.iter().any(|(_, a)| *a == "created") && secrets.iter().any(|(_, a)| *a == "pruned"),
        "the rotated Secret is created and the old one pruned: {secrets:?}"
    );
    let oldest = &history["audit"][1];
    assert_eq!(oldest["initiatedBy"]["type"], "user");
    assert!(
        oldest["objects"]
            .as_array()
            .unwrap()
            .iter()
            .any(|o| o["kind"] == "Deployment" && o["action"] == "created"),
        "{oldest}"
    );

    let table = ok(&s, &["app", "history", APP]);
    assert!(table.starts_with("ID"), "{table}");
    assert!(table.contains("AUDIT (newest first)"), "{table}");
    assert!(table.contains("by user core-user"), "{table}");
    assert!(
        table.contains("pruned       Secret payment-prod/"),
        "{table}"
    );
    let core_table = ok(&s, &["app", "history", APP, "--core"]);
    let core_json: Value =
        serde_json::from_str(&ok(&s, &["app", "history", APP, "--core", "-o", "json"])).unwrap();
    assert_eq!(
        core_json["audit"], history["audit"],
        "--core reads the same records"
    );
    assert!(core_table.contains("by user core-user"), "{core_table}");
    for (what, text) in [
        ("the JSON history", history.to_string()),
        ("the table", table),
        ("the --core table", core_table),
        ("the --core JSON", core_json.to_string()),
    ] {
        assert_no_secret(what, &text);
    }
    s.stop().await;
}
