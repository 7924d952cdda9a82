//! Sweeps: freeze a grid's cells in the store, then hand every cell that is not finished to
//! an [`Executor`] — worker processes on this machine ([`crate::local::LocalWorkers`]) or a
//! Slurm job array ([`crate::slurm::SlurmArray`]). Every cell's process claims its cell
//! atomically, so two sweeps of one grid share the work and never run a cell twice; which cells
//! still need running is [`crate::plan`]'s rule alone.

use std::cell::RefCell;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use tracking::{RunRecord, Store, SweepRecord};

use crate::command::CellCommand;
use crate::config::RunConfig;
use crate::dataset::{cache_dir, ensure_cache, feature_config, manifest};
use crate::env::Env;
use crate::error::{Result, RunnerError};
use crate::execute::GridFile;
use crate::progress::{CacheProgress, SweepProgress};

/// Where a sweep's cells run.
pub trait Executor {
    /// Refuse a store this executor cannot use safely, before anything is written to it.
    fn check_store(&self, _store_url: &str) -> Result<()> {
        Ok(())
    }

    /// Run, or hand to a scheduler, every cell of `sweep` still to run. `interrupt` (set by
    /// SIGINT/SIGTERM) ends it as [`RunnerError::Interrupted`].
    fn execute(
        &self,
        sweep: &FrozenSweep<'_>,
        progress: &dyn SweepProgress,
        interrupt: &AtomicBool,
    ) -> Result<Executed>;
}

/// A sweep whose cells are in the store, as an executor receives it.
pub struct FrozenSweep<'a> {
    pub store: &'a Store,
    pub env: &'a Env,
    pub grid: &'a GridFile,
    pub record: SweepRecord,
    /// Each cell's config, by index.
    pub configs: Vec<RunConfig>,
    /// What runs one cell.
    pub command: CellCommand,
    /// Whether cells whose last run FAILED run again.
    pub retry_failed: bool,
    /// Runs of dead processes marked KILLED so far ([`FrozenSweep::reap_dead`]).
    reaped: RefCell<Vec<i64>>,
}

impl FrozenSweep<'_> {
    /// Mark the runs of dead processes KILLED (their cells then need running again); the
    /// sweep's outcome lists them.
    pub fn reap_dead(&self) -> Result<()> {
        let reaped = self.store.reap_dead()?;
        self.reaped.borrow_mut().extend(reaped);
        Ok(())
    }

    /// Build the grid's feature cache before any cell starts (they would race to build it).
    pub fn prepare_cache(&self, progress: &dyn CacheProgress, stop: &AtomicBool) -> Result<()> {
        prepare_cache(self.grid, &self.env.data_root, progress, stop)
    }

    /// Every cell with its config and standing run, as the store has them now.
    pub fn cells(&self) -> Result<Vec<SweepCell>> {
        Ok(self
            .store
            .cell_runs(&self.record)?
            .into_iter()
            .zip(&self.configs)
            .map(|((cell, run), config)| SweepCell {
                index: cell.index as usize,
                config: config.clone(),
                run,
            })
            .collect())
    }
}

/// What an executor did with a sweep.
#[derive(Debug)]
pub enum Executed {
    /// Every cell ended here (local workers): where each stands.
    Ended(Vec<SweepCell>),
    /// The cells still to run went to a scheduler as one job.
    Submitted(SubmittedJob),
    /// Nothing to submit: every cell is FINISHED, running, queued, or FAILED (and failed
    /// cells are not retried).
    NothingToSubmit,
    /// The job script, printed instead of submitted.
    Script(String),
}

/// Cells handed to a scheduler.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubmittedJob {
    pub job: String,
    pub cells: Vec<i64>,
    /// The scheduler's array of the cells (`0-3,5%2`).
    pub array: String,
    /// Where the tasks' logs go.
    pub log_dir: std::path::PathBuf,
}

/// A sweep after its executor: the sweep, the runs of dead processes marked KILLED, and what
/// the executor did.
#[derive(Debug)]
pub struct SweepOutcome {
    pub sweep: SweepRecord,
    pub reaped: Vec<i64>,
    pub executed: Executed,
}

/// One cell of a sweep: its config and its standing run, if any.
#[derive(Debug, Clone)]
pub struct SweepCell {
    pub index: usize,
    pub config: RunConfig,
    pub run: Option<RunRecord>,
}

impl SweepCell {
    /// Why the cell did not finish; `None` when it did.
    pub fn unfinished(&self) -> Option<String> {
        match &self.run {
            Some(r) => r.unfinished(),
            None => Some("not run (its worker could not claim it)".into()),
        }
    }
}

/// Every cell of a frozen sweep with its config (from the store) and standing run.
pub fn sweep_cells(store: &Store, sweep: &SweepRecord) -> Result<Vec<SweepCell>> {
    store
        .cell_runs(sweep)?
        .into_iter()
        .map(|(cell, run)| {
            let config = RunConfig::from_json(&cell.config_json).map_err(|e| {
                RunnerError::StoredConfig(format!("sweep {} cell {}: {e}", sweep.id, cell.index))
            })?;
            Ok(SweepCell {
                index: cell.index as usize,
                config,
                run,
            })
        })
        .collect()
}

/// Freeze `grid` in the store, mark the runs of dead processes KILLED, and hand the sweep to
/// `executor`.
pub fn sweep(
    store: &Store,
    env: &Env,
    grid: &GridFile,
    retry_failed: bool,
    executor: &dyn Executor,
    progress: &dyn SweepProgress,
    interrupt: &AtomicBool,
) -> Result<SweepOutcome> {
    executor.check_store(&env.store_url)?;
    let configs = grid.configs()?;
    let id = grid.freeze(store)?;
    let frozen = FrozenSweep {
        store,
        env,
        grid,
        record: store.sweep(id)?,
        configs,
        command: CellCommand::new(env, &grid.path, retry_failed),
        retry_failed,
        reaped: RefCell::default(),
    };
    frozen.reap_dead()?;
    let executed = executor.execute(&frozen, progress, interrupt)?;
    Ok(SweepOutcome {
        sweep: frozen.record,
        reaped: frozen.reaped.into_inner(),
        executed,
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
