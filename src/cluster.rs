//! `tagscale sweep GRID --executor slurm` and `tagscale sweep status`: a sweep handed to
//! Slurm as a job array, and where a sweep's cells stand.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use anyhow::{Context, Result, bail};
use clap::Args;
use runner::command::CellCommand;
use runner::execute::GridFile;
use runner::slurm::{self, SlurmOptions};
use runner::{RunConfig, RunnerError};
use tracking::{Status, StatusCounts, Store, format_time};

use crate::env::{self, absolute};
use crate::sweep::{db_for_workers, open_existing_store, open_store};

#[derive(Args)]
#[command(next_help_heading = "Slurm executor (--executor slurm)")]
pub struct SlurmArgs {
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
    #[arg(long)]
    array_parallelism: Option<usize>,
    /// CPUs (and training threads) for each task [default: 1; the small CPU models gain
    /// nothing from more].
    #[arg(long)]
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
    pub fn refuse_for_local(&self) -> Result<()> {
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

    fn options(&self) -> Result<SlurmOptions> {
        if self.array_parallelism == Some(0) || self.cpus_per_task == Some(0) {
            bail!("--array-parallelism and --cpus-per-task must be at least 1");
        }
        Ok(SlurmOptions {
            partition: self.partition.clone(),
            gpus_per_task: self.gpus_per_task,
            time: self.time.clone(),
            array_parallelism: self.array_parallelism,
            cpus_per_task: self.cpus_per_task.unwrap_or(1),
            sbatch_args: self.sbatch_args.clone(),
        })
    }
}

/// Freeze the grid, build its feature cache, and submit every cell still to run as one job
/// array; record the job on the sweep and return.
pub fn submit(
    grid: &GridFile,
    args: &SlurmArgs,
    db: &str,
    retry_failed: bool,
    quiet: bool,
) -> Result<()> {
    refuse_sqlite(db, args.allow_sqlite)?;
    let options = args.options()?;
    let store = open_store(db)?;
    let (data_root, runs_root) = (absolute(&env::data_root()), absolute(&env::runs_root()));
    let id = grid.freeze(&store)?;
    let sweep = store.sweep(id)?;
    for run in store.reap_dead()? {
        tracing::warn!("run {run} had lost its process and was marked KILLED");
    }
    let submissions = store.submissions(id)?;
    let queued = slurm::queued_cells(&submissions);
    let cells = slurm::cells_to_submit(&store, &sweep, retry_failed, &queued)?;
    if cells.is_empty() {
        println!(
            "sweep {id}: nothing to submit — every cell is FINISHED, running, queued in Slurm, or FAILED (add --retry-failed)"
        );
        return status(db, Some(id));
    }
    let log_dir = runs_root.join("slurm").join(format!("sweep-{id}"));
    let task = CellCommand {
        program: std::env::current_exe().context("cannot locate the tagscale binary")?,
        db: db_for_workers(db),
        grid: absolute(&grid.path),
        retry_failed,
        data_root: data_root.clone(),
        runs_root,
    };
    let script = slurm::script(&sweep, &cells, &options, &task, &log_dir);
    if args.print_script {
        print!("{script}");
        return Ok(());
    }
    // The tasks would race to build the cache; build it once here, as a local sweep does.
    // No signal handler here: a signal ends the submission at once (finished shards stay).
    let never = std::sync::atomic::AtomicBool::new(false);
    let bar = crate::progress::CacheBar::new(quiet);
    runner::sweep::prepare_cache(grid, &data_root, &bar, &never)?;
    std::fs::create_dir_all(&log_dir)
        .with_context(|| format!("cannot create {}", log_dir.display()))?;
    let script_path = log_dir.join(format!("submit-{}.sh", submissions.len() + 1));
    write_script(&script_path, &script)?;
    let job = slurm::submit(&script_path).map_err(|e| match e {
        RunnerError::Scheduler { .. } => anyhow::Error::new(e)
            .context(format!("submitting {} with sbatch", script_path.display())),
        other => other.into(),
    })?;
    let db_text = task.db.to_string_lossy();
    store.record_submission(
        id,
        "slurm",
        &job,
        &cells,
        &script.replace(db_text.as_ref(), &tracking::redact_password(&db_text)),
    )?;
    println!(
        "sweep {id} ({}): submitted {} of {} cells as Slurm job {job} (array {})",
        sweep.experiment,
        cells.len(),
        sweep.cells.len(),
        slurm::array_spec(&cells, options.array_parallelism)
    );
    println!("task logs: {}/{job}_<cell>.out", log_dir.display());
    println!("follow it: tagscale sweep status {id}; report when done: tagscale report {id}");
    Ok(())
}

/// A SQLite file shared by compute nodes over NFS/Lustre is not safe (WAL needs shared memory
/// and POSIX locks the filesystem may not honour): refuse it unless asked.
fn refuse_sqlite(db: &str, allow: bool) -> Result<()> {
    match tracking::Location::parse(db)? {
        tracking::Location::Sqlite(path) if !allow => bail!(
            "the Slurm executor needs a store every node can reach safely, and `{}` is a SQLite \
             file: SQLite on a network filesystem can corrupt or lose runs (WAL needs shared \
             memory). Use PostgreSQL (--db postgres://USER@HOST:PORT/DB), or --allow-sqlite on a \
             single-node cluster",
            path.display()
        ),
        _ => Ok(()),
    }
}

fn write_script(path: &Path, script: &str) -> Result<()> {
    // Owner-only: the script holds the store URL.
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o700)
        .open(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    file.write_all(script.as_bytes())
        .with_context(|| format!("cannot write {}", path.display()))
}

/// `tagscale sweep status [ID]`.
pub fn status(db: &str, id: Option<i64>) -> Result<()> {
    let store = open_existing_store(db)?;
    let id = match id {
        Some(id) => id,
        None => store
            .latest_sweep(None)?
            .context("the store has no sweeps yet")?,
    };
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
    let cells = cells_with_configs(&store, &sweep)?;
    println!("{}", count_line(&cells));
    crate::runs::print_cells(&store, &cells, tasks.as_ref())
}

type CellRow = (usize, RunConfig, Option<tracking::RunRecord>);

fn cells_with_configs(store: &Store, sweep: &tracking::SweepRecord) -> Result<Vec<CellRow>> {
    store
        .cell_runs(sweep)?
        .into_iter()
        .map(|(cell, run)| {
            let config = RunConfig::from_json(&cell.config_json)
                .with_context(|| format!("sweep {} cell {}", sweep.id, cell.index))?;
            Ok((cell.index as usize, config, run))
        })
        .collect()
}

/// `FINISHED 4 · RUNNING 1 · NOT RUN 1`.
fn count_line(cells: &[CellRow]) -> String {
    let counts = StatusCounts::of(cells.iter().map(|(_, _, run)| run.as_ref()));
    let mut parts: Vec<String> = [
        Status::Finished,
        Status::Running,
        Status::Queued,
        Status::Failed,
        Status::Killed,
    ]
    .into_iter()
    .map(|s| (s, counts.get(s)))
    .filter(|(_, n)| *n > 0)
    .map(|(s, n)| format!("{s} {n}"))
    .collect();
    if counts.not_run > 0 {
        parts.push(format!("NOT RUN {}", counts.not_run));
    }
    parts.join(" · ")
}
