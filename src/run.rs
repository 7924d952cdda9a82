//! `tagscale run GRID --cell K`: one cell of a grid (what workers and Slurm tasks run).

use std::path::PathBuf;

use anyhow::{Result, bail};
use clap::Args;
use runner::Env;
use runner::execute::{self, CellOutcome, GridFile};
use tracking::Claim;

use crate::args::parse_count;
use crate::{env, print, progress, store};

#[derive(Args)]
pub struct RunArgs {
    /// The grid file.
    grid: PathBuf,
    /// The cell to run (0-based, in `sweep --dry-run` order; what a Slurm array task passes).
    #[arg(long)]
    cell: usize,
    /// Training threads (default: all of the machine's).
    #[arg(long, value_parser = parse_count)]
    threads: Option<usize>,
    /// Run the cell even if its last run FAILED.
    #[arg(long)]
    retry_failed: bool,
}

pub fn run(args: RunArgs, db: &str, quiet: bool) -> Result<()> {
    let grid = GridFile::load(&args.grid)?;
    let store = store::open(db)?;
    let mut env = Env::from_process(db, env::code_version()?)?;
    if let Some(threads) = args.threads {
        env = env.with_threads(threads);
    }
    let spinner = progress::RunSpinner::new(quiet);
    let outcome = execute::run_cell(
        &store,
        &env,
        &grid,
        args.cell,
        args.retry_failed,
        env::interrupt_flag(),
        &spinner,
    )?;
    drop(spinner);
    let cell = args.cell;
    match outcome {
        CellOutcome::Ran(outcome) => print::outcome(&store, &outcome),
        CellOutcome::Skipped(Claim::Finished(id)) => {
            println!("cell {cell} already FINISHED as run {id}");
            Ok(())
        }
        CellOutcome::Skipped(Claim::Held(id)) => {
            println!("cell {cell} is being run by a live process (run {id})");
            Ok(())
        }
        CellOutcome::Skipped(Claim::Failed(id)) => {
            bail!("cell {cell}: its last run ({id}) FAILED; pass --retry-failed to run it again")
        }
        CellOutcome::Skipped(Claim::Claimed(id)) => bail!("run {id} was claimed but not run"),
    }
}
