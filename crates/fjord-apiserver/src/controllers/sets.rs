//! The StatefulSet and DaemonSet controllers, with real Pods on the one pretend node.
//!
//! Why Pods and not only status: a GitOps tool shows a StatefulSet's Pods in its resource tree,
//! `kubectl rollout status` and health checks read `currentRevision`/`updateRevision`, which only
//! mean something while old and new Pods coexist, and `kubectl logs`/`describe` users expect
//! `db-0`, `db-1`.
//!
//! - StatefulSet: Pods `<name>-<ordinal>` with the labels `controller-revision-hash`,
//!   `statefulset.kubernetes.io/pod-name` and `apps.kubernetes.io/pod-index`, hostname and
//!   subdomain (`serviceName`); `OrderedReady` creates them one at a time in ordinal order, each
//!   after its predecessors are Ready, and scales down from the highest ordinal; `Parallel` does
//!   all at once. A new template rolls out from the highest ordinal down, one Pod at a time,
//!   stopping at `rollingUpdate.partition`; `OnDelete` waits for the user. One PVC per
//!   `volumeClaimTemplates` entry and ordinal (`<claim>-<name>-<ordinal>`), kept when the set
//!   scales down (the default `Retain` policy). The decisions are [`plan_stateful_set`].
//! - DaemonSet: one Pod on the node when the template's `nodeSelector` matches the node's labels,
//!   replaced on a template change under `RollingUpdate` (the default).
//! - Both record one ControllerRevision per template (`<name>-<hash>`, numbered), so that
//!   `kubectl rollout history` lists them.

use serde_json::{Value, json};

use super::CONTROLLER_MANAGER;
use super::events::{EventRecord, Severity};
use super::runner::{Controllers, StepResult};
use super::workloads::{PodIdentity, controller_ref, int_at, omit_zero, owner_ref, template_hash};
use crate::object;
use crate::store::StoredObject;

/// The label that says which template revision a Pod runs.
const REVISION_LABEL: &str = "controller-revision-hash";

/// The labels of the pretend node (a DaemonSet's `nodeSelector` is matched against them).
const NODE_LABELS: &[(&str, &str)] = &[
    ("kubernetes.io/hostname", super::kubelet::NODE_NAME),
    ("kubernetes.io/os", "linux"),
    ("kubernetes.io/arch", "amd64"),
];

/// One of a StatefulSet's Pods, as the planner sees it.
#[derive(Debug, Clone)]
pub(super) struct SetPod {
    pub ordinal: usize,
    pub name: String,
    pub ready: bool,
    pub revision: String,
    pub deleting: bool,
}

/// What a StatefulSet's controller does next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum SetStep {
    Create(usize),
    Delete(String),
}

/// The StatefulSet's rollout rules.
#[derive(Debug, Clone)]
pub(super) struct SetPolicy {
    pub replicas: usize,
    /// `podManagementPolicy: Parallel`.
    pub parallel: bool,
    /// `updateStrategy.type: OnDelete`.
    pub on_delete: bool,
    /// `updateStrategy.rollingUpdate.partition`: ordinals below it keep the old revision.
    pub partition: usize,
}

/// The next steps of a StatefulSet with `pods`, towards `policy.replicas` Pods at
/// `update_revision`. Empty when there is nothing to do until a Pod changes.
pub(super) fn plan_stateful_set(
    policy: &SetPolicy,
    update_revision: &str,
    pods: &[SetPod],
) -> Vec<SetStep> {
    let at = |i: usize| pods.iter().find(|p| p.ordinal == i);
    let mut steps = Vec::new();
    for i in 0..policy.replicas {
        match at(i) {
            // The old Pod of this ordinal is still going: its name is not free yet.
            Some(p) if p.deleting => {
                if !policy.parallel {
                    return steps;
                }
            }
            Some(p) => {
                if !p.ready && !policy.parallel {
                    return steps;
                }
            }
            None => {
                steps.push(SetStep::Create(i));
                if !policy.parallel {
                    return steps;
                }
            }
        }
    }
    if !steps.is_empty() {
        return steps;
    }
    let mut condemned: Vec<&SetPod> = pods
        .iter()
        .filter(|p| p.ordinal >= policy.replicas && !p.deleting)
        .collect();
    condemned.sort_by_key(|p| std::cmp::Reverse(p.ordinal));
    if !condemned.is_empty() {
        // OrderedReady waits for the previous deletion to finish.
        if !policy.parallel && pods.iter().any(|p| p.deleting) {
            return steps;
        }
        let take = if policy.parallel { condemned.len() } else { 1 };
        return condemned
            .into_iter()
            .take(take)
            .map(|p| SetStep::Delete(p.name.clone()))
            .collect();
    }
    if policy.on_delete || pods.iter().any(|p| p.deleting || !p.ready) {
        return steps;
    }
    // Rolling update: the highest ordinal still on an old revision, one at a time.
    (policy.partition..policy.replicas)
        .rev()
        .filter_map(at)
        .find(|p| p.revision != update_revision)
        .map(|p| vec![SetStep::Delete(p.name.clone())])
        .unwrap_or_default()
}

