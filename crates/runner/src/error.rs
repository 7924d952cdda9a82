//! Errors of the runner.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum RunnerError {
    #[error("{path}: {message}")]
    Grid { path: PathBuf, message: String },
    #[error("the grid has {cells} cells (0..{cells}); there is no cell {requested}")]
    NoSuchCell { requested: usize, cells: usize },
    #[error("stored run config cannot be used: {0}")]
    StoredConfig(String),
    #[error(
        "training diverged: the {what} loss is {value} at step {step} (lower `train.lr`, or check the data)"
    )]
    Diverged {
        what: &'static str,
        value: f32,
        step: usize,
    },
    #[error("interrupted by a signal")]
    Interrupted,
    #[error("{path}: {message}")]
    Io { path: PathBuf, message: String },
    #[error("{0}")]
    Data(String),
    #[error(
        "run {run} was trained on dataset {recorded} but `{name}` now hashes to {current}: the data changed, so it cannot be re-run faithfully"
    )]
    DatasetChanged {
        run: i64,
        name: String,
        recorded: String,
        current: String,
    },
    #[error("the {executor} executor {message}")]
    Executor {
        executor: &'static str,
        message: String,
    },
    #[error("`{command}` failed: {message}")]
    Scheduler { command: String, message: String },
    #[error("the training panicked: {0}")]
    Panic(String),
    #[error(transparent)]
    Model(#[from] models::ModelError),
    #[error(transparent)]
    Dataset(#[from] datasets::DatasetError),
    #[error(transparent)]
    Audio(#[from] audio_features::AudioError),
    #[error(transparent)]
    Gbt(#[from] baseline_gbt::GbtError),
    #[error(transparent)]
    Metrics(#[from] metrics::MetricsError),
    #[error(transparent)]
    Store(#[from] tracking::TrackingError),
}

impl RunnerError {
    pub(crate) fn io(path: &std::path::Path, what: &str, err: impl std::fmt::Display) -> Self {
        RunnerError::Io {
            path: path.to_path_buf(),
            message: format!("{what}: {err}"),
        }
    }
}

impl RunnerError {
    /// The message with its causes (`…: No space left on device (os error 28)`), as a run's
    /// recorded reason: the store keeps text, not the error chain. A cause already spelled
    /// out in the message is not repeated.
    pub fn with_causes(&self) -> String {
        let mut text = self.to_string();
        let mut cause = std::error::Error::source(self);
        while let Some(e) = cause {
            let part = e.to_string();
            if !text.contains(&part) {
                text = format!("{text}: {part}");
            }
            cause = e.source();
        }
        text
    }
}

pub type Result<T> = std::result::Result<T, RunnerError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_recorded_reason_keeps_the_os_reason_once() {
        let io = std::io::Error::from_raw_os_error(28);
        let reason = io.to_string();
        let err = RunnerError::Dataset(datasets::DatasetError::Io {
            path: "cache/shard-00000.wave".into(),
            action: "cannot write the file",
            source: io,
        });
        let text = err.with_causes();
        assert!(text.starts_with("cache/shard-00000.wave: cannot write the file: "));
        assert_eq!(text.matches(&reason).count(), 1, "{text}");
    }
}
