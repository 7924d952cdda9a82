//! CSV tables of per-track values (`track` column + one column per tag), as `tagscale eval`
//! reads predictions and truth, matched by track id rather than by row position.

use std::collections::HashMap;
use std::path::Path;

/// Why a table could not be read or matched.
#[derive(Debug, thiserror::Error)]
pub enum TableError {
    #[error("{path}: {message}")]
    Read { path: String, message: String },
    #[error("{path}:{line}: {message}")]
    Line {
        path: String,
        line: u64,
        message: String,
    },
    #[error("{0}")]
    Mismatch(String),
}

/// Values per track and tag, row-major `[tracks, tags]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    pub tracks: Vec<String>,
    pub tags: Vec<String>,
    pub values: Vec<f64>,
}

impl Table {
    /// Read a CSV (or TSV, by extension or a tab in the header) with a `track` column.
    pub fn read(path: &Path) -> Result<Self, TableError> {
        let p = path.display().to_string();
        let bytes = std::fs::read(path).map_err(|e| TableError::Read {
            path: p.clone(),
            message: e.to_string(),
        })?;
        let header_line = bytes.split(|&b| b == b'\n').next().unwrap_or(&[]);
        let tsv = path.extension().is_some_and(|e| e == "tsv") || header_line.contains(&b'\t');
        let mut reader = csv::ReaderBuilder::new()
            .delimiter(if tsv { b'\t' } else { b',' })
            .trim(csv::Trim::All)
            .from_reader(bytes.as_slice());
        let header: Vec<String> = reader
            .headers()
            .map_err(|e| TableError::Read {
                path: p.clone(),
                message: e.to_string(),
            })?
            .iter()
            .map(String::from)
            .collect();
        let track_col =
            header
                .iter()
                .position(|h| h == "track")
                .ok_or_else(|| TableError::Read {
                    path: p.clone(),
                    message: "no `track` column".into(),
                })?;
        let tags: Vec<String> = header
            .iter()
            .enumerate()
            .filter(|(j, _)| *j != track_col)
            .map(|(_, h)| h.clone())
            .collect();
        let mut columns = HashMap::new();
        for (j, h) in header.iter().enumerate() {
            if let Some(first) = columns.insert(h.as_str(), j) {
                return Err(TableError::Line {
                    path: p.clone(),
                    line: 1,
                    message: format!(
                        "column {h:?} appears twice (columns {} and {})",
                        first + 1,
                        j + 1
                    ),
                });
            }
        }
        let (mut tracks, mut values) = (Vec::new(), Vec::new());
        let mut seen = HashMap::new();
        for (i, record) in reader.records().enumerate() {
            let line = i as u64 + 2;
            let bad = |message: String| TableError::Line {
                path: p.clone(),
                line,
                message,
            };
            let record = record.map_err(|e| bad(e.to_string()))?;
            let track = record.get(track_col).unwrap_or_default().to_string();
            if let Some(first) = seen.insert(track.clone(), line) {
                return Err(bad(format!(
                    "track {track:?} already appeared on line {first}"
                )));
            }
            for (j, field) in record.iter().enumerate().filter(|(j, _)| *j != track_col) {
                let v: f64 = field.parse().map_err(|_| {
                    bad(format!("column {:?}: {field:?} is not a number", header[j]))
                })?;
                if !v.is_finite() {
                    return Err(bad(format!(
                        "column {:?}: {field} is not finite",
                        header[j]
                    )));
                }
                values.push(v);
            }
            tracks.push(track);
        }
        Ok(Self {
            tracks,
            tags,
            values,
        })
    }

    /// `self`'s values re-ordered to `other`'s tracks and tags. Tracks or tags missing on
    /// either side are an error that lists them.
    pub fn aligned_to(&self, other: &Table) -> Result<Vec<f64>, TableError> {
        let col: HashMap<&str, usize> = self
            .tags
            .iter()
            .enumerate()
            .map(|(j, t)| (t.as_str(), j))
            .collect();
        let row: HashMap<&str, usize> = self
            .tracks
            .iter()
            .enumerate()
            .map(|(i, t)| (t.as_str(), i))
            .collect();
        let missing = |want: &[String], have: &HashMap<&str, usize>| -> Vec<String> {
            want.iter()
                .filter(|w| !have.contains_key(w.as_str()))
                .cloned()
                .collect()
        };
        let (missing_tags, missing_tracks) =
            (missing(&other.tags, &col), missing(&other.tracks, &row));
        let other_tracks: HashMap<&str, usize> = other
            .tracks
            .iter()
            .enumerate()
            .map(|(i, t)| (t.as_str(), i))
            .collect();
        let extra_tracks = missing(&self.tracks, &other_tracks);
        if !missing_tags.is_empty() || !missing_tracks.is_empty() || !extra_tracks.is_empty() {
            let list = |v: &[String]| {
                let shown: Vec<&str> = v.iter().take(20).map(String::as_str).collect();
                format!(
                    "{}{}",
                    shown.join(", "),
                    if v.len() > 20 {
                        format!(" … ({} in all)", v.len())
                    } else {
                        String::new()
                    }
                )
            };
            let mut parts = Vec::new();
            if !missing_tags.is_empty() {
                parts.push(format!(
                    "tags missing from the predictions: {}",
                    list(&missing_tags)
                ));
            }
            if !missing_tracks.is_empty() {
                parts.push(format!(
                    "tracks missing from the predictions: {}",
                    list(&missing_tracks)
                ));
            }
            if !extra_tracks.is_empty() {
                parts.push(format!("tracks without truth: {}", list(&extra_tracks)));
            }
            return Err(TableError::Mismatch(parts.join("; ")));
        }
        let n = self.tags.len();
        let cols: Vec<usize> = other.tags.iter().map(|tag| col[tag.as_str()]).collect();
        let mut out = Vec::with_capacity(other.tracks.len() * cols.len());
        for t in &other.tracks {
            let r = row[t.as_str()];
            out.extend(cols.iter().map(|&c| self.values[r * n + c]));
        }
        Ok(out)
    }

    /// One tag's values over all tracks.
    pub fn column(&self, tag: usize) -> impl Iterator<Item = f64> + '_ {
        self.values
            .iter()
            .skip(tag)
            .step_by(self.tags.len().max(1))
            .copied()
    }
}
