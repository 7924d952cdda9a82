//! Errors of report generation.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error(transparent)]
    Store(#[from] tracking::TrackingError),
    #[error("drawing a figure failed: {0}")]
    Plot(String),
    /// A question about the store that has no answer (a config key no run has, …).
    #[error("{0}")]
    Query(String),
    #[error("{path}: {message}")]
    Io { path: PathBuf, message: String },
}

pub type Result<T> = std::result::Result<T, ReportError>;
