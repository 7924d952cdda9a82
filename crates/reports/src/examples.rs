//! `examples.md`: the top tags of a few test tracks — human labels, the deep model, GBT —
//! as in the paper's qualitative table, from the runs' saved test predictions and labels.
//! The dashboard's Listen page shows the same comparison for every test track.

use std::fmt::Write;

use tracking::keys::model::{GBT, SPECTROGRAM, WAVEFORM};

use crate::data::{CellResult, SweepData};
use crate::test_set::{TestSet, as_recorded};

/// Test tracks shown.
const TRACKS: usize = 3;
/// Tags per column.
pub const TOP: usize = 10;

/// The deep model a showcase prefers first.
const DEEP_SHOWCASE_ORDER: [&str; 2] = [SPECTROGRAM, WAVEFORM];

/// The runs a comparison of tags shows by default: the deep model (spectrogram, else
/// waveform) and GBT, each its finished run with the largest training set (first seed).
pub struct Showcase<'a> {
    pub deep: Option<&'a CellResult>,
    pub gbt: Option<&'a CellResult>,
}

impl<'a> Showcase<'a> {
    pub fn of(data: &'a SweepData) -> Self {
        Self {
            deep: DEEP_SHOWCASE_ORDER
                .iter()
                .find_map(|model| largest_finished(data, model)),
            gbt: largest_finished(data, GBT),
        }
    }

    pub fn cells(&self) -> impl Iterator<Item = &'a CellResult> {
        self.deep.into_iter().chain(self.gbt)
    }
}

/// The finished run of `model` with the largest training set (first seed).
fn largest_finished<'a>(data: &'a SweepData, model: &str) -> Option<&'a CellResult> {
    data.cells
        .iter()
        .filter(|c| c.model == model && c.finished())
        .max_by_key(|c| (c.train_size, -c.seed, -c.cell))
}

pub fn markdown(store: &tracking::Store, data: &SweepData) -> String {
    let mut out = String::from("# Examples: top tags of test tracks\n\n");
    let systems: Vec<(String, TestSet)> = Showcase::of(data)
        .cells()
        .filter_map(|c| {
            let run = c.run.as_ref()?;
            let set = TestSet::of_run(store, run.id, as_recorded).ok()?;
            Some((
                format!("{} (n={}, run {})", c.system(), c.train_size, run.id),
                set,
            ))
        })
        .collect();
    let Some((_, labels)) = systems.first() else {
        out.push_str("No finished run with saved test labels in this sweep.\n");
        return out;
    };
    out.push_str("Human labels (classification tags labelled at least 0.5) against the ");
    out.push_str("classification tags each system scores highest, for the deep model and GBT ");
    out.push_str("trained on the largest training set; then the regression tags.\n");
    for (track, id) in labels.tracks.iter().enumerate().take(TRACKS) {
        let _ = write!(
            out,
            "\n## {}\n\n| rank | human labels |",
            crate::markdown_text(id)
        );
        for (name, _) in &systems {
            let _ = write!(out, " {name} |");
        }
        out.push_str("\n|---:|---|");
        out.push_str(&"---|".repeat(systems.len()));
        out.push('\n');
        let ranked = |set: &TestSet| -> Vec<String> {
            match set.track(id) {
                Some(row) => set
                    .top(row, TOP)
                    .iter()
                    .map(|t| format!("{} ({:.2})", crate::markdown_text(t.tag), t.value))
                    .collect(),
                None => vec!["(not a test track of this run)".into()],
            }
        };
        let mut columns = vec![
            labels
                .positives(track)
                .iter()
                .map(|t| crate::markdown_text(t.tag))
                .collect::<Vec<_>>(),
        ];
        columns.extend(systems.iter().map(|(_, set)| ranked(set)));
        let depth = columns.iter().map(Vec::len).max().unwrap_or(0);
        for rank in 0..depth {
            let _ = write!(out, "| {} |", rank + 1);
            for column in &columns {
                let _ = write!(out, " {} |", column.get(rank).map_or("", String::as_str));
            }
            out.push('\n');
        }
        regression_table(&mut out, id, labels, &systems);
    }
    out
}

/// Each regression tag of track `id`: the human label and each system's prediction.
fn regression_table(out: &mut String, id: &str, labels: &TestSet, systems: &[(String, TestSet)]) {
    let Some(row) = labels.track(id) else { return };
    let truth = labels.regression(row);
    if truth.is_empty() {
        return;
    }
    out.push_str("\n| regression tag | human |");
    for (name, _) in systems {
        let _ = write!(out, " {name} |");
    }
    out.push_str("\n|---|---:|");
    out.push_str(&"---:|".repeat(systems.len()));
    out.push('\n');
    for (tag, human, _) in &truth {
        let _ = write!(out, "| {} | {human:.2} |", crate::markdown_text(tag));
        for (_, set) in systems {
            let predicted = set
                .track(id)
                .and_then(|r| set.regression(r).into_iter().find(|(t, ..)| t == tag))
                .map_or("—".to_string(), |(_, _, p)| format!("{p:.2}"));
            let _ = write!(out, " {predicted} |");
        }
        out.push('\n');
    }
}
