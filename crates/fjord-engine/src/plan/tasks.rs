//! The sync state machine's decisions, free of I/O: given every task of an operation (hooks,
//! applies, prunes) with its phase, wave and state, what happens next.
//!
//! A sync runs one (phase, wave) step at a time, lowest first, and moves on only when every
//! task started so far has finished: hooks have completed and applied objects are healthy.
//! A failed task fails the operation, after the SyncFail hooks have run. The states come
//! from the operation's recorded results and the live objects, so the controller can stop
//! between steps (a reconcile, a restart) and resume where it was.
//!
//! Prune tasks run in reverse wave order (Argo CD swaps the prune waves symmetrically), and
//! `PruneLast` ones in an extra wave after the last Sync-phase wave: [`prune_waves`].

use super::order::SyncPhase;

/// What a task does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TaskKind {
    /// Runs a hook.
    Hook,
    /// Applies a desired object.
    Apply,
    /// Deletes an object no longer rendered.
    Prune,
}

/// Where a task is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TaskState {
    /// Not started.
    Pending,
    /// Started; a hook not complete, or an applied object not healthy yet.
    Running,
    /// Done.
    Succeeded,
    /// Failed: the operation fails.
    Failed,
}

/// The planner's view of one task.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TaskView {
    /// Phase.
    pub phase: SyncPhase,
    /// Wave (for prunes: after [`prune_waves`]).
    pub wave: i64,
    /// What it does.
    pub kind: TaskKind,
    /// Where it is.
    pub state: TaskState,
}

/// What the sync does next.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NextStep {
    /// Run these tasks (indexes): the pending ones of the lowest (phase, wave).
    Run(Vec<usize>),
    /// Run these SyncFail hooks: the operation has failed.
    RunSyncFail(Vec<usize>),
    /// Wait for this task (index) to finish.
    Wait(usize),
    /// Every task succeeded.
    Succeeded,
    /// This task (index) failed, and the SyncFail hooks (if any) have run.
    Failed(usize),
}

/// The next step of an operation whose tasks are `tasks`.
pub fn next_step(tasks: &[TaskView]) -> NextStep {
    let is_fail_hook = |t: &TaskView| t.phase == SyncPhase::SyncFail;
    let failed = tasks
        .iter()
        .position(|t| !is_fail_hook(t) && t.state == TaskState::Failed);
    if let Some(failed) = failed {
        let pending: Vec<usize> =
            indexes(tasks, |t| is_fail_hook(t) && t.state == TaskState::Pending);
        if !pending.is_empty() {
            return NextStep::RunSyncFail(pending);
        }
        if let Some(running) = tasks
            .iter()
            .position(|t| is_fail_hook(t) && t.state == TaskState::Running)
        {
            return NextStep::Wait(running);
        }
        return NextStep::Failed(failed);
    }
    if let Some(running) = tasks
        .iter()
        .position(|t| !is_fail_hook(t) && t.state == TaskState::Running)
    {
        return NextStep::Wait(running);
    }
    let next = tasks
        .iter()
        .filter(|t| !is_fail_hook(t) && t.state == TaskState::Pending)
        .map(|t| (t.phase, t.wave))
        .min();
    match next {
        Some(step) => NextStep::Run(indexes(tasks, |t| {
            !is_fail_hook(t) && t.state == TaskState::Pending && (t.phase, t.wave) == step
        })),
        None => NextStep::Succeeded,
    }
}

fn indexes(tasks: &[TaskView], keep: impl Fn(&TaskView) -> bool) -> Vec<usize> {
    tasks
        .iter()
        .enumerate()
        .filter(|(_, t)| keep(t))
        .map(|(i, _)| i)
        .collect()
}

/// One task's wave as [`prune_waves`] sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WaveInput {
    /// Phase.
    pub phase: SyncPhase,
    /// The object's own wave.
    pub wave: i64,
    /// A prune task.
    pub prune: bool,
    /// A prune task with `PruneLast`.
    pub prune_last: bool,
}

