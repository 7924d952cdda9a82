//! The Slurm executor: a sweep as one job array, one task per cell still to run, each task
//! calling `tagscale run GRID --cell $SLURM_ARRAY_TASK_ID`. The store stays the source of
//! truth (tasks claim their cells as local workers do); Slurm only schedules. Submitting again
//! submits only the cells that are neither FINISHED, nor held by a live run, nor still waiting
//! in Slurm's queue from an earlier submission.

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsStr;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::process::Command;
use std::sync::atomic::AtomicBool;

use tracking::{Location, Store, Submission, SweepRecord};

use crate::command::CellCommand;
use crate::error::{Result, RunnerError};
use crate::plan::{CellState, plan};
use crate::progress::SweepProgress;
use crate::sweep::{Executed, Executor, FrozenSweep};

/// The Slurm executor: a sweep's cells still to run as one job array.
#[derive(Debug, Clone, Default)]
pub struct SlurmArray {
    pub options: SlurmOptions,
    /// Return the batch script instead of submitting it (the grid is still frozen).
    pub print_script: bool,
    /// Accept a SQLite store (single-node clusters only: see [`SlurmArray::check_store`]).
    pub allow_sqlite: bool,
}

impl Executor for SlurmArray {
    /// A SQLite file shared by compute nodes over NFS/Lustre is not safe (WAL needs shared
    /// memory and POSIX locks the filesystem may not honour): refused unless allowed.
    fn check_store(&self, store_url: &str) -> Result<()> {
        match Location::parse(store_url)? {
            Location::Sqlite(path) if !self.allow_sqlite => Err(RunnerError::Executor {
                executor: "Slurm",
                message: format!(
                    "needs a store every node can reach safely, and `{}` is a SQLite file: \
                     SQLite on a network filesystem can corrupt or lose runs (WAL needs shared \
                     memory). Use PostgreSQL (--db postgres://USER@HOST:PORT/DB), or \
                     --allow-sqlite on a single-node cluster",
                    path.display()
                ),
            }),
            _ => Ok(()),
        }
    }

    /// Submits the cells that are neither FINISHED, nor held by a live run, nor FAILED
    /// (unless retried), nor still in Slurm's queue; builds the feature cache first (the
    /// tasks would race to build it) and records the job on the sweep.
    fn execute(
        &self,
        sweep: &FrozenSweep<'_>,
        progress: &dyn SweepProgress,
        interrupt: &AtomicBool,
    ) -> Result<Executed> {
        let (store, id) = (sweep.store, sweep.record.id);
        let submissions = store.submissions(id)?;
        let queued = queued_cells(&submissions);
        let cells = cells_to_submit(store, &sweep.record, sweep.retry_failed, &queued)?;
        if cells.is_empty() {
            return Ok(Executed::NothingToSubmit);
        }
        let log_dir = sweep
            .env
            .runs_root
            .join("slurm")
            .join(format!("sweep-{id}"));
        let script = script(
            &sweep.record,
            &cells,
            &self.options,
            &sweep.command,
            &log_dir,
        );
        if self.print_script {
            return Ok(Executed::Script(script));
        }
        sweep.prepare_cache(progress, interrupt)?;
        std::fs::create_dir_all(&log_dir)
            .map_err(|e| RunnerError::io(&log_dir, "cannot create the log directory", e))?;
        let script_path = log_dir.join(format!("submit-{}.sh", submissions.len() + 1));
        write_script(&script_path, &script)?;
        let job = submit(&script_path)?;
        let db = sweep.command.db.to_string_lossy();
        let recorded = script.replace(db.as_ref(), &tracking::redact_password(&db));
        store.record_submission(id, "slurm", &job, &cells, &recorded)?;
        Ok(Executed::Submitted(crate::sweep::SubmittedJob {
            job,
            array: array_spec(&cells, self.options.array_parallelism),
            cells,
            log_dir,
        }))
    }
}

/// Owner-only: the script holds the store URL.
fn write_script(path: &Path, script: &str) -> Result<()> {
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o700)
        .open(path)
        .map_err(|e| RunnerError::io(path, "cannot write the batch script", e))?;
    file.write_all(script.as_bytes())
        .map_err(|e| RunnerError::io(path, "cannot write the batch script", e))
}

/// What `sbatch` is asked for, besides the array (`--partition`, `--gpus-per-task`, …).
#[derive(Debug, Clone, Default)]
pub struct SlurmOptions {
    pub partition: Option<String>,
    pub gpus_per_task: Option<u32>,
    /// Slurm's time format (`MM`, `HH:MM:SS`, `D-HH`, …).
    pub time: Option<String>,
    /// At most this many tasks at once (`--array=…%N`).
    pub array_parallelism: Option<usize>,
    /// CPUs per task; the task trains with that many threads.
    pub cpus_per_task: usize,
    /// Further `#SBATCH` lines, verbatim (`--account=x`, `--mem=8G`, …).
    pub sbatch_args: Vec<String>,
}

