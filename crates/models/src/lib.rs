//! # models
//!
//! The Burn 0.22 modules of *End-to-end learning for music audio tagging at scale* (SPEC §5):
//! the musically motivated spectrogram front-end, the sample-level waveform front-end and the
//! shared back-end, with song-level inference, checkpoints that reload on any backend, backend
//! selection at run time, and the layer table of `tagscale model info`.
//!
//! ```no_run
//! use burn::prelude::*;
//! use models::{Architecture, ModelConfig, TaggingModel};
//! let config = ModelConfig::paper(Architecture::Spectrogram, 50);
//! let device = Device::flex();
//! let model = TaggingModel::new(&config, &device)?;
//! let x = models::input_tensor(&config, vec![0.0; 188 * 96], 1, 188, &device)?;
//! let probabilities = model.forward(x); // [1, 50]
//! # Ok::<(), models::ModelError>(())
//! ```

pub mod config;
pub mod device;
pub mod error;
pub mod fused;
pub mod layers;
pub mod model;
pub mod summary;

/// Burn's CPU backend draws every random tensor from one process-wide generator, and unit
/// tests run on parallel threads: a test that seeds it and draws its inputs holds this lock,
/// so its inputs are the same on every run whatever the other tests do.
#[cfg(test)]
pub(crate) fn seeded_device_rng(
    device: &burn::prelude::Device,
    seed: u64,
) -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let guard = LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    device.seed(seed);
    guard
}

pub use config::{Architecture, MIN_BACKEND_STEPS, ModelConfig};
pub use device::{Backend, keep_freed_memory};
pub use error::{ModelError, Result};
pub use model::{TaggingModel, input_tensor, input_width};
