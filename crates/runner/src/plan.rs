//! Which cells of a frozen sweep still need running — the one place that rule lives. It is
//! the rule [`tracking::Store::claim`] applies atomically when a worker claims its cell; the
//! executors (local workers, a Slurm array) use it to choose what to start or submit, and the
//! claim settles any race between them.

use tracking::{CellSpec, RunRecord, Status};

use crate::config::RunConfig;
use crate::grid::ModelKind;

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

/// Order `cells` (indices into `configs`) so the longest are started first, which shortens a
/// sweep's tail: with cells in grid order the largest deep cells came last and ran alone while
/// the other workers idled (measured on `experiments/scale.toml`: 11.9 min, of which the last
/// ~2 min on one worker). Expected length by kind and size: deep before GBT (seconds), then
/// larger training sets, then the waveform model (dearer per step) before the spectrogram
/// model. Ties keep grid order. Which cells run is unchanged, and each cell's result does not
/// depend on when it runs.
pub fn longest_first(cells: &mut [usize], configs: &[RunConfig]) {
    let rank = |model: ModelKind| match model {
        ModelKind::Waveform => 0,
        ModelKind::Spectrogram => 1,
        ModelKind::Gbt => 2,
    };
    cells.sort_by_key(|&i| {
        configs.get(i).map_or((3, 0, 0), |c| {
            let gbt = usize::from(c.model == ModelKind::Gbt);
            (gbt, usize::MAX - c.train_size, rank(c.model))
        })
    });
}

#[cfg(test)]
mod tests {
    use super::CellState::{self, *};
    use tracking::Status;

    #[test]
    fn the_largest_deep_cells_start_first() {
        let grid = crate::grid::Grid::parse(
            "[experiment]\nname = \"t\"\n[dataset]\nkind = \"synth\"\ntracks = 200\n[features]\npatch_seconds = 3.2\n\
             [grid]\nmodel = [\"gbt\", \"waveform\", \"spectrogram\"]\n\
             train_size = [20, 40]\nbackend = [\"flex\"]\nseed = [1]\n",
        )
        .expect("a valid grid");
        let configs: Vec<_> = grid
            .cells()
            .expect("cells")
            .iter()
            .map(|c| grid.resolve(c))
            .collect();
        let mut cells: Vec<usize> = (0..configs.len()).collect();
        super::longest_first(&mut cells, &configs);
        let order: Vec<(&str, usize)> = cells
            .iter()
            .map(|&i| (configs[i].model.as_str(), configs[i].train_size))
            .collect();
        assert_eq!(
            order,
            [
                ("waveform", 40),
                ("spectrogram", 40),
                ("waveform", 20),
                ("spectrogram", 20),
                ("gbt", 40),
                ("gbt", 20),
            ]
        );
    }

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