/// A task's cell and threads, as its shell sees them.
const TASK_CELL: &str = "\"$SLURM_ARRAY_TASK_ID\"";
const TASK_THREADS: &str = "\"${SLURM_CPUS_PER_TASK:-1}\"";

/// The cells to submit: not FINISHED, not held by a QUEUED/RUNNING run, not FAILED unless
/// `retry_failed`, and not waiting in Slurm's queue (`queued`).
pub fn cells_to_submit(
    store: &Store,
    sweep: &SweepRecord,
    retry_failed: bool,
    queued: &BTreeSet<i64>,
) -> Result<Vec<i64>> {
    Ok(plan(&store.cell_runs(sweep)?, retry_failed)
        .into_iter()
        .filter(|&(_, state)| state == CellState::ToRun)
        .filter_map(|(index, _)| i64::try_from(index).ok())
        .filter(|index| !queued.contains(index))
        .collect())
}

/// `0-3,5,7-8`, and `%N` for a parallelism limit.
pub fn array_spec(cells: &[i64], parallelism: Option<usize>) -> String {
    let mut ranges: Vec<(i64, i64)> = Vec::new();
    for &cell in cells {
        match ranges.last_mut() {
            Some((_, end)) if *end + 1 == cell => *end = cell,
            _ => ranges.push((cell, cell)),
        }
    }
    let mut spec = ranges
        .iter()
        .map(|&(a, b)| {
            if a == b {
                a.to_string()
            } else {
                format!("{a}-{b}")
            }
        })
        .collect::<Vec<_>>()
        .join(",");
    if let Some(n) = parallelism {
        spec.push_str(&format!("%{n}"));
    }
    spec
}

/// The batch script of one submission.
pub fn script(
    sweep: &SweepRecord,
    cells: &[i64],
    options: &SlurmOptions,
    task: &CellCommand,
    log_dir: &Path,
) -> String {
    let mut lines = vec![
        "#!/bin/bash".to_string(),
        format!(
            "# tagscale sweep {} (experiment `{}`): one array task per cell; the task id is the cell.",
            sweep.id, sweep.experiment
        ),
        format!(
            "#SBATCH --job-name={}",
            sanitize_job_name(&format!("tagscale-{}", sweep.experiment))
        ),
        format!(
            "#SBATCH --array={}",
            array_spec(cells, options.array_parallelism)
        ),
        format!("#SBATCH --output={}/%A_%a.out", log_dir.display()),
        format!("#SBATCH --cpus-per-task={}", options.cpus_per_task.max(1)),
    ];
    if let Some(partition) = &options.partition {
        lines.push(format!("#SBATCH --partition={partition}"));
    }
    if let Some(gpus) = options.gpus_per_task {
        lines.push(format!("#SBATCH --gpus-per-task={gpus}"));
    }
    if let Some(time) = &options.time {
        lines.push(format!("#SBATCH --time={time}"));
    }
    for arg in &options.sbatch_args {
        lines.push(format!("#SBATCH {arg}"));
    }
    lines.push(String::new());
    for (key, value) in task.env() {
        lines.push(format!(
            "export {key}={}",
            shell_quote(&value.to_string_lossy())
        ));
    }
    // exec: the task's process is tagscale itself, so Slurm's SIGTERM (scancel, time limit)
    // reaches it and its run is marked KILLED. The task's cell and CPUs are Slurm's variables,
    // left for the shell to expand; everything else is quoted where a shell would read it.
    let variables = [TASK_CELL, TASK_THREADS];
    let mut command = vec![
        "exec".to_string(),
        shell_quote(&task.program.to_string_lossy()),
    ];
    command.extend(
        task.args(OsStr::new(TASK_CELL), OsStr::new(TASK_THREADS))
            .iter()
            .map(|arg| {
                let arg = arg.to_string_lossy();
                if variables.contains(&arg.as_ref()) {
                    arg.into_owned()
                } else {
                    shell_word(&arg)
                }
            }),
    );
    lines.push(command.join(" "));
    lines.push(String::new());
    lines.join("\n")
}

