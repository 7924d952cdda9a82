//! Hand-crafted descriptors for the GBT baseline: one fixed-length, named vector per track.
//!
//! Three families, computed from one STFT of the 16 kHz signal (SPEC §3):
//! - **timbre** (106): 20 MFCC and their deltas (mean, std); spectral centroid, bandwidth,
//!   85 % rolloff, flatness, 7-band contrast, zero-crossing rate, RMS (mean, std);
//! - **rhythm** (13): onset-strength statistics, tempo and its strength from the onset
//!   autocorrelation, the two strongest beat-histogram peaks, autocorrelation at 2-, 3- and
//!   4-beat lags (meter cues), onset rate;
//! - **harmony** (34): 12 chroma (mean, std), Krumhansl–Schmuckler major/minor correlations and
//!   key clarity, tonnetz mean, harmonic-change rate.
//!
//! Every value is finite, also for silence and for clips shorter than one frame.

use std::f64::consts::PI;
use std::sync::OnceLock;

use crate::error::Result;
use crate::matrix::Matrix;
use crate::mel::{MelConfig, MelExtractor, mfcc_from_mel_power};
use crate::stft::{Stft, centred_frames};

/// Number of MFCC coefficients in the descriptor vector.
pub const N_MFCC: usize = 20;
/// Octave bands of the spectral contrast (6 octaves above 200 Hz plus the band below).
const CONTRAST_BANDS: usize = 7;
/// Chroma needs finer frequency resolution than the mel STFT: 4096 points at 16 kHz resolve
/// 3.9 Hz, a quarter of a semitone at 110 Hz.
const CHROMA_N_FFT: usize = 4096;
const CHROMA_HOP: usize = 1024;
/// Tempo search range (BPM).
const MIN_BPM: f64 = 40.0;
const MAX_BPM: f64 = 240.0;

/// Krumhansl–Kessler key profiles (C major / C minor).
const MAJOR_PROFILE: [f64; 12] = [
    6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88,
];
const MINOR_PROFILE: [f64; 12] = [
    6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17,
];

/// Computes the descriptor vector; build once and reuse for every track.
pub struct DescriptorExtractor {
    mel: MelExtractor,
    chroma_stft: Stft,
}

impl DescriptorExtractor {
    pub fn new(config: MelConfig) -> Result<Self> {
        Ok(Self {
            mel: MelExtractor::new(config)?,
            chroma_stft: Stft::new(CHROMA_N_FFT, CHROMA_HOP),
        })
    }

    /// The names of the entries, in the order of [`DescriptorExtractor::compute`].
    pub fn names(&self) -> &'static [String] {
        static NAMES: OnceLock<Vec<String>> = OnceLock::new();
        NAMES.get_or_init(|| {
            let mut sink = Sink::default();
            self.fill(&[0.0; 16], &mut sink);
            sink.names
        })
    }

    /// The descriptor vector of a mono signal at the configured sample rate.
    pub fn compute(&self, y: &[f32]) -> Vec<f32> {
        let mut sink = Sink::default();
        self.fill(y, &mut sink);
        sink.values
    }

    /// Names paired with values, for display.
    pub fn named(&self, y: &[f32]) -> Vec<(String, f32)> {
        self.names().iter().cloned().zip(self.compute(y)).collect()
    }

    fn fill(&self, y: &[f32], out: &mut Sink) {
        let config = self.mel.config();
        let sr = f64::from(config.sample_rate);
        let frame_rate = sr / config.hop_length as f64;
        let power = self.mel.stft().power(y);
        let mel_power = self.mel.mel_from_power(&power);
        timbre(
            y,
            &power,
            &bin_freqs(sr, config.n_fft),
            &mel_power,
            config,
            out,
        );
        rhythm(&mel_power, frame_rate, y.len() as f64 / sr, out);

        let chroma_power = self.chroma_stft.power(y);
        let chroma_rate = sr / CHROMA_HOP as f64;
        harmony(
            &chroma_power,
            &bin_freqs(sr, CHROMA_N_FFT),
            chroma_rate,
            out,
        );
    }
}

/// Centre frequency (Hz) of each FFT bin.
fn bin_freqs(sample_rate: f64, n_fft: usize) -> Vec<f64> {
    (0..=n_fft / 2)
        .map(|k| k as f64 * sample_rate / n_fft as f64)
        .collect()
}

/// Collects (name, value) pairs so that names and values can never drift apart.
#[derive(Default)]
struct Sink {
    names: Vec<String>,
    values: Vec<f32>,
}

