//! The sync operation, one step-wise run per reconcile: create the destination namespace
//! when asked, then run the operation's tasks — hooks, applies and prunes — one (phase,
//! wave) step at a time as `plan::tasks` decides, until it has to wait (a hook running, an
//! object not healthy yet, a prune waiting for confirmation), fails (after the SyncFail
//! hooks) or succeeds.
//!
//! The operation's recorded results are its state: a task with a result is not run again,
//! so the next reconcile (or a restarted controller) resumes where this one stopped.

use super::Context;
use super::clusters::Cluster;
use super::hooks::{self, Hook};
use super::live::Kind;
use super::write;
use crate::diff::{DiffKind, IgnoreRules, ResourceDiff};
use crate::health::assess;
use crate::plan::hooks::{HookPhase, hook_phase};
use crate::plan::respect::respect_ignored;
use crate::plan::tasks::{
    NextStep, TaskKind, TaskState, TaskView, WaveInput, next_step, prune_waves,
};
use crate::plan::{SyncPhase, kind_rank, sync_wave};
use crate::resource::{
    ANNOTATION_TRACKING_ID, FIELD_MANAGER, ResourceKey, annotation, parse_tracking_id,
};
use crate::sync_options::{PruneMode, SyncOptions};
use crate::types::{
    HealthStatusCode, OperationPhase, ResourceResult, ResultCode, SyncOperationResource,
};
use k8s_openapi::api::core::v1::Namespace;
use kube::Api;
use kube::api::{Patch, PatchParams};
use serde_json::{Value, json};

/// One object of the Application: its kind, both sides and their comparison.
pub(crate) struct Item {
    pub key: ResourceKey,
    pub kind: Kind,
    pub desired: Option<Value>,
    pub live: Option<Value>,
    pub diff: ResourceDiff,
}

/// What the sync asks for.
pub(crate) struct SyncRequest<'a> {
    /// Namespace to create first (`CreateNamespace=true`).
    pub create_namespace: Option<&'a str>,
    /// Prune was requested (`automated.prune` or the operation's `prune`).
    pub prune: bool,
    /// The Application's and the operation's sync options.
    pub options: &'a SyncOptions,
    /// Results recorded by earlier steps of this operation (empty for a new one).
    pub prior: &'a [ResourceResult],
    /// `argocd.argoproj.io/deletion-approved` is at or after the operation's start.
    pub prune_confirmed: bool,
    /// The Application's instance name in tracking ids.
    pub app_instance: &'a str,
    /// The Application's ignore rules (for `RespectIgnoreDifferences`).
    pub ignore: &'a IgnoreRules,
    /// `operation.sync.dryRun`: the server validates every write, nothing changes.
    pub dry_run: bool,
    /// `operation.sync.resources` (selective sync): only these objects; empty means all.
    pub only: &'a [SyncOperationResource],
    /// The destination cluster (`Context::cluster_for`): its client, kinds and watches.
    pub cluster: &'a Cluster,
}

/// True when selective sync `only` names `key` (an entry without namespace matches any).
fn selected(only: &[SyncOperationResource], key: &ResourceKey) -> bool {
    only.is_empty()
        || only.iter().any(|r| {
            r.group == key.group
                && r.kind == key.kind
                && r.name == key.name
                && r.namespace.as_deref().is_none_or(|n| n == key.namespace)
        })
}

/// The result of a sync step.
pub(crate) struct SyncOutcome {
    pub phase: OperationPhase,
    pub message: String,
    pub results: Vec<ResourceResult>,
}

/// `kind/name` or `kind.group/name`, as kubectl prints it.
pub(crate) fn describe(key: &ResourceKey) -> String {
    let kind = key.kind.to_lowercase();
    if key.group.is_empty() {
        format!("{kind}/{}", key.name)
    } else {
        format!("{kind}.{}/{}", key.group, key.name)
    }
}

fn phase_name(phase: SyncPhase) -> String {
    format!("{phase:?}")
}

fn version_of(obj: Option<&Value>) -> String {
    obj.and_then(|o| o.get("apiVersion"))
        .and_then(Value::as_str)
        .unwrap_or("")
        .rsplit('/')
        .next()
        .unwrap_or("")
        .to_string()
}

