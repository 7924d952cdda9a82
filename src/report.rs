//! `tagscale report` and `tagscale tag`: what a sweep's results look like, and what a
//! trained model hears in any audio file.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::Args;
use tracking::Store;

use crate::sweep::open_existing_store;

#[derive(Args)]
pub struct ReportArgs {
    /// The sweep's id (default: the newest sweep; `runs list` shows them).
    #[arg(long, conflicts_with = "grid")]
    sweep: Option<i64>,
    /// The grid file whose sweep to report.
    grid: Option<PathBuf>,
    /// Output directory (default: reports/<experiment>/).
    #[arg(long)]
    out: Option<PathBuf>,
}

#[derive(Args)]
pub struct TagArgs {
    /// Audio files (wav, mp3, ogg/vorbis, flac).
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// The run whose model tags (default: the best spectrogram run of the newest sweep).
    #[arg(long)]
    run: Option<i64>,
    /// Tags shown per file.
    #[arg(long, default_value_t = 10)]
    top: usize,
    /// One JSON object: file -> [{tag, score}], plus `errors`.
    #[arg(long)]
    json: bool,
}

pub fn report(args: ReportArgs, db: &str) -> Result<()> {
    let store = open_existing_store(db)?;
    let sweep = match (args.sweep, &args.grid) {
        (Some(id), _) => id,
        (None, Some(grid)) => {
            let text = std::fs::read_to_string(grid)
                .with_context(|| format!("cannot read {}", grid.display()))?;
            match store.sweep_by_spec(&text)? {
                Some(id) => id,
                None => bail!(
                    "{}: this grid has not been swept in {} (run `tagscale sweep` first)",
                    grid.display(),
                    store.url()
                ),
            }
        }
        (None, None) => store
            .latest_sweep(None)?
            .context("the store holds no sweep yet (run `tagscale sweep GRID.toml` first)")?,
    };
    let out = write_report(&store, sweep, args.out.as_deref())?;
    println!("report of sweep {sweep} in {}", out.display());
    Ok(())
}

/// Write the report of `sweep` (default directory `reports/<experiment>/`).
pub fn write_report(store: &Store, sweep: i64, out: Option<&Path>) -> Result<PathBuf> {
    let out = match out {
        Some(dir) => dir.to_path_buf(),
        None => Path::new("reports").join(store.sweep(sweep)?.experiment),
    };
    reports::write(store, sweep, &out)
        .with_context(|| format!("writing the report of sweep {sweep} to {}", out.display()))?;
    Ok(out)
}

pub fn tag(args: TagArgs, db: &str) -> Result<()> {
    let store = open_existing_store(db)?;
    let run = match args.run {
        Some(id) => id,
        None => runner::tagger::default_run(&store)?,
    };
    let tagger = runner::tagger::Tagger::from_run(&store, run)?;
    let mut failed = Vec::new();
    let mut results = serde_json::Map::new();
    let mut warnings = serde_json::Map::new();
    for file in &args.files {
        match tagger.tag(file) {
            Ok(tagged) => {
                if let Some(warning) = tagged.warning {
                    tracing::warn!("{warning}");
                    warnings.insert(file.display().to_string(), warning.into());
                }
                let top: Vec<(String, f32)> = tagged.scores.into_iter().take(args.top).collect();
                if args.json {
                    let list = top
                        .iter()
                        .map(|(t, s)| serde_json::json!({"tag": t, "score": s}))
                        .collect();
                    results.insert(file.display().to_string(), serde_json::Value::Array(list));
                } else {
                    println!("{} (run {run}):", file.display());
                    for (tag, score) in top {
                        println!("  {tag:<24} {score:.3}");
                    }
                }
            }
            Err(e) => {
                // The message names the file already; `{:#}` adds the causes (the OS reason).
                let message = format!("{:#}", anyhow::Error::from(e));
                eprintln!("error: {message}");
                failed.push((file.display().to_string(), message));
            }
        }
    }
    if args.json {
        let errors: serde_json::Map<String, serde_json::Value> = failed
            .iter()
            .map(|(f, e)| (f.clone(), serde_json::Value::String(e.clone())))
            .collect();
        // Files under their own key: a file named `errors` cannot collide with the errors.
        let output =
            serde_json::json!({ "files": results, "errors": errors, "warnings": warnings });
        println!("{}", serde_json::to_string_pretty(&output)?);
    }
    if !failed.is_empty() {
        bail!(
            "{} of {} files could not be tagged",
            failed.len(),
            args.files.len()
        );
    }
    Ok(())
}
