//! The manifest: a dataset's tracks, their labels and splits, and its content hash (SPEC §4.1).

use std::fs;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{DatasetError, Result, io_err};
use crate::schema::TagSchema;

/// File name of the manifest inside a dataset directory.
pub const MANIFEST_FILE: &str = "manifest.json";
/// Version of the manifest file layout.
const FORMAT_VERSION: u32 = 1;

/// Where a dataset came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DatasetKind {
    Synth,
    Mtat,
    Jamendo,
    Csv,
}

/// The fixed evaluation protocol: which split a track belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Split {
    Train,
    Validation,
    Test,
}

impl Split {
    pub const ALL: [Split; 3] = [Split::Train, Split::Validation, Split::Test];

    pub fn as_str(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Validation => "validation",
            Split::Test => "test",
        }
    }

    pub fn parse(s: &str) -> Option<Split> {
        match s.trim().to_ascii_lowercase().as_str() {
            "train" | "training" => Some(Split::Train),
            "validation" | "valid" | "val" => Some(Split::Validation),
            "test" => Some(Split::Test),
            _ => None,
        }
    }
}

/// How to obtain a track's audio.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase", deny_unknown_fields)]
pub enum Source {
    /// An audio file, relative to the manifest's directory (or absolute).
    File { path: PathBuf },
    /// A track of the synthetic corpus, regenerable from its recipe alone.
    Synth { seed: u64, index: u64 },
}

/// One track.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Track {
    pub id: String,
    pub source: Source,
    /// Seconds, when known.
    pub duration: Option<f64>,
    /// Work / artist / album id: tracks of one group never straddle two splits.
    pub group: String,
    pub split: Split,
    /// One value per tag of the schema, in schema order.
    pub labels: Vec<f32>,
    /// File size in bytes, when the source is a file (part of the content hash).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size_bytes: Option<u64>,
}

/// A track that an importer or the cache could not use, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BadTrack {
    pub id: String,
    pub path: Option<PathBuf>,
    pub reason: String,
}

/// A dataset: tag schema, tracks, and the tracks left out with their reasons.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub format_version: u32,
    pub name: String,
    pub kind: DatasetKind,
    /// Version of the generator for generated corpora (part of the content hash).
    pub generator_version: Option<String>,
    pub schema: TagSchema,
    pub tracks: Vec<Track>,
    pub bad_tracks: Vec<BadTrack>,
    /// Where relative audio paths resolve when the audio does not live beside the manifest
    /// (imported datasets). Not part of the content hash: moving the data keeps the hash.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audio_root: Option<PathBuf>,
    /// Directory the manifest was loaded from.
    #[serde(skip)]
    pub root: PathBuf,
}

impl Manifest {
    pub fn new(name: impl Into<String>, kind: DatasetKind, schema: TagSchema) -> Self {
        Self {
            format_version: FORMAT_VERSION,
            name: name.into(),
            kind,
            generator_version: None,
            schema,
            tracks: Vec::new(),
            bad_tracks: Vec::new(),
            audio_root: None,
            root: PathBuf::new(),
        }
    }

    /// Read `DIR/manifest.json` (or the file itself when given one).
    pub fn load(path: &Path) -> Result<Self> {
        let file = if path.is_dir() {
            path.join(MANIFEST_FILE)
        } else {
            path.to_path_buf()
        };
        let text = fs::read_to_string(&file).map_err(io_err(&file, "cannot read the manifest"))?;
        let mut manifest: Manifest =
            serde_json::from_str(&text).map_err(|e| DatasetError::Format {
                path: file.clone(),
                message: format!("not a valid tagscale manifest: {e}"),
            })?;
        manifest.root = file.parent().map(Path::to_path_buf).unwrap_or_default();
        manifest
            .validate()
            .map_err(|message| DatasetError::Format {
                path: file.clone(),
                message,
            })?;
        Ok(manifest)
    }

    /// Write `DIR/manifest.json` atomically (temporary file + rename).
    pub fn save(&self, dir: &Path) -> Result<PathBuf> {
        fs::create_dir_all(dir).map_err(io_err(dir, "cannot create the dataset directory"))?;
        let path = dir.join(MANIFEST_FILE);
        let text = serde_json::to_string_pretty(self).map_err(|e| DatasetError::Format {
            path: path.clone(),
            message: e.to_string(),
        })?;
        crate::atomic_write(&path, text.as_bytes())?;
        Ok(path)
    }

    /// Structural checks: label vectors match the schema, ids are unique.
    fn validate(&self) -> std::result::Result<(), String> {
        let n = self.schema.len();
        let mut ids = std::collections::HashSet::new();
        for t in &self.tracks {
            if t.labels.len() != n {
                return Err(format!(
                    "track {:?} has {} labels, the schema has {n} tags",
                    t.id,
                    t.labels.len()
                ));
            }
            if !ids.insert(&t.id) {
                return Err(format!("track id {:?} appears twice", t.id));
            }
        }
        Ok(())
    }

    /// Absolute path of a file track's audio.
    pub fn audio_path(&self, track: &Track) -> Option<PathBuf> {
        match &track.source {
            Source::File { path } => {
                Some(self.audio_root.as_ref().unwrap_or(&self.root).join(path))
            }
            Source::Synth { .. } => None,
        }
    }

    pub fn tracks_in(&self, split: Split) -> impl Iterator<Item = (usize, &Track)> {
        self.tracks
            .iter()
            .enumerate()
            .filter(move |(_, t)| t.split == split)
    }

    pub fn count(&self, split: Split) -> usize {
        self.tracks_in(split).count()
    }

    /// Content hash: sha256 over the generator version and, in id order, each track's source,
    /// size, split and label values. Independent of track order and of where the data lives.
    pub fn content_hash(&self) -> String {
        let mut order: Vec<&Track> = self.tracks.iter().collect();
        order.sort_by(|a, b| a.id.cmp(&b.id));
        let mut h = Sha256::new();
        h.update(b"tagscale-manifest-v1\0");
        h.update(self.generator_version.as_deref().unwrap_or("").as_bytes());
        h.update(b"\0");
        for tag in &self.schema.tags {
            h.update(tag.name.as_bytes());
            h.update([0, tag.kind as u8]);
        }
        for t in order {
            h.update(t.id.as_bytes());
            h.update(b"\0");
            match &t.source {
                Source::File { path } => {
                    h.update(path.to_string_lossy().as_bytes());
                    h.update(t.size_bytes.unwrap_or(0).to_le_bytes());
                }
                Source::Synth { seed, index } => {
                    h.update(seed.to_le_bytes());
                    h.update(index.to_le_bytes());
                }
            }
            h.update([t.split as u8]);
            for v in &t.labels {
                h.update(v.to_bits().to_le_bytes());
            }
        }
        hex::encode(h.finalize())
    }
}
