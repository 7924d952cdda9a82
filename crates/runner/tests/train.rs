//! The training loop on the smoke grid's dataset: what it reports per evaluation, that it is
//! deterministic, that it stops by its step budget or early stopping and says which, and that
//! divergence and interruption are errors, not hangs or panics.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

use runner::dataset::RunData;
use runner::train::{Observer, StopReason, train};
use runner::{Grid, ModelKind, RunConfig, RunnerError};
use tracking::keys::training as summary_key;

struct Recorder {
    epochs: Vec<Vec<(String, String, f64)>>,
    stop_after_batches: Option<usize>,
    batches: usize,
    stop: AtomicBool,
}

impl Recorder {
    fn new() -> Self {
        Self {
            epochs: Vec::new(),
            stop_after_batches: None,
            batches: 0,
            stop: AtomicBool::new(false),
        }
    }
}

impl Observer for Recorder {
    fn evaluation(
        &mut self,
        _evaluation: usize,
        values: &[(&str, &str, f64)],
    ) -> runner::Result<()> {
        self.epochs.push(
            values
                .iter()
                .map(|(s, k, v)| (s.to_string(), k.to_string(), *v))
                .collect(),
        );
        Ok(())
    }

    fn step(&mut self, _step: usize, _max_steps: usize) {
        self.batches += 1;
        if self.stop_after_batches.is_some_and(|n| self.batches >= n) {
            self.stop.store(true, Ordering::Relaxed);
        }
    }

    fn stop_signal(&self) -> &AtomicBool {
        &self.stop
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
        "train/step",
        "train/epoch",
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

#[test]
fn a_run_that_hits_its_step_budget_says_so() {
    let data_root = tempfile::tempdir().unwrap();
    let mut config = smoke_config(ModelKind::Waveform);
    let plan = &mut config.deep_mut().unwrap().train;
    (plan.max_steps, plan.eval_every, plan.patience) = (5, 2, 10);
    let data = RunData::prepare(&config, data_root.path()).unwrap();
    let out = tempfile::tempdir().unwrap();
    let mut recorder = Recorder::new();
    let trained = train(&config, &data, out.path(), &mut recorder).unwrap();
    assert_eq!(recorder.batches, 5);
    assert_eq!(trained.stop, Some(StopReason::Budget { step: 5 }));
    // Evaluations at steps 2, 4 and the last step, 5.
    let steps: Vec<f64> = recorder
        .epochs
        .iter()
        .map(|values| {
            values
                .iter()
                .find(|(s, k, _)| s == "train" && k == "step")
                .unwrap()
                .2
        })
        .collect();
    assert_eq!(steps, [2.0, 4.0, 5.0]);
    assert_eq!(trained.summary_value(summary_key::STOPPED_EARLY), Some(0.0));
    assert_eq!(trained.summary_value(summary_key::STEPS), Some(5.0));
    assert_eq!(
        trained.stop.unwrap().to_string(),
        "step budget reached (5 steps)"
    );
}

#[test]
fn early_stopping_ends_a_run_after_patience_evaluations_without_improvement() {
    let data_root = tempfile::tempdir().unwrap();
    let mut config = smoke_config(ModelKind::Spectrogram);
    let plan = &mut config.deep_mut().unwrap().train;
    // A learning rate this high makes the validation loss worse after the first evaluation.
    (plan.max_steps, plan.eval_every, plan.patience, plan.lr) = (400, 1, 2, 0.5);
    let data = RunData::prepare(&config, data_root.path()).unwrap();
    let out = tempfile::tempdir().unwrap();
    let mut recorder = Recorder::new();
    let trained = train(&config, &data, out.path(), &mut recorder).unwrap();
    let Some(StopReason::EarlyStop { evaluation, step }) = trained.stop else {
        panic!("expected an early stop, got {:?}", trained.stop);
    };
    assert!(
        step < 400 && evaluation == recorder.epochs.len(),
        "{evaluation} {step}"
    );
    let best = trained.summary_value(summary_key::BEST_EVALUATION).unwrap() as usize;
    assert_eq!(evaluation - best, 2);
}

#[test]
fn a_shard_damaged_during_training_fails_the_run_with_its_name() {
    use std::io::{Seek, SeekFrom, Write};
    let data_root = tempfile::tempdir().unwrap();
    let config = smoke_config(ModelKind::Waveform);
    let data = RunData::prepare(&config, data_root.path()).unwrap();
    // Damage every waveform shard in place (same length: the cache maps the files), as a
    // failing disk would once the run has started; the loader thread meets it first.
    let mut damaged = 0;
    for dir in std::fs::read_dir(data_root.path().join("cache")).unwrap() {
        for file in std::fs::read_dir(dir.unwrap().path()).unwrap() {
            let path = file.unwrap().path();
            if path.extension().is_some_and(|e| e == "wave") {
                let mut f = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
                let middle = f.metadata().unwrap().len() / 2;
                f.seek(SeekFrom::Start(middle)).unwrap();
                f.write_all(&[0x5a; 64]).unwrap();
                damaged += 1;
            }
        }
    }
    assert!(damaged > 0, "no waveform shard found");
    let out = tempfile::tempdir().unwrap();
    let err = train(&config, &data, out.path(), &mut Recorder::new())
        .err()
        .expect("a damaged shard must fail the run");
    let message = err.to_string();
    assert!(
        message.contains("checksum") && message.contains(".wave"),
        "{message}"
    );
}
