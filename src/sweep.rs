//! `tagscale sweep`, `run` and `rerun`: the commands that train.

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand, ValueEnum};
use runner::command::CellCommand;
use runner::execute::{self, CellOutcome, GridFile};
use runner::rerun::{self, Verdict};
use runner::sweep::SweepOptions;
use runner::{RunOutcome, RunnerError};
use tracking::{Claim, Status, Store};

use crate::env::{self, absolute};
use crate::progress;

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
    #[arg(long, value_enum, default_value_t = Executor::Local)]
    executor: Executor,
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
    slurm: crate::cluster::SlurmArgs,
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
pub enum Executor {
    Local,
    Slurm,
}

#[derive(Args)]
pub struct RunArgs {
    /// The grid file.
    grid: PathBuf,
    /// The cell to run (0-based, in `sweep --dry-run` order; what a Slurm array task passes).
    #[arg(long)]
    cell: usize,
    /// Training threads (default: all of the machine's).
    #[arg(long, value_parser = parse_count)]
    threads: Option<usize>,
    /// Run the cell even if its last run FAILED.
    #[arg(long)]
    retry_failed: bool,
}

#[derive(Args)]
pub struct RerunArgs {
    /// The run's ID (`tagscale runs list`).
    id: i64,
    /// Compare every per-epoch and final metric with the original run.
    #[arg(long)]
    verify: bool,
    /// Largest absolute difference still counted as reproduced (WITHIN_TOLERANCE).
    #[arg(long, default_value_t = 1e-6, value_parser = parse_tolerance)]
    tolerance: f64,
    /// Training threads (default: as many as the original run used; flex results depend on it).
    #[arg(long, value_parser = parse_count)]
    threads: Option<usize>,
}

/// The most threads or worker processes a flag may ask for: far beyond any CPU run's use,
/// far below what would make the machine unusable.
const MAX_COUNT: usize = 1024;

/// `--threads` / `--workers`: a count within 1..=MAX_COUNT.
pub fn parse_count(text: &str) -> std::result::Result<usize, String> {
    let n: usize = text
        .parse()
        .map_err(|e| format!("{text:?} is not a count: {e}"))?;
    if !(1..=MAX_COUNT).contains(&n) {
        return Err(format!("{n} must be within 1..={MAX_COUNT}"));
    }
    Ok(n)
}

/// `--tolerance`: a finite, non-negative difference.
fn parse_tolerance(text: &str) -> std::result::Result<f64, String> {
    let t: f64 = text
        .parse()
        .map_err(|e| format!("{text:?} is not a number: {e}"))?;
    if !t.is_finite() || t < 0.0 {
        return Err(format!("{t} must be finite and at least 0"));
    }
    Ok(t)
}

pub fn sweep(args: SweepArgs, db: &str, quiet: bool) -> Result<()> {
    if let Some(SweepCommand::Status { id }) = args.command {
        return crate::cluster::status(db, id);
    }
    let Some(grid_path) = &args.grid else {
        bail!("a grid file is required: tagscale sweep GRID.toml");
    };
    let grid = GridFile::load(grid_path)?;
    if args.dry_run {
        return dry_run(&grid);
    }
    match args.executor {
        Executor::Slurm => {
            return crate::cluster::submit(&grid, &args.slurm, db, args.retry_failed, quiet);
        }
        Executor::Local => args.slurm.refuse_for_local()?,
    }
    let cells = grid.configs()?.len();
    let workers = match args.workers {
        Some(n) => n,
        None => env::machine_threads().min(cells).max(1),
    };
    let store = open_store(db)?;
    let env = env::runner_env(None)?;
    let worker = CellCommand {
        program: std::env::current_exe().context("cannot locate the tagscale binary")?,
        db: db_for_workers(db),
        grid: absolute(&grid.path),
        retry_failed: args.retry_failed,
        data_root: env.data_root.clone(),
        runs_root: env.runs_root.clone(),
    };
    let options = SweepOptions {
        workers,
        retry_failed: args.retry_failed,
        poll: Duration::from_millis(500),
    };
    let interrupt = env::interrupt_flag();
    let display = progress::SweepDisplay::new(cells, quiet);
    let swept = runner::sweep::sweep(&store, &env, &grid, &options, &worker, interrupt, &display);
    let summary = match swept {
        Err(RunnerError::Interrupted) => {
            bail!(
                "sweep interrupted: running cells were stopped and marked KILLED; run the sweep again to resume"
            )
        }
        other => other?,
    };
    for id in &summary.reaped {
        tracing::warn!("run {id} had lost its process and was marked KILLED");
    }
    println!(
        "sweep {} ({}, {} cells) in {}",
        summary.sweep.id,
        summary.sweep.experiment,
        summary.cells.len(),
        store.url()
    );
    crate::runs::print_cells(&store, &summary.cells, None)?;
    if !args.no_report {
        let dir = crate::report::write_report(&store, summary.sweep.id, None)?;
        println!("report: {}", dir.join("index.md").display());
    }
    let unfinished = summary.unfinished();
    if unfinished.is_empty() {
        return Ok(());
    }
    for (cell, why) in &unfinished {
        eprintln!("cell {cell}: {why}");
    }
    bail!(
        "{} of {} cells did not finish (failed cells run again with --retry-failed)",
        unfinished.len(),
        summary.cells.len()
    )
}

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

