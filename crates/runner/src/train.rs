//! Training of one run (SPEC §6). Deep models: a random patch per track per epoch, batches in a
//! seeded order, Adam, per-epoch song-level validation, early stopping on validation loss with
//! the best checkpoint kept, test predictions from that checkpoint. GBT: one booster per tag on
//! the descriptors, early-stopped on the validation split.
//!
//! Every random choice derives from the run's seed, a purpose and the epoch
//! ([`datasets::split::rng_for`]), so a run on flex with a fixed thread count is reproducible.

use std::path::{Path, PathBuf};

use audio_features::patch::{frames_per_patch, random_start, samples_per_patch, take_rows};
use audio_features::{BandStats, BandStatsBuilder};
use baseline_gbt::GbtModel;
use burn::optim::{AdamConfig, GradientsParams};
use burn::prelude::*;
use datasets::TagKind;
use datasets::split::{derive_seed, rng_for};
use models::{Architecture, Backend, ModelConfig, TaggingModel, input_tensor, input_width};
use rand::seq::SliceRandom;

use crate::config::RunConfig;
use crate::dataset::RunData;
use crate::error::{Result, RunnerError};
use crate::evaluate::{Figures, figures};
use crate::grid::Loss;

/// What a run reports while it trains, and how it learns that it must stop.
pub trait Observer {
    /// The values of one finished epoch: `(split, key, value)`.
    fn epoch(&mut self, epoch: usize, values: &[(&str, &str, f64)]) -> Result<()>;
    /// A batch finished (for progress displays).
    fn batch(&mut self, _epoch: usize, _batch: usize, _batches: usize) {}
    /// Whether a signal asked the run to stop.
    fn interrupted(&self) -> bool;
}

/// What training produced: test predictions (`[test tracks, tags]`), files worth keeping, and
/// summary values of the training (`(split, key, value)`).
pub struct Trained {
    pub test_predictions: Vec<f32>,
    pub files: Vec<(String, PathBuf)>,
    pub summary: Vec<(String, String, f64)>,
}

/// Train the run's model on `data`, writing checkpoints and side files into `out`.
pub fn train(
    config: &RunConfig,
    data: &RunData,
    out: &Path,
    observer: &mut dyn Observer,
) -> Result<Trained> {
    match config.model {
        crate::grid::ModelKind::Gbt => train_gbt(config, data, out),
        _ => DeepRun::new(config, data, out)?.train(observer),
    }
}

fn train_gbt(config: &RunConfig, data: &RunData, out: &Path) -> Result<Trained> {
    let gbt = config
        .gbt
        .ok_or_else(|| RunnerError::StoredConfig("a gbt run needs a [gbt] section".into()))?;
    let table = |tracks: &[usize]| (data.descriptors(tracks), data.labels(tracks));
    let (train_x, train_y) = table(&data.train);
    let (valid_x, valid_y) = table(&data.valid);
    let model = GbtModel::fit(
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
    )?;
    let path = out.join("gbt.json");
    model.save(&path)?;
    let test_predictions = model.predict(&data.descriptors(&data.test), data.test.len())?;
    Ok(Trained {
        test_predictions,
        files: vec![("model".into(), path)],
        summary: Vec::new(),
    })
}

/// A deep run's fixed parts: model configuration, patch geometry, input normalisation.
struct DeepRun<'a> {
    config: &'a RunConfig,
    data: &'a RunData,
    out: &'a Path,
    model_config: ModelConfig,
    backend: Backend,
    train: crate::grid::Train,
    patch_len: usize,
    hop_len: usize,
    band_stats: Option<BandStats>,
    /// 1 for classification tags, 0 for regression tags (for the BCE + MSE loss).
    classification: Vec<f32>,
}

