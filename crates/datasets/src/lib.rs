//! # datasets
//!
//! What tagscale trains and evaluates on, independent of models (SPEC §4):
//!
//! - [`manifest`]: tracks (id, audio source, duration, group, split, labels), the content hash
//!   that runs record, and the tracks left out with their reasons;
//! - [`schema`]: tags and their kinds (classification / regression), inferred or overridden;
//! - [`split`]: seeded splits by group and the **nested** training subsets of the
//!   training-set-size axis, plus the seed derivation every random choice uses;
//! - [`synth`]: the built-in procedural music corpus, generated from (seed, index) alone;
//! - [`import`]: MagnaTagATune, MTG-Jamendo and generic CSV/TSV manifests;
//! - [`info`]: the summary behind `tagscale data info`;
//! - [`cache`]: the sharded, memory-mapped feature cache.
//!
//! ```no_run
//! use datasets::synth::{self, SynthConfig};
//! use datasets::split::training_subset;
//! let manifest = synth::manifest(&SynthConfig { tracks: 1000, seed: 7, seconds: 10.0 })?;
//! let small = training_subset(&manifest, 300, 1)?;
//! let large = training_subset(&manifest, 600, 1)?;
//! assert!(small.indices.iter().all(|i| large.indices.contains(i)));
//! # Ok::<(), datasets::DatasetError>(())
//! ```

pub mod cache;
pub mod error;
pub mod import;
pub mod info;
pub mod manifest;
pub mod schema;
pub mod split;
pub mod synth;

pub use error::{DatasetError, Result};
pub use manifest::{BadTrack, DatasetKind, Manifest, Source, Split, Track};
pub use schema::{Tag, TagKind, TagSchema};

use std::io::Write;
use std::path::Path;

/// Marks the temporary sibling [`atomic_write`] writes: `<name>.<ext>.tmp<pid>`.
const TEMPORARY_MARK: &str = ".tmp";

/// Write a file completely or not at all: a temporary sibling, fsync, then rename. On failure
/// (a full disk, say) the temporary file is removed and the error keeps the OS reason.
pub fn atomic_write(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = path.with_extension(format!(
        "{}{TEMPORARY_MARK}{}",
        path.extension().and_then(|e| e.to_str()).unwrap_or(""),
        std::process::id()
    ));
    let write = || -> std::io::Result<()> {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    };
    write().map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        error::io_err(path, "cannot write the file")(e)
    })
}

/// Remove the temporary files of [`atomic_write`] left in `dir` by processes that are gone
/// (killed mid-write). Another live process's temporaries are left alone. Best effort: a
/// file that cannot be removed stays.
pub fn remove_abandoned_temporaries(dir: &Path) {
    let Ok(listing) = std::fs::read_dir(dir) else {
        return;
    };
    for path in listing.flatten().map(|e| e.path()) {
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
        let Some(pid) = name.as_deref().and_then(temporary_owner) else {
            continue;
        };
        if pid != std::process::id() && !process_is_alive(pid) {
            let _ = std::fs::remove_file(&path);
        }
    }
}

/// The pid in a temporary file name `<…>.tmp<pid>`.
fn temporary_owner(name: &str) -> Option<u32> {
    let (_, pid) = name.rsplit_once(TEMPORARY_MARK)?;
    pid.parse().ok()
}

fn process_is_alive(pid: u32) -> bool {
    // Where /proc is missing the owner cannot be told, so the file is kept.
    !Path::new("/proc/self").exists() || Path::new("/proc").join(pid.to_string()).exists()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_write_removes_its_temporary_and_keeps_the_os_reason() {
        let dir = tempfile::tempdir().unwrap();
        // A non-empty directory in the way makes the final rename fail.
        let target = dir.path().join("shard-00000.wave");
        std::fs::create_dir_all(target.join("occupied")).unwrap();
        let err = atomic_write(&target, b"data").unwrap_err();
        let reason = std::error::Error::source(&err).map(ToString::to_string);
        assert!(reason.is_some_and(|r| !r.is_empty()), "{err:?}");
        let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().flatten().collect();
        assert_eq!(
            left.len(),
            1,
            "only the directory in the way is left: {left:?}"
        );
    }

    #[test]
    fn temporaries_of_dead_processes_are_removed_and_live_ones_kept() {
        let dir = tempfile::tempdir().unwrap();
        let own = dir.path().join(format!("a.mel.tmp{}", std::process::id()));
        // pid_max on Linux is at most 2^22, so this pid cannot be alive.
        let dead = dir.path().join("b.mel.tmp4999999");
        let data = dir.path().join("c.mel");
        for p in [&own, &dead, &data] {
            std::fs::write(p, b"x").unwrap();
        }
        remove_abandoned_temporaries(dir.path());
        assert!(own.exists() && data.exists());
        assert!(!dead.exists());
    }
}
