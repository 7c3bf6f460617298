//! Rollback, as Argo CD's API does it: a convenience around a sync. The operation syncs the
//! revision and source recorded in `status.history[id]`; the controller then applies that
//! revision's objects (pruning the rest when asked).
//!
//! Like Argo CD, a rollback is refused while automated sync is on (automation would sync
//! forward to Git at once and undo it), while the Application is being deleted, and while
//! another operation is in progress. Argo CD's UI offers to turn automation off first:
//! [`rollback_patch`] builds that merge patch, so automation stays off afterwards.

use crate::types::{Application, Operation, SyncOperation};
use serde_json::{Value, json};

/// Why a rollback cannot be requested.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RollbackError {
    /// `spec.syncPolicy.automated` is on.
    #[error("application {app}: rollback cannot be initiated when auto-sync is enabled")]
    AutomatedSyncEnabled {
        /// `namespace/name`.
        app: String,
    },
    /// No `status.history` entry has this id.
    #[error("application {app} does not have deployment with id {id}")]
    UnknownHistoryId {
        /// `namespace/name`.
        app: String,
        /// The id asked for.
        id: i64,
    },
    /// The history entry records no source (or several: multi-source rollback is not
    /// supported yet).
    #[error(
        "application {app}: history entry {id} has no single source recorded; cannot roll back to it"
    )]
    NoSourceInHistory {
        /// `namespace/name`.
        app: String,
        /// The id asked for.
        id: i64,
    },
    /// The Application is being deleted.
    #[error("application {app} is deleting")]
    Deleting {
        /// `namespace/name`.
        app: String,
    },
    /// An operation is already requested or running.
    #[error("application {app}: another operation is already in progress")]
    OperationInProgress {
        /// `namespace/name`.
        app: String,
    },
}

fn qualified(app: &Application) -> String {
    format!("{}/{}", app.namespace(), app.name())
}

/// The sync operation that rolls `app` back to `status.history[id]`: that entry's revision
/// and source, `prune` as given, the `apply` strategy (as in Argo CD, hooks do not run on a
/// rollback). `initiatedBy` is left for the caller (the user's name).
///
/// Errors: see [`RollbackError`]; the checks are Argo CD's.
pub fn rollback_operation(
    app: &Application,
    id: i64,
    prune: bool,
) -> Result<Operation, RollbackError> {
    rollback_checks(app, false)?;
    let history = app
        .status
        .as_ref()
        .map(|s| s.history.as_slice())
        .unwrap_or(&[]);
    let entry =
        history
            .iter()
            .find(|h| h.id == id)
            .ok_or_else(|| RollbackError::UnknownHistoryId {
                app: qualified(app),
                id,
            })?;
    let Some(source) = entry.source.clone().filter(|s| !s.repo_url.is_empty()) else {
        return Err(RollbackError::NoSourceInHistory {
            app: qualified(app),
            id,
        });
    };
    Ok(Operation {
        sync: Some(SyncOperation {
            revision: entry.revision.clone(),
            prune: Some(prune),
            sync_strategy: Some(json!({"apply": {}})),
            source: Some(source),
            ..Default::default()
        }),
        ..Default::default()
    })
}

fn rollback_checks(app: &Application, automation_off: bool) -> Result<(), RollbackError> {
    if app.metadata.deletion_timestamp.is_some() {
        return Err(RollbackError::Deleting {
            app: qualified(app),
        });
    }
    let automated = app
        .spec
        .sync_policy
        .as_ref()
        .is_some_and(|p| p.is_automated());
    if automated && !automation_off {
        return Err(RollbackError::AutomatedSyncEnabled {
            app: qualified(app),
        });
    }
    let running = app
        .status
        .as_ref()
        .and_then(|s| s.operation_state.as_ref())
        .is_some_and(|o| !o.phase.is_completed());
    if app.operation.is_some() || running {
        return Err(RollbackError::OperationInProgress {
            app: qualified(app),
        });
    }
    Ok(())
}

