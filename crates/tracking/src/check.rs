//! `tagscale db check`: whether a store is sound and its runs' artifacts are still what was
//! recorded (present, same size, same sha256), so a shared store can be trusted.

use std::path::Path;

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::error::Result;
use crate::records::Status;
use crate::store::Store;

/// What a check found. [`StoreCheck::is_sound`] says whether anything is wrong.
#[derive(Debug, Clone, Serialize)]
pub struct StoreCheck {
    /// SQLite's integrity and foreign-key problems; `None` on PostgreSQL (not checked here).
    pub integrity: Option<Vec<String>>,
    pub sweeps: usize,
    /// Runs per status, in lifecycle order.
    pub runs: Vec<(Status, usize)>,
    pub artifacts: usize,
    /// Artifacts that are missing or changed since they were recorded.
    pub artifact_problems: Vec<String>,
}

impl StoreCheck {
    pub fn is_sound(&self) -> bool {
        self.integrity.as_ref().is_none_or(Vec::is_empty) && self.artifact_problems.is_empty()
    }
}

/// Check `store`: its file (SQLite), its sweeps and runs, and every artifact it records.
pub fn check(store: &Store) -> Result<StoreCheck> {
    let integrity = store.integrity_problems()?;
    let runs = store.runs(None)?;
    let mut artifacts = 0;
    let mut artifact_problems = Vec::new();
    for run in &runs {
        for a in store.artifacts(run.id)? {
            artifacts += 1;
            if let Some(problem) = artifact_problem(Path::new(&a.path), a.size, &a.sha256) {
                artifact_problems.push(format!("run {} artifact `{}`: {problem}", run.id, a.name));
            }
        }
    }
    Ok(StoreCheck {
        integrity,
        sweeps: store.sweep_count()?,
        runs: Status::ALL
            .into_iter()
            .map(|s| (s, runs.iter().filter(|r| r.status == s).count()))
            .collect(),
        artifacts,
        artifact_problems,
    })
}

/// Why the file at `path` is not the recorded artifact, if it is not.
fn artifact_problem(path: &Path, size: i64, sha256: &str) -> Option<String> {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) => return Some(format!("{}: {e}", path.display())),
    };
    if bytes.len() as i64 != size {
        return Some(format!(
            "{}: {} bytes, {size} recorded",
            path.display(),
            bytes.len()
        ));
    }
    (hex::encode(Sha256::digest(&bytes)) != sha256).then(|| {
        format!(
            "{}: its sha256 differs from the recorded one",
            path.display()
        )
    })
}