impl Sink {
    fn push(&mut self, name: impl Into<String>, value: f64) {
        self.names.push(name.into());
        self.values
            .push(if value.is_finite() { value as f32 } else { 0.0 });
    }

    fn push_mean_std(&mut self, name: &str, xs: &[f64]) {
        let (mean, std) = mean_std(xs);
        self.push(format!("{name}_mean"), mean);
        self.push(format!("{name}_std"), std);
    }
}

fn timbre(
    y: &[f32],
    power: &Matrix,
    freqs: &[f64],
    mel_power: &Matrix,
    config: &MelConfig,
    out: &mut Sink,
) {
    let mfcc = mfcc_from_mel_power(mel_power, N_MFCC);
    let delta = deltas(&mfcc);
    for k in 0..mfcc.cols() {
        out.push_mean_std(&format!("mfcc_{k:02}"), &mfcc.column(k));
    }
    for k in 0..delta.cols() {
        out.push_mean_std(&format!("mfcc_delta_{k:02}"), &delta.column(k));
    }

    let frames = power.rows();
    let (mut centroid, mut bandwidth, mut rolloff, mut flatness) = (
        Vec::with_capacity(frames),
        Vec::with_capacity(frames),
        Vec::with_capacity(frames),
        Vec::with_capacity(frames),
    );
    let mut contrast: Vec<Vec<f64>> = (0..CONTRAST_BANDS)
        .map(|_| Vec::with_capacity(frames))
        .collect();
    let band_edges = contrast_band_edges(freqs);
    for t in 0..frames {
        let p = power.row(t);
        let magnitude: Vec<f64> = p.iter().map(|v| v.sqrt()).collect();
        let (c, b) = centroid_bandwidth(&magnitude, freqs);
        centroid.push(c);
        bandwidth.push(b);
        rolloff.push(rolloff_hz(&magnitude, freqs, 0.85));
        flatness.push(spectral_flatness(p));
        for (band, &(lo, hi)) in band_edges.iter().enumerate() {
            contrast[band].push(band_contrast(&magnitude[lo..hi]));
        }
    }
    out.push_mean_std("spectral_centroid", &centroid);
    out.push_mean_std("spectral_bandwidth", &bandwidth);
    out.push_mean_std("spectral_rolloff85", &rolloff);
    out.push_mean_std("spectral_flatness", &flatness);
    for (band, values) in contrast.iter().enumerate() {
        out.push_mean_std(&format!("spectral_contrast_{band}"), values);
    }
    let (zcr, rms) = frame_zcr_rms(y, config.n_fft, config.hop_length);
    out.push_mean_std("zero_crossing_rate", &zcr);
    out.push_mean_std("rms", &rms);
}

fn rhythm(mel_power: &Matrix, frame_rate: f64, seconds: f64, out: &mut Sink) {
    let onset = onset_strength(mel_power);
    let (mean, std) = mean_std(&onset);
    out.push("onset_strength_mean", mean);
    out.push("onset_strength_std", std);
    out.push(
        "onset_strength_max",
        onset.iter().copied().fold(0.0, f64::max),
    );

    let max_lag = (4.0 * 60.0 * frame_rate / MIN_BPM).ceil() as usize;
    let ac = autocorrelation(&onset, max_lag);
    let beat = tempo_lag(&ac, frame_rate);
    let bpm = |lag: f64| {
        if lag > 0.0 {
            60.0 * frame_rate / lag
        } else {
            0.0
        }
    };
    out.push("tempo_bpm", beat.map_or(0.0, |(lag, _)| bpm(lag)));
    out.push("tempo_strength", beat.map_or(0.0, |(_, s)| s));
    let peaks = beat_histogram_peaks(&ac, frame_rate);
    for (i, name) in ["first", "second"].iter().enumerate() {
        let (lag, height) = peaks.get(i).copied().unwrap_or((0.0, 0.0));
        out.push(format!("beat_peak_{name}_bpm"), bpm(lag));
        out.push(format!("beat_peak_{name}_strength"), height);
    }
    for beats in [2.0, 3.0, 4.0] {
        let value = beat.map_or(0.0, |(lag, _)| interpolate(&ac, lag * beats));
        out.push(format!("autocorr_{beats}_beats"), value);
    }
    let onsets = count_peaks(&onset, mean + 0.5 * std);
    out.push("onset_rate", onsets as f64 / seconds.max(1e-9));
}

