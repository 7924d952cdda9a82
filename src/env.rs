//! Where things live (flags and `TAGSCALE_*` variables, SPEC §1), what this binary is (its
//! code version, recorded with every run), and the signals that stop a run cleanly.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{Context, Result};
use sha2::{Digest, Sha256};
use tracking::CodeVersion;

/// Data (corpora, caches): `$TAGSCALE_DATA`, default `data/`.
pub fn data_root() -> PathBuf {
    std::env::var_os("TAGSCALE_DATA").map_or_else(|| PathBuf::from("data"), PathBuf::from)
}

/// Run artifacts: `$TAGSCALE_RUNS`, default `runs/`.
pub fn runs_root() -> PathBuf {
    std::env::var_os("TAGSCALE_RUNS").map_or_else(|| PathBuf::from("runs"), PathBuf::from)
}

/// `path` made absolute against the working directory (workers and the store get absolute
/// paths, so a run's records do not depend on where it was started).
pub fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}

/// Threads of this machine.
pub fn machine_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// The runner's environment for this process.
pub fn runner_env(threads: Option<usize>) -> Result<runner::Env> {
    Ok(runner::Env {
        data_root: absolute(&data_root()),
        runs_root: absolute(&runs_root()),
        threads: threads.unwrap_or_else(machine_threads).max(1),
        code: code_version()?,
        scheduler_job: slurm_job(),
    })
}

/// `JOBID_TASKID` of the Slurm array task (or `JOBID` of the job) this process runs in.
fn slurm_job() -> Option<String> {
    let var = |name| std::env::var(name).ok().filter(|v: &String| !v.is_empty());
    match (var("SLURM_ARRAY_JOB_ID"), var("SLURM_ARRAY_TASK_ID")) {
        (Some(job), Some(task)) => Some(format!("{job}_{task}")),
        _ => var("SLURM_JOB_ID"),
    }
}

/// What this binary was built from (build.rs) and its own sha256.
pub fn code_version() -> Result<CodeVersion> {
    let exe = std::env::current_exe().context("cannot locate the running binary")?;
    let bytes = std::fs::read(&exe).with_context(|| format!("cannot read {}", exe.display()))?;
    let mut features = Vec::new();
    if cfg!(feature = "tch") {
        features.push("tch");
    }
    if cfg!(feature = "cuda") {
        features.push("cuda");
    }
    Ok(CodeVersion {
        git_commit: env!("TAGSCALE_GIT_COMMIT").into(),
        git_dirty: env!("TAGSCALE_GIT_DIRTY") == "true",
        git_diff: include_str!(concat!(env!("OUT_DIR"), "/git_diff.txt")).into(),
        cargo_lock_sha256: env!("TAGSCALE_CARGO_LOCK_SHA256").into(),
        rustc_version: env!("TAGSCALE_RUSTC_VERSION").into(),
        cargo_features: features.join(","),
        binary_sha256: hex::encode(Sha256::digest(&bytes)),
    })
}

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(signal: libc::c_int) {
    INTERRUPTED.store(true, Ordering::SeqCst);
    // A second Ctrl-C kills at once. SAFETY: signal(2) is async-signal-safe.
    unsafe {
        libc::signal(signal, libc::SIG_DFL);
    }
}

/// Turn SIGINT and SIGTERM into a flag that training checks between batches, so the run is
/// marked KILLED and the process exits cleanly.
pub fn interrupt_flag() -> &'static AtomicBool {
    let handler = on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
    // SAFETY: the handler only stores to an atomic and resets its own disposition.
    unsafe {
        libc::signal(libc::SIGINT, handler);
        libc::signal(libc::SIGTERM, handler);
    }
    &INTERRUPTED
}

/// Let a closed stdout end the process quietly, as it ends `ls` or `grep` (`tagscale runs show
/// 3 | head`). Rust ignores SIGPIPE, so `println!` would panic instead; only commands that do
/// nothing but print use this (a sweep must outlive its reader and record its runs).
pub fn quiet_on_closed_stdout() {
    // SAFETY: restoring a signal's default disposition before any thread starts.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}
