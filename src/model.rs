//! `tagscale model …`: what the models look like.

use anyhow::Result;
use clap::Subcommand;
use models::summary::{format_table, summary};
use models::{Architecture, ModelConfig};

#[derive(Subcommand)]
pub enum ModelCommand {
    /// Layer table with output shapes for one patch, and the total parameter count.
    Info {
        /// spectrogram or waveform
        architecture: Architecture,
        /// Number of output tags.
        #[arg(long, default_value_t = 50)]
        tags: usize,
        /// Patch length in seconds (the paper: 15; the CPU sweeps: 3).
        #[arg(long, default_value_t = 15.0)]
        patch_seconds: f64,
        /// Mel bands of the spectrogram input.
        #[arg(long, default_value_t = 96)]
        n_mels: usize,
        /// Base number of front-end filters.
        #[arg(long, default_value_t = 16)]
        nf: usize,
        /// Filters of the back-end convolutions.
        #[arg(long, default_value_t = 512)]
        backend_width: usize,
        /// Units of the penultimate dense layer.
        #[arg(long, default_value_t = 500)]
        dense_units: usize,
    },
}

pub fn run(cmd: ModelCommand) -> Result<()> {
    let ModelCommand::Info {
        architecture,
        tags,
        patch_seconds,
        n_mels,
        nf,
        backend_width,
        dense_units,
    } = cmd;
    let config = ModelConfig {
        n_mels,
        nf,
        backend_width,
        dense_units,
        ..ModelConfig::paper(architecture, tags)
    };
    let len = architecture.patch_len(patch_seconds, &audio_features::MelConfig::default());
    let table = format_table(&summary(&config, len)?);
    println!(
        "{} model, {tags} tags, {patch_seconds} s patch",
        architecture.as_str()
    );
    println!("{table}");
    Ok(())
}
