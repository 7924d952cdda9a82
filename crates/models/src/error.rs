//! Errors of the models crate.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("invalid model configuration: {0}")]
    Config(String),
    #[error("backend {backend:?} is not available in this build: {hint}")]
    BackendUnavailable { backend: String, hint: String },
    #[error("unknown backend {0:?} (expected flex, libtorch, libtorch-cuda or cuda)")]
    UnknownBackend(String),
    #[error("{path}: {message}")]
    Checkpoint { path: PathBuf, message: String },
    #[error("input shape {got:?} does not match the model (expected {expected})")]
    Shape { got: Vec<usize>, expected: String },
}

pub type Result<T> = std::result::Result<T, ModelError>;
