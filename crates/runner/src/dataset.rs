//! The dataset a grid or run names, as a manifest; its feature cache; and the data one run
//! trains, validates and tests on.

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

use datasets::cache::{self, FeatureCache, FeatureConfig};
use datasets::split::{Subset, training_subset};
use datasets::synth::{self, SynthConfig};
use datasets::{DatasetError, Manifest, Split, TagKind};

use crate::config::RunConfig;
use crate::error::{Result, RunnerError};
use crate::grid::{DatasetKindName, DatasetSpec, Grid, ModelKind};

/// Seconds per synthetic track when the grid does not say.
pub const DEFAULT_SYNTH_SECONDS: f64 = 10.0;

/// Shard size of caches the runner builds.
const SHARD_SIZE: usize = 256;

/// The manifest a dataset section names: a synthetic corpus generated on the fly, or an
/// imported dataset's `manifest.json` (its path relative to `data_root` unless absolute).
pub fn manifest_of(spec: &DatasetSpec, data_root: &Path) -> Result<Manifest> {
    match spec.kind {
        DatasetKindName::Synth => Ok(synth::manifest(&SynthConfig {
            tracks: spec.tracks.unwrap_or(0),
            seed: spec.seed,
            seconds: spec.seconds.unwrap_or(DEFAULT_SYNTH_SECONDS),
        })?),
        _ => {
            let dir = dataset_dir(spec, data_root).unwrap_or_default();
            Ok(Manifest::load(&dir)?)
        }
    }
}

/// Where an imported dataset's manifest lives.
pub fn dataset_dir(spec: &DatasetSpec, data_root: &Path) -> Option<PathBuf> {
    spec.path.as_ref().map(|p| {
        if p.is_absolute() {
            p.clone()
        } else {
            data_root.join(p)
        }
    })
}

/// The grid's manifest.
pub fn manifest(grid: &Grid, data_root: &Path) -> Result<Manifest> {
    manifest_of(&grid.dataset, data_root)
}

/// What the grid's cache holds.
pub fn feature_config(grid: &Grid) -> FeatureConfig {
    FeatureConfig::with_mels(grid.features.n_mels)
}

/// `<data root>/cache/<manifest hash>-<feature hash>`.
pub fn cache_dir(grid: &Grid, manifest: &Manifest, data_root: &Path) -> PathBuf {
    cache::cache_dir(&cache_root(data_root), manifest, &feature_config(grid))
}

fn cache_root(data_root: &Path) -> PathBuf {
    data_root.join("cache")
}

/// Build the cache (or finish it; a complete cache is only checked) and open it. Setting
/// `stop` (a signal) ends a build within a track as [`RunnerError::Interrupted`].
pub fn ensure_cache(
    dir: &Path,
    manifest: &Manifest,
    config: &FeatureConfig,
    on_tracks: &(dyn Fn(u64) + Sync),
    stop: &AtomicBool,
) -> Result<FeatureCache> {
    if let Ok(cache) = FeatureCache::open(dir) {
        return Ok(cache);
    }
    cache::build_until(dir, manifest, config, SHARD_SIZE, on_tracks, stop).map_err(|e| match e {
        DatasetError::Interrupted => RunnerError::Interrupted,
        e => e.into(),
    })
}

/// The cache a run reads. Deep runs need the log-mels of their `n_mels`; GBT runs need only
/// descriptors, which every cache of a manifest holds alike, so they reuse any complete one.
fn run_cache(
    config: &RunConfig,
    manifest: &Manifest,
    data_root: &Path,
    stop: &AtomicBool,
) -> Result<FeatureCache> {
    let root = cache_root(data_root);
    let features = match config.deep() {
        Some(deep) => FeatureConfig::with_mels(deep.features.n_mels),
        None => {
            let prefix = format!("{}-", &manifest.content_hash()[..16]);
            let mut existing: Vec<PathBuf> = std::fs::read_dir(&root)
                .into_iter()
                .flatten()
                .flatten()
                .map(|e| e.path())
                .filter(|p| {
                    p.file_name()
                        .is_some_and(|n| n.to_string_lossy().starts_with(&prefix))
                })
                .collect();
            existing.sort();
            if let Some(cache) = existing.iter().find_map(|d| FeatureCache::open(d).ok()) {
                return Ok(cache);
            }
            FeatureConfig::with_mels(audio_features::MelConfig::default().n_mels)
        }
    };
    let dir = cache::cache_dir(&root, manifest, &features);
    ensure_cache(&dir, manifest, &features, &|_| {}, stop)
}

