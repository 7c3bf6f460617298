//! `fjord login` and `fjord app list|get|diff|sync|history|rollback|wait|delete`, run as the
//! real binary against Fjord's server (and with `--core` against the cluster), on the embedded
//! control plane with the Application controller and a local Git repository.
//!
//! Run: `cargo test -p fjord --test app_cli -- --ignored`.

#[path = "../../fjord-e2e/tests/ui_support/mod.rs"]
mod ui_support;

use std::io::Write;
use std::process::{Command, Output, Stdio};

use serde_json::Value;
use ui_support::{APP, UiSetup, sync_of};

struct Cli<'a> {
    s: &'a UiSetup,
    config: std::path::PathBuf,
}

impl Cli<'_> {
    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_fjord"));
        c.args(args)
            .env("FJORD_CONFIG", &self.config)
            .env("KUBECONFIG", &self.s.tc.kubeconfig)
            .env_remove("FJORD_SERVER")
            .env_remove("FJORD_TOKEN")
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null());
        c
    }

    fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().expect("fjord runs")
    }

    /// Runs and expects success; returns stdout.
    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "fjord {args:?} failed: {}\n{}",
            String::from_utf8_lossy(&out.stderr),
            String::from_utf8_lossy(&out.stdout)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn json(&self, args: &[&str]) -> Value {
        let mut all = args.to_vec();
        all.extend(["-o", "json"]);
        let text = self.ok(&all);
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{args:?}: {e}: {text}"))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "e2e: boots the control plane, controller and server, and runs the fjord binary"]
async fn every_app_command_against_the_api_and_the_cluster() {
    let mut s = UiSetup::start(false).await;
    let config = s.tc.scratch().join("cli/config.json");

    let cli = Cli {
        s: &s,
        config: config.clone(),
    };
    // login: a wrong token is refused and nothing is saved; the admin token is saved 0600.
    let mut login = cli
        .cmd(&["login", "--server", &s.url])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    login
        .stdin
        .take()
        .unwrap()
        .write_all(b"not-the-token\n")
        .unwrap();
    let out = login.wait_with_output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("401"));
    assert!(!cli.config.exists());
    let mut login = cli
        .cmd(&["login", "--server", &s.url])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    writeln!(login.stdin.take().unwrap(), "{}", s.admin_token).unwrap();
    let out = login.wait_with_output().unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("as admin"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&cli.config).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    // sync --wait: the first (manual) sync, with progress on stderr.
    let out = cli.run(&["app", "sync", APP, "--prune", "--wait", "--timeout", "90"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("sync of nordic-payment-gateway requested"),
        "{err}"
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("sync Synced, health Healthy"));

    // list: table, json, yaml, name; filters.
    let table = cli.ok(&["app", "list"]);
    assert!(table.starts_with("NAME"), "{table}");
    assert!(
        table.contains(APP) && table.contains("Synced") && table.contains("Healthy"),
        "{table}"
    );
    let page = cli.json(&["app", "list"]);
    assert_eq!(page["items"][0]["name"], APP);
    let yaml = cli.ok(&["app", "list", "-o", "yaml"]);
    assert!(yaml.contains(&format!("name: {APP}")), "{yaml}");
    assert_eq!(cli.ok(&["app", "list", "-o", "name"]).trim(), APP);
    assert_eq!(
        cli.json(&["app", "list", "--sync", "OutOfSync"])["total"],
        0
    );
    let core_page = cli.json(&["app", "list", "--core"]);
    assert_eq!(core_page["items"][0]["name"], APP);

    // get: details with resources; json.
    let details = cli.ok(&["app", "get", APP]);
    assert!(
        details.contains("Synced") && details.contains("Deployment"),
        "{details}"
    );
    assert_eq!(cli.json(&["app", "get", APP])["metadata"]["name"], APP);
    assert_eq!(
        cli.json(&["app", "get", APP, "--core"])["summary"]["sync"],
        "Synced"
    );

    // diff: nothing to show while synced (exit 0).
    let out = cli.run(&["app", "diff", APP]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // A push: OutOfSync; diff exits 1 and shows (and colours) the change, via API and --core.
    s.repo.edit(
        "k8s/overlays/production/kustomization.yaml",
        "count: 3",
        "count: 5",
    );
    s.repo.commit("five replicas");
    s.wait_app("OutOfSync", |a| sync_of(a) == "OutOfSync").await;
    for extra in [&[][..], &["--core"][..]] {
        let mut args = vec!["app", "diff", APP, "--color", "always"];
        args.extend(extra);
        let out = cli.run(&args);
        assert_eq!(out.status.code(), Some(1), "{extra:?}");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            text.contains("apps/Deployment payment-prod/payment-gateway (Modified)"),
            "{text}"
        );
        assert!(
            text.contains("\x1b[32m+") && text.contains("replicas: 5"),
            "{text}"
        );
        assert!(!text.contains(ui_support::SECRET_VALUE));
    }
    let plain = cli.run(&["app", "diff", APP, "--color", "never"]);
    assert!(!String::from_utf8_lossy(&plain.stdout).contains('\x1b'));

    // sync --core, then wait (a separate command).
    cli.ok(&["app", "sync", APP, "--core"]);
    let waited = cli.ok(&["app", "wait", APP, "--timeout", "90"]);
    assert!(waited.contains("sync Synced"), "{waited}");
    let replicas =
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
    assert_eq!(replicas.trim(), "5");

    // history; rollback writes the sync of the first deployment's revision (with the
    // controller stopped, so the request stays visible).
    let h = cli.json(&["app", "history", APP]);
    let items = h["items"].as_array().unwrap().clone();
    assert!(items.len() >= 2, "{h}");
    let first = items.last().unwrap().clone();
    let table = cli.ok(&["app", "history", APP]);
    assert!(table.starts_with("ID"), "{table}");
    assert!(
        table.contains(&first["revision"].as_str().unwrap()[..8]),
        "{table}"
    );
    let out = cli.run(&["app", "rollback", APP, "999"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("999"));
    drop(cli);
    s.stop_controller().await;
    let cli = Cli {
        s: &s,
        config: config.clone(),
    };
    let id = first["id"].as_i64().unwrap().to_string();
    cli.ok(&["app", "rollback", APP, &id, "--prune"]);
    let app = s.apps.get(APP).await.unwrap();
    let op = app.operation.expect("the rollback operation is written");
    let sync = op.sync.unwrap();
    assert_eq!(sync.revision.as_deref(), first["revision"].as_str());
    assert_eq!(sync.prune, Some(true));
    assert!(op.initiated_by.unwrap().username.is_some());
    // A second request while one is pending is refused.
    let out = cli.run(&["app", "sync", APP]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("already in progress"));

    // A wrong token: 401 with a hint.
    let out = cli
        .cmd(&["app", "list"])
        .env("FJORD_TOKEN", "wrong")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("401") && err.contains("fjord login"), "{err}");

    // delete: refused without --yes off a terminal; done with it.
    let out = cli.run(&["app", "delete", APP]);
    assert!(!out.status.success());
    assert!(s.apps.get_opt(APP).await.unwrap().is_some());
    cli.ok(&["app", "delete", APP, "--cascade=false", "-y"]);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while s.apps.get_opt(APP).await.unwrap().is_some() {
        assert!(std::time::Instant::now() < deadline, "deleted");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    s.stop().await;
}
