//! What `tag --csv` and `embed` write about a collection, each file complete or not at all:
//! a score table (the `track,<tag>…` format `tagscale eval --pred` reads), an embedding
//! matrix with the list of its rows' tracks, or one embedding file per track.

use std::path::{Component, Path, PathBuf};

use metrics::table::TableWriter;

use crate::error::{Result, RunnerError};
use crate::tagger::{Tagged, Track};

/// Two folders holding the same relative path would give two rows one track id.
pub fn refuse_duplicate_ids(tracks: &[Track]) -> Result<()> {
    let mut seen = std::collections::HashMap::new();
    for track in tracks {
        if let Some(first) = seen.insert(&track.id, &track.path) {
            return Err(RunnerError::Data(format!(
                "{} and {} would both be track {:?}: tag or embed one folder at a time",
                first.display(),
                track.path.display(),
                track.id
            )));
        }
    }
    Ok(())
}

/// `tag --csv`: every score of every track, rows kept in memory (a few bytes per score)
/// and written in one go.
pub struct ScoreTable {
    path: PathBuf,
    tags: Vec<String>,
    table: TableWriter<Vec<u8>>,
}

impl ScoreTable {
    /// A table of `tags` (the model's outputs, in order) to be written to `path`.
    pub fn new(path: &Path, tags: &[String]) -> Result<Self> {
        let table = TableWriter::new(Vec::new(), tags)
            .map_err(|e| RunnerError::io(path, "cannot write", e))?;
        Ok(Self {
            path: path.to_path_buf(),
            tags: tags.to_vec(),
            table,
        })
    }

    /// The row of `track`: its score for each tag in the table's order (NaN for a tag the
    /// model did not score, which `eval` then refuses).
    pub fn row(&mut self, track: &Track, tagged: &Tagged) -> Result<()> {
        let score = |tag: &String| {
            let found = tagged.scores.iter().find(|(t, _)| t == tag);
            found.map_or(f32::NAN, |(_, s)| *s)
        };
        self.table
            .row(&track.id, self.tags.iter().map(score))
            .map_err(|e| RunnerError::io(&self.path, "cannot write", e))
    }

    pub fn finish(self) -> Result<()> {
        let bytes = self
            .table
            .finish()
            .map_err(|e| RunnerError::io(&self.path, "cannot write", e))?;
        Ok(datasets::atomic_write(&self.path, &bytes)?)
    }
}

/// Where `embed` puts the embeddings.
pub enum EmbeddingOut {
    /// One `[tracks, dims]` `.npy`, and `<name>.tracks.csv` beside it (`row,track,path`).
    Matrix {
        path: PathBuf,
        dims: usize,
        rows: Vec<f32>,
        tracks: Vec<(String, String)>,
    },
    /// A `[dims]` `.npy` per track under a folder, at the track's id + `.npy`.
    PerTrack { dir: PathBuf, written: usize },
}

impl EmbeddingOut {
    pub fn matrix(path: &Path, dims: usize) -> Self {
        Self::Matrix {
            path: path.to_path_buf(),
            dims,
            rows: Vec::new(),
            tracks: Vec::new(),
        }
    }

    pub fn per_track(dir: &Path) -> Self {
        Self::PerTrack {
            dir: dir.to_path_buf(),
            written: 0,
        }
    }

    /// Add `track`'s embedding (a per-track file is written at once).
    pub fn add(&mut self, track: &Track, values: Vec<f32>) -> Result<()> {
        match self {
            Self::Matrix { rows, tracks, .. } => {
                rows.extend(values);
                tracks.push((track.id.clone(), track.path.display().to_string()));
            }
            Self::PerTrack { dir, written } => {
                let path = per_track_path(dir, &track.id);
                if let Some(parent) = path.parent() {
                    std::fs::create_dir_all(parent)
                        .map_err(|e| RunnerError::io(parent, "cannot create", e))?;
                }
                audio_features::npy::write_f32(&path, &[values.len()], &values)?;
                *written += 1;
            }
        }
        Ok(())
    }

    /// Write what is still in memory; the number of tracks embedded.
    pub fn finish(self) -> Result<usize> {
        match self {
            Self::Matrix {
                path,
                dims,
                rows,
                tracks,
            } => {
                audio_features::npy::write_f32(&path, &[tracks.len(), dims], &rows)?;
                write_track_list(&track_list_path(&path), &tracks)?;
                Ok(tracks.len())
            }
            Self::PerTrack { written, .. } => Ok(written),
        }
    }
}

