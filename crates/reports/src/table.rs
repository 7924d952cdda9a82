//! The Δ-table in the paper's layout: per training-set size, GBT, waveform, spectrogram and
//! Δ (spectrogram − waveform) rows; ROC-AUC, PR-AUC, RMSE columns; mean ± std over seeds and
//! a 95 % bootstrap interval (seeds and test tracks; paired for Δ); the best system per size
//! in bold when its interval against the runner-up excludes 0, else both marked tied. Cells
//! without figures say why instead of vanishing.

use std::fmt::Write;

use metrics::Interval;
use tracking::keys::{metric, split};

use crate::data::{METRICS, Metric, SweepData, System};
use crate::uncertainty::TestSets;

/// One system's figures at one size.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// Mean and sample std over the seeds that finished, per metric.
    pub values: Vec<Option<(f64, f64)>>,
    /// Per metric, the 95 % interval (of the value, or of the difference for Δ rows).
    pub intervals: Vec<Option<Interval>>,
    pub seeds: usize,
    /// Cells without figures: `cell 3: FAILED (run 7): …`.
    pub problems: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum RowKind {
    System(System),
    /// The constant prediction of each tag's training mean: the floor a model must clear.
    Prior,
    /// Δ = spectrogram − waveform on one backend.
    Delta {
        backend: String,
    },
    /// A deep model − GBT (the comparison the crossover is about).
    VersusGbt {
        system: System,
    },
}

