//! Sweeps: freeze a grid's cells in the store, then run every cell that is not finished in
//! worker processes (`tagscale run GRID --cell K`), each claiming its cell atomically. A sweep
//! returns once every cell is FINISHED, FAILED or KILLED — waiting on cells that other live
//! processes hold — so two sweeps of one grid share the work and never run a cell twice.
//!
//! Workers die with their sweep (`PR_SET_PDEATHSIG`), so a SIGKILLed sweep leaves no training
//! behind; the runs it held are marked KILLED by the next sweep, which runs them again.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::process::Child;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use tracking::{RunRecord, Status, Store, SweepRecord};

use crate::command::CellCommand;
use crate::config::RunConfig;
use crate::dataset::{cache_dir, ensure_cache, feature_config, manifest};
use crate::error::{Result, RunnerError};
use crate::execute::{Env, GridFile};
use crate::plan::{CellState, plan};
use crate::progress::{CacheProgress, SweepProgress};

#[derive(Debug, Clone)]
pub struct SweepOptions {
    pub workers: usize,
    pub retry_failed: bool,
    /// How often to look at the store and the workers.
    pub poll: Duration,
}

/// Where every cell of the grid stands after the sweep.
#[derive(Debug)]
pub struct SweepSummary {
    pub sweep: SweepRecord,
    pub cells: Vec<(usize, RunConfig, Option<RunRecord>)>,
    /// Runs of dead processes marked KILLED when the sweep started or while it waited.
    pub reaped: Vec<i64>,
}

impl SweepSummary {
    /// Cells that did not finish: `(cell, why)`.
    pub fn unfinished(&self) -> Vec<(usize, String)> {
        self.cells
            .iter()
            .filter_map(|(cell, _, run)| match run {
                Some(r) if r.status == Status::Finished => None,
                Some(r) => Some((
                    *cell,
                    format!(
                        "run {} {}: {}",
                        r.id,
                        r.status,
                        r.error.as_deref().unwrap_or("no error recorded")
                    ),
                )),
                None => Some((*cell, "not run (its worker could not claim it)".into())),
            })
            .collect()
    }
}

/// Run the sweep. `interrupt` (set by SIGINT/SIGTERM) stops launching, forwards SIGTERM to
/// the workers (their runs end KILLED) and returns [`RunnerError::Interrupted`].
pub fn sweep(
    store: &Store,
    env: &Env,
    grid: &GridFile,
    options: &SweepOptions,
    worker: &CellCommand,
    interrupt: &AtomicBool,
    progress: &dyn SweepProgress,
) -> Result<SweepSummary> {
    let configs = grid.configs()?;
    let id = grid.freeze(store)?;
    let record = store.sweep(id)?;
    let mut reaped = store.reap_dead()?;
    prepare_cache(grid, &env.data_root, progress, interrupt)?;
    let workers = options.workers.max(1);
    let threads = (env.threads / workers).max(1);
    let mut running: BTreeMap<usize, Child> = BTreeMap::new();
    let mut attempted: HashSet<usize> = HashSet::new();
    loop {
        if interrupt.load(Ordering::Relaxed) {
            stop_workers(&mut running, progress);
            return Err(RunnerError::Interrupted);
        }
        reap_workers(&mut running, progress);
        reaped.extend(store.reap_dead()?);
        let states = store.cell_runs(&record)?;
        let mut todo = Vec::new();
        let mut held_elsewhere = false;
        let mut done = 0;
        for (index, state) in plan(&states, options.retry_failed) {
            if running.contains_key(&index) {
                continue;
            }
            // A cell this sweep already started once counts as done whatever its end: the
            // sweep reports why it did not finish rather than retrying it for ever.
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
            let child = worker.spawn(index, threads).map_err(|e| {
                RunnerError::io(&worker.program, "cannot start a worker process", e)
            })?;
            progress.worker_started(index, &configs[index]);
            running.insert(index, child);
        }
        if running.is_empty() && !held_elsewhere && done == states.len() {
            break;
        }
        if progress.shows_workers() {
            show_workers(store, &states, &running, progress);
        }
        std::thread::sleep(options.poll);
    }
    progress.finished();
    let cells = store
        .cell_runs(&record)?
        .into_iter()
        .zip(configs)
        .map(|((cell, run), config)| (cell.index as usize, config, run))
        .collect();
    Ok(SweepSummary {
        sweep: record,
        cells,
        reaped,
    })
}

/// Build the grid's feature cache under `data_root` once, before workers start (they would
/// race to build it) — also what a Slurm submission does before submitting; `stop` (a
/// signal) ends it as [`RunnerError::Interrupted`].
pub fn prepare_cache(
    grid: &GridFile,
    data_root: &Path,
    progress: &dyn CacheProgress,
    stop: &AtomicBool,
) -> Result<()> {
    let manifest = manifest(&grid.grid, data_root)?;
    let dir = cache_dir(&grid.grid, &manifest, data_root);
    let total = manifest.tracks.len() as u64;
    let done = AtomicU64::new(0);
    progress.cache(0, total);
    let on_tracks = |n| progress.cache(done.fetch_add(n, Ordering::Relaxed) + n, total);
    ensure_cache(
        &dir,
        &manifest,
        &feature_config(&grid.grid),
        &on_tracks,
        stop,
    )?;
    progress.cache_done();
    Ok(())
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
