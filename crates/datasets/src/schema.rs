//! Tag schema: each tag's name and kind (SPEC §4.1).

use serde::{Deserialize, Serialize};

use crate::error::{DatasetError, Result};

/// How a tag is evaluated: AUCs for bi-modal tags, RMSE for continuous ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TagKind {
    /// Bi-modal, mostly 0 (ROC-AUC, PR-AUC; truth binarised at 0.5).
    Classification,
    /// Pseudo-uniform in [0, 1] (RMSE).
    Regression,
}

impl TagKind {
    /// Share of values that must be exactly 0 or 1 for a tag to be inferred as classification.
    pub const CLASSIFICATION_SHARE: f64 = 0.95;

    /// Infer the kind from a tag's values: classification when >= 95 % are exactly 0 or 1.
    pub fn infer(values: impl IntoIterator<Item = f32>) -> Self {
        let (mut binary, mut total) = (0usize, 0usize);
        for v in values {
            total += 1;
            if v == 0.0 || v == 1.0 {
                binary += 1;
            }
        }
        if total > 0 && binary as f64 >= Self::CLASSIFICATION_SHARE * total as f64 {
            TagKind::Classification
        } else {
            TagKind::Regression
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            TagKind::Classification => "classification",
            TagKind::Regression => "regression",
        }
    }
}

impl std::str::FromStr for TagKind {
    type Err = DatasetError;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "classification" => Ok(TagKind::Classification),
            "regression" => Ok(TagKind::Regression),
            other => Err(DatasetError::Config(format!(
                "unknown tag kind {other:?} (expected \"classification\" or \"regression\")"
            ))),
        }
    }
}

/// One tag.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tag {
    pub name: String,
    pub kind: TagKind,
}

/// The ordered tags of a dataset; label vectors follow this order.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TagSchema {
    pub tags: Vec<Tag>,
}

impl TagSchema {
    pub fn len(&self) -> usize {
        self.tags.len()
    }

    pub fn is_empty(&self) -> bool {
        self.tags.is_empty()
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.tags.iter().map(|t| t.name.as_str())
    }

    /// Index of a tag by name, or an error listing the known tags.
    pub fn index_of(&self, name: &str) -> Result<usize> {
        self.tags
            .iter()
            .position(|t| t.name == name)
            .ok_or_else(|| DatasetError::UnknownTag {
                tag: name.to_string(),
                known: self.names().collect::<Vec<_>>().join(", "),
            })
    }

    /// Schema with kinds inferred per column of `labels` (rows = tracks).
    pub fn inferred(names: Vec<String>, labels: &[Vec<f32>]) -> Self {
        let tags = names
            .into_iter()
            .enumerate()
            .map(|(j, name)| Tag {
                name,
                kind: TagKind::infer(labels.iter().map(|row| row[j])),
            })
            .collect();
        Self { tags }
    }

    /// Apply user overrides `tag -> kind`; an override naming an unknown tag is an error.
    pub fn override_kinds<'a>(
        &mut self,
        overrides: impl IntoIterator<Item = (&'a str, TagKind)>,
    ) -> Result<()> {
        for (name, kind) in overrides {
            let i = self.index_of(name)?;
            self.tags[i].kind = kind;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kind_inference_uses_the_95_percent_rule() {
        let mut v = vec![0.0f32; 95];
        v.extend([1.0; 0]);
        v.extend([0.5; 5]);
        assert_eq!(TagKind::infer(v.clone()), TagKind::Classification);
        v.push(0.3);
        assert_eq!(TagKind::infer(v), TagKind::Regression);
        assert_eq!(TagKind::infer([0.1, 0.7, 0.4]), TagKind::Regression);
        assert_eq!(
            TagKind::infer([0.0, 1.0, 1.0, 0.0]),
            TagKind::Classification
        );
        assert_eq!(TagKind::infer(std::iter::empty()), TagKind::Regression);
    }

    #[test]
    fn overrides_change_kinds_and_reject_unknown_tags() {
        let labels = vec![vec![0.0, 0.2], vec![1.0, 0.9]];
        let mut schema = TagSchema::inferred(vec!["rock".into(), "tempo".into()], &labels);
        assert_eq!(schema.tags[0].kind, TagKind::Classification);
        assert_eq!(schema.tags[1].kind, TagKind::Regression);
        schema
            .override_kinds([("rock", TagKind::Regression)])
            .unwrap();
        assert_eq!(schema.tags[0].kind, TagKind::Regression);
        let err = schema
            .override_kinds([("jazz", TagKind::Regression)])
            .unwrap_err();
        assert!(err.to_string().contains("jazz") && err.to_string().contains("rock, tempo"));
    }
}
