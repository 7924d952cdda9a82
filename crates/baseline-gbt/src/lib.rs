//! # baseline-gbt
//!
//! The hand-crafted-features baseline of the study: one gradient-boosted-trees model per tag
//! (forust-ml, a pure-Rust histogram GBT with an XGBoost-style API) on the descriptor vectors
//! of `audio-features`. Classification tags use LogLoss on the truth binarised at 0.5,
//! regression tags SquaredLoss; tags train in parallel, one thread each (on 2 cores that beats
//! threads inside one tree). Predictions are in [0, 1] in the same `[tracks, tags]` layout as
//! the deep models' outputs, so one metrics code scores both.
//!
//! ```no_run
//! use baseline_gbt::{GbtConfig, GbtModel, Table};
//! use datasets::TagKind;
//! let (x, y) = (vec![0.0f32; 100 * 4], vec![0.0f32; 100]);
//! let train = Table { rows: 100, features: &x, targets: &y };
//! let model = GbtModel::fit(&GbtConfig::default(), &[TagKind::Classification], &train, None)?;
//! let p = model.predict(&x, 100)?; // [100, 1] in [0, 1]
//! # Ok::<(), baseline_gbt::GbtError>(())
//! ```

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

use datasets::TagKind;
use forust_ml::GradientBooster;
use forust_ml::data::Matrix;
use forust_ml::metric::Metric;
use forust_ml::objective::ObjectiveType;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// Errors of the GBT baseline.
#[derive(Debug, thiserror::Error)]
pub enum GbtError {
    #[error("invalid GBT configuration: {0}")]
    Config(String),
    #[error("{what}: expected {expected} values, got {got}")]
    Shape {
        what: &'static str,
        expected: usize,
        got: usize,
    },
    #[error("tag {tag}: {message}")]
    Fit { tag: usize, message: String },
    #[error("{path}: {message}")]
    Io { path: String, message: String },
    #[error("interrupted by a signal")]
    Interrupted,
}

pub type Result<T> = std::result::Result<T, GbtError>;

/// Where the threads go: across tags (one tree-building thread per tag) or inside each tag's
/// trees (tags one after another). On 2 cores `Tags` is faster (see bench/RESULTS.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Parallelism {
    #[default]
    Tags,
    Trees,
}

/// Hyper-parameters, checked once by [`GbtConfig::validate`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GbtConfig {
    /// Boosting rounds (upper bound when early stopping).
    pub iterations: usize,
    pub learning_rate: f32,
    pub max_depth: usize,
    /// Histogram bins per feature.
    pub bins: u16,
    /// Stop when the validation metric has not improved for this many rounds.
    pub early_stopping_rounds: Option<usize>,
    /// Threads; `None` = rayon's pool size.
    pub threads: Option<usize>,
    pub parallelism: Parallelism,
    pub seed: u64,
}

impl Default for GbtConfig {
    fn default() -> Self {
        Self {
            iterations: 300,
            learning_rate: 0.1,
            max_depth: 5,
            // 64, not 256: forust spends ~80 % of a fit evaluating candidate splits, one per
            // bin, so 64 bins fit ~3x faster at the same macro ROC-AUC (bench/RESULTS.md).
            bins: 64,
            early_stopping_rounds: Some(20),
            threads: None,
            parallelism: Parallelism::Tags,
            seed: 0,
        }
    }
}

impl GbtConfig {
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(GbtError::Config(m));
        if self.iterations == 0 {
            return bad("iterations must be at least 1".into());
        }
        if !(self.learning_rate > 0.0 && self.learning_rate <= 1.0) {
            return bad(format!(
                "learning_rate {} must be in (0, 1]",
                self.learning_rate
            ));
        }
        if !(1..=32).contains(&self.max_depth) {
            return bad(format!(
                "max_depth {} must be within 1..=32",
                self.max_depth
            ));
        }
        if self.bins < 2 {
            return bad(format!("bins {} must be at least 2", self.bins));
        }
        if self.threads == Some(0) {
            return bad("threads must be at least 1".into());
        }
        Ok(())
    }
}

/// Row-major features `[rows, features]` and targets `[rows, tags]`.
#[derive(Debug, Clone, Copy)]
pub struct Table<'a> {
    pub rows: usize,
    pub features: &'a [f32],
    pub targets: &'a [f32],
}

