//! The local executor: every cell still to run in a worker process on this machine
//! (`tagscale run GRID --cell K`), the machine's threads split between the workers. The
//! sweep returns once every cell is FINISHED, FAILED or KILLED — waiting on cells that other
//! live processes hold.
//!
//! Workers die with their sweep (`PR_SET_PDEATHSIG`), so a SIGKILLed sweep leaves no training
//! behind; the runs it held are marked KILLED by the next sweep, which runs them again.

use std::collections::{BTreeMap, HashSet};
use std::process::Child;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tracking::{RunRecord, Store};

use crate::error::{Result, RunnerError};
use crate::plan::{CellState, plan};
use crate::progress::SweepProgress;
use crate::sweep::{Executed, Executor, FrozenSweep};

/// Worker processes on this machine.
#[derive(Debug, Clone)]
pub struct LocalWorkers {
    /// Cells running at once (at least one).
    pub workers: usize,
    /// How often to look at the store and the workers.
    pub poll: Duration,
}

impl Executor for LocalWorkers {
    /// Interrupted, it stops launching, forwards SIGTERM to the workers (their runs end
    /// KILLED) and returns [`RunnerError::Interrupted`].
    fn execute(
        &self,
        sweep: &FrozenSweep<'_>,
        progress: &dyn SweepProgress,
        interrupt: &AtomicBool,
    ) -> Result<Executed> {
        sweep.prepare_cache(progress, interrupt)?;
        let store = sweep.store;
        let workers = self.workers.max(1);
        let threads = (sweep.env.threads / workers).max(1);
        let mut running: BTreeMap<usize, Child> = BTreeMap::new();
        let mut attempted: HashSet<usize> = HashSet::new();
        loop {
            if interrupt.load(Ordering::Relaxed) {
                stop_workers(&mut running, progress);
                return Err(RunnerError::Interrupted);
            }
            reap_workers(&mut running, progress);
            sweep.reap_dead()?;
            let states = store.cell_runs(&sweep.record)?;
            let mut todo = Vec::new();
            let mut held_elsewhere = false;
            let mut done = 0;
            for (index, state) in plan(&states, sweep.retry_failed) {
                if running.contains_key(&index) {
                    continue;
                }
                // A cell this sweep already started once counts as done whatever its end:
                // the sweep reports why it did not finish rather than retrying it for ever.
                match state {
                    CellState::ToRun if !attempted.contains(&index) => todo.push(index),
                    CellState::Held => held_elsewhere = true,
                    _ => done += 1,
                }
            }
            progress.cells(done, states.len());
            for index in todo {
                if running.len() >= workers {
                    break;
                }
                attempted.insert(index);
                let child = sweep.command.spawn(index, threads).map_err(|e| {
                    RunnerError::io(&sweep.command.program, "cannot start a worker process", e)
                })?;
                progress.worker_started(index, &sweep.configs[index]);
                running.insert(index, child);
            }
            if running.is_empty() && !held_elsewhere && done == states.len() {
                break;
            }
            if progress.shows_workers() {
                show_workers(store, &states, &running, progress);
            }
            std::thread::sleep(self.poll);
        }
        progress.finished();
        Ok(Executed::Ended(sweep.cells()?))
    }
}

/// Collect workers that exited; a worker that failed before recording anything says so.
fn reap_workers(running: &mut BTreeMap<usize, Child>, progress: &dyn SweepProgress) {
    running.retain(|cell, child| match child.try_wait() {
        Ok(None) => true,
        Ok(Some(status)) => {
            if !status.success() {
                tracing::debug!("worker of cell {cell} exited with {status}");
            }
            progress.worker_ended(*cell);
            false
        }
        Err(e) => {
            tracing::warn!("cannot wait on the worker of cell {cell}: {e}");
            progress.worker_ended(*cell);
            false
        }
    });
}

/// SIGTERM every worker (each marks its run KILLED) and wait for them.
fn stop_workers(running: &mut BTreeMap<usize, Child>, progress: &dyn SweepProgress) {
    for child in running.values() {
        // SAFETY: kill(2) on the pid of a child we have not yet waited on.
        unsafe {
            libc::kill(child.id() as libc::pid_t, libc::SIGTERM);
        }
    }
    for (cell, child) in running.iter_mut() {
        let _ = child.wait();
        progress.worker_ended(*cell);
    }
    running.clear();
}

/// Hand each running worker's run and its evaluations so far to `progress`.
fn show_workers(
    store: &Store,
    states: &[(tracking::CellSpec, Option<RunRecord>)],
    running: &BTreeMap<usize, Child>,
    progress: &dyn SweepProgress,
) {
    for cell in running.keys() {
        let Some((_, Some(run))) = states.get(*cell) else {
            continue;
        };
        if let Ok(evaluations) = store.epoch_metrics(run.id) {
            progress.worker_news(*cell, run, &evaluations);
        }
    }
}