fn result_for(key: &ResourceKey, obj: Option<&Value>, phase: SyncPhase) -> ResourceResult {
    ResourceResult {
        group: key.group.clone(),
        version: version_of(obj),
        kind: key.kind.clone(),
        namespace: key.namespace.clone(),
        name: key.name.clone(),
        sync_phase: Some(phase_name(phase)),
        ..Default::default()
    }
}

fn find_result(results: &[ResourceResult], key: &ResourceKey, phase: SyncPhase) -> Option<usize> {
    let phase = phase_name(phase);
    results.iter().position(|r| {
        r.group == key.group
            && r.kind == key.kind
            && r.namespace == key.namespace
            && r.name == key.name
            && r.sync_phase.as_deref().unwrap_or("Sync") == phase
    })
}

async fn ensure_namespace(client: &kube::Client, name: &str) -> Result<(), String> {
    let api: Api<Namespace> = Api::all(client.clone());
    match api.get_opt(name).await {
        Ok(Some(_)) => return Ok(()),
        Ok(None) => {}
        Err(e) => return Err(format!("reading namespace {name}: {e}")),
    }
    let ns = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}});
    api.patch(
        name,
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(&ns),
    )
    .await
    .map(|_| tracing::info!(namespace = name, "created namespace"))
    .map_err(|e| format!("creating namespace {name}: {e}"))
}

#[derive(Clone, Copy)]
enum Target {
    Hook(usize),
    Apply(usize),
    Prune(usize),
}

struct Task {
    target: Target,
    phase: SyncPhase,
    wave: i64,
    rank: usize,
    name: String,
    state: TaskState,
}

fn healthy(live: Option<&Value>) -> bool {
    live.is_some_and(|l| assess(l).is_none_or(|h| h.status == HealthStatusCode::Healthy))
}

/// The tasks of the operation, in apply order.
fn build_tasks(
    items: &[Item],
    hooks: &[Hook],
    options: &SyncOptions,
    only: &[SyncOperationResource],
) -> Vec<Task> {
    let mut tasks = Vec::new();
    for (i, h) in hooks.iter().enumerate() {
        tasks.push(Task {
            target: Target::Hook(i),
            phase: h.phase,
            wave: h.wave,
            rank: kind_rank(&h.key.kind),
            name: h.key.name.clone(),
            state: TaskState::Pending,
        });
    }
    let mut waves = Vec::new();
    let mut item_tasks = Vec::new();
    for (i, it) in items.iter().enumerate() {
        if !selected(only, &it.key) {
            continue;
        }
        match (&it.desired, &it.live) {
            (Some(d), _) => {
                if options.apply_out_of_sync_only && it.diff.kind == DiffKind::Unchanged {
                    continue;
                }
                waves.push(WaveInput {
                    phase: SyncPhase::Sync,
                    wave: sync_wave(d),
                    prune: false,
                    prune_last: false,
                });
                item_tasks.push(Target::Apply(i));
            }
            (None, Some(l)) => {
                waves.push(WaveInput {
                    phase: SyncPhase::Sync,
                    wave: sync_wave(l),
                    prune: true,
                    prune_last: options.for_object(l).prune_last,
                });
                item_tasks.push(Target::Prune(i));
            }
            (None, None) => {}
        }
    }
    for h in hooks {
        waves.push(WaveInput {
            phase: h.phase,
            wave: h.wave,
            prune: false,
            prune_last: false,
        });
    }
    let effective = prune_waves(&waves);
    for (target, wave) in item_tasks.into_iter().zip(effective) {
        let (Target::Apply(i) | Target::Prune(i)) = target else {
            continue;
        };
        let rank = kind_rank(&items[i].key.kind);
        tasks.push(Task {
            target,
            phase: SyncPhase::Sync,
            wave,
            // Prunes delete dependents before what they need.
            rank: if matches!(target, Target::Prune(_)) {
                usize::MAX - rank
            } else {
                rank
            },
            name: items[i].key.name.clone(),
            state: TaskState::Pending,
        });
    }
    tasks.sort_by(|a, b| {
        (a.phase, a.wave, a.rank, &a.name).cmp(&(b.phase, b.wave, b.rank, &b.name))
    });
    tasks
}

