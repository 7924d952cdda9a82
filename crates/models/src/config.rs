//! The typed, validated model configuration: architecture kind and width knobs (SPEC §5).

use serde::{Deserialize, Serialize};

use crate::error::{ModelError, Result};

/// Which front-end feeds the shared back-end.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Architecture {
    /// Musically motivated log-mel front-end, input `[batch, frames, n_mels]`.
    Spectrogram,
    /// Sample-level waveform front-end, input `[batch, 1, samples]` at 16 kHz.
    Waveform,
}

impl Architecture {
    pub fn as_str(self) -> &'static str {
        match self {
            Architecture::Spectrogram => "spectrogram",
            Architecture::Waveform => "waveform",
        }
    }
}

impl std::str::FromStr for Architecture {
    type Err = ModelError;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "spectrogram" => Ok(Architecture::Spectrogram),
            "waveform" => Ok(Architecture::Waveform),
            other => Err(ModelError::Config(format!(
                "unknown model {other:?} (expected \"spectrogram\" or \"waveform\")"
            ))),
        }
    }
}

/// The widths a model may have, checked by [`ModelConfig::validate`] and by the grid file that
/// sets them (one set of bounds, so a grid that parses always builds its model).
pub mod limits {
    use std::ops::RangeInclusive;

    /// Base front-end filters (`nf`; paper 16).
    pub const NF: RangeInclusive<usize> = 1..=256;
    /// Back-end filters and dense units (paper 512 and 500).
    pub const WIDTH: RangeInclusive<usize> = 1..=4096;
    /// Mel bands of the spectrogram input (paper 96).
    pub const N_MELS: RangeInclusive<usize> = 8..=512;
}

/// Everything needed to build a model; stored beside every checkpoint.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelConfig {
    pub architecture: Architecture,
    pub n_tags: usize,
    /// Mel bands of the input (spectrogram model only).
    pub n_mels: usize,
    /// Base number of front-end filters (paper: 16); the waveform front-end's widths
    /// (64 … 256 in the paper) scale by `nf / 16`.
    pub nf: usize,
    /// Filters of the back-end convolutions (paper: 512).
    pub backend_width: usize,
    /// Units of the penultimate dense layer (paper: 500).
    pub dense_units: usize,
    /// Dropout before each dense layer (paper: 0.5).
    pub dropout: f64,
}

impl ModelConfig {
    /// The paper's configuration for `architecture` and `n_tags`.
    pub fn paper(architecture: Architecture, n_tags: usize) -> Self {
        Self {
            architecture,
            n_tags,
            n_mels: 96,
            nf: 16,
            backend_width: 512,
            dense_units: 500,
            dropout: 0.5,
        }
    }

    /// Check once, at the edge, so building a model cannot fail on a bad shape.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(ModelError::Config(m));
        if self.n_tags == 0 {
            return bad("n_tags must be at least 1".into());
        }
        for (name, v, range) in [
            ("nf", self.nf, limits::NF),
            ("backend_width", self.backend_width, limits::WIDTH),
            ("dense_units", self.dense_units, limits::WIDTH),
        ] {
            if !range.contains(&v) {
                return bad(format!("{name} = {v} must be within {range:?}"));
            }
        }
        if self.architecture == Architecture::Spectrogram && !limits::N_MELS.contains(&self.n_mels)
        {
            return bad(format!(
                "n_mels = {} must be within {:?}",
                self.n_mels,
                limits::N_MELS
            ));
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return bad(format!("dropout = {} must be within [0, 1)", self.dropout));
        }
        Ok(())
    }

    /// Time steps the back-end receives for an input of `len` frames or samples, or an error
    /// when the input is too short for the architecture.
    pub fn frontend_steps(&self, len: usize) -> Result<usize> {
        let steps = match self.architecture {
            Architecture::Spectrogram => len,
            Architecture::Waveform => waveform_steps(len)[6],
        };
        // The back-end needs 7 steps for its first (valid) convolution and 2 to pool.
        if steps < 8 {
            return Err(ModelError::Config(format!(
                "an input of {len} {} is too short for the {} model",
                self.architecture.input_unit(),
                self.architecture.as_str()
            )));
        }
        Ok(steps)
    }

    /// Time steps the back-end's last convolution sees for an input of `len` frames or
    /// samples: after its valid 7-wide conv1 and its ×2 pooling.
    pub fn backend_steps(&self, len: usize) -> Result<usize> {
        Ok((self.frontend_steps(len)? - 6) / 2)
    }

    /// Refuse an input length whose back-end would see fewer than [`MIN_BACKEND_STEPS`]
    /// steps: there the global max and mean pool a handful of values (at one step they are
    /// the same value) and the back-end's batch norm normalises a few numbers per batch.
    pub fn check_geometry(&self, len: usize) -> Result<usize> {
        let steps = self.backend_steps(len).unwrap_or(0);
        if steps < MIN_BACKEND_STEPS {
            return Err(ModelError::Config(format!(
                "an input of {len} {} leaves the {} model's back-end {steps} time steps after \
                 its pooling (at least {MIN_BACKEND_STEPS} are needed)",
                self.architecture.input_unit(),
                self.architecture.as_str()
            )));
        }
        Ok(steps)
    }

    /// The shortest input (frames or samples) that passes [`ModelConfig::check_geometry`].
    pub fn min_input_len(&self) -> usize {
        // Steps grow monotonically with the input: bisect.
        let (mut low, mut high) = (1usize, 1usize << 24);
        while low < high {
            let mid = (low + high) / 2;
            if self.check_geometry(mid).is_ok() {
                high = mid;
            } else {
                low = mid + 1;
            }
        }
        low
    }
}

/// The fewest time steps the back-end's last convolution may see (see
/// [`ModelConfig::check_geometry`]).
pub const MIN_BACKEND_STEPS: usize = 8;

impl Architecture {
    /// Input rows in a patch of `seconds`: log-mel frames at `mel`'s hop, or samples.
    pub fn patch_len(self, seconds: f64, mel: &audio_features::MelConfig) -> usize {
        use audio_features::patch::{frames_per_patch, samples_per_patch};
        match self {
            Architecture::Spectrogram => frames_per_patch(seconds, mel.sample_rate, mel.hop_length),
            Architecture::Waveform => samples_per_patch(seconds, mel.sample_rate),
        }
    }

    /// What one input row is: a log-mel frame or a sample.
    pub fn input_unit(self) -> &'static str {
        match self {
            Architecture::Spectrogram => "frames",
            Architecture::Waveform => "samples",
        }
    }
}

/// Time steps after each layer of the waveform front-end: the stride-3 stem, then six
/// valid 3-wide convolutions each followed by a max-pool of 3.
pub fn waveform_steps(samples: usize) -> [usize; 7] {
    let mut steps = [samples / 3; 7];
    for i in 1..7 {
        steps[i] = steps[i - 1].saturating_sub(2) / 3;
    }
    steps
}
