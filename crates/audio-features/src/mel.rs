//! Slaney mel filterbank, log-mel and MFCC with librosa's conventions, on [`crate::stft`]'s
//! power spectra.
//!
//! Matches `librosa.feature.melspectrogram(y, sr, n_fft, hop_length, n_mels,
//! pad_mode='constant')` (Hann window, center=True with zero padding, power 2, `htk=False`,
//! `norm='slaney'`), then musicnn's compression `log10(1 + 10000 * mel)`; and
//! `librosa.feature.mfcc` (power_to_db with top_db 80, orthonormal DCT-II).

use serde::{Deserialize, Serialize};

use crate::error::{AudioError, Result};
use crate::matrix::Matrix;
use crate::stft::{FRAME_LANES, Stft, Unpack, centred_frames};

/// Log-mel settings. The defaults are the pipeline's (SPEC §3).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MelConfig {
    pub sample_rate: u32,
    pub n_fft: usize,
    pub hop_length: usize,
    pub n_mels: usize,
    pub fmin: f64,
    /// Upper edge of the filterbank; `None` means `sample_rate / 2`.
    pub fmax: Option<f64>,
}

impl Default for MelConfig {
    fn default() -> Self {
        Self {
            sample_rate: 16_000,
            n_fft: 512,
            hop_length: 256,
            n_mels: 96,
            fmin: 0.0,
            fmax: None,
        }
    }
}

impl MelConfig {
    /// Check the settings once, at the edge, so the DSP code can trust them.
    pub fn validate(&self) -> Result<()> {
        let bad = |msg: String| Err(AudioError::Config(msg));
        if self.sample_rate < 1000 {
            return bad(format!(
                "sample_rate {} Hz is below 1000 Hz",
                self.sample_rate
            ));
        }
        if self.n_fft < 16 || !self.n_fft.is_power_of_two() {
            return bad(format!("n_fft {} must be a power of two >= 16", self.n_fft));
        }
        if self.hop_length == 0 || self.hop_length > self.n_fft {
            return bad(format!(
                "hop_length {} must be in 1..=n_fft",
                self.hop_length
            ));
        }
        if self.n_mels == 0 || self.n_mels > self.n_fft / 2 + 1 {
            return bad(format!(
                "n_mels {} must be in 1..={}",
                self.n_mels,
                self.n_fft / 2 + 1
            ));
        }
        let fmax = self.fmax_hz();
        if !(self.fmin >= 0.0 && self.fmin < fmax && fmax <= f64::from(self.sample_rate) / 2.0) {
            return bad(format!(
                "need 0 <= fmin ({}) < fmax ({fmax}) <= sample_rate / 2",
                self.fmin
            ));
        }
        Ok(())
    }

    pub fn fmax_hz(&self) -> f64 {
        self.fmax.unwrap_or(f64::from(self.sample_rate) / 2.0)
    }

    /// Number of STFT frames for `samples` input samples (center=True).
    pub fn frames_for(&self, samples: usize) -> usize {
        centred_frames(samples, self.hop_length)
    }
}

/// A log-mel spectrogram, row-major `[frames, n_mels]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Spectrogram {
    pub frames: usize,
    pub n_mels: usize,
    pub data: Vec<f32>,
}

impl Spectrogram {
    pub fn frame(&self, t: usize) -> &[f32] {
        &self.data[t * self.n_mels..(t + 1) * self.n_mels]
    }
}

/// One triangular mel filter: its first FFT bin and its non-zero weights.
struct Filter {
    first_bin: usize,
    weights: Vec<f64>,
}

/// Slaney-scale, Slaney-normalised mel filterbank (librosa `filters.mel`, htk=False).
pub struct MelFilterbank {
    filters: Vec<Filter>,
}

