//! `tagscale features …`: run the audio pipeline on one file and show what it computes.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, Result};
use audio_features::{DescriptorExtractor, MelConfig, MelExtractor, load_mono, npy};
use clap::Subcommand;

#[derive(Subcommand)]
pub enum FeaturesCommand {
    /// Write the log-compressed mel spectrogram (before normalisation) as float32 .npy,
    /// shape [frames, n_mels].
    Mel {
        /// Audio file (wav, mp3, ogg/vorbis, flac).
        file: PathBuf,
        /// Where to write the .npy array.
        #[arg(long)]
        out: PathBuf,
        /// Mel bands.
        #[arg(long, default_value_t = 96)]
        n_mels: usize,
        /// Sample rate the audio is resampled to before the STFT (Hz).
        #[arg(long, default_value_t = audio_features::SAMPLE_RATE)]
        sample_rate: u32,
    },
    /// Print the hand-crafted descriptors of the GBT baseline, one `name value` per line.
    Descriptors {
        /// Audio file (wav, mp3, ogg/vorbis, flac).
        file: PathBuf,
        /// Print a JSON object {name: value} in descriptor order instead.
        #[arg(long)]
        json: bool,
    },
}

pub fn run(cmd: FeaturesCommand) -> Result<()> {
    match cmd {
        FeaturesCommand::Mel {
            file,
            out,
            n_mels,
            sample_rate,
        } => mel(file, out, n_mels, sample_rate),
        FeaturesCommand::Descriptors { file, json } => descriptors(file, json),
    }
}

fn mel(file: PathBuf, out: PathBuf, n_mels: usize, sample_rate: u32) -> Result<()> {
    let config = MelConfig {
        sample_rate,
        n_mels,
        ..MelConfig::default()
    };
    let extractor = MelExtractor::new(config).context("invalid --n-mels / --sample-rate")?;
    let audio = load_mono(&file, sample_rate)?.audio;
    let spec = extractor.log_mel(&audio.samples);
    npy::write_f32(&out, &[spec.frames, spec.n_mels], &spec.data)
        .with_context(|| format!("writing the log-mel of {}", file.display()))?;
    tracing::info!(
        "{}: {:.2} s -> {} frames x {} mel bands written to {}",
        file.display(),
        audio.duration_seconds(),
        spec.frames,
        spec.n_mels,
        out.display()
    );
    Ok(())
}

fn descriptors(file: PathBuf, json: bool) -> Result<()> {
    let extractor = DescriptorExtractor::new(MelConfig::default())?;
    let audio = load_mono(&file, audio_features::SAMPLE_RATE)?.audio;
    let named = extractor.named(&audio.samples);
    let mut out = std::io::stdout().lock();
    if json {
        // Built by hand to keep descriptor order (serde_json maps sort their keys).
        let fields: Vec<String> = named
            .iter()
            .map(|(name, value)| {
                format!(
                    "  {}: {}",
                    serde_json::json!(name),
                    serde_json::json!(value)
                )
            })
            .collect();
        writeln!(out, "{{\n{}\n}}", fields.join(",\n"))?;
    } else {
        let width = named.iter().map(|(n, _)| n.len()).max().unwrap_or(0);
        for (name, value) in named {
            writeln!(out, "{name:<width$}  {value}")?;
        }
    }
    Ok(())
}