fn harmony(power: &Matrix, freqs: &[f64], frame_rate: f64, out: &mut Sink) {
    let chroma = chromagram(power, freqs);
    let mut mean_chroma = [0.0; 12];
    for (pc, slot) in mean_chroma.iter_mut().enumerate() {
        let column = chroma.column(pc);
        let (mean, _) = mean_std(&column);
        *slot = mean;
        out.push_mean_std(&format!("chroma_{pc:02}"), &column);
    }
    let (major, minor, clarity) = key_correlations(&mean_chroma);
    out.push("key_major_correlation", major);
    out.push("key_minor_correlation", minor);
    out.push("key_clarity", clarity);

    let tonnetz = tonnetz(&chroma);
    for d in 0..6 {
        out.push(format!("tonnetz_{d}_mean"), mean_std(&tonnetz.column(d)).0);
    }
    let change = harmonic_change(&tonnetz);
    let (mean, _) = mean_std(&change);
    let changes = count_peaks(&change, mean);
    out.push(
        "harmonic_change_rate",
        changes as f64 / (tonnetz.rows() as f64 / frame_rate).max(1e-9),
    );
}

/// Mean and population standard deviation; (0, 0) for an empty slice.
pub fn mean_std(xs: &[f64]) -> (f64, f64) {
    if xs.is_empty() {
        return (0.0, 0.0);
    }
    let n = xs.len() as f64;
    let mean = xs.iter().sum::<f64>() / n;
    let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n;
    (mean, var.sqrt())
}

/// Regression deltas over ±4 frames with edge replication (librosa's width-9 window).
fn deltas(m: &Matrix) -> Matrix {
    const N: isize = 4;
    let denom: f64 = 2.0 * (1..=N).map(|n| (n * n) as f64).sum::<f64>();
    let rows = m.rows() as isize;
    let mut out = Matrix::zeros(m.rows(), m.cols());
    for t in 0..rows {
        for c in 0..m.cols() {
            let at = |i: isize| m.get(i.clamp(0, rows - 1) as usize, c);
            let num: f64 = (1..=N).map(|n| n as f64 * (at(t + n) - at(t - n))).sum();
            out.row_mut(t as usize)[c] = num / denom;
        }
    }
    out
}

fn centroid_bandwidth(magnitude: &[f64], freqs: &[f64]) -> (f64, f64) {
    let total: f64 = magnitude.iter().sum();
    if total <= 0.0 {
        return (0.0, 0.0);
    }
    let centroid = magnitude.iter().zip(freqs).map(|(m, f)| m * f).sum::<f64>() / total;
    let spread = magnitude
        .iter()
        .zip(freqs)
        .map(|(m, f)| m * (f - centroid).powi(2))
        .sum::<f64>()
        / total;
    (centroid, spread.sqrt())
}

fn rolloff_hz(magnitude: &[f64], freqs: &[f64], share: f64) -> f64 {
    let total: f64 = magnitude.iter().sum();
    if total <= 0.0 {
        return 0.0;
    }
    let mut cumulative = 0.0;
    for (m, f) in magnitude.iter().zip(freqs) {
        cumulative += m;
        if cumulative >= share * total {
            return *f;
        }
    }
    freqs.last().copied().unwrap_or(0.0)
}

/// Geometric over arithmetic mean of the power spectrum (librosa, amin 1e-10).
fn spectral_flatness(power: &[f64]) -> f64 {
    let n = power.len() as f64;
    let clipped = power.iter().map(|p| p.max(1e-10));
    let log_mean = clipped.clone().map(f64::ln).sum::<f64>() / n;
    let mean = clipped.sum::<f64>() / n;
    log_mean.exp() / mean
}

/// FFT-bin ranges of the contrast bands: [0, 200), [200, 400), ... octaves up to Nyquist.
fn contrast_band_edges(freqs: &[f64]) -> Vec<(usize, usize)> {
    let bin_of = |hz: f64| freqs.iter().position(|&f| f >= hz).unwrap_or(freqs.len());
    (0..CONTRAST_BANDS)
        .map(|b| {
            let lo = if b == 0 {
                0.0
            } else {
                200.0 * 2f64.powi(b as i32 - 1)
            };
            let hi = if b + 1 == CONTRAST_BANDS {
                f64::INFINITY
            } else {
                200.0 * 2f64.powi(b as i32)
            };
            let (lo, hi) = (bin_of(lo), bin_of(hi).max(bin_of(lo) + 1).min(freqs.len()));
            (lo.min(hi.saturating_sub(1)), hi)
        })
        .collect()
}

