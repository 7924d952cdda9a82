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
pub mod conv_time;
pub mod device;
pub mod error;
pub mod fused;
pub mod fused_pool;
pub mod layers;
pub mod matmul;
pub mod model;
pub mod summary;
pub mod temporal;

pub use config::{Architecture, MIN_BACKEND_STEPS, ModelConfig};
pub use device::{Backend, RngTurn, keep_freed_memory, seed_exclusively};
pub use error::{ModelError, Result};
pub use model::{EmbeddingLayer, TaggingModel, input_tensor, input_width};
