//! MTG-Jamendo: `autotagging_top50tags-{train,validation,test}.tsv` (split-0): tab-separated,
//! CRLF, header `TRACK_ID ARTIST_ID ALBUM_ID PATH DURATION TAGS`, then one tag per trailing
//! column (`genre---rock`, `instrument---synthesizer`, `mood/theme---happy`).

use std::collections::BTreeSet;
use std::path::Path;

use super::{format_err, line_err};
use crate::error::{Result, io_err};
use crate::manifest::{DatasetKind, Manifest, Source, Split, Track};
use crate::schema::{Tag, TagKind, TagSchema};

const HEADER: [&str; 6] = [
    "TRACK_ID",
    "ARTIST_ID",
    "ALBUM_ID",
    "PATH",
    "DURATION",
    "TAGS",
];

/// The split files of one Jamendo subset (`prefix` e.g. `autotagging_top50tags`).
pub fn split_file(dir: &Path, prefix: &str, split: Split) -> std::path::PathBuf {
    dir.join(format!("{prefix}-{}.tsv", split.as_str()))
}

struct Row {
    id: String,
    artist: String,
    path: String,
    duration: Option<f64>,
    tags: Vec<String>,
    split: Split,
}

/// Import the three split files from `dir`; audio paths (`PATH`) resolve against `audio_dir`.
pub fn import(dir: &Path, prefix: &str, audio_dir: &Path) -> Result<Manifest> {
    let mut rows = Vec::new();
    for split in Split::ALL {
        rows.extend(read_split(&split_file(dir, prefix, split), split)?);
    }
    let names: BTreeSet<&str> = rows
        .iter()
        .flat_map(|r| r.tags.iter().map(String::as_str))
        .collect();
    let names: Vec<String> = names.into_iter().map(String::from).collect();
    let schema = TagSchema {
        tags: names
            .iter()
            .map(|n| Tag {
                name: n.clone(),
                kind: TagKind::Classification,
            })
            .collect(),
    };
    let mut manifest = Manifest::new("jamendo", DatasetKind::Jamendo, schema);
    for row in rows {
        let labels = names
            .iter()
            .map(|n| if row.tags.contains(n) { 1.0 } else { 0.0 })
            .collect();
        manifest.tracks.push(Track {
            id: row.id,
            source: Source::File {
                path: row.path.into(),
            },
            duration: row.duration,
            group: row.artist,
            split: row.split,
            labels,
            size_bytes: None,
        });
    }
    super::check_audio(&mut manifest, audio_dir);
    manifest.audio_root = Some(super::absolute(audio_dir));
    Ok(manifest)
}

fn read_split(path: &Path, split: Split) -> Result<Vec<Row>> {
    let bytes = std::fs::read(path).map_err(io_err(path, "cannot read the Jamendo split file"))?;
    let mut reader = super::reader(b'\t', &bytes);
    let header = reader
        .headers()
        .map_err(|e| format_err(path, e.to_string()))?
        .clone();
    if header.iter().take(6).ne(HEADER) {
        return Err(format_err(
            path,
            format!("expected the header {}", HEADER.join(" ")),
        ));
    }
    let mut rows = Vec::new();
    for (i, record) in reader.records().enumerate() {
        let line = i as u64 + 2;
        let bad = |message: String| line_err(path, line, message);
        let record = record.map_err(|e| bad(e.to_string()))?;
        if record.len() < 6 {
            return Err(bad(format!("{} fields, expected at least 6", record.len())));
        }
        let tags: Vec<String> = record
            .iter()
            .skip(5)
            .filter(|t| !t.is_empty())
            .map(String::from)
            .collect();
        if let Some(t) = tags.iter().find(|t| !t.contains("---")) {
            return Err(bad(format!("tag {t:?} is not of the form category---name")));
        }
        rows.push(Row {
            id: record[0].to_string(),
            artist: record[1].to_string(),
            path: record[3].to_string(),
            duration: record[4].parse().ok(),
            tags,
            split,
        });
    }
    Ok(rows)
}
