//! `fjord up`: the whole product on one machine. Starts the embedded control plane (data in
//! `.fjord/`), installs Argo CD's CRDs, the `argocd` namespace and `default` AppProject,
//! turns the bundled example into a local Git repository, creates the seed Application
//! pointing at it, runs the controllers and waits until the Application is Synced and
//! Healthy, then serves until Ctrl-C.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Args;
use fjord_engine::types::{Application, HealthStatusCode, SyncStatusCode};
use kube::Api;
use kube::api::PostParams;

/// Where the repository sits relative to `--data-dir`.
const REPO_DIR: &str = "repos/infra-config";
const SEED: &str = "nordic-payment-gateway.yaml";

#[derive(Debug, Args)]
pub struct UpArgs {
    /// Directory for the cluster's data, the kubeconfig, the Git cache and the example repo.
    #[arg(long, default_value = ".fjord")]
    data_dir: PathBuf,
    /// Address of the API server.
    #[arg(long, default_value = "127.0.0.1:6443")]
    listen: std::net::SocketAddr,
    /// The bundled examples (default: ./examples, else the source tree's).
    #[arg(long)]
    examples: Option<PathBuf>,
    /// Namespace of Applications.
    #[arg(long, default_value = "argocd")]
    namespace: String,
    /// Address of the web UI and API.
    #[arg(long, default_value = "127.0.0.1:8080")]
    ui_listen: std::net::SocketAddr,
    /// Address of the controller's Prometheus metrics (`GET /metrics`); a busy port falls
    /// back to a free one.
    #[arg(long, default_value = "127.0.0.1:8082")]
    metrics_listen: std::net::SocketAddr,
}

fn examples_dir(arg: Option<&Path>) -> anyhow::Result<PathBuf> {
    let candidates: Vec<PathBuf> = match arg {
        Some(p) => vec![p.to_path_buf()],
        None => vec![
            PathBuf::from("examples"),
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples"),
        ],
    };
    for c in &candidates {
        if c.join(SEED).is_file() && c.join("infra-config").is_dir() {
            return std::fs::canonicalize(c).with_context(|| format!("resolving {}", c.display()));
        }
    }
    let tried: Vec<String> = candidates.iter().map(|c| c.display().to_string()).collect();
    bail!(
        "the bundled examples ({SEED} and infra-config/) were not found in {}; run from the Fjord source tree or pass --examples DIR",
        tried.join(" or ")
    )
}

fn git(dir: &Path, args: &[&str]) -> anyhow::Result<()> {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "fjord up")
        .env("GIT_AUTHOR_EMAIL", "fjord@localhost")
        .env("GIT_COMMITTER_NAME", "fjord up")
        .env("GIT_COMMITTER_EMAIL", "fjord@localhost")
        .output()
        .context("running git (is it installed?)")?;
    if !out.status.success() {
        bail!(
            "git {} in {}: {}",
            args.join(" "),
            dir.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

fn copy_dir(from: &Path, to: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(to).with_context(|| format!("creating {}", to.display()))?;
    for entry in std::fs::read_dir(from).with_context(|| format!("reading {}", from.display()))? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), &target)
                .with_context(|| format!("copying {}", entry.path().display()))?;
        }
    }
    Ok(())
}

/// Creates the local config repository from the example unless it exists; returns its URL.
pub fn ensure_example_repo(examples: &Path, repo: &Path) -> anyhow::Result<String> {
    if !repo.join(".git").exists() {
        copy_dir(&examples.join("infra-config"), repo)?;
        git(repo, &["init", "-q", "-b", "main"])?;
        git(repo, &["add", "-A"])?;
        git(
            repo,
            &[
                "commit",
                "-q",
                "-m",
                "infra-config from Fjord's bundled example",
            ],
        )?;
    }
    let abs =
        std::fs::canonicalize(repo).with_context(|| format!("resolving {}", repo.display()))?;
    Ok(format!("file://{}", abs.display()))
}

