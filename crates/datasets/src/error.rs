//! Errors of the datasets crate: each names the file, line or tag it is about.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum DatasetError {
    #[error("{path}: {action}")]
    Io {
        path: PathBuf,
        action: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Format { path: PathBuf, message: String },
    #[error(
        "{shard}: the cached {what} of track {track:?} {problem}: the cache is damaged; \
         `tagscale data cache` verifies it and rebuilds the damaged shards"
    )]
    Damaged {
        shard: PathBuf,
        track: String,
        what: &'static str,
        problem: &'static str,
    },
    #[error("interrupted by a signal (finished cache shards are kept; the next build resumes)")]
    Interrupted,
    #[error("{path}:{line}: {message}")]
    Line {
        path: PathBuf,
        line: u64,
        message: String,
    },
    #[error("unknown tag {tag:?} (known tags: {known})")]
    UnknownTag { tag: String, known: String },
    #[error("training-set size {requested} is larger than the training split ({available} tracks)")]
    SubsetTooLarge { requested: usize, available: usize },
    #[error("invalid dataset configuration: {0}")]
    Config(String),
    #[error(transparent)]
    Audio(#[from] audio_features::AudioError),
}

pub type Result<T> = std::result::Result<T, DatasetError>;

/// Attach a path and an action to an I/O error.
pub(crate) fn io_err(
    path: &std::path::Path,
    action: &'static str,
) -> impl FnOnce(std::io::Error) -> DatasetError {
    let path = path.to_path_buf();
    move |source| DatasetError::Io {
        path,
        action,
        source,
    }
}
