//! The fully resolved configuration of one run: what the store records, what its hash keys,
//! and all a rerun needs. Sections a model does not use are left out, so that (say) changing
//! the deep models' epochs does not invalidate finished GBT runs.

use baseline_gbt::GbtConfig;
use models::{Backend, ModelConfig};
use serde::{Deserialize, Serialize};

use crate::error::{Result, RunnerError};
use crate::grid::{Cell, DatasetSpec, EvalSpec, Features, Grid, ModelKind, ModelWidths, TrainPlan};

/// Version of the resolved-config layout; part of every config hash.
/// Version 2: step budgets and batch-norm statistics ([`TrainPlan`]), half-patch song hop.
pub const CONFIG_VERSION: u32 = 2;

/// The resolved config of one run, checked: a deep run has its backend, features, widths and
/// training plan; a GBT run its trees' settings — never a mix. The store keeps it as the flat
/// JSON of `StoredConfig` (the layout every recorded hash is of).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(into = "StoredConfig", try_from = "StoredConfig")]
pub struct RunConfig {
    pub version: u32,
    pub experiment: String,
    pub dataset: DatasetSpec,
    pub model: ModelKind,
    pub train_size: usize,
    pub seed: u64,
    pub eval: EvalSpec,
    /// What trains: a deep model or gradient-boosted trees.
    pub recipe: Recipe,
}

/// How a run's model is trained.
#[derive(Debug, Clone, PartialEq)]
pub enum Recipe {
    Deep(DeepRecipe),
    Gbt(GbtConfig),
}

/// A deep run's settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DeepRecipe {
    pub backend: Backend,
    pub features: Features,
    pub widths: ModelWidths,
    pub train: TrainPlan,
}

/// The stored layout of [`RunConfig`]: one object, the sections a model does not use `null`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct StoredConfig {
    version: u32,
    experiment: String,
    dataset: DatasetSpec,
    model: ModelKind,
    train_size: usize,
    /// `None` for GBT runs.
    backend: Option<Backend>,
    seed: u64,
    eval: EvalSpec,
    /// Deep models only.
    features: Option<Features>,
    widths: Option<ModelWidths>,
    train: Option<TrainPlan>,
    /// GBT only.
    gbt: Option<GbtConfig>,
}

impl From<RunConfig> for StoredConfig {
    fn from(c: RunConfig) -> Self {
        let (deep, gbt) = match c.recipe {
            Recipe::Deep(deep) => (Some(deep), None),
            Recipe::Gbt(gbt) => (None, Some(gbt)),
        };
        StoredConfig {
            version: c.version,
            experiment: c.experiment,
            dataset: c.dataset,
            model: c.model,
            train_size: c.train_size,
            backend: deep.map(|d| d.backend),
            seed: c.seed,
            eval: c.eval,
            features: deep.map(|d| d.features),
            widths: deep.map(|d| d.widths),
            train: deep.map(|d| d.train),
            gbt,
        }
    }
}

impl TryFrom<StoredConfig> for RunConfig {
    type Error = String;

    fn try_from(s: StoredConfig) -> std::result::Result<Self, String> {
        let recipe = match (s.model, s.backend, s.features, s.widths, s.train, s.gbt) {
            (ModelKind::Gbt, None, None, None, None, Some(gbt)) => Recipe::Gbt(gbt),
            (
                ModelKind::Waveform | ModelKind::Spectrogram,
                Some(b),
                Some(f),
                Some(w),
                Some(t),
                None,
            ) => Recipe::Deep(DeepRecipe {
                backend: b,
                features: f,
                widths: w,
                train: t,
            }),
            (ModelKind::Gbt, ..) => {
                return Err(
                    "a gbt run has a `gbt` section and no backend, features, widths or train"
                        .into(),
                );
            }
            (model, ..) => {
                return Err(format!(
                    "a {} run has a backend and `features`, `widths` and `train` sections, and no `gbt`",
                    model.as_str()
                ));
            }
        };
        Ok(RunConfig {
            version: s.version,
            experiment: s.experiment,
            dataset: s.dataset,
            model: s.model,
            train_size: s.train_size,
            seed: s.seed,
            eval: s.eval,
            recipe,
        })
    }
}

