//! `tagscale sweep GRID` (local workers or a Slurm job array) and `tagscale sweep status`.

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand, ValueEnum};
use runner::execute::GridFile;
use runner::local::LocalWorkers;
use runner::progress::SweepProgress;
use runner::slurm::{self, SlurmArray, SlurmOptions};
use runner::sweep::{Executed, Executor, SweepOutcome, sweep_cells};
use runner::{Env, RunnerError};
use tracking::{StatusCounts, Store, format_time};

use crate::args::parse_count;
use crate::{env, print, progress, store};

#[derive(Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct SweepArgs {
    #[command(subcommand)]
    command: Option<SweepCommand>,
    /// The grid file (SPEC §9), e.g. experiments/scale.toml.
    #[arg(required = true)]
    grid: Option<PathBuf>,
    /// Where the cells run: worker processes on this machine, or a Slurm job array (one task
    /// per cell still to run; the command returns once it is submitted).
    #[arg(long, value_enum, default_value_t = ExecutorKind::Local)]
    executor: ExecutorKind,
    /// Worker processes running cells at once; the machine's threads are split between them
    /// [default: one per thread of the machine, at most one per cell — the small CPU models
    /// gain nothing from a second thread, so parallel cells use the cores best].
    #[arg(long, value_parser = parse_count)]
    workers: Option<usize>,
    /// Print the cells and their config hashes; run nothing, touch no store.
    #[arg(long)]
    dry_run: bool,
    /// Run cells whose last run FAILED again (KILLED cells are always run again).
    #[arg(long)]
    retry_failed: bool,
    /// Do not write the report (reports/<experiment>/) at the end.
    #[arg(long)]
    no_report: bool,
    #[command(flatten)]
    slurm: SlurmArgs,
}

#[derive(Subcommand)]
pub enum SweepCommand {
    /// A sweep's cells by state, from the store, with each cell's Slurm task and state when
    /// `squeue`/`sacct` are available.
    Status {
        /// The sweep's ID [default: the newest sweep].
        id: Option<i64>,
    },
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum ExecutorKind {
    Local,
    Slurm,
}

#[derive(Args)]
#[command(next_help_heading = "Slurm executor (--executor slurm)")]
struct SlurmArgs {
    /// The partition to run in (`sbatch --partition`).
    #[arg(long)]
    partition: Option<String>,
    /// GPUs for each cell's task (`sbatch --gpus-per-task`).
    #[arg(long)]
    gpus_per_task: Option<u32>,
    /// Time limit of each task (`sbatch --time`: MM, HH:MM:SS, D-HH, …). A task that reaches it
    /// is stopped by SIGTERM and its run marked KILLED.
    #[arg(long)]
    time: Option<String>,
    /// At most this many cells at once (`--array=…%N`).
    #[arg(long, value_parser = parse_count)]
    array_parallelism: Option<usize>,
    /// CPUs (and training threads) for each task [default: 1; the small CPU models gain
    /// nothing from more].
    #[arg(long, value_parser = parse_count)]
    cpus_per_task: Option<usize>,
    /// A further sbatch option, verbatim (repeatable): --sbatch-arg=--account=lab.
    #[arg(long = "sbatch-arg", allow_hyphen_values = true)]
    sbatch_args: Vec<String>,
    /// Print the batch script instead of submitting it (the grid is still frozen in the store,
    /// which tells the cells still to run).
    #[arg(long)]
    print_script: bool,
    /// Accept a SQLite store although compute nodes would share it over a network filesystem,
    /// where SQLite's locking is not safe (single-node clusters only).
    #[arg(long)]
    allow_sqlite: bool,
}

impl SlurmArgs {
    /// Slurm options make no sense for local workers: say so instead of ignoring them.
    fn refuse_for_local(&self) -> Result<()> {
        let given = [
            ("--partition", self.partition.is_some()),
            ("--gpus-per-task", self.gpus_per_task.is_some()),
            ("--time", self.time.is_some()),
            ("--array-parallelism", self.array_parallelism.is_some()),
            ("--cpus-per-task", self.cpus_per_task.is_some()),
            ("--sbatch-arg", !self.sbatch_args.is_empty()),
            ("--print-script", self.print_script),
            ("--allow-sqlite", self.allow_sqlite),
        ];
        match given.iter().find(|(_, set)| *set) {
            Some((flag, _)) => bail!("{flag} applies to --executor slurm only"),
            None => Ok(()),
        }
    }

