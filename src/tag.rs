//! `tagscale tag`: what a trained model hears in audio files and whole folders (and the
//! collection and model arguments `embed` shares).

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::Args;
use runner::outputs::{ScoreTable, refuse_duplicate_ids};
use runner::tagger::{Tagger, Track, collect_tracks, default_run};
use serde_json::{Map, Value, json};

use crate::store;

/// What could not be tagged or embedded: `(path, message)`, in the order met.
pub type Failures = Vec<(String, String)>;

/// The audio to work on: files and folders.
#[derive(Args)]
pub struct Collection {
    /// Audio files (wav, mp3, ogg/vorbis, flac) and folders (searched recursively for them).
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    /// Only the files in folders whose path relative to the folder matches this pattern
    /// (`*`, `?`, `[…]`, `**` for any depth), e.g. `--glob '**/*.mp3'`.
    #[arg(long)]
    glob: Option<String>,
}

impl Collection {
    /// The tracks, and the paths that gave none (each printed as an error as found).
    pub fn collect(&self) -> Result<(Vec<Track>, Failures)> {
        let glob = self
            .glob
            .as_deref()
            .map(|g| {
                glob::Pattern::new(g).with_context(|| format!("--glob {g:?} is not a pattern"))
            })
            .transpose()?;
        let (tracks, unreadable) = collect_tracks(&self.paths, glob.as_ref());
        let failed: Failures = unreadable
            .into_iter()
            .map(|u| {
                let message = format!("{}: {}", u.path.display(), u.reason);
                eprintln!("error: {message}");
                (u.path.display().to_string(), message)
            })
            .collect();
        if tracks.is_empty() && failed.is_empty() {
            bail!("no audio files (wav, mp3, ogg, flac) in the paths given");
        }
        Ok((tracks, failed))
    }
}

/// Which trained model: a run of the store or an exported directory.
#[derive(Args)]
pub struct ModelChoice {
    /// The run whose model to use (default: the best spectrogram run of the newest sweep).
    #[arg(long, conflicts_with = "model")]
    run: Option<i64>,
    /// An exported model directory (`tagscale export`) instead: no store needed.
    #[arg(long)]
    model: Option<PathBuf>,
}

impl ModelChoice {
    pub fn load(&self, db: &str) -> Result<Tagger> {
        Ok(match &self.model {
            Some(dir) => Tagger::from_dir(dir)?,
            None => {
                let store = store::open_existing(db)?;
                let run = match self.run {
                    Some(id) => id,
                    None => default_run(&store)?,
                };
                Tagger::from_run(&store, run)?
            }
        })
    }
}

#[derive(Args)]
pub struct TagArgs {
    #[command(flatten)]
    collection: Collection,
    #[command(flatten)]
    model: ModelChoice,
    /// Tags shown per file.
    #[arg(long, default_value_t = 10)]
    top: usize,
    /// One JSON object: `files` (path -> [{tag, score}]), `errors`, `warnings`.
    #[arg(long)]
    json: bool,
    /// Also write every score to this CSV: a `track` column (the path relative to its
    /// folder) and one column per tag, the format `tagscale eval --pred` reads.
    #[arg(long)]
    csv: Option<PathBuf>,
    /// Threads the model and the decoding share (default: all of the machine's).
    #[arg(long, value_parser = crate::args::parse_count)]
    threads: Option<usize>,
}

pub fn run(args: TagArgs, db: &str, quiet: bool) -> Result<()> {
    let (tracks, mut failed) = args.collection.collect()?;
    let unreadable_paths = failed.len();
    if args.csv.is_some() {
        refuse_duplicate_ids(&tracks)?;
    }
    let tagger = args.model.load(db)?;
    let mut csv = match &args.csv {
        Some(path) => Some(ScoreTable::new(path, tagger.tags())?),
        None => None,
    };
    let bar = crate::progress::bar(tracks.len() as u64, "tagging", quiet || tracks.len() < 2);
    let (mut results, mut warnings) = (Map::new(), Map::new());
    let mut csv_error = None;
    let threads = args.threads.unwrap_or_else(runner::env::machine_threads);
    tagger.tag_all(&tracks, threads, |_, track, result| {
        bar.inc(1);
        let name = track.path.display().to_string();
        match result {
            Ok(tagged) => {
                if let Some(warning) = &tagged.warning {
                    bar.suspend(|| tracing::warn!("{warning}"));
                    warnings.insert(name.clone(), warning.clone().into());
                }
                if let Some(out) = csv.as_mut().filter(|_| csv_error.is_none()) {
                    csv_error = out.row(track, &tagged).err();
                }
                let top = tagged.scores.iter().take(args.top);
                if args.json {
                    let list = top.map(|(t, s)| json!({"tag": t, "score": s})).collect();
                    results.insert(name, Value::Array(list));
                } else {
                    bar.suspend(|| {
                        println!("{name} ({}):", tagger.source);
                        for (tag, score) in top {
                            println!("  {tag:<24} {score:.3}");
                        }
                    });
                }
            }
            Err(e) => {
                // The message names the file already; `{:#}` adds the causes (the OS reason).
                let message = format!("{:#}", anyhow::Error::from(e));
                bar.suspend(|| eprintln!("error: {message}"));
                failed.push((name, message));
            }
        }
    })?;
    bar.finish_and_clear();
    if let Some(e) = csv_error {
        return Err(e.into());
    }
    if let Some(out) = csv {
        out.finish()?;
    }
    if args.json {
        let errors: Map<String, Value> = failed
            .iter()
            .map(|(f, e)| (f.clone(), Value::String(e.clone())))
            .collect();
        // Files under their own key: a file named `errors` cannot collide with the errors.
        let output = json!({ "files": results, "errors": errors, "warnings": warnings });
        crate::print::json(&output)?;
    }
    if !failed.is_empty() {
        bail!(
            "{} of {} files could not be tagged (the rest were)",
            failed.len(),
            tracks.len() + unreadable_paths
        );
    }
    Ok(())
}
