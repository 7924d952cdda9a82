//! # audio-features
//!
//! Everything tagscale computes from audio, with no knowledge of datasets or models:
//!
//! - [`decode`]: wav / mp3 / ogg-vorbis / flac through symphonia, downmixed to mono, with typed
//!   errors that name the file and the cause;
//! - [`resample`]: conversion to the pipeline's 16 kHz (rubato);
//! - [`stft`]: short-time power spectra with librosa's framing, realfft's bits;
//! - [`mel`]: log-mel spectrograms and MFCC with librosa's conventions
//!   (`log10(1 + 10000 * mel)`, musicnn's compression);
//! - [`normalize`]: per-band standardisation fitted on training data;
//! - [`patch`]: patch lengths, seeded training crops and the moving windows of song-level
//!   prediction;
//! - [`descriptors`]: the ~150 hand-crafted, named descriptors of the GBT baseline;
//! - [`npy`]: reading and writing NumPy arrays for dumps and parity fixtures.
//!
//! ```no_run
//! use audio_features::{load_mono, MelConfig, MelExtractor};
//! let audio = load_mono("song.mp3".as_ref(), 16_000)?.audio;
//! let logmel = MelExtractor::new(MelConfig::default())?.log_mel(&audio.samples);
//! println!("{} frames x {} mel bands", logmel.frames, logmel.n_mels);
//! # Ok::<(), audio_features::AudioError>(())
//! ```

pub mod decode;
pub mod descriptors;
pub mod error;
pub mod matrix;
pub mod mel;
pub mod normalize;
pub mod npy;
pub mod patch;
pub mod resample;
pub mod stft;

pub use decode::{AUDIO_EXTENSIONS, Audio, Decoded, decode_file, has_audio_extension, load_mono};
pub use descriptors::DescriptorExtractor;
pub use error::{AudioError, Result};
pub use matrix::Matrix;
pub use mel::{MelConfig, MelExtractor, Spectrogram};
pub use normalize::{BandStats, BandStatsBuilder};

/// The sample rate every model and descriptor works at.
pub const SAMPLE_RATE: u32 = 16_000;
