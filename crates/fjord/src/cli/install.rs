//! `fjord install`: the manifests a real cluster needs to run Fjord — the CRDs (Application,
//! AppProject, SealedSecret), a namespace, the controller's ServiceAccount and RBAC, its
//! Deployment, and the Service kubeseal reaches the Sealed Secrets endpoints through. Printed as one
//! YAML stream for `kubectl apply -f -`. With `--replicas N` > 1 the replicas shard the
//! Applications (`--sharding`, the pod name as replica id through the downward API, a Role for
//! Leases); the Sealed Secrets endpoints are then served by the elected leader only.

use clap::Args;

const APPLICATION_CRD: &str = include_str!("../../../fjord-engine/manifests/application-crd.yaml");
const APPPROJECT_CRD: &str = include_str!("../../../fjord-engine/manifests/appproject-crd.yaml");

#[derive(Debug, Args)]
pub struct InstallArgs {
    /// Namespace for Fjord (and, as in Argo CD, for Applications and AppProjects).
    #[arg(long, default_value = "argocd")]
    namespace: String,
    /// Container image of the fjord binary.
    #[arg(long, default_value = concat!("ghcr.io/fjord-gitops/fjord:", env!("CARGO_PKG_VERSION")))]
    image: String,
    /// Controller replicas; more than one shares the Applications between them (sharding by
    /// Lease, one elected leader for cluster-wide duties).
    #[arg(long, default_value_t = 1)]
    replicas: u32,
}

pub fn run(args: InstallArgs) -> anyhow::Result<()> {
    print!("{}", manifests(&args)?);
    Ok(())
}

