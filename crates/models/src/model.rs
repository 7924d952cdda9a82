//! The tagging model (front-end + shared back-end), song-level inference and checkpoints.

use std::path::{Path, PathBuf};

use audio_features::patch;
use burn::nn::BatchNorm;
use burn::prelude::*;

use crate::config::{Architecture, ModelConfig};
use crate::error::{ModelError, Result};
use crate::layers::{BackEnd, SpectrogramFrontEnd, WaveformFrontEnd};

#[derive(Module, Debug)]
pub enum FrontEnd {
    Spectrogram(SpectrogramFrontEnd),
    Waveform(WaveformFrontEnd),
}

/// A front-end feeding the shared back-end; outputs tag probabilities.
#[derive(Module, Debug)]
pub struct TaggingModel {
    front: FrontEnd,
    back: BackEnd,
}

impl TaggingModel {
    /// Build a model; the configuration is validated here.
    pub fn new(config: &ModelConfig, device: &Device) -> Result<Self> {
        config.validate()?;
        let (front, channels) = match config.architecture {
            Architecture::Spectrogram => (
                FrontEnd::Spectrogram(SpectrogramFrontEnd::new(config, device)),
                SpectrogramFrontEnd::output_channels(config.nf),
            ),
            Architecture::Waveform => (
                FrontEnd::Waveform(WaveformFrontEnd::new(config.nf, device)),
                WaveformFrontEnd::output_channels(config.nf),
            ),
        };
        Ok(Self {
            front,
            back: BackEnd::new(channels, config, device),
        })
    }

    /// Start every output at the label prior (per tag, e.g. each tag's training mean): the
    /// output bias becomes its logit, so an untrained model predicts the prior and its MSE
    /// starts at the constant predictor's rather than far above it.
    pub fn with_output_prior(mut self, config: &ModelConfig, prior: &[f32]) -> Result<Self> {
        if prior.len() != config.n_tags || prior.iter().any(|p| !p.is_finite()) {
            return Err(ModelError::Shape {
                got: vec![prior.len()],
                expected: format!("{} finite tag priors", config.n_tags),
            });
        }
        self.back.set_output_prior(prior);
        Ok(self)
    }

    /// Every batch-norm layer, front-end first, in a fixed order.
    fn batch_norms_mut(&mut self) -> Vec<&mut BatchNorm> {
        let mut norms = match &mut self.front {
            FrontEnd::Spectrogram(f) => f.batch_norms_mut(),
            FrontEnd::Waveform(f) => f.batch_norms_mut(),
        };
        norms.extend(self.back.batch_norms_mut());
        norms
    }

    /// Population statistics for every batch-norm layer ("PreciseBN", Wu & Johnson 2021, §3):
    /// each layer's mean and variance over all of `batches` (training-mode forward passes with
    /// frozen weights and no dropout) replace its running averages, which after a few hundred
    /// steps at momentum 0.01 are still far from the statistics the weights produce. The
    /// variance is the population one, E[batch variance + batch mean²] − mean², weighted by
    /// batch size. The model must be on an autodiff device (batch norm's training mode); its
    /// weights are left untouched. Returns the number of patches seen (0 leaves the
    /// statistics as they were).
    pub fn estimate_batch_norm_statistics<I>(&mut self, batches: I) -> Result<usize>
    where
        I: IntoIterator<Item = Tensor<3>>,
    {
        // A probe with momentum 1 leaves each batch's own statistics in the running state.
        let mut probe = self.clone().no_grad();
        probe.back.dropout_mut().prob = 0.0;
        for bn in probe.batch_norms_mut() {
            bn.momentum = 1.0;
        }
        let mut sums: Vec<(Vec<f64>, Vec<f64>)> = Vec::new();
        let mut patches = 0usize;
        for x in batches {
            let rows = x.dims()[0];
            drop(probe.forward(x));
            let weight = rows as f64;
            for (i, bn) in probe.batch_norms_mut().into_iter().enumerate() {
                let mean = values(bn.running_mean.value_sync())?;
                let var = values(bn.running_var.value_sync())?;
                if sums.len() <= i {
                    sums.push((vec![0.0; mean.len()], vec![0.0; mean.len()]));
                }
                let (mean_sum, square_sum) = &mut sums[i];
                for (c, (&m, &v)) in mean.iter().zip(&var).enumerate() {
                    let m = f64::from(m);
                    mean_sum[c] += weight * m;
                    square_sum[c] += weight * (f64::from(v) + m * m);
                }
            }
            patches += rows;
        }
        if patches == 0 {
            return Ok(0);
        }
        let total = patches as f64;
        for (bn, (mean_sum, square_sum)) in self.batch_norms_mut().into_iter().zip(sums) {
            let device = bn.gamma.val().device();
            let mean: Vec<f64> = mean_sum.iter().map(|s| s / total).collect();
            let var: Vec<f32> = square_sum
                .iter()
                .zip(&mean)
                .map(|(s, m)| (s / total - m * m).max(0.0) as f32)
                .collect();
            let mean: Vec<f32> = mean.iter().map(|&m| m as f32).collect();
            set_running(&bn.running_mean, mean, &device);
            set_running(&bn.running_var, var, &device);
        }
        Ok(patches)
    }