impl<'a> DeepRun<'a> {
    fn new(config: &'a RunConfig, data: &'a RunData, out: &'a Path) -> Result<Self> {
        let model_config = config.model_config(data.n_tags())?;
        let (features, train) = config.features.zip(config.train).ok_or_else(|| {
            RunnerError::StoredConfig("a deep run needs [features] and [train] sections".into())
        })?;
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
        if let Some(stats) = &band_stats {
            let path = out.join("band_stats.json");
            std::fs::write(&path, stats.to_json())
                .map_err(|e| RunnerError::io(&path, "cannot write", e))?;
        }
        Ok(Self {
            config,
            data,
            out,
            model_config,
            backend: config.backend.unwrap_or(Backend::Flex),
            train,
            patch_len: geometry.patch_len,
            hop_len: geometry.hop_len,
            band_stats,
            classification: data
                .kinds
                .iter()
                .map(|k| f32::from(u8::from(*k == TagKind::Classification)))
                .collect(),
        })
    }

    /// A track's model input, row-major `[rows, width]`: normalised log-mel or waveform.
    fn input(&self, track: usize) -> Result<Vec<f32>> {
        let missing = || RunnerError::Data(format!("track {track} is missing from the cache"));
        match &self.band_stats {
            Some(stats) => {
                let mut spec = self.data.cache.log_mel(track).ok_or_else(missing)?;
                stats.apply(&mut spec.data);
                Ok(spec.data)
            }
            None => self.data.cache.waveform(track).ok_or_else(missing),
        }
    }

    fn train(&self, observer: &mut dyn Observer) -> Result<Trained> {
        let seed = self.config.seed;
        let device = self.backend.device()?.autodiff();
        device.seed(derive_seed(seed, "init", 0));
        let mut model = TaggingModel::new(&self.model_config, &device)?;
        let mut optim = AdamConfig::new().init();
        let checkpoint = self.out.join("model.bpk");
        let (mut best_loss, mut best_epoch, mut since_best) = (f64::INFINITY, 0usize, 0usize);
        let batches = self.data.train.len().div_ceil(self.train.batch_size);
        for epoch in 0..self.train.epochs {
            let mut order = self.data.train.clone();
            order.shuffle(&mut rng_for(seed, "batch-order", epoch as u64));
            let mut crops = rng_for(seed, "crops", epoch as u64);
            let mut loss_sum = 0.0f64;
            for (b, batch) in order.chunks(self.train.batch_size).enumerate() {
                if observer.interrupted() {
                    return Err(RunnerError::Interrupted);
                }
                let x = self.batch_input(batch, &mut crops, &device)?;
                let y = self.targets(batch, &device);
                let loss = self.loss(model.forward(x), y, batch.len(), &device);
                let value = loss.clone().into_scalar::<f32>();
                if !value.is_finite() {
                    return Err(RunnerError::Diverged {
                        what: "training",
                        value,
                        epoch,
                        batch: format!(", batch {b}"),
                    });
                }
                loss_sum += f64::from(value);
                let grads = GradientsParams::from_grads(loss.backward(), &model);
                model = optim.step(self.train.lr, model, grads);
                observer.batch(epoch, b + 1, batches);
            }
            let eval_model = model.valid();
            let predictions = self.predict(&eval_model, &self.data.valid, observer)?;
            let valid = figures(self.data, &self.data.valid, &predictions, 0, 0)?;
            let valid_loss = valid.mse;
            let mut values = vec![
                ("train", "loss", loss_sum / batches.max(1) as f64),
                ("valid", "loss", valid_loss),
            ];
            values.extend(valid.macro_values().map(|(k, v)| ("valid", k, v)));
            observer.epoch(epoch, &values)?;
            if !valid_loss.is_finite() {
                return Err(RunnerError::Diverged {
                    what: "validation",
                    value: valid_loss as f32,
                    epoch,
                    batch: String::new(),
                });
            }
            if valid_loss < best_loss {
                (best_loss, best_epoch, since_best) = (valid_loss, epoch, 0);
                eval_model.save(&self.model_config, &checkpoint)?;
            } else {
                since_best += 1;
                if since_best >= self.train.patience {
                    break;
                }
            }
        }
        let (best, _) = TaggingModel::load(&checkpoint, &self.backend.device()?)?;
        let test_predictions = self.predict(&best, &self.data.test, observer)?;
        let mut files = vec![
            ("model".to_string(), checkpoint.clone()),
            (
                "model_config".to_string(),
                models::model::config_path(&checkpoint),
            ),
        ];
        if self.band_stats.is_some() {
            files.push(("band_stats".into(), self.out.join("band_stats.json")));
        }
        Ok(Trained {
            test_predictions,
            files,
            summary: vec![
                ("valid".into(), "best_loss".into(), best_loss),
                ("valid".into(), "best_epoch".into(), best_epoch as f64),
            ],
        })
    }

