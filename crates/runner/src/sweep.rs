//! Sweeps: freeze a grid's cells in the store, then run every cell that is not finished in
//! worker processes (`tagscale run GRID --cell K`), each claiming its cell atomically. A sweep
//! returns once every cell is FINISHED, FAILED or KILLED — waiting on cells that other live
//! processes hold — so two sweeps of one grid share the work and never run a cell twice.
//!
//! Workers die with their sweep (`PR_SET_PDEATHSIG`), so a SIGKILLed sweep leaves no training
//! behind; the runs it held are marked KILLED by the next sweep, which runs them again.

use std::collections::{BTreeMap, HashSet};
use std::ffi::OsString;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use tracking::{RunRecord, Status, Store, SweepRecord};

use crate::config::RunConfig;
use crate::dataset::{cache_dir, ensure_cache, feature_config, manifest};
use crate::error::{Result, RunnerError};
use crate::execute::{Env, GridFile};
use crate::plan::{CellState, plan};

/// How to start a worker: the program and the arguments before `--cell K --threads T`.
#[derive(Debug, Clone)]
pub struct WorkerCommand {
    pub program: PathBuf,
    pub args: Vec<OsString>,
    pub env: Vec<(String, OsString)>,
}

impl WorkerCommand {
    fn spawn(&self, cell: usize, threads: usize) -> std::io::Result<Child> {
        let mut command = Command::new(&self.program);
        command
            .args(&self.args)
            .args([
                "--cell",
                &cell.to_string(),
                "--threads",
                &threads.to_string(),
            ])
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::null());
        // SAFETY: prctl is async-signal-safe; it only asks the kernel to SIGKILL the child
        // when this (the spawning) thread exits, so no worker outlives a killed sweep.
        unsafe {
            command.pre_exec(|| {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                // The parent may have died between fork and prctl.
                if libc::getppid() == 1 {
                    return Err(std::io::Error::other("the sweep exited"));
                }
                Ok(())
            });
        }
        command.spawn()
    }
}

#[derive(Debug, Clone)]
pub struct SweepOptions {
    pub workers: usize,
    pub retry_failed: bool,
    pub quiet: bool,
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
    worker: &WorkerCommand,
    interrupt: &AtomicBool,
) -> Result<SweepSummary> {
    let configs = grid.configs()?;
    let id = grid.freeze(store)?;
    let record = store.sweep(id)?;
    let mut reaped = store.reap_dead()?;
    let display = Display::new(configs.len(), options.quiet);
    prepare_cache(grid, env, &display, interrupt)?;
    let workers = options.workers.max(1);
    let threads = (env.threads / workers).max(1);
    let mut running: BTreeMap<usize, (Child, ProgressBar)> = BTreeMap::new();
    let mut attempted: HashSet<usize> = HashSet::new();
    loop {
        if interrupt.load(Ordering::Relaxed) {
            stop_workers(&mut running);
            return Err(RunnerError::Interrupted);
        }
        reap_workers(&mut running);
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
        display.cells.set_position(done);
        for index in todo {
            if running.len() >= workers {
                break;
            }
            attempted.insert(index);
            let child = worker.spawn(index, threads).map_err(|e| {
                RunnerError::io(&worker.program, "cannot start a worker process", e)
            })?;
            running.insert(index, (child, display.worker(index, &configs[index])));
        }
        if running.is_empty() && !held_elsewhere && done as usize == states.len() {
            break;
        }
        display.update(store, &states, &running);
        std::thread::sleep(options.poll);
    }
    display.cells.finish_and_clear();
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

/// Build the grid's feature cache once, before workers start (they would race to build it).
fn prepare_cache(grid: &GridFile, env: &Env, display: &Display, stop: &AtomicBool) -> Result<()> {
    let bar = display.add(ProgressBar::no_length());
    prepare_cache_with(grid, &env.data_root, &bar, stop)
}

/// The same under `data_root`, showing progress on `bar` (also what a Slurm submission does
/// before submitting); `stop` (a signal) ends it as [`RunnerError::Interrupted`].
pub fn prepare_cache_with(
    grid: &GridFile,
    data_root: &Path,
    bar: &ProgressBar,
    stop: &AtomicBool,
) -> Result<()> {
    let manifest = manifest(&grid.grid, data_root)?;
    let dir = cache_dir(&grid.grid, &manifest, data_root);
    bar.set_length(manifest.tracks.len() as u64);
    bar.set_style(bar_style(
        "{msg:>12} [{bar:30}] {pos}/{len} tracks (ETA {eta})",
    ));
    bar.set_message("cache");
    let on_tracks = |n| bar.inc(n);
    ensure_cache(
        &dir,
        &manifest,
        &feature_config(&grid.grid),
        &on_tracks,
        stop,
    )?;
    bar.finish_and_clear();
    Ok(())
}

/// Collect workers that exited; a worker that failed before recording anything says so.
fn reap_workers(running: &mut BTreeMap<usize, (Child, ProgressBar)>) {
    running.retain(|cell, (child, bar)| match child.try_wait() {
        Ok(None) => true,
        Ok(Some(status)) => {
            if !status.success() {
                tracing::debug!("worker of cell {cell} exited with {status}");
            }
            bar.finish_and_clear();
            false
        }
        Err(e) => {
            tracing::warn!("cannot wait on the worker of cell {cell}: {e}");
            bar.finish_and_clear();
            false
        }
    });
}

/// SIGTERM every worker (each marks its run KILLED) and wait for them.
fn stop_workers(running: &mut BTreeMap<usize, (Child, ProgressBar)>) {
    for (child, _) in running.values() {
        // SAFETY: kill(2) on the pid of a child we have not yet waited on.
        unsafe {
            libc::kill(child.id() as libc::pid_t, libc::SIGTERM);
        }
    }
    for (child, bar) in running.values_mut() {
        let _ = child.wait();
        bar.finish_and_clear();
    }
    running.clear();
}

fn bar_style(template: &str) -> ProgressStyle {
    ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar())
}

