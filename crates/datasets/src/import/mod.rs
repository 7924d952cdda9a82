//! Importers: read a real dataset's own files into a manifest (SPEC §4.4).
//!
//! Every importer checks that each track's audio exists; a missing file goes to the manifest's
//! `bad_tracks` with its path, never silently dropped.

pub mod csv_manifest;
pub mod jamendo;
pub mod mtat;

use std::path::{Path, PathBuf};

use crate::error::DatasetError;
use crate::manifest::{BadTrack, Manifest, Track};

/// Keep tracks whose audio exists (recording their size); report the others.
pub(crate) fn check_audio(manifest: &mut Manifest, audio_root: &Path) {
    let (mut kept, mut bad) = (Vec::new(), Vec::new());
    for mut track in std::mem::take(&mut manifest.tracks) {
        let Some(relative) = file_path(&track) else {
            kept.push(track);
            continue;
        };
        let path = audio_root.join(&relative);
        match std::fs::metadata(&path) {
            Ok(meta) if meta.is_file() => {
                track.size_bytes = Some(meta.len());
                kept.push(track);
            }
            Ok(_) => bad.push(missing(&track, &path, "not a regular file")),
            Err(e) => bad.push(missing(&track, &path, &format!("audio file missing ({e})"))),
        }
    }
    manifest.tracks = kept;
    manifest.bad_tracks.extend(bad);
}

fn file_path(track: &Track) -> Option<PathBuf> {
    match &track.source {
        crate::manifest::Source::File { path } => Some(path.clone()),
        crate::manifest::Source::Synth { .. } => None,
    }
}

fn missing(track: &Track, path: &Path, reason: &str) -> BadTrack {
    BadTrack {
        id: track.id.clone(),
        path: Some(path.to_path_buf()),
        reason: reason.to_string(),
    }
}

/// A `csv` reader for tab- or comma-separated text with quotes and CRLF line ends.
pub(crate) fn reader(delimiter: u8, bytes: &[u8]) -> csv::Reader<&[u8]> {
    csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .flexible(true)
        .has_headers(true)
        .trim(csv::Trim::All)
        .from_reader(bytes)
}

/// A whole-file format error naming the file.
pub(crate) fn format_err(path: &Path, message: String) -> DatasetError {
    DatasetError::Format {
        path: path.to_path_buf(),
        message,
    }
}

/// An error at one line of a file.
pub(crate) fn line_err(path: &Path, line: u64, message: String) -> DatasetError {
    DatasetError::Line {
        path: path.to_path_buf(),
        line,
        message,
    }
}

/// Absolute form of a directory (for `audio_root`), falling back to the path as given.
pub(crate) fn absolute(dir: &Path) -> PathBuf {
    std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf())
}
