//! The config repository of a benchmark fleet: one base with the shape of Flux's benchmark app
//! (podinfo: a ServiceAccount, a Service, a Deployment scaled to 0 and an Ingress) and one
//! Kustomize overlay per Application that puts the base in the Application's own namespace.
//! A bare repository is the remote the controller fetches (`file://`), a work tree beside it is
//! where the harness commits.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

/// A generated fleet repository.
pub struct FleetRepo {
    /// The work tree the harness commits in.
    pub work: PathBuf,
    /// The bare repository the controller fetches.
    pub bare: PathBuf,
    /// Number of Applications (overlays).
    pub apps: usize,
}

/// The name of the `i`-th Application, its overlay directory's name and its namespace.
pub fn app_name(i: usize) -> String {
    format!("app-{i:04}")
}

/// The path of an Application's overlay inside the repository.
pub fn app_path(i: usize) -> String {
    format!("apps/{}", app_name(i))
}

const BASE_KUSTOMIZATION: &str = "apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
- serviceaccount.yaml
- service.yaml
- deployment.yaml
- ingress.yaml
";

const SERVICE_ACCOUNT: &str = "apiVersion: v1
kind: ServiceAccount
metadata:
  name: podinfo
";

const SERVICE: &str = "apiVersion: v1
kind: Service
metadata:
  name: podinfo
  labels:
    app.kubernetes.io/name: podinfo
spec:
  type: ClusterIP
  selector:
    app.kubernetes.io/name: podinfo
  ports:
  - name: http
    port: 9898
    targetPort: http
    protocol: TCP
  - name: grpc
    port: 9999
    targetPort: grpc
    protocol: TCP
";

const INGRESS: &str = "apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: podinfo
spec:
  ingressClassName: nginx
  rules:
  - host: podinfo.local
    http:
      paths:
      - path: /
        pathType: Prefix
        backend:
          service:
            name: podinfo
            port:
              name: http
";

/// The Deployment, scaled to 0 as in Flux's benchmark; `revision` goes into a pod template
/// annotation, so that changing it is a change every Application must roll out.
fn deployment(revision: usize) -> String {
    format!(
        "apiVersion: apps/v1
kind: Deployment
metadata:
  name: podinfo
  labels:
    app.kubernetes.io/name: podinfo
spec:
  replicas: 0
  selector:
    matchLabels:
      app.kubernetes.io/name: podinfo
  template:
    metadata:
      labels:
        app.kubernetes.io/name: podinfo
      annotations:
        prometheus.io/scrape: \"true\"
        prometheus.io/port: \"9797\"
        bench.fjord.dev/revision: \"{revision}\"
    spec:
      serviceAccountName: podinfo
      containers:
      - name: podinfo
        image: ghcr.io/stefanprodan/podinfo:6.9.0
        command:
        - ./podinfo
        - --port=9898
        - --port-metrics=9797
        - --grpc-port=9999
        - --level=info
        ports:
        - name: http
          containerPort: 9898
          protocol: TCP
        - name: http-metrics
          containerPort: 9797
          protocol: TCP
        - name: grpc
          containerPort: 9999
          protocol: TCP
        livenessProbe:
          httpGet:
            path: /healthz
            port: 9898
        readinessProbe:
          httpGet:
            path: /readyz
            port: 9898
        resources:
          limits:
            cpu: 2000m
            memory: 512Mi
          requests:
            cpu: 100m
            memory: 64Mi
"
    )
}

fn overlay(i: usize) -> String {
    format!(
        "apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
namespace: {}
resources:
- ../../base
",
        app_name(i)
    )
}

