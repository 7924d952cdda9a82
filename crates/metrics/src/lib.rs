//! # metrics
//!
//! The figures of the study (SPEC §7), with no dependency on the rest of the workspace:
//!
//! - [`roc_auc`]: scikit-learn's `roc_auc_score` (trapezoid over distinct thresholds, ties
//!   grouped); [`average_precision`]: `average_precision_score` (step-wise over distinct
//!   thresholds); [`rmse`];
//! - [`evaluate`]: per-tag and macro figures over a `[tracks, tags]` matrix, classification
//!   truth binarised at 0.5, tags without both classes skipped and reported;
//! - [`bootstrap`]: seeded bootstrap 95 % confidence intervals of the macro figures;
//! - [`mean_std`] over seeds and [`delta`] between two systems;
//! - [`curve`]: saturating power-law learning-curve fits (Levenberg–Marquardt) and the
//!   crossover size of two fitted curves;
//! - [`paired_bootstrap`]: the interval of a difference between two systems on the same test
//!   tracks, resampling seeds then tracks (checked against numpy + scikit-learn).
//!
//! ```
//! use metrics::{roc_auc, average_precision};
//! let truth = [false, false, true, true];
//! let scores = [0.1, 0.4, 0.35, 0.8];
//! assert_eq!(roc_auc(&truth, &scores), Some(0.75));
//! assert!((average_precision(&truth, &scores).unwrap() - 0.8333333333333333).abs() < 1e-12);
//! ```

pub mod curve;
pub mod paired;
pub mod table;

pub use paired::{
    Difference, MacroDifferences, Replicate, paired_bootstrap, paired_difference, seed_mean,
    seed_track_bootstrap,
};

use rand::{RngExt, SeedableRng};
use serde::{Deserialize, Serialize};

/// How a tag is scored — the one tag-kind type of the workspace (datasets re-exports it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TagKind {
    /// Bi-modal, mostly 0: ROC-AUC and PR-AUC, truth binarised at 0.5.
    Classification,
    /// Pseudo-uniform in [0, 1]: RMSE.
    Regression,
}

impl TagKind {
    /// Share of values that must be exactly 0 or 1 for a tag to be inferred as classification.
    pub const CLASSIFICATION_SHARE: f64 = 0.95;

    /// Infer the kind from a tag's values: classification when >= 95 % are exactly 0 or 1.
    pub fn infer(values: impl IntoIterator<Item = f32>) -> Self {
        let (mut binary, mut total) = (0usize, 0usize);
        for v in values {
            total += 1;
            if v == 0.0 || v == 1.0 {
                binary += 1;
            }
        }
        if total > 0 && binary as f64 >= Self::CLASSIFICATION_SHARE * total as f64 {
            TagKind::Classification
        } else {
            TagKind::Regression
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            TagKind::Classification => "classification",
            TagKind::Regression => "regression",
        }
    }
}

impl std::fmt::Display for TagKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for TagKind {
    type Err = MetricsError;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "classification" => Ok(TagKind::Classification),
            "regression" => Ok(TagKind::Regression),
            other => Err(MetricsError::UnknownTagKind(other.to_string())),
        }
    }
}

/// Errors of the metrics crate.
#[derive(Debug, thiserror::Error)]
pub enum MetricsError {
    #[error("{what}: expected {expected} values, got {got}")]
    Shape {
        what: &'static str,
        expected: usize,
        got: usize,
    },
    #[error("unknown tag kind {0:?} (expected \"classification\" or \"regression\")")]
    UnknownTagKind(String),
    #[error("paired comparison: {0}")]
    Paired(String),
    #[error("{what} contains a non-finite value (track {track}, tag {tag})")]
    NotFinite {
        what: &'static str,
        track: usize,
        tag: usize,
    },
}

pub type Result<T> = std::result::Result<T, MetricsError>;

/// Cumulative true and false positives at each distinct score, highest score first.
fn threshold_counts(truth: &[bool], scores: &[f64]) -> Vec<(f64, f64)> {
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
    let mut counts = Vec::new();
    let (mut tp, mut fp) = (0.0, 0.0);
    for (k, &i) in order.iter().enumerate() {
        if truth[i] {
            tp += 1.0;
        } else {
            fp += 1.0;
        }
        // Close a threshold only after the last of a group of tied scores.
        let last_of_group = order
            .get(k + 1)
            .is_none_or(|&next| scores[next] != scores[i]);
        if last_of_group {
            counts.push((tp, fp));
        }
    }
    counts
}