impl Table<'_> {
    fn n_features(&self) -> usize {
        self.features.len() / self.rows.max(1)
    }

    /// Column-major f64 copy of the features, as forust's `Matrix` reads them.
    fn column_major(&self) -> Vec<f64> {
        column_major(self.features, self.rows)
    }

    fn target(&self, tag: usize, tags: usize, kind: TagKind) -> Vec<f64> {
        (0..self.rows)
            .map(|r| {
                let v = f64::from(self.targets[r * tags + tag]);
                match kind {
                    TagKind::Classification => f64::from(u8::from(v >= 0.5)),
                    TagKind::Regression => v,
                }
            })
            .collect()
    }
}

fn column_major(features: &[f32], rows: usize) -> Vec<f64> {
    let cols = features.len() / rows.max(1);
    let mut out = vec![0.0; rows * cols];
    for r in 0..rows {
        for c in 0..cols {
            out[c * rows + r] = f64::from(features[r * cols + c]);
        }
    }
    out
}

/// One tag's fitted model, or a constant when the training data leave nothing to learn.
#[derive(Serialize, Deserialize)]
enum TagModel {
    Booster(Box<GradientBooster>),
    Constant { value: f64 },
}

/// The fitted per-tag models.
#[derive(Serialize, Deserialize)]
pub struct GbtModel {
    config: GbtConfig,
    kinds: Vec<TagKind>,
    n_features: usize,
    tags: Vec<TagModel>,
}

impl std::fmt::Debug for GbtModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GbtModel")
            .field("config", &self.config)
            .field("kinds", &self.kinds)
            .field("n_features", &self.n_features)
            .finish_non_exhaustive()
    }
}

impl GbtModel {
    /// Fit one model per tag, early-stopping on `validation` when given.
    pub fn fit(
        config: &GbtConfig,
        kinds: &[TagKind],
        train: &Table<'_>,
        validation: Option<&Table<'_>>,
    ) -> Result<Self> {
        Self::fit_until(config, kinds, train, validation, &AtomicBool::new(false))
    }

    /// [`GbtModel::fit`] that stops before the next tag's model once `stop` is set (a
    /// signal), returning [`GbtError::Interrupted`].
    pub fn fit_until(
        config: &GbtConfig,
        kinds: &[TagKind],
        train: &Table<'_>,
        validation: Option<&Table<'_>>,
        stop: &AtomicBool,
    ) -> Result<Self> {
        config.validate()?;
        let tags = kinds.len();
        check_table("training", train, tags)?;
        let n_features = train.n_features();
        if let Some(v) = validation {
            check_table("validation", v, tags)?;
            if v.n_features() != n_features {
                return Err(GbtError::Shape {
                    what: "validation features per row",
                    expected: n_features,
                    got: v.n_features(),
                });
            }
        }
        let threads = config.threads.unwrap_or_else(rayon::current_num_threads);
        let train_x = train.column_major();
        let valid_x = validation.map(Table::column_major);
        let fit_tag = |tag: usize| -> Result<TagModel> {
            if stop.load(Ordering::Relaxed) {
                return Err(GbtError::Interrupted);
            }
            let kind = kinds[tag];
            let y = train.target(tag, tags, kind);
            let first = y.first().copied().unwrap_or(0.0);
            if y.iter().all(|v| *v == first) {
                return Ok(TagModel::Constant {
                    value: first.clamp(0.0, 1.0),
                });
            }
            let (objective, metric) = match kind {
                TagKind::Classification => (ObjectiveType::LogLoss, Metric::LogLoss),
                TagKind::Regression => (ObjectiveType::SquaredLoss, Metric::RootMeanSquaredError),
            };
            let mut booster = GradientBooster::default()
                .set_objective_type(objective)
                .set_iterations(config.iterations)
                .set_learning_rate(config.learning_rate)
                .set_max_depth(config.max_depth)
                .set_nbins(config.bins)
                .set_parallel(config.parallelism == Parallelism::Trees)
                .set_num_threads(match config.parallelism {
                    Parallelism::Trees => Some(threads),
                    Parallelism::Tags => None,
                })
                .set_seed(config.seed)
                .set_evaluation_metric(Some(metric));
            let weights = vec![1.0; train.rows];
            let matrix = Matrix::new(&train_x, train.rows, n_features);
            let fail = |e: forust_ml::errors::ForustError| GbtError::Fit {
                tag,
                message: e.to_string(),
            };
            match (validation, &valid_x) {
                (Some(v), Some(vx)) if config.early_stopping_rounds.is_some() => {
                    booster = booster.set_early_stopping_rounds(config.early_stopping_rounds);
                    let vy = v.target(tag, tags, kind);
                    let vw = vec![1.0; v.rows];
                    let eval = vec![(
                        Matrix::new(vx, v.rows, n_features),
                        vy.as_slice(),
                        vw.as_slice(),
                    )];
                    booster
                        .fit(&matrix, &y, &weights, Some(eval))
                        .map_err(fail)?;
                }
                _ => booster.fit(&matrix, &y, &weights, None).map_err(fail)?,
            }
            Ok(TagModel::Booster(Box::new(booster)))
        };
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(config.threads.unwrap_or_else(rayon::current_num_threads))
            .build()
            .map_err(|e| GbtError::Config(format!("cannot start the thread pool: {e}")))?;
        let fitted = pool.install(|| {
            (0..tags)
                .into_par_iter()
                .map(fit_tag)
                .collect::<Result<_>>()
        })?;
        Ok(Self {
            config: *config,
            kinds: kinds.to_vec(),
            n_features,
            tags: fitted,
        })
    }