impl RowKind {
    /// Whether the row holds a difference between two systems rather than figures.
    fn is_difference(&self) -> bool {
        matches!(self, RowKind::Delta { .. } | RowKind::VersusGbt { .. })
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub size: i64,
    pub label: String,
    pub kind: RowKind,
    pub entry: Entry,
    /// Per metric: whether this row holds the best value of its size, separated from the
    /// runner-up by its interval.
    pub best: Vec<bool>,
    /// Per metric: the best and the runner-up, not separated by the interval of their
    /// difference.
    pub tied: Vec<bool>,
}

impl Row {
    /// Whether the metric's Δ interval leaves out 0 (Δ rows only).
    fn separated(&self, metric: usize) -> bool {
        self.kind.is_difference()
            && self.entry.intervals[metric].is_some_and(|i| i.low > 0.0 || i.high < 0.0)
    }
}

/// The table's rows, grouped by size; intervals from `tests` where it has the test sets.
pub fn rows(data: &SweepData, tests: &TestSets) -> Vec<Row> {
    let systems = data.systems();
    let backends = data.deep_backends();
    let mut rows = Vec::new();
    for size in data.sizes() {
        let mut group: Vec<Row> = systems
            .iter()
            .map(|system| Row {
                size,
                label: system.label.clone(),
                kind: RowKind::System(system.clone()),
                entry: entry(data, tests, system, size),
                best: vec![false; METRICS.len()],
                tied: vec![false; METRICS.len()],
            })
            .collect();
        mark_best(&mut group, tests, size);
        if let Some(entry) = prior_entry(data, size) {
            group.insert(
                0,
                Row {
                    size,
                    label: PRIOR_LABEL.into(),
                    kind: RowKind::Prior,
                    entry,
                    best: vec![false; METRICS.len()],
                    tied: vec![false; METRICS.len()],
                },
            );
        }
        for (b, backend) in backends.iter().enumerate() {
            let find = |model: &str| {
                group.iter().find(|r| {
                    matches!(&r.kind, RowKind::System(s)
                        if s.model == model && s.backend.as_ref() == Some(backend))
                })
            };
            let (Some(spec), Some(wave)) = (find("spectrogram"), find("waveform")) else {
                continue;
            };
            let values = (0..METRICS.len())
                .map(|i| {
                    metrics::delta(
                        spec.entry.values[i].map(|v| v.0),
                        wave.entry.values[i].map(|v| v.0),
                    )
                    .map(|d| (d, 0.0))
                })
                .collect();
            let mut label = "Δ (spectrogram − waveform)".to_string();
            if backends.len() > 1 {
                label.push_str(&format!(" [{backend}]"));
            }
            group.push(Row {
                size,
                label,
                kind: RowKind::Delta {
                    backend: backend.clone(),
                },
                entry: Entry {
                    values,
                    intervals: match (&spec.kind, &wave.kind) {
                        (RowKind::System(s), RowKind::System(w)) => tests
                            .difference(s, w, size, 1 + b as u64)
                            .into_iter()
                            .map(|d| d.map(|d| d.interval))
                            .collect(),
                        _ => vec![None; METRICS.len()],
                    },
                    seeds: spec.entry.seeds.min(wave.entry.seeds),
                    problems: Vec::new(),
                },
                best: vec![false; METRICS.len()],
                tied: vec![false; METRICS.len()],
            });
        }
        let versus = versus_gbt_rows(&group, tests, size);
        group.extend(versus);
        rows.extend(group);
    }
    rows
}

/// Each deep system − GBT at one size, with its paired interval.
fn versus_gbt_rows(group: &[Row], tests: &TestSets, size: i64) -> Vec<Row> {
    let system_of = |r: &Row| match &r.kind {
        RowKind::System(s) => Some(s.clone()),
        _ => None,
    };
    let Some((gbt_row, gbt)) = group
        .iter()
        .find_map(|r| system_of(r).filter(|s| s.model == "gbt").map(|s| (r, s)))
    else {
        return Vec::new();
    };
    group
        .iter()
        .filter_map(|r| system_of(r).filter(|s| s.model != "gbt").map(|s| (r, s)))
        .enumerate()
        .map(|(k, (row, system))| Row {
            size,
            label: format!("{} − GBT", system.label),
            entry: Entry {
                values: (0..METRICS.len())
                    .map(|i| {
                        metrics::delta(
                            row.entry.values[i].map(|v| v.0),
                            gbt_row.entry.values[i].map(|v| v.0),
                        )
                        .map(|d| (d, 0.0))
                    })
                    .collect(),
                intervals: tests
                    .difference(&system, &gbt, size, 50 + k as u64)
                    .into_iter()
                    .map(|d| d.map(|d| d.interval))
                    .collect(),
                seeds: row.entry.seeds.min(gbt_row.entry.seeds),
                problems: Vec::new(),
            },
            kind: RowKind::VersusGbt { system },
            best: vec![false; METRICS.len()],
            tied: vec![false; METRICS.len()],
        })
        .collect()
}

/// The reference row's label.
pub const PRIOR_LABEL: &str = "Constant (training mean)";

/// The label prior's figures at `size`: one value per seed (every cell of a seed and size
/// trains on the same subset), from the runs that recorded it.
fn prior_entry(data: &SweepData, size: i64) -> Option<Entry> {
    let mut seeds = Vec::new();
    let mut per_seed = Vec::new();
    for cell in data.cells.iter().filter(|c| c.train_size == size) {
        if seeds.contains(&cell.seed) || cell.prior_value(Metric::Rmse).is_none() {
            continue;
        }
        seeds.push(cell.seed);
        per_seed.push(cell);
    }
    if per_seed.is_empty() {
        return None;
    }
    let values = METRICS
        .iter()
        .map(|&m| {
            let v: Vec<f64> = per_seed.iter().filter_map(|c| c.prior_value(m)).collect();
            metrics::mean_std(&v)
        })
        .collect();
    Some(Entry {
        values,
        intervals: vec![None; METRICS.len()],
        seeds: per_seed.len(),
        problems: Vec::new(),
    })
}

fn entry(data: &SweepData, tests: &TestSets, system: &System, size: i64) -> Entry {
    let cells = data.cells_of(system, size);
    let values = METRICS
        .iter()
        .map(|&m| {
            let v: Vec<f64> = cells.iter().filter_map(|c| c.macro_value(m)).collect();
            metrics::mean_std(&v)
        })
        .collect();
    Entry {
        values,
        intervals: tests.interval(system, size),
        seeds: cells.iter().filter(|c| c.finished()).count(),
        problems: cells
            .iter()
            .filter_map(|c| c.problem().map(|p| format!("cell {}: {p}", c.cell)))
            .collect(),
    }
}

/// Mark each metric's best system of a size: bold when the paired interval of its difference
/// from the runner-up excludes 0, else best and runner-up tied. Without test sets to pair
/// (runs that saved none), the best is bold as before intervals existed.
fn mark_best(group: &mut [Row], tests: &TestSets, size: i64) {
    for (i, metric) in METRICS.iter().enumerate() {
        let mut ranked: Vec<(usize, f64)> = group
            .iter()
            .enumerate()
            .filter_map(|(r, row)| row.entry.values[i].map(|(mean, _)| (r, mean)))
            .collect();
        ranked.sort_by(|a, b| {
            let order = a.1.total_cmp(&b.1);
            if metric.higher_is_better() {
                order.reverse()
            } else {
                order
            }
        });
        let (best, runner_up) = match ranked.as_slice() {
            [] => continue,
            [(best, _)] => (*best, None),
            [(best, _), (second, _), ..] => (*best, Some(*second)),
        };
        let system = |r: usize| match &group[r].kind {
            RowKind::System(s) => Some(s.clone()),
            _ => None,
        };
        let difference = runner_up.and_then(|second| {
            let (a, b) = (system(best)?, system(second)?);
            tests.difference(&a, &b, size, 100 + i as u64)[i].map(|d| (second, d))
        });
        match difference {
            Some((second, d)) if !d.excludes_zero() => {
                group[best].tied[i] = true;
                group[second].tied[i] = true;
            }
            _ => group[best].best[i] = true,
        }
    }
}

/// `0.812 ± 0.004 [0.790, 0.833]` (std only with several seeds, interval where the test
/// sets were saved), `+0.031 [+0.012, +0.050]†` for Δ (†: the interval excludes 0), `≈` after
/// a tied best, or what went wrong.
pub fn cell_text(row: &Row, i: usize) -> String {
    let interval = row.entry.intervals[i];
    let mut text = match (&row.kind, row.entry.values[i]) {
        (kind, Some((d, _))) if kind.is_difference() => match interval {
            Some(ci) => format!("{d:+.3} [{:+.3}, {:+.3}]", ci.low, ci.high),
            None => format!("{d:+.3}"),
        },
        (_, Some((mean, std))) => {
            let mut text = format!("{mean:.3}");
            if row.entry.seeds > 1 {
                text.push_str(&format!(" ± {std:.3}"));
            }
            if let Some(ci) = interval {
                text.push_str(&format!(" [{:.3}, {:.3}]", ci.low, ci.high));
            }
            text
        }
        (_, None) if !row.entry.problems.is_empty() => "failed".into(),
        (_, None) => "—".into(),
    };
    if row.separated(i) {
        text.push('†');
    }
    if row.tied[i] {
        text.push_str(" ≈");
    }
    text
}

/// What the marks of the table mean, when it has intervals.
pub fn legend(rows: &[Row]) -> Option<&'static str> {
    rows.iter()
        .any(|r| r.entry.intervals.iter().any(Option::is_some))
        .then_some(
            "[low, high]: 95 % bootstrap interval over the test tracks (and the seeds, when \
             there are several); for Δ a paired interval (both systems on the same resampled \
             tracks), likewise for each deep model − GBT. †: the difference's interval \
             excludes 0. Δ > 0 favours the spectrogram model (a deep model − GBT > 0 the deep \
             model) for ROC-AUC and PR-AUC, < 0 for RMSE. Bold: the best of its size, its interval \
             against the runner-up excluding 0; ≈: the best and the runner-up, not separated.",
        )
}