    /// Trainable parameters: what the paper counts (Burn's `num_params` also counts the
    /// batch-norm running statistics).
    pub fn trainable_params(&self) -> usize {
        let mut counter = TrainableCounter::default();
        self.visit(&mut counter);
        counter.count
    }

    /// Tag probabilities `[batch, n_tags]` of a batch made by [`input_tensor`].
    pub fn forward(&self, x: Tensor<3>) -> Tensor<2> {
        self.back.forward(self.front_features(x))
    }

    fn front_features(&self, x: Tensor<3>) -> Tensor<3> {
        match &self.front {
            FrontEnd::Spectrogram(f) => f.forward(x),
            FrontEnd::Waveform(f) => f.forward(x),
        }
    }

    /// The model's internal representation of a batch at `layer`: `[batch, layer.dims()]`.
    pub fn embed(&self, x: Tensor<3>, layer: EmbeddingLayer) -> Tensor<2> {
        let pooled = self.back.pooled_features(self.front_features(x));
        match layer {
            EmbeddingLayer::Pooled => pooled,
            EmbeddingLayer::Dense => self.back.dense_features(pooled),
        }
    }

    /// Song-level embeddings: the mean of [`TaggingModel::embed`] over the same moving windows
    /// as [`TaggingModel::predict_songs`].
    #[allow(clippy::too_many_arguments)]
    pub fn embed_songs(
        &self,
        config: &ModelConfig,
        tracks: &[&[f32]],
        patch_len: usize,
        hop: usize,
        batch_size: usize,
        layer: EmbeddingLayer,
        device: &Device,
    ) -> Result<Vec<Vec<f32>>> {
        let dims = layer.dims(config);
        let windows = Windows {
            patch_len,
            hop,
            batch_size,
        };
        windows.song_means(config, tracks, dims, device, |x| self.embed(x, layer))
    }

    /// Song-level tag probabilities: the mean of the outputs of windows of `patch_len` rows
    /// every `hop` rows over the whole track (row-major `[rows, width]`; repeat-padded when
    /// shorter than a patch), evaluated `batch_size` windows at a time.
    pub fn predict_song(
        &self,
        config: &ModelConfig,
        track: &[f32],
        patch_len: usize,
        hop: usize,
        batch_size: usize,
        device: &Device,
    ) -> Result<Vec<f32>> {
        let mut songs = self.predict_songs(config, &[track], patch_len, hop, batch_size, device)?;
        Ok(songs.pop().unwrap_or_default())
    }

