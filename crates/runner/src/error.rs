//! Errors of the runner.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum RunnerError {
    #[error("{path}: {message}")]
    Grid { path: PathBuf, message: String },
    #[error(transparent)]
    Model(#[from] models::ModelError),
    #[error(transparent)]
    Dataset(#[from] datasets::DatasetError),
}

pub type Result<T> = std::result::Result<T, RunnerError>;