/// The Markdown table (with notes on cells that failed).
pub fn markdown(rows: &[Row]) -> String {
    let mut out = String::new();
    out.push_str("| train size | system | ROC-AUC | PR-AUC | RMSE | seeds |\n");
    out.push_str("|---:|---|---:|---:|---:|---:|\n");
    for row in rows {
        let cells: Vec<String> = (0..METRICS.len())
            .map(|i| {
                let text = cell_text(row, i);
                if row.best[i] {
                    format!("**{text}**")
                } else {
                    text
                }
            })
            .collect();
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} |",
            row.size, row.label, cells[0], cells[1], cells[2], row.entry.seeds
        );
    }
    if let Some(legend) = legend(rows) {
        let _ = writeln!(out, "\n{legend}");
    }
    let problems = problems(rows);
    if !problems.is_empty() {
        out.push_str("\nCells without figures:\n\n");
        for p in problems {
            let _ = writeln!(out, "- {}", crate::markdown_text(&p));
        }
    }
    out
}

fn problems(rows: &[Row]) -> Vec<String> {
    rows.iter()
        .flat_map(|r| {
            r.entry
                .problems
                .iter()
                .map(move |p| format!("{} n={}: {p}", r.label, r.size))
        })
        .collect()
}

/// `text` as LaTeX text: its special characters escaped, so no label can open a command,
/// a math group or a comment, or end a table cell; Δ and − become their LaTeX forms.
fn latex_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\textbackslash{}"),
            '&' | '%' | '$' | '#' | '_' | '{' | '}' => {
                out.push('\\');
                out.push(c);
            }
            '~' => out.push_str("\\textasciitilde{}"),
            '^' => out.push_str("\\textasciicircum{}"),
            '[' => out.push_str("{[}"),
            ']' => out.push_str("{]}"),
            'Δ' => out.push_str("$\\Delta$"),
            '−' => out.push_str("--"),
            '\n' | '\r' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// The LaTeX table (booktabs), one block per size.