    /// One training batch: a random patch of each track.
    fn batch_input(
        &self,
        batch: &[usize],
        crops: &mut impl rand::Rng,
        device: &Device,
    ) -> Result<Tensor<3>> {
        let width = input_width(&self.model_config);
        let mut x = Vec::with_capacity(batch.len() * self.patch_len * width);
        for &track in batch {
            let rows = self.input(track)?;
            let start = random_start(rows.len() / width, self.patch_len, crops);
            x.extend(take_rows(&rows, width, start, self.patch_len));
        }
        Ok(input_tensor(
            &self.model_config,
            x,
            batch.len(),
            self.patch_len,
            device,
        )?)
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

    /// Song-level predictions `[tracks, tags]` of `tracks`.
    fn predict(
        &self,
        model: &TaggingModel,
        tracks: &[usize],
        observer: &dyn Observer,
    ) -> Result<Vec<f32>> {
        let device = self.backend.device()?;
        let mut out = Vec::with_capacity(tracks.len() * self.data.n_tags());
        for &track in tracks {
            if observer.interrupted() {
                return Err(RunnerError::Interrupted);
            }
            out.extend(model.predict_song(
                &self.model_config,
                &self.input(track)?,
                self.patch_len,
                self.hop_len,
                self.train.batch_size,
                &device,
            )?);
        }
        Ok(out)
    }
}

/// Patch and song-level hop lengths in input rows (frames, or samples for the waveform).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Geometry {
    pub patch_len: usize,
    pub hop_len: usize,
}

impl Geometry {
    /// `hop_seconds = None` means one patch (windows that do not overlap).
    pub fn new(
        architecture: Architecture,
        patch_seconds: f64,
        hop_seconds: Option<f64>,
        mel: &audio_features::MelConfig,
    ) -> Self {
        let sr = f64::from(mel.sample_rate);
        let (patch_len, rows_per_second) = match architecture {
            Architecture::Spectrogram => (
                frames_per_patch(patch_seconds, mel.sample_rate, mel.hop_length),
                sr / mel.hop_length as f64,
            ),
            Architecture::Waveform => (samples_per_patch(patch_seconds, mel.sample_rate), sr),
        };
        let hop_len = hop_seconds.map_or(patch_len, |h| {
            ((h * rows_per_second).round() as usize).max(1)
        });
        Self { patch_len, hop_len }
    }
}

/// Per-band mean and deviation of the training tracks' log-mels.
fn fit_band_stats(data: &RunData, n_mels: usize) -> Result<BandStats> {
    let mut builder = BandStatsBuilder::new(n_mels);
    for &track in &data.train {
        if let Some(spec) = data.cache.log_mel(track) {
            builder.add(&spec)?;
        }
    }
    Ok(builder.finish()?)
}

impl Figures {
    /// The macro figures that exist, as `(key, value)`.
    pub fn macro_values(&self) -> impl Iterator<Item = (&'static str, f64)> + '_ {
        [
            ("roc_auc", self.evaluation.macro_roc_auc),
            ("pr_auc", self.evaluation.macro_pr_auc),
            ("rmse", self.evaluation.macro_rmse),
        ]
        .into_iter()
        .filter_map(|(k, v)| v.map(|v| (k, v)))
    }
}
