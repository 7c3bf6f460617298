//! Sync planning: the order objects are applied and pruned in, resource hooks, and the
//! step-wise sync state machine's decisions.
//!
//! Argo CD orders a sync by phase (PreSync, Sync, PostSync, SyncFail), then sync wave
//! (`argocd.argoproj.io/sync-wave`, default 0), then kind (Helm's install order: Namespaces
//! and CRDs before what needs them, workloads after their config), then name ([`order`]).
//! Hooks (`argocd.argoproj.io/hook`, Helm's `helm.sh/hook`) run once per operation in their
//! phase ([`hooks`]). [`tasks`] decides the next step from the tasks' recorded states; the
//! controller performs it.

pub mod hooks;
mod order;
pub mod respect;
pub mod tasks;

pub use order::{SyncPhase, apply_order, kind_rank, prune_order, sync_phase, sync_wave};