/// Peak minus valley (dB) of one band: means of the top and bottom 2 % of its magnitudes.
fn band_contrast(magnitude: &[f64]) -> f64 {
    if magnitude.is_empty() {
        return 0.0;
    }
    let mut sorted = magnitude.to_vec();
    sorted.sort_by(f64::total_cmp);
    let k = ((sorted.len() as f64 * 0.02).round() as usize).max(1);
    let valley = sorted[..k].iter().sum::<f64>() / k as f64;
    let peak = sorted[sorted.len() - k..].iter().sum::<f64>() / k as f64;
    10.0 * peak.max(1e-10).log10() - 10.0 * valley.max(1e-10).log10()
}

/// Zero-crossing rate and RMS over centred frames of `frame` samples every `hop`.
fn frame_zcr_rms(y: &[f32], frame: usize, hop: usize) -> (Vec<f64>, Vec<f64>) {
    let frames = centred_frames(y.len(), hop);
    let half = frame / 2;
    (0..frames)
        .map(|t| {
            let centre = t * hop;
            let lo = centre.saturating_sub(half).min(y.len());
            let hi = (centre + half).min(y.len());
            let window = &y[lo..hi];
            let crossings = window
                .windows(2)
                .filter(|w| (w[0] >= 0.0) != (w[1] >= 0.0))
                .count();
            let energy: f64 = window.iter().map(|&s| f64::from(s).powi(2)).sum();
            (
                crossings as f64 / frame as f64,
                (energy / frame as f64).sqrt(),
            )
        })
        .unzip()
}

/// Spectral flux of the mel spectrum in dB (librosa `onset_strength`: mean positive change).
fn onset_strength(mel_power: &Matrix) -> Vec<f64> {
    let mut db = mel_power.map(|p| 10.0 * p.max(1e-10).log10());
    let floor = db.data().iter().copied().fold(f64::NEG_INFINITY, f64::max) - 80.0;
    db.map_in_place(|v| v.max(floor));
    let bands = db.cols().max(1) as f64;
    let flux = (1..db.rows()).map(|t| {
        db.row(t)
            .iter()
            .zip(db.row(t - 1))
            .map(|(now, before)| (now - before).max(0.0))
            .sum::<f64>()
            / bands
    });
    // The first frame has no predecessor: no onset there.
    std::iter::once(0.0).chain(flux).collect()
}

/// Autocorrelation of the mean-removed signal at lags 0..=max_lag, normalised by lag 0.
fn autocorrelation(x: &[f64], max_lag: usize) -> Vec<f64> {
    let (mean, _) = mean_std(x);
    let centred: Vec<f64> = x.iter().map(|v| v - mean).collect();
    let max_lag = max_lag.min(centred.len().saturating_sub(1));
    let mut ac: Vec<f64> = (0..=max_lag)
        .map(|lag| {
            centred[lag..]
                .iter()
                .zip(&centred)
                .map(|(a, b)| a * b)
                .sum()
        })
        .collect();
    let zero = ac.first().copied().unwrap_or(0.0);
    if zero > 0.0 {
        ac.iter_mut().for_each(|v| *v /= zero);
    } else {
        ac.iter_mut().for_each(|v| *v = 0.0);
    }
    ac
}

/// Lag range (frames) of the tempo search.
fn tempo_lags(ac_len: usize, frame_rate: f64) -> std::ops::Range<usize> {
    let lo = (60.0 * frame_rate / MAX_BPM).floor() as usize;
    let hi = ((60.0 * frame_rate / MIN_BPM).ceil() as usize + 1).min(ac_len);
    lo.max(1).min(hi)..hi
}

/// Beat period (fractional lag) and its autocorrelation strength, with librosa's log-normal
/// prior around 120 BPM (one octave standard deviation) to choose among metrical levels.
fn tempo_lag(ac: &[f64], frame_rate: f64) -> Option<(f64, f64)> {
    let prior = |lag: usize| {
        let bpm = 60.0 * frame_rate / lag as f64;
        (-0.5 * (bpm / 120.0).log2().powi(2)).exp()
    };
    let best = tempo_lags(ac.len(), frame_rate)
        .filter(|&lag| ac[lag] > 0.0)
        .max_by(|&a, &b| (ac[a] * prior(a)).total_cmp(&(ac[b] * prior(b))))?;
    Some((refine_peak(ac, best), ac[best]))
}