/// The seed Application with only `spec.source.repoURL` rewritten.
pub fn seed_application(examples: &Path, repo_url: &str) -> anyhow::Result<Application> {
    let path = examples.join(SEED);
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let mut app =
        Application::from_yaml(&text).with_context(|| format!("reading {}", path.display()))?;
    let Some(source) = app.spec.source.as_mut() else {
        bail!("{}: spec.source is missing", path.display());
    };
    source.repo_url = repo_url.to_string();
    Ok(app)
}

pub fn run(args: UpArgs) -> anyhow::Result<()> {
    let examples = examples_dir(args.examples.as_deref())?;
    std::fs::create_dir_all(&args.data_dir)
        .with_context(|| format!("creating {}", args.data_dir.display()))?;
    let repo_url = ensure_example_repo(&examples, &args.data_dir.join(REPO_DIR))?;
    let seed = seed_application(&examples, &repo_url)?;
    let kubeconfig = args.data_dir.join("kubeconfig");
    let mut config = fjord_apiserver::ServerConfig::new(args.listen);
    config.data_dir = Some(args.data_dir.join("cluster"));
    config.kubeconfig_path = Some(kubeconfig.clone());
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(async move {
        let server = fjord_apiserver::start(config)
            .await
            .context("starting the embedded control plane")?;
        eprintln!("control plane listening on {}", server.url);
        let client = super::kube_client::client(Some(&kubeconfig)).await?;
        fjord_engine::controller::install::install_crds(&client).await?;
        fjord_engine::controller::install::ensure_namespace_and_default_project(&client, &args.namespace)
            .await?;
        let apps: Api<Application> = Api::namespaced(client.clone(), &args.namespace);
        if apps.get_opt(seed.name()).await?.is_none() {
            let mut seed = seed;
            seed.metadata.namespace = Some(args.namespace.clone());
            apps.create(&PostParams::default(), &seed).await.context("creating the seed Application")?;
            eprintln!("created Application {}/{} from {repo_url}", args.namespace, seed.name());
        }
        let app_name = "nordic-payment-gateway".to_string();
        let app_config = fjord_engine::controller::ControllerConfig::new(
            &args.namespace,
            args.data_dir.join("git-cache"),
        );
        let metrics_at = super::metrics::serve_loopback(args.metrics_listen, app_config.metrics.clone()).await?;
        eprintln!("controller metrics on http://{metrics_at}/metrics");
        let mut sealed = fjord_sealed_controller::ControllerConfig::new("kube-system");
        // Any free loopback port, registered as kubeseal's default Service so that `fjord seal`
        // and kubeseal work against this cluster with no extra flag.
        sealed.listen = Some(std::net::SocketAddr::from(([127, 0, 0, 1], 0)));
        sealed.advertise_service = Some("sealed-secrets-controller".to_string());
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let controllers = tokio::spawn(super::controller::run_controllers(
            client.clone(),
            Some(app_config),
            Some(sealed),
            async move {
                let _ = stop_rx.await;
            },
        ));
        let kubeconfig_abs = std::fs::canonicalize(&kubeconfig).unwrap_or(kubeconfig.clone());
        let prepared = super::server::prepare(
            client.clone(),
            &args.namespace,
            &args.data_dir.join("server-git-cache"),
            false,
        )
        .await?;
        // The UI is a convenience here: a busy port must not stop the control plane.
        let ui = match tokio::net::TcpListener::bind(args.ui_listen).await {
            Ok(listener) => {
                eprintln!("web UI and API on http://{}", args.ui_listen);
                if prepared.admin_token_created {
                    eprintln!(
                        "admin token (shown once; kept in Secret {}/fjord-admin, key token): {}",
                        args.namespace, prepared.admin_token
                    );
                } else {
                    eprintln!(
                        "log in with the admin token in Secret {}/fjord-admin (key token)",
                        args.namespace
                    );
                }
                let router = prepared.router;
                Some(tokio::spawn(async move {
                    let _ = axum::serve(listener, router).await;
                }))
            }
            Err(e) => {
                eprintln!(
                    "web UI not started: listening on {}: {e} (choose another with --ui-listen)",
                    args.ui_listen
                );
                None
            }
        };
        tokio::select! {
            r = wait_synced_healthy(&apps, &app_name) => r?,
            _ = shutdown_signal() => {
                if let Some(ui) = &ui {
                    ui.abort();
                }
                let _ = stop_tx.send(());
                let _ = controllers.await;
                server.shutdown().await;
                return Ok(());
            }
        }
        eprintln!(
            "\nApplication {}/{app_name} is Synced and Healthy.\nPoint kubectl at the cluster:\n  export KUBECONFIG={}\n  kubectl get applications -n {}\n  kubectl get all -n payment-prod\nPush to {repo_url} to deploy a change. Ctrl-C stops.",
            args.namespace,
            kubeconfig_abs.display(),
            args.namespace,
        );
        if ui.is_some() {
            eprintln!(
                "Web UI: http://{} (log in with the admin token); CLI: fjord login --server http://{}",
                args.ui_listen, args.ui_listen
            );
        }
        shutdown_signal().await;
        eprintln!("shutting down");
        if let Some(ui) = &ui {
            ui.abort();
        }
        let _ = stop_tx.send(());
        let _ = controllers.await;
        server.shutdown().await;
        Ok(())
    })
}

/// Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        if let Ok(mut term) =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

/// Polls the Application, printing each new state, until it is Synced and Healthy.
async fn wait_synced_healthy(apps: &Api<Application>, name: &str) -> anyhow::Result<()> {
    let mut last = String::new();
    loop {
        let app = apps
            .get(name)
            .await
            .with_context(|| format!("reading Application {name}"))?;
        let status = app.status.unwrap_or_default();
        let sync = status.sync.as_ref().map(|s| s.status).unwrap_or_default();
        let health = status.health.as_ref().map(|h| h.status).unwrap_or_default();
        let conditions: Vec<String> = status
            .conditions
            .iter()
            .map(|c| format!("{}: {}", c.condition_type, c.message))
            .collect();
        let line = format!(
            "{name}: sync {sync:?}, health {health:?}{}",
            if conditions.is_empty() {
                String::new()
            } else {
                format!(" ({})", conditions.join("; "))
            }
        );
        if line != last {
            eprintln!("{line}");
            last = line;
        }
        if sync == SyncStatusCode::Synced && health == HealthStatusCode::Healthy {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_example_becomes_a_repository_and_the_seed_points_at_it() {
        let examples = examples_dir(None).expect("the source tree's examples");
        let dir = tempfile::tempdir().unwrap();
        let repo = dir.path().join("repos/infra-config");
        let url = ensure_example_repo(&examples, &repo).unwrap();
        assert!(url.starts_with("file:///"));
        assert!(
            repo.join("k8s/overlays/production/kustomization.yaml")
                .is_file()
        );
        let head = std::fs::read_to_string(repo.join(".git/HEAD")).unwrap();
        assert!(head.contains("refs/heads/main"), "{head}");
        // A second run keeps the existing repository (and its history).
        std::fs::write(repo.join("marker"), "x").unwrap();
        assert_eq!(ensure_example_repo(&examples, &repo).unwrap(), url);
        assert!(repo.join("marker").exists());
        let app = seed_application(&examples, &url).unwrap();
        let source = app.spec.source.as_ref().unwrap();
        assert_eq!(source.repo_url, url);
        assert_eq!(source.path.as_deref(), Some("k8s/overlays/production"));
        assert_eq!(
            app.spec.destination.namespace.as_deref(),
            Some("payment-prod")
        );
        assert!(app.spec.sync_policy.as_ref().unwrap().is_automated());
    }

    #[test]
    fn missing_examples_fail_clearly() {
        let dir = tempfile::tempdir().unwrap();
        let err = examples_dir(Some(dir.path())).unwrap_err().to_string();
        assert!(err.contains("--examples"), "{err}");
    }
}