impl Grid {
    /// The resolved configuration of `cell`.
    pub fn resolve(&self, cell: &Cell) -> RunConfig {
        let recipe = match cell.backend {
            Some(backend) if cell.model != ModelKind::Gbt => Recipe::Deep(DeepRecipe {
                backend,
                features: self.features,
                widths: self.model,
                train: self.train.plan(cell.train_size, self.largest_train_size()),
            }),
            _ => Recipe::Gbt(GbtConfig {
                seed: cell.seed,
                ..self.gbt
            }),
        };
        RunConfig {
            version: CONFIG_VERSION,
            experiment: self.experiment.name.clone(),
            dataset: self.dataset.clone(),
            model: cell.model,
            train_size: cell.train_size,
            seed: cell.seed,
            eval: self.eval,
            recipe,
        }
    }
}

impl RunConfig {
    /// Canonical JSON (what the store records).
    pub fn to_json(&self) -> String {
        serde_json::to_value(self)
            .map(|v| v.to_string())
            .unwrap_or_default()
    }

    /// Read a stored config back.
    pub fn from_json(text: &str) -> Result<Self> {
        #[derive(Deserialize)]
        struct Versioned {
            version: u32,
        }
        let bad = |e: serde_json::Error| RunnerError::StoredConfig(e.to_string());
        let Versioned { version } = serde_json::from_str(text).map_err(bad)?;
        if version != CONFIG_VERSION {
            return Err(RunnerError::StoredConfig(format!(
                "config layout version {version}, but this tagscale reads version \
                 {CONFIG_VERSION} (version 1 is the training recipe before step budgets and \
                 PreciseBN): use the binary of the run's recorded commit"
            )));
        }
        serde_json::from_str(text).map_err(bad)
    }

    /// sha256 of the canonical JSON.
    pub fn hash(&self) -> String {
        crate::grid::config_hash(self)
    }

    /// A deep run's settings; `None` for GBT.
    pub fn deep(&self) -> Option<&DeepRecipe> {
        match &self.recipe {
            Recipe::Deep(deep) => Some(deep),
            Recipe::Gbt(_) => None,
        }
    }

    /// A deep run's settings to adjust (a test's or benchmark's variant of a grid's cell).
    pub fn deep_mut(&mut self) -> Option<&mut DeepRecipe> {
        match &mut self.recipe {
            Recipe::Deep(deep) => Some(deep),
            Recipe::Gbt(_) => None,
        }
    }

    /// A deep run's settings, or the error of asking a GBT run for them.
    pub fn require_deep(&self) -> Result<&DeepRecipe> {
        self.deep().ok_or_else(|| {
            RunnerError::StoredConfig(format!("a {} run has no deep model", self.model.as_str()))
        })
    }

    /// The Burn backend of a deep run; `None` for GBT.
    pub fn backend(&self) -> Option<Backend> {
        self.deep().map(|d| d.backend)
    }

    /// The backend name the store shows ([`tracking::RunAxes::NO_BACKEND`] for GBT).
    pub fn backend_name(&self) -> String {
        self.backend().map_or_else(
            || tracking::RunAxes::NO_BACKEND.into(),
            |b| b.as_str().into(),
        )
    }

    /// The axes of the grid this run sits on, as the store indexes them.
    pub fn axes(&self) -> tracking::RunAxes {
        tracking::RunAxes {
            model: self.model.as_str().into(),
            train_size: self.train_size as i64,
            backend: self.backend_name(),
            seed: self.seed as i64,
        }
    }

    /// The Burn model of a deep run.
    pub fn model_config(&self, n_tags: usize) -> Result<ModelConfig> {
        let deep = self.require_deep()?;
        let architecture = self.model.architecture().ok_or_else(|| {
            RunnerError::StoredConfig(format!("a {} run has no architecture", self.model.as_str()))
        })?;
        let (features, widths) = (deep.features, deep.widths);
        let config = ModelConfig {
            architecture,
            n_tags,
            n_mels: features.n_mels,
            nf: widths.nf,
            backend_width: widths.backend_width,
            dense_units: widths.dense_units,
            dropout: widths.dropout,
        };
        config.validate()?;
        Ok(config)
    }
}
