//! Tag schema: each tag's name and kind (SPEC §4.1).

use serde::{Deserialize, Serialize};

use crate::error::{DatasetError, Result};

pub use metrics::TagKind;

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
