//! The training loop on the smoke grid's dataset: what it reports per epoch, that it is
//! deterministic, and that divergence and interruption are errors, not hangs or panics.

use std::path::Path;

use runner::dataset::RunData;
use runner::train::{Observer, train};
use runner::{Grid, ModelKind, RunConfig, RunnerError};

struct Recorder {
    epochs: Vec<Vec<(String, String, f64)>>,
    stop_after_batches: Option<usize>,
    batches: usize,
}

impl Recorder {
    fn new() -> Self {
        Self {
            epochs: Vec::new(),
            stop_after_batches: None,
            batches: 0,
        }
    }
}

impl Observer for Recorder {
    fn epoch(&mut self, _epoch: usize, values: &[(&str, &str, f64)]) -> runner::Result<()> {
        self.epochs.push(
            values
                .iter()
                .map(|(s, k, v)| (s.to_string(), k.to_string(), *v))
                .collect(),
        );
        Ok(())
    }

    fn batch(&mut self, _epoch: usize, _batch: usize, _batches: usize) {
        self.batches += 1;
    }

    fn interrupted(&self) -> bool {
        self.stop_after_batches.is_some_and(|n| self.batches >= n)
    }
}

fn smoke_config(model: ModelKind) -> RunConfig {
    let grid =
        Grid::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../../experiments/smoke.toml"))
            .unwrap();
    let cell = grid
        .cells()
        .unwrap()
        .into_iter()
        .find(|c| c.model == model)
        .unwrap();
    grid.resolve(&cell)
}

#[test]
fn training_reports_every_epoch_and_is_deterministic() {
    let data_root = tempfile::tempdir().unwrap();
    let config = smoke_config(ModelKind::Spectrogram);
    let data = RunData::prepare(&config, data_root.path()).unwrap();
    let run = || {
        let out = tempfile::tempdir().unwrap();
        let mut recorder = Recorder::new();
        let trained = train(&config, &data, out.path(), &mut recorder).unwrap();
        assert!(out.path().join("model.bpk").is_file());
        assert!(out.path().join("band_stats.json").is_file());
        (recorder.epochs, trained.test_predictions)
    };
    let (epochs, predictions) = run();
    assert!(!epochs.is_empty());
    let keys: Vec<String> = epochs[0]
        .iter()
        .map(|(s, k, _)| format!("{s}/{k}"))
        .collect();
    for key in [
        "train/loss",
        "valid/loss",
        "valid/roc_auc",
        "valid/pr_auc",
        "valid/rmse",
    ] {
        assert!(keys.contains(&key.to_string()), "{keys:?}");
    }
    assert_eq!(predictions.len(), data.test.len() * data.n_tags());
    assert!(predictions.iter().all(|p| (0.0..=1.0).contains(p)));
    let (epochs_again, predictions_again) = run();
    assert_eq!(epochs, epochs_again);
    assert_eq!(predictions, predictions_again);
}

#[test]
fn a_nan_loss_fails_the_run_with_a_clear_error() {
    let data_root = tempfile::tempdir().unwrap();
    let config = smoke_config(ModelKind::Waveform);
    let mut data = RunData::prepare(&config, data_root.path()).unwrap();
    // A corrupt label (what a bad annotation file would give) makes the loss NaN.
    let track = data.train[0];
    data.manifest.tracks[track].labels[0] = f32::NAN;
    let out = tempfile::tempdir().unwrap();
    let err = train(&config, &data, out.path(), &mut Recorder::new())
        .err()
        .expect("a NaN loss must fail the run");
    assert!(matches!(err, RunnerError::Diverged { .. }), "{err}");
    assert!(err.to_string().contains("NaN"), "{err}");
}

#[test]
fn an_interrupt_stops_training_between_batches() {
    let data_root = tempfile::tempdir().unwrap();
    let config = smoke_config(ModelKind::Spectrogram);
    let data = RunData::prepare(&config, data_root.path()).unwrap();
    let out = tempfile::tempdir().unwrap();
    let mut recorder = Recorder::new();
    recorder.stop_after_batches = Some(1);
    let err = train(&config, &data, out.path(), &mut recorder).err();
    assert!(matches!(err, Some(RunnerError::Interrupted)), "{err:?}");
    assert_eq!(recorder.batches, 1);
}

#[test]
fn gbt_runs_predict_every_test_track_in_unit_range() {
    let data_root = tempfile::tempdir().unwrap();
    let config = smoke_config(ModelKind::Gbt);
    let data = RunData::prepare(&config, data_root.path()).unwrap();
    let out = tempfile::tempdir().unwrap();
    let trained = train(&config, &data, out.path(), &mut Recorder::new()).unwrap();
    assert_eq!(
        trained.test_predictions.len(),
        data.test.len() * data.n_tags()
    );
    assert!(
        trained
            .test_predictions
            .iter()
            .all(|p| (0.0..=1.0).contains(p))
    );
    assert!(out.path().join("gbt.json").is_file());
}
