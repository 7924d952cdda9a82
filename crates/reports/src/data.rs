//! What a report shows, read from the store: every cell of a sweep with the run that stands
//! for it, its test figures and its epochs.

use serde::Deserialize;
use tracking::keys::{metric, model, split, training};
use tracking::{
    CellSpec, EpochMetric, FinalMetric, RunAxes, RunRecord, Status, Store, SweepRecord,
};

use crate::error::{ReportError, Result};

/// The three figures of the study.
pub const METRICS: [Metric; 3] = [Metric::RocAuc, Metric::PrAuc, Metric::Rmse];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    RocAuc,
    PrAuc,
    Rmse,
}

impl Metric {
    /// The key in the store.
    pub fn key(self) -> &'static str {
        match self {
            Metric::RocAuc => metric::ROC_AUC,
            Metric::PrAuc => metric::PR_AUC,
            Metric::Rmse => metric::RMSE,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Metric::RocAuc => "ROC-AUC",
            Metric::PrAuc => "PR-AUC",
            Metric::Rmse => "RMSE",
        }
    }

    /// Whether a larger value is better.
    pub fn higher_is_better(self) -> bool {
        !matches!(self, Metric::Rmse)
    }
}

/// What reports and the dashboard read of a cell's stored config (the runner's `RunConfig`,
/// which this crate sits below): its place on the grid, its bootstrap replicates and its step
/// budget. Lenient about everything else, so sweeps stored by older layouts still show; a
/// config without these is an error naming the cell, not a row of placeholders.
#[derive(Debug, Clone, Deserialize)]
pub struct CellAxes {
    pub model: String,
    pub train_size: i64,
    /// `null` for GBT cells.
    backend: Option<String>,
    pub seed: i64,
    #[serde(default)]
    eval: CellEval,
    /// `null` for GBT cells.
    #[serde(default)]
    train: Option<CellTrain>,
}

#[derive(Debug, Clone, Default, Deserialize)]
struct CellEval {
    bootstrap: Option<usize>,
}

#[derive(Debug, Clone, Deserialize)]
struct CellTrain {
    max_steps: Option<u64>,
}

impl CellAxes {
    pub fn of(spec: &CellSpec) -> Result<Self> {
        serde_json::from_str(&spec.config_json)
            .map_err(|e| ReportError::Query(format!("cell {}: its stored config: {e}", spec.index)))
    }

    /// The Burn backend's name, `RunAxes::NO_BACKEND` for GBT (as the store's run axes show it).
    pub fn backend(&self) -> &str {
        self.backend.as_deref().unwrap_or(RunAxes::NO_BACKEND)
    }

    /// Bootstrap replicates per interval (`[eval] bootstrap`).
    pub fn bootstrap(&self) -> Option<usize> {
        self.eval.bootstrap
    }

    /// A deep cell's step budget (`[train] max_steps`).
    pub fn max_steps(&self) -> Option<u64> {
        self.train.as_ref().and_then(|t| t.max_steps)
    }
}

/// One cell of the sweep and what it produced.
#[derive(Debug, Clone)]
pub struct CellResult {
    pub cell: i64,
    pub model: String,
    pub train_size: i64,
    pub backend: String,
    pub seed: i64,
    /// The run standing for the cell (FINISHED if any), or none.
    pub run: Option<RunRecord>,
    pub final_metrics: Vec<FinalMetric>,
    pub epochs: Vec<EpochMetric>,
    /// `[eval] bootstrap` of the cell's config: replicates per interval.
    pub bootstrap: Option<usize>,
}

impl CellResult {
    pub fn finished(&self) -> bool {
        self.run
            .as_ref()
            .is_some_and(|r| r.status == Status::Finished)
    }

    /// A test macro figure of a finished run.
    pub fn macro_value(&self, metric: Metric) -> Option<f64> {
        self.summary_value(split::TEST, metric.key())
    }

    /// The constant label-prior predictor's test macro figure (what the run recorded beside
    /// its own).
    pub fn prior_value(&self, metric: Metric) -> Option<f64> {
        self.summary_value(split::TEST_PRIOR, metric.key())
    }

    /// A macro (untagged) final value of a finished run.
    fn summary_value(&self, split: &str, key: &str) -> Option<f64> {
        if !self.finished() {
            return None;
        }
        self.final_metrics
            .iter()
            .find(|m| m.split == split && m.tag.is_none() && m.key == key)
            .map(|m| m.value)
    }

    /// Why a finished deep run stopped training (`None` for GBT, unfinished runs, and runs
    /// logged before stop reasons were recorded).
    pub fn stop_reason(&self) -> Option<String> {
        let value = |key| self.summary_value(split::TRAIN, key);
        let stopped_early = value(training::STOPPED_EARLY)?;
        Some(training::describe_stop(
            stopped_early,
            value(training::EVALUATIONS).unwrap_or(0.0),
            value(training::STEPS).unwrap_or(0.0),
        ))
    }

    /// Why the cell has no figures: `FAILED (run 7): …`, or `not run`.
    pub fn problem(&self) -> Option<String> {
        match &self.run {
            Some(r) => r.unfinished(),
            None => Some("not run".into()),
        }
    }

    /// The label of this cell's system in tables and plots.
    pub fn system(&self) -> String {
        system_label(&self.model)
    }
}