impl MelFilterbank {
    pub fn new(config: &MelConfig) -> Self {
        let sr = f64::from(config.sample_rate);
        let bins = config.n_fft / 2 + 1;
        let fft_freqs: Vec<f64> = (0..bins)
            .map(|k| k as f64 * sr / config.n_fft as f64)
            .collect();
        let (lo, hi) = (hz_to_mel(config.fmin), hz_to_mel(config.fmax_hz()));
        let n = config.n_mels + 2;
        let mel_f: Vec<f64> = (0..n)
            .map(|i| mel_to_hz(lo + (hi - lo) * i as f64 / (n - 1) as f64))
            .collect();
        let filters = (0..config.n_mels)
            .map(|m| {
                let (left, centre, right) = (mel_f[m], mel_f[m + 1], mel_f[m + 2]);
                let norm = 2.0 / (right - left);
                let weights: Vec<(usize, f64)> = fft_freqs
                    .iter()
                    .enumerate()
                    .map(|(k, &f)| {
                        let lower = (f - left) / (centre - left);
                        let upper = (right - f) / (right - centre);
                        (k, lower.min(upper).max(0.0) * norm)
                    })
                    .filter(|&(_, w)| w > 0.0)
                    .collect();
                Filter {
                    first_bin: weights.first().map_or(0, |&(k, _)| k),
                    weights: weights.into_iter().map(|(_, w)| w).collect(),
                }
            })
            .collect();
        Self { filters }
    }

    pub fn n_mels(&self) -> usize {
        self.filters.len()
    }

    /// [`Self::apply`] to [`FRAME_LANES`] frames at once, `power[bin][lane]`: each lane's sum
    /// is `apply`'s, in `apply`'s order.
    #[inline(always)]
    fn apply_lanes(&self, power: &[[f64; FRAME_LANES]], out: &mut [[f64; FRAME_LANES]]) {
        for (o, f) in out.iter_mut().zip(&self.filters) {
            // `Sum for f64` starts at -0.0 too: the first product is then exact.
            let mut sum = [-0.0f64; FRAME_LANES];
            for (w, p) in f.weights.iter().zip(&power[f.first_bin..]) {
                for (s, p) in sum.iter_mut().zip(p) {
                    *s += w * p;
                }
            }
            *o = sum;
        }
    }

    /// Project one power frame onto the mel bands.
    #[inline(always)]
    pub fn apply(&self, power: &[f64], out: &mut [f64]) {
        for (o, f) in out.iter_mut().zip(&self.filters) {
            *o = f
                .weights
                .iter()
                .zip(&power[f.first_bin..])
                .map(|(w, p)| w * p)
                .sum();
        }
    }
}

/// Slaney mel scale: linear below 1 kHz, logarithmic above (librosa `hz_to_mel`, htk=False).
pub fn hz_to_mel(hz: f64) -> f64 {
    const F_SP: f64 = 200.0 / 3.0;
    const MIN_LOG_HZ: f64 = 1000.0;
    let min_log_mel = MIN_LOG_HZ / F_SP;
    let logstep = 6.4f64.ln() / 27.0;
    if hz >= MIN_LOG_HZ {
        min_log_mel + (hz / MIN_LOG_HZ).ln() / logstep
    } else {
        hz / F_SP
    }
}

/// Inverse of [`hz_to_mel`].
pub fn mel_to_hz(mel: f64) -> f64 {
    const F_SP: f64 = 200.0 / 3.0;
    const MIN_LOG_HZ: f64 = 1000.0;
    let min_log_mel = MIN_LOG_HZ / F_SP;
    let logstep = 6.4f64.ln() / 27.0;
    if mel >= min_log_mel {
        MIN_LOG_HZ * (logstep * (mel - min_log_mel)).exp()
    } else {
        F_SP * mel
    }
}

/// musicnn's compression of mel power.
pub fn log_compress(mel_power: f64) -> f32 {
    (1.0 + 10_000.0 * mel_power).log10() as f32
}

/// [`log_compress`] of a frame's bands at once: the same values to within 1e-13 relative
/// error before the rounding to f32 (tested), with a logarithm the compiler vectorises
/// (libm's `log10` per band was a third of a log-mel's time), sixteen values per step.
#[inline(always)]
pub fn log_compress_frame(mel_power: &[f64], out: &mut [f32]) {
    let mut inputs = mel_power.chunks_exact(LOG_BLOCK);
    let mut outputs = out.chunks_exact_mut(LOG_BLOCK);
    for (o, m) in (&mut outputs).zip(&mut inputs) {
        let m: [f64; LOG_BLOCK] = std::array::from_fn(|i| m[i]);
        o.copy_from_slice(&log_compress_block(m));
    }
    let rest = outputs.into_remainder().iter_mut().zip(inputs.remainder());
    for (o, &m) in rest {
        [*o] = log_compress_block([m]);
    }
}

