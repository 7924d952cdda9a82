//! `synth`: the built-in procedural music corpus (SPEC §4.3).
//!
//! Each track is generated from (corpus seed, track index) alone — in parallel, deterministic,
//! regenerable. Labels are true by construction, then annotated with noise: ~3 % flips on
//! classification tags and N(0, 0.03) on regression tags. See the crate README for every tag.

mod plan;
mod score;
mod voices;

use std::path::Path;

use rand::RngExt;
use rayon::prelude::*;

pub use plan::{Instrument, Meter, Style, TrackPlan};

use crate::error::{DatasetError, Result, io_err};
use crate::manifest::{DatasetKind, Manifest, Source, Track};
use crate::schema::{Tag, TagKind, TagSchema};
use crate::split::{SplitFractions, rng_for, split_for_group};
use voices::SR;

/// Bumped whenever the generator's output changes; part of the manifest hash.
pub const GENERATOR_VERSION: &str = "synth-1";
/// Probability that a classification label is flipped by the "annotator".
const FLIP_PROBABILITY: f64 = 0.03;
/// Standard deviation of the annotation noise on regression tags.
const REGRESSION_NOISE: f64 = 0.03;

/// What to generate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SynthConfig {
    pub tracks: usize,
    pub seed: u64,
    /// Length of every track in seconds.
    pub seconds: f64,
}

impl SynthConfig {
    pub fn validate(&self) -> Result<()> {
        if self.tracks == 0 {
            return Err(DatasetError::Config(
                "synth: tracks must be at least 1".into(),
            ));
        }
        if !(1.0..=600.0).contains(&self.seconds) {
            return Err(DatasetError::Config(format!(
                "synth: seconds {} must be within 1..=600",
                self.seconds
            )));
        }
        Ok(())
    }
}

/// The corpus's tags: 6 styles, 2 modes, 2 meters, 13 instruments, 4 regression tags.
pub fn schema() -> TagSchema {
    let class = |name: &str| Tag {
        name: name.to_string(),
        kind: TagKind::Classification,
    };
    let mut tags: Vec<Tag> = Style::ALL.iter().map(|s| class(s.tag())).collect();
    tags.extend(["major", "minor", "triple meter", "compound meter"].map(class));
    tags.extend(Instrument::ALL.iter().map(|i| class(i.tag())));
    tags.extend(
        ["tempo", "acousticness", "energy", "danceability"].map(|name| Tag {
            name: name.to_string(),
            kind: TagKind::Regression,
        }),
    );
    TagSchema { tags }
}

/// The plan of track `index`: cheap, no audio.
pub fn plan(seed: u64, index: u64, seconds: f64) -> TrackPlan {
    TrackPlan::draw(&mut rng_for(seed, "synth-plan", index), seconds)
}

/// Clean labels of a plan, in [`schema`] order.
pub fn true_labels(plan: &TrackPlan) -> Vec<f32> {
    let flag = |b: bool| if b { 1.0 } else { 0.0 };
    let mut labels: Vec<f32> = Style::ALL.iter().map(|s| flag(*s == plan.style)).collect();
    labels.extend([
        flag(!plan.minor),
        flag(plan.minor),
        flag(plan.meter == Meter::Triple),
        flag(plan.meter == Meter::Compound),
    ]);
    labels.extend(Instrument::ALL.iter().map(|i| flag(plan.has(*i))));
    labels.extend(
        [
            plan.tempo_value(),
            plan.acousticness(),
            plan.energy(),
            plan.danceability(),
        ]
        .map(|v| v as f32),
    );
    labels
}

/// Labels as an annotator would give them: the truth with annotation noise.
pub fn annotated_labels(seed: u64, index: u64, plan: &TrackPlan) -> Vec<f32> {
    let mut rng = rng_for(seed, "synth-annotation", index);
    let schema = schema();
    true_labels(plan)
        .into_iter()
        .zip(&schema.tags)
        .map(|(v, tag)| match tag.kind {
            TagKind::Classification if rng.random_bool(FLIP_PROBABILITY) => 1.0 - v,
            TagKind::Classification => v,
            TagKind::Regression => {
                let noise = gaussian(&mut rng) * REGRESSION_NOISE;
                (f64::from(v) + noise).clamp(0.0, 1.0) as f32
            }
        })
        .collect()
}