    pub fn kinds(&self) -> &[TagKind] {
        &self.kinds
    }

    /// Predictions in [0, 1], row-major `[rows, tags]`.
    pub fn predict(&self, features: &[f32], rows: usize) -> Result<Vec<f32>> {
        if features.len() != rows * self.n_features {
            return Err(GbtError::Shape {
                what: "features",
                expected: rows * self.n_features,
                got: features.len(),
            });
        }
        let x = column_major(features, rows);
        let matrix = Matrix::new(&x, rows, self.n_features);
        let tags = self.tags.len();
        let mut out = vec![0.0f32; rows * tags];
        for (j, model) in self.tags.iter().enumerate() {
            let column: Vec<f64> = match model {
                TagModel::Constant { value } => vec![*value; rows],
                TagModel::Booster(b) => b.predict(&matrix, false),
            };
            for (r, v) in column.into_iter().enumerate() {
                // LogLoss boosters predict log-odds.
                let p = match (model, self.kinds[j]) {
                    (TagModel::Booster(_), TagKind::Classification) => 1.0 / (1.0 + (-v).exp()),
                    _ => v,
                };
                out[r * tags + j] = p.clamp(0.0, 1.0) as f32;
            }
        }
        Ok(out)
    }

    /// Save as JSON (configuration, kinds and every tag's trees).
    pub fn save(&self, path: &Path) -> Result<()> {
        let io = |message: String| GbtError::Io {
            path: path.display().to_string(),
            message,
        };
        let text = serde_json::to_string(self).map_err(|e| io(e.to_string()))?;
        std::fs::write(path, text).map_err(|e| io(e.to_string()))
    }

    pub fn load(path: &Path) -> Result<Self> {
        let io = |message: String| GbtError::Io {
            path: path.display().to_string(),
            message,
        };
        let text = std::fs::read_to_string(path).map_err(|e| io(e.to_string()))?;
        serde_json::from_str(&text).map_err(|e| io(format!("not a GBT model: {e}")))
    }
}

fn check_table(what: &'static str, t: &Table<'_>, tags: usize) -> Result<()> {
    if t.rows == 0 {
        return Err(GbtError::Shape {
            what,
            expected: 1,
            got: 0,
        });
    }
    if t.targets.len() != t.rows * tags {
        return Err(GbtError::Shape {
            what: "targets",
            expected: t.rows * tags,
            got: t.targets.len(),
        });
    }
    if !t.features.len().is_multiple_of(t.rows) || t.features.is_empty() {
        return Err(GbtError::Shape {
            what: "features (a multiple of the rows)",
            expected: t.rows,
            got: t.features.len(),
        });
    }
    Ok(())
}
