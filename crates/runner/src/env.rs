//! Where things live (SPEC §1) and how much of the machine a run may use: the one place the
//! `TAGSCALE_*` environment is named, read ([`Env::from_process`]) and — for worker
//! processes and Slurm tasks — written ([`crate::command::CellCommand::env`]).

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use tracking::{CodeVersion, Location};

use crate::error::{Result, RunnerError};

/// The run store's URL (`--db`'s default source).
pub const STORE_VAR: &str = "TAGSCALE_DB";
/// Corpora and feature caches (default `data/`).
pub const DATA_VAR: &str = "TAGSCALE_DATA";
/// Run artifacts (default `runs/`).
pub const RUNS_VAR: &str = "TAGSCALE_RUNS";

/// Where things live and how much of the machine a run may use.
#[derive(Debug, Clone)]
pub struct Env {
    /// The run store as this process was given it (`--db` / `TAGSCALE_DB`).
    pub store_url: String,
    /// Absolute, so a run's records do not depend on where it was started.
    pub data_root: PathBuf,
    /// Absolute, like `data_root`.
    pub runs_root: PathBuf,
    /// The `tagscale` binary this process runs (what workers and Slurm tasks start).
    pub program: PathBuf,
    /// Threads for training (flex kernels, GBT tags); recorded with the run.
    pub threads: usize,
    pub code: CodeVersion,
    /// The batch-scheduler job this process runs in (Slurm: `JOBID_TASKID`), if any.
    pub scheduler_job: Option<String>,
}

impl Env {
    /// This process's environment: the store it was given, `TAGSCALE_DATA` and
    /// `TAGSCALE_RUNS` (made absolute), the Slurm task it runs in, and every thread of the
    /// machine. `code` is what the binary was built from (only the binary knows).
    pub fn from_process(store_url: &str, code: CodeVersion) -> Result<Self> {
        let program = std::env::current_exe()
            .map_err(|e| RunnerError::io(Path::new("tagscale"), "cannot locate the binary", e))?;
        Ok(Self {
            store_url: store_url.to_string(),
            data_root: absolute(&data_root()),
            runs_root: absolute(&runs_root()),
            program,
            threads: machine_threads(),
            code,
            scheduler_job: slurm_job(),
        })
    }

    /// The same environment training on `threads` threads (at least one).
    pub fn with_threads(self, threads: usize) -> Self {
        Self {
            threads: threads.max(1),
            ..self
        }
    }

    /// The store URL for other processes (workers, Slurm tasks), which may start elsewhere:
    /// a relative SQLite path made absolute.
    pub fn store_for_workers(&self) -> OsString {
        match Location::parse(&self.store_url) {
            Ok(Location::Sqlite(path)) => absolute(&path).into_os_string(),
            Ok(Location::Postgres(_)) | Err(_) => self.store_url.clone().into(),
        }
    }
}

/// Corpora and caches: `$TAGSCALE_DATA`, default `data/` (as given, not made absolute).
pub fn data_root() -> PathBuf {
    std::env::var_os(DATA_VAR).map_or_else(|| PathBuf::from("data"), PathBuf::from)
}

/// Run artifacts: `$TAGSCALE_RUNS`, default `runs/` (as given, not made absolute).
pub fn runs_root() -> PathBuf {
    std::env::var_os(RUNS_VAR).map_or_else(|| PathBuf::from("runs"), PathBuf::from)
}

/// `path` made absolute against the working directory.
pub fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}

/// Threads of this machine.
pub fn machine_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// `JOBID_TASKID` of the Slurm array task (or `JOBID` of the job) this process runs in.
fn slurm_job() -> Option<String> {
    let var = |name| std::env::var(name).ok().filter(|v: &String| !v.is_empty());
    match (var("SLURM_ARRAY_JOB_ID"), var("SLURM_ARRAY_TASK_ID")) {
        (Some(job), Some(task)) => Some(format!("{job}_{task}")),
        _ => var("SLURM_JOB_ID"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(store_url: &str) -> Env {
        Env {
            store_url: store_url.into(),
            data_root: "/data".into(),
            runs_root: "/runs".into(),
            program: "/bin/tagscale".into(),
            threads: 2,
            code: CodeVersion::default(),
            scheduler_job: None,
        }
    }

    #[test]
    fn workers_reach_a_relative_sqlite_store_by_its_absolute_path_and_postgres_as_given() {
        let cwd = std::env::current_dir().unwrap();
        assert_eq!(
            env("runs.db").store_for_workers(),
            cwd.join("runs.db").into_os_string()
        );
        assert_eq!(
            env("sqlite://sub/runs.db").store_for_workers(),
            cwd.join("sub/runs.db").into_os_string()
        );
        let postgres = "postgres://lab@db:5432/runs";
        assert_eq!(env(postgres).store_for_workers(), OsString::from(postgres));
    }

    #[test]
    fn a_run_trains_on_at_least_one_thread() {
        assert_eq!(env("x.db").with_threads(0).threads, 1);
        assert_eq!(env("x.db").with_threads(3).threads, 3);
    }
}
