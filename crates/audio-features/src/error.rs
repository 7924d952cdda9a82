//! The one error type of the crate: every failure names the file (where there is one) and why.

use std::path::PathBuf;

/// Why audio could not be read or turned into features.
#[derive(Debug, thiserror::Error)]
pub enum AudioError {
    #[error("{path}: cannot read the file")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: is a directory, not an audio file")]
    Directory { path: PathBuf },
    #[error("{path}: the file is empty (0 bytes)")]
    EmptyFile { path: PathBuf },
    #[error("{path}: not a supported audio file (wav, mp3, ogg/vorbis, flac): {reason}")]
    Unsupported { path: PathBuf, reason: String },
    #[error("{path}: corrupt audio: {reason}")]
    Corrupt { path: PathBuf, reason: String },
    #[error("{path}: the file holds no audio samples")]
    NoSamples { path: PathBuf },
    #[error("cannot resample from {from} Hz to {to} Hz: {reason}")]
    Resample { from: u32, to: u32, reason: String },
    #[error("invalid feature configuration: {0}")]
    Config(String),
    #[error("{path}: {reason}")]
    Npy { path: PathBuf, reason: String },
}

/// Result alias of the crate.
pub type Result<T> = std::result::Result<T, AudioError>;
