//! Training of one run (SPEC §6). Deep models: a random patch per track per pass over the
//! subset, batches in a seeded order, Adam for a step budget, song-level validation every
//! `eval_every` steps with batch-norm statistics re-estimated first (PreciseBN), early
//! stopping on validation loss with the best checkpoint kept, test predictions from that
//! checkpoint. GBT: one booster per tag on the descriptors, early-stopped on the validation
//! split.
//!
//! Every random choice derives from the run's seed, a purpose and the epoch (or evaluation)
//! ([`datasets::split::rng_for`]), so a run on flex with a fixed thread count is reproducible.
//! Burn's CPU backends keep one random generator per process (initialisers and dropout draw
//! from it), so deep runs in one process take turns on it ([`models::seed_exclusively`]): two
//! runs trained side by side on threads would otherwise interleave their draws and neither
//! would be reproducible.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use audio_features::patch::{random_start, take_rows};
use audio_features::{BandStats, BandStatsBuilder};
use baseline_gbt::{GbtConfig, GbtModel};
use burn::optim::{AdamConfig, GradientsParams};
use burn::prelude::*;
use datasets::TagKind;
use datasets::split::{derive_seed, rng_for};
use models::{Architecture, Backend, ModelConfig, TaggingModel, input_tensor, input_width};
use rand::seq::SliceRandom;

use crate::config::{DeepRecipe, Recipe, RunConfig};
use crate::dataset::RunData;
use crate::error::{Result, RunnerError};
use crate::evaluate::{Figures, figures};
use crate::grid::{BnStats, Loss, TrainPlan};
use crate::loader::{self, Loading};
use tracking::keys::{artifact, metric, split, training as summary_key};

/// What a run reports while it trains, and how it learns that it must stop.
pub trait Observer {
    /// The values of one validation (0-based `evaluation`): `(split, key, value)`, among them
    /// `train/step` and `train/epoch` (passes over the subset, fractional).
    fn evaluation(&mut self, evaluation: usize, values: &[(&str, &str, f64)]) -> Result<()>;
    /// A training step finished (1-based `step` of at most `max_steps`; for progress displays).
    fn step(&mut self, _step: usize, _max_steps: usize) {}
    /// Set when a signal asks the run to stop.
    fn stop_signal(&self) -> &AtomicBool;

    /// Whether a signal asked the run to stop.
    fn interrupted(&self) -> bool {
        self.stop_signal().load(Ordering::Relaxed)
    }
}

/// Why a deep run stopped training (a diverged run is an error instead).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    /// `patience` evaluations without a better validation loss, at evaluation `evaluation`
    /// (1-based) and step `step`.
    EarlyStop { evaluation: usize, step: usize },
    /// The step budget ran out at `step` (the validation loss was still improving within
    /// the patience window).
    Budget { step: usize },
}

impl std::fmt::Display for StopReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let text = match *self {
            StopReason::EarlyStop { evaluation, step } => {
                summary_key::describe_stop(1.0, evaluation as f64, step as f64)
            }
            StopReason::Budget { step } => summary_key::describe_stop(0.0, 0.0, step as f64),
        };
        f.write_str(&text)
    }
}

/// What training produced: test predictions (`[test tracks, tags]`), files worth keeping, and
/// summary values of the training (`(split, key, value)`).
pub struct Trained {
    pub test_predictions: Vec<f32>,
    pub files: Vec<(String, PathBuf)>,
    pub summary: Vec<(String, String, f64)>,
    /// Deep runs only.
    pub stop: Option<StopReason>,
}

impl Trained {
    /// One summary value by its key (`tracking::keys::training`), whatever its split.
    pub fn summary_value(&self, key: &str) -> Option<f64> {
        self.summary
            .iter()
            .find(|(_, k, _)| k == key)
            .map(|(_, _, v)| *v)
    }
}

/// Train the run's model on `data`, writing checkpoints and side files into `out`.
pub fn train(
    config: &RunConfig,
    data: &RunData,
    out: &Path,
    observer: &mut dyn Observer,
) -> Result<Trained> {
    match &config.recipe {
        Recipe::Gbt(gbt) => train_gbt(*gbt, data, out, observer.stop_signal()),
        Recipe::Deep(deep) => DeepRun::new(config, deep, data, out)?.train(observer),
    }
}