/// Logarithms per step of [`log_compress_frame`]. One logarithm is a chain of ~100 cycles of
/// dependent operations: computed one vector at a time, the loop waited on it (0.45 ms of a
/// 30 s clip's log-mel); in step over several vectors, their chains overlap.
const LOG_BLOCK: usize = 16;

#[inline(always)]
fn log_compress_block<const N: usize>(mel_power: [f64; N]) -> [f32; N] {
    ln_at_least_one(mel_power.map(|m| 1.0 + 10_000.0 * m))
        .map(|ln| (ln * std::f64::consts::LOG10_E) as f32)
}

/// ln(x) for x ≥ 1 (mel power is never negative; NaN and ∞ come out NaN), branch-free:
/// x = 2^e·f with f in [√½, √2), ln f = 2·atanh(s), s = (f − 1)/(f + 1), |s| ≤ 0.172, by its
/// odd series to s¹⁹ (truncation < 1e-16 relative). Each step runs over all `N` values before
/// the next, so that `N` values' dependency chains run side by side.
#[inline(always)]
fn ln_at_least_one<const N: usize>(x: [f64; N]) -> [f64; N] {
    const MANTISSA: u64 = (1 << 52) - 1;
    let bits = x.map(f64::to_bits);
    let exponent = bits.map(|b| (((b >> 52) & 0x7ff) as i64 - 1023) as f64);
    let f = bits.map(|b| f64::from_bits((b & MANTISSA) | (1023 << 52)));
    let high = f.map(|f| f > std::f64::consts::SQRT_2);
    let f: [f64; N] = each(|i| if high[i] { 0.5 * f[i] } else { f[i] });
    let exponent: [f64; N] = each(|i| {
        if high[i] {
            exponent[i] + 1.0
        } else {
            exponent[i]
        }
    });
    // f − 1 is exact (Sterbenz), so x near 1 keeps its relative accuracy.
    let s = f.map(|f| (f - 1.0) / (f + 1.0));
    let s2 = s.map(|s| s * s);
    // 1 + s²/3 + s⁴/5 + … + s¹⁸/19 by Horner's scheme, from the 1/19 down.
    const COEFFICIENTS: [f64; 9] = [
        1.0 / 17.0,
        1.0 / 15.0,
        1.0 / 13.0,
        1.0 / 11.0,
        1.0 / 9.0,
        1.0 / 7.0,
        1.0 / 5.0,
        1.0 / 3.0,
        1.0,
    ];
    let mut series = [1.0 / 19.0; N];
    for c in COEFFICIENTS {
        series = each(|i| c + s2[i] * series[i]);
    }
    // `0·x` is 0, or NaN for a NaN or infinite x, which the bit tricks would hide.
    each(|i| exponent[i] * std::f64::consts::LN_2 + 2.0 * s[i] * series[i] + 0.0 * x[i])
}

/// `[f(0), …, f(N − 1)]`: one step of [`ln_at_least_one`] over its values.
#[inline(always)]
fn each<const N: usize>(f: impl FnMut(usize) -> f64) -> [f64; N] {
    std::array::from_fn(f)
}

/// Computes mel power, log-mel and MFCC for one configuration; build once, reuse per file.
pub struct MelExtractor {
    config: MelConfig,
    stft: Stft,
    filterbank: MelFilterbank,
}

impl MelExtractor {
    pub fn new(config: MelConfig) -> Result<Self> {
        config.validate()?;
        Ok(Self {
            stft: Stft::new(config.n_fft, config.hop_length),
            filterbank: MelFilterbank::new(&config),
            config,
        })
    }

    pub fn config(&self) -> &MelConfig {
        &self.config
    }

    pub fn stft(&self) -> &Stft {
        &self.stft
    }

    /// Mel power spectrogram `[frames, n_mels]` (librosa `melspectrogram`).
    pub fn mel_power(&self, y: &[f32]) -> Matrix {
        let mut out = Matrix::zeros(self.config.frames_for(y.len()), self.config.n_mels);
        self.stft
            .for_each_power_frame(y, |t, p| self.filterbank.apply(p, out.row_mut(t)));
        out
    }

    /// Mel power of an already computed power spectrogram (shares one STFT between features).
    pub fn mel_from_power(&self, power: &Matrix) -> Matrix {
        let mut out = Matrix::zeros(power.rows(), self.config.n_mels);
        for t in 0..power.rows() {
            self.filterbank.apply(power.row(t), out.row_mut(t));
        }
        out
    }