    /// [`TaggingModel::predict_song`] of several tracks at once: their windows are batched
    /// together, so tracks of a few windows each do not each pay for a nearly empty batch.
    pub fn predict_songs(
        &self,
        config: &ModelConfig,
        tracks: &[&[f32]],
        patch_len: usize,
        hop: usize,
        batch_size: usize,
        device: &Device,
    ) -> Result<Vec<Vec<f32>>> {
        let windows = Windows {
            patch_len,
            hop,
            batch_size,
        };
        windows.song_means(config, tracks, config.n_tags, device, |x| self.forward(x))
    }

    /// Save the weights (burnpack) to `path` and the configuration beside them
    /// (`<path>.config.json`), so the model reloads on any backend.
    pub fn save(&self, config: &ModelConfig, path: &Path) -> Result<()> {
        let err = |message: String| ModelError::Checkpoint {
            path: path.to_path_buf(),
            message,
        };
        let json = serde_json::to_string_pretty(config).map_err(|e| err(e.to_string()))?;
        std::fs::write(config_path(path), json)
            .map_err(|e| err(format!("cannot write the config: {e}")))?;
        self.clone()
            .save_file(path)
            .map_err(|e| err(format!("cannot write the weights: {e:?}")))
    }

    /// Load a checkpoint written by [`TaggingModel::save`] onto `device`.
    pub fn load(path: &Path, device: &Device) -> Result<(Self, ModelConfig)> {
        let err = |message: String| ModelError::Checkpoint {
            path: path.to_path_buf(),
            message,
        };
        let text = std::fs::read_to_string(config_path(path)).map_err(|e| {
            err(format!(
                "cannot read the model config beside the checkpoint: {e}"
            ))
        })?;
        let config: ModelConfig =
            serde_json::from_str(&text).map_err(|e| err(format!("bad model config: {e}")))?;
        let model = Self::new(&config, device)?
            .try_load_file(path)
            .map_err(|e| err(format!("cannot load the weights: {e:?}")))?;
        Ok((model, config))
    }
}

fn values(tensor: Tensor<1>) -> Result<Vec<f32>> {
    tensor
        .into_data()
        .try_to_vec::<f32>()
        .map_err(|e| ModelError::Shape {
            got: vec![],
            expected: format!("f32 batch-norm statistics ({e:?})"),
        })
}

/// Replace a running statistic in place (the state is shared with the model's clones).
fn set_running(state: &burn::module::RunningState<Tensor<1>>, value: Vec<f32>, device: &Device) {
    let n = value.len();
    state.update(Tensor::from_data(TensorData::new(value, [n]), device));
    drop(state.value_sync());
}

/// The song-level moving windows: `patch_len` rows every `hop` rows, evaluated
/// `batch_size` windows at a time.
struct Windows {
    patch_len: usize,
    hop: usize,
    batch_size: usize,
}

impl Windows {
    /// Per track, the mean over its windows of `model`'s `[batch, dims]` output. The windows
    /// of all tracks are batched together, so tracks of a few windows each do not each pay for
    /// a nearly empty batch.
    fn song_means(
        &self,
        config: &ModelConfig,
        tracks: &[&[f32]],
        dims: usize,
        device: &Device,
        model: impl Fn(Tensor<3>) -> Tensor<2>,
    ) -> Result<Vec<Vec<f32>>> {
        let width = input_width(config);
        let mut windows: Vec<(usize, usize)> = Vec::new();
        for (t, track) in tracks.iter().enumerate() {
            let rows = track.len() / width;
            if rows == 0 {
                return Err(ModelError::Shape {
                    got: vec![track.len()],
                    expected: format!("at least one row of {width} values"),
                });
            }
            windows.extend(
                patch::window_starts(rows, self.patch_len, self.hop)
                    .into_iter()
                    .map(|s| (t, s)),
            );
        }
        let mut sums = vec![vec![0.0f64; dims]; tracks.len()];
        let mut counts = vec![0usize; tracks.len()];
        for chunk in windows.chunks(self.batch_size.max(1)) {
            let data: Vec<f32> = chunk
                .iter()
                .flat_map(|&(t, s)| patch::take_rows(tracks[t], width, s, self.patch_len))
                .collect();
            let x = input_tensor(config, data, chunk.len(), self.patch_len, device)?;
            let out = model(x)
                .into_data()
                .try_to_vec::<f32>()
                .map_err(|e| ModelError::Shape {
                    got: vec![],
                    expected: format!("f32 outputs ({e:?})"),
                })?;
            for (row, &(t, _)) in out.chunks_exact(dims).zip(chunk) {
                for (s, v) in sums[t].iter_mut().zip(row) {
                    *s += f64::from(*v);
                }
                counts[t] += 1;
            }
        }
        Ok(sums
            .iter()
            .zip(counts)
            .map(|(sum, n)| sum.iter().map(|s| (s / n.max(1) as f64) as f32).collect())
            .collect())
    }
}