pub fn latex(rows: &[Row]) -> String {
    let mut out = String::new();
    out.push_str("\\begin{tabular}{rlccc}\n\\toprule\n");
    out.push_str("Train size & System & ROC-AUC & PR-AUC & RMSE \\\\\n");
    let mut last_size = None;
    for row in rows {
        if last_size != Some(row.size) {
            out.push_str("\\midrule\n");
            last_size = Some(row.size);
        }
        let cells: Vec<String> = (0..METRICS.len())
            .map(|i| {
                let text = cell_text(row, i)
                    .replace('±', "$\\pm$")
                    .replace('†', "$^\\dagger$")
                    .replace('≈', "$\\approx$");
                if row.best[i] {
                    format!("\\textbf{{{text}}}")
                } else {
                    text
                }
            })
            .collect();
        let _ = writeln!(
            out,
            "{} & {} & {} & {} & {} \\\\",
            row.size,
            latex_text(&row.label),
            cells[0],
            cells[1],
            cells[2]
        );
    }
    out.push_str("\\bottomrule\n\\end{tabular}\n");
    out
}

/// The CSV table: full-precision means and stds, seeds, and the problems.
pub fn csv(rows: &[Row]) -> String {
    let mut writer = ::csv::Writer::from_writer(Vec::new());
    let mut header = vec!["train_size".to_string(), "system".to_string()];
    for m in METRICS {
        header.push(format!("{}_mean", m.key()));
        header.push(format!("{}_std", m.key()));
        header.push(format!("{}_low", m.key()));
        header.push(format!("{}_high", m.key()));
    }
    header.extend([
        "seeds".into(),
        "best".into(),
        "tied".into(),
        "delta_excludes_zero".into(),
        "problems".into(),
    ]);
    let _ = writer.write_record(&header);
    for row in rows {
        let mut record = vec![row.size.to_string(), row.label.clone()];
        for i in 0..METRICS.len() {
            match row.entry.values[i] {
                Some((mean, std)) => {
                    record.push(format!("{mean}"));
                    record.push(if row.kind.is_difference() {
                        String::new()
                    } else {
                        format!("{std}")
                    });
                }
                None => record.extend([String::new(), String::new()]),
            }
            match row.entry.intervals[i] {
                Some(ci) => record.extend([format!("{}", ci.low), format!("{}", ci.high)]),
                None => record.extend([String::new(), String::new()]),
            }
        }
        record.push(row.entry.seeds.to_string());
        let keys = |marks: &[bool]| -> String {
            METRICS
                .iter()
                .zip(marks)
                .filter(|(_, b)| **b)
                .map(|(m, _)| m.key())
                .collect::<Vec<_>>()
                .join(" ")
        };
        record.push(keys(&row.best));
        record.push(keys(&row.tied));
        let separated: Vec<bool> = (0..METRICS.len()).map(|i| row.separated(i)).collect();
        record.push(keys(&separated));
        record.push(row.entry.problems.join("; "));
        let _ = writer.write_record(&record);
    }
    writer
        .into_inner()
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default()
}

