//! MagnaTagATune: `annotations_final.csv` (tab-separated, every field double-quoted, CRLF,
//! `clip_id`, 188 tag columns of "0"/"1", `mp3_path`).
//!
//! Standard use: the 50 most frequent tags, and the ISMIR 2018 split by the folder letter of
//! `mp3_path` (0–b train, c validation, d–f test) without the broken clips 35644, 55753 and
//! 57881 — or a user-supplied split list.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::{format_err, line_err};
use crate::error::{Result, io_err};
use crate::manifest::{BadTrack, DatasetKind, Manifest, Source, Split, Track};
use crate::schema::{Tag, TagKind, TagSchema};

pub const ANNOTATIONS: &str = "annotations_final.csv";
/// Clips known to be broken in the MTAT distribution.
pub const BROKEN_CLIPS: [&str; 3] = ["35644", "55753", "57881"];
/// Number of most frequent tags kept by the standard protocol.
pub const TOP_TAGS: usize = 50;

/// How to split MTAT.
#[derive(Debug, Clone)]
pub enum MtatSplit {
    /// By the first character of `mp3_path`: 0–b train, c validation, d–f test.
    FolderLetter,
    /// `clip_id -> split` from a user file (lines `clip_id<whitespace or comma>split`).
    List(PathBuf),
}

/// Import `DIR/annotations_final.csv`; audio paths resolve against `DIR`.
pub fn import(dir: &Path, top_tags: usize, split: &MtatSplit) -> Result<Manifest> {
    let file = dir.join(ANNOTATIONS);
    let bytes = std::fs::read(&file).map_err(io_err(&file, "cannot read the MTAT annotations"))?;
    let mut reader = super::reader(b'\t', &bytes);
    let headers = reader
        .headers()
        .map_err(|e| format_err(&file, e.to_string()))?
        .clone();
    if headers.len() < 3 || &headers[0] != "clip_id" || &headers[headers.len() - 1] != "mp3_path" {
        return Err(format_err(
            &file,
            format!(
                "expected columns clip_id, <tags>, mp3_path; found {} columns starting {:?}",
                headers.len(),
                headers.get(0).unwrap_or("")
            ),
        ));
    }
    let tag_names: Vec<String> = headers
        .iter()
        .skip(1)
        .take(headers.len() - 2)
        .map(String::from)
        .collect();
    let user_split = match split {
        MtatSplit::List(path) => Some(read_split_list(path)?),
        MtatSplit::FolderLetter => None,
    };

    let mut rows: Vec<(String, String, Vec<f32>)> = Vec::new();
    for (i, record) in reader.records().enumerate() {
        let line = i as u64 + 2;
        let record = record.map_err(|e| line_err(&file, line, e.to_string()))?;
        if record.len() != headers.len() {
            return Err(line_err(
                &file,
                line,
                format!("{} fields, the header has {}", record.len(), headers.len()),
            ));
        }
        let labels = (1..record.len() - 1)
            .map(|j| match &record[j] {
                "0" => Ok(0.0),
                "1" => Ok(1.0),
                other => Err(line_err(
                    &file,
                    line,
                    format!(
                        "tag {:?} has value {other:?}, expected \"0\" or \"1\"",
                        tag_names[j - 1]
                    ),
                )),
            })
            .collect::<Result<Vec<f32>>>()?;
        rows.push((
            record[0].to_string(),
            record[record.len() - 1].to_string(),
            labels,
        ));
    }

    let keep = top_tag_columns(&rows, tag_names.len(), top_tags);
    let schema = TagSchema {
        tags: keep
            .iter()
            .map(|&j| Tag {
                name: tag_names[j].clone(),
                kind: TagKind::Classification,
            })
            .collect(),
    };
    let mut manifest = Manifest::new("mtat", DatasetKind::Mtat, schema);
    for (clip_id, mp3_path, labels) in rows {
        if BROKEN_CLIPS.contains(&clip_id.as_str()) {
            manifest.bad_tracks.push(BadTrack {
                id: clip_id,
                path: Some(mp3_path.into()),
                reason: "known broken clip of the MTAT distribution".into(),
            });
            continue;
        }
        if mp3_path.is_empty() {
            manifest.bad_tracks.push(BadTrack {
                id: clip_id,
                path: None,
                reason: "no mp3_path in the annotations".into(),
            });
            continue;
        }
        let split = match &user_split {
            Some(list) => match list.get(&clip_id) {
                Some(s) => *s,
                None => continue, // not part of the user's protocol
            },
            None => match folder_split(&mp3_path) {
                Some(s) => s,
                None => {
                    manifest.bad_tracks.push(BadTrack {
                        id: clip_id,
                        path: Some(mp3_path.into()),
                        reason: "mp3_path does not start with a folder 0-9 or a-f".into(),
                    });
                    continue;
                }
            },
        };
        manifest.tracks.push(Track {
            group: song_of(&mp3_path),
            id: clip_id,
            source: Source::File {
                path: mp3_path.into(),
            },
            duration: None,
            split,
            labels: keep.iter().map(|&j| labels[j]).collect(),
            size_bytes: None,
        });
    }
    super::check_audio(&mut manifest, dir);
    manifest.audio_root = Some(super::absolute(dir));
    Ok(manifest)
}

