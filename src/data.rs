//! `tagscale data …`: the synthetic corpus, dataset summaries, importers and the cache.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Subcommand;
use datasets::cache::{self, FeatureConfig};
use datasets::import::{csv_manifest, jamendo, mtat};
use datasets::info::DatasetInfo;
use datasets::synth::{self, SynthConfig};
use datasets::{Manifest, TagKind};

use crate::progress;
use runner::env::data_root;

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
    /// Read a real dataset's own files into a manifest.
    #[command(subcommand)]
    Import(ImportCommand),
    /// Pre-compute the feature cache (waveforms, log-mels, descriptors) of a grid's dataset
    /// or of a dataset directory.
    Cache {
        /// A grid file (its [dataset] and [features]) or a dataset directory (manifest.json).
        source: PathBuf,
        /// Mel bands of the cached log-mels (dataset directories; a grid sets its own).
        #[arg(long, default_value_t = 96)]
        n_mels: usize,
        /// Tracks per shard (bounds memory: one shard is held at a time).
        #[arg(long, default_value_t = 128)]
        shard_size: usize,
        /// Cache root (default: $TAGSCALE_DATA/cache).
        #[arg(long)]
        cache_root: Option<PathBuf>,
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

#[derive(Subcommand)]
pub enum ImportCommand {
    /// MagnaTagATune: DIR/annotations_final.csv and the mp3 folders beside it.
    Mtat {
        dir: PathBuf,
        /// Where to write manifest.json (default: $TAGSCALE_DATA/mtat).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Keep the N most frequent tags.
        #[arg(long, default_value_t = mtat::TOP_TAGS)]
        top_tags: usize,
        /// Use a split list (`clip_id split` per line) instead of the folder-letter split.
        #[arg(long)]
        split_list: Option<PathBuf>,
    },
    /// MTG-Jamendo: DIR/<prefix>-{train,validation,test}.tsv.
    Jamendo {
        dir: PathBuf,
        /// Where the audio lives (PATH column resolves against it; default: DIR).
        #[arg(long)]
        audio: Option<PathBuf>,
        /// File prefix of the split files.
        #[arg(long, default_value = "autotagging_top50tags")]
        prefix: String,
        /// Where to write manifest.json (default: $TAGSCALE_DATA/jamendo).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// A CSV/TSV with a `path` column and one numeric column per tag (values in [0, 1]).
    Csv {
        file: PathBuf,
        /// Override an inferred tag kind: `--kind valence=regression` (repeatable).
        #[arg(long = "kind", value_parser = parse_kind)]
        kinds: Vec<(String, TagKind)>,
        /// Seed of the split by group for rows without a `split` value.
        #[arg(long, default_value_t = 7)]
        split_seed: u64,
        /// Where to write manifest.json (default: $TAGSCALE_DATA/<file stem>).
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

fn parse_kind(s: &str) -> std::result::Result<(String, TagKind), String> {
    let (tag, kind) = s
        .rsplit_once('=')
        .ok_or_else(|| format!("expected TAG=KIND, got {s:?}"))?;
    Ok((
        tag.to_string(),
        kind.parse()
            .map_err(|e: metrics::MetricsError| e.to_string())?,
    ))
}

/// `$TAGSCALE_DATA` or `data/`.
pub fn run(cmd: DataCommand, quiet: bool) -> Result<()> {
    match cmd {
        DataCommand::Synth {
            out,
            tracks,
            seed,
            seconds,
        } => synth_corpus(
            out,
            SynthConfig {
                tracks,
                seed,
                seconds,
            },
            quiet,
        ),
        DataCommand::Info { dir, json } => info(dir, json),
        DataCommand::Import(cmd) => import(cmd),
        DataCommand::Cache {
            source,
            n_mels,
            shard_size,
            cache_root,
        } => build_cache(source, n_mels, shard_size, cache_root, quiet),
    }
}

fn import(cmd: ImportCommand) -> Result<()> {
    let (manifest, out) = match cmd {
        ImportCommand::Mtat {
            dir,
            out,
            top_tags,
            split_list,
        } => {
            let split = split_list.map_or(mtat::MtatSplit::FolderLetter, mtat::MtatSplit::List);
            (
                mtat::import(&dir, top_tags, &split)?,
                out.unwrap_or_else(|| data_root().join("mtat")),
            )
        }
        ImportCommand::Jamendo {
            dir,
            audio,
            prefix,
            out,
        } => {
            let audio = audio.unwrap_or_else(|| dir.clone());
            (
                jamendo::import(&dir, &prefix, &audio)?,
                out.unwrap_or_else(|| data_root().join("jamendo")),
            )
        }
        ImportCommand::Csv {
            file,
            kinds,
            split_seed,
            out,
        } => {
            let manifest = csv_manifest::import(&file, &kinds, split_seed)?;
            let out = out.unwrap_or_else(|| data_root().join(&manifest.name));
            (manifest, out)
        }
    };
    let path = manifest.save(&out)?;
    tracing::info!(
        "{} tracks, {} tags, {} bad tracks -> {}",
        manifest.tracks.len(),
        manifest.schema.len(),
        manifest.bad_tracks.len(),
        path.display()
    );
    for bad in &manifest.bad_tracks {
        let where_ = bad
            .path
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        tracing::warn!("left out {} {where_}: {}", bad.id, bad.reason);
    }
    Ok(())
}

fn build_cache(
    source: PathBuf,
    n_mels: usize,
    shard_size: usize,
    root: Option<PathBuf>,
    quiet: bool,
) -> Result<()> {
    let (manifest, config) = if source.extension().is_some_and(|e| e == "toml") {
        let grid = runner::Grid::load(&source)?;
        let manifest = runner::dataset::manifest(&grid, &data_root())?;
        (manifest, runner::dataset::feature_config(&grid))
    } else {
        let config = FeatureConfig::with_mels(n_mels);
        config.mel.validate().context("invalid --n-mels")?;
        (Manifest::load(&source)?, config)
    };
    let root = root.unwrap_or_else(|| data_root().join("cache"));
    let cache_dir = cache::cache_dir(&root, &manifest, &config);
    let bar = progress::bar(manifest.tracks.len() as u64, "cache", quiet);
    let built = cache::build(&cache_dir, &manifest, &config, shard_size, &|n| bar.inc(n))
        .with_context(|| format!("building the feature cache in {}", cache_dir.display()))?;
    bar.finish_and_clear();
    let bad = built.bad_tracks();
    for b in &bad {
        tracing::warn!("bad track {}: {}", b.id, b.reason);
    }
    tracing::info!(
        "cache of {} tracks ({} bad) in {}",
        manifest.tracks.len(),
        bad.len(),
        cache_dir.display()
    );
    Ok(())
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
        crate::print::json(&info)?;
    } else {
        println!("{}", info.to_text());
    }
    Ok(())
}
