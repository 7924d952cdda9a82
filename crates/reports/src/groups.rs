//! Seed groups summarised: each study figure's mean ± std over a group's finished runs, and
//! two groups' differences (the dashboard's "group seeds" view and group comparison).

use std::collections::BTreeMap;

use tracking::keys::split;
use tracking::{FinalMetric, RunRecord, Status, Store};

use crate::data::{METRICS, Metric};
use crate::error::Result;

/// One figure over a group's finished runs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Spread {
    pub mean: f64,
    /// Sample standard deviation (n − 1); 0 for one run.
    pub std: f64,
    /// Finished runs that recorded the figure.
    pub count: usize,
}

impl Spread {
    /// `0.8110 ± 0.0040 (n=3)`.
    pub fn text(&self) -> String {
        format!("{:.4} ± {:.4} (n={})", self.mean, self.std, self.count)
    }
}

/// A group's test figures, in [`METRICS`] order.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupSummary {
    pub finished: usize,
    pub figures: [Option<Spread>; METRICS.len()],
}

impl GroupSummary {
    /// Of a group's `runs`, from the macro test figures of (at least) its finished ones, by
    /// run id.
    pub fn of(runs: &[RunRecord], tests: &BTreeMap<i64, Vec<FinalMetric>>) -> Self {
        let finished: Vec<i64> = runs
            .iter()
            .filter(|r| r.status == Status::Finished)
            .map(|r| r.id)
            .collect();
        let figures = METRICS.map(|metric| {
            let values: Vec<f64> = finished
                .iter()
                .filter_map(|id| macro_value(tests.get(id)?, metric))
                .collect();
            metrics::mean_std(&values).map(|(mean, std)| Spread {
                mean,
                std,
                count: values.len(),
            })
        });
        Self {
            finished: finished.len(),
            figures,
        }
    }

    /// A group's summary read from the store (one query for its runs' figures).
    pub fn read(store: &Store, runs: &[RunRecord]) -> Result<Self> {
        let ids: Vec<i64> = runs.iter().map(|r| r.id).collect();
        Ok(Self::of(runs, &store.macro_metrics(&ids, split::TEST)?))
    }

    pub fn figure(&self, metric: Metric) -> Option<Spread> {
        let index = METRICS.iter().position(|m| *m == metric)?;
        self.figures[index]
    }
}

/// `b − a` of two groups' means.
pub fn mean_difference(a: &GroupSummary, b: &GroupSummary, metric: Metric) -> Option<f64> {
    Some(b.figure(metric)?.mean - a.figure(metric)?.mean)
}

fn macro_value(metrics: &[FinalMetric], metric: Metric) -> Option<f64> {
    metrics
        .iter()
        .find(|m| m.key == metric.key() && m.tag.is_none() && !m.value.is_nan())
        .map(|m| m.value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracking::{CodeVersion, Host, RunAxes};

    fn run(id: i64, status: Status) -> RunRecord {
        RunRecord {
            id,
            uuid: format!("u{id}"),
            sweep: Some(1),
            cell: Some(id),
            rerun_of: None,
            config_json: "{}".into(),
            config_hash: format!("h{id}"),
            axes: RunAxes {
                model: "gbt".into(),
                train_size: 100,
                backend: RunAxes::NO_BACKEND.into(),
                seed: id,
            },
            status,
            created_at: 0,
            started_at: None,
            ended_at: None,
            heartbeat_at: 0,
            error: None,
            pid: 1,
            host: Host::current(),
            threads: 1,
            code: CodeVersion::default(),
            dataset_hash: None,
            subset_hash: None,
            artifact_dir: None,
            scheduler_job: None,
        }
    }

    fn roc(value: f64) -> Vec<FinalMetric> {
        vec![FinalMetric {
            split: "test".into(),
            key: "roc_auc".into(),
            tag: None,
            value,
            ci: None,
        }]
    }

    #[test]
    fn only_finished_runs_count_and_the_std_is_the_sample_one() {
        let runs = [
            run(1, Status::Finished),
            run(2, Status::Finished),
            run(3, Status::Failed),
        ];
        let tests = BTreeMap::from([(1, roc(0.7)), (2, roc(0.8)), (3, roc(0.1))]);
        let summary = GroupSummary::of(&runs, &tests);
        assert_eq!(summary.finished, 2);
        let spread = summary.figure(Metric::RocAuc).expect("ROC-AUC");
        assert!((spread.mean - 0.75).abs() < 1e-12);
        assert!((spread.std - 0.05f64.hypot(0.05)).abs() < 1e-12);
        assert_eq!(spread.count, 2);
        assert_eq!(summary.figure(Metric::Rmse), None);
        let other = GroupSummary::of(
            &[run(4, Status::Finished)],
            &BTreeMap::from([(4, roc(0.9))]),
        );
        let d = mean_difference(&summary, &other, Metric::RocAuc).expect("both have it");
        assert!((d - 0.15).abs() < 1e-12);
    }
}