/// Column indices of the `n` most frequent tags, in their original column order (ties keep
/// the earlier column).
fn top_tag_columns(rows: &[(String, String, Vec<f32>)], columns: usize, n: usize) -> Vec<usize> {
    let mut counts: Vec<(usize, usize)> = (0..columns)
        .map(|j| (j, rows.iter().filter(|r| r.2[j] > 0.5).count()))
        .collect();
    counts.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let mut keep: Vec<usize> = counts.into_iter().take(n).map(|(j, _)| j).collect();
    keep.sort_unstable();
    keep
}

/// The ISMIR 2018 split by folder letter.
pub fn folder_split(mp3_path: &str) -> Option<Split> {
    match mp3_path.chars().next()?.to_ascii_lowercase() {
        '0'..='9' | 'a' | 'b' => Some(Split::Train),
        'c' => Some(Split::Validation),
        'd'..='f' => Some(Split::Test),
        _ => None,
    }
}

/// Clips of one song share the path up to the trailing `-<start>-<end>.mp3`.
fn song_of(mp3_path: &str) -> String {
    let stem = mp3_path.strip_suffix(".mp3").unwrap_or(mp3_path);
    let mut parts: Vec<&str> = stem.split('-').collect();
    for _ in 0..2 {
        if parts.len() > 1
            && parts
                .last()
                .is_some_and(|p| p.chars().all(|c| c.is_ascii_digit()))
        {
            parts.pop();
        }
    }
    parts.join("-")
}

fn read_split_list(path: &Path) -> Result<HashMap<String, Split>> {
    let text = std::fs::read_to_string(path).map_err(io_err(path, "cannot read the split list"))?;
    let mut splits = HashMap::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut fields = line
            .split(|c: char| c == ',' || c.is_whitespace())
            .filter(|f| !f.is_empty());
        let (Some(id), Some(name)) = (fields.next(), fields.next()) else {
            return Err(line_err(
                path,
                i as u64 + 1,
                "expected `clip_id split`".into(),
            ));
        };
        let split = Split::parse(name).ok_or_else(|| {
            line_err(
                path,
                i as u64 + 1,
                format!("unknown split {name:?} (train, validation, test)"),
            )
        })?;
        splits.insert(id.trim_matches('"').to_string(), split);
    }
    Ok(splits)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folder_letters_map_to_the_ismir_2018_split() {
        assert_eq!(folder_split("0/x.mp3"), Some(Split::Train));
        assert_eq!(folder_split("b/x.mp3"), Some(Split::Train));
        assert_eq!(folder_split("c/x.mp3"), Some(Split::Validation));
        assert_eq!(folder_split("f/x.mp3"), Some(Split::Test));
        assert_eq!(folder_split("g/x.mp3"), None);
    }

    #[test]
    fn clips_of_one_song_share_a_group() {
        let a =
            song_of("f/american_bach_soloists-j_s__bach_solo_cantatas-01-bwv54__i_aria-30-59.mp3");
        let b =
            song_of("f/american_bach_soloists-j_s__bach_solo_cantatas-01-bwv54__i_aria-59-88.mp3");
        assert_eq!(a, b);
        assert_eq!(
            a,
            "f/american_bach_soloists-j_s__bach_solo_cantatas-01-bwv54__i_aria"
        );
    }
}