/// Local maxima of the autocorrelation inside the tempo range, strongest first.
fn beat_histogram_peaks(ac: &[f64], frame_rate: f64) -> Vec<(f64, f64)> {
    let mut peaks: Vec<(f64, f64)> = tempo_lags(ac.len(), frame_rate)
        .filter(|&l| l + 1 < ac.len() && ac[l] > 0.0 && ac[l] >= ac[l - 1] && ac[l] > ac[l + 1])
        .map(|l| (refine_peak(ac, l), ac[l]))
        .collect();
    peaks.sort_by(|a, b| b.1.total_cmp(&a.1));
    peaks.truncate(2);
    peaks
}

/// Parabolic interpolation of a peak's position.
fn refine_peak(x: &[f64], i: usize) -> f64 {
    if i == 0 || i + 1 >= x.len() {
        return i as f64;
    }
    let (a, b, c) = (x[i - 1], x[i], x[i + 1]);
    let denom = a - 2.0 * b + c;
    if denom.abs() < 1e-12 {
        i as f64
    } else {
        i as f64 + (0.5 * (a - c) / denom).clamp(-0.5, 0.5)
    }
}

/// Linear interpolation of `x` at a fractional index (0 beyond the end).
fn interpolate(x: &[f64], at: f64) -> f64 {
    let i = at.floor() as usize;
    match (x.get(i), x.get(i + 1)) {
        (Some(a), Some(b)) => a + (b - a) * (at - i as f64),
        (Some(a), None) => *a,
        _ => 0.0,
    }
}

/// Local maxima strictly above `threshold`.
fn count_peaks(x: &[f64], threshold: f64) -> usize {
    (1..x.len().saturating_sub(1))
        .filter(|&i| x[i] > threshold && x[i] >= x[i - 1] && x[i] > x[i + 1])
        .count()
}

/// STFT chroma: power of bins 80 Hz–5 kHz folded onto the nearest pitch class, each frame
/// scaled to a maximum of 1 (librosa's `norm=inf`); silent frames stay zero.
fn chromagram(power: &Matrix, freqs: &[f64]) -> Matrix {
    let classes: Vec<Option<usize>> = freqs
        .iter()
        .map(|&f| {
            (80.0..=5000.0).contains(&f).then(|| {
                let midi = (69.0 + 12.0 * (f / 440.0).log2()).round() as i64;
                midi.rem_euclid(12) as usize
            })
        })
        .collect();
    let mut chroma = Matrix::zeros(power.rows(), 12);
    for t in 0..power.rows() {
        let row = chroma.row_mut(t);
        for (p, class) in power.row(t).iter().zip(&classes) {
            if let Some(c) = class {
                row[*c] += p;
            }
        }
        let max = row.iter().copied().fold(0.0, f64::max);
        if max > 1e-12 {
            row.iter_mut().for_each(|v| *v /= max);
        } else {
            row.iter_mut().for_each(|v| *v = 0.0);
        }
    }
    chroma
}

/// Best correlation with the 12 rotations of the major and the minor profile, and the key
/// clarity (best minus second best of all 24 keys).
fn key_correlations(chroma: &[f64; 12]) -> (f64, f64, f64) {
    let mut major = Vec::with_capacity(12);
    let mut minor = Vec::with_capacity(12);
    for tonic in 0..12 {
        let rotate =
            |p: &[f64; 12]| -> Vec<f64> { (0..12).map(|i| p[(i + 12 - tonic) % 12]).collect() };
        major.push(pearson(chroma, &rotate(&MAJOR_PROFILE)));
        minor.push(pearson(chroma, &rotate(&MINOR_PROFILE)));
    }
    let best = |xs: &[f64]| xs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let mut all: Vec<f64> = major.iter().chain(&minor).copied().collect();
    all.sort_by(|a, b| b.total_cmp(a));
    (best(&major), best(&minor), all[0] - all[1])
}

fn pearson(a: &[f64], b: &[f64]) -> f64 {
    let (ma, sa) = mean_std(a);
    let (mb, sb) = mean_std(b);
    if sa <= 1e-12 || sb <= 1e-12 {
        return 0.0;
    }
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - ma) * (y - mb))
        .sum::<f64>()
        / (a.len() as f64 * sa * sb)
}