/// `GBT`, `Waveform`, `Spectrogram` (other names as they are).
pub fn system_label(model: &str) -> String {
    match model {
        model::GBT => "GBT".into(),
        model::WAVEFORM => "Waveform".into(),
        model::SPECTROGRAM => "Spectrogram".into(),
        other => other.into(),
    }
}

/// A sweep with its cells.
#[derive(Debug, Clone)]
pub struct SweepData {
    pub sweep: SweepRecord,
    pub cells: Vec<CellResult>,
}

impl SweepData {
    /// Read a sweep and everything its cells produced.
    pub fn load(store: &Store, sweep: i64) -> Result<Self> {
        Self::read(store, sweep, true)
    }

    /// Read a sweep's cells and their runs, without their figures and evaluations (one query
    /// instead of two per cell): enough to choose runs, as the Listen page does.
    pub fn load_runs(store: &Store, sweep: i64) -> Result<Self> {
        Self::read(store, sweep, false)
    }

    fn read(store: &Store, sweep: i64, figures: bool) -> Result<Self> {
        let sweep = store.sweep(sweep)?;
        let mut cells = Vec::new();
        for (spec, run) in store.cell_runs(&sweep)? {
            let axes = CellAxes::of(&spec)?;
            let (final_metrics, epochs) = match &run {
                Some(r) if figures => (store.run_metrics(r.id)?, store.epoch_metrics(r.id)?),
                _ => (Vec::new(), Vec::new()),
            };
            cells.push(CellResult {
                cell: spec.index,
                backend: axes.backend().to_string(),
                bootstrap: axes.bootstrap(),
                model: axes.model,
                train_size: axes.train_size,
                seed: axes.seed,
                run,
                final_metrics,
                epochs,
            });
        }
        Ok(Self { sweep, cells })
    }

    /// Training-set sizes, ascending.
    pub fn sizes(&self) -> Vec<i64> {
        let mut sizes: Vec<i64> = self.cells.iter().map(|c| c.train_size).collect();
        sizes.sort_unstable();
        sizes.dedup();
        sizes
    }

    /// Deep backends in the sweep, in first-seen order.
    pub fn deep_backends(&self) -> Vec<String> {
        let mut backends: Vec<String> = Vec::new();
        for c in self.cells.iter().filter(|c| c.model != model::GBT) {
            if !backends.contains(&c.backend) {
                backends.push(c.backend.clone());
            }
        }
        backends
    }

    /// The systems compared: GBT, then waveform and spectrogram per backend; the label names
    /// the backend only when the sweep has several.
    pub fn systems(&self) -> Vec<System> {
        let backends = self.deep_backends();
        let mut systems = Vec::new();
        if self.cells.iter().any(|c| c.model == model::GBT) {
            systems.push(System {
                label: "GBT".into(),
                model: model::GBT.into(),
                backend: None,
            });
        }
        for backend in &backends {
            for model in [model::WAVEFORM, model::SPECTROGRAM] {
                if self
                    .cells
                    .iter()
                    .any(|c| c.model == model && &c.backend == backend)
                {
                    let mut label = system_label(model);
                    if backends.len() > 1 {
                        label.push_str(&format!(" [{backend}]"));
                    }
                    systems.push(System {
                        label,
                        model: model.into(),
                        backend: Some(backend.clone()),
                    });
                }
            }
        }
        systems
    }

    /// The cells of `system` at `size` (one per seed).
    pub fn cells_of(&self, system: &System, size: i64) -> Vec<&CellResult> {
        self.cells
            .iter()
            .filter(|c| {
                c.model == system.model
                    && c.train_size == size
                    && system.backend.as_ref().is_none_or(|b| &c.backend == b)
            })
            .collect()
    }

    /// Distinct code versions of the sweep's runs.
    pub fn code_versions(&self) -> Vec<String> {
        let mut versions: Vec<String> = self
            .cells
            .iter()
            .filter_map(|c| c.run.as_ref().map(|r| r.code.short()))
            .collect();
        versions.sort();
        versions.dedup();
        versions
    }
}

/// A row of the Δ-table: one model (on one backend).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct System {
    pub label: String,
    pub model: String,
    pub backend: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(config_json: &str) -> CellSpec {
        CellSpec {
            index: 7,
            config_json: config_json.into(),
            config_hash: "h".into(),
        }
    }

    #[test]
    fn cell_axes_read_deep_and_gbt_configs_and_name_a_broken_cell() {
        let deep = r#"{"model":"waveform","train_size":400,"backend":"flex","seed":2,
            "eval":{"bootstrap":1000,"hop_seconds":null},"train":{"max_steps":4000},"widths":{}}"#;
        let axes = CellAxes::of(&spec(deep)).unwrap();
        assert_eq!(
            (axes.model.as_str(), axes.train_size, axes.seed),
            ("waveform", 400, 2)
        );
        assert_eq!(
            (axes.backend(), axes.bootstrap(), axes.max_steps()),
            ("flex", Some(1000), Some(4000))
        );
        // GBT: no backend and no training plan; an older layout without `eval`.
        let gbt = r#"{"model":"gbt","train_size":100,"backend":null,"seed":1,"train":null}"#;
        let axes = CellAxes::of(&spec(gbt)).unwrap();
        assert_eq!(
            (axes.backend(), axes.bootstrap(), axes.max_steps()),
            ("-", None, None)
        );
        let err = CellAxes::of(&spec(r#"{"model":"gbt","seed":1}"#)).unwrap_err();
        assert!(
            err.to_string().contains("cell 7") && err.to_string().contains("train_size"),
            "{err}"
        );
    }
}
