//! The scenarios of issue #10. Each prints its figures as `key: value` lines under a heading;
//! none asserts anything about them.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use futures::StreamExt;
use kube::api::{Api, DynamicObject, ListParams, Patch, PatchParams, PostParams};
use serde_json::{Value, json};

use crate::cluster::{APPS_NAMESPACE, Environment, Snapshot};
use crate::repo::{FleetRepo, app_name, app_path};

/// How many Applications the harness creates at once.
const CREATE_CONCURRENCY: usize = 16;

/// How often the harness lists the Applications while waiting.
pub const POLL: Duration = Duration::from_millis(500);

fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

fn print_heading(title: &str) {
    println!("\n## {title}");
}

fn print_figure(key: &str, value: impl std::fmt::Display) {
    println!("{key:<44} {value}");
}

/// The process figures between two snapshots.
fn print_usage(before: &Snapshot, after: &Snapshot, wall: Duration) {
    let cpu = after.controller.cpu_seconds - before.controller.cpu_seconds;
    print_figure(
        "controller CPU",
        format!(
            "{cpu:.2} s ({:.1}% of one core)",
            100.0 * cpu / wall.as_secs_f64()
        ),
    );
    print_figure(
        "controller resident memory now / peak",
        format!(
            "{} / {}",
            mib(after.controller.rss_kib),
            mib(after.controller.rss_peak_kib)
        ),
    );
    print_figure(
        "API server CPU",
        format!(
            "{:.2} s",
            after.apiserver.cpu_seconds - before.apiserver.cpu_seconds
        ),
    );
    print_figure(
        "API server resident memory now / peak",
        format!(
            "{} / {}",
            mib(after.apiserver.rss_kib),
            mib(after.apiserver.rss_peak_kib)
        ),
    );
    print_figure(
        "API requests by Fjord (controller, webhook)",
        after.others_requests - before.others_requests,
    );
    print_figure(
        "writes to the store (everyone's)",
        after.revision - before.revision,
    );
    let mut by_resource: Vec<(String, u64)> = after
        .by_resource
        .iter()
        .map(|(k, n)| {
            (
                k.clone(),
                n - before.by_resource.get(k).copied().unwrap_or(0),
            )
        })
        .filter(|(_, n)| *n > 0)
        .collect();
    by_resource.sort_by_key(|(_, n)| std::cmp::Reverse(*n));
    let top: Vec<String> = by_resource
        .iter()
        .take(8)
        .map(|(k, n)| format!("{k} {n}"))
        .collect();
    print_figure("  requests by verb and resource (top 8)", top.join(", "));
}

/// The Argo CD Application of the `i`-th fleet member; `own_path_only` adds Argo CD's
/// `manifest-generate-paths: .`, so that a push refreshes it only when it touches its overlay.
fn application(repo_url: &str, i: usize, own_path_only: bool) -> Value {
    let mut metadata = json!({"name": app_name(i), "namespace": APPS_NAMESPACE});
    if own_path_only {
        metadata["annotations"] = json!({"argocd.argoproj.io/manifest-generate-paths": "."});
    }
    json!({
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": metadata,
        "spec": {
            "project": "default",
            "source": {"repoURL": repo_url, "targetRevision": "HEAD", "path": app_path(i)},
            "destination": {"server": "https://kubernetes.default.svc", "namespace": app_name(i)},
            "syncPolicy": {
                "automated": {"prune": true, "selfHeal": true},
                "syncOptions": ["CreateNamespace=true"]
            }
        }
    })
}

fn ready_at(app: &DynamicObject, commit: &str) -> bool {
    let status = app.data.get("status");
    let at = |p: &str| status.and_then(|s| s.pointer(p)).and_then(Value::as_str);
    at("/sync/status") == Some("Synced")
        && at("/sync/revision") == Some(commit)
        && at("/health/status") == Some("Healthy")
}