/// The ordinal in a StatefulSet Pod's name (`<set>-<ordinal>`).
fn ordinal_of(set: &str, pod: &str) -> Option<usize> {
    pod.strip_prefix(set)?.strip_prefix('-')?.parse().ok()
}

/// Whether a pod template's `nodeSelector` matches the pretend node.
fn fits_node(template: &Value) -> bool {
    template
        .pointer("/spec/nodeSelector")
        .and_then(Value::as_object)
        .is_none_or(|sel| {
            sel.iter().all(|(k, v)| {
                NODE_LABELS
                    .iter()
                    .any(|(nk, nv)| nk == k && Some(*nv) == v.as_str())
            })
        })
}

fn label<'a>(obj: &'a Value, key: &str) -> &'a str {
    object::meta(obj)
        .and_then(|m| m.get("labels"))
        .and_then(|l| l.get(key))
        .and_then(Value::as_str)
        .unwrap_or("")
}

impl Controllers {
    /// The live (not deleting and deleting) Pods `set` controls.
    fn set_pods(&self, set: &Value) -> Vec<StoredObject> {
        let ns = object::meta_str(set, "namespace").unwrap_or("");
        self.owned(set, &format!("/pods/{ns}/"))
    }

    async fn delete_pod(&self, set: &Value, pod: &Value) -> StepResult {
        let Some(rt) = self.api.type_of_object(pod) else {
            return Ok(());
        };
        match self.api.controller_delete(&rt, pod, "Background").await {
            Err(e) if e.code != 404 => return Err(e),
            _ => {}
        }
        if set.get("kind") == Some(&json!("StatefulSet")) {
            let record = EventRecord {
                severity: Severity::Normal,
                reason: "SuccessfulDelete",
                message: format!(
                    "delete Pod {} in StatefulSet {} successful",
                    object::name(pod),
                    object::name(set)
                ),
                component: "statefulset-controller",
            };
            self.api.record_event(set, record).await;
        }
        Ok(())
    }

    /// Records the ControllerRevision of `set`'s current template, numbered after the
    /// existing ones, unless it exists.
    async fn ensure_revision(&self, set: &Value, name: &str) -> StepResult {
        let ns = object::meta_str(set, "namespace").unwrap_or("");
        let existing = self.owned(set, &format!("apps/controllerrevisions/{ns}/"));
        if existing.iter().any(|r| object::name(&r.value) == name) {
            return Ok(());
        }
        let Some(rt) = self.api.type_of("apps/v1", "ControllerRevision") else {
            return Ok(());
        };
        let number = existing
            .iter()
            .filter_map(|r| int_at(&r.value, "/revision"))
            .max()
            .unwrap_or(0)
            + 1;
        let kind = set.get("kind").and_then(Value::as_str).unwrap_or("");
        let mut labels = set
            .pointer("/spec/template/metadata/labels")
            .cloned()
            .unwrap_or(json!({}));
        labels["controller.kubernetes.io/hash"] = json!(name.rsplit('-').next().unwrap_or(name));
        let revision = json!({
            "apiVersion": "apps/v1", "kind": "ControllerRevision",
            "metadata": {"name": name, "namespace": ns, "labels": labels,
                         "ownerReferences": [owner_ref(set, "apps/v1", kind)]},
            "data": {"spec": {"template": set.pointer("/spec/template").cloned().unwrap_or(json!({}))}},
            "revision": number,
        });
        match self
            .api
            .controller_create(&rt, revision, CONTROLLER_MANAGER)
            .await
        {
            Err(e) if e.code == 409 => Ok(()),
            other => other,
        }
    }

