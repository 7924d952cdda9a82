//! Generic CSV/TSV manifests: a `path` column, one numeric column per tag (values in [0, 1]),
//! optional `id`, `split` and `group` columns. Tag kinds are inferred (SPEC §4.1) and can be
//! overridden; tracks without a split get a seeded split by group.

use std::path::Path;

use super::{format_err, line_err};
use crate::error::{Result, io_err};
use crate::manifest::{DatasetKind, Manifest, Source, Split, Track};
use crate::schema::{TagKind, TagSchema};
use crate::split::{SplitFractions, split_for_group};

const RESERVED: [&str; 4] = ["path", "id", "split", "group"];

/// Import `file`; audio paths resolve against the file's directory.
pub fn import(
    file: &Path,
    kind_overrides: &[(String, TagKind)],
    split_seed: u64,
) -> Result<Manifest> {
    let bytes = std::fs::read(file).map_err(io_err(file, "cannot read the CSV manifest"))?;
    let first_line = bytes.split(|&b| b == b'\n').next().unwrap_or(&[]);
    let is_tsv = file.extension().is_some_and(|e| e == "tsv") || first_line.contains(&b'\t');
    let mut reader = super::reader(if is_tsv { b'\t' } else { b',' }, &bytes);
    let header: Vec<String> = reader
        .headers()
        .map_err(|e| format_err(file, e.to_string()))?
        .iter()
        .map(String::from)
        .collect();
    let column = |name: &str| header.iter().position(|h| h == name);
    let path_col = column("path").ok_or_else(|| format_err(file, "no `path` column".into()))?;
    let (id_col, split_col, group_col) = (column("id"), column("split"), column("group"));
    let tag_cols: Vec<usize> = (0..header.len())
        .filter(|&j| !RESERVED.contains(&header[j].as_str()))
        .collect();
    if tag_cols.is_empty() {
        return Err(format_err(
            file,
            "no tag columns besides path/id/split/group".into(),
        ));
    }

    let mut tracks = Vec::new();
    for (i, record) in reader.records().enumerate() {
        let line = i as u64 + 2;
        let bad = |message: String| line_err(file, line, message);
        let record = record.map_err(|e| bad(e.to_string()))?;
        if record.len() != header.len() {
            return Err(bad(format!(
                "{} fields, the header has {}",
                record.len(),
                header.len()
            )));
        }
        let labels = tag_cols
            .iter()
            .map(|&j| {
                let v: f32 = record[j].parse().map_err(|_| {
                    bad(format!(
                        "tag {:?}: {:?} is not a number",
                        header[j], &record[j]
                    ))
                })?;
                if (0.0..=1.0).contains(&v) {
                    Ok(v)
                } else {
                    Err(bad(format!("tag {:?}: {v} is outside [0, 1]", header[j])))
                }
            })
            .collect::<Result<Vec<f32>>>()?;
        let path = record[path_col].to_string();
        let group = group_col.map_or_else(|| path.clone(), |j| record[j].to_string());
        let split = match split_col.map(|j| &record[j]) {
            Some(s) if !s.is_empty() => Split::parse(s)
                .ok_or_else(|| bad(format!("unknown split {s:?} (train, validation, test)")))?,
            _ => split_for_group(&group, split_seed, SplitFractions::default()),
        };
        tracks.push(Track {
            id: id_col.map_or_else(|| path.clone(), |j| record[j].to_string()),
            source: Source::File { path: path.into() },
            duration: None,
            group,
            split,
            labels,
            size_bytes: None,
        });
    }
    let labels: Vec<Vec<f32>> = tracks.iter().map(|t| t.labels.clone()).collect();
    let mut schema = TagSchema::inferred(
        tag_cols.iter().map(|&j| header[j].clone()).collect(),
        &labels,
    );
    schema.override_kinds(kind_overrides.iter().map(|(n, k)| (n.as_str(), *k)))?;
    let name = file
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("csv")
        .to_string();
    let mut manifest = Manifest::new(name, DatasetKind::Csv, schema);
    manifest.tracks = tracks;
    let root = file.parent().unwrap_or(Path::new("."));
    super::check_audio(&mut manifest, root);
    manifest.audio_root = Some(super::absolute(root));
    Ok(manifest)
}