/// Polls the Applications until `apps` of them are Synced at `commit` and Healthy.
async fn wait_all(env: &Environment, apps: usize, commit: &str, timeout: Duration) -> Result<()> {
    let api = env.applications();
    let start = Instant::now();
    let mut last_report = Instant::now();
    loop {
        let list = api.list(&ListParams::default()).await?;
        env.count_requests(1);
        let ready = list.items.iter().filter(|a| ready_at(a, commit)).count();
        if ready >= apps {
            return Ok(());
        }
        if start.elapsed() > timeout {
            bail!("only {ready} of {apps} Applications were Synced and Healthy after {timeout:?}");
        }
        if last_report.elapsed() > Duration::from_secs(5) {
            eprintln!("  {ready}/{apps} ready after {:.0?}", start.elapsed());
            last_report = Instant::now();
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Scenario 1: N Applications created at once, until all are Synced and Healthy.
pub async fn fleet(
    env: &mut Environment,
    repo: &FleetRepo,
    timeout: Duration,
    own_path_only: bool,
) -> Result<Duration> {
    let commit = repo.push()?;
    let before = env.snapshot().await?;
    let start = Instant::now();
    let api = env.applications();
    let url = repo.url();
    let results: Vec<Result<()>> = futures::stream::iter(0..repo.apps)
        .map(|i| {
            let api = api.clone();
            let app = application(&url, i, own_path_only);
            async move {
                let obj: DynamicObject = serde_json::from_value(app)?;
                api.create(&PostParams::default(), &obj)
                    .await
                    .with_context(|| format!("creating Application {}", app_name(i)))?;
                Ok(())
            }
        })
        .buffer_unordered(CREATE_CONCURRENCY)
        .collect()
        .await;
    env.count_requests(repo.apps as u64);
    results.into_iter().collect::<Result<Vec<()>>>()?;
    let created = start.elapsed();
    wait_all(env, repo.apps, &commit, timeout).await?;
    let elapsed = start.elapsed();
    let after = env.snapshot().await?;
    print_heading(&format!(
        "Fleet: {} Applications to Synced and Healthy",
        repo.apps
    ));
    print_figure(
        "objects per Application",
        "4 (ServiceAccount, Service, Deployment scaled to 0, Ingress) + its Namespace",
    );
    print_figure(
        "Applications created in",
        format!("{:.2} s", created.as_secs_f64()),
    );
    print_figure(
        "all Synced and Healthy after",
        format!("{:.2} s", elapsed.as_secs_f64()),
    );
    print_usage(&before, &after, elapsed);
    Ok(elapsed)
}

/// Scenario 2: a settled fleet left alone for `seconds`.
pub async fn steady(env: &mut Environment, settle: Duration, seconds: u64) -> Result<()> {
    tokio::time::sleep(settle).await;
    let before = env.snapshot().await?;
    let wall = Duration::from_secs(seconds);
    tokio::time::sleep(wall).await;
    let after = env.snapshot().await?;
    print_heading(&format!("Steady state: {seconds} s with nothing changing"));
    // The second snapshot's own /metrics request is the harness's and is already subtracted.
    print_usage(&before, &after, wall);
    Ok(())
}

/// Scenario 3: one commit to the base every Application uses, announced by the webhook.
pub async fn shared_base(env: &mut Environment, repo: &FleetRepo, timeout: Duration) -> Result<()> {
    let file = repo.commit_base_change(1)?;
    let before = env.snapshot().await?;
    let commit = repo.push()?;
    let start = Instant::now();
    env.notify_push(&repo.url(), &[file])?;
    wait_all(env, repo.apps, &commit, timeout).await?;
    let elapsed = start.elapsed();
    let after = env.snapshot().await?;
    print_heading(&format!(
        "A commit to the base shared by {} Applications",
        repo.apps
    ));
    print_figure(
        "all Synced at the new commit after",
        format!(
            "{:.2} s (from the push, through the webhook)",
            elapsed.as_secs_f64()
        ),
    );
    print_usage(&before, &after, elapsed);
    Ok(())
}

fn percentile(sorted: &[f64], q: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

fn print_latencies(key: &str, mut ms: Vec<f64>) {
    ms.sort_by(f64::total_cmp);
    print_figure(
        key,
        format!(
            "p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms over {}",
            percentile(&ms, 0.5),
            percentile(&ms, 0.99),
            ms[ms.len() - 1],
            ms.len()
        ),
    );
}

/// Scenario 4: commit-to-live through the webhook for the first Application of the fleet, and
/// self-heal after an edit, each try on the next Application: a first heal is immediate, but
/// an Application whose objects keep being changed back heals with Argo CD's backoff (2 s,
/// ×3), which is not what this measures.
pub async fn latency(env: &mut Environment, repo: &FleetRepo, tries: usize) -> Result<()> {
    let api = env.applications();
    let name = app_name(0);
    let mut commit_to_live = Vec::new();
    for round in 1..=tries {
        let file = repo.commit_app_change(0, round)?;
        let start = Instant::now();
        let commit = repo.push()?;
        env.notify_push(&repo.url(), &[file])?;
        let deadline = start + Duration::from_secs(60);
        loop {
            let app = api.get(&name).await?;
            if ready_at(&app, &commit) {
                break;
            }
            if Instant::now() > deadline {
                bail!("round {round}: {name} was not Synced at {commit} within a minute");
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        commit_to_live.push(start.elapsed().as_secs_f64() * 1000.0);
    }
    let deployment = kube::core::ApiResource::from_gvk(&kube::core::GroupVersionKind::gvk(
        "apps",
        "v1",
        "Deployment",
    ));
    let mut self_heal = Vec::new();
    let edit = PatchParams {
        field_manager: Some("kubectl-edit".into()),
        ..Default::default()
    };
    for round in 0..tries {
        let ns = app_name(round % repo.apps);
        let deployments: Api<DynamicObject> =
            Api::namespaced_with(env.client.clone(), &ns, &deployment);
        let start = Instant::now();
        deployments
            .patch(
                "podinfo",
                &edit,
                &Patch::Merge(json!({"spec": {"replicas": 1}})),
            )
            .await?;
        let deadline = start + Duration::from_secs(60);
        loop {
            let d = deployments.get("podinfo").await?;
            if d.data.pointer("/spec/replicas") == Some(&json!(0)) {
                break;
            }
            if Instant::now() > deadline {
                bail!("self-heal round {round} ({ns}): the edit was not reverted within a minute");
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        self_heal.push(start.elapsed().as_secs_f64() * 1000.0);
    }
    print_heading(&format!(
        "Latency, in a fleet of {} Applications",
        repo.apps
    ));
    print_latencies("commit-to-live (push, webhook, Synced)", commit_to_live);
    print_latencies(
        "self-heal (edit spec.replicas, reverted; one try per Application)",
        self_heal,
    );
    Ok(())
}

/// The kubectl the push model uses.
pub fn kubectl() -> String {
    std::env::var("FJORD_BENCH_KUBECTL").unwrap_or_else(|_| {
        let pinned = "/usr/lib/google-cloud-sdk/bin/kubectl.1.33";
        if Path::new(pinned).exists() {
            pinned.to_string()
        } else {
            "kubectl".to_string()
        }
    })
}

/// Every overlay rendered in-process, moved to namespace `push-NNNN`, with those Namespaces
/// first: what a push pipeline would `kubectl apply`.
fn rendered_for_push(repo: &FleetRepo) -> Result<Value> {
    let mut namespaces = Vec::new();
    let mut objects = Vec::new();
    for i in 0..repo.apps {
        let ns = format!("push-{i:04}");
        namespaces.push(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}));
        let list = fjord_kustomize::build(
            &fjord_kustomize::DiskSource,
            &repo.work.join(app_path(i)),
            &fjord_kustomize::BuildOptions::default(),
        )
        .with_context(|| format!("rendering {}", app_path(i)))?;
        for mut obj in list.into_values() {
            obj["metadata"]["namespace"] = json!(ns);
            objects.push(obj);
        }
    }
    namespaces.extend(objects);
    Ok(json!({"apiVersion": "v1", "kind": "List", "items": namespaces}))
}

fn timed_kubectl(env: &Environment, args: &[&str]) -> Result<Duration> {
    let start = Instant::now();
    let out = Command::new(kubectl())
        .args(args)
        .env("KUBECONFIG", &env.kubeconfig)
        .output()
        .context("running kubectl")?;
    let elapsed = start.elapsed();
    if !out.status.success() {
        bail!(
            "kubectl {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(elapsed)
}

/// Scenario 5: the push model on the same control plane and the same manifests.
pub async fn push(env: &mut Environment, repo: &FleetRepo, fjord_fleet: Duration) -> Result<()> {
    let list = rendered_for_push(repo)?;
    let objects = list["items"].as_array().map(Vec::len).unwrap_or(0);
    let file = env.dir.join("push.json");
    std::fs::write(&file, serde_json::to_vec(&list)?)?;
    let file = file.display().to_string();
    let args = [
        "apply",
        "--server-side",
        "--field-manager=push-pipeline",
        "-f",
        &file,
    ];
    let before = env.snapshot().await?;
    let first = timed_kubectl(env, &args)?;
    let again = timed_kubectl(env, &args)?;
    let after = env.snapshot().await?;
    print_heading(&format!(
        "Push model: kubectl apply --server-side of {} Applications' manifests",
        repo.apps
    ));
    print_figure("objects applied", objects);
    print_figure(
        "first apply (creates)",
        format!("{:.2} s", first.as_secs_f64()),
    );
    print_figure(
        "second apply (nothing changed)",
        format!("{:.2} s", again.as_secs_f64()),
    );
    print_figure(
        "Fjord, same manifests, to Synced and Healthy",
        format!("{:.2} s", fjord_fleet.as_secs_f64()),
    );
    print_figure(
        "API server CPU for both applies",
        format!(
            "{:.2} s",
            after.apiserver.cpu_seconds - before.apiserver.cpu_seconds
        ),
    );
    Ok(())
}

/// Scenario 6: `fjord kustomize build` against `kubectl kustomize`, as processes, over the same
/// overlays; the outputs must be identical.
pub fn render(fjord: &Path, repo: &FleetRepo, overlays: usize) -> Result<()> {
    let count = overlays.min(repo.apps);
    let run = |program: &str, args: &[&str]| -> Result<(Duration, Vec<u8>)> {
        let start = Instant::now();
        let out = Command::new(program)
            .args(args)
            .output()
            .with_context(|| format!("running {program}"))?;
        let elapsed = start.elapsed();
        if !out.status.success() {
            bail!(
                "{program} {}: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok((elapsed, out.stdout))
    };
    let fjord_bin = fjord.display().to_string();
    let kubectl = kubectl();
    let (mut fjord_total, mut kubectl_total, mut in_process) =
        (Duration::ZERO, Duration::ZERO, Duration::ZERO);
    for i in 0..count {
        let dir = repo.work.join(app_path(i)).display().to_string();
        let (t_f, out_f) = run(&fjord_bin, &["kustomize", "build", &dir])?;
        let (t_k, out_k) = run(&kubectl, &["kustomize", &dir])?;
        if out_f != out_k {
            bail!("fjord kustomize build and kubectl kustomize disagree on {dir}");
        }
        let start = Instant::now();
        fjord_kustomize::build(
            &fjord_kustomize::DiskSource,
            &repo.work.join(app_path(i)),
            &fjord_kustomize::BuildOptions::default(),
        )?;
        in_process += start.elapsed();
        fjord_total += t_f;
        kubectl_total += t_k;
    }
    let per = |d: Duration| d.as_secs_f64() * 1000.0 / count as f64;
    print_heading(&format!(
        "Rendering {count} overlays (identical output checked)"
    ));
    print_figure(
        "fjord kustomize build (process)",
        format!("{:.1} ms per overlay", per(fjord_total)),
    );
    print_figure(
        "kubectl kustomize (process)",
        format!("{:.1} ms per overlay", per(kubectl_total)),
    );
    print_figure(
        "fjord-kustomize in-process",
        format!("{:.2} ms per overlay", per(in_process)),
    );
    print_figure(
        "kubectl / fjord (processes)",
        format!(
            "{:.1}x",
            kubectl_total.as_secs_f64() / fjord_total.as_secs_f64()
        ),
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readiness_needs_the_commit_sync_and_health() {
        let mut app: DynamicObject =
            serde_json::from_value(application("file:///r", 7, false)).unwrap();
        assert!(!ready_at(&app, "abc"));
        app.data["status"] = json!({"sync": {"status": "Synced", "revision": "abc"}, "health": {"status": "Healthy"}});
        assert!(ready_at(&app, "abc"));
        assert!(!ready_at(&app, "def"), "another commit");
        app.data["status"]["health"]["status"] = json!("Progressing");
        assert!(!ready_at(&app, "abc"));
        assert_eq!(
            application("file:///r", 7, false)["spec"]["destination"]["namespace"],
            "app-0007"
        );
        assert!(
            application("file:///r", 7, false)["metadata"]
                .get("annotations")
                .is_none()
        );
        assert_eq!(
            application("file:///r", 7, true)["metadata"]["annotations"]["argocd.argoproj.io/manifest-generate-paths"],
            "."
        );
    }
}