    /// The model input: `log10(1 + 10000 * mel)` before normalisation.
    pub fn log_mel(&self, y: &[f32]) -> Spectrogram {
        let frames = self.config.frames_for(y.len());
        let n_mels = self.config.n_mels;
        let mut data = vec![0.0f32; frames * n_mels];
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU has AVX2, checked just above.
            unsafe { self.log_mel_into_avx2(y, &mut data) };
            return Spectrogram {
                frames,
                n_mels,
                data,
            };
        }
        self.log_mel_into(y, &mut data, Unpack::Portable);
        Spectrogram {
            frames,
            n_mels,
            data,
        }
    }

    /// [`Self::log_mel_into`] compiled for AVX2: four f64 lanes instead of SSE2's two in the
    /// windowing, power, filterbank and compression loops (the FFT picks its own kernels).
    /// The same operations in the same order (Rust does not fuse multiply-adds unasked), so
    /// the same bits as the portable path.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    fn log_mel_into_avx2(&self, y: &[f32], data: &mut [f32]) {
        self.log_mel_into(y, data, Unpack::Avx2);
    }

    /// Frames go through in blocks of [`FRAME_LANES`]: each frame's power spectrum is one lane
    /// of a `[bins][lanes]` block, so the filterbank's sums run across frames in vector lanes
    /// (one frame's sums are short serial chains). Each frame's sum keeps its order, so every
    /// value has the frame-at-a-time bits (tested). A loop rather than
    /// `for_each_power_frame`'s callback, so that all of it is inlined into (and compiled for
    /// the features of) its caller.
    #[inline(always)]
    fn log_mel_into(&self, y: &[f32], data: &mut [f32], unpack: Unpack) {
        let n_mels = self.config.n_mels;
        let mut power = vec![[0.0f64; FRAME_LANES]; self.stft.bins()];
        let mut mel = vec![[0.0f64; FRAME_LANES]; n_mels];
        let mut compressed = vec![[0.0f32; FRAME_LANES]; n_mels];
        // A last, partial block leaves its unused lanes' spectra as they were: their power
        // is computed and never written out.
        let mut buffers = self.stft.frame_buffers::<FRAME_LANES>();
        for (block, rows) in data.chunks_mut(n_mels * FRAME_LANES).enumerate() {
            for lane in 0..rows.len() / n_mels {
                self.stft
                    .half_spectrum(y, block * FRAME_LANES + lane, &mut buffers, lane);
            }
            self.stft.unpack_power(unpack, &buffers.spectra, &mut power);
            self.filterbank.apply_lanes(&power, &mut mel);
            log_compress_frame(mel.as_flattened(), compressed.as_flattened_mut());
            for (lane, row) in rows.chunks_exact_mut(n_mels).enumerate() {
                for (o, c) in row.iter_mut().zip(&compressed) {
                    *o = c[lane];
                }
            }
        }
    }

    /// `librosa.feature.mfcc(y, n_mfcc)` with this extractor's mel settings, `[frames, n_mfcc]`.
    pub fn mfcc(&self, y: &[f32], n_mfcc: usize) -> Matrix {
        mfcc_from_mel_power(&self.mel_power(y), n_mfcc)
    }
}

/// power_to_db (ref 1, amin 1e-10, top_db 80) then an orthonormal DCT-II over mel bands.
pub fn mfcc_from_mel_power(mel_power: &Matrix, n_mfcc: usize) -> Matrix {
    let n_mels = mel_power.cols();
    let mut db = mel_power.map(|p| 10.0 * p.max(1e-10).log10());
    let floor = db.data().iter().copied().fold(f64::NEG_INFINITY, f64::max) - 80.0;
    db.map_in_place(|v| v.max(floor));
    let n_mfcc = n_mfcc.min(n_mels);
    let basis = dct2_ortho_basis(n_mels, n_mfcc);
    let mut out = Matrix::zeros(db.rows(), n_mfcc);
    for t in 0..db.rows() {
        let row = db.row(t);
        for (k, o) in out.row_mut(t).iter_mut().enumerate() {
            *o = basis[k * n_mels..(k + 1) * n_mels]
                .iter()
                .zip(row)
                .map(|(b, x)| b * x)
                .sum();
        }
    }
    out
}