fn train_gbt(gbt: GbtConfig, data: &RunData, out: &Path, stop: &AtomicBool) -> Result<Trained> {
    let table =
        |tracks: &[usize]| -> Result<_> { Ok((data.descriptors(tracks)?, data.labels(tracks))) };
    let (train_x, train_y) = table(&data.train)?;
    let (valid_x, valid_y) = table(&data.valid)?;
    let model = GbtModel::fit_until(
        &gbt,
        &data.kinds,
        &baseline_gbt::Table {
            rows: data.train.len(),
            features: &train_x,
            targets: &train_y,
        },
        Some(&baseline_gbt::Table {
            rows: data.valid.len(),
            features: &valid_x,
            targets: &valid_y,
        }),
        stop,
    )
    .map_err(|e| match e {
        baseline_gbt::GbtError::Interrupted => RunnerError::Interrupted,
        e => e.into(),
    })?;
    let path = out.join("gbt.json");
    model.save(&path)?;
    let test_predictions = model.predict(&data.descriptors(&data.test)?, data.test.len())?;
    Ok(Trained {
        test_predictions,
        files: vec![(artifact::MODEL.into(), path)],
        summary: Vec::new(),
        stop: None,
    })
}

/// What a deep model reads of each track: its normalised log-mel (`[frames, n_mels]`) or
/// waveform, with the patch geometry.
pub struct ModelInputs<'a> {
    data: &'a RunData,
    pub geometry: Geometry,
    /// Values per row: mel bands, or 1 sample.
    pub width: usize,
    /// Per-band normalisation fitted on the training subset (spectrogram models).
    pub band_stats: Option<BandStats>,
}

/// The inputs of a deep run of `config` on `data` (band statistics fitted here).
pub fn model_inputs<'a>(config: &RunConfig, data: &'a RunData) -> Result<ModelInputs<'a>> {
    let model_config = config.model_config(data.n_tags())?;
    let features = config.require_deep()?.features;
    let geometry = Geometry::new(
        model_config.architecture,
        features.patch_seconds,
        config.eval.hop_seconds,
        &data.cache.config().mel,
    );
    let band_stats = match model_config.architecture {
        Architecture::Spectrogram => Some(fit_band_stats(data, model_config.n_mels)?),
        Architecture::Waveform => None,
    };
    Ok(ModelInputs {
        data,
        geometry,
        width: input_width(&model_config),
        band_stats,
    })
}

impl ModelInputs<'_> {
    /// A random patch of each track of `batch`, row-major `[batch, patch_len, width]`.
    /// Cropped before normalising: the standardisation is per value, so the patch has the
    /// same bits as a crop of the normalised track, at a patch's cost instead of a track's.
    fn patches(&self, batch: &[usize], crops: &mut impl rand::Rng) -> Result<Vec<f32>> {
        let patch_len = self.geometry.patch_len;
        let mut x = Vec::with_capacity(batch.len() * patch_len * self.width);
        for &track in batch {
            let rows = self.raw_input(track)?;
            let start = random_start(rows.len() / self.width, patch_len, crops);
            x.extend(take_rows(&rows, self.width, start, patch_len));
        }
        self.normalise(&mut x);
        Ok(x)
    }

    /// A track's model input, row-major `[rows, width]`.
    pub fn input(&self, track: usize) -> Result<Vec<f32>> {
        let mut rows = self.raw_input(track)?;
        self.normalise(&mut rows);
        Ok(rows)
    }

    /// A track's cached log-mel or waveform, before normalisation.
    fn raw_input(&self, track: usize) -> Result<Vec<f32>> {
        let missing = || RunnerError::Data(format!("track {track} is missing from the cache"));
        Ok(match &self.band_stats {
            Some(_) => self.data.cache.log_mel(track)?.ok_or_else(missing)?.data,
            None => self.data.cache.waveform(track)?.ok_or_else(missing)?,
        })
    }

    /// Standardise log-mel rows with the training set's band statistics (waveforms go in as
    /// they are).
    fn normalise(&self, rows: &mut [f32]) {
        if let Some(stats) = &self.band_stats {
            stats.apply(rows);
        }
    }
}

/// A deep run's fixed parts: model configuration, patch geometry, input normalisation.
struct DeepRun<'a> {
    config: &'a RunConfig,
    data: &'a RunData,
    out: &'a Path,
    model_config: ModelConfig,
    backend: Backend,
    train: TrainPlan,
    inputs: ModelInputs<'a>,
    /// 1 for classification tags, 0 for regression tags (for the BCE + MSE loss).
    classification: Vec<f32>,
}