/// A JSON merge patch for the Application that requests the rollback; with
/// `disable_automation` it also removes `spec.syncPolicy.automated` in the same write (Argo
/// CD's UI: "disable auto-sync and roll back"), so automation stays off afterwards.
///
/// Errors: as [`rollback_operation`], except that automation being on is allowed when
/// `disable_automation` is set.
pub fn rollback_patch(
    app: &Application,
    id: i64,
    prune: bool,
    disable_automation: bool,
) -> Result<Value, RollbackError> {
    rollback_checks(app, disable_automation)?;
    let mut unlocked = app.clone();
    if disable_automation && let Some(policy) = unlocked.spec.sync_policy.as_mut() {
        policy.automated = None;
    }
    let op = rollback_operation(&unlocked, id, prune)?;
    let mut patch = json!({ "operation": op });
    if disable_automation
        && app
            .spec
            .sync_policy
            .as_ref()
            .is_some_and(|p| p.automated.is_some())
    {
        patch["spec"] = json!({"syncPolicy": {"automated": null}});
    }
    Ok(patch)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn app(automated: bool) -> Application {
        let mut v = json!({
            "apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
            "metadata": {"name": "shop", "namespace": "argocd"},
            "spec": {"project": "default",
                     "source": {"repoURL": "https://git.example/shop.git", "path": "deploy", "targetRevision": "main"},
                     "destination": {"server": "https://kubernetes.default.svc", "namespace": "shop"}},
            "status": {"history": [
                {"id": 0, "revision": "aaaa", "deployedAt": "2024-01-01T00:00:00Z",
                 "source": {"repoURL": "https://git.example/shop.git", "path": "deploy", "targetRevision": "main"}},
                {"id": 1, "revision": "bbbb", "deployedAt": "2024-01-02T00:00:00Z",
                 "source": {"repoURL": "https://git.example/shop.git", "path": "deploy-v2", "targetRevision": "main"}},
                {"id": 2, "revision": "cccc", "deployedAt": "2024-01-03T00:00:00Z"}
            ]}
        });
        if automated {
            v["spec"]["syncPolicy"] = json!({"automated": {"prune": true}});
        }
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn the_operation_takes_the_history_entry() {
        let op = rollback_operation(&app(false), 1, true).unwrap();
        let sync = op.sync.unwrap();
        assert_eq!(sync.revision.as_deref(), Some("bbbb"));
        assert_eq!(sync.source.unwrap().path.as_deref(), Some("deploy-v2"));
        assert_eq!(sync.prune, Some(true));
        assert_eq!(sync.sync_strategy, Some(json!({"apply": {}})));
    }

    #[test]
    fn argo_cd_refusals() {
        assert_eq!(
            rollback_operation(&app(true), 0, false),
            Err(RollbackError::AutomatedSyncEnabled {
                app: "argocd/shop".into()
            })
        );
        assert!(matches!(
            rollback_operation(&app(false), 7, false),
            Err(RollbackError::UnknownHistoryId { id: 7, .. })
        ));
        assert!(matches!(
            rollback_operation(&app(false), 2, false),
            Err(RollbackError::NoSourceInHistory { id: 2, .. })
        ));
        let mut busy = app(false);
        busy.operation = Some(Operation::default());
        assert!(matches!(
            rollback_operation(&busy, 0, false),
            Err(RollbackError::OperationInProgress { .. })
        ));
        assert_eq!(
            RollbackError::UnknownHistoryId {
                app: "argocd/shop".into(),
                id: 7
            }
            .to_string(),
            "application argocd/shop does not have deployment with id 7"
        );
    }

    #[test]
    fn the_patch_can_turn_automation_off_in_the_same_write() {
        assert!(rollback_patch(&app(true), 0, false, false).is_err());
        let patch = rollback_patch(&app(true), 0, false, true).unwrap();
        assert_eq!(patch["spec"]["syncPolicy"]["automated"], Value::Null);
        assert_eq!(patch["operation"]["sync"]["revision"], "aaaa");
        let plain = rollback_patch(&app(false), 0, true, true).unwrap();
        assert!(plain.get("spec").is_none());
        assert_eq!(plain["operation"]["sync"]["prune"], true);
    }
}
