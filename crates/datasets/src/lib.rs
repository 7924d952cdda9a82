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

/// Write a file completely or not at all: a temporary sibling, fsync, then rename.
pub fn atomic_write(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = path.with_extension(format!(
        "{}.tmp{}",
        path.extension().and_then(|e| e.to_str()).unwrap_or(""),
        std::process::id()
    ));
    let write = || -> std::io::Result<()> {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    };
    write().map_err(error::io_err(path, "cannot write the file"))
}
