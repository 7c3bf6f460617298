//! The status of a multi-source Application in Argo CD's shape: the reconcile builds it as
//! for one source (one revision, one source), and [`multi_source_status`] rewrites the
//! revision fields into `revisions`/`sources` and `sourceTypes`; the sync logic keeps
//! comparing one revision identity through [`synced_revision`].

use super::source::Fetched;
use crate::status::{clear_condition, set_condition};
use crate::types::{ApplicationSpec, ApplicationStatus, condition_type};

/// The revision identity a sync result records: `revision`, or (multi-source) the
/// `revisions` joined as `Fetched::commit` joins them.
pub(crate) fn synced_revision(result: &crate::types::SyncOperationResult) -> String {
    if result.revision.is_empty() {
        result.revisions.join(",")
    } else {
        result.revision.clone()
    }
}

/// Rewrites the revision fields of a status built for one source into Argo CD's
/// multi-source shape: `revisions`/`sources` instead of `revision`/`source` in
/// `sync`, `operationState` and the newest history entry, and `sourceTypes`; sets or
/// clears the RepeatedResourceWarning condition.
pub(crate) fn multi_source_status(
    status: &mut ApplicationStatus,
    spec: &ApplicationSpec,
    fetched: &Fetched,
) {
    if fetched.repeated.is_empty() {
        clear_condition(
            &mut status.conditions,
            condition_type::REPEATED_RESOURCE_WARNING,
        );
    } else {
        let keys: Vec<String> = fetched.repeated.iter().map(|k| k.to_string()).collect();
        set_condition(
            &mut status.conditions,
            condition_type::REPEATED_RESOURCE_WARNING,
            &format!(
                "rendered by more than one source (the last source's is used): {}",
                keys.join(", ")
            ),
            &super::now(),
        );
    }
    if !fetched.multi {
        return;
    }
    status.source_types = fetched
        .source_types
        .iter()
        .map(|t| t.as_str().to_string())
        .collect();
    if let Some(sync) = status.sync.as_mut()
        && sync.revision.as_deref() == Some(fetched.commit.as_str())
    {
        sync.revision = None;
        sync.revisions = fetched.revisions.clone();
    }
    if let Some(op) = status.operation_state.as_mut() {
        if let Some(sync_op) = op.operation.sync.as_mut()
            && sync_op.revision.as_deref() == Some(fetched.commit.as_str())
        {
            sync_op.revision = None;
            sync_op.revisions = fetched.revisions.clone();
        }
        if let Some(result) = op.sync_result.as_mut()
            && result.revision == fetched.commit
        {
            result.revision = String::new();
            result.revisions = fetched.revisions.clone();
            result.source = None;
            result.sources = spec.sources.clone();
        }
    }
    if let Some(last) = status.history.last_mut()
        && last.revision.as_deref() == Some(fetched.commit.as_str())
    {
        last.revision = None;
        last.revisions = fetched.revisions.clone();
        last.source = None;
        last.sources = spec.sources.clone();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::SourceType;
    use crate::resource::ResourceKey;
    use crate::types::{
        ApplicationSource, Operation, OperationPhase, OperationState, RevisionHistory,
        SyncOperation, SyncOperationResult, SyncStatus, SyncStatusCode,
    };

    fn spec(n: usize) -> ApplicationSpec {
        ApplicationSpec {
            sources: (0..n)
                .map(|i| ApplicationSource {
                    repo_url: format!("https://git.example.com/{i}.git"),
                    reference: (i == 1).then(|| "values".to_string()),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        }
    }

    fn fetched(multi: bool, revisions: &[&str]) -> Fetched {
        Fetched {
            commit: revisions.join(","),
            revisions: revisions.iter().map(|r| r.to_string()).collect(),
            multi,
            source_type: SourceType::Helm,
            source_types: vec![SourceType::Helm, SourceType::Directory],
            rendered: std::sync::Arc::default(),
            repeated: Vec::new(),
        }
    }

    /// A status as the single-source reconcile writes it, at `commit`.
    fn status_at(commit: &str) -> ApplicationStatus {
        ApplicationStatus {
            sync: Some(SyncStatus {
                status: SyncStatusCode::Synced,
                compared_to: None,
                revision: Some(commit.into()),
                revisions: Vec::new(),
            }),
            operation_state: Some(OperationState {
                operation: Operation {
                    sync: Some(SyncOperation {
                        revision: Some(commit.into()),
                        ..Default::default()
                    }),
                    ..Default::default()
                },
                phase: OperationPhase::Succeeded,
                message: None,
                sync_result: Some(SyncOperationResult {
                    revision: commit.into(),
                    source: Some(ApplicationSource::default()),
                    ..Default::default()
                }),
                started_at: String::new(),
                finished_at: None,
                retry_count: None,
                extra: Default::default(),
            }),
            history: vec![RevisionHistory {
                revision: Some(commit.into()),
                source: Some(ApplicationSource::default()),
                ..Default::default()
            }],
            ..Default::default()
        }
    }

    #[test]
    fn multi_source_status_uses_revisions_and_sources() {
        let spec = spec(2);
        let f = fetched(true, &["aaa", "bbb"]);
        let mut status = status_at(&f.commit);
        multi_source_status(&mut status, &spec, &f);
        let sync = status.sync.as_ref().unwrap();
        assert_eq!(sync.revision, None);
        assert_eq!(sync.revisions, ["aaa", "bbb"]);
        let op = status.operation_state.as_ref().unwrap();
        assert_eq!(
            op.operation.sync.as_ref().unwrap().revisions,
            ["aaa", "bbb"]
        );
        let result = op.sync_result.as_ref().unwrap();
        assert_eq!(
            (result.revision.as_str(), result.source.is_none()),
            ("", true)
        );
        assert_eq!(result.sources, spec.sources);
        assert_eq!(
            synced_revision(result),
            f.commit,
            "the sync logic still compares"
        );
        let h = &status.history[0];
        assert_eq!((h.revision.is_none(), h.source.is_none()), (true, true));
        assert_eq!(h.revisions, ["aaa", "bbb"]);
        assert_eq!(status.source_types, ["Helm", "Directory"]);
    }

    #[test]
    fn single_source_status_is_left_alone_and_repeats_are_warned() {
        let mut f = fetched(false, &["aaa"]);
        let mut status = status_at("aaa");
        let before = status.clone();
        multi_source_status(&mut status, &spec(1), &f);
        assert_eq!(status, before);
        f.repeated = vec![ResourceKey::new("", "ConfigMap", "ns", "x")];
        multi_source_status(&mut status, &spec(1), &f);
        assert_eq!(status.conditions.len(), 1);
        assert_eq!(
            status.conditions[0].condition_type,
            condition_type::REPEATED_RESOURCE_WARNING
        );
        f.repeated.clear();
        multi_source_status(&mut status, &spec(1), &f);
        assert!(status.conditions.is_empty());
    }
}