/// The effective wave of every task: prune tasks get the mirror image of their wave among
/// the prune waves (the highest wave is pruned first, at the lowest prune wave's turn), and
/// `PruneLast` prunes the wave after the last Sync-phase wave (counting the mirrored prunes).
pub fn prune_waves(tasks: &[WaveInput]) -> Vec<i64> {
    let mut prune: Vec<i64> = tasks.iter().filter(|t| t.prune).map(|t| t.wave).collect();
    prune.sort_unstable();
    prune.dedup();
    let mirrored: Vec<i64> = tasks
        .iter()
        .map(|t| match prune.iter().position(|w| *w == t.wave) {
            Some(i) if t.prune => prune[prune.len() - 1 - i],
            _ => t.wave,
        })
        .collect();
    // The last Sync-phase wave, prunes included (Argo CD starts from 0).
    let last_sync = tasks
        .iter()
        .zip(&mirrored)
        .filter(|(t, _)| t.phase == SyncPhase::Sync)
        .map(|(_, w)| *w)
        .fold(0, i64::max);
    tasks
        .iter()
        .zip(mirrored)
        .map(|(t, w)| {
            if t.prune && t.prune_last {
                last_sync + 1
            } else {
                w
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use SyncPhase::*;
    use TaskKind::*;
    use TaskState::*;

    fn t(phase: SyncPhase, wave: i64, kind: TaskKind, state: TaskState) -> TaskView {
        TaskView {
            phase,
            wave,
            kind,
            state,
        }
    }

    #[test]
    fn steps_run_in_phase_then_wave_order() {
        let mut tasks = vec![
            t(PostSync, 0, Hook, Pending),
            t(Sync, 1, Apply, Pending),
            t(PreSync, 0, Hook, Pending),
            t(Sync, 0, Apply, Pending),
            t(Sync, 0, Apply, Pending),
            t(SyncFail, 0, Hook, Pending),
        ];
        assert_eq!(next_step(&tasks), NextStep::Run(vec![2]));
        tasks[2].state = Running;
        assert_eq!(next_step(&tasks), NextStep::Wait(2));
        tasks[2].state = Succeeded;
        assert_eq!(next_step(&tasks), NextStep::Run(vec![3, 4]));
        tasks[3].state = Succeeded;
        tasks[4].state = Running; // not healthy yet
        assert_eq!(next_step(&tasks), NextStep::Wait(4));
        tasks[4].state = Succeeded;
        assert_eq!(next_step(&tasks), NextStep::Run(vec![1]));
        tasks[1].state = Succeeded;
        assert_eq!(next_step(&tasks), NextStep::Run(vec![0]));
        tasks[0].state = Succeeded;
        assert_eq!(
            next_step(&tasks),
            NextStep::Succeeded,
            "SyncFail never runs"
        );
    }

    #[test]
    fn a_failure_runs_the_sync_fail_hooks_then_fails() {
        let mut tasks = vec![
            t(PreSync, 0, Hook, Failed),
            t(Sync, 0, Apply, Pending),
            t(SyncFail, 0, Hook, Pending),
            t(SyncFail, 1, Hook, Pending),
        ];
        assert_eq!(next_step(&tasks), NextStep::RunSyncFail(vec![2, 3]));
        tasks[2].state = Running;
        tasks[3].state = Succeeded;
        assert_eq!(next_step(&tasks), NextStep::Wait(2));
        tasks[2].state = Failed;
        assert_eq!(next_step(&tasks), NextStep::Failed(0));
        let plain = vec![t(Sync, 0, Apply, Failed), t(Sync, 1, Apply, Pending)];
        assert_eq!(next_step(&plain), NextStep::Failed(0));
    }

    #[test]
    fn prunes_mirror_their_waves_and_prune_last_goes_after_everything() {
        let w = |phase, wave, prune, prune_last| WaveInput {
            phase,
            wave,
            prune,
            prune_last,
        };
        let waves = prune_waves(&[
            w(Sync, 0, false, false),
            w(Sync, 3, false, false),
            w(Sync, -1, true, false),
            w(Sync, 2, true, false),
            w(Sync, 5, true, false),
            w(Sync, 0, true, true),
            w(PostSync, 9, false, false),
        ]);
        assert_eq!(waves, [0, 3, 5, 0, -1, 6, 9]);
    }
}
