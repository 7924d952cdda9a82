//! What several commands print: a sweep's cells, a run's end, pretty JSON.

use std::collections::BTreeMap;
use std::io::Write;

use anyhow::{Result, bail};
use reports::terminal::{self, CellLine, macro_summary};
use runner::RunOutcome;
use runner::slurm::TaskState;
use runner::sweep::SweepCell;
use serde::Serialize;
use tracking::{Status, Store};

/// A sweep's cells with their runs and test figures; with `slurm`, each cell's array task and
/// its state in Slurm.
pub fn cells(
    store: &Store,
    cells: &[SweepCell],
    slurm: Option<&BTreeMap<i64, TaskState>>,
) -> Result<()> {
    let lines: Vec<CellLine<'_>> = cells
        .iter()
        .map(|c| CellLine {
            index: c.index,
            axes: c.config.axes(),
            run: c.run.as_ref(),
            task: slurm
                .and_then(|tasks| tasks.get(&(c.index as i64)))
                .map(|t| format!("{} {}", t.task, t.state)),
        })
        .collect();
    print!(
        "{}",
        terminal::sweep_cell_table(store, &lines, slurm.is_some())?
    );
    Ok(())
}

/// One line for a finished run; an error for a failed or killed one.
pub fn outcome(store: &Store, outcome: &RunOutcome) -> Result<()> {
    match outcome.status {
        Status::Finished => {
            let figures = macro_summary(&store.run_metrics(outcome.id)?);
            println!("run {} FINISHED  {figures}", outcome.id);
            Ok(())
        }
        status => bail!(
            "run {} {status}: {}",
            outcome.id,
            outcome.error.as_deref().unwrap_or("no error recorded")
        ),
    }
}

/// Pretty JSON on stdout (a closed pipe is an error `main` treats as success, not a panic).
pub fn json(value: &impl Serialize) -> Result<()> {
    let text = serde_json::to_string_pretty(value)?;
    writeln!(std::io::stdout().lock(), "{text}")?;
    Ok(())
}
