//! Grid files (SPEC §9): typed, `deny_unknown_fields`, validated once; their cartesian
//! product over model × training-set size × backend × seed is the set of cells.

use std::path::{Path, PathBuf};

use baseline_gbt::GbtConfig;
use models::config::limits;
use models::{Architecture, Backend, ModelConfig};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tracking::keys::model;

use crate::error::{Result, RunnerError};
use crate::train::Geometry;

/// A whole grid file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Grid {
    pub experiment: Experiment,
    pub dataset: DatasetSpec,
    #[serde(default)]
    pub features: Features,
    #[serde(default)]
    pub model: ModelWidths,
    #[serde(default)]
    pub train: Train,
    /// The GBT baseline's hyper-parameters (its seed comes from the cell).
    #[serde(default)]
    pub gbt: GbtConfig,
    #[serde(default)]
    pub eval: EvalSpec,
    pub grid: Axes,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Experiment {
    pub name: String,
    #[serde(default)]
    pub description: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DatasetKindName {
    Synth,
    Mtat,
    Jamendo,
    Csv,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatasetSpec {
    pub kind: DatasetKindName,
    /// synth: number of tracks.
    pub tracks: Option<usize>,
    /// synth: corpus seed.
    #[serde(default = "default_seed")]
    pub seed: u64,
    /// synth: seconds per track.
    pub seconds: Option<f64>,
    /// mtat / jamendo / csv: the imported dataset's directory (with manifest.json), relative
    /// to `$TAGSCALE_DATA` unless absolute.
    pub path: Option<PathBuf>,
}

fn default_seed() -> u64 {
    7
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Features {
    pub n_mels: usize,
    pub patch_seconds: f64,
}

impl Default for Features {
    fn default() -> Self {
        Self {
            n_mels: 96,
            patch_seconds: 3.0,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ModelWidths {
    pub nf: usize,
    pub backend_width: usize,
    pub dense_units: usize,
    pub dropout: f64,
}

impl Default for ModelWidths {
    fn default() -> Self {
        Self {
            nf: 16,
            backend_width: 512,
            dense_units: 500,
            dropout: 0.5,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Loss {
    /// MSE on sigmoid outputs for all tags (the paper).
    Mse,
    /// BCE on classification tags + MSE on regression tags.
    BceMse,
}

/// Batch-norm statistics used at evaluation (validation, test, saved checkpoints).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BnStats {
    /// Population statistics re-estimated over training patches before every evaluation
    /// (PreciseBN, Wu & Johnson 2021).
    Precise,
    /// The running averages kept during training at momentum 0.01 (the paper's TensorFlow
    /// default); far from converged after a few hundred steps.
    Ema,
}

/// The grid's `[train]` section as written. How long a run trains: `max_steps` Adam steps, or
/// `epochs` passes over the cell's subset, or the fewer of the two when both are given
/// (neither: 30 epochs). Validation every `eval_every` steps (default: one epoch of the grid's
/// largest cell with `max_steps`, one epoch of the cell with `epochs` alone); early stopping
/// after `patience` evaluations without a better validation loss. [`Grid::resolve`] turns it
/// into a cell's [`TrainPlan`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Train {
    pub epochs: Option<usize>,
    pub max_steps: Option<usize>,
    pub eval_every: Option<usize>,
    pub patience: usize,
    pub batch_size: usize,
    pub lr: f64,
    pub loss: Loss,
    pub bn_stats: BnStats,
    /// Training patches (one per track, at most this many) over which `"precise"` estimates
    /// the batch-norm statistics.
    pub bn_patches: usize,
}

/// Epochs when a grid gives neither `epochs` nor `max_steps`.
pub const DEFAULT_EPOCHS: usize = 30;

impl Default for Train {
    fn default() -> Self {
        Self {
            epochs: None,
            max_steps: None,
            eval_every: None,
            patience: 5,
            batch_size: 16,
            lr: 0.001,
            loss: Loss::Mse,
            bn_stats: BnStats::Precise,
            bn_patches: 4096,
        }
    }
}

/// One deep cell's training, resolved: what a run records and follows.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainPlan {
    /// The step budget.
    pub max_steps: usize,
    /// Steps between validations (the last step is always evaluated).
    pub eval_every: usize,
    /// Evaluations without a better validation loss before stopping.
    pub patience: usize,
    pub batch_size: usize,
    pub lr: f64,
    pub loss: Loss,
    pub bn_stats: BnStats,
    pub bn_patches: usize,
}

impl TrainPlan {
    /// Steps in one pass over `tracks` training tracks.
    pub fn steps_per_epoch(&self, tracks: usize) -> usize {
        steps_per_epoch(tracks, self.batch_size)
    }
}

/// Steps in one pass over `tracks` tracks in batches of `batch_size` (at least 1).
fn steps_per_epoch(tracks: usize, batch_size: usize) -> usize {
    tracks.div_ceil(batch_size).max(1)
}

impl Train {
    /// The plan of a cell with `train_size` tracks in a grid whose largest cell has
    /// `largest` tracks.
    pub fn plan(&self, train_size: usize, largest: usize) -> TrainPlan {
        let per_epoch = |n: usize| steps_per_epoch(n, self.batch_size);
        let epoch_steps = self.epochs.map(|e| e * per_epoch(train_size));
        let max_steps = match (self.max_steps, epoch_steps) {
            (Some(s), Some(e)) => s.min(e),
            (Some(s), None) => s,
            (None, Some(e)) => e,
            (None, None) => DEFAULT_EPOCHS * per_epoch(train_size),
        };
        let eval_every = self.eval_every.unwrap_or(match self.max_steps {
            Some(_) => per_epoch(largest),
            None => per_epoch(train_size),
        });
        TrainPlan {
            max_steps,
            eval_every: eval_every.min(max_steps),
            patience: self.patience,
            batch_size: self.batch_size,
            lr: self.lr,
            loss: self.loss,
            bn_stats: self.bn_stats,
            bn_patches: self.bn_patches,
        }
    }
}

/// How runs are evaluated.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EvalSpec {
    /// Hop of the song-level moving window, in seconds; `None` = half a patch (SPEC §3).
    pub hop_seconds: Option<f64>,
    /// Bootstrap resamples for the 95 % intervals of the test figures.
    pub bootstrap: usize,
}

impl Default for EvalSpec {
    fn default() -> Self {
        Self {
            hop_seconds: None,
            bootstrap: 1000,
        }
    }
}

/// What a cell trains.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ModelKind {
    Gbt,
    Waveform,
    Spectrogram,
}

impl ModelKind {
    /// The Burn architecture of a deep model; `None` for GBT.
    pub fn architecture(self) -> Option<Architecture> {
        match self {
            ModelKind::Gbt => None,
            ModelKind::Waveform => Some(Architecture::Waveform),
            ModelKind::Spectrogram => Some(Architecture::Spectrogram),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ModelKind::Gbt => model::GBT,
            ModelKind::Waveform => model::WAVEFORM,
            ModelKind::Spectrogram => model::SPECTROGRAM,
        }
    }
}

impl std::str::FromStr for ModelKind {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        [ModelKind::Gbt, ModelKind::Waveform, ModelKind::Spectrogram]
            .into_iter()
            .find(|m| m.as_str() == s)
            .ok_or_else(|| format!("unknown model {s:?} (expected gbt, waveform or spectrogram)"))
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Axes {
    pub model: Vec<ModelKind>,
    pub train_size: Vec<usize>,
    #[serde(default = "default_backends")]
    pub backend: Vec<String>,
    #[serde(default = "default_seeds")]
    pub seed: Vec<u64>,
}

fn default_backends() -> Vec<String> {
    vec!["flex".into()]
}

fn default_seeds() -> Vec<u64> {
    vec![1]
}

/// One cell of the grid: everything shared plus one value of each axis.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cell {
    pub index: usize,
    pub model: ModelKind,
    pub train_size: usize,
    /// `None` for GBT cells, which do not run on a Burn backend.
    pub backend: Option<Backend>,
    pub seed: u64,
}

impl Grid {
    /// Parse and validate a grid file; errors name the file, and the line and column or key.
    pub fn load(path: &Path) -> Result<Self> {
        Self::load_with_text(path).map(|(grid, _)| grid)
    }

    /// [`Grid::load`], also returning the file's text (a sweep's identity is its text).
    pub fn load_with_text(path: &Path) -> Result<(Self, String)> {
        let text = std::fs::read_to_string(path).map_err(|e| RunnerError::Grid {
            path: path.to_path_buf(),
            message: format!("cannot read: {e}"),
        })?;
        let grid = Self::parse(&text).map_err(|message| RunnerError::Grid {
            path: path.to_path_buf(),
            message,
        })?;
        Ok((grid, text))
    }

    /// Parse and validate grid text.
    pub fn parse(text: &str) -> std::result::Result<Self, String> {
        let grid: Grid = toml::from_str(text).map_err(|e| e.to_string().trim_end().to_string())?;
        grid.validate()?;
        Ok(grid)
    }

    fn validate(&self) -> std::result::Result<(), String> {
        let range = |key: &str, ok: bool, what: &str| {
            if ok {
                Ok(())
            } else {
                Err(format!("`{key}` {what}"))
            }
        };
        range(
            "experiment.name",
            is_portable_name(&self.experiment.name),
            "must be 1 to 64 letters, digits, `.`, `_` or `-`, not starting with `.` \
             (it names the report's directory, reports/<name>/)",
        )?;
        match self.dataset.kind {
            DatasetKindName::Synth => {
                range(
                    "dataset.tracks",
                    self.dataset.tracks.is_some_and(|n| n >= 10),
                    "must be at least 10 for a synth dataset",
                )?;
                range(
                    "dataset.seconds",
                    self.dataset
                        .seconds
                        .is_none_or(|s| (1.0..=600.0).contains(&s)),
                    "must be within 1..=600",
                )?;
            }
            _ => range(
                "dataset.path",
                self.dataset.path.is_some(),
                "is required for an imported dataset (its directory with manifest.json)",
            )?,
        }
        let within = |r: std::ops::RangeInclusive<usize>| format!("must be within {r:?}");
        range(
            "features.n_mels",
            limits::N_MELS.contains(&self.features.n_mels),
            &within(limits::N_MELS),
        )?;
        range(
            "features.patch_seconds",
            self.features.patch_seconds >= 1.5 && self.features.patch_seconds <= 60.0,
            "must be within 1.5..=60 (the waveform model needs >= 1.5 s)",
        )?;
        range(
            "model.nf",
            limits::NF.contains(&self.model.nf),
            &within(limits::NF),
        )?;
        range(
            "model.backend_width",
            limits::WIDTH.contains(&self.model.backend_width),
            &within(limits::WIDTH),
        )?;
        range(
            "model.dense_units",
            limits::WIDTH.contains(&self.model.dense_units),
            &within(limits::WIDTH),
        )?;
        range(
            "model.dropout",
            (0.0..1.0).contains(&self.model.dropout),
            "must be within [0, 1)",
        )?;
        range(
            "train.epochs",
            self.train.epochs.is_none_or(|e| e >= 1),
            "must be at least 1",
        )?;
        range(
            "train.max_steps",
            self.train
                .max_steps
                .is_none_or(|s| (1..=100_000_000).contains(&s)),
            "must be within 1..=100000000",
        )?;
        range(
            "train.eval_every",
            self.train.eval_every.is_none_or(|s| s >= 1),
            "must be at least 1",
        )?;
        range(
            "train.bn_patches",
            (1..=1_000_000).contains(&self.train.bn_patches),
            "must be within 1..=1000000",
        )?;
        range(
            "train.patience",
            self.train.patience >= 1,
            "must be at least 1",
        )?;
        self.gbt.validate().map_err(|e| format!("[gbt]: {e}"))?;
        range(
            "gbt.threads",
            self.gbt.threads.is_none(),
            "is set by the runner (threads per worker), not by the grid",
        )?;
        range(
            "eval.hop_seconds",
            self.eval
                .hop_seconds
                .is_none_or(|h| h > 0.0 && h <= self.features.patch_seconds),
            "must be within (0, features.patch_seconds]",
        )?;
        range(
            "eval.bootstrap",
            self.eval.bootstrap <= 100_000,
            "must be at most 100000",
        )?;
        range(
            "train.batch_size",
            (1..=4096).contains(&self.train.batch_size),
            "must be within 1..=4096",
        )?;
        range(
            "train.lr",
            self.train.lr > 0.0 && self.train.lr < 1.0,
            "must be within (0, 1)",
        )?;
        range(
            "grid.model",
            !self.grid.model.is_empty(),
            "must list at least one model",
        )?;
        self.check_geometry()?;
        range(
            "grid.train_size",
            !self.grid.train_size.is_empty() && self.grid.train_size.iter().all(|&n| n >= 2),
            "must list sizes of at least 2 tracks",
        )?;
        range(
            "grid.backend",
            !self.grid.backend.is_empty(),
            "must list at least one backend",
        )?;
        range(
            "grid.seed",
            !self.grid.seed.is_empty(),
            "must list at least one seed",
        )?;
        Ok(())
    }

    /// Refuse patches so short that a deep model's back-end would see fewer than
    /// [`models::MIN_BACKEND_STEPS`] time steps after its pooling.
    fn check_geometry(&self) -> std::result::Result<(), String> {
        let mel = audio_features::MelConfig::default();
        let seconds = self.features.patch_seconds;
        for architecture in self.grid.model.iter().filter_map(|m| m.architecture()) {
            let model = ModelConfig {
                architecture,
                n_mels: self.features.n_mels,
                ..ModelConfig::paper(architecture, 1)
            };
            let len = Geometry::new(architecture, seconds, None, &mel).patch_len;
            if let Err(e) = model.check_geometry(len) {
                // The reason without the model crate's "invalid model configuration" prefix.
                let e = match e {
                    models::ModelError::Config(reason) => reason,
                    other => other.to_string(),
                };
                let minimum = Geometry::seconds_for(architecture, model.min_input_len(), &mel);
                return Err(format!(
                    "`features.patch_seconds` = {seconds} is too short for the {} model: {e}; \
                     use patch_seconds >= {:.2}",
                    architecture.as_str(),
                    (minimum * 100.0).ceil() / 100.0
                ));
            }
        }
        Ok(())
    }

    /// The largest training-set size of the grid.
    pub fn largest_train_size(&self) -> usize {
        self.grid.train_size.iter().copied().max().unwrap_or(0)
    }

    /// The cells, in a stable order. A backend this binary was not built with is an error
    /// naming the feature to enable; GBT cells are not multiplied over backends.
    pub fn cells(&self) -> Result<Vec<Cell>> {
        let backends = self
            .grid
            .backend
            .iter()
            .map(|name| {
                let backend: Backend = name.parse()?;
                backend.check_available()?;
                Ok(backend)
            })
            .collect::<Result<Vec<Backend>>>()?;
        let mut cells = Vec::new();
        for &model in &self.grid.model {
            for &train_size in &self.grid.train_size {
                let backend_axis: Vec<Option<Backend>> = match model {
                    ModelKind::Gbt => vec![None],
                    _ => backends.iter().copied().map(Some).collect(),
                };
                for backend in backend_axis {
                    for &seed in &self.grid.seed {
                        cells.push(Cell {
                            index: cells.len(),
                            model,
                            train_size,
                            backend,
                            seed,
                        });
                    }
                }
            }
        }
        Ok(cells)
    }
}

/// sha256 of canonical JSON (serde_json maps sort keys; struct fields keep their order).
pub fn config_hash<T: Serialize>(value: &T) -> String {
    let canonical = serde_json::to_value(value)
        .map(|v| v.to_string())
        .unwrap_or_default();
    hex::encode(Sha256::digest(canonical.as_bytes()))
}

/// A portable file-name component (POSIX's portable filename character set), so that an
/// experiment name can never leave `reports/` (`..`), hide (`.x`) or exceed a file-name limit.
fn is_portable_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}