/// The sweep's progress: a bar over cells and a line per worker showing its epoch.
struct Display {
    multi: MultiProgress,
    cells: ProgressBar,
}

impl Display {
    fn new(cells: usize, quiet: bool) -> Self {
        let multi = MultiProgress::with_draw_target(if quiet {
            ProgressDrawTarget::hidden()
        } else {
            ProgressDrawTarget::stderr()
        });
        let bar = multi.add(ProgressBar::new(cells as u64));
        bar.set_style(bar_style(
            "{msg:>12} [{bar:30}] {pos}/{len} cells ({elapsed}, ETA {eta})",
        ));
        bar.set_message("sweep");
        Self { multi, cells: bar }
    }

    fn add(&self, bar: ProgressBar) -> ProgressBar {
        self.multi.add(bar)
    }

    fn worker(&self, cell: usize, config: &RunConfig) -> ProgressBar {
        let bar = self.add(ProgressBar::new_spinner());
        bar.set_style(bar_style("{spinner} {prefix} {msg}"));
        bar.set_prefix(format!(
            "cell {cell} {} n={} {} seed {}",
            config.model.as_str(),
            config.train_size,
            config.backend_name(),
            config.seed
        ));
        bar.enable_steady_tick(Duration::from_millis(200));
        bar
    }

    /// Show each worker's latest epoch, read from the store.
    fn update(
        &self,
        store: &Store,
        states: &[(tracking::CellSpec, Option<RunRecord>)],
        running: &BTreeMap<usize, (Child, ProgressBar)>,
    ) {
        if self.cells.is_hidden() {
            return;
        }
        for (cell, (_, bar)) in running {
            let Some((_, Some(run))) = states.get(*cell) else {
                continue;
            };
            let Ok(metrics) = store.epoch_metrics(run.id) else {
                continue;
            };
            let message = match metrics.last() {
                Some(last) => {
                    let value = |key: &str| {
                        metrics
                            .iter()
                            .rev()
                            .find(|m| m.epoch == last.epoch && m.split == "valid" && m.key == key)
                            .map_or(String::new(), |m| format!(" valid {key} {:.3}", m.value))
                    };
                    format!(
                        "run {} epoch {}{}{}",
                        run.id,
                        last.epoch + 1,
                        value("loss"),
                        value("roc_auc")
                    )
                }
                None => format!("run {} {}", run.id, run.status),
            };
            bar.set_message(message);
        }
    }
}
