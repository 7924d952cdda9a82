//! What this binary is (its code version, recorded with every run) and the signals that stop a
//! run cleanly. Where things live is `runner::env`.

use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{Context, Result};
use sha2::{Digest, Sha256};
use tracking::CodeVersion;

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
