//! Which cells of a frozen sweep still need running — the one place that rule lives. It is
//! the rule [`tracking::Store::claim`] applies atomically when a worker claims its cell; the
//! executors (local workers, a Slurm array) use it to choose what to start or submit, and the
//! claim settles any race between them.

use tracking::{CellSpec, RunRecord, Status};

/// Where a cell stands, judged by the run that stands for it
/// ([`tracking::Store::cell_runs`]: its FINISHED run, else its newest).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CellState {
    /// Its run FINISHED: nothing to do.
    Done,
    /// Its run is QUEUED or RUNNING: a process holds it (reaping first marks the runs of dead
    /// processes KILLED, so a held cell has a live holder).
    Held,
    /// Its last run FAILED and failures are not retried.
    Failed,
    /// Never run, KILLED, or FAILED with `retry_failed`: a worker should claim it.
    ToRun,
}

impl CellState {
    /// The state of a cell whose standing run has `status` (`None`: no run yet).
    pub fn of(status: Option<Status>, retry_failed: bool) -> Self {
        match status {
            None | Some(Status::Killed) => Self::ToRun,
            Some(Status::Failed) if retry_failed => Self::ToRun,
            Some(Status::Failed) => Self::Failed,
            Some(Status::Queued | Status::Running) => Self::Held,
            Some(Status::Finished) => Self::Done,
        }
    }
}

/// Every cell's index and state, in cell order.
pub fn plan(
    cells: &[(CellSpec, Option<RunRecord>)],
    retry_failed: bool,
) -> Vec<(usize, CellState)> {
    cells
        .iter()
        .map(|(cell, run)| {
            let index = usize::try_from(cell.index).unwrap_or(usize::MAX);
            (
                index,
                CellState::of(run.as_ref().map(|r| r.status), retry_failed),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::CellState::{self, *};
    use tracking::Status;

    #[test]
    fn every_cell_state_follows_the_claim_rule() {
        // (standing run's status, retry_failed) -> state; what Store::claim does with the cell:
        // claims it (ToRun), or answers Finished / Held / Failed.
        let cases = [
            (None, false, ToRun),
            (None, true, ToRun),
            (Some(Status::Killed), false, ToRun),
            (Some(Status::Killed), true, ToRun),
            (Some(Status::Failed), false, Failed),
            (Some(Status::Failed), true, ToRun),
            (Some(Status::Queued), false, Held),
            (Some(Status::Queued), true, Held),
            (Some(Status::Running), false, Held),
            (Some(Status::Running), true, Held),
            (Some(Status::Finished), false, Done),
            (Some(Status::Finished), true, Done),
        ];
        for (status, retry_failed, expected) in cases {
            assert_eq!(
                CellState::of(status, retry_failed),
                expected,
                "{status:?} with retry_failed={retry_failed}"
            );
        }
    }
}