impl<'a> DeepRun<'a> {
    fn new(
        config: &'a RunConfig,
        deep: &DeepRecipe,
        data: &'a RunData,
        out: &'a Path,
    ) -> Result<Self> {
        let model_config = config.model_config(data.n_tags())?;
        let inputs = model_inputs(config, data)?;
        if let Some(stats) = &inputs.band_stats {
            let path = out.join("band_stats.json");
            std::fs::write(&path, stats.to_json())
                .map_err(|e| RunnerError::io(&path, "cannot write", e))?;
        }
        Ok(Self {
            config,
            data,
            out,
            model_config,
            backend: deep.backend,
            train: deep.train,
            inputs,
            classification: data
                .kinds
                .iter()
                .map(|k| f32::from(u8::from(*k == TagKind::Classification)))
                .collect(),
        })
    }

    fn train(&self, observer: &mut dyn Observer) -> Result<Trained> {
        let seed = self.config.seed;
        let plan = self.train;
        let device = self.backend.device()?.autodiff();
        // Held until the last training step (see the module doc).
        let _turn = models::seed_exclusively(&device, derive_seed(seed, "init", 0));
        let mut model = TaggingModel::new(&self.model_config, &device)?
            .with_output_prior(&self.model_config, &self.data.label_prior())?;
        let mut optim = AdamConfig::new().init();
        let checkpoint = self.out.join("model.bpk");
        let per_epoch = plan.steps_per_epoch(self.data.train.len());
        let mut best = Best::default();
        let mut evaluation = 0usize;
        let mut loss_sum = (0.0f64, 0usize);
        let mut step = 0usize;
        let stop = loader::load(self.loading(), self.training_batches(), |batches| {
            loop {
                if observer.interrupted() {
                    return Err(RunnerError::Interrupted);
                }
                let Batch { tracks, patches } = batches.next().ok_or_else(|| {
                    RunnerError::Data("the training batches ended (no training tracks)".into())
                })??;
                let x = self.batch_tensor(patches, tracks.len(), &device)?;
                let y = self.targets(&tracks, &device);
                let loss = self.loss(model.forward(x), y, tracks.len(), &device);
                let value = loss.clone().into_scalar::<f32>();
                if !value.is_finite() {
                    return Err(RunnerError::Diverged {
                        what: "training",
                        value,
                        step: step + 1,
                    });
                }
                loss_sum = (loss_sum.0 + f64::from(value), loss_sum.1 + 1);
                let grads = GradientsParams::from_grads(loss.backward(), &model);
                model = optim.step(plan.lr, model, grads);
                step += 1;
                observer.step(step, plan.max_steps);
                if !step.is_multiple_of(plan.eval_every) && step < plan.max_steps {
                    continue;
                }
                if plan.bn_stats == BnStats::Precise {
                    self.estimate_bn_statistics(&mut model, evaluation, &device)?;
                }
                let eval_model = model.valid();
                let valid = self.validate(&eval_model, observer)?;
                let mut values = vec![
                    (split::TRAIN, metric::STEP, step as f64),
                    (split::TRAIN, metric::EPOCH, step as f64 / per_epoch as f64),
                    (
                        split::TRAIN,
                        metric::LOSS,
                        loss_sum.0 / loss_sum.1.max(1) as f64,
                    ),
                    (split::VALID, metric::LOSS, valid.mse),
                ];
                values.extend(valid.macro_values().map(|(k, v)| (split::VALID, k, v)));
                observer.evaluation(evaluation, &values)?;
                loss_sum = (0.0, 0);
                evaluation += 1;
                if !valid.mse.is_finite() {
                    return Err(RunnerError::Diverged {
                        what: "validation",
                        value: valid.mse as f32,
                        step,
                    });
                }
                if valid.mse < best.loss {
                    best = Best {
                        loss: valid.mse,
                        evaluation,
                        step,
                    };
                    eval_model.save(&self.model_config, &checkpoint)?;
                } else if evaluation - best.evaluation >= plan.patience {
                    return Ok(StopReason::EarlyStop { evaluation, step });
                }
                if step >= plan.max_steps {
                    return Ok(StopReason::Budget { step });
                }
            }
        })?;
        let (best_model, _) = TaggingModel::load(&checkpoint, &self.backend.device()?)?;
        let test_predictions = self.predict(&best_model, &self.data.test, observer)?;
        let mut files = vec![
            (artifact::MODEL.to_string(), checkpoint.clone()),
            (
                "model_config".to_string(),
                models::model::config_path(&checkpoint),
            ),
        ];
        if self.inputs.band_stats.is_some() {
            files.push((
                artifact::BAND_STATS.into(),
                self.out.join("band_stats.json"),
            ));
        }
        let (stopped_early, steps) = match stop {
            StopReason::EarlyStop { step, .. } => (1.0, step),
            StopReason::Budget { step } => (0.0, step),
        };
        let value = |split: &str, key: &str, v: f64| (split.to_string(), key.to_string(), v);
        Ok(Trained {
            test_predictions,
            files,
            summary: vec![
                value(split::VALID, summary_key::BEST_LOSS, best.loss),
                value(
                    split::VALID,
                    summary_key::BEST_EVALUATION,
                    best.evaluation as f64,
                ),
                value(split::VALID, summary_key::BEST_STEP, best.step as f64),
                value(split::TRAIN, summary_key::STOPPED_EARLY, stopped_early),
                value(split::TRAIN, summary_key::STEPS, steps as f64),
                value(split::TRAIN, summary_key::EVALUATIONS, evaluation as f64),
            ],
            stop: Some(stop),
        })
    }