/// The key and object of a task's target.
fn target_key<'a>(
    t: Target,
    items: &'a [Item],
    hooks: &'a [Hook],
) -> (&'a ResourceKey, Option<&'a Value>) {
    match t {
        Target::Hook(h) => (&hooks[h].key, Some(&hooks[h].object)),
        Target::Apply(i) | Target::Prune(i) => (
            &items[i].key,
            items[i].desired.as_ref().or(items[i].live.as_ref()),
        ),
    }
}

/// The state of a task from its recorded result and the live object, updating a running
/// hook's result (and deleting a finished hook its policy names).
async fn derive_state(
    cluster: &Cluster,
    dry_run: bool,
    task: &Task,
    items: &[Item],
    hooks: &mut [Hook],
    results: &mut [ResourceResult],
) -> TaskState {
    let (key, _) = target_key(task.target, items, hooks);
    let Some(r) = find_result(results, key, task.phase) else {
        return TaskState::Pending;
    };
    match task.target {
        Target::Hook(h) => {
            let hook = &mut hooks[h];
            let recorded = results[r]
                .hook_phase
                .as_deref()
                .and_then(HookPhase::parse)
                .unwrap_or(HookPhase::Failed);
            let now = match recorded {
                HookPhase::Running => match hook.live.as_ref() {
                    None => {
                        results[r].message = Some(format!("{} is gone", describe(&hook.key)));
                        HookPhase::Failed
                    }
                    Some(live) => {
                        let health = assess(live);
                        let phase = hook_phase(health.as_ref());
                        if let Some(h) = health.filter(|h| !h.message.is_empty()) {
                            results[r].message = Some(h.message);
                        }
                        phase
                    }
                },
                done => done,
            };
            results[r].hook_phase = Some(now.as_str().to_string());
            if recorded == HookPhase::Running && now != HookPhase::Running {
                tracing::info!(hook = %hook.key, phase = now.as_str(), "hook finished");
                hooks::finish(cluster, hook, now).await;
            }
            match now {
                HookPhase::Running => TaskState::Running,
                HookPhase::Succeeded => TaskState::Succeeded,
                HookPhase::Failed => TaskState::Failed,
            }
        }
        Target::Apply(i) => match results[r].status {
            Some(ResultCode::SyncFailed) => TaskState::Failed,
            // Nothing changed in a dry run: there is no health to wait for.
            _ if dry_run || healthy(items[i].live.as_ref()) => TaskState::Succeeded,
            _ => TaskState::Running,
        },
        Target::Prune(_) => match results[r].status {
            Some(ResultCode::SyncFailed) => TaskState::Failed,
            _ => TaskState::Succeeded,
        },
    }
}

