//! One reconcile of one Application: source → desired → live → diff → (sync) → status.
//!
//! Failures before the sync (spec, repository, render, empty render, unknown kind) end in
//! [`fail`]: a condition, `sync.status: Unknown`, the previous resources kept, and no
//! request that changes a live object.

use super::compare::{compare, confirm};
use super::source::fetch_and_render;
use super::status::{self as write_status, Cleanup};
use super::sync::{self, Item, SyncRequest};
use super::{Context, ControllerError, now};
use crate::diff::{DiffOptions, IgnoreRules, diff};
use crate::health::{HealthStatus, aggregate_assessed};
use crate::resource::ANNOTATION_REFRESH;
use crate::source::Refresh;
use crate::status::{clear_condition, resource_status, set_condition, summary, sync_status};
use crate::sync_options::SyncOptions;
use crate::types::{
    AppHealthStatus, Application, ApplicationSource, ApplicationStatus, HealthStatusCode,
    Operation, OperationInitiator, OperationPhase, OperationState, RevisionHistory, SyncOperation,
    SyncOperationResult, SyncStatusCode, condition_type, push_history,
};
use kube::runtime::controller::Action;
use std::sync::Arc;
use std::time::Duration;
use tracing::Instrument;

/// The controller's reconcile function.
pub(crate) async fn reconcile(
    app: Arc<Application>,
    ctx: Arc<Context>,
) -> Result<Action, ControllerError> {
    let key = format!("{}/{}", app.namespace(), app.name());
    let span = tracing::info_span!("reconcile", app = %key);
    let shard = ctx.config.shard.clone();
    super::shard::gated(shard.as_ref(), &key, async move {
        let app = super::operation::current(&ctx, app).await?;
        let started = std::time::Instant::now();
        let result = reconcile_app(&app, &ctx).instrument(span).await;
        super::observe::reconciled(&ctx, &app, started.elapsed());
        result
    })
    .await
}

/// Whether the last `reconciledAt` is older than the resync interval (or absent).
fn reconciled_at_due(status: &ApplicationStatus, interval: Duration) -> bool {
    let Some(at) = status
        .reconciled_at
        .as_deref()
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
    else {
        return true;
    };
    let age = chrono::Utc::now().signed_duration_since(at);
    age.to_std().is_ok_and(|a| a >= interval)
}

fn base_status(app: &Application, ctx: &Context) -> ApplicationStatus {
    let mut status = app.status.clone().unwrap_or_default();
    status.controller_namespace = Some(ctx.config.namespace.clone());
    status.reconciled_at = Some(now());
    status
}

/// Records a failure before the sync: condition, Unknown sync status, nothing live touched.
async fn fail(
    ctx: &Context,
    app: &Application,
    condition: &str,
    message: &str,
    revision: Option<&str>,
) -> Result<Action, ControllerError> {
    tracing::warn!(condition, message, "reconcile failed before sync");
    let mut status = base_status(app, ctx);
    for other in [
        condition_type::COMPARISON_ERROR,
        condition_type::INVALID_SPEC_ERROR,
    ] {
        if other != condition {
            clear_condition(&mut status.conditions, other);
        }
    }
    set_condition(&mut status.conditions, condition, message, &now());
    let mut sync = sync_status(&app.spec, &[], None);
    sync.revision = revision.map(String::from);
    status.sync = Some(sync);
    let fresh = reconciled_at_due(&status, ctx.config.resync_interval);
    let cleanup = Cleanup {
        clear_refresh: true,
        clear_operation: false,
    };
    write_status::write(ctx, app, status, cleanup, fresh).await?;
    Ok(Action::requeue(ctx.config.error_retry_interval))
}

