//! `tagscale eval`: score any prediction file against truth with the study's metrics.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::Args;
use datasets::TagKind;
use metrics::table::Table;
use metrics::{Scores, evaluate};
use reports::terminal;

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
    /// Print JSON: `tags` (each tag's figures and kind under its name), `macro` (ROC-AUC,
    /// PR-AUC, RMSE) and `skipped` (tags with one class only).
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
    if args.json {
        return crate::print::json(&terminal::evaluation_json(&evaluation));
    }
    write!(
        std::io::stdout().lock(),
        "{}",
        terminal::evaluation_text(&evaluation)
    )?;
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
