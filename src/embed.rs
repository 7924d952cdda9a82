//! `tagscale embed`: song-level embeddings of audio files and folders, as features for a
//! classifier of one's own (musicnn's extractor).

use std::path::{Component, Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::Args;
use models::EmbeddingLayer;

use crate::tag::{Collection, ModelChoice, refuse_duplicate_ids};

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
    let (mut rows, mut ids, mut write_error) = (Vec::new(), Vec::new(), None);
    tagger.embed_all(&tracks, threads, args.layer, |_, track, embedding| {
        bar.inc(1);
        match embedding {
            Ok(values) if args.per_track => {
                if write_error.is_none() {
                    write_error = write_one(&args.out, &track.id, &values).err();
                }
                ids.push((track.id.clone(), track.path.display().to_string()));
            }
            Ok(values) => {
                rows.extend(values);
                ids.push((track.id.clone(), track.path.display().to_string()));
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
        return Err(e);
    }
    if !args.per_track {
        audio_features::npy::write_f32(&args.out, &[ids.len(), dims], &rows)
            .with_context(|| format!("cannot write {}", args.out.display()))?;
        write_track_list(&tracks_csv(&args.out), &ids)?;
    }
    println!(
        "{} tracks embedded ({} layer, {dims} values each) into {}",
        ids.len(),
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

/// `emb.npy` → `emb.tracks.csv`.
fn tracks_csv(npy: &Path) -> PathBuf {
    let stem = npy
        .file_stem()
        .map_or_else(|| "embeddings".into(), |s| s.to_string_lossy().into_owned());
    npy.with_file_name(format!("{stem}.tracks.csv"))
}

fn write_track_list(path: &Path, ids: &[(String, String)]) -> Result<()> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    writer.write_record(["row", "track", "path"])?;
    for (row, (id, file)) in ids.iter().enumerate() {
        writer.write_record([row.to_string().as_str(), id, file])?;
    }
    let bytes = writer.into_inner().map_err(|e| e.into_error())?;
    datasets::atomic_write(path, &bytes).with_context(|| format!("cannot write {}", path.display()))
}

/// `--per-track`: `OUT/<id>.npy`, the id's plain components only (a track given by an
/// absolute path or with `..` stays inside OUT).
fn write_one(out: &Path, id: &str, values: &[f32]) -> Result<()> {
    let relative: PathBuf = Path::new(id)
        .components()
        .filter_map(|c| match c {
            Component::Normal(part) => Some(part),
            _ => None,
        })
        .collect();
    let mut name = out.join(relative).into_os_string();
    name.push(".npy");
    let path = PathBuf::from(name);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    audio_features::npy::write_f32(&path, &[values.len()], values)
        .with_context(|| format!("cannot write {}", path.display()))
}
