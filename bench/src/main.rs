//! `tagscale-bench`: times one piece of tagscale and prints the figures as JSON on stdout.
//!
//! `bench/run.py` (= `just bench`) calls it next to the reference scripts in
//! `bench/reference/`, on the same inputs in the same run, and writes `bench/RESULTS.md`.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result};
use audio_features::{MelConfig, MelExtractor, npy};
use clap::{Parser, Subcommand};

#[derive(Parser)]
struct Cli {
    #[command(subcommand)]
    bench: Bench,
}

#[derive(Subcommand)]
enum Bench {
    /// Log-mel (16 kHz, n_fft 512, hop 256, 96 mels, log10(1 + 10000 x)) of one clip.
    Logmel {
        /// float32 .npy clip at 16 kHz.
        #[arg(long)]
        clip: PathBuf,
        #[arg(long, default_value_t = 50)]
        repeats: usize,
    },
}

fn main() -> Result<()> {
    match Cli::parse().bench {
        Bench::Logmel { clip, repeats } => logmel(clip, repeats),
    }
}

fn logmel(clip: PathBuf, repeats: usize) -> Result<()> {
    let array = npy::read(&clip).with_context(|| format!("reading {}", clip.display()))?;
    let y: Vec<f32> = array.data.iter().map(|&v| v as f32).collect();
    let extractor = MelExtractor::new(MelConfig::default())?;
    // One warm-up run: plans and caches, as the reference's first call.
    let frames = extractor.log_mel(&y).frames;
    let times = time_repeats(repeats, || {
        std::hint::black_box(extractor.log_mel(std::hint::black_box(&y)));
    });
    print_json(serde_json::json!({
        "bench": "logmel",
        "frames": frames,
        "seconds_of_audio": y.len() as f64 / 16_000.0,
        "median_ms": median(&times),
        "min_ms": times.iter().copied().fold(f64::INFINITY, f64::min),
        "repeats": repeats,
    }))
}

/// Wall time of each of `repeats` calls, in milliseconds.
fn time_repeats(repeats: usize, mut f: impl FnMut()) -> Vec<f64> {
    (0..repeats.max(1))
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed().as_secs_f64() * 1e3
        })
        .collect()
}

fn median(xs: &[f64]) -> f64 {
    let mut sorted = xs.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted[sorted.len() / 2]
}

fn print_json(value: serde_json::Value) -> Result<()> {
    println!("{}", serde_json::to_string(&value)?);
    Ok(())
}