pub fn run(args: RunArgs, db: &str, quiet: bool) -> Result<()> {
    let grid = GridFile::load(&args.grid)?;
    let store = open_store(db)?;
    let env = env::runner_env(args.threads)?;
    let interrupt = env::interrupt_flag();
    let spinner = progress::RunSpinner::new(quiet);
    let outcome = execute::run_cell(
        &store,
        &env,
        &grid,
        args.cell,
        args.retry_failed,
        interrupt,
        &spinner,
    )?;
    drop(spinner);
    match outcome {
        CellOutcome::Ran(outcome) => report_outcome(&store, &outcome),
        CellOutcome::Skipped(Claim::Finished(id)) => {
            println!("cell {} already FINISHED as run {id}", args.cell);
            Ok(())
        }
        CellOutcome::Skipped(Claim::Held(id)) => {
            println!(
                "cell {} is being run by a live process (run {id})",
                args.cell
            );
            Ok(())
        }
        CellOutcome::Skipped(Claim::Failed(id)) => bail!(
            "cell {}: its last run ({id}) FAILED; pass --retry-failed to run it again",
            args.cell
        ),
        CellOutcome::Skipped(Claim::Claimed(id)) => bail!("run {id} was claimed but not run"),
    }
}

pub fn rerun(args: RerunArgs, db: &str, quiet: bool) -> Result<()> {
    let store = open_existing_store(db)?;
    let probe = env::runner_env(Some(1))?;
    let plan = rerun::plan(&store, &probe, args.id)?;
    for difference in &plan.code_differences {
        tracing::warn!("run {} was produced by other code ({difference})", args.id);
    }
    let other_host = plan.host_differences.join("; ");
    if !other_host.is_empty() {
        tracing::warn!(
            "run {} ran on another kind of host ({other_host}): floating-point sums may be \
             ordered differently, so --verify judges with --tolerance {} rather than expecting \
             bit-identical figures",
            args.id,
            args.tolerance
        );
    }
    let threads = args
        .threads
        .unwrap_or(plan.original.threads.max(1) as usize);
    let env = runner::Env { threads, ..probe };
    let spinner = progress::RunSpinner::new(quiet);
    let outcome = rerun::rerun(&store, &env, &plan, env::interrupt_flag(), &spinner)?;
    drop(spinner);
    report_outcome(&store, &outcome)?;
    if args.verify {
        let verdict = rerun::verify(&store, args.id, outcome.id, args.tolerance)?;
        if other_host.is_empty() {
            println!("{verdict}");
        } else {
            let finals = rerun::largest_final_difference(&store, args.id, outcome.id)?;
            println!(
                "{verdict} (on another kind of host: {other_host}; the final metrics differ by \
                 at most {finals:.3e})"
            );
        }
        if let Verdict::Diverged { .. } = verdict {
            bail!("run {} did not reproduce run {}", outcome.id, args.id);
        }
    }
    Ok(())
}

/// One line for a finished run; an error for a failed or killed one.
fn report_outcome(store: &Store, outcome: &RunOutcome) -> Result<()> {
    match outcome.status {
        Status::Finished => {
            let figures = crate::runs::macro_summary(&store.run_metrics(outcome.id)?);
            println!("run {} FINISHED  {figures}", outcome.id);
            Ok(())
        }
        status => bail!(
            "run {} {status}: {}",
            outcome.id,
            outcome.error.as_deref().unwrap_or("no error recorded")
        ),
    }
}

pub fn open_store(db: &str) -> Result<Store> {
    Store::open(db).with_context(|| {
        format!(
            "opening the run store `{}` (--db / TAGSCALE_DB)",
            tracking::redact_password(db)
        )
    })
}

/// Open a store that must already exist: the commands that only read runs (`runs`, `report`,
/// `tag`, `rerun`, `sweep status`) would otherwise create an empty store at a mistyped path
/// and report "no runs".
pub fn open_existing_store(db: &str) -> Result<Store> {
    if let Ok(tracking::Location::Sqlite(path)) = tracking::Location::parse(db)
        && !path.exists()
    {
        bail!(
            "no run store at {} (--db / TAGSCALE_DB): check the path, or run a sweep to create one",
            path.display()
        );
    }
    open_store(db)
}

/// The store URL for worker processes: relative SQLite paths made absolute.
pub fn db_for_workers(db: &str) -> OsString {
    match tracking::Location::parse(db) {
        Ok(tracking::Location::Sqlite(path)) => absolute(&path).into_os_string(),
        Ok(tracking::Location::Postgres(_)) | Err(_) => db.into(),
    }
}
