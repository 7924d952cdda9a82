//! The figures of a run's predictions on a split: per-tag and macro (SPEC §7), the mean squared
//! error the early stopping watches, and bootstrap intervals for the final test figures.

use metrics::{Evaluation, MacroIntervals, Scores, bootstrap, evaluate};
use tracking::FinalMetric;
use tracking::keys::metric;

use crate::dataset::RunData;
use crate::error::Result;

/// Figures of one split.
pub struct Figures {
    pub evaluation: Evaluation,
    /// Mean over tracks and tags of the squared error (the paper's loss, song-level).
    pub mse: f64,
    /// Present when bootstrap resamples were asked for.
    pub intervals: Option<MacroIntervals>,
    pub tracks: usize,
}

/// Score `predictions` (`[tracks, tags]`) against the labels of `tracks`; `resamples > 0` adds
/// seeded bootstrap intervals.
pub fn figures(
    data: &RunData,
    tracks: &[usize],
    predictions: &[f32],
    resamples: usize,
    seed: u64,
) -> Result<Figures> {
    let truth: Vec<f64> = data.labels(tracks).iter().map(|&v| f64::from(v)).collect();
    let predictions: Vec<f64> = predictions.iter().map(|&v| f64::from(v)).collect();
    let mse = if truth.is_empty() {
        f64::NAN
    } else {
        truth
            .iter()
            .zip(&predictions)
            .map(|(t, p)| (t - p).powi(2))
            .sum::<f64>()
            / truth.len() as f64
    };
    // A diverged model's NaN outputs are reported through `mse`, not as a metrics error.
    if predictions.iter().any(|v| !v.is_finite()) {
        return Ok(Figures {
            evaluation: Evaluation {
                per_tag: Vec::new(),
                macro_roc_auc: None,
                macro_pr_auc: None,
                macro_rmse: None,
                skipped: Vec::new(),
            },
            mse: f64::NAN,
            intervals: None,
            tracks: tracks.len(),
        });
    }
    let scores = Scores {
        names: &data.tag_names,
        kinds: &data.kinds,
        truth: &truth,
        predictions: &predictions,
    };
    let evaluation = evaluate(&scores)?;
    let intervals = (resamples > 0)
        .then(|| bootstrap(&scores, resamples, seed))
        .transpose()?;
    Ok(Figures {
        evaluation,
        mse,
        intervals,
        tracks: tracks.len(),
    })
}

impl Figures {
    /// The store's rows for these figures on `split`: macro figures with their intervals,
    /// the per-tag figures, the track count and the number of skipped tags.
    pub fn to_metrics(&self, split: &str) -> Vec<FinalMetric> {
        let row = |key: &str, tag: Option<&str>, value: f64, ci| FinalMetric {
            split: split.into(),
            key: key.into(),
            tag: tag.map(str::to_string),
            value,
            ci,
        };
        let ci = |i: Option<metrics::Interval>| i.map(|i| (i.low, i.high));
        let intervals = self.intervals;
        let mut rows = Vec::new();
        for (key, value) in self.macro_values() {
            let interval = intervals.and_then(|m| match key {
                metric::ROC_AUC => ci(m.roc_auc),
                metric::PR_AUC => ci(m.pr_auc),
                _ => ci(m.rmse),
            });
            rows.push(row(key, None, value, interval));
        }
        rows.push(row(metric::MSE, None, self.mse, None));
        rows.push(row(metric::TRACKS, None, self.tracks as f64, None));
        rows.push(row(
            metric::SKIPPED_TAGS,
            None,
            self.evaluation.skipped.len() as f64,
            None,
        ));
        for tag in &self.evaluation.per_tag {
            for (key, value) in [
                (metric::ROC_AUC, tag.roc_auc),
                (metric::PR_AUC, tag.pr_auc),
                (metric::RMSE, tag.rmse),
            ] {
                if let Some(v) = value {
                    rows.push(row(key, Some(&tag.name), v, None));
                }
            }
        }
        rows
    }
}
