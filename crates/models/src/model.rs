//! The tagging model (front-end + shared back-end), song-level inference and checkpoints.

use std::path::{Path, PathBuf};

use audio_features::patch;
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

    /// Trainable parameters: what the paper counts (Burn's `num_params` also counts the
    /// batch-norm running statistics).
    pub fn trainable_params(&self) -> usize {
        let mut counter = TrainableCounter::default();
        self.visit(&mut counter);
        counter.count
    }

    /// Tag probabilities `[batch, n_tags]` of a batch made by [`input_tensor`].
    pub fn forward(&self, x: Tensor<3>) -> Tensor<2> {
        let features = match &self.front {
            FrontEnd::Spectrogram(f) => f.forward(x),
            FrontEnd::Waveform(f) => f.forward(x),
        };
        self.back.forward(features)
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
        let width = input_width(config);
        let rows = track.len() / width;
        if rows == 0 {
            return Err(ModelError::Shape {
                got: vec![track.len()],
                expected: format!("at least one row of {width} values"),
            });
        }
        let starts = patch::window_starts(rows, patch_len, hop);
        let mut sum = vec![0.0f64; config.n_tags];
        for chunk in starts.chunks(batch_size.max(1)) {
            let data: Vec<f32> = chunk
                .iter()
                .flat_map(|&s| patch::take_rows(track, width, s, patch_len))
                .collect();
            let x = input_tensor(config, data, chunk.len(), patch_len, device)?;
            let out = self
                .forward(x)
                .into_data()
                .try_to_vec::<f32>()
                .map_err(|e| ModelError::Shape {
                    got: vec![],
                    expected: format!("f32 outputs ({e:?})"),
                })?;
            for row in out.chunks_exact(config.n_tags) {
                for (s, v) in sum.iter_mut().zip(row) {
                    *s += f64::from(*v);
                }
            }
        }
        Ok(sum
            .iter()
            .map(|s| (s / starts.len() as f64) as f32)
            .collect())
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
        let buffer = matches!(
            self.path.last().map(String::as_str),
            Some("running_mean" | "running_var")
        );
        if !buffer {
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
