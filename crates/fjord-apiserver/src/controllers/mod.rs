//! Simulated controllers, kwok-style: what kube-controller-manager and the kubelet do to objects,
//! enough that workloads become healthy and deletions complete.
//!
//! Why: a GitOps operator waits on `status` (observedGeneration, ready replicas, conditions) and on
//! deletions finishing; an API server without controllers never gets there (reference traps 7).
//!
//! - the garbage collector: ownerReferences with Background, Foreground (`foregroundDeletion`) and
//!   Orphan (`orphan`) propagation (`garbage_collector`);
//! - Deployment → ReplicaSet (`pod-template-hash`) → Pods (`deployments`, `workloads`),
//!   StatefulSet and DaemonSet → Pods on one pretend node, with ControllerRevisions (`sets`),
//!   Job → Pods (`jobs`), and the kubelet that runs Pods (`kubelet`);
//! - the `default` ServiceAccount of every namespace;
//! - storage and load balancers (`infrastructure`): PVCs get `Bound`, LoadBalancer Services and
//!   Ingresses an address.
//!
//! They write through the same path as clients (`Api` create/update/delete, so defaulting,
//! validation and managedFields apply), as manager `kube-controller-manager` (`kubelet` for Pod
//! status), status through the `status` subresource. They are event-driven: one task follows the
//! store's revision watch and the revision log, and sleeps until the next event or timer.
//!
//! The annotation [`SIMULATE_ANNOTATION`] `fjord.dev/simulate: fail` on a workload (or on its pod
//! template) makes it fail; see [`ControllerOptions`] for the timing.

mod client;
mod deployments;
mod events;
mod garbage_collector;
mod index;
mod infrastructure;
mod jobs;
mod kubelet;
mod runner;
mod sets;
mod workloads;

use std::sync::Arc;
use std::time::Duration;

use crate::rest::Api;

/// The annotation that makes a simulated workload fail (value `fail`), on the workload's
/// metadata or on its pod template's:
/// - Deployment: its pods run but never become Ready (`CrashLoopBackOff`); after
///   `failure_delay` the Deployment's `Progressing` condition turns False with reason
///   `ProgressDeadlineExceeded`, and `Available` stays False (`MinimumReplicasUnavailable`) when
///   fewer than the minimum replicas are available.
/// - ReplicaSet or Pod: its pods never become Ready (a Pod that runs to completion fails).
/// - Job: each of its Pods fails (`phase: Failed`, exit code 1) `ready_delay` after it appears and
///   is replaced, until `backoffLimit + 1` have failed; then the Job gets `failed: backoffLimit +
///   1` and the conditions `FailureTarget` and `Failed`, reason `BackoffLimitExceeded`.
/// - StatefulSet / DaemonSet: their Pods never become Ready, so ready counts stay 0.
pub const SIMULATE_ANNOTATION: &str = "fjord.dev/simulate";

/// The field manager of controller writes.
pub const CONTROLLER_MANAGER: &str = "kube-controller-manager";
/// The field manager of Pod status writes.
pub const KUBELET_MANAGER: &str = "kubelet";

/// What runs, and how fast simulated time passes.
#[derive(Debug, Clone)]
pub struct ControllerOptions {
    /// Run the simulated workload controllers, the kubelet, the ServiceAccount controller, the
    /// PVC binder and the load-balancer addresses.
    pub workloads: bool,
    /// Run the garbage collector (Foreground and Orphan deletions never finish without it).
    pub garbage_collector: bool,
    /// How long a new Pod (and a StatefulSet's or DaemonSet's pods) takes to become Ready.
    pub ready_delay: Duration,
    /// How long a Job's Pod runs before it succeeds.
    pub job_duration: Duration,
    /// How long until a failing Deployment is declared failed (its progress deadline,
    /// shortened).
    pub failure_delay: Duration,
}

impl Default for ControllerOptions {
    fn default() -> Self {
        ControllerOptions {
            workloads: true,
            garbage_collector: true,
            ready_delay: Duration::from_millis(200),
            job_duration: Duration::from_millis(500),
            failure_delay: Duration::from_secs(2),
        }
    }
}

impl ControllerOptions {
    /// Everything off: the server only stores what clients write.
    pub fn disabled() -> ControllerOptions {
        ControllerOptions {
            workloads: false,
            garbage_collector: false,
            ..ControllerOptions::default()
        }
    }
}

/// Starts the controllers; they stop when `shutdown` turns true.
pub(crate) fn spawn(
    api: Arc<Api>,
    options: ControllerOptions,
    shutdown: tokio::sync::watch::Receiver<bool>,
) {
    if !options.workloads && !options.garbage_collector {
        return;
    }
    tokio::spawn(runner::run(api, options, shutdown));
}
