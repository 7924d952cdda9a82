//! `tagscale embed`: song-level embeddings of audio files and folders, as features for a
//! classifier of one's own (musicnn's extractor).

use std::path::PathBuf;

use anyhow::{Result, bail};
use clap::Args;
use models::EmbeddingLayer;
use runner::outputs::{EmbeddingOut, refuse_duplicate_ids};

use crate::tag::{Collection, ModelChoice};

#[derive(Args)]
pub struct EmbedArgs {
    #[command(flatten)]
    collection: Collection,
    #[command(flatten)]
    model: ModelChoice,
    /// Where to write: a `.npy` of `[tracks, dims]` (plus `<name>.tracks.csv` beside it, the
    /// track of each row), or with `--per-track` a folder of one `.npy` per track.
    #[arg(long)]
    out: PathBuf,
    /// `pooled`: the back-end's max ‖ mean pooled features; `dense`: the dense layer.
    #[arg(long, default_value = "pooled")]
    layer: EmbeddingLayer,
    /// One `[dims]` `.npy` per track under OUT, at the track's relative path + `.npy`.
    #[arg(long)]
    per_track: bool,
    /// Threads the model and the decoding share (default: all of the machine's).
    #[arg(long, value_parser = crate::args::parse_count)]
    threads: Option<usize>,
}

pub fn run(args: EmbedArgs, db: &str, quiet: bool) -> Result<()> {
    let (tracks, mut failed) = args.collection.collect()?;
    let unreadable_paths = failed.len();
    refuse_duplicate_ids(&tracks)?;
    let tagger = args.model.load(db)?;
    let dims = tagger.embedding_dims(args.layer);
    let bar = crate::progress::bar(tracks.len() as u64, "embedding", quiet || tracks.len() < 2);
    let threads = args.threads.unwrap_or_else(runner::env::machine_threads);
    let mut out = if args.per_track {
        EmbeddingOut::per_track(&args.out)
    } else {
        EmbeddingOut::matrix(&args.out, dims)
    };
    let mut write_error = None;
    tagger.embed_all(&tracks, threads, args.layer, |_, track, embedding| {
        bar.inc(1);
        match embedding {
            Ok(values) => {
                if write_error.is_none() {
                    write_error = out.add(track, values).err();
                }
            }
            Err(e) => {
                let message = format!("{:#}", anyhow::Error::from(e));
                bar.suspend(|| eprintln!("error: {message}"));
                failed.push((track.path.display().to_string(), message));
            }
        }
    })?;
    bar.finish_and_clear();
    if let Some(e) = write_error {
        return Err(e.into());
    }
    let embedded = out.finish()?;
    println!(
        "{embedded} tracks embedded ({} layer, {dims} values each) into {}",
        args.layer.as_str(),
        args.out.display()
    );
    if !failed.is_empty() {
        bail!(
            "{} of {} files could not be embedded (the rest were)",
            failed.len(),
            tracks.len() + unreadable_paths
        );
    }
    Ok(())
}
