//! One finished run's saved test set — tag names and kinds, the human labels and the run's
//! song-level predictions aligned by track — read from its `labels_test`, `predictions_test`
//! and `tags` artifacts. The intervals, `examples.md` and the dashboard's Listen page all read
//! runs through this.

use std::path::{Path, PathBuf};

use metrics::table::Table;
use metrics::{Scores, TagKind};
use tracking::Store;
use tracking::keys::artifact;

/// A classification label at or above this is a positive (SPEC §7: truth binarised at 0.5).
pub const POSITIVE: f64 = 0.5;

#[derive(Debug, Clone)]
pub struct TestSet {
    /// Test track ids, in the labels' order.
    pub tracks: Vec<String>,
    pub names: Vec<String>,
    pub kinds: Vec<TagKind>,
    /// `[tracks × tags]`, row-major.
    pub truth: Vec<f64>,
    /// `[tracks × tags]`, aligned to `truth`.
    pub predictions: Vec<f64>,
}

/// One tag of one track and its value.
#[derive(Debug, Clone, PartialEq)]
pub struct TagValue<'a> {
    pub tag: &'a str,
    pub value: f64,
}

impl TestSet {
    /// Run `run`'s saved test set. `resolve` maps a recorded artifact path to the file to read
    /// (or refuses it); the error says which artifact is missing or unreadable.
    pub fn of_run(
        store: &Store,
        run: i64,
        resolve: impl Fn(&Path) -> Option<PathBuf>,
    ) -> Result<Self, String> {
        let artifacts = store.artifacts(run).map_err(|e| e.to_string())?;
        let path = |name: &str| {
            let recorded = artifacts
                .iter()
                .find(|a| a.name == name)
                .ok_or_else(|| format!("run {run} recorded no `{name}` artifact"))?;
            resolve(Path::new(&recorded.path)).ok_or_else(|| {
                format!(
                    "run {run}'s `{name}` artifact ({}) cannot be read here",
                    recorded.path
                )
            })
        };
        let table = |name: &str| {
            let path = path(name)?;
            Table::read(&path).map_err(|e| format!("run {run}'s `{name}`: {e}"))
        };
        let labels = table(artifact::LABELS_TEST)?;
        let predictions = table(artifact::PREDICTIONS_TEST)?
            .aligned_to(&labels)
            .map_err(|e| format!("run {run}'s predictions and labels disagree: {e}"))?;
        let tags_path = path(artifact::TAGS)?;
        let tags: Vec<serde_json::Value> = std::fs::read_to_string(&tags_path)
            .map_err(|e| e.to_string())
            .and_then(|text| serde_json::from_str(&text).map_err(|e| e.to_string()))
            .map_err(|e| format!("run {run}'s `tags` ({}): {e}", tags_path.display()))?;
        let kinds = labels
            .tags
            .iter()
            .map(|name| {
                let tag = tags.iter().find(|t| t["name"] == name.as_str());
                tag.and_then(|t| serde_json::from_value(t["kind"].clone()).ok())
                    .ok_or_else(|| format!("run {run}'s `tags` gives no kind for tag {name:?}"))
            })
            .collect::<Result<Vec<TagKind>, String>>()?;
        Ok(Self {
            tracks: labels.tracks,
            predictions,
            truth: labels.values,
            names: labels.tags,
            kinds,
        })
    }

    pub fn scores(&self) -> Scores<'_> {
        Scores {
            names: &self.names,
            kinds: &self.kinds,
            truth: &self.truth,
            predictions: &self.predictions,
        }
    }

    /// The row of track `id`, if it is a test track.
    pub fn track(&self, id: &str) -> Option<usize> {
        self.tracks.iter().position(|t| t == id)
    }

    fn row<'a>(&self, values: &'a [f64], track: usize) -> &'a [f64] {
        let n = self.names.len();
        &values[track * n..(track + 1) * n]
    }

    /// The classification tags the human labels give track `track` (label ≥ 0.5), in tag order.
    pub fn positives(&self, track: usize) -> Vec<TagValue<'_>> {
        self.classification(self.row(&self.truth, track))
            .filter(|t| t.value >= POSITIVE)
            .collect()
    }

    /// The `k` classification tags the run scores highest for track `track`, best first
    /// (ties in tag order). Regression tags are not ranked: their values are not probabilities.
    pub fn top(&self, track: usize, k: usize) -> Vec<TagValue<'_>> {
        let mut ranked: Vec<TagValue<'_>> = self
            .classification(self.row(&self.predictions, track))
            .filter(|t| t.value.is_finite())
            .collect();
        // A stable sort keeps tag order among equal scores.
        ranked.sort_by(|a, b| b.value.total_cmp(&a.value));
        ranked.truncate(k);
        ranked
    }

    /// Each regression tag of track `track`: `(tag, human label, prediction)`.
    pub fn regression(&self, track: usize) -> Vec<(&str, f64, f64)> {
        let truth = self.row(&self.truth, track);
        let predicted = self.row(&self.predictions, track);
        (0..self.names.len())
            .filter(|&j| self.kinds[j] == TagKind::Regression)
            .map(|j| (self.names[j].as_str(), truth[j], predicted[j]))
            .collect()
    }

    fn classification<'a>(&'a self, row: &'a [f64]) -> impl Iterator<Item = TagValue<'a>> + 'a {
        row.iter()
            .enumerate()
            .filter(|(j, _)| self.kinds[*j] == TagKind::Classification)
            .map(|(j, &value)| TagValue {
                tag: &self.names[j],
                value,
            })
    }
}

/// A recorded path as it is: the report reads whatever the store recorded.
pub fn as_recorded(path: &Path) -> Option<PathBuf> {
    Some(path.to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two tracks, tags `a` `b` (classification) and `tempo` (regression).
    fn set() -> TestSet {
        TestSet {
            tracks: vec!["t1".into(), "t2".into()],
            names: vec!["a".into(), "b".into(), "tempo".into()],
            kinds: vec![
                TagKind::Classification,
                TagKind::Classification,
                TagKind::Regression,
            ],
            truth: vec![1.0, 0.0, 0.9, 0.0, 1.0, 0.2],
            predictions: vec![0.3, 0.6, 0.99, 0.5, 0.5, 0.1],
        }
    }

    #[test]
    fn only_classification_tags_are_ranked_and_labelled() {
        let s = set();
        let top: Vec<&str> = s.top(0, 10).iter().map(|t| t.tag).collect();
        assert_eq!(top, ["b", "a"], "tempo (0.99) is not a probability");
        let positives: Vec<&str> = s.positives(0).iter().map(|t| t.tag).collect();
        assert_eq!(positives, ["a"], "tempo's 0.9 is not a positive label");
        assert_eq!(s.regression(0), [("tempo", 0.9, 0.99)]);
    }

    #[test]
    fn ties_keep_tag_order_and_k_bounds_the_ranking() {
        let s = set();
        let top: Vec<&str> = s.top(1, 10).iter().map(|t| t.tag).collect();
        assert_eq!(top, ["a", "b"]);
        assert_eq!(s.top(1, 1).len(), 1);
        assert_eq!(s.track("t2"), Some(1));
        assert_eq!(s.track("t3"), None);
    }
}
