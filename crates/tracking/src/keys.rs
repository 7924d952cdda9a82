//! Names of what runs record, shared by the code that writes them (runner) and the code that
//! reads them (reports, the binary).

/// The names under which a run records its files (written by the runner; read by `tag`,
/// `export` and the reports).
pub mod artifact {
    /// The trained model: a deep run's best checkpoint (`model.bpk`, with
    /// `model.bpk.config.json` beside it) or a GBT run's trees (`gbt.json`).
    pub const MODEL: &str = "model";
    /// The tag schema in output order: `[{name, kind}]`.
    pub const TAGS: &str = "tags";
    /// The spectrogram input's per-band normalisation.
    pub const BAND_STATS: &str = "band_stats";
    /// Song-level test predictions, one column per tag.
    pub const PREDICTIONS_TEST: &str = "predictions_test";
    /// The test tracks' labels, in the same layout.
    pub const LABELS_TEST: &str = "labels_test";
    /// The run's log.
    pub const LOG: &str = "log";
    /// The log's file name in the run's artifact directory, written from the run's start (so
    /// a running run's log can be followed before it is recorded as an artifact).
    pub const LOG_FILE: &str = "log.txt";
    /// The uuid of the run a run directory belongs to, written when the run first uses it:
    /// directories are named by run id, and two stores sharing a runs root both have a run 1.
    pub const OWNER_FILE: &str = "run-uuid.txt";
}

/// Splits of the final metrics.
pub mod split {
    /// The model's figures on the test split.
    pub const TEST: &str = "test";
    /// A constant prediction of each tag's training-subset mean, scored on the test split:
    /// the reference a model must beat (ROC-AUC 0.5, PR-AUC the positive rate, RMSE of the
    /// label prior).
    pub const TEST_PRIOR: &str = "test_prior";
    pub const TRAIN: &str = "train";
    pub const VALID: &str = "valid";
}

/// Names of the figures runs record, per split (final metrics and per-evaluation values).
pub mod metric {
    /// Classification tags: ROC-AUC and PR-AUC (macro over tags, and per tag).
    pub const ROC_AUC: &str = "roc_auc";
    pub const PR_AUC: &str = "pr_auc";
    /// Regression tags: root-mean-square error.
    pub const RMSE: &str = "rmse";
    /// Mean squared error over every tag (the training loss's measure).
    pub const MSE: &str = "mse";
    /// The study's macro figures, in the order they are shown.
    pub const MACROS: [&str; 3] = [ROC_AUC, PR_AUC, RMSE];
    /// Per evaluation: the mean training loss since the last one (`train`) and the
    /// validation loss (`valid`).
    pub const LOSS: &str = "loss";
    /// Per evaluation (`train`): the optimiser step and the epoch it was made at.
    pub const STEP: &str = "step";
    pub const EPOCH: &str = "epoch";
    /// Per split: tracks scored, and tags skipped for lacking both classes.
    pub const TRACKS: &str = "tracks";
    pub const SKIPPED_TAGS: &str = "skipped_tags";
}

/// How a deep run's training went (final metrics of split `train` / `valid`).
pub mod training {
    /// `train`: 1 when early stopping ended training, 0 when the step budget did.
    pub const STOPPED_EARLY: &str = "stopped_early";
    /// `train`: steps taken.
    pub const STEPS: &str = "steps";
    /// `train`: validations made.
    pub const EVALUATIONS: &str = "evaluations";
    /// `valid`: the best validation loss, and the (1-based) evaluation and step it was
    /// reached at (the kept checkpoint).
    pub const BEST_LOSS: &str = "best_loss";
    pub const BEST_EVALUATION: &str = "best_evaluation";
    pub const BEST_STEP: &str = "best_step";

    /// Why training stopped, in words, from the values above.
    pub fn describe_stop(stopped_early: f64, evaluations: f64, steps: f64) -> String {
        if stopped_early > 0.5 {
            format!("early stop at evaluation {evaluations} (step {steps})")
        } else {
            format!("step budget reached ({steps} steps)")
        }
    }
}

/// The model names runs record (`runs.model`; `runner::ModelKind` spells them).
pub mod model {
    pub const GBT: &str = "gbt";
    pub const WAVEFORM: &str = "waveform";
    pub const SPECTROGRAM: &str = "spectrogram";
}
