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

/// Writes a table in the layout [`Table::read`] reads: a `track` column, then one column per
/// tag, each value as Rust prints an f32 (the shortest text that reads back to the same bits).
pub struct TableWriter<W: std::io::Write> {
    writer: csv::Writer<W>,
}

impl<W: std::io::Write> TableWriter<W> {
    /// A table of `tags` over `out`, its header written.
    pub fn new(out: W, tags: &[String]) -> std::io::Result<Self> {
        let mut writer = csv::Writer::from_writer(out);
        let header = std::iter::once("track").chain(tags.iter().map(String::as_str));
        writer.write_record(header)?;
        Ok(Self { writer })
    }

    /// One track's row: its values in the header's tag order.
    pub fn row(
        &mut self,
        track: &str,
        values: impl IntoIterator<Item = f32>,
    ) -> std::io::Result<()> {
        let values = values.into_iter().map(|v| v.to_string());
        Ok(self
            .writer
            .write_record(std::iter::once(track.to_string()).chain(values))?)
    }

    /// Everything flushed to `out`, which is handed back.
    pub fn finish(self) -> std::io::Result<W> {
        self.writer.into_inner().map_err(|e| e.into_error())
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_written_table_reads_back_with_the_same_tracks_tags_and_bits() {
        let tags = vec!["rock".to_string(), "tempo, bpm".to_string()];
        let rows = [
            ("a/01.mp3", [0.1f32, 1.0 / 3.0]),
            ("b,02", [f32::MIN_POSITIVE, 7.5]),
        ];
        let mut writer = TableWriter::new(Vec::new(), &tags).unwrap();
        for (track, values) in rows {
            writer.row(track, values).unwrap();
        }
        let dir = std::env::temp_dir().join(format!("table-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("scores.csv");
        std::fs::write(&path, writer.finish().unwrap()).unwrap();
        let table = Table::read(&path).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(table.tracks, ["a/01.mp3", "b,02"]);
        assert_eq!(table.tags, tags);
        // Read as f64 from the shortest text, each value narrows back to the f32 written.
        let read: Vec<u32> = table.values.iter().map(|&v| (v as f32).to_bits()).collect();
        let written: Vec<u32> = rows.iter().flat_map(|(_, v)| v.map(f32::to_bits)).collect();
        assert_eq!(read, written);
    }
}