    /// Song-level validation figures of `model`.
    fn validate(&self, model: &TaggingModel, observer: &dyn Observer) -> Result<Figures> {
        let predictions = self.predict(model, &self.data.valid, observer)?;
        figures(self.data, &self.data.valid, &predictions, 0, 0)
    }

    /// PreciseBN: population batch-norm statistics over one seeded patch of each training
    /// track (at most `bn_patches`), in training order, batch by batch.
    fn estimate_bn_statistics(
        &self,
        model: &mut TaggingModel,
        evaluation: usize,
        device: &Device,
    ) -> Result<()> {
        let tracks = &self.data.train[..self.data.train.len().min(self.train.bn_patches)];
        let mut crops = rng_for(self.config.seed, "bn-crops", evaluation as u64);
        let inputs = &self.inputs;
        let batches = tracks.chunks(self.train.batch_size).map(move |tracks| {
            let patches = inputs.patches(tracks, &mut crops)?;
            Ok(Batch {
                tracks: tracks.to_vec(),
                patches,
            })
        });
        loader::load(self.loading(), batches, |loaded| {
            let mut failure = None;
            let tensors = loaded.map_while(|batch: Result<Batch>| {
                batch
                    .and_then(|Batch { tracks, patches }| {
                        self.batch_tensor(patches, tracks.len(), device)
                    })
                    .map_err(|e| failure = Some(e))
                    .ok()
            });
            model.estimate_batch_norm_statistics(tensors)?;
            failure.map_or(Ok(()), Err)
        })
    }

    /// Inputs are loaded ahead when the run has more than one thread (it runs on a rayon pool
    /// of its thread count).
    fn loading(&self) -> Loading {
        Loading::for_threads(rayon::current_num_threads())
    }

    /// The model input of `patches` of `tracks` tracks.
    fn batch_tensor(&self, patches: Vec<f32>, tracks: usize, device: &Device) -> Result<Tensor<3>> {
        Ok(input_tensor(
            &self.model_config,
            patches,
            tracks,
            self.inputs.geometry.patch_len,
            device,
        )?)
    }

