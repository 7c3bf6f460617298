//! Sync planning (first part): the order objects are applied and pruned in.
//!
//! Argo CD orders a sync by phase (PreSync, Sync, PostSync, SyncFail), then sync wave
//! (`argocd.argoproj.io/sync-wave`, default 0), then kind (Helm's install order: Namespaces
//! and CRDs before what needs them, workloads after their config), then name. Prune runs in
//! the reverse order. Hooks and wave gating belong to the sync state machine, which comes
//! later; this module only sorts.

mod order;

pub use order::{SyncPhase, apply_order, kind_rank, prune_order, sync_phase, sync_wave};