/// Area under the ROC curve, as `sklearn.metrics.roc_auc_score`; `None` without both classes.
pub fn roc_auc(truth: &[bool], scores: &[f64]) -> Option<f64> {
    let positives = truth.iter().filter(|t| **t).count() as f64;
    let negatives = truth.len() as f64 - positives;
    if positives == 0.0 || negatives == 0.0 {
        return None;
    }
    let mut area = 0.0;
    let (mut prev_tpr, mut prev_fpr) = (0.0, 0.0);
    for (tp, fp) in threshold_counts(truth, scores) {
        let (tpr, fpr) = (tp / positives, fp / negatives);
        area += (fpr - prev_fpr) * (tpr + prev_tpr) / 2.0;
        (prev_tpr, prev_fpr) = (tpr, fpr);
    }
    Some(area)
}

/// Average precision, as `sklearn.metrics.average_precision_score`: Σ (Rₙ − Rₙ₋₁) Pₙ over
/// distinct thresholds. `None` without positives (or without both classes).
pub fn average_precision(truth: &[bool], scores: &[f64]) -> Option<f64> {
    let positives = truth.iter().filter(|t| **t).count() as f64;
    if positives == 0.0 || positives == truth.len() as f64 {
        return None;
    }
    let mut ap = 0.0;
    let mut prev_recall = 0.0;
    for (tp, fp) in threshold_counts(truth, scores) {
        let recall = tp / positives;
        ap += (recall - prev_recall) * tp / (tp + fp);
        prev_recall = recall;
    }
    Some(ap)
}

/// Root mean squared error; `None` for empty input.
pub fn rmse(truth: &[f64], predictions: &[f64]) -> Option<f64> {
    if truth.is_empty() {
        return None;
    }
    let sum: f64 = truth
        .iter()
        .zip(predictions)
        .map(|(t, p)| (t - p).powi(2))
        .sum();
    Some((sum / truth.len() as f64).sqrt())
}

/// One tag's figures (only those of its kind are set).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TagFigures {
    pub name: String,
    pub kind: TagKind,
    pub roc_auc: Option<f64>,
    pub pr_auc: Option<f64>,
    pub rmse: Option<f64>,
}

/// Per-tag and macro figures of one system on one evaluation set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evaluation {
    pub per_tag: Vec<TagFigures>,
    pub macro_roc_auc: Option<f64>,
    pub macro_pr_auc: Option<f64>,
    pub macro_rmse: Option<f64>,
    /// Classification tags without both classes in the evaluation set.
    pub skipped: Vec<String>,
}

/// A `[tracks, tags]` row-major matrix of truth and of predictions, with the tags' names and
/// kinds: what every evaluation takes.
#[derive(Debug, Clone, Copy)]
pub struct Scores<'a> {
    pub names: &'a [String],
    pub kinds: &'a [TagKind],
    pub truth: &'a [f64],
    pub predictions: &'a [f64],
}

impl Scores<'_> {
    pub fn tags(&self) -> usize {
        self.kinds.len()
    }

    pub fn tracks(&self) -> usize {
        self.truth.len() / self.tags().max(1)
    }

    /// Check shapes and finiteness once, before any figure is computed.
    pub fn validate(&self) -> Result<()> {
        let n = self.tags();
        let shape = |what, expected, got| {
            if expected == got {
                Ok(())
            } else {
                Err(MetricsError::Shape {
                    what,
                    expected,
                    got,
                })
            }
        };
        shape("tag names", n, self.names.len())?;
        shape("predictions", self.truth.len(), self.predictions.len())?;
        shape(
            "truth (a multiple of the tag count)",
            self.tracks() * n,
            self.truth.len(),
        )?;
        for (what, values) in [("truth", self.truth), ("predictions", self.predictions)] {
            if let Some(i) = values.iter().position(|v| !v.is_finite()) {
                return Err(MetricsError::NotFinite {
                    what,
                    track: i / n.max(1),
                    tag: i % n.max(1),
                });
            }
        }
        Ok(())
    }

    fn column(values: &[f64], tags: usize, tag: usize, rows: &[usize]) -> Vec<f64> {
        rows.iter().map(|&r| values[r * tags + tag]).collect()
    }
}

/// Per-tag and macro figures over all tracks.
pub fn evaluate(scores: &Scores<'_>) -> Result<Evaluation> {
    scores.validate()?;
    let rows: Vec<usize> = (0..scores.tracks()).collect();
    Ok(evaluate_rows(scores, &rows))
}