/// Runs one task; its result is recorded in `results`.
async fn run_task(
    task: &Task,
    items: &mut [Item],
    hooks: &mut [Hook],
    results: &mut Vec<ResourceResult>,
    request: &SyncRequest<'_>,
) {
    match task.target {
        Target::Hook(h) => {
            let hook = &mut hooks[h];
            let mut r = result_for(&hook.key, Some(&hook.object), hook.phase);
            r.hook_type = Some(hook.hook_type.as_str().to_string());
            match hooks::start(request.cluster, hook).await {
                Ok(verb) => {
                    r.status = Some(ResultCode::Synced);
                    r.hook_phase = Some(HookPhase::Running.as_str().to_string());
                    r.message = Some(format!("{} {verb}", describe(&hook.key)));
                }
                Err(message) => {
                    tracing::warn!(hook = %hook.key, error = %message, "hook failed to start");
                    r.status = Some(ResultCode::SyncFailed);
                    r.hook_phase = Some(HookPhase::Failed.as_str().to_string());
                    r.message = Some(message);
                }
            }
            results.push(r);
        }
        Target::Apply(i) => {
            let item = &mut items[i];
            let Some(desired) = item.desired.as_ref() else {
                return;
            };
            let per_object = request.options.for_object(desired);
            let body = match (&item.live, request.options.respect_ignore_differences) {
                (Some(live), true) => respect_ignored(request.ignore, &item.key, desired, live),
                _ => desired.clone(),
            };
            let mut written = write::write(
                &request.cluster.client,
                &item.kind,
                &item.key,
                &body,
                item.live.as_ref(),
                &per_object,
                request.dry_run,
            )
            .await;
            // A custom resource whose CRD was applied a moment ago: wait for it to be served.
            let mut attempts = 0;
            while item.kind.pending && attempts < 20 && written.is_err() {
                attempts += 1;
                tokio::time::sleep(std::time::Duration::from_millis(250)).await;
                written = write::write(
                    &request.cluster.client,
                    &item.kind,
                    &item.key,
                    &body,
                    item.live.as_ref(),
                    &per_object,
                    request.dry_run,
                )
                .await;
            }
            let mut r = result_for(&item.key, Some(desired), SyncPhase::Sync);
            match written {
                Ok((live, how)) => {
                    tracing::info!(object = %item.key, verb = how.verb(), dry_run = request.dry_run, "applied");
                    r.status = Some(ResultCode::Synced);
                    r.message = Some(format!(
                        "{} {}{}",
                        describe(&item.key),
                        how.verb(),
                        dry_run_suffix(request.dry_run)
                    ));
                    if !request.dry_run {
                        item.live = Some(live);
                    }
                }
                Err(e) => {
                    tracing::warn!(object = %item.key, error = %e, "apply failed");
                    r.status = Some(ResultCode::SyncFailed);
                    r.message = Some(format!("{}: {e}", describe(&item.key)));
                }
            }
            results.push(r);
        }
        Target::Prune(i) => {
            let item = &mut items[i];
            let mut r = result_for(&item.key, item.live.as_ref(), SyncPhase::Sync);
            let mode = item
                .live
                .as_ref()
                .map(|l| request.options.for_object(l).prune)
                .unwrap_or_default();
            if !request.prune {
                r.status = Some(ResultCode::PruneSkipped);
                r.message = Some("ignored (requires pruning)".into());
            } else if mode == PruneMode::Disabled {
                r.status = Some(ResultCode::PruneSkipped);
                r.message = Some("ignored (no prune)".into());
            } else {
                let policy = request.options.prune_propagation;
                let dry_run = request.dry_run;
                match write::delete(
                    &request.cluster.client,
                    &item.kind,
                    &item.key,
                    policy,
                    dry_run,
                )
                .await
                {
                    Ok(()) => {
                        tracing::info!(object = %item.key, policy = policy.as_api(), dry_run, "pruned");
                        if !dry_run {
                            item.live = None;
                        }
                        r.status = Some(ResultCode::Pruned);
                        r.message = Some(format!("pruned{}", dry_run_suffix(dry_run)));
                    }
                    Err(e) => {
                        r.status = Some(ResultCode::SyncFailed);
                        r.message = Some(format!("{}: {e}", describe(&item.key)));
                    }
                }
            }
            results.push(r);
        }
    }
}

fn dry_run_suffix(dry_run: bool) -> &'static str {
    if dry_run { " (dry run)" } else { "" }
}

/// Objects already tracked by another Application (`FailOnSharedResource`).
fn shared_resources(items: &[Item], instance: &str) -> Vec<String> {
    items
        .iter()
        .filter(|it| it.desired.is_some())
        .filter_map(|it| {
            let live = it.live.as_ref()?;
            let id = parse_tracking_id(annotation(live, ANNOTATION_TRACKING_ID)?)?;
            (id.app != instance && id.key == it.key).then(|| {
                format!(
                    "{} is already part of another application {}",
                    describe(&it.key),
                    id.app
                )
            })
        })
        .collect()
}

fn wait_message(task: &Task, items: &[Item], hooks: &[Hook]) -> String {
    match task.target {
        Target::Hook(h) => format!(
            "waiting for completion of hook {} ({})",
            describe(&hooks[h].key),
            hooks[h].hook_type.as_str()
        ),
        Target::Apply(i) | Target::Prune(i) => format!(
            "waiting for healthy state of {} before sync wave {}",
            items[i].key, task.wave
        ),
    }
}

