//! The bundled example (`examples/`): the seed Application and the config repo it points at.

use std::path::Path;
use std::process::Command;

fn repo_root() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

/// The production overlay renders with Fjord's native kustomize exactly as kubectl's kustomize
/// renders it.
#[test]
fn production_overlay_renders_like_kubectl() {
    let overlay = repo_root().join("examples/infra-config/k8s/overlays/production");
    let ours = Command::new(env!("CARGO_BIN_EXE_fjord"))
        .args(["kustomize", "build"])
        .arg(&overlay)
        .output()
        .expect("fjord runs");
    assert!(
        ours.status.success(),
        "{}",
        String::from_utf8_lossy(&ours.stderr)
    );
    let text = String::from_utf8(ours.stdout).expect("UTF-8");
    for want in [
        "kind: Deployment",
        "image: ghcr.io/my-org/payment-gateway:1.4.2",
        "namespace: payment-prod",
        "replicas: 3",
        "memory: 512Mi",
        "LOG_LEVEL: warn",
    ] {
        assert!(
            text.contains(want),
            "the overlay output lacks {want:?}:\n{text}"
        );
    }
    let kubectl = Path::new("/usr/bin/kubectl");
    if !kubectl.exists() {
        eprintln!("SKIPPED the comparison with kubectl kustomize: kubectl is not installed");
        return;
    }
    let theirs = Command::new(kubectl)
        .arg("kustomize")
        .arg(&overlay)
        .output()
        .expect("kubectl runs");
    assert!(theirs.status.success());
    assert_eq!(text, String::from_utf8_lossy(&theirs.stdout));
}

/// The seed manifest is kept verbatim.
#[test]
fn seed_application_is_verbatim() {
    let seed = std::fs::read_to_string(repo_root().join("examples/nordic-payment-gateway.yaml"))
        .expect("the seed manifest exists");
    for want in [
        "name: nordic-payment-gateway",
        "namespace: argocd",
        "repoURL: git@github.com:my-org/infra-config.git",
        "targetRevision: HEAD",
        "path: k8s/overlays/production",
        "server: https://kubernetes.default.svc",
        "namespace: payment-prod",
        "prune: true",
        "selfHeal: true",
        "- CreateNamespace=true",
    ] {
        assert!(seed.contains(want), "{want}");
    }
}