/// Tonal centroids (Harte et al. 2006, as librosa `tonnetz`) of L1-normalised chroma.
fn tonnetz(chroma: &Matrix) -> Matrix {
    let angles = [7.0 * PI / 6.0, 3.0 * PI / 2.0, 2.0 * PI / 3.0];
    let radii = [1.0, 1.0, 0.5];
    let mut out = Matrix::zeros(chroma.rows(), 6);
    for t in 0..chroma.rows() {
        let row = chroma.row(t);
        let total: f64 = row.iter().sum();
        if total <= 0.0 {
            continue;
        }
        let dims = out.row_mut(t);
        for (pc, &c) in row.iter().enumerate() {
            let weight = c / total;
            for (d, (&angle, &radius)) in angles.iter().zip(&radii).enumerate() {
                dims[2 * d] += weight * radius * (pc as f64 * angle).sin();
                dims[2 * d + 1] += weight * radius * (pc as f64 * angle).cos();
            }
        }
    }
    out
}

/// Harmonic change detection function: distance between the tonal centroids around each frame
/// after a short moving-average smoothing.
fn harmonic_change(tonnetz: &Matrix) -> Vec<f64> {
    const SMOOTH: isize = 4;
    let rows = tonnetz.rows() as isize;
    let smoothed: Vec<[f64; 6]> = (0..rows)
        .map(|t| {
            let (lo, hi) = ((t - SMOOTH).max(0), (t + SMOOTH).min(rows - 1));
            let mut acc = [0.0; 6];
            for i in lo..=hi {
                for (a, v) in acc.iter_mut().zip(tonnetz.row(i as usize)) {
                    *a += v;
                }
            }
            acc.map(|a| a / (hi - lo + 1) as f64)
        })
        .collect();
    (0..smoothed.len())
        .map(|t| {
            let prev = &smoothed[t.saturating_sub(1)];
            let next = &smoothed[(t + 1).min(smoothed.len() - 1)];
            prev.iter()
                .zip(next)
                .map(|(a, b)| (a - b).powi(2))
                .sum::<f64>()
                .sqrt()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn extractor() -> DescriptorExtractor {
        DescriptorExtractor::new(MelConfig::default()).unwrap()
    }

    fn clicks(bpm: f64, seconds: f64) -> Vec<f32> {
        let sr = 16_000.0;
        let period = (60.0 / bpm * sr) as usize;
        (0..(seconds * sr) as usize)
            .map(|i| {
                let phase = i % period;
                if phase < 200 {
                    (0.8 * (-(phase as f64) / 40.0).exp() * (i as f64 * 0.9).sin()) as f32
                } else {
                    0.0
                }
            })
            .collect()
    }

    fn value(names: &[String], values: &[f32], name: &str) -> f32 {
        values[names.iter().position(|n| n == name).unwrap()]
    }

    #[test]
    fn names_are_unique_and_match_the_vector_length() {
        let ex = extractor();
        let names = ex.names();
        assert!(
            (140..=170).contains(&names.len()),
            "{} descriptors",
            names.len()
        );
        let unique: std::collections::HashSet<_> = names.iter().collect();
        assert_eq!(unique.len(), names.len());
        assert_eq!(ex.compute(&clicks(100.0, 2.0)).len(), names.len());
    }

    #[test]
    fn silence_and_tiny_clips_give_finite_values() {
        let ex = extractor();
        for y in [vec![0.0f32; 16_000], vec![0.1f32; 3], vec![]] {
            assert!(ex.compute(&y).iter().all(|v| v.is_finite()));
        }
    }

    #[test]
    fn tempo_of_a_click_track_is_found() {
        let ex = extractor();
        let v = ex.compute(&clicks(120.0, 8.0));
        let bpm = value(ex.names(), &v, "tempo_bpm");
        assert!((bpm - 120.0).abs() < 3.0, "tempo {bpm}");
    }

    #[test]
    fn key_of_a_c_major_triad_prefers_major() {
        let sr = 16_000.0;
        let y: Vec<f32> = (0..32_000)
            .map(|i| {
                let t = i as f64 / sr;
                [261.63, 329.63, 392.0]
                    .iter()
                    .map(|f| (2.0 * PI * f * t).sin())
                    .sum::<f64>() as f32
                    * 0.2
            })
            .collect();
        let ex = extractor();
        let v = ex.compute(&y);
        let major = value(ex.names(), &v, "key_major_correlation");
        let minor = value(ex.names(), &v, "key_minor_correlation");
        assert!(major > minor, "major {major} minor {minor}");
        // The C, E and G chroma bins dominate.
        let c = value(ex.names(), &v, "chroma_00_mean");
        let d = value(ex.names(), &v, "chroma_02_mean");
        assert!(c > 3.0 * d, "C {c} vs D {d}");
    }
}
