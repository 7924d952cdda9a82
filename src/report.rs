//! `tagscale report`: what a sweep's results look like.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::Args;
use tracking::Store;

use crate::store;

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

pub fn run(args: ReportArgs, db: &str) -> Result<()> {
    let store = store::open_existing(db)?;
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