fn manifests(args: &InstallArgs) -> anyhow::Result<String> {
    if let Err(cause) = fjord_apiserver::object::validate_name(
        &args.namespace,
        fjord_apiserver::object::NameRule::Label,
    ) {
        anyhow::bail!("--namespace: {}", cause.message);
    }
    if args.image.trim().is_empty() || args.image.contains(char::is_whitespace) {
        anyhow::bail!("--image {:?} is not a valid image reference", args.image);
    }
    let ns = &args.namespace;
    let image = &args.image;
    let replicas = args.replicas;
    if replicas == 0 {
        anyhow::bail!("--replicas must be at least 1");
    }
    // Several replicas shard the Applications; each needs its pod name as replica id. Only
    // the elected leader serves the Sealed Secrets endpoints, so readiness cannot be probed
    // there (followers would never become ready).
    let (shard_args, pod_env, probe) = if replicas > 1 {
        (
            "\n        - --sharding",
            "\n        env:\n        - name: POD_NAME\n          valueFrom:\n            fieldRef:\n              fieldPath: metadata.name",
            "",
        )
    } else {
        (
            "",
            "",
            "\n        readinessProbe:\n          httpGet:\n            path: /healthz\n            port: http",
        )
    };
    let mut out = String::new();
    for crd in [
        APPLICATION_CRD,
        APPPROJECT_CRD,
        fjord_sealed_controller::CRD_YAML,
    ] {
        out.push_str("---\n");
        out.push_str(crd.trim_start_matches("---\n"));
        if !crd.ends_with('\n') {
            out.push('\n');
        }
    }
    out.push_str(&format!(
        r#"---
apiVersion: v1
kind: Namespace
metadata:
  name: {ns}
---
apiVersion: v1
kind: ServiceAccount
metadata:
  name: fjord-controller
  namespace: {ns}
  labels:
    app.kubernetes.io/name: fjord-controller
    app.kubernetes.io/part-of: fjord
---
# Like Argo CD's application controller, Fjord applies and prunes any kind its Applications
# declare, so it needs every verb on every resource; AppProjects restrict what each team may do.
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: fjord-controller
  labels:
    app.kubernetes.io/part-of: fjord
rules:
- apiGroups: ["*"]
  resources: ["*"]
  verbs: ["*"]
- nonResourceURLs: ["*"]
  verbs: ["*"]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: fjord-controller
  labels:
    app.kubernetes.io/part-of: fjord
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: fjord-controller
subjects:
- kind: ServiceAccount
  name: fjord-controller
  namespace: {ns}
---
# Membership and leader election of the controller replicas (coordination.k8s.io Leases in
# Fjord's namespace), spelled out even though the ClusterRole above covers them.
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata:
  name: fjord-controller-leases
  namespace: {ns}
  labels:
    app.kubernetes.io/part-of: fjord
rules:
- apiGroups: ["coordination.k8s.io"]
  resources: ["leases"]
  verbs: ["get", "list", "watch", "create", "update", "patch", "delete"]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: fjord-controller-leases
  namespace: {ns}
  labels:
    app.kubernetes.io/part-of: fjord
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: Role
  name: fjord-controller-leases
subjects:
- kind: ServiceAccount
  name: fjord-controller
  namespace: {ns}
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: fjord-controller
  namespace: {ns}
  labels:
    app.kubernetes.io/name: fjord-controller
    app.kubernetes.io/part-of: fjord
spec:
  replicas: {replicas}
  selector:
    matchLabels:
      app.kubernetes.io/name: fjord-controller
  template:
    metadata:
      labels:
        app.kubernetes.io/name: fjord-controller
        app.kubernetes.io/part-of: fjord
    spec:
      serviceAccountName: fjord-controller
      containers:
      - name: controller
        image: {image}
        args:
        - controller
        - --namespace={ns}
        - --sealed-secrets-namespace={ns}
        - --sealed-secrets-listen=0.0.0.0:8080
        - --metrics-listen=0.0.0.0:8082{shard_args}{pod_env}
        ports:
        - name: http
          containerPort: 8080{probe}
        - name: metrics
          containerPort: 8082
        resources:
          requests:
            cpu: 100m
            memory: 64Mi
          limits:
            memory: 512Mi
        securityContext:
          allowPrivilegeEscalation: false
          readOnlyRootFilesystem: true
          runAsNonRoot: true
          capabilities:
            drop: ["ALL"]
---
# kubeseal reaches /v1/cert.pem, /v1/verify and /v1/rotate through this Service:
# kubeseal --controller-namespace {ns} --controller-name sealed-secrets-controller
apiVersion: v1
kind: Service
metadata:
  name: sealed-secrets-controller
  namespace: {ns}
  labels:
    app.kubernetes.io/part-of: fjord
spec:
  selector:
    app.kubernetes.io/name: fjord-controller
  ports:
  - name: http
    port: 8080
    targetPort: http
---
# Prometheus scrapes every replica's /metrics (Argo CD's names) through this Service, named as
# Argo CD's, so existing ServiceMonitors and dashboards find it.
apiVersion: v1
kind: Service
metadata:
  name: argocd-metrics
  namespace: {ns}
  labels:
    app.kubernetes.io/part-of: fjord
    app.kubernetes.io/component: metrics
spec:
  selector:
    app.kubernetes.io/name: fjord-controller
  ports:
  - name: metrics
    port: 8082
    targetPort: metrics
"#
    ));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(ns: &str) -> InstallArgs {
        InstallArgs {
            namespace: ns.into(),
            image: "example.com/fjord:1".into(),
            replicas: 3,
        }
    }

    #[test]
    fn output_names_the_options_and_holds_the_crds() {
        let text = manifests(&args("gitops")).unwrap();
        assert!(text.contains("name: applications.argoproj.io"));
        assert!(text.contains("name: appprojects.argoproj.io"));
        assert!(text.contains("name: sealedsecrets.bitnami.com"));
        assert!(text.contains("replicas: 3"));
        assert!(text.contains("image: example.com/fjord:1"));
        assert!(text.contains("- --namespace=gitops"));
        assert_eq!(text.matches("\n---\n").count() + 1, 12, "twelve documents");
        assert!(text.contains("- --metrics-listen=0.0.0.0:8082"));
        assert!(text.contains("name: argocd-metrics"));
    }

    #[test]
    fn several_replicas_shard_with_their_pod_names_and_lease_rbac() {
        let text = manifests(&args("gitops")).unwrap();
        assert!(text.contains("- --sharding"), "{text}");
        assert!(text.contains("- name: POD_NAME\n          valueFrom:\n            fieldRef:\n              fieldPath: metadata.name"), "{text}");
        assert!(text.contains("resources: [\"leases\"]"), "{text}");
        assert!(text.contains(
            "verbs: [\"get\", \"list\", \"watch\", \"create\", \"update\", \"patch\", \"delete\"]"
        ));
        assert!(text.contains("apiGroups: [\"coordination.k8s.io\"]"));
        assert!(
            !text.contains("readinessProbe"),
            "followers serve no endpoints"
        );
        let mut one = args("gitops");
        one.replicas = 1;
        let text = manifests(&one).unwrap();
        assert!(!text.contains("--sharding"), "one replica does not shard");
        assert!(!text.contains("POD_NAME"));
        assert!(text.contains("readinessProbe"));
        one.replicas = 0;
        assert!(manifests(&one).is_err());
    }

    #[test]
    fn bad_options_are_refused() {
        assert!(manifests(&args("Bad_NS")).is_err());
        let mut a = args("ok");
        a.image = "has space".into();
        assert!(manifests(&a).is_err());
    }
}