/// Every tag's figures per cell (`cell,run,model,train_size,backend,seed,tag,roc_auc,pr_auc,rmse`).
pub fn per_tag_csv(data: &SweepData) -> String {
    let mut writer = ::csv::Writer::from_writer(Vec::new());
    let _ = writer.write_record([
        "cell",
        "run",
        "model",
        "train_size",
        "backend",
        "seed",
        "tag",
        metric::ROC_AUC,
        metric::PR_AUC,
        metric::RMSE,
    ]);
    for c in data.cells.iter().filter(|c| c.finished()) {
        let run = c.run.as_ref().map_or(0, |r| r.id);
        let mut tags: Vec<&str> = c
            .final_metrics
            .iter()
            .filter(|m| m.split == split::TEST)
            .filter_map(|m| m.tag.as_deref())
            .collect();
        tags.dedup();
        for tag in tags {
            let value = |metric: Metric| {
                c.final_metrics
                    .iter()
                    .find(|m| {
                        m.split == split::TEST
                            && m.tag.as_deref() == Some(tag)
                            && m.key == metric.key()
                    })
                    .map_or(String::new(), |m| format!("{}", m.value))
            };
            let _ = writer.write_record([
                c.cell.to_string(),
                run.to_string(),
                c.model.clone(),
                c.train_size.to_string(),
                c.backend.clone(),
                c.seed.to_string(),
                tag.to_string(),
                value(Metric::RocAuc),
                value(Metric::PrAuc),
                value(Metric::Rmse),
            ]);
        }
    }
    writer
        .into_inner()
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(kind: RowKind, value: f64, ci: Option<(f64, f64)>, seeds: usize) -> Row {
        let interval = ci.map(|(low, high)| Interval { low, high });
        Row {
            size: 100,
            label: "x".into(),
            kind,
            entry: Entry {
                values: vec![Some((value, 0.01)); 3],
                intervals: vec![interval; 3],
                seeds,
                problems: Vec::new(),
            },
            best: vec![false; 3],
            tied: vec![false; 3],
        }
    }

    #[test]
    fn cells_show_intervals_marks_and_ties() {
        let delta = RowKind::Delta {
            backend: "flex".into(),
        };
        let separated = row(delta.clone(), 0.062, Some((0.031, 0.094)), 1);
        assert_eq!(cell_text(&separated, 0), "+0.062 [+0.031, +0.094]†");
        let overlapping = row(delta, 0.01, Some((-0.02, 0.04)), 1);
        assert_eq!(cell_text(&overlapping, 0), "+0.010 [-0.020, +0.040]");
        let system = RowKind::System(System {
            label: "GBT".into(),
            model: "gbt".into(),
            backend: None,
        });
        let mut tied = row(system.clone(), 0.812, Some((0.79, 0.833)), 3);
        tied.tied[0] = true;
        assert_eq!(cell_text(&tied, 0), "0.812 ± 0.010 [0.790, 0.833] ≈");
        assert_eq!(cell_text(&row(system, 0.8, None, 1), 0), "0.800");
        let table = csv(&[separated, overlapping, tied]);
        let header = table.lines().next().unwrap();
        assert!(header.contains("roc_auc_low,roc_auc_high"), "{header}");
        assert!(
            header.ends_with("best,tied,delta_excludes_zero,problems"),
            "{header}"
        );
        let lines: Vec<&str> = table.lines().collect();
        assert!(lines[1].contains(",roc_auc pr_auc rmse,"), "{}", lines[1]);
        assert!(lines[2].ends_with(",1,,,,"), "{}", lines[2]);
        assert!(lines[3].ends_with(",3,,roc_auc,,"), "{}", lines[3]);
    }

    #[test]
    fn latex_text_cannot_run_commands_or_break_cells() {
        assert_eq!(
            latex_text(r"\input{x} & 50% #1 $y$ a_b ~^"),
            r"\textbackslash{}input\{x\} \& 50\% \#1 \$y\$ a\_b \textasciitilde{}\textasciicircum{}"
        );
        assert_eq!(
            latex_text("Δ (spectrogram − waveform)"),
            r"$\Delta$ (spectrogram -- waveform)"
        );
        assert_eq!(latex_text("a\nb [c]"), "a b {[}c{]}");
    }
}