    /// The PVCs of ordinal `i` from `volumeClaimTemplates`, created when missing.
    async fn ensure_claims(&self, set: &Value, ordinal: usize) -> StepResult {
        let Some(templates) = set
            .pointer("/spec/volumeClaimTemplates")
            .and_then(Value::as_array)
        else {
            return Ok(());
        };
        let Some(rt) = self.api.type_of("v1", "PersistentVolumeClaim") else {
            return Ok(());
        };
        let ns = object::meta_str(set, "namespace").unwrap_or("");
        for t in templates {
            let claim = format!("{}-{}-{ordinal}", object::name(t), object::name(set));
            if self
                .api
                .store
                .get(&format!("/persistentvolumeclaims/{ns}/{claim}"))
                .is_some()
            {
                continue;
            }
            let mut meta = t.get("metadata").cloned().unwrap_or(json!({}));
            meta["name"] = json!(claim);
            meta["namespace"] = json!(ns);
            let selector_labels = set
                .pointer("/spec/selector/matchLabels")
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default();
            for (k, v) in selector_labels {
                meta["labels"][k] = v;
            }
            let pvc = json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                             "metadata": meta, "spec": t.get("spec").cloned().unwrap_or(json!({}))});
            match self
                .api
                .controller_create(&rt, pvc, CONTROLLER_MANAGER)
                .await
            {
                Err(e) if e.code == 409 => {}
                other => other?,
            }
        }
        Ok(())
    }

    /// StatefulSet: ordered Pods, rolling updates and the status.
    pub(super) async fn stateful_set(&mut self, key: &str) -> StepResult {
        let Some(stored) = self.api.store.get(key) else {
            return Ok(());
        };
        let s = stored.value.clone();
        if object::is_deleting(&s) {
            return Ok(());
        }
        let name = object::name(&s).to_string();
        let update_revision = format!(
            "{name}-{}",
            template_hash(s.pointer("/spec/template").unwrap_or(&Value::Null))
        );
        self.ensure_revision(&s, &update_revision).await?;
        let stored_pods = self.set_pods(&s);
        let pods: Vec<SetPod> = stored_pods
            .iter()
            .filter_map(|p| {
                Some(SetPod {
                    ordinal: ordinal_of(&name, object::name(&p.value))?,
                    name: object::name(&p.value).to_string(),
                    ready: super::kubelet::is_ready(&p.value),
                    revision: label(&p.value, REVISION_LABEL).to_string(),
                    deleting: object::is_deleting(&p.value),
                })
            })
            .collect();
        let policy = SetPolicy {
            replicas: int_at(&s, "/spec/replicas").unwrap_or(1).max(0) as usize,
            parallel: s.pointer("/spec/podManagementPolicy") == Some(&json!("Parallel")),
            on_delete: s.pointer("/spec/updateStrategy/type") == Some(&json!("OnDelete")),
            partition: int_at(&s, "/spec/updateStrategy/rollingUpdate/partition")
                .unwrap_or(0)
                .max(0) as usize,
        };
        for step in plan_stateful_set(&policy, &update_revision, &pods) {
            match step {
                SetStep::Create(i) => {
                    self.ensure_claims(&s, i).await?;
                    let pod_name = format!("{name}-{i}");
                    let identity = PodIdentity {
                        name: pod_name.clone(),
                        generate_name: false,
                        labels: vec![
                            (REVISION_LABEL.into(), update_revision.clone()),
                            (
                                "statefulset.kubernetes.io/pod-name".into(),
                                pod_name.clone(),
                            ),
                            ("apps.kubernetes.io/pod-index".into(), i.to_string()),
                        ],
                        hostname: Some((
                            pod_name,
                            s.pointer("/spec/serviceName")
                                .and_then(Value::as_str)
                                .unwrap_or("")
                                .to_string(),
                        )),
                    };
                    self.create_pod_as(&s, "apps/v1", "StatefulSet", identity)
                        .await?;
                }
                SetStep::Delete(pod) => {
                    if let Some(p) = stored_pods.iter().find(|p| object::name(&p.value) == pod) {
                        self.delete_pod(&s, &p.value).await?;
                    }
                }
            }
        }
        let live: Vec<&SetPod> = pods.iter().filter(|p| !p.deleting).collect();
        let ready = live.iter().filter(|p| p.ready).count();
        let updated = live
            .iter()
            .filter(|p| p.revision == update_revision)
            .count();
        // The current revision catches up once every Pod runs the update.
        let previous_current = s
            .pointer("/status/currentRevision")
            .and_then(Value::as_str)
            .filter(|r| !r.is_empty());
        let current_revision = match previous_current {
            Some(prev) if updated < policy.replicas || live.len() != updated => prev.to_string(),
            _ => update_revision.clone(),
        };
        let current = live
            .iter()
            .filter(|p| p.revision == current_revision)
            .count();
        let mut status = json!({
            "observedGeneration": int_at(&s, "/metadata/generation").unwrap_or(1),
            "replicas": live.len(),
            "readyReplicas": ready,
            "currentReplicas": current,
            "updatedReplicas": updated,
            "availableReplicas": ready,
            "currentRevision": current_revision,
            "updateRevision": update_revision,
            "collisionCount": 0,
        });
        if let Some(m) = status.as_object_mut() {
            omit_zero(m, &["readyReplicas", "currentReplicas", "updatedReplicas"]);
        }
        self.write_status(&stored, status, CONTROLLER_MANAGER).await
    }

    /// DaemonSet: one Pod on the pretend node (when it fits), replaced on a template change.
    pub(super) async fn daemon_set(&mut self, key: &str) -> StepResult {
        let Some(stored) = self.api.store.get(key) else {
            return Ok(());
        };
        let s = stored.value.clone();
        if object::is_deleting(&s) {
            return Ok(());
        }
        let name = object::name(&s).to_string();
        let generation = int_at(&s, "/metadata/generation").unwrap_or(1);
        let template = s.pointer("/spec/template").cloned().unwrap_or(Value::Null);
        let hash = template_hash(&template);
        self.ensure_revision(&s, &format!("{name}-{hash}")).await?;
        let desired = usize::from(fits_node(&template));
        let pods = self.set_pods(&s);
        let live: Vec<&StoredObject> = pods
            .iter()
            .filter(|p| !object::is_deleting(&p.value))
            .collect();
        let rolling = s.pointer("/spec/updateStrategy/type") != Some(&json!("OnDelete"));
        if desired == 0 || live.len() > 1 {
            // Off the node, or one Pod too many: the extra ones go.
            for p in live.iter().skip(desired) {
                self.delete_pod(&s, &p.value).await?;
            }
        } else if live.is_empty() {
            if pods.is_empty() {
                let identity = PodIdentity {
                    name: format!("{name}-{}", &uuid::Uuid::new_v4().simple().to_string()[..5]),
                    labels: vec![
                        (REVISION_LABEL.into(), hash.clone()),
                        ("pod-template-generation".into(), generation.to_string()),
                    ],
                    ..PodIdentity::default()
                };
                self.create_pod_as(&s, "apps/v1", "DaemonSet", identity)
                    .await?;
            }
        } else if rolling && label(&live[0].value, REVISION_LABEL) != hash {
            self.delete_pod(&s, &live[0].value).await?;
        }
        let ready = live
            .iter()
            .filter(|p| super::kubelet::is_ready(&p.value))
            .count()
            .min(desired);
        let updated = live
            .iter()
            .filter(|p| label(&p.value, REVISION_LABEL) == hash)
            .count()
            .min(desired);
        let mut status = json!({
            "currentNumberScheduled": live.len().min(desired),
            "numberMisscheduled": live.len().saturating_sub(desired),
            "desiredNumberScheduled": desired,
            "numberReady": ready,
            "observedGeneration": generation,
            "updatedNumberScheduled": updated,
            "numberAvailable": ready,
            "numberUnavailable": desired - ready,
        });
        if let Some(m) = status.as_object_mut() {
            omit_zero(
                m,
                &[
                    "numberAvailable",
                    "numberUnavailable",
                    "updatedNumberScheduled",
                ],
            );
        }
        self.write_status(&stored, status, CONTROLLER_MANAGER).await
    }
}

