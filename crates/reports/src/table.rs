//! The Δ-table in the paper's layout: per training-set size, GBT, waveform, spectrogram and
//! Δ (spectrogram − waveform) rows; ROC-AUC, PR-AUC, RMSE columns; mean ± std over seeds;
//! the best system per size in bold. Cells without figures say why instead of vanishing.

use std::fmt::Write;

use crate::data::{METRICS, Metric, SweepData, System};

/// One system's figures at one size.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// Mean and sample std over the seeds that finished, per metric.
    pub values: Vec<Option<(f64, f64)>>,
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
}

#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub size: i64,
    pub label: String,
    pub kind: RowKind,
    pub entry: Entry,
    /// Per metric: whether this row holds the best value of its size.
    pub best: Vec<bool>,
}

/// The table's rows, grouped by size.
pub fn rows(data: &SweepData) -> Vec<Row> {
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
                entry: entry(data, system, size),
                best: vec![false; METRICS.len()],
            })
            .collect();
        mark_best(&mut group);
        if let Some(entry) = prior_entry(data, size) {
            group.insert(
                0,
                Row {
                    size,
                    label: PRIOR_LABEL.into(),
                    kind: RowKind::Prior,
                    entry,
                    best: vec![false; METRICS.len()],
                },
            );
        }
        for backend in &backends {
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
                    seeds: spec.entry.seeds.min(wave.entry.seeds),
                    problems: Vec::new(),
                },
                best: vec![false; METRICS.len()],
            });
        }
        rows.extend(group);
    }
    rows
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
        seeds: per_seed.len(),
        problems: Vec::new(),
    })
}

fn entry(data: &SweepData, system: &System, size: i64) -> Entry {
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
        seeds: cells.iter().filter(|c| c.finished()).count(),
        problems: cells
            .iter()
            .filter_map(|c| c.problem().map(|p| format!("cell {}: {p}", c.cell)))
            .collect(),
    }
}

fn mark_best(group: &mut [Row]) {
    for (i, metric) in METRICS.iter().enumerate() {
        let better = |a: f64, b: f64| {
            if metric.higher_is_better() {
                a > b
            } else {
                a < b
            }
        };
        let mut best: Option<(usize, f64)> = None;
        for (r, row) in group.iter().enumerate() {
            if let Some((mean, _)) = row.entry.values[i]
                && best.is_none_or(|(_, b)| better(mean, b))
            {
                best = Some((r, mean));
            }
        }
        if let Some((r, _)) = best {
            group[r].best[i] = true;
        }
    }
}

/// `0.812 ± 0.004` (std only with several seeds), `+0.031` for Δ, or what went wrong.
fn cell_text(row: &Row, i: usize) -> String {
    match (&row.kind, row.entry.values[i]) {
        (RowKind::Delta { .. }, Some((d, _))) => format!("{d:+.3}"),
        (_, Some((mean, std))) if row.entry.seeds > 1 => format!("{mean:.3} ± {std:.3}"),
        (_, Some((mean, _))) => format!("{mean:.3}"),
        (_, None) if !row.entry.problems.is_empty() => "failed".into(),
        (_, None) => "—".into(),
    }
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
                let text = cell_text(row, i).replace('±', "$\\pm$");
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
    }
    header.extend(["seeds".into(), "best".into(), "problems".into()]);
    let _ = writer.write_record(&header);
    for row in rows {
        let mut record = vec![row.size.to_string(), row.label.clone()];
        for i in 0..METRICS.len() {
            match row.entry.values[i] {
                Some((mean, std)) => {
                    record.push(format!("{mean}"));
                    record.push(if matches!(row.kind, RowKind::Delta { .. }) {
                        String::new()
                    } else {
                        format!("{std}")
                    });
                }
                None => record.extend([String::new(), String::new()]),
            }
        }
        record.push(row.entry.seeds.to_string());
        let best: Vec<&str> = METRICS
            .iter()
            .zip(&row.best)
            .filter(|(_, b)| **b)
            .map(|(m, _)| m.key())
            .collect();
        record.push(best.join(" "));
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
        "roc_auc",
        "pr_auc",
        "rmse",
    ]);
    for c in data.cells.iter().filter(|c| c.finished()) {
        let run = c.run.as_ref().map_or(0, |r| r.id);
        let mut tags: Vec<&str> = c
            .final_metrics
            .iter()
            .filter(|m| m.split == "test")
            .filter_map(|m| m.tag.as_deref())
            .collect();
        tags.dedup();
        for tag in tags {
            let value = |metric: Metric| {
                c.final_metrics
                    .iter()
                    .find(|m| {
                        m.split == "test" && m.tag.as_deref() == Some(tag) && m.key == metric.key()
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
    use super::latex_text;

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