/// Everything one run reads: the tracks of its training subset, validation and test splits
/// (tracks the cache could not decode left out), their labels, and the tag schema.
pub struct RunData {
    pub manifest: Manifest,
    pub cache: FeatureCache,
    pub subset: Subset,
    pub train: Vec<usize>,
    pub valid: Vec<usize>,
    pub test: Vec<usize>,
    pub tag_names: Vec<String>,
    pub kinds: Vec<TagKind>,
}

impl RunData {
    /// Load (and if needed cache) the run's dataset and pick its subset.
    pub fn prepare(config: &RunConfig, data_root: &Path) -> Result<Self> {
        Self::prepare_until(config, data_root, &AtomicBool::new(false))
    }

    /// [`RunData::prepare`] whose cache build ends at `stop` (a signal).
    pub fn prepare_until(config: &RunConfig, data_root: &Path, stop: &AtomicBool) -> Result<Self> {
        let manifest = manifest_of(&config.dataset, data_root)?;
        let cache = run_cache(config, &manifest, data_root, stop)?;
        let subset = training_subset(&manifest, config.train_size, config.seed)?;
        let usable = |i: &usize| cache.is_usable(*i);
        let train: Vec<usize> = subset.indices.iter().copied().filter(usable).collect();
        let split = |s: Split| -> Vec<usize> {
            manifest
                .tracks_in(s)
                .map(|(i, _)| i)
                .filter(usable)
                .collect()
        };
        let (valid, test) = (split(Split::Validation), split(Split::Test));
        let minimum = if config.model == ModelKind::Gbt { 2 } else { 1 };
        for (what, n) in [
            ("training", train.len()),
            ("validation", valid.len()),
            ("test", test.len()),
        ] {
            if n < minimum {
                return Err(RunnerError::Data(format!(
                    "the {what} set of dataset `{}` has {n} usable tracks",
                    manifest.name
                )));
            }
        }
        Ok(Self {
            tag_names: manifest.schema.names().map(str::to_string).collect(),
            kinds: manifest.schema.tags.iter().map(|t| t.kind).collect(),
            manifest,
            cache,
            subset,
            train,
            valid,
            test,
        })
    }

    pub fn n_tags(&self) -> usize {
        self.tag_names.len()
    }

    /// Row-major `[tracks, tags]` labels of `tracks`.
    pub fn labels(&self, tracks: &[usize]) -> Vec<f32> {
        tracks
            .iter()
            .flat_map(|&i| self.manifest.tracks[i].labels.iter().copied())
            .collect()
    }

    /// Each tag's mean label over the training subset (the label prior; values that are not
    /// finite are left out here and fail the training loss instead).
    pub fn label_prior(&self) -> Vec<f32> {
        let tags = self.n_tags();
        let mut sums = vec![(0.0f64, 0usize); tags];
        for row in self.labels(&self.train).chunks_exact(tags.max(1)) {
            for ((sum, count), &v) in sums.iter_mut().zip(row) {
                if v.is_finite() {
                    (*sum, *count) = (*sum + f64::from(v), *count + 1);
                }
            }
        }
        sums.iter()
            .map(|&(sum, count)| (sum / count.max(1) as f64) as f32)
            .collect()
    }

    /// The label prior as a constant prediction for each of `tracks` (`[tracks, tags]`).
    pub fn label_prior_predictions(&self, tracks: &[usize]) -> Vec<f32> {
        let prior = self.label_prior();
        tracks.iter().flat_map(|_| prior.iter().copied()).collect()
    }

    /// Row-major `[tracks, descriptors]` of `tracks` (all usable by construction).
    pub fn descriptors(&self, tracks: &[usize]) -> Result<Vec<f32>> {
        let mut rows = Vec::new();
        for &i in tracks {
            rows.extend(self.cache.descriptors(i)?.unwrap_or_default());
        }
        Ok(rows)
    }

    /// The track ids of `tracks`.
    pub fn ids(&self, tracks: &[usize]) -> Vec<String> {
        tracks
            .iter()
            .map(|&i| self.manifest.tracks[i].id.clone())
            .collect()
    }
}