/// Rows of the orthonormal DCT-II matrix (scipy `dct(type=2, norm='ortho')`).
fn dct2_ortho_basis(n: usize, k_max: usize) -> Vec<f64> {
    let mut basis = Vec::with_capacity(n * k_max);
    for k in 0..k_max {
        let scale = if k == 0 {
            (1.0 / n as f64).sqrt()
        } else {
            (2.0 / n as f64).sqrt()
        };
        basis.extend((0..n).map(|i| {
            scale * (std::f64::consts::PI * k as f64 * (2 * i + 1) as f64 / (2 * n) as f64).cos()
        }));
    }
    basis
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vectorised_logarithm_matches_libm_to_1e_14() {
        let mut xs = vec![
            1.0,
            1.0 + 1e-15,
            1.0 + 1e-9,
            1.5,
            2.0,
            std::f64::consts::SQRT_2,
        ];
        xs.extend((0..4000).map(|i| 1.0 + 1.01f64.powi(i) * 1e-12));
        for x in xs {
            let ([ours], libm) = (ln_at_least_one([x]), x.ln());
            let err = (ours - libm).abs() / libm.abs().max(1e-300);
            assert!(
                err < 1e-14 || (ours - libm).abs() < 1e-30,
                "ln({x}): {ours} vs {libm}"
            );
        }
        assert!(ln_at_least_one([f64::NAN])[0].is_nan());
        assert!(ln_at_least_one([f64::INFINITY])[0].is_nan());
    }

    #[test]
    fn the_avx2_path_gives_the_portable_paths_bits() {
        let extractor = MelExtractor::new(MelConfig::default()).expect("default config");
        let y: Vec<f32> = (0..40_000)
            .map(|i| ((i as f32 * 0.013).sin() + (i as f32 * 0.0007).cos() * 0.3) * 0.5)
            .collect();
        let dispatched = extractor.log_mel(&y);
        let mut portable = vec![0.0f32; dispatched.data.len()];
        extractor.log_mel_into(&y, &mut portable, Unpack::Portable);
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&dispatched.data), bits(&portable));
    }

    #[test]
    fn frame_blocks_give_the_frame_at_a_time_bits() {
        let extractor = MelExtractor::new(MelConfig::default()).expect("default config");
        // 1 + len / 256 frames: 1, 2, 3 (fewer than a block), then every remainder mod 4.
        for len in [100, 300, 700, 20_000, 20_300, 20_500, 20_800] {
            let y: Vec<f32> = (0..len)
                .map(|i| (i as f32 * 0.021).sin() * 0.4 + (i as f32 * 0.0009).cos() * 0.2)
                .collect();
            let blocked = extractor.log_mel(&y);
            let mut one_by_one = vec![0.0f32; blocked.data.len()];
            let mut mel = vec![0.0f64; blocked.n_mels];
            extractor.stft().for_each_power_frame(&y, |t, power| {
                extractor.filterbank.apply(power, &mut mel);
                log_compress_frame(&mel, &mut one_by_one[t * mel.len()..(t + 1) * mel.len()]);
            });
            let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&blocked.data), bits(&one_by_one), "{len} samples");
        }
    }

    #[test]
    fn compression_blocks_give_each_values_own_bits() {
        // Lengths below, at and around multiples of LOG_BLOCK.
        for len in [1usize, 15, 16, 17, 96, 384, 389] {
            let mel: Vec<f64> = (0..len).map(|i| 1.07f64.powi(i as i32) * 1e-9).collect();
            let mut blocked = vec![0.0f32; len];
            log_compress_frame(&mel, &mut blocked);
            for (i, (&m, &o)) in mel.iter().zip(&blocked).enumerate() {
                let mut single = [0.0f32];
                log_compress_frame(&[m], &mut single);
                assert_eq!(o.to_bits(), single[0].to_bits(), "value {i} of {len}");
            }
        }
    }

    #[test]
    fn frame_compression_equals_the_scalar_definition() {
        let mel: Vec<f64> = (0..2000)
            .map(|i| if i == 0 { 0.0 } else { 1.02f64.powi(i) * 1e-20 })
            .collect();
        let mut out = vec![0.0f32; mel.len()];
        log_compress_frame(&mel, &mut out);
        for (&m, &o) in mel.iter().zip(&out) {
            let reference = log_compress(m);
            // Equal, or one f32 step apart where the f64 values straddle a rounding boundary.
            let ulps = (o.to_bits() as i64 - reference.to_bits() as i64).abs();
            assert!(ulps <= 1, "{m}: {o} vs {reference}");
        }
    }
}
