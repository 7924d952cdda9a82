//! The summary behind `tagscale data info`: tracks per split, tags, kinds, rates, bad tracks.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::manifest::{BadTrack, Manifest, Split};
use crate::schema::TagKind;

/// One tag's kind and how often it is on (classification: share >= 0.5; regression: mean).
#[derive(Debug, Clone, Serialize)]
pub struct TagInfo {
    pub name: String,
    pub kind: TagKind,
    /// Share of tracks with the tag on (classification) or the mean value (regression).
    pub positive_rate: f64,
}

/// Everything `data info` prints.
#[derive(Debug, Clone, Serialize)]
pub struct DatasetInfo {
    pub name: String,
    pub content_hash: String,
    /// Split name -> number of tracks.
    pub splits: BTreeMap<&'static str, usize>,
    /// Number of tags.
    pub tags: usize,
    /// Tag name -> kind.
    pub tag_kinds: BTreeMap<String, TagKind>,
    pub tag_details: Vec<TagInfo>,
    pub bad_tracks: Vec<BadTrack>,
}

impl DatasetInfo {
    pub fn of(manifest: &Manifest) -> Self {
        let splits = Split::ALL
            .iter()
            .map(|s| (s.as_str(), manifest.count(*s)))
            .collect();
        let n = manifest.tracks.len().max(1) as f64;
        let tag_details: Vec<TagInfo> = manifest
            .schema
            .tags
            .iter()
            .enumerate()
            .map(|(j, tag)| {
                let values = manifest.tracks.iter().map(|t| f64::from(t.labels[j]));
                let positive_rate = match tag.kind {
                    TagKind::Classification => values.filter(|v| *v >= 0.5).count() as f64 / n,
                    TagKind::Regression => values.sum::<f64>() / n,
                };
                TagInfo {
                    name: tag.name.clone(),
                    kind: tag.kind,
                    positive_rate,
                }
            })
            .collect();
        Self {
            name: manifest.name.clone(),
            content_hash: manifest.content_hash(),
            splits,
            tags: manifest.schema.len(),
            tag_kinds: tag_details
                .iter()
                .map(|t| (t.name.clone(), t.kind))
                .collect(),
            tag_details,
            bad_tracks: manifest.bad_tracks.clone(),
        }
    }

    /// A readable multi-line summary.
    pub fn to_text(&self) -> String {
        let mut out = format!(
            "dataset {} (content hash {})\n",
            self.name,
            &self.content_hash[..16]
        );
        for (split, count) in &self.splits {
            out.push_str(&format!("  {split:<10} {count:>8} tracks\n"));
        }
        out.push_str(&format!("{} tags:\n", self.tags));
        let width = self
            .tag_details
            .iter()
            .map(|t| t.name.len())
            .max()
            .unwrap_or(0);
        for t in &self.tag_details {
            let what = match t.kind {
                TagKind::Classification => format!("{:5.1} % positive", 100.0 * t.positive_rate),
                TagKind::Regression => format!("mean {:.3}", t.positive_rate),
            };
            out.push_str(&format!(
                "  {:<width$}  {:<14}  {what}\n",
                t.name,
                t.kind.as_str()
            ));
        }
        out.push_str(&format!("{} bad tracks", self.bad_tracks.len()));
        for b in &self.bad_tracks {
            let path = b
                .path
                .as_ref()
                .map(|p| format!(" ({})", p.display()))
                .unwrap_or_default();
            out.push_str(&format!("\n  {}{path}: {}", b.id, b.reason));
        }
        out
    }
}
