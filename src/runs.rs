//! `tagscale runs list|show|compare`: reading the store (the views are `reports::terminal`'s).

use anyhow::Result;
use clap::Subcommand;
use reports::terminal;

use crate::print;
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
                return print::json(&rows);
            }
            rows.iter()
                .for_each(|row| println!("{}", terminal::group_line(row)));
        }
        RunsCommand::List {
            sweep, json: true, ..
        } => print::json(&terminal::run_list_json(&store, sweep)?)?,
        RunsCommand::List { sweep, .. } => print!("{}", terminal::run_list(&store, sweep)?),
        RunsCommand::Show { id, json: true } => {
            print::json(&terminal::run_detail_json(&store, id)?)?
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
                return print::json(&comparison);
            }
            print!("{}", terminal::group_comparison_text(&comparison));
        }
        RunsCommand::Compare { a, b, json, .. } => {
            let comparison = terminal::RunComparison::read(&store, a, b)?;
            if json {
                return print::json(&comparison.json());
            }
            print!("{}", comparison.text());
        }
    }
    Ok(())
}
