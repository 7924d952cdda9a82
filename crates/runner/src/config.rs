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

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunConfig {
    pub version: u32,
    pub experiment: String,
    pub dataset: DatasetSpec,
    pub model: ModelKind,
    pub train_size: usize,
    /// `None` for GBT runs.
    pub backend: Option<Backend>,
    pub seed: u64,
    pub eval: EvalSpec,
    /// Deep models only.
    pub features: Option<Features>,
    pub widths: Option<ModelWidths>,
    pub train: Option<TrainPlan>,
    /// GBT only.
    pub gbt: Option<GbtConfig>,
}

impl Grid {
    /// The resolved configuration of `cell`.
    pub fn resolve(&self, cell: &Cell) -> RunConfig {
        let deep = cell.model != ModelKind::Gbt;
        RunConfig {
            version: CONFIG_VERSION,
            experiment: self.experiment.name.clone(),
            dataset: self.dataset.clone(),
            model: cell.model,
            train_size: cell.train_size,
            backend: cell.backend,
            seed: cell.seed,
            eval: self.eval,
            features: deep.then_some(self.features),
            widths: deep.then_some(self.model),
            train: deep.then(|| self.train.plan(cell.train_size, self.largest_train_size())),
            gbt: (!deep).then_some(GbtConfig {
                seed: cell.seed,
                ..self.gbt
            }),
        }
    }
}

impl RunConfig {
    /// The config as JSON without its seeds (the run's and GBT's, which a cell copies from
    /// it): runs that differ only by seed have the same value, which is how `runs list
    /// --group-by` pools seeds.
    pub fn without_seeds(&self) -> serde_json::Value {
        let mut value = serde_json::to_value(self).unwrap_or_default();
        if let Some(config) = value.as_object_mut() {
            config.remove("seed");
            if let Some(gbt) = config.get_mut("gbt").and_then(|g| g.as_object_mut()) {
                gbt.remove("seed");
            }
        }
        value
    }

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

    /// The backend name the store shows (`-` for GBT).
    pub fn backend_name(&self) -> String {
        self.backend
            .map_or_else(|| "-".to_string(), |b| b.as_str().to_string())
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
        let (architecture, features, widths) =
            match (self.model.architecture(), self.features, self.widths) {
                (Some(a), Some(f), Some(w)) => (a, f, w),
                _ => {
                    return Err(RunnerError::StoredConfig(format!(
                        "a {:?} run needs [features] and [model] sections",
                        self.model
                    )));
                }
            };
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
