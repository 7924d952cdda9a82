//! `examples.md`: the top tags of a few test tracks — human labels, the deep model, GBT —
//! as in the paper's qualitative table, from the runs' saved test predictions and labels.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::Path;
use tracking::keys::artifact;

use crate::data::{CellResult, SweepData};

/// Test tracks shown.
const TRACKS: usize = 3;
/// Tags per column.
const TOP: usize = 10;

/// A CSV of `track,<tag>...` rows: tag names and a row per track id.
struct TestTable {
    tags: Vec<String>,
    rows: BTreeMap<String, Vec<f64>>,
}

fn read_table(path: &Path) -> Option<TestTable> {
    let mut reader = csv::Reader::from_path(path).ok()?;
    let tags: Vec<String> = reader
        .headers()
        .ok()?
        .iter()
        .skip(1)
        .map(str::to_string)
        .collect();
    let mut rows = BTreeMap::new();
    for record in reader.records() {
        let record = record.ok()?;
        let id = record.get(0)?.to_string();
        let values = record
            .iter()
            .skip(1)
            .map(|v| v.parse().unwrap_or(f64::NAN))
            .collect();
        rows.insert(id, values);
    }
    Some(TestTable { tags, rows })
}

fn artifact_table(store: &tracking::Store, cell: &CellResult, name: &str) -> Option<TestTable> {
    let run = cell.run.as_ref()?;
    let artifacts = store.artifacts(run.id).ok()?;
    let artifact = artifacts.iter().find(|a| a.name == name)?;
    read_table(Path::new(&artifact.path))
}

/// The finished run of `model` with the largest training set (first seed).
fn showcase<'a>(data: &'a SweepData, model: &str) -> Option<&'a CellResult> {
    data.cells
        .iter()
        .filter(|c| c.model == model && c.finished())
        .max_by_key(|c| (c.train_size, -c.seed, -c.cell))
}

fn top(tags: &[String], values: &[f64], keep: impl Fn(f64) -> bool) -> Vec<String> {
    let mut ranked: Vec<(usize, f64)> = values
        .iter()
        .copied()
        .enumerate()
        .filter(|(_, v)| keep(*v))
        .collect();
    ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    ranked
        .iter()
        .take(TOP)
        .map(|(i, v)| format!("{} ({v:.2})", crate::markdown_text(&tags[*i])))
        .collect()
}

pub fn markdown(store: &tracking::Store, data: &SweepData) -> String {
    let mut out = String::from("# Examples: top tags of test tracks\n\n");
    let deep = showcase(data, "spectrogram").or_else(|| showcase(data, "waveform"));
    let gbt = showcase(data, "gbt");
    let systems: Vec<&CellResult> = deep.into_iter().chain(gbt).collect();
    let Some(labels) = systems
        .iter()
        .find_map(|c| artifact_table(store, c, artifact::LABELS_TEST))
    else {
        out.push_str("No finished run with saved test labels in this sweep.\n");
        return out;
    };
    let predictions: Vec<(String, Option<TestTable>)> = systems
        .iter()
        .map(|c| {
            let run = c.run.as_ref().map_or(0, |r| r.id);
            (
                format!("{} (n={}, run {run})", c.system(), c.train_size),
                artifact_table(store, c, artifact::PREDICTIONS_TEST),
            )
        })
        .collect();
    out.push_str("Human labels (tags with a label of at least 0.5) against the top scores of ");
    out.push_str("the deep model and GBT trained on the largest training set.\n");
    for (id, truth) in labels.rows.iter().take(TRACKS) {
        let _ = write!(
            out,
            "\n## {}\n\n| rank | human labels |",
            crate::markdown_text(id)
        );
        for (name, _) in &predictions {
            let _ = write!(out, " {name} |");
        }
        out.push_str("\n|---:|---|");
        out.push_str(&"---|".repeat(predictions.len()));
        out.push('\n');
        let mut columns = vec![top(&labels.tags, truth, |v| v >= 0.5)];
        for (_, table) in &predictions {
            columns.push(
                match table.as_ref().and_then(|t| t.rows.get(id).map(|r| (t, r))) {
                    Some((t, row)) => top(&t.tags, row, |v| v.is_finite()),
                    None => vec!["(predictions missing)".into()],
                },
            );
        }
        let depth = columns.iter().map(Vec::len).max().unwrap_or(0);
        for rank in 0..depth {
            let _ = write!(out, "| {} |", rank + 1);
            for column in &columns {
                let _ = write!(out, " {} |", column.get(rank).map_or("", String::as_str));
            }
            out.push('\n');
        }
    }
    out
}