/// Runs the next steps of the sync over `items` and `hooks`, updating their live side.
pub(crate) async fn sync(
    _ctx: &Context,
    items: &mut [Item],
    hooks: &mut [Hook],
    request: &SyncRequest<'_>,
) -> SyncOutcome {
    let mut results = request.prior.to_vec();
    let fail = |message: String, results: Vec<ResourceResult>| SyncOutcome {
        phase: OperationPhase::Failed,
        message,
        results,
    };
    // Once per operation, at its first step (later steps would re-read it on every reconcile).
    if let Some(ns) = request.create_namespace
        && request.prior.is_empty()
        && let Err(message) = ensure_namespace(&request.cluster.client, ns).await
    {
        return fail(message, results);
    }
    if request.prior.is_empty() && request.options.fail_on_shared_resource {
        let shared = shared_resources(items, request.app_instance);
        if !shared.is_empty() {
            return fail(
                format!("Shared resource found: {}", shared.join("; ")),
                results,
            );
        }
    }
    let mut tasks = build_tasks(items, hooks, request.options, request.only);
    if request.prune && !request.prune_confirmed {
        let waiting: Vec<String> = tasks
            .iter()
            .filter_map(|t| match t.target {
                Target::Prune(i) => Some(i),
                _ => None,
            })
            .filter(|&i| {
                find_result(&results, &items[i].key, SyncPhase::Sync).is_none()
                    && items[i]
                        .live
                        .as_ref()
                        .is_some_and(|l| request.options.for_object(l).prune == PruneMode::Confirm)
            })
            .map(|i| describe(&items[i].key))
            .collect();
        if let Some(first) = waiting.first() {
            let more = match waiting.len() {
                1 => String::new(),
                n => format!(" and {} more resources", n - 1),
            };
            return SyncOutcome {
                phase: OperationPhase::Running,
                message: format!("Waiting for pruning confirmation of {first}{more}"),
                results,
            };
        }
    }
    for task in tasks.iter_mut() {
        task.state = derive_state(
            request.cluster,
            request.dry_run,
            task,
            items,
            hooks,
            &mut results,
        )
        .await;
    }
    // Each step starts at least one pending task, so this ends.
    loop {
        let views: Vec<TaskView> = tasks
            .iter()
            .map(|t| TaskView {
                phase: t.phase,
                wave: t.wave,
                kind: match t.target {
                    Target::Hook(_) => TaskKind::Hook,
                    Target::Apply(_) => TaskKind::Apply,
                    Target::Prune(_) => TaskKind::Prune,
                },
                state: t.state,
            })
            .collect();
        match next_step(&views) {
            NextStep::Run(run) | NextStep::RunSyncFail(run) => {
                for t in run {
                    run_task(&tasks[t], items, hooks, &mut results, request).await;
                    tasks[t].state = derive_state(
                        request.cluster,
                        request.dry_run,
                        &tasks[t],
                        items,
                        hooks,
                        &mut results,
                    )
                    .await;
                }
            }
            NextStep::Wait(t) => {
                return SyncOutcome {
                    phase: OperationPhase::Running,
                    message: wait_message(&tasks[t], items, hooks),
                    results,
                };
            }
            NextStep::Succeeded => {
                return SyncOutcome {
                    phase: OperationPhase::Succeeded,
                    message: "successfully synced (all tasks run)".to_string(),
                    results,
                };
            }
            NextStep::Failed(t) => {
                let (key, _) = target_key(tasks[t].target, items, hooks);
                let reason = find_result(&results, key, tasks[t].phase)
                    .and_then(|r| results[r].message.clone())
                    .unwrap_or_default();
                let message = match tasks[t].target {
                    Target::Hook(_) => format!(
                        "one or more synchronization tasks completed unsuccessfully, reason: {}: {reason}",
                        describe(key)
                    ),
                    Target::Apply(_) => {
                        format!("one or more objects failed to apply, reason: {reason}")
                    }
                    Target::Prune(_) => {
                        format!("one or more objects failed to prune, reason: {reason}")
                    }
                };
                return fail(message, results);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diff::{DiffOptions, diff};
    use crate::plan::hooks::{DeletePolicy, HookType};
    use kube::core::{ApiResource, GroupVersionKind};

    fn kind(kind: &str) -> Kind {
        Kind {
            resource: ApiResource::from_gvk(&GroupVersionKind::gvk("", "v1", kind)),
            namespaced: true,
            pending: false,
        }
    }

    fn cm(name: &str, wave: i64, data: &str) -> Value {
        json!({"apiVersion": "v1", "kind": "ConfigMap",
               "metadata": {"name": name, "namespace": "ns",
                            "annotations": {"argocd.argoproj.io/sync-wave": wave.to_string()}},
               "data": {"v": data}})
    }

    fn item(desired: Option<Value>, live: Option<Value>) -> Item {
        let d = diff(desired.as_ref(), live.as_ref(), &DiffOptions::default()).unwrap();
        Item {
            key: d.key.clone(),
            kind: kind("ConfigMap"),
            desired,
            live,
            diff: d,
        }
    }

    fn hook(name: &str, phase: SyncPhase, hook_type: HookType) -> Hook {
        let object = json!({"apiVersion": "batch/v1", "kind": "Job",
                            "metadata": {"name": name, "namespace": "ns"}});
        Hook {
            key: ResourceKey::of(&object).unwrap(),
            kind: kind("Job"),
            object,
            live: None,
            phase,
            hook_type,
            wave: 0,
            policies: vec![DeletePolicy::BeforeHookCreation],
        }
    }

    fn order(tasks: &[Task]) -> Vec<String> {
        tasks
            .iter()
            .map(|t| match t.target {
                Target::Hook(_) => format!("hook:{}", t.name),
                Target::Apply(_) => format!("apply:{}@{}", t.name, t.wave),
                Target::Prune(_) => format!("prune:{}@{}", t.name, t.wave),
            })
            .collect()
    }

    #[test]
    fn tasks_order_hooks_applies_and_prunes() {
        let items = vec![
            item(Some(cm("b", 1, "x")), None),
            item(Some(cm("a", 0, "x")), Some(cm("a", 0, "x"))),
            item(None, Some(cm("gone", 2, "x"))),
        ];
        let hooks = vec![
            hook("post", SyncPhase::PostSync, HookType::PostSync),
            hook("pre", SyncPhase::PreSync, HookType::PreSync),
            hook("fail", SyncPhase::SyncFail, HookType::SyncFail),
        ];
        let all = build_tasks(&items, &hooks, &SyncOptions::default(), &[]);
        assert_eq!(
            order(&all),
            [
                "hook:pre",
                "apply:a@0",
                "apply:b@1",
                "prune:gone@2",
                "hook:post",
                "hook:fail"
            ]
        );
        let options = SyncOptions::parse(&["ApplyOutOfSyncOnly=true", "PruneLast=true"]);
        let some = build_tasks(&items, &hooks, &options, &[]);
        assert_eq!(
            order(&some),
            [
                "hook:pre",
                "apply:b@1",
                "prune:gone@3",
                "hook:post",
                "hook:fail"
            ],
            "in-sync objects are skipped; PruneLast prunes after the last wave"
        );
    }

    #[test]
    fn selective_sync_keeps_only_the_named_objects() {
        let items = vec![
            item(Some(cm("a", 0, "x")), None),
            item(Some(cm("b", 0, "x")), None),
            item(None, Some(cm("gone", 0, "x"))),
        ];
        let only = [SyncOperationResource {
            group: String::new(),
            kind: "ConfigMap".into(),
            name: "b".into(),
            namespace: None,
        }];
        let tasks = build_tasks(&items, &[], &SyncOptions::default(), &only);
        assert_eq!(order(&tasks), ["apply:b@0"]);
        let mut elsewhere = only.clone();
        elsewhere[0].namespace = Some("other".into());
        assert!(build_tasks(&items, &[], &SyncOptions::default(), &elsewhere).is_empty());
    }

    #[test]
    fn shared_objects_name_their_owner() {
        let mut live = cm("a", 0, "x");
        live["metadata"]["annotations"][ANNOTATION_TRACKING_ID] = json!("other:/ConfigMap:ns/a");
        let items = vec![item(Some(cm("a", 0, "y")), Some(live))];
        assert_eq!(
            shared_resources(&items, "mine"),
            ["configmap/a is already part of another application other"]
        );
        assert!(shared_resources(&items, "other").is_empty());
    }
}