async fn reconcile_app(app: &Application, ctx: &Arc<Context>) -> Result<Action, ControllerError> {
    if app.metadata.deletion_timestamp.is_some() {
        return Ok(match super::finalize::finalize(ctx, app).await? {
            Some(again) => Action::requeue(again),
            None => Action::await_change(),
        });
    }
    let spec = &app.spec;
    if let Err(message) = super::source::check_sources(spec) {
        return fail(ctx, app, condition_type::INVALID_SPEC_ERROR, &message, None).await;
    }
    // The first source stands for all of them where one is recorded; multi-source
    // Applications get Argo CD's `sources`/`revisions` shape at the end.
    let Some(source) = spec.all_sources().first().map(|s| (*s).clone()) else {
        return fail(
            ctx,
            app,
            condition_type::INVALID_SPEC_ERROR,
            "spec.source: a source is required",
            None,
        )
        .await;
    };
    let cluster = match ctx.cluster_for(app).await? {
        Ok(c) => c,
        Err(message) => {
            return fail(ctx, app, condition_type::INVALID_SPEC_ERROR, &message, None).await;
        }
    };
    let dest = cluster.destination(&spec.destination);
    let project = match super::project::check(ctx, app, &dest).await? {
        Ok(p) => p,
        Err(message) => {
            return fail(ctx, app, condition_type::INVALID_SPEC_ERROR, &message, None).await;
        }
    };
    let refresh = Refresh::from_annotation(app.annotation(ANNOTATION_REFRESH));
    let app_key = format!("{}/{}", app.namespace(), app.name());
    let fetched = match fetch_and_render(ctx, &cluster, app, refresh).await? {
        Ok(f) => f,
        Err(failure) => {
            return fail(
                ctx,
                app,
                condition_type::COMPARISON_ERROR,
                &failure.message,
                failure.commit.as_deref(),
            )
            .await;
        }
    };
    let policy = spec.sync_policy.clone().unwrap_or_default();
    let allow_empty = policy
        .automated
        .as_ref()
        .and_then(|a| a.allow_empty)
        .unwrap_or(false);
    if !fetched.rendered.may_prune(allow_empty) {
        let message = format!(
            "Failed to load target state: path {:?} at {} rendered no objects; refusing to compare (set syncPolicy.automated.allowEmpty to allow an empty Application)",
            source.path.as_deref().unwrap_or(""),
            fetched.commit
        );
        return fail(
            ctx,
            app,
            condition_type::COMPARISON_ERROR,
            &message,
            Some(&fetched.commit),
        )
        .await;
    }
    let (rules, rule_errors) = IgnoreRules::compile(&spec.ignore_differences);
    let options = DiffOptions {
        ignore: rules,
        ..Default::default()
    };
    let (hook_objects, skipped, fetched) = super::hooks::split(fetched);
    let mut items = match compare(ctx, &cluster, app, &fetched, &options).await? {
        Ok(items) => items,
        Err(message) => {
            return fail(
                ctx,
                app,
                condition_type::COMPARISON_ERROR,
                &message,
                Some(&fetched.commit),
            )
            .await;
        }
    };
    if let Err(message) = confirm(&cluster, &mut items, &options).await? {
        return fail(
            ctx,
            app,
            condition_type::COMPARISON_ERROR,
            &message,
            Some(&fetched.commit),
        )
        .await;
    }
    super::hooks::drop_unmanaged(&mut items, &skipped);
    // The project's kind and namespace rules, before anything is applied or pruned.
    let new_namespace = super::project::namespace_to_create(&cluster, app, &project).await;
    if let Err(message) =
        super::project::check_resources(ctx, &project, &dest, &items, new_namespace.as_deref())
            .await?
    {
        return fail(
            ctx,
            app,
            condition_type::INVALID_SPEC_ERROR,
            &message,
            Some(&fetched.commit),
        )
        .await;
    }
    let diffs: Vec<_> = items.iter().map(|i| i.diff.clone()).collect();
    let before = sync_status(spec, &diffs, Some(&fetched.commit));

    let mut status = base_status(app, ctx);
    let now_ts = now();
    clear_condition(&mut status.conditions, condition_type::COMPARISON_ERROR);
    clear_condition(&mut status.conditions, condition_type::INVALID_SPEC_ERROR);
    let sync_opts = SyncOptions::parse(spec.sync_options());
    let mut spec_problems: Vec<String> = rule_errors.iter().map(|e| e.to_string()).collect();
    spec_problems.extend(sync_opts.condition_message());
    let per_object: Vec<String> = items
        .iter()
        .filter_map(|i| {
            let unsupported = crate::sync_options::unsupported_object_options(i.desired.as_ref()?);
            (!unsupported.is_empty()).then(|| format!("{}: {}", i.key, unsupported.join(", ")))
        })
        .collect();
    if !per_object.is_empty() {
        spec_problems.push(format!(
            "sync options not supported on objects: {}",
            per_object.join("; ")
        ));
    }
    if !spec_problems.is_empty() {
        set_condition(
            &mut status.conditions,
            condition_type::INVALID_SPEC_ERROR,
            &spec_problems.join("; "),
            &now_ts,
        );
    }

    let manual_op = app.operation.as_ref().filter(|o| o.sync.is_some());
    let manual = manual_op.and_then(|o| o.sync.as_ref());
    let last = status.operation_state.clone();
    let last_revision = last
        .as_ref()
        .and_then(|o| o.sync_result.as_ref())
        .map(super::source_status::synced_revision);
    let last_failed = last
        .as_ref()
        .is_some_and(|o| matches!(o.phase, OperationPhase::Failed | OperationPhase::Error));
    let last_running = last
        .as_ref()
        .is_some_and(|o| o.phase == OperationPhase::Running);
    let last_automated = last.as_ref().is_some_and(super::operation::is_automated);
    // Argo CD: `terminate-op` sets the phase to Terminating; a running manual operation
    // whose request was withdrawn ends the same way.
    let terminating = last
        .as_ref()
        .is_some_and(|o| o.phase == OperationPhase::Terminating)
        || (last_running && manual.is_none() && !last_automated);
    let same_revision = last_revision.as_deref() == Some(fetched.commit.as_str());
    // A running operation (waiting between steps, or to retry) continues.
    let continuing = !terminating
        && last_running
        && match manual {
            Some(_) => !last_automated,
            None => last_automated && same_revision,
        };
    let retry_wait = last
        .as_ref()
        .filter(|o| continuing && o.retry_count.unwrap_or(0) > 0 && o.finished_at.is_some())
        .map(|o| {
            let strategy = o
                .operation
                .retry
                .clone()
                .unwrap_or_else(super::retry::automated_default);
            super::retry::remaining(&strategy, o)
        });
    let self_heal = policy
        .automated
        .as_ref()
        .and_then(|a| a.self_heal)
        .unwrap_or(false);
    let mut automated = manual.is_none()
        && !continuing
        && !terminating
        && policy.is_automated()
        && before.status == SyncStatusCode::OutOfSync
        && !(same_revision && last_failed)
        && (self_heal || !same_revision);
    let mut heal_wait = None;
    let mut sync_running = false;
    if automated && super::operation::operation_moved_on(ctx, app).await? {
        // The cache has not seen the last operation's write yet; the next reconcile will.
        automated = false;
        heal_wait = Some(Duration::from_millis(100));
    }
    if automated && same_revision {
        let wait = ctx.heals.wait(&app_key);
        let drift = super::heal::describe_drift(&items);
        if wait.is_zero() {
            ctx.heals.record(&app_key);
            tracing::info!(drift = %drift, "self-heal");
            let message = format!("self-heal: reverting drift on {drift}");
            write_status::event(ctx, app, true, "SelfHeal", &message).await;
        } else {
            tracing::info!(drift = %drift, wait = ?wait, "self-heal backing off: another writer keeps changing managed fields");
            automated = false;
            heal_wait = Some(wait);
        }
    }
    let mut cleanup = Cleanup {
        clear_refresh: true,
        clear_operation: false,
    };
    let mut recompare = false;
    if terminating && let Some(last) = last.as_ref() {
        let ended = super::operation::terminate(&cluster, last).await;
        super::observe::synced(ctx, app, ended.phase, false);
        let message = format!(
            "Sync operation to {} failed: {}",
            last_revision.as_deref().unwrap_or(""),
            ended.message.as_deref().unwrap_or("")
        );
        status.operation_state = Some(ended);
        super::audit::completed(ctx, app, &mut status, true, &message).await;
        cleanup.clear_operation = true;
    } else if let Some(wait) = retry_wait.filter(|w| !w.is_zero()) {
        // Waiting to retry: nothing to do until the backoff has passed.
        sync_running = true;
        heal_wait = Some(wait);
    } else if manual.is_some() || automated || continuing {
        let dest_ns = spec.destination.namespace.as_deref().unwrap_or("");
        let op_sync: SyncOperation = match manual {
            Some(op) => op.clone(),
            None => SyncOperation {
                prune: Some(
                    policy
                        .automated
                        .as_ref()
                        .and_then(|a| a.prune)
                        .unwrap_or(false),
                ),
                sync_options: spec.sync_options().to_vec(),
                ..Default::default()
            },
        };
        let prune = op_sync.prune.unwrap_or(false);
        let retry_strategy = match manual_op {
            Some(op) => op.retry.clone(),
            None => Some(
                policy
                    .retry
                    .clone()
                    .unwrap_or_else(super::retry::automated_default),
            ),
        };
        let op_options = SyncOptions::parse_all(spec.sync_options(), &op_sync.sync_options);
        let started = match last.as_ref() {
            Some(o) if continuing => o.started_at.clone(),
            _ => now(),
        };
        let fresh_attempt = !continuing || retry_wait.is_some();
        let mut sync_commit = fetched.commit.clone();
        let mut sync_source = source.clone();
        let mut sync_hooks = hook_objects.clone();
        let mut target_error = None;
        let mut op_items = None;
        if let Some(target) = super::operation::override_source(&op_sync, &source, &fetched.commit)
        {
            match super::operation::load_target(ctx, &cluster, app, target, &options).await? {
                Ok(t) => {
                    sync_commit = t.commit;
                    sync_source = t.source;
                    sync_hooks = t.hooks;
                    op_items = Some(t.items);
                    recompare = true;
                }
                Err(message) => target_error = Some(message),
            }
        }
        let dry_run = op_sync.dry_run.unwrap_or(false);
        if dry_run
            || !op_sync.resources.is_empty()
            || op_sync
                .sync_strategy
                .as_ref()
                .is_some_and(|s| s.get("apply").is_some())
        {
            // Argo CD runs no hooks in a dry run, a selective sync, or with the `apply`
            // strategy (a rollback's).
            sync_hooks.clear();
        }
        let instance =
            crate::resource::app_instance_name(app.name(), app.namespace(), &ctx.config.namespace);
        let prior: Vec<_> = match last.as_ref().and_then(|o| o.sync_result.as_ref()) {
            Some(r)
                if !fresh_attempt && super::source_status::synced_revision(r) == sync_commit =>
            {
                r.resources.clone()
            }
            _ => Vec::new(),
        };
        tracing::info!(revision = %sync_commit, automated, continuing, "syncing");
        let mut outcome = match target_error {
            Some(message) => sync::SyncOutcome {
                phase: OperationPhase::Failed,
                message,
                results: Vec::new(),
            },
            None => {
                let started_unix = super::operation::unix_seconds(&started);
                match super::hooks::prepare(
                    &cluster,
                    &sync_hooks,
                    &instance,
                    dest_ns,
                    &sync_commit,
                    started_unix,
                )
                .await?
                {
                    Err(message) => sync::SyncOutcome {
                        phase: OperationPhase::Failed,
                        message,
                        results: Vec::new(),
                    },
                    Ok(mut hooks) => {
                        // Hooks are resources too: the project's kind and namespace rules
                        // hold for them.
                        let hook_items = super::hooks::as_items(&hooks);
                        if let Err(message) =
                            super::project::check_resources(ctx, &project, &dest, &hook_items, None)
                                .await?
                        {
                            return fail(
                                ctx,
                                app,
                                condition_type::INVALID_SPEC_ERROR,
                                &message,
                                Some(&fetched.commit),
                            )
                            .await;
                        }
                        let request = SyncRequest {
                            create_namespace: (sync_opts.create_namespace
                                && !dest_ns.is_empty()
                                && !dry_run)
                                .then_some(dest_ns),
                            prune,
                            options: &op_options,
                            prior: &prior,
                            prune_confirmed: super::operation::prune_confirmed(app, &started),
                            app_instance: &instance,
                            ignore: &options.ignore,
                            cluster: &cluster,
                            dry_run,
                            only: &op_sync.resources,
                        };
                        let targets = op_items.as_mut().unwrap_or(&mut items);
                        super::audit::observe(app, &started, targets);
                        sync::sync(ctx, targets, &mut hooks, &request).await
                    }
                }
            }
        };
        let initiated_by = match manual_op.and_then(|o| o.initiated_by.clone()) {
            Some(by) => by,
            None => last
                .as_ref()
                .filter(|_| continuing)
                .and_then(|o| o.operation.initiated_by.clone())
                .unwrap_or(OperationInitiator {
                    username: None,
                    automated: manual.is_none().then_some(true),
                }),
        };
        let done_retries = last
            .as_ref()
            .filter(|_| continuing)
            .and_then(|o| o.retry_count)
            .unwrap_or(0);
        let mut retry_count = (done_retries > 0).then_some(done_retries);
        let finished = now();
        let mut finished_at = Some(finished.clone());
        if outcome.phase == OperationPhase::Failed
            && let Some(strategy) = retry_strategy.as_ref()
            && super::retry::may_retry(strategy, done_retries)
        {
            let attempt = done_retries + 1;
            let at = chrono::Utc::now()
                + chrono::Duration::from_std(super::retry::delay(strategy, done_retries))
                    .unwrap_or_default();
            tracing::warn!(attempt, message = %outcome.message, "sync failed; retrying");
            outcome.message = super::operation::retry_message(&outcome.message, attempt, at);
            outcome.phase = OperationPhase::Running;
            retry_count = Some(attempt);
        } else if outcome.phase == OperationPhase::Running {
            finished_at = None;
        }
        status.operation_state = Some(OperationState {
            operation: Operation {
                sync: Some(SyncOperation {
                    revision: Some(sync_commit.clone()),
                    prune: Some(prune),
                    ..op_sync.clone()
                }),
                initiated_by: Some(initiated_by.clone()),
                retry: retry_strategy.clone(),
                ..Default::default()
            },
            phase: outcome.phase,
            message: Some(outcome.message.clone()),
            sync_result: Some(SyncOperationResult {
                resources: std::mem::take(&mut outcome.results),
                revision: sync_commit.clone(),
                source: Some(sync_source.clone()),
                ..Default::default()
            }),
            started_at: started.clone(),
            finished_at,
            retry_count,
            extra: Default::default(),
        });
        let succeeded = outcome.phase == OperationPhase::Succeeded;
        let running = outcome.phase == OperationPhase::Running;
        if succeeded && dry_run {
            clear_condition(&mut status.conditions, condition_type::SYNC_ERROR);
        } else if succeeded {
            clear_condition(&mut status.conditions, condition_type::SYNC_ERROR);
            push_history(
                &mut status.history,
                history_entry(
                    &sync_commit,
                    &sync_source,
                    &started,
                    &finished,
                    initiated_by,
                ),
                spec.history_limit(),
            );
        } else if !running {
            set_condition(
                &mut status.conditions,
                condition_type::SYNC_ERROR,
                &outcome.message,
                &finished,
            );
        }
        if running {
            sync_running = true;
        } else {
            let message = format!(
                "Sync operation to {} {}: {}",
                sync_commit,
                if succeeded { "succeeded" } else { "failed" },
                outcome.message
            );
            super::audit::completed(ctx, app, &mut status, !succeeded, &message).await;
            super::observe::synced(ctx, app, outcome.phase, dry_run);
            cleanup.clear_operation = true;
        }
    }
    if recompare {
        // The operation synced another target: compare the spec's again for the status.
        if let Ok(mut fresh) = compare(ctx, &cluster, app, &fetched, &options).await?
            && confirm(&cluster, &mut fresh, &options).await?.is_ok()
        {
            super::hooks::drop_unmanaged(&mut fresh, &skipped);
            items = fresh;
        }
    } else {
        // Re-compare what the sync changed.
        items.retain(|i| i.desired.is_some() || i.live.is_some());
        for item in items.iter_mut() {
            if let Ok(d) = diff(item.desired.as_ref(), item.live.as_ref(), &options) {
                item.diff = d;
            }
        }
    }
    let diffs: Vec<_> = items.iter().map(|i| i.diff.clone()).collect();
    status.sync = Some(sync_status(spec, &diffs, Some(&fetched.commit)));
    status.source_type = Some(fetched.source_type.as_str().to_string());
    let assessed = ctx.assess_health(&items).await?;
    let health = app_health(&items, &assessed.healths);
    if assessed.failures.is_empty() {
        clear_condition(&mut status.conditions, condition_type::UNKNOWN_ERROR);
    } else {
        let message = format!(
            "custom health check failed: {}",
            assessed.failures.join("; ")
        );
        set_condition(
            &mut status.conditions,
            condition_type::UNKNOWN_ERROR,
            &message,
            &now_ts,
        );
    }
    status.resources = items
        .iter()
        .zip(assessed.healths)
        .map(|(i, h)| {
            let mut r = resource_status(&i.diff, i.desired.as_ref(), i.live.as_ref(), h);
            let confirm = |l: &serde_json::Value| {
                sync_opts.for_object(l).prune == crate::sync_options::PruneMode::Confirm
            };
            if i.desired.is_none() && i.live.as_ref().is_some_and(confirm) {
                r.requires_deletion_confirmation = Some(true);
            }
            r
        })
        .collect();
    let previous_health = app.status.as_ref().and_then(|s| s.health.as_ref());
    status.health = Some(AppHealthStatus {
        status: health.status,
        message: None,
        last_transition_time: match previous_health {
            Some(p) if p.status == health.status => p.last_transition_time.clone(),
            _ => Some(now_ts.clone()),
        },
    });
    status.summary = Some(summary(items.iter().filter_map(|i| i.live.as_ref())));
    let fresh = reconciled_at_due(&status, ctx.config.resync_interval) || refresh.is_some();
    let progressing = health.status == HealthStatusCode::Progressing || sync_running;
    super::source_status::multi_source_status(&mut status, spec, &fetched);
    write_status::write(ctx, app, status, cleanup, fresh).await?;
    // New commits are found by the poller (`checks`), live changes by the watches: an idle
    // Application waits for its resync.
    let mut next = if progressing {
        ctx.config.progressing_interval
    } else {
        ctx.config.resync_interval
    };
    if let Some(wait) = heal_wait {
        next = next.min(wait + Duration::from_millis(50));
    }
    Ok(Action::requeue(next))
}

fn history_entry(
    commit: &str,
    source: &ApplicationSource,
    started: &str,
    finished: &str,
    initiated_by: OperationInitiator,
) -> RevisionHistory {
    RevisionHistory {
        id: 0,
        revision: Some(commit.to_string()),
        source: Some(source.clone()),
        deployed_at: finished.to_string(),
        deploy_started_at: Some(started.to_string()),
        initiated_by: Some(initiated_by),
        ..Default::default()
    }
}

fn app_health(items: &[Item], healths: &[Option<HealthStatus>]) -> HealthStatus {
    aggregate_assessed(
        items
            .iter()
            .zip(healths)
            .filter(|(i, _)| i.desired.is_some())
            .map(|(i, h)| (i.live.as_ref(), h.as_ref())),
    )
}
