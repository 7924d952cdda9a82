//! Per-mel-band standardisation: statistics fitted on the training subset only, stored with
//! the run, applied to every split (SPEC §3).

use serde::{Deserialize, Serialize};

use crate::error::{AudioError, Result};
use crate::mel::Spectrogram;

/// Smallest standard deviation used when dividing, so constant bands do not blow up.
const MIN_STD: f64 = 1e-6;

/// Mean and standard deviation of each mel band.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BandStats {
    pub mean: Vec<f32>,
    pub std: Vec<f32>,
    /// Frames the statistics were computed over.
    pub frames: u64,
}

/// Streaming accumulator for [`BandStats`]: feed spectrograms one by one, never all at once.
#[derive(Debug, Clone)]
pub struct BandStatsBuilder {
    sum: Vec<f64>,
    sum_sq: Vec<f64>,
    frames: u64,
}

impl BandStatsBuilder {
    pub fn new(n_mels: usize) -> Self {
        Self {
            sum: vec![0.0; n_mels],
            sum_sq: vec![0.0; n_mels],
            frames: 0,
        }
    }

    pub fn add(&mut self, spec: &Spectrogram) -> Result<()> {
        if spec.n_mels != self.sum.len() {
            return Err(AudioError::Config(format!(
                "spectrogram has {} mel bands, statistics expect {}",
                spec.n_mels,
                self.sum.len()
            )));
        }
        for frame in spec.data.chunks_exact(spec.n_mels) {
            for ((s, q), &v) in self.sum.iter_mut().zip(&mut self.sum_sq).zip(frame) {
                let v = f64::from(v);
                *s += v;
                *q += v * v;
            }
        }
        self.frames += spec.frames as u64;
        Ok(())
    }

    pub fn finish(self) -> Result<BandStats> {
        if self.frames == 0 {
            return Err(AudioError::Config(
                "cannot fit normalisation statistics on zero frames".into(),
            ));
        }
        let n = self.frames as f64;
        let mean: Vec<f64> = self.sum.iter().map(|s| s / n).collect();
        let std = self
            .sum_sq
            .iter()
            .zip(&mean)
            .map(|(q, m)| ((q / n - m * m).max(0.0)).sqrt() as f32)
            .collect();
        Ok(BandStats {
            mean: mean.into_iter().map(|m| m as f32).collect(),
            std,
            frames: self.frames,
        })
    }
}

impl BandStats {
    /// Fit on a set of spectrograms (the training subset).
    pub fn fit<'a>(
        specs: impl IntoIterator<Item = &'a Spectrogram>,
        n_mels: usize,
    ) -> Result<Self> {
        let mut builder = BandStatsBuilder::new(n_mels);
        for spec in specs {
            builder.add(spec)?;
        }
        builder.finish()
    }

    pub fn n_mels(&self) -> usize {
        self.mean.len()
    }

    /// Standardise `[frames, n_mels]` data in place.
    pub fn apply(&self, data: &mut [f32]) {
        let n = self.n_mels();
        for frame in data.chunks_exact_mut(n) {
            for ((v, m), s) in frame.iter_mut().zip(&self.mean).zip(&self.std) {
                *v = ((f64::from(*v) - f64::from(*m)) / f64::from(*s).max(MIN_STD)) as f32;
            }
        }
    }

    pub fn to_json(&self) -> String {
        // Plain numbers and vectors always serialise.
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    pub fn from_json(text: &str) -> Result<Self> {
        let stats: Self = serde_json::from_str(text)
            .map_err(|e| AudioError::Config(format!("normalisation statistics: {e}")))?;
        if stats.mean.len() != stats.std.len() {
            return Err(AudioError::Config(
                "normalisation statistics: mean and std lengths differ".into(),
            ));
        }
        Ok(stats)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(frames: usize, n_mels: usize, f: impl Fn(usize, usize) -> f32) -> Spectrogram {
        let data = (0..frames * n_mels)
            .map(|i| f(i / n_mels, i % n_mels))
            .collect();
        Spectrogram {
            frames,
            n_mels,
            data,
        }
    }

    #[test]
    fn fitted_stats_standardise_the_training_data() {
        let a = spec(50, 3, |t, b| (t as f32) * (b as f32 + 1.0) + 2.0);
        let b = spec(30, 3, |t, b| 5.0 - t as f32 * 0.5 + b as f32);
        let stats = BandStats::fit([&a, &b], 3).unwrap();
        assert_eq!(stats.frames, 80);
        let mut all: Vec<f32> = a.data.iter().chain(&b.data).copied().collect();
        stats.apply(&mut all);
        for band in 0..3 {
            let xs: Vec<f64> = all
                .iter()
                .skip(band)
                .step_by(3)
                .map(|&v| f64::from(v))
                .collect();
            let mean = xs.iter().sum::<f64>() / xs.len() as f64;
            let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / xs.len() as f64;
            assert!(mean.abs() < 1e-4, "band {band} mean {mean}");
            assert!((var - 1.0).abs() < 1e-3, "band {band} var {var}");
        }
    }

    #[test]
    fn constant_band_does_not_divide_by_zero() {
        let a = spec(10, 2, |_, _| 1.5);
        let stats = BandStats::fit([&a], 2).unwrap();
        let mut data = a.data.clone();
        stats.apply(&mut data);
        assert!(data.iter().all(|v| *v == 0.0));
    }

    #[test]
    fn json_round_trip_and_mismatch_errors() {
        let a = spec(4, 2, |t, b| (t + b) as f32);
        let stats = BandStats::fit([&a], 2).unwrap();
        assert_eq!(BandStats::from_json(&stats.to_json()).unwrap(), stats);
        assert!(BandStats::fit([&a], 3).is_err());
        assert!(BandStats::fit(std::iter::empty(), 3).is_err());
    }
}