/// Runs git in `dir`, returning its trimmed standard output.
pub fn git(dir: &Path, args: &[&str]) -> Result<String> {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args([
            "-c",
            "user.name=fjord-bench",
            "-c",
            "user.email=bench@fjord.dev",
        ])
        .args(args)
        .output()
        .context("running git")?;
    if !out.status.success() {
        bail!(
            "git {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

fn write(path: &Path, text: &str) -> Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating {}", parent.display()))?;
    }
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}

impl FleetRepo {
    /// Writes the base and `apps` overlays under `dir`, commits and pushes them.
    pub fn create(dir: &Path, apps: usize) -> Result<FleetRepo> {
        let work = dir.join("work");
        let bare = dir.join("fleet.git");
        std::fs::create_dir_all(&bare)?;
        git(&bare, &["init", "-q", "--bare", "-b", "main"])?;
        write(&work.join("base/kustomization.yaml"), BASE_KUSTOMIZATION)?;
        write(&work.join("base/serviceaccount.yaml"), SERVICE_ACCOUNT)?;
        write(&work.join("base/service.yaml"), SERVICE)?;
        write(&work.join("base/deployment.yaml"), &deployment(0))?;
        write(&work.join("base/ingress.yaml"), INGRESS)?;
        for i in 0..apps {
            write(
                &work.join(app_path(i)).join("kustomization.yaml"),
                &overlay(i),
            )?;
        }
        git(&work, &["init", "-q", "-b", "main"])?;
        git(&work, &["add", "-A"])?;
        git(&work, &["commit", "-q", "-m", "fleet"])?;
        let repo = FleetRepo { work, bare, apps };
        repo.push()?;
        Ok(repo)
    }

    /// The URL the controller fetches.
    pub fn url(&self) -> String {
        format!("file://{}", self.bare.display())
    }

    /// Pushes the work tree's main; returns the commit.
    pub fn push(&self) -> Result<String> {
        git(
            &self.work,
            &["push", "-q", &self.bare.display().to_string(), "main"],
        )?;
        git(&self.work, &["rev-parse", "HEAD"])
    }

    /// Commits a change to the shared base (a new pod template annotation); returns the file
    /// changed, relative to the repository.
    pub fn commit_base_change(&self, revision: usize) -> Result<String> {
        let file = "base/deployment.yaml";
        write(&self.work.join(file), &deployment(revision))?;
        git(
            &self.work,
            &["commit", "-q", "-am", &format!("base revision {revision}")],
        )?;
        Ok(file.to_string())
    }

    /// Commits a change to one Application's overlay (an annotation on everything it renders);
    /// returns the file changed.
    pub fn commit_app_change(&self, i: usize, round: usize) -> Result<String> {
        let file = format!("{}/kustomization.yaml", app_path(i));
        let text = format!(
            "{}commonAnnotations:\n  bench.fjord.dev/round: \"{round}\"\n",
            overlay(i)
        );
        write(&self.work.join(&file), &text)?;
        git(
            &self.work,
            &[
                "commit",
                "-q",
                "-am",
                &format!("{} round {round}", app_name(i)),
            ],
        )?;
        Ok(file)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_overlay_renders_the_four_objects_in_its_namespace() {
        let dir = tempfile::tempdir().unwrap();
        let repo = FleetRepo::create(dir.path(), 3).unwrap();
        for i in 0..3 {
            let out = fjord_kustomize::build(
                &fjord_kustomize::DiskSource,
                &repo.work.join(app_path(i)),
                &fjord_kustomize::BuildOptions::default(),
            )
            .unwrap()
            .into_values();
            let kinds: Vec<(String, String)> = out
                .iter()
                .map(|o| {
                    (
                        o["kind"].as_str().unwrap().to_string(),
                        o["metadata"]["namespace"].as_str().unwrap().to_string(),
                    )
                })
                .collect();
            assert_eq!(kinds.len(), 4, "{kinds:?}");
            assert!(kinds.iter().all(|(_, ns)| *ns == app_name(i)), "{kinds:?}");
        }
        let before = repo.push().unwrap();
        repo.commit_base_change(1).unwrap();
        let after = repo.push().unwrap();
        assert_ne!(before, after);
        assert_eq!(git(&repo.bare, &["rev-parse", "main"]).unwrap(), after);
    }
}
