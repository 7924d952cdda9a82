//! `tagscale run GRID --cell K`: the command a local worker process and a Slurm array task
//! run for one cell — its command line and environment written in this one place.

use std::ffi::{OsStr, OsString};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use crate::env::{DATA_VAR, Env, RUNS_VAR, absolute};

/// What every cell's command shares.
#[derive(Debug, Clone)]
pub struct CellCommand {
    /// The tagscale binary (on a path every node sees, for Slurm).
    pub program: PathBuf,
    /// The store as the workers reach it (an absolute SQLite path, or a PostgreSQL URL).
    pub db: OsString,
    /// The grid file, absolute.
    pub grid: PathBuf,
    pub retry_failed: bool,
    /// `TAGSCALE_DATA`: absolute (on a shared filesystem, for Slurm).
    pub data_root: PathBuf,
    /// `TAGSCALE_RUNS`: absolute (on a shared filesystem, for Slurm).
    pub runs_root: PathBuf,
}

impl CellCommand {
    /// The command of every cell of `grid` in `env` (paths made absolute: workers and tasks
    /// may start elsewhere).
    pub fn new(env: &Env, grid: &Path, retry_failed: bool) -> Self {
        Self {
            program: env.program.clone(),
            db: env.store_for_workers(),
            grid: absolute(grid),
            retry_failed,
            data_root: env.data_root.clone(),
            runs_root: env.runs_root.clone(),
        }
    }

    /// The arguments after the program for cell `cell` on `threads` threads, each given as
    /// it is to be written (a number, or a Slurm task's shell variable).
    pub fn args(&self, cell: &OsStr, threads: &OsStr) -> Vec<OsString> {
        let mut args: Vec<OsString> = vec![
            "--quiet".into(),
            "--db".into(),
            self.db.clone(),
            "run".into(),
            self.grid.clone().into_os_string(),
            "--cell".into(),
            cell.into(),
            "--threads".into(),
            threads.into(),
        ];
        if self.retry_failed {
            args.push("--retry-failed".into());
        }
        args
    }

    /// The environment the command runs with.
    pub fn env(&self) -> [(&'static str, OsString); 2] {
        [
            (DATA_VAR, self.data_root.clone().into_os_string()),
            (RUNS_VAR, self.runs_root.clone().into_os_string()),
        ]
    }

    /// Start cell `cell` as a local worker process on `threads` threads; it is killed when
    /// the spawning thread exits, so no worker outlives a killed sweep.
    pub fn spawn(&self, cell: usize, threads: usize) -> std::io::Result<Child> {
        let mut command = Command::new(&self.program);
        command
            .args(self.args(
                OsStr::new(&cell.to_string()),
                OsStr::new(&threads.to_string()),
            ))
            .envs(self.env())
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

#[cfg(test)]
mod tests {
    use super::*;

    fn command(retry_failed: bool) -> CellCommand {
        CellCommand {
            program: "/opt/tagscale".into(),
            db: "postgres://lab@db/runs".into(),
            grid: "/data/grids/scale.toml".into(),
            retry_failed,
            data_root: "/data".into(),
            runs_root: "/data/runs".into(),
        }
    }

    #[test]
    fn a_cell_runs_with_the_store_grid_cell_and_threads_it_is_given() {
        let args = command(false).args(OsStr::new("3"), OsStr::new("$THREADS"));
        let words: Vec<&str> = args.iter().map(|a| a.to_str().unwrap()).collect();
        assert_eq!(
            words,
            [
                "--quiet",
                "--db",
                "postgres://lab@db/runs",
                "run",
                "/data/grids/scale.toml",
                "--cell",
                "3",
                "--threads",
                "$THREADS"
            ]
        );
        let retried = command(true).args(OsStr::new("3"), OsStr::new("1"));
        assert_eq!(retried.last().unwrap(), "--retry-failed");
        let env = command(false).env();
        assert_eq!(env[0], ("TAGSCALE_DATA", "/data".into()));
        assert_eq!(env[1], ("TAGSCALE_RUNS", "/data/runs".into()));
    }
}