/// `emb.npy` → `emb.tracks.csv`.
pub fn track_list_path(npy: &Path) -> PathBuf {
    let stem = npy
        .file_stem()
        .map_or_else(|| "embeddings".into(), |s| s.to_string_lossy().into_owned());
    npy.with_file_name(format!("{stem}.tracks.csv"))
}

fn write_track_list(path: &Path, tracks: &[(String, String)]) -> Result<()> {
    let failed = |e: csv::Error| RunnerError::io(path, "cannot write", e);
    let mut writer = csv::Writer::from_writer(Vec::new());
    writer
        .write_record(["row", "track", "path"])
        .map_err(failed)?;
    for (row, (id, file)) in tracks.iter().enumerate() {
        writer
            .write_record([row.to_string().as_str(), id, file])
            .map_err(failed)?;
    }
    let bytes = writer
        .into_inner()
        .map_err(|e| RunnerError::io(path, "cannot write", e.into_error()))?;
    Ok(datasets::atomic_write(path, &bytes)?)
}

/// `DIR/<id>.npy` from the id's plain components only: a track given by an absolute path or
/// with `..` stays inside DIR.
fn per_track_path(dir: &Path, id: &str) -> PathBuf {
    let relative: PathBuf = Path::new(id)
        .components()
        .filter_map(|c| match c {
            Component::Normal(part) => Some(part),
            _ => None,
        })
        .collect();
    let mut name = dir.join(relative).into_os_string();
    name.push(".npy");
    PathBuf::from(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn track(id: &str, path: &str) -> Track {
        Track {
            path: PathBuf::from(path),
            id: id.to_string(),
        }
    }

    #[test]
    fn duplicate_ids_are_refused_naming_both_files() {
        let tracks = [
            track("a/x.wav", "/one/a/x.wav"),
            track("a/x.wav", "/two/a/x.wav"),
        ];
        let message = refuse_duplicate_ids(&tracks).unwrap_err().to_string();
        assert!(
            message.contains("/one/a/x.wav") && message.contains("/two/a/x.wav"),
            "{message}"
        );
        assert!(refuse_duplicate_ids(&tracks[..1]).is_ok());
    }

    #[test]
    fn score_rows_follow_the_table_order_not_the_ranking() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("scores.csv");
        let tags = ["rock".to_string(), "calm".to_string()];
        let mut table = ScoreTable::new(&path, &tags).unwrap();
        // Tagged scores come highest first.
        let tagged = Tagged {
            scores: vec![("calm".into(), 0.75), ("rock".into(), 0.125)],
            warning: None,
        };
        table.row(&track("a, \"b\".wav", "/x"), &tagged).unwrap();
        assert!(!path.exists(), "nothing is written before finish");
        table.finish().unwrap();
        let read = metrics::table::Table::read(&path).unwrap();
        assert_eq!(read.tags, tags);
        assert_eq!(read.tracks, ["a, \"b\".wav"]);
        assert_eq!(read.values, [0.125, 0.75]);
    }

    #[test]
    fn per_track_files_stay_inside_the_folder() {
        let dir = Path::new("/out");
        assert_eq!(
            per_track_path(dir, "../../etc/passwd"),
            Path::new("/out/etc/passwd.npy")
        );
        assert_eq!(
            per_track_path(dir, "/abs/song.mp3"),
            Path::new("/out/abs/song.mp3.npy")
        );
        assert_eq!(
            per_track_path(dir, "a/./b.wav"),
            Path::new("/out/a/b.wav.npy")
        );
    }

    #[test]
    fn a_matrix_lists_its_rows_tracks_beside_it() {
        let dir = tempfile::tempdir().unwrap();
        let npy = dir.path().join("emb.npy");
        let mut out = EmbeddingOut::matrix(&npy, 2);
        out.add(&track("a.wav", "/c/a.wav"), vec![1.0, 2.0])
            .unwrap();
        out.add(&track("b,1.wav", "/c/b,1.wav"), vec![3.0, 4.0])
            .unwrap();
        assert_eq!(out.finish().unwrap(), 2);
        let array = audio_features::npy::read(&npy).unwrap();
        assert_eq!(array.shape, [2, 2]);
        assert_eq!(array.data, [1.0, 2.0, 3.0, 4.0]);
        let list = std::fs::read_to_string(dir.path().join("emb.tracks.csv")).unwrap();
        assert_eq!(
            list,
            "row,track,path\n0,a.wav,/c/a.wav\n1,\"b,1.wav\",\"/c/b,1.wav\"\n"
        );
    }
}
