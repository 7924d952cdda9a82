//! `tagscale eval`: score any prediction file against truth with the study's metrics.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::Args;
use datasets::TagKind;
use metrics::table::Table;
use metrics::{Evaluation, Scores, evaluate};
use tracking::keys::metric;

#[derive(Args)]
pub struct EvalArgs {
    /// Predictions: CSV/TSV with a `track` column and one column per tag.
    #[arg(long)]
    pred: PathBuf,
    /// Truth in the same layout (rows matched by track id, not position).
    #[arg(long)]
    truth: PathBuf,
    /// Tag kinds, `tag = "classification"` or `"regression"` per line; tags not listed are
    /// inferred (classification when >= 95 % of truth values are exactly 0 or 1).
    #[arg(long)]
    tags: Option<PathBuf>,
    /// Print JSON: each tag's figures under its name, `macro_roc_auc`, `macro_pr_auc`,
    /// `macro_rmse`, and `skipped`.
    #[arg(long)]
    json: bool,
}

pub fn run(args: EvalArgs) -> Result<()> {
    let truth = Table::read(&args.truth)?;
    let pred = Table::read(&args.pred)?;
    let predictions = pred.aligned_to(&truth).with_context(|| {
        format!(
            "matching {} to {}",
            args.pred.display(),
            args.truth.display()
        )
    })?;
    let kinds = tag_kinds(&truth, args.tags.as_ref())?;
    let evaluation = evaluate(&Scores {
        names: &truth.tags,
        kinds: &kinds,
        truth: &truth.values,
        predictions: &predictions,
    })?;
    let mut out = std::io::stdout().lock();
    if args.json {
        writeln!(
            out,
            "{}",
            serde_json::to_string_pretty(&to_json(&evaluation))?
        )?;
    } else {
        write!(out, "{}", to_text(&evaluation))?;
    }
    Ok(())
}

fn tag_kinds(truth: &Table, tags_file: Option<&PathBuf>) -> Result<Vec<TagKind>> {
    let declared: BTreeMap<String, TagKind> = match tags_file {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            toml::from_str(&text).with_context(|| {
                format!(
                    "{}: expected lines `tag = \"classification\"` or `\"regression\"`",
                    path.display()
                )
            })?
        }
        None => BTreeMap::new(),
    };
    if let Some(unknown) = declared.keys().find(|k| !truth.tags.contains(k)) {
        bail!(
            "{}: unknown tag {unknown:?} (the truth has: {})",
            tags_file
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
            truth.tags.join(", ")
        );
    }
    Ok(truth
        .tags
        .iter()
        .enumerate()
        .map(|(j, tag)| {
            declared
                .get(tag)
                .copied()
                .unwrap_or_else(|| TagKind::infer(truth.column(j).map(|v| v as f32)))
        })
        .collect())
}

/// `{"tags": {TAG: figures}, "macro": {...}, "skipped": [...]}`: per-tag figures under their own
/// key, so no tag name (`skipped`, `macro_roc_auc`) can overwrite a summary.
fn to_json(e: &Evaluation) -> serde_json::Value {
    let mut tags = serde_json::Map::new();
    for t in &e.per_tag {
        let mut figures = serde_json::Map::new();
        for (key, value) in [
            (metric::ROC_AUC, t.roc_auc),
            (metric::PR_AUC, t.pr_auc),
            (metric::RMSE, t.rmse),
        ] {
            if let Some(v) = value {
                figures.insert(key.into(), v.into());
            }
        }
        figures.insert(
            "kind".into(),
            serde_json::to_value(t.kind).unwrap_or_default(),
        );
        tags.insert(t.name.clone(), figures.into());
    }
    serde_json::json!({
        "tags": tags,
        "macro": {
            (metric::ROC_AUC): e.macro_roc_auc,
            (metric::PR_AUC): e.macro_pr_auc,
            (metric::RMSE): e.macro_rmse,
        },
        "skipped": e.skipped,
    })
}

fn to_text(e: &Evaluation) -> String {
    let fmt = |v: Option<f64>| v.map_or_else(|| "-".to_string(), |v| format!("{v:.4}"));
    let width = e
        .per_tag
        .iter()
        .map(|t| t.name.len())
        .max()
        .unwrap_or(3)
        .max(5);
    let mut s = format!(
        "{:<width$}  {:>8}  {:>8}  {:>8}\n",
        "tag", "ROC-AUC", "PR-AUC", "RMSE"
    );
    for t in &e.per_tag {
        s.push_str(&format!(
            "{:<width$}  {:>8}  {:>8}  {:>8}\n",
            t.name,
            fmt(t.roc_auc),
            fmt(t.pr_auc),
            fmt(t.rmse)
        ));
    }
    s.push_str(&format!(
        "{:<width$}  {:>8}  {:>8}  {:>8}\n",
        "macro",
        fmt(e.macro_roc_auc),
        fmt(e.macro_pr_auc),
        fmt(e.macro_rmse)
    ));
    if !e.skipped.is_empty() {
        s.push_str(&format!(
            "skipped (one class only): {}\n",
            e.skipped.join(", ")
        ));
    }
    s
}
