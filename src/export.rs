//! `tagscale export`: a trained run as a model directory to share.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;

use crate::store;

#[derive(Args)]
pub struct ExportArgs {
    /// The run to export (a FINISHED deep run; `tagscale runs list`).
    run: i64,
    /// The model directory to write (must not exist, or be empty).
    #[arg(long)]
    out: PathBuf,
}

pub fn run(args: ExportArgs, db: &str) -> Result<()> {
    let store = store::open_existing(db)?;
    let manifest = runner::export::export(&store, args.run, &args.out)?;
    println!(
        "run {} exported to {} ({} tags; {}, {})",
        args.run,
        args.out.display(),
        manifest.tags.len(),
        runner::export::MANIFEST_FILE,
        runner::export::CARD_FILE
    );
    Ok(())
}
