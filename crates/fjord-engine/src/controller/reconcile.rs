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
    let span =
        tracing::info_span!("reconcile", app = %format!("{}/{}", app.namespace(), app.name()));
    reconcile_app(&app, &ctx).instrument(span).await
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
    let fetched = match fetch_and_render(ctx, app, refresh).await? {
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
    let hooks: Vec<String> = items
        .iter()
        .filter(|i| {
            i.desired
                .as_ref()
                .and_then(|d| crate::resource::annotation(d, crate::resource::ANNOTATION_HOOK))
                .is_some()
        })
        .map(|i| i.key.to_string())
        .collect();
    if !hooks.is_empty() {
        spec_problems.push(format!(
            "resource hooks (argocd.argoproj.io/hook) are not supported yet; applied as plain resources: {}",
            hooks.join(", ")
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

    let manual = app.operation.as_ref().and_then(|o| o.sync.as_ref());
    let last = status.operation_state.as_ref();
    let last_revision = last
        .and_then(|o| o.sync_result.as_ref())
        .map(super::source_status::synced_revision);
    let last_revision = last_revision.as_deref();
    let last_failed =
        last.is_some_and(|o| matches!(o.phase, OperationPhase::Failed | OperationPhase::Error));
    // A sync waiting between waves continues on the next reconcile.
    let continuing = manual.is_none()
        && last.is_some_and(|o| o.phase == OperationPhase::Running)
        && last_revision == Some(fetched.commit.as_str());
    let retry = last
        .filter(|_| last_failed)
        .and_then(|o| super::retry::next_retry(policy.retry.as_ref(), o));
    let retry_count = last.and_then(|o| o.retry_count).unwrap_or(0);
    let self_heal = policy
        .automated
        .as_ref()
        .and_then(|a| a.self_heal)
        .unwrap_or(false);
    let same_revision = last_revision == Some(fetched.commit.as_str());
    let mut automated = manual.is_none()
        && policy.is_automated()
        && before.status == SyncStatusCode::OutOfSync
        && !(same_revision && last_failed && retry != Some(Duration::ZERO))
        && (self_heal || !same_revision);
    let retrying = automated && same_revision && last_failed;
    let mut heal_wait = None;
    let mut sync_running = false;
    if continuing {
        automated = true;
    } else if automated && same_revision && !retrying {
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
    if manual.is_some() || automated {
        let dest_ns = spec.destination.namespace.as_deref().unwrap_or("");
        let prune = match manual {
            Some(op) => op.prune.unwrap_or(false),
            None => policy
                .automated
                .as_ref()
                .and_then(|a| a.prune)
                .unwrap_or(false),
        };
        let request = SyncRequest {
            create_namespace: (sync_opts.create_namespace && !dest_ns.is_empty())
                .then_some(dest_ns),
            prune,
            prune_disabled: sync_opts.prune_disabled,
            client: cluster.client.clone(),
        };
        let started = if continuing {
            last.map(|o| o.started_at.clone()).unwrap_or_else(now)
        } else {
            now()
        };
        tracing::info!(revision = %fetched.commit, automated, "syncing");
        let mut outcome = sync::sync(ctx, &mut items, &request).await;
        if continuing {
            let mut earlier: Vec<_> = last
                .and_then(|o| o.sync_result.as_ref())
                .map(|r| r.resources.clone())
                .unwrap_or_default();
            earlier.append(&mut outcome.results);
            outcome.results = earlier;
        }
        let previous_by = continuing
            .then(|| last.and_then(|o| o.operation.initiated_by.clone()))
            .flatten();
        let initiated_by = match app.operation.as_ref().and_then(|o| o.initiated_by.clone()) {
            Some(by) if manual.is_some() => by,
            _ => previous_by.unwrap_or(OperationInitiator {
                username: None,
                automated: Some(true),
            }),
        };
        let finished = now();
        status.operation_state = Some(OperationState {
            operation: Operation {
                sync: Some(SyncOperation {
                    revision: Some(fetched.commit.clone()),
                    prune: Some(prune),
                    ..Default::default()
                }),
                initiated_by: Some(initiated_by.clone()),
                ..Default::default()
            },
            phase: outcome.phase,
            message: Some(outcome.message.clone()),
            sync_result: Some(SyncOperationResult {
                resources: outcome.results,
                revision: fetched.commit.clone(),
                source: Some(source.clone()),
                ..Default::default()
            }),
            started_at: started.clone(),
            finished_at: Some(finished.clone()),
            retry_count: retrying.then_some(retry_count + 1),
            extra: Default::default(),
        });
        let succeeded = outcome.phase == OperationPhase::Succeeded;
        let running = outcome.phase == OperationPhase::Running;
        if succeeded {
            clear_condition(&mut status.conditions, condition_type::SYNC_ERROR);
            push_history(
                &mut status.history,
                history_entry(&fetched.commit, &source, &started, &finished, initiated_by),
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
            if let Some(op) = status.operation_state.as_mut() {
                op.finished_at = None;
            }
            sync_running = true;
        } else {
            let message = format!(
                "Sync operation to {} {}: {}",
                fetched.commit,
                if succeeded { "succeeded" } else { "failed" },
                outcome.message
            );
            write_status::event(ctx, app, !succeeded, "OperationCompleted", &message).await;
            cleanup.clear_operation = true;
        }
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
        .map(|(i, h)| resource_status(&i.diff, i.desired.as_ref(), i.live.as_ref(), h))
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
    if let Some(wait) = retry.filter(|w| !w.is_zero() && same_revision) {
        next = next.min(wait + Duration::from_millis(50));
    }
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
