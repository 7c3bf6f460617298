//! The seed Application through every pure stage: Git (file://) → render → prepare →
//! server-side apply (fjord-smd, standing in for the API server) → diff → drift → prune
//! candidates → health. No cluster, no network.

use fjord_engine::diff::{DiffKind, DiffOptions, IgnoreRules, app_sync_status, diff};
use fjord_engine::health::{HealthStatusCode, aggregate};
use fjord_engine::plan::apply_order;
use fjord_engine::render::Renderers;
use fjord_engine::resource::{ResourceKey, app_instance_name, is_tracked_by, prepare_desired};
use fjord_engine::source::{GitAuth, RepoRegistry};
use fjord_engine::sync_options::SyncOptions;
use fjord_engine::types::{Application, SyncStatusCode};
use fjord_smd::{ApplyRequest, FieldPath, UpdateRequest, apply, builtin_schema, update};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

const SEED: &str = include_str!("../testdata/apps/seed-nordic-payment-gateway.yaml");

fn git(dir: &Path, args: &[&str]) {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@example.com")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@example.com")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .output()
        .expect("git must be installed");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn write(dir: &Path, path: &str, text: &str) {
    let p = dir.join(path);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

const DEPLOY: &str = "apiVersion: apps/v1
kind: Deployment
metadata:
  name: gateway
  labels: {app: gateway}
spec:
  replicas: 2
  selector: {matchLabels: {app: gateway}}
  template:
    metadata: {labels: {app: gateway}}
    spec:
      containers:
      - name: gateway
        image: registry.example/gateway:1.4.2
        ports: [{containerPort: 8443}]
        resources: {requests: {cpu: '0.25', memory: 256Mi}}
";
const SERVICE: &str = "apiVersion: v1
kind: Service
metadata: {name: gateway}
spec:
  selector: {app: gateway}
  ports: [{port: 443, targetPort: 8443}]
";
const SECRET: &str = "apiVersion: v1
kind: Secret
metadata: {name: gateway-keys}
stringData: {api-key: not-for-logs}
";

type Cluster = BTreeMap<ResourceKey, Value>;

fn ty(obj: &Value) -> fjord_smd::TypeRef {
    let av = obj["apiVersion"].as_str().unwrap();
    let (g, v) = av.rsplit_once('/').unwrap_or(("", av));
    builtin_schema()
        .root_for_gvk(g, v, obj["kind"].as_str().unwrap())
        .unwrap()
}

fn ssa(cluster: &mut Cluster, key: &ResourceKey, obj: &Value) {
    let status = [FieldPath::from_dotted("status")];
    let req = ApplyRequest {
        manager: "fjord",
        force: true,
        api_version: obj["apiVersion"].as_str().unwrap(),
        subresource: None,
        now: "2026-01-01T00:00:00Z",
        reset_fields: &status,
    };
    let mut out = apply(builtin_schema(), &ty(obj), cluster.get(key), obj, &req)
        .unwrap()
        .object;
    // The API server folds Secret stringData into data.
    if out["kind"] == "Secret" {
        let sd = out.as_object_mut().unwrap().shift_remove("stringData");
        if let Some(Value::Object(sd)) = sd {
            use base64::Engine;
            let data: serde_json::Map<String, Value> = sd
                .into_iter()
                .map(|(k, v)| {
                    let enc = base64::engine::general_purpose::STANDARD.encode(v.as_str().unwrap());
                    (k, Value::String(enc))
                })
                .collect();
            out["data"] = Value::Object(data);
        }
    }
    cluster.insert(key.clone(), out);
}

/// Renders the app at its source's resolved HEAD and prepares the objects.
fn desired(app: &Application, registry: &RepoRegistry) -> (String, Vec<(ResourceKey, Value)>) {
    let source = app.spec.source.as_ref().unwrap();
    let repo = registry.get(&source.repo_url, GitAuth::default());
    let refs = repo.ls_remote().unwrap();
    let sha = repo.resolve(&refs, source.revision()).unwrap();
    if !repo.has_commit(&sha) {
        repo.fetch(&[&sha]).unwrap();
    }
    let tree = repo.tree(&sha).unwrap();
    let (_, rendered) = Renderers::default().render(&tree, source).unwrap();
    assert!(rendered.may_prune(false));
    let instance = app_instance_name(app.name(), app.namespace(), "argocd");
    let ns = app.spec.destination.namespace.as_deref().unwrap();
    let mut objs: Vec<(ResourceKey, Value)> = rendered
        .objects
        .into_iter()
        .map(|o| {
            let mut obj = o.object;
            let key = prepare_desired(&mut obj, &instance, ns, true).unwrap();
            (key, obj)
        })
        .collect();
    apply_order(&mut objs, |(k, v)| (k, v));
    (sha, objs)
}

fn compare(
    objs: &[(ResourceKey, Value)],
    cluster: &Cluster,
    instance: &str,
) -> Vec<fjord_engine::diff::ResourceDiff> {
    let opts = DiffOptions {
        ignore: IgnoreRules::default(),
        ..Default::default()
    };
    let mut out: Vec<_> = objs
        .iter()
        .map(|(k, d)| diff(Some(d), cluster.get(k), &opts).unwrap())
        .collect();
    for (k, live) in cluster {
        if is_tracked_by(live, instance) && !objs.iter().any(|(dk, _)| dk == k) {
            out.push(diff(None, Some(live), &opts).unwrap());
        }
    }
    out
}

#[test]
fn seed_application_end_to_end_without_a_cluster() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("infra-config");
    std::fs::create_dir(&src).unwrap();
    git(&src, &["init", "--quiet", "-b", "main"]);
    write(&src, "k8s/overlays/production/deployment.yaml", DEPLOY);
    write(&src, "k8s/overlays/production/service.yaml", SERVICE);
    write(&src, "k8s/overlays/production/secret.yaml", SECRET);
    write(&src, "k8s/base/other.yaml", "not: rendered\n");
    git(&src, &["add", "."]);
    git(&src, &["commit", "--quiet", "-m", "initial"]);

    // The seed manifest, pointed at the local copy of its repository.
    let seed = SEED.replace(
        "git@github.com:my-org/infra-config.git",
        &format!("file://{}", src.display()),
    );
    let app = Application::from_yaml(&seed).unwrap();
    let policy = app.spec.sync_policy.as_ref().unwrap();
    let options = SyncOptions::parse(&policy.sync_options);
    assert!(options.create_namespace && options.condition_message().is_none());
    let instance = app_instance_name(app.name(), app.namespace(), "argocd");

    let registry = RepoRegistry::new(tmp.path().join("cache"));
    let (rev1, objs) = desired(&app, &registry);
    let kinds: Vec<&str> = objs.iter().map(|(k, _)| k.kind.as_str()).collect();
    assert_eq!(kinds, ["Secret", "Service", "Deployment"]);
    assert!(objs.iter().all(|(k, _)| k.namespace == "payment-prod"));

    // Before the first sync everything is missing.
    let mut cluster = Cluster::new();
    let diffs = compare(&objs, &cluster, &instance);
    assert!(diffs.iter().all(|d| d.kind == DiffKind::Missing));
    assert_eq!(app_sync_status(&diffs, false), SyncStatusCode::OutOfSync);

    // Sync: apply in order; now everything is Synced and the Secret never leaks.
    for (k, o) in &objs {
        ssa(&mut cluster, k, o);
    }
    let diffs = compare(&objs, &cluster, &instance);
    for d in &diffs {
        assert_eq!(d.kind, DiffKind::Unchanged, "{}: {}", d.key, d.unified);
    }
    assert_eq!(app_sync_status(&diffs, false), SyncStatusCode::Synced);
    assert!(!format!("{diffs:?}").contains("not-for-logs"));

    // Health: the Deployment has no status yet (no controller ran).
    let lives: Vec<Option<&Value>> = objs.iter().map(|(k, _)| cluster.get(k)).collect();
    assert_eq!(aggregate(lives).status, HealthStatusCode::Progressing);

    // Drift: someone scales by hand; self-heal re-applies and it is Synced again.
    let dk = objs
        .iter()
        .find(|(k, _)| k.kind == "Deployment")
        .unwrap()
        .0
        .clone();
    let live = cluster[&dk].clone();
    let mut edited = live.clone();
    edited["spec"]["replicas"] = json!(9);
    let status = [FieldPath::from_dotted("status")];
    let req = UpdateRequest {
        manager: "kubectl-edit",
        api_version: "apps/v1",
        subresource: None,
        now: "2026-01-01T00:05:00Z",
        reset_fields: &status,
    };
    cluster.insert(
        dk.clone(),
        update(builtin_schema(), &ty(&live), Some(&live), &edited, &req).object,
    );
    let drift = compare(&objs, &cluster, &instance);
    let d = drift.iter().find(|d| d.key == dk).unwrap();
    assert_eq!(d.kind, DiffKind::Modified);
    assert!(
        d.unified.contains("-  replicas: 9\n+  replicas: 2\n"),
        "{}",
        d.unified
    );
    let (k, o) = objs.iter().find(|(k, _)| *k == dk).unwrap();
    ssa(&mut cluster, k, o);
    assert_eq!(
        app_sync_status(&compare(&objs, &cluster, &instance), false),
        SyncStatusCode::Synced
    );

    // A commit removes the Service: it becomes a prune candidate, nothing else changes.
    git(
        &src,
        &["rm", "--quiet", "k8s/overlays/production/service.yaml"],
    );
    git(&src, &["commit", "--quiet", "-m", "drop service"]);
    let (rev2, objs2) = desired(&app, &registry);
    assert_ne!(rev1, rev2);
    let diffs = compare(&objs2, &cluster, &instance);
    let prune: Vec<String> = diffs
        .iter()
        .filter(|d| d.requires_pruning())
        .map(|d| d.key.to_string())
        .collect();
    assert_eq!(prune, ["Service payment-prod/gateway"]);
    assert_eq!(app_sync_status(&diffs, false), SyncStatusCode::OutOfSync);
}