/// Figures over the tracks listed in `rows` (a bootstrap resample may repeat tracks).
pub(crate) fn evaluate_rows(scores: &Scores<'_>, rows: &[usize]) -> Evaluation {
    let n = scores.tags();
    let mut per_tag = Vec::with_capacity(n);
    let mut skipped = Vec::new();
    for (j, kind) in scores.kinds.iter().enumerate() {
        let truth = Scores::column(scores.truth, n, j, rows);
        let predictions = Scores::column(scores.predictions, n, j, rows);
        let mut figures = TagFigures {
            name: scores.names[j].clone(),
            kind: *kind,
            roc_auc: None,
            pr_auc: None,
            rmse: None,
        };
        match kind {
            TagKind::Classification => {
                let binary: Vec<bool> = truth.iter().map(|v| *v >= 0.5).collect();
                figures.roc_auc = roc_auc(&binary, &predictions);
                figures.pr_auc = average_precision(&binary, &predictions);
                if figures.roc_auc.is_none() {
                    skipped.push(figures.name.clone());
                }
            }
            TagKind::Regression => figures.rmse = rmse(&truth, &predictions),
        }
        per_tag.push(figures);
    }
    let macro_of = |f: fn(&TagFigures) -> Option<f64>| {
        let values: Vec<f64> = per_tag.iter().filter_map(f).collect();
        (!values.is_empty()).then(|| values.iter().sum::<f64>() / values.len() as f64)
    };
    Evaluation {
        macro_roc_auc: macro_of(|t| t.roc_auc),
        macro_pr_auc: macro_of(|t| t.pr_auc),
        macro_rmse: macro_of(|t| t.rmse),
        per_tag,
        skipped,
    }
}

/// A 95 % confidence interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Interval {
    pub low: f64,
    pub high: f64,
}

/// Bootstrap intervals of the macro figures.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct MacroIntervals {
    pub roc_auc: Option<Interval>,
    pub pr_auc: Option<Interval>,
    pub rmse: Option<Interval>,
}

/// Seeded bootstrap over tracks: `resamples` draws of as many tracks with replacement, the
/// 2.5th and 97.5th percentiles (linear interpolation, as numpy) of each macro figure.
pub fn bootstrap(scores: &Scores<'_>, resamples: usize, seed: u64) -> Result<MacroIntervals> {
    scores.validate()?;
    let tracks = scores.tracks();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let (mut auc, mut ap, mut err) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..resamples {
        if tracks == 0 {
            break;
        }
        let rows: Vec<usize> = (0..tracks).map(|_| rng.random_range(0..tracks)).collect();
        let e = evaluate_rows(scores, &rows);
        auc.extend(e.macro_roc_auc);
        ap.extend(e.macro_pr_auc);
        err.extend(e.macro_rmse);
    }
    Ok(MacroIntervals {
        roc_auc: interval(auc),
        pr_auc: interval(ap),
        rmse: interval(err),
    })
}

pub(crate) fn interval(mut values: Vec<f64>) -> Option<Interval> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    Some(Interval {
        low: percentile(&values, 2.5),
        high: percentile(&values, 97.5),
    })
}

