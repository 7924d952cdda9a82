//! `tagscale runs list|show|compare` and `tagscale db migrate|backup|check`: reading the
//! store (the views are `reports::terminal`'s).

use anyhow::{Context, Result, bail};
use clap::Subcommand;
use reports::terminal;
use serde::Serialize;

use crate::store;

#[derive(Subcommand)]
pub enum RunsCommand {
    /// Every run (or those of one sweep), oldest first.
    List {
        /// Only the runs of this sweep's cells.
        #[arg(long)]
        sweep: Option<i64>,
        /// A JSON array instead of a table.
        #[arg(long)]
        json: bool,
        /// Pool runs into groups and show each group's test figures as mean ± std over its
        /// finished runs. Without a value: runs whose resolved configs differ only by seed;
        /// with `KEY,KEY…` (config keys, dotted for nested ones: `model,train_size,train.lr`):
        /// runs that share those values.
        #[arg(long, num_args = 0..=1, default_missing_value = "", value_name = "KEYS")]
        group_by: Option<String>,
    },
    /// One run: config, code version, host, per-epoch and final metrics, artifacts.
    Show {
        id: i64,
        #[arg(long)]
        json: bool,
    },
    /// What differs between two runs: config, code, host, metrics. With `--groups`, between
    /// the groups of runs that differ from A and from B only by seed: config, and each test
    /// figure's mean ± std per group.
    Compare {
        a: i64,
        b: i64,
        #[arg(long)]
        groups: bool,
        #[arg(long)]
        json: bool,
    },
}

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

/// Pretty JSON on stdout.
fn print_json(value: &impl Serialize) -> Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

pub fn run(cmd: RunsCommand, db: &str) -> Result<()> {
    let store = store::open_existing(db)?;
    match cmd {
        RunsCommand::List {
            sweep,
            json,
            group_by: Some(keys),
        } => {
            let rows = terminal::group_list(&store, sweep, &keys)?;
            if json {
                return print_json(&rows);
            }
            rows.iter()
                .for_each(|row| println!("{}", terminal::group_line(row)));
        }
        RunsCommand::List {
            sweep, json: true, ..
        } => print_json(&terminal::run_list_json(&store, sweep)?)?,
        RunsCommand::List { sweep, .. } => print!("{}", terminal::run_list(&store, sweep)?),
        RunsCommand::Show { id, json: true } => {
            print_json(&terminal::run_detail_json(&store, id)?)?
        }
        RunsCommand::Show { id, .. } => print!("{}", terminal::run_detail(&store, id)?),
        RunsCommand::Compare {
            a,
            b,
            groups: true,
            json,
        } => {
            let comparison = terminal::group_comparison(&store, a, b)?;
            if json {
                return print_json(&comparison);
            }
            print!("{}", terminal::group_comparison_text(&comparison));
        }
        RunsCommand::Compare { a, b, json, .. } => {
            let comparison = terminal::RunComparison::read(&store, a, b)?;
            if json {
                return print_json(&comparison.json());
            }
            print!("{}", comparison.text());
        }
    }
    Ok(())
}

pub fn db(cmd: DbCommand, db: &str) -> Result<()> {
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
                print_json(&found)?;
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