    /// Every epoch's training batches in order, each with its tracks' patches: epoch `e`
    /// shuffles the training tracks and crops them with its own seeded generators. Endless
    /// (training stops taking), unless there is nothing to train on.
    fn training_batches(&self) -> impl Iterator<Item = Result<Batch>> + Send + '_ {
        let (inputs, train) = (&self.inputs, &self.data.train);
        let (seed, batch_size) = (self.config.seed, self.train.batch_size);
        let epochs = if train.is_empty() { 0 } else { u64::MAX };
        (0..epochs).flat_map(move |epoch| {
            let mut order = train.clone();
            order.shuffle(&mut rng_for(seed, "batch-order", epoch));
            let mut crops = rng_for(seed, "crops", epoch);
            let batches: Vec<Vec<usize>> =
                order.chunks(batch_size).map(<[usize]>::to_vec).collect();
            batches.into_iter().map(move |tracks| {
                let patches = inputs.patches(&tracks, &mut crops)?;
                Ok(Batch { tracks, patches })
            })
        })
    }

    fn targets(&self, batch: &[usize], device: &Device) -> Tensor<2> {
        let tags = self.data.n_tags();
        Tensor::from_data(
            TensorData::new(self.data.labels(batch), [batch.len(), tags]),
            device,
        )
    }

    /// MSE on sigmoid outputs (the paper), or BCE on classification tags + MSE on regression.
    fn loss(
        &self,
        output: Tensor<2>,
        target: Tensor<2>,
        rows: usize,
        device: &Device,
    ) -> Tensor<1> {
        match self.train.loss {
            Loss::Mse => (output - target).powi_scalar(2).mean(),
            Loss::BceMse => {
                let tags = self.classification.len();
                let mask_data: Vec<f32> = (0..rows)
                    .flat_map(|_| self.classification.clone())
                    .collect();
                let mask = Tensor::<2>::from_data(TensorData::new(mask_data, [rows, tags]), device);
                let p = output.clamp(1e-7, 1.0 - 1e-7);
                let bce = (target.clone() * p.clone().log()
                    + (target.clone().neg() + 1.0) * (p.clone().neg() + 1.0).log())
                .neg();
                let mse = (p - target).powi_scalar(2);
                (mask.clone() * bce + (mask.neg() + 1.0) * mse).mean()
            }
        }
    }

    /// Song-level predictions `[tracks, tags]` of `tracks`, the windows of a group of tracks
    /// batched together.
    fn predict(
        &self,
        model: &TaggingModel,
        tracks: &[usize],
        observer: &dyn Observer,
    ) -> Result<Vec<f32>> {
        /// Tracks whose inputs are held at once.
        const GROUP: usize = 64;
        let device = self.backend.device()?;
        let geometry = self.inputs.geometry;
        let inputs = &self.inputs;
        let groups = tracks.chunks(GROUP).map(move |group| {
            group
                .iter()
                .map(|&t| inputs.input(t))
                .collect::<Result<Vec<_>>>()
        });
        loader::load(self.loading(), groups, |loaded| {
            let mut out = Vec::with_capacity(tracks.len() * self.data.n_tags());
            for group in loaded {
                if observer.interrupted() {
                    return Err(RunnerError::Interrupted);
                }
                let group = group?;
                let views: Vec<&[f32]> = group.iter().map(Vec::as_slice).collect();
                let songs = model.predict_songs(
                    &self.model_config,
                    &views,
                    geometry.patch_len,
                    geometry.hop_len,
                    self.train.batch_size,
                    &device,
                )?;
                out.extend(songs.into_iter().flatten());
            }
            Ok(out)
        })
    }
}

/// Patch and song-level hop lengths in input rows (frames, or samples for the waveform).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Geometry {
    pub patch_len: usize,
    pub hop_len: usize,
}

impl Geometry {
    /// `hop_seconds = None` means half a patch (SPEC §3).
    pub fn new(
        architecture: Architecture,
        patch_seconds: f64,
        hop_seconds: Option<f64>,
        mel: &audio_features::MelConfig,
    ) -> Self {
        let sr = f64::from(mel.sample_rate);
        let patch_len = architecture.patch_len(patch_seconds, mel);
        let rows_per_second = match architecture {
            Architecture::Spectrogram => sr / mel.hop_length as f64,
            Architecture::Waveform => sr,
        };
        let hop_len = hop_seconds.map_or((patch_len / 2).max(1), |h| {
            ((h * rows_per_second).round() as usize).max(1)
        });
        Self { patch_len, hop_len }
    }

    /// The patch length in seconds of `len` input rows (the inverse of the patch length).
    pub fn seconds_for(
        architecture: Architecture,
        len: usize,
        mel: &audio_features::MelConfig,
    ) -> f64 {
        let sr = f64::from(mel.sample_rate);
        match architecture {
            Architecture::Spectrogram => len.saturating_sub(1) as f64 * mel.hop_length as f64 / sr,
            Architecture::Waveform => len as f64 / sr,
        }
    }
}

/// One training step's tracks and their patches, row-major `[tracks, patch_len, width]`.
struct Batch {
    tracks: Vec<usize>,
    patches: Vec<f32>,
}

/// The best validation so far.
struct Best {
    loss: f64,
    /// 1-based; 0 before the first validation.
    evaluation: usize,
    step: usize,
}

impl Default for Best {
    fn default() -> Self {
        Self {
            loss: f64::INFINITY,
            evaluation: 0,
            step: 0,
        }
    }
}

/// Per-band mean and deviation of the training tracks' log-mels.
fn fit_band_stats(data: &RunData, n_mels: usize) -> Result<BandStats> {
    let mut builder = BandStatsBuilder::new(n_mels);
    for &track in &data.train {
        if let Some(spec) = data.cache.log_mel(track)? {
            builder.add(&spec)?;
        }
    }
    Ok(builder.finish()?)
}

impl Figures {
    /// The macro figures that exist, as `(key, value)`.
    pub fn macro_values(&self) -> impl Iterator<Item = (&'static str, f64)> + '_ {
        [
            (metric::ROC_AUC, self.evaluation.macro_roc_auc),
            (metric::PR_AUC, self.evaluation.macro_pr_auc),
            (metric::RMSE, self.evaluation.macro_rmse),
        ]
        .into_iter()
        .filter_map(|(k, v)| v.map(|v| (k, v)))
    }
}
