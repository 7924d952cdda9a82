//! `tagscale db migrate|backup|check`: the store itself.

use anyhow::{Context, Result, bail};
use clap::Subcommand;
use reports::terminal;

use crate::print;
use crate::store;

#[derive(Subcommand)]
pub enum DbCommand {
    /// Create the store if needed and apply pending migrations (opening does this too).
    Migrate,
    /// Write a consistent single-file copy of a SQLite store (safe while sweeps write): the
    /// file to share, not the live `.db`.
    Backup {
        /// The copy to write; must not exist.
        out: std::path::PathBuf,
    },
    /// Check the store: SQLite's integrity and foreign keys, and that every artifact it
    /// records is present with its recorded size and sha256. Exits non-zero on a problem.
    Check {
        #[arg(long)]
        json: bool,
    },
}

pub fn run(cmd: DbCommand, db: &str) -> Result<()> {
    match cmd {
        DbCommand::Migrate => {
            let store = store::open(db)?;
            println!("{}: migrations applied", store.url());
        }
        DbCommand::Backup { out } => {
            let store = store::open_existing(db)?;
            store
                .backup(&out)
                .with_context(|| format!("backing up {} to {}", store.url(), out.display()))?;
            let runs = store.runs(None)?.len();
            println!("{}: {runs} runs copied to {}", store.url(), out.display());
        }
        DbCommand::Check { json } => {
            let store = store::open_existing(db)?;
            let found = tracking::check(&store)?;
            if json {
                print::json(&found)?;
            } else {
                print!("{}", terminal::store_check(store.url(), &found));
            }
            if !found.is_sound() {
                bail!("the store {} has problems (listed above)", store.url());
            }
        }
    }
    Ok(())
}