/// Percentile of sorted values with linear interpolation (numpy's default).
pub fn percentile(sorted: &[f64], q: f64) -> f64 {
    let pos = q / 100.0 * (sorted.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

/// Mean and sample standard deviation (n − 1) of figures across seeds; std 0 for one seed.
pub fn mean_std(values: &[f64]) -> Option<(f64, f64)> {
    if values.is_empty() {
        return None;
    }
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    let std = if values.len() > 1 {
        (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt()
    } else {
        0.0
    };
    Some((mean, std))
}

/// Δ = a − b (the paper's spectrogram − waveform rows), when both exist.
pub fn delta(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    Some(a? - b?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kind_inference_uses_the_95_percent_rule() {
        let mut v = vec![0.0f32; 95];
        v.extend([1.0; 0]);
        v.extend([0.5; 5]);
        assert_eq!(TagKind::infer(v.clone()), TagKind::Classification);
        v.push(0.3);
        assert_eq!(TagKind::infer(v), TagKind::Regression);
        assert_eq!(TagKind::infer([0.1, 0.7, 0.4]), TagKind::Regression);
        assert_eq!(
            TagKind::infer([0.0, 1.0, 1.0, 0.0]),
            TagKind::Classification
        );
        assert_eq!(TagKind::infer(std::iter::empty()), TagKind::Regression);
    }

    #[test]
    fn tag_kinds_read_and_print_their_names_and_refuse_others() {
        for kind in [TagKind::Classification, TagKind::Regression] {
            assert_eq!(kind.as_str().parse::<TagKind>().unwrap(), kind);
        }
        let err = "mood".parse::<TagKind>().unwrap_err().to_string();
        assert!(
            err.contains("\"mood\"") && err.contains("regression"),
            "{err}"
        );
    }

    #[test]
    fn ties_are_grouped_into_one_threshold() {
        // All scores tied: the ROC is the diagonal, AP the positive rate.
        let truth = [true, false, true, false, false];
        assert_eq!(roc_auc(&truth, &[0.5; 5]), Some(0.5));
        assert!((average_precision(&truth, &[0.5; 5]).unwrap() - 0.4).abs() < 1e-15);
        // Perfect and reversed rankings.
        let scores = [0.9, 0.1, 0.8, 0.2, 0.3];
        assert_eq!(roc_auc(&truth, &scores), Some(1.0));
        assert_eq!(average_precision(&truth, &scores), Some(1.0));
        assert_eq!(roc_auc(&truth, &scores.map(|s| -s)), Some(0.0));
    }

    #[test]
    fn single_class_tags_are_skipped_and_reported() {
        let names = vec![
            "always off".to_string(),
            "mixed".to_string(),
            "tempo".to_string(),
        ];
        let kinds = [
            TagKind::Classification,
            TagKind::Classification,
            TagKind::Regression,
        ];
        let truth = [0.0, 1.0, 0.2, 0.0, 0.0, 0.4, 0.0, 1.0, 0.9];
        let predictions = [0.3, 0.9, 0.1, 0.1, 0.2, 0.5, 0.2, 0.7, 0.7];
        let e = evaluate(&Scores {
            names: &names,
            kinds: &kinds,
            truth: &truth,
            predictions: &predictions,
        })
        .unwrap();
        assert_eq!(e.skipped, vec!["always off".to_string()]);
        assert_eq!(e.macro_roc_auc, Some(1.0));
        let expected_rmse = ((0.01 + 0.01 + 0.04) / 3.0f64).sqrt();
        assert!((e.macro_rmse.unwrap() - expected_rmse).abs() < 1e-12);
    }

    #[test]
    fn bootstrap_is_seeded_and_brackets_the_estimate() {
        let names: Vec<String> = vec!["a".into()];
        let kinds = [TagKind::Classification];
        let truth: Vec<f64> = (0..200).map(|i| f64::from(i % 3 == 0)).collect();
        let predictions: Vec<f64> = (0..200)
            .map(|i| f64::from(i % 3 == 0) * 0.3 + (i % 7) as f64 / 10.0)
            .collect();
        let s = Scores {
            names: &names,
            kinds: &kinds,
            truth: &truth,
            predictions: &predictions,
        };
        let point = evaluate(&s).unwrap().macro_roc_auc.unwrap();
        let a = bootstrap(&s, 300, 5).unwrap();
        assert_eq!(a, bootstrap(&s, 300, 5).unwrap());
        let ci = a.roc_auc.unwrap();
        assert!(ci.low < point && point < ci.high, "{ci:?} vs {point}");
        assert_ne!(a, bootstrap(&s, 300, 6).unwrap());
    }

    #[test]
    fn shape_and_nan_errors_name_the_problem() {
        let names = vec!["a".to_string()];
        let kinds = [TagKind::Regression];
        let e = evaluate(&Scores {
            names: &names,
            kinds: &kinds,
            truth: &[0.1, 0.2],
            predictions: &[0.1],
        })
        .unwrap_err();
        assert!(e.to_string().contains("predictions"));
        let e = evaluate(&Scores {
            names: &names,
            kinds: &kinds,
            truth: &[0.1, 0.2],
            predictions: &[0.1, f64::NAN],
        })
        .unwrap_err();
        assert!(e.to_string().contains("track 1"));
    }

    #[test]
    fn mean_std_and_delta() {
        assert_eq!(mean_std(&[1.0, 3.0]), Some((2.0, 2f64.sqrt())));
        assert_eq!(mean_std(&[0.7]), Some((0.7, 0.0)));
        assert_eq!(mean_std(&[]), None);
        assert_eq!(
            delta(Some(0.9), Some(0.85)).map(|d| (d * 100.0).round()),
            Some(5.0)
        );
        assert_eq!(delta(None, Some(0.8)), None);
    }
}
