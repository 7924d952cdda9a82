//! `tagscale data …`: the synthetic corpus, dataset summaries, importers and the cache.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Subcommand;
use datasets::info::DatasetInfo;
use datasets::synth::{self, SynthConfig};
use datasets::Manifest;

use crate::progress;

#[derive(Subcommand)]
pub enum DataCommand {
    /// Generate the built-in synthetic corpus: 16 kHz mono WAVs + manifest.json.
    Synth {
        /// Output directory (created).
        #[arg(long)]
        out: PathBuf,
        /// Number of tracks.
        #[arg(long, default_value_t = 1000)]
        tracks: usize,
        /// Corpus seed: the same seed gives byte-identical files.
        #[arg(long, default_value_t = 7)]
        seed: u64,
        /// Length of each track in seconds.
        #[arg(long, default_value_t = 10.0)]
        seconds: f64,
    },
    /// Tracks per split, tags with their kinds and positive rates, bad tracks and why.
    Info {
        /// Dataset directory (holding manifest.json) or a manifest file.
        dir: PathBuf,
        /// Print JSON (keys: splits, tags, tag_kinds, tag_details, bad_tracks).
        #[arg(long)]
        json: bool,
    },
}

pub fn run(cmd: DataCommand, quiet: bool) -> Result<()> {
    match cmd {
        DataCommand::Synth {
            out,
            tracks,
            seed,
            seconds,
        } => synth_corpus(out, SynthConfig { tracks, seed, seconds }, quiet),
        DataCommand::Info { dir, json } => info(dir, json),
    }
}

fn synth_corpus(out: PathBuf, config: SynthConfig, quiet: bool) -> Result<()> {
    let bar = progress::bar(config.tracks as u64, "synth", quiet);
    let manifest = synth::write_corpus(&out, &config, &|| bar.inc(1))
        .with_context(|| format!("generating the synthetic corpus in {}", out.display()))?;
    bar.finish_and_clear();
    tracing::info!(
        "wrote {} tracks to {} (manifest hash {})",
        manifest.tracks.len(),
        out.display(),
        &manifest.content_hash()[..16]
    );
    Ok(())
}

fn info(dir: PathBuf, json: bool) -> Result<()> {
    let manifest = Manifest::load(&dir)?;
    let info = DatasetInfo::of(&manifest);
    if json {
        println!("{}", serde_json::to_string_pretty(&info)?);
    } else {
        println!("{}", info.to_text());
    }
    Ok(())
}