/// Standard normal draw (Box–Muller).
fn gaussian<R: rand::Rng + ?Sized>(rng: &mut R) -> f64 {
    let u1: f64 = rng.random_range(f64::EPSILON..1.0);
    let u2: f64 = rng.random_range(0.0..1.0);
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// Render track `index` as 16 kHz mono samples in [-1, 1].
pub fn render(seed: u64, index: u64, plan: &TrackPlan) -> Vec<f32> {
    let mut rng = rng_for(seed, "synth-render", index);
    let offset = plan.production.start_offset_seconds;
    let total_seconds = plan.seconds + offset;
    let len = (total_seconds * SR).ceil() as usize;
    let grid = score::Grid::new(plan, total_seconds);
    let harmony = score::Harmony::new(plan);
    let melody_lead = plan
        .parts
        .iter()
        .find(|p| p.instrument.is_melodic() && p.instrument != Instrument::Brass)
        .map_or(Instrument::Brass, |p| p.instrument);

    let mut mix = vec![0.0f32; len];
    for part in &plan.parts {
        let leads = part.instrument == melody_lead || part.instrument != Instrument::Brass;
        let notes = score::part_notes(part.instrument, plan, &grid, &harmony, leads, &mut rng);
        let mut buf = voices::render_part(part.instrument, &notes, len, &mut rng);
        // Unit RMS per part, so the mix gain alone sets each part's energy share.
        normalise_rms(&mut buf, 1.0);
        for (m, v) in mix.iter_mut().zip(buf) {
            *m += part.gain * v;
        }
    }
    produce(&mut mix, &plan.production, &mut rng);
    let start = (offset * SR) as usize;
    let end = start + (plan.seconds * SR).round() as usize;
    mix[start..end.min(len)].to_vec()
}

fn normalise_rms(buf: &mut [f32], target: f32) {
    let rms =
        (buf.iter().map(|v| f64::from(*v).powi(2)).sum::<f64>() / buf.len().max(1) as f64).sqrt();
    if rms > 1e-9 {
        let scale = target / rms as f32;
        buf.iter_mut().for_each(|v| *v *= scale);
    }
}

/// The recording chain: EQ tilt, reverb, background noise at the drawn SNR, gain, limiting.
fn produce<R: rand::Rng + ?Sized>(mix: &mut [f32], p: &plan::Production, rng: &mut R) {
    normalise_rms(mix, 0.1);
    // Tilt: blend towards a low-passed (darker) or a high-passed (brighter) copy.
    let mut low = mix.to_vec();
    voices::lowpass(&mut low, 1500.0);
    let tilt = p.eq_tilt as f32;
    for (m, l) in mix.iter_mut().zip(&low) {
        *m = if tilt < 0.0 {
            *m * (1.0 + tilt) - tilt * l
        } else {
            *m + tilt * (*m - l)
        };
    }
    reverb(mix, p.reverb_wet as f32);
    normalise_rms(mix, 0.1);
    // Background noise: brownish hum plus hiss, at the drawn signal-to-noise ratio.
    let noise_rms = 0.1 * 10f64.powf(-p.snr_db / 20.0);
    let mut noise: Vec<f32> = Vec::with_capacity(mix.len());
    let mut brown = 0.0f32;
    for _ in 0..mix.len() {
        let white: f32 = rng.random_range(-1.0..1.0);
        brown = 0.98 * brown + 0.02 * white;
        noise.push(0.5 * white + 4.0 * brown);
    }
    normalise_rms(&mut noise, noise_rms as f32);
    let gain = 10f32.powf(p.gain_db as f32 / 20.0) * 2.5;
    for (m, n) in mix.iter_mut().zip(noise) {
        *m = ((*m + n) * gain).clamp(-1.0, 1.0);
    }
}

/// Schroeder reverb: four parallel combs into two all-passes, mixed in at `wet`.
fn reverb(x: &mut [f32], wet: f32) {
    if wet <= 0.0 {
        return;
    }
    let combs = [
        (1116usize, 0.84f32),
        (1188, 0.83),
        (1277, 0.82),
        (1356, 0.81),
    ];
    let mut tail = vec![0.0f32; x.len()];
    for (delay, feedback) in combs {
        let delay = delay * 16 / 44; // the classic 44.1 kHz delays, at 16 kHz
        let mut line = vec![0.0f32; delay];
        for (i, t) in tail.iter_mut().enumerate() {
            let j = i % delay;
            let out = line[j];
            line[j] = x[i] + feedback * out;
            *t += out * 0.25;
        }
    }
    for delay in [556usize * 16 / 44, 441 * 16 / 44] {
        let mut line = vec![0.0f32; delay];
        for t in tail.iter_mut() {
            let j_out = line[0];
            let input = *t + 0.5 * j_out;
            line.rotate_left(1);
            if let Some(last) = line.last_mut() {
                *last = input;
            }
            *t = j_out - 0.5 * input;
        }
    }
    for (v, t) in x.iter_mut().zip(tail) {
        *v = (1.0 - wet) * *v + wet * t;
    }
}

/// The id of track `index`.
pub fn track_id(index: u64) -> String {
    format!("synth-{index:06}")
}

/// A manifest of the corpus whose tracks are generated on the fly (no files).
pub fn manifest(config: &SynthConfig) -> Result<Manifest> {
    config.validate()?;
    let tracks = (0..config.tracks as u64)
        .into_par_iter()
        .map(|index| {
            synth_track(
                config,
                index,
                Source::Synth {
                    seed: config.seed,
                    index,
                },
                None,
            )
        })
        .collect();
    Ok(corpus_manifest(tracks))
}

fn synth_track(config: &SynthConfig, index: u64, source: Source, size_bytes: Option<u64>) -> Track {
    let plan = plan(config.seed, index, config.seconds);
    let id = track_id(index);
    Track {
        split: split_for_group(&id, config.seed, SplitFractions::default()),
        group: id.clone(),
        id,
        source,
        duration: Some(config.seconds),
        labels: annotated_labels(config.seed, index, &plan),
        size_bytes,
    }
}

fn corpus_manifest(tracks: Vec<Track>) -> Manifest {
    let mut manifest = Manifest::new("synth", DatasetKind::Synth, schema());
    manifest.generator_version = Some(GENERATOR_VERSION.to_string());
    manifest.tracks = tracks;
    manifest
}

/// Write the corpus as 16 kHz mono 16-bit WAVs under `dir/audio/` plus `dir/manifest.json`.
/// `on_track` is called once per finished track (for progress bars).
pub fn write_corpus(
    dir: &Path,
    config: &SynthConfig,
    on_track: &(dyn Fn() + Sync),
) -> Result<Manifest> {
    config.validate()?;
    let audio_dir = dir.join("audio");
    std::fs::create_dir_all(&audio_dir)
        .map_err(io_err(&audio_dir, "cannot create the audio directory"))?;
    let tracks = (0..config.tracks as u64)
        .into_par_iter()
        .map(|index| {
            let relative = Path::new("audio").join(format!("{}.wav", track_id(index)));
            let path = dir.join(&relative);
            let samples = render(
                config.seed,
                index,
                &plan(config.seed, index, config.seconds),
            );
            write_wav(&path, &samples)?;
            let size = std::fs::metadata(&path)
                .map_err(io_err(&path, "cannot stat the written file"))?
                .len();
            on_track();
            Ok(synth_track(
                config,
                index,
                Source::File { path: relative },
                Some(size),
            ))
        })
        .collect::<Result<Vec<_>>>()?;
    let mut manifest = corpus_manifest(tracks);
    manifest.save(dir)?;
    manifest.root = dir.to_path_buf();
    Ok(manifest)
}

/// 16 kHz mono 16-bit PCM WAV, written completely or not at all ([`crate::atomic_write`]).
pub fn write_wav(path: &Path, samples: &[f32]) -> Result<()> {
    let bytes = wav_bytes(samples).map_err(|e| DatasetError::Format {
        path: path.to_path_buf(),
        message: format!("cannot write WAV: {e}"),
    })?;
    crate::atomic_write(path, &bytes)
}

/// Samples in [-1, 1] as the bytes of a 16 kHz mono 16-bit PCM WAV file (what the dashboard
/// plays a synthetic track as).
pub fn wav_bytes(samples: &[f32]) -> std::result::Result<Vec<u8>, hound::Error> {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: SR as u32,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut bytes = std::io::Cursor::new(Vec::with_capacity(44 + 2 * samples.len()));
    let mut writer = hound::WavWriter::new(&mut bytes, spec)?;
    for &s in samples {
        writer.write_sample((s.clamp(-1.0, 1.0) * 32767.0).round() as i16)?;
    }
    writer.finalize()?;
    Ok(bytes.into_inner())
}

/// The audio of one synthetic track of `seconds` (its plan drawn, then rendered).
pub fn render_track(seed: u64, index: u64, seconds: f64) -> Vec<f32> {
    render(seed, index, &plan(seed, index, seconds))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_has_both_kinds_and_27_tags() {
        let s = schema();
        assert_eq!(s.len(), 27);
        assert_eq!(
            s.tags
                .iter()
                .filter(|t| t.kind == TagKind::Regression)
                .count(),
            4
        );
        assert_eq!(true_labels(&plan(1, 0, 5.0)).len(), 27);
    }

    #[test]
    fn same_seed_and_index_give_identical_audio() {
        let p = plan(9, 3, 2.0);
        let a = render(9, 3, &p);
        assert_eq!(a, render(9, 3, &plan(9, 3, 2.0)));
        assert_eq!(a.len(), 32_000);
        assert!(a.iter().all(|v| v.is_finite() && v.abs() <= 1.0));
        assert_ne!(a, render(10, 3, &plan(10, 3, 2.0)));
    }

    #[test]
    fn labels_follow_the_plan_and_styles_are_exclusive() {
        for index in 0..200 {
            let p = plan(4, index, 5.0);
            let truth = true_labels(&p);
            assert_eq!(truth[..6].iter().sum::<f32>(), 1.0, "one style");
            assert_eq!(truth[6] + truth[7], 1.0, "major xor minor");
            assert!(truth[8] + truth[9] <= 1.0, "one meter");
            assert!(truth[23..].iter().all(|v| (0.0..=1.0).contains(v)));
            assert!(p.parts.len() >= 2);
        }
    }

    #[test]
    fn annotation_noise_flips_about_three_percent() {
        let (mut flips, mut total) = (0usize, 0usize);
        for index in 0..400 {
            let p = plan(2, index, 5.0);
            let (truth, noisy) = (true_labels(&p), annotated_labels(2, index, &p));
            for j in 0..23 {
                total += 1;
                flips += usize::from(truth[j] != noisy[j]);
            }
        }
        let rate = flips as f64 / total as f64;
        assert!((0.02..0.04).contains(&rate), "flip rate {rate}");
    }
}