/// Job names appear in `squeue`: keep them to characters every shell and tool accepts.
fn sanitize_job_name(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// `value` as one word of a POSIX shell: as it is when no character in it means anything to
/// the shell, else quoted.
fn shell_word(value: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "-_./:=@%+,".contains(c);
    if !value.is_empty() && value.chars().all(plain) {
        value.to_string()
    } else {
        shell_quote(value)
    }
}

/// `'…'` with embedded single quotes escaped, for a POSIX shell.
fn shell_quote(value: &str) -> String {
    format!("'{}'", value.replace('\'', r"'\''"))
}

/// Submit `script_path` with `sbatch`; returns the job id.
fn submit(script_path: &Path) -> Result<String> {
    let sbatch = format!("sbatch {}", script_path.display());
    let scheduler = |message: String| RunnerError::Scheduler {
        command: sbatch.clone(),
        message,
    };
    let output = Command::new("sbatch")
        .arg("--parsable")
        .arg(script_path)
        .output()
        .map_err(|e| scheduler(format!("cannot run it (is Slurm installed?): {e}")))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        return Err(scheduler(format!(
            "{}: {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        )));
    }
    // `--parsable` prints `JOBID` or `JOBID;CLUSTER`.
    let job = stdout.trim().split(';').next().unwrap_or("").to_string();
    if job.is_empty() || !job.chars().all(|c| c.is_ascii_digit()) {
        return Err(scheduler(format!("unexpected output `{}`", stdout.trim())));
    }
    Ok(job)
}

/// A cell's task as Slurm sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskState {
    /// `JOBID_TASKID`.
    pub task: String,
    /// `PENDING`, `RUNNING`, `COMPLETED`, `CANCELLED`, `TIMEOUT`, …
    pub state: String,
}

/// What Slurm knows of a sweep's submissions, by cell: `squeue` for tasks still queued or
/// running, then `sacct` (if accounting is enabled) for ended ones. `None` when neither
/// command can be run here (not a Slurm host).
pub fn task_states(submissions: &[Submission]) -> Option<BTreeMap<i64, TaskState>> {
    let jobs: Vec<&str> = submissions.iter().map(|s| s.job_id.as_str()).collect();
    if jobs.is_empty() {
        return Some(BTreeMap::new());
    }
    // Later submissions win: a cell resubmitted is described by its newest task.
    let order: BTreeMap<&str, usize> = jobs.iter().enumerate().map(|(i, j)| (*j, i)).collect();
    let mut by_cell: BTreeMap<i64, (usize, TaskState)> = BTreeMap::new();
    let mut any_answer = false;
    let mut record = |line: &str| {
        let mut fields = line.split_whitespace();
        let (Some(id), Some(state)) = (fields.next(), fields.next()) else {
            return;
        };
        let Some((job, task)) = id.split_once('_') else {
            return;
        };
        let (Some(&rank), Ok(cell)) = (order.get(job), task.parse::<i64>()) else {
            return;
        };
        let state = state.trim_end_matches('+').to_string();
        let newer = by_cell.get(&cell).is_none_or(|(r, _)| rank >= *r);
        if newer {
            by_cell.insert(
                cell,
                (
                    rank,
                    TaskState {
                        task: id.to_string(),
                        state,
                    },
                ),
            );
        }
    };
    // Each job alone: one id Slurm has forgotten must not hide the others. sacct first, so
    // squeue (live, authoritative for queued tasks) overwrites it.
    for job in &jobs {
        if let Some(out) = run_quietly("sacct", &["-n", "-X", "-P", "-o", "JobID,State", "-j", job])
        {
            any_answer = true;
            for line in out.lines() {
                record(&line.replace('|', " "));
            }
        }
        if let Some(out) = run_quietly(
            "squeue",
            &["-h", "-r", "-o", "%i %T", "-t", "all", "-j", job],
        ) {
            any_answer = true;
            for line in out.lines() {
                record(line);
            }
        }
    }
    any_answer.then(|| by_cell.into_iter().map(|(c, (_, s))| (c, s)).collect())
}

/// Cells of the sweep's submissions that Slurm still has PENDING or RUNNING (so submitting
/// them again would only queue a duplicate).
pub fn queued_cells(submissions: &[Submission]) -> BTreeSet<i64> {
    task_states(submissions)
        .unwrap_or_default()
        .into_iter()
        .filter(|(_, s)| {
            matches!(
                s.state.as_str(),
                "PENDING" | "RUNNING" | "CONFIGURING" | "REQUEUED" | "RESIZING" | "SUSPENDED"
            )
        })
        .map(|(cell, _)| cell)
        .collect()
}

/// stdout of `program args` (empty when it fails: accounting disabled, a job id Slurm no
/// longer knows); `None` when the program cannot be run at all.
fn run_quietly(program: &str, args: &[&str]) -> Option<String> {
    let output = Command::new(program).args(args).output().ok()?;
    Some(if output.status.success() {
        String::from_utf8_lossy(&output.stdout).into_owned()
    } else {
        String::new()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn array_specs_compress_runs_of_cells() {
        assert_eq!(array_spec(&[0, 1, 2, 3, 5, 7, 8], None), "0-3,5,7-8");
        assert_eq!(array_spec(&[4], Some(2)), "4%2");
    }

    #[test]
    fn values_are_quoted_for_the_shell() {
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_word("--cell"), "--cell");
        assert_eq!(
            shell_word("postgres://lab@db:5432/runs"),
            "postgres://lab@db:5432/runs"
        );
        assert_eq!(shell_word("/my runs/grid.toml"), "'/my runs/grid.toml'");
        assert_eq!(shell_word("$HOME"), "'$HOME'");
        assert_eq!(shell_word(""), "''");
        assert_eq!(sanitize_job_name("tagscale-my exp/1"), "tagscale-my_exp_1");
    }
}
