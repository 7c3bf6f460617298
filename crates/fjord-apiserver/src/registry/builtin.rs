//! The built-in kinds: names, short names and categories as a Kubernetes 1.33 apiserver lists them
//! in discovery, so that kubectl's RESTMapper, `kubectl get all` and short names behave the same.

use super::{Origin, ResourceType, ScalePaths};

struct Def {
    gv: &'static str,
    plural: &'static str,
    kind: &'static str,
    namespaced: bool,
    short: &'static [&'static str],
    all: bool,
    status: bool,
    scale: bool,
    generation: bool,
}

const fn def(
    gv: &'static str,
    plural: &'static str,
    kind: &'static str,
    namespaced: bool,
    short: &'static [&'static str],
) -> Def {
    Def {
        gv,
        plural,
        kind,
        namespaced,
        short,
        all: false,
        status: false,
        scale: false,
        generation: false,
    }
}

impl Def {
    const fn all(mut self) -> Def {
        self.all = true;
        self
    }
    const fn status(mut self) -> Def {
        self.status = true;
        self
    }
    const fn scale(mut self) -> Def {
        self.scale = true;
        self
    }
    const fn generation(mut self) -> Def {
        self.generation = true;
        self
    }
}

const NS: bool = true;
const CLUSTER: bool = false;

const DEFS: &[Def] = &[
    def("v1", "configmaps", "ConfigMap", NS, &["cm"]),
    def("v1", "events", "Event", NS, &["ev"]),
    def("v1", "endpoints", "Endpoints", NS, &["ep"]),
    def("v1", "limitranges", "LimitRange", NS, &["limits"]),
    def("v1", "namespaces", "Namespace", CLUSTER, &["ns"]).status(),
    def("v1", "nodes", "Node", CLUSTER, &["no"]).status(),
    def(
        "v1",
        "persistentvolumeclaims",
        "PersistentVolumeClaim",
        NS,
        &["pvc"],
    )
    .status(),
    def(
        "v1",
        "persistentvolumes",
        "PersistentVolume",
        CLUSTER,
        &["pv"],
    )
    .status(),
    def("v1", "pods", "Pod", NS, &["po"]).all().status(),
    def("v1", "resourcequotas", "ResourceQuota", NS, &["quota"]).status(),
    def("v1", "secrets", "Secret", NS, &[]),
    def("v1", "serviceaccounts", "ServiceAccount", NS, &["sa"]),
    def("v1", "services", "Service", NS, &["svc"])
        .all()
        .status(),
    def(
        "apps/v1",
        "controllerrevisions",
        "ControllerRevision",
        NS,
        &[],
    ),
    def("apps/v1", "daemonsets", "DaemonSet", NS, &["ds"])
        .all()
        .status()
        .generation(),
    def("apps/v1", "deployments", "Deployment", NS, &["deploy"])
        .all()
        .status()
        .scale()
        .generation(),
    def("apps/v1", "replicasets", "ReplicaSet", NS, &["rs"])
        .all()
        .status()
        .scale()
        .generation(),
    def("apps/v1", "statefulsets", "StatefulSet", NS, &["sts"])
        .all()
        .status()
        .scale()
        .generation(),
    def(
        "autoscaling/v2",
        "horizontalpodautoscalers",
        "HorizontalPodAutoscaler",
        NS,
        &["hpa"],
    )
    .all()
    .status()
    .generation(),
    def("batch/v1", "cronjobs", "CronJob", NS, &["cj"])
        .all()
        .status()
        .generation(),
    def("batch/v1", "jobs", "Job", NS, &[])
        .all()
        .status()
        .generation(),
    def("coordination.k8s.io/v1", "leases", "Lease", NS, &[]),
    def(
        "networking.k8s.io/v1",
        "ingressclasses",
        "IngressClass",
        CLUSTER,
        &[],
    )
    .generation(),
    def("networking.k8s.io/v1", "ingresses", "Ingress", NS, &["ing"])
        .status()
        .generation(),
    def(
        "networking.k8s.io/v1",
        "networkpolicies",
        "NetworkPolicy",
        NS,
        &["netpol"],
    )
    .generation(),
    def(
        "policy/v1",
        "poddisruptionbudgets",
        "PodDisruptionBudget",
        NS,
        &["pdb"],
    )
    .status()
    .generation(),
    def(
        "rbac.authorization.k8s.io/v1",
        "clusterrolebindings",
        "ClusterRoleBinding",
        CLUSTER,
        &[],
    ),
    def(
        "rbac.authorization.k8s.io/v1",
        "clusterroles",
        "ClusterRole",
        CLUSTER,
        &[],
    ),
    def(
        "rbac.authorization.k8s.io/v1",
        "rolebindings",
        "RoleBinding",
        NS,
        &[],
    ),
    def("rbac.authorization.k8s.io/v1", "roles", "Role", NS, &[]),
    def(
        "apiextensions.k8s.io/v1",
        "customresourcedefinitions",
        "CustomResourceDefinition",
        CLUSTER,
        &["crd", "crds"],
    )
    .status()
    .generation(),
    def(
        "scheduling.k8s.io/v1",
        "priorityclasses",
        "PriorityClass",
        CLUSTER,
        &["pc"],
    ),
    def(
        "storage.k8s.io/v1",
        "storageclasses",
        "StorageClass",
        CLUSTER,
        &["sc"],
    ),
];

pub(super) fn types() -> Vec<ResourceType> {
    DEFS.iter()
        .map(|d| {
            let (group, version) = match d.gv.split_once('/') {
                Some((g, v)) => (g.to_string(), v.to_string()),
                None => (String::new(), d.gv.to_string()),
            };
            ResourceType {
                group,
                version,
                plural: d.plural.to_string(),
                singular: d.kind.to_ascii_lowercase(),
                kind: d.kind.to_string(),
                namespaced: d.namespaced,
                short_names: d.short.iter().map(|s| s.to_string()).collect(),
                categories: if d.all {
                    vec!["all".to_string()]
                } else {
                    vec![]
                },
                status_subresource: d.status,
                scale: d.scale.then(|| ScalePaths {
                    spec_replicas: ".spec.replicas".into(),
                    status_replicas: ".status.replicas".into(),
                    label_selector: Some(".status.selector".into()),
                }),
                has_generation: d.generation,
                origin: Origin::Builtin,
            }
        })
        .collect()
}