/// Where [`TaggingModel::embed`] reads the model's representation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EmbeddingLayer {
    /// The back-end's global max ‖ mean pooled features (2 × back-end width).
    Pooled,
    /// The dense layer after ReLU and batch norm (`dense_units`; 500 at the paper's widths).
    Dense,
}

impl EmbeddingLayer {
    pub fn dims(self, config: &ModelConfig) -> usize {
        match self {
            EmbeddingLayer::Pooled => 2 * config.backend_width,
            EmbeddingLayer::Dense => config.dense_units,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            EmbeddingLayer::Pooled => "pooled",
            EmbeddingLayer::Dense => "dense",
        }
    }
}

impl std::str::FromStr for EmbeddingLayer {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "pooled" => Ok(EmbeddingLayer::Pooled),
            "dense" => Ok(EmbeddingLayer::Dense),
            other => Err(format!("{other:?} is not a layer (pooled or dense)")),
        }
    }
}

/// Whether a parameter (by its name in its module) is a batch-norm running statistic: a
/// buffer updated by training, not a weight the optimiser trains.
pub fn is_running_statistic(name: &str) -> bool {
    matches!(name, "running_mean" | "running_var")
}

/// Counts parameter elements, skipping the batch-norm running statistics (buffers).
#[derive(Default)]
struct TrainableCounter {
    path: Vec<String>,
    count: usize,
}

impl burn::module::ModuleVisitor for TrainableCounter {
    fn enter_module(&mut self, name: &str, _container_type: &str) {
        self.path.push(name.to_string());
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.path.pop();
    }

    fn visit_float<const D: usize>(&mut self, param: &burn::module::Param<Tensor<D>>) {
        if !self
            .path
            .last()
            .is_some_and(|name| is_running_statistic(name))
        {
            self.count += param.lazy_shape().num_elements();
        }
    }
}

/// `<checkpoint>.config.json`.
pub fn config_path(checkpoint: &Path) -> PathBuf {
    let mut name = checkpoint.as_os_str().to_owned();
    name.push(".config.json");
    PathBuf::from(name)
}

/// Values per input row: mel bands per frame, or one sample.
pub fn input_width(config: &ModelConfig) -> usize {
    match config.architecture {
        Architecture::Spectrogram => config.n_mels,
        Architecture::Waveform => 1,
    }
}

/// A batch tensor from row-major patches: spectrogram `[batch, frames, n_mels]`, waveform
/// `[batch, 1, samples]`.
pub fn input_tensor(
    config: &ModelConfig,
    data: Vec<f32>,
    batch: usize,
    len: usize,
    device: &Device,
) -> Result<Tensor<3>> {
    let width = input_width(config);
    if data.len() != batch * len * width {
        return Err(ModelError::Shape {
            got: vec![data.len()],
            expected: format!("{batch} x {len} x {width} values"),
        });
    }
    config.frontend_steps(len)?;
    let shape = match config.architecture {
        Architecture::Spectrogram => [batch, len, width],
        Architecture::Waveform => [batch, 1, len],
    };
    Ok(Tensor::from_data(TensorData::new(data, shape), device))
}
