//! The dataset a grid names, as a manifest, and where its feature cache lives.

use std::path::{Path, PathBuf};

use datasets::Manifest;
use datasets::cache::{self, FeatureConfig};
use datasets::synth::{self, SynthConfig};

use crate::error::Result;
use crate::grid::{DatasetKindName, Grid};

/// Seconds per synthetic track when the grid does not say.
pub const DEFAULT_SYNTH_SECONDS: f64 = 10.0;

/// The grid's manifest: a synthetic corpus generated on the fly, or an imported dataset.
pub fn manifest(grid: &Grid, data_root: &Path) -> Result<Manifest> {
    match grid.dataset.kind {
        DatasetKindName::Synth => Ok(synth::manifest(&SynthConfig {
            tracks: grid.dataset.tracks.unwrap_or(0),
            seed: grid.dataset.seed,
            seconds: grid.dataset.seconds.unwrap_or(DEFAULT_SYNTH_SECONDS),
        })?),
        _ => {
            let dir = grid.dataset_dir(data_root).unwrap_or_default();
            Ok(Manifest::load(&dir)?)
        }
    }
}

/// What the grid's cache holds.
pub fn feature_config(grid: &Grid) -> FeatureConfig {
    FeatureConfig::with_mels(grid.features.n_mels)
}

/// `<data root>/cache/<manifest hash>-<feature hash>`.
pub fn cache_dir(grid: &Grid, manifest: &Manifest, data_root: &Path) -> PathBuf {
    cache::cache_dir(&data_root.join("cache"), manifest, &feature_config(grid))
}