/// Whether `pod` is controlled by a StatefulSet or DaemonSet (the runner re-queues the set
/// when one of its Pods changes).
pub(super) fn set_owner(pod: &Value) -> Option<(&'static str, String)> {
    let owner = controller_ref(pod)?;
    let name = owner.get("name").and_then(Value::as_str)?.to_string();
    match owner.get("kind").and_then(Value::as_str)? {
        "StatefulSet" => Some(("apps/statefulsets/", name)),
        "DaemonSet" => Some(("apps/daemonsets/", name)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(ordinal: usize, ready: bool, revision: &str) -> SetPod {
        SetPod {
            ordinal,
            name: format!("db-{ordinal}"),
            ready,
            revision: revision.into(),
            deleting: false,
        }
    }

    fn policy(replicas: usize) -> SetPolicy {
        SetPolicy {
            replicas,
            parallel: false,
            on_delete: false,
            partition: 0,
        }
    }

    #[test]
    fn ordered_ready_creates_one_pod_after_its_predecessors_are_ready() {
        let p = policy(3);
        assert_eq!(plan_stateful_set(&p, "r1", &[]), vec![SetStep::Create(0)]);
        assert!(plan_stateful_set(&p, "r1", &[pod(0, false, "r1")]).is_empty());
        assert_eq!(
            plan_stateful_set(&p, "r1", &[pod(0, true, "r1")]),
            vec![SetStep::Create(1)]
        );
    }

    #[test]
    fn parallel_creates_every_missing_pod_at_once() {
        let p = SetPolicy {
            parallel: true,
            ..policy(3)
        };
        assert_eq!(
            plan_stateful_set(&p, "r1", &[pod(1, false, "r1")]),
            vec![SetStep::Create(0), SetStep::Create(2)]
        );
    }

    #[test]
    fn scale_down_removes_the_highest_ordinal_first_and_waits_for_it() {
        let pods = [pod(0, true, "r1"), pod(1, true, "r1"), pod(2, true, "r1")];
        assert_eq!(
            plan_stateful_set(&policy(1), "r1", &pods),
            vec![SetStep::Delete("db-2".into())]
        );
        let mut going = pods.clone();
        going[2].deleting = true;
        assert!(plan_stateful_set(&policy(1), "r1", &going).is_empty());
    }

    #[test]
    fn rolling_update_goes_from_the_highest_ordinal_down_and_respects_the_partition() {
        let pods = [pod(0, true, "r1"), pod(1, true, "r1"), pod(2, true, "r2")];
        assert_eq!(
            plan_stateful_set(&policy(3), "r2", &pods),
            vec![SetStep::Delete("db-1".into())]
        );
        let partitioned = SetPolicy {
            partition: 1,
            ..policy(3)
        };
        let mut rolled = pods.clone();
        rolled[1].revision = "r2".into();
        assert!(plan_stateful_set(&partitioned, "r2", &rolled).is_empty());
        // One Pod at a time: nothing while one is not Ready.
        let mut waiting = rolled.clone();
        waiting[1].ready = false;
        assert!(plan_stateful_set(&policy(3), "r2", &waiting).is_empty());
        let on_delete = SetPolicy {
            on_delete: true,
            ..policy(3)
        };
        assert!(plan_stateful_set(&on_delete, "r2", &pods).is_empty());
    }

    #[test]
    fn a_terminating_pod_blocks_its_ordinal() {
        let mut old = pod(0, true, "r1");
        old.deleting = true;
        assert!(plan_stateful_set(&policy(2), "r2", &[old]).is_empty());
    }

    #[test]
    fn ordinals_and_node_selectors() {
        assert_eq!(ordinal_of("db", "db-12"), Some(12));
        assert_eq!(ordinal_of("db", "dbx-1"), None);
        assert_eq!(ordinal_of("db", "db-a"), None);
        assert!(fits_node(&json!({"spec": {}})));
        assert!(fits_node(
            &json!({"spec": {"nodeSelector": {"kubernetes.io/os": "linux"}}})
        ));
        assert!(!fits_node(
            &json!({"spec": {"nodeSelector": {"kubernetes.io/os": "windows"}}})
        ));
    }
}