    fn executor(self) -> SlurmArray {
        SlurmArray {
            options: SlurmOptions {
                partition: self.partition,
                gpus_per_task: self.gpus_per_task,
                time: self.time,
                array_parallelism: self.array_parallelism,
                cpus_per_task: self.cpus_per_task.unwrap_or(1),
                sbatch_args: self.sbatch_args,
            },
            print_script: self.print_script,
            allow_sqlite: self.allow_sqlite,
        }
    }
}

pub fn run(args: SweepArgs, db: &str, quiet: bool) -> Result<()> {
    if let Some(SweepCommand::Status { id }) = args.command {
        return status(db, id);
    }
    let Some(grid_path) = &args.grid else {
        bail!("a grid file is required: tagscale sweep GRID.toml");
    };
    let grid = GridFile::load(grid_path)?;
    if args.dry_run {
        return dry_run(&grid);
    }
    let env = Env::from_process(db, env::code_version()?)?;
    let cells = grid.configs()?.len();
    let never = AtomicBool::new(false);
    // A submission has no signal handler: a signal ends it at once (finished cache shards
    // stay); a local sweep stops its workers and marks their runs KILLED.
    let (executor, display, interrupt): (Box<dyn Executor>, Box<dyn SweepProgress>, _) =
        match args.executor {
            ExecutorKind::Slurm => (
                Box::new(args.slurm.executor()),
                Box::new(progress::CacheBar::new(quiet)),
                &never,
            ),
            ExecutorKind::Local => {
                args.slurm.refuse_for_local()?;
                let workers = args
                    .workers
                    .unwrap_or_else(|| runner::env::machine_threads().min(cells).max(1));
                (
                    Box::new(LocalWorkers {
                        workers,
                        poll: Duration::from_millis(500),
                    }),
                    Box::new(progress::SweepDisplay::new(cells, quiet)),
                    env::interrupt_flag(),
                )
            }
        };
    // Refuse before the store is created or touched.
    executor.check_store(db)?;
    let store = store::open(db)?;
    let swept = runner::sweep::sweep(
        &store,
        &env,
        &grid,
        args.retry_failed,
        executor.as_ref(),
        display.as_ref(),
        interrupt,
    );
    drop(display);
    let outcome = match swept {
        Err(RunnerError::Interrupted) => bail!(
            "sweep interrupted: running cells were stopped and marked KILLED; run the sweep again to resume"
        ),
        other => other?,
    };
    for id in &outcome.reaped {
        tracing::warn!("run {id} had lost its process and was marked KILLED");
    }
    show_outcome(&store, outcome, args.no_report)
}

/// `sweep --dry-run`: the cells and their config hashes.
fn dry_run(grid: &GridFile) -> Result<()> {
    let configs = grid.configs()?;
    println!(
        "{} cells of experiment `{}`:",
        configs.len(),
        grid.grid.experiment.name
    );
    println!(
        "{:>4}  {:<12} {:>10}  {:<14} {:>6}  config hash",
        "cell", "model", "train_size", "backend", "seed"
    );
    for (i, c) in configs.iter().enumerate() {
        println!(
            "{i:>4}  {:<12} {:>10}  {:<14} {:>6}  {}",
            c.model.as_str(),
            c.train_size,
            c.backend_name(),
            c.seed,
            &c.hash()[..16]
        );
    }
    Ok(())
}

fn show_outcome(store: &Store, outcome: SweepOutcome, no_report: bool) -> Result<()> {
    let sweep = &outcome.sweep;
    match outcome.executed {
        Executed::Script(script) => print!("{script}"),
        Executed::NothingToSubmit => {
            println!(
                "sweep {}: nothing to submit — every cell is FINISHED, running, queued in Slurm, or FAILED (add --retry-failed)",
                sweep.id
            );
            return status_of(store, sweep.id);
        }
        Executed::Submitted(job) => {
            println!(
                "sweep {} ({}): submitted {} of {} cells as Slurm job {} (array {})",
                sweep.id,
                sweep.experiment,
                job.cells.len(),
                sweep.cells.len(),
                job.job,
                job.array
            );
            println!(
                "task logs: {}/{}_<cell>.out",
                job.log_dir.display(),
                job.job
            );
            println!(
                "follow it: tagscale sweep status {}; report when done: tagscale report {}",
                sweep.id, sweep.id
            );
        }
        Executed::Ended(cells) => {
            println!(
                "sweep {} ({}, {} cells) in {}",
                sweep.id,
                sweep.experiment,
                cells.len(),
                store.url()
            );
            print::cells(store, &cells, None)?;
            if !no_report {
                let dir = crate::report::write_report(store, sweep.id, None)?;
                println!("report: {}", dir.join("index.md").display());
            }
            let unfinished: Vec<_> = cells
                .iter()
                .filter_map(|c| c.unfinished().map(|why| (c.index, why)))
                .collect();
            for (cell, why) in &unfinished {
                eprintln!("cell {cell}: {why}");
            }
            if !unfinished.is_empty() {
                bail!(
                    "{} of {} cells did not finish (failed cells run again with --retry-failed)",
                    unfinished.len(),
                    cells.len()
                );
            }
        }
    }
    Ok(())
}

/// `tagscale sweep status [ID]`.
fn status(db: &str, id: Option<i64>) -> Result<()> {
    let store = store::open_existing(db)?;
    let id = match id {
        Some(id) => id,
        None => store
            .latest_sweep(None)?
            .context("the store has no sweeps yet")?,
    };
    status_of(&store, id)
}

fn status_of(store: &Store, id: i64) -> Result<()> {
    let sweep = store.sweep(id)?;
    let submissions = store.submissions(id)?;
    let tasks = (!submissions.is_empty())
        .then(|| slurm::task_states(&submissions))
        .flatten();
    println!(
        "sweep {id} ({}, {} cells) in {}",
        sweep.experiment,
        sweep.cells.len(),
        store.url()
    );
    for s in &submissions {
        println!(
            "  {} job {} at {}: cells {}",
            s.executor,
            s.job_id,
            format_time(s.submitted_at),
            slurm::array_spec(&s.cells, None)
        );
    }
    if !submissions.is_empty() && tasks.is_none() {
        println!("  (squeue/sacct are not available here: Slurm states not shown)");
    }
    let cells = sweep_cells(store, &sweep)?;
    let counts = StatusCounts::of(cells.iter().map(|c| c.run.as_ref()));
    println!("{}", reports::terminal::status_counts(&counts));
    print::cells(store, &cells, tasks.as_ref())
}
